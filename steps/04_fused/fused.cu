// Step 04: FlashAttention on CUDA cores, fp32 (the paper's tiling, FlashAttention-2 loop order).
//
// What changed from step 03: step 03 gave every query row its own warp, which streamed all of K
// and V from global memory; two rows never shared a load. Here a thread block owns a tile of
// kBlockM query rows (Q_i, kept in shared memory) and walks the keys in tiles of kBlockN. Each
// K_j and V_j tile is copied into shared memory once (16-byte cp.async, coalesced) and used by
// all kBlockM rows, so K and V are requested from L2/HBM once per query tile instead of once per
// row: the paper's Theta(N^2 d^2 / M). The two products S_ij = Q_i K_j^T and O_i += P_ij V_j are
// register-tiled like an SGEMM. Step 03's online softmax (running m_i and l_i, exp2f with
// log2(e) folded into the scale) now runs on a whole tile of S; P_ij goes through shared memory
// to be redistributed for P V; O_i stays in registers and is normalised once at the end; LSE is
// written. Causal: key tiles above the diagonal are never visited, only tiles that cross it (or
// the ragged end of the keys) are masked.
//
// Thread-to-data mapping (32 lanes = kLaneRows x kLaneCols; README.md draws it):
//   block <- one (batch, head) and kBlockM query rows; grid x counts query tiles (the heaviest
//            causal tiles launch first), grid y (folded into z past 65535) counts batch * heads.
//   warp  <- kWarpRows = kBlockM / kWarps consecutive rows: its own slice of S, P and O, so
//            softmax needs no block-wide barrier.
//   lane  <- lane_row = lane bit 0 (and bit 4 when kLaneRows = 4), lane_col = the other bits.
//            Rows: kRowsPerLane of them, in groups of kRowGroup consecutive rows, the lane rows'
//            groups interleaved. S: keys lane_col + kLaneCols * jj. O: head-dim columns
//            4 * lane_col + 4 * kLaneCols * k (float4 chunks). The kLaneCols lanes that share a
//            row are one warp, so row max and row sum are __shfl_xor_sync butterflies.
//
// Shared memory: every row is padded by kPad = 4 floats, so consecutive rows start 4 banks apart
// and stay 16-byte aligned; then each float4 read below is conflict-free.
//   sQ (kBlockM, D + 4) + sK (kBlockN, D + 4) + sV (kBlockN, D + 4) + sP (kBlockM, kBlockN + 4)
//   floats x 4 bytes, with kBlockM = 128 and kBlockN = 64 for every D:
//   D = 32: 71,680 B   D = 64: 104,448 B   D = 96: 137,216 B   D = 128: 169,984 B
//   (of 227 KB per SM: 2, 2, 1 and 1 blocks per SM, as Tile<D>::kMinBlocksPerSm asks)
//   K and V have one buffer each and are the two stages of the pipeline: V_j is copied while
//   S_ij is computed from K_j, and K_{j+1} while P_ij V_j is computed from V_j.
//
// Expected bottleneck: FFMA issue, with shared-memory bandwidth close behind. For a register
// tile of a x b outputs, each step of the inner dimension reads a + b words from shared memory
// for a * b FFMA; an SM returns 32 words per clock against 4 warp-FFMA per clock, so a tile is
// FFMA-bound only when a * b / (a + b) >= 4 (8 x 8 gives exactly 4, 8 x 4 gives 2.7). Lane bit 0
// is a row bit so that neighbouring lanes read the same address for one of the two operands and
// the hardware can pack their replies (the idea of CUTLASS's interleaved SIMT lane layouts).
// Softmax costs O(kBlockM kBlockN) per tile against the products' O(kBlockM kBlockN D).
#include <math_constants.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/attention_args.hpp"
#include "common/cuda_check.hpp"
#include "common/device_ops.cuh"
#include "common/launch.hpp"
#include "steps/04_fused/fused.hpp"

