#include "common/io_model.hpp"

#include <algorithm>

namespace fa {

double IoModel::requested_read() const {
  double s = 0;
  for (const auto& k : kernels) s += k.read;
  return s;
}

double IoModel::requested_write() const {
  double s = 0;
  for (const auto& k : kernels) s += k.write;
  return s;
}

IoModel compulsory_io(const Problem& p) {
  IoModel m;
  m.compulsory_read = p.bytes_q() + 2 * p.bytes_kv();
  m.compulsory_write = p.bytes_o() + p.bytes_lse();
  return m;
}

IoModel flash_io(const Problem& p, std::int64_t block_m, std::int64_t block_n, const std::string& kernel,
                 QueryTiles query_tiles) {
  IoModel m = compulsory_io(p);
  double kv_rows = 0;  // key rows requested per (batch, head), summed over query tiles
  const std::int64_t n_tiles = (p.sq + block_m - 1) / block_m;
  for (std::int64_t t = 0; t < n_tiles; ++t) {
    // One past the tile's last row: tiles from row 0 end at block_m (t + 1), clamped at Sq;
    // tiles from the end end at Sq - block_m t.
    const std::int64_t q_end =
        query_tiles == QueryTiles::from_start ? std::min((t + 1) * block_m, p.sq) : p.sq - t * block_m;
    const std::int64_t kv_end = p.causal ? std::clamp<std::int64_t>(q_end + p.sk - p.sq, 0, p.sk) : p.sk;
    const std::int64_t tiles = (kv_end + block_n - 1) / block_n;
    kv_rows += double(std::min(tiles * block_n, p.sk));
  }
  const double kv_read = 2.0 * double(p.bh()) * kv_rows * double(p.d) * double(dtype_size(p.dtype));
  m.kernels.push_back({kernel, p.bytes_q() + kv_read, p.bytes_o() + p.bytes_lse()});
  return m;
}

}  // namespace fa
