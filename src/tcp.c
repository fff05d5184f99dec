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
 *   the socket refuse in-window data all the same (memory pressure), up to
 *   two segments' worth is kept and written once it has room (tcp_stash()),
 *   and more is dropped, to be asked for again with three duplicate ACKs
 *   (tcp_ask_again()).
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
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pmsocks-ns/log.h"
#include "pmsocks-ns/loop.h"
#include "pmsocks-ns/rules.h"
#include "pmsocks-ns/tcp.h"
#include "pmsocks-ns/tun.h"
#include "pmsocks-ns/util.h"

#define TCP_FRAME_MAX	     (PACKET_TCP_HEADER_MAX + 65536)
#define TCP_SEND_BATCH	     64	 /* segments per flow per call, to stay fair */
#define TCP_DEFAULT_MSS4     536 /* RFC 9293, when the SYN carries no MSS option */
#define TCP_DEFAULT_MSS6     1220
#define TCP_DISCARD_IOVS     64 /* without SO_PEEK_OFF: 64 x 64 KiB may be skipped */
#define TCP_TIMED_OUT_LINGER 2000
#define TCP_WARN_INTERVAL_MS 1000	  /* a warning of one kind at most this often */
#define TCP_WINDOW_BUDGET    (32U << 20)  /* all windows we advertise, together */
#define TCP_WINDOW_FLOOR     (64U << 10)  /* a flow's share never goes below this */
#define TCP_STASH_SIZE	     (128U << 10) /* refused data kept per flow (tcp_stash()) */

static uint8_t tcp_frame[TCP_FRAME_MAX] __attribute__((aligned(8)));
/* Touched only when a socket refuses data: no memory until then. */
static uint8_t tcp_stash_buf[CTX_STASH_MAX][TCP_STASH_SIZE];

