// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rules_parse.c - Reading a rule file in the socks.conf grammar
 *
 * Theory of operation: the rule file keeps the CSTC socks.conf grammar
 * pmsocks documented, one rule a line:
 *
 *   deny|direct|sockd|sockd4|sockd5 [@=server[:port],...] [*=user,...]
 *       addr mask | addr/prefix | LOCALHOSTNAME mask  [op port]  [: command]
 *
 * rules_parse() reads it once, at start-up and on SIGHUP, into the array of
 * struct rule that rules.c matches against: everything the matcher needs is
 * resolved here (LOCALHOSTNAME to its addresses, one rule per address; *=/file
 * user lists to the names in the file; service names to port numbers), and
 * each rule gets its own @= server array, exactly as long as the list. Lines
 * (rules_each_line()) are split into fields (rules_lex()) and read into a rule
 * on the stack that rules_append() deep-copies into the output; the
 * tsocks.conf converter (rules_tsocks.c) shares these through rules_internal.h.
 *
 * Parsing is all or nothing: the first line that does not parse stops it with
 * "FILE:LINE:COL: message" naming the bad token and what was expected, and
 * nothing is kept. Nothing is skipped or widened to match everything. A
 * ": command" suffix runs a shell command per connection in CSTC SOCKS, so it
 * is refused unless the caller allows it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include "rules_internal.h"

#define RULES_MAX_USERS	    65536
#define RULES_MAX_USER_FILE (1 << 20)
#define RULES_MAX_USER_NAME 255

static const struct {
	const char *name;
	enum rule_action action;
	uint8_t socks_version;
} rules_actions[] = {
	{"deny", RULE_DENY, 0},	   {"direct", RULE_DIRECT, 0}, {"sockd", RULE_SOCKD, 0},
	{"sockd4", RULE_SOCKD, 4}, {"sockd5", RULE_SOCKD, 5},
};

/**
 * rules_err() - Report a parse error at a column of the current line
 * @p:   parser
 * @col: 1-based column of the bad token, or where a missing one was expected
 * @fmt: message, printf-style, after "FILE:LINE:COL: "
 *
 * Return: -EINVAL
 */
int rules_err(struct rules_parser *p, unsigned int col, const char *fmt, ...)
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

/**
 * rules_nomem() - Report an allocation failure on the current line
 * @p: parser
 *
 * Return: -ENOMEM
 */
int rules_nomem(struct rules_parser *p)
{
	if (p->errlen)
		snprintf(p->err, p->errlen, "%s:%u: out of memory", p->file, p->line);
	return -ENOMEM;
}

static bool rules_is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/**
 * rules_is_digits() - Whether a string is a non-empty run of decimal digits
 * @s:   string, need not be NUL-terminated
 * @len: its length, 0 giving false
 */
