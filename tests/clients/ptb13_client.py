#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""python-telegram-bot 13 (Debian's python3-python-telegram-bot), unmodified,
pointed at tgsidecar with base_url and base_file_url.

Input: TG_ARGS (JSON: api_root, token, chat_id, text, caption, doc,
poll_wait_s, poll_timeout_s). Output: one line "RESULT {json}" on stdout;
see tests/integration/t_clients.py."""

import hashlib
import json
import os
import sys
import threading
import traceback
import warnings

warnings.simplefilter("ignore")   # Debian's PTB warns that it uses system urllib3

import telegram  # noqa: E402
from telegram.ext import Filters, MessageHandler, Updater  # noqa: E402

args = json.loads(os.environ["TG_ARGS"])
out = {"lib": "python-telegram-bot", "version": telegram.__version__, "errors": []}


def fail(step):
    out["errors"].append("%s: %s" % (step, traceback.format_exc()))


def main():
    root = args["api_root"]
    # What a user of PTB 13 writes to use a local Bot API root.
    # request_kwargs: PTB's own 5 s read timeout fails a call on a loaded
    # machine; the test passes a generous one (a speed setting only).
    updater = Updater(args["token"], base_url=root + "/bot",
                      base_file_url=root + "/file/bot", use_context=True,
                      request_kwargs={"read_timeout": args["read_timeout_s"],
                                      "connect_timeout": args["read_timeout_s"]})
    bot = updater.bot
    try:
        me = bot.get_me()
        out["getMe"] = {"id": me.id, "username": me.username, "is_bot": me.is_bot}
    except Exception:
        fail("getMe")
    try:
        m = bot.send_message(args["chat_id"], args["text"])
        out["send"] = {"message_id": m.message_id, "text": m.text}
    except Exception:
        fail("sendMessage")
    file_id = None
    try:
        with open(args["doc"], "rb") as f:
            m = bot.send_document(args["chat_id"], f, filename="random.bin",
                                  caption=args["caption"])
        file_id = m.document.file_id
        out["doc"] = {"file_id": file_id, "size": m.document.file_size}
    except Exception:
        fail("sendDocument")
    if file_id:
        try:
            f = bot.get_file(file_id)
            out["file_path"] = f.file_path
            data = bytes(f.download_as_bytearray())
            out["download"] = {"status": 200, "size": len(data),
                               "sha256": hashlib.sha256(data).hexdigest()}
        except Exception:
            fail("download")

    got = threading.Event()

    def echo(update, context):
        try:
            m = update.message.reply_text("echo: " + update.message.text)
            out["update"] = {"text": update.message.text,
                             "from_id": update.message.from_user.id,
                             "echo_message_id": m.message_id}
        except Exception:
            fail("echo")
        got.set()

    def on_error(update, context):
        out["errors"].append("dispatcher: %r" % (context.error,))

    updater.dispatcher.add_handler(MessageHandler(Filters.text, echo))
    updater.dispatcher.add_error_handler(on_error)
    updater.start_polling(timeout=args["poll_timeout_s"])
    print("POLLING", flush=True)
    if not got.wait(args["poll_wait_s"]):
        out["errors"].append("poll: no update within %s s" % args["poll_wait_s"])
    # updater.stop() waits for the running long poll to end: bounded here.
    t = threading.Thread(target=updater.stop, daemon=True)
    t.start()
    t.join(args["poll_timeout_s"] + 10)


try:
    main()
except Exception:
    fail("main")
sys.stdout.write("RESULT " + json.dumps(out) + "\n")
sys.stdout.flush()
os._exit(0)
