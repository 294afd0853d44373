/* Small helpers shared by every bpfex BPF program. */
#ifndef BPFEX_BPF_H
#define BPFEX_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/*
 * Returns the value slot for key in a per-CPU hash map, inserting a zeroed value if the key is new.
 * NULL when the map is full: the caller counts that as a label overflow. A concurrent insert of the
 * same key on another CPU makes our BPF_NOEXIST update fail with EEXIST; the second lookup finds it.
 */
static __always_inline void *bpfex_lookup_or_init(void *map, const void *key, const void *zero)
{
	void *val = bpf_map_lookup_elem(map, key);
	if (val)
		return val;
	bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

/* Adds delta to slot index of a per-CPU array of __u64. */
static __always_inline void bpfex_array_add(void *map, __u32 index, __u64 delta)
{
	__u64 *val = bpf_map_lookup_elem(map, &index);
	if (val)
		*val += delta;
}

/* ceil(log2(v)) for v >= 1, 0 for v <= 1: the log2 histogram slot whose upper bound 2^slot holds v. */
static __always_inline __u32 bpfex_log2_ceil(__u64 v)
{
	__u32 r = 0, shift;
	if (v <= 1)
		return 0;
	v--; /* so that exact powers of two land in their own slot */
	shift = (v > 0xFFFFFFFFULL) << 5; v >>= shift; r = shift;
	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r + 1;
}

#endif /* BPFEX_BPF_H */
