// SPDX-License-Identifier: GPL-2.0
/*
 * network: packets and bytes per {interface, direction, family, L4 protocol}, counted the same way
 * the drivers count them, so the totals per interface equal /sys/class/net/<if>/statistics.
 *
 * Two ways to see the packets (exporter/modules/network.cpp chooses):
 *  - tracepoints (network_receive, network_transmit): one program each for every interface of the
 *    watched network namespace, nothing attached per interface. An interface is counted from its
 *    first packet, and creating or deleting one costs nothing (a tcx attach holds the rtnl lock
 *    across an RCU grace period). Interfaces whose received packets reach the stack through their
 *    lower device's rx_handler (vlan, macvlan, bond, ...) never pass the receive tracepoint: user
 *    space gives their ingress a tc/tcx program and tells the tracepoint to leave them alone.
 *  - tcx (or tc clsact) programs that user space attaches to each interface as it appears
 *    (RTM_NEWLINK): where BTF-typed tracepoints cannot load.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "bpfex.bpf.h"
#include "network.h"

char LICENSE[] SEC("license") = "GPL";

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define IPPROTO_HOPOPTS 0
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_AH 51
#define IPPROTO_DSTOPTS 60
#define IPPROTO_ICMPV6 58
#define MAX_VLAN_TAGS 2 /* QinQ */
#define MAX_IPV6_EXT_HEADERS 6
#define MAX_HEADER_OFFSET 1024 /* bounds packet offsets for the verifier */
#define ARPHRD_ETHER 1
#define ARPHRD_LOOPBACK 772
#define PACKET_LOOPBACK 5 /* skb->pkt_type of dev_loopback_xmit()'s copies */

/*
 * TC_ACT_UNSPEC for cls_bpf direct-action and TCX_NEXT for tcx: "run the next program". Never
 * TC_ACT_OK (0): under tcx that is TCX_PASS and would skip every program attached after ours.
 */
#define NEXT_PROGRAM -1

/* Protocols without a slot class (and interfaces without a slot). Sized from max_interfaces before
 * load. Not LRU: a key keeps its entry until user space deletes the keys of a vanished interface.
 * Not preallocated: most interfaces only ever see the slot classes, and a preallocated per-CPU
 * table would cost max_entries x CPUs x 16 bytes up front. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct network_key);
	__type(value, struct network_value);
} network_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NETWORK_MAX_IFINDEX);
	__type(key, __u32);
	__type(value, struct network_interface);
} network_interfaces SEC(".maps");

/* The same facts for interfaces numbered past NETWORK_MAX_IFINDEX (a long-lived host numbers its
 * veths ever higher): looked up only for them. Sized from max_interfaces before load; not
 * preallocated (only user space adds entries), so it costs nothing until such interfaces exist. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct network_interface);
} network_interfaces_large SEC(".maps");

/* Sized from max_interfaces before load; user space hands out slots (zeroed) on RTM_NEWLINK. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct network_slot);
} network_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NETWORK_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} network_stats SEC(".maps");

/* The network namespace whose interfaces the tracepoints count (its inode number), set before load:
 * the tracepoints fire for every namespace's packets, pods' included. */
const volatile __u32 watched_netns = 0;

struct packet {
	struct __sk_buff *skb; /* tc, tcx; NULL at the tracepoints */
	/* read once: clang may otherwise merge two ctx loads into one variable-offset load, which
	 * the verifier rejects */
	void *data, *data_end;
	/* tracepoints: the frame from its first header, in kernel memory, and how much of it is in
	 * the skb's linear area (headers in page fragments are not read: family and protocol then say
	 * "truncated") */
	const unsigned char *frame;
	__u32 frame_len;
	__be16 protocol; /* skb->protocol: what a frame without a link-layer header carries */
	int ipv6_jumbo;	 /* BIG TCP: payload length 0 and a hop-by-hop jumbo option */
};

/* n bytes at off: direct access inside the linear area, bpf_skb_load_bytes for paged data; at the
 * tracepoints, the linear area only. */
static __always_inline int load(struct packet *p, __u32 off, void *to, __u32 n)
{
	if (!p->skb) {
		if (off > MAX_HEADER_OFFSET || off + n > p->frame_len)
			return -1;
		return bpf_probe_read_kernel(to, n, p->frame + off);
	}
	if (off <= MAX_HEADER_OFFSET && p->data + off + n <= p->data_end) {
		__builtin_memcpy(to, p->data + off, n);
		return 0;
	}
	return bpf_skb_load_bytes(p->skb, off, to, n);
}

