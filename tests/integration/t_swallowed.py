#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Long polls through a proxy that forgets idle tunnels (issue 13, part 2).

tests/lib/staleproxy.py forgets a tunnel idle for more than 2 s without
closing it. A held getUpdates is such a tunnel: the stand-in answers into
it and nothing comes back. On defaults the sidecar must notice the
swallowed poll (no answer by the poll's timeout plus a short grace), poll
again at once, and from then on slice the bot's poll into upstream polls
short enough for that proxy, answering the bot only with updates or when
its own timeout ends. Checked:

  1. through the stale proxy, a bot polling timeout=10 gets an update
     injected at ~5 s long before the old 10 + 60 s, the sidecar re-polled
     (the stand-in saw a shorter timeout; metrics and access log agree);
  2. a sequence of updates over many polls reaches the bot, each exactly
     once and in order, and no empty answer comes before the bot's timeout;
  3. after that, the bot's poll goes upstream in slices from its start, in
     the query, a JSON body and an urlencoded body alike, and still after
     a SIGHUP;
  4. an ok:false answer (409 Conflict, or any status) passes unchanged;
  5. a bot that leaves mid-poll: no upstream poll is left or started;
  6. drain: a held, sliced poll is answered empty and the sidecar exits 0;
  7. through a proxy that keeps tunnels: no slicing, one upstream poll per
     bot poll with the bot's own timeout, and a hang-up closes the
     upstream poll at once.
TAP output."""

import json
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap, Sidecar, StandIn, Certs, request, token  # noqa: E402
from staleproxy import StaleProxy  # noqa: E402

IDLE = 2.0
BOT_TIMEOUT = 10
# Without the fix a swallowed poll is answered after timeout + poll_timeout
# (10 + 60 s). The bound is the outcome checked, so it is not scaled: far
# above what a loaded machine needs (the grace is 5 s), below 70 s.
LATE = 50.0
# A bot's hang-up closes its upstream poll at once; see t_proxies.py.
HANGUP_BUDGET = 20.0
CONFLICT = ("Conflict: terminated by other getUpdates request; make sure "
            "that only one bot instance is running")


def path(tok, method, query=None):
    p = "/bot%s/%s" % (tok, method)
    if query:
        p += "?" + urllib.parse.urlencode(query)
    return p


BOT_POLLS = {}      # sidecar port -> bot polls made through it


def poll(sc, tok, timeout, offset=0, form=None, extra=None):
    """One bot poll; (reply, seconds it took). form: None (query), "json"
    or "urlencoded" (the parameters in the body)."""
    BOT_POLLS[sc.port] = BOT_POLLS.get(sc.port, 0) + 1
    params = {"offset": offset, "timeout": timeout}
    params.update(extra or {})
    conn = sc.conn(timeout=harness.patient(10) + 80)
    t0 = time.monotonic()
    try:
        if form is None:
            r = request(conn, "GET", path(tok, "getUpdates", params))
        elif form == "json":
            body, hdrs = harness.json_body(params)
            r = request(conn, "POST", path(tok, "getUpdates"), body, hdrs)
        else:
            r = request(conn, "POST", path(tok, "getUpdates"),
                        urllib.parse.urlencode(params).encode(),
                        {"Content-Type":
                         "application/x-www-form-urlencoded"})
    finally:
        conn.close()
    return r, time.monotonic() - t0


def results(r):
    j = harness.try_json(r.body) or {}
    return j.get("result") if j.get("ok") else None


def later(delay, fn):
    """fn() after delay seconds, in a thread (the delay is the scenario)."""
    def run():
        time.sleep(delay)
        fn()
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


def polls_seen(si, tok, after=None):
    """The timeouts of the getUpdates the stand-in saw for tok (that came
    after the monotonic time after)."""
    secret = tok.split(":", 1)[1]
    return [int(float(r.get("params", {}).get("timeout", -1)))
            for r in si.stats()["requests"]
            if r["method"] == "getUpdates" and secret in r["path"]
            and (after is None or r["time"] > after)]


def metric(sc, name):
    conn = sc.conn()
    try:
        r = request(conn, "GET", "/metrics")
    finally:
        conn.close()
    m = re.search(r"^%s (\d+)" % name, r.body.decode(), re.M)
    return int(m.group(1)) if m else None


def access_polls(sc):
    """polls=N of each getUpdates access line, in order."""
    return [int(m.group(1)) for m in
            re.finditer(r" access .* getUpdates .* polls=(\d+)", sc.log())]


# ------------------------------------------------------------ 1, 2, 3

def first_swallowed(t, si, sc):
    tok = token(harness.unique_secret("first"))
    si.reset()
    got = []
    inj = later(5.0, lambda: got.append(si.inject({"text": "first"})))
    r, dt = poll(sc, tok, BOT_TIMEOUT)
    inj.join(harness.patient(10))
    res = results(r) or []
    t.ok(r.status == 200 and [u["message"]["text"] for u in res] ==
         ["first"], "the update injected at 5 s during a swallowed 10 s "
         "poll reaches the bot (%r)" % harness.shorten(r.body, 200))
    t.ok(dt < LATE, "within %.0f s, not after timeout + poll_timeout "
         "(took %.1f s)" % (LATE, dt))
    seen = polls_seen(si, tok)
    t.ok(len(seen) >= 2 and seen[0] == BOT_TIMEOUT and
         min(seen[1:]) < BOT_TIMEOUT,
         "the stand-in saw the bot's poll, then one with a shorter "
         "timeout (%r)" % seen)
    t.ok((metric(sc, "tgsidecar_longpoll_swallowed_total") or 0) >= 1,
         "tgsidecar_longpoll_swallowed_total counts it")
    pl = access_polls(sc)
    t.ok(pl and pl[-1] >= 2, "its access line says polls=%s"
         % (pl[-1] if pl else None))
    return res[0]["update_id"] if res else 0


def sequence(t, si, sc, last):
    """Updates at varied gaps while the bot polls on: each exactly once."""
    tok = token(harness.unique_secret("seq"))
    texts = ["seq-%d" % i for i in range(8)]
    at = [1.0, 2.5, 6.0, 6.2, 11.0, 15.0, 21.0, 22.0]
    t0 = time.monotonic()

    def injector():
        for when, text in zip(at, texts):
            left = t0 + when - time.monotonic()
            if left > 0:
                time.sleep(left)
            si.inject({"text": text})
    inj = threading.Thread(target=injector, daemon=True)
    inj.start()
    seen, early, offset = [], [], last + 1
    deadline = time.monotonic() + harness.patient(10) + 60
    while len(seen) < len(texts) and time.monotonic() < deadline:
        r, dt = poll(sc, tok, BOT_TIMEOUT, offset)
        res = results(r)
        if r.status != 200 or res is None:
            t.diag("poll answered %r" % r)
            break
        if not res and dt < BOT_TIMEOUT - 1.5:
            early.append(round(dt, 1))
        for u in res:
            seen.append((u["update_id"], u["message"]["text"]))
            offset = u["update_id"] + 1
    inj.join(harness.patient(10))
    r, dt = poll(sc, tok, 1, offset)
    t.ok([x[1] for x in seen] == texts and results(r) == [],
         "%d updates over many polls: each exactly once, in order, none "
         "after" % len(texts))
    if [x[1] for x in seen] != texts:
        t.diag("seen %r" % seen)
    t.ok(not early, "no empty answer before the bot's own timeout %r"
         % early)
    return offset - 1


def sliced(t, si, sc, last):
    """Learned: the bot's poll goes upstream in slices from its start."""
    out = last
    for form in (None, "json", "urlencoded"):
        tok = token(harness.unique_secret("sliced"))
        inj = later(4.0, lambda: si.inject({"text": "sliced"}))
        r, dt = poll(sc, tok, BOT_TIMEOUT, out + 1, form)
        inj.join(harness.patient(10))
        res = results(r) or []
        seen = polls_seen(si, tok)
        name = form or "query"
        t.ok([u["message"]["text"] for u in res] == ["sliced"],
             "%s: the update at 4 s reaches the bot (%.1f s)" % (name, dt))
        t.ok(seen and max(seen) <= IDLE and len(seen) >= 2,
             "%s: the stand-in saw slices no longer than the proxy's "
             "idle limit (%r)" % (name, seen))
        if res:
            out = res[-1]["update_id"]
    t.ok((metric(sc, "tgsidecar_longpoll_sliced_total") or 0) >= 2,
         "tgsidecar_longpoll_sliced_total counts the slices")
    return out


def reload(t, si, sc, last):
    """A SIGHUP keeps the proxy's slice: the next poll is sliced at once."""
    sc.proc.send_signal(signal.SIGHUP)
    t.ok(harness.wait_until(
        lambda: "configuration reloaded" in sc.log(), 10), "SIGHUP reloads")
    tok = token(harness.unique_secret("reload"))
    inj = later(3.0, lambda: si.inject({"text": "reloaded"}))
    r, dt = poll(sc, tok, BOT_TIMEOUT, last + 1)
    inj.join(harness.patient(10))
    res = results(r) or []
    seen = polls_seen(si, tok)
    t.ok([u["message"]["text"] for u in res] == ["reloaded"] and seen and
         max(seen) <= IDLE,
         "after the reload, the bot's poll goes up in slices from its start "
         "(%r), and the update arrives" % seen)
    return res[-1]["update_id"] if res else last


# ------------------------------------------------------------ 4, 5, 6

def passthrough(t, si, sc, last):
    tok = token(harness.unique_secret("conflict"))
    out = {}

    def bot(name):
        try:
            out[name] = poll(sc, tok, BOT_TIMEOUT, last + 1)[0]
        except Exception as e:  # reported below
            out[name] = e
    a = threading.Thread(target=bot, args=("a",), daemon=True)
    before = si.stats()["waiting_polls"]
    a.start()
    harness.wait_until(lambda: si.stats()["waiting_polls"] > before, 10)
    b = threading.Thread(target=bot, args=("b",), daemon=True)
    b.start()
    a.join(harness.patient(10) + 80)
    b.join(harness.patient(10) + 80)
    got = [out.get(k) for k in ("a", "b")]
    conflicts = [r for r in got if getattr(r, "status", None) == 409]
    oks = [r for r in got if getattr(r, "status", None) == 200]
    want = {"ok": False, "error_code": 409, "description": CONFLICT}
    t.ok(len(conflicts) == 1 and len(oks) == 1 and
         harness.try_json(conflicts[0].body) == want,
         "two polls of one bot: the one terminated gets the 409 Conflict "
         "as it came, not polled again (%r)" % got)
    r, dt = poll(sc, tok, BOT_TIMEOUT, last + 1, extra={"_status": 400})
    j = harness.try_json(r.body) or {}
    t.ok(r.status == 400 and j.get("ok") is False and
         j.get("error_code") == 400, "an ok:false 400 passes unchanged")


def leaves(t, si, sc):
    tok = token(harness.unique_secret("leaves"))
    before = si.stats()["waiting_polls"]
    s = socket.create_connection(("127.0.0.1", sc.port),
                                 timeout=harness.CLIENT_TIMEOUT)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                   % path(tok, "getUpdates", {"timeout": BOT_TIMEOUT,
                                              "offset": 900000})).encode())
        t.ok(harness.wait_until(
            lambda: si.stats()["waiting_polls"] > before, 10),
            "a sliced poll is held upstream")
        t0 = time.monotonic()
    finally:
        s.close()
    t.ok(harness.wait_until(
        lambda: si.stats()["waiting_polls"] == before, 3),
        "the bot leaves: no upstream poll is left waiting")
    # 1 s slices would go on at t0 + 1, + 2, ...: a window in which none may
    # come, after 2 s for a request already on its way at t0.
    time.sleep(max(0.0, t0 + 5.0 - time.monotonic()))
    late = polls_seen(si, tok, t0 + 2.0)
    t.ok(not late, "and no slice is started after it left (%r, of %r)"
         % (late, polls_seen(si, tok)))


