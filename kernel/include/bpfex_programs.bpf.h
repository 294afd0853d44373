/* Helpers for user programs (README "User programs"): counters and histograms in maps that bpfex
 * (or ebpf_exporter) reads through a YAML description. Include after vmlinux.h; compile with
 *   clang -target bpf -D__TARGET_ARCH_x86 -g -O2 -Wall -Werror \
 *         -I kernel -I kernel/include -I kernel/include/x86 -c prog.bpf.c -o prog.bpf.o
 *
 * Histogram maps: the key ends in a u64 bucket (the YAML's last label, decoded with uint); the value
 * at key bucket_max + 1 is the sum of the observed values (ebpf_exporter's convention). */
#ifndef BPFEX_PROGRAMS_BPF_H
#define BPFEX_PROGRAMS_BPF_H

#include <bpf/bpf_helpers.h>
#include "native_histogram.h"

/* Adds n to the u64 at key, creating it (zero) when new; atomic, so shared maps need no per-CPU
 * variant. A full hash map drops the key: bpfex shows the map's fill (bpfex_program_map_entries). */
static __always_inline void bpfex_count(void *map, const void *key, __u64 n)
{
	static const __u64 zero;
	__u64 *v = bpf_map_lookup_elem(map, key);

	if (!v) {
		bpf_map_update_elem(map, key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(map, key);
		if (!v)
			return;
	}
	__sync_fetch_and_add(v, n);
}

static __always_inline __u32 bpfex_log2_ceil(__u64 v)
{
	/* ceil(log2 v) = floor(log2(v - 1)) + 1 for v >= 2: one log2 routine for bpfex's histograms. */
	return v <= 1 ? 0 : bpfex_log2_floor(v - 1) + 1;
}

/* exp2 bucket of v: k = ceil(log2 v), so that bucket le=2^k holds values <= 2^k (1 -> 0, 2 -> 1,
 * 3..4 -> 2), at most max. The YAML: bucket_type: exp2, bucket_min: 0, bucket_max: max. */
static __always_inline __u64 bpfex_exp2_bucket(__u64 v, __u64 max)
{
	__u64 k = bpfex_log2_ceil(v);

	return k > max ? max : k;
}

/* exp2zero bucket: 0 for v == 0, else the exp2 bucket + 1 (bucket_type: exp2zero). */
static __always_inline __u64 bpfex_exp2zero_bucket(__u64 v, __u64 max)
{
	__u64 k = v == 0 ? 0 : bpfex_log2_ceil(v) + 1;

	return k > max ? max : k;
}

/* linear bucket of width: ceil(v / width), so that bucket k (le = k * width with bucket_multiplier:
 * width) holds values <= k * width; at most max. */
static __always_inline __u64 bpfex_linear_bucket(__u64 v, __u64 width, __u64 max)
{
	__u64 k = (v + width - 1) / width;

	return k > max ? max : k;
}

/* Observes v in a histogram map whose key type has a u64 `bucket` member: the bucket's count and the
 * sum at bucket max + 1. key is a struct lvalue; bucket_value comes from a bucket function above. */
#define bpfex_observe(map, key, bucket_value, max, v)        \
	do {                                                 \
		(key).bucket = (bucket_value);               \
		bpfex_count((map), &(key), 1);               \
		(key).bucket = (max) + 1;                    \
		bpfex_count((map), &(key), (v));             \
	} while (0)

#endif /* BPFEX_PROGRAMS_BPF_H */
