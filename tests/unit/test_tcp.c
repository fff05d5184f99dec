// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for tcp.c: the translation state machine driven with synthetic
 * segments from a fake sandbox, against real kernel sockets on loopback.
 *
 * The handler's output to the tun goes to a hook that records every frame
 * (and can drop chosen ones); the route hook sends every connection
 * directly, loopback included. Criterion runs each test in its own process.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include "pmsocks-ns/ctx.h"
#include "pmsocks-ns/loop.h"
#include "pmsocks-ns/rules.h"
#include "pmsocks-ns/tcp.h"
#include "pmsocks-ns/tun.h"

#define MAX_CAPTURE 4096
#define SB_PORT	    40000

struct seg {
	struct packet p;
	uint8_t data[65536 + 128];
};

static struct ctx c;
static struct seg *captured;
static unsigned int n_captured, n_seen;
static int drop_data_segments; /* drop this many host->sandbox data segments */
static int listener = -1, server = -1;
static uint16_t port;
static uint32_t isn_value;
static bool isn_fixed;

static bool capture(void *opaque, const uint8_t *frame, size_t len)
{
	struct seg *s;

	(void)opaque;
	cr_assert_lt(n_captured, MAX_CAPTURE);
	s = &captured[n_captured];
	memcpy(s->data, frame, len);
	cr_assert_eq(packet_parse(&s->p, s->data, len), PACKET_OK, "handler sent a bad packet");
	if (drop_data_segments > 0 && s->p.proto == IPPROTO_TCP && s->p.payload_len) {
		drop_data_segments--;
		return false;
	}
	n_captured++;
	return false;
}

static enum route route_direct(const struct flow_key *k)
{
	(void)k;
	return ROUTE_DIRECT;
}

static uint32_t fixed_isn(void)
{
	return isn_value;
}

static void setup(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sin);

	captured = calloc(MAX_CAPTURE, sizeof(*captured));
	cr_assert_not_null(captured);
	memset(&c, 0, sizeof(c));
	c.mtu = 65520;
	c.connect_timeout_ms = 1000;
	inet_pton(AF_INET, "10.0.2.2", &c.gateway4.v4);
	cr_assert_eq(flow_table_init(&c.flows, 64), 0);
	cr_assert_eq(loop_init(&c, -1, 0), 0);
	cr_assert_eq(tcp_init(&c), 0);
	c.tun_hook = capture;
	c.route_hook = route_direct;
	if (isn_fixed)
		c.isn_hook = fixed_isn;

	listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(listener, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(listener, 16), 0);
	cr_assert_eq(getsockname(listener, (struct sockaddr *)&sin, &sl), 0);
	port = ntohs(sin.sin_port);
}

static void teardown(void)
{
	free(captured);
	captured = NULL;
	if (server >= 0)
		close(server);
	close(listener);
}

/* Run the handler's loop for up to @ms, or until @n frames were captured. */
static void pump_until(unsigned int n, int ms)
{
	uint64_t end = ctx_now_ms() + (uint64_t)ms;

	while (n_captured < n && ctx_now_ms() < end)
		loop_poll(&c, 10);
}

static void pump(int ms)
{
	pump_until(UINT32_MAX, ms);
}

/* The next frame the handler sent, failing the test if none came. */
static struct packet *next_out(int wait_ms)
{
	pump_until(n_seen + 1, wait_ms);
	cr_assert_gt(n_captured, n_seen, "expected a segment from the handler (seen %u)", n_seen);
	return &captured[n_seen++].p;
}

/* The last segment the handler sent, after pumping for it. */
static struct packet *latest_out(void)
{
	struct packet *p = next_out(500);

	while (n_captured > n_seen)
		p = next_out(0);
	return p;
}

static void no_more_out(int wait_ms)
{
	pump(wait_ms);
	cr_assert_eq(n_captured, n_seen, "unexpected segment from the handler");
}

struct sb {
	uint32_t seq; /* next sequence number the sandbox sends */
	uint32_t ack; /* what it acknowledges */
	uint16_t window;
	uint16_t sport; /* SB_PORT unless a test sets another */
	uint16_t dport;
	in_addr_t daddr;
};

static struct sb sb;

/* Build a segment from the sandbox into @frame and hand it to the handler. */
static void sandbox_send_from(uint8_t *frame, size_t size, uint8_t flags, uint32_t seq,
			      const void *payload, size_t len, int8_t wscale, uint16_t mss)
{
	struct packet_tcp_out o = {
		.family = AF_INET,
		.sport = sb.sport ? sb.sport : SB_PORT,
		.dport = sb.dport,
		.seq = seq,
		.ack = sb.ack,
		.flags = flags,
		.window = sb.window,
		.mss = mss,
		.wscale = wscale,
	};
	struct packet p;
	size_t hdr;
	ssize_t n;

	inet_pton(AF_INET, "10.0.2.15", &o.src.v4);
	o.dst.v4.s_addr = sb.daddr;
	hdr = packet_tcp_header_len(&o);
	if (len)
		memcpy(frame + hdr, payload, len);
	n = packet_build_tcp(frame, size, &o, len);
	cr_assert_gt(n, 0);
	cr_assert_eq(packet_parse(&p, frame, (size_t)n), PACKET_OK);
	tcp_tun_input(&c, &p);
}

static void sandbox_send(uint8_t flags, uint32_t seq, const void *payload, size_t len,
			 int8_t wscale, uint16_t mss)
{
	static uint8_t frame[65536 + 128];

	sandbox_send_from(frame, sizeof(frame), flags, seq, payload, len, wscale, mss);
	tcp_flush_acks(&c);
}

static void sandbox_data(const void *payload, size_t len)
{
	sandbox_send(PACKET_TCP_ACK | PACKET_TCP_PSH, sb.seq, payload, len, -1, 0);
	sb.seq += (uint32_t)len;
}

/* Handshake with the loopback listener; returns the handler's ISN. */
static uint32_t connect_flow(uint32_t sandbox_isn, int8_t wscale)
{
	struct packet *synack;

	sb.seq = sandbox_isn;
	sb.ack = 0;
	sb.window = 65535;
	sb.dport = port;
	sb.daddr = htonl(INADDR_LOOPBACK);
	sandbox_send(PACKET_TCP_SYN, sb.seq, NULL, 0, wscale, 1460);
	sb.seq++;
	synack = next_out(2000);
	cr_assert_eq(synack->flags, PACKET_TCP_SYN | PACKET_TCP_ACK);
	cr_assert_eq(synack->ack, sandbox_isn + 1);
	cr_assert_eq(synack->mss, 65520 - 40, "MSS is clamped to the tun MTU");
	cr_assert_eq(synack->wscale, wscale >= 0 ? TCP_WSCALE : -1);
	sb.ack = synack->seq + 1;
	sandbox_send(PACKET_TCP_ACK, sb.seq, NULL, 0, -1, 0);
	server = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(server, 0);
	return synack->seq;
}

static void server_expect(const void *want, size_t len)
{
	static uint8_t got[1 << 20];
	size_t have = 0;
	uint64_t end = ctx_now_ms() + 2000;

	cr_assert_leq(len, sizeof(got));
	while (have < len && ctx_now_ms() < end) {
		struct pollfd pfd = {.fd = server, .events = POLLIN};
		ssize_t n;

		loop_poll(&c, 0);
		if (poll(&pfd, 1, 10) <= 0)
			continue;
		n = recv(server, got + have, len - have, MSG_DONTWAIT);
		cr_assert_gt(n, 0, "server: %s", n < 0 ? strerror(errno) : "EOF");
		have += (size_t)n;
	}
	cr_assert_eq(have, len, "server got %zu of %zu bytes", have, len);
	cr_assert_eq(memcmp(got, want, len), 0, "server got different bytes");
}

static void server_expect_nothing(void)
{
	char b;

	pump(50);
	cr_assert_eq(recv(server, &b, 1, MSG_DONTWAIT), -1);
	cr_assert_eq(errno, EAGAIN);
}

static void fill(uint8_t *buf, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 31 + seed * 7 + (i >> 8));
}

