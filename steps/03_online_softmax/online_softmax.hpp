#pragma once

#include <cuda_runtime_api.h>

#include "common/attention_args.hpp"

namespace fa::online_softmax {

void forward(const AttnArgs& a, cudaStream_t stream);

}  // namespace fa::online_softmax
