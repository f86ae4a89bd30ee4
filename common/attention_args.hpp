// What a kernel launcher receives: plain pointers and sizes, nothing from the host libraries,
// so step .cu files include only this and cuda_check.hpp.
//
// Pointers are to contiguous row-major tensors: q/o (B, H, Sq, D), k/v (B, H, Sk, D), in the
// step's dtype; lse (B, H, Sq) float32; workspace is the step's own scratch (may be null).
#pragma once

#include <cstdint>

namespace fa {

struct AttnArgs {
  const void* q;
  const void* k;
  const void* v;
  void* o;
  float* lse;
  void* workspace;
  std::int64_t b, h, sq, sk, d;
  float scale;  // softmax scale (1 / sqrt(D) unless the user gave one)
  bool causal;  // bottom-right aligned: query i sees key j iff j <= i + Sk - Sq
};

}  // namespace fa