/* Collect host->sandbox payload in order, ACKing as it comes, until @len bytes. */
static void sandbox_receive(uint8_t *out, size_t len)
{
	size_t have = 0;

	while (have < len) {
		struct packet *p = next_out(2000);

		if (!p->payload_len)
			continue;
		cr_assert_eq(p->seq, sb.ack, "segment out of order: seq %u, expected %u", p->seq,
			     sb.ack);
		cr_assert_leq(have + p->payload_len, len);
		memcpy(out + have, p->payload, p->payload_len);
		have += p->payload_len;
		sb.ack += (uint32_t)p->payload_len;
		sandbox_send(PACKET_TCP_ACK, sb.seq, NULL, 0, -1, 0);
	}
}

TestSuite(tcp, .init = setup, .fini = teardown);

Test(tcp, syn_is_answered_only_after_the_upstream_connect)
{
	sb.dport = port;
	sb.daddr = htonl(INADDR_LOOPBACK);
	sb.window = 65535;
	sandbox_send(PACKET_TCP_SYN, 1000, NULL, 0, 7, 1460);
	cr_assert_eq(n_captured, 0, "no SYN-ACK before the connect completed");
	cr_assert_eq(c.flows.active, 1);
	struct packet *p = next_out(2000);
	cr_assert_eq(p->flags, PACKET_TCP_SYN | PACKET_TCP_ACK);
	cr_assert_eq(p->ack, 1001);
	cr_assert_eq(p->src.v4.s_addr, htonl(INADDR_LOOPBACK));
	cr_assert_eq(p->sport, port);
	cr_assert_eq(p->dport, SB_PORT);
}

/* A loopback port nobody listens on: bind one, note it, close it. */
static uint16_t closed_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);

	cr_assert_eq(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(s, (struct sockaddr *)&sin, &sl), 0);
	close(s);
	return ntohs(sin.sin_port);
}

Test(tcp, refused_gets_rst)
{
	struct packet *p;

	sb.dport = closed_port();
	sb.daddr = htonl(INADDR_LOOPBACK);
	sandbox_send(PACKET_TCP_SYN, 5000, NULL, 0, -1, 1460);
	p = next_out(2000);
	cr_assert_eq(p->flags, PACKET_TCP_RST | PACKET_TCP_ACK);
	cr_assert_eq(p->ack, 5001);
	pump(20);
	cr_assert_eq(c.flows.active, 0);
	cr_assert_eq(c.stats.flows_refused, 1);
}

/* What the handler logged since cr_redirect_stderr(), without waiting for more */
static size_t read_log(char *buf, size_t size)
{
	int fd = fileno(cr_get_redirected_stderr());
	size_t len = 0;
	ssize_t n;

	fflush(stderr);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return len;
}

static unsigned int count_of(const char *text, const char *what)
{
	unsigned int n = 0;

	for (const char *at = text; (at = strstr(at, what)); at += strlen(what))
		n++;
	return n;
}

/*
 * Out of file descriptors, the handler cannot open the connection: the
 * sandbox sees it refused, and the user is told why, at most once a second
 * with a count of what was held back.
 */
Test(tcp, a_connection_the_handler_cannot_open_is_refused_and_told_once_a_second)
{
	static char log[8192];
	struct rlimit rl;
	unsigned int i;
	int lowest;

	cr_redirect_stderr();
	sb.dport = port;
	sb.daddr = htonl(INADDR_LOOPBACK);
	sb.window = 65535;
	/* Every fd below the limit in use: the next socket() fails with EMFILE. */
	lowest = fcntl(listener, F_DUPFD_CLOEXEC, 0);
	cr_assert_geq(lowest, 0);
	close(lowest);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = (rlim_t)lowest;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	for (i = 0; i < 4; i++) {
		struct packet *p;

		if (i == 3)
			c.warn_local.last_ms -= 1000; /* a second later */
		sb.sport = (uint16_t)(SB_PORT + i);
		sandbox_send(PACKET_TCP_SYN, 7000 + i * 100, NULL, 0, -1, 1460);
		p = next_out(500);
		cr_assert_eq(p->flags, PACKET_TCP_RST | PACKET_TCP_ACK, "SYN %u", i);
		cr_assert_eq(p->ack, 7000 + i * 100 + 1);
		cr_assert_eq(p->dport, SB_PORT + i);
	}
	pump(20);
	cr_assert_eq(c.flows.active, 0);
	cr_assert_eq(c.stats.flows_refused, 4);
	read_log(log, sizeof(log));
	cr_assert_eq(count_of(log, "127.0.0.1 port "), 2, "two warnings in:\n%s", log);
	cr_assert_eq(count_of(log, "cannot connect (Too many open files)"), 2, "%s", log);
	cr_assert_eq(count_of(log, "at its limit of "), 2, "%s", log);
	cr_assert_eq(count_of(log, "more since"), 1, "%s", log);
	cr_assert_neq(
		strstr(log, "refused in the sandbox (and 2 more since the last such warning)"),
		NULL, "%s", log);
}

/* A destination's own refusal is nothing to warn about. */
Test(tcp, a_refusal_of_the_destination_is_not_logged)
{
	static char log[1024];

	cr_redirect_stderr();
	sb.dport = closed_port();
	sb.daddr = htonl(INADDR_LOOPBACK);
	sandbox_send(PACKET_TCP_SYN, 5000, NULL, 0, -1, 1460);
	cr_assert_eq(next_out(2000)->flags, PACKET_TCP_RST | PACKET_TCP_ACK);
	cr_assert_eq(read_log(log, sizeof(log)), 0, "logged: %s", log);
}

Test(tcp, connect_timeout_is_silent)
{
	int full = socket(AF_INET, SOCK_STREAM, 0), filler;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);

	/* A listener whose accept queue is full drops further SYNs: no answer at all. */
	bind(full, (struct sockaddr *)&sin, sizeof(sin));
	listen(full, 0);
	getsockname(full, (struct sockaddr *)&sin, &sl);
	filler = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(filler, (struct sockaddr *)&sin, sizeof(sin)), 0);
	sb.dport = ntohs(sin.sin_port);
	sb.daddr = htonl(INADDR_LOOPBACK);
	sandbox_send(PACKET_TCP_SYN, 7000, NULL, 0, -1, 1460);
	pump(1500);
	cr_assert_eq(n_captured, 0, "a timed-out connect is not answered");
	cr_assert_eq(c.stats.flows_timed_out, 1);
	sandbox_send(PACKET_TCP_SYN, 7000, NULL, 0, -1, 1460); /* retransmitted SYN: still silent */
	pump(50);
	cr_assert_eq(n_captured, 0);
	close(filler);
	close(full);
}

Test(tcp, unknown_segment_gets_rst)
{
	struct packet *p;

	sb.dport = port;
	sb.daddr = htonl(INADDR_LOOPBACK);
	sb.ack = 12345;
	sandbox_send(PACKET_TCP_ACK, 999, "x", 1, -1, 0);
	p = next_out(100);
	cr_assert_eq(p->flags, PACKET_TCP_RST);
	cr_assert_eq(p->seq, 12345);
	sandbox_send(PACKET_TCP_RST, 999, NULL, 0, -1, 0);
	no_more_out(20);
}

Test(tcp, data_both_ways)
{
	uint8_t up[3000], down[5000], got[5000];

	connect_flow(100, 7);
	fill(up, sizeof(up), 1);
	sandbox_data(up, sizeof(up));
	server_expect(up, sizeof(up));
	cr_assert_eq(next_out(500)->ack, sb.seq, "ACK covers what the socket took");

	fill(down, sizeof(down), 2);
	cr_assert_eq(send(server, down, sizeof(down), 0), (ssize_t)sizeof(down));
	sandbox_receive(got, sizeof(down));
	cr_assert_eq(memcmp(got, down, sizeof(down)), 0);
	pump(20);
	cr_assert_eq(c.stats.retransmits, 0);
}

/* Run the loop as busy polling does (never asleep) until a frame comes: it fails the test if none.
 */
