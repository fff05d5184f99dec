// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * packet.c - Bounds-checked IPv4/IPv6/TCP/UDP parsing, checksums and builders
 *
 * Theory of operation: everything the sandbox writes to the tun is untrusted,
 * so packet_parse() checks each length against the bytes actually read before
 * it reads a field, and describes the packet with pointers into the caller's
 * buffer (no copy). A packet either comes out whole and verified (IP header,
 * IPv4 header checksum, TCP or UDP header, options and checksum with the
 * pseudo-header) or is dropped with a reason the caller counts. The IP layer is
 * checked first and decides the bounds of everything after it: bytes beyond
 * the IPv4 total length or the IPv6 payload length are ignored. Fragments are
 * dropped, as the handler terminates TCP and has no use for reassembly: the
 * sandbox's stack sees the tun MTU and does not fragment TCP. IPv6 extension
 * headers (hop-by-hop, routing, destination options) are walked to reach the
 * upper-layer protocol; a routing header with segments left would make some
 * other node the destination, which the handler is not, so it is dropped.
 *
 * Checksums are one's complement sums (RFC 1071). packet_csum_partial() adds
 * the buffer as native 64-bit words, eight bytes at a time: such a sum does not
 * depend on byte order except for one final swap (RFC 1071 2(B)). Every sum the
 * functions here take and return is a plain number over big-endian 16-bit
 * words, so partial sums, the pseudo-header and the RFC 1071 examples combine
 * without byte order thinking. packet_csum_fold() returns the complement, the
 * value for the checksum field (host byte order); over data that includes a
 * correct checksum it is 0.
 *
 * The builders write packets for the tun into a caller buffer. The TCP builder
 * expects the payload to be in place already, right after the headers, so
 * socket data can be read straight into the output buffer. The ICMP builder
 * answers a sandbox packet with a destination unreachable error quoting it, as
 * a router would (RFC 1812, RFC 4443), and refuses to answer ICMP errors and
 * packets whose source or destination is not one host.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "pmsocks-ns/packet.h"
#include "pmsocks-ns/util.h"

#define IPV4_HLEN 20
#define IPV6_HLEN 40
#define TCP_HLEN  20
#define UDP_HLEN  8
#define ICMP_HLEN 8

#define IPV4_DF	     0x4000
#define IPV4_MF	     0x2000
#define IPV4_OFFMASK 0x1fff
#define IP_MAX_LEN   65535 /* IPv4 total length, IPv6 payload length */

#define PACKET_TTL 64

#define ICMP4_MAX_LEN	 576 /* RFC 1812 4.3.2.3 */
#define ICMP4_UNREACH	 3
#define ICMP6_UNREACH	 1
#define ICMP6_PARAM_PROB 4
#define ICMP6_REDIRECT	 137

enum tcp_option {
	TCP_OPT_EOL = 0,
	TCP_OPT_NOP = 1,
	TCP_OPT_MSS = 2,
	TCP_OPT_WSCALE = 3,
	TCP_OPT_SACK_PERM = 4,
	TCP_OPT_TIMESTAMP = 8,
};

#define TCP_OPT_MSS_LEN	      4
#define TCP_OPT_WSCALE_LEN    3
#define TCP_OPT_SACK_PERM_LEN 2
#define TCP_OPT_TIMESTAMP_LEN 10
#define TCP_WSCALE_MAX	      14 /* RFC 7323 2.3 */

const char *const packet_drop_names[PACKET_DROP_MAX] = {
	[PACKET_OK] = "ok",
	[PACKET_DROP_SHORT] = "short",
	[PACKET_DROP_VERSION] = "ip-version",
	[PACKET_DROP_IP_HEADER] = "ip-header",
	[PACKET_DROP_IP_CSUM] = "ip-checksum",
	[PACKET_DROP_L4_HEADER] = "l4-header",
	[PACKET_DROP_L4_CSUM] = "l4-checksum",
	[PACKET_DROP_FRAGMENT] = "fragment",
};

static inline uint16_t packet_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t packet_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void packet_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void packet_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* One's complement addition of 64-bit words: the carry out wraps around. */
static inline uint64_t packet_csum_add64(uint64_t sum, uint64_t v)
{
	sum += v;
	return sum + (sum < v);
}

