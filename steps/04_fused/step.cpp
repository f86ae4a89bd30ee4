// Step 04 as the driver sees it: fp32, head dims 32 / 64 / 96 / 128, one kernel, no workspace.
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
  s.head_dims = {std::begin(fused::HeadDims::values), std::end(fused::HeadDims::values)};
  s.min_sm = 80;  // cp.async
  s.io = [](const Problem& p) {
    // The paper's count (common/io_model.hpp): K and V once per query tile of kBlockM rows,
    // over the key tiles of kBlockN it visits; tiles above the causal diagonal are skipped.
    const TileShape t = fused::tile_shape(p.d);
    if (t.block_m == 0) return compulsory_io(p);  // a head dim the step refuses: no kernel to model
    return flash_io(p, t.block_m, t.block_n, "fused_kernel");
  };
  s.launch = [](const Problem& p, const Buffers& b, cudaStream_t stream) { fused::forward(make_args(p, b), stream); };
  return s;
}

}  // namespace fa
