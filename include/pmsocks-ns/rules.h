/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PMSOCKS_NS_RULES_H
#define PMSOCKS_NS_RULES_H

#include "pmsocks-ns/ctx.h"
#include "pmsocks-ns/flow.h"

int rules_init_host_addrs(void);
enum route rules_route(const struct ctx *c, const struct flow_key *k);
bool rules_addr_always_refused(int family, const union packet_addr *a);

#endif
