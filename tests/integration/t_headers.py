#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Header fields across the sidecar, as an attacker writes them.

Bot side: a header name that is not an RFC 9110 token ("Host :",
"Transfer-Encoding :" with a smuggled request behind it, "X(y)", a DEL,
an empty name) or a value with a control character gets a 400 JSON error
and a closed connection, and nothing reaches the upstream. An empty
header value is a header of its own: the next header arrives intact.

Upstream side: a raw TLS server answers with names that are not tokens,
bare CRs, conflicting or doubtful framing headers. The bot gets a 502 JSON
error, and its kept-alive connection still serves the next request.
TAP output."""

import http.client
import os
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap, Sidecar, StandIn, Certs, request, token  # noqa: E402


def exchange(port, data, timeout=harness.CLIENT_TIMEOUT):
    """Send raw bytes, read until the sidecar closes; (bytes, closed).
    timeout: a bound on waiting for the answer and close that come."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = bytearray()
    closed = False
    try:
        s.sendall(data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                c = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not c:
                closed = True
                break
            out += c
    finally:
        s.close()
    return bytes(out), closed


def stop_ok(t, sc, desc):
    st, killed = sc.stop()
    t.ok(st == 0 and not killed, "%s: the sidecar exits 0 on SIGTERM "
         "(status %r%s)" % (desc, st, ", killed" if killed else ""))


def api_error(data, status):
    o = harness.try_json(harness.body_of(data)) or {}
    return (harness.status_of(data) == status and o.get("ok") is False
            and o.get("error_code") == status
            and isinstance(o.get("description"), str))


# ------------------------------------------------------------ bot side

def bad_request_cases(tok):
    path = b"/bot%s/sendMessage" % tok.encode()
    body = b'{"chat_id": 1, "text": "hi"}'
    smuggled = (b"POST /bot999:SMUGGLED/sendMessage HTTP/1.1\r\n"
                b"Host: x\r\nContent-Length: 2\r\n\r\n{}")
    chunk = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)

    def post(hdrs, tail=body):
        return (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\n%s\r\n%s"
                % (path, hdrs, tail))
    return [
        ("Host : evil.example", post(b"Host : evil.example\r\n"
                                     b"Content-Length: %d\r\n" % len(body))),
        ("Transfer-Encoding : chunked with a smuggled request",
         post(b"Content-Length: %d\r\nTransfer-Encoding : chunked\r\n"
              % (len(chunk) + len(smuggled)), chunk + smuggled)),
        ("Transfer-Encoding : chunked alone, a request inside its body",
         post(b"Transfer-Encoding : chunked\r\n", b"%x\r\n%s\r\n0\r\n\r\n"
              % (len(smuggled), smuggled))),
        ("Transfer-Encoding: chunked<TAB> (http-parser: no body)",
         post(b"Transfer-Encoding: chunked\t\r\n", chunk)),
        ("Transfer-Encoding: gzip, chunked",
         post(b"Transfer-Encoding: gzip, chunked\r\n", chunk)),
        ("Transfer-Encoding: chunked twice",
         post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
              chunk)),
        ("Content-Length : N", post(b"Content-Length : %d\r\n" % len(body))),
        ("Connection : close", post(b"Connection : close\r\n"
                                    b"Content-Length: %d\r\n" % len(body))),
        ("Expect : 100-continue", post(b"Expect : 100-continue\r\n"
                                       b"Content-Length: %d\r\n" % len(body))),
        ("Proxy-Authorization : Basic", post(
            b"Proxy-Authorization : Basic dXNlcjpwdw==\r\n"
            b"Content-Length: %d\r\n" % len(body))),
        ("X y: a name with a space", post(b"X y: 1\r\n"
                                          b"Content-Length: %d\r\n" % len(body))),
        ("X(y): a name with a parenthesis", post(
            b"X(y): 1\r\nContent-Length: %d\r\n" % len(body))),
        ("a name with DEL (0x7f)", post(b"X\x7fy: 1\r\n"
                                        b"Content-Length: %d\r\n" % len(body))),
        ("an empty name", post(b": 1\r\nContent-Length: %d\r\n" % len(body))),
        ("a name with a tab before the colon", post(
            b"X-A\t: 1\r\nContent-Length: %d\r\n" % len(body))),
        ("a value with a bare CR", post(b"X-A: 1\rX-B: 2\r\n"
                                        b"Content-Length: %d\r\n" % len(body))),
        ("a CR without LF right after the colon", post(
            b"X-A:\rContent-Length: 999\r\nContent-Length: %d\r\n"
            % len(body))),
        ("a CR and another byte ending the head", post(
            b"Content-Length: %d\r\n\rZ" % len(body))),
        ("a CR without LF in the request line",
         b"GET /bot%s/getMe HTTP/1.1\rX\nHost: x\r\n\r\n" % tok.encode()),
        ("a value with NUL", post(b"X-A: 1\x002\r\n"
                                  b"Content-Length: %d\r\n" % len(body))),
        ("a value with 0x01", post(b"X-A: 1\x012\r\n"
                                   b"Content-Length: %d\r\n" % len(body))),
        ("a GET with Host :", b"GET /bot%s/getMe HTTP/1.1\r\nHost : x\r\n\r\n"
         % tok.encode()),
    ]


