#!/usr/bin/env bash
# test.sh - runs every test of libafk, as CI does (.ci/run runs this).
#
#     ./test.sh            from the repository root, as root or with sudo
#
# Stages, each under its own "=== name ===" header:
#   0. packages     installs the build and test dependencies when missing
#   1. plain        autoreconf -fi; configure --enable-werror; make check
#   2. asan         the same with --enable-sanitizers (ASan + UBSan)
#   3. valgrind     make check-valgrind in the plain build
#   4. install      make install to a temporary prefix, then a program
#                   built with nothing but `pkg-config --cflags --libs afk`
#   5. python-install
#                   the Python binding installed both ways, each followed
#                   by `import afk` under `env -i` (tests/install_python.sh):
#                   make install of the plain build into /usr/local, for
#                   the system's python3, and pip install bindings/python
#                   into a venv; then make uninstall leaves no file behind;
#                   and make install prefix=DIR, a prefix ld.so does not
#                   search
#   6. distcheck    make distcheck
#   7. contract     the built-in GitHub and Forgejo adapters against the
#                   services' API descriptions served by a validating mock
#                   (tests/contract.sh; npm installs it once)
#   8. deploy       the files of examples/deploy/ as shipped: the
#                   Kubernetes objects against Kubernetes' schemas and the
#                   hardening they promise, their afk.json through
#                   check-config, the systemd units through systemd-analyze
#                   verify and security, the Dockerfile's runtime
#                   libraries (tests/deploy.sh; npm installs its packages
#                   once, systemd is installed when missing); and every
#                   object the kubernetes agent sends against the same
#                   schemas (tests/k8s_objects.sh)
#   9. fuzz         make fuzz (clang's libFuzzer, ASan+UBSan; clang is
#                   installed when missing), then each harness of fuzz/
#                   over its seed corpus and for FUZZ_SECONDS (20) more
#                   (fuzz/run.sh)
#  10. leftovers    no process the run started outlives it (each carries
#                   $AFK_TEST_RUN; tests/leftovers.py finds, lists and
#                   stops any): one case
# Every stage runs even when an earlier one failed.  The last line is the
# total, "N passed, M failed", counting:
#   - Check test cases, from the "NN%: Checks: X, Failures: F, Errors: E"
#     lines of each stage's tests/*/check_*.log and of the valgrind output;
#   - the script tests (tests/*.sh ...), from automake's .trs records
#     (the PASS/FAIL results test-suite.log summarizes);
#   - the install stage's own checks, tests/install_python.sh's (its
#     "cases: N" less its PASS lines failed) and distcheck, one case each;
#   - tests/deploy.sh's PASS and FAIL lines;
#   - each fuzz target, one case (a target that did not run failed);
#   - a stage that failed without failing any case it counts (a build that
#     broke, valgrind errors) as one failed case, so that a failure can
#     never hide behind "0 failed".
# Exits 1 when anything failed.
#
# Builds go to build/ (removed and remade on each run); apart from that
# and the autotools outputs of autoreconf, the source tree is not touched.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
root=$PWD
build=$root/build
jobs=$(nproc 2>/dev/null || echo 2)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/afk-test.XXXXXX")
# Every process of the run carries this token in its environment, so the
# last stage can find any that outlives it (tests/leftovers.py).
AFK_TEST_RUN=${tmp##*/}
export AFK_TEST_RUN
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
summary=()

header() {
	printf '\n=== %s ===\n' "$1"
}

# fresh DIR: an empty build directory (a failed distcheck leaves
# read-only directories behind, hence the chmod).
fresh() {
	if [ -e "$1" ]; then
		chmod -R u+w "$1"
		rm -rf "$1"
	fi
	mkdir -p "$1"
}

# --- counting --------------------------------------------------------------

# count_checks FILE...: prints "passed failed" summed over the Check
# summary lines ("100%: Checks: 12, Failures: 0, Errors: 0") of FILEs.
count_checks() {
	cat "$@" 2>/dev/null | sed -n \
		's/.*[0-9]*%: Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' |
		awk '{ p += $1 - $2 - $3; f += $2 + $3 } END { print p + 0, f + 0 }'
}

# count_make_check DIR: prints "passed failed" for one `make check` in the
# build directory DIR.  A Check suite counts its test cases, plus one
# failure when automake saw it fail while none of its cases did (a crash,
# a sanitizer report at exit); any other test counts as one case.
count_make_check() {
	local trs log res p f total_p=0 total_f=0
	while IFS= read -r trs; do
		log=${trs%.trs}.log
		res=$(sed -n 's/^:test-result: //p' "$trs" | head -n 1)
		case ${trs##*/} in
		check_*)
			read -r p f < <(count_checks "$log")
			case $res in
			FAIL | ERROR | XPASS) [ "$f" -gt 0 ] || f=$((f + 1)) ;;
			esac
			;;
		*)
			p=0
			f=0
			case $res in
			PASS | XFAIL) p=1 ;;
			FAIL | ERROR | XPASS) f=1 ;;
			esac
			;;
		esac
		total_p=$((total_p + p))
		total_f=$((total_f + f))
	done < <(find "$1" -name '*.trs' -not -path '*/libafk-*/*' | sort)
	echo "$total_p $total_f"
}

