// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tun.c - The tun device and passing its fd out of the sandbox
 *
 * Theory of operation: the child creates tun0 inside the new network namespace
 * (a tun device belongs to the namespace it was created in) and hands the fd
 * to the parent over the sync socket with SCM_RIGHTS. The parent reads and
 * writes IP packets on that fd from the host namespace; the child closes its
 * copy before exec, so the command cannot touch the device.
 *
 * Offloads: the device carries a virtio-net header (IFF_VNET_HDR) and offers
 * checksum offload and TSO (TUNSETOFFLOAD). The sandbox's kernel then leaves
 * the TCP checksums of what it sends for "the hardware" (us) and may send
 * segments of up to 64 KiB whatever the MTU; the handler trusts those
 * checksums instead of summing every byte again, as a NIC's receive side
 * would. In the other direction it leaves the TCP checksum partial and lets
 * the header say so, which the sandbox's kernel takes as verified. Two
 * passes over every byte saved, each way.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pmsocks-ns/log.h"
#include "pmsocks-ns/packet.h"
#include "pmsocks-ns/tcp.h"
#include "pmsocks-ns/tun.h"
#include "pmsocks-ns/util.h"

#define TUN_BATCH     256 /* packets read per wake-up */
#define TUN_FRAME_MAX 65536
#define TUN_OFFLOADS  (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)

static void tun_open_hint(int err, char *buf, size_t len)
{
	struct stat st;

	switch (err) {
	case ENOENT:
		snprintf(buf, len,
			 "cannot open " TUN_DEV_PATH ": No such file or directory (hint: load the "
			 "tun module with 'modprobe tun', or create the node as root: 'mkdir -p "
			 "/dev/net && mknod -m 0666 " TUN_DEV_PATH " c 10 200')");
		return;
	case EACCES:
	case EPERM:
		if (stat(TUN_DEV_PATH, &st) == 0 && (st.st_mode & 0006) != 0006) {
			snprintf(buf, len,
				 "cannot open " TUN_DEV_PATH ": %s (hint: it is mode %04o here; "
				 "distributions ship it 0666, which is safe because only a "
				 "process with CAP_NET_ADMIN in its network namespace can create "
				 "a device with it. As root: 'chmod 0666 " TUN_DEV_PATH "', or "
				 "make it permanent with a udev rule: KERNEL==\"tun\", "
				 "MODE=\"0666\")",
				 strerror(err), st.st_mode & 07777);
			return;
		}
		break;
	case ENODEV:
	case ENXIO:
		snprintf(buf, len,
			 "cannot open " TUN_DEV_PATH ": %s (hint: the kernel has no tun driver; "
			 "load it with 'modprobe tun' or enable CONFIG_TUN)",
			 strerror(err));
		return;
	default:
		break;
	}
	snprintf(buf, len, "cannot open " TUN_DEV_PATH ": %s", strerror(err));
}

/**
 * tun_open() - Create a tun device (IFF_TUN, IFF_NO_PI, IFF_VNET_HDR) in the current netns
 * @name:   interface name
 * @fd_out: receives the device fd (close-on-exec, non-blocking)
 * @err:    receives a message with a hint on failure
 * @errlen: size of @err
 *
 * Return: 0, or -errno
 */
int tun_open(const char *name, int *fd_out, char *err, size_t errlen)
{
	struct ifreq ifr;
	int fd, ret, hlen;

	fd = open(TUN_DEV_PATH, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		tun_open_hint(-ret, err, errlen);
		return ret;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot create tun device %s: %s", name, strerror(-ret));
		close(fd);
		return ret;
	}
	hlen = PACKET_VNET_HLEN;
	if (ioctl(fd, TUNSETVNETHDRSZ, &hlen) < 0 || ioctl(fd, TUNSETOFFLOAD, TUN_OFFLOADS) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot set up offloads on tun device %s: %s", name,
			 strerror(-ret));
		close(fd);
		return ret;
	}
	/*
	 * Persistent, so that closing the last fd does not unregister the device
	 * synchronously (tens of milliseconds of RCU grace periods at exit). The
	 * device still dies with its network namespace, whose cleanup the kernel
	 * runs asynchronously once the last process inside has exited.
	 */
	if (ioctl(fd, TUNSETPERSIST, 1) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot make tun device %s persistent: %s", name,
			 strerror(-ret));
		close(fd);
		return ret;
	}
	*fd_out = fd;
	return 0;
}

/**
 * tun_send_fd() - Send a message with one fd attached (SCM_RIGHTS)
 * @sock: connected unix socket
 * @fd:   descriptor to pass
 * @msg:  payload
 * @len:  payload length (at least one byte)
 *
 * Return: 0, or -errno
 */
int tun_send_fd(int sock, int fd, const void *msg, size_t len)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = (void *)msg, .iov_len = len};
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cmsg;

	memset(&u, 0, sizeof(u));
	cmsg = CMSG_FIRSTHDR(&mh);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}

/**
 * tun_recv_fd() - Receive a message and the fd attached to it, if any
 * @sock:   connected unix socket
 * @msg:    buffer for the payload
 * @len:    size of @msg
 * @fd_out: receives the fd (close-on-exec), or -1 if none came
 *
 * Return: payload length (0 on end of file), or -errno
 */
ssize_t tun_recv_fd(int sock, void *msg, size_t len, int *fd_out)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = msg, .iov_len = len};
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cmsg;
	ssize_t n;

	*fd_out = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (cmsg = CMSG_FIRSTHDR(&mh); cmsg; cmsg = CMSG_NXTHDR(&mh, cmsg)) {
		if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS &&
		    cmsg->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd_out, CMSG_DATA(cmsg), sizeof(int));
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		if (*fd_out >= 0)
			close(*fd_out);
		*fd_out = -1;
		return -EMSGSIZE;
	}
	return n;
}

