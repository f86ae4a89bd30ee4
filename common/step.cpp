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

std::string why_unsupported_on(const Step& s, const std::string& device, int cc_major, int cc_minor) {
  const int sm = cc_major * 10 + cc_minor;
  if (sm >= s.min_sm && (s.max_sm == 0 || sm <= s.max_sm)) return "";
  auto cc = [](int v) { return std::to_string(v / 10) + "." + std::to_string(v % 10); };
  const std::string range = s.max_sm == 0        ? cc(s.min_sm) + " or newer"
                            : s.max_sm == s.min_sm ? cc(s.min_sm) + " exactly"
                            : s.min_sm == 0        ? cc(s.max_sm) + " or older"
                                                   : cc(s.min_sm) + " to " + cc(s.max_sm);
  return s.id + " needs compute capability " + range + "; " + device + " is " + std::to_string(cc_major) + "." +
         std::to_string(cc_minor);
}

std::size_t workspace_bytes(const Step& s, const Problem& p) {
  return s.workspace_bytes ? s.workspace_bytes(p) : 0;
}

}  // namespace fa
