// Step 02: standard attention, three kernels, with shared-memory tiled matmuls; S and P still in HBM.
//
// What changed from step 01: the algorithm is the same (S = scale * Q K^T, P = softmax(S) in place
// with LSE, O = P V, S and P written to HBM); only the mapping of work to threads changed.
//   1. scores: a block computes a (kBlockM, kBlockN) tile of S. It walks the head dim in slices of
//      kSliceD, staging a slice of the Q tile and of the K tile in shared memory; every value staged
//      there is then used by kBlockN (or kBlockM) outputs, from registers, instead of being fetched
//      from L1/L2 once per output element. Each slice's partial dot products are summed apart and
//      then added to the total (blocked summation), which keeps fp32 rounding small for large D.
//   2. softmax: a warp per row instead of a thread per row. The lanes read consecutive elements
//      (coalesced, where 01's threads each walked their own row) and combine their partial max and
//      sum with warp shuffles.
//   3. pv: a block computes a (kBlockM, D) tile of O, walking the keys in slices of kSliceN of P
//      and V staged in shared memory.
// Register tiles are sized by the head dim, so D is a template parameter: 32, 64, 96 or 128.
//
// Thread-to-data mapping (kThreads = 256 threads as a kThreadsM x kThreadsN = 16 x 16 grid (ty, tx)):
//   scores:  block <- one (kBlockM, kBlockN) tile of S; thread (ty, tx) owns kTileM x kTileN = 4 x 4
//            values, rows kTileM * ty + r and columns tx + kThreadsN * c. Rows are consecutive so
//            that a thread's four Q values are one 16-byte shared load; columns are strided so that
//            a warp's shared loads of K hit 16 different banks and its stores to S are runs of 16
//            consecutive floats.
//   softmax: warp <- one row of S; lane reads elements lane, lane + 32, ...; three passes (max,
//            sum, write) as in 01.
//   pv:      block <- one (kBlockM, D) tile of O, all of D, so that P is read once; thread (ty, tx)
//            owns rows kTileM * ty + r and columns tx + kThreadsN * c (4 x D / 16 values).
//
// Shared memory (static, per block). Tiles are stored transposed, reduction index first, so that
// the inner loop reads one row of each; kPad keeps those rows 16-byte aligned.
//   scores: sQ, sK   (kSliceD, kBlockM + kPad), (kSliceD, kBlockN + kPad): 2 x 16 x 68 x 4 B = 8.5 KiB.
//   pv:     sP       (kSliceN, kBlockM + kPad):  16 x 68 x 4 B = 4.25 KiB,
//           sV       (kSliceN, D):               16 x D x 4 B <= 8 KiB.
//   softmax: none.
//
// Expected bottleneck: the Theta(N^2) traffic of S and P, which tiling cannot touch. Tiling
// divides the matmuls' global loads by the tile width and makes them coalesced; their inner loop
// issues 5 shared loads (one 16-byte Q or P load, four K or V loads) per 16 FMAs. But S is still
// written, read three times and overwritten by P, which is read once: 24 bytes of HBM traffic per
// (query, key) pair against 4 D FLOPs, about 11 FLOPs per byte at D = 64, near the H200's fp32
// balance point (N = 4096, H = 16: six passes over 1 GiB, against 2 x 16 MiB of K and V). The
// softmax kernel is pure traffic, a floor that no matmul speed lowers. Tiling fixes compute, not IO.
#include <math_constants.h>

#include <cstdint>
#include <string>

#include "common/attention_args.hpp"
#include "common/cuda_check.hpp"
#include "steps/02_tiled/tiled.hpp"

