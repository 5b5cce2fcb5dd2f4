#!/bin/sh
# tests/cli.sh - the afk command on the demo: what one poll dispatches,
# what it skips and why, what it writes, and the command line itself.
# Run by make check with top_srcdir and top_builddir (absolute) set.
# Exit 0 pass, 1 fail, 77 skip.

# shellcheck disable=SC2012 # run directory names are plain
set -u
# The gates come from the demo's file, not from the caller's shell.
unset AFK_KILL_SWITCH AFK_ALLOWLIST

: "${top_srcdir:?top_srcdir is not set}"
: "${top_builddir:?top_builddir is not set}"
AFK="$top_builddir/examples/afk/afk"
DEMO="$top_srcdir/examples/demo"

if [ ! -x "$AFK" ]; then
	echo "cli.sh: $AFK is not built"
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/afk-cli.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT HUP INT TERM

failures=0
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# A pristine copy of the demo in $work/$1.
demo() {
	rm -rf "${work:?}/$1"
	cp -R "$DEMO" "$work/$1" || exit 1
	chmod u+w "$work/$1" "$work/$1"/* # a read-only source tree
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

# The issues of an issue file carrying the in-progress label, as
# repo#number lines.  The file is jansson's indented output (or the demo,
# written the same way): one member per line, repo and number first.
locked_issues() {
	awk '
		/"repo":/ { s = $0; sub(/.*"repo": *"/, "", s);
		            sub(/".*/, "", s); repo = s }
		/"number":/ { s = $0; gsub(/[^0-9]/, "", s); num = s }
		/"agent-in-progress"/ { print repo "#" num }
	' "$1"
}

# --- one poll on the demo ---------------------------------------------

demo d1
run "$AFK" poll --config "$work/d1/afk.json"
[ "$rc" -eq 0 ] || { fail "poll exited $rc, want 0"; said; }
expected='dispatched acme/api#102 -> thread acme-api-102-1
dispatched acme/web#202 -> thread acme-web-202-1
skipped acme/api#101 (another issue of the repository comes first)
skipped acme/api#103 (ready label not applied by a trusted user)
skipped acme/web#201 (blocked by an open issue)
skipped acme/infra#301 (already in progress)
skipped acme/infra#302 (repository locked by a run in progress)
2 dispatched, 5 skipped'
got=$(printf '%s\n' "$out" | sed 's/  */ /g')
if [ "$got" != "$expected" ]; then
	fail "the first poll's report differs"
	printf '%s\n' "$expected" >"$work/want"
	printf '%s\n' "$got" >"$work/got"
	diff -u "$work/want" "$work/got"
fi
[ -z "$err" ] || fail "the first poll wrote to stderr: $err"

want_locked='acme/api#102
acme/web#202
acme/infra#301'
got_locked=$(locked_issues "$work/d1/issues.json")
[ "$got_locked" = "$want_locked" ] ||
	fail "issues carrying agent-in-progress: got [$got_locked]," \
	     "want [$want_locked]"
[ "$(locked_issues "$DEMO/issues.json")" = "acme/infra#301" ] ||
	fail "the demo's issues.json was changed in the source tree"

runs=$(ls "$work/d1/runs" 2>/dev/null | tr '\n' ' ')
[ "$runs" = "acme-api-102-1 acme-web-202-1 " ] ||
	fail "runs/ holds [$runs], want [acme-api-102-1 acme-web-202-1 ]"
for id in acme-api-102-1 acme-web-202-1; do
	dir="$work/d1/runs/$id"
	for f in prompt.txt output.log exit_status; do
		[ -f "$dir/$f" ] || fail "$id has no $f"
	done
	grep -q "in thread $id\$" "$dir/output.log" 2>/dev/null ||
		fail "$id/output.log does not show the agent's line"
	[ "$(cat "$dir/exit_status" 2>/dev/null)" = "exited 0" ] ||
		fail "$id/exit_status is not 'exited 0'"
done
grep -q 'acme/api#102' "$work/d1/runs/acme-api-102-1/prompt.txt" \
	2>/dev/null || fail "the prompt does not name acme/api#102"

# --- a second poll: every repo is locked now ----------------------------

cp "$work/d1/issues.json" "$work/after-first"
run "$AFK" poll -c "$work/d1/afk.json"
[ "$rc" -eq 0 ] || { fail "second poll exited $rc, want 0"; said; }
if printf '%s\n' "$out" | grep -q '^dispatched'; then
	fail "the second poll dispatched"; said
