#!/bin/sh
# tests/metrics.sh - the afk command's Prometheus metrics (afk(1)
# METRICS): what ticks on the demo count, that counters carry on from one
# tick (one process) to the next, that a dry run writes none, that the
# file is replaced atomically, that a corrupt state is reset and an
# unwritable file counted - never failing the tick - and, against the
# 127.0.0.1 test server, the HTTP figures of a github tracker, counted
# even when the log does not print them.  Every file is read back with
# prometheus_client's own parser.
# Run by make check with top_srcdir and top_builddir (absolute) set.
# Exit 0 pass, 1 fail, 77 skip.

set -u
unset AFK_KILL_SWITCH AFK_ALLOWLIST STATE_DIRECTORY

: "${top_srcdir:?top_srcdir is not set}"
: "${top_builddir:?top_builddir is not set}"
AFK="$top_builddir/examples/afk/afk"
DEMO="$top_srcdir/examples/demo"

if [ ! -x "$AFK" ]; then
	echo "metrics.sh: $AFK is not built"
	exit 1
fi
# Debian's python3-prometheus-client is for the system's python.
PY=
for p in /usr/bin/python3 "${PYTHON3:-}"; do
	if [ -n "$p" ] && "$p" -c 'import prometheus_client.parser' \
	   2>/dev/null; then
		PY=$p
		break
	fi
done
if [ -z "$PY" ]; then
	echo "metrics.sh: no python3 with prometheus_client" \
	     "(apt-get install python3-prometheus-client); skipped"
	exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/afk-metrics.XXXXXX") || exit 1
srv_pid=
cleanup() {
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT HUP INT TERM
XDG_STATE_HOME=$work/state
export XDG_STATE_HOME
state=$work/state/afk
prom=$state/afk.prom

. "$top_srcdir/tests/scriptlib.sh" # fail, demo, run, said

# check WHAT FILE: reads FILE with prometheus_client's parser and
# evaluates each line of standard input as a Python expression, where
# v("name", label="value", ...) is a sample's value (None when there is
# none) and total("name") the sum of a family's samples.
check() {
	"$PY" - "$2" 3>&0 <<'PY' || fail "$1"
import sys
from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1]).read()
samples = {}
families = {}
for fam in text_string_to_metric_families(text):
    families[fam.name] = fam
    for s in fam.samples:
        samples[(s.name, tuple(sorted(s.labels.items())))] = s.value

def v(name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))

def total(name):
    return sum(val for (n, _), val in samples.items() if n == name)

bad = 0
for line in open(3):
    line = line.strip()
    if not line:
        continue
    try:
        ok = eval(line)
    except Exception as e:
        ok = False
        line += "  (%r)" % (e,)
    if not ok:
        print("  not true: " + line)
        bad = 1
sys.exit(bad)
PY
}

# --- a poll on the demo ---------------------------------------------------

demo m1
run "$AFK" poll -c "$work/m1/afk.json"
[ "$rc" -eq 0 ] || { fail "the first poll exited $rc"; said; }
[ -f "$prom" ] || fail "the poll wrote no $prom"
check "the first poll's metrics" "$prom" <<'EOF'
v("afk_ticks_total", kind="poll", result="ok") == 1
v("afk_ticks_total", kind="poll", result="error") == 0
v("afk_ticks_total", kind="tick", result="disarmed") == 0
v("afk_dispatches_total", repo="acme/api") == 1
v("afk_dispatches_total", repo="acme/web") == 1
v("afk_dispatches_total", repo="acme/ops") == 1
total("afk_dispatches_total") == 3
v("afk_skips_total", reason="outranked") == 1
v("afk_skips_total", reason="untrusted") == 1
v("afk_skips_total", reason="blocked") == 1
v("afk_skips_total", reason="in_progress") == 1
v("afk_skips_total", reason="locked") == 1
v("afk_skips_total", reason="not_allowlisted") == 0
total("afk_skips_total") == 5
v("afk_tick_duration_seconds", kind="poll") >= 0
v("afk_last_success_timestamp_seconds", kind="poll") > 1.7e9
v("afk_stops_total", reason="closed") == 0
v("afk_errors_total", kind="poll") == 0
v("afk_runs_in_flight", phase="dispatched") is None
EOF
# Written whole, then renamed: nothing but the state's files is left.
left=$(ls -A "$state" | tr '\n' ' ')
[ "$left" = "afk.lock afk.prom metrics.lock metrics.state " ] ||
	fail "the state directory holds [$left]"
