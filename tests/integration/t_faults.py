#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""tgsidecar when things break, on loopback: proxies that are down, hang
up, refuse (407, 503) or stall, and failover between them under load; the
retry rules (a request that may have reached the Bot API is retried only
if it is a read-only get* or a download, and never after a timeout); an
upstream that resets, cuts its reply or stalls; the limits a bot can run
into (max_inflight, header and URL size, idle_timeout); and bots that
misbehave: hang up mid-upload or mid-download, come by the thousand, or
meet a sidecar that is out of file descriptors. TAP output."""

import json
import os
import selectors
import socket
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Sidecar, request, token  # noqa: E402
import proxies  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

# "Promptly": an answer or a close that does not wait for some default
# timeout (connect_timeout 30 s, upstream_timeout 120 s, idle_timeout
# 300 s, the stand-in's 50 s stall). Quiet machine: well under 1 s; the
# bound leaves room for a loaded one and stays under the 30 s.
PROMPT = 20.0
LOAD_REQUESTS = 200
LOAD_CONCURRENCY = 10
MANY_BOTS = 1000
LOW_NOFILE = 64
LOW_NOFILE_BOTS = 100


# ------------------------------------------------------------ helpers

def api_error_ok(reply, status, substr=None):
    """reply is a sidecar-made error: HTTP status, JSON body with ok false,
    the same error_code and a description (containing substr)."""
    o = harness.try_json(reply.body)
    good = (reply.status == status and isinstance(o, dict)
            and o.get("ok") is False and o.get("error_code") == status
            and isinstance(o.get("description"), str))
    if good and substr is not None:
        good = substr.lower() in o["description"].lower()
    return good


def check_error(t, reply, status, substr, desc):
    good = api_error_ok(reply, status, substr)
    t.ok(good, "%s -> %d JSON error%s" % (
        desc, status, ' naming "%s"' % substr if substr else ""))
    if not good:
        t.diag("got: %r" % (reply,))
    return good


def timed(fn, *a, **kw):
    t0 = time.monotonic()
    r = fn(*a, **kw)
    return r, time.monotonic() - t0


def get(sc, path, timeout=30):
    """One GET on a fresh connection; (Reply, seconds). timeout: a quiet
    machine's, made patient."""
    conn = sc.conn(timeout=harness.patient(timeout))
    try:
        return timed(request, conn, "GET", path)
    finally:
        conn.close()


def post_json(sc, path, obj, timeout=30):
    conn = sc.conn(timeout=harness.patient(timeout))
    body, hdrs = harness.json_body(obj)
    try:
        return timed(request, conn, "POST", path, body, hdrs)
    finally:
        conn.close()


def upstream_seen(si, method):
    return [r for r in si.stats()["requests"] if r["method"] == method]


def log_lines(sc, sub):
    return [l for l in sc.log().splitlines() if sub in l]


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def settled_fd_count(pid, timeout=3.0):
    """The fd count once it stops changing for 200 ms (bounded)."""
    last = [fd_count(pid), time.monotonic()]

    def stable():
        n = fd_count(pid)
        now = time.monotonic()
        if n != last[0]:
            last[0], last[1] = n, now
            return False
        return now - last[1] >= 0.2
    harness.wait_until(stable, timeout, 0.05)
    return last[0]


class Raw:
    """A raw keep-alive HTTP/1.1 client socket, to see exactly what comes
    back on one connection (http.client reconnects behind our back)."""

    def __init__(self, port, timeout=harness.CLIENT_TIMEOUT):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.s.sendall(data)

    def get(self, path, extra=b""):
        self.send(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
                  % (path.encode(), extra))

    def response(self, timeout=harness.CLIENT_TIMEOUT):
        """The next complete response, or None at EOF/timeout."""
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            rs = harness.parse_responses(self.buf, 1)
            if rs:
                r = rs[0]
                # drop what that response took from the buffer
                used = self._consumed(r)
                self.buf = self.buf[used:]
                return r
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.s.settimeout(left)
            try:
                c = self.s.recv(65536)
            except socket.timeout:
                return None
            except OSError:
                c = b""
            if not c:
                self.eof = True
            self.buf += c
        return None

    def _consumed(self, r):
        # a Content-Length response: head + body; chunked: up to its end
        end = self.buf.find(b"\r\n\r\n") + 4
        if "chunked" in r.headers.get("transfer-encoding", "").lower():
            return self.buf.find(b"\r\n0\r\n\r\n", end - 2) + 7
        return end + len(r.body)

    def wait_eof(self, timeout):
        """Read until EOF; True if EOF came within timeout."""
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            if self.eof:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.s.settimeout(left)
            try:
                c = self.s.recv(65536)
            except socket.timeout:
                return False
            except OSError:
                c = b""
            if not c:
                self.eof = True
            self.buf += c
        return self.eof

    def close(self):
        self.s.close()


def raw_reply(data):
    return harness.Reply(harness.status_of(data) or 0, {},
                         harness.body_of(data))


# ------------------------------------------------------------ 1. proxies

