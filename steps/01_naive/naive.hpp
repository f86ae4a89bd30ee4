// Step 01 launcher: the three kernels of standard attention (see naive.cu).
#pragma once

#include <cuda_runtime_api.h>

#include "common/attention_args.hpp"

namespace fa::naive {

constexpr int kThreadsPerBlock = 256;  // every kernel: one thread per output element or row

// a.workspace must hold B * H * Sq * Sk floats (S, then P in place).
void forward(const AttnArgs& a, cudaStream_t stream);

}  // namespace fa::naive
