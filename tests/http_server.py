#!/usr/bin/python3
"""tests/http_server.py - a scripted HTTP/1.1 server on 127.0.0.1 for the
HTTP layer's tests (tests/net/check_http.c).  Standard library only.

    http_server.py --dir DIR [--lifetime SECONDS]

It binds 127.0.0.1 on a port the kernel picks and writes the port to
DIR/port.  Everything else goes through files in DIR, so a test never
speaks HTTP to it except through the code under test:

  DIR/script.json   what to answer; read again whenever it is replaced.
  DIR/log.jsonl     one JSON line per request, written before the answer
                    is sent: {"method", "path", "headers" (names lower-
                    cased), "body", "conn"}.
  DIR/stats.json    {"connections": accepted so far, "max_open": most
                    connections open at once, "max_active": most requests
                    being answered at once}.

The script:

  {"routes": {"/path?query": ANSWER or [ANSWER, ...], ...},
   "default": ANSWER}

A request is matched by "METHOD path" with the query, then without it,
then by its path with the query, then without it, then "default"; a list answers its n-th request with its n-th element (the
last one repeats).  Counters restart when the script is replaced.
An ANSWER is an object:

  status          200 unless given
  reason          the status line's text, Python's own word unless given
  headers         [[name, value], ...] or {name: value}
  body            a string, or
  json            any JSON value, sent as application/json
  repeat          send body this many times
  delay           seconds to wait before answering
  content_length  the Content-Length to announce, whatever is sent (more
                  than sent: the connection is closed after the body)
  chunked         send the body with chunked transfer encoding
  close           close the connection after the answer
  etag            answer 304 when If-None-Match equals it - with this
                  ETag and only the headers in "headers_304", no body -
                  else status + ETag + headers + body
  hangup          read and log the request, then close the connection
                  without answering (a server that died before its
                  answer: the client cannot know whether it acted)

  proxy           instead of all the above: forward the request (method,
                  path, headers but Host, body) to this base URL, e.g.
                  "http://127.0.0.1:4010", and answer with its status,
                  headers and body (for a contract test against a mock
                  made from an API description)
  drop_headers    with proxy: response header names not passed on
  set_headers     with proxy: {name: value} request headers replaced
  strip_prefix    with proxy: a leading path part not passed on (say
                  "/api/v1", for a mock serving a spec without its base
                  path)
  fail_on_header  with proxy: an answer carrying this header (say
                  "sl-violations") becomes a 599 whose body is its value;
                  a JSON list in it counts only for its items whose
                  "location" starts with "request" (Prism also lists
                  its own example answers' flaws there)

"{port}" in a header value or a body is replaced by the server's port.

The server exits when its parent goes away or after --lifetime seconds
(default 300), so a crashed test never leaves it behind; on SIGTERM and
on those exits it removes DIR, which a failed test (whose teardown does
not run) would otherwise leave.
"""

import argparse
import http.client
import http.server
import json
import os
import shutil
import signal
import socketserver
import sys
import threading
import time


