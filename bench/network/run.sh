#!/usr/bin/env bash
# Network module overhead, in one command (root):
#
#   bench/network/run.sh [ROUNDS] [SECONDS]        defaults: 9 rounds of 3 s
#
# Everything runs in a network namespace the script creates (and deletes), on its loopback: other
# processes' loopback traffic cannot add to the numbers, and bpfex (started inside it) attaches
# to that namespace's interfaces only.
#
# 1. Loopback UDP packets per second (64-byte datagrams) in five modes, interleaved round by
#    round, medians: none (no BPF); tcx-empty and tc-empty (a program that does nothing, attached
#    by a tcx link as bpfex does, or by tc clsact as before Linux 6.6: the cost of the hook itself);
#    network (bpfex with only the network module); bpfex (default config, every module on: the
#    syscall module also times the flood's sendmmsg/recvmmsg calls). Sender, receiver and the loopback softirq
#    share one CPU: nothing is dropped and packets/s is the inverse of the CPU time one packet
#    costs end to end. Kernel BPF stats are off here (they cost every program run).
# 2. Per-packet cost from the kernel's accounting (kernel.bpf_stats_enabled=1, restored
#    afterwards): run_time_ns / run_cnt of network_ingress and of the empty program, both attached
#    to the same lo by tcx links, over the same floods. On loopback every packet runs one program (tx is mirrored from rx). Their
#    difference is the module's own cost; the empty program's figure is the hook dispatch plus the
#    two clock reads the accounting itself adds.
# 3. Both programs run on a 64-byte UDP frame by BPF_PROG_TEST_RUN (bpftool prog run, 10^6
#    repeats): cost without the accounting's clock reads.
# Prints a markdown table for bench/README.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${1:-9}
secs=${2:-3}
[[ $(id -u) -eq 0 ]] || { echo "bench/network: needs root" >&2; exit 1; }
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
source "$root/scripts/lib.sh"
ensure_tracefs
work=$(mktemp -d /tmp/bpfex-bench-net.XXXXXX)
flood=$work/udp_flood
cc -O2 -Wall -Wextra -Werror -o "$flood" "$root/bench/network/udp_flood.c"
cc -O2 -Wall -Wextra -Werror -o "$work/tcx_hold" "$root/bench/network/tcx_hold.c" -lbpf
clang -target bpf -O2 -Wall -Wextra -Werror -I"$root/kernel/include/x86" -c "$root/bench/network/empty.bpf.c" \
  -o "$work/empty.o"

ns=bpfex-bench-$$
# Our own bpffs under $work: `ip netns exec` remounts /sys, hiding /sys/fs/bpf from tc in the namespace.
bpffs=$work/bpffs
pin=$bpffs/empty
stats_before=$(cat /proc/sys/kernel/bpf_stats_enabled)
bpfex_pid=""
tcx_pid=""
in_ns() { ip netns exec "$ns" "$@"; }
# The empty program by a tcx link, held by tcx_hold until its stdin closes. attach_tcx_empty first:
# at the front of lo's tcx chain instead of the end.
attach_tcx_empty() {
  exec {tcx_in}> >(in_ns "$work/tcx_hold" "$work/empty.o" lo "$@" >"$work/tcx.id" 2>"$work/tcx.err")
  tcx_pid=$!
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -s $work/tcx.id ]] && { tcx_empty_id=$(cat "$work/tcx.id"); return 0; }
    sleep 0.05
  done
  echo "bench/network: tcx_hold did not attach: $(cat "$work/tcx.err")" >&2
  exit 1
}
detach_tcx_empty() {
  [[ -n $tcx_pid ]] || return 0
  exec {tcx_in}>&-
  wait "$tcx_pid" 2>/dev/null || true
  tcx_pid=""
  rm -f "$work/tcx.id"
}

