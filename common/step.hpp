// A step, as the driver sees it. Everything that differs between steps is declared here by
// the step; the driver never branches on a step's number or name.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "common/attention_args.hpp"
#include "common/io_model.hpp"
#include "common/problem.hpp"

namespace fa {

// Device pointers the driver owns; see attention_args.hpp for layouts.
struct Buffers {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* o = nullptr;
  float* lse = nullptr;
  void* workspace = nullptr;
};

struct Step {
  std::string id;                   // "01_naive"
  std::string title;                // "standard attention, three kernels"
  std::string idea;                 // one line for `fa list`
  std::vector<DType> dtypes;        // accepted dtypes; the first is the step's native one
  std::vector<std::int64_t> head_dims;  // accepted head dims; empty means any D >= 1
  int min_sm = 0;                   // minimum compute capability, major * 10 + minor
  int max_sm = 0;                   // maximum (0: none): architecture-specific code such as sm_90a
                                    // runs on its own compute capability only

  // Extra reasons to refuse a problem ("" when supported); may be empty.
  std::function<std::string(const Problem&)> why_unsupported;
  std::function<IoModel(const Problem&)> io;
  // Device scratch the step needs (S and P for the unfused steps); may be empty (none).
  std::function<std::size_t(const Problem&)> workspace_bytes;
  // Enqueue the step's kernels on `stream`: no allocation, no synchronisation, each launch
  // checked with FA_CHECK_LAUNCH.
  std::function<void(const Problem&, const Buffers&, cudaStream_t)> launch;
};

// Host-side refusal (dtype, head dim, the step's own rule): "" when supported. The GPU and
// memory checks need a device and live in the driver.
std::string why_unsupported(const Step& s, const Problem& p);

// Refusal for a GPU of compute capability cc_major.cc_minor named `device` (min_sm, max_sm): ""
// when the step runs there.
std::string why_unsupported_on(const Step& s, const std::string& device, int cc_major, int cc_minor);

std::size_t workspace_bytes(const Step& s, const Problem& p);

inline AttnArgs make_args(const Problem& p, const Buffers& b) {
  return {b.q, b.k, b.v, b.o, b.lse, b.workspace, p.b, p.h, p.sq, p.sk, p.d, float(p.softmax_scale()), p.causal};
}

}  // namespace fa
