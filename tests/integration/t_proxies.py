#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""tgsidecar through real proxies: squid, tinyproxy, microsocks (no auth,
and with a user and password that need percent-encoding), and a SOCKS
pre-proxy in front of squid. For each, the Bot API traffic a bot makes:
getMe, sendMessage in every encoding, a 20 MB upload and downloads, a long
poll, a bot hanging up during a long poll, keep-alive, pipelining, chunked
replies and upstream errors passed through. TAP output."""

import hashlib
import json
import os
import socket
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap, Sidecar, StandIn, Certs, request, token  # noqa: E402
import proxies  # noqa: E402

UPLOAD_SIZE = 20 * 1000 * 1000
BIG_SIZE = 20 * 1024 * 1024
LONGPOLL_MIN = 10.0
BIGPOLL_CHARS = 150000  # 300 KB in UTF-8, 900 KB as JSON escapes
# A bot's hang-up must close its held 50 s poll upstream at once, not when
# the poll ends. Measured: under 1 ms on a quiet machine; the bound is far
# above what a loaded one needs and far below the 50 s the poll would last.
HANGUP_BUDGET = 20.0
UNICODE_TEXT = "Привет, мир ✓ — «ёлка» 🎄"

# Proxy credentials for the authenticated SOCKS case: both need
# percent-encoding in the proxy URL.
SOCKS_USER = "bot@user:1"
SOCKS_PASS = "p@ss:w0rd/%x"
# tinyproxy takes only [A-Za-z0-9._-] in BasicAuth passwords.
HTTP_AUTH = ("tuser", "Tp.ss-w0rd_9")


class Ctx:
    """What one proxy case's checks share."""

    def __init__(self, t, name, si, sc, tok, upload, wd):
        self.t, self.name, self.si, self.sc, self.tok = t, name, si, sc, tok
        self.upload = upload
        self.wd = wd

    def path(self, method, query=None):
        p = "/bot%s/%s" % (self.tok, method)
        if query:
            p += "?" + (query if isinstance(query, str)
                        else urllib.parse.urlencode(query))
        return p

    def ok(self, cond, desc):
        return self.t.ok(cond, "%s: %s" % (self.name, desc))

    def is_(self, got, want, desc):
        return self.t.is_(got, want, "%s: %s" % (self.name, desc))

    def last_request(self, method):
        for r in reversed(self.si.stats()["requests"]):
            if r["method"] == method:
                return r
        return None


def result(reply):
    o = reply.json() or {}
    return o.get("result") if o.get("ok") is True else None


# ------------------------------------------------------------ checks

def check_getme(c):
    conn = c.sc.conn()
    r = request(conn, "GET", c.path("getMe"))
    res = result(r) or {}
    c.ok(r.status == 200 and res.get("id") == 123456
         and res.get("is_bot") is True, "getMe answers ok, result.id 123456")
    if r.status != 200:
        c.t.diag(repr(r))
    conn.close()


def send_message_cases(c):
    """(description, HTTP method, path, body, headers, expected text)."""
    j = json.dumps({"chat_id": 1001, "text": "as JSON"}).encode()
    ju = json.dumps({"chat_id": 1002, "text": UNICODE_TEXT},
                    ensure_ascii=False).encode("utf-8")
    f = urllib.parse.urlencode({"chat_id": 1003, "text": "as form & more"}).encode()
    fu = urllib.parse.urlencode({"chat_id": 1004, "text": UNICODE_TEXT}).encode()
    ctj = {"Content-Type": "application/json"}
    ctf = {"Content-Type": "application/x-www-form-urlencoded"}
    return [
        ("JSON body", "POST", c.path("sendMessage"), j, ctj, "as JSON", 1001),
        ("JSON body, UTF-8 text", "POST", c.path("sendMessage"), ju, ctj,
         UNICODE_TEXT, 1002),
        ("urlencoded body", "POST", c.path("sendMessage"), f, ctf,
         "as form & more", 1003),
        ("urlencoded body, UTF-8 text", "POST", c.path("sendMessage"), fu, ctf,
         UNICODE_TEXT, 1004),
        ("GET with query parameters", "GET",
         c.path("sendMessage", {"chat_id": 1005, "text": "in the query"}),
         None, {}, "in the query", 1005),
        ("GET with UTF-8 query parameters", "GET",
         c.path("sendMessage", {"chat_id": 1006, "text": UNICODE_TEXT}),
         None, {}, UNICODE_TEXT, 1006),
        ("POST with query parameters and no body", "POST",
         c.path("sendMessage", {"chat_id": 1007, "text": "query post"}),
         b"", {}, "query post", 1007),
    ]


