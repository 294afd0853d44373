// SPDX-License-Identifier: GPL-2.0
/*
 * tcp: retransmitted segments, resets sent and received, connections opened (active: connect();
 * passive: accepted) and how they ended (established or failed), connect latency (SYN sent to
 * ESTABLISHED) and listen-queue overflows, per {socket cgroup, local port, family}.
 *
 * Every hook but the listen overflows is a tracepoint, in three flavours (tp_btf, raw_tp,
 * tracepoint) that share one body: the flavours differ in how they get their arguments and in how
 * the body reads the kernel's structs, `direct` loads where the pointers are typed by BTF (tp_btf,
 * fentry: plain loads the verifier checks, several times cheaper than a helper call) and
 * BPF_CORE_READ (bpf_probe_read_kernel) elsewhere; `direct` is a constant in each program, so the
 * other way is compiled out. Listen overflows have no tracepoint; they are counted where the kernel
 * counts LINUX_MIB_LISTENOVERFLOWS, by fentry or kprobe, on kernels that have either.
 *
 * Workloads are the socket's cgroup (sk->sk_cgrp_data), not the current task's: most of these
 * events run in softirq, where the current task is whoever was interrupted, while the socket's
 * cgroup is that of the process that created it (accepted sockets inherit their listener's).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpfex.bpf.h"
#include "native_histogram.h"
#include "tcp.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define ETH_P_IP 0x0800
#define EAGAIN 11
#define ENOMEM 12
#define EBUSY 16
#define EINVAL 22
#define EHOSTUNREACH 113

/* Set by user space before load; the verifier prunes what is off. */
const volatile bool by_workload = false;       /* rows per socket cgroup in tcp_workload_rows */
const volatile bool label_ports = false;       /* the ports option is not empty */
const volatile __u64 ports[TCP_PORT_WORDS] = {}; /* bit p: local port p is labelled */
/* The running kernel's tcp_retransmit_skb tracepoint has an err argument (it then fires for failed
 * attempts too; Linux 6.18 has it, 6.12 does not): from the kernel's BTF, by user space. */
const volatile bool retransmit_err_arg = false;

const volatile struct bpfex_hist_layout tcp_hist = {}; /* connect latency buckets (native_histogram.h) */

/* Row and table sizes depend on the bucket layout: user space sets value_size before load (so no
 * BTF value type, which would have to match). */
#define ROW_BYTES 8 /* placeholder; bpf_map__set_value_size() */

/* The bucket lookup table of tcp_hist (native_histogram.h), filled by user space after load. */
BPFEX_HIST_TABLE(tcp_hist_table);

/* A row of zeros, the value new rows start from. */
BPFEX_ZERO_ROW(tcp_zero_row, ROW_BYTES);

/* Without by_workload every row; with it, the rows of events without a socket cgroup and of
 * events that found tcp_workload_rows full. Sized by user space: 2 families x (labelled ports + 1)
 * x those two owners. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8);
	__uint(key_size, sizeof(struct tcp_row_key));
	__uint(value_size, ROW_BYTES);
} tcp_rows SEC(".maps");

/* by_workload only (its size is set to 1 otherwise), sized from max_workload_rows. Shared with
 * atomic adds, because a per-CPU row would cost every possible CPU its row (480 bytes at schema 1) per key; TCP events
 * are rare next to syscalls. Preallocated: tracing programs may use only preallocated hash maps
 * before Linux 6.1. Not LRU: user space deletes the rows of cgroups that are gone, after folding
 * them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2048);
	__uint(key_size, sizeof(struct tcp_row_key));
	__uint(value_size, ROW_BYTES);
} tcp_workload_rows SEC(".maps");

/* When each socket in SYN_SENT sent its SYN (bpf_ktime_get_ns), keyed by the socket's address: room
 * for 8192 connects in flight at once. LRU: a socket that vanishes without a state change we see
 * would otherwise hold its entry for good; an evicted stamp costs one latency observation (the
 * histogram's count falls short of the established active opens), never a count. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, __u64);
} tcp_connect_starts SEC(".maps");

/* ---- where an event counts */

