#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""A CONNECT proxy that lets idle tunnels go stale, the way corporate proxies
and middleboxes do: it forgets a tunnel that has been idle for longer than
--idle seconds, but does not close it. Bytes that arrive on a stale tunnel,
in either direction, are dropped on the floor; both sockets stay open, so
the client only sees a request that never gets an answer.

  staleproxy.py --port P --control-port C [--idle 2] [--lifetime 900]

"Idle" means: no byte has moved in either direction for more than --idle
seconds. The proxy cannot tell a pooled connection resting between two
requests from one whose request is waiting for an answer, so a long poll
that outlasts the limit goes stale too, as it would behind a real proxy
with that limit: tests scale the long-poll timeout below --idle, the way a
real deployment keeps its polls (at most 50 s) under the proxy's limit
(minutes), while a pooled connection can rest for longer than that.

Only CONNECT to 127.0.0.1, ::1 or localhost is tunnelled (403 otherwise).

Plain-HTTP control port C (127.0.0.1): GET /stats answers JSON:
  tunnels   tunnels established (one per CONNECT that got 200)
  open      tunnels not yet closed
  stale     tunnels that went stale (data arrived after the idle limit)
  dropped_bytes, refused, list (per tunnel: id, target, opened, closed,
  stale_at, up, down, dropped; times are time.monotonic()).
