#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""An HTTP proxy that fails on purpose, for tgsidecar's failover and retry
tests. Standard library only; it never tunnels anything.

  faultproxy.py --port P --mode MODE [--lifetime 600]

Modes, applied to every connection:
  close-on-connect  read the CONNECT request, then close the connection
                    (FIN) without a word
  407               answer 407 Proxy Authentication Required, forever
                    (whatever credentials come)
  503               answer 503 Service Unavailable to the CONNECT
  stall             read the CONNECT request and never answer, until the
                    client hangs up (at most --lifetime)

Prints "faultproxy ready" on stdout once it listens, then one line per
connection on stdout, flushed:
  conn N CONNECT <target> -> <what it did>
so a test counts CONNECT attempts by counting lines. Exits after
--lifetime seconds at the latest.

FaultProxy (below) launches it from a test, like the proxies in
proxies.py.
"""

import argparse
import os
import select
import socket
import sys
import threading
import time

MODES = ("close-on-connect", "407", "503", "stall")
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


def serve(s, n, mode, end):
    try:
        head = read_head(s, time.monotonic() + 10.0)
        what = target_of(head)
        if mode == "close-on-connect":
            say("conn %d %s -> closed" % (n, what))
            s.close()
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
            s.close()
        elif mode == "503":
            say("conn %d %s -> 503" % (n, what))
            body = b"service unavailable\n"
            s.sendall(b"HTTP/1.1 503 Service Unavailable\r\n"
                      b"Content-Type: text/plain\r\n"
                      b"Content-Length: %d\r\n"
                      b"Connection: close\r\n\r\n%s" % (len(body), body))
            s.close()
        elif mode == "stall":
            say("conn %d %s -> stalled" % (n, what))
            how = hold(s, end)
            say("conn %d stall ended: %s" % (n, how))
            s.close()
    except OSError as e:
        say("conn %d error: %s" % (n, e))
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
    a = ap.parse_args()

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
        threading.Thread(target=serve, args=(s, _seq[0], a.mode, end),
                         daemon=True).start()
    ls.close()
    os._exit(0)


# ------------------------------------------------------------ launcher

class FaultProxy:
    """Runs this file as its own process on a free loopback port."""

    scheme = "http"

    def __init__(self, workdir, mode, lifetime=600):
        import harness
        self._h = harness
        self.mode = mode
        self.port = harness.alloc_port()
        self.name = "faultproxy-%s-%d" % (mode, self.port)
        self.proc = harness.Proc([harness.PYTHON, os.path.abspath(__file__),
                                  "--port", self.port, "--mode", mode,
                                  "--lifetime", lifetime],
                                 workdir, self.name)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

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

    def connects(self):
        """How many CONNECT requests it has seen."""
        return sum(1 for l in self.events() if " CONNECT " in l)

    def log(self):
        return self.proc.stdout() + self.proc.stderr()

    def __repr__(self):
        return "faultproxy(%s, %s)" % (self.mode, self.url)


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda s, f: os._exit(0))
    main()