static __always_inline __u16 port_label(__u16 port)
{
	if (!label_ports)
		return 0;
	return (ports[(port / 64) & (TCP_PORT_WORDS - 1)] & (1ULL << (port % 64))) ? port : 0;
}

/* A connection's family: an AF_INET6 socket talking to an IPv4 peer (dual stack) has a v4-mapped
 * peer address; a request socket of an IPv4 SYN to such a listener has none set at all. */
/* A field of a kernel struct: a plain load where src is typed by BTF (direct), else a probe read. */
#define READ(direct, src, field) ((direct) ? (src)->field : BPF_CORE_READ(src, field))

static __always_inline __u8 family_of(const struct sock_common *skc, bool direct)
{
	__u32 daddr[4];

	if (READ(direct, skc, skc_family) != AF_INET6)
		return TCP_FAMILY_IPV4;
	if (!bpf_core_field_exists(skc->skc_v6_daddr))
		return TCP_FAMILY_IPV6;
	if (direct) {
		for (int i = 0; i < 4; i++)
			daddr[i] = skc->skc_v6_daddr.in6_u.u6_addr32[i];
	} else if (bpf_core_read(daddr, sizeof(daddr), &skc->skc_v6_daddr)) {
		return TCP_FAMILY_IPV6;
	}
	if (daddr[0] == 0 && daddr[1] == 0 && (daddr[2] == bpf_htonl(0xffff) || (daddr[2] == 0 && daddr[3] == 0)))
		return TCP_FAMILY_IPV4;
	return TCP_FAMILY_IPV6;
}

/* Request and TIME_WAIT sockets share sock_common with full sockets, not what follows it. */
static __always_inline bool full_socket(const struct sock_common *skc, bool direct)
{
	__u8 state = READ(direct, skc, skc_state);

	return state != TCP_TIME_WAIT && state != TCP_NEW_SYN_RECV;
}

/* The cgroup v2 ID of a full socket (sock_cgroup_data holds a cgroup pointer since Linux 5.15;
 * older layouts count without a workload). */
static __always_inline __u64 socket_cgroup(const struct sock *sk, bool direct)
{
	__u64 id;

	if (!by_workload || !bpf_core_field_exists(sk->sk_cgrp_data.cgroup))
		return TCP_CGROUP_NONE;
	id = direct ? sk->sk_cgrp_data.cgroup->kn->id : BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
	return id == TCP_CGROUP_OVERFLOW ? TCP_CGROUP_NONE : id;
}

/* The row key of an event on socket sk (any kind of socket). */
static __always_inline void where_of_socket(const struct sock *sk, struct tcp_row_key *key, bool direct)
{
	const struct sock_common *skc = &sk->__sk_common;

	key->family = family_of(skc, direct);
	key->port = port_label(READ(direct, skc, skc_num));
	key->cgroup_id = full_socket(skc, direct) ? socket_cgroup(sk, direct) : TCP_CGROUP_NONE;
}

/* The row key of a segment's receiver when there is no socket: its IP version, its destination
 * (our local) port. */
static __always_inline void where_of_segment(const struct sk_buff *skb, struct tcp_row_key *key)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 transport = BPF_CORE_READ(skb, transport_header);
	struct tcphdr th = {};

	key->family = BPF_CORE_READ(skb, protocol) == bpf_htons(ETH_P_IP) ? TCP_FAMILY_IPV4 : TCP_FAMILY_IPV6;
	bpf_probe_read_kernel(&th, sizeof(th), head + transport);
	key->port = port_label(bpf_ntohs(th.dest));
	key->cgroup_id = TCP_CGROUP_NONE;
}

/* The row for key, and whether other CPUs update it too (then adds must be atomic). NULL only when
 * even the per-CPU rows are full, which their sizing rules out. */
