"""afk - the Python binding of libafk.

libafk reads an issue tracker's ready issues, picks what may run (one per
repository, trusted, unblocked, not locked), dispatches each pick to a
coding agent and then stamps the in-progress label that locks its
repository (the poll tick, afk.Poller).  It then watches each run to its
end (the watch tick, afk.Watcher): it closes the issue once the pull
request is merged and CI is green (or deployed), sends the agent a
corrective turn when CI fails, and hands the issue to a human when the
agent fails or stalls or the fix-forward budget is spent.  This package
is pure Python over ctypes: the policy is the C library's, the adapters
are the host's own objects.

    import afk

    cfg = afk.Config(kill_switch=False, allowlist=["infra", "acme/api"])
    poller = afk.Poller(tracker=my_tracker, t3_client=my_agent)
    result = poller.run_once(cfg)
    for d in result.dispatched:
        print(d.issue.repo, d.issue.number, d.thread_id)

    watcher = afk.Watcher(tracker=my_tracker, t3_client=my_agent,
                          ci=my_ci, notifier=my_pager)
    for a in watcher.run_once(cfg):        # now=None: time.time()
        print(a.repo, a.number, a.action, a.reason, a.phase)

Or the built-in adapters the configuration selects (its tracker, agent,
ci and notifier keys), any one of them replaced by a host object:

    poller = afk.Poller.from_config(cfg)
    watcher = afk.Watcher.from_config(cfg, notifier=my_pager)

Adapters are duck-typed host objects (None is refused); afk.adapters
holds typing.Protocol classes of each (PollTracker, Tracker, PollAgent,
Agent, CI, Notifier) for a type checker, and the package is typed
(py.typed).  Before an armed
tick calls anything, run_once() checks that every method that tick may
call is there and callable, and raises TypeError naming the first that
is not - a poll tick: tracker.list_ready, tracker.add_label,
t3_client.dispatch; a watch tick: all of the methods below but
dispatch.  A disarmed tick calls and checks nothing.  A method is looked
up again each time it is called; upsert_comment is optional for a poll
tick, and so is find_comment (the Poller asks once, when it is made,
whether the tracker has them, and whether t3_client.dispatch takes a
generation keyword):

    tracker.list_ready(repos: list[str]) -> iterable of afk.Issue
        the open issues carrying the ready or the in-progress label,
        with their labels (the watch tick follows the in-progress ones);
        among them, an afk.ListingFailure(repo, number=0, message=None,
        code=afk.EIO) for each repository that could not be listed
        (number 0: nothing of it is dispatched) or issue that could not
        be vetted (number > 0: it is skipped as afk.SKIP_UNVETTED)
    tracker.add_label(repo: str, issue: int, label: str) -> ignored
    tracker.remove_label(repo, issue, label) -> ignored
        (removing a label the issue lacks must succeed)
    tracker.close_issue(repo, issue) -> ignored
    tracker.find_comment(repo, issue, marker: str)
        -> str | None | (str | None, url: str | None)
        the body of the first comment containing marker, or None; a
        (body, url) pair also gives the issue's address, which
        notifications link to
    tracker.upsert_comment(repo, issue, marker, body: str) -> ignored
        replace the first comment containing marker, else add one
    t3_client.dispatch(repo: str, issue: int, prompt: str
                       [, generation: int]) -> str
        the new thread's id; generation (passed only to a dispatch
        that accepts it) is which run of the issue this is - a thread
        of an earlier one belongs to a run that ended: start afresh
    t3_client.snapshot(thread_id: str) -> mapping or object with
        state  "running", "completed", "interrupted", "errored",
               "stopped", "waiting_approval", "waiting_input", "gone"
               (the thread no longer exists: handed to a human at
               once) (or an afk.AGENT_* int); required
        phase  "dispatched", "tests-red", "green", "pushed" (or an
               afk.PHASE_* int up to PHASE_PUSHED); missing: dispatched
    t3_client.send_turn(thread_id, prompt: str) -> ignored
    ci.status(repo, issue) -> mapping or object (or None: nothing) with
        pr       "none", "open", "merged" (or afk.PR_*)
        head     the PR head's commit id, str or None
        ci       "none", "pending", "success", "failure" (afk.STATUS_*)
        failing  the failing checks: names, (name, url) pairs, or a
                 mapping of names to urls (url may be None)
        deploy   as ci
        pr_number, pr_author, pr_branch   optional: which pull request
                 it is (an int > 0, str, str), shown in the run's
                 checklist as "#42 (afk-bot, branch afk/issue-7)"
        a missing or None member is "none" (no failing checks)
    notifier.notify(repo, issue, message: str, link: str | None)
        -> ignored

An exception a host method raises fails that call only: the library
sees the callback as failed (a failed dispatch is never labelled) and
the tick goes on with the other repositories (or runs).  After the tick,
run_once() raises the first such exception as the very same object,
with its traceback, and untouched (no attribute or note is added).  A
KeyboardInterrupt or SystemExit starts nothing new: no later dispatch,
no later run is tried (a dispatched issue still gets its lock).  A
ConnectionRefusedError or TimeoutError from t3_client.dispatch tells the
library the agent is unreachable: the tick dispatches nothing more.  A
value the library cannot use fails the call the same way: ValueError
for a bad state, phase or CI value, TypeError for a reply of the wrong
kind.  What the tick did, and every failure, is on the Poller or
Watcher: .last_result (with .errors, a list of afk.Failure) and
.last_error.  A tick whose only failures are the ListingFailures its
tracker returned raises afk.Error with the first, after dispatching (or
watching) the rest.  See Poller.run_once() and Watcher.run_once().

Objects outlive the handles that made them: an Issue owns its own C
handle, and a Result and the Actions of a watch tick are plain Python,
copied out of the C result before that is freed.

Thread safety: each Config, Poller and Watcher may be shared between
threads; each Poller or Watcher runs one tick at a time (a second thread
waits), and the library runs with the GIL held (see afk._native).
"""

