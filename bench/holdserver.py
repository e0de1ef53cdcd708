#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""A TLS Bot API stand-in for the benchmarks that can hold many long polls.

  holdserver.py --port P --cert PEM --key KEY --stats FILE [--max-hold S]

asyncio, standard library only, one connection per request (it always
answers "Connection: close"):

- .../getUpdates is held until SIGUSR1, its own timeout= (as the Bot
  API answers an idle poll) or --max-hold seconds, then answered
  {"ok":true,"result":[]}; each SIGUSR1 answers the polls held at that
  moment, and later ones are held again;
- any other request has its body read to the end (Content-Length or
  chunked) and is answered {"ok":true,"result":{"bytes":N}}.

Every 100 ms it writes {"held":..,"served":..,"open":..,"bytes":..,
"resumed": connections that resumed a TLS session} to
--stats (atomically, by rename), and prints "holdserver ready" once it
listens. It raises its own RLIMIT_NOFILE as far as the hard limit allows.
"""

import argparse
import asyncio
import json
import os
import re
import resource
import signal
import ssl
import sys

stats = {"held": 0, "served": 0, "open": 0, "bytes": 0, "errors": 0,
         "resumed": 0}
release = None
max_hold = None


def release_held():
    """Answer the polls held now; the next ones wait for the next call."""
    global release
    held, release = release, asyncio.Event()
    held.set()


async def read_body(reader, headers):
    n = 0
    te = headers.get("transfer-encoding", "").lower()
    if "chunked" in te:
        while True:
            line = await reader.readline()
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                return n
            left = size
            while left > 0:
                b = await reader.read(min(left, 1 << 16))
                if not b:
                    raise ConnectionError("EOF in chunk")
                left -= len(b)
                n += len(b)
            await reader.readline()
    left = int(headers.get("content-length", "0") or 0)
    while left > 0:
        b = await reader.read(min(left, 1 << 16))
        if not b:
            raise ConnectionError("EOF in body")
        left -= len(b)
        n += len(b)
    return n


async def handle(reader, writer):
    stats["open"] += 1
    tls = writer.get_extra_info("ssl_object")
    if tls is not None and tls.session_reused:
        stats["resumed"] += 1
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        n = await read_body(reader, headers)
        stats["bytes"] += n
        path = target.split("?", 1)[0]
        if path.endswith("/getUpdates"):
            stats["held"] += 1
            m = re.search(r"[?&]timeout=(\d+)", target)
            hold = min(int(m.group(1)), max_hold) if m else max_hold
            try:
                await asyncio.wait_for(release.wait(), hold)
            except asyncio.TimeoutError:
                pass
            finally:
                stats["held"] -= 1
            body = b'{"ok":true,"result":[]}'
        else:
            body = b'{"ok":true,"result":{"bytes":%d}}' % n
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                     % (len(body), body))
        await writer.drain()
        stats["served"] += 1
    except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError,
            ValueError, OSError):
        stats["errors"] += 1
    finally:
        stats["open"] -= 1
        try:
            writer.close()
        except Exception:
            pass


async def write_stats(path):
    tmp = path + ".tmp"
    while True:
        with open(tmp, "w") as f:
            json.dump(stats, f)
        os.replace(tmp, path)
        await asyncio.sleep(0.1)


async def main(a):
    global release, max_hold
    release = asyncio.Event()
    max_hold = a.max_hold
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, release_held)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    server = await asyncio.start_server(handle, "127.0.0.1", a.port, ssl=ctx,
                                        backlog=4096,
                                        ssl_handshake_timeout=120)
    asyncio.ensure_future(write_stats(a.stats))
    print("holdserver ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--stats", required=True)
    p.add_argument("--max-hold", type=float, default=300.0)
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        asyncio.run(main(a))
    except (KeyboardInterrupt, SystemExit):
        pass
