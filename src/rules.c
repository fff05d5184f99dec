// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rules.c - Where a new connection of the sandbox goes
 *
 * Theory of operation: rules_route() is asked once per SYN. The rule file
 * (socks.conf grammar) plugs in here; until it does, every destination is
 * reached directly, except the ones the sandbox must never reach by accident
 * whatever the rules say (DESIGN "Addresses inside"): the host's loopback,
 * link-local and own addresses, multicast, broadcast and unspecified
 * addresses, IPv4-mapped IPv6 addresses (which would reach IPv4 behind the
 * back of the checks) and the sandbox's own subnets.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "pmsocks-ns/rules.h"
#include "pmsocks-ns/util.h"

#define RULES_MAX_HOST_ADDRS 64

static struct {
	int family;
	union packet_addr addr;
} rules_host_addrs[RULES_MAX_HOST_ADDRS];
static unsigned int rules_n_host_addrs;

/**
 * rules_init_host_addrs() - Remember the host's own addresses
 *
 * Return: 0, or -errno if they cannot be listed
 */
int rules_init_host_addrs(void)
{
	struct ifaddrs *ifa, *i;

	rules_n_host_addrs = 0;
	if (getifaddrs(&ifa))
		return -1;
	for (i = ifa; i && rules_n_host_addrs < RULES_MAX_HOST_ADDRS; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			rules_host_addrs[rules_n_host_addrs].family = AF_INET;
			rules_host_addrs[rules_n_host_addrs++].addr.v4 =
				((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			rules_host_addrs[rules_n_host_addrs].family = AF_INET6;
			rules_host_addrs[rules_n_host_addrs++].addr.v6 =
				((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr;
		}
	}
	freeifaddrs(ifa);
	return 0;
}

static bool rules_is_host_addr(int family, const union packet_addr *a)
{
	unsigned int i;

	for (i = 0; i < rules_n_host_addrs; i++) {
		if (rules_host_addrs[i].family != family)
			continue;
		if (family == AF_INET && rules_host_addrs[i].addr.v4.s_addr == a->v4.s_addr)
			return true;
		if (family == AF_INET6 && IN6_ARE_ADDR_EQUAL(&rules_host_addrs[i].addr.v6, &a->v6))
			return true;
	}
	return false;
}

/**
 * rules_addr_always_refused() - Whether a destination is off limits whatever the rules
 * @family: AF_INET or AF_INET6
 * @a:      destination address
 *
 * Return: true for loopback, link-local, multicast, broadcast, unspecified,
 * IPv4-mapped, the sandbox's subnets and the host's own addresses
 */
bool rules_addr_always_refused(int family, const union packet_addr *a)
{
	if (family == AF_INET) {
		uint32_t v = ntohl(a->v4.s_addr);

		if ((v >> 24) == 0 || (v >> 24) == 127 || (v >> 16) == 0xa9fe || (v >> 28) >= 0xe)
			return true; /* 0/8, 127/8, 169.254/16, multicast and 240/4 with broadcast
				      */
		if ((v >> 8) == 0x0a0002)
			return true; /* 10.0.2.0/24: the sandbox's own subnet */
	} else {
		const struct in6_addr *v6 = &a->v6;

		if (IN6_IS_ADDR_UNSPECIFIED(v6) || IN6_IS_ADDR_LOOPBACK(v6) ||
		    IN6_IS_ADDR_LINKLOCAL(v6) || IN6_IS_ADDR_MULTICAST(v6) ||
		    IN6_IS_ADDR_V4MAPPED(v6) || IN6_IS_ADDR_V4COMPAT(v6))
			return true;
		if (!memcmp(v6->s6_addr, "\xfd\x00\x00\x02\x00\x00\x00\x00", 8))
			return true; /* fd00:2::/64: the sandbox's own subnet */
	}
	return rules_is_host_addr(family, a);
}

/**
 * rules_route() - Decide where a new connection goes
 * @c: handler context
 * @k: the connection's 4-tuple
 *
 * Return: ROUTE_DIRECT or ROUTE_DENY (ROUTE_SOCKS once the rule file is read)
 */
enum route rules_route(const struct ctx *c, const struct flow_key *k)
{
	if (c->route_hook)
		return c->route_hook(k);
	if (rules_addr_always_refused(k->family, &k->remote_addr))
		return ROUTE_DENY;
	return ROUTE_DIRECT;
}
