// The one CUDA error check: throws fa::Error carrying the CUDA error text, file and line.
// Used by host code and by each step's launcher after every kernel launch.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "common/error.hpp"

namespace fa {

[[noreturn]] inline void throw_cuda(cudaError_t e, const char* what, const char* file, int line) {
  // The build holds no code this GPU can load (CMAKE_CUDA_ARCHITECTURES): say how to get some.
  const std::string fix = e == cudaErrorNoKernelImageForDevice
                              ? "; reconfigure for this GPU: cmake --preset release -DCMAKE_CUDA_ARCHITECTURES=native "
                                "(90a on a Hopper GPU, for step 06)"
                              : "";
  throw Error(std::string("CUDA error: ") + cudaGetErrorString(e) + " (" + cudaGetErrorName(e) + ") in " + what +
                  " at " + file + ":" + std::to_string(line) + fix,
              kExitCuda);
}

}  // namespace fa

#define FA_CUDA_CHECK(call)                                                 \
  do {                                                                      \
    const cudaError_t fa_err_ = (call);                                     \
    if (fa_err_ != cudaSuccess) ::fa::throw_cuda(fa_err_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: catches bad launch configurations at once (asynchronous faults
// surface at the next synchronising call, which is checked too).
#define FA_CHECK_LAUNCH() FA_CUDA_CHECK(cudaGetLastError())
