#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""How the loop answers during a burst of SIGHUPs (issue 24, part 2).

    bench/sighup.py [--signals 2000] [--bundle /etc/ssl/certs/ca-certificates.crt]

Starts the TLS stand-in and a sidecar reading a config file, with
SSL_CERT_FILE set to the system CA bundle (what a reload re-parsed before
it was skipped for unchanged files), asks /healthz one after the other
while the SIGHUPs arrive, and prints the share of /healthz answered within
100 ms, its p50/p99/max, the reloads applied for the signals delivered,
and how long after the last signal the last reload was applied.
TGSIDECAR_BIN picks the binary (compare two builds). Not part of make
check: it measures speed, which a busy machine does not give."""

import argparse
import os
import re
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "lib"))

import harness  # noqa: E402
from harness import Sidecar, StandIn, Certs  # noqa: E402


def metric(sc, name):
    r = sc.get("/metrics")
    m = re.search(r"^%s (\d+)" % re.escape(name), r.body.decode(), re.M)
    return int(m.group(1)) if m else None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--signals", type=int, default=2000)
    p.add_argument("--bundle", default="/etc/ssl/certs/ca-certificates.crt")
    a = p.parse_args()
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    conf = os.path.join(wd, "bench.conf")
    harness.write_config(conf, [("upstream", si.url),
                                ("ca_file", certs.ca_cert),
                                ("proxy", "direct")])
    sc = Sidecar(wd, extra_args=["-c", conf], name="sidecar-sighup",
                 env={"SSL_CERT_FILE": a.bundle}).start()
    lat, stop = [], threading.Event()

    def ask():
        while not stop.is_set():
            t0 = time.monotonic()
            sc.get("/healthz")
            lat.append(time.monotonic() - t0)
    th = threading.Thread(target=ask, daemon=True)
    try:
        th.start()
        time.sleep(0.5)
        n0 = len(lat)
        t0 = time.monotonic()
        for i in range(a.signals):
            sc.proc.send_signal(signal.SIGHUP)
            if i % 10 == 9:
                time.sleep(0.005)
        t_last = time.monotonic()
        # Until the reloads stop: the count stays the same for 2 s.
        prev, since = -1, time.monotonic()
        while time.monotonic() - since < 2.0:
            n = sc.log().count("configuration reloaded:")
            if n != prev:
                prev, since = n, time.monotonic()
            time.sleep(0.05)
        settled = since - t_last
        stop.set()
        th.join(30)
        burst = sorted(lat[n0:])
        within = sum(1 for x in burst if x <= 0.1) / max(1, len(burst))
        print("binary: %s" % harness.sidecar_bin())
        print("burst: %d SIGHUPs in %.2f s; %d /healthz during and after"
              % (a.signals, t_last - t0, len(burst)))
        print("/healthz within 100 ms: %.3f (ratio); p50 %.1f ms, p99 %.1f "
              "ms, max %.1f ms" % (within, 1000 * burst[len(burst) // 2],
                                   1000 * burst[int(len(burst) * 0.99)],
                                   1000 * burst[-1]))
        print("signals delivered %s, reloads applied %d, trust store reads "
              "%s; last reload %.2f s after the last signal"
              % (metric(sc, "tgsidecar_reload_signals_total"), prev,
                 metric(sc, "tgsidecar_trust_reads_total"), settled))
    finally:
        stop.set()
        sc.stop()
        si.stop()


if __name__ == "__main__":
    main()
