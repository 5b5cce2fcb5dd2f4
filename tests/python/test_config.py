"""afk.Config: every C key a keyword, fail-closed defaults, the library's
validation and messages."""

import copy
import ctypes
import json
import pickle

import pytest

import afk


def c_keys():
    """The keys as the C library enumerates them, asked directly."""
    lib = ctypes.CDLL(afk.library_path)
    fn = lib.afk_config_key
    fn.restype, fn.argtypes = ctypes.c_char_p, [ctypes.c_size_t]
    keys = []
    while fn(len(keys)) is not None:
        keys.append(fn(len(keys)).decode())
    return keys


def test_every_c_key_is_a_keyword():
    keys = c_keys()
    assert list(afk.Config.KEYS) == keys
    for key in ("kill_switch", "allowlist", "in_progress_label",
                "ready_label", "trusted_users", "preamble_file"):
        assert key in keys
    defaults = afk.Config()
    for key in keys:
        # Each default value is accepted back as its keyword.
        cfg = afk.Config(**{key: getattr(defaults, key)})
        assert getattr(cfg, key) == getattr(defaults, key)


def test_defaults_fail_closed():
    cfg = afk.Config()
    assert cfg.kill_switch is True
    assert cfg.allowlist == ()
    assert cfg.armed is False
    assert cfg.in_progress_label == "agent-in-progress"
    assert cfg.ready_label == "ready-for-agent"
    assert cfg.trusted_users == ()
    assert cfg.preamble_file is None
    assert afk.Config(kill_switch=False).armed is False
    assert afk.Config(allowlist=["a"]).armed is False
    assert afk.Config(kill_switch=False, allowlist=["a"]).armed is True


def test_values_read_back_as_python_types():
    cfg = afk.Config(kill_switch=False, allowlist=("infra", "acme/api"),
                     trusted_users=["alice"])
    assert cfg.allowlist == ("infra", "acme/api")
    assert type(cfg.allowlist) is tuple
    assert cfg.kill_switch is False
    assert cfg.trusted_users == ("alice",)
    assert cfg.to_dict()["allowlist"] == ("infra", "acme/api")


@pytest.mark.parametrize("settings, words", [
    ({"allowlist": ["*"]}, ["allowlist", "wildcards"]),
    ({"allowlist": ["a", "a"]}, ["allowlist[1]", "listed twice"]),
    ({"allowlist": "infra"}, ["allowlist", "array"]),
    ({"kill_switch": 1}, ["kill_switch", "boolean"]),
    ({"kill_switch": "false"}, ["kill_switch", "boolean"]),
    ({"in_progress_label": ""}, ["in_progress_label"]),
    ({"in_progress_label": "ready-for-agent"},
     ["in_progress_label", "ready_label"]),
    ({"trusted_users": ["a b"]}, ["trusted_users[0]", "whitespace"]),
])
def test_bad_values_raise_value_error_with_the_library_message(settings,
                                                               words):
    with pytest.raises(ValueError) as ei:
        afk.Config(**settings)
    for w in words:
        assert w in str(ei.value)
    assert "<string>" not in str(ei.value)


def test_message_is_the_library_one():
    # The same text afk_config_set() leaves on the handle.
    lib = ctypes.CDLL(afk.library_path)
    lib.afk_config_new.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    lib.afk_config_set.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                   ctypes.c_char_p]
    lib.afk_config_errmsg.argtypes = [ctypes.c_void_p]
    lib.afk_config_errmsg.restype = ctypes.c_char_p
    lib.afk_config_free.argtypes = [ctypes.c_void_p]
    h = ctypes.c_void_p()
    assert lib.afk_config_new(ctypes.byref(h)) == 0
    assert lib.afk_config_set(h, b"allowlist", b'["ok", "*"]') == afk.ECONFIG
    expected = lib.afk_config_errmsg(h).decode()
    lib.afk_config_free(h)
    with pytest.raises(ValueError) as ei:
        afk.Config(allowlist=["ok", "*"])
    assert str(ei.value) == expected
    cfg = afk.Config()
    with pytest.raises(ValueError) as ei:
        cfg.allowlist = ["ok", "*"]
    assert str(ei.value) == expected


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        afk.Config(nope=1)
    with pytest.raises(TypeError):
        afk.Config(kill_switch=False, allowlist=["a"], Allowlist=["b"])


