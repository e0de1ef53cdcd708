#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""tgsidecar behind a proxy whose tunnel swallows the TLS handshake (DPI),
for a bot with 5 s timeouts (issue 19, item 1). -x A,squid where A
answers CONNECT 200 and then passes nothing (or never answers CONNECT):
the call the bot abandons runs on to its verdict in the spare pool and
blames A, its access line names A and the stage; no later bot call waits
on A, and once A's skip period is over a spare re-tries it, not a bot.
Then a proxy that worked and starts swallowing handshakes: its learned
handshake clock (4 x, 1 s at least) cuts the handshake long before
connect_timeout, and the call goes on through squid within the bot's
5 s. TAP output."""

import http.client
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Sidecar, token  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

# The bot's own patience: python-telegram-bot's default connect and read
# timeouts. Not scaled: it is the situation under test.
BOT_TIMEOUT = 5.0
CALLS = 12
# Longer than the bot's timeout, so the bot leaves first, and short
# enough for the test to see the verdict.
CONNECT_TIMEOUT = "10s"
FAIL_TIMEOUT = "3s"

# The silent proxy's mode, and the stage an abandoned call waited on.
KINDS = (
    ("200-silence", "the TLS handshake with 127.0.0.1 through proxy %s",
     "upstream timeout in the TLS handshake with 127.0.0.1 through proxy "
     "%s: not connected in 10 s (connect_timeout)"),
    ("stall", "the tunnel to 127.0.0.1 through proxy %s",
     "upstream timeout in the proxy handshake with proxy %s: not "
     "connected in 10 s (connect_timeout)"),
)


def bot_call(sc, path):
    """One call as a bot with 5 s timeouts makes it: (status or the
    exception's name, seconds)."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection(sc.host, sc.port, timeout=BOT_TIMEOUT)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return r.status, time.monotonic() - t0
    except (OSError, http.client.HTTPException) as e:
        return type(e).__name__, time.monotonic() - t0
    finally:
        conn.close()


def access_lines(sc):
    return [l for l in sc.log().splitlines() if " access " in l and
            "getMe" in l]


def count(sc, sub):
    return sum(1 for l in sc.log().splitlines() if sub in l)


def part_silent_from_the_start(t, env):
    wd, si, certs, sq = env["wd"], env["si"], env["certs"], env["squid"]
    tok = token(harness.unique_secret("dpi"))
    path = "/bot%s/getMe" % tok
    for mode, stage, verdict in KINDS:
        fp = FaultProxy(wd, mode).start()
        a = fp.url
        sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                     proxy="%s,%s" % (a, sq.url),
                     extra_args=["--connect-timeout", CONNECT_TIMEOUT,
                                 "--proxy-fail-timeout", FAIL_TIMEOUT,
                                 "--log-level", "debug"]).start()
        try:
            res = [bot_call(sc, path) for _ in range(CALLS)]
            good = sum(1 for st, _ in res if st == 200)
            t.diag("%s: %d of %d calls succeeded; the first took %.1f s "
                   "(%r)" % (mode, good, CALLS, res[0][1], res[0][0]))
            t.ok(good >= CALLS - 1, "%s: a bot with 5 s timeouts, %d getMe "
                 "back to back: at least %d succeed (%d: %r)"
                 % (mode, CALLS, CALLS - 1, good, [s for s, _ in res]))
            t.ok(all(st == 200 for st, _ in res[1:]), "%s: every call after "
                 "the first succeeds" % mode)
            want = ('status=499 ', 'error="bot closed the connection while '
                    'waiting for %s"' % (stage % a))
            left = [l for l in access_lines(sc) if all(w in l for w in want)]
            t.is_(len(left), CALLS - good, "%s: the abandoned call's access "
                  "line names A and the stage: %s" % (mode, want[1]))
            t.ok(harness.wait_until(lambda: count(
                sc, "proxy %s failed, skipping" % a) >= 1, 30),
                 "%s: the abandoned call runs on to its verdict: A is "
                 "failed over" % mode)
            t.ok(count(sc, "spare connection failed: " + verdict % a) >= 1,
                 "%s: judged as a timeout of A: %s" % (mode, verdict % a))
            t.ok(harness.spare_counts(sc).get("adopted", 0) >= 1,
                 "%s: /metrics counts the adopted connection" % mode)
            # The skip period (3 s) ends while the bot goes on calling: a
            # spare re-tries A, the bot's calls go through squid.
            more = []

            def retried():
                more.append(bot_call(sc, path))
                time.sleep(0.2)
                return (count(sc, "spare re-tries proxy %s" % a) >= 1 and
                        fp.connects() >= 2)
            t.ok(harness.wait_until(retried, 30, 0.01),
                 "%s: after its skip period A is re-tried by a spare (%d "
                 "connections to A, %d bot calls meanwhile)"
                 % (mode, fp.connects(), len(more)))
            t.ok(all(st == 200 for st, _ in more), "%s: meanwhile every bot "
                 "call succeeds (%d)" % (mode, len(more)))
            spares = count(sc, "spare re-tries proxy %s" % a)
            t.is_(fp.connects(), 1 + spares, "%s: A saw the first bot call "
                  "and spares only (%d re-tries), no other bot call" %
                  (mode, spares))
            t.is_(count(sc, "retry "), 0, "%s: no bot call was retried "
                  "away from A: none waited on it" % mode)
        finally:
            sc.stop()
            fp.stop()


