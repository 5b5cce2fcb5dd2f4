#!/bin/sh
# tests/cli.sh - the afk command on the demo: what one poll dispatches,
# what it skips and why, what it writes; the whole life of the demo's runs
# over several ticks; and the command line itself.
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
# What afk writes (the tick lock, the ETag cache) goes to the state
# directory, here under $work, never the caller's $HOME.
unset STATE_DIRECTORY
XDG_STATE_HOME=$work/state
export XDG_STATE_HOME

. "$top_srcdir/tests/scriptlib.sh" # fail, demo, run, said

# What afk said on stderr but its news: every line except the log's
# notice, info and debug lines ("TS notice EVENT: MESSAGE", see afk(1)
# LOGGING) - a tick that went well says only news.
trouble() {
	printf '%s\n' "$err" |
		grep -Ev '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z (notice|info|debug) [a-z_.]+: '
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
dispatched acme/ops#501 -> thread acme-ops-501-1
skipped acme/api#101 (another issue of the repository comes first)
skipped acme/api#103 (ready label not applied by a trusted user)
skipped acme/web#201 (blocked by an open issue)
skipped acme/infra#301 (already in progress)
skipped acme/infra#302 (repository locked by a run in progress)
3 dispatched, 5 skipped'
got=$(printf '%s\n' "$out" | sed 's/  */ /g')
if [ "$got" != "$expected" ]; then
	fail "the first poll's report differs"
	printf '%s\n' "$expected" >"$work/want"
	printf '%s\n' "$got" >"$work/got"
	diff -u "$work/want" "$work/got"
fi
[ -z "$(trouble)" ] || fail "the first poll wrote to stderr: $err"
[ "$(printf '%s\n' "$err" | grep -c ' notice poll\.dispatch: acme/[a-z]*#[0-9]* dispatched: thread ')" -eq 3 ] ||
	{ fail "the first poll did not log its 3 dispatches"; said; }

want_locked='acme/api#102
acme/web#202
acme/infra#301
acme/ops#501'
got_locked=$(locked_issues "$work/d1/issues.json")
[ "$got_locked" = "$want_locked" ] ||
	fail "issues carrying agent-in-progress: got [$got_locked]," \
	     "want [$want_locked]"
[ "$(locked_issues "$DEMO/issues.json")" = "acme/infra#301" ] ||
	fail "the demo's issues.json was changed in the source tree"

want_runs='acme-api-102-1 acme-infra-301-1 acme-ops-501-1 acme-web-202-1 '
runs=$(ls "$work/d1/runs" 2>/dev/null | tr '\n' ' ')
[ "$runs" = "$want_runs" ] || fail "runs/ holds [$runs], want [$want_runs]"
for id in acme-api-102-1 acme-web-202-1 acme-ops-501-1; do
	dir="$work/d1/runs/$id"
	for f in prompt.txt output.log exit_status turns issue; do
		[ -f "$dir/$f" ] || fail "$id has no $f"
	done
	grep -q "in thread $id\$" "$dir/output.log" 2>/dev/null ||
		fail "$id/output.log does not show the agent's line"
done
for id in acme-api-102-1 acme-web-202-1; do
	[ "$(cat "$work/d1/runs/$id/exit_status" 2>/dev/null)" = "exited 0" ] ||
		fail "$id/exit_status is not 'exited 0'"
done
[ "$(cat "$work/d1/runs/acme-ops-501-1/exit_status" 2>/dev/null)" = \
  "exited 1" ] || fail "acme-ops-501-1/exit_status is not 'exited 1'"
grep -q 'acme/api#102' "$work/d1/runs/acme-api-102-1/prompt.txt" \
	2>/dev/null || fail "the prompt does not name acme/api#102"

# --- a second poll: every repo is locked now ----------------------------

cp "$work/d1/issues.json" "$work/after-first"
run "$AFK" poll -c "$work/d1/afk.json"
[ "$rc" -eq 0 ] || { fail "second poll exited $rc, want 0"; said; }
if printf '%s\n' "$out" | grep -q '^dispatched'; then
	fail "the second poll dispatched"; said
fi
if ! printf '%s\n' "$out" | grep -q '^0 dispatched, 8 skipped$'; then
	fail "the second poll's summary is not '0 dispatched, 8 skipped'"
	said
fi
cmp -s "$work/d1/issues.json" "$work/after-first" ||
	fail "the second poll changed the issue file"
[ "$(ls "$work/d1/runs" 2>/dev/null | wc -l)" -eq 4 ] ||
	fail "runs/ does not hold exactly 4 run directories after the" \
	     "second poll"

# --- the whole lifecycle: four ticks on the demo ------------------------

# One line per issue of an issue file: "repo#number state labels...
# records=N attempts=A", where records counts the comments carrying a run
# record and attempts is read from the last of them.  The file is
# jansson's indented output: one member per line, each comment's body on
# one line with its quotes escaped, so a body never matches a member.
issue_summary() {
	awk '
		function flush() {
			if (repo != "")
				print repo "#" num " " state labels \
				      " records=" rec " attempts=" att
		}
		/^      "repo": "/ { flush(); s = $0; sub(/.*"repo": *"/, "", s);
		                     sub(/".*/, "", s); repo = s; num = "";
		                     state = "open"; labels = ""; rec = 0;
		                     att = "-"; inlab = 0; next }
		/^      "number": / { s = $0; gsub(/[^0-9]/, "", s); num = s }
		/^      "state": "closed"/ { state = "closed" }
		/^      "labels": \[\]/ { next }
		/^      "labels": \[/ { inlab = 1; next }
		inlab && /^      \]/ { inlab = 0; next }
		inlab { s = $0; gsub(/[ ",]/, "", s); labels = labels " " s }
		/"body": "<!-- afk-run:/ {
			rec++
			if (match($0, /\\"attempts\\":[0-9]+/)) {
				s = substr($0, RSTART, RLENGTH)
				gsub(/[^0-9]/, "", s); att = s
			}
		}
		END { flush() }
	' "$1"
}

# The summary line of repo#number ($2) in the issue file $1.
issue_line() {
	issue_summary "$1" | grep "^$2 "
}

demo d5
start=1767225600
: >"$work/ticks"
tick=1
while [ "$tick" -le 4 ]; do
	# The agents run detached: the demo's ticks wait for them between
	# the poll and the watch.
	poll_settle_watch d5 $((start + (tick - 1) * 600))
	[ "$rc" -eq 0 ] || { fail "tick $tick exited $rc, want 0"; said; }
	[ -z "$(trouble)" ] || fail "tick $tick wrote to stderr: $err"
	printf '%s\n' "$out" >"$work/tick$tick"
	cat "$work/stdout" >>"$work/ticks"
	tick=$((tick + 1))
done

# What each tick did, as the report says it.
said_in() { # tick, fixed string
	grep -Fq -- "$2" "$work/tick$1" || fail "tick $1 does not say: $2"
}
said_in 1 'dispatched  acme/ops#501    -> thread acme-ops-501-1'
said_in 1 'watch       acme/api#102    wait'
said_in 1 'watch       acme/web#202    fix-forward (attempt 1 of 2)'
said_in 1 'watch       acme/infra#301  wait'
said_in 1 'watch       acme/ops#501    escalate: the agent failed'
said_in 1 '    Fix-forward attempts: 1 of 2 (failing: build).'
said_in 1 '4 watched: 0 closed, 1 fixed forward, 1 escalated, 2 waiting'
said_in 2 'watch       acme/api#102    close'
said_in 2 'watch       acme/web#202    wait'
said_in 3 'dispatched  acme/api#101    -> thread acme-api-101-1'
said_in 3 'watch       acme/web#202    close'
said_in 4 'watch       acme/api#101    close'
said_in 4 '2 watched: 1 closed, 0 fixed forward, 0 escalated, 1 waiting'
said_in 4 'watch       acme/infra#301  wait'
grep -q '<!-- afk-run' "$work/ticks" &&
	fail "a report shows the hidden record line of a checklist"
grep -q '^    - \[x\] dispatched (agent thread `acme-web-202-1`)$' \
	"$work/tick1" || fail "tick 1 does not show the checklist indented"

# Exactly one notification, for the escalated issue, with its address.
notes=$(grep -c '^afk: ' "$work/ticks")
[ "$notes" -eq 1 ] || fail "$notes notification lines, want 1"
grep -qx 'afk: acme/ops#501 needs a human: the agent failed (the command exited 1). https://tracker.example/acme/ops/issues/501' \
	"$work/ticks" || fail "the notification line differs"

# Where each issue ended.
check_issue() { # repo#number, expected summary (without the prefix)
	got=$(issue_line "$work/d5/issues.json" "$1")
	[ "$got" = "$1 $2" ] || fail "$1 ended as [$got], want [$1 $2]"
}
check_issue 'acme/api#101' 'closed bug records=1 attempts=0'
check_issue 'acme/api#102' 'closed records=1 attempts=0'
check_issue 'acme/web#202' 'closed records=1 attempts=1'
check_issue 'acme/ops#501' 'open ready-for-human records=1 attempts=0'
check_issue 'acme/infra#301' \
	'open ready-for-agent agent-in-progress records=1 attempts=0'
check_issue 'acme/web#201' 'open ready-for-agent records=0 attempts=-'
done_n=$(grep -c 'Done\*\*: delivered; the issue is closed' "$work/d5/issues.json")
[ "$done_n" -eq 3 ] || fail "$done_n checklists say done, want 3"
grep -q 'Needs a human\*\*: the agent failed' "$work/d5/issues.json" ||
	fail "the escalated checklist does not say why"

# The corrective turn: the same thread, a second prompt naming the check.
dir="$work/d5/runs/acme-web-202-1"
[ "$(cat "$dir/turns" 2>/dev/null)" = 2 ] || fail "acme-web-202-1 ran" \
	"$(cat "$dir/turns" 2>/dev/null) turns, want 2"
grep -q 'build: https://ci.example/acme/web/7' "$dir/prompt-2.txt" \
	2>/dev/null || fail "the corrective prompt does not name the check"
grep -q '^agent: turn 2 on acme/web#202' "$dir/output.log" 2>/dev/null ||
	fail "the second turn's output was not appended to output.log"
grep -q '^agent: turn 1 on acme/web#202' "$dir/output.log" 2>/dev/null ||
	fail "the first turn's output was lost"
[ ! -e "$work/d5/runs/acme-web-202-2" ] ||
	fail "the corrective turn made a new thread"

# Stateless: a further tick changes nothing.
cp "$work/d5/issues.json" "$work/after-four"
run "$AFK" tick --config "$work/d5/afk.json" --now $((start + 4 * 600))
[ "$rc" -eq 0 ] || { fail "tick 5 exited $rc, want 0"; said; }
cmp -s "$work/d5/issues.json" "$work/after-four" ||
	fail "a fifth tick changed the issue file"
printf '%s\n' "$out" | grep -q '^0 dispatched' ||
	fail "a fifth tick dispatched"
printf '%s\n' "$out" | grep -q '^afk: ' && fail "a fifth tick notified"

# afk watch alone: the same report, no poll.
cp "$work/d5/issues.json" "$work/before-watch"
run "$AFK" watch -c "$work/d5/afk.json" --now=$((start + 5 * 600))
[ "$rc" -eq 0 ] || { fail "watch exited $rc, want 0"; said; }
printf '%s\n' "$out" | grep -Eq '^(dispatched|skipped) ' &&
	fail "watch ran a poll"
[ "$(printf '%s\n' "$out" | grep -c '^watch ')" -eq 1 ] ||
	{ fail "watch did not report exactly the one run left"; said; }
cmp -s "$work/d5/issues.json" "$work/before-watch" ||
	fail "a watch with nothing to do changed the issue file"

# A stall: no progress past stall_timeout hands the last run to a human.
run "$AFK" watch -c "$work/d5/afk.json" --now $((start + 3 * 3600))
[ "$rc" -eq 0 ] || { fail "the late watch exited $rc, want 0"; said; }
printf '%s\n' "$out" |
	grep -q 'acme/infra#301  escalate: no progress before the deadline' ||
	{ fail "a stalled run was not escalated"; said; }
check_issue 'acme/infra#301' 'open ready-for-human records=1 attempts=0'

# The file notifier appends its line to a file.
demo d6
sed 's/"notifier": {"kind": "stdout"}/"notifier": {"kind": "file", "path": "notes.log"}/' \
	"$DEMO/afk.json" >"$work/d6/afk.json"
poll_settle_watch d6 "$start"
[ "$rc" -eq 0 ] || { fail "tick with a file notifier exited $rc"; said; }
printf '%s\n' "$out" | grep -q '^afk: ' &&
	fail "the file notifier wrote to stdout"
[ "$(wc -l <"$work/d6/notes.log" 2>/dev/null)" -eq 1 ] ||
	fail "notes.log does not hold exactly one line"
grep -q '^afk: acme/ops#501 needs a human' "$work/d6/notes.log" \
	2>/dev/null || fail "notes.log does not name acme/ops#501"

# Without a CI adapter, tick refuses before it dispatches anything.
demo d7
grep -v '"ci":' "$DEMO/afk.json" >"$work/d7/afk.json"
run "$AFK" tick --config "$work/d7/afk.json"
[ "$rc" -eq 3 ] || { fail "tick without ci exited $rc, want 3"; said; }
printf '%s\n' "$err" | grep -q '"ci"' ||
	{ fail "the refusal does not name the ci key"; said; }
cmp -s "$work/d7/issues.json" "$DEMO/issues.json" ||
	fail "tick without ci changed the issue file"
[ "$(ls "$work/d7/runs")" = acme-infra-301-1 ] ||
	fail "tick without ci dispatched"
# ... while poll alone does not need one.
run "$AFK" poll --config "$work/d7/afk.json"
[ "$rc" -eq 0 ] || { fail "poll without ci exited $rc, want 0"; said; }

# --- the log on stderr (afk(1) LOGGING) ---------------------------------

ts='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'
demo l1
# A disarmed tick says so once, at notice, still exiting 0.
run env AFK_KILL_SWITCH=1 "$AFK" tick --config "$work/l1/afk.json"
[ "$rc" -eq 0 ] || { fail "disarmed tick exited $rc, want 0"; said; }
[ "$(printf '%s\n' "$err" | grep -c .)" -eq 1 ] &&
printf '%s\n' "$err" | grep -Eqx "$ts notice tick\.disarmed: the kill switch is on \(kill_switch, AFK_KILL_SWITCH\)" ||
	{ fail "the disarmed tick did not log one tick.disarmed notice"; said; }
# -q: errors only.
run env AFK_KILL_SWITCH=1 "$AFK" poll -q --config "$work/l1/afk.json"
[ "$rc" -eq 0 ] && [ -z "$err" ] ||
	{ fail "poll -q disarmed exited $rc or logged"; said; }
# --log-format json: one object per line with ts, level, event, msg.
run env AFK_KILL_SWITCH=1 AFK_ALLOWLIST= "$AFK" watch --log-format json \
	--config "$work/l1/afk.json"
[ "$rc" -eq 0 ] || { fail "watch --log-format json exited $rc"; said; }
printf '%s\n' "$err" | /usr/bin/python3 -c '
import json, re, sys
lines = sys.stdin.read().splitlines()
assert len(lines) == 1, lines
o = json.loads(lines[0])
assert sorted(o) == ["event", "level", "msg", "ts"], o
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", o["ts"]), o
assert o["level"] == "notice" and o["event"] == "tick.disarmed", o
assert o["msg"] == "the kill switch is on (kill_switch, AFK_KILL_SWITCH); " \
    "the allowlist is empty (allowlist, AFK_ALLOWLIST)", o
' || { fail "the json log line is not the disarmed notice"; said; }
run "$AFK" poll --log-format xml --config "$work/l1/afk.json"
[ "$rc" -eq 2 ] || fail "--log-format xml exited $rc, want 2"
# -v adds the info lines (each skip), which the default leaves out.
run "$AFK" poll --dry-run -v --config "$work/l1/afk.json"
[ "$(printf '%s\n' "$err" | grep -Ec "^$ts info poll\.skip: ")" -eq 5 ] ||
	{ fail "poll -v did not log its 5 skips"; said; }
run "$AFK" poll --dry-run --config "$work/l1/afk.json"
printf '%s\n' "$err" | grep -q ' info ' &&
	{ fail "poll without -v logged info lines"; said; }
# A warning of the HTTP layer reaches stderr: an ETag cache that cannot
# be read, found while the github tracker is set up (no request made).
printf 'not json at all' >"$work/l1/etags.json"
cat >"$work/l1/gh.json" <<JSON
{
  "kill_switch": true,
  "tracker": {"kind": "github", "token_env": "AFK_TEST_LOG_TOKEN"},
  "http": {"etag_cache": "etags.json"}
}
JSON
logtoken=ghp_LogTestTokenNeverShown0123456789
run env AFK_TEST_LOG_TOKEN=$logtoken "$AFK" check-config -c "$work/l1/gh.json"
printf '%s\n' "$err" | grep -Eq "^$ts warning http\.cache\.unreadable: ETag cache $work/l1/etags\.json ignored: " ||
	{ fail "the unreadable ETag cache was not logged as a warning"; said; }
if grep -qF "$logtoken" "$work/stdout" "$work/stderr"; then
	fail "the token was shown"
fi
run env AFK_TEST_LOG_TOKEN=$logtoken "$AFK" check-config -q -c "$work/l1/gh.json"
printf '%s\n' "$err" | grep -q 'http\.cache' &&
	{ fail "check-config -q logged a warning"; said; }

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
[ "$(ls "$work/d2/runs")" = acme-infra-301-1 ] ||
	fail "the killed poll made a run directory"
for cmd in watch tick; do
	run env AFK_KILL_SWITCH=1 "$AFK" "$cmd" --config "$work/d2/afk.json"
	[ "$rc" -eq 0 ] || { fail "killed $cmd exited $rc, want 0"; said; }
	printf '%s
' "$out" | grep -q 'kill switch is on' ||
		{ fail "the killed $cmd does not say the kill switch is on"; said; }
	printf '%s
' "$out" | grep -q '^watch' && fail "the killed $cmd watched"
	cmp -s "$work/d2/issues.json" "$DEMO/issues.json" ||
		fail "the killed $cmd changed the issue file"
done

run env AFK_ALLOWLIST= "$AFK" poll --config "$work/d2/afk.json"
[ "$rc" -eq 0 ] || fail "poll with an empty allowlist exited $rc, want 0"
printf '%s\n' "$out" | grep -q 'allowlist is empty' ||
	{ fail "an empty AFK_ALLOWLIST is not reported"; said; }
cmp -s "$work/d2/issues.json" "$DEMO/issues.json" ||
	fail "the poll with an empty allowlist changed the issue file"

# --- check-config -------------------------------------------------------

demo c1
cp -R "$work/c1/runs" "$work/c1-runs"
run "$AFK" check-config --config "$work/c1/afk.json"
[ "$rc" -eq 0 ] || { fail "check-config exited $rc, want 0"; said; }
expected="config: $work/c1/afk.json
armed: yes
allowlist: acme/api, acme/web, acme/infra, acme/ops
metrics_file: $work/state/afk/afk.prom
tracker: file
  {\"kind\":\"file\",\"path\":\"$work/c1/issues.json\"}
agent: command
  {\"kind\":\"command\",\"command\":[\"$work/c1/agent.sh\"],\"state_dir\":\"$work/c1/runs\",\"stop_grace\":10}
ci: command
  {\"kind\":\"command\",\"command\":[\"$work/c1/ci.sh\"]}
notifier: stdout
  {\"kind\":\"stdout\"}
valid"
if [ "$out" != "$expected" ]; then
	fail "check-config's summary differs"
	printf '%s\n' "$expected" >"$work/want"
	printf '%s\n' "$out" >"$work/got"
	diff -u "$work/want" "$work/got"
fi
[ -z "$err" ] || fail "check-config wrote to stderr: $err"

# Disarmed is valid; the summary says which gate is closed.
run env AFK_KILL_SWITCH=1 "$AFK" check-config -c "$work/c1/afk.json"
[ "$rc" -eq 0 ] || { fail "check-config, killed, exited $rc"; said; }
printf '%s\n' "$out" | grep -qx 'armed: no (the kill switch is on: kill_switch, AFK_KILL_SWITCH)' ||
	{ fail "check-config does not say the kill switch is on"; said; }
run env AFK_ALLOWLIST= "$AFK" check-config -c "$work/c1/afk.json"
[ "$rc" -eq 0 ] || { fail "check-config, empty allowlist, exited $rc"; said; }
printf '%s\n' "$out" | grep -qx 'armed: no (the allowlist is empty: allowlist, AFK_ALLOWLIST)' ||
	{ fail "check-config does not say the allowlist is empty"; said; }
printf '%s\n' "$out" | grep -qx 'allowlist: (empty)' ||
	{ fail "check-config does not show the empty allowlist"; said; }

# A refused value, a missing file: exit 3, the reason, no summary.
sed 's/"allowlist": *\[[^]]*\]/"allowlist": ["*"]/' "$DEMO/afk.json" \
	>"$work/c1/wild.json"
run "$AFK" check-config -c "$work/c1/wild.json"
[ "$rc" -eq 3 ] || { fail "check-config, wildcard, exited $rc, want 3"; said; }
printf '%s\n' "$err" | grep -q 'allowlist' ||
	{ fail "check-config's error does not name allowlist"; said; }
[ -z "$out" ] || fail "check-config summarised a refused file"
run "$AFK" check-config -c "$work/no-such-file.json"
[ "$rc" -eq 3 ] || fail "check-config, missing file, exited $rc, want 3"

# No CI is valid (poll needs none); no tracker is not.
grep -v '"ci":' "$DEMO/afk.json" >"$work/c1/noci.json"
run "$AFK" check-config -c "$work/c1/noci.json"
[ "$rc" -eq 0 ] || { fail "check-config without ci exited $rc, want 0"; said; }
printf '%s\n' "$out" | grep -q '^ci: none' ||
	{ fail "check-config does not say there is no ci"; said; }
grep -v '"tracker":' "$DEMO/afk.json" >"$work/c1/notracker.json"
run "$AFK" check-config -c "$work/c1/notracker.json"
[ "$rc" -eq 3 ] ||
	{ fail "check-config without a tracker exited $rc, want 3"; said; }
printf '%s\n' "$err" | grep -q '"tracker"' ||
	{ fail "the refusal does not name the tracker key"; said; }

# The built-ins are set up: a token variable that is not set is
# reported, and a token or a webhook that is set is never printed.
token=ghp_AFKtestFAKEtoken0123456789abcdef
hook=https://hooks.slack.com/services/T0AFK/B0AFK/AFKfakeWEBHOOKsecret
sed -e 's/"tracker": {[^}]*}/"tracker": {"kind": "github", "token_env": "AFK_TEST_FAKE_TOKEN"}/' \
    -e 's/"notifier": {[^}]*}/"notifier": {"kind": "slack", "webhook_env": "AFK_TEST_FAKE_HOOK"}/' \
	"$DEMO/afk.json" >"$work/c1/gh.json"
run env AFK_TEST_FAKE_TOKEN="$token" AFK_TEST_FAKE_HOOK="$hook" \
	"$AFK" check-config -c "$work/c1/gh.json"
[ "$rc" -eq 0 ] || { fail "check-config, github, exited $rc, want 0"; said; }
printf '%s\n' "$out" | grep -qx 'tracker: github' ||
	{ fail "check-config does not name the github tracker"; said; }
printf '%s\n' "$out" | grep -qx 'notifier: slack' ||
	{ fail "check-config does not name the slack notifier"; said; }
printf '%s\n' "$out" | grep -qxF '  {"kind":"github","api_url":"https://api.github.com","token_env":"AFK_TEST_FAKE_TOKEN"}' ||
	{ fail "check-config does not show the github tracker's members"; said; }
if grep -qF -e "$token" -e AFKfakeWEBHOOK "$work/stdout" "$work/stderr"; then
	fail "check-config printed a secret"; said
fi
run env AFK_TEST_FAKE_HOOK="$hook" "$AFK" check-config -c "$work/c1/gh.json"
[ "$rc" -eq 3 ] ||
	{ fail "check-config, token unset, exited $rc, want 3"; said; }
printf '%s\n' "$err" | grep -q 'AFK_TEST_FAKE_TOKEN' ||
	{ fail "check-config does not name the unset token variable"; said; }

# A command notifier is named like any other kind.
sed 's|"notifier": {[^}]*}|"notifier": {"kind": "command", "command": ["/bin/true"], "timeout": 5}|' \
	"$DEMO/afk.json" >"$work/c1/notify-command.json"
run "$AFK" check-config -c "$work/c1/notify-command.json"
[ "$rc" -eq 0 ] || { fail "check-config, command notifier, exited $rc, want 0"; said; }
printf '%s\n' "$out" | grep -qx 'notifier: command' ||
	{ fail "check-config does not name the command notifier"; said; }

# Each adapter that cannot be set up says so on its own line, naming the
# file, line and member: a tracker and a CI sharing a missing token give
# two lines, not one line twice.
cat >"$work/c1/shared.json" <<'JSON'
{
  "allowlist": ["acme/api"],
  "tracker": {
    "kind": "github",
    "token_env": "AFK_TEST_FAKE_TOKEN"
  },
  "agent": {"kind": "command", "command": ["/bin/true"]},
  "ci": {
    "kind": "github",
    "token_env": "AFK_TEST_FAKE_TOKEN"
  }
}
JSON
run env -u AFK_TEST_FAKE_TOKEN "$AFK" check-config -c "$work/c1/shared.json"
[ "$rc" -eq 3 ] ||
	{ fail "check-config, shared token unset, exited $rc, want 3"; said; }
for line in \
	"afk: $work/c1/shared.json:5: tracker.token_env: tracker (github): the environment variable AFK_TEST_FAKE_TOKEN is not set" \
	"afk: $work/c1/shared.json:10: ci.token_env: CI (github): the environment variable AFK_TEST_FAKE_TOKEN is not set"; do
	printf '%s\n' "$err" | grep -qxF "$line" ||
		{ fail "check-config does not say: $line"; said; }
done
[ "$(printf '%s\n' "$err" | sort | uniq -d)" = "" ] ||
	{ fail "check-config printed a line twice"; said; }

# What every tick would refuse is refused at load, at its line: plain
# http to a host that is not loopback, a name without an owner for a
# forge.
sed -e 's|"token_env": "AFK_TEST_FAKE_TOKEN"$|"token_env": "AFK_TEST_FAKE_TOKEN", "api_url": "http://ghe.example/api/v3"|' \
	"$work/c1/shared.json" >"$work/c1/plain.json"
run env AFK_TEST_FAKE_TOKEN="$token" "$AFK" check-config -c "$work/c1/plain.json"
[ "$rc" -eq 3 ] ||
	{ fail "check-config, plain http, exited $rc, want 3"; said; }
[ "$err" = "afk: $work/c1/plain.json:5: tracker.api_url: plain http is refused except to a loopback address; use https" ] ||
	{ fail "check-config does not refuse plain http at its line"; said; }
sed -e 's|"acme/api"|"api"|' "$work/c1/shared.json" >"$work/c1/bare.json"
run env AFK_TEST_FAKE_TOKEN="$token" "$AFK" check-config -c "$work/c1/bare.json"
[ "$rc" -eq 3 ] ||
	{ fail "check-config, a bare allowlist name, exited $rc, want 3"; said; }
[ "$err" = "afk: $work/c1/bare.json:2: allowlist[0]: \"api\" has no owner (the github tracker needs \"owner/name\")" ] ||
	{ fail "check-config does not refuse a name without an owner"; said; }

# --online lists through the tracker and writes nothing.
run "$AFK" check-config -c "$work/c1/afk.json" --online
[ "$rc" -eq 0 ] || { fail "check-config --online exited $rc, want 0"; said; }
for line in 'tracker: listed 8 issue(s); a poll would do this:' \
	'would dispatch acme/api#102' \
	'3 would be dispatched, 5 skipped (dry run: nothing was written)' \
	'tracker: reachable' \
	'agent: reachable (demo-agent 1.0)' \
	'ci: reachable' \
	'notifier: reachable'; do
	printf '%s\n' "$out" | sed 's/  */ /g' | grep -qxF -- "$line" ||
		{ fail "check-config --online does not say: $line"; said; }
done
printf '%s\n' "$out" | grep -q '^would add label' &&
	fail "check-config --online printed the writes of the probe"
cmp -s "$work/c1/issues.json" "$DEMO/issues.json" ||
	fail "check-config --online changed the issue file"
[ "$(ls "$work/c1/runs")" = acme-infra-301-1 ] ||
	fail "check-config --online dispatched"
printf '{"issues": [\n' >"$work/c1/issues.json"
run "$AFK" check-config -c "$work/c1/afk.json" --online
[ "$rc" -eq 1 ] ||
	{ fail "check-config --online, broken tracker, exited $rc, want 1"; said; }
printf '%s\n' "$err" | grep -q '^afk: tracker probe failed: ' ||
	{ fail "check-config --online does not say the probe failed"; said; }
printf '%s\n' "$out" | grep -q '^tracker: probe failed: .*issues.json' ||
	{ fail "check-config --online does not say the tracker's probe failed"; said; }
cp "$DEMO/issues.json" "$work/c1/issues.json"

# Each adapter's read-only probe: a missing agent command or an
# unwritable notifier directory fails it (exit 1); a slack notifier has
# none, which is no failure.
sed 's|"command": \["[^"]*agent.sh"\]|"command": ["./no-such-agent"]|' \
	"$work/c1/afk.json" >"$work/c1/noagent.json"
if ! grep -q no-such-agent "$work/c1/noagent.json"; then
	fail "cannot make a configuration with a missing agent command"
	grep -n command "$work/c1/afk.json"
else
	run "$AFK" check-config -c "$work/c1/noagent.json" --online
	[ "$rc" -eq 1 ] ||
		{ fail "check-config --online, missing agent, exited $rc, want 1"; said; }
	printf '%s\n' "$out" | grep -q "^agent: probe failed: .*no-such-agent" ||
		{ fail "check-config --online does not say the agent probe failed"; said; }
	printf '%s\n' "$out" | grep -qx 'ci: reachable' ||
		{ fail "check-config --online, missing agent, did not probe the ci"; said; }
fi
# The command agent's probe also shows the first line of what its
# command's --version says (the demo's agent.sh: "demo-agent 1.0"); one
# that fails or never answers (killed after 5 s) is a warning, not a
# failed probe.
agent_cfg() { # agent_cfg NAME AGENT_JSON: c1's configuration, another agent
	sed "s|\"agent\": {[^}]*}|\"agent\": $2|" "$work/c1/afk.json" >"$work/c1/$1.json"
}
printf '#!/bin/sh\nsleep 60\n' >"$work/c1/hang.sh"
printf '#!/bin/sh\necho "1.0 but unwell" >&2\nexit 3\n' >"$work/c1/sick.sh"
chmod +x "$work/c1/hang.sh" "$work/c1/sick.sh"
agent_cfg hang "{\"kind\": \"command\", \"command\": [\"$work/c1/hang.sh\"], \"state_dir\": \"$work/c1/runs\"}"
t0=$(date +%s)
run "$AFK" check-config -c "$work/c1/hang.json" --online
t1=$(date +%s)
[ "$rc" -eq 0 ] || { fail "check-config --online, hanging --version, exited $rc, want 0"; said; }
printf '%s\n' "$out" | grep -qxF "agent: reachable (warning: '$work/c1/hang.sh --version' did not answer in 5 s)" ||
	{ fail "check-config --online does not warn of a hanging --version"; said; }
[ $((t1 - t0)) -lt 30 ] || fail "check-config --online waited $((t1 - t0)) s for --version"
agent_cfg sick "{\"kind\": \"command\", \"command\": [\"$work/c1/sick.sh\"], \"state_dir\": \"$work/c1/runs\"}"
run "$AFK" check-config -c "$work/c1/sick.json" --online
[ "$rc" -eq 0 ] || { fail "check-config --online, failing --version, exited $rc, want 0"; said; }
printf '%s\n' "$out" | grep -qxF "agent: reachable (warning: '$work/c1/sick.sh --version' exited 3)" ||
	{ fail "check-config --online does not warn of a failing --version"; said; }
run "$AFK" check-config -c "$work/c1/afk.json" --online --json
printf '%s\n' "$out" | grep -q '"event": *"probe".*"key": *"agent".*"message": *"demo-agent 1.0"' ||
	{ fail "check-config --online --json does not give the agent's version"; said; }
# A coding-agent wrapper (examples/agents) answers its CLI's version,
# the CLI named by a variable the "env" list passes on.
if command -v python3 >/dev/null 2>&1; then
	agent_cfg claude "{\"kind\": \"command\", \"command\": [\"$top_srcdir/examples/agents/claude\"], \"state_dir\": \"$work/c1/runs\", \"env\": [\"AFK_CLAUDE\"]}"
	run env PYTHONDONTWRITEBYTECODE=1 AFK_CLAUDE="$top_srcdir/tests/agents/claude" \
		"$AFK" check-config -c "$work/c1/claude.json" --online
	[ "$rc" -eq 0 ] || { fail "check-config --online, claude wrapper, exited $rc, want 0"; said; }
	printf '%s\n' "$out" | grep -qxF "agent: reachable (claude 2.1.332 (Claude Code))" ||
		{ fail "check-config --online does not show the claude wrapper's version"; said; }
fi
sed 's/"notifier": {[^}]*}/"notifier": {"kind": "slack", "webhook_env": "AFK_TEST_FAKE_HOOK"}/' \
	"$work/c1/afk.json" >"$work/c1/slack.json"
run env AFK_TEST_FAKE_HOOK="$hook" "$AFK" check-config -c "$work/c1/slack.json" --online
[ "$rc" -eq 0 ] ||
	{ fail "check-config --online, slack, exited $rc, want 0"; said; }
printf '%s\n' "$out" | grep -qx 'notifier: no read-only probe (slack webhooks have none)' ||
	{ fail "check-config --online does not say slack has no probe"; said; }
if grep -qF AFKfakeWEBHOOK "$work/stdout" "$work/stderr"; then
	fail "check-config --online printed the webhook"; said
fi
sed 's|"notifier": {[^}]*}|"notifier": {"kind": "file", "path": "/nonexistent-afk-dir/notes.log"}|' \
	"$work/c1/afk.json" >"$work/c1/nfile.json"
run "$AFK" check-config -c "$work/c1/nfile.json" --online
[ "$rc" -eq 1 ] ||
	{ fail "check-config --online, unwritable notifier, exited $rc, want 1"; said; }
printf '%s\n' "$out" | grep -q '^notifier: probe failed: .*nonexistent-afk-dir' ||
	{ fail "check-config --online does not say the notifier probe failed"; said; }

# The t3 agent's probe reads the server's orchestration protocol, the
# token's scopes and the server's projects (tests/http_server.py plays
# T3 Code), writes nothing, and says which of them is wrong.
t3token=t3tok_AFKtestFAKEtoken0123456789
t3dir="$work/t3srv"
mkdir -p "$t3dir"
"${PYTHON3:-python3}" "$top_srcdir/tests/http_server.py" --dir "$t3dir" \
	--lifetime 120 &
t3pid=$!
i=0
while [ ! -s "$t3dir/port" ] && [ "$i" -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
t3port=$(cat "$t3dir/port" 2>/dev/null)
# t3_answers PROTOCOL_MEMBER SCOPES PROJECTS: the server's answers.
t3_answers() {
	printf '{"routes": {"/.well-known/t3/environment": {"json": {"environmentId": "e"%s}}, "/api/auth/session": {"json": {"authenticated": true, "scopes": %s}}, "/api/orchestration/shell": {"json": {"projects": %s, "threads": []}}}}\n' \
		"$1" "$2" "$3" >"$t3dir/script.json.tmp" &&
	mv "$t3dir/script.json.tmp" "$t3dir/script.json"
}
# t3_probe WANT_RC WANT_LINE: check-config --online says WANT_LINE.
t3_probe() {
	run env AFK_TEST_T3_TOKEN="$t3token" "$AFK" check-config \
		-c "$work/c1/t3.json" --online
	[ "$rc" -eq "$1" ] ||
		{ fail "check-config --online, t3, exited $rc, want $1"; said; }
	printf '%s\n' "$out" | grep -qxF -- "$2" ||
		{ fail "check-config --online, t3, does not say: $2"; said; }
	if grep -qF "$t3token" "$work/stdout" "$work/stderr"; then
		fail "check-config --online printed the T3 token"; said
	fi
}
if [ -z "$t3port" ]; then
	fail "the scripted T3 server did not start"
else
	sed "s|\"agent\": {[^}]*}|\"agent\": {\"kind\": \"t3\", \"url\": \"http://127.0.0.1:$t3port\", \"token_env\": \"AFK_TEST_T3_TOKEN\", \"project_id\": \"proj-1\", \"model\": \"m\"}|" \
		"$work/c1/afk.json" >"$work/c1/t3.json"
	scopes='["orchestration:read", "orchestration:operate"]'
	t3_answers '' "$scopes" '[{"id": "proj-1"}]'
	t3_probe 0 'agent: reachable'
	t3_answers ', "orchestrationProtocolVersion": 2' "$scopes" \
		'[{"id": "proj-1"}]'
	t3_probe 1 "agent: probe failed: T3: the server at http://127.0.0.1:$t3port speaks orchestration protocol 2; libafk speaks 1"
	t3_answers ', "orchestrationProtocolVersion": 1' \
		'["orchestration:read"]' '[{"id": "proj-1"}]'
	t3_probe 1 'agent: probe failed: T3: the token lacks the scope orchestration:operate; every dispatch would be refused (HTTP 403 EnvironmentScopeRequiredError)'
	t3_answers '' "$scopes" '[{"id": "proj-2"}]'
	t3_probe 1 "agent: probe failed: T3: project proj-1 not found on http://127.0.0.1:$t3port"
	grep -v '"method": "GET"' "$t3dir/log.jsonl" | grep -q . &&
		fail "the t3 probe sent another request than a GET"
fi
kill "$t3pid" 2>/dev/null
wait "$t3pid" 2>/dev/null

# --- --dry-run ----------------------------------------------------------

demo n1
run env XDG_STATE_HOME="$work/n1-state" "$AFK" poll --dry-run --config "$work/n1/afk.json"
[ "$rc" -eq 0 ] || { fail "poll --dry-run exited $rc, want 0"; said; }
cmp -s "$work/n1/issues.json" "$DEMO/issues.json" ||
	fail "poll --dry-run changed the issue file"
[ "$(ls "$work/n1/runs")" = acme-infra-301-1 ] ||
	fail "poll --dry-run made a run directory"
if [ -e "$work/n1-state" ] || [ -e "$work/n1/issues.json.lock" ]; then
	fail "poll --dry-run made a lock file or a state directory"
fi
for line in 'would dispatch acme/api#102 (prompt of' \
	'would write the checklist comment of acme/api#102 (' \
	'would add label agent-in-progress to acme/api#102' \
	'would add label agent-in-progress to acme/ops#501' \
	'3 would be dispatched, 5 skipped (dry run: nothing was written)'; do
	printf '%s\n' "$out" | grep -qF -- "$line" ||
		{ fail "poll --dry-run does not say: $line"; said; }
done
[ -z "$(trouble)" ] || fail "poll --dry-run wrote to stderr: $err"

# A watch after a real poll: the corrective turn, the escalation and its
# notice are printed, not done.
run "$AFK" poll --config "$work/n1/afk.json"
[ "$rc" -eq 0 ] || { fail "poll before the dry watch exited $rc"; said; }
cp "$work/n1/issues.json" "$work/n1-before"
run "$AFK" watch --dry-run -c "$work/n1/afk.json" --now "$start"
[ "$rc" -eq 0 ] || { fail "watch --dry-run exited $rc, want 0"; said; }
for line in 'would send a corrective turn to thread acme-web-202-1' \
	'would add label ready-for-human to acme/ops#501' \
	'would remove label agent-in-progress from acme/ops#501' \
	'would notify about acme/ops#501: acme/ops#501 needs a human' \
	'4 watched: 0 closed, 1 fixed forward, 1 escalated, 2 waiting (dry run'; do
	printf '%s\n' "$out" | grep -qF -- "$line" ||
		{ fail "watch --dry-run does not say: $line"; said; }
done
printf '%s\n' "$out" | grep -q '^afk: ' && fail "watch --dry-run notified"
cmp -s "$work/n1/issues.json" "$work/n1-before" ||
	fail "watch --dry-run changed the issue file"
[ "$(cat "$work/n1/runs/acme-web-202-1/turns" 2>/dev/null)" = 1 ] ||
	fail "watch --dry-run ran a corrective turn"
run "$AFK" tick --dry-run -c "$work/n1/afk.json" --now "$start"
[ "$rc" -eq 0 ] || { fail "tick --dry-run exited $rc, want 0"; said; }
cmp -s "$work/n1/issues.json" "$work/n1-before" ||
	fail "tick --dry-run changed the issue file"

# --- afk status ---------------------------------------------------------

# Everything under the directories given, as "mode size checksum path"
# lines: what status must leave exactly as it found it, new files and
# directories included.
fingerprint() {
	find "$@" -exec sh -c '
		for f; do
			if [ -f "$f" ]; then
				printf "%s %s\n" "$(cksum <"$f")" "$f"
			else
				printf "dir %s\n" "$f"
			fi
		done' sh {} + | sort
}

# Reads JSON Lines on stdin: every line must be one JSON object with an
# "event"; then asserts the Python expression $1 over ev, the list of
# them.  Says what failed.
jsonl() {
	python3 -c '
import json, sys
ev = []
for n, line in enumerate(sys.stdin.read().split("\n")[:-1], 1):
    try:
        o = json.loads(line)
    except ValueError as e:
        sys.exit("line %d is not JSON (%s): %r" % (n, e, line))
    if not isinstance(o, dict) or "event" not in o:
        sys.exit("line %d is not an event: %r" % (n, line))
    ev.append(o)
def of(kind):
    return [e for e in ev if e["event"] == kind]
if not eval("(" + sys.argv[1] + "\n)"):
    sys.exit("not true: %s\n%s" % (sys.argv[1],
             "\n".join(json.dumps(e) for e in ev)))
' "$1"
}

if command -v python3 >/dev/null 2>&1; then
	have_python=1
else
	have_python=0
	echo "cli.sh: no python3: the --json checks are skipped"
fi

# A real watch starts the run's clock; then status ten minutes later.
demo s1
s1state="$work/s1-state"
run env XDG_STATE_HOME="$s1state" "$AFK" watch -c "$work/s1/afk.json" \
	--now "$start"
[ "$rc" -eq 0 ] || { fail "the watch before status exited $rc"; said; }
fingerprint "$work/s1" "$s1state" >"$work/s1-before"
run env XDG_STATE_HOME="$s1state" "$AFK" status -c "$work/s1/afk.json" \
	--now 2026-01-01T00:10:00Z
[ "$rc" -eq 0 ] || { fail "status exited $rc, want 0"; said; }
expected='status at 2026-01-01T00:10:00Z: armed
acme/api: unlocked
  would dispatch acme/api#102
  skip acme/api#101: another issue of the repository comes first
  skip acme/api#103: ready label not applied by a trusted user
acme/web: unlocked
  would dispatch acme/web#202
  skip acme/web#201: blocked by an open issue
acme/infra: locked by acme/infra#301
  run acme/infra#301 thread acme-infra-301-1, phase tests-red, 0 fix-forward(s), age 10m0s
  next watch: wait; after 2026-01-01T02:00:00Z (in 1h50m0s): escalate: no progress before the deadline
  skip acme/infra#301: already in progress
  skip acme/infra#302: repository locked by a run in progress
acme/ops: unlocked
  would dispatch acme/ops#501
1 run(s) in flight, 3 would be dispatched, 5 skipped; nothing was written'
if [ "$out" != "$expected" ]; then
	fail "status's report differs"
	printf '%s\n' "$expected" >"$work/want"
	printf '%s\n' "$out" >"$work/got"
	diff -u "$work/want" "$work/got"
fi
[ -z "$(trouble)" ] || fail "status wrote to stderr: $err"
# The same instant with an offset and a fraction of a second.
run env XDG_STATE_HOME="$s1state" "$AFK" status -c "$work/s1/afk.json" \
	--now 2026-01-01T01:10:00.75+01:00
[ "$out" = "$expected" ] || { fail "status --now with an offset differs"; said; }
# ... and as seconds since the epoch, as watch and tick take it.
run env XDG_STATE_HOME="$s1state" "$AFK" status -c "$work/s1/afk.json" \
	--now 1767226200
[ "$out" = "$expected" ] || { fail "status --now in seconds differs"; said; }
# The kill switch on: still reported, and said.
run env XDG_STATE_HOME="$s1state" AFK_KILL_SWITCH=1 "$AFK" status \
	-c "$work/s1/afk.json" --now 2026-01-01T00:10:00Z
[ "$rc" -eq 0 ] || { fail "status when disarmed exited $rc, want 0"; said; }
printf '%s\n' "$out" | head -n 1 | grep -q '^status at 2026-01-01T00:10:00Z: disarmed (the kill switch is on' ||
	{ fail "status does not say it is disarmed"; said; }
printf '%s\n' "$out" | grep -q '^  run acme/infra#301 thread acme-infra-301-1,' ||
	{ fail "status when disarmed does not show the run"; said; }
run env XDG_STATE_HOME="$s1state" AFK_ALLOWLIST= "$AFK" status \
	-c "$work/s1/afk.json"
[ "$rc" -eq 0 ] || { fail "status, empty allowlist, exited $rc"; said; }
printf '%s\n' "$out" | grep -q 'disarmed (the allowlist is empty' ||
	{ fail "status does not say the allowlist is empty"; said; }
if [ "$have_python" -eq 1 ]; then
	run env XDG_STATE_HOME="$s1state" "$AFK" status --json \
		-c "$work/s1/afk.json" --now 2026-01-01T00:10:00Z
	[ "$rc" -eq 0 ] || { fail "status --json exited $rc"; said; }
	printf '%s\n' "$out" | jsonl '
of("status")[0]["at"] == "2026-01-01T00:10:00Z" and of("status")[0]["armed"]
and [e["repo"] for e in of("repo")] == ["acme/api", "acme/web", "acme/infra", "acme/ops"]
and [e["locked_by"] for e in of("repo")] == [[], [], [301], []]
and len(of("run")) == 1 and of("run")[0]["issue"] == 301
and of("run")[0]["thread"] == "acme-infra-301-1"
and of("run")[0]["action"] == "wait" and of("run")[0]["phase"] == "tests-red"
and of("run")[0]["age"] == 600 and of("run")[0]["since"] == 1767225600
and of("run")[0]["deadline"] == 1767225600 + 7201
and of("run")[0]["deadline_reason"] == "stalled"
and sorted(e["issue"] for e in of("dispatch")) == [102, 202, 501]
and all(e["dry_run"] and e["thread"] is None for e in of("dispatch"))
and {e["issue"]: e["reason"] for e in of("skip")} == {101: "outranked",
    103: "untrusted", 201: "blocked", 301: "in-progress", 302: "locked"}
and of("summary")[0] == {"event": "summary", "command": "status",
    "armed": True, "runs": 1, "would_dispatch": 3, "skipped": 5,
    "errors": 0, "written": False}
and ev[0]["event"] == "status" and ev[-1]["event"] == "summary"' ||
		fail "status --json"
fi
fingerprint "$work/s1" "$s1state" >"$work/s1-after"
cmp -s "$work/s1-before" "$work/s1-after" ||
	{ fail "status wrote something"; diff "$work/s1-before" "$work/s1-after"; }

# A configuration that only polls (no CI): the locks and the next poll
# all the same, the run counted from the lock.
demo s3
sed '/"ci":/d' "$DEMO/afk.json" >"$work/s3/afk.json"
run env XDG_STATE_HOME="$work/s3-state" "$AFK" status -c "$work/s3/afk.json"
[ "$rc" -eq 0 ] || { fail "status without a CI exited $rc, want 0"; said; }
for line in 'runs in flight are not watched: the configuration selects no CI or no notifier' \
	'acme/infra: locked by acme/infra#301' '  would dispatch acme/ops#501' \
	'1 run(s) in flight, 3 would be dispatched, 5 skipped; nothing was written'; do
	printf '%s\n' "$out" | grep -qxF -- "$line" ||
		{ fail "status without a CI does not say: $line"; said; }
done
[ -e "$work/s3-state" ] && fail "status without a CI made a state directory"

# Something unreadable: named, exit 1, and still nothing written.
demo s2
printf '{"issues": [\n' >"$work/s2/issues.json"
run env XDG_STATE_HOME="$work/s2-state" "$AFK" status -c "$work/s2/afk.json"
[ "$rc" -eq 1 ] || { fail "status over a broken file exited $rc, want 1"; said; }
printf '%s\n' "$err" | grep -q "^afk: status: could not read everything: .*$work/s2/issues.json:2:" ||
	{ fail "status does not name what it could not read"; said; }
[ -e "$work/s2-state" ] && fail "status made a state directory"

# --- --json ---------------------------------------------------------------

if [ "$have_python" -eq 1 ]; then
	# Hostile titles stay one valid line each, unchanged.
	demo j1
	python3 -c '
import json, sys
p = sys.argv[1]
d = json.load(open(p))
for i in d["issues"]:
    if i["number"] == 102:
        i["title"] = "say \"hi\"\\\n{\"event\":\"forged\"}\t\u00e9\u0007"
json.dump(d, open(p, "w"), indent=2)
' "$work/j1/issues.json"
	run "$AFK" poll --dry-run --json -c "$work/j1/afk.json"
	[ "$rc" -eq 0 ] || { fail "poll --dry-run --json exited $rc"; said; }
	printf '%s\n' "$out" | jsonl '
[e["title"] for e in of("dispatch") if e["issue"] == 102] ==
    ["say \"hi\"\\\n{\"event\":\"forged\"}\t\u00e9\u0007"]
and not of("forged") and len(of("dispatch")) == 3
and len([e for e in of("dry_write") if e["call"] == "add_label"]) == 3
and of("summary")[0]["dispatched"] == 3 and of("summary")[0]["dry_run"]
and of("summary")[0]["skipped"] == 5' ||
		fail "poll --dry-run --json with a hostile title"
	run "$AFK" status --json -c "$work/j1/afk.json"
	printf '%s\n' "$out" | jsonl 'of("dispatch")[0]["title"].startswith("say \"hi\"")' ||
		fail "status --json with a hostile title"

	# The real ticks: poll, then watch (its escalation's notice is an
	# event too: the stdout notifier would break the stream), tick.
	run "$AFK" poll --json -c "$work/j1/afk.json"
	[ "$rc" -eq 0 ] || { fail "poll --json exited $rc"; said; }
	printf '%s\n' "$out" | jsonl '
sorted(e["thread"] for e in of("dispatch")) ==
    ["acme-api-102-1", "acme-ops-501-1", "acme-web-202-1"]
and not any(e["dry_run"] for e in of("dispatch"))
and of("skip")[0]["reason_text"] != of("skip")[0]["reason"]
and of("summary")[0]["tick"] == "poll" and of("summary")[0]["errors"] == 0' ||
		fail "poll --json"
	run "$AFK" watch --json -c "$work/j1/afk.json" --now "$start"
	[ "$rc" -eq 0 ] || { fail "watch --json exited $rc"; said; }
	printf '%s\n' "$out" | jsonl '
len(of("action")) == 4
and {e["issue"]: e["action"] for e in of("action")}[501] == "escalate"
and [e["reason"] for e in of("action") if e["issue"] == 501] == ["agent-failed"]
and [e["issue"] for e in of("notify")] == [501]
and of("summary")[0]["watched"] == 4 and of("summary")[0]["escalated"] == 1
and all(e["command"] == "watch" for e in ev)' ||
		fail "watch --json"
	run "$AFK" tick --json -c "$work/j1/afk.json" --now $((start + 600))
	[ "$rc" -eq 0 ] || { fail "tick --json exited $rc"; said; }
	printf '%s\n' "$out" | jsonl '
[e["tick"] for e in of("summary")] == ["poll", "watch"]' ||
		fail "tick --json"
	run "$AFK" check-config --json --online -c "$work/j1/afk.json"
	[ "$rc" -eq 0 ] || { fail "check-config --json exited $rc"; said; }
	printf '%s\n' "$out" | jsonl '
of("config")[0]["allowlist"][0] == "acme/api"
and [e["key"] for e in of("adapter")] == ["tracker", "agent", "ci", "notifier"]
and all(e["ok"] for e in of("adapter"))
and [e["result"] for e in of("probe")] == ["reachable"] * 4
and of("config")[0]["metrics_file"].endswith("/afk.prom")
and of("summary")[0]["valid"] and of("summary")[0]["ok"]' ||
		fail "check-config --json"
	run env AFK_KILL_SWITCH=1 "$AFK" poll --json -c "$work/j1/afk.json"
	printf '%s\n' "$out" | jsonl '
of("warning")[0]["message"].startswith("the kill switch is on")
and of("summary")[0]["armed"] is False' ||
		fail "poll --json when disarmed"
	run "$AFK" poll --json -c "$work/no-such-file.json"
	[ "$rc" -eq 3 ] || fail "poll --json, missing file, exited $rc"
	printf '%s\n' "$out" | jsonl '
"no-such-file.json" in of("error")[0]["message"]' ||
		fail "poll --json does not report its error as an event"
fi

# --- the command line ---------------------------------------------------

for h in --help -h help "watch --help" "tick -h"; do
	# shellcheck disable=SC2086 # split on purpose
	run "$AFK" $h
	[ "$rc" -eq 0 ] || fail "afk $h exited $rc, want 0"
	printf '%s\n' "$out" | grep -q '^usage: afk poll' ||
		fail "afk $h prints no usage on stdout"
	for c in poll watch tick; do
		printf '%s\n' "$out" | grep -q "^  $c " ||
			fail "afk $h does not document $c"
	done
	[ -z "$err" ] || fail "afk $h wrote to stderr"
done

run "$AFK" --version
[ "$rc" -eq 0 ] || fail "afk --version exited $rc"
printf '%s\n' "$out" | grep -Eq '^afk [0-9]+\.[0-9]+\.[0-9]+$' ||
	fail "afk --version printed [$out]"

for args in "--frobnicate" "poll --frobnicate" "frobnicate" "poll" "" \
	"watch" "tick --now" "tick -c x --now soon" "watch -c x --now -5" \
	"poll -c x --now 5" "watch -c" "check-config" "check-config -c x --now 5" \
	"check-config -c x --dry-run" "poll -c x --online" \
	"status -c x --now 1767225600x" "status -c x --now 2026-13-01T00:00:00Z" \
	"status -c x --dry-run" "status"; do
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
[ "$(ls "$work/d3/runs")" = acme-infra-301-1 ] ||
	fail "a refused configuration made a run directory"

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

# --- one repository's failure is its own ---------------------------------

# acme/api's dispatch cannot claim a run directory (its newest run is the
# last the command agent may make): the other repositories are still
# dispatched and locked, the failure is named after the report, and the
# exit status says something failed.
demo f1
: >"$work/f1/runs/acme-api-102-100000"
run "$AFK" poll --config "$work/f1/afk.json"
[ "$rc" -eq 1 ] || { fail "a failed dispatch exited $rc, want 1"; said; }
printf '%s\n' "$out" | grep -q '^dispatched  *acme/web#202 ' ||
	{ fail "acme/web was not dispatched after acme/api failed"; said; }
printf '%s\n' "$out" | grep -q '^dispatched  *acme/ops#501 ' ||
	{ fail "acme/ops was not dispatched after acme/api failed"; said; }
printf '%s\n' "$out" | grep -q '^skipped  *acme/api#102  *(dispatch failed)' ||
	{ fail "acme/api#102 is not reported as a failed dispatch"; said; }
printf '%s\n' "$err" |
	grep -q '^afk: poll: acme/api: agent dispatch of acme/api#102: .*more than' ||
	{ fail "the failed dispatch is not named on stderr"; said; }
[ "$(locked_issues "$work/f1/issues.json" | sort | tr '\n' ' ')" = \
	"acme/infra#301 acme/ops#501 acme/web#202 " ] ||
	{ fail "locks after a failed dispatch: $(locked_issues "$work/f1/issues.json")"; said; }

# The same for a watch: acme/ops's CI cannot be read, the other runs are
# watched, the failure is named after the report, exit status 1.
mv "$work/f1/ci.sh" "$work/f1/ci-demo.sh"
printf '#!/bin/sh\nif [ "$AFK_REPO" = acme/ops ]; then\n%s\nfi\nexec ./ci-demo.sh\n' \
	'echo "acme/ops CI is down" >&2; exit 3' >"$work/f1/ci.sh"
chmod +x "$work/f1/ci.sh"
run "$AFK" watch --config "$work/f1/afk.json" --now 1800000000
[ "$rc" -eq 1 ] || { fail "a failed run's watch exited $rc, want 1"; said; }
printf '%s\n' "$out" | grep -q '^watch  *acme/web#202 ' ||
	{ fail "acme/web#202 was not watched after acme/ops failed"; said; }
printf '%s\n' "$out" | grep -q '^watch  *acme/infra#301 ' ||
	{ fail "acme/infra#301 was not watched after acme/ops failed"; said; }
printf '%s\n' "$err" |
	grep -q '^afk: watch: acme/ops: watch acme/ops#501: CI status: .*acme/ops CI is down' ||
	{ fail "the failed run is not named on stderr"; said; }

# --- one tick at a time -------------------------------------------------

# A configuration in $work/$1 with one ready issue, acme/api#1, and an
# agent that notes its thread in $work/$1/agents.log, says it started,
# and works for $2 seconds.
slow_setup() {
	rm -rf "${work:?}/$1"
	mkdir "$work/$1" || exit 1
	cat >"$work/$1/afk.json" <<'EOF'
{"kill_switch": false, "allowlist": ["acme/api"], "trusted_users": ["alice"],
 "tracker": {"kind": "file", "path": "issues.json"},
 "agent": {"kind": "command", "command": ["./agent.sh"], "state_dir": "runs"},
 "ci": {"kind": "command", "command": ["./ci.sh"]},
 "notifier": {"kind": "stdout"}}
EOF
	cat >"$work/$1/issues.json" <<'EOF'
{"issues": [{"repo": "acme/api", "number": 1, "title": "t",
             "labels": ["ready-for-agent"], "labeled_by": "alice"}]}
EOF
	cat >"$work/$1/agent.sh" <<EOF
#!/bin/sh
cat >/dev/null
echo "\$AFK_THREAD_ID" >>"$work/$1/agents.log"
: >"$work/$1/started"
sleep $2
EOF
	printf '#!/bin/sh\necho %s\n' "'{\"pr\": \"none\", \"ci\": \"none\"}'" \
		>"$work/$1/ci.sh"
	chmod +x "$work/$1/agent.sh" "$work/$1/ci.sh"
}

# Waits up to 10 s for the file $1 to appear.
wait_for() {
	i=0
	while [ ! -e "$1" ] && [ "$i" -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -e "$1" ]
}

# afk writes nothing beside its configuration: a tick works with the
# configuration's directory read-only (a ConfigMap, /etc/afk), as a user
# who cannot write it, everything it writes going to the state directory
# (--state-dir here, made by the tick).  As root, the tick runs as nobody
# (root would write through any mode); otherwise the modes stop the user.
r1=$work/r1
mkdir -p "$r1/conf" "$r1/data"
cat >"$r1/data/issues.json" <<'EOF'
{"issues": [{"repo": "acme/api", "number": 1, "title": "t",
             "labels": ["ready-for-agent"], "labeled_by": "alice"}]}
EOF
printf '#!/bin/sh\ncat >/dev/null\necho "AFK-PHASE: pushed"\n' >"$r1/data/agent.sh"
printf '#!/bin/sh\necho %s\n' "'{\"pr\": \"none\", \"ci\": \"none\"}'" \
	>"$r1/data/ci.sh"
chmod 755 "$r1/data/agent.sh" "$r1/data/ci.sh"
cat >"$r1/conf/afk.json" <<EOF
{"kill_switch": false, "allowlist": ["acme/api"], "trusted_users": ["alice"],
 "tracker": {"kind": "file", "path": "$r1/data/issues.json"},
 "agent": {"kind": "command", "command": ["$r1/data/agent.sh"]},
 "ci": {"kind": "command", "command": ["$r1/data/ci.sh"]},
 "notifier": {"kind": "stdout"}}
EOF
chmod 444 "$r1/conf/afk.json"
chmod 555 "$r1/conf"
as_user=
if [ "$(id -u)" -eq 0 ]; then
	chmod 711 "$work"
	chown -R nobody "$r1/data"
	chown nobody "$r1"
	as_user="setpriv --reuid=nobody --regid=nogroup --clear-groups --"
fi
run env -u XDG_STATE_HOME HOME=/nonexistent $as_user "$AFK" tick \
	-c "$r1/conf/afk.json" --state-dir "$r1/state"
[ "$rc" -eq 0 ] ||
	{ fail "a tick with a read-only config directory exited $rc"; said; }
printf '%s\n' "$out" | grep -q '^dispatched  *acme/api#1 ' ||
	{ fail "the read-only-config tick did not dispatch"; said; }
[ "$(ls -A "$r1/conf")" = afk.json ] ||
	fail "afk wrote beside its configuration: $(ls -A "$r1/conf")"
[ -f "$r1/state/afk.lock" ] || fail "no tick lock in the state directory"
[ -d "$r1/state/runs/acme-api-1-1" ] ||
	fail "the run is not in the state directory's runs: $(ls -R "$r1/state" 2>&1)"
[ "$(stat -c %a "$r1/state")" = 700 ] ||
	fail "the state directory is mode $(stat -c %a "$r1/state"), want 700"
# With no state directory at all, a tick says what to set.
run env -u XDG_STATE_HOME -u STATE_DIRECTORY -u HOME "$AFK" tick \
	-c "$r1/conf/afk.json"
[ "$rc" -eq 3 ] || { fail "a tick with no state directory exited $rc, want 3"; said; }
printf '%s\n' "$err" | grep -q 'no state directory for the tick lock: set "state_dir"' ||
	{ fail "a tick with no state directory does not say what to set"; said; }
chmod 700 "$r1/conf"
chmod 700 "$work"

# While a tick works (here its CI command is slow), every other tick on
# the configuration is skipped (exit 0, one line on stderr) and
# dispatches nothing.
slow_setup o1 0
run "$AFK" poll -c "$work/o1/afk.json"
printf '%s\n' "$out" >"$work/o1/first.out"
settle "$work/o1" || fail "the first poll's agent did not end"
printf '#!/bin/sh\n: >ci-started\nsleep 3\necho %s\n' \
	"'{\"pr\": \"none\", \"ci\": \"none\"}'" >"$work/o1/ci.sh"
(cd "$work/o1" && exec "$AFK" watch -c afk.json) >/dev/null 2>&1 &
first=$!
if wait_for "$work/o1/ci-started"; then
	lock="$work/state/afk/afk.lock"
	for cmd in poll watch tick; do
		run "$AFK" "$cmd" -c "$work/o1/afk.json"
		[ "$rc" -eq 0 ] ||
			{ fail "an overlapping $cmd exited $rc, want 0"; said; }
		[ "$err" = "afk: another tick is running (lock $lock held); skipped" ] ||
			{ fail "an overlapping $cmd did not say it skipped"; said; }
		[ -z "$out" ] ||
			{ fail "an overlapping $cmd reported a tick"; said; }
	done
else
	fail "the slow watch never asked its CI"
fi
wait "$first" || fail "the slow watch failed"
[ "$(wc -l <"$work/o1/agents.log")" -eq 1 ] ||
	fail "overlapping ticks started" \
	     "$(wc -l <"$work/o1/agents.log") agents, want 1"
grep -q '^dispatched' "$work/o1/first.out" ||
	fail "the first tick did not dispatch"
# ... and once it is done, the next tick runs.
run "$AFK" poll -c "$work/o1/afk.json"
[ "$rc" -eq 0 ] && [ -z "$(trouble)" ] ||
	{ fail "a poll after the first tick did not run"; said; }

# The agent runs detached: the poll returns while it works, and a tick
# killed before it labelled the issue (here: the label and the record
# taken off again) leaves the agent at work; the next poll adopts its
# thread and starts no second agent.
slow_setup o2 3
cp "$work/o2/issues.json" "$work/o2/pristine.json"
run "$AFK" poll -c "$work/o2/afk.json"
[ "$rc" -eq 0 ] || { fail "the detached poll exited $rc"; said; }
wait_for "$work/o2/started" || fail "the detached agent never started"
[ -f "$work/o2/runs/acme-api-1-1/exit_status" ] &&
	fail "the poll waited for its agent"
cp "$work/o2/pristine.json" "$work/o2/issues.json"
run "$AFK" poll -c "$work/o2/afk.json"
[ "$rc" -eq 0 ] || { fail "the poll after a killed tick exited $rc"; said; }
printf '%s\n' "$out" |
	grep -q '^dispatched *acme/api#1 *-> thread acme-api-1-1$' ||
	{ fail "the poll after a killed tick did not adopt acme-api-1-1"; said; }
[ "$(wc -l <"$work/o2/agents.log")" -eq 1 ] ||
	fail "a killed tick and the next started" \
	     "$(wc -l <"$work/o2/agents.log") agents, want 1"
[ "$(locked_issues "$work/o2/issues.json")" = "acme/api#1" ] ||
	fail "the adopted run's issue is not locked"
settle "$work/o2" || fail "the detached agent did not end"

# The tick holds tokens: it dumps no core.  Its soft core limit is 0,
# as the agent it starts inherits (the hard one is left to the agent).
if (ulimit -c unlimited) 2>/dev/null; then
	slow_setup o4 0
	sed -i 's|^sleep 0$|ulimit -c >"'"$work/o4/core"'"|' "$work/o4/agent.sh"
	run sh -c 'ulimit -c unlimited && exec "$@"' sh \
		"$AFK" poll -c "$work/o4/afk.json"
	[ "$rc" -eq 0 ] || { fail "the poll for the core limit failed"; said; }
	settle "$work/o4" || fail "the core limit's agent did not end"
	[ "$(cat "$work/o4/core" 2>/dev/null)" = 0 ] ||
		fail "the tick's core limit is" \
		     "$(cat "$work/o4/core" 2>/dev/null), want 0"
fi

# A label stamped survives a power failure: the issue file's directory
# is synced after the rename (seen with strace, where it can run).
if command -v strace >/dev/null 2>&1 &&
   strace -f -o /dev/null true >/dev/null 2>&1; then
	slow_setup o3 0
	# LeakSanitizer cannot run under ptrace: off, in a sanitized build.
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	strace -f -y -e trace=fsync -o "$work/o3/trace" \
		"$AFK" poll -c "$work/o3/afk.json" >"$work/stdout" 2>&1 ||
		{ fail "poll under strace failed"; cat "$work/stdout"; }
	d=$(cd "$work/o3" && pwd -P)
	grep -q "fsync([0-9]*<$d>)" "$work/o3/trace" ||
		{ fail "the issue file's directory was not synced"; \
		  cat "$work/o3/trace"; }
fi

# --- stopping runs a human took back ------------------------------------

# human FILE REPO NUMBER ACTION [LABEL]: what a person does on the tracker:
# close the issue, add or remove a label.
human() {
	python3 - "$@" <<'PY'
import json, sys
path, repo, number, action = sys.argv[1:5]
label = sys.argv[5] if len(sys.argv) > 5 else None
with open(path) as f:
    doc = json.load(f)
for issue in doc["issues"]:
    if issue["repo"] == repo and issue["number"] == int(number):
        labels = issue.setdefault("labels", [])
        if action == "close":
            issue["state"] = "closed"
        elif action == "add" and label not in labels:
            labels.append(label)
        elif action == "remove" and label in labels:
            labels.remove(label)
with open(path, "w") as f:
    json.dump(doc, f, indent=2)
PY
}

# The checklist of repo#number ($2) in the issue file $1, as one line.
checklist_of() {
	python3 - "$1" "$2" <<'PY'
import json, sys
repo, number = sys.argv[2].split("#")
for issue in json.load(open(sys.argv[1]))["issues"]:
    if issue["repo"] == repo and issue["number"] == int(number):
        for c in issue.get("comments", []):
            if "<!-- afk-run:" in c.get("body", ""):
                print(c["body"].replace("\n", " "))
PY
}

demo s1
run "$AFK" poll -c "$work/s1/afk.json"
[ "$rc" -eq 0 ] || { fail "stop: the poll exited $rc"; said; }
run "$AFK" watch -c "$work/s1/afk.json" --now 1767225600
[ "$rc" -eq 0 ] || { fail "stop: the first watch exited $rc"; said; }
# a dry run stops nothing, and says what it would do
human "$work/s1/issues.json" acme/api 102 add ready-for-human
cp "$work/s1/issues.json" "$work/s1/before-dry"
run "$AFK" watch -c "$work/s1/afk.json" --now 1767226200 --dry-run
[ "$rc" -eq 0 ] || { fail "stop: the dry watch exited $rc"; said; }
printf '%s\n' "$out" | grep -q '^would stop thread acme-api-102-1 of acme/api#102$' ||
	{ fail "stop: the dry run does not say it would stop the thread"; said; }
cmp -s "$work/s1/issues.json" "$work/s1/before-dry" ||
	fail "stop: the dry run changed the issue file"
[ ! -e "$work/s1/runs/acme-api-102-1/stopped" ] ||
	fail "stop: the dry run stopped the agent"
# the human label, a closed issue, a removed lock: each stops its run
human "$work/s1/issues.json" acme/web 202 close
human "$work/s1/issues.json" acme/infra 301 remove agent-in-progress
run "$AFK" watch -c "$work/s1/afk.json" --now 1767226200
[ "$rc" -eq 0 ] || { fail "stop: the watch exited $rc, want 0"; said; }
printf '%s\n' "$out" | sed 's/  */ /g' >"$work/s1/said"
for line in \
	'watch acme/api#102 stop: a human took it (the human label was added)' \
	'watch acme/web#202 stop: the issue was closed' \
	'watch acme/infra#301 stop: its in-progress or ready label was removed' \
	'3 stopped, '; do
	grep -Fq -- "$line" "$work/s1/said" ||
		{ fail "stop: the watch does not say: $line"; said; }
done
locked=$(locked_issues "$work/s1/issues.json" | tr '\n' ' ')
[ "$locked" = "" ] || fail "stop: still locked after the stops: [$locked]"
for ref in acme/api#102 acme/web#202 acme/infra#301; do
	c=$(checklist_of "$work/s1/issues.json" "$ref")
	case $c in
	*'**Stopped**: stopped by a human: '*'2026-01-01 00:10 UTC'*'the agent was stopped'*) ;;
	*) fail "stop: the checklist of $ref does not say it was stopped: $c" ;;
	esac
	case $c in
	*'"status":3'*) ;;
	*) fail "stop: the record of $ref is not final: $c" ;;
	esac
	id=$(printf '%s' "$ref" | tr '/#' '--')-1
	[ -f "$work/s1/runs/$id/stopped" ] ||
		fail "stop: $id has no stopped marker"
done
[ "$(issue_line "$work/s1/issues.json" acme/api#102)" = \
  "acme/api#102 open ready-for-human records=1 attempts=0" ] ||
	fail "stop: acme/api#102 kept a label: $(issue_line \
	     "$work/s1/issues.json" acme/api#102)"
# once: the next watch and poll leave them alone
cp "$work/s1/issues.json" "$work/s1/after-stop"
run "$AFK" watch -c "$work/s1/afk.json" --now 1767226800
[ "$rc" -eq 0 ] || { fail "stop: the watch after exited $rc"; said; }
if printf '%s\n' "$out" | grep -q 'stop:'; then
	fail "stop: a run was stopped twice"; said
fi
run "$AFK" poll -c "$work/s1/afk.json"
if printf '%s\n' "$out" | grep -q '^dispatched acme/\(api#102\|web#202\|infra#301\)'; then
	fail "stop: a stopped run was dispatched again"; said
fi

if [ "$failures" -ne 0 ]; then
	echo "cli.sh: $failures check(s) failed"
	exit 1
fi
echo "cli.sh: all checks passed"
exit 0
