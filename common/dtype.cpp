#include "common/dtype.hpp"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstring>

#include "common/error.hpp"

namespace fa {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "fp32";
    case DType::f16: return "fp16";
    case DType::bf16: return "bf16";
  }
  return "?";
}

DType parse_dtype(const std::string& name) {
  if (name == "fp32" || name == "f32" || name == "float32") return DType::f32;
  if (name == "fp16" || name == "f16" || name == "float16" || name == "half") return DType::f16;
  if (name == "bf16" || name == "bfloat16") return DType::bf16;
  throw usage_error("unknown dtype '" + name + "' (expected fp32, fp16 or bf16)");
}

std::size_t dtype_size(DType t) { return t == DType::f32 ? 4 : 2; }

float round_to(DType t, float x) {
  switch (t) {
    case DType::f32: return x;
    case DType::f16: return __half2float(__float2half_rn(x));
    case DType::bf16: return __bfloat162float(__float2bfloat16_rn(x));
  }
  return x;
}

void pack(DType t, const float* src, void* dst, std::size_t n) {
  if (t == DType::f32) {
    std::memcpy(dst, src, n * sizeof(float));
  } else if (t == DType::f16) {
    auto* out = static_cast<__half*>(dst);
    for (std::size_t i = 0; i < n; ++i) out[i] = __float2half_rn(src[i]);
  } else {
    auto* out = static_cast<__nv_bfloat16*>(dst);
    for (std::size_t i = 0; i < n; ++i) out[i] = __float2bfloat16_rn(src[i]);
  }
}

void unpack(DType t, const void* src, float* dst, std::size_t n) {
  if (t == DType::f32) {
    std::memcpy(dst, src, n * sizeof(float));
  } else if (t == DType::f16) {
    const auto* in = static_cast<const __half*>(src);
    for (std::size_t i = 0; i < n; ++i) dst[i] = __half2float(in[i]);
  } else {
    const auto* in = static_cast<const __nv_bfloat16*>(src);
    for (std::size_t i = 0; i < n; ++i) dst[i] = __bfloat162float(in[i]);
  }
}

// Quiet NaNs with a recognisable payload; no arithmetic produces these payloads.
std::uint32_t poison_bits(DType t) {
  switch (t) {
    case DType::f32: return 0x7fc0deadu;
    case DType::f16: return 0x7e5au;
    case DType::bf16: return 0x7fd5u;
  }
  return 0;
}

bool is_poison(DType t, const void* base, std::size_t index) {
  if (t == DType::f32) {
    std::uint32_t bits;
    std::memcpy(&bits, static_cast<const char*>(base) + index * 4, 4);
    return bits == poison_bits(t);
  }
  std::uint16_t bits;
  std::memcpy(&bits, static_cast<const char*>(base) + index * 2, 2);
  return bits == poison_bits(t);
}

}  // namespace fa
