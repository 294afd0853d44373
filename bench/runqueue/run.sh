#!/usr/bin/env bash
# What the runqueue module costs a context-switch-heavy workload, next to runqlat (libbpf-tools) and
# the floor (empty programs on the same three tracepoints). One command, as root on Debian 12:
#
#   bench/runqueue/run.sh [ROUNDS=9] [ROUND_TRIPS=200000]
#   TRACERS="base floor bpfex runqlat" bench/runqueue/run.sh 9 200000
#
# The workload (pingpong.c): two threads pinned to CPU 1 ping-pong a byte over two pipes, so every
# round trip is two wakeups and two context switches on that CPU; it prints the median over 10
# chunks of ns per round trip in the process's CPU time. One tracer at a time runs (on CPU 0):
#   base        nothing attached
#   floor       empty tp_btf programs on sched_wakeup, sched_wakeup_new, sched_switch (floor.bpf.c)
#   bpfex       build/bpfex with only the runqueue module, default options (by_workload on)
#   bpfex_node  the same with by_workload: false (one node-wide histogram)
#   runqlat     libbpf-tools' runqlat, default (one histogram, printed when it exits)
# Phase 1 interleaves the tracers round by round (rotating their order) with BPF run-time stats off
# and reports medians of the added ns per round trip, and their ratio to runqlat's, in the same run.
# Phase 2 turns BPF run-time stats on (BPF_ENABLE_STATS, held while it runs) and, interleaved again, reads each
# tracer's programs' run_time_ns / run_cnt over the workload: ns per program run, by the kernel's
# own accounting (which adds its own two clock reads to every run, alike for all).
# Raw numbers: bench/runqueue/results/<time>.txt; the summary is <time>.txt.summary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=${1:-9}
trips=${2:-200000}
[[ $(id -u) -eq 0 ]] || { echo "run.sh: needs root" >&2; exit 1; }
(($(nproc) >= 2)) || { echo "run.sh: needs 2 CPUs (the workload on CPU 1, the tracers on CPU 0)" >&2; exit 1; }

# ---- dependencies (Debian 12 packages) and builds
command -v runqlat >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libbpf-tools >/dev/null
}
"$root/scripts/build.sh"
source "$root/scripts/lib.sh"
ensure_tracefs
work=$(mktemp -d /tmp/bpfex-bench-rq.XXXXXX)
cc -O2 -Wall -Wextra -Werror -pthread -o "$work/pingpong" "$here/pingpong.c"
cc -O2 -Wall -Wextra -Werror -o "$work/floor" "$root/bench/syscall/floor.c" -lbpf
clang -target bpf -D__TARGET_ARCH_x86 -g -O2 -Wall -Werror -I"$root/kernel/include/x86" \
  -c "$here/floor.bpf.c" -o "$work/floor.bpf.o"
port=$((20000 + RANDOM % 20000))
for variant in bpfex bpfex_node; do
  by_workload=true
  [[ $variant == bpfex_node ]] && by_workload=false
  cat >"$work/$variant.yaml" <<YAML
web:
  listen_address: "127.0.0.1:$port"
attribution:
  min_age: 0s
modules:
  exec: {enabled: false}
  syscall: {enabled: false}
  network: {enabled: false}
  block: {enabled: false}
  runqueue:
    enabled: true
    by_workload: $by_workload
YAML
done

tool_pid=""
start_tool() {
  local name=$1 i
  : >"$work/tool.out"
  case $name in
    base) tool_pid=""; return ;;
    floor) taskset -c 0 "$work/floor" "$work/floor.bpf.o" >"$work/tool.out" 2>&1 & ;;
    bpfex | bpfex_node)
      taskset -c 0 "$root/build/bpfex" --config.file="$work/$name.yaml" --log.level=warn >"$work/tool.out" 2>&1 &
      ;;
    runqlat) taskset -c 0 runqlat >"$work/tool.out" 2>&1 & ;;
  esac
  tool_pid=$!
  for ((i = 0; i < 300; i++)); do
    case $name in
      floor) grep -q ready "$work/tool.out" && break ;;
      bpfex | bpfex_node)
        curl -fs "127.0.0.1:$port/metrics" 2>/dev/null | grep -q '^bpfex_module_up{module="runqueue"} 1' && break
        ;;
      runqlat) grep -q Tracing "$work/tool.out" && break ;;
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
stats_pid=""
# BPF run-time stats on while this process lives (BPF_ENABLE_STATS: counted by the kernel apart from
# the sysctl, so another user of the machine toggling kernel.bpf_stats_enabled cannot turn them off).
hold_stats() {
  python3 -c '
import ctypes, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
attr = (ctypes.c_uint32 * 4)()  # enable_stats.type = BPF_STATS_RUN_TIME
fd = libc.syscall(321, 32, attr, ctypes.sizeof(attr))  # bpf(BPF_ENABLE_STATS) on x86_64
if fd < 0:
    sys.exit("BPF_ENABLE_STATS: " + os.strerror(ctypes.get_errno()))
print("ready", flush=True)
signal.sigwait([signal.SIGTERM, signal.SIGINT])' >"$work/stats.out" 2>&1 &
  stats_pid=$!
  local i
  for ((i = 0; i < 50; i++)); do grep -q ready "$work/stats.out" && return 0; sleep 0.1; done
  echo "run.sh: cannot hold BPF stats: $(cat "$work/stats.out")" >&2
  exit 1
}
release_stats() {
  [[ -n $stats_pid ]] || return 0
  kill "$stats_pid" 2>/dev/null || true
  wait "$stats_pid" 2>/dev/null || true
  stats_pid=""
}
trap 'stop_tool; release_stats; rm -rf "$work"' EXIT

