#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# socks.sh root|user PMSOCKS_NS HELPER_DIR
#
# End-to-end checks of the rule file and the SOCKS client against real
# servers: dante's danted in a firewall namespace between this host and a far
# network the host cannot reach (fwtopo.sh), IPv4 and IPv6:
#
#   - direct, sockd and deny chosen by rule and port; no way past the firewall
#     without pmsocks-ns
#   - SOCKS4 and SOCKS5, without and with RFC 1929 user name and password
#     (a second danted with socksmethod username, against a test account)
#   - @= failover past a server that is down or refuses, and all servers down
#   - what connect() returns for each failure behind the server (REP 05, 02,
#     04, 03, silence) and the log line naming the hop
#   - PCP end to end: pmval through danted to a pmcd on the far host
#   - a statically linked client (busybox wget) fetching a file over HTTP
#   - SIGHUP: new rules for new connections, open ones untouched, a broken
#     file keeps the rules in force
#   - --check, rule file errors, --tsocks-conf
#   - no fd left behind by connections that end every way through the server
#
# Runs as root (exit 77 otherwise): it creates the namespaces, starts the
# servers and sets a random password on the SOCKS test account
# (PMSOCKS_NS_TEST_SOCKS_USER, default pmsockuser, created if missing, no
# login shell, locked again at the end). The clients run as root or as the
# unprivileged test user (PMSOCKS_NS_TEST_USER, default pmtest). Each client
# run has its own time limit, all together PMSOCKS_NS_TEST_BUDGET seconds
# (default 150); a healthy run takes under a minute.
set -u
if [ $# -ne 3 ] || { [ "$1" != root ] && [ "$1" != user ]; }; then
	echo "usage: socks.sh root|user PMSOCKS_NS HELPER_DIR" >&2
	exit 2
fi
who=$1
PMS=$2
HELPERS=$3
BUDGET_END=$((SECONDS + ${PMSOCKS_NS_TEST_BUDGET:-150}))
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/topo.sh"
. "$here/fwtopo.sh"
unset PMCD_CONNECT_TIMEOUT SOCKS_SERVER SOCKS_PORT SOCKS_USERNAME SOCKS_PASSWORD SOCKS_DEBUG \
	SOCKS_BANNER PMSOCKS_NS_CONF

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: socks.sh needs root (it creates test network namespaces and runs danted);" \
		"the client runs as the unprivileged user in the 'user' variant"
	exit 77
fi
for tool in danted socat ss timeout setsid chpasswd; do
	command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (scripts/setup)"; exit 1; }
done
PMCD=/usr/lib/pcp/bin/pmcd
have_pcp=0
[ -x "$PMCD" ] && command -v pmval >/dev/null && have_pcp=1
BUSYBOX=$(command -v busybox || true)

# The client's binaries and rule files go where the test user can read them.
TMP=$(mktemp -d /tmp/pmsocks-ns-socks.XXXXXX)
chmod 0755 "$TMP"
for f in "$PMS" "$HELPERS"/{connprobe,blast,echoload}; do
	if ! cp "$f" "$TMP/"; then
		echo "FAIL: $f is missing (build first)"
		rm -rf "$TMP"
		exit 1
	fi
done
cp "$here/../../policy/pmsocks-ns.conf" "$TMP/policy.conf"
chmod 0755 "$TMP/${PMS##*/}" "$TMP/connprobe" "$TMP/blast" "$TMP/echoload"
chmod 0644 "$TMP/policy.conf"
AS=()
if [ "$who" = user ]; then
	user=${PMSOCKS_NS_TEST_USER:-pmtest}
	if ! id "$user" >/dev/null 2>&1; then
		useradd -m "$user" || { echo "FAIL: cannot create test user $user"; rm -rf "$TMP"; exit 1; }
	fi
	AS=(runuser -u "$user" --)
fi

if ! fwtopo_up; then
	echo "FAIL: could not set up the test topology"
	rm -rf "$TMP"
	exit 1
fi
topo_at_exit "rm -rf '$TMP'"
echo "# socks tests: client as $([ "$who" = user ] && echo "${AS[2]}" || echo root)," \
	"namespaces $FWTOPO_FW (danted) and $FWTOPO_FAR (far host)"

# The account danted's username method checks (the system password database).
SOCKS_USER=${PMSOCKS_NS_TEST_SOCKS_USER:-pmsockuser}
SOCKS_PASS=pw-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
if ! id "$SOCKS_USER" >/dev/null 2>&1; then
	useradd -M -s /usr/sbin/nologin "$SOCKS_USER" ||
		{ echo "FAIL: cannot create the SOCKS test account $SOCKS_USER"; exit 1; }
fi
printf '%s:%s\n' "$SOCKS_USER" "$SOCKS_PASS" | chpasswd ||
	{ echo "FAIL: cannot set the password of $SOCKS_USER"; exit 1; }
topo_at_exit "usermod -L '$SOCKS_USER' >/dev/null 2>&1"

# client LIMIT_S [VAR=VALUE...] COMMAND...: COMMAND as the client (root or the
# test user) in pmsocks-ns with PMS_OPTS, killed after LIMIT_S seconds;
# pmsocks-ns's log (stderr) goes to $TMP/log.
PMS_OPTS=()
client() {
	local limit envs=()
	limit=$(budget "$1")
	[ "$limit" -gt 0 ] || return 124
	shift
	while [ $# -gt 0 ] && [[ $1 == [A-Za-z_]*=* ]]; do
		envs+=("$1")
		shift
	done
	"${AS[@]}" env "${envs[@]}" timeout -k 5 "$limit" "$TMP/${PMS##*/}" "${PMS_OPTS[@]}" "$@" \
		2>"$TMP/log"
	local rc=$?
	cat "$TMP/log" >>"$TMP/all.log"
	return "$rc"
}

# rules NAME LINE...: write a rule file the client can read; prints its path.
rules() {
	local f=$TMP/$1
	shift
	printf '%s\n' "$@" >"$f"
	chmod 0644 "$f"
	echo "$f"
}

log() { cat "$TMP/log" 2>/dev/null; }

# re TEXT: TEXT as an extended regular expression matching it literally.
re() { printf '%s' "$1" | sed 's/[][\\.*^$+?(){}|]/\\&/g'; }

FW4=$FWTOPO_FW_V4
FW6=$FWTOPO_FW_V6
FAR4=$FWTOPO_FAR_V4
FAR6=$FWTOPO_FAR_V6
NET_FW4=198.18.30.0/24
NET_FAR4=198.18.31.0/24
SOCKD4="$FW4:1080"
SOCKD6="[$FW6]:1080"

# --- Servers ------------------------------------------------------------------
# danted on 1080 (no authentication; blocks port 13 of the far host by its own
# ruleset) and on 1081 (user name and password), on both address families.
fwtopo_danted "$TMP/danted.log" 1080 none \
	"socks block { from: 0/0 to: $FAR4/32 port = 13 log: connect error }" ||
	{ echo "FAIL: danted did not start: $(tail -n 5 "$TMP/danted.log")"; exit 1; }
fwtopo_danted "$TMP/danted-auth.log" 1081 username ||
	{ echo "FAIL: danted (username) did not start: $(tail -n 5 "$TMP/danted-auth.log")"; exit 1; }
# Far host: echo servers (7000 and 7001; 7 for the deny rule, 13 for danted's
# block, so neither refusal is a closed port), a server that answers with the
# address it was connected from (8001), an HTTP server (8080) and pmcd (44321).
# Firewall, inner side: the same peer reporter (8002), reached directly.
peer_cmd='SYSTEM:echo $SOCAT_PEERADDR'
fwtopo_start "$FWTOPO_FAR" "$TMP/echosrv.log" "$HELPERS/echosrv" 7000
fwtopo_start "$FWTOPO_FAR" "$TMP/echosrv2.log" "$HELPERS/echosrv" 7001
fwtopo_start "$FWTOPO_FAR" "$TMP/echosrv7.log" "$HELPERS/echosrv" 7
fwtopo_start "$FWTOPO_FAR" "$TMP/echosrv13.log" "$HELPERS/echosrv" 13
fwtopo_start "$FWTOPO_FAR" "$TMP/peer4.log" socat TCP4-LISTEN:8001,fork,reuseaddr "$peer_cmd"
fwtopo_start "$FWTOPO_FAR" "$TMP/peer6.log" socat TCP6-LISTEN:8001,ipv6only=1,fork,reuseaddr \
	"$peer_cmd"
fwtopo_start "$FWTOPO_FW" "$TMP/peerfw.log" socat "TCP4-LISTEN:8002,bind=$FW4,fork,reuseaddr" \
	"$peer_cmd"
ports=(7000 7001 7 13 8001)
if [ -n "$BUSYBOX" ]; then
	mkdir -p "$TMP/www"
	"$HELPERS/blast" 6M 77 >"$TMP/www/blob"
	fwtopo_start "$FWTOPO_FAR" "$TMP/httpd.log" "$BUSYBOX" httpd -f -p 8080 -h "$TMP/www"
	ports+=(8080)
fi
if [ "$have_pcp" = 1 ]; then
	# pmcd with its own socket, runtime and log directories and only the PMDAs
	# kernel.all.load needs, so it shares nothing with a pmcd of the host.
	pcp=$TMP/pcp
	mkdir -p "$pcp/log/pmcd"
	cat >"$pcp/pmcd.conf" <<-'EOF'
		pmcd	2	dso	pmcd_init	/var/lib/pcp/pmdas/pmcd/pmda_pmcd.so
		linux	60	pipe	binary		/var/lib/pcp/pmdas/linux/pmdalinux
	EOF
	# (in its own directory: its agents write their logs in the working directory)
	fwtopo_start "$FWTOPO_FAR" "$pcp/pmcd.out" env -C "$pcp" PCP_RUN_DIR="$pcp" \
		PCP_TMP_DIR="$pcp" PCP_LOG_DIR="$pcp/log" "$PMCD" -f -A -c "$pcp/pmcd.conf" \
		-s "$pcp/pmcd.socket" -l "$pcp/pmcd.log" -x "$pcp/pmcd.fatal"
	ports+=(44321)
fi
for port in "${ports[@]}"; do
	fwtopo_wait_listen "$FWTOPO_FAR" "$port" ||
		{ echo "FAIL: test server on port $port did not start"; exit 1; }
done
fwtopo_wait_listen "$FWTOPO_FW" 8002 || { echo "FAIL: test server on port 8002 did not start"; exit 1; }

# The rule file most checks use.
MAIN=$(rules main.conf \
	"direct $NET_FW4" \
	"deny $NET_FAR4 eq 7" \
	"sockd @=$FW4 $NET_FAR4" \
	"sockd @=$FW4 198.18.33.0/24" \
	"sockd @=[$FW6] fd42:31::/64" \
	"sockd @=[$FW6] fd42:33::/64")

# --- Direct, sockd, deny ------------------------------------------------------
echo "# direct, sockd and deny by rule and port"
PMS_OPTS=(-v -c "$MAIN")
out=$(client 15 socat -u "TCP4:$FW4:8002" -)
t_eq "direct rule: the firewall sees the host's own address" "$FWTOPO_HOST_V4" "$out"
out=$(client 15 socat -u "TCP4:$FAR4:8001" -)
t_eq "sockd rule: the far host is reached, from danted's external address" \
	"$FWTOPO_FW_EXT_V4" "$out"
out=$(client 15 socat -u "TCP6:[$FAR6]:8001" -)
t_eq "sockd rule, IPv6 server and destination: reached from danted's external address" \
	"[fd42:0031:0000:0000:0000:0000:0000:0001]" "$out"
out=$(client 15 "$TMP/connprobe" "$FAR4" 7000)
t_eq "sockd rule: connect to an open port of the far host" ok "${out%% *}"
PMS_OPTS=(-v -v -c "$MAIN")
out=$(client 15 "$TMP/connprobe" "$FAR4" 7)
t_eq "deny rule for port 7 (which listens): ECONNREFUSED" ECONNREFUSED "${out%% *}"
t_range "deny rule: at once (ms)" 0 999 "${out##* }"
t_match "deny rule: counted as denied, nothing opened" 'flows 0 opened, 1 denied' "$(log)"
PMS_OPTS=(-v -c "$MAIN")
out=$(client 15 "$TMP/connprobe" 198.18.32.1 7000)
t_eq "no rule matches: ECONNREFUSED" ECONNREFUSED "${out%% *}"
out=$(host 15 "$TMP/connprobe" "$FAR4" 7000)
t_match "without pmsocks-ns the far host is unreachable (IPv4)" '^E(HOST|NET)UNREACH ' "$out"
out=$(host 15 "$TMP/connprobe" "$FAR6" 7000)
t_match "without pmsocks-ns the far host is unreachable (IPv6)" '^E(HOST|NET)UNREACH ' "$out"
out=$(host 15 socat -u "TCP4:$FAR4:8001" - 2>&1)
t_match "without pmsocks-ns socat fails" 'No route to host|Network is unreachable' "$out"

# --- SOCKS versions and authentication ----------------------------------------
echo "# SOCKS4 and SOCKS5, with and without user name and password"
for action in sockd4 sockd5 sockd; do
	case $action in
	sockd4) want=SOCKS4 ;;
	*) want=SOCKS5 ;;
	esac
	PMS_OPTS=(-v -v -c "$(rules "$action.conf" "$action @=$FW4 $NET_FAR4")")
	out=$(client 15 "$TMP/connprobe" "$FAR4" 7000)
	t_eq "$action, no authentication: connects" ok "${out%% *}"
	t_match "$action, no authentication: through $want" "connected through $want server 0" "$(log)"
	PMS_OPTS=(-v -v -c "$(rules "$action-auth.conf" "$action @=$FW4:1081 $NET_FAR4")")
	out=$(client 15 SOCKS_USERNAME="$SOCKS_USER" SOCKS_PASSWORD="$SOCKS_PASS" \
		"$TMP/connprobe" "$FAR4" 7000)
	if [ "$action" = sockd4 ]; then
		# SOCKS4 has no passwords: danted's username method refuses it.
		t_eq "sockd4 to a server that wants a password: ECONNREFUSED" ECONNREFUSED "${out%% *}"
		t_match "sockd4 to a server that wants a password: logged (CD 91)" \
			"$FAR4:7000 via sockd $FW4:1081: .*\\(CD 91\\)" "$(log)"
		continue
	fi
	t_eq "$action, user name and password: connects" ok "${out%% *}"
	t_match "$action, user name and password: through SOCKS5" 'connected through SOCKS5' "$(log)"
	out=$(client 15 SOCKS_USERNAME="$SOCKS_USER" SOCKS_PASSWORD="wrong-$SOCKS_PASS" \
		"$TMP/connprobe" "$FAR4" 7000)
	t_eq "$action, wrong password: ECONNREFUSED" ECONNREFUSED "${out%% *}"
	t_match "$action, wrong password: the log names the server and the refused user" \
		"$FAR4:7000 via sockd $FW4:1081: SOCKS server refused user '$SOCKS_USER'" "$(log)"
	out=$(client 15 "$TMP/connprobe" "$FAR4" 7000)
	t_eq "$action, no credentials for a server that wants them: ECONNREFUSED" \
		ECONNREFUSED "${out%% *}"
	t_match "$action, no credentials: the log says to set them" \
		"via sockd $FW4:1081: SOCKS server accepts none of our authentication methods" "$(log)"
