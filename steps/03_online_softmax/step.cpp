// Step 03 as the driver sees it: dtypes, head dims, io model, launch (no workspace).
#include <iterator>

#include "steps/03_online_softmax/online_softmax.hpp"
#include "steps/steps.hpp"

namespace fa {

Step online_softmax_step() {
  Step s;
  s.id = "03_online_softmax";
  s.title = "online softmax, one kernel, a warp per query row";
  s.idea = "a running max m_i and sum l_i per row: S is never stored, but every row reads all of K and V itself";
  s.dtypes = {DType::f32};
  s.head_dims = {std::begin(online_softmax::HeadDims::values), std::end(online_softmax::HeadDims::values)};
  s.io = [](const Problem& p) {
    IoModel m = compulsory_io(p);
    const double f = sizeof(float), d = double(p.d);
    // Requests with no cache (the kernel arranges no on-chip reuse of K or V across rows): each
    // query row reads its q once and every K and V row it can see once, so K and V are each
    // visible_pairs * D floats (counted exactly under the causal mask); O and LSE are written once.
    const double kv_requested = p.visible_pairs() * d * f;
    m.kernels.push_back({"online_softmax_kernel", p.bytes_q() + 2 * kv_requested, p.bytes_o() + p.bytes_lse()});
    return m;
  };
  s.launch = [](const Problem& p, const Buffers& b, cudaStream_t stream) {
    online_softmax::forward(make_args(p, b), stream);
  };
  return s;
}

}  // namespace fa
