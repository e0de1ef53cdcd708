#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""A TLS stand-in for the Telegram Bot API, for tgsidecar's integration
tests. Standard library only.

  standin.py --port P --control-port C --cert CERT --key KEY

TLS port P (127.0.0.1, or --host H, e.g. ::1) serves /bot<token>/<method>
(and the test environment's /bot<token>/test/<method>, recorded with "test": true) and
/file/bot<token>/<path> over HTTP/1.1 with keep-alive; with --prefix /t
all of them under /t only (a request outside it is recorded with
"outside_prefix": true and gets 404); ?_status=N on any
method answers status N (a Bot API error body, or ok for 2xx; with
&_retry_after=K its parameters.retry_after is K). It counts
accepted TCP connections and records when each opened and closed
(time.monotonic, comparable across processes on Linux).
The stats give each connection's request count: per_conn_max (the most
requests any one connection carried) and conns_used (those with one);
busy_conns are open ones a request head came on, idle_conns open ones
with none (a spare the sidecar opened ahead).

Plain-HTTP control port C (127.0.0.1):
  GET  /_stats   counters and the last requests, as JSON (with "sni": the
                 server name of each handshake, null when none was sent)
  POST /_inject  queue an update for getUpdates: a full update object, or
                 {"text": "...", "from_id": N}
  POST /_drop_idle  close every open connection that carried no request
  POST /_reset   forget requests, updates, files, counters and faults
  POST /_file    {"path": P, "data": TEXT}: serve TEXT (UTF-8) as the file
                 at P, the file_path as a server hands it out; a download
                 matches it as sent or percent-decoded
  POST /_fault   {"method": M, "mode": MODE, "count": N}: the next N requests
                 for method M ("file" for downloads) are read in full and
                 recorded, then get MODE instead of an answer (see FAULTS)
  POST /_limits  {"chat_calls": N, "window": W, "retry_after": K}: Telegram's
                 flood limits, per bot and chat (see LIMITS); {} turns them
                 off (the default)
