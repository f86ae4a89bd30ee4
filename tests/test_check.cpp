// check_output: the one thing that decides whether a kernel is right. Each test starts from a
// fake "device output" that is a correct copy of the reference (and asserts that it passes), then
// breaks it in one specific way and asserts that the check fails for the right reason.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common/check.hpp"
#include "common/inputs.hpp"
#include "cpu_test_util.hpp"
#include "reference/reference.hpp"

namespace fa {
namespace {

using test::small_problem;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

bool listed(const CheckResult& c, std::int64_t row) {
  return std::find(c.first_bad_rows.begin(), c.first_bad_rows.end(), row) != c.first_bad_rows.end();
}

// A problem, its inputs, the reference on `rows`, and a device output that starts as the exact
// (float-rounded) reference over every row.
struct Fake {
  Problem p;
  HostInputs in;
  RefResult ref;
  std::vector<float> o, lse;  // what the "kernel" wrote, as floats; packed to p.dtype on check

  explicit Fake(const Problem& problem, const std::vector<std::int64_t>* rows = nullptr) : p(problem) {
    in = generate_inputs(p);
    const RefResult full = reference_attention(p, in.q.data(), in.k.data(), in.v.data(), all_rows(p));
    ref = rows ? reference_attention(p, in.q.data(), in.k.data(), in.v.data(), *rows) : full;
    o.assign(full.o.begin(), full.o.end());
    lse.assign(full.lse.begin(), full.lse.end());
  }
  std::vector<unsigned char> raw() const {
    std::vector<unsigned char> r(o.size() * dtype_size(p.dtype));
    pack(p.dtype, o.data(), r.data(), o.size());
    return r;
  }
  CheckResult check(const std::vector<unsigned char>& r) const {
    const CheckResult c = check_output(p, r.data(), lse.data(), in.v.data(), ref);
    CHECK(c.message.find('\n') == std::string::npos);  // always one line
    return c;
  }
  CheckResult check() const { return check(raw()); }
  float& at(std::int64_t row, std::int64_t x) { return o[std::size_t(row * p.d + x)]; }
};

Problem base_problem(DType t = DType::f32) {
  Problem p = small_problem(2, 2, 8, 12, 16, false);
  p.seed = 17;
  p.dtype = t;
  return p;
}

// Fully masked rows: causal with Sq > Sk. Rows 0 and 1 of each head see no key.
Problem masked_problem() {
  Problem p = small_problem(1, 2, 5, 3, 8, true);
  p.seed = 5;
  return p;
}

}  // namespace

TEST_CASE("an exact copy of the reference passes, with every row checked") {
  for (DType t : {DType::f32, DType::f16, DType::bf16}) {
    const std::string dtype = dtype_name(t);
    CAPTURE(dtype);
    const Fake f(base_problem(t));
    const CheckResult c = f.check();
    CHECK(c.passed);
    CHECK(c.message == "ok");
    CHECK(c.rows_checked == f.p.rows());
    CHECK(c.rows_total == f.p.rows());
    CHECK(c.bad_rows == 0);
    CHECK(c.first_bad_rows.empty());
    CHECK(c.o_unwritten + c.lse_unwritten + c.o_nonfinite + c.lse_nan == 0);
    CHECK(c.rel_l2 <= tolerance_for(t).rel_l2);
  }
}

TEST_CASE("a NaN or an Inf in O fails as non-finite") {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    CAPTURE(bad);
    Fake f(base_problem());
    REQUIRE(f.check().passed);
    f.at(5, 3) = bad;
    const CheckResult c = f.check();
    CHECK(!c.passed);
    CHECK(c.o_nonfinite == 1);
    CHECK(c.o_unwritten == 0);
    CHECK(contains(c.message, "non-finite"));
    CHECK(c.bad_rows == 1);
    CHECK(listed(c, 5));
  }
}

TEST_CASE("a NaN in an unchecked row still fails: finiteness is checked on every row") {
  const Problem p = base_problem();
  const std::vector<std::int64_t> rows{0, 3, p.rows() - 1};
  Fake f(p, &rows);
  REQUIRE(f.check().passed);
  CHECK(f.check().rows_checked == 3);
  f.at(10, 0) = std::numeric_limits<float>::quiet_NaN();  // row 10 is not in the sample
  const CheckResult c = f.check();
  CHECK(!c.passed);
  CHECK(c.o_nonfinite == 1);
  CHECK(contains(c.message, "non-finite"));
}