def part_proxy_failures(t, env):
    wd, si, certs, sq = env["wd"], env["si"], env["certs"], env["squid"]
    tok = token(harness.unique_secret("px"))
    helpers = []

    def sidecar(proxy, *args):
        return Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                       proxy=proxy, extra_args=list(args)).start()

    def one_case(desc, proxy, status, substr, extra=(), fp=None,
                 want_connects=None):
        sc = sidecar(proxy, *extra)
        try:
            r, dt = get(sc, "/bot%s/getMe" % tok)
            check_error(t, r, status, substr, "%s (%.2fs)" % (desc, dt))
            t.ok(dt < PROMPT, "%s: answered promptly (%.2fs < %.0fs)"
                 % (desc, dt, PROMPT))
            if fp is not None and want_connects is not None:
                # nothing keeps trying in the background after the answer
                harness.wait_until(lambda: fp.connects() > want_connects, 0.5,
                                   scale=False)
                t.is_(fp.connects(), want_connects,
                      "%s: %d CONNECT attempts in all (1 + --retries 2), "
                      "not a loop" % (desc, want_connects))
                t.is_(len(log_lines(sc, "retry ")), want_connects - 1,
                      "%s: the log shows %d retries" % (desc, want_connects - 1))
            return r
        finally:
            sc.stop()

    try:
        dead = harness.closed_port()
        one_case("proxy down (closed port)", "http://127.0.0.1:%d" % dead, 502,
                 "127.0.0.1:%d" % dead)

        fp = FaultProxy(wd, "close-on-connect").start()
        helpers.append(fp)
        r = one_case("proxy closes the connection during CONNECT", fp.url,
                     502, None, fp=fp, want_connects=3)
        o = harness.try_json(r.body) or {}
        t.like(o.get("description", ""), "127.0.0.1:%d" % fp.port,
               "proxy closes during CONNECT: the description names that proxy")

        fp = FaultProxy(wd, "407").start()
        helpers.append(fp)
        env["fp407"] = fp
        one_case("proxy answers 407 forever", fp.url, 502, "407", fp=fp,
                 want_connects=3)

        fp = FaultProxy(wd, "503").start()
        helpers.append(fp)
        one_case("proxy answers 503 to CONNECT", fp.url, 502, "503", fp=fp,
                 want_connects=3)

        tp = proxies.Tinyproxy(wd, [si.port], basic_auth=("tuser", "Pw0rd")).start()
        helpers.append(tp)
        one_case("tinyproxy BasicAuth, no credentials", tp.url, 502, "407")
    except Exception:
        t.fail_exception("proxy failure cases")

    for fn in (failover_under_load, failover_fail_timeout, failover_all_dead,
               failover_from_closing_proxy, failover_from_stalling_proxy):
        try:
            fn(t, env, tok, helpers)
        except Exception:
            t.fail_exception(fn.__name__)
    for h in helpers:
        if h is not env.get("fp407"):
            h.stop()