def check_send_message(c):
    conn = c.sc.conn()
    for desc, meth, path, body, hdrs, want, chat in send_message_cases(c):
        r = request(conn, meth, path, body, hdrs)
        res = result(r) or {}
        c.ok(r.status == 200 and res.get("text") == want
             and res.get("chat", {}).get("id") == chat,
             "sendMessage %s echoes the text" % desc)
        if r.status != 200 or res.get("text") != want:
            c.t.diag("%s %s -> %r" % (meth, path, r))
        up = c.last_request("sendMessage")
        want_sha = hashlib.sha256(body or b"").hexdigest()
        want_q = path.partition("?")[2]
        c.ok(up is not None and up["body_sha256"] == want_sha
             and up["query"] == want_q and up["http_method"] == meth
             and (not hdrs or up["content_type"] == hdrs["Content-Type"]),
             "sendMessage %s reaches upstream unchanged (method, query, "
             "Content-Type, body)" % desc)
        if up is None or up["body_sha256"] != want_sha or up["query"] != want_q:
            c.t.diag("upstream saw: %r" % (up,))
    conn.close()


def check_upload_download(c):
    conn = c.sc.conn()
    t0 = time.monotonic()
    r = harness.post_file(conn, c.path("sendDocument"), c.upload["body"],
                          c.upload["ctype"])
    dt = time.monotonic() - t0
    res = result(r) or {}
    doc = res.get("document", {})
    c.ok(r.status == 200 and res.get("sha256") == c.upload["sha256"]
         and doc.get("file_size") == UPLOAD_SIZE,
         "20 MB multipart sendDocument arrives byte-exact (%.2fs)" % dt)
    if r.status != 200:
        c.t.diag(repr(r))
    up = c.last_request("sendDocument")
    c.ok(up is not None and up["body_len"] == c.upload["body_len"]
         and up["body_sha256"] == c.upload["body_sha256"],
         "the whole multipart body reached upstream unchanged")
    r = request(conn, "GET", c.path("getFile", {"file_id": doc.get("file_id")}))
    fres = result(r) or {}
    fpath = fres.get("file_path")
    c.ok(r.status == 200 and fpath and fres.get("file_size") == UPLOAD_SIZE,
         "getFile gives the file_path")
    t0 = time.monotonic()
    st, n, sha, _ = harness.download_sha256(conn, "/file/bot%s/%s" % (c.tok, fpath))
    c.is_((st, n, sha), (200, UPLOAD_SIZE, c.upload["sha256"]),
          "download of the uploaded file is byte-exact (%.2fs)"
          % (time.monotonic() - t0))
    t0 = time.monotonic()
    st, n, sha, _ = harness.download_sha256(conn, "/file/bot%s/big/20mb.bin" % c.tok)
    c.is_((st, n, sha), (200, BIG_SIZE, c.upload["big_sha256"]),
          "20 MiB download /file/bot<token>/big/20mb.bin is byte-exact (%.2fs)"
          % (time.monotonic() - t0))
    conn.close()


