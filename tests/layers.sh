#!/bin/sh
# tests/layers.sh - the arrows between lib/'s layers point one way.
#
# Every layer may include the public headers (afk/).
#
#   core/     pure: the configuration, the policy, the lifecycle, the
#             adapter handles.  Includes only core/.
#   net/      the HTTP layer, redaction, secrets.  Includes core/ and net/.
#   tick/     the poll and the watch.  Includes core/ and tick/.
#   builtin/  the built-in adapters and their registry.  Includes core/,
#             net/ and builtin/ - never tick/.
#
# So no core knows a tick or the network, the network knows no
# configuration handle and no built-in, and no two layers include each
# other.  Also: only net/ includes <curl/curl.h>, and only
# builtin/registry.c names the built-ins' afk__builtin objects.
#
# Run by `make check` or by hand: sh tests/layers.sh
# Exit status: 0 pass, 1 fail.

LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/.." && pwd)}"
lib=$top_srcdir/lib
fail=0

allowed() {
	case $1 in
	core) echo "afk core" ;;
	net) echo "afk core net" ;;
	tick) echo "afk core tick" ;;
	builtin) echo "afk core net builtin" ;;
	*) echo "" ;;
	esac
}

checked=0
for dir in "$lib"/*/; do
	layer=$(basename "$dir")
	ok=$(allowed "$layer")
	if [ -z "$ok" ]; then
		echo "FAIL: lib/$layer/ is no known layer (tests/layers.sh)"
		fail=1
		continue
	fi
	for f in "$dir"*.c "$dir"*.h; do
		[ -f "$f" ] || continue
		checked=$((checked + 1))
		# '#include "layer/file.h"': the layer of every include.
		for inc in $(sed -n 's/^[ 	]*#[ 	]*include[ 	]*"\([a-z]*\)\/[^"]*".*/\1/p' "$f"); do
			case " $ok " in
			*" $inc "*) ;;
			*)
				echo "FAIL: lib/$layer/$(basename "$f") includes" \
				     "$inc/: lib/$layer/ may include only: $ok"
				fail=1
				;;
			esac
		done
		if [ "$layer" != net ] && grep -q '#[ 	]*include[ 	]*<curl/' "$f"; then
			echo "FAIL: lib/$layer/$(basename "$f") includes curl: only net/ may"
			fail=1
		fi
	done
done
if [ "$checked" -lt 20 ]; then
	echo "FAIL: only $checked files found under $lib: wrong top_srcdir?"
	exit 1
fi

# The built-ins' objects are named in the registry alone: a tick or a
# core that named one would select a kind by hand again.
names=$(grep -l 'afk__builtin_[a-z_]*\b' "$lib"/core/* "$lib"/tick/* "$lib"/net/* 2>/dev/null)
if [ -n "$names" ]; then
	echo "FAIL: outside lib/builtin/, these name a built-in: $names"
	fail=1
fi
rows=$(grep -c '^	X(afk__builtin_' "$lib/builtin/registry.c")
defs=$(cat "$lib"/builtin/*.c | grep -c '^const afk__builtin afk__builtin_')
if [ "$rows" -ne "$defs" ]; then
	echo "FAIL: $defs built-ins are defined but registry.c lists $rows"
	fail=1
fi

[ "$fail" -eq 0 ] && echo "PASS: $checked files, $rows built-ins, every include points down"
exit "$fail"