class State:
    def __init__(self, directory):
        self.dir = directory
        self.lock = threading.Lock()
        self.script = {}
        self.script_id = None
        self.counters = {}
        self.connections = 0
        self.open = 0
        self.max_open = 0
        self.active = 0
        self.max_active = 0
        self.next_conn = 0
        self.port = 0

    def path(self, name):
        return os.path.join(self.dir, name)

    def write_atomic(self, name, text):
        tmp = self.path(name + ".tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.path(name))

    def write_stats(self):
        self.write_atomic("stats.json", json.dumps({
            "connections": self.connections,
            "max_open": self.max_open,
            "max_active": self.max_active,
        }))

    def reload(self):
        """Reads the script again when the file was replaced."""
        try:
            st = os.stat(self.path("script.json"))
        except FileNotFoundError:
            return
        ident = (st.st_ino, st.st_mtime_ns, st.st_size)
        if ident == self.script_id:
            return
        with open(self.path("script.json")) as f:
            self.script = json.load(f)
        self.script_id = ident
        self.counters = {}

    def answer_for(self, path, method="GET"):
        """The answer the script gives to the next request for path."""
        with self.lock:
            self.reload()
            routes = self.script.get("routes", {})
            bare = path.split("?", 1)[0]
            key = bare
            for k in (method + " " + path, method + " " + bare, path):
                if k in routes:
                    key = k
                    break
            if key in routes:
                spec = routes[key]
            elif "default" in self.script:
                key, spec = "default", self.script["default"]
            else:
                return {"status": 404, "json": {"message": "no route"}}
            n = self.counters.get(key, 0)
            self.counters[key] = n + 1
            if isinstance(spec, list):
                spec = spec[min(n, len(spec) - 1)]
            return spec

    def log(self, entry):
        with self.lock:
            with open(self.path("log.jsonl"), "a") as f:
                f.write(json.dumps(entry) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "afk-test/1"
    sys_version = ""

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        st = self.server.state
        with st.lock:
            st.next_conn += 1
            self.conn_id = st.next_conn
            st.connections += 1
            st.open += 1
            st.max_open = max(st.max_open, st.open)
            st.write_stats()

    def finish(self):
        try:
            super().finish()
        finally:
            st = self.server.state
            with st.lock:
                st.open -= 1
                st.write_stats()

    def do_GET(self):
        self.answer()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_GET

    def answer(self):
        st = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        st.log({
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body,
            "conn": self.conn_id,
        })
        with st.lock:
            st.active += 1
            st.max_active = max(st.max_active, st.active)
            st.write_stats()
        try:
            spec = st.answer_for(self.path, self.command)
            if spec.get("hangup"):
                self.close_connection = True
                return
            if "proxy" in spec:
                spec = self.forward(spec, body)
            self.send(spec, st.port)
        finally:
            with st.lock:
                st.active -= 1
                st.write_stats()

    def forward(self, spec, body):
        """Sends the request to spec["proxy"]; its answer as an ANSWER."""
        url = spec["proxy"].split("://", 1)[-1]
        hostport = url.split("/", 1)[0]
        drop = {h.lower() for h in spec.get("drop_headers", [])}
        drop |= {"connection", "keep-alive", "transfer-encoding",
                 "content-length", "date", "server"}
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "connection",
                                        "content-length",
                                        "accept-encoding")}
        for k, v in spec.get("set_headers", {}).items():
            headers = {n: w for n, w in headers.items()
                       if n.lower() != k.lower()}
            headers[k] = v
        conn = http.client.HTTPConnection(hostport, timeout=60)
        try:
            path = self.path
            prefix = spec.get("strip_prefix")
            if prefix and path.startswith(prefix):
                path = path[len(prefix):] or "/"
            conn.request(self.command, path,
                         body=body.encode("utf-8") if body else None,
                         headers=headers)
            resp = conn.getresponse()
            data = resp.read().decode("utf-8", "replace")
            out = [(k, v) for k, v in resp.getheaders()
                   if k.lower() not in drop]
            bad = spec.get("fail_on_header")
            value = resp.getheader(bad) if bad else None
            if value is not None:
                try:
                    items = json.loads(value)
                    if isinstance(items, list):
                        items = [v for v in items if isinstance(v, dict)
                                 and v.get("location", [""])[0] ==
                                 "request"]
                        value = json.dumps(items) if items else None
                except ValueError:
                    pass
            if value is not None:
                return {"status": 599, "body": "%s: %s" % (bad, value)}
            return {"status": resp.status, "headers": out,
                    "body": data}
        finally:
            conn.close()

    def send(self, spec, port):
        def sub(s):
            return str(s).replace("{port}", str(port))

        time.sleep(float(spec.get("delay", 0)))
        status = int(spec.get("status", 200))
        headers = spec.get("headers", [])
        if isinstance(headers, dict):
            headers = list(headers.items())
        headers = [(k, sub(v)) for k, v in headers]
        if "json" in spec:
            payload = json.dumps(spec["json"])
            headers.append(("Content-Type", "application/json"))
        else:
            payload = spec.get("body", "")
        payload = sub(payload) * int(spec.get("repeat", 1))
        data = payload.encode("utf-8")
        etag = spec.get("etag")
        if etag is not None:
            if self.headers.get("If-None-Match") == etag:
                status, data = 304, b""
                headers = [(k, sub(v)) for k, v in
                           spec.get("headers_304", [])]
            headers.append(("ETag", etag))
        self.send_response(status, spec.get("reason"))
        for k, v in headers:
            self.send_header(k, v)
        close = bool(spec.get("close"))
        if spec.get("chunked") and status != 304:
            self.send_header("Transfer-Encoding", "chunked")
        elif status != 304 or "content_length" in spec:
            announced = int(spec.get("content_length", len(data)))
            self.send_header("Content-Length", str(announced))
            if announced > len(data):
                close = True
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD" or status == 304:
            return
        if spec.get("chunked"):
            step = 1000
            for i in range(0, len(data), step):
                part = data[i:i + step]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(data)
        self.wfile.flush()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        # A client that gave up (a timeout, a body over its cap) closes
        # the connection mid-answer: that is the test, not a fault of the
        # server, and its traceback would only bury real ones.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def leave(state):
    """Removes the directory and exits.  The state's lock is taken and
    never given back, so no request thread writes into the directory
    while it goes or after."""
    state.lock.acquire()
    shutil.rmtree(state.dir, ignore_errors=True)
    os._exit(0)


def watchdog(parent, deadline, state):
    while True:
        if os.getppid() != parent or time.time() > deadline:
            leave(state)
        time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--lifetime", type=float, default=300)
    args = ap.parse_args()
    state = State(args.dir)
    server = Server(("127.0.0.1", 0), Handler)
    server.state = state
    state.port = server.server_address[1]
    state.write_stats()
    signal.signal(signal.SIGTERM, lambda *_: leave(state))
    threading.Thread(target=watchdog, daemon=True,
                     args=(os.getppid(), time.time() + args.lifetime,
                           state)).start()
    state.write_atomic("port", str(state.port))
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
