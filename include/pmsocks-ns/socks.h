/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PMSOCKS_NS_SOCKS_H
#define PMSOCKS_NS_SOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pmsocks-ns/packet.h"

/* Largest message built or parsed (RFC 1929 request: 3 + 255 + 255 bytes). */
#define SOCKS_MSG_MAX 600

/* Longest host name, user name, password or SOCKS4 user id, in bytes. */
#define SOCKS_NAME_MAX 255

/* Port of a SOCKS server given without one (and the default of SOCKS_PORT). */
#define SOCKS_PORT_DEFAULT 1080

/* Size of a host buffer that holds any host socks_parse_server() accepts. */
#define SOCKS_HOST_MAX (SOCKS_NAME_MAX + 1)

/* SOCKS5 authentication methods (RFC 1928 3). */
#define SOCKS5_METHOD_NONE	   0x00
#define SOCKS5_METHOD_USERPASS	   0x02 /* RFC 1929 */
#define SOCKS5_METHOD_UNACCEPTABLE 0xff /* X'FF' NO ACCEPTABLE METHODS */

/* SOCKS5 reply field REP (RFC 1928 6); X'09' to X'FF' are unassigned. */
enum socks5_rep {
	SOCKS5_REP_SUCCEEDED = 0x00,
	SOCKS5_REP_GENERAL_FAILURE = 0x01,
	SOCKS5_REP_NOT_ALLOWED = 0x02,
	SOCKS5_REP_NET_UNREACHABLE = 0x03,
	SOCKS5_REP_HOST_UNREACHABLE = 0x04,
	SOCKS5_REP_REFUSED = 0x05,
	SOCKS5_REP_TTL_EXPIRED = 0x06,
	SOCKS5_REP_CMD_UNSUPPORTED = 0x07,
	SOCKS5_REP_ATYP_UNSUPPORTED = 0x08,
};

/* SOCKS4 reply code CD. */
enum socks4_cd {
	SOCKS4_CD_GRANTED = 90,
	SOCKS4_CD_REJECTED = 91,	/* rejected or failed */
	SOCKS4_CD_NO_IDENTD = 92,	/* the server cannot reach identd on the client */
	SOCKS4_CD_IDENTD_MISMATCH = 93, /* identd reports another user id */
};

/* Where a CONNECT request asks the server to connect. */
struct socks_dest {
	int family; /* AF_INET, AF_INET6, or 0 for a name */
	union packet_addr addr;
	const char *name; /* family 0: host name, 1 to SOCKS_NAME_MAX bytes */
	uint16_t port;	  /* host byte order */
};

/* A CONNECT reply. */
struct socks_reply {
	uint8_t code; /* REP (SOCKS5) or CD (SOCKS4): see socks_reply_errno() */
	int family;   /* of the bound address: AF_INET, AF_INET6, or 0 for a name */
	union packet_addr bound;
	char bound_name[SOCKS_NAME_MAX + 1]; /* family 0, NUL-terminated */
	uint16_t bound_port;		     /* host byte order */
};

ssize_t socks5_build_greeting(uint8_t *buf, size_t cap, bool userpass);
ssize_t socks5_parse_method(const uint8_t *buf, size_t len, uint8_t *method);
ssize_t socks5_build_auth(uint8_t *buf, size_t cap, const char *user, const char *pass);
ssize_t socks5_parse_auth(const uint8_t *buf, size_t len, uint8_t *status);
ssize_t socks5_build_connect(uint8_t *buf, size_t cap, const struct socks_dest *d);
ssize_t socks5_parse_reply(const uint8_t *buf, size_t len, struct socks_reply *r);

ssize_t socks4_build_connect(uint8_t *buf, size_t cap, const struct socks_dest *d,
			     const char *userid);
ssize_t socks4_parse_reply(const uint8_t *buf, size_t len, struct socks_reply *r);

int socks_reply_errno(int version, uint8_t code);
const char *socks_reply_text(int version, uint8_t code);

int socks_parse_server(const char *text, uint16_t default_port, char *host, size_t hostlen,
		       uint16_t *port, char *err, size_t errlen);

#endif
