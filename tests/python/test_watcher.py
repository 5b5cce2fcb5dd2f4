"""The watch tick through the Python binding: afk.Watcher over duck-typed
in-memory fakes (watchfakes.py) - each action carried out, idempotence,
deadlines measured against now, the values host methods may return,
and poll then watch end to end."""

import gc
import json
import pickle
import threading
import time
import types
import weakref

import pytest

import afk
from conftest import Untouchable, World
from watchfakes import (HUMAN, IN_PROGRESS, READY, T0, Shop, armed,
                        poller_of, watcher_of)

MARKER = "<!-- afk-run:"


@pytest.fixture
def shop():
    return Shop()


@pytest.fixture
def cfg():
    return armed("a")


@pytest.fixture
def watcher(shop):
    w = watcher_of(shop)
    yield w
    w.close()


def start(shop, cfg, repo="a", number=1):
    """Dispatches repo#number with a poll tick: labelled, first record
    written."""
    shop.add(repo, number)
    result = poller_of(shop).run_once(cfg)
    assert [(d.issue.repo, d.issue.number) for d in result] == \
        [(repo, number)]
    shop.log.clear()


def record(shop, repo="a", number=1):
    """The run's record, parsed out of its comment."""
    body = [c for c in shop.issue(repo, number).comments if MARKER in c]
    assert len(body) == 1
    text = body[0][len(MARKER):body[0].index("-->")]
    return json.loads(text)


def one(actions, kind):
    assert len(actions) == 1, actions
    a = actions[0]
    assert a.action == kind, (a.action, a.reason)
    return a


# --- the constants -------------------------------------------------------

def test_constants_mirror_run_h():
    assert (afk.AGENT_RUNNING, afk.AGENT_COMPLETED, afk.AGENT_INTERRUPTED,
            afk.AGENT_ERRORED, afk.AGENT_STOPPED,
            afk.AGENT_WAITING_APPROVAL, afk.AGENT_WAITING_INPUT,
            afk.AGENT_GONE) == tuple(range(1, 9))
    assert (afk.PHASE_DISPATCHED, afk.PHASE_TESTS_RED, afk.PHASE_GREEN,
            afk.PHASE_PUSHED, afk.PHASE_CI, afk.PHASE_DEPLOYED) == \
        tuple(range(6))
    assert (afk.PR_NONE, afk.PR_OPEN, afk.PR_MERGED) == (0, 1, 2)
    assert (afk.STATUS_NONE, afk.STATUS_PENDING, afk.STATUS_SUCCESS,
            afk.STATUS_FAILURE) == (0, 1, 2, 3)
    assert (afk.ACTION_WAIT, afk.ACTION_CLOSE, afk.ACTION_FIX_FORWARD,
            afk.ACTION_ESCALATE) == (1, 2, 3, 4)
    assert (afk.ESCALATE_AGENT_FAILED, afk.ESCALATE_AGENT_STOPPED,
            afk.ESCALATE_AGENT_WAITING, afk.ESCALATE_STALLED,
            afk.ESCALATE_CI_FAILED, afk.ESCALATE_DEPLOY_FAILED,
            afk.ESCALATE_CI_TIMEOUT, afk.ESCALATE_DEPLOY_TIMEOUT,
            afk.ESCALATE_NO_RECORD, afk.ESCALATE_AGENT_GONE,
            afk.ESCALATE_BUDGET) == tuple(range(1, 12))
    for name in afk.__all__:
        assert hasattr(afk, name), name


def test_names_of_actions_reasons_and_phases():
    assert [afk.ActionKind(c) for c in range(1, 5)] == \
        ["wait", "close", "fix-forward", "escalate"]
    assert afk.ActionKind(afk.ACTION_CLOSE).code == afk.ACTION_CLOSE
    phrases = [afk.EscalationReason(c) for c in range(1, 12)]
    assert "unknown reason" not in phrases
    assert len(set(phrases)) == 11
    assert afk.EscalationReason(afk.ESCALATE_STALLED) == \
        "no progress before the deadline"
    assert [afk.Phase(c) for c in range(6)] == \
        ["dispatched", "tests-red", "green", "pushed", "ci", "deployed"]
    assert afk.Phase(afk.PHASE_GREEN).code == afk.PHASE_GREEN
    # Cached, picklable, with a telling repr.
    assert afk.Phase(2) is afk.Phase(2)
    r = afk.EscalationReason(afk.ESCALATE_CI_FAILED)
    assert pickle.loads(pickle.dumps(r)) is r
    assert "ESCALATE" not in repr(r) and "5" in repr(r)


# --- the kill switch -----------------------------------------------------

def test_kill_switch_on_calls_nothing(shop, cfg):
    start(shop, cfg)
    adapters = [Untouchable() for _ in range(4)]
    w = afk.Watcher(*adapters)
    cfg.kill_switch = True
    assert w.run_once(cfg, now=T0) == []
    assert w.last_result == [] and w.last_error == ""
    # Not even looked up, at construction or in the tick.
    assert [a.touched for a in adapters] == [[], [], [], []]


