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
