"""afk.Poller.from_config() and afk.Watcher.from_config(): the built-in
adapters a configuration selects, each replaceable by a host object."""

import json
import os
import stat
import time

import pytest

import afk
from conftest import World

AGENT = """#!/bin/sh
# A stand-in agent: one turn, then it fails for issue 2.
cat >/dev/null
echo "AFK-PHASE: tests-red"
[ "$AFK_ISSUE" = 2 ] && exit 1
echo "AFK-PHASE: pushed"
"""

CI = """#!/bin/sh
# Issue 1's pull request is open, its CI running.
if [ "$AFK_ISSUE" = 1 ]; then
	echo '{"pr": "open", "head": "abc123", "ci": "pending"}'
else
	echo '{"pr": "none", "ci": "none"}'
fi
"""


def _issue(repo, number, priority=1):
    return {"repo": repo, "number": number, "title": "t%d" % number,
            "labels": ["ready-for-agent"], "priority": priority,
            "labeled_by": "alice"}


@pytest.fixture
def site(tmp_path):
    """A directory with a file tracker of two ready issues in two
    repositories, a command agent and a command CI; returns its path."""
    (tmp_path / "issues.json").write_text(json.dumps({"issues": [
        _issue("acme/api", 1), _issue("acme/web", 2)]}))
    for name, text in (("agent.sh", AGENT), ("ci.sh", CI)):
        p = tmp_path / name
        p.write_text(text)
        p.chmod(p.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "afk.json").write_text(json.dumps({
        "kill_switch": False,
        "allowlist": ["acme/api", "acme/web"],
        "trusted_users": ["alice"],
        "tracker": {"kind": "file", "path": "issues.json"},
        "agent": {"kind": "command", "command": ["./agent.sh"],
                  "state_dir": "runs"},
        "ci": {"kind": "command", "command": ["./ci.sh"]},
        "notifier": {"kind": "stdout"},
    }))
    return tmp_path


def _labels(site):
    got = json.loads((site / "issues.json").read_text())["issues"]
    return {(i["repo"], i["number"]): i["labels"] for i in got}


class HostAgent:
    def __init__(self):
        self.calls = []

    def dispatch(self, repo, issue, prompt):
        self.calls.append((repo, issue))
        return "host-%s-%d" % (repo.replace("/", "-"), issue)


class HostNotifier:
    def __init__(self):
        self.calls = []

    def notify(self, repo, issue, message, link):
        self.calls.append((repo, issue, message))


def test_poller_from_config_uses_the_builtins(site, monkeypatch):
    monkeypatch.chdir(site)
    cfg = afk.Config.from_file(str(site / "afk.json"))
    with afk.Poller.from_config(cfg) as p:
        res = p.run_once(cfg)
    assert sorted((d.issue.repo, d.issue.number) for d in res) == [
        ("acme/api", 1), ("acme/web", 2)]
    assert all(isinstance(d.issue, afk.Issue) and d.thread_id for d in res)
    # The built-in tracker stamped each lock in its file.
    assert all("agent-in-progress" in ls for ls in _labels(site).values())
    assert sorted(os.listdir(site / "runs")) == ["acme-api-1-1",
                                                 "acme-web-2-1"]


def test_poller_from_config_a_host_agent_replaces_the_builtin(site,
                                                              monkeypatch):
    monkeypatch.chdir(site)
    cfg = afk.Config.from_file(str(site / "afk.json"))
    agent = HostAgent()
    p = afk.Poller.from_config(cfg, t3_client=agent)
    res = p.run_once(cfg)
    assert sorted(agent.calls) == [("acme/api", 1), ("acme/web", 2)]
    assert sorted(d.thread_id for d in res) == ["host-acme-api-1",
                                                "host-acme-web-2"]
    assert not (site / "runs").exists()  # the built-in agent never ran
    assert p.t3_client is agent and p.tracker is None


def test_poller_from_config_a_host_tracker_replaces_the_builtin(
        site, monkeypatch):
    monkeypatch.chdir(site)
    cfg = afk.Config.from_file(str(site / "afk.json"))
    world = World()
    mine = world.add("acme/api", 7)
    p = afk.Poller.from_config(cfg, tracker=world.tracker)
    res = p.run_once(cfg)
    assert [(d.issue.number, d.issue is mine) for d in res] == [(7, True)]
    assert world.find("A", "acme/api", 7) >= 0  # the host's lock
    assert os.listdir(site / "runs") == ["acme-api-7-1"]
    # The built-in tracker's file is untouched.
    assert "agent-in-progress" not in _labels(site)[("acme/api", 1)]


