"""Host exceptions cross the C tick: raised inside an adapter method, the
very same object leaves run_once() with its original traceback, and the
library has seen that callback fail."""

import traceback

import pytest

import afk
from conftest import armed, skip_reason


class HostError(Exception):
    """A host's own exception type, with state of its own."""

    def __init__(self, msg, detail):
        super().__init__(msg)
        self.detail = detail


class BadStr(Exception):
    def __str__(self):
        raise RuntimeError("str() of this exception fails")


def deep_raise(exc):
    """Raises exc two frames down, so the traceback has frames to check."""
    def inner():
        raise exc
    inner()


# Factories: an exception raised before keeps its old frames at the end
# of its traceback, so each test raises a fresh one.
EXCEPTIONS = [lambda: ValueError("bad value"),
              lambda: HostError("host failed", {"k": 1}),
              lambda: KeyboardInterrupt(), lambda: BadStr(),
              lambda: SystemExit(3)]


class Raising:
    """A tracker and agent whose method `where` raises exc via
    deep_raise()."""

    def __init__(self, where, exc):
        self.where = where
        self.exc = exc
        self.calls = []

    def list_ready(self, repos):
        self.calls.append("list_ready")
        if self.where == "list_ready":
            deep_raise(self.exc)
        return [afk.Issue("a", 1, labeled_by_trusted=True),
                afk.Issue("b", 2, labeled_by_trusted=True)]

    def add_label(self, repo, issue, label):
        self.calls.append("add_label")
        if self.where == "add_label":
            deep_raise(self.exc)

    def dispatch(self, repo, issue, prompt):
        self.calls.append("dispatch")
        if self.where == "dispatch":
            deep_raise(self.exc)
        return "t-%s-%d" % (repo, issue)


@pytest.mark.parametrize("where", ["list_ready", "dispatch", "add_label"])
@pytest.mark.parametrize("make", EXCEPTIONS,
                         ids=lambda f: type(f()).__name__)
def test_exception_propagates_as_the_same_object(where, make):
    exc = make()
    host = Raising(where, exc)
    poller = afk.Poller(tracker=host, t3_client=host)
    with pytest.raises(type(exc)) as ei:
        poller.run_once(armed("a", "b"))
    assert ei.value is exc
    names = [f.name for f in traceback.extract_tb(exc.__traceback__)]
    # The original frames, in order: the host method, then deep_raise's.
    assert names[-3:] == [where, "deep_raise", "inner"]
    assert "run_once" in names
    # The library saw the callback fail.  Since issue 9 item 3 the tick
    # goes on with the next repository (b#2 was "not reached"), unless
    # the host wants out (KeyboardInterrupt, SystemExit): then no new
    # agent is started.
    interrupt = not isinstance(exc, Exception)
    if where == "list_ready":
        assert host.calls == ["list_ready"]
    elif where == "dispatch":
        # Raising fails every dispatch; none is labelled.
        assert host.calls == ["list_ready", "dispatch"] + \
            ([] if interrupt else ["dispatch"])
        assert skip_reason(poller.last_result, "a", 1) == \
            afk.SKIP_DISPATCH_FAILED
        assert skip_reason(poller.last_result, "b", 2) == \
            afk.SKIP_DISPATCH_FAILED
        assert [e.number for e in poller.last_result.errors] == [1, 2]
    elif interrupt:
        # The lock follows its dispatch even then; b is not started.
        assert host.calls == ["list_ready", "dispatch", "add_label"]
        assert [d.thread_id for d in poller.last_result] == ["t-a-1"]
        assert "a#1" in poller.last_error
    else:
        assert host.calls == ["list_ready", "dispatch", "add_label",
                              "dispatch", "add_label"]
        assert [d.thread_id for d in poller.last_result] == \
            ["t-a-1", "t-b-2"]
        assert "a#1" in poller.last_error
    if isinstance(exc, HostError):
        assert exc.detail == {"k": 1} and exc.args == ("host failed",)


@pytest.mark.parametrize("where", ["list_ready", "dispatch", "add_label"])
def test_host_exception_leaves_unchanged(where):
    # Nothing is attached to the host's exception, even when agents run
    # (add_label: the repository is not locked); what the tick did is on
    # the poller instead.
    exc = HostError("host failed", {"k": 1})
    host = Raising(where, exc)
    poller = afk.Poller(tracker=host, t3_client=host)
    with pytest.raises(HostError) as ei:
        poller.run_once(armed("a", "b"))
    assert ei.value is exc
    assert not hasattr(exc, "afk_result")
    assert not hasattr(exc, "__notes__")
    assert vars(exc) == {"detail": {"k": 1}}
    assert exc.args == ("host failed",)
    frames = traceback.extract_tb(exc.__traceback__)
    assert where in [f.name for f in frames]
    assert any(f.name == where and f.filename == __file__ for f in frames)
    assert poller.last_result is not None
    assert "raised HostError: host failed" in poller.last_error


def test_exception_leaves_no_unraisable(world, poller):
    # pytest runs with -W error::pytest.PytestUnraisableExceptionWarning:
    # an exception escaping a ctypes callback would fail this run.
    world.add("a", 1)
    world.dispatch_fail_at = 1
    world.dispatch_exc = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        poller.run_once(armed("a"))


def test_message_of_a_failing_callback_names_it(world, poller):
    # The library's message (poller.last_error) names the host method
    # and the exception.
    world.add("a", 1)
    world.add("b", 2)
    world.dispatch_fail_at = 2
    world.dispatch_exc = HostError("quota exceeded", None)
    with pytest.raises(HostError) as ei:
        poller.run_once(armed("a", "b"))
    assert ei.value is world.dispatch_exc
    msg = poller.last_error
    assert "t3_client.dispatch raised HostError: quota exceeded" in msg
    assert "b#2" in msg


