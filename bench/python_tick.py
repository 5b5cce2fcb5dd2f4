#!/usr/bin/env python3
"""bench/python_tick.py - microseconds per afk.Poller.run_once().

Two shapes: 1 ready issue, and 1,000 ready issues over 50 repositories
(all allowlisted, every issue trusted and unblocked, so each tick
dispatches one issue per repository and labels it).  The adapters are
in-memory fakes: the issues are built once and list_ready returns the
same list every tick; dispatch returns an id, add_label records.  The
fakes keep no state between ticks that changes what is listed, so every
tick does the same work.

Prints the median (and the best) over many timed runs of a batch of
ticks.  Targets: 1 issue <= 50 us, 1,000 issues <= 2 ms.

    PYTHONPATH=bindings/python AFK_LIBRARY=build/lib/.libs/libafk.so.0 \\
        /usr/bin/python3 bench/python_tick.py [--profile]
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                os.pardir, "bindings", "python"))
import afk  # noqa: E402

TARGETS_US = {1: 50.0, 1000: 2000.0}


class FakeTracker:
    def __init__(self, issues):
        self.issues = issues
        self.labelled = []

    def list_ready(self, repos):
        return self.issues

    def add_label(self, repo, issue, label):
        self.labelled.append((repo, issue, label))


class FakeAgent:
    def __init__(self):
        self.n = 0

    def dispatch(self, repo, issue, prompt):
        self.n += 1
        return "thread-%d" % self.n


def shape(nissues, nrepos):
    repos = ["org/repo-%02d" % i for i in range(nrepos)]
    issues = [afk.Issue(repos[i % nrepos], i + 1, title="issue %d" % i,
                        labels=("ready-for-agent",), priority=i % 3,
                        labeled_by_trusted=True)
              for i in range(nissues)]
    cfg = afk.Config(kill_switch=False, allowlist=repos)
    return cfg, issues


def measure(nissues, nrepos, runs, batch):
    cfg, issues = shape(nissues, nrepos)
    tracker = FakeTracker(issues)
    poller = afk.Poller(tracker=tracker, t3_client=FakeAgent())
    result = poller.run_once(cfg)
    assert len(result.dispatched) == min(nissues, nrepos), result
    assert len(result.skipped) == nissues - len(result.dispatched)
    for _ in range(batch):  # warm-up
        poller.run_once(cfg)
    samples = []
    for _ in range(runs):
        del tracker.labelled[:]
        t0 = time.perf_counter()
        for _ in range(batch):
            poller.run_once(cfg)
        samples.append((time.perf_counter() - t0) / batch * 1e6)
    poller.close()
    return statistics.median(samples), min(samples)


def profile(nissues, nrepos):
    import cProfile
    import pstats
    cfg, issues = shape(nissues, nrepos)
    poller = afk.Poller(tracker=FakeTracker(issues), t3_client=FakeAgent())
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(200):
        poller.run_once(cfg)
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(15)


def main():
    if "--profile" in sys.argv:
        profile(1000, 50)
        return 0
    print("afk.Poller.run_once, libafk %s (%s)"
          % (afk.library_version, afk.library_path))
    missed = 0
    for nissues, nrepos, runs, batch in ((1, 1, 201, 200),
                                         (1000, 50, 101, 5)):
        med, best = measure(nissues, nrepos, runs, batch)
        target = TARGETS_US[nissues]
        ok = med <= target
        missed += not ok
        print("%5d issues / %2d repos: %9.1f us per tick (median of %d "
              "runs of %d; best %.1f)  target <= %g us: %s"
              % (nissues, nrepos, med, runs, batch, best, target,
                 "ok" if ok else "MISSED"))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
