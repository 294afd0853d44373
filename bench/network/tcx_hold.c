// SPDX-License-Identifier: GPL-2.0
/*
 * For bench/network/run.sh: attaches the first program of a BPF object to an interface's ingress
 * with a tcx link (the attach method bpfex uses; Debian 12's bpftool cannot make tcx links), prints
 * the program id, and holds the link until stdin closes.
 *
 *   tcx_hold OBJECT IFNAME
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef BPF_TCX_INGRESS
#define BPF_TCX_INGRESS ((enum bpf_attach_type)46) /* Linux 6.6; Debian 12's headers are 6.1 */
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

	if (argc != 3) {
		fprintf(stderr, "usage: %s OBJECT IFNAME\n", argv[0]);
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
	link = bpf_link_create(bpf_program__fd(prog), (int)ifindex, BPF_TCX_INGRESS, NULL);
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