def failover_under_load(t, env, tok, helpers):
    """-x DEAD,SQUID: 200 requests (getMe and sendMessage mixed) at
    concurrency 10 -> none fails; the dead proxy is marked failed once."""
    wd, si, certs, sq = env["wd"], env["si"], env["certs"], env["squid"]
    dead = harness.closed_port()
    dead_url = "http://127.0.0.1:%d" % dead
    # The dead proxy is skipped for proxy_fail_timeout, then tried (and
    # marked) again: 1 h, so that a run that outlasts the 30 s default on
    # a loaded machine still sees it marked once.
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                 proxy="%s,%s" % (dead_url, sq.url),
                 extra_args=["--proxy-fail-timeout", "1h"]).start()
    si.reset()
    results = []
    lock = threading.Lock()
    per = LOAD_REQUESTS // LOAD_CONCURRENCY

    def worker(w):
        conn = sc.conn()
        try:
            for i in range(per):
                n = w * per + i
                try:
                    if n % 2 == 0:
                        r = request(conn, "GET", "/bot%s/getMe" % tok)
                        good = r.status == 200 and (r.json() or {}).get("ok") is True
                    else:
                        text = "load message %d" % n
                        body, hdrs = harness.json_body({"chat_id": 7000 + n,
                                                        "text": text})
                        r = request(conn, "POST", "/bot%s/sendMessage" % tok,
                                    body, hdrs)
                        res = (r.json() or {}).get("result") or {}
                        good = r.status == 200 and res.get("text") == text
                    with lock:
                        results.append((n, good, None if good else repr(r)))
                except Exception as e:  # a failed request, not a crash
                    with lock:
                        results.append((n, False, repr(e)))
                    conn.close()
                    conn = sc.conn()
        finally:
            conn.close()

    try:
        t0 = time.monotonic()
        ths = [threading.Thread(target=worker, args=(w,), daemon=True)
               for w in range(LOAD_CONCURRENCY)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(harness.patient(120))
        dt = time.monotonic() - t0
        bad = [r for r in results if not r[1]]
        t.ok(len(results) == LOAD_REQUESTS and not bad,
             "failover -x DEAD,SQUID: %d requests at concurrency %d, %d "
             "answered, %d failed (%.2fs)" % (LOAD_REQUESTS, LOAD_CONCURRENCY,
                                              len(results), len(bad), dt))
        for b in bad[:5]:
            t.diag("failed: %r" % (b,))
        # Per connection: spares opened ahead add connections with none.
        st = si.stats()
        t.is_((st["conns_used"], st["per_conn_max"]), (LOAD_REQUESTS, 1),
              "failover: the Bot API saw %d connections carry a request, "
              "one each" % LOAD_REQUESTS)
        sends = upstream_seen(si, "sendMessage")
        t.is_(len(sends), LOAD_REQUESTS // 2,
              "failover: the Bot API saw each sendMessage exactly once")
        marked = log_lines(sc, "proxy %s failed, skipping it" % dead_url)
        t.is_(len(marked), 1,
              "failover: the dead proxy is marked failed once, not per request")
        if len(marked) != 1:
            t.diag("\n".join(marked[:5]))
        t.like(marked[0] if marked else "", "skipping it for 3600000 ms",
               "failover: it is skipped for proxy_fail_timeout (1h here)")
        retries = log_lines(sc, "retry ")
        t.ok(len(retries) <= LOAD_CONCURRENCY,
             "failover: only requests that raced the first failure were "
             "retried (%d retries for %d requests)" % (len(retries),
                                                        LOAD_REQUESTS))
    finally:
        sc.stop()


# proxy_fail_timeout in failover_fail_timeout: the second getMe must come
# within it to be skipped. Quiet machine: about 10 ms after the failure;
# 10 s leave room for a loaded one (and cost a 10 s wait).
FAIL_TIMEOUT = 10.0


def failover_fail_timeout(t, env, tok, helpers):
    """--proxy-fail-timeout 10s: the dead proxy is skipped, then tried again
    once the timeout has passed. With prewarm = 0 a request tries it
    again; with spares one of them does (t_dpi.py)."""
    wd, si, certs, sq = env["wd"], env["si"], env["certs"], env["squid"]
    dead = harness.closed_port()
    dead_url = "http://127.0.0.1:%d" % dead
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                 proxy="%s,%s" % (dead_url, sq.url),
                 extra_args=["--proxy-fail-timeout",
                             "%ds" % FAIL_TIMEOUT, "--prewarm", "0"]).start()
    try:
        def tried_dead():
            return len([l for l in log_lines(sc, "retry ")
                        if "127.0.0.1:%d" % dead in l])
        r, _ = get(sc, "/bot%s/getMe" % tok)
        t_failed = time.monotonic()     # the dead proxy failed before this
        t.is_(r.status, 200, "fail timeout: first getMe fails over to squid")
        t.is_(tried_dead(), 1, "fail timeout: the first one tried the "
              "dead proxy and retried")
        r, _ = get(sc, "/bot%s/getMe" % tok)
        t.ok(r.status == 200 and tried_dead() == 1,
             "fail timeout: right after, the dead proxy is skipped")
        # let proxy_fail_timeout run out, on purpose
        time.sleep(max(0.0, t_failed + FAIL_TIMEOUT + 0.2 - time.monotonic()))
        r, _ = get(sc, "/bot%s/getMe" % tok)
        t.ok(r.status == 200 and tried_dead() == 2,
             "fail timeout: after it, the dead proxy is tried again "
             "(and the request still fails over)")
        marked = log_lines(sc, "proxy %s failed" % dead_url)
        t.diag("'failed, skipping' lines after two failures %.0f s apart: %d"
               % (FAIL_TIMEOUT, len(marked)))
    finally:
        sc.stop()


def failover_all_dead(t, env, tok, helpers):
    """Two dead proxies: each is tried, then the least recently failed."""
    wd, si, certs = env["wd"], env["si"], env["certs"]
    d1, d2 = harness.closed_port(), harness.closed_port()
    u1, u2 = "http://127.0.0.1:%d" % d1, "http://127.0.0.1:%d" % d2
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                 proxy="%s,%s" % (u1, u2)).start()
    try:
        r, dt = get(sc, "/bot%s/getMe" % tok)
        check_error(t, r, 502, "127.0.0.1:%d" % d1,
                    "all proxies dead: the third attempt goes to the least "
                    "recently failed (the first) (%.2fs)" % dt)
        rl = log_lines(sc, "retry ")
        t.ok(len(rl) == 2 and "127.0.0.1:%d" % d1 in rl[0]
             and "127.0.0.1:%d" % d2 in rl[1],
             "all proxies dead: attempt 1 on the first proxy, attempt 2 on "
             "the second")
        if len(rl) != 2:
            t.diag("\n".join(rl))
        t.ok(len(log_lines(sc, "proxy %s failed, skipping" % u1)) == 1 and
             len(log_lines(sc, "proxy %s failed, skipping" % u2)) == 1,
             "all proxies dead: both are logged as failed")
    finally:
        sc.stop()


def failover_from_closing_proxy(t, env, tok, helpers):
    """A proxy that hangs up on CONNECT is a failed proxy: the request goes
    to the next one."""
    wd, si, certs, sq = env["wd"], env["si"], env["certs"], env["squid"]
    fp = FaultProxy(wd, "close-on-connect").start()
    helpers.append(fp)
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                 proxy="%s,%s" % (fp.url, sq.url)).start()
    try:
        si.reset()
        r, dt = post_json(sc, "/bot%s/sendMessage" % tok,
                          {"chat_id": 31, "text": "after a hang-up"})
        t.is_(r.status, 200, "-x CLOSING,SQUID: sendMessage fails over to "
              "squid (%.2fs)" % dt)
        if r.status != 200:
            t.diag(repr(r))
            t.diag("\n".join(sc.log().splitlines()[-6:]))
        t.is_(len(upstream_seen(si, "sendMessage")), 1,
              "-x CLOSING,SQUID: the Bot API saw one sendMessage")
    finally:
        sc.stop()


