// SPDX-License-Identifier: GPL-2.0
/*
 * For bench/network/burst.sh: what attaching a program to an interface's ingress and egress costs,
 * per attach method, and what undoing it costs. Attaches the first program of a BPF object to
 * PREFIX0 .. PREFIX<COUNT-1>, ingress and egress, with tcx links (bpf_link_create, as bpfex on
 * Linux 6.6+) or tc clsact filters (libbpf's bpf_tc_*: the qdisc created, then one filter per
 * direction, as bpfex before 6.6), one interface after the other; then detaches them all (closing
 * the links; deleting the filters and the qdisc). Prints one line:
 *
 *   METHOD COUNT attach_ms_per_interface attach_max_ms detach_ms_per_interface
 *
 *   attach_cost OBJECT tcx|tc PREFIX COUNT
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef BPF_TCX_INGRESS /* Linux 6.6; Debian 12's headers are 6.1 */
#define BPF_TCX_INGRESS ((enum bpf_attach_type)46)
#define BPF_TCX_EGRESS ((enum bpf_attach_type)47)
#endif

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int attach_tc(int prog, int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, both, .ifindex = ifindex,
		    .attach_point = (enum bpf_tc_attach_point)(BPF_TC_INGRESS | BPF_TC_EGRESS));
	int err = bpf_tc_hook_create(&both);

	if (err && err != -EEXIST)
		return err;
	for (int ingress = 1; ingress >= 0; ingress--) {
		LIBBPF_OPTS(bpf_tc_hook, one, .ifindex = ifindex,
			    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
		LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog, .handle = 1, .priority = 1);
		err = bpf_tc_attach(&one, &opts);
		if (err)
			return err;
	}
	return 0;
}

static void detach_tc(int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, both, .ifindex = ifindex,
		    .attach_point = (enum bpf_tc_attach_point)(BPF_TC_INGRESS | BPF_TC_EGRESS));

	for (int ingress = 1; ingress >= 0; ingress--) {
		LIBBPF_OPTS(bpf_tc_hook, one, .ifindex = ifindex,
			    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
		LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = 1);
		bpf_tc_detach(&one, &opts);
	}
	bpf_tc_hook_destroy(&both);
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	double start, worst = 0, attached, detached;
	int count, tc, *links;

	if (argc != 5 || (strcmp(argv[2], "tcx") && strcmp(argv[2], "tc")) || atoi(argv[4]) <= 0) {
		fprintf(stderr, "usage: %s OBJECT tcx|tc PREFIX COUNT\n", argv[0]);
		return 2;
	}
	tc = !strcmp(argv[2], "tc");
	count = atoi(argv[4]);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "attach_cost: load %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	prog = bpf_object__next_program(obj, NULL);
	if (!prog) {
		fprintf(stderr, "attach_cost: %s has no program\n", argv[1]);
		return 1;
	}
	links = calloc((size_t)count * 2, sizeof(*links));
	int *ifindexes = calloc((size_t)count, sizeof(*ifindexes));
	if (!links || !ifindexes)
		return 1;
	for (int i = 0; i < count; i++) {
		char name[IF_NAMESIZE + 8];

		snprintf(name, sizeof(name), "%s%d", argv[3], i);
		ifindexes[i] = (int)if_nametoindex(name);
		if (!ifindexes[i]) {
			fprintf(stderr, "attach_cost: interface %s: %s\n", name, strerror(errno));
			return 1;
		}
	}
	start = now_ms();
	for (int i = 0; i < count; i++) {
		double t = now_ms();

		if (tc) {
			int err = attach_tc(bpf_program__fd(prog), ifindexes[i]);

			if (err) {
				fprintf(stderr, "attach_cost: tc attach: %s\n", strerror(-err));
				return 1;
			}
		} else {
			for (int d = 0; d < 2; d++) {
				links[2 * i + d] = bpf_link_create(bpf_program__fd(prog), ifindexes[i],
								   d ? BPF_TCX_EGRESS : BPF_TCX_INGRESS, NULL);
				if (links[2 * i + d] < 0) {
					fprintf(stderr, "attach_cost: tcx attach: %s\n", strerror(errno));
					return 1;
				}
			}
		}
		t = now_ms() - t;
		if (t > worst)
			worst = t;
	}
	attached = now_ms() - start;
	start = now_ms();
	for (int i = 0; i < count; i++) {
		if (tc) {
			detach_tc(ifindexes[i]);
		} else {
			close(links[2 * i]);
			close(links[2 * i + 1]);
		}
	}
	detached = now_ms() - start;
	printf("%s %d %.3f %.3f %.3f\n", argv[2], count, attached / count, worst, detached / count);
	bpf_object__close(obj);
	free(links);
	free(ifindexes);
	return 0;
}
