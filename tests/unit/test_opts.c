// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for opts.c: command line and environment parsing. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "pmsocks-ns/opts.h"

static struct opts o;
static char err[256];
static char *args[16]; /* outlives each PARSE(): o.command points into it */

static int parse(char *const *argv, size_t argc)
{
	size_t i;

	cr_assert_lt(argc, sizeof(args) / sizeof(args[0]));
	for (i = 0; i < argc; i++)
		args[i] = argv[i];
	args[argc] = NULL;
	return opts_parse(&o, (int)argc, args, err, sizeof(err));
}

#define PARSE(...)                                   \
	parse((char *[]){"pmsocks-ns", __VA_ARGS__}, \
	      sizeof((char *[]){"pmsocks-ns", __VA_ARGS__}) / sizeof(char *))

static void no_env(void)
{
	unsetenv("SOCKS_DEBUG");
	unsetenv("PMCD_CONNECT_TIMEOUT");
}

TestSuite(opts, .init = no_env);

Test(opts, defaults)
{
	cr_assert_eq(PARSE("true"), 0, "%s", err);
	cr_assert_eq(o.mtu, 65520);
	cr_assert(o.seccomp);
	cr_assert_eq(o.udp, UDP_BLOCK);
	cr_assert(!o.new_pid);
	cr_assert_eq(o.n_keep_fds, 0);
	cr_assert_eq(o.log_level, LOG_LEVEL_WARN);
	cr_assert_str_eq(o.command[0], "true");
	cr_assert_null(o.command[1]);
}

Test(opts, command_options_are_not_ours)
{
	cr_assert_eq(PARSE("--pid", "ls", "-l", "--mtu", "x"), 0, "%s", err);
	cr_assert(o.new_pid);
	cr_assert_str_eq(o.command[0], "ls");
	cr_assert_str_eq(o.command[1], "-l");
	cr_assert_str_eq(o.command[2], "--mtu");
	cr_assert_eq(o.mtu, 65520);
}

Test(opts, double_dash_ends_options)
{
	cr_assert_eq(PARSE("--", "--pid"), 0, "%s", err);
	cr_assert(!o.new_pid);
	cr_assert_str_eq(o.command[0], "--pid");
}

Test(opts, mtu_bounds)
{
	cr_assert_eq(PARSE("--mtu", "1280", "true"), 0, "%s", err);
	cr_assert_eq(o.mtu, 1280);
	cr_assert_eq(PARSE("--mtu=65535", "true"), 0, "%s", err);
	cr_assert_eq(o.mtu, 65535);
	cr_assert_eq(PARSE("--mtu", "1279", "true"), -EINVAL);
	cr_assert_str_eq(err, "--mtu: '1279' is not a number from 1280 to 65535");
	cr_assert_eq(PARSE("--mtu", "65536", "true"), -EINVAL);
	cr_assert_eq(PARSE("--mtu", "15x", "true"), -EINVAL);
	cr_assert_eq(PARSE("--mtu", "-1500", "true"), -EINVAL);
	cr_assert_eq(PARSE("--mtu", "", "true"), -EINVAL);
}

Test(opts, udp_modes)
{
	cr_assert_eq(PARSE("--udp=dns", "true"), 0, "%s", err);
	cr_assert_eq(o.udp, UDP_DNS);
	cr_assert_eq(PARSE("--udp", "block", "true"), 0, "%s", err);
	cr_assert_eq(o.udp, UDP_BLOCK);
	cr_assert_eq(PARSE("--udp=allow", "true"), -EINVAL);
	cr_assert_str_eq(err, "--udp: unknown mode 'allow' (expected block or dns)");
}

Test(opts, no_seccomp)
{
	cr_assert_eq(PARSE("--no-seccomp", "true"), 0, "%s", err);
	cr_assert(!o.seccomp);
}

Test(opts, keep_fd)
{
	int fd = open("/dev/null", O_RDONLY);
	char num[16];

	cr_assert_geq(fd, 3);
	snprintf(num, sizeof(num), "%d", fd);
	cr_assert_eq(PARSE("--keep-fd", num, "--keep-fd", num, "true"), 0, "%s", err);
	cr_assert_eq(o.n_keep_fds, 1, "a repeated fd is kept once");
	cr_assert_eq(o.keep_fds[0], fd);
	close(fd);
	cr_assert_eq(PARSE("--keep-fd", num, "true"), -EINVAL);
	cr_assert(strstr(err, "is not open"), "%s", err);
	cr_assert_eq(PARSE("--keep-fd", "2", "true"), -EINVAL);
	cr_assert(strstr(err, ">= 3"), "%s", err);
	cr_assert_eq(PARSE("--keep-fd", "abc", "true"), -EINVAL);
}

