// `fa traffic`: run steps under Nsight Compute and set the io model's bytes beside the bytes
// the hardware counters measured, kernel by kernel.
#pragma once

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "common/problem.hpp"
#include "common/report.hpp"
#include "common/step.hpp"

namespace fa {

struct TrafficOptions {
  std::string ncu;         // path to ncu; empty: search PATH, then the CUDA toolkit
  std::string export_dir;  // keep the .ncu-rep reports here; empty: a temporary directory
  Format format = Format::table;
};

// One kernel launch as Nsight Compute measured it (bytes; sectors already x 32): l2_read at the
// L2 slices, sm_read where L2's replies reach the SMs (traffic.cpp, kMetrics, says why they differ).
struct Measured {
  std::string kernel;
  double dram_read = 0, dram_write = 0, l2_read = 0, l2_write = 0, sm_read = 0, ns = 0;
};

// Rows of `ncu --import R --csv --page raw --print-units base`; other lines are ignored.
std::vector<Measured> parse_ncu_csv(const std::string& text);

// "void (anonymous namespace)::fused_kernel<64>(fa::AttnArgs)" -> "fused_kernel<64>": the
// name without return type, namespaces and parameter list.
std::string short_kernel_name(std::string name);

// Where ncu is, or throws an fa::Error saying where it looked.
std::string find_ncu(const std::string& hint);

// The ncu command line that profiles exactly one step's kernels (printed so users can repeat it).
std::string ncu_command(const std::string& ncu, const std::string& self, const Step& s, const Problem& p,
                        const std::string& report_path);

// Steps left out and why (step id, reason): the host's refusals and then the GPU's.
using Refusals = std::vector<std::pair<std::string, std::string>>;

// Says why each refused step is left out, as one kind of line: "SKIP id: why" while some step is
// left to profile, else "fa: error: why" for each (as `fa run` says it).
void print_refusals(const Refusals& refusals, bool any_left, std::ostream& err);

int run_traffic(const std::vector<const Step*>& steps, const Problem& base, const std::string& dtype,
                const TrafficOptions& opt, std::ostream& out, std::ostream& err);

}  // namespace fa