[ "$(stat -c %a "$prom")" = 644 ] ||
	fail "$prom is mode $(stat -c %a "$prom"), want 644"
[ "$(stat -c %a "$state/metrics.state")" = 600 ] ||
	fail "metrics.state is mode $(stat -c %a "$state/metrics.state")"
cp "$prom" "$work/first.prom"

# --- the next tick carries the counters on --------------------------------

run "$AFK" poll -q -c "$work/m1/afk.json"
[ "$rc" -eq 0 ] || { fail "the second poll exited $rc"; said; }
check "the second poll's metrics" "$prom" <<'EOF'
v("afk_ticks_total", kind="poll", result="ok") == 2
total("afk_dispatches_total") == 3
v("afk_skips_total", reason="in_progress") == 5
total("afk_skips_total") > 5
EOF

# The agents run detached: the watch is to see what they did.
settle "$work/m1" || fail "the polls' agents did not end"
start=$(date +%s)
run "$AFK" watch -c "$work/m1/afk.json" --now "$start"
[ "$rc" -eq 0 ] || { fail "the watch exited $rc"; said; }
check "the watch's metrics" "$prom" <<'EOF'
v("afk_ticks_total", kind="watch", result="ok") == 1
v("afk_ticks_total", kind="poll", result="ok") == 2
v("afk_fix_forwards_total") == 1
v("afk_escalations_total", reason="agent_failed") == 1
v("afk_escalations_total", reason="stalled") == 0
v("afk_closes_total") == 0
len([p for p in ("dispatched", "tests_red", "green", "pushed", "ci", "deployed") if v("afk_runs_in_flight", phase=p) is not None]) == 6
total("afk_runs_in_flight") == 3
v("afk_last_success_timestamp_seconds", kind="watch") >= v("afk_last_success_timestamp_seconds", kind="poll")
EOF

# --- a human takes a run back: a stop, by reason -------------------------

python3 - "$work/m1/issues.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
for issue in doc["issues"]:
    if (issue["repo"], issue["number"]) == ("acme/api", 102):
        issue["labels"].append("ready-for-human")
json.dump(doc, open(sys.argv[1], "w"))
PY
run "$AFK" watch -q -c "$work/m1/afk.json" --now "$((start + 60))"
[ "$rc" -eq 0 ] || { fail "the stopping watch exited $rc"; said; }
check "the stopping watch's metrics" "$prom" <<'EOF'
v("afk_stops_total", reason="human_label") == 1
v("afk_stops_total", reason="closed") == 0
v("afk_stops_total", reason="unlocked") == 0
v("afk_skips_total", reason="stopping") == 0
v("afk_ticks_total", kind="watch", result="ok") == 2
EOF

# --- a dry run writes no metrics -----------------------------------------

cp "$prom" "$work/before-dry.prom"
cp "$state/metrics.state" "$work/before-dry.state"
run "$AFK" tick --dry-run -c "$work/m1/afk.json"
[ "$rc" -eq 0 ] || { fail "tick --dry-run exited $rc"; said; }
cmp -s "$prom" "$work/before-dry.prom" || fail "a dry run changed $prom"
cmp -s "$state/metrics.state" "$work/before-dry.state" ||
	fail "a dry run changed metrics.state"

# --- disarmed ticks, at once: the counters' lock keeps every one -------

for i in 1 2 3 4 5 6; do
	AFK_KILL_SWITCH=1 "$AFK" poll -q -c "$work/m1/afk.json" >/dev/null \
		2>"$work/disarmed.$i" &