namespace fa::fused {
namespace {

constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kPad = 4;                        // floats appended to each shared-memory row
constexpr int kVec = 4;                        // floats per 16-byte vector (float4, cp.async)
constexpr float kLog2e = 1.4426950408889634f;  // log2(e): exp(x) = exp2(x * log2(e)), folded into Q
constexpr float kLn2 = 0.6931471805599453f;    // ln(2) = 1 / log2(e): the LSE back to a natural log
constexpr std::int64_t kMaxGridY = 65535;      // CUDA's limit on gridDim.y and gridDim.z

constexpr int log2_of(int x) { return x <= 1 ? 0 : 1 + log2_of(x / 2); }

// Everything the kernel derives from Tile<kHeadDim> (fused.hpp).
template <int kHeadDim_>
struct Config {
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kBlockM = Tile<kHeadDim>::kBlockM;
  static constexpr int kBlockN = Tile<kHeadDim>::kBlockN;
  static constexpr int kWarps = Tile<kHeadDim>::kWarps;
  static constexpr int kLaneRows = Tile<kHeadDim>::kLaneRows;
  static constexpr int kMinBlocksPerSm = Tile<kHeadDim>::kMinBlocksPerSm;
  static constexpr int kUnrollQK = Tile<kHeadDim>::kUnrollQK;
  static constexpr int kUnrollPV = Tile<kHeadDim>::kUnrollPV;

  static constexpr int kThreads = kWarps * kWarpSize;
  static constexpr int kLaneCols = kWarpSize / kLaneRows;  // lanes sharing one row
  static constexpr int kLaneColBits = log2_of(kLaneCols);
  static constexpr int kWarpRows = kBlockM / kWarps;
  static constexpr int kRowsPerLane = kWarpRows / kLaneRows;
  // The lane rows' P stores must land kLaneCols banks apart: kRowGroup rows of kBlockN + kPad
  // floats are 4 * kRowGroup banks, so kRowGroup = kLaneCols / 4 = 8 / kLaneRows.
  static constexpr int kRowGroup = 8 / kLaneRows;
  static constexpr int kKeysPerLane = kBlockN / kLaneCols;
  static constexpr int kColsPerLane = kHeadDim / kLaneCols;

  static constexpr int kRowStride = kHeadDim + kPad;  // sQ, sK, sV
  static constexpr int kPStride = kBlockN + kPad;     // sP
  static constexpr std::size_t kSmemBytes =
      sizeof(float) * (std::size_t(kBlockM) * kRowStride + 2 * std::size_t(kBlockN) * kRowStride +
                       std::size_t(kBlockM) * kPStride);

  static_assert(kLaneRows == 2 || kLaneRows == 4, "lane_row uses lane bit 0 (and bit 4)");
  static_assert(kBlockM % kWarps == 0 && kWarpRows % kLaneRows == 0, "rows split evenly over lanes");
  static_assert(kRowsPerLane % kRowGroup == 0, "whole row groups per lane");
  static_assert(kBlockN % kLaneCols == 0, "keys split evenly over a row's lanes");
  static_assert(kHeadDim % (kVec * kLaneCols) == 0, "O columns in whole float4 chunks");
  static_assert(kHeadDim % 32 == 0 && kBlockN % 32 == 0, "padded rows start 4 banks apart");
  static_assert(kBlockN % kVec == 0 && kHeadDim % kVec == 0, "float4 steps over keys and head dim");
  static_assert((kBlockN * kHeadDim / kVec) % kThreads == 0, "K/V tile copies split evenly");
  static_assert((kBlockM * kHeadDim / kVec) % kThreads == 0, "Q tile copies split evenly");
  static_assert(kHeadDim % (kVec * kUnrollQK) == 0 && kBlockN % (kVec * kUnrollPV) == 0, "whole unrolled trips");

