/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PMSOCKS_NS_NL_H
#define PMSOCKS_NS_NL_H

#include <stddef.h>

/* Addresses of the sandbox side of the tun (DESIGN "Addresses inside"). */
#define NL_TUN_NAME   "tun0"
#define NL_ADDR4      "10.0.2.15/24"
#define NL_GATEWAY4   "10.0.2.2"
#define NL_ADDR6      "fd00:2::15/64"
#define NL_GATEWAY6   "fd00:2::2"
#define NL_TUN_TXQLEN 65536 /* packets queued towards the handler */

struct nl_sandbox {
	const char *tun_name;
	unsigned int mtu;
	const char *addr4, *gateway4;
	const char *addr6, *gateway6;
};

int nl_sandbox_setup(const struct nl_sandbox *cfg, char *err, size_t errlen);

#endif
