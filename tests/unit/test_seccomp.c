// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for seccomp.c: the rule table and the filter built from it.
 * Criterion runs every test in its own process, so a test may load the
 * filter into itself and call the syscalls it blocks.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "pmsocks-ns/seccomp.h"

static const struct seccomp_rule *find_rule(const char *syscall_name, int family, int type)
{
	size_t i;

	for (i = 0; i < seccomp_n_rules; i++) {
		const struct seccomp_rule *r = &seccomp_rules[i];

		if (!strcmp(r->syscall, syscall_name) && r->family == family && r->type == type)
			return r;
	}
	return NULL;
}

Test(seccomp_table, blocks_what_the_design_names)
{
	const struct {
		const char *syscall;
		int family, type, err;
		bool udp;
	} want[] = {
		{"socket", AF_INET, SOCK_DGRAM, EPERM, true},
		{"socket", AF_INET6, SOCK_DGRAM, EPERM, true},
		{"socket", AF_INET, SOCK_RAW, EPERM, false},
		{"socket", AF_INET6, SOCK_RAW, EPERM, false},
		{"socket", AF_PACKET, SECCOMP_ARG_ANY, EPERM, false},
		{"socketcall", SECCOMP_ARG_ANY, SECCOMP_ARG_ANY, ENOSYS, false},
		{"io_uring_setup", SECCOMP_ARG_ANY, SECCOMP_ARG_ANY, ENOSYS, false},
	};
	size_t i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct seccomp_rule *r =
			find_rule(want[i].syscall, want[i].family, want[i].type);

		cr_assert_not_null(r, "no rule for %s(%d, %d)", want[i].syscall, want[i].family,
				   want[i].type);
		cr_assert_eq(r->err, want[i].err, "%s", want[i].syscall);
		cr_assert_eq(r->udp, want[i].udp, "%s", want[i].syscall);
		cr_assert(r->why && *r->why);
	}
}

Test(seccomp_table, never_blocks_tcp_unix_or_netlink)
{
	size_t i;

	for (i = 0; i < seccomp_n_rules; i++) {
		const struct seccomp_rule *r = &seccomp_rules[i];

		if (strcmp(r->syscall, "socket"))
			continue;
		cr_assert_neq(r->family, AF_UNIX);
		cr_assert_neq(r->family, AF_NETLINK);
		cr_assert_neq(r->family, SECCOMP_ARG_ANY, "a socket rule must name its family");
		cr_assert_neq(r->type, SOCK_STREAM);
	}
}

Test(seccomp_table, covers_the_i386_and_x32_abis)
{
	bool x86 = false, x32 = false;
	size_t i;

	for (i = 0; i < seccomp_n_arches; i++) {
		x86 |= seccomp_arches[i] == SCMP_ARCH_X86;
		x32 |= seccomp_arches[i] == SCMP_ARCH_X32;
	}
	cr_assert(x86 && x32);
}

Test(seccomp_table, every_rule_resolves_on_every_arch)
{
	scmp_filter_ctx ctx;

	cr_assert_eq(seccomp_build(UDP_BLOCK, &ctx), 0);
	seccomp_release(ctx);
	cr_assert_eq(seccomp_build(UDP_DNS, &ctx), 0);
	seccomp_release(ctx);
}

static int try_socket(int family, int type)
{
	int fd = socket(family, type, 0);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static void load(enum udp_mode udp)
{
	cr_assert_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	cr_assert_eq(seccomp_install(udp), 0);
}

Test(seccomp_filter, block_mode)
{
	load(UDP_BLOCK);
	cr_assert_eq(try_socket(AF_INET, SOCK_DGRAM), EPERM);
	cr_assert_eq(try_socket(AF_INET6, SOCK_DGRAM), EPERM);
	cr_assert_eq(try_socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC), EPERM,
		     "type flags are masked");
	cr_assert_eq(try_socket(AF_INET, SOCK_RAW), EPERM);
	cr_assert_eq(try_socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC), EPERM);
	cr_assert_eq(try_socket(AF_INET, 10 /* SOCK_PACKET */), EPERM);
	cr_assert_eq(try_socket(AF_PACKET, SOCK_RAW), EPERM);
	cr_assert_eq(try_socket(AF_PACKET, SOCK_DGRAM), EPERM);
	cr_assert_eq(syscall(SYS_io_uring_setup, 1, NULL), -1);
	cr_assert_eq(errno, ENOSYS);
	/* The kernel reads socket()'s arguments as int: high bits must not get past. */
	cr_assert_eq(syscall(SYS_socket, (long)AF_INET | (1L << 32), (long)SOCK_DGRAM, 0L), -1);
	cr_assert_eq(errno, EPERM);

	cr_assert_eq(try_socket(AF_INET, SOCK_STREAM), 0);
	cr_assert_eq(try_socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK), 0);
	cr_assert_eq(try_socket(AF_UNIX, SOCK_DGRAM), 0);
	cr_assert_eq(try_socket(AF_UNIX, SOCK_STREAM), 0);
	cr_assert_eq(try_socket(AF_NETLINK, SOCK_RAW), 0);
}

Test(seccomp_filter, dns_mode_allows_udp_only)
{
	load(UDP_DNS);
	cr_assert_eq(try_socket(AF_INET, SOCK_DGRAM), 0);
	cr_assert_eq(try_socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC), 0);
	cr_assert_eq(try_socket(AF_INET, SOCK_RAW), EPERM);
	cr_assert_eq(try_socket(AF_PACKET, SOCK_RAW), EPERM);
	cr_assert_eq(syscall(SYS_io_uring_setup, 1, NULL), -1);
	cr_assert_eq(errno, ENOSYS);
}

Test(seccomp_filter, x32_abi_is_filtered)
{
	load(UDP_BLOCK);
	/* socket() is number 41 in the x32 table too, with the x32 bit set. */
	cr_assert_eq(syscall(0x40000000L | 41, AF_INET, SOCK_DGRAM, 0), -1);
	cr_assert_eq(errno, EPERM);
}