  // A lane's i-th row is row lane_row * kRowGroup + row_step(i) of its warp's slice: groups of
  // kRowGroup consecutive rows, kRowGroup * kLaneRows apart.
  __host__ __device__ static constexpr int row_step(int i) {
    return (i / kRowGroup) * (kRowGroup * kLaneRows) + i % kRowGroup;
  }
};

// The budget quoted in the header comment.
static_assert(Config<32>::kSmemBytes == 71680 && Config<64>::kSmemBytes == 104448 &&
                  Config<96>::kSmemBytes == 137216 && Config<128>::kSmemBytes == 169984,
              "update the shared-memory budget in the header comment and README.md");

// 16 bytes global -> shared without a register round trip; when !valid, 16 zero bytes are
// written and nothing is read (src must still be a legal address).
__device__ __forceinline__ void cp_async_16(float* dst, const float* src, bool valid) {
  const unsigned dst_shared = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  const int src_bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst_shared), "l"(src), "r"(src_bytes)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
// This thread's copies have landed; a __syncthreads must follow before others read them.
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

// Four consecutive floats of shared memory (16-byte aligned) into four registers.
__device__ __forceinline__ void lds4(const float* src, float* dst) {
  const float4 v = *reinterpret_cast<const float4*>(src);
  dst[0] = v.x;
  dst[1] = v.y;
  dst[2] = v.z;
  dst[3] = v.w;
}

// Issue the copy of kBlockN rows of K or V (keys n0 ..) into sDst; keys >= sk are zero-filled,
// so that P = 0 meets V = 0 there (never 0 * garbage). Consecutive threads copy consecutive 16
// bytes of the tile, which is contiguous in global memory: coalesced reads, conflict-free writes,
// and a thread's global offsets are immediates. Only the ragged last tile checks bounds.
template <class C>
__device__ __forceinline__ void copy_kv_tile(float* sDst, const float* gSrc, std::int64_t n0, std::int64_t sk,
                                             int tid) {
  constexpr int kVecsPerRow = C::kHeadDim / kVec;
  constexpr int kPerThread = C::kBlockN * kVecsPerRow / C::kThreads;
  const float* gTile = gSrc + n0 * C::kHeadDim;  // key n0: always exists
  if (n0 + C::kBlockN <= sk) {
    const float* gThread = gTile + tid * kVec;
#pragma unroll
    for (int v = 0; v < kPerThread; ++v) {
      const int idx = tid + v * C::kThreads;
      const int r = idx / kVecsPerRow, c = (idx % kVecsPerRow) * kVec;
      cp_async_16(sDst + r * C::kRowStride + c, gThread + v * C::kThreads * kVec, true);
    }
  } else {
    const int vecs_left = int(sk - n0) * kVecsPerRow;  // 16-byte vectors of the keys that exist
#pragma unroll
    for (int v = 0; v < kPerThread; ++v) {
      const int idx = tid + v * C::kThreads;
      const int r = idx / kVecsPerRow, c = (idx % kVecsPerRow) * kVec;
      const bool valid = idx < vecs_left;
      cp_async_16(sDst + r * C::kRowStride + c, valid ? gTile + idx * kVec : gTile, valid);
    }
  }
}

// x clamped to [lo, hi], as an int.
__device__ __forceinline__ int clamp_to_int(std::int64_t x, int lo, int hi) {
  return x < lo ? lo : (x > hi ? hi : int(x));
}

// Q_i into sQ, multiplied by scale * log2(e) so that S comes out in log2 units ready for exp2f;
// rows >= sq are zero (their results are never stored).
template <class C>
__device__ __forceinline__ void load_q_tile(float* sQ, const float* gQ, std::int64_t q0, std::int64_t sq,
                                            float scale_log2, int tid) {
  constexpr int kVecsPerRow = C::kHeadDim / kVec;
  constexpr int kPerThread = C::kBlockM * kVecsPerRow / C::kThreads;
#pragma unroll
  for (int v = 0; v < kPerThread; ++v) {
    const int idx = tid + v * C::kThreads;
    const int r = idx / kVecsPerRow, c = (idx % kVecsPerRow) * kVec;
    float4 q = make_float4(0.f, 0.f, 0.f, 0.f);
    if (q0 + r < sq) {
      q = *reinterpret_cast<const float4*>(gQ + (q0 + r) * C::kHeadDim + c);
      q.x *= scale_log2;
      q.y *= scale_log2;
      q.z *= scale_log2;
      q.w *= scale_log2;
    }
    *reinterpret_cast<float4*>(sQ + r * C::kRowStride + c) = q;
  }
}

template <int kHeadDim>
__global__ void __launch_bounds__(Config<kHeadDim>::kThreads, Config<kHeadDim>::kMinBlocksPerSm)
    fused_kernel(const float* __restrict__ gQ, const float* __restrict__ gK, const float* __restrict__ gV,
                 float* __restrict__ gO, float* __restrict__ gLse, std::int64_t bh_count, std::int64_t sq,
                 std::int64_t sk, float scale_log2, bool causal) {
  using C = Config<kHeadDim>;
  constexpr int kBlockM = C::kBlockM, kBlockN = C::kBlockN;
  constexpr int kRowsPerLane = C::kRowsPerLane, kKeysPerLane = C::kKeysPerLane, kColsPerLane = C::kColsPerLane;
  constexpr int kLaneCols = C::kLaneCols, kRowStride = C::kRowStride, kPStride = C::kPStride;

  extern __shared__ float4 smem[];                // float4: 16-byte alignment for every row
  float* sQ = reinterpret_cast<float*>(smem);     // (kBlockM, kHeadDim + kPad), times scale * log2(e)
  float* sK = sQ + kBlockM * kRowStride;          // (kBlockN, kHeadDim + kPad)
  float* sV = sK + kBlockN * kRowStride;          // (kBlockN, kHeadDim + kPad)
  float* sP = sV + kBlockN * kRowStride;          // (kBlockM, kBlockN + kPad), each warp its own rows

  const std::int64_t bh = std::int64_t(blockIdx.z) * gridDim.y + blockIdx.y;
  if (bh >= bh_count) return;  // the fold over z overshoots; a whole block leaves, before any barrier
  // The last query tile first: under the causal mask it visits the most key tiles, so the
  // longest blocks start early and the short ones fill the end of the grid.
  const std::int64_t q0 = std::int64_t(gridDim.x - 1 - blockIdx.x) * kBlockM;
  const int tid = threadIdx.x, warp = tid / kWarpSize, lane = tid % kWarpSize;
  const int lane_row = (lane & 1) | ((lane >> (1 + C::kLaneColBits)) << 1);
  const int lane_col = (lane >> 1) & (kLaneCols - 1);
  const int row0 = warp * C::kWarpRows + lane_row * C::kRowGroup;  // the lane's first row in the tile

  gQ += bh * sq * kHeadDim;  // 64-bit offsets: B * H * S * D can exceed 2^31
  gO += bh * sq * kHeadDim;
  gK += bh * sk * kHeadDim;
  gV += bh * sk * kHeadDim;
  gLse += bh * sq;

  // EXERCISE 4.1: the K/V tile loop bound: skip the key tiles above the causal diagonal
  // BEGIN SOLUTION
  // HINT: n_tiles = the number of kBlockN-key tiles to visit. Without the mask: every key, Sk of them
  // HINT: (the last tile may be ragged). Causal (bottom-right): the tile's last real row,
  // HINT: min(q0 + kBlockM, Sq) - 1, sees keys up to that row + Sk - Sq, and no row of the tile sees
  // HINT: more, so the tiles past it are skipped, not masked. None at all when that is negative.
  // Keys the tile can see: all of them, or (causal, bottom-right) those up to the diagonal of
  // its last real row, q_end - 1 + sk - sq. Tiles above the diagonal are never visited.
  const std::int64_t q_end = q0 + kBlockM < sq ? q0 + kBlockM : sq;
  std::int64_t n_end = sk;
  if (causal) n_end = q_end + sk - sq < sk ? q_end + sk - sq : sk;
  const int n_tiles = n_end > 0 ? int((n_end + kBlockN - 1) / kBlockN) : 0;
  // STUB: const int n_tiles = 0;  // no key tile visited: O = 0, LSE = -inf
  // END SOLUTION

  if (n_tiles > 0) {
    copy_kv_tile<C>(sK, gK, 0, sk, tid);  // K_0 in flight while Q is loaded
    cp_async_commit();
  }
  load_q_tile<C>(sQ, gQ, q0, sq, scale_log2, tid);

  float rO[kRowsPerLane][kColsPerLane];  // (kRowsPerLane, kColsPerLane): O_i, not yet divided by l_i
  float m_i[kRowsPerLane];               // (kRowsPerLane): running row max of S, log2 units
  float l_i[kRowsPerLane];               // (kRowsPerLane): this lane's share of the running row sum
#pragma unroll
  for (int i = 0; i < kRowsPerLane; ++i) {
    m_i[i] = -CUDART_INF_F;
    l_i[i] = 0.f;
#pragma unroll
    for (int c = 0; c < kColsPerLane; ++c) rO[i][c] = 0.f;
  }

  const float* sQl = sQ + row0 * kRowStride;             // this lane's rows of Q_i
  const float* sKl = sK + lane_col * kRowStride;         // this lane's keys of K_j
  float* sPl = sP + row0 * kPStride;                     // this lane's rows of P_ij
  const float* sVl = sV + kVec * lane_col;               // this lane's columns of V_j

  for (int j = 0; j < n_tiles; ++j) {
    const std::int64_t n0 = std::int64_t(j) * kBlockN;
    cp_async_wait_all();
    __syncthreads();  // K_j (and, on the first trip, Q_i) is visible to all; every warp has
                      // finished P V_{j-1}, so sV may be overwritten
    copy_kv_tile<C>(sV, gV, n0, sk, tid);  // V_j lands while S_ij and the softmax run
    cp_async_commit();

    // S_ij = Q_i K_j^T: per step of 4 along the head dim, kKeysPerLane + kRowsPerLane float4
    // reads feed 4 * kRowsPerLane * kKeysPerLane FFMA.
    float rS[kRowsPerLane][kKeysPerLane];  // (kRowsPerLane, kKeysPerLane): S_ij (log2 units), then P_ij
#pragma unroll
    for (int i = 0; i < kRowsPerLane; ++i)
#pragma unroll
      for (int jj = 0; jj < kKeysPerLane; ++jj) rS[i][jj] = 0.f;
#pragma unroll C::kUnrollQK
    for (int d = 0; d < kHeadDim; d += kVec) {
      float rK[kKeysPerLane][kVec];  // (kKeysPerLane, 4): K_j[key][d .. d + 3] for this lane's keys
#pragma unroll
      for (int jj = 0; jj < kKeysPerLane; ++jj) lds4(sKl + jj * kLaneCols * kRowStride + d, rK[jj]);
#pragma unroll
      for (int i = 0; i < kRowsPerLane; ++i) {
        float rQ[kVec];  // (4): Q_i[row][d .. d + 3]
        lds4(sQl + C::row_step(i) * kRowStride + d, rQ);
#pragma unroll
        for (int jj = 0; jj < kKeysPerLane; ++jj)
#pragma unroll
          for (int e = 0; e < kVec; ++e) rS[i][jj] = fmaf(rQ[e], rK[jj][e], rS[i][jj]);
      }
    }

    // Mask only where needed: the ragged last key tile, and (causal) a tile that crosses the
    // diagonal of the tile's first row q0 (which sees keys up to q0 + sk - sq).
    const bool tail_tile = n0 + kBlockN > sk;
    const bool diagonal_tile = causal && n0 + kBlockN - 1 > q0 + sk - sq;
    if (tail_tile || diagonal_tile) {
      // Row q0 + row0 + row_step(i) sees keys <= min(row + Sk - Sq (bottom-right causal), Sk - 1);
      // relative to this lane's first key n0 + lane_col that is jj * kLaneCols <= min(diag_lim +
      // row_step(i), tail_lim). Both limits are clamped to int: beyond the tile they all agree.
      const std::int64_t first_key = n0 + lane_col;
      const int tail_lim = clamp_to_int(sk - 1 - first_key, -1, kBlockN);
      const int diag_lim = causal ? clamp_to_int(q0 + row0 + sk - sq - first_key, -kBlockM, kBlockN) : kBlockN;
#pragma unroll
      for (int i = 0; i < kRowsPerLane; ++i) {
        const int lim = diag_lim + C::row_step(i) < tail_lim ? diag_lim + C::row_step(i) : tail_lim;
#pragma unroll
        for (int jj = 0; jj < kKeysPerLane; ++jj)
          if (jj * kLaneCols > lim) rS[i][jj] = -CUDART_INF_F;
      }
    }

    // Online softmax, a row at a time: new max m_i, rescale l_i and O_i by exp2(m_old - m_new),
    // P_ij = exp2(S_ij - m_new), add its row sum to l_i.
#pragma unroll
    for (int i = 0; i < kRowsPerLane; ++i) {
      float row_max = rS[i][0];
#pragma unroll
      for (int jj = 1; jj < kKeysPerLane; ++jj) row_max = fmaxf(row_max, rS[i][jj]);
#pragma unroll
      for (int lane_mask = 2; lane_mask <= kLaneCols; lane_mask *= 2)  // the lane_col bits
        row_max = fmaxf(row_max, __shfl_xor_sync(kFullMask, row_max, lane_mask));
      // EXERCISE 4.2: rescale the accumulator when the row max grows
      // BEGIN SOLUTION
      // HINT: row_max is the max of row i over this tile. m_new = max(m_i, row_max); m_ref = m_new, or 0
      // HINT: while m_new is -inf (no key seen yet: exp2(-inf - -inf) would be NaN); alpha = exp2f(m_i -
      // HINT: m_ref). Store m_new in m_i, multiply l_i and the row's kColsPerLane O registers by alpha.
      // HINT: The code after the region turns S into P = exp2(S - m_ref) and adds it to l_i.
      const float m_new = fmaxf(m_i[i], row_max);
      // A row that has seen no key yet has m_new = -inf: subtract 0 instead, so that
      // exp2(-inf - -inf) = NaN never happens (its P and alpha come out 0).
      const float m_ref = m_new == -CUDART_INF_F ? 0.f : m_new;
      const float alpha = exp2f(m_i[i] - m_ref);  // 1 when the max did not grow; 0 at the first key
      m_i[i] = m_new;
      l_i[i] *= alpha;
#pragma unroll
      for (int c = 0; c < kColsPerLane; ++c) rO[i][c] *= alpha;
      // STUB: const float m_ref = 0.f;  // no running max: m_i stays -inf, nothing is rescaled
      // END SOLUTION
#pragma unroll
      for (int jj = 0; jj < kKeysPerLane; ++jj) {
        rS[i][jj] = exp2_fast(rS[i][jj] - m_ref);  // one MUFU.EX2, subnormals flushed
        l_i[i] += rS[i][jj];
      }
    }

    // P_ij to shared memory, row-major: P V needs each row's keys in another lane's order.
    // The kLaneCols lanes of a row write consecutive words and the lane rows are kLaneCols
    // banks apart: conflict-free.
#pragma unroll
    for (int i = 0; i < kRowsPerLane; ++i)
#pragma unroll
      for (int jj = 0; jj < kKeysPerLane; ++jj)
        sPl[C::row_step(i) * kPStride + lane_col + jj * kLaneCols] = rS[i][jj];

    cp_async_wait_all();
    __syncthreads();  // V_j is visible to all, and this warp's P_ij to its lanes; every warp has
                      // finished reading sK, so K_{j+1} may overwrite it
    if (j + 1 < n_tiles) {
      copy_kv_tile<C>(sK, gK, n0 + kBlockN, sk, tid);  // K_{j+1} lands while P V_j runs
      cp_async_commit();
    }

    // EXERCISE 4.3: O_i += P_ij V_j: the second product, from P and V in shared memory
    // BEGIN SOLUTION
    // HINT: mirror S = Q K^T above: walk the tile's kBlockN keys in steps of kVec. Per step, lds4 this
    // HINT: lane's rows of P (sPl + C::row_step(i) * kPStride + n), then per key n + e lds4 this lane's
    // HINT: kColsPerLane columns of V (sVl + (n + e) * kRowStride + k * kVec * kLaneCols, k <
    // HINT: kColsPerLane / kVec) and fmaf them into rO[i][c].
    // O_i += P_ij V_j: per step of 4 keys, kRowsPerLane float4 reads of P and kColsPerLane of V
    // (4 rows x kColsPerLane / 4) feed 4 * kRowsPerLane * kColsPerLane FFMA.
#pragma unroll C::kUnrollPV
    for (int n = 0; n < kBlockN; n += kVec) {
      float rP[kRowsPerLane][kVec];  // (kRowsPerLane, 4): P_ij[row][n .. n + 3]
#pragma unroll
      for (int i = 0; i < kRowsPerLane; ++i) lds4(sPl + C::row_step(i) * kPStride + n, rP[i]);
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        float rV[kColsPerLane];  // (kColsPerLane): V_j[n + e] at this lane's columns
#pragma unroll
        for (int k = 0; k < kColsPerLane / kVec; ++k)
          lds4(sVl + (n + e) * kRowStride + k * kVec * kLaneCols, rV + k * kVec);
#pragma unroll
        for (int i = 0; i < kRowsPerLane; ++i)
#pragma unroll
          for (int c = 0; c < kColsPerLane; ++c) rO[i][c] = fmaf(rP[i][e], rV[c], rO[i][c]);
      }
    }
    // STUB: (void)sVl;  // read by the P V loop you write here; until then O = 0
    // END SOLUTION
  }

