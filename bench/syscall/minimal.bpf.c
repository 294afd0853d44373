// SPDX-License-Identifier: GPL-2.0
/* The least a correct per-syscall latency histogram needs, for bench/syscall/run.sh: a start stamp
 * per task (task local storage), two clock reads, one per-CPU histogram row update. No filters, no
 * error counting, no checks that the exit belongs to the stamped call. Built twice: as is
 * ("minimal"), and with -DBENCH_NO_CLOCK ("bookkeeping": the same work with the clock reads
 * replaced by values already at hand), which tells what the bookkeeping costs without the clocks. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "log2_histogram.h"
#include "syscall.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SYSCALL_NR_MAX);
	__type(key, __u32);
	__type(value, struct syscall_row);
} minimal_rows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct syscall_start);
} minimal_starts SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(minimal_enter, struct pt_regs *regs, long id)
{
	struct syscall_start *s;

	s = bpf_task_storage_get(&minimal_starts, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s)
		return 0;
	s->nr = (__u32)id;
#ifdef BENCH_NO_CLOCK
	s->ts = (__u64)id + 1;
#else
	s->ts = bpf_ktime_get_ns();
#endif
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(minimal_exit, struct pt_regs *regs, long ret)
{
	struct syscall_row *row;
	struct syscall_start *s;
	__u32 nr;
	__u64 ns;

	s = bpf_task_storage_get(&minimal_starts, bpf_get_current_task_btf(), 0, 0);
	if (!s || !s->ts)
		return 0;
#ifdef BENCH_NO_CLOCK
	ns = (__u64)ret + s->ts;
#else
	ns = bpf_ktime_get_ns() - s->ts;
#endif
	nr = s->nr & (SYSCALL_NR_MAX - 1);
	s->ts = 0;
	row = bpf_map_lookup_elem(&minimal_rows, &nr);
	if (!row)
		return 0;
	row->slot[SYSCALL_SLOT_SUM] += ns;
	row->slot[(SYSCALL_SLOT_BUCKET0 + bpfex_log2_ceil(ns)) & (SYSCALL_ROW_SLOTS - 1)] += 1;
	return 0;
}