static inline uint64_t packet_load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/**
 * packet_csum_partial() - Add a buffer to a one's complement sum
 * @buf: data, any alignment
 * @len: length in bytes; an odd length is padded with a zero byte
 * @sum: sum so far (0, a previous result or packet_pseudo_sum())
 *
 * Chain calls only over pieces of even length, except the last one.
 *
 * Return: the new sum, over big-endian 16-bit words, not yet folded
 */
uint32_t packet_csum_partial(const void *buf, size_t len, uint32_t sum)
{
	const uint8_t *p = buf;
	uint64_t acc0 = 0, acc1 = 0, r;
	uint8_t tail[8] = {0};
	uint32_t s;

	/* Two independent chains so the additions of one iteration can overlap. */
	while (len >= 16) {
		acc0 = packet_csum_add64(acc0, packet_load64(p));
		acc1 = packet_csum_add64(acc1, packet_load64(p + 8));
		p += 16;
		len -= 16;
	}
	if (len >= 8) {
		acc0 = packet_csum_add64(acc0, packet_load64(p));
		p += 8;
		len -= 8;
	}
	if (len) {
		/* Starts at an even offset: zero padding at the end is RFC 1071's. */
		memcpy(tail, p, len);
		acc1 = packet_csum_add64(acc1, packet_load64(tail));
	}
	acc0 = packet_csum_add64(acc0, acc1);

	/* 2^16, 2^32 and 2^64 are all 1 modulo 0xffff: fold 64 -> 32 -> 16 bits. */
	r = (acc0 & 0xffffffff) + (acc0 >> 32);
	r = (r & 0xffffffff) + (r >> 32);
	s = (uint32_t)((r & 0xffff) + (r >> 16));
	s = (s & 0xffff) + (s >> 16);

	/* Native words: on a little-endian host the two bytes of the sum are swapped. */
	r = (uint64_t)sum + ntohs((uint16_t)s);
	return (uint32_t)((r & 0xffffffff) + (r >> 32));
}

/**
 * packet_csum_fold() - Fold a sum to 16 bits and complement it
 * @sum: one's complement sum from packet_csum_partial() or packet_pseudo_sum()
 *
 * Return: the checksum field value (host byte order), or when verifying data
 * that includes its checksum field, 0 if the checksum is correct
 */
uint16_t packet_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/**
 * packet_pseudo_sum() - Sum of the TCP/UDP/ICMPv6 pseudo-header
 * @family: AF_INET or AF_INET6
 * @src:    source address
 * @dst:    destination address
 * @proto:  upper-layer protocol
 * @l4_len: length of the upper-layer header and payload
 *
 * Return: sum to start packet_csum_partial() over the upper-layer packet with
 */
uint32_t packet_pseudo_sum(int family, const union packet_addr *src, const union packet_addr *dst,
			   uint8_t proto, uint32_t l4_len)
{
	const uint8_t *s, *d;
	uint32_t sum = proto + (l4_len >> 16) + (l4_len & 0xffff);
	size_t i, n;

	ASSERT(family == AF_INET || family == AF_INET6);
	if (family == AF_INET) {
		s = (const uint8_t *)&src->v4;
		d = (const uint8_t *)&dst->v4;
		n = sizeof(src->v4);
	} else {
		s = src->v6.s6_addr;
		d = dst->v6.s6_addr;
		n = sizeof(src->v6);
	}
	for (i = 0; i < n; i += 2)
		sum += packet_get16(s + i) + packet_get16(d + i);
	return sum;
}

/* Checksum over the pseudo-header and @len bytes at p->l4: 0 if correct. */
static uint16_t packet_l4_csum(const struct packet *p, size_t len)
{
	uint32_t sum = packet_pseudo_sum(p->family, &p->src, &p->dst, p->proto, (uint32_t)len);

	return packet_csum_fold(packet_csum_partial(p->l4, len, sum));
}

