#!/usr/bin/env bash
# bpfex's HTTP front under misbehaving clients, libmicrohttpd (now) against civetweb (before), in
# one command (root not needed):
#
#   bench/http/run.sh [ROUNDS] [SCRAPES]        defaults: 3 rounds of 10 scrapes per scenario
#
# Builds bpfex as it is and as it was with civetweb (CIVETWEB_REV, the last revision that served
# with it, from this repository's own history, in a temporary worktree; Debian's libcivetweb-dev is
# installed for it), starts each with every module off, and runs bench/http/abuse.py's scenarios
# against each, interleaved round by round: quiet, 8 idle connections, 200 slowloris connections,
# 200 slow readers, 2000 idle connections. Reports per server and scenario the scrapes answered
# within 1 s and the latency percentiles; raw lines in bench/http/results/<time>.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${1:-3}
scrapes=${2:-10}
CIVETWEB_REV=${CIVETWEB_REV:-903f18df85c9}
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
dpkg-query -W -f='${Status}' libcivetweb-dev 2>/dev/null | grep -q 'install ok installed' ||
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libcivetweb-dev >/dev/null; }
work=$(mktemp -d /tmp/bpfex-bench-http.XXXXXX)
pid=""
cleanup() {
  if [[ -n $pid ]]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  git -C "$root" worktree remove --force "$work/civetweb" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
git -C "$root" worktree add --detach "$work/civetweb" "$CIVETWEB_REV" >/dev/null 2>&1
cmake -S "$work/civetweb" -B "$work/civetweb/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$work/civetweb/build" --target bpfex --parallel "$(nproc)" >/dev/null
printf 'modules:\n  exec: {enabled: false}\n  syscall: {enabled: false}\n  network: {enabled: false}\n' >"$work/off.yaml"
results=$root/bench/http/results/$(date -u +%Y%m%dT%H%M%SZ).txt
mkdir -p "$(dirname "$results")"

run_server() {  # run_server NAME BINARY: prints abuse.py's lines prefixed with the server's name
  local port=$((20000 + RANDOM % 20000)) scenario
  "$2" --config.file="$work/off.yaml" --web.listen-address="127.0.0.1:$port" >"$work/$1.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
  for scenario in quiet idle8 slowloris200 slowreaders200 idle2000; do
    echo "$1 $(python3 "$root/bench/http/abuse.py" "$port" "$scenario" "$scrapes")"
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
}

{
  echo "# bench/http/run.sh $rounds $scrapes, $(date -u +%FT%TZ), civetweb = $CIVETWEB_REV"
  echo "# server scenario answered_within_1s/scrapes p50_ms p99_ms max_ms failures"
  for ((r = 0; r < rounds; r++)); do
    if ((r % 2)); then
      run_server civetweb "$work/civetweb/build/bpfex"
      run_server microhttpd "$root/build/bpfex"
    else
      run_server microhttpd "$root/build/bpfex"
      run_server civetweb "$work/civetweb/build/bpfex"
    fi
  done
} | tee "$results"

python3 - "$results" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    if line.startswith("#"):
        continue
    server, scenario, fast, p50, p99, mx, failures = line.split()
    rows[(scenario, server)].append((fast, float(p50), float(p99), float(mx), int(failures)))
print(f"\n{'scenario':16} {'server':11} {'answered <1s':>13} {'p50 ms':>8} {'p99 ms':>9} {'failed':>7}  (all rounds)")
for (scenario, server), rs in sorted(rows.items()):
    fast = sum(int(r[0].split("/")[0]) for r in rs)
    total = sum(int(r[0].split("/")[1]) for r in rs)
    print(f"{scenario:16} {server:11} {fast:>6}/{total:<6} {statistics.median(r[1] for r in rs):8.1f} "
          f"{max(r[2] for r in rs):9.1f} {sum(r[4] for r in rs):7}")
PY