Test(opts, errors)
{
	cr_assert_eq(PARSE("--bogus", "true"), -EINVAL);
	cr_assert_str_eq(err, "unknown option '--bogus'");
	cr_assert_eq(PARSE("-x", "true"), -EINVAL);
	cr_assert_str_eq(err, "unknown option '-x'");
	cr_assert_eq(PARSE("--mtu"), -EINVAL);
	cr_assert_str_eq(err, "option '--mtu' needs an argument");
	cr_assert_eq(PARSE("--pid"), -EINVAL);
	cr_assert_str_eq(err, "no command given");
}

Test(opts, help_and_version)
{
	cr_assert_eq(PARSE("--help"), OPTS_HELP);
	cr_assert_eq(PARSE("-h", "true"), OPTS_HELP);
	cr_assert_eq(PARSE("--version"), OPTS_VERSION);
}

Test(opts, verbosity)
{
	cr_assert_eq(PARSE("-v", "true"), 0, "%s", err);
	cr_assert_eq(o.log_level, LOG_LEVEL_INFO);
	cr_assert_eq(PARSE("-vv", "true"), 0, "%s", err);
	cr_assert_eq(o.log_level, LOG_LEVEL_DEBUG);
	setenv("SOCKS_DEBUG", "1", 1);
	cr_assert_eq(PARSE("true"), 0, "%s", err);
	cr_assert_eq(o.log_level, LOG_LEVEL_DEBUG);
	setenv("SOCKS_DEBUG", "", 1);
	cr_assert_eq(PARSE("true"), 0, "%s", err);
	cr_assert_eq(o.log_level, LOG_LEVEL_WARN);
}

Test(opts, connect_timeout)
{
	unsetenv("PMCD_CONNECT_TIMEOUT");
	cr_assert_eq(PARSE("true"), 0, "%s", err);
	cr_assert_eq(o.connect_timeout_ms, 5000, "default 5 s");
	cr_assert_eq(PARSE("--connect-timeout", "0.5", "true"), 0, "%s", err);
	cr_assert_eq(o.connect_timeout_ms, 500);
	cr_assert_eq(PARSE("--connect-timeout=12", "true"), 0, "%s", err);
	cr_assert_eq(o.connect_timeout_ms, 12000);
	cr_assert_eq(PARSE("--connect-timeout", "0", "true"), -EINVAL);
	cr_assert_str_eq(err, "--connect-timeout: '0' is not a number of seconds above 0 and up to "
			      "3600");
	cr_assert_eq(PARSE("--connect-timeout", "-1", "true"), -EINVAL);
	cr_assert_eq(PARSE("--connect-timeout", "5s", "true"), -EINVAL);
	cr_assert_eq(PARSE("--connect-timeout", "nan", "true"), -EINVAL);
	cr_assert_eq(PARSE("--connect-timeout", "3601", "true"), -EINVAL);

	setenv("PMCD_CONNECT_TIMEOUT", "1.5", 1);
	cr_assert_eq(PARSE("true"), 0, "%s", err);
	cr_assert_eq(o.connect_timeout_ms, 1500, "PMCD_CONNECT_TIMEOUT is read");
	cr_assert_eq(PARSE("--connect-timeout", "2", "true"), 0, "%s", err);
	cr_assert_eq(o.connect_timeout_ms, 2000, "the flag overrides the environment");
	setenv("PMCD_CONNECT_TIMEOUT", "soon", 1);
	cr_assert_eq(PARSE("true"), -EINVAL);
	cr_assert(strstr(err, "PMCD_CONNECT_TIMEOUT: 'soon'"), "%s", err);
	unsetenv("PMCD_CONNECT_TIMEOUT");
}

Test(opts, max_flows)
{
	cr_assert_eq(PARSE("true"), 0, "%s", err);
	cr_assert_eq(o.max_flows, 65536);
	cr_assert_eq(PARSE("--max-flows", "10", "true"), 0, "%s", err);
	cr_assert_eq(o.max_flows, 10);
	cr_assert_eq(PARSE("--max-flows", "0", "true"), -EINVAL);
	cr_assert_str_eq(err, "--max-flows: '0' is not a number from 1 to 4194304");
	cr_assert_eq(PARSE("--max-flows", "4194305", "true"), -EINVAL);
}