static inline bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline bool seq_le(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

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

static uint16_t tcp_mss_limit(const struct ctx *c, int family)
{
	unsigned int hdr = family == AF_INET ? 40 : 60;
	unsigned int mss = c->mtu - hdr;

	return mss > 65535 - hdr ? (uint16_t)(65535 - hdr) : (uint16_t)mss;
}

/*
 * Free space in the socket's send buffer: what we can promise the sandbox.
 * It is counted as the kernel counts it when it takes a write (SO_MEMINFO:
 * the buffer against what is queued, skb overhead included), less 1/16 for
 * the overhead of what is still to come. Counting bytes instead (SIOCOUTQ)
 * promises too much once the kernel splits its queue into MSS-sized skbs
 * to retransmit, and data the socket then refuses costs the sandbox a
 * retransmission. *low is set when less than a quarter of the buffer is
 * free: the kernel then reports the socket as not writable too (it does
 * below a third), so asking epoll for EPOLLOUT waits for space instead of
 * firing at once.
 */
static uint32_t tcp_sock_space(const struct flow *f, bool *low)
{
	uint32_t mem[SK_MEMINFO_VARS] = {0}, usable, queued;
	socklen_t sl = sizeof(mem);

	*low = true;
	if (f->sock < 0 || getsockopt(f->sock, SOL_SOCKET, SO_MEMINFO, mem, &sl) ||
	    sl <= SK_MEMINFO_WMEM_QUEUED * sizeof(uint32_t))
		return 0;
	usable = mem[SK_MEMINFO_SNDBUF] - mem[SK_MEMINFO_SNDBUF] / 16;
	queued = mem[SK_MEMINFO_WMEM_QUEUED];
	*low = usable < queued || usable - queued < mem[SK_MEMINFO_SNDBUF] / 4;
	return usable > queued ? usable - queued : 0;
}

/* @space limited to this flow's share of the window budget and to what the field can carry. */
static uint32_t tcp_window_limit(const struct ctx *c, const struct flow *f, uint32_t space)
{
	uint32_t max = (uint32_t)65535 << f->our_wscale, share;

	/*
	 * Everything the sandbox sends waits in one queue, the tun's, until we
	 * read it: windows that add up to more than TCP_WINDOW_BUDGET turn it
	 * into a long FIFO whose delay sets off retransmission timeouts on both
	 * sides. So each flow gets at most its share of the budget.
	 */
	share = TCP_WINDOW_BUDGET / (c->flows.active ? c->flows.active : 1);
	if (share < TCP_WINDOW_FLOOR)
		share = TCP_WINDOW_FLOOR;
	if (space > share)
		space = share;
	if (space > max)
		space = max;
	return space & ~((1U << f->our_wscale) - 1);
}

/*
 * tcp_dropped() - Data of the sandbox's up to @end was dropped: the socket
 * refused it, or it came after a hole
 *
 * The sandbox sends it again once our ACKs ask for it. Without SACK, a
 * sender recovers one segment per ACK (NewReno, RFC 6582), and new data it
 * sends meanwhile, if dropped too, only comes back after a retransmission
 * timeout: 200 ms or more, and as many times over as it happens. So until
 * all it has sent is taken, the window ends where that does: it can resend,
 * but sends nothing new. The right edge moves left then, which a sender has
 * to cope with (RFC 9293 MUST-34): what lies beyond would be dropped anyway.
 * Linux applies the smaller window with the first ACK that advances (that of
 * the first segment resent), not with duplicates.
 * Not to zero, though (unless the socket has just refused, tcp_window_field()):
 * a zero window is never a duplicate ACK to Linux, and it takes three of
 * those to resend at once.
 */
static void tcp_dropped(struct flow *f, uint32_t end, unsigned int segs)
{
	if (!(f->flags & FLOW_F_DROPPED)) {
		f->flags |= FLOW_F_DROPPED;
		f->dropped_high = end;
		f->dropped_segs = 0;
		f->window_sent = 0;
		f->window_fresh = 0;
	} else if (seq_lt(f->dropped_high, end)) {
		/* window_sent stays: ACKs for more holes repeat it, as duplicates */
		f->dropped_high = end;
	}
	segs += f->dropped_segs;
	f->dropped_segs = (uint8_t)(segs < UINT8_MAX ? segs : UINT8_MAX);
}

/* rcv_nxt moved: once all that was dropped is back, the window opens again. */
static void tcp_dropped_check(struct flow *f)
{
	if ((f->flags & FLOW_F_DROPPED) && !seq_lt(f->rcv_nxt, f->dropped_high)) {
		f->flags &= (uint16_t)~FLOW_F_DROPPED;
		f->window_fresh = 0;
	}
}

/*
 * The window to advertise, never moving the right edge left (the sandbox may
 * already have sent up to it) unless data was dropped (tcp_dropped()),
 * limited by what the field can carry.
 * window_sent is what is left of the last window, relative to rcv_nxt now.
 */
static uint16_t tcp_window_field(const struct ctx *c, struct flow *f, uint32_t *window_out,
				 bool *low)
{
	uint32_t space;

	if (f->flags & FLOW_F_REFUSED) {
		/*
		 * The socket just refused data: nothing would be taken now.
		 * A zero window also never counts as a duplicate ACK (Linux
		 * takes it as a window update), so these ACKs cannot make the
		 * sandbox think segments came out of order. Room comes with
		 * EPOLLOUT (tcp_sock_event()).
		 */
		*low = true;
		*window_out = 0;
		return 0;
	}
	/*
	 * A look at the socket costs a system call. While at least half of
	 * the window last computed from it is unused, what is left of that
	 * window is advertised again: the right edge stays where it is, and
	 * the sandbox gets more room in steps of at least half a window, as a
	 * receiver avoiding silly windows would give it (RFC 9293 3.8.6.2.2).
	 */
	if (f->state == FLOW_TCP_ESTABLISHED && f->window_fresh &&
	    f->window_sent >= f->window_fresh / 2) {
		*low = false;
		*window_out = f->window_sent;
		return (uint16_t)(f->window_sent >> f->our_wscale);
	}
	space = tcp_window_limit(c, f, tcp_sock_space(f, low));
	if (f->flags & FLOW_F_DROPPED) {
		/* Up to the end of what the sandbox has sent (tcp_dropped()), in whole units */
		uint32_t unit = 1U << f->our_wscale, sent = f->dropped_high - f->rcv_nxt;

		sent = (sent + unit - 1) & ~(unit - 1);
		if (space > sent)
			space = sent;
	}
	if (f->state == FLOW_TCP_ESTABLISHED && space < f->window_sent)
		space = f->window_sent & ~((1U << f->our_wscale) - 1);
	*window_out = space;
	f->window_fresh = space;
	return (uint16_t)(space >> f->our_wscale);
}

static void tcp_out_init(const struct flow *f, struct packet_tcp_out *o, uint8_t flags)
{
	memset(o, 0, sizeof(*o));
	o->family = f->key.family;
	o->src = f->key.remote_addr;
	o->dst = f->key.sandbox_addr;
	o->sport = f->key.remote_port;
	o->dport = f->key.sandbox_port;
	o->seq = f->seq_nxt;
	o->ack = f->rcv_nxt;
	o->flags = flags;
	o->wscale = -1;
}

/* Ask for EPOLLOUT (edge) once the socket has room again: the poll sets SOCK_NOSPACE. */
static void tcp_want_out(struct ctx *c, struct flow *f)
{
	union epoll_ref ref = {.type = EPOLL_TYPE_TCP, .flow = flow_index(&c->flows, f)};
	struct epoll_event ev;

	if (f->flags & FLOW_F_WANT_OUT)
		return;
	f->flags |= FLOW_F_WANT_OUT;
	ref.fd = f->sock;
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.u64 = ref.u64;
	epoll_ctl(c->epoll_fd, EPOLL_CTL_MOD, f->sock, &ev);
}

/* Build the headers in front of @payload_len bytes already at frame + header length; send. */
static int tcp_emit(struct ctx *c, struct flow *f, struct packet_tcp_out *o, uint8_t *frame,
		    size_t payload_len)
{
	uint32_t window = 0;
	bool low;
	ssize_t len;
	int ret;

	if (o->flags & PACKET_TCP_SYN) {
		/* The window of a SYN is never scaled. */
		uint32_t space = tcp_sock_space(f, &low);

		o->window = space > 65535 ? 65535 : (uint16_t)space;
		window = o->window;
		/* What the first ACK after the handshake advertises, with no new look. */
		f->window_fresh = tcp_window_limit(c, f, space);
		low = false;
	} else {
		o->window = tcp_window_field(c, f, &window, &low);
	}
	o->csum_partial = c->vnet_hdr;
	len = packet_build_tcp(frame, TCP_FRAME_MAX, o, payload_len);
	if (len < 0)
		return (int)len;
	f->window_sent = window;
	if (low && f->state == FLOW_TCP_ESTABLISHED && !(f->flags & FLOW_F_SANDBOX_FIN))
		tcp_want_out(c, f);
	ret = tun_write_tcp(c, frame, (size_t)len, o->csum_partial);
	if (ret)
		return ret;
	/* It acknowledges rcv_nxt: no ACK is owed any more. */
	f->flags &= (uint16_t) ~(FLOW_F_ACK_NOW | FLOW_F_ACK_LATER);
	return 0;
}

static int tcp_send_ctl(struct ctx *c, struct flow *f, uint8_t flags)
{
	uint8_t frame[PACKET_TCP_HEADER_MAX];
	struct packet_tcp_out o;

	tcp_out_init(f, &o, flags);
	if (flags & PACKET_TCP_SYN) {
		o.seq = f->seq_una;
		o.mss = tcp_mss_limit(c, f->key.family);
		if (f->our_wscale || f->sandbox_wscale)
			o.wscale = (int8_t)f->our_wscale;
	}
	return tcp_emit(c, f, &o, frame, 0);
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

static void tcp_timer_set(struct ctx *c, struct flow *f, uint32_t in_ms)
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

static void tcp_stash_release(struct ctx *c, struct flow *f)
{
	if (!(f->flags & FLOW_F_STASHED))
		return;
	c->stash[f->stash].used = false;
	f->flags &= (uint16_t)~FLOW_F_STASHED;
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

/* Abort both sides: RST to the sandbox and to the host peer. */
static void tcp_reset(struct ctx *c, struct flow *f)
{
	tcp_send_ctl(c, f, PACKET_TCP_RST | PACKET_TCP_ACK);
	c->stats.resets_sent++;
	c->stats.flows_reset++;
	tcp_flow_close(c, f, true);
}

static void tcp_maybe_done(struct ctx *c, struct flow *f)
{
	if ((f->flags & FLOW_F_SANDBOX_FIN) && (f->flags & FLOW_F_FIN_ACKED))
		tcp_flow_close(c, f, false);
}

static void tcp_queue_ack(struct ctx *c, struct flow *f)
{
	if (f->flags & FLOW_F_ACK_NOW)
		return;
	f->flags &= (uint16_t)~FLOW_F_ACK_LATER;
	if (c->n_ack_pending == ARRAY_SIZE(c->ack_pending)) {
		tcp_send_ctl(c, f, PACKET_TCP_ACK);
		return;
	}
	f->flags |= FLOW_F_ACK_NOW;
	c->ack_pending[c->n_ack_pending++] = flow_index(&c->flows, f);
}

/*
 * An ACK for a segment the host socket took whole. A request is mostly
 * followed by a reply, and a FIN by the peer's FIN, within microseconds:
 * while the loop busy polls, the ACK waits for them and rides on what they
 * send (tcp_emit()), instead of costing the sandbox a packet of its own. It
 * goes at once when a second segment comes first (one ACK per two segments
 * at least, as RFC 9293 3.8.6.3 asks), when less than half of the window
 * is left, so a sender is never kept waiting for window, and while dropped
 * data comes back (tcp_dropped()), as each ACK asks for its next segment.
 * How long it may wait, tcp_flush_acks_overdue() says;
 * tcp_flush_acks_later() sends what is still owed before the loop sleeps.
 */
static void tcp_queue_ack_later(struct ctx *c, struct flow *f)
{
	struct ctx_ack_later *e;

	if (!c->busy_poll_us || c->child_done || (f->flags & (FLOW_F_ACK_LATER | FLOW_F_DROPPED)) ||
	    f->window_sent < f->window_fresh / 2 || c->n_ack_later == ARRAY_SIZE(c->ack_later)) {
		tcp_queue_ack(c, f);
		return;
	}
	if (f->flags & FLOW_F_ACK_NOW)
		return;
	f->flags |= FLOW_F_ACK_LATER;
	e = &c->ack_later[c->n_ack_later++];
	e->flow = flow_index(&c->flows, f);
	e->batch = c->batch;
	e->since_us = c->now_us;
}

/* Send flow @idx an ACK if it still owes one (@flag): it may have ridden on a segment since. */
static void tcp_flush_ack(struct ctx *c, uint32_t idx, uint16_t flag)
{
	struct flow *f = flow_at(&c->flows, idx);

	if (!f || !(f->flags & flag))
		return;
	f->flags &= (uint16_t)~flag;
	if (f->state == FLOW_TCP_ESTABLISHED)
		tcp_send_ctl(c, f, PACKET_TCP_ACK);
}

/**
 * tcp_flush_acks() - Send the ACKs owed after a batch of tun packets
 * @c: handler context
 */
void tcp_flush_acks(struct ctx *c)
{
	unsigned int i;

	for (i = 0; i < c->n_ack_pending; i++)
		tcp_flush_ack(c, c->ack_pending[i], FLOW_F_ACK_NOW);
	c->n_ack_pending = 0;
}

/**
 * tcp_flush_acks_later() - Send the ACKs that waited for a reply to ride on
 * @c: handler context
 *
 * The loop calls this before it sleeps: nothing can ride on them then.
 */
void tcp_flush_acks_later(struct ctx *c)
{
	unsigned int i;

	for (i = 0; i < c->n_ack_later; i++)
		tcp_flush_ack(c, c->ack_later[i].flow, FLOW_F_ACK_LATER);
	c->n_ack_later = 0;
}

/**
 * tcp_flush_acks_overdue() - Send the waiting ACKs whose reply had its chance
 * @c:      handler context
 * @now_us: CLOCK_MONOTONIC in microseconds
 *
 * An ACK is due once it has waited busy_poll_us and a later batch of events
 * has been handled: a reply comes at the earliest in the batch after its
 * request, and under load one batch takes longer than busy_poll_us, so a
 * bound in time alone would send nearly every ACK on its own. A batch is
 * bounded (LOOP_MAX_EVENTS), and so is the wait. The list is in the order
 * the ACKs began to wait, and what is not due yet moves to its front.
 */
void tcp_flush_acks_overdue(struct ctx *c, uint64_t now_us)
{
	unsigned int due = 0;

	while (due < c->n_ack_later && c->ack_later[due].batch != c->batch &&
	       now_us - c->ack_later[due].since_us >= c->busy_poll_us)
		tcp_flush_ack(c, c->ack_later[due++].flow, FLOW_F_ACK_LATER);
	if (!due)
		return;
	c->n_ack_later -= due;
	memmove(c->ack_later, c->ack_later + due, c->n_ack_later * sizeof(c->ack_later[0]));
}

/* Peek the next @len bytes not yet in flight into @buf. */
static ssize_t tcp_peek(const struct ctx *c, struct flow *f, uint8_t *buf, size_t len)
{
	static uint8_t discard[65536];
	struct iovec iov[TCP_DISCARD_IOVS + 1];
	uint32_t skip = f->seq_nxt - f->seq_una;
	struct msghdr mh = {.msg_iov = iov};
	size_t n = 0;

	if (c->peek_offset) {
		/*
		 * Nothing in flight: a plain peek starts at the right byte. A
		 * reply acknowledged before more comes never needs the offset,
		 * which saves most connections a system call.
		 */
		if (skip && !(f->flags & FLOW_F_PEEK_OFF)) {
			int off = (int)skip;

			if (setsockopt(f->sock, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off)))
				return -1;
			f->flags |= FLOW_F_PEEK_OFF;
		}
		return recv(f->sock, buf, len, MSG_PEEK | MSG_DONTWAIT);
	}
	/* Older kernels: read what is in flight again, into a discard buffer. */
	while (skip && n < TCP_DISCARD_IOVS) {
		iov[n].iov_base = discard;
		iov[n].iov_len = skip < sizeof(discard) ? skip : sizeof(discard);
		skip -= (uint32_t)iov[n++].iov_len;
	}
	if (skip)
		return -1; /* more in flight than we can skip: wait for ACKs */
	iov[n].iov_base = buf;
	iov[n++].iov_len = len;
	mh.msg_iovlen = n;
	{
		ssize_t r = recvmsg(f->sock, &mh, MSG_PEEK | MSG_DONTWAIT);
		uint32_t in_flight = f->seq_nxt - f->seq_una;

		if (r < 0)
			return r;
		if ((size_t)r < in_flight) {
			errno = EAGAIN;
			return -1;
		}
		return r - (ssize_t)in_flight;
	}
}

static void tcp_rewind(const struct ctx *c, struct flow *f)
{
	int zero = 0;

	f->seq_nxt = f->seq_una;
	f->flags &= (uint16_t)~FLOW_F_FIN_SENT;
	f->flags |= FLOW_F_HOST_DATA;
	f->rtt_start = 0; /* Karn: no RTT sample across a retransmission */
	if (f->flags & FLOW_F_PEEK_OFF)
		setsockopt(f->sock, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero));
}

/* Send what the host socket has and the sandbox's window allows; FIN at EOF. */
static void tcp_host_to_sandbox(struct ctx *c, struct flow *f)
{
	uint16_t mss = f->sandbox_mss;
	int i;

	for (i = 0; i < TCP_SEND_BATCH; i++) {
		uint32_t in_flight = f->seq_nxt - f->seq_una, room;
		struct packet_tcp_out o;
		size_t hdr, want;
		ssize_t n;

		if (f->state != FLOW_TCP_ESTABLISHED || (f->flags & FLOW_F_FIN_SENT) ||
		    !(f->flags & FLOW_F_HOST_DATA))
			break;
		if (in_flight >= f->sandbox_window) {
			if (!in_flight && !f->deadline_ms)
				tcp_timer_set(c, f, f->rto_ms); /* zero window: probe later */
			break;
		}
		room = f->sandbox_window - in_flight;
		tcp_out_init(f, &o, PACKET_TCP_ACK);
		hdr = packet_tcp_header_len(&o);
		want = room < mss ? room : mss;
		n = tcp_peek(c, f, tcp_frame + hdr, want);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				f->flags &= (uint16_t)~FLOW_F_HOST_DATA;
				break;
			}
			log_debug("flow %u: host socket: %s", flow_index(&c->flows, f),
				  strerror(errno));
			tcp_reset(c, f);
			return;
		}
		if (n == 0) {
			/* End of stream: everything before it has been sent. */
			f->flags |= FLOW_F_HOST_EOF | FLOW_F_FIN_SENT;
			f->flags &= (uint16_t)~FLOW_F_HOST_DATA;
			o.flags |= PACKET_TCP_FIN;
			tcp_emit(c, f, &o, tcp_frame, 0);
			f->seq_nxt++;
		} else {
			if ((size_t)n < want)
				o.flags |= PACKET_TCP_PSH;
			tcp_emit(c, f, &o, tcp_frame, (size_t)n);
			f->seq_nxt += (uint32_t)n;
			f->bytes_to_sandbox += (uint64_t)n;
			/*
			 * A short peek took all there was: more data comes with a
			 * new edge, so peeking again now would only meet EAGAIN.
			 * Unless the peer closed, as that edge is already spent.
			 */
			if ((size_t)n < want && !(f->flags & FLOW_F_HOST_HUP))
				f->flags &= (uint16_t)~FLOW_F_HOST_DATA;
		}
		if (!f->deadline_ms)
			tcp_timer_set(c, f, f->rto_ms);
		if (!f->rtt_start) {
			f->rtt_seq = f->seq_nxt;
			f->rtt_start = (uint32_t)c->now_ms | 1;
		}
	}
}