from . import _native
from ._version import __version__
from .errors import (OK, EINVAL, ENOMEM, ECONFIG, EIO, ERECURSIVE, ECALLBACK,
                     ELABEL, ENOTSUP, EPARSE, EUNAVAIL, Error,
                     ReentrancyError, strerror)
from .constants import (
    SKIP_NOT_ALLOWLISTED, SKIP_IN_PROGRESS, SKIP_UNTRUSTED, SKIP_BLOCKED,
    SKIP_LOCKED, SKIP_OUTRANKED, SKIP_DISPATCH_FAILED, SKIP_NOT_REACHED,
    SKIP_REPO_FAILED, SKIP_UNVETTED, SKIP_AGENT_UNAVAILABLE, SKIP_STOPPING,
    SKIP_CAPPED,
    AGENT_RUNNING, AGENT_COMPLETED, AGENT_INTERRUPTED, AGENT_ERRORED,
    AGENT_STOPPED, AGENT_WAITING_APPROVAL, AGENT_WAITING_INPUT, AGENT_GONE,
    PHASE_DISPATCHED, PHASE_TESTS_RED, PHASE_GREEN, PHASE_PUSHED, PHASE_CI,
    PHASE_DEPLOYED, PR_NONE, PR_OPEN, PR_MERGED,
    STATUS_NONE, STATUS_PENDING, STATUS_SUCCESS, STATUS_FAILURE,
    ACTION_WAIT, ACTION_CLOSE, ACTION_FIX_FORWARD, ACTION_ESCALATE,
    ACTION_STOP, STOP_CLOSED, STOP_HUMAN_LABEL, STOP_UNLOCKED,
    ESCALATE_AGENT_FAILED, ESCALATE_AGENT_STOPPED, ESCALATE_AGENT_WAITING,
    ESCALATE_STALLED, ESCALATE_CI_FAILED, ESCALATE_DEPLOY_FAILED,
    ESCALATE_CI_TIMEOUT, ESCALATE_DEPLOY_TIMEOUT, ESCALATE_NO_RECORD,
    ESCALATE_AGENT_GONE, ESCALATE_BUDGET)
from .config import Config
from .issue import Issue
from .failures import Failure, ListingFailure
from .poller import Dispatch, Poller, Result, SkipReason
from .watcher import (Action, ActionKind, Actions, EscalationReason, Phase,
                      StopReason, Watcher)
from .adapters import (CI, Agent, ClosedTracker, Notifier, PollAgent,
                       PollTracker, StoppableAgent, Tracker)

__all__ = [
    "__version__",
    "Config", "Issue", "Poller", "Result", "Dispatch", "SkipReason",
    "Failure", "ListingFailure", "Actions",
    "PollTracker", "Tracker", "ClosedTracker", "PollAgent", "Agent",
    "StoppableAgent", "CI", "Notifier",
    "Error", "ReentrancyError", "library_version", "library_path",
    "strerror",
    "OK", "EINVAL", "ENOMEM", "ECONFIG", "EIO", "ERECURSIVE", "ECALLBACK",
    "ELABEL", "ENOTSUP", "EPARSE", "EUNAVAIL",
    "SKIP_NOT_ALLOWLISTED", "SKIP_IN_PROGRESS", "SKIP_UNTRUSTED",
    "SKIP_BLOCKED", "SKIP_LOCKED", "SKIP_OUTRANKED",
    "SKIP_DISPATCH_FAILED", "SKIP_NOT_REACHED", "SKIP_REPO_FAILED",
    "SKIP_UNVETTED", "SKIP_AGENT_UNAVAILABLE", "SKIP_STOPPING", "SKIP_CAPPED",
    "Watcher", "Action", "ActionKind", "EscalationReason", "Phase",
    "StopReason",
    "AGENT_RUNNING", "AGENT_COMPLETED", "AGENT_INTERRUPTED",
    "AGENT_ERRORED", "AGENT_STOPPED", "AGENT_WAITING_APPROVAL",
    "AGENT_WAITING_INPUT", "AGENT_GONE",
    "PHASE_DISPATCHED", "PHASE_TESTS_RED", "PHASE_GREEN", "PHASE_PUSHED",
    "PHASE_CI", "PHASE_DEPLOYED",
    "PR_NONE", "PR_OPEN", "PR_MERGED",
    "STATUS_NONE", "STATUS_PENDING", "STATUS_SUCCESS", "STATUS_FAILURE",
    "ACTION_WAIT", "ACTION_CLOSE", "ACTION_FIX_FORWARD", "ACTION_ESCALATE",
    "ACTION_STOP", "STOP_CLOSED", "STOP_HUMAN_LABEL", "STOP_UNLOCKED",
    "ESCALATE_AGENT_FAILED", "ESCALATE_AGENT_STOPPED",
    "ESCALATE_AGENT_WAITING", "ESCALATE_STALLED", "ESCALATE_CI_FAILED",
    "ESCALATE_DEPLOY_FAILED", "ESCALATE_CI_TIMEOUT",
    "ESCALATE_DEPLOY_TIMEOUT", "ESCALATE_NO_RECORD", "ESCALATE_AGENT_GONE",
    "ESCALATE_BUDGET",
]


#: The version of the libafk that was loaded, e.g. "1.0.0".
library_version = _native.version
#: The path it was loaded from.
library_path = _native.path
