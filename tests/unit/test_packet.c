// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for packet.c: parsing, checksums and builders.
 *
 * Expected values do not come from the module under test: the cap_* packets
 * below were captured on a tun device from Linux 6.18's own TCP/UDP stack and
 * ICMP error code (so their checksums are the kernel's, and the kernel
 * accepted the one SYN-ACK written to it), and where a test edits a packet it
 * recomputes checksums with ref_csum(), a plain RFC 1071 implementation.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "pmsocks-ns/packet.h"

/* SYN from connect() to 10.0.2.2:44321: MSS, SACK-permitted, timestamps, window scale 10 */
static const uint8_t cap_syn4[] = {
	0x45, 0x00, 0x00, 0x3c, 0xc0, 0xec, 0x40, 0x00, 0x40, 0x06, 0x61, 0xbf, 0x0a, 0x00, 0x02,
	0x0f, 0x0a, 0x00, 0x02, 0x02, 0xb0, 0xb8, 0xad, 0x21, 0xd9, 0x93, 0x94, 0xbe, 0x00, 0x00,
	0x00, 0x00, 0xa0, 0x02, 0xff, 0xc8, 0x85, 0xea, 0x00, 0x00, 0x02, 0x04, 0xff, 0xc8, 0x04,
	0x02, 0x08, 0x0a, 0x15, 0x4c, 0xce, 0xab, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
};

/* the ACK completing that handshake (after a SYN-ACK carrying MSS 1460) */
static const uint8_t cap_ack4[] = {
	0x45, 0x00, 0x00, 0x28, 0xc0, 0xed, 0x40, 0x00, 0x40, 0x06, 0x61, 0xd2, 0x0a, 0x00,
	0x02, 0x0f, 0x0a, 0x00, 0x02, 0x02, 0xb0, 0xb8, 0xad, 0x21, 0xd9, 0x93, 0x94, 0xbf,
	0x00, 0x00, 0x03, 0xe9, 0x50, 0x10, 0xff, 0xc8, 0xc7, 0xe4, 0x00, 0x00,
};

/* send("kernel.all.load\n") on that connection (PSH|ACK) */
static const uint8_t cap_data4[] = {
	0x45, 0x00, 0x00, 0x38, 0xc0, 0xee, 0x40, 0x00, 0x40, 0x06, 0x61, 0xc1, 0x0a, 0x00,
	0x02, 0x0f, 0x0a, 0x00, 0x02, 0x02, 0xb0, 0xb8, 0xad, 0x21, 0xd9, 0x93, 0x94, 0xbf,
	0x00, 0x00, 0x03, 0xe9, 0x50, 0x18, 0xff, 0xc8, 0xe7, 0xe6, 0x00, 0x00, 0x6b, 0x65,
	0x72, 0x6e, 0x65, 0x6c, 0x2e, 0x61, 0x6c, 0x6c, 0x2e, 0x6c, 0x6f, 0x61, 0x64, 0x0a,
};

/* SYN from connect() to [fd00:2::2]:80, hop limit 64, flow label 0x33d61 */
static const uint8_t cap_syn6[] = {
	0x60, 0x03, 0x3d, 0x61, 0x00, 0x28, 0x06, 0x40, 0xfd, 0x00, 0x00, 0x02, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x15, 0xfd, 0x00, 0x00, 0x02,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xcb, 0xc4,
	0x00, 0x50, 0x44, 0xab, 0x8a, 0x02, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xff, 0xb4,
	0x42, 0x0d, 0x00, 0x00, 0x02, 0x04, 0xff, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x67, 0x8f,
	0x0f, 0xcc, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
};

/* a DNS query for pcp.io to 10.0.2.3:53 */
static const uint8_t cap_udp4[] = {
	0x45, 0x00, 0x00, 0x34, 0xad, 0x63, 0x40, 0x00, 0x40, 0x11, 0x75, 0x44, 0x0a,
	0x00, 0x02, 0x0f, 0x0a, 0x00, 0x02, 0x03, 0x94, 0x70, 0x00, 0x35, 0x00, 0x20,
	0x67, 0x76, 0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x03, 0x70, 0x63, 0x70, 0x02, 0x69, 0x6f, 0x00, 0x00, 0x01, 0x00, 0x01,
};

/* sendto("hello, world") to [fd00:2::3]:5353 */
static const uint8_t cap_udp6[] = {
	0x60, 0x03, 0x3d, 0xc1, 0x00, 0x14, 0x11, 0x40, 0xfd, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x15, 0xfd, 0x00, 0x00, 0x02, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xa5, 0x67, 0x14, 0xe9, 0x00,
	0x14, 0x0b, 0x0c, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x2c, 0x20, 0x77, 0x6f, 0x72, 0x6c, 0x64,
};

/* UDP 10.0.2.2:40000 -> 10.0.2.15:9 "ping" (written to the tun) */
static const uint8_t cap_udp4_in[] = {
	0x45, 0x00, 0x00, 0x20, 0x00, 0x07, 0x00, 0x00, 0x40, 0x11, 0x62,
	0xb6, 0x0a, 0x00, 0x02, 0x02, 0x0a, 0x00, 0x02, 0x0f, 0x9c, 0x40,
	0x00, 0x09, 0x00, 0x0c, 0x6c, 0xab, 0x70, 0x69, 0x6e, 0x67,
};

/* the kernel's port unreachable answer to udp4_in */
static const uint8_t cap_icmp4[] = {
	0x45, 0xc0, 0x00, 0x3c, 0x81, 0xbb, 0x00, 0x00, 0x40, 0x01, 0xe0, 0x35, 0x0a, 0x00, 0x02,
	0x0f, 0x0a, 0x00, 0x02, 0x02, 0x03, 0x03, 0x15, 0x2b, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00,
	0x00, 0x20, 0x00, 0x07, 0x00, 0x00, 0x40, 0x11, 0x62, 0xb6, 0x0a, 0x00, 0x02, 0x02, 0x0a,
	0x00, 0x02, 0x0f, 0x9c, 0x40, 0x00, 0x09, 0x00, 0x0c, 0x6c, 0xab, 0x70, 0x69, 0x6e, 0x67,
};

/* UDP [fd00:2::2]:40000 -> [fd00:2::15]:9 "ping" (written to the tun) */
static const uint8_t cap_udp6_in[] = {
	0x60, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x11, 0x40, 0xfd, 0x00, 0x00, 0x02, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xfd, 0x00,
	0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x15, 0x9c, 0x40, 0x00, 0x09, 0x00, 0x0c, 0x8a, 0x9f, 0x70, 0x69, 0x6e, 0x67,
};

/* the kernel's port unreachable answer to udp6_in */
static const uint8_t cap_icmp6[] = {
	0x60, 0x08, 0x6a, 0x21, 0x00, 0x3c, 0x3a, 0x40, 0xfd, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x15, 0xfd, 0x00, 0x00, 0x02, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x01, 0x04, 0x93, 0x39, 0x00,
	0x00, 0x00, 0x00, 0x60, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x11, 0x40, 0xfd, 0x00, 0x00, 0x02,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xfd, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x15, 0x9c, 0x40,
	0x00, 0x09, 0x00, 0x0c, 0x8a, 0x9f, 0x70, 0x69, 0x6e, 0x67,
};

/* RFC 1071 4.1, as plainly as possible: sum of big-endian 16-bit words. */
static uint64_t ref_sum(const uint8_t *b, size_t n, uint64_t sum)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (n & 1)
		sum += (uint32_t)b[n - 1] << 8;
	return sum;
}

static uint16_t ref_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint16_t ref_csum(const uint8_t *b, size_t n)
{
	return ref_fold(ref_sum(b, n, 0));
}

/* Pseudo-header written out as bytes (RFC 793 3.1, RFC 8200 8.1), taken from @ip. */
static uint64_t ref_pseudo(const uint8_t *ip, uint8_t proto, size_t l4_len)
{
	uint8_t ph[40] = {0};

	if ((ip[0] >> 4) == 4) {
		memcpy(ph, ip + 12, 8);
		ph[9] = proto;
		ph[10] = (uint8_t)(l4_len >> 8);
		ph[11] = (uint8_t)l4_len;
		return ref_sum(ph, 12, 0);
	}
	memcpy(ph, ip + 8, 32);
	ph[32] = (uint8_t)(l4_len >> 24);
	ph[33] = (uint8_t)(l4_len >> 16);
	ph[34] = (uint8_t)(l4_len >> 8);
	ph[35] = (uint8_t)l4_len;
	ph[39] = proto;
	return ref_sum(ph, 40, 0);
}

