#include "common/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <iomanip>
#include <sstream>
#include <string>

namespace fa {
namespace {

std::string num(double v, int precision = 4) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::ostringstream s;
  s << std::setprecision(precision) << v;
  return s.str();
}

std::string fixed(double v, int decimals) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(decimals) << v;
  return s.str();
}

// One column: its name, whether the human table shows it, whether JSON writes it as a number,
// and how to read it off a result ("" when it does not apply, e.g. time of a skipped run).
struct Column {
  const char* name;
  bool in_table;
  bool numeric;
  std::function<std::string(const RunResult&)> get;
};

std::string if_checked(const RunResult& r, double v) { return r.checked ? num(v) : ""; }
std::string if_timed(const RunResult& r, const std::string& v) { return r.time.repeats ? v : ""; }

const std::vector<Column>& columns() {
  static const std::vector<Column> cols = {
      {"step", true, false, [](const RunResult& r) { return r.step; }},
      {"problem", true, false, [](const RunResult& r) { return r.problem.describe(); }},
      {"status", true, false, [](const RunResult& r) { return std::string(status_name(r.status)); }},
      {"rel_l2", true, true, [](const RunResult& r) { return if_checked(r, r.check.rel_l2); }},
      {"max_abs", false, true, [](const RunResult& r) { return if_checked(r, r.check.max_abs); }},
      {"lse_err", false, true, [](const RunResult& r) { return if_checked(r, r.check.lse_err); }},
      {"rows_checked", false, true,
       [](const RunResult& r) { return r.checked ? std::to_string(r.check.rows_checked) : ""; }},
      {"rows_total", false, true, [](const RunResult& r) { return std::to_string(r.problem.rows()); }},
      {"unwritten", false, true,
       [](const RunResult& r) { return r.checked ? std::to_string(r.check.o_unwritten + r.check.lse_unwritten) : ""; }},
      {"nonfinite", false, true,
       [](const RunResult& r) { return r.checked ? std::to_string(r.check.o_nonfinite + r.check.lse_nan) : ""; }},
      {"ms", true, true, [](const RunResult& r) { return if_timed(r, fixed(r.time.median_ms, 4)); }},
      {"min_ms", false, true, [](const RunResult& r) { return if_timed(r, fixed(r.time.min_ms, 4)); }},
      {"max_ms", false, true, [](const RunResult& r) { return if_timed(r, fixed(r.time.max_ms, 4)); }},
      {"tflops", true, true, [](const RunResult& r) { return if_timed(r, fixed(r.tflops(), 2)); }},
      {"io_compulsory_mb", true, true, [](const RunResult& r) { return fixed(r.io.compulsory() / 1e6, 1); }},
      {"io_requested_mb", true, true, [](const RunResult& r) { return fixed(r.io.requested() / 1e6, 1); }},
      {"requested_gbs", true, true, [](const RunResult& r) { return if_timed(r, fixed(r.requested_gbs(), 0)); }},
      {"workspace_mb", true, true, [](const RunResult& r) { return fixed(double(r.workspace_bytes) / 1e6, 1); }},
      {"flops", false, true, [](const RunResult& r) { return num(r.flops, 6); }},
      {"reason", false, false, [](const RunResult& r) { return r.reason; }},
  };
  return cols;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += (c == '"') ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string json_string(const std::string& s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      q += '\\';
      q += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      std::ostringstream e;
      e << "\\u" << std::hex << std::setw(4) << std::setfill('0') << int(c);
      q += e.str();
    } else {
      q += c;
    }
  }
  return q + "\"";
}

// A JSON number must be finite; NaN and infinities become null.
std::string json_number(const std::string& s) {
  if (s.empty() || s == "nan" || s == "inf" || s == "-inf") return "null";
  return s;
}

bool is_number(const std::string& v) {
  if (v.empty()) return false;
  char* end = nullptr;
  std::strtod(v.c_str(), &end);
  return end && *end == '\0';
}

}  // namespace

