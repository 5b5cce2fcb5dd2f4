#!/usr/bin/env bash
# demo.sh - build libafk and watch it drive a demo issue tracker through
# the whole life of a run: dispatch, progress, fix-forward, close, and a
# hand-over to a human.
#
# Run it from a checkout on Debian or Ubuntu, as root or as a user with
# sudo.  It installs the build dependencies when they are missing, builds
# into ./build, copies examples/demo to build/demo-run (a fresh copy each
# time) and runs four ticks on it - `afk poll`, a wait for the stand-in
# agents, which run detached, then `afk watch` - ten minutes apart on
# afk's clock.  Nothing outside ./build changes apart from the packages.  Exits
# with afk's status.
set -eu

cd "$(dirname "$0")"

deps="autoconf automake libtool pkg-config make gcc libjansson-dev
      libcurl4-openssl-dev check"

say() {
	printf '\n==> %s\n' "$*"
}

# Installs whatever of $deps dpkg does not show installed.
install_deps() {
	local sudo=""

	if ! command -v dpkg >/dev/null 2>&1; then
		say "not a Debian system: install by hand: $deps"
		return
	fi
	# shellcheck disable=SC2086 # one word per package
	if dpkg -s $deps >/dev/null 2>&1; then
		return
	fi
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null 2>&1; then
			echo "demo.sh: run as root, or install sudo" >&2
			exit 1
		fi
		sudo=sudo
	fi
	say "installing the build dependencies"
	$sudo apt-get update -qq
	# shellcheck disable=SC2086
	$sudo env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $deps >/dev/null
}

# The build's chatter goes to build/build.log: the demo is the point.
# On failure the log's tail is shown.
build() {
	local log=build/build.log
	mkdir -p build
	: >"$log"
	say "building in ./build (log: $log)"
	if ! {
		{ [ -x configure ] || autoreconf -fi; } &&
		{ [ -f build/Makefile ] || (cd build && ../configure); } &&
		make -C build -j"$(nproc 2>/dev/null || echo 2)"
	} >>"$log" 2>&1; then
		tail -n 40 "$log" >&2
		echo "demo.sh: the build failed; see $log" >&2
		exit 1
	fi
}

install_deps
build

rm -rf build/demo-run
cp -R examples/demo build/demo-run
afk=build/examples/afk/afk
config=build/demo-run/afk.json
state=build/demo-run/state # the tick lock, the metrics: what afk writes
start=1767225600 # 2026-01-01 00:00 UTC: afk reads no clock of its own
# acme/infra#301's agent last printed before the demo began (a later
# time would count as its progress).
touch -d "@$((start - 600))" build/demo-run/runs/*/output.log

# The agents run detached: a poll returns as soon as they run, and a
# supervisor writes each one's exit_status when it ends.  A real agent
# takes tens of minutes and the next tick's watch looks at it; the
# stand-in takes a moment, and the demo waits for it (up to 30 s) so
# that each tick's watch sees what its poll's agents did.
settle() {
	local i=0 d busy
	while :; do
		busy=
		for d in build/demo-run/runs/*/; do
			[ -f "$d/supervisor" ] || continue # not started here
			[ -f "$d/exit_status" ] || busy=1
			# the supervisor writes it, then ends, freeing the lock
			if command -v flock >/dev/null 2>&1 &&
				! flock -n "$d/lock" true 2>/dev/null; then
				busy=1
			fi
		done
		[ -z "$busy" ] && return 0
		i=$((i + 1))
		if [ "$i" -ge 300 ]; then
			echo "demo.sh: the stand-in agents did not finish" >&2
			exit 1
		fi
		sleep 0.1
	done
}

cat <<'EOF'

