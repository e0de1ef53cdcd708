#!/usr/bin/python3
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
        t.is_(after["connections"] - before["connections"], N,
              "%s: %d requests made %d upstream connections" % (name, N, N))
        return after["tls_resumed"] - before["tls_resumed"]
    finally:
        st, killed = sc.stop()
        t.ok(st == 0 and not killed, "%s: exits 0 on SIGTERM" % name)


def main():
    t = Tap()
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    try:
        resumed = run(t, wd, si, certs, [], "default")
        t.ok(resumed >= N - 1, "default: TLS sessions are resumed on fresh "
             "connections (%d of %d)" % (resumed, N))
        resumed = run(t, wd, si, certs, ["--tls-session-resume", "no"], "resume off")
        t.is_(resumed, 0, "tls_session_resume = no: every handshake is a full one")
    finally:
        si.stop()
    t.done()


if __name__ == "__main__":
    main()