void print_results(const std::vector<RunResult>& results, Format f, std::ostream& out, bool header) {
  const auto& cols = columns();
  if (f == Format::csv) {
    std::vector<std::vector<std::string>> rows(1);
    for (const auto& c : cols) rows[0].push_back(c.name);
    for (const auto& r : results) {
      rows.emplace_back();
      for (const auto& c : cols) rows.back().push_back(c.get(r));
    }
    if (!header) rows.erase(rows.begin());
    print_rows(rows, Format::csv, out, 0);
    out.flush();
    return;
  }
  if (f == Format::json) {  // typed by column, not guessed from the text
    out << "[\n";
    for (std::size_t i = 0; i < results.size(); ++i) {
      out << "  {";
      for (std::size_t c = 0; c < cols.size(); ++c) {
        const std::string v = cols[c].get(results[i]);
        out << json_string(cols[c].name) << ": " << (cols[c].numeric ? json_number(v) : json_string(v))
            << (c + 1 < cols.size() ? ", " : "");
      }
      out << "}" << (i + 1 < results.size() ? "," : "") << "\n";
    }
    out << "]\n";
    return;
  }
  std::vector<std::vector<std::string>> rows(1);
  for (const auto& c : cols)
    if (c.in_table) rows[0].push_back(c.name);
  for (const auto& r : results) {
    rows.emplace_back();
    for (const auto& c : cols)
      if (c.in_table) rows.back().push_back(c.get(r));
  }
  print_rows(rows, Format::table, out, 3);
  for (const auto& r : results) {
    if (r.status != Status::ok) out << status_name(r.status) << " " << r.step << ": " << r.reason << "\n";
    if (r.checked && r.check.rows_checked < r.check.rows_total)
      out << "note " << r.step << " " << r.problem.describe() << ": checked " << r.check.rows_checked << " of "
          << r.check.rows_total << " rows (seeded sample)\n";
  }
}

void print_device(const DeviceInfo& d, Format f, std::ostream& out) {
  const std::vector<std::pair<std::string, std::string>> fields = {
      {"name", d.name},
      {"compute_capability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor)},
      {"sms", std::to_string(d.sms)},
      {"memory_total_gib", fixed(double(d.mem_total) / double(1ull << 30), 1)},
      {"memory_free_gib", fixed(double(d.mem_free) / double(1ull << 30), 1)},
      {"l2_mb", fixed(double(d.l2_bytes) / 1e6, 1)},
      {"smem_per_block_kib", fixed(double(d.smem_per_block_optin) / 1024.0, 0)},
      {"sm_clock_ghz", fixed(d.sm_clock_ghz, 3)},
      {"mem_clock_ghz", fixed(d.mem_clock_ghz, 3)},
      {"bus_width_bits", std::to_string(d.bus_width_bits)},
      {"hbm_peak_gbs", fixed(d.hbm_gbs, 0)},
      {"fp32_peak_tflops", fixed(d.fp32_tflops, 1)},
      {"tensor_fp16_bf16_dense_peak_tflops", fixed(d.tensor_16bit_tflops, 1)},
  };
  if (f == Format::json) {
    out << "{";
    for (std::size_t i = 0; i < fields.size(); ++i)
      out << json_string(fields[i].first) << ": "
          << (i == 0 || i == 1 ? json_string(fields[i].second) : json_number(fields[i].second))
          << (i + 1 < fields.size() ? ", " : "}\n");
    return;
  }
  if (f == Format::csv) {
    for (std::size_t i = 0; i < fields.size(); ++i) out << fields[i].first << (i + 1 < fields.size() ? "," : "\n");
    for (std::size_t i = 0; i < fields.size(); ++i)
      out << csv_field(fields[i].second) << (i + 1 < fields.size() ? "," : "\n");
    return;
  }
  for (const auto& [k, v] : fields) out << std::left << std::setw(36) << k << v << "\n";
  out << "(peaks are theoretical: clocks x units; a zero means this architecture is not tabulated)\n";
}

void print_rows(const std::vector<std::vector<std::string>>& rows, Format f, std::ostream& out,
                std::size_t text_columns) {
  if (rows.empty()) return;
  const auto& head = rows.front();
  if (f == Format::csv) {
    for (const auto& row : rows)
      for (std::size_t c = 0; c < row.size(); ++c) out << csv_field(row[c]) << (c + 1 < row.size() ? "," : "\n");
    return;
  }
  if (f == Format::json) {
    out << "[\n";
    for (std::size_t i = 1; i < rows.size(); ++i) {
      out << "  {";
      for (std::size_t c = 0; c < head.size(); ++c)
        out << json_string(head[c]) << ": " << (is_number(rows[i][c]) ? rows[i][c] : json_string(rows[i][c]))
            << (c + 1 < head.size() ? ", " : "");
      out << "}" << (i + 1 < rows.size() ? "," : "") << "\n";
    }
    out << "]\n";
    return;
  }
  std::vector<std::size_t> width(head.size(), 0);
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      out << (c < text_columns ? std::left : std::right) << std::setw(int(width[c])) << row[c];
      out << (c + 1 < row.size() ? "  " : "\n");
    }
  }
  out << std::left;
}

}  // namespace fa
