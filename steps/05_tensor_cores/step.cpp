#include "steps/05_tensor_cores/tensor_cores.hpp"
#include "steps/steps.hpp"

namespace fa {

Step tensor_cores_step() {
  Step s;
  s.id = "05_tensor_cores";
  s.title = "(placeholder)";
  s.idea = "(placeholder)";
  s.dtypes = {DType::f32};
  s.why_unsupported = [](const Problem&) { return std::string("05_tensor_cores is not written yet"); };
  s.io = [](const Problem& p) { return compulsory_io(p); };
  s.launch = [](const Problem& p, const Buffers& b, cudaStream_t stream) { tensor_cores::forward(make_args(p, b), stream); };
  return s;
}

}  // namespace fa
