#!/usr/bin/env bash
# Network module overhead, in one command (root):
#
#   bench/network/run.sh [ROUNDS] [SECONDS]        defaults: 9 rounds of 3 s
#
# Everything runs in a network namespace the script creates (and deletes), on its loopback: other
# processes' loopback traffic cannot add to the numbers, and bpfex (started inside it) counts that
# namespace's interfaces only.
#
# 1. Loopback UDP packets per second (64-byte datagrams) in eight modes, interleaved round by
#    round, medians: none (no BPF); tcx-empty and tc-empty (a program that does nothing on lo's
#    ingress, by a tcx link or tc clsact: the hooks bpfex attached to per interface before it used
#    the tracepoints, and still uses where they cannot load); tp-empty (programs that do nothing on
#    the two tracepoints bpfex counts at, empty_tp.bpf.c: the hooks themselves); network (bpfex with
#    only the network module, counting this namespace); network-interfaces (the same with
#    `attach: interfaces`: a tcx program on lo's ingress); network-elsewhere (the same bpfex started
#    in the host's namespace: the flood's packets are another namespace's, as a pod's are, and its
#    programs return early); bpfex (default config, every module on: the syscall module also times
#    the flood's sendmmsg/recvmmsg calls). Sender, receiver and the loopback softirq share one CPU:
#    nothing is dropped and packets/s is the inverse of the CPU time one packet costs end to end.
#    Kernel BPF stats are off here (they cost every program run).
# 2. Per-packet cost from the kernel's accounting (kernel.bpf_stats_enabled=1, restored
#    afterwards): run_time_ns / run_cnt of network_receive and network_transmit and of the empty
#    programs on the same tracepoints, attached at the same time, over the same floods. On loopback
#    every packet passes both tracepoints once: the transmit program returns early (lo's tx is
#    mirrored from rx), the receive program counts. The difference is the module's own cost; the
#    empty programs' figure is the hook dispatch plus the two clock reads the accounting adds.
# 3. network_ingress (the per-interface program, the fallback) and the empty tc program run on a
#    64-byte UDP frame by BPF_PROG_TEST_RUN (bpftool prog run, 10^6 repeats): cost without the
#    accounting's clock reads.
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
cc -O2 -Wall -Wextra -Werror -o "$work/floor" "$root/bench/syscall/floor.c" -lbpf
clang -target bpf -O2 -Wall -Wextra -Werror -I"$root/kernel/include/x86" -c "$root/bench/network/empty.bpf.c" \
  -o "$work/empty.o"
clang -target bpf -O2 -g -Wall -Wextra -Werror -I"$root/kernel/include/x86" -c "$root/bench/network/empty_tp.bpf.c" \
  -o "$work/empty_tp.o"

ns=bpfex-bench-$$
# Our own bpffs under $work: `ip netns exec` remounts /sys, hiding /sys/fs/bpf from tc in the namespace.
bpffs=$work/bpffs
pin=$bpffs/empty
stats_before=$(cat /proc/sys/kernel/bpf_stats_enabled)
bpfex_pid=""
tcx_pid=""
floor_pid=""
in_ns() { ip netns exec "$ns" "$@"; }
# The empty tracepoint programs, held by bench/syscall/floor.c until it is signalled.
start_floor() {
  "$work/floor" "$work/empty_tp.o" >"$work/floor.out" 2>&1 &
  floor_pid=$!
  local i
  for ((i = 0; i < 100; i++)); do
    grep -q ready "$work/floor.out" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench/network: the empty tracepoint programs did not attach: $(cat "$work/floor.out")" >&2
  exit 1
}
stop_floor() {
  [[ -n $floor_pid ]] || return 0
  kill -TERM "$floor_pid" 2>/dev/null || true
  wait "$floor_pid" 2>/dev/null || true
  floor_pid=""
}
# The empty program by a tcx link, held by tcx_hold (which prints its id once attached) until its
# stdin closes.
attach_tcx_empty() {
  exec {tcx_in}> >(in_ns "$work/tcx_hold" "$work/empty.o" lo >"$work/tcx.id" 2>"$work/tcx.err")
  tcx_pid=$!
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -s $work/tcx.id ]] && return 0
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
  stop_floor
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
  exec: {enabled: false}
  syscall: {enabled: false}
  runqueue: {enabled: false}
  block: {enabled: false}
  tcp: {enabled: false}
  oom: {enabled: false}
  network:
    enabled: true
YAML
sed 's/^    enabled: true$/    enabled: true\n    attach: interfaces/' "$work/network-only.yaml" >"$work/network-interfaces.yaml"

