// SPDX-License-Identifier: GPL-2.0
/* percpu_calls: the probe tasks' (probe.h) syscalls in per-CPU maps (raw_tp sys_enter): getppid
 * calls per CPU (a per-CPU array read at index 0 whose only label is cpu), calls by syscall per CPU
 * (the last label cpu) and by syscall summed over CPUs (no cpu label). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bpfex_programs.bpf.h"
#include "probe.h"

char LICENSE[] SEC("license") = "GPL";

#if defined(__TARGET_ARCH_arm64)
#define NR_GETPPID 173
#else
#define NR_GETPPID 110
#endif

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} getppid_per_cpu_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} syscalls_per_cpu_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} syscalls_total SEC(".maps");

SEC("raw_tp/sys_enter")
int percpu_calls_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 nr = (__u32)ctx->args[1];
	__u32 zero = 0;

	if (!probe_task())
		return 0;
	if (nr == NR_GETPPID)
		bpfex_count(&getppid_per_cpu_total, &zero, 1);
	bpfex_count(&syscalls_per_cpu_total, &nr, 1);
	bpfex_count(&syscalls_total, &nr, 1);
	return 0;
}
