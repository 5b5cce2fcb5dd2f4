"""afk._native - finds and loads libafk and declares its C functions.

Internal to the afk package.  Everything the binding calls is declared
here, once, with its argument and return types: handles are c_void_p,
issue numbers c_long, counts c_size_t, the watch tick's time c_longlong.  Strings the library lends
(afk_issue_repo(), afk_poller_errmsg(), ...) are declared c_char_p, so
ctypes copies them into bytes at once; the one string the caller owns
(afk_config_get()'s out-parameter) is read as a raw pointer and handed
back to afk_free().

The library is loaded with ctypes.PyDLL: the GIL stays held while libafk
runs.  libafk does no I/O of its own during a tick (all of it is behind
the Python adapters) and its handles are not thread-safe, so holding the
GIL both serialises every call into it and saves releasing and retaking
the lock around each of the many small calls a tick makes.

Which library is loaded:
  1. $AFK_LIBRARY, a path, when set (and only it);
  2. else the build tree next to the package
     (bindings/python/afk/../../../lib/.libs/libafk.so.0);
  3. else ctypes.util.find_library("afk"), then the soname itself.
A library that is missing, is not libafk, or is older than MIN_VERSION
raises ImportError naming the path tried and the version found.
"""

import ctypes
import ctypes.util
import os
from ctypes import (CFUNCTYPE, POINTER, c_char_p, c_int, c_long,
                    c_longlong, c_size_t, c_void_p)

MIN_VERSION = (1, 0, 0)
SONAME = "libafk.so.0"

_HERE = os.path.dirname(os.path.abspath(__file__))
IN_TREE = os.path.normpath(os.path.join(_HERE, os.pardir, os.pardir,
                                        os.pardir, "lib", ".libs", SONAME))

# The callback types of include/afk/adapter.h; userdata (last) is unused:
# each Poller and Watcher registers its own closures.  The call comes
# first, as a plain pointer.
LIST_READY_FN = CFUNCTYPE(c_int, c_void_p, POINTER(c_char_p), c_size_t,
                          c_void_p)
ADD_LABEL_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_long, c_char_p,
                         c_void_p)
DISPATCH_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_long, c_char_p,
                        c_void_p)
# (call, repo, number, userdata): close_issue, and ci_status.
CLOSE_ISSUE_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_long, c_void_p)
CI_STATUS_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_long, c_void_p)
# (call, repo, number, label | marker, userdata)
REMOVE_LABEL_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_long, c_char_p,
                            c_void_p)
FIND_COMMENT_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_long, c_char_p,
                            c_void_p)
# (call, repo, number, marker, body | message, link, userdata)
UPSERT_COMMENT_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_long, c_char_p,
                              c_char_p, c_void_p)
NOTIFY_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_long, c_char_p,
                      c_char_p, c_void_p)
# (call, thread_id, userdata) and (call, thread_id, prompt, userdata)
SNAPSHOT_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_void_p)
SEND_TURN_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_char_p, c_void_p)

_P = c_void_p            # any handle
_PP = POINTER(c_void_p)  # a constructor's out-parameter

