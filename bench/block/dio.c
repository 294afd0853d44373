// O_DIRECT 4 KB reads from a block device, one at a time: each is one request issued and completed,
// the events the block module and biolatency observe.
// usage: dio DEVICE [READS=50000] [CHUNKS=10]
// prints the median over chunks of wall-clock ns per read: the request completes in the device's
// context (the loop device's worker), not in this thread, so thread CPU time would miss the
// completion's cost.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	long reads = argc > 2 ? atol(argv[2]) : 50000;
	int chunks = argc > 3 ? atoi(argv[3]) : 10;
	long per = reads / chunks;
	double *ns = calloc(chunks, sizeof(*ns));
	void *buf;
	int fd;
	off_t size, at = 0;

	if (argc < 2 || !ns || per <= 0 || posix_memalign(&buf, 4096, 4096))
		return 2;
	fd = open(argv[1], O_RDONLY | O_DIRECT);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	size = lseek(fd, 0, SEEK_END);
	if (size < 1 << 20)
		return 1;
	for (long i = 0; i < 2000; i++) /* warm up */
		if (pread(fd, buf, 4096, (i * 4096) % size) != 4096)
			return 1;
	for (int c = 0; c < chunks; c++) {
		double t0 = now_ns();
		for (long i = 0; i < per; i++) {
			if (pread(fd, buf, 4096, at) != 4096)
				return 1;
			at = (at + 69632) % (size - 4096) / 4096 * 4096; /* spread, never merged */
		}
		ns[c] = (now_ns() - t0) / per;
	}
	qsort(ns, chunks, sizeof(*ns), cmp);
	printf("%.1f\n", ns[chunks / 2]);
	return 0;
}