def test_from_config_checks_only_host_methods(site, monkeypatch):
    monkeypatch.chdir(site)
    cfg = afk.Config.from_file(str(site / "afk.json"))

    class NoDispatch:
        pass

    p = afk.Poller.from_config(cfg, t3_client=NoDispatch())
    with pytest.raises(TypeError, match=r"t3_client\.dispatch is missing"):
        p.run_once(cfg)
    assert "agent-in-progress" not in _labels(site)[("acme/api", 1)]


def test_from_config_refuses_a_config_that_selects_no_adapter():
    cfg = afk.Config(kill_switch=False, allowlist=["acme/api"])
    with pytest.raises(afk.Error) as ei:
        afk.Poller.from_config(cfg)
    assert ei.value.code == afk.ECONFIG
    assert str(ei.value).startswith("afk.Poller.from_config(): ")
    assert '"tracker" key' in str(ei.value)
    # With the tracker given, the agent is the one missing.
    with pytest.raises(afk.Error, match=r"from_config\(\): .*\bagent\b"):
        afk.Poller.from_config(cfg, tracker=object())
    with pytest.raises(afk.Error, match=r"from_config\(\): .*\bci\b"):
        afk.Watcher.from_config(cfg, tracker=object(), t3_client=object())


def test_from_config_needs_a_config():
    with pytest.raises(TypeError, match="needs an afk.Config, not dict"):
        afk.Poller.from_config({"tracker": "file"})
    with pytest.raises(TypeError, match="needs an afk.Config, not str"):
        afk.Watcher.from_config("afk.json")


def test_from_config_names_a_missing_token_variable(monkeypatch):
    monkeypatch.delenv("AFK_TEST_NO_SUCH_TOKEN", raising=False)
    cfg = afk.Config.from_json(json.dumps({
        "tracker": {"kind": "github", "token_env": "AFK_TEST_NO_SUCH_TOKEN"},
    }))
    with pytest.raises(afk.Error, match="AFK_TEST_NO_SUCH_TOKEN") as ei:
        afk.Poller.from_config(cfg, t3_client=HostAgent())
    assert ei.value.code == afk.ECONFIG


def _settle(site, timeout=30.0):
    """Waits for the command agent's detached turns to end: each run
    directory its supervisor wrote in has its exit_status."""
    deadline = time.monotonic() + timeout
    for run in (site / "runs").iterdir():
        while (run / "supervisor").exists() and \
                not (run / "exit_status").exists():
            assert time.monotonic() < deadline, f"{run.name} still runs"
            time.sleep(0.01)


def test_watcher_from_config_with_a_host_notifier(site, monkeypatch):
    monkeypatch.chdir(site)
    cfg = afk.Config.from_file(str(site / "afk.json"))
    afk.Poller.from_config(cfg).run_once(cfg)
    _settle(site)
    pager = HostNotifier()
    w = afk.Watcher.from_config(cfg, notifier=pager)
    acts = w.run_once(cfg)
    by_issue = {(a.repo, a.number): a for a in acts}
    assert set(by_issue) == {("acme/api", 1), ("acme/web", 2)}
    # Issue 2's agent failed: handed to a human, through the host's
    # notifier, and relabelled by the built-in tracker.
    assert by_issue[("acme/web", 2)].action.code == afk.ACTION_ESCALATE
    assert [c[:2] for c in pager.calls] == [("acme/web", 2)]
    assert "ready-for-human" in _labels(site)[("acme/web", 2)]
    assert by_issue[("acme/api", 1)].action.code == afk.ACTION_WAIT
    assert w.notifier is pager and w.ci is None


def test_check_online_probes_the_builtins_only(site, monkeypatch):
    monkeypatch.chdir(site)
    cfg = afk.Config.from_file(str(site / "afk.json"))
    p = afk.Poller.from_config(cfg, t3_client=HostAgent())
    assert p.check_online() == {"tracker": None}
    w = afk.Watcher.from_config(cfg)
    assert w.check_online() == {"tracker": None, "agent": None, "ci": None,
                                "notifier": None}
    (site / "issues.json").unlink()
    got = w.check_online()
    assert got["tracker"] and "issues.json" in got["tracker"]
    assert afk.Poller(object(), object()).check_online() == {}
    w.close()
    with pytest.raises(ValueError, match="closed"):
        w.check_online()
