// SPDX-License-Identifier: GPL-2.0
/*
 * The tcp module's integration tests' own packet loss (tcp_test.cpp; netem is not available here): a
 * tc ingress program on the receiving end of a veth pair that drops TCP segments to one destination
 * port: every drop_every-th segment carrying data (up to max_drops of them), and the first drop_syns
 * SYNs. Dropping on the receiver's ingress, not the sender's egress, keeps the sender's transmit
 * successful, as a lossy link would (a sender-side drop fails the send itself, which some kernels'
 * retransmit tracepoint does not report). What it saw and dropped is in .bss for the test to read.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2

const volatile __u16 port = 0; /* destination port, host order */
const volatile __u32 drop_every = 0;
const volatile __u32 max_drops = 0;
const volatile __u32 drop_syns = 0;

__u64 data_segments, data_dropped, syns_dropped;

SEC("tc")
int tcp_dropper(struct __sk_buff *skb)
{
	__u32 l3 = sizeof(struct ethhdr), l4, ip_len, payload;
	struct tcphdr th;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, l3, &ip, sizeof(ip)) || ip.protocol != IPPROTO_TCP)
			return TC_ACT_OK;
		l4 = l3 + ip.ihl * 4;
		ip_len = bpf_ntohs(ip.tot_len) - ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		/* The tests send no extension headers. */
		if (bpf_skb_load_bytes(skb, l3, &ip6, sizeof(ip6)) || ip6.nexthdr != IPPROTO_TCP)
			return TC_ACT_OK;
		l4 = l3 + sizeof(ip6);
		ip_len = bpf_ntohs(ip6.payload_len);
	} else {
		return TC_ACT_OK;
	}
	if (bpf_skb_load_bytes(skb, l4, &th, sizeof(th)) || bpf_ntohs(th.dest) != port)
		return TC_ACT_OK;
	if (th.syn && !th.ack) {
		if (syns_dropped < drop_syns) {
			syns_dropped++;
			return TC_ACT_SHOT;
		}
		return TC_ACT_OK;
	}
	payload = ip_len - th.doff * 4;
	if (payload == 0)
		return TC_ACT_OK;
	data_segments++;
	if (drop_every && data_segments % drop_every == 0 && data_dropped < max_drops) {
		data_dropped++;
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}
