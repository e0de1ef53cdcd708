#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""tgsidecar's guard rails as a user meets them: where it listens by
default and who may use it (allow), which bots may use it (allow_bots),
that it is no open proxy (absolute-form targets, CONNECT, Host tricks,
dot-segments, encoded slashes, CR/LF/NUL, backslashes), that token secrets
and proxy passwords stay out of its log and replies, the warning for a
config file others can read, and dropping root (user). TAP output."""

import base64
import http.client
import os
import pwd
import socket
import struct
import sys

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap, Sidecar, StandIn, Certs, request, token  # noqa: E402
import proxies  # noqa: E402

BIN = harness.sidecar_bin()
DEFAULT_PORT = 8081
OTHER_BOT = "654321"
PROXY_USER = "tuser"
MODE_WARNING = "readable by group or others"


# ------------------------------------------------------------ helpers

def run_daemon(args, env=None, timeout=20):
    """Run the daemon (under $TGSIDECAR_WRAPPER if set) to completion."""
    argv = harness.wrapper_argv() + [BIN] + [str(a) for a in args]
    return harness.run(argv, env=harness.scrubbed_env(env),
                       timeout=timeout)   # run() scales it


def is_api_error(status, body, lo=400, hi=499):
    o = harness.try_json(body)
    return (status is not None and lo <= status <= hi and isinstance(o, dict)
            and o.get("ok") is False and o.get("error_code") == status
            and isinstance(o.get("description"), str))


def check_api_error(t, status, body, want, desc):
    lo, hi = want if isinstance(want, tuple) else (want, want)
    good = is_api_error(status, body, lo, hi)
    t.ok(good, "%s -> %s JSON error (got %r)"
         % (desc, "%d" % lo if lo == hi else "4xx", status))
    if not good:
        t.diag("reply: %r" % harness.shorten(body))
    return good


def getme(host, port, secret, source=None, timeout=harness.CLIENT_TIMEOUT):
    c = http.client.HTTPConnection(host, port, timeout=timeout,
                                   source_address=(source, 0) if source else None)
    try:
        return request(c, "GET", "/bot%s/getMe" % token(secret))
    finally:
        c.close()


def getme_ok(r):
    o = r.json() or {}
    return (r.status == 200 and o.get("ok") is True
            and (o.get("result") or {}).get("id") == 123456)


def raw(sc, data, timeout=harness.patient(10)):
    """Send raw bytes to the sidecar; (status, body, raw reply)."""
    out = harness.raw_exchange(sc.host, sc.port, data, timeout=timeout,
                               until_close=False)
    return harness.status_of(out), harness.body_of(out), out


def hexaddr4(h):
    return socket.inet_ntoa(struct.pack("<I", int(h, 16)))


def hexaddr6(h):
    b = bytes.fromhex(h)
    b = b"".join(b[i:i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, b)


def listening(pid):
    """The (address, port) pairs pid listens on over TCP, from /proc."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            link = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    out = []
    for name, conv in (("tcp", hexaddr4), ("tcp6", hexaddr6)):
        try:
            with open("/proc/%d/net/%s" % (pid, name)) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != "0A" or fields[9] not in inodes:
                continue
            addr, port = fields[1].split(":")
            out.append((conv(addr), int(port, 16)))
    return sorted(out)


