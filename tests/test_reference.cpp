// The CPU references: reference_attention (Eigen, double) against plain loops and hand-computed
// values, its row sampling, its edge cases (large scores, ties, bottom-right causal masking), and
// blocked_attention (the FlashAttention algorithm on the CPU) against reference_attention.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "common/inputs.hpp"
#include "cpu_test_util.hpp"
#include "reference/reference.hpp"

namespace fa {
namespace {

using test::brute_attention;
using test::randn;
using test::small_problem;

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Tensors {
  std::vector<float> q, k, v;
};

Tensors random_tensors(const Problem& p, std::uint64_t seed, float sigma = 1.0f) {
  return {randn(std::size_t(p.q_elems()), seed, sigma), randn(std::size_t(p.kv_elems()), seed + 1, sigma),
          randn(std::size_t(p.kv_elems()), seed + 2)};
}

// Largest |a - b| over two vectors; NaN if either holds a NaN (so `<= tol` then fails).
// Equal infinities (masked rows' LSE) count as 0.
double max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i]) continue;  // includes -inf == -inf
    const double e = std::fabs(a[i] - b[i]);
    if (!(e <= m)) m = e;
  }
  return m;
}

// The full-problem reference as flat (B, H, Sq, D) / (B, H, Sq) vectors.
RefResult full_reference(const Problem& p, const Tensors& t) {
  return reference_attention(p, t.q.data(), t.k.data(), t.v.data(), all_rows(p));
}

}  // namespace

TEST_CASE("reference_attention equals a brute-force triple loop on small random problems") {
  // Small enough that the loop is obviously right; Sq != Sk so a transposed index would show.
  for (bool causal : {false, true})
    for (double scale : {0.0, 0.3}) {  // 0.0 stands for "default 1/sqrt(D)"
      Problem p = small_problem(2, 3, 5, 7, 4, causal);
      if (scale > 0) p.scale = scale;
      CAPTURE(causal);
      CAPTURE(scale);
      const Tensors t = random_tensors(p, 11);
      const RefResult r = full_reference(p, t);
      const test::Brute b = brute_attention(p, t.q.data(), t.k.data(), t.v.data());
      REQUIRE(r.rows.size() == std::size_t(p.rows()));
      CHECK(max_diff(r.o, b.o) < 1e-12);
      CHECK(max_diff(r.lse, b.lse) < 1e-12);
    }
}

TEST_CASE("reference_attention matches hand-computed values") {
  SUBCASE("D = 1, two keys, scale 1") {
    // s1 = q k1 = 1, s2 = q k2 = 2:  o = (e v1 + e^2 v2) / (e + e^2),  lse = log(e + e^2).
    Problem p = small_problem(1, 1, 1, 2, 1);
    p.scale = 1.0;
    const std::vector<float> q{1.0f}, k{1.0f, 2.0f}, v{3.0f, 5.0f};
    const RefResult r = reference_attention(p, q.data(), k.data(), v.data(), all_rows(p));
    const double e1 = std::exp(1.0), e2 = std::exp(2.0);
    CHECK(r.o[0] == doctest::Approx((e1 * 3 + e2 * 5) / (e1 + e2)).epsilon(1e-14));
    CHECK(r.lse[0] == doctest::Approx(std::log(e1 + e2)).epsilon(1e-14));
  }
  SUBCASE("D = 2, default scale 1/sqrt(2), equal scores average the values") {
    // q = (1, 1), k1 = (1, 0), k2 = (0, 1): both scores are 1/sqrt(2), so o = (v1 + v2) / 2
    // and lse = 1/sqrt(2) + log 2.
    Problem p = small_problem(1, 1, 1, 2, 2);
    const std::vector<float> q{1, 1}, k{1, 0, 0, 1}, v{2, -4, 6, 8};
    const RefResult r = reference_attention(p, q.data(), k.data(), v.data(), all_rows(p));
    CHECK(r.o[0] == doctest::Approx(4.0).epsilon(1e-14));
    CHECK(r.o[1] == doctest::Approx(2.0).epsilon(1e-14));
    CHECK(r.lse[0] == doctest::Approx(1 / std::sqrt(2.0) + std::log(2.0)).epsilon(1e-14));
  }
  SUBCASE("causal, Sq = Sk = 2: row 0 sees only key 0") {
    // Row 0: o = v1 exactly, lse = s1 = q0 k1 = 0.5. Row 1 sees both keys:
    // s = (q1 k1, q1 k2) = (1, -1), o = (e v1 + e^-1 v2) / (e + e^-1).
    Problem p = small_problem(1, 1, 2, 2, 1, true);
    p.scale = 1.0;
    const std::vector<float> q{0.5f, 1.0f}, k{1.0f, -1.0f}, v{7.0f, -3.0f};
    const RefResult r = reference_attention(p, q.data(), k.data(), v.data(), all_rows(p));
    CHECK(r.o[0] == 7.0);
    CHECK(r.lse[0] == doctest::Approx(0.5).epsilon(1e-15));
    const double a = std::exp(1.0), b = std::exp(-1.0);
    CHECK(r.o[1] == doctest::Approx((a * 7 - b * 3) / (a + b)).epsilon(1e-14));
    CHECK(r.lse[1] == doctest::Approx(std::log(a + b)).epsilon(1e-14));
  }
}

