#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""The words a bot reads when the way to the Bot API fails, on loopback:
each 502 names the stage that failed, the host it failed for and the
cause, never credentials. Unresolvable names have a 64-byte label,
one over DNS's limit (RFC 1035), so glibc's resolver refuses them
before it asks any name server: no query leaves loopback, for the
sidecar and for danted alike (checked with strace: no socket to the
resolver).
A name lookup that fails on this machine (direct,
a socks5:// proxy that leaves lookups to the sidecar, the proxy's or
pre-proxy's own name) says DNS, and for socks5:// suggests socks5h://;
a SOCKS proxy that cannot reach its target is quoted by its reply code;
an HTTP proxy's refusal names what it was asked for; a TLS failure with
an https:// proxy names the proxy; /readyz says what its probe met; a
reply cut after its head names the upstream in the access log. TAP
output."""

import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Sidecar, request, token  # noqa: E402
import proxies  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

# A 64-byte label: glibc refuses the name without a DNS query.
NX_LABEL = "n" * 64
NX_UPSTREAM = "api." + NX_LABEL + ".invalid"
NX_PROXY = "proxy." + NX_LABEL + ".invalid"
NX_PRE = "pre." + NX_LABEL + ".invalid"
PASSWORD = "Errtext-Secret-9"


def description(r):
    return (harness.try_json(r.body) or {}).get("description", "")


def check(t, name, r, tok, prefix, has=(), hasnot=()):
    """A 502 whose description starts with prefix, holds every string
    of has and none of hasnot, nor the token or the proxy password."""
    d = description(r)
    o = harness.try_json(r.body) or {}
    t.ok(r.status == 502 and o.get("error_code") == 502 and
         d.startswith(prefix), "%s: 502 starting \"%s\"" % (name, prefix))
    for s in has:
        t.like(d, s, "%s: it says \"%s\"" % (name, s))
    for s in hasnot:
        t.unlike(d, s, "%s: it does not say \"%s\"" % (name, s))
    t.ok(tok.split(":")[1] not in d and PASSWORD not in d,
         "%s: no token and no password in it" % name)
    t.diag("%s: %r" % (name, d))


def one(env, tok, proxy=None, pre_proxy=None, upstream=None, ca=None,
        path=None):
    """One getMe through a fresh sidecar; (Reply, sidecar log)."""
    si, certs = env["si"], env["certs"]
    sc = Sidecar(env["wd"], upstream=upstream or si.url,
                 ca_file=ca or certs.ca_cert, proxy=proxy or "direct",
                 pre_proxy=pre_proxy, extra_args=["--retries", "0"]).start()
    try:
        r = sc.get(path or "/bot%s/getMe" % tok)
    finally:
        stopped(env, sc)
    return r, sc.log()


def stopped(env, sc):
    """SIGTERM; a sidecar that does not exit 0 (or, under a sanitizer,
    reports an error) is remembered for the last test."""
    st, killed = sc.stop()
    if st != 0 or killed or "runtime error" in sc.log():
        env["bad_exits"].append("%s: exit %r, killed %r" % (
            " ".join(sc.argv[1:]), st, killed))


# ------------------------------------------------------------ 1. DNS

def part_dns(t, env):
    tok = token(harness.unique_secret("dns"))
    nx = "https://%s:%d" % (NX_UPSTREAM, env["si"].port)
    ms = proxies.Microsocks(env["wd"], scheme="socks5").start()
    try:
        r, _ = one(env, tok, proxy=ms.url, upstream=nx)
        check(t, "socks5://, upstream name unknown", r, tok,
              "upstream %s: DNS lookup failed on this machine" % NX_UPSTREAM,
              ("proxy %s" % ms.url, "socks5h://"), ("handshake",))
        # socks5h://: the proxy resolves, and answers with a reply code.
        r, _ = one(env, tok, proxy="socks5h://127.0.0.1:%d" % ms.port,
                   upstream=nx)
        check(t, "socks5h://, upstream name unknown", r, tok,
              "proxy socks5h://127.0.0.1:%d could not reach upstream %s: "
              "SOCKS reply " % (ms.port, NX_UPSTREAM), (), ("handshake",))
        # A socks5:// pre-proxy resolves the HTTP proxy's name here.
        r, _ = one(env, tok, pre_proxy=ms.url,
                   proxy="http://%s:3128" % NX_PROXY)
        check(t, "socks5:// pre_proxy, proxy name unknown", r, tok,
              "proxy http://%s:3128: DNS lookup failed on this machine"
              % NX_PROXY, ("pre_proxy %s" % ms.url, "socks5h://"))
    finally:
        ms.stop()

    r, _ = one(env, tok, upstream=nx)
    check(t, "direct, upstream name unknown", r, tok,
          "upstream %s: DNS lookup failed on this machine" % NX_UPSTREAM,
          ("resolve",), ("connect failed",))
    for scheme in ("http", "socks5h", "socks5"):
        r, _ = one(env, tok, proxy="%s://user:%s@%s:1080" % (
            scheme, PASSWORD, NX_PROXY))
        check(t, "%s:// proxy name unknown" % scheme, r, tok,
              "proxy %s://%s:1080: DNS lookup of the proxy's name failed"
              % (scheme, NX_PROXY), (), ("tunnel",))
    r, _ = one(env, tok, proxy=env["squid"].url,
               pre_proxy="socks5h://%s:1080" % NX_PRE)
    check(t, "pre_proxy name unknown", r, tok,
          "pre_proxy socks5h://%s:1080: DNS lookup of the proxy's name "
          "failed" % NX_PRE)

    # An HTTP proxy resolves the upstream itself and refuses the CONNECT.
    tp = proxies.Tinyproxy(env["wd"], [env["si"].port]).start()
    ms = proxies.Microsocks(env["wd"]).start()
    try:
        r, _ = one(env, tok, proxy=tp.url, upstream=nx)
        check(t, "HTTP proxy, upstream name unknown", r, tok,
              "proxy %s answered 500 to CONNECT for upstream %s"
              % (tp.url, NX_UPSTREAM))
        # Behind a pre-proxy, the CONNECT still asks for the upstream.
        r, _ = one(env, tok, proxy=tp.url, pre_proxy=ms.url, upstream=nx)
        check(t, "pre_proxy, HTTP proxy, upstream name unknown", r, tok,
              "proxy %s answered 500 to CONNECT for upstream %s"
              % (tp.url, NX_UPSTREAM))
        # A pre-proxy that cannot reach the proxy says so.
        dead = harness.closed_port()
        r, _ = one(env, tok, proxy="http://127.0.0.1:%d" % dead,
                   pre_proxy=ms.url)
        check(t, "pre_proxy, HTTP proxy down", r, tok,
              "pre_proxy %s could not reach proxy http://127.0.0.1:%d: "
              "SOCKS reply 5, connection refused" % (ms.url, dead))
    finally:
        ms.stop()
        tp.stop()


# ------------------------------------------------------------ 2. SOCKS

DANTED = "/usr/sbin/danted"


class Dante:
    """Dante's danted on 127.0.0.1, no authentication: a SOCKS5 server
    that answers a name it cannot resolve with reply 4."""

    def __init__(self, wd):
        self.port = harness.alloc_port()
        d = os.path.join(wd, "dante-%d" % self.port)
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "danted.conf")
        users = ("user.privileged: root\nuser.unprivileged: nobody\n"
                 if os.geteuid() == 0 else "")
        with open(conf, "w") as f:
            f.write("logoutput: stderr\n"
                    "internal: 127.0.0.1 port = %d\n"
                    "external: 127.0.0.1\n"
                    "clientmethod: none\nsocksmethod: none\n%s"
                    "client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }\n"
                    "socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }\n"
                    % (self.port, users))
        self.proc = harness.Proc([DANTED, "-f", conf, "-p",
                                  os.path.join(d, "danted.pid")], d, "danted")

    @property
    def url(self):
        return "socks5h://127.0.0.1:%d" % self.port

    def start(self):
        self.proc.start()
        if not harness.wait_port("127.0.0.1", self.port, 10, self.proc):
            self.proc.stop()
            raise RuntimeError("danted did not start:\n" + self.proc.stderr())
        return self

    def stop(self):
        return self.proc.stop()


def part_socks_reply(t, env):
    tok = token(harness.unique_secret("sox"))
    dead = harness.closed_port()
    ms = proxies.Microsocks(env["wd"]).start()
    try:
        r, _ = one(env, tok, proxy=ms.url,
                   upstream="https://127.0.0.1:%d" % dead)
        check(t, "socks5h://, upstream port closed", r, tok,
              "proxy %s could not reach upstream 127.0.0.1: SOCKS reply 5, "
              "connection refused" % ms.url, (), ("handshake",))
    finally:
        ms.stop()
    r, _ = one(env, tok, proxy="socks5h://127.0.0.1:%d" % dead)
    check(t, "SOCKS proxy down", r, tok, "proxy socks5h://127.0.0.1:%d: "
          "connect failed" % dead)
    if not os.access(DANTED, os.X_OK):
        t.skip("danted, upstream name unknown", "no %s" % DANTED)
        return
    dn = Dante(env["wd"]).start()
    try:
        r, _ = one(env, tok, proxy=dn.url, upstream="https://%s:%d" % (
            NX_UPSTREAM, env["si"].port))
        check(t, "danted, upstream name unknown", r, tok,
              "proxy %s could not reach upstream %s: SOCKS reply 4, host "
              "unreachable" % (dn.url, NX_UPSTREAM))
    finally:
        dn.stop()


def part_proxy_refusals(t, env):
    wd = env["wd"]
    tok = token(harness.unique_secret("ref"))
    ms = proxies.Microsocks(wd, user="u", password="RightPw1").start()
    try:
        url = ms.url_with("u", PASSWORD)
        r, _ = one(env, tok, proxy=url)
        check(t, "SOCKS5 password refused", r, tok, "proxy %s: SOCKS "
              "handshake failed: " % ms.url_with(), ("rejected",))
    finally:
        ms.stop()
    fp = FaultProxy(wd, "407").start()
    try:
        r, _ = one(env, tok, proxy=fp.url)
        check(t, "CONNECT answered 407", r, tok, "proxy %s answered 407 to "
              "CONNECT for upstream 127.0.0.1" % fp.url)
    finally:
        fp.stop()
    fp = FaultProxy(wd, "close-on-connect").start()
    try:
        r, _ = one(env, tok, proxy=fp.url)
        check(t, "proxy closes during CONNECT", r, tok, "proxy %s: no "
              "working tunnel through it: " % fp.url)
    finally:
        fp.stop()


# ------------------------------------------------------------ 3. TLS

def part_tls(t, env):
    wd, certs = env["wd"], env["certs"]
    tok = token(harness.unique_secret("tls"))
    named = certs.other_name("proxy.example")
    untrusted = harness.self_signed(wd, "errtext-ss")
    for what, tls in (("an untrusted certificate", untrusted),
                      ("a certificate for another name",
                       (named.cert, named.key))):
        fp = FaultProxy(wd, "tunnel", tls=tls).start()
        try:
            r, _ = one(env, tok, proxy=fp.url)
            check(t, "https:// proxy with %s" % what, r, tok,
                  "proxy %s: TLS with the proxy failed: " % fp.url,
                  ("certificate" if "untrusted" in what else "name",),
                  ("127.0.0.1:%d" % env["si"].port,))
        finally:
            fp.stop()
    # Through a working proxy, the upstream's certificate is the upstream's.
    r, _ = one(env, tok, proxy=env["squid"].url, ca=certs.other_ca_cert)
    check(t, "upstream certificate through squid", r, tok,
          "upstream 127.0.0.1: TLS certificate verify failed: ", (),
          ("proxy",))


# ------------------------------------------------------------ 4. the rest

def part_readyz_and_cut(t, env):
    wd, si, certs = env["wd"], env["si"], env["certs"]
    tok = token(harness.unique_secret("rdz"))
    ms = proxies.Microsocks(wd, scheme="socks5").start()
    try:
        sc = Sidecar(wd, upstream="https://%s:%d" % (NX_UPSTREAM, si.port),
                     ca_file=certs.ca_cert, proxy=ms.url).start()
        try:
            r = sc.get("/readyz")
            body = r.body.decode("utf-8", "replace")
            head = "not ready: probe via %s failed: upstream %s: DNS lookup " \
                "failed" % (ms.url, NX_UPSTREAM)
            t.ok(r.status == 503 and body.startswith(head) and
                 "socks5h://" in body, "/readyz, socks5:// and an unknown "
                 "upstream name: 503 \"%s...\" suggesting socks5h:// (%r)"
                 % (head, body))
        finally:
            stopped(env, sc)
    finally:
        ms.stop()

    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                 proxy="direct").start()
    try:
        si.reset()
        si.fault("sendMessage", "reset")
        conn = sc.conn()
        try:
            body, hdrs = harness.json_body({"chat_id": 5, "text": "once"})
            r = request(conn, "POST", "/bot%s/sendMessage" % tok, body, hdrs)
        finally:
            conn.close()
        check(t, "upstream resets after the request", r, tok,
              "upstream 127.0.0.1: connection broke after the request was "
              "sent: ")
        si.reset()
        si.fault("getMe", "partial")
        conn = sc.conn()
        try:
            conn.request("GET", "/bot%s/getMe" % tok)
            resp = conn.getresponse()
            try:
                resp.read()
            except Exception:
                pass
        finally:
            conn.close()
        want = "upstream 127.0.0.1: reply cut after its head: "
        t.ok(harness.wait_until(lambda: want in sc.log(), 10),
             "a reply cut after its head: the access log says \"%s<cause>\""
             % want)
        cut = [l for l in sc.log().splitlines() if want in l]
        t.diag("log: %r" % cut[:1])
    finally:
        stopped(env, sc)


def main():
    def every_exit_clean(t, env):
        t.is_(env["bad_exits"], [], "every sidecar exited 0 on SIGTERM")
    return harness.squid_main((part_dns, part_socks_reply,
                               part_proxy_refusals, part_tls,
                               part_readyz_and_cut),
                              extra=lambda: {"bad_exits": []},
                              after=every_exit_clean)


if __name__ == "__main__":
    sys.exit(main())