# name: (restype, argtypes) for every C function the binding calls.
PROTOTYPES = {
    # common.h
    "afk_version": (c_char_p, []),
    "afk_strerror": (c_char_p, [c_int]),
    "afk_free": (None, [_P]),
    # config.h
    "afk_config_new": (c_int, [_PP]),
    "afk_config_free": (None, [_P]),
    "afk_config_load_file": (c_int, [_P, c_char_p]),
    "afk_config_load_string": (c_int, [_P, c_char_p]),
    "afk_config_apply_env": (c_int, [_P]),
    "afk_config_set": (c_int, [_P, c_char_p, c_char_p]),
    "afk_config_get": (c_int, [_P, c_char_p, _PP]),
    "afk_config_key": (c_char_p, [c_size_t]),
    "afk_config_armed": (c_int, [_P]),
    "afk_config_errmsg": (c_char_p, [_P]),
    # issue.h
    "afk_issue_new": (c_int, [_PP, c_char_p, c_long]),
    "afk_issue_free": (None, [_P]),
    "afk_issue_set_title": (c_int, [_P, c_char_p]),
    "afk_issue_add_label": (c_int, [_P, c_char_p]),
    "afk_issue_set_priority": (c_int, [_P, c_int]),
    "afk_issue_set_trusted": (c_int, [_P, c_int]),
    "afk_issue_add_blocker": (c_int, [_P, c_long]),
    "afk_issue_repo": (c_char_p, [_P]),
    "afk_issue_number": (c_long, [_P]),
    "afk_issue_title": (c_char_p, [_P]),
    "afk_issue_label_count": (c_size_t, [_P]),
    "afk_issue_label": (c_char_p, [_P, c_size_t]),
    "afk_issue_priority": (c_int, [_P]),
    "afk_issue_trusted": (c_int, [_P]),
    "afk_issue_blocker_count": (c_size_t, [_P]),
    "afk_issue_blocker": (c_long, [_P, c_size_t]),
    # adapter.h
    "afk_call_set_error": (c_int, [_P, c_char_p]),
    "afk_call_add_issue": (c_int, [_P, _P]),
    "afk_call_add_issues": (c_int, [_P, _P, c_size_t]),
    "afk_call_add_error": (c_int, [_P, c_char_p, c_long, c_int, c_char_p]),
    "afk_call_set_thread_id": (c_int, [_P, c_char_p]),
    "afk_call_generation": (c_int, [_P]),
    "afk_call_set_generation": (c_int, [_P, c_int]),
    "afk_tracker_new": (c_int, [_PP]),
    "afk_tracker_free": (None, [_P]),
    "afk_tracker_set_list_ready": (c_int, [_P, LIST_READY_FN]),
    "afk_tracker_set_add_label": (c_int, [_P, ADD_LABEL_FN]),
    "afk_tracker_set_close_issue": (c_int, [_P, CLOSE_ISSUE_FN]),
    "afk_tracker_set_remove_label": (c_int, [_P, REMOVE_LABEL_FN]),
    "afk_tracker_set_find_comment": (c_int, [_P, FIND_COMMENT_FN]),
    "afk_tracker_set_upsert_comment": (c_int, [_P, UPSERT_COMMENT_FN]),
    "afk_agent_new": (c_int, [_PP]),
    "afk_agent_free": (None, [_P]),
    "afk_agent_set_dispatch": (c_int, [_P, DISPATCH_FN]),
    "afk_agent_set_snapshot": (c_int, [_P, SNAPSHOT_FN]),
    "afk_agent_set_send_turn": (c_int, [_P, SEND_TURN_FN]),
    "afk_ci_new": (c_int, [_PP]),
    "afk_ci_free": (None, [_P]),
    "afk_ci_set_status": (c_int, [_P, CI_STATUS_FN]),
    "afk_notifier_new": (c_int, [_PP]),
    "afk_notifier_free": (None, [_P]),
    "afk_notifier_set_notify": (c_int, [_P, NOTIFY_FN]),
    "afk_call_set_comment": (c_int, [_P, c_char_p]),
    "afk_call_set_url": (c_int, [_P, c_char_p]),
    "afk_call_set_agent_state": (c_int, [_P, c_int]),
    "afk_call_set_phase": (c_int, [_P, c_int]),
    "afk_call_set_pr": (c_int, [_P, c_int, c_char_p]),
    "afk_call_set_pr_info": (c_int, [_P, c_long, c_char_p, c_char_p]),
    "afk_call_set_ci": (c_int, [_P, c_int]),
    "afk_call_add_failing_check": (c_int, [_P, c_char_p, c_char_p]),
    "afk_call_set_deploy": (c_int, [_P, c_int]),
    # poller.h
    "afk_poller_new": (c_int, [_PP, _P, _P]),
    "afk_poller_free": (None, [_P]),
    "afk_poller_run_once": (c_int, [_P, _P, _PP]),
    "afk_poller_errmsg": (c_char_p, [_P]),
    "afk_result_free": (None, [_P]),
    "afk_result_dispatched_count": (c_size_t, [_P]),
    "afk_result_dispatched_issue": (_P, [_P, c_size_t]),
    "afk_result_dispatched_thread": (c_char_p, [_P, c_size_t]),
    "afk_result_reasons": (c_size_t, [_P, _P, c_size_t]),
    "afk_result_dispatches": (c_size_t, [_P, _P, _P, c_size_t]),
    "afk_result_skipped_count": (c_size_t, [_P]),
    "afk_result_skipped_repo": (c_char_p, [_P, c_size_t]),
    "afk_result_skipped_number": (c_long, [_P, c_size_t]),
    "afk_result_skipped_reason": (c_int, [_P, c_size_t]),
    "afk_result_error_count": (c_size_t, [_P]),
    "afk_result_error_repo": (c_char_p, [_P, c_size_t]),
    "afk_result_error_number": (c_long, [_P, c_size_t]),
    "afk_result_error_code": (c_int, [_P, c_size_t]),
    "afk_result_error_message": (c_char_p, [_P, c_size_t]),
    "afk_skip_reason_str": (c_char_p, [c_int]),
    # watcher.h
    "afk_watcher_new": (c_int, [_PP, _P, _P, _P, _P]),
    "afk_watcher_free": (None, [_P]),
    "afk_watcher_run_once": (c_int, [_P, _P, c_longlong, _PP]),
    "afk_watcher_errmsg": (c_char_p, [_P]),
    "afk_actions_free": (None, [_P]),
    "afk_actions_count": (c_size_t, [_P]),
    "afk_actions_error_count": (c_size_t, [_P]),
    "afk_actions_error_repo": (c_char_p, [_P, c_size_t]),
    "afk_actions_error_number": (c_long, [_P, c_size_t]),
    "afk_actions_error_code": (c_int, [_P, c_size_t]),
    "afk_actions_error_message": (c_char_p, [_P, c_size_t]),
    "afk_actions_repo": (c_char_p, [_P, c_size_t]),
    "afk_actions_number": (c_long, [_P, c_size_t]),
    "afk_actions_thread": (c_char_p, [_P, c_size_t]),
    "afk_actions_kind": (c_int, [_P, c_size_t]),
    "afk_actions_reason": (c_int, [_P, c_size_t]),
    "afk_actions_phase": (c_int, [_P, c_size_t]),
    "afk_actions_attempts": (c_int, [_P, c_size_t]),
    "afk_actions_updated": (c_int, [_P, c_size_t]),
    "afk_actions_checklist": (c_char_p, [_P, c_size_t]),
    "afk_action_str": (c_char_p, [c_int]),
    "afk_escalation_str": (c_char_p, [c_int]),
}


