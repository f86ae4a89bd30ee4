// Checking a step's output against the float64 reference.
//
// Every comparison is written so that NaN makes it false: `err <= tol` fails for NaN, where
// `err > tol` would silently pass. Unwritten elements are found by the poison bit pattern the
// driver writes into O and LSE before the run (see dtype.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/problem.hpp"
#include "reference/reference.hpp"

namespace fa {

// Tolerances depend on the dtype and on the problem's conditioning, never on the step. The base
// is about twice the error of PyTorch's own SDPA on the same rounded inputs (N(0,1) inputs,
// see README.md). Softmax turns an absolute error in a score into a relative error in its
// weight, and float32 scores carry an error proportional to their size, so each tolerance
// grows by kScoreTerm x score_rms x 2^-24 (negligible for N(0,1) inputs, where score_rms ~ 1;
// the "large" distribution has score_rms ~ 100). Sums of Sk float32 terms (the softmax
// denominator, the rows of P V) carry a rounding error that grows like sqrt(Sk) x 2^-24, so
// the relative L2 and LSE tolerances also grow by kLengthTerm x sqrt(Sk) x 2^-24 (about 2e-6 at
// Sk = 4096, 1e-5 at Sk = 131072).
struct Tolerance {
  double rel_l2;   // ||O - O_ref|| / ||O_ref||
  double max_abs;  // max |O - O_ref|, relative to max |V| (|O| <= max |V| for any softmax)
  double lse_abs;  // max |LSE - LSE_ref| / max(1, |LSE_ref|)
};
Tolerance tolerance_for(DType t, double score_rms = 1.0, std::int64_t keys = 0);

struct CheckResult {
  bool passed = false;
  std::int64_t rows_checked = 0, rows_total = 0;
  std::int64_t o_unwritten = 0, lse_unwritten = 0;  // elements still holding the poison
  std::int64_t o_nonfinite = 0, lse_nan = 0;        // NaN/Inf in O (all rows); NaN in LSE
  double rel_l2 = 0, max_abs = 0, lse_err = 0;      // over the checked rows
  std::int64_t bad_rows = 0;                        // checked rows over tolerance
  std::vector<std::int64_t> first_bad_rows;         // up to 8, flat row indices
  std::string message;                              // one line: why it failed, or "ok"
};

// `o_raw` is the device output copied back as raw bytes in p.dtype; `lse_raw` float32 bits.
CheckResult check_output(const Problem& p, const void* o_raw, const float* lse_raw, const float* v,
                         const RefResult& ref);

}  // namespace fa
