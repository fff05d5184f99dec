/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PMSOCKS_NS_OPTS_H
#define PMSOCKS_NS_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "pmsocks-ns/log.h"

#define OPTS_MAX_KEEP_FDS 64
#define OPTS_MTU_DEFAULT  65520
#define OPTS_MTU_MIN	  1280 /* IPv6 minimum link MTU */
#define OPTS_MTU_MAX	  65535

/* What the seccomp filter does with UDP sockets of the command. */
enum udp_mode {
	UDP_BLOCK, /* socket(AF_INET{,6}, SOCK_DGRAM) fails with EPERM */
	UDP_DNS,   /* UDP sockets allowed; only the DNS stub answers them */
};

#define OPTS_MAX_FLOWS_DEFAULT	     65536
#define OPTS_MAX_FLOWS_LIMIT	     (1U << 22)
#define OPTS_BUSY_POLL_DEFAULT_US    50
#define OPTS_BUSY_POLL_MAX_US	     1000000
#define OPTS_CONNECT_TIMEOUT_DEFAULT 5000 /* ms */
#define OPTS_CONNECT_TIMEOUT_MAX     (3600 * 1000)

struct opts {
	unsigned int mtu;
	unsigned int max_flows;
	unsigned int busy_poll_us; /* poll this long after events before sleeping */
	unsigned int connect_timeout_ms;
	bool new_pid;
	bool seccomp;
	enum udp_mode udp;
	int keep_fds[OPTS_MAX_KEEP_FDS];
	size_t n_keep_fds;
	enum log_level log_level;
	char **command; /* NULL-terminated argv of the command; NULL with --check */

	/* Policy */
	const char *config;	 /* rule file: -c, PMSOCKS_NS_CONF, or OPTS_CONFIG_DEFAULT */
	const char *tsocks_conf; /* --tsocks-conf: read a tsocks.conf instead */
	bool check;		 /* --check: print the effective rules and exit */
	bool allow_rule_commands;
	const char *socks_server; /* --socks-server, SOCKS_SERVER: host[:port] */
	unsigned int socks_port;  /* SOCKS_PORT, default 1080 */
	const char *socks_user;	  /* --socks-user, SOCKS_USERNAME */
	const char *socks_pass;	  /* SOCKS_PASSWORD */
	bool banner;		  /* SOCKS_BANNER */
};

#define OPTS_CONFIG_DEFAULT "/etc/pmsocks-ns.conf"

/* opts_parse() results besides 0 (run) and -EINVAL (usage error). */
#define OPTS_HELP    1
#define OPTS_VERSION 2

int opts_parse(struct opts *o, int argc, char **argv, char *err, size_t errlen);
void opts_usage(FILE *out);

#endif
