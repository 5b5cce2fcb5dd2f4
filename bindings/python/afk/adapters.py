"""afk.adapters - what the ticks call on the host's adapter objects.

These are typing.Protocol classes: an adapter need not inherit from
them (any object with the methods will do - duck typing), but a typed
host may, or may annotate with them, and a type checker then holds its
objects to exactly what each tick calls.  Nothing here is called at run
time: a tick looks each method up on the host's object when it calls it,
and an armed run_once() checks first that the methods it may call exist.

Which tick calls what:

    poll tick   PollTracker.list_ready, PollTracker.add_label,
                PollAgent.dispatch; Tracker.upsert_comment when the
                tracker has it (the run's first record)
    watch tick  every method of Tracker, Agent.snapshot, Agent.send_turn,
                CI.status, Notifier.notify; and, when the host object
                has them, ClosedTracker.list_closed and StoppableAgent.stop
                (a run a human took back is stopped)

A method that raises fails that one call (and its repository or run);
see afk.Poller.run_once() and afk.Watcher.run_once().
"""

from __future__ import annotations

from typing import (TYPE_CHECKING, Any, Iterable, Mapping, Optional,
                    Protocol, Tuple, Union)

if TYPE_CHECKING:
    from .failures import ListingFailure
    from .issue import Issue

__all__ = ["PollTracker", "Tracker", "ClosedTracker", "PollAgent", "Agent",
           "StoppableAgent", "CI",
           "Notifier", "Snapshot", "CIStatus"]

#: What Agent.snapshot() returns: a mapping (or an object with these
#: attributes) with "state" (required: "running", "completed",
#: "interrupted", "errored", "stopped", "waiting_approval",
#: "waiting_input", "gone" - the thread no longer exists, and the run is
#: handed to a human at once - or an afk.AGENT_* int) and "phase" (optional:
#: "dispatched", "tests-red", "green", "pushed", or an afk.PHASE_* int),
#: and optionally "activity" (the Unix time of the agent's last output,
#: from which the stall deadline counts) and "tokens_in", "tokens_out",
#: "cost_microusd" (the thread's usage so far, all turns: ints >= 0,
#: weighed against the budget), and "reason" (a str: why the agent is
#: in a state that is not running, e.g. "OOMKilled", which the
#: escalation names).
Snapshot = Union[Mapping[str, Any], Any]

#: What CI.status() returns: None (no pull request), or a mapping (or an
#: object) with pr ("none", "open", "merged" or afk.PR_*), head (str or
#: None), ci and deploy ("none", "pending", "success", "failure" or
#: afk.STATUS_*), failing (check names, (name, url) pairs, or a mapping
#: of names to urls) and, optionally, pr_number, pr_author, pr_branch.
CIStatus = Union[None, Mapping[str, Any], Any]


class PollTracker(Protocol):
    """The tracker as the poll tick uses it."""

    def list_ready(self, repos: list[str]
                   ) -> Iterable[Union[Issue, ListingFailure]]:
        """The open issues of repos carrying the ready or the in-progress
        label, with their labels; an afk.ListingFailure for each
        repository (number 0) or issue (number > 0) that could not be
        read.  Called once per tick."""
        ...

    def add_label(self, repo: str, issue: int, label: str) -> object:
        """Adds label to the issue (the in-progress lock, after a
        dispatch succeeded; the watch tick's hand-over label)."""
        ...


class Tracker(PollTracker, Protocol):
    """The tracker as the watch tick uses it (the poll tick's methods
    and these)."""

    def remove_label(self, repo: str, issue: int, label: str) -> object:
        """Removes label; removing a label the issue lacks succeeds."""
        ...

    def close_issue(self, repo: str, issue: int) -> object:
        """Closes the issue (its run is done: merged, green, deployed)."""
        ...

    def find_comment(self, repo: str, issue: int, marker: str
                     ) -> Union[None, str,
                                Tuple[Optional[str], Optional[str]]]:
        """The body of the first comment the tracker's own identity wrote
        that contains marker, or None; or a (body, url) pair, url being
        the issue's address for notifications."""
        ...

    def upsert_comment(self, repo: str, issue: int, marker: str,
                       body: str) -> object:
        """Replaces the first comment containing marker with body, else
        adds it (the run's record and checklist)."""
        ...


class PollAgent(Protocol):
    """The agent client as the poll tick uses it."""

    def dispatch(self, repo: str, issue: int, prompt: str) -> str:
        """Starts a fresh agent thread on the issue with prompt; returns
        its thread id (a non-empty str).  ConnectionRefusedError or
        TimeoutError: the agent is unreachable, and the tick dispatches
        nothing more.  A dispatch that also takes a generation keyword
        (generation: int = 1) is told which run of the issue this is: 2
        and up after a run that ended (closed, escalated), whose thread
        it must never adopt."""
        ...


class Agent(Protocol):
    """The agent client as the watch tick uses it."""

    def snapshot(self, thread_id: str) -> Snapshot:
        """The thread's state and phase (see Snapshot)."""
        ...

    def send_turn(self, thread_id: str, prompt: str) -> object:
        """Sends a corrective turn (CI failed: fix forward)."""
        ...


class ClosedTracker(Tracker, Protocol):
    """A tracker that can also list closed issues (optional: the watch
    tick calls list_closed only when the object has it)."""

    def list_closed(self, repos: list[str], label: str
                    ) -> Iterable[Union["Issue", "ListingFailure"]]:
        """The closed issues of repos that still carry label (the
        in-progress label), as afk.Issue objects with their labels, and
        an afk.ListingFailure for a repository it could not list.  Their
        runs are stopped and their lock released."""
        ...


class StoppableAgent(Agent, Protocol):
    """An agent client that can stop a thread (optional: without stop
    a run a human took back is finalised and unlocked all the same)."""

    def stop(self, repo: str, issue: int, thread_id: str) -> object:
        """Stops the thread: a human closed the issue, added the human
        label or removed the in-progress or ready label.  Must succeed
        for a thread already stopped or gone: the tick may ask twice."""
        ...


class CI(Protocol):
    """The CI adapter (the watch tick)."""

    def status(self, repo: str, issue: int) -> CIStatus:
        """The state of the issue's pull request, its CI and its deploy
        (see CIStatus)."""
        ...


class Notifier(Protocol):
    """The notifier (the watch tick, when a run is handed to a human)."""

    def notify(self, repo: str, issue: int, message: str,
               link: Optional[str]) -> object:
        """Tells a human; link is the issue's address, when known."""
        ...
