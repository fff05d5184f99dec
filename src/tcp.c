// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tcp.c - Translating the sandbox's TCP connections to host sockets
 *
 * Theory of operation: this is not a TCP stack. Each flow pairs the sandbox's
 * TCP endpoint, seen as segments on the tun, with one host socket, and the
 * host kernel's TCP does the reliable delivery on the outside. We only
 * translate, and keep nothing the kernel already keeps:
 *
 * - SYN from the sandbox: ask rules_route(); for a direct route start a
 *   non-blocking connect(). The SYN is answered only when the connect
 *   completes: SYN-ACK if it did, RST if it was refused, ICMP unreachable if
 *   the host or net was, and silence if it timed out (the sandbox's own SYN
 *   retries are set so that its connect fails with ETIMEDOUT then, see
 *   tcp_sandbox_syn_retries()).
 *
 * - sandbox -> host: in-order payload is written to the socket; we ACK only
 *   what the socket accepted, and advertise as window the free space of the
 *   socket's send buffer, so in-window data always fits and a slow peer
 *   throttles the sandbox. Out-of-order segments are dropped with a
 *   duplicate ACK; the sandbox retransmits. When the send buffer runs low we
 *   ask epoll for EPOLLOUT and send a window update once space frees. Should
 *   the socket refuse in-window data all the same (memory pressure), what
 *   it refused is kept, up to 128 KiB for each of four flows at a time, and
 *   written once it has room (tcp_stash()); beyond that it is dropped, to be
 *   asked for again with three duplicate ACKs (tcp_ask_again()).
 *   Consecutive segments of one flow in a batch of tun frames are written
 *   with one sendmsg() (tcp_hold()), and an ACK of one segment may wait for
 *   the reply to ride on while the loop busy polls (tcp_queue_ack_later()).
 *
 * - host -> sandbox: data is read with MSG_PEEK from the socket (SO_PEEK_OFF,
 *   turned on for a socket the first time data is in flight when it peeks,
 *   keeps the peek position past what is in flight) and sent in segments up
 *   to the MSS, bounded by the sandbox's window. It is dropped from the
 *   socket (recv with MSG_TRUNC, no copy) only when the sandbox ACKs it, so a
 *   retransmission (timeout, or three duplicate ACKs) rewinds the peek
 *   position and reads the kernel's buffer again.
 *
 * - FIN either way is a half-close (shutdown(SHUT_WR) / FIN segment); RST
 *   either way aborts the other side (SO_LINGER 0 / RST segment). A flow is
 *   closed once both directions are finished and acknowledged, or on any
 *   error, which closes that flow only.
 *
 * States: CONNECTING (upstream connect running) -> SYN_RCVD (SYN-ACK sent)
 * -> ESTABLISHED (half-closes in flags) -> closed; CONNECTING -> TIMED_OUT
 * (silent) -> closed. Timers: connect timeout, SYN-ACK and data
 * retransmission, zero-window probes; idle established flows have none.
 * Nothing is queued here: the only buffers are the kernel's, and the tun
 * frames of the batch being handled.
 *
 * This file sets flows up and tears them down; tcp_data.c moves their data
 * and builds their segments (see tcp_internal.h), tcp_socks.c runs the
 * SOCKS handshake.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pmsocks-ns/log.h"
#include "pmsocks-ns/loop.h"
#include "pmsocks-ns/rules.h"
#include "pmsocks-ns/tcp.h"
#include "pmsocks-ns/tun.h"
#include "pmsocks-ns/util.h"
#include "tcp_internal.h"

#define TCP_DEFAULT_MSS4     536 /* RFC 9293, when the SYN carries no MSS option */
#define TCP_DEFAULT_MSS6     1220
#define TCP_TIMED_OUT_LINGER 2000
#define TCP_WARN_INTERVAL_MS 1000 /* a warning of one kind at most this often */

/**
 * tcp_sandbox_syn_retries() - SYN retries for the sandbox to give up with the handler
 * @connect_timeout_ms: the connect timeout
 * @rto_max_1s:         the sandbox's net.ipv4.tcp_rto_max_ms is 1000
 *
 * The sandbox's connect() must fail with ETIMEDOUT when the handler gives up
 * on the upstream (the handler then stays silent). With retransmission
 * timeouts capped at one second, R SYN retries fail after R + 1 seconds;
 * without the cap (kernels before 6.15) after 2^(R+1) - 1 seconds. R is the
 * smallest value reaching the connect timeout (at least 1, at most 127).
 *
 * Return: the value for net.ipv4.tcp_syn_retries in the sandbox
 */
