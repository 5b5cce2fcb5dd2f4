"""What the stand-in CLIs of tests/agents share (tests/agents.sh runs
the wrappers of examples/agents against them).

A stand-in answers --version, records how it was run (argv, stdin, cwd:
one JSON line appended to $STANDIN_LOG), writes the events its CLI's
real version writes, and exits with $STANDIN_EXIT (default 0).
$STANDIN_SCENARIO picks the events: "ok" (default), "error" (the CLI
reports a failed turn), "garbage" (non-JSON lines, JSON that is not an
object and events of unknown types between the real ones) or, for
claude, "zeroed" (a crash's result, its totals zeroed).  A resumed
session gets the events of a second turn.  $STANDIN_HANG set: --version
never returns (for the probe's deadline).
"""
import json
import os
import sys
import time

GARBAGE = [
    "this is not json",
    "{\"truncated\": ",
    "[1, 2, 3]",
    "42",
    json.dumps({"type": "no.such.event", "whatever": {"x": 1}}),
    "",
]


def main(version, resumed_by, events):
    """version: what --version prints; resumed_by(argv) -> whether the
    argv resumes a session; events(scenario, resumed) -> the lines."""
    argv = sys.argv[1:]
    if argv in (["--version"], ["-v"]):
        if os.environ.get("STANDIN_HANG"):
            while True:
                time.sleep(60)
        print(version)
        return 0
    prompt = sys.stdin.read()
    log = os.environ.get("STANDIN_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"argv": argv, "stdin": prompt,
                                "cwd": os.getcwd()}) + "\n")
    scenario = os.environ.get("STANDIN_SCENARIO", "ok")
    lines = [l if isinstance(l, str) else json.dumps(l)
             for l in events(scenario, resumed_by(argv))]
    if scenario == "garbage":
        mixed = []
        for i, l in enumerate(lines):
            mixed.append(l)
            mixed.append(GARBAGE[i % len(GARBAGE)])
        lines = mixed
    for l in lines:
        sys.stdout.write(l + "\n")
        sys.stdout.flush()
    return int(os.environ.get("STANDIN_EXIT", "0"))