def failover_from_stalling_proxy(t, env, tok, helpers):
    """A proxy that never answers CONNECT (within connect_timeout) is a
    failed proxy: the request goes to the next one."""
    wd, si, certs, sq = env["wd"], env["si"], env["certs"], env["squid"]
    fp = FaultProxy(wd, "stall").start()
    helpers.append(fp)
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                 proxy="%s,%s" % (fp.url, sq.url),
                 extra_args=["--connect-timeout", "3s"]).start()
    try:
        # 3 s: squid's CONNECT and the TLS handshake after the failover
        # must fit in it too, on a loaded machine; under PROMPT, which is
        # under the 30 s default that a stall would otherwise take.
        r, dt = get(sc, "/bot%s/getMe" % tok)
        t.ok(r.status == 200 and dt < PROMPT,
             "-x STALLING,SQUID --connect-timeout 3s: getMe fails over to "
             "squid after about 3 s (%.2fs, status %d)" % (dt, r.status))
        if r.status != 200:
            t.diag(repr(r))
        t.is_(fp.connects(), 1, "-x STALLING,SQUID: the stalling proxy got "
              "one CONNECT")
    finally:
        sc.stop()


# ------------------------------------------------------------ 2. retry safety

def part_retry_safety(t, env):
    wd, si, certs, sq = env["wd"], env["si"], env["certs"], env["squid"]
    tok = token(harness.unique_secret("rt"))
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                 proxy="direct").start()
    try:
        # Once the request may have reached the Bot API: never again for a
        # method with side effects.
        for method, mode, body in (
                ("sendMessage", "reset", {"chat_id": 5, "text": "once only"}),
                ("sendMessage", "close", {"chat_id": 5, "text": "once only"}),
                ("editMessageText", "reset", {"chat_id": 5, "message_id": 1,
                                              "text": "x"}),
                ("deleteMessage", "close", {"chat_id": 5, "message_id": 1}),
                ("answerCallbackQuery", "reset", {"callback_query_id": "1"})):
            si.reset()
            si.fault(method, mode)
            try:
                r, dt = post_json(sc, "/bot%s/%s" % (tok, method), body,
                                  timeout=10)
                check_error(t, r, 502, None, "%s, upstream %s after reading "
                            "it (%.2fs)" % (method, mode, dt))
            except Exception:
                t.fail_exception("%s, upstream %s after reading it"
                                 % (method, mode))
            t.is_(len(upstream_seen(si, method)), 1,
                  "%s, upstream %s: the Bot API saw it exactly once "
                  "(no retry)" % (method, mode))
        t.is_(len(log_lines(sc, "retry ")), 0,
              "no retry logged for send*/edit*/delete*/answer*")

        # Read-only methods and downloads are retried once for a broken
        # connection.
        for desc, method, mode, path in (
                ("getMe", "getMe", "reset", "/bot%s/getMe" % tok),
                ("getMe", "getMe", "close", "/bot%s/getMe" % tok),
                ("getUpdates", "getUpdates", "reset",
                 "/bot%s/getUpdates?timeout=0" % tok)):
            si.reset()
            si.fault(method, mode)
            try:
                r, dt = get(sc, path, timeout=10)
                o = r.json() or {}
                t.ok(r.status == 200 and o.get("ok") is True,
                     "%s, upstream %s once: the bot gets 200 (%.2fs)"
                     % (desc, mode, dt))
            except Exception:
                t.fail_exception("%s, upstream %s once" % (desc, mode))
            t.is_(len(upstream_seen(si, method)), 2,
                  "%s, upstream %s once: the Bot API saw it twice "
                  "(retried once)" % (desc, mode))
        t.ok(len(log_lines(sc, "retry 1/2 of getMe")) == 2 and
             len(log_lines(sc, "retry 1/2 of getUpdates")) == 1,
             "the retries are logged as \"retry 1/2 of METHOD\"")

        si.reset()
        si.fault("file", "close")
        conn = sc.conn(timeout=60)
        try:
            (st, n, sha, _), dt = timed(harness.download_sha256, conn,
                                        "/file/bot%s/big/20mb.bin" % tok)
        finally:
            conn.close()
        t.is_((st, n, sha), (200, 20 * 1024 * 1024, env["big_sha"]),
              "download, upstream closed once before replying: retried, "
              "byte-exact (%.2fs)" % dt)
        t.is_(len(upstream_seen(si, "file")), 2,
              "download: the file server saw it twice")

        # Retries are bounded: a getMe that keeps breaking.
        si.reset()
        si.fault("getMe", "reset", count=10)
        r, dt = get(sc, "/bot%s/getMe" % tok)
        check_error(t, r, 502, None, "getMe, upstream resets every time "
                    "(%.2fs)" % dt)
        t.is_(len(upstream_seen(si, "getMe")), 3,
              "getMe that keeps breaking: 1 + --retries 2 attempts, no more")
        si.fault("getMe", "reset", count=0)
        st, killed = sc.stop()
        t.ok(st == 0 and not killed, "retry safety: sidecar exits 0 on SIGTERM")
    except Exception:
        t.fail_exception("retry safety")
    finally:
        sc.stop()

    # A timeout is never retried, not even for a read-only method.
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                 proxy="direct", extra_args=["--upstream-timeout", "2s"]).start()
    try:
        si.reset()
        si.fault("getMe", "stall")
        r, dt = get(sc, "/bot%s/getMe" % tok)
        check_error(t, r, 504, "timeout", "getMe, upstream stalls, "
                    "--upstream-timeout 2s (%.2fs)" % dt)
        t.ok(1.8 <= dt < 2 + PROMPT, "the 504 comes after about 2 s, not at "
             "the stall's end (%.2fs)" % dt)
        t.is_(len(upstream_seen(si, "getMe")), 1,
              "a timed-out getMe is not retried")
        # Busy ones: a spare opened ahead carries no request.
        t.ok(harness.wait_until(lambda: not si.stats()["busy_conns"], 1.0),
             "the stalled upstream connection is closed with the 504")
    except Exception:
        t.fail_exception("upstream stall")
    finally:
        sc.stop()

    # Nothing of the request was sent (CONNECT refused): any method goes
    # again, through the next proxy.
    fp = env.get("fp407")
    if fp is None:
        fp = FaultProxy(wd, "407").start()
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                 proxy="%s,%s" % (fp.url, sq.url),
                 extra_args=["--retries", "2"]).start()
    try:
        si.reset()
        before = fp.connects()
        r, dt = post_json(sc, "/bot%s/sendMessage" % tok,
                          {"chat_id": 77, "text": "pre-send failure"})
        res = (r.json() or {}).get("result") or {}
        t.ok(r.status == 200 and res.get("text") == "pre-send failure",
             "-x PROXY407,SQUID: sendMessage succeeds (%.2fs)" % dt)
        t.is_(fp.connects() - before, 1,
              "-x PROXY407,SQUID: the first attempt met the 407")
        t.is_(len(upstream_seen(si, "sendMessage")), 1,
              "-x PROXY407,SQUID: the Bot API saw exactly one sendMessage")
        t.is_(len(log_lines(sc, "retry 1/2 of sendMessage")), 1,
              "-x PROXY407,SQUID: the log shows sendMessage retried once")
    except Exception:
        t.fail_exception("pre-send retry")
    finally:
        sc.stop()
        fp.stop()


