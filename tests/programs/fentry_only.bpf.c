// SPDX-License-Identifier: GPL-2.0
/* An fentry program: it loads only where the kernel has BPF trampolines for do_sys_openat2. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} fentry_opens_total SEC(".maps");

SEC("fentry/do_sys_openat2")
int BPF_PROG(fentry_only_fentry)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&fentry_opens_total, &zero);

	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}
