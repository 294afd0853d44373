/* Small helpers shared by every bpfex BPF program (kernel side only; kernel/native_histogram.h
 * holds the bucket rule shared with user space). */
#ifndef BPFEX_BPF_H
#define BPFEX_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/*
 * Returns the value slot for key in a hash map (per-CPU or shared), inserting a zeroed value if the
 * key is new. NULL when the map is full: the caller counts that as a label overflow. A concurrent insert of the
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

/* The same for rows whose size is set at load (histogram rows): the zeroed value comes from entry 0
 * of zero_map, an ARRAY of one value of that size, and is looked up only when the key is new. */
static __always_inline void *bpfex_lookup_or_init_zeroed(void *map, const void *key, void *zero_map)
{
	__u32 index = 0;
	void *val = bpf_map_lookup_elem(map, key), *zero;

	if (val)
		return val;
	zero = bpf_map_lookup_elem(zero_map, &index);
	if (!zero)
		return NULL;
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

#endif /* BPFEX_BPF_H */
