#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""tgsidecar's failover and /readyz, on loopback: proxies that answer
CONNECT (a 200, a bare status line, a 1xx) and then pass nothing are
failed over, for a sendMessage too, since nothing reached the Bot API; a
TLS failure with an https:// proxy names the proxy; failure state belongs
to the proxy of the config a request started with, and a reload keeps it
for a proxy still in the list; /readyz runs one probe at a time, outside
max_inflight, the way a transfer goes (through a pre-proxy chain too).
TAP output."""

import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Sidecar, request, token  # noqa: E402
import proxies  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

# Short, for the proxies that fall silent; it also bounds squid's CONNECT
# and TLS after a failover, which on a loaded machine may take seconds.
CONNECT_TIMEOUT = "5s"
READYZ_CALLERS = 20
BOTS = 4


def post_json(sc, path, obj, timeout=harness.CLIENT_TIMEOUT):
    conn = sc.conn(timeout=timeout)
    body, hdrs = harness.json_body(obj)
    try:
        return request(conn, "POST", path, body, hdrs)
    finally:
        conn.close()


def failovers(sc):
    """tgsidecar_proxy_failovers_total from /metrics."""
    r = sc.get("/metrics")
    m = re.search(rb"^tgsidecar_proxy_failovers_total (\d+)", r.body, re.M)
    return int(m.group(1)) if m else None


def spares(sc):
    return harness.spare_counts(sc)


def log_lines(sc, sub):
    return [l for l in sc.log().splitlines() if sub in l]


def description(r):
    return (harness.try_json(r.body) or {}).get("description", "")


def in_threads(fn, args_list):
    """Run fn(*args) for each args in its own thread; the results in
    order (an exception's repr for one that raised)."""
    out = [None] * len(args_list)

    def run(i, a):
        try:
            out[i] = fn(*a)
        except Exception as e:  # a failed call, not a crash of the test
            out[i] = repr(e)
    ths = [threading.Thread(target=run, args=(i, a), daemon=True)
           for i, a in enumerate(args_list)]
    for th in ths:
        th.start()
    return ths, out


# ------------------------------------------------------------ 1. silence

def part_silence(t, env):
    """-x SILENT,SQUID: the request fails over to squid, the silent proxy
    is tried once and marked failed (not 3 x connect_timeout, not 504)."""
    wd, si, certs, sq = env["wd"], env["si"], env["certs"], env["squid"]
    tok = token(harness.unique_secret("sil"))
    for mode, what in (("200-silence", "CONNECT 200, then silence"),
                       ("status-silence", "a bare status line, then silence"),
                       ("1xx-silence", "a 100, then silence")):
        fp = FaultProxy(wd, mode).start()
        # proxy_fail_timeout 1h: "the next getMe skips the failed proxy"
        # must not depend on coming within the 30 s default.
        sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                     proxy="%s,%s" % (fp.url, sq.url),
                     extra_args=["--connect-timeout", CONNECT_TIMEOUT,
                                 "--proxy-fail-timeout", "1h"]).start()
        try:
            si.reset()
            text = "failed over from %s" % mode
            r = post_json(sc, "/bot%s/sendMessage" % tok,
                          {"chat_id": 77, "text": text})
            res = (r.json() or {}).get("result") or {}
            t.ok(r.status == 200 and res.get("text") == text,
                 "%s: sendMessage fails over to squid: 200 (%r)"
                 % (what, r if r.status != 200 else r.status))
            sends = [x for x in si.stats()["requests"]
                     if x["method"] == "sendMessage"]
            t.is_(len(sends), 1, "%s: the Bot API saw the sendMessage once"
                  % what)
            t.is_(fp.connects(), 1, "%s: the silent proxy got one CONNECT, "
                  "not one per retry" % what)
            t.is_(failovers(sc), 1, "%s: /metrics counts 1 proxy failover"
                  % what)
            t.is_(len(log_lines(sc, "proxy %s failed, skipping" % fp.url)), 1,
                  "%s: the log says the proxy failed, naming it" % what)
            r = sc.get("/bot%s/getMe" % tok)
            t.ok(r.status == 200 and fp.connects() == 1,
                 "%s: the next getMe skips the failed proxy (status %d, "
                 "%d CONNECTs)" % (what, r.status, fp.connects()))
        finally:
            sc.stop()
            fp.stop()


