// Loads and attaches the programs of a BPF object file (all of them, or the ones named), prints
// "ready", holds them until a signal.
// usage: floor OBJECT [PROGRAM...]
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void on_signal(int sig)
{
	(void)sig;
}

static bool wanted(const char *name, int argc, char **argv)
{
	if (argc == 2)
		return true;
	for (int i = 2; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;

	if (argc < 2) {
		fprintf(stderr, "usage: floor OBJECT [PROGRAM...]\n");
		return 2;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "floor: cannot open %s\n", argv[1]);
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		if (!bpf_object__find_program_by_name(obj, argv[i])) {
			fprintf(stderr, "floor: %s has no program %s\n", argv[1], argv[i]);
			return 1;
		}
	}
	bpf_object__for_each_program(prog, obj) {
		bpf_program__set_autoload(prog, wanted(bpf_program__name(prog), argc, argv));
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "floor: cannot load %s\n", argv[1]);
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		if (!bpf_program__autoload(prog))
			continue;
		if (!bpf_program__attach(prog)) {
			fprintf(stderr, "floor: cannot attach %s\n", bpf_program__name(prog));
			return 1;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("ready\n");
	fflush(stdout);
	pause();
	return 0; /* links are destroyed with the process */
}
