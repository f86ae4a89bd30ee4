// Results out: a human table (default), CSV and JSON, all from the same fields.
#pragma once

#include <ostream>
#include <vector>

#include "common/driver.hpp"

namespace fa {

enum class Format { table, csv, json };

void print_results(const std::vector<RunResult>& results, Format f, std::ostream& out);
void print_device(const DeviceInfo& d, Format f, std::ostream& out);

}  // namespace fa