/*
 * Whether the sandbox's kernel vouches for the L4 checksum of @p, whose
 * checksum field is at @field in its transport header. It leaves the
 * checksum of what it sends to the device (CHECKSUM_PARTIAL, NEEDS_CSUM) and
 * marks what it has verified (DATA_VALID). A partial checksum is trusted only
 * where it would be completed: at exactly this header's checksum field.
 */
static bool packet_l4_csum_trusted(const struct packet *p, size_t field)
{
	if (p->vnet_flags & PACKET_VNET_F_DATA_VALID)
		return true;
	return (p->vnet_flags & PACKET_VNET_F_NEEDS_CSUM) &&
	       p->vnet_csum_start == (size_t)(p->l4 - p->l3) && p->vnet_csum_offset == field;
}

static enum packet_drop packet_parse_ipv4(struct packet *p, const uint8_t *buf, size_t len)
{
	size_t ihl, total;

	if (len < IPV4_HLEN)
		return PACKET_DROP_SHORT;
	ihl = (size_t)(buf[0] & 0x0f) * 4;
	total = packet_get16(buf + 2);
	if (ihl < IPV4_HLEN || total < ihl)
		return PACKET_DROP_IP_HEADER;
	if (total > len)
		return PACKET_DROP_SHORT;
	if (packet_csum_fold(packet_csum_partial(buf, ihl, 0)))
		return PACKET_DROP_IP_CSUM;
	if (packet_get16(buf + 6) & (IPV4_MF | IPV4_OFFMASK))
		return PACKET_DROP_FRAGMENT;

	p->family = AF_INET;
	p->ttl = buf[8];
	p->proto = buf[9];
	memcpy(&p->src.v4, buf + 12, sizeof(p->src.v4));
	memcpy(&p->dst.v4, buf + 16, sizeof(p->dst.v4));
	p->l3_len = total;
	p->l4 = buf + ihl;
	p->l4_len = total - ihl;
	return PACKET_OK;
}

/*
 * Walk the IPv6 extension headers of @l3 (at least IPV6_HLEN bytes): the
 * upper-layer protocol, its offset, and the offset of the Next Header field
 * that names it (for ICMPv6 Parameter Problem pointers).
 */
static enum packet_drop packet_ipv6_walk(const uint8_t *l3, size_t l3_len, uint8_t *proto,
					 size_t *l4_off, size_t *nh_off)
{
	size_t off = IPV6_HLEN, nh = 6, hlen;
	uint8_t next = l3[6];

	for (;;) {
		switch (next) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			/* RFC 8200 4.1: hop-by-hop options only right after the IPv6 header. */
			if (next == IPPROTO_HOPOPTS && off != IPV6_HLEN)
				return PACKET_DROP_IP_HEADER;
			if (l3_len - off < 8)
				return PACKET_DROP_IP_HEADER;
			hlen = ((size_t)l3[off + 1] + 1) * 8;
			if (hlen > l3_len - off)
				return PACKET_DROP_IP_HEADER;
			/* Segments left: some other node is the destination. */
			if (next == IPPROTO_ROUTING && l3[off + 3])
				return PACKET_DROP_IP_HEADER;
			nh = off;
			next = l3[off];
			off += hlen;
			break;
		case IPPROTO_FRAGMENT:
			return PACKET_DROP_FRAGMENT;
		default:
			*proto = next;
			*l4_off = off;
			*nh_off = nh;
			return PACKET_OK;
		}
	}
}

static enum packet_drop packet_parse_ipv6(struct packet *p, const uint8_t *buf, size_t len)
{
	enum packet_drop drop;
	size_t total, l4_off, nh_off;

	if (len < IPV6_HLEN)
		return PACKET_DROP_SHORT;
	total = IPV6_HLEN + (size_t)packet_get16(buf + 4);
	if (total > len)
		return PACKET_DROP_SHORT;
	drop = packet_ipv6_walk(buf, total, &p->proto, &l4_off, &nh_off);
	if (drop != PACKET_OK)
		return drop;

	p->family = AF_INET6;
	p->ttl = buf[7];
	memcpy(&p->src.v6, buf + 8, sizeof(p->src.v6));
	memcpy(&p->dst.v6, buf + 24, sizeof(p->dst.v6));
	p->l3_len = total;
	p->l4 = buf + l4_off;
	p->l4_len = total - l4_off;
	return PACKET_OK;
}

