// GPU tests: every step, every dtype it claims, over the shape matrix of DESIGN.md, checked
// against the float64 reference by the same driver the runner uses.
//
// Seeds are fresh on every run (printed on failure); set FA_TEST_SEED to repeat one. Set
// FA_TEST_STEP to a step name to test just that step (e.g. under compute-sanitizer).
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "common/driver.hpp"
#include "steps/steps.hpp"

namespace fa {
namespace {

std::uint64_t base_seed() {
  if (const char* s = std::getenv("FA_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  return std::uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
}

// The steps under test: FA_TEST_STEP's, or every one this GPU runs. A step the GPU cannot run
// (its compute capability) is left out with a message, or fails when FA_TEST_STEP names it.
bool selected(const Step& s) {
  const char* only = std::getenv("FA_TEST_STEP");
  if (only && &find_step(only) != &s) return false;
  static const DeviceInfo dev = query_device();
  const std::string why = why_unsupported_on(s, dev.name, dev.cc_major, dev.cc_minor);
  if (why.empty()) return true;
  static std::set<std::string> said;  // once per step, not once per test case
  if (only)
    FAIL_CHECK("FA_TEST_STEP=" << only << ": " << why);
  else if (said.insert(s.id).second)
    MESSAGE("left out: " << why);
  return false;
}

// Head dims to test: all the step claims, or a spread (including one that is not a multiple of
// 8) when it takes any.
std::vector<std::int64_t> dims_for(const Step& s) {
  if (!s.head_dims.empty()) return s.head_dims;
  return {24, 64, 128};
}

RunOptions check_only() {
  RunOptions o;
  o.repeat = 0;        // correctness only: no timing
  o.check_rows = 256;  // a seeded sample (always the first and last row) keeps the reference cheap
  return o;
}

// Runs one case; returns false (with the reason in the log) when it fails or is refused.
bool run_case(const Step& s, const Problem& p, const RunOptions& options = check_only()) {
  const RunResult r = run_step(s, p, options);
  INFO(s.id << " " << p.describe() << " seed " << p.seed << " dist " << std::string(dist_name(p.dist)) << ": " << r.reason);
  CHECK(r.status == Status::ok);
  CHECK(r.checked);
  return r.status == Status::ok;
}

}  // namespace

TEST_CASE("every step matches the reference over the shape matrix") {
  const std::vector<std::int64_t> lengths = {1, 17, 127, 128, 129, 1000, 4097};
  std::uint64_t seed = base_seed();
  MESSAGE("base seed " << seed << " (FA_TEST_SEED to repeat)");
  for (const Step& s : all_steps()) {
    if (!selected(s)) continue;
    int cases = 0, failures = 0;
    for (DType t : s.dtypes)
      for (std::int64_t d : dims_for(s))
        for (bool causal : {false, true})
          for (std::int64_t sq : lengths)
            for (std::int64_t sk : lengths) {
              Problem p;
              // Several heads and batches where cheap, so head/batch offsets are exercised.
              const bool small = sq * sk <= 129 * 129;
              p.b = small ? 2 : 1;
              p.h = small ? 3 : 2;
              p.sq = sq;
              p.sk = sk;
              p.d = d;
              p.causal = causal;
              p.dtype = t;
              p.seed = seed++;
              ++cases;
              failures += run_case(s, p) ? 0 : 1;
            }
    MESSAGE(s.id << ": " << cases - failures << " of " << cases << " shape cases passed");
  }
}

TEST_CASE("many work items: more query tiles than SMs, some seeing no key") {
  // 4 x 40 heads of 1000 rows are hundreds of query tiles, so a persistent block (step 06)
  // walks several of them; causal with Sq > Sk, the first rows see no key, so some tiles are
  // empty. 4096 sampled rows put several checked rows in every tile.
  std::uint64_t seed = base_seed();
  for (const Step& s : all_steps()) {
    if (!selected(s)) continue;
    for (DType t : s.dtypes)
      for (std::int64_t d : dims_for(s))
        for (bool causal : {false, true}) {
          Problem p;
          p.b = 4;
          p.h = 40;
          p.sq = 1000;
          p.sk = 777;
          p.d = d;
          p.causal = causal;
          p.dtype = t;
          p.seed = seed++;
          RunOptions o = check_only();
          o.check_rows = 4096;
          run_case(s, p, o);
        }
  }
}

TEST_CASE("every step handles every input distribution") {
  std::uint64_t seed = base_seed();
  for (const Step& s : all_steps()) {
    if (!selected(s)) continue;
    for (DType t : s.dtypes)
      for (Dist dist : {Dist::normal, Dist::uniform, Dist::large, Dist::constant})
        for (bool causal : {false, true}) {
          Problem p;
          p.b = 2;
          p.h = 4;
          p.sq = 300;
          p.sk = 515;
          p.d = dims_for(s).back();
          p.causal = causal;
          p.dtype = t;
          p.dist = dist;
          p.seed = seed++;
          run_case(s, p);
        }
  }
}

TEST_CASE("a custom softmax scale is honoured") {
  for (const Step& s : all_steps()) {
    if (!selected(s)) continue;
    Problem p;
    p.b = 1;
    p.h = 2;
    p.sq = 200;
    p.sk = 333;
    p.d = dims_for(s).front();
    p.dtype = s.dtypes.front();
    p.scale = 0.37;
    p.seed = base_seed();
    run_case(s, p);
  }
}

TEST_CASE("a problem too large for device memory is refused with the bytes it needs") {
  for (const Step& s : all_steps()) {
    if (!selected(s) || workspace_bytes(s, Problem{}) == 0) continue;  // steps with an S matrix
    Problem p;
    p.b = 1;
    p.h = 16;
    p.sq = p.sk = 65536;  // S alone is 16 x 65536^2 x 4 bytes = 256 GiB
    p.d = dims_for(s).front();
    p.dtype = s.dtypes.front();
    const RunResult r = run_step(s, p, check_only());
    INFO(s.id << ": " << r.reason);
    CHECK(r.status == Status::skipped);
    CHECK(r.reason.find("needs") != std::string::npos);
    CHECK(r.reason.find("free") != std::string::npos);
  }
}

}  // namespace fa
