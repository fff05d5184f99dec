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
 * The rule file keeps the CSTC socks.conf grammar pmsocks documented, one rule
 * a line:
 *
 *   deny|direct|sockd|sockd4|sockd5 [@=server[:port],...] [*=user,...]
 *       addr mask | addr/prefix | LOCALHOSTNAME mask  [op port]  [: command]
 *
 * rules_parse() reads it once, at start-up and on SIGHUP, into an array of
 * struct rule: everything the matcher needs is resolved then (LOCALHOSTNAME to
 * its addresses, one rule per address; *=/file user lists to the names in the
 * file; service names to port numbers), so rules_match() is a loop over that
 * array that allocates nothing and returns the first rule that matches, NULL
 * (deny) if none does. Addresses are stored already masked, so a rule matches
 * when (dst & mask) == addr, for any mask, contiguous or not, as classic
 * socks.conf did. An IPv4 rule never matches an IPv6 destination nor the
 * reverse: the classic match-all "0.0.0.0 0.0.0.0" covers IPv4 only, "::/0"
 * is its IPv6 twin.
 *
 * Parsing is all or nothing: the first line that does not parse stops it with
 * "FILE:LINE:COL: message" naming the bad token and what was expected, and
 * nothing is kept. Nothing is skipped or widened to match everything. A
 * ": command" suffix runs a shell command per connection in CSTC SOCKS, so it
 * is refused unless the caller allows it; rules_expand_command() then fills in
 * the %-tokens with shell-quoted values.
 *
 * rules_parse_tsocks() reads a tsocks.conf(5) into the same model: local
 * networks first (direct), then the path blocks (sockd through the path's
 * server, the last block first as tsocks consults them), then the default
 * server for all other IPv4 destinations.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pmsocks-ns/rules.h"
#include "pmsocks-ns/util.h"

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

static bool rules_is_host_addr(int family, const union packet_addr *a)
{
	unsigned int i;

	for (i = 0; i < rules_n_host_addrs; i++) {
		if (rules_host_addrs[i].family != family)
			continue;
		if (family == AF_INET && rules_host_addrs[i].addr.v4.s_addr == a->v4.s_addr)
			return true;
		if (family == AF_INET6 && IN6_ARE_ADDR_EQUAL(&rules_host_addrs[i].addr.v6, &a->v6))
			return true;
	}
	return false;
}

/**
 * rules_addr_always_refused() - Whether a destination is off limits whatever the rules
 * @family: AF_INET or AF_INET6
 * @a:      destination address
 *
 * Return: true for loopback, link-local, multicast, broadcast, unspecified,
 * IPv4-mapped, the sandbox's subnets and the host's own addresses
 */
bool rules_addr_always_refused(int family, const union packet_addr *a)
{
	if (family == AF_INET) {
		uint32_t v = ntohl(a->v4.s_addr);

		if ((v >> 24) == 0 || (v >> 24) == 127 || (v >> 16) == 0xa9fe || (v >> 28) >= 0xe)
			return true; /* 0/8, 127/8, 169.254/16, multicast and 240/4 with broadcast
				      */
		if ((v >> 8) == 0x0a0002)
			return true; /* 10.0.2.0/24: the sandbox's own subnet */
	} else {
		const struct in6_addr *v6 = &a->v6;

		if (IN6_IS_ADDR_UNSPECIFIED(v6) || IN6_IS_ADDR_LOOPBACK(v6) ||
		    IN6_IS_ADDR_LINKLOCAL(v6) || IN6_IS_ADDR_MULTICAST(v6) ||
		    IN6_IS_ADDR_V4MAPPED(v6) || IN6_IS_ADDR_V4COMPAT(v6))
			return true;
		if (!memcmp(v6->s6_addr, "\xfd\x00\x00\x02\x00\x00\x00\x00", 8))
			return true; /* fd00:2::/64: the sandbox's own subnet */
	}
	return rules_is_host_addr(family, a);
}

/**
 * rules_route() - Decide where a new connection goes
 * @c: handler context
 * @k: the connection's 4-tuple
 *
 * Return: ROUTE_DIRECT or ROUTE_DENY (ROUTE_SOCKS once the rule file is read)
 */
enum route rules_route(const struct ctx *c, const struct flow_key *k)
{
	if (c->route_hook)
		return c->route_hook(k);
	if (rules_addr_always_refused(k->family, &k->remote_addr))
		return ROUTE_DENY;
	return ROUTE_DIRECT;
}

/* Rule files: parsing */

#define RULES_MAX_TOKENS      9	 /* a rule has at most 7 fields: the 8th is reported */
#define RULES_MAX_LOCAL_ADDRS 16 /* LOCALHOSTNAME addresses used */
#define RULES_MAX_USERS	      65536
#define RULES_MAX_USER_FILE   (1 << 20)
#define RULES_MAX_USER_NAME   255
#define RULES_MAX_RANGE	      256 /* tsocks port range expanded into "eq" rules */

static const char *const rules_op_names[] = {
	[RULE_OP_NONE] = "", [RULE_OP_EQ] = "eq", [RULE_OP_NEQ] = "neq", [RULE_OP_LT] = "lt",
	[RULE_OP_GT] = "gt", [RULE_OP_LE] = "le", [RULE_OP_GE] = "ge",
};

static const struct {
	const char *name;
	enum rule_action action;
	uint8_t socks_version;
} rules_actions[] = {
	{"deny", RULE_DENY, 0},	   {"direct", RULE_DIRECT, 0}, {"sockd", RULE_SOCKD, 0},
	{"sockd4", RULE_SOCKD, 4}, {"sockd5", RULE_SOCKD, 5},
};

/* One field of a line, NUL-terminated in the line buffer. */
struct rules_tok {
	char *s;
	unsigned int col; /* 1-based */
};

/* A line split into fields. */
struct rules_line {
	struct rules_tok tok[RULES_MAX_TOKENS];
	unsigned int n;
	char *command;		       /* text after a ':' that starts a field, trimmed; or NULL */
	unsigned int command_col;      /* column of that ':' */
	unsigned int command_text_col; /* column of the command's first character */
};

