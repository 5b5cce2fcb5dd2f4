"""afk - the Python binding of libafk.

libafk reads an issue tracker's ready issues, picks what may run (one per
repository, trusted, unblocked, not locked), dispatches each pick to a
coding agent and then stamps the in-progress label that locks its
repository (the poll tick, afk.Poller).  It then watches each run to its
end (the watch tick, afk.Watcher): it closes the issue once the pull
request is merged and CI is green (or deployed), sends the agent a
corrective turn when CI fails, and hands the issue to a human when the
agent fails or stalls or the fix-forward budget is spent.  This package
is pure Python over ctypes: the policy is the C library's, the adapters
are the host's own objects.

    import afk

    cfg = afk.Config(kill_switch=False, allowlist=["infra", "acme/api"])
    poller = afk.Poller(tracker=my_tracker, t3_client=my_agent)
    result = poller.run_once(cfg)
    for d in result.dispatched:
        print(d.issue.repo, d.issue.number, d.thread_id)

    watcher = afk.Watcher(tracker=my_tracker, t3_client=my_agent,
                          ci=my_ci, notifier=my_pager)
    for a in watcher.run_once(cfg):        # now=None: time.time()
        print(a.repo, a.number, a.action, a.reason, a.phase)

Adapters are duck-typed host objects (None is refused).  Before an armed
tick calls anything, run_once() checks that every method that tick may
call is there and callable, and raises TypeError naming the first that
is not - a poll tick: tracker.list_ready, tracker.add_label,
t3_client.dispatch; a watch tick: all of the methods below but
dispatch.  A disarmed tick calls and checks nothing.  A method is looked
up again each time it is called; upsert_comment is optional for a poll
tick (the Poller asks once, when it is made, whether the tracker has
it):

    tracker.list_ready(repos: list[str]) -> iterable of afk.Issue
        the open issues carrying the ready or the in-progress label,
        with their labels (the watch tick follows the in-progress ones);
        among them, an afk.ListingFailure(repo, number=0, message=None,
        code=afk.EIO) for each repository that could not be listed
        (number 0: nothing of it is dispatched) or issue that could not
        be vetted (number > 0: it is skipped as afk.SKIP_UNVETTED)
    tracker.add_label(repo: str, issue: int, label: str) -> ignored
    tracker.remove_label(repo, issue, label) -> ignored
        (removing a label the issue lacks must succeed)
    tracker.close_issue(repo, issue) -> ignored
    tracker.find_comment(repo, issue, marker: str)
        -> str | None | (str | None, url: str | None)
        the body of the first comment containing marker, or None; a
        (body, url) pair also gives the issue's address, which
        notifications link to
    tracker.upsert_comment(repo, issue, marker, body: str) -> ignored
        replace the first comment containing marker, else add one
    t3_client.dispatch(repo: str, issue: int, prompt: str) -> str
    t3_client.snapshot(thread_id: str) -> mapping or object with
        state  "running", "completed", "interrupted", "errored",
               "stopped", "waiting_approval", "waiting_input" (or an
               afk.AGENT_* int); required
        phase  "dispatched", "tests-red", "green", "pushed" (or an
               afk.PHASE_* int up to PHASE_PUSHED); missing: dispatched
    t3_client.send_turn(thread_id, prompt: str) -> ignored
    ci.status(repo, issue) -> mapping or object (or None: nothing) with
        pr       "none", "open", "merged" (or afk.PR_*)
        head     the PR head's commit id, str or None
        ci       "none", "pending", "success", "failure" (afk.STATUS_*)
        failing  the failing checks: names, (name, url) pairs, or a
                 mapping of names to urls (url may be None)
        deploy   as ci
        pr_number, pr_author, pr_branch   optional: which pull request
                 it is (an int > 0, str, str), shown in the run's
                 checklist as "#42 (afk-bot, branch afk/issue-7)"
        a missing or None member is "none" (no failing checks)
    notifier.notify(repo, issue, message: str, link: str | None)
        -> ignored

An exception a host method raises fails that call only: the library
sees the callback as failed (a failed dispatch is never labelled) and
the tick goes on with the other repositories (or runs).  After the tick,
run_once() raises the first such exception as the very same object,
with its traceback, and untouched (no attribute or note is added).  A
KeyboardInterrupt or SystemExit starts nothing new: no later dispatch,
no later run is tried (a dispatched issue still gets its lock).  A
ConnectionRefusedError or TimeoutError from t3_client.dispatch tells the
library the agent is unreachable: the tick dispatches nothing more.  A
value the library cannot use fails the call the same way: ValueError
for a bad state, phase or CI value, TypeError for a reply of the wrong
kind.  What the tick did, and every failure, is on the Poller or
Watcher: .last_result (with .errors, a list of afk.Failure) and
.last_error.  A tick whose only failures are the ListingFailures its
tracker returned raises afk.Error with the first, after dispatching (or
watching) the rest.  See Poller.run_once() and Watcher.run_once().

Objects outlive the handles that made them: an Issue owns its own C
handle, and a Result and the Actions of a watch tick are plain Python,
copied out of the C result before that is freed.

Thread safety: each Config, Poller and Watcher may be shared between
threads; each Poller or Watcher runs one tick at a time (a second thread
waits), and the library runs with the GIL held (see afk._native).
"""

import errno as _errno
import json as _json
import math as _math
import os as _os
import threading as _threading
import time as _time
from collections import namedtuple as _namedtuple
from collections.abc import Mapping as _Mapping
from itertools import repeat as _repeat
from ctypes import byref as _byref, c_void_p as _c_void_p, \
    string_at as _string_at

from . import _native
from ._native import lib as _L

__all__ = [
    "Config", "Issue", "Poller", "Result", "Dispatch", "SkipReason",
    "Failure", "ListingFailure", "Actions",
    "Error", "ReentrancyError", "library_version", "library_path",
    "strerror",
    "OK", "EINVAL", "ENOMEM", "ECONFIG", "EIO", "ERECURSIVE", "ECALLBACK",
    "ELABEL", "ENOTSUP", "EPARSE", "EUNAVAIL",
    "SKIP_NOT_ALLOWLISTED", "SKIP_IN_PROGRESS", "SKIP_UNTRUSTED",
    "SKIP_BLOCKED", "SKIP_LOCKED", "SKIP_OUTRANKED",
    "SKIP_DISPATCH_FAILED", "SKIP_NOT_REACHED", "SKIP_REPO_FAILED",
    "SKIP_UNVETTED", "SKIP_AGENT_UNAVAILABLE",
    "Watcher", "Action", "ActionKind", "EscalationReason", "Phase",
    "AGENT_RUNNING", "AGENT_COMPLETED", "AGENT_INTERRUPTED",
    "AGENT_ERRORED", "AGENT_STOPPED", "AGENT_WAITING_APPROVAL",
    "AGENT_WAITING_INPUT",
    "PHASE_DISPATCHED", "PHASE_TESTS_RED", "PHASE_GREEN", "PHASE_PUSHED",
    "PHASE_CI", "PHASE_DEPLOYED",
    "PR_NONE", "PR_OPEN", "PR_MERGED",
    "STATUS_NONE", "STATUS_PENDING", "STATUS_SUCCESS", "STATUS_FAILURE",
    "ACTION_WAIT", "ACTION_CLOSE", "ACTION_FIX_FORWARD", "ACTION_ESCALATE",
    "ESCALATE_AGENT_FAILED", "ESCALATE_AGENT_STOPPED",
    "ESCALATE_AGENT_WAITING", "ESCALATE_STALLED", "ESCALATE_CI_FAILED",
    "ESCALATE_DEPLOY_FAILED", "ESCALATE_CI_TIMEOUT",
    "ESCALATE_DEPLOY_TIMEOUT", "ESCALATE_NO_RECORD",
]

