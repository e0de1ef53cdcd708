#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Soak run for tgsidecar (not part of make check).

  bench/soak.py [--requests 100000] [--concurrency 16] [--time-limit 2400]
                [--baseline 10000] [--bin ./tgsidecar] [--squid]

Starts the TLS Bot API stand-in, a CONNECT proxy that lets idle tunnels go
stale (tests/lib/staleproxy.py; --squid uses squid instead) and the
sidecar through it, all on loopback. Then --concurrency bot connections
(kept alive, like a bot's pool) make --requests mixed requests between
them: getMe, sendMessage (JSON and urlencoded), short long polls
(getUpdates?timeout=1, with an update injected before some of them) and
small multipart uploads (sendDocument, sha256 checked).

The run is split in two phases: the first --baseline requests, then the
rest. After each phase, with no request in flight, the sidecar's VmRSS is
read from /proc/PID/status. The run passes if every request got the right
answer, RSS at the end is within 10% of RSS after the baseline, the sidecar
exits 0 on SIGTERM and no token secret reached its log. It fails (exit 1)
as soon as --time-limit seconds have passed.

Prints: requests, failures, rate, RSS@baseline, RSS@end, ratio.
"""

import argparse
import hashlib
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = os.path.join(os.path.dirname(HERE), "tests", "lib")
sys.path.insert(0, LIB)

import harness  # noqa: E402
from harness import Certs, Sidecar, StandIn, token  # noqa: E402

RSS_TOLERANCE = 0.10
MAX_FAILURES_SHOWN = 20


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.next = 0
        self.limit = 0
        self.done = 0
        self.failures = []
        self.kinds = {}
        self.updates_injected = 0
        self.updates_seen = 0
        self.abort = threading.Event()
        self.max_failures = 100

    def take(self):
        with self.lock:
            if self.next >= self.limit or self.abort.is_set():
                return None
            self.next += 1
            return self.next - 1

    def finish(self, kind, err):
        with self.lock:
            self.done += 1
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            if err is not None:
                self.failures.append("%s: %s" % (kind, err))
                if len(self.failures) >= self.max_failures:
                    self.abort.set()


def multipart(fields, name, filename, data):
    b = "----soak" + os.urandom(8).hex()
    parts = []
    for k, v in fields.items():
        parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                      % (b, k, v)).encode())
    parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; "
                  "filename=\"%s\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                  % (b, name, filename)).encode())
    parts.append(data)
    parts.append(("\r\n--%s--\r\n" % b).encode())
    return b"".join(parts), "multipart/form-data; boundary=" + b


class Worker:
    """One bot connection; its run() is the body of one thread per phase."""

    def __init__(self, n, sc, si, cnt, deadline):
        self.n = n
        self.sc, self.si, self.cnt = sc, si, cnt
        self.deadline = deadline
        self.secret = harness.unique_secret("soak%d" % n)
        self.tok = token(self.secret)
        self.rng = random.Random(n * 7919)
        self.conn = None
        self.offset = 0

    def path(self, method, query=None):
        p = "/bot%s/%s" % (self.tok, method)
        if query:
            p += "?" + urllib.parse.urlencode(query)
        return p

    def call(self, method, path, body=None, headers=None):
        if self.conn is None:
            self.conn = self.sc.conn(timeout=30)
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            r = self.conn.getresponse()
            data = r.read()
        except Exception:
            self.conn.close()
            self.conn = None
            raise
        if r.will_close:
            self.conn.close()
            self.conn = None
        try:
            o = json.loads(data.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            o = None
        return r.status, o, data

    def one(self, i):
        x = self.rng.random()
        if x < 0.50:
            st, o, raw = self.call("GET", self.path("getMe"))
            good = st == 200 and o and o.get("ok") is True \
                and o["result"].get("id") == 123456
            return "getMe", None if good else "%d %r" % (st, raw[:200])
        if x < 0.80:
            text = "soak %d/%d %s" % (self.n, i, "é✓" * self.rng.randint(0, 20))
            if self.rng.random() < 0.5:
                body, hdrs = json.dumps({"chat_id": 1000 + self.n,
                                         "text": text}).encode(), \
                    {"Content-Type": "application/json"}
            else:
                body = urllib.parse.urlencode({"chat_id": 1000 + self.n,
                                               "text": text}).encode()
                hdrs = {"Content-Type": "application/x-www-form-urlencoded"}
            st, o, raw = self.call("POST", self.path("sendMessage"), body, hdrs)
            good = st == 200 and o and o.get("ok") is True \
                and o["result"].get("text") == text \
                and o["result"]["chat"]["id"] == 1000 + self.n
            return "sendMessage", None if good else "%d %r" % (st, raw[:200])
        if x < 0.90:
            data = os.urandom(self.rng.randint(512, 16384))
            body, ctype = multipart({"chat_id": 1000 + self.n}, "document",
                                    "f%d.bin" % i, data)
            st, o, raw = self.call("POST", self.path("sendDocument"), body,
                                   {"Content-Type": ctype})
            good = st == 200 and o and o.get("ok") is True \
                and o["result"].get("sha256") == hashlib.sha256(data).hexdigest()
            return "sendDocument", None if good else "%d %r" % (st, raw[:200])
        inject = self.rng.random() < 0.5
        if inject:
            self.si.inject({"text": "soak update %d" % i, "from_id": 1000 + self.n})
            with self.cnt.lock:
                self.cnt.updates_injected += 1
        st, o, raw = self.call("GET", self.path("getUpdates", {
            "offset": self.offset, "timeout": 1}))
        good = st == 200 and o and o.get("ok") is True \
            and isinstance(o.get("result"), list)
        if good and o["result"]:
            self.offset = max(u["update_id"] for u in o["result"]) + 1
            with self.cnt.lock:
                self.cnt.updates_seen += len(o["result"])
        return "getUpdates", None if good else "%d %r" % (st, raw[:200])

    def run(self):
        for _ in range(10 ** 7):
            if time.monotonic() > self.deadline:
                self.cnt.abort.set()
                return
            i = self.cnt.take()
            if i is None:
                return
            try:
                kind, err = self.one(i)
            except Exception as e:  # noqa: a failure, counted
                kind, err = "exception", repr(e)
            self.cnt.finish(kind, err)

    def close(self):
        if self.conn is not None:
            self.conn.close()


def run_phase(workers, cnt, upto, deadline):
    """Run the workers until upto requests are done; True if all threads
    ended by the deadline (plus the 30 s a last request may take)."""
    cnt.limit = upto
    ths = [threading.Thread(target=w.run, daemon=True) for w in workers]
    for th in ths:
        th.start()
    for th in ths:
        th.join(max(0.0, deadline - time.monotonic()) + 35)
    return not [th for th in ths if th.is_alive()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--baseline", type=int, default=10000,
                    help="requests before the first RSS reading")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--time-limit", type=float, default=2400.0)
    ap.add_argument("--max-failures", type=int, default=100,
                    help="stop early after this many failed requests")
    ap.add_argument("--bin", default=None, help="the tgsidecar binary")
    ap.add_argument("--squid", action="store_true",
                    help="go through squid instead of the stale-tunnel proxy")
    a = ap.parse_args()
    if a.bin:
        os.environ["TGSIDECAR_BIN"] = os.path.abspath(a.bin)
    baseline = min(a.baseline, a.requests // 2)
    t0 = time.monotonic()
    deadline = t0 + a.time_limit

    wd = harness.make_tempdir("tgsidecar-soak-")
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    if a.squid:
        import proxies
        px = proxies.Squid(wd, [si.port]).start()
        pxname = "squid"
    else:
        import staleproxy
        # It stops itself after its lifetime: outlive the time limit.
        px = staleproxy.StaleProxy(wd, idle=2.0,
                                   lifetime=int(a.time_limit + 120)).start()
        pxname = "staleproxy (idle 2 s)"
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy=px.url,
                 extra_args=["--max-inflight", "4096"], name="sidecar-soak")
    sc.start()
    print("soak: %d requests, concurrency %d, via %s, sidecar pid %d, "
          "workdir %s" % (a.requests, a.concurrency, pxname, sc.proc.pid, wd),
          flush=True)

    cnt = Counters()
    cnt.max_failures = a.max_failures
    ok = True
    rss = {}
    try:
        si.reset()
        progress = threading.Event()

        def report():
            last = 0
            for _ in range(int(a.time_limit / 30) + 2):
                if progress.wait(30):
                    return
                with cnt.lock:
                    d, f = cnt.done, len(cnt.failures)
                print("  %6.0f s: %d done (%.0f/s recent), %d failures, "
                      "RSS %s KiB" % (time.monotonic() - t0, d, (d - last) / 30.0,
                                      f, harness.vm_rss_kib(sc.proc.pid)),
                      flush=True)
                last = d
        threading.Thread(target=report, daemon=True).start()

        workers = [Worker(n, sc, si, cnt, deadline) for n in range(a.concurrency)]
        t1 = time.monotonic()
        finished = run_phase(workers, cnt, baseline, deadline)
        rss["base"] = harness.vm_rss_kib(sc.proc.pid)
        print("after %d requests: RSS %s KiB (%.1f s)" %
              (cnt.done, rss["base"], time.monotonic() - t1), flush=True)
        if finished and not cnt.abort.is_set():
            finished = run_phase(workers, cnt, a.requests, deadline)
        rss["end"] = harness.vm_rss_kib(sc.proc.pid)
        elapsed = time.monotonic() - t1
        progress.set()

        timed_out = cnt.abort.is_set() or not finished or cnt.done < a.requests
        for w in workers:
            w.close()
        st, killed = sc.stop(timeout=30)
        log = sc.log()
        leaked = [w.secret for w in workers if w.secret in log]
        pstats = px.stats() if hasattr(px, "stats") else {}
        sstats = si.stats()

        ratio = (rss["end"] / rss["base"]) if rss.get("base") and rss.get("end") else None
        print("")
        print("requests      %d of %d" % (cnt.done, a.requests))
        print("failures      %d" % len(cnt.failures))
        print("mix           %s" % json.dumps(cnt.kinds, sort_keys=True))
        print("updates       %d injected, %d deliveries (a poll may see another worker's)" %
              (cnt.updates_injected, cnt.updates_seen))
        print("elapsed       %.1f s" % elapsed)
        print("rate          %.1f requests/s" % (cnt.done / elapsed if elapsed else 0))
        print("RSS@%d   %s KiB" % (baseline, rss.get("base")))
        print("RSS@%d  %s KiB" % (cnt.done, rss.get("end")))
        print("ratio         %s" % ("%.3f" % ratio if ratio else None))
        print("upstream      %d TLS connections at the stand-in (since the "
              "reset), %d TLS failures" % (sstats["connections"],
                                           sstats["tls_failures"]))
        # Requests the busiest upstream connection carried: 1 when none
        # was reused (bench/run's stale part reads this line).
        print("per_conn_max  %s" % sstats.get("per_conn_max"))
        if pstats:
            print("proxy         %d tunnels, %d went stale, %d refused" %
                  (pstats.get("tunnels", -1), pstats.get("stale", -1),
                   pstats.get("refused", -1)))
        print("sidecar exit  %r%s" % (st, " (killed)" if killed else ""))

        if timed_out:
            print("FAIL: stopped early: %s" % (
                "too many failures" if len(cnt.failures) >= a.max_failures
                else "time limit of %.0f s reached" % a.time_limit))
            ok = False
        if cnt.failures:
            print("FAIL: %d failed requests, first ones:" % len(cnt.failures))
            for f in cnt.failures[:MAX_FAILURES_SHOWN]:
                print("  " + f)
            ok = False
        if ratio is None or ratio > 1.0 + RSS_TOLERANCE:
            print("FAIL: RSS grew by more than %d%%" % (RSS_TOLERANCE * 100))
            ok = False
        if st != 0 or killed:
            print("FAIL: the sidecar did not exit 0 on SIGTERM")
            ok = False
        if pstats and pstats.get("stale", 0):
            print("FAIL: %d tunnels went stale: the sidecar reused one"
                  % pstats["stale"])
            ok = False
        if leaked:
            print("FAIL: a token secret is in the sidecar log")
            ok = False
        if sstats["tls_failures"]:
            print("FAIL: TLS handshakes failed at the stand-in")
            ok = False
    finally:
        sc.stop(timeout=30)
        px.stop()
        si.stop()
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
