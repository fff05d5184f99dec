// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for netns.c: exit statuses, signal forwarding, user namespace hints. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "pmsocks-ns/netns.h"

static char root[] = "/tmp/pmsocks-ns-sysctl-XXXXXX";

static void make_root(void)
{
	char path[256];

	cr_assert_not_null(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/user", root);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/kernel", root);
	mkdir(path, 0700);
}

static void set_sysctl(const char *name, const char *value)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "%s\n", value);
	fclose(f);
}

static void remove_root(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(hint, .init = make_root, .fini = remove_root);

Test(hint, max_user_namespaces_zero_is_named)
{
	char buf[512];

	set_sysctl("user/max_user_namespaces", "0");
	netns_userns_hint(root, ENOSPC, buf, sizeof(buf));
	cr_assert(strstr(buf, "user.max_user_namespaces=0"), "%s", buf);
	cr_assert(strstr(buf, "sysctl -w user.max_user_namespaces="), "%s", buf);
}

Test(hint, unprivileged_userns_clone_is_named)
{
	char buf[512];

	if (getuid() == 0) {
		remove_root(); /* .fini does not run for a skipped test */
		cr_skip_test("the sysctl only restricts unprivileged users");
	}
	set_sysctl("user/max_user_namespaces", "1000");
	set_sysctl("kernel/unprivileged_userns_clone", "0");
	netns_userns_hint(root, EPERM, buf, sizeof(buf));
	cr_assert(strstr(buf, "kernel.unprivileged_userns_clone=0"), "%s", buf);
}

Test(hint, apparmor_restriction_is_named)
{
	char buf[512];

	if (getuid() == 0) {
		remove_root(); /* .fini does not run for a skipped test */
		cr_skip_test("the sysctl only restricts unprivileged users");
	}
	set_sysctl("user/max_user_namespaces", "1000");
	set_sysctl("kernel/unprivileged_userns_clone", "1");
	set_sysctl("kernel/apparmor_restrict_unprivileged_userns", "1");
	netns_userns_hint(root, EPERM, buf, sizeof(buf));
	cr_assert(strstr(buf, "kernel.apparmor_restrict_unprivileged_userns=1"), "%s", buf);
}

Test(hint, generic_errors)
{
	char buf[512];

	set_sysctl("user/max_user_namespaces", "1000");
	netns_userns_hint(root, ENOSPC, buf, sizeof(buf));
	cr_assert(strstr(buf, "limit user.max_user_namespaces is reached"), "%s", buf);
	netns_userns_hint(root, EINVAL, buf, sizeof(buf));
	cr_assert(strstr(buf, "CONFIG_USER_NS"), "%s", buf);
	netns_userns_hint(root, EPERM, buf, sizeof(buf));
	cr_assert(strstr(buf, "refused"), "%s", buf);
	netns_userns_hint(root, EIO, buf, sizeof(buf));
	cr_assert_str_eq(buf, "");
}

Test(netns, exit_status_mapping)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid == 0)
		_exit(3);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert_eq(netns_exit_status(status), 3);

	pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert_eq(netns_exit_status(status), 128 + SIGKILL);
}

Test(netns, forwarding)
{
	cr_assert(netns_should_forward(SIGTERM, SI_USER));
	cr_assert(netns_should_forward(SIGINT, SI_USER));
	cr_assert(netns_should_forward(SIGHUP, SI_QUEUE));
	cr_assert(netns_should_forward(SIGQUIT, SI_USER));
	cr_assert(!netns_should_forward(SIGINT, SI_KERNEL), "terminal signals reach the command");
	cr_assert(!netns_should_forward(SIGUSR1, SI_USER));
	cr_assert(!netns_should_forward(SIGCHLD, SI_USER));
}
