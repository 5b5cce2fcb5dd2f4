"""In-memory fakes for the watch tick's tests: a tracker that stores
issues, labels and comments; an agent whose snapshots are scripted; a CI
whose status is scripted; a notifier that records.  Every call any of
them receives is logged in order on the Shop, as (method, args...).

    shop = Shop()
    shop.add("a", 1)                       # a trusted ready issue
    afk.Poller(tracker=shop.tracker, t3_client=shop.agent).run_once(cfg)
    shop.snap["thread-a-1"] = {"state": "completed", "phase": "pushed"}
    shop.ci["a", 1] = {"pr": "merged", "head": "h1", "ci": "success"}
    afk.Watcher(tracker=shop.tracker, t3_client=shop.agent, ci=shop.ci_,
                notifier=shop.notifier).run_once(cfg, now=T0)

Failures on demand: shop.fail_next("notify", exc) makes the next call
of that method raise exc (once).
"""

import afk

T0 = 1700000000
READY = "ready-for-agent"
IN_PROGRESS = "agent-in-progress"
HUMAN = "ready-for-human"


class FakeIssue:
    def __init__(self, repo, number, labels, trusted, priority):
        self.repo = repo
        self.number = number
        self.labels = list(labels)
        self.trusted = trusted
        self.priority = priority
        self.open = True
        self.comments = []  # bodies, oldest first
        self.comments_made = 0


class Shop:
    def __init__(self):
        self.issues = {}
        self.log = []
        self.snap = {}    # thread id -> what snapshot returns
        self.ci = {}      # (repo, number) -> what status returns
        self.failures = {}
        self.failed = []  # the methods that raised, in order
        self.listed = []  # the afk.Issue objects of the last listing
        self.with_url = True
        self.on_call = None  # called with the method's name, first
        self.tracker = Tracker(self)
        self.agent = Agent(self)
        self.ci_ = CI(self)
        self.notifier = Notifier(self)

    # -- set-up and inspection ---------------------------------------------

    def add(self, repo, number, labels=(READY,), trusted=True, priority=0):
        issue = FakeIssue(repo, number, labels, trusted, priority)
        self.issues[repo, number] = issue
        return issue

    def issue(self, repo, number):
        return self.issues[repo, number]

    def labels(self, repo, number):
        return self.issues[repo, number].labels

    def calls(self, method=None):
        return [c for c in self.log if method is None or c[0] == method]

    def count(self, method):
        return len(self.calls(method))

    def done(self, method):
        """How many calls of method succeeded."""
        return self.count(method) - self.failed.count(method)

    def fail_next(self, method, exc):
        self.failures[method] = exc

    def url(self, repo, number):
        return "https://tracker.test/%s/issues/%d" % (repo, number)

    # -- what every fake method does first ----------------------------------

    def enter(self, method, *args):
        self.log.append((method,) + args)
        if self.on_call is not None:
            self.on_call(method)
        exc = self.failures.pop(method, None)
        if exc is not None:
            self.failed.append(method)
            raise exc


class Tracker:
    def __init__(self, shop):
        self.s = shop

    def list_ready(self, repos):
        s = self.s
        s.enter("list_ready", list(repos))
        out = []
        for it in s.issues.values():
            if it.open and it.repo in repos and (
                    READY in it.labels or IN_PROGRESS in it.labels):
                out.append(afk.Issue(it.repo, it.number, labels=it.labels,
                                     labeled_by_trusted=it.trusted,
                                     priority=it.priority))
        s.listed = out
        return out

    def add_label(self, repo, issue, label):
        self.s.enter("add_label", repo, issue, label)
        labels = self.s.labels(repo, issue)
        if label not in labels:
            labels.append(label)

    def remove_label(self, repo, issue, label):
        assert type(repo) is str and type(issue) is int
        assert type(label) is str
        self.s.enter("remove_label", repo, issue, label)
        labels = self.s.labels(repo, issue)
        if label in labels:
            labels.remove(label)

    def close_issue(self, repo, issue):
        assert type(repo) is str and type(issue) is int
        self.s.enter("close_issue", repo, issue)
        self.s.issue(repo, issue).open = False

    def find_comment(self, repo, issue, marker):
        assert type(marker) is str
        s = self.s
        s.enter("find_comment", repo, issue, marker)
        for body in s.issue(repo, issue).comments:
            if marker in body:
                return (body, s.url(repo, issue)) if s.with_url else body
        return (None, s.url(repo, issue)) if s.with_url else None

    def upsert_comment(self, repo, issue, marker, body):
        assert type(marker) is str and type(body) is str
        self.s.enter("upsert_comment", repo, issue, marker, body)
        it = self.s.issue(repo, issue)
        for i, old in enumerate(it.comments):
            if marker in old:
                it.comments[i] = body
                return
        it.comments.append(body)
        it.comments_made += 1


class Agent:
    def __init__(self, shop):
        self.s = shop

    def dispatch(self, repo, issue, prompt):
        self.s.enter("dispatch", repo, issue, prompt)
        return "thread-%s-%d" % (repo, issue)

    def snapshot(self, thread_id):
        assert type(thread_id) is str
        self.s.enter("snapshot", thread_id)
        return self.s.snap.get(thread_id,
                               {"state": "running", "phase": "dispatched"})

    def send_turn(self, thread_id, prompt):
        assert type(thread_id) is str and type(prompt) is str
        self.s.enter("send_turn", thread_id, prompt)


class CI:
    def __init__(self, shop):
        self.s = shop

    def status(self, repo, issue):
        assert type(repo) is str and type(issue) is int
        self.s.enter("status", repo, issue)
        return self.s.ci.get((repo, issue))


class Notifier:
    def __init__(self, shop):
        self.s = shop

    def notify(self, repo, issue, message, link):
        assert type(repo) is str and type(issue) is int
        assert type(message) is str and (link is None or type(link) is str)
        self.s.enter("notify", repo, issue, message, link)


def armed(*repos, **settings):
    return afk.Config(kill_switch=False, allowlist=list(repos), **settings)


def watcher_of(shop):
    return afk.Watcher(tracker=shop.tracker, t3_client=shop.agent,
                       ci=shop.ci_, notifier=shop.notifier)


def poller_of(shop):
    return afk.Poller(tracker=shop.tracker, t3_client=shop.agent)
