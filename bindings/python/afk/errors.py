"""afk.errors - the library's codes and the exceptions the package raises."""

from __future__ import annotations

import errno as _errno
from typing import NoReturn
import os as _os

from ._native import lib as _L


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


def strerror(code: int) -> str:
    """The library's English name of an AFK_* code."""
    return str(_L.afk_strerror(code).decode("utf-8", "replace"))


# --- errors --------------------------------------------------------------

class Error(Exception):
    """A libafk failure that no Python exception caused.

    code is the AFK_* code (afk.ECONFIG, ...), message the library's
    message; result, for a tick that failed part-way, what it did before.
    Failures a host method caused are that method's own exception instead
    (see Poller.run_once()).
    """

    def __init__(self, code: int, message: str,
                 result: object = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.result = result


class ReentrancyError(Error):
    """run_once() was called from inside one of its own callbacks."""


def _raise_code(rc: int, message: str) -> NoReturn:
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
