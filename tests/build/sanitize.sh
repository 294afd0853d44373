#!/usr/bin/env bash
# The unit and integration tests under AddressSanitizer and UndefinedBehaviorSanitizer, and the fuzz
# targets (tests/fuzz), from one clang build in BUILD_DIR/sanitize: CMake's Debug type at -O1 with
# -DBPFEX_SANITIZE=ON (CMakeLists.txt: ASan, UBSan, libstdc++ assertions, libFuzzer coverage),
# warnings as errors. It stands in for build_types.sh's clang Debug build, which that script skips:
# the same sources, type and compiler, so one build checks both (clang's warnings come from its
# front end, whatever the optimisation level).
#
# Usage: tests/build/sanitize.sh build|unit|integration|e2e REPO_ROOT BUILD_DIR
#   build        configure (once) and build; then bpfex --config.check must pass under the sanitizers
#   unit         BUILD_DIR/sanitize/unit_tests
#   integration  BUILD_DIR/sanitize/integration_tests (root; exit 77 when not root outside CI)
#   e2e          tests/e2e's e2e_test.py and reload_test.py (root, the same 77), web_config_test.py
#                and http_test.py with the sanitized bpfex: a report ends bpfex, which fails them (a
#                leak: its exit status after SIGTERM is not 0)
# The first report of either sanitizer, or a leak, ends the run with a failure and its stack.
set -euo pipefail
usage="usage: $0 build|unit|integration|e2e REPO_ROOT BUILD_DIR"
step=${1:?$usage}
root=$(cd "${2:?$usage}" && pwd)
out=${3:?$usage}/sanitize

# halt_on_error: UBSan otherwise reports and goes on (the build also has -fno-sanitize-recover).
# A small quarantine: http_test.py bounds bpfex's RSS with 2000 connections open, and ASan's default
# quarantine alone keeps up to 256 MiB of freed memory.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:quarantine_size_mb=16}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

case $step in
  build)
    start=$SECONDS
    log=$out.log
    if [[ ! -f $out/CMakeCache.txt ]]; then
      CC=clang CXX=clang++ cmake -S "$root" -B "$out" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O1" \
        -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" -DBPFEX_WERROR=ON -DBPFEX_SANITIZE=ON >"$log" 2>&1 ||
        { tail -n 30 "$log"; echo "FAIL configure (log: $log)"; exit 1; }
    fi
    if ! cmake --build "$out" --parallel "$(nproc)" >>"$log" 2>&1; then
      grep -E 'error|warning' "$log" | head -n 20 | sed 's/^/    /'
      tail -n 10 "$log" | sed 's/^/    | /'
      echo "FAIL build (log: $log)"
      exit 1
    fi
    "$out/bpfex" --config.check >>"$log" 2>&1 || { tail -n 30 "$log"; echo "FAIL bpfex --config.check"; exit 1; }
    echo "PASS clang Debug -O1, ASan+UBSan+libFuzzer built ($((SECONDS - start)) s): $out"
    ;;
  unit)
    exec "$out/unit_tests"
    ;;
  integration)
    exec "$out/integration_tests"
    ;;
  e2e)
    python=$(command -v /usr/bin/python3 || command -v python3)
    failed=0 skipped=0
    for t in e2e_test reload_test web_config_test http_test; do
      rc=0
      "$python" -B "$root/tests/e2e/$t.py" "$out/bpfex" "$root" || rc=$?
      case $rc in
        0) ;;
        77) skipped=1 ;;  # not root, outside CI (under CI=true the test fails instead)
        *) failed=1 ;;
      esac
    done
    [[ $failed -eq 0 ]] || exit 1
    [[ $skipped -eq 0 ]] || exit 77
    ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac
