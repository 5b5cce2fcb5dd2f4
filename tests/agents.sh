#!/bin/sh
# tests/agents.sh - the coding-agent wrappers of examples/agents against
# the stand-ins of tests/agents, which write the event formats of the real
# CLIs (each cites the package, version and file its events are shaped
# by): for each CLI, turn 1 and turn 2 (the session kept, then resumed),
# the AFK-PHASE and AFK-USAGE lines, the prompt on stdin and never in
# argv, the exit status passed through, an error the stream reports,
# garbage lines between the events, a missing CLI and a session file the
# agent tampered with.
# Run by make check with top_srcdir (absolute) set.
# Exit 0 pass, 1 fail, 77 skip.

set -u
: "${top_srcdir:?top_srcdir is not set}"
AGENTS="$top_srcdir/examples/agents"
STANDINS="$top_srcdir/tests/agents"

# The wrappers say "#!/usr/bin/env python3": the python3 they find is
# the one configure found (3.9 at least), through PATH.
PY=
for p in "${PYTHON3:-}" /usr/bin/python3; do
	if [ -n "$p" ] && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
		PY=$p
		break
	fi
done
if [ -z "$PY" ]; then
	echo "SKIP: no python3 >= 3.9 (tried ${PYTHON3:-} /usr/bin/python3)"
	exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/afk-agents.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT HUP INT TERM
mkdir "$work/bin" && ln -s "$PY" "$work/bin/python3" || exit 1
PATH=$work/bin:$PATH
# Nothing is written in the source tree (read-only under distcheck).
PYTHONDONTWRITEBYTECODE=1
export PATH PYTHONDONTWRITEBYTECODE
unset STANDIN_SCENARIO STANDIN_EXIT STANDIN_HANG STANDIN_SESSION

# shellcheck source=tests/scriptlib.sh
. "$top_srcdir/tests/scriptlib.sh" # fail, run, said

PROMPT='Fix acme/api#7: the parser drops the last line.
Print AFK-PHASE lines as you go.'

# The variable that names a CLI's binary is AFK_ and its name in capitals.
upper() {
	printf '%s' "$1" | tr '[:lower:]' '[:upper:]'
}

# turn CLI N [VAR=value ...]: runs the wrapper of CLI for turn N in
# $work/run (the run directory) with the stand-in as its CLI and the
# prompt on stdin; sets $out, $err, $rc.  The stand-in appends how it
# was run to $work/log.
turn() {
	cli=$1 n=$2
	shift 2
	var=AFK_$(upper "$cli")
	printf '%s\n' "$PROMPT" >"$work/prompt"
	(cd "$work/run" && env "$var=$STANDINS/$cli" AFK_RUN_DIR="$work/run" \
		AFK_TURN="$n" AFK_REPO=acme/api AFK_ISSUE=7 \
		AFK_THREAD_ID=acme-api-7-1 STANDIN_LOG="$work/log" "$@" \
		"$AGENTS/$cli" <"$work/prompt") >"$work/stdout" 2>"$work/stderr"
	rc=$?
	out=$(cat "$work/stdout")
	err=$(cat "$work/stderr")
}

# A fresh run directory and stand-in log.
fresh() {
	rm -rf "$work/run" "$work/log"
	mkdir "$work/run" || exit 1
}

# The lines of what the wrapper printed that afk reads.
afk_lines() {
	printf '%s\n' "$out" | grep -E '^AFK-(PHASE|USAGE):'
}

# What the stand-in's last run was given: "argv" (one argument a line)
# or "stdin".
last() {
	"$PY" -c '
import json, sys
rec = json.loads(open(sys.argv[1]).read().splitlines()[-1])
if sys.argv[2] == "argv":
    print("\n".join(rec["argv"]))
else:
    sys.stdout.write(rec[sys.argv[2]])
' "$work/log" "$1"
}