#: The version of the libafk that was loaded, e.g. "1.0.0".
library_version = _native.version
#: The path it was loaded from.
library_path = _native.path

# The codes of include/afk/common.h.
OK = 0
EINVAL = -1
ENOMEM = -2
ECONFIG = -3
EIO = -4
ERECURSIVE = -5
ECALLBACK = -6
ELABEL = -7
ENOTSUP = -8
EPARSE = -9
EUNAVAIL = -10

# The reasons of include/afk/poller.h.
SKIP_NOT_ALLOWLISTED = 1
SKIP_IN_PROGRESS = 2
SKIP_UNTRUSTED = 3
SKIP_BLOCKED = 4
SKIP_LOCKED = 5
SKIP_OUTRANKED = 6
SKIP_DISPATCH_FAILED = 7
SKIP_NOT_REACHED = 8
SKIP_REPO_FAILED = 9
SKIP_UNVETTED = 10
SKIP_AGENT_UNAVAILABLE = 11

# The values of include/afk/run.h.  What an agent thread is doing:
AGENT_RUNNING = 1
AGENT_COMPLETED = 2
AGENT_INTERRUPTED = 3
AGENT_ERRORED = 4
AGENT_STOPPED = 5
AGENT_WAITING_APPROVAL = 6
AGENT_WAITING_INPUT = 7
# The phases of a run, in order (the agent reports the first four):
PHASE_DISPATCHED = 0
PHASE_TESTS_RED = 1
PHASE_GREEN = 2
PHASE_PUSHED = 3
PHASE_CI = 4
PHASE_DEPLOYED = 5
# The pull request of an issue:
PR_NONE = 0
PR_OPEN = 1
PR_MERGED = 2
# CI on the pull request's head, and the deploy:
STATUS_NONE = 0
STATUS_PENDING = 1
STATUS_SUCCESS = 2
STATUS_FAILURE = 3
# What the watch tick does with a run:
ACTION_WAIT = 1
ACTION_CLOSE = 2
ACTION_FIX_FORWARD = 3
ACTION_ESCALATE = 4
# Why a run is escalated:
ESCALATE_AGENT_FAILED = 1
ESCALATE_AGENT_STOPPED = 2
ESCALATE_AGENT_WAITING = 3
ESCALATE_STALLED = 4
ESCALATE_CI_FAILED = 5
ESCALATE_DEPLOY_FAILED = 6
ESCALATE_CI_TIMEOUT = 7
ESCALATE_DEPLOY_TIMEOUT = 8
ESCALATE_NO_RECORD = 9

# The names host methods may use for them.
_AGENT_STATES = {"running": AGENT_RUNNING, "completed": AGENT_COMPLETED,
                 "interrupted": AGENT_INTERRUPTED,
                 "errored": AGENT_ERRORED, "stopped": AGENT_STOPPED,
                 "waiting_approval": AGENT_WAITING_APPROVAL,
                 "waiting_input": AGENT_WAITING_INPUT}
_AGENT_PHASES = {"dispatched": PHASE_DISPATCHED,
                 "tests-red": PHASE_TESTS_RED, "green": PHASE_GREEN,
                 "pushed": PHASE_PUSHED}
_PHASE_NAMES = ("dispatched", "tests-red", "green", "pushed", "ci",
                "deployed")
_PR_STATES = {"none": PR_NONE, "open": PR_OPEN, "merged": PR_MERGED}
_STATUSES = {"none": STATUS_NONE, "pending": STATUS_PENDING,
             "success": STATUS_SUCCESS, "failure": STATUS_FAILURE}

_INT_MAX = 2 ** 31 - 1
_INT_MIN = -2 ** 31
_LONG_MAX = 2 ** (8 * _native.ctypes.sizeof(_native.c_long) - 1) - 1


def strerror(code):
    """The library's English name of an AFK_* code."""
    return _L.afk_strerror(code).decode("utf-8", "replace")


def _text(raw):
    """A string the library lent, as str (b"" for NULL)."""
    return (raw or b"").decode("utf-8", "replace")


def _cstr(s, what):
    """s (a str) as NUL-free UTF-8 for a const char * argument."""
    if not isinstance(s, str):
        raise TypeError("%s must be a str, not %s" % (what, type(s).__name__))
    b = s.encode("utf-8")
    if b"\0" in b:
        raise ValueError("%s must not contain a NUL character" % what)
    return b


# --- errors --------------------------------------------------------------