# ------------------------------------------------------------ 2. https proxy

def part_https_proxy(t, env):
    wd, si, certs = env["wd"], env["si"], env["certs"]
    tok = token(harness.unique_secret("hps"))
    good = FaultProxy(wd, "tunnel", tls=(certs.cert, certs.key)).start()
    bad = FaultProxy(wd, "tunnel",
                     tls=harness.self_signed(wd, "selfsigned")).start()
    try:
        sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                     proxy=good.url).start()
        try:
            r = sc.get("/bot%s/getMe" % tok)
            t.is_(r.status, 200, "https:// proxy with a trusted certificate: "
                  "getMe 200")
        finally:
            sc.stop()
        sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                     proxy=bad.url).start()
        try:
            r = sc.get("/bot%s/getMe" % tok)
            d = description(r)
            t.ok(r.status == 502 and d.startswith("proxy %s: " % bad.url)
                 and "certificate" in d,
                 "https:// proxy with an untrusted certificate: 502 naming "
                 "the proxy %s and its certificate (%r)" % (bad.url, d))
            t.unlike(d, "for 127.0.0.1", "... and not blaming the upstream "
                     "host's certificate")
        finally:
            sc.stop()
        # squid speaks plain HTTP: the TLS handshake with it fails.
        plain = "https://127.0.0.1:%d" % env["squid"].port
        sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                     proxy=plain).start()
        try:
            r = sc.get("/bot%s/getMe" % tok)
            d = description(r)
            t.ok(r.status == 502 and d.startswith("proxy %s: TLS" % plain),
                 "https:// for a proxy that speaks plain HTTP: 502 naming "
                 "the proxy and TLS (%r)" % d)
        finally:
            sc.stop()
    finally:
        good.stop()
        bad.stop()


# ------------------------------------------------------------ 3. /readyz

def readyz_burst(t, env, desc, sidecar, hop):
    """20 /readyz at once, then 4 getMe while their probe is held at the
    slow hop (until the test opens its gate, not for a time a loaded
    machine may outlast): one probe answers them all, and the bots
    (max_inflight 4) are served. hop.held() counts the connections that
    reached it."""
    tok = token(harness.unique_secret("rdy"))
    sc = sidecar(["--max-inflight", str(BOTS),
                  "--max-inflight-per-bot", str(BOTS)]).start()
    try:
        ths, ready = in_threads(lambda: sc.get("/readyz"),
                                [()] * READYZ_CALLERS)
        t.ok(harness.wait_until(lambda: hop.held() >= 1, 10),
             "%s: %d concurrent /readyz, a probe is under way"
             % (desc, READYZ_CALLERS))
        bths, bots = in_threads(lambda: sc.get("/bot%s/getMe" % tok),
                                [()] * BOTS)
        t.ok(harness.wait_until(lambda: hop.held() >= 1 + BOTS, 10),
             "%s: the %d getMe reach the slow hop while the probe is held "
             "there (%d held)" % (desc, BOTS, hop.held()))
        hop.open_gate()
        for th in ths + bths:
            th.join(harness.patient(60))
        st = [getattr(r, "status", r) for r in ready]
        t.is_(st, [200] * READYZ_CALLERS, "%s: %d concurrent /readyz all "
              "answer 200" % (desc, READYZ_CALLERS))
        t.is_([getattr(r, "status", r) for r in bots], [200] * BOTS,
              "%s: %d getMe sent during the probe with max_inflight %d: all "
              "200, none refused" % (desc, BOTS, BOTS))
        # Spares opened ahead go through the hop too: count them out.
        harness.wait_until(lambda: spares(sc).get("building") == 0, 10)
        sp = spares(sc)
        ahead = sp.get("opened", 0) + sp.get("failed", 0)
        t.is_(hop.held() - ahead, 1 + BOTS, "%s: %d connections: one probe "
              "for %d /readyz, and the bots' (and %d spares)"
              % (desc, 1 + BOTS, READYZ_CALLERS, ahead))
    finally:
        sc.stop()


