// Generated inputs (seeded, rounded to the dtype, the promised distributions) and the host dtype
// conversions and poison patterns the checks rely on.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "common/dtype.hpp"
#include "common/inputs.hpp"
#include "cpu_test_util.hpp"

namespace fa {
namespace {

using test::small_problem;

struct Moments {
  double mean, std, min, max;
};

Moments moments(const std::vector<float>& x) {
  double s = 0, s2 = 0, lo = INFINITY, hi = -INFINITY;
  for (float f : x) {
    s += f;
    s2 += double(f) * f;
    lo = std::min(lo, double(f));
    hi = std::max(hi, double(f));
  }
  const double n = double(x.size()), mean = s / n;
  return {mean, std::sqrt(s2 / n - mean * mean), lo, hi};
}

std::size_t count_differences(const std::vector<float>& a, const std::vector<float>& b) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) n += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return n;
}

}  // namespace

TEST_CASE("generate_inputs is deterministic in the seed and changes with it") {
  Problem p = small_problem(2, 3, 17, 9, 8);
  p.seed = 42;
  const HostInputs a = generate_inputs(p), b = generate_inputs(p);
  REQUIRE(a.q.size() == std::size_t(p.q_elems()));
  REQUIRE(a.k.size() == std::size_t(p.kv_elems()));
  REQUIRE(a.v.size() == std::size_t(p.kv_elems()));
  CHECK(count_differences(a.q, b.q) == 0);
  CHECK(count_differences(a.k, b.k) == 0);
  CHECK(count_differences(a.v, b.v) == 0);

  p.seed = 43;
  const HostInputs c = generate_inputs(p);
  // Essentially every element differs for another seed (not just a shifted copy).
  CHECK(count_differences(a.q, c.q) > a.q.size() * 9 / 10);
  CHECK(count_differences(a.k, c.k) > a.k.size() * 9 / 10);
  CHECK(count_differences(a.v, c.v) > a.v.size() * 9 / 10);
  // Q, K and V are independent streams, not one another's copies.
  CHECK(count_differences(std::vector<float>(a.k), std::vector<float>(a.v)) > a.k.size() * 9 / 10);
}

TEST_CASE("generated element n depends only on (seed, tensor, n), not on the other sizes") {
  // inputs.hpp promises a counter-based generator: a problem with more heads extends the
  // tensor of a smaller one rather than reshuffling it.
  Problem small = small_problem(1, 1, 8, 8, 4), big = small_problem(1, 3, 8, 8, 4);
  small.seed = big.seed = 7;
  const HostInputs s = generate_inputs(small), b = generate_inputs(big);
  CHECK(std::equal(s.q.begin(), s.q.end(), b.q.begin()));
  CHECK(std::equal(s.k.begin(), s.k.end(), b.k.begin()));
  CHECK(std::equal(s.v.begin(), s.v.end(), b.v.begin()));
}

TEST_CASE("generated inputs are already rounded to the problem's dtype") {
  Problem p = small_problem(1, 2, 33, 31, 16);
  p.seed = 3;
  const HostInputs f32 = generate_inputs(p);
  for (DType t : {DType::bf16, DType::f16}) {
    const std::string dtype = dtype_name(t);
    CAPTURE(dtype);
    p.dtype = t;
    const HostInputs in = generate_inputs(p);
    for (const auto* vec : {&in.q, &in.k, &in.v})
      for (float x : *vec) REQUIRE(round_to(t, x) == x);
    // ...and they are the fp32 values rounded, not a different stream.
    for (std::size_t i = 0; i < in.q.size(); ++i) REQUIRE(in.q[i] == round_to(t, f32.q[i]));
    // The fp32 values are not all representable, so the rounding really did something.
    CHECK(count_differences(in.q, f32.q) > 0);
  }
}

TEST_CASE("round_inputs rounds in place and leaves fp32 untouched") {
  HostInputs in{{1.0f + 1.0f / 1024, 3.14159f}, {0.1f}, {-2.71828f}};
  const HostInputs copy = in;
  round_inputs(DType::f32, in);
  CHECK(count_differences(in.q, copy.q) == 0);
  round_inputs(DType::bf16, in);
  CHECK(in.q[0] == 1.0f);  // 1 + 2^-10 is below half a bf16 ulp (2^-8) above 1
  CHECK(in.q[1] == round_to(DType::bf16, 3.14159f));
  CHECK(in.k[0] == round_to(DType::bf16, 0.1f));
  CHECK(in.v[0] == round_to(DType::bf16, -2.71828f));
  CHECK(in.q[1] != 3.14159f);
}