static __always_inline __u64 *row_of(struct tcp_row_key *key, bool *shared)
{
	__u64 *row;

	*shared = false;
	if (key->cgroup_id != TCP_CGROUP_NONE) {
		row = bpfex_lookup_or_init_zeroed(&tcp_workload_rows, key, &tcp_zero_row);
		if (row) {
			*shared = true;
			return row;
		}
		key->cgroup_id = TCP_CGROUP_OVERFLOW;
	}
	return bpfex_lookup_or_init_zeroed(&tcp_rows, key, &tcp_zero_row);
}

static __always_inline void add(__u64 *row, bool shared, __u64 slot, __u64 n)
{
	/* The compiler knows a bucket's slot is in range and would drop this check, which verifiers
	 * before Linux 6.x's better range tracking (6.1) need to see; a 64-bit slot keeps the checked
	 * and the indexing register the same (a 32-bit one is zero-extended into a copy). */
	barrier_var(slot);
	if (slot >= TCP_SLOT_BUCKET0 + tcp_hist.nbuckets + 2) /* the row's length */
		return;
	if (shared)
		__sync_fetch_and_add(&row[slot], n);
	else
		row[slot] += n;
}

static __always_inline void count(struct tcp_row_key *key, __u32 slot, __u64 n)
{
	bool shared;
	__u64 *row = row_of(key, &shared);

	if (row)
		add(row, shared, slot, n);
}

/* ---- retransmits: tcp:tcp_retransmit_skb, tcp:tcp_retransmit_synack */

/* Whether an attempt with this error is a retransmit the kernel counted in RetransSegs.
 * __tcp_retransmit_skb returns EBUSY, EAGAIN, EINVAL, ENOMEM or EHOSTUNREACH before counting
 * (nothing went out); errors from sending (a positive NET_XMIT code, ENOBUFS) come after it. */
static __always_inline bool retransmitted(int err)
{
	switch (err) {
	case -EBUSY:
	case -EAGAIN:
	case -EINVAL:
	case -ENOMEM:
	case -EHOSTUNREACH:
		return false;
	default:
		return true;
	}
}

static __always_inline int on_retransmit(const struct sock *sk, const struct sk_buff *skb, int err, bool direct)
{
	struct tcp_skb_cb *cb = (struct tcp_skb_cb *)&skb->cb[0];
	struct tcp_row_key key = {};
	__u16 segs;

	if (!sk || !skb || !retransmitted(err))
		return 0;
	/* tcp_skb_pcount(): RetransSegs counts segments, and a TSO skb is several. */
	segs = BPF_CORE_READ(cb, tcp_gso_segs); /* in skb->cb, untyped: a probe read either way */
	where_of_socket(sk, &key, direct);
	count(&key, TCP_SLOT_RETRANSMITS, segs ? segs : 1);
	return 0;
}