# ------------------------------------------------------------ 3. mid-transfer

def part_mid_transfer(t, env):
    wd, si, certs = env["wd"], env["si"], env["certs"]
    # Default timeouts while upstream cuts replies: a 1 s upstream_timeout
    # could cut a slow connection setup on a loaded machine first.
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                 proxy="direct").start()
    try:
        tok = token(harness.unique_secret("mt"))
        si.reset()
        si.fault("getMe", "partial")
        c = Raw(sc.port)
        try:
            t0 = time.monotonic()
            c.get("/bot%s/getMe" % tok)
            closed = c.wait_eof(PROMPT)
            dt = time.monotonic() - t0
        finally:
            c.close()
        head, _, body = c.buf.partition(b"\r\n\r\n")
        clen = harness.parse_content_length(head)
        t.ok(harness.status_of(c.buf) == 200 and clen == 100000,
             "upstream cuts its reply: the bot got the 200 head with "
             "Content-Length 100000")
        t.ok(closed and len(body) < 100000,
             "upstream cuts its reply: the bot connection is closed after "
             "%d of 100000 bytes, %.2fs later (not a hang)" % (len(body), dt))
        t.is_(len(upstream_seen(si, "getMe")), 1,
              "a reply already under way is not retried")

        si.reset()
        si.fault("file", "partial")
        c = Raw(sc.port)
        try:
            t0 = time.monotonic()
            c.get("/file/bot%s/big/20mb.bin" % tok)
            closed = c.wait_eof(PROMPT)
            dt = time.monotonic() - t0
        finally:
            c.close()
        body = c.buf.partition(b"\r\n\r\n")[2]
        t.ok(harness.status_of(c.buf) == 200 and closed
             and len(body) < 100000,
             "download cut by upstream: the bot sees the connection close "
             "short of Content-Length (%.2fs)" % dt)

        # getUpdates long polls run on their own timeout, whichever way
        # it comes; upstream_timeout (1s here) does not cut them.
        sc.stop()
        sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                     proxy="direct",
                     extra_args=["--upstream-timeout", "1s"]).start()
        results = {}

        def poll(name, meth, path, body, ctype):
            conn = sc.conn()
            try:
                hdrs = {"Content-Type": ctype} if ctype else {}
                results[name] = timed(request, conn, meth, path, body, hdrs)
            except Exception as e:
                results[name] = (e, 0)
            finally:
                conn.close()
        cases = [
            ("query ?timeout=3", "GET", "/bot%s/getUpdates?timeout=3"
             % token(harness.unique_secret("lpq")), None, None),
            ("JSON body {\"timeout\": 3}", "POST", "/bot%s/getUpdates"
             % token(harness.unique_secret("lpj")),
             json.dumps({"timeout": 3, "offset": 0}).encode(),
             "application/json"),
            ("urlencoded body timeout=3", "POST", "/bot%s/getUpdates"
             % token(harness.unique_secret("lpu")),
             urllib.parse.urlencode({"timeout": 3}).encode(),
             "application/x-www-form-urlencoded"),
        ]
        ths = [threading.Thread(target=poll, args=c, daemon=True) for c in cases]
        for th in ths:
            th.start()
        for th in ths:
            th.join(harness.patient(30))
        for name, *_ in cases:
            r, dt = results.get(name, (None, 0))
            good = (isinstance(r, harness.Reply) and r.status == 200
                    and (r.json() or {}).get("result") == [])
            t.ok(good and 2.7 <= dt < 3 + PROMPT,
                 "getUpdates %s with --upstream-timeout 1s is held ~3 s and "
                 "answered 200 (%.2fs)" % (name, dt))
            if not good:
                t.diag(repr(r))
        st, killed = sc.stop()
        t.ok(st == 0 and not killed, "mid-transfer: sidecar exits 0 on SIGTERM")
    except Exception:
        t.fail_exception("mid-transfer")
    finally:
        sc.stop()


