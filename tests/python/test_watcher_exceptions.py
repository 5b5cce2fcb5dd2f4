"""Host exceptions in the watch tick: an exception raised in any host
method leaves Watcher.run_once() as the very same object, with its
traceback; the library sees that call fail and leaves the run so that
the next tick completes it, each action done once.  Values a host method
returns that the library cannot use fail that call the same way."""

import traceback
import types

import pytest

import afk
from watchfakes import (HUMAN, IN_PROGRESS, READY, T0, Shop, armed,
                        poller_of, watcher_of)


class HostError(Exception):
    def __init__(self, msg, detail):
        super().__init__(msg)
        self.detail = detail


class BadStr(Exception):
    def __str__(self):
        raise RuntimeError("str() of this exception fails")


def deep_raise(exc):
    def inner():
        raise exc
    inner()


EXCEPTIONS = [lambda: ValueError("bad value"),
              lambda: HostError("host failed", {"k": 1}),
              lambda: KeyboardInterrupt(), lambda: BadStr(),
              lambda: SystemExit(3)]

# Each new host method, the adapter that has it, and the state of a#1
# that makes the first watch tick call it.
STATES = {
    "wait": ({"state": "running", "phase": "green"}, None),
    "close": ({"state": "completed", "phase": "pushed"},
              {"pr": "merged", "head": "h1", "ci": "success"}),
    "fix-forward": ({"state": "completed", "phase": "pushed"},
                    {"pr": "open", "head": "h1", "ci": "failure",
                     "failing": [("build", "https://ci.test/1")]}),
    "escalate": ({"state": "errored"}, None),
}
METHODS = {
    "find_comment": ("tracker", "wait"),
    "upsert_comment": ("tracker", "wait"),
    "snapshot": ("t3_client", "wait"),
    "status": ("ci", "wait"),
    "close_issue": ("tracker", "close"),
    "remove_label": ("tracker", "escalate"),
    "send_turn": ("t3_client", "fix-forward"),
    "notify": ("notifier", "escalate"),
}


def started(state):
    """A shop with a#1 dispatched by a poll tick, in state."""
    shop = Shop()
    shop.add("a", 1)
    poller_of(shop).run_once(armed("a"))
    snap, ci = STATES[state]
    shop.snap["thread-a-1"] = snap
    if ci is not None:
        shop.ci["a", 1] = ci
    shop.log.clear()
    return shop


class Raising:
    """Wraps a shop's fakes; method `where` raises exc via deep_raise()
    the first time it is called."""

    def __init__(self, shop, where, exc):
        self.shop = shop
        self.where = where
        self.exc = exc

    def __getattr__(self, name):
        for fake in (self.shop.tracker, self.shop.agent, self.shop.ci_,
                     self.shop.notifier):
            fn = getattr(fake, name, None)
            if fn is not None:
                break
        else:
            raise AttributeError(name)

        def method(*args):
            if name == self.where and self.exc is not None:
                exc, self.exc = self.exc, None
                deep_raise(exc)
            return fn(*args)
        method.__name__ = name
        return method


@pytest.mark.parametrize("where", sorted(METHODS))
@pytest.mark.parametrize("make", EXCEPTIONS,
                         ids=lambda f: type(f()).__name__)
def test_exception_propagates_as_the_same_object(where, make):
    shop = started(METHODS[where][1])
    exc = make()
    host = Raising(shop, where, exc)
    w = afk.Watcher(tracker=host, t3_client=host, ci=host, notifier=host)
    with pytest.raises(type(exc)) as ei:
        w.run_once(armed("a"), now=T0)
    assert ei.value is exc
    names = [f.name for f in traceback.extract_tb(exc.__traceback__)]
    assert names[-3:] == ["method", "deep_raise", "inner"]
    assert "run_once" in names
    assert not hasattr(exc, "__notes__")
    if isinstance(exc, HostError):
        assert vars(exc) == {"detail": {"k": 1}}
        assert exc.args == ("host failed",)
    # The library saw the call fail, and says which and where.
    adapter = METHODS[where][0]
    assert "%s.%s raised %s" % (adapter, where, type(exc).__name__) \
        in w.last_error
    assert "a#1" in w.last_error
    # A run that failed before its action was chosen reports none.
    before_decision = where in ("find_comment", "snapshot", "status")
    assert len(w.last_result) == (0 if before_decision else 1)
    assert IN_PROGRESS in shop.labels("a", 1)


