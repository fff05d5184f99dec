// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * closeprobe - Half-close, reset and flow-control probes, client and server
 *
 *   closeprobe server PORT            serve probes on [::]:PORT (IPv4 and IPv6)
 *   closeprobe HOST PORT MODE [BYTES] run one probe (BYTES: K, M, G suffixes)
 *
 * The client sends a header line "MODE BYTES\n", then both sides play MODE:
 *
 *   client-fin  client sends BYTES and shuts down its write side; the server
 *               reads to EOF and only then replies BYTES and closes: the
 *               reply travels entirely after the client's FIN
 *   server-fin  server sends BYTES and shuts down its write side first; the
 *               client reads to EOF, then sends BYTES and shuts down; the
 *               server reads them to EOF (its verdict is in its log)
 *   server-rst  server resets the connection (SO_LINGER 0) after the header;
 *               the client's read must fail with ECONNRESET
 *   client-rst  server sends one byte, client resets after reading it; the
 *               server's read must fail with ECONNRESET (in its log)
 *   flow-up     client sends BYTES while the server does not read: the client
 *               reports how much its socket took before it stalled (flow
 *               control: that must stay far below BYTES); then the server
 *               reads and verifies everything and replies "ok"
 *   flow-down   the same the other way: the server writes, the client pauses,
 *               the server's log reports where it stalled
 *
 * A paused reader resumes once its receive queue has not grown for 1.5 s,
 * and a writer counts as stalled when it could not write for 0.5 s, so the
 * writer always sees its stall before the reader resumes, however slowly the
 * buffers filled. Data is the connection-independent test pattern (common.h)
 * with one key per direction and mode, verified byte for byte.
 *
 * The client prints one line: "ok ..." (exit 0), the errno name of a
 * server-rst read, or "FAIL ..." (exit 1). The server prints one line per
 * connection ("MODE ok ..." or "MODE FAIL ...") and serves one connection at
 * a time until killed. Every blocking call is bounded by 20 s.
 */
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common.h"

#define IO_TIMEOUT_S	 20
#define STALL_MS	 500
#define RESUME_STABLE_MS 1500

enum { KEY_UP = 101, KEY_DOWN = 202 };

static const char *prog = "closeprobe";

static int write_pattern(int fd, uint64_t key, uint64_t len)
{
	uint64_t sent = 0;

	while (sent < len) {
		uint64_t left = len - sent;
		size_t run = left < PATTERN_MAX_RUN ? (size_t)left : PATTERN_MAX_RUN;
		ssize_t n = send(fd, pattern_at(key, sent), run, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		sent += (uint64_t)n;
	}
	return 0;
}

/* Read to EOF; 0 if exactly LEN pattern bytes came, else -errno or -EBADMSG. */
static int read_pattern_eof(int fd, uint64_t key, uint64_t len, uint64_t *got)
{
	static unsigned char buf[PATTERN_MAX_RUN];

	*got = 0;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return *got == len ? 0 : -EPIPE;
		if (*got + (uint64_t)n > len || pattern_mismatch(key, *got, buf, (size_t)n) >= 0)
			return -EBADMSG;
		*got += (uint64_t)n;
	}
}

