// A tight getppid loop: the cheapest syscall, so that what tracing adds per call dominates.
// usage: loop [CALLS=5000000] [CHUNKS=10]
// prints the median over chunks of ns per call, in CPU time of this thread: BPF programs run in the
// calling thread, so their cost is included, while time other processes take the CPU away (the
// benchmark machine is shared) is not.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	long calls = argc > 1 ? atol(argv[1]) : 5000000;
	int chunks = argc > 2 ? atoi(argv[2]) : 10;
	long per = calls / chunks;
	double *ns = calloc(chunks, sizeof(*ns));

	if (!ns || per <= 0)
		return 1;
	for (long i = 0; i < 100000; i++) /* warm up */
		syscall(SYS_getppid);
	for (int c = 0; c < chunks; c++) {
		double t0 = now_ns();
		for (long i = 0; i < per; i++)
			syscall(SYS_getppid);
		ns[c] = (now_ns() - t0) / per;
	}
	qsort(ns, chunks, sizeof(*ns), cmp);
	printf("%.2f\n", ns[chunks / 2]);
	return 0;
}
