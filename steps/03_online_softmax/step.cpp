#include "steps/03_online_softmax/online_softmax.hpp"
#include "steps/steps.hpp"

namespace fa {

Step online_softmax_step() {
  Step s;
  s.id = "03_online_softmax";
  s.title = "(placeholder)";
  s.idea = "(placeholder)";
  s.dtypes = {DType::f32};
  s.why_unsupported = [](const Problem&) { return std::string("03_online_softmax is not written yet"); };
  s.io = [](const Problem& p) { return compulsory_io(p); };
  s.launch = [](const Problem& p, const Buffers& b, cudaStream_t stream) { online_softmax::forward(make_args(p, b), stream); };
  return s;
}

}  // namespace fa
