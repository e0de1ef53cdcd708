#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Errors tgsidecar makes itself: a proxy that is down or refuses us, a
certificate signed by the wrong CA, requests it must not forward, and
bodies over max_body. Each is a JSON {"ok":false,"error_code":N,...}
reply; no secret (token or proxy password) reaches the log. TAP output."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap, Sidecar, StandIn, Certs, request, token  # noqa: E402
import proxies  # noqa: E402

PROXY_PASSWORD = "S3cr3tPw"


def check_api_error(t, reply, status, substr, desc):
    """reply is a sidecar-made error: HTTP status, JSON body with ok false,
    the same error_code, and a description containing substr."""
    o = reply.json() if hasattr(reply, "json") else harness.try_json(reply.body)
    good = (reply.status == status and isinstance(o, dict)
            and o.get("ok") is False and o.get("error_code") == status
            and isinstance(o.get("description"), str))
    if substr is not None and good:
        good = substr.lower() in o["description"].lower()
    t.ok(good, "%s -> %d JSON error%s" % (
        desc, status, ' mentioning "%s"' % substr if substr else ""))
    if not good:
        t.diag("got: %r" % (reply,))
    return o


def upstream_failure_cases(wd, si, certs):
    """(description, setup() -> (sidecar kwargs, cleanup), expected status,
    expected substring of the description, secrets that must not leak)."""
    def proxy_down():
        port = harness.closed_port()
        return {"proxy": "http://127.0.0.1:%d" % port}, None, "127.0.0.1:%d" % port

    def socks_down():
        port = harness.closed_port()
        return {"proxy": "socks5h://127.0.0.1:%d" % port}, None, "127.0.0.1:%d" % port

    def proxy_down_with_password():
        port = harness.closed_port()
        return ({"proxy": "http://user:%s@127.0.0.1:%d" % (PROXY_PASSWORD, port)},
                None, "127.0.0.1:%d" % port)

    def auth_no_creds():
        tp = proxies.Tinyproxy(wd, [si.port], basic_auth=("tuser", "RightPw1")).start()
        return {"proxy": tp.url}, tp, "407"

    def auth_wrong_pass():
        tp = proxies.Tinyproxy(wd, [si.port], basic_auth=("tuser", "RightPw1")).start()
        # tinyproxy 1.11 answers a wrong password with 401, not 407: the
        # description must say the proxy refused, in whichever words.
        return ({"proxy": tp.url_with("tuser", PROXY_PASSWORD)}, tp, None)

    def wrong_ca():
        return {"proxy": "direct", "ca_file": certs.other_ca_cert}, None, "certificate"

    def wrong_ca_via_squid():
        sq = proxies.Squid(wd, [si.port]).start()
        return {"proxy": sq.url, "ca_file": certs.other_ca_cert}, sq, "certificate"

    return [
        ("HTTP proxy down", proxy_down, 502),
        ("SOCKS5 proxy down", socks_down, 502),
        ("HTTP proxy with password down", proxy_down_with_password, 502),
        ("tinyproxy BasicAuth, no credentials", auth_no_creds, 502),
        ("tinyproxy BasicAuth, wrong password", auth_wrong_pass, 502),
        ("upstream certificate from an unrelated CA", wrong_ca, 502),
        ("unrelated CA, through squid", wrong_ca_via_squid, 502),
    ]


