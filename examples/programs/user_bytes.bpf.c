// SPDX-License-Identifier: GPL-2.0
/* user_bytes: label decoders on bytes a probe task (probe.h) hands to write(2) on a negative file
 * descriptor that selects the map (tracepoint syscalls/sys_enter_write; the write fails with EBADF),
 * and the writers' cgroups: a way to show what each decoder makes of any bytes. Decoders:
 * majorminor, dname, string (any bytes: bpfex exports them as valid UTF-8), hex, uint + static_map
 * with allow_unknown, uint + cgroup. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bpfex_programs.bpf.h"
#include "probe.h"

char LICENSE[] SEC("license") = "GPL";

#define MAP(name, key_size)                          \
	struct {                                     \
		__uint(type, BPF_MAP_TYPE_HASH);     \
		__uint(max_entries, 1024);           \
		__type(key, struct { __u8 b[key_size]; }); \
		__type(value, __u64);                \
	} name SEC(".maps")

MAP(user_devices_total, 4);
MAP(user_dnames_total, 32);
MAP(user_strings_total, 16);
MAP(user_hex_total, 8);
MAP(user_codes_total, 4);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64);
} user_cgroups_total SEC(".maps");

/* Copies size bytes of the user's buffer into a key and counts it (the rest of the key stays zero). */
#define COUNT_BYTES(map, size, buf)                                  \
	do {                                                         \
		struct { __u8 b[size]; } key = {};                   \
		if (bpf_probe_read_user(key.b, sizeof key.b, buf) == 0) \
			bpfex_count(&(map), &key, 1);                \
	} while (0)

SEC("tracepoint/syscalls/sys_enter_write")
int user_bytes_tracepoint(struct trace_event_raw_sys_enter *ctx)
{
	int fd = (int)ctx->args[0];
	const void *buf = (const void *)ctx->args[1];
	__u64 cgroup;

	if (fd > -101 || fd < -105 || !probe_task())
		return 0;
	switch (fd) {
	case -101: COUNT_BYTES(user_devices_total, 4, buf); break;
	case -102: COUNT_BYTES(user_dnames_total, 32, buf); break;
	case -103: COUNT_BYTES(user_strings_total, 16, buf); break;
	case -104: COUNT_BYTES(user_hex_total, 8, buf); break;
	case -105: COUNT_BYTES(user_codes_total, 4, buf); break;
	}
	cgroup = bpf_get_current_cgroup_id();
	bpfex_count(&user_cgroups_total, &cgroup, 1);
	return 0;
}
