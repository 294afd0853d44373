// SPDX-License-Identifier: GPL-2.0
/* xdp_udp: UDP datagrams to port 39999 arriving on lo (SEC("xdp/lo"): attached by the exporter to
 * the interface the section names), by interface, by IPv4 or IPv6 source address, and by IP protocol.
 * Decoders: ifname, inet_ip (4 and 16 bytes), uint + static_map (with padding in the key). Every
 * packet passes. */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "bpfex_programs.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_UDP_NR 17
#define PORT 39999

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} udp_interfaces_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} udp_sources_ipv4_total SEC(".maps");

struct ipv6_key {
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct ipv6_key);
	__type(value, __u64);
} udp_sources_ipv6_total SEC(".maps");

struct protocol_key {
	__u8 protocol;
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, struct protocol_key);
	__type(value, __u64);
} udp_protocols_total SEC(".maps");

static __always_inline bool to_port(struct udphdr *udp, void *end)
{
	return (void *)(udp + 1) <= end && udp->dest == bpf_htons(PORT);
}

SEC("xdp/lo")
int xdp_udp_lo(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct protocol_key proto = {.protocol = IPPROTO_UDP_NR};
	__u32 ifindex = ctx->ingress_ifindex;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		__u32 saddr;

		if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_UDP_NR || ip->ihl != 5)
			return XDP_PASS;
		if (!to_port((void *)(ip + 1), end))
			return XDP_PASS;
		saddr = ip->saddr;
		bpfex_count(&udp_sources_ipv4_total, &saddr, 1);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		struct ipv6_key key;

		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_UDP_NR)
			return XDP_PASS;
		if (!to_port((void *)(ip6 + 1), end))
			return XDP_PASS;
		__builtin_memcpy(key.addr, &ip6->saddr, sizeof key.addr);
		bpfex_count(&udp_sources_ipv6_total, &key, 1);
	} else {
		return XDP_PASS;
	}
	bpfex_count(&udp_interfaces_total, &ifindex, 1);
	bpfex_count(&udp_protocols_total, &proto, 1);
	return XDP_PASS;
}