TEST_CASE("an element left at the poison pattern fails as unwritten") {
  for (DType t : {DType::f32, DType::f16, DType::bf16}) {
    const std::string dtype = dtype_name(t);
    CAPTURE(dtype);
    const Fake f(base_problem(t));
    auto raw = f.raw();
    REQUIRE(f.check(raw).passed);
    const std::uint32_t bits = poison_bits(t);
    const std::size_t idx = 7;
    std::memcpy(raw.data() + idx * dtype_size(t), &bits, dtype_size(t));  // little-endian low bytes
    REQUIRE(is_poison(t, raw.data(), idx));
    const CheckResult c = f.check(raw);
    CHECK(!c.passed);
    CHECK(c.o_unwritten == 1);
    CHECK(c.o_nonfinite == 0);  // counted as unwritten, not as a computed NaN
    CHECK(contains(c.message, "unwritten"));
  }
}

TEST_CASE("an LSE left at the poison pattern fails as unwritten") {
  Fake f(base_problem());
  REQUIRE(f.check().passed);
  const std::uint32_t bits = poison_bits(DType::f32);
  std::memcpy(&f.lse[4], &bits, 4);
  const CheckResult c = f.check();
  CHECK(!c.passed);
  CHECK(c.lse_unwritten == 1);
  CHECK(c.lse_nan == 0);
  CHECK(contains(c.message, "unwritten"));
}

TEST_CASE("a whole output never written fails as unwritten") {
  // What a student's empty kernel produces: the driver's poison everywhere.
  Fake f(base_problem());
  auto raw = f.raw();
  const std::uint32_t bits = poison_bits(DType::f32);
  for (std::size_t i = 0; i < f.o.size(); ++i) std::memcpy(raw.data() + 4 * i, &bits, 4);
  for (auto& x : f.lse) std::memcpy(&x, &bits, 4);
  const CheckResult c = f.check(raw);
  CHECK(!c.passed);
  CHECK(c.o_unwritten == f.p.q_elems());
  CHECK(c.lse_unwritten == f.p.rows());
  CHECK(contains(c.message, "unwritten"));
}

TEST_CASE("a wrong result fails and names the bad rows") {
  SUBCASE("one row perturbed by 1e-2") {
    Fake f(base_problem());
    REQUIRE(f.check().passed);
    for (std::int64_t x = 0; x < f.p.d; ++x) f.at(9, x) += 1e-2f;
    const CheckResult c = f.check();
    CHECK(!c.passed);
    CHECK(contains(c.message, "wrong result"));
    CHECK(c.bad_rows == 1);
    REQUIRE(c.first_bad_rows.size() == 1);
    CHECK(c.first_bad_rows[0] == 9);
    CHECK(c.max_abs == doctest::Approx(1e-2).epsilon(1e-3));
    // Row 9 is (b0, h1, i1) with H = 2, Sq = 8: the message says where, not just a flat index.
    CHECK(contains(c.message, "(b0,h1,i1)"));
  }
  SUBCASE("a single element off by 1e-2 (too small for rel-L2 alone, caught per row)") {
    Fake f(base_problem());
    f.at(20, 15) += 1e-2f;
    const CheckResult c = f.check();
    CHECK(!c.passed);
    CHECK(c.bad_rows == 1);
    CHECK(listed(c, 20));
  }
  SUBCASE("two rows swapped") {
    Fake f(base_problem());
    for (std::int64_t x = 0; x < f.p.d; ++x) std::swap(f.at(2, x), f.at(13, x));
    const CheckResult c = f.check();
    CHECK(!c.passed);
    CHECK(c.bad_rows == 2);
    CHECK(listed(c, 2));
    CHECK(listed(c, 13));
    CHECK(c.rel_l2 > tolerance_for(DType::f32).rel_l2);
  }
  SUBCASE("all rows off: at most 8 are listed, all are counted") {
    Fake f(base_problem());
    for (auto& x : f.o) x *= 1.01f;
    const CheckResult c = f.check();
    CHECK(!c.passed);
    CHECK(c.bad_rows == f.p.rows());
    CHECK(c.first_bad_rows.size() == 8);
    CHECK(c.first_bad_rows.front() == 0);
  }
  SUBCASE("bf16: a perturbation far beyond bf16 rounding fails too") {
    Fake f(base_problem(DType::bf16));
    REQUIRE(f.check().passed);
    for (std::int64_t x = 0; x < f.p.d; ++x) f.at(6, x) += 0.5f;
    const CheckResult c = f.check();
    CHECK(!c.passed);
    CHECK(listed(c, 6));
  }
}

