#!/usr/bin/env bash
# Boots one of Debian's kernels (versions.sh) under qemu and runs COMMAND in it as root, in the
# current directory, on the host's own userland (the host's / shared read-only over 9p, writes go
# to a tmpfs overlay that vanishes with the guest). See tests/guest/README.md.
#
#   tests/guest/run.sh --kernel 6.1 -- build/integration_tests "[syscall]"
#
# Prints "guest: uname -r = ..." first (stderr), streams the command's stdout and stderr, and exits
# with the command's exit code; 124 when --timeout ran out (qemu is killed), 125 when the guest
# machinery failed (no qemu, kernel not fetched, the guest did not boot or died).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/versions.sh"

readonly BOOT_TIMEOUT=120  # s from qemu's start to the command's; TCG boots in under 10
readonly KVM_PROBE_TIMEOUT=10
# Loaded in the initramfs (dependencies follow): what it takes to mount the root and reach the
# host. Everything else the guest's own modprobe loads from the bound modules tree.
readonly INITRAMFS_MODULES=(virtio_pci virtio_console 9pnet_virtio 9p overlay)

usage() {
  cat >&2 <<EOF
usage: tests/guest/run.sh --kernel KERNEL [options] -- COMMAND [ARGS...]
  --kernel KERNEL   one of: ${GUEST_KERNELS[*]}
  --timeout SECONDS whole run, boot included (default 600); then qemu is killed, exit 124
  --memory MB       guest memory (default 2048)
  --cpus N          guest CPUs (default 2)
  --rw DIR          share host directory DIR writable at the same path (repeatable)
  --host-dir DIR    DIR is under /tmp, /run or /dev/shm (fresh tmpfs in the guest) and must be seen
                    there all the same (as an overlay on the host's copy); done for the current
                    directory always (repeatable)
  --env NAME[=VAL]  pass NAME (from here, or set to VAL) into the guest (repeatable); passed always:
                    PATH HOME CI TERM LANG LC_ALL TZ USER LOGNAME
  --accel auto|kvm|tcg  default auto: KVM if a probe boot works within ${KVM_PROBE_TIMEOUT}s, else TCG
                    (also BPFEX_GUEST_ACCEL)
  --append ARGS     extra kernel command line
  --console         stream the guest's console (kernel log) to stderr too
  --quiet           no "guest:" lines of this script (errors still print)
EOF
  exit 2
}

say() { $quiet || echo "guest: $*" >&2; }
fail() {
  echo "guest: $*" >&2
  exit 125
}

kernel="" timeout=600 memory=2048 cpus=2 accel=${BPFEX_GUEST_ACCEL:-auto} append="" console=false quiet=false
rw_dirs=() env_specs=() host_dir_args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --kernel) kernel=${2:-} && shift 2 ;;
    --timeout) timeout=${2:-} && shift 2 ;;
    --memory) memory=${2:-} && shift 2 ;;
    --cpus) cpus=${2:-} && shift 2 ;;
    --rw) rw_dirs+=("${2:-}") && shift 2 ;;
    --host-dir) host_dir_args+=("${2:-}") && shift 2 ;;
    --env) env_specs+=("${2:-}") && shift 2 ;;
    --accel) accel=${2:-} && shift 2 ;;
    --append) append=${2:-} && shift 2 ;;
    --console) console=true && shift ;;
    --quiet) quiet=true && shift ;;
    --) shift && break ;;
    *) usage ;;
  esac