static struct packet *next_out_polling(int wait_ms)
{
	uint64_t end = ctx_now_ms() + (uint64_t)wait_ms;

	while (n_captured == n_seen && ctx_now_ms() < end)
		loop_poll(&c, 0);
	cr_assert_gt(n_captured, n_seen, "expected a segment from the handler (seen %u)", n_seen);
	return &captured[n_seen++].p;
}

Test(tcp, ack_rides_on_the_reply_while_busy_polling)
{
	struct packet *p;

	connect_flow(100, 7);
	c.busy_poll_us = 60 * 1000 * 1000;
	sandbox_data("request", 7);
	server_expect("request", 7);
	cr_assert_eq(n_captured, n_seen, "no ACK of its own while a reply may come");
	cr_assert_eq(send(server, "reply", 5, 0), 5);
	p = next_out_polling(2000);
	cr_assert_eq(p->payload_len, 5);
	cr_assert_eq(p->ack, sb.seq, "the reply acknowledges the request");
	tcp_flush_acks_later(&c);
	cr_assert_eq(n_captured, n_seen, "and no ACK is owed any more");

	/* The FIN's ACK waits for the peer's FIN the same way. */
	sb.ack += 5;
	sandbox_send(PACKET_TCP_ACK | PACKET_TCP_FIN, sb.seq, NULL, 0, -1, 0);
	sb.seq++;
	cr_assert_eq(n_captured, n_seen);
	shutdown(server, SHUT_WR);
	p = next_out_polling(2000);
	cr_assert_eq(p->flags, PACKET_TCP_FIN | PACKET_TCP_ACK);
	cr_assert_eq(p->ack, sb.seq);
}

Test(tcp, ack_waits_no_longer_than_the_busy_poll)
{
	struct packet *p;

	connect_flow(100, 7);
	c.busy_poll_us = 60 * 1000 * 1000;
	sandbox_data("request", 7);
	server_expect("request", 7);
	cr_assert_eq(n_captured, n_seen);
	/* Asleep, nothing could ride on it: it goes before the wait. */
	loop_poll(&c, 1);
	p = next_out(0);
	cr_assert_eq(p->payload_len, 0);
	cr_assert_eq(p->ack, sb.seq);
	no_more_out(20);
}

Test(tcp, ack_waits_for_the_busy_poll_time_and_the_next_batch)
{
	struct packet *p;
	uint32_t batch;

	connect_flow(100, 7);
	c.busy_poll_us = 1000;
	c.now_us = 5000000; /* the batch that brings the request */
	batch = c.batch;
	sandbox_data("request", 7);
	server_expect("request", 7);
	c.batch = batch; /* (server_expect() polled) */
	tcp_flush_acks_overdue(&c, 5001000);
	cr_assert_eq(n_captured, n_seen, "its own batch is not over: no reply could come yet");
	c.batch = batch + 1; /* the next batch, without the reply */
	tcp_flush_acks_overdue(&c, 5000999);
	cr_assert_eq(n_captured, n_seen, "not yet due");
	tcp_flush_acks_overdue(&c, 5001000);
	p = next_out(0);
	cr_assert_eq(p->payload_len, 0);
	cr_assert_eq(p->ack, sb.seq);
	tcp_flush_acks_overdue(&c, 5002000);
	cr_assert_eq(n_captured, n_seen, "sent once");
}

Test(tcp, under_load_each_ack_waits_a_batch_of_its_own)
{
	struct sb first, second;
	int first_server;
	struct packet *p;
	uint32_t batch;

	/* Batches longer than busy_poll_us: the ACK of each waits for the next batch. */
	connect_flow(100, 7);
	first = sb;
	first_server = server;
	sb.sport = SB_PORT + 1;
	connect_flow(900, 7);
	second = sb;
	c.busy_poll_us = 50;
	batch = c.batch;
	c.now_us = 5000000;
	sb = first;
	sandbox_data("one", 3);
	c.batch = batch + 1;
	c.now_us = 5001000;
	sb = second;
	sandbox_data("two", 3);
	tcp_flush_acks_overdue(&c, 5002000);
	p = next_out(0);
	cr_assert_eq(p->dport, SB_PORT, "the ACK of the batch before is due");
	cr_assert_eq(p->payload_len, 0);
	cr_assert_eq(p->ack, first.seq + 3);
	no_more_out(0);
	c.batch = batch + 2;
	tcp_flush_acks_overdue(&c, 5002000);
	p = next_out(0);
	cr_assert_eq(p->dport, SB_PORT + 1, "then the other one's");
	cr_assert_eq(p->ack, 904);
	tcp_flush_acks_overdue(&c, 5003000);
	cr_assert_eq(n_captured, n_seen, "each sent once");
	close(first_server);
}

Test(tcp, second_segment_is_acked_with_the_batch)
{
	connect_flow(100, 7);
	c.busy_poll_us = 60 * 1000 * 1000;
	sandbox_data("one", 3);
	cr_assert_eq(n_captured, n_seen);
	sandbox_data("two", 3);
	cr_assert_eq(n_captured, n_seen + 1, "two segments: ACKed after the batch");
	cr_assert_eq(next_out(0)->ack, sb.seq);
	server_expect("onetwo", 6);
	tcp_flush_acks_later(&c);
	cr_assert_eq(n_captured, n_seen, "one ACK for both");
}

Test(tcp, window_update_is_not_held_back)
{
	uint8_t big[40000];

	/* No scaling: a window of 64 KiB at most, so 40000 bytes leave less than half. */
	connect_flow(100, -1);
	c.busy_poll_us = 60 * 1000 * 1000;
	fill(big, sizeof(big), 4);
	sandbox_data(big, sizeof(big));
	cr_assert_eq(n_captured, n_seen + 1, "ACKed after the batch");
	cr_assert_eq(next_out(0)->ack, sb.seq);
	server_expect(big, sizeof(big));
}

/* The index of the one established flow. */
static uint32_t established_flow(void)
{
	uint32_t i;

	for (i = 0; i < c.flows.never_used; i++)
		if (c.flows.flows[i].state == FLOW_TCP_ESTABLISHED)
			return i;
	cr_assert_fail("no established flow");
	return 0;
}

static int established_sock(void)
{
	return c.flows.flows[established_flow()].sock;
}

static int nodelay(int sock)
{
	int on = -1;
	socklen_t sl = sizeof(on);

	cr_assert_eq(getsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &on, &sl), 0);
	return on;
}

Test(tcp, nodelay_from_the_second_write_on)
{
	connect_flow(100, 7);
	sandbox_data("one", 3);
	server_expect("one", 3);
	cr_assert_eq(nodelay(established_sock()), 0, "one request needs no TCP_NODELAY");
	sandbox_data("two", 3);
	server_expect("two", 3);
	cr_assert_neq(nodelay(established_sock()), 0, "Nagle must not hold the second back");
}

Test(tcp, without_busy_polling_acks_go_with_the_batch)
{
	connect_flow(100, 7);
	sandbox_data("request", 7);
	cr_assert_eq(n_captured, n_seen + 1);
	cr_assert_eq(next_out(0)->ack, sb.seq);
	server_expect("request", 7);
}

/* Frames of one tun batch, as tun_input() passes them: held segments point into them. */
static uint8_t batch_frames[CTX_HOLD_MAX + 1][2048];

/* Data segment @i of a tun batch: the handler may hold its payload. */
static void batch_data(unsigned int i, const void *payload, size_t len, uint8_t flags)
{
	c.tun_may_hold = true;
	c.tun_held = false;
	sandbox_send_from(batch_frames[i], sizeof(batch_frames[i]), PACKET_TCP_ACK | flags, sb.seq,
			  payload, len, -1, 0);
	sb.seq += (uint32_t)len + !!(flags & PACKET_TCP_FIN);
}

/* The end of a tun batch, as tun_input() ends it. */
static void batch_end(void)
{
	c.tun_may_hold = false;
	tcp_tun_flush(&c);
	tcp_flush_acks(&c);
}

