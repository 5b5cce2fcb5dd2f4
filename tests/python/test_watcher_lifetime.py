"""The watch tick over many ticks: every kind of run and failure, fresh
adapters and configurations each time, and the C handles and actions
freed - memory holds steady."""

import gc
import os

import pytest

import afk
from test_lifetime import malloc_in_use, rss_pages, sanitizer_in_use
from watchfakes import T0, Shop, armed, poller_of, watcher_of


def runs(n):
    """n runs from dispatch to their end: closes, fix-forwards,
    escalations (one with a failing notify), unreadable records, a
    refused re-entry."""
    cfg = armed("a", "b", fix_forward_budget=1, stall_timeout=100)
    for k in range(n):
        shop = Shop()
        shop.add("a", 1)
        shop.add("b", 2)
        poller_of(shop).run_once(cfg)
        w = watcher_of(shop)
        mode = k % 4
        done = {"state": "completed", "phase": "pushed"}
        if mode == 0:      # both close
            for key in (("a", 1), ("b", 2)):
                shop.snap["thread-%s-%d" % key] = done
                shop.ci[key] = {"pr": "merged", "head": "h",
                                "ci": "success"}
        elif mode == 1:    # fix forward, then escalate on the budget
            shop.snap["thread-a-1"] = done
            shop.ci["a", 1] = {"pr": "open", "head": "h1", "ci": "failure",
                               "failing": [("build", "u" * 100), "lint"]}
            w.run_once(cfg, now=T0)
            shop.ci["a", 1] = dict(shop.ci["a", 1], head="h2")
        elif mode == 2:    # notify fails once; b stalls
            shop.snap["thread-a-1"] = {"state": "errored"}
            shop.fail_next("notify", RuntimeError("pager %d" % k))
            try:
                w.run_once(cfg, now=T0)
            except RuntimeError:
                pass
        else:              # a bad value, an unreadable record, re-entry
            shop.ci["a", 1] = {"pr": "shut"}
            try:
                w.run_once(cfg, now=T0)
            except ValueError:
                pass
            shop.ci["a", 1] = None
            shop.issue("b", 2).comments[0] = "<!-- afk-run: {} -->"

            def reenter(method):
                if method == "status":
                    try:
                        w.run_once(cfg, now=T0)
                    except afk.ReentrancyError:
                        pass
            shop.on_call = reenter
        w.run_once(cfg, now=T0 + 60)
        w.run_once(cfg, now=T0 + 500)
        if k % 2:
            w.close()


def test_a_thousand_watched_runs_leak_nothing(quiet_afk_log):
    runs(200)  # warm-up
    gc.collect()
    rss0, heap0 = rss_pages(), malloc_in_use()
    runs(1000)
    gc.collect()
    rss1, heap1 = rss_pages(), malloc_in_use()
    if heap0 is not None and heap1 is not None:
        assert heap1 - heap0 < 16 * 1024, \
            "malloc'd bytes grew by %d over 1000 runs" % (heap1 - heap0)
    if sanitizer_in_use() is None:
        grew = (rss1 - rss0) * os.sysconf("SC_PAGE_SIZE")
        assert grew < 512 * 1024, "RSS grew by %d bytes" % grew


def test_the_leak_check_sees_leaked_actions(monkeypatch):
    runs(40)
    gc.collect()
    heap0 = malloc_in_use()
    if heap0 is None:
        pytest.skip("no allocator statistics here")
    monkeypatch.setattr(afk._native.lib, "afk_actions_free", lambda a: None)
    runs(200)
    monkeypatch.undo()
    gc.collect()
    assert malloc_in_use() - heap0 > 100 * 1024
