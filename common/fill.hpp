// Fill device memory with a repeated 2- or 4-byte pattern (cudaMemset sets single bytes only).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace fa {

void fill_pattern(void* dst, std::uint32_t pattern, std::size_t elem_bytes, std::size_t count, cudaStream_t stream);

}  // namespace fa
