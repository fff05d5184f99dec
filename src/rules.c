// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rules.c - Where a new connection of the sandbox goes
 *
 * Theory of operation: rules_route() is asked once per SYN. Whatever the rule
 * file says, some destinations are never reached by accident (DESIGN
 * "Addresses inside"): the host's loopback, link-local and own addresses,
 * multicast, broadcast and unspecified addresses, IPv4-mapped IPv6 addresses
 * (which would reach IPv4 behind the back of the checks) and the sandbox's own
 * subnets.
 *
 * This file is the runtime side of the rule file: rules_parse.c (socks.conf)
 * and rules_tsocks.c (tsocks.conf) read it once, at start-up and on SIGHUP,
 * into an array of struct rule with everything the matcher needs already
 * resolved, so rules_match() is a loop over that array that allocates nothing
 * and returns the first rule that matches, NULL (deny) if none does.
 * Addresses are stored already masked, so a rule matches when
 * (dst & mask) == addr, for any mask, contiguous or not, as classic
 * socks.conf did. An IPv4 rule never matches an IPv6 destination nor the
 * reverse: the classic match-all "0.0.0.0 0.0.0.0" covers IPv4 only, "::/0"
 * is its IPv6 twin.
 *
 * rules_print() writes the rules back in a canonical form rules_parse() reads
 * to the same rules; rules_expand_command() fills in the %-tokens of a rule's
 * ": command" with shell-quoted values. The SOCKS servers of @= lists are kept
 * as written, in an array of exactly n_servers entries per rule, until
 * rules_resolve_servers() turns each into a socket address, before the first
 * connection, so the data path never resolves names. rules_free() releases
 * what a parser allocated. The mask and address helpers and the default
 * LOCALHOSTNAME resolver the parsers use are here too (rules_internal.h), so
 * this file links without the parsers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "pmsocks-ns/rules.h"
#include "pmsocks-ns/util.h"
#include "rules_internal.h"

#define RULES_MAX_HOST_ADDRS 64

static struct {
	int family;
	union packet_addr addr;
} rules_host_addrs[RULES_MAX_HOST_ADDRS];
static unsigned int rules_n_host_addrs;

/**
 * rules_init_host_addrs() - Remember the host's own addresses
 *
 * Return: 0, or -errno if they cannot be listed
 */