struct rules_parser {
	struct rules *out;
	size_t cap; /* of out->rule */
	const char *file;
	unsigned int line;
	char *err;
	size_t errlen;
	bool allow_commands;
	int (*resolve)(const char *name, int *family, union packet_addr *addrs, size_t max);
	int n_local; /* LOCALHOSTNAME addresses, -1 until first resolved */
	int local_family[RULES_MAX_LOCAL_ADDRS];
	union packet_addr local_addr[RULES_MAX_LOCAL_ADDRS];
	struct rules_tsocks *ts; /* rules_parse_tsocks() only */
};

__attribute__((format(printf, 3, 4))) static int rules_err(struct rules_parser *p, unsigned int col,
							   const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->errlen)
		return -EINVAL;
	n = snprintf(p->err, p->errlen, "%s:%u:%u: ", p->file, p->line, col);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int rules_nomem(struct rules_parser *p)
{
	if (p->errlen)
		snprintf(p->err, p->errlen, "%s:%u: out of memory", p->file, p->line);
	return -ENOMEM;
}

static bool rules_is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool rules_is_digits(const char *s, size_t len)
{
	size_t i;

	if (!len)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Decimal number of at most 5 digits (so it cannot overflow), else -1. */
static long rules_number(const char *s, size_t len)
{
	long v = 0;
	size_t i;

	if (!rules_is_digits(s, len) || len > 5)
		return -1;
	for (i = 0; i < len; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

static char *rules_trim(char *s)
{
	char *end;

	while (rules_is_blank(*s))
		s++;
	end = s + strlen(s);
	while (end > s && rules_is_blank(end[-1]))
		end--;
	*end = '\0';
	return s;
}

/*
 * Split @buf into fields at blanks. In a rule file a '#' anywhere ends the
 * line and a ':' starting a field begins the command, which keeps the rest of
 * the line, '#' included, unless it is the "::" of an IPv6 address such as
 * "::/0"; in a tsocks.conf only a field starting with '#' is a comment, and
 * there are no commands.
 */
static void rules_lex(struct rules_line *l, char *buf, size_t len, bool tsocks)
{
	size_t i = 0, start;
	bool last;

	memset(l, 0, sizeof(*l));
	while (i < len) {
		if (rules_is_blank(buf[i])) {
			i++;
			continue;
		}
		if (buf[i] == '#')
			return;
		if (buf[i] == ':' && buf[i + 1] != ':' && !tsocks) { /* "::1" is an address */
			l->command_col = (unsigned int)i + 1;
			l->command = rules_trim(buf + i + 1);
			l->command_text_col = (unsigned int)(l->command - buf) + 1;
			return;
		}
		start = i;
		while (i < len && !rules_is_blank(buf[i]) && (tsocks || buf[i] != '#'))
			i++;
		last = i == len || buf[i] == '#';
		buf[i] = '\0';
		if (l->n < RULES_MAX_TOKENS) {
			l->tok[l->n].s = buf + start;
			l->tok[l->n++].col = (unsigned int)start + 1;
		}
		if (last)
			return;
		i++;
	}
}

/* Column just after a field, where a missing one was expected. */
static unsigned int rules_after(const struct rules_tok *t)
{
	return t->col + (unsigned int)strlen(t->s);
}

static void rules_rule_clear(struct rule *r)
{
	unsigned int i;

	for (i = 0; i < r->n_users; i++)
		free(r->users[i]);
	free(r->users);
	free(r->command);
	memset(r, 0, sizeof(*r));
}

/* Append a deep copy of @r to the parser's output. */
static int rules_append(struct rules_parser *p, const struct rule *r)
{
	struct rules *out = p->out;
	struct rule *dst;
	unsigned int i;

	if (out->n >= RULES_MAX_RULES)
		return rules_err(p, 1, "too many rules (more than %d)", RULES_MAX_RULES);
	if (out->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct rule *grown = realloc(out->rule, cap * sizeof(*grown));

		if (!grown)
			return rules_nomem(p);
		out->rule = grown;
		p->cap = cap;
	}
	dst = &out->rule[out->n];
	*dst = *r;
	dst->users = NULL;
	dst->n_users = 0;
	dst->command = NULL;
	if (r->users) {
		dst->users = calloc(r->n_users, sizeof(*dst->users));
		if (!dst->users)
			return rules_nomem(p);
		for (i = 0; i < r->n_users; i++) {
			dst->users[i] = strdup(r->users[i]);
			if (!dst->users[i]) {
				rules_rule_clear(dst);
				return rules_nomem(p);
			}
			dst->n_users++;
		}
	}
	if (r->command && !(dst->command = strdup(r->command))) {
		rules_rule_clear(dst);
		return rules_nomem(p);
	}
	out->n++;
	return 0;
}

static bool rules_valid_host(const char *s, size_t len)
{
	size_t i;

	if (!len || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_'))
			return false;
	}
	return true;
}

static bool rules_is_v6(const char *s, size_t len)
{
	struct in6_addr a;
	char tmp[INET6_ADDRSTRLEN + 1];

	if (!len || len >= sizeof(tmp))
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return inet_pton(AF_INET6, tmp, &a) == 1;
}

/* One entry of an @= list: host, host:port, IPv6, [IPv6] or [IPv6]:port. */
static int rules_parse_server(struct rules_parser *p, struct rule_server *srv, const char *s,
			      size_t len, unsigned int col)
{
	const char *host = s, *port = NULL, *colon;
	size_t hlen = len, plen = 0;
	long v;

	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (!close)
			return rules_err(p, col, "missing ']' in server '%.*s'", (int)len, s);
		host = s + 1;
		hlen = (size_t)(close - host);
		if (close + 1 < s + len) {
			if (close[1] != ':')
				return rules_err(p, col + (unsigned int)(close + 1 - s),
						 "expected ':port' after ']' in server '%.*s'",
						 (int)len, s);
			port = close + 2;
			plen = (size_t)(s + len - port);
		}
		if (!rules_is_v6(host, hlen))
			return rules_err(p, col, "bad IPv6 address in server '%.*s'", (int)len, s);
	} else if ((colon = memchr(s, ':', len)) && memchr(colon + 1, ':', len - 1 - (colon - s))) {
		if (!rules_is_v6(s, len))
			return rules_err(p, col,
					 "bad server '%.*s' (an IPv6 address with a port is "
					 "written [addr]:port)",
					 (int)len, s);
	} else {
		if (colon) {
			hlen = (size_t)(colon - s);
			port = colon + 1;
			plen = len - hlen - 1;
		}
		if (!rules_valid_host(host, hlen))
			return rules_err(p, col, "bad server name '%.*s'", (int)hlen, host);
	}
	memcpy(srv->host, host, hlen);
	srv->host[hlen] = '\0';
	srv->port = 0;
	if (port) {
		unsigned int pcol = col + (unsigned int)(port - s);

		if (!rules_is_digits(port, plen))
			return rules_err(p, pcol, "bad server port '%.*s' (expected 1-65535)",
					 (int)plen, port);
		v = rules_number(port, plen);
		if (v < 1 || v > 65535)
			return rules_err(p, pcol,
					 "server port '%.*s' out of range (expected 1-65535)",
					 (int)plen, port);
		srv->port = (uint16_t)v;
	}
	return 0;
}

static int rules_parse_servers(struct rules_parser *p, struct rule *r, const struct rules_tok *t)
{
	const char *s = t->s + 2, *end;
	int ret;

	if (!*s)
		return rules_err(p, t->col, "expected a server after '@='");
	for (;;) {
		unsigned int col = t->col + (unsigned int)(s - t->s);

		end = strchr(s, ',');
		if (!end)
			end = s + strlen(s);
		if (end == s)
			return rules_err(p, col, "empty server name in '%s'", t->s);
		if (r->n_servers == RULES_MAX_SERVERS)
			return rules_err(p, col, "too many servers in '%s' (at most %d)", t->s,
					 RULES_MAX_SERVERS);
		ret = rules_parse_server(p, &r->servers[r->n_servers], s, (size_t)(end - s), col);
		if (ret)
			return ret;
		r->n_servers++;
		if (!*end)
			return 0;
		s = end + 1;
	}
}

static int rules_add_user(struct rules_parser *p, struct rule *r, const char *name, size_t len,
			  unsigned int col)
{
	char **grown;

	if (len > RULES_MAX_USER_NAME)
		return rules_err(p, col, "user name '%.*s' too long (at most %d bytes)", (int)len,
				 name, RULES_MAX_USER_NAME);
	if (r->n_users == RULES_MAX_USERS)
		return rules_err(p, col, "too many users (at most %d)", RULES_MAX_USERS);
	if (!(r->n_users & (r->n_users - 1))) { /* 0, 1, 2, 4...: full, grow to twice */
		grown = realloc(r->users, (r->n_users ? r->n_users * 2 : 1) * sizeof(*grown));
		if (!grown)
			return rules_nomem(p);
		r->users = grown;
	}
	r->users[r->n_users] = strndup(name, len);
	if (!r->users[r->n_users])
		return rules_nomem(p);
	r->n_users++;
	return 0;
}

static bool rules_is_user_sep(char c)
{
	return rules_is_blank(c) || c == '\n' || c == ',';
}

/* The names in a *=/file list: separated by blanks, newlines or commas; '#' comments. */
static int rules_read_user_file(struct rules_parser *p, struct rule *r, const char *path,
				size_t plen, unsigned int col)
{
	char name[PATH_MAX], *buf = NULL;
	unsigned int before = r->n_users;
	size_t len = 0, i, start;
	struct stat st;
	ssize_t got;
	int fd, ret = 0;

	if (plen >= sizeof(name))
		return rules_err(p, col, "user list file name too long");
	memcpy(name, path, plen);
	name[plen] = '\0';
	fd = open(name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return rules_err(p, col, "cannot read user list '%s': %s", name, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		ret = rules_err(p, col, "cannot read user list '%s': not a regular file", name);
		goto out;
	}
	buf = malloc(RULES_MAX_USER_FILE + 1);
	if (!buf) {
		ret = rules_nomem(p);
		goto out;
	}
	while (len <= RULES_MAX_USER_FILE &&
	       (got = read(fd, buf + len, RULES_MAX_USER_FILE + 1 - len)) != 0) {
		if (got < 0) {
			ret = rules_err(p, col, "cannot read user list '%s': %s", name,
					strerror(errno));
			goto out;
		}
		len += (size_t)got;
	}
	if (len > RULES_MAX_USER_FILE) {
		ret = rules_err(p, col, "user list '%s' is too large (more than %d bytes)", name,
				RULES_MAX_USER_FILE);
		goto out;
	}
	for (i = 0; i < len && !ret;) {
		if (rules_is_user_sep(buf[i])) {
			i++;
		} else if (buf[i] == '#') {
			while (i < len && buf[i] != '\n')
				i++;
		} else if (!buf[i]) {
			ret = rules_err(p, col, "user list '%s' holds a NUL byte", name);
		} else {
			for (start = i;
			     i < len && buf[i] && buf[i] != '#' && !rules_is_user_sep(buf[i]);)
				i++;
			if (buf[start] == '/')
				ret = rules_err(p, col,
						"bad user name '%.*s' in '%s' (names cannot start "
						"with '/')",
						(int)(i - start), buf + start, name);
			else
				ret = rules_add_user(p, r, buf + start, i - start, col);
		}
	}
	if (!ret && r->n_users == before)
		ret = rules_err(p, col, "user list '%s' names no users", name);
out:
	free(buf);
	close(fd);
	return ret;
}

static int rules_parse_users(struct rules_parser *p, struct rule *r, const struct rules_tok *t)
{
	const char *s = t->s + 2, *end;
	int ret;

	if (!*s)
		return rules_err(p, t->col, "expected a user after '*='");
	for (;;) {
		unsigned int col = t->col + (unsigned int)(s - t->s);

		end = strchr(s, ',');
		if (!end)
			end = s + strlen(s);
		if (end == s)
			return rules_err(p, col, "empty user name in '%s'", t->s);
		if (*s == '/')
			ret = rules_read_user_file(p, r, s, (size_t)(end - s), col);
		else
			ret = rules_add_user(p, r, s, (size_t)(end - s), col);
		if (ret)
			return ret;
		if (!*end)
			return 0;
		s = end + 1;
	}
}

static int rules_parse_addr(const char *s, int *family, union packet_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &a->v4) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a->v6) == 1) {
		*family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

static void rules_prefix_mask(int family, unsigned int prefix, union packet_addr *mask)
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

/* Length of a contiguous mask, or -1 if it has holes. */
static int rules_prefix_len(int family, const union packet_addr *mask)
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

static bool rules_mask_is_full(int family, const union packet_addr *mask)
{
	return rules_prefix_len(family, mask) == (family == AF_INET ? 32 : 128);
}

static void rules_apply_mask(struct rule *r)
{
	unsigned int i;

	if (r->family == AF_INET) {
		r->addr.v4.s_addr &= r->mask.v4.s_addr;
		return;
	}
	for (i = 0; i < 16; i++)
		r->addr.v6.s6_addr[i] &= r->mask.v6.s6_addr[i];
}

/* addr/prefix */
static int rules_parse_cidr(struct rules_parser *p, struct rule *r, const struct rules_tok *t,
			    char *slash)
{
	const char *plen = slash + 1;
	unsigned int max;
	long prefix;
	int ret;

	*slash = '\0';
	ret = rules_parse_addr(t->s, &r->family, &r->addr);
	*slash = '/';
	if (ret)
		return rules_err(p, t->col,
				 "bad address '%s' (expected an IPv4 or IPv6 address, "
				 "ADDR/PREFIX or LOCALHOSTNAME)",
				 t->s);
	max = r->family == AF_INET ? 32 : 128;
	prefix = rules_number(plen, strlen(plen));
	if (prefix < 0 || prefix > max)
		return rules_err(p, t->col + (unsigned int)(plen - t->s),
				 "bad prefix length '%s' in '%s' (expected 0-%u)", plen, t->s, max);
	rules_prefix_mask(r->family, (unsigned int)prefix, &r->mask);
	return 0;
}

static int rules_parse_port(struct rules_parser *p, const struct rules_tok *t, uint16_t *port)
{
	struct servent se, *res = NULL;
	char buf[1024];
	size_t len = strlen(t->s);
	long v;

	if (rules_is_digits(t->s, len)) {
		v = rules_number(t->s, len);
		if (v < 0 || v > 65535)
			return rules_err(p, t->col, "port '%s' out of range (expected 0-65535)",
					 t->s);
		*port = (uint16_t)v;
		return 0;
	}
	if (getservbyname_r(t->s, "tcp", &se, buf, sizeof(buf), &res) || !res)
		return rules_err(p, t->col,
				 "unknown port '%s' (expected a number 0-65535 or a service name)",
				 t->s);
	*port = ntohs((uint16_t)res->s_port);
	return 0;
}

static int rules_check_command(struct rules_parser *p, const char *cmd, unsigned int col)
{
	const char *s;

	for (s = cmd; *s; s++) {
		if (*s != '%')
			continue;
		if (!s[1])
			return rules_err(p, col + (unsigned int)(s - cmd),
					 "'%%' at the end of the command (write %%%% for a "
					 "literal %%)");
		if (!strchr("AacpSsUuZz%", s[1]))
			return rules_err(p, col + (unsigned int)(s - cmd),
					 "unknown token '%%%c' in the command (expected %%A, %%a, "
					 "%%c, %%p, %%S, %%s, %%U, %%u, %%Z, %%z or %%%%)",
					 s[1]);
		s++;
	}
	return 0;
}

static int rules_resolve_default(const char *name, int *family, union packet_addr *addrs,
				 size_t max)
{
	struct addrinfo hints, *res, *ai;
	size_t n = 0;
	int ret;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	ret = getaddrinfo(name, NULL, &hints, &res);
	if (ret == EAI_SYSTEM)
		return errno ? -errno : -EIO;
	if (ret == EAI_AGAIN)
		return -EAGAIN;
	if (ret == EAI_MEMORY)
		return -ENOMEM;
	if (ret)
		return -ENXIO;
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

static bool rules_same_addr(int family, const union packet_addr *a, const union packet_addr *b)
{
	if (family == AF_INET)
		return a->v4.s_addr == b->v4.s_addr;
	return IN6_ARE_ADDR_EQUAL(&a->v6, &b->v6);
}

/* This host's addresses, resolved once per parse, without duplicates. */
static int rules_local_addrs(struct rules_parser *p, unsigned int col)
{
	int family[RULES_MAX_LOCAL_ADDRS];
	union packet_addr addrs[RULES_MAX_LOCAL_ADDRS];
	char name[HOST_NAME_MAX + 2];
	int n, i, j;

	if (p->n_local >= 0)
		return 0;
	memset(name, 0, sizeof(name));
	memset(addrs, 0, sizeof(addrs));
	if (gethostname(name, sizeof(name) - 1))
		return rules_err(p, col, "cannot get this host's name for LOCALHOSTNAME: %s",
				 strerror(errno));
	n = p->resolve(name, family, addrs, RULES_MAX_LOCAL_ADDRS);
	if (n < 0)
		return rules_err(p, col, "cannot resolve LOCALHOSTNAME ('%s'): %s", name,
				 strerror(-n));
	if (n > RULES_MAX_LOCAL_ADDRS)
		n = RULES_MAX_LOCAL_ADDRS;
	p->n_local = 0;
	for (i = 0; i < n; i++) {
		if (family[i] != AF_INET && family[i] != AF_INET6)
			continue;
		for (j = 0; j < p->n_local; j++)
			if (p->local_family[j] == family[i] &&
			    rules_same_addr(family[i], &p->local_addr[j], &addrs[i]))
				break;
		if (j < p->n_local)
			continue;
		p->local_family[p->n_local] = family[i];
		p->local_addr[p->n_local++] = addrs[i];
	}
	if (!p->n_local) {
		p->n_local = -1;
		return rules_err(p, col, "LOCALHOSTNAME ('%s') has no IPv4 or IPv6 address", name);
	}
	return 0;
}

static const char *rules_family_name(int family)
{
	return family == AF_INET ? "IPv4" : "IPv6";
}

/* One LOCALHOSTNAME rule per address of this host, all with the same mask. */
static int rules_append_local(struct rules_parser *p, struct rule *r, const struct rules_tok *addr,
			      const struct rules_tok *mask_tok, int mask_family,
			      const union packet_addr *mask)
{
	char text[INET6_ADDRSTRLEN];
	int i, ret;

	ret = rules_local_addrs(p, addr->col);
	if (ret)
		return ret;
	for (i = 0; i < p->n_local; i++) {
		r->family = p->local_family[i];
		r->addr = p->local_addr[i];
		if (mask_family == r->family) {
			r->mask = *mask;
		} else if (rules_mask_is_full(mask_family, mask)) {
			rules_prefix_mask(r->family, r->family == AF_INET ? 32 : 128, &r->mask);
		} else {
			inet_ntop(r->family, &r->addr, text, sizeof(text));
			return rules_err(p, mask_tok->col,
					 "mask '%s' does not fit LOCALHOSTNAME's %s address %s "
					 "(255.255.255.255 means exactly this host)",
					 mask_tok->s, rules_family_name(r->family), text);
		}
		rules_apply_mask(r);
		ret = rules_append(p, r);
		if (ret)
			return ret;
	}
	return 0;
}

/* The address, mask, port and command of a rule, from field @i on. */
static int rules_parse_dest(struct rules_parser *p, struct rule *r, struct rules_line *l,
			    unsigned int i)
{
	const struct rules_tok *addr, *mask_tok = NULL;
	union packet_addr mask;
	int mask_family = 0, ret;
	bool local;
	char *slash;
	unsigned int op;

	if (i == l->n)
		return rules_err(p, rules_after(&l->tok[i - 1]), "expected an address after '%s'",
				 l->tok[i - 1].s);
	addr = &l->tok[i++];
	local = !strcmp(addr->s, "LOCALHOSTNAME");
	slash = strchr(addr->s, '/');
	if (slash) {
		ret = rules_parse_cidr(p, r, addr, slash);
		if (ret)
			return ret;
		if (i < l->n && !rules_parse_addr(l->tok[i].s, &mask_family, &mask))
			return rules_err(p, l->tok[i].col, "unexpected mask '%s' after a /prefix",
					 l->tok[i].s);
	} else {
		if (!local && rules_parse_addr(addr->s, &r->family, &r->addr))
			return rules_err(p, addr->col,
					 "bad address '%s' (expected an IPv4 or IPv6 address, "
					 "ADDR/PREFIX or LOCALHOSTNAME)",
					 addr->s);
		if (i == l->n)
			return rules_err(p, rules_after(addr), "expected a mask after '%s'",
					 addr->s);
		mask_tok = &l->tok[i++];
		if (rules_parse_addr(mask_tok->s, &mask_family, &mask))
			return rules_err(p, mask_tok->col, "bad mask '%s'", mask_tok->s);
		if (!local && mask_family != r->family)
			return rules_err(p, mask_tok->col,
					 "mask '%s' is an %s mask but the address '%s' is %s",
					 mask_tok->s, rules_family_name(mask_family), addr->s,
					 rules_family_name(r->family));
		r->mask = mask;
	}
	if (i < l->n) {
		for (op = RULE_OP_EQ; op < ARRAY_SIZE(rules_op_names); op++)
			if (!strcmp(l->tok[i].s, rules_op_names[op]))
				break;
		if (op == ARRAY_SIZE(rules_op_names))
			return rules_err(p, l->tok[i].col,
					 "unknown operator '%s' (expected eq, neq, lt, gt, le, ge)",
					 l->tok[i].s);
		r->op = (enum rule_op)op;
		if (++i == l->n)
			return rules_err(p, rules_after(&l->tok[i - 1]),
					 "expected a port after '%s'", l->tok[i - 1].s);
		ret = rules_parse_port(p, &l->tok[i++], &r->port);
		if (ret)
			return ret;
		if (i < l->n)
			return rules_err(p, l->tok[i].col,
					 "unexpected '%s' after the port (expected the end of the "
					 "line or ': command')",
					 l->tok[i].s);
	}
	if (l->command) {
		if (!p->allow_commands)
			return rules_err(p, l->command_col,
					 "rule commands run a shell command per connection; "
					 "allow them with --allow-rule-commands");
		if (!*l->command)
			return rules_err(p, l->command_col, "expected a command after ':'");
		ret = rules_check_command(p, l->command, l->command_text_col);
		if (ret)
			return ret;
		r->command = strdup(l->command);
		if (!r->command)
			return rules_nomem(p);
	}
	if (local)
		return rules_append_local(p, r, addr, mask_tok, mask_family, &mask);
	rules_apply_mask(r);
	return rules_append(p, r);
}

static int rules_parse_rule_line(struct rules_parser *p, char *buf, size_t len)
{
	struct rules_line l;
	struct rule r;
	unsigned int i, a;
	bool servers = false, users = false;
	int ret = 0;

	rules_lex(&l, buf, len, false);
	if (!l.n) {
		if (l.command)
			return rules_err(p, l.command_col, "expected an action before ':'");
		return 0;
	}
	memset(&r, 0, sizeof(r));
	r.line = p->line;
	for (a = 0; a < ARRAY_SIZE(rules_actions); a++)
		if (!strcmp(l.tok[0].s, rules_actions[a].name))
			break;
	if (a == ARRAY_SIZE(rules_actions))
		return rules_err(
			p, l.tok[0].col,
			"unknown action '%s' (expected deny, direct, sockd, sockd4, sockd5)",
			l.tok[0].s);
	r.action = rules_actions[a].action;
	r.socks_version = rules_actions[a].socks_version;
	for (i = 1; i < l.n && !ret; i++) {
		const struct rules_tok *t = &l.tok[i];

		if (!strncmp(t->s, "@=", 2)) {
			if (r.action != RULE_SOCKD)
				ret = rules_err(p, t->col, "'@=' is only valid with sockd");
			else if (servers)
				ret = rules_err(p, t->col, "'@=' given twice");
			else
				ret = rules_parse_servers(p, &r, t);
			servers = true;
		} else if (!strncmp(t->s, "*=", 2)) {
			if (users)
				ret = rules_err(p, t->col, "'*=' given twice");
			else
				ret = rules_parse_users(p, &r, t);
			users = true;
		} else {
			break;
		}
	}
	if (!ret)
		ret = rules_parse_dest(p, &r, &l, i);
	rules_rule_clear(&r);
	return ret;
}

/*
 * Feed each line of @text to @fn, after checking its length and that it holds
 * no NUL byte. The last line needs no newline.
 */
static int rules_each_line(struct rules_parser *p, const char *text, size_t len,
			   int (*fn)(struct rules_parser *p, char *buf, size_t len))
{
	char buf[RULES_MAX_LINE + 1];
	const char *end = text + len, *nl, *nul;
	size_t n;
	int ret;

	for (p->line = 1; text < end; p->line++, text = nl + 1) {
		nl = memchr(text, '\n', (size_t)(end - text));
		if (!nl)
			nl = end;
		n = (size_t)(nl - text);
		if (n > RULES_MAX_LINE)
			return rules_err(p, RULES_MAX_LINE + 1,
					 "line too long (more than %d bytes)", RULES_MAX_LINE);
		nul = memchr(text, '\0', n);
		if (nul)
			return rules_err(p, (unsigned int)(nul - text) + 1, "NUL byte in the line");
		memcpy(buf, text, n);
		buf[n] = '\0';
		ret = fn(p, buf, n);
		if (ret)
			return ret;
	}
	return 0;
}

static void rules_init(struct rules_parser *p, struct rules *out, const char *file, char *err,
		       size_t errlen)
{
	memset(out, 0, sizeof(*out));
	memset(p, 0, sizeof(*p));
	p->out = out;
	p->file = file ? file : "(rules)";
	p->err = err;
	p->errlen = errlen;
	p->n_local = -1;
	p->resolve = rules_resolve_default;
	if (errlen)
		err[0] = '\0';
}

static int rules_finish(struct rules_parser *p, int ret)
{
	struct rule *fit;

	if (!ret && p->out->n && p->out->n < p->cap) { /* a rule is 2 KiB: trim the doubling */
		fit = realloc(p->out->rule, p->out->n * sizeof(*fit));
		if (fit)
			p->out->rule = fit;
	}
	if (!ret) {
		p->out->file = strdup(p->file);
		if (!p->out->file)
			ret = rules_nomem(p);
	}
	if (ret)
		rules_free(p->out);
	return ret;
}

/**
 * rules_parse() - Parse a rule file in socks.conf grammar
 * @out:    filled with the rules; empty on error
 * @text:   file contents (need not be NUL-terminated)
 * @len:    length of @text
 * @file:   file name for messages
 * @po:     what the file may ask for, NULL for the defaults (no commands)
 * @err:    receives "FILE:LINE:COL: message" on error
 * @errlen: size of @err
 *
 * Return: 0, -EINVAL if a line does not parse, -ENOMEM
 */
int rules_parse(struct rules *out, const char *text, size_t len, const char *file,
		const struct rules_parse_opts *po, char *err, size_t errlen)
{
	struct rules_parser p;

	rules_init(&p, out, file, err, errlen);
	if (po) {
		p.allow_commands = po->allow_commands;
		if (po->resolve)
			p.resolve = po->resolve;
	}
	return rules_finish(&p, rules_each_line(&p, text, len, rules_parse_rule_line));
}

/**
 * rules_load() - Read and parse a rule file
 * @out:    filled with the rules; empty on error
 * @path:   file to read
 * @po:     as for rules_parse()
 * @err:    receives the message on error
 * @errlen: size of @err
 *
 * Return: 0, -errno if the file cannot be read ("cannot read FILE: reason"),
 * or as rules_parse()
 */
int rules_load(struct rules *out, const char *path, const struct rules_parse_opts *po, char *err,
	       size_t errlen)
{
	size_t len = 0, cap = 0;
	char *text = NULL, *grown;
	ssize_t got;
	int fd, ret;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-ret));
		return ret;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			if (cap > (size_t)RULES_MAX_FILE + 1)
				cap = (size_t)RULES_MAX_FILE + 1;
			if (len == cap) {
				snprintf(err, errlen, "cannot read %s: larger than %d bytes", path,
					 RULES_MAX_FILE);
				ret = -EFBIG;
				goto out;
			}
			grown = realloc(text, cap);
			if (!grown) {
				snprintf(err, errlen, "cannot read %s: out of memory", path);
				ret = -ENOMEM;
				goto out;
			}
			text = grown;
		}
		got = read(fd, text + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			ret = -errno;
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(-ret));
			goto out;
		}
		if (!got)
			break;
		len += (size_t)got;
	}
	ret = rules_parse(out, text ? text : "", len, path, po, err, errlen);
