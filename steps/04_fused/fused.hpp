// Step 04 launcher: FlashAttention on CUDA cores, fp32 (see fused.cu).
//
// The tile configuration per head dim lives here, in one place, so that the kernel (fused.cu)
// and the io model (step.cpp) read the same numbers. Everything else (lanes per row, rows and
// columns per lane, shared-memory strides and bytes) is derived from these in fused.cu, which
// checks the constraints with static_asserts.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "common/attention_args.hpp"
#include "common/head_dims.hpp"

namespace fa::fused {

// kBlockM  query rows per thread block (the Q tile that stays on chip)
// kBlockN  keys per K/V tile (one trip of the kv loop)
// kWarps   warps per block; each warp owns kBlockM / kWarps consecutive rows
// kLaneRows lanes of a warp along the rows (2 or 4); the other 32 / kLaneRows lanes of a row
//          split its keys (in S) and its head-dim columns (in O)
// kMinBlocksPerSm  blocks that must fit on one SM (caps registers per thread at
//          65536 / (32 * kWarps * kMinBlocksPerSm))
// kUnrollQK, kUnrollPV  steps of 4 (head-dim columns in S = Q K^T, keys in O += P V) per
//          unrolled loop trip: more unrolling hides shared-memory latency, less keeps the
//          loop in the instruction cache and registers free
template <int kHeadDim>
struct Tile;
template <>
struct Tile<64> {
  static constexpr int kBlockM = 128, kBlockN = 64, kWarps = 4, kLaneRows = 4, kMinBlocksPerSm = 2;
  static constexpr int kUnrollQK = 4, kUnrollPV = 2;
};
template <>
struct Tile<32> : Tile<64> {};  // the same tiles as D = 64
template <>
struct Tile<96> {
  static constexpr int kBlockM = 128, kBlockN = 64, kWarps = 8, kLaneRows = 4, kMinBlocksPerSm = 1;
  static constexpr int kUnrollQK = 4, kUnrollPV = 2;
};
template <>
struct Tile<128> {
  static constexpr int kBlockM = 128, kBlockN = 64, kWarps = 8, kLaneRows = 2, kMinBlocksPerSm = 1;
  static constexpr int kUnrollQK = 8, kUnrollPV = 4;  // measured 1-2% faster than 4, 2 (notes/)
};

// The head dims the kernel is instantiated for (and the step claims).
using HeadDims = HeadDimSet<32, 64, 96, 128>;

// Host view of Tile<D> for a run-time head dim (the io model needs it).
constexpr TileShape tile_shape(std::int64_t head_dim) { return fa::tile_shape<Tile>(HeadDims{}, head_dim); }

// One kernel launch; a.d must be one of HeadDims and the tensors 16-byte aligned (throws
// fa::Error otherwise). No workspace, nothing allocated.
void forward(const AttnArgs& a, cudaStream_t stream);

}  // namespace fa::fused
