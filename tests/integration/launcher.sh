#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# launcher.sh PMSOCKS_NS SOCKPROBE [SOCKPROBE32]
#
# End-to-end checks of the launcher with the real binary: network view inside,
# exit statuses, signal forwarding, --pid, fd hygiene, the seccomp matrix, and
# the setup errors. Run as root and as an unprivileged user (see run-as).
set -u
PMS=$1
PROBE=$2
PROBE32=${3:-}
. "$(dirname "$0")/lib.sh"
ME=$(id -un)
ROOT=0; [ "$(id -u)" -eq 0 ] && ROOT=1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
chmod 0755 "$TMP"
# pmsocks-ns needs a rule file; these tests make no connections through it.
printf 'deny 0.0.0.0/0\ndeny ::/0\n' >"$TMP/deny.conf"
chmod 0644 "$TMP/deny.conf"
export PMSOCKS_NS_CONF=$TMP/deny.conf
echo "# launcher tests as $ME (uid $(id -u))"

# --- Network view inside -----------------------------------------------------
out=$("$PMS" ip -br addr 2>&1)
t_eq "only lo and tun0 exist" "lo tun0" "$(printf '%s\n' "$out" | awk '{print $1}' | sort | xargs)"
t_match "tun0 has 10.0.2.15/24 and fd00:2::15/64" '^tun0 +[A-Z]+ +10\.0\.2\.15/24 fd00:2::15/64' "$out"
t_match "lo has 127.0.0.1/8 and ::1/128" '^lo +[A-Z]+ +127\.0\.0\.1/8 ::1/128' "$out"
out=$("$PMS" ip route 2>&1)
# The default routes' rto_min: a loss the handler's duplicate ACKs cannot
# repair costs the command 20 ms, not 200 (see nl.c).
t_eq "IPv4 routes: default via 10.0.2.2 (rto_min 20 ms) and the tun subnet" \
	"10.0.2.0/24 dev tun0 proto kernel scope link src 10.0.2.15|default via 10.0.2.2 dev tun0 proto static rto_min lock 20ms" \
	"$(printf '%s\n' "$out" | sed 's/ *$//' | sort | paste -sd '|')"
out=$("$PMS" ip -6 route 2>&1)
t_match "IPv6 default route via fd00:2::2, rto_min 20 ms" \
	'^default via fd00:2::2 dev tun0 .*rto_min lock 20ms' "$out"
t_match "IPv6 tun subnet" '^fd00:2::/64 dev tun0' "$out"
t_nomatch "no IPv6 route leaves by another device" 'dev (eth|veth|ens|enp|wl)' "$out"
# The command's send buffers stop at 1 MiB (netns.c), unless the host's stop lower.
host_wmem=$(awk '{ print $3 }' /proc/sys/net/ipv4/tcp_wmem)
t_eq "the sandbox's TCP send buffers grow to 1 MiB at most" \
	"$((host_wmem < 1048576 ? host_wmem : 1048576))" \
	"$("$PMS" cat /proc/sys/net/ipv4/tcp_wmem 2>&1 | awk '{ print $3 }')"
t_match "default MTU 65520" 'mtu 65520' "$("$PMS" ip link show tun0 2>&1)"
t_match "--mtu 1500" 'mtu 1500' "$("$PMS" --mtu 1500 ip link show tun0 2>&1)"
t_match "the IPv6 address is usable at once (no DAD)" '^ok$' \
	"$("$PMS" sh -c 'ip -6 addr show dev tun0 | grep -q tentative && echo tentative || echo ok' 2>&1)"