Test(tcp, segments_of_a_batch_are_written_together)
{
	char chunk[3][200];
	unsigned int i;
	struct packet *p;

	connect_flow(100, 7);
	for (i = 0; i < 3; i++) {
		memset(chunk[i], 'a' + (int)i, sizeof(chunk[i]));
		batch_data(i, chunk[i], sizeof(chunk[i]), PACKET_TCP_PSH);
		cr_assert(c.tun_held, "segment %u is held", i);
	}
	tcp_flush_acks(&c);
	cr_assert_eq(n_captured, n_seen, "nothing is acknowledged before it is written");
	server_expect_nothing();
	batch_end();
	server_expect(chunk, sizeof(chunk));
	p = next_out(0);
	cr_assert_eq(p->ack, sb.seq, "one ACK for all three");
	cr_assert_eq(p->payload_len, 0);
	no_more_out(20);
}

Test(tcp, anything_else_writes_what_is_held_first)
{
	struct packet *p;

	connect_flow(100, 7);
	batch_data(0, "held", 4, 0);
	cr_assert(c.tun_held);
	/* A FIN is not held: the data goes first, then the shutdown. */
	batch_data(1, "fin", 3, PACKET_TCP_FIN);
	cr_assert_not(c.tun_held);
	batch_end();
	server_expect("heldfin", 7);
	{
		char b;

		cr_assert_eq(recv(server, &b, 1, 0), 0, "EOF after the data");
	}
	p = next_out(0);
	cr_assert_eq(p->ack, sb.seq, "data and FIN acknowledged");
}

Test(tcp, a_gap_while_holding_gets_a_duplicate_ack)
{
	struct packet *p;
	uint32_t base;

	connect_flow(100, 7);
	batch_data(0, "one", 3, 0);
	base = sb.seq;
	sb.seq += 10; /* a segment lost in between */
	batch_data(1, "three", 5, 0);
	cr_assert_not(c.tun_held, "out of order: not held");
	p = next_out(0);
	cr_assert_eq(p->ack, base, "duplicate ACK after what was written");
	batch_end();
	server_expect("one", 3);
	server_expect_nothing();
}

Test(tcp, a_full_ring_is_written)
{
	char all[CTX_HOLD_MAX + 1];
	unsigned int i;

	connect_flow(100, 7);
	for (i = 0; i <= CTX_HOLD_MAX; i++) {
		all[i] = (char)('A' + i);
		batch_data(i, &all[i], 1, 0);
		cr_assert(c.tun_held, "segment %u", i);
	}
	/* No room for the last: the others were written to make some. */
	server_expect(all, CTX_HOLD_MAX);
	batch_end();
	server_expect(all + CTX_HOLD_MAX, 1);
}

/* The right edge of the window @p offers */
static uint32_t window_edge(const struct packet *p)
{
	return p->ack + ((uint32_t)p->window << TCP_WSCALE);
}

/*
 * After data was dropped, the window of @p ends at @end, where what the
 * sandbox has sent ends, rounded up to the window's unit: it may send that
 * again, and nothing new.
 */
static void window_ends_at(const struct packet *p, uint32_t end)
{
	uint32_t edge = window_edge(p);

	cr_assert((int32_t)(edge - end) >= 0 && (int32_t)(edge - end) < (1 << TCP_WSCALE),
		  "the window ends at %u, not where the sandbox's data does (%u)", edge, end);
}

Test(tcp, out_of_order_and_duplicate_segments)
{
	uint8_t data[300];
	uint32_t base;
	struct packet *p;

	connect_flow(100, 7);
	fill(data, sizeof(data), 3);
	base = sb.seq;
	/*
	 * The second 100 bytes before the first: dropped, and one duplicate
	 * ACK at base, no more: the sandbox has one segment out of order.
	 * Until the first 100 are back, the window ends where the sandbox's
	 * data does.
	 */
	sandbox_send(PACKET_TCP_ACK, base + 100, data + 100, 100, -1, 0);
	p = next_out(200);
	cr_assert_eq(p->ack, base);
	window_ends_at(p, base + 200);
	no_more_out(20);
	server_expect_nothing();
	/* The first 100: taken; the second 100 may come again, nothing new yet. */
	sandbox_send(PACKET_TCP_ACK, base, data, 100, -1, 0);
	server_expect(data, 100);
	p = latest_out();
	cr_assert_eq(p->ack, base + 100);
	window_ends_at(p, base + 200);
	/* The first 100 again (a duplicate): ACKed, not written twice. */
	sandbox_send(PACKET_TCP_ACK, base, data, 100, -1, 0);
	cr_assert_eq(next_out(200)->ack, base + 100);
	server_expect_nothing();
	/* Overlapping retransmission of 50..300: only 100..300 is new; all is back. */
	sandbox_send(PACKET_TCP_ACK, base + 50, data + 50, 250, -1, 0);
	server_expect(data + 100, 200);
	p = latest_out();
	cr_assert_eq(p->ack, base + 300);
	cr_assert_gt((uint32_t)p->window << TCP_WSCALE, 1U << TCP_WSCALE, "the window opens again");
}

/*
 * Lost between the sandbox and us (a full tun queue, say): the three segments
 * after the hole get three duplicate ACKs with one window, so the sandbox
 * resends at once, and no fourth, which Linux would count as reordering
 * (more duplicates than segments out). Until the hole is filled, each
 * window leaves room to resend what it has sent and none for anything new,
 * which would be dropped too and come back only after a timeout.
 */
Test(tcp, a_hole_gets_three_duplicate_acks_and_no_room_for_new_data)
{
	uint8_t data[4000];
	uint32_t base, edge;
	uint16_t win_field;
	struct packet *p;
	int i;

	connect_flow(100, 7);
	fill(data, sizeof(data), 5);
	base = sb.seq;
	for (i = 1; i < 4; i++)
		sandbox_send(PACKET_TCP_ACK, base + 1000 * (uint32_t)i, data + 1000 * i, 1000, -1,
			     0);
	for (i = 0; i < 3; i++) {
		p = next_out(i ? 0 : 200);
		if (!i) {
			window_ends_at(p, base + 2000);
			win_field = p->window;
		}
		cr_assert_eq(p->ack, base, "duplicate ACK %d", i + 1);
		cr_assert_eq(p->window, win_field, "duplicate ACK %d has the same window", i + 1);
	}
	no_more_out(20);
	server_expect_nothing();
	/* The sandbox resends one segment per ACK (NewReno). */
	for (i = 0; i < 4; i++) {
		sandbox_send(PACKET_TCP_ACK, base + 1000 * (uint32_t)i, data + 1000 * i, 1000, -1,
			     0);
		server_expect(data + 1000 * i, 1000);
		p = latest_out();
		cr_assert_eq(p->ack, base + 1000 * (uint32_t)(i + 1));
		edge = window_edge(p);
		if (i == 3)
			break;
		cr_assert((int32_t)(edge - (base + 1000 * (uint32_t)(i + 2))) >= 0,
			  "room to resend the next segment");
		cr_assert((int32_t)(edge - (base + 4000)) < (1 << TCP_WSCALE),
			  "no room for new data while a segment is missing");
	}
	cr_assert((int32_t)(edge - (base + 4000)) >= (1 << TCP_WSCALE),
		  "all is back: room for more");
}

/* A FIN after a hole: once the data and the FIN are back, nothing is counted as dropped. */
Test(tcp, a_fin_after_a_hole_ends_the_recovery)
{
	uint8_t data[200];
	uint32_t base;
	struct packet *p;

	connect_flow(100, 7);
	fill(data, sizeof(data), 4);
	base = sb.seq;
	sandbox_send(PACKET_TCP_ACK | PACKET_TCP_FIN, base + 100, data + 100, 100, -1, 0);
	sandbox_send(PACKET_TCP_ACK, base, data, 100, -1, 0);
	server_expect(data, 100);
	p = latest_out();
	cr_assert_eq(p->ack, base + 100);
	window_ends_at(p, base + 201);
	sandbox_send(PACKET_TCP_ACK | PACKET_TCP_FIN, base + 100, data + 100, 100, -1, 0);
	server_expect(data + 100, 100);
	p = latest_out();
	cr_assert_eq(p->ack, base + 201, "the data and the FIN are taken");
	cr_assert_eq(c.flows.flows[established_flow()].flags & FLOW_F_DROPPED, 0,
		     "nothing is left to recover");
}

