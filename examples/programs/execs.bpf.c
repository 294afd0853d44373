// SPDX-License-Identifier: GPL-2.0
/* execs: successful execs by the new program's task name (tp_btf sched_process_exec). Decoders:
 * string; string + regexp (a label set only for names with a prefix, the rest dropped). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpfex_programs.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct comm_key {
	char comm[16];
};

/* LRU: a busy host runs more distinct programs than the map holds; the least recent go first. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct comm_key);
	__type(value, __u64);
} exec_comms_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct comm_key);
	__type(value, __u64);
} exec_families_total SEC(".maps");

SEC("tp_btf/sched_process_exec")
int BPF_PROG(execs_tp_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct comm_key key = {};

	bpf_get_current_comm(key.comm, sizeof key.comm);
	bpfex_count(&exec_comms_total, &key, 1);
	bpfex_count(&exec_families_total, &key, 1);
	return 0;
}