# print_failed_logs DIR: the logs of the tests that did not pass.
print_failed_logs() {
	local trs
	while IFS= read -r trs; do
		if grep -Eq '^:test-result: (FAIL|ERROR|XPASS)' "$trs"; then
			printf '\n--- %s ---\n' "${trs%.trs}.log"
			cat "${trs%.trs}.log" || true
		fi
	done < <(find "$1" -name '*.trs' -not -path '*/libafk-*/*' | sort)
}

# record NAME RC PASSED FAILED: adds a finished stage to the totals.
record() {
	local name=$1 rc=$2 p=$3 f=$4 note=""
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		note=" (the stage failed outside its test cases)"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$rc" -eq 0 ] && [ "$f" -eq 0 ]; then
		summary+=("ok      $name: $p passed, $f failed")
	else
		summary+=("FAILED  $name: $p passed, $f failed$note")
	fi
}

# run NAME FUNCTION: runs a stage in a subshell with errexit in force (a
# subshell, not a function call in an `if`, so that set -e holds), and
# prints its exit status into $tmp/rc.
run() {
	local rc
	header "$1"
	set +e
	(set -e; "$2")
	rc=$?
	set -e
	echo "$rc" >"$tmp/rc"
	if [ "$rc" -ne 0 ]; then
		echo "*** stage '$1' failed (exit status $rc)"
	fi
}

# --- 0. packages -----------------------------------------------------------

packages=(autoconf automake libtool pkg-config libjansson-dev
	libcurl4-openssl-dev check python3-pytest python3-mypy python3-venv
	python3-setuptools python3-prometheus-client abigail-tools valgrind groff
	g++)

stage_packages() {
	local p missing=() sudo=()
	if ! command -v dpkg-query >/dev/null 2>&1; then
		echo "no dpkg: not a Debian system, assuming the tools are installed"
		return 0
	fi
	for p in "${packages[@]}"; do
		if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
			missing+=("$p")
		fi
	done
	if [ ${#missing[@]} -eq 0 ]; then
		echo "all installed: ${packages[*]}"
		return 0
	fi
	echo "installing: ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || {
			echo "not root and no sudo: install ${missing[*]} first" >&2
			return 1
		}
		sudo=(sudo)
	fi
	"${sudo[@]}" apt-get update
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends "${missing[@]}"
}

# --- 1. plain --------------------------------------------------------------

stage_plain() {
	autoreconf -fi
	fresh "$build/test-plain"
	cd "$build/test-plain"
	../../configure --enable-werror
	make -j"$jobs"
	if ! make -j"$jobs" check; then
		print_failed_logs .
		return 1
	fi
}

# --- 2. ASan + UBSan -------------------------------------------------------

stage_asan() {
	fresh "$build/test-asan"
	cd "$build/test-asan"
	../../configure --enable-werror --enable-sanitizers
	make -j"$jobs"
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	if ! make -j"$jobs" check; then
		print_failed_logs .
		return 1
	fi
}

# --- 3. valgrind -----------------------------------------------------------

stage_valgrind() {
	cd "$build/test-plain"
	make check-valgrind 2>&1 | tee "$build/valgrind.log"
}

# count_valgrind: "passed failed" of the valgrind stage.  The target stops
# at the first suite valgrind fails; when that suite's cases all passed,
# the failure is valgrind's own (a leak, an invalid read) and counts once.
count_valgrind() {
	local p f
	read -r p f < <(count_checks "$build/valgrind.log")
	echo "$p $f"
}

# --- 4. install + pkg-config -----------------------------------------------

stage_install() {
	local prefix=$tmp/prefix pcdir libdir cflags libs
	fresh "$build/test-install"
	cd "$build/test-install"
	../../configure --enable-werror --prefix="$prefix"
	make -j"$jobs"
	make install

	pcdir=$(dirname "$(find "$prefix" -name afk.pc | head -n 1)")
	libdir=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=libdir afk)
	cflags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags afk)
	libs=$(PKG_CONFIG_PATH=$pcdir pkg-config --libs afk)
	echo "pkg-config: --cflags '$cflags' --libs '$libs'"

	cat >"$tmp/prog.c" <<'EOF'