Test(tcp, window_scaling_bounds_what_is_in_flight)
{
	static uint8_t down[20000];
	uint32_t in_flight = 0;
	unsigned int i;

	connect_flow(100, 3);
	sb.window = 100; /* scaled by 2^3: 800 bytes */
	sandbox_send(PACKET_TCP_ACK, sb.seq, NULL, 0, -1, 0);
	fill(down, sizeof(down), 4);
	cr_assert_eq(send(server, down, sizeof(down), 0), (ssize_t)sizeof(down));
	pump(100);
	for (i = n_seen; i < n_captured; i++)
		in_flight += (uint32_t)captured[i].p.payload_len;
	cr_assert_eq(in_flight, 800, "window 100 << 3 allows exactly 800 bytes, got %u", in_flight);
	/* Our own windows are scaled by TCP_WSCALE: the field times 128 is the socket space. */
	cr_assert_gt((uint32_t)captured[n_captured - 1].p.window << TCP_WSCALE, 65535);
}

Test(tcp, zero_window_probe_and_window_update)
{
	uint8_t down[1000], got[1000];
	struct packet *p;

	connect_flow(100, 7);
	sb.window = 0;
	sandbox_send(PACKET_TCP_ACK, sb.seq, NULL, 0, -1, 0);
	fill(down, sizeof(down), 5);
	cr_assert_eq(send(server, down, sizeof(down), 0), (ssize_t)sizeof(down));
	pump(50);
	cr_assert_eq(n_captured, n_seen, "nothing is sent into a zero window");
	/* After the retransmission timeout the handler probes with an old sequence number. */
	p = next_out(1000);
	cr_assert_eq(p->payload_len, 0);
	cr_assert_eq(p->seq, sb.ack - 1);
	/* The window opens: the data flows. */
	sb.window = 65535;
	sandbox_send(PACKET_TCP_ACK, sb.seq, NULL, 0, -1, 0);
	sandbox_receive(got, sizeof(got));
	cr_assert_eq(memcmp(got, down, sizeof(got)), 0);
}

/*
 * The server reads while the handler polls, until *@got reaches @want or
 * @frames segments have been captured, 5 s at most.
 */
static void server_drain(uint64_t *got, uint64_t want, unsigned int frames)
{
	static uint8_t sink[1 << 16];
	uint64_t end = ctx_now_ms() + 5000;

	while (*got < want && n_captured < frames && ctx_now_ms() < end) {
		ssize_t n = recv(server, sink, sizeof(sink), MSG_DONTWAIT);

		if (n > 0)
			*got += (uint64_t)n;
		loop_poll(&c, 1);
	}
}

Test(tcp, full_socket_closes_our_window_and_reopens_it)
{
	static uint8_t chunk[60000];
	uint32_t window = 1;
	uint64_t sent = 0, got = 0;
	int i;

	connect_flow(100, 7);
	/* The server does not read: its receive buffer, then the handler's socket fill up. */
	fill(chunk, sizeof(chunk), 6);
	for (i = 0; i < 2000 && window; i++) {
		struct packet *p;
		uint32_t len = window < sizeof(chunk) ? window : sizeof(chunk);

		sandbox_data(chunk, len);
		sent += len;
		p = next_out(500);
		cr_assert_eq(p->ack, sb.seq, "every byte within the window is taken");
		window = (uint32_t)p->window << TCP_WSCALE;
		while (n_captured > n_seen) /* take the latest window */
			window = (uint32_t)next_out(0)->window << TCP_WSCALE;
	}
	cr_assert_eq(window, 0, "the window closes when the socket is full");
	cr_assert_eq(c.stats.partial_writes, 0);
	/* The server reads everything: a window update follows without any segment from us. */
	server_drain(&got, sent, UINT_MAX);
	cr_assert_eq(got, sent);
	cr_assert_gt(n_captured, n_seen, "a window update was sent");
	cr_assert_gt(captured[n_captured - 1].p.window, 0);
}

/*
 * A sender may send up to the right edge of any ACK it had when it sent.
 * Our windows are scaled by 2^TCP_WSCALE, and one rounded down to the scale
 * moves that edge left by up to 2^TCP_WSCALE - 1 bytes while data up to the
 * earlier edge is in flight: it is taken. What is left of the window is
 * then nothing, not the whole of it again: a window promised again without
 * a look at the socket ran past its room, and the data it refused cost the
 * sandbox retransmission timeouts (a one-stream upload stalled for 1.5 s).
 */
Test(tcp, data_up_to_an_earlier_right_edge_is_taken_and_not_promised_again)
{
	static uint8_t chunk[60000], frame[65536 + 128];
	uint32_t window = UINT32_MAX, rest, first, flow;
	int buf = 65536, i, overran = 0;
	struct packet *p;

	connect_flow(100, 7);
	flow = established_flow();
	/* A server that does not read, into a small buffer: the handler's socket fills. */
	cr_assert_eq(setsockopt(server, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf)), 0);
	fill(chunk, sizeof(chunk), 9);
	for (i = 0; i < 2000 && window > 100000; i++) {
		sandbox_data(chunk, window < sizeof(chunk) ? window : sizeof(chunk));
		window = (uint32_t)latest_out()->window << TCP_WSCALE;
	}
	for (i = 0; i < 1000 && window >= 512; i++) {
		/*
		 * A little over half the window, so that the ACK takes a fresh
		 * look at the socket and leaves what is left of the window at
		 * 64 past a multiple of 128; then the rest, up to the first
		 * ACK's edge, whatever the second said.
		 */
		rest = ((window / 2 - 128) & ~127U) + 64;
		first = window - rest;
		sandbox_data(chunk, first);
		p = latest_out();
		cr_assert_eq(p->ack, sb.seq);
		sandbox_send_from(frame, sizeof(frame), PACKET_TCP_ACK | PACKET_TCP_PSH, sb.seq,
				  chunk, rest, -1, 0);
		sb.seq += rest;
		if (((uint32_t)p->window << TCP_WSCALE) < rest) {
			/* The second ACK moved the edge left, and the rest went past it. */
			overran++;
			cr_assert_eq(c.flows.flows[flow].window_sent, 0,
				     "round %d: nothing is left of a window the sandbox went past",
				     i);
		}
		tcp_flush_acks(&c);
		p = latest_out();
		cr_assert_eq(p->ack, sb.seq, "round %d: data within an edge we gave is taken", i);
		window = (uint32_t)p->window << TCP_WSCALE;
	}
	cr_assert_gt(overran, 0, "the test went past a rounded-down edge");
	cr_assert_lt(window, 512, "the window closed as the socket filled");
	cr_assert_eq(c.stats.partial_writes, 0);
}

/*
 * Fill the socket behind a server that does not read as the window allows,
 * then send beyond the window until the socket refuses part of a segment of
 * @chunk. Return: the ACK after it; *@missing is what it refused, *@sent
 * what it took.
 */
static struct packet *refuse_some(const uint8_t *chunk, uint32_t size, uint32_t *missing,
				  uint64_t *sent)
{
	uint32_t window = 1;
	struct packet *p = NULL;
	int i;

	for (i = 0; i < 2000 && window; i++) {
		uint32_t len = window < size ? window : size;

		sandbox_data(chunk, len);
		*sent += len;
		window = (uint32_t)latest_out()->window << TCP_WSCALE;
	}
	cr_assert_eq(window, 0);
	for (i = 0; i < 100 && !c.stats.partial_writes; i++) {
		sandbox_data(chunk, size);
		p = latest_out();
	}
	cr_assert_eq(c.stats.partial_writes, 1, "the socket refused some at last");
	cr_assert_not_null(p);
	*missing = sb.seq - p->ack;
	cr_assert(*missing > 0 && *missing <= size, "what it refused is not acknowledged");
	cr_assert_eq(p->window, 0, "it refused: no room");
	*sent += size * (uint64_t)i - *missing;
	return p;
}