Prints "staleproxy ready" on stdout once both ports listen; logs one line
per tunnel event on stderr. Standard library only. Exits after --lifetime
seconds at the latest.
"""

import argparse
import http.server
import json
import os
import select
import socket
import socketserver
import sys
import threading
import time

ALLOWED_HOSTS = ("127.0.0.1", "::1", "localhost")
HEAD_MAX = 8192
BUF = 65536


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.seq = 0
        self.tunnels = 0
        self.stale = 0
        self.dropped = 0
        self.refused = 0
        self.list = []          # last 1000 tunnels


ST = Stats()
DEADLINE = [0.0]


def log(msg):
    sys.stderr.write("%.6f %s\n" % (time.monotonic(), msg))
    sys.stderr.flush()


def read_head(c):
    """The CONNECT request head and any bytes after it."""
    buf = b""
    c.settimeout(10)
    for _ in range(HEAD_MAX):
        if b"\r\n\r\n" in buf:
            break
        d = c.recv(4096)
        if not d:
            return None, b""
        buf += d
        if len(buf) > HEAD_MAX:
            return None, b""
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head.decode("latin-1"), rest


def parse_target(head):
    line = head.split("\r\n", 1)[0]
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != "CONNECT":
        return None, None, 405
    hp = parts[1]
    if hp.startswith("["):
        host, _, port = hp[1:].partition("]:")
    else:
        host, _, port = hp.rpartition(":")
    try:
        port = int(port)
    except ValueError:
        return None, None, 400
    if host not in ALLOWED_HOSTS:
        return None, None, 403
    return host, port, 200


def refuse(c, code):
    with ST.lock:
        ST.refused += 1
    reason = {400: "Bad Request", 403: "Forbidden", 405: "Method Not Allowed",
              502: "Bad Gateway"}.get(code, "Error")
    try:
        c.sendall(b"HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                  % (code, reason.encode()))
    except OSError:
        pass


def tunnel(c, idle):
    try:
        head, rest = read_head(c)
    except OSError:
        return
    if head is None:
        return
    host, port, code = parse_target(head)
    if code != 200:
        log("refused %r: %d" % (head.split("\r\n", 1)[0], code))
        return refuse(c, code)
    try:
        u = socket.create_connection((host, port), timeout=5)
    except OSError as e:
        log("connect %s:%d failed: %s" % (host, port, e))
        return refuse(c, 502)
    with ST.lock:
        ST.seq += 1
        ST.tunnels += 1
        t = {"id": ST.seq, "target": "%s:%d" % (host, port),
             "opened": time.monotonic(), "closed": None, "stale_at": None,
             "up": 0, "down": 0, "dropped": 0}
        ST.list.append(t)
        del ST.list[:-1000]
    log("tunnel %d: open to %s" % (t["id"], t["target"]))
    try:
        c.settimeout(None)
        u.settimeout(None)
        for s in (c, u):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        last = time.monotonic()
        if rest:
            u.sendall(rest)
            t["up"] += len(rest)
        socks = [c, u]
        max_iter = int(max(1.0, DEADLINE[0] - time.monotonic()) / 0.25) * 8 + 100
        for _ in range(max_iter):
            if time.monotonic() >= DEADLINE[0] or not socks:
                break
            r, _, _ = select.select(socks, [], [], 0.25)
            for s in r:
                try:
                    d = s.recv(BUF)
                except OSError:
                    d = b""
                now = time.monotonic()
                if not d:
                    if s is c or t["stale_at"] is None:
                        return          # client gone, or a live tunnel ends
                    # The server hung up on a stale tunnel: the client is
                    # never told. Keep its socket open until it gives up.
                    socks = [c]
                    u.close()
                    continue
                if t["stale_at"] is None and now - last > idle:
                    t["stale_at"] = now
                    with ST.lock:
                        ST.stale += 1
                    log("tunnel %d: stale after %.1f s idle; dropping from now on"
                        % (t["id"], now - last))
                if t["stale_at"] is not None:
                    t["dropped"] += len(d)
                    with ST.lock:
                        ST.dropped += len(d)
                    continue
                if s is c:
                    u.sendall(d)
                    t["up"] += len(d)
                else:
                    c.sendall(d)
                    t["down"] += len(d)
                last = now
    except OSError as e:
        log("tunnel %d: %s" % (t["id"], e))
    finally:
        t["closed"] = time.monotonic()
        for s in (c, u):
            try:
                s.close()
            except OSError:
                pass
        log("tunnel %d: closed (up %d, down %d, dropped %d)"
            % (t["id"], t["up"], t["down"], t["dropped"]))


class Control(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        if self.path != "/stats":
            body, code = b'{"error": "not found"}', 404
        else:
            with ST.lock:
                o = {"tunnels": ST.tunnels, "stale": ST.stale,
                     "dropped_bytes": ST.dropped, "refused": ST.refused,
                     "open": sum(1 for t in ST.list if t["closed"] is None),
                     "list": [dict(t) for t in ST.list],
                     "now": time.monotonic()}
            body, code = json.dumps(o).encode(), 200
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ControlServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--control-port", type=int, required=True)
    ap.add_argument("--idle", type=float, default=2.0)
    ap.add_argument("--lifetime", type=float, default=900.0)
    a = ap.parse_args()
    DEADLINE[0] = time.monotonic() + a.lifetime

    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", a.port))
    ls.listen(128)
    ls.settimeout(0.25)
    ctl = ControlServer(("127.0.0.1", a.control_port), Control)
    threading.Thread(target=ctl.serve_forever, daemon=True).start()
    print("staleproxy ready", flush=True)
    log("listening on 127.0.0.1:%d, idle limit %.1f s, control 127.0.0.1:%d"
        % (a.port, a.idle, a.control_port))
    # Bounded by the deadline alone: accepts must not use up the budget.
    while time.monotonic() < DEADLINE[0]:
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=tunnel, args=(c, a.idle), daemon=True).start()
    log("lifetime over, exiting")
    os._exit(0)


# ------------------------------------------------------------ test launcher

class StaleProxy:
    """Starts this file as a process on free ports; stopped by pid."""

    def __init__(self, workdir, idle=2.0, name="staleproxy", lifetime=900):
        import harness
        self.h = harness
        self.port = harness.alloc_port()
        self.control_port = harness.alloc_port()
        self.proc = harness.Proc([harness.PYTHON, os.path.abspath(__file__),
                                  "--port", self.port,
                                  "--control-port", self.control_port,
                                  "--idle", idle, "--lifetime", lifetime],
                                 workdir, name)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        self.proc.start()
        ok = self.h.wait_until(lambda: self.proc.poll() is not None
                               or "staleproxy ready" in self.proc.stdout(),
                               10, 0.02)
        if not (ok and self.proc.alive()
                and self.h.port_accepts("127.0.0.1", self.port)):
            raise RuntimeError("staleproxy did not start:\n" + self.proc.stderr())
        return self

    def stats(self):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.control_port,
                                       timeout=self.h.patient(10))
        try:
            c.request("GET", "/stats")
            r = c.getresponse()
            return json.loads(r.read())
        finally:
            c.close()

    def stop(self):
        return self.proc.stop()

    def log(self):
        return self.proc.stderr()


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda s, f: os._exit(0))
    main()