/* RFC 6298: a new RTT sample updates SRTT, RTTVAR and the RTO. */
static void tcp_rtt_sample(struct flow *f, uint32_t rtt)
{
	uint32_t rto;

	if (!f->srtt8) {
		f->srtt8 = rtt << 3;
		f->rttvar4 = rtt << 1;
	} else {
		uint32_t srtt = f->srtt8 >> 3, delta = rtt > srtt ? rtt - srtt : srtt - rtt;

		f->rttvar4 = f->rttvar4 - (f->rttvar4 >> 2) + delta;
		f->srtt8 = f->srtt8 - (f->srtt8 >> 3) + rtt;
	}
	rto = (f->srtt8 >> 3) + f->rttvar4;
	f->rto_ms = rto < TCP_RTO_MIN_MS   ? TCP_RTO_MIN_MS
		    : rto > TCP_RTO_MAX_MS ? TCP_RTO_MAX_MS
					   : rto;
}

static void tcp_retransmit(struct ctx *c, struct flow *f)
{
	tcp_rewind(c, f);
	tcp_host_to_sandbox(c, f);
}

/* The sandbox ACKed up to @ack: drop that much from the socket. */
static void tcp_sandbox_ack(struct ctx *c, struct flow *f, const struct packet *p)
{
	uint32_t acked = p->ack - f->seq_una, in_flight = f->seq_nxt - f->seq_una;
	uint32_t window = (uint32_t)p->window << f->sandbox_wscale, data;
	bool window_changed = window != f->sandbox_window;

	f->sandbox_window = window;
	if (acked > in_flight)
		return; /* old ACK, or one for data never sent */
	if (!acked) {
		if (in_flight && !p->payload_len && !window_changed &&
		    !(p->flags & (PACKET_TCP_SYN | PACKET_TCP_FIN)) && ++f->dup_acks == 3) {
			c->stats.fast_retransmits++;
			tcp_retransmit(c, f);
		}
		return;
	}
	data = acked;
	if ((f->flags & FLOW_F_FIN_SENT) && p->ack == f->seq_nxt) {
		data--;
		f->flags |= FLOW_F_FIN_ACKED;
	}
	if (data) {
		ssize_t n = recv(f->sock, NULL, data, MSG_TRUNC | MSG_DONTWAIT);

		if (n != (ssize_t)data) {
			log_debug("flow %u: cannot drop %u acknowledged bytes: %s",
				  flow_index(&c->flows, f), data,
				  n < 0 ? strerror(errno) : "short");
			tcp_reset(c, f);
			return;
		}
	}
	f->seq_una = p->ack;
	f->dup_acks = 0;
	if (f->rtt_start && seq_le(f->rtt_seq, p->ack)) {
		tcp_rtt_sample(f, ((uint32_t)c->now_ms | 1) - f->rtt_start);
		f->rtt_start = 0;
	} else if (f->retries) {
		tcp_rtt_sample(f, f->srtt8 >> 3); /* back off no more: undo the doubling */
	}
	f->retries = 0;
	tcp_timer_set(c, f, f->seq_nxt != f->seq_una ? f->rto_ms : 0);
}

