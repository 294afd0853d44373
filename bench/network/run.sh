#!/usr/bin/env bash
# Network module overhead, in one command (root):
#
#   bench/network/run.sh [ROUNDS] [SECONDS]        defaults: 7 rounds of 3 s
#
# 1. Loopback UDP packets per second (64-byte datagrams) without bpfex and with bpfex (default
#    config: every module on), interleaved round by round, medians. Sender, receiver and the
#    loopback softirq share one CPU: nothing is dropped, and packets/s is the inverse of the CPU
#    time a packet costs end to end. Kernel BPF stats are off during these rounds (they cost every
#    program ~20 ns).
# 2. Per-packet cost of the network programs from the kernel's own accounting: run_time_ns / run_cnt
#    of each program over a flood, with kernel.bpf_stats_enabled=1 (restored afterwards).
#    On loopback every packet runs one program (network_ingress; tx is mirrored from rx).
# 3. The same program run on a 64-byte UDP frame by BPF_PROG_TEST_RUN (bpftool prog run, 10^6
#    repeats): the program's cost without the stats clock reads.
# Prints a markdown table for bench/README.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${1:-7}
secs=${2:-3}
[[ $(id -u) -eq 0 ]] || { echo "bench/network: needs root" >&2; exit 1; }
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
source "$root/scripts/lib.sh"
ensure_tracefs
work=$(mktemp -d /tmp/bpfex-bench-net.XXXXXX)
flood=$work/udp_flood
cc -O2 -Wall -Wextra -Werror -o "$flood" "$root/bench/network/udp_flood.c"

stats_before=$(cat /proc/sys/kernel/bpf_stats_enabled)
bpfex_pid=""
stop_bpfex() {
  [[ -n $bpfex_pid ]] || return 0
  kill -TERM "$bpfex_pid" 2>/dev/null || true
  wait "$bpfex_pid" 2>/dev/null || true
  bpfex_pid=""
}
cleanup() {
  stop_bpfex
  sysctl -qw kernel.bpf_stats_enabled="$stats_before"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_bpfex() {
  local port=$((20000 + RANDOM % 20000)) i
  "$root/build/bpfex" --web.listen-address="127.0.0.1:$port" >"$work/bpfex.log" 2>&1 &
  bpfex_pid=$!
  for ((i = 0; i < 100; i++)); do
    [[ $(curl -s --max-time 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz") == 200 ]] && return 0
    kill -0 "$bpfex_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench/network: bpfex did not become healthy:" >&2
  tail -n 5 "$work/bpfex.log" >&2
  exit 1
}

# "run_cnt run_time_ns id" of our bpfex's program NAME (other bpfex instances may run the same
# programs: ours are the ones whose fds our process holds).
prog_stats() {
  local id
  for id in $(grep -h '^prog_id:' /proc/"$bpfex_pid"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -u); do
    bpftool prog show id "$id" -j | jq -r --arg name "$1" \
      'select(.name == $name) | "\(.run_cnt // 0) \(.run_time_ns // 0) \(.id)"'
  done | head -n 1
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

port=$((40000 + RANDOM % 10000))
cpu=$(($(nproc) - 1))
flood_once() { "$flood" 127.0.0.1 "$port" "$secs" 64 "$cpu" "$cpu"; }
sysctl -qw kernel.bpf_stats_enabled=0
echo "== pps: $rounds interleaved rounds of ${secs}s, 64-byte UDP on 127.0.0.1" >&2
for ((r = 1; r <= rounds; r++)); do
  line=$(flood_once)
  echo "none $line" >>"$work/pps"
  echo "round $r none  $line" >&2
  start_bpfex
  line=$(flood_once)
  stop_bpfex
  echo "bpfex $line" >>"$work/pps"
  echo "round $r bpfex $line" >&2
done

echo "== per-packet cost: kernel BPF stats over $rounds floods" >&2
sysctl -qw kernel.bpf_stats_enabled=1
start_bpfex
for ((r = 1; r <= rounds; r++)); do
  read -r c0 t0 id < <(prog_stats network_ingress)
  flood_once >/dev/null
  read -r c1 t1 _ < <(prog_stats network_ingress)
  awk -v c="$((c1 - c0))" -v t="$((t1 - t0))" 'BEGIN { if (c > 0) printf "%.1f\n", t / c }' >>"$work/ns"
  echo "round $r network_ingress runs=$((c1 - c0)) ns/run=$(tail -n 1 "$work/ns")" >&2
done
sysctl -qw kernel.bpf_stats_enabled="$stats_before"

# 64-byte UDP payload in Ethernet + IPv4 + UDP, as tc sees it on lo.
python3 -c '
import sys
eth = bytes(12) + b"\x08\x00"
ip = bytes([0x45, 0, 0, 92, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1])
udp = bytes([0xb3, 0x15, 0xb3, 0x15, 0, 72, 0, 0]) + bytes(64)
sys.stdout.buffer.write(eth + ip + udp)' >"$work/frame.bin"
testrun=()
for ((r = 1; r <= 3; r++)); do
  testrun+=("$(bpftool prog run id "$id" data_in "$work/frame.bin" repeat 1000000 2>&1 |
    sed -n 's/.*duration (average): *\([0-9]*\)ns.*/\1/p')")
done
stop_bpfex

none_send=$(awk '$1 == "none" { sub("send_pps=", "", $4); print $4 }' "$work/pps" | median)
none_recv=$(awk '$1 == "none" { sub("recv_pps=", "", $5); print $5 }' "$work/pps" | median)
bpfex_send=$(awk '$1 == "bpfex" { sub("send_pps=", "", $4); print $4 }' "$work/pps" | median)
bpfex_recv=$(awk '$1 == "bpfex" { sub("recv_pps=", "", $5); print $5 }' "$work/pps" | median)
ns=$(median <"$work/ns")
tr=$(printf '%s\n' "${testrun[@]}" | median)

echo
echo "$(date -u +%Y-%m-%d) $(uname -r), $(nproc) CPUs, $rounds rounds of ${secs}s (medians), command: bench/network/run.sh $rounds $secs"
echo
echo "| measure | without bpfex | with bpfex | change |"
echo "|---|---|---|---|"
awk -v a="$none_send" -v b="$bpfex_send" 'BEGIN { printf "| loopback UDP sent, packets/s | %.0f | %.0f | %+.1f%% |\n", a, b, 100 * (b - a) / a }'
awk -v a="$none_recv" -v b="$bpfex_recv" 'BEGIN { printf "| loopback UDP received, packets/s | %.0f | %.0f | %+.1f%% |\n", a, b, 100 * (b - a) / a }'
echo "| network_ingress, kernel stats run_time_ns / run_cnt (1 run per loopback packet) | | $ns ns | |"
echo "| network_ingress, BPF_PROG_TEST_RUN 64-byte UDP frame (average of 10^6) | | $tr ns | |"
