// One error type for the whole library. The runner turns it into a one-line message and
// an exit code; nothing below the runner calls exit().
#pragma once

#include <stdexcept>
#include <string>

namespace fa {

// Exit codes of the `fa` runner (documented in README.md).
enum ExitCode : int {
  kExitOk = 0,
  kExitCheckFailed = 1,   // a step ran but its output failed the check
  kExitUsage = 2,         // bad command line: unknown option, bad size, unknown step
  kExitUnsupported = 3,   // refused before any work: dtype, head dim, GPU, memory, input file
  kExitCuda = 4,          // a CUDA call failed (no device, launch failure, ...)
};

class Error : public std::runtime_error {
 public:
  Error(const std::string& what, int exit_code) : std::runtime_error(what), code_(exit_code) {}
  int exit_code() const { return code_; }

 private:
  int code_;
};

// Convenience constructors for the common kinds.
inline Error usage_error(const std::string& m) { return Error(m, kExitUsage); }
inline Error unsupported(const std::string& m) { return Error(m, kExitUnsupported); }

}  // namespace fa
