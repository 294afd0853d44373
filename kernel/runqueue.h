/* Types shared by kernel/runqueue.bpf.c and exporter/modules/runqueue.cpp. Fixed-width types only. */
#ifndef BPFEX_KERNEL_RUNQUEUE_H
#define BPFEX_KERNEL_RUNQUEUE_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* One histogram row, u64 slots like every value bpfex reads:
 *   slot[RUNQUEUE_SLOT_SUM]          waits summed in ns
 *   slot[RUNQUEUE_SLOT_BUCKET0 + i]  waits in bucket slot i of the histogram layout (native_histogram.h)
 * Rows are RUNQUEUE_SLOT_BUCKET0 + nbuckets + 2 slots long, a size user space sets before load. */
#define RUNQUEUE_SLOT_SUM 0
#define RUNQUEUE_SLOT_BUCKET0 1

#define RUNQUEUE_COMM_LEN 16

/* A task's wait, keyed by thread id (BPF side only). */
struct runqueue_start {
	__u64 ts;	 /* bpf_ktime_get_ns() when it became runnable; 0 when it is not waiting */
	__u64 cgroup_id; /* by_workload: its cgroup v2 ID at that moment */
	__u32 cgroup_ok; /* tracepoint flavour: it passed the cgroup filter when it last ran */
	__u32 pad;
};

struct runqueue_comm_key {
	char comm[RUNQUEUE_COMM_LEN];
};

#endif /* BPFEX_KERNEL_RUNQUEUE_H */
