#!/usr/bin/env bash
# Measures what bpfex costs while the host is busy: resident memory, BPF map memory and CPU.
# The numbers size the DaemonSet's resource requests and limits (deploy/README.md, "Resources").
#
# Usage: deploy/measure.sh [BPFEX_BINARY [CONFIG [LOAD_SECONDS]]]     (as root)
#   defaults: build/bpfex, config/bpfex.yaml, 60
#
# Load, all on this host and 127.0.0.1/::1 only: the tests' load generator as a storm
# (tests/lib/load.py --storm, bounded by LOAD_SECONDS), for every module:
#   - exec storm: one tight `/bin/true` loop per CPU (every exec runs the exec module's programs);
#   - more distinct program names than max_comms (1024), so the comm map fills to its cap and the
#     "other" overflow is used: the largest /metrics the exec module can produce;
#   - failing execs (ENOENT) in a loop;
#   - syscall storm: one python3 loop per CPU of cheap syscalls, some failing (ENOENT, EBADF), so
#     both syscall programs run on every call and the errno map gets entries;
#   - loopback traffic (network module): `ping -f` to 127.0.0.1 and ::1, a TCP stream over
#     127.0.0.1, and raw IPv4 packets of experimental protocols 253/254 to 127.0.0.1 (counted in the
#     hash map, not the per-interface slots);
#   - tcp storm: one connection-churn loop per CPU on 127.0.0.1 and ::1 (connect, accept, close,
#     refused connects, aborts), so the state-change and reset programs run on every connection;
#   - no OOM storm: OOM kills are rare events, and a storm of them would measure the kernel's OOM
#     killer and memory pressure rather than bpfex (the oom module's maps are counted all the same);
# and, from here:
#   - 10 scrapes of /metrics per second (Prometheus scrapes every 15-60 s; this is far more).
# Sampling: /proc/PID/status (VmRSS, VmHWM) and /proc/PID/stat (utime+stime) once per second;
# BPF map memory: the "memlock" of every map fd bpfex holds (/proc/PID/fdinfo). Since Linux 5.11 map
# memory is charged to the memory cgroup of the process that created the maps, so in Kubernetes it
# counts against the container's memory limit just like RSS. Per-CPU maps scale with the *possible*
# CPUs (/sys/devices/system/cpu/possible): deploy/README.md ("Resources") has the formula.
# Note: the CPU the BPF programs themselves use is spent in the context of the process that
# triggered the event (the exec'ing process), not in bpfex; see bpfex_bpf_program_run_seconds_total.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
BPFEX=${1:-$root/build/bpfex}
CONFIG=${2:-$root/config/bpfex.yaml}
LOAD_SECONDS=${3:-60}

if [[ $(id -u) -ne 0 ]]; then
  echo "measure: needs root to load BPF programs" >&2
  exit 1