# Run time and runs of the BPF programs the tracer's process holds, from its file descriptors'
# fdinfo (prog_id, run_time_ns, run_cnt; each program once).
prog_stats() {
  python3 - "$1" <<'PY'
import os, sys
seen, t, n = set(), 0, 0
d = f"/proc/{sys.argv[1]}/fdinfo"
for fd in os.listdir(d):
    try:
        info = dict(line.split(":", 1) for line in open(f"{d}/{fd}") if ":" in line)
    except OSError:
        continue
    pid = info.get("prog_id", "").strip()
    if pid and pid not in seen:
        seen.add(pid)
        t += int(info.get("run_time_ns", "0"))
        n += int(info.get("run_cnt", "0"))
print(t, n)
PY
}

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
read -r -a tools <<<"${TRACERS:-base floor bpfex bpfex_node runqlat}"
[[ " ${tools[*]} " == *" base "* ]] || { echo "run.sh: TRACERS must include base" >&2; exit 2; }
for t in "${tools[@]}"; do
  case $t in
    base | floor | bpfex | bpfex_node | runqlat) ;;
    *) echo "run.sh: unknown tracer $t in TRACERS" >&2; exit 2 ;;
  esac
done

# ---- phase 1: cost to the workload (BPF stats as the machine has them, normally off)
for ((r = 1; r <= rounds; r++)); do
  tools=("${tools[@]:1}" "${tools[0]}")
  for t in "${tools[@]}"; do
    wait_quiet
    start_tool "$t"
    ns=$("$work/pingpong" 1 "$trips" 10)
    stop_tool
    echo "workload $t $ns" | tee -a "$out"
  done
done

# ---- phase 2: ns per program run by the kernel's accounting
hold_stats
for ((r = 1; r <= (rounds + 1) / 2; r++)); do
  for t in "${tools[@]}"; do
    [[ $t == base ]] && continue
    wait_quiet
    start_tool "$t"
    read -r t0 n0 < <(prog_stats "$tool_pid")
    "$work/pingpong" 1 "$trips" 10 >/dev/null
    read -r t1 n1 < <(prog_stats "$tool_pid")
    stop_tool
    echo "perrun $t $((t1 - t0)) $((n1 - n0))" | tee -a "$out"
  done
done
release_stats

python3 - "$out" <<'PY' | tee "$out.summary"
import statistics, sys
work, per = {}, {}
for line in open(sys.argv[1]):
    kind, name, *v = line.split()
    if kind == "workload":
        work.setdefault(name, []).append(float(v[0]))
    else:
        per.setdefault(name, []).append((int(v[0]), int(v[1])))
med = {k: statistics.median(v) for k, v in work.items()}
added = {k: med[k] - med["base"] for k in med}
def ratio(k, to):
    return f"{added[k] / added[to]:.2f}" if to in added and added[to] > 0 else "-"
print(f"\nround trip = 2 wakeups + 2 context switches (pingpong, CPU 1); medians of {len(work['base'])} rounds")
print(f"{'tracer':<11} {'ns/trip':>8} {'added ns':>9} {'x runqlat':>10} {'x floor':>8}")
for k in work:
    print(f"{k:<11} {med[k]:8.1f} {added[k]:9.1f} {ratio(k, 'runqlat'):>10} {ratio(k, 'floor'):>8}")
if per:
    print("\nkernel stats (BPF_ENABLE_STATS): ns per program run over each round's workload, median")
    for k, v in per.items():
        runs = [t / n for t, n in v if n]
        if not runs:
            print(f"{k:<11} no runs counted")
            continue
        print(f"{k:<11} {statistics.median(runs):8.1f} ns/run  ({len(runs)} rounds, "
              f"{statistics.median(n for _, n in v):.0f} runs each)")
PY
echo "raw results: $out"
