// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * netns.c - Creating the sandbox and running the command in it
 *
 * Theory of operation: the parent (which becomes the handler) clones a child
 * into new user, network and mount namespaces (and a PID namespace with
 * --pid). The two talk over a SOCK_SEQPACKET socketpair; there are no sleeps:
 *
 *   parent                               child
 *   clone() ---------------------------> waits for "go"
 *   writes uid_map, setgroups, gid_map
 *   sends "go" -------------------------> now root in its user namespace:
 *                                         makes mounts private, opens tun0,
 *                                         configures lo/tun0 (nl.c)
 *   receives tun fd <-------------------- sends "ready" + tun fd (SCM_RIGHTS)
 *   or an error text, then exits 125      or the error text, then exits
 *   runs the event loop                   closes fds, no_new_privs, seccomp,
 *                                         execvp(command)
 *
 * The caller's uid and gid map to themselves and setgroups is denied, so an
 * unprivileged caller's command has no capabilities at all after execve, and
 * root's command is root only over namespaces the sandbox owns. With --pid
 * the child is pid 1 of the new PID namespace: it forks the command and reaps
 * every orphan until the command exits, then exits with its status; the
 * kernel then kills whatever is left in the namespace.
 *
 * Signals: the parent blocks SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGCHLD
 * before cloning and reads them from a signalfd (loop.c); the child restores
 * the original mask just before execve (dispositions are never changed before
 * the clone, so what the caller ignored stays ignored). Signals generated
 * by the terminal (si_code SI_KERNEL) already reach the command through its
 * process group and are not forwarded a second time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/close_range.h>

#include "pmsocks-ns/log.h"
#include "pmsocks-ns/netns.h"
#include "pmsocks-ns/nl.h"
#include "pmsocks-ns/seccomp.h"
#include "pmsocks-ns/tcp.h"
#include "pmsocks-ns/tun.h"
#include "pmsocks-ns/util.h"

/* Message from the child to the parent during setup. */
struct netns_msg {
	int32_t err;	/* 0: ready, tun fd attached; otherwise a positive errno */
	char text[480]; /* what failed, with a hint */
};

static const int netns_forward_signals[] = NETNS_FORWARD_SIGNALS;

/**
 * netns_userns_hint() - Explain why a user namespace could not be created
 * @proc_sys: root of the sysctl tree (normally "/proc/sys")
 * @err:      errno of the failed call
 * @buf:      receives the hint, or "" if there is nothing to add
 * @len:      size of @buf
 */
void netns_userns_hint(const char *proc_sys, int err, char *buf, size_t len)
{
	char path[256];
	long v;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "%s/user/max_user_namespaces", proc_sys);
	if (!util_read_sysctl(path, &v) && v == 0) {
		snprintf(buf, len,
			 " (hint: user.max_user_namespaces=0 on this system disables user "
			 "namespaces; as root: 'sysctl -w user.max_user_namespaces=15000'; see "
			 "pmsocks-ns(1) PRIVILEGES)");
		return;
	}
	snprintf(path, sizeof(path), "%s/kernel/unprivileged_userns_clone", proc_sys);
	if (!util_read_sysctl(path, &v) && v == 0 && getuid() != 0) {
		snprintf(buf, len,
			 " (hint: kernel.unprivileged_userns_clone=0 on this system allows user "
			 "namespaces to root only; as root: 'sysctl -w "
			 "kernel.unprivileged_userns_clone=1'; see pmsocks-ns(1) PRIVILEGES)");
		return;
	}
	snprintf(path, sizeof(path), "%s/kernel/apparmor_restrict_unprivileged_userns", proc_sys);
	if (!util_read_sysctl(path, &v) && v == 1 && getuid() != 0) {
		snprintf(buf, len,
			 " (hint: kernel.apparmor_restrict_unprivileged_userns=1 on this system; "
			 "install an AppArmor profile for pmsocks-ns allowing 'userns,' or, as "
			 "root, 'sysctl -w kernel.apparmor_restrict_unprivileged_userns=0'; see "
			 "pmsocks-ns(1) PRIVILEGES)");
		return;
	}
	switch (err) {
	case ENOSPC:
		snprintf(buf, len,
			 " (hint: the limit user.max_user_namespaces is reached; raise it with "
			 "sysctl or end other sandboxes)");
		break;
	case EINVAL:
		snprintf(buf, len, " (hint: this kernel was built without CONFIG_USER_NS)");
		break;
	case EPERM:
		snprintf(buf, len,
			 " (hint: user namespaces are refused here; inside a container this is "
			 "usually its seccomp profile; see pmsocks-ns(1) PRIVILEGES)");
		break;
	default:
		break;
	}
}

