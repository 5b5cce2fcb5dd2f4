"""afk._ticker - what afk.Poller and afk.Watcher share (internal)."""

from __future__ import annotations

import threading as _threading
from array import array as _array
from ctypes import byref as _byref, c_void_p as _c_void_p
from typing import (Any, Callable, Dict, List, NoReturn, Optional, Tuple,
                    TypeVar)

from . import _native
from ._native import lib as _L
from ._util import _text
from .errors import (ECALLBACK, ENOMEM, ERECURSIVE, EUNAVAIL, Error,
                     ReentrancyError, _raise_code, strerror)
from .config import Config
from .failures import ListingFailure
from .issue import Issue


class _Tick:
    """What the callbacks of one Poller share: its adapters and the state
    of the tick running.  Kept apart from the Poller so that the C
    callbacks (closures over this) do not make a cycle through it."""

    __slots__ = ("tracker", "agent", "listed", "tids", "keys", "exc", "halt",
                 "repos")

    def __init__(self, tracker: Any, agent: Any) -> None:
        self.tracker = tracker
        self.agent = agent
        self.listed: Any = None
        # The thread ids of the tick's dispatches, in the order made: the
        # library's result holds the same (each dispatch that returned 0
        # is one of its dispatches, in order), so they are not read back.
        self.tids: List[str] = []
        # and the (repo, number) each was made for, as the library
        # passed them
        self.keys: List[Tuple[bytes, int]] = []
        self.exc: Optional[BaseException] = None
        self.halt: Optional[str] = None
        self.repos: Dict[bytes, str] = {}

    def repo(self, b: bytes) -> str:
        """The str of a repository name or a label the library passed
        (cached: a tick passes the same few again and again)."""
        s = self.repos.get(b)
        if s is None:
            if len(self.repos) > 4096:
                self.repos.clear()
            s = self.repos[b] = b.decode("utf-8", "replace")
        return s

    def fail(self, call: int, exc: BaseException, what: str) -> int:
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

    def halted(self, call: int, what: str) -> int:
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


def _split_listing(listed: List[Any]
                   ) -> Tuple[List[Issue], List[ListingFailure]]:
    """What list_ready returned, as its afk.Issue objects and its
    afk.ListingFailure objects, each in order; TypeError for anything
    else."""
    issues: List[Issue] = []
    failures: List[ListingFailure] = []
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


def _add_listing(call: int, listed: List[Any],
                 handle_of: Callable[[Issue], int]) -> List[Issue]:
    """Hands what a listing callback returned to C - its afk.Issue
    objects in one packed call, then each afk.ListingFailure - and
    returns the issues."""
    failures: List[ListingFailure] = []
    try:
        # The slot's getter refuses anything but an afk.Issue.
        handles = _array(_PTR, map(handle_of, listed))
    except TypeError:
        listed, failures = _split_listing(listed)
        handles = _array(_PTR, map(handle_of, listed))
    if listed and _L.afk_call_add_issues(
            call, handles.buffer_info()[0], len(handles)):
        raise MemoryError("afk_call_add_issues: out of memory")
    for f in failures:
        rc = _L.afk_call_add_error(call, *f._c)
        if rc:
            _raise_code(rc, "afk_call_add_error: " + strerror(rc))
    return listed


# The array type code of a C pointer, for handing handles over packed.
_PTR = next(c for c in "QLI" if _array(c).itemsize ==
            _native.ctypes.sizeof(_native.c_void_p))

# A C callback as ctypes made it (kept alive as long as C may call it).
_CFn = Any


def _list_ready_cb(st: _Tick) -> _CFn:
    """The C list_ready callback over st.  Like every callback here it
    catches everything (a Python exception cannot cross C), records it
    and returns AFK_ECALLBACK."""
    L = _L
    handle_of: Callable[[Issue], int] = Issue._h.__get__  # type: ignore

    def list_ready(call: int, repos: Any, nrepos: int, userdata: Any) -> int:
        try:
            names = list(map(st.repo, repos[:nrepos]))
            got = st.tracker.list_ready(names)
            if type(got) is list:
                listed = got[:]  # the host may change its own list later
            else:
                try:
                    it = iter(got)
                except TypeError:
                    raise TypeError("tracker.list_ready must return an "
                                    "iterable of afk.Issue and "
                                    "afk.ListingFailure objects, not %s"
                                    % type(got).__name__) from None
                listed = list(it)
            st.listed = _add_listing(call, listed, handle_of)
            return 0
        except BaseException as e:
            return st.fail(call, e, "tracker.list_ready")

    return _native.LIST_READY_FN(list_ready)