def test_kill_switch_on_with_recording_fakes(shop, cfg, watcher):
    start(shop, cfg)
    cfg.kill_switch = True
    assert watcher.run_once(cfg, now=T0) == []
    assert shop.log == []
    assert afk.Watcher(object(), object(), object(), object()).run_once(
        afk.Config()) == []


# --- a run, start to close -----------------------------------------------

def test_poll_writes_the_first_record(shop, cfg):
    shop.add("a", 1)
    poller_of(shop).run_once(cfg)
    kinds = [c[0] for c in shop.log]
    # the record before the lock: a watch tick that sees the label
    # must find the record
    # which run: the last one's record read before the dispatch
    assert kinds == ["list_ready", "find_comment", "dispatch",
                     "upsert_comment", "add_label"]
    assert shop.log[3][1:4] == ("a", 1, MARKER)
    assert IN_PROGRESS in shop.labels("a", 1)
    assert record(shop)["thread"] == "thread-a-1"
    assert shop.issue("a", 1).comments_made == 1


def test_run_waits_reports_phases_then_closes(shop, cfg, watcher):
    start(shop, cfg)
    a = one(watcher.run_once(cfg, now=T0), "wait")
    assert a.action.code == afk.ACTION_WAIT
    assert a.issue is shop.listed[0]  # the very Issue list_ready returned
    assert (a.repo, a.number) == ("a", 1)
    assert a.thread_id == "thread-a-1"
    assert a.phase == "dispatched" and a.phase.code == afk.PHASE_DISPATCHED
    assert a.reason is None and a.attempts == 0
    assert shop.calls("snapshot") == [("snapshot", "thread-a-1")]
    assert shop.calls("status") == [("status", "a", 1)]

    shop.snap["thread-a-1"] = {"state": "running", "phase": "tests-red"}
    a = one(watcher.run_once(cfg, now=T0 + 60), "wait")
    assert a.phase == "tests-red" and a.updated
    shop.snap["thread-a-1"] = {"state": "running", "phase": "green"}
    a = one(watcher.run_once(cfg, now=T0 + 120), "wait")
    assert a.phase.code == afk.PHASE_GREEN and a.updated
    assert "- [x] green" in a.checklist
    assert a.checklist == shop.issue("a", 1).comments[0]
    shop.snap["thread-a-1"] = {"state": "completed", "phase": "pushed"}
    shop.ci["a", 1] = {"pr": "open", "head": "h1", "ci": "pending"}
    a = one(watcher.run_once(cfg, now=T0 + 180), "wait")
    assert a.phase == "pushed"

    shop.ci["a", 1] = {"pr": "merged", "head": "h1", "ci": "success"}
    shop.log.clear()
    a = one(watcher.run_once(cfg, now=T0 + 240), "close")
    assert a.action.code == afk.ACTION_CLOSE and a.reason is None
    assert a.phase == "ci" and a.attempts == 0 and a.updated
    it = shop.issue("a", 1)
    assert not it.open
    assert IN_PROGRESS not in it.labels
    assert HUMAN not in it.labels
    assert len(it.comments) == 1 and it.comments_made == 1
    assert "**Done**" in it.comments[0]
    assert "- [x] CI green" in it.comments[0]
    assert a.checklist == it.comments[0]
    assert shop.count("close_issue") == 1 and shop.count("notify") == 0
    assert shop.count("send_turn") == 0
    assert record(shop)["status"] == 1  # closed

    # Done: the issue is no longer listed, so nothing more happens.
    shop.log.clear()
    assert watcher.run_once(cfg, now=T0 + 300) == []
    assert [c[0] for c in shop.log] == ["list_ready"]


def test_unchanged_wait_writes_nothing(shop, cfg, watcher):
    start(shop, cfg)
    assert one(watcher.run_once(cfg, now=T0), "wait").updated
    shop.log.clear()
    a = one(watcher.run_once(cfg, now=T0 + 60), "wait")
    assert a.updated is False
    assert shop.count("upsert_comment") == 0


# --- fix forward ---------------------------------------------------------

def test_fix_forward_once_then_close(shop, cfg, watcher):
    start(shop, cfg)
    shop.snap["thread-a-1"] = {"state": "completed", "phase": "pushed"}
    shop.ci["a", 1] = {"pr": "open", "head": "h1", "ci": "failure",
                       "failing": [("build", "https://ci.test/1"),
                                   "lint"]}
    a = one(watcher.run_once(cfg, now=T0), "fix-forward")
    assert a.action.code == afk.ACTION_FIX_FORWARD
    assert a.attempts == 1 and a.reason is None
    turns = shop.calls("send_turn")
    assert len(turns) == 1
    _, thread, prompt = turns[0]
    assert thread == "thread-a-1"
    assert "- build: https://ci.test/1\n" in prompt
    assert "- lint\n" in prompt
    assert "a#1" in prompt and "attempt 1 of 2" in prompt
    assert "h1" in prompt
    assert "failing: build, lint" in a.checklist

    # The same failure again: it had its turn; nothing is sent.
    a = one(watcher.run_once(cfg, now=T0 + 60), "wait")
    assert a.attempts == 1
    assert shop.count("send_turn") == 1

    # The fix lands: merged and green.
    shop.ci["a", 1] = {"pr": "merged", "head": "h2", "ci": "success"}
    a = one(watcher.run_once(cfg, now=T0 + 120), "close")
    assert a.attempts == 1
    assert not shop.issue("a", 1).open
    assert "Fix-forward attempts: 1 of 2" in shop.issue("a", 1).comments[0]
    assert shop.count("send_turn") == 1 and shop.count("notify") == 0
    assert shop.issue("a", 1).comments_made == 1


