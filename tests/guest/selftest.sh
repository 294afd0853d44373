#!/usr/bin/env bash
# Checks, inside a guest, everything bpfex's tests rely on: the mounts, root's capabilities, the
# guest kernel's modules, every BPF attach flavour (bpf_check.py), kprobe events in tracefs,
# network namespaces, veth, tc clsact, cgroup2, Debian's python3, curl and sockets on 127.0.0.1,
# promtool, a private mount namespace that hides /sys/kernel/btf/vmlinux behind a bind mount, and
# tracepoint toggles under a UDP flood (live code patching, which multi-threaded TCG broke).
#
#   tests/guest/run.sh --kernel 6.1 -- tests/guest/selftest.sh
#
# Refuses to run outside a guest (it creates namespaces, cgroups and veths, loads modules).
# Last line: "selftest: N passed, M failed"; exit 1 on any failure.
#
# Checks are functions called through `check`; shellcheck cannot see that.
# shellcheck disable=SC2317
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

[[ -n ${BPFEX_GUEST:-} ]] || { echo "selftest: runs inside tests/guest/run.sh only" >&2; exit 2; }
# Flavours the kernel of each guest lacks, by design (tcx is Linux 6.6+).
declare -A ABSENT=([6.1]="tcx" [6.12]="")

passed=0 failed=0
TMP=$(mktemp -d)
NS=bpfexself
cleanup() {
  ip netns del "$NS" 2>/dev/null || true
  ip link del bpfexself0 2>/dev/null || true
  rmdir /sys/fs/cgroup/bpfex-selftest/child /sys/fs/cgroup/bpfex-selftest 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

check() {
  local name=$1
  shift
  if "$@" >"$TMP/out" 2>&1; then
    passed=$((passed + 1))
    echo "PASS $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    sed 's/^/    /' "$TMP/out"
  fi
}

# mounted TARGET TYPE: TARGET is a mount point of TYPE.
mounted() {
  awk -v t="$1" -v f="$2" '$2 == t && $3 == f { ok = 1 } END { exit !ok }' /proc/self/mounts ||
    { echo "$1 is not a $2 mount"; return 1; }
}
t_mounts() {
  mounted /proc proc && mounted /sys sysfs && mounted /dev devtmpfs && mounted /dev/shm tmpfs &&
    mounted /tmp tmpfs && mounted /run tmpfs && mounted /sys/kernel/tracing tracefs &&
    mounted /sys/fs/bpf bpf && mounted /sys/fs/cgroup cgroup2 || return 1
  # pure v2: no v1 hierarchy anywhere
  if awk '$3 == "cgroup" { found = 1 } END { exit !found }' /proc/self/mounts; then
    echo "a cgroup v1 hierarchy is mounted"
    return 1
  fi
  [[ -d /sys/kernel/tracing/events/syscalls && -r /sys/kernel/tracing/available_events ]] ||
    { echo "tracefs has no syscall events"; return 1; }
  [[ $(cat <(echo via-dev-fd)) == via-dev-fd ]] || { echo "process substitution (/dev/fd) broken"; return 1; }
}

t_caps() {
  local eff
  eff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
  # CAP_NET_ADMIN 12, CAP_SYS_ADMIN 21, CAP_PERFMON 38, CAP_BPF 39
  for bit in 12 21 38 39; do
    (((0x$eff >> bit) & 1)) || { echo "CapEff $eff lacks capability bit $bit"; return 1; }
  done
  [[ $(id -u) -eq 0 ]]
}

t_env() {
  [[ -n ${HOME:-} && ${PATH:-} == */usr/bin* ]] || { echo "HOME=${HOME:-} PATH=${PATH:-}"; return 1; }
  [[ $(uname -r) == "$(cat /proc/sys/kernel/osrelease)" && -d /lib/modules/$(uname -r)/kernel ]] ||
    { echo "no /lib/modules/$(uname -r)"; return 1; }
}

t_modules() {
  # What bpfex's network tests need; on-demand loading goes through the same modprobe.
  modprobe -a veth sch_ingress cls_bpf act_bpf || return 1
  [[ $(cat /proc/sys/kernel/modprobe) == /sbin/modprobe && -x /sbin/modprobe ]] ||
    { echo "kernel.modprobe is $(cat /proc/sys/kernel/modprobe)"; return 1; }
  for m in veth sch_ingress cls_bpf act_bpf; do
    grep -q "^$m " /proc/modules || { echo "$m not loaded"; return 1; }
  done
}

# The kernel loads modules on demand through /sbin/modprobe (the host's kmod) and the bound tree.
t_autoload() {
  if grep -q '^dummy ' /proc/modules; then
    echo "dummy is loaded already; cannot tell"
    return 1
  fi
  ip link add bpfexdummy0 type dummy || return 1
  grep -q '^dummy ' /proc/modules || { echo "dummy was not loaded on demand"; return 1; }
  ip link del bpfexdummy0
}

t_bpf() {
  local args=() f
  for f in ${ABSENT[$BPFEX_GUEST]:-}; do args+=(--absent "$f"); done
  /usr/bin/python3 "$here/bpf_check.py" "${args[@]}"
}

t_kprobe_events() {
  local ev=/sys/kernel/tracing
  echo 'p:bpfex_selftest __x64_sys_execve' >>"$ev/kprobe_events" || return 1
  [[ -f $ev/events/kprobes/bpfex_selftest/id ]] || { echo "kprobe event did not appear"; return 1; }
  echo '-:bpfex_selftest' >>"$ev/kprobe_events"
}

t_netns_veth() {
  ip netns add "$NS" || return 1
  ip link add bpfexself0 type veth peer name bpfexself1 netns "$NS" || return 1
  ip addr add 10.253.0.1/30 dev bpfexself0 && ip link set bpfexself0 up || return 1
  ip -n "$NS" addr add 10.253.0.2/30 dev bpfexself1 && ip -n "$NS" link set bpfexself1 up || return 1
  ip -n "$NS" link set lo up || return 1
  # Traffic only across our own veth pair.
  ip netns exec "$NS" ping -c 2 -i 0.2 -W 3 10.253.0.1 >/dev/null || { echo "no ping across the veth"; return 1; }
  tc qdisc add dev bpfexself0 clsact || return 1
  tc qdisc show dev bpfexself0 | grep -q clsact || { echo "no clsact qdisc"; return 1; }
  tc qdisc del dev bpfexself0 clsact || return 1
  ip link del bpfexself0 && ip netns del "$NS"
}

t_loopback() {
  ip -o link show lo | grep -q 'UP' || { echo "lo is down"; return 1; }
  ping -c 1 -W 2 127.0.0.1 >/dev/null
}

t_cgroup() {
  local cg=/sys/fs/cgroup/bpfex-selftest pid
  mkdir "$cg" "$cg/child" || return 1
  sleep 30 &
  pid=$!
  echo "$pid" >"$cg/child/cgroup.procs" || return 1
  grep -qx '0::/bpfex-selftest/child' "/proc/$pid/cgroup" || { cat "/proc/$pid/cgroup"; return 1; }
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  rmdir "$cg/child" "$cg"
}

t_python_curl_sockets() {
  local port
  [[ $(/usr/bin/python3 -c 'import sys; print(sys.executable)') == /usr/bin/python3 ]] || return 1
  port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir "$TMP/www" && echo hello >"$TMP/www/index.html"
  /usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$TMP/www" "$port" >/dev/null 2>&1 &
  local srv=$! body="" i
  for ((i = 0; i < 50; i++)); do
    body=$(curl -sS --max-time 2 "http://127.0.0.1:$port/" 2>/dev/null) && break
    sleep 0.2
  done
  kill "$srv"
  wait "$srv" 2>/dev/null || true
  [[ $body == hello ]] || { echo "curl got '$body'"; return 1; }
}

t_promtool() {
  prometheus --version >/dev/null 2>&1 || { echo "prometheus --version failed"; return 1; }
  printf '# HELP x_total A counter.\n# TYPE x_total counter\nx_total 1\n' | promtool check metrics
}

t_hide_btf() {
  echo "not btf" >"$TMP/fake_btf"
  # shellcheck disable=SC2016  # expanded by the inner bash
  unshare -m --propagation private bash -c '
    mount --bind "$1" /sys/kernel/btf/vmlinux && [[ $(cat /sys/kernel/btf/vmlinux) == "not btf" ]]' _ "$TMP/fake_btf" ||
    { echo "bind mount over /sys/kernel/btf/vmlinux in a private mount namespace failed"; return 1; }
  # and the real one is untouched outside
  [[ $(od -An -tx1 -N2 /sys/kernel/btf/vmlinux | tr -d ' ') == 9feb ]] || { echo "BTF outside is gone"; return 1; }
}

# Live code patching under load: every BPF attach to a tracepoint flips a static key, which the
# kernel patches in place (text_poke_bp) while other CPUs run that code. Multi-threaded TCG got this
# wrong ("Oops: int3" on 6.12 within seconds, a hang on 6.1); run.sh uses single-threaded TCG for
# it. Toggles hot tracepoints for 15 s while a UDP flood runs through them on loopback.
t_text_poke() {
  local ev=/sys/kernel/tracing/events rounds=0 end t
  local tps=(net/netif_receive_skb net/net_dev_xmit net/net_dev_queue skb/consume_skb sched/sched_switch)
  for t in "${tps[@]}"; do [[ -f $ev/$t/enable ]] || { echo "no tracepoint $t"; return 1; }; done
  /usr/bin/python3 -c '
import socket, time
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 0)); r.setblocking(False)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end = time.monotonic() + 15
while time.monotonic() < end:
    for _ in range(200):
        s.sendto(b"x" * 64, r.getsockname())
    try:
        while True: r.recv(64)
    except BlockingIOError: pass
