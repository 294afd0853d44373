# shellcheck shell=bash
# Sourced by run.sh and test.sh.
# tracefs is where tracepoint ids live; libbpf needs it to attach tracepoint programs.
ensure_tracefs() {
  if [[ ! -d /sys/kernel/tracing/events && ! -d /sys/kernel/debug/tracing/events ]]; then
    mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null ||
      echo "warning: could not mount tracefs on /sys/kernel/tracing; tracepoint attach points are unavailable" >&2
  fi
}
