/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared bits of the TCP test helpers (blast, echosrv, echoload, connprobe,
 * rr, crate, idleconns, closeprobe): numeric address and size parsing, errno
 * names, a monotonic clock, RLIMIT_NOFILE, and the verification pattern.
 *
 * Addresses are numeric only (inet_pton): the helpers never resolve names, so
 * they cannot wander off to a real network by a typo.
 *
 * The pattern: byte I of stream KEY is pattern_base[(I + KEY) % PATTERN_PERIOD].
 * The period is prime, so a lost, repeated or reordered chunk of any length
 * shorter than the period shows up as a mismatch, and each connection uses its
 * own KEY, so data crossing between connections shows up too. The table holds
 * PATTERN_PERIOD + PATTERN_MAX_RUN bytes, so a run of up to PATTERN_MAX_RUN
 * bytes at any position is contiguous (sent and compared without copying).
 */
#ifndef PMSOCKS_NS_TEST_HELPERS_COMMON_H
#define PMSOCKS_NS_TEST_HELPERS_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#define PATTERN_PERIOD	65521u /* largest prime below 64 Ki */
#define PATTERN_MAX_RUN 65536u

static unsigned char pattern_base[PATTERN_PERIOD + PATTERN_MAX_RUN] __attribute__((unused));

/* xorshift64* step: the generator of both blast's stream and the pattern. */
static inline uint64_t xorshift64s(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* A seed of any value gives a non-zero state (splitmix64 finaliser). */
static inline uint64_t xorshift64s_seed(uint64_t seed)
{
	uint64_t z = seed + 0x9E3779B97F4A7C15ULL;

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	z ^= z >> 31;
	return z ? z : 1;
}

static inline void pattern_init(void)
{
	uint64_t state = xorshift64s_seed(0x706d736f636b73); /* "pmsocks" */
	size_t i;

	for (i = 0; i < PATTERN_PERIOD; i++)
		pattern_base[i] = (unsigned char)(xorshift64s(&state) >> 56);
	for (i = 0; i < PATTERN_MAX_RUN; i++)
		pattern_base[PATTERN_PERIOD + i] = pattern_base[i];
}

/* Start of the pattern bytes of stream KEY at OFFSET (valid for PATTERN_MAX_RUN bytes). */
static inline const unsigned char *pattern_at(uint64_t key, uint64_t offset)
{
	return pattern_base + (offset + key) % PATTERN_PERIOD;
}

/* Index of the first byte of BUF that differs from stream KEY at OFFSET, or -1. */
static inline long pattern_mismatch(uint64_t key, uint64_t offset, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t done = 0, i;

	while (done < len) {
		size_t run = len - done < PATTERN_MAX_RUN ? len - done : PATTERN_MAX_RUN;
		const unsigned char *want = pattern_at(key, offset + done);

		if (memcmp(p + done, want, run)) {
			for (i = 0; i < run; i++)
				if (p[done + i] != want[i])
					return (long)(done + i);
		}
		done += run;
	}
	return -1;
}

/* Bytes with an optional K, M or G suffix (powers of 1024); 0 on success. */
static inline int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	default:
		break;
	}
	if (*end || v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

/* An unsigned decimal in [min, max]; exits with status 2 naming WHAT otherwise. */
static inline unsigned long parse_num(const char *prog, const char *what, const char *s,
				      unsigned long min, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max) {
		fprintf(stderr, "%s: bad %s '%s' (expected %lu..%lu)\n", prog, what, s, min, max);
		exit(2);
	}
	return v;
}

/* HOST (numeric IPv4 or IPv6) and PORT into a sockaddr; exits with status 2 if bad. */
static inline socklen_t parse_sockaddr(const char *prog, const char *host, const char *port,
				       struct sockaddr_storage *ss)
{
	unsigned long p = parse_num(prog, "port", port, 0, 65535);
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		return sizeof(*sin);
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		return sizeof(*sin6);
	}
	fprintf(stderr, "%s: '%s' is not a numeric IPv4 or IPv6 address\n", prog, host);
	exit(2);
}

static inline const char *errname(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : "unknown-errno";
}

/* What a recv() returning N means, in a word: an errno name, "EOF" or "data". */
static inline const char *recv_result(long n)
{
	if (n < 0)
		return errname(errno);
	return n ? "data" : "EOF";
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Raise the soft RLIMIT_NOFILE to the hard limit; return the new soft limit. */
static inline rlim_t raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	return rl.rlim_cur;
}

/* SO_RCVTIMEO and SO_SNDTIMEO (the latter also bounds a blocking connect()). */
static inline void set_io_timeout(int fd, unsigned seconds)
{
	struct timeval tv = {.tv_sec = seconds};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

#endif