/* With no slot free to keep it (tcp_stash()), refused data is dropped and asked for again. */
Test(tcp, refused_data_is_asked_for_again_once_there_is_room)
{
	static uint8_t chunk[60000];
	uint32_t ack, missing;
	uint16_t win_field;
	uint64_t sent = 0, got = 0;
	struct packet *p;
	int i;

	c.stash_slots = 0;
	connect_flow(100, 7);
	fill(chunk, sizeof(chunk), 8);
	ack = refuse_some(chunk, sizeof(chunk), &missing, &sent)->ack;
	/* Sent past the refusal: dropped, and not asked for while the socket is full. */
	sandbox_data(chunk, 1000);
	sandbox_data(chunk + 1000, 1000);
	no_more_out(20);
	/* An EPOLLOUT while the socket is still full asks for nothing yet. */
	tcp_sock_event(&c, established_flow(), EPOLLOUT);
	no_more_out(0);

	/*
	 * The server reads: a window update, up to the end of what the
	 * sandbox has sent and no further, and three duplicate ACKs of it.
	 */
	server_drain(&got, UINT64_MAX, n_seen + 4);
	p = next_out(0);
	cr_assert_eq(p->ack, ack);
	window_ends_at(p, sb.seq);
	win_field = p->window;
	for (i = 0; i < 3; i++) {
		p = next_out(0);
		cr_assert_eq(p->ack, ack, "duplicate ACK %d", i + 1);
		cr_assert_eq(p->payload_len, 0);
		cr_assert_eq(p->window, win_field, "a duplicate, not another window update");
		cr_assert_eq(p->flags, PACKET_TCP_ACK);
	}
	no_more_out(20);

	/* The sandbox retransmits the refused part: taken; the 2000 bytes after it are still out.
	 */
	sandbox_send(PACKET_TCP_ACK, ack, chunk + sizeof(chunk) - missing, missing, -1, 0);
	p = latest_out();
	cr_assert_eq(p->ack, ack + missing);
	window_ends_at(p, sb.seq);
	/* And those, one per ACK: all is back, the window opens, the server gets every byte. */
	sandbox_send(PACKET_TCP_ACK, ack + missing, chunk, 1000, -1, 0);
	window_ends_at(latest_out(), sb.seq);
	sandbox_send(PACKET_TCP_ACK, ack + missing + 1000, chunk + 1000, 1000, -1, 0);
	p = latest_out();
	cr_assert_eq(p->ack, sb.seq);
	cr_assert_gt((uint32_t)p->window << TCP_WSCALE, 1000U + (1U << TCP_WSCALE),
		     "the window opens again");
	sent += 2000;
	sent += missing;
	server_drain(&got, sent, UINT_MAX);
	cr_assert_eq(got, sent);
}

/*
 * With fewer than three segments dropped, duplicate ACKs cannot make a
 * sender without SACK resend (it counts no more of them than it has
 * segments out), and the excess would make it take its segments for
 * reordered: once the socket has room, only the window update is sent, and
 * the sandbox's retransmission timeout resends. (With no slot free to keep
 * the data, tcp_stash().)
 */
Test(tcp, refused_with_fewer_than_three_segments_out_sends_no_duplicate_acks)
{
	static uint8_t chunk[60000];
	uint32_t ack, missing;
	uint64_t sent = 0, got = 0;
	struct packet *p;

	c.stash_slots = 0;
	connect_flow(100, 7);
	fill(chunk, sizeof(chunk), 9);
	ack = refuse_some(chunk, sizeof(chunk), &missing, &sent)->ack;
	sandbox_data(chunk, 1000);
	no_more_out(20);
	server_drain(&got, UINT64_MAX, n_seen + 1);
	p = next_out(0);
	cr_assert_eq(p->ack, ack);
	window_ends_at(p, sb.seq);
	no_more_out(50);
	/* The timeout's resend is taken as any other. */
	sandbox_send(PACKET_TCP_ACK, ack, chunk + sizeof(chunk) - missing, missing, -1, 0);
	sandbox_send(PACKET_TCP_ACK, ack + missing, chunk, 1000, -1, 0);
	p = latest_out();
	cr_assert_eq(p->ack, sb.seq);
	sent += missing + 1000;
	server_drain(&got, sent, UINT_MAX);
	cr_assert_eq(got, sent);
}

/*
 * A stream whose every byte tells its offset: what the server reads shows
 * whether each byte came once and in order. Offset 0 is at stream_base.
 */
static uint32_t stream_base;

static uint8_t stream_byte(uint32_t off)
{
	return (uint8_t)((off * 2654435761U) >> 13);
}

static void stream_send(uint8_t flags, uint32_t seq, size_t len)
{
	static uint8_t buf[65536];
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = stream_byte(seq - stream_base + (uint32_t)i);
	sandbox_send(flags, seq, buf, len, -1, 0);
}

static void stream_data(size_t len)
{
	stream_send(PACKET_TCP_ACK | PACKET_TCP_PSH, sb.seq, len);
	sb.seq += (uint32_t)len;
}

/* As refuse_some(), from the stream. Return: the ACK's acknowledgement number */
static uint32_t stream_refuse(uint32_t size)
{
	uint32_t window = 1;
	struct packet *p = NULL;
	int i;

	stream_base = sb.seq;
	for (i = 0; i < 2000 && window; i++) {
		stream_data(window < size ? window : size);
		window = (uint32_t)latest_out()->window << TCP_WSCALE;
	}
	cr_assert_eq(window, 0);
	for (i = 0; i < 100 && !c.stats.partial_writes; i++) {
		stream_data(size);
		p = latest_out();
	}
	cr_assert_eq(c.stats.partial_writes, 1, "the socket refused some at last");
	cr_assert_not_null(p);
	cr_assert(p->ack != sb.seq, "what it refused is not acknowledged");
	cr_assert_eq(p->window, 0, "it refused: no room");
	return p->ack;
}

/* Read from the server until it has @want bytes of the stream in all, checking each. */
static void server_drain_stream(uint64_t *got, uint64_t want)
{
	static uint8_t in[1 << 16];
	uint64_t end = ctx_now_ms() + 5000;

	while (*got < want && ctx_now_ms() < end) {
		ssize_t n = recv(server, in, sizeof(in), MSG_DONTWAIT), i;

		for (i = 0; i < n; i++, (*got)++)
			cr_assert_eq(in[i], stream_byte((uint32_t)*got),
				     "byte %llu of the stream differs", (unsigned long long)*got);
		loop_poll(&c, 1);
	}
	cr_assert_eq(*got, want, "the server got all the sandbox sent");
}

/* No ACK since the last seen asks for data again: none repeats @ack with a window open. */
static void no_duplicate_ack_of(uint32_t ack)
{
	while (n_seen < n_captured) {
		struct packet *p = next_out(0);

		cr_assert(p->ack != ack || !p->window, "a duplicate ACK of %u", ack);
	}
}

/*
 * What the socket refused is kept (tcp_stash()), with what the sandbox sent
 * after it, and written once there is room: no retransmission, and nothing
 * written twice when the sandbox resends some of it anyway.
 */
Test(tcp, refused_data_is_kept_and_written_once_there_is_room)
{
	uint64_t got = 0;
	struct packet *p;
	uint32_t ack;
	unsigned int seen;

	connect_flow(100, 7);
	ack = stream_refuse(60000);
	seen = n_seen;
	cr_assert_eq(c.stats.kept_writes, 1, "the refused part is kept");
	cr_assert(c.flows.flows[established_flow()].flags & FLOW_F_STASHED);
	/* Sent before the sandbox saw the zero window: kept too. */
	stream_data(1000);
	stream_data(1000);
	/* Its retransmission timeout resends the refused part: already kept. */
	stream_send(PACKET_TCP_ACK, ack, sb.seq - 2000 - ack);
	no_more_out(20);
	tcp_sock_event(&c, established_flow(), EPOLLOUT);
	no_more_out(0);

	/* The server reads: every byte once, in order, and all of it acknowledged at once. */
	server_drain_stream(&got, sb.seq - stream_base);
	pump(20);
	p = latest_out();
	cr_assert_eq(p->ack, sb.seq, "all of it taken, nothing to resend");
	cr_assert_gt((uint32_t)p->window << TCP_WSCALE, 1U << TCP_WSCALE, "the window opens again");
	n_seen = seen;
	no_duplicate_ack_of(ack);
	cr_assert_eq(c.flows.flows[established_flow()].flags & (FLOW_F_STASHED | FLOW_F_DROPPED),
		     0);
	cr_assert_not(c.stash[0].used, "the slot is free again");
	stream_data(1000);
	server_drain_stream(&got, sb.seq - stream_base);
}

