// SPDX-License-Identifier: GPL-2.0
/* read_sizes: the byte counts the probe tasks (probe.h) ask read(2) for on fd -1, in one histogram
 * per bucket type: exp2 (hash), exp2zero (array), linear (per-CPU array, summed over CPUs; one byte wide) and fixed
 * (per-CPU hash). Each histogram's sum is at key bucket_max + 1 (fixed: last key + 1). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bpfex_programs.bpf.h"
#include "probe.h"

char LICENSE[] SEC("license") = "GPL";

#define EXP2_MAX 10
#define EXP2ZERO_MAX 10
#define LINEAR_WIDTH 1
#define LINEAR_MAX 8

struct bucket_key {
	__u64 bucket;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EXP2_MAX + 2);
	__type(key, struct bucket_key);
	__type(value, __u64);
} read_sizes_exp2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EXP2ZERO_MAX + 2);
	__type(key, __u32);
	__type(value, __u64);
} read_sizes_exp2zero SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LINEAR_MAX + 2);
	__type(key, __u32);
	__type(value, __u64);
} read_sizes_linear SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} read_sizes_fixed SEC(".maps");

/* The fixed histogram's bucket keys (read_sizes.yaml: bucket_keys): the first at least v. */
static __always_inline __u32 fixed_bucket(__u64 v)
{
	if (v <= 1)
		return 1;
	if (v <= 4)
		return 4;
	return 16;
}

SEC("tracepoint/syscalls/sys_enter_read")
int read_sizes_tracepoint(struct trace_event_raw_sys_enter *ctx)
{
	__u64 count = ctx->args[2];
	struct bucket_key key = {};
	__u32 k;

	if ((int)ctx->args[0] != -1 || !probe_task())
		return 0;
	if (count > 0)
		bpfex_observe(&read_sizes_exp2, key, bpfex_exp2_bucket(count, EXP2_MAX), EXP2_MAX, count);
	k = bpfex_exp2zero_bucket(count, EXP2ZERO_MAX);
	bpfex_count(&read_sizes_exp2zero, &k, 1);
	k = EXP2ZERO_MAX + 1;
	bpfex_count(&read_sizes_exp2zero, &k, count);
	k = bpfex_linear_bucket(count, LINEAR_WIDTH, LINEAR_MAX);
	bpfex_count(&read_sizes_linear, &k, 1);
	k = LINEAR_MAX + 1;
	bpfex_count(&read_sizes_linear, &k, count);
	k = fixed_bucket(count);
	bpfex_count(&read_sizes_fixed, &k, 1);
	k = 17;
	bpfex_count(&read_sizes_fixed, &k, count);
	return 0;
}
