#!/usr/bin/env bash
# Runs fuzz targets of the sanitize build (tests/build/sanitize.sh builds them into BUILD_DIR/sanitize)
# for a fixed time each, starting from the checked-in seeds (tests/fuzz/corpus/<target>) plus what
# earlier runs found (SANITIZE_BUILD_DIR/fuzz/corpus/<target>, kept between runs). A crash, a leak, a
# sanitizer report, a failed property, an input slower than 10 s or using over 2 GiB fails the run
# and leaves the input in SANITIZE_BUILD_DIR/fuzz/crashes/<target>/.
#
# Usage: tests/fuzz/run.sh [-j JOBS] SANITIZE_BUILD_DIR SECONDS [TARGET...]
#   every target when none is named; JOBS targets at once (default 1). CI (ctest fuzz_<target>) runs
#   each for a few seconds; for hours, e.g. 4 hours per target, two at a time:
#     tests/fuzz/run.sh -j 2 build/sanitize 14400
set -euo pipefail
jobs=1
if [[ ${1:-} == -j ]]; then
  jobs=${2:?usage: $0 [-j JOBS] SANITIZE_BUILD_DIR SECONDS [TARGET...]}
  shift 2
fi
build=${1:?usage: $0 [-j JOBS] SANITIZE_BUILD_DIR SECONDS [TARGET...]}
seconds=${2:?usage: $0 [-j JOBS] SANITIZE_BUILD_DIR SECONDS [TARGET...]}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  # Every registered target: the list in tests/fuzz/CMakeLists.txt.
  mapfile -t targets < <(sed -n '/^set(BPFEX_FUZZ_TARGETS/,/^)/p' "$here/CMakeLists.txt" | sed -n 's/^  \([a-z_0-9]*\) .*/\1/p')
fi

# run_one TARGET: fuzzes it for $seconds; prints one line of figures, or the failure.
run_one() {
  local target=$1 binary=$build/fuzz_$1 corpus=$build/fuzz/corpus/$1 crashes=$build/fuzz/crashes/$1
  local log=$build/fuzz/$1.log dict=()
  if [[ ! -x $binary ]]; then
    echo "FAIL fuzz_$target: $binary is missing (tests/build/sanitize.sh build ... builds it)"
    return 1
  fi
  mkdir -p "$corpus" "$crashes"
  [[ -f $here/$target.dict ]] && dict=("-dict=$here/$target.dict")
  # New inputs go to the first directory; the seeds are read only. Leaks are failures too.
  if "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$crashes/" "${dict[@]}" "$corpus" "$here/corpus/$target" >"$log" 2>&1; then
    local runs rate units
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    units=$(find "$corpus" -type f | wc -l)
    echo "PASS fuzz_$target: ${runs:-?} inputs in $seconds s (${rate:-?}/s), $units inputs found so far in $corpus"
  else
    echo "FAIL fuzz_$target: see $log; the input is in $crashes/:"
    find "$crashes" -type f -newer "$binary" -printf '    %p\n' | head -n 3
    grep -E -m 12 'ERROR|fuzz property failed|SUMMARY|^    #[0-9] ' "$log" | sed 's/^/    | /' || true
    echo "    replay: $binary INPUT; once fixed, copy it into tests/fuzz/corpus/$target/ as a seed"
    return 1
  fi
}

failed=0
if [[ $jobs -le 1 ]]; then
  for t in "${targets[@]}"; do run_one "$t" || failed=1; done
else
  # run_one returns 0 or 1; wait -n returns 127 once no job is left.
  reap() {
    local rc=0
    wait -n || rc=$?
    [[ $rc -eq 1 ]] && failed=1
    return $((rc == 127))
  }
  for t in "${targets[@]}"; do
    while [[ $(jobs -rp | wc -l) -ge $jobs ]]; do reap || break; done
    run_one "$t" &
  done
  while reap; do :; done
fi
exit "$failed"