done
wait
cat "$work"/disarmed.* >"$work/disarmed.err"
[ -s "$work/disarmed.err" ] && fail "disarmed polls said: $(cat "$work/disarmed.err")"
check "six disarmed polls at once" "$prom" <<'EOF'
v("afk_ticks_total", kind="poll", result="disarmed") == 6
v("afk_ticks_total", kind="poll", result="ok") == 2
v("afk_last_success_timestamp_seconds", kind="poll") is not None
EOF
[ -z "$(ls -A "$state" | grep -v -e '^afk\.lock$' -e '^afk\.prom$' \
	-e '^metrics\.lock$' -e '^metrics\.state$')" ] ||
	fail "temporary files were left: $(ls -A "$state")"

# --- a corrupt state is reported and reset --------------------------------

printf 'afk_ticks_total\tkind="poll",result="ok"\tlots\n' >"$state/metrics.state"
run "$AFK" poll -c "$work/m1/afk.json"
[ "$rc" -eq 0 ] || { fail "the poll over a corrupt state exited $rc"; said; }
printf '%s\n' "$err" | grep -Eq "^[0-9TZ:-]+ warning metrics\.state_reset: $state/metrics\.state: line 1 is not a state line; the counters start again from zero\$" ||
	{ fail "the corrupt state was not reported"; said; }
check "the metrics after a reset" "$prom" <<'EOF'
v("afk_ticks_total", kind="poll", result="ok") == 1
v("afk_ticks_total", kind="poll", result="disarmed") == 0
v("afk_errors_total", kind="metrics_state") == 1
EOF
: >"$state/metrics.state"
run "$AFK" poll -c "$work/m1/afk.json"
[ "$rc" -eq 0 ] || { fail "the poll over an empty state exited $rc"; said; }
printf '%s\n' "$err" | grep -q 'warning metrics\.state_reset: .*: it is empty; ' ||
	{ fail "an empty state was not reported"; said; }
check "the metrics after a second reset" "$prom" <<'EOF'
v("afk_ticks_total", kind="poll", result="ok") == 1
v("afk_errors_total", kind="metrics_state") == 1
EOF

# --- metrics_file elsewhere; one that cannot be written ------------------

demo m2
mkdir "$work/m2/textfile"
sed 's|^{|{"metrics_file": "textfile/afk.prom",|' "$DEMO/afk.json" \
	>"$work/m2/afk.json"
sed 's|^{|{"metrics_file": "no/such/dir/afk.prom",|' "$DEMO/afk.json" \
	>"$work/m2/bad.json"
run "$AFK" check-config -c "$work/m2/afk.json"
printf '%s\n' "$out" | grep -qx "metrics_file: $work/m2/textfile/afk.prom" ||
	{ fail "check-config does not show metrics_file"; said; }
run "$AFK" check-config -c "$work/m1/afk.json"
printf '%s\n' "$out" | grep -qx "metrics_file: $prom" ||
	{ fail "check-config does not show the default metrics_file"; said; }
run "$AFK" poll -c "$work/m2/bad.json"
[ "$rc" -eq 0 ] ||
	{ fail "a poll whose metrics cannot be written exited $rc, want 0"; said; }
printf '%s\n' "$out" | grep -q '^3 dispatched' ||
	{ fail "a poll whose metrics cannot be written did not dispatch"; said; }
printf '%s\n' "$err" | grep -Eq "^[0-9TZ:-]+ error metrics\.write_failed: cannot write $work/m2/no/such/dir/afk\.prom: " ||
	{ fail "the unwritable metrics file was not reported"; said; }
run "$AFK" poll -c "$work/m2/afk.json"
[ "$rc" -eq 0 ] || { fail "the poll into textfile/ exited $rc"; said; }
[ -f "$work/m2/textfile/afk.prom" ] || fail "metrics_file was not written"
[ -z "$(ls -A "$work/m2/textfile" | grep -v '^afk\.prom$')" ] ||
	fail "textfile/ holds more: $(ls -A "$work/m2/textfile")"
check "the metrics after a write failed" "$work/m2/textfile/afk.prom" <<'EOF'
v("afk_errors_total", kind="metrics_write") == 1
v("afk_ticks_total", kind="poll", result="ok") == 3
EOF

# --- a failed tick --------------------------------------------------------

