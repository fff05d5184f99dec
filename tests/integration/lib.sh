# SPDX-License-Identifier: GPL-2.0-or-later
# Shared helpers for the integration tests (sourced, bash).
# Each check prints one line; the script ends with "N passed, N failed".

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
T_PASS=0
T_FAIL=0
T_SKIP=0

t_pass() { T_PASS=$((T_PASS + 1)); printf 'ok   %s\n' "$1"; }
t_fail() { T_FAIL=$((T_FAIL + 1)); printf 'FAIL %s\n' "$1"; shift; [ $# -gt 0 ] && printf '     %s\n' "$@"; }
t_skip() { T_SKIP=$((T_SKIP + 1)); printf 'SKIP %s: %s\n' "$1" "$2"; }

# t_eq NAME EXPECTED ACTUAL
t_eq() {
	if [ "$2" = "$3" ]; then t_pass "$1"; else t_fail "$1" "expected: $2" "actual:   $3"; fi
}

# t_range NAME MIN MAX VALUE: MIN <= VALUE <= MAX (integers)
t_range() {
	if [[ $4 =~ ^[0-9]+$ ]] && [ "$4" -ge "$2" ] && [ "$4" -le "$3" ]; then
		t_pass "$1 ($4)"
	else
		t_fail "$1" "expected $2..$3" "actual:   ${4:-nothing}"
	fi
}

# t_match NAME REGEX TEXT
t_match() {
	if printf '%s' "$3" | grep -Eq -- "$2"; then t_pass "$1"; else t_fail "$1" "no match for: $2" "in: $3"; fi
}

# t_nomatch NAME REGEX TEXT
t_nomatch() {
	if printf '%s' "$3" | grep -Eq -- "$2"; then t_fail "$1" "unexpected match for: $2" "in: $3"; else t_pass "$1"; fi
}

# t_wait_for SECONDS COMMAND...: poll (every 50 ms) until COMMAND succeeds; bounded.
t_wait_for() {
	local deadline=$((SECONDS + $1)); shift
	until "$@"; do
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

t_summary() {
	printf '%d passed, %d failed, %d skipped\n' "$T_PASS" "$T_FAIL" "$T_SKIP"
	[ "$T_FAIL" -eq 0 ]
}

# t_reap PID SECONDS: wait for a background job of this shell, killing it if it
# outlives SECONDS; sets T_RC to its exit status (137 if it had to be killed).
t_reap() {
	if ! t_wait_for "$2" sh -c "! kill -0 $1 2>/dev/null || grep -q '^State:.*Z' /proc/$1/status"; then
		kill -KILL "$1" 2>/dev/null
	fi
	wait "$1"
	T_RC=$?
}

# t_bg_start OUTFILE COMMAND...: start COMMAND in the background with SIGINT and
# SIGQUIT at their defaults (bash ignores them in non-interactive background
# jobs, and the command would inherit that), output to OUTFILE; sets T_BG_PID.
t_bg_start() {
	local out=$1; shift
	env --default-signal=INT,QUIT "$@" >"$out" 2>&1 &
	T_BG_PID=$!
}

# For scripts that set BUDGET_END (a $SECONDS value: when to stop starting
# work) and AS (the prefix that runs a command as the client, e.g. runuser -u
# USER --, or nothing for root):

# budget LIMIT_S: LIMIT_S, or what is left of the time budget if less (0: none).
budget() {
	local left=$((BUDGET_END - SECONDS))
	[ "$left" -gt 0 ] || { echo "${0##*/}: time budget exhausted, not run" >&2; left=0; }
	echo $(($1 < left ? $1 : left))
}

# host LIMIT_S COMMAND...: COMMAND as the client, never sandboxed (what a
# program sees without pmsocks-ns, to compare with), killed after LIMIT_S.
host() {
	local limit
	limit=$(budget "$1")
	[ "$limit" -gt 0 ] || return 124
	shift
	"${AS[@]}" timeout -k 5 "$limit" "$@"
}

# t_fd_count PID: how many files process PID has open
t_fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# t_handler_pid: the newest handler of the copy of $PMS in $TMP, once one runs
# (10 s at most); nothing and status 1 if none does
t_handler_pid() {
	t_wait_for 10 sh -c "pgrep -n -f '^$TMP/${PMS##*/}' >/dev/null" &&
		pgrep -n -f "^$TMP/${PMS##*/}"
}

# t_fds_at_most PID N: process PID has at most N files open
t_fds_at_most() { [ "$(t_fd_count "$1")" -le "$2" ]; }

# t_handler_fds BODY OUTFILE: run the shell commands BODY in the sandbox, with
# the caller's client() (LIMIT_S COMMAND...) and PMS_OPTS, output to OUTFILE,
# and count the handler's open fds just before BODY and once it is over (when
# they are back to the count before, or after 10 s). Sets T_FDS_BEFORE and
# T_FDS_AFTER, empty if the handler was not found. Needs $TMP and $PMS.
t_handler_fds() {
	local dir pid handler=
	dir=$(mktemp -d "$TMP/fds.XXXXXX") && chmod 0777 "$dir" || return 1
	cat >"$dir/run.sh" <<-EOS
		w() { n=0; while [ ! -e "$dir/\$1" ] && [ \$n -lt 1200 ]; do sleep 0.05; n=\$((n + 1)); done; }
		: >"$dir/ready"; w go
		$1
		: >"$dir/done"; w end
	EOS
	chmod 0644 "$dir/run.sh"
	client 120 sh "$dir/run.sh" >"$2" 2>&1 &
	pid=$!
	T_FDS_BEFORE= T_FDS_AFTER=
	if t_wait_for 10 test -e "$dir/ready"; then
		handler=$(pgrep -n -f "^$TMP/${PMS##*/}")
		[ -n "$handler" ] && T_FDS_BEFORE=$(t_fd_count "$handler")
	fi
	: >"$dir/go"
	t_wait_for 100 test -e "$dir/done"
	if [ -n "$T_FDS_BEFORE" ]; then
		t_wait_for 10 t_fds_at_most "$handler" "$T_FDS_BEFORE"
		T_FDS_AFTER=$(t_fd_count "$handler")
	fi
	: >"$dir/end"
	wait "$pid"
}