out:
	free(text);
	close(fd);
	return ret;
}

/* tsocks.conf(5) */

/* A growing array of rules without users or commands (shallow copies). */
struct rules_list {
	struct rule *rule;
	size_t n, cap;
};

/* The SOCKS server of the top level or of a path block, and where each part was given. */
struct rules_tsocks_server {
	struct rule_server server;
	unsigned int server_line, port_line, type_line; /* 0: not given */
	uint8_t type;
};

struct rules_tsocks_path {
	unsigned int line; /* of "path {" */
	struct rules_tsocks_server srv;
	struct rules_list reaches;
};

struct rules_tsocks {
	struct rules_tsocks_server def;
	struct rules_list local;
	struct rules_tsocks_path *paths;
	size_t n_paths;
	long open; /* index of the path block being read, -1 if none */
	size_t total;
	unsigned int user_line, pass_line;
};

static int rules_list_add(struct rules_parser *p, struct rules_list *l, const struct rule *r)
{
	struct rule *grown;
	size_t cap;

	if (p->ts->total >= RULES_MAX_RULES)
		return rules_err(p, 1, "too many rules (more than %d)", RULES_MAX_RULES);
	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 8;
		grown = realloc(l->rule, cap * sizeof(*grown));
		if (!grown)
			return rules_nomem(p);
		l->rule = grown;
		l->cap = cap;
	}
	l->rule[l->n++] = *r;
	p->ts->total++;
	return 0;
}

