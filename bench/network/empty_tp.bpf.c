// SPDX-License-Identifier: GPL-2.0
/* Baseline for bench/network/run.sh: programs that do nothing on the two tracepoints the network
 * module counts at (tp_btf, as bpfex attaches them), so that the cost of the hooks and of the
 * kernel's run-time accounting can be told apart from the module's own. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/netif_receive_skb")
int empty_receive(void *ctx)
{
	(void)ctx;
	return 0;
}

SEC("tp_btf/net_dev_start_xmit")
int empty_transmit(void *ctx)
{
	(void)ctx;
	return 0;
}