TEST_CASE("sampled rows equal the same rows of the full computation") {
  Problem p = small_problem(2, 3, 9, 6, 4, true);
  const Tensors t = random_tensors(p, 5);
  const RefResult full = full_reference(p, t);

  SUBCASE("a seeded sample") {
    const auto rows = sample_rows(p, 10, 99);
    const RefResult s = reference_attention(p, t.q.data(), t.k.data(), t.v.data(), rows);
    REQUIRE(s.rows == rows);
    for (std::size_t n = 0; n < rows.size(); ++n) {
      const auto r = std::size_t(rows[n]);
      CHECK(s.lse[n] == full.lse[r]);
      for (std::int64_t x = 0; x < p.d; ++x) CHECK(s.o[n * 4 + std::size_t(x)] == full.o[r * 4 + std::size_t(x)]);
    }
  }
  SUBCASE("unsorted rows spanning heads, given in any order") {
    // The reference groups rows by head internally; results must come back in the caller's order.
    const std::vector<std::int64_t> rows{p.rows() - 1, 0, 20, 3, 45, 9, 8};
    const RefResult s = reference_attention(p, t.q.data(), t.k.data(), t.v.data(), rows);
    REQUIRE(s.rows == rows);
    for (std::size_t n = 0; n < rows.size(); ++n) {
      const auto r = std::size_t(rows[n]);
      CAPTURE(r);
      CHECK(s.lse[n] == full.lse[r]);
      for (std::int64_t x = 0; x < p.d; ++x) CHECK(s.o[n * 4 + std::size_t(x)] == full.o[r * 4 + std::size_t(x)]);
    }
  }
}

TEST_CASE("sample_rows is deterministic, sorted, distinct, in range, and includes the first and last row") {
  const Problem p = small_problem(2, 4, 100, 50, 8);  // 800 rows
  const auto a = sample_rows(p, 37, 1234);
  CHECK(a == sample_rows(p, 37, 1234));  // same seed, same rows
  CHECK(a != sample_rows(p, 37, 4321));  // another seed, another sample
  REQUIRE(a.size() == 37);
  CHECK(std::adjacent_find(a.begin(), a.end(), [](auto x, auto y) { return !(x < y); }) == a.end());
  CHECK(a.front() == 0);
  CHECK(a.back() == p.rows() - 1);
  for (auto r : a) CHECK((r >= 0 && r < p.rows()));

  // Asking for at least every row gives every row, in order.
  CHECK(sample_rows(p, p.rows(), 1) == all_rows(p));
  CHECK(sample_rows(p, p.rows() + 5, 1) == all_rows(p));
  const auto all = all_rows(p);
  REQUIRE(all.size() == std::size_t(p.rows()));
  for (std::size_t i = 0; i < all.size(); ++i) CHECK(all[i] == std::int64_t(i));
}

