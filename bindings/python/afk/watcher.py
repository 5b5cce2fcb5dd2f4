"""afk.watcher - the watch tick: afk.Watcher and its afk.Actions."""

from __future__ import annotations

import math as _math
import time as _time
from collections.abc import Mapping as _Mapping
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, List,
                    Mapping, NamedTuple, Optional, Tuple, Union)

from . import _native
from ._native import lib as _L
from ._util import _LONG_MAX, _text
from .errors import strerror
from .constants import (AGENT_GONE, AGENT_RUNNING, PHASE_DISPATCHED,
                        PHASE_PUSHED, PR_MERGED, PR_NONE, STATUS_FAILURE,
                        STATUS_NONE, _AGENT_PHASES, _AGENT_STATES,
                        _PHASE_NAMES, _PR_STATES, _STATUSES)
from .config import Config
from .issue import Issue
from .failures import Failure, _failures
if TYPE_CHECKING:
    from .adapters import CI, Agent, Notifier, Tracker


from ._ticker import (_Tick, _Ticker, _add_label_cb, _add_listing,
                      _config_for, _list_ready_cb, _refuse_none,
                      _upsert_comment_cb)


# --- the watch tick ------------------------------------------------------

def _code_of(v: Any, names: Mapping[str, int], lo: int, hi: int, what: str,
             alias: Optional[Callable[[str], str]] = None) -> int:
    """The C value of v: one of names (a str; alias(v) is tried too) or
    an int in lo..hi.  ValueError for anything else."""
    if isinstance(v, str):
        code = names.get(v)
        if code is None and alias is not None:
            code = names.get(alias(v))
        if code is not None:
            return code
    elif not isinstance(v, bool) and hasattr(type(v), "__index__"):
        code = int(v.__index__())
        if lo <= code <= hi:
            return code
    raise ValueError("%s must be one of %s or an int %d..%d, not %r"
                     % (what, ", ".join(map(repr, names)), lo, hi, v))


def _dash_to_underscore(s: str) -> str:
    return s.replace("-", "_")


def _underscore_to_dash(s: str) -> str:
    return s.replace("_", "-")


