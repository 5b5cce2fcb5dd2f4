#!/bin/sh
# tests/install_python.sh - the two ways the Python binding is installed,
# done for real, each followed by `import afk` in a clean environment:
#
#   make install   into the build's prefix (/usr/local by default), for
#                  the interpreter configure chose (the system's python3);
#                  the package loads the library installed beside it;
#   pip install    bindings/python into a virtual environment (made with
#                  --system-site-packages: there is no index to download
#                  setuptools from, so pip builds with Debian's); that
#                  package carries no library and finds the installed one
#                  through the dynamic linker (ldconfig);
#   make install prefix=DIR, a prefix neither ld.so nor python knows: the
#                  package (on PYTHONPATH) still loads DIR/lib's library.
#
#     tests/install_python.sh BUILDDIR
#
# BUILDDIR is a configured and built tree (test.sh: build/test-plain).
# It installs into that tree's prefix and runs ldconfig, so it needs root
# or sudo; the trap uninstalls again whatever happens, and the last case
# checks that make uninstall left no file behind.  Needs python3-venv and
# python3-setuptools.  It writes nothing in the source tree (pip builds a
# copy of bindings/python).
#
# Prints "cases: N" first, then "PASS: what" or "FAIL: what" for each
# case (test.sh counts them; a case that never ran is one missing PASS).
# Exit status: 0 all passed, 1 a case failed, 77 skipped (configured
# without Python: PYTHON=:), 99 it could not run.

# The cases are functions run through check(), which shellcheck cannot see.
# shellcheck disable=SC2317