# --- Exit statuses ------------------------------------------------------------
"$PMS" true; t_eq "exit 0" 0 $?
"$PMS" sh -c 'exit 3'; t_eq "exit 3" 3 $?
"$PMS" sh -c 'kill -9 $$'; t_eq "killed by SIGKILL -> 137" 137 $?
printf '#!/bin/sh\necho hi\n' >"$TMP/noexec"; chmod 0644 "$TMP/noexec"
err=$("$PMS" "$TMP/noexec" 2>&1); rc=$?
t_eq "not executable -> 126" 126 "$rc"
t_match "not executable: message" "cannot execute $TMP/noexec: Permission denied" "$err"
err=$("$PMS" pmsocks-ns-no-such-command 2>&1); rc=$?
t_eq "not found -> 127" 127 "$rc"
t_match "not found: message" 'pmsocks-ns-no-such-command: command not found' "$err"
err=$("$PMS" "$TMP/missing" 2>&1); rc=$?
t_eq "missing path -> 127" 127 "$rc"
err=$("$PMS" --bogus true 2>&1); rc=$?
t_eq "bad option -> 2" 2 "$rc"
t_match "bad option: message and usage hint" "unknown option '--bogus'.*Try 'pmsocks-ns --help'" "$(echo $err)"
err=$("$PMS" --mtu 70000 true 2>&1); rc=$?
t_eq "bad --mtu -> 2" 2 "$rc"
err=$("$PMS" 2>&1); rc=$?
t_eq "no command -> 2" 2 "$rc"
out=$("$PMS" --help); rc=$?
t_eq "--help exits 0" 0 "$rc"
t_match "--help lists the options" '--keep-fd N' "$out"
t_match "--version" '^pmsocks-ns [0-9]+\.[0-9]+' "$("$PMS" --version)"

# --- Signals ------------------------------------------------------------------
for sig in TERM HUP INT QUIT; do
	t_bg_start "$TMP/sig.out" "$PMS" sh -c \
		"trap 'echo got-$sig; exit 42' $sig; echo ready; while :; do sleep 0.05; done"
	pid=$T_BG_PID
	if t_wait_for 10 grep -q ready "$TMP/sig.out"; then
		kill -s "$sig" "$pid"
		t_reap "$pid" 10; rc=$T_RC
		t_eq "SIG$sig reaches the command (its trap's exit status)" 42 "$rc"
		t_match "SIG$sig: the command's trap ran" "got-$sig" "$(cat "$TMP/sig.out")"
	else
		t_reap "$pid" 0
		t_fail "SIG$sig: command never became ready" "$(cat "$TMP/sig.out")"
	fi
done
t_bg_start "$TMP/sig.out" "$PMS" sh -c 'exec sleep 60'
pid=$T_BG_PID
t_wait_for 10 pgrep -P "$pid" -x sleep >/dev/null
kill -TERM "$pid"; t_reap "$pid" 10; rc=$T_RC
t_eq "command killed by the forwarded SIGTERM -> 143" 143 "$rc"

# --- --pid: nothing outlives the command ---------------------------------------
mark=$((1000000 + RANDOM * 32 + $$ % 32))
"$PMS" --pid sh -c "sleep $mark >/dev/null 2>&1 </dev/null &"; rc=$?
t_eq "--pid: exit status of the command" 0 "$rc"
if t_wait_for 2 sh -c "! pgrep -f '^sleep $mark\$' >/dev/null"; then
	t_pass "--pid: no background child survives"
else
	t_fail "--pid: background child survived" "$(pgrep -af "sleep $mark")"
	pkill -f "^sleep $mark\$"
fi
"$PMS" sh -c "sleep $mark >/dev/null 2>&1 </dev/null &"
if pgrep -f "^sleep $mark\$" >/dev/null; then
	t_pass "without --pid the background child does survive (the check above can fail)"
	pkill -f "^sleep $mark\$"
else
	t_fail "without --pid the background child should survive"
fi
t_eq "--pid: the command is pid 2 under the reaper" 2 "$("$PMS" --pid sh -c 'echo $$')"
"$PMS" --pid sh -c 'exit 5'; t_eq "--pid: exit 5" 5 $?
"$PMS" --pid sh -c 'kill -9 $$'; t_eq "--pid: killed by SIGKILL -> 137" 137 $?
t_bg_start "$TMP/sig.out" "$PMS" --pid sh -c \
	"trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done"
pid=$T_BG_PID
t_wait_for 10 grep -q ready "$TMP/sig.out"
kill -TERM "$pid"; t_reap "$pid" 10; rc=$T_RC
t_eq "--pid: SIGTERM reaches the command through the reaper" 42 "$rc"

