// Step 03: one kernel; each query row streams over K and V with a running max and sum. S never
// exists in HBM.
//
// What changed from step 02: the three kernels became one. 02's softmax needed a whole row of S
// before it could start (its max before any exp, its sum before any division), so S had to be
// stored. The online softmax (Milakov and Gimelshein, 2018; the core of FlashAttention) removes
// that need. A query row i keeps, over the keys seen so far,
//   m_i  the max of the scores s_ij,
//   l_i  the sum of exp(s_ij - m_i),
//   o_i  the sum of exp(s_ij - m_i) v_j (the unnormalised output, in registers),
// and for each new key j: m_new = max(m_i, s_ij); alpha = exp(m_i - m_new) rescales l_i and o_i
// to the new max (alpha = 1 when the max did not grow); p_ij = exp(s_ij - m_new) is added. At the
// end O_i = o_i / l_i and LSE_i = m_i + log(l_i): exact, not an approximation.
// 02's tiles are gone: every row reads K and V by itself (step 04 shares them between rows).
// Causal: a row loops only over the keys it can see, so masked pairs cost nothing.
//
// Thread-to-data mapping: warp <- one query row (grid-stride over the B * H * Sq rows); lane owns
// head-dim elements lane + 32 t (t < D / 32) of q and of o_i, so each K or V row is read as D / 32
// coalesced 128-byte requests. s_ij is the warp-shuffle sum of the lanes' partial dot products;
// every lane then holds s_ij, m_i and l_i, and updates its own slice of o_i.
//
// Shared memory: none. q and o_i live in registers, D / 32 floats of each per lane.
//
// Expected bottleneck: instruction issue and latency, not HBM. The Theta(N^2) traffic of S and P
// is gone and DRAM traffic should be close to compulsory: K and V are requested once per row,
// Theta(B H Sq Sk D) bytes, but the warps of a block walk the same keys together, so most of those
// requests hit L1 or L2. What remains is work without reuse: every (row, key) pair costs two row
// loads, a five-step shuffle reduction and two exp2f for 2 D / 32 FMAs per lane. Fusion alone
// removes the IO; it does not bring back 02's tiles. Step 04 does both.
#include <math_constants.h>

#include <cstdint>
#include <string>

#include "common/attention_args.hpp"
#include "common/cuda_check.hpp"
#include "steps/03_online_softmax/online_softmax.hpp"

namespace fa::online_softmax {
namespace {

constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;  // every lane of the warp takes part in a shuffle
constexpr int kThreads = kWarpsPerBlock * kWarpSize;
constexpr std::int64_t kMaxBlocks = std::int64_t(1) << 20;  // grid-stride loop covers the rest

// exp(x) = exp2(x * log2(e)). The kernel folds log2(e) into the softmax scale: q is multiplied by
// scale * kLog2e once, when it is loaded, so every score s_ij (and m_i) is in log2 units and each
// exponential in the loop is a bare exp2f, the hardware's native exp2 (MUFU.EX2); expf would
// multiply by log2(e) itself, in extra precision, twice per key. LSE must be a natural log, hence
// the factor kLn2 when it is written.
constexpr float kLog2e = 1.4426950408889634f;  // log2(e)
constexpr float kLn2 = 0.6931471805599453f;    // ln(2) = 1 / log2(e)

__device__ float warp_sum(float x) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) x += __shfl_xor_sync(kFullMask, x, offset);
  return x;  // every lane holds the sum
}

