# shellcheck shell=bash
# shellcheck disable=SC2034  # used by the scripts that source this file
# The pinned Debian 12 packages the guests are made of. Sourced by fetch.sh, run.sh and suite.sh.
#
# Pinned so that a result can be reproduced: the same kernel build, the same busybox. Debian's
# security archive keeps only the newest build of a package, so a pin stops resolving once a newer
# kernel is published; fetch.sh then says so and names the new candidate, and the pin moves here
# (a cache that already holds the pinned build keeps working).

# Where the unpacked packages and the built initramfs images live (never in git, never in /boot).
GUEST_CACHE=${BPFEX_GUEST_CACHE:-/var/cache/bpfex-guest}

# Kernel keys accepted by run.sh --kernel, oldest first.
GUEST_KERNELS=(6.1 6.12)
# The -unsigned image packages hold the same kernel as the signed ones, without the shim dance.
# linux-image-amd64 (the metapackage) points at 6.1.0-57 today.
declare -gA GUEST_KERNEL_PACKAGE=(
  [6.1]=linux-image-6.1.0-57-amd64-unsigned
  [6.12]=linux-image-6.12.107+deb12-amd64-unsigned
)
declare -gA GUEST_KERNEL_VERSION=(
  [6.1]=6.1.192-3
  [6.12]=6.12.107-1~deb12u1
)
# `uname -r` in the guest; also the directory under lib/modules/ in the package.
declare -gA GUEST_KERNEL_RELEASE=(
  [6.1]=6.1.0-57-amd64
  [6.12]=6.12.107+deb12-amd64
)

# The initramfs: one static binary, no libraries.
GUEST_BUSYBOX_PACKAGE=busybox-static
GUEST_BUSYBOX_VERSION=1:1.35.0-4+deb12u1+b1

# Host packages the guest machinery runs: qemu, and kmod (modprobe and depmod; the guest runs the
# host's own userland, so the kernel's on-demand module loading calls the host's /sbin/modprobe).
GUEST_HOST_PACKAGES=(qemu-system-x86 kmod)

# guest_pkg_dir PACKAGE VERSION: where that package is unpacked (':' spelled as Debian's file
# names spell it, so that the path is safe in qemu options and mount options).
guest_pkg_dir() {
  printf '%s/%s_%s\n' "$GUEST_CACHE" "$1" "${2//:/%3a}"
}
