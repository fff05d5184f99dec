// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sockprobe - Try one socket-related syscall and print what happened
 *
 * Run inside the sandbox by the integration tests; prints "ok" or the errno
 * name (EPERM, ENOSYS, ...) on stdout and exits 0, so a test compares text.
 * Built twice: natively and, with gcc -m32 -static, for the i386 ABI.
 *
 *   sockprobe socket FAMILY TYPE [nonblock|cloexec]   socket(2)
 *   sockprobe highbits FAMILY TYPE                    socket() with garbage in the high 32 bits
 *   sockprobe x32 FAMILY TYPE                         socket() through the x32 ABI (x86-64 only)
 *   sockprobe socketcall FAMILY TYPE                  socketcall(SYS_SOCKET) (i386 only)
 *   sockprobe io_uring                                io_uring_setup()
 *   sockprobe fds                                     open fds, from /proc/self/fd
 *
 * FAMILY: inet inet6 unix netlink packet; TYPE: stream dgram raw packet
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/net.h>

#ifndef AF_PACKET
#define AF_PACKET 17
#endif
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif

static int parse_family(const char *s)
{
	if (!strcmp(s, "inet"))
		return AF_INET;
	if (!strcmp(s, "inet6"))
		return AF_INET6;
	if (!strcmp(s, "unix"))
		return AF_UNIX;
	if (!strcmp(s, "netlink"))
		return AF_NETLINK;
	if (!strcmp(s, "packet"))
		return AF_PACKET;
	fprintf(stderr, "sockprobe: unknown family %s\n", s);
	exit(2);
}

static int parse_type(const char *s)
{
	if (!strcmp(s, "stream"))
		return SOCK_STREAM;
	if (!strcmp(s, "dgram"))
		return SOCK_DGRAM;
	if (!strcmp(s, "raw"))
		return SOCK_RAW;
	if (!strcmp(s, "packet"))
		return 10; /* SOCK_PACKET */
	fprintf(stderr, "sockprobe: unknown type %s\n", s);
	exit(2);
}

/* Raw sockets need a protocol; everything else takes the default. */
static int protocol_for(int family, int type)
{
	if (type != SOCK_RAW)
		return 0;
	if (family == AF_INET)
		return 1; /* IPPROTO_ICMP */
	if (family == AF_INET6)
		return 58; /* IPPROTO_ICMPV6 */
	return 0;
}

static int report(long ret)
{
	if (ret >= 0) {
		puts("ok");
		return 0;
	}
	puts(strerrorname_np(errno) ? strerrorname_np(errno) : "unknown-errno");
	return 0;
}

static int list_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	const char *sep = "";

	if (!dir) {
		perror("sockprobe: /proc/self/fd");
		return 1;
	}
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(dir))
			continue;
		printf("%s%s", sep, de->d_name);
		sep = " ";
	}
	putchar('\n');
	closedir(dir);
	return 0;
}

int main(int argc, char **argv)
{
	int family, type, extra = 0;

	if (argc == 2 && !strcmp(argv[1], "fds"))
		return list_fds();
	if (argc == 2 && !strcmp(argv[1], "io_uring")) {
		char params[120] = {0}; /* struct io_uring_params, zeroed */

		return report(syscall(SYS_io_uring_setup, 1, params));
	}
	if (argc < 4) {
		fprintf(stderr, "usage: see the comment at the top of sockprobe.c\n");
		return 2;
	}
	family = parse_family(argv[2]);
	type = parse_type(argv[3]);
	if (argc > 4 && !strcmp(argv[4], "nonblock"))
		extra = SOCK_NONBLOCK;
	if (argc > 4 && !strcmp(argv[4], "cloexec"))
		extra = SOCK_CLOEXEC;
	if (!strcmp(argv[1], "socket")) {
#ifdef SYS_socketcall
		/*
		 * i386: call socket(2) itself, since a glibc built for kernels
		 * before 4.3 would go through socketcall(2) instead.
		 */
		return report(
			syscall(SYS_socket, family, type | extra, protocol_for(family, type)));
#else
		return report(socket(family, type | extra, protocol_for(family, type)));
#endif
	}
#if defined(__x86_64__) && !defined(__ILP32__)
	if (!strcmp(argv[1], "highbits"))
		return report(syscall(SYS_socket, (long)family | (1L << 32),
				      (long)type | (1L << 40), 0L));
	if (!strcmp(argv[1], "x32"))
		return report(syscall(0x40000000L | 41 /* x32 socket */, family, type, 0));
#endif
#ifdef SYS_socketcall
	if (!strcmp(argv[1], "socketcall")) {
		unsigned long args[3] = {(unsigned long)family, (unsigned long)type,
					 (unsigned long)protocol_for(family, type)};

		return report(syscall(SYS_socketcall, SYS_SOCKET, args));
	}
#endif
	fprintf(stderr, "sockprobe: %s is not available in this build\n", argv[1]);
	return 2;
}