done
PMS_OPTS=(-v -c "$(rules auth6.conf "sockd5 @=[$FW6]:1081 fd42:31::/64")")
out=$(client 15 SOCKS_USERNAME="$SOCKS_USER" SOCKS_PASSWORD="$SOCKS_PASS" \
	"$TMP/connprobe" "$FAR6" 7000)
t_eq "sockd5 over IPv6 with user name and password: connects" ok "${out%% *}"
PMS_OPTS=(-v -c "$(rules sockd4-6.conf "sockd4 @=$FW4 fd42:31::/64")")
out=$(client 15 "$TMP/connprobe" "$FAR6" 7000)
t_eq "sockd4 to an IPv6 destination: ECONNREFUSED" ECONNREFUSED "${out%% *}"
t_match "sockd4 to an IPv6 destination: logged" 'SOCKS4 cannot reach an IPv6 destination' "$(log)"

# --- Failover -----------------------------------------------------------------
echo "# @= failover"
# 198.18.30.9 is on the host's link but nobody has it: the host gives up on
# its neighbour resolution after about 3 s (EHOSTUNREACH), so allow for that.
PMS_OPTS=(-v --connect-timeout 8 -c "$(rules fo-down.conf "sockd @=198.18.30.9,$FW4 $NET_FAR4")")
out=$(client 20 "$TMP/connprobe" "$FAR4" 7000)
t_eq "failover: first server down, the second connects" ok "${out%% *}"
t_match "failover: the down server is logged" \
	"$FAR4:7000 via sockd 198.18.30.9:1080: SOCKS server unreachable" "$(log)"