def test_running_agent_gets_no_fix_forward(shop, cfg, watcher):
    start(shop, cfg)
    shop.ci["a", 1] = {"pr": "open", "head": "h1", "ci": "failure",
                       "failing": ["build"]}
    one(watcher.run_once(cfg, now=T0), "wait")
    assert shop.count("send_turn") == 0


def test_ci_failing_after_the_budget_escalates(shop, watcher):
    cfg = armed("a", fix_forward_budget=1)
    start(shop, cfg)
    shop.snap["thread-a-1"] = {"state": "completed", "phase": "pushed"}
    shop.ci["a", 1] = {"pr": "open", "head": "h1", "ci": "failure",
                       "failing": ["build"]}
    a = one(watcher.run_once(cfg, now=T0), "fix-forward")
    assert a.attempts == 1
    assert "attempt 1 of 1" in shop.calls("send_turn")[0][2]

    shop.ci["a", 1] = {"pr": "open", "head": "h2", "ci": "failure",
                       "failing": ["build", "test"]}
    shop.log.clear()
    a = one(watcher.run_once(cfg, now=T0 + 60), "escalate")
    assert a.action.code == afk.ACTION_ESCALATE
    assert a.reason == "CI still failing after the last fix-forward"
    assert a.reason.code == afk.ESCALATE_CI_FAILED
    assert a.attempts == 1
    assert shop.count("send_turn") == 0
    labels = shop.labels("a", 1)
    assert HUMAN in labels
    assert READY not in labels and IN_PROGRESS not in labels
    assert shop.issue("a", 1).open
    notes = shop.calls("notify")
    assert len(notes) == 1
    _, repo, number, message, link = notes[0]
    assert (repo, number) == ("a", 1)
    assert "a#1" in message and a.reason in message
    assert link == shop.url("a", 1)
    assert "**Needs a human**" in shop.issue("a", 1).comments[0]
    assert shop.issue("a", 1).comments_made == 1
    # The lock goes last: it is what brings a failed escalation back.
    kinds = [c[0] for c in shop.log]
    assert kinds.index("notify") < max(
        i for i, c in enumerate(shop.log)
        if c[0] == "remove_label" and c[3] == IN_PROGRESS)

    shop.log.clear()
    assert watcher.run_once(cfg, now=T0 + 120) == []
    assert shop.count("notify") == 0


def test_deploy_stage_closes_on_deploy(shop, watcher):
    cfg = armed("a", deploy_stage=True)
    start(shop, cfg)
    shop.snap["thread-a-1"] = {"state": "completed", "phase": "pushed"}
    shop.ci["a", 1] = {"pr": "merged", "head": "h1", "ci": "success"}
    a = one(watcher.run_once(cfg, now=T0), "wait")
    assert a.phase == "ci" and "- [ ] deployed" in a.checklist
    shop.ci["a", 1] = dict(shop.ci["a", 1], deploy="failure",
                           failing=[("deploy/prod", None)])
    a = one(watcher.run_once(cfg, now=T0 + 60), "fix-forward")
    assert "- deploy/prod\n" in shop.calls("send_turn")[0][2]
    shop.ci["a", 1] = {"pr": "merged", "head": "h2", "ci": "success",
                       "deploy": "success"}
    a = one(watcher.run_once(cfg, now=T0 + 120), "close")
    assert a.phase == "deployed" and a.phase.code == afk.PHASE_DEPLOYED
    assert "- [x] deployed" in a.checklist


# --- escalations ---------------------------------------------------------

@pytest.mark.parametrize("state, ci, reason", [
    ("errored", None, afk.ESCALATE_AGENT_FAILED),
    ("waiting_input", None, afk.ESCALATE_AGENT_WAITING),
    ("waiting-input", None, afk.ESCALATE_AGENT_WAITING),
    ("waiting_approval", None, afk.ESCALATE_AGENT_WAITING),
    (afk.AGENT_WAITING_INPUT, None, afk.ESCALATE_AGENT_WAITING),
    ("stopped", None, afk.ESCALATE_AGENT_STOPPED),
    ("interrupted", None, afk.ESCALATE_AGENT_STOPPED),
    ("completed", None, afk.ESCALATE_AGENT_STOPPED),  # without a PR
    ("gone", None, afk.ESCALATE_AGENT_GONE),  # at once, no deadline
    (afk.AGENT_GONE, None, afk.ESCALATE_AGENT_GONE),
    (afk.AGENT_ERRORED, {"pr": "open", "ci": "pending"},
     afk.ESCALATE_AGENT_FAILED),
])
def test_agent_trouble_escalates(shop, cfg, watcher, state, ci, reason):
    start(shop, cfg)
    shop.snap["thread-a-1"] = {"state": state}
    if ci is not None:
        shop.ci["a", 1] = ci
    a = one(watcher.run_once(cfg, now=T0), "escalate")
    assert a.reason.code == reason
    assert a.reason == afk.EscalationReason(reason)
    assert [c[1:3] for c in shop.calls("notify")] == [("a", 1)]
    assert afk.EscalationReason(reason) in shop.calls("notify")[0][3]
    assert IN_PROGRESS not in shop.labels("a", 1)
    assert HUMAN in shop.labels("a", 1)
    assert shop.count("send_turn") == 0 and shop.count("close_issue") == 0
    # Once: the next tick does not see the run at all.
    assert watcher.run_once(cfg, now=T0 + 60) == []
    assert shop.count("notify") == 1


