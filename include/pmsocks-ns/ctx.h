/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PMSOCKS_NS_CTX_H
#define PMSOCKS_NS_CTX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <sys/types.h>

#include <sys/socket.h>

#include "pmsocks-ns/flow.h"
#include "pmsocks-ns/packet.h"

struct rules;
struct rule_server;

/* Where a new connection goes (decided once, on the SYN). */
enum route {
	ROUTE_DENY,   /* refused: RST */
	ROUTE_DIRECT, /* connect from the host */
	ROUTE_SOCKS,  /* through a SOCKS server (rules issue) */
};

struct ctx_stats {
	uint64_t tun_packets_in, tun_packets_out, tun_write_errors, tun_hook_drops;
	uint64_t drops[PACKET_DROP_MAX]; /* malformed packets, by reason */
	uint64_t not_tcp;		 /* UDP and other protocols answered with ICMP */
	uint64_t ignored;		 /* well-formed but not for us (ICMP, multicast, ...) */
	uint64_t flows_opened, flows_denied, flows_refused, flows_unreachable;
	uint64_t flows_timed_out, flows_table_full, flows_reset;
	uint64_t resets_sent, icmp_sent;
	uint64_t retransmits, fast_retransmits, partial_writes, kept_writes;
	uint64_t out_of_order; /* segments from the sandbox after a hole, dropped */
};

#define CTX_HOLD_MAX 8 /* segments held for one write, in as many tun frames */

/* An ACK that waits for a reply to ride on (tcp_queue_ack_later()) */
struct ctx_ack_later {
	uint32_t flow;
	uint32_t batch;	   /* c->batch when it began to wait */
	uint64_t since_us; /* c->now_us then */
};

/*
 * Data of one flow that the host socket refused, kept until the socket has
 * room (tcp_stash()); its bytes are in a buffer of tcp_data.c.
 */
#define CTX_STASH_MAX 4
struct ctx_stash {
	uint32_t len;
	uint16_t segs; /* how many segments it came in */
	bool used;
	bool fin; /* the sandbox's FIN follows the data */
};

/* A warning logged at most once a second, however often it happens (tcp.c) */
struct ctx_warn {
	uint64_t last_ms;	 /* c->now_ms when it was last logged, 0 if never */
	unsigned int suppressed; /* times it happened since, not logged */
};

/* Everything the handler's modules share. */
struct ctx {
	int epoll_fd;
	int tun_fd;
	int timer_fd;
	int signal_fd;
	pid_t child;
	bool child_done;
	int exit_status;

	unsigned int mtu;
	uint32_t connect_timeout_ms;
	uint32_t busy_poll_us; /* loop_run(): keep polling this long after an event */
	bool peek_offset;      /* SO_PEEK_OFF works on TCP sockets */
	bool vnet_hdr;	       /* tun packets carry a virtio-net header (tun.c) */
	union packet_addr gateway4, gateway6;

	/* Policy: the rules in force (NULL: every allowed destination direct) */
	struct rules *rules;
	struct rules *retired[4]; /* replaced by a reload, freed when no flow uses them */
	const char *user;	  /* invoking user, for *= */
	const struct rule_server *socks_default; /* SOCKS_SERVER, or NULL */
	const char *socks_user, *socks_pass;	 /* RFC 1929 credentials, or NULL */
	bool allow_rule_commands;
	void (*reload)(struct ctx *c); /* SIGHUP: read the rules again */

	struct flow_table flows;
	uint64_t now_us, now_ms; /* CLOCK_MONOTONIC, refreshed per event batch */
	uint64_t timer_armed_ms; /* when timer_fd fires next, 0 if disarmed */
	uint64_t isn_state;	 /* initial sequence numbers: seeded once, then stepped */
	struct ctx_stats stats;
	struct ctx_warn warn_table_full, warn_local; /* flow table full; no socket, port, memory */

	/* Flows owing the sandbox an ACK, sent once per batch of tun packets. */
	uint32_t ack_pending[64];
	unsigned int n_ack_pending;
	/* Flows owing one that may ride on a reply (tcp_queue_ack_later()), oldest first */
	struct ctx_ack_later ack_later[64];
	unsigned int n_ack_later;
	uint32_t batch; /* number of the batch of events being handled (loop_poll()) */

	/* Refused data kept for a few flows at a time (tcp_stash()) */
	struct ctx_stash stash[CTX_STASH_MAX];
	unsigned int stash_slots; /* how many may be used: CTX_STASH_MAX, fewer in tests */

	/*
	 * tun_input() lets tcp_tun_input() keep pointers into the frame it
	 * passes (tun_may_hold) and learns that it did (tun_held): segments of
	 * one flow held for one write (tcp_tun_flush()).
	 */
	bool tun_may_hold, tun_held;
	struct iovec held_iov[CTX_HOLD_MAX];
	unsigned int n_held;
	uint32_t held_flow;
	size_t held_len;

	/* Test hooks, NULL in the program. */
	bool (*tun_hook)(void *opaque, const uint8_t *frame, size_t len); /* false: drop */
	void *tun_hook_opaque;
	enum route (*route_hook)(const struct flow_key *k);
	uint32_t (*isn_hook)(void);
	uint32_t host_write_max; /* host sockets take at most this much per write; 0: no limit */
};

uint64_t ctx_now_ms(void);

#endif
