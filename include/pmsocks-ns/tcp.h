/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PMSOCKS_NS_TCP_H
#define PMSOCKS_NS_TCP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "pmsocks-ns/ctx.h"
#include "pmsocks-ns/packet.h"

#define TCP_WSCALE	       7   /* our window scale: windows up to 8 MiB */
#define TCP_RTO_MIN_MS	       200 /* first retransmission timeout towards the sandbox */
#define TCP_RTO_MAX_MS	       10000
#define TCP_SYNACK_RTO_MS      1000
#define TCP_MAX_RETRIES	       12 /* consecutive timeouts before both sides are reset */
#define TCP_SYNACK_RETRIES     5
#define TCP_CONNECT_TIMEOUT_MS 5000

int tcp_init(struct ctx *c);
void tcp_tun_input(struct ctx *c, const struct packet *p);
void tcp_sock_event(struct ctx *c, uint32_t flow, uint32_t events);
void tcp_timer(struct ctx *c);
void tcp_tun_flush(struct ctx *c);
void tcp_flush_acks(struct ctx *c);
void tcp_flush_acks_later(struct ctx *c);
void tcp_flush_acks_overdue(struct ctx *c, uint64_t now_us);
void tcp_close_all(struct ctx *c);
void tcp_close_timed_out(struct ctx *c);
int tcp_rules_replace(struct ctx *c, struct rules *fresh);
uint32_t tcp_sandbox_syn_retries(uint32_t connect_timeout_ms, bool rto_max_1s);

/* Between tcp.c and tcp_socks.c */
int tcp_connect_sock(struct ctx *c, struct flow *f, const struct sockaddr *sa, socklen_t len);
void tcp_upstream_ready(struct ctx *c, struct flow *f);
void tcp_upstream_failed(struct ctx *c, struct flow *f, int err);
void tcp_upstream_log(const struct ctx *c, const struct flow *f, const char *why);
void tcp_sock_close(struct flow *f, bool abort);
void tcp_socks_start(struct ctx *c, struct flow *f);
void tcp_socks_event(struct ctx *c, struct flow *f, uint32_t events);

#endif
