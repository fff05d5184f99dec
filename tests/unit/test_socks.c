// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for socks.c: SOCKS4/4a/5 message builders and parsers, reply
 * codes, SOCKS server addresses.
 *
 * Expected bytes are written out by hand from the documents (RFC 1928, RFC
 * 1929, SOCKS4.protocol and SOCKS4A.protocol), never produced by the module
 * under test. Parsers are run on heap copies of exactly the bytes given, so
 * AddressSanitizer sees any read past the end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "pmsocks-ns/socks.h"

/* ---- replies, as servers send them ---- */

/* succeeded, bound 10.1.2.3:40000 */
static const uint8_t s5_ok_ipv4[] = {0x05, 0x00, 0x00, 0x01, 0x0a, 0x01, 0x02, 0x03, 0x9c, 0x40};

/* connection refused, bound address all zeros (what Dante sends) */
static const uint8_t s5_refused[] = {0x05, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

/* succeeded, bound [2001:db8::1]:1080 */
static const uint8_t s5_ok_ipv6[] = {
	0x05, 0x00, 0x00, 0x04, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x04, 0x38,
};

/* succeeded, bound proxy.example:8080 */
static const uint8_t s5_ok_name[] = {
	0x05, 0x00, 0x00, 0x03, 0x0d, 'p', 'r', 'o', 'x',  'y',
	'.',  'e',  'x',  'a',	'm',  'p', 'l', 'e', 0x1f, 0x90,
};

/* succeeded, RSV 0x2a (not X'00' as it must be; accepted), bound 192.0.2.1:80 */
static const uint8_t s5_rsv_set[] = {0x05, 0x00, 0x2a, 0x01, 0xc0, 0x00, 0x02, 0x01, 0x00, 0x50};

/* unassigned REP 0x42, bound 192.0.2.1:80 */
static const uint8_t s5_unassigned[] = {0x05, 0x42, 0x00, 0x01, 0xc0, 0x00, 0x02, 0x01, 0x00, 0x50};

/* request granted, 192.0.2.1:8080 */
static const uint8_t s4_granted[] = {0x00, 0x5a, 0x1f, 0x90, 0xc0, 0x00, 0x02, 0x01};

/* request rejected or failed */
static const uint8_t s4_rejected[] = {0x00, 0x5b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

/* request granted with VN 4, as some servers answer */
static const uint8_t s4_granted_vn4[] = {0x04, 0x5a, 0x00, 0x50, 0x0a, 0x00, 0x00, 0x01};

/* Bytes of the destination that arrive in the same read as the reply. */
static const uint8_t stream[] = "SSH-2.0-OpenSSH_9.6\r\n\x05\x00\x00\x01";

enum parser {
	PARSE_METHOD,
	PARSE_AUTH,
	PARSE_REPLY5,
	PARSE_REPLY4,
};

/* Run a parser on a heap copy of exactly @len bytes of @msg. */
static ssize_t parse_exact(enum parser which, const uint8_t *msg, size_t len, struct socks_reply *r,
			   uint8_t *byte)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct socks_reply unused_reply;
	uint8_t unused_byte;
	ssize_t n = 0;

	cr_assert_not_null(copy);
	if (len)
		memcpy(copy, msg, len);
	if (!r)
		r = &unused_reply;
	if (!byte)
		byte = &unused_byte;
	switch (which) {
	case PARSE_METHOD:
		n = socks5_parse_method(copy, len, byte);
		break;
	case PARSE_AUTH:
		n = socks5_parse_auth(copy, len, byte);
		break;
	case PARSE_REPLY5:
		n = socks5_parse_reply(copy, len, r);
		break;
	case PARSE_REPLY4:
		n = socks4_parse_reply(copy, len, r);
		break;
	}
	free(copy);
	return n;
}

/*
 * Every strict prefix of @msg is incomplete, the whole of it is consumed
 * exactly, and so it is with stream bytes (or a second message) after it.
 */
static void expect_whole(enum parser which, const uint8_t *msg, size_t len, const char *what)
{
	uint8_t buf[SOCKS_MSG_MAX + sizeof(stream)];
	ssize_t n;
	size_t i;

	cr_assert_leq(len + sizeof(stream), sizeof(buf));
	for (i = 0; i < len; i++) {
		n = parse_exact(which, msg, i, NULL, NULL);
		cr_assert_eq(n, -EAGAIN, "%s cut to %zu bytes: %zd, want -EAGAIN", what, i, n);
	}
	n = parse_exact(which, msg, len, NULL, NULL);
	cr_assert_eq(n, (ssize_t)len, "%s: %zd, want %zu", what, n, len);

	memcpy(buf, msg, len);
	memcpy(buf + len, stream, sizeof(stream));
	for (i = len; i <= len + sizeof(stream); i++) {
		n = parse_exact(which, buf, i, NULL, NULL);
		cr_assert_eq(n, (ssize_t)len, "%s with %zu stream bytes: %zd, want %zu", what,
			     i - len, n, len);
	}
	memcpy(buf + len, msg, len);
	n = parse_exact(which, buf, 2 * len, NULL, NULL);
	cr_assert_eq(n, (ssize_t)len, "%s twice: %zd, want %zu", what, n, len);
}

static void expect_proto(enum parser which, const uint8_t *msg, size_t len, const char *what)
{
	ssize_t n = parse_exact(which, msg, len, NULL, NULL);

	cr_assert_eq(n, -EPROTO, "%s: %zd, want -EPROTO", what, n);
}

static void expect_bytes(const uint8_t *got, ssize_t n, const uint8_t *want, size_t len,
			 const char *what)
{
	size_t i;

	cr_assert_eq(n, (ssize_t)len, "%s: length %zd, want %zu", what, n, len);
	for (i = 0; i < len; i++)
		cr_assert_eq(got[i], want[i], "%s: byte %zu is %02x, want %02x", what, i, got[i],
			     want[i]);
}

static struct socks_dest dest4(const char *text, uint16_t port)
{
	struct socks_dest d;

	memset(&d, 0, sizeof(d));
	d.family = AF_INET;
	cr_assert_eq(inet_pton(AF_INET, text, &d.addr.v4), 1);
	d.port = port;
	return d;
}

static struct socks_dest dest6(const char *text, uint16_t port)
{
	struct socks_dest d;

	memset(&d, 0, sizeof(d));
	d.family = AF_INET6;
	cr_assert_eq(inet_pton(AF_INET6, text, &d.addr.v6), 1);
	d.port = port;
	return d;
}

static struct socks_dest dest_name(const char *name, uint16_t port)
{
	struct socks_dest d;

	memset(&d, 0, sizeof(d));
	d.family = 0;
	d.name = name;
	d.port = port;
	return d;
}

/* A string of @len copies of @c, in @buf (at least @len + 1 bytes). */
static char *repeat(char *buf, char c, size_t len)
{
	memset(buf, c, len);
	buf[len] = '\0';
	return buf;
}

/* ---- SOCKS5 method negotiation (RFC 1928 3) ---- */

Test(socks5_greeting, without_and_with_credentials)
{
	static const uint8_t no_auth[] = {0x05, 0x01, 0x00};
	static const uint8_t userpass[] = {0x05, 0x02, 0x00, 0x02};
	uint8_t buf[SOCKS_MSG_MAX];

	memset(buf, 0xee, sizeof(buf));
	expect_bytes(buf, socks5_build_greeting(buf, sizeof(buf), false), no_auth, sizeof(no_auth),
		     "no auth");
	cr_assert_eq(buf[3], 0xee, "wrote past the message");
	expect_bytes(buf, socks5_build_greeting(buf, sizeof(buf), true), userpass, sizeof(userpass),
		     "user/pass");
}

Test(socks5_greeting, no_room)
{
	uint8_t buf[4];

	cr_assert_eq(socks5_build_greeting(buf, 2, false), -ENOBUFS);
	cr_assert_eq(socks5_build_greeting(buf, 3, false), 3);
	cr_assert_eq(socks5_build_greeting(buf, 3, true), -ENOBUFS);
	cr_assert_eq(socks5_build_greeting(buf, 4, true), 4);
	cr_assert_eq(socks5_build_greeting(NULL, 0, true), -ENOBUFS);
}

Test(socks5_method, chosen_methods)
{
	uint8_t method = 0x77;

	cr_assert_eq(parse_exact(PARSE_METHOD, (const uint8_t[]){0x05, 0x00}, 2, NULL, &method), 2);
	cr_assert_eq(method, SOCKS5_METHOD_NONE);
	cr_assert_eq(parse_exact(PARSE_METHOD, (const uint8_t[]){0x05, 0x02}, 2, NULL, &method), 2);
	cr_assert_eq(method, SOCKS5_METHOD_USERPASS);
	expect_whole(PARSE_METHOD, (const uint8_t[]){0x05, 0x00}, 2, "method 00");
	expect_whole(PARSE_METHOD, (const uint8_t[]){0x05, 0x02}, 2, "method 02");
}

Test(socks5_method, no_acceptable_method)
{
	uint8_t method = 0;

	cr_assert_eq(parse_exact(PARSE_METHOD, (const uint8_t[]){0x05, 0xff}, 2, NULL, &method),
		     -EACCES);
	cr_assert_eq(method, SOCKS5_METHOD_UNACCEPTABLE);
	cr_assert_eq(parse_exact(PARSE_METHOD, (const uint8_t[]){0x05}, 1, NULL, &method), -EAGAIN);
}

Test(socks5_method, garbage)
{
	/* Wrong version, seen from the first byte on. */
	expect_proto(PARSE_METHOD, (const uint8_t[]){0x04, 0x00}, 2, "version 4");
	expect_proto(PARSE_METHOD, (const uint8_t[]){0x04}, 1, "version 4, one byte");
	expect_proto(PARSE_METHOD, (const uint8_t[]){0x00, 0x5a}, 2, "a SOCKS4 reply");
	expect_proto(PARSE_METHOD, (const uint8_t[]){'H', 'T'}, 2, "HTTP");
	/* Methods never offered: GSSAPI, CHAP, private. */
	expect_proto(PARSE_METHOD, (const uint8_t[]){0x05, 0x01}, 2, "GSSAPI");
	expect_proto(PARSE_METHOD, (const uint8_t[]){0x05, 0x03}, 2, "CHAP");
	expect_proto(PARSE_METHOD, (const uint8_t[]){0x05, 0x80}, 2, "private method");
}

/* ---- RFC 1929 username/password ---- */

Test(socks5_auth, request_bytes)
{
	static const uint8_t want[] = {0x01, 0x05, 'a', 'l', 'i', 'c', 'e',
				       0x06, 's',  'e', 'c', 'r', 'e', 't'};
	static const uint8_t one_byte_each[] = {0x01, 0x01, 'u', 0x01, 'p'};
	uint8_t buf[SOCKS_MSG_MAX];

	expect_bytes(buf, socks5_build_auth(buf, sizeof(buf), "alice", "secret"), want,
		     sizeof(want), "alice/secret");
	expect_bytes(buf, socks5_build_auth(buf, sizeof(buf), "u", "p"), one_byte_each,
		     sizeof(one_byte_each), "u/p");
}

Test(socks5_auth, longest_fields)
{
	char user[SOCKS_NAME_MAX + 1], pass[SOCKS_NAME_MAX + 1];
	uint8_t buf[SOCKS_MSG_MAX];
	size_t i;

	repeat(user, 'u', 255);
	repeat(pass, 'p', 255);
	cr_assert_eq(socks5_build_auth(buf, sizeof(buf), user, pass), 513);
	cr_assert_leq(513, SOCKS_MSG_MAX);
	cr_assert_eq(buf[0], 0x01);
	cr_assert_eq(buf[1], 0xff);
	for (i = 0; i < 255; i++)
		cr_assert_eq(buf[2 + i], 'u', "user byte %zu", i);
	cr_assert_eq(buf[257], 0xff);
	for (i = 0; i < 255; i++)
		cr_assert_eq(buf[258 + i], 'p', "password byte %zu", i);
	cr_assert_eq(socks5_build_auth(buf, 512, user, pass), -ENOBUFS);
	cr_assert_eq(socks5_build_auth(buf, 513, user, pass), 513);
}

Test(socks5_auth, fields_the_protocol_cannot_carry)
{
	char long_field[SOCKS_NAME_MAX + 2];
	uint8_t buf[SOCKS_MSG_MAX];

	repeat(long_field, 'x', 256);
	cr_assert_eq(socks5_build_auth(buf, sizeof(buf), long_field, "p"), -EINVAL);
	cr_assert_eq(socks5_build_auth(buf, sizeof(buf), "u", long_field), -EINVAL);
	cr_assert_eq(socks5_build_auth(buf, sizeof(buf), "", "p"), -EINVAL);
	cr_assert_eq(socks5_build_auth(buf, sizeof(buf), "u", ""), -EINVAL);
	cr_assert_eq(socks5_build_auth(buf, sizeof(buf), NULL, "p"), -EINVAL);
	cr_assert_eq(socks5_build_auth(buf, sizeof(buf), "u", NULL), -EINVAL);
	/* Bad input is reported before lack of room. */
	cr_assert_eq(socks5_build_auth(buf, 0, "", "p"), -EINVAL);
}

Test(socks5_auth, status_reply)
{
	uint8_t status = 0x77;

	cr_assert_eq(parse_exact(PARSE_AUTH, (const uint8_t[]){0x01, 0x00}, 2, NULL, &status), 2);
	cr_assert_eq(status, 0);
	cr_assert_eq(parse_exact(PARSE_AUTH, (const uint8_t[]){0x01, 0x01}, 2, NULL, &status), 2);
	cr_assert_eq(status, 1);
	cr_assert_eq(parse_exact(PARSE_AUTH, (const uint8_t[]){0x01, 0xff}, 2, NULL, &status), 2);
	cr_assert_eq(status, 0xff);
	/* Version 5 instead of 1, as some servers answer. */
	cr_assert_eq(parse_exact(PARSE_AUTH, (const uint8_t[]){0x05, 0x00}, 2, NULL, &status), 2);
	cr_assert_eq(status, 0);
	expect_whole(PARSE_AUTH, (const uint8_t[]){0x01, 0x00}, 2, "auth success");
	expect_whole(PARSE_AUTH, (const uint8_t[]){0x01, 0x01}, 2, "auth failure");
}

Test(socks5_auth, garbage)
{
	expect_proto(PARSE_AUTH, (const uint8_t[]){0x02, 0x00}, 2, "version 2");
	expect_proto(PARSE_AUTH, (const uint8_t[]){0x00}, 1, "version 0, one byte");
	expect_proto(PARSE_AUTH, (const uint8_t[]){0x04, 0x00}, 2, "version 4");
}

/* ---- SOCKS5 CONNECT (RFC 1928 4, 5) ---- */

Test(socks5_connect, ipv4)
{
	static const uint8_t want[] = {0x05, 0x01, 0x00, 0x01, 0xc6, 0x33, 0x64, 0x07, 0xad, 0x21};
	struct socks_dest d = dest4("198.51.100.7", 44321);
	uint8_t buf[SOCKS_MSG_MAX];

	expect_bytes(buf, socks5_build_connect(buf, sizeof(buf), &d), want, sizeof(want),
		     "198.51.100.7:44321");
	cr_assert_eq(socks5_build_connect(buf, sizeof(want) - 1, &d), -ENOBUFS);
	cr_assert_eq(socks5_build_connect(buf, sizeof(want), &d), (ssize_t)sizeof(want));
}

Test(socks5_connect, ipv6)
{
	static const uint8_t want[] = {
		0x05, 0x01, 0x00, 0x04, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x50,
	};
	struct socks_dest d = dest6("2001:db8::1", 80);
	uint8_t buf[SOCKS_MSG_MAX];

	expect_bytes(buf, socks5_build_connect(buf, sizeof(buf), &d), want, sizeof(want),
		     "[2001:db8::1]:80");
	cr_assert_eq(socks5_build_connect(buf, sizeof(want) - 1, &d), -ENOBUFS);
}

Test(socks5_connect, domain_name)
{
	static const uint8_t want[] = {0x05, 0x01, 0x00, 0x03, 0x06, 'p', 'c',
				       'p',  '.',  'i',	 'o',  0xad, 0x21};
	struct socks_dest d = dest_name("pcp.io", 44321);
	uint8_t buf[SOCKS_MSG_MAX];

	expect_bytes(buf, socks5_build_connect(buf, sizeof(buf), &d), want, sizeof(want),
		     "pcp.io:44321");
	cr_assert_eq(socks5_build_connect(buf, sizeof(want) - 1, &d), -ENOBUFS);
}

Test(socks5_connect, longest_name)
{
	char name[SOCKS_NAME_MAX + 1];
	uint8_t buf[SOCKS_MSG_MAX];
	struct socks_dest d = dest_name(repeat(name, 'n', 255), 1);
	size_t i;

	cr_assert_eq(socks5_build_connect(buf, sizeof(buf), &d), 262);
	expect_bytes(buf, 5, (const uint8_t[]){0x05, 0x01, 0x00, 0x03, 0xff}, 5, "header");
	for (i = 0; i < 255; i++)
		cr_assert_eq(buf[5 + i], 'n', "name byte %zu", i);
	cr_assert_eq(buf[260], 0x00);
	cr_assert_eq(buf[261], 0x01);
	cr_assert_eq(socks5_build_connect(buf, 261, &d), -ENOBUFS);
}

Test(socks5_connect, destinations_the_protocol_cannot_carry)
{
	char name[SOCKS_NAME_MAX + 2];
	uint8_t buf[SOCKS_MSG_MAX];
	struct socks_dest d;

	d = dest_name(repeat(name, 'n', 256), 80);
	cr_assert_eq(socks5_build_connect(buf, sizeof(buf), &d), -EINVAL);
	d = dest_name("", 80);
	cr_assert_eq(socks5_build_connect(buf, sizeof(buf), &d), -EINVAL);
	d = dest_name(NULL, 80);
	cr_assert_eq(socks5_build_connect(buf, sizeof(buf), &d), -EINVAL);
	d = dest4("192.0.2.1", 80);
	d.family = AF_UNIX;
	cr_assert_eq(socks5_build_connect(buf, sizeof(buf), &d), -EAFNOSUPPORT);
}

Test(socks5_reply, fields)
{
	struct socks_reply r;
	struct in6_addr want6;

	cr_assert_eq(parse_exact(PARSE_REPLY5, s5_ok_ipv4, sizeof(s5_ok_ipv4), &r, NULL), 10);
	cr_assert_eq(r.code, SOCKS5_REP_SUCCEEDED);
	cr_assert_eq(r.family, AF_INET);
	cr_assert_eq(ntohl(r.bound.v4.s_addr), 0x0a010203);
	cr_assert_eq(r.bound_port, 40000);

	cr_assert_eq(parse_exact(PARSE_REPLY5, s5_refused, sizeof(s5_refused), &r, NULL), 10);
	cr_assert_eq(r.code, SOCKS5_REP_REFUSED);
	cr_assert_eq(r.family, AF_INET);
	cr_assert_eq(r.bound.v4.s_addr, 0);
	cr_assert_eq(r.bound_port, 0);

	cr_assert_eq(parse_exact(PARSE_REPLY5, s5_ok_ipv6, sizeof(s5_ok_ipv6), &r, NULL), 22);
	cr_assert_eq(r.code, 0);
	cr_assert_eq(r.family, AF_INET6);
	cr_assert_eq(inet_pton(AF_INET6, "2001:db8::1", &want6), 1);
	cr_assert_arr_eq(&r.bound.v6, &want6, sizeof(want6));
	cr_assert_eq(r.bound_port, 1080);

	cr_assert_eq(parse_exact(PARSE_REPLY5, s5_ok_name, sizeof(s5_ok_name), &r, NULL), 20);
	cr_assert_eq(r.code, 0);
	cr_assert_eq(r.family, 0);
	cr_assert_str_eq(r.bound_name, "proxy.example");
	cr_assert_eq(r.bound_port, 8080);

	cr_assert_eq(parse_exact(PARSE_REPLY5, s5_rsv_set, sizeof(s5_rsv_set), &r, NULL), 10);
	cr_assert_eq(r.code, 0);
	cr_assert_eq(ntohl(r.bound.v4.s_addr), 0xc0000201);
	cr_assert_eq(r.bound_port, 80);

	cr_assert_eq(parse_exact(PARSE_REPLY5, s5_unassigned, sizeof(s5_unassigned), &r, NULL), 10);
	cr_assert_eq(r.code, 0x42);
}

Test(socks5_reply, every_prefix_incomplete_and_exact_length_consumed)
{
	expect_whole(PARSE_REPLY5, s5_ok_ipv4, sizeof(s5_ok_ipv4), "IPv4 success");
	expect_whole(PARSE_REPLY5, s5_refused, sizeof(s5_refused), "refused");
	expect_whole(PARSE_REPLY5, s5_ok_ipv6, sizeof(s5_ok_ipv6), "IPv6 success");
	expect_whole(PARSE_REPLY5, s5_ok_name, sizeof(s5_ok_name), "name success");
	expect_whole(PARSE_REPLY5, s5_rsv_set, sizeof(s5_rsv_set), "RSV set");
	expect_whole(PARSE_REPLY5, s5_unassigned, sizeof(s5_unassigned), "unassigned REP");
}

Test(socks5_reply, longest_and_shortest_names)
{
	uint8_t msg[4 + 1 + 255 + 2] = {0x05, 0x00, 0x00, 0x03, 0xff};
	uint8_t one[] = {0x05, 0x00, 0x00, 0x03, 0x01, 'x', 0x00, 0x50};
	struct socks_reply r;
	char want[256];

	memset(msg + 5, 'b', 255);
	msg[260] = 0xff;
	msg[261] = 0xfe;
	expect_whole(PARSE_REPLY5, msg, sizeof(msg), "255-byte name");
	cr_assert_eq(parse_exact(PARSE_REPLY5, msg, sizeof(msg), &r, NULL), 262);
	cr_assert_str_eq(r.bound_name, repeat(want, 'b', 255));
	cr_assert_eq(r.bound_port, 0xfffe);
	cr_assert_leq(sizeof(msg), SOCKS_MSG_MAX);

	expect_whole(PARSE_REPLY5, one, sizeof(one), "1-byte name");
	cr_assert_eq(parse_exact(PARSE_REPLY5, one, sizeof(one), &r, NULL), 8);
	cr_assert_str_eq(r.bound_name, "x");
}

Test(socks5_reply, code_known_before_the_end)
{
	struct socks_reply r;

	/* A server that closes after VER and REP: the caller can still say why. */
	cr_assert_eq(parse_exact(PARSE_REPLY5, s5_refused, 2, &r, NULL), -EAGAIN);
	cr_assert_eq(r.code, SOCKS5_REP_REFUSED);
	cr_assert_eq(
		parse_exact(PARSE_REPLY5, (const uint8_t[]){0x05, 0x04, 0x00, 0x09}, 4, &r, NULL),
		-EPROTO);
	cr_assert_eq(r.code, SOCKS5_REP_HOST_UNREACHABLE);
}

Test(socks5_reply, garbage)
{
	uint8_t b[sizeof(s5_ok_ipv4)];
	static const uint8_t bad_atyp[] = {0x00, 0x02, 0x05, 0x06, 0x7f, 0xff};
	size_t i;

	memcpy(b, s5_ok_ipv4, sizeof(b));
	b[0] = 0x04;
	expect_proto(PARSE_REPLY5, b, sizeof(b), "version 4");
	expect_proto(PARSE_REPLY5, b, 1, "version 4, one byte");
	b[0] = 0x00;
	expect_proto(PARSE_REPLY5, b, sizeof(b), "version 0 (a SOCKS4 reply)");
	expect_proto(PARSE_REPLY5, s4_granted, sizeof(s4_granted), "SOCKS4 granted");
	expect_proto(PARSE_REPLY5, (const uint8_t *)"HTTP/1.1 400", 12, "HTTP");

	memcpy(b, s5_ok_ipv4, sizeof(b));
	for (i = 0; i < sizeof(bad_atyp); i++) {
		char what[32];

		b[3] = bad_atyp[i];
		snprintf(what, sizeof(what), "ATYP %02x", bad_atyp[i]);
		expect_proto(PARSE_REPLY5, b, sizeof(b), what);
		/* Known as soon as ATYP is in. */
		expect_proto(PARSE_REPLY5, b, 4, what);
	}

	/* A domain name of zero bytes (RFC 1928 5: one length octet, then the name). */
	expect_proto(PARSE_REPLY5, (const uint8_t[]){0x05, 0x00, 0x00, 0x03, 0x00, 0x00, 0x50}, 7,
		     "empty name");
	expect_proto(PARSE_REPLY5, (const uint8_t[]){0x05, 0x00, 0x00, 0x03, 0x00}, 5,
		     "empty name, up to its length");
}

/* ---- SOCKS4 and SOCKS4a ---- */

Test(socks4_connect, ipv4_without_userid)
{
	static const uint8_t want[] = {0x04, 0x01, 0xad, 0x21, 0xc6, 0x33, 0x64, 0x07, 0x00};
	struct socks_dest d = dest4("198.51.100.7", 44321);
	uint8_t buf[SOCKS_MSG_MAX];

	expect_bytes(buf, socks4_build_connect(buf, sizeof(buf), &d, NULL), want, sizeof(want),
		     "no userid");
	expect_bytes(buf, socks4_build_connect(buf, sizeof(buf), &d, ""), want, sizeof(want),
		     "empty userid");
	cr_assert_eq(socks4_build_connect(buf, sizeof(want) - 1, &d, NULL), -ENOBUFS);
	cr_assert_eq(socks4_build_connect(buf, sizeof(want), &d, NULL), (ssize_t)sizeof(want));
}

Test(socks4_connect, ipv4_with_userid)
{
	static const uint8_t want[] = {0x04, 0x01, 0xad, 0x21, 0xc6, 0x33,
				       0x64, 0x07, 'p',	 'c',  'p',  0x00};
	struct socks_dest d = dest4("198.51.100.7", 44321);
	uint8_t buf[SOCKS_MSG_MAX];

	expect_bytes(buf, socks4_build_connect(buf, sizeof(buf), &d, "pcp"), want, sizeof(want),
		     "userid pcp");
	cr_assert_eq(socks4_build_connect(buf, sizeof(want) - 1, &d, "pcp"), -ENOBUFS);
}

Test(socks4a_connect, name_without_userid)
{
	static const uint8_t want[] = {0x04, 0x01, 0xad, 0x21, 0x00, 0x00, 0x00, 0x01,
				       0x00, 'p',  'c',	 'p',  '.',  'i',  'o',	 0x00};
	struct socks_dest d = dest_name("pcp.io", 44321);
	uint8_t buf[SOCKS_MSG_MAX];

	expect_bytes(buf, socks4_build_connect(buf, sizeof(buf), &d, NULL), want, sizeof(want),
		     "4a, no userid");
	cr_assert_eq(socks4_build_connect(buf, sizeof(want) - 1, &d, NULL), -ENOBUFS);
}

Test(socks4a_connect, name_with_userid)
{
	static const uint8_t want[] = {0x04, 0x01, 0xad, 0x21, 0x00, 0x00, 0x00, 0x01, 'p', 'c',
				       'p',  0x00, 'p',	 'c',  'p',  '.',  'i',	 'o',  0x00};
	struct socks_dest d = dest_name("pcp.io", 44321);
	uint8_t buf[SOCKS_MSG_MAX];

	expect_bytes(buf, socks4_build_connect(buf, sizeof(buf), &d, "pcp"), want, sizeof(want),
		     "4a, userid pcp");
}

Test(socks4a_connect, longest_fields)
{
	char userid[SOCKS_NAME_MAX + 1], name[SOCKS_NAME_MAX + 1];
	struct socks_dest d = dest_name(repeat(name, 'n', 255), 80);
	uint8_t buf[SOCKS_MSG_MAX];
	size_t i;

	repeat(userid, 'u', 255);
	cr_assert_eq(socks4_build_connect(buf, sizeof(buf), &d, userid), 8 + 256 + 256);
	expect_bytes(buf, 8, (const uint8_t[]){0x04, 0x01, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01}, 8,
		     "header");
	for (i = 0; i < 255; i++) {
		cr_assert_eq(buf[8 + i], 'u');
		cr_assert_eq(buf[264 + i], 'n');
	}
	cr_assert_eq(buf[263], 0x00);
	cr_assert_eq(buf[519], 0x00);
	cr_assert_eq(socks4_build_connect(buf, 519, &d, userid), -ENOBUFS);
}

Test(socks4_connect, destinations_the_protocol_cannot_carry)
{
	char long_field[SOCKS_NAME_MAX + 2];
	uint8_t buf[SOCKS_MSG_MAX];
	struct socks_dest d;

	d = dest6("2001:db8::1", 80);
	cr_assert_eq(socks4_build_connect(buf, sizeof(buf), &d, NULL), -EAFNOSUPPORT);
	d.family = AF_UNIX;
	cr_assert_eq(socks4_build_connect(buf, sizeof(buf), &d, NULL), -EAFNOSUPPORT);
	/* 0.0.0.x would read as SOCKS4a; 0.0.0.0 does not. */
	d = dest4("0.0.0.7", 80);
	cr_assert_eq(socks4_build_connect(buf, sizeof(buf), &d, NULL), -EINVAL);
	d = dest4("0.0.0.0", 80);
	cr_assert_eq(socks4_build_connect(buf, sizeof(buf), &d, NULL), 9);
	d = dest4("0.0.1.0", 80);
	cr_assert_eq(socks4_build_connect(buf, sizeof(buf), &d, NULL), 9);

	repeat(long_field, 'x', 256);
	d = dest4("192.0.2.1", 80);
	cr_assert_eq(socks4_build_connect(buf, sizeof(buf), &d, long_field), -EINVAL);
	d = dest_name(long_field, 80);
	cr_assert_eq(socks4_build_connect(buf, sizeof(buf), &d, NULL), -EINVAL);
	d = dest_name("", 80);
	cr_assert_eq(socks4_build_connect(buf, sizeof(buf), &d, NULL), -EINVAL);
	d = dest_name(NULL, 80);
	cr_assert_eq(socks4_build_connect(buf, sizeof(buf), &d, NULL), -EINVAL);
}

Test(socks4_reply, fields)
{
	struct socks_reply r;

	cr_assert_eq(parse_exact(PARSE_REPLY4, s4_granted, sizeof(s4_granted), &r, NULL), 8);
	cr_assert_eq(r.code, SOCKS4_CD_GRANTED);
	cr_assert_eq(r.family, AF_INET);
	cr_assert_eq(ntohl(r.bound.v4.s_addr), 0xc0000201);
	cr_assert_eq(r.bound_port, 8080);

	cr_assert_eq(parse_exact(PARSE_REPLY4, s4_rejected, sizeof(s4_rejected), &r, NULL), 8);
	cr_assert_eq(r.code, SOCKS4_CD_REJECTED);

	cr_assert_eq(parse_exact(PARSE_REPLY4, s4_granted_vn4, sizeof(s4_granted_vn4), &r, NULL),
		     8);
	cr_assert_eq(r.code, SOCKS4_CD_GRANTED);
	cr_assert_eq(ntohl(r.bound.v4.s_addr), 0x0a000001);
	cr_assert_eq(r.bound_port, 80);

	cr_assert_eq(parse_exact(PARSE_REPLY4, (const uint8_t[]){0x00, 0x5c, 0, 0, 0, 0, 0, 0}, 8,
				 &r, NULL),
		     8);
	cr_assert_eq(r.code, SOCKS4_CD_NO_IDENTD);
	cr_assert_eq(parse_exact(PARSE_REPLY4, (const uint8_t[]){0x00, 0x5d, 0, 0, 0, 0, 0, 0}, 8,
				 &r, NULL),
		     8);
	cr_assert_eq(r.code, SOCKS4_CD_IDENTD_MISMATCH);

	cr_assert_eq(parse_exact(PARSE_REPLY4, s4_rejected, 2, &r, NULL), -EAGAIN);
	cr_assert_eq(r.code, SOCKS4_CD_REJECTED);
}

Test(socks4_reply, every_prefix_incomplete_and_exact_length_consumed)
{
	expect_whole(PARSE_REPLY4, s4_granted, sizeof(s4_granted), "granted");
	expect_whole(PARSE_REPLY4, s4_rejected, sizeof(s4_rejected), "rejected");
	expect_whole(PARSE_REPLY4, s4_granted_vn4, sizeof(s4_granted_vn4), "granted, VN 4");
}

Test(socks4_reply, garbage)
{
	uint8_t b[sizeof(s4_granted)];

	memcpy(b, s4_granted, sizeof(b));
	b[0] = 0x05;
	expect_proto(PARSE_REPLY4, b, sizeof(b), "VN 5");
	expect_proto(PARSE_REPLY4, b, 1, "VN 5, one byte");
	b[0] = 0x01;
	expect_proto(PARSE_REPLY4, b, sizeof(b), "VN 1");
	b[0] = 0x5a;
	expect_proto(PARSE_REPLY4, b, sizeof(b), "CD where VN belongs");
	expect_proto(PARSE_REPLY4, s5_ok_ipv4, sizeof(s5_ok_ipv4), "a SOCKS5 reply");
}

/* ---- reply codes ---- */

Test(socks_reply_errno, socks5_codes)
{
	static const struct {
		uint8_t code;
		int want;
	} table[] = {
		{0x00, 0},
		{0x01, ECONNREFUSED},
		{0x02, ECONNREFUSED},
		{0x03, ENETUNREACH},
		{0x04, EHOSTUNREACH},
		{0x05, ECONNREFUSED},
		{0x06, ETIMEDOUT},
		{0x07, ECONNREFUSED},
		{0x08, ECONNREFUSED},
		{0x09, ECONNREFUSED},
		{0x5a, ECONNREFUSED},
		{0xff, ECONNREFUSED},
	};
	unsigned int code;
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		cr_assert_eq(socks_reply_errno(5, table[i].code), table[i].want,
			     "REP %02x: %d, want %d", table[i].code,
			     socks_reply_errno(5, table[i].code), table[i].want);
	for (code = 0x09; code <= 0xff; code++)
		cr_assert_eq(socks_reply_errno(5, (uint8_t)code), ECONNREFUSED, "REP %02x", code);
}

Test(socks_reply_errno, socks4_codes)
{
	unsigned int code;

	cr_assert_eq(socks_reply_errno(4, 90), 0);
	cr_assert_eq(socks_reply_errno(4, 91), ECONNREFUSED);
	cr_assert_eq(socks_reply_errno(4, 92), ECONNREFUSED);
	cr_assert_eq(socks_reply_errno(4, 93), ECONNREFUSED);
	for (code = 0; code <= 0xff; code++)
		if (code != 90)
			cr_assert_eq(socks_reply_errno(4, (uint8_t)code), ECONNREFUSED, "CD %u",
				     code);
	/* SOCKS4's success code means nothing in SOCKS5, and the reverse. */
	cr_assert_eq(socks_reply_errno(5, 90), ECONNREFUSED);
	cr_assert_eq(socks_reply_errno(4, 0), ECONNREFUSED);
	cr_assert_eq(socks_reply_errno(3, 0), ECONNREFUSED);
}

Test(socks_reply_text, socks5_names)
{
	static const char *const want[] = {
		"succeeded (REP 00)",
		"general SOCKS server failure (REP 01)",
		"connection not allowed by ruleset (REP 02)",
		"network unreachable (REP 03)",
		"host unreachable (REP 04)",
		"connection refused (REP 05)",
		"TTL expired (REP 06)",
		"command not supported (REP 07)",
		"address type not supported (REP 08)",
	};
	char buf[64];
	unsigned int code;

	for (code = 0; code < sizeof(want) / sizeof(want[0]); code++)
		cr_assert_str_eq(socks_reply_text(5, (uint8_t)code), want[code]);
	for (code = 0x09; code <= 0xff; code++) {
		snprintf(buf, sizeof(buf), "unassigned reply code (REP %02X)", code);
		cr_assert_str_eq(socks_reply_text(5, (uint8_t)code), buf);
	}
	snprintf(buf, sizeof(buf), "sockd %s: %s", "198.18.10.2:1080", socks_reply_text(5, 5));
	cr_assert_str_eq(buf, "sockd 198.18.10.2:1080: connection refused (REP 05)");
}

Test(socks_reply_text, socks4_names)
{
	char buf[64];
	unsigned int code;

	cr_assert_str_eq(socks_reply_text(4, 90), "request granted (CD 90)");
	cr_assert_str_eq(socks_reply_text(4, 91), "request rejected or failed (CD 91)");
	cr_assert_str_eq(socks_reply_text(4, 92),
			 "request rejected: the server cannot connect to identd on the client "
			 "(CD 92)");
	cr_assert_str_eq(socks_reply_text(4, 93),
			 "request rejected: the client program and identd report different "
			 "user-ids (CD 93)");
	for (code = 0; code <= 0xff; code++) {
		if (code >= 90 && code <= 93)
			continue;
		snprintf(buf, sizeof(buf), "unknown reply code (CD %u)", code);
		cr_assert_str_eq(socks_reply_text(4, (uint8_t)code), buf);
	}
	cr_assert_not_null(socks_reply_text(3, 0));
}

/* ---- SOCKS server addresses ---- */

Test(socks_parse_server, good)
{
	static const struct {
		const char *text, *host;
		uint16_t port;
	} table[] = {
		{"proxy", "proxy", 1080},
		{"fw1.example.com:44321", "fw1.example.com", 44321},
		{"1.2.3.4:1080", "1.2.3.4", 1080},
		{"198.18.10.2", "198.18.10.2", 1080},
		{"[fd42::2]:1080", "fd42::2", 1080},
		{"[fd42::2]:9050", "fd42::2", 9050},
		{"[fd42::2]", "fd42::2", 1080},
		{"fd42::2", "fd42::2", 1080},
		{"::1", "::1", 1080},
		/* Looks like a port, but is the last group of the address. */
		{"fd42::2:1080", "fd42::2:1080", 1080},
		{"[::ffff:192.0.2.1]:1", "::ffff:192.0.2.1", 1},
		{"h:65535", "h", 65535},
		{"h:0080", "h", 80},
	};
	char host[SOCKS_HOST_MAX], err[256];
	uint16_t port;
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		int ret;

		port = 0;
		ret = socks_parse_server(table[i].text, 1080, host, sizeof(host), &port, err,
					 sizeof(err));
		cr_assert_eq(ret, 0, "'%s': %d %s", table[i].text, ret, err);
		cr_assert_str_eq(host, table[i].host, "'%s'", table[i].text);
		cr_assert_eq(port, table[i].port, "'%s': port %u", table[i].text, port);
	}
	cr_assert_eq(socks_parse_server("proxy", 9050, host, sizeof(host), &port, err, sizeof(err)),
		     0);
	cr_assert_eq(port, 9050);
}

