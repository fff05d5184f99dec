// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * socks.c - SOCKS4, SOCKS4a and SOCKS5 client messages: builders and parsers
 *
 * Theory of operation: the TCP engine runs the SOCKS handshake of each flow
 * inside its event loop, without blocking; this file only turns what it wants
 * to say into bytes and the server's bytes into results, with no I/O and no
 * state of its own. The engine's states are, for SOCKS5 (RFC 1928):
 *
 *   greeting sent  -> method reply -> [RFC 1929 request sent -> status reply]
 *                  -> CONNECT sent -> CONNECT reply -> data
 *
 * and for SOCKS4/4a: CONNECT sent -> 8-byte reply -> data. The greeting offers
 * "no authentication" and, when credentials are configured, username/password
 * too, so the server picks. Names go to the server unresolved (SOCKS5 ATYP 3,
 * or SOCKS4a: DSTIP 0.0.0.1 and the name after the user id), which is what
 * --dns=socks needs.
 *
 * Builders write one message into a caller buffer (SOCKS_MSG_MAX always
 * suffices) and return its length, -EINVAL for a field the protocol cannot
 * carry, or -ENOBUFS. Parsers take every byte received so far in the state's
 * buffer and return:
 *
 *   > 0       a whole message: the number of its bytes. Anything after it is
 *             not the handshake's: once the CONNECT reply is complete, it is
 *             the destination's first data, which the server may send in the
 *             same segment, and belongs to the stream;
 *   -EAGAIN   a prefix of a valid message (0 bytes included): read more;
 *   -EPROTO   bytes that no valid message starts with, found as soon as the
 *             first wrong byte is in (a wrong version byte, an unknown address
 *             type, an empty domain name).
 *
 * They never read past the length given, and read each field only once the
 * fields before it say where it is, so a reply may arrive a byte at a time.
 *
 * Being liberal in what we accept, where servers are known to differ from the
 * documents: the SOCKS5 reply's RSV byte "must be X'00'" (RFC 1928 6) but any
 * value is accepted; the RFC 1929 status reply's version must be 1, but 5 is
 * accepted too; SOCKS4 replies have VN 0, but 4 is accepted too. Unassigned
 * reply codes are failures, not protocol errors.
 *
 * A refused CONNECT must look to the sandboxed program like the plain
 * connect() it made: socks_reply_errno() maps each reply code to that errno
 * (refused -> ECONNREFUSED, unreachable -> ENETUNREACH / EHOSTUNREACH, TTL
 * expired -> ETIMEDOUT), and socks_reply_text() names the code as the RFC
 * does, for the log.
 *
 * socks_parse_server() reads the server addresses of SOCKS_SERVER and of the
 * rule file's @= lists: host, host:port, [IPv6]:port or a bare IPv6 address.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "pmsocks-ns/socks.h"
#include "pmsocks-ns/util.h"

#define SOCKS4_VERSION	     4
#define SOCKS4_REPLY_VERSION 0 /* VN of a SOCKS4 reply */
#define SOCKS5_VERSION	     5
#define SOCKS5_AUTH_VERSION  1 /* RFC 1929 sub-negotiation */
#define SOCKS_CMD_CONNECT    1

#define SOCKS5_ATYP_IPV4 1
#define SOCKS5_ATYP_NAME 3
#define SOCKS5_ATYP_IPV6 4

#define SOCKS5_HLEN	   4 /* VER, CMD/REP, RSV, ATYP */
#define SOCKS4_HLEN	   8 /* VN, CD, DSTPORT, DSTIP */
#define SOCKS_PORT_LEN	   2
#define SOCKS4A_NAME_IP	   1 /* DSTIP 0.0.0.1: the name follows the user id */
#define SOCKS_PORT_MAX	   65535
#define SOCKS_IPV6_TEXTLEN 46 /* INET6_ADDRSTRLEN */

static_assert(3 + 2 * SOCKS_NAME_MAX <= SOCKS_MSG_MAX, "RFC 1929 request fits");
static_assert(SOCKS4_HLEN + 2 * (SOCKS_NAME_MAX + 1) <= SOCKS_MSG_MAX, "SOCKS4a request fits");

