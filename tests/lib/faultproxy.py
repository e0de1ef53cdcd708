#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""A proxy that fails on purpose, or works with a twist, for tgsidecar's
failover, retry and /readyz tests. Standard library only.

  faultproxy.py --port P --mode MODE [--lifetime 600] [--delay S]
                [--gate FILE] [--rate BYTES_PER_S]
                [--stall-up-after N] [--stall-down-after N]
                [--target PORT] [--map FROM=TO] [--tls-cert C --tls-key K]

Modes, applied to every connection:
  close-on-connect  read the CONNECT request, then close the connection
                    (FIN) without a word
  407               answer 407 Proxy Authentication Required, forever
                    (whatever credentials come)
  503               answer 503 Service Unavailable to the CONNECT
  stall             read the CONNECT request and never answer, until the
                    client hangs up (at most --lifetime)
  200-silence       answer "HTTP/1.1 200 Connection established" and the
                    blank line, then pass nothing either way
  status-silence    send the bare status line (no blank line), then
                    nothing
  1xx-silence       answer "HTTP/1.1 100 Continue" and the blank line,
                    then nothing
  tunnel            a working CONNECT proxy; with --delay S it waits S
                    seconds before its 200 (with --gate FILE: until FILE,
                    or FILE.N for connection N alone, exists; FILE.N.close
                    closes connection N instead; with --dpi FILE, while
                    FILE exists, it answers 200 and then passes nothing,
                    as 200-silence does: a path that DPI starts to block)
  relay             not a proxy: a TCP relay to 127.0.0.1:--target, which
                    waits --delay S seconds before it connects (or --gate)
  socks5-map        a SOCKS5 proxy (no auth) that tunnels to the asked
                    address, with port FROM replaced by TO (--map): it
                    reaches what the client cannot
  throttle          a working CONNECT proxy on a slow link: each way it
                    passes at most --rate bytes a second; with
                    --stall-up-after N (--stall-down-after N) it stops
                    passing what the client (the server) sends once N
                    tunnel bytes went that way, and holds the tunnel open
                    until the client hangs up