static enum packet_drop packet_parse_tcp_options(struct packet *p, const uint8_t *opt, size_t len)
{
	bool syn = p->flags & PACKET_TCP_SYN;
	size_t i = 0, olen;

	while (i < len) {
		if (opt[i] == TCP_OPT_EOL)
			break;
		if (opt[i] == TCP_OPT_NOP) {
			i++;
			continue;
		}
		if (len - i < 2)
			return PACKET_DROP_L4_HEADER;
		olen = opt[i + 1];
		if (olen < 2 || olen > len - i)
			return PACKET_DROP_L4_HEADER;
		/* Known options of the wrong length are ignored, as Linux does. */
		switch (opt[i]) {
		case TCP_OPT_MSS:
			if (olen == TCP_OPT_MSS_LEN && syn)
				p->mss = packet_get16(opt + i + 2);
			break;
		case TCP_OPT_WSCALE:
			if (olen == TCP_OPT_WSCALE_LEN && syn)
				p->wscale = (int8_t)(opt[i + 2] > TCP_WSCALE_MAX ? TCP_WSCALE_MAX
										 : opt[i + 2]);
			break;
		case TCP_OPT_SACK_PERM:
			if (olen == TCP_OPT_SACK_PERM_LEN && syn)
				p->sack_permitted = true;
			break;
		case TCP_OPT_TIMESTAMP:
			if (olen == TCP_OPT_TIMESTAMP_LEN) {
				p->has_timestamps = true;
				p->ts_val = packet_get32(opt + i + 2);
				p->ts_ecr = packet_get32(opt + i + 6);
			}
			break;
		default:
			break;
		}
		i += olen;
	}
	return PACKET_OK;
}

static enum packet_drop packet_parse_tcp(struct packet *p)
{
	const uint8_t *th = p->l4;
	size_t doff;

	if (p->l4_len < TCP_HLEN)
		return PACKET_DROP_L4_HEADER;
	doff = (size_t)(th[12] >> 4) * 4;
	if (doff < TCP_HLEN || doff > p->l4_len)
		return PACKET_DROP_L4_HEADER;
	if (!packet_l4_csum_trusted(p, 16) && packet_l4_csum(p, p->l4_len))
		return PACKET_DROP_L4_CSUM;

	p->sport = packet_get16(th);
	p->dport = packet_get16(th + 2);
	p->seq = packet_get32(th + 4);
	p->ack = packet_get32(th + 8);
	p->flags = th[13];
	p->window = packet_get16(th + 14);
	p->payload = th + doff;
	p->payload_len = p->l4_len - doff;
	return packet_parse_tcp_options(p, th + TCP_HLEN, doff - TCP_HLEN);
}

static enum packet_drop packet_parse_udp(struct packet *p)
{
	const uint8_t *uh = p->l4;
	size_t ulen;

	if (p->l4_len < UDP_HLEN)
		return PACKET_DROP_L4_HEADER;
	/* Bytes beyond the UDP length are not the datagram's (RFC 768; Linux trims them). */
	ulen = packet_get16(uh + 4);
	if (ulen < UDP_HLEN || ulen > p->l4_len)
		return PACKET_DROP_L4_HEADER;
	if (packet_l4_csum_trusted(p, 6))
		; /* the sandbox's kernel computes it, or has checked it */
	else if (!packet_get16(uh + 6) && p->family == AF_INET6)
		return PACKET_DROP_L4_CSUM; /* none: allowed over IPv4 only (RFC 768, 8200 8.1) */
	else if (packet_get16(uh + 6) && packet_l4_csum(p, ulen))
		return PACKET_DROP_L4_CSUM;

	p->sport = packet_get16(uh);
	p->dport = packet_get16(uh + 2);
	p->payload = uh + UDP_HLEN;
	p->payload_len = ulen - UDP_HLEN;
	return PACKET_OK;
}

static enum packet_drop packet_parse_ip(struct packet *p, const uint8_t *buf, size_t len);

