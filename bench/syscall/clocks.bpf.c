// SPDX-License-Identifier: GPL-2.0
/* The least any latency tracer can do: the floor's two program runs plus one clock read in each,
 * kept in a global (a direct store, no map lookup) so that the compiler cannot drop it. Whatever a
 * tracer adds above this is what its bookkeeping (where the start time lives, how it is
 * aggregated) costs. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

__u64 last_enter, elapsed;

SEC("tp_btf/sys_enter")
int BPF_PROG(clocks_enter)
{
	last_enter = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(clocks_exit)
{
	elapsed += bpf_ktime_get_ns() - last_enter;
	return 0;
}