def check_hangup(c):
    """A bot that hangs up during a long poll: the upstream connection is
    closed within HANGUP_BUDGET of the bot's close."""
    s = socket.create_connection(("127.0.0.1", c.sc.port),
                                 timeout=harness.CLIENT_TIMEOUT)
    try:
        before = c.si.stats()
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                   % c.path("getUpdates", {"timeout": 50, "offset": 900000})
                   ).encode())
        waiting = harness.wait_until(
            lambda: c.si.stats()["waiting_polls"] > before["waiting_polls"], 10)
        c.ok(waiting, "a getUpdates?timeout=50 is held by upstream")
        n_hang = len(c.si.stats()["hangups"])
        t0 = time.monotonic()
    finally:
        s.close()
    hs = harness.wait_until(lambda: [h for h in c.si.stats()["hangups"][n_hang:]
                                     if h["time"] >= t0], HANGUP_BUDGET,
                            scale=False)
    t1 = hs[0]["time"] if hs else None
    c.ok(t1 is not None and t1 - t0 < HANGUP_BUDGET,
         "bot hangs up -> upstream connection closed within %.0f s, "
         "long before the poll's 50 s" % HANGUP_BUDGET)
    c.t.diag("bot closed at t0=%.6f, upstream closed at t1=%s (%s)"
             % (t0, "%.6f" % t1 if t1 else "never",
                "%.1f ms" % ((t1 - t0) * 1000) if t1 else
                "not within %.0f s" % HANGUP_BUDGET))
    c.ok(harness.wait_until(lambda: c.si.stats()["waiting_polls"]
                            == before["waiting_polls"], 3),
         "no poll is left waiting upstream after the hangup")


class LongPoll:
    """getUpdates?timeout=50 in a thread, answered by an update injected
    LONGPOLL_MIN seconds after it started, while the other checks run.
    The injection has its own timer thread: how long the other checks take
    (a minute on a loaded machine) must not decide whether the poll is
    still held when the update comes."""

    def __init__(self, c):
        self.c = c
        self.reply = None
        self.error = None
        self.t_end = None
        self.held = None
        self.text = "update %s" % os.urandom(4).hex()
        self.th = threading.Thread(target=self._run, daemon=True)
        self.injector = threading.Thread(target=self._inject, daemon=True)

    def _run(self):
        conn = self.c.sc.conn(timeout=harness.CLIENT_TIMEOUT)
        try:
            self.reply = request(conn, "GET", self.c.path(
                "getUpdates", {"timeout": 50}))
        except Exception as e:  # reported by finish()
            self.error = e
        finally:
            self.t_end = time.monotonic()
            conn.close()

    def _inject(self):
        left = self.t_start + LONGPOLL_MIN + 0.2 - time.monotonic()
        if left > 0:
            time.sleep(left)    # the hold being tested, on purpose
        self.held = self.th.is_alive()
        try:
            self.c.si.inject({"text": self.text, "from_id": 777})
        except Exception as e:  # reported by finish()
            self.error = e

    def start(self):
        before = self.c.si.stats()["waiting_polls"]
        self.t_start = time.monotonic()
        self.th.start()
        self.waiting = harness.wait_until(
            lambda: self.c.si.stats()["waiting_polls"] > before, 10)
        self.c.ok(self.waiting, "long poll getUpdates?timeout=50 is waiting upstream")
        self.injector.start()

    def finish(self):
        c = self.c
        self.injector.join(harness.CLIENT_TIMEOUT)
        c.ok(self.held, "long poll still held after %.0f s" % LONGPOLL_MIN)
        self.th.join(harness.CLIENT_TIMEOUT)
        r = self.reply
        upd = (result(r) or []) if r else []
        took = (self.t_end or time.monotonic()) - self.t_start
        c.ok(r is not None and r.status == 200 and took >= LONGPOLL_MIN
             and len(upd) == 1
             and upd[0].get("message", {}).get("text") == self.text,
             "long poll answered after %.1f s with the injected update" % took)
        if r is None or r.status != 200:
            c.t.diag("long poll: reply %r, error %r" % (r, self.error))


