// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * idleconns - Hold many established, idle connections open
 *
 *   idleconns HOST PORT N HOLD_S
 *
 * Against an echo server (echosrv): opens N connections (at most
 * CONNECT_BURST connects in progress at once), checks each with a 1-byte
 * echo, prints "ready" on stdout, then holds them all idle for HOLD_S seconds
 * or until stdin reaches EOF, whichever comes first. Before closing it checks
 * every connection once more with a 1-byte echo, and prints
 *
 *   conns=10000 alive=10000 seconds_to_ready=1.42
 *
 * Exits 1 if a connection could not be set up (then "ready" is never printed)
 * or did not survive the idle time. Setting up is bounded by 120 s and the
 * final check by 60 s. RLIMIT_NOFILE is raised to the hard limit.
 */
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common.h"

#define CONNECT_BURST 256
#define MAX_EVENTS    256
#define SETUP_LIMIT_S 120
#define CHECK_LIMIT_S 60

enum conn_state { C_IDLE, C_CONNECTING, C_ECHO_WAIT, C_READY, C_FAILED };

struct conn {
	int fd;
	enum conn_state state;
};

static const char *prog = "idleconns";
static struct conn *conns;
static unsigned nconns, connecting, nready, nfailed, reports;
static int epfd;

static void conn_fail(unsigned idx, const char *what, int err)
{
	if (reports++ < 10)
		fprintf(stderr, "%s: conn %u: %s: %s\n", prog, idx, what,
			err ? errname(err) : "EOF");
	if (conns[idx].state == C_CONNECTING)
		connecting--;
	if (conns[idx].fd >= 0)
		close(conns[idx].fd);
	conns[idx].fd = -1;
	conns[idx].state = C_FAILED;
	nfailed++;
}

static void set_events(unsigned idx, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.u32 = idx};

	if (epoll_ctl(epfd, EPOLL_CTL_MOD, conns[idx].fd, &ev)) {
		perror("idleconns: epoll_ctl");
		exit(1);
	}
}

/* Send the probe byte and wait for its echo. */
static void send_probe(unsigned idx)
{
	unsigned char byte = (unsigned char)idx;

	if (send(conns[idx].fd, &byte, 1, MSG_NOSIGNAL) != 1) {
		conn_fail(idx, "send", errno);
		return;
	}
	conns[idx].state = C_ECHO_WAIT;
	set_events(idx, EPOLLIN);
}

static void start_connect(unsigned idx, const struct sockaddr_storage *ss, socklen_t len)
{
	struct conn *c = &conns[idx];
	struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = idx};

	c->fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		conn_fail(idx, "socket", errno);
		return;
	}
	c->state = C_CONNECTING;
	connecting++;
	if (connect(c->fd, (const struct sockaddr *)ss, len) && errno != EINPROGRESS) {
		conn_fail(idx, "connect", errno);
		return;
	}
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev)) {
		perror("idleconns: epoll_ctl add");
		exit(1);
	}
}

static void on_event(unsigned idx)
{
	struct conn *c = &conns[idx];
	unsigned char byte;
	socklen_t len = sizeof(int);
	int err = 0;
	ssize_t n;

	switch (c->state) {
	case C_CONNECTING:
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			conn_fail(idx, "connect", err);
			return;
		}
		connecting--;
		send_probe(idx);
		return;
	case C_ECHO_WAIT:
		n = recv(c->fd, &byte, 1, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n != 1 || byte != (unsigned char)idx) {
			conn_fail(idx, "echo", n < 0 ? errno : n == 0 ? 0 : EBADMSG);
			return;
		}
		c->state = C_READY;
		nready++;
		set_events(idx, 0);
		return;
	case C_IDLE:
	case C_READY:
	case C_FAILED:
		/* EPOLLERR/EPOLLHUP of an idle connection: the final check sees it */
		set_events(idx, 0);
		return;
	}
}

/* Run the loop until every connection is ready or failed, or until LIMIT_S. */
static void run_until_settled(unsigned limit_s, const struct sockaddr_storage *ss, socklen_t sslen,
			      unsigned *next)
{
	struct epoll_event events[MAX_EVENTS];
	uint64_t deadline = now_ns() + (uint64_t)limit_s * 1000000000u;
	unsigned i;
	int n, k;

	while (nready + nfailed < nconns) {
		uint64_t now = now_ns();

		while (next && *next < nconns && connecting < CONNECT_BURST)
			start_connect((*next)++, ss, sslen);
		if (now >= deadline)
			break;
		n = epoll_wait(epfd, events, MAX_EVENTS, (int)((deadline - now) / 1000000u) + 1);
		if (n < 0 && errno != EINTR) {
			perror("idleconns: epoll_wait");
			exit(1);
		}
		for (k = 0; k < n; k++)
			on_event(events[k].data.u32);
	}
	for (i = 0; i < nconns; i++)
		if (conns[i].state != C_READY && conns[i].state != C_FAILED)
			conn_fail(i, "timed out", ETIMEDOUT);
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	struct pollfd in = {.fd = STDIN_FILENO, .events = POLLIN};
	socklen_t sslen;
	unsigned hold_s, next = 0, i;
	uint64_t t0, hold_end;
	double to_ready;

	if (argc != 5) {
		fprintf(stderr, "usage: idleconns HOST PORT N HOLD_S\n");
		return 2;
	}
	sslen = parse_sockaddr(prog, argv[1], argv[2], &ss);
	nconns = (unsigned)parse_num(prog, "N", argv[3], 1, 1000000);
	hold_s = (unsigned)parse_num(prog, "HOLD_S", argv[4], 0, 86400);
	if (raise_nofile() < (rlim_t)nconns + 16) {
		fprintf(stderr, "%s: %u connections need more file descriptors than the limit\n",
			prog, nconns);
		return 2;
	}
	conns = calloc(nconns, sizeof(*conns));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!conns || epfd < 0) {
		perror("idleconns: setup");
		return 1;
	}
	for (i = 0; i < nconns; i++)
		conns[i].fd = -1;

	t0 = now_ns();
	run_until_settled(SETUP_LIMIT_S, &ss, sslen, &next);
	to_ready = (double)(now_ns() - t0) / 1e9;
	if (nfailed) {
		printf("conns=%u alive=0 failed=%u\n", nconns, nfailed);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);

	/* Idle: wait for EOF on stdin (any input is read and ignored) or HOLD_S. */
	hold_end = now_ns() + (uint64_t)hold_s * 1000000000u;
	for (;;) {
		uint64_t now = now_ns();
		char buf[256];
		int n;

		if (now >= hold_end)
			break;
		n = poll(&in, 1, (int)((hold_end - now) / 1000000u) + 1);
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0) {
			if (in.revents & POLLNVAL)
				in.fd = -1; /* no stdin: hold for the time only */
			else if (read(STDIN_FILENO, buf, sizeof(buf)) <= 0)
				break;
		}
	}

	/* Did every connection survive? One more echo on each. */
	nready = 0;
	for (i = 0; i < nconns; i++)
		send_probe(i);
	run_until_settled(CHECK_LIMIT_S, &ss, sslen, NULL);
	for (i = 0; i < nconns; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	printf("conns=%u alive=%u seconds_to_ready=%.2f\n", nconns, nready, to_ready);
	return nfailed ? 1 : 0;
}
