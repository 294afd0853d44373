#!/usr/bin/env bash
# What bpfex's network module costs a container host's link operations, in one command (root):
#
#   bench/network/burst.sh [ROUNDS] [PAIRS]        defaults: 5 rounds of 300 veth pairs
#
# In a network namespace of its own (created and deleted here), each round times, with and without
# bpfex watching that namespace (network module only), in alternating order:
#   create   `ip -batch`: PAIRS veth pairs added and brought up;
#   attached with bpfex: from the start of the batch until bpfex holds a tcx link on both
#            directions of every new interface (its fdinfo, polled every 10 ms);
#   delete   `ip -batch`: the pairs deleted (deleting a veth deletes its peer).
# Prints the medians and bpfex's ratio to the plain runs; raw numbers in
# bench/network/results/burst-<time>.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${1:-5}
pairs=${2:-300}
[[ $(id -u) -eq 0 ]] || { echo "bench/network/burst: needs root" >&2; exit 1; }
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
source "$root/scripts/lib.sh"
ensure_tracefs
work=$(mktemp -d /tmp/bpfex-bench-burst.XXXXXX)
ns=bpfex-burst-$$
results=$root/bench/network/results/burst-$(date -u +%Y%m%dT%H%M%SZ).txt
bpfex_pid=""
cleanup() {
  if [[ -n $bpfex_pid ]]; then
    kill "$bpfex_pid" 2>/dev/null || true
    wait "$bpfex_pid" 2>/dev/null || true
  fi
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for ((i = 0; i < pairs; i++)); do echo "link add bba$i type veth peer name bbb$i"; done >"$work/add"
for ((i = 0; i < pairs; i++)); do echo "link set bba$i up"; echo "link set bbb$i up"; done >>"$work/add"
for ((i = 0; i < pairs; i++)); do echo "link del bba$i"; done >"$work/del"
cat >"$work/bpfex.yaml" <<'YAML'
web:
  listen_address: "127.0.0.1:19650"
modules:
  exec: {enabled: false}
  syscall: {enabled: false}
YAML
ip netns add "$ns"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# tcx links bpfex holds on live interfaces.
links() { grep -l $'link_type:\ttcx' /proc/"$bpfex_pid"/fdinfo/* 2>/dev/null | wc -l; }

# one MODE: prints "create_ms attached_ms delete_ms" (attached_ms is - without bpfex).
one() {
  local mode=$1 t0 t1 t2 t3 attached=-
  if [[ $mode == bpfex ]]; then
    ip netns exec "$ns" "$root/build/bpfex" --config.file="$work/bpfex.yaml" --web.listen-address=127.0.0.1:$((20000 + RANDOM % 20000)) \
      >"$work/bpfex.log" 2>&1 &
    bpfex_pid=$!
    for _ in $(seq 100); do grep -q "serving metrics" "$work/bpfex.log" && break; sleep 0.1; done
    local base
    base=$(links)
  fi
  t0=$(now_ms)
  ip netns exec "$ns" ip -batch "$work/add"
  t1=$(now_ms)
  if [[ $mode == bpfex ]]; then
    local want=$((base + 4 * pairs))  # ingress and egress of both ends
    while (($(links) < want)); do
      (($(now_ms) - t0 > 60000)) && { echo "burst: bpfex did not attach within 60 s" >&2; exit 1; }
      sleep 0.01
    done
    attached=$(($(now_ms) - t0))
  fi
  t2=$(now_ms)
  ip netns exec "$ns" ip -batch "$work/del"
  t3=$(now_ms)
  if [[ $mode == bpfex ]]; then
    kill "$bpfex_pid" 2>/dev/null || true
    wait "$bpfex_pid" 2>/dev/null || true
    bpfex_pid=""
  fi
  echo "$((t1 - t0)) $attached $((t3 - t2))"
}

{
  echo "# bench/network/burst.sh $rounds $pairs, $(date -u +%FT%TZ), $(uname -r)"
  echo "# round mode create_ms attached_ms delete_ms"
  for ((r = 0; r < rounds; r++)); do
    if ((r % 2)); then order=(bpfex plain); else order=(plain bpfex); fi
    for mode in "${order[@]}"; do echo "$r $mode $(one "$mode")"; done
  done
} | tee "$results"

python3 - "$results" "$pairs" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if not l.startswith("#")]
pairs = int(sys.argv[2])
def med(mode, col):
    return statistics.median(float(r[col]) for r in rows if r[1] == mode and r[col] != "-")
print(f"\n{pairs} veth pairs, medians of {len(rows) // 2} rounds (ms):")
print(f"{'':12} {'plain':>8} {'bpfex':>8} {'ratio':>6}")
for name, col in (("create+up", 2), ("delete", 4)):
    p, b = med("plain", col), med("bpfex", col)
    print(f"{name:12} {p:8.0f} {b:8.0f} {b / p:6.2f}")
a = med("bpfex", 3)
print(f"{'attached':12} {'':8} {a:8.0f}   (every interface of the burst, from its start; {a * 1000 / (2 * pairs):.0f} us per interface)")
PY