stop_bpfex() {
  [[ -n $bpfex_pid ]] || return 0
  kill -TERM "$bpfex_pid" 2>/dev/null || true
  wait "$bpfex_pid" 2>/dev/null || true
  bpfex_pid=""
}
cleanup() {
  stop_bpfex
  detach_tcx_empty
  sysctl -qw kernel.bpf_stats_enabled="$stats_before"
  ip netns del "$ns" 2>/dev/null || true
  rm -f "$pin"
  mountpoint -q "$bpffs" && umount "$bpffs"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$ns"
in_ns ip link set lo up
mkdir -p "$bpffs"
mount -t bpf bpf "$bpffs"
bpftool prog load "$work/empty.o" "$pin"
empty_id=$(bpftool prog show pinned "$pin" -j | jq -r .id)

cat >"$work/network-only.yaml" <<YAML
modules:
  exec:
    enabled: false
  syscall:
    enabled: false
  network:
    enabled: true
YAML

# start_bpfex [ARGS...]: bpfex in the namespace, default config unless ARGS say otherwise.
start_bpfex() {
  local port=$((20000 + RANDOM % 20000)) i
  # `ip netns exec` gives bpfex a fresh /sys without tracefs (the exec module needs it): mount it in
  # that private mount namespace. Both `ip` and `sh` exec, so $! is bpfex itself.
  ip netns exec "$ns" sh -c 'mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; exec "$@"' sh \
    "$root/build/bpfex" --web.listen-address="127.0.0.1:$port" "$@" >"$work/bpfex.log" 2>&1 &
  bpfex_pid=$!
  for ((i = 0; i < 100; i++)); do
    [[ $(in_ns curl -s --max-time 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz") == 200 ]] &&
      return 0
    kill -0 "$bpfex_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench/network: bpfex did not become healthy:" >&2
  tail -n 5 "$work/bpfex.log" >&2
  exit 1
}
attach_empty() { in_ns tc qdisc add dev lo clsact && in_ns tc filter add dev lo ingress bpf da pinned "$pin"; }
detach_empty() { in_ns tc qdisc del dev lo clsact; }
# Id of our bpfex's program NAME (other bpfex instances may run the same programs: ours are the
# ones whose fds our process holds).
bpfex_prog_id() {
  local id
  grep -h '^prog_id:' /proc/"$bpfex_pid"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -u |
    while read -r id; do
      bpftool prog show id "$id" -j | jq -r --arg name "$1" 'select(.name == $name) | .id'
    done | head -n 1
}
# "run_cnt run_time_ns" of program ID.
prog_stats() { bpftool prog show id "$1" -j | jq -r '"\(.run_cnt // 0) \(.run_time_ns // 0)"'; }

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

port=$((40000 + RANDOM % 10000))
cpu=$(($(nproc) - 1))
flood_once() { in_ns "$flood" 127.0.0.1 "$port" "$secs" 64 "$cpu" "$cpu"; }

mkdir -p "$root/bench/network/results"
raw="$root/bench/network/results/$(date -u +%Y%m%dT%H%M%SZ).txt"
: >"$raw"
sysctl -qw kernel.bpf_stats_enabled=0
echo "== packets/s: $rounds interleaved rounds of ${secs}s, 64-byte UDP on the namespace's lo" >&2
for ((r = 1; r <= rounds; r++)); do
  for mode in none tcx-empty tc-empty network bpfex; do
    case $mode in
      tcx-empty) attach_tcx_empty ;;
      tc-empty) attach_empty ;;
      network) start_bpfex --config.file="$work/network-only.yaml" ;;
      bpfex) start_bpfex ;;
    esac
    line=$(flood_once)
    case $mode in
      tcx-empty) detach_tcx_empty ;;
      tc-empty) detach_empty ;;
      network | bpfex) stop_bpfex ;;
    esac
    echo "$mode $line" >>"$work/pps"
    echo "round $r $mode $line" >&2
    echo "pps round $r $mode $line" >>"$raw"
  done
done

# Both programs are attached to the same lo by tcx links, so every packet runs both: their costs
# are measured over the same packets, under the same load. The first program in the chain is the
# first to touch the packet and the per-packet state: odd rounds put the empty program after
# network_ingress, even rounds before it, and each order gets its own median.
echo "== ns per packet from kernel BPF stats, $rounds floods" >&2
sysctl -qw kernel.bpf_stats_enabled=1
start_bpfex --config.file="$work/network-only.yaml"
net_id=$(bpfex_prog_id network_ingress)
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then order=after; attach_tcx_empty; else order=before; attach_tcx_empty first; fi
  read -r nc0 nt0 < <(prog_stats "$net_id")
  read -r ec0 et0 < <(prog_stats "$tcx_empty_id")
  flood_once >/dev/null
  read -r nc1 nt1 < <(prog_stats "$net_id")
  read -r ec1 et1 < <(prog_stats "$tcx_empty_id")
  detach_tcx_empty
  awk -v c="$((nc1 - nc0))" -v t="$((nt1 - nt0))" 'BEGIN { if (c > 0) printf "%.1f\n", t / c }' >>"$work/ns_bpfex_$order"
  awk -v c="$((ec1 - ec0))" -v t="$((et1 - et0))" 'BEGIN { if (c > 0) printf "%.1f\n", t / c }' >>"$work/ns_empty_$order"
  line="round $r empty-$order network_ingress $(tail -n 1 "$work/ns_bpfex_$order") ns/run ($((nc1 - nc0)) runs),"
  line+=" empty $(tail -n 1 "$work/ns_empty_$order") ns/run ($((ec1 - ec0)) runs)"
  echo "$line" >&2
  echo "stats $line" >>"$raw"
