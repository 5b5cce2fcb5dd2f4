"""The package is typed: mypy --strict passes over it, a typed host
using its Protocols type-checks, and a host whose adapter does not fit a
Protocol is caught by the type checker."""

import os
import subprocess
import textwrap

import pytest

import afk

PKG = os.path.dirname(os.path.abspath(afk.__file__))
# Debian's python3-mypy (test.sh installs it) runs under the system
# interpreter.
PYTHON = "/usr/bin/python3"


def _mypy(*args, cwd=None):
    env = dict(os.environ, MYPYPATH=os.path.dirname(PKG))
    return subprocess.run(
        [PYTHON, "-m", "mypy", "--strict", "--no-error-summary",
         "--cache-dir", os.path.join(cwd or "/tmp", ".mypy_cache"), *args],
        capture_output=True, text=True, cwd=cwd, env=env)


def test_py_typed_marker_is_shipped():
    assert os.path.isfile(os.path.join(PKG, "py.typed"))


def test_the_package_passes_mypy_strict(tmp_path):
    r = _mypy("-p", "afk", cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr


HOST = '''
from typing import Iterable, Optional, Union
import afk

class Tracker:
    def list_ready(self, repos: list[str]
                   ) -> Iterable[Union[afk.Issue, afk.ListingFailure]]:
        return [afk.Issue(r, 1) for r in repos]
    def add_label(self, repo: str, issue: int, label: str) -> None:
        pass
    def remove_label(self, repo: str, issue: int, label: str) -> None:
        pass
    def close_issue(self, repo: str, issue: int) -> None:
        pass
    def find_comment(self, repo: str, issue: int, marker: str
                     ) -> Optional[str]:
        return None
    def upsert_comment(self, repo: str, issue: int, marker: str,
                       body: str) -> None:
        pass

class Agent:
    def dispatch(self, repo: str, issue: int, prompt: str) -> str:
        return "t-1"
    def snapshot(self, thread_id: str) -> dict[str, str]:
        return {"state": "running"}
    def send_turn(self, thread_id: str, prompt: str) -> None:
        pass

class CI:
    def status(self, repo: str, issue: int) -> None:
        return None

class Pager:
    def notify(self, repo: str, issue: int, message: str,
               link: Optional[str]) -> None:
        pass

cfg = afk.Config(kill_switch=False, allowlist=["acme/api"])
res: afk.Result = afk.Poller(Tracker(), Agent()).run_once(cfg)
for d in res.dispatched:
    n: int = d.issue.number
acts: afk.Actions = afk.Watcher(Tracker(), Agent(), CI(), Pager()).run_once(cfg)
for a in acts:
    r: str = a.repo
w = afk.Watcher.from_config(cfg, notifier=Pager())
online: dict[str, Optional[str]] = w.check_online()
'''


def test_a_typed_host_type_checks(tmp_path):
    (tmp_path / "host.py").write_text(textwrap.dedent(HOST))
    r = _mypy("host.py", cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("bad, expect", [
    # dispatch must return the thread id, a str
    (("    def dispatch(self, repo: str, issue: int, prompt: str) -> str:\n"
      '        return "t-1"',
      "    def dispatch(self, repo: str, issue: int, prompt: str) -> int:\n"
      "        return 1"), 'argument 2 to "Poller"'),
    # a tracker without add_label is not a tracker
    (("    def add_label(self, repo: str, issue: int, label: str) -> None:\n"
      "        pass\n", ""), 'argument 1 to "Poller"'),
    # notify takes the link too
    (("    def notify(self, repo: str, issue: int, message: str,\n"
      "               link: Optional[str]) -> None:",
      "    def notify(self, repo: str, issue: int, message: str) -> None:"),
     'argument 4 to "Watcher"'),
])
def test_a_host_that_does_not_fit_is_caught(tmp_path, bad, expect):
    old, new = bad
    text = textwrap.dedent(HOST)
    assert old in text
    (tmp_path / "host.py").write_text(text.replace(old, new, 1))
    r = _mypy("host.py", cwd=str(tmp_path))
    assert r.returncode != 0
    assert expect.lower() in r.stdout.lower(), r.stdout + r.stderr


def test_a_dispatch_taking_the_generation_fits(tmp_path):
    old = ("    def dispatch(self, repo: str, issue: int, prompt: str) -> str:\n"
           '        return "t-1"')
    new = ("    def dispatch(self, repo: str, issue: int, prompt: str,\n"
           "                 generation: int = 1) -> str:\n"
           '        return "t-%d" % generation')
    text = textwrap.dedent(HOST)
    assert old in text
    (tmp_path / "host.py").write_text(text.replace(old, new, 1))
    r = _mypy("host.py", cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
