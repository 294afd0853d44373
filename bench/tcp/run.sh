#!/usr/bin/env bash
# tcp and oom module overhead, in one command (root):
#
#   bench/tcp/run.sh [ROUNDS] [SECONDS]        defaults: 9 rounds of 3 s
#
# TCP traffic runs in a network namespace the script creates (and deletes), on its loopback, so the
# machine's other connections do not mix with it (the tcp module's tracepoints see every namespace:
# what other processes do adds runs, not to the churn's rate). bpfex runs inside the namespace too,
# with tracefs and the cgroup2 hierarchy mounted in its private mount namespace.
#
# 1. Connections per second of a churn loop (bench/tcp/churn.c: connect, accept, close, every 10th
#    round a connect to a closed port, refused, a few connects held on a full listener, whose
#    SYNs are retransmitted, and a few on a TCP_DEFER_ACCEPT listener, whose SYN-ACKs are
#    retransmitted) pinned to one CPU, in four modes interleaved
#    round by round, medians: none (no BPF); floor (empty tp_btf programs on the module's five
#    tracepoints, floor.bpf.c loaded by bench/syscall/floor.c: the price of running any program on
#    these events); tcp (bpfex with only the tcp module, default options: by workload); tcp-node (the
#    same with by_workload: false). Kernel BPF stats are off here (they cost every program run).
# 2. Per-event cost from the kernel's accounting (kernel.bpf_stats_enabled=1, restored afterwards):
#    run_time_ns / run_cnt of each tcp program (bpfex_bpf_program_run*_total from bpfex's /metrics)
#    and of the floor programs attached at the same time, over the same churn; rounds alternate
#    by_workload on and off. Their sum over the connections made is the module's BPF time per
#    connection.
# 3. OOM: KILLS victims in a memory cgroup (tests/lib/load.py's MemoryLimit and oom_kill), bpfex
#    with only the oom module: ns per run of its mark_victim program.
# 4. The network module's packet rate with the tcp and oom modules beside it: the loopback UDP flood
#    of bench/network (udp_flood.c) with bpfex network-only and bpfex network + tcp + oom,
#    interleaved, medians.
# Prints a markdown table for bench/README.md; raw numbers in bench/tcp/results/.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${1:-9}
secs=${2:-3}
kills=${KILLS:-5}
[[ $(id -u) -eq 0 ]] || { echo "bench/tcp: needs root" >&2; exit 1; }
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
source "$root/scripts/lib.sh"
ensure_tracefs
work=$(mktemp -d /tmp/bpfex-bench-tcp.XXXXXX)
cc -O2 -Wall -Wextra -Werror -o "$work/churn" "$root/bench/tcp/churn.c"
cc -O2 -Wall -Wextra -Werror -o "$work/udp_flood" "$root/bench/network/udp_flood.c"
cc -O2 -Wall -Wextra -Werror -o "$work/floor" "$root/bench/syscall/floor.c" -lbpf
clang -target bpf -O2 -g -Wall -Wextra -Werror -I"$root/kernel/include/x86" -c "$root/bench/tcp/floor.bpf.c" \
  -o "$work/floor.bpf.o"

ns=bpfex-bench-tcp-$$
stats_before=$(cat /proc/sys/kernel/bpf_stats_enabled)
bpfex_pid="" floor_pid="" port=""
in_ns() { ip netns exec "$ns" "$@"; }

