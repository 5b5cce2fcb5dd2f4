#!/usr/bin/env bash
# demo.sh - build libafk and watch one poll tick work a demo issue tracker.
#
# Run it from a checkout on Debian or Ubuntu, as root or as a user with
# sudo.  It installs the build dependencies when they are missing, builds
# into ./build, copies examples/demo to build/demo-run (a fresh copy each
# time) and runs `afk poll` on it twice.  Nothing outside ./build changes
# apart from the packages.  Exits with afk's status.
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
	$sudo apt-get update
	# shellcheck disable=SC2086
	$sudo env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends $deps
}

build() {
	if [ ! -x configure ]; then
		say "autoreconf -fi"
		autoreconf -fi
	fi
	mkdir -p build
	if [ ! -f build/Makefile ]; then
		say "configuring in ./build"
		(cd build && ../configure)
	fi
	say "building in ./build"
	make -C build -j"$(nproc 2>/dev/null || echo 2)"
}

install_deps
build

rm -rf build/demo-run
cp -R examples/demo build/demo-run
afk=build/examples/afk/afk
config=build/demo-run/afk.json

cat <<'EOF'

==> The demo tracker (build/demo-run/issues.json) holds ten issues in four
    repositories.  afk.json arms afk for acme/api, acme/web and acme/infra
    and trusts alice and bob.  One poll dispatches at most one issue per
    repository - the highest priority among those that a trusted user
    labelled ready-for-agent and that nothing open blocks - runs the agent
    (examples/demo/agent.sh) on it, and only then stamps agent-in-progress,
    the label that locks the repository.
EOF
say "$afk poll --config $config"
status=0
"$afk" poll --config "$config" || status=$?
if [ "$status" -ne 0 ]; then
	exit "$status"
fi

say "what the agent printed (build/demo-run/runs/*/output.log)"
for log in build/demo-run/runs/*/output.log; do
	sed 's/^/    /' "$log"
done

cat <<'EOF'

==> acme/docs#401 was never listed: acme/docs is not on the allowlist.
    acme/api#103 has the highest priority, but mallory is not trusted.
    acme/web#201 waits on acme/web#203, still open; acme/api#102's
    blocker, acme/api#100, is closed, so it ran.
    acme/infra already had a run in progress, so it stayed locked.

    The tick keeps no state: the tracker is the source of truth.  Polling
    again finds agent-in-progress on acme/api and acme/web too, so this
    time nothing new is dispatched:
EOF
say "$afk poll --config $config"
"$afk" poll --config "$config" || status=$?

cat <<'EOF'

==> Run ./demo.sh again to start from scratch, or flip the kill switch:
    AFK_KILL_SWITCH=1 build/examples/afk/afk poll \
        --config build/demo-run/afk.json
    See man/afk.1 (man -l man/afk.1).
EOF
exit "$status"