==> The demo tracker (build/demo-run/issues.json) holds eleven issues in
    five repositories.  afk.json arms afk for acme/api, acme/web,
    acme/infra and acme/ops, and trusts alice and bob.  A stand-in agent
    (agent.sh) and a stand-in CI (ci.sh) play the world:

      acme/api#102    the agent delivers; CI takes a tick, then the pull
                      request is merged green
      acme/web#202    the agent's first push breaks the build
      acme/ops#501    the agent gives up
      acme/infra#301  was dispatched before the demo began; its agent is
                      still at work, so its repository stays locked

    Each tick is a poll - dispatch at most one ready issue per unlocked
    repository and stamp agent-in-progress on it - then a watch: each run
    in progress gets exactly one action (wait, close, fix-forward or
    escalate), and its checklist comment on the issue is brought up to
    date.  (`afk tick` does both at once.)  The agents run detached, so
    the poll returns while they work; the stand-in agent takes a moment,
    and the demo waits for it between the poll and the watch.  Under
    each action is that comment as a person sees it.  afk's clock
    advances ten minutes per tick.
EOF

status=0
tick=1
while [ "$tick" -le 4 ]; do
	now=$((start + (tick - 1) * 600))
	printf '\n== tick %d (poll + watch) at %s ==\n' "$tick" \
		"$(date -u -d "@$now" '+%H:%M' 2>/dev/null || echo "+$(((tick - 1) * 10))m")"
	printf '$ %s poll --config %s --state-dir %s\n\n' "$afk" \
		"$config" "$state"
	"$afk" poll --config "$config" --state-dir "$state" || status=$?
	if [ "$status" -ne 0 ]; then
		exit "$status"
	fi
	settle
	printf '\n$ %s watch --config %s --state-dir %s --now %s\n\n' \
		"$afk" "$config" "$state" "$now"
	"$afk" watch --config "$config" --state-dir "$state" --now "$now" ||
		status=$?
	if [ "$status" -ne 0 ]; then
		exit "$status"
	fi
	if [ "$tick" -eq 1 ]; then
		# what an operator sees between ticks; it writes nothing
		printf '\n== between ticks 1 and 2, at %s: afk status ==\n' \
			"$(date -u -d "@$((now + 300))" '+%H:%M' 2>/dev/null ||
			echo +5m)"
		printf '$ %s status --config %s --state-dir %s --now %s\n\n' \
			"$afk" "$config" "$state" "$((now + 300))"
		"$afk" status --config "$config" --state-dir "$state" \
			--now "$((now + 300))" || exit $?
	fi
	tick=$((tick + 1))
done

printf '\n== the metrics the ticks wrote (%s/afk.prom; the series not 0) ==\n\n' \
	"$state"
grep -v -e '^#' -e ' 0$' "$state/afk.prom"

cat <<'EOF'

==> What happened, and why:

    acme/api#102    dispatched in tick 1; its CI was still running, so the
                    watch waited.  In tick 2 the pull request was merged
                    with CI green: afk closed the issue and dropped the
                    lock.
    acme/web#202    CI failed on the first push, so the watch sent the
                    agent a corrective turn naming the failing check and
                    its link: fix-forward, attempt 1 of 2.  The new head
                    went green and tick 2 closed the issue.
    acme/ops#501    the agent exited with an error.  afk labelled the
                    issue ready-for-human, took ready-for-agent off so that
                    no poll picks it again, told a human (the "afk: ..."
                    line is the stdout notifier) and dropped the lock.
    acme/api#101    waited behind acme/api#102, of higher priority; once
                    #102 closed, tick 3 dispatched it and tick 4 closed it.
    acme/infra#301  its agent is still working, so every watch waits.  Had
                    it made no progress for stall_timeout (two hours by
                    default), afk would have handed it to a human.

    Never dispatched: acme/api#103 (labelled by mallory, who is not
    trusted), acme/web#201 (blocked by the open acme/web#203) and
    acme/docs#401 (not on the allowlist).

    The ticks keep no state: each run's record is a hidden line in its
    checklist comment, so another tick now changes nothing.  Look at
    build/demo-run/issues.json, build/demo-run/runs/*/output.log and
    build/demo-run/state/afk.prom (Prometheus text: man afk, METRICS), run
    ./demo.sh again to start over, or stop everything at once:
        AFK_KILL_SWITCH=1 build/examples/afk/afk tick \
            --config build/demo-run/afk.json --state-dir build/demo-run/state
    or one run, by adding ready-for-human to its issue (man afk, HOW TO
    STOP ONE RUN).
    See man/afk.1 (man -l man/afk.1).
EOF
exit "$status"