/* Checksum of an upper-layer packet at @l4 inside the IP packet @ip. */
static uint16_t ref_l4_csum(const uint8_t *ip, uint8_t proto, const uint8_t *l4, size_t l4_len)
{
	return ref_fold(ref_sum(l4, l4_len, ref_pseudo(ip, proto, l4_len)));
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void fix_ipv4_csum(uint8_t *ip)
{
	put16(ip + 10, 0);
	put16(ip + 10, ref_csum(ip, (size_t)(ip[0] & 0xf) * 4));
}

/* Recompute the TCP (@csum_off 16) or UDP (6) checksum of @l4_len bytes at @l4. */
static void fix_l4_csum(uint8_t *ip, uint8_t proto, uint8_t *l4, size_t l4_len, size_t csum_off)
{
	put16(l4 + csum_off, 0);
	put16(l4 + csum_off, ref_l4_csum(ip, proto, l4, l4_len));
}

static void addr4(union packet_addr *a, const char *text)
{
	memset(a, 0, sizeof(*a));
	cr_assert_eq(inet_pton(AF_INET, text, &a->v4), 1);
}

static void addr6(union packet_addr *a, const char *text)
{
	memset(a, 0, sizeof(*a));
	cr_assert_eq(inet_pton(AF_INET6, text, &a->v6), 1);
}

static bool addr_is(const union packet_addr *a, int family, const char *text)
{
	union packet_addr want;

	if (family == AF_INET) {
		addr4(&want, text);
		return !memcmp(&a->v4, &want.v4, sizeof(want.v4));
	}
	addr6(&want, text);
	return !memcmp(&a->v6, &want.v6, sizeof(want.v6));
}

/*
 * Parse @len bytes from a heap copy of exactly that size, so AddressSanitizer
 * sees any read past the end; the copy stays alive in *@copy for the caller.
 */
static enum packet_drop parse_exact(struct packet *p, const uint8_t *pkt, size_t len,
				    uint8_t **copy)
{
	uint8_t *b = malloc(len ? len : 1);

	cr_assert_not_null(b);
	memcpy(b, pkt, len);
	*copy = b;
	return packet_parse(p, b, len);
}

static void expect_drop(const uint8_t *pkt, size_t len, enum packet_drop want, const char *what)
{
	struct packet p;
	enum packet_drop got;
	uint8_t *copy;

	got = parse_exact(&p, pkt, len, &copy);
	free(copy);
	cr_assert_eq(got, want, "%s: got %s, want %s", what, packet_drop_names[got],
		     packet_drop_names[want]);
}

static void expect_ok(struct packet *p, const uint8_t *pkt, size_t len)
{
	enum packet_drop got = packet_parse(p, pkt, len);

	cr_assert_eq(got, PACKET_OK, "dropped: %s", packet_drop_names[got]);
}

/* ---- checksums ---- */

Test(packet_csum, rfc1071_example)
{
	/* RFC 1071 3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2, checksum 220d. */
	static const uint8_t rfc[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	uint8_t unaligned[sizeof(rfc) + 1];

	cr_assert_eq(packet_csum_fold(packet_csum_partial(rfc, sizeof(rfc), 0)), 0x220d);
	memcpy(unaligned + 1, rfc, sizeof(rfc));
	cr_assert_eq(packet_csum_fold(packet_csum_partial(unaligned + 1, sizeof(rfc), 0)), 0x220d);
	/* The unfolded sum is 2ddf0; any congruent value is as good. */
	cr_assert_eq(packet_csum_partial(rfc, sizeof(rfc), 0) % 0xffff, 0x2ddf0 % 0xffff);
}

Test(packet_csum, fold)
{
	cr_assert_eq(packet_csum_fold(0), 0xffff);
	cr_assert_eq(packet_csum_fold(0xffff), 0);
	cr_assert_eq(packet_csum_fold(0x1fffe), 0);
	cr_assert_eq(packet_csum_fold(0xffffffff), 0);
	cr_assert_eq(packet_csum_fold(0x2ddf0), 0x220d);
	cr_assert_eq(packet_csum_fold(0x00010000), 0xfffe);
}

Test(packet_csum, odd_lengths_and_alignments_match_reference)
{
	static uint8_t data[600];
	size_t off, len, i;
	uint32_t seed = 12345;

	for (i = 0; i < sizeof(data); i++) {
		seed = seed * 1103515245 + 12345;
		data[i] = (uint8_t)(seed >> 16);
	}
	for (off = 0; off < 16; off++) {
		for (len = 0; len <= 520; len++) {
			uint32_t start = (uint32_t)(off * 7919 + len) & 0xfffff;
			uint16_t want = ref_fold(ref_sum(data + off, len, start));
			uint16_t got =
				packet_csum_fold(packet_csum_partial(data + off, len, start));

			cr_assert_eq(got, want, "offset %zu length %zu: %04x, want %04x", off, len,
				     got, want);
		}
	}
}

Test(packet_csum, all_ones_carries_64k)
{
	static uint8_t ones[65536 + 7];
	size_t len;

	memset(ones, 0xff, sizeof(ones));
	for (len = 65536 - 3; len <= 65536 + 7; len++) {
		uint16_t want = ref_fold(ref_sum(ones, len, 0xffffffff));

		cr_assert_eq(packet_csum_fold(packet_csum_partial(ones, len, 0xffffffff)), want,
			     "length %zu", len);
	}
}

Test(packet_csum, chained_even_pieces_equal_whole)
{
	uint8_t data[301];
	size_t split;
	uint32_t whole;

	for (split = 0; split < sizeof(data); split++)
		data[split] = (uint8_t)(split * 31 + 7);
	whole = packet_csum_partial(data, sizeof(data), 0);
	for (split = 0; split < sizeof(data); split += 2) {
		uint32_t sum = packet_csum_partial(data, split, 0);

		sum = packet_csum_partial(data + split, sizeof(data) - split, sum);
		cr_assert_eq(packet_csum_fold(sum), packet_csum_fold(whole), "split at %zu", split);
	}
}

Test(packet_csum, pseudo_header_matches_reference)
{
	union packet_addr s4, d4, s6, d6;
	uint8_t ip4[20] = {0x45}, ip6[40] = {0x60};

	addr4(&s4, "10.0.2.15");
	addr4(&d4, "192.0.2.200");
	memcpy(ip4 + 12, &s4.v4, 4);
	memcpy(ip4 + 16, &d4.v4, 4);
	cr_assert_eq(packet_csum_fold(packet_pseudo_sum(AF_INET, &s4, &d4, IPPROTO_TCP, 1480)),
		     ref_fold(ref_pseudo(ip4, IPPROTO_TCP, 1480)));

	addr6(&s6, "fd00:2::15");
	addr6(&d6, "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe");
	memcpy(ip6 + 8, &s6.v6, 16);
	memcpy(ip6 + 24, &d6.v6, 16);
	cr_assert_eq(packet_csum_fold(packet_pseudo_sum(AF_INET6, &s6, &d6, IPPROTO_UDP, 12)),
		     ref_fold(ref_pseudo(ip6, IPPROTO_UDP, 12)));
	/* The IPv6 upper-layer length is 32 bits (jumbograms). */
	cr_assert_eq(packet_csum_fold(packet_pseudo_sum(AF_INET6, &s6, &d6, IPPROTO_TCP, 0x12345)),
		     ref_fold(ref_pseudo(ip6, IPPROTO_TCP, 0x12345)));
}

Test(packet_csum, verifies_kernel_checksums)
{
	union packet_addr src, dst;

	memcpy(&src.v4, cap_data4 + 12, 4);
	memcpy(&dst.v4, cap_data4 + 16, 4);
	cr_assert_eq(packet_csum_fold(packet_csum_partial(cap_data4, 20, 0)), 0);
	cr_assert_eq(packet_csum_fold(
			     packet_csum_partial(cap_data4 + 20, sizeof(cap_data4) - 20,
						 packet_pseudo_sum(AF_INET, &src, &dst, IPPROTO_TCP,
								   sizeof(cap_data4) - 20))),
		     0);
	memcpy(&src.v6, cap_syn6 + 8, 16);
	memcpy(&dst.v6, cap_syn6 + 24, 16);
	cr_assert_eq(packet_csum_fold(packet_csum_partial(
			     cap_syn6 + 40, sizeof(cap_syn6) - 40,
			     packet_pseudo_sum(AF_INET6, &src, &dst, IPPROTO_TCP,
					       sizeof(cap_syn6) - 40))),
		     0);
}

/* ---- parsing valid packets ---- */

Test(packet_parse, ipv4_syn_with_options)
{
	struct packet p;

	expect_ok(&p, cap_syn4, sizeof(cap_syn4));
	cr_assert_eq(p.family, AF_INET);
	cr_assert_eq(p.proto, IPPROTO_TCP);
	cr_assert_eq(p.ttl, 64);
	cr_assert(addr_is(&p.src, AF_INET, "10.0.2.15"));
	cr_assert(addr_is(&p.dst, AF_INET, "10.0.2.2"));
	cr_assert_eq(p.l3, cap_syn4);
	cr_assert_eq(p.l3_len, 60);
	cr_assert_eq(p.l4, cap_syn4 + 20);
	cr_assert_eq(p.l4_len, 40);
	cr_assert_eq(p.sport, 45240);
	cr_assert_eq(p.dport, 44321);
	cr_assert_eq(p.seq, 0xd99394be);
	cr_assert_eq(p.ack, 0);
	cr_assert_eq(p.flags, PACKET_TCP_SYN);
	cr_assert_eq(p.window, 65480);
	cr_assert_eq(p.payload, cap_syn4 + 60);
	cr_assert_eq(p.payload_len, 0);
	cr_assert_eq(p.mss, 65480);
	cr_assert_eq(p.wscale, 10);
	cr_assert(p.sack_permitted);
	cr_assert(p.has_timestamps);
	cr_assert_eq(p.ts_val, 0x154cceab);
	cr_assert_eq(p.ts_ecr, 0);
}

Test(packet_parse, ipv6_syn_with_options)
{
	struct packet p;

	expect_ok(&p, cap_syn6, sizeof(cap_syn6));
	cr_assert_eq(p.family, AF_INET6);
	cr_assert_eq(p.proto, IPPROTO_TCP);
	cr_assert_eq(p.ttl, 64);
	cr_assert(addr_is(&p.src, AF_INET6, "fd00:2::15"));
	cr_assert(addr_is(&p.dst, AF_INET6, "fd00:2::2"));
	cr_assert_eq(p.l3_len, 80);
	cr_assert_eq(p.l4, cap_syn6 + 40);
	cr_assert_eq(p.l4_len, 40);
	cr_assert_eq(p.sport, 52164);
	cr_assert_eq(p.dport, 80);
	cr_assert_eq(p.seq, 0x44ab8a02);
	cr_assert_eq(p.flags, PACKET_TCP_SYN);
	cr_assert_eq(p.window, 65460);
	cr_assert_eq(p.mss, 65460);
	cr_assert_eq(p.wscale, 10);
	cr_assert(p.sack_permitted);
	cr_assert(p.has_timestamps);
	cr_assert_eq(p.ts_val, 0x678f0fcc);
	cr_assert_eq(p.payload_len, 0);
}

Test(packet_parse, ipv4_ack_without_options)
{
	struct packet p;

	expect_ok(&p, cap_ack4, sizeof(cap_ack4));
	cr_assert_eq(p.flags, PACKET_TCP_ACK);
	cr_assert_eq(p.seq, 0xd99394bf);
	cr_assert_eq(p.ack, 1001);
	cr_assert_eq(p.mss, 0);
	cr_assert_eq(p.wscale, -1);
	cr_assert_not(p.sack_permitted);
	cr_assert_not(p.has_timestamps);
	cr_assert_eq(p.payload_len, 0);
}

Test(packet_parse, ipv4_data_segment)
{
	struct packet p;

	expect_ok(&p, cap_data4, sizeof(cap_data4));
	cr_assert_eq(p.flags, PACKET_TCP_PSH | PACKET_TCP_ACK);
	cr_assert_eq(p.seq, 0xd99394bf);
	cr_assert_eq(p.ack, 1001);
	cr_assert_eq(p.window, 65480);
	cr_assert_eq(p.payload, cap_data4 + 40);
	cr_assert_eq(p.payload_len, 16);
	cr_assert_arr_eq(p.payload, "kernel.all.load\n", 16);
}

Test(packet_parse, udp_both_families)
{
	struct packet p;

	expect_ok(&p, cap_udp4, sizeof(cap_udp4));
	cr_assert_eq(p.family, AF_INET);
	cr_assert_eq(p.proto, IPPROTO_UDP);
	cr_assert(addr_is(&p.dst, AF_INET, "10.0.2.3"));
	cr_assert_eq(p.sport, 38000);
	cr_assert_eq(p.dport, 53);
	cr_assert_eq(p.payload, cap_udp4 + 28);
	cr_assert_eq(p.payload_len, 24);

	expect_ok(&p, cap_udp6, sizeof(cap_udp6));
	cr_assert_eq(p.family, AF_INET6);
	cr_assert_eq(p.proto, IPPROTO_UDP);
	cr_assert(addr_is(&p.dst, AF_INET6, "fd00:2::3"));
	cr_assert_eq(p.sport, 42343);
	cr_assert_eq(p.dport, 5353);
	cr_assert_eq(p.payload_len, 12);
	cr_assert_arr_eq(p.payload, "hello, world", 12);
}

Test(packet_parse, icmp_only_ip_level)
{
	struct packet p;
	uint8_t b[sizeof(cap_icmp4)];

	expect_ok(&p, cap_icmp4, sizeof(cap_icmp4));
	cr_assert_eq(p.proto, IPPROTO_ICMP);
	cr_assert_eq(p.l4, cap_icmp4 + 20);
	cr_assert_eq(p.l4_len, 40);
	cr_assert_eq(p.ttl, 64);
	cr_assert_eq(p.sport, 0);

	expect_ok(&p, cap_icmp6, sizeof(cap_icmp6));
	cr_assert_eq(p.proto, IPPROTO_ICMPV6);
	cr_assert_eq(p.l4, cap_icmp6 + 40);
	cr_assert_eq(p.l4_len, 60);

	/* A wrong ICMP checksum is the ICMP handler's business, not the parser's. */
	memcpy(b, cap_icmp4, sizeof(b));
	b[sizeof(b) - 1] ^= 1;
	expect_ok(&p, b, sizeof(b));
}

Test(packet_parse, trailing_bytes_ignored)
{
	uint8_t b[sizeof(cap_syn4) + 13], b6[sizeof(cap_udp6) + 5];
	struct packet p;

	memcpy(b, cap_syn4, sizeof(cap_syn4));
	memset(b + sizeof(cap_syn4), 0xa5, 13);
	expect_ok(&p, b, sizeof(b));
	cr_assert_eq(p.l3_len, sizeof(cap_syn4));
	cr_assert_eq(p.l4_len, 40);

	memcpy(b6, cap_udp6, sizeof(cap_udp6));
	memset(b6 + sizeof(cap_udp6), 0x5a, 5);
	expect_ok(&p, b6, sizeof(b6));
	cr_assert_eq(p.l3_len, sizeof(cap_udp6));
	cr_assert_eq(p.payload_len, 12);
}

Test(packet_parse, ipv4_header_options_skipped)
{
	uint8_t b[sizeof(cap_udp4) + 4];
	struct packet p;

	/* Insert four bytes of NOP/EOL options: IHL 6. */
	memcpy(b, cap_udp4, 20);
	memcpy(b + 20, (const uint8_t[]){1, 1, 1, 0}, 4);
	memcpy(b + 24, cap_udp4 + 20, sizeof(cap_udp4) - 20);
	b[0] = 0x46;
	put16(b + 2, sizeof(b));
	fix_ipv4_csum(b);
	expect_ok(&p, b, sizeof(b));
	cr_assert_eq(p.l4, b + 24);
	cr_assert_eq(p.dport, 53);
	cr_assert_eq(p.payload_len, 24);
}

/* ---- every drop reason ---- */

Test(packet_drop, short_and_version)
{
	uint8_t b[sizeof(cap_syn4)];

	expect_drop(cap_syn4, 0, PACKET_DROP_SHORT, "empty");
	expect_drop(cap_syn4, 19, PACKET_DROP_SHORT, "19-byte IPv4");
	expect_drop(cap_syn6, 39, PACKET_DROP_SHORT, "39-byte IPv6");

	memcpy(b, cap_syn4, sizeof(b));
	b[0] = 0x55;
	expect_drop(b, sizeof(b), PACKET_DROP_VERSION, "version 5");
	b[0] = 0x05;
	expect_drop(b, sizeof(b), PACKET_DROP_VERSION, "version 0");
	b[0] = 0xf5;
	expect_drop(b, 1, PACKET_DROP_VERSION, "version 15, one byte");
}

Test(packet_drop, every_prefix_is_short)
{
	const struct {
		const uint8_t *pkt;
		size_t len;
	} caps[] = {
		{cap_syn4, sizeof(cap_syn4)},	{cap_ack4, sizeof(cap_ack4)},
		{cap_data4, sizeof(cap_data4)}, {cap_syn6, sizeof(cap_syn6)},
		{cap_udp4, sizeof(cap_udp4)},	{cap_udp6, sizeof(cap_udp6)},
		{cap_icmp4, sizeof(cap_icmp4)}, {cap_icmp6, sizeof(cap_icmp6)},
	};
	size_t i, n;

	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		for (n = 0; n < caps[i].len; n++) {
			struct packet p;
			enum packet_drop got;
			uint8_t *copy;

			got = parse_exact(&p, caps[i].pkt, n, &copy);
			free(copy);
			cr_assert_eq(got, PACKET_DROP_SHORT, "capture %zu cut to %zu: %s", i, n,
				     packet_drop_names[got]);
		}
	}
}

Test(packet_drop, ip_length_shrunk_is_never_ok)
{
	const uint8_t *caps[] = {cap_syn4, cap_data4, cap_udp4};
	const size_t lens[] = {sizeof(cap_syn4), sizeof(cap_data4), sizeof(cap_udp4)};
	uint8_t b[96];
	size_t i, total;

	/* Consistent IP header, transport cut short inside it. */
	for (i = 0; i < 3; i++) {
		for (total = 20; total < lens[i]; total++) {
			struct packet p;
			enum packet_drop got;
			uint8_t *copy;

			memcpy(b, caps[i], lens[i]);
			put16(b + 2, (uint16_t)total);
			fix_ipv4_csum(b);
			got = parse_exact(&p, b, lens[i], &copy);
			free(copy);
			cr_assert(got == PACKET_DROP_L4_HEADER || got == PACKET_DROP_L4_CSUM,
				  "capture %zu, total length %zu: %s", i, total,
				  packet_drop_names[got]);
		}
	}
	for (total = 0; total < sizeof(cap_syn6) - 40; total++) {
		memcpy(b, cap_syn6, 40);
		memcpy(b + 40, cap_syn6 + 40, total);
		put16(b + 4, (uint16_t)total);
		expect_drop(b, 40 + total, PACKET_DROP_L4_HEADER, "IPv6 TCP cut short");
	}
}

Test(packet_drop, ipv4_header)
{
	uint8_t b[sizeof(cap_syn4) + 1];

	memcpy(b, cap_syn4, sizeof(cap_syn4));
	b[0] = 0x44; /* IHL 4 */
	fix_ipv4_csum(b);
	expect_drop(b, sizeof(cap_syn4), PACKET_DROP_IP_HEADER, "IHL 4");
	b[0] = 0x40;
	expect_drop(b, sizeof(cap_syn4), PACKET_DROP_IP_HEADER, "IHL 0");

	memcpy(b, cap_syn4, sizeof(cap_syn4));
	put16(b + 2, 19);
	fix_ipv4_csum(b);
	expect_drop(b, sizeof(cap_syn4), PACKET_DROP_IP_HEADER, "total length below IHL");

	memcpy(b, cap_syn4, sizeof(cap_syn4));
	b[0] = 0x4f; /* 60-byte header, total length 60: checksum covers all of it */
	expect_drop(b, sizeof(cap_syn4), PACKET_DROP_IP_CSUM, "IHL 15, old checksum");
	put16(b + 2, 59);
	fix_ipv4_csum(b);
	expect_drop(b, sizeof(cap_syn4), PACKET_DROP_IP_HEADER, "IHL 15, total length 59");

	memcpy(b, cap_syn4, sizeof(cap_syn4));
	put16(b + 2, sizeof(cap_syn4) + 1);
	fix_ipv4_csum(b);
	expect_drop(b, sizeof(cap_syn4), PACKET_DROP_SHORT, "total length beyond the read");
}

Test(packet_drop, ipv4_checksum)
{
	uint8_t b[sizeof(cap_syn4)];
	size_t i;

	/* Any single bit flipped in the header is caught. */
	for (i = 0; i < 20 * 8; i++) {
		memcpy(b, cap_syn4, sizeof(b));
		b[i / 8] ^= (uint8_t)(1 << (i % 8));
		if (i / 8 == 0 || i / 8 == 2 || i / 8 == 3)
			continue; /* version, IHL and length: other reasons first */
		expect_drop(b, sizeof(b), PACKET_DROP_IP_CSUM, "bit flip");
	}
}

Test(packet_drop, fragments)
{
	uint8_t b[sizeof(cap_udp4)];

	memcpy(b, cap_udp4, sizeof(b));
	b[6] |= 0x20; /* more fragments */
	fix_ipv4_csum(b);
	expect_drop(b, sizeof(b), PACKET_DROP_FRAGMENT, "IPv4 MF");

	memcpy(b, cap_udp4, sizeof(b));
	put16(b + 6, 185); /* offset 1480, DF clear: the last fragment */
	fix_ipv4_csum(b);
	expect_drop(b, sizeof(b), PACKET_DROP_FRAGMENT, "IPv4 offset");

	memcpy(b, cap_udp4, sizeof(b));
	put16(b + 6, 0); /* DF clear, not a fragment */
	fix_ipv4_csum(b);
	expect_drop(b, sizeof(b), PACKET_OK, "IPv4 DF clear");
}

Test(packet_drop, tcp_header)
{
	uint8_t b[sizeof(cap_syn4)];

	memcpy(b, cap_syn4, sizeof(b));
	b[32] = 0x40; /* data offset 4 */
	fix_l4_csum(b, IPPROTO_TCP, b + 20, 40, 16);
	expect_drop(b, sizeof(b), PACKET_DROP_L4_HEADER, "data offset 4");

	b[32] = 0xb0; /* data offset 11: 44 bytes of 40 */
	fix_l4_csum(b, IPPROTO_TCP, b + 20, 40, 16);
	expect_drop(b, sizeof(b), PACKET_DROP_L4_HEADER, "data offset past the end");

	b[32] = 0x50; /* data offset 5: options become payload, still valid */
	fix_l4_csum(b, IPPROTO_TCP, b + 20, 40, 16);
	expect_drop(b, sizeof(b), PACKET_OK, "data offset 5");
}

Test(packet_drop, l4_checksums)
{
	uint8_t b[sizeof(cap_syn6)];
	size_t i;

	for (i = 20 * 8; i < sizeof(cap_data4) * 8; i++) {
		memcpy(b, cap_data4, sizeof(cap_data4));
		b[i / 8] ^= (uint8_t)(1 << (i % 8));
		if (i / 8 == 32)
			continue; /* data offset */
		expect_drop(b, sizeof(cap_data4), PACKET_DROP_L4_CSUM, "TCP bit flip");
	}
	/* The pseudo-header is covered: a different destination fails. */
	memcpy(b, cap_syn6, sizeof(cap_syn6));
	b[39] = 0x03;
	expect_drop(b, sizeof(cap_syn6), PACKET_DROP_L4_CSUM, "IPv6 destination changed");
	memcpy(b, cap_udp4, sizeof(cap_udp4));
	b[19] = 0x04;
	fix_ipv4_csum(b);
	expect_drop(b, sizeof(cap_udp4), PACKET_DROP_L4_CSUM, "IPv4 destination changed");
	memcpy(b, cap_udp6, sizeof(cap_udp6));
	b[sizeof(cap_udp6) - 1] ^= 0x80;
	expect_drop(b, sizeof(cap_udp6), PACKET_DROP_L4_CSUM, "UDP payload");
}

Test(packet_drop, udp_zero_checksum_and_length)
{
	uint8_t b[sizeof(cap_udp6)];
	struct packet p;

	memcpy(b, cap_udp4, sizeof(cap_udp4));
	put16(b + 26, 0);
	expect_drop(b, sizeof(cap_udp4), PACKET_OK, "UDP over IPv4 without checksum");
	memcpy(b, cap_udp6, sizeof(cap_udp6));
	put16(b + 46, 0);
	expect_drop(b, sizeof(cap_udp6), PACKET_DROP_L4_CSUM, "UDP over IPv6 without checksum");

	memcpy(b, cap_udp4, sizeof(cap_udp4));
	put16(b + 24, 7);
	fix_l4_csum(b, IPPROTO_UDP, b + 20, 7, 6);
	expect_drop(b, sizeof(cap_udp4), PACKET_DROP_L4_HEADER, "UDP length 7");
	put16(b + 24, sizeof(cap_udp4) - 20 + 1);
	expect_drop(b, sizeof(cap_udp4), PACKET_DROP_L4_HEADER, "UDP length beyond IP");

	/* Shorter UDP length: the rest of the IP payload is not the datagram's. */
	memcpy(b, cap_udp4, sizeof(cap_udp4));
	put16(b + 24, 28);
	fix_l4_csum(b, IPPROTO_UDP, b + 20, 28, 6);
	expect_ok(&p, b, sizeof(cap_udp4));
	cr_assert_eq(p.payload_len, 20);

	memcpy(b, cap_udp4, 24);
	put16(b + 2, 24);
	fix_ipv4_csum(b);
	expect_drop(b, 24, PACKET_DROP_L4_HEADER, "4-byte UDP header");
}

/* An IPv4 SYN from 10.0.2.15:40000 to 10.0.2.2:80 with @opt_len bytes of options. */
static size_t make_syn4(uint8_t *b, uint8_t flags, const uint8_t *opt, size_t opt_len)
{
	size_t tcp_len = 20 + opt_len;

	cr_assert_eq(opt_len % 4, 0);
	memset(b, 0, 20 + tcp_len);
	b[0] = 0x45;
	put16(b + 2, (uint16_t)(20 + tcp_len));
	b[8] = 64;
	b[9] = IPPROTO_TCP;
	memcpy(b + 12, (const uint8_t[]){10, 0, 2, 15, 10, 0, 2, 2}, 8);
	fix_ipv4_csum(b);
	put16(b + 20, 40000);
	put16(b + 22, 80);
	put16(b + 24, 0x1234);
	b[32] = (uint8_t)((tcp_len / 4) << 4);
	b[33] = flags;
	put16(b + 34, 29200);
	memcpy(b + 40, opt, opt_len);
	fix_l4_csum(b, IPPROTO_TCP, b + 20, tcp_len, 16);
	return 20 + tcp_len;
}

Test(packet_drop, garbage_tcp_options)
{
	const struct {
		const char *what;
		uint8_t opt[12];
		size_t len;
		enum packet_drop want;
	} cases[] = {
		{"length 0", {2, 0, 5, 0xb4}, 4, PACKET_DROP_L4_HEADER},
		{"length 1", {1, 1, 3, 1}, 4, PACKET_DROP_L4_HEADER},
		{"overruns", {1, 1, 8, 10}, 4, PACKET_DROP_L4_HEADER},
		{"overruns by one", {2, 5, 5, 0xb4}, 4, PACKET_DROP_L4_HEADER},
		{"kind without length", {1, 1, 1, 2}, 4, PACKET_DROP_L4_HEADER},
		{"unknown kind length 255", {0xfe, 255, 0, 0}, 4, PACKET_DROP_L4_HEADER},
		{"garbage after EOL", {1, 0, 2, 0, 0xff, 0xff, 0xff, 0xff}, 8, PACKET_OK},
		{"all NOP", {1, 1, 1, 1, 1, 1, 1, 1}, 8, PACKET_OK},
		{"unknown kind", {0xfe, 4, 0xaa, 0xbb}, 4, PACKET_OK},
		{"MSS of length 3", {2, 3, 5, 1}, 4, PACKET_OK},
		{"timestamp of length 8", {8, 8, 1, 2, 3, 4, 5, 6, 1, 1, 1, 1}, 12, PACKET_OK},
	};
	uint8_t b[80];
	struct packet p;
	size_t i, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = make_syn4(b, PACKET_TCP_SYN, cases[i].opt, cases[i].len);
		expect_drop(b, n, cases[i].want, cases[i].what);
		if (cases[i].want == PACKET_OK) {
			expect_ok(&p, b, n);
			cr_assert_eq(p.mss, 0, "%s", cases[i].what);
			cr_assert_eq(p.wscale, -1, "%s", cases[i].what);
			cr_assert_not(p.has_timestamps, "%s", cases[i].what);
		}
	}
}

