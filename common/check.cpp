#include "common/check.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace fa {
namespace {

// Running maximum that stays NaN once it has seen a NaN (a plain `if (e > m)` would drop it).
void keep_max(double& m, double e) {
  if (std::isnan(m)) return;
  if (!(e <= m)) m = e;
}

}  // namespace

Tolerance tolerance_for(DType t, double score_rms, std::int64_t keys) {
  // PyTorch SDPA on an H200 against float64: fp32 5e-7..1.2e-6, fp16 2.5e-4..2.9e-4,
  // bf16 2.0e-3..2.3e-3 (relative L2 of O).
  Tolerance base{0, 0, 0};
  switch (t) {
    case DType::f32: base = {3e-6, 2e-5, 1e-5}; break;
    case DType::f16: base = {6e-4, 4e-3, 2e-4}; break;
    case DType::bf16: base = {4.5e-3, 3e-2, 2e-4}; break;
  }
  constexpr double kFp32Eps = 0x1.0p-24;
  constexpr double kScoreTerm = 4.0;      // rel L2 and LSE: a few roundings per score
  constexpr double kScoreTermMax = 16.0;  // max abs: the worst element, not the RMS
  constexpr double kLengthTerm = 0.5;     // random-walk growth of a float32 sum over the keys
  const double cond = kFp32Eps * score_rms;
  const double length = kLengthTerm * kFp32Eps * std::sqrt(double(keys));
  return {base.rel_l2 + kScoreTerm * cond + length, base.max_abs + kScoreTermMax * cond,
          base.lse_abs + kScoreTerm * cond + length};
}

CheckResult check_output(const Problem& p, const void* o_raw, const float* lse_raw, const float* v,
                         const RefResult& ref) {
  const Tolerance tol = tolerance_for(p.dtype, ref.score_rms, p.sk);
  const std::int64_t D = p.d;
  CheckResult c;
  c.rows_total = p.rows();
  c.rows_checked = std::int64_t(ref.rows.size());

  // 1. Every element of O and LSE: written at all, and finite where it must be.
  const std::int64_t n_o = p.q_elems();
  std::vector<float> o(static_cast<std::size_t>(n_o));
  unpack(p.dtype, o_raw, o.data(), std::size_t(n_o));
  for (std::int64_t i = 0; i < n_o; ++i) {
    if (is_poison(p.dtype, o_raw, std::size_t(i)))
      ++c.o_unwritten;
    else if (!std::isfinite(o[std::size_t(i)]))
      ++c.o_nonfinite;
  }
  for (std::int64_t r = 0; r < p.rows(); ++r) {
    if (is_poison(DType::f32, lse_raw, std::size_t(r)))
      ++c.lse_unwritten;
    else if (std::isnan(lse_raw[r]))
      ++c.lse_nan;  // -inf is legal (a row that sees no key); NaN never is
  }

  // 2. The checked rows against the reference.
  double vmax = 0;
  for (std::int64_t i = 0; i < p.kv_elems(); ++i) vmax = std::max(vmax, double(std::fabs(v[i])));
  const double abs_tol = tol.max_abs * std::max(vmax, 1e-30);
  double err2 = 0, ref2 = 0;
  for (std::size_t t = 0; t < ref.rows.size(); ++t) {
    const std::int64_t row = ref.rows[t];
    const bool masked = std::isinf(ref.lse[t]);  // sees no key: O must be exactly 0
    double row_max = 0;
    bool row_ok = true;
    for (std::int64_t x = 0; x < D; ++x) {
      const double got = o[std::size_t(row * D + x)], want = ref.o[t * std::size_t(D) + std::size_t(x)];
      const double e = std::fabs(got - want);
      err2 += e * e;
      ref2 += want * want;
      keep_max(row_max, e);
    }
    if (!(row_max <= (masked ? 0.0 : abs_tol))) row_ok = false;
    keep_max(c.max_abs, row_max);

    const double want_lse = ref.lse[t], got_lse = lse_raw[row];
    double lse_e;
    if (std::isinf(want_lse))
      lse_e = (got_lse == want_lse) ? 0.0 : INFINITY;  // a fully masked row must give exactly -inf
    else
      lse_e = std::fabs(double(got_lse) - want_lse) / std::max(1.0, std::fabs(want_lse));
    if (!(lse_e <= tol.lse_abs)) row_ok = false;
    keep_max(c.lse_err, lse_e);

    if (!row_ok) {
      ++c.bad_rows;
      if (c.first_bad_rows.size() < 8) c.first_bad_rows.push_back(row);
    }
  }
  // A reference that is all zeros (every row masked) makes the relative error 0/0: use the
  // absolute error then, which must be exactly zero.
  c.rel_l2 = ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);

  std::ostringstream why;
  auto row_name = [&](std::int64_t r) {
    std::ostringstream s;
    const std::int64_t i = r % p.sq, head = r / p.sq;
    s << "(b" << head / p.h << ",h" << head % p.h << ",i" << i << ")";
    return s.str();
  };
  if (c.o_unwritten || c.lse_unwritten) {
    why << "unwritten output: " << c.o_unwritten << " of " << n_o << " O elements ("
        << 100.0 * double(c.o_unwritten) / double(n_o) << "%), " << c.lse_unwritten << " of " << p.rows()
        << " LSE values";
  } else if (c.o_nonfinite || c.lse_nan) {
    why << "non-finite output: " << c.o_nonfinite << " NaN/Inf in O, " << c.lse_nan << " NaN in LSE";
  } else if (!(c.rel_l2 <= tol.rel_l2) || c.bad_rows) {
    why << "wrong result: rel L2 " << c.rel_l2 << " (tol " << tol.rel_l2 << "), max abs " << c.max_abs
        << ", LSE err " << c.lse_err << ", " << c.bad_rows << " of " << c.rows_checked << " checked rows off";
    if (!c.first_bad_rows.empty()) {
      why << ", first:";
      for (auto r : c.first_bad_rows) why << " " << row_name(r);
    }
  }
  c.message = why.str();
  c.passed = c.message.empty();
  if (c.passed) c.message = "ok";
  return c;
}

}  // namespace fa
