// .npy files: bit-exact round trips, a header numpy itself would accept, clear one-line errors
// for every format we do not support, and load_inputs' shape inference.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/inputs.hpp"
#include "common/npy.hpp"
#include "cpu_test_util.hpp"

namespace fa {
namespace {

using test::TempDir;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::vector<float> iota_floats(std::size_t n, float start = 0.5f) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = start + float(i) * 0.25f;
  return v;
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// A .npy byte string with an arbitrary header dict, padded the way numpy pads (spaces, then
// '\n', to a multiple of 64), for building malformed files.
std::string make_npy(const std::string& dict, const std::string& data, char major = 1, char minor = 0) {
  std::string header = dict;
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::string out = "\x93NUMPY";
  out.push_back(major);
  out.push_back(minor);
  out.push_back(char(header.size() & 0xff));
  out.push_back(char(header.size() >> 8));
  return out + header + data;
}

std::string float_bytes(std::size_t n) {
  const auto v = iota_floats(n);
  return std::string(reinterpret_cast<const char*>(v.data()), n * sizeof(float));
}

// The message of the fa::Error parse_npy throws for `bytes` (checking it is a one-line
// "unsupported" error naming the source), or fails the test.
std::string parse_error(const std::string& bytes) {
  try {
    parse_npy(bytes, "input.npy");
  } catch (const Error& e) {
    const std::string m = e.what();
    CHECK(e.exit_code() == kExitUnsupported);
    CHECK(m.find('\n') == std::string::npos);
    CHECK(contains(m, "input.npy"));
    return m;
  }
  FAIL("parse_npy accepted a malformed file");
  return "";
}

const std::string kGood = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

}  // namespace

TEST_CASE("serialize_npy / parse_npy round-trip 1-D to 4-D arrays bit-exactly") {
  const std::vector<std::vector<std::int64_t>> shapes = {{7}, {3, 5}, {2, 3, 4}, {2, 3, 5, 8}, {1, 1, 1, 1}, {0}, {4, 0}};
  for (const auto& shape : shapes) {
    std::size_t n = 1;
    for (auto d : shape) n *= std::size_t(d);
    auto data = iota_floats(n, -3.0f);
    // Values whose bits matter: signed zero, infinities, a NaN with a payload, a denormal.
    const float specials[] = {-0.0f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                              std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::max()};
    for (std::size_t i = 0; i < n && i < 5; ++i) data[i] = specials[i];
    if (n > 5) {
      const std::uint32_t payload = 0x7fc0beefu;
      std::memcpy(&data[5], &payload, 4);
    }
    CAPTURE(shape.size());
    CAPTURE(n);
    const std::string bytes = serialize_npy(shape, data.data());
    const NpyArray a = parse_npy(bytes, "mem");
    CHECK(a.shape == shape);
    CHECK(bit_equal(a.data, data));
  }
}

TEST_CASE("save_npy / load_npy round-trip through files") {
  TempDir dir;
  const std::vector<std::vector<std::int64_t>> shapes = {{5}, {4, 3}, {2, 4, 3}, {2, 2, 4, 3}};
  for (const auto& shape : shapes) {
    std::size_t n = 1;
    for (auto d : shape) n *= std::size_t(d);
    const auto data = iota_floats(n, 1.0f / 3);
    const std::string path = dir.file("a" + std::to_string(shape.size()) + ".npy");
    save_npy(path, shape, data.data());
    const NpyArray a = load_npy(path);
    CHECK(a.shape == shape);
    CHECK(bit_equal(a.data, data));
  }
}

TEST_CASE("the header follows numpy's format 1.0 rules") {
  const auto data = iota_floats(24);
  SUBCASE("prelude, alignment, dict and the trailing newline") {
    for (const auto& shape : std::vector<std::vector<std::int64_t>>{{24}, {4, 6}, {2, 3, 4}, {1, 2, 3, 4}}) {
      const std::string b = serialize_npy(shape, data.data());
      REQUIRE(b.size() >= 10);
      CHECK(b.compare(0, 8, std::string("\x93NUMPY\x01\x00", 8)) == 0);
      const std::size_t hlen = std::size_t(static_cast<unsigned char>(b[8])) | (std::size_t(static_cast<unsigned char>(b[9])) << 8);
      CHECK((10 + hlen) % 64 == 0);                   // data starts 64-byte aligned
      CHECK(b.size() == 10 + hlen + 24 * 4);          // then exactly the data
      const std::string header = b.substr(10, hlen);
      CHECK(header.back() == '\n');
      CHECK(header.front() == '{');
      CHECK(contains(header, "'descr': '<f4'"));
      CHECK(contains(header, "'fortran_order': False"));
    }
  }
  SUBCASE("shape tuples are valid Python literals") {
    // numpy evaluates the header as a Python literal: a 1-tuple needs its trailing comma.
    CHECK(contains(serialize_npy({24}, data.data()), "'shape': (24,)"));
    CHECK(contains(serialize_npy({4, 6}, data.data()), "'shape': (4, 6)"));
    CHECK(contains(serialize_npy({1, 2, 3, 4}, data.data()), "'shape': (1, 2, 3, 4)"));
  }
  SUBCASE("a header exactly as numpy writes it parses") {
    // np.save of np.zeros((2, 3), np.float32): this dict, padded to 128 bytes in total.
    const std::string b = make_npy(kGood, float_bytes(6));
    REQUIRE(b.size() == 128 + 24);
    REQUIRE(b[8] == 'v');  // header length 118, as numpy writes it
    const NpyArray a = parse_npy(b, "numpy.npy");
    CHECK(a.shape == std::vector<std::int64_t>{2, 3});
    CHECK(bit_equal(a.data, iota_floats(6)));
  }
  SUBCASE("keys in another order, a 0-D array") {
    const NpyArray a = parse_npy(make_npy("{'shape': (3,), 'fortran_order': False, 'descr': '<f4'}", float_bytes(3)), "x");
    CHECK(a.shape == std::vector<std::int64_t>{3});
    const NpyArray s = parse_npy(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", float_bytes(1)), "x");
    CHECK(s.shape.empty());
    CHECK(s.data.size() == 1);
  }
}

TEST_CASE("malformed or unsupported .npy input gives a clear one-line fa::Error") {
  SUBCASE("wrong magic") {
    std::string b = make_npy(kGood, float_bytes(6));
    b[1] = 'M';
    CHECK(contains(parse_error(b), "magic"));
    CHECK(contains(parse_error("PK\x03\x04 this is a zip file"), "magic"));
    CHECK(contains(parse_error(""), "magic"));
  }
  SUBCASE("format version 2.0") {
    const std::string m = parse_error(make_npy(kGood, float_bytes(6), 2, 0));
    CHECK(contains(m, "version 2.0"));
    CHECK(contains(m, "1.0"));  // says what is supported
  }
  SUBCASE("dtype other than little-endian float32") {
    for (const char* descr : {"<f8", ">f4", "<i4", "<f2", "|u1"}) {
      CAPTURE(std::string(descr));
      const std::string m = parse_error(
          make_npy("{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': (2, 3), }", float_bytes(6)));
      CHECK(contains(m, descr));
      CHECK(contains(m, "'<f4'"));
    }
  }
  SUBCASE("fortran_order True") {
    const std::string m = parse_error(make_npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", float_bytes(6)));
    CHECK(contains(m, "fortran_order"));
  }
  SUBCASE("truncated data") {
    const std::string m = parse_error(make_npy(kGood, float_bytes(5)));
    CHECK(contains(m, "truncated data"));
    std::string b = make_npy(kGood, float_bytes(6));
    b.pop_back();  // one byte short
    CHECK(contains(parse_error(b), "truncated data"));
  }
  SUBCASE("truncated header") {
    const std::string b = make_npy(kGood, float_bytes(6));
    CHECK(contains(parse_error(b.substr(0, 40)), "truncated header"));
    CHECK(contains(parse_error(b.substr(0, 10)), "truncated header"));  // prelude only
    CHECK(contains(parse_error(b.substr(0, 8)), "truncated"));           // magic and version only
  }
  SUBCASE("trailing bytes after the data") {
    CHECK(contains(parse_error(make_npy(kGood, float_bytes(7))), "trailing"));
  }
  SUBCASE("shape not a tuple of non-negative integers") {
    for (const char* shape : {"(2.5, 3)", "('a', 3)", "(2, x)", "(True,)", "(2, -3)", "6", "[2, 3]"}) {
      CAPTURE(std::string(shape));
      const std::string m =
          parse_error(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': " + std::string(shape) + ", }", float_bytes(6)));
      CHECK(contains(m, "shape"));
    }
  }
  SUBCASE("a missing key") {
    CHECK(contains(parse_error(make_npy("{'descr': '<f4', 'shape': (2, 3), }", float_bytes(6))), "fortran_order"));
    CHECK(contains(parse_error(make_npy("{'fortran_order': False, 'shape': (2, 3), }", float_bytes(6))), "descr"));
  }
  SUBCASE("a file that does not exist") {
    TempDir dir;
    const std::string path = dir.file("missing.npy");
    try {
      load_npy(path);
      FAIL("load_npy opened a missing file");
    } catch (const Error& e) {
      CHECK(e.exit_code() == kExitUnsupported);
      CHECK(contains(e.what(), path));
    }
  }
  SUBCASE("a directory") {
    TempDir dir;
    const std::string path = dir.file("q.npy");
    std::filesystem::create_directory(path);
    try {
      load_npy(path);
      FAIL("load_npy read a directory");
    } catch (const Error& e) {
      CHECK(e.exit_code() == kExitUnsupported);
      CHECK(contains(e.what(), "is a directory"));
    }
  }
}

TEST_CASE("load_inputs infers (B, H, S, D) from 2-D, 3-D and 4-D files") {
  TempDir dir;
  struct Case {
    std::vector<std::int64_t> q, kv;
    std::int64_t b, h, sq, sk, d;
  };
  const Case cases[] = {
      {{5, 4}, {7, 4}, 1, 1, 5, 7, 4},              // (S, D)
      {{3, 5, 4}, {3, 7, 4}, 1, 3, 5, 7, 4},        // (H, S, D)
      {{2, 3, 5, 4}, {2, 3, 7, 4}, 2, 3, 5, 7, 4},  // (B, H, S, D)
      {{2, 3, 9, 8}, {2, 3, 2, 8}, 2, 3, 9, 2, 8},  // Sq > Sk
  };
  for (const auto& c : cases) {
    CAPTURE(c.q.size());
    std::size_t nq = 1, nkv = 1;
    for (auto d : c.q) nq *= std::size_t(d);
    for (auto d : c.kv) nkv *= std::size_t(d);
    const auto q = iota_floats(nq, 0.1f), k = iota_floats(nkv, -1.3f), v = iota_floats(nkv, 2.7f);
    save_npy(dir.file("q.npy"), c.q, q.data());
    save_npy(dir.file("k.npy"), c.kv, k.data());
    save_npy(dir.file("v.npy"), c.kv, v.data());
    Problem p;  // defaults (B1 H16 ...) must all be overwritten by the files
    const HostInputs in = load_inputs(dir.file("q.npy"), dir.file("k.npy"), dir.file("v.npy"), p);
    CHECK(p.b == c.b);
    CHECK(p.h == c.h);
    CHECK(p.sq == c.sq);
    CHECK(p.sk == c.sk);
    CHECK(p.d == c.d);
    CHECK(bit_equal(in.q, q));
    CHECK(bit_equal(in.k, k));
    CHECK(bit_equal(in.v, v));
    CHECK_NOTHROW(validate(p));
  }
}

TEST_CASE("load_inputs rounds to the problem's dtype") {
  TempDir dir;
  const std::vector<float> x{0.1f, 1.0f / 3, 3.14159f, -2.71828f};
  for (const char* n : {"q.npy", "k.npy", "v.npy"}) save_npy(dir.file(n), {2, 2}, x.data());
  Problem p;
  p.dtype = DType::bf16;
  const HostInputs in = load_inputs(dir.file("q.npy"), dir.file("k.npy"), dir.file("v.npy"), p);
  for (std::size_t i = 0; i < x.size(); ++i) {
    CHECK(in.q[i] == round_to(DType::bf16, x[i]));
    CHECK(in.v[i] == round_to(DType::bf16, x[i]));
  }
  CHECK(in.q[0] != x[0]);
}

TEST_CASE("load_inputs rejects shapes that do not fit together") {
  TempDir dir;
  auto save = [&](const char* name, const std::vector<std::int64_t>& shape) {
    std::size_t n = 1;
    for (auto d : shape) n *= std::size_t(d);
    const auto data = iota_floats(n);
    save_npy(dir.file(name), shape, data.data());
  };
  auto error_of = [&]() -> std::string {
    Problem p;
    try {
      load_inputs(dir.file("q.npy"), dir.file("k.npy"), dir.file("v.npy"), p);
    } catch (const Error& e) {
      CHECK(e.exit_code() == kExitUnsupported);
      CHECK(std::string(e.what()).find('\n') == std::string::npos);
      return e.what();
    }
    FAIL("load_inputs accepted mismatched shapes");
    return "";
  };
  SUBCASE("K and V differ") {
    save("q.npy", {2, 5, 4});
    save("k.npy", {2, 7, 4});
    save("v.npy", {2, 6, 4});
    const std::string m = error_of();
    CHECK(contains(m, "K and V"));
    CHECK(contains(m, "v.npy"));
  }
  SUBCASE("Q and K head dims differ") {
    save("q.npy", {2, 5, 8});
    save("k.npy", {2, 7, 4});
    save("v.npy", {2, 7, 4});
    CHECK(contains(error_of(), "head dim"));
  }
  SUBCASE("Q and K heads differ") {
    save("q.npy", {3, 5, 4});
    save("k.npy", {2, 7, 4});
    save("v.npy", {2, 7, 4});
    CHECK(contains(error_of(), "heads"));
  }
  SUBCASE("a 1-D file") {
    save("q.npy", {20});
    save("k.npy", {5, 4});
    save("v.npy", {5, 4});
    const std::string m = error_of();
    CHECK(contains(m, "q.npy"));
    CHECK(contains(m, "dimensions"));
  }
  SUBCASE("a 5-D file") {
    save("q.npy", {1, 1, 1, 5, 4});
    save("k.npy", {5, 4});
    save("v.npy", {5, 4});
    CHECK(contains(error_of(), "dimensions"));
  }
  SUBCASE("an empty dimension") {
    save("q.npy", {0, 4});
    save("k.npy", {5, 4});
    save("v.npy", {5, 4});
    CHECK(contains(error_of(), ">= 1"));
  }
  SUBCASE("a file that is not .npy at all") {
    write_file(dir.file("q.npy"), "not numpy");
    save("k.npy", {5, 4});
    save("v.npy", {5, 4});
    CHECK(contains(error_of(), "magic"));
  }
}

}  // namespace fa