Test(packet_parse, tcp_options_values)
{
	/* NOP, MSS 1460, window scale 15 (clamped), SACK permitted, TS 1 echo 0xfffffffe, EOL */
	static const uint8_t opts[24] = {1, 2, 4, 0x05, 0xb4, 3,    3,	  15,	4, 2, 8, 10,
					 0, 0, 0, 1,	0xff, 0xff, 0xff, 0xfe, 1, 0, 0, 0};
	uint8_t b[80];
	struct packet p;
	size_t n;

	n = make_syn4(b, PACKET_TCP_SYN, opts, sizeof(opts));
	expect_ok(&p, b, n);
	cr_assert_eq(p.mss, 1460);
	cr_assert_eq(p.wscale, 14);
	cr_assert(p.sack_permitted);
	cr_assert(p.has_timestamps);
	cr_assert_eq(p.ts_val, 1);
	cr_assert_eq(p.ts_ecr, 0xfffffffe);

	/* Outside a SYN only timestamps mean anything (RFC 9293 3.7.1, RFC 7323). */
	n = make_syn4(b, PACKET_TCP_ACK, opts, sizeof(opts));
	expect_ok(&p, b, n);
	cr_assert_eq(p.mss, 0);
	cr_assert_eq(p.wscale, -1);
	cr_assert_not(p.sack_permitted);
	cr_assert(p.has_timestamps);
	cr_assert_eq(p.ts_val, 1);
}

