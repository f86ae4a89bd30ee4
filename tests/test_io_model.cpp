// The io model: the compulsory floor every step shares, and the naive step's requests, whose
// Theta(N^2) S traffic is the lesson's starting point.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "common/io_model.hpp"
#include "cpu_test_util.hpp"
#include "steps/steps.hpp"

namespace fa {
namespace {

using test::small_problem;

struct Shape {
  std::int64_t b, h, sq, sk, d;
  bool causal;
};
// Square and ragged, causal or not; Sq * D >= 256 throughout (see the naive test below).
const Shape kShapes[] = {{1, 1, 1024, 1024, 64, false}, {2, 3, 17, 29, 16, true},     {4, 16, 512, 2048, 128, true},
                         {1, 2, 2048, 512, 64, true},   {3, 1, 1000, 4097, 24, false}, {1, 1, 256, 256, 1, false}};

}  // namespace

TEST_CASE("compulsory_io is Q + K + V read once and O + LSE written once, in the dtype's size") {
  for (const auto& s : kShapes)
    for (DType t : {DType::f32, DType::f16, DType::bf16}) {
      Problem p = small_problem(s.b, s.h, s.sq, s.sk, s.d, s.causal);
      p.dtype = t;
      CAPTURE(p.describe());
      const double es = double(dtype_size(t));
      const double q = double(s.b * s.h * s.sq * s.d), kv = double(s.b * s.h * s.sk * s.d), rows = double(s.b * s.h * s.sq);
      const IoModel m = compulsory_io(p);
      CHECK(m.compulsory_read == (q + 2 * kv) * es);
      CHECK(m.compulsory_write == q * es + rows * 4.0);  // LSE is float32 whatever the dtype
      CHECK(m.compulsory() == m.compulsory_read + m.compulsory_write);
      CHECK(m.kernels.empty());
      CHECK(m.requested() == 0);
    }
}

TEST_CASE("IoModel sums its kernels' requests") {
  IoModel m;
  m.kernels = {{"a", 10, 1}, {"b", 20, 2}, {"c", 30, 4}};
  CHECK(m.requested_read() == 60);
  CHECK(m.requested_write() == 7);
  CHECK(m.requested() == 67);
}

TEST_CASE("the naive step: three kernels, S written in full, requests at least the compulsory bytes") {
  const Step& naive = find_step("01");
  REQUIRE(naive.id == "01_naive");
  REQUIRE(naive.io);
  for (const auto& s : kShapes) {
    const Problem p = small_problem(s.b, s.h, s.sq, s.sk, s.d, s.causal);
    CAPTURE(p.describe());
    const IoModel m = naive.io(p);
    const double s_bytes = double(s.b * s.h * s.sq * s.sk) * 4.0;
    REQUIRE(m.kernels.size() == 3);
    CHECK(m.kernels[0].kernel == "scores_kernel");
    CHECK(m.kernels[1].kernel == "softmax_kernel");
    CHECK(m.kernels[2].kernel == "pv_kernel");
    // S is B H Sq Sk floats, written whole (masked entries as -inf), causal or not.
    CHECK(m.kernels[0].write == s_bytes);
    // softmax: three passes read S, one writes P over it, plus the LSE.
    CHECK(m.kernels[1].read == 3 * s_bytes);
    CHECK(m.kernels[1].write == s_bytes + p.bytes_lse());
    CHECK(m.kernels[2].write == p.bytes_o());
    // P V reads all of P at least once.
    CHECK(m.kernels[2].read >= s_bytes);
    // The floor is the common one, and the requests are above it.
    const IoModel c = compulsory_io(p);
    CHECK(m.compulsory_read == c.compulsory_read);
    CHECK(m.compulsory_write == c.compulsory_write);
    CHECK(m.requested_read() >= m.compulsory_read);
    CHECK(m.requested_write() >= m.compulsory_write);
    CHECK(m.requested() >= m.compulsory());
    // The Theta(N^2) lesson: S round trips dominate once N >> D.
    if (s.sq >= 1024 && s.sk >= 1024) CHECK(m.requested() > 10 * m.compulsory());
  }
}

TEST_CASE("the naive step's workspace holds S: B H Sq Sk floats") {
  const Step& naive = find_step("naive");
  const Problem p = small_problem(2, 3, 17, 29, 8, true);
  CHECK(workspace_bytes(naive, p) == std::size_t(2 * 3 * 17 * 29) * sizeof(float));
}

TEST_CASE("every step that models its kernels shares the compulsory floor and requests at least it") {
  // Steps still being written model no kernels yet; they are skipped until they do.
  for (const Step& s : all_steps()) {
    REQUIRE(s.io);
    for (const auto& sh : kShapes) {
      Problem p = small_problem(sh.b, sh.h, sh.sq, sh.sk, sh.d, sh.causal);
      p.dtype = s.dtypes.front();
      CAPTURE(s.id);
      CAPTURE(p.describe());
      const IoModel m = s.io(p);
      const IoModel c = compulsory_io(p);
      CHECK(m.compulsory_read == c.compulsory_read);
      CHECK(m.compulsory_write == c.compulsory_write);
      if (m.kernels.empty()) continue;
      CHECK(m.requested_read() >= m.compulsory_read);
      CHECK(m.requested_write() >= m.compulsory_write);
      for (const auto& k : m.kernels) {
        CHECK(!k.kernel.empty());
        CHECK(k.read >= 0);
        CHECK(k.write >= 0);
      }
    }
  }
}

}  // namespace fa