With --tls-cert and --tls-key it speaks TLS to its clients first (an
https:// proxy).

Prints "faultproxy ready" on stdout once it listens, then one line per
connection on stdout, flushed:
  conn N CONNECT <target> -> <what it did>
  conn N SOCKS <host:port> -> <what it did>
  conn N RELAY -> <what it did>
  conn N held       (before a --delay or --gate wait)
so a test counts attempts by counting lines. Exits after --lifetime
seconds at the latest.

FaultProxy (below) launches it from a test, like the proxies in
proxies.py.
"""

import argparse
import os
import select
import socket
import ssl
import struct
import sys
import threading
import time

MODES = ("close-on-connect", "407", "503", "stall", "200-silence",
         "status-silence", "1xx-silence", "tunnel", "relay", "socks5-map",
         "throttle")
THROTTLE_CHUNK = 16384
SILENCE = {
    "200-silence": b"HTTP/1.1 200 Connection established\r\n\r\n",
    "status-silence": b"HTTP/1.1 200 Connection established\r\n",
    "1xx-silence": b"HTTP/1.1 100 Continue\r\n\r\n",
}
HEAD_MAX = 16384

_out_lock = threading.Lock()
_seq = [0]


def say(line):
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def read_head(s, deadline):
    """Read up to the blank line that ends a request head; bounded in size
    and time. Returns the bytes read (possibly incomplete)."""
    buf = b""
    for _ in range(HEAD_MAX):
        if b"\r\n\r\n" in buf or len(buf) >= HEAD_MAX:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([s], [], [], min(left, 1.0))
        if not r:
            continue
        try:
            c = s.recv(4096)
        except OSError:
            break
        if not c:
            break
        buf += c
    return buf


def target_of(head):
    line = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    parts = line.split(" ")
    if len(parts) >= 2:
        return parts[0] + " " + parts[1]
    return repr(line[:60])


def hold(s, until):
    """Keep s open without answering until the peer closes or until."""
    for _ in range(int(max(0.0, until - time.monotonic()) / 0.2) + 2):
        if time.monotonic() >= until:
            return "held to the end of its lifetime"
        r, _, _ = select.select([s], [], [], 0.2)
        if r:
            try:
                c = s.recv(4096)
            except OSError:
                return "client reset"
            if not c:
                return "client hung up"
    return "held to the end of its lifetime"


def recv_some(s):
    """What s has now (b"" at EOF); a TLS socket may hold more records
    than select() sees."""
    c = s.recv(65536)
    if c and isinstance(s, ssl.SSLSocket):
        for _ in range(64):
            if not s.pending():
                break
            c += s.recv(65536)
    return c


def pipe(a, b, end):
    """Copy both ways until one side closes or until end."""
    for _ in range(1 << 30):
        if time.monotonic() >= end:
            return "lifetime over"
        r, _, _ = select.select([a, b], [], [], 0.5)
        for src in r:
            dst = b if src is a else a
            try:
                c = recv_some(src)
            except OSError:
                return "reset"
            if not c:
                return "closed"
            try:
                dst.sendall(c)
            except OSError:
                return "reset"
    return "lifetime over"


def dial(port):
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def pause(n, opts, end):
    """--delay seconds, or until the --gate file exists: a test that must
    know a connection is held while it does something opens the gate
    itself, however slow the machine. FILE.N opens it for connection N
    alone; FILE.N.close closes that connection instead (False)."""
    if not (opts.delay or opts.gate):
        return True
    say("conn %d held" % n)
    if not opts.gate:
        time.sleep(opts.delay)
        return True
    one = "%s.%d" % (opts.gate, n)
    while time.monotonic() < end:
        if os.path.exists(one + ".close"):
            return False
        if os.path.exists(opts.gate) or os.path.exists(one):
            break
        time.sleep(0.02)
    return True


def tunnel(s, n, what, head, opts, end):
    """CONNECT to a loopback port, then relay until either side ends."""
    target = what.split(" ", 1)[-1]
    host, _, port = target.rpartition(":")
    if host.strip("[]") not in ("127.0.0.1", "localhost", "::1") and \
            not host.endswith(".localhost"):
        s.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        say("conn %d %s -> 403 (not loopback)" % (n, what))
        return
    if opts.dpi and os.path.exists(opts.dpi):
        say("conn %d %s -> 200-silence (dpi)" % (n, what))
        s.sendall(SILENCE["200-silence"])
        say("conn %d stall ended: %s" % (n, hold(s, end)))
        return
    # Only a CONNECT is held (not the harness's check that we listen).
    if not pause(n, opts, end):
        say("conn %d %s -> closed at the gate" % (n, what))
        return
    try:
        u = dial(int(port))
    except (OSError, ValueError) as e:
        s.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        say("conn %d %s -> 502 (%s)" % (n, what, e))
        return
    s.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    say("conn %d %s -> tunnel" % (n, what))
    u.settimeout(None)
    how = pipe(s, u, end)
    u.close()
    say("conn %d tunnel ended: %s" % (n, how))


def hung_up(s, end):
    """Wait, without reading, until the peer of s shuts down its side
    (POLLRDHUP: seen even with unread bytes queued) or until end."""
    p = select.poll()
    p.register(s, select.POLLRDHUP)
    for _ in range(int(max(0.0, end - time.monotonic()) / 0.2) + 2):
        if time.monotonic() >= end or p.poll(200):
            return


def pump(src, dst, n, label, opts, stall_after, ended, end):
    """One way of a throttled tunnel: at most opts.rate bytes a second,
    and nothing more once stall_after bytes went (then the tunnel is held
    until the client hangs up). Ends the tunnel when src closes."""
    t0 = time.monotonic()
    total = 0
    try:
        for _ in range(1 << 30):
            if time.monotonic() >= end or ended.is_set():
                break
            if stall_after is not None and total >= stall_after:
                say("conn %d %s stalled after %d bytes" % (n, label, total))
                # The client is src going up, dst coming down.
                hung_up(src if label == "up" else dst, end)
                say("conn %d %s stall ended" % (n, label))
                break
            want = THROTTLE_CHUNK
            if stall_after is not None:
                want = min(want, stall_after - total)
            if opts.rate:
                want = min(want, max(1, int(opts.rate / 8)))
            r, _, _ = select.select([src], [], [], 0.5)
            if not r:
                continue
            c = src.recv(want)
            if not c:
                break
            if opts.rate:
                # A tunnel that sat idle (a spare) earns no burst: at
                # most a tenth of a second's worth of credit.
                t0 = max(t0, time.monotonic() - 0.1 - total / opts.rate)
            dst.sendall(c)
            total += len(c)
            if opts.rate:
                lag = t0 + total / opts.rate - time.monotonic()
                if lag > 0:
                    time.sleep(lag)
    except OSError:
        pass
    finally:
        ended.set()
        for x in (src, dst):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    return total


def throttle(s, n, what, opts, end):
    """CONNECT to a loopback port, then a slow, maybe stalling, relay."""
    target = what.split(" ", 1)[-1]
    host, _, port = target.rpartition(":")
    if host.strip("[]") not in ("127.0.0.1", "localhost", "::1") and \
            not host.endswith(".localhost"):
        s.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        say("conn %d %s -> 403 (not loopback)" % (n, what))
        return
    try:
        u = dial(int(port))
    except (OSError, ValueError) as e:
        s.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        say("conn %d %s -> 502 (%s)" % (n, what, e))
        return
    s.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    say("conn %d %s -> throttled tunnel" % (n, what))
    u.settimeout(None)
    s.settimeout(None)
    ended = threading.Event()
    down = {}
    th = threading.Thread(target=lambda: down.update(n=pump(
        u, s, n, "down", opts, opts.stall_down_after, ended, end)),
        daemon=True)
    th.start()
    up = pump(s, u, n, "up", opts, opts.stall_up_after, ended, end)
    th.join(max(0.0, end - time.monotonic()))
    u.close()
    say("conn %d tunnel ended: %d bytes up, %d down" % (n, up,
                                                        down.get("n", 0)))


def recv_exact(s, k, deadline):
    buf = b""
    for _ in range(k + 1):
        if len(buf) >= k or time.monotonic() >= deadline:
            break
        r, _, _ = select.select([s], [], [], 0.5)
        if r:
            c = s.recv(k - len(buf))
            if not c:
                break
            buf += c
    return buf


def socks5(s, n, opts, end):
    """RFC 1928, no authentication, CONNECT only; port FROM becomes TO."""
    dl = time.monotonic() + 10.0
    hello = recv_exact(s, 2, dl)
    if not hello:
        say("conn %d closed before a word" % n)
        return
    if len(hello) < 2 or hello[0] != 5:
        say("conn %d SOCKS bad greeting -> closed" % n)
        return
    recv_exact(s, hello[1], dl)
    s.sendall(b"\x05\x00")
    req = recv_exact(s, 4, dl)
    if len(req) < 4 or req[1] != 1:
        say("conn %d SOCKS bad request -> closed" % n)
        return
    if req[3] == 1:
        host = socket.inet_ntoa(recv_exact(s, 4, dl))
    elif req[3] == 3:
        host = recv_exact(s, recv_exact(s, 1, dl)[0], dl).decode("latin-1")
    else:
        host = socket.inet_ntop(socket.AF_INET6, recv_exact(s, 16, dl))
    port = struct.unpack("!H", recv_exact(s, 2, dl))[0]
    what = "SOCKS %s:%d" % (host, port)
    to = opts.map.get(port, port)
    try:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise OSError("not loopback")
        u = dial(to)
    except OSError as e:
        s.sendall(b"\x05\x05\x00\x01" + bytes(6))
        say("conn %d %s -> refused (%s)" % (n, what, e))
        return
    s.sendall(b"\x05\x00\x00\x01" + bytes(6))
    say("conn %d %s -> tunnel to port %d" % (n, what, to))
    u.settimeout(None)
    how = pipe(s, u, end)
    u.close()
    say("conn %d tunnel ended: %s" % (n, how))


def relay(s, n, opts, end):
    first = b""
    r, _, _ = select.select([s], [], [], 10.0)
    if r:
        first = recv_some(s)
    if not first:
        say("conn %d closed before a word" % n)
        return
    say("conn %d RELAY -> port %d after %s" % (
        n, opts.target, "the gate" if opts.gate else "%.1fs" % opts.delay))
    if not pause(n, opts, end):
        say("conn %d closed at the gate" % n)
        return
    u = dial(opts.target)
    u.sendall(first)
    u.settimeout(None)
    how = pipe(s, u, end)
    u.close()
    say("conn %d relay ended: %s" % (n, how))


def serve(s, n, opts, end):
    mode = opts.mode
    try:
        if opts.tls is not None:
            s.settimeout(10)
            try:
                s = opts.tls.wrap_socket(s, server_side=True)
            except (OSError, ssl.SSLError) as e:
                say("conn %d TLS handshake failed: %s" % (n, e))
                return
            s.settimeout(None)
        if mode == "relay":
            relay(s, n, opts, end)
            return
        if mode == "socks5-map":
            socks5(s, n, opts, end)
            return
        head = read_head(s, time.monotonic() + 10.0)
        what = target_of(head)
        if mode == "close-on-connect":
            say("conn %d %s -> closed" % (n, what))
        elif mode == "407":
            # Logged before the answer: a test counts CONNECTs as soon as
            # the sidecar has answered its bot, however slow this thread.
            say("conn %d %s -> 407" % (n, what))
            body = b"proxy authentication required\n"
            s.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                      b"Proxy-Authenticate: Basic realm=\"faultproxy\"\r\n"
                      b"Content-Type: text/plain\r\n"
                      b"Content-Length: %d\r\n"
                      b"Connection: close\r\n\r\n%s" % (len(body), body))
        elif mode == "503":
            say("conn %d %s -> 503" % (n, what))
            body = b"service unavailable\n"
            s.sendall(b"HTTP/1.1 503 Service Unavailable\r\n"
                      b"Content-Type: text/plain\r\n"
                      b"Content-Length: %d\r\n"
                      b"Connection: close\r\n\r\n%s" % (len(body), body))
        elif mode == "stall" or mode in SILENCE:
            say("conn %d %s -> %s" % (n, what, "stalled" if mode == "stall"
                                      else mode))
            s.sendall(SILENCE.get(mode, b""))
            how = hold(s, end)
            say("conn %d stall ended: %s" % (n, how))
        elif mode == "tunnel":
            tunnel(s, n, what, head, opts, end)
        elif mode == "throttle":
            throttle(s, n, what, opts, end)
    except OSError as e:
        say("conn %d error: %s" % (n, e))
    finally:
        try:
            s.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mode", choices=MODES, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--lifetime", type=float, default=600.0)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--gate")
    ap.add_argument("--dpi")
    ap.add_argument("--target", type=int, default=0)
    ap.add_argument("--map", action="append", default=[])
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--rate", type=float, default=0.0)
    ap.add_argument("--stall-up-after", type=int)
    ap.add_argument("--stall-down-after", type=int)
    a = ap.parse_args()
    a.map = dict(tuple(int(x) for x in m.split("=", 1)) for m in a.map)
    a.tls = None
    if a.tls_cert:
        a.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        a.tls.load_cert_chain(a.tls_cert, a.tls_key)

    end = time.monotonic() + a.lifetime
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((a.host, a.port))
    ls.listen(128)
    say("faultproxy ready")
    for _ in range(1 << 30):
        left = end - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([ls], [], [], min(left, 1.0))
        if not r:
            continue
        try:
            s, _ = ls.accept()
        except OSError:
            continue
        _seq[0] += 1
        threading.Thread(target=serve, args=(s, _seq[0], a, end),
                         daemon=True).start()
    ls.close()
    os._exit(0)


# ------------------------------------------------------------ launcher

class FaultProxy:
    """Runs this file as its own process on a free loopback port."""

    def __init__(self, workdir, mode, lifetime=600, delay=0, target=None,
                 port_map=None, tls=None, gate=False, rate=None,
                 stall_up_after=None, stall_down_after=None, dpi=False):
        """tls: (cert, key) to be an https:// proxy; port_map: {from: to}
        for socks5-map; target: the port a relay forwards to; gate: a
        tunnel or relay holds each connection until open_gate(); rate,
        stall_up_after, stall_down_after: see throttle above; dpi: a
        tunnel falls silent after its 200 from set_dpi(True) on."""
        import harness
        self._h = harness
        self.mode = mode
        self.port = harness.alloc_port()
        self.name = "faultproxy-%s-%d" % (mode, self.port)
        self.scheme = {"socks5-map": "socks5"}.get(mode, "https" if tls
                                                   else "http")
        argv = [harness.PYTHON, os.path.abspath(__file__), "--port",
                self.port, "--mode", mode, "--lifetime", lifetime,
                "--delay", delay]
        if target is not None:
            argv += ["--target", target]
        for k, v in (port_map or {}).items():
            argv += ["--map", "%d=%d" % (k, v)]
        if tls is not None:
            argv += ["--tls-cert", tls[0], "--tls-key", tls[1]]
        for opt, v in (("--rate", rate), ("--stall-up-after", stall_up_after),
                       ("--stall-down-after", stall_down_after)):
            if v is not None:
                argv += [opt, v]
        self.gate = None
        if gate:
            self.gate = os.path.join(workdir, self.name + ".gate")
            argv += ["--gate", self.gate]
        self.dpi = None
        if dpi:
            self.dpi = os.path.join(workdir, self.name + ".dpi")
            argv += ["--dpi", self.dpi]
        self.proc = harness.Proc(argv, workdir, self.name)

    def set_dpi(self, on):
        """From now on, new tunnels fall silent after their 200 (on), or
        work again."""
        if on:
            with open(self.dpi, "w"):
                pass
        elif os.path.exists(self.dpi):
            os.unlink(self.dpi)

    def open_gate(self, n=None, close=False):
        """Let the held connections (and all later ones) go on; with n,
        connection n alone (close: closed instead, without a word)."""
        path = self.gate
        if n is not None:
            path = "%s.%d%s" % (self.gate, n, ".close" if close else "")
        with open(path, "w"):
            pass

    def held_conns(self):
        """The numbers of the connections held at the gate so far."""
        return [int(l.split()[1]) for l in self.events()
                if l.endswith(" held")]

    def held(self):
        """How many connections were held by --delay or --gate."""
        return sum(1 for l in self.events() if l.endswith(" held"))

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    def start(self, timeout=10.0):
        self.proc.start()
        ok = self._h.wait_until(lambda: self.proc.poll() is not None or
                                "faultproxy ready" in self.proc.stdout(),
                                timeout, 0.02)
        if not (ok and self.proc.alive() and
                self._h.port_accepts("127.0.0.1", self.port)):
            st, _ = self.proc.stop(timeout=2)
            raise RuntimeError("%s did not start (exit %r):\n%s" %
                               (self.name, st, self.proc.stderr()))
        return self

    def stop(self):
        st, _ = self.proc.stop(timeout=5.0)
        return st

    def events(self):
        """The per-connection lines printed so far."""
        return [l for l in self.proc.stdout().splitlines()
                if l.startswith("conn ")]

    def stalls(self):
        """How many tunnel directions a throttle has stalled."""
        return sum(1 for l in self.events() if " stalled after " in l)

    def connects(self):
        """How many CONNECT requests it has seen."""
        return sum(1 for l in self.events() if " CONNECT " in l)

    def attempts(self):
        """How many connections it took: a CONNECT, SOCKS or relay each
        (or a TLS handshake that failed)."""
        return sum(1 for l in self.events() if " -> " in l or
                   "TLS handshake failed" in l)

    def log(self):
        return self.proc.stdout() + self.proc.stderr()

    def __repr__(self):
        return "faultproxy(%s, %s)" % (self.mode, self.url)


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda s, f: os._exit(0))
    main()