def part_readyz_burst(t, env):
    """Direct, through a relay that holds each connection before it
    reaches the stand-in; then through a proxy that holds each CONNECT
    before its 200."""
    wd, si, certs = env["wd"], env["si"], env["certs"]
    relay = FaultProxy(wd, "relay", target=si.port, gate=True).start()
    slow = FaultProxy(wd, "tunnel", gate=True).start()
    try:
        readyz_burst(t, env, "direct, slow upstream", lambda extra: Sidecar(
            wd, upstream="https://127.0.0.1:%d" % relay.port,
            ca_file=certs.ca_cert, proxy="direct", extra_args=extra),
            relay)
        readyz_burst(t, env, "slow proxy", lambda extra: Sidecar(
            wd, upstream=si.url, ca_file=certs.ca_cert, proxy=slow.url,
            extra_args=extra), slow)
    finally:
        relay.stop()
        slow.stop()


def part_readyz_chain(t, env):
    """pre_proxy SOCKS -> HTTP proxy that only the SOCKS hop reaches: the
    probe goes through the chain as a transfer does."""
    wd, si, certs, sq = env["wd"], env["si"], env["certs"], env["squid"]
    tok = token(harness.unique_secret("chn"))
    hidden = harness.closed_port()     # squid, as seen from the SOCKS hop
    hop = FaultProxy(wd, "socks5-map", port_map={hidden: sq.port}).start()
    px = "http://127.0.0.1:%d" % hidden
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy=px,
                 pre_proxy=hop.url).start()
    try:
        r = sc.get("/readyz")
        t.is_((r.status, r.body), (200, ("ready: %s reachable\n" % px).encode()),
              "/readyz with pre_proxy %s -> %s: 200 reachable" % (hop.url, px))
        t.ok(hop.attempts() == 1, "the probe went through the SOCKS hop "
             "(%d connections)" % hop.attempts())
        r = sc.get("/bot%s/getMe" % tok)
        t.is_(r.status, 200, "getMe through the same chain: 200")
    finally:
        sc.stop()
        hop.stop()


def part_readyz_exit(t, env):
    """SIGTERM while /readyz waits on a probe that stalls: the sidecar
    still exits 0 (and under ASan, frees the probe)."""
    wd, si, certs = env["wd"], env["si"], env["certs"]
    stall = FaultProxy(wd, "stall").start()
    # connect_timeout 1h: the probe is still stalled when SIGTERM comes,
    # however slow the steps before it.
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy=stall.url,
                 extra_args=["--connect-timeout", "1h",
                             "--shutdown-timeout", "1s"]).start()
    try:
        ths, out = in_threads(lambda: sc.get("/readyz"), [()] * 2)
        t.ok(harness.wait_until(lambda: stall.connects() == 1, 10),
             "two /readyz wait on one probe stalled at CONNECT")
        st, killed = sc.stop()
        t.ok(st == 0 and not killed, "SIGTERM meanwhile: the sidecar exits 0 "
             "(status %r, killed %r)" % (st, killed))
        for th in ths:
            th.join(harness.patient(10))
    finally:
        sc.stop()
        stall.stop()


# ------------------------------------------------------------ 4. reload

