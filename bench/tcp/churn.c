// TCP connection churn for bench/tcp/run.sh: one thread pinned to one CPU opens connections to a
// listener of its own on ADDR:PORT and closes them, for SECS seconds (at most 60): connect, accept,
// the server side closes first (its TIME_WAIT, not the client's, so the client's ephemeral ports do
// not run out), the client reads the end and closes. Every REFUSE_EVERY-th round (0: never) it also
// connects to CLOSED_PORT, where nothing listens: refused, a reset each way. With FULL_PORT, a
// listener there that never accepts holds 4 connects at a time for 1.2 s each: their SYNs overflow
// its queue and are retransmitted after 1 s. With DEFER_PORT, a listener there with TCP_DEFER_ACCEPT
// (1 s) holds 8 more connects at a time for 1.2 s each: it ignores their bare ACK and retransmits
// its SYN-ACK when the deferral ends, after 1 s (the SYN-ACK retransmit tracepoint's events).
// Sender, receiver and the loopback softirq share the CPU, so connections/s is the inverse of what
// one costs end to end.
// Prints "conns=N refused=N syn_waits=N synack_waits=N secs=S conns_per_s=X".
//   churn ADDR PORT CLOSED_PORT SECS CPU [REFUSE_EVERY [FULL_PORT [DEFER_PORT]]]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: %s ADDR PORT CLOSED_PORT SECS CPU [REFUSE_EVERY [FULL_PORT [DEFER_PORT]]]\n",
			argv[0]);
		return 2;
	}
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
	struct sockaddr_in closed = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
	if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1 || inet_pton(AF_INET, argv[1], &closed.sin_addr) != 1)
		return 2;
	double secs = atof(argv[4]);
	if (secs > 60)
		secs = 60;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(atoi(argv[5]), &set);
	sched_setaffinity(0, sizeof(set), &set);
	long refuse_every = argc > 6 ? atol(argv[6]) : 0;
	int one = 1, full = -1, pending[4], npending = 0, defer = -1, deferred[8], ndeferred = 0;
	long syn_waits = 0, synack_waits = 0;
	double pending_since = 0;
	struct sockaddr_in full_addr = addr;
	if (argc > 7) {
		full_addr.sin_port = htons(atoi(argv[7]));
		full = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(full, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(full, (struct sockaddr *)&full_addr, sizeof(full_addr)) || listen(full, 0)) {
			perror("listen (full)");
			return 1;
		}
	}

	struct sockaddr_in defer_addr = addr;
	if (argc > 8) {
		defer_addr.sin_port = htons(atoi(argv[8]));
		defer = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(defer, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(defer, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof(one));
		if (bind(defer, (struct sockaddr *)&defer_addr, sizeof(defer_addr)) || listen(defer, 128)) {
			perror("listen (defer)");
			return 1;
		}
	}

	int srv = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(srv, (struct sockaddr *)&addr, sizeof(addr)) || listen(srv, 128)) {
		perror("listen");
		return 1;
	}
	long conns = 0, refused = 0;
	char byte;
	double t0 = now(), end = t0 + secs;
	while (now() < end) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(c, (struct sockaddr *)&addr, sizeof(addr))) {
			perror("connect");
			return 1;
		}
		int a = accept(srv, NULL, NULL);
		if (a < 0) {
			perror("accept");
			return 1;
		}
		close(a);
		if (read(c, &byte, 1) != 0) {
			fprintf(stderr, "churn: expected the end of the connection\n");
			return 1;
		}
		close(c);
		conns++;
		if (full >= 0 && now() - pending_since > 1.2) {
			for (int i = 0; i < npending; i++)
				close(pending[i]);
			for (npending = 0; npending < 4; npending++) {
				pending[npending] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
				connect(pending[npending], (struct sockaddr *)&full_addr, sizeof(full_addr));
			}
			syn_waits += npending;
			for (int i = 0; i < ndeferred; i++)
				close(deferred[i]);
			for (ndeferred = 0; defer >= 0 && ndeferred < 8; ndeferred++) {
				deferred[ndeferred] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
				connect(deferred[ndeferred], (struct sockaddr *)&defer_addr, sizeof(defer_addr));
			}
			synack_waits += ndeferred;
			pending_since = now();
		}
		if (refuse_every && conns % refuse_every == 0) {
			int r = socket(AF_INET, SOCK_STREAM, 0);
			if (connect(r, (struct sockaddr *)&closed, sizeof(closed)) == 0 || errno != ECONNREFUSED) {
				fprintf(stderr, "churn: a connect to the closed port was not refused: %s\n", strerror(errno));
				return 1;
			}
			close(r);
			refused++;
		}
	}
	double elapsed = now() - t0;
	printf("conns=%ld refused=%ld syn_waits=%ld synack_waits=%ld secs=%.2f conns_per_s=%.0f\n", conns, refused,
	       syn_waits, synack_waits, elapsed, conns / elapsed);
	return 0;
}