/**
 * packet_parse() - Verify and describe an IP packet read from the tun
 * @p:   filled with the packet's description, pointing into @buf
 * @buf: the packet
 * @len: bytes read; bytes beyond the IP length are ignored
 *
 * Never reads outside @buf[0..@len). TCP and UDP are checked down to their
 * checksums; ICMP, ICMPv6 and other protocols only at the IP level.
 *
 * Return: PACKET_OK, or why the packet must be dropped (then @p is not usable)
 */
enum packet_drop packet_parse(struct packet *p, const uint8_t *buf, size_t len)
{
	memset(p, 0, sizeof(*p));
	return packet_parse_ip(p, buf, len);
}

/**
 * packet_parse_vnet() - packet_parse() for a packet behind a virtio-net header
 * @p:   as for packet_parse(); vnet_* hold the header's checksum fields
 * @buf: PACKET_VNET_HLEN bytes of header, then the IP packet
 * @len: bytes read
 *
 * Like packet_parse(), except that TCP and UDP checksums the header says the
 * sandbox's kernel left to the device or already verified are not checked.
 * GSO packets (gso_type set) need nothing special: a TCP segment of up to
 * 64 KiB is handled as it is.
 *
 * Return: as packet_parse()
 */
enum packet_drop packet_parse_vnet(struct packet *p, const uint8_t *buf, size_t len)
{
	memset(p, 0, sizeof(*p));
	if (len < PACKET_VNET_HLEN) {
		p->wscale = -1;
		return PACKET_DROP_SHORT;
	}
	p->vnet_flags = buf[0];
	p->vnet_csum_start = (uint16_t)(buf[6] | buf[7] << 8);
	p->vnet_csum_offset = (uint16_t)(buf[8] | buf[9] << 8);
	return packet_parse_ip(p, buf + PACKET_VNET_HLEN, len - PACKET_VNET_HLEN);
}

/**
 * packet_vnet_header() - The virtio-net header for a packet we write
 * @hdr:          PACKET_VNET_HLEN bytes
 * @family:       AF_INET or AF_INET6 (where the TCP header starts)
 * @csum_partial: the TCP checksum holds only the pseudo-header sum
 *                (packet_tcp_out.csum_partial); else the packet is complete
 *
 * Return: PACKET_VNET_HLEN
 */
size_t packet_vnet_header(uint8_t *hdr, int family, bool csum_partial)
{
	uint16_t start = family == AF_INET ? IPV4_HLEN : IPV6_HLEN;

	memset(hdr, 0, PACKET_VNET_HLEN);
	if (csum_partial) {
		hdr[0] = PACKET_VNET_F_NEEDS_CSUM;
		hdr[6] = (uint8_t)start;
		hdr[7] = (uint8_t)(start >> 8);
		hdr[8] = 16; /* the TCP checksum field */
	}
	return PACKET_VNET_HLEN;
}

/* packet_parse() and packet_parse_vnet() from the IP header on; @p zeroed but for vnet_*. */
static enum packet_drop packet_parse_ip(struct packet *p, const uint8_t *buf, size_t len)
{
	enum packet_drop drop;

	p->wscale = -1;
	p->l3 = buf;
	if (len < 1)
		return PACKET_DROP_SHORT;
	switch (buf[0] >> 4) {
	case 4:
		drop = packet_parse_ipv4(p, buf, len);
		break;
	case 6:
		drop = packet_parse_ipv6(p, buf, len);
		break;
	default:
		return PACKET_DROP_VERSION;
	}
	if (drop != PACKET_OK)
		return drop;

	switch (p->proto) {
	case IPPROTO_TCP:
		return packet_parse_tcp(p);
	case IPPROTO_UDP:
		return packet_parse_udp(p);
	default:
		return PACKET_OK;
	}
}

/* IPv4 header without options, DF set, ID 0 (RFC 6864: atomic datagrams). */
static void packet_write_ipv4(uint8_t *h, const union packet_addr *src,
			      const union packet_addr *dst, uint8_t proto, size_t total)
{
	h[0] = 0x45;
	h[1] = 0;
	packet_put16(h + 2, (uint16_t)total);
	packet_put16(h + 4, 0);
	packet_put16(h + 6, IPV4_DF);
	h[8] = PACKET_TTL;
	h[9] = proto;
	packet_put16(h + 10, 0);
	memcpy(h + 12, &src->v4, sizeof(src->v4));
	memcpy(h + 16, &dst->v4, sizeof(dst->v4));
	packet_put16(h + 10, packet_csum_fold(packet_csum_partial(h, IPV4_HLEN, 0)));
}

