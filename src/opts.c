// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * opts.c - Command line and environment
 *
 * Theory of operation: opts_parse() turns argv and the environment into a
 * struct opts and never exits, so the unit tests can drive it. Parsing stops at
 * the first non-option word (or "--"): everything from there on is the command
 * and its own options. Command-line flags override the environment. Errors come
 * back as text naming the option and what was expected; main() prints them with
 * a usage hint and exits 2 before anything is created.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pmsocks-ns/opts.h"
#include "pmsocks-ns/util.h"

enum {
	OPT_MTU = 256,
	OPT_KEEP_FD,
	OPT_PID,
	OPT_UDP,
	OPT_NO_SECCOMP,
	OPT_VERSION,
	OPT_MAX_FLOWS,
	OPT_CONNECT_TIMEOUT,
	OPT_CHECK,
	OPT_ALLOW_RULE_COMMANDS,
	OPT_TSOCKS_CONF,
	OPT_SOCKS_SERVER,
	OPT_SOCKS_USER,
	OPT_BUSY_POLL,
};

static const struct option opts_long[] = {
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, OPT_VERSION},
	{"verbose", no_argument, NULL, 'v'},
	{"mtu", required_argument, NULL, OPT_MTU},
	{"keep-fd", required_argument, NULL, OPT_KEEP_FD},
	{"pid", no_argument, NULL, OPT_PID},
	{"udp", required_argument, NULL, OPT_UDP},
	{"no-seccomp", no_argument, NULL, OPT_NO_SECCOMP},
	{"max-flows", required_argument, NULL, OPT_MAX_FLOWS},
	{"busy-poll", required_argument, NULL, OPT_BUSY_POLL},
	{"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
	{"config", required_argument, NULL, 'c'},
	{"check", no_argument, NULL, OPT_CHECK},
	{"allow-rule-commands", no_argument, NULL, OPT_ALLOW_RULE_COMMANDS},
	{"tsocks-conf", required_argument, NULL, OPT_TSOCKS_CONF},
	{"socks-server", required_argument, NULL, OPT_SOCKS_SERVER},
	{"socks-user", required_argument, NULL, OPT_SOCKS_USER},
	{NULL, 0, NULL, 0},
};

/**
 * opts_usage() - Print the short usage text
 * @out: stream to print to
 */
void opts_usage(FILE *out)
{
	fputs("Usage: pmsocks-ns [options] [--] command [args...]\n"
	      "Run command in its own user and network namespace whose only way out\n"
	      "is a tun device served by pmsocks-ns.\n"
	      "\n"
	      "  -h, --help          show this help and exit\n"
	      "      --version       show the version and exit\n"
	      "  -v, --verbose       log more (repeat for debug output; also SOCKS_DEBUG)\n"
	      "  -c, --config FILE   rule file (default PMSOCKS_NS_CONF, else "
	      "/etc/pmsocks-ns.conf)\n"
	      "      --tsocks-conf FILE  read the rules from a tsocks.conf(5) file instead\n"
	      "      --check         print the effective rules and exit\n"
	      "      --allow-rule-commands  run the ': command' of matching rules\n"
	      "      --socks-server HOST[:PORT]  default SOCKS server (also SOCKS_SERVER)\n"
	      "      --socks-user USER   SOCKS5 user name (also SOCKS_USERNAME; the\n"
	      "                      password comes from SOCKS_PASSWORD)\n"
	      "      --mtu N         MTU of tun0 in the sandbox (1280..65535, default 65520)\n"
	      "      --keep-fd N     leave fd N open for the command (repeatable)\n"
	      "      --pid           also create a PID namespace: nothing outlives the command\n"
	      "      --udp=MODE      block (default): UDP sockets fail with EPERM;\n"
	      "                      dns: UDP sockets allowed (only DNS is answered)\n"
	      "      --no-seccomp    debugging only: no syscall filter on the command\n"
	      "      --connect-timeout SECONDS\n"
	      "                      give up connecting upstream after this long (default 5,\n"
	      "                      fractions allowed; also PMCD_CONNECT_TIMEOUT)\n"
	      "      --max-flows N   most connections at once (default 65536)\n"
	      "      --busy-poll USEC\n"
	      "                      after traffic, poll this long before sleeping\n"
	      "                      (default 50, 0 for never)\n"
	      "\n"
	      "See pmsocks-ns(1).\n",
	      out);
}

