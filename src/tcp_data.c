// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tcp_data.c - The data of established flows, both ways
 *
 * Theory of operation: tcp.c sets flows up and tears them down (SYN, upstream
 * connect, RST, timers); this file moves their data, as tcp.c's overview
 * describes, and builds every segment a flow sends the sandbox.
 *
 * - Our window: what the host socket's send buffer can take
 *   (tcp_sock_space()), within the flow's share of a budget for all windows,
 *   never moving its right edge left unless data was dropped
 *   (tcp_window_field(), tcp_dropped()).
 *
 * - sandbox -> host: in-order payload goes to the socket
 *   (tcp_sandbox_data(), tcp_to_host()), segments of one batch together
 *   (tcp_hold()); what the socket refuses is kept in a few static slots
 *   (tcp_stash()) or dropped and asked for again (tcp_ask_again()). When the
 *   socket has room again, tcp_sock_room() tells the sandbox.
 *
 * - host -> sandbox: peeked from the socket, framed up to the MSS within the
 *   sandbox's window (tcp_host_to_sandbox()), consumed once acknowledged
 *   (tcp_sandbox_ack()), re-read from the kernel's buffer to retransmit
 *   (tcp_rewind()).
 *
 * - ACKs owed to the sandbox wait for the end of the batch, or for a reply
 *   to ride on while the loop busy polls (tcp_queue_ack_later()).
 *
 * Nothing is queued here without bound: the kernel's buffers, the tun frames
 * of the batch being handled, one frame to build segments in and the slots
 * of kept data are all there is.
 */
#include <errno.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "pmsocks-ns/log.h"
#include "pmsocks-ns/loop.h"
#include "pmsocks-ns/tcp.h"
#include "pmsocks-ns/tun.h"
#include "pmsocks-ns/util.h"
#include "tcp_internal.h"

#define TCP_FRAME_MAX	  (PACKET_TCP_HEADER_MAX + 65536)
#define TCP_SEND_BATCH	  64	       /* segments per flow per call, to stay fair */
#define TCP_DISCARD_IOVS  64	       /* without SO_PEEK_OFF: 64 x 64 KiB may be skipped */
#define TCP_WINDOW_BUDGET (32U << 20)  /* all windows we advertise, together */
#define TCP_WINDOW_FLOOR  (64U << 10)  /* a flow's share never goes below this */
#define TCP_STASH_SIZE	  (128U << 10) /* refused data kept per flow (tcp_stash()) */

static uint8_t tcp_frame[TCP_FRAME_MAX] __attribute__((aligned(8)));
/* Touched only when a socket refuses data: no memory until then. */
static uint8_t tcp_stash_buf[CTX_STASH_MAX][TCP_STASH_SIZE];

static inline bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
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
		 * EPOLLOUT (tcp_sock_room()).
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

/**
 * tcp_send_ctl() - Send the sandbox a segment without payload
 * @c:     handler context
 * @f:     flow
 * @flags: PACKET_TCP_* (a SYN carries our MSS and window scale)
 *
 * Return: 0, or -errno from building or writing it
 */
int tcp_send_ctl(struct ctx *c, struct flow *f, uint8_t flags)
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

/**
 * tcp_stash_release() - Give back a flow's slot of kept data, if it has one
 * @c: handler context
 * @f: flow being closed
 */