/* A FIN after kept data waits with it: the server sees all the data, then EOF. */
Test(tcp, a_fin_after_kept_data_waits_with_it)
{
	uint64_t got = 0;
	uint8_t b;

	connect_flow(100, 7);
	stream_refuse(60000);
	stream_send(PACKET_TCP_ACK | PACKET_TCP_FIN, sb.seq, 1000);
	sb.seq += 1000;
	no_more_out(20);
	server_drain_stream(&got, sb.seq - stream_base);
	sb.seq++;
	pump(20);
	cr_assert_eq(latest_out()->ack, sb.seq, "the data and the FIN are acknowledged");
	cr_assert_eq(recv(server, &b, 1, MSG_DONTWAIT), 0, "the server sees EOF");
	cr_assert_not(c.stash[0].used);
}

/*
 * More segments out than a slot holds: three duplicate ACKs work then, so
 * what was kept is dropped with the rest, all asked for again once the
 * socket has room, with the window ending where the sandbox's data does.
 */
Test(tcp, more_than_a_slot_holds_is_dropped_and_asked_for_again)
{
	uint32_t ack, seq, len, i;
	uint64_t got = 0;
	struct packet *p;
	struct flow *f;

	connect_flow(100, 7);
	ack = stream_refuse(60000);
	f = &c.flows.flows[established_flow()];
	for (i = 0; i < 4 && (f->flags & FLOW_F_STASHED); i++)
		stream_data(60000);
	cr_assert_not(f->flags & FLOW_F_STASHED, "a slot holds two segments at most");
	cr_assert(f->flags & FLOW_F_DROPPED, "then all of it is dropped");
	cr_assert_not(c.stash[0].used, "and the slot is free");
	no_more_out(20);
	server_drain_stream(&got, ack - stream_base);
	pump(20);
	p = next_out(0);
	while (p->window == 0)
		p = next_out(0);
	cr_assert_eq(p->ack, ack);
	window_ends_at(p, sb.seq);
	for (i = 0; i < 3; i++) {
		p = next_out(0);
		cr_assert_eq(p->ack, ack, "duplicate ACK %u", i + 1);
		cr_assert_eq(p->payload_len, 0);
	}
	no_more_out(20);
	/* The sandbox resends all of it: taken, in order. */
	for (seq = ack; seq != sb.seq; seq += len) {
		len = sb.seq - seq < 60000 ? sb.seq - seq : 60000;
		stream_send(PACKET_TCP_ACK, seq, len);
	}
	server_drain_stream(&got, sb.seq - stream_base);
	pump(20);
	cr_assert_eq(latest_out()->ack, sb.seq);
}

Test(tcp, fin_from_sandbox_first)
{
	uint8_t reply[2000], got[2000], b;
	struct packet *p;

	connect_flow(100, 7);
	sandbox_data("request", 7);
	server_expect("request", 7);
	sandbox_send(PACKET_TCP_ACK | PACKET_TCP_FIN, sb.seq, NULL, 0, -1, 0);
	sb.seq++;
	do
		p = next_out(200);
	while (p->ack != sb.seq && n_seen < n_captured);
	cr_assert_eq(p->ack, sb.seq, "the FIN is acknowledged");
	pump(20);
	cr_assert_eq(recv(server, &b, 1, 0), 0, "the server sees EOF");
	/* Half-closed: the reply still comes through. */
	fill(reply, sizeof(reply), 7);
	send(server, reply, sizeof(reply), 0);
	sandbox_receive(got, sizeof(got));
	cr_assert_eq(memcmp(got, reply, sizeof(got)), 0);
	close(server);
	server = -1;
	p = next_out(500);
	while (!(p->flags & PACKET_TCP_FIN))
		p = next_out(500);
	cr_assert_eq(p->seq, sb.ack);
	sb.ack++;
	cr_assert_eq(c.flows.active, 1);
	sandbox_send(PACKET_TCP_ACK, sb.seq, NULL, 0, -1, 0);
	pump(20);
	cr_assert_eq(c.flows.active, 0, "closed once both FINs are acknowledged");
}

Test(tcp, fin_from_host_first)
{
	uint8_t up[4000];
	struct packet *p;

	connect_flow(100, 7);
	shutdown(server, SHUT_WR);
	p = next_out(500);
	cr_assert(p->flags & PACKET_TCP_FIN);
	cr_assert_eq(p->seq, sb.ack);
	sb.ack++;
	sandbox_send(PACKET_TCP_ACK, sb.seq, NULL, 0, -1, 0);
	/* The sandbox keeps sending after the host's FIN. */
	fill(up, sizeof(up), 8);
	sandbox_data(up, sizeof(up));
	server_expect(up, sizeof(up));
	cr_assert_eq(c.flows.active, 1);
	sandbox_send(PACKET_TCP_ACK | PACKET_TCP_FIN, sb.seq, NULL, 0, -1, 0);
	sb.seq++;
	pump(20);
	cr_assert_eq(c.flows.active, 0);
	cr_assert_eq(recv(server, up, 1, 0), 0);
}

Test(tcp, simultaneous_fins)
{
	connect_flow(100, 7);
	shutdown(server, SHUT_WR);
	sandbox_send(PACKET_TCP_ACK | PACKET_TCP_FIN, sb.seq, NULL, 0, -1, 0);
	sb.seq++;
	pump(50);
	while (n_seen < n_captured && !(captured[n_seen].p.flags & PACKET_TCP_FIN))
		n_seen++;
	cr_assert_lt(n_seen, n_captured, "our FIN was sent");
	sb.ack = captured[n_seen].p.seq + 1;
	sandbox_send(PACKET_TCP_ACK, sb.seq, NULL, 0, -1, 0);
	pump(20);
	cr_assert_eq(c.flows.active, 0);
}

Test(tcp, rst_from_sandbox_resets_the_host_side)
{
	char b;

	connect_flow(100, 7);
	sandbox_send(PACKET_TCP_RST, sb.seq, NULL, 0, -1, 0);
	pump(20);
	cr_assert_eq(c.flows.active, 0);
	cr_assert_eq(recv(server, &b, 1, 0), -1);
	cr_assert_eq(errno, ECONNRESET);
}

Test(tcp, out_of_window_rst_is_ignored)
{
	connect_flow(100, 7);
	sandbox_send(PACKET_TCP_RST, sb.seq + 100000000, NULL, 0, -1, 0);
	pump(20);
	cr_assert_eq(c.flows.active, 1);
}

Test(tcp, rst_from_host_resets_the_sandbox_side)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct packet *p;

	connect_flow(100, 7);
	setsockopt(server, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(server);
	server = -1;
	p = next_out(500);
	cr_assert(p->flags & PACKET_TCP_RST);
	pump(20);
	cr_assert_eq(c.flows.active, 0);
}

Test(tcp, retransmission_after_a_dropped_segment)
{
	uint8_t down[500], got[500];
	struct packet *p;
	uint64_t t0;

	connect_flow(100, 7);
	fill(down, sizeof(down), 9);
	drop_data_segments = 1;
	t0 = ctx_now_ms();
	send(server, down, sizeof(down), 0);
	p = next_out(2000);
	cr_assert_geq(ctx_now_ms() - t0, TCP_RTO_MIN_MS - 10, "resent after the RTO");
	cr_assert_eq(p->seq, sb.ack);
	cr_assert_eq(p->payload_len, sizeof(down));
	memcpy(got, p->payload, sizeof(got));
	cr_assert_eq(memcmp(got, down, sizeof(got)), 0, "the same bytes, re-read from the socket");
	cr_assert_eq(c.stats.retransmits, 1);
}

