#!/usr/bin/env bash
# The GPU run that 06_tail_item_by_item.diff waits for (notes/worklog.md, "The tail dealt item by
# item"): checks of the patched build, then the patched build with two tail sizes against the
# build before, in alternating rounds, with SDPA's flash and cuDNN in the same run.
#   notes/patches/06_tail_item_by_item_run.sh BASE_DIR TAIL4_DIR TAIL2_DIR OUT_DIR
# Each *_DIR holds `fa` (TAIL4_DIR also `fa_gpu_tests`): BASE the build before the patch, TAIL4
# and TAIL2 the patch with kTailRounds 4 and 2 (host code only: their kernels are the same).
set -uo pipefail
base=$1 t4=$2 t2=$3 out=$4
mkdir -p "$out"
log() { echo "$* ($SECONDS s)" | tee -a "$out/summary.txt"; }

# Correctness: the GPU tests and the four sanitizers for the variants whose kernels changed,
# then memcheck, racecheck and synccheck on a problem with both pairs and a tail (ragged).
scripts/gpu-check.sh "$t4" "$out/check" 06_warp_specialized 06_no_pingpong 06_no_overlap 06_no_warp_specialization \
  >/dev/null 2>&1
cat "$out/check/summary.txt" >>"$out/summary.txt"
for d in 64 128; do
  for tool in memcheck racecheck synccheck; do
    compute-sanitizer --tool "$tool" --error-exitcode 9 "$t4/fa" run 06_warp_specialized -b 1 -H 300 -q 700 -k 900 \
      -d "$d" --causal --warmup 0 --repeat 1 >"$out/sanitizer-$tool-d$d.log" 2>&1
    log "$tool pairs+tail d$d: rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/sanitizer-$tool-d$d.log" | tail -1)"
  done
done
"$t4/fa" bench 06_warp_specialized -d 64,128 -n 512,2048,4096 --causal on --dtypes bf16,fp16 --csv >"$out/checked.csv"
log "checked bench: rc=$?"

# Speed: causal N = 512..4096 (the persistent causal shapes), three rounds, the builds alternating.
for r in 1 2 3; do
  for b in base t4 t2; do
    "${!b}/fa" bench 06_warp_specialized -d 64,128 -n 512,1024,2048,4096 --causal on --dtypes bf16,fp16 --no-check \
      --csv >"$out/r${r}_$b.csv"
  done
  python3 scripts/sdpa_bench.py --dtypes bf16,fp16 --backends cudnn,flash -n 512,1024,2048,4096 -d 64,128 \
    --causal on >"$out/r${r}_sdpa.csv"
  log "round $r"
done

# The ablations share the schedule: the full kernel against them, before and after.
for b in base t4; do
  "${!b}/fa" bench 06_no_pingpong 06_no_overlap 06_no_warp_specialization -d 64 -n 512,2048 --causal on \
    --dtypes bf16 --no-check --csv >"$out/ablations_$b.csv"
done
log "ablations"
