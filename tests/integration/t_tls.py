#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""TLS to the upstream: every request is a new TCP connection, and by
default the TLS session of an earlier one is resumed (a short handshake);
tls_session_resume = no turns that off. TAP output."""

import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap, Sidecar, StandIn, Certs, request, token  # noqa: E402

N = 10


def run(t, wd, si, certs, extra, name):
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 extra_args=extra, name=name)
    sc.start()
    try:
        before = si.stats()
        conn = sc.conn()
        statuses = [request(conn, "GET", "/bot%s/getMe" % token("tlsresume")).status
                    for _ in range(N)]
        conn.close()
        after = si.stats()
        t.is_(statuses, [200] * N, "%s: %d getMe answered 200" % (name, N))
        # Per connection: spares opened ahead add connections with none.
        t.is_((after["conns_used"] - before["conns_used"],
               after["per_conn_max"]), (N, 1),
              "%s: %d requests went on %d upstream connections, one each"
              % (name, N, N))
        return (after["tls_resumed"] - before["tls_resumed"],
                after["connections"] - before["connections"])
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
        # A spare is opened while the request on the one before it still
        # runs, and may offer a ticket that request's connection already
        # used (or no fresher one yet): one more full handshake at most.
        t.ok(resumed >= conns - 2, "default: TLS sessions are resumed on "
             "fresh connections (%d of %d, spares included)"
             % (resumed, conns))
        resumed, _ = run(t, wd, si, certs, ["--tls-session-resume", "no"],
                         "resume off")
        t.is_(resumed, 0, "tls_session_resume = no: every handshake is a full one")
        check_wrong_name(t, wd, certs)
    finally:
        si.stop()
    t.done()


if __name__ == "__main__":
    main()
