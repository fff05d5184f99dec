// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * blast - Write N bytes of a deterministic pseudo-random stream to stdout
 *
 *   blast N [SEED]      N in bytes, with an optional K, M or G suffix (x1024)
 *
 * The stream is xorshift64* seeded from SEED (default 1), eight bytes per step
 * in little-endian order, so `blast 1G 7 | sha256sum` on one end of a
 * connection can be compared with sha256sum of what arrived at the other. It
 * runs at several GB/s, so it never limits the transfer it feeds.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#define CHUNK (256u * 1024u)

int main(int argc, char **argv)
{
	static uint64_t words[CHUNK / 8];
	uint64_t total, left, state;
	unsigned long seed = 1;
	size_t i;

	if (argc < 2 || argc > 3 || parse_size(argv[1], &total)) {
		fprintf(stderr, "usage: blast N[K|M|G] [SEED]\n");
		return 2;
	}
	if (argc == 3)
		seed = parse_num("blast", "seed", argv[2], 0, (unsigned long)-1);
	state = xorshift64s_seed(seed);

	for (left = total; left;) {
		size_t len = left < CHUNK ? (size_t)left : CHUNK, off = 0;

		for (i = 0; i < (len + 7) / 8; i++) {
			uint64_t v = xorshift64s(&state);
			unsigned char *b = (unsigned char *)&words[i];
			unsigned k;

			for (k = 0; k < 8; k++)
				b[k] = (unsigned char)(v >> (8 * k));
		}
		while (off < len) {
			ssize_t n = write(STDOUT_FILENO, (char *)words + off, len - off);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EPIPE)
					return 1;
				perror("blast: write");
				return 1;
			}
			off += (size_t)n;
		}
		left -= len;
	}
	return 0;
}