uint32_t tcp_sandbox_syn_retries(uint32_t connect_timeout_ms, bool rto_max_1s)
{
	uint32_t seconds = (connect_timeout_ms + 999) / 1000, r = 1;

	if (rto_max_1s)
		r = seconds > 1 ? seconds - 1 : 1;
	else
		while (r < 127 && (2ULL << r) - 1 < seconds)
			r++;
	return r > 127 ? 127 : r;
}

/*
 * Initial sequence numbers: splitmix64 over a state seeded once from
 * getrandom(), so a connection costs no system call for it. Nothing off the
 * sandbox can inject into the tun link, so unpredictability is only good
 * manners here; distinct values for quickly reused ports are what matters.
 */
static uint32_t tcp_isn(struct ctx *c)
{
	uint64_t z;

	if (c->isn_hook)
		return c->isn_hook();
	z = (c->isn_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/**
 * tcp_mss_limit() - The largest segment the tun carries
 * @c:      handler context
 * @family: AF_INET or AF_INET6
 *
 * Return: the MSS that fits the tun's MTU and an IP packet's 64 KiB
 */
uint16_t tcp_mss_limit(const struct ctx *c, int family)
{
	unsigned int hdr = family == AF_INET ? 40 : 60;
	unsigned int mss = c->mtu - hdr;

	return mss > 65535 - hdr ? (uint16_t)(65535 - hdr) : (uint16_t)mss;
}

/* Answer a segment that belongs to no flow, as RFC 9293 3.10.7.1 says. */
static void tcp_reply_rst(struct ctx *c, const struct packet *p)
{
	uint8_t frame[PACKET_TCP_HEADER_MAX];
	struct packet_tcp_out o;
	ssize_t len;

	if (p->flags & PACKET_TCP_RST)
		return;
	memset(&o, 0, sizeof(o));
	o.family = p->family;
	o.src = p->dst;
	o.dst = p->src;
	o.sport = p->dport;
	o.dport = p->sport;
	o.wscale = -1;
	if (p->flags & PACKET_TCP_ACK) {
		o.seq = p->ack;
		o.flags = PACKET_TCP_RST;
	} else {
		o.ack = p->seq + (uint32_t)p->payload_len + !!(p->flags & PACKET_TCP_SYN) +
			!!(p->flags & PACKET_TCP_FIN);
		o.flags = PACKET_TCP_RST | PACKET_TCP_ACK;
	}
	len = packet_build_tcp(frame, sizeof(frame), &o, 0);
	if (len > 0 && !tun_write(c, frame, (size_t)len))
		c->stats.resets_sent++;
}

static void tcp_reply_unreach(struct ctx *c, const struct packet *p, enum packet_unreach kind)
{
	uint8_t frame[PACKET_ICMP_MAX];
	const union packet_addr *gw = p->family == AF_INET ? &c->gateway4 : &c->gateway6;
	ssize_t len;

	len = packet_build_icmp_unreach(frame, sizeof(frame), p, gw, kind);
	if (len > 0 && !tun_write(c, frame, (size_t)len))
		c->stats.icmp_sent++;
}

/**
 * tcp_timer_set() - Set or clear a flow's one timer
 * @c:     handler context
 * @f:     flow
 * @in_ms: milliseconds from now, 0 to clear it
 */
void tcp_timer_set(struct ctx *c, struct flow *f, uint32_t in_ms)
{
	uint64_t deadline = c->now_ms + in_ms;

	flow_timer_set(&c->flows, f, in_ms ? deadline : 0);
	if (in_ms)
		loop_timer_arm(c, deadline);
}

/**
 * tcp_sock_close() - Close a flow's host socket, with a RST to its peer if @abort
 * @f:     flow
 * @abort: reset the connection instead of closing it in order
 */
void tcp_sock_close(struct flow *f, bool abort)
{
	if (f->sock < 0)
		return;
	if (abort) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};

		setsockopt(f->sock, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(f->sock); /* also leaves the epoll set */
	f->sock = -1;
}

static void tcp_flow_close(struct ctx *c, struct flow *f, bool abort)
{
	tcp_stash_release(c, f);
	log_debug("flow %u closed%s: %llu bytes to host, %llu to sandbox", flow_index(&c->flows, f),
		  abort ? " (reset)" : "", (unsigned long long)f->bytes_to_host,
		  (unsigned long long)f->bytes_to_sandbox);
	tcp_sock_close(f, abort);
	flow_close(&c->flows, f);
}

/**
 * tcp_reset() - Abort both sides: RST to the sandbox and to the host peer
 * @c: handler context
 * @f: flow, closed on return
 */
void tcp_reset(struct ctx *c, struct flow *f)
{
	tcp_send_ctl(c, f, PACKET_TCP_RST | PACKET_TCP_ACK);
	c->stats.resets_sent++;
	c->stats.flows_reset++;
	tcp_flow_close(c, f, true);
}

/**
 * tcp_maybe_done() - Close a flow once both directions are finished and acknowledged
 * @c: handler context
 * @f: flow
 */
void tcp_maybe_done(struct ctx *c, struct flow *f)
{
	if ((f->flags & FLOW_F_SANDBOX_FIN) && (f->flags & FLOW_F_FIN_ACKED))
		tcp_flow_close(c, f, false);
}

static bool tcp_rst_acceptable(const struct flow *f, const struct packet *p)
{
	if (f->state == FLOW_TCP_CONNECTING || f->state == FLOW_TCP_SOCKS ||
	    f->state == FLOW_TCP_TIMED_OUT)
		return p->seq == f->rcv_nxt;
	return seq_le(f->rcv_nxt, p->seq) &&
	       seq_le(p->seq, f->rcv_nxt + (f->window_sent ? f->window_sent : 1));
}

static int tcp_sockaddr(const struct flow_key *k, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (k->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(k->remote_port);
		sin->sin_addr = k->remote_addr.v4;
		*len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(k->remote_port);
		sin6->sin6_addr = k->remote_addr.v6;
		*len = sizeof(*sin6);
	}
	return 0;
}

/**
 * tcp_connect_sock() - Start a non-blocking connect for a flow and watch it
 * @c:   handler context
 * @f:   flow, without a socket
 * @sa:  where to connect: the destination, or a SOCKS server
 * @len: size of @sa
 *
 * Return: 0, or -errno (then nothing is left open)
 */
int tcp_connect_sock(struct ctx *c, struct flow *f, const struct sockaddr *sa, socklen_t len)
{
	union epoll_ref ref = {.type = EPOLL_TYPE_TCP, .flow = flow_index(&c->flows, f)};
	struct epoll_event ev;
	int s;

	/* TCP_NODELAY comes with the second write (tcp_host_write()). */
	s = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, sa, len) < 0 && errno != EINPROGRESS) {
		int err = errno;

		close(s);
		return -err;
	}
	ref.fd = s;
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.u64 = ref.u64;
	if (epoll_ctl(c->epoll_fd, EPOLL_CTL_ADD, s, &ev) < 0) {
		int err = errno;

		close(s);
		return -err;
	}
	f->sock = s;
	return 0;
}

