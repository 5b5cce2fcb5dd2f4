#!/bin/sh
# tests/python.sh - runs the Python binding's pytest suite (tests/python)
# against the library just built.
#
# Run by `make check` (AM_TESTS_ENVIRONMENT exports top_srcdir,
# top_builddir, PYTHON3, CC and SAN_CFLAGS) or by hand:
#     top_builddir=/path/to/build sh tests/python.sh
# Exit status: 0 passed, 1 failed (also when no test was collected),
# 77 skipped (no Python with pytest), 99 it could not run.

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"

# Debian's python3 has pytest; the first python3 on PATH may not.
py=
for cand in "${PYTHON3:-}" /usr/bin/python3; do
	if test -n "$cand" && "$cand" -c 'import pytest' >/dev/null 2>&1; then
		py=$cand
		break
	fi
done
if test -z "$py"; then
	echo "SKIP: no python3 with pytest (tried ${PYTHON3:-} /usr/bin/python3)"
	exit 77
fi

lib=$top_builddir/lib/.libs/libafk.so.0
test -f "$lib" || lib=$top_builddir/lib/.libs/libafk.so
if test ! -f "$lib"; then
	echo "ERROR: no built library in $top_builddir/lib/.libs" >&2
	exit 99
fi
AFK_LIBRARY=$lib
PYTHONPATH=$top_srcdir/bindings/python${PYTHONPATH:+:$PYTHONPATH}
# Keep the source tree clean (make distcheck makes it read-only).
PYTHONDONTWRITEBYTECODE=1
export AFK_LIBRARY PYTHONPATH PYTHONDONTWRITEBYTECODE

# A library built with sanitizers needs their runtime loaded first, and
# the interpreter's own allocations are not ours to report as leaks.
if test -n "${SAN_CFLAGS:-}"; then
	asan=$(${CC:-gcc} -print-file-name=libasan.so 2>/dev/null)
	case $asan in
	/*) ;;
	*)
		echo "ERROR: cannot find libasan.so through ${CC:-gcc}" >&2
		exit 99
		;;
	esac
	LD_PRELOAD=$asan${LD_PRELOAD:+ $LD_PRELOAD}
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
	export LD_PRELOAD ASAN_OPTIONS
fi

echo "python: $py; library: $AFK_LIBRARY${LD_PRELOAD:+; LD_PRELOAD=$LD_PRELOAD}"
"$py" -m pytest -q -W error::pytest.PytestUnraisableExceptionWarning \
	-p no:cacheprovider "$top_srcdir/tests/python"
rc=$?
case $rc in
0) exit 0 ;;
5)
	echo "FAIL: pytest collected no test" >&2
	exit 1
	;;
1) exit 1 ;;
*)
	echo "ERROR: pytest exited with $rc" >&2
	exit 99
	;;
esac
