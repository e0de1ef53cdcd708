#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""What spares cost in connections (issue 20, the connection half).
Counted at the stand-in (connections accepted) or at the proxy (CONNECTs),
never by time:

- an idle polling bot (getUpdates with a timeout, nothing to do) through
  squid keeps no spares around the clock: at most 1.5 upstream connections
  per request;
- a read-mostly bot (each getUpdates answer carries 8 updates, the bot
  calls nothing back) learns that its hints go unused: at most 1.5
  connections per poll, and /metrics counts the unused hints;
- a proxy that slows down under a burst of N calls: at most N + the
  spares target (+ slack) CONNECTs, since a call that waited for a spare
  and went fresh takes that spare's place, and a claim opens no spare
  beyond the target.
TAP output."""

import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Sidecar, token  # noqa: E402

POLLS_IDLE = 6
POLLS_READ = 40
READ_PAUSE = 0.25   # the bot reads its updates: longer than a spare lives
BURST = 30
BURST_MAX = 4   # --prewarm-max in the burst: the most spares kept


def start(env, extra=(), proxy=None):
    return Sidecar(env["wd"], upstream=env["si"].url,
                   ca_file=env["certs"].ca_cert,
                   proxy=proxy or env["squid"].url,
                   extra_args=list(extra)).start()


def metric(sc, family):
    """{label value: count} of a one-label counter family."""
    out = {}
    for m in re.finditer(rb'^%s\{\w+="(\w+)"\} (\d+)' % family.encode(),
                         sc.get("/metrics").body, re.M):
        out[m.group(1).decode()] = int(m.group(2))
    return out


def conns(si):
    return si.stats()["connections"]


def part_idle_poll(t, env):
    """getUpdates?timeout=2, nothing to do, spares idle at most 300 ms
    (so that today's rule would replace them about 6 times a poll)."""
    si = env["si"]
    tok = token(harness.unique_secret("idle"))
    sc = start(env, ["--prewarm-max-idle", "300ms"])
    try:
        si.reset()
        codes = [sc.get("/bot%s/getUpdates?timeout=2" % tok).status
                 for _ in range(POLLS_IDLE)]
        t.is_(codes, [200] * POLLS_IDLE, "%d idle polls answered"
              % POLLS_IDLE)
        n = conns(si)
        t.ok(n <= 1.5 * POLLS_IDLE, "an idle polling bot: %d upstream "
             "connections for %d polls (%.2f a request, at most 1.5)"
             % (n, POLLS_IDLE, n / POLLS_IDLE))
        print("# measured: idle polling bot %.2f connections per request"
              % (n / POLLS_IDLE))
        sp = harness.spare_counts(sc)
        t.is_(sp.get("expired", 0), 0, "no spare expired unused (%r)" % sp)
        # An update comes: a spare opens for the call that answers it.
        si.inject({"text": "answer me"})
        r = sc.get("/bot%s/getUpdates?timeout=2" % tok)
        t.ok(r.status == 200 and len((r.json() or {}).get("result") or [])
             == 1, "a poll brings one update")
        t.ok(harness.wait_until(lambda: harness.spare_counts(sc).get(
            "ready", 0) >= 1, 10), "a spare is ready for the reply (%r)"
            % harness.spare_counts(sc))
        c = sc.conn()
        body, hdrs = harness.json_body({"chat_id": 7, "text": "reply"})
        try:
            r = harness.request(c, "POST", "/bot%s/sendMessage" % tok, body,
                                hdrs)
        finally:
            c.close()
        def sends():
            return [l for l in sc.log().splitlines()
                    if re.search(r" access \S+ \S+ sendMessage ", l)]
        harness.wait_until(sends, 10)
        line = sends()
        t.ok(r.status == 200 and line and " spare=1" in line[-1],
             "the reply rides it: spare=1 (%r)" % line[-1:])
        t.ok(metric(sc, "tgsidecar_spares_why_total").get("hint", 0) >= 1,
             "/metrics: it was opened for the hint (%r)"
             % metric(sc, "tgsidecar_spares_why_total"))
        si.reset()      # the update stays queued until confirmed
        # A call makes the bot active: its spare is ready for the next.
        r = sc.get("/bot%s/getMe" % tok)
        t.is_(r.status, 200, "a getMe (a call, not a poll)")
        t.ok(harness.wait_until(lambda: harness.spare_counts(sc).get(
            "ready", 0) >= 1, 10), "after a call, a spare is kept (%r)"
            % harness.spare_counts(sc))
        t.ok(metric(sc, "tgsidecar_spares_why_total").get("target", 0) >= 1,
             "/metrics: it was opened for the target (%r)"
             % metric(sc, "tgsidecar_spares_why_total"))
    finally:
        sc.stop()


def part_read_mostly(t, env):
    """Each answer carries the same 8 updates (no offset confirms them);
    the bot reads them for a while (longer than --prewarm-max-idle, so a
    hint's spares expire unless calls take them) and never calls back."""
    si = env["si"]
    tok = token(harness.unique_secret("read"))
    sc = start(env, ["--prewarm-max-idle", "200ms"])
    try:
        si.reset()
        for i in range(8):
            si.inject({"text": "read %d" % i})
        n0 = conns(si)
        got = []
        for _ in range(POLLS_READ):
            r = sc.get("/bot%s/getUpdates?timeout=0" % tok)
            got.append(len((r.json() or {}).get("result") or []))
            time.sleep(READ_PAUSE)
        t.is_(got, [8] * POLLS_READ, "%d polls, 8 updates each"
              % POLLS_READ)
        n = conns(si) - n0
        t.ok(n <= 1.5 * POLLS_READ, "a read-mostly bot: %d upstream "
             "connections for %d polls (%.2f a poll, at most 1.5)"
             % (n, POLLS_READ, n / POLLS_READ))
        print("# measured: read-mostly bot %.2f connections per poll"
              % (n / POLLS_READ))
        hints = metric(sc, "tgsidecar_spare_hints_total")
        t.ok(hints.get("unused", 0) >= 1, "/metrics: hints unused counted "
             "(%r)" % hints)
        why = metric(sc, "tgsidecar_spares_why_total")
        t.ok(why.get("hint", 0) >= 1, "/metrics: spares opened for a hint "
             "(%r)" % why)
        # The bot answers an update: the next hint counts again.
        si.reset()
        si.inject({"text": "answer me"})
        r = sc.get("/bot%s/getUpdates?timeout=0" % tok)
        c = sc.conn()
        body, hdrs = harness.json_body({"chat_id": 7, "text": "answered"})
        try:
            r2 = harness.request(c, "POST", "/bot%s/sendMessage" % tok, body,
                                 hdrs)
        finally:
            c.close()
        t.ok(r.status == 200 and r2.status == 200, "a poll, then a call "
             "back: both answered")
        r = sc.get("/bot%s/getUpdates?timeout=0" % tok)
        t.ok(harness.wait_until(lambda: metric(
            sc, "tgsidecar_spare_hints_total").get("used", 0) >= 1, 10),
            "/metrics: that hint counted as used (%r)"
            % metric(sc, "tgsidecar_spare_hints_total"))
    finally:
        sc.stop()
        si.reset()


def settled(fp, sc, h0, n, calls):
    """The calls not on a ready spare in flight (at least calls) and the
    proxy's held connections (beyond h0) at least n and unchanged for a
    while (the waits have run out, the calls gone fresh)."""
    last = [-1, 0]

    def step():
        h = fp.held() - h0
        if h != last[0]:
            last[0], last[1] = h, 0
            return False
        last[1] += 1
        return h >= n and last[1] >= 5 and inflight(sc) >= calls
    return harness.wait_until(step, 30, 0.2)


def inflight(sc):
    m = re.search(rb"^tgsidecar_inflight (\d+)", sc.get("/metrics").body,
                  re.M)
    return int(m.group(1)) if m else -1


def part_burst_slow(t, env):
    """Spares learn a quick proxy; then it holds every CONNECT (the gate)
    while BURST calls arrive at once, and lets them all through."""
    from faultproxy import FaultProxy
    si = env["si"]
    tok = token(harness.unique_secret("slow"))
    fp = FaultProxy(env["wd"], "tunnel", gate=True).start()
    sc = start(env, ["--prewarm-max", str(BURST_MAX), "--prewarm-max-idle",
                     "30s", "--connect-timeout", "120s"], proxy=fp.url)
    opened = set()
    stop = threading.Event()

    def opener():
        while not stop.is_set():
            for c in fp.held_conns():
                if c not in opened:
                    opened.add(c)
                    fp.open_gate(c)
            time.sleep(0.01)
    th = threading.Thread(target=opener, daemon=True)
    th.start()
    try:
        si.reset()
        for i in range(3):
            t.is_(sc.get("/bot%s/getMe" % tok).status, 200,
                  "warm-up getMe %d through a quick proxy" % i)
            harness.wait_until(lambda: harness.spare_counts(sc).get(
                "ready", 0) >= 1, 10)
        stop.set()
        th.join(5)
        ready = harness.spare_counts(sc).get("ready", 0)
        h0 = fp.held()
        res = []
        lock = threading.Lock()

        def call():
            r = sc.get("/bot%s/getMe" % tok)
            with lock:
                res.append(r.status)
        ths = [threading.Thread(target=call, daemon=True)
               for _ in range(BURST)]
        for x in ths:
            x.start()
        t.ok(settled(fp, sc, h0, BURST - ready, BURST - ready), "the proxy holds every "
             "CONNECT: %d calls in flight, %d connections held"
             % (inflight(sc), fp.held() - h0))
        fp.open_gate()
        for x in ths:
            x.join(harness.patient(60))
        t.is_(res, [200] * BURST, "%d calls at once, all answered" % BURST)
        n = fp.held() - h0      # every CONNECT is held first
        # The bound: a connection per call (its own, or a spare it rode)
        # and the spares no call used, never more at once than the target
        # (--prewarm-max: claimed ones count, and a late one stays only as
        # one of them). No slack: within the burst none expires (30s).
        t.ok(n <= BURST + BURST_MAX, "CONNECTs for the burst: %d, at most "
             "%d calls + %d spares" % (n, BURST, BURST_MAX))
        print("# measured: burst of %d through a slowed proxy: %d CONNECTs"
              % (BURST, n))
        t.is_(si.stats()["per_conn_max"], 1, "no connection carried two "
              "requests")
    finally:
        stop.set()
        fp.open_gate()
        sc.stop()
        fp.stop()


def main():
    return harness.squid_main((part_idle_poll, part_read_mostly,
                               part_burst_slow))


if __name__ == "__main__":
    sys.exit(main())
