#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""make demo: tgsidecar and its bundled bot, with no token and no internet.

Starts on free loopback ports: a stand-in for the Telegram Bot API (TLS,
from tests/lib), microsocks as the proxy, tgsidecar and tgsidecar-bot.
Sends the bot a few messages as a user would, prints its replies and the
sidecar's access log, and stops everything.

    TGSIDECAR_BIN=./tgsidecar TGSIDECAR_BOT_BIN=./tgsidecar-bot \\
        /usr/bin/python3 contrib/demo.py
"""

import http.client
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "lib"))

import harness  # noqa: E402
from harness import Certs, Proc, Sidecar, StandIn  # noqa: E402
import proxies  # noqa: E402

USER = 1001
MESSAGES = ("hello", "/ping", "/id", "Привет, мир!")
SECRET = "DEMO-not-a-real-token_0123456789abcdef"


def binary(var, name):
    b = os.environ.get(var) or os.path.join(os.path.dirname(HERE), name)
    if not os.access(b, os.X_OK):
        sys.exit("demo: %s not found; run ./configure && make first" % b)
    return b


def replies(si):
    return [r["params"] for r in si.stats()["requests"]
            if r.get("method") == "sendMessage" and "params" in r]


def access_lines(log):
    """The sidecar's per-request lines, without the date."""
    out = []
    for line in log.splitlines():
        if harness.BOT_ID not in line:
            continue
        out.append(line.split(" ", 1)[1] if line[:4].isdigit() else line)
    return out


def phases(line):
    """The numeric fields of an access log line: ms, connect, tls, ttfb."""
    return {k: float(v) for k, v in
            re.findall(r"\b(ms|connect|tls|ttfb)=([0-9.]+)", line)}


def direct_getme_ms(wd, si, certs):
    """getMe through a second sidecar that goes direct, no proxy: the
    median of its access log's totals over a few calls."""
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 name="sidecar-direct").start()
    conn = http.client.HTTPConnection("127.0.0.1", sc.port, timeout=15)
    for _ in range(5):
        harness.request(conn, "POST", "/bot%s/getMe" % harness.token(SECRET))
    conn.close()
    sc.stop()
    ms = sorted(phases(l)["ms"] for l in access_lines(sc.log())
                if " getMe " in l and "ms=" in l)
    return ms[len(ms) // 2] if ms else None


def explain_ping(lines, direct_ms):
    """Split /ping's getMe into the access log's phases, so that the
    demo's proxy is not taken for the sidecar."""
    getme = [l for l in lines if " getMe " in l and "ttfb=" in l]
    if len(getme) < 2:
        return
    p = phases(getme[-1])  # the first getMe is the bot's start-up
    if not all(k in p for k in ("ms", "connect", "tls", "ttfb")):
        return
    rows = (
        (p["connect"], "TCP connect to the proxy (connect=)"),
        (p["tls"] - p["connect"],
         "SOCKS5 through the proxy, then TLS with the Bot API (tls=)"),
        (p["ttfb"] - p["tls"], "request sent, until the first byte (ttfb=)"),
        (p["ms"] - p["ttfb"],
         "the rest of the answer, relayed by the proxy"))
    print("Where /ping's getMe went (%.1f ms in the access log, ms=):"
          % p["ms"])
    for ms, what in rows:
        print("  %6.1f ms  %s" % (max(ms, 0.0), what))
    if direct_ms is not None:
        print("The same getMe through a sidecar that goes direct: %.1f ms."
              % direct_ms)
    print("Most of it is the demo's SOCKS proxy (microsocks on loopback), "
          "not tgsidecar;\na real network adds its round trips to each "
          "phase (BENCHMARKS.md).")
    print()


def main():
    sidecar = binary("TGSIDECAR_BIN", "tgsidecar")
    bot = binary("TGSIDECAR_BOT_BIN", "tgsidecar-bot")
    os.environ["TGSIDECAR_BIN"] = sidecar
    wd = harness.make_tempdir("tgsidecar-demo-")

    print("Starting, all on 127.0.0.1:")
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    print("  stand-in Bot API   https://127.0.0.1:%d  (plays api.telegram.org)"
          % si.port)
    if shutil.which("microsocks") or os.path.exists("/usr/bin/microsocks"):
        ms = proxies.Microsocks(wd).start()
        proxy = ms.url
        print("  microsocks         %s  (plays the corporate proxy)" % proxy)
    else:
        ms, proxy = None, "direct"
        print("  (microsocks is not installed: contrib/deps.sh --test; "
              "the sidecar goes direct)")
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                 proxy=proxy).start()
    print("  tgsidecar          http://127.0.0.1:%d" % sc.port)
    env = harness.scrubbed_env({
        "TELEGRAM_BOT_TOKEN": harness.token(SECRET),
        "TGSIDECAR_URL": "http://127.0.0.1:%d" % sc.port,
        "ALLOWED_TELEGRAM_USER_ID": str(USER)})
    b = Proc([bot], wd, "bot", env=env).start()
    if not harness.wait_until(lambda: "I am @" in b.stderr()
                              or not b.alive(), 15):
        sys.exit("demo: the bot did not start:\n" + b.stderr())
    print("  tgsidecar-bot      polling getUpdates through the sidecar")
    print()

    ok = True
    for text in MESSAGES:
        n = len(replies(si))
        si.inject({"text": text, "from_id": USER})
        got = harness.wait_until(lambda: len(replies(si)) > n, 15)
        answer = replies(si)[-1].get("text") if got else "(no reply)"
        ok = ok and bool(got)
        print("  user %d > %s" % (USER, text))
        print("  bot       < %s" % answer.replace("\n", "\n            "))
    print()

    st, _ = b.stop()
    sc.stop()
    lines = access_lines(sc.log())
    peers = {l.split()[2] for l in lines if l.startswith("info access ")}
    print("tgsidecar's access log (tokens redacted). The bot kept %s to "
          "the\nsidecar; the sidecar opened a fresh one %sfor each request:"
          % ("one connection alive" if len(peers) == 1 else
             "%d connections" % len(peers),
             "through the proxy " if ms is not None else ""))
    for line in lines:
        print("  " + line)
    print()
    if ms is not None:
        ms.stop()
        explain_ping(lines, direct_getme_ms(wd, si, certs))
    si.stop()
    print("Stopped everything (bot exit status %s). To run the bot against "
          "the real\nTelegram, see README.md." % st)
    return 0 if ok and st == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