def run_upstream_failures(t, wd, si, certs, secrets):
    for desc, setup, status in upstream_failure_cases(wd, si, certs):
        helper = sc = None
        try:
            kw, helper, substr = setup()
            kw.setdefault("ca_file", certs.ca_cert)
            secret = harness.unique_secret("err")
            secrets.append(secret)
            tls_before = si.stats()["tls_failures"]
            sc = Sidecar(wd, upstream=si.url, **kw).start()
            conn = sc.conn()
            t0 = time.monotonic()
            r = request(conn, "GET", "/bot%s/getMe" % token(secret))
            dt = time.monotonic() - t0
            check_api_error(t, r, status, substr, "%s (%.2fs)" % (desc, dt))
            t.ok(token(secret).encode() not in r.body and
                 PROXY_PASSWORD.encode() not in r.body,
                 "%s: the reply holds no token and no password" % desc)
            r2 = request(conn, "GET", "/bot%s/getMe" % token(secret))
            t.is_(r2.status, status, "%s: the bot connection stays usable" % desc)
            conn.close()
            if "certificate" in desc:
                t.ok(si.stats()["tls_failures"] > tls_before,
                     "%s: the stand-in saw the TLS handshake fail" % desc)
            st, killed = sc.stop()
            t.ok(st == 0 and not killed, "%s: sidecar exits 0 on SIGTERM" % desc)
            log = sc.log()
            t.ok(secret not in log and PROXY_PASSWORD not in log,
                 "%s: neither token secret nor proxy password in the log" % desc)
            if secret in log or PROXY_PASSWORD in log:
                t.diag(log[-2000:])
        except Exception:
            t.fail_exception(desc)
            if sc is not None:
                t.diag(sc.log()[-2000:])
        finally:
            if sc is not None:
                sc.stop()
            if helper is not None:
                helper.stop()


