// SPDX-License-Identifier: GPL-2.0
/* The floor for bench/tcp/run.sh: empty programs on the tracepoints the tcp module uses, attached as
 * tp_btf like the module's. What they cost is the price of running any program on those events. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/inet_sock_set_state")
int floor_state(void *ctx)
{
	(void)ctx;
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int floor_rst_sent(void *ctx)
{
	(void)ctx;
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int floor_rst_recv(void *ctx)
{
	(void)ctx;
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int floor_retrans(void *ctx)
{
	(void)ctx;
	return 0;
}

SEC("tp_btf/tcp_retransmit_synack")
int floor_synack(void *ctx)
{
	(void)ctx;
	return 0;
}
