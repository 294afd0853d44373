#!/usr/bin/env bash
# What the syscall module costs each syscall, next to syscount -L, bpftrace, the floor (empty BPF
# programs on the same attach points) and "clocks" (the floor plus one clock read per program: the
# least any latency tracer can do). One command, as root on Debian 12:
#
#   bench/syscall/run.sh [ROUNDS=9] [CALLS=5000000]
#   TRACERS="base floor clocks bookkeeping minimal module bpfex" bench/syscall/run.sh 9 2000000
#   TRACERS="base floor bpfex bpfex_workload" bench/syscall/run.sh 9 2000000
#   TRACERS="base minimal minimal_native" bench/syscall/run.sh 9 2000000   (native buckets vs log2)
#
# TRACERS picks the tracers (default: base floor clocks bpfex bpfex_workload syscount bpftrace).
# bpfex_workload is bpfex with the syscall module's by_workload on (rows per {cgroup, syscall}: the
# loop's cgroup has its own, which only the loop's thread updates). The breakdown ones
# load objects with the same small loader as the floor: bookkeeping and minimal (minimal.bpf.c, the
# least a correct histogram needs, without and with its clock reads; minimal_native: the same with
# bpfex's native-histogram bucket rule instead of log2 buckets), module (the syscall module's
# own tp_btf programs from build/skel/syscall.bpf.o, without the bpfex process around them).
#
# A getppid loop pinned to CPU 1 measures ns per call (median over 10 chunks, in thread CPU time) while one tracer at a
# time runs on CPU 0. Rounds interleave the tracers (rotating their order) so that slow drifts of a
# shared machine hit all of them alike; the table shows medians over rounds. Before each run the
# script waits (up to 10 s) for the machine to be quiet. Results: bench/syscall/results/<time>.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=${1:-9}
calls=${2:-5000000}
[[ $(id -u) -eq 0 ]] || { echo "run.sh: needs root" >&2; exit 1; }

# ---- dependencies (Debian 12 packages) and builds
need=()
command -v syscount >/dev/null || need+=(libbpf-tools)
command -v bpftrace >/dev/null || need+=(bpftrace)
if ((${#need[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
"$root/scripts/build.sh"
source "$root/scripts/lib.sh"
ensure_tracefs
work=$(mktemp -d /tmp/bpfex-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cc -O2 -Wall -Wextra -Werror -o "$work/loop" "$here/loop.c"
cc -O2 -Wall -Wextra -Werror -o "$work/floor" "$here/floor.c" -lbpf
clang -target bpf -D__TARGET_ARCH_x86 -g -O2 -Wall -Werror -I"$root/kernel/include/x86" \
  -c "$here/floor.bpf.c" -o "$work/floor.bpf.o"
clang -target bpf -D__TARGET_ARCH_x86 -g -O2 -Wall -Werror -I"$root/kernel/include/x86" \
  -c "$here/clocks.bpf.c" -o "$work/clocks.bpf.o"
"$root/build/bench_native_table" >"$work/native_table.h"
for variant in minimal bookkeeping minimal_native; do
  defines=()
  [[ $variant == bookkeeping ]] && defines=(-DBENCH_NO_CLOCK)
  [[ $variant == minimal_native ]] && defines=(-DBENCH_NATIVE)
  clang -target bpf -D__TARGET_ARCH_x86 -g -O2 -Wall -Werror -I"$root/kernel/include/x86" -I"$root/kernel" \
    -I"$work" "${defines[@]}" -c "$here/minimal.bpf.c" -o "$work/$variant.bpf.o"
done
port=$((20000 + RANDOM % 20000))
# bpfex_workload: the same but by_workload (and a workload exported at once, to read what it costs).
for variant in bpfex bpfex_workload; do
  by_workload=false
  [[ $variant == bpfex_workload ]] && by_workload=true
  cat >"$work/$variant.yaml" <<YAML
web:
  listen_address: "127.0.0.1:$port"
attribution:
  min_age: 0s
modules:
  exec:
    enabled: false
  syscall:
    enabled: true
    by_workload: $by_workload
  network:
    enabled: false
YAML
done

# ---- one tracer at a time
tool_pid=""
start_tool() {
  local name=$1 i
  : >"$work/tool.out"
  case $name in
    base) tool_pid=""; return ;;
    floor) taskset -c 0 "$work/floor" "$work/floor.bpf.o" >"$work/tool.out" 2>&1 & ;;
    clocks | minimal | minimal_native | bookkeeping) taskset -c 0 "$work/floor" "$work/$name.bpf.o" >"$work/tool.out" 2>&1 & ;;
    module)
      taskset -c 0 "$work/floor" "$root/build/skel/syscall.bpf.o" sys_enter_tp_btf sys_exit_tp_btf \
        >"$work/tool.out" 2>&1 &
      ;;
    bpfex | bpfex_workload)
      taskset -c 0 "$root/build/bpfex" --config.file="$work/$name.yaml" --log.level=warn >"$work/tool.out" 2>&1 &
      ;;
    syscount) taskset -c 0 syscount -L >"$work/tool.out" 2>&1 & ;;
    bpftrace) taskset -c 0 bpftrace "$here/hist.bt" >"$work/tool.out" 2>&1 & ;;
  esac
  tool_pid=$!
  for ((i = 0; i < 300; i++)); do
    case $name in
      floor | clocks | minimal | minimal_native | bookkeeping | module) grep -q ready "$work/tool.out" && break ;;
      bpfex | bpfex_workload)
        curl -fs "127.0.0.1:$port/metrics" 2>/dev/null | grep -q '^bpfex_module_up{module="syscall"} 1' && break
        ;;
      syscount) grep -q Tracing "$work/tool.out" && break ;;
      bpftrace) grep -q Attaching "$work/tool.out" && { sleep 2; break; } ;;
    esac
    sleep 0.1
  done
  kill -0 "$tool_pid" 2>/dev/null || { echo "run.sh: $name died:" >&2; cat "$work/tool.out" >&2; exit 1; }
}
stop_tool() {
  [[ -n $tool_pid ]] || return 0
  kill -INT "$tool_pid" 2>/dev/null || true
  wait "$tool_pid" 2>/dev/null || true
  tool_pid=""
}
trap 'stop_tool; rm -rf "$work"' EXIT

