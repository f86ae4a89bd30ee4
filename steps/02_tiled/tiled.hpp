// Step 02 launcher: the three kernels of standard attention with tiled matmuls (see tiled.cu).
#pragma once

#include <cuda_runtime_api.h>

#include "common/attention_args.hpp"

namespace fa::tiled {

constexpr int kThreadsPerBlock = 256;  // every kernel: a 16 x 16 grid of threads, or 8 warps
constexpr int kBlockM = 64;            // query rows per tile of S and of O
constexpr int kBlockN = 64;            // key columns per tile of S

// a.d must be 32, 64, 96 or 128; a.workspace must hold B * H * Sq * Sk floats (S, then P in place).
void forward(const AttnArgs& a, cudaStream_t stream);

}  // namespace fa::tiled
