// Listen-queue overflows on both of the kernel's paths, for bench/tcp/guest.sh: rounds of about
// 1.5 s on a fresh listener on ADDR:PORT (IPv4 or IPv6 by ADDR), for SECS seconds (at most 60).
//
// The listener has backlog 4 (its accept queue is full at 5) and TCP_DEFER_ACCEPT, which makes it
// ignore a handshake's bare ACK: the connection stays a request until data arrives, and only then
// does the kernel create its socket (tcp_v4_syn_recv_sock / tcp_v6_syn_recv_sock), where a full
// accept queue counts ListenOverflows. Each round:
//   1. 2 connects complete their handshake and stay requests (their ACK ignored);
//   2. 5 connects each send a byte: 5 sockets in the accept queue, now full (never accepted);
//   3. 1 more connect: its SYN finds the queue full (tcp_conn_request counts it, then the SYN's
//      retransmit after 1 s);
//   4. the 2 of step 1 send a byte: the socket cannot be made, the queue is full (the ACK side);
//      their retransmits of it overflow again until the round ends.
// Then everything is closed. Requests (step 1) stay under the backlog, so no SYN cookies.
// Prints "rounds=N secs=S".
//   overflow ADDR PORT SECS [CPU]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { BACKLOG = 4, REQUESTS = 2, QUEUED = BACKLOG + 1 };

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void pause_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static int client(const struct sockaddr_storage *to, socklen_t len, int nonblock)
{
	int fd = socket(to->ss_family, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0) {
		perror("socket");
		exit(1);
	}
	if (connect(fd, (const struct sockaddr *)to, len) && !(nonblock && errno == EINPROGRESS)) {
		perror("connect");
		exit(1);
	}
	return fd;
}

/* Waits until a nonblocking connect completed its handshake (the SYN-ACK came back). */
static void connected(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int err = 0;
	socklen_t len = sizeof(err);
	if (poll(&p, 1, 3000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		fprintf(stderr, "overflow: a connect did not complete: %s\n", strerror(err ? err : ETIMEDOUT));
		exit(1);
	}
}

static void send_byte(int fd)
{
	if (write(fd, "x", 1) != 1) {
		perror("write");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s ADDR PORT SECS [CPU]\n", argv[0]);
		return 2;
	}
	struct sockaddr_storage addr = { 0 };
	socklen_t len;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
	if (inet_pton(AF_INET, argv[1], &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(atoi(argv[2]));
		len = sizeof(*a4);
	} else if (inet_pton(AF_INET6, argv[1], &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(atoi(argv[2]));
		len = sizeof(*a6);
	} else {
		fprintf(stderr, "overflow: %s is not an address\n", argv[1]);
		return 2;
	}
	double secs = atof(argv[3]);
	if (secs > 60)
		secs = 60;
	if (argc > 4) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(atoi(argv[4]), &set);
		sched_setaffinity(0, sizeof(set), &set);
	}

	long rounds = 0;
	int one = 1, defer = 10; /* seconds: longer than a round */
	double t0 = now(), end = t0 + secs;
	while (now() < end) {
		int l = socket(addr.ss_family, SOCK_STREAM, 0);
		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer));
		if (bind(l, (struct sockaddr *)&addr, len) || listen(l, BACKLOG)) {
			perror("listen");
			return 1;
		}
		int requests[REQUESTS], queued[QUEUED];
		for (int i = 0; i < REQUESTS; i++) {
			requests[i] = client(&addr, len, 1);
			connected(requests[i]);
		}
		for (int i = 0; i < QUEUED; i++) {
			queued[i] = client(&addr, len, 0);
			send_byte(queued[i]);
		}
		pause_ms(50); /* the bytes reach the listener: its queue is full */
		int late = client(&addr, len, 1);
		for (int i = 0; i < REQUESTS; i++)
			send_byte(requests[i]);
		pause_ms(1400); /* the retransmits: data from 0.2 s on, the late SYN's at 1 s */
		close(late);
		for (int i = 0; i < REQUESTS; i++)
			close(requests[i]);
		for (int i = 0; i < QUEUED; i++)
			close(queued[i]);
		close(l);
		rounds++;
	}
	printf("rounds=%ld secs=%.2f\n", rounds, now() - t0);
	return 0;
}
