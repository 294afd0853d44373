// Loopback UDP load for bench/network/run.sh: a receiver (child, pinned to one CPU) and a sender
// (pinned to the other) exchange SIZE-byte datagrams for SECS seconds (at most 60), in batches of
// 64 (sendmmsg/recvmmsg). Prints "sent=N recv=N send_pps=X recv_pps=X".
//   udp_flood ADDR PORT SECS [SIZE] [SEND_CPU] [RECV_CPU]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s ADDR PORT SECS [SIZE] [SEND_CPU] [RECV_CPU]\n", argv[0]);
		return 2;
	}
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
	if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1)
		return 2;
	double secs = atof(argv[3]);
	if (secs > 60)
		secs = 60;
	int size = argc > 4 ? atoi(argv[4]) : 64;
	int send_cpu = argc > 5 ? atoi(argv[5]) : 0, recv_cpu = argc > 6 ? atoi(argv[6]) : 1;
	if (size < 1 || size > 1400)
		return 2;

	int rx = socket(AF_INET, SOCK_DGRAM, 0), rcvbuf = 8 << 20;
	setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	if (bind(rx, (struct sockaddr *)&addr, sizeof(addr))) {
		perror("bind");
		return 1;
	}
	int result[2];
	if (pipe(result))
		return 1;
	pid_t child = fork();
	if (child == 0) {
		static char bufs[BATCH][2048];
		struct mmsghdr msgs[BATCH];
		struct iovec iov[BATCH];
		struct timeval tv = { 0, 300000 };
		long received = 0;
		pin(recv_cpu);
		setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		memset(msgs, 0, sizeof(msgs));
		for (int i = 0; i < BATCH; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = sizeof(bufs[i]);
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		double end = now() + secs + 5; /* bounded even if the sender never starts */
		while (now() < end) {
			int n = recvmmsg(rx, msgs, BATCH, 0, NULL);
			if (n > 0)
				received += n;
			else if (received)
				break; /* 300 ms of silence after traffic: the sender is done */
		}
		if (write(result[1], &received, sizeof(received)) < 0)
			_exit(1);
		_exit(0);
	}
	close(rx);
	pin(send_cpu);
	usleep(100000);
	int tx = socket(AF_INET, SOCK_DGRAM, 0);
	if (connect(tx, (struct sockaddr *)&addr, sizeof(addr))) {
		perror("connect");
		return 1;
	}
	static char payload[1400];
	struct iovec iov = { payload, (size_t)size };
	struct mmsghdr msgs[BATCH];
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	long sent = 0;
	double t0 = now(), end = t0 + secs;
	while (now() < end) {
		int n = sendmmsg(tx, msgs, BATCH, 0);
		if (n > 0)
			sent += n;
		else if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED) {
			perror("sendmmsg");
			break;
		}
	}
	double elapsed = now() - t0;
	long received = 0;
	if (read(result[0], &received, sizeof(received)) < 0)
		return 1;
	waitpid(child, NULL, 0);
	printf("sent=%ld recv=%ld send_pps=%.0f recv_pps=%.0f\n", sent, received, sent / elapsed,
	       received / elapsed);
	return 0;
}
