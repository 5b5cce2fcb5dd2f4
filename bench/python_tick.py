#!/usr/bin/env python3
"""bench/python_tick.py - microseconds per poll tick: afk.Poller (the
binding over libafk) against bench/pure_tick.py (the same tick in pure
Python, written the obvious way), side by side, same process, same
fakes, same issues.

Three shapes: 1 ready issue; 1,000 ready issues over 50 repositories;
100,000 over 1,000.  All repositories are allowlisted, every issue is
trusted and unblocked, so each tick dispatches one issue per repository
and labels it.  The adapters are in-memory fakes: the issues
(afk.Issue objects) are built once and list_ready returns the same list
every tick; dispatch returns an id, add_label records.  The fakes keep
no state between ticks that changes what is listed, so every tick does
the same work.  Before timing, both implementations are run once and
must agree on what they dispatched and skipped.

Prints, per shape, the median (and best) microseconds per tick of
each, and the ratio binding / pure Python (below 1: the binding is
faster).  Targets for the ratio: <= 3 at 1 issue, <= 1.0 at 1,000,
<= 0.7 at 100,000.  Exit status 1 when a target is missed.

    PYTHONPATH=bindings/python AFK_LIBRARY=build/lib/.libs/libafk.so.0 \\
        /usr/bin/python3 bench/python_tick.py [--quick] [--profile]

--quick runs fewer rounds (a smoke test); --profile prints cProfile's
view of the binding's 1,000-issue tick.
"""

import gc
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir, "bindings", "python"))
sys.path.insert(0, HERE)
import afk  # noqa: E402
import pure_tick  # noqa: E402

# (issues, repos, rounds, ticks per round, ratio target)
SHAPES = ((1, 1, 201, 500, 3.0),
          (1000, 50, 101, 10, 1.0),
          (100000, 1000, 15, 1, 0.7))


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
    repos = ["org/repo-%04d" % i for i in range(nrepos)]
    issues = [afk.Issue(repos[i % nrepos], i + 1, title="issue %d" % i,
                        labels=("ready-for-agent",), priority=i % 3,
                        labeled_by_trusted=True)
              for i in range(nissues)]
    return repos, issues


def timed(tick, tracker, rounds, batch):
    """Median and best microseconds per call of tick()."""
    for _ in range(max(1, batch // 2)):  # warm-up
        tick()
    samples = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            del tracker.labelled[:]
            t0 = time.perf_counter()
            for _ in range(batch):
                tick()
            samples.append((time.perf_counter() - t0) / batch * 1e6)
    finally:
        if gc_was:
            gc.enable()
    return statistics.median(samples), min(samples)


def outcome(res):
    """What a tick did, comparable across the two: the dispatched and
    the skipped issues, in order."""
    return ([(d.issue.repo, d.issue.number) for d in res],
            [(issue.repo, issue.number) for issue, _ in res.skipped])


def measure(nissues, nrepos, rounds, batch):
    repos, issues = shape(nissues, nrepos)
    cfg = afk.Config(kill_switch=False, allowlist=repos)
    pure_cfg = {"kill_switch": False, "allowlist": repos}

    tracker = FakeTracker(issues)
    poller = afk.Poller(tracker=tracker, t3_client=FakeAgent())
    ptracker = FakeTracker(issues)
    pagent = FakeAgent()

    got = poller.run_once(cfg)
    want = pure_tick.run_once(pure_cfg, ptracker, pagent)
    assert len(got) == min(nissues, nrepos), got
    assert outcome(got) == outcome(want), "the two ticks disagree"
    assert tracker.labelled == ptracker.labelled

    binding = timed(lambda: poller.run_once(cfg), tracker, rounds, batch)
    pure = timed(lambda: pure_tick.run_once(pure_cfg, ptracker, pagent),
                 ptracker, rounds, batch)
    poller.close()
    return binding, pure


def profile(nissues, nrepos):
    import cProfile
    import pstats
    repos, issues = shape(nissues, nrepos)
    cfg = afk.Config(kill_switch=False, allowlist=repos)
    poller = afk.Poller(tracker=FakeTracker(issues), t3_client=FakeAgent())
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(200):
        poller.run_once(cfg)
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(15)


def main(argv):
    if "--profile" in argv:
        profile(1000, 50)
        return 0
    quick = "--quick" in argv
    print("poll tick, microseconds per tick: afk.Poller (libafk %s, %s) "
          "vs pure Python (bench/pure_tick.py), Python %s"
          % (afk.library_version, afk.library_path,
             sys.version.split()[0]))
    print("%17s  %22s  %22s  %6s  %s" % ("shape", "binding median (best)",
                                        "pure median (best)", "ratio",
                                        "target"))
    missed = 0
    for nissues, nrepos, rounds, batch, target in SHAPES:
        if quick:
            rounds, batch = 3, max(1, batch // 10)
        (bmed, bbest), (pmed, pbest) = measure(nissues, nrepos, rounds,
                                               batch)
        ratio = bmed / pmed
        ok = ratio <= target
        missed += not ok
        print("%7d / %5d   %12.1f (%7.1f)  %12.1f (%7.1f)  %6.2f  "
              "<= %.1f %s" % (nissues, nrepos, bmed, bbest, pmed, pbest,
                              ratio, target, "ok" if ok else "MISSED"))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
