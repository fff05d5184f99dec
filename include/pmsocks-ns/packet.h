/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PMSOCKS_NS_PACKET_H
#define PMSOCKS_NS_PACKET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* TCP flags, as in the 14th byte of the TCP header. */
#define PACKET_TCP_FIN 0x01
#define PACKET_TCP_SYN 0x02
#define PACKET_TCP_RST 0x04
#define PACKET_TCP_PSH 0x08
#define PACKET_TCP_ACK 0x10
#define PACKET_TCP_URG 0x20
#define PACKET_TCP_ECE 0x40
#define PACKET_TCP_CWR 0x80

/* Largest IP + TCP header packet_build_tcp() writes (IPv6, MSS and window scale). */
#define PACKET_TCP_HEADER_MAX (40 + 20 + 8)

/* Largest ICMP error packet_build_icmp_unreach() writes (the IPv6 minimum MTU). */
#define PACKET_ICMP_MAX 1280

/* An address of either family; IPv4 stored in .v4, IPv6 in .v6. */
union packet_addr {
	struct in_addr v4;
	struct in6_addr v6;
};

/*
 * Why a packet was dropped; counted by the caller. PACKET_DROP_SHORT means the
 * buffer holds less than the IP header or less than the IP length fields say
 * (a truncated read); lengths that disagree inside the IP packet are header
 * errors of the layer they belong to.
 */
enum packet_drop {
	PACKET_OK = 0,
	PACKET_DROP_SHORT,     /* shorter than its headers say */
	PACKET_DROP_VERSION,   /* not IPv4 or IPv6 */
	PACKET_DROP_IP_HEADER, /* bad IHL, total length, fragment, ext header chain */
	PACKET_DROP_IP_CSUM,
	PACKET_DROP_L4_HEADER, /* bad TCP data offset / options, UDP length */
	PACKET_DROP_L4_CSUM,
	PACKET_DROP_FRAGMENT, /* fragments are not reassembled: counted and dropped */
	PACKET_DROP_MAX,
};
extern const char *const packet_drop_names[PACKET_DROP_MAX];

/* A packet from the tun, parsed in place: the pointers point into the caller's buffer. */
struct packet {
	uint8_t family; /* AF_INET or AF_INET6 */
	/* IPPROTO_TCP, _UDP, _ICMP, _ICMPV6 or other, after IPv6 extension headers */
	uint8_t proto;
	uint8_t ttl; /* TTL / hop limit */
	union packet_addr src, dst;
	const uint8_t *l3; /* the whole IP packet, trimmed to its total/payload length */
	size_t l3_len;
	const uint8_t *l4; /* transport header + payload */
	size_t l4_len;
	/* TCP only (proto == IPPROTO_TCP): */
	uint16_t sport, dport;	/* host byte order (also filled for UDP) */
	uint32_t seq, ack;	/* host byte order */
	uint8_t flags;		/* PACKET_TCP_FIN etc. */
	uint16_t window;	/* raw, unscaled */
	const uint8_t *payload; /* TCP or UDP payload */
	size_t payload_len;
	/* TCP options; MSS, window scale and SACK-permitted are read on SYN segments only */
	uint16_t mss;  /* 0 if absent */
	int8_t wscale; /* -1 if absent; values > 14 clamped to 14 as RFC 7323 says */
	bool sack_permitted;
	bool has_timestamps;
	uint32_t ts_val, ts_ecr;
	/* From the virtio-net header (packet_parse_vnet()); all 0 from packet_parse() */
	uint8_t vnet_flags; /* PACKET_VNET_F_* */
	uint16_t vnet_csum_start, vnet_csum_offset;
};

/*
 * The virtio-net header a tun device with IFF_VNET_HDR puts in front of each
 * packet (struct virtio_net_hdr, little-endian here: TUNSETVNETLE is never
 * used, and this code is built for little-endian hosts only).
 */
#define PACKET_VNET_HLEN	 10
#define PACKET_VNET_F_NEEDS_CSUM 0x01 /* L4 checksum not computed: csum_start, csum_offset */
#define PACKET_VNET_F_DATA_VALID 0x02 /* checksums already verified */

enum packet_drop packet_parse(struct packet *p, const uint8_t *buf, size_t len);
enum packet_drop packet_parse_vnet(struct packet *p, const uint8_t *buf, size_t len);
size_t packet_vnet_header(uint8_t *hdr, int family, bool csum_partial);

uint32_t packet_csum_partial(const void *buf, size_t len, uint32_t sum);
uint16_t packet_csum_fold(uint32_t sum);
uint32_t packet_pseudo_sum(int family, const union packet_addr *src, const union packet_addr *dst,
			   uint8_t proto, uint32_t l4_len);

/* A TCP segment to write to the tun. */
struct packet_tcp_out {
	int family; /* AF_INET or AF_INET6 */
	union packet_addr src, dst;
	uint16_t sport, dport; /* host byte order */
	uint32_t seq, ack;     /* host byte order */
	uint8_t flags;	       /* PACKET_TCP_FIN etc. */
	uint16_t window;       /* raw, already scaled down */
	uint16_t mss;	       /* emit MSS option if non-zero (SYN only) */
	int8_t wscale;	       /* emit window-scale option if >= 0 (SYN only), at most 14 */
	bool csum_partial;     /* leave the TCP checksum to the receiver (vnet header) */
};

size_t packet_tcp_header_len(const struct packet_tcp_out *t);
ssize_t packet_build_tcp(uint8_t *buf, size_t cap, const struct packet_tcp_out *t,
			 size_t payload_len);

/* What packet_build_icmp_unreach() reports. */
enum packet_unreach {
	PACKET_UNREACH_NET,   /* ICMP 3/0, ICMPv6 1/0: no route */
	PACKET_UNREACH_HOST,  /* ICMP 3/1, ICMPv6 1/3: address unreachable */
	PACKET_UNREACH_PORT,  /* ICMP 3/3, ICMPv6 1/4 */
	PACKET_UNREACH_PROTO, /* ICMP 3/2, ICMPv6 4/1: unrecognised Next Header */
	PACKET_UNREACH_ADMIN, /* ICMP 3/13, ICMPv6 1/1: administratively prohibited */
	PACKET_UNREACH_MAX,
};

ssize_t packet_build_icmp_unreach(uint8_t *buf, size_t cap, const struct packet *orig,
				  const union packet_addr *from, int code_kind);

#endif