namespace fa::tiled {
namespace {

constexpr int kThreads = kThreadsPerBlock;
constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;  // every lane of the warp takes part in a shuffle
constexpr int kWarpsPerBlock = kThreads / kWarpSize;  // softmax: one row per warp
constexpr int kThreadsN = 16;                         // thread grid columns (tx)
constexpr int kThreadsM = kThreads / kThreadsN;       // thread grid rows (ty)
constexpr int kTileM = kBlockM / kThreadsM;           // output rows per thread
constexpr int kTileN = kBlockN / kThreadsN;           // S columns per thread
constexpr int kSliceD = 16;                           // scores: head-dim columns staged per step
constexpr int kSliceN = 16;                           // pv: keys staged per step
constexpr int kPad = 4;  // floats: rows stay 16-byte aligned, transposing stores spread over banks
constexpr std::int64_t kMaxBlocks = std::int64_t(1) << 20;  // softmax: grid-stride loop covers the rest

static_assert(kTileM == 4, "a thread's kTileM consecutive rows are one 16-byte (float4) shared load");

__host__ __device__ std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// Stages the (kRows, kCols) tile at (row0, col0) of a row-major (rows, cols) matrix with leading
// dimension ld into s, transposed to (kCols, kRows), with zeros outside the matrix so that ragged
// tiles need no predicate in the inner loop. Consecutive threads take consecutive columns, so a
// warp reads kWarpSize / kCols rows of kCols consecutive floats (coalesced). The transposing
// store is 2-way bank conflicted; a thread makes 4 of them per slice, against the inner loop's
// 5 loads per slice element.
template <int kRows, int kCols>
__device__ void load_transposed(float (*s)[kRows + kPad], const float* __restrict__ g, std::int64_t ld,
                                std::int64_t row0, std::int64_t rows, std::int64_t col0, std::int64_t cols) {
  static_assert(kRows * kCols % kThreads == 0, "every thread stages the same number of elements");
#pragma unroll
  for (int l = 0; l < kRows * kCols / kThreads; ++l) {
    const int e = threadIdx.x + kThreads * l;
    const int r = e / kCols, x = e % kCols;
    // EXERCISE 2.1: stage a tile in shared memory: transposed, with zeros outside the matrix
    // BEGIN SOLUTION
    // HINT: element (r, x) of the tile is element (row0 + r, col0 + x) of g (leading dimension ld);
    // HINT: store it transposed, at s[x][r], and store 0 where the tile hangs over the edge of the
    // HINT: (rows, cols) matrix, so that the inner loops need no bounds checks.
    const std::int64_t row = row0 + r, col = col0 + x;
    s[x][r] = (row < rows && col < cols) ? g[row * ld + col] : 0.f;
    // STUB: s[x][r] = 0.f;  // every tile all zeros: S = 0 and O = 0
    // END SOLUTION
  }
}

// S[bh][i][j] = scale * <Q[bh][i], K[bh][j]>, or -inf where the causal mask hides key j.
// One block per (kBlockM, kBlockN) tile of S; gridDim.x = B * H * ceil(Sq / kBlockM) * ceil(Sk / kBlockN).
template <int kHeadDim>
__global__ void __launch_bounds__(kThreads)
    scores_kernel(const float* __restrict__ gQ, const float* __restrict__ gK, float* __restrict__ gS,
                  std::int64_t sq, std::int64_t sk, float scale, bool causal) {
  static_assert(kHeadDim % kSliceD == 0, "the head dim is walked in whole slices");
  __shared__ __align__(16) float sQ[kSliceD][kBlockM + kPad];  // (kSliceD, kBlockM): Q tile slice, transposed
  __shared__ __align__(16) float sK[kSliceD][kBlockN + kPad];  // (kSliceD, kBlockN): K tile slice, transposed

  // Which tile: key tiles fastest, then query tiles, then heads.
  const std::int64_t tiles_n = ceil_div(sk, kBlockN), tiles_m = ceil_div(sq, kBlockM);
  const std::int64_t tile = blockIdx.x;
  const std::int64_t n0 = (tile % tiles_n) * kBlockN;
  const std::int64_t m0 = ((tile / tiles_n) % tiles_m) * kBlockM;
  const std::int64_t head = tile / (tiles_n * tiles_m);
  gQ += head * sq * kHeadDim;
  gK += head * sk * kHeadDim;
  gS += head * sq * sk;

  const int tx = threadIdx.x % kThreadsN, ty = threadIdx.x / kThreadsN;
  float rS[kTileM][kTileN] = {};  // (kTileM, kTileN): rows kTileM * ty + r, columns tx + kThreadsN * c

  // EXERCISE 2.2: the tiled matmul's slice loop: stage, barrier, multiply from shared memory, barrier
  // BEGIN SOLUTION
  // HINT: walk the head dim in slices of kSliceD. Per slice: stage the Q tile's slice into sQ and the
  // HINT: K tile's into sK (load_transposed, exercise 2.1); __syncthreads() so that every thread sees
  // HINT: both; accumulate this thread's kTileM x kTileN dot products from sQ[x][...] and sK[x][...]
  // HINT: (rows kTileM * ty + r, columns tx + kThreadsN * c) into a per-slice tile, add it to rS
  // HINT: (blocked summation keeps fp32 rounding small); __syncthreads() again before the next slice
  // HINT: overwrites the tiles. Every thread must reach both barriers.
  for (int d0 = 0; d0 < kHeadDim; d0 += kSliceD) {
    load_transposed<kBlockM, kSliceD>(sQ, gQ, kHeadDim, m0, sq, d0, kHeadDim);
    load_transposed<kBlockN, kSliceD>(sK, gK, kHeadDim, n0, sk, d0, kHeadDim);
    __syncthreads();  // sQ and sK hold this slice before any thread reads them
    // Blocked summation: the slice's partial dot products are summed apart, then added to rS, so
    // fp32 rounding grows with kSliceD + D / kSliceD additions instead of D. It keeps scores in
    // the hundreds (the `large` input distribution) within the fp32 tolerance at 16 FADDs a slice.
    float rS_slice[kTileM][kTileN] = {};  // (kTileM, kTileN): this slice's share of rS
#pragma unroll
    for (int x = 0; x < kSliceD; ++x) {
      float rQ[kTileM];  // (kTileM): Q[i][d0 + x] for this thread's rows
      float rK[kTileN];  // (kTileN): K[j][d0 + x] for this thread's columns
#pragma unroll
      for (int r = 0; r < kTileM; ++r) rQ[r] = sQ[x][kTileM * ty + r];
#pragma unroll
      for (int c = 0; c < kTileN; ++c) rK[c] = sK[x][tx + kThreadsN * c];
#pragma unroll
      for (int r = 0; r < kTileM; ++r)
#pragma unroll
        for (int c = 0; c < kTileN; ++c) rS_slice[r][c] += rQ[r] * rK[c];
    }
#pragma unroll
    for (int r = 0; r < kTileM; ++r)
#pragma unroll
      for (int c = 0; c < kTileN; ++c) rS[r][c] += rS_slice[r][c];
    __syncthreads();  // every thread is done reading sQ and sK before the next slice overwrites them
  }
  // STUB: (void)sQ, (void)sK;  // read by the slice loop you write here; until then S = 0
  // END SOLUTION

#pragma unroll
  for (int r = 0; r < kTileM; ++r) {
    const std::int64_t i = m0 + kTileM * ty + r;
#pragma unroll
    for (int c = 0; c < kTileN; ++c) {
      const std::int64_t j = n0 + tx + kThreadsN * c;
      if (i >= sq || j >= sk) continue;  // ragged tile: this element is outside S
      // Bottom-right causal alignment: the last query row sees every key.
      gS[i * sk + j] = (causal && j > i + sk - sq) ? -CUDART_INF_F : scale * rS[r][c];
    }
  }
}

// EXERCISE 2.3: warp-shuffle reductions: the row max and the row sum over the 32 lanes of a warp
// BEGIN SOLUTION
// HINT: a butterfly: for offset = 16, 8, 4, 2, 1 combine x with __shfl_xor_sync(kFullMask, x,
// HINT: offset) (fmaxf for the max, + for the sum). After five steps every lane holds the
// HINT: reduction of all 32 lanes' values. Every lane of the warp must take part in each shuffle.
__device__ float warp_max(float x) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) x = fmaxf(x, __shfl_xor_sync(kFullMask, x, offset));
  return x;  // every lane holds the max
}