static int rules_tsocks_port(struct rules_parser *p, const char *s, size_t len, unsigned int col,
			     const char *net, long *port)
{
	*port = rules_number(s, len);
	if (*port < 1 || *port > 65535)
		return rules_err(p, col, "bad port '%.*s' in '%s' (expected 1-65535)", (int)len, s,
				 net);
	return 0;
}

/*
 * ADDR/MASK, where MASK is dotted or a prefix length; with @lo and @hi also
 * ADDR:PORT[-PORT]/MASK (as tsocks reads it) or ADDR/MASK:PORT[-PORT].
 */
static int rules_tsocks_net(struct rules_parser *p, const struct rules_tok *t, struct rule *r,
			    long *lo, long *hi)
{
	char net[RULES_MAX_LINE + 1], *slash, *mask, *ports = NULL, *dash;
	unsigned int col;
	long prefix;

	strcpy(net, t->s);
	slash = strchr(net, '/');
	if (!slash)
		return rules_err(p, t->col, "bad network '%s' (expected ADDR/MASK%s)", t->s,
				 lo ? " or ADDR:PORT[-PORT]/MASK" : "");
	*slash = '\0';
	mask = slash + 1;
	if ((ports = strchr(net, ':')) || (ports = strchr(mask, ':')))
		*ports++ = '\0';
	memset(r, 0, sizeof(*r));
	r->family = AF_INET;
	r->line = p->line;
	if (inet_pton(AF_INET, net, &r->addr.v4) != 1)
		return rules_err(p, t->col, "bad address '%s' in '%s' (expected an IPv4 address)",
				 net, t->s);
	col = t->col + (unsigned int)(mask - net);
	prefix = rules_number(mask, strlen(mask));
	if (prefix >= 0 && prefix <= 32)
		rules_prefix_mask(AF_INET, (unsigned int)prefix, &r->mask);
	else if (rules_is_digits(mask, strlen(mask)) || inet_pton(AF_INET, mask, &r->mask.v4) != 1)
		return rules_err(p, col, "bad mask '%s' in '%s'", mask, t->s);
	if ((r->addr.v4.s_addr & r->mask.v4.s_addr) != r->addr.v4.s_addr)
		return rules_err(p, t->col, "address %s has bits set outside the mask in '%s'", net,
				 t->s);
	if (!ports)
		return 0;
	col = t->col + (unsigned int)(ports - net);
	if (!lo)
		return rules_err(p, col - 1, "ports are not allowed in 'local' ('%s')", t->s);
	dash = strchr(ports, '-');
	if (rules_tsocks_port(p, ports, dash ? (size_t)(dash - ports) : strlen(ports), col, t->s,
			      lo))
		return -EINVAL;
	*hi = *lo;
	if (dash && rules_tsocks_port(p, dash + 1, strlen(dash + 1),
				      col + (unsigned int)(dash + 1 - ports), t->s, hi))
		return -EINVAL;
	if (*hi < *lo)
		return rules_err(p, col, "port range '%s' ends before it starts", ports);
	return 0;
}

