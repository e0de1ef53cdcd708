#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""File downloads with the file_path values real Bot API servers hand out
(issue 12): spaces and parentheses, percent-encoded UTF-8, raw UTF-8, and
the absolute paths of a local server in --local mode, with the token's
colon as ':' or '%3A'. Each reaches the TLS stand-in with the path after
/file/bot<token> exactly as the bot sent it (raw bytes past ASCII escaped),
the query as sent, and the bot gets the file. What could leave
/file/bot<token>/ (dot-segments however written, escaped slashes and
backslashes, backslashes, escaped CR/LF/NUL, malformed escapes, fragments)
gets a 400 JSON error, a path over 4096 bytes a 414, and neither opens a
connection to the upstream. The method route is as before. TAP output."""

import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap, Sidecar, StandIn, Certs, token  # noqa: E402

FILE_MAX = 4096


def get(sc, target):
    """GET target (bytes, as sent on the wire); the first Reply or None."""
    data = (b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            % target)
    out = harness.raw_exchange(sc.host, sc.port, data,
                               timeout=harness.patient(20))
    rs = harness.parse_responses(out)
    return rs[0] if rs else None


def api_error(r, status):
    o = r.json() if r is not None else None
    return (r is not None and r.status == status and isinstance(o, dict)
            and o.get("ok") is False and o.get("error_code") == status
            and isinstance(o.get("description"), str))


def seen(si):
    """(path, query, host) of each request the stand-in received."""
    return [(q["path"], q["query"], q["host"])
            for q in si.stats()["requests"]]


def served_cases(tok, secret):
    """(description, target as sent, file_path the server handed out,
    path the upstream must see, query it must see)."""
    pct = tok.replace(":", "%3A")
    local = "/var/lib/telegram-bot-api/%s/documents/file_3.p12"
    return [
        ("a space and parentheses",
         "/file/bot%s/animations/clip%%20(1).mp4" % tok,
         "animations/clip (1).mp4",
         "/file/bot%s/animations/clip%%20(1).mp4" % tok, ""),
        ("percent-encoded UTF-8",
         "/file/bot%s/documents/%%D0%%BE%%D1%%82%%D1%%87%%D0%%B5%%D1%%82.pdf"
         % tok, "documents/\u043e\u0442\u0447\u0435\u0442.pdf",
         "/file/bot%s/documents/%%D0%%BE%%D1%%82%%D1%%87%%D0%%B5%%D1%%82.pdf"
         % tok, ""),
        ("a local server's absolute path",
         "/file/bot%s/%s" % (tok, local % tok), local % tok,
         "/file/bot%s/%s" % (tok, local % tok), ""),
        ("a local server's absolute path with %3A in its token",
         "/file/bot%s/%s" % (tok, local % pct), local % tok,
         "/file/bot%s/%s" % (tok, local % pct), ""),
        ("%3A in both tokens",
         "/file/bot%s/%s" % (pct, local % pct), local % tok,
         "/file/bot%s/%s" % (tok, local % pct), ""),
        ("a query string, forwarded as sent",
         "/file/bot%s/animations/clip%%20(1).mp4?a=%%20b&c=(d)" % tok,
         "animations/clip (1).mp4",
         "/file/bot%s/animations/clip%%20(1).mp4" % tok, "a=%20b&c=(d)"),
        ("'@', ':', escaped '?' and '#': the host stays the upstream",
         "/file/bot%s/documents/a@b:c%%3Fd%%23e.txt" % tok,
         "documents/a@b:c?d#e.txt",
         "/file/bot%s/documents/a@b:c%%3Fd%%23e.txt" % tok, ""),
        ("dots that make no dot-segment, which libcurl leaves alone",
         "/file/bot%s/a/.../..x/.hidden/x../;../f" % tok,
         "a/.../..x/.hidden/x../;../f",
         "/file/bot%s/a/.../..x/.hidden/x../;../f" % tok, ""),
        ("lower-case escapes and an escaped percent sign",
         "/file/bot%s/documents/%%d0%%be%%25.txt" % tok,
         "documents/\u043e%.txt",
         "/file/bot%s/documents/%%d0%%be%%25.txt" % tok, ""),
    ]


def check_served(t, sc, si, tok, secret):
    for desc, target, fpath, want_path, want_query in served_cases(tok,
                                                                   secret):
        si.reset()
        body = "file at %s" % fpath
        si.put_file(fpath, body)
        r = get(sc, target.encode())
        t.ok(r is not None and r.status == 200 and
             r.body == body.encode("utf-8"),
             "%s: the bot gets the file (status %r)"
             % (desc, r and r.status))
        t.is_(seen(si), [(want_path, want_query, "127.0.0.1:%d" % si.port)],
              "%s: the upstream saw the path as sent" % desc)


def check_raw_utf8(t, sc, si, tok, secret):
    """Raw bytes past ASCII are not a valid request-target; libcurl would
    escape them in lower case: the sidecar escapes them in upper case."""
    si.reset()
    name = "documents/\u043e\u0442\u0447\u0435\u0442 (2).pdf"
    si.put_file(name, "raw")
    r = get(sc, ("/file/bot%s/documents/\u043e\u0442\u0447\u0435\u0442"
                 "%%20(2).pdf" % tok).encode("utf-8"))
    t.ok(r is not None and r.status == 200 and r.body == b"raw",
         "raw UTF-8: the bot gets the file (status %r)" % (r and r.status))
    t.is_([s[0] for s in seen(si)],
          ["/file/bot%s/documents/%%D0%%BE%%D1%%82%%D1%%87%%D0%%B5%%D1%%82"
           "%%20(2).pdf" % tok],
          "raw UTF-8: escaped, the rest of the path as sent")


def refused_cases(tok):
    tk = tok.encode()
    return [
        ("../ back to a method", b"/file/bot%s/../../bot%s/getMe" % (tk, tk)),
        ("%2e%2e segments", b"/file/bot%s/documents/%%2e%%2e/%%2E%%2e/bot%s/"
         b"getMe" % (tk, tk)),
        (".%2E that stays inside", b"/file/bot%s/a/.%%2E/b" % tk),
        ("a dot-segment after an empty one", b"/file/bot%s//../x" % tk),
        ("..; segments", b"/file/bot%s/docs/..;/..;/bot%s/getMe" % (tk, tk)),
        ("%2f around ..", b"/file/bot%s/a%%2f..%%2f..%%2fx" % tk),
        ("%2F in a file path", b"/file/bot%s/documents%%2Ffile_1.bin" % tk),
        ("%5C around ..", b"/file/bot%s/a%%5C..%%5Cx" % tk),
        ("backslashes", b"/file/bot%s/a\\..\\x" % tk),
        ("%0D%0A", b"/file/bot%s/a%%0D%%0AHost:%%20evil.example" % tk),
        ("%00", b"/file/bot%s/a%%00.pdf" % tk),
        ("a malformed escape", b"/file/bot%s/a%%zz" % tk),
        ("a fragment", b"/file/bot%s/clip(1).mp4#t=1" % tk),
        ("a raw CR", b"/file/bot%s/a\rb" % tk),
    ]


def check_refused(t, sc, si, tok, secret):
    si.reset()
    # Requests, not connections: a spare opened ahead carries none.
    before = si.stats()["conns_used"]
    for desc, target in refused_cases(tok):
        r = get(sc, target)
        t.ok(api_error(r, 400), "%s: 400 JSON error (%r)" % (desc, r))
    t.is_(si.stats()["conns_used"], before,
          "refusals: no upstream connection carried a request")
    t.is_(seen(si), [], "refusals: the upstream saw no request")


def check_length(t, sc, si, tok, secret):
    """The bound is on the path as it goes upstream, after the token."""
    si.reset()
    at = "/file/bot%s/%s" % (tok, "f" * FILE_MAX)
    r = get(sc, at.encode())
    t.ok(api_error(r, 404), "a file path of %d bytes is asked upstream "
         "(the stand-in's 404: %r)" % (FILE_MAX, r))
    paths = [s[0] for s in seen(si)]
    t.ok(paths == [at], "a file path of %d bytes: upstream saw it whole "
         "(%r bytes)" % (FILE_MAX, [len(p) for p in paths]))
    si.reset()
    before = si.stats()["conns_used"]
    for desc, target in (
            ("%d bytes" % (FILE_MAX + 1), "/file/bot%s/%s"
             % (tok, "f" * (FILE_MAX + 1))),
            ("%d raw bytes of UTF-8, %d escaped" % (2 * 1366, 6 * 1366),
             "/file/bot%s/%s" % (tok, "\u043e" * 1366))):
        r = get(sc, target.encode("utf-8"))
        t.ok(api_error(r, 414), "a file path of %s: 414 JSON error (%r)"
             % (desc, r))
    t.is_(si.stats()["conns_used"], before,
          "over the bound: no upstream connection carried a request")


def check_methods(t, sc, si, tok, secret):
    """The method route is as strict as before, and decoded upstream."""
    si.reset()
    r = get(sc, b"/bot%s/get%%4De" % tok.replace(":", "%3A").encode())
    o = r.json() if r is not None else None
    t.ok(r is not None and r.status == 200 and (o or {}).get("ok") is True,
         "/bot<token with %%3A>/get%%4De: getMe answers (%r)" % r)
    t.is_([s[0] for s in seen(si)], ["/bot%s/getMe" % tok],
          "the method path goes upstream decoded, as before")
    si.reset()
    for target in (b"/bot%s/get%%20Me" % tok.encode(),
                   b"/bot%s/get%%2FMe" % tok.encode()):
        r = get(sc, target)
        t.ok(api_error(r, 400), "%s: 400 JSON error (%r)"
             % (target.replace(tok.encode(), b"<token>").decode(), r))
    t.is_(seen(si), [], "refused methods: the upstream saw no request")


def check_log(t, sc, si, tok, secret):
    t.ok(secret not in sc.log(),
         "no token secret in the log, not even from a local server's path")


def main():
    t = Tap()
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    secret = harness.unique_secret("fp")
    tok = token(secret)
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 name="sidecar-filepaths")
    try:
        sc.start()
        t.run_parts((check_served, check_raw_utf8, check_refused,
                     check_length, check_methods, check_log),
                    sc, si, tok, secret)
        st, killed = sc.stop()
        t.ok(st == 0 and not killed, "the sidecar exits 0 on SIGTERM "
             "(status %r%s)" % (st, ", killed" if killed else ""))
    finally:
        sc.proc.kill_quietly()
        si.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
