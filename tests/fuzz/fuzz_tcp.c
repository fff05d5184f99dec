// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_tcp - libFuzzer target for the packet parser and the TCP state machine
 *
 * The input is a script of steps, each a kind byte and a 16-bit length:
 *   0: raw bytes, handed to tun_packet() as a packet from the sandbox (to
 *      tun_vnet_packet(), virtio-net header first, if the kind byte is >= 128);
 *   1: a TCP segment of the fuzzed flow (to a loopback listener), with flags,
 *      sequence and acknowledgement offsets from what the handler expects,
 *      window, options and payload taken from the step;
 *   2: the server side acts: accept, write, shut down, close, or reset; or
 *      the handler's host sockets take at most so much per write from now on
 *      (as under memory pressure: what they refuse is kept or dropped);
 *   3: time passes (the handler's clock moves and its timers run);
 *   4: the event loop runs once without waiting.
 * Segments of steps 0 and 1 may be held for one write, as in a batch of tun
 * packets, until a step of another kind comes.
 * Every route but the listener's is denied, so nothing leaves loopback. After
 * each input every flow is reset, so inputs do not depend on each other.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pmsocks-ns/ctx.h"
#include "pmsocks-ns/loop.h"
#include "pmsocks-ns/tcp.h"
#include "pmsocks-ns/tun.h"

#include "fuzz.h"

#define SB_PORT 40000

static struct ctx c;
static int listener = -1;
static uint16_t port;
static int servers[8];
static unsigned int n_servers;
static uint32_t last_seq, last_ack; /* from the handler's latest segment */

static bool fuzz_tun_hook(void *opaque, const uint8_t *frame, size_t len)
{
	struct packet p;

	(void)opaque;
	/* Everything the handler sends must parse. */
	if (packet_parse(&p, frame, len) != PACKET_OK)
		abort();
	if (p.proto == IPPROTO_TCP) {
		last_seq = p.seq + (uint32_t)p.payload_len;
		last_ack = p.ack;
	}
	return false;
}

static enum route fuzz_route(const struct flow_key *k)
{
	if (k->family == AF_INET && k->remote_addr.v4.s_addr == htonl(INADDR_LOOPBACK) &&
	    k->remote_port == port)
		return ROUTE_DIRECT;
	return ROUTE_DENY;
}

static void fuzz_init(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sin);

	c.mtu = 65520;
	c.connect_timeout_ms = 1000;
	c.busy_poll_us = 50; /* so ACKs may wait for a reply (tcp_queue_ack_later()) */
	inet_pton(AF_INET, "10.0.2.2", &c.gateway4.v4);
	inet_pton(AF_INET6, "fd00:2::2", &c.gateway6.v6);
	if (flow_table_init(&c.flows, 16) || loop_init(&c, -1, 0) || tcp_init(&c))
		abort();
	c.tun_hook = fuzz_tun_hook;
	c.route_hook = fuzz_route;
	listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(listener, (struct sockaddr *)&sin, sizeof(sin)) || listen(listener, 64) ||
	    getsockname(listener, (struct sockaddr *)&sin, &sl))
		abort();
	port = ntohs(sin.sin_port);
}