/*
 * tcp_warn_due() - May a warning of this kind be logged now? At most once a
 * second: a flood of SYNs must not become a flood of log lines, each a
 * write on the data path. Return: true, with the number of times it was
 * held back since the last one in @held
 */
static bool tcp_warn_due(const struct ctx *c, struct ctx_warn *w, unsigned int *held)
{
	if (w->last_ms && c->now_ms - w->last_ms < TCP_WARN_INTERVAL_MS) {
		w->suppressed++;
		return false;
	}
	w->last_ms = c->now_ms ? c->now_ms : 1;
	*held = w->suppressed;
	w->suppressed = 0;
	return true;
}

/* " (and N more since the last such warning)" after a warning, or "" */
static const char *tcp_held_note(char *buf, size_t len, unsigned int held)
{
	if (!held)
		return "";
	snprintf(buf, len, " (and %u more since the last such warning)", held);
	return buf;
}

/*
 * Why the handler itself could not open a connection, into @buf if it is
 * given (the only case that asks the kernel), or NULL if @err is not of that
 * kind
 */
static const char *tcp_local_failure(int err, char *buf, size_t len)
{
	struct rlimit rl;

	switch (err) {
	case EMFILE:
		if (buf && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
			snprintf(buf, len,
				 "the handler is at its limit of %llu open files, one per "
				 "connection (the hard limit: ulimit -Hn)",
				 (unsigned long long)rl.rlim_cur);
			return buf;
		}
		return "the handler is at its limit of open files, one per connection";
	case ENFILE:
		return "the system has as many files open as it allows (fs.file-max)";
	case EADDRNOTAVAIL:
	case EADDRINUSE:
		return "no local port is free for it (net.ipv4.ip_local_port_range; a closed "
		       "connection holds its port for a minute in TIME_WAIT)";
	case ENOBUFS:
	case ENOMEM:
		return "out of memory";
	case EAFNOSUPPORT:
		return "the host has no IPv6";
	default:
		return NULL;
	}
}

