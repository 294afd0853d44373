// SPDX-License-Identifier: GPL-2.0
/*
 * For bench/network/run.sh: attaches the first program of a BPF object to an interface's ingress
 * with a tcx link (the attach method bpfex uses; Debian 12's bpftool cannot make tcx links), prints
 * the program id, and holds the link until stdin closes. With "first", the link goes to the front of
 * the interface's tcx chain instead of the end.
 *
 *   tcx_hold OBJECT IFNAME [first]
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef BPF_TCX_INGRESS /* Linux 6.6; Debian 12's headers are 6.1 */
#define BPF_TCX_INGRESS ((enum bpf_attach_type)46)
#define BPF_F_BEFORE (1U << 3)
#endif

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_prog_info info = {};
	__u32 info_len = sizeof(info);
	unsigned ifindex;
	int link;
	char c;

	LIBBPF_OPTS(bpf_link_create_opts, opts);

	if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "first"))) {
		fprintf(stderr, "usage: %s OBJECT IFNAME [first]\n", argv[0]);
		return 2;
	}
	ifindex = if_nametoindex(argv[2]);
	if (!ifindex) {
		fprintf(stderr, "tcx_hold: interface %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "tcx_hold: load %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	prog = bpf_object__next_program(obj, NULL);
	if (!prog) {
		fprintf(stderr, "tcx_hold: %s has no program\n", argv[1]);
		return 1;
	}
	if (argc == 4)
		opts.flags = BPF_F_BEFORE; /* no relative program: before all of them */
	link = bpf_link_create(bpf_program__fd(prog), (int)ifindex, BPF_TCX_INGRESS, &opts);
	if (link < 0) {
		fprintf(stderr, "tcx_hold: tcx attach to %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &info_len);
	printf("%u\n", info.id);
	fflush(stdout);
	while (read(0, &c, 1) > 0) {
	}
	close(link);
	bpf_object__close(obj);
	return 0;
}
