/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tcp_internal.h - What tcp.c and tcp_data.c share, and nothing else sees
 *
 * Theory of operation: the TCP engine is three files. tcp.c owns a flow's
 * life: the SYN, the upstream connect, RST, timers and closing; tcp_data.c
 * moves an established flow's data both ways and builds the segments it
 * sends; tcp_socks.c runs the SOCKS handshake before a flow is established.
 * tcp_socks.c needs only include/pmsocks-ns/tcp.h; the calls between the
 * other two are declared here.
 *
 * This header is private to src/tcp*.c.
 */
#ifndef PMSOCKS_NS_TCP_INTERNAL_H
#define PMSOCKS_NS_TCP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "pmsocks-ns/ctx.h"
#include "pmsocks-ns/flow.h"
#include "pmsocks-ns/packet.h"

/* Is sequence number @a at or before @b, modulo 2^32? */
static inline bool seq_le(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

/* In tcp.c */
uint16_t tcp_mss_limit(const struct ctx *c, int family);
void tcp_timer_set(struct ctx *c, struct flow *f, uint32_t in_ms);
void tcp_reset(struct ctx *c, struct flow *f);
void tcp_maybe_done(struct ctx *c, struct flow *f);

/* In tcp_data.c */
int tcp_send_ctl(struct ctx *c, struct flow *f, uint8_t flags);
void tcp_window_probe(struct ctx *c, struct flow *f);
void tcp_sandbox_ack(struct ctx *c, struct flow *f, const struct packet *p);
void tcp_sandbox_data(struct ctx *c, struct flow *f, const struct packet *p);
bool tcp_hold_continues(const struct ctx *c, const struct flow *f, const struct packet *p);
void tcp_hold(struct ctx *c, struct flow *f, const uint8_t *data, size_t len);
void tcp_host_to_sandbox(struct ctx *c, struct flow *f);
void tcp_retransmit(struct ctx *c, struct flow *f);
bool tcp_sock_room(struct ctx *c, struct flow *f);
void tcp_stash_release(struct ctx *c, struct flow *f);

#endif
