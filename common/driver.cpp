#include "common/driver.hpp"

#include <nvtx3/nvToolsExt.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "common/device_buffer.hpp"
#include "common/error.hpp"
#include "common/fill.hpp"
#include "common/npy.hpp"
#include "reference/reference.hpp"

namespace fa {
namespace {

std::string gib(double bytes) {
  std::ostringstream s;
  s.precision(bytes < 1e9 ? 3 : 4);
  s << bytes / double(1ull << 30) << " GiB";
  return s.str();
}

// Per-SM throughput per clock, for the ceilings `fa info` prints. Only architectures we have
// figures for; others print 0 (unknown).
struct ArchRates {
  int sm;
  double fp32_flops_per_clk;    // 2 x FP32 lanes
  double tensor16_flops_per_clk;  // dense fp16/bf16 tensor-core FLOPs
};
constexpr ArchRates kArchRates[] = {
    {80, 128, 2048},   // A100: 64 FP32 lanes, 1024 dense FMA/clk
    {90, 256, 4096},   // H100/H200: 128 FP32 lanes, 2048 dense FMA/clk
};

// A NVTX range in the domain "fa", named after the step, around all of a step's launches, so
// Nsight tools can select them: ncu --nvtx --nvtx-include "fa@01_naive/".
class NvtxRange {
 public:
  explicit NvtxRange(const std::string& name) {
    static nvtxDomainHandle_t domain = nvtxDomainCreateA("fa");
    domain_ = domain;
    nvtxEventAttributes_t a{};
    a.version = NVTX_VERSION;
    a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    a.messageType = NVTX_MESSAGE_TYPE_ASCII;
    a.message.ascii = name.c_str();
    nvtxDomainRangePushEx(domain_, &a);
  }
  ~NvtxRange() { nvtxDomainRangePop(domain_); }
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;

 private:
  nvtxDomainHandle_t domain_;
};

class Stream {
 public:
  Stream() { FA_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~Stream() { cudaStreamDestroy(s_); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  operator cudaStream_t() const { return s_; }

 private:
  cudaStream_t s_{};
};

class Event {
 public:
  Event() { FA_CUDA_CHECK(cudaEventCreate(&e_)); }
  ~Event() { cudaEventDestroy(e_); }
  Event(Event&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  operator cudaEvent_t() const { return e_; }

 private:
  cudaEvent_t e_{};
};

Timing summarise(std::vector<float> ms) {
  Timing t;
  t.repeats = int(ms.size());
  if (ms.empty()) return t;
  std::sort(ms.begin(), ms.end());
  const std::size_t n = ms.size();
  t.median_ms = n % 2 ? ms[n / 2] : 0.5 * (double(ms[n / 2 - 1]) + double(ms[n / 2]));
  t.min_ms = ms.front();
  t.max_ms = ms.back();
  return t;
}

// Rows to compare with the reference: all of them while the float64 reference stays cheap
// (about 2^30 multiply-adds), a seeded sample of at least 256 rows beyond that.
std::int64_t rows_to_check(const Problem& p, std::int64_t requested) {
  if (requested > 0) return std::min(requested, p.rows());
  constexpr double kBudget = double(1 << 30);
  const double per_row = double(p.sk) * double(p.d);
  return std::min<std::int64_t>(p.rows(), std::max<std::int64_t>(256, std::int64_t(kBudget / per_row)));
}

}  // namespace

const char* status_name(Status s) {
  switch (s) {
    case Status::ok: return "ok";
    case Status::failed: return "FAIL";
    case Status::skipped: return "SKIP";
  }
  return "?";
}

DeviceInfo query_device() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0)
    throw Error(std::string("no CUDA device available (") +
                    (e != cudaSuccess ? cudaGetErrorString(e) : "no devices found") + ")",
                kExitCuda);
  int dev = 0;
  FA_CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp prop{};
  FA_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  DeviceInfo d;
  d.name = prop.name;
  d.cc_major = prop.major;
  d.cc_minor = prop.minor;
  d.sms = prop.multiProcessorCount;
  d.l2_bytes = std::size_t(prop.l2CacheSize);
  d.smem_per_block_optin = prop.sharedMemPerBlockOptin;
  d.bus_width_bits = prop.memoryBusWidth;
  FA_CUDA_CHECK(cudaMemGetInfo(&d.mem_free, &d.mem_total));
  int clock_khz = 0, mem_khz = 0;
  FA_CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, dev));
  FA_CUDA_CHECK(cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, dev));
  d.sm_clock_ghz = clock_khz * 1e-6;
  d.mem_clock_ghz = mem_khz * 1e-6;
  // Double data rate: two transfers per memory clock across the bus.
  d.hbm_gbs = 2.0 * mem_khz * 1e3 * (d.bus_width_bits / 8.0) / 1e9;
  for (const auto& r : kArchRates) {
    if (r.sm != d.sm()) continue;
    d.fp32_tflops = d.sms * r.fp32_flops_per_clk * clock_khz * 1e3 / 1e12;
    d.tensor_16bit_tflops = d.sms * r.tensor16_flops_per_clk * clock_khz * 1e3 / 1e12;
  }
  return d;
}

std::size_t device_bytes_needed(const Step& s, const Problem& p) {
  return std::size_t(p.bytes_q() + 2 * p.bytes_kv() + p.bytes_o() + p.bytes_lse()) + workspace_bytes(s, p);
}

