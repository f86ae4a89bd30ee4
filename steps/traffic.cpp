#include "steps/traffic.hpp"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <utility>

#include "common/driver.hpp"
#include "common/error.hpp"

namespace fa {
namespace {

namespace fs = std::filesystem;

// The counters `fa traffic` reads (DESIGN.md, "The io model and Nsight"), sectors of 32 bytes.
// Two levels of L2 reads: the sectors the L2 slices served to the SMs' requests (lts, tex unit),
// and the sectors that reached the SMs (xbar to l1tex). They differ by what the L2 request
// coalescer merged: reads of the same sector by several SMs at about the same time are looked up
// once and sent to each. The io model's requested reads are the second level.
constexpr const char* kMetrics[] = {
    "dram__bytes_read.sum",
    "dram__bytes_write.sum",
    "lts__t_sectors_srcunit_tex_op_read.sum",
    "lts__t_sectors_srcunit_tex_op_write.sum",
    "gpu__time_duration.sum",
    "l1tex__m_xbar2l1tex_read_sectors.sum",
};
constexpr double kSectorBytes = 32;

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Run a command, returning its exit status and everything it printed.
int capture(const std::string& cmd, std::string& output) {
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (!f) throw Error("cannot run: " + cmd, kExitCuda);
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) output.append(buf.data(), n);
  const int status = pclose(f);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields;
  std::string cur;
  bool quoted = false;
  for (char c : line) {
    if (c == '"')
      quoted = !quoted;
    else if (c == ',' && !quoted) {
      fields.push_back(cur);
      cur.clear();
    } else
      cur += c;
  }
  fields.push_back(cur);
  return fields;
}

// ncu prints numbers with thousands separators ("1,073,741,824"): strip them.
double parse_number(std::string s) {
  std::string digits;
  for (char c : s)
    if (c != ',') digits += c;
  try {
    return std::stod(digits);
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

std::vector<Measured> parse_ncu_csv(const std::string& text) {
  std::vector<Measured> out;
  std::istringstream in(text);
  std::string line;
  std::vector<std::string> header;
  std::map<std::string, std::size_t> col;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] != '"') continue;  // ncu's own ==PROF== lines and the runner's table
    auto f = split_csv_line(line);
    if (header.empty()) {
      header = f;
      for (std::size_t i = 0; i < f.size(); ++i) col[f[i]] = i;
      continue;
    }
    if (!col.count("Kernel Name") || f.size() != header.size()) continue;
    if (f[col["Kernel Name"]].empty() || f[col[kMetrics[0]]] == "byte") continue;  // the units row
    Measured m;
    m.kernel = f[col["Kernel Name"]];
    auto get = [&](const char* name) { return col.count(name) ? parse_number(f[col[name]]) : 0.0; };
    m.dram_read = get(kMetrics[0]);
    m.dram_write = get(kMetrics[1]);
    m.l2_read = get(kMetrics[2]) * kSectorBytes;
    m.l2_write = get(kMetrics[3]) * kSectorBytes;
    m.ns = get(kMetrics[4]);
    m.sm_read = get(kMetrics[5]) * kSectorBytes;
    out.push_back(m);
  }
  return out;
}

namespace {

std::string problem_args(const Problem& p) {
  std::ostringstream a;
  a << " -b " << p.b << " -H " << p.h << " -q " << p.sq << " -k " << p.sk << " -d " << p.d << " --dtype "
    << dtype_name(p.dtype) << " --seed " << p.seed << " --dist " << dist_name(p.dist) << (p.causal ? " --causal" : "");
  if (p.scale) a << " --scale " << std::setprecision(17) << *p.scale;
  return a.str();
}

}  // namespace