@pytest.mark.parametrize("where", sorted(METHODS))
def test_next_tick_completes_the_run(where):
    """The method fails once; the next tick finishes, each effect once."""
    kind = METHODS[where][1]
    shop = started(kind)
    exc = HostError("%s is down" % where, None)
    shop.fail_next(where, exc)
    w = watcher_of(shop)
    cfg = armed("a")
    with pytest.raises(HostError) as ei:
        w.run_once(cfg, now=T0)
    assert ei.value is exc and shop.failed == [where]
    assert "%s is down" % where in w.last_error
    # Still locked, so the next tick finds it.
    assert IN_PROGRESS in shop.labels("a", 1)

    acts = w.run_once(cfg, now=T0 + 60)
    assert [a.action for a in acts] == [kind]
    a = acts[0]
    it = shop.issue("a", 1)
    assert it.comments_made == 1
    if kind == "close":
        assert not it.open and IN_PROGRESS not in it.labels
        assert shop.done("close_issue") == 1
    elif kind == "escalate":
        assert a.reason.code == afk.ESCALATE_AGENT_FAILED
        assert shop.done("notify") == 1
        assert HUMAN in it.labels
        assert READY not in it.labels and IN_PROGRESS not in it.labels
    elif kind == "fix-forward":
        assert a.attempts == 1  # the same attempt, resent
        assert shop.done("send_turn") == 1
    else:
        assert a.phase == "green" and "- [x] green" in it.comments[0]
    # And the tick after that does nothing more.
    counts = {m: shop.done(m) for m in METHODS}
    again = w.run_once(cfg, now=T0 + 120)
    assert [x.action for x in again] in ([], ["wait"])
    for m in ("close_issue", "notify", "send_turn"):
        assert shop.done(m) == counts[m], m


def test_notify_raises_then_the_next_tick_notifies_once():
    shop = started("escalate")
    w = watcher_of(shop)
    cfg = armed("a")
    exc = ConnectionError("pager down")
    shop.fail_next("notify", exc)
    with pytest.raises(ConnectionError) as ei:
        w.run_once(cfg, now=T0)
    assert ei.value is exc
    # What was done by then is reported: the escalation, recorded.
    a = w.last_result[0]
    assert a.action == "escalate" and a.reason.code == \
        afk.ESCALATE_AGENT_FAILED
    assert "**Needs a human**" in a.checklist
    assert "notifier.notify raised ConnectionError: pager down" in \
        w.last_error
    assert HUMAN in shop.labels("a", 1)
    # The agent recovers meanwhile: the escalation recorded still wins.
    shop.snap["thread-a-1"] = {"state": "running"}
    acts = w.run_once(cfg, now=T0 + 60)
    assert [(x.action, x.reason.code) for x in acts] == \
        [("escalate", afk.ESCALATE_AGENT_FAILED)]
    notes = shop.calls("notify")
    assert len(notes) == 2 and shop.done("notify") == 1
    assert notes[1][1:3] == ("a", 1)
    assert IN_PROGRESS not in shop.labels("a", 1)
    assert w.run_once(cfg, now=T0 + 120) == []
    assert shop.done("notify") == 1


def test_add_label_of_the_escalation_resumes():
    shop = started("escalate")
    shop.fail_next("add_label", HostError("labels down", None))
    w = watcher_of(shop)
    with pytest.raises(HostError):
        w.run_once(armed("a"), now=T0)
    assert "tracker.add_label raised HostError" in w.last_error
    assert shop.count("notify") == 0
    acts = w.run_once(armed("a"), now=T0 + 60)
    assert [x.action for x in acts] == ["escalate"]
    assert shop.done("notify") == 1 and HUMAN in shop.labels("a", 1)


def test_send_turn_raises_then_resent_once_same_attempt():
    shop = started("fix-forward")
    shop.fail_next("send_turn", TimeoutError("agent busy"))
    w = watcher_of(shop)
    cfg = armed("a")
    with pytest.raises(TimeoutError):
        w.run_once(cfg, now=T0)
    assert w.last_result[0].attempts == 1
    assert "t3_client.send_turn" in w.last_error
    a = w.run_once(cfg, now=T0 + 60)[0]
    assert a.action == "fix-forward" and a.attempts == 1
    turns = shop.calls("send_turn")
    assert len(turns) == 2 and turns[0][1] == turns[1][1]
    assert "attempt 1 of 2" in turns[1][2] and "- build" in turns[1][2]
    assert w.run_once(cfg, now=T0 + 120)[0].action == "wait"
    assert shop.count("send_turn") == 2


def test_resent_turn_is_the_same_turn():
    shop = started("fix-forward")
    shop.fail_next("send_turn", TimeoutError("agent busy"))
    w = watcher_of(shop)
    with pytest.raises(TimeoutError):
        w.run_once(armed("a"), now=T0)
    w.run_once(armed("a"), now=T0 + 60)
    turns = shop.calls("send_turn")
    assert turns[0] == turns[1]