def proc_ids(pid, key):
    """The Uid: or Gid: line of /proc/PID/status as a list of ints."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return [int(x) for x in line.split()[1:]]
    return None


def access_lines(log):
    return [l for l in log.splitlines() if " access " in l]


def stop_ok(t, sc, desc):
    st, killed = sc.stop()
    t.ok(st == 0 and not killed, "%s: sidecar exits 0 on SIGTERM (status %r%s)"
         % (desc, st, ", killed" if killed else ""))


def conns(si):
    """Upstream connections that carried a request: spares opened ahead
    carry none, and may open at any time."""
    return si.stats()["conns_used"]


# ------------------------------------------------------------ binding

def check_default_listen(t, wd, si, certs, secrets):
    desc = "no listen setting"
    free = harness._bindable("127.0.0.1", DEFAULT_PORT)
    t.ok(free, "%s: port %d, the default, is free for this check"
         % (desc, DEFAULT_PORT))
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 pass_listen=False, port=DEFAULT_PORT, name="sidecar-default")
    try:
        sc.start()
        where = listening(sc.proc.pid)
        t.is_(where, [("127.0.0.1", DEFAULT_PORT)],
              "%s: it listens on 127.0.0.1:%d only" % (desc, DEFAULT_PORT))
        secret = harness.unique_secret("def")
        secrets.append(secret)
        t.ok(getme_ok(getme("127.0.0.1", DEFAULT_PORT, secret)),
             "%s: getMe on 127.0.0.1:%d answers 200" % (desc, DEFAULT_PORT))
        t.ok(not harness.port_accepts("127.0.0.2", DEFAULT_PORT),
             "%s: 127.0.0.2:%d (another address) is refused" % (desc, DEFAULT_PORT))
        t.like(sc.log(), "listening on 127.0.0.1:%d" % DEFAULT_PORT,
               "%s: the log says where it listens" % desc)
    finally:
        stop_ok(t, sc, desc)


def check_allow(t, wd, si, certs, secrets):
    port = harness.alloc_port()
    st, out, err = run_daemon(["-l", "0.0.0.0:%d" % port, "-u", si.url,
                               "-x", "direct", "--ca-file", certs.ca_cert])
    t.is_(st, 2, "-l 0.0.0.0:PORT without allow: refuses to start, exit 2")
    t.ok("allow" in err and "0.0.0.0:%d" % port in err and "loopback" in err,
         "-l 0.0.0.0:PORT without allow: the message names the address, "
         "loopback and the allow setting")
    t.diag("stderr: " + err.strip().splitlines()[0] if err.strip() else "no stderr")
    t.ok(not harness.port_accepts("127.0.0.1", port),
         "-l 0.0.0.0:PORT without allow: nothing listens on the port")

    desc = "-l 0.0.0.0:PORT --allow 127.0.0.2/32"
    secret = harness.unique_secret("allow")
    secrets.append(secret)
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 listen="0.0.0.0:%d" % port, port=port,
                 extra_args=["--allow", "127.0.0.2/32"], name="sidecar-allow")
    try:
        sc.start()
        t.is_(listening(sc.proc.pid), [("0.0.0.0", port)],
              "%s: it listens on 0.0.0.0" % desc)
        before = conns(si)
        r = getme("127.0.0.1", port, secret)
        check_api_error(t, r.status, r.body, 403,
                        "%s: getMe from source 127.0.0.1" % desc)
        t.is_(conns(si), before,
              "%s: the refused request never reached upstream" % desc)
        r = getme("127.0.0.1", port, secret, source="127.0.0.2")
        t.ok(getme_ok(r), "%s: getMe from source 127.0.0.2 answers 200 (%d)"
             % (desc, r.status))
        r = getme("127.0.0.2", port, secret, source="127.0.0.2")
        t.ok(getme_ok(r), "%s: 127.0.0.2 -> 127.0.0.2:PORT answers 200 too" % desc)
        lines = access_lines(sc.log())
        t.ok([l for l in lines if "127.0.0.1:" in l and "status=403" in l],
             "%s: the log has the 403 for peer 127.0.0.1" % desc)
        t.ok([l for l in lines if "127.0.0.2:" in l and "status=200" in l],
             "%s: the log has the 200 for peer 127.0.0.2" % desc)
    finally:
        stop_ok(t, sc, desc)


# ------------------------------------------------------------ allow_bots

def allow_bots_cases(wd):
    conf = harness.write_config(os.path.join(wd, "allow-bots.conf"),
                                [("allow_bots", "111, 123456")])
    return [
        ("--allow-bots 123456", ["--allow-bots", "123456"]),
        ("allow_bots = 111, 123456 in the config file", ["-c", conf]),
    ]


def check_allow_bots(t, wd, si, certs, secrets):
    for desc, args in allow_bots_cases(wd):
        secret = harness.unique_secret("ab")
        other = harness.unique_secret("ob")
        secrets.extend([secret, other])
        sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                     extra_args=args)
        try:
            sc.start()
            c = sc.conn()
            r = request(c, "GET", "/bot%s/getMe" % token(secret))
            t.ok(getme_ok(r), "%s: bot 123456 gets 200 for getMe" % desc)
            before = conns(si)
            for what, meth, path, body in [
                    ("getMe", "GET", "/bot%s:%s/getMe" % (OTHER_BOT, other), None),
                    ("sendMessage with a body", "POST",
                     "/bot%s:%s/sendMessage" % (OTHER_BOT, other),
                     b'{"chat_id": 1, "text": "hi"}'),
                    ("a file download", "GET",
                     "/file/bot%s:%s/documents/file_1.bin" % (OTHER_BOT, other),
                     None)]:
                r = request(c, meth, path, body,
                            {"Content-Type": "application/json"} if body else None)
                check_api_error(t, r.status, r.body, 403,
                                "%s: bot %s, %s" % (desc, OTHER_BOT, what))
                t.ok(other.encode() not in r.body,
                     "%s: bot %s, %s: the reply holds no token" % (desc, OTHER_BOT, what))
            t.is_(conns(si), before,
                  "%s: bot %s never reached upstream" % (desc, OTHER_BOT))
            r = request(c, "GET", "/bot%s/getMe" % token(secret))
            t.ok(getme_ok(r), "%s: the same bot connection still serves "
                 "bot 123456 afterwards" % desc)
            c.close()
        finally:
            stop_ok(t, sc, desc)
        log = sc.log()
        t.ok([l for l in access_lines(log)
              if "bot=%s" % OTHER_BOT in l and "status=403" in l],
             "%s: the log shows bot=%s refused with 403" % (desc, OTHER_BOT))
        t.ok(other not in log and secret not in log,
             "%s: no token secret in the log" % desc)


# ------------------------------------------------------------ open proxy

def open_proxy_cases(si, tok):
    p = si.port
    tk = tok.encode()
    return [
        ("absolute-form http:// target at the stand-in",
         b"GET http://127.0.0.1:%d/bot%s/getMe HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
         % (p, tk, p)),
        ("absolute-form https:// target at the stand-in",
         b"GET https://127.0.0.1:%d/bot%s/getMe HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
         % (p, tk, p)),
        ("absolute-form target elsewhere",
         b"GET http://evil.example/bot%s/getMe HTTP/1.1\r\nHost: evil.example\r\n\r\n"
         % tk),
        ("CONNECT to the stand-in",
         b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (p, p)),
        ("CONNECT to a name",
         b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n"),
        ("OPTIONS *", b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
        ("/bot<token>/../getMe",
         b"GET /bot%s/../getMe HTTP/1.1\r\nHost: x\r\n\r\n" % tk),
        ("/bot<token>/getMe/../../x",
         b"GET /bot%s/getMe/../../x HTTP/1.1\r\nHost: x\r\n\r\n" % tk),
        ("/file/bot<token>/../../bot<token>/getMe",
         b"GET /file/bot%s/../../bot%s/getMe HTTP/1.1\r\nHost: x\r\n\r\n" % (tk, tk)),
        ("/bot<token>/./getMe",
         b"GET /bot%s/./getMe HTTP/1.1\r\nHost: x\r\n\r\n" % tk),
        ("%2e%2e in the path",
         b"GET /bot%s/%%2e%%2e/getMe HTTP/1.1\r\nHost: x\r\n\r\n" % tk),
        ("%2E%2E in the path",
         b"GET /bot%s/%%2E%%2E/getMe HTTP/1.1\r\nHost: x\r\n\r\n" % tk),
        ("%2e%2e in a file path",
         b"GET /file/bot%s/documents/%%2e%%2e/%%2e%%2e/x HTTP/1.1\r\nHost: x\r\n\r\n"
         % tk),
        (".%2e in the path",
         b"GET /file/bot%s/a/.%%2e/b HTTP/1.1\r\nHost: x\r\n\r\n" % tk),
        ("%2f after the token",
         b"GET /bot%s%%2fgetMe HTTP/1.1\r\nHost: x\r\n\r\n" % tk),
        ("%2F in a file path",
         b"GET /file/bot%s/documents%%2Ffile_1.bin HTTP/1.1\r\nHost: x\r\n\r\n" % tk),
        ("%2f..%2f in the method",
         b"GET /bot%s/getMe%%2f..%%2f..%%2fx HTTP/1.1\r\nHost: x\r\n\r\n" % tk),
        ("raw CR in the path",
         b"GET /bot%s/get\rMe HTTP/1.1\r\nHost: x\r\n\r\n" % tk),
        ("raw LF in the path",
         b"GET /bot%s/getMe\nX-Injected: 1 HTTP/1.1\r\nHost: x\r\n\r\n" % tk),
        ("raw CRLF in the path",
         b"GET /bot%s/getMe\r\nX-Injected: 1 HTTP/1.1\r\nHost: x\r\n\r\n" % tk),
        ("%0d%0a in the path",
         b"GET /bot%s/getMe%%0d%%0aX-Injected:%%201 HTTP/1.1\r\nHost: x\r\n\r\n" % tk),
        ("%0D%0A in a file path",
         b"GET /file/bot%s/a%%0D%%0AHost:%%20evil.example HTTP/1.1\r\nHost: x\r\n\r\n"
         % tk),
        ("raw NUL in the path",
         b"GET /bot%s/get\x00Me HTTP/1.1\r\nHost: x\r\n\r\n" % tk),
        ("%00 in the path",
         b"GET /bot%s/getMe%%00.txt HTTP/1.1\r\nHost: x\r\n\r\n" % tk),
        ("backslashes in the path",
         b"GET /bot%s\\..\\getMe HTTP/1.1\r\nHost: x\r\n\r\n" % tk),
        ("a backslash in a file path",
         b"GET /file/bot%s/documents\\file_1.bin HTTP/1.1\r\nHost: x\r\n\r\n" % tk),
        ("%5c in the path",
         b"GET /bot%s%%5c..%%5cgetMe HTTP/1.1\r\nHost: x\r\n\r\n" % tk),
    ]


def host_cases(si, tok):
    p = si.port
    path = b"/bot%s/getMe" % tok.encode()
    return [
        ("Host: evil.example", b"GET %s HTTP/1.1\r\nHost: evil.example\r\n\r\n" % path),
        ("Host: evil.example:443",
         b"GET %s HTTP/1.1\r\nHost: evil.example:443\r\n\r\n" % path),
        ("Host: 127.0.0.1 with the stand-in's port",
         b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (path, p)),
        ("two Host headers",
         b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n" % path),
        ("X-Forwarded-Host and Forwarded",
         b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Host: evil.example\r\n"
         b"Forwarded: host=evil.example\r\n\r\n" % path),
    ]


def check_no_open_proxy(t, wd, si, certs, secrets):
    secret = harness.unique_secret("op")
    secrets.append(secret)
    tok = token(secret)
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 name="sidecar-openproxy")
    try:
        sc.start()
        for desc, data in open_proxy_cases(si, tok):
            if not sc.proc.alive():
                t.ok(False, "%s: the sidecar is still running (exit %r)"
                     % (desc, sc.proc.poll()))
                continue
            before = conns(si)
            st, body, out = raw(sc, data)
            check_api_error(t, st, body, (400, 499), desc)
            t.is_(conns(si), before, "%s: nothing reached upstream" % desc)
            t.ok(secret.encode() not in out, "%s: the reply holds no token" % desc)

        want_host = "127.0.0.1:%d" % si.port
        for desc, data in host_cases(si, tok):
            si.reset()
            st, body, out = raw(sc, data)
            reqs = si.stats()["requests"]
            if st == 200:
                t.ok(len(reqs) == 1 and reqs[0]["host"] == want_host,
                     "%s: answered 200 from the configured upstream, which saw "
                     "Host: %s" % (desc, want_host))
                t.diag("%s: forwarded with Host %r" %
                       (desc, [r["host"] for r in reqs]))
            else:
                t.ok(is_api_error(st, body) and not reqs,
                     "%s: refused with a 4xx JSON error before upstream (%r)"
                     % (desc, st))
            hosts = [v for r in reqs for k, v in r.get("headers") or []
                     if k.lower() == "host"]
            t.ok(all(h == want_host for h in hosts),
                 "%s: every Host header upstream sees is %s (%r)"
                 % (desc, want_host, hosts))

        r = getme(sc.host, sc.port, secret)
        t.ok(getme_ok(r), "the sidecar still serves getMe after all of them")
    finally:
        stop_ok(t, sc, "open proxy checks")


# ------------------------------------------------------------ secrets

def secret_requests(tok, bad_tok):
    """(description, raw request, expected status, routed to bot 123456)."""
    return [
        ("getMe", b"GET /bot%s/getMe HTTP/1.1\r\nHost: x\r\n\r\n" % tok, 200, True),
        ("sendMessage", b"POST /bot%s/sendMessage HTTP/1.1\r\nHost: x\r\n"
         b"Content-Type: application/json\r\nContent-Length: 27\r\n\r\n"
         b'{"chat_id": 7, "text": "x"}' % tok, 200, True),
        ("a bad path (dot-segment)",
         b"GET /bot%s/../getMe HTTP/1.1\r\nHost: x\r\n\r\n" % tok, 400, False),
        ("a bad path (%2f)",
         b"GET /bot%s%%2fgetMe HTTP/1.1\r\nHost: x\r\n\r\n" % tok, 400, False),
        ("a 404 path holding the token",
         b"GET /api/bot%s/getMe HTTP/1.1\r\nHost: x\r\n\r\n" % tok, 404, False),
        ("a method upstream does not know (404 from upstream)",
         b"GET /bot%s/noSuchMethod HTTP/1.1\r\nHost: x\r\n\r\n" % tok, 404, True),
        ("PUT (405)", b"PUT /bot%s/getMe HTTP/1.1\r\nHost: x\r\nContent-Length: 0"
         b"\r\n\r\n" % tok, 405, True),
        ("a file that is not there (404 from upstream)",
         b"GET /file/bot%s/documents/none.bin HTTP/1.1\r\nHost: x\r\n\r\n" % tok,
         404, True),
        ("a wrong token (401 from upstream)",
         b"GET /bot%s/getMe HTTP/1.1\r\nHost: x\r\n\r\n" % bad_tok, 401, True),
        ("a token in the query string",
         b"GET /bot%s/getMe?t=%s HTTP/1.1\r\nHost: x\r\n\r\n" % (tok, tok), 200, True),
    ]


def check_token_secrets(t, wd, si, certs, secrets):
    for level in ("info", "debug"):
        desc = "--log-level %s" % level
        secret = "AAH" + os.urandom(16).hex()[:32]   # 35 characters, like Telegram's
        bad = "BAD" + os.urandom(16).hex()[:32]
        secrets.extend([secret, bad])
        sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                     extra_args=["--log-level", level], name="sidecar-secrets-" + level)
        routed = 0
        try:
            sc.start()
            for what, data, want, is_routed in secret_requests(
                    token(secret).encode(), token(bad).encode()):
                st, body, out = raw(sc, data)
                t.is_(st, want, "%s: %s answers %d" % (desc, what, want))
                if is_routed:
                    routed += 1
                if st != 200:
                    t.ok(secret.encode() not in out and bad.encode() not in out,
                         "%s: %s: the error reply holds no token secret" % (desc, what))
        finally:
            stop_ok(t, sc, desc)
        log = sc.log()
        t.ok(secret not in log and bad not in log,
             "%s: no token secret in any log line" % desc)
        for s in (secret, bad):
            if s in log:
                t.diag("\n".join(l for l in log.splitlines() if s in l)[:2000])
        lines = access_lines(log)
        mine = [l for l in lines if "bot=123456" in l]
        t.is_(len(mine), routed, "%s: one access line with bot=123456 per "
              "request routed to the bot" % desc)
        t.ok(all(":" + secret[:6] not in l and ":BAD" not in l for l in mine),
             "%s: the access lines show the bot id only" % desc)
        t.is_(len(lines), len(secret_requests(b"", b"")),
              "%s: one access line per request, rejected ones included" % desc)


# ------------------------------------------------------------ proxy passwords

def password_sources(wd, tp, pw):
    """(description, sidecar kwargs) that hand the sidecar password pw."""
    pwfile = os.path.join(wd, "pw-%s" % os.urandom(4).hex())
    with open(pwfile, "w") as f:
        f.write(pw + "\n")
    os.chmod(pwfile, 0o600)
    return [
        ("password in the -x URL", {"proxy": tp.url_with(PROXY_USER, pw)}),
        ("--proxy-password", {"proxy": tp.url_with(PROXY_USER),
                              "extra_args": ["--proxy-password", pw]}),
        ("--proxy-password-file", {"proxy": tp.url_with(PROXY_USER),
                                   "extra_args": ["--proxy-password-file", pwfile]}),
        ("TGSIDECAR_PROXY", {"env": {"TGSIDECAR_PROXY":
                                     tp.url_with(PROXY_USER, pw)}}),
    ]


def pw_forms(pw):
    """A password as it might leak: plain, and in a Basic credential."""
    return [pw, base64.b64encode(("%s:%s" % (PROXY_USER, pw)).encode()).decode()]


def check_proxy_passwords(t, wd, si, certs, secrets):
    right = "Rp" + os.urandom(8).hex()
    tp = proxies.Tinyproxy(wd, [si.port], basic_auth=(PROXY_USER, right)).start()
    try:
        for good in (True, False):
            pw = right if good else "Wp" + os.urandom(8).hex()
            for desc, kw in password_sources(wd, tp, pw):
                desc = "%s (%s password)" % (desc, "right" if good else "wrong")
                kw = dict(kw)
                kw.setdefault("extra_args", [])
                kw["extra_args"] = kw["extra_args"] + ["--log-level", "debug"]
                secret = harness.unique_secret("pw")
                secrets.append(secret)
                sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, **kw)
                try:
                    sc.start()
                    r = getme(sc.host, sc.port, secret)
                    if good:
                        t.ok(getme_ok(r), "%s: getMe through the proxy answers 200"
                             % desc)
                    else:
                        check_api_error(t, r.status, r.body, 502,
                                        "%s: getMe" % desc)
                    t.ok(not [f for f in pw_forms(pw) if f.encode() in r.body],
                         "%s: the reply holds no password" % desc)
                finally:
                    stop_ok(t, sc, desc)
                log = sc.log()
                leaked = [f for f in pw_forms(pw) if f in log]
                t.ok(not leaked, "%s: the password is not in the log, plain or "
                     "base64" % desc)
                if leaked:
                    t.diag("\n".join(l for l in log.splitlines()
                                     if any(f in l for f in leaked))[:2000])
    finally:
        tp.stop()

    # Configuration errors that quote the proxy setting.
    pw = "Cp" + os.urandom(8).hex()
    for desc, args, env in [
            ("a bad port in -x with a password",
             ["-x", "http://u:%s@127.0.0.1:notaport" % pw, "-t"], None),
            ("an unknown scheme in -x with a password",
             ["-x", "gopher://u:%s@127.0.0.1:1" % pw, "-t"], None),
            ("a bad TGSIDECAR_PROXY with a password", ["-t"],
             {"TGSIDECAR_PROXY": "http://u:%s@[::1" % pw})]:
        st, out, err = run_daemon(args, env=env)
        t.ok(st == 2 and pw not in out + err,
             "%s: exit 2, the message does not repeat the password (exit %d)"
             % (desc, st))
        if pw in out + err:
            t.diag((out + err)[:500])


def config_mode_cases(tp, pw):
    return [
        ("a config file with the password in proxy, mode 0644",
         [("proxy", tp.url_with(PROXY_USER, pw))], 0o644, True),
        ("a config file with proxy_password, mode 0640",
         [("proxy", tp.url_with(PROXY_USER)), ("proxy_password", pw)], 0o640, True),
        ("a config file with the password in proxy, mode 0600",
         [("proxy", tp.url_with(PROXY_USER, pw))], 0o600, False),
        ("a config file without a password, mode 0644",
         [("proxy", tp.url)], 0o644, False),
    ]


def check_config_mode(t, wd, si, certs, secrets):
    pw = "Mp" + os.urandom(8).hex()
    tp = proxies.Tinyproxy(wd, [si.port]).start()  # no auth: any password passes
    try:
        for desc, items, mode, warn in config_mode_cases(tp, pw):
            conf = os.path.join(wd, "mode-%s.conf" % os.urandom(4).hex())
            harness.write_config(conf, [("upstream", si.url),
                                        ("ca_file", certs.ca_cert)] + items)
            os.chmod(conf, mode)
            secret = harness.unique_secret("mode")
            secrets.append(secret)
            sc = Sidecar(wd, extra_args=["-c", conf])
            try:
                sc.start()
                t.ok(getme_ok(getme(sc.host, sc.port, secret)),
                     "%s: getMe answers 200" % desc)
            finally:
                stop_ok(t, sc, desc)
            log = sc.log()
            warned = [l for l in log.splitlines() if MODE_WARNING in l]
            if warn:
                t.ok(warned and conf in warned[0] and "%03o" % mode in warned[0],
                     "%s: the log warns it is %s, naming the file and mode"
                     % (desc, MODE_WARNING))
            else:
                t.ok(not warned, "%s: no warning" % desc)
            if warned:
                t.diag(warned[0])
            t.ok(pw not in log, "%s: the password is not in the log" % desc)
    finally:
        tp.stop()


# ------------------------------------------------------------ user

def check_user(t, wd, si, certs, secrets):
    st, out, err = run_daemon(["--user", "nosuchuser", "-x", "direct"])
    t.is_(st, 2, "--user nosuchuser: exit 2")
    t.ok("nosuchuser" in err and "user" in err.lower(),
         "--user nosuchuser: the message names the setting and the user")
    t.diag("stderr: %s" % err.strip()[:300])

    nobody = pwd.getpwnam("nobody")
    desc = "--user nobody"
    secret = harness.unique_secret("user")
    secrets.append(secret)
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 extra_args=["--user", "nobody"], name="sidecar-user")
    if os.geteuid() != 0:
        # Not root: the promise is a clear refusal, not a silent run as us.
        sc.proc.start()
        st = sc.proc.wait(harness.patient(10))
        t.ok(st is not None and st != 0,
             "%s as a non-root user: refuses to start (exit %r)" % (desc, st))
        t.like(sc.log(), "needs tgsidecar to start as root",
               "%s as a non-root user: the log says root is needed" % desc)
        sc.stop()
        return
    try:
        sc.start()
        r = getme(sc.host, sc.port, secret)
        t.ok(getme_ok(r), "%s: getMe answers 200 after dropping root" % desc)
        uid = proc_ids(sc.proc.pid, "Uid")
        gid = proc_ids(sc.proc.pid, "Gid")
        t.is_(uid[:3], [nobody.pw_uid] * 3,
              "%s: real, effective and saved uid are nobody's (%d)"
              % (desc, nobody.pw_uid))
        t.is_(gid[:3], [nobody.pw_gid] * 3,
              "%s: real, effective and saved gid are nobody's" % desc)
        groups = None
        with open("/proc/%d/status" % sc.proc.pid) as f:
            for line in f:
                if line.startswith("Groups:"):
                    groups = [int(x) for x in line.split()[1:]]
        t.ok(groups is not None and 0 not in groups,
             "%s: root's group is not among the supplementary groups (%r)"
             % (desc, groups))
        r = getme(sc.host, sc.port, secret)
        t.ok(getme_ok(r), "%s: a second getMe (another fresh TLS connection) "
             "answers 200" % desc)
        t.like(sc.log(), "running as nobody", "%s: the log says so" % desc)
    finally:
        stop_ok(t, sc, desc)


def main():
    t = Tap()
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    secrets = []
    t.run_parts((check_default_listen, check_allow, check_allow_bots,
                 check_no_open_proxy, check_token_secrets,
                 check_proxy_passwords, check_config_mode, check_user), wd, si,
                 certs, secrets)
    si.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
