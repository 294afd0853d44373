#!/usr/bin/env bash
# What bpfex's network module costs a container host's link operations, in one command (root):
#
#   bench/network/burst.sh [ROUNDS] [PAIRS]        defaults: 5 rounds of 300 veth pairs
#
# In a network namespace of its own (created and deleted here), each round times, with and without
# bpfex watching that namespace (network module only), in alternating order:
#   create   `ip -batch`: PAIRS veth pairs added and brought up;
#   attached with bpfex attaching per interface (kernels where its tracepoints cannot load): from
#            the start of the batch until bpfex holds a tcx link on both directions of every new
#            interface (its fdinfo, polled every 10 ms). With the tracepoints (bpfex's default
#            where they load) nothing is attached: checked, and reported as "-";
#   delete   `ip -batch`: the pairs deleted (deleting a veth deletes its peer).
# A third mode, monitor, runs `ip monitor link` in the namespace instead of bpfex: a netlink
# listener that attaches nothing, to tell what any link watcher costs from what bpfex's attaches do.
# Then what one attach costs by method (attach_cost.c): tcx links and tc clsact filters of an empty
# program on one end of PAIRS pairs, created down (as a container runtime's veths first appear) or
# brought up first, methods alternating, with nothing else running.
# Prints the medians and the ratios to the plain runs; raw numbers in
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
watcher_pid=""
cleanup() {
  if [[ -n $watcher_pid ]]; then
    kill "$watcher_pid" 2>/dev/null || true
    wait "$watcher_pid" 2>/dev/null || true
  fi
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for ((i = 0; i < pairs; i++)); do echo "link add bba$i type veth peer name bbb$i"; done >"$work/add_down"
for ((i = 0; i < pairs; i++)); do echo "link set bba$i up"; echo "link set bbb$i up"; done >"$work/up"
cat "$work/add_down" "$work/up" >"$work/add"
for ((i = 0; i < pairs; i++)); do echo "link del bba$i"; done >"$work/del"
cat >"$work/bpfex.yaml" <<'YAML'
web:
  listen_address: "127.0.0.1:19650"
modules:
  exec: {enabled: false}
  syscall: {enabled: false}
YAML
ip netns add "$ns"
cc -O2 -Wall -Wextra -Werror -o "$work/attach_cost" "$root/bench/network/attach_cost.c" -lbpf
clang -target bpf -O2 -Wall -Wextra -Werror -I"$root/kernel/include/x86" -c "$root/bench/network/empty.bpf.c" \
  -o "$work/empty.o"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# tcx links bpfex holds on live interfaces.
links() { grep -l $'link_type:\ttcx' /proc/"$watcher_pid"/fdinfo/* 2>/dev/null | wc -l; }

# one MODE: prints "create_ms attached_ms delete_ms" (attached_ms is - without bpfex).
one() {
  local mode=$1 t0 t1 t2 t3 attached=- traced=0
  if [[ $mode == monitor ]]; then
    ip -n "$ns" monitor link >/dev/null &
    watcher_pid=$!
    sleep 0.2  # subscribed before the batch starts
  fi
  if [[ $mode == bpfex ]]; then
    ip netns exec "$ns" "$root/build/bpfex" --config.file="$work/bpfex.yaml" --web.listen-address=127.0.0.1:$((20000 + RANDOM % 20000)) \
      >"$work/bpfex.log" 2>&1 &
    watcher_pid=$!
    for _ in $(seq 100); do grep -q "serving metrics" "$work/bpfex.log" && break; sleep 0.1; done
    local base
    base=$(links)
    grep -q 'msg="network: attached" flavour=tp_btf' "$work/bpfex.log" && traced=1
  fi
  t0=$(now_ms)
  ip netns exec "$ns" ip -batch "$work/add"
  t1=$(now_ms)
  if [[ $mode == bpfex && $traced == 1 ]]; then
    sleep 0.5
    (($(links) == base)) || { echo "burst: bpfex counting by tracepoints attached $(($(links) - base)) tcx links" >&2; exit 1; }
  elif [[ $mode == bpfex ]]; then
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
  if [[ -n $watcher_pid ]]; then
    kill "$watcher_pid" 2>/dev/null || true
    wait "$watcher_pid" 2>/dev/null || true
    watcher_pid=""
  fi
  echo "$((t1 - t0)) $attached $((t3 - t2))"
}

{
  echo "# bench/network/burst.sh $rounds $pairs, $(date -u +%FT%TZ), $(uname -r)"
  echo "# round mode create_ms attached_ms delete_ms"
  for ((r = 0; r < rounds; r++)); do
    case $((r % 3)) in
      0) order=(plain monitor bpfex) ;;
      1) order=(bpfex plain monitor) ;;
      2) order=(monitor bpfex plain) ;;
    esac
    for mode in "${order[@]}"; do echo "$r $mode $(one "$mode")"; done
  done
  echo "# cost round state method attach_ms_per_interface attach_max_ms detach_ms_per_interface"
  for ((r = 0; r < rounds; r++)); do
    if ((r % 2)); then methods=(tc tcx); else methods=(tcx tc); fi
    for state in down up; do
      for method in "${methods[@]}"; do
        ip netns exec "$ns" ip -batch "$work/add_down"
        [[ $state == up ]] && ip netns exec "$ns" ip -batch "$work/up"
        echo "cost $r $state $(ip netns exec "$ns" "$work/attach_cost" "$work/empty.o" "$method" bba "$pairs")"
        ip netns exec "$ns" ip -batch "$work/del"
      done
    done
  done
} | tee "$results"

python3 - "$results" "$pairs" <<'PY'
import statistics, sys
lines = [l.split() for l in open(sys.argv[1]) if not l.startswith("#")]
rows = [l for l in lines if l[0] != "cost"]
costs = [l[1:] for l in lines if l[0] == "cost"]  # round state method count attach max detach
pairs = int(sys.argv[2])
def med(mode, col):
    values = [float(r[col]) for r in rows if r[1] == mode and r[col] != "-"]
    return statistics.median(values) if values else None
print(f"\n{pairs} veth pairs, medians of {len(rows) // 3} rounds (ms):")
print(f"{'':12} {'plain':>8} {'monitor':>8} {'ratio':>6} {'bpfex':>8} {'ratio':>6}")
for name, col in (("create+up", 2), ("delete", 4)):
    p, m, b = med("plain", col), med("monitor", col), med("bpfex", col)
    print(f"{name:12} {p:8.0f} {m:8.0f} {m / p:6.2f} {b:8.0f} {b / p:6.2f}")
a = med("bpfex", 3)
if a is None:
    print(f"{'attached':12} {'':8} {'-':>8}   (bpfex counted by tracepoints: nothing attached to the interfaces)")
else:
    print(f"{'attached':12} {'':8} {a:8.0f}   (every interface of the burst, from its start; {a * 1000 / (2 * pairs):.0f} us per interface)")
print(f"\nattach cost per interface (ingress and egress), medians of {len(costs) // 4} rounds (ms):")
print(f"{'':12} {'attach':>8} {'worst':>8} {'detach':>8}")
for state in ("down", "up"):
    for method in ("tcx", "tc"):
        sel = [c for c in costs if c[1] == state and c[2] == method]
        a, w, d = (statistics.median(float(c[k]) for c in sel) for k in (4, 5, 6))
        print(f"{method + ', ' + state:12} {a:8.3f} {w:8.3f} {d:8.3f}")
PY
