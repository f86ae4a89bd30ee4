// Element types the steps accept, and the host-side conversions between them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace fa {

enum class DType { f32, f16, bf16 };

const char* dtype_name(DType t);                 // "fp32", "fp16", "bf16"
DType parse_dtype(const std::string& name);      // throws fa::Error on unknown names
std::size_t dtype_size(DType t);                 // bytes per element

// Round a float to the nearest value representable in `t` (round to nearest even).
float round_to(DType t, float x);

// Pack floats into the device representation of `t` (raw little-endian bytes), and back.
void pack(DType t, const float* src, void* dst, std::size_t n);
void unpack(DType t, const void* src, float* dst, std::size_t n);

// A NaN bit pattern written into outputs before a run: an element that still holds it
// afterwards was never written by the kernel. Distinct from the NaN a kernel computes.
std::uint32_t poison_bits(DType t);
bool is_poison(DType t, const void* base, std::size_t index);

}  // namespace fa
