// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tcp_socks.c - Reaching a flow's destination through a SOCKS server
 *
 * Theory of operation: for a flow whose rule says sockd, the upstream
 * connect goes to the rule's first SOCKS server (or the default one,
 * SOCKS_SERVER) and the SOCKS handshake runs non-blocking in the event loop
 * before the sandbox's SYN is answered:
 *
 *   CONNECT --EPOLLOUT--> SOCKS5: greeting --> METHOD --(user/pass)--> AUTH
 *                         SOCKS4: request ----------------------------.
 *                                                  REPLY <------------'
 *   REPLY granted: tcp_upstream_ready() sends the SYN-ACK; data follows.
 *
 * Replies are read with MSG_PEEK and consumed only once complete, so a reply
 * arriving in pieces needs no buffer of ours, and bytes after it (the
 * destination's first data) stay in the socket for the TCP engine.
 *
 * A server that cannot be reached (refused, unreachable) makes the next
 * server of the list be tried, within the flow's one connect deadline. Once
 * a server answers, its verdict is final: the sandbox sees what a direct
 * connect would have (REP 05 refused -> RST, 03/04 unreachable -> ICMP,
 * 06 TTL expired -> timeout). "sockd" without a version tries SOCKS5 and
 * falls back to SOCKS4 if the server does not speak it. Logs name the hop
 * that failed: the SOCKS server itself, or the destination behind it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pmsocks-ns/log.h"
#include "pmsocks-ns/rules.h"
#include "pmsocks-ns/socks.h"
#include "pmsocks-ns/tcp.h"
#include "pmsocks-ns/util.h"

enum tcp_socks_step {
	SOCKS_STEP_CONNECT, /* TCP connect to the server */
	SOCKS_STEP_METHOD,  /* SOCKS5 greeting sent */
	SOCKS_STEP_AUTH,    /* RFC 1929 request sent */
	SOCKS_STEP_REPLY,   /* CONNECT request sent */
};

static const struct rule_server *tcp_socks_server(const struct ctx *c, const struct flow *f,
						  unsigned int i)
{
	if (f->rule && f->rule->n_servers)
		return i < f->rule->n_servers ? &f->rule->servers[i] : NULL;
	return i == 0 ? c->socks_default : NULL;
}

static void tcp_socks_addr_text(int family, const union packet_addr *a, uint16_t port, char *buf,
				size_t len)
{
	char text[INET6_ADDRSTRLEN];

	inet_ntop(family, a, text, sizeof(text));
	snprintf(buf, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", text, port);
}

/**
 * tcp_upstream_log() - Log why a flow's upstream failed, naming the hop
 * @c:   handler context
 * @f:   flow
 * @why: what happened
 */
void tcp_upstream_log(const struct ctx *c, const struct flow *f, const char *why)
{
	const struct rule_server *srv = NULL;
	char dst[INET6_ADDRSTRLEN + 16];

	if (!log_enabled(LOG_LEVEL_INFO))
		return;
	tcp_socks_addr_text(f->key.family, &f->key.remote_addr, f->key.remote_port, dst,
			    sizeof(dst));
	if (f->state == FLOW_TCP_SOCKS)
		srv = tcp_socks_server(c, f, f->socks_server);
	if (srv) {
		/* The port actually used: port 0 in a rule means SOCKS_PORT. */
		uint16_t port = ntohs(srv->addr.ss_family == AF_INET6
					      ? ((const struct sockaddr_in6 *)&srv->addr)->sin6_port
					      : ((const struct sockaddr_in *)&srv->addr)->sin_port);

		log_info("%s via sockd %s%s%s:%u: %s", dst, strchr(srv->host, ':') ? "[" : "",
			 srv->host, strchr(srv->host, ':') ? "]" : "", port, why);
	} else
		log_info("%s: %s", dst, why);
}

static void tcp_socks_log(const struct ctx *c, const struct flow *f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void tcp_socks_log(const struct ctx *c, const struct flow *f, const char *fmt, ...)
{
	char why[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	tcp_upstream_log(c, f, why);
}

/* Connect to server number f->socks_server, or fail the flow if none is left. */
static void tcp_socks_connect(struct ctx *c, struct flow *f, int last_err)
{
	for (;;) {
		const struct rule_server *srv = tcp_socks_server(c, f, f->socks_server);
		int ret;

		if (!srv) {
			/* Every server failed: the sandbox sees the last server's error. */
			tcp_upstream_failed(c, f, last_err ? last_err : ECONNREFUSED);
			return;
		}
		f->socks_step = SOCKS_STEP_CONNECT;
		ret = tcp_connect_sock(c, f, (const struct sockaddr *)&srv->addr, srv->addrlen);
		if (!ret)
			return;
		tcp_socks_log(c, f, "SOCKS server unreachable: %s", strerror(-ret));
		last_err = -ret;
		f->socks_server++;
	}
}

/**
 * tcp_socks_start() - Start reaching a flow's destination through SOCKS
 * @c: handler context
 * @f: flow in FLOW_TCP_SOCKS, f->rule set, connect deadline armed
 */
void tcp_socks_start(struct ctx *c, struct flow *f)
{
	uint8_t version = f->rule ? f->rule->socks_version : 0;

	f->socks_server = 0;
	f->socks_any_version = version == 0;
	f->socks_version = version ? version : 5;
	if (f->socks_version == 4 && f->key.family == AF_INET6) {
		tcp_socks_log(c, f, "SOCKS4 cannot reach an IPv6 destination (use sockd5)");
		tcp_upstream_failed(c, f, ECONNREFUSED);
		return;
	}
	tcp_socks_connect(c, f, 0);
}

/* The server failed this flow before answering its request: try the next one. */
static void tcp_socks_next(struct ctx *c, struct flow *f, int err, const char *why)
{
	tcp_socks_log(c, f, "SOCKS server unreachable: %s", why);
	tcp_sock_close(f, true);
	f->socks_server++;
	f->socks_version = f->rule && f->rule->socks_version ? f->rule->socks_version : 5;
	tcp_socks_connect(c, f, err);
}

static int tcp_socks_send(struct flow *f, const uint8_t *msg, ssize_t len)
{
	if (len < 0)
		return (int)len;
	/* A fresh connection's send buffer takes a few hundred bytes whole. */
	if (send(f->sock, msg, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL) != len)
		return errno ? -errno : -EIO;
	return 0;
}

static int tcp_socks_request(struct ctx *c, struct flow *f)
{
	uint8_t msg[SOCKS_MSG_MAX];
	struct socks_dest d = {
		.family = f->key.family,
		.addr = f->key.remote_addr,
		.port = f->key.remote_port,
	};

	f->socks_step = SOCKS_STEP_REPLY;
	if (f->socks_version == 4)
		return tcp_socks_send(f, msg,
				      socks4_build_connect(msg, sizeof(msg), &d,
							   c->socks_user ? c->socks_user : ""));
	return tcp_socks_send(f, msg, socks5_build_connect(msg, sizeof(msg), &d));
}

static int tcp_socks_greet(struct ctx *c, struct flow *f)
{
	uint8_t msg[SOCKS_MSG_MAX];

	if (f->socks_version == 4)
		return tcp_socks_request(c, f);
	f->socks_step = SOCKS_STEP_METHOD;
	return tcp_socks_send(
		f, msg, socks5_build_greeting(msg, sizeof(msg), c->socks_user && c->socks_pass));
}

/* Peek what the server sent; returns bytes, 0 at EOF, or -errno (-EAGAIN: nothing yet). */
static ssize_t tcp_socks_peek(const struct flow *f, uint8_t *buf, size_t len)
{
	ssize_t n = recv(f->sock, buf, len, MSG_PEEK | MSG_DONTWAIT);

	return n < 0 ? -errno : n;
}

static void tcp_socks_consume(const struct flow *f, ssize_t n)
{
	if (recv(f->sock, NULL, (size_t)n, MSG_TRUNC | MSG_DONTWAIT) != n)
		log_debug("SOCKS: could not consume a %zd-byte reply", n);
}

/* The destination's verdict, as the server reported it. */
static void tcp_socks_verdict(struct ctx *c, struct flow *f, const struct socks_reply *r)
{
	int err = socks_reply_errno(f->socks_version, r->code);

	if (!err) {
		log_debug("flow %u: connected through SOCKS%u server %u", flow_index(&c->flows, f),
			  f->socks_version, f->socks_server);
		tcp_upstream_ready(c, f);
		return;
	}
	tcp_socks_log(c, f, "destination %s", socks_reply_text(f->socks_version, r->code));
	tcp_upstream_failed(c, f, err);
}

/* Fall back from SOCKS5 to SOCKS4 on the same server, if the rule lets us choose. */
static bool tcp_socks_fallback(struct ctx *c, struct flow *f)
{
	const struct rule_server *srv = tcp_socks_server(c, f, f->socks_server);
	int ret;

	if (!f->socks_any_version || f->socks_version != 5 || f->key.family != AF_INET || !srv)
		return false;
	tcp_socks_log(c, f, "SOCKS server does not speak SOCKS5: trying SOCKS4");
	tcp_sock_close(f, true);
	f->socks_version = 4;
	f->socks_step = SOCKS_STEP_CONNECT;
	ret = tcp_connect_sock(c, f, (const struct sockaddr *)&srv->addr, srv->addrlen);
	if (ret)
		tcp_socks_next(c, f, -ret, strerror(-ret));
	return true;
}

static void tcp_socks_input(struct ctx *c, struct flow *f)
{
	uint8_t buf[SOCKS_MSG_MAX];
	struct socks_reply reply;
	uint8_t method = 0, status = 0;
	ssize_t n, used;
	int ret = 0;

	n = tcp_socks_peek(f, buf, sizeof(buf));
	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		if (f->socks_step == SOCKS_STEP_METHOD && tcp_socks_fallback(c, f))
			return;
		tcp_socks_next(c, f, n ? (int)-n : ECONNREFUSED,
			       n ? strerror((int)-n)
				 : "closed the connection during the handshake");
		return;
	}
	switch ((enum tcp_socks_step)f->socks_step) {
	case SOCKS_STEP_METHOD:
		used = socks5_parse_method(buf, (size_t)n, &method);
		if (used == -EAGAIN)
			return;
		if (used == -EACCES || (used > 0 && method == SOCKS5_METHOD_USERPASS &&
					!(c->socks_user && c->socks_pass))) {
			tcp_socks_log(c, f,
				      "SOCKS server accepts none of our authentication "
				      "methods%s",
				      c->socks_user ? ""
						    : " (set SOCKS_USERNAME and SOCKS_PASSWORD)");
			tcp_upstream_failed(c, f, ECONNREFUSED);
			return;
		}
		if (used < 0) {
			if (!tcp_socks_fallback(c, f))
				tcp_socks_next(c, f, ECONNREFUSED, "not a SOCKS5 server");
			return;
		}
		tcp_socks_consume(f, used);
		if (method == SOCKS5_METHOD_USERPASS) {
			uint8_t msg[SOCKS_MSG_MAX];

			f->socks_step = SOCKS_STEP_AUTH;
			ret = tcp_socks_send(
				f, msg,
				socks5_build_auth(msg, sizeof(msg), c->socks_user, c->socks_pass));
		} else {
			ret = tcp_socks_request(c, f);
		}
		break;
	case SOCKS_STEP_AUTH:
		used = socks5_parse_auth(buf, (size_t)n, &status);
		if (used == -EAGAIN)
			return;
		if (used < 0 || status) {
			tcp_socks_log(c, f, "SOCKS server refused user '%s' (RFC 1929 status %u)",
				      c->socks_user, status);
			tcp_upstream_failed(c, f, ECONNREFUSED);
			return;
		}
		tcp_socks_consume(f, used);
		ret = tcp_socks_request(c, f);
		break;
	case SOCKS_STEP_REPLY:
		memset(&reply, 0, sizeof(reply));
		used = f->socks_version == 4 ? socks4_parse_reply(buf, (size_t)n, &reply)
					     : socks5_parse_reply(buf, (size_t)n, &reply);
		if (used == -EAGAIN)
			return;
		if (used < 0) {
			tcp_socks_log(c, f, "SOCKS server sent a malformed reply");
			tcp_upstream_failed(c, f, ECONNREFUSED);
			return;
		}
		tcp_socks_consume(f, used);
		tcp_socks_verdict(c, f, &reply);
		return;
	case SOCKS_STEP_CONNECT:
		return; /* data before we asked anything: wait for EPOLLOUT */
	}
	if (ret)
		tcp_socks_next(c, f, -ret, strerror(-ret));
}

/**
 * tcp_socks_event() - Handle socket events of a flow in its SOCKS handshake
 * @c:      handler context
 * @f:      flow in FLOW_TCP_SOCKS
 * @events: epoll events
 */
void tcp_socks_event(struct ctx *c, struct flow *f, uint32_t events)
{
	if (f->socks_step == SOCKS_STEP_CONNECT) {
		socklen_t sl = sizeof(int);
		int err = 0, ret;

		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(f->sock, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
			err = errno;
		if (err) {
			tcp_socks_next(c, f, err, strerror(err));
			return;
		}
		ret = tcp_socks_greet(c, f);
		if (ret)
			tcp_socks_next(c, f, -ret, strerror(-ret));
		return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		tcp_socks_input(c, f);
}
