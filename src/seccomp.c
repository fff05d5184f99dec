// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * seccomp.c - Syscall filter for the command
 *
 * Theory of operation: the network namespace already guarantees that nothing
 * the command sends can leave except through the tun, and the handler only
 * forwards TCP. The filter makes the other ways fail at once with a clear
 * errno instead of a timeout: UDP and raw IP sockets and packet sockets get
 * EPERM, as a firewall would answer; socketcall() and io_uring_setup() get
 * ENOSYS, so libc falls back to plain socket() (which the filter sees) and
 * io_uring cannot open sockets behind the filter's back.
 *
 * Everything else is allowed: the filter is a policy for the network, not a
 * general sandbox. The rules are a table so the unit tests and --verbose can
 * show exactly what is enforced. Socket arguments are compared on their low
 * 32 bits only, with a masked compare: the kernel reads them as int, so a
 * caller setting high bits must not slip past (libseccomp's SCMP_A0_32()
 * only narrows the datum; the BPF still compares all 64 bits).
 * The filter covers the native x86-64 ABI and the i386 and x32 ABIs, which a
 * 64-bit process can reach with int 0x80 or the x32 syscall bit.
 */
#include <errno.h>
#include <linux/if_ether.h>
#include <sys/socket.h>

#include <seccomp.h>

#include "pmsocks-ns/log.h"
#include "pmsocks-ns/seccomp.h"
#include "pmsocks-ns/util.h"

#ifndef SOCK_PACKET
#define SOCK_PACKET 10
#endif

const struct seccomp_rule seccomp_rules[] = {
	{"socket", AF_INET, SOCK_DGRAM, EPERM, true, "UDP over IPv4"},
	{"socket", AF_INET6, SOCK_DGRAM, EPERM, true, "UDP over IPv6"},
	{"socket", AF_INET, SOCK_RAW, EPERM, false, "raw IPv4 (ping, traceroute)"},
	{"socket", AF_INET6, SOCK_RAW, EPERM, false, "raw IPv6"},
	/* The kernel turns AF_INET/SOCK_PACKET into an AF_PACKET socket. */
	{"socket", AF_INET, SOCK_PACKET, EPERM, false, "obsolete packet socket"},
	{"socket", AF_PACKET, SECCOMP_ARG_ANY, EPERM, false, "packet sockets"},
	{"socketcall", SECCOMP_ARG_ANY, SECCOMP_ARG_ANY, ENOSYS, false,
	 "i386 multiplexer whose arguments a filter cannot inspect"},
	{"io_uring_setup", SECCOMP_ARG_ANY, SECCOMP_ARG_ANY, ENOSYS, false,
	 "io_uring can create sockets without the socket() syscall"},
};
const size_t seccomp_n_rules = ARRAY_SIZE(seccomp_rules);

const unsigned int seccomp_arches[] = {SCMP_ARCH_X86, SCMP_ARCH_X32};
const size_t seccomp_n_arches = ARRAY_SIZE(seccomp_arches);

static int seccomp_add_rule(scmp_filter_ctx ctx, const struct seccomp_rule *r)
{
	const uint64_t low32 = 0xffffffffULL, flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
	struct scmp_arg_cmp cmp[2];
	unsigned int n = 0;
	int nr;

	nr = seccomp_syscall_resolve_name(r->syscall);
	if (nr == __NR_SCMP_ERROR)
		return -ENOENT;
	if (r->family != SECCOMP_ARG_ANY)
		cmp[n++] = SCMP_A0(SCMP_CMP_MASKED_EQ, low32, (uint64_t)r->family);
	if (r->type != SECCOMP_ARG_ANY)
		cmp[n++] = SCMP_A1(SCMP_CMP_MASKED_EQ, low32 & ~flags, (uint64_t)r->type);
	return seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO((uint32_t)r->err), nr, n, cmp);
}

/**
 * seccomp_build() - Build (not load) the filter for the command
 * @udp: UDP_BLOCK also blocks UDP sockets, UDP_DNS leaves them allowed
 * @out: receives the libseccomp context; release with seccomp_release()
 *
 * Return: 0, or a negative errno from libseccomp
 */
int seccomp_build(enum udp_mode udp, scmp_filter_ctx *out)
{
	scmp_filter_ctx ctx;
	size_t i;
	int ret;

	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return -ENOMEM;
	for (i = 0; i < seccomp_n_arches; i++) {
		ret = seccomp_arch_add(ctx, seccomp_arches[i]);
		if (ret && ret != -EEXIST)
			goto err;
	}
	for (i = 0; i < seccomp_n_rules; i++) {
		if (udp == UDP_DNS && seccomp_rules[i].udp)
			continue;
		ret = seccomp_add_rule(ctx, &seccomp_rules[i]);
		if (ret)
			goto err;
	}
	*out = ctx;
	return 0;
err:
	seccomp_release(ctx);
	return ret;
}

/**
 * seccomp_install() - Load the filter into the calling process
 * @udp: UDP mode, see seccomp_build()
 *
 * The caller must have set no_new_privs. The filter is inherited by every
 * child and survives execve.
 *
 * Return: 0, or a negative errno
 */
int seccomp_install(enum udp_mode udp)
{
	scmp_filter_ctx ctx;
	int ret;

	ret = seccomp_build(udp, &ctx);
	if (ret)
		return ret;
	ret = seccomp_load(ctx);
	seccomp_release(ctx);
	return ret;
}