TEST_CASE("a wrong LSE fails even when O is right") {
  Fake f(base_problem());
  REQUIRE(f.check().passed);
  f.lse[3] += 1e-3f;
  CheckResult c = f.check();
  CHECK(!c.passed);
  CHECK(contains(c.message, "wrong result"));
  CHECK(c.bad_rows == 1);
  CHECK(listed(c, 3));
  CHECK(c.lse_err > tolerance_for(DType::f32).lse_abs);

  // A NaN LSE on a row that sees keys is non-finite output.
  f.lse[3] = std::numeric_limits<float>::quiet_NaN();
  c = f.check();
  CHECK(!c.passed);
  CHECK(c.lse_nan == 1);
  CHECK(listed(c, 3));
  CHECK(contains(c.message, "non-finite"));

  // -inf is only legal on a row that sees no key.
  f.lse[3] = -std::numeric_limits<float>::infinity();
  c = f.check();
  CHECK(!c.passed);
  CHECK(listed(c, 3));
}

TEST_CASE("fully masked rows must give O exactly 0 and LSE exactly -inf") {
  const Problem p = masked_problem();
  {
    Fake f(p);
    // The reference really has masked rows here (rows 0, 1 and 5, 6).
    REQUIRE(std::isinf(f.ref.lse[0]));
    REQUIRE(std::isinf(f.ref.lse[6]));
    REQUIRE(!std::isinf(f.ref.lse[2]));
    const CheckResult c = f.check();
    CHECK(c.passed);
    CHECK(c.rel_l2 <= tolerance_for(DType::f32).rel_l2);
  }
  SUBCASE("O slightly off zero") {
    Fake f(p);
    f.at(1, 2) = 1e-30f;  // tiny, but a masked row's output is exactly 0
    const CheckResult c = f.check();
    CHECK(!c.passed);
    CHECK(c.bad_rows == 1);
    CHECK(listed(c, 1));
  }
  SUBCASE("O is NaN (the 0/0 of an unguarded softmax)") {
    Fake f(p);
    for (std::int64_t x = 0; x < p.d; ++x) f.at(5, x) = std::numeric_limits<float>::quiet_NaN();
    const CheckResult c = f.check();
    CHECK(!c.passed);
    CHECK(c.o_nonfinite == p.d);
    CHECK(listed(c, 5));
  }
  SUBCASE("LSE is NaN") {
    Fake f(p);
    f.lse[0] = std::numeric_limits<float>::quiet_NaN();
    const CheckResult c = f.check();
    CHECK(!c.passed);
    CHECK(c.lse_nan == 1);
    CHECK(listed(c, 0));
  }
  SUBCASE("LSE is finite") {
    Fake f(p);
    f.lse[6] = -1e30f;  // very negative is still not -inf
    const CheckResult c = f.check();
    CHECK(!c.passed);
    CHECK(c.bad_rows == 1);
    CHECK(listed(c, 6));
    CHECK(contains(c.message, "wrong result"));
  }
  SUBCASE("LSE is +inf") {
    Fake f(p);
    f.lse[1] = std::numeric_limits<float>::infinity();
    const CheckResult c = f.check();
    CHECK(!c.passed);
    CHECK(listed(c, 1));
  }
}

