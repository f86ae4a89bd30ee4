// Host-side launch helpers shared by the kernels' launchers (plain CUDA runtime, no host
// libraries, so step .cu files can include it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace fa {

// Above 48 KiB a kernel must opt in to its dynamic shared memory, once per instantiation (on
// the current device). Throws an unsupported error, naming `who` and `head_dim`, when the device
// cannot give `bytes` per block.
void opt_in_shared_memory(const void* kernel, std::size_t bytes, const std::string& who, std::int64_t head_dim);

// For kernels launched over one flat grid dimension of bh * ceil(sq / block_m) blocks: "" when
// that fits CUDA's limit (2^31 - 1), else the reason, naming the step.
std::string flat_grid_refusal(const std::string& id, std::int64_t bh, std::int64_t sq, std::int64_t block_m);

}  // namespace fa
