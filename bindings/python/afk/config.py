"""afk.config - afk.Config, a libafk configuration."""

from __future__ import annotations

import json as _json
import logging as _logging
import os as _os
import threading as _threading
from ctypes import (byref as _byref, c_void_p as _c_void_p,
                    string_at as _string_at)
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from ._native import LOG_FN as _LOG_FN, lib as _L
from ._util import _cstr, _text
from .errors import _raise_code, strerror


# --- the configuration ---------------------------------------------------

def _config_keys() -> Tuple[str, ...]:
    keys: list[str] = []
    while True:
        k = _L.afk_config_key(len(keys))
        if k is None:
            return tuple(keys)
        keys.append(k.decode("ascii"))


_KEYS = _config_keys()
_KEY_BYTES = {k: k.encode("ascii") for k in _KEYS}


# --- the log -------------------------------------------------------------

#: The logger libafk's lines go to (see Config).
LOGGER = _logging.getLogger("afk")

# AFK_LOG_ERROR .. AFK_LOG_DEBUG -> logging's levels.  NOTICE and INFO
# are both INFO: logging has no notice, and a notice (a dispatch, an
# action, a disarmed tick) is news, not a warning.
_LEVELS = (_logging.ERROR, _logging.WARNING, _logging.INFO, _logging.INFO,
           _logging.DEBUG)
_LEVEL_NAMES = ("error", "warning", "notice", "info", "debug")


def _max_level() -> int:
    """The most verbose AFK_LOG_* level the "afk" logger would let
    through now: its effective level mapped back."""
    eff = LOGGER.getEffectiveLevel()
    if eff <= _logging.DEBUG:
        return 4
    if eff <= _logging.INFO:
        return 3
    if eff <= _logging.WARNING:
        return 1
    return 0


def _log_line(level: int, event: Optional[bytes], message: Optional[bytes],
              userdata: Optional[int]) -> None:
    """The C log function: one line into logging.  It must never raise
    into C (ctypes would print the exception and carry on; a tick must
    not depend on a handler): anything that goes wrong is dropped."""
    try:
        ev = (event or b"").decode("utf-8", "replace")
        msg = (message or b"").decode("utf-8", "replace")
        lvl = _LEVELS[level] if 0 <= level < len(_LEVELS) else \
            _logging.ERROR
        LOGGER.log(lvl, "%s: %s", ev, msg, extra={
            "afk_event": ev,
            "afk_level": _LEVEL_NAMES[level] if 0 <= level < 5 else "error"})
    except BaseException:  # noqa: B036 - nothing may reach C
        pass


# One C function for every Config, for the life of the module: a
# built-in made from a Config keeps its log after the Config is gone
# (afk_config_set_log(3)), so the trampoline must outlive every Config.
# It keeps no state: userdata is NULL and there is nothing to destroy.
_LOG_TRAMPOLINE = _LOG_FN(_log_line)


def _freeze(v: Any) -> Any:
    """A JSON value as a read-only-looking Python value: arrays become
    tuples (objects stay dicts, copies the config does not see)."""
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        return {k: _freeze(x) for k, x in v.items()}
    return v


def _thaw(v: Any) -> Any:
    """A Python value as something json.dumps writes: tuples and lists are
    arrays, path-like objects strings."""
    if isinstance(v, _os.PathLike):
        return _os.fspath(v)
    if isinstance(v, (tuple, list)):
        return [_thaw(x) for x in v]
    if isinstance(v, dict):
        return {k: _thaw(x) for k, x in v.items()}
    return v