done
stop_bpfex
sysctl -qw kernel.bpf_stats_enabled="$stats_before"

# A 64-byte UDP datagram in Ethernet + IPv4 + UDP, as tc sees it on lo.
python3 -c '
import sys
eth = bytes(12) + b"\x08\x00"
ip = bytes([0x45, 0, 0, 92, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1])
udp = bytes([0xb3, 0x15, 0xb3, 0x15, 0, 72, 0, 0]) + bytes(64)
sys.stdout.buffer.write(eth + ip + udp)' >"$work/frame.bin"
test_run() {
  bpftool prog run id "$1" data_in "$work/frame.bin" repeat 1000000 2>&1 |
    sed -n 's/.*duration (average): *\([0-9]*\)ns.*/\1/p'
}
start_bpfex --config.file="$work/network-only.yaml"
net_id=$(bpfex_prog_id network_ingress)
for ((r = 1; r <= 5; r++)); do
  test_run "$net_id" >>"$work/tr_bpfex"
  test_run "$empty_id" >>"$work/tr_empty"
done
stop_bpfex

pps() { awk -v m="$1" -v f="$2" '$1 == m { for (i = 2; i <= NF; i++) if (index($i, f "=") == 1) print substr($i, length(f) + 2) }' "$work/pps" | median; }
none=$(pps none recv_pps)
tcx_empty=$(pps tcx-empty recv_pps)
tc_empty=$(pps tc-empty recv_pps)
network=$(pps network recv_pps)
bpfex=$(pps bpfex recv_pps)

tr_bpfex=$(median <"$work/tr_bpfex")
tr_empty=$(median <"$work/tr_empty")

{
  echo
  echo "$(date -u +%Y-%m-%d), Linux $(uname -r), $(nproc) CPUs, medians of $rounds interleaved rounds of ${secs}s:" \
    "bench/network/run.sh $rounds $secs"
  echo
  echo "| loopback UDP, 64-byte datagrams | packets/s | vs no BPF |"
  echo "|---|---|---|"
  awk -v n="$none" -v x="$tcx_empty" -v t="$tc_empty" -v m="$network" -v b="$bpfex" 'BEGIN {
    printf "| no BPF program | %.0f | |\n", n
    printf "| empty program, tcx link (the hook alone) | %.0f | %+.1f%% |\n", x, 100 * (x - n) / n
    printf "| empty program, tc clsact | %.0f | %+.1f%% |\n", t, 100 * (t - n) / n
    printf "| bpfex, network module only | %.0f | %+.1f%% (%+.1f%% vs the empty tcx program) |\n", m, 100 * (m - n) / n, 100 * (m - x) / x
    printf "| bpfex, default config | %.0f | %+.1f%% |\n", b, 100 * (b - n) / n }'
  echo
  echo "| per packet (one program run per loopback packet) | network_ingress | empty program | difference |"
  echo "|---|---|---|---|"
  for order in after before; do
    [[ -s $work/ns_bpfex_$order ]] || continue
    awk -v o="$order" -v a="$(median <"$work/ns_bpfex_$order")" -v b="$(median <"$work/ns_empty_$order")" 'BEGIN {
      printf "| kernel stats, run_time_ns / run_cnt, empty program %s network_ingress | %.1f ns | %.1f ns | %.1f ns |\n", o, a, b, a - b }'
  done
  awk -v a="$tr_bpfex" -v b="$tr_empty" 'BEGIN { printf "| BPF_PROG_TEST_RUN, 64-byte UDP frame | %.0f ns | %.0f ns | %.0f ns |\n", a, b, a - b }'
} | tee "$raw.summary"
echo "raw results: $raw"
