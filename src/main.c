// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * main.c - pmsocks-ns: run a command whose only way out is a policy handler
 *
 * Theory of operation: parse options and environment (exit 2 on error before
 * anything is created), create the sandbox and start the command (netns.c),
 * then run the handler's event loop (loop.c) until the command exits, and exit
 * with its status. See DESIGN.md and pmsocks-ns(1).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "pmsocks-ns/log.h"
#include "pmsocks-ns/loop.h"
#include "pmsocks-ns/netns.h"
#include "pmsocks-ns/nl.h"
#include "pmsocks-ns/opts.h"
#include "pmsocks-ns/rules.h"
#include "pmsocks-ns/tcp.h"
#include "pmsocks-ns/util.h"

#ifndef PMSOCKS_NS_VERSION
#define PMSOCKS_NS_VERSION "0.0"
#endif

/* Each flow holds one socket: let the handler have as many fds as it may. */
static void main_raise_nofile(unsigned int max_flows)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < (rlim_t)max_flows + 64)
		log_info("the fd limit (%llu) allows fewer connections than --max-flows %u",
			 (unsigned long long)rl.rlim_cur, max_flows);
}

static void main_stats(const struct ctx *c)
{
	const struct ctx_stats *s = &c->stats;
	uint64_t malformed = 0;
	int i;

	for (i = 0; i < PACKET_DROP_MAX; i++)
		malformed += s->drops[i];
	log_debug("stats: tun %llu in, %llu out; flows %llu opened, %llu denied, %llu refused, "
		  "%llu unreachable, %llu timed out, %llu reset, %llu table full; "
		  "%llu retransmits, %llu fast; %llu partial writes; %llu malformed, %llu not TCP",
		  (unsigned long long)s->tun_packets_in, (unsigned long long)s->tun_packets_out,
		  (unsigned long long)s->flows_opened, (unsigned long long)s->flows_denied,
		  (unsigned long long)s->flows_refused, (unsigned long long)s->flows_unreachable,
		  (unsigned long long)s->flows_timed_out, (unsigned long long)s->flows_reset,
		  (unsigned long long)s->flows_table_full, (unsigned long long)s->retransmits,
		  (unsigned long long)s->fast_retransmits, (unsigned long long)s->partial_writes,
		  (unsigned long long)malformed, (unsigned long long)s->not_tcp);
}

int main(int argc, char **argv)
{
	static struct ctx c;
	struct netns_sandbox sb;
	char err[512];
	struct opts o;
	sigset_t old_mask;
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

	c.mtu = o.mtu;
	c.connect_timeout_ms = o.connect_timeout_ms;
	inet_pton(AF_INET, NL_GATEWAY4, &c.gateway4.v4);
	inet_pton(AF_INET6, NL_GATEWAY6, &c.gateway6.v6);
	ret = flow_table_init(&c.flows, o.max_flows);
	if (ret)
		die(EXIT_SETUP, "cannot allocate %u flows: %s", o.max_flows, strerror(-ret));
	main_raise_nofile(o.max_flows);
	if (tcp_init(&c))
		die(EXIT_SETUP, "cannot create a TCP socket: %s", strerror(errno));
	if (rules_init_host_addrs())
		log_warn("cannot list this host's addresses: %s", strerror(errno));

	netns_signals_block(&old_mask);
	netns_spawn(&o, &old_mask, &sb);
	/* The kept fds belong to the command now; EOF on them follows the command alone. */
	for (i = 0; i < o.n_keep_fds; i++)
		close(o.keep_fds[i]);
	signal(SIGPIPE, SIG_IGN);

	ret = loop_init(&c, sb.tun_fd, sb.pid);
	if (ret) {
		kill(sb.pid, SIGKILL);
		die(EXIT_SETUP, "cannot start the event loop: %s", strerror(-ret));
	}
	ret = loop_run(&c);
	main_stats(&c);
	return ret;
}
