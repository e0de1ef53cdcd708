#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""One bot must not change what other bots get (issue 24, parts 1 and 3).

Two bots (two bot ids) share a sidecar, the stand-in reading parameters
as telegram-bot-api does (query over body, first value wins, top-level
JSON keys, tdlib's integer reading):

  1. odd polls: bot A sends every odd getUpdates we could think of, one
     after the other (a nested timeout, duplicate keys, floats, an
     \\u-escaped key, huge, negative and string values, query against
     body, urlencoded and multipart bodies, an exponent), while bot B
     polls through the same normal proxy. Checked: every poll of B is
     whole (one upstream poll per bot poll, with B's own timeout, answered
     after it); no poll of A or B is taken for swallowed and no slice is
     learned; each of A's polls goes upstream once, as sent.
  2. fair share: max_inflight 2, so each bot's share is 1 (half, the
     default). Bot A holds a long poll; its next call gets 503 in the Bot
     API's shape with parameters.retry_after and Retry-After, and never
     goes upstream; bot B is served meanwhile; A is served once its poll
     ends; /metrics counts the refusal by reason.
TAP output."""

import json
import os
import re
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

# What the Bot API reads from A's polls, at most: long enough that a poll
# misread as 1 s is checked (1 s + the 2 s grace of poll_timeout 4s)
# before its answer comes.
REAL = 4
B_TIMEOUT = 3
FAR = 900000        # an offset no update reaches: every poll is empty
MP = "XyZb"


def part(name, value):
    return ("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s"
            "\r\n" % (MP, name, value))


FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MULTI = "multipart/form-data; boundary=" + MP

# name, query, Content-Type, body: what bot A sends.
ODD = [
    ("nested timeout", "", JSON,
     '{"offset":%d,"x":{"timeout":1},"timeout":%d}' % (FAR, REAL)),
    ("duplicate keys", "", JSON,
     '{"offset":%d,"timeout":%d,"timeout":1}' % (FAR, REAL)),
    ("a float", "", JSON, '{"offset":%d,"timeout":%d.0}' % (FAR, REAL)),
    ("an exponent", "", JSON, '{"offset":%d,"timeout":%de0}' % (FAR, REAL)),
    ("an \\u-escaped key", "", JSON,
     '{"offset":%d,"time\\u006fut":%d}' % (FAR, REAL)),
    ("a huge value", "offset=%d&timeout=100000" % FAR, None, None),
    ("a huge JSON value", "", JSON,
     '{"offset":%d,"timeout":99999999999999}' % FAR),
    ("negative", "offset=%d&timeout=-5" % FAR, None, None),
    ("a string", "", JSON, '{"offset":%d,"timeout":"%d"}' % (FAR, REAL)),
    ("a word", "", JSON, '{"offset":%d,"timeout":"soon"}' % FAR),
    ("an object", "", JSON, '{"offset":%d,"timeout":{"timeout":1}}' % FAR),
    ("query over body", "offset=%d&timeout=%d" % (FAR, REAL), JSON,
     '{"timeout":1}'),
    ("query 1, body 4", "offset=%d&timeout=1" % FAR, JSON,
     '{"timeout":%d}' % REAL),
    ("a percent-escaped key", "offset=%d&time%%6Fut=%d" % (FAR, REAL),
     None, None),
    ("urlencoded, a text that looks like JSON", "", FORM,
     'note="timeout":1&offset=%d&timeout=%d' % (FAR, REAL)),
    ("urlencoded twice", "", FORM,
     "offset=%d&timeout=%d&timeout=1" % (FAR, REAL)),
    ("multipart", "", MULTI,
     part("caption", "timeout=1") + part("offset", FAR) +
     part("timeout", REAL) + "--%s--\r\n" % MP),
    ("no Content-Type", "", None, '{"offset":%d,"timeout":1}' % FAR),
]


def path(tok, method, query=""):
    return "/bot%s/%s%s" % (tok, method, "?" + query if query else "")


def secret_of(tok):
    return tok.split(":", 1)[1]


def upstream_polls(si, tok):
    """The getUpdates the stand-in saw for tok, as its request records."""
    return [r for r in si.stats()["requests"]
            if r["method"] == "getUpdates" and secret_of(tok) in r["path"]]


def metric(sc, name):
    r = sc.get("/metrics")
    m = re.search(r"^%s (\d+)" % re.escape(name), r.body.decode(), re.M)
    return int(m.group(1)) if m else None


def odd_poll(sc, tok, query, ctype, body):
    """One poll of bot A; it hangs up if no answer came REAL + 3 s after
    it (a huge value is held 50 s). The hang-up is part of the scenario,
    not a bound on speed: not scaled."""
    conn = sc.conn(timeout=REAL + 3)
    try:
        hdrs = {"Content-Type": ctype} if ctype else {}
        if body is None:
            r = request(conn, "GET", path(tok, "getUpdates", query))
        else:
            r = request(conn, "POST", path(tok, "getUpdates", query),
                        body.encode(), hdrs)
        return r.status
    except (socket.timeout, TimeoutError):
        return "hung up"
    finally:
        conn.close()


def odd_polls(t, wd, si, certs):
    sp = StaleProxy(wd, 600.0, name="keepproxy").start()
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy=sp.url,
                 extra_args=["--poll-timeout", "4s"],
                 name="sidecar-odd").start()
    a = token(harness.unique_secret("odda"))
    b = token(harness.unique_secret("oddb"), harness.SECOND_BOT_ID)
    done = threading.Event()
    b_polls = []

    def bot_b():
        while not done.is_set():
            conn = sc.conn(timeout=harness.patient(10) + B_TIMEOUT)
            t0 = time.monotonic()
            try:
                r = request(conn, "GET", path(b, "getUpdates",
                            "offset=%d&timeout=%d" % (FAR, B_TIMEOUT)))
                j = harness.try_json(r.body) or {}
                b_polls.append((r.status, j.get("result"),
                                time.monotonic() - t0))
            except Exception as e:  # reported below
                b_polls.append((repr(e), None, time.monotonic() - t0))
            finally:
                conn.close()
    try:
        si.reset()
        th = threading.Thread(target=bot_b, daemon=True)
        th.start()
        got = []
        for name, query, ctype, body in ODD:
            got.append((name, odd_poll(sc, a, query, ctype, body)))
        done.set()
        th.join(harness.patient(10) + B_TIMEOUT)
        t.diag("bot A's odd polls: %r" % got)
        t.ok(all(isinstance(s, int) or s == "hung up" for _, s in got),
             "bot A: %d odd polls, each answered or hung up on" % len(got))
        whole = [p for p in b_polls if p[0] == 200 and p[1] == [] and
                 p[2] >= B_TIMEOUT - 0.5]
        t.ok(len(b_polls) >= 3 and len(whole) == len(b_polls),
             "bot B: all %d polls answered empty after its own %d s "
             "(%r)" % (len(b_polls), B_TIMEOUT,
                       [p for p in b_polls if p not in whole]))
        seen = [int(p["params"].get("timeout", -1))
                for p in upstream_polls(si, b)]
        t.is_(seen, [B_TIMEOUT] * len(b_polls),
              "bot B: one upstream poll per bot poll, each with its own "
              "timeout (whole, never sliced)")
        t.is_(len(upstream_polls(si, a)), len(ODD),
              "bot A: each odd poll went upstream once, as sent")
        t.is_(metric(sc, "tgsidecar_longpoll_swallowed_total"), 0,
              "no poll taken for swallowed: every timeout read as the "
              "Bot API reads it")
        t.is_(metric(sc, "tgsidecar_longpoll_sliced_total"), 0,
              "no poll sliced")
        learned = [l for l in sc.log().splitlines() if "long polls " in l]
        t.is_(learned, [], "no slice learned, for the proxy or a bot")
    finally:
        done.set()
        st, killed = sc.stop()
        sp.stop()
    t.ok(st == 0 and not killed, "that sidecar exits 0 (%r)" % st)


def fair_share(t, wd, si, certs):
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 extra_args=["--max-inflight", "2"],
                 name="sidecar-share").start()
    a = token(harness.unique_secret("sharea"))
    b = token(harness.unique_secret("shareb"), harness.SECOND_BOT_ID)
    held = {}

    def hold():
        conn = sc.conn(timeout=harness.patient(10) + 5)
        try:
            held["r"] = request(conn, "GET", path(a, "getUpdates",
                                "offset=%d&timeout=5" % FAR))
        except Exception as e:  # reported below
            held["r"] = e
        finally:
            conn.close()
    try:
        si.reset()
        before = si.stats()["waiting_polls"]
        th = threading.Thread(target=hold, daemon=True)
        th.start()
        t.ok(harness.wait_until(
            lambda: si.stats()["waiting_polls"] > before, 10),
            "bot A holds a long poll: its whole share (max_inflight 2, "
            "half each)")
        r = sc.get(path(a, "getMe"))
        j = harness.try_json(r.body) or {}
        t.ok(r.status == 503 and j.get("ok") is False and
             j.get("error_code") == 503 and
             (j.get("parameters") or {}).get("retry_after") == 1 and
             "max_inflight_per_bot" in j.get("description", ""),
             "bot A's next call: 503 in the Bot API's shape with "
             "parameters.retry_after (%r)" % r.body)
        t.is_(r.headers.get("Retry-After"), "1", "and Retry-After: 1")
        t.is_([q for q in si.stats()["requests"] if q["method"] == "getMe"
               and secret_of(a) in q["path"]], [],
              "the refused call never went upstream")
        rb = sc.get(path(b, "getMe"))
        t.is_(rb.status, 200, "bot B is served meanwhile")
        rb = sc.get(path(b, "getUpdates", "offset=%d&timeout=1" % FAR))
        t.ok(rb.status == 200 and (harness.try_json(rb.body) or {}).get(
             "result") == [], "bot B's own long poll is served too")
        t.is_(metric(sc, 'tgsidecar_refused_total{reason="max_inflight_'
                     'per_bot"}'), 1,
              "/metrics: tgsidecar_refused_total{reason=\"max_inflight_"
              "per_bot\"} 1")
        th.join(harness.patient(10) + 5)
        t.is_(getattr(held.get("r"), "status", held.get("r")), 200,
              "bot A's poll ends as it should")
        t.is_(sc.get(path(a, "getMe")).status, 200,
              "and then bot A is served again")
    finally:
        st, killed = sc.stop()
    t.ok(st == 0 and not killed, "that sidecar exits 0 (%r)" % st)


def main():
    t = Tap("t_onebot")
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    try:
        fair_share(t, wd, si, certs)
        odd_polls(t, wd, si, certs)
    except Exception:
        t.fail_exception("t_onebot")
    finally:
        si.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
