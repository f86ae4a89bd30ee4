// Step 03 launcher: one fused kernel, a warp per query row with an online softmax (see online_softmax.cu).
#pragma once

#include <cuda_runtime_api.h>

#include "common/attention_args.hpp"
#include "common/head_dims.hpp"

namespace fa::online_softmax {

constexpr int kWarpsPerBlock = 8;  // one query row per warp

// The head dims the kernel is instantiated for (and the step claims): a lane owns D / 32
// elements of q and o.
using HeadDims = HeadDimSet<32, 64, 96, 128>;

// a.d must be 32, 64, 96 or 128; no workspace (S never exists outside registers).
void forward(const AttnArgs& a, cudaStream_t stream);

}  // namespace fa::online_softmax
