// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * crate - TCP connection rate: connect, small request, response, close
 *
 *   crate HOST PORT COUNT PARALLEL
 *
 * Against an echo server (echosrv): PARALLEL threads share COUNT connections;
 * each connects, writes a 32-byte request, reads the 32-byte echo, checks it
 * and closes. Prints
 *
 *   conns=10000 parallel=32 failed=0 seconds=1.23 rate=8130
 *
 * (rate: completed connections per second) and exits 1 if any failed (the
 * first failures are described on stderr). Every blocking call is bounded by
 * 10 s. The client closes first, so each connection leaves a TIME_WAIT entry
 * behind on the connecting side: keep COUNT well under the ephemeral port
 * range per server address and port, per minute.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common.h"

#define REQUEST_LEN 32
#define MAX_THREADS 1024
#define MAX_REPORTS 10

static struct sockaddr_storage server;
static socklen_t server_len;
static unsigned long count;
static atomic_ulong next_conn, failed, reports;

static void report(unsigned long idx, const char *what, int err)
{
	if (atomic_fetch_add(&reports, 1) < MAX_REPORTS)
		fprintf(stderr, "crate: conn %lu: %s: %s\n", idx, what, err ? errname(err) : "EOF");
	atomic_fetch_add(&failed, 1);
}

static void one_conn(unsigned long idx)
{
	char req[REQUEST_LEN], resp[REQUEST_LEN];
	size_t got = 0;
	int fd;

	snprintf(req, sizeof(req), "crate %025lu", idx);
	fd = socket(server.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		report(idx, "socket", errno);
		return;
	}
	set_io_timeout(fd, 10);
	if (connect(fd, (struct sockaddr *)&server, server_len)) {
		report(idx, "connect", errno);
		goto out;
	}
	if (send(fd, req, REQUEST_LEN, MSG_NOSIGNAL) != REQUEST_LEN) {
		report(idx, "send", errno);
		goto out;
	}
	while (got < REQUEST_LEN) {
		ssize_t n = recv(fd, resp + got, REQUEST_LEN - got, 0);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			report(idx, "recv", n < 0 ? errno : 0);
			goto out;
		}
		got += (size_t)n;
	}
	if (memcmp(req, resp, REQUEST_LEN))
		report(idx, "response", EBADMSG);
out:
	close(fd);
}

static void *worker(void *arg)
{
	unsigned long idx;

	(void)arg;
	while ((idx = atomic_fetch_add(&next_conn, 1)) < count)
		one_conn(idx);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t threads[MAX_THREADS];
	unsigned long parallel, i, started = 0;
	uint64_t t0;
	double seconds;

	if (argc != 5) {
		fprintf(stderr, "usage: crate HOST PORT COUNT PARALLEL\n");
		return 2;
	}
	server_len = parse_sockaddr("crate", argv[1], argv[2], &server);
	count = parse_num("crate", "COUNT", argv[3], 1, 10000000);
	parallel = parse_num("crate", "PARALLEL", argv[4], 1, MAX_THREADS);
	raise_nofile();

	t0 = now_ns();
	for (i = 0; i < parallel; i++) {
		int err = pthread_create(&threads[i], NULL, worker, NULL);

		if (err) {
			fprintf(stderr, "crate: pthread_create: %s\n", strerror(err));
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	seconds = (double)(now_ns() - t0) / 1e9;
	printf("conns=%lu parallel=%lu failed=%lu seconds=%.2f rate=%.0f\n", count, started,
	       (unsigned long)failed, seconds, (double)(count - failed) / seconds);
	return failed || !started ? 1 : 0;
}
