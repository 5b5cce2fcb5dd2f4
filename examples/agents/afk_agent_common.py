"""What the coding-agent wrappers of examples/agents share.

Each wrapper (claude, codex, gemini, opencode) is a command for libafk's
"command" agent: afk runs it once per turn in the run directory, with the
prompt on stdin and AFK_REPO, AFK_ISSUE, AFK_THREAD_ID, AFK_RUN_DIR and
AFK_TURN (1: the dispatch, 2..: corrective turns of the same thread) in
its environment; what it prints goes to the run's output.log, where afk
reads the last "AFK-PHASE: <phase>" line and sums the "AFK-USAGE:" lines
(each an increment since the previous one of the run).  Its exit status
is the turn's outcome.

A wrapper runs its CLI headless in the current directory and turns the
CLI's JSON event stream into those lines:

- the agent's text is echoed, so the log stays readable; a line of it
  that says a phase ("AFK-PHASE: green", also inside backticks or bold)
  is printed as the exact line afk reads; a line of it that starts with
  "AFK-USAGE:" is indented, so that only the wrapper's own count;
- usage events become AFK-USAGE increments (whether a CLI reports its
  usage per turn or as a running total is the wrapper's to say);
- the CLI's session id is kept in $AFK_RUN_DIR/.afk-session (0600) and
  resumed on the turns after the first;
- the exit status is the CLI's, and 1 when the CLI exited 0 but its
  stream reported an error.

The prompt is never put in argv (it would show in ps): the wrapper's
stdin is handed to the CLI as its stdin, which all four read the prompt
from.  The wrapper's own arguments are passed on to the CLI after the
ones it adds (a model, a permission mode: see the README).

Python 3.9+, standard library only.
"""

import json
import os
import re
import signal
import stat
import subprocess
import sys

SESSION_FILE = ".afk-session"

# A session id comes back from a file in the run directory, which the
# agent can write: it goes into argv only if it looks like an id, never
# like an option.
_SESSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")

_PHASE_RE = re.compile(
    r"^[\s>*_`#-]*AFK-PHASE:\s*(tests-red|green|pushed)[\s*_`.]*$")


def fail(name, message, status=1):
    """Says what went wrong on stderr (the log) and exits."""
    sys.stderr.write("%s: %s\n" % (name, message))
    sys.stderr.flush()
    sys.exit(status)