PMS_OPTS=(-v -c "$(rules fo-closed.conf "sockd @=$FW4:1090,$FW4 $NET_FAR4")")
out=$(client 15 "$TMP/connprobe" "$FAR4" 7000)
t_eq "failover: first server's port closed, the second connects" ok "${out%% *}"
t_range "failover past a closed port: at once (ms)" 0 999 "${out##* }"
t_match "failover: the refusing server is logged" \
	"via sockd $FW4:1090: SOCKS server unreachable: Connection refused" "$(log)"
PMS_OPTS=(-v -c "$(rules fo-v6.conf "sockd @=[$FW6]:1090,[$FW6] fd42:31::/64")")
out=$(client 15 "$TMP/connprobe" "$FAR6" 7000)
t_eq "failover over IPv6: first server's port closed, the second connects" ok "${out%% *}"
PMS_OPTS=(-v -c "$(rules fo-all.conf "sockd @=$FW4:1090,$FW4:1091 $NET_FAR4")")
out=$(client 15 "$TMP/connprobe" "$FAR4" 7000)
t_eq "every server down: the client gets ECONNREFUSED" ECONNREFUSED "${out%% *}"
t_match "every server down: the log says SOCKS server unreachable, for each" \
	"via sockd $FW4:1091: SOCKS server unreachable" "$(log)"
