// SPDX-License-Identifier: GPL-2.0
/*
 * runqueue: how long runnable tasks wait for a CPU (run-queue latency), as a latency histogram,
 * node-wide or per cgroup.
 *
 * A task's wait starts when it becomes runnable: woken (sched_wakeup), created (sched_wakeup_new), or
 * switched out while still runnable (sched_switch with prev preempted or in state TASK_RUNNING). It
 * ends when sched_switch switches it in. The start is stamped per thread id; the switch-in consumes
 * the stamp. A task switched in without a stamp of its own (it was waiting when we attached, or a
 * filter left it out) makes no observation.
 *
 * The stamps live in an LRU hash for every flavour, not in task local storage: every one of these
 * tracepoints runs with a runqueue lock held, and creating task storage there allocates memory
 * (GFP_ATOMIC before Linux 6.5), which may wake kswapd and so take a runqueue lock again. Preallocated
 * hash maps never allocate. Stamps are written and consumed in place (a lookup, then a store): only a
 * thread seen for the first time, or evicted since, costs an update. Entries of dead threads hold ts 0
 * (their last switch-in consumed it) and age out of the LRU.
 *
 * One clock read serves both halves of a sched_switch: prev's stamp and next's observation happen at
 * the same instant.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpfex.bpf.h"
#include "native_histogram.h"
#include "runqueue.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before load; the verifier prunes the branches that are off. */
const volatile struct bpfex_hist_layout runqueue_hist = {}; /* the latency buckets (native_histogram.h) */
const volatile bool filter_comm = false;   /* only tasks whose comm is in allowed_comms */
const volatile bool filter_cgroup = false; /* only tasks in (or below) the cgroup filter_cgroup_id */
const volatile __u64 filter_cgroup_id = 0;
const volatile __u32 filter_cgroup_level = 0; /* its depth below the root (0: the root) */
const volatile bool by_workload = false;      /* rows per cgroup in runqueue_workload_rows */

/* Row and table sizes depend on the bucket layout: user space sets value_size before load (so no
 * BTF value type, which would have to match). */
#define ROW_BYTES 8 /* placeholder; bpf_map__set_value_size() */

/* The bucket lookup table of runqueue_hist (native_histogram.h), filled by user space after load. */
BPFEX_HIST_TABLE(runqueue_hist_table);

/* A row of zeros, the value new runqueue_workload_rows entries start from. */
BPFEX_ZERO_ROW(runqueue_zero_row, ROW_BYTES);

/* The node's histogram: every wait, or with by_workload the waits whose cgroup found
 * runqueue_workload_rows full (user space's cgroup="other"). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, ROW_BYTES);
} runqueue_rows SEC(".maps");

/* by_workload only (its size is set to 1 otherwise), sized from max_workload_rows: a row per cgroup
 * v2 ID. Shared with atomic adds, because per-CPU rows would cost every possible CPU a row (a few hundred bytes) per
 * cgroup; preallocated (tracing programs may use only preallocated hash maps before Linux 6.1). Not
 * LRU: user space deletes the rows of cgroups that are gone, after folding them into their workload. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__uint(key_size, sizeof(__u64));
	__uint(value_size, ROW_BYTES);
} runqueue_workload_rows SEC(".maps");

/* Waits in progress by thread id. Sized from max_threads. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct runqueue_start);
} runqueue_starts SEC(".maps");

/* Sized from the comms option before load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct runqueue_comm_key);
	__type(value, __u8);
} allowed_comms SEC(".maps");

/* The cgroup filter's directory, for the tracepoint flavour (bpf_current_task_under_cgroup). */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} allowed_cgroup SEC(".maps");

#define TASK_RUNNING 0
/* prev_state of the sched_switch tracepoint for a preempted task (__trace_sched_switch_state():
 * TASK_REPORT_MAX, 0x100 since Linux 4.14). */
#define TASK_REPORT_MAX 0x100

/* Before Linux 5.14 the state was a long named state. */
struct task_struct___o {
	volatile long int state;
} __attribute__((preserve_access_index));

/* Linux 6.1 and later keep the ancestors' cgroups, earlier ones their IDs. */
struct cgroup___new {
	int level;
	struct cgroup *ancestors[0];
} __attribute__((preserve_access_index));
struct cgroup___old {
	int level;
	__u64 ancestor_ids[0];
} __attribute__((preserve_access_index));

/* ---- what both halves share */

