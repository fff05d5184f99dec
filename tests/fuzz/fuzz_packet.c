// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for packet.c. The input is parsed as a packet from the
 * tun; a packet that parses is answered with every kind of ICMP error, each
 * answer must parse again and quote the input. The input is also used as the
 * payload of a TCP segment, which must parse back to the same fields and
 * payload. Any broken expectation aborts, so the fuzzer reports it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pmsocks-ns/packet.h"

#include "fuzz.h"

static void fuzz_icmp(const struct packet *orig)
{
	union packet_addr from;
	uint8_t out[PACKET_ICMP_MAX];
	struct packet answer;
	ssize_t n;
	int kind;

	memset(&from, 0, sizeof(from));
	if (orig->family == AF_INET)
		memcpy(&from.v4, (const uint8_t[]){10, 0, 2, 2}, 4);
	else
		memcpy(&from.v6, (const uint8_t[]){0xfd, 0, 0, 2, [15] = 2}, 16);
	for (kind = 0; kind < PACKET_UNREACH_MAX; kind++) {
		n = packet_build_icmp_unreach(out, sizeof(out), orig, &from, kind);
		if (n < 0) {
			CHECK(n == -EINVAL);
			continue;
		}
		CHECK((size_t)n <= sizeof(out));
		CHECK(packet_parse(&answer, out, (size_t)n) == PACKET_OK);
		CHECK(answer.proto == (orig->family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6));
		CHECK(answer.l4_len >= 8);
		CHECK(!memcmp(answer.l4 + 8, orig->l3, answer.l4_len - 8));
		CHECK(answer.l4_len - 8 == orig->l3_len || (size_t)n == 576 || (size_t)n == 1280);
	}
}

static void fuzz_tcp(const uint8_t *data, size_t size)
{
	static uint8_t buf[PACKET_TCP_HEADER_MAX + 65535];
	struct packet_tcp_out t;
	struct packet p;
	size_t hlen;
	ssize_t n;

	memset(&t, 0, sizeof(t));
	t.family = size && (data[0] & 1) ? AF_INET6 : AF_INET;
	t.flags = size > 1 ? data[1] : PACKET_TCP_SYN;
	t.mss = size > 2 ? data[2] : 0;
	t.wscale = (int8_t)(size > 3 ? (data[3] % 17) - 1 : -1); /* -1 .. 15 */
	t.sport = 80;
	t.dport = 40000;
	t.seq = 0x12345678;
	t.ack = 0x9abcdef0;
	t.window = 1000;
	memcpy(&t.src, (const uint8_t[]){10, 0, 2, 2}, 4);
	memcpy(&t.dst, (const uint8_t[]){10, 0, 2, 15}, 4);
	if (t.family == AF_INET6) {
		memcpy(&t.src.v6, (const uint8_t[]){0xfd, 0, 0, 2, [15] = 2}, 16);
		memcpy(&t.dst.v6, (const uint8_t[]){0xfd, 0, 0, 2, [15] = 0x15}, 16);
	}
	hlen = packet_tcp_header_len(&t);
	CHECK(hlen && hlen <= PACKET_TCP_HEADER_MAX);
	if (size > sizeof(buf) - hlen)
		size = sizeof(buf) - hlen;
	memcpy(buf + hlen, data, size);
	n = packet_build_tcp(buf, sizeof(buf), &t, size);
	if (t.wscale > 14) {
		CHECK(n == -EINVAL);
		return;
	}
	if (n == -EMSGSIZE)
		return;
	CHECK(n == (ssize_t)(hlen + size));
	CHECK(packet_parse(&p, buf, (size_t)n) == PACKET_OK);
	CHECK(p.proto == IPPROTO_TCP && p.flags == t.flags && p.seq == t.seq && p.ack == t.ack);
	CHECK(p.payload_len == size && !memcmp(p.payload, data, size));
	if (t.flags & PACKET_TCP_SYN) {
		CHECK(p.mss == t.mss);
		CHECK(p.wscale == t.wscale);
	}
}

/* @p parsed from the @len bytes of IP packet at @l3: it points inside them only. */
static void fuzz_parsed(const struct packet *p, const uint8_t *l3, size_t len)
{
	CHECK(p->l3 == l3 && p->l3_len <= len);
	CHECK(p->l4 >= p->l3 && p->l4 + p->l4_len == p->l3 + p->l3_len);
	if (p->payload)
		CHECK(p->payload >= p->l4 && p->payload + p->payload_len <= p->l4 + p->l4_len);
	fuzz_icmp(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct packet p;

	if (packet_parse(&p, data, size) == PACKET_OK)
		fuzz_parsed(&p, data, size);
	/* The same bytes as a tun frame with a virtio-net header in front. */
	if (packet_parse_vnet(&p, data, size) == PACKET_OK) {
		CHECK(size >= PACKET_VNET_HLEN);
		fuzz_parsed(&p, data + PACKET_VNET_HLEN, size - PACKET_VNET_HLEN);
	}
	fuzz_tcp(data, size);
	return 0;
}
