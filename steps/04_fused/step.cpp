// Step 04 as the driver sees it: fp32, head dims 32 / 64 / 96 / 128, one kernel, no workspace.
#include <algorithm>
#include <cstdint>
#include <iterator>

#include "steps/04_fused/fused.hpp"
#include "steps/steps.hpp"

namespace fa {

Step fused_step() {
  Step s;
  s.id = "04_fused";
  s.title = "FlashAttention on CUDA cores";
  s.idea = "Q tile on chip, K/V tiles shared through smem, online softmax, O in registers: K/V read once per Q tile";
  s.dtypes = {DType::f32};
  s.head_dims = {std::begin(fused::kHeadDims), std::end(fused::kHeadDims)};
  s.min_sm = 80;  // cp.async
  s.io = [](const Problem& p) {
    IoModel m = compulsory_io(p);
    const fused::TileShape t = fused::tile_shape(p.d);
    if (t.block_m == 0) return m;  // a head dim the step refuses: no kernel to model
    // Requests of the one kernel (the paper's count, Theta(N^2 d^2 / M) for M ~ kBlockM * d):
    //   Q read once, O and LSE written once;
    //   K and V read once per query tile, over the key tiles that tile visits: all ceil(Sk /
    //   kBlockN) of them, or (causal) those up to the diagonal of its last row, n_end =
    //   clamp(q_end + Sk - Sq, 0, Sk). The last tile's rows beyond Sk are zero-filled, not
    //   read, so each query tile requests min(tiles * kBlockN, Sk) key rows of K and of V.
    double kv_rows = 0;  // key rows requested per (batch, head), summed over query tiles
    for (std::int64_t q0 = 0; q0 < p.sq; q0 += t.block_m) {
      const std::int64_t q_end = std::min(q0 + t.block_m, p.sq);
      const std::int64_t n_end = p.causal ? std::clamp<std::int64_t>(q_end + p.sk - p.sq, 0, p.sk) : p.sk;
      const std::int64_t tiles = (n_end + t.block_n - 1) / t.block_n;
      kv_rows += double(std::min(tiles * t.block_n, p.sk));
    }
    const double row_bytes = double(p.d) * double(dtype_size(p.dtype));
    const double kv_read = 2.0 * double(p.bh()) * kv_rows * row_bytes;
    m.kernels.push_back({"fused_kernel", p.bytes_q() + kv_read, p.bytes_o() + p.bytes_lse()});
    return m;
  };
  s.launch = [](const Problem& p, const Buffers& b, cudaStream_t stream) { fused::forward(make_args(p, b), stream); };
  return s;
}

}  // namespace fa
