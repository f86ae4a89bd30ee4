// The one list of steps the runner knows, in the order of the lesson.
#pragma once

#include <string>
#include <vector>

#include "common/step.hpp"

namespace fa {

// Each step's descriptor, defined in steps/NN_name/step.cpp.
Step naive_step();
Step tiled_step();
Step online_softmax_step();
Step fused_step();
Step tensor_cores_step();
std::vector<Step> warp_specialized_steps();  // 06: the full kernel, then its ablations

const std::vector<Step>& all_steps();

// By number ("1", "01") or id ("01_naive") or name ("naive"); throws a usage error.
const Step& find_step(const std::string& name);

}  // namespace fa