/*
 * The host refused the connection, or the handler could not make one: a
 * RST, as a plain connect refused would see. The second case is no
 * answer of the destination's, so the user is told why.
 */
static void tcp_connect_refused(struct ctx *c, struct flow *f, int err)
{
	char addr[INET6_ADDRSTRLEN], note[64], buf[128];
	unsigned int held;

	/* The description only once the warning is due: a flood of failures asks nothing. */
	if (tcp_local_failure(err, NULL, 0) && tcp_warn_due(c, &c->warn_local, &held)) {
		inet_ntop(f->key.family, &f->key.remote_addr, addr, sizeof(addr));
		log_warn("%s port %u: cannot connect (%s): %s; refused in the sandbox%s", addr,
			 f->key.remote_port, strerror(err),
			 tcp_local_failure(err, buf, sizeof(buf)),
			 tcp_held_note(note, sizeof(note), held));
	}
	c->stats.flows_refused++;
	f->seq_nxt = 0;
	tcp_send_ctl(c, f, PACKET_TCP_RST | PACKET_TCP_ACK);
	c->stats.resets_sent++;
	tcp_flow_close(c, f, true);
}

/* The upstream connect failed with @err: tell the sandbox what a plain connect would see. */
static void tcp_connect_failed(struct ctx *c, struct flow *f, int err, const struct packet *syn)
{
	switch (err) {
	case ETIMEDOUT:
		c->stats.flows_timed_out++;
		tcp_sock_close(f, true);
		f->state = FLOW_TCP_TIMED_OUT;
		tcp_timer_set(c, f, c->connect_timeout_ms + TCP_TIMED_OUT_LINGER);
		return;
	case EHOSTUNREACH:
	case EHOSTDOWN:
	case ENETUNREACH:
	case ENETDOWN:
	case EACCES:
	case EPERM: {
		struct packet fake;
		enum packet_unreach kind = PACKET_UNREACH_HOST;

		if (err == ENETUNREACH || err == ENETDOWN)
			kind = PACKET_UNREACH_NET;
		else if (err == EACCES || err == EPERM)
			kind = PACKET_UNREACH_ADMIN;
		c->stats.flows_unreachable++;
		if (syn) {
			tcp_reply_unreach(c, syn, kind);
		} else {
			/* Rebuild the SYN to quote it in the ICMP error. */
			static uint8_t synbuf[PACKET_TCP_HEADER_MAX];
			struct packet_tcp_out o = {
				.family = f->key.family,
				.src = f->key.sandbox_addr,
				.dst = f->key.remote_addr,
				.sport = f->key.sandbox_port,
				.dport = f->key.remote_port,
				.seq = f->rcv_nxt - 1,
				.flags = PACKET_TCP_SYN,
				.window = 65535,
				.wscale = -1,
			};
			ssize_t len = packet_build_tcp(synbuf, sizeof(synbuf), &o, 0);

			if (len > 0 && packet_parse(&fake, synbuf, (size_t)len) == PACKET_OK)
				tcp_reply_unreach(c, &fake, kind);
		}
		tcp_flow_close(c, f, true);
		return;
	}
	default:
		tcp_connect_refused(c, f, err);
		return;
	}
}