static __always_inline int is_ipv6_extension(__u8 nexthdr)
{
	return nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING || nexthdr == IPPROTO_FRAGMENT ||
	       nexthdr == IPPROTO_DSTOPTS || nexthdr == IPPROTO_AH;
}

static __always_inline int named_ethertype(__u16 t)
{
	switch (t) {
#define NETWORK_ETHERTYPE_CASE(ethertype, label) case ethertype:
	NETWORK_NAMED_ETHERTYPES(NETWORK_ETHERTYPE_CASE)
#undef NETWORK_ETHERTYPE_CASE
		return 1;
	}
	return 0;
}

/* Fills family and proto of key; returns the offset of the L4 header, 0 when unknown. */
static __always_inline __u32 classify(struct packet *p, int has_l2_header, struct network_key *key)
{
	__u32 off = 0;
	__u16 ethertype;
	__be16 be;
	__u8 b[3];
	int i;

	if (has_l2_header) {
		if (load(p, 12, &be, 2))
			return 0; /* runt frame: family other, protocol none */
		ethertype = bpf_ntohs(be);
		off = ETH_HLEN;
		/* VLAN tags still in the frame (offloaded tags are in skb metadata, not here) */
#pragma unroll
		for (i = 0; i < MAX_VLAN_TAGS; i++) {
			if (ethertype != ETH_P_8021Q && ethertype != ETH_P_8021AD)
				break;
			if (load(p, off + 2, &be, 2)) /* after the TCI */
				return 0;
			ethertype = bpf_ntohs(be);
			off += 4;
		}
	} else {
		ethertype = bpf_ntohs(p->protocol);
	}

	if (ethertype == ETH_P_IP) {
		key->family = NETWORK_FAMILY_IPV4;
		key->proto = NETWORK_PROTO_TRUNCATED;
		/* a failed bpf_skb_load_bytes zeroes its buffer: never load into key directly */
		if (load(p, off, b, 1) || load(p, off + 9, b + 1, 1))
			return 0;
		key->proto = b[1];
		return off + (b[0] & 0xf) * 4;
	}
	if (ethertype != ETH_P_IPV6) {
		key->proto = named_ethertype(ethertype) ? ethertype : NETWORK_ETHERTYPE_OTHER;
		return 0;
	}

	key->family = NETWORK_FAMILY_IPV6;
	key->proto = NETWORK_PROTO_TRUNCATED;
	if (load(p, off + 4, b, 3)) /* payload length, next header */
		return 0;
	p->ipv6_jumbo = !b[0] && !b[1] && b[2] == IPPROTO_HOPOPTS;
	__u8 nexthdr = b[2];
	off += 40;
#pragma unroll
	for (i = 0; i < MAX_IPV6_EXT_HEADERS; i++) {
		if (!is_ipv6_extension(nexthdr))
			break;
		if (load(p, off, b, 2)) /* next header, header length */
			return 0;
		if (nexthdr == IPPROTO_FRAGMENT)
			off += 8;
		else if (nexthdr == IPPROTO_AH)
			off += ((__u32)b[1] + 2) * 4;
		else
			off += ((__u32)b[1] + 1) * 8;
		nexthdr = b[0];
	}
	/* a chain longer than we follow reports the extension header it stopped at */
	key->proto = nexthdr;
	return off;
}

static __always_inline struct network_interface *interface_facts(__u32 *ifindex)
{
	if (*ifindex < NETWORK_MAX_IFINDEX)
		return bpf_map_lookup_elem(&network_interfaces, ifindex);
	return bpf_map_lookup_elem(&network_interfaces_large, ifindex);
}

/* Bytes as the device counts them. tc and the receive tracepoint include the link-layer header;
 * loopback_xmit() counts from the L3 header (lo's tx is its rx), and so do some devices on receive
 * (rx_l3_bytes). */
static __always_inline __u64 device_bytes(const struct network_interface *itf, __u8 direction, __u64 bytes)
{
	if ((itf->loopback || (direction == NETWORK_RX && itf->rx_l3_bytes)) && bytes >= ETH_HLEN)
		return bytes - ETH_HLEN;
	return bytes;
}

/* A GSO/GRO skb of segs segments: packets and bytes as the driver counts them (see struct
 * network_interface). wire_len: tc's, 0 at the tracepoints, where an skb the stack segments in
 * software is seen segment by segment. */