TEST_CASE("large-magnitude inputs give finite results that match the loops") {
  // Q, K ~ N(0, 10^2): scores in the hundreds overflow exp() without the max subtraction.
  Problem p = small_problem(1, 2, 16, 16, 8);
  p.dist = Dist::large;
  for (bool causal : {false, true}) {
    p.causal = causal;
    const HostInputs in = generate_inputs(p);
    // Make sure the test exercises what it claims: some score beyond float exp's range.
    double max_score = 0;
    for (std::int64_t head = 0; head < p.bh(); ++head)
      for (std::int64_t i = 0; i < p.sq; ++i)
        for (std::int64_t j = 0; j < p.sk; ++j) {
          double dot = 0;
          for (std::int64_t x = 0; x < p.d; ++x)
            dot += double(in.q[std::size_t((head * p.sq + i) * p.d + x)]) *
                   double(in.k[std::size_t((head * p.sk + j) * p.d + x)]);
          max_score = std::max(max_score, std::fabs(dot * p.softmax_scale()));
        }
    REQUIRE(max_score > 89.0);  // exp(89) overflows float

    const RefResult r = reference_attention(p, in.q.data(), in.k.data(), in.v.data(), all_rows(p));
    for (double x : r.o) CHECK(std::isfinite(x));
    for (double x : r.lse) CHECK(std::isfinite(x));
    const test::Brute b = brute_attention(p, in.q.data(), in.k.data(), in.v.data());
    CHECK(max_diff(r.o, b.o) < 1e-10);
    CHECK(max_diff(r.lse, b.lse) < 1e-10);
  }
}

TEST_CASE("constant inputs give a uniform softmax: O is the mean of the visible V rows") {
  Problem p = small_problem(1, 2, 6, 9, 4);
  p.dist = Dist::constant;
  for (bool causal : {false, true}) {
    p.causal = causal;
    CAPTURE(causal);
    const HostInputs in = generate_inputs(p);
    const RefResult r = reference_attention(p, in.q.data(), in.k.data(), in.v.data(), all_rows(p));
    double score = 0;  // every score is the same: q0 . k0 * scale
    for (std::int64_t x = 0; x < p.d; ++x) score += double(in.q[std::size_t(x)]) * double(in.k[std::size_t(x)]);
    score *= p.softmax_scale();
    for (std::int64_t head = 0; head < p.bh(); ++head)
      for (std::int64_t i = 0; i < p.sq; ++i) {
        const std::int64_t row = head * p.sq + i, keys = causal ? i + p.sk - p.sq + 1 : p.sk;
        for (std::int64_t x = 0; x < p.d; ++x) {
          double mean = 0;
          for (std::int64_t j = 0; j < keys; ++j) mean += in.v[std::size_t((head * p.sk + j) * p.d + x)];
          mean /= double(keys);
          CHECK(r.o[std::size_t(row * p.d + x)] == doctest::Approx(mean).epsilon(1e-12));
        }
        // lse = log(keys * e^score) = score + log(keys)
        CHECK(r.lse[std::size_t(row)] == doctest::Approx(score + std::log(double(keys))).epsilon(1e-12));
      }
  }
}