static void tcp_rule_command(const struct ctx *c, const struct flow_key *k, const struct rule *rule)
{
	struct rules_conn conn = {
		.family = k->family,
		.dst = k->remote_addr,
		.port = k->remote_port,
		.user = c->user,
	};
	int ret;

	if (rule->action == RULE_SOCKD)
		conn.server = rule->n_servers	 ? rule->servers[0].host
			      : c->socks_default ? c->socks_default->host
						 : NULL;
	ret = rules_run_command(rule, &conn);
	if (ret)
		log_warn("%s:%u: cannot run the rule's command: %s", c->rules->file, rule->line,
			 strerror(-ret));
}

static void tcp_log_denied(const struct ctx *c, const struct flow_key *k, const struct rule *rule)
{
	char addr[INET6_ADDRSTRLEN];

	if (!log_enabled(LOG_LEVEL_INFO))
		return;
	inet_ntop(k->family, &k->remote_addr, addr, sizeof(addr));
	if (rule && rule->action == RULE_DENY)
		log_info("%s port %u: denied by %s:%u", addr, k->remote_port, c->rules->file,
			 rule->line);
	else if (rule)
		log_info("%s port %u: refused: the host's own address is not named by %s:%u", addr,
			 k->remote_port, c->rules->file, rule->line);
	else if (c->rules && !rules_addr_always_refused(k->family, &k->remote_addr))
		log_info("%s port %u: denied: no rule in %s matches", addr, k->remote_port,
			 c->rules->file);
	else
		log_info("%s port %u: refused: never reachable from the sandbox", addr,
			 k->remote_port);
}

static void tcp_syn(struct ctx *c, const struct packet *p, const struct flow_key *k)
{
	uint16_t mss_limit = tcp_mss_limit(c, p->family);
	const struct rule *rule = NULL;
	struct sockaddr_storage ss;
	enum route route;
	struct flow *f;
	socklen_t sl;
	int ret;

	if (p->flags & (PACKET_TCP_ACK | PACKET_TCP_RST | PACKET_TCP_FIN)) {
		tcp_reply_rst(c, p);
		return;
	}
	route = rules_route(c, k, &rule);
	if (rule && rule->command && c->allow_rule_commands)
		tcp_rule_command(c, k, rule);
	if (route == ROUTE_DENY) {
		c->stats.flows_denied++;
		tcp_log_denied(c, k, rule);
		tcp_reply_rst(c, p);
		return;
	}
	f = flow_alloc(&c->flows, k);
	if (!f) {
		unsigned int held;
		char note[64];

		c->stats.flows_table_full++;
		if (tcp_warn_due(c, &c->warn_table_full, &held))
			log_warn("flow table full (--max-flows %u): refusing a connection%s",
				 c->flows.max, tcp_held_note(note, sizeof(note), held));
		tcp_reply_rst(c, p);
		return;
	}
	f->state = FLOW_TCP_CONNECTING;
	f->rcv_nxt = p->seq + 1;
	f->seq_una = f->seq_nxt = tcp_isn(c);
	f->sandbox_mss =
		p->mss ? p->mss : (p->family == AF_INET ? TCP_DEFAULT_MSS4 : TCP_DEFAULT_MSS6);
	if (f->sandbox_mss > mss_limit)
		f->sandbox_mss = mss_limit;
	if (p->wscale >= 0) {
		f->sandbox_wscale = (uint8_t)p->wscale;
		f->our_wscale = TCP_WSCALE;
	}
	f->sandbox_window = p->window; /* a SYN's window is never scaled */
	f->rto_ms = TCP_RTO_MIN_MS;
	f->rule = rule;
	c->stats.flows_opened++;

	/* One deadline for the whole upstream setup, SOCKS servers tried in turn included. */
	tcp_timer_set(c, f, c->connect_timeout_ms);
	if (route == ROUTE_SOCKS) {
		f->state = FLOW_TCP_SOCKS;
		tcp_socks_start(c, f);
		return;
	}
	tcp_sockaddr(&f->key, &ss, &sl);
	ret = tcp_connect_sock(c, f, (struct sockaddr *)&ss, sl);
	if (ret)
		tcp_connect_failed(c, f, -ret, p);
}

/**
 * tcp_upstream_failed() - The destination cannot be reached: answer the SYN accordingly
 * @c:   handler context
 * @f:   flow, connecting
 * @err: ECONNREFUSED (RST), EHOSTUNREACH, ENETUNREACH, EACCES (ICMP), ETIMEDOUT
 *       (silence until the sandbox gives up), anything else (RST)
 */