class Turn:
    """One turn of one wrapper: its environment, the session file, what
    it prints, and whether the stream reported an error."""

    def __init__(self, name, env_var, default_bin):
        self.name = name
        self.binary = os.environ.get(env_var) or default_bin
        self.run_dir = os.environ.get("AFK_RUN_DIR") or os.getcwd()
        try:
            self.turn = int(os.environ.get("AFK_TURN", "1"))
        except ValueError:
            self.turn = 1
        self.error = None     # the first error the stream reported
        self._partial = ""    # agent text not yet ended by a newline
        self._kept = None     # the session id last saved

    # --- the session ---------------------------------------------------

    def _path(self, leaf):
        return os.path.join(self.run_dir, leaf)

    def load_state(self, leaf):
        """The text of a file of ours in the run directory, or None: it
        is not followed through a symbolic link, nor read when it is not
        a regular file."""
        try:
            fd = os.open(self._path(leaf),
                         os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            return f.read(4096)

    def save_state(self, leaf, text):
        """Writes a file of ours in the run directory, mode 0600, as a
        new file renamed over the old one (never written through a link
        the agent may have put there)."""
        tmp = self._path("%s.%d.tmp" % (leaf, os.getpid()))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                         os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, self._path(leaf))
        except OSError as e:
            self.note("cannot save %s: %s" % (leaf, e.strerror))
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def session(self):
        """The session id to resume: None on the first turn, or when no
        (valid) id was kept."""
        if self.turn <= 1:
            return None
        sid = (self.load_state(SESSION_FILE) or "").strip()
        if not _SESSION_RE.match(sid):
            if sid:
                self.note("ignoring a malformed %s" % SESSION_FILE)
            return None
        return sid

    def keep_session(self, sid):
        """Keeps the id the CLI reported, when it is one we can resume."""
        if not isinstance(sid, str) or not _SESSION_RE.match(sid) or \
                sid == self._kept:
            return
        if (self.load_state(SESSION_FILE) or "").strip() != sid:
            self.save_state(SESSION_FILE, sid + "\n")
        self._kept = sid

    # --- what is printed -----------------------------------------------

    def note(self, message):
        """A line of the wrapper's own, on stderr (the log too)."""
        sys.stderr.write("%s: %s\n" % (self.name, message))
        sys.stderr.flush()

    def _line(self, line):
        m = _PHASE_RE.match(line)
        if m:
            line = "AFK-PHASE: " + m.group(1)
        elif line.lstrip().startswith(("AFK-USAGE:", "AFK-PHASE:")):
            line = "  " + line
        sys.stdout.write(line + "\n")

    def text(self, chunk, end=True):
        """The agent's text: whole lines are printed at once.  end: the
        chunk ends a message (else it is a delta and the message goes
        on)."""
        if not isinstance(chunk, str):
            return
        buf = self._partial + chunk
        lines = buf.split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(line.rstrip("\r"))
        if end:
            self.flush_text()
        sys.stdout.flush()

    def flush_text(self):
        if self._partial:
            self._line(self._partial.rstrip("\r"))
            self._partial = ""
        sys.stdout.flush()

    def usage(self, tokens_in=None, tokens_out=None, cost_usd=None):
        """Prints one AFK-USAGE increment; a field that is None (the CLI
        does not report it) is left out, a negative one taken as 0."""
        fields = []
        for key, value in (("tokens_in", tokens_in),
                           ("tokens_out", tokens_out)):
            if value is not None:
                fields.append("%s=%d" % (key, max(0, int(value))))
        if cost_usd is not None:
            fields.append("cost_usd=%s" % _decimal(max(0.0, cost_usd)))
        if fields:
            self.flush_text()
            sys.stdout.write("AFK-USAGE: %s\n" % " ".join(fields))
            sys.stdout.flush()

    def failed(self, message):
        """The stream reported an error: the turn fails whatever the
        CLI's exit status."""
        if self.error is None:
            self.error = message or "error"
        self.flush_text()
        self.note("error: %s" % (message or "(no message)"))

    # --- running the CLI -------------------------------------------------

    def answer_version(self):
        """`wrapper --version` (afk check-config --online asks it): the
        first line of the CLI's own --version, after the wrapper's name
        when the CLI's does not start with it; exits."""
        if sys.argv[1:] != ["--version"]:
            return
        try:
            proc = subprocess.run([self.binary, "--version"],
                                  stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, timeout=30)
        except OSError as e:
            fail(self.name, "cannot run %s: %s" % (self.binary, e.strerror),
                 127 if isinstance(e, FileNotFoundError) else 126)
        except subprocess.TimeoutExpired:
            fail(self.name, "%s --version did not answer" % self.binary)
        lines = proc.stdout.decode("utf-8", "replace").strip().splitlines()
        line = lines[0].strip() if lines else ""
        if not line.lower().startswith(self.name):
            line = ("%s %s" % (self.name, line)).strip()
        print(line)
        sys.exit(proc.returncode)

    def run(self, args, on_event, on_end=None):
        """Runs the CLI with args (after the binary, before the wrapper's
        own arguments), the wrapper's stdin as its stdin and its stderr
        as ours, calling on_event(dict) for each JSON object line of its
        stdout; other lines are echoed; on_end() once the stream ended.
        Exits with the turn's status."""
        argv = [self.binary] + args
        try:
            proc = subprocess.Popen(argv, stdin=sys.stdin, stdout=subprocess.PIPE,
                                    stderr=None)
        except OSError as e:
            fail(self.name, "cannot run %s: %s" % (self.binary, e.strerror),
                 127 if isinstance(e, FileNotFoundError) else 126)
        # A stop of the turn (SIGTERM to the process group) reaches the
        # CLI too; the wrapper only waits for it.
        signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
        for raw in proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            event = _parse(line)
            if event is None:
                # Echoed on a line of its own; the agent's text line in
                # the making goes on after it.
                if line.strip():
                    self._line(line)
                    sys.stdout.flush()
                continue
            try:
                on_event(event)
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                self.note("unexpected event (%s): %.200s" % (e, line))
        status = proc.wait()
        self.flush_text()
        if on_end is not None:
            on_end()
        if status < 0:
            sys.exit(128 - status)
        if status == 0 and self.error is not None:
            sys.exit(1)
        sys.exit(status)


def _parse(line):
    """The JSON object a line holds, or None."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _decimal(x):
    s = "%.6f" % x
    s = s.rstrip("0").rstrip(".")
    return s or "0"


def num(obj, *keys):
    """The number at obj[k1][k2]..., or 0 when absent or not a number."""
    for k in keys:
        if not isinstance(obj, dict):
            return 0
        obj = obj.get(k)
    if isinstance(obj, bool) or not isinstance(obj, (int, float)):
        return 0
    return obj


class Totals:
    """Running totals kept in the run directory, for a CLI that reports
    its usage as a running total of the session (which a resumed session
    carries on): the increment is the difference from the totals last
    seen.  Totals that went down (a session started afresh) count whole;
    zeroed ones are ignored."""

    FILE = ".afk-usage"

    def __init__(self, turn):
        self.turn = turn
        self.last = {"session": None, "in": 0, "out": 0, "cost": 0.0}
        try:
            saved = json.loads(turn.load_state(self.FILE) or "null")
            if isinstance(saved, dict):
                for k in self.last:
                    if k in saved:
                        self.last[k] = saved[k]
        except ValueError:
            pass

    def report(self, session, tokens_in, tokens_out, cost):
        # A result of a crash or a startup error may carry zeroed totals
        # (sdk.d.ts): no usage, and not a new start to count from.
        if not tokens_in and not tokens_out and not cost:
            return
        last = self.last
        if last["session"] != session or tokens_in < num(last, "in") or \
                tokens_out < num(last, "out") or cost < num(last, "cost"):
            last = {"in": 0, "out": 0, "cost": 0.0}
        self.turn.usage(tokens_in - num(last, "in"),
                        tokens_out - num(last, "out"),
                        cost - num(last, "cost"))
        self.last = {"session": session, "in": tokens_in,
                     "out": tokens_out, "cost": cost}
        self.turn.save_state(self.FILE, json.dumps(self.last) + "\n")
