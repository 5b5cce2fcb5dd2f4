#!/bin/sh
# tests/k8s_objects.sh - every object the "kubernetes" agent sends (Job,
# Secret, SelfSubjectAccessReview) is valid against Kubernetes' published
# schemas: tests/builtin/check_kubernetes runs with AFK_K8S_SENT_DIR set,
# writing each body it POSTed to the loopback server, and
# tests/k8s_validate.js holds them to npm kubernetes-models.
#
# Run by make check with top_srcdir and top_builddir (absolute) set, and
# by test.sh's deploy stage after tests/deploy.sh has installed the npm
# packages into build/npm-deploy.  Prints "PASS: what" / "FAIL: what".
# Exit 0 pass, 1 fail, 77 skip (no node, or kubernetes-models not
# installed - run tests/deploy.sh or test.sh to install it).

set -u

: "${top_srcdir:?top_srcdir is not set}"
: "${top_builddir:?top_builddir is not set}"
suite=$top_builddir/tests/builtin/check_kubernetes

if ! command -v node >/dev/null 2>&1; then
	echo "k8s_objects.sh: no node; skipped"
	exit 77
fi
modules=
for d in ${NODE_PATH:-} "$top_srcdir/build/npm-deploy/node_modules"; do
	if [ -d "$d/kubernetes-models" ]; then
		modules=$d
		break
	fi
done
if [ -z "$modules" ]; then
	echo "k8s_objects.sh: npm kubernetes-models is not installed; skipped"
	exit 77
fi
if [ ! -x "$suite" ]; then
	make -C "$top_builddir" tests/builtin/check_kubernetes >/dev/null ||
		{ echo "FAIL: build check_kubernetes"; exit 1; }
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/afk-k8s-sent.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

if AFK_K8S_SENT_DIR=$tmp "$suite" >"$tmp/suite.log" 2>&1; then
	echo "PASS: check_kubernetes wrote what it sent"
else
	cat "$tmp/suite.log"
	echo "FAIL: check_kubernetes"
	exit 1
fi
NODE_PATH=$modules node "$top_srcdir/tests/k8s_validate.js" "$tmp" \
	>"$tmp/validate.log" 2>&1
rc=$?
sed -n 's/^ok - /PASS: /p; s/^not ok - /FAIL: /p' "$tmp/validate.log"
if [ "$rc" -ne 0 ] && ! grep -q '^not ok - ' "$tmp/validate.log"; then
	cat "$tmp/validate.log"
	echo "FAIL: k8s_validate.js exited $rc"
fi
exit "$([ "$rc" -eq 0 ] && echo 0 || echo 1)"