__device__ float warp_sum(float x) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) x += __shfl_xor_sync(kFullMask, x, offset);
  return x;  // every lane holds the sum
}
// STUB: __device__ float warp_max(float x) { return __shfl_sync(kFullMask, x, 0); }  // lane 0's partial max
// STUB: __device__ float warp_sum(float x) { return __shfl_sync(kFullMask, x, 0); }  // lane 0's partial sum
// END SOLUTION

// In place over one row of S: P = exp(S - max) / sum, and LSE = max + log(sum); one warp per row.
// A row that sees no key (max = -inf) gets P = 0 and LSE = -inf instead of NaN.
__global__ void __launch_bounds__(kThreads)
    softmax_kernel(float* __restrict__ gS, float* __restrict__ gLse, std::int64_t rows, std::int64_t sk) {
  const int lane = threadIdx.x % kWarpSize;
  const std::int64_t warps = std::int64_t(gridDim.x) * kWarpsPerBlock;
  // The loop runs per warp (row depends on the warp only), so all 32 lanes reach every shuffle.
  for (std::int64_t row = blockIdx.x * std::int64_t(kWarpsPerBlock) + threadIdx.x / kWarpSize; row < rows;
       row += warps) {
    float* s = gS + row * sk;
    float m = -CUDART_INF_F;  // pass 1: the row max, so that exp() cannot overflow
    for (std::int64_t j = lane; j < sk; j += kWarpSize) m = fmaxf(m, s[j]);
    m = warp_max(m);
    if (m == -CUDART_INF_F) {
      for (std::int64_t j = lane; j < sk; j += kWarpSize) s[j] = 0.f;
      if (lane == 0) gLse[row] = -CUDART_INF_F;
      continue;
    }
    float l = 0.f;  // pass 2: the normaliser
    for (std::int64_t j = lane; j < sk; j += kWarpSize) l += expf(s[j] - m);
    l = warp_sum(l);
    const float inv_l = 1.f / l;  // pass 3: write P over S
    for (std::int64_t j = lane; j < sk; j += kWarpSize) s[j] = expf(s[j] - m) * inv_l;
    if (lane == 0) gLse[row] = m + logf(l);
  }
}