# ------------------------------------------------------------ 4. limits

def part_limits(t, env):
    wd, si, certs = env["wd"], env["si"], env["certs"]
    tok = token(harness.unique_secret("lim"))
    # max_header_size 32K: heads just over it still fit the socket buffers.
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 extra_args=["--max-inflight", "2",
                             # one bot id, two polls: the whole share
                             "--max-inflight-per-bot", "2",
                             "--max-header-size", "32K"]).start()
    polls = []
    try:
        si.reset()
        base_wait = si.stats()["waiting_polls"]
        for i in range(2):
            c = Raw(sc.port)
            polls.append(c)
            c.get("/bot%s/getUpdates?timeout=3"
                  % token(harness.unique_secret("mi%d" % i)))
        held = harness.wait_until(
            lambda: si.stats()["waiting_polls"] >= base_wait + 2, 5)
        t.ok(held, "--max-inflight 2: two long polls are held upstream")
        c = Raw(sc.port)
        polls.append(c)
        t0 = time.monotonic()
        c.get("/bot%s/getMe" % tok)
        r = c.response(PROMPT)
        dt = time.monotonic() - t0
        t.ok(r is not None and api_error_ok(r, 503),
             "--max-inflight 2: a third request -> 503 JSON error (%.2fs)" % dt)
        t.is_(r.headers.get("retry-after") if r else None, "1",
              "--max-inflight 2: the 503 carries Retry-After: 1")
        t.is_(len(upstream_seen(si, "getMe")), 0,
              "--max-inflight 2: the refused request never went upstream")
        answered = [p.response() for p in polls[:2]]
        t.ok(all(a is not None and a.status == 200 for a in answered),
             "--max-inflight 2: the two polls end with 200")
        c.get("/bot%s/getMe" % tok)
        r2 = c.response()
        t.ok(r2 is not None and r2.status == 200 and not c.eof,
             "--max-inflight 2: afterwards getMe succeeds on the same "
             "connection as the 503")

        # Header and URL limits
        big_hdrs = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"h" * 1000)
                            for i in range(40))
        data, dt = timed(harness.raw_exchange, "127.0.0.1", sc.port,
                         b"GET /bot%s/getMe HTTP/1.1\r\nHost: x\r\n%s\r\n"
                         % (tok.encode(), big_hdrs), harness.patient(10))
        check_error(t, raw_reply(data), 431, None,
                    "40 KiB of request headers (%.2fs)" % dt)
        ok_hdrs = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"h" * 1000)
                           for i in range(28))
        data = harness.raw_exchange("127.0.0.1", sc.port,
                                    b"GET /bot%s/getMe HTTP/1.1\r\nHost: x\r\n"
                                    b"%s\r\n" % (tok.encode(), ok_hdrs),
                                    harness.patient(10),
                                    until_close=False)
        t.is_(harness.status_of(data), 200,
              "28 KiB of request headers still go through")
        path = "/bot%s/getMe?pad=%s" % (tok, "u" * 33000)
        data, dt = timed(harness.raw_exchange, "127.0.0.1", sc.port,
                         b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode(),
                         harness.patient(10))
        check_error(t, raw_reply(data), 414, None,
                    "a 33 KB request URL (%.2fs)" % dt)
        path = "/bot%s/getMe?pad=%s" % (tok, "u" * 20000)
        data = harness.raw_exchange("127.0.0.1", sc.port,
                                    b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n"
                                    % path.encode(), harness.patient(10),
                                    until_close=False)
        t.is_(harness.status_of(data), 200, "a 20 KB request URL still goes "
              "through")
    except Exception:
        t.fail_exception("limits")
    finally:
        for p in polls:
            p.close()
        sc.stop()

    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 extra_args=["--idle-timeout", "1s"]).start()
    try:
        c = Raw(sc.port)
        try:
            c.get("/bot%s/getMe" % tok)
            r = c.response()
            t0 = time.monotonic()
            closed = c.wait_eof(PROMPT)
            dt = time.monotonic() - t0
        finally:
            c.close()
        t.ok(r is not None and r.status == 200 and closed and 0.8 <= dt < PROMPT,
             "--idle-timeout 1s: an idle bot connection is closed after "
             "about 1 s (%.2fs)" % dt)
        c = Raw(sc.port)
        try:
            closed, dt = timed(c.wait_eof, PROMPT)
        finally:
            c.close()
        t.ok(closed and 0.8 <= dt < PROMPT and c.buf == b"",
             "--idle-timeout 1s: a connection that never sends a request is "
             "closed too, silently (%.2fs)" % dt)
    except Exception:
        t.fail_exception("idle timeout")
    finally:
        sc.stop()


