#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tcp.sh [--direct] root|user PMSOCKS_NS HELPER_DIR
#
# End-to-end checks of the TCP engine against servers in a test network
# namespace (topo.sh), over IPv4 and IPv6: bulk transfers both ways with
# sha256 compared at both ends, 1000 concurrent echoing connections, FIN and
# RST each way, flow control both ways, the errors a connect() sees (refused,
# unreachable, timed out) and when, an iperf3 run, and that a handler which
# served connections ending every way holds no more fds than before them.
#
# Runs as root (the namespace needs it; exit 77 otherwise). The clients run
# as root or as the unprivileged test user (PMSOCKS_NS_TEST_USER, default
# pmtest), inside pmsocks-ns, or, with --direct (or PMSOCKS_NS_TEST_DIRECT=1),
# directly on the host: that checks the harness itself, and every check must
# pass that way too. HELPER_DIR holds blast, echosrv, echoload, connprobe and
# closeprobe. PMSOCKS_NS_TEST_BULK sets the bulk transfer size (default 1G);
# PMSOCKS_NS_TEST_ARGS adds options to every pmsocks-ns run (e.g. a rule file).
# Each client run has its own time limit, and all of them together have
# PMSOCKS_NS_TEST_BUDGET seconds (default 300): a broken engine makes the
# remaining checks fail at once instead of outliving ctest's TIMEOUT (whose
# SIGKILL would skip the teardown). A healthy run takes 1-2 minutes.
#
# --direct stands in for the handler's connect timeout with TCP_USER_TIMEOUT
# on the probe (see connprobe.c); everything else runs unchanged.
set -u
direct=${PMSOCKS_NS_TEST_DIRECT:-0}
if [ "${1:-}" = --direct ]; then
	direct=1
	shift
fi
if [ $# -ne 3 ] || { [ "$1" != root ] && [ "$1" != user ]; }; then
	echo "usage: tcp.sh [--direct] root|user PMSOCKS_NS HELPER_DIR" >&2
	exit 2
fi
who=$1
PMS=$2
HELPERS=$3
BULK=${PMSOCKS_NS_TEST_BULK:-1G}
BUDGET_END=$((SECONDS + ${PMSOCKS_NS_TEST_BUDGET:-300}))
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/topo.sh"
unset PMCD_CONNECT_TIMEOUT

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: tcp.sh needs root (it creates a test network namespace); the client runs" \
		"as the unprivileged user in the 'user' variant"
	exit 77
fi
for tool in socat ss timeout setsid; do
	command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (scripts/setup)"; exit 1; }
done

# The client's binaries go where the test user can read them (run-as does the same).
TMP=$(mktemp -d /tmp/pmsocks-ns-tcp.XXXXXX)
chmod 0755 "$TMP"
for f in "$PMS" "$HELPERS"/{blast,echoload,connprobe,closeprobe}; do
	if ! cp "$f" "$TMP/"; then
		echo "FAIL: $f is missing (build first)"
		rm -rf "$TMP"
		exit 1
	fi
done
chmod 0755 "$TMP"/*
AS=()
if [ "$who" = user ]; then
	user=${PMSOCKS_NS_TEST_USER:-pmtest}
	if ! id "$user" >/dev/null 2>&1; then
		useradd -m "$user" || { echo "FAIL: cannot create test user $user"; rm -rf "$TMP"; exit 1; }
	fi
	AS=(runuser -u "$user" --)
fi
PMS_OPTS=()
# Everything in the test ranges is reached directly (pmsocks-ns needs a rule file).
printf 'direct 198.18.0.0/15\ndirect fd42::/16\n' >"$TMP/direct.conf"
chmod 0644 "$TMP/direct.conf"
read -r -a PMS_BASE_OPTS <<<"-c $TMP/direct.conf ${PMSOCKS_NS_TEST_ARGS:-}"

if ! topo_up; then
	echo "FAIL: could not set up the test topology"
	rm -rf "$TMP"
	exit 1
fi
topo_at_exit "rm -rf '$TMP'"
client_desc="$([ "$who" = user ] && echo "${AS[2]}" || echo root)"
echo "# tcp tests: client as $client_desc, $([ "$direct" = 1 ] &&
	echo 'DIRECT on the host (no sandbox: checks the harness)' || echo 'in pmsocks-ns')," \
	"namespace $TOPO_NS, bulk $BULK"

# client LIMIT_S [VAR=VALUE...] COMMAND...: COMMAND as the client (root or the test
# user; in pmsocks-ns with PMS_OPTS unless --direct), killed after LIMIT_S seconds.
client() {
	local limit envs=() sandbox=()
	limit=$(budget "$1")
	[ "$limit" -gt 0 ] || return 124
	shift
	while [ $# -gt 0 ] && [[ $1 == [A-Za-z_]*=* ]]; do
		envs+=("$1")
		shift
	done
	[ "$direct" = 1 ] || sandbox=("$TMP/${PMS##*/}" "${PMS_BASE_OPTS[@]}" "${PMS_OPTS[@]}")
	"${AS[@]}" env "${envs[@]}" timeout -k 5 "$limit" "${sandbox[@]}" "$@"
}

