"""Loading libafk: AFK_LIBRARY wins, then the build tree next to the
package, then (a package make install installed) the library installed
beside it; a missing, foreign or too-old library is an ImportError naming
the path and the version found.  Each case imports afk in a fresh
interpreter."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import afk

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(
    afk.__file__)))


def run_import(env_changes, code="import afk; print(afk.library_path)",
               pythonpath=PACKAGE_DIR):
    env = dict(os.environ)
    env["PYTHONPATH"] = pythonpath
    for k, v in env_changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return subprocess.run([sys.executable, "-c", code], env=env,
                          capture_output=True, text=True, timeout=60)


def test_missing_library_raises_import_error_naming_the_path(tmp_path):
    missing = str(tmp_path / "nowhere" / "libafk.so.0")
    p = run_import({"AFK_LIBRARY": missing}, textwrap.dedent("""
        try:
            import afk
        except ImportError as e:
            print("ImportError:", e)
            print("path:", e.path)
        else:
            print("loaded", afk.library_path)
        """))
    assert p.returncode == 0, p.stderr
    assert "ImportError:" in p.stdout
    assert missing in p.stdout
    assert "AFK_LIBRARY" in p.stdout
    assert "path: " + missing in p.stdout


def test_library_path_is_reported():
    p = run_import({})
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == afk.library_path


def test_version_is_checked():
    assert tuple(int(x) for x in afk.library_version.split(".")) >= (1, 0, 0)


def compile_fake(tmp_path, source):
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler to build a fake library")
    src = tmp_path / "fake.c"
    src.write_text(source)
    so = tmp_path / "libfake.so"
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    # CC may carry flags ("gcc -std=gnu11"): let the shell split it.
    r = subprocess.run("%s -shared -fPIC -o '%s' '%s'" % (cc, so, src),
                       shell=True, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot build a fake library: " + r.stderr)
    return str(so)


IMPORT_AND_REPORT = textwrap.dedent("""
    try:
        import afk
    except ImportError as e:
        print("ImportError:", e)
    """)


def test_too_old_library_is_refused(tmp_path):
    so = compile_fake(tmp_path, 'const char *afk_version(void) '
                                '{ return "0.9.3"; }\n')
    p = run_import({"AFK_LIBRARY": so}, IMPORT_AND_REPORT)
    assert p.returncode == 0, p.stderr
    assert "ImportError:" in p.stdout
    assert so in p.stdout and "0.9.3" in p.stdout and "1.1.0" in p.stdout


def test_library_lacking_a_function_is_refused(tmp_path):
    so = compile_fake(tmp_path, 'const char *afk_version(void) '
                                '{ return "1.1.0"; }\n')
    p = run_import({"AFK_LIBRARY": so}, IMPORT_AND_REPORT)
    assert "ImportError:" in p.stdout, p.stderr
    assert so in p.stdout and "1.1.0" in p.stdout and "lacks" in p.stdout


def test_a_1_0_library_is_too_old(tmp_path):
    # 1.1 added afk_call_set_activity() and afk_call_set_usage(), which
    # the binding's snapshot uses.
    so = compile_fake(tmp_path, 'const char *afk_version(void) '
                                '{ return "1.0.0"; }\n')
    p = run_import({"AFK_LIBRARY": so}, IMPORT_AND_REPORT)
    assert "ImportError:" in p.stdout, p.stderr
    assert "'1.0.0'" in p.stdout and "1.1.0" in p.stdout


def test_foreign_library_is_refused(tmp_path):
    so = compile_fake(tmp_path, "int not_afk(void) { return 0; }\n")
    p = run_import({"AFK_LIBRARY": so}, IMPORT_AND_REPORT)
    assert "ImportError:" in p.stdout, p.stderr
    assert so in p.stdout and "not libafk" in p.stdout


def test_build_tree_next_to_the_package_is_found(tmp_path):
    # A source tree in miniature: bindings/python/afk and lib/.libs.
    pkg = tmp_path / "bindings" / "python"
    shutil.copytree(os.path.join(PACKAGE_DIR, "afk"), str(pkg / "afk"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    libs = tmp_path / "lib" / ".libs"
    libs.mkdir(parents=True)
    os.symlink(os.path.realpath(afk.library_path),
               str(libs / "libafk.so.0"))
    p = run_import({"AFK_LIBRARY": None}, pythonpath=str(pkg))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(libs / "libafk.so.0")
    # ... and AFK_LIBRARY still wins over it.
    missing = str(tmp_path / "missing.so")
    p = run_import({"AFK_LIBRARY": missing}, IMPORT_AND_REPORT,
                   pythonpath=str(pkg))
    assert missing in p.stdout


def installed_package(tmp_path, libdir):
    """The package as make install lays it out under tmp_path/prefix:
    afk/_paths.py names libdir.  Returns the directory to import from."""
    site = tmp_path / "prefix" / "lib" / "python3" / "dist-packages"
    shutil.copytree(os.path.join(PACKAGE_DIR, "afk"), str(site / "afk"),
                    ignore=shutil.ignore_patterns("__pycache__",
                                                  "_paths.py*"))
    (site / "afk" / "_paths.py").write_text(
        "LIBDIR = %r\n" % str(libdir))
    return str(site)


def test_installed_package_loads_the_library_installed_beside_it(tmp_path):
    # A libdir ld.so does not search: found by its path all the same.
    libdir = tmp_path / "prefix" / "lib"
    libdir.mkdir(parents=True)
    os.symlink(os.path.realpath(afk.library_path),
               str(libdir / "libafk.so.0"))
    site = installed_package(tmp_path, libdir)
    p = run_import({"AFK_LIBRARY": None}, pythonpath=site)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(libdir / "libafk.so.0")
    # ... and AFK_LIBRARY still wins over it.
    missing = str(tmp_path / "missing.so")
    p = run_import({"AFK_LIBRARY": missing}, IMPORT_AND_REPORT,
                   pythonpath=site)
    assert missing in p.stdout


def test_installed_package_without_its_library_asks_the_linker(tmp_path):
    # The library was uninstalled (or the package was copied elsewhere):
    # the libdir is passed over, and named when nothing else is found.
    libdir = tmp_path / "gone"
    site = installed_package(tmp_path, libdir)
    p = run_import({"AFK_LIBRARY": None}, IMPORT_AND_REPORT + textwrap.dedent(
        """
        else:
            print("loaded", afk.library_path)
        """), pythonpath=site)
    assert p.returncode == 0, p.stderr
    if p.stdout.startswith("ImportError:"):
        assert str(libdir / "libafk.so.0") in p.stdout
        assert 'find_library("afk") found nothing' in p.stdout
    else:
        assert str(libdir) not in p.stdout
