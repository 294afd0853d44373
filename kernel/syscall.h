/* Types shared by kernel/syscall.bpf.c and exporter/modules/syscall.cpp. Fixed-width types only. */
#ifndef BPFEX_KERNEL_SYSCALL_H
#define BPFEX_KERNEL_SYSCALL_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Syscall numbers below this get a histogram row; x86_64 and arm64 numbers are below 512 (x32
 * numbers carry bit 30 and are skipped). A power of two so that masking keeps the verifier happy. */
#define SYSCALL_NR_MAX 512

/* One histogram row per syscall, u64 slots like every per-CPU value bpfex reads:
 *   slot[SYSCALL_SLOT_SUM]            latency summed in ns
 *   slot[SYSCALL_SLOT_ERR_OVERFLOW]   failed calls not counted by errno because the errno map was full
 *   slot[SYSCALL_SLOT_BUCKET0 + i]    calls in bucket slot i of the histogram layout (native_histogram.h:
 *                                     0 the zero bucket, 1..nbuckets, nbuckets + 1 above the range)
 * Rows are SYSCALL_SLOT_BUCKET0 + nbuckets + 2 slots long, a size user space sets before load. */
#define SYSCALL_SLOT_SUM 0
#define SYSCALL_SLOT_ERR_OVERFLOW 1
#define SYSCALL_SLOT_BUCKET0 2

#define SYSCALL_COMM_LEN 16

/* A call in flight, per task (BPF side only; bench/syscall/minimal.bpf.c uses it too). */
struct syscall_start {
	__u64 ts; /* bpf_ktime_get_ns() at enter; 0 when no call is in flight */
	__u32 nr;
	__u32 pad;
};

struct syscall_error_key {
	__u64 cgroup_id; /* by_workload: the task's cgroup v2 ID; 0 otherwise (and for the overflow row) */
	__u32 nr;
	__u32 err; /* positive errno */
};

/* by_workload: one histogram row per {cgroup, syscall} (syscall_workload_rows). */
struct syscall_workload_key {
	__u64 cgroup_id;
	__u32 nr;
	__u32 pad;
};

struct syscall_comm_key {
	char comm[SYSCALL_COMM_LEN];
};

#endif /* BPFEX_KERNEL_SYSCALL_H */
