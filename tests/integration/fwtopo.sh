# SPDX-License-Identifier: GPL-2.0-or-later
# Firewall topology for the SOCKS tests and benchmarks (sourced after topo.sh,
# whose teardown machinery it shares; bash; root; safe under set -eu).
#
#   host netns                  firewall netns pmsfw-$$              far netns pmsfar-$$
#   pmfh$$ 198.18.30.1/24  <->  pmff$$ 198.18.30.2/24
#          fd42:30::1/64               fd42:30::2/64
#                               pmfe$$ 198.18.31.1/24         <->   pmfr$$ 198.18.31.2/24
#                                      fd42:31::1/64                       fd42:31::2/64
#
# The firewall does not forward (ip_forward=0), and the host has no route to
# 198.18.31.0/24 or fd42:31::/64: those fall under the host's safety routes
# (unreachable 198.18.0.0/15, fd42::/16), so the far host is reached only
# through a proxy in the firewall namespace (dante, started by the caller with
# fwtopo_start FWTOPO_FW ...). The far host routes everything back via the
# firewall, so servers there answer the proxy's external address.
#
# Destinations the firewall sees (FWTOPO_* below):
#   FWTOPO_FAR_V4 / _V6             the far host: servers started in FWTOPO_FAR
#   FWTOPO_SILENT_V4 / _V6          198.18.31.77 / fd42:31::77, routed by the firewall
#                                   to the far host, which neither owns nor forwards
#                                   them: SYNs vanish, connects time out
#   FWTOPO_HOSTUNREACH_V4 / _V6     198.18.31.200 / fd42:31::c8, under "unreachable"
#                                   routes in the firewall: EHOSTUNREACH at once
#   FWTOPO_NETUNREACH_V4 / _V6      198.18.33.5 / fd42:33::5, no route at all in the
#                                   firewall: ENETUNREACH at once
#
#   fwtopo_up                       create it (traps and safety routes as topo_up;
#                                   teardown is topo_down, on EXIT whatever happens)
#   fwtopo_exec NS COMMAND...       run COMMAND in NS ($FWTOPO_FW or $FWTOPO_FAR)
#   fwtopo_start NS LOG COMMAND...  start a server in NS in the background in its own
#                                   process group (stopped at teardown); sets TOPO_PID
#   fwtopo_wait_listen NS PORT [S]  poll `ss -ltn` in NS until something listens on
#                                   TCP PORT (at most S seconds, default 10)
#   fwtopo_danted LOG PORT[,PORT...] [METHOD] [EXTRA]
#                                   start dante in the firewall on each PORT (IPv4
#                                   and IPv6) with socksmethod METHOD (default none)
#                                   and EXTRA before its socks pass rule; waits until
#                                   it listens; sets TOPO_PID

FWTOPO_FW=pmsfw-$$
FWTOPO_FAR=pmsfar-$$
FWTOPO_HOST_IF=pmfh$$
FWTOPO_FW_IN_IF=pmff$$
FWTOPO_FW_OUT_IF=pmfe$$
FWTOPO_FAR_IF=pmfr$$
FWTOPO_HOST_V4=198.18.30.1
FWTOPO_HOST_V6=fd42:30::1
FWTOPO_FW_V4=198.18.30.2
FWTOPO_FW_V6=fd42:30::2
FWTOPO_FW_EXT_V4=198.18.31.1
FWTOPO_FW_EXT_V6=fd42:31::1
FWTOPO_FAR_V4=198.18.31.2
FWTOPO_FAR_V6=fd42:31::2
FWTOPO_SILENT_V4=198.18.31.77
FWTOPO_SILENT_V6=fd42:31::77
FWTOPO_HOSTUNREACH_V4=198.18.31.200
FWTOPO_HOSTUNREACH_V6=fd42:31::c8
FWTOPO_NETUNREACH_V4=198.18.33.5
FWTOPO_NETUNREACH_V6=fd42:33::5
FWTOPO_IS_UP=0
FWTOPO_DIR=

fwtopo_exec() {
	local ns=$1; shift
	ip netns exec "$ns" "$@"
}

# Namespaces left by a killed run (SIGKILL skips traps); refuse if their owner lives.
fwtopo_clean_stale() { topo_clean_stale_ns "firewall topology" '^pms(fw|far)-[0-9]+$' pmfh; }

fwtopo_down() {
	local ns
	[ "$FWTOPO_IS_UP" = 1 ] || return 0
	for ns in "$FWTOPO_FW" "$FWTOPO_FAR"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || :
		ip netns del "$ns" 2>/dev/null || :
	done
	ip link del "$FWTOPO_HOST_IF" 2>/dev/null || :
	[ -n "$FWTOPO_DIR" ] && rm -rf "$FWTOPO_DIR"
	FWTOPO_IS_UP=0
}

