/* Types shared by kernel/exec.bpf.c and exporter/modules/exec.cpp. Fixed-width types only. */
#ifndef BPFEX_KERNEL_EXEC_H
#define BPFEX_KERNEL_EXEC_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#define EXEC_COMM_LEN 16
/* errno values 1..EXEC_ERRNO_SLOTS-1 get their own slot; anything else lands in slot 0 ("other"). */
#define EXEC_ERRNO_SLOTS 256

struct exec_comm_key {
	char comm[EXEC_COMM_LEN];
	__u64 cgroup_id; /* by_workload: the task's cgroup v2 ID (bpf_get_current_cgroup_id); else 0 */
};

/* by_workload: failed execs by cgroup and errno (exec_errors_by_cgroup). */
struct exec_errno_key {
	__u64 cgroup_id;
	__u32 err;
	__u32 pad;
};

/* Indexes of the exec_stats per-CPU array. */
enum exec_stat {
	EXEC_STAT_COMM_OVERFLOW = 0,  /* execs whose comm found the comm map full */
	EXEC_STAT_ERRNO_OVERFLOW = 1, /* by_workload: failed execs that found exec_errors_by_cgroup full */
	EXEC_STAT_MAX,
};

#endif /* BPFEX_KERNEL_EXEC_H */
