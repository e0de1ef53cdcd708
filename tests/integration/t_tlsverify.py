#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""The sidecar's own TLS with the upstream (src/tls.c), as a bot sees it:
a table of certificates and servers, each accepted (200) or refused (502
JSON naming TLS, the upstream host and the reason, and no request reaching
that upstream). Then the trap of a client session cache: a TLS session
made for one name is never resumed for another on the same IP and port;
and sessions are still resumed through squid and socks5h. Certificates
are made at test time; names under .localhost resolve to loopback in
libcurl. TAP output."""

import ipaddress
import os
import re
import signal
import sys
import threading
import warnings

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
import proxies  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402
from harness import Tap, Sidecar, StandIn, Certs, request, token  # noqa: E402

OK = None           # the case is accepted: 200 from the stand-in
PAST = ("20200101000000Z", "20200201000000Z")
FUTURE = ("20400101000000Z", "20400201000000Z")

# label, certificate (key for leaf(), SAN, leaf() options), upstream host,
# stand-in TLS ceiling, expected: OK or a pattern the reason must match.
CASES = [
    ("wrong name", ("wrong", "DNS:wrong.example", {}),
     "localhost", None, r"hostname mismatch"),
    ("unknown CA", ("otherca", "DNS:localhost", {"other_ca": True}),
     "localhost", None, r"unable to get local issuer certificate"),
    ("expired", ("expired", "DNS:localhost",
                 {"start": PAST[0], "end": PAST[1]}),
     "localhost", None, r"certificate has expired"),
    ("not yet valid", ("future", "DNS:localhost",
                       {"start": FUTURE[0], "end": FUTURE[1]}),
     "localhost", None, r"certificate is not yet valid"),
    ("partial wildcard *x.t.localhost for fx.t.localhost",
     ("pw-star-x", "DNS:*x.t.localhost", {}),
     "fx.t.localhost", None, r"hostname mismatch"),
    ("partial wildcard f*.t.localhost for fx.t.localhost",
     ("pw-f-star", "DNS:f*.t.localhost", {}),
     "fx.t.localhost", None, r"hostname mismatch"),
    ("wildcard *.t.localhost for a.t.localhost",
     ("wildcard", "DNS:*.t.localhost", {}),
     "a.t.localhost", None, OK),
    ("plain name localhost", ("plain", "DNS:localhost", {}),
     "localhost", None, OK),
    ("IP upstream 127.0.0.1, the IP in the SANs",
     ("ipsan", "IP:127.0.0.1", {}),
     "127.0.0.1", None, OK),
    ("IP upstream 127.0.0.1, DNS names only",
     ("ipdns", "DNS:localhost,DNS:127.0.0.1", {}),
     "127.0.0.1", None, r"IP address mismatch"),
    ("IP upstream ::1, the IP in the SANs", ("ip6san", "IP:::1", {}),
     "::1", None, OK),
    ("IP upstream ::1, only 127.0.0.1 in the SANs",
     ("ip6v4", "IP:127.0.0.1,DNS:localhost", {}),
     "::1", None, r"IP address mismatch"),
    ("a server of TLS 1.1 at most", None,
     "127.0.0.1", "1.1", r"protocol|version"),
]


def is_ip(host):
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def describe(r):
    o = r.json() or {}
    return (r.status, o.get("ok"), o.get("error_code")), \
        o.get("description", "")


def check_case(t, wd, certs, case):
    label, leaf, host, tls_max, want = case
    cert = certs if leaf is None else certs.leaf(leaf[0], leaf[1],
                                                 **leaf[2])
    slug = re.sub(r"\W+", "-", label)[:48]
    ip6 = ":" in host
    si = StandIn(wd, cert, name="standin-v-" + slug, tls_max=tls_max,
                 host=host if ip6 else "127.0.0.1").start()
    sc = Sidecar(wd, upstream=("https://[%s]:%d" if ip6 else
                               "https://%s:%d") % (host, si.port),
                 ca_file=certs.ca_cert, proxy="direct",
                 name="sidecar-v-" + slug)
    sc.start()
    try:
        r = sc.get("/bot%s/getMe" % token("tlsverify"))
        got, desc = describe(r)
        seen = si.stats()
        # RFC 6066: a name, never an address; one per handshake.
        want_sni = None if is_ip(host) else host
        # A TLS 1.1 server fails the version before it reads the name.
        t.ok((seen["sni"] or tls_max) and set(seen["sni"]) <= {want_sni},
             "%s: the ClientHello names %r (the server read: %r)"
             % (label, want_sni, sorted(set(seen["sni"]), key=str)))
        if want is OK:
            t.is_((r.status, len(seen["requests"])), (200, 1),
                  "%s: accepted, getMe answered 200 by the upstream" % label)
            return
        t.is_(got, (502, False, 502), "%s: refused, 502 JSON" % label)
        t.ok("TLS" in desc and host in desc and re.search(want, desc),
             "%s: the description names TLS, %s and /%s/: %r"
             % (label, host, want, desc))
        t.is_((seen["requests"], seen["conns_used"]), ([], 0),
              "%s: no request reached that upstream" % label)
    finally:
        st, killed = sc.stop()
        t.ok(st == 0 and not killed, "%s: exits 0 on SIGTERM" % label)
        si.stop()


def tls11_servable(wd, certs):
    """Whether this OpenSSL serves TLS 1.1 at all (security level 0): a
    client of our own must reach it, or the row proves nothing."""
    import socket
    import ssl
    si = StandIn(wd, certs, name="standin-tls11-probe", tls_max="1.1")
    try:
        si.start()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():     # TLSv1 is deprecated: yes
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
        with socket.create_connection(("127.0.0.1", si.port), 10) as s:
            with ctx.wrap_socket(s) as ts:
                return ts.version() == "TLSv1.1", ts.version()
    except (OSError, ssl.SSLError, RuntimeError) as e:
        return False, str(e)
    finally:
        si.stop()


def spares_ready(sc):
    m = re.search(rb'^tgsidecar_spares\{state="ready"\} (\d+)',
                  sc.get("/metrics").body, re.M)
    return int(m.group(1)) if m else 0


def calls_resumed(sc, si, tok, n):
    """One getMe to warm up (its tickets cached), a spare ready, then n
    getMe back to back: (statuses, connections that carried one, how many
    of those resumed, the full handshakes after the first). The spare made
    during the warm-up, before any ticket came, may be full. So, rarely,
    may one more: OpenSSL spends a TLS 1.3 ticket in the handshake that
    resumes it, and a server sends one new ticket per resumption, so a
    connection begun between the end of a handshake and the reading of
    its new ticket finds none (seen once in 14 runs of this file). A spent
    ticket offered again (fixed in 26c6277) is pinned by test_tlscache."""
    sc.get("/bot%s/getMe" % tok)
    harness.wait_until(lambda: spares_ready(sc) >= 1, 5)
    before = si.stats()
    conn = sc.conn()
    st = [request(conn, "GET", "/bot%s/getMe" % tok).status
          for _ in range(n)]
    conn.close()
    after = si.stats()
    # The ready spare was open before: it carried none yet.
    old = set(c[0] for c in before["conn_list"] if c[1])
    used = [c for c in after["conn_list"] if c[0] not in old and c[1]]
    used.sort(key=lambda c: c[0])
    # Any full handshake but the first: a ticket was missing or spent.
    late_full = [c[0] for c in used[1:] if not c[2]]
    return st, len(used), len([c for c in used if c[2]]), late_full


# ------------------------------------------------------------ the trap

def session_trap(t, wd, certs, a_host, b_host):
    """A certificate for a_host only. Requests to a_host (tickets cached,
    and resumed: the server takes them), then a reload to b_host, same IP
    and port: refused, never resumed. A reload makes the TLS context anew
    and flushes the cache, which would hide a cache shared across names;
    so one request of the a_host config is held at a gated proxy across
    the reload and shakes hands after it, leaving its tickets in the new
    cache when b_host is tried."""
    tag = "%s->%s" % (a_host, b_host)
    leaf = certs.leaf("trap-" + a_host, "DNS:" + a_host)
    si = StandIn(wd, leaf, name="standin-trap-" + a_host).start()
    gate = FaultProxy(wd, "tunnel", gate=True).start()
    conf = os.path.join(wd, "trap-%s.conf" % a_host)
    a_url = "https://%s:%d" % (a_host, si.port)
    b_url = "https://%s:%d" % (b_host, si.port)
    tok = token("tlstrap")

    def write(items):
        harness.write_config(conf + ".tmp", items + [
            ("ca_file", certs.ca_cert),
            ("connect_timeout", "%ds" % harness.patient(30))])
        os.replace(conf + ".tmp", conf)

    def reload(n):
        sc.proc.send_signal(signal.SIGHUP)
        return harness.wait_until(
            lambda: sc.log().count("configuration reloaded") >= n, 10)

    write([("upstream", a_url), ("proxy", "direct")])
    sc = Sidecar(wd, extra_args=["-c", conf],
                 name="sidecar-trap-" + a_host).start()
    try:
        st, used, resumed, late = calls_resumed(sc, si, tok, 4)
        t.ok(st == [200] * 4 and used == 4 and resumed >= 3,
             "%s: 4 getMe to %s answered 200, %d of %d resumed: sessions for "
             "%s are cached and the server takes them"
             % (tag, a_host, resumed, used, a_host))

        write([("upstream", a_url), ("proxy", gate.url)])
        t.ok(reload(1), "%s: reload, %s through a gated proxy" % (tag, a_host))
        out = []
        th = threading.Thread(target=lambda: out.append(
            sc.get("/bot%s/getMe" % tok)))
        th.start()
        held = harness.wait_until(lambda: gate.held() >= 1, 10)
        write([("upstream", b_url), ("proxy", "direct")])
        t.ok(held and reload(2) and not out, "%s: a getMe to %s held at the "
             "gate, then a reload to %s" % (tag, a_host, b_host))
        gate.open_gate()
        th.join(harness.patient(30))
        t.is_([r.status for r in out], [200], "%s: the held getMe shakes "
              "hands with %s after the reload: 200" % (tag, a_host))

        before = si.stats()
        for i in range(3):
            got, desc = describe(sc.get("/bot%s/getMe" % tok))
            t.ok(got == (502, False, 502) and "TLS" in desc and
                 b_host in desc and "mismatch" in desc,
                 "%s: getMe %d to %s, whose certificate does not match: "
                 "refused, 502 naming TLS, the host and the mismatch: %r"
                 % (tag, i + 1, b_host, desc))
        after = si.stats()
        old = set(c[0] for c in before["conn_list"])
        new = [c for c in after["conn_list"] if c[0] not in old]
        t.is_((len(after["requests"]) - len(before["requests"]),
               [c[0] for c in new if c[2]]), (0, []),
              "%s: no request reached the upstream as %s, and none of its "
              "%d connections resumed a session of %s"
              % (tag, b_host, len(new), a_host))
    finally:
        gate.open_gate()
        st, killed = sc.stop()
        t.ok(st == 0 and not killed, "%s: exits 0 on SIGTERM" % tag)
        gate.stop()
        si.stop()


def trust_reload(t, wd, certs):
    """A reload that drops the CA of the upstream's certificate: the
    sessions made under the old trust must go (a resumed TLS 1.3
    handshake shows no certificate to check), so the next calls are
    refused, not resumed."""
    si = StandIn(wd, certs, name="standin-trust-reload").start()
    conf = os.path.join(wd, "trust-reload.conf")

    # No spares: every connection is a call's, so the ones after the
    # reload are the new trust's alone.
    def write(ca):
        harness.write_config(conf + ".tmp", [
            ("upstream", si.url), ("ca_file", ca), ("proxy", "direct"),
            ("prewarm", "0")])
        os.replace(conf + ".tmp", conf)

    write(certs.ca_cert)
    sc = Sidecar(wd, extra_args=["-c", conf],
                 name="sidecar-trust-reload").start()
    tok = token("tlstrust")
    try:
        st = [sc.get("/bot%s/getMe" % tok).status for _ in range(3)]
        before = si.stats()
        used = [c for c in before["conn_list"] if c[1]]
        t.ok(st == [200] * 3 and len([c for c in used if c[2]]) == 2,
             "trust reload: 3 getMe answered 200 under the test CA, the "
             "2 after the first resumed (%r)" % ([c[2] for c in used],))
        write(certs.other_ca_cert)
        sc.proc.send_signal(signal.SIGHUP)
        t.ok(harness.wait_until(
            lambda: "configuration reloaded" in sc.log(), 10),
            "trust reload: SIGHUP to a ca_file of another CA")
        descs = [describe(sc.get("/bot%s/getMe" % tok)) for _ in range(3)]
        after = si.stats()
        t.ok(all(d[0] == (502, False, 502) and "unable to get local issuer"
                 in d[1] for d in descs), "trust reload: 3 getMe refused, "
             "502 naming the unknown issuer: %r" % (descs[0][1],))
        old = set(c[0] for c in before["conn_list"])
        new = [c for c in after["conn_list"] if c[0] not in old]
        t.is_((len(after["requests"]) - len(before["requests"]),
               [c[0] for c in new if c[2]]), (0, []),
              "trust reload: no request reached the upstream, none of %d "
              "connections resumed a session made under the old trust"
              % len(new))
    finally:
        st, killed = sc.stop()
        t.ok(st == 0 and not killed, "trust reload: exits 0 on SIGTERM")
        si.stop()


# ------------------------------------------------------------ proxies

def proxy_resumes(t, wd, certs, si, px, n=8):
    """n getMe back to back through proxy px: at least n-1 of the
    connections that carried one resumed a session."""
    tag = px.name if hasattr(px, "name") else str(px)
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy=px.url,
                 name="sidecar-resume-" + tag)
    sc.start()
    try:
        st, used, resumed, late = calls_resumed(sc, si, token("tlsproxy"),
                                                n)
        t.ok(st == [200] * n and used == n and resumed >= n - 1,
             "through %s (%s): %d getMe back to back answered 200 "
             "on %d connections, %d resumed, full after the first: %r"
             % (tag, px.url.split(":")[0], st.count(200), used, resumed,
                late))
    finally:
        stc, killed = sc.stop()
        t.ok(stc == 0 and not killed, "%s: exits 0 on SIGTERM" % tag)


def main():
    t = Tap()
    wd = harness.make_tempdir()
    certs = Certs(wd)
    can11, why = tls11_servable(wd, certs)
    for case in CASES:
        if case[3] == "1.1" and not can11:
            t.skip(case[0], "this OpenSSL cannot serve TLS 1.1 even at "
                   "security level 0: %s" % why)
            continue
        check_case(t, wd, certs, case)
    session_trap(t, wd, certs, "localhost", "127.0.0.1")
    session_trap(t, wd, certs, "a.t.localhost", "b.t.localhost")
    trust_reload(t, wd, certs)

    si = StandIn(wd, certs, name="standin-proxies").start()
    sq = proxies.Squid(wd, [si.port]).start()
    ms = proxies.Microsocks(wd, scheme="socks5h").start()
    try:
        proxy_resumes(t, wd, certs, si, sq)
        proxy_resumes(t, wd, certs, si, ms)
    finally:
        ms.stop()
        sq.stop()
        si.stop()
    t.done()


if __name__ == "__main__":
    main()