def _member(obj: Any, name: str) -> Any:
    """obj[name] of a mapping, else obj.name; None when it has none."""
    if isinstance(obj, _Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _snap_int(snap: Any, name: str, lo: int) -> Optional[int]:
    """The optional int member name of a snapshot (None: absent), at
    least lo and below 2**63; ValueError or TypeError otherwise."""
    v = _member(snap, name)
    if v is None:
        return None
    if isinstance(v, bool) or not hasattr(type(v), "__index__"):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        else:
            raise TypeError("the snapshot's %s must be an int, not %s"
                            % (name, type(v).__name__))
    n = int(v.__index__())
    if not lo <= n < 2**63:
        raise ValueError("the snapshot's %s is out of range: %d"
                         % (name, n))
    return n


def _reply_str(v: Any, what: str,
               error: type[Exception] = TypeError) -> Optional[bytes]:
    """A str a host method returned, as NUL-free UTF-8 (None: None)."""
    if v is None:
        return None
    if not isinstance(v, str):
        raise error("%s must be a str, not %s" % (what, type(v).__name__))
    b = v.encode("utf-8")
    if 0 in b:  # NUL; b"\0" in b would raise and clear an error each time
        raise ValueError("%s must not contain a NUL character" % what)
    return b


def _is_record(v: object) -> bool:
    """Something with members: not None, a scalar or a sequence (but a
    namedtuple is a record)."""
    if isinstance(v, tuple):
        return hasattr(type(v), "_fields")
    return v is not None and not isinstance(
        v, (str, bytes, bytearray, int, float, list))


def _close_issue_cb(st: _Tick) -> Any:
    def close_issue(call: int, repo: bytes, number: int,
                    userdata: Any) -> int:
        try:
            st.tracker.close_issue(st.repo(repo), number)
            return 0
        except BaseException as e:
            return st.fail(call, e, "tracker.close_issue")

    return _native.CLOSE_ISSUE_FN(close_issue)


def _remove_label_cb(st: _Tick) -> Any:
    def remove_label(call: int, repo: bytes, number: int, label: bytes,
                     userdata: Any) -> int:
        try:
            st.tracker.remove_label(st.repo(repo), number, _text(label))
            return 0
        except BaseException as e:
            return st.fail(call, e, "tracker.remove_label")

    return _native.REMOVE_LABEL_FN(remove_label)


def _find_comment_cb(st: _Tick) -> Any:
    L = _L

    def find_comment(call: int, repo: bytes, number: int, marker: bytes,
                     userdata: Any) -> int:
        if st.halt is not None:
            return st.halted(call, "tracker.find_comment")
        try:
            got = st.tracker.find_comment(st.repo(repo), number,
                                          _text(marker))
            body: Any = got
            url: Any = None
            if isinstance(got, tuple):
                if len(got) != 2:
                    raise TypeError("tracker.find_comment must return the "
                                    "body, a (body, url) pair or None, not "
                                    "a tuple of %d" % len(got))
                body, url = got
            body = _reply_str(body, "the body tracker.find_comment "
                                    "returned")
            url = _reply_str(url, "the url tracker.find_comment returned")
            rc = 0
            if body is not None:
                rc = L.afk_call_set_comment(call, body)
            if url:
                rc = rc or L.afk_call_set_url(call, url)
            if rc:
                raise MemoryError("afk_call_set_comment: " + strerror(rc))
            return 0
        except BaseException as e:
            return st.fail(call, e, "tracker.find_comment")

    return _native.FIND_COMMENT_FN(find_comment)


def _snapshot_cb(st: _Tick) -> Any:
    L = _L

    def snapshot(call: int, thread: bytes, userdata: Any) -> int:
        try:
            snap = st.agent.snapshot(_text(thread))
            if not _is_record(snap):
                raise TypeError("t3_client.snapshot must return a mapping "
                                "or an object with state and phase, not %s"
                                % type(snap).__name__)
            given = _member(snap, "state")
            if given is None:
                raise ValueError("t3_client.snapshot returned no state")
            state = _code_of(given, _AGENT_STATES, AGENT_RUNNING,
                             AGENT_GONE, "the agent's state",
                             _dash_to_underscore)
            phase = _member(snap, "phase")
            phase = PHASE_DISPATCHED if phase is None else _code_of(
                phase, _AGENT_PHASES, PHASE_DISPATCHED, PHASE_PUSHED,
                "the agent's phase", _underscore_to_dash)
            activity = _snap_int(snap, "activity", 1)
            usage = [_snap_int(snap, k, 0) for k in
                     ("tokens_in", "tokens_out", "cost_microusd")]
            # In range: these cannot fail.
            L.afk_call_set_agent_state(call, state)
            L.afk_call_set_phase(call, phase)
            if activity is not None:
                L.afk_call_set_activity(call, activity)
            if any(u is not None for u in usage):
                L.afk_call_set_usage(call, *[-1 if u is None else u
                                             for u in usage])
            why = _reply_str(_member(snap, "reason"),
                             "the snapshot's reason")
            if why and L.afk_call_set_error(call, why):
                raise MemoryError("afk_call_set_error: out of memory")
            return 0
        except BaseException as e:
            return st.fail(call, e, "t3_client.snapshot")

    return _native.SNAPSHOT_FN(snapshot)


def _send_turn_cb(st: _Tick) -> Any:
    def send_turn(call: int, thread: bytes, prompt: bytes,
                  userdata: Any) -> int:
        try:
            st.agent.send_turn(_text(thread), _text(prompt))
            return 0
        except BaseException as e:
            return st.fail(call, e, "t3_client.send_turn")

    return _native.SEND_TURN_FN(send_turn)


def _stop_cb(st: _Tick) -> Any:
    def stop(call: int, repo: bytes, number: int, thread: bytes,
             userdata: Any) -> int:
        try:
            st.agent.stop(st.repo(repo), number, _text(thread))
            return 0
        except BaseException as e:
            return st.fail(call, e, "t3_client.stop")

    return _native.STOP_FN(stop)


def _list_closed_cb(st: _Tick) -> Any:
    """tracker.list_closed(repos, label): the closed issues still
    carrying label (afk.Issue, and afk.ListingFailure for a repository it
    could not list), as list_ready returns them."""
    handle_of: Callable[[Issue], int] = Issue._h.__get__  # type: ignore

    def list_closed(call: int, repos: Any, nrepos: int, label: bytes,
                    userdata: Any) -> int:
        try:
            names = list(map(st.repo, repos[:nrepos]))
            got = st.tracker.list_closed(names, _text(label))
            try:
                listed = list(iter(got))
            except TypeError:
                raise TypeError("tracker.list_closed must return an "
                                "iterable of afk.Issue and "
                                "afk.ListingFailure objects, not %s"
                                % type(got).__name__) from None
            listed = _add_listing(call, listed, handle_of)
            # the actions of closed runs map back to these Issues too
            st.listed = list(st.listed or ()) + listed
            return 0
        except BaseException as e:
            return st.fail(call, e, "tracker.list_closed")

    return _native.LIST_CLOSED_FN(list_closed)


def _failing_checks(failing: Any) -> List[Tuple[bytes, Optional[bytes]]]:
    """[(name, url or None), ...] as bytes, from an iterable of names or
    (name, url) pairs, or a mapping of names to urls."""
    if isinstance(failing, (str, bytes)):
        raise ValueError("failing must be a list of check names or (name, "
                         "url) pairs, not a single %s"
                         % type(failing).__name__)
    if isinstance(failing, _Mapping):
        failing = failing.items()
    try:
        items = list(failing)
    except TypeError:
        raise ValueError("failing must be a list of check names or (name, "
                         "url) pairs, not %s" % type(failing).__name__) \
            from None
    checks: List[Tuple[bytes, Optional[bytes]]] = []
    for f in items:
        if isinstance(f, str):
            name, url = f, None
        elif isinstance(f, (tuple, list)) and len(f) == 2:
            name, url = f
        else:
            raise ValueError("a failing check must be a name or a (name, "
                             "url) pair, not %r" % (f,))
        name_b = _reply_str(name, "a failing check's name", ValueError)
        if not name_b:
            raise ValueError("a failing check's name must not be empty")
        checks.append((name_b, _reply_str(url, "a failing check's url",
                                        ValueError) or None))
    return checks


def _pr_info(got: Any, pr: int
             ) -> Optional[Tuple[int, Optional[bytes], Optional[bytes]]]:
    """(number, author, branch) of the pull request ci.status reported in
    got - which one it is, for the run's checklist - or None when it
    named none.  ValueError for a bad value, or for an author or branch
    without a number, or a number without a pull request (pr "none")."""
    number, author, branch = (_member(got, "pr_number"),
                              _member(got, "pr_author"),
                              _member(got, "pr_branch"))
    author = _reply_str(author, "pr_author", ValueError) or None
    branch = _reply_str(branch, "pr_branch", ValueError) or None
    if number is None:
        if author is not None or branch is not None:
            raise ValueError("ci.status returned %s without pr_number"
                             % ("pr_author" if author is not None
                                else "pr_branch"))
        return None
    if (isinstance(number, bool) or
            not hasattr(type(number), "__index__") or
            not 0 < number.__index__() <= _LONG_MAX):
        raise ValueError("pr_number must be a pull request's number (an "
                         "int > 0), not %r" % (number,))
    if pr == PR_NONE:
        raise ValueError("ci.status returned pr_number %d but no pull "
                         "request (pr is \"none\")" % number.__index__())
    return int(number.__index__()), author, branch


def _ci_status_cb(st: _WatchTick) -> Any:
    L = _L

    def ci_status(call: int, repo: bytes, number: int, userdata: Any) -> int:
        try:
            got = st.ci.status(st.repo(repo), number)
            if got is None:
                return 0  # nothing to report: no PR, no CI, no deploy
            if not _is_record(got):
                raise TypeError("ci.status must return a mapping or an "
                                "object with pr, head, ci, failing and "
                                "deploy (pr_number, pr_author, "
                                "pr_branch), not %s" % type(got).__name__)
            pr, head, ci, failing, deploy = (
                _member(got, "pr"), _member(got, "head"), _member(got, "ci"),
                _member(got, "failing"), _member(got, "deploy"))
            pr = PR_NONE if pr is None else _code_of(
                pr, _PR_STATES, PR_NONE, PR_MERGED, "pr")
            head = _reply_str(head, "head", ValueError) or None
            ci = STATUS_NONE if ci is None else _code_of(
                ci, _STATUSES, STATUS_NONE, STATUS_FAILURE, "ci")
            deploy = STATUS_NONE if deploy is None else _code_of(
                deploy, _STATUSES, STATUS_NONE, STATUS_FAILURE, "deploy")
            checks = [] if failing is None else _failing_checks(failing)
            info = _pr_info(got, pr)
            # All checked: nothing below fails but for memory.
            rc = (L.afk_call_set_pr(call, pr, head) or
                  (info is not None and
                   L.afk_call_set_pr_info(call, *info)) or
                  L.afk_call_set_ci(call, ci) or
                  L.afk_call_set_deploy(call, deploy))
            for name, url in checks:
                rc = rc or L.afk_call_add_failing_check(call, name, url)
            if rc:
                raise MemoryError("ci.status: " + strerror(rc))
            return 0
        except BaseException as e:
            return st.fail(call, e, "ci.status")

    return _native.CI_STATUS_FN(ci_status)


def _notify_cb(st: _WatchTick) -> Any:
    def notify(call: int, repo: bytes, number: int, message: bytes,
               link: Optional[bytes], userdata: Any) -> int:
        try:
            st.notifier.notify(st.repo(repo), number, _text(message),
                               _text(link) or None)
            return 0
        except BaseException as e:
            return st.fail(call, e, "notifier.notify")

    return _native.NOTIFY_FN(notify)


class _Named(str):
    """A library phrase (a str) with the C value as .code."""

    __slots__ = ("code",)
    _cache: Optional[Dict[int, Any]] = None
    code: int

    @staticmethod
    def _name(code: int) -> str:
        raise NotImplementedError

    def __new__(cls, code: int) -> Any:
        cache = cls.__dict__.get("_cache")
        if cache is None:
            cache = cls._cache = {}
        self = cache.get(code)
        if self is None:
            self = str.__new__(cls, cls._name(code))
            self.code = code
            cache[code] = self
        return self

    def __repr__(self) -> str:
        return "afk.%s(%d, %s)" % (type(self).__name__, self.code,
                                   str.__repr__(self))

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), (self.code,))


