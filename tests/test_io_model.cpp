// The io model: the compulsory floor every step shares, and the naive step's requests, whose
// Theta(N^2) S traffic is the lesson's starting point.
#include <doctest/doctest.h>

#include "common/launch.hpp"

#include <algorithm>

#include <cstdint>
#include <string>

#include "common/head_dims.hpp"
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

TEST_CASE("flash_io counts K/V rows tile by tile, exactly as a brute-force walk over the tiles") {
  for (QueryTiles tiles : {QueryTiles::from_start, QueryTiles::from_end})
    for (bool causal : {false, true})
      for (std::int64_t sq : {1, 17, 128, 129, 300})
        for (std::int64_t sk : {1, 17, 128, 129, 515})
          for (std::int64_t bm : {64, 128, 192})
            for (std::int64_t bn : {32, 64, 128}) {
              const Problem p = small_problem(2, 3, sq, sk, 64, causal);
              // Walk every (query tile, key tile) pair; a key tile is visited when its first key is
              // visible to the last row of the query tile, and it reads its rows that exist. Tiles
              // from the end start at Sq - bm, Sq - 2 bm, ... (the first may start before row 0).
              double rows = 0;
              const std::int64_t first = tiles == QueryTiles::from_start ? 0 : sq - (sq + bm - 1) / bm * bm;
              for (std::int64_t q0 = first; q0 < sq; q0 += bm) {
                const std::int64_t last = std::min(q0 + bm, sq) - 1;
                for (std::int64_t k0 = 0; k0 < sk; k0 += bn)
                  if (!causal || k0 <= last + sk - sq) rows += double(std::min(bn, sk - k0));
              }
              const double want = p.bytes_q() + 2.0 * double(p.bh()) * rows * double(p.d) * 4.0;
              const IoModel m = flash_io(p, bm, bn, "k", tiles);
              CAPTURE(p.describe());
              CAPTURE(int(tiles));
              REQUIRE(m.kernels.size() == 1);
              CHECK(m.kernels[0].read == want);
              CHECK(m.kernels[0].write == p.bytes_o() + p.bytes_lse());
            }
}

TEST_CASE("a flat grid past 2^31 - 1 blocks is refused with the count") {
  Problem p = small_problem(1, 1, 1024, 1024, 64, false);
  CHECK(flat_grid_refusal("06", p.bh(), p.sq, 128).empty());
  p.b = 1 << 20;
  p.h = 1 << 10;
  p.sq = 1024;  // 2^30 heads x 8 tiles = 2^33 blocks
  const std::string why = flat_grid_refusal("06", p.bh(), p.sq, 128);
  CHECK(why.find("8589934592 thread blocks") != std::string::npos);
}

TEST_CASE("a head-dim set names its dims for the launchers' refusal and dispatches only to them") {
  using Dims = HeadDimSet<64, 128, 256>;
  CHECK(Dims::list() == "64, 128, 256");
  std::int64_t seen = 0;
  CHECK(Dims::dispatch(128, [&](auto d) { seen = decltype(d)::value; }));
  CHECK(seen == 128);
  CHECK_FALSE(Dims::dispatch(96, [&](auto d) { seen = decltype(d)::value; }));
  CHECK(seen == 128);
}

}  // namespace fa