# check CLI RESUME SESSION WANT1 WANT2: the whole life of one wrapper.
# RESUME is the argument before the session id on turn 2; SESSION the
# stand-in's session id; WANT1 and WANT2 the AFK lines of the turns.
check() {
	cli=$1 resume=$2 session=$3 want1=$4 want2=$5

	# Turn 1: a new session, kept in the run directory.
	fresh
	turn "$cli" 1
	[ "$rc" -eq 0 ] || { fail "$cli: turn 1 exited $rc"; said; }
	[ "$(afk_lines)" = "$want1" ] ||
		{ fail "$cli: turn 1 printed other AFK lines"; said; }
	[ "$(cat "$work/run/.afk-session" 2>/dev/null)" = "$session" ] ||
		fail "$cli: turn 1 did not keep the session id"
	[ -n "$(find "$work/run/.afk-session" -type f -perm 600)" ] ||
		fail "$cli: .afk-session is not a file of mode 0600"
	[ "$(last stdin)" = "$PROMPT" ] ||
		fail "$cli: the CLI did not get the prompt on stdin"
	if last argv | grep -q 'parser drops'; then
		fail "$cli: the prompt is in argv"
	fi
	if last argv | grep -qx -- "$resume"; then
		fail "$cli: turn 1 resumed a session"
	fi
	[ "$(last cwd)" = "$(cd "$work/run" && pwd -P)" ] ||
		fail "$cli: the CLI did not run in the run directory"
	if printf '%s\n' "$err" | grep -q Traceback; then
		fail "$cli: turn 1 raised"; said
	fi

	# Turn 2: the same session resumed, the usage an increment.
	turn "$cli" 2
	[ "$rc" -eq 0 ] || { fail "$cli: turn 2 exited $rc"; said; }
	[ "$(afk_lines)" = "$want2" ] ||
		{ fail "$cli: turn 2 printed other AFK lines"; said; }
	last argv | grep -A1 -x -- "$resume" | tail -n 1 | grep -qx -- "$session" ||
		{ fail "$cli: turn 2 did not resume $session"; last argv; }

	# The wrapper's own arguments go to the CLI.
	fresh
	(cd "$work/run" && printf '%s\n' "$PROMPT" |
		env "AFK_$(upper "$cli")=$STANDINS/$cli" \
		AFK_RUN_DIR="$work/run" AFK_TURN=1 STANDIN_LOG="$work/log" \
		"$AGENTS/$cli" --model m1 >/dev/null 2>&1)
	last argv | grep -A1 -x -- --model | tail -n 1 | grep -qx m1 ||
		fail "$cli: the wrapper's arguments did not reach the CLI"

	# The CLI's exit status is the wrapper's.
	fresh
	turn "$cli" 1 STANDIN_EXIT=3
	[ "$rc" -eq 3 ] || { fail "$cli: the CLI exited 3, the wrapper $rc"; said; }

	# An error the stream reports fails the turn, though the CLI exit 0.
	fresh
	turn "$cli" 1 STANDIN_SCENARIO=error
	[ "$rc" -eq 1 ] || { fail "$cli: an error event: exited $rc, want 1"; said; }
	printf '%s\n' "$err" | grep -q "^$cli: error: " ||
		{ fail "$cli: an error event was not said"; said; }

	# Garbage between the events: echoed, and the AFK lines the same.
	fresh
	turn "$cli" 1 STANDIN_SCENARIO=garbage
	[ "$rc" -eq 0 ] || { fail "$cli: garbage: exited $rc"; said; }
	[ "$(afk_lines)" = "$want1" ] ||
		{ fail "$cli: garbage: other AFK lines"; said; }
	printf '%s\n' "$out" | grep -qx 'this is not json' ||
		{ fail "$cli: garbage: a non-JSON line was not echoed"; said; }
	if printf '%s\n' "$err" | grep -q Traceback; then
		fail "$cli: garbage: the wrapper raised"; said
	fi

	# A session file the agent wrote an option into is not resumed.
	fresh
	printf -- '--dangerous\n' >"$work/run/.afk-session"
	turn "$cli" 2
	if last argv | grep -qx -- --dangerous; then
		fail "$cli: a tampered session file reached argv"
	fi
	# ... nor one it made a link to a file elsewhere.
	fresh
	printf '%s\n' "$session" >"$work/elsewhere"
	ln -s "$work/elsewhere" "$work/run/.afk-session"
	turn "$cli" 2
	if last argv | grep -qx -- "$resume"; then
		fail "$cli: a session file that is a symbolic link was followed"
	fi
	[ -L "$work/run/.afk-session" ] &&
		fail "$cli: the session was written through a symbolic link"

	# No CLI at all: 127, as a shell says.
	fresh
	turn "$cli" 1 "AFK_$(upper "$cli")=$work/no-such-cli"
	[ "$rc" -eq 127 ] || { fail "$cli: a missing CLI: exited $rc, want 127"; said; }
}