// O[bh][i][c] = sum_j P[bh][i][j] * V[bh][j][c].
// One block per (kBlockM, kHeadDim) tile of O; gridDim.x = B * H * ceil(Sq / kBlockM).
template <int kHeadDim>
__global__ void __launch_bounds__(kThreads)
    pv_kernel(const float* __restrict__ gP, const float* __restrict__ gV, float* __restrict__ gO, std::int64_t sq,
              std::int64_t sk) {
  constexpr int kTileD = kHeadDim / kThreadsN;  // O columns per thread
  static_assert(kHeadDim % kThreadsN == 0, "every thread owns the same number of O columns");
  static_assert(kSliceN * kHeadDim % kThreads == 0, "every thread stages the same number of V elements");
  __shared__ __align__(16) float sP[kSliceN][kBlockM + kPad];  // (kSliceN, kBlockM): P tile slice, transposed
  __shared__ float sV[kSliceN][kHeadDim];                       // (kSliceN, kHeadDim): V rows n0 ..

  // Which tile: query tiles fastest, then heads.
  const std::int64_t tiles_m = ceil_div(sq, kBlockM);
  const std::int64_t m0 = (blockIdx.x % tiles_m) * kBlockM;
  const std::int64_t head = blockIdx.x / tiles_m;
  gP += head * sq * sk;
  gV += head * sk * kHeadDim;
  gO += head * sq * kHeadDim;

  const int tx = threadIdx.x % kThreadsN, ty = threadIdx.x / kThreadsN;
  float rO[kTileM][kTileD] = {};  // (kTileM, kTileD): rows kTileM * ty + r, columns tx + kThreadsN * c

  for (std::int64_t n0 = 0; n0 < sk; n0 += kSliceN) {
    load_transposed<kBlockM, kSliceN>(sP, gP, sk, m0, sq, n0, sk);
#pragma unroll
    for (int l = 0; l < kSliceN * kHeadDim / kThreads; ++l) {
      const int e = threadIdx.x + kThreads * l;
      const int x = e / kHeadDim, c = e % kHeadDim;
      // Zeros past the last key: the matching P entries are zero too, and 0 * garbage could be NaN.
      sV[x][c] = n0 + x < sk ? gV[(n0 + x) * kHeadDim + c] : 0.f;
    }
    __syncthreads();  // sP and sV hold this slice before any thread reads them
#pragma unroll
    for (int x = 0; x < kSliceN; ++x) {
      float rP[kTileM];  // (kTileM): P[i][n0 + x] for this thread's rows
      float rV[kTileD];  // (kTileD): V[n0 + x][c] for this thread's columns
#pragma unroll
      for (int r = 0; r < kTileM; ++r) rP[r] = sP[x][kTileM * ty + r];
#pragma unroll
      for (int c = 0; c < kTileD; ++c) rV[c] = sV[x][tx + kThreadsN * c];
#pragma unroll
      for (int r = 0; r < kTileM; ++r)
#pragma unroll
        for (int c = 0; c < kTileD; ++c) rO[r][c] += rP[r] * rV[c];
    }
    __syncthreads();  // every thread is done reading sP and sV before the next slice overwrites them
  }

#pragma unroll
  for (int r = 0; r < kTileM; ++r) {
    const std::int64_t i = m0 + kTileM * ty + r;
    if (i >= sq) continue;  // ragged tile: this row is outside O
#pragma unroll
    for (int c = 0; c < kTileD; ++c) gO[i * kHeadDim + tx + kThreadsN * c] = rO[r][c];
  }
}

