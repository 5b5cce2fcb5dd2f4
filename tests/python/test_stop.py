"""Stopping a run a human took back, through the Python binding: a host
tracker with list_closed and a host agent with stop (both optional), the
"stop" action with its afk.StopReason, a failing stop finished by the
next tick, and the constants."""

import pytest

import afk
from watchfakes import (HUMAN, IN_PROGRESS, READY, T0, Agent, Shop, Tracker,
                        armed, poller_of)

MARKER = "<!-- afk-run:"


class ClosedTracker(Tracker):
    """The fake tracker, able to list closed issues too."""

    def list_closed(self, repos, label):
        assert type(label) is str
        s = self.s
        s.enter("list_closed", list(repos), label)
        return [afk.Issue(it.repo, it.number, labels=it.labels)
                for it in s.issues.values()
                if not it.open and it.repo in repos and label in it.labels]


class StoppableAgent(Agent):
    def stop(self, repo, issue, thread_id):
        assert type(repo) is str and type(issue) is int
        assert type(thread_id) is str
        self.s.enter("stop", repo, issue, thread_id)


@pytest.fixture
def shop():
    s = Shop()
    s.tracker = ClosedTracker(s)
    s.agent = StoppableAgent(s)
    return s


@pytest.fixture
def cfg():
    return armed("a")


def watcher(shop):
    return afk.Watcher(tracker=shop.tracker, t3_client=shop.agent,
                       ci=shop.ci_, notifier=shop.notifier)


def running(shop, cfg):
    """a#1 dispatched and watched once (its clock started)."""
    shop.add("a", 1)
    with poller_of(shop) as p:
        assert len(p.run_once(cfg)) == 1
    with watcher(shop) as w:
        acts = w.run_once(cfg, now=T0)
    assert [a.action.code for a in acts] == [afk.ACTION_WAIT]
    return shop.issue("a", 1)


def take_back(issue, how):
    if how == "close":
        issue.open = False
        return afk.STOP_CLOSED
    if how == "human":
        issue.labels.append(HUMAN)
        return afk.STOP_HUMAN_LABEL
    issue.labels.remove(IN_PROGRESS if how == "unlock" else READY)
    return afk.STOP_UNLOCKED


@pytest.mark.parametrize("how", ["close", "human", "unlock", "unready"])
def test_each_trigger_stops_once(shop, cfg, how):
    issue = running(shop, cfg)
    reason = take_back(issue, how)
    with watcher(shop) as w:
        acts = w.run_once(cfg, now=T0 + 60)
        assert len(acts) == 1
        a = acts[0]
        assert a.action == "stop" and a.action.code == afk.ACTION_STOP
        assert isinstance(a.stop_reason, afk.StopReason)
        assert a.stop_reason.code == reason
        assert a.stop_reason == afk.StopReason(reason)
        assert a.reason is None
        assert a.thread_id == "thread-a-1"
        assert "**Stopped**" in a.checklist
        assert shop.calls("stop") == [("stop", "a", 1, "thread-a-1")]
        assert IN_PROGRESS not in issue.labels
        assert READY not in issue.labels
        # once: the next tick does nothing with it
        assert list(w.run_once(cfg, now=T0 + 120)) == []
    assert shop.count("stop") == 1
    if how == "close":
        assert shop.count("list_closed") == 3  # once per watch tick


def test_failing_stop_is_finished_by_the_next_tick(shop, cfg):
    issue = running(shop, cfg)
    take_back(issue, "human")
    shop.fail_next("stop", RuntimeError("agent down"))
    with watcher(shop) as w:
        with pytest.raises(RuntimeError, match="agent down"):
            w.run_once(cfg, now=T0 + 60)
        assert IN_PROGRESS in issue.labels          # still locked
        assert "**Stopping**" in issue.comments[0]
        acts = w.run_once(cfg, now=T0 + 120)
    assert [a.stop_reason.code for a in acts] == [afk.STOP_HUMAN_LABEL]
    assert shop.done("stop") == 1
    assert IN_PROGRESS not in issue.labels


def test_without_the_optional_methods(cfg):
    """A plain tracker and agent: no list_closed, no stop.  A human label
    still stops the run; the checklist says the agent could not be
    stopped."""
    shop = Shop()
    issue = running(shop, cfg)
    take_back(issue, "human")
    with watcher(shop) as w:
        acts = w.run_once(cfg, now=T0 + 60)
    assert acts[0].stop_reason.code == afk.STOP_HUMAN_LABEL
    assert "could not be stopped" in issue.comments[0]
    assert IN_PROGRESS not in issue.labels


def test_list_closed_failure_is_one_error(shop, cfg):
    running(shop, cfg)
    shop.fail_next("list_closed", ValueError("closed issues unreadable"))
    with watcher(shop) as w:
        with pytest.raises(ValueError, match="unreadable"):
            w.run_once(cfg, now=T0 + 60)
        assert [a.action.code for a in w.last_result] == [afk.ACTION_WAIT]


def test_constants():
    assert (afk.ACTION_STOP, afk.STOP_CLOSED, afk.STOP_HUMAN_LABEL,
            afk.STOP_UNLOCKED, afk.SKIP_STOPPING) == (5, 1, 2, 3, 12)
    assert afk.StopReason(afk.STOP_CLOSED) == "the issue was closed"
    assert afk.ActionKind(afk.ACTION_STOP) == "stop"
    assert afk.SkipReason(afk.SKIP_STOPPING).code == afk.SKIP_STOPPING
    assert "stopped" in afk.SkipReason(afk.SKIP_STOPPING)