if [ $# -ne 1 ] || [ ! -f "$1/Makefile" ]; then
	echo "usage: $0 BUILDDIR (a configured and built tree)" >&2
	exit 99
fi
b=$(cd "$1" && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/afk-pyinst.XXXXXX") || exit 99
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
# $tmp/installed exists while make install may have left files behind.
cleanup() {
	if [ -e "$tmp/installed" ]; then
		$sudo make -s -C "$b" uninstall >/dev/null 2>&1
		$sudo ldconfig 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 99' HUP INT TERM

# var NAME: a variable of the build's Makefile, expanded (the Makefile
# brought up to date first: a remade one would talk in the middle).
make -s -C "$b" Makefile >/dev/null 2>&1 || exit 99
# var NAME: a variable of the build's Makefile, expanded.
# shellcheck disable=SC2016 # $($*) is make's.
printf 'afk-print-%%:\n\t@echo $($*)\n' >"$tmp/print.mk"
# var NAME [VAR=VALUE...]: the same, with those make variables set.
var() {
	name=$1
	shift
	make -s --no-print-directory -C "$b" -f Makefile -f "$tmp/print.mk" \
		"$@" "afk-print-$name"
}

py=$(var PYTHON)
if [ "$py" = : ] || [ -z "$py" ]; then
	echo "SKIP: $b was configured without Python (PYTHON=$py)"
	exit 77
fi
srcdir=$(var abs_top_srcdir)
prefix=$(var prefix)
libdir=$(var libdir)
pythondir=$(var pythondir)
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' \
	"$srcdir/bindings/python/afk/_version.py")
echo "python: $py; prefix: $prefix; libdir: $libdir; pythondir: $pythondir"
[ -n "$version" ] || { echo "no __version__ in afk/_version.py" >&2; exit 99; }

echo "cases: 6"
failed=0
# check WHAT FUNCTION: runs one case with errexit on, in a subshell that
# is neither an `if` condition nor part of an && or || list: there sh
# would turn errexit off.
check() {
	(set -e; "$2")
	rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "PASS: $1"
	else
		echo "FAIL: $1"
		failed=1
	fi
}

# A clean environment, from outside the source tree: no PYTHONPATH, no
# AFK_LIBRARY, nothing the shell had.  Prints the package's file, the
# library's path as the binding chose it, the file ld.so mapped for it,
# and the version.
probe() {
	(cd "$tmp" && env -i PATH=/usr/bin:/bin "$@" -c '
import afk
cfg = afk.Config()
assert not cfg.armed
mapped = sorted({l.split()[-1] for l in open("/proc/self/maps")
                 if "/libafk.so" in l})
print(afk.__file__)
print(afk.library_path)
print(" ".join(mapped))
print(afk.__version__)
') >"$tmp/probe" || return 1
	cat "$tmp/probe"
}

# One line of probe's output.
line() {
	sed -n "$1p" "$tmp/probe"
}

# same WHAT GOT WANT: fails, saying so, unless GOT is WANT.
same() {
	[ "$2" = "$3" ] && return 0
	echo "$1: got '$2', want '$3'" >&2
	return 1
}

# mapped_from_libdir: probe's ld.so saw libafk in $libdir.
mapped_from_libdir() {
	case $(line 3) in
	"$libdir"/libafk.so.*) return 0 ;;
	esac
	echo "libafk mapped from '$(line 3)', not from $libdir" >&2
	return 1
}

# The files under the prefix (not directories: make uninstall leaves
# those, as automake does everywhere).
files_under_prefix() {
	find "$prefix" ! -type d 2>/dev/null | LC_ALL=C sort
}

case_make_install() {
	files_under_prefix >"$tmp/before"
	: >"$tmp/installed"
	$sudo make -s -C "$b" install >"$tmp/install.log" 2>&1 ||
		{ cat "$tmp/install.log"; return 1; }
	probe "$py"
	# The installed package (not one from a source tree) ...
	same afk.__file__ "$(line 1)" "$pythondir/afk/__init__.py"
	# ... which loaded the library it was installed with, by its path:
	# no ldconfig has run yet.
	same afk.library_path "$(line 2)" "$libdir/libafk.so.0"
	mapped_from_libdir
	same afk.__version__ "$(line 4)" "$version"
	# A typed package (PEP 561).
	[ -f "$pythondir/afk/py.typed" ] ||
		{ echo "no $pythondir/afk/py.typed" >&2; return 1; }
}

# The wheel pip builds holds the package and no C library.
case_wheel() {
	rm -rf "$tmp/src"
	cp -R "$srcdir/bindings/python" "$tmp/src"
	rm -rf "$tmp/src/build" "$tmp/src"/*.egg-info "$tmp/src/afk/_paths.py"
	"$py" -m venv --system-site-packages "$tmp/venv"
	"$tmp/venv/bin/python" -m pip wheel -q --no-index --no-deps \
		--no-build-isolation -w "$tmp/wheel" "$tmp/src"
	"$py" - "$tmp/wheel/afk-$version-"*.whl <<'EOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
print("\n".join(names))
assert "afk/__init__.py" in names and "afk/_native.py" in names
assert "afk/py.typed" in names, "no py.typed: the package is typed"
assert not [n for n in names if ".so" in n or n.endswith("_paths.py")]
EOF
}

# pip install into the virtual environment; its package is the one
# imported there (before the one make install put in the system's site
# directory), and it finds the installed library through ld.so.
case_pip_install() {
	$sudo ldconfig
	"$tmp/venv/bin/python" -m pip install -q --no-index \
		--no-build-isolation "$tmp/src"
	probe "$tmp/venv/bin/python"
	case $(line 1) in
	"$tmp/venv/"*/site-packages/afk/__init__.py) ;;
	*) echo "imported $(line 1), not the venv's" >&2; return 1 ;;
	esac
	# Found by ctypes.util.find_library("afk"): a soname, not a path.
	same afk.library_path "$(line 2)" libafk.so.0
	mapped_from_libdir
	same afk.__version__ "$(line 4)" "$version"
}

case_pip_uninstall() {
	"$tmp/venv/bin/python" -m pip uninstall -q -y afk
	if ls -d "$tmp/venv"/lib/python*/site-packages/afk* 2>/dev/null; then
		echo "left in the venv" >&2
		return 1
	fi
}

case_make_uninstall() {
	$sudo make -s -C "$b" uninstall >"$tmp/uninstall.log" 2>&1 ||
		{ cat "$tmp/uninstall.log"; return 1; }
	rm -f "$tmp/installed"
	$sudo ldconfig
	files_under_prefix >"$tmp/after"
	diff "$tmp/before" "$tmp/after"
	# The package is gone, not left as an empty namespace package.
	if [ -e "$pythondir/afk" ]; then
		echo "$pythondir/afk is left" >&2
		return 1
	fi
	if (cd "$tmp" && env -i PATH=/usr/bin:/bin "$py" -c 'import afk' \
		2>/dev/null); then
		echo "afk still imports after make uninstall" >&2
		return 1
	fi
}

# A prefix neither ld.so nor python knows, given to make install (not
# configure): the package, imported through PYTHONPATH, loads the library
# installed beside it.  Last: it leaves the build's afk/_paths.py naming
# that prefix's libdir until the next make remakes it.
case_other_prefix() {
	other=$tmp/other
	opydir=$(var pythondir prefix="$other")
	[ "$opydir" != "$pythondir" ]
	$sudo make -s -C "$b" install prefix="$other" >"$tmp/install.log" 2>&1 ||
		{ cat "$tmp/install.log"; return 1; }
	probe PYTHONPATH="$opydir" "$py"
	same afk.__file__ "$(line 1)" "$opydir/afk/__init__.py"
	same afk.library_path "$(line 2)" "$other/lib/libafk.so.0"
	case $(line 3) in
	"$other"/lib/libafk.so.*) ;;
	*) echo "libafk mapped from '$(line 3)'" >&2; return 1 ;;
	esac
	$sudo make -s -C "$b" uninstall prefix="$other" >/dev/null 2>&1
	$sudo make -s -C "$b" >/dev/null 2>&1
}

check "make install: env -i $py imports afk, which loads $libdir/libafk.so.0" \
	case_make_install
check "pip wheel bindings/python: the package and py.typed, no C library" case_wheel
check "pip install bindings/python in a venv: afk loads the installed libafk" \
	case_pip_install
check "pip uninstall afk removes the venv's package" case_pip_uninstall
check "make uninstall leaves no file under $prefix, and afk no longer imports" \
	case_make_uninstall
check "make install prefix=DIR (ld.so does not search it): afk loads DIR/lib/libafk.so.0" \
	case_other_prefix
exit $failed
