/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PMSOCKS_NS_LOOP_H
#define PMSOCKS_NS_LOOP_H

#include <assert.h>
#include <stdint.h>
#include <sys/types.h>

#include "pmsocks-ns/ctx.h"

/* What an epoll event is about; the loop dispatches on it. */
enum epoll_type {
	EPOLL_TYPE_NONE = 0,
	EPOLL_TYPE_TUN,	   /* the tun device: packets from the sandbox */
	EPOLL_TYPE_SIGNAL, /* signalfd: SIGCHLD and signals to forward */
	EPOLL_TYPE_TIMER,  /* the timerfd of all flow deadlines */
	EPOLL_TYPE_TCP,	   /* a flow's host socket */
	EPOLL_TYPE_MAX,
};

/* The epoll data word: type, plus fd and flow index for per-flow events. */
union epoll_ref {
	struct {
		uint32_t type : 8;
		uint32_t flow : 24;
		int32_t fd;
	};
	uint64_t u64;
};
static_assert(sizeof(union epoll_ref) <= sizeof(uint64_t), "epoll_ref fits the epoll data word");

int loop_init(struct ctx *c, int tun_fd, pid_t child);
int loop_add(struct ctx *c, int fd, uint32_t events, union epoll_ref ref);
void loop_timer_arm(struct ctx *c, uint64_t deadline_ms);
int loop_poll(struct ctx *c, int timeout_ms);
int loop_run(struct ctx *c);

#endif
