#!/bin/sh
# tests/exports.sh - proves libafk's export discipline mechanically.
#
# The shared library, the version script, the public headers and the man
# pages must agree exactly:
#
#   1. the symbols libafk.so exports     == the globals of lib/libafk.map
#   2. the globals of lib/libafk.map     == the AFK_EXTERN declarations
#                                           of include/afk/*.h
#   3. every symbol has man/<symbol>.3, installed (man/Makefile.inc), that
#      is or redirects (.so) to a page naming the symbol and carrying its
#      exact prototype; every man/afk_*.3 names a real symbol; every man3
#      page formats without a groff warning
#   4. every exported symbol carries its version node (sym@@LIBAFK_1.0)
#
# Run by `make check` (AM_TESTS_ENVIRONMENT exports top_srcdir,
# top_builddir and NM) or by hand from anywhere:
#     top_builddir=/path/to/build sh tests/exports.sh
# Exit status: 0 all checks passed, 1 any failed, 99 it could not run.

LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${NM:=nm}"
: "${OBJDUMP:=objdump}"

so=$top_builddir/lib/.libs/libafk.so
map=$top_srcdir/lib/libafk.map
mandir=$top_srcdir/man
manlist=$mandir/Makefile.inc

for f in "$so" "$map" "$manlist"; do
	if [ ! -f "$f" ]; then
		echo "exports.sh: $f is missing (build the library first)" >&2
		exit 99
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/afk-exports.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 99' HUP INT TERM

passed=0
failed=0

# pass|fail NAME [DETAILS-FILE]: records the outcome of one check.
pass() {
	passed=$((passed + 1))
	echo "PASS: $1"
}
fail() {
	failed=$((failed + 1))
	echo "FAIL: $1"
	if [ -n "${2:-}" ] && [ -s "$2" ]; then
		sed 's/^/    /' "$2"
	fi
}

# difference A B LABEL-A LABEL-B: prints what is in one sorted list only.
difference() {
	comm -23 "$1" "$2" | sed "s/^/only in $3: /"
	comm -13 "$1" "$2" | sed "s/^/only in $4: /"
}

# --- what each source says -------------------------------------------------

# The version script: "symbol node" for every global, in any node:
#     NODE { global: a; b; local: *; } [PARENT];
# The script is joined into one line, its comments dropped, and cut at "}".
sed 's|#.*||' "$map" | tr '\n\t' '  ' |
	sed -E 's#/\*([^*]|\*+[^*/])*\*+/# #g' | awk '
	{
		n = split($0, chunk, "}")
		for (c = 1; c <= n; c++) {
			i = index(chunk[c], "{")
			if (i == 0) continue
			head = substr(chunk[c], 1, i - 1)
			m = split(head, w, /[ ;]+/); node = ""
			for (k = m; k >= 1 && node == ""; k--) node = w[k]
			nst = split(substr(chunk[c], i + 1), st, ";")
			mode = ""
			for (k = 1; k <= nst; k++) {
				t = st[k]
				if (t ~ /^ *global *:/) { mode = "global"; sub(/^ *global *:/, "", t) }
				if (t ~ /^ *local *:/) { mode = "local"; sub(/^ *local *:/, "", t) }
				gsub(/ /, "", t)
				if (mode == "global" && t != "") print t " " node
			}
		}
	}' | sort -u >"$tmp/map.nodes"
cut -d' ' -f1 "$tmp/map.nodes" | sort -u >"$tmp/map.syms"
cut -d' ' -f2 "$tmp/map.nodes" | sort -u >"$tmp/map.versions"

# The headers: one line per AFK_EXTERN declaration, "name<TAB>prototype",
# the prototype with AFK_EXTERN dropped and white space collapsed; and
# every typedef statement, for the synopsis check.  Comments and
# preprocessor lines (with their continuations) are dropped first.
cat "$top_srcdir"/include/afk/*.h | awk '
	BEGIN { incomment = 0; cont = 0 }
	{
		line = $0
		if (cont) { cont = (line ~ /\\$/); next }
		out = ""
		while (line != "") {
			if (incomment) {
				i = index(line, "*/")
				if (i == 0) { line = ""; break }
				line = substr(line, i + 2); incomment = 0
			} else {
				i = index(line, "/*"); j = index(line, "//")
				if (j > 0 && (i == 0 || j < i)) { out = out substr(line, 1, j - 1); line = ""; break }
				if (i == 0) { out = out line; line = ""; break }
				out = out substr(line, 1, i - 1) " "
				line = substr(line, i + 2); incomment = 1
			}
		}
		if (out ~ /^[ \t]*#/) { cont = (out ~ /\\$/); next }
		# The C++ guards: extern "C" { ... } on lines of their own.
		if (out ~ /^[ \t]*(extern[ \t]*"C"[ \t]*\{|\})[ \t]*$/) next
		printf "%s ", out
	}' | tr ';' '\n' | sed -e 's/[[:space:]][[:space:]]*/ /g' \
	-e 's/^ //' -e 's/ $//' -e 's/( /(/g' -e 's/ )/)/g' >"$tmp/statements"