/* reaches: one rule, or one per port of a short range that no operator can express */
static int rules_tsocks_reaches(struct rules_parser *p, struct rules_list *l,
				const struct rules_tok *t)
{
	long lo = 0, hi = 0, port;
	struct rule r;
	int ret;

	ret = rules_tsocks_net(p, t, &r, &lo, &hi);
	if (ret)
		return ret;
	r.action = RULE_SOCKD;
	if (!lo || (lo == 1 && hi == 65535))
		return rules_list_add(p, l, &r);
	r.op = lo == hi ? RULE_OP_EQ : lo == 1 ? RULE_OP_LE : hi == 65535 ? RULE_OP_GE : RULE_OP_EQ;
	r.port = (uint16_t)(r.op == RULE_OP_LE ? hi : lo);
	if (r.op != RULE_OP_EQ || lo == hi)
		return rules_list_add(p, l, &r);
	if (hi - lo + 1 > RULES_MAX_RANGE)
		return rules_err(p, t->col,
				 "port range in '%s' is too wide to convert (at most %d ports, "
				 "or a range from 1 or up to 65535)",
				 t->s, RULES_MAX_RANGE);
	for (port = lo, ret = 0; port <= hi && !ret; port++) {
		r.port = (uint16_t)port;
		ret = rules_list_add(p, l, &r);
	}
	return ret;
}

