// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for socks.c. Every parser runs on the input and on each of
 * its prefixes, from an exact-size copy so AddressSanitizer sees reads past
 * the end: a parser consumes no more than it was given, and its answers over
 * the prefixes agree (-EAGAIN up to the message's length, then that length;
 * no -EAGAIN after -EPROTO). The builders run with fields taken from the
 * input, and what they build is checked field by field: a SOCKS5 CONNECT
 * request has the layout of a reply, so socks5_parse_reply() must read it
 * back, and the first 8 bytes of a SOCKS4 request are a reply with VN 4. The
 * input also goes through socks_parse_server(). Any broken expectation
 * aborts, so the fuzzer reports it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pmsocks-ns/socks.h"

#include "fuzz.h"

/* Beyond this, the parsers' answers cannot change any more (longest message 262). */
#define FUZZ_PREFIX_MAX (SOCKS_MSG_MAX + 8)

enum fuzz_parser {
	FUZZ_METHOD,
	FUZZ_AUTH,
	FUZZ_REPLY5,
	FUZZ_REPLY4,
	FUZZ_PARSERS,
};

static ssize_t fuzz_parse(enum fuzz_parser which, const uint8_t *data, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct socks_reply r;
	uint8_t byte = 0;
	ssize_t n = -EINVAL;

	CHECK(copy);
	if (len)
		memcpy(copy, data, len);
	switch (which) {
	case FUZZ_METHOD:
		n = socks5_parse_method(copy, len, &byte);
		CHECK(n == -EAGAIN || n == -EPROTO || n == -EACCES || n == 2);
		if (n == 2)
			CHECK(byte == SOCKS5_METHOD_NONE || byte == SOCKS5_METHOD_USERPASS);
		break;
	case FUZZ_AUTH:
		n = socks5_parse_auth(copy, len, &byte);
		CHECK(n == -EAGAIN || n == -EPROTO || n == 2);
		if (n == 2)
			CHECK(byte == copy[1]);
		break;
	case FUZZ_REPLY5:
		n = socks5_parse_reply(copy, len, &r);
		CHECK(n == -EAGAIN || n == -EPROTO || (n >= 8 && n <= 262));
		if (n > 0) {
			CHECK(r.code == copy[1]);
			CHECK(r.family == AF_INET || r.family == AF_INET6 || r.family == 0);
			if (r.family == 0)
				CHECK(strnlen(r.bound_name, sizeof(r.bound_name)) <
				      sizeof(r.bound_name));
			CHECK(r.bound_port == (copy[n - 2] << 8 | copy[n - 1]));
			CHECK(socks_reply_text(5, r.code));
			CHECK((socks_reply_errno(5, r.code) == 0) == (r.code == 0));
		}
		break;
	case FUZZ_REPLY4:
		n = socks4_parse_reply(copy, len, &r);
		CHECK(n == -EAGAIN || n == -EPROTO || n == 8);
		if (n > 0) {
			CHECK(r.code == copy[1] && r.family == AF_INET);
			CHECK(socks_reply_text(4, r.code));
			CHECK((socks_reply_errno(4, r.code) == 0) == (r.code == 90));
		}
		break;
	case FUZZ_PARSERS:
		break;
	}
	free(copy);
	CHECK(n < 0 || (size_t)n <= len);
	return n;
}

static void fuzz_parsers(const uint8_t *data, size_t size)
{
	size_t len, max = size < FUZZ_PREFIX_MAX ? size : FUZZ_PREFIX_MAX;
	int which;

	for (which = 0; which < FUZZ_PARSERS; which++) {
		ssize_t whole = fuzz_parse(which, data, size), prev = 0, n;

		for (len = 0; len <= max; len++) {
			n = fuzz_parse(which, data, len);
			if (prev > 0) {
				/* Complete: the same message, whatever follows. */
				CHECK(n == prev);
			} else if (prev < 0 && prev != -EAGAIN) {
				/* An error stays an error. */
				CHECK(n == prev);
			}
			prev = n;
		}
		if (prev != -EAGAIN)
			CHECK(whole == prev);
	}
}

/* A NUL-terminated string of at most @max bytes from @data, advancing it. */
static const char *fuzz_take_string(const uint8_t **data, size_t *size, char *buf, size_t max)
{
	size_t len = 0;

	while (len < *size && len < max && (*data)[len])
		len++;
	memcpy(buf, *data, len);
	buf[len] = '\0';
	*data += len < *size ? len + 1 : len;
	*size -= len < *size ? len + 1 : len;
	return buf;
}

