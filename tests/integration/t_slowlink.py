#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Slow links, scaled down (issue 12, part 3). A throttling CONNECT proxy
(tests/lib/faultproxy.py, mode throttle) passes 256 KB/s each way; the
sidecar runs with upstream_timeout and stall_timeout of 3 s.

  - A 3 MB upload and a 3 MB download through it take at least 12 s each
    (the rate bounds them from below), four times upstream_timeout: both
    succeed, byte for byte, since they keep moving.
  - The proxy stops passing the upload after 1 MB: 504 after
    stall_timeout, naming the phase (sending the body) and the bytes.
  - The proxy stops passing the download after 1 MB, the head already
    sent: the bot sees the reply cut short, and the access log names the
    phase (receiving the answer) and the bytes.
  - Waiting for the answer is still capped by upstream_timeout, counted
    from the end of a slow upload; a long poll keeps its own clock.
  - A bot that pauses reading its download, or sending its upload, for
    twice stall_timeout is not cut: the sidecar holds the transfer for
    the bot, and that time is the bot's (idle_timeout), not a stall.
  - A stalled connect says whether it was the proxy handshake, the TLS
    handshake through the tunnel, or connecting directly.
TAP output."""

import hashlib
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap, Sidecar, StandIn, Certs, request, token  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

RATE = 256 * 1024           # bytes a second, each way
CLOCK = 3                   # upstream_timeout and stall_timeout, seconds
BODY = 3 * 1024 * 1024      # >= 12 s at RATE: 4 x CLOCK
WAIT_BODY = 3 * 1024 * 1024 // 2    # >= 6 s at RATE: 2 x CLOCK
STALL_AT = 1024 * 1024      # tunnel bytes before a stall
PAUSE = 2 * CLOCK           # a bot's own pause, seconds
CLOCK_ARGS = ["--upstream-timeout", "%ds" % CLOCK,
              "--stall-timeout", "%ds" % CLOCK]
# A bound on what should come; the throttle makes nothing faster.
BOUND = 60


def desc_of(reply):
    o = harness.try_json(reply.body) if reply is not None else None
    return o.get("description", "") if isinstance(o, dict) else ""


def access_lines(sc, api):
    return [l for l in sc.log().splitlines()
            if l.startswith("access ") or " access " in l
            if " %s " % api in l]


def raw_exchange(port, head, body_path=None, pause_after=None,
                 read_pause=0.0, timeout=BOUND):
    """One request on its own socket: the body streamed from a file by a
    thread (optionally pausing after pause_after bytes), the answer read
    until EOF. read_pause: seconds before reading the answer. Returns
    (raw bytes, seconds)."""
    s = socket.create_connection(("127.0.0.1", port),
                                 timeout=harness.patient(timeout))
    t0 = time.monotonic()

    def send():
        try:
            s.sendall(head)
            if body_path is None:
                return
            sent = 0
            with open(body_path, "rb") as f:
                for _ in range(1 << 20):
                    c = f.read(64 * 1024)
                    if not c:
                        break
                    if pause_after is not None and sent < pause_after \
                            <= sent + len(c):
                        time.sleep(PAUSE)    # the bot's own slowness
                    s.sendall(c)
                    sent += len(c)
        except OSError:
            pass    # the sidecar answered and closed first
    th = threading.Thread(target=send, daemon=True)
    th.start()
    if read_pause:
        time.sleep(read_pause)  # the bot's own slowness
    out = bytearray()
    try:
        for _ in range(1 << 20):
            try:
                c = s.recv(256 * 1024)
            except (socket.timeout, OSError):
                break
            if not c:
                break
            out += c
    finally:
        s.close()
    th.join(harness.patient(10))
    return bytes(out), time.monotonic() - t0


def post_head(path, ctype, length):
    return ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\n"
            "Content-Length: %d\r\nConnection: close\r\n\r\n"
            % (path, ctype, length)).encode()


def get_head(path):
    return ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            % path).encode()


def make_doc(wd, name, size):
    """A multipart sendDocument body of size random bytes; (path, ctype,
    length, sha256 of the file)."""
    data_path = os.path.join(wd, name + ".bin")
    with open(data_path, "wb") as f:
        for c in harness.random_chunks(size):
            f.write(c)
    sha = harness.file_sha256(data_path)

    def chunks():
        with open(data_path, "rb") as f:
            for _ in range(size // 65536 + 2):
                c = f.read(65536)
                if not c:
                    return
                yield c
    path = os.path.join(wd, name + ".multipart")
    ctype, length = harness.multipart_file(path, {"chat_id": 7},
                                           ("document", chunks()), name)
    return path, ctype, length, sha


def parse(raw):
    """(status, headers, body) of a raw answer, however cut."""
    head, _, body = raw.partition(b"\r\n\r\n")
    hdrs = {}
    for l in head.decode("latin-1").split("\r\n")[1:]:
        k, _, v = l.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return harness.status_of(raw), hdrs, body


def sent_of(desc):
    """The byte counts a description gives: (sent, total) in MB or None."""
    m = re.search(r"after sending ([0-9.]+) (MB|KB|bytes?) of "
                  r"([0-9.]+) (MB|KB|bytes?)", desc)
    if m is None:
        return None
    unit = {"MB": 1 << 20, "KB": 1 << 10, "byte": 1, "bytes": 1}
    return (float(m.group(1)) * unit[m.group(2)],
            float(m.group(3)) * unit[m.group(4)])


# ------------------------------------------------------------ setup

def setup(t, env):
    """A 3 MB file at the stand-in, uploaded the fast way, for the
    download parts."""
    wd, si = env["wd"], env["si"]
    sc = Sidecar(wd, upstream=si.url, ca_file=env["certs"].ca_cert,
                 proxy="direct", name="sidecar-fast").start()
    env["fast"] = sc
    path, ctype, length, sha = make_doc(wd, "fixture", BODY)
    conn = sc.conn()
    try:
        r = harness.post_file(conn, "/bot%s/sendDocument" % env["tok"],
                              path, ctype)
    finally:
        conn.close()
    res = (r.json() or {}).get("result") or {}
    fid = (res.get("document") or {}).get("file_id")
    conn = sc.conn()
    try:
        g = request(conn, "GET", "/bot%s/getFile?file_id=%s"
                    % (env["tok"], fid))
    finally:
        conn.close()
    fpath = ((g.json() or {}).get("result") or {}).get("file_path")
    t.ok(r.status == 200 and fpath, "setup: a 3 MB file at the stand-in "
         "(%s)" % fpath)
    env["file"] = "/file/bot%s/%s" % (env["tok"], fpath)
    env["file_sha"] = sha


# ------------------------------------------------------------ moving

def part_slow_upload(t, env):
    wd, si, sc = env["wd"], env["si"], env["slow"]
    path, ctype, length, sha = make_doc(wd, "slowup", BODY)
    raw, dt = raw_exchange(sc.port, post_head(
        "/bot%s/sendDocument" % env["tok"], ctype, length), path)
    st, _, body = parse(raw)
    res = (harness.try_json(body) or {}).get("result") or {}
    t.ok(dt > 3 * CLOCK,
         "slow upload: 3 MB at 256 KB/s took %.1f s, over 3 x "
         "upstream_timeout (%d s)" % (dt, CLOCK))
    t.ok(st == 200 and res.get("sha256") == sha,
         "slow upload: still moving, it is never cut: 200, and the Bot API "
         "got every byte (status %r)" % st)
    if st != 200:
        t.diag(harness.shorten(body))


def part_slow_download(t, env):
    sc = env["slow"]
    raw, dt = raw_exchange(sc.port, get_head(env["file"]))
    st, hdrs, body = parse(raw)
    t.ok(dt > 3 * CLOCK,
         "slow download: 3 MB at 256 KB/s took %.1f s, over 3 x "
         "upstream_timeout (%d s)" % (dt, CLOCK))
    t.ok(st == 200 and len(body) == BODY and
         hashlib.sha256(body).hexdigest() == env["file_sha"],
         "slow download: still moving, it is never cut: 200 and all %d "
         "bytes intact (status %r, %d bytes)" % (BODY, st, len(body)))


def part_long_poll(t, env):
    sc = env["slow"]
    conn = sc.conn()
    t0 = time.monotonic()
    try:
        r = request(conn, "GET", "/bot%s/getUpdates?timeout=%d"
                    % (token(harness.unique_secret("lp")), CLOCK + 1))
    finally:
        conn.close()
    dt = time.monotonic() - t0
    t.ok(r.status == 200 and (r.json() or {}).get("result") == [] and
         dt >= CLOCK + 1,
         "getUpdates?timeout=%d keeps its own clock: 200 [] after %.1f s, "
         "past upstream_timeout and stall_timeout" % (CLOCK + 1, dt))


# ------------------------------------------------------------ stalled

def part_stalled_upload(t, env):
    wd, sc, fp = env["wd"], env["stall_up"], env["fp_up"]
    path, ctype, length, sha = make_doc(wd, "stallup", BODY)
    raw, dt = raw_exchange(sc.port, post_head(
        "/bot%s/sendDocument" % env["tok"], ctype, length), path)
    st, _, body = parse(raw)
    o = harness.try_json(body) or {}
    desc = o.get("description", "")
    t.ok(st == 504 and o.get("error_code") == 504,
         "stalled upload: 504 JSON error (status %r)" % st)
    t.like(desc, "upstream timeout sending the body to 127.0.0.1: no "
           "progress for %d s (stall_timeout) after sending " % CLOCK,
           "stalled upload: the description names the phase and the clock")
    got = sent_of(desc)
    t.ok(got is not None and STALL_AT * 0.9 <= got[0] < got[1] and
         abs(got[1] - length) < 0.1 * (1 << 20) and
         desc.endswith(", 0 bytes received"),
         "stalled upload: ... and the bytes each way: sent %r of %d, "
         "0 received" % (got, length))
    t.ok(fp.stalls() == 1 and dt >= CLOCK,
         "stalled upload: the 504 came after the stall, no sooner than "
         "stall_timeout (%.1f s)" % dt)
    lines = access_lines(sc, "sendDocument")
    t.ok(lines and "status=504" in lines[-1] and
         "sending the body" in lines[-1],
         "stalled upload: the access log has the 504 and its phase")
    if lines:
        t.diag(lines[-1])


def part_stalled_download(t, env):
    sc, fp = env["stall_down"], env["fp_down"]
    raw, dt = raw_exchange(sc.port, get_head(env["file"]))
    st, hdrs, body = parse(raw)
    t.ok(st == 200 and hdrs.get("content-length") == str(BODY) and
         STALL_AT * 0.5 <= len(body) < BODY,
         "stalled download: the bot got the 200 head and a cut body (%d of "
         "%d bytes), then the close" % (len(body), BODY))
    t.ok(fp.stalls() == 1 and dt >= CLOCK,
         "stalled download: cut after the stall, no sooner than "
         "stall_timeout (%.1f s)" % dt)
    lines = []
    harness.wait_until(lambda: lines.extend(access_lines(sc, "file")) or
                       lines, 5)
    line = lines[-1] if lines else ""
    m = re.search(r"after sending the request \(no body\), ([0-9.]+) "
                  r"(KB|MB) of 3\.0 MB received", line)
    t.ok("status=200" in line and "upstream 127.0.0.1: reply cut after its "
         "head: upstream timeout "
         "receiving the answer from 127.0.0.1: no progress for %d s "
         "(stall_timeout)" % CLOCK in line and m is not None and
         (m.group(2) == "KB" or float(m.group(1)) < 3.0),
         "stalled download: the access log says the reply was cut, in "
         "which phase, and the bytes each way")
    t.diag(line)


def part_wait_capped(t, env):
    wd, si, sc = env["wd"], env["si"], env["slow"]
    # A stalled proxy still holds its tunnels of the parts before.
    before = set(si.stats()["open_conns"])
    si.fault("sendDocument", "stall")
    path, ctype, length, sha = make_doc(wd, "waitup", WAIT_BODY)
    raw, dt = raw_exchange(sc.port, post_head(
        "/bot%s/sendDocument" % env["tok"], ctype, length), path)
    st, _, body = parse(raw)
    desc = desc_of(harness.Reply(st or 0, {}, body))
    got = sent_of(desc)
    t.ok(st == 504 and "upstream timeout waiting for the answer from "
         "127.0.0.1: no answer in %d s (upstream_timeout) after sending "
         % CLOCK in desc and got is not None and got[0] == got[1] and
         desc.endswith(", 0 bytes received"),
         "an upload that outlasts upstream_timeout (%.1f s), then no "
         "answer: 504 waiting for the answer, all of it sent" % dt)
    t.diag(desc)
    t.ok(dt >= WAIT_BODY / RATE + CLOCK * 0.5,
         "... the wait was counted from the end of the upload, not from "
         "the start (%.1f s)" % dt)
    si.fault("getMe", "stall")
    conn = sc.conn()
    try:
        r = request(conn, "GET", "/bot%s/getMe" % env["tok"])
    finally:
        conn.close()
    t.is_(desc_of(r), "upstream timeout waiting for the answer from "
          "127.0.0.1: no answer in %d s (upstream_timeout) after sending "
          "the request (no body), 0 bytes received" % CLOCK,
          "getMe with no answer: 504 naming the wait, upstream_timeout and "
          "the bytes")
    if not t.ok(harness.wait_until(lambda: set(si.stats()["open_conns"]) <=
                                   before, 5),
                "the stalled upstream connections are closed"):
        t.diag("open: %r" % si.stats()["open_conns"])
        t.diag(si.proc.stderr()[-3000:])


# ------------------------------------------------------------ bot's time

def part_bot_reads_slowly(t, env):
    sc = env["fast_clocks"]
    raw, dt = raw_exchange(sc.port, get_head(env["file"]), read_pause=PAUSE)
    st, hdrs, body = parse(raw)
    t.ok(st == 200 and len(body) == BODY and
         hashlib.sha256(body).hexdigest() == env["file_sha"],
         "a bot that reads nothing for %d s (2 x stall_timeout) mid-"
         "download: not cut, all bytes intact (status %r, %d bytes)"
         % (PAUSE, st, len(body)))


def part_bot_sends_slowly(t, env):
    wd, sc = env["wd"], env["fast_clocks"]
    path, ctype, length, sha = make_doc(wd, "botslow", BODY)
    raw, dt = raw_exchange(sc.port, post_head(
        "/bot%s/sendDocument" % env["tok"], ctype, length), path,
        pause_after=length // 2)
    st, _, body = parse(raw)
    res = (harness.try_json(body) or {}).get("result") or {}
    t.ok(st == 200 and res.get("sha256") == sha and dt >= PAUSE,
         "a bot that pauses %d s (2 x stall_timeout) mid-upload: not cut, "
         "the Bot API got every byte (status %r)" % (PAUSE, st))
    if st != 200:
        t.diag("answer: %r; log: %s" % (body[:400], "\n".join(
            sc.log().splitlines()[-6:])))


# ------------------------------------------------------------ connect

def part_connect(t, env):
    wd, si, certs = env["wd"], env["si"], env["certs"]
    tok = env["tok"]
    args = ["--connect-timeout", "2s", "--retries", "0"] + CLOCK_ARGS
    for mode, want in (
            ("stall", "upstream timeout in the proxy handshake with proxy "
             "%s: not connected in 2 s (connect_timeout), nothing sent or "
             "received"),
            ("200-silence", "upstream timeout in the TLS handshake with "
             "127.0.0.1 through proxy %s: not connected in 2 s "
             "(connect_timeout), nothing sent or received")):
        fp = FaultProxy(wd, mode).start()
        sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                     proxy=fp.url, extra_args=args).start()
        try:
            conn = sc.conn()
            try:
                r = request(conn, "GET", "/bot%s/getMe" % tok)
            finally:
                conn.close()
            t.ok(r.status == 504 and desc_of(r) == want % fp.url,
                 "proxy %s: 504 naming the connect phase" % mode)
            t.diag(desc_of(r))
        finally:
            sc.stop()
            fp.stop()
    # Direct, to a port that takes the TCP connection and never a word.
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    sc = Sidecar(wd, upstream="https://127.0.0.1:%d" % ls.getsockname()[1],
                 ca_file=certs.ca_cert, proxy="direct",
                 extra_args=args).start()
    try:
        conn = sc.conn()
        try:
            r = request(conn, "GET", "/bot%s/getMe" % tok)
        finally:
            conn.close()
        t.is_((r.status, desc_of(r)), (504, "upstream timeout connecting to "
              "127.0.0.1: not connected in 2 s (connect_timeout), nothing "
              "sent or received"), "direct: 504 naming the connect phase")
    finally:
        sc.stop()
        ls.close()


def main():
    t = Tap()
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    harness.on_cleanup(si.stop)
    env = {"wd": wd, "si": si, "certs": certs,
           "tok": token(harness.unique_secret("slow"))}
    helpers = []

    def proxy(**kw):
        fp = FaultProxy(wd, "throttle", rate=RATE, **kw).start()
        helpers.append(fp)
        return fp

    def sidecar(px, name):
        sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy=px,
                     extra_args=CLOCK_ARGS, name=name).start()
        helpers.append(sc)
        return sc
    try:
        setup(t, env)
        env["slow"] = sidecar(proxy().url, "sidecar-slow")
        env["fp_up"] = proxy(stall_up_after=STALL_AT)
        env["stall_up"] = sidecar(env["fp_up"].url, "sidecar-stall-up")
        env["fp_down"] = proxy(stall_down_after=STALL_AT)
        env["stall_down"] = sidecar(env["fp_down"].url, "sidecar-stall-down")
        env["fast_clocks"] = sidecar("direct", "sidecar-fast-clocks")
        t.run_parts((part_slow_upload, part_slow_download, part_long_poll,
                     part_stalled_upload, part_stalled_download,
                     part_wait_capped, part_bot_reads_slowly,
                     part_bot_sends_slowly, part_connect), env)
        # Every transfer ended, cut or not, leaves nothing behind.
        for sc in [h for h in helpers if isinstance(h, Sidecar)]:
            st, killed = sc.stop()
            log = sc.log()
            t.ok(st == 0 and not killed and "Sanitizer" not in log and
                 "runtime error" not in log,
                 "%s exits 0 on SIGTERM, clean" % sc.proc.name)
    except Exception:
        t.fail_exception("setup")
    finally:
        for h in reversed(helpers):
            h.stop()
        env["fast"].stop() if "fast" in env else None
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