def part_reload(t, env):
    wd, si, certs, sq = env["wd"], env["si"], env["certs"], env["squid"]
    tok = token(harness.unique_secret("rld"))
    conf = os.path.join(wd, "failover-reload.conf")

    def write(items):
        harness.write_config(conf + ".tmp", items)
        os.replace(conf + ".tmp", conf)

    def reload(sc, n):
        sc.proc.send_signal(signal.SIGHUP)
        return harness.wait_until(
            lambda: sc.log().count("configuration reloaded") >= n, 10)
    # proxy_fail_timeout 1h: a mark must not run out (30 s by default)
    # between the checks on a loaded machine.
    base = [("upstream", si.url), ("ca_file", certs.ca_cert),
            ("connect_timeout", CONNECT_TIMEOUT),
            ("proxy_fail_timeout", "1h")]

    # A reload keeps what it knows of a proxy still in the list.
    dead = "http://127.0.0.1:%d" % harness.closed_port()
    write(base + [("proxy", "%s,%s" % (dead, sq.url))])
    sc = Sidecar(wd, extra_args=["-c", conf], name="sidecar-fo-reload").start()
    try:
        r = sc.get("/bot%s/getMe" % tok)
        t.ok(r.status == 200 and failovers(sc) == 1,
             "[dead, squid]: getMe fails over, 1 failover counted")
        write(base + [("proxy", "%s,%s" % (dead, sq.url)),
                      ("log_level", "info")])
        t.ok(reload(sc, 1), "SIGHUP with the same proxy list")
        retries = len(log_lines(sc, "retry "))
        r = sc.get("/bot%s/getMe" % tok)
        t.ok(r.status == 200 and failovers(sc) == 1 and
             len(log_lines(sc, "retry ")) == retries,
             "after the reload the dead proxy is still skipped: no retry, "
             "still 1 failover")
    finally:
        sc.stop()

    # A request on the old config marks the old config's proxy. Its stall
    # must outlast the reload (else the mark comes before it, and proves
    # nothing): a connect_timeout a loaded machine does not reach first,
    # and the order is checked.
    base = [("upstream", si.url), ("ca_file", certs.ca_cert),
            ("connect_timeout", "%ds" % harness.patient(2)),
            ("proxy_fail_timeout", "1h")]
    stall = FaultProxy(wd, "stall").start()
    spare = FaultProxy(wd, "tunnel").start()
    write(base + [("proxy", "%s,%s" % (stall.url, sq.url))])
    sc = Sidecar(wd, extra_args=["-c", conf], name="sidecar-fo-reload2").start()
    try:
        ths, out = in_threads(lambda: sc.get("/bot%s/getMe" % tok), [()])
        t.ok(harness.wait_until(lambda: stall.connects() == 1, 10),
             "config A [stall, squid]: a getMe waits on the stalling proxy")
        write(base + [("proxy", "%s,%s" % (sq.url, spare.url))])
        t.ok(reload(sc, 1), "SIGHUP to config B [squid, spare]")
        ths[0].join(harness.patient(30))
        t.is_(getattr(out[0], "status", out[0]), 200, "the getMe of config A "
              "fails over to A's squid: 200")
        t.is_(len(log_lines(sc, "proxy %s failed" % stall.url)), 1,
              "the stalling proxy of A is marked failed")
        log = sc.log()
        t.ok(0 <= log.find("configuration reloaded") <
             log.find("proxy %s failed" % stall.url),
             "... after the reload to B (the mark is A's, made on B's watch)")
        r = sc.get("/bot%s/getMe" % tok)
        t.ok(r.status == 200 and spare.connects() == 0,
             "a getMe on B goes through B's first proxy, squid, which A's "
             "failure did not mark (status %d, spare saw %d CONNECTs)"
             % (r.status, spare.connects()))
        r = sc.get("/readyz")
        t.is_((r.status, r.body), (200, ("ready: %s reached in the last 30 s\n"
                                         % sq.url).encode()),
              "/readyz on B names squid as reached")
    finally:
        sc.stop()
        stall.stop()
        spare.stop()


def main():
    return harness.squid_main((part_silence, part_https_proxy,
                               part_readyz_burst, part_readyz_chain,
                               part_readyz_exit, part_reload))


if __name__ == "__main__":
    sys.exit(main())