class ActionKind(_Named):
    """What the watch tick did with a run: "wait", "close",
    "fix-forward" or "escalate" (afk_action_str()), a str, with the
    AFK_ACTION_* code as .code (afk.ACTION_CLOSE, ...)."""

    __slots__ = ()

    @staticmethod
    def _name(code: int) -> str:
        return _text(_L.afk_action_str(code))


class EscalationReason(_Named):
    """Why a run went to a human: the library's phrase
    (afk_escalation_str()), a str, with the AFK_ESCALATE_* code as .code
    (afk.ESCALATE_STALLED, ...)."""

    __slots__ = ()

    @staticmethod
    def _name(code: int) -> str:
        return _text(_L.afk_escalation_str(code))


class StopReason(_Named):
    """Why a run was stopped (action "stop"): what a human did - the
    library's phrase (afk_stop_str()), a str, with the AFK_STOP_* code as
    .code (afk.STOP_CLOSED, afk.STOP_HUMAN_LABEL, afk.STOP_UNLOCKED)."""

    __slots__ = ()

    @staticmethod
    def _name(code: int) -> str:
        return _text(_L.afk_stop_str(code))


class Phase(_Named):
    """A phase of a run: "dispatched", "tests-red", "green", "pushed",
    "ci" or "deployed", a str, with the AFK_PHASE_* value as .code
    (compare phase.code >= afk.PHASE_PUSHED for order)."""

    __slots__ = ()

    @staticmethod
    def _name(code: int) -> str:
        if 0 <= code < len(_PHASE_NAMES):
            return _PHASE_NAMES[code]
        return "unknown phase"