void tcp_upstream_failed(struct ctx *c, struct flow *f, int err)
{
	tcp_connect_failed(c, f, err, NULL);
}

/**
 * tcp_upstream_ready() - The upstream is connected (directly or through SOCKS): SYN-ACK
 * @c: handler context
 * @f: flow, connecting
 */
void tcp_upstream_ready(struct ctx *c, struct flow *f)
{
	/* Data may already wait behind a SOCKS reply, its edge consumed: look once. */
	f->flags |= FLOW_F_HOST_DATA;
	f->state = FLOW_TCP_SYN_RCVD;
	f->rto_ms = TCP_SYNACK_RTO_MS;
	f->retries = 0;
	tcp_send_ctl(c, f, PACKET_TCP_SYN | PACKET_TCP_ACK);
	f->seq_nxt = f->seq_una + 1;
	tcp_timer_set(c, f, f->rto_ms);
}

/* The direct connect finished (EPOLLOUT while connecting). */
static void tcp_connected(struct ctx *c, struct flow *f, uint32_t events)
{
	socklen_t sl = sizeof(int);
	int err = 0;

	/* A failed connect always comes with EPOLLERR: only then is there an error to fetch. */
	if (events & (EPOLLERR | EPOLLHUP)) {
		if (getsockopt(f->sock, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
			err = errno;
		tcp_connect_failed(c, f, err ? err : ECONNRESET, NULL);
		return;
	}
	tcp_upstream_ready(c, f);
	/* No edge consumed behind our back here: these events tell if data waits. */
	if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)))
		f->flags &= (uint16_t)~FLOW_F_HOST_DATA;
}

/**
 * tcp_tun_input() - Handle a TCP segment from the sandbox
 * @c: handler context
 * @p: parsed packet, checksums verified
 */
void tcp_tun_input(struct ctx *c, const struct packet *p)
{
	struct flow_key k;
	struct flow *f;

	memset(&k, 0, sizeof(k));
	k.family = p->family;
	k.sandbox_addr = p->src;
	k.remote_addr = p->dst;
	k.sandbox_port = p->sport;
	k.remote_port = p->dport;
	f = flow_lookup(&c->flows, &k);
	if (c->n_held) {
		if (f && tcp_hold_continues(c, f, p)) {
			tcp_sandbox_ack(c, f, p);
			if (f->state != FLOW_TCP_ESTABLISHED)
				return;
			tcp_hold(c, f, p->payload, p->payload_len);
			tcp_host_to_sandbox(c, f);
			return;
		}
		tcp_tun_flush(c);
		if (f && f->state == FLOW_CLOSED)
			f = NULL; /* reset by the write */
	}
	if (!f) {
		if (p->flags & PACKET_TCP_SYN)
			tcp_syn(c, p, &k);
		else
			tcp_reply_rst(c, p);
		return;
	}
	if (p->flags & PACKET_TCP_RST) {
		if (tcp_rst_acceptable(f, p))
			tcp_flow_close(c, f, true);
		return;
	}
	switch ((enum flow_state)f->state) {
	case FLOW_TCP_CONNECTING:
	case FLOW_TCP_SOCKS:
	case FLOW_TCP_TIMED_OUT:
		return; /* retransmitted SYNs: the answer waits for the upstream */
	case FLOW_TCP_SYN_RCVD:
		if (p->flags & PACKET_TCP_SYN) {
			if (p->seq + 1 == f->rcv_nxt)
				tcp_send_ctl(c, f, PACKET_TCP_SYN | PACKET_TCP_ACK);
			return;
		}
		if (!(p->flags & PACKET_TCP_ACK) || p->ack != f->seq_una + 1) {
			tcp_reply_rst(c, p);
			return;
		}
		f->state = FLOW_TCP_ESTABLISHED;
		f->seq_una = f->seq_nxt;
		f->rto_ms = TCP_RTO_MIN_MS;
		f->retries = 0;
		tcp_timer_set(c, f, 0);
		if (f->window_fresh > f->window_sent)
			f->window_sent =
				f->window_fresh; /* the scaled window, from the next ACK on */
		f->sandbox_window = (uint32_t)p->window << f->sandbox_wscale;
		tcp_sandbox_data(c, f, p);
		if (f->state == FLOW_TCP_ESTABLISHED)
			tcp_host_to_sandbox(c, f);
		return;
	case FLOW_TCP_ESTABLISHED:
		break;
	case FLOW_FREE:
	case FLOW_CLOSED:
		ASSERT(!"a closed flow is never found by lookup");
	}
	if (p->flags & PACKET_TCP_SYN) {
		tcp_send_ctl(c, f, PACKET_TCP_ACK); /* challenge ACK, RFC 5961 4 */
		return;
	}
	if (!(p->flags & PACKET_TCP_ACK))
		return;
	tcp_sandbox_ack(c, f, p);
	if (f->state != FLOW_TCP_ESTABLISHED)
		return;
	tcp_sandbox_data(c, f, p);
	if (f->state != FLOW_TCP_ESTABLISHED)
		return;
	tcp_maybe_done(c, f);
	if (f->state == FLOW_TCP_ESTABLISHED)
		tcp_host_to_sandbox(c, f);
}