/* Write LEN bytes, noting how much had been taken when writing first stalled. */
static int write_pattern_stall(int fd, uint64_t key, uint64_t len, uint64_t *stalled_at)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	uint64_t sent = 0, deadline = now_ns() + 60 * 1000000000ull;
	bool stalled = false;

	*stalled_at = len; /* never stalled: everything fit */
	while (sent < len) {
		uint64_t left = len - sent;
		size_t run = left < PATTERN_MAX_RUN ? (size_t)left : PATTERN_MAX_RUN;
		ssize_t n = send(fd, pattern_at(key, sent), run, MSG_NOSIGNAL | MSG_DONTWAIT);
		int r;

		if (n > 0) {
			sent += (uint64_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (now_ns() > deadline)
			return -ETIMEDOUT;
		r = poll(&p, 1, STALL_MS);
		if (r == 0 && !stalled) {
			stalled = true;
			*stalled_at = sent;
		}
	}
	return 0;
}

/* Wait until the receive queue has stopped growing (the writer has stalled). */
static void wait_queue_stable(int fd)
{
	uint64_t deadline = now_ns() + 30 * 1000000000ull, stable_since = now_ns();
	int last = -1;

	while (now_ns() < deadline) {
		int queued = 0;

		ioctl(fd, FIONREAD, &queued);
		if (queued != last) {
			last = queued;
			stable_since = now_ns();
		} else if (queued > 0 && now_ns() - stable_since >= RESUME_STABLE_MS * 1000000ull) {
			return;
		}
		poll(NULL, 0, 50);
	}
}

static int read_line(int fd, char *line, size_t size)
{
	size_t len = 0;

	while (len + 1 < size) {
		ssize_t n = recv(fd, line + len, 1, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (line[len] == '\n')
			break;
		len++;
	}
	line[len] = '\0';
	return len ? 0 : -1;
}

static void reset_close(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static const char *err_text(int err)
{
	return err == -EPIPE ? "EOF before all data" : errname(-err);
}

/* ---- server ---------------------------------------------------------------- */

static void serve_one(int fd)
{
	char header[64], mode[32], reply[64];
	unsigned long long len = 0;
	uint64_t got, stalled_at;
	int err;

	set_io_timeout(fd, IO_TIMEOUT_S);
	if (read_line(fd, header, sizeof(header)) || sscanf(header, "%31s %llu", mode, &len) < 1) {
		printf("? FAIL no header\n");
		close(fd);
		return;
	}
	if (!strcmp(mode, "client-fin")) {
		err = read_pattern_eof(fd, KEY_UP, len, &got);
		if (!err)
			err = write_pattern(fd, KEY_DOWN, len);
		if (err)
			printf("%s FAIL %s (received %llu)\n", mode, err_text(err),
			       (unsigned long long)got);
		else
			printf("%s ok received=%llu\n", mode, (unsigned long long)got);
	} else if (!strcmp(mode, "server-fin")) {
		err = write_pattern(fd, KEY_DOWN, len);
		if (!err && shutdown(fd, SHUT_WR))
			err = -errno;
		got = 0;
		if (!err)
			err = read_pattern_eof(fd, KEY_UP, len, &got);
		if (err)
			printf("%s FAIL %s (received %llu)\n", mode, err_text(err),
			       (unsigned long long)got);
		else
			printf("%s ok received=%llu\n", mode, (unsigned long long)got);
	} else if (!strcmp(mode, "server-rst")) {
		reset_close(fd);
		printf("%s ok reset sent\n", mode);
		return;
	} else if (!strcmp(mode, "client-rst")) {
		char byte;
		ssize_t n;

		if (send(fd, "k", 1, MSG_NOSIGNAL) != 1) {
			printf("%s FAIL send: %s\n", mode, errname(errno));
		} else {
			n = recv(fd, &byte, 1, 0);
			if (n < 0 && errno == ECONNRESET)
				printf("%s ok ECONNRESET\n", mode);
			else
				printf("%s FAIL read gave %s\n", mode, recv_result(n));
		}
	} else if (!strcmp(mode, "flow-up")) {
		wait_queue_stable(fd);
		err = read_pattern_eof(fd, KEY_UP, len, &got);
		snprintf(reply, sizeof(reply), "%s\n", err ? err_text(err) : "ok");
		send(fd, reply, strlen(reply), MSG_NOSIGNAL);
		if (err)
			printf("%s FAIL %s (received %llu)\n", mode, err_text(err),
			       (unsigned long long)got);
		else
			printf("%s ok received=%llu\n", mode, (unsigned long long)got);
	} else if (!strcmp(mode, "flow-down")) {
		err = write_pattern_stall(fd, KEY_DOWN, len, &stalled_at);
		if (!err && shutdown(fd, SHUT_WR))
			err = -errno;
		if (!err && (read_line(fd, reply, sizeof(reply)) || strcmp(reply, "ok")))
			err = -EBADMSG;
		if (err)
			printf("%s FAIL %s\n", mode, err_text(err));
		else
			printf("%s ok stalled_at=%llu\n", mode, (unsigned long long)stalled_at);
	} else {
		printf("%s FAIL unknown mode\n", mode);
	}
	close(fd);
}

static int server(const char *port)
{
	struct sockaddr_storage ss;
	socklen_t len = parse_sockaddr(prog, "::", port, &ss);
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, zero = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) ||
	    bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 16)) {
		fprintf(stderr, "%s: [::]:%s: %s\n", prog, port, strerror(errno));
		return 1;
	}
	for (;;) {
		int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

		if (conn >= 0)
			serve_one(conn);
	}
}

