// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rules_tsocks.c - Converting a tsocks.conf(5) into rules
 *
 * Theory of operation: rules_parse_tsocks() reads a tsocks.conf into the same
 * struct rules a socks.conf gives, so the handler needs one matcher. tsocks
 * settings are "key = value" lines; "path {" ... "}" blocks name a server for
 * the networks they reach. Lines go through the socks.conf lexer (in tsocks
 * mode: '#' starts a comment only at the start of a field, no commands) and
 * are collected first, because the order of the output differs from the
 * order of the file: local networks first (direct), then the path blocks
 * (sockd through the path's server, the last block first as tsocks consults
 * them), then the default server for all other IPv4 destinations. Only then
 * are the rules appended, each with its own one-entry copy of its server.
 *
 * What tsocks can say and a rule cannot (a port range that is not 1-N,
 * N-65535 or short enough to list port by port; per-path credentials) is an
 * error naming the line, never an approximation.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pmsocks-ns/rules.h"
#include "rules_internal.h"

#define RULES_MAX_RANGE 256 /* tsocks port range expanded into "eq" rules */

/* A growing array of rules without servers, users or commands (shallow copies). */
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
	struct rule_server server;
	struct rule r;
	size_t i;
	int ret;

	for (i = 0; i < l->n; i++) {
		r = l->rule[i];
		if (srv) {
			server = srv->server;
			r.servers = &server; /* rules_append() copies it */
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

	rules_parser_init(&p, out, file, err, errlen);
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
	return rules_parser_finish(&p, ret);
}