/* ---- IPv6 extension headers ---- */

/*
 * IPv6 TCP segment with hop-by-hop, destination options and routing headers
 * (at 40, 48, 56; TCP at 64) and @payload_len bytes of payload.
 */
static size_t make_ext6(uint8_t *b, size_t payload_len)
{
	static const uint8_t ext[24] = {
		IPPROTO_DSTOPTS, 0, 1, 4, 0, 0, 0, 0, /* hop-by-hop, PadN */
		IPPROTO_ROUTING, 0, 1, 4, 0, 0, 0, 0, /* destination options, PadN */
		IPPROTO_TCP,	 0, 4, 0, 0, 0, 0, 0, /* routing, segments left 0 */
	};
	size_t l4_len = 20 + payload_len, i;

	memset(b, 0, 84); /* IPv6, extension and TCP headers */
	b[0] = 0x60;
	put16(b + 4, (uint16_t)(24 + l4_len));
	b[6] = IPPROTO_HOPOPTS;
	b[7] = 255;
	memcpy(b + 8, (const uint8_t[]){0xfd, 0, 0, 2, [15] = 0x15}, 16);
	memcpy(b + 24, (const uint8_t[]){0x20, 0x01, 0x0d, 0xb8, [15] = 0x01}, 16);
	memcpy(b + 40, ext, sizeof(ext));
	put16(b + 64, 33333);
	put16(b + 66, 443);
	b[76] = 0x50;
	b[77] = PACKET_TCP_ACK | PACKET_TCP_PSH;
	for (i = 0; i < payload_len; i++)
		b[84 + i] = (uint8_t)i;
	fix_l4_csum(b, IPPROTO_TCP, b + 64, l4_len, 16);
	return 40 + 24 + l4_len;
}

