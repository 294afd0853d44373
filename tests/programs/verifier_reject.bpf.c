// SPDX-License-Identifier: GPL-2.0
/* A program the verifier rejects: it writes through a map lookup's result without checking it for
 * NULL. bpfex must report the verifier's reason and keep the other programs running. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rejected_total SEC(".maps");

SEC("raw_tp/sys_enter")
int verifier_reject_raw_tp(void *ctx)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&rejected_total, &zero);

	*v += 1; /* no NULL check: "invalid mem access 'map_value_or_null'" */
	return 0;
}
