// `fa traffic` without a GPU: parsing what Nsight Compute prints and naming kernels.
#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include "steps/steps.hpp"
#include "steps/traffic.hpp"

namespace fa {

TEST_CASE("ncu raw CSV is parsed: thousands separators, units row, sectors to bytes") {
  const std::string csv =
      "==PROF== Connected to process 1\n"
      "\"ID\",\"Kernel Name\",\"dram__bytes_read.sum\",\"dram__bytes_write.sum\","
      "\"lts__t_sectors_srcunit_tex_op_read.sum\",\"lts__t_sectors_srcunit_tex_op_write.sum\","
      "\"gpu__time_duration.sum\",\"l1tex__m_xbar2l1tex_read_sectors.sum\"\n"
      "\"\",\"\",\"byte\",\"byte\",\"sector\",\"sector\",\"nsecond\",\"sector\"\n"
      "\"0\",\"void (anonymous namespace)::scores_kernel<64>(const float *, int)\",\"34,700,000\",\"1,048,900,000\","
      "\"2,071,587,500\",\"33,554,432\",\"69,550,500\",\"2,156,462,080\"\n";
  const auto m = parse_ncu_csv(csv);
  REQUIRE(m.size() == 1);
  CHECK(m[0].dram_read == 34.7e6);
  CHECK(m[0].dram_write == 1048.9e6);
  CHECK(m[0].l2_read == 2071587500.0 * 32);
  CHECK(m[0].l2_write == 33554432.0 * 32);
  CHECK(m[0].ns == 69550500.0);
  CHECK(m[0].sm_read == 2156462080.0 * 32);
  CHECK(short_kernel_name(m[0].kernel) == "scores_kernel<64>");
}

TEST_CASE("kernel names lose return type, namespaces and parameters, not template arguments") {
  CHECK(short_kernel_name("void <unnamed>::pv_kernel(const float *)") == "pv_kernel");
  CHECK(short_kernel_name("void unnamed>::flash3_kernel<__nv_bfloat16, 64, 0, 0>(CUtensorMap_st)") ==
        "flash3_kernel<__nv_bfloat16, 64, 0, 0>");
  CHECK(short_kernel_name("void fa::tensor_cores::flash2_mma_kernel<__nv_bfloat16, 64, 0>(fa::P)") ==
        "flash2_mma_kernel<__nv_bfloat16, 64, 0>");
  CHECK(short_kernel_name("void k<fa::X>(int)") == "k<fa::X>");
}

TEST_CASE("the ncu command selects the step's NVTX range and kernels, and runs one launch") {
  const Step& s = find_step("01");
  Problem p;
  p.sq = p.sk = 4096;
  const std::string cmd = ncu_command("/usr/bin/ncu", "/x/fa", s, p, "/tmp/r.ncu-rep");
  CHECK(cmd.find("--nvtx-include 'fa@01_naive/'") != std::string::npos);
  CHECK(cmd.find("regex:scores_kernel|softmax_kernel|pv_kernel") != std::string::npos);
  CHECK(cmd.find("--clock-control none") != std::string::npos);
  CHECK(cmd.find("--warmup 0 --repeat 0") != std::string::npos);
  CHECK(cmd.find("-q 4096 -k 4096") != std::string::npos);
  // Both levels of L2 reads: served by the L2 slices, and received by the SMs.
  CHECK(cmd.find("lts__t_sectors_srcunit_tex_op_read.sum") != std::string::npos);
  CHECK(cmd.find("l1tex__m_xbar2l1tex_read_sectors.sum") != std::string::npos);
}

TEST_CASE("refusals are all SKIP lines while a step is left, else all error lines") {
  // The host refused one step (dtype) and the GPU another (compute capability): one kind of line.
  const Refusals refused = {{"01_naive", "01_naive does not support dtype bf16 (supports fp32)"},
                            {"06_warp_specialized", "06_warp_specialized needs compute capability 9.0"}};
  std::ostringstream some_left, none_left;
  print_refusals(refused, true, some_left);
  print_refusals(refused, false, none_left);
  CHECK(some_left.str() ==
        "SKIP 01_naive: 01_naive does not support dtype bf16 (supports fp32)\n"
        "SKIP 06_warp_specialized: 06_warp_specialized needs compute capability 9.0\n");
  CHECK(none_left.str() ==
        "fa: error: 01_naive does not support dtype bf16 (supports fp32)\n"
        "fa: error: 06_warp_specialized needs compute capability 9.0\n");
}

}  // namespace fa
