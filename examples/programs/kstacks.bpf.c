// SPDX-License-Identifier: GPL-2.0
/* kstacks: the probe tasks' (probe.h) getppid calls by kernel stack (tp_btf sys_enter, bpf_get_stack)
 * and by a kernel address the exporter writes before load (kaddrs: kaddr_do_syscall_64). Decoders:
 * kstack, ksym. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpfex_programs.bpf.h"
#include "probe.h"

char LICENSE[] SEC("license") = "GPL";

#if defined(__TARGET_ARCH_arm64)
#define NR_GETPPID 173
#else
#define NR_GETPPID 110
#endif
#define FRAMES 8

/* Written by the exporter before load: the address of do_syscall_64 (kaddrs in kstacks.yaml). */
const volatile __u64 kaddr_do_syscall_64 = 0;

struct stack_key {
	__u64 frames[FRAMES];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__type(key, struct stack_key);
	__type(value, __u64);
} getppid_stacks_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u64);
	__type(value, __u64);
} getppid_entries_total SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(kstacks_tp_btf, struct pt_regs *regs, long id)
{
	struct stack_key key = {};
	__u64 entry = kaddr_do_syscall_64;

	if (id != NR_GETPPID || !probe_task())
		return 0;
	if (bpf_get_stack(ctx, key.frames, sizeof key.frames, 0) < 0)
		return 0;
	bpfex_count(&getppid_stacks_total, &key, 1);
	bpfex_count(&getppid_entries_total, &entry, 1);
	return 0;
}
