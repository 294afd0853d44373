// SPDX-License-Identifier: GPL-2.0
/* The floor: empty programs on the attach points the block module uses by default (and biolatency:
 * the same two). What they cost is the price of running any program on every request. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/block_rq_issue")
int BPF_PROG(floor_issue)
{
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(floor_complete)
{
	return 0;
}