def _candidate():
    """The path to load and how it was chosen, or (None, why not)."""
    env = os.environ.get("AFK_LIBRARY")
    if env:
        return env, "AFK_LIBRARY"
    if os.path.exists(IN_TREE):
        return IN_TREE, "the build tree next to the package"
    found = ctypes.util.find_library("afk")
    if found:
        return found, 'ctypes.util.find_library("afk")'
    return SONAME, ("the dynamic linker's search path (AFK_LIBRARY is "
                    "unset, there is no %s and "
                    'ctypes.util.find_library("afk") found nothing)'
                    % IN_TREE)


def _parse_version(text):
    try:
        parts = tuple(int(p) for p in text.split("."))
    except ValueError:
        return None
    return parts if len(parts) == 3 else None


def load():
    """Loads libafk; returns (the library, its path, its version string)."""
    path, how = _candidate()
    try:
        lib = ctypes.PyDLL(path)
    except OSError as e:
        raise ImportError("afk: cannot load libafk from %s (chosen by %s): "
                          "%s" % (path, how, e), path=path) from None
    try:
        fn = lib.afk_version
    except AttributeError:
        raise ImportError("afk: %s (chosen by %s) is not libafk: it has no "
                          "afk_version(); no version found" % (path, how),
                          path=path) from None
    fn.restype, fn.argtypes = PROTOTYPES["afk_version"]
    raw = fn() or b""
    version = raw.decode("ascii", "replace")
    parsed = _parse_version(version)
    if parsed is None or parsed < MIN_VERSION:
        raise ImportError("afk: libafk at %s (chosen by %s) is version %r; "
                          "this binding needs %s or later"
                          % (path, how, version,
                             ".".join(map(str, MIN_VERSION))), path=path)
    for name, (restype, argtypes) in PROTOTYPES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise ImportError("afk: libafk %s at %s (chosen by %s) lacks "
                              "%s()" % (version, path, how, name),
                              path=path) from None
        fn.restype = restype
        fn.argtypes = argtypes
    return lib, path, version


lib, path, version = load()
