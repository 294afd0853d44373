#!/usr/bin/env bash
# Installs the Debian 12 packages bpfex needs. Idempotent and quiet: it only calls apt when a
# package is missing.
#   scripts/install-deps.sh           to build and run (scripts/run.sh, the image's build stage)
#   scripts/install-deps.sh --tests   also to run every test (scripts/test.sh): Prometheus, linters,
#                                     and qemu with the pinned guest kernels (tests/guest/fetch.sh)
set -euo pipefail

tests=false
case "${1:-}" in
  "") ;;
  --tests) tests=true ;;
  *) echo "usage: $0 [--tests]" >&2 && exit 2 ;;
esac

packages=(
  # build (the tests are built with the binary: catch2 too)
  build-essential cmake pkg-config clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
  libyaml-cpp-dev libmicrohttpd-dev libgnutls28-dev libcrypt-dev catch2
  # exposition: the protobuf format (libprotobuf-lite, protoc) and gzip (zlib, above)
  libprotobuf-dev protobuf-compiler
  # the kubelet client (workload attribution): HTTPS and JSON
  libcurl4-openssl-dev nlohmann-json3-dev
)
if $tests; then
  packages+=(
    # real Prometheus + promtool, traffic in network namespaces, HTTP, JSON, loopback pings
    prometheus iproute2 curl jq python3 procps iputils-ping
    # certificates of the kubelet stand-in (tests/e2e/kubelet_test.py)
    openssl
    # deploy tests: manifests (YAML, Kubernetes API models), the systemd unit (systemd-analyze; its
    # system call filter against what bpfex really calls, via strace), shell lint
    python3-yaml python3-kubernetes systemd strace shellcheck
    # C++ lint (tests/build)
    clang-format clang-tidy
    # ASan, UBSan and libFuzzer runtimes for clang (tests/build/sanitize.sh, tests/fuzz)
    libclang-rt-14-dev
  )
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages: ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-install-recommends keeps prometheus from dragging in node-exporter and friends.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The second-kernel lane: qemu, kmod, and the pinned Debian guest kernels and busybox, unpacked
# into /var/cache/bpfex-guest (never installed on this host). Its own idempotent, quiet script.
if $tests; then
  "$(dirname "$0")/../tests/guest/fetch.sh"
fi
