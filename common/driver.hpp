// The shared driver: for one step and one problem, allocate, fill, poison, run once, check
// against the reference, time, and report. Every step goes through here.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "common/check.hpp"
#include "common/inputs.hpp"
#include "common/io_model.hpp"
#include "common/step.hpp"

namespace fa {

struct DeviceInfo {
  std::string name;
  int cc_major = 0, cc_minor = 0, sms = 0;
  std::size_t mem_total = 0, mem_free = 0, l2_bytes = 0, smem_per_block_optin = 0;
  double sm_clock_ghz = 0, mem_clock_ghz = 0;
  int bus_width_bits = 0;
  // Theoretical ceilings from the clocks above (0 where the architecture is not tabulated).
  double hbm_gbs = 0, fp32_tflops = 0, tensor_16bit_tflops = 0;
  int sm() const { return cc_major * 10 + cc_minor; }
};

// Throws fa::Error (kExitCuda) with a clear message when there is no usable CUDA device.
DeviceInfo query_device();

struct RunOptions {
  bool check = true;
  int warmup = 3;
  int repeat = 20;            // timed launches; 0 skips timing
  bool flush_l2 = true;       // overwrite L2 between timed launches (--warm turns it off)
  std::int64_t check_rows = 0;  // rows compared with the reference; 0 picks by cost
  const HostInputs* inputs = nullptr;  // user tensors (already rounded); null: generate
  std::string save_o, save_lse;        // .npy paths, empty for none
};

struct Timing {
  double median_ms = 0, min_ms = 0, max_ms = 0;
  int repeats = 0;
};

enum class Status { ok, failed, skipped };
const char* status_name(Status s);  // "ok", "FAIL", "SKIP"

struct RunResult {
  std::string step;
  Problem problem;
  Status status = Status::skipped;
  std::string reason;  // why skipped or failed; empty when ok
  bool checked = false;
  CheckResult check;
  Timing time;
  double flops = 0;
  IoModel io;
  std::size_t workspace_bytes = 0;  // extra device memory beyond Q, K, V, O, LSE

  double tflops() const { return time.median_ms > 0 ? flops / (time.median_ms * 1e-3) / 1e12 : 0; }
  // Bandwidth implied by the requested bytes at the median time, GB/s.
  double requested_gbs() const { return time.median_ms > 0 ? io.requested() / (time.median_ms * 1e-3) / 1e9 : 0; }
};

// Device memory the driver will allocate for this step and problem (inputs, outputs, workspace).
std::size_t device_bytes_needed(const Step& s, const Problem& p);

// Never throws for a refusal (status skipped, with the reason); throws fa::Error on CUDA or
// file errors.
RunResult run_step(const Step& s, const Problem& p, const RunOptions& opt);

}  // namespace fa