class Action(NamedTuple):
    """What one watch tick did with one run.

    issue      the afk.Issue tracker.list_ready returned for the run (a
               (repo, number) tuple should it not be found)
    repo, number  the run's issue
    thread_id  the agent's thread (a str), None when the run had no
               readable record
    action     an afk.ActionKind: "wait", "close", "fix-forward",
               "escalate" or "stop" (.code: afk.ACTION_*)
    reason     an afk.EscalationReason for "escalate" (.code:
               afk.ESCALATE_*), else None
    phase      the afk.Phase the checklist shows after the action
    attempts   the fix-forward attempts used after it (an int)
    updated    True when the tick wrote the checklist comment
    checklist  the comment's body as the tick left it ("" when none)
    since      when the run started (seconds since the epoch, the base
               of its age: the record's started_at), None when unknown
    deadline   for a run left waiting: the first time (seconds since the
               epoch) at which the tick would decide otherwise if only
               the clock moved on; None when no deadline applies
    deadline_reason  the afk.EscalationReason it would escalate for
               then (stalled, CI or deploy timeout), else None
    stop_reason  an afk.StopReason for "stop" - a human closed the
               issue, added the human label or removed the in-progress
               or ready label (.code: afk.STOP_*) - else None
    """

    issue: Union[Issue, Tuple[str, int]]
    thread_id: Optional[str]
    action: ActionKind
    reason: Optional[EscalationReason]
    phase: Phase
    attempts: int
    updated: bool
    checklist: str
    since: Optional[int] = None
    deadline: Optional[int] = None
    deadline_reason: Optional[EscalationReason] = None
    stop_reason: Optional[StopReason] = None

    @property
    def repo(self) -> str:
        issue = self.issue
        return issue.repo if isinstance(issue, Issue) else issue[0]

    @property
    def number(self) -> int:
        issue = self.issue
        return issue.number if isinstance(issue, Issue) else issue[1]


