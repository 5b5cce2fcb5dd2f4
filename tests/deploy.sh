#!/usr/bin/env bash
# tests/deploy.sh BUILD_DIR - the shipped deploy files of examples/deploy/
# work as shipped:
#
#   kubernetes/*.yaml  every object valid against Kubernetes' published
#                      schemas (npm kubernetes-models), the hardening the
#                      CronJob promises and the least privilege of
#                      rbac.yaml (tests/deploy_validate.js); the afk.json
#                      of each ConfigMap (T3 agent, kubernetes agent)
#                      accepted by `afk check-config`, the Secret's
#                      placeholders refused by it;
#   systemd/           afk.json accepted by `afk check-config`; afk.service
#                      and afk.timer accepted by `systemd-analyze verify`,
#                      afk.service's exposure (`systemd-analyze security
#                      --offline`) at most 2.0, and no writable path but
#                      its state directory;
#   Dockerfile         the runtime stage installs the package of every
#                      shared library afk and libafk need.
#
# BUILD_DIR is a configured and built tree (test.sh: build/test-plain);
# its afk runs check-config, which reads the configuration and the tokens
# and uses no network (no --online).  Tokens are fake, set for the run
# only.  npm installs kubernetes-models and yaml once into build/npm-deploy
# (the npm registry is needed the first time); systemd-analyze comes from
# the systemd package (test.sh installs it; systemd need not be running).
#
# Prints "PASS: what" or "FAIL: what" for each case (test.sh counts them).
# Exits non-zero when anything failed.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:?usage: tests/deploy.sh BUILD_DIR}" && pwd)
deploy=$root/examples/deploy
npmdir=$root/build/npm-deploy
afk=$build/examples/afk/afk