/* ---- client ---------------------------------------------------------------- */

static int client(const char *host, const char *port, const char *mode, uint64_t len)
{
	struct sockaddr_storage ss;
	socklen_t sslen = parse_sockaddr(prog, host, port, &ss);
	char header[64], reply[64];
	uint64_t got = 0, stalled_at;
	int fd, err;

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		printf("FAIL socket: %s\n", errname(errno));
		return 1;
	}
	set_io_timeout(fd, IO_TIMEOUT_S);
	if (connect(fd, (struct sockaddr *)&ss, sslen)) {
		printf("FAIL connect: %s\n", errname(errno));
		return 1;
	}
	snprintf(header, sizeof(header), "%s %llu\n", mode, (unsigned long long)len);
	if (send(fd, header, strlen(header), MSG_NOSIGNAL) != (ssize_t)strlen(header)) {
		printf("FAIL send header: %s\n", errname(errno));
		return 1;
	}
	if (!strcmp(mode, "client-fin")) {
		err = write_pattern(fd, KEY_UP, len);
		if (!err && shutdown(fd, SHUT_WR))
			err = -errno;
		if (!err)
			err = read_pattern_eof(fd, KEY_DOWN, len, &got);
		if (err) {
			printf("FAIL %s (received %llu)\n", err_text(err), (unsigned long long)got);
			return 1;
		}
		printf("ok sent=%llu received=%llu\n", (unsigned long long)len,
		       (unsigned long long)got);
	} else if (!strcmp(mode, "server-fin")) {
		err = read_pattern_eof(fd, KEY_DOWN, len, &got);
		if (!err)
			err = write_pattern(fd, KEY_UP, len);
		if (!err && shutdown(fd, SHUT_WR))
			err = -errno;
		if (err) {
			printf("FAIL %s (received %llu)\n", err_text(err), (unsigned long long)got);
			return 1;
		}
		printf("ok received=%llu sent=%llu\n", (unsigned long long)got,
		       (unsigned long long)len);
	} else if (!strcmp(mode, "server-rst")) {
		char byte;
		ssize_t n = recv(fd, &byte, 1, 0);

		printf("%s\n", recv_result(n));
		close(fd);
		return 0;
	} else if (!strcmp(mode, "client-rst")) {
		char byte;

		if (recv(fd, &byte, 1, 0) != 1) {
			printf("FAIL no byte from the server\n");
			return 1;
		}
		reset_close(fd);
		printf("ok reset sent\n");
		return 0;
	} else if (!strcmp(mode, "flow-up")) {
		err = write_pattern_stall(fd, KEY_UP, len, &stalled_at);
		if (!err && shutdown(fd, SHUT_WR))
			err = -errno;
		if (!err && read_line(fd, reply, sizeof(reply)))
			err = -EPIPE;
		if (!err && strcmp(reply, "ok")) {
			printf("FAIL server: %s\n", reply);
			return 1;
		}
		if (err) {
			printf("FAIL %s\n", err_text(err));
			return 1;
		}
		printf("ok stalled_at=%llu\n", (unsigned long long)stalled_at);
	} else if (!strcmp(mode, "flow-down")) {
		wait_queue_stable(fd);
		err = read_pattern_eof(fd, KEY_DOWN, len, &got);
		if (!err && send(fd, "ok\n", 3, MSG_NOSIGNAL) != 3)
			err = -errno;
		if (err) {
			printf("FAIL %s (received %llu)\n", err_text(err), (unsigned long long)got);
			return 1;
		}
		printf("ok received=%llu\n", (unsigned long long)got);
	} else {
		fprintf(stderr, "%s: unknown mode '%s'\n", prog, mode);
		return 2;
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t len = 0;

	pattern_init();
	if (argc == 3 && !strcmp(argv[1], "server"))
		return server(argv[2]);
	if ((argc == 4 || argc == 5) && (argc == 4 || !parse_size(argv[4], &len)))
		return client(argv[1], argv[2], argv[3], len);
	fprintf(stderr, "usage: closeprobe server PORT | closeprobe HOST PORT MODE [BYTES]\n");
	return 2;
}