def _dumps(v: Any) -> bytes:
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

    The log: every Config routes libafk's log (afk_config_set_log(3))
    into the standard logging module, logger "afk"
    (logging.getLogger("afk")).  Each record's message is
    "EVENT: MESSAGE", with extra fields afk_event
    (the stable event name, "http.rate_limited", "tick.disarmed") and
    afk_level (libafk's level name).  Levels: error -> ERROR, warning ->
    WARNING, notice and info -> INFO, debug -> DEBUG.  So a host that
    configures logging sees afk's warnings with no more code.  What the
    library sends is cut at the logger's effective level when the Config
    is made (lines below it are never even formatted); after changing
    the "afk" logger's level, call sync_log_level() on a Config made
    before.  Built-ins made from a Config log through it too.

    Implementation: the keywords go to afk_config_load_string() as one
    JSON object (a refusal's "<string>:1: " prefix is dropped, leaving
    afk_config_set()'s exact message); one assignment goes to
    afk_config_set(); reads come from afk_config_get().
    """

    __slots__ = ("_h", "_lock", "_armed", "_log_fn", "__weakref__")

    _h: int
    _lock: _threading.RLock
    # armed, as last read from the library; None: read it again.  Every
    # change clears it, holding _lock, before it reaches the library.
    _armed: Optional[bool]

    #: The names of every key, in the library's order.
    KEYS = _KEYS

    def __init__(self, **settings: Any) -> None:
        object.__setattr__(self, "_h", None)
        object.__setattr__(self, "_lock", _threading.RLock())
        object.__setattr__(self, "_armed", None)
        h = _c_void_p()
        rc = _L.afk_config_new(_byref(h))
        if rc:
            _raise_code(rc, "afk_config_new: " + strerror(rc))
        object.__setattr__(self, "_h", h.value)
        # The C side holds this pointer: keep it alive with the handle
        # (it is the module's, which outlives both anyway).
        object.__setattr__(self, "_log_fn", _LOG_TRAMPOLINE)
        self.sync_log_level()
        self._load(settings, "Config()")

    def __del__(self, _free: Any = _L.afk_config_free) -> None:
        try:
            h = object.__getattribute__(self, "_h")
        except AttributeError:  # __init__ never ran
            return
        if h:
            object.__setattr__(self, "_h", None)
            _free(h)

    # Copying the handle would free it twice: rebuild from the values.
    def __reduce__(self) -> Tuple[Any, ...]:
        return (_config_from_dict, (self.to_dict(),))

    @classmethod
    def from_file(cls, path: Union[str, bytes, _os.PathLike[str]]) -> Config:
        """A Config read from the JSON file at path (see afk.json(5)),
        over the defaults.  ValueError (or OSError) with the library's
        message, which names the key and its line."""
        cfg = cls()
        object.__setattr__(cfg, "_armed", None)
        rc = _L.afk_config_load_file(cfg._h, _os.fsencode(path))
        if rc:
            _raise_code(rc, cfg._errmsg())
        return cfg

    @classmethod
    def from_json(cls, text: str) -> Config:
        """A Config read from JSON text (a str), as from_file()."""
        cfg = cls()
        with cfg._lock:
            object.__setattr__(cfg, "_armed", None)
            rc = _L.afk_config_load_string(cfg._h, _cstr(text, "text"))
            if rc:
                _raise_code(rc, cfg._errmsg())
        return cfg

    def sync_log_level(self) -> None:
        """Sets the level libafk logs at to what the "afk" logger lets
        through now (see the class's note on the log)."""
        with self._lock:
            rc = _L.afk_config_set_log(self._h, self._log_fn, _max_level(),
                                       None, None)
        if rc:
            _raise_code(rc, "afk_config_set_log: " + strerror(rc))

    def _errmsg(self) -> str:
        return _text(_L.afk_config_errmsg(self._h))

    def _load(self, settings: Mapping[str, Any], who: str) -> None:
        for key in settings:
            if key not in _KEY_BYTES:
                raise TypeError("%s got an unexpected keyword argument %r"
                                % (who, key))
        if not settings:
            return
        text = _dumps(settings)
        with self._lock:
            object.__setattr__(self, "_armed", None)
            rc = _L.afk_config_load_string(self._h, text)
            if rc:
                msg = self._errmsg()
                # The text is ours, on one line: what the user wrote is
                # a keyword, not "<string>:1".
                if msg.startswith("<string>:1: "):
                    msg = msg[len("<string>:1: "):]
                _raise_code(rc, msg)

    def update(self, **settings: Any) -> None:
        """Sets several keys at once: all of them or, on a refusal (which
        raises as the constructor does), none."""
        self._load(settings, "update()")

    def set(self, key: str, value: Any) -> None:
        """Sets one key; cfg.set("allowlist", [...]) is cfg.allowlist = [...]"""
        kb = _KEY_BYTES.get(key)
        if kb is None:
            raise AttributeError("afk.Config has no key %r" % (key,))
        text = _dumps(value)
        with self._lock:
            object.__setattr__(self, "_armed", None)
            rc = _L.afk_config_set(self._h, kb, text)
            if rc:
                _raise_code(rc, self._errmsg())

    def get(self, key: str) -> Any:
        """The value of one key (cfg.get("allowlist") is cfg.allowlist)."""
        kb = _KEY_BYTES.get(key)
        if kb is None:
            raise AttributeError("afk.Config has no key %r" % (key,))
        out = _c_void_p()
        with self._lock:
            rc = _L.afk_config_get(self._h, kb, _byref(out))
        if rc:
            _raise_code(rc, "afk_config_get(%s): %s" % (key, strerror(rc)))
        ptr = out.value
        if ptr is None:  # never, after a success
            raise MemoryError("afk_config_get(%s): no value" % key)
        try:
            text = _string_at(ptr)
        finally:
            _L.afk_free(ptr)
        return _freeze(_json.loads(text))

    def apply_env(self) -> None:
        """Applies $AFK_KILL_SWITCH and $AFK_ALLOWLIST (see
        afk_config_apply_env(3)); ValueError when one is malformed."""
        with self._lock:
            object.__setattr__(self, "_armed", None)
            rc = _L.afk_config_apply_env(self._h)
            if rc:
                _raise_code(rc, self._errmsg())

    @property
    def armed(self) -> bool:
        """True when a tick with this configuration may dispatch: the kill
        switch is off and the allowlist is not empty."""
        armed = self._armed
        if armed is None:
            with self._lock:
                armed = bool(_L.afk_config_armed(self._h))
                object.__setattr__(self, "_armed", armed)
        return armed

    def to_dict(self) -> Dict[str, Any]:
        """Every key and its value."""
        return {k: self.get(k) for k in _KEYS}

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not methods or slots.
        if name in _KEY_BYTES:
            return self.get(name)
        raise AttributeError("afk.Config has no attribute or key %r"
                             % (name,))

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _KEY_BYTES:
            self.set(name, value)
        else:
            raise AttributeError("afk.Config has no key %r (keys: %s)"
                                 % (name, ", ".join(_KEYS)))

    def __delattr__(self, name: str) -> None:
        raise AttributeError("afk.Config keys cannot be deleted; set "
                             "them instead")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Config):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "afk.Config(%s)" % ", ".join(
            "%s=%r" % kv for kv in self.to_dict().items())


def _config_from_dict(settings: Dict[str, Any]) -> Config:
    return Config(**settings)