Prints "standin ready" on stdout once both ports listen.
"""

import argparse
import collections
import hashlib
import http.server
import json
import os
import re
import select
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

BOT_ID = 123456
PREFIX = ""                             # --prefix: the API under a path
SECOND_BOT_ID = 246810      # another bot on the same sidecar (t_onebot.py)
HOLD_CAP = 50.0
BIG_SIZE = 20 * 1024 * 1024
MAX_REQUESTS_KEPT = 200
MAX_BODY = 64 * 1024 * 1024


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.reset()

    def reset(self):
        # called with or without the lock; only touches plain attributes
        self.connections = 0
        self.conn_seq = getattr(self, "conn_seq", 0)
        self.open = getattr(self, "open", 0)
        self.conns = {}                 # id -> {"open": t, "close": t,
                                        #        "requests": n}
        # Requests per TCP connection: the sidecar must never send two on
        # one (spares add connections that carry none).
        self.per_conn_max = 0
        self.conns_used = 0             # connections that carried one
        self.closed_times = collections.deque(maxlen=1000)
        self.hangups = collections.deque(maxlen=200)
        self.requests = collections.deque(maxlen=MAX_REQUESTS_KEPT)
        self.updates = []
        self.update_seq = 0
        self.waiting_polls = 0
        self.polls = {}                 # token -> object of running poll
        self.conflicts = 0
        self.tls_failures = 0
        self.tls_resumed = 0
        self.tls_errors = collections.deque(maxlen=20)
        self.sni = collections.deque(maxlen=200)  # per handshake, or None
        self.files = {}                 # file_id -> (path, bytes)
        self.file_seq = 0
        self.message_seq = 0


S = State()
_big = None
_big_lock = threading.Lock()


def big_bytes():
    global _big
    with _big_lock:
        if _big is None:
            buf = bytearray()
            i = 0
            while len(buf) < BIG_SIZE:
                buf += hashlib.sha256(b"tgsidecar-big-%d" % i).digest()
                i += 1
            _big = bytes(buf[:BIG_SIZE])
        return _big


def log(msg):
    sys.stderr.write("%.6f %s\n" % (time.monotonic(), msg))
    sys.stderr.flush()


def api_error(code, desc, params=None):
    o = {"ok": False, "error_code": code, "description": desc}
    if params:
        o["parameters"] = params
    return code, o


def api_ok(result):
    return 200, {"ok": True, "result": result}


# ------------------------------------------------------------ body parsing

def answer_status(code):
    """Any status a test asks for, with a body the Bot API would give."""
    if 200 <= code < 300:
        return code, {"ok": True, "result": True}
    return api_error(code, "status %d as asked" % code)


def parse_multipart(body, ctype):
    """Small multipart/form-data splitter. Returns (fields, files) where
    files maps name -> (filename, bytes). O(n) with bytes.find."""
    boundary = None
    for p in ctype.split(";")[1:]:
        k, _, v = p.strip().partition("=")
        if k.strip().lower() == "boundary":
            boundary = v.strip().strip('"')
    if not boundary:
        raise ValueError("no boundary")
    delim = b"--" + boundary.encode("latin-1")
    fields, files = {}, {}
    pos = body.find(delim)
    if pos < 0:
        raise ValueError("no first boundary")
    for _ in range(10000):
        pos += len(delim)
        if body[pos:pos + 2] == b"--":
            break
        if body[pos:pos + 2] != b"\r\n":
            raise ValueError("bad boundary line")
        pos += 2
        hend = body.find(b"\r\n\r\n", pos)
        if hend < 0:
            raise ValueError("unterminated part headers")
        headers = {}
        for line in bytes(body[pos:hend]).decode("utf-8", "replace").split("\r\n"):
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        nxt = body.find(b"\r\n" + delim, hend + 4)
        if nxt < 0:
            raise ValueError("unterminated part")
        content = bytes(body[hend + 4:nxt])
        name, filename = None, None
        for p in headers.get("content-disposition", "").split(";")[1:]:
            k, _, v = p.strip().partition("=")
            v = v.strip()
            if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
                v = v[1:-1]
            if k.strip().lower() == "name":
                name = v
            elif k.strip().lower() == "filename":
                filename = v
        if name is not None:
            if filename is not None:
                files[name] = (filename, content)
            else:
                fields[name] = content.decode("utf-8", "replace")
        pos = nxt + 2
    else:
        raise ValueError("too many parts")
    return fields, files


def parse_params(query, body, ctype):
    """As telegram-bot-api reads them: the query's first, then the body's;
    a key's first value wins (so the query over the body), and of a JSON
    body only the top-level keys count."""
    params = {}

    def put(k, v):
        params.setdefault(k, v)
    for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True):
        put(k, v)
    files = {}
    mt = ctype.split(";")[0].strip().lower()
    if body:
        if mt == "application/json":
            o = json.loads(bytes(body).decode("utf-8"),
                           object_pairs_hook=lambda kv: dict(reversed(kv)))
            # telebot.v3 sends "null" for a method without parameters
            # (getMe), and the Bot API takes it as none.
            if o is None:
                o = {}
            if not isinstance(o, dict):
                raise ValueError("JSON body is not an object")
            for k, v in o.items():
                put(k, v)
        elif mt == "application/x-www-form-urlencoded":
            for k, v in urllib.parse.parse_qsl(bytes(body).decode("utf-8"),
                                               keep_blank_values=True):
                put(k, v)
        elif mt == "multipart/form-data":
            f, files = parse_multipart(body, ctype)
            for k, v in f.items():
                put(k, v)
    return params, files


# ------------------------------------------------------------ Bot API

class Hangup(Exception):
    pass


def check_token(tok):
    bot, sep, secret = tok.partition(":")
    if not sep or bot not in (str(BOT_ID), str(SECOND_BOT_ID)) or \
            not secret or secret.startswith("BAD"):
        return False
    return True


def m_getme(h, p, f, tok):
    return api_ok({"id": BOT_ID, "is_bot": True, "first_name": "Standin",
                   "username": "standin_bot"})


def m_sendmessage(h, p, f, tok):
    chat = p.get("chat_id")
    if chat is None or str(chat) == "":
        return api_error(400, "Bad Request: chat_id is empty")
    if str(chat) == "429":
        return api_error(429, "Too Many Requests: retry after 7",
                         {"retry_after": 7})
    text = p.get("text")
    if text is None or str(text) == "":
        return api_error(400, "Bad Request: message text is empty")
    with S.lock:
        S.message_seq += 1
        mid = S.message_seq
    try:
        chat_v = int(chat)
    except (TypeError, ValueError):
        chat_v = chat
    # "type" and "date" as Telegram sends them: python-telegram-bot 13
    # refuses a Chat without a type.
    return api_ok({"message_id": mid, "chat": {"id": chat_v, "type": "private"},
                   "date": int(time.time()), "text": str(text)})


def m_senddocument(h, p, f, tok):
    if p.get("chat_id") in (None, ""):
        return api_error(400, "Bad Request: chat_id is empty")
    doc = f.get("document")
    ref = str(p.get("document") or "")
    if doc is None and ref.startswith("attach://"):
        # grammY names the file part freely and refers to it like this.
        doc = f.get(ref[len("attach://"):])
    if doc is None:
        return api_error(400, "Bad Request: there is no document in the request")
    filename, data = doc
    digest = hashlib.sha256(data).hexdigest()
    with S.lock:
        S.file_seq += 1
        S.message_seq += 1
        n, mid = S.file_seq, S.message_seq
        fid = "DOC%06d%s" % (n, digest[:12])
        S.files[fid] = ("documents/file_%d.bin" % n, data)
    try:
        chat_v = int(p.get("chat_id"))
    except (TypeError, ValueError):
        chat_v = p.get("chat_id")
    res = {"message_id": mid, "date": int(time.time()),
           "chat": {"id": chat_v, "type": "private"},
           "document": {"file_id": fid, "file_unique_id": fid,
                        "file_size": len(data), "file_name": filename},
           "sha256": digest}
    if p.get("caption"):
        res["caption"] = str(p["caption"])
    return api_ok(res)


def m_getfile(h, p, f, tok):
    fid = p.get("file_id")
    with S.lock:
        ent = S.files.get(fid)
    if ent is None:
        return api_error(400, "Bad Request: invalid file_id")
    return api_ok({"file_id": fid, "file_unique_id": fid,
                   "file_size": len(ent[1]), "file_path": ent[0]})


def client_gone(sock):
    """True if the peer closed. Called when select() says readable."""
    try:
        raw = socket.socket(fileno=os.dup(sock.fileno()))
    except OSError:
        return True
    try:
        d = raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        if d == b"":
            return True
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        raw.close()
    # Data is pending: most likely a TLS close_notify. Let TLS read it.
    old = sock.gettimeout()
    try:
        sock.settimeout(0.05)
        try:
            d = sock.recv(4096)
        except (socket.timeout, ssl.SSLWantReadError):
            return False
        except (OSError, ssl.SSLError):
            return True
        return d == b""
    finally:
        try:
            sock.settimeout(old)
        except OSError:
            pass


def to_integer(v):
    """An integer argument as tdlib's to_integer reads it: an optional
    minus and the digits at the start; anything else is 0. A JSON number
    comes as its value (a float's fraction cut), an object or a list is
    0, as its text would be."""
    if isinstance(v, bool) or v is None or isinstance(v, (dict, list)):
        return 0
    if isinstance(v, (int, float)):
        return int(v)
    m = re.match(r"-?[0-9]*", str(v))
    digits = m.group(0) if m else ""
    return int(digits) if digits not in ("", "-") else 0


def m_getupdates(h, p, f, tok):
    try:
        offset = int(p.get("offset", 0) or 0)
        timeout = float(to_integer(p.get("timeout", 0)))
    except (TypeError, ValueError):
        return api_error(400, "Bad Request: wrong parameter")
    timeout = max(0.0, min(timeout, HOLD_CAP))
    me = object()
    with S.lock:
        # Telegram forgets the updates that an offset confirms.
        if offset > 0:
            S.updates = [u for u in S.updates if u["update_id"] >= offset]
        old = S.polls.get(tok)
        if old is not None:
            S.conflicts += 1
        S.polls[tok] = me
        S.cond.notify_all()
    deadline = time.monotonic() + timeout
    sock = h.connection
    waiting = False
    try:
        for _ in range(int(timeout / 0.01) + 100):
            with S.lock:
                if S.polls.get(tok) is not me:
                    return api_error(409, "Conflict: terminated by other "
                                     "getUpdates request; make sure that only "
                                     "one bot instance is running")
                got = [u for u in S.updates if u["update_id"] >= offset]
                if got or time.monotonic() >= deadline:
                    return api_ok(got[:100])
                if not waiting:
                    waiting = True
                    S.waiting_polls += 1
            r, _, _ = select.select([sock], [], [], 0.01)
            if r and client_gone(sock):
                t = time.monotonic()
                with S.lock:
                    S.hangups.append({"conn": h.conn_id, "time": t})
                    h.closed_at = t
                log("conn %d: client hung up during getUpdates" % h.conn_id)
                raise Hangup()
        with S.lock:
            return api_ok([u for u in S.updates if u["update_id"] >= offset][:100])
    finally:
        with S.lock:
            if waiting:
                S.waiting_polls -= 1
            if S.polls.get(tok) is me:
                del S.polls[tok]


def m_deletewebhook(h, p, f, tok):
    # grammY, telegraf and python-telegram-bot call it before polling.
    return api_ok(True)


# ------------------------------------------------------------ faults
# Set by POST /_fault {"method": M, "mode": MODE, "count": N} (count 0
# removes M's fault). The next N requests for Bot API method M (matched
# case-insensitively; "file" for /file/ downloads) are read in full and
# recorded, then, instead of an answer:
#   reset    the TCP connection is reset (RST), nothing sent
#   close    the connection is closed (FIN, no TLS close_notify), nothing sent
#   partial  "200, Content-Length: 100000" and 50000 bytes of body, then
#            closed like "close"
#   stall    nothing, until the peer hangs up (at most HOLD_CAP seconds)
FAULT_MODES = ("reset", "close", "partial", "stall")
FAULTS = {}
FAULTS_LOCK = threading.Lock()
FAULT_PARTIAL_LEN = 100000


class Faulted(ConnectionError):
    """Unwinds a faulted request; _make_handler then closes the socket."""


def fault_take(method):
    if not method:
        return None
    with FAULTS_LOCK:
        f = FAULTS.get(method.lower())
        if f is None:
            return None
        f["count"] -= 1
        if f["count"] <= 0:
            del FAULTS[method.lower()]
        return f["mode"]


def fault_apply(h, mode):
    sock = h.connection
    log("conn %d: fault %s" % (h.conn_id, mode))
    if mode == "reset":
        # linger 0: the close that follows sends RST, not FIN
        import struct
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    elif mode == "partial":
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % FAULT_PARTIAL_LEN +
                     b"{" + b" " * (FAULT_PARTIAL_LEN // 2 - 1))
    elif mode == "stall":
        for _ in range(int(HOLD_CAP / 0.05) + 10):
            r, _, _ = select.select([sock], [], [], 0.05)
            if r and client_gone(sock):
                break
    if mode != "reset":
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    h.close_connection = True
    raise Faulted("fault " + mode)


# ------------------------------------------------------------ flood limits
# Set by POST /_limits {"chat_calls": N, "window": W, "retry_after": K}.
# A call that is not get* and names a chat_id counts against its (bot,
# chat): more than N in W seconds and it is answered 429 with
# parameters.retry_after K, and the chat is banned for K seconds; each call
# in a ban is answered 429 with the seconds left (rounded up) and counted
# as a violation, the storm Telegram punishes.  Every such call is kept in
# "limits" of /_stats: [chat, time, status, bot, text].
# With "chat_rate" (calls a second) the limits are rates instead, as
# Telegram's Bot FAQ gives them: each (bot, chat), each group or channel
# (negative id or @name, "group_rate") and each bot ("bot_rate") is a token
# bucket of "burst" calls; a call that comes more than "slack" seconds
# before its bucket allows is answered 429 with the wait (no ban), and
# counted in "rejected".
LIMITS = {}
LIMITS_LOCK = threading.Lock()
LIMIT_CALLS_KEPT = 20000


def limits_reset(cfg=None):
    with LIMITS_LOCK:
        LIMITS.clear()
        if cfg:
            LIMITS.update(cfg=cfg, recent={}, ban={}, calls=[],
                          violations=0, tat={}, rejected=0)


def limit_rates(cfg, bot, chat, now):
    """Rates mode: None, or the seconds this call came too early."""
    burst = int(cfg.get("burst", 1))
    slack = float(cfg.get("slack", 0))
    keys = [(("chat", bot, chat), 1.0 / float(cfg["chat_rate"]))]
    if cfg.get("group_rate") and chat[:1] in ("-", "@"):
        keys.append((("group", bot, chat), 1.0 / float(cfg["group_rate"])))
    if cfg.get("bot_rate"):
        keys.append((("bot", bot), 1.0 / float(cfg["bot_rate"])))
    tats = LIMITS["tat"]
    early = 0.0
    for k, iv in keys:
        allowed = max(tats.get(k, now), now) - (burst - 1) * iv - slack
        early = max(early, allowed - now)
    if early > 0:
        return early
    for k, iv in keys:
        tats[k] = max(tats.get(k, now), now) + iv
    return None


def limit_check(method, params, tok):
    """None, or the 429 (status, body) the limits give this call."""
    chat = params.get("chat_id")
    if method.lower().startswith("get") or chat in (None, ""):
        return None
    with LIMITS_LOCK:
        if not LIMITS:
            return None
        cfg, now = LIMITS["cfg"], time.monotonic()
        key = (tok.partition(":")[0], str(chat))
        until = LIMITS["ban"].get(key, 0.0)
        rv = None
        early = limit_rates(cfg, key[0], key[1], now) \
            if cfg.get("chat_rate") else None
        if cfg.get("chat_rate"):
            if early is not None:
                LIMITS["rejected"] += 1
                left = max(1, int(-(-early // 1)))
                rv = api_error(429, "Too Many Requests: retry after %d"
                               % left, {"retry_after": left})
        elif now < until:
            LIMITS["violations"] += 1
            left = int(-(-(until - now) // 1))
            rv = api_error(429, "Too Many Requests: retry after %d" % left,
                           {"retry_after": left})
        else:
            recent = [t for t in LIMITS["recent"].get(key, [])
                      if t > now - float(cfg.get("window", 1))]
            if len(recent) >= int(cfg.get("chat_calls", 1)):
                k = int(cfg.get("retry_after", 1))
                LIMITS["ban"][key] = now + k
                rv = api_error(429, "Too Many Requests: retry after %d" % k,
                               {"retry_after": k})
            else:
                recent.append(now)
            LIMITS["recent"][key] = recent
        if len(LIMITS["calls"]) < LIMIT_CALLS_KEPT:
            LIMITS["calls"].append([str(chat), now, rv[0] if rv else 200,
                                    key[0], str(params.get("text", ""))])
        return rv


def limits_stats():
    with LIMITS_LOCK:
        if not LIMITS:
            return None
        return {"calls": list(LIMITS["calls"]),
                "violations": LIMITS["violations"],
                "rejected": LIMITS["rejected"],
                "cfg": LIMITS["cfg"]}


METHODS = {
    "getme": m_getme,
    "sendmessage": m_sendmessage,
    "senddocument": m_senddocument,
    "getfile": m_getfile,
    "getupdates": m_getupdates,
    "deletewebhook": m_deletewebhook,
}


class BotHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "standin/1"
    timeout = 120

    def setup(self):
        super().setup()
        self.conn_id = self.server_conn_id
        self.closed_at = None

    def log_message(self, fmt, *args):
        log("conn %d: %s" % (self.conn_id, fmt % args))

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        h = hashlib.sha256()
        buf = bytearray()
        if "chunked" in te:
            for _ in range(1 << 20):
                line = self.rfile.readline(1024)
                if not line:
                    raise ConnectionError("EOF in chunked body")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    for _ in range(100):   # trailers
                        l2 = self.rfile.readline(8192)
                        if l2 in (b"\r\n", b"\n", b""):
                            break
                    break
                self._read_exact(size, buf, h)
                self.rfile.readline(8)
            return buf, h.hexdigest()
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body too large")
        self._read_exact(n, buf, h)
        return buf, h.hexdigest()

    def _read_exact(self, n, buf, h):
        left = n
        for _ in range(n // 4096 + 10):
            if left <= 0:
                break
            c = self.rfile.read(min(left, 256 * 1024))
            if not c:
                raise ConnectionError("EOF in body")
            buf += c
            h.update(c)
            left -= len(c)
        if left > 0:
            raise ConnectionError("short body")

    def send_hop_headers(self):
        """With ?_hop=1: headers that must not cross a proxy, and one that must."""
        if not getattr(self, "hop", False):
            return
        self.send_header("Connection", "X-Hop-Resp")
        self.send_header("X-Hop-Resp", "1")
        self.send_header("Keep-Alive", "timeout=5, max=100")
        self.send_header("Proxy-Authenticate", "Basic realm=x")
        self.send_header("Trailer", "X-Checksum")
        self.send_header("X-End-Resp", "yes")

    def send_json(self, status, obj, chunked=False):
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_hop_headers()
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            step = max(1, len(data) // 4)
            for i in range(0, len(data), step):
                c = data[i:i + step]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    def send_bytes(self, data, chunked=False):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        mv = memoryview(data)
        step = 256 * 1024
        for i in range(0, len(data), step):
            c = mv[i:i + step]
            if chunked:
                self.wfile.write(b"%x\r\n" % len(c))
                self.wfile.write(c)
                self.wfile.write(b"\r\n")
            else:
                self.wfile.write(c)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def handle_any(self):
        with S.lock:
            c = S.conns.get(self.conn_id)
            if c is not None:
                c["started"] = True     # a request head came: not a spare
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, url.query
        q = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        chunked = q.get("_chunked") == "1"
        ctype = self.headers.get("Content-Type") or ""
        try:
            body, digest = self.read_body()
        except (ValueError, ConnectionError) as e:
            log("conn %d: body: %s" % (self.conn_id, e))
            self.close_connection = True
            self.send_json(*api_error(400, "Bad Request: " + str(e)))
            return
        rec = {"method": None, "path": path, "query": query,
               "content_type": ctype, "body_len": len(body),
               "body_sha256": digest, "http_method": self.command,
               "conn": self.conn_id, "time": time.monotonic(),
               "host": self.headers.get("Host"),
               "transfer_encoding": self.headers.get("Transfer-Encoding"),
               "user_agent": self.headers.get("User-Agent"),
               "headers": [[k, v] for k, v in self.headers.items()]}
        self.hop = q.get("_hop") == "1"
        if PREFIX:
            # Served under a path prefix: nothing outside it is the API.
            if not path.startswith(PREFIX + "/"):
                rec["outside_prefix"] = True
                self.record(rec)
                return self.send_json(*api_error(
                    404, "Not Found: outside %s" % PREFIX), chunked)
            path = path[len(PREFIX):]
        parts = path.split("/")
        # /bot<token>/test/<method>: the test environment, same methods
        if (len(parts) == 4 and parts[1].startswith("bot")
                and parts[2] == "test"):
            rec["test"] = True
            parts = parts[:2] + parts[3:]
        # /bot<token>/<method>  or  /file/bot<token>/<file_path...>
        if len(parts) >= 4 and parts[1] == "file" and parts[2].startswith("bot"):
            tok = urllib.parse.unquote(parts[2][3:])
            fpath = "/".join(parts[3:])
            rec["method"] = "file"
            self.record(rec)
            if not check_token(tok):
                return self.send_json(*api_error(401, "Unauthorized"))
            if fpath == "big/20mb.bin":
                return self.send_bytes(big_bytes(), chunked)
            with S.lock:
                data = None
                for fp, d in S.files.values():
                    if fp in (fpath, urllib.parse.unquote(fpath)):
                        data = d
            if data is None:
                return self.send_json(*api_error(404, "Not Found"))
            return self.send_bytes(data, chunked)
        if len(parts) == 3 and parts[1].startswith("bot"):
            tok = urllib.parse.unquote(parts[1][3:])
            method = parts[2]
            rec["method"] = method
            self.record(rec)
            if not check_token(tok):
                return self.send_json(*api_error(401, "Unauthorized"), chunked)
            if q.get("_status", "").isdigit():
                st, o = answer_status(int(q["_status"]))
                if q.get("_retry_after", "").isdigit():
                    o["parameters"] = {"retry_after": int(q["_retry_after"])}
                return self.send_json(st, o, chunked)
            fn = METHODS.get(method.lower())
            if fn is None:
                return self.send_json(*api_error(
                    404, "Not Found: method not found"), chunked)
            try:
                params, files = parse_params(query, body, ctype)
            except (ValueError, UnicodeDecodeError) as e:
                return self.send_json(*api_error(
                    400, "Bad Request: can't parse parameters: %s" % e), chunked)
            params.pop("_chunked", None)
            params.pop("_hop", None)
            rec["params"] = {k: str(v)[:200] for k, v in params.items()}
            rec["files"] = {k: {"filename": fn, "size": len(d),
                                "sha256": hashlib.sha256(d).hexdigest()}
                            for k, (fn, d) in files.items()}
            limited = limit_check(method, params, tok)
            if limited is not None:
                return self.send_json(*limited, chunked)
            try:
                status, obj = fn(self, params, files, tok)
            except Hangup:
                self.close_connection = True
                return
            return self.send_json(status, obj, chunked)
        self.record(rec)
        return self.send_json(*api_error(404, "Not Found"), chunked)

    def record(self, rec):
        with S.lock:
            S.requests.append(rec)
            c = S.conns.get(self.conn_id)
            if c is not None:
                c["requests"] += 1
                if c["requests"] == 1:
                    S.conns_used += 1
                S.per_conn_max = max(S.per_conn_max, c["requests"])
        mode = fault_take(rec.get("method"))
        if mode is not None:
            fault_apply(self, mode)     # raises Faulted

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any


class TLSServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # t_faults sends 1000 bots at once, each a fresh connection here. On a
    # loaded machine this one accept thread falls behind; a full backlog
    # drops SYNs, and their retransmits (1, 3, 7, 15 s) run into connect
    # timeouts.
    request_queue_size = 1024

    def __init__(self, addr, ctx):
        self.ctx = ctx
        super().__init__(addr, BotHandler)

    def get_request(self):
        sock, addr = self.socket.accept()
        t = time.monotonic()
        # Headers and body go out in separate writes: without this, Nagle
        # and the peer's delayed ACK add 40 ms to every response.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with S.lock:
            S.connections += 1
            S.conn_seq += 1
            cid = S.conn_seq
            S.open += 1
            S.conns[cid] = {"open": t, "close": None, "requests": 0,
                            "sock": sock}
            while len(S.conns) > 2000:
                del S.conns[next(iter(S.conns))]
        return (sock, cid), addr

    def process_request(self, request, client_address):
        sock, cid = request
        t = threading.Thread(target=self.process_request_thread,
                             args=(request, client_address), daemon=True)
        t.start()

    def process_request_thread(self, request, client_address):
        sock, cid = request
        handler = None
        try:
            sock.settimeout(15)
            try:
                tls = self.ctx.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError) as e:
                with S.lock:
                    S.tls_failures += 1
                    S.tls_errors.append(str(e))
                log("conn %d: TLS handshake failed: %s" % (cid, e))
                return
            with S.lock:
                if cid in S.conns:     # wrap_socket detached the raw one
                    S.conns[cid]["sock"] = tls
                    S.conns[cid]["resumed"] = tls.session_reused
            if tls.session_reused:
                with S.lock:
                    S.tls_resumed += 1
            tls.settimeout(BotHandler.timeout)
            handler = _make_handler(tls, client_address, self, cid)
        except Exception as e:  # noqa: keep the server alive
            log("conn %d: handler error: %r" % (cid, e))
        finally:
            t = time.monotonic()
            if handler is not None and handler.closed_at is not None:
                t = handler.closed_at
            try:
                sock.close()
            except OSError:
                pass
            with S.lock:
                S.open -= 1
                if cid in S.conns:
                    S.conns[cid]["close"] = t
                S.closed_times.append(t)


def _make_handler(tls, addr, server, cid):
    cls = type("H", (BotHandler,), {"server_conn_id": cid})
    h = None

    class Wrapped(cls):
        def setup(self):
            nonlocal h
            h = self
            super().setup()

    try:
        Wrapped(tls, addr, server)
    except (ConnectionError, ssl.SSLError, socket.timeout, OSError) as e:
        log("conn %d: closed: %r" % (cid, e))
    finally:
        try:
            tls.close()
        except OSError:
            pass
    return h


# ------------------------------------------------------------ control

def make_update(o):
    with S.lock:
        S.update_seq += 1
        uid = S.update_seq
    if "update_id" in o:
        return o
    text = o.get("text", "")
    fid = o.get("from_id", 1)
    return {"update_id": uid,
            "message": {"message_id": uid,
                        "from": {"id": fid, "is_bot": False,
                                 "first_name": "Tester"},
                        "chat": {"id": fid, "type": "private"},
                        "date": int(time.time()), "text": text}}


class ControlHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj):
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path != "/_stats":
            return self.reply(404, {"error": "not found"})
        with S.lock:
            o = {"connections": S.connections, "open": S.open,
                 "closed_times": list(S.closed_times),
                 "hangups": list(S.hangups),
                 "waiting_polls": S.waiting_polls,
                 "conflicts": S.conflicts,
                 "tls_failures": S.tls_failures,
                 "tls_resumed": S.tls_resumed,
                 "tls_errors": list(S.tls_errors),
                 "sni": list(S.sni),
                 "queued_updates": len(S.updates),
                 "open_conns": [k for k, v in S.conns.items()
                                if v["close"] is None],
                 "idle_conns": [k for k, v in S.conns.items()
                                if v["close"] is None and not v["requests"]
                                and not v.get("started")],
                 "conn_list": [[k, v["requests"], v.get("resumed"),
                                v["open"]] for k, v in S.conns.items()],
                 "busy_conns": [k for k, v in S.conns.items()
                                if v["close"] is None and v.get("started")],
                 "requests": list(S.requests),
                 "per_conn_max": S.per_conn_max,
                 "conns_used": S.conns_used,
                 "limits": limits_stats(),
                 "now": time.monotonic()}
        self.reply(200, o)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path == "/_drop_idle":
            # Close (FIN) every open connection that has carried no request
            # yet: the far side of a spare connection going away.
            with S.lock:
                idle = [(k, v["sock"]) for k, v in S.conns.items()
                        if v["close"] is None and not v["requests"]
                        and not v.get("started")]
            for k, sk in idle:
                try:
                    sk.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            return self.reply(200, {"dropped": [k for k, _ in idle]})
        if self.path == "/_inject":
            try:
                o = json.loads(body.decode("utf-8") or "{}")
            except ValueError as e:
                return self.reply(400, {"error": str(e)})
            u = make_update(o)
            with S.lock:
                S.updates.append(u)
                S.cond.notify_all()
            return self.reply(200, {"ok": True, "update": u})
        if self.path == "/_fault":
            try:
                o = json.loads(body.decode("utf-8") or "{}")
                m, mode = str(o["method"]).lower(), o.get("mode", "reset")
                n = int(o.get("count", 1))
                if mode not in FAULT_MODES:
                    raise ValueError("mode must be one of %s" % (FAULT_MODES,))
            except (ValueError, KeyError, TypeError) as e:
                return self.reply(400, {"error": str(e)})
            with FAULTS_LOCK:
                if n > 0:
                    FAULTS[m] = {"mode": mode, "count": n}
                else:
                    FAULTS.pop(m, None)
                table = dict(FAULTS)
            return self.reply(200, {"ok": True, "faults": table})
        if self.path == "/_file":
            try:
                o = json.loads(body.decode("utf-8") or "{}")
                fpath, data = str(o["path"]), str(o["data"]).encode("utf-8")
            except (ValueError, KeyError, TypeError) as e:
                return self.reply(400, {"error": str(e)})
            with S.lock:
                S.file_seq += 1
                S.files["PUT%06d" % S.file_seq] = (fpath, data)
            return self.reply(200, {"ok": True})
        if self.path == "/_limits":
            try:
                o = json.loads(body.decode("utf-8") or "{}")
                for k in ("chat_calls", "window", "retry_after", "chat_rate",
                          "group_rate", "bot_rate", "burst", "slack"):
                    if k in o:
                        float(o[k])
            except (ValueError, TypeError) as e:
                return self.reply(400, {"error": str(e)})
            limits_reset(o)
            return self.reply(200, {"ok": True, "limits": o})
        if self.path == "/_reset":
            limits_reset()
            with S.lock:
                S.reset()
            with FAULTS_LOCK:
                FAULTS.clear()
            return self.reply(200, {"ok": True})
        return self.reply(404, {"error": "not found"})


class ControlServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--control-port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--prefix", default="",
                    help="serve the API under this path, e.g. /t")
    ap.add_argument("--tls-max", choices=("1.1",),
                    help="serve TLS 1.1 at most (a server too old to use)")
    a = ap.parse_args()
    global PREFIX
    PREFIX = a.prefix.rstrip("/")

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    ctx.set_alpn_protocols(["http/1.1"])

    def sni(sock, name, c):
        with S.lock:
            S.sni.append(name)
    ctx.sni_callback = sni
    if a.tls_max == "1.1":
        # Debian's OpenSSL 3 serves TLS 1.1 only at security level 0.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        import warnings
        with warnings.catch_warnings():     # deprecated: the point
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1

    if ":" in a.host:
        TLSServer.address_family = socket.AF_INET6
    tls_srv = TLSServer((a.host, a.port), ctx)
    ctl_srv = ControlServer(("127.0.0.1", a.control_port), ControlHandler)
    threading.Thread(target=ctl_srv.serve_forever, daemon=True).start()
    print("standin ready", flush=True)
    log("listening on %s:%d (TLS), control 127.0.0.1:%d"
        % (a.host, a.port, a.control_port))
    try:
        tls_srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda s, f: os._exit(0))
    main()
