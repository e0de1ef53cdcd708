#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""python-telegram-bot 13 (Debian's package, unmodified) making getMe calls
with gaps between them, on its own pooled connection: either straight
through an HTTP proxy to the Bot API (mode "proxy"), or to tgsidecar
(mode "sidecar"). Used by tests/integration/t_stale.py.

Input: TG_ARGS (JSON: mode, base_url, proxy_url, ca_file, token, calls,
gap_s, read_timeout_s). Output: "CALL i ok|ERROR ..." lines as it goes, then
one line "RESULT {json}" on stdout."""

import json
import os
import sys
import time
import warnings

warnings.simplefilter("ignore")   # Debian's PTB warns that it uses system urllib3

args = json.loads(os.environ["TG_ARGS"])

if args.get("ca_file"):
    # Test setup, not a change to the library: PTB 13 trusts the bundle that
    # certifi.where() names; point it at the test CA.
    import certifi
    certifi.where = lambda: args["ca_file"]

import telegram  # noqa: E402
from telegram.utils.request import Request  # noqa: E402

kw = {"connect_timeout": 5, "read_timeout": args["read_timeout_s"],
      "con_pool_size": 1}
if args["mode"] == "proxy":
    kw["proxy_url"] = args["proxy_url"]
bot = telegram.Bot(args["token"], base_url=args["base_url"],
                   request=Request(**kw))

calls = []
for i in range(args["calls"]):
    if i:
        time.sleep(args["gap_s"])    # the idle gap under test
    t0 = time.monotonic()
    try:
        me = bot.get_me()
        calls.append({"i": i, "ok": me.id == 123456, "error": None,
                      "ms": round((time.monotonic() - t0) * 1000, 1)})
    except telegram.error.TelegramError as e:
        calls.append({"i": i, "ok": False,
                      "error": "%s: %s" % (type(e).__name__, e),
                      "ms": round((time.monotonic() - t0) * 1000, 1)})
    c = calls[-1]
    print("CALL %d %s %.1f ms" % (i, "ok" if c["ok"] else "ERROR " + str(c["error"]),
                                  c["ms"]), flush=True)

sys.stdout.write("RESULT " + json.dumps({"version": telegram.__version__,
                                         "calls": calls}) + "\n")
sys.stdout.flush()
