// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for rules.c, rules_parse.c and rules_tsocks.c: the socks.conf
 * parser and matcher, rule commands, canonical printing, resolving the SOCKS
 * servers of @= lists and the tsocks.conf conversion.
 *
 * Expected values are written out by hand (addresses as text, columns counted
 * in the literal lines), never computed with the module under test.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "pmsocks-ns/rules.h"

static struct rules rs;
static char err[512];

static void teardown(void)
{
	rules_free(&rs);
}

TestSuite(rules, .fini = teardown);

/* An address of either family from its text. */
static union packet_addr A(const char *text) {
	union packet_addr a;

	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, text, &a.v4) != 1)
		cr_assert_eq(inet_pton(AF_INET6, text, &a.v6), 1, "bad test address %s", text);
	return a;
}

static int
F(const char *text)
{
	return strchr(text, ':') ? AF_INET6 : AF_INET;
}

static int parse_opts(const char *text, const struct rules_parse_opts *po)
{
	rules_free(&rs);
	return rules_parse(&rs, text, strlen(text), "t.conf", po, err, sizeof(err));
}

static int parse(const char *text)
{
	return parse_opts(text, NULL);
}

/* Line number of the rule @text with @port and @user match, 0 if none. */
static unsigned int match(const char *text, uint16_t port, const char *user)
{
	union packet_addr a = A(text);
	const struct rule *r = rules_match(&rs, F(text), &a, port, user);

	return r ? r->line : 0;
}

/* Fake resolvers for LOCALHOSTNAME. */
static int resolve_one(const char *name, int *family, union packet_addr *addrs, size_t max)
{
	cr_assert_gt(max, 0);
	family[0] = AF_INET;
	addrs[0] = A("192.0.2.7");
	return 1;
}

static int resolve_several(const char *name, int *family, union packet_addr *addrs, size_t max)
{
	cr_assert_geq(max, 4);
	family[0] = AF_INET;
	addrs[0] = A("192.0.2.7");
	family[1] = AF_INET6;
	addrs[1] = A("2001:db8::7");
	family[2] = AF_INET;
	addrs[2] = A("192.0.2.7"); /* duplicate: used once */
	family[3] = AF_INET;
	addrs[3] = A("198.51.100.9");
	return 4;
}

static int resolve_fail(const char *name, int *family, union packet_addr *addrs, size_t max)
{
	return -ENXIO;
}

static const struct rules_parse_opts po_one = {.resolve = resolve_one};
static const struct rules_parse_opts po_several = {.resolve = resolve_several};
static const struct rules_parse_opts po_commands = {.allow_commands = true, .resolve = resolve_one};