// O[row] = softmax(scale * q K^T) V and LSE[row] for one query row per warp, with the online
// softmax; a row that sees no key gets O = 0 and LSE = -inf instead of NaN.
template <int kHeadDim>
__global__ void __launch_bounds__(kThreads)
    online_softmax_kernel(const float* __restrict__ gQ, const float* __restrict__ gK, const float* __restrict__ gV,
                          float* __restrict__ gO, float* __restrict__ gLse, std::int64_t rows, std::int64_t sq,
                          std::int64_t sk, float scale_log2, bool causal) {
  constexpr int kPerLane = kHeadDim / kWarpSize;  // head-dim elements per lane
  static_assert(kHeadDim % kWarpSize == 0, "the lanes split the head dim evenly");
  const int lane = threadIdx.x % kWarpSize;
  const std::int64_t warps = std::int64_t(gridDim.x) * kWarpsPerBlock;
  // The loop runs per warp (row depends on the warp only), so all 32 lanes reach every shuffle.
  for (std::int64_t row = blockIdx.x * std::int64_t(kWarpsPerBlock) + threadIdx.x / kWarpSize; row < rows;
       row += warps) {
    const std::int64_t i = row % sq;     // query index within its head
    const std::int64_t head = row / sq;  // b * H + h
    const float* gK_head = gK + head * sk * kHeadDim;
    const float* gV_head = gV + head * sk * kHeadDim;
    // Bottom-right causal alignment: row i sees keys 0 .. i + Sk - Sq (none when that is negative;
    // never more than Sk, since i < Sq).
    const std::int64_t causal_keys = i + sk - sq + 1;
    const std::int64_t n_visible = !causal ? sk : causal_keys > 0 ? causal_keys : 0;

    float rQ[kPerLane];  // (kPerLane): q[lane + 32 t] * scale * log2(e)
    float rO[kPerLane];  // (kPerLane): o_i[lane + 32 t], unnormalised
#pragma unroll
    for (int t = 0; t < kPerLane; ++t) {
      rQ[t] = gQ[row * kHeadDim + lane + kWarpSize * t] * scale_log2;
      rO[t] = 0.f;
    }
    float m_i = -CUDART_INF_F;  // running max of the scores seen so far (log2 units)
    float l_i = 0.f;            // running sum of exp2(s_ij - m_i)

    for (std::int64_t j = 0; j < n_visible; ++j) {
      const float* gK_j = gK_head + j * kHeadDim;
      const float* gV_j = gV_head + j * kHeadDim;
      float s_ij = 0.f;
#pragma unroll
      for (int t = 0; t < kPerLane; ++t) s_ij += rQ[t] * gK_j[lane + kWarpSize * t];
      s_ij = warp_sum(s_ij);  // every lane now holds the whole score, in log2 units

      // EXERCISE 3.1: online softmax: update the running max and sum, rescale the accumulator
      // BEGIN SOLUTION
      // HINT: m_new = max(m_i, s_ij); alpha = exp2f(m_i - m_new) rescales what l_i and rO already hold
      // HINT: to the new max; p_ij = exp2f(s_ij - m_new); then l_i = l_i * alpha + p_ij, rO[t] = rO[t] *
      // HINT: alpha + p_ij * v_j[lane + 32 t], m_i = m_new. Scores are in log2 units already. While
      // HINT: m_new is still -inf (no finite score yet) subtract 0 instead, so exp2f(-inf - -inf) = NaN
      // HINT: cannot happen.
      // First the new max, then the rescale factor relative to it, then the new term.
      const float m_new = fmaxf(m_i, s_ij);
      // m_new is -inf only while every score so far is -inf (infinite inputs): exp2f(-inf - -inf)
      // would be NaN, so subtract 0 instead and both exponentials below come out 0.
      const float m_ref = m_new == -CUDART_INF_F ? 0.f : m_new;
      const float alpha = exp2f(m_i - m_ref);  // 1 when the max did not grow; 0 at the first key
      const float p_ij = exp2f(s_ij - m_ref);
      l_i = l_i * alpha + p_ij;
#pragma unroll
      for (int t = 0; t < kPerLane; ++t) rO[t] = rO[t] * alpha + p_ij * gV_j[lane + kWarpSize * t];
      m_i = m_new;
      // STUB: const float p_ij = exp2f(s_ij);  // no running max: m_i stays -inf, large scores overflow
      // STUB: l_i += p_ij;
      // STUB: for (int t = 0; t < kPerLane; ++t) rO[t] += p_ij * gV_j[lane + kWarpSize * t];
      // END SOLUTION
    }

    // EXERCISE 3.2: normalise once at the end, and write LSE
    // BEGIN SOLUTION
    // HINT: O_i = o_i / l_i, each lane its own kPerLane elements. LSE_i = ln(sum_j exp(s_ij)) from m_i
    // HINT: and l_i, which are in log2 units: ln 2 * (m_i + log2 l_i), written by one lane. A row that
    // HINT: saw no key has l_i = 0: it writes O = 0 and LSE = -inf, never NaN.
    // Normalise once, at the end. A row that saw no key has l_i = 0: O = 0 and LSE = -inf.
    const float inv_l = l_i > 0.f ? 1.f / l_i : 0.f;
#pragma unroll
    for (int t = 0; t < kPerLane; ++t) gO[row * kHeadDim + lane + kWarpSize * t] = rO[t] * inv_l;
    // ln(sum_j exp(s_ij)) = ln(2) * log2(2^m_i * l_i) = kLn2 * (m_i + log2(l_i)), m_i in log2 units.
    if (lane == 0) gLse[row] = l_i > 0.f ? kLn2 * (m_i + log2f(l_i)) : -CUDART_INF_F;
    // STUB: for (int t = 0; t < kPerLane; ++t) gO[row * kHeadDim + lane + kWarpSize * t] = rO[t];  // not / l_i
    // STUB: if (lane == 0) gLse[row] = kLn2 * m_i;  // log2(l_i) missing
    // END SOLUTION
  }
}

template <int kHeadDim>
void launch(const AttnArgs& a, cudaStream_t stream) {
  const std::int64_t rows = a.b * a.h * a.sq;
  const std::int64_t blocks = (rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
  online_softmax_kernel<kHeadDim><<<unsigned(blocks < kMaxBlocks ? blocks : kMaxBlocks), kThreads, 0, stream>>>(
      static_cast<const float*>(a.q), static_cast<const float*>(a.k), static_cast<const float*>(a.v),
      static_cast<float*>(a.o), a.lse, rows, a.sq, a.sk, a.scale * kLog2e, a.causal);
  FA_CHECK_LAUNCH();
}

}  // namespace

void forward(const AttnArgs& a, cudaStream_t stream) {
  if (!HeadDims::dispatch(a.d, [&](auto d) { launch<decltype(d)::value>(a, stream); }))
    throw unsupported("03_online_softmax: head dim " + std::to_string(a.d) + " is not compiled (" +
                      HeadDims::list() + ")");
}

}  // namespace fa::online_softmax
