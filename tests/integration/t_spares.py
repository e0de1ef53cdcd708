#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Spare connections (issue 13): connections opened ahead through the
proxy, TLS done, no request sent, each given to one request. Through
squid: a request takes a spare (access log spare=1, /metrics used), a
spare idle past prewarm_max_idle is closed and replaced, none are kept
after prewarm_linger without requests, prewarm=0 opens none, a reload
closes the old config's spares, a spare the far side closes is not an
error a bot sees, a long poll on a spare is dropped at once when its bot
leaves, a getUpdates answer with N updates opens spares for N calls
(whichever path it came by), and no upstream connection ever carries two
requests (counted per connection at the stand-in), under a burst too.
TAP output."""

import json
import os
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Sidecar, request, token  # noqa: E402

BURST = 20


def send(sc, tok, text):
    conn = sc.conn()
    body, hdrs = harness.json_body({"chat_id": 7, "text": text})
    try:
        return request(conn, "POST", "/bot%s/sendMessage" % tok, body, hdrs)
    finally:
        conn.close()


def spares(sc):
    return harness.spare_counts(sc)


def access(sc, api):
    """The spare= field of each access line for Bot API method api."""
    return [int(m.group(1)) for m in re.finditer(
        r"access \S+ \S+ %s .* spare=(\d)" % re.escape(api), sc.log())]


def ready(sc, n=1, timeout=10):
    return harness.wait_until(lambda: spares(sc).get("ready", 0) >= n,
                              timeout)


def start(env, extra=(), name=None):
    return Sidecar(env["wd"], upstream=env["si"].url,
                   ca_file=env["certs"].ca_cert, proxy=env["squid"].url,
                   extra_args=list(extra), name=name).start()


def part_used(t, env):
    """The first request finds none and opens one; the next takes it."""
    si = env["si"]
    tok = token(harness.unique_secret("use"))
    sc = start(env)
    try:
        si.reset()
        r = sc.get("/bot%s/getMe" % tok)
        t.is_(r.status, 200, "the first getMe is answered (a fresh "
              "connection: no spare yet)")
        t.ok(ready(sc), "a spare is ready after the first request (%r)"
             % spares(sc))
        r = send(sc, tok, "on a spare")
        o = r.json() or {}
        t.ok(r.status == 200 and o.get("result", {}).get("text") ==
             "on a spare", "sendMessage on a spare: 200 and its text back")
        r = sc.get("/bot%s/getMe" % tok)
        t.is_(r.status, 200, "another getMe, on the replacement spare")
        sp = spares(sc)
        t.ok(sp.get("used", 0) >= 1, "/metrics: spares used %r"
             % sp.get("used"))
        t.ok(access(sc, "sendMessage")[-1:] == [1],
             "the access log says spare=1 for the sendMessage (%r)"
             % access(sc, "sendMessage"))
        t.ok(access(sc, "getMe")[:1] == [0],
             "the access log says spare=0 for the first getMe")
        st = si.stats()
        sends = [x for x in st["requests"] if x["method"] == "sendMessage"]
        t.ok(len(sends) == 1 and sends[0]["params"].get("text") ==
             "on a spare" and sends[0]["host"] == "127.0.0.1:%d" % si.port,
             "the stand-in saw the sendMessage once, with its Host and body")
        t.is_(st["per_conn_max"], 1, "no connection carried two requests")
    finally:
        sc.stop()


def part_expiry(t, env):
    """Idle spares are replaced; without requests they are not."""
    si = env["si"]
    tok = token(harness.unique_secret("exp"))
    sc = start(env, ["--prewarm-max-idle", "300ms", "--prewarm-linger",
                     "3s"])
    try:
        r = sc.get("/bot%s/getMe" % tok)
        t.is_(r.status, 200, "getMe (prewarm_max_idle 300ms, "
              "prewarm_linger 3s)")
        t.ok(harness.wait_until(lambda: (lambda sp: sp.get("expired", 0) >= 1
                                         and sp.get("opened", 0) >= 2)(
                                             spares(sc)), 10),
             "a spare idle past prewarm_max_idle is closed and replaced "
             "(%r)" % spares(sc))
        def kept():
            sp = spares(sc)     # one scrape: both gauges at one time
            return sp.get("ready", 0) + sp.get("building", 0)
        gone = harness.wait_until(lambda: kept() == 0, 30)
        t.ok(gone, "after prewarm_linger with no request, no spare is "
             "kept (%r)" % spares(sc))
        st = si.stats()
        t.ok(harness.wait_until(lambda: not si.stats()["idle_conns"], 10),
             "the stand-in has no idle connection left open (%r)"
             % st["idle_conns"])
        n = spares(sc).get("opened", 0)
        time.sleep(1.0)
        t.is_(spares(sc).get("opened", 0), n, "and none is opened while "
              "no bot asks")
    finally:
        sc.stop()


def part_off(t, env):
    si = env["si"]
    tok = token(harness.unique_secret("off"))
    sc = start(env, ["--prewarm", "0"])
    try:
        si.reset()
        codes = []
        for i in range(5):
            codes.append(sc.get("/bot%s/getMe" % tok).status)
            time.sleep(0.1)
        t.is_(codes, [200] * 5, "prewarm 0: five getMe answered")
        sp = spares(sc)
        st = si.stats()
        t.ok(sp.get("opened", 0) == 0 and sp.get("building", 0) == 0 and
             sp.get("failed", 0) == 0, "prewarm 0: no spare opened (%r)" % sp)
        t.is_((st["connections"], st["conns_used"]), (5, 5),
              "prewarm 0: five connections, each with its request")
        t.is_(access(sc, "getMe"), [0] * 5, "prewarm 0: spare=0 in the "
              "access log")
    finally:
        sc.stop()


def part_reload(t, env):
    si = env["si"]
    tok = token(harness.unique_secret("rel"))
    sc = start(env)
    try:
        sc.get("/bot%s/getMe" % tok)
        t.ok(ready(sc), "a spare is ready before the reload")
        before = set(si.stats()["idle_conns"])
        sc.proc.send_signal(signal.SIGHUP)
        t.ok(harness.wait_until(
            lambda: "configuration reloaded" in sc.log(), 10), "SIGHUP: "
            "the configuration is reloaded")
        t.ok(harness.wait_until(
            lambda: not (before & set(si.stats()["idle_conns"])), 10),
            "the old config's spare is closed at the stand-in (%r)" % before)
        ready(sc)
        r = sc.get("/bot%s/getMe" % tok)
        t.is_(r.status, 200, "a request after the reload is answered")
        t.is_(si.stats()["per_conn_max"], 1, "no connection carried two "
              "requests")
    finally:
        sc.stop()


def part_dies(t, env):
    """The far side closes the spare: the bot never hears of it."""
    si = env["si"]
    tok = token(harness.unique_secret("die"))
    sc = start(env)
    try:
        sc.get("/bot%s/getMe" % tok)
        t.ok(ready(sc), "a spare is ready")
        si._control("POST", "/_drop_idle", {})
        t.ok(harness.wait_until(lambda: spares(sc).get("failed", 0) >= 1,
                                10), "the closed spare is noticed and "
             "counted as failed (%r)" % spares(sc))
        r = send(sc, tok, "after a dead spare")
        t.is_(r.status, 200, "sendMessage right after: 200, the dead spare "
              "is not an error the bot sees")
        ready(sc)
        # Closed while a request may be taking it: any answer but an error.
        si._control("POST", "/_drop_idle", {})
        r = sc.get("/bot%s/getMe" % tok)
        t.is_(r.status, 200, "getMe while the spare is being closed: 200")
        t.ok("error=" not in "".join(l for l in sc.log().splitlines()
                                      if " access " in l),
             "no access-log line carries an error")
    finally:
        sc.stop()


def part_longpoll(t, env):
    """A long poll on a spare, abandoned by its bot: closed at once."""
    si = env["si"]
    tok = token(harness.unique_secret("lp"))
    sc = start(env)
    try:
        sc.get("/bot%s/getMe" % tok)
        t.ok(ready(sc), "a spare is ready")
        h0 = len(si.stats()["hangups"])
        s = socket.create_connection(("127.0.0.1", sc.port), timeout=10)
        s.sendall(("GET /bot%s/getUpdates?timeout=30 HTTP/1.1\r\nHost: x"
                   "\r\n\r\n" % tok).encode())
        t.ok(harness.wait_until(lambda: si.stats()["waiting_polls"] >= 1,
                                10), "the poll is held at the stand-in")
        s.close()
        t.ok(harness.wait_until(lambda: len(si.stats()["hangups"]) > h0,
                                10), "the bot left: the stand-in sees the "
             "upstream connection close")
        t.ok(harness.wait_until(lambda: access(sc, "getUpdates") == [1], 10),
             "the poll went on a spare (access log %r)"
             % access(sc, "getUpdates"))
    finally:
        sc.stop()


def part_burst(t, env):
    si = env["si"]
    tok = token(harness.unique_secret("bst"))
    sc = start(env)
    try:
        si.reset()
        res = []
        lock = threading.Lock()

        def bot(i):
            try:
                for j in range(3):
                    r = send(sc, tok, "b%d-%d" % (i, j))
                    ok = r.status == 200 and (r.json() or {}).get(
                        "result", {}).get("text") == "b%d-%d" % (i, j)
                    with lock:
                        res.append(ok)
            except Exception as e:  # noqa
                with lock:
                    res.append(repr(e))
        ths = [threading.Thread(target=bot, args=(i,), daemon=True)
               for i in range(BURST)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(harness.patient(60))
        t.ok(len(res) == 3 * BURST and all(r is True for r in res),
             "%d bots x 3 sendMessage at once: all answered right" % BURST)
        st = si.stats()
        sends = [x for x in st["requests"] if x["method"] == "sendMessage"]
        t.is_((len(sends), st["per_conn_max"]), (3 * BURST, 1),
              "the stand-in saw each once, no connection carried two")
        sp = spares(sc)
        t.ok(sp.get("used", 0) >= 1, "spares were used in the burst (%r)"
             % sp)
        t.ok(sp.get("opened", 0) + sp.get("building", 0) <= 3 * BURST + 8,
             "spares stayed bounded (%r)" % sp)
    finally:
        sc.stop()


def part_faults(t, env):
    """Failures of a request on a spare: the same rules as on a fresh
    connection (upstream_fail.c's table), the same clocks."""
    si = env["si"]
    tok = token(harness.unique_secret("flt"))
    sc = start(env, ["--upstream-timeout", "2s"])
    try:
        sc.get("/bot%s/getMe" % tok)
        t.ok(ready(sc), "a spare is ready")
        si.fault("getMe", "stall")
        r = sc.get("/bot%s/getMe" % tok)
        desc = (r.json() or {}).get("description", "")
        t.ok(r.status == 504 and "no answer in 2 s (upstream_timeout) after "
             "sending the request (no body)" in desc,
             "a stalled getMe on a spare: 504 naming upstream_timeout (%r)"
             % desc)
        t.is_(access(sc, "getMe")[-1:], [1], "... and it was on a spare")
        t.ok(ready(sc), "a spare is ready again")
        def sends():
            return len([x for x in si.stats()["requests"]
                        if x["method"] == "sendMessage"])
        s0 = sends()
        si.fault("sendMessage", "close")
        r = send(sc, tok, "closed on")
        t.ok(r.status == 502 and sends() - s0 == 1, "sendMessage on a spare, "
             "connection closed after the request: 502, sent once, not "
             "retried (%r, %d seen)" % (r, sends() - s0))
        t.ok(ready(sc), "a spare is ready again")
        n0 = len([x for x in si.stats()["requests"] if x["method"] ==
                  "getMe"])
        si.fault("getMe", "close")
        r = sc.get("/bot%s/getMe" % tok)
        n1 = len([x for x in si.stats()["requests"] if x["method"] ==
                  "getMe"])
        t.ok(r.status == 200 and n1 - n0 == 2, "getMe on a spare, connection "
             "closed: read-only, retried on a fresh connection: 200 (%d "
             "seen)" % (n1 - n0))
        t.ok(re.search(r"GET getMe .*retries=1 spare=1", sc.log()),
             "its access line: retries=1 spare=1")
    finally:
        sc.stop()


def part_upload(t, env):
    """A body of any size takes a spare: there is one path, and the
    framer streams it (upstream_h1.c)."""
    si = env["si"]
    tok = token(harness.unique_secret("upl"))
    sc = start(env)
    try:
        sc.get("/bot%s/getMe" % tok)
        ready(sc)
        text = "x" * (100 * 1024)
        r = send(sc, tok, text)
        o = r.json() or {}
        t.ok(r.status == 200 and len(o.get("result", {}).get("text", ""))
             > 1000, "a 100 KiB sendMessage is answered")
        t.is_(access(sc, "sendMessage"), [1], "it went on the spare "
              "(spare=1)")
        t.is_(si.stats()["per_conn_max"], 1, "no connection carried two "
              "requests")
    finally:
        sc.stop()


def part_hint(t, env):
    """A getUpdates answer of N updates opens spares for the N calls that
    follow, whichever path it came by: here the first request, so a fresh
    connection (no spare exists from cold)."""
    si = env["si"]
    tok = token(harness.unique_secret("hint"))
    # Spares idle this long stay: each one opened is one the hint asked for.
    sc = start(env, ["--prewarm-max-idle", "20s"])
    try:
        si.reset()
        for i in range(4):
            si.inject({"text": "hint %d" % i})
        r = sc.get("/bot%s/getUpdates?timeout=0" % tok)
        got = (r.json() or {}).get("result") or []
        t.ok(r.status == 200 and len(got) == 4, "getUpdates from cold: 4 "
             "updates (%r)" % r.status)
        t.is_(access(sc, "getUpdates"), [0], "it came over a fresh "
              "connection (spare=0)")
        t.ok(harness.wait_until(lambda: spares(sc).get("opened", 0) >= 4,
                                20), "4 updates: 4 spares opened for the "
             "calls that follow (%r)" % spares(sc))
        t.is_(si.stats()["per_conn_max"], 1, "no connection carried two "
              "requests")
    finally:
        sc.stop()
        si.reset()      # the updates stay queued until confirmed


def inflight(sc):
    m = re.search(rb"^tgsidecar_inflight (\d+)", sc.get("/metrics").body,
                  re.M)
    return int(m.group(1)) if m else -1


def later(fn):
    """fn() in a thread: .done(timeout) -> its result, or None."""
    box = []
    th = threading.Thread(target=lambda: box.append(fn()), daemon=True)
    th.start()

    class Later:
        def done(self, timeout):
            th.join(harness.patient(timeout))
            return box[0] if box else None

        def running(self):
            return th.is_alive()
    return Later()


def wait_line(sc, api, n):
    """The n-th access line (0 on) for Bot API method api, once written."""
    def lines():
        return [l for l in sc.log().splitlines()
                if re.search(r" access \S+ \S+ %s " % re.escape(api), l)]
    harness.wait_until(lambda: len(lines()) > n, 10)
    got = lines()
    return got[n] if len(got) > n else ""


def held_new(fp, after):
    """The first connection held at the proxy's gate after number after."""
    box = []
    harness.wait_until(lambda: box.extend(
        [n for n in fp.held_conns() if n > after]) or box, 15)
    return box[0] if box else None


def open_until(fp, after, cond, timeout=20):
    """Let through every connection held after number after, as they come
    (spares and fresh ones alike), until cond() holds."""
    seen = set()

    def step():
        for n in fp.held_conns():
            if n > after and n not in seen:
                seen.add(n)
                fp.open_gate(n)
        return cond()
    return harness.wait_until(step, timeout, 0.05)


def open_new(fp, after, fut, timeout=20):
    """open_until() fut is done; fut's result."""
    open_until(fp, after, lambda: not fut.running(), timeout)
    return fut.done(1)


def tunneled(fp, n):
    """Connection n went through the gated proxy."""
    return any(l.startswith("conn %d " % n) and l.endswith("-> tunnel")
               for l in fp.events())


def gated(t, env, tok):
    """A sidecar through a proxy that holds each CONNECT until the test
    lets it through; one spare built (in 3 s: the estimate a wait is
    measured by, long beside this test's own steps) and taken, its
    replacement held. Returns (proxy, sidecar, the held connection)."""
    from faultproxy import FaultProxy
    si = env["si"]
    fp = FaultProxy(env["wd"], "tunnel", gate=True).start()
    sc = Sidecar(env["wd"], upstream=si.url, ca_file=env["certs"].ca_cert,
                 proxy=fp.url, extra_args=["--prewarm-max-idle", "30s",
                                           "--connect-timeout", "120s"]
                 ).start()
    getme = "/bot%s/getMe" % tok
    si.reset()
    first = later(lambda: sc.get(getme))
    c = held_new(fp, 0)
    fp.open_gate(c)
    r = first.done(20)
    t.is_(r and r.status, 200, "the first getMe, fresh (conn %r)" % c)
    c = held_new(fp, c)
    time.sleep(3)
    fp.open_gate(c)
    t.ok(ready(sc), "a spare is ready (conn %r, held 3 s)" % c)
    r = send(sc, tok, "on the ready spare")
    t.is_(r.status, 200, "sendMessage takes it")
    # Its replacement is held at the gate: no spare is ready.
    sp_conn = held_new(fp, c)
    t.ok(sp_conn is not None, "its replacement is being built (conn "
         "%r, held)" % sp_conn)
    return fp, sc, sp_conn


def part_wait(t, env):
    """A request that finds no spare ready rides one being built (no new
    connection), and goes fresh if that one fails, is late, or its bot
    leaves first."""
    si = env["si"]
    tok = token(harness.unique_secret("wait"))
    getme = "/bot%s/getMe" % tok
    fp, sc, sp_conn = gated(t, env, tok)

    def tunneled(n):
        return globals()["tunneled"](fp, n)
    try:
        c = held_new(fp, 0)
        fp.open_gate(c)
        x = later(lambda: sc.get(getme))
        t.ok(harness.wait_until(lambda: inflight(sc) == 1, 10),
             "a getMe arrives while it is built, and waits")
        t.ok(not [n for n in fp.held_conns() if n > sp_conn],
             "its claim opens no spare beyond the one kept (%r)"
             % fp.held_conns())
        fp.open_gate(sp_conn)
        r = x.done(20)
        t.is_(r and r.status, 200, "the spare is let through: getMe "
              "answered")
        repl = held_new(fp, sp_conn)
        t.ok(repl is not None, "handed over, the spare is replaced (conn "
             "%r, held)" % repl)
        line = wait_line(sc, "getMe", 1)
        t.ok(" spare=1 spare_wait=" in line, "it rode that spare: spare=1 "
             "spare_wait=MS (%r)" % line[line.find("retries"):])
        later_conns = [n for n in fp.held_conns() if n > sp_conn]
        t.ok(not [n for n in later_conns if tunneled(n)], "no connection "
             "after the spare's went through the proxy (%r held): it was "
             "answered on the spare's tunnel" % later_conns)
        sp = spares(sc)
        t.ok(sp.get("waited") == 1 and sp.get("missed", 0) == 0,
             "/metrics: spares waited 1, missed 0 (%r)" % sp)

        # The spare being built fails: the request goes fresh.
        sp_conn = repl
        y = later(lambda: sc.get(getme))
        t.ok(harness.wait_until(lambda: inflight(sc) == 1, 10),
             "another getMe waits for the next spare (conn %r)" % sp_conn)
        fp.open_gate(sp_conn, close=True)
        r = open_new(fp, sp_conn, y)
        t.is_(r and r.status, 200, "that spare's CONNECT is closed: the "
              "getMe goes fresh and is answered")
        # Its replacement (after the failure's backoff) let through too.
        open_until(fp, sp_conn, lambda: spares(sc).get("ready", 0) >= 1)
        line = wait_line(sc, "getMe", 2)
        t.ok(" spare=0 spare_wait=" in line and "error=" not in line,
             "its access line: spare=0 spare_wait=MS, no error (%r)"
             % line[line.find("retries"):])
        sp = spares(sc)
        t.ok(sp.get("missed") == 1 and sp.get("failed") == 1,
             "/metrics: spares missed 1, failed 1 (%r)" % sp)

        # The bot leaves while its poll waits: dropped at once.
        t.ok(harness.wait_until(lambda: ready(sc), 10), "a spare is ready")
        last = max(fp.held_conns() or [0])
        r = send(sc, tok, "takes the ready spare")
        t.is_(r.status, 200, "sendMessage takes it")
        sp_conn = held_new(fp, last)
        s = socket.create_connection(("127.0.0.1", sc.port), timeout=10)
        s.sendall(("GET /bot%s/getUpdates?timeout=30 HTTP/1.1\r\nHost: x"
                   "\r\n\r\n" % tok).encode())
        t.ok(harness.wait_until(lambda: inflight(sc) == 1, 10),
             "a getUpdates waits for its replacement (conn %r)" % sp_conn)
        s.close()
        t.ok(harness.wait_until(lambda: inflight(sc) == 0, 10),
             "its bot leaves: the request is gone")
        line = wait_line(sc, "getUpdates", 0)
        t.ok(" status=499 " in line and " spare_wait=" in line,
             "its access line: status=499, spare_wait=MS (%r)" % line)

        # The spare is late: the request goes fresh once it is late by a
        # whole expected build time.
        last = max(fp.held_conns())
        z = later(lambda: sc.get(getme))
        t.ok(harness.wait_until(lambda: inflight(sc) == 1, 10),
             "a getMe waits for the same spare (conn %r, still held)"
             % sp_conn)
        r = open_new(fp, last, z, 40)
        t.is_(r and r.status, 200, "not ready in time: it goes fresh and "
              "is answered")
        line = wait_line(sc, "getMe", 3)
        t.ok(" spare=0 spare_wait=" in line, "its access line: spare=0 "
             "spare_wait=MS (%r)" % line[line.find("retries"):])
        t.ok(not tunneled(sp_conn), "the late spare was still held")
        t.is_(si.stats()["per_conn_max"], 1, "no connection carried two "
              "requests")
        t.is_([m for m in (x["method"] for x in si.stats()["requests"])
               if m == "getUpdates"], [], "the abandoned poll never "
              "reached the stand-in")
    finally:
        fp.open_gate()
        sc.stop()
        fp.stop()


def part_wait_cfg(t, env):
    """A request waiting for a spare keeps its config: a reload closes
    the old config's spare and the request goes fresh, never onto a spare
    of the new config; a drain (SIGTERM) waits for it, fresh too."""
    tok = token(harness.unique_secret("wcfg"))
    getme = "/bot%s/getMe" % tok
    fp, sc, sp_conn = gated(t, env, tok)
    try:
        x = later(lambda: sc.get(getme))
        t.ok(harness.wait_until(lambda: inflight(sc) == 1, 10),
             "a getMe waits for the spare being built (conn %r)" % sp_conn)
        sc.proc.send_signal(signal.SIGHUP)
        t.ok(harness.wait_until(
            lambda: "configuration reloaded" in sc.log(), 10), "SIGHUP: "
            "the configuration is reloaded")
        # The request's fresh one, the new config's spare.
        r = open_new(fp, sp_conn, x)
        line = wait_line(sc, "getMe", 1)
        t.ok(r and r.status == 200 and " spare=0 spare_wait=" in line,
             "the old config's spare closed: the getMe goes fresh and is "
             "answered, spare=0 spare_wait=MS (%r)"
             % line[line.find("retries"):])
        t.ok(ready(sc), "the new config's spare is ready")
        last = max(fp.held_conns() or [0])
        r = send(sc, tok, "on the new config's spare")
        t.is_(r.status, 200, "sendMessage takes it")
        sp_conn = held_new(fp, last)
        y = later(lambda: sc.get(getme))
        t.ok(harness.wait_until(lambda: inflight(sc) == 1, 10),
             "a getMe waits for its replacement (conn %r)" % sp_conn)
        last = max(fp.held_conns())
        sc.proc.send_signal(signal.SIGTERM)
        r = open_new(fp, last, y)
        t.is_(r and r.status, 200, "SIGTERM: the spares close, the waiting "
              "getMe goes fresh and is answered")
        harness.wait_until(lambda: sc.proc.poll() is not None, 10)
        st, killed = sc.stop()
        t.ok(st == 0 and not killed, "the sidecar exits 0 once it is done "
             "(%r, killed %r)" % (st, killed))
    finally:
        fp.open_gate()
        sc.stop()
        fp.stop()


def main():
    return harness.squid_main((part_used, part_expiry, part_off, part_reload,
                               part_dies, part_longpoll, part_burst,
                               part_faults, part_upload, part_hint,
                               part_wait, part_wait_cfg))


if __name__ == "__main__":
    sys.exit(main())
