#!/usr/bin/env python3
"""tests/leftovers.py TOKEN - the processes of a test run that outlive it.

test.sh exports AFK_TEST_RUN=TOKEN before its first stage, so every
process the run starts carries it in its environment.  At the end, any
such process that is not this script's own ancestor or descendant (the
test.sh shells still running) is a leftover: a server a stage forgot to
stop, reparented to init.  Each is printed with its command line and
sent SIGTERM, then SIGKILL (CI runs on the same machine again and
again); the exit status is 1 when there was any."""

import os
import signal
import sys
import time


def ppid_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def carries(pid, needle):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return needle in f.read().split(b"\0")
    except OSError:  # gone, or not ours to read
        return False


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8",
                                                         "replace").strip()
    except OSError:
        return "?"


def main():
    if len(sys.argv) != 2 or not sys.argv[1]:
        sys.exit("usage: tests/leftovers.py TOKEN")
    needle = ("AFK_TEST_RUN=" + sys.argv[1]).encode()
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    parent = {p: ppid_of(p) for p in pids}
    mine = set()
    p = os.getpid()
    while p > 1:  # this script and the shells that ran it
        mine.add(p)
        p = parent.get(p) or ppid_of(p)
    left = []
    for p in pids:
        if p in mine:
            continue
        q, ours = p, False
        while q > 1:  # a child of a shell still running is its business
            q = parent.get(q, 0)
            if q in mine:
                ours = True
                break
        if not ours and carries(p, needle):
            left.append(p)
    for p in left:
        print("left running: pid %d: %s" % (p, cmdline(p)))
        try:
            os.kill(p, signal.SIGTERM)
        except OSError:
            pass
    if left:
        time.sleep(2)
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        print("%d process(es) of the run outlived it" % len(left))
        sys.exit(1)
    print("no process of the run outlived it")


if __name__ == "__main__":
    main()
