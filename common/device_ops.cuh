// Small device helpers shared by the fused steps (04, 05, 06). Device code only.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace fa {

// 2^x on the MUFU unit. exp2f() without -use_fast_math wraps the same instruction in a range
// check for denormal results, which costs three instructions per score and changes nothing here
// (p < 2^-126 contributes nothing next to the row max's p = 1). -inf gives +0.
__device__ __forceinline__ float exp2_fast(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// 1 / x and log2(x) on the MUFU unit, for the epilogue's row sums l >= 1 (the row max's own term
// is 1): without -use_fast_math, 1.f / l and log2f(l) compile to a Newton step with a call for
// the denormal range and to a ten-term polynomial, a dependency chain of hundreds of clocks at
// the end of every work item. Relative error about 2^-22, far below the LSE tolerance (2e-4).
__device__ __forceinline__ float rcp_fast(float x) {
  float y;
  asm("rcp.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}
__device__ __forceinline__ float log2_fast(float x) {
  float y;
  asm("lg2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// Two floats rounded to 16 bits (T = __nv_bfloat16 or __half) and packed into one register,
// `lo` in the low half: the order of an mma / wgmma A-operand register (lower column first).
template <class T>
__device__ __forceinline__ std::uint32_t pack2(float lo, float hi) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const std::uint32_t*>(&v);
  } else {
    const __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const std::uint32_t*>(&v);
  }
}

}  // namespace fa
