// CPU references, accumulating in double.
//
//  - reference_attention: standard attention, row by row: S = scale * q K^T, P = softmax(S),
//    o = P V, lse = log sum exp(S). Computes any subset of rows, so large problems can be
//    checked on a seeded sample.
//  - blocked_attention: the FlashAttention algorithm (Dao et al. 2022, Algorithm 1, in the
//    FlashAttention-2 loop order: outer loop over query blocks, inner over key blocks) in plain
//    C++, with the block sizes as parameters. It is the lesson's algorithm before any CUDA, and it
//    must agree with reference_attention on every shape.
#pragma once

#include <cstdint>
#include <vector>

#include "common/problem.hpp"

namespace fa {

struct RefResult {
  std::vector<std::int64_t> rows;  // flat row indices r = (b * H + h) * Sq + i
  std::vector<double> o;           // rows.size() x D
  std::vector<double> lse;         // rows.size(); -inf for a row that sees no key
  double score_rms = 0;            // RMS of the visible scores s_ij of these rows (conditioning)
};

// Every row index, or max(count, 2) distinct rows drawn from a seeded generator (sorted). The
// sample always includes the first and last row of the problem, where edge cases live.
std::vector<std::int64_t> all_rows(const Problem& p);
std::vector<std::int64_t> sample_rows(const Problem& p, std::int64_t count, std::uint64_t seed);

RefResult reference_attention(const Problem& p, const float* q, const float* k, const float* v,
                              const std::vector<std::int64_t>& rows);

// Full O (B, H, Sq, D) and LSE (B, H, Sq), in double.
struct BlockedResult {
  std::vector<double> o, lse;
};
BlockedResult blocked_attention(const Problem& p, const float* q, const float* k, const float* v,
                                std::int64_t block_m, std::int64_t block_n);

}  // namespace fa
