// Step 02 launcher: the three kernels of standard attention with tiled matmuls (see tiled.cu).
#pragma once

#include <cuda_runtime_api.h>

#include "common/attention_args.hpp"
#include "common/head_dims.hpp"

namespace fa::tiled {

constexpr int kThreadsPerBlock = 256;  // every kernel: a 16 x 16 grid of threads, or 8 warps
constexpr int kBlockM = 64;            // query rows per tile of S and of O
constexpr int kBlockN = 64;            // key columns per tile of S

// The head dims the kernels are instantiated for (and the step claims): register tiles are
// sized by D at compile time.
using HeadDims = HeadDimSet<32, 64, 96, 128>;

// a.d must be 32, 64, 96 or 128; a.workspace must hold B * H * Sq * Sk floats (S, then P in place).
void forward(const AttnArgs& a, cudaStream_t stream);

}  // namespace fa::tiled