/**
 * tun_write_tcp() - Send one IP packet to the sandbox
 * @c:            handler context
 * @frame:        the packet
 * @len:          its length
 * @csum_partial: a TCP segment whose checksum holds only the pseudo-header
 *                sum (built so only if c->vnet_hdr)
 *
 * A packet the kernel does not take is lost like on a wire: TCP retransmits.
 *
 * Return: 0, or -errno
 */
int tun_write_tcp(struct ctx *c, const uint8_t *frame, size_t len, bool csum_partial)
{
	uint8_t hdr[PACKET_VNET_HLEN];
	struct iovec iov[2] = {
		{.iov_base = hdr, .iov_len = 0},
		{.iov_base = (void *)frame, .iov_len = len},
	};

	if (c->tun_hook && !c->tun_hook(c->tun_hook_opaque, frame, len)) {
		c->stats.tun_hook_drops++;
		return 0;
	}
	if (c->tun_fd < 0)
		return 0;
	if (c->vnet_hdr)
		iov[0].iov_len = packet_vnet_header(hdr, frame[0] >> 4 == 4 ? AF_INET : AF_INET6,
						    csum_partial);
	if (writev(c->tun_fd, iov, 2) != (ssize_t)(iov[0].iov_len + len)) {
		c->stats.tun_write_errors++;
		return -errno;
	}
	c->stats.tun_packets_out++;
	return 0;
}

/**
 * tun_write() - Send one complete IP packet to the sandbox
 * @c:     handler context
 * @frame: the packet, every checksum filled in
 * @len:   its length
 *
 * Return: 0, or -errno
 */
int tun_write(struct ctx *c, const uint8_t *frame, size_t len)
{
	return tun_write_tcp(c, frame, len, false);
}

static bool tun_dst_is_group(const struct packet *p)
{
	if (p->family == AF_INET) {
		uint32_t a = ntohl(p->dst.v4.s_addr);

		return (a >> 28) >= 0xe || (a & 0xff) == 0xff;
	}
	return IN6_IS_ADDR_MULTICAST(&p->dst.v6);
}

/* Handle a packet from the sandbox, parsed into @p with result @drop. */
static void tun_dispatch(struct ctx *c, const struct packet *p, enum packet_drop drop)
{
	static uint8_t reply[PACKET_ICMP_MAX];
	const union packet_addr *gw;
	ssize_t n;

	c->stats.tun_packets_in++;
	if (drop != PACKET_OK) {
		c->stats.drops[drop]++;
		log_debug("dropped a packet from the sandbox: %s", packet_drop_names[drop]);
		return;
	}
	switch (p->proto) {
	case IPPROTO_TCP:
		tcp_tun_input(c, p);
		return;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		c->stats.ignored++;
		return;
	default:
		break;
	}
	if (tun_dst_is_group(p)) {
		c->stats.ignored++;
		return;
	}
	gw = p->family == AF_INET ? &c->gateway4 : &c->gateway6;
	n = packet_build_icmp_unreach(reply, sizeof(reply), p, gw,
				      p->proto == IPPROTO_UDP ? PACKET_UNREACH_PORT
							      : PACKET_UNREACH_PROTO);
	c->stats.not_tcp++;
	if (n > 0 && !tun_write(c, reply, (size_t)n))
		c->stats.icmp_sent++;
}

/**
 * tun_packet() - Handle one IP packet from the sandbox
 * @c:     handler context
 * @frame: the packet
 * @len:   its length
 */
void tun_packet(struct ctx *c, const uint8_t *frame, size_t len)
{
	struct packet p;
	enum packet_drop drop = packet_parse(&p, frame, len);

	tun_dispatch(c, &p, drop);
}

/**
 * tun_vnet_packet() - Handle one packet from the sandbox behind its virtio-net header
 * @c:     handler context
 * @frame: PACKET_VNET_HLEN bytes of header, then the IP packet
 * @len:   length of both
 */
void tun_vnet_packet(struct ctx *c, const uint8_t *frame, size_t len)
{
	struct packet p;
	enum packet_drop drop = packet_parse_vnet(&p, frame, len);

	tun_dispatch(c, &p, drop);
}

/**
 * tun_input() - Read and handle a bounded batch of packets from the tun
 * @c: handler context
 *
 * Frames are read into a ring of CTX_HOLD_MAX buffers: one whose payload
 * tcp_tun_input() holds for a later write stays put, and the next packet
 * goes to the next buffer. Before the ring wraps, and at the end, what is
 * held is written (tcp_tun_flush()).
 */
void tun_input(struct ctx *c)
{
	/* The IP header 8-byte aligned behind the virtio-net header */
	static uint8_t ring[CTX_HOLD_MAX][TUN_FRAME_MAX + 16] __attribute__((aligned(8)));
	unsigned int slot = 0;
	int i;

	c->tun_may_hold = true;
	for (i = 0; i < TUN_BATCH; i++) {
		uint8_t *frame = c->vnet_hdr ? ring[slot] + 16 - PACKET_VNET_HLEN : ring[slot];
		ssize_t n = read(c->tun_fd, frame, TUN_FRAME_MAX + PACKET_VNET_HLEN);

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_debug("tun read: %s", strerror(errno));
			break;
		}
		c->tun_held = false;
		if (c->vnet_hdr)
			tun_vnet_packet(c, frame, (size_t)n);
		else
			tun_packet(c, frame, (size_t)n);
		if (c->tun_held && ++slot == CTX_HOLD_MAX) {
			tcp_tun_flush(c);
			slot = 0;
		}
	}
	c->tun_may_hold = false;
	tcp_tun_flush(c);
	tcp_flush_acks(c);
}
