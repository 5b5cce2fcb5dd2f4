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


# --- what list_ready could not read: afk.ListingFailure -----------------------

class Partial(Host):
    """list_ready returns the issues of Host and then extra, its
    afk.ListingFailure objects (or anything else)."""

    def __init__(self, repos, extra, fail=None):
        Host.__init__(self, repos, fail)
        self.extra = extra

    def list_ready(self, repos):
        return Host.list_ready(self, repos) + list(self.extra)


def test_unlisted_repository_dispatches_nothing_and_is_reported():
    # a's listing failed part-way: what was listed of it (a#1) says
    # nothing of its locks, so nothing of a is dispatched; b is.
    host = Partial(["a", "b"], [afk.ListingFailure("a",
                                                   message="HTTP 502")])
    poller = afk.Poller(tracker=host, t3_client=host)
    with pytest.raises(afk.Error) as ei:
        poller.run_once(armed("a", "b"))
    result = poller.last_result
    assert ei.value.result is result and ei.value.code == afk.EIO
    assert [(d.issue.repo, d.issue.number) for d in result] == [("b", 2)]
    assert host.calls == [("dispatch", "b"), ("add_label", "b")]
    assert skip_reason(result, "a", 1) == afk.SKIP_REPO_FAILED
    assert result.skipped[0][1] == "its repository could not be listed"
    assert result.errors == [afk.Failure("a", 0, afk.EIO, "HTTP 502")]
    assert "a" in poller.last_error and "HTTP 502" in poller.last_error


def test_unvetted_issue_is_skipped_and_reported():
    host = Partial(["a", "b"], [afk.ListingFailure(
        "b", 2, message="timeline unreadable", code=afk.EUNAVAIL)])
    poller = afk.Poller(tracker=host, t3_client=host)
    with pytest.raises(afk.Error) as ei:
        poller.run_once(armed("a", "b"))
    assert ei.value.code == afk.EUNAVAIL
    result = poller.last_result
    assert [(d.issue.repo, d.issue.number) for d in result] == [("a", 1)]
    # b#2 was listed as trusted: the failure to vet it wins.
    assert skip_reason(result, "b", 2) == afk.SKIP_UNVETTED
    assert [(e.repo, e.number, e.code, e.message) for e in result.errors] \
        == [("b", 2, afk.EUNAVAIL, "timeline unreadable")]


def test_listing_failure_without_message_gets_the_librarys():
    host = Partial(["a", "b"], [afk.ListingFailure("a"),
                                afk.ListingFailure("b", 2)])
    poller = afk.Poller(tracker=host, t3_client=host)
    with pytest.raises(afk.Error):
        poller.run_once(armed("a", "b"))
    errs = poller.last_result.errors
    assert [(e.repo, e.number, e.code) for e in errs] == \
        [("a", 0, afk.EIO), ("b", 2, afk.EIO)]
    assert "could not be listed" in errs[0].message
    assert "#2 could not be vetted" in errs[1].message
    assert poller.last_result == []


def test_listing_failures_may_be_yielded_among_issues():
    class Tracker:
        def list_ready(self, repos):
            for n, repo in enumerate(repos, 1):
                if repo == "down":
                    yield afk.ListingFailure(repo, message="refused")
                else:
                    yield afk.Issue(repo, n, labeled_by_trusted=True)

        def add_label(self, repo, issue, label):
            pass

        def dispatch(self, repo, issue, prompt):
            return "t"

    poller = afk.Poller(tracker=Tracker(), t3_client=Tracker())
    with pytest.raises(afk.Error):
        poller.run_once(armed("a", "down", "c"))
    result = poller.last_result
    assert [d.issue.repo for d in result] == ["a", "c"]
    assert [(e.repo, e.message) for e in result.errors] == \
        [("down", "refused")]


@pytest.mark.parametrize("bad", ["a", ("a", 0), afk.Failure("a", 0, -4, "x"),
                                 None, ValueError("a is down")])
def test_list_ready_items_must_be_issues_or_listing_failures(bad):
    host = Partial(["a", "b"], [afk.ListingFailure("b"), bad])
    poller = afk.Poller(tracker=host, t3_client=host)
    with pytest.raises(TypeError, match="tracker.list_ready must return "
                       "afk.Issue and afk.ListingFailure objects, not %s"
                       % type(bad).__name__):
        poller.run_once(armed("a", "b"))
    # The whole listing failed: nothing was dispatched anywhere.
    assert host.calls == []
    assert [(e.repo, e.code) for e in poller.last_result.errors] == \
        [("", afk.ECALLBACK)]
    assert "tracker.list_ready raised TypeError" in poller.last_error


def test_list_ready_must_return_an_iterable():
    class NoList(Host):
        def list_ready(self, repos):
            return None

    host = NoList(["a"])
    poller = afk.Poller(tracker=host, t3_client=host)
    with pytest.raises(TypeError, match="tracker.list_ready must return an "
                       "iterable .* not NoneType"):
        poller.run_once(armed("a"))
    assert host.calls == []


