#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""tgsidecar with proxy = pac+file:// and pac+http://: the PAC's
FindProxyForURL() answer for the upstream becomes the failover list
("PROXY <squid>; DIRECT" goes through squid; a dead first proxy is failed
over); SIGHUP and pac_refresh pick up a changed PAC; a PAC that cannot be
read or throws later keeps the last good list; one that cannot be read or
run at start is an exit 2 that says why.  The PAC is served by a small
HTTP server of the test's own on loopback.  TAP output."""

import http.server
import os
import re
import signal
import sys
import threading

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Sidecar, token  # noqa: E402


class PacServer:
    """Serves self.body at any path, on a loopback port; counts GETs."""

    def __init__(self):
        self.body = b""
        self.status = 200
        self.gets = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.gets += 1
                self.send_response(outer.status)
                self.send_header("Content-Type",
                                 "application/x-ns-proxy-autoconfig")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *a):
                pass
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.srv.server_address[1]
        self.th = threading.Thread(target=self.srv.serve_forever, daemon=True)

    def start(self):
        self.th.start()
        return self

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()

    def url(self, path="/proxy.pac"):
        return "http://127.0.0.1:%d%s" % (self.port, path)


def pac(answer, host=None):
    """A PAC that answers `answer` for https:// URLs (of host), else
    "PROXY 127.0.0.1:9" (nowhere): proving it was asked the right URL."""
    cond = 'shExpMatch(url, "https://*/")'
    if host is not None:
        cond += ' && host == "%s"' % host
    return ('function FindProxyForURL(url, host) {\n'
            '  if (%s)\n'
            '    return "%s";\n'
            '  return "PROXY 127.0.0.1:9";\n'
            '}\n' % (cond, answer))


def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def connects(sq):
    return len(re.findall(r"CONNECT ", sq.access_log()))


def failovers(sc):
    r = sc.get("/metrics")
    m = re.search(rb"^tgsidecar_proxy_failovers_total (\d+)", r.body, re.M)
    return int(m.group(1)) if m else None


def start(wd, env, proxy, extra=(), name=None):
    si, certs = env["si"], env["certs"]
    return Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy=proxy,
                   extra_args=["--connect-timeout", "5s"] + list(extra),
                   name=name).start()


def host_of(si):
    return re.match(r"https://([^:/]+)", si.url).group(1)


# ----------------------------------------------------- 1. pac+file://

def part_file(t, env):
    wd, si, sq = env["wd"], env["si"], env["squid"]
    tok = token(harness.unique_secret("pacf"))
    path = os.path.join(wd, "proxy.pac")
    write(path, pac("PROXY %s; DIRECT" % sq.addr, host_of(si)))
    sc = start(wd, env, "pac+file://" + path, name="sidecar-pac-file")
    try:
        t.ok(harness.wait_until(lambda: "proxy %s, direct" % sq.url in
                                sc.log(), 10),
             "the start line lists the PAC's answer: squid, then direct")
        before = connects(sq)
        r = sc.get("/bot%s/getMe" % tok)
        # A spare may follow the answer through squid: at least one.
        t.ok(r.status == 200 and connects(sq) >= before + 1,
             "pac+file:// PROXY squid; DIRECT: getMe 200 through squid "
             "(status %d)" % r.status)

        # SIGHUP reads the PAC again: now DIRECT only.
        write(path, pac("DIRECT", host_of(si)))
        sc.proc.send_signal(signal.SIGHUP)
        t.ok(harness.wait_until(lambda: 'now answers "DIRECT"' in sc.log()
                                and sc.log().count("configuration reloaded")
                                >= 2, 10),
             "SIGHUP: the changed PAC is read and the config reloaded")
        before = connects(sq)
        r = sc.get("/bot%s/getMe" % tok)
        t.ok(r.status == 200 and connects(sq) == before,
             "after the change getMe goes direct: 200, squid not asked")

        # A PAC that throws now: the last good list (DIRECT) stays.
        write(path, "function FindProxyForURL(u, h) { throw 'broken' }\n")
        sc.proc.send_signal(signal.SIGHUP)
        t.ok(harness.wait_until(lambda: "threw: broken; the last good proxy "
                                "list stays" in sc.log(), 10),
             "SIGHUP with a throwing PAC: logged, the last good list stays")
        os.unlink(path)
        sc.proc.send_signal(signal.SIGHUP)
        t.ok(harness.wait_until(lambda: "No such file or directory; the "
                                "last good proxy list stays" in sc.log(),
                                10),
             "SIGHUP with the PAC gone: logged, the last good list stays")
        r = sc.get("/bot%s/getMe" % tok)
        t.is_(r.status, 200, "getMe still works on the last good list")
        t.ok(sc.proc.alive(), "the sidecar is still running")
    finally:
        sc.stop()