def test_reraised_instance_is_not_changed(world, poller):
    world.add("a", 1)
    world.label_fail_at = 1
    exc = world.label_exc = HostError("down", None)
    for _ in range(3):
        world.label_calls = 0
        with pytest.raises(HostError):
            poller.run_once(armed("a"))
        assert [d.thread_id for d in poller.last_result] == ["thread-a-1"]
        assert "not locked" in poller.last_error
    assert not hasattr(exc, "__notes__")
    assert vars(exc) == {"detail": None}


# --- the methods a tick needs (issue 9 item 13) ---------------------------
#
# These used to be looked up only when called: a tracker without add_label
# started an agent every tick and never locked its repository.

def test_missing_method_refused_even_when_the_tick_would_not_call_it():
    class ListOnly:
        def __init__(self):
            self.calls = 0

        def list_ready(self, repos):
            self.calls += 1
            return [afk.Issue("a", 1)]  # untrusted: never dispatched

    host = ListOnly()
    poller = afk.Poller(tracker=host, t3_client=object())
    with pytest.raises(TypeError, match="tracker.add_label"):
        poller.run_once(armed("a"))
    assert host.calls == 0
    assert poller.last_result is None
    assert "tracker.add_label is missing" in poller.last_error


def test_missing_dispatch_refused_before_any_call():
    class Tracker:
        def __init__(self):
            self.calls = 0

        def list_ready(self, repos):
            self.calls += 1
            return [afk.Issue("a", 1, labeled_by_trusted=True)]

        def add_label(self, repo, issue, label):
            self.calls += 1

    tracker = Tracker()
    poller = afk.Poller(tracker=tracker, t3_client=object())
    with pytest.raises(TypeError, match="t3_client.dispatch"):
        poller.run_once(armed("a"))
    assert tracker.calls == 0


def test_missing_add_label_refused_three_ticks_no_agent():
    class NoLabel:
        def __init__(self):
            self.calls = []

        def list_ready(self, repos):
            self.calls.append("list_ready")
            return [afk.Issue("a", 1, labeled_by_trusted=True)]

        def dispatch(self, repo, issue, prompt):
            self.calls.append("dispatch")
            return "t-1"

    host = NoLabel()
    poller = afk.Poller(tracker=host, t3_client=host)
    for _ in range(3):
        with pytest.raises(TypeError, match="add_label"):
            poller.run_once(armed("a"))
        assert poller.last_result is None
    assert host.calls == []  # no agent started, not even listed


def test_method_that_is_not_callable_is_refused(world):
    class Agent:
        dispatch = "not a method"

    poller = afk.Poller(tracker=world.tracker, t3_client=Agent())
    world.add("a", 1)
    with pytest.raises(TypeError, match="t3_client.dispatch is not "
                                        "callable"):
        poller.run_once(armed("a"))
    assert world.events == []


def test_upsert_comment_stays_optional(world):
    # world.tracker has no upsert_comment: ticks work without it.
    assert not hasattr(world.tracker, "upsert_comment")
    world.add("a", 1)
    poller = afk.Poller(tracker=world.tracker, t3_client=world.agent)
    assert [d.thread_id for d in poller.run_once(armed("a"))] == \
        ["thread-a-1"]


def test_disarmed_tick_checks_nothing():
    class Bare:
        def __init__(self):
            self.calls = 0

        def list_ready(self, repos):  # pragma: no cover - never called
            self.calls += 1
            return []

    host = Bare()
    poller = afk.Poller(tracker=host, t3_client=object())
    assert poller.run_once(afk.Config()) == []
    assert poller.run_once(afk.Config(kill_switch=True,
                                      allowlist=["a"])) == []
    assert host.calls == 0 and poller.last_error == ""


def test_none_adapters_refused():
    with pytest.raises(TypeError, match="tracker is None"):
        afk.Poller(tracker=None, t3_client=object())
    with pytest.raises(TypeError, match="t3_client is None"):
        afk.Poller(tracker=object(), t3_client=None)
    for name in ("tracker", "t3_client", "ci", "notifier"):
        adapters = dict(tracker=object(), t3_client=object(), ci=object(),
                        notifier=object())
        adapters[name] = None
        with pytest.raises(TypeError, match="%s is None" % name):
            afk.Watcher(**adapters)


def test_methods_are_looked_up_at_call_time(world):
    class Late:
        pass

    late = Late()
    poller = afk.Poller(tracker=world.tracker, t3_client=late)
    world.add("a", 1)
    with pytest.raises(TypeError, match="dispatch"):
        poller.run_once(armed("a"))
    late.dispatch = lambda repo, issue, prompt: "late-thread"
    world.label_calls = 0
    assert [d.thread_id for d in poller.run_once(armed("a"))] == \
        ["late-thread"]


def test_callable_attributes_work(world):
    # Any callable attribute will do: a function set on an instance, a
    # functools.partial, a bound method of another object.
    import functools

    class Agent:
        pass

    agent = Agent()
    agent.dispatch = functools.partial(
        lambda prefix, repo, issue, prompt: prefix + repo, "p-")
    world.add("a", 1)
    poller = afk.Poller(tracker=world.tracker, t3_client=agent)
    assert [d.thread_id for d in poller.run_once(armed("a"))] == ["p-a"]
