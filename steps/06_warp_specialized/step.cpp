// Step 06 as the driver sees it: the full FlashAttention-3 kernel and three ablations, each with
// one technique switched off. Same dtypes, head dims, io model and refusals for all four.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include "steps/06_warp_specialized/warp_specialized.hpp"
#include "steps/steps.hpp"

namespace fa {
namespace {

Step variant_step(warp_specialized::Variant variant, std::string id, std::string title, std::string idea) {
  Step s;
  s.id = std::move(id);
  s.title = std::move(title);
  s.idea = std::move(idea);
  s.dtypes = {DType::bf16, DType::f16};
  s.head_dims = {std::begin(warp_specialized::kHeadDims), std::end(warp_specialized::kHeadDims)};
  s.min_sm = 90;  // TMA, mbarrier transaction counts, wgmma, setmaxnreg (built for sm_90a)
  s.why_unsupported = [id = s.id](const Problem& p) {
    // The grid is one flat dimension of B * H * ceil(Sq / kBlockM) blocks (see warp_specialized.cu).
    const std::int64_t block_m = warp_specialized::tile_shape(p.d).block_m;
    if (block_m == 0) return id + ": head dim " + std::to_string(p.d) + " has no tile shape";
    const std::int64_t blocks = p.bh() * ((p.sq + block_m - 1) / block_m);
    if (blocks > INT_MAX)
      return id + ": B * H * ceil(Sq / " + std::to_string(block_m) + ") = " + std::to_string(blocks) +
             " thread blocks exceeds the grid limit";
    return std::string();
  };
  s.io = [](const Problem& p) {
    IoModel m = compulsory_io(p);
    const warp_specialized::TileShape t = warp_specialized::tile_shape(p.d);
    if (t.block_m == 0) return m;
    // As step 05: Q is read once, O and LSE written once. K and V are read once per query tile
    // over the key tiles it visits: keys [0, kv_end) rounded up to whole tiles, kv_end = Sk or
    // (causal) clamp(q_end - Sq + Sk, 0, Sk); rows past Sk are zero-filled by the TMA, not read.
    // (A causal query tile that sees no key, Sq > Sk, skips even its Q rows; the model counts
    // Q whole, as the compulsory floor does.)
    double kv_rows = 0;  // key rows requested per (batch, head), summed over query tiles
    for (std::int64_t q0 = 0; q0 < p.sq; q0 += t.block_m) {
      const std::int64_t q_end = std::min(q0 + t.block_m, p.sq);
      const std::int64_t kv_end = p.causal ? std::clamp<std::int64_t>(q_end - p.sq + p.sk, 0, p.sk) : p.sk;
      const std::int64_t n_tiles = (kv_end + t.block_n - 1) / t.block_n;
      kv_rows += double(std::min(n_tiles * t.block_n, p.sk));
    }
    const double read = p.bytes_q() + 2 * p.bytes_kv() * (kv_rows / double(p.sk));
    m.kernels.push_back({"flash3_kernel", read, p.bytes_o() + p.bytes_lse()});
    return m;
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
                   "TMA + mbarrier ring, wgmma, producer warp and 2 consumer warpgroups (setmaxnreg), pingpong, "
                   "softmax overlapped with the GEMMs"),
      variant_step(Variant::no_pingpong, "06_no_pingpong", "06 without pingpong (ablation)",
                   "as 06_warp_specialized, but the two consumer warpgroups issue their GEMMs without taking turns"),
      variant_step(Variant::no_overlap, "06_no_overlap", "06 without softmax/GEMM overlap (ablation)",
                   "as 06_warp_specialized, but per tile S = Q K^T, softmax and P V run strictly one after another"),
      variant_step(Variant::no_warp_specialization, "06_no_warp_specialization",
                   "06 without warp specialisation (ablation)",
                   "as 06_warp_specialized, but no producer warp: a consumer thread issues the TMA loads between its "
                   "GEMMs and waits for free stages itself"),
  };
}

}  // namespace fa