class Actions(List[Action]):
    """What one watch tick did: a list of afk.Action, one per run it
    acted on, in the tracker's order (== [] when there was none).

    .errors  [afk.Failure, ...] in the order met: each run that failed
             (the tick went on with the others), each repository the
             tracker could not list, and the failure that stopped the
             tick, if any; [] when all went well.

    Plain Python: valid after the Watcher, its adapters and the Config
    are gone.
    """

    __slots__ = ("errors",)

    errors: List[Failure]

    def __init__(self, actions: Iterable[Action] = (),
                 errors: Iterable[Failure] = ()) -> None:
        super().__init__(actions)
        self.errors = list(errors)

    def __repr__(self) -> str:
        return "afk.Actions(%s, errors=%r)" % (list.__repr__(self),
                                              self.errors)

    def __reduce__(self) -> Tuple[Any, ...]:
        return (Actions, (list(self), self.errors))


def _collect_actions(a: int, listed: Iterable[Issue],
                     repo_str: Callable[[bytes], str]) -> Actions:
    """Copies the C actions a into afk.Actions, mapping each run back to
    the Issue list_ready returned for it (in the tracker's order, so a
    repeated listing maps to each copy in turn)."""
    L = _L
    slots: Dict[Tuple[bytes, int], List[Issue]] = {}
    for issue in listed:
        slots.setdefault(issue._key, []).append(issue)
    out = []
    for i in range(L.afk_actions_count(a)):
        repo_b = L.afk_actions_repo(a, i) or b""
        number = L.afk_actions_number(a, i)
        same = slots.get((repo_b, number))
        which: Union[Issue, Tuple[str, int]]
        if same:
            which = same.pop(0) if len(same) > 1 else same[0]
        else:
            which = (repo_str(repo_b), number)
        kind = L.afk_actions_kind(a, i)
        reason = L.afk_actions_reason(a, i)
        since = L.afk_actions_since(a, i)
        deadline = L.afk_actions_deadline(a, i)
        dreason = L.afk_actions_deadline_reason(a, i)
        stop = L.afk_actions_stop_reason(a, i)
        out.append(Action(
            which, _text(L.afk_actions_thread(a, i)) or None,
            ActionKind(kind), EscalationReason(reason) if reason else None,
            Phase(L.afk_actions_phase(a, i)), L.afk_actions_attempts(a, i),
            bool(L.afk_actions_updated(a, i)),
            _text(L.afk_actions_checklist(a, i)), since or None,
            deadline if dreason else None,
            EscalationReason(dreason) if dreason else None,
            StopReason(stop) if stop else None))
    return Actions(out, _failures(a, L.afk_actions_error_count,
                                  L.afk_actions_error_repo,
                                  L.afk_actions_error_number,
                                  L.afk_actions_error_code,
                                  L.afk_actions_error_message))


