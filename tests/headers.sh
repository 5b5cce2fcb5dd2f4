#!/bin/sh
# tests/headers.sh - every public header compiles alone, from C and C++.
#
# For each include/afk/X.h:
#   C:    a file holding only #include <afk/X.h>, compiled with
#         $CC -std=c99 -pedantic -Werror -Wall -Wextra -Wstrict-prototypes
#   C++:  the same, plus the address of every function the header
#         declares, compiled with $CXX -x c++ -std=c++11 -pedantic -Werror
# Then a C++ program that references every public function is linked
# against libafk.la and run: were any extern "C" guard missing, the
# references would be mangled and the link would fail.
#
# Run by `make check` (AM_TESTS_ENVIRONMENT exports top_srcdir,
# top_builddir, CC, CXX and SAN_CFLAGS) or by hand:
#     top_builddir=/path/to/build sh tests/headers.sh
# Exit status: 0 pass, 1 fail, 77 (skip) when the C part passed and there
# is no C++ compiler, 99 when the test could not run.

LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${CC:=cc}"
# configure.ac does not check for a C++ compiler, so CXX is usually
# empty here: find one.
if [ -n "${CXX:-}" ] && ! command -v "${CXX%% *}" >/dev/null 2>&1; then
	CXX=
fi
if [ -z "${CXX:-}" ]; then
	for c in g++ c++ clang++; do
		if command -v "$c" >/dev/null 2>&1; then
			CXX=$c
			break
		fi
	done
fi
# LIBTOOL from the Makefile is relative to the build directory; call the
# build's libtool script by its absolute path instead.
libtool=$top_builddir/libtool

tmp=$(mktemp -d "${TMPDIR:-/tmp}/afk-headers.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 99' HUP INT TERM

passed=0
failed=0
ok() {
	passed=$((passed + 1))
	echo "PASS: $1"
}
ko() {
	failed=$((failed + 1))
	echo "FAIL: $1"
	sed 's/^/    /' "$tmp/out"
}

# functions HEADER: the functions a header declares AFK_EXTERN.  Comments
# and preprocessor lines go first (comments hold parentheses too), then
# each declaration yields the first identifier followed by "(".
functions() {
	awk '
	{
		line = $0; out = ""
		while (line != "") {
			if (incomment) {
				i = index(line, "*/")
				if (i == 0) break
				line = substr(line, i + 2); incomment = 0
			} else {
				i = index(line, "/*")
				if (i == 0) { out = out line; break }
				out = out substr(line, 1, i - 1) " "
				line = substr(line, i + 2); incomment = 1
			}
		}
		if (out !~ /^[ \t]*#/) printf "%s ", out
	}' "$1" | tr ';' '\n' | grep 'AFK_EXTERN' | sed 's/AFK_EXTERN//' | awk '
	{
		rest = $0
		while (match(rest, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/)) {
			id = substr(rest, RSTART, RLENGTH)
			sub(/[ \t]*\($/, "", id)
			if (id !~ /^__/) { print id; break }
			rest = substr(rest, RSTART + RLENGTH)
		}
	}'
}

headers=
for h in "$top_srcdir"/include/afk/*.h; do
	[ -f "$h" ] && headers="$headers ${h##*/}"
done
if [ -z "$headers" ]; then
	echo "headers.sh: no header in $top_srcdir/include/afk" >&2
	exit 99
fi

# --- C: each header alone --------------------------------------------------

for h in $headers; do
	printf '#include <afk/%s>\n' "$h" >"$tmp/t.c"
	# shellcheck disable=SC2086 # CC may carry options.
	if $CC -std=c99 -pedantic -Werror -Wall -Wextra -Wstrict-prototypes \
		-I"$top_srcdir/include" -c "$tmp/t.c" -o "$tmp/t.o" >"$tmp/out" 2>&1; then
		ok "C99: #include <afk/$h> compiles alone"
	else
		ko "C99: #include <afk/$h> compiles alone"
	fi
done

# --- C++ -------------------------------------------------------------------

if [ -z "${CXX:-}" ]; then
	echo "SKIP: no C++ compiler; the C++ checks did not run"
	echo "headers.sh: $passed passed, $failed failed"
	[ "$failed" -eq 0 ] || exit 1
	exit 77
fi

for h in $headers; do
	{
		printf '#include <afk/%s>\n\n' "$h"
		echo 'typedef void (*afk_any_fn)(void);'
		echo 'extern const afk_any_fn afk_fns[];'
		echo 'const afk_any_fn afk_fns[] = {'
		for f in $(functions "$top_srcdir/include/afk/$h"); do
			printf '    reinterpret_cast<afk_any_fn>(&%s),\n' "$f"
		done
		echo '    0'
		echo '};'
	} >"$tmp/t.cc"
	# shellcheck disable=SC2086
	if $CXX -x c++ -std=c++11 -pedantic -Werror -Wall -Wextra \
		-I"$top_srcdir/include" -c "$tmp/t.cc" -o "$tmp/t.o" >"$tmp/out" 2>&1; then
		ok "C++11: #include <afk/$h> compiles alone"
	else
		ko "C++11: #include <afk/$h> compiles alone"
	fi
done

# Link and run a C++ program against the library: proves extern "C".
{
	cat <<'EOF'
#include <afk/afk.h>
#include <cstdio>
#include <cstring>

typedef void (*afk_any_fn)(void);
static const afk_any_fn fns[] = {
EOF
	for h in $headers; do
		functions "$top_srcdir/include/afk/$h"
	done | sort -u | while read -r f; do
		printf '    reinterpret_cast<afk_any_fn>(&%s),\n' "$f"
	done
	cat <<'EOF'
};

int main(int argc, char **argv)
{
    const size_t n = sizeof(fns) / sizeof(fns[0]);

    (void)argv;
    if (fns[(size_t)argc % n] == 0)
        return 2;
    std::printf("libafk %s, %u functions\n", afk_version(), (unsigned)n);
    return std::strcmp(afk_version(), AFK_VERSION_STRING) != 0;
}
EOF
} >"$tmp/link.cc"

if [ ! -f "$top_builddir/lib/libafk.la" ] || [ ! -x "$libtool" ]; then
	echo "no $top_builddir/lib/libafk.la or $libtool: build first" >"$tmp/out"
	ko "C++: a program using every function links against libafk.la"
else
	# The sanitizer flags of an --enable-sanitizers build must reach the
	# link of a program using the instrumented library.
	# shellcheck disable=SC2086
	if (cd "$tmp" &&
		$CXX -x c++ -std=c++11 -pedantic -Werror -Wall -Wextra \
			${SAN_CFLAGS:-} -I"$top_srcdir/include" -c link.cc -o link.o &&
		"$libtool" --quiet --tag=CC --mode=link $CXX ${SAN_CFLAGS:-} \
			-o link link.o "$top_builddir/lib/libafk.la") >"$tmp/out" 2>&1; then
		ok "C++: a program using every function links against libafk.la"
		if (cd "$tmp" && "$libtool" --mode=execute ./link) >"$tmp/out" 2>&1; then
			ok "C++: the program runs ($(cat "$tmp/out"))"
		else
			ko "C++: the program runs"
		fi
	else
		ko "C++: a program using every function links against libafk.la"
	fi
fi

echo "headers.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
