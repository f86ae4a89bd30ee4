#include "steps/cli.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <sstream>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include "common/driver.hpp"
#include "common/error.hpp"
#include "common/report.hpp"
#include "steps/steps.hpp"
#include "steps/traffic.hpp"

namespace fa {
namespace {

// The problem the runner uses when given none: large enough to time, small enough that the
// naive step's S (B H N^2 floats = 256 MiB) and the CPU reference stay cheap.
Problem default_problem() {
  Problem p;
  p.b = 4;
  p.h = 16;
  p.sq = p.sk = 1024;
  p.d = 64;
  return p;
}

// CLI11 saturates an integer that overflows its type (and takes "-1" for an unsigned one), so
// the text is checked first: the error then quotes what was typed.
template <class T>
CLI::Validator integer_text() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        T v{};
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec == std::errc::result_out_of_range) return "'" + text + "' is out of range";
        if (ec != std::errc() || end != text.data() + text.size())
          return "'" + text + "' is not " + (std::is_signed_v<T> ? "an integer" : "a non-negative integer");
        return "";
      },
      "");
}

// The element type of an option's value: T, or the T of a list option's std::vector<T>.
template <class T>
struct element {
  using type = T;
};
template <class T>
struct element<std::vector<T>> {
  using type = T;
};

// An integer option (or a list of them): its text checked by integer_text.
template <class T>
CLI::Option* add_integer(CLI::App* app, const std::string& name, T& value, const std::string& help) {
  return app->add_option(name, value, help)->check(integer_text<typename element<T>::type>());
}

// Options shared by `run`, `bench` and the default command.
struct CommonOptions {
  std::string dtype;  // empty: each step's native dtype
  std::string dist = "normal";
  bool csv = false, json = false;
  bool check = true, warm = false;
  int warmup = 3, repeat = 20;
  std::int64_t check_rows = 0;

  Format format() const { return json ? Format::json : csv ? Format::csv : Format::table; }
  RunOptions run_options() const {
    RunOptions o;
    o.check = check;
    o.warmup = warmup;
    o.repeat = repeat;
    o.flush_l2 = !warm;
    o.check_rows = check_rows;
    return o;
  }
};

// The inputs (--dtype, --dist) and the output format (--csv, --json): every subcommand that runs a step.
void add_inputs_and_format(CLI::App* app, CommonOptions& c) {
  app->add_option("--dtype", c.dtype, "fp32, fp16 or bf16 (default: each step's native dtype)");
  app->add_option("--dist", c.dist, "input distribution: normal, uniform, large, constant");
  auto* csv = app->add_flag("--csv", c.csv, "print CSV");
  app->add_flag("--json", c.json, "print JSON")->excludes(csv);
}

// Those, and checking and timing (run, bench).
void add_common(CLI::App* app, CommonOptions& c) {
  add_inputs_and_format(app, c);
  app->add_flag("--check,!--no-check", c.check, "compare with the float64 reference (default on)");
  add_integer(app, "--check-rows", c.check_rows, "rows to compare (default: all while cheap, else a sample)");
  add_integer(app, "--warmup", c.warmup, "untimed launches before timing");
  add_integer(app, "--repeat", c.repeat, "timed launches (0: no timing)");
  app->add_flag("--warm", c.warm, "do not flush L2 between timed launches");
}

void add_problem(CLI::App* app, Problem& p, std::int64_t& seq) {
  add_integer(app, "-b,--batch", p.b, "batch size");
  add_integer(app, "-H,--heads", p.h, "number of heads");
  auto* n = add_integer(app, "-n,--seq", seq, "sequence length of both queries and keys");
  add_integer(app, "-q,--seq-q", p.sq, "query sequence length")->excludes(n);
  add_integer(app, "-k,--seq-k", p.sk, "key/value sequence length")->excludes(n);
  add_integer(app, "-d,--head-dim", p.d, "head dimension");
  app->add_flag("--causal", p.causal, "causal mask, bottom-right aligned (see README)");
  add_integer(app, "--seed", p.seed, "input seed");
}

// The problem for one step: its dtype is the user's, or else the step's native one.
Problem for_step(Problem p, const Step& s, const CommonOptions& c) {
  p.dtype = c.dtype.empty() ? s.dtypes.front() : parse_dtype(c.dtype);
  return p;
}