static int rules_tsocks_twice(struct rules_parser *p, const struct rules_tok *key,
			      unsigned int first)
{
	return rules_err(p, key->col, "'%s' given twice (first on line %u)", key->s, first);
}

static int rules_tsocks_setting(struct rules_parser *p, const struct rules_tok *key,
				const struct rules_tok *value)
{
	struct rules_tsocks *ts = p->ts;
	struct rules_tsocks_path *path = ts->open >= 0 ? &ts->paths[ts->open] : NULL;
	struct rules_tsocks_server *srv = path ? &path->srv : &ts->def;
	struct rule r;
	long v;
	int ret;

	if (!strcmp(key->s, "server")) {
		if (srv->server_line)
			return rules_tsocks_twice(p, key, srv->server_line);
		ret = rules_parse_server(p, &srv->server, value->s, strlen(value->s), value->col);
		if (ret)
			return ret;
		if (srv->server.port)
			return rules_err(
				p, value->col,
				"a port in 'server' is not tsocks syntax (use server_port)");
		srv->server_line = p->line;
	} else if (!strcmp(key->s, "server_port")) {
		if (srv->port_line)
			return rules_tsocks_twice(p, key, srv->port_line);
		v = rules_number(value->s, strlen(value->s));
		if (v < 1 || v > 65535)
			return rules_err(p, value->col, "bad server_port '%s' (expected 1-65535)",
					 value->s);
		srv->server.port = (uint16_t)v;
		srv->port_line = p->line;
	} else if (!strcmp(key->s, "server_type")) {
		if (srv->type_line)
			return rules_tsocks_twice(p, key, srv->type_line);
		if (strcmp(value->s, "4") && strcmp(value->s, "5"))
			return rules_err(p, value->col, "bad server_type '%s' (expected 4 or 5)",
					 value->s);
		srv->type = (uint8_t)(value->s[0] - '0');
		srv->type_line = p->line;
	} else if (!strcmp(key->s, "default_user") || !strcmp(key->s, "default_pass")) {
		bool user = key->s[8] == 'u';
		unsigned int *line = user ? &ts->user_line : &ts->pass_line;
		char **dst = user ? &p->out->socks_user : &p->out->socks_pass;

		if (path)
			return rules_err(p, key->col,
					 "'%s' inside a path block is not supported (pmsocks-ns "
					 "has one SOCKS user name and password)",
					 key->s);
		if (*line)
			return rules_tsocks_twice(p, key, *line);
		*dst = strdup(value->s);
		if (!*dst)
			return rules_nomem(p);
		*line = p->line;
	} else if (!strcmp(key->s, "local")) {
		if (path)
			return rules_err(p, key->col,
					 "'local' is not valid inside a path block (the block "
					 "starts on line %u)",
					 path->line);
		ret = rules_tsocks_net(p, value, &r, NULL, NULL);
		if (ret)
			return ret;
		r.action = RULE_DIRECT;
		return rules_list_add(p, &ts->local, &r);
	} else if (!strcmp(key->s, "reaches")) {
		if (!path)
			return rules_err(p, key->col,
					 "'reaches' is only valid inside a path block");
		return rules_tsocks_reaches(p, &path->reaches, value);
	} else {
		return rules_err(p, key->col,
				 "unknown setting '%s' (expected server, server_port, "
				 "server_type, default_user, default_pass, local, reaches or path)",
				 key->s);
	}
	return 0;
}