def drain(t, si, sc):
    tok = token(harness.unique_secret("drain"))
    out = []
    before = si.stats()["waiting_polls"]
    th = threading.Thread(target=lambda: out.append(
        poll(sc, tok, BOT_TIMEOUT, 900000)), daemon=True)
    th.start()
    harness.wait_until(lambda: si.stats()["waiting_polls"] > before, 10)
    sc.proc.send_signal(signal.SIGTERM)
    th.join(harness.patient(10))
    r = out[0][0] if out else None
    t.ok(r is not None and r.status == 200 and results(r) == [],
         "drain: the held, sliced poll is answered with an empty result")
    st = sc.proc.wait(harness.patient(10))
    t.ok(st == 0, "the sidecar exits 0 (%r)" % st)


# ------------------------------------------------------------ 7

def normal(t, wd, si, certs):
    sp = StaleProxy(wd, 600.0, name="keepproxy").start()
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy=sp.url,
                 name="sidecar-normal").start()
    try:
        si.reset()
        tok = token(harness.unique_secret("normal"))
        empty = []
        for _ in range(3):
            r, dt = poll(sc, tok, 3, 900000)
            empty.append(r.status == 200 and results(r) == [] and dt >= 2.5)
        inj = later(1.0, lambda: si.inject({"text": "normal"}))
        r, dt = poll(sc, tok, 3)
        inj.join(harness.patient(10))
        t.ok(all(empty) and [u["message"]["text"] for u in
                             results(r) or []] == ["normal"],
             "a proxy that keeps tunnels: empty answers after the bot's "
             "timeout, the update when it comes")
        seen = polls_seen(si, tok)
        t.is_(seen, [3, 3, 3, 3], "one upstream poll per bot poll, with "
              "the bot's own timeout")
        t.ok(metric(sc, "tgsidecar_longpoll_sliced_total") == 0 and
             metric(sc, "tgsidecar_longpoll_swallowed_total") == 0,
             "nothing swallowed, nothing sliced")
        t.is_(access_polls(sc), [1, 1, 1, 1], "access lines say polls=1")
        before = si.stats()
        s = socket.create_connection(("127.0.0.1", sc.port),
                                     timeout=harness.CLIENT_TIMEOUT)
        try:
            s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                       % path(tok, "getUpdates", {"timeout": 50,
                                                  "offset": 900000})
                       ).encode())
            harness.wait_until(lambda: si.stats()["waiting_polls"] >
                               before["waiting_polls"], 10)
            t0 = time.monotonic()
        finally:
            s.close()
        hs = harness.wait_until(lambda: [h for h in si.stats()["hangups"]
                                         if h["time"] >= t0],
                                HANGUP_BUDGET, scale=False)
        t.ok(hs, "the bot hangs up: the upstream poll is closed at once "
             "(within %.0f s, not the poll's 50 s)" % HANGUP_BUDGET)
    finally:
        st, killed = sc.stop()
        sp.stop()
    t.ok(st == 0 and not killed, "that sidecar exits 0 (%r)" % st)


def main():
    t = Tap("t_swallowed")
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    sp = StaleProxy(wd, IDLE).start()
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy=sp.url,
                 name="sidecar-stale").start()
    try:
        last = first_swallowed(t, si, sc)
        last = sequence(t, si, sc, last)
        t.is_(len(access_polls(sc)), BOT_POLLS[sc.port],
              "one access line per bot poll, however many upstream polls "
              "it took (%r)" % access_polls(sc))
        for line in sc.log().splitlines():
            if "long polls through" in line:
                t.diag(line)
        gu = [l for l in sc.log().splitlines() if " access " in l and
              " getUpdates " in l]
        t.diag("bot polls with spare=1 in their access line: "
               "%d of %d" % (len([l for l in gu if " spare=1" in l]),
                             len(gu)))
        last = sliced(t, si, sc, last)
        last = reload(t, si, sc, last)
        passthrough(t, si, sc, last)
        leaves(t, si, sc)
        drain(t, si, sc)
        t.ok(sp.stats()["stale"] >= 1, "the proxy did forget tunnels")
        normal(t, wd, si, certs)
    except Exception:
        t.fail_exception("t_swallowed")
    finally:
        sc.stop()
        sp.stop()
        si.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