Test(packet_ipv6, extension_headers_walked)
{
	uint8_t b[200];
	struct packet p;
	size_t n, cut;

	n = make_ext6(b, 11);
	expect_ok(&p, b, n);
	cr_assert_eq(p.proto, IPPROTO_TCP);
	cr_assert_eq(p.ttl, 255);
	cr_assert(addr_is(&p.dst, AF_INET6, "2001:db8::1"));
	cr_assert_eq(p.l4, b + 64);
	cr_assert_eq(p.l4_len, 31);
	cr_assert_eq(p.sport, 33333);
	cr_assert_eq(p.dport, 443);
	cr_assert_eq(p.payload_len, 11);
	cr_assert_eq(p.payload[10], 10);

	for (cut = 0; cut < n; cut++) {
		struct packet q;
		enum packet_drop got;
		uint8_t *copy;

		got = parse_exact(&q, b, cut, &copy);
		free(copy);
		cr_assert_eq(got, PACKET_DROP_SHORT, "cut to %zu", cut);
	}
	/* Payload length ending inside the chain. */
	for (cut = 0; cut < 24; cut++) {
		put16(b + 4, (uint16_t)cut);
		expect_drop(b, n, PACKET_DROP_IP_HEADER, "chain cut by the payload length");
	}
}

Test(packet_ipv6, bad_chains)
{
	uint8_t b[200];
	size_t n;

	n = make_ext6(b, 0);
	b[41] = 200; /* hop-by-hop header of 1608 bytes */
	expect_drop(b, n, PACKET_DROP_IP_HEADER, "header overruns the payload");

	n = make_ext6(b, 0);
	b[40] = IPPROTO_TCP;
	b[41] = 2; /* 24 bytes, swallowing the other two: TCP still at 64 */
	expect_drop(b, n, PACKET_OK, "one longer hop-by-hop header");

	n = make_ext6(b, 0);
	b[48] = IPPROTO_HOPOPTS; /* destination options followed by hop-by-hop */
	expect_drop(b, n, PACKET_DROP_IP_HEADER, "hop-by-hop not first");

	n = make_ext6(b, 0);
	b[59] = 1; /* segments left */
	expect_drop(b, n, PACKET_DROP_IP_HEADER, "routing header with segments left");

	n = make_ext6(b, 0);
	b[48] = IPPROTO_FRAGMENT;
	expect_drop(b, n, PACKET_DROP_FRAGMENT, "fragment header after hop-by-hop");

	memcpy(b, cap_syn6, sizeof(cap_syn6));
	b[6] = IPPROTO_FRAGMENT;
	expect_drop(b, sizeof(cap_syn6), PACKET_DROP_FRAGMENT, "fragment header first");
}

Test(packet_ipv6, no_next_header_and_unknown)
{
	uint8_t b[200];
	struct packet p;
	size_t n;

	n = make_ext6(b, 0);
	b[56] = IPPROTO_NONE;
	expect_ok(&p, b, n);
	cr_assert_eq(p.proto, IPPROTO_NONE);
	cr_assert_eq(p.l4, b + 64);
	cr_assert_eq(p.l4_len, 20);

	b[56] = 253; /* experimental */
	expect_ok(&p, b, n);
	cr_assert_eq(p.proto, 253);
}

/* ---- TCP builder ---- */

static struct packet_tcp_out tcp_out4(void)
{
	struct packet_tcp_out t = {
		.family = AF_INET,
		.sport = 45240,
		.dport = 44321,
		.seq = 0xd99394bf,
		.ack = 1001,
		.flags = PACKET_TCP_ACK,
		.window = 65480,
		.wscale = -1,
	};

	addr4(&t.src, "10.0.2.15");
	addr4(&t.dst, "10.0.2.2");
	return t;
}

Test(packet_build, tcp_matches_kernel_segments)
{
	struct packet_tcp_out t = tcp_out4();
	uint8_t b[128];
	ssize_t n;

	/* The kernel's ACK, byte for byte but for the IP ID it chose. */
	cr_assert_eq(packet_tcp_header_len(&t), 40);
	n = packet_build_tcp(b, sizeof(b), &t, 0);
	cr_assert_eq(n, sizeof(cap_ack4));
	cr_assert_arr_eq(b + 20, cap_ack4 + 20, 20, "TCP header differs");
	cr_assert_arr_eq(b, cap_ack4, 4);
	cr_assert_arr_eq(b + 6, cap_ack4 + 6, 4);
	cr_assert_arr_eq(b + 12, cap_ack4 + 12, 8);
	cr_assert_eq(get16(b + 4), 0, "ID 0 with DF");
	cr_assert_eq(ref_csum(b, 20), 0, "IPv4 header checksum");

	/* Its data segment: payload placed first, headers written around it. */
	t.flags = PACKET_TCP_ACK | PACKET_TCP_PSH;
	memcpy(b + 40, "kernel.all.load\n", 16);
	n = packet_build_tcp(b, sizeof(b), &t, 16);
	cr_assert_eq(n, sizeof(cap_data4));
	cr_assert_arr_eq(b + 20, cap_data4 + 20, sizeof(cap_data4) - 20);
	cr_assert_eq(ref_csum(b, 20), 0);
}

Test(packet_build, header_len)
{
	struct packet_tcp_out t = tcp_out4();

	t.mss = 1460;
	t.wscale = 7;
	cr_assert_eq(packet_tcp_header_len(&t), 40, "options on SYN only");
	t.flags = PACKET_TCP_SYN | PACKET_TCP_ACK;
	cr_assert_eq(packet_tcp_header_len(&t), 48);
	t.wscale = -1;
	cr_assert_eq(packet_tcp_header_len(&t), 44);
	t.mss = 0;
	t.wscale = 0;
	cr_assert_eq(packet_tcp_header_len(&t), 44);
	t.family = AF_INET6;
	t.mss = 1440;
	cr_assert_eq(packet_tcp_header_len(&t), PACKET_TCP_HEADER_MAX);
	t.family = AF_UNIX;
	cr_assert_eq(packet_tcp_header_len(&t), 0);
}

static void tcp_round_trip(int family, const char *src, const char *dst, uint8_t flags,
			   size_t payload_len)
{
	static uint8_t b[70000];
	struct packet_tcp_out t = {
		.family = family,
		.sport = 80,
		.dport = 51515,
		.seq = 0xfffffff0,
		.ack = 0x80000001,
		.flags = flags,
		.window = 0xfffe,
		.mss = 1400,
		.wscale = 9,
	};
	size_t hlen, i;
	struct packet p;
	ssize_t n;

	if (family == AF_INET) {
		addr4(&t.src, src);
		addr4(&t.dst, dst);
	} else {
		addr6(&t.src, src);
		addr6(&t.dst, dst);
	}
	hlen = packet_tcp_header_len(&t);
	for (i = 0; i < payload_len; i++)
		b[hlen + i] = (uint8_t)(i * 13 + 1);
	n = packet_build_tcp(b, sizeof(b), &t, payload_len);
	cr_assert_eq(n, (ssize_t)(hlen + payload_len));
	expect_ok(&p, b, (size_t)n);
	cr_assert_eq(p.family, family);
	cr_assert_eq(p.proto, IPPROTO_TCP);
	cr_assert_eq(p.ttl, 64);
	cr_assert(addr_is(&p.src, family, src));
	cr_assert(addr_is(&p.dst, family, dst));
	cr_assert_eq(p.sport, 80);
	cr_assert_eq(p.dport, 51515);
	cr_assert_eq(p.seq, 0xfffffff0);
	cr_assert_eq(p.ack, 0x80000001);
	cr_assert_eq(p.flags, flags);
	cr_assert_eq(p.window, 0xfffe);
	cr_assert_eq(p.payload, b + hlen);
	cr_assert_eq(p.payload_len, payload_len);
	for (i = 0; i < payload_len; i++)
		cr_assert_eq(p.payload[i], (uint8_t)(i * 13 + 1));
	if (flags & PACKET_TCP_SYN) {
		cr_assert_eq(p.mss, 1400);
		cr_assert_eq(p.wscale, 9);
	} else {
		cr_assert_eq(p.mss, 0);
		cr_assert_eq(p.wscale, -1);
	}
	cr_assert_not(p.sack_permitted);
	cr_assert_not(p.has_timestamps);
	/* Checksums by the reference too. */
	cr_assert_eq(ref_l4_csum(b, IPPROTO_TCP, p.l4, p.l4_len), 0);
	if (family == AF_INET) {
		cr_assert_eq(ref_csum(b, 20), 0);
		cr_assert_eq(b[6] & 0x40, 0x40, "DF");
	} else {
		cr_assert_eq(get32(b), 0x60000000, "traffic class and flow label 0");
	}
}

