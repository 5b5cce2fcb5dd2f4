#!/usr/bin/python3
"""bench/tick_server.py - a loopback GitHub for bench/tick.  Standard
library only.

    tick_server.py [--latency SECONDS] [--issues K] [--ready LABEL]
                   [--trusted LOGIN]

Binds 127.0.0.1 on a port the kernel picks and prints the port on a
line of its own on stdout.  It plays GitHub's REST API for any number
of repositories /repos/{owner}/{name}, each with K open issues (numbers
1..K) carrying the ready label:

  GET /user                                 the token's login, bench-agent
  GET .../issues?... (no labels filter)    the K issues (one page: no
                                           Link), each with an
                                           issue_dependencies_summary
                                           of no blocker and an old
                                           updated_at
  GET .../issues?...labels=READY...        the K issues
  GET .../issues?...labels=(anything else) []
  GET .../issues/{n}/timeline              one "labeled" event for the
                                           ready label by the trusted
                                           login
  GET .../issues/{n}/dependencies/blocked_by  []
  GET .../issues/{n}/comments              [] (no earlier run's record)
  anything else                            404 (counted as "other")

Every answer waits --latency seconds first (a 304 too: GitHub's do).
Every 200 carries an ETag made from its body; a GET whose If-None-Match
holds it gets a 304 with no body.  Connections are served by one thread
each (HTTP/1.1 keep-alive).

Commands, one per line on stdin, each answered by one line on stdout:
  stats   {"requests", "ok", "not_modified", "other", "connections",
           "max_active"} since the last reset
  reset   zeroes the counters; answers "ok" (a JSON string)
The server exits when stdin closes (its parent went away).
"""

import argparse
import hashlib
import http.server
import json
import os
import socketserver
import sys
import threading
import time
import urllib.parse


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.requests = self.ok = self.not_modified = self.other = 0
        self.connections = self.active = self.max_active = 0

    def snapshot(self):
        return {"requests": self.requests, "ok": self.ok,
                "not_modified": self.not_modified, "other": self.other,
                "connections": self.connections,
                "max_active": self.max_active}


def answer_for(path, opts):
    """(status, JSON body) for a GET of path."""
    url = urllib.parse.urlsplit(path)
    parts = url.path.strip("/").split("/")
    query = urllib.parse.parse_qs(url.query)
    if parts == ["user"]:
        return 200, {"login": "bench-agent", "id": 1, "type": "User"}
    if len(parts) < 4 or parts[0] != "repos" or parts[3] != "issues":
        return 404, {"message": "Not Found"}
    owner, name = parts[1], parts[2]
    rest = parts[4:]
    if not rest:
        if query.get("labels", [opts.ready])[0] != opts.ready:
            return 200, []
        return 200, [{
            "number": n,
            "title": "bench issue %d of %s/%s" % (n, owner, name),
            "state": "open",
            "labels": [{"name": opts.ready}],
            "user": {"login": opts.trusted},
            "updated_at": "2026-01-01T00:00:00Z",
            "issue_dependencies_summary": {
                "blocked_by": 0, "blocking": 0,
                "total_blocked_by": 0, "total_blocking": 0},
        } for n in range(1, opts.issues + 1)]
    if not rest[0].isdigit() or int(rest[0]) > opts.issues:
        return 404, {"message": "Not Found"}
    if rest[1:] == ["timeline"]:
        return 200, [{"event": "labeled", "actor": {"login": opts.trusted},
                      "label": {"name": opts.ready},
                      "created_at": "2026-01-01T00:00:00Z"}]
    if rest[1:] in (["dependencies", "blocked_by"], ["comments"]):
        return 200, []
    return 404, {"message": "Not Found"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "afk-bench/1"
    sys_version = ""
    # The headers and the body go out in two writes: with Nagle's
    # algorithm the body would wait for the client's delayed ACK (40 ms
    # on Linux), which is no latency GitHub adds.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        st = self.server.stats
        with st.lock:
            st.connections += 1

    def do_GET(self):
        st = self.server.stats
        opts = self.server.opts
        with st.lock:
            st.requests += 1
            st.active += 1
            st.max_active = max(st.max_active, st.active)
        try:
            time.sleep(opts.latency)
            status, obj = answer_for(self.path, opts)
            data = json.dumps(obj).encode("utf-8")
            etag = '"%s"' % hashlib.sha1(data).hexdigest()[:20]
            inm = self.headers.get("If-None-Match") or ""
            hit = status == 200 and etag in [t.strip() for t in
                                             inm.split(",")]
            with st.lock:
                if status != 200:
                    st.other += 1
                elif hit:
                    st.not_modified += 1
                else:
                    st.ok += 1
            if hit:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 200:
                self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(data)
        finally:
            with st.lock:
                st.active -= 1

    def do_OTHER(self):
        st = self.server.stats
        with st.lock:
            st.requests += 1
            st.other += 1
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        data = b'{"message": "bench: no writes"}'
        self.send_response(405)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_PATCH = do_PUT = do_DELETE = do_OTHER


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--issues", type=int, default=3)
    ap.add_argument("--ready", default="ready-for-agent")
    ap.add_argument("--trusted", default="bench-maintainer")
    opts = ap.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    server.stats = Stats()
    server.opts = opts
    threading.Thread(target=server.serve_forever, daemon=True,
                     kwargs={"poll_interval": 0.1}).start()
    print(server.server_address[1], flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        st = server.stats
        with st.lock:
            if cmd == "stats":
                out = json.dumps(st.snapshot())
            elif cmd == "reset":
                st.reset()
                out = json.dumps("ok")
            else:
                out = json.dumps({"error": "unknown command"})
        print(out, flush=True)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
