// The attention problem: shapes, options, and the quantities every step is measured by.
//
// Layout (contiguous, row-major): Q (B, H, Sq, D), K and V (B, H, Sk, D), O (B, H, Sq, D),
// LSE (B, H, Sq) in float32, natural log. Row r of Q/O is the flat index (b * H + h) * Sq + i.
//
// Causal masking is bottom-right aligned: query i sees key j iff j <= i + Sk - Sq. When
// Sq == Sk this is the usual lower triangle (PyTorch's is_causal, which is top-left aligned,
// agrees only then). A query row that sees no key has O = 0 and LSE = -inf.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/dtype.hpp"

namespace fa {

// Input distributions for generated problems.
enum class Dist {
  normal,    // N(0, 1)
  uniform,   // U(-1, 1)
  large,     // Q, K ~ N(0, 10^2): scores reach the hundreds, exp() overflows without the max
  constant,  // every row of Q equal, every row of K equal: all scores tie, softmax is uniform
};

const char* dist_name(Dist d);
Dist parse_dist(const std::string& name);  // throws fa::Error

struct Problem {
  std::int64_t b = 1, h = 16, sq = 1024, sk = 1024, d = 64;
  bool causal = false;
  DType dtype = DType::f32;
  std::optional<double> scale;  // default 1 / sqrt(D)
  std::uint64_t seed = 0;
  Dist dist = Dist::normal;

  double softmax_scale() const;
  std::int64_t bh() const { return b * h; }
  std::int64_t q_elems() const { return b * h * sq * d; }
  std::int64_t kv_elems() const { return b * h * sk * d; }
  std::int64_t rows() const { return b * h * sq; }

  // Number of (query, key) pairs a query row i can see; the exact count, causal or not.
  std::int64_t visible_keys(std::int64_t i) const;
  // Sum of visible_keys over all rows of all heads (exact, in double to avoid overflow).
  double visible_pairs() const;
  // Forward FLOPs: 2 for Q K^T plus 2 for P V, per visible pair and head-dim element.
  double flops() const { return 4.0 * static_cast<double>(d) * visible_pairs(); }

  // Bytes of the five tensors in the step's dtype (LSE is always float32).
  double bytes_q() const { return double(q_elems()) * dtype_size(dtype); }
  double bytes_kv() const { return double(kv_elems()) * dtype_size(dtype); }  // K or V
  double bytes_o() const { return bytes_q(); }
  double bytes_lse() const { return double(rows()) * 4.0; }

  std::string describe() const;  // "B1 H16 Sq1024 Sk1024 D64 fp32 causal"
};

// Throws a usage error naming the first bad field (sizes must be >= 1 and not absurd).
void validate(const Problem& p);

}  // namespace fa
