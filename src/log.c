// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * log.c - Messages to stderr
 *
 * Theory of operation: everything pmsocks-ns says goes to stderr, prefixed with
 * the program name, so it never mixes with the command's stdout. The level is
 * set at run time (--verbose, SOCKS_DEBUG); debug messages cost one branch when
 * disabled. die() is for setup code only: the event loop closes a flow instead.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pmsocks-ns/log.h"
#include "pmsocks-ns/util.h"

static const char *log_progname = "pmsocks-ns";
static enum log_level log_current = LOG_LEVEL_WARN;

/**
 * log_init() - Set the prefix and the level of messages
 * @progname: prefix for every message
 * @level:    most verbose level printed
 */
void log_init(const char *progname, enum log_level level)
{
	log_progname = progname;
	log_current = level;
}

/**
 * log_set_level() - Change the most verbose level printed
 * @level: new level
 */
void log_set_level(enum log_level level)
{
	log_current = level;
}

/**
 * log_enabled() - Whether messages of a level are printed
 * @level: level to check
 *
 * Return: true if log_msg() at @level prints
 */
bool log_enabled(enum log_level level)
{
	return level <= log_current;
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	static const char *const prefix[] = {
		[LOG_LEVEL_ERR] = "",
		[LOG_LEVEL_WARN] = "warning: ",
		[LOG_LEVEL_INFO] = "",
		[LOG_LEVEL_DEBUG] = "debug: ",
	};
	char line[1024];
	int n;

	n = snprintf(line, sizeof(line), "%s: %s", log_progname, prefix[level]);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	n = (int)strlen(line);
	line[n++] = '\n';
	/* One write per message so lines from the handler and the child never interleave. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

/**
 * log_msg() - Print a message if its level is enabled
 * @level: severity
 * @fmt:   printf format
 */
void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	int saved_errno = errno;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
	errno = saved_errno;
}

/**
 * die() - Print an error and exit (setup code only)
 * @status: exit status
 * @fmt:    printf format
 */
void die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_ERR, fmt, ap);
	va_end(ap);
	exit(status);
}

/**
 * die_child() - Print an error and _exit() (forked children before execve)
 * @status: exit status
 * @fmt:    printf format
 *
 * A forked child shares the parent's atexit handlers and stdio buffers; they
 * are the parent's to run and flush, so the child leaves with _exit().
 */
void die_child(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_ERR, fmt, ap);
	va_end(ap);
	_exit(status);
}

/**
 * util_assert_fail() - Report a broken invariant and abort
 * @expr: text of the failed expression
 * @file: source file
 * @line: source line
 */
void util_assert_fail(const char *expr, const char *file, int line)
{
	log_err("internal error: assertion '%s' failed at %s:%d", expr, file, line);
	abort();
}