/* Texts of the unassigned SOCKS5 codes, "unassigned reply code (REP 3F)", for every code. */
#define SOCKS5_UNASSIGNED(hex) "unassigned reply code (REP " hex ")"
#define SOCKS5_UNASSIGNED_ROW(h)                                                                 \
	SOCKS5_UNASSIGNED(#h "0"), SOCKS5_UNASSIGNED(#h "1"), SOCKS5_UNASSIGNED(#h "2"),         \
		SOCKS5_UNASSIGNED(#h "3"), SOCKS5_UNASSIGNED(#h "4"), SOCKS5_UNASSIGNED(#h "5"), \
		SOCKS5_UNASSIGNED(#h "6"), SOCKS5_UNASSIGNED(#h "7"), SOCKS5_UNASSIGNED(#h "8"), \
		SOCKS5_UNASSIGNED(#h "9"), SOCKS5_UNASSIGNED(#h "A"), SOCKS5_UNASSIGNED(#h "B"), \
		SOCKS5_UNASSIGNED(#h "C"), SOCKS5_UNASSIGNED(#h "D"), SOCKS5_UNASSIGNED(#h "E"), \
		SOCKS5_UNASSIGNED(#h "F")

static const char *const socks5_unassigned[] = {
	SOCKS5_UNASSIGNED_ROW(0), SOCKS5_UNASSIGNED_ROW(1), SOCKS5_UNASSIGNED_ROW(2),
	SOCKS5_UNASSIGNED_ROW(3), SOCKS5_UNASSIGNED_ROW(4), SOCKS5_UNASSIGNED_ROW(5),
	SOCKS5_UNASSIGNED_ROW(6), SOCKS5_UNASSIGNED_ROW(7), SOCKS5_UNASSIGNED_ROW(8),
	SOCKS5_UNASSIGNED_ROW(9), SOCKS5_UNASSIGNED_ROW(A), SOCKS5_UNASSIGNED_ROW(B),
	SOCKS5_UNASSIGNED_ROW(C), SOCKS5_UNASSIGNED_ROW(D), SOCKS5_UNASSIGNED_ROW(E),
	SOCKS5_UNASSIGNED_ROW(F),
};
static_assert(ARRAY_SIZE(socks5_unassigned) == 256, "one text per SOCKS5 code");

/* Texts of the unknown SOCKS4 codes, "unknown reply code (CD 17)", for every code. */
#define SOCKS4_UNKNOWN(dec) "unknown reply code (CD " dec ")"
#define SOCKS4_UNKNOWN_TENS(t)                                                          \
	SOCKS4_UNKNOWN(#t "0"), SOCKS4_UNKNOWN(#t "1"), SOCKS4_UNKNOWN(#t "2"),         \
		SOCKS4_UNKNOWN(#t "3"), SOCKS4_UNKNOWN(#t "4"), SOCKS4_UNKNOWN(#t "5"), \
		SOCKS4_UNKNOWN(#t "6"), SOCKS4_UNKNOWN(#t "7"), SOCKS4_UNKNOWN(#t "8"), \
		SOCKS4_UNKNOWN(#t "9")

static const char *const socks4_unknown[] = {
	SOCKS4_UNKNOWN_TENS(),	 SOCKS4_UNKNOWN_TENS(1),  SOCKS4_UNKNOWN_TENS(2),
	SOCKS4_UNKNOWN_TENS(3),	 SOCKS4_UNKNOWN_TENS(4),  SOCKS4_UNKNOWN_TENS(5),
	SOCKS4_UNKNOWN_TENS(6),	 SOCKS4_UNKNOWN_TENS(7),  SOCKS4_UNKNOWN_TENS(8),
	SOCKS4_UNKNOWN_TENS(9),	 SOCKS4_UNKNOWN_TENS(10), SOCKS4_UNKNOWN_TENS(11),
	SOCKS4_UNKNOWN_TENS(12), SOCKS4_UNKNOWN_TENS(13), SOCKS4_UNKNOWN_TENS(14),
	SOCKS4_UNKNOWN_TENS(15), SOCKS4_UNKNOWN_TENS(16), SOCKS4_UNKNOWN_TENS(17),
	SOCKS4_UNKNOWN_TENS(18), SOCKS4_UNKNOWN_TENS(19), SOCKS4_UNKNOWN_TENS(20),
	SOCKS4_UNKNOWN_TENS(21), SOCKS4_UNKNOWN_TENS(22), SOCKS4_UNKNOWN_TENS(23),
	SOCKS4_UNKNOWN_TENS(24), SOCKS4_UNKNOWN("250"),	  SOCKS4_UNKNOWN("251"),
	SOCKS4_UNKNOWN("252"),	 SOCKS4_UNKNOWN("253"),	  SOCKS4_UNKNOWN("254"),
	SOCKS4_UNKNOWN("255"),
};
static_assert(ARRAY_SIZE(socks4_unknown) == 256, "one text per SOCKS4 code");

static inline uint16_t socks_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void socks_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Length of a host name, user or password: 1..SOCKS_NAME_MAX, else 0. */
static size_t socks_name_len(const char *s)
{
	size_t len;

	if (!s)
		return 0;
	len = strnlen(s, SOCKS_NAME_MAX + 1);
	return len > SOCKS_NAME_MAX ? 0 : len;
}

/**
 * socks5_build_greeting() - Write the SOCKS5 method negotiation request
 * @buf:      output
 * @cap:      size of @buf
 * @userpass: also offer username/password (credentials are configured)
 *
 * Offers "no authentication required" and, with @userpass, username/password
 * after it (RFC 1928 3): the server chooses.
 *
 * Return: length of the message (3 or 4), or -ENOBUFS
 */
ssize_t socks5_build_greeting(uint8_t *buf, size_t cap, bool userpass)
{
	size_t len = userpass ? 4 : 3;

	if (cap < len)
		return -ENOBUFS;
	buf[0] = SOCKS5_VERSION;
	buf[1] = userpass ? 2 : 1;
	buf[2] = SOCKS5_METHOD_NONE;
	if (userpass)
		buf[3] = SOCKS5_METHOD_USERPASS;
	return (ssize_t)len;
}

/**
 * socks5_parse_method() - Parse the SOCKS5 method selection reply
 * @buf:    bytes received so far
 * @len:    number of bytes in @buf
 * @method: the method chosen, SOCKS5_METHOD_NONE or SOCKS5_METHOD_USERPASS
 *
 * The caller must still refuse SOCKS5_METHOD_USERPASS if it did not offer it.
 *
 * Return: 2, -EAGAIN for a prefix, -EACCES if the server accepts none of the
 * methods offered (X'FF'), -EPROTO for another version or a method never
 * offered
 */
ssize_t socks5_parse_method(const uint8_t *buf, size_t len, uint8_t *method)
{
	if (len < 1)
		return -EAGAIN;
	if (buf[0] != SOCKS5_VERSION)
		return -EPROTO;
	if (len < 2)
		return -EAGAIN;
	switch (buf[1]) {
	case SOCKS5_METHOD_NONE:
	case SOCKS5_METHOD_USERPASS:
		*method = buf[1];
		return 2;
	case SOCKS5_METHOD_UNACCEPTABLE:
		*method = buf[1];
		return -EACCES;
	default:
		return -EPROTO;
	}
}

/**
 * socks5_build_auth() - Write the RFC 1929 username/password request
 * @buf:  output
 * @cap:  size of @buf
 * @user: user name, 1 to SOCKS_NAME_MAX bytes
 * @pass: password, 1 to SOCKS_NAME_MAX bytes
 *
 * Return: length of the message, -EINVAL if @user or @pass is missing, empty
 * or too long, -ENOBUFS if it does not fit in @cap
 */
ssize_t socks5_build_auth(uint8_t *buf, size_t cap, const char *user, const char *pass)
{
	size_t user_len = socks_name_len(user), pass_len = socks_name_len(pass), len;

	if (!user_len || !pass_len)
		return -EINVAL;
	len = 3 + user_len + pass_len;
	if (cap < len)
		return -ENOBUFS;
	buf[0] = SOCKS5_AUTH_VERSION;
	buf[1] = (uint8_t)user_len;
	memcpy(buf + 2, user, user_len);
	buf[2 + user_len] = (uint8_t)pass_len;
	memcpy(buf + 3 + user_len, pass, pass_len);
	return (ssize_t)len;
}

/**
 * socks5_parse_auth() - Parse the RFC 1929 status reply
 * @buf:    bytes received so far
 * @len:    number of bytes in @buf
 * @status: STATUS: 0 for success; anything else is a failure, after which
 *          the server closes the connection
 *
 * Version 1 is RFC 1929's; 5 is accepted too.
 *
 * Return: 2, -EAGAIN for a prefix, -EPROTO for another version
 */
ssize_t socks5_parse_auth(const uint8_t *buf, size_t len, uint8_t *status)
{
	if (len < 1)
		return -EAGAIN;
	if (buf[0] != SOCKS5_AUTH_VERSION && buf[0] != SOCKS5_VERSION)
		return -EPROTO;
	if (len < 2)
		return -EAGAIN;
	*status = buf[1];
	return 2;
}

/**
 * socks5_build_connect() - Write a SOCKS5 CONNECT request
 * @buf: output
 * @cap: size of @buf
 * @d:   destination: an IPv4 (ATYP 1) or IPv6 (ATYP 4) address, or a name
 *       (ATYP 3, 1 to SOCKS_NAME_MAX bytes, resolved by the server)
 *
 * Return: length of the message, -EAFNOSUPPORT for another family, -EINVAL
 * for a missing, empty or too long name, -ENOBUFS if it does not fit in @cap
 */
ssize_t socks5_build_connect(uint8_t *buf, size_t cap, const struct socks_dest *d)
{
	size_t addr_len, name_len = 0, len;
	uint8_t *p = buf + SOCKS5_HLEN;
	uint8_t atyp;

	switch (d->family) {
	case AF_INET:
		atyp = SOCKS5_ATYP_IPV4;
		addr_len = sizeof(d->addr.v4);
		break;
	case AF_INET6:
		atyp = SOCKS5_ATYP_IPV6;
		addr_len = sizeof(d->addr.v6);
		break;
	case 0:
		name_len = socks_name_len(d->name);
		if (!name_len)
			return -EINVAL;
		atyp = SOCKS5_ATYP_NAME;
		addr_len = 1 + name_len;
		break;
	default:
		return -EAFNOSUPPORT;
	}
	len = SOCKS5_HLEN + addr_len + SOCKS_PORT_LEN;
	if (cap < len)
		return -ENOBUFS;

	buf[0] = SOCKS5_VERSION;
	buf[1] = SOCKS_CMD_CONNECT;
	buf[2] = 0;
	buf[3] = atyp;
	if (atyp == SOCKS5_ATYP_NAME) {
		p[0] = (uint8_t)name_len;
		memcpy(p + 1, d->name, name_len);
	} else {
		memcpy(p, &d->addr, addr_len);
	}
	socks_put16(p + addr_len, d->port);
	return (ssize_t)len;
}

/**
 * socks5_parse_reply() - Parse a SOCKS5 CONNECT reply
 * @buf: bytes received so far
 * @len: number of bytes in @buf
 * @r:   the reply: code (REP) and bound address and port
 *
 * Reads exactly the reply, whatever its address type, and leaves the bytes
 * after it alone. RSV is not checked. @r->code is set as soon as the first
 * two bytes are in and valid, even if the result is -EAGAIN or -EPROTO, so a
 * caller whose server closes after a short failure reply can still say why.
 *
 * Return: length of the reply, -EAGAIN for a prefix, -EPROTO for another
 * version, an unknown address type or an empty domain name
 */
ssize_t socks5_parse_reply(const uint8_t *buf, size_t len, struct socks_reply *r)
{
	size_t addr_len, total;
	const uint8_t *addr;

	memset(r, 0, sizeof(*r));
	if (len < 1)
		return -EAGAIN;
	if (buf[0] != SOCKS5_VERSION)
		return -EPROTO;
	if (len < 2)
		return -EAGAIN;
	r->code = buf[1];
	/* buf[2] is RSV: X'00' by the RFC, ignored. */
	if (len < SOCKS5_HLEN)
		return -EAGAIN;
	switch (buf[3]) {
	case SOCKS5_ATYP_IPV4:
		addr_len = sizeof(r->bound.v4);
		break;
	case SOCKS5_ATYP_IPV6:
		addr_len = sizeof(r->bound.v6);
		break;
	case SOCKS5_ATYP_NAME:
		if (len < SOCKS5_HLEN + 1)
			return -EAGAIN;
		if (!buf[SOCKS5_HLEN])
			return -EPROTO;
		addr_len = 1 + (size_t)buf[SOCKS5_HLEN];
		break;
	default:
		return -EPROTO;
	}
	total = SOCKS5_HLEN + addr_len + SOCKS_PORT_LEN;
	if (len < total)
		return -EAGAIN;

	addr = buf + SOCKS5_HLEN;
	switch (buf[3]) {
	case SOCKS5_ATYP_IPV4:
		r->family = AF_INET;
		memcpy(&r->bound.v4, addr, addr_len);
		break;
	case SOCKS5_ATYP_IPV6:
		r->family = AF_INET6;
		memcpy(&r->bound.v6, addr, addr_len);
		break;
	default:
		r->family = 0;
		memcpy(r->bound_name, addr + 1, addr_len - 1);
		r->bound_name[addr_len - 1] = '\0';
		break;
	}
	r->bound_port = socks_get16(addr + addr_len);
	return (ssize_t)total;
}

/**
 * socks4_build_connect() - Write a SOCKS4 or SOCKS4a CONNECT request
 * @buf:    output
 * @cap:    size of @buf
 * @d:      destination: an IPv4 address (SOCKS4) or a name (SOCKS4a, 1 to
 *          SOCKS_NAME_MAX bytes, resolved by the server)
 * @userid: USERID, NULL or "" for none, at most SOCKS_NAME_MAX bytes
 *
 * An IPv4 destination 0.0.0.x with x != 0 is refused: the server would take
 * it for SOCKS4a and wait for a name that never comes.
 *
 * Return: length of the message, -EAFNOSUPPORT for IPv6 (which SOCKS4 cannot
 * carry) or another family, -EINVAL for such a destination, a missing, empty
 * or too long name or a too long @userid, -ENOBUFS if it does not fit in @cap
 */
ssize_t socks4_build_connect(uint8_t *buf, size_t cap, const struct socks_dest *d,
			     const char *userid)
{
	size_t userid_len = userid ? strnlen(userid, SOCKS_NAME_MAX + 1) : 0, name_len = 0, len;
	const uint8_t *ip = (const uint8_t *)&d->addr.v4;

	switch (d->family) {
	case AF_INET:
		if (!ip[0] && !ip[1] && !ip[2] && ip[3])
			return -EINVAL;
		len = SOCKS4_HLEN + userid_len + 1;
		break;
	case 0:
		name_len = socks_name_len(d->name);
		if (!name_len)
			return -EINVAL;
		len = SOCKS4_HLEN + userid_len + 1 + name_len + 1;
		break;
	default:
		return -EAFNOSUPPORT;
	}
	if (userid_len > SOCKS_NAME_MAX)
		return -EINVAL;
	if (cap < len)
		return -ENOBUFS;

	buf[0] = SOCKS4_VERSION;
	buf[1] = SOCKS_CMD_CONNECT;
	socks_put16(buf + 2, d->port);
	if (d->family == AF_INET) {
		memcpy(buf + 4, ip, 4);
	} else {
		memset(buf + 4, 0, 3);
		buf[7] = SOCKS4A_NAME_IP;
	}
	if (userid_len)
		memcpy(buf + SOCKS4_HLEN, userid, userid_len);
	buf[SOCKS4_HLEN + userid_len] = '\0';
	if (name_len) {
		memcpy(buf + SOCKS4_HLEN + userid_len + 1, d->name, name_len);
		buf[len - 1] = '\0';
	}
	return (ssize_t)len;
}

/**
 * socks4_parse_reply() - Parse a SOCKS4 or SOCKS4a CONNECT reply
 * @buf: bytes received so far
 * @len: number of bytes in @buf
 * @r:   the reply: code (CD) and the IPv4 address and port it carries
 *
 * VN is 0; 4 is accepted too. @r->code is set as soon as the first two bytes
 * are in and valid, as in socks5_parse_reply().
 *
 * Return: 8, -EAGAIN for a prefix, -EPROTO for another version
 */
ssize_t socks4_parse_reply(const uint8_t *buf, size_t len, struct socks_reply *r)
{
	memset(r, 0, sizeof(*r));
	if (len < 1)
		return -EAGAIN;
	if (buf[0] != SOCKS4_REPLY_VERSION && buf[0] != SOCKS4_VERSION)
		return -EPROTO;
	if (len < 2)
		return -EAGAIN;
	r->code = buf[1];
	if (len < SOCKS4_HLEN)
		return -EAGAIN;
	r->family = AF_INET;
	r->bound_port = socks_get16(buf + 2);
	memcpy(&r->bound.v4, buf + 4, sizeof(r->bound.v4));
	return SOCKS4_HLEN;
}

/**
 * socks_reply_errno() - What a plain connect() would have failed with
 * @version: 5 or 4 (SOCKS4 and SOCKS4a)
 * @code:    REP of a SOCKS5 reply, CD of a SOCKS4 reply
 *
 * Return: 0 for success, else a positive errno for the sandboxed program:
 * ENETUNREACH, EHOSTUNREACH, ETIMEDOUT for the SOCKS5 codes saying so,
 * ECONNREFUSED for every other failure and for an unknown @version
 */
int socks_reply_errno(int version, uint8_t code)
{
	if (version == 4)
		return code == SOCKS4_CD_GRANTED ? 0 : ECONNREFUSED;
	if (version != 5)
		return ECONNREFUSED;
	switch (code) {
	case SOCKS5_REP_SUCCEEDED:
		return 0;
	case SOCKS5_REP_NET_UNREACHABLE:
		return ENETUNREACH;
	case SOCKS5_REP_HOST_UNREACHABLE:
		return EHOSTUNREACH;
	case SOCKS5_REP_TTL_EXPIRED:
		return ETIMEDOUT;
	case SOCKS5_REP_GENERAL_FAILURE:
	case SOCKS5_REP_NOT_ALLOWED:
	case SOCKS5_REP_REFUSED:
	case SOCKS5_REP_CMD_UNSUPPORTED:
	case SOCKS5_REP_ATYP_UNSUPPORTED:
	default:
		return ECONNREFUSED;
	}
}

/**
 * socks_reply_text() - Name of a reply code, for the log
 * @version: 5 or 4 (SOCKS4 and SOCKS4a)
 * @code:    REP of a SOCKS5 reply, CD of a SOCKS4 reply
 *
 * The names are the RFC's, followed by the code as the documents write it:
 * "connection refused (REP 05)", "request rejected or failed (CD 91)",
 * "unassigned reply code (REP 3F)".
 *
 * Return: a static string, never NULL
 */
const char *socks_reply_text(int version, uint8_t code)
{
	if (version == 4) {
		switch (code) {
		case SOCKS4_CD_GRANTED:
			return "request granted (CD 90)";
		case SOCKS4_CD_REJECTED:
			return "request rejected or failed (CD 91)";
		case SOCKS4_CD_NO_IDENTD:
			return "request rejected: the server cannot connect to identd on the "
			       "client (CD 92)";
		case SOCKS4_CD_IDENTD_MISMATCH:
			return "request rejected: the client program and identd report different "
			       "user-ids (CD 93)";
		default:
			return socks4_unknown[code];
		}
	}
	if (version != 5)
		return "reply of an unknown SOCKS version";
	switch (code) {
	case SOCKS5_REP_SUCCEEDED:
		return "succeeded (REP 00)";
	case SOCKS5_REP_GENERAL_FAILURE:
		return "general SOCKS server failure (REP 01)";
	case SOCKS5_REP_NOT_ALLOWED:
		return "connection not allowed by ruleset (REP 02)";
	case SOCKS5_REP_NET_UNREACHABLE:
		return "network unreachable (REP 03)";
	case SOCKS5_REP_HOST_UNREACHABLE:
		return "host unreachable (REP 04)";
	case SOCKS5_REP_REFUSED:
		return "connection refused (REP 05)";
	case SOCKS5_REP_TTL_EXPIRED:
		return "TTL expired (REP 06)";
	case SOCKS5_REP_CMD_UNSUPPORTED:
		return "command not supported (REP 07)";
	case SOCKS5_REP_ATYP_UNSUPPORTED:
		return "address type not supported (REP 08)";
	default:
		return socks5_unassigned[code];
	}
}

/* Whether @len bytes at @s are an IPv6 address in text form. */
static bool socks_is_ipv6(const char *s, size_t len)
{
	char text[SOCKS_IPV6_TEXTLEN];
	struct in6_addr a;

	if (len >= sizeof(text))
		return false;
	memcpy(text, s, len);
	text[len] = '\0';
	return inet_pton(AF_INET6, text, &a) == 1;
}

/**
 * socks_parse_server() - Parse a SOCKS server address
 * @text:         "host", "host:port", "1.2.3.4:1080", "[fd42::2]:1080",
 *                "[fd42::2]" or a bare IPv6 address "fd42::2" (no port)
 * @default_port: port when @text has none
 * @host:         receives the host name or address, without brackets
 * @hostlen:      size of @host (SOCKS_HOST_MAX holds any host accepted)
 * @port:         receives the port
 * @err:          receives the error message on -EINVAL, naming @text
 * @errlen:       size of @err
 *
 * For SOCKS_SERVER and the servers of the rule file's @= lists. The host is
 * not resolved; names are checked only for being non-empty and free of
 * brackets, blanks and control characters, addresses in brackets and with
 * more than one colon for being IPv6 addresses.
 *
 * Return: 0, or -EINVAL with the reason in @err
 */
int socks_parse_server(const char *text, uint16_t default_port, char *host, size_t hostlen,
		       uint16_t *port, char *err, size_t errlen)
{
	const char *start = text, *end, *port_text = NULL, *c;
	unsigned long value = default_port;
	size_t len;

	if (errlen)
		err[0] = '\0';
	if (!text || !*text) {
		snprintf(err, errlen, "empty SOCKS server address");
		return -EINVAL;
	}
	for (c = text; *c; c++) {
		if ((unsigned char)*c <= ' ' || *c == 0x7f) {
			snprintf(err, errlen,
				 "SOCKS server '%s': blank or control character in the address",
				 text);
			return -EINVAL;
		}
	}
	end = c;

	if (text[0] == '[') {
		start = text + 1;
		end = strchr(start, ']');
		if (!end) {
			snprintf(err, errlen, "SOCKS server '%s': '[' without a matching ']'",
				 text);
			return -EINVAL;
		}
		if (end[1] == ':') {
			port_text = end + 2;
		} else if (end[1]) {
			snprintf(err, errlen,
				 "SOCKS server '%s': unexpected '%s' after ']' (expected :port)",
				 text, end + 1);
			return -EINVAL;
		}
		if (end == start) {
			snprintf(err, errlen, "SOCKS server '%s': empty address in brackets", text);
			return -EINVAL;
		}
		if (!socks_is_ipv6(start, (size_t)(end - start))) {
			snprintf(err, errlen,
				 "SOCKS server '%s': '%.*s' in brackets is not an IPv6 address",
				 text, (int)(end - start), start);
			return -EINVAL;
		}
	} else if (strpbrk(text, "[]")) {
		snprintf(err, errlen,
			 "SOCKS server '%s': unbalanced brackets (write an IPv6 address with a "
			 "port as [address]:port)",
			 text);
		return -EINVAL;
	} else if ((c = strchr(text, ':')) && strchr(c + 1, ':')) {
		/* Two colons or more: a bare IPv6 address, which cannot carry a port. */
		if (!socks_is_ipv6(text, (size_t)(end - text))) {
			snprintf(err, errlen,
				 "SOCKS server '%s': not an IPv6 address (write an IPv6 address "
				 "with a port as [address]:port)",
				 text);
			return -EINVAL;
		}
	} else if (c) {
		end = c;
		port_text = c + 1;
	}

	if (end == start) {
		snprintf(err, errlen, "SOCKS server '%s': empty host", text);
		return -EINVAL;
	}
	if (port_text && !*port_text) {
		snprintf(err, errlen, "SOCKS server '%s': empty port after ':'", text);
		return -EINVAL;
	}
	if (port_text && util_parse_uint(port_text, 1, SOCKS_PORT_MAX, &value)) {
		snprintf(err, errlen, "SOCKS server '%s': port '%s' is not a number from 1 to %d",
			 text, port_text, SOCKS_PORT_MAX);
		return -EINVAL;
	}
	len = (size_t)(end - start);
	if (len >= hostlen) {
		snprintf(err, errlen, "SOCKS server '%s': host longer than %zu bytes", text,
			 hostlen ? hostlen - 1 : 0);
		return -EINVAL;
	}
	memcpy(host, start, len);
	host[len] = '\0';
	*port = (uint16_t)value;
	return 0;
}
