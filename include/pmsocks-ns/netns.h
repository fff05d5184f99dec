/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PMSOCKS_NS_NETNS_H
#define PMSOCKS_NS_NETNS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "pmsocks-ns/opts.h"

/* Signals the handler forwards to the command. */
#define NETNS_FORWARD_SIGNALS                    \
	{                                        \
		SIGINT, SIGTERM, SIGHUP, SIGQUIT \
	}

struct netns_sandbox {
	pid_t pid;  /* the command, or with --pid the reaper (pid 1 inside) */
	int tun_fd; /* host side of tun0, non-blocking, close-on-exec */
};

void netns_signals_block(sigset_t *old_mask);
int netns_spawn(const struct opts *o, const sigset_t *old_mask, struct netns_sandbox *sb);
int netns_exit_status(int wait_status);
bool netns_should_forward(int signo, int si_code);
void netns_userns_hint(const char *proc_sys, int err, char *buf, size_t len);

#endif
