// SPDX-License-Identifier: GPL-2.0
/*
 * block: latency of block I/O requests per disk and operation (latency histogram, exact sum), the bytes
 * they moved and the ones that failed by block status.
 *
 * A request is stamped when it is issued to the driver (block_rq_issue), or with include_queue_time
 * when it is inserted into the queue (block_rq_insert; a request that is issued without passing
 * through a queue keeps its issue stamp). block_rq_complete consumes the stamp. A request completes
 * in one go, or in parts (blk_update_request() with fewer bytes than the request has left): every
 * part adds its bytes, the last one (all bytes left) makes the latency observation, and the request
 * counts as failed when any part reported an error. Requests issued before we attached have no stamp
 * and are not counted at all.
 *
 * The request's disk (its dev_t: a partition's requests are the disk's, the block layer remaps them)
 * and operation are read from the request at completion; the tracepoint flavour reads them from the
 * tracepoint's record. Stamps are written and consumed in place in an LRU hash: requests come from
 * fixed pools (the tag sets), so after warm-up a stamp is a lookup and a store, no insertion.
 *
 * Two signatures: block_rq_issue and block_rq_insert took (queue, request) before Linux 5.11 and
 * (request) since; user space reads which from the kernel's BTF (rq_single_arg). block_rq_complete
 * passes a blk_status_t (an errno on old kernels; both are kept apart: block.h BLOCK_ERROR_ERRNO).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpfex.bpf.h"
#include "block.h"
#include "native_histogram.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before load; the verifier prunes the branches that are off. */
const volatile struct bpfex_hist_layout block_hist = {}; /* the latency buckets (native_histogram.h) */
const volatile bool queue_time = false;	   /* include_queue_time: stamps from insert */
const volatile bool rq_single_arg = true; /* block_rq_issue/insert(rq), Linux 5.11+; else (q, rq) */

/* Row and table sizes depend on the bucket layout: user space sets value_size before load (so no
 * BTF value type, which would have to match). */
#define ROW_BYTES 8 /* placeholder; bpf_map__set_value_size() */

/* The bucket lookup table of block_hist (native_histogram.h), filled by user space after load. */
BPFEX_HIST_TABLE(block_hist_table);

/* A row of zeros, the value new block_rows entries start from. */
BPFEX_ZERO_ROW(block_zero_row, ROW_BYTES);

/* Rows by {disk, operation}, sized from max_devices before load. Per-CPU: completions of a fast disk
 * come from every CPU at once. Not LRU: a disk keeps its row (and its counts) until user space
 * deletes the rows of a disk that is gone. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 320);
	__uint(key_size, sizeof(struct block_key));
	__uint(value_size, ROW_BYTES);
} block_rows SEC(".maps");

/* Per operation, the requests whose {disk, operation} found block_rows full: device="other". */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BLOCK_OP_COUNT);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, ROW_BYTES);
} block_overflow SEC(".maps");

