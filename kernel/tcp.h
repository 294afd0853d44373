/* Types and tables shared by kernel/tcp.bpf.c and exporter/modules/tcp.cpp. Fixed-width types only. */
#ifndef BPFEX_KERNEL_TCP_H
#define BPFEX_KERNEL_TCP_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Address families of a connection: X(index, label). An IPv4 connection of a dual-stack IPv6 socket
 * (a v4-mapped peer) counts as ipv4. */
#define TCP_FAMILY_TABLE(X)   \
	X(TCP_FAMILY_IPV4, "ipv4") \
	X(TCP_FAMILY_IPV6, "ipv6")

enum tcp_family {
#define TCP_FAMILY_ENUM(index, label) index,
	TCP_FAMILY_TABLE(TCP_FAMILY_ENUM)
#undef TCP_FAMILY_ENUM
	TCP_FAMILY_COUNT,
};

/* The counters of a row: X(slot, metric, direction, result). metric is the family name after
 * "bpfex_tcp_" and before "_total"; direction and result are the values of those labels, "" where
 * the metric has no such label. */
#define TCP_COUNTER_TABLE(X)                                                          \
	X(TCP_SLOT_RETRANSMITS, "retransmits", "", "")                                \
	X(TCP_SLOT_RESETS_SENT, "resets", "sent", "")                                 \
	X(TCP_SLOT_RESETS_RECEIVED, "resets", "received", "")                         \
	X(TCP_SLOT_ACTIVE_ESTABLISHED, "connections", "active", "established")        \
	X(TCP_SLOT_ACTIVE_FAILED, "connections", "active", "failed")                  \
	X(TCP_SLOT_PASSIVE_ESTABLISHED, "connections", "passive", "established")      \
	X(TCP_SLOT_PASSIVE_FAILED, "connections", "passive", "failed")                \
	X(TCP_SLOT_LISTEN_OVERFLOWS, "listen_overflows", "", "")

/* Connect latency (SYN sent to ESTABLISHED) histogram: buckets le=2^TCP_CONNECT_MIN_SHIFT ns
 * (8.2 us) .. le=2^(TCP_CONNECT_MIN_SHIFT + TCP_CONNECT_BUCKETS - 1) ns (137 s, beyond Linux's
 * default SYN retries), then +Inf; the rule is kernel/log2_histogram.h's. */
#define TCP_CONNECT_MIN_SHIFT 13
#define TCP_CONNECT_BUCKETS 25

/* One row of counters per {cgroup, local port, family}: slot[i] as enum tcp_slot says. */
enum tcp_slot {
#define TCP_SLOT_ENUM(slot, metric, direction, result) slot,
	TCP_COUNTER_TABLE(TCP_SLOT_ENUM)
#undef TCP_SLOT_ENUM
	TCP_SLOT_CONNECT_SUM, /* connect latency summed, ns */
	TCP_SLOT_BUCKET0,     /* then TCP_CONNECT_BUCKETS finite buckets and +Inf */
	TCP_ROW_SLOTS = TCP_SLOT_BUCKET0 + TCP_CONNECT_BUCKETS + 1,
};

struct tcp_row {
	__u64 slot[TCP_ROW_SLOTS];
};

/* The owner of a row. cgroup_id: with by_workload, the cgroup v2 ID of the socket (the cgroup of
 * the process that created it; an accepted socket inherits its listener's); TCP_CGROUP_NONE for
 * events without a full socket (a reset answering a segment for no socket) and always without
 * by_workload; TCP_CGROUP_OVERFLOW for events whose {cgroup, port, family} found the workload rows
 * full. port: the local port when it is in the ports option, else 0. */
struct tcp_row_key {
	__u64 cgroup_id;
	__u16 port;
	__u8 family; /* enum tcp_family */
	__u8 pad[5];
};

#define TCP_CGROUP_NONE 0ULL
#define TCP_CGROUP_OVERFLOW (~0ULL)

/* The ports option, as a bitmap of 65536 bits in read-only data. */
#define TCP_PORT_WORDS (65536 / 64)

#endif /* BPFEX_KERNEL_TCP_H */
