/* The log2 histogram bucket rule: one definition, compiled into the BPF programs that fill histograms
 * and into user space, which names the buckets and whose tests check this very code.
 *
 * A value v (nanoseconds) belongs to the bucket whose upper bound is 2^k with k = ceil(log2 v):
 * bounds are inclusive (a Prometheus bucket le=2^k holds values <= 2^k), so an exact power of two
 * lands in its own bucket. These bounds are also schema 0 of Prometheus native histograms. */
#ifndef BPFEX_LOG2_HISTOGRAM_H
#define BPFEX_LOG2_HISTOGRAM_H

#ifndef __bpf__
#include <linux/types.h>
#endif
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* ceil(log2(v)) for v >= 2; 0 for v <= 1. Branch-free: the same few instructions for every value. */
static __always_inline __u32 bpfex_log2_ceil(__u64 v)
{
	__u32 r, shift;

	if (v <= 1)
		return 0;
	v--; /* so that exact powers of two land in their own bucket */
	shift = (v > 0xFFFFFFFFULL) << 5;
	v >>= shift;
	r = shift;
	shift = (v > 0xFFFF) << 4;
	v >>= shift;
	r |= shift;
	shift = (v > 0xFF) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xF) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (__u32)(v >> 1);
	return r + 1;
}

/* Index of v's bucket in a histogram of nbuckets finite buckets le=2^min_shift .. 2^(min_shift +
 * nbuckets - 1), then +Inf: 0 for v <= 2^min_shift (faster values fold into the first bucket),
 * nbuckets (+Inf) for v above the last bound. */
static __always_inline __u32 bpfex_bucket_index(__u64 v, __u32 min_shift, __u32 nbuckets)
{
	__u32 log2 = bpfex_log2_ceil(v);

	if (log2 <= min_shift)
		return 0;
	if (log2 - min_shift >= nbuckets)
		return nbuckets;
	return log2 - min_shift;
}

#endif /* BPFEX_LOG2_HISTOGRAM_H */
