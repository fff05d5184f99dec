/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PMSOCKS_NS_UTIL_H
#define PMSOCKS_NS_UTIL_H

#include <stddef.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Exit statuses of pmsocks-ns itself (the command's own status passes through). */
#define EXIT_USAGE     2   /* bad option, bad configuration */
#define EXIT_SETUP     125 /* the sandbox could not be set up or the handler failed */
#define EXIT_NOT_EXEC  126 /* command found but not executable */
#define EXIT_NOT_FOUND 127 /* command not found */

/*
 * ASSERT() - Invariant that holds unless pmsocks-ns itself is broken.
 * Kept in release builds: a broken invariant must stop the program, not corrupt a flow.
 */
#define ASSERT(expr)                                                 \
	do {                                                         \
		if (!(expr))                                         \
			util_assert_fail(#expr, __FILE__, __LINE__); \
	} while (0)

__attribute__((__noreturn__)) void util_assert_fail(const char *expr, const char *file, int line);

int util_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);
int util_read_sysctl(const char *path, long *value);

#endif
