// SPDX-License-Identifier: GPL-2.0
/* Baseline for bench/network/run.sh: a tc program that does nothing, so that the cost of the hook
 * and of the kernel's run-time accounting can be told apart from the network module's own. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tc")
int empty_tc(struct __sk_buff *skb)
{
	(void)skb;
	return -1; /* TC_ACT_UNSPEC, as the network programs */
}
