#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""tgsidecar under a hostile or unlucky bot: replies the sidecar makes
itself (/metrics, 403, 404) pipelined by a peer that never reads keep its
memory bounded; a request head must be complete within header_timeout,
however slowly it trickles; SIGTERM lets an upload in flight finish and
does not wait for a partial head; and allow / allow_bots are judged per
request, so a SIGHUP reaches kept-alive connections. TAP output."""

import hashlib
import json
import os
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

FLOOD_BYTES = 4800 * 1000      # the attack in the issue: 4.8 MB of requests
RSS_LIMIT_KIB = 32 * 1024
UPLOAD_BYTES = 6 * 1024 * 1024


def sanitized(pid):
    """True if the daemon runs under ASan or valgrind, whose allocators
    hold freed memory: RSS says nothing about our buffers there."""
    if harness.wrapper_argv():
        return True
    try:
        with open("/proc/%d/maps" % pid) as f:
            return "libasan" in f.read()
    except OSError:
        return False


def recv_all(s, timeout):
    """Everything until EOF (or reset), within timeout; (data, eof)."""
    s.settimeout(timeout)
    buf = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                return buf, True
            buf += c
    except ConnectionResetError:
        return buf, True
    except socket.timeout:
        return buf, False


def read_reply(s, timeout=harness.CLIENT_TIMEOUT):
    """One reply with a Content-Length, read whole."""
    s.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        c = s.recv(65536)
        if not c:
            return buf
        buf += c
    head, _, rest = buf.partition(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
    while len(rest) < n:
        c = s.recv(65536)
        if not c:
            break
        rest += c
    return head + b"\r\n\r\n" + rest


def healthz(host, port, source=None):
    s = socket.create_connection((host, port), timeout=harness.CLIENT_TIMEOUT,
                                 source_address=(source, 0) if source else None)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, _ = recv_all(s, harness.CLIENT_TIMEOUT)
    finally:
        s.close()
    return data.startswith(b"HTTP/1.1 200")


# ------------------------------------------------------------ 1. flood

class Flooder:
    """Writes the same request over and over on one connection and never
    reads; the sender stalls once the sidecar stops taking input."""

    def __init__(self, port, unit, source=None):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Our receive window fills at once: the sidecar's output backs up.
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        if source:
            self.s.bind((source, 0))
        self.s.connect(("127.0.0.1", port))
        self.data = memoryview(unit * (FLOOD_BYTES // len(unit)))
        self.sent = 0
        self.done = False
        self.stop = False
        self.err = None
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        self.s.settimeout(0.2)
        try:
            while not self.stop and self.sent < len(self.data):
                try:
                    self.sent += self.s.send(self.data[self.sent:])
                except socket.timeout:
                    continue
        except OSError as e:
            self.err = e        # closed by the sidecar
        self.done = True

    def close(self):
        self.stop = True
        self.th.join(harness.patient(10))
        self.s.close()


def unread_bytes(port, peer_port):
    """Bytes waiting in the receive queue of the sidecar's socket on
    127.0.0.1:port from peer_port, per /proc/net/tcp; None if there is no
    such connection (any more)."""
    try:
        with open("/proc/net/tcp") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return None
    for ln in lines:
        x = ln.split()
        if (len(x) > 4 and int(x[1].split(":")[1], 16) == port and
                int(x[2].split(":")[1], 16) == peer_port):
            return int(x[4].split(":")[1], 16)
    return None


def watch_rss(pid, fl, port):
    """Sample the daemon's RSS until the flooder is done, or the sidecar
    has stopped reading, or RSS passes the limit.  Returns the peak in KiB.
    "Stopped reading" is not "no progress for a while", which a loaded
    machine also shows: it is bytes left unread on the flood connection,
    neither fewer of them nor more sent by the flooder for a while (a
    daemon still reading, however slowly, changes one of the two)."""
    ts = harness.time_scale()
    peer = fl.s.getsockname()[1]
    peak = [0]
    last = [fl.sent, unread_bytes(port, peer), time.monotonic()]

    def settled():
        r = harness.vm_rss_kib(pid) or 0
        peak[0] = max(peak[0], r)
        if r > RSS_LIMIT_KIB and not sanitized(pid):
            return True
        now = time.monotonic()
        cur = [fl.sent, unread_bytes(port, peer)]
        if cur != last[:2]:
            last[:] = cur + [now]
        if fl.done:
            return True
        return now - last[2] > 3 * ts and (cur[1] is None or cur[1] > 0)
    harness.wait_until(settled, 120 * ts, 0.05)
    # A little longer (a window, not a wait): whatever was taken in is
    # answered by now.
    harness.wait_until(lambda: settled() and False, 1.0, 0.05, scale=False)
    return peak[0]


def cpu_share(pid, window):
    """The share of one CPU pid used over a window of wall time (a window,
    not a wait).  A loaded machine can only make it smaller."""
    def ticks():
        with open("/proc/%d/stat" % pid) as f:
            x = f.read().rsplit(")", 1)[1].split()
        return int(x[11]) + int(x[12])      # utime + stime
    t0, c0 = time.monotonic(), ticks()
    harness.wait_until(lambda: False, window, 0.1, scale=False)
    return (ticks() - c0) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - t0)


def flood_cases(wd, port, admin_port, tok):
    metrics = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    getme = ("GET /bot%s/getMe HTTP/1.1\r\nHost: x\r\n\r\n" % tok).encode()
    nothing = b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"
    delete = ("DELETE /bot%s/getMe HTTP/1.1\r\nHost: x\r\n\r\n"
              % tok).encode()
    return [
        # desc, extra args, port to flood, request, source, healthz (port, source)
        ("/metrics pipelined on listen", [], port, metrics, None,
         (port, None)),
        ("DELETE pipelined on listen (405)", [], port, delete, None,
         (port, None)),
        ("getMe pipelined by a peer not in allow (403)",
         ["--allow", "127.0.0.2/32"], port, getme, "127.0.0.1",
         (port, "127.0.0.2")),
        ("/metrics pipelined on admin_listen",
         ["--admin-listen", "127.0.0.1:%d" % admin_port], admin_port,
         metrics, None, (admin_port, None)),
        ("an unknown path pipelined on admin_listen (404)",
         ["--admin-listen", "127.0.0.1:%d" % admin_port], admin_port,
         nothing, None, (admin_port, None)),
    ]


def check_flood(t, wd, si, certs, secrets):
    secret = harness.unique_secret("flood")
    secrets.append(secret)
    port = harness.alloc_port()
    admin_port = harness.alloc_port()
    for desc, args, fport, unit, src, hz in flood_cases(
            wd, port, admin_port, token(secret)):
        listen = "0.0.0.0:%d" % port if "--allow" in args else None
        sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                     proxy="direct", port=port, listen=listen,
                     extra_args=args).start()
        fl = None
        try:
            fl = Flooder(fport, unit, src)
            peak = watch_rss(sc.proc.pid, fl, fport)
            if sanitized(sc.proc.pid):
                t.skip("%s: RSS stays under 32 MiB" % desc,
                       "RSS is the sanitizer's, not ours")
            else:
                t.ok(0 < peak <= RSS_LIMIT_KIB,
                     "%s, never read: RSS stays under 32 MiB (peak %d KiB, "
                     "%d of %d bytes taken)" % (desc, peak, fl.sent,
                                                len(fl.data)))
            t.ok(sc.proc.alive() and healthz("127.0.0.1", hz[0], hz[1]),
                 "%s: the sidecar still answers /healthz meanwhile" % desc)
            if "403" not in desc:
                busy = cpu_share(sc.proc.pid, 2.0)
                t.ok(busy < 0.1, "%s: held by back-pressure, the sidecar "
                     "waits instead of spinning (%.0f%% of a CPU over 2 s)"
                     % (desc, 100 * busy))
            if "403" in desc:
                # A denied peer gets one 403 and the connection is closed.
                data, eof = recv_all(fl.s, harness.CLIENT_TIMEOUT)
                t.ok(data.startswith(b"HTTP/1.1 403") and
                     b"Connection: close" in data and eof and
                     data.count(b"HTTP/1.1 ") == 1,
                     "%s: one 403 with Connection: close, then the "
                     "connection is closed (%r)" % (desc, data[:60]))
        finally:
            if fl is not None:
                fl.close()
            st, killed = sc.stop()
        t.ok(st == 0 and not killed, "%s: exits 0 on SIGTERM" % desc)


# ------------------------------------------------------------ header_timeout

def check_header_timeout(t, wd, si, certs, secrets):
    secret = harness.unique_secret("head")
    secrets.append(secret)
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 extra_args=["--header-timeout", "1s"]).start()
    try:
        # Slowloris: a head that trickles a byte at a time. The bound is
        # for the close to come (it should after 1 s), not the outcome.
        s = socket.create_connection(("127.0.0.1", sc.port),
                                     timeout=harness.CLIENT_TIMEOUT)
        head = ("GET /bot%s/getMe HTTP/1.1\r\nHost: x\r\nX-Slow: "
                % token(secret)).encode()
        s.sendall(head)
        t0 = time.monotonic()
        closed, data = False, b""
        s.settimeout(0.2)
        while time.monotonic() - t0 < harness.patient(30):
            try:
                s.send(b"a")
            except OSError:
                # Reset: the close met a byte the sidecar had not read
                # yet (a slow reader of ours makes that likely). The
                # 408 before it is still in our receive queue.
                closed = True
                more, _ = recv_all(s, harness.CLIENT_TIMEOUT)
                data += more
                break
            try:
                c = s.recv(65536)
                if not c:
                    closed = True
                    break
                data += c
            except socket.timeout:
                pass
            except ConnectionResetError:
                closed = True
                break
        s.close()
        t.ok(closed, "a head trickling a byte every 0.2 s is closed although "
             "bytes keep coming (header_timeout 1s, idle_timeout 300s)")
        t.ok(data.startswith(b"HTTP/1.1 408") and b'"error_code":408' in data,
             "it gets a 408 JSON error first (%r)" % data[:40])

        # Idle between requests is idle_timeout's business, not ours.
        c = sc.conn()
        r = request(c, "GET", "/bot%s/getMe" % token(secret))
        # A connection that sends nothing is closed after header_timeout;
        # opened after the request above, its end shows that the kept-alive
        # connection has been idle longer than header_timeout too.
        s = socket.create_connection(("127.0.0.1", sc.port),
                                     timeout=harness.CLIENT_TIMEOUT)
        data, eof = recv_all(s, harness.CLIENT_TIMEOUT)
        s.close()
        t.ok(eof and data == b"", "a connection that sends nothing is closed "
             "after header_timeout, without a reply")
        r2 = request(c, "GET", "/bot%s/getMe" % token(secret))
        c.close()
        t.ok(r.status == 200 and r2.status == 200,
             "a kept-alive connection idle longer than header_timeout "
             "between requests still serves the next one")
    finally:
        st, killed = sc.stop()
    t.ok(st == 0 and not killed, "header_timeout: exits 0 on SIGTERM")
    t.like(sc.log(), "status=408", "the log has the 408")


# ------------------------------------------------------------ 2. drain

def upload_body(wd):
    data = b"".join(hashlib.sha256(b"up-%d" % i).digest()
                    for i in range(UPLOAD_BYTES // 32))
    path = os.path.join(wd, "upload.bin")
    ctype, length = harness.multipart_file(path, {"chat_id": "42"},
                                           ("document", [data]), "up.bin")
    with open(path, "rb") as f:
        body = f.read()
    return ctype, body, hashlib.sha256(data).hexdigest()


def check_drain_upload(t, wd, si, certs, secrets):
    secret = harness.unique_secret("drainup")
    secrets.append(secret)
    ts = harness.time_scale()
    ctype, body, want = upload_body(wd)
    # shutdown_timeout far beyond any time the upload may take on a loaded
    # machine: the drain must let it finish, not race it.
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 extra_args=["--shutdown-timeout", "1h"]).start()
    desc = "SIGTERM during an upload"
    try:
        before = si.connections()
        s = socket.create_connection(("127.0.0.1", sc.port),
                                     timeout=harness.CLIENT_TIMEOUT)
        s.sendall(("POST /bot%s/sendDocument HTTP/1.1\r\nHost: x\r\n"
                   "Content-Type: %s\r\nContent-Length: %d\r\n\r\n"
                   % (token(secret), ctype, len(body))).encode())
        first = 1024 * 1024
        s.sendall(body[:first])
        started = harness.wait_until(lambda: si.connections() > before,
                                     10 * ts)
        sc.proc.send_signal(signal.SIGTERM)
        draining = harness.wait_until(
            lambda: not harness.port_accepts("127.0.0.1", sc.port), 10 * ts)
        # The rest goes after the drain began, in slow pieces.
        err = None
        try:
            for i in range(first, len(body), 256 * 1024):
                s.sendall(body[i:i + 256 * 1024])
                time.sleep(0.05)
        except OSError as e:
            err = e
        data, _ = recv_all(s, harness.CLIENT_TIMEOUT)
        s.close()
        head, _, rest = data.partition(b"\r\n\r\n")
        try:
            o = json.loads(rest.decode())
        except ValueError:
            o = None
        t.ok(started and draining, "%s: upstream started, then the "
             "listener closed (drain began)" % desc)
        t.ok(err is None, "%s: the rest of the body is still read (%r)"
             % (desc, err))
        t.ok(head.startswith(b"HTTP/1.1 200") and isinstance(o, dict) and
             o.get("ok") and (o.get("result") or {}).get("sha256") == want,
             "%s: the reply is 200 and the stand-in got the file byte-exact "
             "(%r)" % (desc, harness.shorten(data, 120)))
        t.ok(b"Connection: close" in head,
             "%s: the reply says Connection: close" % desc)
        st = sc.proc.wait(harness.patient(60))
        t.is_(st, 0, "%s: the sidecar then exits 0" % desc)
    finally:
        sc.stop()


def check_drain_partial(t, wd, si, certs, secrets):
    secret = harness.unique_secret("drainhead")
    secrets.append(secret)
    # shutdown_timeout and header_timeout far beyond the (patient) wait
    # below: only a drain that does not wait for the partial head lets
    # the process exit in it, however slow the machine.
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 extra_args=["--shutdown-timeout", "1h",
                             "--header-timeout", "1h"]).start()
    desc = "SIGTERM with a partial head open"
    part = idle = None
    try:
        part = socket.create_connection(("127.0.0.1", sc.port),
                                        timeout=harness.CLIENT_TIMEOUT)
        c = sc.conn()
        r = request(c, "GET", "/bot%s/getMe" % token(secret))
        # The partial head goes on a connection that has served a request.
        part.sendall(("GET /bot%s/getMe HTTP/1.1\r\nHost: x\r\n\r\n"
                      % token(secret)).encode())
        r0 = read_reply(part)
        part.sendall(b"GET /bot%s/get" % token(secret).encode())
        idle = socket.create_connection(("127.0.0.1", sc.port),
                                        timeout=harness.CLIENT_TIMEOUT)
        # Round trips on other connections: the partial bytes are read.
        ok = healthz("127.0.0.1", sc.port) and healthz("127.0.0.1", sc.port)
        sc.proc.send_signal(signal.SIGTERM)
        st = sc.proc.wait(harness.patient(60))
        t.ok(r.status == 200 and r0.startswith(b"HTTP/1.1 200") and ok,
             "%s: set up" % desc)
        t.is_(st, 0, "%s: the sidecar exits 0 while the partial-head and the "
              "idle connection are still open on our side "
              "(shutdown_timeout 1h)" % desc)
        data, eof = recv_all(part, harness.CLIENT_TIMEOUT)
        t.ok(eof and data == b"", "%s: the partial-head connection was closed "
             "with no reply" % desc)
        c.close()
    finally:
        for s in (part, idle):
            if s is not None:
                s.close()
        sc.stop()
    t.unlike(sc.log(), "still busy after shutdown_timeout",
             "%s: nothing was left for shutdown_timeout" % desc)


# ------------------------------------------------------------ 3. policy

def reload(sc, conf, items):
    n = sc.log().count("configuration reloaded")
    harness.write_config(conf, items)
    sc.proc.send_signal(signal.SIGHUP)
    return harness.wait_until(
        lambda: sc.log().count("configuration reloaded") > n,
        10 * harness.time_scale())


def check_policy(t, wd, si, certs, secrets):
    secret = harness.unique_secret("policy")
    secrets.append(secret)
    tok = token(secret)
    conf = os.path.join(wd, "policy.conf")
    harness.write_config(conf, [("allow", "127.0.0.1/32")])
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 extra_args=["-c", conf]).start()
    try:
        c = sc.conn()
        r1 = request(c, "GET", "/bot%s/getMe" % tok)
        rl = reload(sc, conf, [("allow", "127.0.0.2/32")])
        r2 = request(c, "GET", "/bot%s/getMe" % tok)
        t.ok(r1.status == 200 and rl and r2.status == 403,
             "allow: 200, then SIGHUP drops the peer from allow: the next "
             "request on the same connection gets 403 (%d, %d)"
             % (r1.status, r2.status))
        t.is_(r2.header("Connection"), "close",
              "allow: the 403 closes the connection")
        c.close()

        # The reverse: a connection opened while denied, used once allowed.
        c = sc.conn()
        c.connect()
        rl = reload(sc, conf, [("allow", "127.0.0.1/32")])
        r = request(c, "GET", "/bot%s/getMe" % tok)
        t.ok(rl and r.status == 200, "allow: a connection opened while the "
             "peer was denied is served after a SIGHUP allows it (%d)"
             % r.status)

        # allow_bots, both ways, on one kept-alive connection.
        rl1 = reload(sc, conf, [("allow", "127.0.0.1/32"),
                                ("allow_bots", "111")])
        r1 = request(c, "GET", "/bot%s/getMe" % tok)
        rl2 = reload(sc, conf, [("allow", "127.0.0.1/32"),
                                ("allow_bots", "111, " + harness.BOT_ID)])
        r2 = request(c, "GET", "/bot%s/getMe" % tok)
        t.ok(rl1 and rl2 and r1.status == 403 and r2.status == 200,
             "allow_bots: SIGHUP removes the bot: 403, adds it back: 200, on "
             "the same connection (%d, %d)" % (r1.status, r2.status))
        c.close()
    finally:
        sc.stop()


def main():
    t = Tap()
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    secrets = []
    t.run_parts((check_flood, check_header_timeout, check_drain_upload,
                 check_drain_partial, check_policy), wd, si, certs, secrets)
    si.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