fi
[[ -x $BPFEX ]] || { echo "measure: $BPFEX is not executable (run scripts/build.sh)" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bpfex-measure.XXXXXX")
PIDS=()
BPFEX_PID=""
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -n $BPFEX_PID ]] && kill "$BPFEX_PID" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
"$BPFEX" --config.file="$CONFIG" --web.listen-address="127.0.0.1:$port" >"$TMP/bpfex.log" 2>&1 &
BPFEX_PID=$!
for ((i = 0; i < 120; i++)); do
  [[ $(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$base/healthz") == 200 ]] && break
  kill -0 "$BPFEX_PID" 2>/dev/null || { cat "$TMP/bpfex.log" >&2; exit 1; }
  sleep 0.25
done
[[ $(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$base/healthz") == 200 ]] ||
  { echo "measure: bpfex not healthy within 30 s" >&2; tail "$TMP/bpfex.log" >&2; exit 1; }

clk_tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$BPFEX_PID/stat"; }
status_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$BPFEX_PID/status"; }
map_memlock_bytes() {
  local f sum=0 v
  for f in /proc/"$BPFEX_PID"/fdinfo/*; do
    grep -q '^map_id:' "$f" 2>/dev/null || continue
    v=$(awk '$1 == "memlock:" { print $2 }' "$f")
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}

possible_cpus() {
  awk -F, '{ n = 0; for (i = 1; i <= NF; i++) { split($i, r, "-"); n += (r[2] == "" ? 1 : r[2] - r[1] + 1) } print n }' \
    /sys/devices/system/cpu/possible
}
# Totals in a saved /metrics: syscalls observed (histogram counts), packets counted on lo.
syscalls_total() { awk '/^bpfex_syscall_latency_seconds_count/ { s += $2 } END { printf "%d", s }' "$1"; }
lo_packets_total() { awk '/^bpfex_network_packets_total/ && /interface="lo"/ { s += $2 } END { printf "%d", s }' "$1"; }
tcp_opens_total() { awk '/^bpfex_tcp_connections_total/ { s += $2 } END { printf "%d", s }' "$1"; }

# sample SECONDS LABEL: average and peak CPU (% of one core), peak RSS over SECONDS.
sample() {
  local secs=$1 label=$2 t0 t1 prev cur peak_cpu=0 peak_rss=0 rss pct i
  t0=$(cpu_ticks)
  prev=$t0
  for ((i = 0; i < secs; i++)); do
    sleep 1
    cur=$(cpu_ticks)
    pct=$(((cur - prev) * 100 / clk_tck))
    ((pct > peak_cpu)) && peak_cpu=$pct
    prev=$cur
    rss=$(status_kb VmRSS)
    ((rss > peak_rss)) && peak_rss=$rss
  done
  t1=$(cpu_ticks)
  printf '%-6s cpu avg %s%% of a core, peak 1 s %s%%; VmRSS peak %s KiB\n' "$label" \
    "$(awk -v d=$((t1 - t0)) -v s="$secs" -v h="$clk_tck" 'BEGIN { printf "%.1f", d * 100 / h / s }')" \
    "$peak_cpu" "$peak_rss"
}

echo "measure: $BPFEX --config.file=$CONFIG, $(nproc) CPUs, kernel $(uname -r), load ${LOAD_SECONDS}s"
sample 10 idle

# A few seconds more than the sampling: the load runs through all of it, then stops by itself.
python3 "$root/tests/lib/load.py" --modules exec,syscall,network,tcp --seconds $((LOAD_SECONDS + 5)) --storm &
PIDS+=($!)
(while :; do curl -s --max-time 5 -o /dev/null "$base/metrics"; sleep 0.1; done) &
PIDS+=($!)
curl -s --max-time 5 -o "$TMP/before.txt" "$base/metrics"
sample "$LOAD_SECONDS" load
curl -s --max-time 5 -o "$TMP/metrics.txt" "$base/metrics"
execs_before=$(awk '/^bpfex_exec_total/ { s += $2 } END { printf "%d", s }' "$TMP/before.txt")
execs_after=$(awk '/^bpfex_exec_total/ { s += $2 } END { printf "%d", s }' "$TMP/metrics.txt")

echo "load   execs counted: $(((execs_after - execs_before) / LOAD_SECONDS))/s;" \
  "syscalls counted: $((($(syscalls_total "$TMP/metrics.txt") - $(syscalls_total "$TMP/before.txt")) / LOAD_SECONDS))/s;" \
  "lo packets counted: $((($(lo_packets_total "$TMP/metrics.txt") - $(lo_packets_total "$TMP/before.txt")) / LOAD_SECONDS))/s;" \
  "TCP opens counted: $((($(tcp_opens_total "$TMP/metrics.txt") - $(tcp_opens_total "$TMP/before.txt")) / LOAD_SECONDS))/s;" \
  "/metrics: $(grep -vc '^#' "$TMP/metrics.txt") series, $(wc -c <"$TMP/metrics.txt") bytes;" \
  "overflow: $(awk '/^bpfex_label_overflow_total/ { printf "%s%s %s", sep, $1, $2; sep = ", " }' "$TMP/metrics.txt")"
read -r ps_rss ps_pcpu < <(ps -o rss=,pcpu= -p "$BPFEX_PID")
echo "ps     rss ${ps_rss} KiB, pcpu ${ps_pcpu}% (ps -o rss,pcpu: %cpu averaged over the process lifetime)"
echo "memory VmHWM (peak RSS over the whole run) $(status_kb VmHWM) KiB;" \
  "BPF maps (memlock) $(($(map_memlock_bytes) / 1024)) KiB on $(possible_cpus) possible CPUs"
