#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""The everyday part of t_proxies.py, for runs under a slow wrapper
(TGSIDECAR_WRAPPER=valgrind ...; see tests/memcheck.sh): getMe, sendMessage
in every encoding, 100 requests on one kept-alive connection, pipelining
(with and without bodies), upstream errors passed through and 20
concurrent bots, through squid and through microsocks (socks5h). No
timing assertions, no long polls, no 20 MB transfers. Not part of make
check. TAP output; the sidecar must exit 0 on SIGTERM after each case."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(HERE, "integration"))

import harness  # noqa: E402
from harness import Tap, Sidecar, StandIn, Certs, token  # noqa: E402
import proxies  # noqa: E402
import t_proxies as tp  # noqa: E402

CHECKS = [tp.check_getme, tp.check_send_message, tp.check_keepalive_100,
          tp.check_pipelining, tp.check_pipelining_bodies,
          tp.check_upstream_errors, tp.check_concurrent]


def cases(wd, si):
    return [
        ("squid", lambda: proxies.Squid(wd, [si.port])),
        ("microsocks socks5h", lambda: proxies.Microsocks(wd, scheme="socks5h")),
    ]


def main():
    t = Tap()
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    for name, factory in cases(wd, si):
        p = factory()
        sc = None
        try:
            p.start()
            si.reset()
            secret = harness.unique_secret("mc")
            sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy=p.url)
            sc.start()
            c = tp.Ctx(t, name, si, sc, token(secret), None, wd)
            c.bad_tok = token("BAD" + harness.unique_secret("bad"))
            for check in CHECKS:
                try:
                    check(c)
                except Exception:
                    t.fail_exception("%s: %s" % (name, check.__name__))
            st, killed = sc.stop()
            t.ok(st == 0 and not killed, "%s: sidecar exits 0 on SIGTERM "
                 "(status %r%s)" % (name, st, ", killed" if killed else ""))
            t.ok(secret not in sc.log(), "%s: no token secret in the log" % name)
        except Exception:
            t.fail_exception(name)
            if sc is not None:
                t.diag(sc.log()[-3000:])
        finally:
            if sc is not None:
                sc.stop()
            p.stop()
    si.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
