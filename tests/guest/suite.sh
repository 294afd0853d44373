#!/usr/bin/env bash
# bpfex on one of Debian's kernels, in one guest boot: the whole integration suite, then the real
# bpfex binary with config/bpfex.yaml (health, a scrape that promtool accepts with every module up,
# the attach flavour each program chose checked against EXPECTED below, a clean SIGTERM).
#
#   tests/guest/suite.sh KERNEL BPFEX_BUILD_DIR REPO_ROOT     # KERNEL: 6.1 or 6.12 (versions.sh)
#
# What the ctest entries guest_6_1 / guest_6_12 call. Exit 0 when everything passed, 1 otherwise.
# A missing prerequisite (qemu, the fetched kernel, a built binary) is a failure under CI=true and
# exit 77 with the reason otherwise. BPFEX_GUEST_TIMEOUT (s, default 720) bounds the guest run.
# The last line is "guest KERNEL: N passed, M failed".
#
# Checks are functions called through `check`; shellcheck cannot see that.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self=$here/$(basename "${BASH_SOURCE[0]}")

# ---------------------------------------------------------------- expected attach flavours
# Per kernel: "module/program=flavour" with shell glob patterns; the first pattern that matches a
# program's module/name applies. Every program on the landing page needs a matching line and every
# line must match a program: a renamed program fails here until this table follows.
# 6.1: fentry/fexit and tp_btf exist, no tcx (6.6+); fentry does not attach to tcp_v[46]_syn_recv_sock
# there (kprobes do). 6.12: all of those and tcx.
declare -A EXPECTED=(
  [6.1]="
    exec/exec_tp_btf=tp_btf
    exec/execve_fexit=fexit
    exec/execveat_fexit=fexit
    syscall/sys_enter_tp_btf=tp_btf
    syscall/sys_exit_tp_btf=tp_btf
    network/network_receive=tp_btf
    network/network_transmit=tp_btf
    network/network_ingress*=tc
    runqueue/*=tp_btf
    block/*=tp_btf
    tcp/*_tp_btf=tp_btf
    tcp/tcp_conn_request_fentry=fentry
    tcp/tcp_v*_syn_recv_kprobe=kprobe
    oom/oom_victim_tp_btf=tp_btf
    oom/oom_kill_fentry=fentry
  "
  [6.12]="
    exec/exec_tp_btf=tp_btf
    exec/execve_fexit=fexit
    exec/execveat_fexit=fexit
    syscall/sys_enter_tp_btf=tp_btf
    syscall/sys_exit_tp_btf=tp_btf
    network/network_receive=tp_btf
    network/network_transmit=tp_btf
    network/network_ingress*=tcx
    runqueue/*=tp_btf
    block/*=tp_btf
    tcp/*_tp_btf=tp_btf
    tcp/*_fentry=fentry
    oom/oom_victim_tp_btf=tp_btf
    oom/oom_kill_fentry=fentry
  "
)

# ---------------------------------------------------------------- flavours the integration suite exercises
# Per kernel, every flavour the integration suite must have attached (its "attached: WHAT PROGRAM
# FLAVOUR TARGET" lines, forced fallbacks included), each with an exact count in its test. Between
# the two kernels: every flavour bpfex has (loader/flavour.h).
declare -A EXERCISED=(
  [6.1]="fentry fexit kprobe kretprobe tp_btf raw_tp tracepoint tc"
  [6.12]="fentry fexit kprobe kretprobe tp_btf raw_tp tracepoint tc tcx"
)

usage() {
  echo "usage: tests/guest/suite.sh KERNEL BPFEX_BUILD_DIR REPO_ROOT" >&2
  exit 2
}

# ================================================================ host side
host_main() {
  [[ $# -eq 3 ]] || usage
  local kernel=$1 build repo
  build=$(cd "$2" 2>/dev/null && pwd) || build=$2
  repo=$(cd "$3" 2>/dev/null && pwd) || repo=$3
  source "$here/versions.sh"
  [[ -n ${GUEST_KERNEL_PACKAGE[$kernel]:-} ]] || { echo "suite: unknown kernel '$kernel' (known: ${GUEST_KERNELS[*]})" >&2 && exit 2; }
  [[ -n ${EXPECTED[$kernel]:-} ]] || { echo "suite: no EXPECTED flavours for $kernel in $self" >&2 && exit 2; }

  local missing=() kdir
  command -v qemu-system-x86_64 >/dev/null || missing+=("qemu-system-x86_64 (run scripts/install-deps.sh)")
  kdir=$(guest_pkg_dir "${GUEST_KERNEL_PACKAGE[$kernel]}" "${GUEST_KERNEL_VERSION[$kernel]}")
  [[ -f $kdir/.unpacked ]] || missing+=("kernel $kernel in $GUEST_CACHE (run tests/guest/fetch.sh as root)")
  [[ -f $(guest_pkg_dir "$GUEST_BUSYBOX_PACKAGE" "$GUEST_BUSYBOX_VERSION")/.unpacked ]] ||
    missing+=("busybox in $GUEST_CACHE (run tests/guest/fetch.sh as root)")
  command -v modprobe >/dev/null || missing+=("kmod (run tests/guest/fetch.sh as root)")
  local f
  for f in "$build/integration_tests" "$build/bpfex"; do
    [[ -x $f ]] || missing+=("$f (build first)")
  done
  [[ -f $repo/config/bpfex.yaml ]] || missing+=("$repo/config/bpfex.yaml")
  for f in promtool curl /usr/bin/python3; do
    command -v "$f" >/dev/null || missing+=("$f (run scripts/install-deps.sh)")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    printf 'suite: missing: %s\n' "${missing[@]}" >&2
    if [[ ${CI:-} == true ]]; then
      echo "guest $kernel: 0 passed, 1 failed"
      exit 1
    fi
    echo "suite: skipped (exit 77; under CI=true this is a failure)" >&2
    exit 77
  fi

  local rc=0
  # --host-dir: a checkout under /tmp (hidden by the guest's own /tmp) is seen all the same.
  "$here/run.sh" --kernel "$kernel" --timeout "${BPFEX_GUEST_TIMEOUT:-1200}" --host-dir "$build" --host-dir "$repo" -- \
    "$self" --inside "$kernel" "$build" "$repo" || rc=$?
  case $rc in
    0) ;;
    124 | 125)
      # run.sh said why; the in-guest summary never printed.
      echo "guest $kernel: 0 passed, 1 failed"
      exit 1
      ;;
    *) exit 1 ;; # never 77 from here: that would read as a skip
  esac
}

# ================================================================ guest side
passed=0 failed=0
TMP="" BPFEX_PID=""

say() { echo "suite: $*"; }
check() {
  local name=$1
  shift
  if "$@" >"$TMP/check.out" 2>&1; then
    passed=$((passed + 1))
    echo "PASS $name"
    [[ -s $TMP/check.out ]] && sed 's/^/    /' "$TMP/check.out"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    sed 's/^/    /' "$TMP/check.out"
    if [[ $name == *bpfex* && -s $TMP/bpfex.log ]]; then
      echo "    --- last lines of the bpfex log (libbpf's debug lines left out)"
      grep -v 'source=libbpf' "$TMP/bpfex.log" | tail -n 15 | sed 's/^/    | /'
    fi
  fi
  return 0
}

guest_cleanup() {
  local pid
  for pid in "$BPFEX_PID" "${HIDDEN_PID:-}"; do
    [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null
  done
  [[ -n $TMP ]] && rm -rf "$TMP"
  return 0
}

# http_code PATH [FILE]: status of GET PATH (body into FILE).
http_code() {
  curl -sS --max-time 10 -o "${2:-/dev/null}" -w '%{http_code}' "http://127.0.0.1:$PORT$1" 2>/dev/null || true
}

t_integration() {
  # In the build directory, as ctest runs it. --durations: the report names the slow cases.
  # BPFEX_CHURN_PAIRS: the interface-churn bursts at a tenth of the host's size (TCG emulation is
  # that much slower; the host lane runs them in full).
  (cd "$BUILD" && BPFEX_CHURN_PAIRS=30 ./integration_tests --durations yes) >"$TMP/integration.log" 2>&1
  local rc=$?
  if [[ $rc -eq 0 ]]; then
    grep -E '^All tests passed' "$TMP/integration.log"
  else
    # All of Catch2's report but the per-case duration lines, summarised below.
    grep -vE '^[0-9]+\.[0-9]+ s: ' "$TMP/integration.log" | tail -n 400
  fi
  echo "slowest test cases:"
  grep -E '^[0-9]+\.[0-9]+ s: ' "$TMP/integration.log" | sort -rn | head -n 5 | sed 's/^/  /'
  return "$rc"
}

t_flavours() {
  # flavour -> the distinct "what/program" that attached with it
  awk '$1 == "attached:" { k = $4 SUBSEP $2 "/" $3; if (!(k in seen)) { seen[k] = 1; by[$4] = by[$4] " " $2 "/" $3 } }
       END { for (f in by) print f ":" by[f] }' "$TMP/integration.log" | sort >"$TMP/flavours"
  sed 's/^/  /' "$TMP/flavours"
  local f bad=0
  for f in ${EXERCISED[$KERNEL]}; do
    grep -q "^$f:" "$TMP/flavours" || { echo "  $f: never attached by the integration suite on $KERNEL"; bad=1; }
  done
  return "$bad"
}

t_start() {
  "$BUILD/bpfex" --config.file="$REPO/config/bpfex.yaml" --web.listen-address="127.0.0.1:$PORT" \
    --log.level=debug >"$TMP/bpfex.log" 2>&1 &
  BPFEX_PID=$!
  local i code="" t0=${EPOCHREALTIME//[.,]/}
  # Loading and attaching under TCG takes seconds; 90 s is far beyond that, and bounded.
  for ((i = 0; i < 450; i++)); do
    kill -0 "$BPFEX_PID" 2>/dev/null || { echo "bpfex exited"; return 1; }
    code=$(http_code /healthz "$TMP/healthz")
    [[ $code == 200 ]] && break
    sleep 0.2
  done
  [[ $code == 200 ]] || { echo "/healthz: $code $(cat "$TMP/healthz" 2>/dev/null)"; return 1; }
  local ms=$(((${EPOCHREALTIME//[.,]/} - t0) / 1000))
  echo "healthy $((ms / 1000)).$((ms % 1000 / 100)) s after the start"
}

t_metrics() {
  local code
  code=$(http_code /metrics "$TMP/metrics")
  [[ $code == 200 ]] || { echo "/metrics: $code"; return 1; }
  # every module of the config is up
  awk '/^bpfex_module_up[{ ]/ { n++; print "  " $0; if ($NF + 0 != 1) bad++ }
       END { if (n == 0) { print "no bpfex_module_up series"; exit 1 } exit bad > 0 }' "$TMP/metrics"
  local lint
  lint=$(promtool check metrics <"$TMP/metrics" 2>&1) || { echo "promtool check metrics: $lint"; return 1; }
  [[ -z $lint ]] || { echo "promtool check metrics: $lint"; return 1; }
  echo "promtool check metrics: clean ($(grep -vc '^#' "$TMP/metrics") samples)"
}

# The landing page's module table, one "module program flavour target" line per program
# (rows: <tr><td>MODULE</td><td class=..>STATE</td><td>NAME (FLAVOUR TARGET)<br>...</td></tr>).
landing_programs() {
  sed -n 's|^<tr><td>\([^<]*\)</td><td class="[^"]*">[^<]*</td><td>\(.*\)</td></tr>$|\1\t\2|p' "$1" |
    while IFS=$'\t' read -r module progs; do
      progs=${progs//<br>/$'\n'}
      while read -r name method; do
        [[ -n $name ]] || continue
        method=${method#(}
        method=${method%)}
        echo "$module $name ${method%% *} ${method#* }"
      done <<<"$progs"
    done
}

t_landing() {
  local code
  code=$(http_code / "$TMP/landing.html")
  [[ $code == 200 ]] || { echo "/: $code"; return 1; }
  landing_programs "$TMP/landing.html" >"$TMP/programs"
  [[ -s $TMP/programs ]] || { echo "no programs in the landing page's module table"; return 1; }
  # The "module started" log lines say the same; shown for the record.
  grep 'module started' "$TMP/bpfex.log" | sed 's/^/  log: /'
  local module name flavour target line pattern want matched bad=0
  local -A used=()
  while read -r module name flavour target; do
    want="" matched=""
    while read -r line; do
      [[ -n $line ]] || continue
      pattern=${line%%=*}
      # shellcheck disable=SC2053  # pattern is a glob on purpose
      if [[ $module/$name == $pattern ]]; then
        want=${line#*=} matched=$line
        break
      fi
    done <<<"${EXPECTED[$KERNEL]}"
    if [[ -z $matched ]]; then
      echo "  $module/$name: $flavour $target -- no EXPECTED line for it (update tests/guest/suite.sh)"
      bad=1
    elif [[ $flavour != "$want" ]]; then
      echo "  $module/$name: $flavour $target -- expected $want ($matched)"
      bad=1
    else
      echo "  $module/$name: $flavour $target"
    fi
    [[ -n $matched ]] && used[$matched]=1
  done <"$TMP/programs"
  while read -r line; do
    [[ -z $line || -n ${used[$line]:-} ]] && continue
    echo "  EXPECTED line '$line' matched no program on the landing page"
    bad=1
  done <<<"${EXPECTED[$KERNEL]}"
  return "$bad"
}

t_sigterm() {
  kill -TERM "$BPFEX_PID"
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$BPFEX_PID" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$BPFEX_PID" 2>/dev/null; then
    echo "still running 20 s after SIGTERM"
    return 1
  fi
  local rc=0
  wait "$BPFEX_PID" || rc=$?
  BPFEX_PID=""
  [[ $rc -eq 0 ]] || { echo "exit $rc after SIGTERM"; return 1; }
}

# On tc (no tcx before 6.6), bpfex attaches per interface only to stacked devices (their received
# packets pass the tracepoint on the lower device): a macvlan on a veth, made for t_tc_instances.
TC_DEV=bxtcmv
# bpfex filters on TC_DEV's ingress (priority 3070) and their handles.
tc_handles() {
  tc filter show dev "$TC_DEV" ingress 2>/dev/null |
    sed -n 's/.* pref 3070 bpf .*handle \(0x[0-9a-f]*\) network_.*/\1/p' | sort
}