Test(packet_build, tcp_round_trip_both_families)
{
	static const size_t lens[] = {0, 1, 2, 7, 1460, 65000};
	size_t i;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		tcp_round_trip(AF_INET, "10.0.2.2", "10.0.2.15", PACKET_TCP_ACK, lens[i]);
		tcp_round_trip(AF_INET, "192.0.2.1", "10.0.2.15", PACKET_TCP_SYN | PACKET_TCP_ACK,
			       lens[i]);
		tcp_round_trip(AF_INET6, "2001:db8::1", "fd00:2::15",
			       PACKET_TCP_ACK | PACKET_TCP_PSH | PACKET_TCP_FIN, lens[i]);
		tcp_round_trip(AF_INET6, "fd00:2::2", "fd00:2::15", PACKET_TCP_SYN | PACKET_TCP_ACK,
			       lens[i]);
	}
}

Test(packet_build, tcp_errors)
{
	static uint8_t b[65600];
	struct packet_tcp_out t = tcp_out4();

	cr_assert_eq(packet_build_tcp(b, 39, &t, 0), -ENOBUFS);
	cr_assert_eq(packet_build_tcp(b, 40 + 99, &t, 100), -ENOBUFS);
	cr_assert_eq(packet_build_tcp(b, sizeof(b), &t, 65535 - 40), 65535);
	cr_assert_eq(packet_build_tcp(b, sizeof(b), &t, 65535 - 40 + 1), -EMSGSIZE);
	cr_assert_eq(packet_build_tcp(b, sizeof(b), &t, (size_t)-1), -EMSGSIZE);
	t.family = AF_INET6;
	cr_assert_eq(packet_build_tcp(b, sizeof(b), &t, 65535 - 20), 65535 + 40);
	cr_assert_eq(packet_build_tcp(b, sizeof(b), &t, 65535 - 20 + 1), -EMSGSIZE);
	t.family = AF_UNIX;
	cr_assert_eq(packet_build_tcp(b, sizeof(b), &t, 0), -EAFNOSUPPORT);
	t.family = AF_INET;
	t.flags = PACKET_TCP_SYN;
	t.wscale = 15;
	cr_assert_eq(packet_build_tcp(b, sizeof(b), &t, 0), -EINVAL);
}

/* ---- ICMP errors ---- */

Test(packet_icmp, port_unreachable_matches_kernel)
{
	union packet_addr from;
	struct packet orig, p;
	uint8_t b[PACKET_ICMP_MAX];
	ssize_t n;

	/* ICMP has no pseudo-header: all but the outer IP header must be the kernel's. */
	expect_ok(&orig, cap_udp4_in, sizeof(cap_udp4_in));
	addr4(&from, "10.0.2.15");
	n = packet_build_icmp_unreach(b, sizeof(b), &orig, &from, PACKET_UNREACH_PORT);
	cr_assert_eq(n, sizeof(cap_icmp4));
	cr_assert_arr_eq(b + 20, cap_icmp4 + 20, sizeof(cap_icmp4) - 20);
	cr_assert_eq(ref_csum(b, 20), 0);
	expect_ok(&p, b, (size_t)n);
	cr_assert_eq(p.proto, IPPROTO_ICMP);
	cr_assert(addr_is(&p.src, AF_INET, "10.0.2.15"));
	cr_assert(addr_is(&p.dst, AF_INET, "10.0.2.2"));

	/* ICMPv6: same addresses, so the pseudo-header and all 60 bytes match. */
	expect_ok(&orig, cap_udp6_in, sizeof(cap_udp6_in));
	addr6(&from, "fd00:2::15");
	n = packet_build_icmp_unreach(b, sizeof(b), &orig, &from, PACKET_UNREACH_PORT);
	cr_assert_eq(n, sizeof(cap_icmp6));
	cr_assert_arr_eq(b + 40, cap_icmp6 + 40, sizeof(cap_icmp6) - 40);
	cr_assert_arr_eq(b + 4, cap_icmp6 + 4, 36, "payload length, next header, addresses");
	expect_ok(&p, b, (size_t)n);
	cr_assert_eq(p.proto, IPPROTO_ICMPV6);
}

Test(packet_icmp, every_kind_both_families)
{
	const struct {
		int kind;
		uint8_t type4, code4, type6, code6;
	} kinds[] = {
		{PACKET_UNREACH_NET, 3, 0, 1, 0},    {PACKET_UNREACH_HOST, 3, 1, 1, 3},
		{PACKET_UNREACH_PORT, 3, 3, 1, 4},   {PACKET_UNREACH_PROTO, 3, 2, 4, 1},
		{PACKET_UNREACH_ADMIN, 3, 13, 1, 1},
	};
	union packet_addr from4, from6;
	uint8_t b[PACKET_ICMP_MAX];
	struct packet orig, p;
	size_t i;
	ssize_t n;

	addr4(&from4, "192.0.2.1");
	addr6(&from6, "2001:db8::1");
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		expect_ok(&orig, cap_syn4, sizeof(cap_syn4));
		n = packet_build_icmp_unreach(b, sizeof(b), &orig, &from4, kinds[i].kind);
		cr_assert_eq(n, 28 + sizeof(cap_syn4));
		expect_ok(&p, b, (size_t)n);
		cr_assert_eq(p.proto, IPPROTO_ICMP);
		cr_assert_eq(p.ttl, 64);
		cr_assert(addr_is(&p.src, AF_INET, "192.0.2.1"));
		cr_assert(addr_is(&p.dst, AF_INET, "10.0.2.15"));
		cr_assert_eq(p.l4[0], kinds[i].type4, "kind %d", kinds[i].kind);
		cr_assert_eq(p.l4[1], kinds[i].code4, "kind %d", kinds[i].kind);
		cr_assert_eq(get32(p.l4 + 4), 0);
		cr_assert_eq(ref_csum(p.l4, p.l4_len), 0, "ICMP checksum");
		cr_assert_arr_eq(p.l4 + 8, cap_syn4, sizeof(cap_syn4), "quote");

		expect_ok(&orig, cap_syn6, sizeof(cap_syn6));
		n = packet_build_icmp_unreach(b, sizeof(b), &orig, &from6, kinds[i].kind);
		cr_assert_eq(n, 48 + sizeof(cap_syn6));
		expect_ok(&p, b, (size_t)n);
		cr_assert_eq(p.proto, IPPROTO_ICMPV6);
		cr_assert_eq(p.ttl, 64);
		cr_assert(addr_is(&p.src, AF_INET6, "2001:db8::1"));
		cr_assert(addr_is(&p.dst, AF_INET6, "fd00:2::15"));
		cr_assert_eq(p.l4[0], kinds[i].type6, "kind %d", kinds[i].kind);
		cr_assert_eq(p.l4[1], kinds[i].code6, "kind %d", kinds[i].kind);
		/* Parameter Problem points at the IPv6 header's Next Header field. */
		cr_assert_eq(get32(p.l4 + 4), kinds[i].kind == PACKET_UNREACH_PROTO ? 6 : 0);
		cr_assert_eq(ref_l4_csum(b, IPPROTO_ICMPV6, p.l4, p.l4_len), 0, "ICMPv6 checksum");
		cr_assert_arr_eq(p.l4 + 8, cap_syn6, sizeof(cap_syn6), "quote");
	}
}

Test(packet_icmp, parameter_problem_points_past_extension_headers)
{
	union packet_addr from;
	uint8_t b[200], out[PACKET_ICMP_MAX];
	struct packet orig, p;
	ssize_t n;
	size_t len;

	len = make_ext6(b, 0);
	b[56] = 253; /* the routing header names an unknown protocol */
	expect_ok(&orig, b, len);
	addr6(&from, "2001:db8::1");
	n = packet_build_icmp_unreach(out, sizeof(out), &orig, &from, PACKET_UNREACH_PROTO);
	cr_assert_eq(n, (ssize_t)(48 + len));
	expect_ok(&p, out, (size_t)n);
	cr_assert_eq(p.l4[0], 4);
	cr_assert_eq(p.l4[1], 1);
	cr_assert_eq(get32(p.l4 + 4), 56, "pointer at the routing header's Next Header");
	cr_assert_eq(ref_l4_csum(out, IPPROTO_ICMPV6, p.l4, p.l4_len), 0);
}

