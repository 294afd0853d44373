#!/usr/bin/env bash
# Configures (once) and builds bpfex into build/, warnings as errors. Quiet when nothing changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_type=${BUILD_TYPE:-RelWithDebInfo}
if [[ ! -f "$root/build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE="$build_type" -DBPFEX_WERROR=ON >/dev/null
fi
cmake --build "$root/build" --parallel "$(nproc)" -- --no-print-directory | { grep -vE '^\[ *[0-9]+%\]|^Consolidate|^Scanning|^make' || true; }
