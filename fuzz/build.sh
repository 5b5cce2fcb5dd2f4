#!/bin/sh
# fuzz/build.sh - builds the libFuzzer harnesses (see fuzz/README).
#
#     fuzz/build.sh [SRCDIR [OUTDIR]]     (make fuzz runs it)
#
# Each harness is a program made of fuzz/<name>.c, fuzz/script.c and the
# library's sources compiled straight into it (the shared library
# exports only the public API, and the harnesses call the internal
# decoders), all with clang -fsanitize=fuzzer,address,undefined.  The
# network adapters' calls of afk__http_run() are wrapped into the
# scripted HTTP layer of fuzz/script.c.  OUTDIR (default ./fuzz-build)
# gets the objects and the programs fuzz-<name>; only what changed is
# rebuilt.
set -eu

src=${1:-$(cd "$(dirname "$0")/.." && pwd)}
out=${2:-fuzz-build}
CLANG=${CLANG:-clang}

# The harnesses: also the names of their corpora, fuzz/corpus/<name>/.
targets=${FUZZ_TARGETS:-"checklist config jsonpos github forgejo t3 kubernetes
http_headers http_cache redact file ci usage"}

if [ "${1:-}" = --list ]; then
	echo $targets
	exit 0
fi

command -v "$CLANG" >/dev/null 2>&1 || {
	echo "fuzz/build.sh: $CLANG not found (apt-get install clang)" >&2
	exit 1
}
mkdir -p "$out/obj"
deps=$(pkg-config --cflags jansson libcurl)
libs=$(pkg-config --libs jansson libcurl)
cflags="-std=c11 -g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=all
-Wall -Wextra -Werror -Wno-unused-function -I$src/include -I$src/lib
-I$src/fuzz $deps"
san=address,undefined

# newer OUT IN...: 0 when OUT is missing or older than one of IN.
newer() {
	newer_out=$1
	shift
	[ -e "$newer_out" ] || return 0
	for newer_in in "$@"; do
		[ "$newer_in" -nt "$newer_out" ] && return 0
	done
	return 1
}

headers=$(ls "$src"/lib/*/*.h "$src"/include/afk/*.h "$src"/fuzz/fuzz.h)
objs=
for c in "$src"/lib/*/*.c "$src"/fuzz/script.c; do
	o=$out/obj/$(basename "$(dirname "$c")")_$(basename "$c" .c).o
	# shellcheck disable=SC2086 # lists of words
	if newer "$o" "$c" $headers; then
		echo "  CC      $o"
		$CLANG $cflags -fsanitize=fuzzer-no-link,$san -c "$c" -o "$o"
	fi
	objs="$objs $o"
done

for t in $targets; do
	o=$out/obj/fuzz_$t.o
	# One source for both forges.
	case $t in
	github) c=$src/fuzz/forge.c def= ;;
	forgejo) c=$src/fuzz/forge.c def=-DFUZZ_FORGEJO ;;
	*) c=$src/fuzz/$t.c def= ;;
	esac
	# shellcheck disable=SC2086
	if newer "$o" "$c" $headers; then
		echo "  CC      $o"
		$CLANG $cflags $def -fsanitize=fuzzer-no-link,$san -c "$c" -o "$o"
	fi
	# shellcheck disable=SC2086
	if newer "$out/fuzz-$t" "$o" $objs; then
		echo "  CCLD    $out/fuzz-$t"
		$CLANG -fsanitize=fuzzer,$san -o "$out/fuzz-$t" "$o" $objs \
			-Wl,--wrap=afk__http_run $libs
	fi
done
