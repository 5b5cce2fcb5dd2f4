"""afk.poller - the poll tick: afk.Poller and what its run_once() returns."""

from __future__ import annotations

import inspect as _inspect
from array import array as _array
from ctypes import c_size_t as _c_size_t
from itertools import compress as _compress
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, List,
                    NamedTuple, Optional, Tuple, Union)

from . import _native
from ._native import lib as _L
from ._util import _text
from .errors import strerror
from .failures import Failure, _failures
from .constants import SKIP_NOT_ALLOWLISTED, SKIP_CAPPED
from .issue import Issue
from .watcher import _find_comment_cb
if TYPE_CHECKING:
    from .adapters import PollAgent, PollTracker
    from .config import Config

from ._ticker import (_Tick, _Ticker, _add_label_cb, _config_for,
                      _list_ready_cb, _refuse_none, _upsert_comment_cb)


# --- results -------------------------------------------------------------

class Dispatch(NamedTuple):
    """One dispatch of a tick: the afk.Issue the tracker listed (the
    host's own object) and the id of the agent's new thread (a str)."""

    issue: Issue
    thread_id: str


class SkipReason(str):
    """Why a listed issue was not dispatched: the library's phrase (a
    str), with the AFK_SKIP_* code as .code (afk.SKIP_BLOCKED, ...)."""

    __slots__ = ("code",)

    code: int

    def __new__(cls, code: int) -> SkipReason:
        self = str.__new__(cls, _text(_L.afk_skip_reason_str(code)))
        self.code = code
        return self

    def __repr__(self) -> str:
        return "afk.SkipReason(%d, %s)" % (self.code, str.__repr__(self))

    def __reduce__(self) -> Tuple[Any, ...]:
        return (SkipReason, (self.code,))


class _Reasons(Dict[int, SkipReason]):
    """code -> its SkipReason, made once per code."""

    def __missing__(self, code: int) -> SkipReason:
        r = self[code] = SkipReason(code)
        return r


_REASONS = _Reasons()
_reason = _REASONS.__getitem__
_ZERO = (0,)


for _code in range(SKIP_NOT_ALLOWLISTED, SKIP_CAPPED + 1):
    _reason(_code)
del _code


#: A skipped issue: the host's afk.Issue, or (repo, number).
Skipped = Tuple[Union[Issue, Tuple[str, int]], SkipReason]


class Result(List[Dispatch]):
    """What one tick did: a list of afk.Dispatch, in the order made, so
    that a tick that dispatched nothing compares equal to [].

    .dispatched  the same list (result.dispatched is result)
    .skipped     [(issue, reason), ...] in the tracker's order: each
                 listed issue that was not dispatched - the afk.Issue the
                 tracker returned (or a (repo, number) tuple should it
                 not be found) - and an afk.SkipReason.
    .errors      [afk.Failure, ...] in the order met: each repository's
                 failure (the tick went on with the others) and the one
                 that stopped the tick, if any; [] when all went well.

    Plain Python: valid after the Poller, its adapters and the Config
    are gone.
    """

    __slots__ = ("skipped", "errors")

    skipped: List[Skipped]
    errors: List[Failure]

    def __init__(self, dispatched: Iterable[Dispatch] = (),
                 skipped: Iterable[Skipped] = (),
                 errors: Iterable[Failure] = ()) -> None:
        super().__init__(dispatched)
        self.skipped = list(skipped)
        self.errors = list(errors)

    @property
    def dispatched(self) -> Result:
        return self

    def __repr__(self) -> str:
        return "afk.Result(dispatched=%s, skipped=%r, errors=%r)" % (
            list.__repr__(self), self.skipped, self.errors)

    def __reduce__(self) -> Tuple[Any, ...]:
        return (Result, (list(self), self.skipped, self.errors))


# The array type code of a C size_t.
_SIZE_T = next(c for c in "QLI" if _array(c).itemsize ==
               _native.ctypes.sizeof(_c_size_t))


class _Buffers:
    """Where a Poller's ticks read the listing positions of their
    dispatches into: an array of size_t (grown as needed; one tick at a
    time uses it, under the Poller's lock)."""

    __slots__ = ("n", "index", "addr")

    def __init__(self, n: int) -> None:
        self.grow(n)

    def grow(self, n: int) -> None:
        self.n = n
        self.index = _array(_SIZE_T, bytes(n * _array(_SIZE_T).itemsize))
        self.addr: int = self.index.buffer_info()[0]