TEST_CASE("distributions are roughly what their names promise") {
  Problem p = small_problem(1, 4, 64, 64, 32);  // 8192 elements per tensor
  p.seed = 11;
  SUBCASE("normal: mean 0, std 1") {
    p.dist = Dist::normal;
    const HostInputs in = generate_inputs(p);
    for (const auto* vec : {&in.q, &in.k, &in.v}) {
      const Moments m = moments(*vec);
      CHECK(std::fabs(m.mean) < 0.05);
      CHECK(std::fabs(m.std - 1.0) < 0.05);
      CHECK(m.max > 3.0);  // a real bell curve has tails
      CHECK(m.min < -3.0);
    }
  }
  SUBCASE("uniform: within [-1, 1], mean 0, std 1/sqrt(3)") {
    p.dist = Dist::uniform;
    const HostInputs in = generate_inputs(p);
    for (const auto* vec : {&in.q, &in.k, &in.v}) {
      const Moments m = moments(*vec);
      CHECK(m.min >= -1.0);
      CHECK(m.max <= 1.0);
      CHECK(m.min < -0.99);  // covers the whole interval
      CHECK(m.max > 0.99);
      CHECK(std::fabs(m.mean) < 0.03);
      CHECK(std::fabs(m.std - 1 / std::sqrt(3.0)) < 0.03);
    }
  }
  SUBCASE("large: Q and K have std 10, V std 1") {
    p.dist = Dist::large;
    const HostInputs in = generate_inputs(p);
    CHECK(std::fabs(moments(in.q).std - 10.0) < 0.5);
    CHECK(std::fabs(moments(in.k).std - 10.0) < 0.5);
    CHECK(std::fabs(moments(in.v).std - 1.0) < 0.05);
  }
  SUBCASE("constant: every row of Q equal, every row of K equal, V varies") {
    p.dist = Dist::constant;
    const HostInputs in = generate_inputs(p);
    const auto d = std::size_t(p.d);
    for (std::size_t i = 0; i < in.q.size(); ++i) REQUIRE(in.q[i] == in.q[i % d]);
    for (std::size_t i = 0; i < in.k.size(); ++i) REQUIRE(in.k[i] == in.k[i % d]);
    CHECK(moments(std::vector<float>(in.q.begin(), in.q.begin() + std::ptrdiff_t(d))).std > 0.1);  // not all zeros
    CHECK(std::fabs(moments(in.v).std - 1.0) < 0.05);
  }
}

TEST_CASE("round_to rounds to nearest even in bf16 and fp16") {
  // bf16: 7 mantissa bits, ulp at 1 is 2^-7. fp16: 10 bits, ulp at 1 is 2^-10.
  CHECK(round_to(DType::bf16, 1.0f + 0x1p-8f) == 1.0f);                // tie -> even (1.0)
  CHECK(round_to(DType::bf16, 1.0f + 3 * 0x1p-8f) == 1.0f + 0x1p-6f);  // tie -> even (2 ulp)
  CHECK(round_to(DType::bf16, 1.0f + 0x1p-8f + 0x1p-12f) == 1.0f + 0x1p-7f);  // above the tie: up
  CHECK(round_to(DType::f16, 1.0f + 0x1p-11f) == 1.0f);
  CHECK(round_to(DType::f16, 1.0f + 3 * 0x1p-11f) == 1.0f + 0x1p-9f);
  CHECK(std::isinf(round_to(DType::f16, 70000.0f)));  // beyond fp16's 65504
  CHECK(round_to(DType::bf16, 70000.0f) == 70144.0f);  // bf16 keeps fp32's range
  CHECK(round_to(DType::f32, 0.1f) == 0.1f);
}

TEST_CASE("pack and unpack round-trip through the device representation") {
  const std::vector<float> x{0.0f, -0.0f, 1.0f, -2.5f, 0.1f, 1e-3f, 3.0e4f, -7.25f};
  for (DType t : {DType::f32, DType::f16, DType::bf16}) {
    const std::string dtype = dtype_name(t);
    CAPTURE(dtype);
    std::vector<unsigned char> raw(x.size() * dtype_size(t));
    pack(t, x.data(), raw.data(), x.size());
    std::vector<float> back(x.size());
    unpack(t, raw.data(), back.data(), x.size());
    for (std::size_t i = 0; i < x.size(); ++i) CHECK(back[i] == round_to(t, x[i]));
    CHECK(std::signbit(back[1]));  // -0 survives
  }
  // Known bit patterns (little-endian): 1.0 is 0x3c00 in fp16 and 0x3f80 in bf16.
  const float one = 1.0f;
  std::uint16_t h = 0, b = 0;
  pack(DType::f16, &one, &h, 1);
  pack(DType::bf16, &one, &b, 1);
  CHECK(h == 0x3c00);
  CHECK(b == 0x3f80);
}

TEST_CASE("the poison pattern is a NaN that computed NaNs never match") {
  for (DType t : {DType::f32, DType::f16, DType::bf16}) {
    const std::string dtype = dtype_name(t);
    CAPTURE(dtype);
    const std::uint32_t bits = poison_bits(t);
    std::vector<unsigned char> raw(3 * dtype_size(t), 0);
    std::memcpy(raw.data() + dtype_size(t), &bits, dtype_size(t));  // element 1 poisoned
    CHECK(!is_poison(t, raw.data(), 0));
    CHECK(is_poison(t, raw.data(), 1));
    CHECK(!is_poison(t, raw.data(), 2));
    float f = 0;
    unpack(t, raw.data() + dtype_size(t), &f, 1);
    CHECK(std::isnan(f));
    // The NaNs arithmetic produces (0/0, a quiet NaN, either sign) are not the poison.
    const float zero = 0.0f;
    const float nans[] = {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
                          zero / zero};
    std::vector<unsigned char> n(dtype_size(t));
    for (float nan : nans) {
      pack(t, &nan, n.data(), 1);
      CHECK(!is_poison(t, n.data(), 0));
    }
  }
}

}  // namespace fa
