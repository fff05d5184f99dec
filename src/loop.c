// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * loop.c - The handler's event loop
 *
 * Theory of operation: one epoll instance; each registered fd carries a
 * union epoll_ref naming what it is (and, for flows, which flow), and
 * loop_run() dispatches on the type in a single switch. Signals arrive on a
 * signalfd: SIGCHLD ends the loop once the command (or the PID namespace's
 * reaper) has exited, and SIGINT/SIGTERM/SIGHUP/SIGQUIT are forwarded to it.
 *
 * Until the TCP translation engine exists, packets read from the tun are
 * counted and dropped; reads are bounded per wake-up so no source can starve
 * the others.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pmsocks-ns/log.h"
#include "pmsocks-ns/loop.h"
#include "pmsocks-ns/netns.h"
#include "pmsocks-ns/util.h"

#define LOOP_MAX_EVENTS	   64
#define LOOP_TUN_BATCH	   64 /* packets read per wake-up */
#define LOOP_TUN_FRAME_MAX 65536

/**
 * loop_add() - Watch an fd
 * @l:      loop
 * @fd:     descriptor
 * @events: EPOLLIN, EPOLLOUT, ...
 * @ref:    what the fd is; handed back with each event
 *
 * Return: 0, or -errno
 */
int loop_add(struct loop *l, int fd, uint32_t events, union epoll_ref ref)
{
	struct epoll_event ev = {.events = events, .data.u64 = ref.u64};

	if (epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	return 0;
}

/**
 * loop_init() - Create the epoll instance and watch the tun and signals
 * @l:      loop to initialise
 * @tun_fd: host side of the sandbox's tun device
 * @child:  the process whose exit ends the loop
 *
 * The signals must already be blocked (netns_signals_block()).
 *
 * Return: 0, or -errno
 */
int loop_init(struct loop *l, int tun_fd, pid_t child)
{
	static const int forward[] = NETNS_FORWARD_SIGNALS;
	union epoll_ref ref = {.u64 = 0};
	sigset_t set;
	size_t i;
	int ret;

	memset(l, 0, sizeof(*l));
	l->tun_fd = tun_fd;
	l->child = child;
	l->signal_fd = -1;
	l->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epoll_fd < 0)
		return -errno;
	sigemptyset(&set);
	for (i = 0; i < ARRAY_SIZE(forward); i++)
		sigaddset(&set, forward[i]);
	sigaddset(&set, SIGCHLD);
	l->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (l->signal_fd < 0)
		return -errno;
	ref.type = EPOLL_TYPE_SIGNAL;
	ref.fd = l->signal_fd;
	ret = loop_add(l, l->signal_fd, EPOLLIN, ref);
	if (ret)
		return ret;
	ref.type = EPOLL_TYPE_TUN;
	ref.fd = tun_fd;
	return loop_add(l, tun_fd, EPOLLIN, ref);
}

static void loop_tun_input(struct loop *l)
{
	static uint8_t frame[LOOP_TUN_FRAME_MAX];
	int i;

	for (i = 0; i < LOOP_TUN_BATCH; i++) {
		ssize_t n = read(l->tun_fd, frame, sizeof(frame));

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_debug("tun read: %s", strerror(errno));
			return;
		}
		l->stats.tun_packets_dropped++;
	}
}

static void loop_signal(struct loop *l)
{
	struct signalfd_siginfo si;
	int status;
	pid_t pid;

	while (read(l->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo != SIGCHLD) {
			if (netns_should_forward((int)si.ssi_signo, si.ssi_code)) {
				log_debug("forwarding signal %u to pid %d", si.ssi_signo,
					  (int)l->child);
				kill(l->child, (int)si.ssi_signo);
			}
			continue;
		}
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			if (pid != l->child)
				continue;
			l->child_done = true;
			l->exit_status = netns_exit_status(status);
		}
	}
}

/**
 * loop_run() - Handle events until the command exits
 * @l: loop
 *
 * Return: the exit status for pmsocks-ns: the command's, or 128 + signal
 */
int loop_run(struct loop *l)
{
	struct epoll_event events[LOOP_MAX_EVENTS];
	int i, n;

	while (!l->child_done) {
		n = epoll_wait(l->epoll_fd, events, LOOP_MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait: %s", strerror(errno));
			kill(l->child, SIGKILL);
			return EXIT_SETUP;
		}
		for (i = 0; i < n; i++) {
			union epoll_ref ref = {.u64 = events[i].data.u64};

			switch ((enum epoll_type)ref.type) {
			case EPOLL_TYPE_TUN:
				loop_tun_input(l);
				break;
			case EPOLL_TYPE_SIGNAL:
				loop_signal(l);
				break;
			case EPOLL_TYPE_NONE:
			case EPOLL_TYPE_MAX:
				ASSERT(!"epoll event of unknown type");
			}
		}
	}
	log_debug("command exited with status %d; %llu tun packets dropped", l->exit_status,
		  (unsigned long long)l->stats.tun_packets_dropped);
	return l->exit_status;
}
