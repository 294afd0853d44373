/* The examples count what every task does, except where a test must count exactly: those count only
 * tasks whose name starts with "bpfexprobe" (the integration tests name their threads so). A real
 * program would filter on what it cares about instead, or not at all. */
#ifndef BPFEX_EXAMPLES_PROBE_H
#define BPFEX_EXAMPLES_PROBE_H

static __always_inline bool probe_task(void)
{
	char comm[16];
	const char want[] = "bpfexprobe";

	bpf_get_current_comm(comm, sizeof comm);
	for (int i = 0; i < (int)sizeof want - 1; i++)
		if (comm[i] != want[i])
			return false;
	return true;
}

#endif
