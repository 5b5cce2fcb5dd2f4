#!/usr/bin/env bash
# tests/contract.sh BUILD_DIR - the built-in adapters against the services'
# own API descriptions, served on 127.0.0.1 by a validating mock server.
#
# @stoplight/prism-cli serves GitHub's OpenAPI description (@octokit/openapi)
# and Forgejo's swagger (tests/specs/forgejo-swagger.v1.json, MIT, from
# Forgejo 11; served without its /api/v1 base path) and checks every
# request against it: a request the description rejects is answered 422 or
# carries an sl-violations header, which fails the adapter's call and so
# the test.  The Check suites' "contract" cases run only when
# AFK_GITHUB_CONTRACT_URL / AFK_FORGEJO_CONTRACT_URL name such a mock.
#
# The npm packages are installed once into build/npm (the npm registry is
# needed the first time).  Exits non-zero when anything failed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:?usage: tests/contract.sh BUILD_DIR}
npmdir=$root/build/npm
prism=$npmdir/node_modules/.bin/prism
github_spec=$npmdir/node_modules/@octokit/openapi/generated/api.github.com.json
forgejo_spec=$root/tests/specs/forgejo-swagger.v1.json
# Each mock runs in a session of its own (setsid), its id in $pidfile:
# serve() runs in a command substitution, a subshell whose variables the
# script never sees, and prism's node forks workers, which a kill of the
# one process would leave running.  At exit each session is stopped
# whole, gently and then not.
pidfile=$(mktemp "${TMPDIR:-/tmp}/afk-contract.XXXXXX")
stop_mocks() {
	local p sig
	for sig in TERM KILL; do
		while read -r p; do
			kill -"$sig" -- "-$p" 2>/dev/null || true
		done <"$pidfile"
		[ "$sig" = KILL ] || sleep 1
	done
	rm -f "$pidfile"
}
trap stop_mocks EXIT

if [ ! -x "$prism" ] || [ ! -f "$github_spec" ]; then
	echo "installing @stoplight/prism-cli and @octokit/openapi into $npmdir"
	mkdir -p "$npmdir"
	npm install --prefix "$npmdir" --no-audit --no-fund --loglevel=error \
		@stoplight/prism-cli @octokit/openapi
fi

# free_port: an unused TCP port on 127.0.0.1.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# answers URL: true when anything answers HTTP there (any status).
answers() {
	python3 - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass
except Exception:
    sys.exit(1)
PY
}

# serve SPEC: starts a mock of SPEC; prints its URL once it answers.
serve() {
	local spec=$1 port log
	port=$(free_port)
	log=$build/prism-$port.log
	setsid "$prism" mock -h 127.0.0.1 -p "$port" "$spec" >"$log" 2>&1 &
	echo "$!" >>"$pidfile"
	for _ in $(seq 1 240); do
		if answers "http://127.0.0.1:$port/"; then
			echo "http://127.0.0.1:$port"
			return 0
		fi
		sleep 0.5
	done
	echo "prism did not start for $spec; its log:" >&2
	cat "$log" >&2
	return 1
}

github=$(serve "$github_spec")
forgejo=$(serve "$forgejo_spec")
echo "mocks: GitHub $github, Forgejo $forgejo"

rc=0
(cd "$build" && AFK_GITHUB_CONTRACT_URL=$github ./tests/builtin/check_github) || rc=1
if [ -x "$build/tests/builtin/check_forgejo" ]; then
	(cd "$build" && AFK_FORGEJO_CONTRACT_URL=$forgejo ./tests/builtin/check_forgejo) || rc=1
fi
exit $rc
