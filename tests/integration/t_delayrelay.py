#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""bench/delayrelay, the WAN benchmark's delay relay, does what the
benchmark relies on: bytes arrive whole and in order both ways, never
sooner than the delay and the far side's handshake allow (lower bounds
only: a loaded machine can only make them later), an EOF becomes a
half-close each way, a target that does not read holds the relay to its
byte bound while the sender waits, a refused target closes the client, and
closed connections leave no descriptors behind. How close the delays come
to the ideal is measured by `make bench` (BENCHMARKS.md), not here."""

import hashlib
import json
import os
import random
import socket
import sys
import threading
import time

TESTS = os.environ.get("TESTS_SRCDIR") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TESTS, "lib"))

import harness  # noqa: E402
from harness import Proc, alloc_port, patient, wait_until  # noqa: E402

D_MS = 40               # one-way delay of the timed relay
BOUND = 65536           # -b of the back-pressure relay
READMAX = 16384         # one read of the relay (RELAY_READMAX)


def relay_bin():
    p = os.environ.get("DELAYRELAY_BIN")
    if p:
        return p
    return os.path.join(os.path.dirname(harness.sidecar_bin()), "bench",
                        "delayrelay")


class Target:
    """A loopback TCP server; each connection runs handler(sock)."""

    def __init__(self, handler):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(c,),
                             daemon=True).start()

    def handle(self, c):
        try:
            self.handler(c)
        except OSError:
            pass
        finally:
            c.close()


def echo_then_bye(c):
    """Echo until EOF, then send b"bye" and close: a half-close test."""
    while True:
        b = c.recv(65536)
        if not b:
            break
        c.sendall(b)
    c.sendall(b"bye")


class Relay:
    exits = []          # (name, exit status) of every relay stopped

    def __init__(self, wd, target_port, delay_ms, bound=None, name="relay"):
        self.port = alloc_port()
        argv = [relay_bin(), "-l", "127.0.0.1:%d" % self.port,
                "-t", "127.0.0.1:%d" % target_port, "-d", str(delay_ms)]
        if bound:
            argv += ["-b", str(bound)]
        self.proc = Proc(argv, wd, name)
        self.name = name

    def start(self):
        self.proc.start()
        if not wait_until(lambda: "delayrelay ready" in self.proc.stdout()
                          or not self.proc.alive(), 10):
            raise RuntimeError("delayrelay did not start: " +
                               self.proc.stderr())
        return self

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port),
                                     timeout=patient(10))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def stop(self):
        st, _ = self.proc.stop()
        Relay.exits.append((self.name, st))
        if st != 0:
            print("# %s stderr:\n# %s" % (self.name, "\n# ".join(
                self.proc.stderr().splitlines()[-30:])))
        lines = [ln for ln in self.proc.stdout().splitlines()
                 if ln.startswith("{")]
        return st, (json.loads(lines[-1]) if lines else {})


def recv_exactly(s, n):
    out = bytearray()
    while len(out) < n:
        b = s.recv(min(65536, n - len(out)))
        if not b:
            break
        out += b
    return bytes(out)


def recv_all(s):
    out = bytearray()
    while True:
        b = s.recv(65536)
        if not b:
            return bytes(out)
        out += b


def part_order_and_delay(t, wd):
    """Timing lower bounds, 2 MB echoed whole and in order, half-close."""
    echo = Target(echo_then_bye)
    r = Relay(wd, echo.port, D_MS, name="relay-echo").start()
    t0 = time.monotonic()
    s = r.connect()
    s.sendall(b"x")
    first = recv_exactly(s, 1)
    t_first = (time.monotonic() - t0) * 1000
    t1 = time.monotonic()
    s.sendall(b"y")
    later = recv_exactly(s, 1)
    t_later = (time.monotonic() - t1) * 1000
    t.ok(first == b"x" and t_first >= 4 * D_MS,
         "connect + first echo no sooner than 2 RTT (%d ms): %.1f ms"
         % (4 * D_MS, t_first))
    t.ok(later == b"y" and t_later >= 2 * D_MS,
         "a later echo no sooner than 1 RTT (%d ms): %.1f ms"
         % (2 * D_MS, t_later))

    rnd = random.Random(13)
    data = bytes(rnd.getrandbits(8) for _ in range(1 << 16)) * 32  # 2 MiB
    got = {}

    def reader():
        got["echo"] = recv_all(s)
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    off = 0
    while off < len(data):
        n = rnd.randint(1, 40000)
        s.sendall(data[off:off + n])
        off += n
    s.shutdown(socket.SHUT_WR)
    th.join(patient(60))
    echo_back = got.get("echo", b"")
    t.ok(echo_back == data + b"bye",
         "2 MiB in random-sized writes came back whole and in order, then "
         "the target's reply to our EOF, then EOF (%d bytes, sha256 %s)"
         % (len(echo_back), hashlib.sha256(echo_back).hexdigest()[:12]))
    s.close()
    st, tot = r.stop()
    t.ok(st == 0 and tot.get("accepted") == 1 and tot.get("resets") == 0 and
         tot.get("bytes_up") == len(data) + 2,
         "SIGTERM: exit 0 and totals (1 connection, no reset, every byte "
         "up counted): %r" % tot)


def part_backpressure(t, wd):
    """A target that does not read: the relay holds at most its bound."""
    go = threading.Event()
    sink = {"bytes": 0, "hash": hashlib.sha256()}

    def slow_sink(c):
        go.wait(patient(60))
        while True:
            b = c.recv(65536)
            if not b:
                break
            sink["bytes"] += len(b)
            sink["hash"].update(b)
        c.sendall(b"done")
    tgt = Target(slow_sink)
    r = Relay(wd, tgt.port, 1, bound=BOUND, name="relay-bp").start()
    s = r.connect()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
    s.setblocking(False)
    block = os.urandom(65536)
    sent, h = 0, hashlib.sha256()
    # Push until nothing more goes for a while: the relay stopped reading.
    stalled_since = None
    limit = 256 << 20
    while sent < limit:
        try:
            n = s.send(block)
            h.update(block[:n])
            sent += n
            stalled_since = None
        except BlockingIOError:
            now = time.monotonic()
            stalled_since = stalled_since or now
            if now - stalled_since > 1.0:
                break
            time.sleep(0.01)
    t.ok(sent < limit, "a sender to a target that does not read is held "
         "back (%d KiB went before it blocked)" % (sent >> 10))
    go.set()
    s.setblocking(True)
    s.shutdown(socket.SHUT_WR)
    reply = recv_all(s)
    s.close()
    t.ok(reply == b"done" and sink["bytes"] == sent and
         sink["hash"].hexdigest() == h.hexdigest(),
         "once the target reads, all %d bytes arrive in order" % sent)
    st, tot = r.stop()
    held = tot.get("held_max", -1)
    t.ok(0 < held <= BOUND + READMAX,
         "the relay never held more than its bound plus one read: %d bytes "
         "(bound %d)" % (held, BOUND))


def part_close(t, wd):
    """A refused target closes the client; no descriptor outlives a
    connection, whichever side closes first."""
    r = Relay(wd, harness.closed_port(), 1, name="relay-refused").start()
    s = None
    try:
        # The reset may come before our connect() has returned.
        s = r.connect()
        s.sendall(b"hello")
        b = s.recv(10)
    except (ConnectionResetError, BrokenPipeError):
        b = b""
    t.ok(b == b"", "a refused target: the client is closed")
    if s is not None:
        s.close()
    r.stop()

    def greet_close(c):
        c.sendall(b"hi")
    echo = Target(echo_then_bye)
    greet = Target(greet_close)
    re_ = Relay(wd, echo.port, 1, name="relay-fds-echo").start()
    rg = Relay(wd, greet.port, 1, name="relay-fds-greet").start()
    base = (re_.fds(), rg.fds())
    ok = True
    for i in range(30):
        s = re_.connect()            # the client closes first
        s.sendall(b"ping")
        ok &= recv_exactly(s, 4) == b"ping"
        s.close()
        s = rg.connect()             # the target closes first
        ok &= recv_all(s) == b"hi"
        s.close()
    back = wait_until(lambda: (re_.fds(), rg.fds()) == base, 10)
    t.ok(ok and back, "30 connections each way closed by either side: "
         "replies right and the relays' descriptors back to %r (%r)"
         % (base, (re_.fds(), rg.fds())))
    held = re_.connect()             # still open, bytes in flight, at exit
    held.sendall(b"x" * 1000)
    re_.stop()
    rg.stop()
    held.close()


def main():
    t = harness.Tap()
    t.plan(10)
    wd = harness.make_tempdir("tgsidecar-delayrelay-")
    t.run_parts([part_order_and_delay, part_backpressure, part_close], wd)
    t.ok(len(Relay.exits) == 5 and all(st == 0 for _, st in Relay.exits),
         "every relay exited 0 on SIGTERM with connections open or "
         "closed (under ASan: no leak, no error): %r" % Relay.exits)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
