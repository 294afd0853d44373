// Two threads ping-pong a byte over two pipes, both pinned to one CPU: every round trip is two
// wakeups and two context switches, the events the runqueue module and runqlat observe.
// usage: pingpong CPU [ROUNDS=200000] [CHUNKS=10]
// prints the median over chunks of ns per round trip in the process's CPU time: the tracers'
// programs run in these threads (the wakeup in the waker, the switch in the scheduler on their
// CPU), while time other processes take the CPU away (the machine is shared) is not counted.
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int ping[2], pong[2];

static double cpu_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void *echo(void *arg)
{
	char c;
	(void)arg;
	while (read(ping[0], &c, 1) == 1)
		if (write(pong[1], &c, 1) != 1)
			break;
	return NULL;
}

static void round_trip(void)
{
	char c = 'x';
	if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
		exit(1);
}

int main(int argc, char **argv)
{
	int cpu = argc > 1 ? atoi(argv[1]) : 0;
	long rounds = argc > 2 ? atol(argv[2]) : 200000;
	int chunks = argc > 3 ? atoi(argv[3]) : 10;
	long per = rounds / chunks;
	double *ns = calloc(chunks, sizeof(*ns));
	cpu_set_t set;
	pthread_t thread;

	if (!ns || per <= 0 || pipe(ping) || pipe(pong))
		return 1;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) /* the echo thread inherits it */
		return 1;
	if (pthread_create(&thread, NULL, echo, NULL))
		return 1;
	for (long i = 0; i < 10000; i++) /* warm up */
		round_trip();
	for (int c = 0; c < chunks; c++) {
		double t0 = cpu_ns();
		for (long i = 0; i < per; i++)
			round_trip();
		ns[c] = (cpu_ns() - t0) / per;
	}
	qsort(ns, chunks, sizeof(*ns), cmp);
	printf("%.1f\n", ns[chunks / 2]);
	return 0;
}