tmp=$(mktemp -d "${TMPDIR:-/tmp}/afk-deploy.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
failed=0

pass() { echo "PASS: $1"; }
fail() {
	echo "FAIL: $1"
	failed=1
}

[ -x "$afk" ] || {
	fail "no afk built in $build"
	exit 1
}

if [ ! -d "$npmdir/node_modules/kubernetes-models" ] ||
	[ ! -d "$npmdir/node_modules/yaml" ]; then
	echo "installing kubernetes-models and yaml into $npmdir"
	mkdir -p "$npmdir"
	npm install --prefix "$npmdir" --no-audit --no-fund --loglevel=error \
		kubernetes-models@4 yaml@2 || {
		fail "npm install kubernetes-models yaml"
		exit 1
	}
fi
export NODE_PATH=$npmdir/node_modules

# fake NAME: a stand-in token, long enough for afk (16 bytes at least).
fake() { echo "fake-$1-0123456789abcdef"; }

# check_config FILE [VAR=VALUE...]: afk check-config on FILE in an
# environment of nothing but PATH and the VARs; its output in $tmp/out.
check_config() {
	local file=$1
	shift
	env -i PATH=/usr/bin:/bin "$@" "$afk" check-config --config "$file" \
		>"$tmp/out" 2>&1
}

# --- Kubernetes ------------------------------------------------------------

# The validator's "ok - what" / "not ok - what" become PASS / FAIL.  It
# writes each ConfigMap's afk.json to $tmp/k8s/FILE.afk.json.
mkdir "$tmp/k8s"
node "$root/tests/deploy_validate.js" "$deploy" "$tmp/k8s" \
	>"$tmp/validate.log" 2>&1
rc=$?
sed -n -e 's/^ok - /PASS: /p' -e 's/^not ok - /FAIL: /p' "$tmp/validate.log"
if grep -q '^not ok - ' "$tmp/validate.log"; then
	failed=1
elif [ "$rc" -ne 0 ]; then
	cat "$tmp/validate.log"
	fail "kubernetes: the validator ran to its end"
fi

# The Secret as shipped: placeholders, which must not pass for tokens.
# shellcheck disable=SC2016 # a JavaScript template, not the shell's.
mapfile -t placeholders < <(node -e '
const YAML = require("yaml");
const s = YAML.parse(require("fs").readFileSync(process.argv[1], "utf8"));
for (const [k, v] of Object.entries(s.stringData)) console.log(`${k}=${v}`);
' "$deploy/kubernetes/secret.yaml")

# What the pod has beside its tokens: the kubernetes agent's in-cluster
# defaults (the API's address, cronjob.yaml's service account volume), in
# $tmp/serviceaccount instead of /var/run/secrets/kubernetes.io/.
mkdir -m 0700 "$tmp/serviceaccount"
(
	umask 077
	fake serviceaccount >"$tmp/serviceaccount/token"
	echo afk >"$tmp/serviceaccount/namespace"
	: >"$tmp/serviceaccount/ca.crt"
)
k8s_env=(KUBERNETES_SERVICE_HOST=10.96.0.1 KUBERNETES_SERVICE_PORT=443)
k8s_tokens=(GITHUB_TOKEN="$(fake github)" T3_TOKEN="$(fake t3)"
	SLACK_WEBHOOK_URL="https://hooks.slack.example/$(fake slack)")
n=0
for json in "$tmp"/k8s/*.afk.json; do
	[ -f "$json" ] || continue
	n=$((n + 1))
	name=${json##*/}
	what="kubernetes: check-config accepts ${name%.afk.json}.yaml's afk.json"
	# A kubernetes agent's token_file and ca_file, unless it names them,
	# are the in-cluster ones: here those of $tmp/serviceaccount.
	# shellcheck disable=SC2016 # JavaScript, not the shell's.
	node -e '
const fs = require("fs");
const [src, dst, sa] = process.argv.slice(1);
const cfg = JSON.parse(fs.readFileSync(src, "utf8"));
if (cfg.agent && cfg.agent.kind === "kubernetes") {
	cfg.agent.token_file = cfg.agent.token_file || `${sa}/token`;
	cfg.agent.ca_file = cfg.agent.ca_file || `${sa}/ca.crt`;
}
fs.writeFileSync(dst, JSON.stringify(cfg, null, 2));
' "$json" "$tmp/k8s-check.json" "$tmp/serviceaccount"
	if check_config "$tmp/k8s-check.json" "${k8s_env[@]}" "${k8s_tokens[@]}"; then
		pass "$what"
	else
		cat "$tmp/out"
		fail "$what"
	fi

	what="kubernetes: check-config refuses the Secret's placeholders (${name%.afk.json}.yaml)"
	check_config "$tmp/k8s-check.json" "${k8s_env[@]}" "${placeholders[@]}"
	rc=$?
	if [ "${#placeholders[@]}" -gt 0 ] && [ "$rc" -eq 3 ] &&
		grep -q 'token' "$tmp/out"; then
		pass "$what"
	else
		cat "$tmp/out"
		fail "$what (exit $rc)"
	fi
done
# configmap.yaml and configmap-kubernetes-agent.yaml.
if [ "$n" -ne 2 ]; then
	fail "kubernetes: check-config ran on both ConfigMaps' afk.json (on $n)"
fi

# --- systemd ---------------------------------------------------------------

# The units' credentials, as systemd would hand them to afk.service, in
# $tmp/credentials instead of /run/credentials/afk.service.
mkdir -m 0700 "$tmp/credentials"
(
	umask 077
	fake github >"$tmp/credentials/github-token"
	fake t3 >"$tmp/credentials/t3-token"
	echo "https://hooks.slack.example/$(fake slack)" \
		>"$tmp/credentials/slack-webhook"
)
sed "s|/run/credentials/afk\.service/|$tmp/credentials/|g" \
	"$deploy/systemd/afk.json" >"$tmp/systemd-afk.json"
if check_config "$tmp/systemd-afk.json"; then
	pass "systemd: check-config accepts afk.json with its credentials"
else
	cat "$tmp/out"
	fail "systemd: check-config accepts afk.json with its credentials"
fi

# Every credential afk.json reads is one afk.service loads.
missing=
while read -r f; do
	grep -q "^LoadCredential=${f##*/}:" "$deploy/systemd/afk.service" ||
		missing="$missing ${f##*/}"
done < <(grep -o '/run/credentials/afk\.service/[a-z0-9-]*' \
	"$deploy/systemd/afk.json" | sort -u)
if [ -z "$missing" ]; then
	pass "systemd: afk.service loads every credential afk.json reads"
else
	fail "systemd: afk.service loads every credential afk.json reads (not:$missing)"
fi

# systemd-analyze verify wants ExecStart's program to exist: the units are
# verified from a copy whose ExecStart names the built afk instead of
# /usr/local/bin/afk, nothing else changed.  It warns of an unknown key or
# a bad value but still exits 0, so any line naming a unit fails too.
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir "$tmp/units"
	sed "s|^ExecStart=/usr/local/bin/afk |ExecStart=$afk |" \
		"$deploy/systemd/afk.service" >"$tmp/units/afk.service"
	cp "$deploy/systemd/afk.timer" "$tmp/units/afk.timer"
	if ! grep -q "^ExecStart=$afk " "$tmp/units/afk.service"; then
		fail "systemd: afk.service's ExecStart runs /usr/local/bin/afk"
	else
		(cd "$tmp/units" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify \
			--man=no afk.service afk.timer) >"$tmp/verify.log" 2>&1
		rc=$?
		if [ "$rc" -eq 0 ] && ! grep -q 'afk\.\(service\|timer\)' "$tmp/verify.log"; then
			pass "systemd: systemd-analyze verify afk.service afk.timer"
		else
			cat "$tmp/verify.log"
			fail "systemd: systemd-analyze verify afk.service afk.timer (exit $rc)"
		fi
		# --threshold is the exposure times ten.
		if (cd "$tmp/units" && systemd-analyze security --offline=true \
			--threshold=20 --no-pager afk.service) >"$tmp/security.log" 2>&1; then
			pass "systemd: afk.service's exposure is at most 2.0 ($(sed -n 's/.*exposure level for afk.service: \([0-9.]*\).*/\1/p' "$tmp/security.log"))"
		else
			grep -v '^✓' "$tmp/security.log"
			fail "systemd: afk.service's exposure is at most 2.0"
		fi
	fi
else
	fail "systemd: systemd-analyze is not installed (apt-get install systemd)"
fi

# The configuration is read-only to the service: nothing made writable but
# the state directory (ProtectSystem=strict makes the rest read-only).
svc=$deploy/systemd/afk.service
if grep -q '^ProtectSystem=strict$' "$svc" && grep -q '^StateDirectory=afk$' "$svc" &&
	! grep -Eq '^(ReadWritePaths|ReadWriteDirectories)=' "$svc"; then
	pass "systemd: nothing writable but the state directory"
else
	fail "systemd: nothing writable but the state directory"
fi

# --- Dockerfile --------------------------------------------------------------

# The runtime stage's packages: the words between --no-install-recommends
# and the next && of the last stage (after the last FROM), its
# backslash-newlines (\134) joined.
runtime=$(awk '/^FROM /{ s = "" } { s = s $0 " " } END { print s }' \
	"$deploy/Dockerfile" | tr -d '\134' |
	sed -n 's/.*apt-get install[^&]*--no-install-recommends\([^&]*\)&&.*/\1/p' |
	tr -s ' ' '\n' | grep .)
missing=
for so in $(readelf -d "$build/examples/afk/.libs/afk" "$build/lib/.libs/libafk.so" |
	sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u); do
	case $so in libafk.so.*) continue ;; esac
	path=$(ldconfig -p | awk -v so="$so" '$1 == so { print $NF; exit }')
	# dpkg knows a file by the path its package ships, which merged /usr
	# and the soname's symbolic link can hide: each name of it is tried.
	pkg=
	if [ -n "$path" ]; then
		real=$(readlink -f "$path")
		for p in "$path" "${path%/*}/${real##*/}" "$real"; do
			pkg=$(dpkg -S "$p" 2>/dev/null | head -n 1 | cut -d: -f1)
			[ -z "$pkg" ] || break
		done
	fi
	[ -n "$pkg" ] || pkg="(no package for $so)"
	# libc6 is in every Debian image.
	if [ "$pkg" != libc6 ] && ! grep -qx "$pkg" <<<"$runtime"; then
		missing="$missing $pkg"
	fi
done
if [ -n "$runtime" ] && [ -z "$missing" ]; then
	pass "Dockerfile: the runtime stage installs every library afk needs"
else
	fail "Dockerfile: the runtime stage installs every library afk needs (not:$missing)"
fi

exit "$failed"