# server_line LOG N: wait (10 s at most) for line N+1 of a server's log, print it.
server_line() {
	t_wait_for 10 sh -c "[ \$(wc -l <'$1') -gt $2 ]"
	sed -n "$(($2 + 1))p" "$1"
}

now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

# rate BYTES-SPEC MS: human throughput of a transfer
rate() {
	local bytes
	bytes=$(numfmt --from=iec "$1")
	awk -v b="$bytes" -v ms="$2" 'BEGIN { printf "%.2f Gbit/s", ms ? b * 8 / ms / 1e6 : 0 }'
}

# --- Servers in the namespace ---------------------------------------------------
ECHO_PORT=7000
PROBE_PORT=7001
IPERF_PORT=5201
topo_start "$TMP/echosrv.log" "$HELPERS/echosrv" "$ECHO_PORT"
topo_start "$TMP/closeprobe.log" "$HELPERS/closeprobe" server "$PROBE_PORT"
have_iperf=0
if command -v iperf3 >/dev/null; then
	have_iperf=1
	topo_start "$TMP/iperf3.log" iperf3 -s -p "$IPERF_PORT"
fi
for port in "$ECHO_PORT" "$PROBE_PORT" $([ "$have_iperf" = 1 ] && echo "$IPERF_PORT"); do
	topo_wait_listen "$port" || { echo "FAIL: test server on port $port did not start"; exit 1; }
done
# What the bulk transfers must deliver, hashed meanwhile.
"$HELPERS/blast" "$BULK" 42 | sha256sum | awk '{ print $1 }' >"$TMP/expected.sha" &
hash_pid=$!