/**
 * tcp_sock_event() - Handle epoll events of a flow's host socket
 * @c:      handler context
 * @flow:   flow index from the epoll reference
 * @events: epoll events
 */
void tcp_sock_event(struct ctx *c, uint32_t flow, uint32_t events)
{
	struct flow *f = flow_at(&c->flows, flow);

	if (!f || f->sock < 0)
		return; /* closed earlier in this batch */
	if (events & (EPOLLRDHUP | EPOLLHUP))
		f->flags |= FLOW_F_HOST_HUP;
	if (f->state == FLOW_TCP_CONNECTING) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			tcp_connected(c, f, events);
		return;
	}
	if (f->state == FLOW_TCP_SOCKS) {
		tcp_socks_event(c, f, events);
		return;
	}
	if (events & EPOLLERR) {
		int err = 0;
		socklen_t sl = sizeof(err);

		getsockopt(f->sock, SOL_SOCKET, SO_ERROR, &err, &sl);
		log_debug("flow %u: host socket error: %s", flow, strerror(err));
		tcp_reset(c, f);
		return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
		f->flags |= FLOW_F_HOST_DATA;
	if (f->state != FLOW_TCP_ESTABLISHED)
		return; /* data waits for the end of the handshake */
	if ((events & EPOLLOUT) && (f->flags & FLOW_F_WANT_OUT) && !tcp_sock_room(c, f))
		return;
	tcp_host_to_sandbox(c, f);
}

static void tcp_timeout(struct ctx *c, struct flow *f)
{
	switch ((enum flow_state)f->state) {
	case FLOW_TCP_CONNECTING:
	case FLOW_TCP_SOCKS:
		tcp_upstream_log(c, f, "connect timed out");
		tcp_connect_failed(c, f, ETIMEDOUT, NULL);
		return;
	case FLOW_TCP_TIMED_OUT:
		tcp_flow_close(c, f, true);
		return;
	case FLOW_TCP_SYN_RCVD:
		if (++f->retries > TCP_SYNACK_RETRIES) {
			tcp_flow_close(c, f, true);
			return;
		}
		c->stats.retransmits++;
		tcp_send_ctl(c, f, PACKET_TCP_SYN | PACKET_TCP_ACK);
		break;
	case FLOW_TCP_ESTABLISHED:
		if (++f->retries > TCP_MAX_RETRIES) {
			log_debug("flow %u: sandbox stopped answering", flow_index(&c->flows, f));
			tcp_reset(c, f);
			return;
		}
		if (f->seq_nxt != f->seq_una) {
			c->stats.retransmits++;
			tcp_retransmit(c, f); /* tcp_timer() already cleared the deadline */
		} else {
			tcp_window_probe(c, f);
		}
		break;
	case FLOW_FREE:
	case FLOW_CLOSED:
		ASSERT(!"a closed flow has no timer");
	}
	if (f->state == FLOW_CLOSED)
		return;
	f->rto_ms = f->rto_ms * 2 > TCP_RTO_MAX_MS ? TCP_RTO_MAX_MS : f->rto_ms * 2;
	tcp_timer_set(c, f, f->rto_ms);
}

/**
 * tcp_timer() - Handle the flows whose deadline has passed
 * @c: handler context
 */
