#!/usr/bin/env bash
# The C++ sources (exporter/, tests/) are as clang-format (.clang-format) writes them.
# Usage: tests/build/clang_format.sh REPO_ROOT
set -euo pipefail
root=$(cd "${1:?usage: $0 REPO_ROOT}" && pwd)
cd "$root"
mapfile -t files < <(git ls-files -co --exclude-standard -- 'exporter/*.cpp' 'exporter/*.h' 'tests/*.cpp' 'tests/*.h')
if [[ ${#files[@]} -eq 0 ]]; then
  echo "FAIL no C++ sources found under $root"
  exit 1
fi
if clang-format --dry-run --Werror "${files[@]}"; then
  echo "clang-format: ${#files[@]} files clean"
else
  echo "clang-format: FAIL (run: clang-format -i on the files above)"
  exit 1
fi