def check_bad_requests(t, wd, si, certs, secrets):
    secret = harness.unique_secret("hdr")
    secrets.append(secret)
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 name="sidecar-hdr").start()
    try:
        for desc, data in bad_request_cases(token(secret)):
            si.reset()
            before = si.stats()["conns_used"]
            out, closed = exchange(sc.port, data)
            t.ok(api_error(out, 400), "%s: 400 JSON error (got %r)"
                 % (desc, harness.status_of(out)))
            if harness.status_of(out) != 400:
                t.diag("reply: %r" % harness.shorten(out))
            t.ok(closed and len(harness.parse_responses(out)) == 1,
                 "%s: one reply, then the connection is closed" % desc)
            st = si.stats()
            t.ok(st["conns_used"] == before and not st["requests"],
                 "%s: the stand-in received nothing" % desc)
        r = request(sc.conn(), "GET", "/bot%s/getMe" % token(secret))
        t.is_(r.status, 200, "getMe still answers 200 after them")
    finally:
        stop_ok(t, sc, "bad headers")
    t.ok(secret not in sc.log(), "bad headers: no token secret in the log")


def empty_value_cases():
    return [
        ("X-Trace: (empty) before Content-Type", b"X-Trace:\r\n", ["X-Trace"]),
        ("X-Trace: (spaces only) before Content-Type", b"X-Trace:   \r\n",
         ["X-Trace"]),
        ("two empty values in a row", b"X-A:\r\nX-B:\r\n", ["X-A", "X-B"]),
    ]


