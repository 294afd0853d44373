/* Types shared by bpf/network.bpf.c and exporter/modules/network.cpp. Fixed-width types only. */
#ifndef BPFEX_NETWORK_H
#define BPFEX_NETWORK_H

enum network_direction {
	NETWORK_RX = 0,
	NETWORK_TX = 1,
};

enum network_family {
	NETWORK_FAMILY_OTHER = 0, /* proto holds the ethertype (0 when the frame has none) */
	NETWORK_FAMILY_IPV4 = 1,  /* proto holds the L4 protocol number */
	NETWORK_FAMILY_IPV6 = 2,  /* proto holds the L4 protocol number after extension headers */
};

/* proto value for an IP packet whose header ends before its protocol field (or the next-header
 * chain ends before the L4 protocol): not a protocol number (those are 0..255). */
#define NETWORK_PROTO_TRUNCATED 0x100
/* proto of a non-IP frame whose ethertype is not in the kernel side's short list. */
#define NETWORK_ETHERTYPE_OTHER 0xFFFF

struct network_key {
	__u32 ifindex;
	__u8 direction; /* enum network_direction */
	__u8 family;    /* enum network_family */
	__u16 proto;
};

struct network_value {
	__u64 packets;
	__u64 bytes;
};

/* Per-interface facts written by user space (from RTM_NEWLINK) before the programs are attached to
 * it, indexed by ifindex. They make the counts equal to what the driver counts:
 *  - loopback: loopback_xmit() counts the length after the Ethernet header was pulled;
 *  - gso_max_*: validate_xmit_skb() software-segments a GSO skb with len >= the device's GSO
 *    maximum (IFLA_GSO_IPV4_MAX_SIZE / IFLA_GSO_MAX_SIZE) or more than IFLA_GSO_MAX_SEGS segments,
 *    and the driver then counts each segment (0: never);
 *  - rx_segments: hardware NICs count frames before GRO merges them: count gso_segs and the
 *    replicated headers. */
struct network_interface {
	__u32 slot; /* 1 + index into network_slots; 0: counted in network_counts only */
	__u32 loopback;
	__u32 gso_max_ipv4;
	__u32 gso_max_ipv6;
	__u32 gso_max_segs;
	__u32 rx_segments;
};

/* The common protocols of an interface with a slot are counted in a per-CPU array (an inlined
 * lookup) instead of the hash map. A key's counts live in one of the two places, never both. */
enum network_class {
	NETWORK_CLASS_IPV4_TCP = 0,
	NETWORK_CLASS_IPV4_UDP,
	NETWORK_CLASS_IPV4_ICMP,
	NETWORK_CLASS_IPV6_TCP,
	NETWORK_CLASS_IPV6_UDP,
	NETWORK_CLASS_IPV6_ICMPV6,
	NETWORK_CLASS_ARP,
	NETWORK_CLASSES = 8, /* one spare: a power of two keeps the index arithmetic cheap */
};

struct network_slot {
	struct network_value counts[2][NETWORK_CLASSES]; /* [direction][class] */
};

/* Interfaces with a larger ifindex are counted without the facts above. */
#define NETWORK_MAX_IFINDEX 65536

/* Indexes of the network_stats per-CPU array. */
enum network_stat {
	NETWORK_STAT_MAP_FULL = 0, /* packets not counted because network_counts was full */
	NETWORK_STAT_MAX,
};

#endif /* BPFEX_NETWORK_H */
