/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PMSOCKS_NS_TUN_H
#define PMSOCKS_NS_TUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pmsocks-ns/ctx.h"

#define TUN_DEV_PATH "/dev/net/tun"

int tun_open(const char *name, int *fd_out, char *err, size_t errlen);
int tun_send_fd(int sock, int fd, const void *msg, size_t len);
ssize_t tun_recv_fd(int sock, void *msg, size_t len, int *fd_out);
int tun_write(struct ctx *c, const uint8_t *frame, size_t len);
int tun_write_tcp(struct ctx *c, const uint8_t *frame, size_t len, bool csum_partial);
void tun_input(struct ctx *c);
void tun_packet(struct ctx *c, const uint8_t *frame, size_t len);
void tun_vnet_packet(struct ctx *c, const uint8_t *frame, size_t len);

#endif