/* IPv6 header: traffic class and flow label 0, no extension headers. */
static void packet_write_ipv6(uint8_t *h, const union packet_addr *src,
			      const union packet_addr *dst, uint8_t proto, size_t payload_len)
{
	packet_put32(h, 6U << 28);
	packet_put16(h + 4, (uint16_t)payload_len);
	h[6] = proto;
	h[7] = PACKET_TTL;
	memcpy(h + 8, &src->v6, sizeof(src->v6));
	memcpy(h + 24, &dst->v6, sizeof(dst->v6));
}

static size_t packet_tcp_options_len(const struct packet_tcp_out *t)
{
	size_t len = 0;

	if (!(t->flags & PACKET_TCP_SYN))
		return 0;
	if (t->mss)
		len += TCP_OPT_MSS_LEN;
	if (t->wscale >= 0)
		len += TCP_OPT_WSCALE_LEN + 1; /* with a NOP in front, for alignment */
	return len;
}

/**
 * packet_tcp_header_len() - Length of the IP and TCP headers of a segment
 * @t: segment description
 *
 * Return: IP + TCP header length with the options, where the payload starts
 * in the buffer given to packet_build_tcp(); 0 if @t->family is not
 * AF_INET or AF_INET6
 */
size_t packet_tcp_header_len(const struct packet_tcp_out *t)
{
	switch (t->family) {
	case AF_INET:
		return IPV4_HLEN + TCP_HLEN + packet_tcp_options_len(t);
	case AF_INET6:
		return IPV6_HLEN + TCP_HLEN + packet_tcp_options_len(t);
	default:
		return 0;
	}
}

/**
 * packet_build_tcp() - Write the headers of a TCP segment around its payload
 * @buf:         output; the payload is already at @buf + packet_tcp_header_len()
 * @cap:         size of @buf
 * @t:           segment description
 * @payload_len: bytes of payload in place after the headers
 *
 * Fills in the IPv4 header checksum and the TCP checksum over header and payload
 * (only its pseudo-header part if @t->csum_partial: see packet_vnet_header()).
 *
 * Return: length of the packet, -EAFNOSUPPORT for an unknown family, -EINVAL
 * for a window scale above 14, -EMSGSIZE if it exceeds the IP length limit,
 * -ENOBUFS if it does not fit in @cap
 */
ssize_t packet_build_tcp(uint8_t *buf, size_t cap, const struct packet_tcp_out *t,
			 size_t payload_len)
{
	size_t hlen = packet_tcp_header_len(t), ip_hlen, l4_len;
	uint8_t *th, *opt;
	uint32_t sum;

	if (!hlen)
		return -EAFNOSUPPORT;
	if (t->wscale > TCP_WSCALE_MAX)
		return -EINVAL;
	ip_hlen = t->family == AF_INET ? IPV4_HLEN : IPV6_HLEN;
	if (payload_len > IP_MAX_LEN)
		return -EMSGSIZE;
	l4_len = hlen - ip_hlen + payload_len;
	if ((t->family == AF_INET ? hlen + payload_len : l4_len) > IP_MAX_LEN)
		return -EMSGSIZE;
	if (cap < hlen + payload_len)
		return -ENOBUFS;

	if (t->family == AF_INET)
		packet_write_ipv4(buf, &t->src, &t->dst, IPPROTO_TCP, hlen + payload_len);
	else
		packet_write_ipv6(buf, &t->src, &t->dst, IPPROTO_TCP, l4_len);

	th = buf + ip_hlen;
	packet_put16(th, t->sport);
	packet_put16(th + 2, t->dport);
	packet_put32(th + 4, t->seq);
	packet_put32(th + 8, t->ack);
	th[12] = (uint8_t)(((hlen - ip_hlen) / 4) << 4);
	th[13] = t->flags;
	packet_put16(th + 14, t->window);
	packet_put16(th + 16, 0);
	packet_put16(th + 18, 0);

	opt = th + TCP_HLEN;
	if ((t->flags & PACKET_TCP_SYN) && t->mss) {
		opt[0] = TCP_OPT_MSS;
		opt[1] = TCP_OPT_MSS_LEN;
		packet_put16(opt + 2, t->mss);
		opt += TCP_OPT_MSS_LEN;
	}
	if ((t->flags & PACKET_TCP_SYN) && t->wscale >= 0) {
		opt[0] = TCP_OPT_NOP;
		opt[1] = TCP_OPT_WSCALE;
		opt[2] = TCP_OPT_WSCALE_LEN;
		opt[3] = (uint8_t)t->wscale;
		opt += TCP_OPT_WSCALE_LEN + 1;
	}
	ASSERT(opt == buf + hlen);

	sum = packet_pseudo_sum(t->family, &t->src, &t->dst, IPPROTO_TCP, (uint32_t)l4_len);
	if (t->csum_partial)
		/* What CHECKSUM_PARTIAL means: the folded pseudo-header sum, not complemented */
		packet_put16(th + 16, (uint16_t)~packet_csum_fold(sum));
	else
		packet_put16(th + 16, packet_csum_fold(packet_csum_partial(th, l4_len, sum)));
	return (ssize_t)(hlen + payload_len);
}