def part_silent_later(t, env):
    """A works, learns its handshake time, then swallows handshakes:
    default connect_timeout (30 s), yet the bot's calls succeed."""
    wd, si, certs, sq = env["wd"], env["si"], env["certs"], env["squid"]
    tok = token(harness.unique_secret("dpl"))
    path = "/bot%s/getMe" % tok
    fp = FaultProxy(wd, "tunnel", dpi=True).start()
    a = fp.url
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                 proxy="%s,%s" % (a, sq.url),
                 extra_args=["--proxy-fail-timeout", FAIL_TIMEOUT]).start()
    try:
        first = [bot_call(sc, path) for _ in range(5)]
        t.ok(all(st == 200 for st, _ in first) and fp.connects() >= 1,
             "A works: 5 getMe through it (%r, %d CONNECTs)"
             % ([s for s, _ in first], fp.connects()))
        fp.set_dpi(True)
        res = [bot_call(sc, path) for _ in range(CALLS)]
        good = sum(1 for st, _ in res if st == 200)
        t.diag("A swallows handshakes from now on: %d of %d calls "
               "succeeded, the slowest took %.1f s" %
               (good, CALLS, max(s for _, s in res)))
        t.ok(good >= CALLS - 1, "then A swallows TLS handshakes: at least "
             "%d of %d calls with 5 s timeouts succeed (%d)"
             % (CALLS - 1, CALLS, good))
        rx = re.compile(r"upstream timeout in the TLS handshake with "
                        r"127\.0\.0\.1 through proxy %s: no progress in "
                        r"1 s \(4 x the \d+ ms a TLS handshake through it "
                        r"takes, 1 s at least\)" % re.escape(a))
        if not t.ok(harness.wait_until(lambda: rx.search(sc.log()) is not
                                       None, 10),
                    "the handshake through A is cut by its learned clock, "
                    "in words: %s" % rx.pattern):
            t.diag("\n".join(l for l in sc.log().splitlines()
                             if "TLS handshake" in l or "failed" in l))
        t.ok(count(sc, "proxy %s failed, skipping" % a) >= 1,
             "... and A is failed over")
        t.is_([l for l in access_lines(sc) if " status=200 " not in l], [],
              "no bot call was answered anything but 200")
    finally:
        sc.stop()
        fp.stop()


def main():
    return harness.squid_main((part_silent_from_the_start,
                               part_silent_later))


if __name__ == "__main__":
    sys.exit(main())