/*
 * Write @len bytes of the sandbox's, in @iovcnt pieces, to the host socket,
 * and account for what it took: rcv_nxt moves that far.
 * Return: bytes taken, or -1 if the flow was reset.
 */
static ssize_t tcp_host_write(struct ctx *c, struct flow *f, struct iovec *iov, size_t iovcnt,
			      size_t len)
{
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = iovcnt};
	struct iovec cut[CTX_HOLD_MAX];
	size_t taken, i;
	ssize_t n;

	if (c->host_write_max && len > c->host_write_max && iovcnt <= ARRAY_SIZE(cut)) {
		/* Test hook: a socket that takes less than it has room for */
		for (i = 0, taken = c->host_write_max; i < iovcnt && taken; i++) {
			cut[i] = iov[i];
			if (cut[i].iov_len > taken)
				cut[i].iov_len = taken;
			taken -= cut[i].iov_len;
		}
		mh.msg_iov = cut;
		mh.msg_iovlen = i;
	}

	/*
	 * The sandbox's own stack has already decided when to send: Nagle's
	 * algorithm must not hold our writes back once more. It can only hold
	 * one back while something small we wrote is unacknowledged, so the
	 * first write needs no TCP_NODELAY, and a connection of one request
	 * is a system call cheaper without it.
	 */
	if (f->bytes_to_host && !(f->flags & FLOW_F_NODELAY)) {
		int one = 1;

		setsockopt(f->sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		f->flags |= FLOW_F_NODELAY;
	}
	n = sendmsg(f->sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			log_debug("flow %u: write to host: %s", flow_index(&c->flows, f),
				  strerror(errno));
			tcp_reset(c, f);
			return -1;
		}
		n = 0;
	}
	f->rcv_nxt += (uint32_t)n;
	f->bytes_to_host += (uint64_t)n;
	return n;
}

