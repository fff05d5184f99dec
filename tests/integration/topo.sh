# SPDX-License-Identifier: GPL-2.0-or-later
# Test network topology for the TCP tests and benchmarks (sourced, bash; root;
# safe under set -eu).
#
#   host netns                                  test netns pmsns-$$
#   veth pmsh$$ 198.18.0.1/24 fd42::1/64  <-->  veth pmsn$$ 198.18.0.2/24 fd42::2/64, lo
#
# Destinations (see the TOPO_* variables below):
#   TOPO_V4 / TOPO_V6                 the namespace: servers started by topo_start
#   TOPO_V4_SILENT / TOPO_V6_SILENT   198.18.0.77 / fd42::77, routed on the host via
#                                     the namespace, which neither owns nor forwards
#                                     them (forwarding off): SYNs vanish, connects
#                                     time out
#   TOPO_V4_UNREACH / TOPO_V6_UNREACH 198.18.5.5 / fd42:5::5, under the host's
#                                     unreachable routes: connect fails at once
#                                     (EHOSTUNREACH or ENETUNREACH, as the kernel says)
#
# Safety: this machine has a real default route. Before anything else,
# topo_up routes 198.18.0.0/15 and fd42::/16 to "unreachable" on the host, so
# a test that gets an address wrong fails instead of sending traffic out; the
# test subnets are more specific and win. Those two routes stay after
# teardown (scripts/test installs them too).
#
#   topo_up                     create it; teardown is trapped on EXIT (also on
#                               INT/TERM/HUP), whatever happens
#   topo_at_exit 'COMMAND'      also run COMMAND at teardown (e.g. rm -rf "$TMP")
#   topo_exec COMMAND...        run COMMAND in the namespace (foreground)
#   topo_start LOG COMMAND...   start a server in the namespace in the background,
#                               in its own process group (killed at teardown),
#                               output to LOG; sets TOPO_PID
#   topo_wait_listen PORT [S]   poll `ss -ltn` in the namespace until something
#                               listens on TCP PORT (at most S seconds, default 10)
#   topo_stop PID               stop a server started by topo_start (TERM, then KILL)
#   topo_reap PID S             wait at most S seconds for a server to exit by
#                               itself (killed after that); sets TOPO_RC
#   topo_down                   tear down now (idempotent)

TOPO_NS=pmsns-$$
TOPO_HOST_IF=pmsh$$
TOPO_NS_IF=pmsn$$
TOPO_V4_HOST=198.18.0.1
TOPO_V4=198.18.0.2
TOPO_V6_HOST=fd42::1
TOPO_V6=fd42::2
TOPO_V4_SILENT=198.18.0.77
TOPO_V6_SILENT=fd42::77
TOPO_V4_UNREACH=198.18.5.5
TOPO_V6_UNREACH=fd42:5::5
TOPO_PIDS=()
TOPO_AT_EXIT=()
TOPO_IS_UP=0

topo_log() { printf 'topo: %s\n' "$*" >&2; }

topo_at_exit() { TOPO_AT_EXIT+=("$1"); }

topo_exec() { ip netns exec "$TOPO_NS" "$@"; }