for fam in 4 6; do
	if [ "$fam" = 4 ]; then
		addr=$TOPO_V4 silent=$TOPO_V4_SILENT unreach=$TOPO_V4_UNREACH
		listen=TCP4-LISTEN connect="TCP4:$TOPO_V4"
	else
		addr=$TOPO_V6 silent=$TOPO_V6_SILENT unreach=$TOPO_V6_UNREACH
		listen=TCP6-LISTEN connect="TCP6:[$TOPO_V6]"
	fi
	v="IPv$fam"
	echo "# $v (server $addr)"

	# --- connect() errors, as without the sandbox, at the documented times ----
	# (stdout only is compared; what pmsocks-ns or a probe says on stderr shows
	# in the log)
	s=$(client 15 "$TMP/connprobe" "$addr" 9)
	d=$(host 15 "$TMP/connprobe" "$addr" 9)
	t_eq "$v: refused: ECONNREFUSED" ECONNREFUSED "${s%% *}"
	t_eq "$v: refused: the same errno as without the sandbox" "${d%% *}" "${s%% *}"
	t_range "$v: refused: in under 1 s (ms)" 0 999 "${s##* }"

	s=$(client 15 "$TMP/connprobe" "$unreach" 80)
	d=$(host 15 "$TMP/connprobe" "$unreach" 80)
	t_match "$v: unreachable: EHOSTUNREACH or ENETUNREACH" '^E(HOST|NET)UNREACH$' "${s%% *}"
	t_eq "$v: unreachable: the same errno as without the sandbox" "${d%% *}" "${s%% *}"
	t_range "$v: unreachable: in under 1 s (ms)" 0 999 "${s##* }"

	# --direct: TCP_USER_TIMEOUT stands in for the handler's connect timeout,
	# rounded up to whole seconds as pmsocks-ns documents it.
	stand_in=()
	[ "$direct" = 1 ] && stand_in=(CONNPROBE_USER_TIMEOUT_MS=2000)
	PMS_OPTS=(--connect-timeout 2)
	s=$(client 20 "${stand_in[@]}" "$TMP/connprobe" "$silent" 80)
	PMS_OPTS=()
	t_eq "$v: --connect-timeout 2, silent destination: ETIMEDOUT" ETIMEDOUT "${s%% *}"
	t_range "$v: --connect-timeout 2: after 1.9..3.5 s (ms)" 1900 3500 "${s##* }"
	s=$(client 20 PMCD_CONNECT_TIMEOUT=1.5 "${stand_in[@]}" "$TMP/connprobe" "$silent" 80)
	t_eq "$v: PMCD_CONNECT_TIMEOUT=1.5: ETIMEDOUT" ETIMEDOUT "${s%% *}"
	t_range "$v: PMCD_CONNECT_TIMEOUT=1.5: after about 2 s, rounded up (ms)" 1900 3500 "${s##* }"

	# Data checks need a working path; fail them at once if there is none.
	s=$(client 15 "$TMP/connprobe" "$addr" "$ECHO_PORT")
	if [ "${s%% *}" != ok ]; then
		t_fail "$v: connect to the echo server: the data checks cannot run" "got: $s"
		continue
	fi

	# --- FIN and RST each way ---------------------------------------------------
	log=$TMP/closeprobe.log
	n=$(wc -l <"$log")
	out=$(client 60 "$TMP/closeprobe" "$addr" "$PROBE_PORT" client-fin 16M)
	t_eq "$v: half-close by the client: the whole reply arrives after its FIN" \
		"ok sent=16777216 received=16777216" "$out"
	t_eq "$v: half-close by the client: the server saw EOF after all data" \
		"client-fin ok received=16777216" "$(server_line "$log" "$n")"
	n=$(wc -l <"$log")
	out=$(client 60 "$TMP/closeprobe" "$addr" "$PROBE_PORT" server-fin 16M)
	t_eq "$v: half-close by the server: the client reads to EOF, then still sends" \
		"ok received=16777216 sent=16777216" "$out"
	t_eq "$v: half-close by the server: it receives the client's data after its FIN" \
		"server-fin ok received=16777216" "$(server_line "$log" "$n")"
	n=$(wc -l <"$log")
	out=$(client 30 "$TMP/closeprobe" "$addr" "$PROBE_PORT" server-rst)
	t_eq "$v: RST from the server: the client's read fails with ECONNRESET" ECONNRESET "$out"
	server_line "$log" "$n" >/dev/null
	n=$(wc -l <"$log")
	out=$(client 30 "$TMP/closeprobe" "$addr" "$PROBE_PORT" client-rst)
	t_eq "$v: RST from the client: sent" "ok reset sent" "$out"
	t_eq "$v: RST from the client: the server's read fails with ECONNRESET" \
		"client-rst ok ECONNRESET" "$(server_line "$log" "$n")"

	# --- Flow control: a reader that pauses throttles the writer --------------
	n=$(wc -l <"$log")
	out=$(client 90 "$TMP/closeprobe" "$addr" "$PROBE_PORT" flow-up 128M)
	t_match "$v: flow control upward: everything arrives after the server's pause" \
		'^ok stalled_at=[0-9]+$' "$out"
	stalled=${out##*=}
	t_range "$v: flow control upward: the client stalls within 64 MiB of 128 (bytes)" \
		1 $((64 << 20)) "$stalled"
	server_line "$log" "$n" >/dev/null
	n=$(wc -l <"$log")
	out=$(client 90 "$TMP/closeprobe" "$addr" "$PROBE_PORT" flow-down 128M)
	t_eq "$v: flow control downward: everything arrives after the client's pause" \
		"ok received=134217728" "$out"
	line=$(server_line "$log" "$n")
	t_match "$v: flow control downward: reported by the server" \
		'^flow-down ok stalled_at=[0-9]+$' "$line"
	t_range "$v: flow control downward: the server stalls within 64 MiB of 128 (bytes)" \
		1 $((64 << 20)) "${line##*=}"

	# --- 1000 concurrent connections, 1 MiB echoed on each ---------------------
	out=$(client 150 "$TMP/echoload" "$addr" "$ECHO_PORT" 1000 1M 120 2>&1)
	rc=$?
	t_eq "$v: 1000 concurrent connections echo 1 MiB each: exit status" 0 "$rc"
	t_match "$v: 1000 concurrent connections echo 1 MiB each: all verified" \
		'conns=1000 ok=1000 failed=0 bytes=1048576000 ' "$out"
	echo "#   $(printf '%s\n' "$out" | tail -n 1)"

	# --- Bulk both ways, sha256 compared --------------------------------------
	[ -n "${hash_pid:-}" ] && { wait "$hash_pid"; hash_pid=; }
	expected=$(cat "$TMP/expected.sha")
	port=$((7100 + fam * 10))
	topo_start "$TMP/up$fam.out" sh -c "socat -u $listen:$port,reuseaddr - | sha256sum"
	srv=$TOPO_PID
	if topo_wait_listen "$port"; then
		t0=$(now_ms)
		"$HELPERS/blast" "$BULK" 42 | client 150 socat -u - "$connect:$port"
		rc=${PIPESTATUS[1]}
		topo_reap "$srv" 30
		ms=$(($(now_ms) - t0))
		t_eq "$v: upload $BULK: the client finishes" 0 "$rc"
		t_eq "$v: upload $BULK: sha256 at the server equals the sender's" \
			"$expected" "$(tail -n 1 "$TMP/up$fam.out" | awk '{ print $1 }')"
		echo "#   upload $BULK in $ms ms: $(rate "$BULK" "$ms")"
	else
		t_fail "$v: upload: the server did not start" "$(cat "$TMP/up$fam.out")"
	fi
	port=$((port + 1))
	topo_start "$TMP/down$fam.out" sh -c \
		"'$HELPERS/blast' $BULK 42 | socat -u - $listen:$port,reuseaddr"
	srv=$TOPO_PID
	if topo_wait_listen "$port"; then
		t0=$(now_ms)
		client 150 socat -u "$connect:$port" - | sha256sum | awk '{ print $1 }' \
			>"$TMP/down$fam.sha"
		rc=${PIPESTATUS[0]}
		ms=$(($(now_ms) - t0))
		topo_reap "$srv" 30
		t_eq "$v: download $BULK: the client finishes" 0 "$rc"
		t_eq "$v: download $BULK: the server finishes" 0 "$TOPO_RC"
		t_eq "$v: download $BULK: sha256 at the client equals the sender's" \
			"$expected" "$(cat "$TMP/down$fam.sha")"
		echo "#   download $BULK in $ms ms: $(rate "$BULK" "$ms")"
	else
		t_fail "$v: download: the server did not start" "$(cat "$TMP/down$fam.out")"
	fi

	# --- iperf3 -----------------------------------------------------------------
	if [ "$have_iperf" = 1 ]; then
		client 30 iperf3 -c "$addr" -p "$IPERF_PORT" -t 3 -J >"$TMP/iperf$fam.json" 2>&1
		rc=$?
		bps=$(awk -F: '/"sum_received"/ { f = 1 }
			f && /"bits_per_second"/ { gsub(/[^0-9.e+]/, "", $2); print $2; exit }' \
			"$TMP/iperf$fam.json")
		t_eq "$v: iperf3 -t 3 completes" 0 "$rc"
		if awk -v b="${bps:-0}" 'BEGIN { exit !(b > 0) }'; then
			t_pass "$v: iperf3 throughput > 0"
			echo "#   iperf3: $(awk -v b="$bps" 'BEGIN { printf "%.2f", b / 1e9 }') Gbit/s"
		else
			t_fail "$v: iperf3 throughput > 0" "$(head -c 2000 "$TMP/iperf$fam.json")"
		fi
	else
		t_skip "$v: iperf3" "iperf3 is not installed (scripts/setup)"
	fi
done

# --- Short of socket memory ------------------------------------------------------
# A host socket refuses data the window promised when its memory cgroup (or
# the whole system) runs short of socket memory. The data dropped then must
# come back intact, and not only after a retransmission timeout per loss:
# with the TCP memory of a cgroup v1 memory cgroup capped at 2 MiB
# (memory.kmem.tcp.limit_in_bytes), a 256 MiB upload must arrive whole within
# the client's time limit. First the handler alone is in the cgroup, then
# the command too: its send buffers must leave the host sockets room (they
# took all of it, and the upload stalled). How fast it goes is for
# scripts/bench (pressure).
MP_CG=/sys/fs/cgroup/memory/pmsocks-ns-test.$$
if [ "$direct" = 1 ]; then
	t_skip "memory pressure: upload with the TCP memory capped" "no handler without the sandbox"
elif ! mkdir "$MP_CG" 2>/dev/null ||
	! echo $((2 << 20)) >"$MP_CG/memory.kmem.tcp.limit_in_bytes" 2>/dev/null; then
	rmdir "$MP_CG" 2>/dev/null
	t_skip "memory pressure: upload with the TCP memory capped" \
		"no cgroup v1 memory controller with memory.kmem.tcp.limit_in_bytes here"
else
	topo_at_exit "rmdir '$MP_CG' 2>/dev/null"
	mp_sha=$("$HELPERS/blast" 256M 43 | sha256sum | awk '{ print $1 }')
	port=7190
	for mp_who in handler "handler and command"; do
		port=$((port + 1))
		v="memory pressure, $mp_who capped"
		topo_start "$TMP/mp$port.out" sh -c "socat -u TCP4-LISTEN:$port,reuseaddr - | sha256sum"
		srv=$TOPO_PID
		if ! topo_wait_listen "$port"; then
			t_fail "$v: the server did not start" "$(cat "$TMP/mp$port.out")"
			continue
		fi
		mp_dir=$(mktemp -d "$TMP/mp.XXXXXX") && chmod 0777 "$mp_dir"
		PMS_OPTS=(-v -v)
		client 90 sh -c "while [ ! -e $mp_dir/go ]; do sleep 0.05; done
			$TMP/blast 256M 43 | socat -u - TCP4:$TOPO_V4:$port" 2>"$mp_dir/err" &
		mp_pid=$!
		PMS_OPTS=()
		in_cg=no
		handler=$(t_handler_pid)
		if [ -n "$handler" ]; then
			mp_pids=$handler
			# the command's shell: what it starts after "go" starts in the cgroup
			[ "$mp_who" = handler ] || mp_pids="$mp_pids $(pgrep -P "$handler")"
			in_cg=yes
			for pid in $mp_pids; do
				{ echo "$pid" >"$MP_CG/tasks" && grep -qx "$pid" "$MP_CG/tasks"; } || in_cg=no
			done
		fi
		t0=$(now_ms)
		: >"$mp_dir/go"
		wait "$mp_pid"
		rc=$?
		ms=$(($(now_ms) - t0))
		topo_reap "$srv" 30
		refused=$(sed -n 's/.* \([0-9]*\) partial writes.*/\1/p' "$mp_dir/err" | tail -n 1)
		kept=$(sed -n 's/.* partial writes (\([0-9]*\) kept).*/\1/p' "$mp_dir/err" | tail -n 1)
		t_eq "$v: in the cgroup" yes "$in_cg"
		t_eq "$v: upload 256M: the client finishes" 0 "$rc"
		t_eq "$v: upload 256M: sha256 at the server equals the sender's" \
			"$mp_sha" "$(tail -n 1 "$TMP/mp$port.out" | awk '{ print $1 }')"
		echo "#   upload 256M with 2 MiB of TCP memory in $ms ms: $(rate 256M "$ms")," \
			"${refused:-?} writes the socket took only in part, the rest of ${kept:-?} kept"
		[ "$mp_who" = handler ] || continue
		if [ "${refused:-0}" -gt 0 ]; then
			t_pass "$v: the socket refused data (${refused} partial writes)"
		else
			t_skip "$v: the socket refused data" \
				"2 MiB did not make this kernel refuse any: the check above proved less"
		fi
	done
fi

# --- Busy polling ends with the traffic -------------------------------------
# After events the handler polls for --busy-poll microseconds (default 50),
# then sleeps: through seconds of silence after a connection it must use next
# to no CPU time. A poll loop that never stopped would use all of it.
if [ "$direct" = 1 ]; then
	t_skip "idle handler: no CPU while nothing happens" "no handler without the sandbox"
else
	client 30 sh -c "$TMP/connprobe $TOPO_V4 $ECHO_PORT && sleep 3" >"$TMP/idle.out" 2>&1 &
	idle_pid=$!
	handler=$(t_handler_pid)
	sleep 1
	ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null; }
	t0=$(ticks "$handler")
	sleep 1.5
	t1=$(ticks "$handler")
	wait "$idle_pid"
	t_match "idle handler: the connection before the silence worked" '^ok ' "$(cat "$TMP/idle.out")"
	if [ -n "$t0" ] && [ -n "$t1" ]; then
		t_range "idle handler: CPU ticks in 1.5 s of silence, at most 15 of $(($(getconf CLK_TCK) * 3 / 2))" \
			0 15 "$((t1 - t0))"
	else
		t_fail "idle handler: CPU ticks in 1.5 s of silence" "no handler process found (pid '$handler')"
	fi
fi

# --- Nothing is left behind -----------------------------------------------------
# Every flow holds one host socket. Once connections that end every way are
# over (in order, refused, unreachable, timed out, a FIN or a RST from either
# side, 1000 at once, over both families), the handler must hold as many fds
# as it did before the first: a path that forgets to close leaks one per flow.
if [ "$direct" = 1 ]; then
	t_skip "no fd left behind" "no handler without the sandbox"
else
	PMS_OPTS=(--connect-timeout 1)
	t_handler_fds "
		for a in $TOPO_V4 $TOPO_V6; do
			$TMP/connprobe \$a $ECHO_PORT
			$TMP/connprobe \$a 9
			$TMP/closeprobe \$a $PROBE_PORT client-fin 1M
			$TMP/closeprobe \$a $PROBE_PORT server-fin 1M
			$TMP/closeprobe \$a $PROBE_PORT server-rst
			$TMP/closeprobe \$a $PROBE_PORT client-rst
			$TMP/echoload \$a $ECHO_PORT 1000 16K 60 2>&1 | tail -n 1
		done
		$TMP/connprobe $TOPO_V4_UNREACH 80
		$TMP/connprobe $TOPO_V4_SILENT 80
		$TMP/connprobe $TOPO_V6_SILENT 80" "$TMP/leak.out"
	PMS_OPTS=()
	out=$(cat "$TMP/leak.out")
	t_match "no fd left behind: the connections ended every way" \
		"ECONNREFUSED.*ok sent=1048576 received=1048576.*ECONNRESET.*ok reset sent.*conns=1000 ok=1000 failed=0.*E(HOST|NET)UNREACH " \
		"$(printf '%s' "$out" | tr '\n' ' ')"
	t_eq "no fd left behind: connections timed out, as the handler gave up" 2 \
		"$(printf '%s\n' "$out" | grep -c '^ETIMEDOUT ')"
	t_eq "no fd left behind: the handler's open fds after them, as before (${T_FDS_BEFORE:-?})" \
		"${T_FDS_BEFORE:-no handler found}" "${T_FDS_AFTER:-no handler found}"
fi

t_summary
