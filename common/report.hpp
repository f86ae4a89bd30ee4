// Results out: a human table (default), CSV and JSON, all from the same fields.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "common/driver.hpp"

namespace fa {

enum class Format { table, csv, json };

// CSV without its header line when `header` is false, so a sweep can print each row as soon as
// it is measured (a long sweep cut short still leaves its rows).
void print_results(const std::vector<RunResult>& results, Format f, std::ostream& out, bool header = true);
void print_device(const DeviceInfo& d, Format f, std::ostream& out);

// A table of strings whose first row is the header: aligned text (the first `text_columns`
// left-aligned, the rest right-aligned), CSV, or JSON (an array of objects; fields that parse
// as numbers are written as numbers).
void print_rows(const std::vector<std::vector<std::string>>& rows, Format f, std::ostream& out,
                std::size_t text_columns);

}  // namespace fa
