/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PMSOCKS_NS_SECCOMP_H
#define PMSOCKS_NS_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>

#include <seccomp.h>

#include "pmsocks-ns/opts.h"

#define SECCOMP_ARG_ANY (-1)

/* One entry of the filter the command runs under: syscall(family, type) -> errno. */
struct seccomp_rule {
	const char *syscall; /* name, resolved per architecture by libseccomp */
	int family;	     /* socket(): first argument, or SECCOMP_ARG_ANY */
	int type;	     /* socket(): second argument without SOCK_NONBLOCK|SOCK_CLOEXEC */
	int err;	     /* errno the call fails with */
	bool udp;	     /* dropped from the filter under --udp=dns */
	const char *why;     /* shown by --verbose and in the man page */
};

extern const struct seccomp_rule seccomp_rules[];
extern const size_t seccomp_n_rules;
extern const unsigned int seccomp_arches[];
extern const size_t seccomp_n_arches;

int seccomp_build(enum udp_mode udp, scmp_filter_ctx *out);
int seccomp_install(enum udp_mode udp);

#endif
