// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * echosrv - epoll TCP echo server for many concurrent connections
 *
 *   echosrv PORT [ADDR...]
 *
 * Listens on PORT at each numeric ADDR (IPv4 or IPv6), or on [::] dual-stack
 * (IPv4 and IPv6) without ADDR, and echoes everything every client sends.
 *
 * Theory of operation: one level-triggered epoll loop. A readable connection
 * is read into a shared 64 KiB buffer and written straight back; what the
 * socket does not take is kept in a per-connection buffer (at most one read's
 * worth) and reading from that connection stops until it has been written
 * (EPOLLOUT), so a client that does not read throttles itself and memory stays
 * bounded by 64 KiB per connection. After EOF from the client the rest is
 * echoed, then shutdown(SHUT_WR) sends our FIN, and the connection is closed.
 * When out of file descriptors, accepting pauses until a connection closes.
 * RLIMIT_NOFILE is raised to the hard limit; accepted sockets get TCP_NODELAY
 * so 1-byte request/response latency is not Nagle's.
 */
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common.h"

#define BUF_SIZE   (64u * 1024u)
#define MAX_LISTEN 16
#define MAX_EVENTS 256

struct conn {
	int fd;
	bool listener;
	bool eof;		/* the client's FIN has been read */
	unsigned char *pending; /* echo the socket did not take yet */
	size_t pending_len, pending_off;
};

static int epfd;
static struct conn *listeners[MAX_LISTEN];
static unsigned nlisteners;
static bool accept_paused;

static void set_events(struct conn *c, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = c};

	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev)) {
		perror("echosrv: epoll_ctl");
		exit(1);
	}
}

static void pause_accept(bool pause)
{
	unsigned i;

	if (accept_paused == pause)
		return;
	for (i = 0; i < nlisteners; i++)
		set_events(listeners[i], pause ? 0 : EPOLLIN);
	accept_paused = pause;
}

static void conn_close(struct conn *c)
{
	close(c->fd); /* also removes it from the epoll set */
	free(c->pending);
	free(c);
	pause_accept(false);
}

static int listen_on(const char *addr, const char *port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, v6only;

	if (addr) {
		len = parse_sockaddr("echosrv", addr, port, &ss);
		v6only = 1; /* an explicit [::] next to 0.0.0.0 must not clash */
	} else {
		len = parse_sockaddr("echosrv", "::", port, &ss);
		v6only = 0;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("echosrv: socket");
		exit(1);
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, SOMAXCONN)) {
		fprintf(stderr, "echosrv: %s port %s: %s\n", addr ? addr : "[::]", port,
			strerror(errno));
		exit(1);
	}
	return fd;
}

static void add_conn(int fd, bool listener)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct epoll_event ev = {.events = EPOLLIN};

	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->listener = listener;
	ev.data.ptr = c;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)) {
		perror("echosrv: epoll_ctl add");
		exit(1);
	}
	if (listener)
		listeners[nlisteners++] = c;
}

static void do_accept(struct conn *l)
{
	int one = 1;

	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				pause_accept(true);
			return; /* EAGAIN, or a connection that died in the queue */
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		add_conn(fd, false);
	}
}

/* Write what is pending; return -1 if the connection is gone. */
static int flush_pending(struct conn *c)
{
	while (c->pending_off < c->pending_len) {
		ssize_t n = send(c->fd, c->pending + c->pending_off,
				 c->pending_len - c->pending_off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -1;
		}
		c->pending_off += (size_t)n;
	}
	free(c->pending);
	c->pending = NULL;
	c->pending_len = c->pending_off = 0;
	return 0;
}

static void finish_if_done(struct conn *c)
{
	if (c->eof && !c->pending) {
		shutdown(c->fd, SHUT_WR);
		conn_close(c);
	}
}

static void on_readable(struct conn *c)
{
	static unsigned char buf[BUF_SIZE];
	ssize_t n = recv(c->fd, buf, sizeof(buf), 0), sent;

	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_close(c); /* ECONNRESET and friends */
		return;
	}
	if (n == 0) {
		c->eof = true;
		finish_if_done(c);
		return;
	}
	sent = send(c->fd, buf, (size_t)n, MSG_NOSIGNAL);
	if (sent < 0 && errno != EAGAIN && errno != EINTR) {
		conn_close(c);
		return;
	}
	if (sent < 0)
		sent = 0;
	if (sent < n) {
		c->pending = malloc((size_t)(n - sent));
		if (!c->pending) {
			conn_close(c);
			return;
		}
		memcpy(c->pending, buf + sent, (size_t)(n - sent));
		c->pending_len = (size_t)(n - sent);
		c->pending_off = 0;
		set_events(c, EPOLLOUT); /* stop reading until this is out */
	}
}

static void on_writable(struct conn *c)
{
	if (flush_pending(c)) {
		conn_close(c);
		return;
	}
	if (c->pending)
		return;
	if (c->eof)
		finish_if_done(c);
	else
		set_events(c, EPOLLIN);
}

int main(int argc, char **argv)
{
	struct epoll_event events[MAX_EVENTS];
	int i;

	if (argc < 2 || argc - 2 > MAX_LISTEN) {
		fprintf(stderr, "usage: echosrv PORT [ADDR...] (at most %d addresses)\n",
			MAX_LISTEN);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		perror("echosrv: epoll_create1");
		return 1;
	}
	if (argc == 2)
		add_conn(listen_on(NULL, argv[1]), true);
	for (i = 2; i < argc; i++)
		add_conn(listen_on(argv[i], argv[1]), true);

	for (;;) {
		int n = epoll_wait(epfd, events, MAX_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("echosrv: epoll_wait");
			return 1;
		}
		for (i = 0; i < n; i++) {
			struct conn *c = events[i].data.ptr;

			if (c->listener)
				do_accept(c);
			else if (c->pending)
				on_writable(c);
			else
				on_readable(c);
		}
	}
}
