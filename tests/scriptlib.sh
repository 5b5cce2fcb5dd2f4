# tests/scriptlib.sh - what the CLI's test scripts (cli.sh, metrics.sh)
# share.  Sourced after the script has set $work (its scratch directory)
# and $DEMO (examples/demo); it sets failures=0.

failures=0
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# A pristine copy of the demo in $work/$1.  The run that was at work
# before the demo began printed last before the demo's clock starts
# (2026-01-01 00:00 UTC): a later time would count as its progress.
demo() {
	rm -rf "${work:?}/$1"
	cp -R "$DEMO" "$work/$1" || exit 1
	chmod -R u+w "$work/$1" # a read-only source tree
	touch -d @1767225000 "$work/$1"/runs/*/output.log
}

# Waits until no agent of the demo copy $1 runs: the command agent runs
# detached, so a watch right after the poll sees its agents running.
# Each run directory a supervisor wrote in ("supervisor") is done once
# it has exit_status and its lock is free.  1 after 30 s.
settle() {
	_i=0
	while :; do
		_busy=
		for _d in "$1"/runs/*/; do
			[ -f "$_d/supervisor" ] || continue
			if [ ! -f "$_d/exit_status" ] || {
				command -v flock >/dev/null 2>&1 &&
					! flock -n "$_d/lock" true 2>/dev/null
			}; then
				_busy=1
			fi
		done
		[ -z "$_busy" ] && return 0
		_i=$((_i + 1))
		[ "$_i" -lt 300 ] || return 1
		sleep 0.1
	done
}

# A tick of the demo copy $1 at $2 as the demo runs it: a poll, its
# agents waited for, then a watch.  Sets $out (both reports), $err and
# $rc (the first that failed).
poll_settle_watch() {
	run "$AFK" poll --config "$work/$1/afk.json"
	_out=$out _err=$err _rc=$rc
	settle "$work/$1" || fail "the agents of $1 did not end"
	run "$AFK" watch --config "$work/$1/afk.json" --now "$2"
	out="$_out
$out" err="$_err$err"
	[ "$_rc" -eq 0 ] && _rc=$rc
	rc=$_rc
	printf '%s\n' "$out" >"$work/stdout"
}

# Runs a command (afk, or env ... afk); sets $out, $err and $rc.
run() {
	"$@" >"$work/stdout" 2>"$work/stderr"
	rc=$?
	out=$(cat "$work/stdout")
	err=$(cat "$work/stderr")
}

# Shows what afk said, for a failure's context.
said() {
	echo "--- stdout"; cat "$work/stdout"
	echo "--- stderr"; cat "$work/stderr"
	echo "---"
}