TEST_CASE("tolerances depend on the dtype, tightest for fp32") {
  const Tolerance f32 = tolerance_for(DType::f32), f16 = tolerance_for(DType::f16), bf16 = tolerance_for(DType::bf16);
  CHECK(f32.rel_l2 < f16.rel_l2);
  CHECK(f16.rel_l2 < bf16.rel_l2);
  CHECK(f32.max_abs < f16.max_abs);
  CHECK(f16.max_abs < bf16.max_abs);
  CHECK(f32.lse_abs <= f16.lse_abs);
  // Never tighter than PyTorch SDPA itself on the same inputs (the upper ends of the measured
  // ranges in check.cpp: fp32 1.2e-6, fp16 2.9e-4, bf16 2.3e-3), and not loose enough to hide a
  // real bug (at most 3x those).
  CHECK(f32.rel_l2 >= 1.2e-6);
  CHECK(f32.rel_l2 <= 3 * 1.2e-6);
  CHECK(f16.rel_l2 >= 2.9e-4);
  CHECK(f16.rel_l2 <= 3 * 2.9e-4);
  CHECK(bf16.rel_l2 >= 2.3e-3);
  CHECK(bf16.rel_l2 <= 3 * 2.3e-3);
  for (const Tolerance& t : {f32, f16, bf16}) {
    CHECK(t.rel_l2 > 0);
    CHECK(t.max_abs > 0);
    CHECK(t.lse_abs > 0);
  }
}

TEST_CASE("rounding the reference O to bf16 or fp16 passes: output rounding is within tolerance") {
  for (DType t : {DType::bf16, DType::f16}) {
    const std::string dtype = dtype_name(t);
    CAPTURE(dtype);
    Problem p = small_problem(2, 4, 64, 64, 64, false);  // enough elements for a meaningful rel-L2
    p.dtype = t;
    p.seed = 23;
    const Fake f(p);  // raw() packs O to the dtype, i.e. rounds it
    const CheckResult c = f.check();
    CHECK(c.passed);
    CHECK(c.rel_l2 > 0);  // the rounding really happened...
    CHECK(c.rel_l2 < tolerance_for(t).rel_l2 / 2);  // ...and sits well inside the tolerance
  }
}

TEST_CASE("tolerances widen with the score RMS, and only noticeably for large scores") {
  for (DType t : {DType::f32, DType::f16, DType::bf16}) {
    const std::string dtype = dtype_name(t);
    CAPTURE(dtype);
    const Tolerance unit = tolerance_for(t), one = tolerance_for(t, 1.0), big = tolerance_for(t, 300.0);
    CHECK(unit.rel_l2 == one.rel_l2);  // the default is N(0,1)-sized scores
    CHECK(big.rel_l2 > one.rel_l2);
    CHECK(big.max_abs > one.max_abs);
    CHECK(big.lse_abs > one.lse_abs);
    CHECK(tolerance_for(t, 0.0).rel_l2 <= one.rel_l2);
    CHECK(one.rel_l2 < 1.1 * tolerance_for(t, 0.0).rel_l2);  // small at score_rms ~ 1
  }
}

TEST_CASE("tolerances widen like sqrt(Sk) with the sequence length, and only slightly at short ones") {
  for (DType t : {DType::f32, DType::f16, DType::bf16}) {
    const Tolerance none = tolerance_for(t, 1.0, 0), k4 = tolerance_for(t, 1.0, 4096),
                    k128 = tolerance_for(t, 1.0, 131072);
    CHECK(k4.rel_l2 > none.rel_l2);
    CHECK(k128.rel_l2 > k4.rel_l2);
    CHECK(k128.lse_abs > k4.lse_abs);
    // The growth is sqrt(Sk): 32x the keys widen the length term by sqrt(32).
    CHECK((k128.rel_l2 - none.rel_l2) / (k4.rel_l2 - none.rel_l2) == doctest::Approx(std::sqrt(32.0)));
  }
  // fp32 at Sk = 4096 stays within 2x of the short-sequence base (about 3e-6).
  CHECK(tolerance_for(DType::f32, 1.0, 4096).rel_l2 < 2 * tolerance_for(DType::f32, 1.0, 0).rel_l2);
}

TEST_CASE("large-magnitude inputs: an exact copy passes and a perturbed row still fails") {
  Problem p = base_problem();
  p.dist = Dist::large;
  Fake f(p);
  REQUIRE(f.ref.score_rms > 50);  // this really is the badly conditioned case
  CHECK(f.check().passed);
  for (std::int64_t x = 0; x < p.d; ++x) f.at(4, x) += 1e-2f;
  const CheckResult c = f.check();
  CHECK(!c.passed);
  CHECK(listed(c, 4));
}

}  // namespace fa
