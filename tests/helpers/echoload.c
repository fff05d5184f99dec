// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * echoload - Many concurrent connections through an echo server, verified
 *
 *   echoload HOST PORT CONNS BYTES TIMEOUT_S
 *
 * Opens CONNS connections to an echo server (echosrv), and once all of them
 * are established sends BYTES (K, M, G suffixes) of a connection-specific
 * pattern on each, shuts down its write side, and reads the echo back to EOF,
 * comparing every byte. Prints one summary line
 *
 *   conns=1000 ok=1000 failed=0 bytes=1048576000 seconds=2.71
 *
 * (bytes: verified echo bytes in total) and exits 1 if any connection failed
 * (first failures are described on stderr), 2 on bad usage.
 *
 * Theory of operation: one epoll loop, no threads. Phase 1 connects, with at
 * most CONNECT_BURST connects in progress at once; phase 2 starts only when
 * every connection is established or has failed, so all CONNS really are open
 * at the same time. Each connection then writes when writable and reads when
 * readable (never one without the other, or the echo server would stall on a
 * full socket), and is done after exactly BYTES verified bytes and EOF.
 * TIMEOUT_S bounds the whole run: what is unfinished then counts as failed.
 * Memory: a few dozen bytes per connection and one shared read buffer.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common.h"

#define CONNECT_BURST 256
#define MAX_EVENTS    256
#define MAX_REPORTS   10

enum conn_state { C_IDLE, C_CONNECTING, C_ESTABLISHED, C_DONE, C_FAILED };

struct conn {
	int fd;
	enum conn_state state;
	bool wr_shut;
	uint64_t sent, received;
};

static const char *prog = "echoload";
static struct conn *conns;
static unsigned nconns, failed, ok, reports, connecting;
static uint64_t bytes_each;
static int epfd;

/* Count connection IDX as failed; the first few say why: "WHAT: DETAIL". */
static void conn_fail(unsigned idx, const char *what, const char *detail)
{
	struct conn *c = &conns[idx];

	if (reports++ < MAX_REPORTS)
		fprintf(stderr, "%s: conn %u: %s: %s (sent %llu, received %llu)\n", prog, idx, what,
			detail, (unsigned long long)c->sent, (unsigned long long)c->received);
	if (c->state == C_CONNECTING)
		connecting--;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = C_FAILED;
	failed++;
}

static void set_events(unsigned idx, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.u32 = idx};

	if (epoll_ctl(epfd, EPOLL_CTL_MOD, conns[idx].fd, &ev)) {
		perror("echoload: epoll_ctl");
		exit(1);
	}
}

static void start_connect(unsigned idx, const struct sockaddr_storage *ss, socklen_t len)
{
	struct conn *c = &conns[idx];
	struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = idx};

	c->fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		conn_fail(idx, "socket", errname(errno));
		return;
	}
	c->state = C_CONNECTING;
	connecting++;
	if (connect(c->fd, (const struct sockaddr *)ss, len) && errno != EINPROGRESS) {
		conn_fail(idx, "connect", errname(errno));
		return;
	}
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev)) {
		perror("echoload: epoll_ctl add");
		exit(1);
	}
}

static void on_connect_event(unsigned idx)
{
	struct conn *c = &conns[idx];
	int err = 0;
	socklen_t len = sizeof(err);

	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		conn_fail(idx, "connect", errname(err));
		return;
	}
	c->state = C_ESTABLISHED;
	connecting--;
	set_events(idx, 0); /* quiet until every connection is up */
}