static void fuzz_builders(const uint8_t *data, size_t size)
{
	static const int families[] = {0, AF_INET, AF_INET6, AF_UNIX};
	char name[SOCKS_NAME_MAX + 2], user[SOCKS_NAME_MAX + 2], pass[SOCKS_NAME_MAX + 2];
	uint8_t buf[SOCKS_MSG_MAX], cap_byte;
	struct socks_reply r;
	struct socks_dest d;
	size_t cap, name_len, user_len, pass_len;
	ssize_t n;

	if (size < 20)
		return;
	memset(&d, 0, sizeof(d));
	d.family = families[data[0] & 3];
	memcpy(&d.addr, data + 1, sizeof(d.addr.v6));
	d.port = (uint16_t)(data[17] << 8 | data[18]);
	cap_byte = data[19];
	data += 20;
	size -= 20;
	/* Up to 256 bytes each, so the too-long case is reached. */
	d.name = fuzz_take_string(&data, &size, name, SOCKS_NAME_MAX + 1);
	fuzz_take_string(&data, &size, user, SOCKS_NAME_MAX + 1);
	fuzz_take_string(&data, &size, pass, SOCKS_NAME_MAX + 1);
	name_len = strlen(name);
	user_len = strlen(user);
	pass_len = strlen(pass);
	/* Mostly room enough, sometimes not. */
	cap = cap_byte & 0x80 ? sizeof(buf) : (size_t)cap_byte * 5;
	if (cap > sizeof(buf))
		cap = sizeof(buf);

	n = socks5_build_greeting(buf, cap, cap_byte & 1);
	CHECK(n == -ENOBUFS || n == 3 + (cap_byte & 1));

	n = socks5_build_auth(buf, cap, user, pass);
	if (!user_len || user_len > SOCKS_NAME_MAX || !pass_len || pass_len > SOCKS_NAME_MAX) {
		CHECK(n == -EINVAL);
	} else if (n != -ENOBUFS) {
		CHECK(n == (ssize_t)(3 + user_len + pass_len) && (size_t)n <= cap);
		CHECK(buf[0] == 1 && buf[1] == user_len && !memcmp(buf + 2, user, user_len));
		CHECK(buf[2 + user_len] == pass_len);
		CHECK(!memcmp(buf + 3 + user_len, pass, pass_len));
	} else {
		CHECK(cap < 3 + user_len + pass_len);
	}

	n = socks5_build_connect(buf, cap, &d);
	if (d.family == AF_UNIX) {
		CHECK(n == -EAFNOSUPPORT);
	} else if (d.family == 0 && (!name_len || name_len > SOCKS_NAME_MAX)) {
		CHECK(n == -EINVAL);
	} else if (n == -ENOBUFS) {
		CHECK(cap < (d.family == AF_INET ? 10 : d.family == AF_INET6 ? 22 : 7 + name_len));
	} else {
		CHECK(n > 0 && (size_t)n <= cap);
		CHECK(socks5_parse_reply(buf, (size_t)n, &r) == n);
		CHECK(r.code == 1 && r.family == d.family && r.bound_port == d.port);
		if (d.family == AF_INET)
			CHECK(!memcmp(&r.bound.v4, &d.addr.v4, sizeof(d.addr.v4)));
		else if (d.family == AF_INET6)
			CHECK(!memcmp(&r.bound.v6, &d.addr.v6, sizeof(d.addr.v6)));
		else
			CHECK(!strcmp(r.bound_name, name));
	}

	n = socks4_build_connect(buf, cap, &d, user);
	if (d.family != AF_INET && d.family != 0) {
		CHECK(n == -EAFNOSUPPORT);
	} else if (user_len > SOCKS_NAME_MAX ||
		   (d.family == 0 && (!name_len || name_len > SOCKS_NAME_MAX))) {
		CHECK(n == -EINVAL);
	} else if (n > 0) {
		CHECK((size_t)n <= cap);
		CHECK(socks4_parse_reply(buf, (size_t)n, &r) == 8);
		CHECK(buf[0] == 4 && r.code == 1 && r.bound_port == d.port);
		CHECK(!memcmp(buf + 8, user, user_len) && buf[8 + user_len] == 0);
		if (d.family == AF_INET) {
			CHECK(!memcmp(&r.bound.v4, &d.addr.v4, 4));
			CHECK((size_t)n == 8 + user_len + 1);
		} else {
			CHECK(!memcmp(buf + 4, (const uint8_t[]){0, 0, 0, 1}, 4));
			CHECK((size_t)n == 8 + user_len + 1 + name_len + 1);
			CHECK(!memcmp(buf + 9 + user_len, name, name_len) && buf[n - 1] == 0);
		}
	} else {
		CHECK(n == -ENOBUFS || n == -EINVAL);
		if (n == -EINVAL) {
			/* Only an IPv4 0.0.0.x (x != 0), which would read as SOCKS4a. */
			const uint8_t *ip = (const uint8_t *)&d.addr.v4;

			CHECK(d.family == AF_INET && !ip[0] && !ip[1] && !ip[2] && ip[3]);
		}
	}
}

static void fuzz_server(const uint8_t *data, size_t size)
{
	char text[512], host[SOCKS_HOST_MAX], err[128];
	uint16_t port = 0;
	size_t len = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
	int ret;

	memcpy(text, data, len);
	text[len] = '\0';
	ret = socks_parse_server(text, SOCKS_PORT_DEFAULT, host, sizeof(host), &port, err,
				 sizeof(err));
	if (ret == 0) {
		CHECK(*host && strlen(host) < sizeof(host) && port);
		CHECK(!strpbrk(host, "[] \t\n"));
	} else {
		CHECK(ret == -EINVAL && *err);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_parsers(data, size);
	fuzz_builders(data, size);
	fuzz_server(data, size);
	return 0;
}
