#pragma once

#include <cuda_runtime_api.h>

#include "common/attention_args.hpp"

namespace fa::fused {

void forward(const AttnArgs& a, cudaStream_t stream);

}  // namespace fa::fused