static __always_inline void count_segments(struct packet *p, const struct network_interface *itf,
					   const struct network_key *key, __u32 l4_offset, __u32 segs,
					   __u32 wire_len, __u64 *packets, __u64 *bytes)
{
	__u32 headers = 0;
	__u8 doff;

	if (key->direction == NETWORK_TX && wire_len && itf->gso_max_ipv4 &&
	    (*bytes >= (key->family == NETWORK_FAMILY_IPV6 ? itf->gso_max_ipv6 : itf->gso_max_ipv4) ||
	     segs > itf->gso_max_segs)) {
		*packets = segs;
		*bytes = wire_len; /* qdisc_pkt_len_init(): len + (segs - 1) * header length */
		if (p->ipv6_jumbo)	/* the segments lose the 8-byte jumbo option */
			*bytes -= 8 * segs;
		if (itf->loopback)
			*bytes -= ETH_HLEN * (segs - 1); /* and once more by the caller */
	} else if (key->direction == NETWORK_RX && itf->rx_segments) {
		/* without the L4 header (not in the linear area at the tracepoint) the packets still
		 * count, the bytes of the replicated headers not */
		if (l4_offset && key->proto == IPPROTO_TCP && !load(p, l4_offset + 12, &doff, 1))
			headers = l4_offset + (doff >> 4) * 4;
		else if (l4_offset && key->proto == IPPROTO_UDP)
			headers = l4_offset + 8;
		*packets = segs;
		*bytes += (__u64)(segs - 1) * headers;
	}
}

/* enum network_class of key, or -1 when it is counted in the hash map. One switch on family and
 * protocol together: a few compares, whatever the table holds. */
static __always_inline int network_class(const struct network_key *key)
{
	switch (((__u32)key->family << 16) | key->proto) {
#define NETWORK_CLASS_CASE(name, family, proto) \
	case ((__u32)(family) << 16) | (proto):  \
		return NETWORK_CLASS_##name;
		NETWORK_SLOT_CLASSES(NETWORK_CLASS_CASE)
#undef NETWORK_CLASS_CASE
	}
	return -1;
}

/* Adds one skb's packets and bytes to its key: the slot of the interface (slot: 1 + its index, 0
 * for none) for the classes of NETWORK_SLOT_CLASSES, the hash map for the rest. */
static __always_inline void add_counts(const struct network_key *key, __u32 slot, __u64 packets, __u64 bytes)
{
	__u8 direction = key->direction;
	struct network_value *value, initial;
	int class;

	class = network_class(key);
	if (slot) {
		struct network_slot *counts;

		slot -= 1;
		counts = bpf_map_lookup_elem(&network_slots, &slot);
		if (counts) {
			/* per-CPU value, and every program here runs with bottom halves off: plain adds */
			if (class >= 0 && class < NETWORK_CLASSES) {
				counts->counts[direction & 1][class].packets += packets;
				counts->counts[direction & 1][class].bytes += bytes;
				return;
			}
			/* the hash map below has the details; this, the interface's total */
			counts->counts[direction & 1][NETWORK_CLASS_REST].packets += packets;
			counts->counts[direction & 1][NETWORK_CLASS_REST].bytes += bytes;
		}
	}

	value = bpf_map_lookup_elem(&network_counts, key);
	if (!value) {
		initial.packets = packets;
		initial.bytes = bytes;
		if (!bpf_map_update_elem(&network_counts, key, &initial, BPF_NOEXIST))
			return;
		value = bpf_map_lookup_elem(&network_counts, key); /* lost a race, or full */
		if (!value) {
			bpfex_array_add(&network_stats, NETWORK_STAT_MAP_FULL, packets);
			return;
		}
	}
	value->packets += packets;
	value->bytes += bytes;
}

static __always_inline void count(struct __sk_buff *skb, int has_l2_header, __u8 direction)
{
	struct network_key key = { .ifindex = skb->ifindex, .direction = direction };
	struct packet p = {
		.skb = skb,
		.data = (void *)(long)skb->data,
		.data_end = (void *)(long)skb->data_end,
		.protocol = skb->protocol,
	};
	__u64 bytes = skb->len, packets = 1;
	struct network_interface *itf;
	__u32 l4_offset, slot = 0;

	/* a copy of a multicast or broadcast the host sent, looped back to its own stack: no driver
	 * received it */
	if (direction == NETWORK_RX && skb->pkt_type == PACKET_LOOPBACK)
		return;
	l4_offset = classify(&p, has_l2_header, &key);
	itf = interface_facts(&key.ifindex);
	if (itf) {
		slot = itf->slot;
		/* taps and socket filters see segments; tc sees the skb before segmentation */
		if (skb->gso_segs > 1)
			count_segments(&p, itf, &key, l4_offset, skb->gso_segs, skb->wire_len, &packets, &bytes);
		bytes = device_bytes(itf, direction, bytes);
	}
	add_counts(&key, slot, packets, bytes);
}