def test_close_issue_raises_then_closed_once_whatever_ci_says_now():
    shop = started("close")
    shop.fail_next("close_issue", HostError("close refused", None))
    w = watcher_of(shop)
    cfg = armed("a")
    with pytest.raises(HostError):
        w.run_once(cfg, now=T0)
    assert shop.issue("a", 1).open
    # A decided close is carried out even if CI turns red meanwhile.
    shop.ci["a", 1] = dict(shop.ci["a", 1], ci="failure")
    assert [x.action for x in w.run_once(cfg, now=T0 + 60)] == ["close"]
    assert not shop.issue("a", 1).open
    assert shop.count("send_turn") == 0 and shop.done("close_issue") == 1


def test_list_ready_raising_calls_nothing_else():
    shop = started("close")
    exc = HostError("search down", None)
    shop.fail_next("list_ready", exc)
    w = watcher_of(shop)
    with pytest.raises(HostError) as ei:
        w.run_once(armed("a"), now=T0)
    assert ei.value is exc
    assert [c[0] for c in shop.log] == ["list_ready"]
    assert w.last_result == []
    assert "tracker.list_ready" in w.last_error


def test_exception_leaves_no_unraisable():
    # pytest runs with -W error::pytest.PytestUnraisableExceptionWarning.
    shop = started("escalate")
    shop.fail_next("notify", KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        watcher_of(shop).run_once(armed("a"), now=T0)


def test_missing_method_refused_before_any_call():
    # Issue 9 item 13: an armed tick checks every method it may need
    # first (it used to raise AttributeError half-way, the escalation
    # begun).
    shop = started("escalate")

    class NoNotify:
        pass
    w = afk.Watcher(tracker=shop.tracker, t3_client=shop.agent,
                    ci=shop.ci_, notifier=NoNotify())
    calls = len(shop.log)
    with pytest.raises(TypeError, match="notifier.notify"):
        w.run_once(armed("a"), now=T0)
    assert len(shop.log) == calls
    assert w.last_result is None
    assert "notifier.notify is missing" in w.last_error
    assert HUMAN not in shop.labels("a", 1)
    assert IN_PROGRESS in shop.labels("a", 1)


# --- values host methods return --------------------------------------------

BAD_SNAPSHOTS = [
    ({"state": "sleeping"}, ValueError, "state"),
    ({"state": 0}, ValueError, "state"),
    ({"state": 9}, ValueError, "state"),
    ({"state": True}, ValueError, "state"),
    ({"state": 1.0}, ValueError, "state"),
    ({"phase": "green"}, ValueError, "no state"),
    ({"state": "running", "phase": "ci"}, ValueError, "phase"),
    ({"state": "running", "phase": afk.PHASE_CI}, ValueError, "phase"),
    ({"state": "running", "phase": -1}, ValueError, "phase"),
    (types.SimpleNamespace(phase="green"), ValueError, "no state"),
    ({"state": "running", "activity": 0}, ValueError, "activity"),
    ({"state": "running", "activity": "now"}, TypeError, "activity"),
    ({"state": "running", "activity": True}, TypeError, "activity"),
    ({"state": "running", "tokens_in": -1}, ValueError, "tokens_in"),
    ({"state": "running", "tokens_out": 2**63}, ValueError, "tokens_out"),
    ({"state": "running", "cost_microusd": 1.5}, TypeError,
     "cost_microusd"),
    (None, TypeError, "snapshot"),
    ("running", TypeError, "snapshot"),
    (("running", "green"), TypeError, "snapshot"),
]


@pytest.mark.parametrize("snap, exc_type, words", BAD_SNAPSHOTS)
def test_bad_snapshot_fails_the_call(snap, exc_type, words):
    shop = started("wait")
    shop.snap["thread-a-1"] = snap
    w = watcher_of(shop)
    with pytest.raises(exc_type, match=words):
        w.run_once(armed("a"), now=T0)
    assert "t3_client.snapshot raised %s" % exc_type.__name__ in \
        w.last_error
    assert shop.count("status") == 0  # the tick stopped there
    assert IN_PROGRESS in shop.labels("a", 1)
    shop.snap["thread-a-1"] = {"state": "running", "phase": "green"}
    assert [x.action for x in w.run_once(armed("a"), now=T0)] == ["wait"]


BAD_STATUSES = [
    ({"pr": "closed"}, ValueError, "pr"),
    ({"pr": 3}, ValueError, "pr"),
    ({"pr": "open", "ci": "red"}, ValueError, "ci"),
    ({"ci": afk.STATUS_FAILURE + 1}, ValueError, "ci"),
    ({"deploy": "done"}, ValueError, "deploy"),
    ({"pr": "open", "head": 123}, ValueError, "head"),
    ({"pr": "open", "head": "a\0b"}, ValueError, "head"),
    ({"ci": "failure", "failing": "build"}, ValueError, "failing"),
    ({"ci": "failure", "failing": 3}, ValueError, "failing"),
    ({"ci": "failure", "failing": [""]}, ValueError, "empty"),
    ({"ci": "failure", "failing": [("a", "b", "c")]}, ValueError,
     "failing check"),
    ({"ci": "failure", "failing": [("build", 5)]}, ValueError, "url"),
    ({"ci": "failure", "failing": [None]}, ValueError, "failing check"),
    ("success", TypeError, "ci.status"),
    ([("pr", "open")], TypeError, "ci.status"),
    ({"pr": "open", "pr_number": 0}, ValueError, "pr_number"),
    ({"pr": "open", "pr_number": -4}, ValueError, "pr_number"),
    ({"pr": "open", "pr_number": "42"}, ValueError, "pr_number"),
    ({"pr": "open", "pr_number": True}, ValueError, "pr_number"),
    ({"pr": "open", "pr_number": 2 ** 64}, ValueError, "pr_number"),
    ({"pr": "open", "pr_number": 42, "pr_author": 7}, ValueError,
     "pr_author"),
    ({"pr": "open", "pr_number": 42, "pr_branch": "a\0b"}, ValueError,
     "pr_branch"),
    ({"pr": "open", "pr_author": "afk-bot"}, ValueError,
     "pr_author without pr_number"),
    ({"pr": "open", "pr_branch": "afk/issue-7"}, ValueError,
     "pr_branch without pr_number"),
    ({"pr_number": 42}, ValueError, "no pull request"),
    ({"pr": "none", "pr_number": 42}, ValueError, "no pull request"),
]


@pytest.mark.parametrize("status, exc_type, words", BAD_STATUSES)
def test_bad_ci_status_fails_the_call(status, exc_type, words):
    shop = started("wait")
    shop.ci["a", 1] = status
    w = watcher_of(shop)
    with pytest.raises(exc_type, match=words):
        w.run_once(armed("a"), now=T0)
    assert "ci.status raised %s" % exc_type.__name__ in w.last_error
    # Nothing decided: at most the record's clock started (first sight).
    assert shop.count("upsert_comment") <= 1
    for effect in ("send_turn", "close_issue", "notify", "remove_label"):
        assert shop.count(effect) == 0
    assert IN_PROGRESS in shop.labels("a", 1)
    shop.ci["a", 1] = None  # nothing to report is fine
    assert [x.action for x in w.run_once(armed("a"), now=T0)] == ["wait"]


@pytest.mark.parametrize("reply, exc_type", [
    (5, TypeError), (b"bytes", TypeError), (("body",), TypeError),
    (("a", "b", "c"), TypeError), (("body", 5), TypeError),
    ("a\0b", ValueError)])
def test_bad_find_comment_reply_fails_the_call(reply, exc_type):
    shop = started("wait")
    shop.tracker.find_comment = lambda repo, issue, marker: reply
    w = watcher_of(shop)
    with pytest.raises(exc_type):
        w.run_once(armed("a"), now=T0)
    assert "tracker.find_comment raised" in w.last_error
    assert shop.count("snapshot") == 0
    del shop.tracker.find_comment
    assert [x.action for x in w.run_once(armed("a"), now=T0)] == ["wait"]


def test_unreadable_record_goes_to_a_human():
    shop = started("wait")
    shop.issue("a", 1).comments[0] = "<!-- afk-run: {not json -->"
    a = watcher_of(shop).run_once(armed("a"), now=T0)[0]
    assert (a.action, a.reason.code) == \
        ("escalate", afk.ESCALATE_NO_RECORD)
    assert a.thread_id is None and shop.count("snapshot") == 0


def test_no_record_escalation_resumed_notifies_once():
    shop = Shop()
    shop.add("a", 5, labels=(READY, IN_PROGRESS))
    w = watcher_of(shop)
    real = shop.tracker.remove_label

    def remove_label(repo, issue, label):
        if label == IN_PROGRESS and not shop.failed:
            shop.failed.append("remove_label")
            raise HostError("labels down", None)
        return real(repo, issue, label)
    shop.tracker.remove_label = remove_label
    with pytest.raises(HostError):
        w.run_once(armed("a"), now=T0)
    assert shop.count("notify") == 1
    assert [x.action for x in w.run_once(armed("a"), now=T0 + 60)] == \
        ["escalate"]
    assert IN_PROGRESS not in shop.labels("a", 5)
    assert shop.count("notify") == 1
