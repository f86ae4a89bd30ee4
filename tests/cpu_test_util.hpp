// Helpers shared by the CPU tests: an obviously-correct attention written as plain loops, a
// small seeded filler, and a scratch directory that cleans up after itself.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "common/problem.hpp"

namespace fa::test {

// Attention as a triple loop in double, straight from the definition, for every row:
//   s_j = scale * q . k_j  for visible j,   o = sum_j e^{s_j - m} v_j / sum_j e^{s_j - m},
//   lse = m + log sum_j e^{s_j - m}  (m = max_j s_j; exact, and safe for large inputs).
// Visibility is written out from the definition (j <= i + Sk - Sq), not via Problem.
struct Brute {
  std::vector<double> o, lse;  // (B, H, Sq, D) and (B, H, Sq)
};

inline Brute brute_attention(const Problem& p, const float* q, const float* k, const float* v) {
  const std::int64_t D = p.d, Sq = p.sq, Sk = p.sk;
  const double scale = p.scale ? *p.scale : 1.0 / std::sqrt(double(D));
  Brute r;
  r.o.assign(std::size_t(p.b * p.h * Sq * D), 0.0);
  r.lse.assign(std::size_t(p.b * p.h * Sq), -std::numeric_limits<double>::infinity());
  for (std::int64_t head = 0; head < p.b * p.h; ++head) {
    for (std::int64_t i = 0; i < Sq; ++i) {
      const std::int64_t row = head * Sq + i;
      std::vector<double> s;
      std::vector<std::int64_t> keys;
      for (std::int64_t j = 0; j < Sk; ++j) {
        if (p.causal && !(j <= i + Sk - Sq)) continue;
        double dot = 0;
        for (std::int64_t x = 0; x < D; ++x)
          dot += double(q[row * D + x]) * double(k[(head * Sk + j) * D + x]);
        s.push_back(scale * dot);
        keys.push_back(j);
      }
      if (s.empty()) continue;
      const double m = *std::max_element(s.begin(), s.end());
      double l = 0;
      for (double sj : s) l += std::exp(sj - m);
      for (std::size_t t = 0; t < s.size(); ++t) {
        const double w = std::exp(s[t] - m) / l;
        for (std::int64_t x = 0; x < D; ++x)
          r.o[std::size_t(row * D + x)] += w * double(v[(head * Sk + keys[t]) * D + x]);
      }
      r.lse[std::size_t(row)] = m + std::log(l);
    }
  }
  return r;
}

// n floats from N(0, 1) (or `mean + sigma * N(0,1)`), seeded; independent of the library's
// own generator so the reference tests do not depend on generate_inputs.
inline std::vector<float> randn(std::size_t n, std::uint64_t seed, float sigma = 1.0f) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> out(n);
  for (auto& x : out) x = dist(gen);
  return out;
}

inline Problem small_problem(std::int64_t b, std::int64_t h, std::int64_t sq, std::int64_t sk, std::int64_t d,
                             bool causal = false) {
  Problem p;
  p.b = b;
  p.h = h;
  p.sq = sq;
  p.sk = sk;
  p.d = d;
  p.causal = causal;
  return p;
}

// A fresh directory under the system temp dir, removed (with its contents) on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("fa_cpu_tests_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace fa::test