# ------------------------------------------- 2. pac+http://, failover

def part_http(t, env):
    wd, si, sq = env["wd"], env["si"], env["squid"]
    tok = token(harness.unique_secret("pach"))
    ps = env["pacsrv"]
    dead = "127.0.0.1:%d" % harness.closed_port()
    ps.body = pac("PROXY %s; PROXY %s" % (dead, sq.addr)).encode()
    sc = start(wd, env, "pac+" + ps.url(), ["--pac-refresh", "1s",
                                             "--proxy-fail-timeout", "1h"],
               name="sidecar-pac-http")
    try:
        t.ok(ps.gets >= 1, "the PAC was fetched over HTTP at start")
        before = connects(sq)
        r = sc.get("/bot%s/getMe" % tok)
        # A spare may follow the answer through squid: at least one.
        t.ok(r.status == 200 and connects(sq) >= before + 1 and
             failovers(sc) == 1,
             "PROXY dead; PROXY squid: getMe 200 by failover to squid "
             "(status %d, %s failovers)" % (r.status, failovers(sc)))
        r = sc.get("/bot%s/getMe" % tok)
        t.ok(r.status == 200 and failovers(sc) == 1,
             "the next getMe skips the dead proxy: 200, still 1 failover")

        # pac_refresh: read again without a signal.
        gets = ps.gets
        t.ok(harness.wait_until(lambda: ps.gets >= gets + 2, 10),
             "pac_refresh 1s: the PAC is fetched again on its own")
        ps.body = pac("PROXY %s" % sq.addr).encode()
        t.ok(harness.wait_until(lambda: 'now answers "PROXY %s"' % sq.addr
                                in sc.log(), 10),
             "a changed answer is picked up by the refresh, no SIGHUP")
        r = sc.get("/bot%s/getMe" % tok)
        t.is_(r.status, 200, "getMe through the new list: 200")

        # The PAC server fails: the last good list stays.
        ps.status = 500
        t.ok(harness.wait_until(lambda: "answered HTTP 500; the last good "
                                "proxy list stays" in sc.log(), 10),
             "PAC server answers 500: logged, the last good list stays")
        before = connects(sq)
        r = sc.get("/bot%s/getMe" % tok)
        t.ok(r.status == 200 and connects(sq) >= before + 1,
             "getMe still goes through squid: 200")
        ps.status = 200
    finally:
        sc.stop()


# ------------------------------------------------------ 3. at start

def part_start(t, env):
    wd, si, certs = env["wd"], env["si"], env["certs"]
    bad = os.path.join(wd, "bad.pac")
    cases = [
        ("a missing file", "pac+file://%s/none.pac" % wd, None,
         "cannot read %s/none.pac: No such file" % wd),
        ("an endless loop", "pac+file://" + bad,
         "function FindProxyForURL(u,h){for(;;){}}", "did not finish in"),
        ("a syntax error", "pac+file://" + bad,
         "function FindProxyForURL(u,h){", "SyntaxError"),
        ("an answer with nothing usable", "pac+file://" + bad,
         "function FindProxyForURL(u,h){return 'QUIC x:1'}",
         "no usable entry"),
        ("a PAC server that is down",
         "pac+http://127.0.0.1:%d/p.pac" % harness.closed_port(), None,
         "Couldn't connect"),
        ("a PAC URL with a password", "pac+http://u:secret@127.0.0.1/p.pac",
         None, "takes no user or password"),
        ("a pac+ftp:// URL", "pac+ftp://127.0.0.1/p.pac", None,
         "pac+file:///path"),
    ]
    for name, url, js, want in cases:
        if js is not None:
            write(bad, js)
        st, out, err = harness.run([harness.sidecar_bin(), "-t", "-u", si.url,
                                    "--ca-file", certs.ca_cert, "-x", url],
                                   timeout=30)
        t.ok(st == 2 and want in err and "secret" not in err,
             "-t with %s: exit 2 saying \"%s\" (%d: %s)"
             % (name, want, st, err.strip()[:200]))
    write(bad, pac("PROXY 127.0.0.1:3128; DIRECT"))
    st, out, err = harness.run([harness.sidecar_bin(), "-t", "-u", si.url,
                                "-x", "pac+file://" + bad], timeout=30)
    t.is_((st, out.strip()), (0, "configuration OK"), "-t with a good PAC")


def extra():
    return {"pacsrv": PacServer().start()}


def after(t, env):
    env["pacsrv"].stop()


def main():
    return harness.squid_main((part_file, part_http, part_start), extra,
                              after)


if __name__ == "__main__":
    sys.exit(main())
