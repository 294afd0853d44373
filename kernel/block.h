/* Types and tables shared by kernel/block.bpf.c and exporter/modules/block.cpp. Fixed-width types only;
 * the two functions below are compiled on both sides (user space's unit tests run them). */
#ifndef BPFEX_KERNEL_BLOCK_H
#define BPFEX_KERNEL_BLOCK_H

#ifndef __bpf__
#include <linux/types.h>
#endif
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* The operation label of a request: X(enumerator, label). */
#define BLOCK_OPS(X)                      \
	X(BLOCK_OP_READ, "read")          \
	X(BLOCK_OP_WRITE, "write")        \
	X(BLOCK_OP_FLUSH, "flush")        \
	X(BLOCK_OP_DISCARD, "discard")    \
	X(BLOCK_OP_OTHER, "other")

#define BLOCK_OP_ENUM(name, label) name,
enum block_op { BLOCK_OPS(BLOCK_OP_ENUM) BLOCK_OP_COUNT };
#undef BLOCK_OP_ENUM

/* REQ_OP_* in the low 8 bits of a request's cmd_flags (include/linux/blk_types.h, REQ_OP_BITS):
 * these four have had these values since Linux 4.10; everything else (secure erase, write zeroes,
 * zone management, driver-private) is "other". */
#define BLOCK_REQ_OP_MASK 0xff
static __always_inline __u32 block_op_of_cmd_flags(__u32 cmd_flags)
{
	switch (cmd_flags & BLOCK_REQ_OP_MASK) {
	case 0:
		return BLOCK_OP_READ;
	case 1:
		return BLOCK_OP_WRITE;
	case 2:
		return BLOCK_OP_FLUSH;
	case 3:
		return BLOCK_OP_DISCARD;
	default:
		return BLOCK_OP_OTHER;
	}
}

/* The same from the block tracepoints' rwbs text (blk_fill_rwbs()): an optional 'F' for REQ_PREFLUSH,
 * then the operation ('W' write, 'D' discard ("DE": secure erase), 'F' flush, 'R' read, 'N' other),
 * then flags ('F' FUA, 'A' readahead, 'S' sync, 'M' metadata). A leading 'F' followed by an operation
 * letter is the preflush flag of that operation; otherwise it is the flush itself ("F", "FF" with
 * FUA or with preflush, "FS"). */
static __always_inline __u32 block_op_of_rwbs(char c0, char c1, char c2)
{
	if (c0 == 'F') {
		if (c1 == 'W' || c1 == 'R' || c1 == 'D' || c1 == 'N') {
			c0 = c1;
			c1 = c2;
		} else {
			return BLOCK_OP_FLUSH;
		}
	}
	switch (c0) {
	case 'R':
		return BLOCK_OP_READ;
	case 'W':
		return BLOCK_OP_WRITE;
	case 'D':
		return c1 == 'E' ? BLOCK_OP_OTHER : BLOCK_OP_DISCARD;
	default:
		return BLOCK_OP_OTHER;
	}
}

/* dev_t as the kernel encodes it (MKDEV: 12 bits of major, 20 of minor), of the whole disk. */
#define BLOCK_MINOR_BITS 20

/* One histogram row per {disk, operation}, u64 slots like every per-CPU value bpfex reads:
 *   slot[BLOCK_SLOT_SUM]            latency summed in ns
 *   slot[BLOCK_SLOT_BYTES]          bytes of requests that completed without error
 *   slot[BLOCK_SLOT_ERR_OVERFLOW]   failed requests not counted by status because block_errors was full
 *   slot[BLOCK_SLOT_BUCKET0 + i]    requests in bucket slot i of the histogram layout (native_histogram.h)
 * Rows are BLOCK_SLOT_BUCKET0 + nbuckets + 2 slots long, a size user space sets before load. */
#define BLOCK_SLOT_SUM 0
#define BLOCK_SLOT_BYTES 1
#define BLOCK_SLOT_ERR_OVERFLOW 2
#define BLOCK_SLOT_BUCKET0 3

struct block_key {
	__u32 dev; /* the disk's dev_t (MKDEV encoding): partitions count on their disk */
	__u32 op;  /* enum block_op */
};

/* How a request failed, as the completion reported it. Below BLOCK_ERROR_ERRNO: the blk_status_t
 * itself (tp_btf, raw_tp); from BLOCK_ERROR_ERRNO on: BLOCK_ERROR_ERRNO + the errno the tracepoint
 * record carries (blk_status_to_errno(); the tracepoint flavour, and kernels whose completion passed
 * an errno). */
#define BLOCK_ERROR_ERRNO 0x100

struct block_error_key {
	__u32 dev;
	__u16 op;
	__u16 error;
};

/* A request in flight (BPF side only), keyed by block_start_key. */
struct block_start_key {
	__u64 a; /* tp_btf, raw_tp: the struct request's address; tracepoint: its start sector */
	__u64 b; /* tracepoint: its disk's dev_t; 0 otherwise */
};

struct block_start {
	__u64 ts;    /* bpf_ktime_get_ns() at issue (or insert); 0 when not in flight */
	__u32 error; /* the first error a partial completion reported, as block_error_key.error */
	__u32 pad;
};

#endif /* BPFEX_KERNEL_BLOCK_H */
