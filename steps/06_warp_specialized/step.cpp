// Step 06 as the driver sees it: the full FlashAttention-3 kernel and four ablations, each with
// one technique switched off. Same dtypes, head dims, io model and refusals for all five.
#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include "steps/06_warp_specialized/warp_specialized.hpp"
#include "common/launch.hpp"
#include "steps/steps.hpp"

namespace fa {
namespace {

Step variant_step(warp_specialized::Variant variant, std::string id, std::string title, std::string idea) {
  Step s;
  s.id = std::move(id);
  s.title = std::move(title);
  s.idea = std::move(idea);
  s.dtypes = {DType::bf16, DType::f16};
  s.head_dims = {std::begin(warp_specialized::HeadDims::values), std::end(warp_specialized::HeadDims::values)};
  // TMA, mbarrier transaction counts, wgmma, setmaxnreg: sm_90a code, which runs on compute
  // capability 9.0 only (a build for other architectures compiles the kernel body out there).
  s.min_sm = 90;
  s.max_sm = 90;
  s.why_unsupported = [id = s.id](const Problem& p) {
    // B * H * ceil(Sq / kBlockM) work items: the flat grid where not persistent. (p.d is one of
    // HeadDims: fa::why_unsupported refuses the others before it asks the step.)
    return flat_grid_refusal(id, p.bh(), p.sq, warp_specialized::tile_shape(p.d).block_m);
  };
  s.io = [](const Problem& p) {
    // As steps 04 and 05 (common/io_model.hpp), with this step's tiles, cut from the end of the
    // sequence; K and V rows past Sk are zero-filled by the TMA, not read.
    const TileShape t = warp_specialized::tile_shape(p.d);
    if (t.block_m == 0) return compulsory_io(p);
    return flash_io(p, t.block_m, t.block_n, "flash3_kernel", QueryTiles::from_end);
  };
  s.launch = [variant](const Problem& p, const Buffers& b, cudaStream_t stream) {
    const auto element = p.dtype == DType::bf16 ? warp_specialized::Element::bf16 : warp_specialized::Element::f16;
    warp_specialized::forward(make_args(p, b), element, variant, stream);
  };
  return s;
}

}  // namespace

std::vector<Step> warp_specialized_steps() {
  using warp_specialized::Variant;
  return {
      variant_step(Variant::full, "06_warp_specialized", "FlashAttention-3 on Hopper",
                   "TMA + mbarrier ring, wgmma, producer warp and 2-3 consumer warpgroups (setmaxnreg), pingpong, "
                   "softmax overlapped with the GEMMs, persistent blocks"),
      variant_step(Variant::no_pingpong, "06_no_pingpong", "06 without pingpong (ablation)",
                   "as 06_warp_specialized, but the consumer warpgroups issue their GEMMs without taking turns"),
      variant_step(Variant::no_overlap, "06_no_overlap", "06 without softmax/GEMM overlap (ablation)",
                   "as 06_warp_specialized, but per tile S = Q K^T, softmax and P V run strictly one after another"),
      variant_step(Variant::no_warp_specialization, "06_no_warp_specialization",
                   "06 without warp specialisation (ablation)",
                   "as 06_warp_specialized, but no producer warp: a consumer thread issues the TMA loads between its "
                   "GEMMs and waits for free stages itself"),
      variant_step(Variant::no_persistent, "06_no_persistent", "06 without the persistent scheduler (ablation)",
                   "as 06_warp_specialized, but one block per query tile: every tile pays its block's launch, "
                   "barrier set-up and first loads, and its epilogue overlaps nothing"),
  };
}

}  // namespace fa
