// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * main.c - pmsocks-ns: run a command whose only way out is a policy handler
 *
 * Theory of operation: parse options and environment (exit 2 on error before
 * anything is created), create the sandbox and start the command (netns.c),
 * then run the handler's event loop (loop.c) until the command exits, and exit
 * with its status. See DESIGN.md and pmsocks-ns(1).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pmsocks-ns/log.h"
#include "pmsocks-ns/loop.h"
#include "pmsocks-ns/netns.h"
#include "pmsocks-ns/opts.h"
#include "pmsocks-ns/util.h"

#ifndef PMSOCKS_NS_VERSION
#define PMSOCKS_NS_VERSION "0.0"
#endif

int main(int argc, char **argv)
{
	struct netns_sandbox sb;
	char err[512];
	struct opts o;
	sigset_t old_mask;
	struct loop l;
	size_t i;
	int ret;

	log_init("pmsocks-ns", LOG_LEVEL_WARN);
	ret = opts_parse(&o, argc, argv, err, sizeof(err));
	switch (ret) {
	case 0:
		break;
	case OPTS_HELP:
		opts_usage(stdout);
		return 0;
	case OPTS_VERSION:
		printf("pmsocks-ns %s\n", PMSOCKS_NS_VERSION);
		return 0;
	default:
		log_err("%s", err);
		fputs("Try 'pmsocks-ns --help' for more information.\n", stderr);
		return EXIT_USAGE;
	}
	log_set_level(o.log_level);
	if (!o.seccomp)
		log_warn("--no-seccomp: UDP and raw sockets of the command are not blocked; "
			 "for debugging only");

	netns_signals_block(&old_mask);
	netns_spawn(&o, &old_mask, &sb);
	/* The kept fds belong to the command now; EOF on them follows the command alone. */
	for (i = 0; i < o.n_keep_fds; i++)
		close(o.keep_fds[i]);
	signal(SIGPIPE, SIG_IGN);

	ret = loop_init(&l, sb.tun_fd, sb.pid);
	if (ret) {
		kill(sb.pid, SIGKILL);
		die(EXIT_SETUP, "cannot start the event loop: %s", strerror(-ret));
	}
	return loop_run(&l);
}
