// SPDX-License-Identifier: GPL-2.0
/* The floor: empty programs on the attach points bpfex's syscall module uses. What they cost is
 * the price of running any BPF program twice per syscall. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sys_enter")
int BPF_PROG(floor_enter)
{
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(floor_exit)
{
	return 0;
}
