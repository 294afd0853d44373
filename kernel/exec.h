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
};

/* Indexes of the exec_stats per-CPU array. */
enum exec_stat {
	EXEC_STAT_COMM_OVERFLOW = 0, /* execs whose comm found the comm map full */
	EXEC_STAT_MAX,
};

#endif /* BPFEX_KERNEL_EXEC_H */
