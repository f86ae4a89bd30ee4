#include "common/step.hpp"

#include <algorithm>

namespace fa {

std::string why_unsupported(const Step& s, const Problem& p) {
  if (std::find(s.dtypes.begin(), s.dtypes.end(), p.dtype) == s.dtypes.end()) {
    std::string have;
    for (auto t : s.dtypes) have += std::string(have.empty() ? "" : ", ") + dtype_name(t);
    return s.id + " does not support dtype " + dtype_name(p.dtype) + " (supports " + have + ")";
  }
  if (!s.head_dims.empty() && std::find(s.head_dims.begin(), s.head_dims.end(), p.d) == s.head_dims.end()) {
    std::string have;
    for (auto d : s.head_dims) have += (have.empty() ? "" : ", ") + std::to_string(d);
    return s.id + " does not support head dim " + std::to_string(p.d) + " (supports " + have + ")";
  }
  if (s.why_unsupported) return s.why_unsupported(p);
  return "";
}

std::size_t workspace_bytes(const Step& s, const Problem& p) {
  return s.workspace_bytes ? s.workspace_bytes(p) : 0;
}

}  // namespace fa
