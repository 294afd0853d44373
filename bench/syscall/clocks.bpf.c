// SPDX-License-Identifier: GPL-2.0
/* The least any latency tracer can do: the floor's two program runs plus one clock read in each.
 * The reads land in a global array, one cache line per CPU (a direct store, no map lookup), so that
 * the compiler cannot drop them and no two CPUs write the same line. Whatever a tracer adds above
 * this is what its bookkeeping (where the start time lives, how it is aggregated) costs. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

#define SLOTS 256 /* a power of two: CPUs beyond it share lines, which only matters past 256 CPUs */

struct slot {
	__u64 last_enter;
	__u64 elapsed;
	__u64 pad[6];
};

struct slot slots[SLOTS];

SEC("tp_btf/sys_enter")
int BPF_PROG(clocks_enter)
{
	slots[bpf_get_smp_processor_id() & (SLOTS - 1)].last_enter = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(clocks_exit)
{
	struct slot *s = &slots[bpf_get_smp_processor_id() & (SLOTS - 1)];

	s->elapsed += bpf_ktime_get_ns() - s->last_enter;
	return 0;
}
