// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rr - 1-byte request/response latency over one TCP connection
 *
 *   rr HOST PORT COUNT
 *
 * Against an echo server (echosrv): connects once (TCP_NODELAY), does 100
 * untimed warm-up round trips, then COUNT timed ones, each writing one byte
 * and reading it back, and prints
 *
 *   count=20000 median_us=23.4 p99_us=41.0
 *
 * Exits 1 on any error (each blocking call is bounded by 10 s).
 */
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common.h"

#define WARMUP 100

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int round_trip(int fd, unsigned char byte)
{
	unsigned char back;
	ssize_t n;

	if (send(fd, &byte, 1, MSG_NOSIGNAL) != 1) {
		fprintf(stderr, "rr: send: %s\n", errname(errno));
		return -1;
	}
	do {
		n = recv(fd, &back, 1, 0);
	} while (n < 0 && errno == EINTR);
	if (n != 1 || back != byte) {
		fprintf(stderr, "rr: recv: %s\n", n == 1 ? "wrong byte" : recv_result(n));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	unsigned long count, i;
	uint64_t *rtt;
	int fd, one = 1;

	if (argc != 4) {
		fprintf(stderr, "usage: rr HOST PORT COUNT\n");
		return 2;
	}
	len = parse_sockaddr("rr", argv[1], argv[2], &ss);
	count = parse_num("rr", "COUNT", argv[3], 1, 10000000);
	rtt = calloc(count, sizeof(*rtt));
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!rtt || fd < 0) {
		perror("rr: setup");
		return 1;
	}
	set_io_timeout(fd, 10);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&ss, len)) {
		fprintf(stderr, "rr: connect: %s\n", errname(errno));
		return 1;
	}
	for (i = 0; i < WARMUP; i++)
		if (round_trip(fd, (unsigned char)i))
			return 1;
	for (i = 0; i < count; i++) {
		uint64_t t0 = now_ns();

		if (round_trip(fd, (unsigned char)i))
			return 1;
		rtt[i] = now_ns() - t0;
	}
	close(fd);
	qsort(rtt, count, sizeof(*rtt), cmp_u64);
	printf("count=%lu median_us=%.1f p99_us=%.1f\n", count, (double)rtt[count / 2] / 1e3,
	       (double)rtt[count * 99 / 100] / 1e3);
	free(rtt);
	return 0;
}