/* Answer a TCP packet of @l3_len bytes and return the ICMP error's length. */
static ssize_t icmp_for_size(int family, size_t l3_len, uint8_t *out, uint8_t *big)
{
	struct packet_tcp_out t = tcp_out4();
	union packet_addr from;
	struct packet orig, p;
	size_t hlen;
	ssize_t n;

	if (family == AF_INET6) {
		t.family = AF_INET6;
		addr6(&t.src, "fd00:2::15");
		addr6(&t.dst, "2001:db8::80");
		addr6(&from, "fd00:2::2");
	} else {
		addr4(&from, "10.0.2.2");
	}
	hlen = packet_tcp_header_len(&t);
	memset(big + hlen, 0x77, l3_len - hlen);
	n = packet_build_tcp(big, 4000, &t, l3_len - hlen);
	cr_assert_eq(n, (ssize_t)l3_len);
	expect_ok(&orig, big, l3_len);
	n = packet_build_icmp_unreach(out, PACKET_ICMP_MAX, &orig, &from, PACKET_UNREACH_HOST);
	cr_assert_gt(n, 0);
	expect_ok(&p, out, (size_t)n);
	cr_assert_arr_eq(p.l4 + 8, big, p.l4_len - 8, "quote");
	if (family == AF_INET)
		cr_assert_eq(ref_csum(p.l4, p.l4_len), 0);
	else
		cr_assert_eq(ref_l4_csum(out, IPPROTO_ICMPV6, p.l4, p.l4_len), 0);
	return n;
}

Test(packet_icmp, quote_limits)
{
	static uint8_t big[4000], b[PACKET_ICMP_MAX];
	union packet_addr from;
	struct packet orig;

	/* RFC 1812 4.3.2.3: at most 576 bytes; 28 of them are headers. */
	cr_assert_eq(icmp_for_size(AF_INET, 40, b, big), 28 + 40);
	cr_assert_eq(icmp_for_size(AF_INET, 547, b, big), 575);
	cr_assert_eq(icmp_for_size(AF_INET, 548, b, big), 576);
	cr_assert_eq(icmp_for_size(AF_INET, 549, b, big), 576);
	cr_assert_eq(icmp_for_size(AF_INET, 2040, b, big), 576);

	/* RFC 4443 2.4 (c): at most the minimum MTU, 1280; 48 bytes of headers. */
	cr_assert_eq(icmp_for_size(AF_INET6, 60, b, big), 48 + 60);
	cr_assert_eq(icmp_for_size(AF_INET6, 1231, b, big), 1279);
	cr_assert_eq(icmp_for_size(AF_INET6, 1232, b, big), 1280);
	cr_assert_eq(icmp_for_size(AF_INET6, 1233, b, big), 1280);
	cr_assert_eq(icmp_for_size(AF_INET6, 1279, b, big), 1280);
	cr_assert_eq(icmp_for_size(AF_INET6, 3000, b, big), 1280);

	/* Too small a buffer. */
	expect_ok(&orig, cap_syn6, sizeof(cap_syn6));
	addr6(&from, "fd00:2::2");
	cr_assert_eq(packet_build_icmp_unreach(b, 48 + sizeof(cap_syn6) - 1, &orig, &from,
					       PACKET_UNREACH_HOST),
		     -ENOBUFS);
	expect_ok(&orig, cap_syn4, sizeof(cap_syn4));
	addr4(&from, "10.0.2.2");
	cr_assert_eq(packet_build_icmp_unreach(b, 28 + sizeof(cap_syn4) - 1, &orig, &from,
					       PACKET_UNREACH_HOST),
		     -ENOBUFS);
	cr_assert_eq(packet_build_icmp_unreach(b, 28 + sizeof(cap_syn4), &orig, &from,
					       PACKET_UNREACH_HOST),
		     28 + sizeof(cap_syn4));
}

Test(packet_icmp, built_in_place)
{
	union packet_addr from;
	uint8_t apart[PACKET_ICMP_MAX], b[PACKET_ICMP_MAX];
	struct packet orig;
	ssize_t n;

	addr4(&from, "10.0.2.15");
	expect_ok(&orig, cap_udp4_in, sizeof(cap_udp4_in));
	n = packet_build_icmp_unreach(apart, sizeof(apart), &orig, &from, PACKET_UNREACH_ADMIN);
	cr_assert_gt(n, 0);
	memcpy(b, cap_udp4_in, sizeof(cap_udp4_in));
	expect_ok(&orig, b, sizeof(cap_udp4_in));
	cr_assert_eq(packet_build_icmp_unreach(b, sizeof(b), &orig, &from, PACKET_UNREACH_ADMIN),
		     n);
	cr_assert_arr_eq(b, apart, (size_t)n);
}

Test(packet_icmp, never_answers_errors_or_groups)
{
	union packet_addr from4, from6;
	uint8_t b[PACKET_ICMP_MAX], pkt[128];
	struct packet orig;

	addr4(&from4, "10.0.2.2");
	addr6(&from6, "fd00:2::2");
	expect_ok(&orig, cap_icmp4, sizeof(cap_icmp4));
	cr_assert_eq(packet_build_icmp_unreach(b, sizeof(b), &orig, &from4, PACKET_UNREACH_HOST),
		     -EINVAL, "ICMP error answered");
	expect_ok(&orig, cap_icmp6, sizeof(cap_icmp6));
	cr_assert_eq(packet_build_icmp_unreach(b, sizeof(b), &orig, &from6, PACKET_UNREACH_HOST),
		     -EINVAL, "ICMPv6 error answered");

	/* Queries are answered: echo request. */
	memcpy(pkt, cap_icmp4, sizeof(cap_icmp4));
	pkt[20] = 8;
	pkt[21] = 0;
	expect_ok(&orig, pkt, sizeof(cap_icmp4));
	cr_assert_gt(packet_build_icmp_unreach(b, sizeof(b), &orig, &from4, PACKET_UNREACH_HOST),
		     0);
	memcpy(pkt, cap_icmp6, sizeof(cap_icmp6));
	pkt[40] = 128;
	expect_ok(&orig, pkt, sizeof(cap_icmp6));
	cr_assert_gt(packet_build_icmp_unreach(b, sizeof(b), &orig, &from6, PACKET_UNREACH_HOST),
		     0);
	pkt[40] = 137; /* redirect */
	expect_ok(&orig, pkt, sizeof(cap_icmp6));
	cr_assert_eq(packet_build_icmp_unreach(b, sizeof(b), &orig, &from6, PACKET_UNREACH_HOST),
		     -EINVAL);
	pkt[40] = 127; /* unknown error type */
	expect_ok(&orig, pkt, sizeof(cap_icmp6));
	cr_assert_eq(packet_build_icmp_unreach(b, sizeof(b), &orig, &from6, PACKET_UNREACH_HOST),
		     -EINVAL);

	/* Multicast or broadcast destination, unspecified source. */
	memcpy(pkt, cap_syn4, sizeof(cap_syn4));
	memcpy(pkt + 16, (const uint8_t[]){224, 0, 0, 251}, 4);
	fix_ipv4_csum(pkt);
	fix_l4_csum(pkt, IPPROTO_TCP, pkt + 20, 40, 16);
	expect_ok(&orig, pkt, sizeof(cap_syn4));
	cr_assert_eq(packet_build_icmp_unreach(b, sizeof(b), &orig, &from4, PACKET_UNREACH_PORT),
		     -EINVAL, "multicast destination");
	memcpy(pkt + 16, (const uint8_t[]){255, 255, 255, 255}, 4);
	fix_ipv4_csum(pkt);
	fix_l4_csum(pkt, IPPROTO_TCP, pkt + 20, 40, 16);
	expect_ok(&orig, pkt, sizeof(cap_syn4));
	cr_assert_eq(packet_build_icmp_unreach(b, sizeof(b), &orig, &from4, PACKET_UNREACH_PORT),
		     -EINVAL, "broadcast destination");
	memcpy(pkt + 12, (const uint8_t[]){0, 0, 0, 0, 10, 0, 2, 2}, 8);
	fix_ipv4_csum(pkt);
	fix_l4_csum(pkt, IPPROTO_TCP, pkt + 20, 40, 16);
	expect_ok(&orig, pkt, sizeof(cap_syn4));
	cr_assert_eq(packet_build_icmp_unreach(b, sizeof(b), &orig, &from4, PACKET_UNREACH_PORT),
		     -EINVAL, "source 0.0.0.0");

	memcpy(pkt, cap_syn6, sizeof(cap_syn6));
	memset(pkt + 8, 0, 16);
	fix_l4_csum(pkt, IPPROTO_TCP, pkt + 40, 40, 16);
	expect_ok(&orig, pkt, sizeof(cap_syn6));
	cr_assert_eq(packet_build_icmp_unreach(b, sizeof(b), &orig, &from6, PACKET_UNREACH_PORT),
		     -EINVAL, "source ::");
	memcpy(pkt, cap_syn6, sizeof(cap_syn6));
	pkt[24] = 0xff;
	fix_l4_csum(pkt, IPPROTO_TCP, pkt + 40, 40, 16);
	expect_ok(&orig, pkt, sizeof(cap_syn6));
	cr_assert_eq(packet_build_icmp_unreach(b, sizeof(b), &orig, &from6, PACKET_UNREACH_PORT),
		     -EINVAL, "multicast destination");

	expect_ok(&orig, cap_syn4, sizeof(cap_syn4));
	cr_assert_eq(packet_build_icmp_unreach(b, sizeof(b), &orig, &from4, PACKET_UNREACH_MAX),
		     -EINVAL, "unknown kind");
	cr_assert_eq(packet_build_icmp_unreach(b, sizeof(b), &orig, &from4, -1), -EINVAL);
}

Test(packet_drop, names)
{
	size_t i, j;

	for (i = 0; i < PACKET_DROP_MAX; i++) {
		cr_assert_not_null(packet_drop_names[i], "drop reason %zu has no name", i);
		for (j = 0; j < i; j++)
			cr_assert_str_neq(packet_drop_names[i], packet_drop_names[j]);
	}
}