Test(tcp, fast_retransmit_on_three_duplicate_acks)
{
	static uint8_t down[3 * 1400];
	struct packet *p;
	uint32_t first;
	int i;

	sb.window = 65535;
	connect_flow(100, 7);
	/* Make segments small by announcing a small MSS through a new flow? Use the data size. */
	fill(down, sizeof(down), 10);
	send(server, down, 1400, 0);
	p = next_out(500);
	first = p->seq;
	cr_assert_eq(p->payload_len, 1400);
	/* The sandbox "lost" it: three duplicate ACKs for the old point. */
	for (i = 0; i < 3; i++)
		sandbox_send(PACKET_TCP_ACK, sb.seq, NULL, 0, -1, 0);
	p = next_out(100);
	cr_assert_eq(p->seq, first, "resent at once, before any timeout");
	cr_assert_eq(p->payload_len, 1400);
	cr_assert_eq(c.stats.fast_retransmits, 1);
}

static void wrap_setup(void)
{
	isn_fixed = true;
	isn_value = 0xffffff00U;
	setup();
}

TestSuite(tcp_wrap, .init = wrap_setup, .fini = teardown);

Test(tcp_wrap, sequence_numbers_wrap_around)
{
	static uint8_t up[65536], down[65536], got[65536];
	uint32_t isn;
	size_t off;

	isn = connect_flow(0xfffffff0U, 7);
	cr_assert_eq(isn, 0xffffff00U);
	fill(up, sizeof(up), 11);
	for (off = 0; off < sizeof(up); off += 1000) {
		size_t len = sizeof(up) - off < 1000 ? sizeof(up) - off : 1000;

		sandbox_data(up + off, len);
	}
	server_expect(up, sizeof(up));
	cr_assert_lt(sb.seq, 0x10000U, "the sandbox's sequence numbers wrapped");
	fill(down, sizeof(down), 12);
	send(server, down, sizeof(down), 0);
	sandbox_receive(got, sizeof(got));
	cr_assert_eq(memcmp(got, down, sizeof(got)), 0);
	cr_assert_lt(sb.ack, 0x10000U, "the handler's sequence numbers wrapped");
}

Test(tcp_timeout, sandbox_gives_up_with_the_handler)
{
	/* With retransmission timeouts capped at 1 s, R retries take R + 1 seconds. */
	cr_assert_eq(tcp_sandbox_syn_retries(5000, true), 4);
	cr_assert_eq(tcp_sandbox_syn_retries(4200, true), 4, "rounded up to whole seconds");
	cr_assert_eq(tcp_sandbox_syn_retries(1500, true), 1, "at least one retry: 2 s");
	cr_assert_eq(tcp_sandbox_syn_retries(500, true), 1);
	cr_assert_eq(tcp_sandbox_syn_retries(3600000, true), 127, "the kernel's maximum");
	/* Without the cap, R retries take 2^(R+1) - 1 seconds. */
	cr_assert_eq(tcp_sandbox_syn_retries(5000, false), 2, "7 s");
	cr_assert_eq(tcp_sandbox_syn_retries(3000, false), 1, "3 s");
	cr_assert_eq(tcp_sandbox_syn_retries(8000, false), 3, "15 s");
}

/* SOCKS: the test plays the SOCKS5 server on the loopback listener. */

static struct rule_server socks_srv;

static enum route route_socks(const struct flow_key *k)
{
	(void)k;
	return ROUTE_SOCKS;
}

static void socks_setup(void)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&socks_srv.addr;

	setup();
	c.route_hook = route_socks;
	snprintf(socks_srv.host, sizeof(socks_srv.host), "127.0.0.1");
	socks_srv.port = port;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = htons(port);
	socks_srv.addrlen = sizeof(*sin);
	c.socks_default = &socks_srv;
}

/* Send a SYN for 198.18.99.9:80; the handler connects to "the SOCKS server" instead. */
static void socks_syn(void)
{
	sb.seq = 500;
	sb.window = 65535;
	sb.dport = 80;
	inet_pton(AF_INET, "198.18.99.9", &sb.daddr);
	sandbox_send(PACKET_TCP_SYN, sb.seq, NULL, 0, 7, 1460);
	sb.seq++;
	pump(50);
	server = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(server, 0, "the handler connected to the SOCKS server");
}

static void server_read(const void *want, size_t len)
{
	uint8_t got[64];
	size_t have = 0;
	uint64_t end = ctx_now_ms() + 2000;

	while (have < len && ctx_now_ms() < end) {
		ssize_t n = recv(server, got + have, len - have, MSG_DONTWAIT);

		if (n > 0)
			have += (size_t)n;
		loop_poll(&c, 5);
	}
	cr_assert_eq(have, len);
	cr_assert_eq(memcmp(got, want, len), 0, "unexpected SOCKS request bytes");
}

TestSuite(tcp_socks, .init = socks_setup, .fini = teardown);

Test(tcp_socks, syn_ack_waits_for_the_whole_reply)
{
	static const uint8_t greeting[] = {5, 1, 0};
	static const uint8_t request[] = {5, 1, 0, 1, 198, 18, 99, 9, 0, 80};
	static const uint8_t reply[] = {5, 0, 0, 1, 198, 18, 0, 1, 0x12, 0x34};
	struct packet *p;

	socks_syn();
	server_read(greeting, sizeof(greeting));
	send(server, "\x05\x00", 2, 0);
	server_read(request, sizeof(request));
	/* The reply in two pieces, with the destination's first bytes right after it. */
	send(server, reply, 4, 0);
	pump(50);
	cr_assert_eq(n_captured, 0, "no SYN-ACK before the SOCKS reply is complete");
	send(server, reply + 4, sizeof(reply) - 4, 0);
	send(server, "banner", 6, 0);
	p = next_out(500);
	cr_assert_eq(p->flags, PACKET_TCP_SYN | PACKET_TCP_ACK);
	cr_assert_eq(p->ack, 501);
	sb.ack = p->seq + 1;
	sandbox_send(PACKET_TCP_ACK, sb.seq, NULL, 0, -1, 0);
	p = next_out(500);
	cr_assert_eq(p->payload_len, 6, "the bytes after the reply are the stream's");
	cr_assert_eq(memcmp(p->payload, "banner", 6), 0);
}

Test(tcp_socks, refused_destination_gets_rst)
{
	struct packet *p;

	socks_syn();
	send(server, "\x05\x00", 2, 0);
	pump(50);
	send(server, "\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00", 10, 0);
	p = next_out(500);
	cr_assert_eq(p->flags, PACKET_TCP_RST | PACKET_TCP_ACK, "REP 05: connection refused");
	cr_assert_eq(p->ack, 501);
}

Test(tcp_socks, unreachable_host_gets_icmp)
{
	struct packet *p;

	socks_syn();
	send(server, "\x05\x00", 2, 0);
	pump(50);
	send(server, "\x05\x04\x00\x01\x00\x00\x00\x00\x00\x00", 10, 0);
	p = next_out(500);
	cr_assert_eq(p->proto, IPPROTO_ICMP, "REP 04: host unreachable");
	cr_assert_eq(p->l4[0], 3);
	cr_assert_eq(p->l4[1], 1);
}

Test(tcp_socks, server_down_fails_the_connection)
{
	struct packet *p;

	close(listener); /* nothing listens where the SOCKS server should be */
	listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sb.seq = 500;
	sb.dport = 80;
	inet_pton(AF_INET, "198.18.99.9", &sb.daddr);
	sandbox_send(PACKET_TCP_SYN, sb.seq, NULL, 0, 7, 1460);
	p = next_out(500);
	cr_assert_eq(p->flags, PACKET_TCP_RST | PACKET_TCP_ACK, "refused by the only server");
	pump(20);
	cr_assert_eq(c.flows.active, 0);
}
