#!/usr/bin/env bash
# End-to-end test of the bpfex binary: command line, config errors, HTTP endpoints, real exec
# events counted by the BPF programs, a real Prometheus scraping it, and a clean SIGTERM.
#
# Usage: tests/e2e/e2e.sh BPFEX_BINARY REPO_ROOT      (as root; ctest: `ctest -R e2e`)
#
# Debian 12 packages it relies on (scripts/install-deps.sh installs them):
#   prometheus (prometheus + promtool), curl, jq, python3, coreutils (timeout, od), util-linux (mount),
#   iputils-ping (ping)
#
# Exit: 0 all checks passed, 1 any failed, 77 skipped (not root and CI is not "true").
# The last line printed is always "e2e: N passed, M failed".
#
# Checks are functions run through `check NAME FUNC` and cleanup runs from a trap; shellcheck
# cannot see those calls and would flag every such function as unreachable.
# shellcheck disable=SC2317
set -euo pipefail

readonly EXEC_RUNS=25      # successful execs of the uniquely named binary
readonly ENOENT_RUNS=5     # failed execs of a missing path
readonly PINGS=5          # ICMP echo requests to 127.0.0.1
readonly POLL_SECONDS=1    # poll_interval of config/bpfex.yaml; counters may lag by up to this
readonly WANT_CONTENT_TYPE='text/plain; version=0.0.4; charset=utf-8'

passed=0
failed=0
BPFEX_PID=""
PROM_PID=""
TMP=""
# Logs whose tail is printed under a failing check (set once the daemons run).
TAIL_LOGS=()

say() { echo "e2e: $*"; }

summary_and_exit() {
  echo "e2e: $passed passed, $failed failed"
  [[ $failed -eq 0 ]] && exit 0
  exit 1
}

# A failure outside any check (bad arguments, daemon never came up).
fatal_setup() {
  echo "FAIL $1"
  shift
  [[ $# -gt 0 ]] && printf '    %s\n' "$@"
  failed=$((failed + 1))
}

# ---------------------------------------------------------------- cleanup
# Stops one of our own background processes: TERM, a bounded wait, then KILL.
stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  alive "$pid" && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  [[ -n $PROM_PID ]] && stop_pid "$PROM_PID"
  [[ -n $BPFEX_PID ]] && stop_pid "$BPFEX_PID"
  [[ -n $TMP && -d $TMP ]] && rm -rf "$TMP"
  return 0
}
# ---------------------------------------------------------------- helpers
# True while PID runs. `kill -0` is not enough: our exited children stay zombies until wait.
alive() {
  local state
  [[ -r /proc/$1/stat ]] || return 1
  state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ -n $state && $state != Z ]]
}

# check NAME CMD...: runs CMD (normally a t_* function), counts the result, and on failure
# prints what CMD said plus the tail of the daemon logs. Never stops the run.
check() {
  local name=$1 out=$TMP/check.out log
  shift
  if "$@" >"$out" 2>&1; then
    passed=$((passed + 1))
    echo "PASS $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    sed 's/^/    /' "$out"
    for log in "${TAIL_LOGS[@]}"; do
      [[ -s $log ]] || continue
      echo "    --- last lines of $(basename "$log")"
      tail -n 15 "$log" | sed 's/^/    | /'
    done
  fi
}

# expect WHAT GOT WANT: string equality that says what differed. Checks run with errexit off
# (they are called from an `if`), so every step that can fail must return explicitly.
expect() {
  [[ $2 == "$3" ]] && return 0
  printf '%s: got "%s", want "%s"\n' "$1" "$2" "$3"
  return 1
}

# num_eq A B: A is a number equal to B (values may come back as 25, 25.0 or 2.5e+01).
num_eq() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a !~ /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/) exit 1
    exit !(a + 0 == b + 0) }'
}

# num_ge A B: A is a number >= B.
num_ge() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a !~ /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/) exit 1
    exit !(a + 0 >= b + 0) }'
}

# wait_until SECONDS CMD...: polls CMD every 0.25 s until it succeeds; fails after SECONDS.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.25
  done
}

