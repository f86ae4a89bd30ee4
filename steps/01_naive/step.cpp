// Step 01 as the driver sees it: dtypes, io model, workspace, launch.
#include <algorithm>

#include "steps/01_naive/naive.hpp"
#include "steps/steps.hpp"

namespace fa {

Step naive_step() {
  Step s;
  s.id = "01_naive";
  s.title = "standard attention, three kernels";
  s.idea = "S = QK^T and P = softmax(S) written to HBM; one thread per output element";
  s.dtypes = {DType::f32};
  s.workspace_bytes = [](const Problem& p) { return std::size_t(p.bh() * p.sq * p.sk) * sizeof(float); };
  s.io = [](const Problem& p) {
    IoModel m = compulsory_io(p);
    const double f = sizeof(float), bh = double(p.bh()), sq = double(p.sq), sk = double(p.sk), d = double(p.d);
    const double s_bytes = bh * sq * sk * f;
    const double block = naive::kThreadsPerBlock;
    // Requests with no reuse across thread blocks (reuse within a block is served by L1):
    //  scores: each visible (i, j) reads K row j; each block of 256 (i, j) reads its Q row once.
    //  softmax: three passes read the row of S, one writes P over it.
    //  pv: each block of 256 (i, c) covers 256 / D rows and reads every V row once, plus its
    //      P rows once; at least all of V (a block of a decode shape spans several heads).
    const double blocks_per_row = (sk + block - 1) / block;
    m.kernels.push_back({"scores_kernel", p.visible_pairs() * d * f + bh * sq * blocks_per_row * d * f, s_bytes});
    m.kernels.push_back({"softmax_kernel", 3 * s_bytes, s_bytes + p.bytes_lse()});
    const double pv_blocks = bh * sq * d / block;
    const double v_reads = std::max(pv_blocks * sk * std::min(d, block), bh * sk * d);
    m.kernels.push_back({"pv_kernel", s_bytes + v_reads * f, p.bytes_o()});
    return m;
  };
  s.launch = [](const Problem& p, const Buffers& b, cudaStream_t stream) { naive::forward(make_args(p, b), stream); };
  return s;
}

}  // namespace fa
