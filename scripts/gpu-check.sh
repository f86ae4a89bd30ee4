#!/usr/bin/env bash
# Correctness on a GPU machine, for the steps named (default: all): the GPU test binary over the
# shape matrix, then compute-sanitizer's four tools on a ragged problem per step; steps the GPU
# cannot run are left out, with the reason.
#   scripts/gpu-check.sh BIN_DIR LOG_DIR [STEP...]
# BIN_DIR holds `fa` and `fa_gpu_tests`; logs go to LOG_DIR; the last lines printed summarise.
set -uo pipefail
bin=$1 logs=$2
shift 2
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=($("$bin/fa" list | awk '/^[0-9][0-9]_/{print $1}'))
mkdir -p "$logs"
summary=()
for s in "${steps[@]}"; do
  # A step this GPU cannot run (step 06 off compute capability 9.0) is refused before any work,
  # exit 3, on any problem: said once and left out, rather than failing its tests (so is a build
  # without the step's code, e.g. no sm_90a: its reason is in the summary).
  timeout 120 "$bin/fa" run "$s" -b 1 -H 1 -n 64 --warmup 0 --repeat 1 >"$logs/probe-$s.log" 2>&1
  if [ $? -eq 3 ]; then
    summary+=("skipped $s: $(tail -n 1 "$logs/probe-$s.log")")
    continue
  fi
  FA_TEST_STEP=$s "$bin/fa_gpu_tests" >"$logs/gpu-tests-$s.log" 2>&1
  summary+=("gpu tests $s: rc=$? $(grep -E 'shape cases passed' "$logs/gpu-tests-$s.log" | sed 's/.*MESSAGE: //' | tr '\n' ' ') $(grep -E '^\[doctest\] (test cases|assertions)' "$logs/gpu-tests-$s.log" | tr -s ' ' | tr '\n' ' ')")
  # Head dims 64, 128 and 256 where the step takes them (else its first), each in its native dtype.
  dims=$("$bin/fa" list | awk -v s="$s" '$1 == s {getline; print}' | sed 's/.*head dims: //; s/;.*//; s/,//g')
  [ "$dims" = any ] && dims="64 128"
  run_dims=$(for d in $dims; do case $d in 64 | 128 | 256) echo "$d" ;; esac; done)
  [ -n "$run_dims" ] || run_dims=${dims%% *}
  for d in $run_dims; do
    for tool in memcheck racecheck synccheck initcheck; do
      # Ragged in both lengths, causal with Sq > Sk (71 rows see no key), two heads.
      log="$logs/sanitizer-$tool-$s-d$d.log"
      compute-sanitizer --tool "$tool" --error-exitcode 9 "$bin/fa" run "$s" -b 1 -H 2 -q 200 -k 129 -d "$d" --causal \
        --warmup 0 --repeat 1 >"$log" 2>&1
      summary+=("$tool $s d$d: rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tail -1)")
      # Step 06's persistent kernels hand sQ, sO and the ring from item to item: 280 items (a
      # ragged first tile each) on at most 132 blocks, non-causal.
      case $s in
        06_*)
          log="$logs/sanitizer-$tool-$s-d$d-items.log"
          compute-sanitizer --tool "$tool" --error-exitcode 9 "$bin/fa" run "$s" -b 1 -H 140 -q 200 -k 129 -d "$d" \
            --warmup 0 --repeat 1 >"$log" 2>&1
          summary+=("$tool $s d$d, 280 items: rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tail -1)")
          ;;
      esac
    done
  done
done
printf '%s\n' "${summary[@]}" | tee "$logs/summary.txt"
