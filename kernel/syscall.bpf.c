// SPDX-License-Identifier: GPL-2.0
/*
 * syscall: latency histogram per syscall and failed calls by {syscall, errno}.
 *
 * sys_enter stamps the time and the syscall number on the calling thread; sys_exit consumes the
 * stamp and adds the latency to the syscall's row of a per-CPU array. Only an exit that finds a
 * stamp its own thread made for the same syscall counts, so calls in flight when we attach (no
 * stamp), clone children returning from clone (no stamp of their own) and threads that die
 * mid-call (stamp never consumed) never make an observation.
 *
 * Three flavours share the same accounting: tp_btf keeps the stamp in task local storage (freed
 * with the task, no hash lookups); raw_tp and tracepoint keep it in an LRU hash keyed by thread
 * id, for kernels where tp_btf is unavailable.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpfex.bpf.h"
#include "native_histogram.h"
#include "syscall.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before load; the verifier prunes the filters that are off. */
const volatile struct bpfex_hist_layout syscall_hist = {}; /* the latency buckets (native_histogram.h) */
const volatile bool filter_comm = false;   /* only tasks whose comm is in allowed_comms */
const volatile bool filter_cgroup = false; /* only tasks in (or below) allowed_cgroup[0] */
const volatile __u32 rt_sigreturn_nr = 15; /* exits with the syscall number reset to -1 */
/* Bit nr set: syscall nr is not traced (include/exclude, and calls that never return). */
const volatile __u64 skipped[SYSCALL_NR_MAX / 64] = {};
const volatile bool by_workload = false; /* rows per {cgroup, syscall} in syscall_workload_rows */

/* Row and table sizes depend on the bucket layout: user space sets value_size before load (so no
 * BTF value type, which would have to match). */
#define ROW_BYTES 8 /* placeholder; bpf_map__set_value_size() */

/* The bucket lookup table of syscall_hist (native_histogram.h), filled by user space after load. */
BPFEX_HIST_TABLE(syscall_hist_table);

/* A row of zeros, the value new syscall_workload_rows entries start from. */
BPFEX_ZERO_ROW(syscall_zero_row, ROW_BYTES);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SYSCALL_NR_MAX);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, ROW_BYTES);
} syscall_rows SEC(".maps");

/* by_workload only (its size is set to 1 otherwise), sized from max_workload_rows. A row per
 * {cgroup, syscall} that ran: shared, with atomic adds, because per-CPU rows would cost every possible
 * CPU a row (a few hundred bytes) per pair; preallocated, because tracing programs may use only preallocated hash
 * maps before Linux 6.1. When it is full, calls count in syscall_rows, user space's cgroup="other".
 * Not LRU: user space deletes the rows of cgroups that are gone, after folding them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__uint(key_size, sizeof(struct syscall_workload_key));
	__uint(value_size, ROW_BYTES);
} syscall_workload_rows SEC(".maps");

/* Sized from max_error_series before load. Not LRU: a series keeps its slot and its count. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct syscall_error_key);
	__type(value, __u64);
} syscall_errors SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct syscall_start);
} task_starts SEC(".maps");

/* raw_tp and tracepoint flavours only (its size is set to 1 otherwise). LRU: threads killed in
 * the middle of a call leave entries behind; they are evicted instead of filling the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct syscall_start);
} thread_starts SEC(".maps");

/* Sized from the comms option before load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct syscall_comm_key);
	__type(value, __u8);
} allowed_comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} allowed_cgroup SEC(".maps");

#define TS_COMPAT 0x0002 /* x86 thread_info.status: a 32-bit syscall is in progress */

/*
 * Whether syscall id (as the tracepoint reports it) of the current task is traced. thread_status
 * is the task's x86 thread_info.status: ia32 syscall numbers would be counted under the wrong
 * 64-bit names. The tp_btf flavour reads it directly, the others through bpf_probe_read.
 */
static __always_inline bool traced(long id, __u32 thread_status)
{
	__u32 nr;

	if ((unsigned long)id >= SYSCALL_NR_MAX)
		return false;
	nr = (__u32)id;
	if (skipped[nr / 64] & (1ULL << (nr % 64)))
		return false;
	if (thread_status & TS_COMPAT)
		return false;
	if (filter_comm) {
		struct syscall_comm_key key = {};

		bpf_get_current_comm(key.comm, sizeof(key.comm));
		if (!bpf_map_lookup_elem(&allowed_comms, &key))
			return false;
	}
	if (filter_cgroup && bpf_current_task_under_cgroup(&allowed_cgroup, 0) != 1)
		return false;
	return true;
}

/* A failed call by {cgroup, syscall, errno}; when the map is full, in the row's overflow slot. shared:
 * the row is a syscall_workload_rows one, which other CPUs update too. */
static __always_inline void count_error(__u64 cgroup_id, __u32 nr, __u32 err, __u64 *row, bool shared)
{
	struct syscall_error_key key = {.cgroup_id = cgroup_id, .nr = nr, .err = err};
	__u64 zero = 0, *count;

	count = bpfex_lookup_or_init(&syscall_errors, &key, &zero);
	if (count)
		*count += 1;
	else if (shared)
		__sync_fetch_and_add(&row[SYSCALL_SLOT_ERR_OVERFLOW], 1);
	else
		row[SYSCALL_SLOT_ERR_OVERFLOW] += 1;
}

