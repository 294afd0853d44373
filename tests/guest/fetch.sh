#!/usr/bin/env bash
# Brings what tests/guest/run.sh needs onto this host: qemu and kmod from apt, and the pinned guest
# kernels and busybox (versions.sh) as .debs unpacked into $GUEST_CACHE. The kernels are never
# installed: installing one would run the host's initramfs and bootloader hooks for a kernel this
# host never boots. Idempotent and quiet when everything is there; run by scripts/install-deps.sh.
#
#   tests/guest/fetch.sh            # everything
#   tests/guest/fetch.sh 6.12       # qemu, busybox and that kernel only
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/versions.sh"

say() { echo "guest-fetch: $*" >&2; }
die() {
  say "$*"
  exit 1
}

kernels=("$@")
[[ ${#kernels[@]} -gt 0 ]] || kernels=("${GUEST_KERNELS[@]}")
for k in "${kernels[@]}"; do
  [[ -n ${GUEST_KERNEL_PACKAGE[$k]:-} ]] || die "unknown kernel '$k' (known: ${GUEST_KERNELS[*]})"
done

# ---------------------------------------------------------------- what is missing
missing_host=()
for p in "${GUEST_HOST_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing_host+=("$p")
done
# package=version pairs whose unpacked tree is not complete yet
missing_pkgs=()
stamp_ok() { [[ -f $(guest_pkg_dir "$1" "$2")/.unpacked ]]; }
stamp_ok "$GUEST_BUSYBOX_PACKAGE" "$GUEST_BUSYBOX_VERSION" || missing_pkgs+=("$GUEST_BUSYBOX_PACKAGE=$GUEST_BUSYBOX_VERSION")
for k in "${kernels[@]}"; do
  stamp_ok "${GUEST_KERNEL_PACKAGE[$k]}" "${GUEST_KERNEL_VERSION[$k]}" ||
    missing_pkgs+=("${GUEST_KERNEL_PACKAGE[$k]}=${GUEST_KERNEL_VERSION[$k]}")
done
[[ ${#missing_host[@]} -eq 0 && ${#missing_pkgs[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  die "missing: ${missing_host[*]} ${missing_pkgs[*]}; run as root to fetch them (into $GUEST_CACHE)"
fi
export DEBIAN_FRONTEND=noninteractive

# apt's lists are refreshed at most once per run, and only when something is not found.
updated=false
apt_update() {
  $updated && return 1
  apt-get update -qq
  updated=true
}

# ---------------------------------------------------------------- host packages
if [[ ${#missing_host[@]} -gt 0 ]]; then
  say "installing ${missing_host[*]}"
  apt-get install -y -qq --no-install-recommends "${missing_host[@]}" >/dev/null 2>&1 ||
    { apt_update && apt-get install -y -qq --no-install-recommends "${missing_host[@]}" >/dev/null; } ||
    die "apt-get install ${missing_host[*]} failed"
fi

# ---------------------------------------------------------------- pinned .debs, unpacked
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# apt's download sandbox user (_apt) cannot write into a root-only temp dir.
chmod 755 "$tmp"

# download PACKAGE=VERSION: the .deb into $tmp, refreshing apt's lists once if apt does not know it.
download() {
  local spec=$1
  (cd "$tmp" && apt-get download -qq "$spec" >/dev/null 2>&1) && return 0
  apt_update && (cd "$tmp" && apt-get download -qq "$spec" >/dev/null 2>&1) && return 0
  local pkg=${spec%%=*} candidate
  candidate=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ { print $2 }')
  die "cannot download $spec: Debian no longer publishes that build (candidate now: ${candidate:-none});" \
    "move the pin in tests/guest/versions.sh"
}

mkdir -p "$GUEST_CACHE"
for spec in "${missing_pkgs[@]}"; do
  pkg=${spec%%=*} ver=${spec#*=}
  dir=$(guest_pkg_dir "$pkg" "$ver")
  say "fetching $pkg $ver"
  rm -f "$tmp"/*.deb
  download "$spec"
  debs=("$tmp"/*.deb)
  [[ ${#debs[@]} -eq 1 && -f ${debs[0]} ]] || die "apt-get download $spec left no single .deb"
  # Unpacked next to the final place and renamed at the end: an interrupted fetch leaves no
  # half tree that looks complete.
  rm -rf "$dir.partial"
  mkdir -p "$dir.partial"
  dpkg-deb -x "${debs[0]}" "$dir.partial"
  if [[ $pkg == linux-image-* ]]; then
    # The package's postinst would run depmod; without modules.dep the guest's modprobe finds
    # nothing (the .deb ships modules.order and modules.builtin only).
    release=$(ls "$dir.partial/lib/modules")
    [[ -n $release && -d $dir.partial/lib/modules/$release/kernel ]] || die "$spec: no lib/modules/<release>/kernel"
    depmod -b "$dir.partial" "$release"
  fi
  echo "$spec" >"$dir.partial/.unpacked"
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
done