def test_positional_arguments_are_refused():
    with pytest.raises(TypeError):
        afk.Config(["a"])


def test_keywords_apply_together_whatever_their_order():
    # Swapping two labels is one change: no intermediate state is checked.
    cfg = afk.Config(in_progress_label="ready-for-agent",
                     ready_label="go-agent")
    assert cfg.in_progress_label == "ready-for-agent"
    assert cfg.ready_label == "go-agent"


def test_refused_update_changes_nothing():
    cfg = afk.Config(kill_switch=False, allowlist=["a"])
    with pytest.raises(ValueError):
        cfg.update(allowlist=["b"], kill_switch="yes")
    assert cfg.allowlist == ("a",) and cfg.kill_switch is False
    cfg.update(allowlist=["b", "c"], kill_switch=True)
    assert cfg.allowlist == ("b", "c") and cfg.kill_switch is True


def test_setattr_goes_through_the_library():
    cfg = afk.Config()
    cfg.kill_switch = False
    cfg.allowlist = ["infra"]
    assert cfg.armed
    with pytest.raises(ValueError, match="allowlist"):
        cfg.allowlist = ["infra", "../etc"]
    assert cfg.allowlist == ("infra",)
    with pytest.raises(AttributeError):
        cfg.allowlsit = ["typo"]
    with pytest.raises(AttributeError):
        cfg.nonexistent
    with pytest.raises(AttributeError):
        del cfg.allowlist
    cfg.set("allowlist", ("x",))
    assert cfg.get("allowlist") == ("x",)


def test_unserialisable_value():
    with pytest.raises(TypeError):
        afk.Config(allowlist={"a"})
    with pytest.raises(ValueError):
        afk.Config(kill_switch=float("nan"))


def test_from_file(tmp_path):
    path = tmp_path / "afk.json"
    path.write_text(json.dumps({"kill_switch": False,
                                "allowlist": ["infra"],
                                "in_progress_label": "wip"}))
    cfg = afk.Config.from_file(str(path))
    assert cfg.armed and cfg.in_progress_label == "wip"
    assert afk.Config.from_file(path).allowlist == ("infra",)


def test_metrics_file_passes_through(tmp_path):
    """A key the CLI reads (afk(1) METRICS): a path, relative to the
    file, or None for the host's default."""
    assert afk.Config().metrics_file is None
    cfg = afk.Config(metrics_file="/var/lib/textfile/afk.prom")
    assert cfg.metrics_file == "/var/lib/textfile/afk.prom"
    path = tmp_path / "afk.json"
    path.write_text(json.dumps({"metrics_file": "prom/afk.prom"}))
    assert afk.Config.from_file(path).metrics_file == \
        str(tmp_path / "prom" / "afk.prom")
    with pytest.raises(ValueError, match="metrics_file"):
        afk.Config(metrics_file="")


def test_from_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "kill_switch": false,\n  "allowlist": ["*"]\n}\n')
    with pytest.raises(ValueError) as ei:
        afk.Config.from_file(bad)
    assert "allowlist" in str(ei.value) and ":3:" in str(ei.value)
    missing = tmp_path / "missing.json"
    with pytest.raises(OSError) as ei:
        afk.Config.from_file(missing)
    assert isinstance(ei.value, FileNotFoundError)
    assert str(missing) in str(ei.value)
    bad.write_text("{not json")
    with pytest.raises(ValueError):
        afk.Config.from_file(bad)


def test_from_json():
    cfg = afk.Config.from_json('{"kill_switch": false, "allowlist": ["a"]}')
    assert cfg.armed
    with pytest.raises(ValueError, match="unknown key"):
        afk.Config.from_json('{"nope": 1}')


def test_missing_preamble_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="preamble_file.*none.txt"):
        afk.Config(preamble_file=str(tmp_path / "none.txt"))
    (tmp_path / "p.txt").write_text("hello\n")
    cfg = afk.Config(preamble_file=tmp_path / "p.txt")  # a PathLike
    assert cfg.preamble_file == str(tmp_path / "p.txt")


def test_apply_env(monkeypatch):
    cfg = afk.Config()
    monkeypatch.setenv("AFK_KILL_SWITCH", "off")
    monkeypatch.setenv("AFK_ALLOWLIST", "a,b")
    cfg.apply_env()
    assert cfg.armed and cfg.allowlist == ("a", "b")
    monkeypatch.setenv("AFK_KILL_SWITCH", "maybe")
    with pytest.raises(ValueError):
        cfg.apply_env()