/**
 * netns_exit_status() - Map a wait status to an exit status
 * @wait_status: status from waitpid()
 *
 * Return: the exit code, or 128 + signal number if the process was killed
 */
int netns_exit_status(int wait_status)
{
	if (WIFEXITED(wait_status))
		return WEXITSTATUS(wait_status);
	if (WIFSIGNALED(wait_status))
		return 128 + WTERMSIG(wait_status);
	return EXIT_SETUP;
}

/**
 * netns_should_forward() - Whether a signal received by us goes to the command
 * @signo:   signal number
 * @si_code: origin of the signal
 *
 * Return: true unless the terminal sent it, which reached the command already
 */
bool netns_should_forward(int signo, int si_code)
{
	size_t i;

	if (si_code == SI_KERNEL)
		return false;
	for (i = 0; i < ARRAY_SIZE(netns_forward_signals); i++)
		if (netns_forward_signals[i] == signo)
			return true;
	return false;
}

/**
 * netns_signals_block() - Block the signals the handler reads from a signalfd
 * @old_mask: receives the previous mask, which the command gets back
 */
void netns_signals_block(sigset_t *old_mask)
{
	sigset_t set;
	size_t i;

	sigemptyset(&set);
	for (i = 0; i < ARRAY_SIZE(netns_forward_signals); i++)
		sigaddset(&set, netns_forward_signals[i]);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, old_mask))
		die(EXIT_SETUP, "cannot block signals: %s", strerror(errno));
}

static int netns_write_file(pid_t pid, const char *name, const char *text)
{
	char path[64];
	size_t len = strlen(text);
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		ret = errno ? -errno : -EIO;
	close(fd);
	return ret;
}

static int netns_write_maps(pid_t pid, char *err, size_t errlen)
{
	char map[64];
	int ret;

	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)getuid(), (unsigned)getuid());
	ret = netns_write_file(pid, "uid_map", map);
	if (ret) {
		snprintf(err, errlen, "cannot write uid_map");
		return ret;
	}
	ret = netns_write_file(pid, "setgroups", "deny");
	if (ret && ret != -ENOENT) {
		snprintf(err, errlen, "cannot write setgroups");
		return ret;
	}
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)getgid(), (unsigned)getgid());
	ret = netns_write_file(pid, "gid_map", map);
	if (ret)
		snprintf(err, errlen, "cannot write gid_map");
	return ret;
}

/* Child side ------------------------------------------------------------- */

static noreturn void netns_child_fail(int sock, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static noreturn void netns_child_fail(int sock, int err, const char *fmt, ...)
{
	struct netns_msg msg;
	va_list ap;
	size_t n;

	memset(&msg, 0, sizeof(msg));
	msg.err = err ? err : EIO;
	va_start(ap, fmt);
	vsnprintf(msg.text, sizeof(msg.text), fmt, ap);
	va_end(ap);
	if (err == EPERM || err == EACCES) {
		n = strlen(msg.text);
		netns_userns_hint("/proc/sys", 0, msg.text + n, sizeof(msg.text) - n);
	}
	if (send(sock, &msg, sizeof(msg), MSG_NOSIGNAL) < 0)
		log_err("%s", msg.text);
	_exit(EXIT_SETUP);
}

static int netns_cloexec_from(unsigned int first, unsigned int last)
{
	struct dirent *de;
	DIR *dir;

	if (!syscall(SYS_close_range, first, last, CLOSE_RANGE_CLOEXEC))
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* Kernels before 5.11: walk /proc/self/fd. */
	dir = opendir("/proc/self/fd");
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		unsigned long fd;

		if (util_parse_uint(de->d_name, first, last, &fd) || (int)fd == dirfd(dir))
			continue;
		fcntl((int)fd, F_SETFD, FD_CLOEXEC);
	}
	closedir(dir);
	return 0;
}