/*
 * tcp_stash() - Keep what the socket refused of a write (@iov past @skip),
 * if it fits a free slot, instead of dropping it
 *
 * Dropped data comes back when three duplicate ACKs ask for it, but a
 * sender without SACK counts no more duplicates than it has segments out
 * (tcp_ask_again()), and a refusal mostly leaves it one or two: the window
 * ended where the socket's room seemed to. Then only its retransmission
 * timeout resends, 20 ms or more later, each time. Kept here, the data goes
 * to the socket as soon as it has room (tcp_stash_write()); meanwhile the
 * sandbox sees a zero window, as from any slow receiver, and what it sent
 * before it saw one is kept too while the slot has room (tcp_stash_more()).
 * With more than that out, duplicate ACKs work, and all is dropped after
 * all. A few slots of TCP_STASH_SIZE, for the whole handler: bounded, and
 * with none free the data is dropped and asked for again as before.
 *
 * Return: true if all of it was kept
 */
static bool tcp_stash(struct ctx *c, struct flow *f, const struct iovec *iov, size_t iovcnt,
		      size_t skip, unsigned int segs)
{
	struct ctx_stash *s = NULL;
	size_t i, len = 0;
	unsigned int k;

	for (i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (len - skip > TCP_STASH_SIZE)
		return false;
	for (k = 0; k < c->stash_slots && k < CTX_STASH_MAX && !s; k++)
		if (!c->stash[k].used)
			s = &c->stash[k];
	if (!s)
		return false;
	f->stash = (uint8_t)(s - c->stash);
	f->flags |= FLOW_F_STASHED;
	s->used = true;
	s->len = 0;
	s->segs = (uint16_t)segs;
	s->fin = false;
	for (i = 0; i < iovcnt; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		memcpy(tcp_stash_buf[f->stash] + s->len, (const uint8_t *)iov[i].iov_base + skip,
		       iov[i].iov_len - skip);
		s->len += (uint32_t)(iov[i].iov_len - skip);
		skip = 0;
	}
	c->stats.kept_writes++;
	return true;
}

/*
 * A segment from the sandbox while refused data is kept: the next part of
 * it, kept too if the slot has room; a resend of what is kept, or anything
 * past a kept FIN, ignored (the ACK comes once it is written). Anything else
 * means more segments out than the slot holds: then what is kept is dropped
 * with it, all to be asked for again once the socket has room
 * (tcp_dropped(), tcp_ask_again()), as three duplicate ACKs can.
 */
static void tcp_stash_more(struct ctx *c, struct flow *f, const struct packet *p)
{
	struct ctx_stash *s = &c->stash[f->stash];
	uint32_t end = f->rcv_nxt + s->len, seq = p->seq, skip;
	bool fin = p->flags & PACKET_TCP_FIN;
	size_t len = p->payload_len;

	if (s->fin || !seq_lt(end, seq + (uint32_t)len + fin))
		return;
	if (seq_lt(end, seq) || s->len + (len - (end - seq)) > TCP_STASH_SIZE) {
		unsigned int segs = s->segs;

		tcp_stash_release(c, f);
		tcp_dropped(f, end, segs);
		tcp_dropped(f, seq + (uint32_t)len + fin, 1);
		return;
	}
	skip = end - seq;
	memcpy(tcp_stash_buf[f->stash] + s->len, p->payload + skip, len - skip);
	s->len += (uint32_t)(len - skip);
	s->segs++;
	s->fin = fin;
}

/*
 * tcp_stash_write() - The socket has room: write what was kept, and the FIN
 * that came after it. Return: false if the flow was reset
 */
static bool tcp_stash_write(struct ctx *c, struct flow *f)
{
	struct ctx_stash *s = &c->stash[f->stash];
	uint8_t *buf = tcp_stash_buf[f->stash];
	struct iovec iov = {.iov_base = buf, .iov_len = s->len};
	ssize_t n = 0;

	if (s->len)
		n = tcp_host_write(c, f, &iov, 1, s->len);
	if (n < 0)
		return false;
	if ((uint32_t)n < s->len) {
		memmove(buf, buf + n, s->len - (uint32_t)n);
		s->len -= (uint32_t)n;
		return true;
	}
	if (s->fin) {
		shutdown(f->sock, SHUT_WR);
		f->rcv_nxt++;
		f->flags |= FLOW_F_SANDBOX_FIN;
	}
	tcp_stash_release(c, f);
	tcp_dropped_check(f);
	return true;
}

/*
 * Write @len bytes of the sandbox's, in @iovcnt pieces, to the host socket
 * (tcp_host_write()), and account for what it took and what it refused.
 * Return: bytes taken, or -1 if the flow was reset.
 */
static ssize_t tcp_to_host(struct ctx *c, struct flow *f, struct iovec *iov, size_t iovcnt,
			   size_t len)
{
	size_t taken, i;
	ssize_t n;

	n = tcp_host_write(c, f, iov, iovcnt, len);
	if (n < 0)
		return -1;
	tcp_dropped_check(f);
	/*
	 * What is left of the window. The sandbox may have sent a little past
	 * it: to the right edge of an earlier ACK, which a window rounded down
	 * to its scale moved left by up to 2^wscale - 1 bytes. Nothing is left
	 * then, and the next ACK takes a fresh look at the socket; keeping the
	 * old figure would promise the whole of it again, beyond the socket's
	 * room, and the data the socket then refuses costs the sandbox a
	 * stall of one or more retransmission timeouts.
	 */
	f->window_sent = f->window_sent > (uint32_t)n ? f->window_sent - (uint32_t)n : 0;
	if ((size_t)n < len) {
		/*
		 * The window promised more than the socket took (memory
		 * pressure). The rest is kept if a slot is free (tcp_stash());
		 * if not, the sandbox must send it again: the window ends where
		 * its data does (tcp_dropped()), and once the socket has room,
		 * duplicate ACKs ask for the rest (tcp_sock_event()) rather than
		 * leave the sandbox to its retransmission timeout.
		 */
		c->stats.partial_writes++;
		f->flags |= FLOW_F_REFUSED;
		f->window_sent = 0;
		f->window_fresh = 0;
		/* The segments not taken whole: the first one refused and those after it. */
		for (i = 0, taken = (size_t)n; i < iovcnt && taken >= iov[i].iov_len; i++)
			taken -= iov[i].iov_len;
		if (!tcp_stash(c, f, iov, iovcnt, (size_t)n, (unsigned int)(iovcnt - i)))
			tcp_dropped(f, f->rcv_nxt + (uint32_t)(len - (size_t)n),
				    (unsigned int)(iovcnt - i));
		tcp_want_out(c, f);
	}
	return n;
}

/*
 * Bulk data comes as one 64 KiB segment after another, and each write to the
 * host socket wakes its reader. So while tun_input() lets us keep pointers
 * into the frames it read (c->tun_may_hold), consecutive in-order segments
 * of one flow are held, their ACK parts handled at once, and written with
 * one sendmsg() when anything else comes, CTX_HOLD_MAX are held, or the
 * batch ends (tcp_tun_flush()). Nothing is acknowledged before it is written.
 */
static void tcp_hold(struct ctx *c, struct flow *f, const uint8_t *data, size_t len)
{
	/* tcp_tun_input() wrote what was held unless this continues it */
	ASSERT(c->tun_may_hold && c->n_held < ARRAY_SIZE(c->held_iov) &&
	       (!c->n_held || c->held_flow == flow_index(&c->flows, f)));
	c->held_flow = flow_index(&c->flows, f);
	c->held_iov[c->n_held].iov_base = (void *)data;
	c->held_iov[c->n_held++].iov_len = len;
	c->held_len += len;
	c->tun_held = true;
}

/* Does @p, of flow @f, only add payload right after what is held? */
static bool tcp_hold_continues(const struct ctx *c, const struct flow *f, const struct packet *p)
{
	return c->tun_may_hold && c->held_flow == flow_index(&c->flows, f) &&
	       c->n_held < ARRAY_SIZE(c->held_iov) && f->state == FLOW_TCP_ESTABLISHED &&
	       !(f->flags & (FLOW_F_SANDBOX_FIN | FLOW_F_STASHED)) && p->payload_len &&
	       (p->flags & (PACKET_TCP_SYN | PACKET_TCP_FIN | PACKET_TCP_RST | PACKET_TCP_ACK)) ==
		       PACKET_TCP_ACK &&
	       p->seq == f->rcv_nxt + (uint32_t)c->held_len;
}

/**
 * tcp_tun_flush() - Write the segments tcp_tun_input() held to the host
 * @c: handler context
 *
 * Called before the frames they point into are reused, and after each batch.
 */
void tcp_tun_flush(struct ctx *c)
{
	struct flow *f = flow_at(&c->flows, c->held_flow);
	size_t len = c->held_len, segs = c->n_held;
	ssize_t n;

	if (!segs)
		return;
	c->n_held = 0;
	c->held_len = 0;
	if (!f || f->state != FLOW_TCP_ESTABLISHED)
		return; /* reset meanwhile: the data goes with it */
	n = tcp_to_host(c, f, c->held_iov, segs, len);
	if (n < 0)
		return;
	if ((size_t)n == len && segs == 1)
		tcp_queue_ack_later(c, f);
	else
		tcp_queue_ack(c, f);
}

/* Payload and FIN from the sandbox, in an established flow. */
static void tcp_sandbox_data(struct ctx *c, struct flow *f, const struct packet *p)
{
	const uint8_t *data = p->payload;
	size_t len = p->payload_len;
	bool fin = p->flags & PACKET_TCP_FIN;
	uint32_t seq = p->seq, skip;

	if (!len && !fin) {
		if (seq != f->rcv_nxt)
			tcp_queue_ack(c, f); /* window probe or keepalive: say where we are */
		return;
	}
	if (f->flags & FLOW_F_SANDBOX_FIN) {
		tcp_queue_ack(c, f); /* retransmission of what we have: ACK again */
		return;
	}
	if (f->flags & FLOW_F_STASHED) {
		tcp_stash_more(c, f, p);
		return;
	}
	if (seq_lt(f->rcv_nxt, seq)) {
		/*
		 * A hole before this segment: drop it, and send one duplicate
		 * ACK for fast retransmit (RFC 5681 4.2). The first one may
		 * carry a smaller window (tcp_dropped()), but Linux applies a
		 * window that shrinks only with an ACK that advances
		 * (tcp_may_update_window()): until then it is a duplicate
		 * like the others. One more would be one more than the
		 * segments out, which Linux takes for reordering and then
		 * waits for more duplicates the next time.
		 * Not while the socket has no room: the segment resent would
		 * be refused, and asking comes with room (tcp_sock_event()).
		 */
		c->stats.out_of_order++;
		tcp_dropped(f, seq + (uint32_t)len + fin, 1);
		if (!(f->flags & FLOW_F_REFUSED))
			tcp_send_ctl(c, f, PACKET_TCP_ACK);
		return;
	}
	skip = f->rcv_nxt - seq;
	if (skip > len || (skip == len && !fin)) {
		tcp_queue_ack(c, f); /* all old */
		return;
	}
	data += skip;
	len -= skip;
	if (len) {
		struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
		ssize_t n;

		if (!fin && c->tun_may_hold) {
			tcp_hold(c, f, data, len);
			return;
		}
		n = tcp_to_host(c, f, &iov, 1, len);
		if (n < 0)
			return;
		if ((size_t)n < len) {
			if (f->flags & FLOW_F_STASHED)
				c->stash[f->stash].fin = fin; /* it waits with the data */
			fin = false;
		}
	}
	if (fin) {
		shutdown(f->sock, SHUT_WR);
		f->rcv_nxt++;
		f->flags |= FLOW_F_SANDBOX_FIN;
		tcp_dropped_check(f);
	}
	if (f->rcv_nxt == p->seq + (uint32_t)p->payload_len + (uint32_t)fin)
		tcp_queue_ack_later(c, f); /* all of it taken */
	else
		tcp_queue_ack(c, f);
	if (fin)
		tcp_maybe_done(c, f);
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

/*
 * The socket refused data the sandbox sent (tcp_to_host()) and has room
 * again: three duplicate ACKs of where we are make the sandbox retransmit
 * from there at once (fast retransmit, RFC 5681 3.2), as a receiver that
 * lost a segment would have it do, instead of after its retransmission
 * timeout. They repeat the window just advertised, or they would count as
 * window updates rather than duplicates. Only with three segments or more
 * dropped: a sender without SACK counts no more duplicates than it has
 * segments out, and takes more as a sign that its segments were reordered,
 * after which it wants more of them before it resends at all. With fewer,
 * its retransmission timeout resends, 20 ms on the sandbox's routes (nl.c).
 */
static void tcp_ask_again(struct ctx *c, struct flow *f)
{
	int i;

	if (!(f->flags & FLOW_F_DROPPED) || f->dropped_segs < 3)
		return;
	for (i = 0; i < 3 && f->state == FLOW_TCP_ESTABLISHED; i++)
		tcp_send_ctl(c, f, PACKET_TCP_ACK);
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
	if ((events & EPOLLOUT) && (f->flags & FLOW_F_WANT_OUT)) {
		bool low, refused = f->flags & FLOW_F_REFUSED;
		uint32_t window, taken = f->rcv_nxt;

		/* Space freed (or the event predates the last write): update the window. */
		f->flags &= (uint16_t) ~(FLOW_F_WANT_OUT | FLOW_F_REFUSED);
		if ((f->flags & FLOW_F_STASHED) && !tcp_stash_write(c, f))
			return;
		if (f->rcv_nxt != taken)
			tcp_queue_ack(c, f); /* what was kept is taken (rides on an update below) */
		if (f->flags & FLOW_F_STASHED) {
			/* Not all of it: the window stays shut until the rest is taken. */
			f->flags |= FLOW_F_REFUSED;
			tcp_want_out(c, f);
			tcp_host_to_sandbox(c, f);
			return;
		}
		f->window_fresh = 0;
		tcp_window_field(c, f, &window, &low);
		if (window > f->window_sent) {
			/* What the update advertises: the window just computed, with no second
			 * look. */
			f->window_sent = window;
			tcp_send_ctl(c, f, PACKET_TCP_ACK);
			if (low && !(f->flags & FLOW_F_SANDBOX_FIN))
				tcp_want_out(c, f); /* as tcp_emit() would after a fresh look */
		} else if (low) {
			tcp_want_out(c, f);
		}
		/* Duplicates of a zero window would count as window updates: wait for room. */
		if (refused && f->window_sent)
			tcp_ask_again(c, f);
		else if (refused)
			f->flags |= FLOW_F_REFUSED;
		if (f->flags & FLOW_F_SANDBOX_FIN) {
			tcp_maybe_done(c, f); /* a kept FIN */
			if (f->state != FLOW_TCP_ESTABLISHED)
				return;
		}
	}
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
			/* Zero window: an old sequence number makes the sandbox say its window. */
			struct packet_tcp_out o;
			uint8_t frame[PACKET_TCP_HEADER_MAX];

			tcp_out_init(f, &o, PACKET_TCP_ACK);
			o.seq = f->seq_nxt - 1;
			tcp_emit(c, f, &o, frame, 0);
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
