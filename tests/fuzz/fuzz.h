/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What every libFuzzer target here shares. */
#ifndef PMSOCKS_NS_FUZZ_H
#define PMSOCKS_NS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant the target checks: a violation is a finding (abort, not assert: kept in release
 * builds). */
#define CHECK(expr)              \
	do {                     \
		if (!(expr))     \
			abort(); \
	} while (0)

#endif