# http_get URL [CURL_ARGS...]: prints the status code; body in $TMP/body, headers in $TMP/headers.
http_get() {
  local url=$1
  shift
  curl -sS --max-time 5 -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' "$@" "$url"
}

# header_value FILE NAME: value of the first header NAME (case-insensitive name), CR stripped.
header_value() {
  tr -d '\r' <"$1" | awk -v n="$2" 'BEGIN { n = tolower(n) }
    { i = index($0, ":"); if (i && tolower(substr($0, 1, i - 1)) == n) {
        v = substr($0, i + 1); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v); print v; exit } }'
}

# metric_value NAME LABELS: scrapes /metrics and prints the value of the series NAME{LABELS},
# LABELS written exactly as the exporter prints them (e.g. 'comm="bash"'); fails if absent.
metric_value() {
  local series=$1
  [[ -n ${2:-} ]] && series="$1{$2}"
  curl -sS --max-time 5 --fail -o "$TMP/scrape.txt" "$BASE/metrics" || return 1
  awk -v s="$series " 'index($0, s) == 1 { split(substr($0, length(s) + 1), f, " "); print f[1]; found = 1; exit }
    END { exit !found }' "$TMP/scrape.txt"
}

metric_at_least() { # metric_at_least NAME LABELS MIN
  local v
  v=$(metric_value "$1" "$2") && num_ge "$v" "$3"
}

# prom_query EXPR: value of the first sample of an instant query against our Prometheus.
prom_query() {
  curl -sS --max-time 5 --fail -G --data-urlencode "query=$1" "$PROM/api/v1/query" |
    jq -er '.data.result[0].value[1]'
}

prom_query_is() { # prom_query_is EXPR WANT
  local v
  v=$(prom_query "$1") && num_eq "$v" "$2"
}

# run_bpfex NAME ARGS...: one bounded run of the binary (for flag and config checks);
# stdout/stderr land in $TMP/NAME.out / .err; sets RC (124 means it hung and was killed).
run_bpfex() {
  local name=$1
  shift
  RC=0
  timeout 10 "$BPFEX" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || RC=$?
}

show_output() { # show_output NAME: what a run_bpfex run printed, for failure details
  echo "exit status: $RC"
  echo "--- stdout"; head -n 20 "$TMP/$1.out"
  echo "--- stderr"; head -n 20 "$TMP/$1.err"
}

# Three distinct free loopback ports (bpfex, Prometheus, one for runs that must not start).
free_ports() {
  python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
'
}

# ---------------------------------------------------------------- command line and config checks
# These need no BPF and no daemon; they run first so they report even if startup fails.

t_unknown_flag() {
  run_bpfex unknown_flag --no-such-flag
  expect "exit status" "$RC" 2 || { show_output unknown_flag; return 1; }
  grep -q -- 'no-such-flag' "$TMP/unknown_flag.err" || {
    echo "stderr does not name the unknown flag"; show_output unknown_flag; return 1; }
}

t_version() {
  run_bpfex version --version
  expect "exit status" "$RC" 0 || { show_output version; return 1; }
  [[ -s $TMP/version.out || -s $TMP/version.err ]] || { echo "--version printed nothing"; return 1; }
}

t_help() {
  run_bpfex help --help
  expect "exit status" "$RC" 0 || { show_output help; return 1; }
  cat "$TMP/help.out" "$TMP/help.err" | grep -q -- '--config.file' || {
    echo "--help does not mention --config.file"; show_output help; return 1; }
}

# The shipped config is valid, and the effective config it prints is itself a valid config.
t_config_check_shipped() {
  run_bpfex check_ok --config.file="$CONFIG" --config.check
  expect "exit status" "$RC" 0 || { show_output check_ok; return 1; }
  [[ -s $TMP/check_ok.out ]] || { echo "no effective config on stdout"; show_output check_ok; return 1; }
  grep -q 'exec' "$TMP/check_ok.out" || { echo "effective config does not mention exec"; show_output check_ok; return 1; }
  cp "$TMP/check_ok.out" "$TMP/effective.yaml"
  run_bpfex check_roundtrip --config.file="$TMP/effective.yaml" --config.check
  expect "--config.check of the printed effective config: exit status" "$RC" 0 || {
    show_output check_roundtrip; return 1; }
}

