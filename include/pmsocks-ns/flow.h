/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PMSOCKS_NS_FLOW_H
#define PMSOCKS_NS_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pmsocks-ns/packet.h"

#define FLOW_MAX_DEFAULT 65536
#define FLOW_MAX_LIMIT	 (1U << 22) /* flow indices must fit epoll_ref.flow (24 bits) */
#define FLOW_NONE	 UINT32_MAX

enum flow_state {
	FLOW_FREE = 0,
	FLOW_TCP_CONNECTING,  /* SYN seen; the upstream connect is in progress */
	FLOW_TCP_SYN_RCVD,    /* upstream up, SYN-ACK sent; waiting for the sandbox's ACK */
	FLOW_TCP_ESTABLISHED, /* data both ways; half-closes are tracked in flags */
	FLOW_TCP_TIMED_OUT,   /* upstream never answered: silent until the sandbox gives up */
	FLOW_TCP_SOCKS,	      /* SYN seen; connecting through a SOCKS server (tcp_socks.c) */
	FLOW_CLOSED,	      /* done; freed after the current event batch */
};

/* The sandbox's side and the far side of a connection. */
struct flow_key {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint16_t sandbox_port, remote_port;
	union packet_addr sandbox_addr, remote_addr;
};

/*
 * One TCP connection of the sandbox. "seq" names are sequence numbers of the
 * byte stream host -> sandbox (ours), "ack"/"rcv" of the stream sandbox -> host.
 */
struct flow {
	uint8_t state; /* enum flow_state */
	uint8_t sandbox_wscale;
	uint16_t flags; /* FLOW_F_* */
	int32_t sock;	/* host socket, -1 if none */
	struct flow_key key;
	uint32_t hash_next;		 /* bucket chain */
	uint32_t timer_prev, timer_next; /* list of flows with a deadline */
	uint32_t free_next;		 /* free list, and flows closed in this batch */
	uint64_t deadline_ms;		 /* 0: no timer */

	/* sandbox -> host */
	uint32_t rcv_nxt;      /* next byte expected from the sandbox: what we ACK */
	uint32_t window_sent;  /* last window we advertised, in bytes */
	uint32_t window_fresh; /* the last one computed from the socket; 0: look again */
	uint32_t dropped_high; /* FLOW_F_DROPPED: the end of what the sandbox has sent */
	/* host -> sandbox */
	uint32_t seq_una;	 /* oldest byte the sandbox has not acknowledged */
	uint32_t seq_nxt;	 /* next byte to send */
	uint32_t sandbox_window; /* the sandbox's advertised window, scaled, in bytes */
	uint16_t sandbox_mss;
	uint8_t dup_acks;
	uint8_t retries; /* consecutive retransmission timeouts */
	uint32_t rto_ms;
	/* RTT of the sandbox (RFC 6298), in milliseconds scaled by 8 and 4 */
	uint32_t srtt8, rttvar4;
	uint32_t rtt_seq;   /* an ACK reaching this ends the RTT sample... */
	uint32_t rtt_start; /* ...started then (low bits of now_ms); 0: no sample */

	/* The rule that matched; its SOCKS servers are used while connecting */
	const struct rule *rule;
	uint8_t socks_step;	   /* tcp_socks.c */
	uint8_t socks_server;	   /* index in the server list being tried */
	uint8_t socks_version;	   /* 4 or 5 */
	uint8_t socks_any_version; /* plain "sockd": SOCKS5, falling back to 4 */
	uint8_t our_wscale;	   /* here, where the struct had padding */
	uint8_t dropped_segs;	   /* FLOW_F_DROPPED: how many segments, at most 255 */
	uint8_t stash;		   /* FLOW_F_STASHED: which of c->stash */

	uint64_t bytes_to_host, bytes_to_sandbox;
};

struct rule;

/* FIN from the sandbox taken: host socket shut down for writing */
#define FLOW_F_SANDBOX_FIN 0x01
#define FLOW_F_HOST_EOF	   0x02	  /* the host socket has no more data */
#define FLOW_F_FIN_SENT	   0x04	  /* our FIN is in seq_nxt */
#define FLOW_F_FIN_ACKED   0x08	  /* the sandbox acknowledged our FIN */
#define FLOW_F_WANT_OUT	   0x10	  /* EPOLLOUT armed: waiting for send space */
#define FLOW_F_ACK_NOW	   0x20	  /* an ACK to the sandbox is due */
#define FLOW_F_HOST_DATA   0x40	  /* the host socket may have data (or EOF) not yet sent */
#define FLOW_F_HOST_HUP	   0x80	  /* the host peer closed: EOF follows the data */
#define FLOW_F_ACK_LATER   0x100  /* an ACK is due, but may ride on a reply (tcp_queue_ack_later) */
#define FLOW_F_PEEK_OFF	   0x200  /* SO_PEEK_OFF is on for the socket (tcp_peek) */
#define FLOW_F_NODELAY	   0x400  /* TCP_NODELAY is on for the socket (tcp_to_host) */
#define FLOW_F_REFUSED	   0x800  /* the socket refused data: ask for it again (tcp_sock_room) */
#define FLOW_F_DROPPED	   0x1000 /* sandbox data up to dropped_high was dropped (tcp_dropped) */
#define FLOW_F_STASHED	   0x2000 /* refused data waits in c->stash[stash] (tcp_stash) */

struct flow_table {
	struct flow *flows;
	uint32_t max;
	uint32_t *buckets;
	uint32_t bucket_mask;
	uint32_t free_head;
	uint32_t never_used;  /* slots from here on were never allocated */
	uint32_t closed_head; /* closed in this batch, freed by flow_reap() */
	uint32_t timer_head;
	uint32_t active;
	uint64_t hash_seed;
};

int flow_table_init(struct flow_table *t, uint32_t max);
void flow_table_destroy(struct flow_table *t);
struct flow *flow_lookup(const struct flow_table *t, const struct flow_key *k);
struct flow *flow_alloc(struct flow_table *t, const struct flow_key *k);
void flow_close(struct flow_table *t, struct flow *f);
void flow_reap(struct flow_table *t);
void flow_timer_set(struct flow_table *t, struct flow *f, uint64_t deadline_ms);

static inline uint32_t flow_index(const struct flow_table *t, const struct flow *f)
{
	return (uint32_t)(f - t->flows);
}

static inline struct flow *flow_at(const struct flow_table *t, uint32_t i)
{
	return i < t->max ? &t->flows[i] : NULL;
}

#endif
