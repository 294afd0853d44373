#!/usr/bin/env bash
# Tests of run.sh itself, from the host: exit codes, the two output streams, working directory and
# environment, a large output intact, the time limit, a guest that panics, one that cannot boot,
# and that an interrupted run leaves no qemu behind. One guest boot per case (about 10 s each).
#
#   tests/guest/run_test.sh [KERNEL]        # default 6.1
#
# Last line: "run_test: N passed, M failed"; exit 1 on any failure.
#
# Cases are functions called through `check`; shellcheck cannot see that.
# shellcheck disable=SC2317
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kernel=${1:-6.1}
run=$here/run.sh
passed=0 failed=0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

check() {
  local name=$1 t0=$SECONDS
  shift
  if "$@" >"$TMP/check.out" 2>&1; then
    passed=$((passed + 1))
    echo "PASS $name ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1))
    echo "FAIL $name ($((SECONDS - t0)) s)"
    sed 's/^/    /' "$TMP/check.out"
  fi
}

# guest [RUN_ARGS...] -- COMMAND...: run.sh with stdout in $TMP/o, stderr in $TMP/e; sets rc.
guest() {
  rc=0
  "$run" --kernel "$kernel" "$@" >"$TMP/o" 2>"$TMP/e" </dev/null || rc=$?
}
show() {
  echo "rc=$rc"
  echo "--- stdout"
  head -c 2000 "$TMP/o"
  echo "--- stderr"
  tail -n 30 "$TMP/e"
}

t_basics() {
  # shellcheck disable=SC2016  # for the guest's bash
  CI=sure guest --env FOO=bar --env BPFEX_TEST_VAR -- bash -c 'echo out; echo err >&2; pwd; echo "$FOO $CI"; exit 7'
  local want
  want=$(printf 'out\n%s\nbar sure' "$PWD")
  [[ $rc -eq 7 && $(<"$TMP/o") == "$want" ]] || { show; return 1; }
  { grep -qx err "$TMP/e" && grep -q '^guest: uname -r = ' "$TMP/e"; } || { show; return 1; }
  # the uname line is the first thing said
  head -n 1 "$TMP/e" | grep -q '^guest: uname -r = ' || { show; return 1; }
}

t_tmp_cwd() {
  # A working directory under /tmp, which the guest replaces by its own tmpfs: still there,
  # writable in the guest, untouched on the host.
  mkdir -p "$TMP/cwd/sub" && echo host >"$TMP/cwd/sub/f"
  (cd "$TMP/cwd/sub" && guest -- bash -c 'cat f && echo guest >g && cat g && pwd')
  [[ $(<"$TMP/o") == "$(printf 'host\nguest\n%s' "$TMP/cwd/sub")" && ! -e $TMP/cwd/sub/g ]] || { show; return 1; }
}

t_not_found() {
  guest -- /nonexistent/command
  [[ $rc -eq 127 ]] || { show; return 1; }
}

t_large_output() {
  local want
  # 4 MB through the stdout port, compared by checksum.
  guest -- bash -c 'head -c 3000000 /dev/urandom | base64 -w 76 | tee /tmp/x | md5sum >&2; cat /tmp/x'
  want=$(grep -oE '^[0-9a-f]{32}' "$TMP/e")
  [[ $rc -eq 0 && -n $want && $(md5sum <"$TMP/o" | cut -d' ' -f1) == "$want" ]] || { show; return 1; }
}

t_timeout() {
  local t0=$SECONDS
  guest --timeout 40 -- sleep 1000
  { [[ $rc -eq 124 ]] && grep -q 'timed out after 40s' "$TMP/e"; } || { show; return 1; }
  ((SECONDS - t0 < 50)) || { echo "took $((SECONDS - t0)) s"; return 1; }
}

t_panic() {
  guest -- bash -c 'echo c >/proc/sysrq-trigger; sleep 100'
  { [[ $rc -eq 125 ]] && grep -q 'went away while the command ran' "$TMP/e" && grep -q 'Kernel panic' "$TMP/e"; } ||
    { show; return 1; }
}

t_no_boot() {
  # No init in the initramfs: the kernel panics before the command; the console's tail says why.
  guest --append rdinit=/nonexistent -- true
  { [[ $rc -eq 125 ]] && grep -q 'did not boot' "$TMP/e" && grep -q 'Kernel panic' "$TMP/e"; } || { show; return 1; }
}

# Interrupted after the command started: run.sh exits 130 (INT) / 143 (TERM) and its qemu is gone.
interrupted() {
  local sig=$1 want=$2 pid i qemu_pids backstop
  : >"$TMP/e"  # truncated here, not in the child: the wait below must not read the last case's
  # SIGINT stays ignored in a background job of a non-interactive shell; python restores it.
  /usr/bin/python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
    "$run" --kernel "$kernel" -- sleep 1000 >"$TMP/o" 2>"$TMP/e" </dev/null &
  pid=$!
  for ((i = 0; i < 600; i++)); do
    grep -q '^guest: uname -r' "$TMP/e" && break
    sleep 0.1
  done
  # run.sh -> timeout(1) -> qemu: looked up (not signalled) through the parent ids.
  backstop=$(pgrep -P "$pid" -x timeout || true)
  qemu_pids=""
  [[ -n $backstop ]] && qemu_pids=$(pgrep -P "$backstop" || true)
  [[ -n $qemu_pids ]] || { echo "no qemu under run.sh (pid $pid)"; kill -KILL "$pid"; return 1; }
  kill "-$sig" "$pid"
  rc=0
  wait "$pid" || rc=$?
  [[ $rc -eq $want ]] || { show; return 1; }
  for ((i = 0; i < 30; i++)); do
    kill -0 "$qemu_pids" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "qemu $qemu_pids still runs after run.sh exited"
  return 1
}
t_sigint() { interrupted INT 130; }
t_sigterm() { interrupted TERM 143; }

check "exit code, stdout and stderr apart, cwd, environment" t_basics
check "working directory under /tmp" t_tmp_cwd
check "command not found: 127" t_not_found
check "4 MB of output intact" t_large_output
check "--timeout: qemu killed, exit 124" t_timeout
check "guest panic during the command: exit 125 with the console" t_panic
check "guest that cannot boot: exit 125 with the console" t_no_boot
check "SIGINT: exit 130, no qemu left" t_sigint
check "SIGTERM: exit 143, no qemu left" t_sigterm
echo "run_test: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