class Error(Exception):
    """A libafk failure that no Python exception caused.

    code is the AFK_* code (afk.ECONFIG, ...), message the library's
    message; result, for a tick that failed part-way, what it did before.
    Failures a host method caused are that method's own exception instead
    (see Poller.run_once()).
    """

    def __init__(self, code, message, result=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.result = result


class ReentrancyError(Error):
    """run_once() was called from inside one of its own callbacks."""


def _raise_code(rc, message):
    """Raises the Python exception of a failed configuration or
    constructor call."""
    if rc == ENOMEM:
        raise MemoryError(message or strerror(rc))
    if rc == EIO:
        # The library names errno's text, not its number: find it back so
        # that e.g. a missing file is a FileNotFoundError.
        for code in sorted(_errno.errorcode):
            if message.endswith(": " + _os.strerror(code)):
                raise OSError(code, message)
        raise OSError(message)
    if rc in (ECONFIG, EPARSE, EINVAL):
        raise ValueError(message or strerror(rc))
    raise Error(rc, message or strerror(rc))


# --- the configuration ---------------------------------------------------

def _config_keys():
    keys = []
    while True:
        k = _L.afk_config_key(len(keys))
        if k is None:
            return tuple(keys)
        keys.append(k.decode("ascii"))


_KEYS = _config_keys()
_KEY_BYTES = {k: k.encode("ascii") for k in _KEYS}


def _freeze(v):
    """A JSON value as a read-only-looking Python value: arrays become
    tuples (objects stay dicts, copies the config does not see)."""
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        return {k: _freeze(x) for k, x in v.items()}
    return v


def _thaw(v):
    """A Python value as something json.dumps writes: tuples and lists are
    arrays, path-like objects strings."""
    if isinstance(v, _os.PathLike):
        return _os.fspath(v)
    if isinstance(v, (tuple, list)):
        return [_thaw(x) for x in v]
    if isinstance(v, dict):
        return {k: _thaw(x) for k, x in v.items()}
    return v


def _dumps(v):
    return _json.dumps(_thaw(v), allow_nan=False).encode("utf-8")


class Config:
    """A libafk configuration: every key of the C library is a keyword.

        afk.Config(kill_switch=False, allowlist=["infra"])

    The defaults are the library's and fail closed: the kill switch is on
    and the allowlist empty, so a tick made with a bare Config() calls no
    adapter at all.  Keys are enumerated from the library when the module
    is imported (Config.KEYS), so a key a newer libafk adds is a keyword
    here too.

    Values are checked by the library: a refused one raises ValueError
    with the library's message (OSError for an I/O failure the library
    reports as such), and an unknown keyword TypeError.  The keywords are applied
    together, as one change: their order does not matter, and a refusal
    leaves nothing half-set.

    Every key is an attribute: cfg.allowlist is a tuple, cfg.kill_switch
    a bool, the adapter keys ("tracker", "agent") dicts or None.
    Assigning one (cfg.kill_switch = False) sets it through the library,
    validated the same way; a refused value leaves the configuration as
    it was.  update(**settings) sets several at once; get(key) and
    set(key, value) reach any key by name (also one a future libafk might
    name like a method here).

    Implementation: the keywords go to afk_config_load_string() as one
    JSON object (a refusal's "<string>:1: " prefix is dropped, leaving
    afk_config_set()'s exact message); one assignment goes to
    afk_config_set(); reads come from afk_config_get().
    """

    __slots__ = ("_h", "_lock", "__weakref__")

    #: The names of every key, in the library's order.
    KEYS = _KEYS

    def __init__(self, **settings):
        object.__setattr__(self, "_h", None)
        object.__setattr__(self, "_lock", _threading.RLock())
        h = _c_void_p()
        rc = _L.afk_config_new(_byref(h))
        if rc:
            _raise_code(rc, "afk_config_new: " + strerror(rc))
        object.__setattr__(self, "_h", h.value)
        self._load(settings, "Config()")

    def __del__(self, _free=_L.afk_config_free):
        try:
            h = object.__getattribute__(self, "_h")
        except AttributeError:  # __init__ never ran
            return
        if h:
            object.__setattr__(self, "_h", None)
            _free(h)

    # Copying the handle would free it twice: rebuild from the values.
    def __reduce__(self):
        return (_config_from_dict, (self.to_dict(),))

    @classmethod
    def from_file(cls, path):
        """A Config read from the JSON file at path (see afk.json(5)),
        over the defaults.  ValueError (or OSError) with the library's
        message, which names the key and its line."""
        cfg = cls()
        rc = _L.afk_config_load_file(cfg._h, _os.fsencode(path))
        if rc:
            _raise_code(rc, cfg._errmsg())
        return cfg

    @classmethod
    def from_json(cls, text):
        """A Config read from JSON text (a str), as from_file()."""
        cfg = cls()
        with cfg._lock:
            rc = _L.afk_config_load_string(cfg._h, _cstr(text, "text"))
            if rc:
                _raise_code(rc, cfg._errmsg())
        return cfg

    def _errmsg(self):
        return _text(_L.afk_config_errmsg(self._h))

    def _load(self, settings, who):
        for key in settings:
            if key not in _KEY_BYTES:
                raise TypeError("%s got an unexpected keyword argument %r"
                                % (who, key))
        if not settings:
            return
        text = _dumps(settings)
        with self._lock:
            rc = _L.afk_config_load_string(self._h, text)
            if rc:
                msg = self._errmsg()
                # The text is ours, on one line: what the user wrote is
                # a keyword, not "<string>:1".
                if msg.startswith("<string>:1: "):
                    msg = msg[len("<string>:1: "):]
                _raise_code(rc, msg)

    def update(self, **settings):
        """Sets several keys at once: all of them or, on a refusal (which
        raises as the constructor does), none."""
        self._load(settings, "update()")

    def set(self, key, value):
        """Sets one key; cfg.set("allowlist", [...]) is cfg.allowlist = [...]"""
        kb = _KEY_BYTES.get(key)
        if kb is None:
            raise AttributeError("afk.Config has no key %r" % (key,))
        text = _dumps(value)
        with self._lock:
            rc = _L.afk_config_set(self._h, kb, text)
            if rc:
                _raise_code(rc, self._errmsg())

    def get(self, key):
        """The value of one key (cfg.get("allowlist") is cfg.allowlist)."""
        kb = _KEY_BYTES.get(key)
        if kb is None:
            raise AttributeError("afk.Config has no key %r" % (key,))
        out = _c_void_p()
        with self._lock:
            rc = _L.afk_config_get(self._h, kb, _byref(out))
        if rc:
            _raise_code(rc, "afk_config_get(%s): %s" % (key, strerror(rc)))
        try:
            text = _string_at(out.value)
        finally:
            _L.afk_free(out.value)
        return _freeze(_json.loads(text))

    def apply_env(self):
        """Applies $AFK_KILL_SWITCH and $AFK_ALLOWLIST (see
        afk_config_apply_env(3)); ValueError when one is malformed."""
        with self._lock:
            rc = _L.afk_config_apply_env(self._h)
            if rc:
                _raise_code(rc, self._errmsg())

    @property
    def armed(self):
        """True when a tick with this configuration may dispatch: the kill
        switch is off and the allowlist is not empty."""
        return bool(_L.afk_config_armed(self._h))

    def to_dict(self):
        """Every key and its value."""
        return {k: self.get(k) for k in _KEYS}

    def __getattr__(self, name):
        # Only reached for names that are not methods or slots.
        if name in _KEY_BYTES:
            return self.get(name)
        raise AttributeError("afk.Config has no attribute or key %r"
                             % (name,))

    def __setattr__(self, name, value):
        if name in _KEY_BYTES:
            self.set(name, value)
        else:
            raise AttributeError("afk.Config has no key %r (keys: %s)"
                                 % (name, ", ".join(_KEYS)))

    def __delattr__(self, name):
        raise AttributeError("afk.Config keys cannot be deleted; set "
                             "them instead")

    def __eq__(self, other):
        if not isinstance(other, Config):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None

    def __repr__(self):
        return "afk.Config(%s)" % ", ".join(
            "%s=%r" % kv for kv in self.to_dict().items())


def _config_from_dict(settings):
    return Config(**settings)


# --- issues --------------------------------------------------------------

_set = object.__setattr__


class Issue:
    """An issue as a tracker reports it; immutable.

        afk.Issue("infra", 7, title="Fix CI", labels=("ready-for-agent",),
                  priority=2, labeled_by_trusted=True, blocked_by=(3,))

    repo is a non-empty name ("infra" or "owner/name"), number > 0.  A
    larger priority is picked first.  labeled_by_trusted: the ready label
    was applied by a trusted user (only such an issue is ever
    dispatched).  blocked_by: the numbers of open issues of the same
    repository that block this one (a blocked issue is never dispatched).
    labels keeps the first of any repeats, as the library does.

    Each Issue builds its C handle once, here, so handing it to the
    library costs one call per tick.  Use replace() for a changed copy.
    """

    __slots__ = ("repo", "number", "title", "labels", "priority",
                 "labeled_by_trusted", "blocked_by", "_h", "_key")

    def __init__(self, repo, number, title="", labels=(), priority=0,
                 labeled_by_trusted=False, blocked_by=()):
        _set(self, "_h", None)
        repo_b = _cstr(repo, "repo")
        if not repo_b:
            raise ValueError("repo must not be empty")
        number = _index(number, "number")
        if not 0 < number <= _LONG_MAX:
            raise ValueError("number must be > 0, not %d" % number)
        title_b = _cstr(title, "title")
        if isinstance(labels, (str, bytes)):
            raise TypeError("labels must be an iterable of str, not a "
                            "single %s" % type(labels).__name__)
        labels = tuple(dict.fromkeys(labels))
        labels_b = []
        for label in labels:
            b = _cstr(label, "a label")
            if not b:
                raise ValueError("a label must not be empty")
            labels_b.append(b)
        priority = _index(priority, "priority")
        if not _INT_MIN <= priority <= _INT_MAX:
            raise ValueError("priority %d is out of the C int range"
                             % priority)
        trusted = bool(labeled_by_trusted)
        if isinstance(blocked_by, (str, bytes)):
            raise TypeError("blocked_by must be an iterable of issue "
                            "numbers")
        blocked_by = tuple(_index(n, "a blocker") for n in blocked_by)
        for n in blocked_by:
            if not 0 < n <= _LONG_MAX:
                raise ValueError("a blocker must be an issue number > 0, "
                                 "not %d" % n)

        h = _c_void_p()
        rc = _L.afk_issue_new(_byref(h), repo_b, number)
        if rc:
            _raise_code(rc, "afk_issue_new: " + strerror(rc))
        h = h.value
        _set(self, "_h", h)
        rc = 0
        if title_b:
            rc = _L.afk_issue_set_title(h, title_b)
        for b in labels_b:
            rc = rc or _L.afk_issue_add_label(h, b)
        if priority:
            rc = rc or _L.afk_issue_set_priority(h, priority)
        if trusted:
            rc = rc or _L.afk_issue_set_trusted(h, 1)
        for n in blocked_by:
            rc = rc or _L.afk_issue_add_blocker(h, n)
        if rc:
            _raise_code(rc, "building the issue: " + strerror(rc))
        _set(self, "repo", repo)
        _set(self, "number", number)
        _set(self, "title", title)
        _set(self, "labels", labels)
        _set(self, "priority", priority)
        _set(self, "labeled_by_trusted", trusted)
        _set(self, "blocked_by", blocked_by)
        _set(self, "_key", (repo_b, number))

    def __del__(self, _free=_L.afk_issue_free):
        try:
            h = self._h
        except AttributeError:  # __init__ never ran
            return
        if h:
            _set(self, "_h", None)
            _free(h)

    def __setattr__(self, name, value):
        raise AttributeError("afk.Issue is immutable; use replace()")

    def __delattr__(self, name):
        raise AttributeError("afk.Issue is immutable; use replace()")

    def replace(self, **changes):
        """A copy with the given attributes changed."""
        fields = self._fields()
        for k in changes:
            if k not in fields:
                raise TypeError("replace() got an unexpected keyword "
                                "argument %r" % (k,))
        fields.update(changes)
        return Issue(**fields)

    def _fields(self):
        return {"repo": self.repo, "number": self.number,
                "title": self.title, "labels": self.labels,
                "priority": self.priority,
                "labeled_by_trusted": self.labeled_by_trusted,
                "blocked_by": self.blocked_by}

    def _astuple(self):
        return (self.repo, self.number, self.title, self.labels,
                self.priority, self.labeled_by_trusted, self.blocked_by)

    def __reduce__(self):
        return (Issue, self._astuple())

    def __eq__(self, other):
        if not isinstance(other, Issue):
            return NotImplemented
        return self is other or self._astuple() == other._astuple()

    def __hash__(self):
        return hash(self._astuple())

    def __repr__(self):
        return ("afk.Issue(%r, %d, title=%r, labels=%r, priority=%d, "
                "labeled_by_trusted=%r, blocked_by=%r)" % self._astuple())

    @classmethod
    def _from_handle(cls, h):
        """A new Issue with the values of the C issue h (borrowed)."""
        n = _L.afk_issue_label_count(h)
        nb = _L.afk_issue_blocker_count(h)
        return cls(_text(_L.afk_issue_repo(h)), _L.afk_issue_number(h),
                   title=_text(_L.afk_issue_title(h)),
                   labels=[_text(_L.afk_issue_label(h, i))
                           for i in range(n)],
                   priority=_L.afk_issue_priority(h),
                   # 1 only: AFK_TRUST_UNCHECKED (-1) is not trusted
                   labeled_by_trusted=_L.afk_issue_trusted(h) == 1,
                   blocked_by=[_L.afk_issue_blocker(h, i)
                               for i in range(nb)])


def _index(v, what):
    if isinstance(v, bool) or not hasattr(type(v), "__index__"):
        raise TypeError("%s must be an int, not %s"
                        % (what, type(v).__name__))
    return v.__index__()


# --- results -------------------------------------------------------------

#: One dispatch of a tick: the afk.Issue the tracker listed and the id of
#: the agent's new thread (a str).
Dispatch = _namedtuple("Dispatch", ["issue", "thread_id"])


class SkipReason(str):
    """Why a listed issue was not dispatched: the library's phrase (a
    str), with the AFK_SKIP_* code as .code (afk.SKIP_BLOCKED, ...)."""

    __slots__ = ("code",)

    def __new__(cls, code):
        self = str.__new__(cls, _text(_L.afk_skip_reason_str(code)))
        self.code = code
        return self

    def __repr__(self):
        return "afk.SkipReason(%d, %s)" % (self.code, str.__repr__(self))

    def __reduce__(self):
        return (SkipReason, (self.code,))


_REASONS = {}


def _reason(code):
    r = _REASONS.get(code)
    if r is None:
        r = _REASONS[code] = SkipReason(code)
    return r


for _code in range(SKIP_NOT_ALLOWLISTED, SKIP_AGENT_UNAVAILABLE + 1):
    _reason(_code)
del _code


class Failure(_namedtuple("Failure", ["repo", "number", "code",
                                     "message"])):
    """One failure a tick met - and, unless it stopped the tick, went on
    from: a repository that could not be listed, an issue that could not
    be vetted, a dispatch or a label (or, in a watch tick, a run) that
    failed.

    repo     the repository (a str), "" for a failure of no one
             repository (the whole listing failed, say)
    number   the issue's number, 0 for a whole repository
    code     the library's code (afk.EIO, afk.EUNAVAIL, afk.ECALLBACK for
             a host method that raised, ...)
    message  the library's message: it names the step, and for a host
             method that raised, the method and its exception
    """

    __slots__ = ()


class ListingFailure:
    """A part of the listing tracker.list_ready could not read: returned
    (not raised) among its issues, so that one repository's outage is
    its own and the tick goes on with the others.

        def list_ready(self, repos):
            for repo in repos:
                try:
                    yield from self.fetch_ready(repo)   # afk.Issue objects
                except OSError as e:
                    yield afk.ListingFailure(repo, message=str(e))

    repo     the repository (a non-empty str)
    number   0, the default: the repository could not be listed.  A poll
             tick dispatches nothing in it - its locks are unknown - and
             skips as afk.SKIP_REPO_FAILED any issue of it list_ready did
             return; a watch tick still watches the runs it returned
             (they are known to carry the lock).
             > 0: that issue could not be vetted (who applied its ready
             label could not be read).  It is never dispatched: return it
             too, and it is skipped as afk.SKIP_UNVETTED (or as locked or
             outranked, when that decides it anyway).
    message  why, a str (None, the default: the library's generic one)
    code     a negative afk.E* code - afk.EIO, the default; afk.EUNAVAIL
             for a server that could not be reached - or the host's own
             negative code

    Each one is on the tick's result as an afk.Failure (repo, number,
    code, message) in .errors, in the order returned, and run_once()
    raises afk.Error with the first one's code and message (unless a
    host method raised), the tick's result as .result.  Raising from
    list_ready instead fails the whole listing: nothing is dispatched.

    Immutable; bad values raise TypeError or ValueError here, when it is
    made (afk_call_add_error(3) is the C API).
    """

    __slots__ = ("repo", "number", "message", "code", "_c")

    def __init__(self, repo, number=0, message=None, code=EIO):
        repo_b = _cstr(repo, "ListingFailure: repo")
        if not repo_b:
            raise ValueError("ListingFailure: repo must not be empty")
        number = _index(number, "ListingFailure: number")
        if not 0 <= number <= _LONG_MAX:
            raise ValueError("ListingFailure: number must be 0 (the whole "
                             "repository) or an issue number > 0, not %d"
                             % number)
        message_b = None if message is None else _cstr(
            message, "ListingFailure: message")
        code = _index(code, "ListingFailure: code")
        if not _INT_MIN <= code < 0:
            raise ValueError("ListingFailure: code must be a negative "
                             "afk.E* code (afk.EIO, ...), not %d" % code)
        _set(self, "repo", repo)
        _set(self, "number", number)
        _set(self, "message", message)
        _set(self, "code", code)
        # The arguments of afk_call_add_error() after the call.
        _set(self, "_c", (repo_b, number, code, message_b))

    def __setattr__(self, name, value):
        raise AttributeError("afk.ListingFailure is immutable")

    def __delattr__(self, name):
        raise AttributeError("afk.ListingFailure is immutable")

    def _astuple(self):
        return (self.repo, self.number, self.message, self.code)

    def __reduce__(self):
        return (ListingFailure, self._astuple())

    def __eq__(self, other):
        if not isinstance(other, ListingFailure):
            return NotImplemented
        return self._astuple() == other._astuple()

    def __hash__(self):
        return hash(self._astuple())

    def __repr__(self):
        return ("afk.ListingFailure(%r, %d, message=%r, code=%d)"
                % self._astuple())


def _failures(out, count, repo, number, code, message):
    """The failures of a C result or actions out, as afk.Failure."""
    return [Failure(_text(repo(out, i)), number(out, i), code(out, i),
                    _text(message(out, i)))
            for i in range(count(out))]


class Result(list):
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

    def __init__(self, dispatched=(), skipped=(), errors=()):
        super().__init__(dispatched)
        self.skipped = list(skipped)
        self.errors = list(errors)

    @property
    def dispatched(self):
        return self

    def __repr__(self):
        return "afk.Result(dispatched=%s, skipped=%r, errors=%r)" % (
            list.__repr__(self), self.skipped, self.errors)

    def __reduce__(self):
        return (Result, (list(self), self.skipped, self.errors))


def _collect(r, listed, repo_str):
    """Copies the C result r into a Result, mapping its issues back to the
    Issue objects of listed (what list_ready handed over, in order) by
    (repo, number), as plain Python that outlives r."""
    L = _L
    dispatched = []
    for i in range(L.afk_result_dispatched_count(r)):
        h = L.afk_result_dispatched_issue(r, i)
        dispatched.append(((L.afk_issue_repo(h), L.afk_issue_number(h)),
                           L.afk_result_dispatched_thread(r, i), h))
    ns = L.afk_result_skipped_count(r)
    res = _collect_fast(r, listed, dispatched, ns)
    if res is None:
        res = _collect_slow(r, listed, dispatched, ns, repo_str)
    res.errors = _failures(r, L.afk_result_error_count,
                           L.afk_result_error_repo,
                           L.afk_result_error_number,
                           L.afk_result_error_code,
                           L.afk_result_error_message)
    return res


def _collect_fast(r, listed, dispatched, ns):
    """The usual case, in one C call per skipped issue: every listed issue
    was either dispatched or skipped, skipped in the tracker's order, and
    no dispatched (repo, number) was listed twice.  Then the i-th listed
    issue that was not dispatched is the i-th skipped one.  None when the
    result does not have that shape."""
    nd = len(dispatched)
    if nd + ns != len(listed):
        return None
    found = dict.fromkeys(d[0] for d in dispatched)
    if len(found) != nd:
        return None
    if nd:
        rest = []
        keep = rest.append
        for issue in listed:
            key = issue._key
            if key in found:
                if found[key] is not None:
                    return None  # listed twice: which one ran is unknown
                found[key] = issue
            else:
                keep(issue)
    else:
        rest = listed
    # Every dispatch found once, and spot checks that the order holds.
    if len(rest) != ns:
        return None
    if ns and (_L.afk_result_skipped_number(r, 0) != rest[0].number or
               _L.afk_result_skipped_number(r, ns - 1) != rest[-1].number):
        return None
    # map() makes the C calls without a Python loop around them.
    codes = list(map(_L.afk_result_skipped_reason, _repeat(r, ns),
                     range(ns)))
    try:
        whys = map(_REASONS.__getitem__, codes)
        skipped = list(zip(rest, whys))
    except KeyError:
        skipped = list(zip(rest, map(_reason, codes)))
    res = Result()
    res.skipped = skipped
    for key, thread, _ in dispatched:
        res.append(Dispatch(found[key], thread.decode("utf-8", "replace")))
    return res


def _collect_slow(r, listed, dispatched, ns, repo_str):
    """Any result: each skipped issue is found by (repo, number) in
    listed, in order; the dispatched ones among what is left."""
    L = _L
    skipped = []
    leftover = []
    it = iter(listed)
    for i in range(ns):
        key = (L.afk_result_skipped_repo(r, i),
               L.afk_result_skipped_number(r, i))
        for issue in it:
            if issue._key == key:
                break
            leftover.append(issue)
        else:
            issue = (repo_str(key[0]), key[1])
        skipped.append((issue, _reason(L.afk_result_skipped_reason(r, i))))
    leftover.extend(it)
    by_key = {}
    for issue in reversed(leftover):
        by_key[issue._key] = issue
    res = Result()
    res.skipped = skipped
    for key, thread, h in dispatched:
        issue = by_key.pop(key, None)
        if issue is None:
            issue = Issue._from_handle(h)
        res.append(Dispatch(issue, thread.decode("utf-8", "replace")))
    return res


# --- the poller ----------------------------------------------------------

class _Tick:
    """What the callbacks of one Poller share: its adapters and the state
    of the tick running.  Kept apart from the Poller so that the C
    callbacks (closures over this) do not make a cycle through it."""

    __slots__ = ("tracker", "agent", "listed", "exc", "halt", "repos")

    def __init__(self, tracker, agent):
        self.tracker = tracker
        self.agent = agent
        self.listed = None
        self.exc = None
        self.halt = None
        self.repos = {}

    def repo(self, b):
        """The str of a repository name the library passed (cached)."""
        s = self.repos.get(b)
        if s is None:
            if len(self.repos) > 4096:
                self.repos.clear()
            s = self.repos[b] = b.decode("utf-8", "replace")
        return s

    def fail(self, call, exc, what):
        """Records exc to raise after the C call - the first only: the
        tick goes on with the other repositories or runs - and tells the
        library the callback failed: AFK_EUNAVAIL for a server that
        refused the connection or timed out (the tick then asks it no
        more), else AFK_ECALLBACK.  Never raises."""
        try:
            if self.exc is None:
                self.exc = exc
            if not isinstance(exc, Exception) and self.halt is None:
                # KeyboardInterrupt, SystemExit: the host wants out, not
                # the next repository.
                self.halt = type(exc).__name__
            try:
                text = "%s raised %s: %s" % (what, type(exc).__name__, exc)
            except BaseException:
                text = "%s raised %s" % (what, type(exc).__name__)
            _L.afk_call_set_error(call, text.encode("utf-8", "replace")
                                  .replace(b"\0", b"?"))
        except BaseException:
            pass
        if isinstance(exc, (ConnectionRefusedError, TimeoutError)):
            return EUNAVAIL
        return ECALLBACK

    def halted(self, call, what):
        """Fails a callback that would start new work - a dispatch, the
        watch of the next run - without calling the host: an earlier one
        of the tick raised KeyboardInterrupt or SystemExit, and the host
        wants out, not the next repository.  What is under way finishes
        (a dispatched issue still gets its lock).  Never raises."""
        try:
            _L.afk_call_set_error(call, ("%s not called: the tick was "
                                         "interrupted by %s"
                                         % (what, self.halt)).encode())
        except BaseException:
            pass
        return ECALLBACK


def _split_listing(listed):
    """What list_ready returned, as its afk.Issue objects and its
    afk.ListingFailure objects, each in order; TypeError for anything
    else."""
    issues, failures = [], []
    for x in listed:
        if isinstance(x, Issue):
            issues.append(x)
        elif isinstance(x, ListingFailure):
            failures.append(x)
        else:
            raise TypeError("tracker.list_ready must return afk.Issue and "
                            "afk.ListingFailure objects, not %s"
                            % type(x).__name__)
    return issues, failures


def _list_ready_cb(st):
    """The C list_ready callback over st.  Like every callback here it
    catches everything (a Python exception cannot cross C), records it
    and returns AFK_ECALLBACK."""
    L = _L
    handle_of = Issue._h.__get__

    def list_ready(call, repos, nrepos, userdata):
        try:
            names = [st.repo(b) for b in repos[:nrepos]]
            got = st.tracker.list_ready(names)
            try:
                it = iter(got)
            except TypeError:
                raise TypeError("tracker.list_ready must return an "
                                "iterable of afk.Issue and "
                                "afk.ListingFailure objects, not %s"
                                % type(got).__name__) from None
            listed = list(it)  # the host may change its own list later
            failures = ()
            try:
                # The slot's getter refuses anything but an afk.Issue.
                handles = list(map(handle_of, listed))
            except TypeError:
                listed, failures = _split_listing(listed)
                handles = list(map(handle_of, listed))
            # One C call per issue, looped over by map(), not by Python.
            if any(map(L.afk_call_add_issue, _repeat(call), handles)):
                raise MemoryError("afk_call_add_issue: out of memory")
            for f in failures:
                rc = L.afk_call_add_error(call, *f._c)
                if rc:
                    _raise_code(rc, "afk_call_add_error: " + strerror(rc))
            st.listed = listed
            return 0
        except BaseException as e:
            return st.fail(call, e, "tracker.list_ready")

    return _native.LIST_READY_FN(list_ready)


def _add_label_cb(st):
    def add_label(call, repo, number, label, userdata):
        try:
            st.tracker.add_label(st.repo(repo), number,
                                 label.decode("utf-8", "replace"))
            return 0
        except BaseException as e:
            return st.fail(call, e, "tracker.add_label")

    return _native.ADD_LABEL_FN(add_label)


def _dispatch_cb(st):
    L = _L

    def dispatch(call, repo, number, prompt, userdata):
        if st.halt is not None:
            return st.halted(call, "t3_client.dispatch")
        try:
            tid = st.agent.dispatch(st.repo(repo), number,
                                    prompt.decode("utf-8", "replace"))
            if not isinstance(tid, str):
                raise TypeError("t3_client.dispatch must return the thread "
                                "id as a str, not %s" % type(tid).__name__)
            if not tid:
                raise ValueError("t3_client.dispatch returned an empty "
                                 "thread id")
            b = tid.encode("utf-8")
            if b"\0" in b:
                raise ValueError("t3_client.dispatch returned a thread id "
                                 "with a NUL character")
            rc = L.afk_call_set_thread_id(call, b)
            if rc:
                raise MemoryError("afk_call_set_thread_id: "
                                  + strerror(rc))
            return 0
        except BaseException as e:
            return st.fail(call, e, "t3_client.dispatch")

    return _native.DISPATCH_FN(dispatch)


def _upsert_comment_cb(st):
    def upsert_comment(call, repo, number, marker, body, userdata):
        try:
            st.tracker.upsert_comment(st.repo(repo), number, _text(marker),
                                      _text(body))
            return 0
        except BaseException as e:
            return st.fail(call, e, "tracker.upsert_comment")

    return _native.UPSERT_COMMENT_FN(upsert_comment)


def _refuse_none(kind, **adapters):
    """TypeError for an adapter given as None: no tick could use it."""
    for param, obj in adapters.items():
        if obj is None:
            raise TypeError("afk.%s: %s is None; pass the adapter object"
                            % (kind, param))


class _Ticker:
    """What a Poller and a Watcher share: the C handles they own, the
    state of their callbacks (a _Tick, as _st), the lock that lets one
    tick run at a time and the count of ticks running; one tick's run
    (the C call, its message, the copy and free of its result, the
    re-raise); close() and the freeing of the handles.  Each subclass
    names what differs:

    _kind        "Poller" or "Watcher", for messages
    _handles     ((attribute, afk_*_free), ...): the C handles, in the
                 order they are freed, its own (the one run_once() runs)
                 first.  The frees are held here for __del__ at exit.
    _c_run       the library's names of its run_once, its errmsg and the
    _c_errmsg    free of the result, looked up when called
    _c_free_out
    _copy_out    (out, listed, repo_str) -> the C result out as plain
                 Python
    """

    def __init__(self, st):
        for name, _ in self._handles:
            setattr(self, name, None)
        self._lock = _threading.RLock()
        self._ticking = 0
        self._st = st

    @property
    def tracker(self):
        return self._st.tracker

    @property
    def t3_client(self):
        return self._st.agent

    def _make(self, name, new, *args):
        """Calls new(&handle, *args) and keeps the handle as self.<name>
        (what new left there, had it failed too).  Returns new's code."""
        h = _c_void_p()
        rc = new(_byref(h), *args)
        setattr(self, name, h.value)
        return rc

    def _made(self, rc):
        """The end of making: when rc says it failed, frees what was made
        and raises."""
        if rc:
            self.close()
            _raise_code(rc, "making the %s: %s"
                        % (self._kind.lower(), strerror(rc)))

    def _check_methods(self, config):
        """Before an armed tick calls anything: refuses, with TypeError
        naming it, a method the tick needs (self._required) that is
        missing or not callable.  Found missing half-way, it would start
        agents without locks (a tracker without add_label).  A disarmed
        tick calls nothing, so nothing is checked."""
        if not _L.afk_config_armed(config._h):
            return
        st = self._st
        try:
            for slot, param, name in self._required:
                fn = getattr(getattr(st, slot), name, None)
                if fn is None or not callable(fn):
                    raise TypeError(
                        "afk.%s.run_once(): %s.%s is %s; an armed %s tick "
                        "needs it (nothing was called)"
                        % (self._kind, param, name,
                           "missing" if fn is None else "not callable",
                           self._tick_name))
        except BaseException as e:
            self.last_result, self.last_error = None, str(e)
            raise

    def _not_config(self, config):
        """Refuses a run_once() whose config is not an afk.Config."""
        msg = "run_once() needs an afk.Config, not %s" % type(config).__name__
        self.last_result, self.last_error = None, msg
        raise TypeError(msg)

    def _run(self, config, *args):
        """Runs one tick with config, args after it in the C call, and
        returns or raises as run_once() says."""
        if not isinstance(config, Config):
            self._not_config(config)
        st = self._st
        L = _L
        # No lock on config: the library snapshots it when the tick
        # starts, and the GIL is held while it does (afk._native).
        with self._lock:
            h = getattr(self, self._handles[0][0])
            if h is None:
                msg = "run_once() on a closed afk." + self._kind
                self.last_result, self.last_error = None, msg
                raise ValueError(msg)
            self._check_methods(config)
            saved = st.listed, st.exc, st.halt
            st.listed = ()
            st.exc = st.halt = None
            out = _c_void_p()
            self._ticking += 1
            try:
                rc = getattr(L, self._c_run)(h, config._h, *args,
                                             _byref(out))
                listed, exc = st.listed, st.exc
            finally:
                self._ticking -= 1
                st.listed, st.exc, st.halt = saved
            r = out.value
            msg = _text(getattr(L, self._c_errmsg)(h)) if rc else ""
            result = None
            try:
                if r is not None:
                    try:
                        result = self._copy_out(r, listed, st.repo)
                    finally:
                        getattr(L, self._c_free_out)(r)
            finally:
                self.last_result, self.last_error = result, msg
        if exc is not None:
            # The host's own exception, as it raised it.
            raise exc
        if rc == 0:
            return result
        if rc == ERECURSIVE:
            raise ReentrancyError(rc, msg, result)
        if rc == ENOMEM:
            raise MemoryError(msg)
        raise Error(rc, msg, result)

    def close(self):
        """Frees the C handles: the poller's (or the watcher's) own first,
        then the adapters.  A closed Poller or Watcher refuses run_once();
        closing twice is a no-op."""
        lock = getattr(self, "_lock", None)
        if lock is not None and not lock.acquire(blocking=False):
            raise RuntimeError("an afk.%s cannot be closed while a tick "
                               "runs" % self._kind)
        try:
            if getattr(self, "_ticking", 0):
                raise RuntimeError("an afk.%s cannot be closed from inside "
                                   "its own tick" % self._kind)
            self._free()
        finally:
            if lock is not None:
                lock.release()

    def _free(self):
        handles = self._handles
        hs = [getattr(self, name) for name, _ in handles]
        for name, _ in handles:
            setattr(self, name, None)
        for (_, free), h in zip(handles, hs):
            free(h)

    def __del__(self):
        # No tick can run: run_once() holds a reference to self.
        if any(getattr(self, name, None) for name, _ in self._handles):
            self._free()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __reduce__(self):
        raise TypeError("an afk.%s cannot be pickled or copied" % self._kind)


class Poller(_Ticker):
    """Runs poll ticks over a tracker and an agent client (duck-typed
    host objects; see the module's documentation).

    When the tracker has an upsert_comment attribute at the time the
    Poller is made, each dispatch's first run record (its thread id,
    which the watch tick needs) is written with
    tracker.upsert_comment(repo, issue, marker, body) right after the
    in-progress label; that is the only time the Poller looks a method
    up before calling it.  A poll-only tracker without it works as
    before, but an afk.Watcher will hand its runs to a human (no record).
    A failing upsert_comment is that repository's failure: the agent
    runs and the repository is locked, last_error says the run has no
    record, and the tick goes on with the next repository.

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
    _c_run = "afk_poller_run_once"
    _c_errmsg = "afk_poller_errmsg"
    _c_free_out = "afk_result_free"
    _copy_out = staticmethod(_collect)

    def __init__(self, tracker, t3_client):
        #: The afk.Result of the last run_once() (None: none started).
        self.last_result = None
        #: The library's message for the last run_once() ("": success).
        self.last_error = ""
        _refuse_none("Poller", tracker=tracker, t3_client=t3_client)
        _Ticker.__init__(self, _Tick(tracker, t3_client))
        st = self._st
        # Kept as long as the C handles may call them.
        self._cbs = (_list_ready_cb(st), _add_label_cb(st), _dispatch_cb(st))
        # Only a tracker that has upsert_comment gets the run's first
        # record written by the poll tick: a poll-only tracker keeps
        # working without it.
        upsert = None
        if hasattr(tracker, "upsert_comment"):
            upsert = _upsert_comment_cb(st)
            self._cbs += (upsert,)
        L = _L
        rc = (self._make("_t", L.afk_tracker_new) or
              self._make("_a", L.afk_agent_new))
        if rc == 0:
            rc = (L.afk_tracker_set_list_ready(self._t, self._cbs[0]) or
                  L.afk_tracker_set_add_label(self._t, self._cbs[1]) or
                  L.afk_agent_set_dispatch(self._a, self._cbs[2]))
        if rc == 0 and upsert is not None:
            rc = L.afk_tracker_set_upsert_comment(self._t, upsert)
        if rc == 0:
            rc = self._make("_p", L.afk_poller_new, self._t, self._a)
        self._made(rc)

    def run_once(self, config):
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
        return self._run(config)



# --- the watch tick ------------------------------------------------------

def _code_of(v, names, lo, hi, what, alias=None):
    """The C value of v: one of names (a str; alias(v) is tried too) or
    an int in lo..hi.  ValueError for anything else."""
    if isinstance(v, str):
        code = names.get(v)
        if code is None and alias is not None:
            code = names.get(alias(v))
        if code is not None:
            return code
    elif not isinstance(v, bool) and hasattr(type(v), "__index__"):
        code = v.__index__()
        if lo <= code <= hi:
            return code
    raise ValueError("%s must be one of %s or an int %d..%d, not %r"
                     % (what, ", ".join(map(repr, names)), lo, hi, v))


def _dash_to_underscore(s):
    return s.replace("-", "_")


def _underscore_to_dash(s):
    return s.replace("_", "-")


def _member(obj, name):
    """obj[name] of a mapping, else obj.name; None when it has none."""
    if isinstance(obj, _Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _reply_str(v, what, error=TypeError):
    """A str a host method returned, as NUL-free UTF-8 (None: None)."""
    if v is None:
        return None
    if not isinstance(v, str):
        raise error("%s must be a str, not %s" % (what, type(v).__name__))
    b = v.encode("utf-8")
    if b"\0" in b:
        raise ValueError("%s must not contain a NUL character" % what)
    return b


def _is_record(v):
    """Something with members: not None, a scalar or a sequence (but a
    namedtuple is a record)."""
    if isinstance(v, tuple):
        return hasattr(type(v), "_fields")
    return v is not None and not isinstance(
        v, (str, bytes, bytearray, int, float, list))


def _close_issue_cb(st):
    def close_issue(call, repo, number, userdata):
        try:
            st.tracker.close_issue(st.repo(repo), number)
            return 0
        except BaseException as e:
            return st.fail(call, e, "tracker.close_issue")

    return _native.CLOSE_ISSUE_FN(close_issue)


def _remove_label_cb(st):
    def remove_label(call, repo, number, label, userdata):
        try:
            st.tracker.remove_label(st.repo(repo), number, _text(label))
            return 0
        except BaseException as e:
            return st.fail(call, e, "tracker.remove_label")

    return _native.REMOVE_LABEL_FN(remove_label)


def _find_comment_cb(st):
    L = _L

    def find_comment(call, repo, number, marker, userdata):
        if st.halt is not None:
            return st.halted(call, "tracker.find_comment")
        try:
            got = st.tracker.find_comment(st.repo(repo), number,
                                          _text(marker))
            body, url = got, None
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


def _snapshot_cb(st):
    L = _L

    def snapshot(call, thread, userdata):
        try:
            snap = st.agent.snapshot(_text(thread))
            if not _is_record(snap):
                raise TypeError("t3_client.snapshot must return a mapping "
                                "or an object with state and phase, not %s"
                                % type(snap).__name__)
            state = _member(snap, "state")
            if state is None:
                raise ValueError("t3_client.snapshot returned no state")
            state = _code_of(state, _AGENT_STATES, AGENT_RUNNING,
                             AGENT_WAITING_INPUT, "the agent's state",
                             _dash_to_underscore)
            phase = _member(snap, "phase")
            phase = PHASE_DISPATCHED if phase is None else _code_of(
                phase, _AGENT_PHASES, PHASE_DISPATCHED, PHASE_PUSHED,
                "the agent's phase", _underscore_to_dash)
            # In range: these cannot fail.
            L.afk_call_set_agent_state(call, state)
            L.afk_call_set_phase(call, phase)
            return 0
        except BaseException as e:
            return st.fail(call, e, "t3_client.snapshot")

    return _native.SNAPSHOT_FN(snapshot)


def _send_turn_cb(st):
    def send_turn(call, thread, prompt, userdata):
        try:
            st.agent.send_turn(_text(thread), _text(prompt))
            return 0
        except BaseException as e:
            return st.fail(call, e, "t3_client.send_turn")

    return _native.SEND_TURN_FN(send_turn)


def _failing_checks(failing):
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
    checks = []
    for f in items:
        if isinstance(f, str):
            name, url = f, None
        elif isinstance(f, (tuple, list)) and len(f) == 2:
            name, url = f
        else:
            raise ValueError("a failing check must be a name or a (name, "
                             "url) pair, not %r" % (f,))
        name = _reply_str(name, "a failing check's name", ValueError)
        if not name:
            raise ValueError("a failing check's name must not be empty")
        checks.append((name, _reply_str(url, "a failing check's url",
                                        ValueError) or None))
    return checks


def _pr_info(got, pr):
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
    return number.__index__(), author, branch


def _ci_status_cb(st):
    L = _L

    def ci_status(call, repo, number, userdata):
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
            checks = () if failing is None else _failing_checks(failing)
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


def _notify_cb(st):
    def notify(call, repo, number, message, link, userdata):
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
    _cache = None

    def __new__(cls, code):
        cache = cls.__dict__.get("_cache")
        if cache is None:
            cache = cls._cache = {}
        self = cache.get(code)
        if self is None:
            self = str.__new__(cls, cls._name(code))
            self.code = code
            cache[code] = self
        return self

    def __repr__(self):
        return "afk.%s(%d, %s)" % (type(self).__name__, self.code,
                                   str.__repr__(self))

    def __reduce__(self):
        return (type(self), (self.code,))


class ActionKind(_Named):
    """What the watch tick did with a run: "wait", "close",
    "fix-forward" or "escalate" (afk_action_str()), a str, with the
    AFK_ACTION_* code as .code (afk.ACTION_CLOSE, ...)."""

    __slots__ = ()

    @staticmethod
    def _name(code):
        return _text(_L.afk_action_str(code))


class EscalationReason(_Named):
    """Why a run went to a human: the library's phrase
    (afk_escalation_str()), a str, with the AFK_ESCALATE_* code as .code
    (afk.ESCALATE_STALLED, ...)."""

    __slots__ = ()

    @staticmethod
    def _name(code):
        return _text(_L.afk_escalation_str(code))


class Phase(_Named):
    """A phase of a run: "dispatched", "tests-red", "green", "pushed",
    "ci" or "deployed", a str, with the AFK_PHASE_* value as .code
    (compare phase.code >= afk.PHASE_PUSHED for order)."""

    __slots__ = ()

    @staticmethod
    def _name(code):
        if 0 <= code < len(_PHASE_NAMES):
            return _PHASE_NAMES[code]
        return "unknown phase"


class Action(_namedtuple("Action", [
        "issue", "thread_id", "action", "reason", "phase", "attempts",
        "updated", "checklist"])):
    """What one watch tick did with one run.

    issue      the afk.Issue tracker.list_ready returned for the run (a
               (repo, number) tuple should it not be found)
    repo, number  the run's issue
    thread_id  the agent's thread (a str), None when the run had no
               readable record
    action     an afk.ActionKind: "wait", "close", "fix-forward" or
               "escalate" (.code: afk.ACTION_*)
    reason     an afk.EscalationReason for "escalate" (.code:
               afk.ESCALATE_*), else None
    phase      the afk.Phase the checklist shows after the action
    attempts   the fix-forward attempts used after it (an int)
    updated    True when the tick wrote the checklist comment
    checklist  the comment's body as the tick left it ("" when none)
    """

    __slots__ = ()

    @property
    def repo(self):
        issue = self.issue
        return issue.repo if isinstance(issue, Issue) else issue[0]

    @property
    def number(self):
        issue = self.issue
        return issue.number if isinstance(issue, Issue) else issue[1]


class Actions(list):
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

    def __init__(self, actions=(), errors=()):
        super().__init__(actions)
        self.errors = list(errors)

    def __repr__(self):
        return "afk.Actions(%s, errors=%r)" % (list.__repr__(self),
                                              self.errors)

    def __reduce__(self):
        return (Actions, (list(self), self.errors))


def _collect_actions(a, listed, repo_str):
    """Copies the C actions a into afk.Actions, mapping each run back to
    the Issue list_ready returned for it (in the tracker's order, so a
    repeated listing maps to each copy in turn)."""
    L = _L
    slots = {}
    for issue in listed:
        slots.setdefault(issue._key, []).append(issue)
    out = []
    for i in range(L.afk_actions_count(a)):
        repo_b = L.afk_actions_repo(a, i) or b""
        number = L.afk_actions_number(a, i)
        same = slots.get((repo_b, number))
        if same:
            issue = same.pop(0) if len(same) > 1 else same[0]
        else:
            issue = (repo_str(repo_b), number)
        kind = L.afk_actions_kind(a, i)
        reason = L.afk_actions_reason(a, i)
        out.append(Action(
            issue, _text(L.afk_actions_thread(a, i)) or None,
            ActionKind(kind), EscalationReason(reason) if reason else None,
            Phase(L.afk_actions_phase(a, i)), L.afk_actions_attempts(a, i),
            bool(L.afk_actions_updated(a, i)),
            _text(L.afk_actions_checklist(a, i))))
    return Actions(out, _failures(a, L.afk_actions_error_count,
                                  L.afk_actions_error_repo,
                                  L.afk_actions_error_number,
                                  L.afk_actions_error_code,
                                  L.afk_actions_error_message))


class _WatchTick(_Tick):
    """The state the callbacks of one Watcher share (see _Tick)."""

    __slots__ = ("ci", "notifier")

    def __init__(self, tracker, agent, ci, notifier):
        _Tick.__init__(self, tracker, agent)
        self.ci = ci
        self.notifier = notifier


_LLONG_MAX = 2 ** 63 - 1


def _tick_time(now):
    """now as the whole seconds since the epoch the library is given."""
    if now is None:
        return int(_time.time())
    if isinstance(now, bool):
        raise TypeError("now must be seconds since the epoch (an int), "
                        "not a bool")
    if hasattr(type(now), "__index__"):
        t = now.__index__()
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
    _c_run = "afk_watcher_run_once"
    _c_errmsg = "afk_watcher_errmsg"
    _c_free_out = "afk_actions_free"
    _copy_out = staticmethod(_collect_actions)

    def __init__(self, tracker, t3_client, ci, notifier):
        #: The actions of the last run_once() (None: none started).
        self.last_result = None
        #: The library's message for the last run_once() ("": success).
        self.last_error = ""
        _refuse_none("Watcher", tracker=tracker, t3_client=t3_client, ci=ci,
                     notifier=notifier)
        _Ticker.__init__(self, _WatchTick(tracker, t3_client, ci, notifier))
        st = self._st
        # Kept as long as the C handles may call them.  Every method is
        # registered: each is looked up only when the library calls it.
        self._cbs = cbs = (
            _list_ready_cb(st), _add_label_cb(st), _remove_label_cb(st),
            _close_issue_cb(st), _find_comment_cb(st),
            _upsert_comment_cb(st), _snapshot_cb(st), _send_turn_cb(st),
            _ci_status_cb(st), _notify_cb(st))
        L = _L
        rc = (self._make("_t", L.afk_tracker_new) or
              self._make("_a", L.afk_agent_new) or
              self._make("_c", L.afk_ci_new) or
              self._make("_n", L.afk_notifier_new))
        if rc == 0:
            t, a = self._t, self._a
            rc = (L.afk_tracker_set_list_ready(t, cbs[0]) or
                  L.afk_tracker_set_add_label(t, cbs[1]) or
                  L.afk_tracker_set_remove_label(t, cbs[2]) or
                  L.afk_tracker_set_close_issue(t, cbs[3]) or
                  L.afk_tracker_set_find_comment(t, cbs[4]) or
                  L.afk_tracker_set_upsert_comment(t, cbs[5]) or
                  L.afk_agent_set_snapshot(a, cbs[6]) or
                  L.afk_agent_set_send_turn(a, cbs[7]) or
                  L.afk_ci_set_status(self._c, cbs[8]) or
                  L.afk_notifier_set_notify(self._n, cbs[9]))
        if rc == 0:
            rc = self._make("_w", L.afk_watcher_new, self._t, self._a,
                            self._c, self._n)
        self._made(rc)

    @property
    def ci(self):
        return self._st.ci

    @property
    def notifier(self):
        return self._st.notifier

    def run_once(self, config, now=None):
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
        return self._run(config, t)