def _add_label_cb(st: _Tick) -> _CFn:
    names = st.repos

    def add_label(call: int, repo: bytes, number: int, label: bytes,
                  userdata: Any) -> int:
        try:
            st.tracker.add_label(names.get(repo) or st.repo(repo), number,
                                 names.get(label) or st.repo(label))
            return 0
        except BaseException as e:
            return st.fail(call, e, "tracker.add_label")

    return _native.ADD_LABEL_FN(add_label)


def _upsert_comment_cb(st: _Tick) -> _CFn:
    def upsert_comment(call: int, repo: bytes, number: int, marker: bytes,
                       body: bytes, userdata: Any) -> int:
        try:
            st.tracker.upsert_comment(st.repo(repo), number, _text(marker),
                                      _text(body))
            return 0
        except BaseException as e:
            return st.fail(call, e, "tracker.upsert_comment")

    return _native.UPSERT_COMMENT_FN(upsert_comment)


def _refuse_none(kind: str, **adapters: object) -> None:
    """TypeError for an adapter given as None: no tick could use it."""
    for param, obj in adapters.items():
        if obj is None:
            raise TypeError("afk.%s: %s is None; pass the adapter object"
                            % (kind, param))


_T = TypeVar("_T", bound="_Ticker")

# The handle attribute of each adapter role.
_ROLE_HANDLE = {"tracker": "_t", "agent": "_a", "ci": "_c", "notifier": "_n"}