void tcp_timer(struct ctx *c)
{
	uint32_t i = c->flows.timer_head;
	uint64_t next = 0;

	while (i != FLOW_NONE) {
		struct flow *f = &c->flows.flows[i];

		i = f->timer_next;
		if (f->deadline_ms <= c->now_ms) {
			flow_timer_set(&c->flows, f, 0);
			tcp_timeout(c, f);
		}
	}
	for (i = c->flows.timer_head; i != FLOW_NONE; i = c->flows.flows[i].timer_next)
		if (!next || c->flows.flows[i].deadline_ms < next)
			next = c->flows.flows[i].deadline_ms;
	c->timer_armed_ms = 0;
	if (next)
		loop_timer_arm(c, next);
}

/**
 * tcp_close_timed_out() - Forget connections whose connect timed out
 * @c: handler context
 *
 * Once the command has exited nothing will retry them, and they must not
 * keep the handler waiting for connections to drain.
 */
void tcp_close_timed_out(struct ctx *c)
{
	uint32_t i;

	for (i = 0; i < c->flows.never_used; i++)
		if (c->flows.flows[i].state == FLOW_TCP_TIMED_OUT)
			tcp_flow_close(c, &c->flows.flows[i], true);
	flow_reap(&c->flows);
}

/**
 * tcp_close_all() - Reset every flow (the handler is exiting)
 * @c: handler context
 */
void tcp_close_all(struct ctx *c)
{
	uint32_t i;

	for (i = 0; i < c->flows.never_used; i++) {
		struct flow *f = &c->flows.flows[i];

		if (f->state != FLOW_FREE && f->state != FLOW_CLOSED)
			tcp_flow_close(c, f, true);
	}
	flow_reap(&c->flows);
}

static bool tcp_rules_in_use(const struct ctx *c, const struct rules *r)
{
	uint32_t i;

	for (i = 0; i < c->flows.never_used; i++) {
		const struct flow *f = &c->flows.flows[i];

		if (f->state == FLOW_TCP_SOCKS && f->rule >= r->rule && f->rule < r->rule + r->n)
			return true;
	}
	return false;
}

static void tcp_rules_release(struct rules *r)
{
	rules_free(r);
	free(r);
}

/**
 * tcp_rules_replace() - Put new rules in force for new connections
 * @c:     handler context
 * @fresh: the new rules (taken over)
 *
 * Connections being set up through SOCKS keep the servers of the rule they
 * matched: the set it belongs to is retired, not freed, until none is left.
 *
 * Return: 0, or -EBUSY if too many retired sets are still in use
 */
int tcp_rules_replace(struct ctx *c, struct rules *fresh)
{
	unsigned int i, slot = ARRAY_SIZE(c->retired);
	uint32_t j;

	/* Flows past their setup no longer need their rule. */
	for (j = 0; j < c->flows.never_used; j++)
		if (c->flows.flows[j].state != FLOW_TCP_SOCKS)
			c->flows.flows[j].rule = NULL;
	for (i = 0; i < ARRAY_SIZE(c->retired); i++) {
		if (c->retired[i] && !tcp_rules_in_use(c, c->retired[i])) {
			tcp_rules_release(c->retired[i]);
			c->retired[i] = NULL;
		}
		if (!c->retired[i] && slot == ARRAY_SIZE(c->retired))
			slot = i;
	}
	if (c->rules && tcp_rules_in_use(c, c->rules)) {
		if (slot == ARRAY_SIZE(c->retired))
			return -EBUSY;
		c->retired[slot] = c->rules;
	} else if (c->rules) {
		tcp_rules_release(c->rules);
	}
	c->rules = fresh;
	return 0;
}

/**
 * tcp_init() - Check what the kernel offers for TCP translation
 * @c: handler context
 *
 * Return: 0, or -errno
 */
int tcp_init(struct ctx *c)
{
	int s, zero = 0;

	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	c->peek_offset = !setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero));
	close(s);
	c->stash_slots = CTX_STASH_MAX;
	if (getrandom(&c->isn_state, sizeof(c->isn_state), GRND_NONBLOCK) != sizeof(c->isn_state))
		c->isn_state = ctx_now_ms() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
	if (!c->peek_offset)
		log_info("SO_PEEK_OFF is not supported for TCP here: peeking past data in flight");
	return 0;
}
