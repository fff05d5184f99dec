// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * util.c - Small helpers shared by the setup code
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pmsocks-ns/util.h"

/**
 * util_parse_uint() - Parse a whole decimal number within bounds
 * @s:   text
 * @min: smallest accepted value
 * @max: largest accepted value
 * @out: parsed value
 *
 * Return: 0, -EINVAL if @s is not a plain decimal number, -ERANGE if out of bounds
 */
int util_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/**
 * util_read_sysctl() - Read an integer from a /proc/sys file
 * @path:  file to read
 * @value: value read
 *
 * Return: 0, or -errno if the file is absent, unreadable or not a number
 */
int util_read_sysctl(const char *path, long *value)
{
	char buf[64];
	ssize_t n;
	char *end;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	errno = 0;
	*value = strtol(buf, &end, 10);
	if (end == buf || errno)
		return -EINVAL;
	return 0;
}
