#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""tgsidecar as an operator runs it: /metrics (parsed as Prometheus text,
counters checked against the requests made), /healthz and /readyz while
the only proxy dies and comes back, admin_listen, JSON logs, SIGHUP
reloads under load (good and broken), and the SIGTERM drain (long polls
answered at once, downloads finished, shutdown_timeout). Real squid and
microsocks, the TLS stand-in for the Bot API, all on loopback. TAP."""

import hashlib
import http.client
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
from harness import Tap, Sidecar, StandIn, Certs, request, token  # noqa: E402
import proxies  # noqa: E402

BIG_SIZE = 20 * 1024 * 1024
BIG_PATH = "big/20mb.bin"
PROM_CTYPE = "text/plain; version=0.0.4"
ERROR_STAGES = ("proxy_connect", "proxy_handshake", "tls", "upstream",
                "timeout", "client_abort", "refused")
PHASES = ("proxy_connect", "tls_handshake", "first_byte", "total")
FAMILY_TYPES = {
    "tgsidecar_requests_total": "counter",
    "tgsidecar_errors_total": "counter",
    "tgsidecar_upstream_phase_seconds": "histogram",
    "tgsidecar_inflight": "gauge",
    "tgsidecar_connections": "gauge",
    "tgsidecar_proxy_failovers_total": "counter",
    "tgsidecar_retries_total": "counter",
    "tgsidecar_bytes_total": "counter",
    "tgsidecar_spares_total": "counter",
    "tgsidecar_spares": "gauge",
    "tgsidecar_longpoll_swallowed_total": "counter",
    "tgsidecar_longpoll_sliced_total": "counter",
}
NO_UPDATES = {"ok": True, "result": []}


# ------------------------------------------------------------ Prometheus text

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)"
                     r"(?:[ \t]+-?\d+)?$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')
_HIST_SUFFIXES = ("_bucket", "_sum", "_count")


def _unescape(v):
    out, i = [], 0
    for _ in range(len(v) + 1):
        if i >= len(v):
            break
        if v[i] == "\\" and i + 1 < len(v):
            out.append({"n": "\n", "\\": "\\", '"': '"'}.get(v[i + 1],
                                                             "\\" + v[i + 1]))
            i += 2
        else:
            out.append(v[i])
            i += 1
    return "".join(out)


def _parse_labels(s):
    labels, pos = {}, 0
    for _ in range(len(s) + 1):
        if pos >= len(s):
            break
        m = _LABEL.match(s, pos)
        if m is None:
            raise ValueError("bad label set {%s}" % s)
        if m.group(1) in labels:
            raise ValueError("label %s twice" % m.group(1))
        labels[m.group(1)] = _unescape(m.group(2))
        pos = m.end()
    return labels


def _value(s):
    if s in ("+Inf", "Inf"):
        return float("inf")
    if s == "-Inf":
        return float("-inf")
    if s == "NaN":
        return float("nan")
    return float(s)


class Prom:
    """A parsed exposition: samples [(name, labels, value)] in order, the
    TYPE and HELP of each family, and the problems found."""

    def __init__(self, text):
        self.samples = []
        self.types = {}
        self.helps = {}
        self.errors = []
        if text and not text.endswith("\n"):
            self.errors.append("the text does not end with a newline")
        seen_series = set()
        for n, line in enumerate(text.split("\n"), 1):
            if line.strip() == "":
                continue
            if line.startswith("#"):
                parts = line.split(None, 3)
                if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                    name = parts[2]
                    rest = parts[3] if len(parts) > 3 else ""
                    table = self.helps if parts[1] == "HELP" else self.types
                    if name in table:
                        self.errors.append("line %d: second %s for %s"
                                           % (n, parts[1], name))
                    if parts[1] == "TYPE" and rest not in (
                            "counter", "gauge", "histogram", "summary",
                            "untyped"):
                        self.errors.append("line %d: bad type %r" % (n, rest))
                    table[name] = rest
                continue
            m = _SAMPLE.match(line)
            if m is None:
                self.errors.append("line %d: not a sample: %r" % (n, line))
                continue
            try:
                labels = _parse_labels(m.group(2) or "")
                value = _value(m.group(3))
            except ValueError as e:
                self.errors.append("line %d: %s: %r" % (n, e, line))
                continue
            name = m.group(1)
            fam = self.family(name)
            if fam not in self.types:
                self.errors.append("line %d: %s has no TYPE before it"
                                   % (n, name))
            key = (name, tuple(sorted(labels.items())))
            if key in seen_series:
                self.errors.append("line %d: series repeated: %r" % (n, line))
            seen_series.add(key)
            self.samples.append((name, labels, value))

    def family(self, name):
        for suf in _HIST_SUFFIXES:
            base = name[:-len(suf)]
            if name.endswith(suf) and self.types.get(base) == "histogram":
                return base
        return name

    def series(self, name):
        return [(l, v) for (n, l, v) in self.samples if n == name]

    def get(self, name, labels=None):
        """The value of the one series of name with exactly these labels;
        None if there is none."""
        want = labels or {}
        for l, v in self.series(name):
            if l == want:
                return v
        return None

    def requests(self):
        """{(class, status): count} of tgsidecar_requests_total."""
        return {(l.get("class"), l.get("status")): v
                for l, v in self.series("tgsidecar_requests_total")}

    def histogram(self, name, labels):
        """(buckets [(le, count)] in order, sum, count) of one histogram."""
        buckets = []
        for l, v in self.series(name + "_bucket"):
            rest = {k: x for k, x in l.items() if k != "le"}
            if rest == labels and "le" in l:
                buckets.append((_value(l["le"]), v))
        return (buckets, self.get(name + "_sum", labels),
                self.get(name + "_count", labels))


def histogram_problems(prom, name, labels):
    """What is wrong with one histogram, as a list of strings."""
    buckets, hsum, hcount = prom.histogram(name, labels)
    bad = []
    if not buckets:
        return ["no buckets"]
    les = [le for le, _ in buckets]
    if les != sorted(les) or len(set(les)) != len(les):
        bad.append("le values not strictly ascending: %r" % les)
    if les[-1] != float("inf"):
        bad.append("the last bucket is not le=+Inf")
    counts = [c for _, c in buckets]
    if any(b < a for a, b in zip(counts, counts[1:])):
        bad.append("buckets not cumulative: %r" % counts)
    if hcount is None or buckets[-1][1] != hcount:
        bad.append("_count %r != +Inf bucket %r" % (hcount, buckets[-1][1]))
    if hsum is None or hsum < 0 or (hcount == 0 and hsum != 0):
        bad.append("bad _sum %r" % hsum)
    return bad


# ------------------------------------------------------------ helpers

def get_once(host, port, path, timeout=harness.CLIENT_TIMEOUT):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        return request(c, "GET", path)
    finally:
        c.close()


def api_path(tok, method, query=None):
    p = "/bot%s/%s" % (tok, method)
    return p + ("?" + query if query else "")


def ok_result(r):
    o = r.json() or {}
    return o.get("result") if o.get("ok") is True else None


def log_has(sc, sub):
    return sub in sc.log()


def wait_log(sc, sub, timeout=5.0):
    return harness.wait_until(lambda: log_has(sc, sub), timeout)


class LongPoll:
    """A getUpdates long poll in a thread, on its own connection."""

    def __init__(self, sc, tok, query, timeout=harness.CLIENT_TIMEOUT):
        self.sc, self.path, self.timeout = sc, api_path(tok, "getUpdates",
                                                        query), timeout
        self.reply = self.error = self.t_end = None
        self.th = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        c = self.sc.conn(timeout=self.timeout)
        try:
            self.reply = request(c, "GET", self.path)
        except Exception as e:  # reported by the caller
            self.error = e
        finally:
            self.t_end = time.monotonic()
            c.close()

    def start(self, si):
        before = si.stats()["waiting_polls"]
        self.th.start()
        return harness.wait_until(
            lambda: si.stats()["waiting_polls"] > before, 10)

    def join(self, timeout):
        self.th.join(timeout)
        return not self.th.is_alive()


# ------------------------------------------------------------ 1. /metrics

class Meter:
    """Requests on kept-alive connections, counting what the sidecar should
    count: body bytes in and out, admin requests (scrapes)."""

    def __init__(self, sc):
        self.sc = sc
        self.conn = sc.conn()
        self.scrape_conn = sc.conn()
        self.bytes_in = 0
        self.bytes_out = 0
        self.admin = 0

    def req(self, method, path, body=None, headers=None):
        r = request(self.conn, method, path, body, headers)
        self.bytes_in += len(body or b"")
        self.bytes_out += len(r.body)
        return r

    def scrape(self):
        """(reply, Prom, admin requests and body bytes out before it)."""
        before = (self.admin, self.bytes_out)
        r = request(self.scrape_conn, "GET", "/metrics")
        self.admin += 1
        self.bytes_out += len(r.body)
        return r, Prom(r.body.decode("utf-8", "replace")), before

    def close(self):
        self.conn.close()
        self.scrape_conn.close()


def check_exposition(t, r, prom, desc):
    t.ok(r.status == 200 and (r.header("Content-Type") or "").startswith(
        PROM_CTYPE), "%s: 200, Content-Type %s (%r)"
        % (desc, PROM_CTYPE, r.header("Content-Type")))
    t.ok(not prom.errors, "%s: parses as Prometheus text" % desc)
    for e in prom.errors[:10]:
        t.diag(e)
    wrong = {f: prom.types.get(f) for f, ty in FAMILY_TYPES.items()
             if prom.types.get(f) != ty or not prom.helps.get(f)}
    t.ok(not wrong, "%s: every family has HELP and the right TYPE" % desc)
    if wrong:
        t.diag("wrong or missing: %r" % wrong)


def part_metrics(t, env):
    wd, si, certs, squid = env["wd"], env["si"], env["certs"], env["squid"]
    secret = env["secret"]()
    tok = token(secret)
    dead = harness.closed_port()
    si.reset()
    # flood_guard = no: the three calls to chat 429 all go upstream, so
    # the transfer counts below are the stand-in's (t_flood.py has the guard).
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                 proxy="http://127.0.0.1:%d,%s" % (dead, squid.url),
                 extra_args=["--flood-guard", "no"],
                 name="sidecar-metrics")
    t_part = time.monotonic()
    sc.start()
    m = None
    lp = None
    try:
        m = Meter(sc)
        r, p0, (adm0, out0) = m.scrape()
        check_exposition(t, r, p0, "first scrape")
        t.is_(p0.requests(), {}, "first scrape: no requests counted yet")
        t.is_({s: p0.get("tgsidecar_errors_total", {"stage": s})
               for s in ERROR_STAGES}, {s: 0 for s in ERROR_STAGES},
              "first scrape: every error stage is there, at 0")
        t.ok(p0.get("tgsidecar_inflight") == 0
             and p0.get("tgsidecar_upstream_phase_seconds_count",
                        {"phase": "total"}) == 0,
             "first scrape: inflight 0, no transfer observed")

        # 30 getMe; the first meets the dead proxy of the list and is
        # retried on squid.
        codes = [m.req("GET", api_path(tok, "getMe")).status for _ in range(30)]
        t.is_(codes, [200] * 30, "30 getMe through the list (dead, squid) "
              "answer 200")
        r, p1, (adm1, out1) = m.scrape()
        check_exposition(t, r, p1, "scrape during the traffic")
        t.is_(p1.requests(), {("get", "200"): 30, ("admin", "200"): adm1},
              "scrape during the traffic: requests_total per class and "
              "status match exactly")
        t.ok(p1.get("tgsidecar_bytes_total", {"direction": "out"}) == out1
             and out1 > out0,
             "scrape during the traffic: bytes_total{out} is the body bytes "
             "sent so far (%d), and grew" % out1)

        sends = []
        for i in range(10):
            body, hdrs = harness.json_body({"chat_id": 5000 + i,
                                            "text": "metrics %d" % i})
            sends.append(m.req("POST", api_path(tok, "sendMessage"), body,
                               hdrs).status)
        for i in range(3):
            body, hdrs = harness.json_body({"chat_id": 429, "text": "flood"})
            sends.append(m.req("POST", api_path(tok, "sendMessage"), body,
                               hdrs).status)
        t.is_(sends, [200] * 10 + [429] * 3,
              "10 sendMessage answer 200, 3 to chat 429 pass the upstream's 429")

        # A long poll held upstream, scraped, then abandoned by its bot.
        s = socket.create_connection(("127.0.0.1", sc.port),
                                     timeout=harness.CLIENT_TIMEOUT)
        try:
            before = si.stats()["waiting_polls"]
            s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                       % api_path(tok, "getUpdates", "timeout=20&offset=%d"
                                  % 10 ** 9)).encode())
            held = harness.wait_until(
                lambda: si.stats()["waiting_polls"] > before, 10)
            t.ok(held, "a getUpdates?timeout=20 is held upstream")
            r, p2, _ = m.scrape()
            t.ok(r.status == 200 and p2.get("tgsidecar_inflight") == 1
                 and p2.get("tgsidecar_connections") == 3,
                 "scrape during the long poll: inflight 1, connections 3 "
                 "(inflight %r, connections %r)"
                 % (p2.get("tgsidecar_inflight"),
                    p2.get("tgsidecar_connections")))
            n_hang = len(si.stats()["hangups"])
        finally:
            s.close()
        hung = harness.wait_until(
            lambda: len(si.stats()["hangups"]) > n_hang, 5)
        t.ok(hung, "the bot hangs up: the upstream poll is closed")

        r, pf, (admf, outf) = m.scrape()
        check_exposition(t, r, pf, "final scrape")
        want = {("get", "200"): 30, ("send", "200"): 10, ("send", "429"): 3,
                ("getUpdates", "499"): 1, ("admin", "200"): admf}
        t.is_(pf.requests(), want, "final scrape: requests_total per class "
              "and status match the requests made exactly")
        errs = {s: pf.get("tgsidecar_errors_total", {"stage": s})
                for s in ERROR_STAGES}
        want_errs = {s: 0 for s in ERROR_STAGES}
        want_errs.update(proxy_connect=1, client_abort=1)
        t.is_(errs, want_errs, "final scrape: errors_total: proxy_connect 1 "
              "(the dead proxy), client_abort 1 (the hangup), others 0")
        t.is_((pf.get("tgsidecar_proxy_failovers_total"),
               pf.get("tgsidecar_retries_total")), (1, 1),
              "final scrape: 1 proxy failover and 1 retry")
        bad = {ph: histogram_problems(pf, "tgsidecar_upstream_phase_seconds",
                                      {"phase": ph}) for ph in PHASES}
        bad = {k: v for k, v in bad.items() if v}
        t.ok(not bad, "final scrape: each phase histogram has ascending le, "
             "cumulative buckets, +Inf bucket == _count")
        if bad:
            t.diag(repr(bad))
        st = si.stats()
        answered = len([x for x in st["requests"]
                        if x["method"] in ("getMe", "sendMessage")])
        counts = {ph: pf.get("tgsidecar_upstream_phase_seconds_count",
                             {"phase": ph}) for ph in PHASES}
        # 43 transfers answered upstream (the stand-in saw them, each on its
        # own connection), plus one failed attempt at the dead proxy; the
        # abandoned poll never finished.
        # Per connection: spares opened ahead add connections with none.
        t.is_((answered, st["conns_used"], st["per_conn_max"]), (43, 44, 1),
              "the stand-in saw 43 answered requests and 44 connections "
              "carry one each (the abandoned poll's too)")
        # Connect and TLS count each connection made: the fresh ones
        # (43 less those on spares) and the spares opened ahead.
        opened = pf.get("tgsidecar_spares_total", {"event": "opened"})
        used = pf.get("tgsidecar_spares_total", {"event": "used"})
        # A spare the abandoned poll took carried none of the 43.
        lost = len([l for l in sc.log().splitlines() if " access " in l and
                    " getUpdates " in l and "status=499" in l and
                    "spare=1" in l])
        made = 43 - ((used or 0) - lost) + (opened or 0)
        t.is_(counts, {"proxy_connect": made, "tls_handshake": made,
                       "first_byte": 43, "total": 44},
              "final scrape: phase _count: 43 transfers through squid "
              "(%r on spares), %r connections made (%r spares), total "
              "counts the failed attempt at the dead proxy too"
              % (used, made, opened))
        tsum = pf.get("tgsidecar_upstream_phase_seconds_sum", {"phase": "total"})
        # Seconds, not ms: at most two transfers at a time here, so the
        # sum is under twice the wall time (a fixed bound was a speed test).
        elapsed = time.monotonic() - t_part
        t.ok(tsum is not None and 0 < tsum < 2 * elapsed,
             "final scrape: total _sum is plausible (%r s in %.1f s)"
             % (tsum, elapsed))
        t.ok(pf.get("tgsidecar_inflight") == 0
             and pf.get("tgsidecar_connections") == 2,
             "final scrape at rest: inflight 0, connections 2 (inflight %r, "
             "connections %r)" % (pf.get("tgsidecar_inflight"),
                                  pf.get("tgsidecar_connections")))
        t.is_((pf.get("tgsidecar_bytes_total", {"direction": "in"}),
               pf.get("tgsidecar_bytes_total", {"direction": "out"})),
              (float(m.bytes_in), float(outf)),
              "final scrape: bytes_total in/out are the body bytes the bots "
              "sent and received")
        t.ok(outf > out1, "bytes_total{out} grew since the scrape during "
             "the traffic")
    finally:
        if m is not None:
            m.close()
        st, killed = sc.stop()
    t.ok(st == 0 and not killed, "metrics sidecar exits 0 on SIGTERM")
    env["logs"].append(sc.log())


# The statuses tgsidecar_requests_total names; any other is "other".
KNOWN_STATUSES = (200, 206, 304, 400, 401, 403, 404, 405, 409, 413, 414,
                  429, 431, 499, 500, 502, 503, 504)
# One method per class; the stand-in answers ?_status=N with status N.
CLASS_METHODS = (("get", "getMe"), ("send", "sendMessage"),
                 ("edit", "editMessageText"), ("delete", "deleteMessage"),
                 ("answer", "answerCallbackQuery"), ("other", "setWebhook"))
# Upstream statuses, known and not: 6 classes x 21 > 64 (class, status).
ASKED_STATUSES = (200, 201, 202, 400, 401, 402, 403, 404, 406, 409, 413,
                  418, 422, 429, 451, 500, 501, 502, 503, 504, 507)


def raw_status(port, data):
    """Send raw bytes on a new connection; the status of the reply."""
    s = socket.create_connection(("127.0.0.1", port),
                                 timeout=harness.CLIENT_TIMEOUT)
    try:
        s.sendall(data)
        got = b""
        while b"\r\n" not in got:
            b = s.recv(4096)
            if not b:
                break
            got += b
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", got)
    return int(m.group(1)) if m else None


def part_metrics_bounded(t, env):
    """Every request lands in tgsidecar_requests_total, whatever its
    status: the label sets are fixed, statuses outside them are "other"."""
    wd, si, certs = env["wd"], env["si"], env["certs"]
    tok = token(env["secret"]())
    si.reset()
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                 extra_args=["--max-header-size", "8K"],
                 name="sidecar-metrics-bounded")
    sc.start()
    m = None
    try:
        m = Meter(sc)
        m.scrape()
        want, got = {}, {}
        for cls, method in CLASS_METHODS:
            for code in ASKED_STATUSES:
                r = m.req("GET", api_path(tok, method, "_status=%d" % code))
                got[(method, code)] = r.status
                key = (cls, str(code) if code in KNOWN_STATUSES else "other")
                want[key] = want.get(key, 0) + 1
        wrong = {k: v for k, v in got.items() if v != k[1]}
        t.ok(not wrong, "%d requests, %d classes x %d statuses: each got the "
             "status the upstream gave" % (len(got), len(CLASS_METHODS),
                                           len(ASKED_STATUSES)))
        if wrong:
            t.diag("wrong: %r" % sorted(wrong.items())[:10])
        # Refused by the sidecar itself, never sent upstream.
        refused = [
            (raw_status(sc.port, b"GET /favicon.ico HTTP/1.1\r\n"
                        b"Host: x\r\n\r\n"), ("other", "404")),
            (raw_status(sc.port, ("PUT %s HTTP/1.1\r\nHost: x\r\n"
                                  "Content-Length: 0\r\n\r\n"
                                  % api_path(tok, "getMe")).encode()),
             ("get", "405")),
            (raw_status(sc.port, b"GET /bot1:x/getMe HTTP/1.1\r\n"
                        b"Host: x\r\nno colon here\r\n\r\n"),
             ("other", "400")),
            # Not even a method: no request began, still a reply.
            (raw_status(sc.port, b"\x16\x03\x01\x00\x05hello"),
             ("other", "400")),
            (raw_status(sc.port, b"GET /" + b"a" * 9000 +
                        b" HTTP/1.1\r\nHost: x\r\n\r\n"), ("other", "414"))]
        t.is_([c for c, _ in refused], [404, 405, 400, 400, 414],
              "refused by the sidecar: unknown path 404, PUT 405, a "
              "malformed head 400, TLS bytes 400, a long target 414")
        for _, key in refused:
            want[key] = want.get(key, 0) + 1
        sent = len(got) + len(refused)
        r, pf, (admf, _) = m.scrape()
        check_exposition(t, r, pf, "bounded-labels scrape")
        if admf:
            want[("admin", "200")] = admf
        reqs = pf.requests()
        t.is_(sum(reqs.values()), float(sent + admf),
              "the sum of tgsidecar_requests_total is every request served "
              "(%d, and %d scrapes)" % (sent, admf))
        t.is_(reqs, {k: float(v) for k, v in want.items()},
              "requests_total per class and status: statuses outside the "
              "fixed list are counted as status=\"other\"")
        t.ok(all(st in [str(c) for c in KNOWN_STATUSES] + ["other"]
                 for _, st in reqs),
             "no status label outside the fixed list and \"other\"")
        t.is_(pf.get("tgsidecar_errors_total", {"stage": "refused"}),
              float(len(refused)), "errors_total{stage=\"refused\"} counts "
              "the %d requests refused before upstream" % len(refused))
    finally:
        if m is not None:
            m.close()
        st, killed = sc.stop()
    t.ok(st == 0 and not killed, "bounded-labels sidecar exits 0 on SIGTERM")
    env["logs"].append(sc.log())


# ------------------------------------------------------------ 2. health

def restart_proxy(p, name):
    """Start p again on the same port (a new process)."""
    p.proc = harness.Proc(p.proc.argv, p.proc.workdir, name)
    return p.start()


def part_health(t, env):
    wd, si, certs = env["wd"], env["si"], env["certs"]
    tok = token(env["secret"]())
    ms = proxies.Microsocks(wd, scheme="socks5h").start()
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy=ms.url,
                 extra_args=["--log-level", "debug"],
                 name="sidecar-health").start()
    admin = []

    def hp(path):
        r = get_once("127.0.0.1", sc.port, path)
        if not path.startswith("/bot"):
            admin.append(r.status)
        return r
    try:
        r = hp("/healthz")
        t.is_((r.status, r.body), (200, b"ok\n"), "/healthz: 200 \"ok\"")
        r = hp("/readyz")
        t.is_((r.status, r.body), (200, ("ready: %s reachable\n" % ms.url)
                                   .encode()),
              "/readyz before any traffic probes the proxy: 200 reachable")
        r = hp(api_path(tok, "getMe"))
        t.is_(r.status, 200, "getMe through microsocks: 200")
        r = hp("/readyz")
        t.is_((r.status, r.body), (200, ("ready: %s reached in the last 30 s\n"
                                         % ms.url).encode()),
              "/readyz after a transfer: 200 reached in the last 30 s")

        ms.stop()
        t.ok(not harness.port_accepts("127.0.0.1", ms.port),
             "microsocks is stopped")
        r = hp("/readyz")
        # A spare replaced while bots are active may meet the dead proxy
        # first: a failure too, counted, and the proxy marked.
        m = re.search(rb'^tgsidecar_spares_total\{event="failed"\} (\d+)',
                      hp("/metrics").body, re.M)
        spare_failed = int(m.group(1)) if m else 0
        t.ok(r.status == 200 or (r.status == 503 and spare_failed > 0),
             "/readyz within 30 s of the last transfer, before any failure "
             "(a spare's included): still 200 (%r, %d spares failed)"
             % (r, spare_failed))
        t0 = time.monotonic()
        r = hp(api_path(tok, "getMe"))
        o = r.json() or {}
        t.ok(r.status == 502 and ms.addr in o.get("description", ""),
             "getMe through the dead proxy: 502 naming it (%r)" % r)
        r = hp("/readyz")
        dt = time.monotonic() - t0
        head = "not ready: probe via %s failed: proxy %s: " % (ms.url,
                                                               ms.url)
        body = r.body.decode("utf-8", "replace")
        reason = body[len(head):].strip() if body.startswith(head) else ""
        t.ok(r.status == 503 and body.startswith(head) and reason,
             "/readyz after the failed request: 503 \"%s<reason>\" (%r, "
             "%.2f s after the failure)" % (head, body, dt))
        t.like(reason, "connect failed", "the reason says the connect failed")
        r = hp("/healthz")
        t.is_((r.status, r.body), (200, b"ok\n"),
              "/healthz stays 200 while the proxy is down")

        restart_proxy(ms, "microsocks-again")
        # The last probe's 503 stands for 2 s; then a new probe answers.
        last = []
        harness.wait_until(lambda: last.append(hp("/readyz")) or
                           last[-1].status == 200, 10, 0.2)
        r = last[-1]
        # A spare opened ahead (bots were active) may have reached it
        # first: then /readyz reports that instead of probing.
        if r.body.endswith(b"reached in the last 30 s\n"):
            r = harness.Reply(r.status, r.headers, r.body.replace(
                b"reached in the last 30 s", b"reachable"))
        t.is_((r.status, r.body), (200, ("ready: %s reachable\n" % ms.url)
                                   .encode()),
              "microsocks back on the same port: /readyz probes, 200 "
              "reachable once the last probe's answer is 2 s old (%d "
              "/readyz)" % len(last))
        r = hp(api_path(tok, "getMe"))
        t.is_(r.status, 200, "getMe works again")
    finally:
        st, killed = sc.stop()
        ms.stop()
    t.ok(st == 0 and not killed, "health sidecar exits 0 on SIGTERM")
    log = sc.log()
    env["logs"].append(log)
    num = r"\d+(?:\.\d+)?"
    acc = re.compile(r"^\S+ (?P<level>\w+) access 127\.0\.0\.1:\d+ "
                     r"(?P<http>\S+) (?P<method>\S+) bot=(?P<bot>\S+) "
                     r"status=(?P<status>\d+) in=\d+ out=\d+ ms=%s "
                     r"connect=%s tls=%s ttfb=%s retries=\d+ spare=[01]"
                     r"(?: spare_wait=%s)?(?: polls=\d+)?"
                     r"(?: error=\"(?P<error>.*)\")?$"
                     % (num, num, num, num, num))
    lines = [l for l in log.split("\n") if " access " in l]
    parsed = [acc.match(l) for l in lines]
    t.ok(lines and all(parsed), "text access lines: PEER HTTPMETHOD METHOD "
         "bot=ID status=N in=N out=N ms=N connect=N tls=N ttfb=N retries=N "
         "spare=0|1 [spare_wait=N] [polls=N] [error=\"...\"]")
    for l, m in zip(lines, parsed):
        if not m:
            t.diag("unexpected access line: %r" % l)
    parsed = [m for m in parsed if m]
    bot = [(m["level"], m["method"], m["bot"], m["status"]) for m in parsed
           if m["method"] != "-"]
    t.is_(bot, [("info", "getMe", harness.BOT_ID, "200"),
                ("info", "getMe", harness.BOT_ID, "502"),
                ("info", "getMe", harness.BOT_ID, "200")],
          "the getMe requests are logged at info with method, bot id, status")
    e502 = [m["error"] for m in parsed if m["status"] == "502"]
    t.ok(e502 and (e502[0] or "").startswith("proxy %s: " % ms.url),
         "the 502's access line has error=\"proxy %s: ...\" (%r)"
         % (ms.url, e502))
    adm = [(m["level"], m["status"]) for m in parsed if m["method"] == "-"]
    t.is_(adm, [("debug", str(x)) for x in admin],
          "each /healthz and /readyz is logged, at debug level only")


# ------------------------------------------------------------ 3+4. admin, JSON

ACCESS_FIELDS = {"ts": str, "level": str, "msg": str, "peer": str,
                 "http_method": str, "method": str, "bot": str, "status": int,
                 "bytes_in": int, "bytes_out": int, "ms": (int, float),
                 "connect_ms": (int, float), "tls_ms": (int, float),
                 "ttfb_ms": (int, float), "retries": int}
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$")


def part_admin_json(t, env):
    wd, si, certs = env["wd"], env["si"], env["certs"]
    secret = env["secret"]()
    bad_secret = "BAD" + env["secret"]()
    tok, bad_tok = token(secret), token(bad_secret)
    admin_port = harness.alloc_port()
    si.reset()
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 extra_args=["--admin-listen", "127.0.0.1:%d" % admin_port,
                             "--log-format", "json"],
                 name="sidecar-admin").start()
    made = []   # (http method, Bot API method or "-", status, in, out)
    try:
        t.ok(harness.wait_port("127.0.0.1", admin_port, 5, sc.proc),
             "--admin-listen: the admin port listens")
        adm = lambda path: get_once("127.0.0.1", admin_port, path)
        main = lambda path: get_once("127.0.0.1", sc.port, path)

        r = adm("/metrics")
        prom = Prom(r.body.decode("utf-8", "replace"))
        check_exposition(t, r, prom, "admin port /metrics")
        r = adm("/healthz")
        t.is_((r.status, r.body), (200, b"ok\n"), "admin port /healthz: 200")
        r = adm("/readyz")
        t.is_((r.status, r.body), (200, ("ready: %s reachable\n" % si.url)
                                   .encode()),
              "admin port /readyz, proxy direct: probes the upstream, 200")
        for path in ("/metrics", "/healthz", "/readyz"):
            r = main(path)
            o = r.json() or {}
            t.ok(r.status == 404 and o.get("ok") is False
                 and o.get("error_code") == 404,
                 "main port %s: 404 in the Bot API shape (%r)" % (path, r))
            made.append(("GET", "-", 404, 0, len(r.body)))
        r = adm(api_path(tok, "getMe"))
        t.is_(r.status, 404, "admin port, a Bot API path: 404")
        made.append(("GET", "-", 404, 0, len(r.body)))
        t.is_([x["method"] for x in si.stats()["requests"]], [],
              "... and nothing reached the upstream")

        r = main(api_path(tok, "getMe"))
        t.is_(r.status, 200, "main port getMe: 200")
        made.append(("GET", "getMe", 200, 0, len(r.body)))
        c = sc.conn()
        body, hdrs = harness.json_body({"chat_id": 42, "text": "json log"})
        r = request(c, "POST", api_path(tok, "sendMessage"), body, hdrs)
        c.close()
        t.is_(r.status, 200, "main port sendMessage: 200")
        made.append(("POST", "sendMessage", 200, len(body), len(r.body)))
        r = main(api_path(bad_tok, "getMe"))
        t.is_(r.status, 401, "a bad token: the upstream's 401 passes")
        made.append(("GET", "getMe", 401, 0, len(r.body)))

        r = adm("/metrics")
        prom = Prom(r.body.decode("utf-8", "replace"))
        req = prom.requests()
        t.ok(r.status == 200 and req.get(("get", "200")) == 1
             and req.get(("send", "200")) == 1 and req.get(("get", "401")) == 1,
             "admin port /metrics counts the main port's traffic (%r)" % req)
    finally:
        st, killed = sc.stop()
    t.ok(st == 0 and not killed, "admin/json sidecar exits 0 on SIGTERM")

    log = sc.log()
    env["logs"].append(log)
    lines = [l for l in log.split("\n") if l.strip()]
    objs, bad = [], []
    for l in lines:
        try:
            o = json.loads(l)
        except ValueError:
            o = None
        if not isinstance(o, dict) or not isinstance(o.get("msg"), str) \
                or not TS_RE.match(str(o.get("ts"))) \
                or o.get("level") not in ("debug", "info", "warn", "error"):
            bad.append(l)
        else:
            objs.append(o)
    t.ok(lines and not bad, "--log-format json: each of the %d stderr lines "
         "is a JSON object with ts, level, msg" % len(lines))
    for l in bad[:5]:
        t.diag("not a JSON log line: %r" % l)
    acc = [o for o in objs if o.get("msg") == "access"]
    wrong = [o for o in acc if [k for k, ty in ACCESS_FIELDS.items()
                                if not isinstance(o.get(k), ty)
                                or isinstance(o.get(k), bool)]]
    t.ok(acc and not wrong, "access lines have peer, http_method, method, "
         "bot, status, bytes_in, bytes_out, ms, connect_ms, tls_ms, ttfb_ms, "
         "retries, with JSON types")
    for o in wrong[:3]:
        t.diag("bad access line: %r" % o)
    got = sorted((o.get("http_method"), o.get("method"), o.get("status"),
                  o.get("bytes_in"), o.get("bytes_out")) for o in acc)
    t.is_(got, sorted(made), "one access line per Bot API-side request, "
          "with its bytes; none for the admin requests at log level info")
    t.ok(acc and all(re.match(r"^127\.0\.0\.1:\d+$", str(o.get("peer")))
                     and (o.get("method") == "-"
                          or o.get("bot") == harness.BOT_ID) for o in acc),
         "access lines name the peer and the bot id")
    # The 404s are the sidecar's own answers; the 200s and the upstream's
    # 401 are not errors of the sidecar.
    errs = sorted((o.get("status"), bool(o.get("error"))) for o in acc)
    t.is_(errs, sorted([(404, True)] * 4 + [(200, False)] * 2 + [(401, False)]),
          "the sidecar's own 404s have an error field, forwarded answers none")
    t.ok(all(o["error"].startswith("Not Found") for o in acc if o.get("error")),
         "the error field holds the description (%r)"
         % [o.get("error") for o in acc if o.get("error")])
    t.ok(secret not in log and bad_secret not in log,
         "the JSON log holds no token secret")


# ------------------------------------------------------------ 5. SIGHUP

class Load:
    """threads bots, each on one kept-alive connection, alternating getMe
    and sendMessage as fast as they are answered."""

    def __init__(self, sc, tok, threads=4, max_seconds=harness.patient(60)):
        self.sc, self.tok = sc, tok
        self.done = [0] * threads
        self.failures = []
        self.stop_ev = threading.Event()
        self.deadline = time.monotonic() + max_seconds
        self.ths = [threading.Thread(target=self._run, args=(k,), daemon=True)
                    for k in range(threads)]

    def _run(self, k):
        conn = self.sc.conn()
        try:
            for i in range(1000000):
                if self.stop_ev.is_set() or time.monotonic() > self.deadline:
                    break
                try:
                    if i % 2:
                        body, hdrs = harness.json_body(
                            {"chat_id": 9000 + k, "text": "load %d" % i})
                        r = request(conn, "POST", api_path(self.tok,
                                                           "sendMessage"),
                                    body, hdrs)
                        good = r.status == 200 and \
                            (ok_result(r) or {}).get("text") == "load %d" % i
                    else:
                        r = request(conn, "GET", api_path(self.tok, "getMe"))
                        good = r.status == 200 and \
                            (ok_result(r) or {}).get("id") == 123456
                    if not good:
                        self.failures.append((k, i, r.status, r.body[:300]))
                except Exception as e:
                    self.failures.append((k, i, None, repr(e)))
                    conn.close()
                    conn = self.sc.conn()
                self.done[k] += 1
        finally:
            conn.close()

    def start(self):
        for th in self.ths:
            th.start()
        return self

    def snapshot(self):
        return list(self.done)

    def advance(self, n, timeout=15):
        """Wait until every thread has finished n more requests."""
        base = self.snapshot()
        return harness.wait_until(
            lambda: all(d >= b + n for d, b in zip(self.done, base)),
            timeout, 0.02)

    def stop(self):
        self.stop_ev.set()
        for th in self.ths:
            th.join(harness.patient(20))
        return not any(th.is_alive() for th in self.ths)


def part_reload(t, env):
    wd, si, certs, squid = env["wd"], env["si"], env["certs"], env["squid"]
    tok = token(env["secret"]())
    ms = proxies.Microsocks(wd, scheme="socks5h").start()
    conf = os.path.join(wd, "reload.conf")

    def write(items):
        tmp = conf + ".tmp"
        harness.write_config(tmp, items)
        os.replace(tmp, conf)
    base = [("upstream", si.url), ("ca_file", certs.ca_cert)]
    write(base + [("proxy", squid.url)])
    si.reset()
    sc = Sidecar(wd, extra_args=["-c", conf], name="sidecar-reload").start()
    load = None
    try:
        load = Load(sc, tok).start()
        t.ok(load.advance(10), "load: 4 bots, 10 requests each through squid")
        # The poll must outlast the reload: it spans only the reload, and
        # waits 50 s (the most), however slow the machine.
        lp = LongPoll(sc, tok, "timeout=50")
        t.ok(lp.start(si), "a long poll is held upstream through squid")

        write(base + [("proxy", ms.url)])
        sc.proc.send_signal(signal.SIGHUP)
        line = "configuration reloaded: upstream %s, proxy %s" % (si.url, ms.url)
        t.ok(wait_log(sc, line), "SIGHUP: the log says '%s'" % line)
        text = "across the reload %s" % os.urandom(3).hex()
        si.inject({"text": text, "from_id": 31})
        t.ok(load.advance(5), "load continues after the reload")
        t.ok(lp.join(harness.patient(10)) and lp.reply is not None
             and lp.reply.status == 200
             and [u["message"]["text"] for u in ok_result(lp.reply) or []]
             == [text], "the long poll started before the reload gets its "
             "update through squid (%r)" % (lp.reply or lp.error))

        squid.stop()
        t.ok(not harness.port_accepts("127.0.0.1", squid.port),
             "squid is stopped")
        n0 = sum(load.snapshot())
        t.ok(load.advance(15), "load continues with squid gone: through "
             "microsocks (%d requests since)" % (sum(load.snapshot()) - n0))
        t.is_(load.failures, [], "no request failed across the reload and "
              "squid's stop")

        items = base + [("proxy", ms.url), ("no_such_key", "1")]
        bad_line = len(items) + 1   # line 1 is write_config's header comment
        write(items)
        sc.proc.send_signal(signal.SIGHUP)
        want = "reload failed, the old configuration stays: %s:%d:" % (
            conf, bad_line)
        t.ok(wait_log(sc, want), "a broken config + SIGHUP: the log says "
             "'%s ...'" % want)
        t.like(sc.log(), "no_such_key", "... and names the unknown key")
        t.ok(load.advance(15), "load continues on the old (microsocks) "
             "configuration")
        t.ok(load.stop(), "the load threads end")
        t.is_(load.failures, [], "no request failed at all (%d made)"
              % sum(load.done))
        t.is_(sc.log().count("configuration reloaded"), 1,
              "one reload took effect, the broken one did not")
        t.ok(sc.proc.alive(), "the sidecar still runs")
    finally:
        if load is not None:
            load.stop()
        st, killed = sc.stop()
        ms.stop()
    t.ok(st == 0 and not killed, "reload sidecar exits 0 on SIGTERM")
    env["logs"].append(sc.log())


# ------------------------------------------------------------ 6. SIGTERM

class SlowDownload:
    """GET /file/bot<token>/big/20mb.bin, read by hand."""

    def __init__(self, sc, tok):
        self.conn = sc.conn()
        self.conn.request("GET", "/file/bot%s/%s" % (tok, BIG_PATH))
        self.r = self.conn.getresponse()
        self.sha = hashlib.sha256()
        self.n = 0

    def read(self, limit):
        """Read up to limit more bytes (to the end if None); False on a cut."""
        for _ in range(BIG_SIZE // 4096 + 10):
            if limit is not None and limit <= 0:
                return True
            want = 64 * 1024 if limit is None else min(64 * 1024, limit)
            try:
                c = self.r.read(want)
            except (http.client.IncompleteRead, OSError):
                return False
            if not c:
                return True
            self.sha.update(c)
            self.n += len(c)
            if limit is not None:
                limit -= len(c)
        return True

    def close(self):
        self.conn.close()


# "At once" after SIGTERM: not waiting for the poll's 30 s, the 2 min
# shutdown_timeout or a stalled download. Quiet machine: a few ms.
AT_ONCE = 10.0


def part_drain(t, env, big_sha):
    wd, si, certs = env["wd"], env["si"], env["certs"]
    tok = token(env["secret"]())
    ts = harness.time_scale()   # > 1 under TGSIDECAR_WRAPPER (valgrind)
    si.reset()
    # The download in flight must finish within shutdown_timeout, at the
    # test's pace: 2 min, not the 10 s default, for a loaded machine.
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 extra_args=["--shutdown-timeout", "2m"],
                 name="sidecar-drain").start()
    dl = None
    try:
        lp = LongPoll(sc, tok, "timeout=30&offset=%d" % 10 ** 9)
        t.ok(lp.start(si), "drain: a getUpdates?timeout=30 is held upstream")
        dl = SlowDownload(sc, tok)
        t.ok(dl.r.status == 200 and dl.read(1 << 20) and dl.n == 1 << 20,
             "drain: a 20 MiB download is under way (1 MiB read)")
        t0 = time.monotonic()
        sc.proc.send_signal(signal.SIGTERM)
        lp.join(harness.patient(5))
        dt = (lp.t_end or t0 + 99) - t0
        t.ok(lp.reply is not None and lp.reply.status == 200
             and lp.reply.json() == NO_UPDATES and dt < AT_ONCE,
             "SIGTERM: the long poll gets 200 %s at once (%.3f s; %r)"
             % (json.dumps(NO_UPDATES), dt, lp.reply or lp.error))
        t.ok(harness.wait_until(lambda: si.stats()["waiting_polls"] == 0, 3),
             "SIGTERM: the upstream long poll is closed")
        refused = harness.wait_until(
            lambda: not harness.port_accepts("127.0.0.1", sc.port), 2 * ts)
        t.ok(refused, "SIGTERM: new connections are refused")
        t.ok(sc.proc.alive(), "the sidecar waits for the download in flight")
        t_dl = time.monotonic()
        complete = dl.read(None)
        t_read = time.monotonic()
        t.is_((complete, dl.n, dl.sha.hexdigest()), (True, BIG_SIZE, big_sha),
              "the download in flight finishes byte-exact after SIGTERM "
              "(%.2f s)" % (t_read - t_dl))
        dl.close()
        st = sc.proc.wait(harness.patient(12))
        t_exit = time.monotonic()
        t.ok(st == 0 and t_exit - t0 < 120.0 and t_exit - t_read < AT_ONCE * ts,
             "then the sidecar exits 0 (status %r, %.2f s after SIGTERM, "
             "%.2f s after the download)" % (st, t_exit - t0, t_exit - t_read))
    finally:
        if dl is not None:
            dl.close()
        sc.stop()
    env["logs"].append(sc.log())

    # A download that would outlast --shutdown-timeout 1s.
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 extra_args=["--shutdown-timeout", "1s"],
                 name="sidecar-drain1s").start()
    dl = None
    try:
        dl = SlowDownload(sc, tok)
        t.ok(dl.r.status == 200 and dl.read(1 << 20),
             "--shutdown-timeout 1s: a download is under way, its bot stops "
             "reading")
        t0 = time.monotonic()
        sc.proc.send_signal(signal.SIGTERM)
        st = sc.proc.wait(harness.patient(6))
        dt = time.monotonic() - t0
        t.ok(st == 0 and 0.9 <= dt < 1 + AT_ONCE * ts, "--shutdown-timeout 1s: the sidecar "
             "exits 0 after about 1 s (status %r, %.2f s)" % (st, dt))
        complete = dl.read(None)
        t.ok(not complete or dl.n < BIG_SIZE, "... and the cut download is "
             "not mistaken for a whole one (%d bytes)" % dl.n)
        t.like(sc.log(), "still busy after shutdown_timeout",
               "the log says the busy connection was closed")
    finally:
        if dl is not None:
            dl.close()
        sc.stop()
    env["logs"].append(sc.log())


# ------------------------------------------------------------ main

def main():
    t = Tap()
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    secrets = []

    def secret():
        s = harness.unique_secret("ops")
        secrets.append(s)
        return s
    env = {"wd": wd, "si": si, "certs": certs, "secret": secret, "logs": []}
    t0 = time.monotonic()
    squid = proxies.Squid(wd, [si.port])
    env["squid"] = squid
    try:
        try:
            squid.start()
        except Exception:
            t.fail_exception("squid starts")
        big_sha = harness.big_file_sha256(BIG_SIZE)
        for part, args in ((part_metrics, (t, env)),
                           (part_metrics_bounded, (t, env)),
                           (part_health, (t, env)),
                           (part_admin_json, (t, env)),
                           (part_reload, (t, env)),
                           (part_drain, (t, env, big_sha))):
            t1 = time.monotonic()
            try:
                part(*args)
            except Exception:
                t.fail_exception(part.__name__)
            t.diag("%s took %.1f s" % (part.__name__, time.monotonic() - t1))
        logs = "".join(env["logs"])
        leaked = [s for s in secrets if s in logs]
        t.ok(logs and not leaked, "no token secret in any sidecar log")
    finally:
        squid.stop()
        si.stop()
    t.diag("all parts took %.1f s" % (time.monotonic() - t0))
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
