#!/bin/sh
# tests/abi.sh - libafk's ABI against its committed baseline.
#
# abi/libafk.abi is abidw's description (abigail-tools) of the library's
# exported functions and the types they reach through the public headers.
# abidiff compares the library just built with it: any change - a symbol
# added or removed, a function's type, a public struct's layout - fails
# this test and prints abidiff's report, so that every change to the
# exported interface is deliberate and visible in review: when it is
# meant, `make abi-update` writes the new baseline, to commit with the
# change.
#
# Run by `make check` (AM_TESTS_ENVIRONMENT exports top_srcdir and
# top_builddir) or by hand:
#     top_builddir=/path/to/build sh tests/abi.sh
# Exit status: 0 the same ABI, 1 it changed, 99 it could not run.

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"

so=$top_builddir/lib/.libs/libafk.so
baseline=$top_srcdir/abi/libafk.abi

if ! command -v abidiff >/dev/null 2>&1; then
	echo "abi.sh: abidiff is missing (apt-get install abigail-tools)" >&2
	exit 99
fi
for f in "$so" "$baseline"; do
	if [ ! -f "$f" ]; then
		echo "abi.sh: $f is missing" >&2
		exit 99
	fi
done
if ! objdump -h "$so" | grep -q '\.debug_info'; then
	echo "abi.sh: $so has no debug information (build with -g, as" \
	     "configure does by default): abidiff would see symbols only" >&2
	exit 99
fi

abidiff --no-show-locs --headers-dir2 "$top_srcdir/include/afk" \
	"$baseline" "$so"
rc=$?
if [ "$rc" -eq 0 ]; then
	echo "abi.sh: the ABI is the baseline's ($baseline)"
	exit 0
fi
echo "abi.sh: abidiff exit status $rc: the ABI differs from $baseline." \
     "If the change is meant, run 'make abi-update' and commit the" \
     "baseline with it." >&2
exit 1