def test_stall_past_the_deadline(shop, watcher):
    cfg = armed("a", stall_timeout=100)
    start(shop, cfg)
    one(watcher.run_once(cfg, now=T0), "wait")          # first sight
    assert record(shop)["changed_at"] == T0
    one(watcher.run_once(cfg, now=T0 + 100), "wait")    # at the deadline
    a = one(watcher.run_once(cfg, now=T0 + 101), "escalate")  # past it
    assert a.reason.code == afk.ESCALATE_STALLED
    assert shop.count("notify") == 1


def test_since_and_the_next_deadline(shop, watcher):
    cfg = armed("a", stall_timeout=100, ci_timeout=50)
    start(shop, cfg)
    a = one(watcher.run_once(cfg, now=T0), "wait")      # first sight
    assert record(shop)["started_at"] == T0
    assert a.since == T0
    assert a.deadline == T0 + 101
    assert a.deadline_reason == afk.EscalationReason(afk.ESCALATE_STALLED)
    shop.snap["thread-a-1"] = {"state": "completed", "phase": "pushed"}
    shop.ci["a", 1] = {"pr": "open", "head": "h1", "ci": "pending"}
    a = one(watcher.run_once(cfg, now=T0 + 10), "wait")
    assert a.since == T0                                 # kept
    assert a.deadline == T0 + 61
    assert a.deadline_reason.code == afk.ESCALATE_CI_TIMEOUT
    a = one(watcher.run_once(cfg, now=T0 + 61), "escalate")
    assert a.deadline is None and a.deadline_reason is None


def test_progress_moves_the_stall_deadline(shop, watcher):
    cfg = armed("a", stall_timeout=100)
    start(shop, cfg)
    one(watcher.run_once(cfg, now=T0), "wait")
    shop.snap["thread-a-1"] = {"state": "running", "phase": "green"}
    one(watcher.run_once(cfg, now=T0 + 90), "wait")
    one(watcher.run_once(cfg, now=T0 + 190), "wait")
    one(watcher.run_once(cfg, now=T0 + 191), "escalate")


def test_ci_pending_past_its_deadline(shop, watcher):
    cfg = armed("a", ci_timeout=50)
    start(shop, cfg)
    shop.snap["thread-a-1"] = {"state": "completed", "phase": "pushed"}
    shop.ci["a", 1] = {"pr": "open", "head": "h1", "ci": "pending"}
    one(watcher.run_once(cfg, now=T0), "wait")
    one(watcher.run_once(cfg, now=T0 + 50), "wait")
    a = one(watcher.run_once(cfg, now=T0 + 51), "escalate")
    assert a.reason.code == afk.ESCALATE_CI_TIMEOUT


def test_now_defaults_to_the_clock(shop, cfg, watcher, monkeypatch):
    start(shop, cfg)
    monkeypatch.setattr(time, "time", lambda: T0 + 0.75)
    one(watcher.run_once(cfg), "wait")
    assert record(shop)["changed_at"] == T0  # whole seconds
    monkeypatch.undo()
    # The real clock is long past T0 + stall_timeout.
    a = one(watcher.run_once(cfg), "escalate")
    assert a.reason.code == afk.ESCALATE_STALLED


def test_now_may_be_a_float_and_is_rounded_down(shop, watcher):
    cfg = armed("a", stall_timeout=10)
    start(shop, cfg)
    one(watcher.run_once(cfg, now=T0 + 0.9), "wait")
    assert record(shop)["changed_at"] == T0
    one(watcher.run_once(cfg, now=T0 + 10.99), "wait")
    one(watcher.run_once(cfg, now=float(T0 + 11)), "escalate")


@pytest.mark.parametrize("now, exc", [
    ("1700000000", TypeError), (True, TypeError), ([T0], TypeError),
    (2 ** 63, ValueError), (-2 ** 63 - 1, ValueError),
    (float("nan"), ValueError), (float("inf"), ValueError)])
def test_bad_now_is_refused_before_any_call(shop, cfg, watcher, now, exc):
    start(shop, cfg)
    with pytest.raises(exc, match="now"):
        watcher.run_once(cfg, now=now)
    assert shop.log == []
    assert watcher.last_result is None and "now" in watcher.last_error