# ------------------------------------------------------------ 5. bots

def part_bots(t, env):
    wd, si, certs = env["wd"], env["si"], env["certs"]
    tok = token(harness.unique_secret("bot"))
    # No spares: one opened before si.reset() would carry the upload
    # unseen by the stand-in's counts, and would move the fd count.
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                 proxy="direct", extra_args=["--prewarm", "0"]).start()
    try:
        r, _ = get(sc, "/bot%s/getMe" % tok)
        t.is_(r.status, 200, "abort tests: a warm-up getMe")
        harness.wait_until(lambda: not si.stats()["busy_conns"], 3)
        base = settled_fd_count(sc.proc.pid)
        t.diag("sidecar fds at rest: %d" % base)

        # Upload: half of a declared 5 MB multipart body, then hang up.
        total = 5 * 1024 * 1024
        boundary = "----tgsidecarabort"
        pre = ("--%s\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n"
               "5\r\n--%s\r\nContent-Disposition: form-data; name=\"document\"; "
               "filename=\"half.bin\"\r\nContent-Type: application/octet-stream"
               "\r\n\r\n" % (boundary, boundary)).encode()
        head = ("POST /bot%s/sendDocument HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: multipart/form-data; boundary=%s\r\n"
                "Content-Length: %d\r\n\r\n" % (tok, boundary, total)).encode()
        si.reset()
        s = socket.create_connection(("127.0.0.1", sc.port),
                                     timeout=harness.CLIENT_TIMEOUT)
        try:
            s.sendall(head + pre)
            chunk = os.urandom(256 * 1024)
            for _ in range(10):     # 2.5 MiB
                s.sendall(chunk)
            up = harness.wait_until(lambda: si.stats()["busy_conns"], 5)
            t.ok(up, "mid-upload: the upload is under way upstream")
        finally:
            t0 = time.monotonic()
            s.close()
        gone = harness.wait_until(lambda: not si.stats()["busy_conns"],
                                  PROMPT, 0.01, scale=False)
        t.ok(gone, "mid-upload hang-up: the upstream connection is closed "
             "promptly (%.2fs)" % (time.monotonic() - t0))
        back = harness.wait_until(lambda: fd_count(sc.proc.pid) <= base, 2)
        t.ok(back, "mid-upload hang-up: the sidecar's fd count is back to %d "
             "(now %d)" % (base, fd_count(sc.proc.pid)))
        t.is_(len(upstream_seen(si, "sendDocument")), 0,
              "mid-upload hang-up: no sendDocument was completed upstream")

        # Download: read 1 MiB of 20 MiB, then hang up.
        si.reset()
        s = socket.create_connection(("127.0.0.1", sc.port),
                                     timeout=harness.CLIENT_TIMEOUT)
        got = 0
        try:
            s.sendall(b"GET /file/bot%s/big/20mb.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                      % tok.encode())
            for _ in range(10000):
                c = s.recv(65536)
                if not c:
                    break
                got += len(c)
                if got >= 1024 * 1024:
                    break
        finally:
            t0 = time.monotonic()
            s.close()
        t.ok(got >= 1024 * 1024, "mid-download: the bot read 1 MiB first")
        gone = harness.wait_until(lambda: not si.stats()["busy_conns"],
                                  PROMPT, 0.01, scale=False)
        t.ok(gone, "mid-download hang-up: the upstream connection is closed "
             "promptly (%.2fs)" % (time.monotonic() - t0))
        back = harness.wait_until(lambda: fd_count(sc.proc.pid) <= base, 2)
        t.ok(back, "mid-download hang-up: the sidecar's fd count is back to "
             "%d (now %d)" % (base, fd_count(sc.proc.pid)))
        up_l = [l for l in log_lines(sc, "access ") if "POST sendDocument" in l
                and "bot closed the connection" in l]
        # a bot that closes with reply bytes unread sends RST, not FIN
        dl_l = [l for l in log_lines(sc, "access ") if "GET file" in l
                and ("bot closed the connection" in l
                     or "bot connection failed" in l)]
        t.ok(len(up_l) == 1 and len(dl_l) == 1,
             "each hang-up has its access line naming the bot's hang-up")
        if len(up_l) != 1 or len(dl_l) != 1:
            t.diag("\n".join(log_lines(sc, "access ")))
    except Exception:
        t.fail_exception("bot hang-ups")
    finally:
        sc.stop()

    try:
        many_bots(t, env, tok)
    except Exception:
        t.fail_exception("many bots")
    try:
        low_nofile(t, env, tok)
    except Exception:
        t.fail_exception("low nofile")


def concurrent_gets(port, path, n, timeout):
    """n client connections at once, each sending one GET path; a single
    thread with selectors. Returns a list of (status or None, body or
    error, seconds) per connection."""
    sel = selectors.DefaultSelector()
    req = b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path.encode()
    out = [None] * n
    states = {}
    t0 = time.monotonic()
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        states[s] = {"i": i, "buf": b"", "sent": False}
        sel.register(s, selectors.EVENT_WRITE)
    deadline = t0 + timeout
    left = n
    for _ in range(10 * n + 100000):
        if left == 0:
            break
        wait = deadline - time.monotonic()
        if wait <= 0:
            break
        for key, ev in sel.select(min(wait, 1.0)):
            s = key.fileobj
            st = states[s]
            done = None
            if not st["sent"]:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    done = (None, "connect: %s" % os.strerror(err))
                else:
                    try:
                        s.send(req)
                        st["sent"] = True
                        sel.modify(s, selectors.EVENT_READ)
                    except OSError as e:
                        done = (None, "send: %s" % e)
            else:
                try:
                    c = s.recv(65536)
                except OSError as e:
                    c = None
                    done = (None, "recv: %s" % e)
                if c == b"":
                    done = (None, "closed after %d bytes" % len(st["buf"]))
                elif c:
                    st["buf"] += c
                    rs = harness.parse_responses(st["buf"], 1)
                    if rs:
                        done = (rs[0].status, rs[0].body)
            if done is not None:
                out[st["i"]] = done + (time.monotonic() - t0,)
                sel.unregister(s)
                s.close()
                left -= 1
    for s, st in list(states.items()):
        if out[st["i"]] is None:
            out[st["i"]] = (None, "no reply within %.0fs" % timeout, timeout)
            try:
                sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
    sel.close()
    return out


def many_bots(t, env, tok):
    wd, si, certs = env["wd"], env["si"], env["certs"]
    have = harness.raise_own_nofile(MANY_BOTS + 512)
    t.ok(have >= MANY_BOTS + 100, "the test process may open %d sockets "
         "(RLIMIT_NOFILE %d)" % (MANY_BOTS, have))
    # One token stands for the 1,000 bots: give it all of max_inflight.
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 extra_args=["--max-inflight-per-bot", "1024"],
                 nofile=4 * MANY_BOTS).start()
    try:
        si.reset()
        res, dt = timed(concurrent_gets, sc.port, "/bot%s/getMe" % tok,
                        MANY_BOTS, harness.patient(90))
        good = [r for r in res if r[0] == 200 and
                (harness.try_json(r[1]) or {}).get("ok") is True]
        t.ok(len(good) == MANY_BOTS,
             "%d bots at once, one getMe each: %d answered 200 (%.2fs, "
             "slowest %.2fs)" % (MANY_BOTS, len(good), dt,
                                 max(r[2] for r in res)))
        bad = [r for r in res if r not in good]
        for b in bad[:5]:
            t.diag("failed: %r" % (harness.shorten(repr(b), 300),))
        st = si.stats()
        nconn = st["conns_used"]
        t.ok(nconn >= MANY_BOTS and st["per_conn_max"] == 1,
             "%d bots: a fresh upstream connection each, none carried two "
             "(%d connections, at most %d requests on one)"
             % (MANY_BOTS, nconn, st["per_conn_max"]))
        t.ok(sc.proc.alive(), "%d bots: the sidecar is still running"
             % MANY_BOTS)
        st, killed = sc.stop()
        t.ok(st == 0 and not killed, "%d bots: sidecar exits 0 on SIGTERM"
             % MANY_BOTS)
    finally:
        sc.stop()