static __always_inline bool comm_allowed(const char *comm_in_kernel)
{
	struct runqueue_comm_key key = {};

	bpf_probe_read_kernel_str(key.comm, sizeof(key.comm), comm_in_kernel);
	return bpf_map_lookup_elem(&allowed_comms, &key) != NULL;
}

/* Whether cg is the filter's cgroup or below it: its ancestor at the filter's level is the filter. */
static __always_inline bool cgroup_allowed(struct cgroup *cg)
{
	struct cgroup___new *new_cg = (void *)cg;
	struct cgroup___old *old_cg = (void *)cg;
	__u32 level = filter_cgroup_level;
	__u64 id = 0;

	if (!cg || BPF_CORE_READ(new_cg, level) < (int)level)
		return false;
	if (bpf_core_field_exists(new_cg->ancestors)) {
		struct cgroup *ancestor = NULL;

		bpf_probe_read_kernel(&ancestor, sizeof(ancestor), &new_cg->ancestors[level]);
		if (!ancestor)
			return false;
		id = BPF_CORE_READ(ancestor, kn, id);
	} else {
		bpf_probe_read_kernel(&id, sizeof(id), &old_cg->ancestor_ids[level]);
	}
	return id == filter_cgroup_id;
}

/* A wait starts at now for thread pid; cgroup_id: its cgroup (by_workload), cgroup_ok: whether it
 * passes the cgroup filter (kept for the tracepoint flavour's wakeups). */
static __always_inline void stamp(__u32 pid, __u64 now, __u64 cgroup_id, __u32 cgroup_ok)
{
	struct runqueue_start *start, fresh = {};

	start = bpf_map_lookup_elem(&runqueue_starts, &pid);
	if (start) {
		start->cgroup_id = cgroup_id;
		start->cgroup_ok = cgroup_ok;
		start->ts = cgroup_ok ? now : 0;
		return;
	}
	fresh.ts = cgroup_ok ? now : 0;
	fresh.cgroup_id = cgroup_id;
	fresh.cgroup_ok = cgroup_ok;
	bpf_map_update_elem(&runqueue_starts, &pid, &fresh, BPF_ANY);
}

/* Thread pid is switched in at now: its wait, if it has one, is an observation. */
static __always_inline void run(__u32 pid, __u64 now)
{
	struct runqueue_start *start;
	__u64 ns, *row;
	__u32 slot, zero = 0;
	void *table;

	if (!pid) /* the idle task (one per CPU, all pid 0) never waits */
		return;
	start = bpf_map_lookup_elem(&runqueue_starts, &pid);
	if (!start || !start->ts)
		return;
	ns = now - start->ts;
	start->ts = 0;
	if ((__s64)ns < 0) /* a stamp from another CPU's clock that runs ahead: not a wait */
		return;
	table = bpf_map_lookup_elem(&runqueue_hist_table, &zero);
	if (!table)
		return;
	slot = bpfex_hist_slot(&runqueue_hist, table, ns);
	if (slot > runqueue_hist.nbuckets + 1) /* never; bounds the row offset for the verifier */
		return;
	slot += RUNQUEUE_SLOT_BUCKET0;
	if (by_workload) {
		__u64 key = start->cgroup_id;

		row = bpfex_lookup_or_init_zeroed(&runqueue_workload_rows, &key, &runqueue_zero_row);
		if (row) {
			__sync_fetch_and_add(&row[RUNQUEUE_SLOT_SUM], ns);
			__sync_fetch_and_add(&row[slot], 1);
			return;
		}
		/* full: the node row below, cgroup="other" */
	}
	row = bpf_map_lookup_elem(&runqueue_rows, &zero);
	if (!row)
		return;
	row[RUNQUEUE_SLOT_SUM] += ns;
	row[slot] += 1;
}

/* ---- tp_btf and raw_tp: the task is at hand. direct: tp_btf's trusted BTF pointers are read with
 * plain loads; raw_tp's through BPF_CORE_READ. Both compile to the one that is used. */

static __always_inline __u64 task_cgroup_id(struct task_struct *t, const bool direct)
{
	struct css_set *cgroups;
	struct cgroup *cg;
	struct kernfs_node *kn;

	if (!direct)
		return BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
	cgroups = t->cgroups;
	if (!cgroups)
		return 0;
	cg = cgroups->dfl_cgrp;
	if (!cg)
		return 0;
	kn = cg->kn;
	return kn ? kn->id : 0;
}