grep '^typedef ' "$tmp/statements" | sort -u >"$tmp/typedefs"
grep -E '(^| )AFK_EXTERN( |$)' "$tmp/statements" |
	sed -e 's/AFK_EXTERN //' | awk '
	{
		proto = $0
		# A function: the first identifier followed by "(" that is not
		# a compiler keyword (__attribute__ and the like).
		rest = proto; name = ""
		while (match(rest, /[A-Za-z_][A-Za-z0-9_]*[ ]*\(/)) {
			id = substr(rest, RSTART, RLENGTH)
			sub(/[ ]*\($/, "", id)
			if (id !~ /^__/) { name = id; break }
			rest = substr(rest, RSTART + RLENGTH)
		}
		if (name == "") {
			# Data: the last identifier before "[" or "=".
			d = proto; sub(/[[=].*/, "", d)
			n = split(d, w, /[^A-Za-z0-9_]+/)
			for (i = n; i >= 1; i--) if (w[i] != "") { name = w[i]; break }
		}
		print name "\t" proto ";"
	}' | sort -u >"$tmp/decls"
cut -f1 "$tmp/decls" | sort -u >"$tmp/hdr.syms"

# The library: every defined dynamic symbol, as "name type version".
# nm of binutils >= 2.35 shows the version as name@@NODE; objdump -T is
# read as well so that an older nm still gets the versions checked.
# shellcheck disable=SC2086 # NM may hold options ("nm -B").
if ! $NM -D --defined-only "$so" >"$tmp/nm.out" 2>"$tmp/nm.err"; then
	echo "exports.sh: $NM -D failed:" >&2
	cat "$tmp/nm.err" >&2
	exit 99
fi
awk 'NF >= 2 {
	sym = $NF; type = $(NF - 1); ver = ""
	if ((i = index(sym, "@")) > 0) { ver = substr(sym, i); sym = substr(sym, 1, i - 1) }
	print sym " " type " " ver
}' "$tmp/nm.out" >"$tmp/dyn.all"
# Not exports: the version nodes themselves (type A, named like a node of
# the map) and the linker's own symbols, should a version script ever
# stop hiding them.
awk -v nodes="$(tr '\n' ' ' <"$tmp/map.versions")" '
	BEGIN { n = split(nodes, v, " "); for (i = 1; i <= n; i++) isnode[v[i]] = 1 }
	$2 == "A" && ($1 in isnode) { next }
	$1 ~ /^(_init|_fini|_edata|_end|__bss_start|_DYNAMIC|_GLOBAL_OFFSET_TABLE_)$/ { next }
	{ print }
' "$tmp/dyn.all" >"$tmp/dyn"
cut -d' ' -f1 "$tmp/dyn" | sort -u >"$tmp/dyn.syms"

echo "exports.sh: $(wc -l <"$tmp/dyn.syms") exported, $(wc -l <"$tmp/map.syms") in the map, $(wc -l <"$tmp/hdr.syms") AFK_EXTERN in the headers"

# --- 1. exports == map -----------------------------------------------------

if [ ! -s "$tmp/map.syms" ]; then
	echo "no global symbol found in $map" >"$tmp/d"
	fail "1. the version script lists the exports" "$tmp/d"
else
	difference "$tmp/dyn.syms" "$tmp/map.syms" "libafk.so" "libafk.map" >"$tmp/d"
	if [ -s "$tmp/d" ]; then
		fail "1. libafk.so exports exactly the globals of libafk.map" "$tmp/d"
	else
		pass "1. libafk.so exports exactly the globals of libafk.map"
	fi
fi
# Only functions and data may be exported (no absolute or weak surprises).
awk '$2 !~ /^[TDBR]$/ { print $1 " has type " $2 }' "$tmp/dyn" >"$tmp/d"
if [ -s "$tmp/d" ]; then
	fail "1. every export is a function or data symbol (T/D/B/R)" "$tmp/d"
else
	pass "1. every export is a function or data symbol (T/D/B/R)"
fi

# --- 2. map == AFK_EXTERN declarations -------------------------------------

comm -23 "$tmp/map.syms" "$tmp/hdr.syms" |
	sed 's/$/ is in libafk.map but declared AFK_EXTERN in no header/' >"$tmp/d"
if [ -s "$tmp/d" ]; then
	fail "2. every map symbol is declared AFK_EXTERN in include/afk/" "$tmp/d"
else
	pass "2. every map symbol is declared AFK_EXTERN in include/afk/"
fi
comm -13 "$tmp/map.syms" "$tmp/hdr.syms" |
	sed 's/$/ is declared AFK_EXTERN but missing from libafk.map/' >"$tmp/d"
if [ -s "$tmp/d" ]; then
	fail "2. every AFK_EXTERN declaration is in the map" "$tmp/d"
else
	pass "2. every AFK_EXTERN declaration is in the map"
fi

# --- 3. man pages ----------------------------------------------------------

# The symbols: the union of what is exported, mapped and declared, so a
# symbol missing from one of them still needs its page.
sort -u "$tmp/dyn.syms" "$tmp/map.syms" "$tmp/hdr.syms" >"$tmp/syms"

# target PAGE: prints the page a .so redirect points at ("" if none).
target() {
	sed -n '1s/^\.so[ \t][ \t]*\([^ \t]*\).*/\1/p' "$1"
}
# names PAGE: the names of a page's NAME section, one a line.
names() {
	awk '/^\.SH/ { on = ($2 == "NAME" || $2 == "\"NAME\""); next }
		on { print }' "$1" | sed -e 's/\\-.*//' -e 's/\\f[BIRP]//g' |
		tr -s ', ' '\n' | sed '/^$/d'
}
# synopsis PAGE: the C statements of a page's SYNOPSIS, normalized as
# the header statements are; control lines and #-lines are not C.
synopsis() {
	awk '/^\.SH/ { on = ($2 == "SYNOPSIS"); next }
		on && !/^\./ && !/^#/ { print }
		END { print ";" }' "$1" |
		sed -e 's/\\-/-/g' -e 's/\\e/\\/g' -e 's/\\(dq/"/g' \
			-e 's/\\f[BIRP]//g' -e 's/\\&//g' -e 's|/\*[^*]*\*/||g' |
		tr '\n;' ' \n' |
		sed -e 's/[[:space:]][[:space:]]*/ /g' -e 's/^ //' -e 's/ $//' \
			-e 's/( /(/g' -e 's/ )/)/g' | sed '/^$/d'
}

: >"$tmp/d"
while read -r sym; do
	[ -f "$mandir/$sym.3" ] || echo "$sym: no man/$sym.3"
done <"$tmp/syms" >"$tmp/d"
if [ -s "$tmp/d" ]; then
	fail "3. every symbol has a man page man/<symbol>.3" "$tmp/d"
else
	pass "3. every symbol has a man page man/<symbol>.3"
fi

while read -r sym; do
	grep -q "^[[:space:]]*man/$sym\.3\([[:space:]]\|\\\\\|\$\)" "$manlist" ||
		echo "man/$sym.3 is not listed in man/Makefile.inc (not installed)"
done <"$tmp/syms" >"$tmp/d"
if [ -s "$tmp/d" ]; then
	fail "3. every symbol's page is installed (man/Makefile.inc)" "$tmp/d"
else
	pass "3. every symbol's page is installed (man/Makefile.inc)"
fi

# Each symbol's page is either a full page naming it, or a one-line
# redirect, in the installed form ".so man3/GROUP.3", to such a page; and
# that page's SYNOPSIS carries the header's prototype exactly.
while read -r sym; do
	page=$mandir/$sym.3
	[ -f "$page" ] || continue
	to=$(target "$page")
	if [ -n "$to" ]; then
		case $to in
		man3/*.3) ;;
		*) echo "man/$sym.3: .so $to is not of the installed form man3/PAGE.3"; continue ;;
		esac
		if [ "$(grep -c . "$page")" -ne 1 ]; then
			echo "man/$sym.3: a redirect must be the one .so line"
		fi
		page=$mandir/${to#man3/}
		if [ ! -f "$page" ]; then
			echo "man/$sym.3: .so $to: no such page man/${to#man3/}"
			continue
		fi
		if [ -n "$(target "$page")" ]; then
			echo "man/$sym.3: .so $to is itself a redirect"
			continue
		fi
	fi
	names "$page" | grep -qx "$sym" ||
		echo "$sym: not in the NAME section of man/${page##*/}"
	proto=$(awk -F '\t' -v s="$sym" '$1 == s { print $2 }' "$tmp/decls" | sed 's/;$//')
	if [ -n "$proto" ] && ! synopsis "$page" | grep -qxF "$proto"; then
		echo "$sym: SYNOPSIS of man/${page##*/} lacks the prototype: $proto;"
	fi
done <"$tmp/syms" >"$tmp/d"
if [ -s "$tmp/d" ]; then
	fail "3. every page names its symbol with the header's exact prototype" "$tmp/d"
else
	pass "3. every page names its symbol with the header's exact prototype"
fi

# Every typedef of the headers (handles, callbacks) is in some synopsis.
for page in "$mandir"/afk*.3; do
	[ -n "$(target "$page")" ] || synopsis "$page"
done | sort -u >"$tmp/synopses"
comm -23 "$tmp/typedefs" "$tmp/synopses" |
	sed 's/^/no SYNOPSIS shows: /' >"$tmp/d"
if [ -s "$tmp/d" ]; then
	fail "3. every public typedef is shown in a man page" "$tmp/d"
else
	pass "3. every public typedef is shown in a man page"
fi

# Every man/afk_*.3 is named after a real symbol: a redirect for no
# symbol, or a stray page, is documentation of nothing.
for page in "$mandir"/afk_*.3; do
	[ -f "$page" ] || continue
	base=${page##*/}
	base=${base%.3}
	grep -qx "$base" "$tmp/syms" && continue
	if [ -n "$(target "$page")" ]; then
		echo "man/$base.3 redirects for $base, which is no symbol"
	elif ! names "$page" | grep -qxF -f "$tmp/syms"; then
		echo "man/$base.3 is no symbol and, as a group page, names none"
	fi
done >"$tmp/d"
if [ -s "$tmp/d" ]; then
	fail "3. every man/afk_*.3 names a real symbol" "$tmp/d"
else
	pass "3. every man/afk_*.3 names a real symbol"
fi

# The full man3 pages format without a warning.
if command -v groff >/dev/null 2>&1; then
	for page in "$mandir"/*.3; do
		[ -n "$(target "$page")" ] && continue
		[ -s "$page" ] || { echo "man/${page##*/} is empty"; continue; }
		groff -man -ww -z "$page" 2>&1 | sed "s|^|man/${page##*/}: |"
	done >"$tmp/d"
	if [ -s "$tmp/d" ]; then
		fail "3. every man3 page formats cleanly (groff -man -ww)" "$tmp/d"
	else
		pass "3. every man3 page formats cleanly (groff -man -ww)"
	fi
else
	echo "SKIP: 3. man3 pages format cleanly (no groff)"
fi

# --- 4. version nodes ------------------------------------------------------

# The version of each export: nm's @@NODE when it prints one, else the
# version column of objdump -T ("(NODE)" there is a hidden version).
if grep -q '@' "$tmp/nm.out"; then
	awk '{ v = $3; sub(/^@@/, "", v); if ($3 !~ /^@@/) v = "not-default:" $3; print $1 " " v }' \
		"$tmp/dyn" | sort -u >"$tmp/dyn.nodes"
elif command -v "$OBJDUMP" >/dev/null 2>&1; then
	"$OBJDUMP" -T "$so" | awk '$4 != "*UND*" && NF >= 7 { print $NF " " $(NF - 1) }' |
		sort -u >"$tmp/dyn.nodes"
else
	: >"$tmp/dyn.nodes"
fi
while read -r sym; do
	want=$(awk -v s="$sym" '$1 == s { print $2 }' "$tmp/map.nodes")
	got=$(awk -v s="$sym" '$1 == s { print $2 }' "$tmp/dyn.nodes")
	if [ -z "$want" ]; then
		echo "$sym: in no node of the map"
	elif [ "$got" != "$want" ]; then
		echo "$sym: version '${got:-none}', want $sym@@$want"
	fi
done <"$tmp/dyn.syms" >"$tmp/d"
if [ ! -s "$tmp/dyn.syms" ]; then
	echo "libafk.so exports nothing" >"$tmp/d"
fi
if [ -s "$tmp/d" ]; then
	fail "4. every export carries its version node (sym@@NODE)" "$tmp/d"
else
	pass "4. every export carries its version node (sym@@NODE)"
fi

echo "exports.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