demo m3
printf '{"issues": [' >"$work/m3/issues.json" # the tracker cannot read it
run "$AFK" tick -c "$work/m3/afk.json" --state-dir "$work/m3-state"
[ "$rc" -eq 1 ] || { fail "the failing tick exited $rc, want 1"; said; }
check "a failed tick's metrics" "$work/m3-state/afk.prom" <<'EOF'
v("afk_ticks_total", kind="tick", result="error") == 1
v("afk_ticks_total", kind="tick", result="ok") == 0
v("afk_last_success_timestamp_seconds", kind="tick") is None
v("afk_errors_total", kind="poll") >= 1
EOF

# --- HTTP: a github tracker against the 127.0.0.1 test server -----------

srv=$work/srv
mkdir "$srv"
"$PY" "$top_srcdir/tests/http_server.py" --dir "$srv" --lifetime 120 &
srv_pid=$!
i=0
while [ ! -s "$srv/port" ] && [ "$i" -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
if [ ! -s "$srv/port" ]; then
	fail "the test server did not start"
else
	port=$(cat "$srv/port")
	# Every listing is empty; a repeated one is answered 304 from its ETag.
	cat >"$srv/script.json" <<'EOF'
{"default": {"json": [], "etag": "\"e1\"",
             "headers": [["X-RateLimit-Remaining", "4999"]],
             "headers_304": [["X-RateLimit-Remaining", "4998"]]}}
EOF
	mkdir "$work/h1"
	cat >"$work/h1/afk.json" <<EOF
{"kill_switch": false, "allowlist": ["acme/api", "acme/web"],
 "tracker": {"kind": "github", "token_env": "AFK_TEST_METRICS_TOKEN",
             "api_url": "http://127.0.0.1:$port"},
 "agent": {"kind": "command", "command": ["/bin/true"]}}
EOF
	token=ghp_MetricsTestTokenNeverShown0123456789
	run env AFK_TEST_METRICS_TOKEN=$token "$AFK" poll -q \
		-c "$work/h1/afk.json" --state-dir "$work/h1-state"
	[ "$rc" -eq 0 ] || { fail "the github poll exited $rc"; said; }
	[ -z "$err" ] || { fail "the github poll -q logged"; said; }
	check "the github poll's HTTP metrics" "$work/h1-state/afk.prom" <<'EOF'
v("afk_http_requests_total", host="127.0.0.1", code="200") >= 2
v("afk_http_not_modified_total", host="127.0.0.1") is None
v("afk_http_rate_limit_remaining", host="127.0.0.1") == 4999
v("afk_errors_total", kind="http") == 0
EOF
	cp "$work/h1-state/afk.prom" "$work/h1-first.prom"
	run env AFK_TEST_METRICS_TOKEN=$token "$AFK" poll -q \
		-c "$work/h1/afk.json" --state-dir "$work/h1-state"
	[ "$rc" -eq 0 ] || { fail "the second github poll exited $rc"; said; }
	check "the second github poll's HTTP metrics" "$work/h1-state/afk.prom" <<'EOF'
v("afk_http_not_modified_total", host="127.0.0.1") >= 2
v("afk_http_rate_limit_remaining", host="127.0.0.1") == 4998
v("afk_ticks_total", kind="poll", result="ok") == 2
EOF
	if grep -qF "$token" "$work/h1-state/afk.prom" \
	   "$work/h1-state/metrics.state" "$work/stderr"; then
		fail "the token was written"
	fi
	# Refused: a transport failure (no server) is an error of kind http.
	kill "$srv_pid" 2>/dev/null
	wait "$srv_pid" 2>/dev/null
	srv_pid=
	run env AFK_TEST_METRICS_TOKEN=$token "$AFK" poll -q \
		-c "$work/h1/afk.json" --state-dir "$work/h1-state"
	[ "$rc" -eq 1 ] || { fail "the poll with no server exited $rc"; said; }
	check "the metrics of a poll with no server" "$work/h1-state/afk.prom" <<'EOF'
v("afk_errors_total", kind="http") >= 1
v("afk_ticks_total", kind="poll", result="error") == 1
EOF
fi

if [ "$failures" -ne 0 ]; then
	echo "metrics.sh: $failures check(s) failed"
	exit 1
fi
echo "metrics.sh: all checks passed"
exit 0