def raw_request_cases(si, tok):
    """(description, raw bytes, expected status or (lo, hi) range)."""
    p = si.port
    return [
        ("unknown path /foo", b"GET /foo HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 404),
        ("a method without /bot<token>", b"GET /getMe HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        ("absolute-form target",
         b"GET http://127.0.0.1:%d/bot%s/getMe HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
         % (p, tok.encode(), p), (400, 499)),
        ("CONNECT",
         b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (p, p),
         (400, 499)),
        ("malformed request line", b"THIS IS NOT HTTP\r\n\r\n", 400),
        ("request line without version", b"GET /bot%s/getMe\r\n\r\n" % tok.encode(),
         400),
        ("HTTP/2.0 in an HTTP/1 request line",
         b"GET /bot%s/getMe HTTP/2.0\r\nHost: x\r\n\r\n" % tok.encode(), 400),
        ("/bot<token>/../x", b"GET /bot123456:AAA/../x HTTP/1.1\r\nHost: x\r\n\r\n",
         400),
        ("/bot<token>/getMe/../../x",
         b"GET /bot%s/getMe/../../x HTTP/1.1\r\nHost: x\r\n\r\n" % tok.encode(), 400),
    ]


def allow_cases(tok):
    """(method, path, the methods the resource allows)."""
    return [("POST", "/healthz", ["GET"]), ("PUT", "/readyz", ["GET"]),
            ("DELETE", "/metrics", ["GET"]),
            ("PUT", "/bot%s/getMe" % tok, ["GET", "POST"]),
            ("DELETE", "/file/bot%s/a.jpg" % tok, ["GET", "POST"])]


def check_allow(t, sc, tok):
    """A 405's Allow header lists what the resource allows, and its JSON
    description names the same methods."""
    for method, path, allowed in allow_cases(tok):
        desc = "%s %s" % (method, path.replace(tok, "<token>"))
        conn = sc.conn()
        try:
            r = request(conn, method, path)
        finally:
            conn.close()
        o = check_api_error(t, r, 405, None, desc)
        said = (o or {}).get("description") or ""
        use = said.split("use ", 1)[1] if "use " in said else ""
        t.is_((r.header("Allow"), sorted(use.replace(" or ", ", ")
                                         .split(", "))),
              (", ".join(allowed), allowed),
              "%s: Allow: %s, and the description agrees (%r)"
              % (desc, ", ".join(allowed), said))


def run_raw_requests(t, wd, si, certs, secrets):
    secret = harness.unique_secret("raw")
    secrets.append(secret)
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct").start()
    try:
        before = si.stats()
        for desc, raw, want in raw_request_cases(si, token(secret)):
            if not sc.proc.alive():
                t.ok(False, "%s: the sidecar is still running (exit status %r)"
                     % (desc, sc.proc.poll()))
                t.diag("sidecar log tail:\n" + sc.log()[-1500:])
                continue
            data = harness.raw_exchange("127.0.0.1", sc.port, raw,
                                        timeout=harness.patient(10),
                                        until_close=False)
            st = harness.status_of(data)
            lo, hi = want if isinstance(want, tuple) else (want, want)
            if lo == hi:
                check_api_error(t, harness.Reply(st or 0, {}, harness.body_of(data)),
                                want, None, desc)
            else:
                o = harness.try_json(harness.body_of(data)) or {}
                t.ok(st is not None and lo <= st <= hi and o.get("ok") is False
                     and o.get("error_code") == st,
                     "%s -> 4xx JSON error (got %r)" % (desc, st))
                if st is None:
                    t.diag("raw reply: %r" % harness.shorten(data))
        check_allow(t, sc, token(secret))
        after = si.stats()
        t.is_(after["conns_used"], before["conns_used"],
              "none of those requests reached upstream")
        # the sidecar still works afterwards
        conn = sc.conn()
        r = request(conn, "GET", "/bot%s/getMe" % token(secret))
        t.is_(r.status, 200, "the sidecar still serves getMe after bad requests")
        conn.close()
    finally:
        st, killed = sc.stop()
    t.ok(st == 0 and not killed, "raw requests: sidecar exits 0 on SIGTERM")
    t.ok(secret not in sc.log(), "raw requests: no token secret in the log")


def post_raw(port, path, body, chunked=False):
    head = "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" % path
    if chunked:
        head += "Transfer-Encoding: chunked\r\n\r\n"
        data = b""
        for i in range(0, len(body), 512):
            c = body[i:i + 512]
            data += b"%x\r\n%s\r\n" % (len(c), c)
        data += b"0\r\n\r\n"
    else:
        head += "Content-Length: %d\r\n\r\n" % len(body)
        data = body
    raw = harness.raw_exchange("127.0.0.1", port, head.encode() + data,
                               timeout=harness.patient(15),
                               until_close=False)
    return harness.Reply(harness.status_of(raw) or 0, {}, harness.body_of(raw))


def json_of_size(n):
    """A sendMessage JSON body of exactly n bytes."""
    base = b'{"chat_id": 5, "text": ""}'
    return base[:-2] + b"x" * (n - len(base)) + base[-2:]


def max_body_cases():
    """(description, sidecar extra args, extra env)."""
    return [
        ("--max-body 1K", ["--max-body", "1K"], None),
        ("TGSIDECAR_MAX_BODY=1024", [], {"TGSIDECAR_MAX_BODY": "1024"}),
    ]


def run_max_body(t, wd, si, certs, secrets):
    secret = harness.unique_secret("mb")
    secrets.append(secret)
    path = "/bot%s/sendMessage" % token(secret)
    for desc, args, env in max_body_cases():
        sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                     extra_args=args, env=env)
        try:
            sc.start()
            # Requests, not connections: a spare opened ahead carries none.
            before = si.stats()["conns_used"]
            r = post_raw(sc.port, path, json_of_size(4096))
            check_api_error(t, r, 413, None, "%s: a 4096-byte body" % desc)
            r = post_raw(sc.port, path, json_of_size(4096), chunked=True)
            check_api_error(t, r, 413, None, "%s: a 4096-byte chunked body" % desc)
            t.is_(si.stats()["conns_used"], before,
                  "%s: oversized bodies never reach upstream" % desc)
            r = post_raw(sc.port, path, json_of_size(1000))
            o = r.json() or {}
            t.ok(r.status == 200 and len(o.get("result", {}).get("text", "")) > 900,
                 "%s: a 1000-byte body still goes through" % desc)
            if r.status != 200:
                t.diag(repr(r))
        except Exception:
            t.fail_exception(desc)
        finally:
            st, killed = sc.stop()
        t.ok(st == 0 and not killed, "%s: sidecar exits 0 on SIGTERM" % desc)


def main():
    t = Tap()
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    secrets = []
    t.run_parts((run_upstream_failures, run_raw_requests, run_max_body), wd,
                 si, certs, secrets)
    si.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