TEST_CASE("causal masking is bottom-right aligned when Sq != Sk") {
  SUBCASE("Sq = 5, Sk = 3: rows 0 and 1 see no key") {
    // Row i sees keys j <= i + Sk - Sq = i - 2: rows 0, 1 none; row 2 key 0; row 4 all three.
    Problem p = small_problem(1, 2, 5, 3, 4, true);
    const Tensors t = random_tensors(p, 21);
    const RefResult r = full_reference(p, t);
    for (std::int64_t head = 0; head < p.bh(); ++head) {
      for (std::int64_t i : {0, 1}) {
        const std::int64_t row = head * p.sq + i;
        CHECK(r.lse[std::size_t(row)] == -kInf);
        for (std::int64_t x = 0; x < p.d; ++x) {
          const double o = r.o[std::size_t(row * p.d + x)];
          CHECK(o == 0.0);
          CHECK(!std::signbit(o));  // a clean +0, not the -0 of a 0 * (-x)
        }
      }
      // Row 2 sees exactly key 0: its output is V row 0 and its LSE that one score.
      const std::int64_t row2 = head * p.sq + 2;
      double s0 = 0;
      for (std::int64_t x = 0; x < p.d; ++x)
        s0 += double(t.q[std::size_t(row2 * p.d + x)]) * double(t.k[std::size_t(head * p.sk * p.d + x)]);
      CHECK(r.lse[std::size_t(row2)] == doctest::Approx(s0 * p.softmax_scale()).epsilon(1e-14));
      for (std::int64_t x = 0; x < p.d; ++x)
        CHECK(r.o[std::size_t(row2 * p.d + x)] == doctest::Approx(t.v[std::size_t(head * p.sk * p.d + x)]).epsilon(1e-14));
    }
    const test::Brute b = brute_attention(p, t.q.data(), t.k.data(), t.v.data());
    CHECK(max_diff(r.o, b.o) < 1e-12);
    CHECK(max_diff(r.lse, b.lse) < 1e-12);
  }
  SUBCASE("Sq = 3, Sk = 5: row 0 sees keys 0..2, row 2 sees all five") {
    Problem p = small_problem(1, 1, 3, 5, 4, true);
    const Tensors t = random_tensors(p, 31);
    const RefResult r = full_reference(p, t);
    // Row 0 must equal non-causal attention over the first three keys only.
    Problem p3 = small_problem(1, 1, 1, 3, 4, false);
    const RefResult r3 = reference_attention(p3, t.q.data(), t.k.data(), t.v.data(), {0});
    // Row 2 must equal non-causal attention over all five keys.
    Problem p5 = small_problem(1, 1, 1, 5, 4, false);
    const RefResult r5 = reference_attention(p5, t.q.data() + 2 * 4, t.k.data(), t.v.data(), {0});
    CHECK(r.lse[0] == doctest::Approx(r3.lse[0]).epsilon(1e-14));
    CHECK(r.lse[2] == doctest::Approx(r5.lse[0]).epsilon(1e-14));
    for (std::size_t x = 0; x < 4; ++x) {
      CHECK(r.o[x] == doctest::Approx(r3.o[x]).epsilon(1e-14));
      CHECK(r.o[2 * 4 + x] == doctest::Approx(r5.o[x]).epsilon(1e-14));
    }
    const test::Brute b = brute_attention(p, t.q.data(), t.k.data(), t.v.data());
    CHECK(max_diff(r.o, b.o) < 1e-12);
    CHECK(max_diff(r.lse, b.lse) < 1e-12);
  }
}

TEST_CASE("blocked_attention (the FlashAttention algorithm) equals the reference on ragged shapes") {
  struct Shape {
    std::int64_t sq, sk;
  };
  struct Blocks {
    std::int64_t m, n;
  };
  // Block sizes that do not divide Sq or Sk, degenerate 1x1, and blocks larger than the problem.
  const Shape shapes[] = {{17, 29}, {29, 17}, {17, 17}, {1, 29}, {29, 1}, {5, 3}};
  const Blocks blocks[] = {{4, 8}, {5, 3}, {1, 1}, {64, 64}, {16, 7}};
  int masked_rows_seen = 0;
  for (const auto& s : shapes)
    for (bool causal : {false, true}) {
      Problem p = small_problem(2, 2, s.sq, s.sk, 5, causal);  // D = 5: no power of two anywhere
      const Tensors t = random_tensors(p, std::uint64_t(s.sq * 100 + s.sk));
      const RefResult ref = full_reference(p, t);
      for (const auto& bl : blocks) {
        CAPTURE(s.sq);
        CAPTURE(s.sk);
        CAPTURE(causal);
        CAPTURE(bl.m);
        CAPTURE(bl.n);
        const BlockedResult r = blocked_attention(p, t.q.data(), t.k.data(), t.v.data(), bl.m, bl.n);
        REQUIRE(r.o.size() == ref.o.size());
        REQUIRE(r.lse.size() == ref.lse.size());
        CHECK(max_diff(r.o, ref.o) < 1e-12);
        CHECK(max_diff(r.lse, ref.lse) < 1e-12);
        // Fully masked rows (causal, Sq > Sk): O exactly 0, LSE exactly -inf, no NaN.
        for (std::int64_t row = 0; row < p.rows(); ++row) {
          if (p.visible_keys(row % p.sq) != 0) continue;
          ++masked_rows_seen;
          CHECK(r.lse[std::size_t(row)] == -kInf);
          for (std::int64_t x = 0; x < p.d; ++x) CHECK(r.o[std::size_t(row * p.d + x)] == 0.0);
        }
      }
    }
  CHECK(masked_rows_seen > 0);  // the shape list really contains fully masked rows
}

