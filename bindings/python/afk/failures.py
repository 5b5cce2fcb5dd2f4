"""afk.failures - what went wrong in a tick, one repository or issue
at a time."""

from __future__ import annotations

from typing import Any, Callable, List, NamedTuple, Optional, Tuple

from ._util import _INT_MIN, _LONG_MAX, _cstr, _index, _set, _text
from .errors import EIO


class Failure(NamedTuple):
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

    repo: str
    number: int
    code: int
    message: str


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

    repo: str
    number: int
    message: Optional[str]
    code: int
    _c: Tuple[bytes, int, int, Optional[bytes]]

    def __init__(self, repo: str, number: int = 0,
                 message: Optional[str] = None, code: int = EIO) -> None:
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

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("afk.ListingFailure is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("afk.ListingFailure is immutable")

    def _astuple(self) -> Tuple[str, int, Optional[str], int]:
        return (self.repo, self.number, self.message, self.code)

    def __reduce__(self) -> Tuple[Any, ...]:
        return (ListingFailure, self._astuple())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ListingFailure):
            return NotImplemented
        return self._astuple() == other._astuple()

    def __hash__(self) -> int:
        return hash(self._astuple())

    def __repr__(self) -> str:
        return ("afk.ListingFailure(%r, %d, message=%r, code=%d)"
                % self._astuple())


def _failures(out: int, count: Callable[[int], int],
              repo: Callable[[int, int], Optional[bytes]],
              number: Callable[[int, int], int],
              code: Callable[[int, int], int],
              message: Callable[[int, int], Optional[bytes]]
              ) -> List[Failure]:
    """The failures of a C result or actions out, as afk.Failure."""
    return [Failure(_text(repo(out, i)), number(out, i), code(out, i),
                    _text(message(out, i)))
            for i in range(count(out))]
