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
#include <fcntl.h>
#include <netdb.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pmsocks-ns/log.h"
#include "pmsocks-ns/loop.h"
#include "pmsocks-ns/netns.h"
#include "pmsocks-ns/nl.h"
#include "pmsocks-ns/opts.h"
#include "pmsocks-ns/rules.h"
#include "pmsocks-ns/socks.h"
#include "pmsocks-ns/tcp.h"
#include "pmsocks-ns/util.h"

#ifndef PMSOCKS_NS_VERSION
#define PMSOCKS_NS_VERSION "0.0"
#endif

static struct opts main_opts;
static struct rule_server main_socks_default;

/* A whole small file (a tsocks.conf): malloc'd, NUL-terminated. */
static char *main_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		goto fail;
	if (st.st_size > RULES_MAX_FILE) {
		errno = EFBIG;
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		goto fail;
	n = read(fd, buf, (size_t)st.st_size);
	if (n < 0)
		goto fail;
	buf[n] = '\0';
	*len = (size_t)n;
	close(fd);
	return buf;
fail:
	snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
	free(buf);
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* Resolve a SOCKS server name or address (setup and reloads only: it may block). */
static int main_resolve(const char *host, uint16_t port, struct sockaddr_storage *ss,
			socklen_t *len)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	char service[8];
	int ret;

	snprintf(service, sizeof(service), "%u", port);
	ret = getaddrinfo(host, service, &hints, &ai);
	if (ret)
		return ret == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/*
 * Read and check the policy: the rule file (or tsocks.conf), its SOCKS
 * servers resolved, and a default server wherever a sockd rule needs one.
 * Returns NULL with a message in @err.
 */
static struct rules *main_load_rules(const struct opts *o, char *err, size_t errlen)
{
	struct rules_parse_opts po = {.allow_commands = o->allow_rule_commands};
	struct rules *r = calloc(1, sizeof(*r));
	size_t i, len;
	char *text;
	int ret;

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (o->tsocks_conf) {
		text = main_read_file(o->tsocks_conf, &len, err, errlen);
		ret = text ? rules_parse_tsocks(r, text, len, o->tsocks_conf, err, errlen) : -EIO;
		free(text);
	} else {
		ret = rules_load(r, o->config, &po, err, errlen);
	}
	if (!ret)
		ret = rules_resolve_servers(r, main_resolve, (uint16_t)o->socks_port, err, errlen);
	for (i = 0; !ret && i < r->n; i++) {
		if (r->rule[i].action == RULE_SOCKD && !r->rule[i].n_servers &&
		    !main_socks_default.addrlen) {
			snprintf(err, errlen,
				 "%s:%u: sockd without @= needs a default SOCKS server: set "
				 "SOCKS_SERVER or --socks-server",
				 r->file, r->rule[i].line);
			ret = -EINVAL;
		}
	}
	if (ret) {
		rules_free(r);
		free(r);
		return NULL;
	}
	return r;
}

static void main_default_server(const struct opts *o)
{
	char err[512];
	int ret;

	if (!o->socks_server)
		return;
	if (socks_parse_server(o->socks_server, (uint16_t)o->socks_port, main_socks_default.host,
			       sizeof(main_socks_default.host), &main_socks_default.port, err,
			       sizeof(err)))
		die(EXIT_USAGE, "SOCKS_SERVER: %s", err);
	ret = main_resolve(main_socks_default.host, main_socks_default.port,
			   &main_socks_default.addr, &main_socks_default.addrlen);
	if (ret)
		die(EXIT_USAGE, "cannot resolve SOCKS server '%s': %s", main_socks_default.host,
		    ret == -EHOSTUNREACH ? "no such host" : strerror(-ret));
}

/* SIGHUP: new rules for new connections; a broken file keeps the old ones. */
static void main_reload(struct ctx *c)
{
	struct rules *fresh;
	char err[1024];

	fresh = main_load_rules(&main_opts, err, sizeof(err));
	if (!fresh) {
		log_warn("SIGHUP: keeping the current rules: %s", err);
		return;
	}
	if (tcp_rules_replace(c, fresh)) {
		log_warn("SIGHUP: keeping the current rules: too many reloads while connections "
			 "are still being set up");
		rules_free(fresh);
		free(fresh);
		return;
	}
	log_info("SIGHUP: %zu rules loaded from %s", fresh->n, fresh->file);
}

static const char *main_user_name(void)
{
	static char uid[16];
	struct passwd *pw = getpwuid(getuid());

	if (pw && pw->pw_name)
		return strdup(pw->pw_name);
	snprintf(uid, sizeof(uid), "%u", (unsigned)getuid());
	return uid;
}

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
		log_debug("the fd limit (%llu) allows fewer connections than --max-flows %u",
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
		  "%llu retransmits, %llu fast; %llu partial writes (%llu kept), "
		  "%llu out of order; %llu malformed, %llu not TCP",
		  (unsigned long long)s->tun_packets_in, (unsigned long long)s->tun_packets_out,
		  (unsigned long long)s->flows_opened, (unsigned long long)s->flows_denied,
		  (unsigned long long)s->flows_refused, (unsigned long long)s->flows_unreachable,
		  (unsigned long long)s->flows_timed_out, (unsigned long long)s->flows_reset,
		  (unsigned long long)s->flows_table_full, (unsigned long long)s->retransmits,
		  (unsigned long long)s->fast_retransmits, (unsigned long long)s->partial_writes,
		  (unsigned long long)s->kept_writes, (unsigned long long)s->out_of_order,
		  (unsigned long long)malformed, (unsigned long long)s->not_tcp);
}

