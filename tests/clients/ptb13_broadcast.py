#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""A broadcast with python-telegram-bot 13 (Debian's), unmodified, the way
a careless script sends one: every message to every chat, a RetryAfter
noted and the next message sent at once.  Two of these share one token in
tests/integration/t_flood.py.

Input: TG_ARGS (JSON: api_root, token, chats, per_chat, lock, tag,
read_timeout_s, threads). Each send (and a getMe before each) holds an
flock on args["lock"], so that the two processes' calls never overlap: a
call in flight when another's 429 comes is beyond what any guard can stop,
and the test checks the rest exactly. With "threads" (flood_pace) there is
no lock and no getMe: one thread per chat sends that chat's messages in
order, all chats at once, and the sidecar paces them. Output:
"RESULT {json}" on stdout."""

import fcntl
import json
import os
import sys
import threading
import traceback
import warnings

warnings.simplefilter("ignore")   # Debian's PTB warns that it uses system urllib3

import telegram  # noqa: E402
from telegram.error import RetryAfter  # noqa: E402

args = json.loads(os.environ["TG_ARGS"])
out = {"lib": "python-telegram-bot", "version": telegram.__version__,
       "sent": [], "retry_after": [], "getme_ok": 0, "errors": []}


def one_chat(bot, chat):
    for i in range(args["per_chat"]):
        text = "%s %d to %d" % (args["tag"], i, chat)
        try:
            m = bot.send_message(chat, text)
            out["sent"].append([chat, i, m.message_id])
        except RetryAfter as e:
            out["retry_after"].append([chat, i, e.retry_after])
        except Exception:
            out["errors"].append(traceback.format_exc())


def main():
    chats = args["chats"]
    bot = telegram.Bot(args["token"], base_url=args["api_root"] + "/bot",
                       request=telegram.utils.request.Request(
                           con_pool_size=len(chats) + 2,
                           read_timeout=args["read_timeout_s"],
                           connect_timeout=args["read_timeout_s"]))
    if args.get("threads"):
        ts = [threading.Thread(target=one_chat, args=(bot, c))
              for c in chats]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return
    with open(args["lock"], "a") as lk:
        for i in range(args["per_chat"]):
            for chat in chats:
                text = "%s %d to %d" % (args["tag"], i, chat)
                fcntl.flock(lk, fcntl.LOCK_EX)
                try:
                    if bot.get_me().username:
                        out["getme_ok"] += 1
                    m = bot.send_message(chat, text)
                    out["sent"].append([chat, i, m.message_id])
                except RetryAfter as e:
                    out["retry_after"].append([chat, i, e.retry_after])
                except Exception:
                    out["errors"].append(traceback.format_exc())
                finally:
                    fcntl.flock(lk, fcntl.LOCK_UN)


try:
    main()
except Exception:
    out["errors"].append(traceback.format_exc())
print("RESULT " + json.dumps(out), flush=True)
sys.exit(0)
