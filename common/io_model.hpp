// Predicted HBM traffic, in two levels:
//  - compulsory: each of Q, K, V read once and O, LSE written once (the floor for any step);
//  - requested: what the algorithm asks of L2/HBM per kernel with no cache beyond the on-chip
//    reuse the step itself arranges (the FlashAttention paper's count: e.g. K and V read once per
//    Q tile). The gap between measured DRAM bytes and this level is what the L2 absorbed.
#pragma once

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

}  // namespace fa