/* RFC 1812 4.3.2.7, RFC 4443 2.4 (e): which packets never get an ICMP error. */
static bool packet_icmp_may_answer(const struct packet *orig)
{
	const uint8_t *src, *dst;

	if (!orig->l3 || !orig->l4)
		return false;
	if (orig->family == AF_INET) {
		if (orig->l3_len < IPV4_HLEN)
			return false;
		src = (const uint8_t *)&orig->src.v4;
		dst = (const uint8_t *)&orig->dst.v4;
		/* Not one host: "this network", multicast, reserved, broadcast. */
		if (src[0] == 0 || src[0] >= 224 || dst[0] >= 224)
			return false;
		if (orig->proto != IPPROTO_ICMP)
			return true;
		/* Only queries get answers; Linux treats unknown types as errors too. */
		if (orig->l4_len < 1)
			return false;
		switch (orig->l4[0]) {
		case 0:	 /* echo reply */
		case 8:	 /* echo request */
		case 13: /* timestamp */
		case 14: /* timestamp reply */
		case 15: /* information request */
		case 16: /* information reply */
		case 17: /* address mask request */
		case 18: /* address mask reply */
			return true;
		default:
			return false;
		}
	}
	if (orig->family != AF_INET6 || orig->l3_len < IPV6_HLEN)
		return false;
	if (IN6_IS_ADDR_UNSPECIFIED(&orig->src.v6) || IN6_IS_ADDR_MULTICAST(&orig->src.v6) ||
	    IN6_IS_ADDR_MULTICAST(&orig->dst.v6))
		return false;
	if (orig->proto != IPPROTO_ICMPV6)
		return true;
	/* Error messages have types below 128; redirects are excluded too. */
	return orig->l4_len >= 1 && orig->l4[0] >= 128 && orig->l4[0] != ICMP6_REDIRECT;
}

static ssize_t packet_build_icmp4(uint8_t *buf, size_t cap, const struct packet *orig,
				  const union packet_addr *from, enum packet_unreach kind)
{
	static const uint8_t code[PACKET_UNREACH_MAX] = {
		[PACKET_UNREACH_NET] = 0,   [PACKET_UNREACH_HOST] = 1,	 [PACKET_UNREACH_PORT] = 3,
		[PACKET_UNREACH_PROTO] = 2, [PACKET_UNREACH_ADMIN] = 13,
	};
	const size_t hlen = IPV4_HLEN + ICMP_HLEN;
	size_t quote = orig->l3_len;
	uint8_t *icmp = buf + IPV4_HLEN;

	if (quote > ICMP4_MAX_LEN - hlen)
		quote = ICMP4_MAX_LEN - hlen;
	if (cap < hlen + quote)
		return -ENOBUFS;
	/* First, so the original may sit in @buf itself. */
	memmove(buf + hlen, orig->l3, quote);
	packet_write_ipv4(buf, from, &orig->src, IPPROTO_ICMP, hlen + quote);
	icmp[0] = ICMP4_UNREACH;
	icmp[1] = code[kind];
	packet_put16(icmp + 2, 0);
	packet_put32(icmp + 4, 0);
	packet_put16(icmp + 2, packet_csum_fold(packet_csum_partial(icmp, ICMP_HLEN + quote, 0)));
	return (ssize_t)(hlen + quote);
}

