/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rules_internal.h - What the rule file modules share, and nothing else sees
 *
 * Theory of operation: the rule module is three files. rules.c is the runtime
 * side (host addresses, route, matcher, printer, command expansion, resolving
 * SOCKS servers, freeing), rules_parse.c reads socks.conf and rules_tsocks.c
 * converts a tsocks.conf into the same struct rules. Both parsers drive the
 * same struct rules_parser through the same lexer, line splitter and error
 * reporting, which live in rules_parse.c and are declared here. rules.c needs
 * none of the parser: it provides what the parsers, matcher and printer have
 * in common (operator names, mask arithmetic, address comparison, name
 * resolution, clearing a rule), so a program that only routes and matches
 * links rules.c alone.
 *
 * This header is private to src/rules*.c; other modules use
 * include/pmsocks-ns/rules.h.
 */
#ifndef PMSOCKS_NS_RULES_INTERNAL_H
#define PMSOCKS_NS_RULES_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "pmsocks-ns/rules.h"

#define RULES_MAX_TOKENS      9	 /* a rule has at most 7 fields: the 8th is reported */
#define RULES_MAX_LOCAL_ADDRS 16 /* LOCALHOSTNAME addresses used */

/* Operator keywords by enum rule_op; "" for RULE_OP_NONE. In rules.c. */
extern const char *const rules_op_names[RULE_OP_GE + 1];

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

struct rules_tsocks; /* rules_tsocks.c */

/* State of one rules_parse() or rules_parse_tsocks() call. */
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

/* rules.c */
bool rules_same_addr(int family, const union packet_addr *a, const union packet_addr *b);
void rules_rule_clear(struct rule *r);
int rules_prefix_len(int family, const union packet_addr *mask);
bool rules_mask_is_full(int family, const union packet_addr *mask);
void rules_prefix_mask(int family, unsigned int prefix, union packet_addr *mask);
void rules_apply_mask(struct rule *r);
int rules_resolve_addrs(const char *name, int *family, union packet_addr *addrs, size_t max);

/* rules_parse.c */
__attribute__((format(printf, 3, 4))) int rules_err(struct rules_parser *p, unsigned int col,
						    const char *fmt, ...);
int rules_nomem(struct rules_parser *p);
bool rules_is_digits(const char *s, size_t len);
long rules_number(const char *s, size_t len);
void rules_lex(struct rules_line *l, char *buf, size_t len, bool tsocks);
unsigned int rules_after(const struct rules_tok *t);
int rules_append(struct rules_parser *p, const struct rule *r);
int rules_parse_server(struct rules_parser *p, struct rule_server *srv, const char *s, size_t len,
		       unsigned int col);
int rules_each_line(struct rules_parser *p, const char *text, size_t len,
		    int (*fn)(struct rules_parser *p, char *buf, size_t len));
void rules_parser_init(struct rules_parser *p, struct rules *out, const char *file, char *err,
		       size_t errlen);
int rules_parser_finish(struct rules_parser *p, int ret);

#endif
