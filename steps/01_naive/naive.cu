// Step 01: standard attention, three kernels, S and P written to HBM.
//
// What this step is: the textbook algorithm, as written in the FlashAttention paper's
// "standard attention implementation" (Algorithm 0):
//   1. S = scale * Q K^T         (B, H, Sq, Sk) float32, written to HBM
//   2. P = softmax(S) row-wise   in place over S, with max subtraction; LSE written
//   3. O = P V                   (B, H, Sq, D)
// Every kernel is the most direct mapping: one thread per output element (or per row).
//
// Thread-to-data mapping (all kernels use flat grid-stride loops over their outputs):
//   scores:  thread <- one (b, h, i, j) of S; j is fastest, so a warp reads 32 K rows and
//            broadcasts one Q row.
//   softmax: thread <- one (b, h, i) row of S; three passes over the row (max, sum, write).
//   pv:      thread <- one (b, h, i, c) of O; c is fastest, so a warp reads a contiguous run
//            of a V row and broadcasts P[i][j].
//
// Shared memory: none. Everything goes through L1/L2/HBM.
//
// Expected bottleneck: memory. S and P are Theta(B H Sq Sk) floats, written once and read
// four times (three softmax passes and P V), plus K and V re-read for every query row from
// L2. At N = 4096, H = 16 that is 1 GiB per pass over S, against 2 x 8 MiB of K and V.
#include <math_constants.h>

#include <cstdint>

#include "common/attention_args.hpp"
#include "common/cuda_check.hpp"
#include "steps/01_naive/naive.hpp"

namespace fa::naive {
namespace {

constexpr int kThreads = kThreadsPerBlock;
constexpr std::int64_t kMaxBlocks = std::int64_t(1) << 20;  // grid-stride loops cover the rest

int blocks_for(std::int64_t work) {
  return int((work + kThreads - 1) / kThreads < kMaxBlocks ? (work + kThreads - 1) / kThreads : kMaxBlocks);
}

// S[bh][i][j] = scale * <Q[bh][i], K[bh][j]>, or -inf where the causal mask hides key j.
__global__ void scores_kernel(const float* __restrict__ gQ, const float* __restrict__ gK, float* __restrict__ gS,
                              std::int64_t bh, std::int64_t sq, std::int64_t sk, std::int64_t d, float scale,
                              bool causal) {
  const std::int64_t total = bh * sq * sk;
  for (std::int64_t idx = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += std::int64_t(gridDim.x) * blockDim.x) {
    // EXERCISE 1.1: one score per thread: S_ij = scale * <q_i, k_j>, -inf where the mask hides key j
    // BEGIN SOLUTION
    // HINT: idx walks S = (B * H, Sq, Sk) with j fastest: split it into j, i and head. Bottom-right causal
    // HINT: mask: key j is visible to query i iff j <= i + Sk - Sq; a hidden score is stored as -inf
    // HINT: (then `continue`). Otherwise `dot` = the sum over the D elements of row i of Q times row j
    // HINT: of K, both rows of this head; the line after the region scales and stores it.
    const std::int64_t j = idx % sk;
    const std::int64_t i = (idx / sk) % sq;
    const std::int64_t head = idx / (sk * sq);
    // Bottom-right causal alignment: the last query row sees every key.
    if (causal && j > i + sk - sq) {
      gS[idx] = -CUDART_INF_F;
      continue;
    }
    const float* q = gQ + (head * sq + i) * d;
    const float* k = gK + (head * sk + j) * d;
    float dot = 0.f;
    for (std::int64_t x = 0; x < d; ++x) dot += q[x] * k[x];
    // STUB: float dot = 0.f;  // every score 0: uniform weights, O = mean of V
    // END SOLUTION
    gS[idx] = scale * dot;
  }
}

// In place over one row of S: P = exp(S - max) / sum, and LSE = max + log(sum).
// A row that sees no key (max = -inf) gets P = 0 and LSE = -inf instead of NaN.
__global__ void softmax_kernel(float* __restrict__ gS, float* __restrict__ gLse, std::int64_t rows, std::int64_t sk) {
  for (std::int64_t row = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; row < rows;
       row += std::int64_t(gridDim.x) * blockDim.x) {
    // EXERCISE 1.2: the row softmax in three passes (max, sum, write P), and LSE
    // BEGIN SOLUTION
    // HINT: s = this row of S. Pass 1: m = max_j s[j] (so that no exp can overflow). A row that sees no
    // HINT: key has m = -inf: write P = 0 and LSE = -inf, never NaN. Pass 2: l = sum_j expf(s[j] - m).
    // HINT: Pass 3: overwrite s[j] with expf(s[j] - m) / l. LSE (natural log) = m + logf(l).
    float* s = gS + row * sk;
    float m = -CUDART_INF_F;  // pass 1: the row max, so that exp() cannot overflow
    for (std::int64_t j = 0; j < sk; ++j) m = fmaxf(m, s[j]);
    if (m == -CUDART_INF_F) {
      for (std::int64_t j = 0; j < sk; ++j) s[j] = 0.f;
      gLse[row] = -CUDART_INF_F;
      continue;
    }
    float l = 0.f;  // pass 2: the normaliser
    for (std::int64_t j = 0; j < sk; ++j) l += expf(s[j] - m);
    const float inv_l = 1.f / l;  // pass 3: write P over S
    for (std::int64_t j = 0; j < sk; ++j) s[j] = expf(s[j] - m) * inv_l;
    gLse[row] = m + logf(l);
    // END SOLUTION
  }
}

// O[bh][i][c] = sum_j P[bh][i][j] * V[bh][j][c].
__global__ void pv_kernel(const float* __restrict__ gP, const float* __restrict__ gV, float* __restrict__ gO,
                          std::int64_t bh, std::int64_t sq, std::int64_t sk, std::int64_t d) {
  const std::int64_t total = bh * sq * d;
  for (std::int64_t idx = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t c = idx % d;
    const std::int64_t row = idx / d;  // head * sq + i
    const std::int64_t head = row / sq;
    const float* p = gP + row * sk;
    const float* v = gV + head * sk * d + c;
    float acc = 0.f;
    for (std::int64_t j = 0; j < sk; ++j) acc += p[j] * v[j * d];
    gO[idx] = acc;
  }
}

}  // namespace

void forward(const AttnArgs& a, cudaStream_t stream) {
  const std::int64_t bh = a.b * a.h;
  float* gS = static_cast<float*>(a.workspace);  // (B, H, Sq, Sk), becomes P in place
  scores_kernel<<<blocks_for(bh * a.sq * a.sk), kThreads, 0, stream>>>(
      static_cast<const float*>(a.q), static_cast<const float*>(a.k), gS, bh, a.sq, a.sk, a.d, a.scale, a.causal);
  FA_CHECK_LAUNCH();
  softmax_kernel<<<blocks_for(bh * a.sq), kThreads, 0, stream>>>(gS, a.lse, bh * a.sq, a.sk);
  FA_CHECK_LAUNCH();
  pv_kernel<<<blocks_for(bh * a.sq * a.d), kThreads, 0, stream>>>(gS, static_cast<const float*>(a.v),
                                                                  static_cast<float*>(a.o), bh, a.sq, a.sk, a.d);
  FA_CHECK_LAUNCH();
}

}  // namespace fa::naive
