#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan: the `fuzz` preset) and runs each one for
# SECONDS (default 300; .ci/run's test command uses 30), starting from the committed seeds in
# fuzz/corpus/<target> (captured from real clients by fuzz/capture_seeds.py) and, first, every
# input in fuzz/regressions/<target> (inputs that once crashed). New inputs the fuzzer finds go to
# build/fuzz/corpus/<target>, crashes to build/fuzz/artifacts/. Exits non-zero on any crash, leak,
# sanitizer report, timeout or allocation past the malloc limit.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_request fuzz_record_batch fuzz_properties fuzz_segment_recovery)

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz

failed=()
for t in "${targets[@]}"; do
  bin=build/fuzz/fuzz/$t
  work=build/fuzz/corpus/$t
  mkdir -p "$work" build/fuzz/artifacts
  # A single allocation past the limit is a failure: decoding must check every length it reads
  # against what is left of the input before allocating for it. Inputs are at most a few KiB;
  # record batches may inflate to 8 MiB (the target's bound).
  case $t in
    fuzz_record_batch | fuzz_segment_recovery) malloc_mb=64 ;;
    *) malloc_mb=16 ;;
  esac
  opts=(-rss_limit_mb=2048 -malloc_limit_mb=$malloc_mb -timeout=10 -print_final_stats=1
        -artifact_prefix="build/fuzz/artifacts/$t-")
  [ "$t" = fuzz_request ] && opts+=(-dict=fuzz/kafka.dict)
  if [ -d "fuzz/regressions/$t" ] && [ -n "$(ls -A "fuzz/regressions/$t")" ]; then
    echo "== $t: regression inputs"
    "$bin" "${opts[@]}" fuzz/regressions/$t/* || { failed+=("$t (regressions)"); continue; }
  fi
  echo "== $t: ${seconds}s"
  log=build/fuzz/$t.log
  if ! "$bin" "${opts[@]}" -max_total_time="$seconds" "$work" "fuzz/corpus/$t" >"$log" 2>&1; then
    tail -60 "$log"
    failed+=("$t")
    continue
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE" "$log" || tail -3 "$log"
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs under build/fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: no crash in ${targets[*]}"
