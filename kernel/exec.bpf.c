// SPDX-License-Identifier: GPL-2.0
/*
 * exec: counts successful execs by the new task name and failed execve/execveat calls by errno.
 * Every attach point comes in several flavours (tp_btf, raw_tp, tracepoint; fexit, kretprobe,
 * tracepoint); user space probes the kernel and loads only the best one that works.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpfex.bpf.h"
#include "exec.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before load: count per cgroup (workload attribution). */
const volatile bool by_workload = false;

/* Sized before load from max_comms (with by_workload, for {comm, cgroup} pairs). Not LRU: a key keeps
 * its slot (and its count) until user space deletes the keys of a cgroup that is gone. Shared, not
 * per-CPU, with atomic adds: execs are rare enough that CPUs do not contend, and a per-CPU value
 * would cost every possible CPU 8 bytes per pair. Preallocated: tracing programs may use only
 * preallocated hash maps before Linux 6.1. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct exec_comm_key);
	__type(value, __u64);
} exec_by_comm SEC(".maps");

/* by_workload only (its size is set to 1 otherwise): failed execs by cgroup and errno. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct exec_errno_key);
	__type(value, __u64);
} exec_errors_by_cgroup SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EXEC_ERRNO_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} exec_errors SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EXEC_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} exec_stats SEC(".maps");

static __always_inline int count_exec(void)
{
	struct exec_comm_key key = {};
	__u64 zero = 0, *count;

	/* At sched_process_exec the kernel has already set the new program's task name. */
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	if (by_workload)
		key.cgroup_id = bpf_get_current_cgroup_id();
	count = bpfex_lookup_or_init(&exec_by_comm, &key, &zero);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpfex_array_add(&exec_stats, EXEC_STAT_COMM_OVERFLOW, 1);
	return 0;
}

static __always_inline int count_exec_result(long ret)
{
	__u32 slot;

	if (ret >= 0)
		return 0;
	slot = (__u32)-ret;
	if (slot >= EXEC_ERRNO_SLOTS)
		slot = 0;
	if (by_workload) {
		struct exec_errno_key key = {.cgroup_id = bpf_get_current_cgroup_id(), .err = slot};
		__u64 zero = 0, *count = bpfex_lookup_or_init(&exec_errors_by_cgroup, &key, &zero);

		if (count)
			__sync_fetch_and_add(count, 1);
		else
			bpfex_array_add(&exec_stats, EXEC_STAT_ERRNO_OVERFLOW, 1);
		return 0;
	}
	bpfex_array_add(&exec_errors, slot, 1);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec_tp_btf)
{
	return count_exec();
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(exec_raw_tp)
{
	return count_exec();
}

SEC("tracepoint/sched/sched_process_exec")
int exec_tracepoint(void *ctx)
{
	return count_exec();
}

/* Attach targets (the arch's syscall entry symbols) are set by user space before load. */
SEC("fexit")
int BPF_PROG(execve_fexit, struct pt_regs *regs, long ret)
{
	return count_exec_result(ret);
}

SEC("fexit")
int BPF_PROG(execveat_fexit, struct pt_regs *regs, long ret)
{
	return count_exec_result(ret);
}

SEC("kretprobe")
int BPF_KRETPROBE(exec_kretprobe, long ret)
{
	return count_exec_result(ret);
}

SEC("tracepoint")
int exec_exit_tracepoint(struct trace_event_raw_sys_exit *ctx)
{
	return count_exec_result(ctx->ret);
}
