"""afk._util - small helpers the modules of the package share (internal)."""

from __future__ import annotations


from . import _native


_INT_MAX = 2 ** 31 - 1
_INT_MIN = -2 ** 31
_LONG_MAX = 2 ** (8 * _native.ctypes.sizeof(_native.c_long) - 1) - 1


def _text(raw: bytes | None) -> str:
    """A string the library lent, as str (b"" for NULL)."""
    return (raw or b"").decode("utf-8", "replace")


def _cstr(s: object, what: str) -> bytes:
    """s (a str) as NUL-free UTF-8 for a const char * argument."""
    if not isinstance(s, str):
        raise TypeError("%s must be a str, not %s" % (what, type(s).__name__))
    b = s.encode("utf-8")
    if 0 in b:  # NUL; b"\0" in b would raise and clear an error each time
        raise ValueError("%s must not contain a NUL character" % what)
    return b


_set = object.__setattr__


def _index(v: object, what: str) -> int:
    if isinstance(v, bool) or not hasattr(type(v), "__index__"):
        raise TypeError("%s must be an int, not %s"
                        % (what, type(v).__name__))
    return int(v.__index__())  # type: ignore[attr-defined]
