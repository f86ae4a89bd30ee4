// The `fa` runner's command line: parse, call the driver, print. main() only calls this, so
// tests can drive the whole CLI in-process and read what it prints.
#pragma once

#include <ostream>

namespace fa {

// Returns the process exit code (see common/error.hpp); never calls exit().
int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace fa