t_eq "every server down: one log line per server" 2 \
	"$(log | grep -c 'SOCKS server unreachable')"

# --- The errors a connect() sees through the server ---------------------------
echo "# errno matrix through sockd (REP codes)"
PMS_OPTS=(-v -c "$MAIN")
# check_rep NAME SOCKD ADDR PORT ERRNO-REGEX REP
check_rep() {
	local out dst=$3:$4
	[[ $3 == *:* ]] && dst="[$3]:$4"
	out=$(client 15 "$TMP/connprobe" "$3" "$4")
	t_match "$1: ${5//|/ or }" "^($5)\$" "${out%% *}"
	t_range "$1: at once (ms)" 0 999 "${out##* }"
	t_match "$1: logged as REP $6 via sockd $2" \
		"^pmsocks-ns: $(re "$dst") via sockd $(re "$2"): destination .*\\(REP $6\\)" "$(log)"
}
check_rep "closed port behind the server" "$SOCKD4" "$FAR4" 9 ECONNREFUSED 05
check_rep "port 13 blocked by danted's ruleset" "$SOCKD4" "$FAR4" 13 ECONNREFUSED 02
check_rep "host unreachable behind the server" "$SOCKD4" "$FWTOPO_HOSTUNREACH_V4" 80 EHOSTUNREACH 04
check_rep "network unreachable behind the server" "$SOCKD4" "$FWTOPO_NETUNREACH_V4" 80 \
	ENETUNREACH 03