static int opts_add_keep_fd(struct opts *o, const char *arg, char *err, size_t errlen)
{
	unsigned long fd;
	size_t i;

	if (util_parse_uint(arg, 3, 1UL << 30, &fd)) {
		snprintf(err, errlen, "--keep-fd: '%s' is not a file descriptor number >= 3", arg);
		return -EINVAL;
	}
	if (fcntl((int)fd, F_GETFD) < 0) {
		snprintf(err, errlen, "--keep-fd: fd %lu is not open", fd);
		return -EINVAL;
	}
	for (i = 0; i < o->n_keep_fds; i++)
		if (o->keep_fds[i] == (int)fd)
			return 0;
	if (o->n_keep_fds == OPTS_MAX_KEEP_FDS) {
		snprintf(err, errlen, "--keep-fd: at most %d descriptors can be kept",
			 OPTS_MAX_KEEP_FDS);
		return -EINVAL;
	}
	o->keep_fds[o->n_keep_fds++] = (int)fd;
	return 0;
}

/* Seconds with an optional fraction, > 0, to milliseconds (rounded up). */
static int opts_parse_seconds(const char *s, unsigned int *ms)
{
	double v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || (*s != '.' && (*s < '0' || *s > '9')))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (*end || errno || v != v)
		return -EINVAL;
	if (v <= 0 || v * 1000 > OPTS_CONNECT_TIMEOUT_MAX)
		return -ERANGE;
	*ms = (unsigned int)(v * 1000 + 0.999);
	return 0;
}

static void opts_defaults(struct opts *o)
{
	const char *debug = getenv("SOCKS_DEBUG");

	memset(o, 0, sizeof(*o));
	o->mtu = OPTS_MTU_DEFAULT;
	o->max_flows = OPTS_MAX_FLOWS_DEFAULT;
	o->busy_poll_us = OPTS_BUSY_POLL_DEFAULT_US;
	o->connect_timeout_ms = OPTS_CONNECT_TIMEOUT_DEFAULT;
	o->config = getenv("PMSOCKS_NS_CONF");
	if (!o->config || !*o->config)
		o->config = NULL;
	o->socks_server = getenv("SOCKS_SERVER");
	if (o->socks_server && !*o->socks_server)
		o->socks_server = NULL;
	o->socks_user = getenv("SOCKS_USERNAME");
	o->socks_pass = getenv("SOCKS_PASSWORD");
	o->banner = getenv("SOCKS_BANNER") != NULL;
	o->socks_port = 1080;
	o->seccomp = true;
	o->udp = UDP_BLOCK;
	o->log_level = (debug && *debug) ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN;
}

/**
 * opts_parse() - Parse the command line and environment
 * @o:      filled with the result
 * @argc:   argument count
 * @argv:   arguments, argv[0] being the program name
 * @err:    receives the error message on -EINVAL
 * @errlen: size of @err
 *
 * Return: 0 to run the command, OPTS_HELP or OPTS_VERSION, or -EINVAL
 */