/* Failed requests by {disk, operation, status}: rare, so shared with atomic adds. Sized from
 * max_devices; when it is full, failures count in their row's BLOCK_SLOT_ERR_OVERFLOW. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct block_error_key);
	__type(value, __u64);
} block_errors SEC(".maps");

/* Requests in flight. LRU: a stamp whose completion never comes (a request merged into another
 * before it was issued) is evicted instead of filling the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct block_start_key);
	__type(value, struct block_start);
} block_starts SEC(".maps");

/* Before Linux 5.16 a request named its disk itself; since, through its queue. */
struct request___old {
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

static __always_inline void stamp(struct block_start_key *key, __u64 rq_start_time_ns, bool insert)
{
	struct block_start *start, fresh = {};
	__u64 now = bpf_ktime_get_ns();

	start = bpf_map_lookup_elem(&block_starts, key);
	if (start) {
		/* include_queue_time: the issue of a request that was inserted keeps the insert's stamp,
		 * unless that stamp is older than the request itself (left by an earlier request at the
		 * same address that never completed: rq->start_time_ns, its allocation, is 0 when the
		 * queue does not record it). */
		if (queue_time && !insert && start->ts && start->ts >= rq_start_time_ns)
			return;
		start->ts = now;
		start->error = 0;
		return;
	}
	fresh.ts = now;
	bpf_map_update_elem(&block_starts, key, &fresh, BPF_ANY);
}

static __always_inline __u64 *row_of(__u32 dev, __u32 op)
{
	struct block_key key = {.dev = dev, .op = op};
	__u64 *row = bpfex_lookup_or_init_zeroed(&block_rows, &key, &block_zero_row);

	if (row)
		return row;
	return bpf_map_lookup_elem(&block_overflow, &op);
}

/* error: as block_error_key.error, 0 for success. final: the part that completes the request. */
static __always_inline void complete(struct block_start_key *key, __u32 dev, __u32 op, __u32 error,
				     __u32 nr_bytes, bool final)
{
	struct block_start *start;
	__u32 slot, failed, zero = 0;
	__u64 ns, *row;
	void *table;

	start = bpf_map_lookup_elem(&block_starts, key);
	if (!start || !start->ts)
		return;
	if (error && !start->error)
		start->error = error;
	row = row_of(dev, op);
	if (!row)
		return;
	if (!error)
		row[BLOCK_SLOT_BYTES] += nr_bytes;
	if (!final)
		return;
	ns = bpf_ktime_get_ns() - start->ts;
	failed = start->error;
	start->ts = 0;
	if ((__s64)ns < 0)
		ns = 0;
	table = bpf_map_lookup_elem(&block_hist_table, &zero);
	if (!table)
		return;
	slot = bpfex_hist_slot(&block_hist, table, ns);
	if (slot > block_hist.nbuckets + 1) /* never; bounds the row offset for the verifier */
		return;
	row[BLOCK_SLOT_SUM] += ns;
	row[BLOCK_SLOT_BUCKET0 + slot] += 1;
	if (failed) {
		struct block_error_key ekey = {.dev = dev, .op = (__u16)op, .error = (__u16)failed};
		__u64 zero = 0, *count = bpfex_lookup_or_init(&block_errors, &ekey, &zero);

		if (count)
			__sync_fetch_and_add(count, 1);
		else
			row[BLOCK_SLOT_ERR_OVERFLOW] += 1;
	}
}

/* The completion's error argument: a blk_status_t (a u8), or a negative errno on old kernels. */
static __always_inline __u32 error_of(__s64 arg)
{
	__s32 e = (__s32)arg;

	if (e < 0)
		return BLOCK_ERROR_ERRNO + (__u32)((-e) & 0xfff);
	return (__u32)(e & 0xff);
}

/* ---- tp_btf and raw_tp: the struct request is at hand. direct: tp_btf's trusted BTF pointers are
 * read with plain loads; raw_tp's through BPF_CORE_READ. */

static __always_inline __u32 request_dev(struct request *rq, const bool direct)
{
	struct request___old *old = (void *)rq;
	struct gendisk *disk;

	if (bpf_core_field_exists(old->rq_disk)) {
		disk = BPF_CORE_READ(old, rq_disk);
	} else if (direct) {
		struct request_queue *q = rq->q;

		disk = q ? q->disk : NULL;
	} else {
		disk = BPF_CORE_READ(rq, q, disk);
	}
	if (!disk)
		return 0;
	if (direct)
		return ((__u32)disk->major << BLOCK_MINOR_BITS) | (__u32)disk->first_minor;
	return ((__u32)BPF_CORE_READ(disk, major) << BLOCK_MINOR_BITS) | (__u32)BPF_CORE_READ(disk, first_minor);
}

static __always_inline void request_started(struct request *rq, bool insert, const bool direct)
{
	struct block_start_key key = {.a = (__u64)rq};

	stamp(&key, queue_time ? (direct ? rq->start_time_ns : BPF_CORE_READ(rq, start_time_ns)) : 0, insert);
}

static __always_inline void request_completed(struct request *rq, __s64 error, __u32 nr_bytes, const bool direct)
{
	struct block_start_key key = {.a = (__u64)rq};
	__u32 cmd_flags = direct ? rq->cmd_flags : BPF_CORE_READ(rq, cmd_flags);
	__u32 left = direct ? rq->__data_len : BPF_CORE_READ(rq, __data_len);

	complete(&key, request_dev(rq, direct), block_op_of_cmd_flags(cmd_flags), error_of(error), nr_bytes,
		 nr_bytes >= left);
}

/* The request among the issue/insert tracepoints' arguments. */
#define RQ_ARG(ctx) ((struct request *)(rq_single_arg ? (ctx)[0] : (ctx)[1]))

SEC("tp_btf/block_rq_issue")
int block_rq_issue_tp_btf(__u64 *ctx)
{
	request_started(RQ_ARG(ctx), false, true);
	return 0;
}

SEC("tp_btf/block_rq_insert")
int block_rq_insert_tp_btf(__u64 *ctx)
{
	request_started(RQ_ARG(ctx), true, true);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int block_rq_complete_tp_btf(__u64 *ctx)
{
	request_completed((struct request *)ctx[0], (__s64)ctx[1], (__u32)ctx[2], true);
	return 0;
}

SEC("raw_tp/block_rq_issue")
int block_rq_issue_raw_tp(__u64 *ctx)
{
	request_started(RQ_ARG(ctx), false, false);
	return 0;
}

SEC("raw_tp/block_rq_insert")
int block_rq_insert_raw_tp(__u64 *ctx)
{
	request_started(RQ_ARG(ctx), true, false);
	return 0;
}

SEC("raw_tp/block_rq_complete")
int block_rq_complete_raw_tp(__u64 *ctx)
{
	request_completed((struct request *)ctx[0], (__s64)ctx[1], (__u32)ctx[2], false);
	return 0;
}

/* ---- tracepoint: the records carry the disk, the sector and the rwbs text, not the request. A
 * request is known by {disk, start sector} (two requests in flight for the same sector of the same
 * disk, e.g. flushes on several hardware queues, share a stamp), and every completion is taken as
 * the last part (the record does not say how much is left). */

SEC("tracepoint/block/block_rq_issue")
int block_rq_issue_tracepoint(struct trace_event_raw_block_rq *ctx)
{
	struct block_start_key key = {.a = ctx->sector, .b = ctx->dev};

	stamp(&key, 0, false);
	return 0;
}

SEC("tracepoint/block/block_rq_insert")
int block_rq_insert_tracepoint(struct trace_event_raw_block_rq *ctx)
{
	struct block_start_key key = {.a = ctx->sector, .b = ctx->dev};

	stamp(&key, 0, true);
	return 0;
}

SEC("tracepoint/block/block_rq_complete")
int block_rq_complete_tracepoint(struct trace_event_raw_block_rq_completion *ctx)
{
	struct block_start_key key = {.a = ctx->sector, .b = ctx->dev};
	__u32 op = block_op_of_rwbs(ctx->rwbs[0], ctx->rwbs[1], ctx->rwbs[2]);
	__s32 err = ctx->error; /* blk_status_to_errno(): 0 or a negative errno */

	complete(&key, ctx->dev, op, err < 0 ? BLOCK_ERROR_ERRNO + (__u32)((-err) & 0xfff) : 0,
		 ctx->nr_sector << 9, true);
	return 0;
}