def _collect(r: int, listed: List[Issue], tids: List[str], rc: int,
             buf: _Buffers, repo_str: Callable[[bytes], str]) -> Result:
    """Copies the C result r, of a tick that returned rc, into a Result,
    as plain Python that outlives r.  Its issues are the host's own Issue
    objects: listed is what list_ready handed over, in order, and the
    library says where in that listing each dispatch is, in bulk: one C
    call for the dispatches (afk_result_dispatches(), into buf), one for
    the reasons of the whole listing (afk_result_reasons()) unless every
    issue was dispatched, and the failures only when there are some (a
    tick with a failure returns the first one's code, never 0, and a
    tick that returns 0 judged every issue it listed).  tids are the
    thread ids the dispatches returned, in order: the library's own
    (read back only should the two counts differ)."""
    L = _L
    n = len(listed)
    nd = L.afk_result_dispatches(r, buf.addr, None, buf.n)
    if nd > buf.n:
        buf.grow(nd)
        L.afk_result_dispatches(r, buf.addr, None, nd)
    skipped: List[Skipped]
    if nd == n and rc == 0 and n:
        skipped = []
    else:
        codes = _array("i", _ZERO) * n
        if L.afk_result_reasons(r, codes.buffer_info()[0] if n else None,
                                n) != n:
            # Not the listing handed over: a built-in tracker listed it,
            # or the tick failed while it was handed over.  Find each
            # issue by (repo, number).
            res = _collect_slow(r, listed, L.afk_result_skipped_count(r),
                                repo_str)
            res.errors = _errors(r)
            return res
        skipped = list(zip(_compress(listed, codes),
                           map(_REASONS.__getitem__, filter(None, codes))))
    res = Result.__new__(Result)
    res.skipped = skipped
    res.errors = _errors(r) if rc else []
    if len(tids) != nd:
        tids = [_text(L.afk_result_dispatched_thread(r, k))
                for k in range(nd)]
    index = buf.index
    new = tuple.__new__
    for k in range(nd):
        i = index[k]
        res.append(new(Dispatch, (
            listed[i] if i < n else
            Issue._from_handle(L.afk_result_dispatched_issue(r, k)),
            tids[k])))
    return res


def _all_dispatched(listed: List[Issue], tids: List[str],
                    keys: List[Tuple[bytes, int]]) -> Optional[Result]:
    """The Result of a tick that dispatched every issue it listed, in the
    order made: tids and keys are the thread id and the (repo, number)
    of each dispatch.  None should a key not be one of listed (the host
    listed one issue twice, say): _collect() then asks the library."""
    if len(listed) == 1:
        issues = listed
    else:
        by_key = {issue._key: issue for issue in listed}
        found = [by_key.get(k) for k in keys]
        if None in found or len(by_key) != len(listed):
            return None
        issues = found  # type: ignore[assignment]
    res = Result.__new__(Result)
    res.skipped = []
    res.errors = []
    new = tuple.__new__
    for issue, tid in zip(issues, tids):
        res.append(new(Dispatch, (issue, tid)))
    return res


def _errors(r: int) -> List[Failure]:
    L = _L
    return _failures(r, L.afk_result_error_count, L.afk_result_error_repo,
                     L.afk_result_error_number, L.afk_result_error_code,
                     L.afk_result_error_message)


def _collect_slow(r: int, listed: List[Issue], ns: int,
                  repo_str: Callable[[bytes], str]) -> Result:
    """Any result: each skipped issue is found by (repo, number) in
    listed, in order; the dispatched ones among what is left."""
    L = _L
    dispatched = []
    for i in range(L.afk_result_dispatched_count(r)):
        h = L.afk_result_dispatched_issue(r, i)
        dispatched.append(((L.afk_issue_repo(h), L.afk_issue_number(h)),
                           L.afk_result_dispatched_thread(r, i), h))
    skipped: List[Skipped] = []
    leftover: List[Issue] = []
    it = iter(listed)
    for i in range(ns):
        key = (L.afk_result_skipped_repo(r, i),
               L.afk_result_skipped_number(r, i))
        found: Union[Issue, Tuple[str, int]]
        for found in it:
            if found._key == key:
                break
            leftover.append(found)
        else:
            found = (repo_str(key[0]), key[1])
        skipped.append((found, _reason(L.afk_result_skipped_reason(r, i))))
    leftover.extend(it)
    by_key: Dict[Tuple[bytes, int], Issue] = {}
    for issue in reversed(leftover):
        by_key[issue._key] = issue
    res = Result()
    res.skipped = skipped
    for key, thread, h in dispatched:
        mine = by_key.pop(key, None)
        res.append(Dispatch(Issue._from_handle(h) if mine is None else mine,
                            thread.decode("utf-8", "replace")))
    return res


# --- the poller ----------------------------------------------------------


def _takes_generation(t3_client: object) -> bool:
    """Whether t3_client.dispatch accepts a generation= keyword (by name,
    or through **kwargs).  Asked once, when the Poller is made: a host
    whose dispatch predates generations keeps being called as before."""
    fn = getattr(t3_client, "dispatch", None)
    if not callable(fn):
        return False
    try:
        params = _inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is p.VAR_KEYWORD or
               (p.name == "generation" and
                p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
               for p in params)


