"""One repository's fault is its own (libafk issue 9, item 3): a host
method raising for one repository does not stop the tick for the others;
run_once() raises the first exception, unchanged, after the tick, and
every failure is on last_result.errors."""

import pytest

import afk
from conftest import armed, dispatched, skip_reason
from watchfakes import IN_PROGRESS, T0, Shop, poller_of, watcher_of


class AgentDown(Exception):
    pass


class Host:
    """A tracker and an agent over one ready issue per repository; fail
    maps (method, repo) to the exception that call raises."""

    def __init__(self, repos, fail=None):
        self.repos = repos
        self.fail = fail or {}
        self.calls = []
        self.labels = set()

    def _enter(self, method, repo):
        self.calls.append((method, repo))
        exc = self.fail.get((method, repo))
        if exc is not None:
            raise exc

    def list_ready(self, repos):
        return [afk.Issue(r, n, labeled_by_trusted=True)
                for n, r in enumerate(self.repos, 1)]

    def add_label(self, repo, issue, label):
        self._enter("add_label", repo)
        self.labels.add((repo, issue))

    def dispatch(self, repo, issue, prompt):
        self._enter("dispatch", repo)
        return "t-%s" % repo


def test_dispatch_exception_spares_the_next_repository():
    first = AgentDown("a is down")
    second = AgentDown("c's label")
    host = Host(["a", "b", "c"], {("dispatch", "a"): first,
                                  ("add_label", "c"): second})
    poller = afk.Poller(tracker=host, t3_client=host)
    with pytest.raises(AgentDown) as ei:
        poller.run_once(armed("a", "b", "c"))
    assert ei.value is first  # the first one, the very object
    result = poller.last_result
    assert dispatched(result, "b", 2) and dispatched(result, "c", 3)
    assert ("b", 2) in host.labels and ("a", 1) not in host.labels
    assert skip_reason(result, "a", 1) == afk.SKIP_DISPATCH_FAILED
    errs = result.errors
    assert [(e.repo, e.number, e.code) for e in errs] == \
        [("a", 1, afk.ECALLBACK), ("c", 3, afk.ELABEL)]
    assert "t3_client.dispatch raised AgentDown: a is down" in \
        errs[0].message
    assert "tracker.add_label raised AgentDown: c's label" in \
        errs[1].message
    assert all(isinstance(e, afk.Failure) for e in errs)
    # The first failure is the tick's message.
    assert poller.last_error == errs[0].message


@pytest.mark.parametrize("exc", [ConnectionRefusedError(111, "refused"),
                                 TimeoutError("timed out")])
def test_unreachable_agent_is_asked_once(exc):
    host = Host(["a", "b", "c"], {("dispatch", "a"): exc})
    poller = afk.Poller(tracker=host, t3_client=host)
    with pytest.raises(type(exc)) as ei:
        poller.run_once(armed("a", "b", "c"))
    assert ei.value is exc
    assert host.calls == [("dispatch", "a")]
    result = poller.last_result
    assert skip_reason(result, "b", 2) == afk.SKIP_AGENT_UNAVAILABLE
    assert skip_reason(result, "c", 3) == afk.SKIP_AGENT_UNAVAILABLE
    assert [(e.repo, e.code) for e in result.errors] == \
        [("a", afk.EUNAVAIL)]


def test_keyboard_interrupt_starts_no_new_agent():
    # The host wants out: b is not dispatched, and nothing is left
    # dispatched without its lock.
    host = Host(["a", "b"], {("dispatch", "a"): KeyboardInterrupt()})
    poller = afk.Poller(tracker=host, t3_client=host)
    with pytest.raises(KeyboardInterrupt):
        poller.run_once(armed("a", "b"))
    assert host.calls == [("dispatch", "a")]
    assert "interrupted by KeyboardInterrupt" in \
        poller.last_result.errors[1].message


def test_success_has_no_errors_and_last_result_is_set_every_run():
    host = Host(["a"])
    poller = afk.Poller(tracker=host, t3_client=host)
    r = poller.run_once(armed("a"))
    assert r.errors == [] and poller.last_result is r
    host.fail[("dispatch", "a")] = AgentDown("x")
    host.labels.clear()
    with pytest.raises(AgentDown):
        poller.run_once(armed("a"))
    assert poller.last_result is not r
    assert [e.repo for e in poller.last_result.errors] == ["a"]


def test_whole_listing_failure_is_an_error_of_no_repository():
    class Down(Host):
        def list_ready(self, repos):
            raise AgentDown("tracker down")

    host = Down(["a"])
    poller = afk.Poller(tracker=host, t3_client=host)
    with pytest.raises(AgentDown):
        poller.run_once(armed("a"))
    assert [(e.repo, e.number, e.code) for e in
            poller.last_result.errors] == [("", 0, afk.ECALLBACK)]


def test_result_with_errors_pickles():
    import pickle

    host = Host(["a", "b"], {("dispatch", "a"): AgentDown("x")})
    poller = afk.Poller(tracker=host, t3_client=host)
    with pytest.raises(AgentDown):
        poller.run_once(armed("a", "b"))
    r = poller.last_result
    back = pickle.loads(pickle.dumps(r))
    assert back.errors == r.errors and list(back) == list(r)


# --- the watch tick ----------------------------------------------------------

def test_watch_reports_every_failing_run():
    shop = Shop()
    shop.add("a", 1)
    shop.add("b", 2)
    poller_of(shop).run_once(armed("a", "b"))
    boom = AgentDown("snapshot failed")
    calls = []

    def on_call(method):
        calls.append(method)
        if method == "snapshot" and calls.count("snapshot") == 1:
            raise boom
    shop.on_call = on_call
    w = watcher_of(shop)
    with pytest.raises(AgentDown) as ei:
        w.run_once(armed("a", "b"), now=T0)
    assert ei.value is boom
    acts = w.last_result
    assert isinstance(acts, afk.Actions)
    assert [(a.repo, a.number) for a in acts] == [("b", 2)]
    assert [(e.repo, e.number, e.code) for e in acts.errors] == \
        [("a", 1, afk.ECALLBACK)]
    assert IN_PROGRESS in shop.labels("a", 1)


def test_watch_disarmed_checks_nothing():
    class Bare:
        pass

    w = afk.Watcher(tracker=Bare(), t3_client=Bare(), ci=Bare(),
                    notifier=Bare())
    acts = w.run_once(afk.Config(), now=T0)
    assert acts == [] and acts.errors == []