check_rep "IPv6: closed port behind the server" "$SOCKD6" "$FAR6" 9 ECONNREFUSED 05
check_rep "IPv6: host unreachable behind the server" "$SOCKD6" "$FWTOPO_HOSTUNREACH_V6" 80 \
	EHOSTUNREACH 04
check_rep "IPv6: network unreachable behind the server" "$SOCKD6" "$FWTOPO_NETUNREACH_V6" 80 \
	ENETUNREACH 03
t_match "danted logged its block" "block\\(1\\): tcp/connect .* $FAR4\\.13" \
	"$(cat "$TMP/danted.log")"
PMS_OPTS=(-v --connect-timeout 2 -c "$MAIN")
for silent in "$FWTOPO_SILENT_V4" "$FWTOPO_SILENT_V6"; do
	[ "$silent" = "$FWTOPO_SILENT_V4" ] && srv=$SOCKD4 v=IPv4 || { srv=$SOCKD6 v=IPv6; }
	out=$(client 20 "$TMP/connprobe" "$silent" 80)
	t_eq "$v: silent destination behind the server, --connect-timeout 2: ETIMEDOUT" \
		ETIMEDOUT "${out%% *}"
	t_range "$v: --connect-timeout 2: after 2..3.5 s (ms)" 1900 3500 "${out##* }"
	t_match "$v: silent destination: the log names the server" "via sockd $(re "$srv"): .*timed out" \
		"$(log)"