def _dispatch_cb(st: _Tick, with_generation: bool) -> Any:
    L = _L

    def dispatch(call: int, repo: bytes, number: int, prompt: bytes,
                 userdata: Any) -> int:
        if st.halt is not None:
            return st.halted(call, "t3_client.dispatch")
        try:
            if with_generation:
                tid = st.agent.dispatch(
                    st.repo(repo), number, prompt.decode("utf-8", "replace"),
                    generation=L.afk_call_generation(call))
            else:
                tid = st.agent.dispatch(st.repo(repo), number,
                                        prompt.decode("utf-8", "replace"))
            if not isinstance(tid, str):
                raise TypeError("t3_client.dispatch must return the thread "
                                "id as a str, not %s" % type(tid).__name__)
            if not tid:
                raise ValueError("t3_client.dispatch returned an empty "
                                 "thread id")
            b = tid.encode("utf-8")
            if 0 in b:  # NUL; b"\0" in b would raise and clear an error each time
                raise ValueError("t3_client.dispatch returned a thread id "
                                 "with a NUL character")
            rc = L.afk_call_set_thread_id(call, b)
            if rc:
                raise MemoryError("afk_call_set_thread_id: "
                                  + strerror(rc))
            st.tids.append(tid)
            st.keys.append((repo, number))
            return 0
        except BaseException as e:
            return st.fail(call, e, "t3_client.dispatch")

    return _native.DISPATCH_FN(dispatch)