def test_no_record_goes_to_a_human(shop, cfg, watcher):
    shop.add("a", 5, labels=(READY, IN_PROGRESS))
    a = one(watcher.run_once(cfg, now=T0), "escalate")
    assert a.reason.code == afk.ESCALATE_NO_RECORD
    assert a.thread_id is None
    assert (a.repo, a.number) == ("a", 5)
    assert shop.count("snapshot") == 0 and shop.count("status") == 0
    notes = shop.calls("notify")
    assert len(notes) == 1 and notes[0][4] == shop.url("a", 5)
    # The checklist the tick wrote for a human to read.
    assert a.updated and "**Needs a human**" in a.checklist


def test_find_comment_may_return_a_plain_body(shop, cfg, watcher):
    shop.with_url = False
    start(shop, cfg)
    shop.snap["thread-a-1"] = {"state": "errored"}
    one(watcher.run_once(cfg, now=T0), "escalate")
    assert shop.calls("notify")[0][4] is None  # no link: None, not ""


# --- idempotence ---------------------------------------------------------

SCENARIOS = {
    "close": ({"state": "completed", "phase": "pushed"},
              {"pr": "merged", "head": "h1", "ci": "success"}),
    "fix-forward": ({"state": "completed", "phase": "pushed"},
                    {"pr": "open", "head": "h1", "ci": "failure",
                     "failing": ["build"]}),
    "escalate": ({"state": "waiting_input"}, None),
    "wait": ({"state": "running", "phase": "green"}, None),
}


@pytest.mark.parametrize("kind", sorted(SCENARIOS))
def test_the_same_tick_twice_acts_once(shop, cfg, watcher, kind):
    start(shop, cfg)
    snap, ci = SCENARIOS[kind]
    shop.snap["thread-a-1"] = snap
    if ci is not None:
        shop.ci["a", 1] = ci
    one(watcher.run_once(cfg, now=T0), kind)
    first = {m: shop.count(m) for m in (
        "close_issue", "notify", "send_turn", "upsert_comment",
        "add_label", "remove_label")}
    comments = list(shop.issue("a", 1).comments)
    again = watcher.run_once(cfg, now=T0)
    if kind in ("close", "escalate"):
        assert again == []
    else:
        assert [x.action for x in again] == ["wait"]
        assert not again[0].updated
    for m, n in first.items():
        assert shop.count(m) == n, m
    assert shop.issue("a", 1).comments == comments
    assert shop.issue("a", 1).comments_made == 1


def test_a_second_watcher_carries_on_from_the_record(shop, cfg):
    # Ticks keep no state: a new Watcher (a restart) sees what the last
    # one recorded.
    start(shop, cfg)
    shop.snap["thread-a-1"] = SCENARIOS["fix-forward"][0]
    shop.ci["a", 1] = SCENARIOS["fix-forward"][1]
    one(watcher_of(shop).run_once(cfg, now=T0), "fix-forward")
    a = one(watcher_of(shop).run_once(cfg, now=T0 + 60), "wait")
    assert a.attempts == 1 and shop.count("send_turn") == 1


# --- what host methods may return ----------------------------------------

def test_snapshot_and_status_may_be_objects_with_ints(shop, cfg, watcher):
    start(shop, cfg)
    shop.snap["thread-a-1"] = types.SimpleNamespace(
        state=afk.AGENT_COMPLETED, phase=afk.PHASE_PUSHED)

    class Status:
        pr = afk.PR_OPEN
        head = "h1"
        ci = afk.STATUS_FAILURE
        failing = {"build": "https://ci.test/1", "lint": None}
        # no deploy: none
    shop.ci["a", 1] = Status()
    a = one(watcher.run_once(cfg, now=T0), "fix-forward")
    prompt = shop.calls("send_turn")[0][2]
    assert "- build: https://ci.test/1\n" in prompt and "- lint\n" in prompt
    assert a.phase == "pushed"


def test_snapshot_and_status_may_be_namedtuples(shop, cfg, watcher):
    import collections
    Snap = collections.namedtuple("Snap", "state phase")
    Status = collections.namedtuple("Status", "pr head ci")
    start(shop, cfg)
    shop.snap["thread-a-1"] = Snap("completed", "pushed")
    shop.ci["a", 1] = Status("merged", "h1", "success")
    one(watcher.run_once(cfg, now=T0), "close")


def test_status_members_may_be_missing(shop, cfg, watcher):
    start(shop, cfg)
    shop.snap["thread-a-1"] = {"state": "running"}  # phase: dispatched
    shop.ci["a", 1] = {}
    a = one(watcher.run_once(cfg, now=T0), "wait")
    assert a.phase == "dispatched"
    shop.ci["a", 1] = {"pr": "open", "head": None, "ci": None,
                       "failing": None, "deploy": None}
    a = one(watcher.run_once(cfg, now=T0 + 1), "wait")
    assert a.phase == "pushed"  # a PR means pushed