done

# --- PCP ----------------------------------------------------------------------
echo "# PCP: pmval through danted to pmcd on the far host"
if [ "$have_pcp" = 1 ]; then
	# A sample: three numbers, as 0.3400 or 2.000E-02.
	values='^ *[0-9][0-9.E+-]* +[0-9][0-9.E+-]* +[0-9][0-9.E+-]* *$'
	PMS_OPTS=(-v -c "$MAIN")
	out=$(client 30 pmval -h "$FAR4" -s 3 kernel.all.load)
	rc=$?
	t_eq "pmval -h $FAR4 -s 3 kernel.all.load in pmsocks-ns: exit status" 0 "$rc"
	t_eq "pmval in pmsocks-ns: three samples" 3 "$(printf '%s\n' "$out" | grep -Ec "$values")"
	out=$(client 30 pmval -h "[$FAR6]" -s 3 kernel.all.load)
	t_eq "pmval -h [$FAR6] (IPv6) in pmsocks-ns: three samples" 3 \
		"$(printf '%s\n' "$out" | grep -Ec "$values")"
	out=$(host 20 pmval -h "$FAR4" -s 1 kernel.all.load 2>&1)
	rc=$?
	t_eq "pmval without pmsocks-ns: fails" 1 "$rc"
	t_match "pmval without pmsocks-ns: cannot connect" 'Cannot connect to PMCD' "$out"
	t_skip "pmval -h NAME" "no name can resolve to the far host for the sandbox alone (the DNS stub is planned; /etc/hosts is the whole machine's)"
else
	t_skip "PCP" "pmcd or pmval is not installed (scripts/setup)"
fi

# --- A statically linked client -----------------------------------------------
echo "# static client: busybox wget"
if [ -n "$BUSYBOX" ]; then
	interp=$(readelf -l "$BUSYBOX" 2>/dev/null | grep -c 'program interpreter')
	t_eq "$BUSYBOX is statically linked (no program interpreter)" 0 "$interp"
	PMS_OPTS=(-v -c "$MAIN")
	sum=$(client 60 "$BUSYBOX" wget -q -O - "http://$FAR4:8080/blob" | sha256sum | awk '{ print $1 }')
	t_eq "busybox wget of 6 MiB from the far host through danted: sha256 matches" \
		"$(sha256sum <"$TMP/www/blob" | awk '{ print $1 }')" "$sum"
	# (no -T: busybox 1.35's wget crashes when a connect with -T fails)
	out=$(host 15 "$BUSYBOX" wget -q -O /dev/null "http://$FAR4:8080/blob" 2>&1)
	rc=$?
	t_eq "busybox wget without pmsocks-ns: exit status" 1 "$rc"
	t_match "busybox wget without pmsocks-ns: cannot connect" "can't connect" "$out"
else
	t_skip "static client" "busybox is not installed (scripts/setup installs busybox-static)"
fi

# --- SIGHUP -------------------------------------------------------------------
echo "# SIGHUP reload"
hup=$(rules hup.conf "sockd @=$FW4 $NET_FAR4")
cat >"$TMP/hup-inner.sh" <<'EOF'
# hup-inner.sh FIFO CONNPROBE ADDR PORT OTHER_PORT (bash, in the sandbox): keeps
# one connection to ADDR:PORT open; at each line from FIFO, opens new
# connections and uses the old one again.
trap '' HUP # pmsocks-ns forwards the SIGHUP it gets
exec 4<>"$1"
exec 3<>"/dev/tcp/$3/$4" || { echo "first connection failed"; exit 1; }
echo "handler $PPID"
for step in 1 2; do
	read -r -t 30 _ <&4 || { echo "step $step: no go"; exit 1; }
	echo "step $step new: $("$2" "$3" "$4")"
	echo "step $step other: $("$2" "$3" "$5")"
	echo "ping-$step" >&3 && read -r -t 10 reply <&3
	echo "step $step old: ${reply:-nothing}"