static int rules_tsocks_line(struct rules_parser *p, char *buf, size_t len)
{
	struct rules_tsocks *ts = p->ts;
	struct rules_tsocks_path *grown, *path;
	struct rules_line l;

	rules_lex(&l, buf, len, true);
	if (!l.n)
		return 0;
	if (!strcmp(l.tok[0].s, "path")) {
		if (l.n < 2 || strcmp(l.tok[1].s, "{"))
			return rules_err(p, l.n < 2 ? rules_after(&l.tok[0]) : l.tok[1].col,
					 "expected '{' after 'path'");
		if (l.n > 2)
			return rules_err(p, l.tok[2].col, "unexpected '%s' after 'path {'",
					 l.tok[2].s);
		if (ts->open >= 0)
			return rules_err(p, l.tok[0].col,
					 "path blocks cannot be nested (the open one starts on "
					 "line %u)",
					 ts->paths[ts->open].line);
		grown = realloc(ts->paths, (ts->n_paths + 1) * sizeof(*grown));
		if (!grown)
			return rules_nomem(p);
		ts->paths = grown;
		memset(&ts->paths[ts->n_paths], 0, sizeof(*grown));
		ts->paths[ts->n_paths].line = p->line;
		ts->open = (long)ts->n_paths++;
		return 0;
	}
	if (!strcmp(l.tok[0].s, "}")) {
		if (l.n > 1)
			return rules_err(p, l.tok[1].col, "unexpected '%s' after '}'", l.tok[1].s);
		if (ts->open < 0)
			return rules_err(p, l.tok[0].col, "'}' without 'path {'");
		path = &ts->paths[ts->open];
		if (!path->srv.server_line)
			return rules_err(p, l.tok[0].col,
					 "the path block starting on line %u has no server",
					 path->line);
		if (!path->reaches.n)
			return rules_err(p, l.tok[0].col,
					 "the path block starting on line %u has no 'reaches'",
					 path->line);
		ts->open = -1;
		return 0;
	}
	if (l.n == 1)
		return rules_err(p, rules_after(&l.tok[0]), "expected '= value' after '%s'",
				 l.tok[0].s);
	if (strcmp(l.tok[1].s, "="))
		return rules_err(p, l.tok[1].col, "expected '=' after '%s'", l.tok[0].s);
	if (l.n == 2)
		return rules_err(p, rules_after(&l.tok[1]), "expected a value after '='");
	if (l.n > 3)
		return rules_err(p, l.tok[3].col, "unexpected '%s' after the value", l.tok[3].s);
	return rules_tsocks_setting(p, &l.tok[0], &l.tok[2]);
}