template <int kHeadDim>
void launch(const AttnArgs& a, cudaStream_t stream) {
  const std::int64_t bh = a.b * a.h, rows = bh * a.sq;
  const std::int64_t tiles_m = ceil_div(a.sq, kBlockM), tiles_n = ceil_div(a.sk, kBlockN);
  // Both tile counts fit gridDim.x (< 2^31) whenever Q and the workspace fit in device memory.
  float* gS = static_cast<float*>(a.workspace);  // (B, H, Sq, Sk), becomes P in place
  scores_kernel<kHeadDim><<<unsigned(bh * tiles_m * tiles_n), kThreads, 0, stream>>>(
      static_cast<const float*>(a.q), static_cast<const float*>(a.k), gS, a.sq, a.sk, a.scale, a.causal);
  FA_CHECK_LAUNCH();
  const std::int64_t softmax_blocks = ceil_div(rows, kWarpsPerBlock);
  softmax_kernel<<<unsigned(softmax_blocks < kMaxBlocks ? softmax_blocks : kMaxBlocks), kThreads, 0, stream>>>(
      gS, a.lse, rows, a.sk);
  FA_CHECK_LAUNCH();
  pv_kernel<kHeadDim><<<unsigned(bh * tiles_m), kThreads, 0, stream>>>(gS, static_cast<const float*>(a.v),
                                                                      static_cast<float*>(a.o), a.sq, a.sk);
  FA_CHECK_LAUNCH();
}

}  // namespace

void forward(const AttnArgs& a, cudaStream_t stream) {
  if (!HeadDims::dispatch(a.d, [&](auto d) { launch<decltype(d)::value>(a, stream); }))
    throw unsupported("02_tiled: head dim " + std::to_string(a.d) + " is not compiled (" +
                      HeadDims::list() + ")");
}

}  // namespace fa::tiled