done
EOF
chmod 0644 "$TMP/hup-inner.sh"
mkfifo -m 0666 "$TMP/hup.fifo"
exec 8<>"$TMP/hup.fifo"
limit=$(budget 60)
"${AS[@]}" timeout -k 5 "$limit" "$TMP/${PMS##*/}" -v -c "$hup" \
	bash "$TMP/hup-inner.sh" "$TMP/hup.fifo" "$TMP/connprobe" "$FAR4" 7000 7001 \
	>"$TMP/hup.out" 2>"$TMP/hup.log" 8>&- &
job=$!
hup_ok=0
if t_wait_for 15 grep -q '^handler [0-9]' "$TMP/hup.out"; then
	pid=$(sed -n 's/^handler //p' "$TMP/hup.out")
	if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = pmsocks-ns ]; then
		hup_ok=1
	else
		t_fail "SIGHUP: the command's parent is pmsocks-ns" "pid $pid: $(cat "/proc/$pid/comm")"
	fi
else
	t_fail "SIGHUP: the long-running client connects" "$(cat "$TMP/hup.out" "$TMP/hup.log")"
fi
if [ "$hup_ok" = 1 ]; then
	rules hup.conf "deny $FAR4/32 eq 7000" "sockd @=$FW4 $NET_FAR4" >/dev/null
	kill -HUP "$pid"
	t_wait_for 10 grep -q 'SIGHUP: 2 rules loaded' "$TMP/hup.log"
	t_match "SIGHUP: the new rules are loaded" "SIGHUP: 2 rules loaded from $hup" \
		"$(cat "$TMP/hup.log")"
	echo go >&8
	t_wait_for 20 grep -q '^step 1 old' "$TMP/hup.out"
	out=$(cat "$TMP/hup.out")
	t_match "SIGHUP: a new connection to the now denied port is refused" \
		'^step 1 new: ECONNREFUSED' "$(grep '^step 1 new' <<<"$out")"
	t_match "SIGHUP: another port still goes through sockd" '^step 1 other: ok' \
		"$(grep '^step 1 other' <<<"$out")"
	t_eq "SIGHUP: the connection opened before still works" "step 1 old: ping-1" \
		"$(grep '^step 1 old' <<<"$out")"
	rules hup.conf "sockd @=$FW4 $NET_FAR4 gte 7000" >/dev/null
	kill -HUP "$pid"
	t_wait_for 10 grep -q 'keeping the current rules' "$TMP/hup.log"
	t_match "SIGHUP with a broken file: the current rules are kept, the error named" \
		"SIGHUP: keeping the current rules: .*hup\\.conf:1:[0-9]+: unknown operator 'gte'" \
		"$(cat "$TMP/hup.log")"
	echo go >&8
	t_wait_for 20 grep -q '^step 2 old' "$TMP/hup.out"
	out=$(cat "$TMP/hup.out")
	t_match "SIGHUP with a broken file: the denied port stays denied" \
		'^step 2 new: ECONNREFUSED' "$(grep '^step 2 new' <<<"$out")"
	t_match "SIGHUP with a broken file: the other port still goes through sockd" \
		'^step 2 other: ok' "$(grep '^step 2 other' <<<"$out")"
	t_eq "SIGHUP with a broken file: the old connection still works" "step 2 old: ping-2" \
		"$(grep '^step 2 old' <<<"$out")"
fi
t_reap "$job" 20
t_eq "SIGHUP: the command and pmsocks-ns exit 0" 0 "$T_RC"
exec 8>&-

# --- --check, errors, --tsocks-conf --------------------------------------------
echo "# --check, rule file errors, --tsocks-conf"
PMS_OPTS=()
out=$(client 15 SOCKS_SERVER="$FW4" --check -c "$TMP/policy.conf")
rc=$?
t_eq "--check policy/pmsocks-ns.conf with SOCKS_SERVER: exit status" 0 "$rc"
t_match "--check: names the default SOCKS server" "default SOCKS server $FW4 port 1080" "$out"
t_match "--check: LOCALHOSTNAME became direct rules for this host, from line 12" \
	$'^direct [0-9a-f.:]+/(32|128)\t# line 12$' "$out"