RunResult run_step(const Step& s, const Problem& p, const RunOptions& opt) {
  RunResult r;
  r.step = s.id;
  r.problem = p;
  r.flops = p.flops();
  r.io = s.io(p);
  r.workspace_bytes = workspace_bytes(s, p);

  // Refuse before any work: host-side rules, then the GPU, then memory.
  r.reason = why_unsupported(s, p);
  if (!r.reason.empty()) return r;
  const DeviceInfo dev = query_device();
  r.reason = why_unsupported_on(s, dev.name, dev.cc_major, dev.cc_minor);
  if (!r.reason.empty()) return r;
  const std::size_t flush_bytes = (opt.repeat > 0 && opt.flush_l2) ? 2 * dev.l2_bytes : 0;
  const std::size_t need = device_bytes_needed(s, p) + flush_bytes;
  // Leave a little room for the CUDA context's own allocations.
  if (double(need) > 0.97 * double(dev.mem_free)) {
    r.reason = s.id + " needs " + gib(double(need)) + " of device memory for " + p.describe() + " (workspace " +
               gib(double(r.workspace_bytes)) + "), but only " + gib(double(dev.mem_free)) + " is free";
    return r;
  }

  HostInputs generated;
  if (!opt.inputs) generated = generate_inputs(p);
  const HostInputs& in = opt.inputs ? *opt.inputs : generated;
  const std::size_t esize = dtype_size(p.dtype);
  DeviceBuffer dq(std::size_t(p.q_elems()) * esize), dk(std::size_t(p.kv_elems()) * esize),
      dv(std::size_t(p.kv_elems()) * esize), d_o(std::size_t(p.q_elems()) * esize),
      dlse(std::size_t(p.rows()) * sizeof(float)), dwork(r.workspace_bytes);
  {
    std::vector<char> staging(std::size_t(p.kv_elems() > p.q_elems() ? p.kv_elems() : p.q_elems()) * esize);
    auto upload = [&](const std::vector<float>& host, const DeviceBuffer& dst) {
      pack(p.dtype, host.data(), staging.data(), host.size());
      FA_CUDA_CHECK(cudaMemcpy(dst.get(), staging.data(), host.size() * esize, cudaMemcpyHostToDevice));
    };
    upload(in.q, dq);
    upload(in.k, dk);
    upload(in.v, dv);
  }
  Buffers buf{dq.get(), dk.get(), dv.get(), d_o.get(), dlse.as<float>(), dwork.get()};

  Stream stream;
  NvtxRange range(s.id);

  // 1. One run into poisoned outputs: any element still holding the poison was never written.
  fill_pattern(d_o.get(), poison_bits(p.dtype), esize, std::size_t(p.q_elems()), stream);
  fill_pattern(dlse.get(), poison_bits(DType::f32), 4, std::size_t(p.rows()), stream);
  // A launcher can still refuse where only the device can tell (06: a build without sm_90a code
  // for it), before it enqueues anything: a refusal of this step, not an error of the run.
  try {
    s.launch(p, buf, stream);
  } catch (const Error& e) {
    if (e.exit_code() != kExitUnsupported) throw;
    r.reason = e.what();
    return r;
  }
  FA_CUDA_CHECK(cudaStreamSynchronize(stream));

  if (opt.check || !opt.save_o.empty() || !opt.save_lse.empty()) {
    std::vector<char> o_raw(d_o.bytes());
    std::vector<float> lse(std::size_t(p.rows()));
    FA_CUDA_CHECK(cudaMemcpy(o_raw.data(), d_o.get(), d_o.bytes(), cudaMemcpyDeviceToHost));
    FA_CUDA_CHECK(cudaMemcpy(lse.data(), dlse.get(), dlse.bytes(), cudaMemcpyDeviceToHost));
    if (opt.check) {
      const std::int64_t n = rows_to_check(p, opt.check_rows);
      const auto rows = n == p.rows() ? all_rows(p) : sample_rows(p, n, p.seed ^ 0x636865636bull);
      const RefResult ref = reference_attention(p, in.q.data(), in.k.data(), in.v.data(), rows);
      r.check = check_output(p, o_raw.data(), lse.data(), in.v.data(), ref);
      r.checked = true;
    }
    const std::vector<std::int64_t> shape{p.b, p.h, p.sq, p.d};
    if (!opt.save_o.empty()) {
      std::vector<float> o(std::size_t(p.q_elems()));
      unpack(p.dtype, o_raw.data(), o.data(), o.size());
      save_npy(opt.save_o, shape, o.data());
    }
    if (!opt.save_lse.empty()) save_npy(opt.save_lse, {p.b, p.h, p.sq}, lse.data());
  }

  // 2. Timing: warm-up, then each launch between its own pair of events, after an L2 flush.
  if (opt.repeat > 0) {
    DeviceBuffer flush(flush_bytes);
    for (int i = 0; i < opt.warmup; ++i) s.launch(p, buf, stream);
    std::vector<Event> start(std::size_t(opt.repeat)), stop(std::size_t(opt.repeat));
    for (int i = 0; i < opt.repeat; ++i) {
      if (flush_bytes) FA_CUDA_CHECK(cudaMemsetAsync(flush.get(), i & 0xff, flush_bytes, stream));
      FA_CUDA_CHECK(cudaEventRecord(start[std::size_t(i)], stream));
      s.launch(p, buf, stream);
      FA_CUDA_CHECK(cudaEventRecord(stop[std::size_t(i)], stream));
    }
    FA_CUDA_CHECK(cudaStreamSynchronize(stream));
    std::vector<float> ms(std::size_t(opt.repeat));
    for (int i = 0; i < opt.repeat; ++i)
      FA_CUDA_CHECK(cudaEventElapsedTime(&ms[std::size_t(i)], start[std::size_t(i)], stop[std::size_t(i)]));
    r.time = summarise(std::move(ms));
  }

  r.status = (r.checked && !r.check.passed) ? Status::failed : Status::ok;
  if (r.status == Status::failed) r.reason = r.check.message;
  return r;
}

}  // namespace fa