/* Rules with @srv as their SOCKS server, appended to the output. */
static int rules_tsocks_emit(struct rules_parser *p, const struct rules_list *l,
			     const struct rules_tsocks_server *srv)
{
	struct rule r;
	size_t i;
	int ret;

	for (i = 0; i < l->n; i++) {
		r = l->rule[i];
		if (srv) {
			r.servers[0] = srv->server;
			r.n_servers = 1;
			r.socks_version = srv->type ? srv->type : 4;
		}
		ret = rules_append(p, &r);
		if (ret)
			return ret;
	}
	return 0;
}

static int rules_tsocks_finish(struct rules_parser *p)
{
	struct rules_tsocks *ts = p->ts;
	struct rules_list all = {0};
	struct rule def;
	size_t i;
	int ret;

	if (ts->open >= 0) {
		p->line = ts->paths[ts->open].line;
		return rules_err(p, 1, "'path {' without a closing '}'");
	}
	if (!ts->def.server_line && (ts->def.port_line || ts->def.type_line)) {
		p->line = ts->def.port_line ? ts->def.port_line : ts->def.type_line;
		return rules_err(p, 1, "'%s' without a 'server'",
				 ts->def.port_line ? "server_port" : "server_type");
	}
	ret = rules_tsocks_emit(p, &ts->local, NULL);
	for (i = ts->n_paths; i-- > 0 && !ret;) /* tsocks tries the last path block first */
		ret = rules_tsocks_emit(p, &ts->paths[i].reaches, &ts->paths[i].srv);
	if (ret || !ts->def.server_line)
		return ret;
	memset(&def, 0, sizeof(def));
	def.action = RULE_SOCKD;
	def.family = AF_INET; /* tsocks is IPv4 only: 0.0.0.0/0 */
	def.line = ts->def.server_line;
	all.rule = &def;
	all.n = 1;
	return rules_tsocks_emit(p, &all, &ts->def);
}

/**
 * rules_parse_tsocks() - Read a tsocks.conf(5) into rules
 * @out:    filled with the rules, and default_user/default_pass; empty on error
 * @text:   file contents
 * @len:    length of @text
 * @file:   file name for messages
 * @err:    receives "FILE:LINE:COL: message" on error
 * @errlen: size of @err
 *
 * local networks become direct rules, path blocks sockd rules through their
 * server (the last block first, as tsocks tries them), and the top-level
 * server a final sockd rule for 0.0.0.0/0. The server type defaults to 4 as in
 * tsocks. A port range that is not 1-N, N-65535 or at most 256 ports long
 * cannot be expressed and is an error.
 *
 * Return: 0, -EINVAL if a line does not parse, -ENOMEM
 */
int rules_parse_tsocks(struct rules *out, const char *text, size_t len, const char *file, char *err,
		       size_t errlen)
{
	struct rules_parser p;
	struct rules_tsocks ts;
	size_t i;
	int ret;

	rules_init(&p, out, file, err, errlen);
	memset(&ts, 0, sizeof(ts));
	ts.open = -1;
	p.ts = &ts;
	ret = rules_each_line(&p, text, len, rules_tsocks_line);
	if (!ret)
		ret = rules_tsocks_finish(&p);
	free(ts.local.rule);
	for (i = 0; i < ts.n_paths; i++)
		free(ts.paths[i].reaches.rule);
	free(ts.paths);
	return rules_finish(&p, ret);
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
