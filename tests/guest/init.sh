#!/bin/busybox sh
# shellcheck shell=sh
# The guest's init, built into the initramfs by run.sh as /init. It runs under busybox's sh (the
# initramfs has no bash), hence POSIX sh and `set -eu` instead of the usual bash settings.
#
# Stage 1 (PID 1 in the initramfs): loads the 9p and overlay modules, mounts the host's root
# read-only over 9p with a tmpfs overlay for writes, mounts the writable "out" share that carries
# the command in and the exit code out, and switch_roots into that tree.
# Stage 2 (PID 1 in the host's tree): mounts what a booted system has (proc, sys, dev, tracefs,
# bpffs, cgroup2, tmpfs), binds the guest kernel's modules at /lib/modules/<release>, brings up
# loopback, runs out/cmd.sh with its output on two virtio ports (stdout, stderr) that the host
# streams, writes the exit code to out/rc and powers off.
#
# Anything that goes wrong prints "guest-init: FAILED ..." on the console (the host shows its tail)
# and powers off: the guest never waits for anyone.
set -eu

BB=/bin/busybox
OUT=/run/bpfex-guest/out # where the out share is mounted, seen from the host's tree

say() { echo "guest-init: $*"; }
die() {
  echo "guest-init: FAILED: $*"
  "$BB" sync
  "$BB" poweroff -f
  exit 1 # not reached: poweroff -f does not return
}

stage1() {
  "$BB" mkdir -p /proc /sys /dev /lower /upper /newroot
  "$BB" mount -t devtmpfs devtmpfs /dev || die "mount devtmpfs"
  # The kernel opens /dev/console for init only if the initramfs has it; now it surely exists.
  exec </dev/console >/dev/console 2>&1
  "$BB" mount -t proc proc /proc || die "mount proc"
  "$BB" mount -t sysfs sysfs /sys || die "mount sysfs"

  # Dependency order, computed on the host by modprobe --show-depends (modules/order).
  local_m=""
  while read -r local_m; do
    [ -n "$local_m" ] || continue
    "$BB" insmod "/modules/$local_m" || die "insmod $local_m"
  done </modules/order

  # The host's root, read-only. cache=loose: nothing on the host changes under a guest run that
  # the guest must see, and it saves a round trip per stat of the host's libraries.
  "$BB" mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=loose,ro hostroot /lower ||
    die "mount the host's root (9p tag hostroot)"
  "$BB" mount -t tmpfs -o mode=0755 upper /upper || die "mount tmpfs for the overlay"
  "$BB" mkdir -p /upper/data /upper/work
  "$BB" mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work overlay /newroot ||
    die "mount the overlay"

  # A fresh /run like a booted system's (the host's /run holds its netns files and sockets).
  "$BB" mount -t tmpfs -o mode=0755,nosuid,nodev run /newroot/run || die "mount /run"
  "$BB" mkdir -p /newroot$OUT
  "$BB" mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out "/newroot$OUT" ||
    die "mount the out share (9p tag out)"
  "$BB" cp /bin/busybox /newroot/run/bpfex-guest/busybox
  "$BB" cp /init /newroot/run/bpfex-guest/init

  "$BB" mount --move /dev /newroot/dev
  "$BB" mount --move /proc /newroot/proc
  "$BB" mount --move /sys /newroot/sys
  # The host's root stays reachable read-only (the overlay keeps using it where it is): stage 2
  # shows host directories under /tmp or /run from there.
  "$BB" mkdir -p /newroot/run/bpfex-guest/host
  "$BB" mount --move /lower /newroot/run/bpfex-guest/host
  exec "$BB" switch_root /newroot /run/bpfex-guest/busybox sh /run/bpfex-guest/init stage2
}

# mnt TYPE TARGET [OPTIONS]: one mount of a booted system, or a clear failure.
mnt() {
  "$BB" mkdir -p "$2"
  "$BB" mount -t "$1" -o "${3:-defaults}" "$1" "$2" || die "mount -t $1 $2"
}

# vport NAME: the /dev node of the virtio port the host named NAME.
vport() {
  for p in /sys/class/virtio-ports/*; do
    [ "$("$BB" cat "$p/name" 2>/dev/null)" = "$1" ] && { echo "/dev/${p##*/}"; return 0; }
  done
  die "no virtio port named $1"
}

