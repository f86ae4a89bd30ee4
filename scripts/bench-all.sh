#!/usr/bin/env bash
# The measured results in notes/results/: every step's sweep and PyTorch's SDPA backends on the
# same shapes, in one run, then the side-by-side ratios.
#   scripts/bench-all.sh FA_BINARY OUT_DIR [PART]
# PART: fp32 (steps 01-04 and the efficient backend), half (05, 06 and its ablations, the flash
# and cuDNN backends), d256 (the same at D = 256, with its errors), errors, or all (the default). Each part writes its own files; the ratios
# are recomputed from whatever CSVs OUT_DIR holds, so a part can be re-run on its own.
# Shapes: the FlashAttention benchmark's, batch x N = 16384 and heads x D = 2048, N = 512..16384,
# D = 64 and 128 (d256: 256), causal and not. Timing: median of 20 event-timed launches after 3 warm-ups,
# L2 flushed before each. Correctness is the GPU test suite's job; errors here come from
# scripts/bench-all.sh's separate checked run (errors.csv; errors_d256.csv for part d256).
set -uo pipefail
fa=$1 out=$2 part=${3:-all}
mkdir -p "$out"
n=512,1024,2048,4096,8192,16384
run() { echo "+ $*" >&2; "$@"; }

want() { [ "$part" = all ] || [ "$part" = "$1" ]; }

# fp32 ladder (01 only up to N = 4096: its S matrix makes each launch seconds long beyond that).
if want fp32; then
run "$fa" bench 2 3 4 -n $n --causal both --no-check --csv >"$out/fa_fp32.csv"
run "$fa" bench 1 -n 512,1024,2048,4096 --causal both --no-check --warmup 1 --repeat 3 --csv | tail -n +2 >>"$out/fa_fp32.csv"
run python3 scripts/sdpa_bench.py --dtypes fp32 --backends efficient -n $n --causal both >"$out/sdpa_fp32.csv"
fi

# Tensor cores: 05 and 06, bf16 and fp16; 06's ablations in bf16.
if want half; then
run "$fa" bench 5 06_warp_specialized -n $n --dtypes bf16,fp16 --causal both --no-check --csv >"$out/fa_half.csv"
run "$fa" bench 06_no_pingpong 06_no_overlap 06_no_warp_specialization 06_no_persistent -n $n --dtypes bf16 --causal both --no-check \
  --csv | tail -n +2 >>"$out/fa_half.csv"
run python3 scripts/sdpa_bench.py --dtypes bf16,fp16 --backends flash,cudnn -n $n --causal both >"$out/sdpa_half.csv"
fi

# D = 256 (heads x D = 2048: 8 heads), in files of its own: the same steps and peers, and the
# errors of 05 and 06.
if want d256; then
run "$fa" bench 5 06_warp_specialized -d 256 -n $n --dtypes bf16,fp16 --causal both --no-check --csv >"$out/fa_half_d256.csv"
run "$fa" bench 06_no_pingpong 06_no_overlap 06_no_warp_specialization 06_no_persistent -d 256 -n $n --dtypes bf16 \
  --causal both --no-check --csv | tail -n +2 >>"$out/fa_half_d256.csv"
run python3 scripts/sdpa_bench.py --dtypes bf16,fp16 --backends flash,cudnn -d 256 -n $n --causal both >"$out/sdpa_half_d256.csv"
run "$fa" bench 5 06_warp_specialized -d 256 -n 1024,4096 --dtypes bf16,fp16 --check-rows 1024 --warmup 0 --repeat 1 \
  --csv >"$out/errors_d256.csv"
fi

# Errors against the float64 reference (1024 sampled rows) at two sizes, every step and dtype.
if want errors; then
run "$fa" bench 1 2 3 4 -n 1024,4096 --check-rows 1024 --warmup 0 --repeat 1 --csv >"$out/errors.csv"
run "$fa" bench 5 06_warp_specialized -n 1024,4096 --dtypes bf16,fp16 --check-rows 1024 --warmup 0 --repeat 1 --csv \
  | tail -n +2 >>"$out/errors.csv"
fi

[ -s "$out/fa_fp32.csv" ] && [ -s "$out/sdpa_fp32.csv" ] &&
  python3 scripts/ratios.py "$out/fa_fp32.csv" "$out/sdpa_fp32.csv" --peers torch_efficient >"$out/ratios_fp32.md"
[ -s "$out/fa_half.csv" ] && [ -s "$out/sdpa_half.csv" ] &&
  python3 scripts/ratios.py "$out/fa_half.csv" "$out/sdpa_half.csv" --peers torch_cudnn,torch_flash >"$out/ratios_half.md"
[ -s "$out/fa_half_d256.csv" ] && [ -s "$out/sdpa_half_d256.csv" ] &&
  python3 scripts/ratios.py "$out/fa_half_d256.csv" "$out/sdpa_half_d256.csv" --peers torch_cudnn,torch_flash \
    >"$out/ratios_half_d256.md"