void tcp_stash_release(struct ctx *c, struct flow *f)
{
	if (!(f->flags & FLOW_F_STASHED))
		return;
	c->stash[f->stash].used = false;
	f->flags &= (uint16_t)~FLOW_F_STASHED;
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

/**
 * tcp_host_to_sandbox() - Send what the host socket has and the sandbox's window allows
 * @c: handler context
 * @f: established flow
 *
 * Sends a FIN once the host peer's data ends and all of it is sent.
 */
void tcp_host_to_sandbox(struct ctx *c, struct flow *f)
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

/**
 * tcp_retransmit() - Send again what the sandbox has not acknowledged
 * @c: handler context
 * @f: established flow with data in flight
 */
void tcp_retransmit(struct ctx *c, struct flow *f)
{
	tcp_rewind(c, f);
	tcp_host_to_sandbox(c, f);
}

/**
 * tcp_sandbox_ack() - Handle the ACK part of a segment from the sandbox
 * @c: handler context
 * @f: established flow
 * @p: the segment
 *
 * What it acknowledges is dropped from the socket; duplicates resend.
 */
void tcp_sandbox_ack(struct ctx *c, struct flow *f, const struct packet *p)
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

		if (seq_lt(end, seq))
			c->stats.out_of_order++; /* after a hole, as in tcp_sandbox_data() */
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

/* The sandbox's FIN, all data before it written: half-close the host socket. */
static void tcp_fin_to_host(struct flow *f)
{
	shutdown(f->sock, SHUT_WR);
	f->rcv_nxt++;
	f->flags |= FLOW_F_SANDBOX_FIN;
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
	if (s->fin)
		tcp_fin_to_host(f);
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
		 * duplicate ACKs ask for the rest (tcp_sock_room()) rather than
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

/**
 * tcp_hold() - Hold a segment's payload to write it with the ones after it
 * @c:    handler context
 * @f:    established flow
 * @data: payload, in a tun frame of this batch
 * @len:  its length
 *
 * Bulk data comes as one 64 KiB segment after another, and each write to the
 * host socket wakes its reader. So while tun_input() lets us keep pointers
 * into the frames it read (c->tun_may_hold), consecutive in-order segments
 * of one flow are held, their ACK parts handled at once, and written with
 * one sendmsg() when anything else comes, CTX_HOLD_MAX are held, or the
 * batch ends (tcp_tun_flush()). Nothing is acknowledged before it is written.
 */
void tcp_hold(struct ctx *c, struct flow *f, const uint8_t *data, size_t len)
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

/**
 * tcp_hold_continues() - Does a segment only add payload right after what is held?
 * @c: handler context
 * @f: the segment's flow
 * @p: the segment
 *
 * Return: true if it can be held too (tcp_hold())
 */
bool tcp_hold_continues(const struct ctx *c, const struct flow *f, const struct packet *p)
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

/**
 * tcp_sandbox_data() - Handle the payload and FIN of a segment from the sandbox
 * @c: handler context
 * @f: established flow
 * @p: the segment
 */
void tcp_sandbox_data(struct ctx *c, struct flow *f, const struct packet *p)
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
		 * be refused, and asking comes with room (tcp_sock_room()).
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
		tcp_fin_to_host(f);
		tcp_dropped_check(f);
	}
	if (f->rcv_nxt == p->seq + (uint32_t)p->payload_len + (uint32_t)fin)
		tcp_queue_ack_later(c, f); /* all of it taken */
	else
		tcp_queue_ack(c, f);
	if (fin)
		tcp_maybe_done(c, f);
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
 * tcp_sock_room() - The host socket of an established flow has room again
 * @c: handler context
 * @f: flow that asked for EPOLLOUT (FLOW_F_WANT_OUT)
 *
 * Writes what was kept, if anything, and tells the sandbox: a window
 * update, and after a refusal the duplicate ACKs that ask for what was
 * dropped (tcp_ask_again()).
 *
 * Return: true if the flow goes on (its host data may be sent), false if it
 * was closed or reset
 */
bool tcp_sock_room(struct ctx *c, struct flow *f)
{
	bool low, refused = f->flags & FLOW_F_REFUSED;
	uint32_t window, taken = f->rcv_nxt;

	/* Space freed (or the event predates the last write): update the window. */
	f->flags &= (uint16_t) ~(FLOW_F_WANT_OUT | FLOW_F_REFUSED);
	if ((f->flags & FLOW_F_STASHED) && !tcp_stash_write(c, f))
		return false;
	if (f->rcv_nxt != taken)
		tcp_queue_ack(c, f); /* what was kept is taken (rides on an update below) */
	if (f->flags & FLOW_F_STASHED) {
		/* Not all of it: the window stays shut until the rest is taken. */
		f->flags |= FLOW_F_REFUSED;
		tcp_want_out(c, f);
		return true;
	}
	f->window_fresh = 0;
	tcp_window_field(c, f, &window, &low);
	if (window > f->window_sent) {
		/* What the update advertises: the window just computed, with no second look */
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
			return false;
	}
	return true;
}

/**
 * tcp_window_probe() - Probe the sandbox's zero window
 * @c: handler context
 * @f: established flow with nothing in flight
 *
 * An old sequence number makes the sandbox answer with its window.
 */
void tcp_window_probe(struct ctx *c, struct flow *f)
{
	struct packet_tcp_out o;
	uint8_t frame[PACKET_TCP_HEADER_MAX];

	tcp_out_init(f, &o, PACKET_TCP_ACK);
	o.seq = f->seq_nxt - 1;
	tcp_emit(c, f, &o, frame, 0);
}