def low_nofile(t, env, tok):
    wd, si, certs = env["wd"], env["si"], env["certs"]
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 nofile=LOW_NOFILE).start()
    try:
        res, dt = timed(concurrent_gets, sc.port, "/bot%s/getMe" % tok,
                        LOW_NOFILE_BOTS, harness.patient(40))
        ok200 = [r for r in res if r[0] == 200]
        err5 = [r for r in res if r[0] is not None and 500 <= r[0] < 600 and
                api_error_ok(harness.Reply(r[0], {}, r[1]), r[0])]
        other = [r for r in res if r not in ok200 and r not in err5]
        t.ok(not other,
             "ulimit -n %d, %d bots at once: every one answered 200 (%d) or "
             "a 5xx JSON error (%d), none left hanging (%.2fs)"
             % (LOW_NOFILE, LOW_NOFILE_BOTS, len(ok200), len(err5), dt))
        for b in other[:5]:
            t.diag("neither: %r" % (harness.shorten(repr(b), 300),))
        codes = sorted(set(r[0] for r in err5))
        t.diag("5xx statuses seen: %r, e.g. %r" % (
            codes, err5[0][1][:200] if err5 else None))
        t.ok(sc.proc.alive(), "ulimit -n %d: the sidecar is still running"
             % LOW_NOFILE)
        r, _ = get(sc, "/bot%s/getMe" % tok, timeout=10)
        t.is_(r.status, 200, "ulimit -n %d: afterwards it serves getMe again"
              % LOW_NOFILE)
        pauses = log_lines(sc, "accept: Too many open files")
        t.ok(1 <= len(pauses) <= 100,
             "ulimit -n %d: accept ran out of fds and paused (%d log lines, "
             "not a flood)" % (LOW_NOFILE, len(pauses)))
        st, killed = sc.stop()
        t.ok(st == 0 and not killed, "ulimit -n %d: sidecar exits 0 on "
             "SIGTERM" % LOW_NOFILE)
    finally:
        sc.stop()


def main():
    t_start = time.monotonic()
    return harness.squid_main(
        (part_proxy_failures, part_retry_safety, part_mid_transfer,
         part_limits, part_bots),
        extra=lambda: {"big_sha": harness.big_file_sha256()},
        after=lambda t, env: t.diag("total %.1fs" %
                                    (time.monotonic() - t_start)))


if __name__ == "__main__":
    sys.exit(main())