def test_copy_pickle_and_equality(tmp_path):
    (tmp_path / "p.txt").write_text("hello\n")
    cfg = afk.Config(kill_switch=False, allowlist=["a", "b"],
                     preamble_file=str(tmp_path / "p.txt"))
    for other in (copy.copy(cfg), copy.deepcopy(cfg),
                  pickle.loads(pickle.dumps(cfg))):
        assert other == cfg and other is not cfg
        assert other._h != cfg._h
    other.allowlist = ["c"]
    assert cfg.allowlist == ("a", "b") and other != cfg
    assert "allowlist=('a', 'b')" in repr(cfg)


def test_armed_follows_every_change(monkeypatch):
    # armed is remembered between ticks; each way of changing the
    # configuration must make it read again.
    cfg = afk.Config()
    assert cfg.armed is False
    cfg.kill_switch = False
    assert cfg.armed is False  # the allowlist is still empty
    cfg.set("allowlist", ["acme/api"])
    assert cfg.armed is True
    cfg.update(kill_switch=True)
    assert cfg.armed is False
    cfg.kill_switch = False
    assert cfg.armed is True
    monkeypatch.setenv("AFK_KILL_SWITCH", "1")
    cfg.apply_env()
    assert cfg.armed is False
    with pytest.raises(ValueError):
        cfg.allowlist = 7  # refused: unchanged
    assert cfg.armed is False
    # A disarmed tick calls nothing; once armed, the same Poller checks.
    class Nothing:
        pass
    p = afk.Poller(tracker=Nothing(), t3_client=Nothing())
    assert p.run_once(cfg) == []
    monkeypatch.setenv("AFK_KILL_SWITCH", "0")
    cfg.apply_env()
    with pytest.raises(TypeError, match="list_ready is missing"):
        p.run_once(cfg)


def test_what_every_tick_would_refuse_is_refused_at_load(tmp_path):
    # Plain http to a host that is not loopback: the C message, at its line.
    path = tmp_path / "afk.json"
    path.write_text('{\n  "allowlist": ["acme/api"],\n  "tracker": {\n'
                    '    "kind": "github", "token_env": "T",\n'
                    '    "api_url": "http://ghe.example/api/v3"}\n}\n')
    with pytest.raises(ValueError) as ei:
        afk.Config.from_file(path)
    assert str(ei.value) == (
        "%s:5: tracker.api_url: plain http is refused except to a loopback "
        "address; use https" % path)
    afk.Config(agent={"kind": "t3", "url": "http://127.0.0.1:3773",
                      "token_env": "T", "project_id": "p", "model": "m"})

    # A name without an owner for a forge, whichever is set last.
    github = {"kind": "github", "token_env": "T"}
    with pytest.raises(ValueError) as ei:
        afk.Config(allowlist=["api"], tracker=github)
    assert str(ei.value) == ('allowlist[0]: "api" has no owner (the github '
                             'tracker needs "owner/name")')
    cfg = afk.Config(allowlist=["api"])
    with pytest.raises(ValueError) as ei:
        cfg.tracker = github
    assert str(ei.value) == ('tracker.kind: the github tracker needs '
                             '"owner/name" repositories, and allowlist[0] '
                             '"api" has no owner')
    assert cfg.tracker is None
    cfg.tracker = {"kind": "file", "path": str(tmp_path / "issues.json")}
    assert cfg.allowlist == ("api",)


def test_command_notifier_is_accepted_with_its_default_timeout():
    cfg = afk.Config(notifier={"kind": "command", "command": ["true"]})
    assert cfg.notifier == {"kind": "command", "command": ("true",),
                            "timeout": 30}
    assert type(cfg.notifier) is dict
    with pytest.raises(ValueError) as ei:
        afk.Config(notifier={"kind": "command", "command": ["true"],
                             "timeout": 0})
    assert str(ei.value) == ("notifier.timeout: 0 is out of range "
                             "(1 to 3600)")


def test_etag_cache_read_only_passes_through():
    c = afk.Config(http={"etag_cache_read_only": True})
    assert c.http["etag_cache_read_only"] is True
    assert afk.Config().http["etag_cache_read_only"] is False
    with pytest.raises(ValueError):
        afk.Config(http={"etag_cache_read_only": 1})