# Claude Code: running totals, so turn 2's increment is its totals less
# turn 1's; the text the agent wrote "AFK-USAGE:" in is not counted.
check claude --resume 8f3c2a8e-5d1b-4c55-9a0e-2b7f1c9d4e61 \
'AFK-PHASE: tests-red
AFK-USAGE: tokens_in=125 tokens_out=50 cost_usd=0.0125' \
'AFK-PHASE: green
AFK-USAGE: tokens_in=225 tokens_out=30 cost_usd=0.0175'
fresh
turn claude 1
printf '%s\n' "$out" | grep -qx '  AFK-USAGE: tokens_in=999999' ||
	{ fail "claude: the agent's own AFK-USAGE line was not defused"; said; }

# A crash's result with zeroed totals between two turns counts nothing,
# and the next turn's increment is still from turn 1's totals.
fresh
turn claude 1
turn claude 2 STANDIN_SCENARIO=zeroed
[ "$rc" -eq 1 ] || { fail "claude: a zeroed error result: exited $rc"; said; }
if printf '%s\n' "$out" | grep -q '^AFK-USAGE:'; then
	fail "claude: a zeroed result printed usage"; said
fi
turn claude 3
printf '%s\n' "$out" | grep -qx 'AFK-USAGE: tokens_in=225 tokens_out=30 cost_usd=0.0175' ||
	{ fail "claude: after a zeroed result, the increment is wrong"; said; }

# Codex: per-turn usage; a reconnection's error event followed by a
# completed turn is no failure.
check codex resume 019a3b2c-7d4e-7f10-a2b3-c4d5e6f70812 \
'AFK-PHASE: tests-red
AFK-USAGE: tokens_in=1000 tokens_out=300' \
'AFK-PHASE: green
AFK-USAGE: tokens_in=2000 tokens_out=300'
fresh
turn codex 2
[ "$(last argv | tail -n 1)" = "-" ] ||
	fail "codex: the prompt is not read from stdin (\"-\" last)"

# Gemini CLI: deltas that cut the phase line in two; the user's message
# (the prompt echoed) is not the agent's.
check gemini --resume 0f7b245f-82a1-48fa-8531-14bb6ff971e5 \
'AFK-PHASE: tests-red
AFK-USAGE: tokens_in=500 tokens_out=40' \
'AFK-PHASE: green
AFK-USAGE: tokens_in=900 tokens_out=40'

# OpenCode: one increment per step.
check opencode --session ses_6a1b2c3d4e5fXyZ0123456789 \
'AFK-USAGE: tokens_in=1310 tokens_out=250 cost_usd=0.0042
AFK-PHASE: tests-red
AFK-USAGE: tokens_in=400 tokens_out=100 cost_usd=0.001' \
'AFK-USAGE: tokens_in=1310 tokens_out=250 cost_usd=0.0042
AFK-PHASE: green
AFK-USAGE: tokens_in=2000 tokens_out=100 cost_usd=0.001'

