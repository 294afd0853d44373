// SPDX-License-Identifier: GPL-2.0
/* A hash map too small for what it counts: the probe tasks' syscalls by number in 4 entries. The
 * fifth syscall is dropped by the kernel; bpfex shows the map full (entries = max_entries). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bpfex_programs.bpf.h"
#include "../../examples/programs/probe.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} crowded_syscalls_total SEC(".maps");

SEC("raw_tp/sys_enter")
int full_map_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 nr = (__u32)ctx->args[1];

	if (probe_task())
		bpfex_count(&crowded_syscalls_total, &nr, 1);
	return 0;
}