Test(socks_parse_server, bad)
{
	static const struct {
		const char *text, *reason;
	} table[] = {
		{"", "empty SOCKS server address"},
		{":1080", "empty host"},
		{"host:", "empty port"},
		{"[fd42::2]:", "empty port"},
		{"host:0", "port '0' is not a number from 1 to 65535"},
		{"host:65536", "port '65536' is not a number from 1 to 65535"},
		{"host:99999999999999999999999", "is not a number from 1 to 65535"},
		{"host:-1", "port '-1' is not"},
		{"host:+80", "port '+80' is not"},
		{"host:socks", "port 'socks' is not"},
		{"host:80x", "port '80x' is not"},
		{"host: 80", "blank or control character"},
		{" host", "blank or control character"},
		{"host\n", "blank or control character"},
		{"[fd42::2:1080", "'[' without a matching ']'"},
		{"[", "'[' without a matching ']'"},
		{"fd42::2]:1080", "unbalanced brackets"},
		{"host]", "unbalanced brackets"},
		{"ho[st", "unbalanced brackets"},
		{"[fd42::2]]", "unexpected ']' after ']'"},
		{"[fd42::2]1080", "unexpected '1080' after ']'"},
		{"[]:1080", "empty address in brackets"},
		{"[]", "empty address in brackets"},
		{"[proxy]:1080", "'proxy' in brackets is not an IPv6 address"},
		{"[1.2.3.4]:1080", "'1.2.3.4' in brackets is not an IPv6 address"},
		{"fd42::2::3", "not an IPv6 address"},
		{"a:b:c", "not an IPv6 address"},
		{"fd42::2:99999", "not an IPv6 address"},
	};
	char host[SOCKS_HOST_MAX], err[256];
	uint16_t port;
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		int ret;

		memcpy(host, "untouched", 10);
		port = 4242;
		ret = socks_parse_server(table[i].text, 1080, host, sizeof(host), &port, err,
					 sizeof(err));
		cr_assert_eq(ret, -EINVAL, "'%s': %d, want -EINVAL", table[i].text, ret);
		cr_assert_not_null(strstr(err, table[i].reason), "'%s': message '%s' lacks '%s'",
				   table[i].text, err, table[i].reason);
		if (*table[i].text && !strchr(table[i].text, '\n')) {
			char quoted[128];

			snprintf(quoted, sizeof(quoted), "SOCKS server '%s': ", table[i].text);
			cr_assert_not_null(strstr(err, quoted), "message '%s' does not name '%s'",
					   err, table[i].text);
		}
		cr_assert_str_eq(host, "untouched", "'%s'", table[i].text);
		cr_assert_eq(port, 4242, "'%s'", table[i].text);
	}
	cr_assert_eq(socks_parse_server(NULL, 1080, host, sizeof(host), &port, err, sizeof(err)),
		     -EINVAL);
	cr_assert_str_eq(err, "empty SOCKS server address");
}

