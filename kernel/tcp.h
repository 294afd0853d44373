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

/* One row of u64 slots per {cgroup, local port, family}: the counters as enum tcp_slot says, the
 * connect latency (SYN sent to ESTABLISHED) summed in ns, then the latency histogram's bucket slots
 * (kernel/native_histogram.h: zero bucket, native buckets, overflow). Rows are
 * TCP_SLOT_BUCKET0 + nbuckets + 2 slots long, a size user space sets before load. */
enum tcp_slot {
#define TCP_SLOT_ENUM(slot, metric, direction, result) slot,
	TCP_COUNTER_TABLE(TCP_SLOT_ENUM)
#undef TCP_SLOT_ENUM
	TCP_SLOT_CONNECT_SUM, /* connect latency summed, ns */
	TCP_SLOT_BUCKET0,     /* then the histogram's bucket slots */
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
