// SPDX-License-Identifier: GPL-2.0
/*
 * A program of every tracing flavour on one event, for the loader's integration test
 * (hooks_test.cpp): each counts the getpgid calls of one process (tgid, set before load), so that
 * HookSet's attach of each flavour is checked with an exact count, including the flavours no
 * built-in module uses (fentry, kprobe).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 tgid = 0;
const volatile long getpgid_nr = -1;

/* Calls seen per flavour, read by the test through the skeleton's .bss. */
__u64 fentry_calls, fexit_calls, kprobe_calls, kretprobe_calls, tp_btf_calls, raw_tp_calls, tracepoint_calls;

static __always_inline void count(__u64 *calls)
{
	if (bpf_get_current_pid_tgid() >> 32 == tgid)
		__sync_fetch_and_add(calls, 1);
}

/* Attach targets (the arch's getpgid entry symbol) are set by user space before load. */
SEC("fentry")
int BPF_PROG(getpgid_fentry)
{
	count(&fentry_calls);
	return 0;
}

SEC("fexit")
int BPF_PROG(getpgid_fexit)
{
	count(&fexit_calls);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(getpgid_kprobe)
{
	count(&kprobe_calls);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(getpgid_kretprobe)
{
	count(&kretprobe_calls);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(getpgid_tp_btf, struct pt_regs *regs, long id)
{
	if (id == getpgid_nr)
		count(&tp_btf_calls);
	return 0;
}

SEC("raw_tp/sys_enter")
int BPF_PROG(getpgid_raw_tp, struct pt_regs *regs, long id)
{
	if (id == getpgid_nr)
		count(&raw_tp_calls);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getpgid")
int getpgid_tracepoint(void *ctx)
{
	count(&tracepoint_calls);
	return 0;
}