stage2() {
  BB=/run/bpfex-guest/busybox
  # shellcheck source=/dev/null  # written by run.sh: GUEST_RELEASE, GUEST_MODULES, GUEST_HOSTNAME
  . "$OUT/config"

  mnt devpts /dev/pts mode=0620,ptmxmode=0666,gid=5
  mnt tmpfs /dev/shm mode=1777,nosuid,nodev
  mnt mqueue /dev/mqueue
  # What udev and systemd would have made: bash's process substitution needs /dev/fd.
  "$BB" ln -sf /proc/self/fd /dev/fd
  "$BB" ln -sf /proc/self/fd/0 /dev/stdin
  "$BB" ln -sf /proc/self/fd/1 /dev/stdout
  "$BB" ln -sf /proc/self/fd/2 /dev/stderr
  mnt tmpfs /tmp mode=1777,nosuid,nodev
  mnt securityfs /sys/kernel/security
  mnt debugfs /sys/kernel/debug
  mnt tracefs /sys/kernel/tracing
  mnt bpf /sys/fs/bpf mode=0700
  # Pure cgroup v2 (what Debian 12's systemd mounts): no v1 hierarchies anywhere.
  mnt cgroup2 /sys/fs/cgroup nsdelegate
  "$BB" mkdir -p /run/lock /run/netns
  # Everything mounted here is private to the guest; shared propagation as systemd sets it, so
  # that `ip netns` and `unshare -m` see the same semantics as on a booted Debian.
  "$BB" mount --make-rshared / || die "mount --make-rshared /"

  # The guest kernel's modules where modprobe (the host's kmod) and the kernel's on-demand loading
  # look for them. /lib is a symlink on merged-/usr systems: resolve it inside this tree.
  target=$("$BB" readlink -f /lib)/modules/$GUEST_RELEASE
  "$BB" mkdir -p "$target"
  "$BB" mount --bind "$GUEST_MODULES" "$target" || die "bind $GUEST_MODULES at $target"
  "$BB" mount -o remount,bind,ro "$target" 2>/dev/null || true
  # Host directories under /tmp, /run or /dev/shm that the command needs (run.sh --host-dir and
  # the working directory): an overlay on the host's read-only copy, like the rest of the tree.
  n=0
  while read -r dir; do
    [ -n "$dir" ] || continue
    n=$((n + 1))
    "$BB" mkdir -p "$dir" "/run/bpfex-guest/ovl/$n/data" "/run/bpfex-guest/ovl/$n/work"
    "$BB" mount -t overlay -o "lowerdir=/run/bpfex-guest/host$dir,upperdir=/run/bpfex-guest/ovl/$n/data,workdir=/run/bpfex-guest/ovl/$n/work" \
      overlay "$dir" || die "overlay of the host's $dir"
  done <"$OUT/hostdirs"
  # Writable host directories (run.sh --rw DIR): tag and path per line.
  if [ -s "$OUT/rw" ]; then
    while read -r tag dir; do
      "$BB" mkdir -p "$dir"
      "$BB" mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 "$tag" "$dir" || die "mount --rw $dir"
    done <"$OUT/rw"
  fi

  "$BB" hostname "$GUEST_HOSTNAME"
  "$BB" ip link set lo up || die "ip link set lo up"

  stdout=$(vport bpfex.stdout)
  stderr=$(vport bpfex.stderr)
  "$BB" cut -d' ' -f1 /proc/uptime >"$OUT/started"
  say "running the command"
  set +e
  "$BB" env -i /bin/bash --noprofile --norc "$OUT/cmd.sh" </dev/null >"$stdout" 2>"$stderr"
  rc=$?
  set -e
  echo "$rc" >"$OUT/rc.tmp"
  "$BB" mv "$OUT/rc.tmp" "$OUT/rc"
  say "command exited with $rc"
  "$BB" sync
  "$BB" poweroff -f
}

case "${1:-stage1}" in
stage1) stage1 ;;
stage2) stage2 ;;
*) die "unknown stage $1" ;;
esac
