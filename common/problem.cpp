#include "common/problem.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "common/error.hpp"

namespace fa {

const char* dist_name(Dist d) {
  switch (d) {
    case Dist::normal: return "normal";
    case Dist::uniform: return "uniform";
    case Dist::large: return "large";
    case Dist::constant: return "constant";
  }
  return "?";
}

Dist parse_dist(const std::string& name) {
  for (Dist d : {Dist::normal, Dist::uniform, Dist::large, Dist::constant})
    if (name == dist_name(d)) return d;
  throw usage_error("unknown distribution '" + name + "' (expected normal, uniform, large or constant)");
}

double Problem::softmax_scale() const { return scale ? *scale : 1.0 / std::sqrt(double(d)); }

std::int64_t Problem::visible_keys(std::int64_t i) const {
  if (!causal) return sk;
  // Bottom-right alignment: the last query row sees every key; row i sees keys 0 .. i + Sk - Sq.
  return std::clamp<std::int64_t>(i + sk - sq + 1, 0, sk);
}

double Problem::visible_pairs() const {
  if (!causal) return double(bh()) * double(sq) * double(sk);
  // Summing row by row is O(Sq) and obviously exact; the closed form is not worth the risk.
  double per_head = 0;
  for (std::int64_t i = 0; i < sq; ++i) per_head += double(visible_keys(i));
  return per_head * double(bh());
}

std::string Problem::describe() const {
  std::ostringstream s;
  s << "B" << b << " H" << h << " Sq" << sq << " Sk" << sk << " D" << d << " " << dtype_name(dtype)
    << (causal ? " causal" : "");
  if (scale) s << " scale" << *scale;
  return s.str();
}

void validate(const Problem& p) {
  // Each dimension must be positive and small enough that element counts fit comfortably in
  // 64 bits and grid dimensions in 32; the memory check rejects anything too big to allocate.
  constexpr std::int64_t kMaxDim = std::int64_t(1) << 31;
  auto check = [](const char* name, std::int64_t v) {
    if (v < 1) throw usage_error(std::string(name) + " must be >= 1 (got " + std::to_string(v) + ")");
    if (v >= kMaxDim)
      throw usage_error(std::string(name) + " is absurdly large (got " + std::to_string(v) + ")");
  };
  check("batch", p.b);
  check("heads", p.h);
  check("seq-q", p.sq);
  check("seq-k", p.sk);
  check("head-dim", p.d);
  if (double(p.b) * p.h * std::max(p.sq, p.sk) * p.d > 1e15)
    throw usage_error("problem is absurdly large: " + p.describe());
  if (p.scale && !(std::isfinite(*p.scale) && *p.scale > 0))
    throw usage_error("scale must be a positive finite number");
}

}  // namespace fa