Test(opts, busy_poll)
{
	cr_assert_eq(PARSE("true"), 0, "%s", err);
	cr_assert_eq(o.busy_poll_us, 50);
	cr_assert_eq(PARSE("--busy-poll", "0", "true"), 0, "%s", err);
	cr_assert_eq(o.busy_poll_us, 0);
	cr_assert_eq(PARSE("--busy-poll=1000000", "true"), 0, "%s", err);
	cr_assert_eq(o.busy_poll_us, 1000000);
	cr_assert_eq(PARSE("--busy-poll", "1000001", "true"), -EINVAL);
	cr_assert_eq(PARSE("--busy-poll", "-1", "true"), -EINVAL);
	cr_assert_str_eq(err,
			 "--busy-poll: '-1' is not a number of microseconds from 0 to 1000000");
}

Test(opts, rule_file_and_socks_settings)
{
	unsetenv("PMSOCKS_NS_CONF");
	unsetenv("SOCKS_SERVER");
	unsetenv("SOCKS_PORT");
	unsetenv("SOCKS_USERNAME");
	unsetenv("SOCKS_PASSWORD");
	cr_assert_eq(PARSE("true"), 0, "%s", err);
	cr_assert_str_eq(o.config, "/etc/pmsocks-ns.conf");
	cr_assert_null(o.socks_server);
	cr_assert_eq(o.socks_port, 1080);

	setenv("PMSOCKS_NS_CONF", "/tmp/env.conf", 1);
	cr_assert_eq(PARSE("true"), 0, "%s", err);
	cr_assert_str_eq(o.config, "/tmp/env.conf");
	cr_assert_eq(PARSE("-c", "/tmp/flag.conf", "true"), 0, "%s", err);
	cr_assert_str_eq(o.config, "/tmp/flag.conf", "-c overrides PMSOCKS_NS_CONF");
	cr_assert_eq(PARSE("--tsocks-conf", "/tmp/t.conf", "true"), 0, "%s", err);
	cr_assert_null(o.config, "a tsocks.conf replaces the rule file");
	cr_assert_str_eq(o.tsocks_conf, "/tmp/t.conf");
	cr_assert_eq(PARSE("-c", "a", "--tsocks-conf", "b", "true"), -EINVAL);
	cr_assert_str_eq(err, "-c and --tsocks-conf exclude each other");
	unsetenv("PMSOCKS_NS_CONF");

	cr_assert_eq(PARSE("--check"), 0, "%s", err);
	cr_assert(o.check);
	cr_assert_null(o.command, "--check needs no command");
	cr_assert_eq(PARSE("--check", "true"), -EINVAL);

	setenv("SOCKS_SERVER", "fw:1081", 1);
	setenv("SOCKS_PORT", "1090", 1);
	cr_assert_eq(PARSE("true"), 0, "%s", err);
	cr_assert_str_eq(o.socks_server, "fw:1081");
	cr_assert_eq(o.socks_port, 1090);
	cr_assert_eq(PARSE("--socks-server", "[fd42::2]:1080", "true"), 0, "%s", err);
	cr_assert_str_eq(o.socks_server, "[fd42::2]:1080", "the flag overrides SOCKS_SERVER");
	setenv("SOCKS_PORT", "99999", 1);
	cr_assert_eq(PARSE("true"), -EINVAL);
	cr_assert_str_eq(err, "SOCKS_PORT: '99999' is not a port number (1-65535)");
	unsetenv("SOCKS_PORT");
	unsetenv("SOCKS_SERVER");

	setenv("SOCKS_USERNAME", "alice", 1);
	cr_assert_eq(PARSE("true"), -EINVAL, "a user name needs a password");
	setenv("SOCKS_PASSWORD", "secret", 1);
	cr_assert_eq(PARSE("true"), 0, "%s", err);
	cr_assert_str_eq(o.socks_user, "alice");
	cr_assert_str_eq(o.socks_pass, "secret");
	cr_assert_eq(PARSE("--socks-user", "bob", "true"), 0, "%s", err);
	cr_assert_str_eq(o.socks_user, "bob");
	unsetenv("SOCKS_USERNAME");
	unsetenv("SOCKS_PASSWORD");
	cr_assert_eq(PARSE("--allow-rule-commands", "true"), 0, "%s", err);
	cr_assert(o.allow_rule_commands);
}
