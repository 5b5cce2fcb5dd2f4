"""The cost budget through the Python binding: a host agent's snapshot
reports usage (tokens_in, tokens_out, cost_microusd); past the budget of
the configuration the run is escalated with afk.ESCALATE_BUDGET and the
agent's stop is called, once."""

import pytest

import afk
from watchfakes import HUMAN, IN_PROGRESS, T0, Agent, Shop, armed, poller_of


class StoppableAgent(Agent):
    def stop(self, repo, issue, thread_id):
        assert type(repo) is str and type(issue) is int
        self.s.enter("stop", repo, issue, thread_id)


@pytest.fixture
def shop():
    s = Shop()
    s.agent = StoppableAgent(s)
    return s


def watcher(shop):
    return afk.Watcher(tracker=shop.tracker, t3_client=shop.agent,
                       ci=shop.ci_, notifier=shop.notifier)


def dispatched(shop, cfg):
    shop.add("a", 1)
    with poller_of(shop) as p:
        assert len(p.run_once(cfg)) == 1


def test_over_budget_escalates_and_stops_the_agent_once(shop):
    cfg = armed("a", budget={"tokens": 1000, "cost_usd": 2.5})
    assert cfg.budget == {"tokens": 1000, "cost_usd": 2.5}
    dispatched(shop, cfg)
    shop.snap["thread-a-1"] = {"state": "running", "phase": "green",
                               "tokens_in": 600, "tokens_out": 400,
                               "cost_microusd": 2500000}
    with watcher(shop) as w:
        acts = w.run_once(cfg, now=T0)
    assert [a.action.code for a in acts] == [afk.ACTION_WAIT]
    assert shop.count("stop") == 0
    issue = shop.issue("a", 1)
    assert "Usage: 600 tokens in, 400 out, $2.50; budget: 1,000 tokens, " \
        "$2.50." in issue.comments[0]

    # one token more: over budget
    shop.snap["thread-a-1"] = {"state": "running", "phase": "green",
                               "tokens_in": 601}
    with watcher(shop) as w:
        acts = w.run_once(cfg, now=T0 + 60)
    assert [a.action.code for a in acts] == [afk.ACTION_ESCALATE]
    assert acts[0].reason.code == afk.ESCALATE_BUDGET
    assert acts[0].reason == "over its cost budget"
    assert shop.calls("stop") == [("stop", "a", 1, "thread-a-1")]
    assert HUMAN in issue.labels and IN_PROGRESS not in issue.labels
    assert "the agent was stopped" in issue.comments[0]

    with watcher(shop) as w:
        assert list(w.run_once(cfg, now=T0 + 120)) == []
    assert shop.count("stop") == 1


def test_a_snapshot_without_usage_is_never_over_budget(shop):
    cfg = armed("a", budget={"tokens": 1})
    dispatched(shop, cfg)
    with watcher(shop) as w:
        acts = w.run_once(cfg, now=T0)
    assert [a.action.code for a in acts] == [afk.ACTION_WAIT]
    assert shop.count("stop") == 0


def test_budget_is_checked_by_the_library():
    with pytest.raises(ValueError, match="budget.tokens"):
        armed("a", budget={"tokens": 0})
    with pytest.raises(ValueError, match="unknown member of budget"):
        armed("a", budget={"dollars": 5})
    assert afk.Config().budget == {}


def test_a_snapshots_reason_is_named_by_the_escalation(shop):
    # Not the budget: any escalation for the agent's state names what the
    # snapshot said of it, in the checklist and the notification.
    cfg = armed("a")
    dispatched(shop, cfg)
    shop.snap["thread-a-1"] = {"state": "errored",
                               "reason": "OOMKilled\nexit 137"}
    with watcher(shop) as w:
        acts = w.run_once(cfg, now=T0)
    assert [a.action.code for a in acts] == [afk.ACTION_ESCALATE]
    assert acts[0].reason.code == afk.ESCALATE_AGENT_FAILED
    assert "**Needs a human**: the agent failed (`OOMKilled exit 137`)." \
        in shop.issue("a", 1).comments[0]
    (_, _, _, message, _), = shop.calls("notify")
    assert message.endswith("the agent failed (OOMKilled exit 137).")


def test_a_reason_that_is_no_str_fails_the_snapshot(shop):
    cfg = armed("a")
    dispatched(shop, cfg)
    shop.snap["thread-a-1"] = {"state": "errored", "reason": 137}
    with watcher(shop) as w:
        with pytest.raises(TypeError, match="reason"):
            w.run_once(cfg, now=T0)