#include <stdio.h>
#include <string.h>

#include <afk/afk.h>

int main(void)
{
	afk_config *cfg = NULL;
	int rc = afk_config_new(&cfg);

	if (rc != AFK_OK) {
		fprintf(stderr, "afk_config_new: %s\n", afk_strerror(rc));
		return 1;
	}
	if (afk_config_armed(cfg)) {
		fprintf(stderr, "a new configuration is armed\n");
		afk_config_free(cfg);
		return 1;
	}
	afk_config_free(cfg);
	printf("libafk %s (headers %s), a new configuration is disarmed\n",
	       afk_version(), AFK_VERSION_STRING);
	return strcmp(afk_version(), AFK_VERSION_STRING) != 0;
}
EOF
	# shellcheck disable=SC2086 # pkg-config's output is a list of words.
	"${CC:-cc}" -Wall -Wextra -Werror -o "$tmp/prog" "$tmp/prog.c" $cflags $libs
	echo "case: installed headers and library work through pkg-config" >>"$tmp/install.cases"
	LD_LIBRARY_PATH=$libdir "$tmp/prog"
	# Must have loaded the installed library, not one from the build.
	LD_LIBRARY_PATH=$libdir ldd "$tmp/prog" | grep -F "$libdir/libafk.so"
	echo "pass" >>"$tmp/install.cases"

	# Every installed .so man3/PAGE.3 redirect finds its page.
	echo "case: installed man3 redirects resolve" >>"$tmp/install.cases"
	local page to bad=0
	for page in "$prefix"/share/man/man3/*.3; do
		to=$(sed -n '1s/^\.so[ \t]*//p' "$page")
		if [ -n "$to" ] && [ ! -f "$prefix/share/man/$to" ]; then
			echo "${page##*/}: .so $to does not resolve" >&2
			bad=1
		fi
	done
	[ "$bad" -eq 0 ]
	echo "pass" >>"$tmp/install.cases"
}

# count_install: "passed failed" of the install stage's two cases.
count_install() {
	local cases p
	cases=$(grep -c '^case:' "$tmp/install.cases" 2>/dev/null || true)
	p=$(grep -c '^pass$' "$tmp/install.cases" 2>/dev/null || true)
	echo "${p:-0} $(( ${cases:-0} - ${p:-0} ))"
}

# --- 5. the Python binding installed ---------------------------------------

stage_python_install() {
	"$root/tests/install_python.sh" "$build/test-plain" 2>&1 |
		tee "$tmp/python-install.log"
}

# count_python_install: "passed failed" of tests/install_python.sh, which
# says how many cases it has before it runs them.
count_python_install() {
	local n p
	n=$(sed -n 's/^cases: \([0-9]*\)$/\1/p' "$tmp/python-install.log" | head -n 1)
	p=$(grep -c '^PASS: ' "$tmp/python-install.log" 2>/dev/null || true)
	echo "${p:-0} $(( ${n:-0} - ${p:-0} ))"
}

# --- 6. distcheck ----------------------------------------------------------

stage_distcheck() {
	cd "$build/test-plain"
	make -j"$jobs" distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror
}

# --- 7. contract -----------------------------------------------------------

stage_contract() {
	if ! command -v npm >/dev/null 2>&1; then
		local sudo=()
		[ "$(id -u)" -eq 0 ] || sudo=(sudo)
		"${sudo[@]}" apt-get update
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends nodejs npm
	fi
	"$root/tests/contract.sh" "$build/test-plain" 2>&1 | tee "$tmp/contract.log"
}

# --- 8. deploy -------------------------------------------------------------

