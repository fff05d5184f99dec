// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * connprobe - One blocking connect(), and what it gave and when
 *
 *   connprobe HOST PORT
 *
 * Prints the errno name of a failed connect() (ECONNREFUSED, EHOSTUNREACH,
 * ENETUNREACH, ETIMEDOUT, ...) or "ok", then the elapsed milliseconds, e.g.
 * "ECONNREFUSED 3", and exits 0 either way: the tests compare text, and
 * compare it with what the same probe sees outside the sandbox.
 *
 * CONNPROBE_USER_TIMEOUT_MS, if set, sets TCP_USER_TIMEOUT before connect(),
 * which bounds the kernel's SYN retransmissions: the tests' --direct mode uses
 * it to stand in for pmsocks-ns's connect timeout (a direct connect() to a
 * silent address would otherwise wait for the kernel's two minutes). Without
 * it, this is the plain connect() a sandboxed program does.
 */
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	const char *user_timeout = getenv("CONNPROBE_USER_TIMEOUT_MS");
	socklen_t len;
	uint64_t t0;
	int fd, rc, err;

	if (argc != 3) {
		fprintf(stderr, "usage: connprobe HOST PORT\n");
		return 2;
	}
	len = parse_sockaddr("connprobe", argv[1], argv[2], &ss);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		printf("socket:%s 0\n", errname(errno));
		return 0;
	}
	if (user_timeout && *user_timeout) {
		unsigned ms = (unsigned)parse_num("connprobe", "CONNPROBE_USER_TIMEOUT_MS",
						  user_timeout, 1, 3600000);

		if (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms))) {
			perror("connprobe: TCP_USER_TIMEOUT");
			return 1;
		}
	}
	t0 = now_ns();
	rc = connect(fd, (struct sockaddr *)&ss, len); /* no handlers: no EINTR */
	err = errno;
	printf("%s %llu\n", rc ? errname(err) : "ok",
	       (unsigned long long)((now_ns() - t0) / 1000000u));
	close(fd);
	return 0;
}