# A broken fixture's first line says where the error must point: "# expect: LINE:COL [KEY.PATH]".
t_config_check_broken() {
  local f=$1 spec loc key want
  spec=$(sed -n '1s/^# expect:[[:space:]]*//p' "$f")
  read -r loc key <<<"$spec" || true
  [[ $loc =~ ^[0-9]+:[0-9]+$ ]] || { echo "$f: first line must be '# expect: LINE:COL [KEY.PATH]'"; return 1; }
  want="$f:$loc: error: "
  [[ -n $key ]] && want+="$key: "
  run_bpfex broken --config.file="$f" --config.check
  expect "exit status" "$RC" 2 || { show_output broken; return 1; }
  grep -qF -- "$want" "$TMP/broken.err" || { echo "stderr lacks \"$want\""; show_output broken; return 1; }
}

# Without --config.check a bad config must also stop the binary before it starts anything.
t_broken_config_does_not_start() {
  run_bpfex broken_start --config.file="$BROKEN_DIR/wrong_type_max_comms.yaml" \
    --web.listen-address="127.0.0.1:$SPARE_PORT"
  expect "exit status" "$RC" 2 || { show_output broken_start; return 1; }
}

t_missing_config() {
  local missing=$TMP/no-such-config.yaml
  run_bpfex missing_check --config.file="$missing" --config.check
  expect "--config.check exit status" "$RC" 2 || { show_output missing_check; return 1; }
  grep -qF -- "$missing" "$TMP/missing_check.err" || {
    echo "stderr does not name $missing"; show_output missing_check; return 1; }
  run_bpfex missing_start --config.file="$missing" --web.listen-address="127.0.0.1:$SPARE_PORT"
  expect "exit status when starting" "$RC" 2 || { show_output missing_start; return 1; }
  grep -qF -- "$missing" "$TMP/missing_start.err" || {
    echo "stderr does not name $missing"; show_output missing_start; return 1; }
}

# ---------------------------------------------------------------- HTTP checks

t_metrics_endpoint() {
  local code ct lint rc=0 ok=0
  code=$(http_get "$BASE/metrics") || { echo "GET /metrics failed"; return 1; }
  expect "status" "$code" 200 || return 1
  ct=$(header_value "$TMP/headers" content-type)
  expect "Content-Type" "$ct" "$WANT_CONTENT_TYPE" || ok=1
  # promtool lints too (HELP, TYPE, naming); both its exit status and silence are required.
  lint=$(promtool check metrics <"$TMP/body" 2>&1) || rc=$?
  if [[ $rc -ne 0 || -n $lint ]]; then
    echo "promtool check metrics: exit $rc"
    echo "$lint" | head -n 30
    ok=1
  fi
  return "$ok"
}

t_build_info() {
  local line
  curl -sS --max-time 5 --fail -o "$TMP/scrape.txt" "$BASE/metrics" || return 1
  line=$(grep '^bpfex_build_info{' "$TMP/scrape.txt") || { echo "no bpfex_build_info series"; return 1; }
  [[ $line == *'version="'* && $line == *'revision="'* ]] || { echo "labels missing: $line"; return 1; }
  num_eq "${line##* }" 1 || { echo "value is not 1: $line"; return 1; }
}

# bpfex_module_up{module=MODULE} is 1.
t_module_up() {
  local module=$1 v
  v=$(metric_value bpfex_module_up "module=\"$module\"") || { echo "no bpfex_module_up{module=\"$module\"}"; return 1; }
  num_eq "$v" 1 || { echo "bpfex_module_up{module=\"$module\"} = $v, want 1"; return 1; }
}

t_syscall_module() {
  local v
  t_module_up syscall || return 1
  # Every process makes read calls, not least curl and bpfex itself.
  v=$(metric_value bpfex_syscall_latency_seconds_count 'syscall="read"') || { echo "no read histogram"; return 1; }
  num_ge "$v" 1 || { echo "bpfex_syscall_latency_seconds_count{syscall=\"read\"} = $v"; return 1; }
}

