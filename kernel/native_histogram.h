/* The latency bucket rule: one definition, compiled into the BPF programs that fill histograms and
 * into user space, which builds the tables below, names the buckets, and whose tests run this very
 * code (tests/unit/native_buckets_test.cpp; tests/integration/native_buckets_test.cpp runs the
 * BPF-compiled copy through BPF_PROG_TEST_RUN).
 *
 * Buckets are those of Prometheus native histograms of schema s (0..8): bucket i holds values v with
 * 2^((i-1)/2^s) < v <= 2^(i/2^s) seconds, 2^s buckets per doubling. Every 2^s-th boundary is a power
 * of two of seconds: those are the classic `le` buckets, so one kernel histogram serves both kinds
 * exactly, with nothing interpolated.
 *
 * Values are integer nanoseconds, so a boundary B_i = 1e9 * 2^(i/2^s) ns can be replaced by
 * floor(B_i): for an integer v, v <= B_i exactly when v <= floor(B_i). User space computes those
 * integer thresholds once (exporter/metrics/native_buckets.cpp); BPF only compares integers.
 *
 * A histogram covers the classic bounds 2^min_exp .. 2^max_exp seconds: a row of slots
 *   slot 0                  the zero bucket, v <= floor(1e9 * 2^min_exp) (zero_ns)
 *   slot j, 1..nbuckets     native bucket (min_exp << s) + j
 *   slot nbuckets + 1       overflow: v > 1e9 * 2^max_exp (max_ns)
 * with nbuckets = (max_exp - min_exp) << s.
 *
 * Finding j without a search: let e = floor(log2 v) and m the s+1 bits of v below its leading one
 * (its "sub-bin": the doubling [2^e, 2^(e+1)) cut into 2^(s+1) equal parts of width W). Two
 * consecutive thresholds in that doubling are at least 2^e * (2^(2^-s) - 1) >= 2^e * ln2 / 2^s =
 * 1.39 W apart, and flooring keeps them at least W apart, so a sub-bin holds at most one threshold:
 * if first[e][m] is the first threshold at or above the sub-bin's start, v's bucket is that one or
 * the next. (For e < s + 1 the sub-bins are narrower than 1 ns and each integer has its own, whose
 * first[] is exact.) So: a log2, two table loads and a compare, the same few instructions whatever
 * the schema; no floating point, no loop.
 *
 * The table (a map value of bpfex_hist_table_bytes(): an ARRAY map of one entry, filled by user
 * space after load) is
 *   __u64 bound[nbuckets + 1]        bound[j] = floor(1e9 * 2^(((min_exp << s) + j) / 2^s)) ns
 *   __u16 first[exp_count << (s+1)]  first[(e - exp_lo) << (s+1) | m], a j in 0..nbuckets
 */
#ifndef BPFEX_NATIVE_HISTOGRAM_H
#define BPFEX_NATIVE_HISTOGRAM_H

#ifndef __bpf__
#include <linux/types.h>
#endif
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* Schemas bpfex accepts: Prometheus' 0..8 (negative schemas merge doublings; bpfex's classic
 * buckets need every doubling). */
#define BPFEX_HIST_MAX_SCHEMA 8

/* A histogram's shape, in each module's read-only data (the verifier then knows every field, which
 * bounds the slot and table offsets below). Filled by user space: native_buckets::Layout. */
struct bpfex_hist_layout {
	__u64 zero_ns;	  /* the zero bucket's threshold, bound[0] */
	__u64 max_ns;	  /* the last bucket's bound, bound[nbuckets] */
	__u32 schema;	  /* 0..BPFEX_HIST_MAX_SCHEMA */
	__u32 nbuckets;	  /* native buckets between zero_ns and max_ns */
	__u32 exp_lo;	  /* floor(log2(zero_ns + 1)): the first binary exponent in first[] */
	__u32 first_len; /* entries of first[]: exp_count << (schema + 1) */
};

#ifdef __bpf__
/* A module's bucket lookup table: an ARRAY of one entry whose value user space sizes to
 * bpfex_hist_table_bytes() before load (8 is a placeholder) and fills after. */
#define BPFEX_HIST_TABLE(name)                    \
	struct {                                  \
		__uint(type, BPF_MAP_TYPE_ARRAY); \
		__uint(max_entries, 1);           \
		__uint(key_size, sizeof(__u32));  \
		__uint(value_size, 8);            \
	} name SEC(".maps")

/* A row of zeros, what new entries of a module's row map start from: bpf_map_update_elem wants a
 * row's worth of memory, more than the stack has. */
#define BPFEX_ZERO_ROW(name, row_bytes)           \
	struct {                                  \
		__uint(type, BPF_MAP_TYPE_ARRAY); \
		__uint(max_entries, 1);           \
		__uint(key_size, sizeof(__u32));  \
		__uint(value_size, row_bytes);    \
	} name SEC(".maps")
#endif

/* Bytes of the table (bound[], then first[]). */
static __always_inline __u32 bpfex_hist_table_bytes(__u32 nbuckets, __u32 first_len)
{
	return (nbuckets + 1) * 8 + first_len * 2;
}

/* floor(log2(v)) for v >= 1; 0 for v == 0. Branch-free. */
static __always_inline __u32 bpfex_log2_floor(__u64 v)
{
	__u32 r, shift;

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
	return r;
}

/* The slot of a value of ns nanoseconds: 0 (zero bucket), 1..nbuckets, or nbuckets + 1 (above
 * max_ns). table: bpfex_hist_table_bytes() bytes, as described above. */
static __always_inline __u32 bpfex_hist_slot(const volatile struct bpfex_hist_layout *layout, const void *table,
					     __u64 ns)
{
	const __u32 nbuckets = layout->nbuckets, width = layout->schema + 1;
	const __u64 *bound = (const __u64 *)table;
	const __u16 *first = (const __u16 *)((const char *)table + (nbuckets + 1) * 8);
	__u32 e, sub, j;

	if (ns <= layout->zero_ns)
		return 0;
	if (ns > layout->max_ns)
		return nbuckets + 1;
	e = bpfex_log2_floor(ns);
	if (e >= width)
		sub = (__u32)(ns >> (e - width));
	else
		sub = (__u32)(ns << (width - e));
	sub &= (1U << width) - 1;
	sub |= (e - layout->exp_lo) << width; /* e >= exp_lo: ns > zero_ns */
	if (sub >= layout->first_len)	      /* never: ns <= max_ns; tells the verifier */
		return nbuckets + 1;
	j = first[sub];
	if (j >= nbuckets) /* first[] entries are at most nbuckets; tells the verifier */
		return nbuckets;
	return ns > bound[j] ? j + 1 : j;
}

#endif /* BPFEX_NATIVE_HISTOGRAM_H */