def check_bigpoll(c):
    """A long poll that has waited (its idle TLS connection gave its record
    buffers back; a poll reads through a small buffer) still streams a
    large answer intact: one update with a text of BIGPOLL_CHARS characters,
    many TLS records."""
    conn = c.sc.conn(timeout=harness.CLIENT_TIMEOUT)
    try:
        r = request(conn, "GET", c.path("getUpdates", {"timeout": 0}))
        ids = [u["update_id"] for u in (result(r) or [])]
        offset = max(ids) + 1 if ids else 0
        before = c.si.stats()["waiting_polls"]
        got = {}

        def poll():
            try:
                got["r"] = request(conn, "GET", c.path(
                    "getUpdates", {"timeout": 50, "offset": offset}))
            except Exception as e:  # reported below
                got["e"] = e
        th = threading.Thread(target=poll, daemon=True)
        th.start()
        waiting = harness.wait_until(
            lambda: c.si.stats()["waiting_polls"] > before, 10)
        c.ok(waiting, "a getUpdates?timeout=50 with offset %d is held "
             "upstream" % offset)
        text = "ю" * BIGPOLL_CHARS + os.urandom(4).hex()
        c.si.inject({"text": text, "from_id": 778})
        th.join(harness.CLIENT_TIMEOUT)
        r = got.get("r")
        upd = (result(r) or []) if r else []
        c.ok(r is not None and r.status == 200 and len(upd) == 1 and
             upd[0].get("message", {}).get("text") == text,
             "the held poll is answered with a %d KB update, intact"
             % (len(r.body) // 1000 if r else 0))
        if r is None or r.status != 200:
            c.t.diag("big poll: reply %r, error %r" % (r, got.get("e")))
    finally:
        conn.close()


def check_keepalive_100(c):
    conn = c.sc.conn()
    # Per connection: spares opened ahead add connections with none.
    before = c.si.stats()["conns_used"]
    statuses = []
    t0 = time.monotonic()
    for _ in range(100):
        r = request(conn, "GET", c.path("getMe"))
        statuses.append((r.status, (result(r) or {}).get("id")))
    dt = time.monotonic() - t0
    conn.close()
    c.ok(statuses == [(200, 123456)] * 100,
         "100 getMe on one kept-alive connection all answered (%.2fs)" % dt)
    if statuses != [(200, 123456)] * 100:
        c.t.diag("statuses: %r" % sorted(set(statuses)))
    st = c.si.stats()
    c.is_((st["conns_used"] - before, st["per_conn_max"]), (100, 1),
          "100 requests went on exactly 100 fresh upstream connections, "
          "one each")


def pipeline(c, data, n, timeout=harness.CLIENT_TIMEOUT):
    """Send data in one write; read until n responses are complete."""
    s = socket.create_connection(("127.0.0.1", c.sc.port), timeout=timeout)
    buf = b""
    try:
        s.sendall(data)
        deadline = time.monotonic() + timeout
        for _ in range(1000):
            if len(harness.parse_responses(buf)) >= n or time.monotonic() > deadline:
                break
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    return harness.parse_responses(buf)


def check_pipelining(c):
    reqs = [("GET", c.path("getMe")),
            ("GET", c.path("sendMessage", {"chat_id": 1, "text": "a"})),
            ("GET", c.path("getMe"))]
    data = "".join("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % r
                   for r in reqs).encode()
    rs = pipeline(c, data, 3)
    got = [(r.status, (result(r) or {}).get("id"), (result(r) or {}).get("text"))
           for r in rs]
    c.is_(got, [(200, 123456, None), (200, None, "a"), (200, 123456, None)],
          "3 pipelined requests in one write get 3 responses in order")


def check_chunked(c):
    conn = c.sc.conn()
    r = request(conn, "GET", c.path("getMe", "_chunked=1"))
    c.ok(r.status == 200 and (result(r) or {}).get("username") == "standin_bot",
         "a chunked upstream reply (getMe) comes through whole")
    r = request(conn, "GET", c.path("sendMessage", {"chat_id": 9, "text": UNICODE_TEXT,
                                                    "_chunked": 1}))
    c.ok(r.status == 200 and (result(r) or {}).get("text") == UNICODE_TEXT,
         "a chunked upstream reply (sendMessage) comes through whole")
    st, n, sha, _ = harness.download_sha256(conn, "/file/bot%s/big/20mb.bin?_chunked=1"
                                            % c.tok)
    c.is_((st, n, sha), (200, BIG_SIZE, c.upload["big_sha256"]),
          "a chunked 20 MiB download comes through byte-exact")
    # the connection still works after chunked replies
    r = request(conn, "GET", c.path("getMe"))
    c.is_(r.status, 200, "keep-alive survives chunked replies")
    conn.close()


HOP_REQUEST = {"Connection": "keep-alive, X-Hop-Req", "X-Hop-Req": "1",
               "Keep-Alive": "timeout=5", "Proxy-Authorization": "Basic eDp5",
               "TE": "trailers", "Upgrade": "websocket", "X-End-Req": "yes"}
HOP_REPLY = ["X-Hop-Resp", "Keep-Alive", "Proxy-Authenticate", "Trailer",
             "Upgrade"]


def check_hop_by_hop(c):
    conn = c.sc.conn()
    r = request(conn, "GET", c.path("getMe", "_hop=1"), headers=HOP_REQUEST)
    c.is_(r.status, 200, "getMe with hop-by-hop headers both ways answers 200")
    sent = {k.lower() for k, _ in (c.last_request("getMe") or {}).get("headers", [])}
    c.is_(sorted(h for h in ("x-hop-req", "keep-alive", "proxy-authorization",
                             "te", "upgrade") if h in sent), [],
          "the bot's hop-by-hop headers do not reach the upstream")
    c.ok("x-end-req" in sent, "the bot's end-to-end header reaches the upstream")
    c.is_([h for h in HOP_REPLY if r.header(h) is not None], [],
          "the upstream's hop-by-hop headers do not reach the bot")
    c.is_(r.header("X-End-Resp"), "yes",
          "the upstream's end-to-end header reaches the bot")
    c.is_(r.header("Content-Length"), str(len(r.body)),
          "a known Content-Length is passed through")
    conn.close()


def upstream_error_cases(c, bad_tok):
    """(description, path, status, exact JSON body)."""
    return [
        ("401 for a bad token", "/bot%s/getMe" % bad_tok, 401,
         {"ok": False, "error_code": 401, "description": "Unauthorized"}),
        ("404 for an unknown method", c.path("noSuchMethod"), 404,
         {"ok": False, "error_code": 404,
          "description": "Not Found: method not found"}),
        ("429 with retry_after", c.path("sendMessage", {"chat_id": 429, "text": "x"}),
         429, {"ok": False, "error_code": 429,
               "description": "Too Many Requests: retry after 7",
               "parameters": {"retry_after": 7}}),
        ("400 for a missing chat_id", c.path("sendMessage", {"text": "x"}), 400,
         {"ok": False, "error_code": 400,
          "description": "Bad Request: chat_id is empty"}),
    ]


def check_upstream_errors(c):
    conn = c.sc.conn()
    for desc, path, status, body in upstream_error_cases(c, c.bad_tok):
        r = request(conn, "GET", path)
        c.is_((r.status, r.json()), (status, body),
              "upstream %s passes through untouched" % desc)
    r = request(conn, "GET", c.path("getMe"))
    c.is_(r.status, 200, "keep-alive survives upstream errors")
    conn.close()


def check_chunked_request(c):
    """A bot that sends its body with Transfer-Encoding: chunked."""
    conn = c.sc.conn()
    body = json.dumps({"chat_id": 77, "text": UNICODE_TEXT},
                      ensure_ascii=False).encode("utf-8")
    pieces = [body[i:i + 7] for i in range(0, len(body), 7)]
    conn.request("POST", c.path("sendMessage"), body=iter(pieces),
                 headers={"Content-Type": "application/json"}, encode_chunked=True)
    r = conn.getresponse()
    rep = harness.Reply(r.status, r.headers, r.read())
    c.ok(rep.status == 200 and (result(rep) or {}).get("text") == UNICODE_TEXT,
         "sendMessage with a chunked JSON body echoes the text")
    if rep.status != 200:
        c.t.diag(repr(rep))

    def file_pieces():
        with open(c.upload["body"], "rb") as f:
            for _ in range(c.upload["body_len"] // (256 * 1024) + 2):
                b = f.read(256 * 1024)
                if not b:
                    return
                yield b
    t0 = time.monotonic()
    conn.request("POST", c.path("sendDocument"), body=file_pieces(),
                 headers={"Content-Type": c.upload["ctype"]}, encode_chunked=True)
    r = conn.getresponse()
    rep = harness.Reply(r.status, r.headers, r.read())
    c.ok(rep.status == 200 and (result(rep) or {}).get("sha256") == c.upload["sha256"],
         "20 MB sendDocument with a chunked request body arrives byte-exact (%.2fs)"
         % (time.monotonic() - t0))
    if rep.status != 200:
        c.t.diag(repr(rep))
    conn.close()


def check_expect_continue(c):
    """curl-based bots (PHP) send Expect: 100-continue and wait up to 1 s
    for the interim reply before sending the body."""
    body = json.dumps({"chat_id": 88, "text": "after 100"}).encode()
    s = socket.create_connection(("127.0.0.1", c.sc.port),
                                 timeout=harness.CLIENT_TIMEOUT)
    try:
        s.sendall(("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Content-Type: application/json\r\nContent-Length: %d\r\n"
                   "Expect: 100-continue\r\n\r\n"
                   % (c.path("sendMessage"), len(body))).encode())
        s.settimeout(harness.patient(3))
        t0 = time.monotonic()
        try:
            interim = s.recv(65536)
        except socket.timeout:
            interim = b""
        dt = time.monotonic() - t0
        c.ok(interim.startswith(b"HTTP/1.1 100"),
             "Expect: 100-continue gets a 100 Continue (%s)"
             % ("%.0f ms" % (dt * 1000) if interim else "none within %.0f s" % harness.patient(3)))
        s.settimeout(harness.CLIENT_TIMEOUT)
        s.sendall(body)
        buf = interim.partition(b"\r\n\r\n")[2] if interim.startswith(
            b"HTTP/1.1 100") else interim
        for _ in range(100):
            if harness.parse_responses(buf):
                break
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    rs = harness.parse_responses(buf)
    c.ok(rs and rs[0].status == 200 and (result(rs[0]) or {}).get("text") == "after 100",
         "the request with Expect: 100-continue is answered")


def check_pipelining_bodies(c):
    """Pipelined requests with bodies in between."""
    j = json.dumps({"chat_id": 2, "text": "b"}).encode()
    f = b"chat_id=3&text=c"
    data = (("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % c.path("getMe")).encode()
            + ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
               "\r\nContent-Length: %d\r\n\r\n" % (c.path("sendMessage"), len(j))
               ).encode() + j
            + ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
               "application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n"
               % (c.path("sendMessage"), len(f))).encode() + f
            + ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % c.path("getMe")).encode())
    rs = pipeline(c, data, 4)
    got = [(r.status, (result(r) or {}).get("id"), (result(r) or {}).get("text"))
           for r in rs]
    c.is_(got, [(200, 123456, None), (200, None, "b"), (200, None, "c"),
                (200, 123456, None)],
          "4 pipelined requests, 2 with bodies, get 4 responses in order")


def read_response_head(s, timeout=harness.CLIENT_TIMEOUT):
    """Read from socket s until the end of the response head; returns
    (head bytes, body bytes already read)."""
    buf = b""
    deadline = time.monotonic() + timeout
    for _ in range(1000):
        if b"\r\n\r\n" in buf or time.monotonic() > deadline:
            break
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def check_slow_reader(c):
    """A bot that stops reading a 20 MiB download: the sidecar holds back
    instead of buffering the file, and resumes byte-exact."""
    s = socket.create_connection(("127.0.0.1", c.sc.port),
                                 timeout=harness.CLIENT_TIMEOUT)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    try:
        s.sendall(("GET /file/bot%s/big/20mb.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                   % c.tok).encode())
        head, first = read_response_head(s)
        base = harness.vm_rss_kib(c.sc.proc.pid)
        # Observe for a bounded window while not reading.
        peak = [base or 0]

        def grown():
            r = harness.vm_rss_kib(c.sc.proc.pid) or 0
            peak[0] = max(peak[0], r)
            return r - (base or 0) > 12 * 1024
        harness.wait_until(grown, 1.5, 0.05, scale=False)
        growth = peak[0] - (base or 0)
        c.ok(base is not None and growth <= 12 * 1024,
             "a bot that stops reading a 20 MiB download does not make the "
             "sidecar buffer it (RSS +%d KiB)" % growth)
        h = hashlib.sha256(first)
        n = len(first)
        s.settimeout(harness.CLIENT_TIMEOUT)
        for _ in range(100000):
            if n >= BIG_SIZE:
                break
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
        c.ok(head.startswith(b"HTTP/1.1 200") and n == BIG_SIZE
             and h.hexdigest() == c.upload["big_sha256"],
             "the stalled download resumes and arrives byte-exact")
    finally:
        s.close()


def check_hangup_download(c):
    """A bot that hangs up in the middle of a download: the upstream
    connection goes too, and the sidecar carries on."""
    s = socket.create_connection(("127.0.0.1", c.sc.port),
                                 timeout=harness.CLIENT_TIMEOUT)
    try:
        s.sendall(("GET /file/bot%s/big/20mb.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                   % c.tok).encode())
        head, first = read_response_head(s)
        got = len(first)
        for _ in range(1000):
            if got >= 1 << 20:
                break
            chunk = s.recv(65536)
            if not chunk:
                break
            got += len(chunk)
        rec = c.last_request("file")
        conn_id = rec["conn"] if rec else None
        c.ok(head.startswith(b"HTTP/1.1 200") and conn_id is not None
             and conn_id in c.si.stats()["open_conns"],
             "a 20 MiB download is under way (%d bytes read)" % got)
        t0 = time.monotonic()
    finally:
        s.close()
    gone = harness.wait_until(lambda: conn_id not in c.si.stats()["open_conns"], 3)
    c.ok(gone, "the bot hangs up mid-download -> the upstream connection is "
         "closed (%.0f ms)" % ((time.monotonic() - t0) * 1000))
    conn = c.sc.conn()
    r = request(conn, "GET", c.path("getMe"))
    conn.close()
    c.is_(r.status, 200, "the sidecar serves the next request")


def check_concurrent(c):
    """20 bots at once, 5 requests each on their own kept-alive connection."""
    before = c.si.stats()["conns_used"]
    results = []
    lock = threading.Lock()

    def bot(i):
        conn = c.sc.conn()
        try:
            for j in range(5):
                r = request(conn, "GET", c.path("sendMessage", {
                    "chat_id": 5000 + i, "text": "bot %d msg %d" % (i, j)}))
                with lock:
                    results.append((r.status, (result(r) or {}).get("text")
                                    == "bot %d msg %d" % (i, j)))
        except Exception as e:
            with lock:
                results.append(("exception", repr(e)))
        finally:
            conn.close()
    ths = [threading.Thread(target=bot, args=(i,), daemon=True) for i in range(20)]
    t0 = time.monotonic()
    for th in ths:
        th.start()
    for th in ths:
        th.join(harness.patient(60))
    dt = time.monotonic() - t0
    bad = [r for r in results if r != (200, True)]
    c.ok(len(results) == 100 and not bad,
         "20 concurrent bots x 5 sendMessage all answered right (%.2fs)" % dt)
    if bad:
        c.t.diag("bad results: %r" % bad[:5])
    st = c.si.stats()
    c.is_((st["conns_used"] - before, st["per_conn_max"]), (100, 1),
          "100 concurrent requests went on 100 upstream connections, one "
          "each")


CHECKS = [check_getme, check_send_message, check_upload_download,
          check_chunked, check_chunked_request, check_expect_continue,
          check_keepalive_100, check_pipelining, check_pipelining_bodies,
          check_upstream_errors, check_hop_by_hop, check_slow_reader, check_hangup_download,
          check_concurrent]


# ------------------------------------------------------------ cases

def cases(wd, si):
    """(name, proxy factory, sidecar options for the started proxy,
    whether to run the 10 s long poll too)."""
    via_url = lambda p: {"proxy": p.url, "pre_proxy": getattr(p, "pre_url", None)}

    def via_pwfile(p):
        path = os.path.join(wd, "proxy-password-%d" % p.port)
        with open(path, "w") as f:
            f.write(p.auth_password + "\n")
        return {"proxy": p.url_with(p.auth_user),
                "extra_args": ["--proxy-password-file", path]}
    return [
        ("squid", lambda: proxies.Squid(wd, [si.port]), via_url, True),
        ("tinyproxy", lambda: proxies.Tinyproxy(wd, [si.port]), via_url, True),
        ("microsocks socks5h", lambda: proxies.Microsocks(wd, scheme="socks5h"),
         via_url, True),
        ("microsocks socks5 with user/password",
         lambda: proxies.Microsocks(wd, SOCKS_USER, SOCKS_PASS, scheme="socks5"),
         via_url, True),
        ("socks5h pre-proxy -> squid",
         lambda: proxies.Chain(proxies.Microsocks(wd, scheme="socks5h"),
                               proxies.Squid(wd, [si.port])), via_url, True),
        ("tinyproxy BasicAuth, credentials in the URL",
         lambda: proxies.Tinyproxy(wd, [si.port], basic_auth=HTTP_AUTH),
         lambda p: {"proxy": p.url_with(*HTTP_AUTH)}, False),
        ("tinyproxy BasicAuth, --proxy-password-file",
         lambda: proxies.Tinyproxy(wd, [si.port], basic_auth=HTTP_AUTH),
         via_pwfile, False),
    ]


def make_upload(wd):
    data = os.path.join(wd, "upload.bin")
    with open(data, "wb") as f:
        for ch in harness.random_chunks(UPLOAD_SIZE):
            f.write(ch)

    def chunks():
        with open(data, "rb") as f:
            for _ in range(UPLOAD_SIZE // (1 << 20) + 2):
                b = f.read(1 << 20)
                if not b:
                    return
                yield b
    body = os.path.join(wd, "upload.multipart")
    ctype, n = harness.multipart_file(body, {"chat_id": 4242, "caption": "upload"},
                                      ("document", chunks()), "random.bin")
    return {"sha256": harness.file_sha256(data), "body": body, "ctype": ctype,
            "body_len": n, "body_sha256": harness.file_sha256(body),
            "big_sha256": harness.big_file_sha256(BIG_SIZE)}


def run_case(t, name, factory, sidecar_opts, full, si, certs, upload, wd,
             secrets):
    p = factory()
    sc = None
    try:
        p.start()
        si.reset()
        secret = harness.unique_secret("px")
        bad = "BAD" + harness.unique_secret("bad")
        secrets.extend([secret, bad])
        opts = sidecar_opts(p)
        sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                     name="sidecar-" + name.split()[0].replace("/", "_"), **opts)
        sc.start()
        t.ok(sc.proc.alive(), "%s: sidecar started and listens" % name)
        t.diag("argv: " + " ".join(sc.argv[1:]))
        c = Ctx(t, name, si, sc, token(secret), upload, wd)
        c.bad_tok = token(bad)
        lp = None
        for check in [check_hangup] + CHECKS:
            try:
                check(c)
            except Exception:
                t.fail_exception("%s: %s" % (name, check.__name__))
            if check is check_hangup and full:
                # The long poll runs while the other checks do.
                lp = LongPoll(c)
                try:
                    lp.start()
                except Exception:
                    t.fail_exception("%s: long poll start" % name)
        if lp is not None:
            try:
                lp.finish()
            except Exception:
                t.fail_exception("%s: long poll" % name)
        try:
            check_bigpoll(c)
        except Exception:
            t.fail_exception("%s: check_bigpoll" % name)
        st, killed = sc.stop()
        t.ok(st == 0 and not killed, "%s: sidecar exits 0 on SIGTERM (status %r%s)"
             % (name, st, ", killed" if killed else ""))
        log = sc.log()
        leaked = [s for s in secrets if s in log]
        t.ok(not leaked, "%s: no token secret in the sidecar log" % name)
        if leaked:
            t.diag("leaked: %r" % leaked)
        pw = getattr(p, "password", None) or getattr(p, "auth_password", None)
        if pw:
            creds = (pw, urllib.parse.quote(pw, safe=""))
            t.ok(not [x for x in creds if x in log],
                 "%s: the proxy password is not in the sidecar log" % name)
        lines = [l for l in log.splitlines()
                 if harness.BOT_ID in l and "sendMessage" in l]
        t.ok(lines, "%s: the sidecar log has access lines (bot id and method)" % name)
        if not lines:
            t.diag("sidecar log tail:\n" + log[-2000:])
    except Exception:
        t.fail_exception(name)
        if sc is not None:
            t.diag("sidecar log tail:\n" + sc.log()[-3000:])
    finally:
        if sc is not None:
            sc.stop()
        p.stop()


def main():
    t = Tap()
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    upload = make_upload(wd)
    secrets = []
    t0 = time.monotonic()
    for name, factory, opts, full in cases(wd, si):
        t1 = time.monotonic()
        try:
            run_case(t, name, factory, opts, full, si, certs, upload, wd, secrets)
        except Exception:
            t.fail_exception(name)
        t.diag("%s took %.1f s" % (name, time.monotonic() - t1))
    t.diag("all cases took %.1f s" % (time.monotonic() - t0))
    si.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
