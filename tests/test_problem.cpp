// Problem: the exact causal pair count (which every TFLOP/s figure depends on), validation, and
// the name parsers the CLI relies on.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "common/error.hpp"
#include "common/problem.hpp"
#include "cpu_test_util.hpp"

namespace fa {
namespace {

using test::small_problem;

// Brute-force count of the keys row i can see, from the definition of bottom-right alignment.
std::int64_t count_keys(const Problem& p, std::int64_t i) {
  std::int64_t n = 0;
  for (std::int64_t j = 0; j < p.sk; ++j) n += (!p.causal || j <= i + p.sk - p.sq) ? 1 : 0;
  return n;
}

// The message of the fa::Error that `f` throws (with its exit code), or fails the test.
template <class F>
std::string error_of(F&& f, int expected_code) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.exit_code() == expected_code);
    const std::string m = e.what();
    CHECK(m.find('\n') == std::string::npos);  // one line, ready for "fa: error: ..."
    return m;
  }
  FAIL("expected an fa::Error");
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("visible_keys and visible_pairs are exact for every causal alignment") {
  struct Shape {
    std::int64_t sq, sk;
  };
  // Sq < Sk (KV-cache decoding), Sq > Sk (fully masked rows), Sq = Sk, and the 1-extremes.
  const Shape shapes[] = {{3, 5}, {5, 3}, {7, 7}, {1, 9}, {9, 1}, {1, 1}, {17, 129}, {129, 17}, {64, 64}};
  for (const auto& s : shapes)
    for (bool causal : {false, true}) {
      const Problem p = small_problem(2, 3, s.sq, s.sk, 16, causal);
      CAPTURE(s.sq);
      CAPTURE(s.sk);
      CAPTURE(causal);
      double pairs = 0;
      for (std::int64_t i = 0; i < p.sq; ++i) {
        CHECK(p.visible_keys(i) == count_keys(p, i));
        pairs += double(count_keys(p, i));
      }
      pairs *= double(p.b * p.h);
      CHECK(p.visible_pairs() == pairs);
      CHECK(p.flops() == 4.0 * double(p.d) * pairs);
    }
}

TEST_CASE("visible_pairs matches the closed forms") {
  // Square causal: N (N + 1) / 2 per head. Sq < Sk causal: every row sees Sk - Sq + 1 + i keys.
  Problem p = small_problem(3, 5, 1000, 1000, 64, true);
  CHECK(p.visible_pairs() == 15.0 * 1000.0 * 1001.0 / 2.0);
  p.causal = false;
  CHECK(p.visible_pairs() == 15.0 * 1000.0 * 1000.0);
  p = small_problem(1, 1, 4, 10, 8, true);  // rows see 7, 8, 9, 10 keys
  CHECK(p.visible_pairs() == 34.0);
  p = small_problem(1, 1, 10, 4, 8, true);  // rows 0..5 see none, rows 6..9 see 1..4
  CHECK(p.visible_pairs() == 10.0);
  CHECK(p.visible_keys(5) == 0);
  CHECK(p.visible_keys(6) == 1);
  CHECK(p.visible_keys(9) == 4);
}

TEST_CASE("softmax_scale defaults to 1/sqrt(D) and honours an explicit scale") {
  Problem p = small_problem(1, 1, 4, 4, 64);
  CHECK(p.softmax_scale() == doctest::Approx(0.125));
  p.scale = 0.5;
  CHECK(p.softmax_scale() == 0.5);
}

TEST_CASE("tensor byte counts follow the dtype; LSE is always float32") {
  Problem p = small_problem(2, 3, 5, 7, 8);
  CHECK(p.bytes_q() == 2 * 3 * 5 * 8 * 4.0);
  CHECK(p.bytes_kv() == 2 * 3 * 7 * 8 * 4.0);
  CHECK(p.bytes_lse() == 2 * 3 * 5 * 4.0);
  p.dtype = DType::bf16;
  CHECK(p.bytes_q() == 2 * 3 * 5 * 8 * 2.0);
  CHECK(p.bytes_kv() == 2 * 3 * 7 * 8 * 2.0);
  CHECK(p.bytes_o() == p.bytes_q());
  CHECK(p.bytes_lse() == 2 * 3 * 5 * 4.0);
}