' &
  local flood=$!
  end=$((SECONDS + 15))
  while ((SECONDS < end)); do
    for t in "${tps[@]}"; do echo 1 >"$ev/$t/enable"; done
    for t in "${tps[@]}"; do echo 0 >"$ev/$t/enable"; done
    rounds=$((rounds + 1))
  done
  wait "$flood" || { echo "the UDP flood failed"; return 1; }
  echo "$rounds toggle rounds"
  ((rounds >= 10)) || { echo "only $rounds rounds of toggles"; return 1; }
  ! dmesg | grep -E 'Oops|BUG:|general protection' || { echo "the kernel complained (above)"; return 1; }
}

echo "selftest: $(uname -r), guest $BPFEX_GUEST"
check mounts t_mounts
check "root capabilities" t_caps
check "environment and /lib/modules" t_env
check "on-demand module loading (ip link add type dummy)" t_autoload
check "modprobe veth sch_ingress cls_bpf act_bpf" t_modules
check "bpf attach flavours" t_bpf
check "kprobe events in tracefs" t_kprobe_events
check "ip netns, veth, ping across, tc clsact" t_netns_veth
check "loopback" t_loopback
check "cgroup2 child create, move in, delete" t_cgroup
check "python3, curl, sockets on 127.0.0.1" t_python_curl_sockets
check "prometheus, promtool check metrics" t_promtool
check "private mount namespace hides /sys/kernel/btf/vmlinux" t_hide_btf
check "tracepoint toggles under a UDP flood (live code patching)" t_text_poke
echo "selftest: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
