// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for rules.c, rules_parse.c and rules_tsocks.c. The input is
 * parsed as a rule file, with rule commands refused and allowed, LOCALHOSTNAME
 * resolving to 127.0.0.1 without DNS; and as a tsocks.conf. Whatever parses is
 * printed, must parse back from its printed form to the same rules, and is
 * matched against a few destinations; rule commands are expanded; the SOCKS
 * servers are resolved, without DNS, into every rule's own server array. A
 * parse error must leave nothing behind and say where. Any broken expectation
 * aborts, so the fuzzer reports it; ASan reports leaks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pmsocks-ns/rules.h"

#include "fuzz.h"

static int fuzz_resolve(const char *name, int *family, union packet_addr *addrs, size_t max)
{
	CHECK(max >= 1);
	family[0] = AF_INET;
	addrs[0].v4.s_addr = htonl(INADDR_LOOPBACK);
	return 1;
}

/* Every server resolves to 127.0.0.1 on its port. */
static int fuzz_resolve_server(const char *host, uint16_t port, struct sockaddr_storage *ss,
			       socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	CHECK(*host && port);
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*len = sizeof(*sin);
	return 0;
}

static void fuzz_resolve_servers(struct rules *r)
{
	const struct sockaddr_in *sin;
	char err[512];
	size_t i;
	unsigned int j;

	CHECK(rules_resolve_servers(r, fuzz_resolve_server, 1080, err, sizeof(err)) == 0);
	for (i = 0; i < r->n; i++) {
		CHECK(r->rule[i].n_servers <= RULES_MAX_SERVERS);
		CHECK(!r->rule[i].n_servers == !r->rule[i].servers);
		for (j = 0; j < r->rule[i].n_servers; j++) {
			sin = (const struct sockaddr_in *)&r->rule[i].servers[j].addr;
			CHECK(r->rule[i].servers[j].addrlen == sizeof(*sin));
			CHECK(ntohs(sin->sin_port) ==
			      (r->rule[i].servers[j].port ? r->rule[i].servers[j].port : 1080));
		}
	}
}

static bool fuzz_same_rule(const struct rule *a, const struct rule *b)
{
	unsigned int i;

	if (a->action != b->action || a->socks_version != b->socks_version ||
	    a->n_servers != b->n_servers || a->n_users != b->n_users || a->family != b->family ||
	    memcmp(&a->addr, &b->addr, sizeof(a->addr)) ||
	    memcmp(&a->mask, &b->mask, sizeof(a->mask)) || a->op != b->op || a->port != b->port ||
	    !a->command != !b->command || (a->command && strcmp(a->command, b->command)))
		return false;
	for (i = 0; i < a->n_servers; i++)
		if (strcmp(a->servers[i].host, b->servers[i].host) ||
		    a->servers[i].port != b->servers[i].port)
			return false;
	for (i = 0; i < a->n_users; i++)
		if (strcmp(a->users[i], b->users[i]))
			return false;
	return true;
}

/* Printed rules parse back to the same rules, unless inlined user files made a line too long. */
static void fuzz_round_trip(const struct rules *r, const struct rules_parse_opts *po)
{
	struct rules again;
	char *buf = NULL, err[512];
	size_t len = 0, i;
	FILE *f = open_memstream(&buf, &len);
	int ret;

	CHECK(f);
	CHECK(rules_print(r, f) == 0);
	CHECK(fclose(f) == 0);
	ret = rules_parse(&again, buf, len, "printed", po, err, sizeof(err));
	if (ret) {
		CHECK(ret == -EINVAL && strstr(err, "line too long"));
	} else {
		CHECK(again.n == r->n);
		for (i = 0; i < r->n; i++)
			CHECK(fuzz_same_rule(&r->rule[i], &again.rule[i]));
	}
	rules_free(&again);
	free(buf);
}

static void fuzz_use(const struct rules *r, const struct rules_parse_opts *po)
{
	static const char *const dsts[] = {"127.0.0.1",	      "10.1.2.3", "0.0.0.0",
					   "255.255.255.255", "::1",	  "fd42::1",
					   "2001:db8::80"};
	static const uint16_t ports[] = {0, 80, 1024, 65535};
	struct rules_conn conn = {.host = "it's", .pid = 1, .user = "root", .server = "fw"};
	static FILE *null;
	const struct rule *m;
	union packet_addr a;
	char cmd[256];
	size_t i, j;
	int family;

	if (!null)
		null = fopen("/dev/null", "w");
	CHECK(null);
	CHECK(rules_print(r, null) == 0);
	for (i = 0; i < sizeof(dsts) / sizeof(dsts[0]); i++) {
		family = strchr(dsts[i], ':') ? AF_INET6 : AF_INET;
		memset(&a, 0, sizeof(a));
		CHECK(inet_pton(family, dsts[i], &a) == 1);
		for (j = 0; j < sizeof(ports) / sizeof(ports[0]); j++) {
			m = rules_match(r, family, &a, ports[j], j & 1 ? "root" : NULL);
			if (!m)
				continue;
			CHECK(m >= r->rule && m < r->rule + r->n && m->family == family);
			if (m->command) {
				conn.family = family;
				conn.dst = a;
				conn.port = ports[j];
				CHECK(po->allow_commands);
				CHECK(rules_expand_command(m, &conn, cmd, sizeof(cmd)) != -EINVAL);
				CHECK(strlen(cmd) < sizeof(cmd));
			}
		}
	}
	fuzz_round_trip(r, po);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rules_parse_opts po = {.resolve = fuzz_resolve};
	const char *text = (const char *)data;
	struct rules r;
	char err[512];
	int ret, pass;

	for (pass = 0; pass < 2; pass++) {
		po.allow_commands = pass;
		ret = rules_parse(&r, text, size, "fuzz.conf", &po, err, sizeof(err));
		if (ret) {
			CHECK(ret == -EINVAL || ret == -ENOMEM);
			CHECK(!r.n && !r.rule && !r.file);
			CHECK(!strncmp(err, "fuzz.conf:", 10));
			continue;
		}
		CHECK(r.n <= RULES_MAX_RULES && r.file);
		fuzz_use(&r, &po);
		fuzz_resolve_servers(&r);
		rules_free(&r);
	}
	ret = rules_parse_tsocks(&r, text, size, "tsocks.conf", err, sizeof(err));
	if (ret) {
		CHECK(!r.n && !r.rule && !r.socks_user && !r.socks_pass);
		CHECK(!strncmp(err, "tsocks.conf:", 12));
	} else {
		po.allow_commands = false;
		fuzz_use(&r, &po);
		fuzz_resolve_servers(&r);
		rules_free(&r);
	}
	return 0;
}