# --version (what afk check-config --online shows): the CLI's first
# line, named.
for pair in 'claude:claude 2.1.332 (Claude Code)' 'codex:codex-cli 0.171.0' \
	'gemini:gemini 0.61.0' 'opencode:opencode 1.18.33'; do
	cli=${pair%%:*} want=${pair#*:}
	got=$(env "AFK_$(upper "$cli")=$STANDINS/$cli" \
		"$AGENTS/$cli" --version </dev/null 2>&1)
	[ "$got" = "$want" ] || fail "$cli --version: \"$got\", want \"$want\""
done

# Through afk itself: the demo with the claude wrapper as its command
# agent, the stand-in named by AFK_CLAUDE, which the "env" list passes on
# (the command agent passes nothing else).  One poll dispatches; the
# run's log has the wrapper's lines, its directory the session.
AFK="${top_builddir:-}/examples/afk/afk"
if [ -x "$AFK" ]; then
	unset AFK_KILL_SWITCH AFK_ALLOWLIST STATE_DIRECTORY
	XDG_STATE_HOME=$work/state
	export XDG_STATE_HOME
	rm -rf "$work/demo" && cp -R "$top_srcdir/examples/demo" "$work/demo" &&
		chmod -R u+w "$work/demo" && rm -rf "$work/demo/runs"/* || exit 1
	sed "s|\"agent\": {[^}]*}|\"agent\": {\"kind\": \"command\", \"command\": [\"$AGENTS/claude\"], \"state_dir\": \"runs\", \"env\": [\"AFK_CLAUDE\", \"STANDIN_LOG\", \"PYTHONDONTWRITEBYTECODE\"]}|" \
		"$top_srcdir/examples/demo/afk.json" >"$work/demo/afk.json"
	rm -f "$work/log"
	AFK_CLAUDE="$STANDINS/claude" STANDIN_LOG="$work/log" \
		"$AFK" poll --config "$work/demo/afk.json" >"$work/stdout" 2>"$work/stderr"
	rc=$?
	out=$(cat "$work/stdout") err=$(cat "$work/stderr")
	run_dir="$work/demo/runs/acme-api-102-1"
	[ "$rc" -eq 0 ] || { fail "afk poll with the claude wrapper exited $rc"; said; }
	# the agent runs detached: the poll returned as it started
	settle "$work/demo" || fail "afk: the claude wrapper's run did not end"
	if [ -d "$run_dir" ]; then
		grep -qx 'AFK-PHASE: tests-red' "$run_dir/output.log" ||
			{ fail "afk: the run's log has no phase"; cat "$run_dir/output.log"; }
		grep -qx 'AFK-USAGE: tokens_in=125 tokens_out=50 cost_usd=0.0125' \
			"$run_dir/output.log" ||
			{ fail "afk: the run's log has no usage"; cat "$run_dir/output.log"; }
		[ "$(cat "$run_dir/.afk-session" 2>/dev/null)" = \
			8f3c2a8e-5d1b-4c55-9a0e-2b7f1c9d4e61 ] ||
			fail "afk: the run's directory has no session"
		grep -q "\"stdin\": \"[^\"]*acme/api#102" "$work/log" ||
			fail "afk: the stand-in did not get the prompt of acme/api#102"
		# the watch reads the wrapper's usage into the run's checklist
		"$AFK" watch --config "$work/demo/afk.json" --now 1767225600 \
			>"$work/stdout" 2>"$work/stderr" ||
			{ fail "afk watch after the claude wrapper exited $?"; cat "$work/stderr"; }
		grep -q 'Usage: 125 tokens in, 50 out, \$0\.01' "$work/demo/issues.json" ||
			{ fail "afk: the checklist shows no usage"; cat "$work/stdout"; }
	else
		fail "afk poll with the claude wrapper made no $run_dir"; said
	fi
fi

if [ "$failures" -ne 0 ]; then
	echo "agents.sh: $failures check(s) failed"
	exit 1
fi
echo "agents.sh: all checks passed"
exit 0
