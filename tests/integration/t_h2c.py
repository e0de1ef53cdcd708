#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""HTTP/2 cleartext upgrade offers (issue 19, part 2).

Java's java.net.http.HttpClient (its default version is HTTP_2) and
curl --http2 offer "Upgrade: h2c" with HTTP2-Settings on every plain-http
request, GET and POST. RFC 9113 3.2 lets a server ignore the offer: the
sidecar answers in HTTP/1.1, and Upgrade, HTTP2-Settings and the
Connection tokens naming them never reach the upstream.

1. A recording server shows what each client really sends: the JDK
   client and curl --http2 both offer h2c on GET and POST.
2. The JDK client (compiled here with javac) calls getMe, sendMessage
   (POST) and getMe again through the sidecar to the TLS stand-in: 200,
   HTTP_1_1, the bodies right.
3. curl --http2: GET and POST, and two GETs on one kept-alive connection.
4. A table of raw heads: case, Connection lists, h2c with other
   protocols, Upgrade without its Connection token, HTTP/1.0, a POST with
   a body (Content-Length and chunked, 3.6 KB on a spare and 300 KB
   streamed) followed by a pipelined request on the same connection. An h2c-only offer is answered, and the body is
   streamed in full; a real switch (websocket, TLS/1.0, h2c among others)
   still gets today's 400 "CONNECT and protocol upgrades are not
   accepted", and nothing goes upstream for it.
TAP output."""

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap, Sidecar, StandIn, Certs, token  # noqa: E402

SRCDIR = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
if os.environ.get("TESTS_SRCDIR"):
    SRCDIR = os.path.dirname(os.environ["TESTS_SRCDIR"])
JAVA_SRC = os.path.join(SRCDIR, "tests", "clients", "H2cClient.java")
REFUSED = "CONNECT and protocol upgrades are not accepted"
SETTINGS = "AAMAAABkAARAAAAAAAIAAAAA"
HOP = ("upgrade", "http2-settings")


class Recorder:
    """A plain-http server on loopback that records each request head and
    answers 200 {"ok":true,...} in HTTP/1.1, keeping the connection."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.heads = []
        self.lock = threading.Lock()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.conn, args=(c,), daemon=True).start()

    def conn(self, c):
        buf = b""
        c.settimeout(harness.patient(30))
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, _, buf = buf.partition(b"\r\n\r\n")
                n = harness.parse_content_length(head) or 0
                while len(buf) < n:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                buf = buf[n:]
                with self.lock:
                    self.heads.append(head.decode("latin-1"))
                body = b'{"ok":true,"result":{"id":1,"is_bot":true}}'
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json"
                          b"\r\nContent-Length: %d\r\n\r\n%s"
                          % (len(body), body))
        except OSError:
            return
        finally:
            c.close()

    def close(self):
        self.sock.close()


def squeeze(s):
    """JSON text without the spaces a server may put after ':'."""
    return s.replace(": ", ":").replace(", ", ",")


def offers_h2c(head):
    low = head.lower()
    return "\r\nupgrade: h2c" in low and "\r\nhttp2-settings:" in low


def java_ready(wd):
    """The compiled client's class directory, or None with why."""
    javac, java = shutil.which("javac"), shutil.which("java")
    if not javac or not java:
        return None, "no JDK (openjdk-17-jdk-headless)"
    out = os.path.join(wd, "java")
    os.makedirs(out, exist_ok=True)
    st, o, e = harness.run([javac, "-d", out, JAVA_SRC], timeout=120)
    if st != 0:
        return None, "javac failed: %s" % (o + e)[:400]
    return out, None


def run_java(classes, base):
    st, o, e = harness.run(["java", "-cp", classes, "H2cClient", base],
                           timeout=120)
    rows = {}
    for line in o.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4:
            rows[parts[0]] = (parts[1], parts[2], parts[3])
    return st, rows, e


def curl(*args):
    return harness.run(["curl", "-sS", "--http2", "-v", "--max-time",
                        str(harness.patient(60))] + list(args), timeout=90)


def upstream_heads(si):
    return [r for r in si.stats()["requests"]]


def clean_upstream(reqs):
    """No request reached the upstream with an upgrade header."""
    for r in reqs:
        for k, v in r.get("headers", []):
            if k.lower() in HOP or (k.lower() == "connection" and
                                    "upgrade" in v.lower()):
                return False
    return True