/*
 * Consumes a stamp at exit. exit_nr is the syscall number the kernel reports at exit: a stamp left
 * by an enter whose exit we never saw does not match it and is dropped, not counted.
 */
static __always_inline void observe(struct syscall_start *start, long exit_nr, long ret)
{
	__u64 ns, cgroup_id = 0, *row;
	__u32 nr, slot, zero = 0;
	void *table;

	ns = bpf_ktime_get_ns() - start->ts;
	nr = start->nr;
	start->ts = 0;
	if (exit_nr != nr && !(exit_nr == -1 && nr == rt_sigreturn_nr))
		return;
	nr &= SYSCALL_NR_MAX - 1;
	table = bpf_map_lookup_elem(&syscall_hist_table, &zero);
	if (!table)
		return;
	slot = bpfex_hist_slot(&syscall_hist, table, ns);
	if (slot > syscall_hist.nbuckets + 1) /* never; bounds the row offset for the verifier */
		return;
	slot += SYSCALL_SLOT_BUCKET0;
	if (by_workload) {
		struct syscall_workload_key key = {.cgroup_id = bpf_get_current_cgroup_id(), .nr = nr};

		row = bpfex_lookup_or_init_zeroed(&syscall_workload_rows, &key, &syscall_zero_row);
		if (row) {
			__sync_fetch_and_add(&row[SYSCALL_SLOT_SUM], ns);
			__sync_fetch_and_add(&row[slot], 1);
			if (ret < 0 && ret >= -4095)
				count_error(key.cgroup_id, nr, (__u32)-ret, row, true);
			return;
		}
		/* full: the syscall's overflow row below */
	}
	row = bpf_map_lookup_elem(&syscall_rows, &nr);
	if (!row)
		return;
	row[SYSCALL_SLOT_SUM] += ns;
	row[slot] += 1;
	if (ret < 0 && ret >= -4095)
		count_error(cgroup_id, nr, (__u32)-ret, row, false);
}

/* The syscall number at exit, from the registers; READ is a direct load (tp_btf: trusted BTF
 * pointers) or BPF_CORE_READ (raw_tp). */
#if defined(__TARGET_ARCH_x86)
#define REGS_SYSCALL_NR(regs, READ) READ(regs, orig_ax)
#define TASK_THREAD_STATUS(task, READ) READ(task, thread_info.status)
#elif defined(__TARGET_ARCH_arm64)
#define REGS_SYSCALL_NR(regs, READ) READ((struct user_pt_regs *)(regs), syscallno)
#define TASK_THREAD_STATUS(task, READ) 0
#else
#error "bpfex: syscall number at exit unknown for this architecture"
#endif
#define DIRECT_READ(ptr, field) ((ptr)->field)

/* ---- tp_btf: stamp in task local storage */

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter_tp_btf, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct syscall_start *start;

	if (!traced(id, TASK_THREAD_STATUS(task, DIRECT_READ)))
		return 0;
	start = bpf_task_storage_get(&task_starts, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!start)
		return 0;
	start->nr = (__u32)id;
	start->ts = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit_tp_btf, struct pt_regs *regs, long ret)
{
	struct syscall_start *start;

	start = bpf_task_storage_get(&task_starts, bpf_get_current_task_btf(), 0, 0);
	if (!start || !start->ts)
		return 0;
	observe(start, REGS_SYSCALL_NR(regs, DIRECT_READ), ret);
	return 0;
}

/* ---- raw_tp and tracepoint: stamp in a hash keyed by thread */

static __always_inline void enter_by_thread(long id)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct syscall_start fresh = {}, *start;
	__u64 tid = bpf_get_current_pid_tgid();

	if (!traced(id, TASK_THREAD_STATUS(task, BPF_CORE_READ)))
		return;
	start = bpf_map_lookup_elem(&thread_starts, &tid);
	if (start) {
		start->nr = (__u32)id;
		start->ts = bpf_ktime_get_ns();
		return;
	}
	fresh.nr = (__u32)id;
	fresh.ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&thread_starts, &tid, &fresh, BPF_ANY);
}

static __always_inline void exit_by_thread(long exit_nr, long ret)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct syscall_start *start;
	__u64 tid = bpf_get_current_pid_tgid();

	start = bpf_map_lookup_elem(&thread_starts, &tid);
	if (!start || !start->ts)
		return;
	/* A stamp older than this thread was left by an earlier thread with the same id that died
	 * mid-call. task->start_time and bpf_ktime_get_ns() are both CLOCK_MONOTONIC. */
	if (start->ts < BPF_CORE_READ(task, start_time)) {
		start->ts = 0;
		return;
	}
	observe(start, exit_nr, ret);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(sys_enter_raw_tp, struct pt_regs *regs, long id)
{
	enter_by_thread(id);
	return 0;
}

SEC("raw_tp/sys_exit")
int BPF_PROG(sys_exit_raw_tp, struct pt_regs *regs, long ret)
{
	exit_by_thread(REGS_SYSCALL_NR(regs, BPF_CORE_READ), ret);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int sys_enter_tracepoint(struct trace_event_raw_sys_enter *ctx)
{
	enter_by_thread(ctx->id);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int sys_exit_tracepoint(struct trace_event_raw_sys_exit *ctx)
{
	exit_by_thread(ctx->id, ctx->ret);
	return 0;
}
