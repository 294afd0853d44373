// SPDX-License-Identifier: GPL-2.0
/* open_errors: the probe tasks' (probe.h) failed openat(2) calls by errno, in an array indexed by the
 * errno (tracepoint syscalls/sys_exit_openat): every index is a series, zero until it happens.
 * Decoders: uint + errno. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bpfex_programs.bpf.h"
#include "probe.h"

char LICENSE[] SEC("license") = "GPL";

#define ERRNOS 134 /* EPERM .. EHWPOISON */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ERRNOS);
	__type(key, __u32);
	__type(value, __u64);
} open_errors_total SEC(".maps");

SEC("tracepoint/syscalls/sys_exit_openat")
int open_errors_tracepoint(struct trace_event_raw_sys_exit *ctx)
{
	__u32 err;

	if (ctx->ret >= 0 || !probe_task())
		return 0;
	err = (__u32)-ctx->ret;
	if (err < ERRNOS)
		bpfex_count(&open_errors_total, &err, 1);
	return 0;
}