fi
if ! printf '%s\n' "$out" | grep -q '^0 dispatched, 7 skipped$'; then
	fail "the second poll's summary is not '0 dispatched, 7 skipped'"
	said
fi
cmp -s "$work/d1/issues.json" "$work/after-first" ||
	fail "the second poll changed the issue file"
[ "$(ls "$work/d1/runs" 2>/dev/null | wc -l)" -eq 2 ] ||
	fail "runs/ does not hold exactly 2 run directories after the" \
	     "second poll"

# --- the kill switch from the environment -------------------------------

demo d2
run env AFK_KILL_SWITCH=1 "$AFK" poll --config "$work/d2/afk.json"
[ "$rc" -eq 0 ] || { fail "killed poll exited $rc, want 0"; said; }
printf '%s\n' "$out" | grep -q 'kill switch is on' ||
	{ fail "the killed poll does not say the kill switch is on"; said; }
if printf '%s\n' "$out" | grep -q '^dispatched'; then
	fail "the killed poll dispatched"
fi
cmp -s "$work/d2/issues.json" "$DEMO/issues.json" ||
	fail "the killed poll changed the issue file"
[ ! -e "$work/d2/runs" ] || fail "the killed poll made runs/"

run env AFK_ALLOWLIST= "$AFK" poll --config "$work/d2/afk.json"
[ "$rc" -eq 0 ] || fail "poll with an empty allowlist exited $rc, want 0"
printf '%s\n' "$out" | grep -q 'allowlist is empty' ||
	{ fail "an empty AFK_ALLOWLIST is not reported"; said; }
cmp -s "$work/d2/issues.json" "$DEMO/issues.json" ||
	fail "the poll with an empty allowlist changed the issue file"

# --- the command line ---------------------------------------------------

for h in --help -h help; do
	run "$AFK" "$h"
	[ "$rc" -eq 0 ] || fail "afk $h exited $rc, want 0"
	printf '%s\n' "$out" | grep -q '^usage: afk poll' ||
		fail "afk $h prints no usage on stdout"
	[ -z "$err" ] || fail "afk $h wrote to stderr"
done

run "$AFK" --version
[ "$rc" -eq 0 ] || fail "afk --version exited $rc"
printf '%s\n' "$out" | grep -Eq '^afk [0-9]+\.[0-9]+\.[0-9]+$' ||
	fail "afk --version printed [$out]"

for args in "--frobnicate" "poll --frobnicate" "frobnicate" "poll" ""; do
	# shellcheck disable=SC2086 # split on purpose
	run "$AFK" $args
	[ "$rc" -eq 2 ] || fail "afk $args exited $rc, want 2"
	[ -z "$out" ] || fail "afk $args wrote to stdout"
	printf '%s\n' "$err" | grep -q '^usage: afk poll' ||
		fail "afk $args prints no usage on stderr"
done

demo d3
sed 's/"allowlist": *\[[^]]*\]/"allowlist": ["*"]/' "$DEMO/afk.json" \
	>"$work/d3/afk.json"
run "$AFK" poll --config "$work/d3/afk.json"
[ "$rc" -eq 3 ] || { fail "a wildcard allowlist exited $rc, want 3"; said; }
printf '%s\n' "$err" | grep -q 'allowlist' ||
	{ fail "the configuration error does not name allowlist"; said; }
[ ! -e "$work/d3/runs" ] || fail "a refused configuration made runs/"

run "$AFK" poll --config "$work/no-such-file.json"
[ "$rc" -eq 3 ] || fail "a missing configuration exited $rc, want 3"
printf '%s\n' "$err" | grep -q 'no-such-file.json' ||
	fail "the missing configuration's message does not name it"

# --- a tick that fails --------------------------------------------------

demo d4
printf '{"issues": [\n' >"$work/d4/issues.json"
run "$AFK" poll --config "$work/d4/afk.json"
[ "$rc" -eq 1 ] || { fail "a malformed issue file exited $rc, want 1"; said; }
printf '%s\n' "$err" | grep -q "^afk: poll failed: .*$work/d4/issues.json:2:" ||
	{ fail "the parse failure does not name the file and line"; said; }

if [ "$failures" -ne 0 ]; then
	echo "cli.sh: $failures check(s) failed"
	exit 1
fi
echo "cli.sh: all checks passed"
exit 0