stop_bpfex() {
  [[ -n $bpfex_pid ]] || return 0
  kill -TERM "$bpfex_pid" 2>/dev/null || true
  wait "$bpfex_pid" 2>/dev/null || true
  bpfex_pid=""
}
stop_floor() {
  [[ -n $floor_pid ]] || return 0
  kill -TERM "$floor_pid" 2>/dev/null || true
  wait "$floor_pid" 2>/dev/null || true
  floor_pid=""
}
cleanup() {
  stop_bpfex
  stop_floor
  sysctl -qw kernel.bpf_stats_enabled="$stats_before"
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$ns"
in_ns ip link set lo up

# only MODULE... : a config with only these modules on (the tcp/oom options as given after a colon:
# tcp:node is the tcp module with by_workload: false).
config() {
  local file m
  file=$work/$(echo "$*" | tr ' :' '-_').yaml
  echo "modules:" >"$file"
  for m in exec syscall network tcp oom; do
    if [[ " $* " == *" $m "* || " $* " == *" $m:"* ]]; then
      printf '  %s:\n    enabled: true\n' "$m" >>"$file"
      [[ " $* " == *" $m:node "* ]] && echo "    by_workload: false" >>"$file"
    else
      printf '  %s:\n    enabled: false\n' "$m" >>"$file"
    fi
  done
  echo "$file"
}

# start_bpfex CONFIG: bpfex in the namespace. `ip netns exec` gives it a fresh /sys without tracefs
# and without the cgroup2 hierarchy (workload attribution needs it): both are mounted in that
# private mount namespace. `ip` and `sh` exec, so $! is bpfex itself.
start_bpfex() {
  port=$((20000 + RANDOM % 10000))
  local i
  ip netns exec "$ns" sh -c 'mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null;
    mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null; exec "$@"' sh \
    "$root/build/bpfex" --config.file="$1" --web.listen-address="127.0.0.1:$port" >"$work/bpfex.log" 2>&1 &
  bpfex_pid=$!
  for ((i = 0; i < 100; i++)); do
    [[ $(in_ns curl -s --max-time 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz") == 200 ]] &&
      return 0
    kill -0 "$bpfex_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench/tcp: bpfex did not become healthy:" >&2
  tail -n 5 "$work/bpfex.log" >&2
  exit 1
}
start_floor() {
  "$work/floor" "$work/floor.bpf.o" >"$work/floor.out" 2>&1 &
  floor_pid=$!
  local i
  for ((i = 0; i < 100; i++)); do
    grep -q ready "$work/floor.out" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench/tcp: the floor programs did not attach: $(cat "$work/floor.out")" >&2
  exit 1
}
metrics() { in_ns curl -s --max-time 5 "http://127.0.0.1:$port/metrics"; }
# "runs seconds" of each program of MODULE on bpfex's /metrics: "PROGRAM RUNS SECONDS" lines.
program_stats() {
  metrics | awk -v m="$1" '
    /^bpfex_bpf_program_run/ && index($0, "module=\"" m "\"") {
      match($0, /program="[^"]*"/); p = substr($0, RSTART + 9, RLENGTH - 10)
      if ($1 ~ /^bpfex_bpf_program_runs_total/) runs[p] = $2; else secs[p] = $2
    }
    END { for (p in runs) print p, runs[p], secs[p] }' | sort
}
# "PROGRAM run_cnt run_time_ns" of the floor programs.
floor_stats() {
  local name
  for name in floor_state floor_rst_sent floor_rst_recv floor_retrans floor_synack; do
    bpftool prog show name "$name" -j | jq -r --arg n "$name" 'if type == "array" then .[0] else . end |
      "\($n) \(.run_cnt // 0) \(.run_time_ns // 0)"' | head -n 1
  done
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

cpu=$(($(nproc) - 1))
churn_once() { in_ns "$work/churn" 127.0.0.1 10001 10002 "$secs" "$cpu" 10 10003 10004; }

mkdir -p "$root/bench/tcp/results"
raw="$root/bench/tcp/results/$(date -u +%Y%m%dT%H%M%SZ).txt"
: >"$raw"
sysctl -qw kernel.bpf_stats_enabled=0
tcp_cfg=$(config tcp)
node_cfg=$(config tcp:node)
echo "== connections/s: $rounds interleaved rounds of ${secs}s, churn on the namespace's lo" >&2
modes=(none floor tcp tcp-node)
for ((r = 1; r <= rounds; r++)); do
  # The order rotates each round, so that no mode always runs right after bpfex exits.
  for ((k = 0; k < ${#modes[@]}; k++)); do
    mode=${modes[$(((k + r) % ${#modes[@]}))]}
    case $mode in
      floor) start_floor ;;
      tcp) start_bpfex "$tcp_cfg" ;;
      tcp-node) start_bpfex "$node_cfg" ;;
    esac
    line=$(churn_once)
    case $mode in
      floor) stop_floor ;;
      tcp | tcp-node) stop_bpfex ;;
    esac
    echo "$mode $line" >>"$work/cps"
    echo "$r $mode $line" >>"$work/cps_rounds"
    echo "round $r $mode $line" >&2
    echo "cps round $r $mode $line" >>"$raw"
  done
done

echo "== ns per run from kernel BPF stats, $rounds churns" >&2
sysctl -qw kernel.bpf_stats_enabled=1
start_floor
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then variant=workload cfg=$tcp_cfg; else variant=node cfg=$node_cfg; fi
  start_bpfex "$cfg"
  program_stats tcp >"$work/b0"
  floor_stats | sort >"$work/f0"
  conns=$(churn_once | sed -n 's/.*conns=\([0-9]*\) .*/\1/p')
  program_stats tcp >"$work/b1"
  floor_stats | sort >"$work/f1"
  stop_bpfex
  join "$work/b0" "$work/b1" | awk -v v="$variant" '{ c = $4 - $2; if (c > 0) printf "%s %s %.1f %d\n", v, $1, ($5 - $3) * 1e9 / c, c }' \
    >>"$work/ns"
  join "$work/f0" "$work/f1" | awk '{ c = $4 - $2; if (c > 0) printf "floor %s %.1f %d\n", $1, ($5 - $3) / c, c }' >>"$work/ns"
  join "$work/b0" "$work/b1" | awk -v v="$variant" -v n="$conns" '{ t += $5 - $3 } END { if (n > 0) printf "%s %.0f\n", v, t * 1e9 / n }' \
    >>"$work/per_conn"
  echo "round $r ($variant): $(grep -c . "$work/ns") measurements" >&2
done
stop_floor
sed 's/^/stats /' "$work/ns" >>"$raw"

echo "== OOM: $kills kills" >&2
start_bpfex "$(config oom)"
program_stats oom >"$work/o0"
python3 -c '
import sys
sys.path.insert(0, sys.argv[1])
from lib.load import MemoryLimit, oom_kill
limit = MemoryLimit()
try:
    for _ in range(int(sys.argv[2])):
        oom_kill(limit)
finally:
    limit.close()' "$root/tests" "$kills"
sleep 1.5 # a poll
program_stats oom >"$work/o1"
stop_bpfex
join "$work/o0" "$work/o1" | awk '{ c = $4 - $2; if (c > 0) printf "oom %s %.1f %d\n", $1, ($5 - $3) * 1e9 / c, c }' >"$work/oom"
sed 's/^/stats /' "$work/oom" >>"$raw"
sysctl -qw kernel.bpf_stats_enabled="$stats_before"

echo "== packets/s: $rounds interleaved rounds of ${secs}s, 64-byte UDP on the namespace's lo" >&2
net_cfg=$(config network)
all_cfg=$(config network tcp oom)
for ((r = 1; r <= rounds; r++)); do
  for mode in network network+tcp+oom; do
    if [[ $mode == network ]]; then start_bpfex "$net_cfg"; else start_bpfex "$all_cfg"; fi
    line=$(in_ns "$work/udp_flood" 127.0.0.1 10003 "$secs" 64 "$cpu" "$cpu")
    stop_bpfex
    echo "$mode $line" >>"$work/pps"
    echo "round $r $mode $line" >&2
    echo "pps round $r $mode $line" >>"$raw"
  done
done

field() { awk -v m="$1" -v f="$2" '$1 == m { for (i = 2; i <= NF; i++) if (index($i, f "=") == 1) print substr($i, length(f) + 2) }' "$3" | median; }
# Per round: the rate of a mode over the rate without BPF in the same round, then the median.
per_round() {
  awk -v m="$1" '{ v = $NF; sub(/.*=/, "", v) } $2 == "none" { n[$1] = v } $2 == m { a[$1] = v }
    END { for (r in a) if (n[r] > 0) print a[r] / n[r] }' "$work/cps_rounds" | median
}
none=$(field none conns_per_s "$work/cps")
floor=$(field floor conns_per_s "$work/cps")
tcp=$(field tcp conns_per_s "$work/cps")
node=$(field tcp-node conns_per_s "$work/cps")
net=$(field network recv_pps "$work/pps")
all=$(field network+tcp+oom recv_pps "$work/pps")

{
  echo
  echo "$(date -u +%Y-%m-%d), Linux $(uname -r), $(nproc) CPUs, medians of $rounds interleaved rounds of ${secs}s:" \
    "bench/tcp/run.sh $rounds $secs"
  echo
  echo "| connection churn on loopback (connect, accept, close; every 10th a refused connect) | connections/s | vs no BPF | per connection |"
  echo "|---|---:|---:|---:|"
  awk -v n="$none" -v f="$floor" -v t="$tcp" -v d="$node" -v pf="$(per_round floor)" -v pt="$(per_round tcp)" -v pd="$(per_round tcp-node)" 'BEGIN {
    printf "| no BPF program | %.0f | | |\n", n
    printf "| empty programs on the five tracepoints (the floor) | %.0f | %+.1f%% (per round %+.1f%%) | %+.0f ns |\n", f, 100 * (f - n) / n, 100 * (pf - 1), 1e9 / f - 1e9 / n
    printf "| bpfex, tcp module (by workload) | %.0f | %+.1f%% (per round %+.1f%%) | %+.0f ns |\n", t, 100 * (t - n) / n, 100 * (pt - 1), 1e9 / t - 1e9 / n
    printf "| bpfex, tcp module, by_workload: false | %.0f | %+.1f%% (per round %+.1f%%) | %+.0f ns |\n", d, 100 * (d - n) / n, 100 * (pd - 1), 1e9 / d - 1e9 / n }'
  echo
  echo "| program (kernel stats, run_time_ns / run_cnt, median of rounds) | runs per round | ns/run by workload | ns/run by_workload: false | empty program on the same tracepoint |"
  echo "|---|---:|---:|---:|---:|"
  declare -A floor_of=([tcp_state_tp_btf]=floor_state [tcp_send_reset_tp_btf]=floor_rst_sent
    [tcp_receive_reset_tp_btf]=floor_rst_recv [tcp_retransmit_tp_btf]=floor_retrans [tcp_synack_tp_btf]=floor_synack)
  awk '$1 != "floor" { print $2 }' "$work/ns" | sort -u | while read -r prog; do
    w=$(awk -v p="$prog" '$1 == "workload" && $2 == p { print $3 }' "$work/ns" | median)
    d=$(awk -v p="$prog" '$1 == "node" && $2 == p { print $3 }' "$work/ns" | median)
    c=$(awk -v p="$prog" '$2 == p && $1 != "floor" { print $4 }' "$work/ns" | median)
    f=$(awk -v p="${floor_of[$prog]:-none}" '$1 == "floor" && $2 == p { print $3 }' "$work/ns" | median)
    printf '| %s | %.0f | %s | %s | %s |\n' "$prog" "${c:-0}" "${w:--}" "${d:--}" "${f:--}"
  done
  awk '{ printf "| %s (%d OOM kills) | %d | %s | | |\n", $2, $4, $4, $3 }' "$work/oom"
  printf '| all tcp programs, BPF time per connection made | | %s ns | %s ns | |\n' \
    "$(awk '$1 == "workload" { print $2 }' "$work/per_conn" | median)" "$(awk '$1 == "node" { print $2 }' "$work/per_conn" | median)"
  echo
  echo "| loopback UDP, 64-byte datagrams (bench/network's flood) | packets/s | vs network module only |"
  echo "|---|---:|---:|"
  awk -v n="$net" -v a="$all" 'BEGIN {
    printf "| bpfex, network module only | %.0f | |\n", n
    printf "| bpfex, network, tcp and oom modules | %.0f | %+.1f%% |\n", a, 100 * (a - n) / n }'
} | tee "$raw.summary"
echo "raw results: $raw"