/* ---- virtio-net header (IFF_VNET_HDR) ---- */

/* @pkt behind a virtio-net header with @flags, @start, @offset; parsed as the tun gives it. */
static enum packet_drop parse_vnet(struct packet *p, const uint8_t *pkt, size_t len, uint8_t flags,
				   uint16_t start, uint16_t offset, uint8_t **copy)
{
	uint8_t *b = malloc(PACKET_VNET_HLEN + len);

	cr_assert_not_null(b);
	memset(b, 0, PACKET_VNET_HLEN);
	b[0] = flags;
	b[1] = 1; /* gso_type TCPV4: nothing to do for the receiver */
	b[6] = (uint8_t)start;
	b[7] = (uint8_t)(start >> 8);
	b[8] = (uint8_t)offset;
	b[9] = (uint8_t)(offset >> 8);
	memcpy(b + PACKET_VNET_HLEN, pkt, len);
	*copy = b;
	return packet_parse_vnet(p, b, PACKET_VNET_HLEN + len);
}

static void expect_vnet(const uint8_t *pkt, size_t len, uint8_t flags, uint16_t start,
			uint16_t offset, enum packet_drop want, const char *what)
{
	struct packet p;
	enum packet_drop got;
	uint8_t *copy;

	got = parse_vnet(&p, pkt, len, flags, start, offset, &copy);
	cr_assert_eq(got, want, "%s: got %s, want %s", what, packet_drop_names[got],
		     packet_drop_names[want]);
	if (got == PACKET_OK) {
		cr_assert_eq(p.l3, copy + PACKET_VNET_HLEN, "%s", what);
		cr_assert_eq(p.vnet_flags, flags, "%s", what);
		cr_assert_eq(p.vnet_csum_start, start, "%s", what);
		cr_assert_eq(p.vnet_csum_offset, offset, "%s", what);
	}
	free(copy);
}

Test(packet_vnet, partial_checksums_trusted_only_where_they_would_be_completed)
{
	enum { NEEDS = PACKET_VNET_F_NEEDS_CSUM, VALID = PACKET_VNET_F_DATA_VALID };
	uint8_t tcp[sizeof(cap_data4)], udp[sizeof(cap_udp4)], tcp6[sizeof(cap_syn6)];

	/* Intact packets pass with any header; the checksums are still good. */
	expect_vnet(cap_data4, sizeof(cap_data4), 0, 0, 0, PACKET_OK, "plain");
	expect_vnet(cap_data4, sizeof(cap_data4), NEEDS, 20, 16, PACKET_OK, "partial, intact");

	/* A TCP checksum left to the device: trusted at the TCP checksum field only. */
	memcpy(tcp, cap_data4, sizeof(tcp));
	tcp[36] ^= 0x5a;
	expect_vnet(tcp, sizeof(tcp), 0, 0, 0, PACKET_DROP_L4_CSUM, "no flags: verified");
	expect_vnet(tcp, sizeof(tcp), NEEDS, 20, 16, PACKET_OK, "NEEDS_CSUM at the field");
	expect_vnet(tcp, sizeof(tcp), VALID, 0, 0, PACKET_OK, "DATA_VALID");
	expect_vnet(tcp, sizeof(tcp), NEEDS, 0, 16, PACKET_DROP_L4_CSUM, "start at the IP header");
	expect_vnet(tcp, sizeof(tcp), NEEDS, 21, 16, PACKET_DROP_L4_CSUM, "start one off");
	expect_vnet(tcp, sizeof(tcp), NEEDS, 20, 6, PACKET_DROP_L4_CSUM, "UDP's offset");
	expect_vnet(tcp, sizeof(tcp), NEEDS | 0x80, 20 | 0x100, 16, PACKET_DROP_L4_CSUM,
		    "high byte of start");

	/* IPv6: the TCP header after the 40-byte fixed header. */
	memcpy(tcp6, cap_syn6, sizeof(tcp6));
	tcp6[40 + 16] ^= 0xff;
	expect_vnet(tcp6, sizeof(tcp6), 0, 0, 0, PACKET_DROP_L4_CSUM, "IPv6, verified");
	expect_vnet(tcp6, sizeof(tcp6), NEEDS, 40, 16, PACKET_OK, "IPv6, partial");
	expect_vnet(tcp6, sizeof(tcp6), NEEDS, 20, 16, PACKET_DROP_L4_CSUM, "IPv6, IPv4's start");

	/* UDP: offset 6. */
	memcpy(udp, cap_udp4, sizeof(udp));
	udp[26] ^= 0x11;
	expect_vnet(udp, sizeof(udp), 0, 0, 0, PACKET_DROP_L4_CSUM, "UDP, verified");
	expect_vnet(udp, sizeof(udp), NEEDS, 20, 6, PACKET_OK, "UDP, partial");
	expect_vnet(udp, sizeof(udp), NEEDS, 20, 16, PACKET_DROP_L4_CSUM, "UDP, TCP's offset");

	/* The IPv4 header checksum is always the sender's and always checked. */
	memcpy(tcp, cap_data4, sizeof(tcp));
	tcp[10] ^= 1;
	expect_vnet(tcp, sizeof(tcp), VALID, 0, 0, PACKET_DROP_IP_CSUM, "IP header, DATA_VALID");
	expect_vnet(tcp, sizeof(tcp), NEEDS, 20, 16, PACKET_DROP_IP_CSUM, "IP header, partial");
}

Test(packet_vnet, short_headers_and_packets)
{
	uint8_t b[PACKET_VNET_HLEN + sizeof(cap_ack4)];
	struct packet p;
	size_t len;

	memset(b, 0, PACKET_VNET_HLEN);
	memcpy(b + PACKET_VNET_HLEN, cap_ack4, sizeof(cap_ack4));
	for (len = 0; len < sizeof(b); len++) {
		uint8_t *copy = malloc(len ? len : 1);

		cr_assert_not_null(copy);
		memcpy(copy, b, len);
		cr_assert_neq(packet_parse_vnet(&p, copy, len), PACKET_OK, "length %zu", len);
		free(copy);
	}
	cr_assert_eq(packet_parse_vnet(&p, b, sizeof(b)), PACKET_OK);
	cr_assert_eq(packet_parse_vnet(&p, b, PACKET_VNET_HLEN - 1), PACKET_DROP_SHORT);
	cr_assert_eq(p.wscale, -1);
}

/*
 * A segment built with csum_partial differs from the complete one only in
 * its checksum field; completing it as the kernel would (summing from
 * csum_start over the rest, the field included) gives the complete one's.
 */
static void partial_round_trip(int family, const char *src, const char *dst, uint8_t flags,
			       size_t payload_len)
{
	static uint8_t full[65600], part[65600];
	struct packet_tcp_out t = tcp_out4();
	uint8_t hdr[PACKET_VNET_HLEN];
	size_t start = family == AF_INET ? 20 : 40, i;
	ssize_t n_full, n_part;
	uint16_t field;

	t.family = family;
	if (family == AF_INET) {
		addr4(&t.src, src);
		addr4(&t.dst, dst);
	} else {
		addr6(&t.src, src);
		addr6(&t.dst, dst);
	}
	t.flags = flags;
	if (flags & PACKET_TCP_SYN) {
		t.mss = 65000;
		t.wscale = 7;
	}
	for (i = 0; i < payload_len; i++)
		full[packet_tcp_header_len(&t) + i] = part[packet_tcp_header_len(&t) + i] =
			(uint8_t)(i * 7 + 3);
	n_full = packet_build_tcp(full, sizeof(full), &t, payload_len);
	t.csum_partial = true;
	n_part = packet_build_tcp(part, sizeof(part), &t, payload_len);
	cr_assert_gt(n_full, 0);
	cr_assert_eq(n_part, n_full);
	cr_assert_eq(memcmp(full, part, start + 16), 0);
	cr_assert_eq(memcmp(full + start + 18, part + start + 18, (size_t)n_full - start - 18), 0);
	field = packet_csum_fold(packet_csum_partial(part + start, (size_t)n_part - start, 0));
	cr_assert_eq(field, (uint16_t)(full[start + 16] << 8 | full[start + 17]),
		     "family %d, %zu bytes: completed %04x", family, payload_len, field);

	cr_assert_eq(packet_vnet_header(hdr, family, true), PACKET_VNET_HLEN);
	cr_assert_eq(hdr[0], PACKET_VNET_F_NEEDS_CSUM);
	cr_assert_eq(hdr[1], 0, "no GSO");
	cr_assert_eq(hdr[6] | hdr[7] << 8, start);
	cr_assert_eq(hdr[8] | hdr[9] << 8, 16);
	packet_vnet_header(hdr, family, false);
	for (i = 0; i < PACKET_VNET_HLEN; i++)
		cr_assert_eq(hdr[i], 0, "a complete packet: all zero");
}

Test(packet_vnet, partial_checksum_completes_to_the_full_one)
{
	static const size_t lens[] = {0, 1, 2, 31, 1460, 65000};
	size_t i;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		partial_round_trip(AF_INET, "198.18.0.2", "10.0.2.15", PACKET_TCP_ACK, lens[i]);
		partial_round_trip(AF_INET, "255.255.255.254", "10.0.2.15",
				   PACKET_TCP_SYN | PACKET_TCP_ACK, lens[i]);
		partial_round_trip(AF_INET6, "fd42::2", "fd00:2::15",
				   PACKET_TCP_ACK | PACKET_TCP_FIN, lens[i]);
		partial_round_trip(AF_INET6, "ffff:ffff::ffff", "fd00:2::15", PACKET_TCP_SYN,
				   lens[i]);
	}
}
