"""Fixtures of the Python binding's tests: an in-memory tracker and agent
that record every call, like tests/fakes.c does for the C suites.

Run through tests/python.sh (make check), which points AFK_LIBRARY at the
built library and PYTHONPATH at bindings/python; by hand:

    AFK_LIBRARY=build/lib/.libs/libafk.so.0 PYTHONPATH=bindings/python \
        /usr/bin/python3 -m pytest -q tests/python
"""

import logging
import os
import sys

import pytest

if not os.environ.get("AFK_LIBRARY"):
    # By hand from a source tree built in place: the package finds the
    # library next to itself.  Make the package importable at least.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, os.pardir, os.pardir, "bindings",
                                    "python"))

import afk  # noqa: E402


class Event:
    """One call an adapter received: kind is 'L' (list_ready), 'A'
    (add_label) or 'D' (dispatch)."""

    def __init__(self, kind, repo=None, number=None, label=None,
                 prompt=None, repos=None):
        self.kind = kind
        self.repo = repo
        self.number = number
        self.label = label
        self.prompt = prompt
        self.repos = repos

    def __repr__(self):
        return "Event(%r, %r, %r)" % (self.kind, self.repo, self.number)


class World:
    """A tracker and an agent over one list of ready issues and one log.

    Failures on demand: list_exc is raised by list_ready; dispatch_exc by
    the dispatch_fail_at-th dispatch (1-based), label_exc by the
    label_fail_at-th add_label.  thread_of(repo, number) makes the ids."""

    def __init__(self):
        self.issues = []
        self.events = []
        self.list_calls = 0
        self.label_calls = 0
        self.dispatch_calls = 0
        self.list_exc = None
        self.dispatch_fail_at = 0
        self.dispatch_exc = None
        self.label_fail_at = 0
        self.label_exc = None
        self.on_list = None  # called with no argument inside list_ready
        self.tracker = FakeTracker(self)
        self.agent = FakeAgent(self)

    def add(self, repo, number, priority=0, trusted=True, label=None,
            **kw):
        labels = ("ready-for-agent",) + ((label,) if label else ())
        issue = afk.Issue(repo, number, priority=priority,
                          labeled_by_trusted=trusted, labels=labels, **kw)
        self.issues.append(issue)
        return issue

    def find(self, kind, repo, number):
        for i, e in enumerate(self.events):
            if e.kind == kind and e.repo == repo and e.number == number:
                return i
        return -1

    @staticmethod
    def thread_of(repo, number):
        return "thread-%s-%d" % (repo, number)


class FakeTracker:
    def __init__(self, world):
        self.w = world

    def list_ready(self, repos):
        w = self.w
        w.list_calls += 1
        w.events.append(Event("L", repos=list(repos)))
        assert isinstance(repos, list)
        assert all(type(r) is str for r in repos)
        if w.on_list is not None:
            w.on_list()
        if w.list_exc is not None:
            raise w.list_exc
        return list(w.issues)

    def add_label(self, repo, issue, label):
        w = self.w
        w.label_calls += 1
        assert type(repo) is str and type(issue) is int
        assert type(label) is str
        w.events.append(Event("A", repo, issue, label=label))
        if w.label_calls == w.label_fail_at:
            raise w.label_exc


class FakeAgent:
    def __init__(self, world):
        self.w = world

    def dispatch(self, repo, issue, prompt):
        w = self.w
        w.dispatch_calls += 1
        assert type(repo) is str and type(issue) is int
        assert type(prompt) is str
        w.events.append(Event("D", repo, issue, prompt=prompt))
        if w.dispatch_calls == w.dispatch_fail_at:
            raise w.dispatch_exc
        return w.thread_of(repo, issue)


class Untouchable:
    """An adapter that records every attribute looked up on it."""

    def __init__(self):
        object.__setattr__(self, "touched", [])

    def __getattribute__(self, name):
        if name == "touched":
            return object.__getattribute__(self, name)
        object.__getattribute__(self, "touched").append(name)
        raise AttributeError(name)


def armed(*repos, **settings):
    """A configuration armed for repos."""
    return afk.Config(kill_switch=False, allowlist=list(repos), **settings)


def dispatched(result, repo, number):
    return any(d.issue.repo == repo and d.issue.number == number
               for d in result.dispatched)


def skip_reason(result, repo, number):
    """The AFK_SKIP_* code of repo#number in result.skipped, or 0."""
    for issue, reason in result.skipped:
        if issue.repo == repo and issue.number == number:
            return reason.code
    return 0


@pytest.fixture
def world():
    return World()


@pytest.fixture
def poller(world):
    p = afk.Poller(tracker=world.tracker, t3_client=world.agent)
    yield p
    p.close()


@pytest.fixture
def quiet_afk_log():
    """The "afk" logger at CRITICAL for the test: libafk's lines (a tick
    that fails on purpose logs an error) make no records, which pytest's
    log capture would keep and a leak check would count."""
    log = logging.getLogger("afk")
    old = log.level
    log.setLevel(logging.CRITICAL)
    yield
    log.setLevel(old)