static void on_transfer_event(unsigned idx, uint32_t events)
{
	static unsigned char buf[PATTERN_MAX_RUN];
	struct conn *c = &conns[idx];

	if ((events & EPOLLOUT) && c->sent < bytes_each) {
		uint64_t left = bytes_each - c->sent;
		size_t run = left < PATTERN_MAX_RUN ? (size_t)left : PATTERN_MAX_RUN;
		ssize_t n = send(c->fd, pattern_at(idx, c->sent), run, MSG_NOSIGNAL);

		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			conn_fail(idx, "send", errname(errno));
			return;
		}
		if (n > 0)
			c->sent += (uint64_t)n;
	}
	if (c->sent == bytes_each && !c->wr_shut) {
		if (shutdown(c->fd, SHUT_WR)) {
			conn_fail(idx, "shutdown", errname(errno));
			return;
		}
		c->wr_shut = true;
		set_events(idx, EPOLLIN);
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
		long bad;

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				conn_fail(idx, "recv", errname(errno));
			return;
		}
		if (n == 0) {
			if (c->received != bytes_each) {
				conn_fail(idx, "recv", "EOF before all of the echo came back");
				return;
			}
			close(c->fd);
			c->fd = -1;
			c->state = C_DONE;
			ok++;
			return;
		}
		if (c->received + (uint64_t)n > bytes_each) {
			conn_fail(idx, "data", "more bytes echoed than sent");
			return;
		}
		bad = pattern_mismatch(idx, c->received, buf, (size_t)n);
		if (bad >= 0) {
			c->received += (uint64_t)bad;
			conn_fail(idx, "data", "mismatch at the offset received");
			return;
		}
		c->received += (uint64_t)n;
	}
}

int main(int argc, char **argv)
{
	struct epoll_event events[MAX_EVENTS];
	struct sockaddr_storage ss;
	socklen_t sslen;
	uint64_t t0, deadline, verified = 0;
	unsigned timeout_s, next = 0, i;
	bool transferring = false;
	rlim_t nofile;

	if (argc != 6) {
		fprintf(stderr, "usage: echoload HOST PORT CONNS BYTES TIMEOUT_S\n");
		return 2;
	}
	sslen = parse_sockaddr(prog, argv[1], argv[2], &ss);
	nconns = (unsigned)parse_num(prog, "CONNS", argv[3], 1, 1000000);
	if (parse_size(argv[4], &bytes_each)) {
		fprintf(stderr, "%s: bad BYTES '%s'\n", prog, argv[4]);
		return 2;
	}
	timeout_s = (unsigned)parse_num(prog, "TIMEOUT_S", argv[5], 1, 86400);
	nofile = raise_nofile();
	if (nofile < (rlim_t)nconns + 16) {
		fprintf(stderr,
			"%s: %u connections need more file descriptors than the limit %llu\n", prog,
			nconns, (unsigned long long)nofile);
		return 2;
	}
	pattern_init();
	conns = calloc(nconns, sizeof(*conns));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!conns || epfd < 0) {
		perror("echoload: setup");
		return 1;
	}
	for (i = 0; i < nconns; i++)
		conns[i].fd = -1;

	t0 = now_ns();
	deadline = t0 + (uint64_t)timeout_s * 1000000000u;
	while (ok + failed < nconns) {
		uint64_t now = now_ns();
		int n, k;

		while (!transferring && next < nconns && connecting < CONNECT_BURST)
			start_connect(next++, &ss, sslen);
		if (!transferring && next == nconns && !connecting) {
			transferring = true;
			for (i = 0; i < nconns; i++)
				if (conns[i].state == C_ESTABLISHED)
					set_events(i, EPOLLIN | EPOLLOUT);
		}
		if (now >= deadline)
			break;
		n = epoll_wait(epfd, events, MAX_EVENTS, (int)((deadline - now) / 1000000u) + 1);
		if (n < 0 && errno != EINTR) {
			perror("echoload: epoll_wait");
			return 1;
		}
		for (k = 0; k < n; k++) {
			unsigned idx = events[k].data.u32;

			if (conns[idx].state == C_CONNECTING)
				on_connect_event(idx);
			else if (conns[idx].state == C_ESTABLISHED)
				on_transfer_event(idx, events[k].events);
		}
	}
	for (i = 0; i < nconns; i++) {
		if (conns[i].state == C_IDLE || conns[i].state == C_CONNECTING ||
		    conns[i].state == C_ESTABLISHED)
			conn_fail(i, "deadline", "timed out");
		verified += conns[i].received;
	}
	printf("conns=%u ok=%u failed=%u bytes=%llu seconds=%.2f\n", nconns, ok, failed,
	       (unsigned long long)verified, (double)(now_ns() - t0) / 1e9);
	return failed ? 1 : 0;
}