def test_status_names_the_pull_request_in_the_checklist(shop, cfg,
                                                        watcher):
    start(shop, cfg)
    shop.snap["thread-a-1"] = {"state": "completed", "phase": "pushed"}
    shop.ci["a", 1] = {"pr": "open", "head": "h1", "ci": "pending",
                       "pr_number": 42, "pr_author": "afk-bot",
                       "pr_branch": "afk/issue-7"}
    a = one(watcher.run_once(cfg, now=T0), "wait")
    assert "Pull request: #42 (afk-bot, branch afk/issue-7).\n" in \
        a.checklist
    assert a.checklist == shop.issue("a", 1).comments[0]
    assert record(shop)["pr"] == "#42 (afk-bot, branch afk/issue-7)"

    # An object, with the number alone (author and branch unknown).
    shop.ci["a", 1] = types.SimpleNamespace(pr=afk.PR_OPEN, head="h2",
                                            ci="pending", pr_number=43,
                                            pr_author="", pr_branch=None)
    a = one(watcher.run_once(cfg, now=T0 + 60), "wait")
    assert "Pull request: #43.\n" in a.checklist

    # None named: the checklist names none.
    shop.ci["a", 1] = {"pr": "open", "head": "h3", "ci": "pending"}
    a = one(watcher.run_once(cfg, now=T0 + 120), "wait")
    assert "Pull request:" not in a.checklist


def test_phase_names_accept_underscores(shop, cfg, watcher):
    start(shop, cfg)
    shop.snap["thread-a-1"] = {"state": "running", "phase": "tests_red"}
    assert one(watcher.run_once(cfg, now=T0), "wait").phase == "tests-red"
    shop.snap["thread-a-1"] = {"state": "running",
                               "phase": afk.Phase(afk.PHASE_GREEN)}
    assert one(watcher.run_once(cfg, now=T0), "wait").phase == "green"


# --- the Poller and upsert_comment ---------------------------------------

def test_tracker_lacking_upsert_comment_still_polls():
    w = World()  # conftest's tracker: list_ready and add_label only
    assert not hasattr(w.tracker, "upsert_comment")
    w.add("a", 1)
    result = afk.Poller(tracker=w.tracker, t3_client=w.agent).run_once(
        armed("a"))
    assert [d.thread_id for d in result] == ["thread-a-1"]
    assert [e.kind for e in w.events] == ["L", "D", "A"]


def test_upsert_comment_is_looked_for_when_the_poller_is_made():
    w = World()
    w.add("a", 1)
    poller = afk.Poller(tracker=w.tracker, t3_client=w.agent)
    bodies = []
    w.tracker.upsert_comment = lambda *args: bodies.append(args)
    poller.run_once(armed("a"))
    assert bodies == []  # added after: not registered
    w.issues = [afk.Issue("a", 2, labels=("ready-for-agent",),
                          labeled_by_trusted=True)]
    afk.Poller(tracker=w.tracker, t3_client=w.agent).run_once(armed("a"))
    assert [b[:3] for b in bodies] == [("a", 2, MARKER)]
    assert "thread-a-2" in bodies[0][3]


def test_failed_record_write_in_the_poller(shop, cfg):
    shop.add("a", 1)
    shop.add("b", 2)
    exc = ConnectionError("comments API down")
    shop.fail_next("upsert_comment", exc)
    poller = poller_of(shop)
    with pytest.raises(ConnectionError) as ei:
        poller.run_once(armed("a", "b"))
    assert ei.value is exc
    # The agent runs and the repository is locked, but no record: say so.
    # The tick goes on with b (issue 9 item 3: it used to stop there).
    assert [d.thread_id for d in poller.last_result] == \
        ["thread-a-1", "thread-b-2"]
    assert [(e.repo, e.number) for e in poller.last_result.errors] == \
        [("a", 1)]
    msg = poller.last_error
    assert "a#1" in msg and "record was not written" in msg
    assert "tracker.upsert_comment raised ConnectionError" in msg
    assert IN_PROGRESS in shop.labels("a", 1)
    # ... and the watch tick hands that run to a human.
    a = watcher_of(shop).run_once(cfg, now=T0)
    assert [(x.number, x.action, x.reason.code) for x in a] == \
        [(1, "escalate", afk.ESCALATE_NO_RECORD)]


# --- generations: a run that ended is over (issue 10) --------------------

class GenerationAgent:
    """An agent that names its threads by generation, as the built-in
    T3 one does: thread-<repo>-<n>, then -2, -3 ...  Its dispatch takes
    the generation keyword; the shop's agent, whose dispatch does not,
    serves the snapshots."""

    def __init__(self, shop):
        self.shop = shop
        self.generations = []

    def dispatch(self, repo, issue, prompt, generation=1):
        self.generations.append(generation)
        self.shop.enter("dispatch", repo, issue, prompt)
        tid = "thread-%s-%d" % (repo, issue)
        return tid if generation == 1 else "%s-%d" % (tid, generation)

    def snapshot(self, thread_id):
        return self.shop.agent.snapshot(thread_id)

    def send_turn(self, thread_id, prompt):
        return self.shop.agent.send_turn(thread_id, prompt)


