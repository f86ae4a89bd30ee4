// Host-side inputs: generated from a seed or loaded from .npy, always already rounded to the
// step's dtype so that the float64 reference sees exactly what the kernel sees.
#pragma once

#include <string>
#include <vector>

#include "common/problem.hpp"

namespace fa {

struct HostInputs {
  std::vector<float> q, k, v;  // (B, H, Sq, D), (B, H, Sk, D), (B, H, Sk, D)
};

// Deterministic in (seed, dist, shape) and independent of thread count: element n of tensor t
// is a pure function of (seed, t, n), from a counter-based generator.
HostInputs generate_inputs(const Problem& p);

// Round every element to p.dtype in place (a no-op for fp32).
void round_inputs(DType t, HostInputs& in);

// Load Q, K, V from float32 .npy files of shape (B, H, S, D), (H, S, D) or (S, D); sets
// p.b, p.h, p.sq, p.sk, p.d from the shapes (which must agree) and rounds to p.dtype.
HostInputs load_inputs(const std::string& q_path, const std::string& k_path, const std::string& v_path,
                       Problem& p);

}  // namespace fa
