"""afk.Issue: construction, attributes, validation, immutability."""

import copy
import pickle

import pytest

import afk


def test_attributes_and_defaults():
    i = afk.Issue("infra", 7)
    assert (i.repo, i.number, i.title, i.labels, i.priority,
            i.labeled_by_trusted, i.blocked_by) == \
        ("infra", 7, "", (), 0, False, ())
    j = afk.Issue("acme/api", 42, title="Fix CI", labels=["x", "y"],
                  priority=-3, labeled_by_trusted=1, blocked_by=[3, 4])
    assert j.repo == "acme/api" and j.number == 42 and j.title == "Fix CI"
    assert j.labels == ("x", "y") and j.priority == -3
    assert j.labeled_by_trusted is True and j.blocked_by == (3, 4)


def test_positional_order_matches_the_service_api():
    i = afk.Issue("a", 1, "title", ("l",), 2, True, (5,))
    assert i == afk.Issue("a", 1, title="title", labels=("l",), priority=2,
                          labeled_by_trusted=True, blocked_by=(5,))


def test_c_handle_holds_the_same_values():
    i = afk.Issue("a", 9, title="t\u00e9", labels=("x", "y", "x"),
                  priority=5, labeled_by_trusted=True, blocked_by=(1, 2))
    assert i.labels == ("x", "y")  # repeats dropped, as the library does
    back = afk.Issue._from_handle(i._h)
    assert back == i and back is not i


@pytest.mark.parametrize("args, kwargs, exc", [
    (("", 1), {}, ValueError),
    (("a", 0), {}, ValueError),
    (("a", -1), {}, ValueError),
    (("a", 2 ** 70), {}, ValueError),
    (("a", "1"), {}, TypeError),
    (("a", 1.0), {}, TypeError),
    (("a", True), {}, TypeError),
    ((None, 1), {}, TypeError),
    ((b"a", 1), {}, TypeError),
    (("a\0b", 1), {}, ValueError),
    (("a", 1), {"title": None}, TypeError),
    (("a", 1), {"labels": "ready"}, TypeError),
    (("a", 1), {"labels": [""]}, ValueError),
    (("a", 1), {"labels": [1]}, TypeError),
    (("a", 1), {"priority": 2 ** 31}, ValueError),
    (("a", 1), {"priority": "high"}, TypeError),
    (("a", 1), {"blocked_by": [0]}, ValueError),
    (("a", 1), {"blocked_by": ["3"]}, TypeError),
    (("\udcff", 1), {}, ValueError),
])
def test_invalid_values(args, kwargs, exc):
    with pytest.raises(exc):
        afk.Issue(*args, **kwargs)


def test_immutable_and_replace():
    i = afk.Issue("a", 1, priority=1)
    with pytest.raises(AttributeError):
        i.priority = 5
    with pytest.raises(AttributeError):
        i.extra = 5
    with pytest.raises(AttributeError):
        del i.repo
    j = i.replace(priority=5, labeled_by_trusted=True)
    assert (j.priority, j.labeled_by_trusted, i.priority) == (5, True, 1)
    with pytest.raises(TypeError):
        i.replace(prio=5)


def test_equality_hash_repr():
    a = afk.Issue("a", 1, labels=("x",))
    b = afk.Issue("a", 1, labels=("x",))
    assert a == b and hash(a) == hash(b) and a is not b
    assert a != afk.Issue("a", 1)
    assert a != ("a", 1)
    assert len({a, b}) == 1
    assert repr(a).startswith("afk.Issue('a', 1,")


def test_copy_and_pickle_make_their_own_handle():
    a = afk.Issue("a", 1, title="t", blocked_by=(2,))
    for b in (copy.copy(a), copy.deepcopy(a), pickle.loads(pickle.dumps(a))):
        assert b == a and b._h != a._h


def test_index_types_are_accepted():
    class Num:
        def __index__(self):
            return 12
    assert afk.Issue("a", Num()).number == 12


def test_many_issues_free_their_handles():
    for n in range(1, 5000):
        afk.Issue("repo", n, title="x" * 100, labels=("a", "b"),
                  blocked_by=(1, 2, 3))