/* A SYN-ACK sent again for a request socket; it counts in RetransSegs like any retransmit. */
static __always_inline int on_synack_retransmit(const struct sock *listener, const struct request_sock *req,
						bool direct)
{
	struct tcp_row_key key = {};

	if (!listener || !req)
		return 0;
	where_of_socket(listener, &key, direct);
	key.family = family_of(&req->__req_common, direct);
	count(&key, TCP_SLOT_RETRANSMITS, 1);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int tcp_retransmit_tp_btf(__u64 *ctx)
{
	/* The third argument exists only where user space found it: unread otherwise (pruned). */
	return on_retransmit((const struct sock *)ctx[0], (const struct sk_buff *)ctx[1],
			     retransmit_err_arg ? (int)ctx[2] : 0, true);
}

SEC("raw_tp/tcp_retransmit_skb")
int tcp_retransmit_raw_tp(__u64 *ctx)
{
	return on_retransmit((const struct sock *)ctx[0], (const struct sk_buff *)ctx[1],
			     retransmit_err_arg ? (int)ctx[2] : 0, false);
}

/* The tracepoint records start alike in every kernel version: the common header, then the
 * pointers (their layout is what TP_STRUCT__entry declares first). */
struct tcp_tp_sk_skb {
	__u64 common;
	const void *skbaddr;
	const void *skaddr;
};

SEC("tracepoint/tcp/tcp_retransmit_skb")
int tcp_retransmit_tracepoint(struct tcp_tp_sk_skb *ctx)
{
	int err = 0;

	if (retransmit_err_arg)
		err = ((struct trace_event_raw_tcp_retransmit_skb *)ctx)->err;
	return on_retransmit(ctx->skaddr, ctx->skbaddr, err, false);
}

SEC("tp_btf/tcp_retransmit_synack")
int tcp_synack_tp_btf(__u64 *ctx)
{
	return on_synack_retransmit((const struct sock *)ctx[0], (const struct request_sock *)ctx[1], true);
}

SEC("raw_tp/tcp_retransmit_synack")
int tcp_synack_raw_tp(__u64 *ctx)
{
	return on_synack_retransmit((const struct sock *)ctx[0], (const struct request_sock *)ctx[1], false);
}

struct tcp_tp_synack {
	__u64 common;
	const void *skaddr;
	const void *req;
};

SEC("tracepoint/tcp/tcp_retransmit_synack")
int tcp_synack_tracepoint(struct tcp_tp_synack *ctx)
{
	return on_synack_retransmit(ctx->skaddr, ctx->req, false);
}

/* ---- resets: tcp:tcp_send_reset, tcp:tcp_receive_reset */

/* sk: the socket the reset is about, NULL for a reset answering a segment for no socket (traced only
 * by kernels whose tracepoint carries a reset reason, Linux 6.10 on); skb: that segment, NULL for an
 * active reset (close with unread data, abort). */
static __always_inline int on_reset_sent(const struct sock *sk, const struct sk_buff *skb, bool direct)
{
	struct tcp_row_key key = {};

	if (sk)
		where_of_socket(sk, &key, direct);
	else if (skb)
		where_of_segment(skb, &key);
	else
		return 0;
	count(&key, TCP_SLOT_RESETS_SENT, 1);
	return 0;
}

static __always_inline int on_reset_received(const struct sock *sk, bool direct)
{
	struct tcp_row_key key = {};

	if (!sk)
		return 0;
	where_of_socket(sk, &key, direct);
	count(&key, TCP_SLOT_RESETS_RECEIVED, 1);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int tcp_send_reset_tp_btf(__u64 *ctx)
{
	return on_reset_sent((const struct sock *)ctx[0], (const struct sk_buff *)ctx[1], true);
}

SEC("raw_tp/tcp_send_reset")
int tcp_send_reset_raw_tp(__u64 *ctx)
{
	return on_reset_sent((const struct sock *)ctx[0], (const struct sk_buff *)ctx[1], false);
}

SEC("tracepoint/tcp/tcp_send_reset")
int tcp_send_reset_tracepoint(struct tcp_tp_sk_skb *ctx)
{
	return on_reset_sent(ctx->skaddr, ctx->skbaddr, false);
}

SEC("tp_btf/tcp_receive_reset")
int tcp_receive_reset_tp_btf(__u64 *ctx)
{
	return on_reset_received((const struct sock *)ctx[0], true);
}

SEC("raw_tp/tcp_receive_reset")
int tcp_receive_reset_raw_tp(__u64 *ctx)
{
	return on_reset_received((const struct sock *)ctx[0], false);
}

struct tcp_tp_sk {
	__u64 common;
	const void *skaddr;
};

SEC("tracepoint/tcp/tcp_receive_reset")
int tcp_receive_reset_tracepoint(struct tcp_tp_sk *ctx)
{
	return on_reset_received(ctx->skaddr, false);
}

/* ---- connections: sock:inet_sock_set_state
 *
 * Active open: CLOSE -> SYN_SENT in connect() (the stamp), then SYN_SENT -> ESTABLISHED or -> CLOSE
 * (refused, timed out, aborted); a simultaneous open goes SYN_SENT -> SYN_RECV -> ESTABLISHED and
 * stays active (its stamp tells). Passive open: the child socket of a completed handshake is cloned
 * from its listener (LISTEN -> SYN_RECV), then SYN_RECV -> ESTABLISHED, or leaves SYN_RECV any other
 * way (failed). Handshakes that end as request sockets (a SYN-ACK never answered) have no socket and
 * no state change: not seen here. */

static __always_inline void count_opened(const struct sock *sk, bool active, bool established, __u64 start,
					 bool direct)
{
	struct tcp_row_key key = {};
	__u32 zero = 0;
	__u64 ns, *row;
	bool shared;
	void *table;

	where_of_socket(sk, &key, direct);
	row = row_of(&key, &shared);
	if (!row)
		return;
	if (!active) {
		add(row, shared, established ? TCP_SLOT_PASSIVE_ESTABLISHED : TCP_SLOT_PASSIVE_FAILED, 1);
		return;
	}
	if (!established) {
		add(row, shared, TCP_SLOT_ACTIVE_FAILED, 1);
		return;
	}
	add(row, shared, TCP_SLOT_ACTIVE_ESTABLISHED, 1);
	if (!start)
		return; /* connecting before we attached, or its stamp evicted: no latency to observe */
	ns = bpf_ktime_get_ns() - start;
	add(row, shared, TCP_SLOT_CONNECT_SUM, ns);
	table = bpf_map_lookup_elem(&tcp_hist_table, &zero);
	if (table)
		add(row, shared, TCP_SLOT_BUCKET0 + bpfex_hist_slot(&tcp_hist, table, ns), 1);
}

/* The stamp of a socket that leaves SYN_SENT (or SYN_RECV after a simultaneous open), removed; 0
 * when there is none. */
static __always_inline __u64 take_stamp(__u64 *addr)
{
	__u64 *stamp = bpf_map_lookup_elem(&tcp_connect_starts, addr), start;

	if (!stamp)
		return 0;
	start = *stamp;
	bpf_map_delete_elem(&tcp_connect_starts, addr);
	return start;
}

static __always_inline int on_state_change(const struct sock *sk, int oldstate, int newstate, bool direct)
{
	__u64 addr = (__u64)sk, start;

	if (newstate == TCP_SYN_SENT) {
		start = bpf_ktime_get_ns();
		bpf_map_update_elem(&tcp_connect_starts, &addr, &start, BPF_ANY);
		return 0;
	}
	if (oldstate == TCP_SYN_SENT) {
		if (newstate == TCP_SYN_RECV)
			return 0; /* simultaneous open: still active, stamp kept */
		start = take_stamp(&addr);
		count_opened(sk, true, newstate == TCP_ESTABLISHED, start, direct);
		return 0;
	}
	if (oldstate == TCP_SYN_RECV) {
		start = take_stamp(&addr);
		count_opened(sk, start != 0, newstate == TCP_ESTABLISHED, start, direct);
	}
	return 0;
}

static __always_inline bool is_tcp(const struct sock *sk, bool direct)
{
	/* A bitfield before Linux 5.6, a __u16 since: the bitfield reads handle both. */
	if (direct)
		return BPF_CORE_READ_BITFIELD(sk, sk_protocol) == IPPROTO_TCP;
	return BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) == IPPROTO_TCP;
}

/* The transitions that matter, checked before anything is read: most state changes (closing) are
 * none of them. */
static __always_inline bool opening(int oldstate, int newstate)
{
	return newstate == TCP_SYN_SENT || oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV;
}

SEC("tp_btf/inet_sock_set_state")
int tcp_state_tp_btf(__u64 *ctx)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	int oldstate = (int)ctx[1], newstate = (int)ctx[2];

	if (!opening(oldstate, newstate) || !is_tcp(sk, true))
		return 0;
	return on_state_change(sk, oldstate, newstate, true);
}