std::string short_kernel_name(std::string name) {
  // ncu has been seen to print the anonymous namespace as "unnamed>::" (sic) as well.
  for (const std::string anon : {"(anonymous namespace)::", "<unnamed>::", "unnamed>::"})
    for (std::size_t at; (at = name.find(anon)) != std::string::npos;) name.erase(at, anon.size());
  if (name.rfind("void ", 0) == 0) name.erase(0, 5);
  name = name.substr(0, name.find('('));
  // Drop namespaces, but not the "::" inside template arguments.
  int depth = 0;
  std::size_t last = std::string::npos;
  for (std::size_t i = 0; i + 1 < name.size(); ++i) {
    if (name[i] == '<') ++depth;
    if (name[i] == '>') --depth;
    if (depth == 0 && name[i] == ':' && name[i + 1] == ':') last = i + 1;
  }
  return last == std::string::npos ? name : name.substr(last + 1);
}

namespace {

std::string mb(double bytes) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(1) << bytes / 1e6;
  return s.str();
}

}  // namespace

std::string find_ncu(const std::string& hint) {
  if (!hint.empty()) {
    if (access(hint.c_str(), X_OK) == 0) return hint;
    throw unsupported("ncu not found at " + hint);
  }
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::string p = path, d;
    std::istringstream in(p);
    while (std::getline(in, d, ':'))
      if (!d.empty()) dirs.push_back(d);
  }
  if (const char* cuda = std::getenv("CUDA_HOME")) dirs.push_back(std::string(cuda) + "/bin");
  dirs.push_back("/usr/local/cuda/bin");
  for (const auto& d : dirs) {
    const std::string c = d + "/ncu";
    if (access(c.c_str(), X_OK) == 0) return c;
  }
  throw unsupported("ncu (Nsight Compute) not found on PATH, in $CUDA_HOME/bin or in /usr/local/cuda/bin; install it or pass --ncu PATH");
}

std::string ncu_command(const std::string& ncu, const std::string& self, const Step& s, const Problem& p,
                        const std::string& report_path) {
  // Kernel names from the io model select the step's kernels, and the NVTX range (domain "fa",
  // named after the step; the trailing '/' selects a push/pop range) excludes everything else.
  std::string kernels;
  for (const auto& k : s.io(p).kernels) kernels += (kernels.empty() ? "" : "|") + k.kernel;
  std::string metrics;
  for (const char* m : kMetrics) metrics += (metrics.empty() ? "" : ",") + std::string(m);
  std::ostringstream c;
  c << shell_quote(ncu) << " --clock-control none --nvtx --nvtx-include " << shell_quote("fa@" + s.id + "/")
    << " -k " << shell_quote("regex:" + kernels) << " --metrics " << metrics << " -f -o " << shell_quote(report_path)
    << " " << shell_quote(self) << " run " << s.id << problem_args(p) << " --no-check --warmup 0 --repeat 0";
  return c.str();
}

namespace {

// Drops the steps that `why` refuses, adding them to `refusals`.
template <class Why>
void drop_refused(std::vector<std::pair<const Step*, Problem>>& steps, Why why, Refusals& refusals) {
  std::vector<std::pair<const Step*, Problem>> kept;
  for (const auto& sp : steps) {
    std::string reason = why(*sp.first, sp.second);
    if (reason.empty())
      kept.push_back(sp);
    else
      refusals.emplace_back(sp.first->id, std::move(reason));
  }
  steps = std::move(kept);
}

}  // namespace

void print_refusals(const Refusals& refusals, bool any_left, std::ostream& err) {
  for (const auto& [id, reason] : refusals) err << (any_left ? "SKIP " + id + ": " : "fa: error: ") << reason << "\n";
}