TEST_CASE("blocked_attention stays exact with large-magnitude scores (online softmax rescaling)") {
  // Large scores make the running max jump between key blocks, exercising the rescale by
  // exp(m_old - m_new) that the algorithm depends on.
  Problem p = small_problem(1, 2, 13, 23, 8, false);
  p.dist = Dist::large;
  for (bool causal : {false, true}) {
    p.causal = causal;
    const HostInputs in = generate_inputs(p);
    const RefResult ref = reference_attention(p, in.q.data(), in.k.data(), in.v.data(), all_rows(p));
    const BlockedResult r = blocked_attention(p, in.q.data(), in.k.data(), in.v.data(), 4, 3);
    for (double x : r.o) CHECK(std::isfinite(x));
    CHECK(max_diff(r.o, ref.o) < 1e-10);
    CHECK(max_diff(r.lse, ref.lse) < 1e-10);
  }
}

TEST_CASE("score_rms is the RMS of the visible scores of the requested rows") {
  // The checks widen their tolerance with it (large scores carry large float32 errors), so it
  // must count visible scores only: masked pairs and masked rows contribute nothing.
  for (bool causal : {false, true}) {
    Problem p = small_problem(1, 2, 6, 4, 3, causal);  // causal, Sq > Sk: rows 0 and 1 masked
    p.scale = 0.7;
    const Tensors t = random_tensors(p, 41, 3.0f);
    double sum = 0, n = 0;
    for (std::int64_t head = 0; head < p.bh(); ++head)
      for (std::int64_t i = 0; i < p.sq; ++i)
        for (std::int64_t j = 0; j < p.sk; ++j) {
          if (causal && j > i + p.sk - p.sq) continue;
          double dot = 0;
          for (std::int64_t x = 0; x < p.d; ++x)
            dot += double(t.q[std::size_t((head * p.sq + i) * p.d + x)]) * double(t.k[std::size_t((head * p.sk + j) * p.d + x)]);
          sum += (0.7 * dot) * (0.7 * dot);
          n += 1;
        }
    CAPTURE(causal);
    CHECK(full_reference(p, t).score_rms == doctest::Approx(std::sqrt(sum / n)).epsilon(1e-12));
  }
  // Only masked rows requested: no scores at all.
  const Problem p = small_problem(1, 1, 6, 4, 3, true);
  const Tensors t = random_tensors(p, 43);
  CHECK(reference_attention(p, t.q.data(), t.k.data(), t.v.data(), {0, 1}).score_rms == 0.0);
}

TEST_CASE("blocked_attention rejects block sizes below 1 instead of looping forever") {
  const Problem p = small_problem(1, 1, 4, 4, 2);
  const Tensors t = random_tensors(p, 1);
  for (auto [m, n] : {std::pair<std::int64_t, std::int64_t>{0, 4}, {4, 0}, {-1, 4}}) {
    CAPTURE(m);
    CAPTURE(n);
    CHECK_THROWS_AS(blocked_attention(p, t.q.data(), t.k.data(), t.v.data(), m, n), Error);
  }
}

}  // namespace fa
