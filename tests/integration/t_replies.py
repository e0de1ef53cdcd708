#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""The reply-framing table (issue 18): hostile and unusual upstream
replies, each with the one answer the bot gets, whether the request went
on a spare or on a connection made for it.

A raw TLS server of the test's own (the test CA, loopback) plays each
row's script: reply bytes written in pieces (each write its own TLS
record), pauses, a close. Each row runs twice, on a sidecar with a ready
spare (access line spare=1) and on one with --prewarm 0 (spare=0); the
test asserts the expected outcome (status, the description's words, the
body, the access line's error) and that both outcomes are the same.
Clocks are small (--upstream-timeout 2s --stall-timeout 2s); rows on
them assert outcomes (a 504, a cut body), not times. TAP output."""

import http.client
import os
import re
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap, Sidecar, Certs, request, token  # noqa: E402

BODY = b'{"ok":true,"result":{"id":123456,"is_bot":true}}'
CL = b"Content-Length: %d\r\n" % len(BODY)
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
GOOD = OK + CL + b"\r\n" + BODY
CHUNKED = b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY)

# The bot's words for each refusal (a substring of the description).
W_FRAMING = "a Content-Length or Transfer-Encoding that cannot be framed"
W_TOKEN = "a header that is not a token and a clean value"
W_NOT_HTTP = "a reply that is not HTTP/1.1"
W_TOO_BIG = "more header bytes than the sidecar keeps"
W_FOLD = "obs-fold"
W_101 = "a protocol switch (101)"
W_STATUS = "a status code that is not 100 to 599"
W_NO_REPLY = "closed before any reply"
W_MID = "closed in the middle of the reply"
W_WAIT = "(upstream_timeout)"
W_STALL = "(stall_timeout)"

CLOSE = "close"         # a step: close the connection (close_notify first)
UPLOAD = 200 * 1024     # the early-answer row's announced upload


def trickle(first, line, n, gap, last):
    """first, then n lines gap seconds apart, then last."""
    steps = [first]
    for _ in range(n):
        steps += [gap, line]
    return steps + [last]


def rows():
    """(name, what, script steps, expected): expected has "status", "words"
    (a substring of the description, for an error), "body" (bytes, or
    "cut": the bot's reply is cut short), "log" (a substring of the
    access line's error), "headers" ({name: value or None for absent}),
    "again" (the bot connection serves a second request)."""
    r = []

    def row(what, steps, **exp):
        r.append(("r%02d" % (len(r) + 1), what, steps, exp))

    refuse = {"status": 502, "log": "cannot frame"}
    row("two equal Content-Lengths",
        [OK + CL + CL + b"\r\n" + BODY], words=W_FRAMING, **refuse)
    row("Content-Length: +48",
        [OK + b"Content-Length: +%d\r\n\r\n" % len(BODY) + BODY],
        words=W_FRAMING, **refuse)
    row("Content-Length and Transfer-Encoding",
        [OK + CL + b"Transfer-Encoding: chunked\r\n\r\n" + CHUNKED],
        words=W_FRAMING, **refuse)
    row("two different Content-Lengths",
        [OK + CL + b"Content-Length: 5\r\n\r\n" + BODY],
        words=W_FRAMING, **refuse)
    row("a 204 with a field named Transfer-Encodingx",
        [b"HTTP/1.1 204 No Content\r\nTransfer-Encodingx: chunked\r\n\r\n"],
        words=W_FRAMING, **refuse)
    row("a bare CR in a header value",
        [OK + b"X-A: 1\rX-B: 2\r\n" + CL + b"\r\n" + BODY],
        words=W_TOKEN, **refuse)
    row("a header name with a space before the colon",
        [OK + b"X-A : 1\r\n" + CL + b"\r\n" + BODY], words=W_TOKEN, **refuse)
    row("closed with no reply", [CLOSE], status=502, words=W_NO_REPLY,
        log=W_NO_REPLY)
    row("not HTTP at all", [b"SSH-2.0-OpenSSH_9.2\r\n\r\n", CLOSE],
        words=W_NOT_HTTP, **refuse)
    row("chunked with trailers",
        [OK + b"Transfer-Encoding: chunked\r\n\r\n" +
         b"%x\r\n%s\r\n0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n"
         % (len(BODY), BODY)], status=200, body=BODY, again=True,
        headers={"X-Trailer": None})
    row("chunked in one-byte chunks",
        [OK + b"Transfer-Encoding: chunked\r\n\r\n" +
         b"".join(b"1\r\n%c\r\n" % c for c in BODY) + b"0\r\n\r\n"],
        status=200, body=BODY, again=True)
    row("100 Continue, then the answer",
        [b"HTTP/1.1 100 Continue\r\n\r\n", 0.1, GOOD], status=200, body=BODY,
        again=True)
    row("100 Continue with a Content-Length, then the answer",
        [b"HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n" + GOOD],
        status=200, body=BODY, again=True)
    row("several 102 Processing, then the answer",
        [b"HTTP/1.1 102 Processing\r\n\r\n"] * 5 + [0.1, GOOD], status=200,
        body=BODY, again=True)
    row("102 Processing every 0.5 s past upstream_timeout (no progress)",
        trickle(b"HTTP/1.1 102 Processing\r\n\r\n",
                b"HTTP/1.1 102 Processing\r\n\r\n", 12, 0.5, GOOD),
        status=504, words=W_WAIT, log=W_WAIT)
    row("20,000 102 Processing",
        [b"HTTP/1.1 102 Processing\r\n\r\n" * 20000, GOOD],
        words=W_TOO_BIG, **refuse)
    row("101 followed by bytes",
        [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
         b"Connection: Upgrade\r\n\r\n" + GOOD], words=W_101, **refuse)
    row("HTTP/1.0 ended by a close",
        [b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + BODY,
         CLOSE], status=200, body=BODY, again=True)
    row("204 with a body",
        [b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello"],
        status=204, body=b"", again=True)
    row("empty header values",
        [OK + b"X-Empty:\r\nX-Empty-Sp: \r\n" + CL + b"\r\n" + BODY],
        status=200, body=BODY, again=True,
        headers={"X-Empty": "", "X-Empty-Sp": ""})
    row("Connection-listed headers",
        [OK + b"Connection: X-Secret, keep-alive\r\nX-Secret: 1\r\n"
         b"Keep-Alive: timeout=5\r\nX-Kept: 2\r\n" + CL + b"\r\n" + BODY],
        status=200, body=BODY, again=True,
        headers={"X-Secret": None, "X-Kept": "2"})
    row("status 600",
        [b"HTTP/1.1 600 Odd\r\n" + CL + b"\r\n" + BODY], words=W_STATUS,
        **refuse)
    row("obs-fold",
        [OK + b"X-A: 1\r\n  folded\r\n" + CL + b"\r\n" + BODY],
        words=W_FOLD, **refuse)
    row("obs-fold as the first byte of a new TLS record",
        [OK + b"X-A: 1\r\n", 0.2, b" folded\r\n" + CL + b"\r\n" + BODY],
        words=W_FOLD, **refuse)
    row("100 KB of headers",
        [OK + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000)
                       for i in range(100)) + CL + b"\r\n" + BODY],
        words=W_TOO_BIG, **refuse)
    row("a 70 KB header field",
        [OK + b"X-Big: " + b"b" * (70 * 1024) + b"\r\n" + CL + b"\r\n" +
         BODY], words=W_TOO_BIG, **refuse)
    row("a body cut short (Content-Length)",
        [OK + b"Content-Length: 100\r\n\r\n" + BODY[:20], 0.1, CLOSE],
        status=200, body="cut", log=W_MID)
    row("a body cut short (chunked)",
        [OK + b"Transfer-Encoding: chunked\r\n\r\n" + CHUNKED[:20], 0.1,
         CLOSE], status=200, body="cut", log=W_MID)
    row("a head cut short by a close",
        [OK + b"X-A: 1\r\nContent-Le", 0.1, CLOSE], status=502,
        words=W_MID, log=W_MID)
    row("a header line without a colon",
        [OK + b"not a header\r\n" + CL + b"\r\n" + BODY], words=W_TOKEN,
        **refuse)
    row("no answer in upstream_timeout", [30.0], status=504, words=W_WAIT,
        log=W_WAIT)
    row("a head trickling a line a second past upstream_timeout",
        trickle(OK, b"X-Slow: 1\r\n", 6, 1.0, CL + b"\r\n" + BODY),
        status=504, words=W_WAIT, log=W_WAIT)
    row("a body that stalls past stall_timeout",
        [OK + b"Content-Length: 100\r\n\r\n" + BODY[:10], 30.0],
        status=200, body="cut", log=W_STALL)
    row("an early answer while the bot still uploads",
        [b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: "
         b"application/json\r\n" + CL + b"\r\n" + BODY], status=413,
        body=BODY, upload=True, headers={"Connection": "close"})
    return r


class Scripted:
    """A TLS server: each request's method (the path's last segment)
    names the row whose steps answer it. Connections that send no request
    (spares closed unused) are fine."""

    def __init__(self, certs, table):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certs.cert, certs.key)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.steps = {name: steps for name, _, steps, _ in table}
        self.lock = threading.Lock()
        self.open = 0
        self.served = []
        self.stop = False
        threading.Thread(target=self.serve, daemon=True).start()

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def serve(self):
        while not self.stop:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.open += 1
            threading.Thread(target=self.one, args=(s,), daemon=True).start()

    def play(self, tls, steps):
        for st in steps:
            if isinstance(st, float):
                # A pause, cut short once the sidecar closes its side.
                tls.settimeout(st)
                try:
                    if tls.recv(4096) == b"":
                        return
                except (socket.timeout, ssl.SSLWantReadError):
                    pass
                tls.settimeout(harness.CLIENT_TIMEOUT)
            elif st == CLOSE:
                tls.settimeout(0.3)
                try:
                    tls.unwrap()
                except (OSError, ValueError, ssl.SSLError):
                    pass
                return
            else:
                tls.sendall(st)
        # The sidecar must close: it never reuses a connection.
        while tls.recv(4096):
            pass

    def one(self, s):
        try:
            s.settimeout(harness.CLIENT_TIMEOUT)
            tls = self.ctx.wrap_socket(s, server_side=True)
            head = b""
            while b"\r\n\r\n" not in head:
                c = tls.recv(4096)
                if not c:
                    return
                head += c
            m = head.split(b" ")[1].decode("latin-1").split("?")[0]
            m = m.rsplit("/", 1)[-1]
            with self.lock:
                self.served.append(m)
            self.play(tls, self.steps.get(m, [GOOD]))
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            try:
                s.close()
            except OSError:
                pass
            with self.lock:
                self.open -= 1

    def close(self):
        self.stop = True
        self.sock.close()


def desc_of(body):
    o = harness.try_json(body) or {}
    d = o.get("description")
    return d if isinstance(d, str) else None


def ask(sc, tok, name, again):
    """The bot's outcome for one row: (status, description, body or "cut",
    {header: value}, second request's status or None)."""
    c = sc.conn()
    try:
        c.request("GET", "/bot%s/%s" % (tok, name))
        r = c.getresponse()
        try:
            body = r.read()
        except http.client.IncompleteRead:
            body = "cut"
        hdrs = {k: v for k, v in r.getheaders()}
        status = r.status
        second = None
        if again:
            try:
                second = request(c, "GET", "/bot%s/getMe" % tok).status
            except (OSError, http.client.HTTPException) as e:
                second = repr(e)
        return (status, desc_of(body) if body != "cut" else None, body, hdrs,
                second)
    except (OSError, http.client.HTTPException) as e:
        return (0, repr(e), b"", {}, None)
    finally:
        c.close()


def upload(sc, tok, name):
    """A POST announcing UPLOAD bytes that sends only 16 KiB and waits: the
    upstream answers early. Its outcome as ask() gives it."""
    s = socket.create_connection(("127.0.0.1", sc.port),
                                 timeout=harness.CLIENT_TIMEOUT)
    try:
        s.sendall(b"POST /bot%s/%s HTTP/1.1\r\nHost: x\r\nContent-Type: "
                  b"application/octet-stream\r\nContent-Length: %d\r\n\r\n"
                  % (tok.encode(), name.encode(), UPLOAD) + b"u" * 16384)
        data = b""
        while True:
            try:
                c = s.recv(65536)
            except ConnectionResetError:
                break
            if not c:
                break
            data += c
            if harness.parse_responses(data, 1):
                break
        got = harness.parse_responses(data, 1)
        if not got:
            return (0, repr(data[:200]), b"", {}, None)
        # The rest of the upload is not read: the bot's connection ends.
        return (got[0].status, desc_of(got[0].body), got[0].body,
                {"Connection": got[0].headers.get("connection")}, None)
    finally:
        s.close()


def access_line(sc, name):
    ls = [ln for ln in sc.log().splitlines()
          if re.search(r"access \S+ \S+ %s " % name, ln)]
    return ls[-1] if ls else ""


def run_row(t, sc, tok, row, spare):
    name, what, _, exp = row
    where = "spare" if spare else "fresh"
    if spare:
        t.ok(harness.wait_until(
            lambda: harness.spare_counts(sc).get("ready", 0) >= 1, 10),
            "%s %s: a spare is ready" % (name, where))
    if exp.get("upload"):
        out = upload(sc, tok, name)
    else:
        out = ask(sc, tok, name, exp.get("again"))
    harness.wait_until(lambda: access_line(sc, name), 5)
    line = access_line(sc, name)
    m = re.search(r" spare=(\d)", line)
    t.is_(m and int(m.group(1)), 1 if spare else 0,
          "%s %s: the access line says spare=%d" % (name, where, spare))
    status, desc, body, hdrs, second = out
    bad = []
    if status != exp["status"]:
        bad.append("status %r, want %r" % (status, exp["status"]))
    if "words" in exp and (desc is None or exp["words"] not in desc):
        bad.append("description %r, want words %r" % (desc, exp["words"]))
    if "body" in exp and body != exp["body"]:
        bad.append("body %r, want %r" % (harness.shorten(body, 80),
                                         harness.shorten(exp["body"], 80)))
    for h, v in exp.get("headers", {}).items():
        if hdrs.get(h) != v:
            bad.append("header %s: %r, want %r" % (h, hdrs.get(h), v))
    if exp.get("again") and second != 200:
        bad.append("a second request on the bot's connection: %r" % second)
    if "log" in exp and exp["log"] not in line:
        bad.append("access line %r lacks %r" % (line, exp["log"]))
    t.ok(not bad, "%s %s: %s -> %d%s" % (name, where, what, exp["status"],
         " " + repr(exp.get("words")) if "words" in exp else ""))
    for b in bad:
        t.diag("  " + b)
    # What the two runs are compared on: what the bot saw.
    keep = {h: hdrs.get(h) for h in exp.get("headers", {})}
    return (status, desc, body, keep, second, bool(exp.get("log") and
                                                   exp["log"] in line))


def main():
    t = Tap()
    wd = harness.make_tempdir()
    certs = Certs(wd)
    table = rows()
    srv = Scripted(certs, table)
    tok = token(harness.unique_secret("rpl"))
    common = ["--retries", "0", "--upstream-timeout", "2s",
              "--stall-timeout", "2s"]
    sp = Sidecar(wd, upstream=srv.url, ca_file=certs.ca_cert, proxy="direct",
                 extra_args=common + ["--prewarm-max-idle", "120s",
                                      "--prewarm-linger", "600s"],
                 name="sidecar-spare").start()
    fr = Sidecar(wd, upstream=srv.url, ca_file=certs.ca_cert, proxy="direct",
                 extra_args=common + ["--prewarm", "0"],
                 name="sidecar-fresh").start()
    t.ok(len(table) >= 25, "the table has %d rows (at least 25)" % len(table))
    try:
        for sc in (sp, fr):
            r = sc.get("/bot%s/getMe" % tok)
            t.ok(r.status == 200 and r.body == BODY, "the scripted upstream "
                 "serves a good getMe (%d)" % r.status)
        summary = []
        for row in table:
            try:
                a = run_row(t, sp, tok, row, 1)
                b = run_row(t, fr, tok, row, 0)
            except Exception:
                t.fail_exception("row %s" % row[0])
                continue
            t.ok(a == b, "%s: the same answer on a spare and on a fresh "
                 "connection" % row[0])
            if a != b:
                t.diag("  spare: %r" % (a,))
                t.diag("  fresh: %r" % (b,))
            summary.append("%s %-60s spare %s | fresh %s" % (
                row[0], row[1][:60], a[0], b[0]))
        for ln in summary:
            t.diag(ln)
        t.ok(harness.wait_until(lambda: srv.served.count("r01") == 2, 5),
             "each row reached the upstream once per sidecar")
    finally:
        for sc in (sp, fr):
            st, killed = sc.stop()
            t.ok(st == 0 and not killed, "%s exits 0 on SIGTERM" %
                 sc.proc.name if hasattr(sc.proc, "name") else "sidecar")
        srv.close()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
