// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * nl.c - Network configuration inside the sandbox, with libnl-3
 *
 * Theory of operation: runs in the child, inside the new network namespace,
 * after tun0 exists. Brings lo up, sets tun0's MTU and brings it up, adds the
 * IPv4 and IPv6 addresses (IPv6 with IFA_F_NODAD so it is usable at once
 * rather than after duplicate address detection, which a tun without
 * neighbours would only delay) and a default route per family via the
 * gateway, which the handler emulates. Every step names itself on failure.
 *
 * The default routes carry a minimum retransmission timeout of
 * NL_RTO_MIN_MS instead of the kernel's 200 ms. The only peer in the
 * sandbox is the handler, microseconds away, and the handler drops data of
 * the command's only when the host socket refuses it (memory pressure) or a
 * segment was lost before it: most losses come back with duplicate ACKs,
 * but a sender without SACK cannot resend at once if fewer than three
 * segments are in flight, and every such loss would stall the connection
 * for 200 ms or more.
 */
#include <errno.h>
#include <linux/if_addr.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>

#include "pmsocks-ns/nl.h"

#define NL_RTO_MIN_MS 20 /* long enough for a busy handler, short next to 200 ms */

static int nl_link_up(struct nl_sock *sk, const char *name, unsigned int mtu, char *err,
		      size_t errlen)
{
	struct rtnl_link *link = NULL, *change = NULL;
	int ret;

	ret = rtnl_link_get_kernel(sk, 0, name, &link);
	if (ret < 0) {
		snprintf(err, errlen, "cannot find interface %s: %s", name, nl_geterror(ret));
		return ret;
	}
	change = rtnl_link_alloc();
	if (!change) {
		ret = -NLE_NOMEM;
		goto out;
	}
	rtnl_link_set_flags(change, IFF_UP);
	if (mtu) {
		rtnl_link_set_mtu(change, mtu);
		/*
		 * The sandbox's bursts wait in this queue until the handler reads
		 * them; at the default 500 packets, a thousand busy connections
		 * overflow it and every drop costs the sender a 200 ms timeout.
		 */
		rtnl_link_set_txqlen(change, NL_TUN_TXQLEN);
	}
	ret = rtnl_link_change(sk, link, change, 0);
out:
	if (ret < 0)
		snprintf(err, errlen, "cannot bring up %s (mtu %u): %s", name, mtu,
			 nl_geterror(ret));
	rtnl_link_put(change);
	rtnl_link_put(link);
	return ret;
}

static int nl_addr_add(struct nl_sock *sk, int ifindex, int family, const char *text, char *err,
		       size_t errlen)
{
	struct rtnl_addr *addr = NULL;
	struct nl_addr *local = NULL;
	int ret;

	ret = nl_addr_parse(text, family, &local);
	if (ret < 0)
		goto out;
	addr = rtnl_addr_alloc();
	if (!addr) {
		ret = -NLE_NOMEM;
		goto out;
	}
	rtnl_addr_set_ifindex(addr, ifindex);
	rtnl_addr_set_family(addr, family);
	ret = rtnl_addr_set_local(addr, local);
	if (ret < 0)
		goto out;
	if (family == AF_INET6)
		rtnl_addr_set_flags(addr, IFA_F_NODAD);
	ret = rtnl_addr_add(sk, addr, 0);
out:
	if (ret < 0)
		snprintf(err, errlen, "cannot add address %s: %s", text, nl_geterror(ret));
	rtnl_addr_put(addr);
	nl_addr_put(local);
	return ret;
}

static int nl_route_add_default(struct nl_sock *sk, int ifindex, int family, const char *gateway,
				char *err, size_t errlen)
{
	struct nl_addr *dst = NULL, *gw = NULL;
	struct rtnl_route *route = NULL;
	struct rtnl_nexthop *nh;
	int ret;

	ret = nl_addr_parse("default", family, &dst);
	if (ret < 0)
		goto out;
	ret = nl_addr_parse(gateway, family, &gw);
	if (ret < 0)
		goto out;
	route = rtnl_route_alloc();
	nh = rtnl_route_nh_alloc();
	if (!route || !nh) {
		rtnl_route_nh_free(nh);
		ret = -NLE_NOMEM;
		goto out;
	}
	rtnl_route_set_family(route, (uint8_t)family);
	rtnl_route_set_table(route, RT_TABLE_MAIN);
	rtnl_route_set_scope(route, RT_SCOPE_UNIVERSE);
	rtnl_route_set_protocol(route, RTPROT_STATIC);
	ret = rtnl_route_set_dst(route, dst);
	if (ret < 0) {
		rtnl_route_nh_free(nh);
		goto out;
	}
	rtnl_route_nh_set_ifindex(nh, ifindex);
	rtnl_route_nh_set_gateway(nh, gw);
	rtnl_route_add_nexthop(route, nh);
	/* The kernel uses a route's rto_min only if locked, as ip-route(8) does. */
	ret = rtnl_route_set_metric(route, RTAX_RTO_MIN, NL_RTO_MIN_MS);
	if (ret >= 0)
		ret = rtnl_route_set_metric(route, RTAX_LOCK, 1U << RTAX_RTO_MIN);
	if (ret >= 0)
		ret = rtnl_route_add(sk, route, 0);
out:
	if (ret < 0)
		snprintf(err, errlen, "cannot add default route via %s: %s", gateway,
			 nl_geterror(ret));
	rtnl_route_put(route);
	nl_addr_put(gw);
	nl_addr_put(dst);
	return ret;
}

/**
 * nl_sandbox_setup() - Configure lo and the tun inside the sandbox
 * @cfg:    interface name, MTU, addresses and gateways
 * @err:    receives a message naming the failed step
 * @errlen: size of @err
 *
 * Return: 0, or a negative libnl error code
 */
int nl_sandbox_setup(const struct nl_sandbox *cfg, char *err, size_t errlen)
{
	struct nl_sock *sk;
	int ifindex;
	int ret;

	sk = nl_socket_alloc();
	if (!sk) {
		snprintf(err, errlen, "cannot allocate a netlink socket");
		return -NLE_NOMEM;
	}
	ret = nl_connect(sk, NETLINK_ROUTE);
	if (ret < 0) {
		snprintf(err, errlen, "cannot open a route netlink socket: %s", nl_geterror(ret));
		goto out;
	}
	ret = nl_link_up(sk, "lo", 0, err, errlen);
	if (ret < 0)
		goto out;
	ret = nl_link_up(sk, cfg->tun_name, cfg->mtu, err, errlen);
	if (ret < 0)
		goto out;
	ifindex = (int)if_nametoindex(cfg->tun_name);
	if (!ifindex) {
		snprintf(err, errlen, "cannot find interface %s: %s", cfg->tun_name,
			 strerror(errno));
		ret = -NLE_OBJ_NOTFOUND;
		goto out;
	}
	ret = nl_addr_add(sk, ifindex, AF_INET, cfg->addr4, err, errlen);
	if (ret < 0)
		goto out;
	ret = nl_addr_add(sk, ifindex, AF_INET6, cfg->addr6, err, errlen);
	if (ret < 0)
		goto out;
	ret = nl_route_add_default(sk, ifindex, AF_INET, cfg->gateway4, err, errlen);
	if (ret < 0)
		goto out;
	ret = nl_route_add_default(sk, ifindex, AF_INET6, cfg->gateway6, err, errlen);
out:
	nl_socket_free(sk);
	return ret;
}
