#!/usr/bin/env bash
# The C++ sources (exporter/, tests/) pass clang-tidy with the repository's .clang-tidy, whose
# checks are all errors.
# Usage: tests/build/clang_tidy.sh REPO_ROOT BUILD_DIR     (BUILD_DIR has compile_commands.json)
set -euo pipefail
root=$(cd "${1:?usage: $0 REPO_ROOT BUILD_DIR}" && pwd)
build=$(cd "${2:?usage: $0 REPO_ROOT BUILD_DIR}" && pwd)
[[ -f $build/compile_commands.json ]] || { echo "FAIL no $build/compile_commands.json"; exit 1; }
log=$build/clang-tidy.log
# The compile commands are g++'s: clang does not know some of its warning options (-Wno-restrict).
if run-clang-tidy -p "$build" -quiet -j "$(nproc)" -extra-arg=-Wno-unknown-warning-option \
  "$root/(exporter|tests)/.*\\.cpp" >"$log" 2>&1 &&
  ! grep -qE '(warning|error): ' "$log"; then
  echo "clang-tidy: $(grep -c '^clang-tidy' "$log") files clean"
else
  grep -E -A3 '(warning|error): ' "$log" | head -n 60
  echo "clang-tidy: FAIL (full output: $log)"
  exit 1
fi
