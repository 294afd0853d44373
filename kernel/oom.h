/* Types and tables shared by kernel/oom.bpf.c and exporter/modules/oom.cpp. Fixed-width types only. */
#ifndef BPFEX_KERNEL_OOM_H
#define BPFEX_KERNEL_OOM_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#define OOM_COMM_LEN 16

/* A victim: without by_workload its task name (cgroup_id 0); with it the cgroup v2 ID of its cgroup
 * (comm empty: the workload is the label). cgroup_id 0 with by_workload: the victim's cgroup is
 * unknown (tracepoint flavour, victim not the current task). */
struct oom_kill_key {
	char comm[OOM_COMM_LEN];
	__u64 cgroup_id;
};

/* What constrained the OOM kill, the kernel's enum oom_constraint: X(index, label). The kernel's
 * values are matched by name (CO-RE), these indexes are ours. */
#define OOM_CONSTRAINT_TABLE(X)                        \
	X(OOM_CONSTRAINT_NONE, "none")                 \
	X(OOM_CONSTRAINT_CPUSET, "cpuset")             \
	X(OOM_CONSTRAINT_MEMORY_POLICY, "memory_policy") \
	X(OOM_CONSTRAINT_CGROUP, "cgroup")

enum oom_constraint_index {
#define OOM_CONSTRAINT_ENUM(index, label) index,
	OOM_CONSTRAINT_TABLE(OOM_CONSTRAINT_ENUM)
#undef OOM_CONSTRAINT_ENUM
	OOM_CONSTRAINT_COUNT,
};

/* Indexes of the oom_stats per-CPU array. */
enum oom_stat {
	OOM_STAT_KEY_OVERFLOW = 0, /* kills whose victim found oom_kills full */
	OOM_STAT_MAX,
};

#endif /* BPFEX_KERNEL_OOM_H */
