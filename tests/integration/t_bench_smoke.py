#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Smoke run of the benchmark: `bench/run --quick` (a few dozen getMe
requests at concurrency 1 and 2, floor and through the sidecar, nginx and
squid on loopback; and its WAN part at RTT 0 and 20 ms through
bench/delayrelay, a few calls per column back to back and chat-like) must
run and give sane numbers. The full benchmark is `make bench`
(BENCHMARKS.md), never part of make check."""

import json
import os
import subprocess
import sys

TESTS = os.environ.get("TESTS_SRCDIR") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TESTS, "lib"))

import harness  # noqa: E402

RUN = os.path.join(os.path.dirname(TESTS), "bench", "run")


def main():
    t = harness.Tap()
    t.plan(13)
    wd = harness.make_tempdir("tgsidecar-benchsmoke-")
    out = os.path.join(wd, "quick.json")
    env = harness.scrubbed_env({"TGSIDECAR_BIN": harness.sidecar_bin()})
    try:
        r = subprocess.run([harness.PYTHON, RUN, "--quick", "--json", out],
                           env=env, capture_output=True, text=True,
                           timeout=harness.patient(120))  # quiet: 20 s
        status, log = r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        status, log = "timeout", str(e.stdout or "")
    if not t.is_(status, 0, "bench/run --quick exits 0"):
        t.diag(log[-3000:])
    try:
        with open(out) as f:
            res = json.load(f)
    except (OSError, ValueError):
        res = {}
    runs = {(x["label"], x["c"]): x for x in res.get("runs", [])}
    for label in ("floor", "sidecar"):
        for c in (1, 2):
            x = runs.get((label, c))
            good = (x is not None and x["errors"] == 0 and x["ok"] == x["n"]
                    and x["n"] > 0 and x["rps"] > 0 and x["p50_ms"] > 0
                    and x["p99_ms"] >= x["p50_ms"] and x["cpu_ms_per_req"] > 0)
            if not t.ok(good, "%s at c=%d: all requests answered, "
                        "throughput and latency sane" % (label, c)):
                t.diag("run: %r" % (x,))
    sc = [x for x in res.get("runs", []) if x["label"] == "sidecar"]
    t.ok(sc and all(x.get("sidecar_sched_ms_per_req", 0) > 0 for x in sc),
         "the sidecar's CPU per request was measured")
    ex = res.get("extra", {})
    t.ok(isinstance(ex.get("idle_rss_kib"), int) and ex["idle_rss_kib"] > 0,
         "idle RSS measured: %r KiB" % ex.get("idle_rss_kib"))
    st = ex.get("startup") or {}
    t.ok(st.get("failed") == 0 and st.get("median_ms", -1) > 0,
         "start-up time measured: %r ms" % st.get("median_ms"))
    tg = res.get("targets", [])
    # Issue 21 added flood_p50; issue 18 poll_rss_spare, instr_fresh,
    # upload60, stale_fail, stale_reuse and wan_seq90_60/150 (measured by
    # parts --quick skips).
    t.ok(len(tg) == 18 and all(x["met"] is not None for x in tg
                               if x["key"] in ("thr16", "p50add1", "cpu16",
                                               "idle_rss", "startup",
                                               "wan_churn", "flood_p50")),
         "the targets were evaluated")
    t.ok(ex.get("main_exit") == 0, "the sidecar exited 0 on SIGTERM")
    wan = res.get("wan") or {}
    rtts = [r.get("rtt") for r in wan.get("relay", [])]
    t.ok(rtts == [0, 20] and all(r["first_ms"] > 0 and r["later_ms"] > 0
                                 for r in wan["relay"]),
         "WAN: the delay relay was checked at RTT 0 and 20 ms")
    cols = [c["key"] for c in wan.get("columns", [])]
    for pattern in ("seq", "chat"):
        got = {(r["rtt"], r["col"]): r for r in wan.get(pattern, [])}
        bad = [(rtt, c, got.get((rtt, c))) for rtt in (0, 20) for c in cols
               if not (got.get((rtt, c)) and got[(rtt, c)]["errors"] == 0 and
                       got[(rtt, c)]["ok"] == got[(rtt, c)]["n"] > 0)]
        if not t.ok(len(cols) >= 3 and not bad,
                    "WAN %s: every call of %s answered at RTT 0 and 20 ms"
                    % (pattern, ", ".join(cols))):
            t.diag("not all answered: %r" % (bad,))
    if status != 0 or not res:
        t.diag(log[-3000:])
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