fwtopo_up() {
	topo_prepare "network namespaces and veth pairs" || return 1
	fwtopo_clean_stale || return 1
	FWTOPO_IS_UP=1
	topo_at_exit fwtopo_down
	FWTOPO_DIR=$(mktemp -d /tmp/pmsocks-ns-fwtopo.XXXXXX) || return 1
	local fw=(ip -n "$FWTOPO_FW") far=(ip -n "$FWTOPO_FAR")
	ip netns add "$FWTOPO_FW" && ip netns add "$FWTOPO_FAR" || return 1
	ip link add "$FWTOPO_HOST_IF" type veth peer name "$FWTOPO_FW_IN_IF" netns "$FWTOPO_FW" &&
		"${fw[@]}" link add "$FWTOPO_FW_OUT_IF" type veth peer name "$FWTOPO_FAR_IF" \
			netns "$FWTOPO_FAR" || return 1
	ip addr add "$FWTOPO_HOST_V4/24" dev "$FWTOPO_HOST_IF" &&
		ip -6 addr add "$FWTOPO_HOST_V6/64" dev "$FWTOPO_HOST_IF" nodad &&
		ip link set "$FWTOPO_HOST_IF" up &&
		"${fw[@]}" link set lo up &&
		"${fw[@]}" addr add "$FWTOPO_FW_V4/24" dev "$FWTOPO_FW_IN_IF" &&
		"${fw[@]}" -6 addr add "$FWTOPO_FW_V6/64" dev "$FWTOPO_FW_IN_IF" nodad &&
		"${fw[@]}" link set "$FWTOPO_FW_IN_IF" up &&
		"${fw[@]}" addr add "$FWTOPO_FW_EXT_V4/24" dev "$FWTOPO_FW_OUT_IF" &&
		"${fw[@]}" -6 addr add "$FWTOPO_FW_EXT_V6/64" dev "$FWTOPO_FW_OUT_IF" nodad &&
		"${fw[@]}" link set "$FWTOPO_FW_OUT_IF" up &&
		fwtopo_exec "$FWTOPO_FW" sysctl -qw net.ipv4.ip_forward=0 \
			net.ipv6.conf.all.forwarding=0 &&
		"${fw[@]}" route add "$FWTOPO_SILENT_V4/32" via "$FWTOPO_FAR_V4" &&
		"${fw[@]}" -6 route add "$FWTOPO_SILENT_V6/128" via "$FWTOPO_FAR_V6" &&
		"${fw[@]}" route add unreachable "$FWTOPO_HOSTUNREACH_V4/32" &&
		"${fw[@]}" -6 route add unreachable "$FWTOPO_HOSTUNREACH_V6/128" &&
		"${far[@]}" link set lo up &&
		"${far[@]}" addr add "$FWTOPO_FAR_V4/24" dev "$FWTOPO_FAR_IF" &&
		"${far[@]}" -6 addr add "$FWTOPO_FAR_V6/64" dev "$FWTOPO_FAR_IF" nodad &&
		"${far[@]}" link set "$FWTOPO_FAR_IF" up &&
		fwtopo_exec "$FWTOPO_FAR" sysctl -qw net.ipv4.ip_forward=0 \
			net.ipv6.conf.all.forwarding=0 &&
		"${far[@]}" route add default via "$FWTOPO_FW_EXT_V4" &&
		"${far[@]}" -6 route add default via "$FWTOPO_FW_EXT_V6" ||
		return 1
	local i
	for ((i = 0; i < 200; i++)); do
		if ip -br link show "$FWTOPO_HOST_IF" | grep -q 'UP ' &&
			"${fw[@]}" -br link show "$FWTOPO_FW_OUT_IF" | grep -q 'UP ' &&
			"${far[@]}" -br link show "$FWTOPO_FAR_IF" | grep -q 'UP '; then
			return 0
		fi
		sleep 0.05
	done
	topo_log "the veth pairs did not come up"
	return 1
}

fwtopo_start() {
	local ns=$1 log=$2
	shift 2
	# As topo_start: not a process group leader, so setsid does not fork.
	setsid ip netns exec "$ns" "$@" >"$log" 2>&1 </dev/null &
	TOPO_PID=$!
	TOPO_PIDS+=("$TOPO_PID")
}

fwtopo_wait_listen() {
	local ns=$1 port=$2 limit=${3:-10} deadline
	deadline=$((SECONDS + limit))
	until [ -n "$(fwtopo_exec "$ns" ss -Hltn "sport = :$port" 2>/dev/null)" ]; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			topo_log "nothing listens on port $port in $ns after ${limit}s"
			return 1
		fi
		sleep 0.05
	done
}

fwtopo_danted() {
	local log=$1 ports method=${3:-none} extra=${4:-} conf port
	IFS=, read -r -a ports <<<"$2"
	conf=$FWTOPO_DIR/danted-${ports[0]}.conf
	{
		echo "logoutput: stderr"
		for port in "${ports[@]}"; do
			echo "internal: $FWTOPO_FW_V4 port = $port"
			echo "internal: $FWTOPO_FW_V6 port = $port"
		done
	} >"$conf"
	cat >>"$conf" <<-EOF
		external: $FWTOPO_FW_EXT_V4
		external: $FWTOPO_FW_EXT_V6
		socksmethod: $method
		clientmethod: none
		user.privileged: root
		user.unprivileged: nobody
		client pass { from: 0/0 to: 0/0 }
		$extra
		socks pass { from: 0/0 to: 0/0 command: connect }
	EOF
	# Foreground (no -D): its process group is stopped at teardown.
	fwtopo_start "$FWTOPO_FW" "$log" danted -f "$conf" -p "$FWTOPO_DIR/danted-${ports[0]}.pid"
	for port in "${ports[@]}"; do
		fwtopo_wait_listen "$FWTOPO_FW" "$port" || return 1
	done
}