Test(socks_parse_server, host_length)
{
	char text[SOCKS_HOST_MAX + 8], host[SOCKS_HOST_MAX], small[8], err[512];
	uint16_t port;

	repeat(text, 'h', 255);
	cr_assert_eq(socks_parse_server(text, 1080, host, sizeof(host), &port, err, sizeof(err)),
		     0);
	cr_assert_eq(strlen(host), 255);
	repeat(text, 'h', 256);
	cr_assert_eq(socks_parse_server(text, 1080, host, sizeof(host), &port, err, sizeof(err)),
		     -EINVAL);
	cr_assert_not_null(strstr(err, "host longer than 255 bytes"), "%s", err);

	cr_assert_eq(socks_parse_server("1234567:1", 1080, small, sizeof(small), &port, err,
					sizeof(err)),
		     0);
	cr_assert_str_eq(small, "1234567");
	cr_assert_eq(socks_parse_server("12345678:1", 1080, small, sizeof(small), &port, err,
					sizeof(err)),
		     -EINVAL);
	cr_assert_not_null(strstr(err, "host longer than 7 bytes"), "%s", err);
}

Test(socks_parse_server, small_error_buffer)
{
	char host[SOCKS_HOST_MAX], err[16];
	uint16_t port;

	cr_assert_eq(
		socks_parse_server("host:0", 1080, host, sizeof(host), &port, err, sizeof(err)),
		-EINVAL);
	cr_assert_eq(strlen(err), sizeof(err) - 1);
	cr_assert_eq(socks_parse_server("host:0", 1080, host, sizeof(host), &port, NULL, 0),
		     -EINVAL);
}
