// Step 05 launcher: FlashAttention-2 on tensor cores, bf16 / fp16 (see tensor_cores.cu).
//
// The tile configuration per head dim lives here, in one place, so that the kernel
// (tensor_cores.cu) and the io model (step.cpp) read the same numbers. Everything else (m16
// tiles per warp, n8 tiles, k16 steps, shared-memory bytes) is derived in tensor_cores.cu, which
// checks the constraints with static_asserts.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "common/attention_args.hpp"
#include "common/head_dims.hpp"

namespace fa::tensor_cores {

// The 16-bit element type of q, k, v and o (products accumulate, and softmax runs, in fp32).
enum class Element { bf16, f16 };

// kBlockM  query rows per thread block (the Q tile that stays in shared memory)
// kBlockN  keys per K/V tile (one trip of the kv loop)
// kWarps   warps per block; each warp owns kBlockM / kWarps consecutive rows, a multiple of 16
//          (one m16 MMA tile; two let every K and V fragment feed two mmas)
// kStages  K/V tiles in the cp.async ring (tile j + kStages - 1 loads while tile j is used)
// kMinBlocksPerSm  blocks that must fit on one SM (caps registers per thread at
//          65536 / (32 * kWarps * kMinBlocksPerSm), at most 255)
// Shared memory per block: (kBlockM + 2 * kStages * kBlockN) * kHeadDim * 2 bytes.
template <int kHeadDim>
struct Tiles;
template <>
struct Tiles<64> {  // 80 KiB, 2 blocks per SM, 32 rows per warp
  static constexpr int kBlockM = 128, kBlockN = 128, kWarps = 4, kStages = 2, kMinBlocksPerSm = 2;
};
template <>
struct Tiles<128> {  // 96 KiB, 2 blocks per SM, 32 rows per warp; spills ~50 B yet is fastest (README)
  static constexpr int kBlockM = 128, kBlockN = 64, kWarps = 4, kStages = 2, kMinBlocksPerSm = 2;
};
template <>
struct Tiles<256> {  // 128 KiB, 1 block per SM, 16 rows per warp
  static constexpr int kBlockM = 128, kBlockN = 32, kWarps = 8, kStages = 2, kMinBlocksPerSm = 1;
};

// The head dims the kernel is instantiated for (and the step claims).
using HeadDims = HeadDimSet<64, 128, 256>;

// Host view of Tiles<D> for a run-time head dim (the io model and the grid check need it).
constexpr TileShape tile_shape(std::int64_t head_dim) { return fa::tile_shape<Tiles>(HeadDims{}, head_dim); }

// One kernel launch over B * H * ceil(Sq / kBlockM) blocks (one flat grid dimension, so it must
// stay below 2^31). a.d must be one of HeadDims and the tensors 16-byte aligned; throws
// fa::Error otherwise, or when the device cannot give the tile its shared memory. No workspace,
// nothing allocated.
void forward(const AttnArgs& a, Element element, cudaStream_t stream);

}  // namespace fa::tensor_cores
