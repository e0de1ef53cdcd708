#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""The flood guard (issue 21), against a stand-in that enforces Telegram's
per-chat limits (standin.py LIMITS: a call during a chat's ban is a
violation).  Once the Bot API has answered a call of a bot to a chat 429
with retry_after, the sidecar answers that bot's calls to that chat with
the same 429 until retry_after ends, whichever way the call names the
chat (JSON, urlencoded, query, multipart), on a kept-alive connection,
across a SIGHUP; other chats, calls with no chat, and read-only calls
pass.  A body that cannot tell its chat within 64 KiB or 1 s goes
upstream unguarded.  flood_guard = no passes every call.  Then two
python-telegram-bot processes sharing one token broadcast 200 messages
to 20 chats: the stand-in sees no call to a chat during its ban. TAP
output."""

import json
import os
import re
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Sidecar, request, token  # noqa: E402

CLIENTS = os.path.join(os.environ.get("TESTS_SRCDIR") or
                       os.path.dirname(os.path.dirname(
                           os.path.abspath(__file__))), "clients")
RETRY = 3       # the stand-in's retry_after in the guard part, s
BC_RETRY = 5    # ... in the broadcast
# flood_pace: Telegram's 1 message a second per chat, a bot rate, a burst.
PACE_CHAT, PACE_BOT, PACE_BURST = 1, 60, 3
PACE_ARGS = ["--flood-pace", "yes", "--flood-chat-rate", "%d/s" % PACE_CHAT,
             "--flood-bot-rate", "%d/s" % PACE_BOT, "--flood-burst",
             str(PACE_BURST)]
SECRET = harness.unique_secret("flood")


def api(tok, method, query=""):
    return "/bot%s/%s%s" % (tok, method, "?" + query if query else "")


def send(conn, tok, how, chat, method="sendMessage", query=""):
    """One call naming chat the way how says; the Reply."""
    text = "hello %s" % how
    if how == "query":
        q = "chat_id=%s&text=%s" % (chat, text.replace(" ", "+"))
        return request(conn, "GET", api(tok, method, q + (
            "&" + query if query else "")))
    if how == "json":
        body, hdrs = harness.json_body({"text": text, "chat_id": chat})
    elif how == "form":
        body = ("text=%s&chat_id=%s" % (text.replace(" ", "+"),
                                        chat)).encode()
        hdrs = {"Content-Type": "application/x-www-form-urlencoded"}
    else:
        b = "b0und4ry"
        body = ("--%s\r\nContent-Disposition: form-data; name=\"chat_id\""
                "\r\n\r\n%s\r\n--%s\r\nContent-Disposition: form-data; "
                "name=\"text\"\r\n\r\n%s\r\n--%s--\r\n"
                % (b, chat, b, text, b)).encode()
        hdrs = {"Content-Type": "multipart/form-data; boundary=" + b}
    return request(conn, "POST", api(tok, method, query), body, hdrs)


def flood_metrics(sc):
    r = sc.get("/metrics")
    return {m.group(1).decode(): int(m.group(2)) for m in re.finditer(
        rb'^tgsidecar_flood_total\{event="(\w+)"\} (\d+)', r.body, re.M)}


def flood_queue(sc):
    m = re.search(rb'^tgsidecar_flood_queue (\d+)', sc.get("/metrics").body,
                  re.M)
    return int(m.group(1)) if m else None


def upstream_calls(si, chat):
    lim = si.stats()["limits"] or {"calls": []}
    return [c for c in lim["calls"] if c[0] == str(chat)]


def local_429(t, r, desc, most):
    """r is the guard's 429: the Bot API's shape, K in 1..most, Retry-After."""
    o = r.json() or {}
    k = (o.get("parameters") or {}).get("retry_after")
    t.ok(r.status == 429 and isinstance(k, int) and 1 <= k <= most and
         o == {"ok": False, "error_code": 429,
               "description": "Too Many Requests: retry after %d" % k,
               "parameters": {"retry_after": k}} and
         r.header("Retry-After") == str(k),
         "%s: the Bot API's 429, retry_after %r of at most %d, Retry-After "
         "%r" % (desc, k, most, r.header("Retry-After")))
    return k


def part_guard(t, env):
    si, sc, tok = env["si"], env["sc"], env["tok"]
    si.reset()
    si.limits(chat_calls=1, window=1.0, retry_after=RETRY)
    conn = sc.conn()
    r = send(conn, tok, "json", 1001)
    t.is_(r.status, 200, "first call to chat 1001: 200")
    r = send(conn, tok, "json", 1001)
    t_429 = time.monotonic()
    t.is_((r.status, r.json()), (429, {
        "ok": False, "error_code": 429,
        "description": "Too Many Requests: retry after %d" % RETRY,
        "parameters": {"retry_after": RETRY}}),
        "second call: the Bot API's 429 passes through untouched")
    for how in ("json", "form", "query", "multipart"):
        r = send(conn, tok, how, 1001)
        local_429(t, r, "chat 1001 named by %s, during retry_after" % how,
                  RETRY)
    r = send(conn, tok, "json", "@SomeChannel")
    t.is_(r.status, 200, "another chat (@SomeChannel) passes")
    r = send(conn, tok, "form", 1002)
    t.is_(r.status, 200, "another chat (1002) passes, on the same "
          "kept-alive connection")
    r = request(conn, "GET", api(tok, "getMe"))
    t.is_(r.status, 200, "a read-only call (getMe) passes")
    r = request(conn, "GET", api(tok, "getChat", "chat_id=1001"))
    t.is_((r.json() or {}).get("description"), "Not Found: method not found",
          "getChat?chat_id=1001 (read-only) goes upstream")
    t.is_(len(upstream_calls(si, 1001)), 2,
          "the stand-in saw only the two calls to chat 1001")
    m = flood_metrics(sc)
    t.is_(m, {"upstream_429": 1, "held": 4, "paced": 0, "refused": 0},
          "tgsidecar_flood_total: upstream_429 1, held 4")
    log = sc.log()
    held = [ln for ln in log.splitlines() if " flood=held retry_after=" in ln]
    t.is_(len(held), 4, "four access lines say flood=held retry_after=K")
    t.ok(all("bot=123456" in ln and SECRET not in ln for ln in held),
         "they name the bot by its id, never the token")
    t.like(log, "flood: bot 123456 chat 1001 held %d s" % RETRY,
           "the 429 learned is logged with the bot id and chat")

    # A reload keeps what was learned.
    n = log.count("configuration reloaded")
    sc.proc.send_signal(signal.SIGHUP)
    t.ok(harness.wait_until(lambda: sc.log().count("configuration reloaded")
                            > n, 10), "SIGHUP: the sidecar reloads")
    r = send(conn, tok, "json", 1001)
    local_429(t, r, "after the reload, chat 1001 is still held", RETRY)

    # The wait ends when Telegram said it would.
    harness.wait_until(lambda: time.monotonic() > t_429 + RETRY + 0.1,
                       RETRY + 5, scale=False)
    r = send(conn, tok, "json", 1001)
    t.is_(r.status, 200, "once retry_after has run out, chat 1001 is "
          "called again (200)")
    t.is_(si.stats()["limits"]["violations"], 0,
          "the stand-in saw no call to a chat during its ban")

    # A 429 to a call that names no chat holds the bot's chatless calls.
    r = request(conn, "POST", api(tok, "deleteWebhook",
                                  "_status=429&_retry_after=30"))
    t.is_(r.status, 429, "deleteWebhook answered 429, retry_after 30")
    r = request(conn, "POST", api(tok, "deleteWebhook"))
    local_429(t, r, "the next call with no chat is held", 30)
    r = send(conn, tok, "json", 1003)
    t.is_(r.status, 200, "a call naming a chat still passes")
    conn.close()


def raw_call(sc, head, parts, read=True):
    """Send head and parts on a socket of its own; the raw reply."""
    s = socket.create_connection(("127.0.0.1", sc.port),
                                 timeout=harness.CLIENT_TIMEOUT)
    try:
        s.sendall(head)
        for p in parts:
            if callable(p):
                p()
            else:
                s.sendall(p)
        data = b""
        while read:
            c = s.recv(65536)
            if not c:
                break
            data += c
            if harness.status_of(data) and b"\r\n\r\n" in data and \
                    len(harness.body_of(data)) >= \
                    (harness.parse_content_length(data) or 0):
                break
        return data
    finally:
        s.close()


def post_head(tok, query, ctype, length):
    return ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
            "Content-Length: %d\r\n\r\n" % (api(tok, "sendMessage", query),
                                           ctype, length)).encode()


def part_edges(t, env):
    """Bodies that tell their chat late, or too slowly."""
    si, sc, tok = env["si"], env["sc"], env["tok"]
    si.limits()
    conn = sc.conn()
    body, hdrs = harness.json_body({"chat_id": 2001, "text": "x"})
    r = request(conn, "POST", api(tok, "sendMessage",
                                  "_status=429&_retry_after=60"), body, hdrs)
    t.is_(r.status, 429, "chat 2001 answered 429, retry_after 60")
    local_429(t, send(conn, tok, "json", 2001), "chat 2001 held", 60)

    # The chat after 100 KB of text: not within 64 KiB, goes unguarded.
    n0 = len(si.stats()["requests"])
    body = ("text=" + "a" * 100000 + "&chat_id=2001").encode()
    r = request(conn, "POST", api(tok, "sendMessage", "_status=200"), body,
                {"Content-Type": "application/x-www-form-urlencoded"})
    t.ok(r.status == 200 and len(si.stats()["requests"]) > n0,
         "chat_id after 100 KB of an urlencoded body: sent upstream "
         "unguarded (%d)" % r.status)

    # A multipart upload naming its chat first: answered at once, closed.
    b = "bb"
    first = ("--%s\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n"
             "2001\r\n--%s\r\nContent-Disposition: form-data; "
             "name=\"document\"; filename=\"a.bin\"\r\n\r\n" % (b, b)).encode()
    raw = raw_call(sc, post_head(tok, "", "multipart/form-data; boundary=" + b,
                                 len(first) + 10 * 1024 * 1024), [first])
    t.ok(harness.status_of(raw) == 429 and
         b"\r\nRetry-After: " in raw and b"\r\nConnection: close" in raw,
         "a 10 MiB upload to held chat 2001: 429 after its first part, "
         "the rest never read (connection closed)")

    # The chat after a 200 KiB file: goes upstream once 64 KiB came.
    data = (("--%s\r\nContent-Disposition: form-data; name=\"document\"; "
             "filename=\"a.bin\"\r\n\r\n" % b).encode() + b"z" * 200 * 1024 +
            ("\r\n--%s\r\nContent-Disposition: form-data; name=\"chat_id\""
             "\r\n\r\n2001\r\n--%s--\r\n" % (b, b)).encode())
    r = request(conn, "POST", api(tok, "sendMessage", "_status=200"), data,
                {"Content-Type": "multipart/form-data; boundary=" + b})
    t.is_(r.status, 200, "chat_id after a 200 KiB file part: sent upstream "
          "unguarded")

    # A body that does not come: the call goes upstream after 1 s (it is
    # in flight from then; on a spare its head may wait for the body).
    body = json.dumps({"chat_id": 2001, "text": "slow"}).encode()

    def inflight():
        m = re.search(rb"^tgsidecar_inflight (\d+)", sc.get("/metrics").body,
                      re.M)
        return int(m.group(1)) if m else None

    def upstream_began():
        return harness.wait_until(lambda: inflight() == 1, 10)
    began = []
    raw = raw_call(sc, post_head(tok, "_status=200", "application/json",
                                 len(body)),
                   [lambda: began.append(upstream_began()), body])
    t.ok(began == [True] and harness.status_of(raw) == 200,
         "a JSON body held back by its bot: the call went upstream "
         "without it, then passed (%r, %r)" % (began,
                                               harness.status_of(raw)))
    conn.close()


def part_guard_off(t, env):
    si, tok = env["si"], env["tok"]
    sc = Sidecar(env["wd"], upstream=si.url, ca_file=env["certs"].ca_cert,
                 proxy="direct", extra_args=["--flood-guard", "no"],
                 name="sidecar-noguard").start()
    try:
        si.reset()
        si.limits(chat_calls=1, window=1.0, retry_after=RETRY)
        conn = sc.conn()
        codes = [send(conn, tok, "json", 3001).status for _ in range(3)]
        conn.close()
        t.is_(codes, [200, 429, 429], "flood_guard = no: every call goes "
              "upstream (200, 429, 429)")
        t.is_(si.stats()["limits"]["violations"], 1,
              "... and the stand-in counts the call during the ban")
        t.is_(flood_metrics(sc), {"upstream_429": 0, "held": 0, "paced": 0,
                                  "refused": 0},
              "... and nothing is counted as flood")
    finally:
        sc.stop()


def part_broadcast(t, env):
    """Two python-telegram-bot processes, one token, 20 chats, 200 messages:
    each chat allows 1 call in 10 s, else 429 retry_after BC_RETRY."""
    si, sc, tok, wd = env["si"], env["sc"], env["tok"], env["wd"]
    si.reset()
    si.limits(chat_calls=1, window=10.0, retry_after=BC_RETRY)
    chats = list(range(5001, 5021))
    lock = os.path.join(wd, "broadcast.lock")
    procs = []
    for tag, order in (("A", chats), ("B", chats[10:] + chats[:10])):
        targs = {"api_root": "http://127.0.0.1:%d" % sc.port, "token": tok,
                 "chats": order, "per_chat": 5, "lock": lock, "tag": tag,
                 "read_timeout_s": harness.patient(5)}
        env_ = harness.scrubbed_env({"TG_ARGS": json.dumps(targs),
                                     "LC_ALL": "C.UTF-8"})
        procs.append(harness.Proc([harness.PYTHON, os.path.join(
            CLIENTS, "ptb13_broadcast.py")], wd, "broadcast-" + tag,
            env=env_, cwd=CLIENTS))
    for p in procs:
        p.start()
    res = []
    for p in procs:
        st = p.wait(harness.patient(60))
        if st is None:
            p.stop(timeout=3)
        line = [ln for ln in p.stdout().splitlines()
                if ln.startswith("RESULT ")]
        res.append(json.loads(line[0][7:]) if line else None)
        if not line:
            t.diag(harness.shorten(p.stderr(), 2000))
    t.ok(all(r is not None and not r["errors"] for r in res),
         "both broadcasts ran to their end with no error but RetryAfter")
    if not all(res):
        return
    for r in res:
        if r["errors"]:
            t.diag(harness.shorten(r["errors"][0], 1500))
    t.is_([len(r["sent"]) + len(r["retry_after"]) for r in res], [100, 100],
          "each process sent 100 messages: delivered or RetryAfter")
    # PTB 13 keeps retry_after as a float.
    t.ok(all(r["retry_after"] and all(k >= 1 and k == int(k)
                                      for _, _, k in r["retry_after"])
             for r in res),
         "both got RetryAfter from python-telegram-bot, with retry_after "
         "read from the 429 (%s)" % [len(r["retry_after"]) for r in res])
    t.is_([r["getme_ok"] for r in res], [100, 100],
          "every getMe between the sends passed (read-only, never held)")
    lim = si.stats()["limits"]
    t.is_(lim["violations"], 0, "the stand-in saw no call to a chat during "
          "its retry_after, of %d calls" % len(lim["calls"]))
    first = {}
    for chat, when, status in (c[:3] for c in lim["calls"]):
        if status == 429:
            first.setdefault(chat, when)
    t.is_(len(first), 20, "each of the 20 chats got its 429 from the stand-in")
    late = [c for c in lim["calls"] if c[0] in first and
            first[c[0]] < c[1] < first[c[0]] + BC_RETRY]
    t.is_(late, [], "after each chat's first 429, no call to it until its "
          "retry_after (%d s) ended" % BC_RETRY)
    delivered = {c[0] for c in lim["calls"] if c[2] == 200}
    t.is_(len(delivered), 20, "every chat got messages")
    m = flood_metrics(sc)
    t.ok(m.get("held", 0) > 0 and
         m["held"] + len(lim["calls"]) == 200,
         "the sidecar answered %d calls itself; with the %d the stand-in "
         "saw, 200" % (m.get("held", 0), len(lim["calls"])))


def part_pace_edges(t, env):
    """flood_pace on one chat, on a sidecar of its own (1 call in 10 s,
    bursts of 3, at most 35 s of waiting; flood_guard = no, pacing works
    alone): 7 calls at once, a burst of 3
    goes, 3 wait their turn (10, 20, 30 s), the 7th, which would wait 40 s,
    is refused at once with that wait; bots that hang up leave the queue."""
    si, tok = env["si"], env["tok"]
    sc = Sidecar(env["wd"], upstream=si.url, ca_file=env["certs"].ca_cert,
                 proxy="direct", name="sidecar-pace-edges",
                 extra_args=["--flood-pace", "yes", "--flood-chat-rate",
                             "6/min", "--flood-burst", "3",
                             "--flood-max-wait", "35s",
                             "--flood-guard", "no"]).start()
    socks = []
    try:
        si.reset()
        si.rates(chat_rate=0.1, burst=3, slack=0.25)
        body = json.dumps({"chat_id": 9001, "text": "queued"}).encode()
        head = post_head(tok, "", "application/json", len(body))
        for i in range(6):
            s = socket.create_connection(("127.0.0.1", sc.port),
                                         timeout=harness.CLIENT_TIMEOUT)
            s.sendall(head + body)
            socks.append(s)
        t.ok(harness.wait_until(lambda: len(upstream_calls(si, 9001)) == 3
                                and flood_queue(sc) == 3, 10),
             "6 calls to one chat at once: a burst of 3 goes upstream, 3 "
             "wait (queue %r)" % flood_queue(sc))
        raw = raw_call(sc, head, [body])
        m = re.search(rb"\r\nRetry-After: (\d+)\r\n", raw)
        k = local_429(t, harness.Reply(
            harness.status_of(raw) or 0,
            {"Retry-After": m.group(1).decode() if m else None},
            harness.body_of(raw)), "the 7th, which would wait 40 s", 41)
        t.ok(k is not None and k >= 36, "... told to retry after %r s, its "
             "wait" % k)
        for s in socks[3:]:
            s.close()
        t.ok(harness.wait_until(lambda: flood_queue(sc) == 0, 5),
             "their bots hang up: the 3 waiting calls leave the queue")
        gone = [ln for ln in sc.log().splitlines() if " status=499 " in ln
                and " flood=paced wait=" in ln and " retries=0 " in ln]
        t.is_(len(gone), 3, "... logged as paced, status 499, never sent "
              "upstream")
        mt = flood_metrics(sc)
        t.ok(mt["paced"] == 3 and mt["refused"] == 1,
             "tgsidecar_flood_total: paced 3, refused 1 (%r)" % mt)
        t.like(sc.log(), " flood=refused retry_after=",
               "the access log says flood=refused")
        t.is_(len(upstream_calls(si, 9001)), 3, "the stand-in saw the "
              "burst of 3 only")
    finally:
        for s in socks:
            s.close()
        sc.stop()


def part_pace_broadcast(t, env):
    """Two python-telegram-bot processes, one token, one thread per chat,
    10 messages to each of 20 chats: the stand-in (1 a second per chat,
    60 a second per bot, bursts of 3) answers no 429."""
    si, sc, tok, wd = env["si"], env["sc_pace"], env["tok"], env["wd"]
    si.reset()
    si.rates(chat_rate=PACE_CHAT, bot_rate=PACE_BOT, burst=PACE_BURST,
             slack=0.25)
    chats = list(range(6001, 6021))
    per = 5
    m0 = flood_metrics(sc)
    procs = []
    for tag in ("A", "B"):
        targs = {"api_root": "http://127.0.0.1:%d" % sc.port, "token": tok,
                 "chats": chats, "per_chat": per, "tag": tag, "threads": True,
                 "read_timeout_s": harness.patient(10)}
        env_ = harness.scrubbed_env({"TG_ARGS": json.dumps(targs),
                                     "LC_ALL": "C.UTF-8"})
        procs.append(harness.Proc([harness.PYTHON, os.path.join(
            CLIENTS, "ptb13_broadcast.py")], wd, "pace-" + tag,
            env=env_, cwd=CLIENTS))
    for p in procs:
        p.start()
    res = []
    for p in procs:
        if p.wait(harness.patient(60)) is None:
            p.stop(timeout=3)
        line = [ln for ln in p.stdout().splitlines()
                if ln.startswith("RESULT ")]
        res.append(json.loads(line[0][7:]) if line else None)
        if not line:
            t.diag(harness.shorten(p.stderr(), 2000))
    t.ok(all(r is not None and not r["errors"] and not r["retry_after"]
             for r in res), "both paced broadcasts ran to their end: no "
         "error, no RetryAfter")
    if not all(res):
        return
    for r in res:
        if r["errors"]:
            t.diag(harness.shorten(r["errors"][0], 1500))
    lim = si.stats()["limits"]
    t.is_(lim["rejected"], 0, "the stand-in answered no 429 (%d calls)"
          % len(lim["calls"]))
    texts = [c[4] for c in lim["calls"]]
    want = ["%s %d to %d" % (tag, i, c) for tag in ("A", "B")
            for c in chats for i in range(per)]
    t.is_(sorted(texts), sorted(want), "every message arrived, once")
    order_ok = True
    for tag in ("A", "B"):
        for c in chats:
            seen = [x for x in texts if x.startswith(tag + " ") and
                    x.endswith(" to %d" % c)]
            order_ok &= seen == ["%s %d to %d" % (tag, i, c)
                                 for i in range(per)]
    t.ok(order_ok, "in order per chat")
    times = [c[1] for c in lim["calls"]]
    span = max(times) - min(times)
    # What the limits allow: a chat's 2 x 5 messages, the first 3 at once,
    # then 1 a second; the bot's 60 a second staggers the chats' starts.
    least = (2 * per - PACE_BURST) / PACE_CHAT + \
        (len(chats) - PACE_BURST) / PACE_BOT
    t.ok(span <= 1.1 * least, "the broadcast took %.2f s, within 10%% of "
         "the %.2f s the limits allow" % (span, least))
    m = {k: v - m0.get(k, 0) for k, v in flood_metrics(sc).items()}
    t.ok(m["paced"] > 0 and m["refused"] == 0 and m["held"] == 0,
         "the sidecar paced %d calls, refused none" % m["paced"])
    t.is_(flood_queue(sc), 0, "the queue is empty at the end")


RATE_CASES = [
    # flag value, accepted
    ("1/s", True), ("20/min", True), ("100000/s", True), ("0/s", False),
    ("5/h", False), ("30", False), ("100001/s", False), ("x/s", False),
    ("-1/s", False),
]


def part_config(t, env):
    """The flood keys on the command line: rates, burst, max wait."""
    for val, good in RATE_CASES:
        st, out, err = harness.run([harness.sidecar_bin(), "-t",
                                    "--flood-chat-rate", val])
        if good:
            t.is_((st, out.strip()), (0, "configuration OK"),
                  "flood_chat_rate %s: accepted" % val)
        else:
            t.ok(st == 2 and "a rate like 30/s or 20/min" in err,
                 "flood_chat_rate %s: refused, saying what a rate is" % val)
    st, _, _ = harness.run([harness.sidecar_bin(), "-t", "--flood-max-wait",
                            "0", "--flood-burst", "1"])
    t.is_(st, 2, "flood_max_wait 0: refused")


def main():
    t = harness.Tap()
    si = sc = None
    try:
        wd = harness.make_tempdir()
        certs = harness.Certs(wd)
        si = harness.StandIn(wd, certs).start()
        sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                     proxy="direct").start()
        env = {"wd": wd, "certs": certs, "si": si, "sc": sc,
               "tok": token(SECRET)}
    except Exception:
        t.fail_exception("setup")
        for p in (sc, si):
            if p is not None:
                p.stop()
        return t.done()
    try:
        t.run_parts((part_config, part_guard, part_edges, part_guard_off),
                    env)
        sc.stop()
        # A fresh sidecar for the broadcast: its counts start at 0.
        sc = env["sc"] = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                                 proxy="direct", name="sidecar-bc").start()
        t.run_parts((part_broadcast,), env)
        sc.stop()
        sc = env["sc_pace"] = Sidecar(wd, upstream=si.url,
                                      ca_file=certs.ca_cert, proxy="direct",
                                      extra_args=PACE_ARGS,
                                      name="sidecar-pace").start()
        t.run_parts((part_pace_edges, part_pace_broadcast), env)
    finally:
        sc.stop()
        si.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
