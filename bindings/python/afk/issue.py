"""afk.issue - afk.Issue, an issue as a tracker reports it."""

from __future__ import annotations

from ctypes import byref as _byref, c_void_p as _c_void_p
from typing import Any, Dict, Iterable, Tuple

from ._native import lib as _L
from ._util import (_INT_MAX, _INT_MIN, _LONG_MAX, _cstr, _index, _set,
                    _text)
from .errors import _raise_code, strerror


# --- issues --------------------------------------------------------------


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

    repo: str
    number: int
    title: str
    labels: Tuple[str, ...]
    priority: int
    labeled_by_trusted: bool
    blocked_by: Tuple[int, ...]
    _h: int | None
    _key: Tuple[bytes, int]

    def __init__(self, repo: str, number: int, title: str = "",
                 labels: Iterable[str] = (), priority: int = 0,
                 labeled_by_trusted: bool = False,
                 blocked_by: Iterable[int] = ()) -> None:
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
        labels_t = tuple(dict.fromkeys(labels))
        labels_b = []
        for label in labels_t:
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
        blockers = tuple(_index(n, "a blocker") for n in blocked_by)
        for n in blockers:
            if not 0 < n <= _LONG_MAX:
                raise ValueError("a blocker must be an issue number > 0, "
                                 "not %d" % n)

        out = _c_void_p()
        rc = _L.afk_issue_new(_byref(out), repo_b, number)
        if rc:
            _raise_code(rc, "afk_issue_new: " + strerror(rc))
        h = out.value
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
        for n in blockers:
            rc = rc or _L.afk_issue_add_blocker(h, n)
        if rc:
            _raise_code(rc, "building the issue: " + strerror(rc))
        _set(self, "repo", repo)
        _set(self, "number", number)
        _set(self, "title", title)
        _set(self, "labels", labels_t)
        _set(self, "priority", priority)
        _set(self, "labeled_by_trusted", trusted)
        _set(self, "blocked_by", blockers)
        _set(self, "_key", (repo_b, number))

    def __del__(self, _free: Any = _L.afk_issue_free) -> None:
        try:
            h = self._h
        except AttributeError:  # __init__ never ran
            return
        if h:
            _set(self, "_h", None)
            _free(h)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("afk.Issue is immutable; use replace()")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("afk.Issue is immutable; use replace()")

    def replace(self, **changes: Any) -> Issue:
        """A copy with the given attributes changed."""
        fields = self._fields()
        for k in changes:
            if k not in fields:
                raise TypeError("replace() got an unexpected keyword "
                                "argument %r" % (k,))
        fields.update(changes)
        return Issue(**fields)

    def _fields(self) -> Dict[str, Any]:
        return {"repo": self.repo, "number": self.number,
                "title": self.title, "labels": self.labels,
                "priority": self.priority,
                "labeled_by_trusted": self.labeled_by_trusted,
                "blocked_by": self.blocked_by}

    def _astuple(self) -> Tuple[str, int, str, Tuple[str, ...], int, bool,
                                Tuple[int, ...]]:
        return (self.repo, self.number, self.title, self.labels,
                self.priority, self.labeled_by_trusted, self.blocked_by)

    def __reduce__(self) -> Tuple[Any, ...]:
        return (Issue, self._astuple())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Issue):
            return NotImplemented
        return self is other or self._astuple() == other._astuple()

    def __hash__(self) -> int:
        return hash(self._astuple())

    def __repr__(self) -> str:
        return ("afk.Issue(%r, %d, title=%r, labels=%r, priority=%d, "
                "labeled_by_trusted=%r, blocked_by=%r)" % self._astuple())

    @classmethod
    def _from_handle(cls, h: int) -> Issue:
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