# Waits until the other users of the machine leave at least 1.8 of 2 CPUs idle for half a second.
wait_quiet() {
  local i u n s rest t1 t2
  for ((i = 0; i < 20; i++)); do
    read -r _ u n s rest </proc/stat; t1=$((u + n + s)); sleep 0.5
    read -r _ u n s rest </proc/stat; t2=$((u + n + s))
    ((t2 - t1 < 10)) && return 0
  done
  echo "  (machine not quiet; measuring anyway)" >&2
}

mkdir -p "$here/results"
out="$here/results/$(date -u +%Y%m%dT%H%M%SZ).txt"
polls="$work/polls.txt"
: >"$polls"
read -r -a tools <<<"${TRACERS:-base floor clocks bpfex bpfex_workload syscount bpftrace}"
[[ " ${tools[*]} " == *" base "* ]] || { echo "run.sh: TRACERS must include base" >&2; exit 2; }
for t in "${tools[@]}"; do
  case $t in
    base | floor | clocks | minimal | minimal_native | bookkeeping | module | bpfex | bpfex_workload | syscount | bpftrace) ;;
    *) echo "run.sh: unknown tracer $t in TRACERS" >&2; exit 2 ;; # start_tool knows exactly these
  esac
done
for ((r = 1; r <= rounds; r++)); do
  tools=("${tools[@]:1}" "${tools[0]}")
  for t in "${tools[@]}"; do
    wait_quiet
    start_tool "$t"
    ns=$(taskset -c 1 "$work/loop" "$calls" 10)
    if [[ $t == bpfex ]]; then
      # Time the last poll took reading every syscall row and the errno map (default config).
      curl -fs "127.0.0.1:$port/metrics" | awk '/^bpfex_poll_duration_seconds\{module="syscall"\}/ {print $2}' >>"$polls"
    fi
    stop_tool
    echo "$t $ns" | tee -a "$out"
  done
done

python3 - "$out" "$polls" "${#tools[@]}" <<'PY' | tee "$out.summary"
import statistics, sys
runs, rounds = {}, []
for i, line in enumerate(open(sys.argv[1])):
    name, ns = line.split()
    runs.setdefault(name, []).append(float(ns))
    if i % int(sys.argv[3]) == 0:
        rounds.append({})
    rounds[-1][name] = float(ns)
med = {k: statistics.median(v) for k, v in runs.items()}
added = {k: med[k] - med["base"] for k in med}
def ratio(k, to):
    return f"{added[k] / added[to]:.2f}" if to in added and added[to] else "-"
# The same ratio computed inside each round (every round runs every tracer), then the median: a
# second estimate that a slow stretch of the machine cannot skew across tracers.
def round_ratio(k, to):
    if to not in med:
        return "-"
    r = [(x[k] - x["base"]) / (x[to] - x["base"]) for x in rounds if x[to] - x["base"] > 0]
    return f"{statistics.median(r):.2f}" if r else "-"
print(f"\n{'tracer':<12} {'ns/call':>8} {'added ns':>9} {'x syscount':>11} {'x floor':>8}"
      f" {'per-round x syscount':>21} {'x floor':>8}   (medians of {len(runs['base'])} rounds)")
for k in runs:
    print(f"{k:<12} {med[k]:8.1f} {added[k]:9.1f} {ratio(k, 'syscount'):>11} {ratio(k, 'floor'):>8}"
          f" {round_ratio(k, 'syscount'):>21} {round_ratio(k, 'floor'):>8}")
if "bpfex_workload" in med and "bpfex" in med:
    print(f"\nby_workload: bpfex_workload adds {ratio('bpfex_workload', 'bpfex')} x what bpfex adds "
          f"(per round {round_ratio('bpfex_workload', 'bpfex')}); target <= 1.25")
polls = [float(x) for x in open(sys.argv[2]) if x.strip()]
if polls:
    print(f"\nbpfex poll of the syscall module (bpfex_poll_duration_seconds): median {statistics.median(polls)*1e6:.0f} us, "
          f"max {max(polls)*1e6:.0f} us over {len(polls)} samples")
PY
echo "raw results: $out"