# start_on PORT LOG: a bpfex with the default config; its pid in STARTED_PID once /healthz is 200.
start_on() {
  "$BUILD/bpfex" --config.file="$REPO/config/bpfex.yaml" --web.listen-address="127.0.0.1:$1" >"$2" 2>&1 &
  STARTED_PID=$!
  local i
  for ((i = 0; i < 450; i++)); do
    kill -0 "$STARTED_PID" 2>/dev/null || { echo "bpfex exited: $(tail -n 5 "$2")"; return 1; }
    [[ $(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/healthz" 2>/dev/null) == 200 ]] &&
      return 0
    sleep 0.2
  done
  echo "bpfex on port $1 not healthy"
  return 1
}

t_tc_instances() {
  local a b rc=0
  ip link add bxtcv0 type veth peer name bxtcv1 || return 1
  ip link add link bxtcv0 name "$TC_DEV" type macvlan mode bridge || { ip link del bxtcv0; return 1; }
  t_tc_instances_on_dev || rc=1
  ip link del bxtcv0
  return "$rc"
}
t_tc_instances_on_dev() {
  local a b rc=0
  # Two at once: each its own filter.
  start_on "$PORT" "$TMP/tc-a.log" || return 1
  a=$STARTED_PID
  start_on "$((PORT + 1))" "$TMP/tc-b.log" || { kill "$a"; return 1; }
  b=$STARTED_PID
  [[ $(tc_handles | wc -l) -eq 2 ]] || { echo "two instances: $(tc_handles | wc -l) bpfex filters on lo"; rc=1; }
  # SIGKILL leaves a filter behind; the next instance removes it.
  kill -KILL "$a"
  wait "$a" 2>/dev/null || true
  [[ $(tc_handles | wc -l) -eq 2 ]] || { echo "after SIGKILL: $(tc_handles | wc -l) bpfex filters, want 2"; rc=1; }
  start_on "$PORT" "$TMP/tc-c.log" || { kill "$b"; return 1; }
  a=$STARTED_PID
  [[ $(tc_handles | wc -l) -eq 2 ]] || { echo "after a restart: $(tc_handles | wc -l) bpfex filters, want 2"; rc=1; }
  grep -q "removed the tc filter of a bpfex that is gone" "$TMP/tc-c.log" || { echo "the dead filter was not removed"; rc=1; }
  # Stopping one leaves the other's; the last one leaves nothing, not even the qdisc.
  kill -TERM "$b"
  wait "$b" || { echo "exit $? after SIGTERM"; rc=1; }
  [[ $(tc_handles | wc -l) -eq 1 ]] || { echo "one stopped: $(tc_handles | wc -l) bpfex filters, want 1"; rc=1; }
  kill -TERM "$a"
  wait "$a" || { echo "exit $? after SIGTERM"; rc=1; }
  [[ $(tc_handles | wc -l) -eq 0 ]] || { echo "all stopped: $(tc_handles | wc -l) bpfex filters left"; rc=1; }
  if tc qdisc show dev "$TC_DEV" | grep -q clsact; then
    echo "all stopped: the clsact qdisc bpfex made is still on $TC_DEV"
    rc=1
  fi
  tc filter show dev "$TC_DEV" ingress | sed 's/^/  /'
  return "$rc"
}

# A kernel without /sys/kernel/btf/vmlinux, as a bpfex in a private mount namespace with an empty
# tmpfs over /sys/kernel/btf sees it. hidden_btf_start PORT LOG [FLAGS...]
hidden_btf_start() {
  local port=$1 log=$2
  shift 2
  # shellcheck disable=SC2016  # $0 and $@ are the inner shell's
  unshare --mount sh -c 'mount -t tmpfs none /sys/kernel/btf && exec "$0" "$@"' \
    "$BUILD/bpfex" --config.file="$REPO/config/bpfex.yaml" --web.listen-address="127.0.0.1:$port" "$@" >"$log" 2>&1 &
  HIDDEN_PID=$!
  local i code
  for ((i = 0; i < 450; i++)); do
    kill -0 "$HIDDEN_PID" 2>/dev/null || { echo "bpfex exited"; return 1; }
    code=$(curl -sS --max-time 10 -o "$TMP/hidden.body" -w '%{http_code}' "http://127.0.0.1:$port/healthz" 2>/dev/null) || true
    [[ $code != 000 && -n $code ]] && { HIDDEN_CODE=$code; return 0; }
    sleep 0.2
  done
  echo "no answer on /healthz"
  return 1
}

hidden_btf_stop() {
  [[ -n ${HIDDEN_PID:-} ]] || return 0
  kill -TERM "$HIDDEN_PID" 2>/dev/null || true
  wait "$HIDDEN_PID" 2>/dev/null || true
  HIDDEN_PID=""
}

t_hidden_btf() {
  local rc=0
  hidden_btf_start "$PORT" "$TMP/nobtf.log" || { hidden_btf_stop; return 1; }
  [[ $HIDDEN_CODE == 503 ]] || { echo "/healthz: $HIDDEN_CODE, want 503"; rc=1; }
  local words
  for words in "/sys/kernel/btf/vmlinux" "--btf.path"; do
    grep -qF -- "$words" "$TMP/hidden.body" || { echo "/healthz does not name $words"; rc=1; }
  done
  head -c 600 "$TMP/hidden.body" | sed 's/^/  /'
  hidden_btf_stop
  return "$rc"
}

t_hidden_btf_path() {
  cp /sys/kernel/btf/vmlinux "$TMP/vmlinux.btf"
  local rc=0
  hidden_btf_start "$PORT" "$TMP/btfpath.log" --btf.path="$TMP/vmlinux.btf" || { hidden_btf_stop; return 1; }
  [[ $HIDDEN_CODE == 200 ]] || { echo "/healthz: $HIDDEN_CODE, want 200"; cat "$TMP/hidden.body"; rc=1; }
  # fentry/fexit/tp_btf attach through the kernel's own BTF: none of them without it.
  grep 'module started' "$TMP/btfpath.log" | sed 's/^/  log: /'
  if grep 'module started' "$TMP/btfpath.log" | grep -qE '=(tp_btf|fentry|fexit) '; then
    echo "a program attached through the hidden kernel BTF"
    rc=1
  fi
  hidden_btf_stop
  return "$rc"
}

# Everything above loads, attaches and detaches BPF programs by the hundred; a kernel that
# complained meanwhile (a warning in BPF or tc code, an oops a test survived) fails the run even
# when every check passed. Not "Call Trace:" alone: the oom tests' kills print one each.
t_kernel_log() {
  local bad
  bad=$(dmesg | grep -nE 'Oops|BUG:|WARNING:|general protection' || true)
  [[ -z $bad ]] && return 0
  echo "the kernel log has:"
  echo "$bad" | head -n 20
  return 1
}

guest_main() {
  [[ $# -eq 3 ]] || usage
  KERNEL=$1 BUILD=$2 REPO=$3
  [[ -n ${EXPECTED[$KERNEL]:-} ]] || { echo "suite: no EXPECTED flavours for $KERNEL" && exit 1; }
  TMP=$(mktemp -d)
  trap guest_cleanup EXIT
  say "uname -r: $(uname -r)"
  local t0=$SECONDS
  check "integration suite" t_integration
  say "integration suite took $((SECONDS - t0)) s"
  check "integration suite: every flavour of ${EXERCISED[$KERNEL]// /, } attached" t_flavours
  PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  t0=$SECONDS
  check "bpfex starts, /healthz 200" t_start
  if [[ -n $BPFEX_PID ]] && kill -0 "$BPFEX_PID" 2>/dev/null; then
    check "bpfex /metrics: every bpfex_module_up is 1, promtool check metrics clean" t_metrics
    check "bpfex landing page: attach flavours as EXPECTED for $KERNEL" t_landing
    check "SIGTERM: bpfex exits 0" t_sigterm
  fi
  if grep -q '^network .* tc ' "$TMP/programs" 2>/dev/null; then
    check "tc (a macvlan's ingress): two instances each their own filter; SIGKILL's leftover removed on restart; the last leaves nothing" \
      t_tc_instances
  fi
  check "kernel BTF hidden: every module down, /healthz names the file and --btf.path" t_hidden_btf
  check "kernel BTF hidden, --btf.path to a copy: every module up, no BTF-attached flavour" t_hidden_btf_path
  say "bpfex checks took $((SECONDS - t0)) s"
  check "the kernel logged no Oops, BUG or WARNING" t_kernel_log
  echo "guest $KERNEL: $passed passed, $failed failed"
  [[ $failed -eq 0 ]] && exit 0
  exit 1
}

if [[ ${1:-} == --inside ]]; then
  shift
  guest_main "$@"
else
  host_main "$@"
fi
