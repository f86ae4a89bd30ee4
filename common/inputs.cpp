#include "common/inputs.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>

#include "common/error.hpp"
#include "common/npy.hpp"

namespace fa {
namespace {

// SplitMix64 finaliser: a good 64-bit mix, so hash(seed, tensor, index) is a usable
// counter-based random stream.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Uniform in (0, 1): 53 random bits, offset by half a step so that log() never sees 0.
double unit(std::uint64_t bits) { return (double(bits >> 11) + 0.5) * 0x1.0p-53; }

double normal(std::uint64_t key) {
  // Box-Muller from two independent uniforms of the same counter.
  const double u1 = unit(mix(key)), u2 = unit(mix(key ^ 0x5851f42d4c957f2dull));
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

void fill(std::vector<float>& out, std::int64_t n, std::int64_t d, std::uint64_t stream,
          const Problem& p, bool is_value) {
  out.resize(std::size_t(n));
  const std::uint64_t base = mix(p.seed * 0x2545f4914f6cdd1dull + stream);
  const double sigma = (p.dist == Dist::large && !is_value) ? 10.0 : 1.0;
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    // constant: Q and K repeat one row everywhere (the key depends on the column only).
    const std::int64_t idx = (p.dist == Dist::constant && !is_value) ? i % d : i;
    const std::uint64_t key = mix(base ^ std::uint64_t(idx));
    double x;
    if (p.dist == Dist::uniform)
      x = 2.0 * unit(key) - 1.0;
    else
      x = sigma * normal(key);
    out[std::size_t(i)] = float(x);
  }
}

}  // namespace

HostInputs generate_inputs(const Problem& p) {
  HostInputs in;
  fill(in.q, p.q_elems(), p.d, 1, p, false);
  fill(in.k, p.kv_elems(), p.d, 2, p, false);
  fill(in.v, p.kv_elems(), p.d, 3, p, true);
  round_inputs(p.dtype, in);
  return in;
}

void round_inputs(DType t, HostInputs& in) {
  if (t == DType::f32) return;
  for (auto* vec : {&in.q, &in.k, &in.v}) {
    float* x = vec->data();
    const std::int64_t n = std::int64_t(vec->size());
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) x[i] = round_to(t, x[i]);
  }
}

namespace {

// Shape of a Q/K/V file as (B, H, S, D): missing leading dimensions are 1.
std::array<std::int64_t, 4> as_bhsd(const NpyArray& a, const std::string& path) {
  if (a.shape.size() < 2 || a.shape.size() > 4)
    throw unsupported(path + ": expected a 2-, 3- or 4-D array (B, H, S, D), got " +
                      std::to_string(a.shape.size()) + " dimensions");
  std::array<std::int64_t, 4> s{1, 1, 1, 1};
  std::copy(a.shape.begin(), a.shape.end(), s.begin() + (4 - std::ptrdiff_t(a.shape.size())));
  for (auto v : s)
    if (v < 1) throw unsupported(path + ": every dimension must be >= 1");
  return s;
}

}  // namespace

HostInputs load_inputs(const std::string& q_path, const std::string& k_path, const std::string& v_path,
                       Problem& p) {
  NpyArray q = load_npy(q_path), k = load_npy(k_path), v = load_npy(v_path);
  const auto sq = as_bhsd(q, q_path), sk = as_bhsd(k, k_path), sv = as_bhsd(v, v_path);
  if (sk != sv) throw unsupported(k_path + " and " + v_path + ": K and V must have the same shape");
  if (sq[0] != sk[0] || sq[1] != sk[1] || sq[3] != sk[3])
    throw unsupported(q_path + " and " + k_path + ": Q and K must agree on batch, heads and head dim");
  p.b = sq[0];
  p.h = sq[1];
  p.sq = sq[2];
  p.sk = sk[2];
  p.d = sq[3];
  HostInputs in{std::move(q.data), std::move(k.data), std::move(v.data)};
  round_inputs(p.dtype, in);
  return in;
}

}  // namespace fa
