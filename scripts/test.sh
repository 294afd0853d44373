#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test: unit, integration (real BPF, root) and
# end to end (real bpfex, real Prometheus). Under CI=true nothing may skip.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib.sh"
"$root/scripts/install-deps.sh" --tests
"$root/scripts/build.sh"
[[ $(id -u) -eq 0 ]] && ensure_tracefs
cd "$root/build"
if [[ "${CI:-}" == "true" ]]; then
  # ctest reports skips as passes-with-a-note; in CI a skip is a failure.
  ctest --output-on-failure --no-tests=error "$@" | tee ctest.log
  if grep -q 'Not Run\|\*\*\*Skipped' ctest.log; then
    echo "test.sh: a test was skipped under CI=true" >&2
    exit 1
  fi
else
  ctest --output-on-failure --no-tests=error "$@"
fi