# start_bpfex [ARGS...]: bpfex in the namespace, default config unless ARGS say otherwise.
# elsewhere=1 start_bpfex ...: in the host's namespace instead.
start_bpfex() {
  local port=$((20000 + RANDOM % 20000)) i run=(ip netns exec "$ns")
  [[ ${elsewhere:-0} == 1 ]] && run=()
  # `ip netns exec` gives bpfex a fresh /sys without tracefs (the exec module needs it): mount it in
  # that private mount namespace. Both `ip` and `sh` exec, so $! is bpfex itself.
  "${run[@]}" sh -c 'mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; exec "$@"' sh \
    "$root/build/bpfex" --web.listen-address="127.0.0.1:$port" "$@" >"$work/bpfex.log" 2>&1 &
  bpfex_pid=$!
  for ((i = 0; i < 100; i++)); do
    [[ $("${run[@]}" curl -s --max-time 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz") == 200 ]] &&
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
  for mode in none tcx-empty tc-empty tp-empty network network-interfaces network-elsewhere bpfex; do
    case $mode in
      tcx-empty) attach_tcx_empty ;;
      tc-empty) attach_empty ;;
      tp-empty) start_floor ;;
      network) start_bpfex --config.file="$work/network-only.yaml" ;;
      network-interfaces) start_bpfex --config.file="$work/network-interfaces.yaml" ;;
      network-elsewhere) elsewhere=1 start_bpfex --config.file="$work/network-only.yaml" ;;
      bpfex) start_bpfex ;;
    esac
    line=$(flood_once)
    case $mode in
      tcx-empty) detach_tcx_empty ;;
      tc-empty) detach_empty ;;
      tp-empty) stop_floor ;;
      network | network-interfaces | network-elsewhere | bpfex) stop_bpfex ;;
    esac
    echo "$mode $line" >>"$work/pps"
    echo "round $r $mode $line" >&2
    echo "pps round $r $mode $line" >>"$raw"
  done
done

# bpfex's and the empty programs are on the same tracepoints, so every packet runs all four: their
# costs are measured over the same packets, under the same load. Which of two programs on a
# tracepoint runs first is the order of attach: odd rounds attach the empty ones after bpfex (they
# run after its), even rounds restart bpfex after them.
echo "== ns per packet from kernel BPF stats, $rounds floods" >&2
sysctl -qw kernel.bpf_stats_enabled=1
# "name run_cnt run_time_ns" of each program: bpfex's two and the floor's two.
all_stats() {
  local name
  for name in network_receive network_transmit; do echo "$name $(prog_stats "$(bpfex_prog_id "$name")")"; done
  for name in empty_receive empty_transmit; do
    bpftool prog show name "$name" -j | jq -r --arg n "$name" 'if type == "array" then .[0] else . end |
      "\($n) \(.run_cnt // 0) \(.run_time_ns // 0)"' | head -n 1
  done
}
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then
    order=after
    start_bpfex --config.file="$work/network-only.yaml"
    start_floor
  else
    order=before
    start_floor
    start_bpfex --config.file="$work/network-only.yaml"
  fi
  all_stats | sort >"$work/s0"
  flood_once >/dev/null
  all_stats | sort >"$work/s1"
  stop_bpfex
  stop_floor
  line="round $r empty-$order:"
  while read -r name c0 t0 c1 t1; do
    awk -v c="$((c1 - c0))" -v t="$((t1 - t0))" 'BEGIN { if (c > 0) printf "%.1f\n", t / c }' >>"$work/ns_${name}_$order"
    line+=" $name $(tail -n 1 "$work/ns_${name}_$order") ns/run ($((c1 - c0)) runs)"
  done < <(join "$work/s0" "$work/s1")
  echo "$line" >&2
  echo "stats $line" >>"$raw"
done
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
tp_empty=$(pps tp-empty recv_pps)
network=$(pps network recv_pps)
interfaces=$(pps network-interfaces recv_pps)
elsewhere=$(pps network-elsewhere recv_pps)
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
  awk -v n="$none" -v x="$tcx_empty" -v t="$tc_empty" -v p="$tp_empty" -v m="$network" -v i="$interfaces" -v e="$elsewhere" -v b="$bpfex" 'BEGIN {
    printf "| no BPF program | %.0f | |\n", n
    printf "| empty program on lo ingress, tcx link | %.0f | %+.1f%% |\n", x, 100 * (x - n) / n
    printf "| empty program on lo ingress, tc clsact | %.0f | %+.1f%% |\n", t, 100 * (t - n) / n
    printf "| empty programs on both tracepoints (the hooks alone) | %.0f | %+.1f%% |\n", p, 100 * (p - n) / n
    printf "| bpfex, network module only | %.0f | %+.1f%% (%+.1f%% vs the empty tracepoint programs) |\n", m, 100 * (m - n) / n, 100 * (m - p) / p
    printf "| bpfex, network module only, attach: interfaces (tcx) | %.0f | %+.1f%% (%+.1f%% vs the empty tcx program) |\n", i, 100 * (i - n) / n, 100 * (i - x) / x
    printf "| bpfex, network module only, counting another namespace | %.0f | %+.1f%% |\n", e, 100 * (e - n) / n
    printf "| bpfex, default config | %.0f | %+.1f%% |\n", b, 100 * (b - n) / n }'
  echo
  echo "| per loopback packet, kernel stats run_time_ns / run_cnt | received | sent | both | empty programs, both | difference |"
  echo "|---|---|---|---|---|---|"
  for order in after before; do
    [[ -s $work/ns_network_receive_$order ]] || continue
    awk -v o="$order" -v r="$(median <"$work/ns_network_receive_$order")" -v s="$(median <"$work/ns_network_transmit_$order")" \
      -v er="$(median <"$work/ns_empty_receive_$order")" -v es="$(median <"$work/ns_empty_transmit_$order")" 'BEGIN {
      printf "| empty programs attached %s bpfex | %.1f ns | %.1f ns | %.1f ns | %.1f ns | %.1f ns |\n", o, r, s, r + s, er + es, r + s - er - es }'
  done
  echo
  awk -v a="$tr_bpfex" -v b="$tr_empty" 'BEGIN { printf "BPF_PROG_TEST_RUN, 64-byte UDP frame: network_ingress (per-interface fallback) %.0f ns, empty tc program %.0f ns\n", a, b }'
} | tee "$raw.summary"
echo "raw results: $raw"
