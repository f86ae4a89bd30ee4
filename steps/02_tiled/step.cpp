// Step 02 as the driver sees it: dtypes, head dims, io model, workspace, launch.
#include <iterator>

#include "steps/02_tiled/tiled.hpp"
#include "steps/steps.hpp"

namespace fa {

Step tiled_step() {
  Step s;
  s.id = "02_tiled";
  s.title = "standard attention, tiled matmuls";
  s.idea = "the same three kernels, Q K^T and P V tiled through shared memory; S and P still written to HBM";
  s.dtypes = {DType::f32};
  s.head_dims = {std::begin(tiled::HeadDims::values), std::end(tiled::HeadDims::values)};
  s.workspace_bytes = [](const Problem& p) { return std::size_t(p.bh() * p.sq * p.sk) * sizeof(float); };
  s.io = [](const Problem& p) {
    IoModel m = compulsory_io(p);
    const double f = sizeof(float), bh = double(p.bh()), sq = double(p.sq), sk = double(p.sk);
    const double s_bytes = bh * sq * sk * f;
    const double tiles_m = double((p.sq + tiled::kBlockM - 1) / tiled::kBlockM);
    const double tiles_n = double((p.sk + tiled::kBlockN - 1) / tiled::kBlockN);
    // Requests with no cache beyond the tiles each block stages in shared memory:
    //  scores: each (kBlockM, kBlockN) tile of S reads its kBlockM rows of Q and its kBlockN rows
    //          of K once, so Q is read ceil(Sk / kBlockN) times and K ceil(Sq / kBlockM) times.
    //  softmax: three passes read the row of S, one writes P over it, as in 01 (a row that sees
    //          no key, causal with Sq > Sk, makes one pass: the model ignores that).
    //  pv: each (kBlockM, D) tile of O reads its kBlockM rows of P once and all of V, so P is
    //          read once and V ceil(Sq / kBlockM) times.
    m.kernels.push_back({"scores_kernel", tiles_n * p.bytes_q() + tiles_m * p.bytes_kv(), s_bytes});
    m.kernels.push_back({"softmax_kernel", 3 * s_bytes, s_bytes + p.bytes_lse()});
    m.kernels.push_back({"pv_kernel", s_bytes + tiles_m * p.bytes_kv(), p.bytes_o()});
    return m;
  };
  s.launch = [](const Problem& p, const Buffers& b, cudaStream_t stream) { tiled::forward(make_args(p, b), stream); };
  return s;
}

}  // namespace fa