static void fuzz_segment(const uint8_t *d, size_t len)
{
	/* A ring of frames, as tun_input() has: held segments point into them. */
	static uint8_t ring[CTX_HOLD_MAX][2048];
	static unsigned int slot;
	uint8_t *frame;
	struct packet_tcp_out o = {.family = AF_INET, .sport = SB_PORT, .wscale = -1};
	struct packet p;
	size_t payload, hdr;
	ssize_t n;

	if (len < 8)
		return;
	inet_pton(AF_INET, "10.0.2.15", &o.src.v4);
	o.dst.v4.s_addr = htonl(INADDR_LOOPBACK);
	o.dport = port;
	o.flags = d[0];
	/* Sequence numbers near what the handler expects reach the interesting paths. */
	o.seq = last_ack + (uint32_t)(int8_t)d[1] * (d[2] & 0x80 ? 1000 : 1);
	o.ack = last_seq + (uint32_t)(int8_t)d[3];
	o.window = (uint16_t)(d[4] << 8 | d[5]);
	if (d[6] & 1)
		o.mss = (uint16_t)(d[7] << 4);
	if (d[6] & 2)
		o.wscale = (int8_t)(d[7] % 15);
	payload = len - 8 > 1024 ? 1024 : len - 8;
	hdr = packet_tcp_header_len(&o);
	if (!c.n_held)
		slot = 0;
	frame = ring[slot];
	memcpy(frame + hdr, d + 8, payload);
	n = packet_build_tcp(frame, sizeof(ring[slot]), &o, payload);
	if (n <= 0 || packet_parse(&p, frame, (size_t)n) != PACKET_OK)
		return;
	c.tun_may_hold = true;
	c.tun_held = false;
	tcp_tun_input(&c, &p);
	c.tun_may_hold = false;
	if (c.tun_held && ++slot == CTX_HOLD_MAX) {
		tcp_tun_flush(&c);
		slot = 0;
	}
}

static void fuzz_server(const uint8_t *d, size_t len)
{
	static const uint8_t junk[4096];
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	int s;

	if (!len)
		return;
	switch (d[0] % 6) {
	case 0:
		s = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s >= 0 && n_servers < 8)
			servers[n_servers++] = s;
		else if (s >= 0)
			close(s);
		break;
	case 1:
		if (n_servers)
			(void)!send(servers[n_servers - 1], junk, len > 1 ? d[1] * 16U : 1,
				    MSG_DONTWAIT | MSG_NOSIGNAL);
		break;
	case 2:
		if (n_servers)
			shutdown(servers[n_servers - 1], SHUT_WR);
		break;
	case 3:
		if (n_servers)
			close(servers[--n_servers]);
		break;
	case 4:
		if (n_servers) {
			setsockopt(servers[n_servers - 1], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(servers[--n_servers]);
		}
		break;
	case 5:
		c.host_write_max = len > 1 ? d[1] * 64U : 0;
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	size_t off = 0;
	int steps = 0;

	if (listener < 0)
		fuzz_init();
	last_seq = last_ack = 0;
	while (off + 3 <= size && steps++ < 64) {
		uint8_t kind = data[off];
		size_t len = (size_t)(data[off + 1] << 8 | data[off + 2]);
		const uint8_t *d = data + off + 3;

		if (len > size - off - 3)
			len = size - off - 3;
		off += 3 + len;
		if (kind % 5 > 1)
			tcp_tun_flush(&c); /* as tun_input() does before other events */
		switch (kind % 5) {
		case 0:
			/* The input stays put: segments may be held, as tun_input() lets them. */
			c.tun_may_hold = true;
			if (kind & 0x80)
				tun_vnet_packet(&c, d, len);
			else
				tun_packet(&c, d, len);
			c.tun_may_hold = false;
			break;
		case 1:
			fuzz_segment(d, len);
			break;
		case 2:
			fuzz_server(d, len);
			break;
		case 3:
			c.now_ms += len ? (uint64_t)d[0] * 100 : 200;
			tcp_flush_acks_later(&c);
			tcp_timer(&c);
			break;
		case 4:
			loop_poll(&c, 0);
			break;
		}
		tcp_flush_acks(&c);
		if (!c.n_held)
			flow_reap(&c.flows);
	}
	tcp_tun_flush(&c);
	tcp_flush_acks(&c);
	flow_reap(&c.flows);
	tcp_close_all(&c);
	c.host_write_max = 0;
	while (n_servers) {
		setsockopt(servers[n_servers - 1], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(servers[--n_servers]);
	}
	for (;;) { /* connections the script never accepted */
		int s = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (s < 0)
			break;
		setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(s);
	}
	return 0;
}
