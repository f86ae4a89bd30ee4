// Step 05 as the driver sees it: dtypes, head dims, io model, launch.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <iterator>
#include <string>

#include "steps/05_tensor_cores/tensor_cores.hpp"
#include "steps/steps.hpp"

namespace fa {

Step tensor_cores_step() {
  Step s;
  s.id = "05_tensor_cores";
  s.title = "FlashAttention-2 on tensor cores";
  s.idea = "mma.sync bf16/fp16 with ldmatrix from swizzled smem, cp.async K/V pipeline, P kept in registers";
  s.dtypes = {DType::bf16, DType::f16};
  s.head_dims = {std::begin(tensor_cores::kHeadDims), std::end(tensor_cores::kHeadDims)};
  s.min_sm = 80;  // mma.sync m16n8k16 bf16, cp.async, ldmatrix
  s.why_unsupported = [](const Problem& p) {
    // The grid is one flat dimension of B * H * ceil(Sq / kBlockM) blocks (see tensor_cores.cu).
    const std::int64_t block_m = tensor_cores::tile_shape(p.d).block_m;
    if (block_m == 0) return std::string("05_tensor_cores: head dim ") + std::to_string(p.d) + " has no tile shape";
    const std::int64_t blocks = p.bh() * ((p.sq + block_m - 1) / block_m);
    if (blocks > INT_MAX)
      return "05_tensor_cores: B * H * ceil(Sq / " + std::to_string(block_m) + ") = " + std::to_string(blocks) +
             " thread blocks exceeds the grid limit";
    return std::string();
  };
  s.io = [](const Problem& p) {
    IoModel m = compulsory_io(p);
    const tensor_cores::TileShape t = tensor_cores::tile_shape(p.d);
    if (t.block_m == 0) return m;
    // Q is read once, O and LSE written once. K and V are read once per query tile over the
    // key tiles it visits: keys [0, kv_end) rounded up to whole tiles, kv_end = Sk or (causal)
    // clamp(q_end - Sq + Sk, 0, Sk); rows past Sk are zero-filled, not read. (A causal query
    // tile that sees no key at all, Sq > Sk, skips even its Q rows; the model counts Q whole,
    // as the compulsory floor does.)
    double kv_rows = 0;  // key rows requested per (batch, head), summed over query tiles
    for (std::int64_t q0 = 0; q0 < p.sq; q0 += t.block_m) {
      const std::int64_t q_end = std::min(q0 + t.block_m, p.sq);
      const std::int64_t kv_end = p.causal ? std::clamp<std::int64_t>(q_end - p.sq + p.sk, 0, p.sk) : p.sk;
      const std::int64_t n_tiles = (kv_end + t.block_n - 1) / t.block_n;
      kv_rows += double(std::min(n_tiles * t.block_n, p.sk));
    }
    const double read = p.bytes_q() + 2 * p.bytes_kv() * (kv_rows / double(p.sk));
    m.kernels.push_back({"flash2_mma_kernel", read, p.bytes_o() + p.bytes_lse()});
    return m;
  };
  s.launch = [](const Problem& p, const Buffers& b, cudaStream_t stream) {
    const auto element = p.dtype == DType::bf16 ? tensor_cores::Element::bf16 : tensor_cores::Element::f16;
    tensor_cores::forward(make_args(p, b), element, stream);
  };
  return s;
}

}  // namespace fa