# topo_clean_stale_ns WHAT NS_REGEX HOST_IF_PREFIX: namespaces named
# NS_REGEX (ending in -PID) left by a run that was killed (SIGKILL skips
# traps) are removed with the host end of their veth, HOST_IF_PREFIX followed
# by PID: their owner process is gone. A live owner (a bash by that pid)
# means another run is active: refuse, since both would claim the same
# addresses.
topo_clean_stale_ns() {
	local ns pid
	for ns in $(ip netns list 2>/dev/null | awk -v re="$2" '$1 ~ re { print $1 }'); do
		pid=${ns##*-}
		if [ "$pid" != "$$" ] && grep -qx bash "/proc/$pid/comm" 2>/dev/null; then
			topo_log "another $1 is active ($ns, process $pid); wait for it to finish"
			return 1
		fi
		topo_log "removing stale namespace $ns"
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || :
		ip netns del "$ns" 2>/dev/null || :
		ip link del "$3$pid" 2>/dev/null || :
	done
	return 0
}

topo_clean_stale() { topo_clean_stale_ns "test topology" '^pmsns-[0-9]+$' pmsh; }

# topo_prepare WHAT: what every topology needs first: root (to create WHAT),
# teardown trapped on EXIT, INT, TERM and HUP, and the safety routes.
topo_prepare() {
	if [ "$(id -u)" -ne 0 ]; then
		topo_log "needs root (it creates $1)"
		return 1
	fi
	trap 'topo_down' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	ip route replace unreachable 198.18.0.0/15 || return 1
	ip -6 route replace unreachable fd42::/16 || return 1
}

topo_up() {
	topo_prepare "a network namespace and a veth pair" || return 1
	topo_clean_stale || return 1
	TOPO_IS_UP=1
	ip netns add "$TOPO_NS" || return 1
	ip link add "$TOPO_HOST_IF" type veth peer name "$TOPO_NS_IF" netns "$TOPO_NS" || return 1
	ip addr add "$TOPO_V4_HOST/24" dev "$TOPO_HOST_IF" &&
		ip -6 addr add "$TOPO_V6_HOST/64" dev "$TOPO_HOST_IF" nodad &&
		ip link set "$TOPO_HOST_IF" up &&
		topo_exec ip link set lo up &&
		topo_exec ip addr add "$TOPO_V4/24" dev "$TOPO_NS_IF" &&
		topo_exec ip -6 addr add "$TOPO_V6/64" dev "$TOPO_NS_IF" nodad &&
		topo_exec ip link set "$TOPO_NS_IF" up &&
		topo_exec sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0 &&
		ip route add "$TOPO_V4_SILENT/32" via "$TOPO_V4" dev "$TOPO_HOST_IF" &&
		ip -6 route add "$TOPO_V6_SILENT/128" via "$TOPO_V6" dev "$TOPO_HOST_IF" ||
		return 1
	# Both ends answer at once (nodad); wait for the links to be up.
	local i
	for ((i = 0; i < 200; i++)); do
		if ip -br link show "$TOPO_HOST_IF" | grep -q 'UP ' &&
			topo_exec ip -br link show "$TOPO_NS_IF" | grep -q 'UP '; then
			return 0
		fi
		sleep 0.05
	done
	topo_log "the veth pair did not come up"
	return 1
}

topo_start() {
	local log=$1; shift
	# Not a process group leader (no job control here), so setsid does not
	# fork: $! is the server's pid and its process group.
	setsid ip netns exec "$TOPO_NS" "$@" >"$log" 2>&1 </dev/null &
	TOPO_PID=$!
	TOPO_PIDS+=("$TOPO_PID")
}

topo_wait_listen() {
	local port=$1 limit=${2:-10} deadline
	deadline=$((SECONDS + limit))
	until [ -n "$(topo_exec ss -Hltn "sport = :$port" 2>/dev/null)" ]; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			topo_log "nothing listens on port $port after ${limit}s"
			return 1
		fi
		sleep 0.05
	done
}

# topo_gone PID: true once PID has exited (or is a zombie of this shell).
topo_gone() { ! kill -0 "$1" 2>/dev/null || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

topo_stop() {
	local pid=$1 i
	kill -TERM -- "-$pid" 2>/dev/null || :
	for ((i = 0; i < 100; i++)); do
		topo_gone "$pid" && break
		sleep 0.05
	done
	kill -KILL -- "-$pid" 2>/dev/null || :
	wait "$pid" 2>/dev/null || :
	return 0
}

topo_reap() {
	local pid=$1 deadline=$((SECONDS + $2))
	until topo_gone "$pid"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			kill -KILL -- "-$pid" 2>/dev/null || :
			break
		fi
		sleep 0.05
	done
	TOPO_RC=0
	wait "$pid" || TOPO_RC=$?
	kill -KILL -- "-$pid" 2>/dev/null || : # what the server may have left in its group
	return 0
}

topo_down() {
	local pid cmd
	for pid in "${TOPO_PIDS[@]}"; do
		topo_stop "$pid"
	done
	TOPO_PIDS=()
	if [ "$TOPO_IS_UP" = 1 ]; then
		ip netns pids "$TOPO_NS" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || :
		ip netns del "$TOPO_NS" 2>/dev/null || :
		ip link del "$TOPO_HOST_IF" 2>/dev/null || :
		TOPO_IS_UP=0
	fi
	for cmd in "${TOPO_AT_EXIT[@]}"; do
		eval "$cmd" || :
	done
	TOPO_AT_EXIT=()
}