static ssize_t packet_build_icmp6(uint8_t *buf, size_t cap, const struct packet *orig,
				  const union packet_addr *from, enum packet_unreach kind)
{
	static const uint8_t code[PACKET_UNREACH_MAX] = {
		[PACKET_UNREACH_NET] = 0,   [PACKET_UNREACH_HOST] = 3,	[PACKET_UNREACH_PORT] = 4,
		[PACKET_UNREACH_PROTO] = 1, [PACKET_UNREACH_ADMIN] = 1,
	};
	const size_t hlen = IPV6_HLEN + ICMP_HLEN;
	size_t quote = orig->l3_len, l4_off, nh_off;
	uint8_t *icmp = buf + IPV6_HLEN;
	uint32_t pointer = 0, sum;
	uint8_t proto;

	if (kind == PACKET_UNREACH_PROTO) {
		/* Parameter Problem, code 1: point at the Next Header that named it. */
		if (packet_ipv6_walk(orig->l3, orig->l3_len, &proto, &l4_off, &nh_off) != PACKET_OK)
			return -EINVAL;
		pointer = (uint32_t)nh_off;
	}
	if (quote > PACKET_ICMP_MAX - hlen)
		quote = PACKET_ICMP_MAX - hlen;
	if (cap < hlen + quote)
		return -ENOBUFS;
	memmove(buf + hlen, orig->l3, quote);
	packet_write_ipv6(buf, from, &orig->src, IPPROTO_ICMPV6, ICMP_HLEN + quote);
	icmp[0] = kind == PACKET_UNREACH_PROTO ? ICMP6_PARAM_PROB : ICMP6_UNREACH;
	icmp[1] = code[kind];
	packet_put16(icmp + 2, 0);
	packet_put32(icmp + 4, pointer);
	sum = packet_pseudo_sum(AF_INET6, from, &orig->src, IPPROTO_ICMPV6,
				(uint32_t)(ICMP_HLEN + quote));
	packet_put16(icmp + 2, packet_csum_fold(packet_csum_partial(icmp, ICMP_HLEN + quote, sum)));
	return (ssize_t)(hlen + quote);
}

/**
 * packet_build_icmp_unreach() - Answer a packet with an ICMP destination unreachable
 * @buf:       output (may hold @orig itself)
 * @cap:       size of @buf; PACKET_ICMP_MAX always suffices
 * @orig:      the packet refused, as parsed by packet_parse()
 * @from:      source of the error (same family as @orig)
 * @code_kind: enum packet_unreach
 *
 * The error goes to @orig's source and quotes as much of @orig as fits in 576
 * bytes (ICMP) or 1280 bytes (ICMPv6). PACKET_UNREACH_PROTO over IPv6 is a
 * Parameter Problem pointing at the Next Header field naming the protocol.
 *
 * Return: length of the packet, -EINVAL if @orig must not be answered (an ICMP
 * error, a source or destination that is not one host) or @code_kind is
 * unknown, -ENOBUFS if it does not fit in @cap
 */
ssize_t packet_build_icmp_unreach(uint8_t *buf, size_t cap, const struct packet *orig,
				  const union packet_addr *from, int code_kind)
{
	if (code_kind < 0 || code_kind >= PACKET_UNREACH_MAX)
		return -EINVAL;
	if (!packet_icmp_may_answer(orig))
		return -EINVAL;
	if (orig->family == AF_INET)
		return packet_build_icmp4(buf, cap, orig, from, (enum packet_unreach)code_kind);
	return packet_build_icmp6(buf, cap, orig, from, (enum packet_unreach)code_kind);
}
