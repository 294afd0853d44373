#!/usr/bin/env bash
# Installs dependencies, builds, and starts bpfex with config/bpfex.yaml (extra flags pass through).
#   scripts/run.sh                       # then: curl localhost:9650/metrics
#   scripts/run.sh --log.level=debug
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib.sh"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
ensure_tracefs
exec "$root/build/bpfex" --config.file="$root/config/bpfex.yaml" "$@"
