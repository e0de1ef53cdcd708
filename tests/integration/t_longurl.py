#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Long request heads, as pyTelegramBotAPI makes them (issue 12, part 2).

It puts every parameter in the query string, even for a POST: a
sendMessage of 4,096 Cyrillic characters is a 24 KB request-target. It
reaches the TLS stand-in for the Bot API intact (its decoded text
compared), and neither the text nor the token shows in the log.

max_header_size bounds the whole head (request line and header fields,
256K by default, as the Bot API server's own reader): a head of exactly
that size goes through to a plain-HTTP upstream with its target intact; a
request line one byte over gets a 414 JSON error, header fields one byte
over a 431 one, more than 256 header fields a 431, and nothing of these
reaches the upstream. The largest allowed, 512K, is twice the input
buffer of a bot connection: such a head is read through and sent on by
libcurl. A smaller max_header_size from the config file is honoured the
same way, and a SIGHUP that lowers it leaves a head already begun under
the old limit. TAP output."""

import http.client
import json
import os
import signal
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

DEFAULT_MAX = 256 * 1024
LARGEST_MAX = 512 * 1024
SMALL_MAX = 16 * 1024
SMALLER_MAX = 8 * 1024
FIELDS_MAX = 256
# U+0410..U+044F and U+0451: every one two bytes of UTF-8, six as %XX%XX.
CYRILLIC = [chr(c) for c in range(0x410, 0x450)] + ["\u0451"]


def cyrillic_text(n):
    return "".join(CYRILLIC[(i * 7) % len(CYRILLIC)] for i in range(n))


def exchange(port, data, timeout=harness.CLIENT_TIMEOUT, piece=None):
    """Send raw bytes (in writes of piece bytes); read one response with
    its body (or until the sidecar closes). The sidecar may close while we
    still send: that is no failure here."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = bytearray()
    piece = piece or len(data)
    try:
        try:
            for i in range(0, len(data), piece):
                s.sendall(data[i:i + piece])
        except (BrokenPipeError, ConnectionResetError):
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                c = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not c:
                break
            out += c
            if complete(out):
                break
    finally:
        s.close()
    return bytes(out)


def complete(out):
    head, sep, rest = bytes(out).partition(b"\r\n\r\n")
    cl = harness.parse_content_length(head) if sep else None
    return cl is not None and len(rest) >= cl


def api_error(data, status, substr=None):
    o = harness.try_json(harness.body_of(data)) or {}
    good = (harness.status_of(data) == status and o.get("ok") is False
            and o.get("error_code") == status
            and isinstance(o.get("description"), str))
    if good and substr is not None:
        good = substr in o["description"]
    return good


def head_of_size(path, size, field="X-Pad"):
    """A GET head of exactly size bytes: the padding in one header field
    (or, with field None, in the target's query after pad=)."""
    if field is None:
        fixed = len(b"GET %s&pad= HTTP/1.1\r\nHost: x\r\n\r\n" % path)
        return (b"GET %s&pad=%s HTTP/1.1\r\nHost: x\r\n\r\n"
                % (path, b"u" * (size - fixed)))
    fixed = len(b"GET %s HTTP/1.1\r\nHost: x\r\n%s: \r\n\r\n"
                % (path, field.encode()))
    return (b"GET %s HTTP/1.1\r\nHost: x\r\n%s: %s\r\n\r\n"
            % (path, field.encode(), b"h" * (size - fixed)))


def line_of_size(path, size):
    """A GET head whose request line (CRLF included) is size bytes."""
    fixed = len(b"GET %s&pad= HTTP/1.1\r\n" % path)
    return (b"GET %s&pad=%s HTTP/1.1\r\nHost: x\r\n\r\n"
            % (path, b"u" * (size - fixed)))


def stop_ok(t, sc, desc):
    st, killed = sc.stop()
    t.ok(st == 0 and not killed, "%s: the sidecar exits 0 on SIGTERM "
         "(status %r%s)" % (desc, st, ", killed" if killed else ""))


def wait_log(sc, sub, timeout=10.0):
    return harness.wait_until(lambda: sub in sc.log(), timeout)


class RawUpstream:
    """A plain-HTTP Bot API stand-in on loopback with no limit of its own
    on the head: it records each request line and answers 200 JSON."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lines = []
        self.lock = threading.Lock()
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _serve(self, c):
        buf = bytearray()
        c.settimeout(harness.patient(10))
        try:
            while b"\r\n\r\n" not in buf and len(buf) < (4 << 20):
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            head = bytes(buf).partition(b"\r\n\r\n")[0]
            line = head.split(b"\r\n")[0]
            with self.lock:
                self.lines.append(line)
            body = json.dumps({"ok": True, "result": {
                "line_len": len(line),
                "fields": len(head.split(b"\r\n")) - 1}}).encode()
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                      % (len(body), body))
        except OSError:
            pass
        finally:
            c.close()

    def taken(self):
        with self.lock:
            lines, self.lines = self.lines, []
        return lines

    def close(self):
        self.sock.close()


# ------------------------------------------------------------ the parts

def check_cyrillic(t, wd, certs, si, secrets):
    """4,096 Cyrillic characters in a query-string POST sendMessage, the
    way pyTelegramBotAPI sends it, under the default max_header_size."""
    secret = harness.unique_secret("longurl")
    secrets.append(secret)
    tok = token(secret)
    text = cyrillic_text(4096)
    query = urllib.parse.urlencode({"chat_id": 42, "text": text,
                                    "parse_mode": "HTML"})
    path = "/bot%s/sendMessage?%s" % (tok, query)
    t.diag("request-target: %d bytes" % len(path))
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert).start()
    try:
        c = sc.conn()
        c.request("POST", path, body=b"",
                  headers={"User-Agent": "pyTelegramBotAPI-like",
                           "Accept": "*/*"})
        r = c.getresponse()
        o = harness.try_json(r.read()) or {}
        t.is_(r.status, 200, "a %d-byte request-target: 200 (over the old "
              "8 KiB cap)" % len(path))
        t.ok(o.get("ok") is True and
             (o.get("result") or {}).get("text") == text,
             "the reply's text is the 4,096 Cyrillic characters sent")
        seen = [q for q in si.stats()["requests"]
                if q["method"] == "sendMessage"
                and q.get("http_method") == "POST"]
        got = urllib.parse.parse_qs(seen[-1]["query"]) if seen else {}
        t.ok(got.get("text") == [text] and got.get("chat_id") == ["42"],
             "the stand-in decodes the same 4,096 characters from the "
             "query of the POST")
        # The same connection goes on.
        r = request(c, "GET", "/bot%s/getMe" % tok)
        t.is_(r.status, 200, "the connection serves the next request")
        c.close()
        stop_ok(t, sc, "default max_header_size")
    finally:
        sc.stop()
    log = sc.log()
    t.ok("status=200" in log and "sendMessage" in log,
         "the access log has the sendMessage")
    t.ok(secret not in log and "%D0" not in log and text[:8] not in log
         and "text=" not in log,
         "the log holds neither the token nor the query")


def check_default_limits(t, wd, certs, si, secrets):
    """The default max_header_size (256K) against a plain-HTTP upstream
    that takes any head."""
    up = RawUpstream()
    tok = token(harness.unique_secret("headsize"))
    path = b"/bot%s/getMe?x=1" % tok.encode()
    sc = Sidecar(wd, upstream=up.url).start()
    try:
        data = head_of_size(path, DEFAULT_MAX, field=None)
        want = data.split(b" ")[1]
        r = exchange(sc.port, data)
        t.is_(harness.status_of(r), 200, "a head of exactly 256 KiB, all "
              "but %d bytes of it the target: 200" % (len(data) - len(want)))
        lines = up.taken()
        t.ok(len(lines) == 1 and lines[0].split(b" ")[1] == want,
             "its %d-byte target reaches the upstream intact through "
             "libcurl" % len(want))

        r = exchange(sc.port, line_of_size(path, DEFAULT_MAX + 1))
        t.ok(api_error(r, 414, "max_header_size (262144 bytes)"),
             "a request line of 256 KiB + 1 byte: 414 JSON naming "
             "max_header_size")
        if not api_error(r, 414):
            t.diag("got %r" % r[:300])
        r = exchange(sc.port, head_of_size(path, DEFAULT_MAX + 1))
        t.ok(api_error(r, 431, "max_header_size (262144 bytes)"),
             "header fields that make the head 256 KiB + 1 byte: 431 JSON")
        if not api_error(r, 431):
            t.diag("got %r" % r[:300])

        fields = b"".join(b"X-F%d: 1\r\n" % i for i in range(FIELDS_MAX + 1))
        r = exchange(sc.port, b"GET %s HTTP/1.1\r\n%s\r\n" % (path, fields))
        t.ok(api_error(r, 431, "more than 256 header fields"),
             "257 header fields: 431 JSON")
        fields = b"".join(b"X-F%d: 1\r\n" % i for i in range(FIELDS_MAX - 1))
        r = exchange(sc.port, b"GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n"
                     % (path, fields))
        o = harness.try_json(harness.body_of(r)) or {}
        t.ok(harness.status_of(r) == 200 and
             (o.get("result") or {}).get("fields", 0) >= FIELDS_MAX - 1,
             "256 header fields: 200, each of them forwarded")
        t.is_(len(up.taken()), 1, "of these, only the last reached the "
              "upstream")
        # A head over the limit, sent a few bytes at a time: the count
        # runs across the pieces.
        r = exchange(sc.port, line_of_size(path, DEFAULT_MAX + 100),
                     piece=60000)
        t.ok(api_error(r, 414), "a request line of 256 KiB + 100 bytes "
             "in writes of 60,000 bytes: 414 JSON")
        t.is_(up.taken(), [], "none of the refused heads reached the "
              "upstream")
        stop_ok(t, sc, "plain-HTTP upstream")
    finally:
        sc.stop()
        up.close()


def check_largest(t, wd, certs, si, secrets):
    """max_header_size = 512K, the most allowed: a head twice the bot
    connection's 256 KiB input buffer is read through, and libcurl sends
    a 512 KiB target on."""
    up = RawUpstream()
    tok = token(harness.unique_secret("headsize512"))
    path = b"/bot%s/getMe?x=1" % tok.encode()
    sc = Sidecar(wd, upstream=up.url,
                 extra_args=["--max-header-size", "512K"]).start()
    try:
        for field, what in ((None, "target"), ("X-Pad", "header field")):
            data = head_of_size(path, LARGEST_MAX, field=field)
            r = exchange(sc.port, data)
            lines = up.taken()
            t.ok(harness.status_of(r) == 200 and len(lines) == 1 and
                 lines[0] == data.split(b"\r\n")[0],
                 "a 512 KiB head, most of it one %s: 200, and the request "
                 "line reaches the upstream intact" % what)
        r = exchange(sc.port, line_of_size(path, LARGEST_MAX + 1))
        t.ok(api_error(r, 414, "(524288 bytes)"), "one byte more in the "
             "request line: 414 JSON")
        stop_ok(t, sc, "max_header_size = 512K")
    finally:
        sc.stop()
        up.close()


def check_configured(t, wd, certs, si, secrets):
    """max_header_size = 16K from the file, then 8K by SIGHUP."""
    tok = token(harness.unique_secret("headsize16"))
    path = b"/bot%s/getMe?x=1" % tok.encode()
    conf = os.path.join(wd, "longurl.conf")
    base = [("upstream", si.url), ("ca_file", certs.ca_cert)]
    harness.write_config(conf, base + [("max_header_size", "16K")])
    sc = Sidecar(wd, extra_args=["-c", conf]).start()
    try:
        query = urllib.parse.urlencode({"chat_id": 42,
                                        "text": cyrillic_text(4096)})
        before = len([q for q in si.stats()["requests"]
                      if q["method"] == "sendMessage"])
        r = exchange(sc.port, b"POST /bot%s/sendMessage?%s HTTP/1.1\r\n"
                     b"Host: x\r\nContent-Length: 0\r\n\r\n"
                     % (tok.encode(), query.encode()))
        t.ok(api_error(r, 414, "max_header_size (16384 bytes)"),
             "max_header_size = 16K: the 24 KB sendMessage gets 414 JSON")
        r = exchange(sc.port, head_of_size(path, SMALL_MAX, field=None))
        t.is_(harness.status_of(r), 200, "a head of exactly 16 KiB: 200")
        r = exchange(sc.port, head_of_size(path, SMALL_MAX + 1))
        t.ok(api_error(r, 431, "max_header_size (16384 bytes)"),
             "a head of 16 KiB + 1 byte in its fields: 431 JSON")
        r = exchange(sc.port, line_of_size(path, SMALL_MAX + 1))
        t.ok(api_error(r, 414), "a request line of 16 KiB + 1 byte: 414 "
             "JSON")
        t.is_(len([q for q in si.stats()["requests"]
                   if q["method"] == "sendMessage"]), before,
              "the refused sendMessage never reached the stand-in")

        # A head begun under 16K keeps it across a reload to 8K.
        data = head_of_size(path, 12 * 1024, field=None)
        held = socket.create_connection(("127.0.0.1", sc.port),
                                        timeout=harness.CLIENT_TIMEOUT)
        try:
            held.sendall(data[:10 * 1024])
            # A whole exchange after it: the sidecar has read those bytes.
            r = exchange(sc.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                         b"\r\n")
            t.is_(harness.status_of(r), 200, "/healthz while a head is "
                  "half sent")
            harness.write_config(conf, base + [("max_header_size", "8K")])
            sc.proc.send_signal(signal.SIGHUP)
            t.ok(wait_log(sc, "configuration reloaded"),
                 "SIGHUP: max_header_size = 8K is in force")
            held.sendall(data[10 * 1024:])
            out = bytearray()
            while not complete(out):
                c = held.recv(65536)
                if not c:
                    break
                out += c
        finally:
            held.close()
        t.is_(harness.status_of(bytes(out)), 200, "the 12 KiB head begun "
              "before the reload still gets 200")
        r = exchange(sc.port, data)
        t.ok(api_error(r, 414, "max_header_size (8192 bytes)"),
             "the same head on a new connection: 414 under 8K")
        stop_ok(t, sc, "max_header_size from the file")
    finally:
        sc.stop()


def main():
    t = Tap()
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    secrets = []
    try:
        t.run_parts((check_cyrillic, check_default_limits, check_largest,
                     check_configured), wd, certs, si, secrets)
    finally:
        si.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
