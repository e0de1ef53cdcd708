#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""TLS to the upstream: every request is a new TCP connection, and by
default the TLS session of an earlier one is resumed (a short handshake);
tls_session_resume = no turns that off. TAP output."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap, Sidecar, StandIn, Certs, request, token  # noqa: E402

N = 10


def spares_ready(sc):
    conn = sc.conn()
    try:
        body = request(conn, "GET", "/metrics").body
    finally:
        conn.close()
    m = re.search(rb'^tgsidecar_spares\{state="ready"\} (\d+)', body, re.M)
    return int(m.group(1)) if m else 0


def run(t, wd, si, certs, extra, name):
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 extra_args=extra, name=name)
    sc.start()
    try:
        before = si.stats()
        conn = sc.conn()
        statuses = []
        for i in range(N):
            # One handshake at a time: libcurl 7.88 keeps one session per
            # host, and two connections built at once (a spare and a
            # fresh one) offer the same TLS 1.3 ticket, which the
            # stand-in takes once. So each call waits for its spare.
            if i > 0:
                harness.wait_until(lambda: spares_ready(sc) >= 1, 5)
            statuses.append(request(conn, "GET", "/bot%s/getMe"
                                    % token("tlsresume")).status)
        conn.close()
        after = si.stats()
        t.is_(statuses, [200] * N, "%s: %d getMe answered 200" % (name, N))
        # Per connection: spares opened ahead add connections with none.
        t.is_((after["conns_used"] - before["conns_used"],
               after["per_conn_max"]), (N, 1),
              "%s: %d requests went on %d upstream connections, one each"
              % (name, N, N))
        # The connections that carried these requests, as the stand-in
        # saw their handshakes (a spare still in its own is left out).
        old = set(c[0] for c in before["conn_list"])
        used = [c for c in after["conn_list"] if c[0] not in old and c[1]]
        return (len([c for c in used if c[2]]), len(used))
    finally:
        st, killed = sc.stop()
        t.ok(st == 0 and not killed, "%s: exits 0 on SIGTERM" % name)


def check_wrong_name(t, wd, certs):
    """A certificate from a trusted CA, but for another host: refused."""
    named = certs.other_name("wrong.example")
    si2 = StandIn(wd, named, name="standin-wrong-name").start()
    sc = Sidecar(wd, upstream=si2.url, ca_file=certs.ca_cert, proxy="direct",
                 name="sidecar-wrong-name")
    sc.start()
    try:
        conn = sc.conn()
        r = request(conn, "GET", "/bot%s/getMe" % token("wrongname"))
        o = r.json() or {}
        t.is_((r.status, o.get("ok"), o.get("error_code")), (502, False, 502),
              "a certificate for another host name: 502 JSON")
        desc = o.get("description", "")
        t.ok("TLS" in desc and "127.0.0.1" in desc and
             ("name" in desc or "match" in desc),
             "the description names TLS, the host and the name mismatch: %r"
             % desc)
        t.is_(si2.stats()["requests"], [], "no request reached that upstream")
        conn.close()
    finally:
        st, killed = sc.stop()
        t.ok(st == 0 and not killed, "wrong name: exits 0 on SIGTERM")
        si2.stop()


def main():
    t = Tap()
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    try:
        resumed, conns = run(t, wd, si, certs, [], "default")
        t.ok(resumed >= conns - 1 and conns == N, "default: TLS sessions are "
             "resumed on fresh connections (%d of the %d that carried a "
             "request)" % (resumed, conns))
        resumed, _ = run(t, wd, si, certs, ["--tls-session-resume", "no"],
                         "resume off")
        t.is_(resumed, 0, "tls_session_resume = no: every handshake is a full one")
        check_wrong_name(t, wd, certs)
    finally:
        si.stop()
    t.done()


if __name__ == "__main__":
    main()
