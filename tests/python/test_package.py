"""The package as a whole: its version, its public names, its modules."""

import os
import re

import afk

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.join(HERE, os.pardir, os.pardir)


def test_version_is_the_release_of_configure_ac():
    with open(os.path.join(TOP, "configure.ac")) as f:
        m = re.search(r"AC_INIT\(\[libafk\], \[([0-9.]+)\]", f.read())
    assert m, "no AC_INIT version in configure.ac"
    assert afk.__version__ == m.group(1)
    assert "__version__" in afk.__all__


def test_every_public_name_is_exported_and_documented():
    for name in afk.__all__:
        obj = getattr(afk, name)  # AttributeError: listed, not there
        if isinstance(obj, type) or callable(obj):
            assert obj.__doc__, "afk.%s has no docstring" % name


def test_modules_by_concern():
    # One module per concern; the package re-exports what they define.
    from afk import config, errors, failures, issue, poller, watcher
    assert afk.Config is config.Config
    assert afk.Error is errors.Error
    assert afk.ListingFailure is failures.ListingFailure
    assert afk.Issue is issue.Issue
    assert afk.Poller is poller.Poller
    assert afk.Watcher is watcher.Watcher
    with open(afk.__file__) as f:
        assert len(f.read().splitlines()) < 300  # no longer the whole binding


def read_top(name):
    with open(os.path.join(TOP, name)) as f:
        return f.read()


def test_make_install_installs_every_module():
    # Makefile.am names the modules one by one: a module missing there
    # works in the source tree and is absent once installed.
    m = re.search(r"^AFK_PY_MODULES = ((?:.*\\\n)*.*)$",
                  read_top("Makefile.am"), re.M)
    assert m, "no AFK_PY_MODULES in Makefile.am"
    listed = {os.path.basename(w) for w in m.group(1).split()
              if w != "\\"}
    pkg = os.path.dirname(afk.__file__)
    present = {n for n in os.listdir(pkg)
               if n.endswith(".py") and n != "_paths.py"}
    assert listed == present


def test_pyproject_asks_the_python_configure_installs_for():
    m = re.search(r"AM_PATH_PYTHON\(\[([0-9.]+)\]", read_top("configure.ac"))
    assert m, "no AM_PATH_PYTHON in configure.ac"
    with open(os.path.join(TOP, "bindings", "python", "pyproject.toml")) as f:
        text = f.read()
    assert 'requires-python = ">=%s"' % m.group(1) in text
    # One version: pip reads afk/_version.py, held to configure.ac above.
    assert 'version = {attr = "afk._version.__version__"}' in text
    assert 'packages = ["afk"]' in text
