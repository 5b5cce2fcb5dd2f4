# tests/scriptlib.sh - what the CLI's test scripts (cli.sh, metrics.sh)
# share.  Sourced after the script has set $work (its scratch directory)
# and $DEMO (examples/demo); it sets failures=0.

failures=0
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# A pristine copy of the demo in $work/$1.
demo() {
	rm -rf "${work:?}/$1"
	cp -R "$DEMO" "$work/$1" || exit 1
	chmod -R u+w "$work/$1" # a read-only source tree
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
