#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Self-test of the test infrastructure, without tgsidecar: the stand-in
(directly over TLS, and with curl through squid, tinyproxy, microsocks and
a SOCKS -> HTTP chain). Not part of `make check`; run it when the
integration tests misbehave:

    /usr/bin/python3 tests/lib/selftest.py
"""

import hashlib
import http.client
import json
import os
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import Tap, run, token  # noqa: E402
import proxies  # noqa: E402

TOK = token("AAselftestSECRET")


def curl(args, timeout=60):
    st, out, err = run(["curl", "-sS", "--max-time", "30", "--noproxy", ""]
                       + args, timeout=timeout)
    return st, out, err


def tls_conn(standin, certs):
    ctx = ssl.create_default_context(cafile=certs.ca_cert)
    return http.client.HTTPSConnection("127.0.0.1", standin.port, context=ctx,
                                       timeout=30)


def check_standin_direct(t, si, certs, wd):
    c = tls_conn(si, certs)
    before = si.connections()
    r = harness.request(c, "GET", "/bot%s/getMe" % TOK)
    t.is_((r.status, (r.json() or {}).get("result", {}).get("id")), (200, 123456),
          "direct: getMe")
    for i in range(4):
        harness.request(c, "GET", "/bot%s/getMe" % TOK)
    t.is_(si.connections() - before, 1, "direct: 5 requests on one TLS connection "
          "count as 1 accepted connection")
    body, hdr = harness.json_body({"chat_id": 5, "text": "Привет ✓"})
    r = harness.request(c, "POST", "/bot%s/sendMessage" % TOK, body, hdr)
    t.is_((r.json() or {}).get("result", {}).get("text"), "Привет ✓",
          "direct: sendMessage JSON echoes UTF-8 text")
    r = harness.request(c, "POST", "/bot%s/sendMessage" % TOK, b"chat_id=5&text=a%20b",
                        {"Content-Type": "application/x-www-form-urlencoded"})
    t.is_((r.json() or {}).get("result", {}).get("text"), "a b",
          "direct: sendMessage urlencoded")
    r = harness.request(c, "GET", "/bot%s/sendMessage?chat_id=429&text=x" % TOK)
    t.is_((r.status, (r.json() or {}).get("parameters")), (429, {"retry_after": 7}),
          "direct: 429 with retry_after")
    r = harness.request(c, "GET", "/bot%s/sendMessage?text=x" % TOK)
    t.is_(r.status, 400, "direct: missing chat_id is 400")
    r = harness.request(c, "GET", "/bot123456:BADsecret/getMe")
    t.is_(r.status, 401, "direct: BAD token is 401")
    r = harness.request(c, "GET", "/bot99:x/getMe")
    t.is_(r.status, 401, "direct: other bot id is 401")
    r = harness.request(c, "GET", "/bot%s/noSuchMethod" % TOK)
    t.is_(r.status, 404, "direct: unknown method is 404")
    r = harness.request(c, "GET", "/bot%s/getMe?_chunked=1" % TOK)
    t.ok(r.status == 200 and r.header("Transfer-Encoding") == "chunked"
         and (r.json() or {}).get("ok") is True, "direct: _chunked=1 answers chunked")

    # multipart upload of 20 MB, then getFile + download
    size = 20 * 1000 * 1000
    data_path = os.path.join(wd, "upload.bin")
    with open(data_path, "wb") as f:
        for ch in harness.random_chunks(size):
            f.write(ch)
    want = harness.file_sha256(data_path)
    body_path = os.path.join(wd, "upload.multipart")

    def chunks():
        with open(data_path, "rb") as f:
            for _ in range(100):
                b = f.read(1 << 20)
                if not b:
                    return
                yield b
    ctype, _ = harness.multipart_file(body_path, {"chat_id": 7},
                                      ("document", chunks()), "up.bin")
    t0 = time.monotonic()
    r = harness.post_file(c, "/bot%s/sendDocument" % TOK, body_path, ctype)
    res = (r.json() or {}).get("result", {})
    t.is_(res.get("sha256"), want, "direct: 20 MB multipart upload sha256 (%.2fs)"
          % (time.monotonic() - t0))
    r = harness.request(c, "GET", "/bot%s/getFile?file_id=%s"
                        % (TOK, res.get("document", {}).get("file_id")))
    fpath = (r.json() or {}).get("result", {}).get("file_path")
    st, n, sha, _ = harness.download_sha256(c, "/file/bot%s/%s" % (TOK, fpath))
    t.is_((st, n, sha), (200, size, want), "direct: download of the upload")
    t0 = time.monotonic()
    st, n, sha, _ = harness.download_sha256(c, "/file/bot%s/big/20mb.bin" % TOK)
    t.is_((st, n, sha), (200, 20 * 1024 * 1024, harness.big_file_sha256()),
          "direct: big/20mb.bin (%.2fs)" % (time.monotonic() - t0))
    c.close()

    # long poll answered by an injected update
    c = tls_conn(si, certs)
    res = {}

    def poll():
        res["r"] = harness.request(c, "GET", "/bot%s/getUpdates?timeout=5" % TOK)
        res["t"] = time.monotonic()
    th = threading.Thread(target=poll, daemon=True)
    t0 = time.monotonic()
    th.start()
    w = harness.wait_until(lambda: si.stats()["waiting_polls"] >= 1, 5)
    t.ok(w, "direct: stand-in reports the poll waiting")
    si.inject({"text": "hello", "from_id": 42})
    th.join(10)
    r = res.get("r")
    upd = (r.json() or {}).get("result", []) if r else []
    t.ok(r is not None and r.status == 200 and len(upd) == 1
         and upd[0]["message"]["text"] == "hello"
         and res["t"] - t0 < 4, "direct: injected update answers the poll")
    off = upd[0]["update_id"] + 1 if upd else 0
    r = harness.request(c, "GET", "/bot%s/getUpdates?offset=%d&timeout=0" % (TOK, off))
    t.is_((r.json() or {}).get("result"), [], "direct: offset confirms updates")
    c.close()

    # hangup detection while holding
    ctx = ssl.create_default_context(cafile=certs.ca_cert)
    raw = socket.create_connection(("127.0.0.1", si.port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    s.sendall(("GET /bot%s/getUpdates?timeout=50&offset=%d HTTP/1.1\r\n"
               "Host: x\r\n\r\n" % (TOK, off)).encode())
    t.ok(harness.wait_until(lambda: si.stats()["waiting_polls"] >= 1, 5),
         "direct: hold started")
    n_hang = len(si.stats()["hangups"])
    t0 = time.monotonic()
    s.close()
    hs = harness.wait_until(lambda: [h for h in si.stats()["hangups"][n_hang:]
                                     if h["time"] >= t0], 3)
    t.ok(hs and hs[0]["time"] - t0 < 0.1,
         "direct: hangup noticed within 100 ms (%s)"
         % ("%.1f ms" % ((hs[0]["time"] - t0) * 1000) if hs else "never"))

    # pipelining 3 requests in one write (TLS)
    raw = socket.create_connection(("127.0.0.1", si.port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    reqs = "".join("GET /bot%s/%s HTTP/1.1\r\nHost: x\r\n\r\n" % (TOK, m)
                   for m in ("getMe", "sendMessage?chat_id=1&text=a", "getMe"))
    s.sendall(reqs.encode())
    buf = b""
    for _ in range(100):
        if len(harness.parse_responses(buf)) >= 3:
            break
        c2 = s.recv(65536)
        if not c2:
            break
        buf += c2
    s.close()
    rs = harness.parse_responses(buf)
    t.is_([r.status for r in rs], [200, 200, 200], "direct: 3 pipelined responses")


def tunnel(p, port):
    """A TCP socket to 127.0.0.1:port through proxy p (HTTP CONNECT or
    SOCKS5 without auth), hand-made."""
    s = socket.create_connection(("127.0.0.1", p.port), timeout=10)
    if p.scheme.startswith("socks"):
        s.sendall(b"\x05\x01\x00")
        assert s.recv(2) == b"\x05\x00"
        s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1")
                  + port.to_bytes(2, "big"))
        rep = s.recv(10)
        assert rep[:2] == b"\x05\x00", rep
    else:
        s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
                  % (port, port))
        buf = b""
        for _ in range(100):
            buf += s.recv(4096)
            if b"\r\n\r\n" in buf:
                break
        assert b" 200 " in buf.split(b"\r\n")[0], buf
    return s


def check_hangup_through(t, name, p, si, certs):
    """Closing the client end of a tunnel during a held getUpdates reaches
    the stand-in quickly: the budget the sidecar tests rely on."""
    ctx = ssl.create_default_context(cafile=certs.ca_cert)
    s = ctx.wrap_socket(tunnel(p, si.port), server_hostname="127.0.0.1")
    s.sendall(("GET /bot%s/getUpdates?timeout=50&offset=999999 HTTP/1.1\r\n"
               "Host: x\r\n\r\n" % TOK).encode())
    ok = harness.wait_until(lambda: si.stats()["waiting_polls"] >= 1, 5)
    n_hang = len(si.stats()["hangups"])
    t0 = time.monotonic()
    s.close()
    hs = harness.wait_until(lambda: [h for h in si.stats()["hangups"][n_hang:]
                                     if h["time"] >= t0], 3)
    t.ok(ok and hs and hs[0]["time"] - t0 < 0.1,
         "%s: client hangup reaches the stand-in within 100 ms (%s)"
         % (name, "%.1f ms" % ((hs[0]["time"] - t0) * 1000) if hs else "never"))


def check_via_curl(t, name, si, certs, proxy_args, extra=""):
    base = si.url + "/bot" + TOK
    st, out, err = curl(["--cacert", certs.ca_cert] + proxy_args + [base + "/getMe"])
    o = harness.try_json(out.encode()) or {}
    t.ok(st == 0 and o.get("result", {}).get("id") == 123456,
         "%s: curl getMe through the proxy %s" % (name, extra))
    if st != 0:
        t.diag(err)
    st, out, err = curl(["--cacert", certs.ca_cert] + proxy_args +
                        ["-F", "chat_id=3", "-F", "document=@%s;filename=x.bin"
                         % __file__, base + "/sendDocument"])
    o = harness.try_json(out.encode()) or {}
    with open(__file__, "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    t.is_(o.get("result", {}).get("sha256"), want,
          "%s: curl multipart sendDocument sha256" % name)


def main():
    t = Tap()
    wd = harness.make_tempdir()
    certs = harness.Certs(wd)
    t.ok(os.path.exists(certs.cert) and os.path.exists(certs.other_ca_cert),
         "certificates made")
    si = harness.StandIn(wd, certs).start()
    t.ok(True, "stand-in started on %d (control %d)" % (si.port, si.control_port))
    try:
        check_standin_direct(t, si, certs, wd)
    except Exception:
        t.fail_exception("direct stand-in checks")

    # wrong CA: curl must refuse, the stand-in counts a TLS failure
    before = si.stats()["tls_failures"]
    st, out, err = curl(["--cacert", certs.other_ca_cert, si.url + "/bot%s/getMe" % TOK])
    t.ok(st != 0 and "certificate" in err.lower(),
         "curl with the unrelated CA fails on the certificate")
    t.ok(harness.wait_until(lambda: si.stats()["tls_failures"] > before, 3),
         "stand-in counts the failed handshake")

    cases = [
        ("squid", lambda: proxies.Squid(wd, [si.port]),
         lambda p: ["--proxy", p.url]),
        ("tinyproxy", lambda: proxies.Tinyproxy(wd, [si.port]),
         lambda p: ["--proxy", p.url]),
        ("microsocks socks5h", lambda: proxies.Microsocks(wd),
         lambda p: ["--proxy", p.url]),
        ("microsocks socks5 auth", lambda: proxies.Microsocks(
            wd, "us@er:x", "p@ss:w/rd%", scheme="socks5"),
         lambda p: ["--proxy", p.url]),
        ("chain socks5h->squid", lambda: proxies.Chain(
            proxies.Microsocks(wd), proxies.Squid(wd, [si.port])),
         lambda p: ["--preproxy", p.pre_url, "--proxy", p.url]),
    ]
    for name, factory, args in cases:
        p = None
        try:
            p = factory()
            t0 = time.monotonic()
            p.start()
            t.ok(True, "%s started (%.2fs)" % (name, time.monotonic() - t0))
            check_via_curl(t, name, si, certs, args(p), p.url)
            if getattr(p, "user", None) is None and not isinstance(p, proxies.Chain):
                check_hangup_through(t, name, p, si, certs)
        except Exception:
            t.fail_exception(name)
        finally:
            if p is not None:
                t0 = time.monotonic()
                p.stop()
                t.diag("%s stopped in %.2fs" % (name, time.monotonic() - t0))

    # 407 from tinyproxy with BasicAuth; OK with credentials
    tp = proxies.Tinyproxy(wd, [si.port], basic_auth=("tuser", "tpass")).start()
    try:
        st, out, err = curl(["--cacert", certs.ca_cert, "--proxy", tp.url,
                             si.url + "/bot%s/getMe" % TOK])
        t.ok(st != 0 and "407" in err, "tinyproxy BasicAuth without credentials: 407")
        t.diag(err.strip())
        st, out, err = curl(["--cacert", certs.ca_cert, "--proxy",
                             tp.url_with("tuser", "wrong"),
                             si.url + "/bot%s/getMe" % TOK])
        # tinyproxy 1.11 answers a wrong password with 401, not 407
        t.ok(st != 0 and ("407" in err or "401" in err),
             "tinyproxy BasicAuth wrong password: refused")
        t.diag(err.strip())
        st, out, err = curl(["--cacert", certs.ca_cert, "--proxy",
                             tp.url_with("tuser", "tpass"),
                             si.url + "/bot%s/getMe" % TOK])
        o = harness.try_json(out.encode()) or {}
        t.ok(st == 0 and o.get("ok") is True, "tinyproxy BasicAuth with credentials: OK")
    finally:
        tp.stop()

    # microsocks with auth refuses a client without credentials
    ms = proxies.Microsocks(wd, "u", "p").start()
    try:
        st, out, err = curl(["--cacert", certs.ca_cert, "--proxy",
                             ms.url_with(None, None),
                             si.url + "/bot%s/getMe" % TOK])
        t.ok(st != 0, "microsocks with -u/-P refuses a client without credentials")
        t.diag(err.strip())
    finally:
        ms.stop()

    s = si.stats()
    t.ok(s["connections"] > 0 and "requests" in s, "stand-in stats: %d connections, "
         "%d open" % (s["connections"], s["open"]))
    si.reset()
    t.is_(si.stats()["connections"], 0, "stand-in reset")
    st, _ = si.stop()
    t.diag("stand-in exit status %r" % st)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