def test_ready_again_after_escalation_runs_afresh(shop, cfg):
    agent = GenerationAgent(shop)
    poller = afk.Poller(tracker=shop.tracker, t3_client=agent)
    watcher = afk.Watcher(tracker=shop.tracker, t3_client=agent,
                          ci=shop.ci_, notifier=shop.notifier)
    shop.add("a", 1)
    assert [d.thread_id for d in poller.run_once(cfg)] == ["thread-a-1"]
    # the agent waits on an approval, and will wait on it for ever
    shop.snap["thread-a-1"] = {"state": "waiting_approval"}
    a = one(watcher.run_once(cfg, now=T0), "escalate")
    assert a.reason.code == afk.ESCALATE_AGENT_WAITING
    assert shop.count("notify") == 1
    # a trusted user makes it ready again: the second run, a fresh thread
    shop.labels("a", 1).append(READY)
    assert [d.thread_id for d in poller.run_once(cfg)] == ["thread-a-1-2"]
    assert agent.generations == [1, 2]
    assert record(shop)["generation"] == 2
    assert record(shop)["thread"] == "thread-a-1-2"
    a = one(watcher.run_once(cfg, now=T0 + 60), "wait")
    assert a.thread_id == "thread-a-1-2"
    assert shop.count("notify") == 1
    assert IN_PROGRESS in shop.labels("a", 1)


@pytest.mark.parametrize("signature, passed", [
    ("repo, issue, prompt", False),
    ("repo, issue, prompt, generation", True),
    ("repo, issue, prompt, *, generation=1", True),
    ("repo, issue, prompt, **kw", True),
    ("repo, issue, prompt, generations=1", False),
])
def test_generation_keyword_only_when_dispatch_takes_it(signature, passed):
    w = World()
    seen = []
    ns = {"seen": seen}
    exec("def dispatch(%s):\n"
         "    seen.append(%s)\n"
         "    return 'thread'\n"
         % (signature, "locals().get('generation', locals().get('kw'))"
            if passed else "None"), ns)
    w.agent.dispatch = ns["dispatch"]
    w.add("a", 1)
    result = afk.Poller(tracker=w.tracker, t3_client=w.agent).run_once(
        armed("a"))
    assert [d.thread_id for d in result] == ["thread"]
    if passed:
        assert seen in ([1], [{"generation": 1}])
    else:
        assert seen == [None]


def test_failed_find_comment_dispatches_nothing(shop, cfg):
    shop.add("a", 1)
    exc = ConnectionError("comments API down")
    shop.fail_next("find_comment", exc)
    poller = poller_of(shop)
    with pytest.raises(ConnectionError) as ei:
        poller.run_once(cfg)
    assert ei.value is exc
    assert shop.count("dispatch") == 0
    assert "tracker.find_comment raised ConnectionError" in \
        poller.last_error
    assert IN_PROGRESS not in shop.labels("a", 1)


# --- end to end ----------------------------------------------------------

def test_poll_then_watch_end_to_end(shop):
    cfg = armed("a", "b", fix_forward_budget=1, stall_timeout=3600)
    for n, prio in ((1, 2), (2, 1)):
        shop.add("a", n, priority=prio)
    shop.add("b", 7)
    poller, watcher = poller_of(shop), watcher_of(shop)

    got = poller.run_once(cfg)
    assert sorted((d.issue.repo, d.issue.number) for d in got) == \
        [("a", 1), ("b", 7)]
    acts = watcher.run_once(cfg, now=T0)
    assert sorted((x.repo, x.number, x.action) for x in acts) == \
        [("a", 1, "wait"), ("b", 7, "wait")]
    # a#2 waits for the lock: the watcher does not see it.
    assert all(x.issue in shop.listed for x in acts)

    # a#1 delivers; b#7 fails CI twice and goes to a human.
    shop.snap["thread-a-1"] = {"state": "completed", "phase": "pushed"}
    shop.ci["a", 1] = {"pr": "merged", "head": "a1", "ci": "success"}
    shop.snap["thread-b-7"] = {"state": "completed", "phase": "pushed"}
    shop.ci["b", 7] = {"pr": "open", "head": "b1", "ci": "failure",
                       "failing": ["unit"]}
    acts = watcher.run_once(cfg, now=T0 + 60)
    assert {(x.repo, x.action) for x in acts} == \
        {("a", "close"), ("b", "fix-forward")}
    shop.ci["b", 7] = dict(shop.ci["b", 7], head="b2")
    acts = watcher.run_once(cfg, now=T0 + 120)
    assert [(x.repo, x.action, x.reason.code) for x in acts] == \
        [("b", "escalate", afk.ESCALATE_CI_FAILED)]
    assert [c[1:3] for c in shop.calls("notify")] == [("b", 7)]

    # The locks are gone: the next poll takes a#2; b#7 is the humans'.
    got = poller.run_once(cfg)
    assert [(d.issue.repo, d.issue.number) for d in got] == [("a", 2)]
    acts = watcher.run_once(cfg, now=T0 + 180)
    assert [(x.repo, x.number, x.action, x.thread_id) for x in acts] == \
        [("a", 2, "wait", "thread-a-2")]
    assert shop.count("dispatch") == 3 and shop.count("notify") == 1
    assert not shop.issue("a", 1).open and shop.issue("b", 7).open
    for key in (("a", 1), ("a", 2), ("b", 7)):
        assert shop.issues[key].comments_made == 1


def test_only_allowlisted_runs_are_watched(shop, cfg, watcher):
    start(shop, cfg)
    shop.add("b", 2, labels=(IN_PROGRESS,))
    acts = watcher.run_once(cfg, now=T0)
    assert [(x.repo, x.number) for x in acts] == [("a", 1)]
    assert ("find_comment", "b", 2, MARKER) not in shop.log


