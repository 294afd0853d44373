// SPDX-License-Identifier: GPL-2.0
/* syscall_errors: failed syscalls by syscall and errno (tracepoint raw_syscalls/sys_exit), from the
 * probe tasks only (probe.h). Decoders: uint + syscall, uint + errno. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bpfex_programs.bpf.h"
#include "probe.h"

char LICENSE[] SEC("license") = "GPL";

struct syscall_error_key {
	__u32 syscall;
	__u32 err;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct syscall_error_key);
	__type(value, __u64);
} syscall_errors_total SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_exit")
int syscall_errors_tracepoint(struct trace_event_raw_sys_exit *ctx)
{
	struct syscall_error_key key = {};

	if (ctx->ret >= 0 || ctx->ret < -4095 || !probe_task())
		return 0;
	key.syscall = (__u32)ctx->id;
	key.err = (__u32)-ctx->ret;
	bpfex_count(&syscall_errors_total, &key, 1);
	return 0;
}
