/* Types and tables shared by kernel/network.bpf.c and user space (exporter/modules/network.cpp,
 * exporter/labels/network.cpp). Fixed-width types only. The tables are X-macros: each is written
 * here once, and both sides expand it. */
#ifndef BPFEX_KERNEL_NETWORK_H
#define BPFEX_KERNEL_NETWORK_H

#ifndef __bpf__
#include <linux/types.h>
#endif

enum network_direction {
	NETWORK_RX = 0,
	NETWORK_TX = 1,
};

enum network_family {
	NETWORK_FAMILY_OTHER = 0, /* proto holds the ethertype (0 when the frame has none) */
	NETWORK_FAMILY_IPV4 = 1,  /* proto holds the L4 protocol number */
	NETWORK_FAMILY_IPV6 = 2,  /* proto holds the L4 protocol number after extension headers */
	/* User space only: what an interface carried before bpfex attached to it, read from the
	 * interface's own counters, which do not say which family or protocol (proto 0). */
	NETWORK_FAMILY_UNKNOWN = 3,
};

/* proto value for an IP packet whose header ends before its protocol field (or the next-header
 * chain ends before the L4 protocol): not a protocol number (those are 0..255). */
#define NETWORK_PROTO_TRUNCATED 0x100
/* proto of a non-IP frame whose ethertype is not in NETWORK_NAMED_ETHERTYPES. */
#define NETWORK_ETHERTYPE_OTHER 0xFFFF
/* proto of a frame too short to have an ethertype. */
#define NETWORK_ETHERTYPE_NONE 0

/* Ethertypes of non-IP frames that keep a label value of their own, X(ethertype, label). Anyone on
 * a link can send any ethertype: the others share NETWORK_ETHERTYPE_OTHER, so the label set stays
 * bounded. VLAN tags (0x8100, 0x88A8) show up here only as a third tag: two are looked through. */
#define NETWORK_NAMED_ETHERTYPES(X) \
	X(0x0806, "arp")                \
	X(0x8035, "rarp")               \
	X(0x8100, "vlan")               \
	X(0x88A8, "qinq")               \
	X(0x8847, "mpls")               \
	X(0x8848, "mpls-multicast")     \
	X(0x8863, "pppoe-discovery")    \
	X(0x8864, "pppoe-session")      \
	X(0x888E, "eapol")              \
	X(0x88CC, "lldp")               \
	X(0x88E5, "macsec")             \
	X(0x88F7, "ptp")                \
	X(0x8906, "fcoe")               \
	X(0x22F0, "avtp")               \
	X(0x0842, "wake-on-lan")

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
 *    replicated headers;
 *  - rx_l3_bytes: the device counts received bytes from the network header (vlan_do_receive(),
 *    team's rx handler, a bridge's br_pass_frame_up(): the link-layer header was pulled before
 *    they count);
 *  - untraced: directions (1 << enum network_direction) the tracepoints leave alone: not selected,
 *    counted by a tc/tcx program instead, or (lo's tx) mirrored from the other direction. */
struct network_interface {
	__u32 slot; /* 1 + index into network_slots; 0: counted in network_counts only */
	__u32 loopback;
	__u32 gso_max_ipv4;
	__u32 gso_max_ipv6;
	__u32 gso_max_segs;
	__u32 rx_segments;
	__u32 rx_l3_bytes;
	__u32 untraced;
};

/* The common protocols of an interface with a slot are counted in a per-CPU array (an inlined
 * lookup) instead of the hash map, X(class, family, protocol): class NETWORK_CLASS_<class> counts
 * the packets of that family and protocol. A key's counts live in one of the two places, never both. */
#define NETWORK_SLOT_CLASSES(X)                 \
	X(IPV4_TCP, NETWORK_FAMILY_IPV4, 6)     \
	X(IPV4_UDP, NETWORK_FAMILY_IPV4, 17)    \
	X(IPV4_ICMP, NETWORK_FAMILY_IPV4, 1)    \
	X(IPV6_TCP, NETWORK_FAMILY_IPV6, 6)     \
	X(IPV6_UDP, NETWORK_FAMILY_IPV6, 17)    \
	X(IPV6_ICMPV6, NETWORK_FAMILY_IPV6, 58) \
	X(ARP, NETWORK_FAMILY_OTHER, 0x0806)

enum network_class {
#define NETWORK_CLASS_ENUM(name, family, proto) NETWORK_CLASS_##name,
	NETWORK_SLOT_CLASSES(NETWORK_CLASS_ENUM)
#undef NETWORK_CLASS_ENUM
	NETWORK_USED_CLASSES,
	/* Not a class of its own: the packets of the interface counted in network_counts (every family
	 * and protocol without a class), so that its slot alone says what it counted in all. User space
	 * reads it right after attaching (exporter/modules/network.cpp), never exports it. */
	NETWORK_CLASS_REST = NETWORK_USED_CLASSES,
	/* Room in a slot (more than NETWORK_CLASS_REST): a power of two keeps the index arithmetic
	 * cheap. */
	NETWORK_CLASSES = 8,
};

struct network_slot {
	struct network_value counts[2][NETWORK_CLASSES]; /* [direction][class] */
};

/* Facts of interfaces with a larger ifindex are in a hash map instead of the array. */
#define NETWORK_MAX_IFINDEX 65536

/* Indexes of the network_stats per-CPU array. */
enum network_stat {
	NETWORK_STAT_MAP_FULL = 0, /* packets not counted because network_counts was full */
	NETWORK_STAT_MAX,
};

#endif /* BPFEX_KERNEL_NETWORK_H */
