"""libafk's log through the binding: afk.Config routes it into the
standard logging module (logger "afk"), levels mapped, the event name in
extra, cut at the logger's level, and a failing handler never reaches C."""

import json
import logging
import sys

import afk
from conftest import armed


def _afk_records(caplog):
    return [r for r in caplog.records if r.name == "afk"]


def test_disarmed_tick_is_an_info_record(caplog, world, poller):
    caplog.set_level(logging.INFO, logger="afk")
    cfg = armed("infra")
    cfg.kill_switch = True
    assert poller.run_once(cfg) == []
    recs = _afk_records(caplog)
    assert len(recs) == 1
    r = recs[0]
    assert r.levelno == logging.INFO
    assert r.afk_event == "tick.disarmed"
    assert r.afk_level == "notice"
    assert r.getMessage() == ("tick.disarmed: the kill switch is on "
                              "(kill_switch, AFK_KILL_SWITCH)")


def test_level_follows_the_logger_when_the_config_is_made(caplog, world,
                                                          poller):
    # At WARNING (the default) a notice is never even sent.
    caplog.set_level(logging.WARNING, logger="afk")
    cfg = afk.Config()
    poller.run_once(cfg)
    assert _afk_records(caplog) == []
    # The logger opened up later: the Config follows once told.
    caplog.set_level(logging.DEBUG, logger="afk")
    poller.run_once(cfg)
    assert _afk_records(caplog) == []
    cfg.sync_log_level()
    poller.run_once(cfg)
    assert [r.afk_event for r in _afk_records(caplog)] == ["tick.disarmed"]


def test_dispatch_and_skip_events(caplog, world, poller):
    caplog.set_level(logging.DEBUG, logger="afk")
    world.add("infra", 1)
    world.add("infra", 2)
    result = poller.run_once(armed("infra"))
    assert len(result) == 1
    by_event = {}
    for r in _afk_records(caplog):
        by_event.setdefault(r.afk_event, []).append(r)
    assert len(by_event["poll.dispatch"]) == 1
    assert by_event["poll.dispatch"][0].levelno == logging.INFO
    assert by_event["poll.dispatch"][0].afk_level == "notice"
    assert "infra#1 dispatched" in by_event["poll.dispatch"][0].getMessage()
    assert len(by_event["poll.skip"]) == 1
    assert by_event["poll.skip"][0].afk_level == "info"
    assert "infra#2 skipped" in by_event["poll.skip"][0].getMessage()


def test_http_warning_reaches_logging(caplog, tmp_path, monkeypatch):
    # A built-in made from the Config logs through it: a corrupt ETag
    # cache is reported while the tracker is set up.
    caplog.set_level(logging.WARNING, logger="afk")
    cache = tmp_path / "etags.json"
    cache.write_text("garbage, not JSON")
    monkeypatch.setenv("AFK_TEST_LOG_TOKEN", "ghp_NotARealTokenButSecret42")
    cfg = afk.Config.from_json(json.dumps({
        "tracker": {"kind": "github", "token_env": "AFK_TEST_LOG_TOKEN"},
        "http": {"etag_cache": str(cache)},
    }))

    class Agent:
        def dispatch(self, repo, issue, prompt):
            raise AssertionError("never dispatched")

    p = afk.Poller.from_config(cfg, t3_client=Agent())
    recs = _afk_records(caplog)
    assert [r.afk_event for r in recs] == ["http.cache.unreadable"]
    assert recs[0].levelno == logging.WARNING
    assert str(cache) in recs[0].getMessage()
    for r in caplog.records:
        assert "NotARealToken" not in r.getMessage()
    del p


def test_a_raising_handler_never_reaches_c(caplog, world, poller,
                                           monkeypatch):
    # An exception escaping a ctypes callback goes to
    # sys.unraisablehook: record it, so that one would fail the test.
    escaped = []
    monkeypatch.setattr(sys, "unraisablehook", escaped.append)

    class Boom(logging.Handler):
        def emit(self, record):
            raise RuntimeError("handler broke")

        def handleError(self, record):
            raise RuntimeError("and so did its error handling")

    log = logging.getLogger("afk")
    h = Boom()
    log.addHandler(h)
    try:
        caplog.set_level(logging.INFO, logger="afk")
        cfg = armed("infra")
        cfg.kill_switch = True
        assert poller.run_once(cfg) == []     # the tick is unharmed
    finally:
        log.removeHandler(h)
    assert escaped == []


def test_the_trampoline_is_kept_with_the_config():
    cfg = afk.Config()
    assert cfg._log_fn is not None