# --- File descriptors -----------------------------------------------------------
t_eq "only 0 1 2 are open inside" "0 1 2" "$("$PMS" "$PROBE" fds 3</dev/null 5</dev/null)"
exec 7</dev/null 8</dev/null
t_eq "--keep-fd 7 keeps exactly fd 7" "0 1 2 7" "$("$PMS" --keep-fd 7 "$PROBE" fds)"
t_eq "--keep-fd 8 --keep-fd 7" "0 1 2 7 8" "$("$PMS" --keep-fd 8 --keep-fd 7 "$PROBE" fds)"
exec 7<&- 8<&-
t_eq "--keep-fd of a closed fd -> 2" 2 "$("$PMS" --keep-fd 9 true 2>/dev/null; echo $?)"
exec 7>"$TMP/kept"
"$PMS" --keep-fd 7 sh -c 'echo through-fd-7 >&7'
exec 7>&-
t_eq "a kept fd is usable by the command" "through-fd-7" "$(cat "$TMP/kept")"

# --- seccomp matrix -------------------------------------------------------------
probe() { "$PMS" "$@" 2>&1 | grep -v '^pmsocks-ns: warning: --no-seccomp'; }
t_eq "UDP/IPv4 -> EPERM" EPERM "$(probe "$PROBE" socket inet dgram)"
t_eq "UDP/IPv6 -> EPERM" EPERM "$(probe "$PROBE" socket inet6 dgram)"
t_eq "UDP with SOCK_NONBLOCK -> EPERM" EPERM "$(probe "$PROBE" socket inet dgram nonblock)"
t_eq "UDP with SOCK_CLOEXEC -> EPERM" EPERM "$(probe "$PROBE" socket inet6 dgram cloexec)"
t_eq "UDP with high bits set in the arguments -> EPERM" EPERM "$(probe "$PROBE" highbits inet dgram)"
t_eq "UDP through the x32 ABI -> EPERM" EPERM "$(probe "$PROBE" x32 inet dgram)"
t_eq "raw IPv4 -> EPERM" EPERM "$(probe "$PROBE" socket inet raw)"
t_eq "raw IPv6 -> EPERM" EPERM "$(probe "$PROBE" socket inet6 raw)"
t_eq "AF_INET/SOCK_PACKET -> EPERM" EPERM "$(probe "$PROBE" socket inet packet)"
t_eq "AF_PACKET raw -> EPERM" EPERM "$(probe "$PROBE" socket packet raw)"
t_eq "AF_PACKET dgram -> EPERM" EPERM "$(probe "$PROBE" socket packet dgram)"
t_eq "io_uring_setup -> ENOSYS" ENOSYS "$(probe "$PROBE" io_uring)"
t_eq "TCP/IPv4 allowed" ok "$(probe "$PROBE" socket inet stream)"
t_eq "TCP/IPv6 allowed" ok "$(probe "$PROBE" socket inet6 stream nonblock)"
t_eq "AF_UNIX stream allowed" ok "$(probe "$PROBE" socket unix stream)"
t_eq "AF_UNIX dgram allowed" ok "$(probe "$PROBE" socket unix dgram)"
t_eq "AF_NETLINK allowed" ok "$(probe "$PROBE" socket netlink raw)"
t_eq "--udp=dns: UDP allowed" ok "$(probe --udp=dns "$PROBE" socket inet dgram)"
t_eq "--udp=dns: UDP/IPv6 allowed" ok "$(probe --udp=dns "$PROBE" socket inet6 dgram)"
t_eq "--udp=dns: raw still EPERM" EPERM "$(probe --udp=dns "$PROBE" socket inet raw)"
t_eq "--udp=dns: io_uring still ENOSYS" ENOSYS "$(probe --udp=dns "$PROBE" io_uring)"
out=$("$PMS" --no-seccomp "$PROBE" socket inet dgram 2>"$TMP/nsc.err")
t_eq "--no-seccomp: UDP allowed" ok "$out"
t_match "--no-seccomp warns loudly" 'warning: --no-seccomp' "$(cat "$TMP/nsc.err")"
t_eq "--no-seccomp: io_uring_setup reaches the kernel" ok "$(probe --no-seccomp "$PROBE" io_uring)"
if [ "$ROOT" = 1 ]; then
	# Root's command holds CAP_NET_RAW in its own namespaces: only the filter stops it.
	t_eq "--no-seccomp as root: raw IPv4 allowed (so EPERM above is the filter)" ok \
		"$(probe --no-seccomp "$PROBE" socket inet raw)"
fi
t_match "the filter is in force in the command" 'Seccomp:[[:space:]]+2' "$("$PMS" cat /proc/self/status)"
t_match "no_new_privs is set in the command" 'NoNewPrivs:[[:space:]]+1' "$("$PMS" cat /proc/self/status)"
t_match "the command has no effective capabilities unless root" \
	"$([ "$ROOT" = 1 ] && echo 'CapEff:[[:space:]]+000001ffffffffff' || echo 'CapEff:[[:space:]]+0+$')" \
	"$("$PMS" cat /proc/self/status)"