int main(int argc, char **argv)
{
	static struct ctx c;
	struct opts *op = &main_opts, o;
	struct netns_sandbox sb;
	char err[1024];
	sigset_t old_mask;
	size_t i;
	int ret;

	log_init("pmsocks-ns", LOG_LEVEL_WARN);
	ret = opts_parse(op, argc, argv, err, sizeof(err));
	o = *op;
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

	main_default_server(&o);
	c.rules = main_load_rules(&o, err, sizeof(err));
	if (!c.rules) {
		if (strstr(err, "cannot read ") == err)
			die(EXIT_USAGE,
			    "%s (hint: install a rule file there, such as policy/%s, or "
			    "name one with -c or PMSOCKS_NS_CONF; see pmsocks-ns.conf(5))",
			    err, "pmsocks-ns.conf");
		die(EXIT_USAGE, "%s", err);
	}
	if (o.check) {
		printf("# %zu rules from %s\n", c.rules->n, c.rules->file);
		if (main_socks_default.addrlen)
			printf("# default SOCKS server %s port %u\n", main_socks_default.host,
			       main_socks_default.port);
		rules_print(c.rules, stdout);
		return 0;
	}
	if (o.banner)
		fprintf(stderr, "pmsocks-ns %s: %zu rules from %s%s%s\n", PMSOCKS_NS_VERSION,
			c.rules->n, c.rules->file,
			main_socks_default.addrlen ? ", SOCKS server " : "",
			main_socks_default.addrlen ? main_socks_default.host : "");
	c.user = main_user_name();
	c.socks_default = main_socks_default.addrlen ? &main_socks_default : NULL;
	c.socks_user = o.socks_user ? o.socks_user : c.rules->socks_user;
	c.socks_pass = o.socks_user ? o.socks_pass : c.rules->socks_pass;
	c.allow_rule_commands = o.allow_rule_commands;
	c.reload = main_reload;
	if (!o.seccomp)
		log_warn("--no-seccomp: UDP and raw sockets of the command are not blocked; "
			 "for debugging only");

	c.mtu = o.mtu;
	c.connect_timeout_ms = o.connect_timeout_ms;
	c.busy_poll_us = o.busy_poll_us;
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
