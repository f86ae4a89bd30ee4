// float32 .npy files (numpy format version 1.0, little-endian '<f4', C order), so users can
// bring their own Q, K, V and keep O. Anything else is rejected with a one-line fa::Error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fa {

struct NpyArray {
  std::vector<std::int64_t> shape;
  std::vector<float> data;
};

NpyArray load_npy(const std::string& path);
void save_npy(const std::string& path, const std::vector<std::int64_t>& shape, const float* data);

// Parse from / serialise to bytes (what load_npy/save_npy do around the file I/O); `source`
// names the data in error messages.
NpyArray parse_npy(const std::string& bytes, const std::string& source);
std::string serialize_npy(const std::vector<std::int64_t>& shape, const float* data);

}  // namespace fa
