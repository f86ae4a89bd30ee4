#include "steps/steps.hpp"

#include "common/error.hpp"

namespace fa {

const std::vector<Step>& all_steps() {
  // Explicit, in lesson order: adding a step means adding a line here.
  static const std::vector<Step> steps = [] {
    std::vector<Step> s = {
        naive_step(),
        tiled_step(),
        online_softmax_step(),
        fused_step(),
        tensor_cores_step(),
    };
    for (Step& v : warp_specialized_steps()) s.push_back(std::move(v));  // 06 and its ablations
    return s;
  }();
  return steps;
}

const Step& find_step(const std::string& name) {
  for (const auto& s : all_steps()) {
    const std::string number = s.id.substr(0, s.id.find('_'));  // "01"
    const std::string word = s.id.substr(s.id.find('_') + 1);   // "naive"
    if (name == s.id || name == number || name == word || (name.size() == 1 && "0" + name == number)) return s;
  }
  std::string known;
  for (const auto& s : all_steps()) known += (known.empty() ? "" : ", ") + s.id;
  throw usage_error("unknown step '" + name + "' (known: " + known + ")");
}

}  // namespace fa