# Pings to 127.0.0.1: lo's ICMP counters grow by at least that much (other processes may ping too).
t_network_lo_icmp() {
  local before
  before=$(metric_value bpfex_network_packets_total 'interface="lo",direction="rx",family="ipv4",protocol="icmp"') ||
    before=0
  ping -q -c "$PINGS" -i 0.05 -W 2 127.0.0.1 >/dev/null || { echo "ping 127.0.0.1 failed"; return 1; }
  # An echo request and its reply per ping, both received on lo.
  wait_until 15 metric_at_least bpfex_network_packets_total \
    'interface="lo",direction="rx",family="ipv4",protocol="icmp"' $((before + 2 * PINGS)) && return 0
  echo "lo rx icmp: before $before, want >= $((before + 2 * PINGS))"
  grep '^bpfex_network_packets_total{interface="lo"' "$TMP/scrape.txt" | head
  return 1
}

t_landing_page() {
  local code ct
  code=$(http_get "$BASE/") || { echo "GET / failed"; return 1; }
  expect "status" "$code" 200 || return 1
  ct=$(header_value "$TMP/headers" content-type)
  [[ $ct == text/html* ]] || { echo "Content-Type \"$ct\" is not text/html"; return 1; }
  grep -q 'exec' "$TMP/body" || { echo "page does not name the exec module"; return 1; }
  grep -Eq "href=[\"']?/metrics" "$TMP/body" || { echo "no link to /metrics"; head -c 2000 "$TMP/body"; return 1; }
}

t_healthz() {
  local code
  code=$(http_get "$BASE/healthz") || { echo "GET /healthz failed"; return 1; }
  expect "status" "$code" 200 || { head -c 500 "$TMP/body"; return 1; }
  [[ $(head -c 2 "$TMP/body") == ok ]] || { echo "body does not start with ok:"; head -c 500 "$TMP/body"; return 1; }
}

t_status() { # t_status WANT PATH [CURL_ARGS...]
  local want=$1 path=$2 code
  shift 2
  code=$(http_get "$BASE$path" "$@") || { echo "request failed"; return 1; }
  expect "status of $* $path" "$code" "$want"
}