/*
 * Mark every fd >= 3 close-on-exec except the kept ones, which lose the flag.
 * Marking instead of closing keeps the fds libc or the sanitizers may hold
 * valid until execve, which then closes them all at once.
 */
static int netns_close_fds(const struct opts *o)
{
	unsigned int from = 3;
	int keep[OPTS_MAX_KEEP_FDS];
	size_t i, j, n = o->n_keep_fds;
	int ret;

	memcpy(keep, o->keep_fds, n * sizeof(int));
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];

			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	for (i = 0; i < n; i++) {
		if ((unsigned int)keep[i] > from) {
			ret = netns_cloexec_from(from, (unsigned int)keep[i] - 1);
			if (ret)
				return ret;
		}
		if (fcntl(keep[i], F_SETFD, 0) < 0)
			return -errno;
		from = (unsigned int)keep[i] + 1;
	}
	return netns_cloexec_from(from, ~0U);
}

static int netns_write_sysctl(const char *path, unsigned int value)
{
	char text[16];
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(text, sizeof(text), "%u\n", value);
	if (write(fd, text, strlen(text)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * The sandbox's TCP send buffers grow to NETNS_TCP_WMEM_MAX at most. Their
 * only peer is the handler, microseconds away: a few 64 KiB segments in
 * flight keep it busy, and what the command writes beyond that waits in the
 * host socket anyway. The kernel's 4 MiB would only hold memory twice, and
 * where the command shares a memory cgroup with the handler, its buffers
 * could take all of it: the host socket, short of memory, then offers the
 * command less than a segment, which a Linux sender sends only on its
 * persist timer, one segment every 200 ms or so.
 */
#define NETNS_TCP_WMEM_MAX (1U << 20)

static void netns_cap_tcp_wmem(void)
{
	const char *path = "/proc/sys/net/ipv4/tcp_wmem";
	unsigned int min, def, max;
	char text[64];
	ssize_t n;
	int fd;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, text, sizeof(text) - 1);
	if (n > 0) {
		text[n] = '\0';
		if (sscanf(text, "%u %u %u", &min, &def, &max) == 3 && max > NETNS_TCP_WMEM_MAX) {
			snprintf(text, sizeof(text), "%u %u %u\n", min,
				 def < NETNS_TCP_WMEM_MAX ? def : NETNS_TCP_WMEM_MAX,
				 NETNS_TCP_WMEM_MAX);
			if (pwrite(fd, text, strlen(text), 0) < 0)
				log_debug("cannot cap tcp_wmem in the sandbox: %s",
					  strerror(errno));
		}
	}
	close(fd);
}

/*
 * Make a connect() in the sandbox fail with ETIMEDOUT when the handler gives
 * up on the upstream: the handler stays silent, so the sandbox's own SYN
 * retries decide (see tcp_sandbox_syn_retries()). Within the sandbox the only
 * peer is the handler, so capping retransmission timeouts at a second costs
 * nothing; nor does capping its send buffers (netns_cap_tcp_wmem()).
 */
static void netns_tune_tcp(const struct opts *o)
{
	bool rto_max_1s;
	uint32_t retries;
	int ret;

	netns_cap_tcp_wmem();
	rto_max_1s = !netns_write_sysctl("/proc/sys/net/ipv4/tcp_rto_max_ms", 1000);
	netns_write_sysctl("/proc/sys/net/ipv4/tcp_syn_linear_timeouts", 0);
	retries = tcp_sandbox_syn_retries(o->connect_timeout_ms, rto_max_1s);
	ret = netns_write_sysctl("/proc/sys/net/ipv4/tcp_syn_retries", retries);
	if (ret)
		log_warn("cannot set tcp_syn_retries in the sandbox (%s): connections that time "
			 "out fail later there than the connect timeout",
			 strerror(-ret));
	log_debug("sandbox: tcp_syn_retries %u, tcp_rto_max_ms %s", retries,
		  rto_max_1s ? "1000" : "not available");
}

static noreturn void netns_exec(const struct opts *o, const sigset_t *old_mask)
{
	const char *cmd = o->command[0];
	int ret;

	/*
	 * Dispositions were never changed (the handler only blocks signals), so
	 * an ignored SIGHUP under nohup stays ignored; only the mask goes back.
	 */
	if (sigprocmask(SIG_SETMASK, old_mask, NULL))
		die_child(EXIT_SETUP, "cannot restore the signal mask: %s", strerror(errno));
	ret = netns_close_fds(o);
	if (ret)
		die_child(EXIT_SETUP, "cannot close file descriptors: %s", strerror(-ret));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		die_child(EXIT_SETUP, "cannot set no_new_privs: %s", strerror(errno));
	if (o->seccomp) {
		ret = seccomp_install(o->udp);
		if (ret)
			die_child(EXIT_SETUP, "cannot install the seccomp filter: %s",
				  strerror(-ret));
	}
	execvp(cmd, o->command);
	if (errno == ENOENT && !strchr(cmd, '/'))
		die_child(EXIT_NOT_FOUND, "%s: command not found", cmd);
	if (errno == ENOENT)
		die_child(EXIT_NOT_FOUND, "%s: %s", cmd, strerror(errno));
	die_child(EXIT_NOT_EXEC, "cannot execute %s: %s", cmd, strerror(errno));
}

/* pid 1 of the PID namespace (--pid): forward signals, reap, exit like the command. */
static noreturn void netns_reap(pid_t command)
{
	struct signalfd_siginfo si;
	sigset_t set;
	int sfd, status;
	pid_t pid;
	size_t i;

	sigemptyset(&set);
	for (i = 0; i < ARRAY_SIZE(netns_forward_signals); i++)
		sigaddset(&set, netns_forward_signals[i]);
	sigaddset(&set, SIGCHLD);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		kill(command, SIGKILL);
		die_child(EXIT_SETUP, "cannot create the reaper's signalfd: %s", strerror(errno));
	}
	for (;;) {
		if (read(sfd, &si, sizeof(si)) != sizeof(si)) {
			if (errno == EINTR)
				continue;
			kill(command, SIGKILL);
			die_child(EXIT_SETUP, "reaper: cannot read signals: %s", strerror(errno));
		}
		if (si.ssi_signo != SIGCHLD) {
			if (netns_should_forward((int)si.ssi_signo, si.ssi_code))
				kill(command, (int)si.ssi_signo);
			continue;
		}
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			if (pid == command)
				_exit(netns_exit_status(status));
	}
}

static noreturn void netns_child(const struct opts *o, const sigset_t *old_mask, int sock)
{
	const struct nl_sandbox nlcfg = {
		.tun_name = NL_TUN_NAME,
		.mtu = o->mtu,
		.addr4 = NL_ADDR4,
		.gateway4 = NL_GATEWAY4,
		.addr6 = NL_ADDR6,
		.gateway6 = NL_GATEWAY6,
	};
	struct netns_msg msg;
	char go, err[400];
	int tun_fd, ret;
	pid_t command;

	/* If the handler dies, the sandbox has no network left: take the command down too. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (read(sock, &go, 1) != 1)
		_exit(EXIT_SETUP); /* the parent failed or died; it reports why */

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		netns_child_fail(sock, errno, "cannot make mounts private in the sandbox: %s",
				 strerror(errno));
	if (o->new_pid && mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
		log_debug("cannot mount /proc for the PID namespace (%s); /proc shows the host's "
			  "processes",
			  strerror(errno));

	ret = tun_open(NL_TUN_NAME, &tun_fd, err, sizeof(err));
	if (ret)
		netns_child_fail(sock, -ret, "%s", err);
	ret = nl_sandbox_setup(&nlcfg, err, sizeof(err));
	if (ret)
		netns_child_fail(sock, EPERM, "cannot configure the sandbox network: %s", err);
	netns_tune_tcp(o);

	memset(&msg, 0, sizeof(msg));
	ret = tun_send_fd(sock, tun_fd, &msg, sizeof(msg));
	if (ret)
		_exit(EXIT_SETUP);
	close(tun_fd);
	close(sock);

	if (!o->new_pid)
		netns_exec(o, old_mask);
	command = fork();
	if (command < 0)
		die_child(EXIT_SETUP, "cannot fork the command in the PID namespace: %s",
			  strerror(errno));
	if (command == 0)
		netns_exec(o, old_mask);
	netns_reap(command);
}

/* Parent side ------------------------------------------------------------ */

static noreturn void netns_abort_child(pid_t pid, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static noreturn void netns_abort_child(pid_t pid, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	die(EXIT_SETUP, "%s", text);
}

/**
 * netns_spawn() - Create the sandbox and start the command in it
 * @o:        options (command, MTU, --pid, seccomp, kept fds)
 * @old_mask: signal mask to restore in the command (see netns_signals_block())
 * @sb:       receives the child's pid and the tun fd
 *
 * Setup failures are reported with a hint and end the program (exit 125),
 * with the child killed and reaped first so nothing is left behind.
 *
 * Return: 0
 */
int netns_spawn(const struct opts *o, const sigset_t *old_mask, struct netns_sandbox *sb)
{
	unsigned long flags = CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS;
	char hint[512], err[128];
	struct netns_msg msg;
	int sv[2], tun_fd, ret;
	ssize_t n;
	pid_t pid;

	if (o->new_pid)
		flags |= CLONE_NEWPID;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		die(EXIT_SETUP, "cannot create a socketpair: %s", strerror(errno));
	fflush(NULL);
	pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0) {
		ret = errno;
		netns_userns_hint("/proc/sys", ret, hint, sizeof(hint));
		die(EXIT_SETUP, "cannot create user namespace: %s%s", strerror(ret), hint);
	}
	if (pid == 0) {
		close(sv[0]);
		netns_child(o, old_mask, sv[1]);
	}
	close(sv[1]);

	ret = netns_write_maps(pid, err, sizeof(err));
	if (ret) {
		netns_userns_hint("/proc/sys", -ret, hint, sizeof(hint));
		netns_abort_child(pid, "cannot set up the user namespace: %s: %s%s", err,
				  strerror(-ret), hint);
	}
	if (send(sv[0], "g", 1, MSG_NOSIGNAL) != 1)
		netns_abort_child(pid, "cannot start the sandbox: %s", strerror(errno));

	n = tun_recv_fd(sv[0], &msg, sizeof(msg), &tun_fd);
	close(sv[0]);
	if (n < 0)
		netns_abort_child(pid, "cannot receive the tun device: %s", strerror((int)-n));
	if (n != (ssize_t)sizeof(msg))
		netns_abort_child(pid, "the sandbox setup ended unexpectedly");
	msg.text[sizeof(msg.text) - 1] = '\0';
	if (msg.err) {
		if (tun_fd >= 0)
			close(tun_fd);
		netns_abort_child(pid, "%s", msg.text);
	}
	if (tun_fd < 0)
		netns_abort_child(pid, "the sandbox sent no tun device");
	sb->pid = pid;
	sb->tun_fd = tun_fd;
	return 0;
}