def part_witness(t, env):
    rec = Recorder()
    try:
        base = "http://127.0.0.1:%d/bot%s" % (rec.port, env["tok"])
        classes = env["java"]
        if classes:
            run_java(classes, base)
            with rec.lock:
                heads = list(rec.heads)
            gets = [h for h in heads if h.startswith("GET ")]
            posts = [h for h in heads if h.startswith("POST ")]
            t.ok(gets and offers_h2c(gets[0]) and posts and
                 offers_h2c(posts[0]),
                 "the JDK client offers h2c on GET and on POST")
        else:
            t.skip("the JDK client offers h2c", env["java_why"])
        with rec.lock:
            rec.heads.clear()
        curl(base + "/getMe", "-o", "/dev/null")
        curl(base + "/sendMessage", "-d", "chat_id=5&text=x", "-o",
             "/dev/null")
        with rec.lock:
            heads = list(rec.heads)
        t.ok(len(heads) == 2 and all(offers_h2c(h) for h in heads),
             "curl --http2 offers h2c on GET and on POST")
    finally:
        rec.close()


def part_java(t, env):
    sc, si, tok = env["sc"], env["si"], env["tok"]
    if not env["java"]:
        t.skip("the JDK client through the sidecar", env["java_why"])
        return
    si.reset()
    st, rows, err = run_java(env["java"], "http://127.0.0.1:%d/bot%s"
                             % (sc.port, tok))
    t.is_(st, 0, "the JDK client exits 0 (%s)" % err.strip()[-300:])
    for name, want in (("getMe", '"is_bot":true'),
                       ("sendMessage", '"text":"from the JDK client"'),
                       ("getMe2", '"is_bot":true')):
        got = rows.get(name)
        t.ok(got is not None and got[0] == "200" and got[1] == "HTTP_1_1"
             and want in squeeze(got[2]),
             "JDK client %s: 200 in HTTP/1.1 (%r)" % (name, got))
    reqs = upstream_heads(si)
    t.is_(len(reqs), 3, "the upstream got the three calls")
    t.ok(clean_upstream(reqs), "no Upgrade, HTTP2-Settings or Connection: "
         "upgrade reached the upstream")
    t.ok(REFUSED not in sc.log(), "nothing was refused")


def part_curl(t, env):
    sc, si, tok = env["sc"], env["si"], env["tok"]
    base = "http://127.0.0.1:%d/bot%s" % (sc.port, tok)
    si.reset()
    st, out, err = curl(base + "/getMe")
    t.ok(st == 0 and '"is_bot":true' in squeeze(out) and "< HTTP/1.1 200" in err and
         "101" not in err.split("< HTTP/1.1 200")[0],
         "curl --http2 GET getMe: 200 in HTTP/1.1, no switch")
    st, out, err = curl(base + "/sendMessage", "-H",
                        "Content-Type: application/json", "-d",
                        '{"chat_id":5,"text":"curl h2c post"}')
    t.ok(st == 0 and '"text":"curl h2c post"' in squeeze(out) and
         "< HTTP/1.1 200" in err,
         "curl --http2 POST sendMessage: 200, the text echoed")
    st, out, err = curl(base + "/getMe", base + "/getMe?second=1")
    t.ok(st == 0 and squeeze(out).count('"is_bot":true') == 2 and
         "Re-using existing connection" in err,
         "curl --http2, two GETs on one kept-alive connection: both 200")
    reqs = upstream_heads(si)
    t.is_(len(reqs), 4, "the upstream got the four calls")
    t.ok(clean_upstream(reqs), "no upgrade header reached the upstream")


def head(method, path, lines, body=b"", version="HTTP/1.1"):
    return ("%s %s %s\r\nHost: 127.0.0.1\r\n%s\r\n"
            % (method, path, version, "".join(l + "\r\n" for l in lines))
            ).encode() + body


def chunked(data, size=7):
    out = b""
    for i in range(0, len(data), size):
        piece = data[i:i + size]
        out += b"%x\r\n%s\r\n" % (len(piece), piece)
    return out + b"0\r\n\r\n"


