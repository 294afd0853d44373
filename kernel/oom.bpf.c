// SPDX-License-Identifier: GPL-2.0
/*
 * oom: OOM kills by victim (its cgroup with by_workload, its task name otherwise), from the
 * oom:mark_victim tracepoint, which the kernel fires once per task it makes the OOM killer's victim;
 * and, where fentry or kprobe reach oom_kill_process(), what constrained the kill (no tracepoint
 * carries the constraint).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpfex.bpf.h"
#include "oom.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before load. */
const volatile bool by_workload = false;
/* mark_victim passes the victim's task_struct (Linux 6.8 on, and Debian's 6.1 by backport); older
 * kernels pass its pid and their record has no comm. From the kernel's BTF, by user space, which
 * offers tp_btf and raw_tp only when it is true. */
const volatile bool victim_is_task = false;

/* Sized before load from max_comms (with by_workload, for cgroups). Shared, atomic adds: OOM kills
 * are rare. Not LRU: a key keeps its count until user space deletes the keys of a dead cgroup. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct oom_kill_key);
	__type(value, __u64);
} oom_kills SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OOM_CONSTRAINT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} oom_constraints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OOM_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} oom_stats SEC(".maps");

static __always_inline void count_victim(struct oom_kill_key *key)
{
	__u64 zero = 0, *count = bpfex_lookup_or_init(&oom_kills, key, &zero);

	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpfex_array_add(&oom_stats, OOM_STAT_KEY_OVERFLOW, 1);
}

/* The victim is usually not the current task (the task whose allocation failed picks a victim among
 * the cgroup's or the node's): everything comes from the victim's own task_struct. */
static __always_inline int on_victim_task(const struct task_struct *task)
{
	struct oom_kill_key key = {};

	if (!task)
		return 0;
	if (by_workload)
		key.cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	else
		BPF_CORE_READ_STR_INTO(&key.comm, task, comm);
	count_victim(&key);
	return 0;
}

SEC("tp_btf/mark_victim")
int oom_victim_tp_btf(__u64 *ctx)
{
	return on_victim_task((const struct task_struct *)ctx[0]);
}

SEC("raw_tp/mark_victim")
int oom_victim_raw_tp(__u64 *ctx)
{
	return on_victim_task((const struct task_struct *)ctx[0]);
}

/* The record's start: the victim's pid, then (victim_is_task kernels) its comm as a __data_loc
 * (offset in the low 16 bits, length in the high ones, from the record's start). */
struct oom_tp_mark_victim {
	__u64 common;
	int pid;
	__u32 comm_loc;
};

/* The tracepoint flavour has the victim's pid and comm but not its task: its cgroup is known only
 * when the victim is the current task (cgroup_id 0 otherwise: no workload). */
SEC("tracepoint/oom/mark_victim")
int oom_victim_tracepoint(struct oom_tp_mark_victim *ctx)
{
	struct oom_kill_key key = {};
	bool current = (__u32)bpf_get_current_pid_tgid() == (__u32)ctx->pid;

	if (by_workload) {
		if (current)
			key.cgroup_id = bpf_get_current_cgroup_id();
	} else if (victim_is_task) {
		bpf_probe_read_kernel_str(key.comm, sizeof(key.comm), (void *)ctx + (ctx->comm_loc & 0xffff));
	} else if (current) {
		bpf_get_current_comm(key.comm, sizeof(key.comm));
	}
	count_victim(&key);
	return 0;
}

static __always_inline int on_kill_process(const struct oom_control *oc)
{
	int constraint;
	__u32 index = OOM_CONSTRAINT_NONE;

	if (!oc)
		return 0;
	constraint = BPF_CORE_READ(oc, constraint);
	if (constraint == bpf_core_enum_value(enum oom_constraint, CONSTRAINT_MEMCG))
		index = OOM_CONSTRAINT_CGROUP;
	else if (constraint == bpf_core_enum_value(enum oom_constraint, CONSTRAINT_CPUSET))
		index = OOM_CONSTRAINT_CPUSET;
	else if (constraint == bpf_core_enum_value(enum oom_constraint, CONSTRAINT_MEMORY_POLICY))
		index = OOM_CONSTRAINT_MEMORY_POLICY;
	bpfex_array_add(&oom_constraints, index, 1);
	return 0;
}

SEC("fentry/oom_kill_process")
int BPF_PROG(oom_kill_fentry, struct oom_control *oc)
{
	return on_kill_process(oc);
}

SEC("kprobe/oom_kill_process")
int BPF_KPROBE(oom_kill_kprobe, struct oom_control *oc)
{
	return on_kill_process(oc);
}
