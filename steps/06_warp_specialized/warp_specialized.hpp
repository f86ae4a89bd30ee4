// Step 06 launcher: FlashAttention-3 on Hopper, bf16 / fp16 (see warp_specialized.cu).
//
// The tile configuration per head dim lives here, in one place, so that the kernel
// (warp_specialized.cu) and the io model (step.cpp) read the same numbers. Everything else
// (warpgroups, wgmma shapes, shared-memory bytes, barrier counts) is derived in
// warp_specialized.cu, which checks the constraints with static_asserts.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "common/attention_args.hpp"
#include "common/head_dims.hpp"

namespace fa::warp_specialized {

// The 16-bit element type of q, k, v and o (products accumulate, and softmax runs, in fp32).
enum class Element { bf16, f16 };

// The full kernel and its ablations: each switches one technique of the lesson off.
enum class Variant {
  full,                    // producer warpgroup + consumer warpgroups, pingpong, softmax/GEMM overlap
  no_pingpong,             // the consumer warpgroups issue their GEMMs without taking turns
  no_overlap,              // per tile strictly S = Q K^T, then softmax, then O += P V
  no_warp_specialization,  // no producer: a consumer thread issues the loads between its own GEMMs
  no_persistent,           // one block per query tile instead of one block per SM for the kernel
                           // (causal: in the heaviest-first order of work_tile)
};

// kBlockM  query rows per thread block: kBlockM / 64 consumer warpgroups (2 or 3) of 64 rows
//          (one wgmma m64 each)
// kBlockN  keys per K/V tile (the N of S = Q K^T, the K of O += P V)
// kStages  K tiles (and V tiles) in the TMA ring
// kPersistentMaxKeyTiles  the persistent scheduler (one block per SM walking the work items)
//          runs, non-causal, when an item visits at most this many key tiles (Sk / kBlockN);
//          longer items run one block each. The measured crossover on the H200
//          (notes/worklog.md): persistence hides each item's prologue and epilogue, which pays
//          for short items; for long ones the hardware's dynamic block assignment and a kernel
//          without the item loop (fewer live registers) win. At D = 64, items of 16 key tiles
//          (N = 2048) ran 0.5-1.3% faster one block each until the epilogue got shorter (MUFU
//          1 / l and log2, stmatrix, which also took the persistent kernel's spills); since, the
//          persistent kernel is 1.05-1.06x there (three rounds), and at 32 and 64 key tiles
//          (N = 4096, 8192) 1.013-1.027x and 1.001-1.040x (three rounds; N = 16384 not
//          measured). At D = 128, 64 key tiles (N = 8192) measured a tie (1.00x).
// kPersistentMaxKeyTilesCausal  the same for causal items (about Sk / kBlockN / 2 on average),
//          whose one-block-per-item kernel starts the heaviest items first (work_tile) and so
//          wins earlier. Measured at D = 128: the persistent kernel still wins at 16 key tiles
//          (N = 4096), one block per item at 32 (N = 8192); at D = 64 likewise (at 32 the
//          persistent kernel measured 0.954-0.960x).
// kPingpong  whether the full kernel takes turns between its consumers; where not, it runs the
//          no_pingpong kernel. Measured on the H200 (notes/worklog.md): at D = 128 the turns cost
//          0.1-0.5% non-causal (N = 512-8192, three runs) and, once the epilogue was shortened,
//          0.1-1.2% causal (N = 1024-4096, three rounds; a tie at 512): with the overlap each
//          warpgroup already keeps a P V queued behind its S, and two warpgroups' GEMMs are
//          enough to fill the tensor cores while one runs its softmax. At D = 64, where three
//          warpgroups' softmaxes compete for the exp2 unit, they pay (1.03-1.11x); at D = 256,
//          with 64-key tiles, a little: 1.004-1.019x non-causal, 1.001-1.027x causal in the
//          one-block kernels of 4131c56 (N = 512-16384 in one round and 512-4096 in four more,
//          bf16), 0.998-1.039x in the sweep of the current kernels (notes/results.md).
// Shared memory per block: 1 KiB alignment slack + (2 kBlockM + 2 kStages kBlockN) x kHeadDim x
// 2 bytes (sQ, sO, the K/V ring) + the mbarriers; at D = 256 sO is sQ, one kBlockM fewer.
template <int kHeadDim>
struct Tiles;
template <>
struct Tiles<64> {  // 177 KiB
  static constexpr int kBlockM = 192, kBlockN = 128, kStages = 4;
  static constexpr int kPersistentMaxKeyTiles = 64, kPersistentMaxKeyTilesCausal = 16;
  static constexpr bool kPingpong = true;
};
template <>
struct Tiles<128> {  // 193 KiB
  static constexpr int kBlockM = 128, kBlockN = 128, kStages = 2;
  static constexpr int kPersistentMaxKeyTiles = 32, kPersistentMaxKeyTilesCausal = 16;
  static constexpr bool kPingpong = false;
};
// D = 256: O is 128 fp32 registers per consumer thread, so S gets 64 keys (32 registers): with
// 128 keys the S being computed, the P being multiplied and O would be 224 of the 240 by
// themselves. sO and sQ share their
// bytes (there is no room for both beside two stages), so the persistent kernel loads the next
// item's Q only once this one's O has left, and gains little: measured against one block per
// item (two rounds, bf16 and fp16; notes/results/persistent_d256.csv) non-causal 1.015-1.022x
// at N = 512, 1.005-1.008x at 1024, 1.002-1.005x at 2048-8192 (32-128 key tiles), 0.990-1.026x
// at 16384; causal 1.031-1.044x at 512, 1.013-1.019x at 1024, 0.998-1.001x at 2048 and
// 0.986-0.992x beyond.
template <>
struct Tiles<256> {  // 193 KiB
  static constexpr int kBlockM = 128, kBlockN = 64, kStages = 2;
  static constexpr int kPersistentMaxKeyTiles = 128, kPersistentMaxKeyTilesCausal = 8;
  static constexpr bool kPingpong = true;
};

// The head dims the kernel is instantiated for (and the step claims).
using HeadDims = HeadDimSet<64, 128, 256>;

// Host view of Tiles<D> for a run-time head dim (the io model and the grid check need it).
constexpr TileShape tile_shape(std::int64_t head_dim) { return fa::tile_shape<Tiles>(HeadDims{}, head_dim); }

// One kernel launch over B * H * ceil(Sq / kBlockM) work items (the grid where not persistent:
// one flat dimension, so the count must stay below 2^31). a.d must be one of HeadDims and the
// tensors 16-byte aligned; throws fa::Error otherwise, when the build has no sm_90a code, or when the device cannot give the
// tile its shared memory. Builds four TMA descriptors (Q, K, V, O) on the host per call (no device
// work, no allocation, no synchronisation).
void forward(const AttnArgs& a, Element element, Variant variant, cudaStream_t stream);

}  // namespace fa::warp_specialized