stage_deploy() {
	local sudo=() missing=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
	# systemd-analyze verify and security --offline need no running systemd.
	command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
	if [ ${#missing[@]} -gt 0 ]; then
		"${sudo[@]}" apt-get update
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends "${missing[@]}"
	fi
	local rc=0
	"$root/tests/deploy.sh" "$build/test-plain" 2>&1 | tee "$tmp/deploy.log" ||
		rc=1
	# deploy.sh installed kubernetes-models: what the kubernetes agent
	# sends is held to the same schemas (make check skips it without).
	top_srcdir=$root top_builddir=$build/test-plain \
		sh "$root/tests/k8s_objects.sh" 2>&1 | tee -a "$tmp/deploy.log" ||
		rc=1
	return "$rc"
}

# count_deploy: "passed failed" of tests/deploy.sh, from its PASS and FAIL
# lines.
count_deploy() {
	local p f
	p=$(grep -c '^PASS: ' "$tmp/deploy.log" 2>/dev/null || true)
	f=$(grep -c '^FAIL: ' "$tmp/deploy.log" 2>/dev/null || true)
	echo "${p:-0} ${f:-0}"
}

# --- 9. fuzz ---------------------------------------------------------------

fuzz_seconds=${FUZZ_SECONDS:-20}

# fuzzer_links: 0 when clang can build a libFuzzer program (the runtime
# is a package of its own on Debian, only recommended by clang).
fuzzer_links() {
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
		'{ (void)d; (void)n; return 0; }' >"$tmp/fuzzer.c"
	clang -fsanitize=fuzzer,address,undefined -o "$tmp/fuzzer" \
		"$tmp/fuzzer.c" >/dev/null 2>&1
}

stage_fuzz() {
	local sudo=() v
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	if ! command -v clang >/dev/null 2>&1; then
		"${sudo[@]}" apt-get update
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends clang
	fi
	if ! fuzzer_links; then
		v=$(clang -dumpversion | cut -d. -f1)
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends \
			"libclang-rt-$v-dev"
	fi
	cd "$build/test-plain"
	make fuzz
	"$root/fuzz/run.sh" "$build/test-plain/fuzz-build" "$fuzz_seconds" |
		tee "$tmp/fuzz.log"
}

# count_fuzz: "passed failed" of the fuzz stage, one case per target of
# fuzz/build.sh --list, so that a target that never ran counts failed.
count_fuzz() {
	local n p
	n=$("$root/fuzz/build.sh" --list | wc -w)
	p=$(grep -c '^PASS ' "$tmp/fuzz.log" 2>/dev/null || true)
	echo "${p:-0} $((n - ${p:-0}))"
}

# --- the run ---------------------------------------------------------------

run "Packages" stage_packages
rc=$(cat "$tmp/rc")
if [ "$rc" -ne 0 ]; then
	echo "cannot install the dependencies: giving up"
	record "packages" "$rc" 0 0
	echo "$passed passed, $failed failed"
	exit 1
fi

run "Plain build + make check" stage_plain
rc=$(cat "$tmp/rc")
read -r p f < <(count_make_check "$build/test-plain")
record "plain make check" "$rc" "$p" "$f"

run "ASan+UBSan" stage_asan
rc=$(cat "$tmp/rc")
read -r p f < <(count_make_check "$build/test-asan")
record "ASan+UBSan make check" "$rc" "$p" "$f"

rm -f "$build/valgrind.log"
run "valgrind" stage_valgrind
rc=$(cat "$tmp/rc")
read -r p f < <(count_valgrind)
record "valgrind" "$rc" "$p" "$f"

: >"$tmp/install.cases"
run "Install + pkg-config" stage_install
rc=$(cat "$tmp/rc")
read -r p f < <(count_install)
record "install + pkg-config" "$rc" "$p" "$f"

: >"$tmp/python-install.log"
run "Python binding: make install, pip install" stage_python_install
rc=$(cat "$tmp/rc")
read -r p f < <(count_python_install)
record "python-install" "$rc" "$p" "$f"

run "make distcheck" stage_distcheck
rc=$(cat "$tmp/rc")
if [ "$rc" -eq 0 ]; then
	record "distcheck" 0 1 0
else
	record "distcheck" "$rc" 0 1
fi

run "Contract (validating mock servers)" stage_contract
rc=$(cat "$tmp/rc")
read -r p f < <(count_checks "$tmp/contract.log")
record "contract" "$rc" "$p" "$f"

: >"$tmp/deploy.log"
run "Deploy files (Kubernetes, systemd, Dockerfile)" stage_deploy
rc=$(cat "$tmp/rc")
read -r p f < <(count_deploy)
record "deploy" "$rc" "$p" "$f"

: >"$tmp/fuzz.log"
run "Fuzz (libFuzzer, ASan+UBSan)" stage_fuzz
rc=$(cat "$tmp/rc")
read -r p f < <(count_fuzz)
record "fuzz" "$rc" "$p" "$f"

header "Nothing left running"
set +e
/usr/bin/env python3 "$root/tests/leftovers.py" "$AFK_TEST_RUN"
rc=$?
set -e
if [ "$rc" -eq 0 ]; then
	record "nothing left running" 0 1 0
else
	record "nothing left running" "$rc" 0 1
fi

header "Summary"
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