  // Epilogue: finish l_i across the row's lanes, O_i / l_i, LSE = (m_i + log2 l_i) * ln 2.
  // A row that saw no key has l_i = 0 (and O_i = 0): it writes O = 0 and LSE = -inf.
#pragma unroll
  for (int i = 0; i < kRowsPerLane; ++i) {
    float l = l_i[i];
#pragma unroll
    for (int lane_mask = 2; lane_mask <= kLaneCols; lane_mask *= 2) l += __shfl_xor_sync(kFullMask, l, lane_mask);
    const std::int64_t row = q0 + row0 + C::row_step(i);
    if (row < sq) {
      const float inv_l = l > 0.f ? 1.f / l : 0.f;
      float* gOrow = gO + row * kHeadDim + kVec * lane_col;
#pragma unroll
      for (int k = 0; k < kColsPerLane / kVec; ++k) {
        const float* o = rO[i] + k * kVec;
        *reinterpret_cast<float4*>(gOrow + k * kVec * kLaneCols) =
            make_float4(o[0] * inv_l, o[1] * inv_l, o[2] * inv_l, o[3] * inv_l);
      }
      if (lane_col == 0) gLse[row] = l > 0.f ? kLn2 * (m_i[i] + log2f(l)) : -CUDART_INF_F;
    }
  }
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

template <int kHeadDim>
void launch(const AttnArgs& a, cudaStream_t stream) {
  using C = Config<kHeadDim>;
  // Above 48 KB of dynamic shared memory a kernel must opt in, once per instantiation; the
  // carveout hint asks for the largest shared-memory split so kMinBlocksPerSm blocks fit. (If a
  // check throws, the static stays unset and the next launch tries again.)
  static const bool configured = [] {
    opt_in_shared_memory(reinterpret_cast<const void*>(fused_kernel<kHeadDim>), C::kSmemBytes, "04_fused", kHeadDim);
    FA_CUDA_CHECK(cudaFuncSetAttribute(fused_kernel<kHeadDim>, cudaFuncAttributePreferredSharedMemoryCarveout,
                                       int(cudaSharedmemCarveoutMaxShared)));
    return true;
  }();
  (void)configured;

  const std::int64_t bh = a.b * a.h;
  const std::int64_t q_tiles = (a.sq + C::kBlockM - 1) / C::kBlockM;
  if (bh > kMaxGridY * kMaxGridY) throw unsupported("04_fused: batch * heads exceeds the grid");
  const dim3 grid(unsigned(q_tiles), unsigned(bh < kMaxGridY ? bh : kMaxGridY),
                  unsigned((bh + kMaxGridY - 1) / kMaxGridY));
  fused_kernel<kHeadDim><<<grid, C::kThreads, C::kSmemBytes, stream>>>(
      static_cast<const float*>(a.q), static_cast<const float*>(a.k), static_cast<const float*>(a.v),
      static_cast<float*>(a.o), a.lse, bh, a.sq, a.sk, a.scale * kLog2e, a.causal);
  FA_CHECK_LAUNCH();
}

}  // namespace

void forward(const AttnArgs& a, cudaStream_t stream) {
  if (!aligned16(a.q) || !aligned16(a.k) || !aligned16(a.v) || !aligned16(a.o))
    throw unsupported("04_fused: Q, K, V and O must be 16-byte aligned (float4 and cp.async)");
  if (!HeadDims::dispatch(a.d, [&](auto d) { launch<decltype(d)::value>(a, stream); }))
    throw unsupported("04_fused: head dim " + std::to_string(a.d) + " is not compiled (" +
                      HeadDims::list() + ")");
}

}  // namespace fa::fused