TEST_CASE("describe names every field that matters") {
  Problem p;
  p.causal = true;
  CHECK(p.describe() == "B1 H16 Sq1024 Sk1024 D64 fp32 causal");
  p.causal = false;
  p.dtype = DType::bf16;
  p.sq = 7;
  CHECK(p.describe() == "B1 H16 Sq7 Sk1024 D64 bf16");
}

TEST_CASE("validate accepts sane problems and rejects bad sizes, naming the field") {
  CHECK_NOTHROW(validate(Problem{}));
  CHECK_NOTHROW(validate(small_problem(1, 1, 1, 1, 1)));

  struct Field {
    const char* name;
    std::int64_t Problem::*member;
  };
  const Field fields[] = {{"batch", &Problem::b},
                          {"heads", &Problem::h},
                          {"seq-q", &Problem::sq},
                          {"seq-k", &Problem::sk},
                          {"head-dim", &Problem::d}};
  for (const auto& f : fields)
    for (std::int64_t bad : {std::int64_t(0), std::int64_t(-5), std::numeric_limits<std::int64_t>::min(),
                             std::int64_t(1) << 31, std::numeric_limits<std::int64_t>::max()}) {
      Problem p = small_problem(1, 1, 8, 8, 8);
      p.*(f.member) = bad;
      CAPTURE(std::string(f.name));
      CAPTURE(bad);
      const std::string m = error_of([&] { validate(p); }, kExitUsage);
      CHECK(contains(m, f.name));
      CHECK(contains(m, std::to_string(bad)));
    }

  // Each dimension fine on its own, absurd together.
  Problem p = small_problem(1 << 20, 1 << 20, 1 << 20, 1 << 20, 1);
  CHECK(contains(error_of([&] { validate(p); }, kExitUsage), "absurdly large"));
}

TEST_CASE("validate rejects a scale that is not a positive finite number") {
  for (double s : {0.0, -1.0, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    Problem p = small_problem(1, 1, 8, 8, 8);
    p.scale = s;
    CAPTURE(s);
    CHECK(contains(error_of([&] { validate(p); }, kExitUsage), "scale"));
  }
  Problem p = small_problem(1, 1, 8, 8, 8);
  p.scale = 1e-3;
  CHECK_NOTHROW(validate(p));
}

TEST_CASE("parse_dtype and parse_dist accept their names and reject others with a usage error") {
  for (DType t : {DType::f32, DType::f16, DType::bf16}) CHECK(parse_dtype(dtype_name(t)) == t);
  CHECK(parse_dtype("float32") == DType::f32);
  CHECK(parse_dtype("half") == DType::f16);
  CHECK(parse_dtype("bfloat16") == DType::bf16);
  CHECK(dtype_size(DType::f32) == 4);
  CHECK(dtype_size(DType::f16) == 2);
  CHECK(dtype_size(DType::bf16) == 2);
  for (const char* bad : {"fp64", "", "FP32", "int8"}) {
    CAPTURE(std::string(bad));
    const std::string m = error_of([&] { parse_dtype(bad); }, kExitUsage);
    CHECK(contains(m, "'" + std::string(bad) + "'"));
    CHECK(contains(m, "bf16"));  // lists what is accepted
  }

  for (Dist d : {Dist::normal, Dist::uniform, Dist::large, Dist::constant}) CHECK(parse_dist(dist_name(d)) == d);
  for (const char* bad : {"weird", "", "Normal"}) {
    CAPTURE(std::string(bad));
    const std::string m = error_of([&] { parse_dist(bad); }, kExitUsage);
    CHECK(contains(m, "'" + std::string(bad) + "'"));
    CHECK(contains(m, "constant"));
  }
}

}  // namespace fa
