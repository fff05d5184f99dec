/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PMSOCKS_NS_RULES_H
#define PMSOCKS_NS_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "pmsocks-ns/ctx.h"
#include "pmsocks-ns/flow.h"
#include "pmsocks-ns/packet.h"

struct rule;

/* Destinations some or all rules may not reach. */
enum rules_addr_class {
	RULES_ADDR_ANY,	  /* as the rules say */
	RULES_ADDR_HOST,  /* the host's loopback, link-local, own: only rules naming them */
	RULES_ADDR_NEVER, /* the sandbox's subnets, multicast, broadcast, unspecified, mapped */
};

int rules_init_host_addrs(void);
enum rules_addr_class rules_addr_class(int family, const union packet_addr *a);
bool rules_addr_always_refused(int family, const union packet_addr *a);
enum route rules_route(const struct ctx *c, const struct flow_key *k, const struct rule **rule_out);

/* What a matching rule does with the connection. */
enum rule_action {
	RULE_DENY,   /* refuse (RST) */
	RULE_DIRECT, /* connect from the host */
	RULE_SOCKD,  /* connect through a SOCKS server */
};

/* How the destination port is compared with the rule's port. */
enum rule_op {
	RULE_OP_NONE, /* any port */
	RULE_OP_EQ,
	RULE_OP_NEQ,
	RULE_OP_LT,
	RULE_OP_GT,
	RULE_OP_LE,
	RULE_OP_GE,
};

#define RULES_MAX_SERVERS 8
#define RULES_MAX_LINE	  4096	     /* bytes in one line, without the newline */
#define RULES_MAX_RULES	  100000     /* rules in one file, after LOCALHOSTNAME expansion */
#define RULES_MAX_FILE	  (64 << 20) /* bytes in a rule file read by rules_load() */

/* One SOCKS server of an @= list: a host name or address literal as written. */
struct rule_server {
	char host[256]; /* IPv6 literals without brackets */
	uint16_t port;	/* 0: SOCKS_PORT, or 1080 */
	struct sockaddr_storage addr;
	socklen_t addrlen; /* filled by rules_resolve_servers(), 0 until then */
};

/* One effective rule (a LOCALHOSTNAME line may give several). */
struct rule {
	enum rule_action action;
	uint8_t socks_version;	     /* RULE_SOCKD: 0 any (sockd), 4 (sockd4) or 5 (sockd5) */
	struct rule_server *servers; /* n_servers entries, NULL if none */
	unsigned int n_servers;	     /* at most RULES_MAX_SERVERS; 0: the default (SOCKS_SERVER) */
	char **users;		     /* user names, files already read; NULL: any user */
	unsigned int n_users;
	int family;		      /* AF_INET or AF_INET6 */
	union packet_addr addr, mask; /* addr is stored already masked */
	enum rule_op op;
	uint16_t port;
	char *command; /* ": command" text, trimmed; NULL if none */
	unsigned int line;
};

/* A parsed rule file. */
struct rules {
	struct rule *rule;
	size_t n;
	char *file;
	char *socks_user, *socks_pass; /* tsocks.conf default_user/default_pass, else NULL */
};

/* How rules_parse() treats what a rule file may ask for. */
struct rules_parse_opts {
	bool allow_commands; /* accept ": command" suffixes (--allow-rule-commands) */
	/*
	 * Resolve LOCALHOSTNAME: fill family[i] (AF_INET or AF_INET6) and addrs[i]
	 * for up to @max addresses of @name. Returns the count, or -errno. NULL:
	 * getaddrinfo() without AI_ADDRCONFIG.
	 */
	int (*resolve)(const char *name, int *family, union packet_addr *addrs, size_t max);
};

/* The connection a rule command is expanded for. */
struct rules_conn {
	int family; /* AF_INET or AF_INET6 */
	union packet_addr dst;
	uint16_t port;	    /* destination port */
	const char *host;   /* destination host name, NULL if unknown */
	pid_t pid;	    /* client process, 0 if unknown */
	const char *user;   /* invoking user name */
	const char *server; /* SOCKS server used, NULL for direct and deny */
};

int rules_parse(struct rules *out, const char *text, size_t len, const char *file,
		const struct rules_parse_opts *po, char *err, size_t errlen);
int rules_load(struct rules *out, const char *path, const struct rules_parse_opts *po, char *err,
	       size_t errlen);
int rules_parse_tsocks(struct rules *out, const char *text, size_t len, const char *file, char *err,
		       size_t errlen);
const struct rule *rules_match(const struct rules *r, int family, const union packet_addr *dst,
			       uint16_t port, const char *user);
int rules_expand_command(const struct rule *r, const struct rules_conn *conn, char *out,
			 size_t outlen);
int rules_print(const struct rules *r, FILE *out);
int rules_run_command(const struct rule *r, const struct rules_conn *conn);
int rules_resolve_servers(struct rules *r,
			  int (*resolve)(const char *host, uint16_t port,
					 struct sockaddr_storage *ss, socklen_t *len),
			  uint16_t default_port, char *err, size_t errlen);
void rules_free(struct rules *r);

#endif
