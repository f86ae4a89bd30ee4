#!/usr/bin/env bash
# The second GPU run of the tail (notes/worklog.md, "The tail dealt item by item"): the patch
# with 06_tail_item_by_item_gated.diff's launch, which gives D = 128 no tail (all heads in mirror
# pairs, through the patched for_each_item) and reads the tail rounds at D = 64 from
# FA_TAIL_ROUNDS, against the build before, four rounds, with SDPA's flash and cuDNN.
#   notes/patches/06_tail_item_by_item_run_gated.sh BASE_DIR GATED_DIR OUT_DIR
# BASE_DIR holds the build before's `fa`, GATED_DIR the patched `fa` and `fa_gpu_tests`.
set -uo pipefail
base=$1 g=$2 out=$3
mkdir -p "$out"
log() { echo "$* ($SECONDS s)" | tee -a "$out/summary.txt"; }
for t in 1 2 3; do
  FA_TAIL_ROUNDS=$t FA_TEST_STEP=06_warp_specialized "$g/fa_gpu_tests" >"$out/tests_t$t.log" 2>&1
  log "gpu tests t$t: rc=$? $(grep -E 'shape cases passed' "$out/tests_t$t.log" | sed 's/.*MESSAGE: //')"
done
for cfg in "2 128 memcheck" "2 128 racecheck" "2 128 synccheck" "1 64 memcheck" "1 64 racecheck" "3 64 memcheck" \
  "3 64 racecheck"; do
  set -- $cfg
  FA_TAIL_ROUNDS=$1 compute-sanitizer --tool "$3" --error-exitcode 9 "$g/fa" run 06_warp_specialized -b 1 -H 300 -q 700 \
    -k 900 -d "$2" --causal --warmup 0 --repeat 1 >"$out/san_t$1_d$2_$3.log" 2>&1
  log "$3 t$1 d$2: rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/san_t$1_d$2_$3.log" | tail -1)"
done
FA_TAIL_ROUNDS=2 "$g/fa" bench 06_warp_specialized -d 64,128 -n 512,2048,4096 --causal on --dtypes bf16,fp16 --csv \
  >"$out/checked.csv"
log "checked bench: rc=$?"
for r in 1 2 3 4; do
  "$base/fa" bench 06_warp_specialized -d 64,128 -n 512,1024,2048,4096 --causal on --dtypes bf16,fp16 --no-check --csv \
    >"$out/r${r}_base.csv"
  for t in 1 2 3; do
    d=64
    [ "$t" = 2 ] && d=64,128
    FA_TAIL_ROUNDS=$t "$g/fa" bench 06_warp_specialized -d "$d" -n 512,1024,2048,4096 --causal on --dtypes bf16,fp16 \
      --no-check --csv >"$out/r${r}_t$t.csv"
  done
  python3 scripts/sdpa_bench.py --dtypes bf16,fp16 --backends cudnn,flash -n 512,1024,2048,4096 -d 64,128 \
    --causal on >"$out/r${r}_sdpa.csv"
  log "round $r"
done
for b in base g; do
  FA_TAIL_ROUNDS=2 "${!b}/fa" bench 06_warp_specialized 06_no_pingpong 06_no_overlap 06_no_warp_specialization -d 64 \
    -n 512,2048 --causal on --dtypes bf16 --no-check --csv >"$out/ablations_$b.csv"
done
log ablations
