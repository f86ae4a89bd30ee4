#include "common/launch.hpp"

#include <climits>

#include "common/cuda_check.hpp"

namespace fa {

void opt_in_shared_memory(const void* kernel, std::size_t bytes, const std::string& who, std::int64_t head_dim) {
  int device = 0, optin = 0;
  FA_CUDA_CHECK(cudaGetDevice(&device));
  FA_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  if (std::size_t(optin) < bytes)
    throw unsupported(who + ": head dim " + std::to_string(head_dim) + " needs " + std::to_string(bytes) +
                      " bytes of shared memory per block; this GPU allows " + std::to_string(optin));
  FA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

std::string flat_grid_refusal(const std::string& id, std::int64_t bh, std::int64_t sq, std::int64_t block_m) {
  const std::int64_t blocks = bh * ((sq + block_m - 1) / block_m);
  if (blocks <= INT_MAX) return "";
  return id + ": B * H * ceil(Sq / " + std::to_string(block_m) + ") = " + std::to_string(blocks) +
         " thread blocks exceeds the grid limit";
}

}  // namespace fa
