#!/usr/bin/env bash
# bpfex under churn for a given time, its resources sampled; says whether they stay flat (soak.py
# has the churn, the samples and the verdict). As root:
#
#   bench/soak/run.sh [SECONDS]        default 3600; ctest `soak` runs 180
#
# Builds bpfex as it is (scripts/build.sh; BPFEX_BINARY=path uses that binary instead), runs the
# soak, and keeps the samples and the verdict in bench/soak/results/<time>.txt. Exit status 0 when
# every verdict passed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-3600}
binary=${BPFEX_BINARY:-}
if [[ -z $binary ]]; then
  "$root/scripts/install-deps.sh" --tests
  "$root/scripts/build.sh"
  binary=$root/build/bpfex
fi
results=$root/bench/soak/results/$(date -u +%Y%m%dT%H%M%SZ).txt
mkdir -p "$(dirname "$results")"
exec /usr/bin/python3 -B "$root/bench/soak/soak.py" "$binary" "$root" --seconds "$seconds" --results "$results"