/* Ethernet-like devices (ARPHRD_ETHER, ARPHRD_LOOPBACK). On lo only the ingress program is
 * attached: loopback reports one counter as both rx and tx, so user space mirrors rx into tx. That
 * is exact even when the backlog drops a packet (neither counter moves) and costs half. */
SEC("tc")
int network_ingress(struct __sk_buff *skb)
{
	count(skb, 1, NETWORK_RX);
	return NEXT_PROGRAM;
}

SEC("tc")
int network_egress(struct __sk_buff *skb)
{
	count(skb, 1, NETWORK_TX);
	return NEXT_PROGRAM;
}

/* Devices without a link-layer header (ARPHRD_NONE: WireGuard, tun; ipip, gre, sit): the network
 * header is at offset 0 and skb->protocol says which. */
SEC("tc")
int network_ingress_l3(struct __sk_buff *skb)
{
	count(skb, 0, NETWORK_RX);
	return NEXT_PROGRAM;
}

SEC("tc")
int network_egress_l3(struct __sk_buff *skb)
{
	count(skb, 0, NETWORK_TX);
	return NEXT_PROGRAM;
}

/*
 * The tracepoints. Received: netif_receive_skb, where __netif_receive_skb_core() starts on a packet
 * (after GRO, before taps, tc ingress and the protocols), once per skb the driver or a software
 * device handed to the stack; the link-layer header is already pulled (skb->data is past it, the
 * mac header still points at it). Sent: net_dev_start_xmit, right before the driver's
 * ndo_start_xmit, after the qdisc (a packet the qdisc drops is not counted, nor by the driver) and
 * after software segmentation (each segment passes). Drivers count what they accepted; a driver
 * that refuses a packet (NETDEV_TX_BUSY, a bug path) has it requeued and counted twice here.
 */
static __always_inline void count_traced(const struct sk_buff *skb, const struct net_device *dev, __u8 direction)
{
	struct network_key key = { .direction = direction };
	struct packet p = { .skb = 0 };
	struct network_interface *itf;
	__u32 l4_offset, slot = 0, data, start;
	__u64 packets = 1, bytes;
	unsigned char *head;
	__u16 type;
	int has_l2;

	if (dev->nd_net.net->ns.inum != watched_netns)
		return;
	/* a copy of a multicast or broadcast the host sent, looped back to its own stack: no driver
	 * received it */
	if (direction == NETWORK_RX && BPF_CORE_READ_BITFIELD_PROBED(skb, pkt_type) == PACKET_LOOPBACK)
		return;
	key.ifindex = dev->ifindex;
	itf = interface_facts(&key.ifindex);
	if (itf) {
		if (itf->untraced & (1 << direction))
			return;
		slot = itf->slot;
	}

	head = skb->head;
	data = skb->data - head;
	start = data;
	type = dev->type;
	has_l2 = type == ARPHRD_ETHER || type == ARPHRD_LOOPBACK;
	if (direction == NETWORK_RX && has_l2) {
		/* the link-layer header, pulled off by eth_type_trans() */
		if (skb->mac_header == (__u16)~0U || skb->mac_header >= data)
			has_l2 = 0;
		else
			start = skb->mac_header;
	}
	bytes = skb->len + (data - start);
	p.frame = head + start;
	p.frame_len = skb->tail > start ? skb->tail - start : 0;
	p.protocol = skb->protocol;

	l4_offset = classify(&p, has_l2, &key);
	if (itf) {
		if (direction == NETWORK_RX && itf->rx_segments) {
			struct skb_shared_info *shinfo = (struct skb_shared_info *)(head + skb->end);
			__u16 segs = 0;

			bpf_core_read(&segs, sizeof(segs), &shinfo->gso_segs);
			if (segs > 1)
				count_segments(&p, itf, &key, l4_offset, segs, 0, &packets, &bytes);
		}
		bytes = device_bytes(itf, direction, bytes);
	}
	add_counts(&key, slot, packets, bytes);
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(network_receive, struct sk_buff *skb)
{
	count_traced(skb, skb->dev, NETWORK_RX);
	return 0;
}

SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(network_transmit, const struct sk_buff *skb, const struct net_device *dev)
{
	count_traced(skb, dev, NETWORK_TX);
	return 0;
}