static __always_inline void enqueue_task(struct task_struct *t, __u64 now, const bool direct)
{
	__u32 pid = direct ? t->pid : BPF_CORE_READ(t, pid);
	__u64 cgroup_id = 0;

	if (!pid)
		return;
	if (filter_comm && !comm_allowed(t->comm))
		return;
	if (filter_cgroup && !cgroup_allowed(BPF_CORE_READ(t, cgroups, dfl_cgrp)))
		return;
	if (by_workload)
		cgroup_id = task_cgroup_id(t, direct);
	stamp(pid, now, cgroup_id, 1);
}

static __always_inline bool still_runnable(bool preempt, struct task_struct *prev, const bool direct)
{
	struct task_struct___o *old = (void *)prev;

	/* A preempted task stays on its runqueue whatever its state says (it may have been about to
	 * sleep); otherwise it stays there only in TASK_RUNNING (also when a pending signal kept it from
	 * sleeping: __schedule() has set its state back by the time the tracepoint runs). */
	if (preempt)
		return true;
	if (bpf_core_field_exists(prev->__state))
		return (direct ? prev->__state : BPF_CORE_READ(prev, __state)) == TASK_RUNNING;
	return (direct ? old->state : BPF_CORE_READ(old, state)) == TASK_RUNNING;
}

static __always_inline void switch_tasks(bool preempt, struct task_struct *prev, struct task_struct *next,
					 const bool direct)
{
	__u64 now = bpf_ktime_get_ns();

	if (still_runnable(preempt, prev, direct))
		enqueue_task(prev, now, direct);
	run(direct ? next->pid : BPF_CORE_READ(next, pid), now);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup_tp_btf, struct task_struct *p)
{
	enqueue_task(p, bpf_ktime_get_ns(), true);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new_tp_btf, struct task_struct *p)
{
	enqueue_task(p, bpf_ktime_get_ns(), true);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch_tp_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	switch_tasks(preempt, prev, next, true);
	return 0;
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(sched_wakeup_raw_tp, struct task_struct *p)
{
	enqueue_task(p, bpf_ktime_get_ns(), false);
	return 0;
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new_raw_tp, struct task_struct *p)
{
	enqueue_task(p, bpf_ktime_get_ns(), false);
	return 0;
}

SEC("raw_tp/sched_switch")
int BPF_PROG(sched_switch_raw_tp, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	switch_tasks(preempt, prev, next, false);
	return 0;
}

/* ---- tracepoint: the records carry thread ids and names, not tasks. What needs the task (its
 * cgroup, for the filter and by_workload) is read when it is current: switched out (prev is current
 * in sched_switch), or, for a new task, from its parent (current in sched_wakeup_new; a clone into
 * another cgroup is attributed to the parent's). A woken thread that has not run since we attached
 * has no record yet and its first wait is not observed. */

static __always_inline __u32 current_cgroup_ok(void)
{
	return !filter_cgroup || bpf_current_task_under_cgroup(&allowed_cgroup, 0) == 1;
}

SEC("tracepoint/sched/sched_wakeup")
int sched_wakeup_tracepoint(struct trace_event_raw_sched_wakeup_template *ctx)
{
	struct runqueue_start *start;
	__u32 pid = ctx->pid;

	if (!pid || (filter_comm && !comm_allowed(ctx->comm)))
		return 0;
	start = bpf_map_lookup_elem(&runqueue_starts, &pid);
	if (start && start->cgroup_ok)
		start->ts = bpf_ktime_get_ns();
	return 0;
}

SEC("tracepoint/sched/sched_wakeup_new")
int sched_wakeup_new_tracepoint(struct trace_event_raw_sched_wakeup_template *ctx)
{
	__u32 pid = ctx->pid;

	if (!pid || (filter_comm && !comm_allowed(ctx->comm)))
		return 0;
	stamp(pid, bpf_ktime_get_ns(), by_workload ? bpf_get_current_cgroup_id() : 0, current_cgroup_ok());
	return 0;
}

SEC("tracepoint/sched/sched_switch")
int sched_switch_tracepoint(struct trace_event_raw_sched_switch *ctx)
{
	struct task_struct *prev = (struct task_struct *)bpf_get_current_task();
	__u64 now = bpf_ktime_get_ns();
	__u32 pid = ctx->prev_pid;

	if (pid && !(filter_comm && !comm_allowed(ctx->prev_comm))) {
		/* The record is refreshed whether or not prev still waits: a later wakeup needs it. */
		bool runnable = ctx->prev_state == TASK_REPORT_MAX || still_runnable(false, prev, false);
		__u32 ok = current_cgroup_ok();

		stamp(pid, runnable ? now : 0, by_workload ? bpf_get_current_cgroup_id() : 0, ok);
	}
	run(ctx->next_pid, now);
	return 0;
}
