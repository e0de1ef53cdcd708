#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""A burst of SIGHUPs must not stall the loop (issue 24, part 2).

A sidecar reads its config file; two threads keep asking it /healthz and
getMe while 2,000 SIGHUPs arrive over a second or two, the config file
changing (a new proxy) near the end of the burst. Checked, as outcomes:

  1. every /healthz and bot request during the burst is answered 200;
  2. reloads coalesce: far fewer run than signals came, at most one per
     200 ms of burst and one more (the metrics count both);
  3. the last change is applied after the burst: the log names the new
     proxy, and a getMe then goes through it;
  4. the trust store was not read again while its files stayed the same;
     once ca_file changes (a new mtime), the next reload reads it.
The slowest /healthz during the burst is printed, not checked (speed on a
busy machine is not an outcome).
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
from harness import Tap, Sidecar, StandIn, Certs, token  # noqa: E402
from staleproxy import StaleProxy  # noqa: E402

SIGNALS = 2000
GAP = 0.2           # s: reloads run at most this often (server.c)


def metric(sc, name):
    r = sc.get("/metrics")
    m = re.search(r"^%s (\d+)" % re.escape(name), r.body.decode(), re.M)
    return int(m.group(1)) if m else None


class Traffic:
    """Two callers, /healthz and getMe, one after the other, until told."""

    def __init__(self, sc, tok):
        self.sc, self.tok = sc, tok
        self.results = {"healthz": [], "getMe": []}
        self.slowest = 0.0
        self.stop_ev = threading.Event()
        self.ths = [threading.Thread(target=self._run, args=(k,), daemon=True)
                    for k in self.results]

    def _run(self, what):
        p = "/healthz" if what == "healthz" else "/bot%s/getMe" % self.tok
        while not self.stop_ev.is_set():
            t0 = time.monotonic()
            try:
                st = self.sc.get(p).status
            except Exception as e:  # reported by the caller
                st = repr(e)
            dt = time.monotonic() - t0
            if what == "healthz":
                self.slowest = max(self.slowest, dt)
            self.results[what].append(st)

    def start(self):
        for th in self.ths:
            th.start()
        return self

    def stop(self):
        self.stop_ev.set()
        for th in self.ths:
            th.join(harness.patient(30))


def main():
    t = Tap("t_sighup")
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    sp = StaleProxy(wd, 600.0, name="keepproxy").start()
    conf = os.path.join(wd, "sighup.conf")

    def write(items):
        tmp = conf + ".tmp"
        harness.write_config(tmp, items)
        os.replace(tmp, conf)
    base = [("upstream", si.url), ("ca_file", certs.ca_cert)]
    write(base + [("proxy", "direct")])
    sc = Sidecar(wd, extra_args=["-c", conf], name="sidecar-sighup").start()
    tok = token(harness.unique_secret("hup"))
    traffic = None
    try:
        t.is_(sc.get("/bot%s/getMe" % tok).status, 200, "getMe, direct")
        traffic = Traffic(sc, tok).start()
        harness.wait_until(lambda: all(len(v) >= 3 for v in
                                       traffic.results.values()), 10)
        t0 = time.monotonic()
        for i in range(SIGNALS):
            if i == SIGNALS - 100:
                write(base + [("proxy", sp.url)])
            sc.proc.send_signal(signal.SIGHUP)
            if i % 10 == 9:
                time.sleep(0.005)
        burst = time.monotonic() - t0
        want = "configuration reloaded: upstream %s, proxy %s" % (si.url,
                                                                 sp.url)
        t.ok(harness.wait_until(lambda: want in sc.log(), 10),
             "after the burst, the last change is applied: '%s'" % want)
        # A little traffic after the last reload too.
        n = {k: len(v) for k, v in traffic.results.items()}
        harness.wait_until(lambda: all(len(v) >= n[k] + 3 for k, v in
                                       traffic.results.items()), 10)
        traffic.stop()
        for what, got in traffic.results.items():
            bad = [s for s in got if s != 200]
            t.ok(len(got) >= 6 and not bad, "%s: all %d answered 200 "
                 "during and after the burst (%r)" % (what, len(got),
                                                      bad[:5]))
        t.diag("burst of %d SIGHUPs took %.2f s; slowest /healthz %.0f ms"
               % (SIGNALS, burst, traffic.slowest * 1000))
        signals = metric(sc, "tgsidecar_reload_signals_total") or 0
        applied = metric(sc, 'tgsidecar_reloads_total{result="applied"}')
        lines = sc.log().count("configuration reloaded:")
        t.diag("signals delivered (the kernel merges pending ones): %d; "
               "reloads applied: %r" % (signals, applied))
        t.ok(signals >= 1 and applied is not None and 1 <= applied <=
             2 + int(burst / GAP) + 1 and applied == lines,
             "reloads coalesce: %r applied (as many log lines) for %d "
             "signals delivered in %.2f s" % (applied, signals, burst))
        t.ok(signals < 20 or applied * 4 <= signals,
             "far fewer reloads than signals")
        t.is_(sc.get("/bot%s/getMe" % tok).status, 200,
              "getMe after the burst")
        # The new proxy is the only one now; a spare made through it
        # before the getMe may carry it, so count its tunnels, not new ones.
        t.ok(sp.stats()["tunnels"] >= 1, "it went through the new proxy")
        t.is_(metric(sc, "tgsidecar_trust_reads_total"), 0,
              "the trust store was never read again: its files did not "
              "change")
        st = os.stat(certs.ca_cert)
        os.utime(certs.ca_cert, ns=(st.st_atime_ns,
                                    st.st_mtime_ns + 2000000000))
        sc.proc.send_signal(signal.SIGHUP)
        t.ok(harness.wait_until(
            lambda: metric(sc, "tgsidecar_trust_reads_total") == 1, 10),
            "ca_file touched, one SIGHUP: the trust store is read anew")
        t.ok("the trust store was read anew" in sc.log(),
             "the log says so")
        t.is_(sc.get("/bot%s/getMe" % tok).status, 200,
              "getMe with the store read anew")
    except Exception:
        t.fail_exception("t_sighup")
    finally:
        if traffic is not None:
            traffic.stop()
        st, killed = sc.stop()
        t.ok(st == 0 and not killed, "the sidecar exits 0 (%r)" % st)
        sp.stop()
        si.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