std::vector<const Step*> resolve_steps(const std::vector<std::string>& names) {
  std::vector<const Step*> out;
  if (names.empty() || (names.size() == 1 && names[0] == "all")) {
    for (const auto& s : all_steps()) out.push_back(&s);
    return out;
  }
  for (const auto& n : names) {
    if (n == "all") throw usage_error("'all' stands alone: give it or step names, not both");
    // `run 1 --causal on`: the flag takes no value, so the value was read as a step.
    if (n == "on" || n == "off" || n == "both")
      throw usage_error("unknown step '" + n + "' (for run and traffic --causal is a flag: --causal alone turns the mask on)");
    out.push_back(&find_step(n));
  }
  return out;
}

// An output file that cannot be written is refused before any work, not after it.
void check_output_path(const std::string& option, const std::string& path) {
  namespace fs = std::filesystem;
  if (path.empty()) throw usage_error(option + " needs a file name");
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw unsupported(option + " " + path + ": is a directory");
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec))
    throw unsupported(option + " " + path + ": no directory " + parent.string());
}

// Every problem was refused: nothing ran (run and bench make that an error).
bool all_refused(const std::vector<RunResult>& results) {
  return std::all_of(results.begin(), results.end(), [](const RunResult& r) { return r.status == Status::skipped; });
}

int exit_code_for(const std::vector<RunResult>& results, bool skips_fail) {
  bool failed = false, skipped = false;
  for (const auto& r : results) {
    failed |= r.status == Status::failed;
    skipped |= r.status == Status::skipped;
  }
  if (failed) return kExitCheckFailed;
  if (skipped && skips_fail) return kExitUnsupported;
  return kExitOk;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// "; needs sm_80", "; needs sm_90 only", "; needs sm_80 to sm_90", "; needs sm_90 or older";
// nothing for a step that runs anywhere.
std::string sm_note(const Step& s) {
  const std::string lo = "sm_" + std::to_string(s.min_sm), hi = "sm_" + std::to_string(s.max_sm);
  if (s.min_sm == 0) return s.max_sm ? "; needs " + hi + " or older" : "";
  if (s.max_sm == s.min_sm) return "; needs " + lo + " only";
  return "; needs " + lo + (s.max_sm ? " to " + hi : "");
}

void print_list(std::ostream& out) {
  for (const auto& s : all_steps()) {
    std::vector<std::string> dt, hd;
    for (auto t : s.dtypes) dt.push_back(dtype_name(t));
    for (auto d : s.head_dims) hd.push_back(std::to_string(d));
    out << s.id << "  " << s.title << "\n"
        << "    dtypes: " << join(dt, ", ") << "; head dims: " << (hd.empty() ? "any" : join(hd, ", "))
        << sm_note(s) << "\n"
        << "    " << s.idea << "\n";
  }
}

// `bench`: a sweep. Sizes follow the FlashAttention benchmark: batch x N = tokens and
// heads x D = hidden, unless batch or heads are given.
struct BenchOptions {
  std::vector<std::int64_t> seqs{512, 1024, 2048, 4096, 8192, 16384};
  std::vector<std::int64_t> dims{64, 128};
  std::vector<std::string> dtypes;  // empty: each step's native dtype
  std::string causal = "off";       // off, on, both
  std::int64_t tokens = 16384, hidden = 2048, batch = 0, heads = 0;
};

int run_bench(const std::vector<const Step*>& steps, const BenchOptions& b, const CommonOptions& c, Problem base,
              std::ostream& out) {
  std::vector<bool> masks;
  if (b.causal == "off" || b.causal == "both") masks.push_back(false);
  if (b.causal == "on" || b.causal == "both") masks.push_back(true);
  if (masks.empty()) throw usage_error("--causal must be off, on or both (got '" + b.causal + "')");
  std::vector<RunResult> results;
  for (const Step* s : steps) {
    std::vector<DType> dtypes;
    for (const auto& name : b.dtypes) dtypes.push_back(parse_dtype(name));
    if (dtypes.empty()) dtypes.push_back(s->dtypes.front());
    for (DType t : dtypes)
      for (std::int64_t d : b.dims)
        for (bool causal : masks)
          for (std::int64_t n : b.seqs) {
            Problem p = base;
            p.dtype = t;
            p.d = d;
            p.causal = causal;
            p.sq = p.sk = n;
            p.b = b.batch ? b.batch : std::max<std::int64_t>(1, b.tokens / n);
            p.h = b.heads ? b.heads : std::max<std::int64_t>(1, b.hidden / d);
            validate(p);
            results.push_back(run_step(*s, p, c.run_options()));
            // CSV streams row by row; the table (aligned columns) and JSON print at the end.
            if (c.format() == Format::csv) print_results({results.back()}, Format::csv, out, results.size() == 1);
          }
  }
  if (c.format() != Format::csv) print_results(results, c.format(), out);
  // A sweep prints SKIP for what a step refuses; a sweep that measured nothing is an error.
  if (all_refused(results)) return kExitUnsupported;
  return exit_code_for(results, false);
}

}  // namespace

int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"fa: the FlashAttention workbook runner. With no command: every step on the default problem.", "fa"};
  app.require_subcommand(0, 1);

  CommonOptions common;
  Problem problem = default_problem();
  std::int64_t seq = 0;
  add_common(&app, common);

  auto* list = app.add_subcommand("list", "the steps, their dtypes, head dims and ideas");
  auto* info = app.add_subcommand("info", "the CUDA device and the ceilings the runner uses");
  bool info_json = false;
  info->add_flag("--json", info_json, "print JSON");

  auto* run = app.add_subcommand("run", "run steps on one problem: check, time, report");
  std::vector<std::string> run_steps;
  std::string in_q, in_k, in_v, save_o, save_lse;
  std::string scale_text;
  run->add_option("steps", run_steps, "step numbers or names, or 'all'")->required();
  add_problem(run, problem, seq);
  run->add_option("--scale", scale_text, "softmax scale (default 1/sqrt(D))");
  auto* oq = run->add_option("--load-q", in_q, "Q from a float32 .npy file (B, H, Sq, D)");
  auto* ok = run->add_option("--load-k", in_k, "K from a float32 .npy file (B, H, Sk, D)");
  auto* ov = run->add_option("--load-v", in_v, "V from a float32 .npy file (B, H, Sk, D)");
  oq->needs(ok)->needs(ov);
  ok->needs(oq)->needs(ov);
  ov->needs(oq)->needs(ok);
  run->add_option("--save-o", save_o, "write O to a float32 .npy file");
  run->add_option("--save-lse", save_lse, "write LSE to a float32 .npy file");
  add_common(run, common);

  auto* bench = app.add_subcommand("bench", "sweep sizes for steps, dtypes, head dims, masks");
  BenchOptions bopt;
  std::vector<std::string> bench_steps;
  bench->add_option("steps", bench_steps, "step numbers or names (default all)");
  add_integer(bench, "-n,--seq", bopt.seqs, "sequence lengths (Sq = Sk)")->delimiter(',');
  add_integer(bench, "-d,--head-dim", bopt.dims, "head dims")->delimiter(',');
  bench->add_option("--dtypes", bopt.dtypes, "dtypes (default: each step's native)")->delimiter(',');
  bench->add_option("--causal", bopt.causal, "off, on or both");
  add_integer(bench, "--tokens", bopt.tokens, "batch x N (default 16384)");
  add_integer(bench, "--hidden", bopt.hidden, "heads x D (default 2048)");
  add_integer(bench, "-b,--batch", bopt.batch, "fixed batch (overrides --tokens)");
  add_integer(bench, "-H,--heads", bopt.heads, "fixed heads (overrides --hidden)");
  add_integer(bench, "--seed", problem.seed, "input seed");
  add_common(bench, common);

  auto* traffic = app.add_subcommand("traffic", "run steps under Nsight Compute: io model vs measured bytes per kernel");
  std::vector<std::string> traffic_steps;
  TrafficOptions topt;
  traffic->add_option("steps", traffic_steps, "step numbers or names, or 'all'")->required();
  add_problem(traffic, problem, seq);
  add_inputs_and_format(traffic, common);
  traffic->add_option("--export", topt.export_dir, "keep the .ncu-rep reports in this directory");
  traffic->add_option("--ncu", topt.ncu, "path to ncu (default: PATH, then the CUDA toolkit)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {  // --help
      app.exit(e, out, err);
      return kExitOk;
    }
    err << "fa: error: " << e.what() << " (see fa --help)\n";
    return kExitUsage;
  }

  try {
    problem.dist = parse_dist(common.dist);
    if (!common.dtype.empty()) parse_dtype(common.dtype);  // reject a bad name before any work
    if (common.warmup < 0 || common.repeat < 0) throw usage_error("--warmup and --repeat must be >= 0");
    if (common.check_rows < 0) throw usage_error("--check-rows must be >= 0");

    if (*list) {
      print_list(out);
      return kExitOk;
    }
    if (*info) {
      print_device(query_device(), info_json ? Format::json : Format::table, out);
      return kExitOk;
    }
    if (*bench) {
      for (auto n : bopt.seqs)
        if (n < 1) throw usage_error("--seq values must be >= 1 (got " + std::to_string(n) + ")");
      for (auto d : bopt.dims)
        if (d < 1) throw usage_error("--head-dim values must be >= 1 (got " + std::to_string(d) + ")");
      if (bopt.tokens < 1 || bopt.hidden < 1 || bopt.batch < 0 || bopt.heads < 0)
        throw usage_error("--tokens and --hidden must be >= 1, --batch and --heads >= 0");
      return run_bench(resolve_steps(bench_steps), bopt, common, problem, out);
    }

    const bool seq_given = (*run && run->count("--seq") > 0) || (*traffic && traffic->count("--seq") > 0);
    if (*traffic) {
      if (seq_given) problem.sq = problem.sk = seq;
      validate(problem);
      topt.format = common.format();
      return run_traffic(resolve_steps(traffic_steps), problem, common.dtype, topt, out, err);
    }
    std::vector<std::string> names = *run ? run_steps : std::vector<std::string>{};
    if (seq_given) problem.sq = problem.sk = seq;
    if (!scale_text.empty()) {
      std::size_t used = 0;
      double v = 0;
      try {
        v = std::stod(scale_text, &used);
      } catch (const std::out_of_range&) {
        throw usage_error("--scale is out of range (got '" + scale_text + "')");
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != scale_text.size()) throw usage_error("--scale must be a number (got '" + scale_text + "')");
      problem.scale = v;
    }
    const auto steps = resolve_steps(names);
    if (*run && run->count("--load-q") > 0) {
      for (const auto& [name, path] : {std::pair{"--load-q", &in_q}, {"--load-k", &in_k}, {"--load-v", &in_v}})
        if (path->empty()) throw usage_error(std::string(name) + " needs a file name");
      for (const char* shape : {"--batch", "--heads", "--seq", "--seq-q", "--seq-k", "--head-dim"})
        if (run->count(shape) > 0)
          throw usage_error(std::string(shape) +
                            " cannot be combined with --load-q/--load-k/--load-v (the files give the shape)");
    }
    if (run->count("--save-o") > 0) check_output_path("--save-o", save_o);
    if (run->count("--save-lse") > 0) check_output_path("--save-lse", save_lse);

    std::vector<RunResult> results;
    RunOptions ro = common.run_options();
    ro.save_o = save_o;
    ro.save_lse = save_lse;
    if ((!save_o.empty() || !save_lse.empty()) && steps.size() != 1)
      throw usage_error("--save-o/--save-lse need exactly one step");
    for (const Step* s : steps) {
      Problem p = for_step(problem, *s, common);
      HostInputs user;
      if (!in_q.empty()) {
        user = load_inputs(in_q, in_k, in_v, p);
        ro.inputs = &user;
      }
      validate(p);
      results.push_back(run_step(*s, p, ro));
    }
    // A run in which every step was refused is an error: one line per refusal, no table.
    if (all_refused(results)) {
      for (const auto& r : results) err << "fa: error: " << r.reason << "\n";
      return kExitUnsupported;
    }
    print_results(results, common.format(), out);
    return exit_code_for(results, true);
  } catch (const Error& e) {
    err << "fa: error: " << e.what() << "\n";
    return e.exit_code();
  } catch (const std::bad_alloc&) {
    err << "fa: error: out of host memory\n";
    return kExitUnsupported;
  } catch (const std::exception& e) {  // anything else the library let through: still one line
    err << "fa: error: " << e.what() << "\n";
    return kExitUnsupported;
  }
}

}  // namespace fa
