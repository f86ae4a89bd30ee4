#include "common/npy.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "common/error.hpp"

namespace fa {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicLen = 6;
constexpr std::size_t kPreludeLen = 10;  // magic, 2 version bytes, 2-byte header length
constexpr std::size_t kAlign = 64;       // numpy pads the header so the data starts aligned

Error bad(const std::string& source, const std::string& why) {
  return unsupported(source + ": not a supported .npy file: " + why);
}

// Value of `key` in the header dict, as the raw text up to the next top-level comma or brace.
std::string dict_value(const std::string& header, const std::string& key, const std::string& source) {
  const std::string quoted = "'" + key + "'";
  std::size_t pos = header.find(quoted);
  if (pos == std::string::npos) throw bad(source, "header has no " + quoted);
  pos = header.find(':', pos + quoted.size());
  if (pos == std::string::npos) throw bad(source, "header is malformed");
  ++pos;
  while (pos < header.size() && header[pos] == ' ') ++pos;
  std::size_t end = pos;
  if (end < header.size() && header[end] == '(') {
    end = header.find(')', end);
    if (end == std::string::npos) throw bad(source, "shape tuple is not closed");
    return header.substr(pos, end - pos + 1);
  }
  while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
  return header.substr(pos, end - pos);
}

std::vector<std::int64_t> parse_shape(const std::string& tuple, const std::string& source) {
  // dict_value returns a parenthesised tuple whole; anything else (e.g. 'shape': 6) is not one.
  if (tuple.empty() || tuple.front() != '(') throw bad(source, "shape " + tuple + " is not a tuple of integers");
  std::vector<std::int64_t> shape;
  std::size_t i = 1;  // past '('
  while (i < tuple.size()) {
    while (i < tuple.size() && (tuple[i] == ' ' || tuple[i] == ',')) ++i;
    if (i >= tuple.size() || tuple[i] == ')') break;
    std::size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(tuple.substr(i), &used);
    } catch (const std::exception&) {
      throw bad(source, "shape " + tuple + " is not a tuple of integers");
    }
    if (v < 0) throw bad(source, "shape " + tuple + " has a negative dimension");
    shape.push_back(v);
    i += used;
  }
  return shape;
}

}  // namespace

NpyArray parse_npy(const std::string& bytes, const std::string& source) {
  // A file that starts with the magic but stops before the header length is truncated, not
  // "wrong magic".
  if (bytes.size() < kMagicLen || std::memcmp(bytes.data(), kMagic, kMagicLen) != 0)
    throw bad(source, "wrong magic (expected \\x93NUMPY)");
  if (bytes.size() < kPreludeLen) throw bad(source, "truncated header");
  const int major = static_cast<unsigned char>(bytes[6]), minor = static_cast<unsigned char>(bytes[7]);
  if (major != 1 || minor != 0)
    throw bad(source, "format version " + std::to_string(major) + "." + std::to_string(minor) +
                          " (only 1.0 is supported)");
  const std::size_t header_len =
      static_cast<unsigned char>(bytes[8]) | (std::size_t(static_cast<unsigned char>(bytes[9])) << 8);
  if (bytes.size() < kPreludeLen + header_len) throw bad(source, "truncated header");
  const std::string header = bytes.substr(kPreludeLen, header_len);

  const std::string descr = dict_value(header, "descr", source);
  if (descr != "'<f4'") throw bad(source, "dtype " + descr + " (only float32 '<f4' is supported)");
  const std::string fortran = dict_value(header, "fortran_order", source);
  if (fortran != "False") throw bad(source, "fortran_order is " + fortran + " (only C order is supported)");

  NpyArray a;
  a.shape = parse_shape(dict_value(header, "shape", source), source);
  std::size_t count = 1;
  for (auto dim : a.shape) {
    if (dim != 0 && count > (std::size_t(1) << 40) / std::size_t(dim))
      throw bad(source, "shape is absurdly large");
    count *= std::size_t(dim);
  }
  const std::size_t have = bytes.size() - kPreludeLen - header_len;
  if (have < count * sizeof(float))
    throw bad(source, "truncated data (" + std::to_string(have) + " bytes for " + std::to_string(count) +
                          " float32 values)");
  if (have > count * sizeof(float))
    throw bad(source, "trailing bytes after the data (" + std::to_string(have) + " bytes for " +
                          std::to_string(count) + " float32 values)");
  a.data.resize(count);
  if (count) std::memcpy(a.data.data(), bytes.data() + kPreludeLen + header_len, count * sizeof(float));
  return a;
}

std::string serialize_npy(const std::vector<std::int64_t>& shape, const float* data) {
  std::ostringstream dict;
  dict << "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  std::size_t count = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    dict << shape[i] << (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
    if (i + 1 < shape.size()) dict << " ";
    count *= std::size_t(shape[i]);
  }
  dict << "), }";
  std::string header = dict.str();
  // Pad with spaces and end with a newline so that prelude + header is a multiple of 64.
  const std::size_t total = kPreludeLen + header.size() + 1;
  header.append((kAlign - total % kAlign) % kAlign, ' ');
  header.push_back('\n');

  std::string out(kMagic, kMagicLen);
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(char(header.size() & 0xff));
  out.push_back(char(header.size() >> 8));
  out += header;
  if (count) out.append(reinterpret_cast<const char*>(data), count * sizeof(float));
  return out;
}

NpyArray load_npy(const std::string& path) {
  // A directory opens as a stream and fails only when read (by throwing, in libstdc++).
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw unsupported(path + ": is a directory, not a .npy file");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw unsupported(path + ": cannot open for reading");
  std::string bytes;
  try {
    bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  } catch (const std::ios_base::failure& e) {
    throw unsupported(path + ": cannot read (" + e.code().message() + ")");
  }
  return parse_npy(bytes, path);
}

void save_npy(const std::string& path, const std::vector<std::int64_t>& shape, const float* data) {
  const std::string bytes = serialize_npy(shape, data);
  std::ofstream f(path, std::ios::binary);
  if (!f) throw unsupported(path + ": cannot open for writing");
  f.write(bytes.data(), std::streamsize(bytes.size()));
  if (!f) throw unsupported(path + ": write failed");
}

}  // namespace fa
