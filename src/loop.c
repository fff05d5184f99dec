// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * loop.c - The handler's event loop
 *
 * Theory of operation: one epoll instance; each registered fd carries a
 * union epoll_ref naming what it is (and, for flows, which flow), and
 * loop_poll() dispatches a batch of events in a single switch on the type.
 * After each batch the ACKs owed to the sandbox go out and the flows closed
 * during the batch are freed, so a stale event in the same batch can only
 * meet a closed flow, never a reused one.
 *
 * Signals arrive on a signalfd: SIGCHLD ends the loop once the command (or
 * the PID namespace's reaper) has exited, and SIGINT/SIGTERM/SIGHUP/SIGQUIT
 * are forwarded to it. All flow deadlines share one timerfd, armed for the
 * earliest of them.
 *
 * Busy polling: a connection is a chain of short exchanges (SYN, request,
 * reply, FINs), and each one that finds the handler asleep pays for a
 * wake-up, which costs more than the work it wakes up for (tens of
 * microseconds on virtual machines). So after a batch with events the loop
 * keeps polling for --busy-poll microseconds before it sleeps, yielding the
 * CPU to anything else runnable between polls. An idle handler never spins.
 * An ACK may wait for a reply to ride on meanwhile (tcp_queue_ack_later()):
 * until busy_poll_us have passed and the next batch with events has been
 * handled (tcp_flush_acks_overdue()), and never while asleep.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sched.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pmsocks-ns/log.h"
#include "pmsocks-ns/loop.h"
#include "pmsocks-ns/netns.h"
#include "pmsocks-ns/tcp.h"
#include "pmsocks-ns/tun.h"
#include "pmsocks-ns/util.h"

#define LOOP_MAX_EVENTS	   128
#define LOOP_DRAIN_POLL_MS 100
#define LOOP_DRAIN_IDLE_MS 3000 /* after the command exits: stop once idle this long */

/* CLOCK_MONOTONIC in microseconds */
static uint64_t loop_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/**
 * ctx_now_ms() - Monotonic time
 *
 * Return: CLOCK_MONOTONIC in milliseconds
 */
uint64_t ctx_now_ms(void)
{
	return loop_now_us() / 1000;
}

/* Read the clock for a batch of events */
static void loop_clock(struct ctx *c)
{
	c->now_us = loop_now_us();
	c->now_ms = c->now_us / 1000;
}

/**
 * loop_add() - Watch an fd
 * @c:      handler context
 * @fd:     descriptor
 * @events: EPOLLIN, EPOLLOUT, ...
 * @ref:    what the fd is; handed back with each event
 *
 * Return: 0, or -errno
 */
int loop_add(struct ctx *c, int fd, uint32_t events, union epoll_ref ref)
{
	struct epoll_event ev = {.events = events, .data.u64 = ref.u64};

	if (epoll_ctl(c->epoll_fd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	return 0;
}

/**
 * loop_timer_arm() - Make sure the timer fires no later than a deadline
 * @c:           handler context
 * @deadline_ms: CLOCK_MONOTONIC milliseconds
 */
void loop_timer_arm(struct ctx *c, uint64_t deadline_ms)
{
	struct itimerspec its = {0};

	if (c->timer_armed_ms && c->timer_armed_ms <= deadline_ms)
		return;
	its.it_value.tv_sec = (time_t)(deadline_ms / 1000);
	its.it_value.tv_nsec = (long)(deadline_ms % 1000) * 1000000;
	if (timerfd_settime(c->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		c->timer_armed_ms = deadline_ms;
}

/**
 * loop_init() - Create the epoll instance and watch the tun, signals and timer
 * @c:      handler context (flow table and settings already filled in)
 * @tun_fd: host side of the sandbox's tun device, or -1 (tests)
 * @child:  the process whose exit ends the loop, or 0 (tests)
 *
 * The signals must already be blocked (netns_signals_block()).
 *
 * Return: 0, or -errno
 */
int loop_init(struct ctx *c, int tun_fd, pid_t child)
{
	static const int forward[] = NETNS_FORWARD_SIGNALS;
	union epoll_ref ref = {.u64 = 0};
	sigset_t set;
	size_t i;
	int ret;

	c->tun_fd = tun_fd;
	c->vnet_hdr = tun_fd >= 0; /* tun_open() always asks for it */
	c->child = child;
	c->signal_fd = -1;
	c->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (c->epoll_fd < 0)
		return -errno;
	c->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (c->timer_fd < 0)
		return -errno;
	ref.type = EPOLL_TYPE_TIMER;
	ref.fd = c->timer_fd;
	ret = loop_add(c, c->timer_fd, EPOLLIN, ref);
	if (ret)
		return ret;
	if (child > 0) {
		sigemptyset(&set);
		for (i = 0; i < ARRAY_SIZE(forward); i++)
			sigaddset(&set, forward[i]);
		sigaddset(&set, SIGCHLD);
		c->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
		if (c->signal_fd < 0)
			return -errno;
		ref.type = EPOLL_TYPE_SIGNAL;
		ref.fd = c->signal_fd;
		ret = loop_add(c, c->signal_fd, EPOLLIN, ref);
		if (ret)
			return ret;
	}
	if (tun_fd >= 0) {
		ref.type = EPOLL_TYPE_TUN;
		ref.fd = tun_fd;
		ret = loop_add(c, tun_fd, EPOLLIN, ref);
		if (ret)
			return ret;
	}
	loop_clock(c);
	return 0;
}

static void loop_signal(struct ctx *c)
{
	struct signalfd_siginfo si;
	int status;
	pid_t pid;

	while (read(c->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP && c->reload)
			c->reload(c);
		if (si.ssi_signo != SIGCHLD) {
			if (netns_should_forward((int)si.ssi_signo, si.ssi_code)) {
				log_debug("forwarding signal %u to pid %d", si.ssi_signo,
					  (int)c->child);
				kill(c->child, (int)si.ssi_signo);
			}
			continue;
		}
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			if (pid != c->child)
				continue;
			c->child_done = true;
			c->exit_status = netns_exit_status(status);
		}
	}
}

static void loop_timer(struct ctx *c)
{
	uint64_t expirations;

	if (read(c->timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		log_debug("timerfd: %s", strerror(errno));
	c->timer_armed_ms = 0;
	tcp_timer(c);
}

/**
 * loop_poll() - Wait for and handle one batch of events
 * @c:          handler context
 * @timeout_ms: longest wait, -1 for none
 *
 * Return: number of events handled, or -errno from epoll_wait()
 */
int loop_poll(struct ctx *c, int timeout_ms)
{
	struct epoll_event events[LOOP_MAX_EVENTS];
	int i, n;

	if (timeout_ms)
		tcp_flush_acks_later(c); /* nothing to ride on while asleep */
	n = epoll_wait(c->epoll_fd, events, LOOP_MAX_EVENTS, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	loop_clock(c);
	if (n)
		c->batch++;
	for (i = 0; i < n; i++) {
		union epoll_ref ref = {.u64 = events[i].data.u64};

		switch ((enum epoll_type)ref.type) {
		case EPOLL_TYPE_TUN:
			tun_input(c);
			break;
		case EPOLL_TYPE_SIGNAL:
			loop_signal(c);
			break;
		case EPOLL_TYPE_TIMER:
			loop_timer(c);
			break;
		case EPOLL_TYPE_TCP:
			tcp_sock_event(c, ref.flow, events[i].events);
			break;
		case EPOLL_TYPE_NONE:
		case EPOLL_TYPE_MAX:
			ASSERT(!"epoll event of unknown type");
		}
	}
	tcp_flush_acks(c);
	flow_reap(&c->flows);
	return n;
}

/*
 * loop_busy_poll() - After a batch with events, poll until c->busy_poll_us
 * pass without any. Return: as loop_poll(), the last batch's
 */
static int loop_busy_poll(struct ctx *c)
{
	uint64_t last = loop_now_us(), now;
	int ret;

	for (;;) {
		ret = loop_poll(c, 0);
		now = loop_now_us();
		tcp_flush_acks_overdue(c, now);
		if (ret < 0 || c->child_done)
			return ret;
		if (ret > 0)
			last = now;
		else if (now - last >= c->busy_poll_us)
			return 0;
		else
			sched_yield();
	}
}

/**
 * loop_run() - Handle events until the command exits and its connections drain
 * @c: handler context
 *
 * A command that exits right after writing leaves data in its sockets, which
 * the sandbox's kernel still sends (the orphaned sockets keep the network
 * namespace alive). So after the exit the loop goes on while connections
 * make progress, and stops once none is left or LOOP_DRAIN_IDLE_MS pass
 * without any event; what is left then is reset.
 *
 * Return: the exit status for pmsocks-ns: the command's, or 128 + signal
 */
int loop_run(struct ctx *c)
{
	uint64_t idle_since = 0;

	while (!c->child_done || c->flows.active) {
		int ret;

		if (c->child_done)
			tcp_close_timed_out(c);
		if (c->child_done && !c->flows.active)
			break;
		ret = loop_poll(c, c->child_done ? LOOP_DRAIN_POLL_MS : -1);
		if (ret > 0 && c->busy_poll_us && !c->child_done) {
			int spun = loop_busy_poll(c);

			if (spun < 0)
				ret = spun;
		}
		if (ret < 0) {
			log_err("epoll_wait: %s", strerror(-ret));
			if (!c->child_done)
				kill(c->child, SIGKILL);
			return EXIT_SETUP;
		}
		if (!c->child_done)
			continue;
		if (ret > 0 || !idle_since)
			idle_since = ctx_now_ms();
		else if (ctx_now_ms() - idle_since >= LOOP_DRAIN_IDLE_MS)
			break;
	}
	if (c->flows.active)
		log_info("command exited; resetting %u idle connections", c->flows.active);
	log_debug("command exited with status %d", c->exit_status);
	tcp_close_all(c);
	return c->exit_status;
}