def _config_for(kind: str, config: object) -> None:
    """Refuses a from_config() whose config is not an afk.Config."""
    if not isinstance(config, Config):
        raise TypeError("afk.%s.from_config() needs an afk.Config, not %s"
                        % (kind, type(config).__name__))


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
    _c_run       the library's run_once and errmsg of its kind, and the
    _c_errmsg    name of the free of its result (looked up when called)
    _c_free_out
    _copy_out    (out, listed, tids, keys, rc) -> the C result out, of a
                 tick that returned rc, as plain Python; listed is what
                 the tick's list_ready handed over, tids and keys the
                 thread ids its dispatches returned and the (repo,
                 number) of each
    """

    _kind: str
    _tick_name: str
    _handles: Tuple[Tuple[str, Callable[[Optional[int]], None]], ...]
    _required: Tuple[Tuple[str, str, str], ...]
    _c_run: Callable[..., int]
    _c_errmsg: Callable[[int], Optional[bytes]]
    _c_free_out: str
    last_result: Any
    last_error: str

    def _copy_out(self, r: int, listed: Any, tids: List[str],
                  keys: List[Tuple[bytes, int]], rc: int) -> Any:
        raise NotImplementedError

    def __init__(self, st: _Tick) -> None:
        # The handle run_once() runs, its own.
        self._own = self._handles[0][0]
        for name, _ in self._handles:
            setattr(self, name, None)
        self._lock = _threading.RLock()
        self._ticking = 0
        self._cbs: Tuple[_CFn, ...] = ()
        self._out = _c_void_p()
        self._outref = _byref(self._out)
        self._st = st
        # What an armed tick checks: the methods of the host's adapters
        # (a slot left None is served by a built-in adapter).
        # (object, parameter name, method), looked up on each armed tick.
        self._needs = tuple((getattr(st, slot), param, name)
                            for slot, param, name in self._required
                            if getattr(st, slot) is not None)
        self._builtins: Tuple[str, ...] = ()

    @property
    def tracker(self) -> Any:
        return self._st.tracker

    @property
    def t3_client(self) -> Any:
        return self._st.agent

    def _make(self, name: str, new: Callable[..., int], *args: Any) -> int:
        """Calls new(&handle, *args) and keeps the handle as self.<name>
        (what new left there, had it failed too).  Returns new's code."""
        h = _c_void_p()
        rc = new(_byref(h), *args)
        setattr(self, name, h.value)
        return rc

    def _made(self, rc: int) -> None:
        """The end of making: when rc says it failed, frees what was made
        and raises."""
        if rc:
            self.close()
            _raise_code(rc, "making the %s: %s"
                        % (self._kind.lower(), strerror(rc)))

    def _missing(self, param: str, name: str, fn: object) -> TypeError:
        """The refusal of an armed tick whose adapter lacks a method it
        needs (self._required): found missing half-way, it would start
        agents without locks (a tracker without add_label)."""
        return TypeError("afk.%s.run_once(): %s.%s is %s; an armed %s tick "
                         "needs it (nothing was called)"
                         % (self._kind, param, name,
                            "missing" if fn is None else "not callable",
                            self._tick_name))

    def _set_builtin(self, role: str, config: Optional[Config]) -> None:
        """Registers the built-in adapter config selects for role
        ("tracker", "agent", "ci" or "notifier") on its handle; on
        failure frees what was made and raises afk.Error with the
        library's message (a missing token variable, no such kind)."""
        attr = _ROLE_HANDLE[role]
        h = getattr(self, attr)
        if config is None:
            raise TypeError("the built-in %s needs a configuration" % role)
        rc = getattr(_L, "afk_%s_set_builtin" % role)(h, config._h)
        if rc:
            msg = _text(getattr(_L, "afk_%s_errmsg" % role)(h))
            self.close()
            if rc == ENOMEM:
                raise MemoryError(msg)
            raise Error(rc, "afk.%s.from_config(): %s" % (self._kind, msg))
        self._builtins += (role,)

    def check_online(self) -> Dict[str, Optional[str]]:
        """Checks each built-in adapter with its read-only probe (what
        `afk check-config --online` does): a dict from the role of each
        built-in this object uses ("tracker", "agent", "ci",
        "notifier") to None when it answered as it should, else the
        probe's message (unreachable, a token the server refuses, ...).
        The host's own adapters are not probed.  Calls the network."""
        out: Dict[str, Optional[str]] = {}
        with self._lock:
            for role in self._builtins:
                h = getattr(self, _ROLE_HANDLE[role])
                if h is None:
                    raise ValueError("check_online() on a closed afk."
                                     + self._kind)
                rc = getattr(_L, "afk_%s_probe" % role)(h)
                out[role] = (_text(getattr(_L, "afk_%s_errmsg" % role)(h))
                             if rc else None)
        return out

    def _prepare(self) -> None:
        """Before an armed tick that is not nested: what a ticker does
        with its host objects' optional methods (nothing here)."""

    def _not_config(self, config: object) -> NoReturn:
        """Refuses a run_once() whose config is not an afk.Config."""
        msg = "run_once() needs an afk.Config, not %s" % type(config).__name__
        self.last_result, self.last_error = None, msg
        raise TypeError(msg)

    def _run(self, config: Config, *args: Any) -> Any:
        """Runs one tick with config, args after it in the C call, and
        returns or raises as run_once() says."""
        if not isinstance(config, Config):
            self._not_config(config)
        st = self._st
        L = _L
        # No lock on config: the library snapshots it when the tick
        # starts, and the GIL is held while it does (afk._native).
        with self._lock:
            h = getattr(self, self._own)
            if h is None:
                msg = "run_once() on a closed afk." + self._kind
                self.last_result, self.last_error = None, msg
                raise ValueError(msg)
            # Before an armed tick calls anything, the methods it needs:
            # TypeError naming the first missing or not callable.  A
            # disarmed tick calls nothing, so nothing is checked.
            if self._needs and config.armed:
                try:
                    for obj, param, name in self._needs:
                        fn = getattr(obj, name, None)
                        if not callable(fn):
                            raise self._missing(param, name, fn)
                except BaseException as e:
                    self.last_result, self.last_error = None, str(e)
                    raise
            if config.armed and not self._ticking:
                self._prepare()
            # A run_once() from inside one of this ticker's own callbacks
            # is refused by the library before it calls anything: it
            # leaves the state of the tick under way alone.
            nested = self._ticking
            if not nested:
                st.listed = ()
                st.tids = []
                st.keys = []
                st.exc = st.halt = None
            # The out-parameter is the ticker's own: one tick at a time
            # writes it (a nested run_once() is refused, and frees its
            # own, before the outer tick writes its result).
            out = self._out
            self._ticking = nested + 1
            try:
                rc = self._c_run(h, config._h, *args, self._outref)
                if nested:
                    listed, tids, keys, exc = (), [], [], None
                else:
                    listed, tids, keys, exc = (st.listed, st.tids,
                                               st.keys, st.exc)
            finally:
                self._ticking = nested
                if not nested:  # nothing of the tick is kept
                    st.listed = st.exc = st.halt = None
                    st.tids = []
                    st.keys = []
            r = out.value
            out.value = None
            msg = _text(self._c_errmsg(h)) if rc else ""
            result = None
            try:
                if r is not None:
                    try:
                        result = self._copy_out(r, listed, tids, keys, rc)
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

    def close(self) -> None:
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

    def _free(self) -> None:
        handles = self._handles
        hs = [getattr(self, name) for name, _ in handles]
        for name, _ in handles:
            setattr(self, name, None)
        for (_, free), h in zip(handles, hs):
            free(h)

    def __del__(self) -> None:
        # No tick can run: run_once() holds a reference to self.
        if any(getattr(self, name, None) for name, _ in self._handles):
            self._free()

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __reduce__(self) -> Tuple[Any, ...]:
        raise TypeError("an afk.%s cannot be pickled or copied" % self._kind)