class Poller(_Ticker):
    """Runs poll ticks over a tracker and an agent client (duck-typed
    host objects; see the module's documentation).

    When the tracker has an upsert_comment attribute at the time the
    Poller is made, each dispatch's first run record (its thread id,
    which the watch tick needs) is written with
    tracker.upsert_comment(repo, issue, marker, body) right after the
    in-progress label.  Likewise, when the tracker has find_comment,
    the record the issue's last run left is read before each dispatch:
    a run that ended (closed, or handed to a human) is over, and the
    issue made ready again starts the next generation, with a fresh
    thread.  When t3_client.dispatch accepts a generation keyword (by
    name or **kwargs, asked once, when the Poller is made) it is called
    as dispatch(repo, issue, prompt, generation=n): 1 for an issue's
    first run, one more for each run after an ended one; a thread of an
    earlier generation must never be taken up again.  A dispatch without
    the keyword is called as before.  These are the only times the
    Poller looks a method up before calling it.  A poll-only tracker
    without them works as before (every run is the first), but an
    afk.Watcher will hand its runs to a human (no record).  A failing
    upsert_comment is that repository's failure: the agent runs and the
    repository is locked, last_error says the run has no record, and the
    tick goes on with the next repository.  A failing find_comment is
    too, and nothing is dispatched in that repository.

    Free its C handles with close() (or a with block); garbage collection
    does it too.  Results and Issues stay valid after it is gone.

    After every run_once(), whether it returned or raised:

    .last_result  the afk.Result of that tick - every dispatch it made,
                  also when some repository failed, and each failure in
                  .errors - or None when the tick did not start (None
                  before the first).
    .last_error   the library's message (afk_poller_errmsg) when the tick
                  failed, "" when it succeeded (and before the first).

    These are how to learn what a tick did when a host method's exception
    leaves run_once(): that exception is the host's own, unchanged.
    """

    _kind = "Poller"
    _tick_name = "poll"
    # (slot of the _Tick, parameter name, method): what every armed poll
    # tick may call; upsert_comment is optional (see above).
    _required = (("tracker", "tracker", "list_ready"),
                 ("tracker", "tracker", "add_label"),
                 ("agent", "t3_client", "dispatch"))
    _handles = (("_p", _L.afk_poller_free), ("_t", _L.afk_tracker_free),
                ("_a", _L.afk_agent_free))
    _c_run = _L.afk_poller_run_once
    _c_errmsg = _L.afk_poller_errmsg
    _c_free_out = "afk_result_free"

    _t: Optional[int]
    _a: Optional[int]
    _p: Optional[int]

    def __init__(self, tracker: PollTracker, t3_client: PollAgent) -> None:
        _refuse_none("Poller", tracker=tracker, t3_client=t3_client)
        self._setup(None, tracker, t3_client)

    @classmethod
    def from_config(cls, config: Config, *,
                    tracker: Optional[PollTracker] = None,
                    t3_client: Optional[PollAgent] = None) -> Poller:
        """A Poller over the built-in adapters config (an afk.Config)
        selects - its "tracker" and "agent" keys - with the trust gate,
        the blocker read and the ETag cache of the library's own
        trackers.  Pass tracker= or t3_client= (a host object, as for
        Poller()) to replace that one adapter and keep the other built
        in.  Raises afk.Error (ECONFIG) naming the adapter when config
        selects none or its set-up fails (a token variable not set).
        The built-ins take what they need from config now: later changes
        to it reach the ticks (run_once(config)) but not the adapters."""
        _config_for("Poller", config)
        self = cls.__new__(cls)
        self._setup(config, tracker, t3_client)
        return self

    def _setup(self, config: Optional[Config],
               tracker: Optional[PollTracker],
               t3_client: Optional[PollAgent]) -> None:
        #: The afk.Result of the last run_once() (None: none started).
        self.last_result = None
        #: The library's message for the last run_once() ("": success).
        self.last_error = ""
        _Ticker.__init__(self, _Tick(tracker, t3_client))
        st = self._st
        L = _L
        # Kept as long as the C handles may call them.
        self._buf = _Buffers(16)
        rc = (self._make("_t", L.afk_tracker_new) or
              self._make("_a", L.afk_agent_new))
        self._made(rc)
        if tracker is None:
            self._set_builtin("tracker", config)
        else:
            self._cbs += (_list_ready_cb(st), _add_label_cb(st))
            rc = (L.afk_tracker_set_list_ready(self._t, self._cbs[-2]) or
                  L.afk_tracker_set_add_label(self._t, self._cbs[-1]))
            # Only a tracker that has upsert_comment gets the run's first
            # record written by the poll tick, and only one that has
            # find_comment has the last run's record read (which run
            # this is): a poll-only tracker keeps working without them.
            if rc == 0 and hasattr(tracker, "upsert_comment"):
                self._cbs += (_upsert_comment_cb(st),)
                rc = L.afk_tracker_set_upsert_comment(self._t, self._cbs[-1])
            if rc == 0 and hasattr(tracker, "find_comment"):
                self._cbs += (_find_comment_cb(st),)
                rc = L.afk_tracker_set_find_comment(self._t, self._cbs[-1])
            self._made(rc)
        if t3_client is None:
            self._set_builtin("agent", config)
        else:
            self._cbs += (_dispatch_cb(st, _takes_generation(t3_client)),)
            self._made(L.afk_agent_set_dispatch(self._a, self._cbs[-1]))
        self._made(self._make("_p", L.afk_poller_new, self._t, self._a))

    def _copy_out(self, r: int, listed: Any, tids: List[str],
                  keys: List[Tuple[bytes, int]], rc: int) -> Result:
        if rc == 0 and len(tids) == len(listed) and listed:
            # Every issue listed was dispatched (each dispatch that
            # returned 0 is one of the result's): its Dispatches are
            # known without asking the library where each one is.
            all_ = _all_dispatched(listed, tids, keys)
            if all_ is not None:
                return all_
        return _collect(r, listed, tids, rc, self._buf, self._st.repo)

    def run_once(self, config: Config) -> Result:
        """Runs one poll tick with config (an afk.Config) and returns its
        afk.Result.

        A disarmed config (kill switch on, or an empty allowlist) calls
        no adapter method at all, checks none, and returns an empty
        Result.  An armed one first checks that tracker.list_ready,
        tracker.add_label and t3_client.dispatch exist and are callable:
        TypeError naming the first that is not, before any call (a
        tracker without add_label would start an agent every tick and
        never lock its repository).

        One repository's failure is its own: a host method that raises,
        a dispatch or a label that fails, or an afk.ListingFailure
        tracker.list_ready returned, fails that repository (or issue)
        and the tick goes on with the others.  After the tick, the first host
        exception is raised here, exactly as the host raised it: its
        traceback intact, no attribute or note added.  A dispatch that
        raises ConnectionRefusedError or TimeoutError (the agent is
        unreachable) ends the dispatching: the other picks are skipped
        as afk.SKIP_AGENT_UNAVAILABLE.  KeyboardInterrupt or SystemExit
        starts no further agent.

        Before returning or raising, every call sets self.last_result and
        self.last_error.  last_result is the Result of the tick, with
        every failure in .errors (afk.Failure: repo, number, code,
        message); None only when the tick did not start.
        last_error is the library's message (afk_poller_errmsg), "" on
        success.  After a failed callback it names the host method and
        its exception, and the issue of a failed dispatch - or, for a
        label that failed after its dispatch (an agent runs, but its
        repository is NOT locked), the issue and the thread.  When
        run_once() refuses its arguments (not a Config, a closed Poller)
        no tick starts: last_result is None and last_error the refusal's
        message.  With threads sharing this Poller, another thread's tick
        may replace both before they are read.

        A dispatch returning anything but a non-empty str fails that
        dispatch: TypeError or ValueError is raised likewise.  Other
        failures raise afk.Error (afk.ReentrancyError when called from
        inside one of this Poller's own callbacks), which also carries
        the result as .result.  A second thread calling run_once() on the
        same Poller waits for the first.
        """
        res: Result = self._run(config)
        return res
