#include "steps/02_tiled/tiled.hpp"
#include "steps/steps.hpp"

namespace fa {

Step tiled_step() {
  Step s;
  s.id = "02_tiled";
  s.title = "(placeholder)";
  s.idea = "(placeholder)";
  s.dtypes = {DType::f32};
  s.why_unsupported = [](const Problem&) { return std::string("02_tiled is not written yet"); };
  s.io = [](const Problem& p) { return compulsory_io(p); };
  s.launch = [](const Problem& p, const Buffers& b, cudaStream_t stream) { tiled::forward(make_args(p, b), stream); };
  return s;
}

}  // namespace fa