done
[[ $# -gt 0 ]] || usage
[[ -n ${GUEST_KERNEL_PACKAGE[$kernel]:-} ]] || { echo "guest: unknown --kernel '$kernel'" >&2 && usage; }
for n in "$timeout" "$memory" "$cpus"; do [[ $n =~ ^[1-9][0-9]*$ ]] || usage; done
[[ $accel =~ ^(auto|kvm|tcg)$ ]] || usage

# ---------------------------------------------------------------- prerequisites
command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 is missing: run scripts/install-deps.sh (as root)"
release=${GUEST_KERNEL_RELEASE[$kernel]}
kdir=$(guest_pkg_dir "${GUEST_KERNEL_PACKAGE[$kernel]}" "${GUEST_KERNEL_VERSION[$kernel]}")
bbdir=$(guest_pkg_dir "$GUEST_BUSYBOX_PACKAGE" "$GUEST_BUSYBOX_VERSION")
vmlinuz=$kdir/boot/vmlinuz-$release
modules=$kdir/lib/modules/$release
[[ -f $kdir/.unpacked && -f $vmlinuz && -f $modules/modules.dep ]] ||
  fail "kernel $kernel (${GUEST_KERNEL_PACKAGE[$kernel]} ${GUEST_KERNEL_VERSION[$kernel]}) is not in $GUEST_CACHE:" \
    "run tests/guest/fetch.sh (as root; scripts/install-deps.sh does it)"
[[ -f $bbdir/.unpacked && -x $bbdir/bin/busybox ]] || fail "busybox is not in $GUEST_CACHE: run tests/guest/fetch.sh (as root)"
command -v modprobe >/dev/null || fail "modprobe (kmod) is missing: run tests/guest/fetch.sh (as root)"
for d in "${rw_dirs[@]}"; do
  [[ $d == /* && -d $d ]] || fail "--rw $d: not an absolute path of a directory"
done
# Host directories the guest's fresh tmpfs mounts would hide (a checkout under /tmp): shown again
# as overlays, parents before children, a directory inside another listed one left to its parent.
host_dirs=() candidates=()
for d in "$PWD" "${host_dir_args[@]}"; do
  r=$(realpath -e "$d" 2>/dev/null) || fail "--host-dir $d: no such directory"
  candidates+=("$r")
done
while read -r d; do
  [[ $d =~ ^(/tmp|/run|/dev/shm)(/|$) ]] || continue
  [[ $d != *[,:]* ]] || fail "$d: a directory with ',' or ':' in its path cannot be an overlay's lower layer"
  for p in "${host_dirs[@]}"; do [[ $d == "$p" || $d == "$p"/* ]] && continue 2; done
  host_dirs+=("$d")
done < <(printf '%s\n' "${candidates[@]}" | awk '{ print length($0) "\t" $0 }' | sort -n | cut -f2-)

# ---------------------------------------------------------------- cleanup
tmp=$(mktemp -d -t bpfex-guest.XXXXXX)
qemu_pid="" readers=()
# Stops a child of ours: TERM, up to 2 s, then KILL. Never waits unbounded.
stop() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 20; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
  [[ -n $qemu_pid ]] && stop "$qemu_pid"
  local p
  for p in "${readers[@]}"; do stop "$p"; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "guest: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

now_ms() {
  local t=${EPOCHREALTIME//[.,]/}
  echo $((t / 1000))
}
secs() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }
t0=$(now_ms)

# ---------------------------------------------------------------- initramfs (cached)
# Keyed by kernel build, busybox build and everything that goes in: a change of init.sh or of the
# module list builds a new one.
initramfs_key=$(
  {
    echo "${GUEST_KERNEL_PACKAGE[$kernel]}=${GUEST_KERNEL_VERSION[$kernel]} $GUEST_BUSYBOX_VERSION ${INITRAMFS_MODULES[*]}"
    cat "$here/init.sh"
  } | sha256sum | cut -c1-16
)
if [[ -w $GUEST_CACHE ]]; then
  initramfs=$GUEST_CACHE/initramfs/$release-$initramfs_key.cpio
else
  initramfs=$tmp/initramfs.cpio  # not root: built per run (a second)
fi
if [[ ! -f $initramfs ]]; then
  stage=$tmp/initramfs
  mkdir -p "$stage/bin" "$stage/modules"
  cp "$bbdir/bin/busybox" "$stage/bin/busybox"
  cp "$here/init.sh" "$stage/init"
  chmod 755 "$stage/init"
  # The host's modprobe resolves the order against the package's tree; modules go in
  # uncompressed, so busybox's insmod needs no decompressor.
  modprobe -d "$kdir" -S "$release" --show-depends -a "${INITRAMFS_MODULES[@]}" >"$tmp/deps" ||
    fail "modprobe --show-depends ${INITRAMFS_MODULES[*]} failed for $release"
  awk '$1 == "insmod" && !seen[$2]++ { print $2 }' "$tmp/deps" | while read -r ko; do
    name=$(basename "$ko")
    case $name in
      *.ko) cp "$ko" "$stage/modules/$name" ;;
      *.ko.xz) xz -dc "$ko" >"$stage/modules/${name%.xz}" ;;
      *.ko.zst) zstd -qdc "$ko" >"$stage/modules/${name%.zst}" ;;
      *.ko.gz) gzip -dc "$ko" >"$stage/modules/${name%.gz}" ;;
      *) fail "unexpected module file $ko" ;;
    esac
    basename "$name" | sed -E 's/\.(xz|zst|gz)$//' >>"$stage/modules/order"
  done
  [[ -s $stage/modules/order ]] || fail "no modules for the initramfs"
  mkdir -p "$(dirname "$initramfs")"
  # Written aside and renamed: a concurrent run never boots a half-written image.
  (cd "$stage" && find . | LC_ALL=C sort | "$bbdir/bin/busybox" cpio -o -H newc 2>/dev/null) >"$initramfs.$$"
  mv "$initramfs.$$" "$initramfs"
  # Images of this kernel made from an older init.sh are dead weight (a running qemu keeps its open).
  [[ $initramfs == "$GUEST_CACHE"/* ]] &&
    find "$GUEST_CACHE/initramfs" -maxdepth 1 -name "$release-*.cpio" ! -name "$(basename "$initramfs")" -delete
fi

# ---------------------------------------------------------------- KVM or TCG
# /dev/kvm can be there and still fail (qemu aborts setting MSRs) or hang (nested virtualisation
# that never runs a vCPU): a short probe boot decides, remembered until the host reboots.
kvm_works() {
  [[ -r /dev/kvm && -w /dev/kvm ]] || return 1
  local boot_id memo="" log=$tmp/kvm-probe.log
  boot_id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
  [[ -w $GUEST_CACHE ]] && memo=$GUEST_CACHE/kvm-probe
  if [[ -n $memo && -f $memo ]]; then
    local id verdict
    read -r id verdict <"$memo" || true
    [[ $id == "$boot_id" ]] && { [[ $verdict == yes ]]; return; }
  fi
  # No root fs: a kernel that runs panics on mounting it within a second or two under KVM.
  # In a subshell with stderr discarded (and no exec, hence the `|| true` inside): bash reports
  # qemu's abort ("Aborted") on its own stderr.
  (timeout -s KILL "$KVM_PROBE_TIMEOUT" qemu-system-x86_64 -accel kvm -cpu host -m 256 -nodefaults -no-user-config \
    -display none -monitor none -no-reboot -serial "file:$log" -kernel "$vmlinuz" -append "console=ttyS0 panic=-1" \
    </dev/null >/dev/null 2>&1 || true) 2>/dev/null
  local verdict=no
  grep -q 'Kernel panic - not syncing: VFS' "$log" 2>/dev/null && verdict=yes
  [[ -n $memo ]] && echo "$boot_id $verdict" >"$memo"
  [[ $verdict == yes ]]
}
if [[ $accel == auto ]]; then
  accel=tcg
  kvm_works && accel=kvm
fi
if [[ $accel == kvm ]]; then
  cpu_args=(-accel kvm -cpu host)
else
  # max: every instruction TCG can emulate (rdrand seeds the guest's CRNG at once).
  # thread=single: multi-threaded TCG races the kernel's live code patching (text_poke_bp, used
  # for every static key and tracepoint toggle, which attaching BPF programs does): a vCPU runs
  # the stale int3 after patching finished. Toggling net tracepoints under a loopback UDP flood
  # oopsed 6.12 ("Oops: int3") within 7 s and hung 6.1; single-threaded TCG ran the same load
  # for 157 s clean. CI lost a whole guest lane to it once.
  cpu_args=(-accel "tcg,thread=${BPFEX_GUEST_TCG_THREAD:-single}" -cpu "${BPFEX_GUEST_TCG_CPU:-max}")
fi

# ---------------------------------------------------------------- what the guest runs
out=$tmp/out
mkdir -p "$out"
# Single-quoted for the guest's busybox sh.
shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
{
  echo "GUEST_RELEASE=$(shq "$release")"
  echo "GUEST_MODULES=$(shq "$modules")"
  echo "GUEST_HOSTNAME=$(shq "bpfex-guest-${kernel//./-}")"
} >"$out/config"
: >"$out/rw"
printf '%s\n' "${host_dirs[@]}" | sed '/^$/d' >"$out/hostdirs"
rw_args=()
for i in "${!rw_dirs[@]}"; do
  echo "rw$i ${rw_dirs[$i]}" >>"$out/rw"
  rw_args+=(-fsdev "local,id=rw$i,path=${rw_dirs[$i]},security_model=none,multidevs=remap"
    -device "virtio-9p-pci,fsdev=rw$i,mount_tag=rw$i")
done

# The command, as a bash script for the host's bash in the guest (printf %q quoting).
{
  echo "# generated by tests/guest/run.sh"
  for name in PATH HOME CI TERM LANG LC_ALL TZ USER LOGNAME; do
    [[ -n ${!name+set} ]] && printf 'export %s=%q\n' "$name" "${!name}"
  done
  for spec in "${env_specs[@]}"; do
    if [[ $spec == *=* ]]; then
      printf 'export %s=%q\n' "${spec%%=*}" "${spec#*=}"
    elif [[ -n ${!spec+set} ]]; then
      printf 'export %s=%q\n' "$spec" "${!spec}"
    fi
  done
  printf 'export BPFEX_GUEST=%q\n' "$kernel"
  # shellcheck disable=SC2016  # $(uname -r) is for the guest's bash
  $quiet || printf 'printf "guest: uname -r = %%s (%s, %s CPUs, %s MB)\\n" "$(uname -r)" >&2\n' "$accel" "$cpus" "$memory"
  # /tmp and /run are the guest's own tmpfs; what of them the command needs is in hostdirs.
  printf 'cd -- %q || { echo "guest: cannot enter %q in the guest (under /tmp, /run, /dev? those are fresh tmpfs)" >&2; exit 125; }\n' "$PWD" "$PWD"
  printf 'exec'
  printf ' %q' "$@"
  echo
} >"$out/cmd.sh"

# ---------------------------------------------------------------- boot
mkfifo "$tmp/stdout.fifo" "$tmp/stderr.fifo"
cat "$tmp/stdout.fifo" &
readers+=($!)
cat "$tmp/stderr.fifo" >&2 &
readers+=($!)
: >"$tmp/console.log"

cmdline="console=ttyS0 panic=-1 $append"
# shellcheck disable=SC2054  # the commas are qemu's option syntax
qemu=(
  qemu-system-x86_64 -name "bpfex-guest-$kernel" -machine pc "${cpu_args[@]}" -smp "$cpus" -m "$memory"
  -nodefaults -no-user-config -display none -monitor none -no-reboot
  -kernel "$vmlinuz" -initrd "$initramfs" -append "$cmdline"
  -chardev "file,id=console,path=$tmp/console.log" -serial chardev:console
  -device virtio-serial-pci
  -chardev "file,id=gstdout,path=$tmp/stdout.fifo" -device virtserialport,chardev=gstdout,name=bpfex.stdout
  -chardev "file,id=gstderr,path=$tmp/stderr.fifo" -device virtserialport,chardev=gstderr,name=bpfex.stderr
  -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap
  -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
  -fsdev "local,id=out,path=$out,security_model=none,multidevs=remap"
  -device virtio-9p-pci,fsdev=out,mount_tag=out
  "${rw_args[@]}"
)
# timeout(1) is a backstop for the case this script dies without its trap (SIGKILL): qemu still
# goes away a little after the limit.
timeout -s KILL $((timeout + 30)) "${qemu[@]}" </dev/null >"$tmp/qemu.log" 2>&1 &
qemu_pid=$!
if $console; then
  # --pid: tail ends with qemu, so waiting for the readers below stays short.
  tail -n +1 --pid="$qemu_pid" -F "$tmp/console.log" 2>/dev/null | sed -u 's/^/console: /' >&2 &
  readers+=($!)
fi

# What the console said last; from just before the first panic or init failure when there is one,
# since the lines that say why come before the stack dump.
console_tail() {
  local first
  first=$(grep -nE 'Kernel panic|guest-init: FAILED|BUG:|Oops' "$tmp/console.log" | head -n 1 | cut -d: -f1 || true)
  if [[ -n $first ]]; then
    echo "guest: the console, from just before the first sign of trouble:" >&2
    sed -n "$((first > 10 ? first - 10 : 1)),$((first + 30))p" "$tmp/console.log" | sed 's/^/  | /' >&2
  else
    echo "guest: last lines of the console:" >&2
    tail -n "${1:-40}" "$tmp/console.log" | sed 's/^/  | /' >&2
  fi
}
deadline=$((t0 + timeout * 1000))
boot_deadline=$((t0 + BOOT_TIMEOUT * 1000))
t_started=""
outcome=""
while kill -0 "$qemu_pid" 2>/dev/null; do
  now=$(now_ms)
  if [[ -z $t_started && -f $out/started ]]; then
    t_started=$now
  fi
  if ((now >= deadline)); then
    outcome=timeout
    break
  fi
  if [[ -z $t_started ]] && ((now >= boot_deadline)); then
    outcome=noboot
    break
  fi
  sleep 0.2
done
if [[ -n $outcome ]]; then
  stop "$qemu_pid"
else
  wait "$qemu_pid" && qemu_rc=0 || qemu_rc=$?
fi
qemu_pid=""
t_end=$(now_ms)
[[ -z $t_started && -f $out/started ]] && t_started=$t_end
# The readers end when qemu closes the ports; bounded anyway.
for p in "${readers[@]}"; do
  for ((i = 0; i < 50; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
done

case $outcome in
  timeout)
    echo "guest: timed out after ${timeout}s (--timeout); qemu killed" >&2
    console_tail 20
    exit 124
    ;;
  noboot)
    echo "guest: the guest did not reach the command within ${BOOT_TIMEOUT}s; qemu killed" >&2
    console_tail
    exit 125
    ;;
esac
if [[ ! -f $out/rc ]]; then
  if [[ -n $t_started ]]; then
    echo "guest: the guest went away while the command ran (kernel panic?)" >&2
  else
    echo "guest: the guest did not boot (qemu exit ${qemu_rc})" >&2
    [[ -s $tmp/qemu.log ]] && sed 's/^/  qemu: /' "$tmp/qemu.log" >&2
  fi
  console_tail
  exit 125
fi
rc=$(<"$out/rc")
# Kernel trouble during the run is worth seeing even when the command passed.
if grep -qE '(BUG:|Oops|WARNING:|general protection)' "$tmp/console.log"; then
  echo "guest: the guest kernel reported trouble during the run:" >&2
  { grep -E -A12 '(BUG:|Oops|WARNING:|general protection)' "$tmp/console.log" | head -n 60 | sed 's/^/  | /' >&2; } || true
fi
say "exit $rc; booted in $(secs $((t_started - t0))) s, command $(secs $((t_end - t_started))) s, total $(secs $((t_end - t0))) s ($accel)"
exit "$rc"
