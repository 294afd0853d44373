#!/usr/bin/env bash
# Every standard CMake build type builds warning-free with Debian 12's g++ and with clang++, and its
# unit tests pass: a packager's Release or MinSizeRel build must not meet an error we never saw.
# (The main build, g++ RelWithDebInfo, is scripts/build.sh's; clang Debug is tests/build/sanitize.sh's,
# with ASan and UBSan on: ctests sanitize_build and sanitize_unit.)
#
# Usage: tests/build/build_types.sh REPO_ROOT BUILD_DIR
#   builds into BUILD_DIR/build-types/<compiler>-<type>; prints one line per build.
set -euo pipefail
root=$(cd "${1:?usage: $0 REPO_ROOT BUILD_DIR}" && pwd)
out=${2:?usage: $0 REPO_ROOT BUILD_DIR}/build-types
mkdir -p "$out"
failed=0
for compiler in gcc clang; do
  for type in Debug Release RelWithDebInfo MinSizeRel; do
    [[ $compiler == gcc && $type == RelWithDebInfo ]] && continue  # scripts/build.sh's own
    [[ $compiler == clang && $type == Debug ]] && continue  # tests/build/sanitize.sh's, sanitized
    dir=$out/$compiler-$type
    log=$dir.log
    if [[ $compiler == gcc ]]; then cc=gcc cxx=g++; else cc=clang cxx=clang++; fi
    start=$SECONDS
    if CC=$cc CXX=$cxx cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DBPFEX_WERROR=ON >"$log" 2>&1 &&
      cmake --build "$dir" --parallel "$(nproc)" >>"$log" 2>&1 &&
      "$dir/unit_tests" >>"$log" 2>&1 &&
      "$dir/bpfex" --config.check >>"$log" 2>&1; then
      echo "PASS $compiler $type ($((SECONDS - start)) s)"
    else
      echo "FAIL $compiler $type ($((SECONDS - start)) s); last lines of $log:"
      grep -E 'error|warning' "$log" | head -n 20 | sed 's/^/    /'
      tail -n 10 "$log" | sed 's/^/    | /'
      failed=1
    fi
  done
done
exit "$failed"
