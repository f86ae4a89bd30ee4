// The `fa` command line, driven in-process: exit codes, and error messages that are one line
// starting "fa: error:". None of these touch a GPU, except the last one, which checks what
// happens when there is none.
#include <doctest/doctest.h>

#include <cuda_runtime_api.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/cuda_check.hpp"
#include "common/error.hpp"
#include "cpu_test_util.hpp"
#include "steps/cli.hpp"
#include "steps/steps.hpp"

namespace fa {
namespace {

struct Cli {
  int code;
  std::string out, err;
};

Cli fa(std::initializer_list<std::string> args) {
  std::vector<std::string> words{"fa"};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<const char*> argv;
  for (const auto& w : words) argv.push_back(w.c_str());
  argv.push_back(nullptr);
  std::ostringstream out, err;
  const int code = run_cli(int(words.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// An error report is exactly one line, "fa: error: ...\n", and nothing went to stdout.
void check_one_line_error(const Cli& r) {
  CAPTURE(r.err);
  CHECK(r.err.rfind("fa: error:", 0) == 0);
  CHECK(r.err.find('\n') == r.err.size() - 1);
  CHECK(r.out.empty());
}

// Runs `fa args...`, expecting exit code `code` and a one-line error; returns the message.
std::string expect_error(std::initializer_list<std::string> args, int code) {
  const Cli r = fa(args);
  std::string cmd;
  for (const auto& a : args) cmd += " " + a;
  CAPTURE(cmd);
  CHECK(r.code == code);
  check_one_line_error(r);
  return r.err;
}

bool have_cuda_device() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

}  // namespace

TEST_CASE("fa list shows every step and exits 0") {
  const Cli r = fa({"list"});
  CHECK(r.code == kExitOk);
  CHECK(r.err.empty());
  for (const char* id : {"01_naive", "02_tiled", "03_online_softmax", "04_fused", "05_tensor_cores"}) {
    CAPTURE(std::string(id));
    CHECK(contains(r.out, id));
  }
  CHECK(contains(r.out, "fp32"));
  CHECK(contains(r.out, "needs sm_80\n"));      // 04, 05: Ampere or newer
  CHECK(contains(r.out, "needs sm_90 only\n"));  // 06: sm_90a code
}

TEST_CASE("the compute capability a step needs: a minimum, or sm_90a's one architecture") {
  const Step& fused = find_step("04");
  CHECK(why_unsupported_on(fused, "GPU", 8, 0).empty());
  CHECK(why_unsupported_on(fused, "GPU", 12, 0).empty());
  CHECK(why_unsupported_on(fused, "Tesla T4", 7, 5) == "04_fused needs compute capability 8.0 or newer; Tesla T4 is 7.5");
  for (const char* id : {"06_warp_specialized", "06_no_pingpong", "06_no_overlap", "06_no_warp_specialization",
                         "06_no_persistent"}) {
    CAPTURE(std::string(id));
    const Step& s = find_step(id);
    CHECK(why_unsupported_on(s, "H200", 9, 0).empty());
    for (auto [major, minor] : {std::pair{8, 0}, std::pair{8, 9}, std::pair{10, 0}, std::pair{12, 0}}) {
      const std::string why = why_unsupported_on(s, "GPU", major, minor);
      CHECK(why == std::string(id) + " needs compute capability 9.0 exactly; GPU is " + std::to_string(major) + "." +
                       std::to_string(minor));
    }
  }
  Step ranged = fused;
  ranged.max_sm = 90;
  CHECK(why_unsupported_on(ranged, "GPU", 10, 0) == "04_fused needs compute capability 8.0 to 9.0; GPU is 10.0");
  CHECK(why_unsupported_on(ranged, "GPU", 8, 6).empty());
  Step older = ranged;
  older.min_sm = 0;
  CHECK(why_unsupported_on(older, "GPU", 10, 0) == "04_fused needs compute capability 9.0 or older; GPU is 10.0");
}

TEST_CASE("a CUDA error is one line; a build without code for the GPU also says how to get some") {
  auto message = [](cudaError_t e) {
    try {
      throw_cuda(e, "cudaGetLastError()", "naive.cu", 7);
    } catch (const Error& err) {
      CHECK(err.exit_code() == kExitCuda);
      return std::string(err.what());
    }
    return std::string();
  };
  const std::string no_image = message(cudaErrorNoKernelImageForDevice);
  CHECK(contains(no_image, "cudaErrorNoKernelImageForDevice"));
  CHECK(contains(no_image, "naive.cu:7"));
  CHECK(contains(no_image, "-DCMAKE_CUDA_ARCHITECTURES=native"));
  const std::string other = message(cudaErrorMemoryAllocation);
  CHECK(contains(other, "cudaErrorMemoryAllocation"));
  CHECK_FALSE(contains(other, "CMAKE_CUDA_ARCHITECTURES"));
  CHECK(no_image.find('\n') == std::string::npos);
}

TEST_CASE("fa --help prints usage and exits 0") {
  for (auto args : {std::initializer_list<std::string>{"--help"}, {"-h"}, {"run", "--help"}, {"bench", "--help"}}) {
    const Cli r = fa(args);
    CHECK(r.code == kExitOk);
    CHECK(contains(r.out, "Usage"));
    CHECK(r.err.empty());
  }
  CHECK(contains(fa({"--help"}).out, "run"));
  CHECK(contains(fa({"run", "--help"}).out, "--seq-q"));
}

TEST_CASE("no option has a one-letter long name (CLI11 2.4 refuses --q beside -q, at start-up)") {
  // CLI11 2.1 accepts such a pair and 2.4 throws while the options are added, before any
  // parsing: every command would abort. The help lists every option of each command.
  for (auto args : {std::initializer_list<std::string>{"--help"}, {"run", "--help"}, {"bench", "--help"},
                    {"traffic", "--help"}, {"info", "--help"}}) {
    const std::string help = fa(args).out;
    for (std::size_t at = help.find("--"); at != std::string::npos; at = help.find("--", at + 2)) {
      std::size_t end = at + 2;
      while (end < help.size() && (std::isalnum(static_cast<unsigned char>(help[end])) || help[end] == '-')) ++end;
      CAPTURE(help.substr(at, end - at));
      CHECK(end - at != 3);
    }
  }
}

TEST_CASE("an unknown step is a usage error that lists the known ones") {
  for (const char* name : {"99", "00", "tiledd"}) {
    const std::string m = expect_error({"run", name}, kExitUsage);
    CHECK(contains(m, std::string("'") + name + "'"));
    CHECK(contains(m, "01_naive"));
    CHECK(contains(m, "05_tensor_cores"));
  }
  expect_error({"bench", "99"}, kExitUsage);
}

TEST_CASE("bad sizes are usage errors naming the option") {
  CHECK(contains(expect_error({"run", "1", "-q", "0"}, kExitUsage), "seq-q"));
  CHECK(contains(expect_error({"run", "1", "--seq-q", "0"}, kExitUsage), "seq-q"));
  CHECK(contains(expect_error({"run", "1", "-k", "0"}, kExitUsage), "seq-k"));
  CHECK(contains(expect_error({"run", "1", "-n", "0"}, kExitUsage), "seq"));
  CHECK(contains(expect_error({"run", "1", "-b", "0"}, kExitUsage), "batch"));
  CHECK(contains(expect_error({"run", "1", "-H", "0"}, kExitUsage), "heads"));
  CHECK(contains(expect_error({"run", "1", "-d", "0"}, kExitUsage), "head-dim"));
  expect_error({"run", "1", "-q", "-5"}, kExitUsage);
  expect_error({"run", "1", "-q", "abc"}, kExitUsage);
  expect_error({"run", "1", "-q", "1.5"}, kExitUsage);
  expect_error({"run", "1", "-q", "99999999999999999999"}, kExitUsage);
  CHECK(contains(expect_error({"run", "1", "-d", "4294967296"}, kExitUsage), "head-dim"));
  // A number beyond its type is quoted as typed, not as the value it would saturate to.
  CHECK(contains(expect_error({"run", "1", "-b", "99999999999999999999"}, kExitUsage),
                 "'99999999999999999999' is out of range"));
  CHECK(contains(expect_error({"run", "1", "--seed", "-1"}, kExitUsage), "--seed"));
  CHECK(contains(expect_error({"run", "1", "--seed", "18446744073709551616"}, kExitUsage), "out of range"));
  CHECK(contains(expect_error({"run", "1", "--warmup", "99999999999"}, kExitUsage), "out of range"));
  // --seq sets both lengths, so it and --seq-q / --seq-k contradict each other.
  expect_error({"run", "1", "-n", "128", "-q", "64"}, kExitUsage);
  expect_error({"traffic", "1", "-k", "64", "-n", "128"}, kExitUsage);
}

TEST_CASE("other bad options are usage errors") {
  expect_error({"run", "1", "--dtype", "fp64"}, kExitUsage);
  expect_error({"run", "1", "--dist", "weird"}, kExitUsage);
  expect_error({"run", "1", "--csv", "--json"}, kExitUsage);
  expect_error({"run", "1", "--frobnicate"}, kExitUsage);
  expect_error({"run"}, kExitUsage);  // a step is required
  expect_error({"frobnicate"}, kExitUsage);
  CHECK(contains(expect_error({"run", "1", "--scale", "abc"}, kExitUsage), "scale"));
  CHECK(contains(expect_error({"run", "1", "--scale", "0"}, kExitUsage), "scale"));
  CHECK(contains(expect_error({"run", "1", "--warmup", "-1"}, kExitUsage), "warmup"));
  CHECK(contains(expect_error({"run", "1", "--check-rows", "-1"}, kExitUsage), "check-rows"));
  // --save-o names one output file, so it needs exactly one step.
  CHECK(contains(expect_error({"run", "1", "4", "--save-o", "o.npy"}, kExitUsage), "one step"));
  CHECK(contains(expect_error({"run", "1", "--scale", "1e999"}, kExitUsage), "out of range"));
  CHECK(contains(expect_error({"run", "all", "1"}, kExitUsage), "'all'"));
  // run's --causal takes no value: "on" would otherwise be an unknown step without a hint.
  CHECK(contains(expect_error({"run", "1", "--causal", "on"}, kExitUsage), "--causal is a flag"));
}

TEST_CASE("--save-o/--save-lse: a path that cannot be written is refused before any work") {
  test::TempDir dir;
  CHECK(contains(expect_error({"run", "1", "--save-o", ""}, kExitUsage), "needs a file name"));
  CHECK(contains(expect_error({"run", "1", "--save-lse", ""}, kExitUsage), "needs a file name"));
  std::filesystem::create_directory(dir.file("out"));
  CHECK(contains(expect_error({"run", "1", "--save-o", dir.file("out")}, kExitUnsupported), "is a directory"));
  CHECK(contains(expect_error({"run", "1", "--save-lse", dir.file("none/lse.npy")}, kExitUnsupported),
                 "no directory"));
}

TEST_CASE("an unsupported dtype is refused before any device work, in one line") {
  // Exit 3 (unsupported), not 4 (no CUDA device): the refusal comes first, even here.
  const std::string m = expect_error({"run", "1", "--dtype", "bf16"}, kExitUnsupported);
  CHECK(contains(m, "01_naive"));
  CHECK(contains(m, "bf16"));
  CHECK(contains(m, "does not support"));
}

TEST_CASE("--load-q/--load-k/--load-v: missing files and incomplete sets") {
  test::TempDir dir;
  const std::string missing = dir.file("missing.npy");
  const std::string m = expect_error({"run", "1", "--load-q", missing, "--load-k", missing, "--load-v", missing}, kExitUnsupported);
  CHECK(contains(m, missing));

  // All three or none.
  expect_error({"run", "1", "--load-q", "x.npy"}, kExitUsage);
  expect_error({"run", "1", "--load-q", "x.npy", "--load-k", "x.npy"}, kExitUsage);
  expect_error({"run", "1", "--load-v", "x.npy"}, kExitUsage);
  // The files give the shape, so --seq (or any other size) with them is a contradiction.
  CHECK(contains(expect_error({"run", "1", "--load-q", missing, "--load-k", missing, "--load-v", missing, "-n", "64"}, kExitUsage),
                 "--seq"));
  CHECK(contains(expect_error({"run", "1", "--load-q", missing, "--load-k", missing, "--load-v", missing, "-b", "2"}, kExitUsage),
                 "--batch"));
  CHECK(contains(expect_error({"run", "1", "--load-q", missing, "--load-k", missing, "--load-v", missing, "-d", "32"}, kExitUsage),
                 "--head-dim"));
  // An empty name is not "no file": the other two would be dropped without a word.
  CHECK(contains(expect_error({"run", "1", "--load-q", "", "--load-k", missing, "--load-v", missing}, kExitUsage), "--load-q"));
  // A directory where a file should be.
  std::filesystem::create_directory(dir.file("q.npy"));
  CHECK(contains(expect_error({"run", "1", "--load-q", dir.file("q.npy"), "--load-k", missing, "--load-v", missing}, kExitUnsupported),
                 "is a directory"));
}

TEST_CASE("bench: bad sweep options are usage errors") {
  CHECK(contains(expect_error({"bench", "1", "--causal", "sideways"}, kExitUsage), "sideways"));
  CHECK(contains(expect_error({"bench", "1", "-n", "0"}, kExitUsage), "--seq"));
  expect_error({"bench", "1", "-n", "512,0"}, kExitUsage);
  CHECK(contains(expect_error({"bench", "1", "-d", "0"}, kExitUsage), "--head-dim"));
  expect_error({"bench", "1", "--dtypes", "fp64"}, kExitUsage);
  expect_error({"bench", "1", "--tokens", "0"}, kExitUsage);
  expect_error({"bench", "1", "--csv", "--json"}, kExitUsage);
  CHECK(contains(expect_error({"bench", "1", "-n", "512,99999999999999999999"}, kExitUsage), "out of range"));
  CHECK(contains(expect_error({"bench", "1", "-n", "512,abc"}, kExitUsage), "'abc'"));
}

TEST_CASE("bench: a sweep in which every point is refused exits 3, its SKIP rows printed") {
  // Step 05 takes no head dim 72: refused before any device work, so this holds without a GPU.
  const Cli r = fa({"bench", "5", "-d", "72", "-n", "64,128", "--csv"});
  CHECK(r.code == kExitUnsupported);
  CHECK(contains(r.out, "SKIP"));
  CHECK(contains(r.out, "head dim 72"));
}

TEST_CASE("traffic: bad steps and sizes are usage errors before ncu is looked for") {
  CHECK(contains(expect_error({"traffic", "99"}, kExitUsage), "'99'"));
  CHECK(contains(expect_error({"traffic", "1", "-q", "0"}, kExitUsage), "seq-q"));
  expect_error({"traffic"}, kExitUsage);
  expect_error({"traffic", "1", "--csv", "--json"}, kExitUsage);
}

TEST_CASE("traffic: refusals come before ncu, and a report directory that cannot be made is one line") {
  // Every step refused: the refusal is the error, whether or not ncu is installed.
  CHECK(contains(expect_error({"traffic", "5", "-d", "72"}, kExitUnsupported), "head dim 72"));
  // A stand-in for ncu that is never run: the report directory below a file cannot be made.
  test::TempDir dir;
  std::ofstream(dir.file("file")) << "x";
  CHECK(contains(expect_error({"traffic", "1", "--ncu", "/bin/true", "--export", dir.file("file/reports")},
                              kExitUnsupported),
                 "report directory"));
}

TEST_CASE("a valid run without a CUDA device fails with exit 4 and one line") {
  if (have_cuda_device()) {
    MESSAGE("a CUDA device is present: the no-device path is not tested here");
    return;
  }
  const std::string m = expect_error({"run", "1", "-b", "1", "-H", "1", "-n", "16"}, kExitCuda);
  CHECK(contains(m, "no CUDA device"));
  CHECK(contains(expect_error({"info"}, kExitCuda), "no CUDA device"));
  // traffic says so too, before it would run ncu (here a stand-in that is never run).
  test::TempDir dir;
  CHECK(contains(expect_error({"traffic", "1", "--ncu", "/bin/true", "--export", dir.file("reports")}, kExitCuda),
                 "no CUDA device"));
}

}  // namespace fa