t_head_metrics() {
  local code
  code=$(curl -sS --max-time 5 -I -o /dev/null -w '%{http_code}' "$BASE/metrics") || { echo "HEAD failed"; return 1; }
  expect "status" "$code" 200 || return 1
  # curl -I never reads a body, so look at the raw bytes: HTTP/1.0, read until the server closes.
  python3 - 127.0.0.1 "$PORT" <<'EOF'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(b"HEAD /metrics HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
head, _, body = data.partition(b"\r\n\r\n")
status = head.split(b"\r\n")[0].decode(errors="replace")
if " 200 " not in status + " ":
    sys.exit("raw HEAD status line: " + status)
if body:
    sys.exit("HEAD response carried %d body bytes: %r" % (len(body), body[:80]))
EOF
}

# ---------------------------------------------------------------- exec events

# Runs a uniquely named copy of /bin/true EXEC_RUNS times; its comm is that name (<= 15 bytes),
# so nothing else on the machine can add to the series.
t_exec_count() {
  local i v
  cp /bin/true "$TMP/$EXEC_NAME" || return 1
  for ((i = 0; i < EXEC_RUNS; i++)); do
    "$TMP/$EXEC_NAME" || { echo "$TMP/$EXEC_NAME failed to run"; return 1; }
  done
  wait_until 15 metric_at_least bpfex_exec_total "comm=\"$EXEC_NAME\"" "$EXEC_RUNS" || true
  # Two more poll intervals: a double count would show up by then.
  sleep $((2 * POLL_SECONDS)).5
  v=$(metric_value bpfex_exec_total "comm=\"$EXEC_NAME\"") || {
    echo "no bpfex_exec_total{comm=\"$EXEC_NAME\"}"; grep '^bpfex_exec_total' "$TMP/scrape.txt" | head; return 1; }
  num_eq "$v" "$EXEC_RUNS" || { echo "bpfex_exec_total{comm=\"$EXEC_NAME\"} = $v, want $EXEC_RUNS"; return 1; }
}

# execve of a missing path ENOENT_RUNS times. Other processes may fail execs too (PATH lookups),
# so the counter must grow by at least that much, not exactly.
t_exec_enoent() {
  local before after
  before=$(metric_value bpfex_exec_errors_total 'errno="ENOENT"') || before=0
  python3 - "$TMP/no_such_program" "$ENOENT_RUNS" <<'EOF' || return 1
import os, sys
path, n = sys.argv[1], int(sys.argv[2])
for _ in range(n):
    try:
        os.execv(path, [path])
    except FileNotFoundError:
        pass
EOF
  if ! wait_until 15 metric_at_least bpfex_exec_errors_total 'errno="ENOENT"' $((before + ENOENT_RUNS)); then
    after=$(metric_value bpfex_exec_errors_total 'errno="ENOENT"') || after="(absent)"
    echo "bpfex_exec_errors_total{errno=\"ENOENT\"}: before $before, after $after, want >= $((before + ENOENT_RUNS))"
    grep '^bpfex_exec_errors_total' "$TMP/scrape.txt" | head
    return 1
  fi
}

# ---------------------------------------------------------------- real Prometheus

start_prometheus() {
  cat >"$TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: bpfex
    static_configs:
      - targets: ["127.0.0.1:$PORT"]
EOF
  prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prom-data" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$TMP/prometheus.log" 2>&1 &
  PROM_PID=$!
  TAIL_LOGS+=("$TMP/prometheus.log")
}

t_prometheus_ready() {
  wait_until 30 curl -sf --max-time 2 "$PROM/-/ready" && return 0
  echo "Prometheus not ready at $PROM within 30 s"
  return 1
}

t_prometheus_up() {
  wait_until 30 prom_query_is 'up{job="bpfex"}' 1 && return 0
  echo "up{job=\"bpfex\"} = $(prom_query 'up{job="bpfex"}' 2>&1), want 1"
  echo "target: $(curl -sS --max-time 5 "$PROM/api/v1/targets" | jq -c '.data.activeTargets[0] | {health, lastError, scrapeUrl}' 2>&1)"
  return 1
}

t_prometheus_value() { # t_prometheus_value EXPR WANT
  wait_until 15 prom_query_is "$1" "$2" && return 0
  echo "$1 = $(prom_query "$1" 2>&1), want $2"
  return 1
}

# ---------------------------------------------------------------- shutdown

t_sigterm() {
  local deadline=$((SECONDS + 10)) rc=0
  kill -TERM "$BPFEX_PID"
  while alive "$BPFEX_PID"; do
    ((SECONDS < deadline)) || { echo "still running 10 s after SIGTERM"; return 1; }
    sleep 0.2
  done
  wait "$BPFEX_PID" || rc=$?
  BPFEX_PID=""
  expect "exit status after SIGTERM" "$rc" 0
}

# ================================================================ main
if [[ $# -ne 2 ]]; then
  echo "usage: $0 BPFEX_BINARY REPO_ROOT" >&2
  exit 2
fi
BPFEX=$1
REPO_ROOT=$(cd "$2" && pwd)
CONFIG=$REPO_ROOT/config/bpfex.yaml
BROKEN_DIR=$REPO_ROOT/tests/e2e/broken

# Loading BPF programs needs root (CAP_BPF + CAP_PERFMON at least). On a laptop that is a skip;
# under CI a skip would hide that the test never ran, so it is a failure there.
if [[ $(id -u) -ne 0 ]]; then
  if [[ ${CI:-} == true ]]; then
    fatal_setup "must run as root under CI=true (uid $(id -u))"
    summary_and_exit
  fi
  echo "e2e: skipped: needs root to load BPF programs (uid $(id -u))"
  exit 77
fi

if [[ ! -x $BPFEX ]]; then
  fatal_setup "bpfex binary not found or not executable: $BPFEX"
  summary_and_exit
fi

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bpfex-e2e.XXXXXX")

say "binary $BPFEX, config $CONFIG, work dir $TMP"

# BPF tracepoint attach (and bpfex's probing) looks for event ids under tracefs.
if [[ ! -d /sys/kernel/tracing/events ]]; then
  mount -t tracefs nodev /sys/kernel/tracing || say "warning: could not mount tracefs"
fi

read -r PORT PROM_PORT SPARE_PORT < <(free_ports) || true
if [[ -z ${SPARE_PORT:-} ]]; then
  fatal_setup "could not pick free TCP ports (python3 missing?)"
  summary_and_exit
fi
BASE=http://127.0.0.1:$PORT
PROM=http://127.0.0.1:$PROM_PORT
# e2e_ + 8 hex digits = 12 bytes: under the 15-byte comm limit, and unique per run.
EXEC_NAME=e2e_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')

check "unknown flag exits 2" t_unknown_flag
check "--version exits 0" t_version
check "--help exits 0" t_help
check "--config.check accepts config/bpfex.yaml" t_config_check_shipped
for fixture in "$BROKEN_DIR"/*.yaml; do
  check "--config.check rejects broken/$(basename "$fixture")" t_config_check_broken "$fixture"
done
check "broken config exits 2 without --config.check" t_broken_config_does_not_start
check "missing config file exits 2 naming the file" t_missing_config

"$BPFEX" --config.file="$CONFIG" --web.listen-address="127.0.0.1:$PORT" --log.level=debug \
  >"$TMP/bpfex.log" 2>&1 &
BPFEX_PID=$!
TAIL_LOGS+=("$TMP/bpfex.log")

# /healthz turns 200 once every enabled module is attached; stop early if bpfex dies.
healthy() { [[ $(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$BASE/healthz") == 200 ]]; }
deadline=$((SECONDS + 30))
until healthy; do
  if ! alive "$BPFEX_PID" || ((SECONDS >= deadline)); then
    state="exited"
    alive "$BPFEX_PID" && state="still not healthy"
    mapfile -t log_tail < <(tail -n 30 "$TMP/bpfex.log")
    fatal_setup "bpfex healthy on $BASE/healthz within 30 s ($state)" "${log_tail[@]}"
    summary_and_exit
  fi
  sleep 0.25
done
say "bpfex is healthy on $BASE (pid $BPFEX_PID)"

check "GET /metrics: 200, Content-Type, promtool clean" t_metrics_endpoint
check "bpfex_build_info{version,revision} 1" t_build_info
check 'bpfex_module_up{module="exec"} 1' t_module_up exec
check 'bpfex_module_up{module="syscall"} 1, read latency histogram' t_syscall_module
check 'bpfex_module_up{module="network"} 1' t_module_up network
check "bpfex_network_packets_total{interface=\"lo\",protocol=\"icmp\"} grows by >= $((2 * PINGS))" t_network_lo_icmp
check "GET / landing page" t_landing_page
check "GET /healthz 200 ok" t_healthz
check "GET /nope 404" t_status 404 /nope
check "POST /metrics 405" t_status 405 /metrics -X POST
check "DELETE / 405" t_status 405 / -X DELETE
check "HEAD /metrics 200 without body" t_head_metrics
check "bpfex_exec_total{comm=\"$EXEC_NAME\"} == $EXEC_RUNS" t_exec_count
check "bpfex_exec_errors_total{errno=\"ENOENT\"} grows by >= $ENOENT_RUNS" t_exec_enoent

start_prometheus
check "Prometheus ready" t_prometheus_ready
check 'Prometheus: up{job="bpfex"} == 1' t_prometheus_up
check "Prometheus: bpfex_exec_total{comm=\"$EXEC_NAME\"} == $EXEC_RUNS" \
  t_prometheus_value "bpfex_exec_total{comm=\"$EXEC_NAME\"}" "$EXEC_RUNS"
check 'Prometheus: bpfex_module_up{module="exec"} == 1' \
  t_prometheus_value 'bpfex_module_up{module="exec"}' 1
check 'Prometheus: bpfex_module_up{module="network"} == 1' \
  t_prometheus_value 'bpfex_module_up{module="network"}' 1
stop_pid "$PROM_PID"
PROM_PID=""
TAIL_LOGS=("$TMP/bpfex.log")

check "SIGTERM: exit 0 within 10 s" t_sigterm

summary_and_exit