int rules_init_host_addrs(void)
{
	struct ifaddrs *ifa, *i;

	rules_n_host_addrs = 0;
	if (getifaddrs(&ifa))
		return -1;
	for (i = ifa; i && rules_n_host_addrs < RULES_MAX_HOST_ADDRS; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			rules_host_addrs[rules_n_host_addrs].family = AF_INET;
			rules_host_addrs[rules_n_host_addrs++].addr.v4 =
				((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			rules_host_addrs[rules_n_host_addrs].family = AF_INET6;
			rules_host_addrs[rules_n_host_addrs++].addr.v6 =
				((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr;
		}
	}
	freeifaddrs(ifa);
	return 0;
}

/**
 * rules_same_addr() - Whether two addresses of one family are equal
 * @family: AF_INET or AF_INET6
 * @a:      one address
 * @b:      the other
 *
 * Return: true if they are the same address
 */
bool rules_same_addr(int family, const union packet_addr *a, const union packet_addr *b)
{
	if (family == AF_INET)
		return a->v4.s_addr == b->v4.s_addr;
	return IN6_ARE_ADDR_EQUAL(&a->v6, &b->v6);
}

static bool rules_is_host_addr(int family, const union packet_addr *a)
{
	unsigned int i;

	for (i = 0; i < rules_n_host_addrs; i++)
		if (rules_host_addrs[i].family == family &&
		    rules_same_addr(family, &rules_host_addrs[i].addr, a))
			return true;
	return false;
}

/**
 * rules_addr_class() - How a destination may be reached, whatever the rules
 * @family: AF_INET or AF_INET6
 * @a:      destination address
 *
 * Return: RULES_ADDR_NEVER for the sandbox's own subnets, multicast,
 * broadcast, unspecified and IPv4-mapped addresses; RULES_ADDR_HOST for the
 * host's loopback, link-local and own addresses (only through a rule naming
 * them); RULES_ADDR_ANY otherwise
 */
enum rules_addr_class rules_addr_class(int family, const union packet_addr *a)
{
	if (family == AF_INET) {
		uint32_t v = ntohl(a->v4.s_addr);

		if ((v >> 24) == 0 || (v >> 28) >= 0xe)
			return RULES_ADDR_NEVER; /* 0/8, multicast, 240/4 and broadcast */
		if ((v >> 8) == 0x0a0002)
			return RULES_ADDR_NEVER; /* 10.0.2.0/24: the sandbox's own subnet */
		if ((v >> 24) == 127 || (v >> 16) == 0xa9fe)
			return RULES_ADDR_HOST; /* 127/8, 169.254/16 */
	} else {
		const struct in6_addr *v6 = &a->v6;

		if (IN6_IS_ADDR_UNSPECIFIED(v6) || IN6_IS_ADDR_MULTICAST(v6) ||
		    IN6_IS_ADDR_V4MAPPED(v6) || IN6_IS_ADDR_V4COMPAT(v6))
			return RULES_ADDR_NEVER;
		if (!memcmp(v6->s6_addr, "\xfd\x00\x00\x02\x00\x00\x00\x00", 8))
			return RULES_ADDR_NEVER; /* fd00:2::/64: the sandbox's own subnet */
		if (IN6_IS_ADDR_LOOPBACK(v6) || IN6_IS_ADDR_LINKLOCAL(v6))
			return RULES_ADDR_HOST;
	}
	return rules_is_host_addr(family, a) ? RULES_ADDR_HOST : RULES_ADDR_ANY;
}

/**
 * rules_addr_always_refused() - Whether a destination is off limits for catch-all rules
 * @family: AF_INET or AF_INET6
 * @a:      destination address
 *
 * Return: true unless rules_addr_class() says RULES_ADDR_ANY
 */
bool rules_addr_always_refused(int family, const union packet_addr *a)
{
	return rules_addr_class(family, a) != RULES_ADDR_ANY;
}

/* A rule "names" an address when its mask has at least a /8 (IPv4) or /16 (IPv6) in it. */
static bool rules_names_addr(const struct rule *r)
{
	unsigned int bits = 0, i, len = r->family == AF_INET ? 4 : 16;
	const uint8_t *m = (const uint8_t *)&r->mask;

	for (i = 0; i < len; i++)
		bits += (unsigned int)__builtin_popcount(m[i]);
	return bits >= (r->family == AF_INET ? 8U : 16U);
}

/**
 * rules_route() - Decide where a new connection goes
 * @c:        handler context
 * @k:        the connection's 4-tuple
 * @rule_out: receives the rule that matched, or NULL
 *
 * Without rules (tests), every destination rules_addr_class() allows is
 * direct. With rules, the first match decides; no match is a denial. The
 * host's own addresses are reached directly only by a rule that names them.
 *
 * Return: ROUTE_DIRECT, ROUTE_SOCKS or ROUTE_DENY
 */
enum route rules_route(const struct ctx *c, const struct flow_key *k, const struct rule **rule_out)
{
	enum rules_addr_class class = rules_addr_class(k->family, &k->remote_addr);
	const struct rule *r;

	*rule_out = NULL;
	if (c->route_hook)
		return c->route_hook(k);
	if (class == RULES_ADDR_NEVER)
		return ROUTE_DENY;
	if (!c->rules)
		return class == RULES_ADDR_ANY ? ROUTE_DIRECT : ROUTE_DENY;
	r = rules_match(c->rules, k->family, &k->remote_addr, k->remote_port, c->user);
	*rule_out = r;
	if (!r || r->action == RULE_DENY)
		return ROUTE_DENY;
	if (r->action == RULE_SOCKD)
		return ROUTE_SOCKS;
	if (class == RULES_ADDR_HOST && !rules_names_addr(r))
		return ROUTE_DENY;
	return ROUTE_DIRECT;
}

/* Rule files: what the parsers, the matcher and the printer share */

const char *const rules_op_names[RULE_OP_GE + 1] = {
	[RULE_OP_NONE] = "", [RULE_OP_EQ] = "eq", [RULE_OP_NEQ] = "neq", [RULE_OP_LT] = "lt",
	[RULE_OP_GT] = "gt", [RULE_OP_LE] = "le", [RULE_OP_GE] = "ge",
};

/**
 * rules_rule_clear() - Release what a rule owns and zero it
 * @r: rule whose servers, users and command were allocated for it alone
 */
void rules_rule_clear(struct rule *r)
{
	unsigned int i;

	for (i = 0; i < r->n_users; i++)
		free(r->users[i]);
	free(r->users);
	free(r->servers);
	free(r->command);
	memset(r, 0, sizeof(*r));
}

/**
 * rules_prefix_len() - Length of a contiguous mask
 * @family: AF_INET or AF_INET6
 * @mask:   the mask
 *
 * Return: the number of leading one bits, or -1 if the mask has holes
 */
int rules_prefix_len(int family, const union packet_addr *mask)
{
	const uint8_t *b = family == AF_INET ? (const uint8_t *)&mask->v4 : mask->v6.s6_addr;
	unsigned int n = family == AF_INET ? 4 : 16, i, len = 0;
	bool ended = false;
	int bit;

	for (i = 0; i < n; i++)
		for (bit = 7; bit >= 0; bit--) {
			if (b[i] & (1U << bit)) {
				if (ended)
					return -1;
				len++;
			} else {
				ended = true;
			}
		}
	return (int)len;
}

/**
 * rules_prefix_mask() - The mask of a prefix length
 * @family: AF_INET or AF_INET6
 * @prefix: 0-32 or 0-128
 * @mask:   receives the mask
 */
void rules_prefix_mask(int family, unsigned int prefix, union packet_addr *mask)
{
	unsigned int i;

	memset(mask, 0, sizeof(*mask));
	if (family == AF_INET) {
		mask->v4.s_addr = prefix ? htonl(~0U << (32 - prefix)) : 0;
		return;
	}
	for (i = 0; i<16; i++, prefix = prefix> 8 ? prefix - 8 : 0)
		mask->v6.s6_addr[i] = (uint8_t)(prefix >= 8 ? 0xff : (0xff00 >> prefix) & 0xff);
}

/**
 * rules_mask_is_full() - Whether a mask keeps every bit of an address
 * @family: AF_INET or AF_INET6
 * @mask:   the mask
 *
 * Return: true for /32 and /128 masks
 */
bool rules_mask_is_full(int family, const union packet_addr *mask)
{
	return rules_prefix_len(family, mask) == (family == AF_INET ? 32 : 128);
}

/**
 * rules_apply_mask() - Clear the bits of a rule's address outside its mask
 * @r: rule with family, addr and mask set
 */
void rules_apply_mask(struct rule *r)
{
	unsigned int i;

	if (r->family == AF_INET) {
		r->addr.v4.s_addr &= r->mask.v4.s_addr;
		return;
	}
	for (i = 0; i < 16; i++)
		r->addr.v6.s6_addr[i] &= r->mask.v6.s6_addr[i];
}

/* Rule files: matching */

static bool rules_addr_match(const struct rule *r, const union packet_addr *dst)
{
	unsigned int i;

	if (r->family == AF_INET)
		return (dst->v4.s_addr & r->mask.v4.s_addr) == r->addr.v4.s_addr;
	for (i = 0; i < 16; i++)
		if ((dst->v6.s6_addr[i] & r->mask.v6.s6_addr[i]) != r->addr.v6.s6_addr[i])
			return false;
	return true;
}

static bool rules_port_match(const struct rule *r, uint16_t port)
{
	switch (r->op) {
	case RULE_OP_NONE:
		return true;
	case RULE_OP_EQ:
		return port == r->port;
	case RULE_OP_NEQ:
		return port != r->port;
	case RULE_OP_LT:
		return port < r->port;
	case RULE_OP_GT:
		return port > r->port;
	case RULE_OP_LE:
		return port <= r->port;
	case RULE_OP_GE:
		return port >= r->port;
	}
	return false; /* not reached: every operator is handled */
}

static bool rules_user_match(const struct rule *r, const char *user)
{
	unsigned int i;

	if (!r->users)
		return true;
	if (!user)
		return false;
	for (i = 0; i < r->n_users; i++)
		if (!strcmp(r->users[i], user))
			return true;
	return false;
}

/**
 * rules_match() - Find the rule for a new connection
 * @r:      parsed rules
 * @family: AF_INET or AF_INET6
 * @dst:    destination address
 * @port:   destination port
 * @user:   invoking user name, NULL if unknown (rules with *= then never match)
 *
 * Allocates nothing.
 *
 * Return: the first matching rule, or NULL if none matches (deny)
 */
const struct rule *rules_match(const struct rules *r, int family, const union packet_addr *dst,
			       uint16_t port, const char *user)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		const struct rule *rule = &r->rule[i];

		if (rule->family == family && rules_addr_match(rule, dst) &&
		    rules_port_match(rule, port) && rules_user_match(rule, user))
			return rule;
	}
	return NULL;
}

/* Rule files: printing and commands */

static const char *rules_action_name(const struct rule *r, bool version)
{
	switch (r->action) {
	case RULE_DENY:
		return "deny";
	case RULE_DIRECT:
		return "direct";
	case RULE_SOCKD:
		if (version && r->socks_version == 4)
			return "sockd4";
		if (version && r->socks_version == 5)
			return "sockd5";
		return "sockd";
	}
	return "?"; /* not reached: every action is handled */
}

/**
 * rules_print() - Print the effective rules in canonical form
 * @r:   parsed rules
 * @out: stream to print to
 *
 * One rule a line, as rules_parse() reads it back: LOCALHOSTNAME and user
 * files resolved, contiguous masks as /prefix, ports as numbers. A "# line N"
 * comment after each names the line it came from; for a rule with a command,
 * which would swallow it, that comment is on the next line.
 *
 * Return: 0, or -EIO if writing failed
 */
int rules_print(const struct rules *r, FILE *out)
{
	char text[INET6_ADDRSTRLEN];
	unsigned int j;
	size_t i;
	int plen;

	for (i = 0; i < r->n; i++) {
		const struct rule *rule = &r->rule[i];

		fputs(rules_action_name(rule, true), out);
		for (j = 0; j < rule->n_servers; j++) {
			const struct rule_server *s = &rule->servers[j];

			fputs(j ? "," : " @=", out);
			fprintf(out, strchr(s->host, ':') ? "[%s]" : "%s", s->host);
			if (s->port)
				fprintf(out, ":%u", s->port);
		}
		for (j = 0; j < rule->n_users; j++)
			fprintf(out, "%s%s", j ? "," : " *=", rule->users[j]);
		inet_ntop(rule->family, &rule->addr, text, sizeof(text));
		fprintf(out, " %s", text);
		plen = rules_prefix_len(rule->family, &rule->mask);
		if (plen >= 0) {
			fprintf(out, "/%d", plen);
		} else {
			inet_ntop(rule->family, &rule->mask, text, sizeof(text));
			fprintf(out, " %s", text);
		}
		if (rule->op != RULE_OP_NONE)
			fprintf(out, " %s %u", rules_op_names[rule->op], rule->port);
		if (rule->command)
			fprintf(out, " : %s\n# line %u\n", rule->command, rule->line);
		else
			fprintf(out, "\t# line %u\n", rule->line);
	}
	return ferror(out) ? -EIO : 0;
}

/* Output of rules_expand_command(): what fits, and whether something did not. */
struct rules_out {
	char *buf;
	size_t len, cap;
	bool full;
};

static void rules_put(struct rules_out *o, char c)
{
	if (o->len + 1 < o->cap)
		o->buf[o->len++] = c;
	else
		o->full = true;
}

/* @s in single quotes, each ' inside as '\'' */
static void rules_put_quoted(struct rules_out *o, const char *s)
{
	rules_put(o, '\'');
	for (; *s; s++) {
		if (*s == '\'') {
			rules_put(o, '\'');
			rules_put(o, '\\');
			rules_put(o, '\'');
		}
		rules_put(o, *s);
	}
	rules_put(o, '\'');
}

/**
 * rules_expand_command() - Fill in the %-tokens of a rule's command
 * @r:      rule with a command
 * @conn:   the connection the command runs for
 * @out:    receives the command line for /bin/sh -c, NUL-terminated
 * @outlen: size of @out
 *
 * %A destination host name (its address if unknown), %a destination address,
 * %c "connect", %p client pid (0 if unknown), %S destination service name (the
 * port number if it has none), %s destination port, %U and %u invoking user,
 * %Z SOCKS server used (empty for direct and deny), %z action (deny, direct or
 * sockd), %% a literal %. Every substituted value is shell-quoted.
 *
 * Return: 0, -EINVAL if @r has no command, -ENOSPC if @out is too small
 */
int rules_expand_command(const struct rule *r, const struct rules_conn *conn, char *out,
			 size_t outlen)
{
	struct rules_out o = {.buf = out, .cap = outlen};
	char addr[INET6_ADDRSTRLEN], num[32], sbuf[1024];
	struct servent se, *res;
	const char *s, *value;

	if (!r->command || !outlen)
		return -EINVAL;
	if (!inet_ntop(conn->family, &conn->dst, addr, sizeof(addr)))
		addr[0] = '\0';
	for (s = r->command; *s; s++) {
		if (*s != '%') {
			rules_put(&o, *s);
			continue;
		}
		switch (*++s) {
		case 'A':
			value = conn->host && *conn->host ? conn->host : addr;
			break;
		case 'a':
			value = addr;
			break;
		case 'c':
			value = "connect";
			break;
		case 'p':
			snprintf(num, sizeof(num), "%ld", (long)conn->pid);
			value = num;
			break;
		case 'S':
			res = NULL;
			snprintf(num, sizeof(num), "%u", conn->port);
			value = num;
			if (!getservbyport_r(htons(conn->port), "tcp", &se, sbuf, sizeof(sbuf),
					     &res) &&
			    res)
				value = res->s_name;
			break;
		case 's':
			snprintf(num, sizeof(num), "%u", conn->port);
			value = num;
			break;
		case 'U':
		case 'u':
			value = conn->user ? conn->user : "";
			break;
		case 'Z':
			value = r->action == RULE_SOCKD && conn->server ? conn->server : "";
			break;
		case 'z':
			value = rules_action_name(r, false);
			break;
		case '%':
			rules_put(&o, '%');
			continue;
		default: /* rules_parse() lets no other token through */
			out[0] = '\0';
			return -EINVAL;
		}
		rules_put_quoted(&o, value);
	}
	out[o.len] = '\0';
	return o.full ? -ENOSPC : 0;
}

/* Rule files: SOCKS server addresses */

/* -errno for a getaddrinfo() failure; call at once, errno is read for EAI_SYSTEM. */
static int rules_gai_errno(int gai)
{
	if (gai == EAI_SYSTEM)
		return errno ? -errno : -EIO;
	if (gai == EAI_AGAIN)
		return -EAGAIN;
	if (gai == EAI_MEMORY)
		return -ENOMEM;
	return -ENXIO;
}

/**
 * rules_resolve_addrs() - The addresses of a name, by getaddrinfo()
 * @name:   host name or address literal
 * @family: receives AF_INET or AF_INET6 for each address
 * @addrs:  receives the addresses
 * @max:    room in @family and @addrs
 *
 * The default resolver for LOCALHOSTNAME (struct rules_parse_opts), without
 * AI_ADDRCONFIG.
 *
 * Return: the number of addresses, or -errno (-ENXIO: no such name)
 */
int rules_resolve_addrs(const char *name, int *family, union packet_addr *addrs, size_t max)
{
	struct addrinfo hints, *res, *ai;
	size_t n = 0;
	int ret;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	ret = getaddrinfo(name, NULL, &hints, &res);
	if (ret)
		return rules_gai_errno(ret);
	for (ai = res; ai && n < max; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET) {
			addrs[n].v4 = ((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr;
			family[n++] = AF_INET;
		} else if (ai->ai_family == AF_INET6) {
			addrs[n].v6 = ((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr;
			family[n++] = AF_INET6;
		}
	}
	freeaddrinfo(res);
	return (int)n;
}

/* The first address getaddrinfo() gives @host, with @port; *@reason says why not. */
static int rules_server_addrinfo(const char *host, uint16_t port, struct sockaddr_storage *ss,
				 socklen_t *len, const char **reason)
{
	struct addrinfo hints, *res;
	char service[sizeof("65535")];
	int gai, ret = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%u", port);
	gai = getaddrinfo(host, service, &hints, &res);
	if (gai) {
		ret = rules_gai_errno(gai);
		*reason = gai == EAI_SYSTEM ? strerror(-ret) : gai_strerror(gai);
		return ret;
	}
	if (!res->ai_addrlen || res->ai_addrlen > sizeof(*ss)) {
		*reason = "unexpected address length";
		ret = -EINVAL;
	} else {
		memcpy(ss, res->ai_addr, res->ai_addrlen);
		*len = res->ai_addrlen;
	}
	freeaddrinfo(res);
	return ret;
}

#define RULES_RECENT_SERVERS 16 /* resolved servers remembered, for lists repeated by rule */

/**
 * rules_resolve_servers() - Resolve the SOCKS servers of every rule's @= list
 * @r:            parsed rules
 * @resolve:      fills @ss and @len with the address of @host and @port, returns
 *                0 or -errno; NULL: getaddrinfo() (AF_UNSPEC, SOCK_STREAM, the
 *                first result)
 * @default_port: port of servers written without one (SOCKS_PORT, or 1080)
 * @err:          receives "FILE:LINE: cannot resolve SOCKS server 'HOST': REASON"
 * @errlen:       size of @err
 *
 * Fills addr and addrlen of each server, once before connections are made, so
 * the data path never resolves names. A host and port met again in the last
 * few distinct servers (a list repeated by LOCALHOSTNAME or a tsocks path
 * block) is not resolved again. On error the servers before the failing one
 * keep their addresses.
 *
 * Return: 0, -errno from @resolve or getaddrinfo() (-ENXIO: no such name), or
 * -EINVAL if a server has no port or @resolve gave no usable address
 */
int rules_resolve_servers(struct rules *r,
			  int (*resolve)(const char *host, uint16_t port,
					 struct sockaddr_storage *ss, socklen_t *len),
			  uint16_t default_port, char *err, size_t errlen)
{
	const struct rule_server *recent[RULES_RECENT_SERVERS] = {NULL};
	unsigned int n_recent = 0, j, k;
	struct sockaddr_storage ss;
	const char *reason;
	uint16_t port;
	socklen_t len;
	size_t i;
	int ret;

	for (i = 0; i < r->n; i++) {
		for (j = 0; j < r->rule[i].n_servers; j++) {
			struct rule_server *s = &r->rule[i].servers[j];

			port = s->port ? s->port : default_port;
			for (k = 0; k < RULES_RECENT_SERVERS && recent[k]; k++)
				if ((recent[k]->port ? recent[k]->port : default_port) == port &&
				    !strcmp(recent[k]->host, s->host))
					break;
			if (k < RULES_RECENT_SERVERS && recent[k]) {
				s->addr = recent[k]->addr;
				s->addrlen = recent[k]->addrlen;
				continue;
			}
			memset(&ss, 0, sizeof(ss));
			len = 0;
			reason = NULL;
			if (!port) {
				ret = -EINVAL;
				reason = "no port given and no default port";
			} else if (resolve) {
				ret = resolve(s->host, port, &ss, &len);
				if (ret > 0)
					ret = -EINVAL;
				if (!ret && (!len || len > sizeof(ss))) {
					ret = -EINVAL;
					reason = "the resolver gave no address";
				}
			} else {
				ret = rules_server_addrinfo(s->host, port, &ss, &len, &reason);
			}
			if (ret) {
				if (errlen)
					snprintf(err, errlen,
						 "%s:%u: cannot resolve SOCKS server '%s': %s",
						 r->file ? r->file : "(rules)", r->rule[i].line,
						 s->host, reason ? reason : strerror(-ret));
				return ret;
			}
			s->addr = ss;
			s->addrlen = len;
			recent[n_recent++ % RULES_RECENT_SERVERS] = s;
		}
	}
	return 0;
}

/**
 * rules_free() - Release parsed rules
 * @r: rules from rules_parse(), rules_load() or rules_parse_tsocks(); emptied
 */
void rules_free(struct rules *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		rules_rule_clear(&r->rule[i]);
	free(r->rule);
	free(r->file);
	free(r->socks_user);
	free(r->socks_pass);
	memset(r, 0, sizeof(*r));
}

/**
 * rules_run_command() - Run a matched rule's command, detached, through /bin/sh
 * @r:    the rule (with a command)
 * @conn: the connection it matched, for the %-tokens
 *
 * The command runs on the host in a session of its own, with stdin from
 * /dev/null; the handler's SIGCHLD handling reaps it.
 *
 * Return: 0, or -errno
 */
int rules_run_command(const struct rule *r, const struct rules_conn *conn)
{
	static const int defaults[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGPIPE};
	char cmd[RULES_MAX_LINE * 2], sh[] = "sh", dash_c[] = "-c";
	char *argv[] = {sh, dash_c, cmd, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dflt;
	unsigned int i;
	pid_t pid;
	int ret;

	ret = rules_expand_command(r, conn, cmd, sizeof(cmd));
	if (ret)
		return ret;
	sigemptyset(&none);
	sigemptyset(&dflt);
	for (i = 0; i < ARRAY_SIZE(defaults); i++)
		sigaddset(&dflt, defaults[i]);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
						POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dflt);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	ret = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return -ret;
}