def table(tok):
    """(description, bytes, expected statuses, upstream requests)."""
    me = "/bot%s/getMe" % tok
    send = "/bot%s/sendMessage" % tok
    offer = ["Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c",
             "HTTP2-Settings: " + SETTINGS]
    text = ("h2c body " * 400).encode()
    js = b'{"chat_id":5,"text":"' + text + b'"}'
    big = b'{"chat_id":5,"text":"' + b"streamed " * 34000 + b'"}'
    last = head("GET", me + "?last=1", ["Connection: close"])
    return [
        ("the JDK's offer", head("GET", me, offer) + last, [200, 200], 2),
        ("lower case", head("GET", me, ["connection: upgrade, http2-settings",
                                        "upgrade: h2c",
                                        "http2-settings: " + SETTINGS]) + last,
         [200, 200], 2),
        ("upper case H2C", head("GET", me, ["CONNECTION: UPGRADE",
                                            "UPGRADE: H2C"]) + last,
         [200, 200], 2),
        ("Connection: keep-alive, Upgrade", head("GET", me, [
            "Connection: keep-alive, Upgrade", "Upgrade: h2c",
            "HTTP2-Settings: " + SETTINGS]) + last, [200, 200], 2),
        ("two Connection fields", head("GET", me, [
            "Connection: Upgrade", "Connection: HTTP2-Settings",
            "Upgrade: h2c", "HTTP2-Settings: " + SETTINGS]) + last,
         [200, 200], 2),
        ("h2c listed twice", head("GET", me, ["Connection: Upgrade",
                                              "Upgrade: h2c, h2c"]) + last,
         [200, 200], 2),
        ("Upgrade without its Connection token", head("GET", me, [
            "Upgrade: h2c", "HTTP2-Settings: " + SETTINGS]) + last,
         [200, 200], 2),
        ("websocket without its Connection token: not an upgrade", head(
            "GET", me, ["Upgrade: websocket"]) + last, [200, 200], 2),
        ("HTTP/1.0 with an Upgrade (RFC 9110 7.8: ignored)", head(
            "GET", me, ["Connection: Upgrade", "Upgrade: websocket"],
            version="HTTP/1.0"), [200], 1),
        ("POST with a body, offering h2c, then a pipelined GET", head(
            "POST", send, offer + ["Content-Type: application/json",
                                   "Content-Length: %d" % len(js)], js)
         + last, [200, 200], 2),
        ("chunked POST offering h2c, then a pipelined GET", head(
            "POST", send, offer + ["Content-Type: application/json",
                                   "Transfer-Encoding: chunked"],
            chunked(js)) + last, [200, 200], 2),
        ("a 300 KB POST offering h2c (streamed), then a pipelined GET", head(
            "POST", send, offer + ["Content-Type: application/json",
                                   "Content-Length: %d" % len(big)], big)
         + last, [200, 200], 2),
        ("a 300 KB chunked POST offering h2c, then a pipelined GET", head(
            "POST", send, offer + ["Content-Type: application/json",
                                   "Transfer-Encoding: chunked"],
            chunked(big, 8191)) + last, [200, 200], 2),
        ("websocket", head("GET", me, [
            "Connection: Upgrade", "Upgrade: websocket",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13"]) + last, [400, 200], 1),
        ("h2c among other protocols", head("GET", me, [
            "Connection: Upgrade", "Upgrade: h2c, websocket"]) + last,
         [400, 200], 1),
        ("websocket first, then h2c", head("GET", me, [
            "Connection: Upgrade", "Upgrade: websocket, h2c"]) + last,
         [400, 200], 1),
        ("two Upgrade fields, one websocket", head("GET", me, [
            "Connection: Upgrade", "Upgrade: h2c",
            "Upgrade: websocket"]) + last, [400, 200], 1),
        ("TLS/1.0", head("GET", me, ["Connection: Upgrade",
                                     "Upgrade: TLS/1.0"]) + last,
         [400, 200], 1),
        ("websocket POST with a body: refused, closed", head(
            "POST", send, ["Connection: Upgrade", "Upgrade: websocket",
                           "Content-Length: 4"], b"abcd") + last, [400], 0),
    ], {hashlib.sha256(js).hexdigest(), hashlib.sha256(big).hexdigest()}


def part_table(t, env):
    sc, si, tok = env["sc"], env["si"], env["tok"]
    rows, digests = table(tok)
    for desc, data, want, n_up in rows:
        si.reset()
        raw = harness.raw_exchange(sc.host, sc.port, data,
                                   timeout=harness.patient(20))
        rs = harness.parse_responses(raw)
        got = [r.status for r in rs]
        ok = got == want and raw.startswith(b"HTTP/1.1 ")
        for r, w in zip(rs, want):
            o = harness.try_json(r.body) or {}
            if w == 400:
                ok = ok and o.get("description") == REFUSED
            else:
                ok = ok and o.get("ok") is True
        t.ok(ok, "%s: %s (got %s)" % (desc, want, got))
        reqs = upstream_heads(si)
        good = len(reqs) == n_up and clean_upstream(reqs)
        posts = [r for r in reqs if r["http_method"] == "POST"]
        if posts:
            good = good and all(p["body_sha256"] in digests and
                                p["body_len"] > 0 for p in posts)
        t.ok(good, "%s: %d request(s) upstream, no upgrade header%s"
             % (desc, n_up, ", the body whole" if posts else ""))


def main():
    t = Tap()
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    tok = token(harness.unique_secret("h2c"))
    classes, why = java_ready(wd)
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 name="sidecar-h2c")
    env = {"sc": sc, "si": si, "tok": tok, "java": classes, "java_why": why}
    try:
        sc.start()
        t.run_parts((part_witness, part_java, part_curl, part_table), env)
        st, killed = sc.stop()
        t.ok(st == 0 and not killed, "the sidecar exits 0 on SIGTERM")
    finally:
        sc.proc.kill_quietly()
        si.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