@pytest.mark.parametrize("args, kw, exc_type, words", [
    (("",), {}, ValueError, "repo must not be empty"),
    ((b"a",), {}, TypeError, "repo must be a str"),
    (("a\0b",), {}, ValueError, "NUL"),
    (("a", -1), {}, ValueError, "number must be 0"),
    (("a", True), {}, TypeError, "number must be an int"),
    (("a", "1"), {}, TypeError, "number must be an int"),
    (("a", 2 ** 64), {}, ValueError, "number must be 0"),
    (("a",), {"code": 0}, ValueError, "negative"),
    (("a",), {"code": 5}, ValueError, "negative"),
    (("a",), {"code": -2 ** 31 - 1}, ValueError, "negative"),
    (("a",), {"code": "EIO"}, TypeError, "code must be an int"),
    (("a",), {"message": b"x"}, TypeError, "message must be a str"),
    (("a",), {"message": "x\0y"}, ValueError, "NUL"),
])
def test_listing_failure_refuses_bad_values(args, kw, exc_type, words):
    with pytest.raises(exc_type, match="ListingFailure: .*" + words):
        afk.ListingFailure(*args, **kw)


def test_listing_failure_is_an_immutable_value():
    import pickle

    f = afk.ListingFailure("acme/api", 7, message="why")
    assert (f.repo, f.number, f.message, f.code) == \
        ("acme/api", 7, "why", afk.EIO)
    assert afk.ListingFailure("a").number == 0
    assert afk.ListingFailure("a").message is None
    assert f == afk.ListingFailure("acme/api", 7, "why", afk.EIO)
    assert f != afk.ListingFailure("acme/api", 7, "why", afk.EUNAVAIL)
    assert hash(f) == hash(afk.ListingFailure("acme/api", 7, "why"))
    assert pickle.loads(pickle.dumps(f)) == f
    assert repr(f) == ("afk.ListingFailure('acme/api', 7, message='why', "
                       "code=-4)")
    with pytest.raises(AttributeError, match="immutable"):
        f.number = 8
    assert not isinstance(f, BaseException)  # returned, never raised
    assert "ListingFailure" in afk.__all__


def test_watch_tick_reports_a_listing_failure_and_watches_the_rest():
    shop = Shop()
    shop.add("a", 1)
    shop.add("b", 2)
    poller_of(shop).run_once(armed("a", "b"))
    listed = shop.tracker.list_ready

    def partial(repos):
        return listed(repos) + [afk.ListingFailure("b", message="b down")]
    shop.tracker.list_ready = partial
    w = watcher_of(shop)
    with pytest.raises(afk.Error) as ei:
        w.run_once(armed("a", "b"), now=T0)
    acts = w.last_result
    assert ei.value.result is acts
    # A run listed in a repository whose listing failed in part is
    # known to carry the lock: it is watched too.
    assert [(a.repo, a.number) for a in acts] == [("a", 1), ("b", 2)]
    assert acts.errors == [afk.Failure("b", 0, afk.EIO, "b down")]
    assert "b down" in w.last_error


def test_watch_tick_refuses_bad_listing_items():
    shop = Shop()
    shop.add("a", 1)
    poller_of(shop).run_once(armed("a"))
    shop.tracker.list_ready = lambda repos: [42]
    w = watcher_of(shop)
    with pytest.raises(TypeError, match="tracker.list_ready must return "
                       "afk.Issue and afk.ListingFailure objects, not int"):
        w.run_once(armed("a"), now=T0)
    assert shop.count("snapshot") == 0


def test_max_in_flight_caps_the_poll_as_in_c():
    """The global cap is the library's rule, so the binding keeps it too:
    a#1 holds the lock (one run in flight), and max_in_flight=2 leaves
    room for one more, the first of b, c in allowlist order."""
    class Capped(Host):
        def list_ready(self, repos):
            return [afk.Issue("a", 1, labels=[IN_PROGRESS],
                              labeled_by_trusted=True),
                    afk.Issue("c", 3, labeled_by_trusted=True),
                    afk.Issue("b", 2, labeled_by_trusted=True)]

    host = Capped(["a", "b", "c"])
    poller = afk.Poller(tracker=host, t3_client=host)
    poller.run_once(armed("a", "b", "c", max_in_flight=2))
    result = poller.last_result
    assert dispatched(result, "b", 2) and not dispatched(result, "c", 3)
    assert skip_reason(result, "c", 3) == afk.SKIP_CAPPED == 13
    assert "max_in_flight" in afk.SkipReason(afk.SKIP_CAPPED)
    with pytest.raises(ValueError):
        armed("a", max_in_flight=0)
    assert armed("a").get("max_in_flight") is None