# Some kernels cannot run i386 binaries at all (no IA32 emulation, or a
# hypervisor without compat mode, seen on a PVM guest): then no command can
# use that ABI, and there is nothing to check. Outside the sandbox the probe
# says "ok"; a shell's exec error means the kernel refused the binary.
if [ -z "$PROBE32" ]; then
	t_skip "i386 seccomp checks" "gcc -m32 -static could not build the 32-bit probe (install gcc-multilib)"
elif i386_exec=$("$PROBE32" socket inet stream 2>&1); [ "$i386_exec" != ok ]; then
	t_skip "i386 seccomp checks" "this kernel does not run i386 binaries: $(printf '%s' "$i386_exec" | head -n 1)"
else
	t_eq "i386: socketcall -> ENOSYS" ENOSYS "$(probe "$PROBE32" socketcall inet stream)"
	t_eq "i386: socket UDP -> EPERM" EPERM "$(probe "$PROBE32" socket inet dgram)"
	t_eq "i386: socket raw -> EPERM" EPERM "$(probe "$PROBE32" socket inet raw)"
	t_eq "i386: io_uring_setup -> ENOSYS" ENOSYS "$(probe "$PROBE32" io_uring)"
	t_eq "i386: socket TCP allowed" ok "$(probe "$PROBE32" socket inet stream)"
	t_eq "i386 without filter: socketcall works" ok "$(probe --no-seccomp "$PROBE32" socketcall inet stream)"
fi

# --- Setup errors ------------------------------------------------------------------
leftover() { pgrep -f "$1" >/dev/null; }
mark=errmark$$
# user.max_user_namespaces is per user namespace: set it to 0 in a nested one,
# which needs no privilege, and run pmsocks-ns there.
err=$(unshare -Ur sh -c "echo 0 >/proc/sys/user/max_user_namespaces && exec '$PMS' true $mark" 2>&1); rc=$?
t_eq "user namespaces disabled -> 125" 125 "$rc"
t_match "user namespaces disabled: the sysctl is named with a fix" \
	"cannot create user namespace: No space left on device \(hint: user\.max_user_namespaces=0 on this system.*sysctl -w user\.max_user_namespaces=" "$err"
leftover "$mark" && t_fail "userns: a process was left behind" || t_pass "userns: nothing left behind"
# No /dev/net/tun: hide it under a tmpfs in a nested mount namespace.
err=$(unshare -Urm sh -c "mount -t tmpfs none /dev/net && exec '$PMS' true $mark" 2>&1); rc=$?
t_eq "no /dev/net/tun -> 125" 125 "$rc"
t_match "no /dev/net/tun: explains" 'cannot open /dev/net/tun: No such file or directory \(hint: load the tun module' "$err"
leftover "$mark" && t_fail "no tun: a process was left behind" || t_pass "no tun: nothing left behind"
if [ "$ROOT" = 1 ]; then
	user=${PMSOCKS_NS_TEST_USER:-pmtest}
	id "$user" >/dev/null 2>&1 || useradd -m "$user"
	cp "$PMS" "$TMP/pmsocks-ns"; chmod 0755 "$TMP" "$TMP/pmsocks-ns"

	mode=$(stat -c %a /dev/net/tun)
	chmod 0600 /dev/net/tun
	err=$(runuser -u "$user" -- "$TMP/pmsocks-ns" true "$mark" 2>&1); rc=$?
	chmod "$mode" /dev/net/tun
	t_eq "tun 0600, unprivileged -> 125" 125 "$rc"
	t_match "tun 0600: explains and says what to do" \
		"cannot open /dev/net/tun: Permission denied \(hint: it is mode 0600 here; distributions ship it 0666.*chmod 0666 /dev/net/tun" "$err"
	leftover "$mark" && t_fail "tun 0600: a process was left behind" || t_pass "tun 0600: nothing left behind"

	t_eq "the host still has its own /dev/net/tun mode" "$mode" "$(stat -c %a /dev/net/tun)"
else
	t_skip "tun mode 0600 check" "it changes /dev/net/tun's mode, so it runs in the root variant"
fi

t_summary
