// Step 03 launcher: one fused kernel, a warp per query row with an online softmax (see online_softmax.cu).
#pragma once

#include <cuda_runtime_api.h>

#include "common/attention_args.hpp"

namespace fa::online_softmax {

constexpr int kWarpsPerBlock = 8;  // one query row per warp

// a.d must be 32, 64, 96 or 128; no workspace (S never exists outside registers).
void forward(const AttnArgs& a, cudaStream_t stream);

}  // namespace fa::online_softmax