class _WatchTick(_Tick):
    """The state the callbacks of one Watcher share (see _Tick)."""

    __slots__ = ("ci", "notifier")

    def __init__(self, tracker: Any, agent: Any, ci: Any,
                 notifier: Any) -> None:
        _Tick.__init__(self, tracker, agent)
        self.ci = ci
        self.notifier = notifier


_LLONG_MAX = 2 ** 63 - 1


def _tick_time(now: Union[None, int, float]) -> int:
    """now as the whole seconds since the epoch the library is given."""
    if now is None:
        return int(_time.time())
    if isinstance(now, bool):
        raise TypeError("now must be seconds since the epoch (an int), "
                        "not a bool")
    if hasattr(type(now), "__index__"):
        t = int(now.__index__())  # type: ignore[union-attr]
    elif isinstance(now, float):
        if now != now or now in (float("inf"), float("-inf")):
            raise ValueError("now must be a finite time, not %r" % now)
        t = int(_math.floor(now))
    else:
        raise TypeError("now must be seconds since the epoch (an int), "
                        "not %s" % type(now).__name__)
    if not -_LLONG_MAX - 1 <= t <= _LLONG_MAX:
        raise ValueError("now %d is out of the C long long range" % t)
    return t


class Watcher(_Ticker):
    """Runs watch ticks over a tracker, an agent client, a CI adapter and
    a notifier (duck-typed host objects; see the module's documentation
    for their methods).

    Free its C handles with close() (or a with block); garbage collection
    does it too.  Actions and Issues stay valid after it is gone.

    After every run_once(), whether it returned or raised:

    .last_result  the list of afk.Action of that tick - for a tick that
                  failed part-way, the runs it got to, the failing one
                  last with what was done to it by then - or None when
                  the tick did not start (None before the first).
    .last_error   the library's message (afk_watcher_errmsg) when the
                  tick failed, "" when it succeeded (and before the
                  first): it names the issue and the step.
    """

    _kind = "Watcher"
    _tick_name = "watch"
    _required = (("tracker", "tracker", "list_ready"),
                 ("tracker", "tracker", "find_comment"),
                 ("tracker", "tracker", "upsert_comment"),
                 ("tracker", "tracker", "add_label"),
                 ("tracker", "tracker", "remove_label"),
                 ("tracker", "tracker", "close_issue"),
                 ("agent", "t3_client", "snapshot"),
                 ("agent", "t3_client", "send_turn"),
                 ("ci", "ci", "status"),
                 ("notifier", "notifier", "notify"))
    _handles = (("_w", _L.afk_watcher_free), ("_t", _L.afk_tracker_free),
                ("_a", _L.afk_agent_free), ("_c", _L.afk_ci_free),
                ("_n", _L.afk_notifier_free))
    _c_run = _L.afk_watcher_run_once
    _c_errmsg = _L.afk_watcher_errmsg
    _c_free_out = "afk_actions_free"
    def _copy_out(self, r: int, listed: Any, tids: List[str],
                  keys: List[Tuple[bytes, int]], rc: int) -> Actions:
        return _collect_actions(r, listed, self._st.repo)

    _t: Optional[int]
    _a: Optional[int]
    _c: Optional[int]
    _n: Optional[int]
    _w: Optional[int]

    def __init__(self, tracker: Tracker, t3_client: Agent, ci: CI,
                 notifier: Notifier) -> None:
        _refuse_none("Watcher", tracker=tracker, t3_client=t3_client, ci=ci,
                     notifier=notifier)
        self._setup(None, tracker, t3_client, ci, notifier)

    @classmethod
    def from_config(cls, config: Config, *,
                    tracker: Optional[Tracker] = None,
                    t3_client: Optional[Agent] = None,
                    ci: Optional[CI] = None,
                    notifier: Optional[Notifier] = None) -> Watcher:
        """A Watcher over the built-in adapters config (an afk.Config)
        selects - its "tracker", "agent", "ci" and "notifier" keys.  Pass
        any of tracker=, t3_client=, ci=, notifier= (a host object, as
        for Watcher()) to replace that one adapter and keep the others
        built in.  Raises afk.Error (ECONFIG) naming the adapter when
        config selects none or its set-up fails.  See
        Poller.from_config()."""
        _config_for("Watcher", config)
        self = cls.__new__(cls)
        self._setup(config, tracker, t3_client, ci, notifier)
        return self

    def _setup(self, config: Optional[Config], tracker: Optional[Tracker],
               t3_client: Optional[Agent], ci: Optional[CI],
               notifier: Optional[Notifier]) -> None:
        #: The actions of the last run_once() (None: none started).
        self.last_result = None
        #: The library's message for the last run_once() ("": success).
        self.last_error = ""
        st = _WatchTick(tracker, t3_client, ci, notifier)
        _Ticker.__init__(self, st)
        L = _L
        # Kept as long as the C handles may call them.  Every method of a
        # host adapter is registered: each is looked up only when the
        # library calls it.
        self._made(self._make("_t", L.afk_tracker_new) or
                   self._make("_a", L.afk_agent_new) or
                   self._make("_c", L.afk_ci_new) or
                   self._make("_n", L.afk_notifier_new))
        host = (
            (tracker, "tracker", self._t, (
                (L.afk_tracker_set_list_ready, _list_ready_cb),
                (L.afk_tracker_set_add_label, _add_label_cb),
                (L.afk_tracker_set_remove_label, _remove_label_cb),
                (L.afk_tracker_set_close_issue, _close_issue_cb),
                (L.afk_tracker_set_find_comment, _find_comment_cb),
                (L.afk_tracker_set_upsert_comment, _upsert_comment_cb))),
            (t3_client, "agent", self._a, (
                (L.afk_agent_set_snapshot, _snapshot_cb),
                (L.afk_agent_set_send_turn, _send_turn_cb))),
            (ci, "ci", self._c, ((L.afk_ci_set_status, _ci_status_cb),)),
            (notifier, "notifier", self._n,
             ((L.afk_notifier_set_notify, _notify_cb),)))
        # The optional methods (tracker.list_closed, t3_client.stop) of a
        # host object: their callbacks are made now, and registered by
        # _prepare() before each armed tick only while the object has the
        # method - nothing is looked up before.
        self._optional: List[Tuple[Any, str, Any, Any, Any, List[bool]]] = []
        optional: Tuple[Tuple[Any, str, Any, Any, Any], ...] = (
            (tracker, "list_closed", L.afk_tracker_set_list_closed,
             self._t, _list_closed_cb),
            (t3_client, "stop", L.afk_agent_set_stop, self._a, _stop_cb))
        for o_obj, o_name, o_setter, o_h, o_make in optional:
            if o_obj is not None:
                o_cb = o_make(st)
                self._cbs += (o_cb,)
                self._optional.append((o_obj, o_name, o_setter, o_h, o_cb,
                                       [False]))
        for obj, role, h, setters in host:
            if obj is None:
                self._set_builtin(role, config)
                continue
            for setter, make in setters:
                cb = make(st)
                self._cbs += (cb,)
                self._made(setter(h, cb))
        self._wst = st
        self._made(self._make("_w", L.afk_watcher_new, self._t, self._a,
                              self._c, self._n))

    def _prepare(self) -> None:
        """Before an armed tick: registers the callback of each optional
        method the host object has now, and unregisters the others (a
        tracker without list_closed leaves closed issues unreconciled; a
        run of an agent without stop is finalised and unlocked all the
        same, its checklist saying the agent could not be stopped)."""
        for obj, name, setter, h, cb, on in self._optional:
            has = callable(getattr(obj, name, None))
            if has != on[0]:
                # fails only for a NULL handle, which a closed ticker
                # refused before
                setter(h, cb if has else None)
                on[0] = has

    @property
    def ci(self) -> Any:
        return self._wst.ci

    @property
    def notifier(self) -> Any:
        return self._wst.notifier

    def run_once(self, config: Config,
                 now: Union[None, int, float] = None) -> Actions:
        """Runs one watch tick with config (an afk.Config) at time now
        and returns what it did: a list of afk.Action, one per run in
        progress, in the tracker's order (== [] when there was none).

        now is the time in seconds since the epoch (an int; a float is
        rounded down); None, the default, means time.time().  The
        library reads no clock: every deadline is measured against now.

        A disarmed config (kill switch on, or an empty allowlist) calls
        no adapter method at all, checks none, and returns [].  An armed
        one first checks that every method of the four adapters a watch
        tick may call exists and is callable: TypeError naming the first
        that is not, before any call.

        When a host method raises, that run stops there, the tick goes
        on with the other runs, and the first such exception is raised
        here, exactly as the host raised it.  The result is an
        afk.Actions: a list of afk.Action with every failure in .errors.  A value a host method
        returned that the library cannot use fails that call likewise,
        with ValueError (a bad state, phase or CI value) or TypeError
        (not a mapping or object, not a str).  The run is left so that
        the next tick completes it: no action is done twice.

        Before returning or raising, every call sets self.last_result
        and self.last_error, as Poller.run_once() does.  When the tick
        failed part-way after deciding a run's action, the last Action
        is that run, with what had been done to it; a run that failed
        before its action was decided (e.g. in snapshot or ci.status)
        reports no Action.  Other failures
        raise afk.Error (afk.ReentrancyError when called from inside one
        of this Watcher's own callbacks), with the actions as .result.
        A second thread calling run_once() on the same Watcher waits for
        the first.
        """
        if not isinstance(config, Config):
            self._not_config(config)
        try:
            t = _tick_time(now)
        except (TypeError, ValueError) as e:
            self.last_result, self.last_error = None, str(e)
            raise
        acts: Actions = self._run(config, t)
        return acts