int run_traffic(const std::vector<const Step*>& steps, const Problem& base, const std::string& dtype,
                const TrafficOptions& opt, std::ostream& out, std::ostream& err) {
  // The steps that take the problem, before ncu is looked for: when none does, that is the
  // error, whether or not ncu is installed.
  std::vector<std::pair<const Step*, Problem>> runnable;
  for (const Step* s : steps) {
    Problem p = base;
    p.dtype = dtype.empty() ? s->dtypes.front() : parse_dtype(dtype);
    runnable.emplace_back(s, p);
  }
  Refusals refused;
  drop_refused(runnable, [](const Step& s, const Problem& p) { return why_unsupported(s, p); }, refused);
  if (runnable.empty()) {
    print_refusals(refused, false, err);
    return kExitUnsupported;
  }

  const std::string ncu = find_ncu(opt.ncu);
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  fs::path dir;
  try {
    dir = opt.export_dir.empty() ? fs::temp_directory_path() / ("fa-traffic-" + std::to_string(getpid()))
                                 : fs::path(opt.export_dir);
    fs::create_directories(dir);
  } catch (const fs::filesystem_error& e) {
    const std::string why = e.code().message();
    throw unsupported(dir.empty() ? "no temporary directory for the reports (" + why + "); set TMPDIR or pass --export DIR"
                                  : "cannot make the report directory " + dir.string() + ": " + why);
  }

  // No device: that error, not a failed ncu run and its log. Then the GPU's own refusals, said
  // together with the host's.
  const DeviceInfo dev = query_device();
  auto why_not_here = [&dev](const Step& s, const Problem&) {
    return why_unsupported_on(s, dev.name, dev.cc_major, dev.cc_minor);
  };
  drop_refused(runnable, why_not_here, refused);
  print_refusals(refused, !runnable.empty(), err);
  if (runnable.empty()) return kExitUnsupported;

  std::vector<std::vector<std::string>> rows;
  rows.push_back({"step", "kernel", "model_read_mb", "model_write_mb", "dram_read_mb", "dram_write_mb", "l2_read_mb",
                  "l2_write_mb", "sm_read_mb", "us", "dram_gbs"});
  for (const auto& [s, p] : runnable) {
    const std::string report = (dir / (s->id + ".ncu-rep")).string();
    const std::string cmd = ncu_command(ncu, self, *s, p, report);
    err << "+ " << cmd << "\n";
    // ncu's own output goes to a log file beside the report, so an error stays one line.
    const std::string log_path = (dir / (s->id + ".ncu.log")).string();
    std::string log;
    const int rc = capture(cmd, log);
    std::ofstream(log_path) << log;
    if (rc != 0) throw Error("ncu failed for " + s->id + " (exit " + std::to_string(rc) + "); see " + log_path, kExitCuda);
    std::string csv;
    const std::string import = shell_quote(ncu) + " --import " + shell_quote(report) + " --csv --page raw --print-units base";
    if (capture(import, csv) != 0) throw Error("ncu --import failed for " + report, kExitCuda);
    const auto measured = parse_ncu_csv(csv);
    if (measured.empty()) throw Error("ncu profiled no kernel of " + s->id + "; see " + log_path, kExitCuda);

    const IoModel io = s->io(p);
    for (const auto& m : measured) {
      const KernelIo* model = nullptr;
      for (const auto& k : io.kernels)
        if (m.kernel.find(k.kernel) != std::string::npos) model = &k;
      const double us = m.ns / 1e3;
      rows.push_back({s->id, short_kernel_name(m.kernel), model ? mb(model->read) : "", model ? mb(model->write) : "",
                      mb(m.dram_read), mb(m.dram_write), mb(m.l2_read), mb(m.l2_write), mb(m.sm_read),
                      [&] { std::ostringstream t; t << std::fixed << std::setprecision(1) << us; return t.str(); }(),
                      [&] { std::ostringstream t; t << std::fixed << std::setprecision(0) << (m.ns > 0 ? (m.dram_read + m.dram_write) / m.ns : 0); return t.str(); }()});
    }
    err << "compulsory for " << s->id << " " << p.describe() << ": read " << mb(io.compulsory_read) << " MB, write "
        << mb(io.compulsory_write) << " MB; report kept at " << report << "\n";
  }

  print_rows(rows, opt.format, out, 2);
  return kExitOk;
}

}  // namespace fa
