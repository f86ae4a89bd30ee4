#include "common/cuda_check.hpp"
#include "common/fill.hpp"

namespace fa {
namespace {

template <class T>
__global__ void fill_kernel(T* dst, T value, std::size_t count) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < count;
       i += std::size_t(gridDim.x) * blockDim.x)
    dst[i] = value;
}

}  // namespace

void fill_pattern(void* dst, std::uint32_t pattern, std::size_t elem_bytes, std::size_t count, cudaStream_t stream) {
  if (count == 0) return;
  constexpr int kThreads = 256, kMaxBlocks = 4096;  // a grid-stride loop covers any count
  const int blocks = int(std::min<std::size_t>(kMaxBlocks, (count + kThreads - 1) / kThreads));
  if (elem_bytes == 4)
    fill_kernel<<<blocks, kThreads, 0, stream>>>(static_cast<std::uint32_t*>(dst), pattern, count);
  else
    fill_kernel<<<blocks, kThreads, 0, stream>>>(static_cast<std::uint16_t*>(dst), std::uint16_t(pattern), count);
  FA_CHECK_LAUNCH();
}

}  // namespace fa