/* A file holding @text, for *=/file user lists; the name goes to @path. */
static void make_file(char *path, size_t len, const char *text)
{
	int fd;

	snprintf(path, len, "/tmp/pmsocks-ns-test-rules-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

struct error_case {
	const char *text;
	bool commands;
	const char *message;
};

static const struct error_case error_cases[] = {
	{"allow 0.0.0.0 0.0.0.0", false,
	 "t.conf:1:1: unknown action 'allow' (expected deny, direct, sockd, sockd4, sockd5)"},
	{"direct 1.2.3.0 255.255.255.0 gte 80", false,
	 "t.conf:1:30: unknown operator 'gte' (expected eq, neq, lt, gt, le, ge)"},
	{"direct 10.0.0.0/8 eq 99999", false,
	 "t.conf:1:22: port '99999' out of range (expected 0-65535)"},
	{"direct 10.0.0.0/8 eq 123456", false,
	 "t.conf:1:22: port '123456' out of range (expected 0-65535)"},
	{"direct 10.0.0.0/8 eq no-such-service", false,
	 "t.conf:1:22: unknown port 'no-such-service' (expected a number 0-65535 or a service "
	 "name)"},
	{"direct", false, "t.conf:1:7: expected an address after 'direct'"},
	{"direct   # nothing else", false, "t.conf:1:7: expected an address after 'direct'"},
	{"sockd @=fw1", false, "t.conf:1:12: expected an address after '@=fw1'"},
	{"direct 1.2.3.0 255.0.255.0x", false, "t.conf:1:16: bad mask '255.0.255.0x'"},
	{"direct 1.2.3.0", false, "t.conf:1:15: expected a mask after '1.2.3.0'"},
	{"direct 1.2.3.0 255.255.255.0 eq", false, "t.conf:1:32: expected a port after 'eq'"},
	{"direct 1.2.3.0 255.255.255.0 eq 80 now", false,
	 "t.conf:1:36: unexpected 'now' after the port (expected the end of the line or ': "
	 "command')"},
	{"direct host.example 255.255.255.255", false,
	 "t.conf:1:8: bad address 'host.example' (expected an IPv4 or IPv6 address, ADDR/PREFIX "
	 "or LOCALHOSTNAME)"},
	{"direct 1.2.3.256/24", false,
	 "t.conf:1:8: bad address '1.2.3.256/24' (expected an IPv4 or IPv6 address, "
	 "ADDR/PREFIX or LOCALHOSTNAME)"},
	{"direct 1.2.3.0/33", false,
	 "t.conf:1:16: bad prefix length '33' in '1.2.3.0/33' (expected 0-32)"},
	{"direct fd42::/129", false,
	 "t.conf:1:15: bad prefix length '129' in 'fd42::/129' (expected 0-128)"},
	{"direct 10.0.0.0/", false,
	 "t.conf:1:17: bad prefix length '' in '10.0.0.0/' (expected 0-32)"},
	{"direct 10.0.0.0/8 255.0.0.0", false,
	 "t.conf:1:19: unexpected mask '255.0.0.0' after a /prefix"},
	{"direct fd42:: 255.255.0.0", false,
	 "t.conf:1:15: mask '255.255.0.0' is an IPv4 mask but the address 'fd42::' is IPv6"},
	{"direct 10.0.0.0 ffff::", false,
	 "t.conf:1:17: mask 'ffff::' is an IPv6 mask but the address '10.0.0.0' is IPv4"},
	{"deny @=fw1 0.0.0.0/0", false, "t.conf:1:6: '@=' is only valid with sockd"},
	{"direct @=fw1 0.0.0.0/0", false, "t.conf:1:8: '@=' is only valid with sockd"},
	{"sockd @= 0.0.0.0/0", false, "t.conf:1:7: expected a server after '@='"},
	{"sockd @=fw1,,fw2 0.0.0.0/0", false, "t.conf:1:13: empty server name in '@=fw1,,fw2'"},
	{"sockd @=fw1, 0.0.0.0/0", false, "t.conf:1:13: empty server name in '@=fw1,'"},
	{"sockd @=fw1:99999 0.0.0.0/0", false,
	 "t.conf:1:13: server port '99999' out of range (expected 1-65535)"},
	{"sockd @=fw1:0 0.0.0.0/0", false,
	 "t.conf:1:13: server port '0' out of range (expected 1-65535)"},
	{"sockd @=fw1:socks 0.0.0.0/0", false,
	 "t.conf:1:13: bad server port 'socks' (expected 1-65535)"},
	{"sockd @=fw1: 0.0.0.0/0", false, "t.conf:1:13: bad server port '' (expected 1-65535)"},
	{"sockd @=fw!1 0.0.0.0/0", false, "t.conf:1:9: bad server name 'fw!1'"},
	{"sockd @=a,[::1 0.0.0.0/0", false, "t.conf:1:11: missing ']' in server '[::1'"},
	{"sockd @=[::1]1080 0.0.0.0/0", false,
	 "t.conf:1:14: expected ':port' after ']' in server '[::1]1080'"},
	{"sockd @=[10.0.0.1]:1080 0.0.0.0/0", false,
	 "t.conf:1:9: bad IPv6 address in server '[10.0.0.1]:1080'"},
	{"sockd @=fd00::1:1080x 0.0.0.0/0", false,
	 "t.conf:1:9: bad server 'fd00::1:1080x' (an IPv6 address with a port is written "
	 "[addr]:port)"},
	{"sockd @=a,b,c,d,e,f,g,h,i 0.0.0.0/0", false,
	 "t.conf:1:25: too many servers in '@=a,b,c,d,e,f,g,h,i' (at most 8)"},
	{"sockd @=a @=b 0.0.0.0/0", false, "t.conf:1:11: '@=' given twice"},
	{"direct *= 0.0.0.0/0", false, "t.conf:1:8: expected a user after '*='"},
	{"direct *=ann,,bob 0.0.0.0/0", false, "t.conf:1:14: empty user name in '*=ann,,bob'"},
	{"direct *=ann *=bob 0.0.0.0/0", false, "t.conf:1:14: '*=' given twice"},
	{"direct *=ann,/nonexistent/users 0.0.0.0/0", false,
	 "t.conf:1:14: cannot read user list '/nonexistent/users': No such file or directory"},
	{"direct *=/ 0.0.0.0/0", false,
	 "t.conf:1:10: cannot read user list '/': not a regular file"},
	{"direct 0.0.0.0/0 : finger @%A", false,
	 "t.conf:1:18: rule commands run a shell command per connection; allow them with "
	 "--allow-rule-commands"},
	{"direct 0.0.0.0/0 :  # not a comment", false,
	 "t.conf:1:18: rule commands run a shell command per connection; allow them with "
	 "--allow-rule-commands"},
	{"direct 0.0.0.0/0 :   ", true, "t.conf:1:18: expected a command after ':'"},
	{"direct 0.0.0.0/0 : echo %x", true,
	 "t.conf:1:25: unknown token '%x' in the command (expected %A, %a, %c, %p, %S, %s, %U, "
	 "%u, %Z, %z or %%)"},
	{"direct 0.0.0.0/0 : echo 100%", true,
	 "t.conf:1:28: '%' at the end of the command (write %% for a literal %)"},
	{": echo hello", true, "t.conf:1:1: expected an action before ':'"},
	{"# comment\n\n   \ndirect 0.0.0.0/0\ndeny 1.2.3.4 x", false, "t.conf:5:14: bad mask 'x'"},
	{"direct 0.0.0.0/0\r\ndeny 1.2.3.4\r\n", false,
	 "t.conf:2:13: expected a mask after '1.2.3.4'"},
};

Test(rules, each_error_names_line_column_and_token)
{
	struct rules_parse_opts po = {.resolve = resolve_one};
	size_t i;

	for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *c = &error_cases[i];

		po.allow_commands = c->commands;
		cr_assert_eq(parse_opts(c->text, &po), -EINVAL, "accepted: %s", c->text);
		cr_assert_str_eq(err, c->message, "for: %s\n got: %s", c->text, err);
		cr_assert_eq(rs.n, 0, "rules kept after an error");
		cr_assert_null(rs.rule);
	}
}

Test(rules, error_in_a_later_line_keeps_nothing)
{
	cr_assert_eq(parse("direct 10.0.0.0/8\nsockd 0.0.0.0/0\nfoo\n"), -EINVAL);
	cr_assert_str_eq(err, "t.conf:3:1: unknown action 'foo' (expected deny, direct, sockd, "
			      "sockd4, sockd5)");
	cr_assert_eq(rs.n, 0);
}

Test(rules, bounded_lines_and_rule_count)
{
	size_t n = RULES_MAX_LINE + 1, i;
	char *text = malloc(n + 64), *p;

	cr_assert_not_null(text);
	/* a comment line of exactly the limit is fine, one byte more is not */
	memset(text, '#', RULES_MAX_LINE);
	strcpy(text + RULES_MAX_LINE, "\ndirect 0.0.0.0/0\n");
	cr_assert_eq(parse(text), 0, "%s", err);
	memset(text, '#', n);
	strcpy(text + n, "\n");
	cr_assert_eq(parse(text), -EINVAL);
	cr_assert_str_eq(err, "t.conf:1:4097: line too long (more than 4096 bytes)");
	free(text);

	text = malloc((RULES_MAX_RULES + 1) * 16 + 1);
	cr_assert_not_null(text);
	for (p = text, i = 0; i < RULES_MAX_RULES; i++)
		p += sprintf(p, "deny 0.0.0.0/0\n");
	cr_assert_eq(rules_parse(&rs, text, (size_t)(p - text), "t.conf", NULL, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(rs.n, RULES_MAX_RULES);
	p += sprintf(p, "deny 0.0.0.0/0\n");
	rules_free(&rs);
	cr_assert_eq(rules_parse(&rs, text, (size_t)(p - text), "t.conf", NULL, err, sizeof(err)),
		     -EINVAL);
	cr_assert_str_eq(err, "t.conf:100001:1: too many rules (more than 100000)");
	free(text);
}

Test(rules, nul_byte_is_an_error)
{
	static const char text[] = "direct 0.0.0.0/0\ndeny 1.2.3.4\0 255.255.255.255\n";

	cr_assert_eq(rules_parse(&rs, text, sizeof(text) - 1, "t.conf", NULL, err, sizeof(err)),
		     -EINVAL);
	cr_assert_str_eq(err, "t.conf:2:13: NUL byte in the line");
}

Test(rules, first_match_wins_and_no_match_is_null)
{
	cr_assert_eq(parse("deny 10.1.0.0 255.255.0.0\n"
			   "direct 10.0.0.0/8\n"
			   "sockd 0.0.0.0 0.0.0.0\n"),
		     0, "%s", err);
	cr_assert_eq(rs.n, 3);
	cr_assert_eq(match("10.1.2.3", 80, NULL), 1);
	cr_assert_eq(
		rules_match(&rs, AF_INET, &(union packet_addr){.v4 = A("10.1.2.3").v4}, 80, NULL)
			->action,
		RULE_DENY);
	cr_assert_eq(match("10.2.0.1", 80, NULL), 2);
	cr_assert_eq(match("192.0.2.1", 80, NULL), 3);
	cr_assert_eq(match("2001:db8::1", 80, NULL), 0, "0.0.0.0 0.0.0.0 is IPv4 only");

	cr_assert_eq(parse("direct 10.0.0.0/8\n"), 0, "%s", err);
	cr_assert_eq(match("11.0.0.1", 80, NULL), 0, "no match: NULL (deny)");
	cr_assert_eq(parse(""), 0, "%s", err);
	cr_assert_eq(rs.n, 0);
	cr_assert_eq(match("10.0.0.1", 80, NULL), 0);
}

Test(rules, dotted_masks_contiguous_and_not)
{
	/* classic semantics: (dst & mask) == (addr & mask), holes allowed */
	cr_assert_eq(parse("direct 10.0.3.0 255.0.255.0\n"
			   "deny 192.168.1.77 255.255.255.255\n"
			   "sockd 192.168.1.200 255.255.255.128\n"),
		     0, "%s", err);
	cr_assert_eq(match("10.99.3.200", 1, NULL), 1);
	cr_assert_eq(match("10.0.3.0", 1, NULL), 1);
	cr_assert_eq(match("10.99.4.200", 1, NULL), 0);
	cr_assert_eq(match("11.0.3.1", 1, NULL), 0);
	cr_assert_eq(match("192.168.1.77", 1, NULL), 2);
	cr_assert_eq(match("192.168.1.78", 1, NULL), 0);
	cr_assert_eq(match("192.168.1.128", 1, NULL), 3);
	cr_assert_eq(match("192.168.1.255", 1, NULL), 3);
	cr_assert_eq(match("192.168.1.127", 1, NULL), 0);
	/* stored masked */
	cr_assert_eq(rs.rule[2].addr.v4.s_addr, A("192.168.1.128").v4.s_addr);
}

Test(rules, cidr_and_ipv6_prefixes)
{
	cr_assert_eq(parse("direct 172.16.0.0/12\n"
			   "deny fd42::/16\n"
			   "direct 2001:db8:1::/48 eq 443\n"
			   "sockd ::/0\n"
			   "direct 198.51.100.1/32\n"),
		     0, "%s", err);
	cr_assert_eq(match("172.31.255.255", 1, NULL), 1);
	cr_assert_eq(match("172.32.0.0", 1, NULL), 0);
	cr_assert_eq(match("172.15.255.255", 1, NULL), 0);
	cr_assert_eq(match("fd42:ffff::1", 1, NULL), 2);
	cr_assert_eq(match("fd43::1", 1, NULL), 4);
	cr_assert_eq(match("2001:db8:1:ffff::1", 443, NULL), 3);
	cr_assert_eq(match("2001:db8:1:ffff::1", 80, NULL), 4);
	cr_assert_eq(match("2001:db8:2::1", 443, NULL), 4);
	cr_assert_eq(match("198.51.100.1", 1, NULL), 5);
	cr_assert_eq(match("198.51.100.2", 1, NULL), 0, "::/0 is IPv6 only");
}

Test(rules, ipv6_masks_written_out)
{
	cr_assert_eq(parse("direct 2001:db8:: ffff:ffff:0:ffff::\n"), 0, "%s", err);
	cr_assert_eq(match("2001:db8:77:0::9", 1, NULL), 1);
	cr_assert_eq(match("2001:db8:77:1::9", 1, NULL), 0);
}

Test(rules, port_operators_at_their_boundaries)
{
	cr_assert_eq(parse("direct 10.0.0.1/32 eq 80\n"
			   "direct 10.0.0.2/32 neq 80\n"
			   "direct 10.0.0.3/32 lt 1024\n"
			   "direct 10.0.0.4/32 gt 1024\n"
			   "direct 10.0.0.5/32 le 1024\n"
			   "direct 10.0.0.6/32 ge 1024\n"
			   "direct 10.0.0.7/32 eq 0\n"
			   "direct 10.0.0.8/32 ge 65535\n"
			   "direct 10.0.0.9/32 eq http\n"),
		     0, "%s", err);
	cr_assert_eq(match("10.0.0.1", 80, NULL), 1);
	cr_assert_eq(match("10.0.0.1", 79, NULL), 0);
	cr_assert_eq(match("10.0.0.1", 81, NULL), 0);
	cr_assert_eq(match("10.0.0.2", 80, NULL), 0);
	cr_assert_eq(match("10.0.0.2", 79, NULL), 2);
	cr_assert_eq(match("10.0.0.2", 81, NULL), 2);
	cr_assert_eq(match("10.0.0.3", 1023, NULL), 3);
	cr_assert_eq(match("10.0.0.3", 1024, NULL), 0);
	cr_assert_eq(match("10.0.0.4", 1024, NULL), 0);
	cr_assert_eq(match("10.0.0.4", 1025, NULL), 4);
	cr_assert_eq(match("10.0.0.5", 1024, NULL), 5);
	cr_assert_eq(match("10.0.0.5", 1025, NULL), 0);
	cr_assert_eq(match("10.0.0.6", 1023, NULL), 0);
	cr_assert_eq(match("10.0.0.6", 1024, NULL), 6);
	cr_assert_eq(match("10.0.0.7", 0, NULL), 7);
	cr_assert_eq(match("10.0.0.7", 1, NULL), 0);
	cr_assert_eq(match("10.0.0.8", 65535, NULL), 8);
	cr_assert_eq(match("10.0.0.8", 65534, NULL), 0);
	cr_assert_eq(match("10.0.0.9", 80, NULL), 9, "service names from /etc/services");
	cr_assert_eq(rs.rule[8].port, 80);
}

Test(rules, users_by_name_and_by_file)
{
	char path[64], text[256];

	make_file(path, sizeof(path), "# staff\ncarol dave,\terin  # and erin\n\nfrank\n");
	snprintf(text, sizeof(text),
		 "direct *=ann,bob 10.0.0.0/8\n"
		 "sockd *=%s,gus 10.0.0.0/8\n"
		 "deny 10.0.0.0/8\n",
		 path);
	cr_assert_eq(parse(text), 0, "%s", err);
	unlink(path);
	cr_assert_eq(rs.rule[0].n_users, 2);
	cr_assert_eq(rs.rule[1].n_users, 5);
	cr_assert_str_eq(rs.rule[1].users[0], "carol");
	cr_assert_str_eq(rs.rule[1].users[3], "frank");
	cr_assert_str_eq(rs.rule[1].users[4], "gus");
	cr_assert_null(rs.rule[2].users);
	cr_assert_eq(match("10.0.0.1", 1, "ann"), 1);
	cr_assert_eq(match("10.0.0.1", 1, "bob"), 1);
	cr_assert_eq(match("10.0.0.1", 1, "erin"), 2);
	cr_assert_eq(match("10.0.0.1", 1, "gus"), 2);
	cr_assert_eq(match("10.0.0.1", 1, "an"), 3, "whole names only");
	cr_assert_eq(match("10.0.0.1", 1, "staff"), 3, "comments are not names");
	cr_assert_eq(match("10.0.0.1", 1, NULL), 3, "unknown user: only rules without *=");
}

Test(rules, user_file_errors)
{
	char path[64], text[256];

	make_file(path, sizeof(path), "# nobody yet\n");
	snprintf(text, sizeof(text), "direct *=%s 10.0.0.0/8\n", path);
	cr_assert_eq(parse(text), -EINVAL);
	cr_assert(strstr(err, "names no users"), "%s", err);
	cr_assert_eq(strncmp(err, "t.conf:1:10: user list '/tmp/", 29), 0, "%s", err);
	unlink(path);

	make_file(path, sizeof(path), "ann /etc/passwd\n");
	snprintf(text, sizeof(text), "direct *=%s 10.0.0.0/8\n", path);
	cr_assert_eq(parse(text), -EINVAL);
	cr_assert(strstr(err, "bad user name '/etc/passwd' in '/tmp/"), "%s", err);
	unlink(path);
}

Test(rules, localhostname_one_address)
{
	cr_assert_eq(parse_opts("direct LOCALHOSTNAME 255.255.255.255\n"
				"sockd 0.0.0.0 0.0.0.0\n",
				&po_one),
		     0, "%s", err);
	cr_assert_eq(rs.n, 2);
	cr_assert_eq(rs.rule[0].action, RULE_DIRECT);
	cr_assert_eq(rs.rule[0].family, AF_INET);
	cr_assert_eq(match("192.0.2.7", 1, NULL), 1);
	cr_assert_eq(match("192.0.2.8", 1, NULL), 2);
}

Test(rules, localhostname_several_addresses)
{
	cr_assert_eq(parse_opts("# this host\n"
				"direct LOCALHOSTNAME 255.255.255.255 eq 44321\n"
				"deny LOCALHOSTNAME 255.255.255.0\n",
				&po_several),
		     -EINVAL);
	cr_assert_str_eq(err, "t.conf:3:20: mask '255.255.255.0' does not fit LOCALHOSTNAME's "
			      "IPv6 address 2001:db8::7 (255.255.255.255 means exactly this host)");

	cr_assert_eq(parse_opts("# this host\n"
				"direct LOCALHOSTNAME 255.255.255.255 eq 44321\n"
				"deny 0.0.0.0/0\n",
				&po_several),
		     0, "%s", err);
	cr_assert_eq(rs.n, 4, "three distinct addresses, then the deny");
	cr_assert_eq(rs.rule[0].line, 2);
	cr_assert_eq(rs.rule[1].line, 2);
	cr_assert_eq(rs.rule[2].line, 2);
	cr_assert_eq(rs.rule[1].family, AF_INET6);
	cr_assert_eq(match("192.0.2.7", 44321, NULL), 2);
	cr_assert_eq(match("2001:db8::7", 44321, NULL), 2);
	cr_assert_eq(match("2001:db8::8", 44321, NULL), 0);
	cr_assert_eq(match("198.51.100.9", 44321, NULL), 2);
	cr_assert_eq(match("198.51.100.9", 44322, NULL), 3);
}

Test(rules, localhostname_unresolvable)
{
	struct rules_parse_opts po = {.resolve = resolve_fail};

	cr_assert_eq(parse_opts("direct 10.0.0.0/8\ndirect   LOCALHOSTNAME 255.255.255.255\n", &po),
		     -EINVAL);
	cr_assert_eq(strncmp(err, "t.conf:2:10: cannot resolve LOCALHOSTNAME ('", 44), 0, "%s",
		     err);
	cr_assert(strstr(err, "'): No such device or address"), "%s", err);
}

Test(rules, localhostname_default_resolver)
{
	/* whatever this host's name resolves to, each rule is exactly one address */
	int ret = parse("direct LOCALHOSTNAME 255.255.255.255\n");
	size_t i;

	if (ret)
		cr_skip_test("this host's name does not resolve here: %s", err);
	cr_assert_geq(rs.n, 1);
	for (i = 0; i < rs.n; i++) {
		cr_assert_eq(rs.rule[i].line, 1);
		cr_assert(rs.rule[i].family == AF_INET || rs.rule[i].family == AF_INET6);
		if (rs.rule[i].family == AF_INET)
			cr_assert_eq(rs.rule[i].mask.v4.s_addr, 0xffffffffU);
	}
}

Test(rules, comments_blank_lines_and_hash_in_commands)
{
	cr_assert_eq(parse_opts("# a comment\n"
				"\n"
				"\t  \n"
				"direct 10.0.0.0/8# right after a field\n"
				"deny 0.0.0.0 0.0.0.0 eq 25  : echo '#1' >> /tmp/log # kept\n"
				"   # indented comment\n"
				"sockd 0.0.0.0/0#",
				&po_commands),
		     0, "%s", err);
	cr_assert_eq(rs.n, 3);
	cr_assert_eq(rs.rule[0].line, 4);
	cr_assert_null(rs.rule[0].command);
	cr_assert_str_eq(rs.rule[1].command, "echo '#1' >> /tmp/log # kept");
	cr_assert_eq(rs.rule[1].op, RULE_OP_EQ);
	cr_assert_eq(rs.rule[1].port, 25);
	cr_assert_eq(rs.rule[2].line, 7);
}

Test(rules, commands_refused_unless_allowed)
{
	const char *text = "direct 10.0.0.0/8\ndeny 0.0.0.0/0 : logger %U";

	cr_assert_eq(parse(text), -EINVAL);
	cr_assert_str_eq(err, "t.conf:2:16: rule commands run a shell command per connection; "
			      "allow them with --allow-rule-commands");
	cr_assert_eq(parse_opts(text, &po_commands), 0, "%s", err);
	cr_assert_str_eq(rs.rule[1].command, "logger %U");
	/* a ':' inside a field is not a command */
	cr_assert_eq(parse("direct fd00::1/128\n"), 0, "%s", err);
	cr_assert_null(rs.rule[0].command);
}

Test(rules, command_expansion_quotes_every_value)
{
	struct rules_conn conn = {
		.family = AF_INET,
		.dst = A("192.0.2.1"),
		.port = 80,
		.host = "it's $(rm -rf ~) `x`",
		.pid = 4242,
		.user = "o'brien",
		.server = "fw1:1080",
	};
	char out[512];

	cr_assert_eq(parse_opts("sockd @=fw1 0.0.0.0/0 : run %A %a %c %p %S %s %U %u %Z %z 100%%",
				&po_commands),
		     0, "%s", err);
	cr_assert_eq(rules_expand_command(&rs.rule[0], &conn, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "run 'it'\\''s $(rm -rf ~) `x`' '192.0.2.1' 'connect' '4242' 'http' "
			      "'80' 'o'\\''brien' 'o'\\''brien' 'fw1:1080' 'sockd' 100%");

	/* unknown host name and service, IPv6, no server for a direct rule */
	conn.family = AF_INET6;
	conn.dst = A("2001:db8::1");
	conn.port = 47;
	conn.host = NULL;
	conn.pid = 0;
	cr_assert_eq(parse_opts("direct ::/0 : x %A %S %Z %z %p", &po_commands), 0, "%s", err);
	cr_assert_eq(rules_expand_command(&rs.rule[0], &conn, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "x '2001:db8::1' '47' '' 'direct' '0'");

	/* too small: truncated, NUL-terminated, reported */
	cr_assert_eq(rules_expand_command(&rs.rule[0], &conn, out, 8), -ENOSPC);
	cr_assert_str_eq(out, "x '2001");

	cr_assert_eq(parse("direct ::/0"), 0, "%s", err);
	cr_assert_eq(rules_expand_command(&rs.rule[0], &conn, out, sizeof(out)), -EINVAL);
}

Test(rules, servers_versions_and_defaults)
{
	cr_assert_eq(parse("sockd @=fw1,fw2:1081,10.0.0.1:1082,[fd00::1]:1083,[::1],fd00::2 "
			   "0.0.0.0/0\n"
			   "sockd4 0.0.0.0/0\n"
			   "sockd5 ::/0\n"),
		     0, "%s", err);
	cr_assert_eq(rs.rule[0].n_servers, 6);
	cr_assert_eq(rs.rule[0].socks_version, 0);
	cr_assert_str_eq(rs.rule[0].servers[0].host, "fw1");
	cr_assert_eq(rs.rule[0].servers[0].port, 0, "no port: SOCKS_PORT or 1080");
	cr_assert_str_eq(rs.rule[0].servers[1].host, "fw2");
	cr_assert_eq(rs.rule[0].servers[1].port, 1081);
	cr_assert_str_eq(rs.rule[0].servers[2].host, "10.0.0.1");
	cr_assert_eq(rs.rule[0].servers[2].port, 1082);
	cr_assert_str_eq(rs.rule[0].servers[3].host, "fd00::1");
	cr_assert_eq(rs.rule[0].servers[3].port, 1083);
	cr_assert_str_eq(rs.rule[0].servers[4].host, "::1");
	cr_assert_eq(rs.rule[0].servers[4].port, 0);
	cr_assert_str_eq(rs.rule[0].servers[5].host, "fd00::2");
	cr_assert_eq(rs.rule[1].socks_version, 4);
	cr_assert_eq(rs.rule[1].n_servers, 0);
	cr_assert_eq(rs.rule[2].socks_version, 5);
	cr_assert_eq(rs.rule[2].action, RULE_SOCKD);
}

Test(rules, server_lists_are_allocated_per_rule)
{
	cr_assert_lt(sizeof(struct rule), 256, "server names are not embedded in a rule");
	cr_assert_eq(parse_opts("sockd @=fw1,[fd00::1]:1081 LOCALHOSTNAME 255.255.255.255\n"
				"sockd 0.0.0.0/0\n",
				&po_several),
		     0, "%s", err);
	cr_assert_eq(rs.n, 4);
	cr_assert_eq(rs.rule[0].n_servers, 2);
	cr_assert_eq(rs.rule[1].n_servers, 2);
	cr_assert_eq(rs.rule[2].n_servers, 2);
	cr_assert_neq(rs.rule[0].servers, rs.rule[1].servers,
		      "each LOCALHOSTNAME rule owns a copy");
	cr_assert_neq(rs.rule[1].servers, rs.rule[2].servers);
	cr_assert_str_eq(rs.rule[2].servers[1].host, "fd00::1");
	cr_assert_eq(rs.rule[2].servers[1].port, 1081);
	cr_assert_eq(rs.rule[2].servers[1].addrlen, 0, "not resolved by the parser");
	cr_assert_null(rs.rule[3].servers);
	cr_assert_eq(rs.rule[3].n_servers, 0);
}

/* A fake resolver for rules_resolve_servers(): 192.0.2.N, N counting calls; "bad*" fails. */
static unsigned int resolve_calls;
static uint16_t resolve_ports[8];

static int resolve_server(const char *host, uint16_t port, struct sockaddr_storage *ss,
			  socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	if (!strncmp(host, "bad", 3))
		return -ENXIO;
	if (resolve_calls < 8)
		resolve_ports[resolve_calls] = port;
	resolve_calls++;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	sin->sin_addr.s_addr = htonl(0xc0000200U + resolve_calls); /* 192.0.2.N */
	*len = sizeof(*sin);
	return 0;
}

static const struct sockaddr_in *server_sin(const struct rule *r, unsigned int i)
{
	cr_assert_lt(i, r->n_servers);
	cr_assert_eq(r->servers[i].addrlen, sizeof(struct sockaddr_in));
	cr_assert_eq(r->servers[i].addr.ss_family, AF_INET);
	return (const struct sockaddr_in *)&r->servers[i].addr;
}

Test(rules, resolve_servers_with_a_resolver)
{
	cr_assert_eq(parse("sockd @=fw1,fw2:1081 10.0.0.0/8\n"
			   "direct 11.0.0.0/8\n"
			   "sockd5 @=fw1 0.0.0.0/0\n"),
		     0, "%s", err);
	resolve_calls = 0;
	cr_assert_eq(rules_resolve_servers(&rs, resolve_server, 1080, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_eq(resolve_calls, 2, "fw1 on the default port is resolved once");
	cr_assert_eq(resolve_ports[0], 1080, "no port: the default port");
	cr_assert_eq(resolve_ports[1], 1081);
	cr_assert_eq(server_sin(&rs.rule[0], 0)->sin_addr.s_addr, A("192.0.2.1").v4.s_addr);
	cr_assert_eq(server_sin(&rs.rule[0], 0)->sin_port, htons(1080));
	cr_assert_eq(server_sin(&rs.rule[0], 1)->sin_addr.s_addr, A("192.0.2.2").v4.s_addr);
	cr_assert_eq(server_sin(&rs.rule[0], 1)->sin_port, htons(1081));
	cr_assert_eq(server_sin(&rs.rule[2], 0)->sin_addr.s_addr, A("192.0.2.1").v4.s_addr);
	cr_assert_eq(rs.rule[0].servers[0].port, 0, "the rule keeps what was written");
}

Test(rules, resolve_servers_default_port)
{
	cr_assert_eq(parse("sockd @=fw1,fw1:1080,[fd00::1]:7 0.0.0.0/0\n"), 0, "%s", err);
	resolve_calls = 0;
	cr_assert_eq(rules_resolve_servers(&rs, resolve_server, 1085, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_eq(resolve_calls, 3, "fw1 on 1085 and fw1 on 1080 are different servers");
	cr_assert_eq(resolve_ports[0], 1085);
	cr_assert_eq(resolve_ports[1], 1080);
	cr_assert_eq(resolve_ports[2], 7);
	cr_assert_eq(server_sin(&rs.rule[0], 0)->sin_port, htons(1085));

	cr_assert_eq(rules_resolve_servers(&rs, resolve_server, 0, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "t.conf:1: cannot resolve SOCKS server 'fw1': no port given and no "
			      "default port");
}

Test(rules, resolve_servers_failure_names_file_line_and_server)
{
	cr_assert_eq(parse("sockd @=fw1 10.0.0.0/8\n"
			   "# comment\n"
			   "sockd4 @=fw2,bad.example:1081 0.0.0.0/0\n"),
		     0, "%s", err);
	resolve_calls = 0;
	cr_assert_eq(rules_resolve_servers(&rs, resolve_server, 1080, err, sizeof(err)), -ENXIO);
	cr_assert_str_eq(err, "t.conf:3: cannot resolve SOCKS server 'bad.example': No such "
			      "device or address");
	cr_assert_eq(rs.rule[0].servers[0].addrlen, sizeof(struct sockaddr_in));
	cr_assert_eq(rs.rule[1].servers[1].addrlen, 0);
}

Test(rules, resolve_servers_literals_without_a_resolver)
{
	const struct sockaddr_in6 *sin6;
	const struct sockaddr_in *sin;
	union packet_addr a = A("fd42::2");

	cr_assert_eq(parse("sockd @=fd42::2,[fd42::2]:1081,192.0.2.9 ::/0\n"), 0, "%s", err);
	cr_assert_eq(rules_resolve_servers(&rs, NULL, 1080, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(rs.rule[0].servers[0].addrlen, sizeof(struct sockaddr_in6));
	sin6 = (const struct sockaddr_in6 *)&rs.rule[0].servers[0].addr;
	cr_assert_eq(sin6->sin6_family, AF_INET6);
	cr_assert_eq(sin6->sin6_port, htons(1080));
	cr_assert_eq(memcmp(&sin6->sin6_addr, &a.v6, sizeof(a.v6)), 0);
	sin6 = (const struct sockaddr_in6 *)&rs.rule[0].servers[1].addr;
	cr_assert_eq(sin6->sin6_port, htons(1081));
	cr_assert_eq(memcmp(&sin6->sin6_addr, &a.v6, sizeof(a.v6)), 0);
	sin = server_sin(&rs.rule[0], 2);
	cr_assert_eq(sin->sin_port, htons(1080));
	cr_assert_eq(sin->sin_addr.s_addr, A("192.0.2.9").v4.s_addr);
}

static char *print(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	cr_assert_eq(rules_print(&rs, f), 0);
	fclose(f);
	return buf;
}

static void assert_same_rules(const struct rules *a, const struct rules *b)
{
	size_t i;
	unsigned int j;

	cr_assert_eq(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		const struct rule *x = &a->rule[i], *y = &b->rule[i];

		cr_assert_eq(x->action, y->action, "rule %zu", i);
		cr_assert_eq(x->socks_version, y->socks_version, "rule %zu", i);
		cr_assert_eq(x->n_servers, y->n_servers, "rule %zu", i);
		for (j = 0; j < x->n_servers; j++) {
			cr_assert_str_eq(x->servers[j].host, y->servers[j].host);
			cr_assert_eq(x->servers[j].port, y->servers[j].port);
		}
		cr_assert_eq(x->n_users, y->n_users, "rule %zu", i);
		for (j = 0; j < x->n_users; j++)
			cr_assert_str_eq(x->users[j], y->users[j]);
		cr_assert_eq(x->family, y->family, "rule %zu", i);
		cr_assert_eq(memcmp(&x->addr, &y->addr, sizeof(x->addr)), 0, "rule %zu", i);
		cr_assert_eq(memcmp(&x->mask, &y->mask, sizeof(x->mask)), 0, "rule %zu", i);
		cr_assert_eq(x->op, y->op, "rule %zu", i);
		cr_assert_eq(x->port, y->port, "rule %zu", i);
		cr_assert_eq(!x->command, !y->command, "rule %zu", i);
		if (x->command)
			cr_assert_str_eq(x->command, y->command);
	}
}

Test(rules, print_is_canonical_and_parses_back)
{
	struct rules again;
	char path[64], text[1024], *printed;

	make_file(path, sizeof(path), "carol\ndave\n");
	snprintf(text, sizeof(text),
		 "direct LOCALHOSTNAME 255.255.255.255   # this host\n"
		 "direct 1.2.3.9 255.255.255.0\n"
		 "sockd5 @=fw1,[fd00::1]:1081 *=ann,%s 0.0.0.0 0.0.0.0 eq 44321\n"
		 "deny 10.0.3.0 255.0.255.0 lt 1024\n"
		 "direct 2001:db8:: ffff:ffff:0:ffff:: ge http\n"
		 "sockd4 ::/0 : notify %%U '#x'\n"
		 "sockd 0.0.0.0 0.0.0.0\n",
		 path);
	cr_assert_eq(parse_opts(text, &po_commands), 0, "%s", err);
	unlink(path);
	printed = print();
	cr_assert_str_eq(printed, "direct 192.0.2.7/32\t# line 1\n"
				  "direct 1.2.3.0/24\t# line 2\n"
				  "sockd5 @=fw1,[fd00::1]:1081 *=ann,carol,dave 0.0.0.0/0 eq "
				  "44321\t# line 3\n"
				  "deny 10.0.3.0 255.0.255.0 lt 1024\t# line 4\n"
				  "direct 2001:db8:: ffff:ffff:0:ffff:: ge 80\t# line 5\n"
				  "sockd4 ::/0 : notify %U '#x'\n"
				  "# line 6\n"
				  "sockd 0.0.0.0/0\t# line 7\n");
	cr_assert_eq(rules_parse(&again, printed, strlen(printed), "printed", &po_commands, err,
				 sizeof(err)),
		     0, "%s", err);
	assert_same_rules(&rs, &again);
	rules_free(&again);
	free(printed);
}

Test(rules, load_reads_a_file_and_names_a_missing_one)
{
	char path[64];

	cr_assert_eq(rules_load(&rs, "/nonexistent/pmsocks-ns.conf", NULL, err, sizeof(err)),
		     -ENOENT);
	cr_assert_str_eq(err,
			 "cannot read /nonexistent/pmsocks-ns.conf: No such file or directory");
	make_file(path, sizeof(path), "direct 10.0.0.0/8\nsockd 0.0.0.0/0\ndeny 1.2.3.4\n");
	cr_assert_eq(rules_load(&rs, path, NULL, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, ":3:13: expected a mask after '1.2.3.4'"), "%s", err);
	cr_assert_eq(strncmp(err, path, strlen(path)), 0, "%s", err);
	unlink(path);
	make_file(path, sizeof(path), "direct 10.0.0.0/8\nsockd 0.0.0.0/0\n");
	cr_assert_eq(rules_load(&rs, path, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(rs.n, 2);
	cr_assert_str_eq(rs.file, path);
	unlink(path);
}

static int parse_tsocks(const char *text)
{
	rules_free(&rs);
	return rules_parse_tsocks(&rs, text, strlen(text), "tsocks.conf", err, sizeof(err));
}

Test(rules, tsocks_conversion)
{
	cr_assert_eq(parse_tsocks("# tsocks.conf\n"
				  "local = 192.168.0.0/255.255.255.0\n"
				  "path {\n"
				  "\treaches = 150.0.0.0/255.255.0.0\n"
				  "\treaches = 150.1.0.0:80/255.255.0.0\n"
				  "\tserver = 10.1.7.25\n"
				  "\tserver_type = 5\n"
				  "}\n"
				  "path {\n"
				  "\treaches = 150.0.0.0/16:8000-8002\n"
				  "\treaches = 150.2.0.0/255.255.0.0:1-1023\n"
				  "\treaches = 150.3.0.0/255.255.0.0:6000-65535\n"
				  "\tserver = socks2.example\n"
				  "\tserver_port = 1081\n"
				  "}\n"
				  "local = 10.0.0.0/8\n"
				  "server = 192.168.0.1\n"
				  "server_port = 7070\n"
				  "default_user = ann\n"
				  "default_pass = pa#ss\n"),
		     0, "%s", err);
	cr_assert_str_eq(rs.socks_user, "ann");
	cr_assert_str_eq(rs.socks_pass, "pa#ss", "only a field starting with # is a comment");
	cr_assert_eq(rs.n, 2 + 5 + 2 + 1);
	/* local networks first */
	cr_assert_eq(rs.rule[0].action, RULE_DIRECT);
	cr_assert_eq(rs.rule[0].line, 2);
	cr_assert_eq(rs.rule[1].line, 16);
	/* then the last path block, its range as one rule per port */
	cr_assert_eq(rs.rule[2].line, 10);
	cr_assert_eq(rs.rule[2].op, RULE_OP_EQ);
	cr_assert_eq(rs.rule[2].port, 8000);
	cr_assert_eq(rs.rule[4].port, 8002);
	cr_assert_eq(rs.rule[5].op, RULE_OP_LE);
	cr_assert_eq(rs.rule[5].port, 1023);
	cr_assert_eq(rs.rule[6].op, RULE_OP_GE);
	cr_assert_eq(rs.rule[6].port, 6000);
	cr_assert_str_eq(rs.rule[6].servers[0].host, "socks2.example");
	cr_assert_eq(rs.rule[6].servers[0].port, 1081);
	cr_assert_eq(rs.rule[6].socks_version, 4, "tsocks' default server type");
	/* then the first path block */
	cr_assert_eq(rs.rule[7].line, 4);
	cr_assert_eq(rs.rule[7].socks_version, 5);
	cr_assert_str_eq(rs.rule[7].servers[0].host, "10.1.7.25");
	cr_assert_eq(rs.rule[7].servers[0].port, 0);
	/* and the default server for the rest of IPv4 */
	cr_assert_eq(rs.rule[9].line, 17);
	cr_assert_str_eq(rs.rule[9].servers[0].host, "192.168.0.1");
	cr_assert_eq(rs.rule[9].servers[0].port, 7070);
	cr_assert_eq(rs.rule[9].n_servers, 1);
	cr_assert_neq(rs.rule[2].servers, rs.rule[3].servers, "each rule owns its server");
	cr_assert_null(rs.rule[0].servers, "local networks have no server");

	cr_assert_eq(match("192.168.0.9", 80, NULL), 2);
	cr_assert_eq(match("10.9.9.9", 80, NULL), 16);
	cr_assert_eq(match("150.0.1.1", 8001, NULL), 10, "the later path block wins");
	cr_assert_eq(match("150.0.1.1", 8003, NULL), 4);
	cr_assert_eq(match("150.1.1.1", 80, NULL), 5);
	cr_assert_eq(match("150.1.1.1", 81, NULL), 17);
	cr_assert_eq(match("150.2.0.1", 1023, NULL), 11);
	cr_assert_eq(match("150.2.0.1", 1024, NULL), 17);
	cr_assert_eq(match("150.3.0.1", 6000, NULL), 12);
	cr_assert_eq(match("8.8.8.8", 53, NULL), 17);
	cr_assert_eq(match("2001:db8::1", 80, NULL), 0, "tsocks is IPv4 only");
}

Test(rules, tsocks_without_default_server_denies_the_rest)
{
	cr_assert_eq(parse_tsocks("local = 10.0.0.0/255.0.0.0\n"), 0, "%s", err);
	cr_assert_eq(rs.n, 1);
	cr_assert_eq(match("11.0.0.1", 80, NULL), 0);
	cr_assert_null(rs.socks_user);
}

Test(rules, tsocks_errors)
{
	static const struct error_case cases[] = {
		{"server 10.0.0.1", false, "tsocks.conf:1:8: expected '=' after 'server'"},
		{"server = 10.0.0.1 x", false, "tsocks.conf:1:19: unexpected 'x' after the value"},
		{"server =", false, "tsocks.conf:1:9: expected a value after '='"},
		{"server=10.0.0.1", false,
		 "tsocks.conf:1:16: expected '= value' after 'server=10.0.0.1'"},
		{"tordns_enable = true", false,
		 "tsocks.conf:1:1: unknown setting 'tordns_enable' (expected server, server_port, "
		 "server_type, default_user, default_pass, local, reaches or path)"},
		{"server = a\nserver = b", false,
		 "tsocks.conf:2:1: 'server' given twice (first on line 1)"},
		{"server_port = 0", false,
		 "tsocks.conf:1:15: bad server_port '0' (expected 1-65535)"},
		{"server_type = 6", false,
		 "tsocks.conf:1:15: bad server_type '6' (expected 4 or 5)"},
		{"server = fw:1080", false,
		 "tsocks.conf:1:10: a port in 'server' is not tsocks syntax (use server_port)"},
		{"server_port = 1080", false, "tsocks.conf:1:1: 'server_port' without a 'server'"},
		{"local = 10.0.0.0", false,
		 "tsocks.conf:1:9: bad network '10.0.0.0' (expected ADDR/MASK)"},
		{"local = 10.0.0.1/255.0.0.0", false,
		 "tsocks.conf:1:9: address 10.0.0.1 has bits set outside the mask in "
		 "'10.0.0.1/255.0.0.0'"},
		{"local = 10.0.0.0/255.0.0.256", false,
		 "tsocks.conf:1:18: bad mask '255.0.0.256' in '10.0.0.0/255.0.0.256'"},
		{"local = fd00::/8", false,
		 "tsocks.conf:1:9: bad address 'fd00' in 'fd00::/8' (expected an IPv4 address)"},
		{"local = 10.0.0.0:80/8", false,
		 "tsocks.conf:1:17: ports are not allowed in 'local' ('10.0.0.0:80/8')"},
		{"reaches = 10.0.0.0/8", false,
		 "tsocks.conf:1:1: 'reaches' is only valid inside a path block"},
		{"path {\nlocal = 10.0.0.0/8", false,
		 "tsocks.conf:2:1: 'local' is not valid inside a path block (the block starts on "
		 "line 1)"},
		{"path {\ndefault_user = ann", false,
		 "tsocks.conf:2:1: 'default_user' inside a path block is not supported "
		 "(pmsocks-ns has one SOCKS user name and password)"},
		{"path {\npath {", false,
		 "tsocks.conf:2:1: path blocks cannot be nested (the open one starts on line 1)"},
		{"path", false, "tsocks.conf:1:5: expected '{' after 'path'"},
		{"path { x", false, "tsocks.conf:1:8: unexpected 'x' after 'path {'"},
		{"}", false, "tsocks.conf:1:1: '}' without 'path {'"},
		{"path {\nreaches = 10.0.0.0/8\n}", false,
		 "tsocks.conf:3:1: the path block starting on line 1 has no server"},
		{"path {\nserver = fw\n}", false,
		 "tsocks.conf:3:1: the path block starting on line 1 has no 'reaches'"},
		{"path {\nserver = fw\nreaches = 10.0.0.0/8\n", false,
		 "tsocks.conf:1:1: 'path {' without a closing '}'"},
		{"path {\nreaches = 10.0.0.0:0/8", false,
		 "tsocks.conf:2:20: bad port '0' in '10.0.0.0:0/8' (expected 1-65535)"},
		{"path {\nreaches = 10.0.0.0/8:90-80", false,
		 "tsocks.conf:2:22: port range '90-80' ends before it starts"},
		{"path {\nreaches = 10.0.0.0/8:80-x", false,
		 "tsocks.conf:2:25: bad port 'x' in '10.0.0.0/8:80-x' (expected 1-65535)"},
		{"path {\nreaches = 10.0.0.0/8:1000-2000", false,
		 "tsocks.conf:2:11: port range in '10.0.0.0/8:1000-2000' is too wide to convert "
		 "(at "
		 "most 256 ports, or a range from 1 or up to 65535)"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(parse_tsocks(cases[i].text), -EINVAL, "accepted: %s", cases[i].text);
		cr_assert_str_eq(err, cases[i].message, "for: %s\n got: %s", cases[i].text, err);
		cr_assert_eq(rs.n, 0);
		cr_assert_null(rs.socks_user);
	}
}
