#!/usr/bin/env bash
# Per-event cost of the tcp and oom programs that need fentry or kprobes, in one command (root):
#
#   bench/tcp/guest.sh [6.1|6.12] [ROUNDS] [SECONDS]     defaults: 6.1, 6 rounds of 5 s; 4-5 minutes
#
# The listen-overflow programs (tcp_conn_request, tcp_v4_syn_recv_sock, tcp_v6_syn_recv_sock) and
# the OOM constraint program (oom_kill_process) attach by fentry or kprobe only, which the host's
# kernel lacks. This boots one of Debian's kernels under qemu (tests/guest/run.sh: TCG, emulated
# CPU) and, inside it, runs bpfex with the tcp and oom modules and kernel.bpf_stats_enabled=1, and
# beside it, on the same hooks, empty programs (bench/tcp/floor.bpf.c for the tracepoints,
# floor_fn.bpf.c for the functions, each function's in the flavour bpfex took there: the floor).
# The guest has one vCPU (CPUS=N for more): qemu's single-threaded TCG runs a guest's vCPUs in turn
# on one host thread, so with two a program's run_time_ns takes in whatever the other vCPU ran
# while it was switched out (milliseconds, now and then: heavy tails, a 5-run average 80x off).
# Each round, in a network namespace of its own, at once:
#   - bench/tcp/churn.c (connect, accept, close; refused connects; connects held on a full
#     listener, whose SYNs overflow its accept queue; a TCP_DEFER_ACCEPT listener);
#   - bench/tcp/overflow.c, IPv4 and IPv6: listen overflows on both paths (a SYN meeting a
#     full accept queue; the segment completing a handshake meeting one);
# then run_time_ns / run_cnt of every tcp program (bpfex_bpf_program_run*_total on bpfex's /metrics)
# and of every floor program (bpftool), and the namespace's ListenOverflows against bpfex's
# bpfex_tcp_listen_overflows_total. Odd rounds attach the floor after bpfex, even rounds bpfex
# after the floor (the first program on a hook pays more of qemu's lookups). Last, WARMUP (default
# 2) then KILLS (default 5) OOM kills in a memory cgroup (tests/lib/load.py's MemoryLimit and
# oom_kill): the oom programs and their floors over the KILLS.
#
# Under TCG the guest's clock runs on emulated instructions: ns per run is many times what real
# hardware takes. The ratio to the empty program on the same hook, measured at the same time, is
# the meaningful number, and even it is inflated (bench/README.md). Prints the raw lines and a
# markdown table; saved in
# bench/tcp/results/guest-KERNEL-<UTC time>.txt (the table also in .summary).
# bpfex is built as it is (scripts/build.sh) unless BPFEX_BINARY=path names a binary.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
self=$root/bench/tcp/guest.sh

# ---------------------------------------------------------------- in the guest
# floor program of each bpfex program (no entry: no floor)
declare -A FLOOR_OF=(
  [tcp_state_tp_btf]=floor_state [tcp_send_reset_tp_btf]=floor_rst_sent
  [tcp_receive_reset_tp_btf]=floor_rst_recv [tcp_retransmit_tp_btf]=floor_retrans
  [tcp_synack_tp_btf]=floor_synack
  [tcp_conn_request_fentry]=floor_connreq_f [tcp_conn_request_kprobe]=floor_connreq_k
  [tcp_v4_syn_recv_fentry]=floor_v4recv_f [tcp_v4_syn_recv_kprobe]=floor_v4recv_k
  [tcp_v6_syn_recv_fentry]=floor_v6recv_f [tcp_v6_syn_recv_kprobe]=floor_v6recv_k
  [oom_kill_fentry]=floor_oomkill_f [oom_kill_kprobe]=floor_oomkill_k
  [oom_victim_tp_btf]=floor_victim
)