def send_in_bytes(port, data, timeout=harness.CLIENT_TIMEOUT):
    """One byte per write, so the parser sees names and values in pieces."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    out = bytearray()
    try:
        for i in range(len(data)):
            s.send(data[i:i + 1])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                c = s.recv(65536)
            except socket.timeout:
                break
            if not c:
                break
            out += c
            if harness.parse_responses(bytes(out)):
                break
    finally:
        s.close()
    return bytes(out)


def check_cr_in_body(t, wd, si, certs, secrets):
    """CRs in a body are data: only the head is held to CRLF."""
    secret = harness.unique_secret("crb")
    secrets.append(secret)
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 name="sidecar-crbody").start()
    body = b"chat_id=3&text=a\rb\r\rc\r"
    try:
        si.reset()
        out, closed = exchange(sc.port, b"POST /bot%s/sendMessage HTTP/1.1\r\n"
                               b"Host: x\r\nContent-Type: application/"
                               b"x-www-form-urlencoded\r\nContent-Length: %d"
                               b"\r\nConnection: close\r\n\r\n%s"
                               % (token(secret).encode(), len(body), body))
        o = harness.try_json(harness.body_of(out)) or {}
        t.ok(harness.status_of(out) == 200 and
             (o.get("result") or {}).get("text") == "a\rb\r\rc\r",
             "a body with bare CRs, in the same write as the head, arrives "
             "intact (%r)" % harness.status_of(out))
    finally:
        stop_ok(t, sc, "CRs in a body")


def check_empty_values(t, wd, si, certs, secrets):
    secret = harness.unique_secret("emp")
    secrets.append(secret)
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 name="sidecar-empty").start()
    body = b'{"chat_id": 7, "text": "empty values are headers"}'
    try:
        for desc, hdrs, names in empty_value_cases():
            for how, send in (("one write", lambda d: exchange(
                    sc.port, d)[0]), ("byte by byte", lambda d: send_in_bytes(
                        sc.port, d))):
                si.reset()
                data = (b"POST /bot%s/sendMessage HTTP/1.1\r\nHost: x\r\n"
                        b"%sContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                        % (token(secret).encode(), hdrs, len(body), body))
                out = send(data)
                o = harness.try_json(harness.body_of(out)) or {}
                t.ok(harness.status_of(out) == 200 and
                     (o.get("result") or {}).get("text") ==
                     "empty values are headers",
                     "%s, %s: sendMessage answers 200 with the text" % (desc, how))
                reqs = si.stats()["requests"]
                got = reqs[0].get("headers") if len(reqs) == 1 else []
                seen = [[k, v] for k, v in got if k in names]
                t.is_(seen, [[n, ""] for n in names],
                      "%s, %s: upstream got each as an empty header" % (desc, how))
                t.ok(len(reqs) == 1 and
                     reqs[0]["content_type"] == "application/json" and
                     reqs[0]["body_len"] == len(body) and
                     not [k for k, v in got if "Content-Type" in k and
                          k != "Content-Type"],
                     "%s, %s: Content-Type and the body arrived intact"
                     % (desc, how))
    finally:
        stop_ok(t, sc, "empty values")


# ------------------------------------------------------------ upstream side

GOOD_BODY = b'{"ok":true,"result":{"id":123456,"is_bot":true}}'


def hostile_replies():
    """Method name -> (description, raw reply head; the body follows)."""
    b = GOOD_BODY
    cl = b"Content-Length: %d\r\n" % len(b)
    return [
        ("case1", "a name with a space before the colon",
         b"HTTP/1.1 200 OK\r\nX-A : 1\r\n" + cl),
        ("case2", "Transfer-Encoding : chunked",
         b"HTTP/1.1 200 OK\r\n" + cl + b"Transfer-Encoding : chunked\r\n"),
        ("case3", "a name with a parenthesis",
         b"HTTP/1.1 200 OK\r\nX(y): 1\r\n" + cl),
        ("case4", "a bare CR in a value",
         b"HTTP/1.1 200 OK\r\nX-A: 1\rX-B: 2\r\n" + cl),
        ("case5", "a value with 0x01",
         b"HTTP/1.1 200 OK\r\nX-A: 1\x012\r\n" + cl),
        ("case6", "two different Content-Lengths",
         b"HTTP/1.1 200 OK\r\n" + cl + b"Content-Length: %d\r\n" % (len(b) - 5)),
        ("case7", "Content-Length and Transfer-Encoding",
         b"HTTP/1.1 200 OK\r\n" + cl + b"Transfer-Encoding: chunked\r\n"),
        ("case8", "Transfer-Encoding that does not end in chunked",
         b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"),
        ("case9", "Content-Length with trailing garbage",
         b"HTTP/1.1 200 OK\r\nContent-Length: %dx\r\n" % len(b)),
        ("case10", "an obs-fold continuation line",
         b"HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\n" + cl),
        ("case11", "a line without a colon",
         b"HTTP/1.1 200 OK\r\nnot a header\r\n" + cl),
        ("case12", "100 KB of headers",
         b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000)
                                          for i in range(100)) + cl),
    ]


class Hostile:
    """A TLS server that answers each request with the reply its method
    (the last path segment) names, then closes; getMe gets a good one."""

    def __init__(self, certs):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certs.cert, certs.key)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.replies = {m: head for m, _, head in hostile_replies()}
        self.lock = threading.Lock()
        self.served = []        # method names, in order
        self.open = 0
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

    def one(self, s):
        try:
            # For the sidecar's request, and its close after the reply.
            s.settimeout(harness.CLIENT_TIMEOUT)
            tls = self.ctx.wrap_socket(s, server_side=True)
            head = b""
            while b"\r\n\r\n" not in head:
                c = tls.recv(4096)
                if not c:
                    return
                head += c
            path = head.split(b" ")[1].decode("latin-1").split("?")[0]
            m = path.rsplit("/", 1)[-1]
            with self.lock:
                self.served.append(m)
            if m in self.replies:
                tls.sendall(self.replies[m] + b"\r\n" + GOOD_BODY)
            else:
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: "
                            b"application/json\r\nContent-Length: %d\r\n\r\n%s"
                            % (len(GOOD_BODY), GOOD_BODY))
            # Wait for the sidecar to close its side: it must not reuse it.
            while tls.recv(4096):
                pass
        except (OSError, ssl.SSLError):
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


def check_hostile_upstream(t, wd, certs, secrets):
    secret = harness.unique_secret("hos")
    secrets.append(secret)
    h = Hostile(certs)
    sc = Sidecar(wd, upstream=h.url, ca_file=certs.ca_cert, proxy="direct",
                 extra_args=["--retries", "0"], name="sidecar-hostile").start()
    tok = token(secret)
    try:
        c = sc.conn()
        r = request(c, "GET", "/bot%s/getMe" % tok)
        t.is_(r.status, 200, "the raw TLS upstream serves a good getMe")
        for m, desc, _ in hostile_replies():
            try:
                r = request(c, "GET", "/bot%s/%s" % (tok, m))
            except (OSError, http.client.HTTPException) as e:
                r = harness.Reply(0, {}, repr(e).encode())
            o = r.json() or {}
            t.ok(r.status == 502 and o.get("ok") is False and
                 o.get("error_code") == 502,
                 "upstream replies with %s: the bot gets a 502 JSON error (%d)"
                 % (desc, r.status))
            if r.status != 502:
                t.diag("reply: %r %r" % (r, dict(r.headers)))
            try:
                r = request(c, "GET", "/bot%s/getMe" % tok)
            except (OSError, http.client.HTTPException) as e:
                r = harness.Reply(0, {}, repr(e).encode())
            t.ok(r.status == 200 and r.body == GOOD_BODY,
                 "after %s: the same kept-alive bot connection serves getMe"
                 % desc)
            if r.status != 200 or r.body != GOOD_BODY:
                t.diag("reply: %r" % r)
                c.close()
                c = sc.conn()
        c.close()
        t.ok(harness.wait_until(lambda: h.open == 0, 10 * harness.time_scale()),
             "every upstream connection was closed by the sidecar")
        log = sc.log()
        t.like(log, "cannot frame", "the access log says why the reply "
               "was refused")
        r = request(sc.conn(), "GET", "/metrics")
        want = 'tgsidecar_errors_total{stage="upstream"} %d' % len(
            hostile_replies())
        t.like(r.body.decode("utf-8", "replace"), want,
               "/metrics counts each refused reply as an upstream error")
    finally:
        stop_ok(t, sc, "hostile upstream")
        h.close()


def main():
    t = Tap()
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    secrets = []
    t.run_parts((check_bad_requests, check_cr_in_body, check_empty_values), wd,
                 si, certs, secrets)
    si.stop()
    try:
        check_hostile_upstream(t, wd, certs, secrets)
    except Exception:
        t.fail_exception("check_hostile_upstream")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
