// Step 05 as the driver sees it: dtypes, head dims, io model, launch.
#include <cstdint>
#include <iterator>
#include <string>

#include "steps/05_tensor_cores/tensor_cores.hpp"
#include "common/launch.hpp"
#include "steps/steps.hpp"

namespace fa {

Step tensor_cores_step() {
  Step s;
  s.id = "05_tensor_cores";
  s.title = "FlashAttention-2 on tensor cores";
  s.idea = "mma.sync bf16/fp16 with ldmatrix from swizzled smem, cp.async K/V pipeline, P kept in registers";
  s.dtypes = {DType::bf16, DType::f16};
  s.head_dims = {std::begin(tensor_cores::HeadDims::values), std::end(tensor_cores::HeadDims::values)};
  s.min_sm = 80;  // mma.sync m16n8k16 bf16, cp.async, ldmatrix
  s.why_unsupported = [](const Problem& p) {
    // The grid is one flat dimension of B * H * ceil(Sq / kBlockM) blocks. (p.d is one of
    // HeadDims: fa::why_unsupported refuses the others before it asks the step.)
    return flat_grid_refusal("05_tensor_cores", p.bh(), p.sq, tensor_cores::tile_shape(p.d).block_m);
  };
  s.io = [](const Problem& p) {
    // As step 04 (common/io_model.hpp), with this step's tiles; K and V rows past Sk are
    // zero-filled by cp.async, not read.
    const TileShape t = tensor_cores::tile_shape(p.d);
    if (t.block_m == 0) return compulsory_io(p);
    return flash_io(p, t.block_m, t.block_n, "flash2_mma_kernel");
  };
  s.launch = [](const Problem& p, const Buffers& b, cudaStream_t stream) {
    const auto element = p.dtype == DType::bf16 ? tensor_cores::Element::bf16 : tensor_cores::Element::f16;
    tensor_cores::forward(make_args(p, b), element, stream);
  };
  return s;
}

}  // namespace fa