SEC("raw_tp/inet_sock_set_state")
int tcp_state_raw_tp(__u64 *ctx)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	int oldstate = (int)ctx[1], newstate = (int)ctx[2];

	if (!opening(oldstate, newstate) || !is_tcp(sk, false))
		return 0;
	return on_state_change(sk, oldstate, newstate, false);
}

SEC("tracepoint/sock/inet_sock_set_state")
int tcp_state_tracepoint(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (!opening(ctx->oldstate, ctx->newstate) || ctx->protocol != IPPROTO_TCP)
		return 0;
	return on_state_change(ctx->skaddr, ctx->oldstate, ctx->newstate, false);
}

/* ---- listen overflows: where the kernel counts LINUX_MIB_LISTENOVERFLOWS (fentry, kprobe) */

static __always_inline bool accept_queue_full(const struct sock *sk, bool direct)
{
	/* sk_acceptq_is_full() */
	return READ(direct, sk, sk_ack_backlog) > READ(direct, sk, sk_max_ack_backlog);
}

static __always_inline void count_overflow(const struct sock *listener, const struct sk_buff *skb, bool direct)
{
	struct tcp_row_key key = {};

	where_of_socket(listener, &key, direct);
	/* A dual-stack listener's overflow is of the SYN's (or ACK's) family. */
	key.family = READ(direct, skb, protocol) == bpf_htons(ETH_P_IP) ? TCP_FAMILY_IPV4 : TCP_FAMILY_IPV6;
	count(&key, TCP_SLOT_LISTEN_OVERFLOWS, 1);
}