# --- the Watcher object --------------------------------------------------

def test_actions_outlive_the_watcher_and_adapters(cfg):
    shop = Shop()
    start(shop, cfg)
    shop.snap["thread-a-1"] = {"state": "errored"}
    watcher = watcher_of(shop)
    acts = watcher.run_once(cfg, now=T0)
    issue = shop.listed[0]
    ref = weakref.ref(watcher)
    del watcher, shop
    gc.collect()
    assert ref() is None
    a = acts[0]
    assert a.issue is issue and a.issue.repo == "a"
    assert a.reason.code == afk.ESCALATE_AGENT_FAILED
    assert "**Needs a human**" in a.checklist
    # Plain Python: picklable, comparable.
    back = pickle.loads(pickle.dumps(acts))
    assert back == acts and back[0].reason.code == a.reason.code
    assert back[0].repo == "a" and back[0].number == 1
    # The Issue's own handle still works.
    assert afk.Issue._from_handle(a.issue._h) == issue


def test_watcher_is_freed_without_close(shop):
    w = watcher_of(shop)
    ref = weakref.ref(w)
    del w
    assert ref() is None  # no reference cycle: freed at once


def test_watcher_in_a_cycle_with_its_adapters_is_collected(cfg):
    shop = Shop()
    shop.watcher = watcher_of(shop)
    ref = weakref.ref(shop.watcher)
    shop.watcher.run_once(cfg, now=T0)
    del shop
    gc.collect()
    assert ref() is None


def test_watcher_properties_and_context_manager(shop, cfg):
    with watcher_of(shop) as w:
        assert (w.tracker, w.t3_client, w.ci, w.notifier) == \
            (shop.tracker, shop.agent, shop.ci_, shop.notifier)
        assert w.last_result is None and w.last_error == ""
        assert w.run_once(cfg, now=T0) == []
    with pytest.raises(ValueError, match="closed"):
        w.run_once(cfg, now=T0)
    assert w.last_result is None and "closed" in w.last_error
    w.close()  # twice is a no-op


def test_watcher_cannot_be_copied(watcher):
    import copy
    with pytest.raises(TypeError):
        copy.copy(watcher)
    with pytest.raises(TypeError):
        pickle.dumps(watcher)


def test_run_once_needs_a_config(watcher):
    with pytest.raises(TypeError, match="afk.Config"):
        watcher.run_once({"kill_switch": False}, now=T0)
    assert watcher.last_result is None


def test_reentry_is_refused(shop, cfg, watcher):
    start(shop, cfg)
    seen = []

    def reenter(method):
        if method == "snapshot":
            with pytest.raises(afk.ReentrancyError) as ei:
                watcher.run_once(cfg, now=T0)
            seen.append(ei.value)
    shop.on_call = reenter
    one(watcher.run_once(cfg, now=T0), "wait")
    assert len(seen) == 1 and seen[0].code == afk.ERECURSIVE
    assert "inside one of its own callbacks" in str(seen[0])
    assert shop.count("list_ready") == 1


def test_close_inside_tick_is_refused(shop, cfg, watcher):
    start(shop, cfg)
    errors = []

    def close(method):
        if method == "status":
            try:
                watcher.close()
            except RuntimeError as e:
                errors.append(e)
    shop.on_call = close
    one(watcher.run_once(cfg, now=T0), "wait")
    assert len(errors) == 1


def test_a_poll_inside_a_watch_callback_is_allowed(shop, cfg, watcher):
    # Distinct handles: only a tick's own re-entry is refused.
    start(shop, cfg)
    shop.add("b", 2)
    poller = poller_of(shop)
    got = []
    shop.on_call = lambda m: got.append(poller.run_once(armed("b"))) \
        if m == "notify" else None
    shop.snap["thread-a-1"] = {"state": "stopped"}
    one(watcher.run_once(cfg, now=T0), "escalate")
    assert [d.thread_id for d in got[0]] == ["thread-b-2"]


def test_methods_are_looked_up_at_call_time(shop, cfg):
    class Late:
        pass
    late = Late()
    w = afk.Watcher(tracker=shop.tracker, t3_client=shop.agent, ci=late,
                    notifier=shop.notifier)
    start(shop, cfg)
    # Issue 9 item 13: an armed tick checks first, and calls nothing.
    calls = len(shop.log)
    with pytest.raises(TypeError, match="ci.status"):
        w.run_once(cfg, now=T0)
    assert len(shop.log) == calls
    assert "ci.status is missing" in w.last_error
    assert w.last_result is None
    assert IN_PROGRESS in shop.labels("a", 1)
    late.status = lambda repo, issue: None
    one(w.run_once(cfg, now=T0), "wait")


def test_threads_take_turns(shop, cfg):
    start(shop, cfg)
    watcher = watcher_of(shop)
    results, errors = [], []

    def run():
        try:
            for _ in range(25):
                results.append(watcher.run_once(cfg, now=T0))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 100
    assert all([x.action for x in r] == ["wait"] for r in results)
    assert shop.issue("a", 1).comments_made == 1