int opts_parse(struct opts *o, int argc, char **argv, char *err, size_t errlen)
{
	const char *env_timeout = getenv("PMCD_CONNECT_TIMEOUT");
	const char *env_port = getenv("SOCKS_PORT"), *config_flag = NULL;
	unsigned long mtu, flows, port, usec;
	int verbose = 0;
	int c;

	opts_defaults(o);
	err[0] = '\0';
	if (env_timeout && *env_timeout &&
	    opts_parse_seconds(env_timeout, &o->connect_timeout_ms)) {
		snprintf(err, errlen,
			 "PMCD_CONNECT_TIMEOUT: '%s' is not a number of seconds above 0 and up "
			 "to 3600",
			 env_timeout);
		return -EINVAL;
	}
	optind = 0; /* full reinitialisation, so the parser can run more than once */
	opterr = 0;
	if (env_port && *env_port) {
		if (util_parse_uint(env_port, 1, 65535, &port)) {
			snprintf(err, errlen, "SOCKS_PORT: '%s' is not a port number (1-65535)",
				 env_port);
			return -EINVAL;
		}
		o->socks_port = (unsigned int)port;
	}
	while ((c = getopt_long(argc, argv, "+:hvc:", opts_long, NULL)) != -1) {
		switch (c) {
		case 'h':
			return OPTS_HELP;
		case OPT_VERSION:
			return OPTS_VERSION;
		case 'v':
			verbose++;
			break;
		case OPT_MTU:
			if (util_parse_uint(optarg, OPTS_MTU_MIN, OPTS_MTU_MAX, &mtu)) {
				snprintf(err, errlen, "--mtu: '%s' is not a number from %d to %d",
					 optarg, OPTS_MTU_MIN, OPTS_MTU_MAX);
				return -EINVAL;
			}
			o->mtu = (unsigned int)mtu;
			break;
		case OPT_KEEP_FD:
			if (opts_add_keep_fd(o, optarg, err, errlen))
				return -EINVAL;
			break;
		case OPT_PID:
			o->new_pid = true;
			break;
		case OPT_UDP:
			if (!strcmp(optarg, "block")) {
				o->udp = UDP_BLOCK;
			} else if (!strcmp(optarg, "dns")) {
				o->udp = UDP_DNS;
			} else {
				snprintf(err, errlen,
					 "--udp: unknown mode '%s' (expected block or dns)",
					 optarg);
				return -EINVAL;
			}
			break;
		case OPT_NO_SECCOMP:
			o->seccomp = false;
			break;
		case OPT_MAX_FLOWS:
			if (util_parse_uint(optarg, 1, OPTS_MAX_FLOWS_LIMIT, &flows)) {
				snprintf(err, errlen,
					 "--max-flows: '%s' is not a number from 1 to %u", optarg,
					 OPTS_MAX_FLOWS_LIMIT);
				return -EINVAL;
			}
			o->max_flows = (unsigned int)flows;
			break;
		case OPT_BUSY_POLL:
			if (util_parse_uint(optarg, 0, OPTS_BUSY_POLL_MAX_US, &usec)) {
				snprintf(err, errlen,
					 "--busy-poll: '%s' is not a number of microseconds from 0 "
					 "to %u",
					 optarg, OPTS_BUSY_POLL_MAX_US);
				return -EINVAL;
			}
			o->busy_poll_us = (unsigned int)usec;
			break;
		case 'c':
			config_flag = optarg;
			break;
		case OPT_TSOCKS_CONF:
			o->tsocks_conf = optarg;
			break;
		case OPT_CHECK:
			o->check = true;
			break;
		case OPT_ALLOW_RULE_COMMANDS:
			o->allow_rule_commands = true;
			break;
		case OPT_SOCKS_SERVER:
			o->socks_server = optarg;
			break;
		case OPT_SOCKS_USER:
			o->socks_user = optarg;
			break;
		case OPT_CONNECT_TIMEOUT:
			if (opts_parse_seconds(optarg, &o->connect_timeout_ms)) {
				snprintf(err, errlen,
					 "--connect-timeout: '%s' is not a number of seconds above "
					 "0 "
					 "and up to 3600",
					 optarg);
				return -EINVAL;
			}
			break;
		case ':':
			snprintf(err, errlen, "option '%s' needs an argument", argv[optind - 1]);
			return -EINVAL;
		case '?':
		default:
			if (optopt)
				snprintf(err, errlen, "unknown option '-%c'", optopt);
			else
				snprintf(err, errlen, "unknown option '%s'", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (verbose == 1 && o->log_level < LOG_LEVEL_INFO)
		o->log_level = LOG_LEVEL_INFO;
	else if (verbose >= 2)
		o->log_level = LOG_LEVEL_DEBUG;
	if (o->tsocks_conf && config_flag) {
		snprintf(err, errlen, "-c and --tsocks-conf exclude each other");
		return -EINVAL;
	}
	if (config_flag)
		o->config = config_flag;
	if (o->tsocks_conf)
		o->config = NULL;
	else if (!o->config)
		o->config = OPTS_CONFIG_DEFAULT;
	if (o->socks_user && !*o->socks_user)
		o->socks_user = NULL;
	if (o->socks_user && (!o->socks_pass || !*o->socks_pass)) {
		snprintf(
			err, errlen,
			"a SOCKS user name is set but SOCKS_PASSWORD is not (RFC 1929 needs both)");
		return -EINVAL;
	}
	if (o->check) {
		if (optind < argc) {
			snprintf(err, errlen, "--check takes no command");
			return -EINVAL;
		}
		return 0;
	}
	if (optind >= argc) {
		snprintf(err, errlen, "no command given");
		return -EINVAL;
	}
	o->command = &argv[optind];
	return 0;
}
