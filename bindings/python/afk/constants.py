"""afk.constants - the values of include/afk/skip.h and include/afk/run.h."""

# The reasons of include/afk/skip.h.
SKIP_NOT_ALLOWLISTED = 1
SKIP_IN_PROGRESS = 2
SKIP_UNTRUSTED = 3
SKIP_BLOCKED = 4
SKIP_LOCKED = 5
SKIP_OUTRANKED = 6
SKIP_DISPATCH_FAILED = 7
SKIP_NOT_REACHED = 8
SKIP_REPO_FAILED = 9
SKIP_UNVETTED = 10
SKIP_AGENT_UNAVAILABLE = 11
SKIP_STOPPING = 12  # a human took its run back: being stopped
SKIP_CAPPED = 13  # max_in_flight runs are already in flight

# The values of include/afk/run.h.  What an agent thread is doing:
AGENT_RUNNING = 1
AGENT_COMPLETED = 2
AGENT_INTERRUPTED = 3
AGENT_ERRORED = 4
AGENT_STOPPED = 5
AGENT_WAITING_APPROVAL = 6
AGENT_WAITING_INPUT = 7
AGENT_GONE = 8  # the thread no longer exists: escalated at once
# The phases of a run, in order (the agent reports the first four):
PHASE_DISPATCHED = 0
PHASE_TESTS_RED = 1
PHASE_GREEN = 2
PHASE_PUSHED = 3
PHASE_CI = 4
PHASE_DEPLOYED = 5
# The pull request of an issue:
PR_NONE = 0
PR_OPEN = 1
PR_MERGED = 2
# CI on the pull request's head, and the deploy:
STATUS_NONE = 0
STATUS_PENDING = 1
STATUS_SUCCESS = 2
STATUS_FAILURE = 3
# What the watch tick does with a run:
ACTION_WAIT = 1
ACTION_CLOSE = 2
ACTION_FIX_FORWARD = 3
ACTION_ESCALATE = 4
ACTION_STOP = 5  # a human took the run back: stopped
# Why a run is escalated:
ESCALATE_AGENT_FAILED = 1
ESCALATE_AGENT_STOPPED = 2
ESCALATE_AGENT_WAITING = 3
ESCALATE_STALLED = 4
ESCALATE_CI_FAILED = 5
ESCALATE_DEPLOY_FAILED = 6
ESCALATE_CI_TIMEOUT = 7
ESCALATE_DEPLOY_TIMEOUT = 8
ESCALATE_NO_RECORD = 9
ESCALATE_AGENT_GONE = 10
ESCALATE_BUDGET = 11  # over its cost budget (libafk 1.1)
# Why a run was stopped (ACTION_STOP): what a human did on the tracker.
STOP_CLOSED = 1        # the issue was closed
STOP_HUMAN_LABEL = 2   # it got the human label
STOP_UNLOCKED = 3      # it lost the in-progress or ready label

# The names host methods may use for them.
_AGENT_STATES = {"running": AGENT_RUNNING, "completed": AGENT_COMPLETED,
                 "interrupted": AGENT_INTERRUPTED,
                 "errored": AGENT_ERRORED, "stopped": AGENT_STOPPED,
                 "waiting_approval": AGENT_WAITING_APPROVAL,
                 "waiting_input": AGENT_WAITING_INPUT,
                 "gone": AGENT_GONE}
_AGENT_PHASES = {"dispatched": PHASE_DISPATCHED,
                 "tests-red": PHASE_TESTS_RED, "green": PHASE_GREEN,
                 "pushed": PHASE_PUSHED}
_PHASE_NAMES = ("dispatched", "tests-red", "green", "pushed", "ci",
                "deployed")
_PR_STATES = {"none": PR_NONE, "open": PR_OPEN, "merged": PR_MERGED}
_STATUSES = {"none": STATUS_NONE, "pending": STATUS_PENDING,
             "success": STATUS_SUCCESS, "failure": STATUS_FAILURE}
