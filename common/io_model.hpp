// Predicted HBM traffic, in two levels:
//  - compulsory: each of Q, K, V read once and O, LSE written once (the floor for any step);
//  - requested: what the algorithm asks of L2/HBM per kernel with no cache beyond the on-chip
//    reuse the step itself arranges (the FlashAttention paper's count: e.g. K and V read once per
//    Q tile). The gap between measured DRAM bytes and this level is what the L2 absorbed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/problem.hpp"

namespace fa {

struct KernelIo {
  std::string kernel;  // a fragment of the kernel's name, as Nsight Compute shows it
  double read = 0, write = 0;
};

struct IoModel {
  double compulsory_read = 0, compulsory_write = 0;
  std::vector<KernelIo> kernels;

  double requested_read() const;
  double requested_write() const;
  double requested() const { return requested_read() + requested_write(); }
  double compulsory() const { return compulsory_read + compulsory_write; }
};

// The compulsory level (the same for every step), with no kernels listed yet.
IoModel compulsory_io(const Problem& p);

// The FlashAttention count for a one-kernel step with query tiles of block_m rows and key
// tiles of block_n (the paper's Theta(N^2 d^2 / M)): Q read once, O and LSE written once, K
// and V read once per query tile over the key tiles it visits, i.e. keys [0, kv_end) rounded up
// to whole tiles and clamped at Sk (rows past Sk are zero-filled, not read), with kv_end = Sk,
// or under the causal mask the diagonal of the tile's last row, clamp(q_end + Sk - Sq, 0, Sk).
// A causal query tile that sees no key (Sq > Sk) may skip its Q rows; Q is still counted whole.
// The query tiles are cut from row 0 (the last one ragged), or with QueryTiles::from_end from
// row Sq (the first one ragged), as step 06 does.
enum class QueryTiles { from_start, from_end };
IoModel flash_io(const Problem& p, std::int64_t block_m, std::int64_t block_n, const std::string& kernel,
                 QueryTiles tiles = QueryTiles::from_start);

}  // namespace fa
