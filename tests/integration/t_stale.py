#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""The stale-tunnel proof. tests/lib/staleproxy.py is a CONNECT proxy that,
like many corporate proxies, forgets a tunnel idle for more than 2 s without
closing it. Three runs, side by side:

  1. python-telegram-bot 13 straight through that proxy, getMe every 3 s on
     its pooled connection: calls after a gap time out (the problem).
  2. The same library through tgsidecar, the sidecar through that proxy:
     20 calls 3 s apart, no failure, and one fresh tunnel per call.
  3. The bundled tgsidecar-bot through the sidecar and that proxy: five
     messages, some more than 2 s apart, five echoes. The bot long-polls
     with a 1 s timeout here: the proxy cannot tell a held long poll from
     an idle tunnel, so polls must stay under its limit, as 30 s polls stay
     under a real proxy's limit of minutes.
TAP output."""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap, Sidecar, StandIn, Certs, token  # noqa: E402
from staleproxy import StaleProxy  # noqa: E402

TESTS_DIR = os.path.dirname(harness.LIBDIR)
STALE_CLIENT = os.path.join(TESTS_DIR, "clients", "ptb13_stale.py")
IDLE = 2.0
GAP = 3.0
DIRECT_CALLS = 4
SIDECAR_CALLS = 20
# PTB's read timeout. Without the sidecar the calls on a stale tunnel wait
# it out, so it is kept short, but the first call must fit in it on a
# loaded machine (quiet: 0.1 s). With the sidecar no call may fail: that
# run gets a patient one.
READ_TIMEOUT = 10
SIDECAR_READ_TIMEOUT = harness.patient(3)
BOT_POLL_TIMEOUT = 1       # below IDLE, see above
# An echo through a stale tunnel would wait for the sidecar's poll timeout
# (1 + 60 s) and a re-poll; a fresh one takes well under 1 s on a quiet
# machine. The bound leaves room for a loaded one and stays under 61 s.
ECHO_BOUND = 40.0
ALLOWED = (7001, 7002)
STRANGER = 6660


def bot_bin():
    b = os.environ.get("TGSIDECAR_BOT_BIN")
    if not b:
        b = os.path.join(os.path.dirname(harness.sidecar_bin()), "tgsidecar-bot")
    return b


def run_ptb(wd, name, targs, timeout):
    """Run the PTB 13 client; returns (exit status, result or None, proc)."""
    env = harness.scrubbed_env({"TG_ARGS": json.dumps(targs)})
    p = harness.Proc([harness.PYTHON, STALE_CLIENT], wd, name, env=env)
    p.start()
    st = p.wait(timeout)
    if st is None:
        p.stop(timeout=3)
    res = None
    for line in p.stdout().splitlines():
        if line.startswith("RESULT "):
            try:
                res = json.loads(line[7:])
            except ValueError:
                pass
    return st, res, p


class Results:
    """Assertions made in threads, printed in order from the main thread."""

    def __init__(self):
        self.items = []

    def ok(self, cond, desc, diag=None):
        self.items.append((bool(cond), desc, diag))

    def flush(self, t):
        for cond, desc, diag in self.items:
            t.ok(cond, desc)
            if diag and not cond:
                t.diag(diag)
        self.items = []


# ------------------------------------------------------------ 1. without

def without_sidecar(wd, si, certs, R):
    sp = StaleProxy(wd, IDLE, name="staleproxy-direct").start()
    try:
        targs = {"mode": "proxy", "base_url": si.url + "/bot",
                 "proxy_url": sp.url, "ca_file": certs.ca_cert,
                 "token": token(harness.unique_secret("direct")),
                 "calls": DIRECT_CALLS, "gap_s": GAP,
                 "read_timeout_s": READ_TIMEOUT}
        st, res, p = run_ptb(wd, "ptb-direct", targs, harness.patient(
                             DIRECT_CALLS * (GAP + READ_TIMEOUT + 10) + 20))
        R.ok(st == 0 and res is not None,
             "without the sidecar: the PTB 13 client ran (status %r)" % st,
             p.stdout() + p.stderr()[-2000:])
        calls = (res or {}).get("calls", [])
        R.ok(calls and calls[0]["ok"],
             "without the sidecar: the first call through the proxy works",
             json.dumps(calls[:1]))
        failed = [c for c in calls[1:] if not c["ok"]]
        R.ok(failed and all(c["error"] and ("TimedOut" in c["error"] or
                                            "NetworkError" in c["error"])
                            for c in failed),
             "without the sidecar: calls after a %.0f s gap time out on the "
             "stale pooled tunnel (%d of %d failed: %s)"
             % (GAP, len(failed), len(calls) - 1,
                ", ".join(sorted(set(c["error"].split(":")[0] for c in failed)))),
             json.dumps(calls))
        s = sp.stats()
        R.ok(s["stale"] >= 1,
             "without the sidecar: the proxy saw %d tunnel(s) go stale"
             % s["stale"], json.dumps(s)[:1500])
    finally:
        sp.stop()


# ------------------------------------------------------------ 2. with

def with_sidecar(wd, si, certs, t):
    # A stand-in of its own: requests are counted per connection there
    # (spares opened ahead add tunnels that carry none).
    si = StandIn(wd, certs, name="standin-ptb").start()
    sp = StaleProxy(wd, IDLE, name="staleproxy-sidecar").start()
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy=sp.url,
                 name="sidecar-ptb").start()
    try:
        targs = {"mode": "sidecar",
                 "base_url": "http://127.0.0.1:%d/bot" % sc.port,
                 "token": token(harness.unique_secret("sc")),
                 "calls": SIDECAR_CALLS, "gap_s": GAP,
                 "read_timeout_s": SIDECAR_READ_TIMEOUT}
        t0 = time.monotonic()
        st, res, p = run_ptb(wd, "ptb-sidecar", targs,
                             SIDECAR_CALLS * GAP + harness.patient(60))
        t.diag("with the sidecar: %d calls took %.1f s"
               % (SIDECAR_CALLS, time.monotonic() - t0))
        if not t.ok(st == 0 and res is not None,
                    "with the sidecar: the PTB 13 client ran (status %r)" % st):
            t.diag(p.stdout() + p.stderr()[-2000:])
        calls = (res or {}).get("calls", [])
        failed = [c for c in calls if not c["ok"]]
        t.is_(len(calls), SIDECAR_CALLS, "with the sidecar: %d getMe calls, "
              "%.0f s apart" % (SIDECAR_CALLS, GAP))
        if not t.ok(calls and not failed,
                    "with the sidecar: no call fails (%d failed)" % len(failed)):
            t.diag(json.dumps(failed))
            t.diag("sidecar log tail:\n" + sc.log()[-2000:])
        if calls:
            t.diag("call times (ms): %s" % [c["ms"] for c in calls])
        st, killed = sc.stop()
        t.ok(st == 0 and not killed, "with the sidecar: sidecar exits 0")
        s = sp.stats()
        c = si.stats()
        t.is_((c["conns_used"], c["per_conn_max"],
               s["tunnels"] >= SIDECAR_CALLS), (SIDECAR_CALLS, 1, True),
              "with the sidecar: one fresh tunnel per call, none carried "
              "two (%d tunnels, %d of them spares never used)"
              % (s["tunnels"], s["tunnels"] - c["conns_used"]))
        t.is_(s["stale"], 0, "with the sidecar: no tunnel went stale")
    finally:
        sc.stop()
        sp.stop()
        si.stop()


# ------------------------------------------------------------ 2b. load

LOAD_BOTS = 8
LOAD_CALLS = 125            # per bot: 1,000 in all
LOAD_LONG_GAPS = 2          # per bot, each longer than IDLE


def thousand(wd, si, certs, R):
    """1,000 requests on kept-alive bot connections, with random gaps, a
    few of them longer than the proxy's idle limit: 0 failures."""
    import random
    # A stand-in of its own: the others' checks read the last requests.
    si = StandIn(wd, certs, name="standin-load").start()
    sp = StaleProxy(wd, IDLE, name="staleproxy-load").start()
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy=sp.url,
                 name="sidecar-load").start()
    tok = token(harness.unique_secret("load"))
    failures = []
    lock = threading.Lock()

    def bot(n):
        rnd = random.Random(n)
        long_at = set(rnd.sample(range(1, LOAD_CALLS), LOAD_LONG_GAPS))
        conn = sc.conn()
        for i in range(LOAD_CALLS):
            time.sleep(IDLE + 0.3 if i in long_at else rnd.uniform(0, 0.02))
            if i % 2:
                path = "/bot%s/sendMessage?chat_id=%d&text=n%d-%d" % (
                    tok, n + 1, n, i)
            else:
                path = "/bot%s/getMe" % tok
            try:
                r = harness.request(conn, "GET", path)
                ok = r.status == 200 and (r.json() or {}).get("ok") is True
                why = r
            except Exception as e:  # noqa: a failure is what we count
                ok, why = False, e
                conn.close()
                conn = sc.conn()
            if not ok:
                with lock:
                    failures.append("bot %d call %d: %r" % (n, i, why))
        conn.close()

    try:
        threads = [threading.Thread(target=bot, args=(n,), daemon=True)
                   for n in range(LOAD_BOTS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(harness.patient(180))
        R.ok(not any(th.is_alive() for th in threads),
             "1,000 requests with random gaps finished in time")
        R.ok(not failures, "1,000 requests with random gaps through the "
             "stale-tunnel proxy: 0 failures (%d failed)" % len(failures),
             "\n".join(failures[:20]))
        st, killed = sc.stop()
        R.ok(st == 0 and not killed, "load: sidecar exits 0")
        s = sp.stats()
        c = si.stats()
        R.ok((c["conns_used"], c["per_conn_max"]) ==
             (LOAD_BOTS * LOAD_CALLS, 1) and
             s["tunnels"] >= LOAD_BOTS * LOAD_CALLS,
             "1,000 requests went on 1,000 fresh tunnels, one each (%r "
             "tunnels, %r carried one, at most %r on one)"
             % (s["tunnels"], c["conns_used"], c["per_conn_max"]))
        R.ok(s["stale"] == 0, "no tunnel of those went stale (%r)" % s["stale"])
    finally:
        sc.stop()
        sp.stop()
        si.stop()


# ------------------------------------------------------------ 3. the bot

def bundled_bot(wd, si, certs, R):
    b = bot_bin()
    if not os.access(b, os.X_OK):
        R.ok(False, "bundled bot: %s is built" % b)
        return
    sp = StaleProxy(wd, IDLE, name="staleproxy-bot").start()
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy=sp.url,
                 name="sidecar-bot").start()
    secret = harness.unique_secret("bot")
    env = harness.scrubbed_env({
        "TELEGRAM_BOT_TOKEN": token(secret),
        "TGSIDECAR_URL": "http://127.0.0.1:%d" % sc.port,
        "ALLOWED_TELEGRAM_USER_ID": ",".join(str(x) for x in ALLOWED)})
    bot = harness.Proc([b, "--poll-timeout", BOT_POLL_TIMEOUT], wd,
                       "tgsidecar-bot", env=env)
    prefix = "/bot%s/" % token(secret)

    def mine(method):
        return [r for r in si.stats()["requests"]
                if r.get("method") == method and r["path"].startswith(prefix)]

    def echoed(text):
        return [r for r in mine("sendMessage")
                if (r.get("params") or {}).get("text") == text]

    try:
        bot.start()
        polling = harness.wait_until(
            lambda: not bot.alive() or (mine("getUpdates")
                                        and si.stats()["waiting_polls"] >= 1),
            20, 0.05)
        R.ok(bot.alive() and polling,
             "bundled bot: starts and long-polls through the sidecar",
             bot.stderr()[-2000:])
        texts = ["стейл %d ✓ %s" % (i, os.urandom(3).hex()) for i in range(5)]
        stranger_text = "not allowed %s" % os.urandom(3).hex()
        got = []
        # Messages 1-3 each after an idle gap longer than the proxy's limit;
        # then a stranger's message and 4-5 back to back.
        for i, text in enumerate(texts):
            if i in (1, 2):
                time.sleep(GAP)     # the idle gap under test
            if i == 3:
                si.inject({"text": stranger_text, "from_id": STRANGER})
            si.inject({"text": text, "from_id": ALLOWED[i % 2]})
            if i < 3:
                t1 = time.monotonic()
                e = harness.wait_until(lambda: echoed(text), ECHO_BOUND,
                                       0.05, scale=False)
                got.append(round(time.monotonic() - t1, 2) if e else None)
        harness.wait_until(lambda: all(echoed(x) for x in texts), 30, 0.05)
        R.ok(None not in got,
             "bundled bot: each message after an idle gap is echoed within "
             "%.0f s (took %s s)" % (ECHO_BOUND, got))
        echoes = [echoed(x) for x in texts]
        R.ok(all(echoes),
             "bundled bot: all 5 messages echoed through the stale proxy "
             "(%d of 5)" % sum(1 for e in echoes if e),
             "bot log:\n%s\nsidecar log:\n%s" % (bot.stderr()[-2000:],
                                                 sc.log()[-2000:]))
        R.ok(all(str(e[0]["params"].get("chat_id")) == str(ALLOWED[i % 2])
                 for i, e in enumerate(echoes) if e),
             "bundled bot: each echo went to the sender's chat")
        R.ok(not [r for r in mine("sendMessage")
                  if stranger_text in (r.get("params") or {}).get("text", "")],
             "bundled bot: a user not in ALLOWED_TELEGRAM_USER_ID is not echoed")
        s = sp.stats()
        R.ok(s["stale"] == 0 and s["tunnels"] >= 10,
             "bundled bot: fresh tunnels (%d), none stale (%d)"
             % (s["tunnels"], s["stale"]), json.dumps(s)[:1500])
        st, killed = bot.stop(timeout=harness.patient(10))
        R.ok(st == 0 and not killed,
             "bundled bot: exits 0 on SIGTERM (status %r%s)"
             % (st, ", killed" if killed else ""), bot.stderr()[-1500:])
    finally:
        bot.stop(timeout=3)
        sc.stop()
        sp.stop()


def main():
    t = Tap()
    t0 = time.monotonic()
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    side = {"direct": Results(), "bot": Results(), "load": Results()}
    threads = []
    for key, fn in (("direct", without_sidecar), ("bot", bundled_bot),
                    ("load", thousand)):
        def body(fn=fn, r=side[key]):
            try:
                fn(wd, si, certs, r)
            except Exception:
                import traceback
                r.ok(False, "%s (exception)" % fn.__name__, traceback.format_exc())
        th = threading.Thread(target=body, daemon=True)
        th.start()
        threads.append(th)
    try:
        with_sidecar(wd, si, certs, t)
    except Exception:
        t.fail_exception("with the sidecar")
    for th, key in zip(threads, ("direct", "bot", "load")):
        th.join(harness.patient(120))
        if th.is_alive():
            t.ok(False, "%s run finished in time" % key)
        side[key].flush(t)
    si.stop()
    t.diag("t_stale took %.1f s" % (time.monotonic() - t0))
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