in_guest() {
  local work=$1 bpfex=$2 rounds=$3 secs=$4 kills=$5 warmup=$6
  local tmp ns=bench-tcp port=9650 floors=() fn=() i
  bpfex_pid="" floor_pids=()
  tmp=$(mktemp -d)
  in_ns() { ip netns exec "$ns" "$@"; }
  stop_bpfex() {
    [[ -n $bpfex_pid ]] || return 0
    kill -TERM "$bpfex_pid" 2>/dev/null || true
    wait "$bpfex_pid" 2>/dev/null || true
    bpfex_pid=""
  }
  stop_floor() {
    local p
    for p in "${floor_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${floor_pids[@]}"; do wait "$p" 2>/dev/null || true; done
    floor_pids=()
  }
  # shellcheck disable=SC2317  # called from the EXIT trap
  stop_all() {
    stop_bpfex
    stop_floor
  }
  trap stop_all EXIT
  start_bpfex() {
    "$bpfex" --config.file="$tmp/bpfex.yaml" --web.listen-address="127.0.0.1:$port" >"$tmp/bpfex.log" 2>&1 &
    bpfex_pid=$!
    for ((i = 0; i < 300; i++)); do
      [[ $(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz") == 200 ]] && return 0
      kill -0 "$bpfex_pid" 2>/dev/null || break
      sleep 0.5
    done
    echo "bench/tcp/guest: bpfex did not become healthy:" >&2
    tail -n 20 "$tmp/bpfex.log" >&2
    return 1
  }
  # The floor: the tracepoints' empty programs, and the functions' (FN) in bpfex's flavour.
  start_floor() {
    "$work/floor" "$work/floor.bpf.o" >"$tmp/floor.out" 2>&1 &
    floor_pids+=($!)
    "$work/floor" "$work/floor_fn.bpf.o" "${fn[@]}" >"$tmp/floor_fn.out" 2>&1 &
    floor_pids+=($!)
    for ((i = 0; i < 200; i++)); do
      grep -q ready "$tmp/floor.out" && grep -q ready "$tmp/floor_fn.out" && return 0
      sleep 0.1
    done
    echo "bench/tcp/guest: the floor programs did not attach: $(cat "$tmp/floor.out" "$tmp/floor_fn.out")" >&2
    return 1
  }
  metrics() { curl -s --max-time 10 "http://127.0.0.1:$port/metrics"; }
  # "PROGRAM RUNS SECONDS" of bpfex's tcp and oom programs
  program_stats() {
    metrics | awk '
      /^bpfex_bpf_program_run/ && /module="(tcp|oom)"/ {
        match($0, /program="[^"]*"/); p = substr($0, RSTART + 9, RLENGTH - 10)
        if ($1 ~ /^bpfex_bpf_program_runs_total/) runs[p] = $2; else secs[p] = $2
      }
      END { for (p in runs) print p, runs[p], secs[p] }' | sort
  }
  # "PROGRAM RUN_CNT RUN_TIME_NS" of the floor programs
  floor_stats() {
    local name
    for name in "${floors[@]}"; do
      bpftool prog show name "$name" -j | jq -r --arg n "$name" 'if type == "array" then .[0] else . end |
        "\($n) \(.run_cnt // 0) \(.run_time_ns // 0)"' | head -n 1
    done | sort
  }
  bpfex_overflows() { metrics | awk '/^bpfex_tcp_listen_overflows_total/ { s += $NF } END { print s + 0 }'; }
  kernel_overflows() {
    in_ns cat /proc/net/netstat | awk '$1 == "TcpExt:" { if (!n) { n = split($0, h) } else { split($0, v)
      for (i = 2; i <= n; i++) if (h[i] == "ListenOverflows") print v[i] } }'
  }
  # "LABEL PROGRAM NS_PER_RUN RUNS" of what ran between two stats files (bpfex: seconds; floor: ns)
  delta() {
    join "$2" "$3" | awk -v l="$1" -v scale="$4" '{ c = $4 - $2; if (c > 0) printf "%s %s %.1f %d\n", l, $1, ($5 - $3) * scale / c, c }'
  }

  echo "kernel $(uname -r), $(nproc) CPUs, qemu TCG (emulated: ns are not hardware ns)"
  sysctl -qw kernel.bpf_stats_enabled=1
  ip netns add "$ns"
  in_ns ip link set lo up
  {
    echo "poll_interval: 1s"
    echo "modules:"
    for m in exec syscall network runqueue block; do printf '  %s:\n    enabled: false\n' "$m"; done
    printf '  tcp:\n    enabled: true\n  oom:\n    enabled: true\n'
  } >"$tmp/bpfex.yaml"
  start_bpfex
  grep -E 'module started|not counted' "$tmp/bpfex.log" | sed 's/^/bpfex: /' || true
  local prog
  while read -r prog _; do
    [[ -n ${FLOOR_OF[$prog]:-} ]] || continue
    floors+=("${FLOOR_OF[$prog]}")
    [[ $prog == *_fentry || $prog == *_kprobe || $prog == oom_victim_tp_btf ]] && fn+=("${FLOOR_OF[$prog]}")
  done < <(program_stats)
  echo "floor: ${floors[*]}"

  local r k0 k1 m0 m1 line order
  for ((r = 1; r <= rounds; r++)); do
    # Two programs on one hook run in the order they were attached: odd rounds attach the floor
    # after bpfex, even rounds bpfex after the floor.
    if ((r % 2)); then
      order="bpfex-first"
      stop_floor
      start_floor
    else
      order="floor-first"
      stop_bpfex
      start_bpfex
    fi
    program_stats >"$tmp/b0"
    floor_stats >"$tmp/f0"
    k0=$(kernel_overflows) m0=$(bpfex_overflows)
    in_ns "$work/churn" 127.0.0.1 10001 10002 "$secs" "$(($(nproc) - 1))" 10 10003 10004 >"$tmp/churn.out" &
    local churn=$!
    in_ns "$work/overflow" 127.0.0.1 10005 "$secs" >"$tmp/overflow4.out" &
    local o4=$!
    in_ns "$work/overflow" ::1 10006 "$secs" >"$tmp/overflow6.out" &
    local o6=$!
    if ! wait "$churn" || ! wait "$o4" || ! wait "$o6"; then
      echo "bench/tcp/guest: a workload failed" >&2
      return 1
    fi
    k1=$(kernel_overflows)
    # bpfex's count: after its next polls, once it stops moving
    m1=$(bpfex_overflows)
    for ((i = 0; i < 20; i++)); do
      sleep 1.2
      line=$(bpfex_overflows)
      [[ $line == "$m1" ]] && break
      m1=$line
    done
    program_stats >"$tmp/b1"
    floor_stats >"$tmp/f1"
    echo "round $r churn $(cat "$tmp/churn.out")"
    echo "round $r overflow ipv4 $(cat "$tmp/overflow4.out") ipv6 $(cat "$tmp/overflow6.out")"
    echo "round $r listen_overflows kernel=$((k1 - k0)) bpfex=$((m1 - m0))"
    delta bpfex "$tmp/b0" "$tmp/b1" 1e9 | sed "s/^/round $r stats /; s/\$/ $order/"
    delta floor "$tmp/f0" "$tmp/f1" 1 | sed "s/^/round $r stats /; s/\$/ $order/"
    echo "bench/tcp/guest: round $r of $rounds done ($order)" >&2
  done

  # The OOM path is long and runs here only for these kills: WARMUP kills (default 2, a cgroup of
  # their own) first, so that the measured ones do not pay for qemu translating it the first time.
  echo "bench/tcp/guest: $warmup + $kills OOM kills" >&2
  oom_kills() {
    python3 -c '
import sys
sys.path.insert(0, sys.argv[1])
from lib.load import MemoryLimit, oom_kill
limit = MemoryLimit()
try:
    for _ in range(int(sys.argv[2])):
        oom_kill(limit)
finally:
    limit.close()' "$(dirname "$self")/../../tests" "$1"
  }
  ((warmup > 0)) && oom_kills "$warmup"
  sleep 1.5
  program_stats >"$tmp/b0"
  floor_stats >"$tmp/f0"
  oom_kills "$kills"
  sleep 2.5 # a poll or two
  program_stats >"$tmp/b1"
  floor_stats >"$tmp/f1"
  echo "oom kills=$kills warmup=$warmup ($order)"
  delta bpfex "$tmp/b0" "$tmp/b1" 1e9 | grep -E ' oom_' | sed "s/^/oom stats /; s/\$/ $order/" || true
  delta floor "$tmp/f0" "$tmp/f1" 1 | grep -E ' floor_(oomkill|victim)' | sed "s/^/oom stats /; s/\$/ $order/" || true
  stop_all
  trap - EXIT
  ip netns del "$ns"
}

# The markdown table of a raw results file (also: bench/tcp/guest.sh --summary RAW).
summary() {
  local raw=$1
  # "round R stats LABEL PROGRAM NS RUNS ORDER" and "oom stats LABEL PROGRAM NS RUNS ORDER" lines as
  # "GROUP ORDER LABEL PROGRAM NS RUNS" (GROUP: the round, or oom)
  local stats floor_map kernel rounds secs kills warmup cpus
  read -r _ _ kernel rounds secs kills warmup cpus < <(head -n 1 "$raw" | tr -d '()' | sed 's/[A-Z]*=//g')
  stats=$(awk '$3 == "stats" { print $2, $8, $4, $5, $6, $7 } $2 == "stats" { print "oom", $7, $3, $4, $5, $6 }' "$raw")
  floor_map=$(for p in "${!FLOOR_OF[@]}"; do echo "$p ${FLOOR_OF[$p]}"; done)
  {
    echo
    echo "Linux $(awk '$1 == "kernel" { print $2; exit }' "$raw" | tr -d ,) under qemu TCG, $cpus vCPU (emulated CPU: the ns" \
      "are not hardware ns), $rounds rounds of ${secs}s, $kills OOM kills after $warmup:" \
      "bench/tcp/guest.sh $kernel $rounds $secs"
    echo
    echo "| program (kernel stats: run_time_ns / run_cnt, medians of rounds) | runs | ns/run | empty program, same hook | ratio | ratio, bpfex attached first / second |"
    echo "|---|---:|---:|---:|---:|---:|"
    awk -v floors="$floor_map" '
      function median(list,   n, v, i, j, t) {
        n = split(list, v, " ")
        for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
        if (n == 0) return ""
        return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
      }
      BEGIN { n = split(floors, f, "\n"); for (i = 1; i <= n; i++) { split(f[i], kv, " "); floor_of[kv[1]] = kv[2] } }
      { ns[$1, $3, $4] = $5; order[$1] = $2; if ($3 == "bpfex") { runs[$4] += $6; groups[$4] = groups[$4] " " $1 } }
      END {
        for (p in runs) {
          fl = floor_of[p]; b = e = r = r1 = r2 = ""
          split(substr(groups[p], 2), g, " ")
          for (i in g) {
            b = b " " ns[g[i], "bpfex", p]
            if ((g[i], "floor", fl) in ns && ns[g[i], "floor", fl] > 0) {
              e = e " " ns[g[i], "floor", fl]
              x = ns[g[i], "bpfex", p] / ns[g[i], "floor", fl]
              r = r " " x
              if (order[g[i]] == "bpfex-first") r1 = r1 " " x; else r2 = r2 " " x
            }
          }
          if (e == "") { printf "| `%s` | %d | %.0f | - | - | - |\n", p, runs[p], median(b); continue }
          printf "| `%s` | %d | %.0f | %.0f (`%s`) | %.1f× | %s / %s |\n", p, runs[p], median(b), median(e), fl, median(r),
            r1 == "" ? "-" : sprintf("%.1f×", median(r1)), r2 == "" ? "-" : sprintf("%.1f×", median(r2))
        }
      }' <<<"$stats" | sort
    awk '$3 == "listen_overflows" { split($4, k, "="); split($5, b, "="); kk += k[2]; bb += b[2] }
      END { printf "\nListenOverflows of the namespace: %d; bpfex_tcp_listen_overflows_total: %d\n", kk, bb }' "$raw"
  }
}

if [[ ${1:-} == --summary ]]; then
  summary "$2"
  exit
fi
if [[ ${1:-} == --in-guest ]]; then
  shift
  in_guest "$@"
  exit
fi

# ---------------------------------------------------------------- on the host
kernel=${1:-6.1}
rounds=${2:-6}
secs=${3:-5}
kills=${KILLS:-5}
warmup=${WARMUP:-2}
cpus=${CPUS:-1}
[[ $kernel == 6.1 || $kernel == 6.12 ]] || { echo "usage: bench/tcp/guest.sh [6.1|6.12] [ROUNDS] [SECONDS]" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "bench/tcp/guest: needs root" >&2; exit 1; }
binary=${BPFEX_BINARY:-}
if [[ -z $binary ]]; then
  "$root/scripts/build.sh"
  binary=$root/build/bpfex
fi
binary=$(realpath "$binary")
"$root/tests/guest/fetch.sh"
work=$(mktemp -d /tmp/bpfex-bench-tcp-guest.XXXXXX)
trap 'rm -rf "$work"' EXIT
cc -O2 -Wall -Wextra -Werror -o "$work/churn" "$root/bench/tcp/churn.c"
cc -O2 -Wall -Wextra -Werror -o "$work/overflow" "$root/bench/tcp/overflow.c"
cc -O2 -Wall -Wextra -Werror -o "$work/floor" "$root/bench/syscall/floor.c" -lbpf
for f in floor floor_fn; do
  clang -target bpf -O2 -g -Wall -Wextra -Werror -I"$root/kernel/include/x86" -c "$root/bench/tcp/$f.bpf.c" \
    -o "$work/$f.bpf.o"
done

mkdir -p "$root/bench/tcp/results"
raw=$root/bench/tcp/results/guest-$kernel-$(date -u +%Y%m%dT%H%M%SZ).txt
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) bench/tcp/guest.sh $kernel $rounds $secs (KILLS=$kills WARMUP=$warmup CPUS=$cpus)" >"$raw"
"$root/tests/guest/run.sh" --kernel "$kernel" --cpus "$cpus" --timeout 600 --host-dir "$work" -- \
  bash "$self" --in-guest "$work" "$binary" "$rounds" "$secs" "$kills" "$warmup" 2>&1 | tee -a "$raw"

summary "$raw" | tee "$raw.summary"
echo "raw results: $raw"