bool rules_is_digits(const char *s, size_t len)
{
	size_t i;

	if (!len)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/**
 * rules_number() - A decimal number of at most 5 digits (so it cannot overflow)
 * @s:   digits, need not be NUL-terminated
 * @len: their count
 *
 * Return: the value, or -1 if @s is not 1 to 5 digits
 */
long rules_number(const char *s, size_t len)
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

/**
 * rules_lex() - Split a line into fields at blanks
 * @l:      receives the fields (at most RULES_MAX_TOKENS) and the command
 * @buf:    the line, NUL-terminated at @len; fields are NUL-terminated in place
 * @len:    length of the line
 * @tsocks: lex a tsocks.conf line
 *
 * In a rule file a '#' anywhere ends the line and a ':' starting a field
 * begins the command, which keeps the rest of the line, '#' included, unless
 * it is the "::" of an IPv6 address such as "::/0"; in a tsocks.conf only a
 * field starting with '#' is a comment, and there are no commands.
 */
void rules_lex(struct rules_line *l, char *buf, size_t len, bool tsocks)
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

/**
 * rules_after() - Column just after a field, where a missing one was expected
 * @t: the field
 */
unsigned int rules_after(const struct rules_tok *t)
{
	return t->col + (unsigned int)strlen(t->s);
}

/**
 * rules_append() - Append a deep copy of a rule to the parser's output
 * @p: parser
 * @r: rule; its servers, users and command are copied, not taken
 *
 * Return: 0, -EINVAL past RULES_MAX_RULES, or -ENOMEM
 */
int rules_append(struct rules_parser *p, const struct rule *r)
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
	dst->servers = NULL;
	dst->n_servers = 0;
	dst->users = NULL;
	dst->n_users = 0;
	dst->command = NULL;
	if (r->n_servers) {
		dst->servers = malloc(r->n_servers * sizeof(*dst->servers));
		if (!dst->servers)
			return rules_nomem(p);
		memcpy(dst->servers, r->servers, r->n_servers * sizeof(*dst->servers));
		dst->n_servers = r->n_servers;
	}
	if (r->users) {
		dst->users = calloc(r->n_users, sizeof(*dst->users));
		if (!dst->users) {
			rules_rule_clear(dst);
			return rules_nomem(p);
		}
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

/**
 * rules_parse_server() - Read one entry of an @= list or a tsocks "server"
 * @p:   parser
 * @srv: receives host and port (0 if none given); the address is not touched
 * @s:   host, host:port, IPv6, [IPv6] or [IPv6]:port; need not be NUL-terminated
 * @len: length of @s
 * @col: column of @s, for messages
 *
 * Return: 0, or -EINVAL
 */
int rules_parse_server(struct rules_parser *p, struct rule_server *srv, const char *s, size_t len,
		       unsigned int col)
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

/* An @= list, into an array of exactly as many servers as it names. */
static int rules_parse_servers(struct rules_parser *p, struct rule *r, const struct rules_tok *t)
{
	struct rule_server list[RULES_MAX_SERVERS];
	const char *s = t->s + 2, *end;
	unsigned int n = 0;
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
		if (n == RULES_MAX_SERVERS)
			return rules_err(p, col, "too many servers in '%s' (at most %d)", t->s,
					 RULES_MAX_SERVERS);
		memset(&list[n], 0, sizeof(list[n]));
		ret = rules_parse_server(p, &list[n], s, (size_t)(end - s), col);
		if (ret)
			return ret;
		n++;
		if (!*end)
			break;
		s = end + 1;
	}
	r->servers = malloc(n * sizeof(*r->servers));
	if (!r->servers)
		return rules_nomem(p);
	memcpy(r->servers, list, n * sizeof(*r->servers));
	r->n_servers = n;
	return 0;
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

/**
 * rules_each_line() - Feed each line of a file to a line parser
 * @p:    parser; p->line is the line being read
 * @text: file contents, need not be NUL-terminated; the last line needs no newline
 * @len:  length of @text
 * @fn:   called with each line, NUL-terminated, without its newline
 *
 * Return: 0, the first error of @fn, or -EINVAL for a line longer than
 * RULES_MAX_LINE or holding a NUL byte
 */
int rules_each_line(struct rules_parser *p, const char *text, size_t len,
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

/**
 * rules_parser_init() - Start a parse with empty output
 * @p:      parser to set up
 * @out:    output, emptied
 * @file:   file name for messages, NULL for "(rules)"
 * @err:    receives messages
 * @errlen: size of @err
 */
void rules_parser_init(struct rules_parser *p, struct rules *out, const char *file, char *err,
		       size_t errlen)
{
	memset(out, 0, sizeof(*out));
	memset(p, 0, sizeof(*p));
	p->out = out;
	p->file = file ? file : "(rules)";
	p->err = err;
	p->errlen = errlen;
	p->n_local = -1;
	p->resolve = rules_resolve_addrs;
	if (errlen)
		err[0] = '\0';
}

/**
 * rules_parser_finish() - End a parse: keep the output on success, free it on error
 * @p:   parser
 * @ret: result of the parse
 *
 * Return: @ret, or -ENOMEM if the output could not be completed
 */
int rules_parser_finish(struct rules_parser *p, int ret)
{
	struct rule *fit;

	if (!ret && p->out->n && p->out->n < p->cap) { /* trim the doubling */
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

	rules_parser_init(&p, out, file, err, errlen);
	if (po) {
		p.allow_commands = po->allow_commands;
		if (po->resolve)
			p.resolve = po->resolve;
	}
	return rules_parser_finish(&p, rules_each_line(&p, text, len, rules_parse_rule_line));
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
