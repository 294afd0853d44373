// SPDX-License-Identifier: GPL-2.0
/* The floor for bench/tcp/guest.sh: empty programs on the kernel functions the tcp module's listen
 * overflow programs and the oom module's constraint program attach to (no tracepoint there), as
 * fentry and as kprobe, the two flavours bpfex chooses from; guest.sh loads (bench/syscall/floor.c)
 * the ones of the flavour bpfex took on each function. And one on the oom module's tracepoint
 * (tp_btf, as bpfex's first choice). Names stay within the kernel's 15 characters, so that bpftool
 * finds them by name: _f fentry, _k kprobe. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define FLOOR(sec, name)       \
	SEC(sec)               \
	int name(void *ctx)    \
	{                      \
		(void)ctx;     \
		return 0;      \
	}

FLOOR("fentry/tcp_conn_request", floor_connreq_f)
FLOOR("kprobe/tcp_conn_request", floor_connreq_k)
FLOOR("fentry/tcp_v4_syn_recv_sock", floor_v4recv_f)
FLOOR("kprobe/tcp_v4_syn_recv_sock", floor_v4recv_k)
FLOOR("fentry/tcp_v6_syn_recv_sock", floor_v6recv_f)
FLOOR("kprobe/tcp_v6_syn_recv_sock", floor_v6recv_k)
FLOOR("fentry/oom_kill_process", floor_oomkill_f)
FLOOR("kprobe/oom_kill_process", floor_oomkill_k)
FLOOR("tp_btf/mark_victim", floor_victim)