t_match "--check: IPv4 via SOCKS_SERVER, from line 15" $'^sockd 0\\.0\\.0\\.0/0\t# line 15$' "$out"
t_match "--check: IPv6 via SOCKS_SERVER, from line 16" $'^sockd ::/0\t# line 16$' "$out"
bad=$(rules bad.conf "direct $NET_FW4" "sockd @=$FW4 $NET_FAR4 gte 7000")
out=$(client 15 -c "$bad" true)
rc=$?
t_eq "rule file with a syntax error: exit status 2" 2 "$rc"
t_match "rule file with a syntax error: FILE:LINE:COL" "$bad:2:[0-9]+: unknown operator 'gte'" \
	"$(log)"
out=$(client 15 -c "$bad" --check)
t_eq "--check of a rule file with a syntax error: exit status 2" 2 "$?"
out=$(client 15 -c "$TMP/missing.conf" true)
rc=$?
t_eq "missing rule file: exit status 2" 2 "$rc"
t_match "missing rule file: named" "$TMP/missing.conf" "$(log)"
out=$(client 15 -c "$(rules nosrv.conf "sockd $NET_FAR4")" --check)
t_eq "sockd without @= and without SOCKS_SERVER: exit status 2" 2 "$?"
tsocks=$(rules tsocks.conf "server = $FW4" "server_port = 1080" "server_type = 5" \
	"local = 198.18.30.0/255.255.255.0")
out=$(client 15 --tsocks-conf "$tsocks" --check)
t_eq "--tsocks-conf --check: exit status" 0 "$?"
t_match "--tsocks-conf: local becomes direct" "^direct $(re "$NET_FW4")" "$out"
t_match "--tsocks-conf: the server becomes sockd5 for the rest" "sockd5 @=$FW4:1080 0\\.0\\.0\\.0/0" \
	"$out"
PMS_OPTS=(-v --tsocks-conf "$tsocks")
out=$(client 15 socat -u "TCP4:$FAR4:8001" -)
t_eq "--tsocks-conf: the far host through danted" "$FWTOPO_FW_EXT_V4" "$out"
out=$(client 15 socat -u "TCP4:$FW4:8002" -)
t_eq "--tsocks-conf: the local network directly" "$FWTOPO_HOST_V4" "$out"

# --- Nothing is left behind ----------------------------------------------------
# Each flow through a SOCKS server holds one socket to it, given up when the
# server or the destination fails as well as when the connection ends: after
# connections that end every way (direct, denied, past a closed server, each
# REP code, every server down, timed out, 200 at once), the handler holds as
# many fds as before the first.
echo "# no fd left behind"
PMS_OPTS=(--connect-timeout 1 -c "$(rules leak.conf \
	"direct $NET_FW4" \
	"deny $NET_FAR4 eq 7" \
	"sockd @=$FW4:1090,$FW4 $NET_FAR4" \
	"sockd @=$FW4:1090,$FW4:1091 198.18.33.0/24" \
	"sockd @=[$FW6] fd42:31::/64" \
	"sockd @=[$FW6] fd42:33::/64")")
t_handler_fds "
	for d in $FW4:8002 $FAR4:7 $FAR4:7000 $FAR4:9 $FAR4:13 $FWTOPO_HOSTUNREACH_V4:80 \\
		198.18.33.5:80 $FAR6:7000 $FWTOPO_NETUNREACH_V6:80 $FWTOPO_SILENT_V4:80; do
		$TMP/connprobe \${d%:*} \${d##*:}
	done
	$TMP/echoload $FAR4 7000 200 16K 60 2>&1 | tail -n 1" "$TMP/leak.out"
out=$(tr '\n' ' ' <"$TMP/leak.out")
t_match "no fd left behind: the connections ended every way" \
	"^ok .*ECONNREFUSED .*ok .*ECONNREFUSED .*ECONNREFUSED .*EHOSTUNREACH .*ECONNREFUSED .*ok .*ENETUNREACH .*ETIMEDOUT .*conns=200 ok=200 failed=0" \
	"$out"
t_eq "no fd left behind: the handler's open fds after them, as before (${T_FDS_BEFORE:-?})" \
	"${T_FDS_BEFORE:-no handler found}" "${T_FDS_AFTER:-no handler found}"

# In a sanitizer build, a report on any run fails the test.
cat "$TMP/hup.log" >>"$TMP/all.log" 2>/dev/null
t_nomatch "no sanitizer reports from pmsocks-ns" \
	'ERROR: (Address|Leak)Sanitizer|runtime error:' "$(cat "$TMP/all.log")"

t_summary