/* tcp_conn_request(): a SYN to a listener whose accept queue is full is dropped and counted, unless
 * it was dropped just before for a full SYN queue with syncookies off (not counted as an overflow). */
static __always_inline int on_conn_request(const struct sock *sk, const struct sk_buff *skb, bool direct)
{
	const struct inet_connection_sock *icsk = (const struct inet_connection_sock *)sk;

	if (!sk || !skb || !accept_queue_full(sk, direct))
		return 0;
	/* Rare (only full queues get here): probe reads whatever the flavour. */
	if (!BPF_CORE_READ(sk, __sk_common.skc_net.net, ipv4.sysctl_tcp_syncookies) &&
	    BPF_CORE_READ(icsk, icsk_accept_queue.qlen.counter) >= (int)BPF_CORE_READ(sk, sk_max_ack_backlog))
		return 0;
	count_overflow(sk, skb, direct);
	return 0;
}

/* tcp_v4_syn_recv_sock(), tcp_v6_syn_recv_sock(): the ACK completing a handshake finds the accept
 * queue full (their first check). The IPv6 one hands IPv4 segments (a dual-stack listener) to the
 * IPv4 one before checking: counted there. */
static __always_inline int on_syn_recv_sock(const struct sock *sk, const struct sk_buff *skb, bool v6, bool direct)
{
	if (!sk || !skb)
		return 0;
	if (v6 && READ(direct, skb, protocol) == bpf_htons(ETH_P_IP))
		return 0;
	if (accept_queue_full(sk, direct))
		count_overflow(sk, skb, direct);
	return 0;
}

SEC("fentry/tcp_conn_request")
int BPF_PROG(tcp_conn_request_fentry, void *rsk_ops, void *af_ops, struct sock *sk, struct sk_buff *skb)
{
	return on_conn_request(sk, skb, true);
}

SEC("kprobe/tcp_conn_request")
int BPF_KPROBE(tcp_conn_request_kprobe, void *rsk_ops, void *af_ops, struct sock *sk, struct sk_buff *skb)
{
	return on_conn_request(sk, skb, false);
}

SEC("fentry/tcp_v4_syn_recv_sock")
int BPF_PROG(tcp_v4_syn_recv_fentry, struct sock *sk, struct sk_buff *skb)
{
	return on_syn_recv_sock(sk, skb, false, true);
}

SEC("kprobe/tcp_v4_syn_recv_sock")
int BPF_KPROBE(tcp_v4_syn_recv_kprobe, struct sock *sk, struct sk_buff *skb)
{
	return on_syn_recv_sock(sk, skb, false, false);
}

SEC("fentry/tcp_v6_syn_recv_sock")
int BPF_PROG(tcp_v6_syn_recv_fentry, struct sock *sk, struct sk_buff *skb)
{
	return on_syn_recv_sock(sk, skb, true, true);
}

SEC("kprobe/tcp_v6_syn_recv_sock")
int BPF_KPROBE(tcp_v6_syn_recv_kprobe, struct sock *sk, struct sk_buff *skb)
{
	return on_syn_recv_sock(sk, skb, true, false);
}
