#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""tgsidecar-bot, the bundled bot, end to end: stand-in Bot API <- TLS <-
microsocks <- tgsidecar <- tgsidecar-bot. Messages go in through the
stand-in's /_inject; the replies are read from its request records.
Checks the commands, the allowed list, its settings errors, that the token
never shows, SIGTERM during a long poll, a proxy that is down and comes
back, and two bots polling with one token (409). TAP output."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap, Sidecar, StandIn, Certs, Proc, token  # noqa: E402
import proxies  # noqa: E402

UNICODE_TEXT = "Привет, мир ✓ — «ёлка» 🎄"
ALLOWED = (1001, 1002, 1003)
STRANGER = 6666
# Seconds from SIGTERM to exit: not waiting out a long poll or the 7 s
# retry_after. Quiet machine: a few ms; room for a loaded one.
STOP_BUDGET = 5.0


def bot_bin():
    b = os.environ.get("TGSIDECAR_BOT_BIN")
    if not b:
        b = os.path.join(os.path.dirname(os.path.dirname(harness.LIBDIR)),
                         "tgsidecar-bot")
    return b


class Bot:
    """tgsidecar-bot with its settings in the environment."""
    _seq = 0

    def __init__(self, wd, sc, tok, allowed=ALLOWED, args=(), name=None):
        Bot._seq += 1
        env = {"TELEGRAM_BOT_TOKEN": tok,
               "TGSIDECAR_URL": "http://127.0.0.1:%d" % sc.port,
               "ALLOWED_TELEGRAM_USER_ID": ",".join(str(a) for a in allowed)}
        self.proc = Proc([bot_bin()] + list(args), wd,
                         name or "bot%d" % Bot._seq,
                         env=harness.scrubbed_env(env))

    def start(self, ready="I am @standin_bot", timeout=15.0):
        self.proc.start()
        if ready and not self.wait_log(ready, timeout):
            raise RuntimeError("bot not ready (exit %r):\n%s"
                               % (self.proc.poll(), self.log()))
        return self

    def log(self):
        return self.proc.stdout() + self.proc.stderr()

    def wait_log(self, sub, timeout=15.0, count=1):
        return harness.wait_until(
            lambda: self.log().count(sub) >= count or not self.proc.alive(),
            timeout, 0.02) and self.log().count(sub) >= count

    def stop(self, timeout=STOP_BUDGET):
        """SIGTERM; returns (exit status, seconds taken, killed). Killed
        only after a patient wait: the callers check the time taken."""
        t0 = time.monotonic()
        st, killed = self.proc.stop(timeout=harness.patient(timeout))
        return st, time.monotonic() - t0, killed


def replies(si, chat=None):
    """sendMessage params seen by the stand-in, oldest first."""
    out = []
    for r in si.stats()["requests"]:
        p = r.get("params") or {}
        if r.get("method") == "sendMessage" and (
                chat is None or p.get("chat_id") == str(chat)):
            out.append(p)
    return out


def ask(si, text, from_id, timeout=15.0):
    """Inject a message and wait for the bot's next reply to that chat.
    Returns the reply text, or None."""
    before = len(replies(si, from_id))
    si.inject({"text": text, "from_id": from_id})
    got = harness.wait_until(lambda: len(replies(si, from_id)) > before,
                             timeout, 0.02)
    return replies(si, from_id)[-1].get("text") if got else None


def check_cli(t, wd):
    secret = harness.unique_secret("cli")
    env = harness.scrubbed_env({"ALLOWED_TELEGRAM_USER_ID": "1"})
    st, out, err = harness.run([bot_bin()], env=env)
    t.is_(st, 2, "no token: exit 2")
    t.like(err, "TELEGRAM_BOT_TOKEN is not set", "no token: says so")

    for desc, bad in (("no colon", harness.BOT_ID + secret),
                      ("a slash in the secret", token(secret + "/x")),
                      ("letters in the bot id", "12a:" + secret)):
        env = harness.scrubbed_env({"TELEGRAM_BOT_TOKEN": bad})
        st, out, err = harness.run([bot_bin()], env=env)
        t.is_(st, 2, "malformed token (%s): exit 2" % desc)
        t.like(err, "TELEGRAM_BOT_TOKEN is malformed",
               "malformed token (%s): says so" % desc)
        t.unlike(out + err, secret,
                 "malformed token (%s): the token is not printed" % desc)

    st, out, err = harness.run([bot_bin(), "--token", token(secret) + "!"],
                               env=harness.scrubbed_env())
    t.ok(st == 2 and "--token is malformed" in err and secret not in out + err,
         "malformed --token: exit 2, says so, not printed")
    st, out, err = harness.run([bot_bin(), "--allowed", "12,me"],
                               env=harness.scrubbed_env(
                                   {"TELEGRAM_BOT_TOKEN": token(secret)}))
    t.ok(st == 2 and '"me"' in err and secret not in out + err,
         "garbage in the allowed list: exit 2, names the entry")
    st, out, err = harness.run([bot_bin(), "--help"], env=harness.scrubbed_env())
    t.ok(st == 0 and "usage: tgsidecar-bot" in out and "--token" in out,
         "--help: exit 0, usage on stdout")
    st, out, err = harness.run([bot_bin(), "-V"], env=harness.scrubbed_env())
    t.ok(st == 0 and out.startswith("tgsidecar-bot "), "-V: exit 0, version")


def check_conversation(t, wd, si, sc):
    secret = harness.unique_secret("bot")
    b = Bot(wd, sc, token(secret)).start()
    log0 = b.log()
    t.like(log0, "3 allowed user(s)", "start: logs how many users are allowed")

    got = ask(si, "hello bot", 1001)
    t.is_(got, "hello bot", "plain text is echoed to its chat")
    got = ask(si, UNICODE_TEXT, 1002)
    t.is_(got, UNICODE_TEXT, "non-ASCII text is echoed intact")
    got = ask(si, "/id", 1002)
    t.like(got, "1002", "/id replies with the sender's user id")
    got = ask(si, "/id@standin_bot", 1003)
    t.like(got, "1003", "/id@standin_bot is ours too")
    got = ask(si, "/ping", 1001)
    t.ok(got is not None and got.startswith("pong: ") and " ms" in got,
         "/ping replies with a round-trip time in ms (%r)" % got)
    got = ask(si, "/start", 1003)
    t.ok(got is not None and "/ping" in got and "/id" in got,
         "/start replies with the help text")
    got = ask(si, "/help", 1003)
    t.ok(got is not None and "echo" in got, "/help replies too")

    # A non-message update is skipped, and the offset moves past it.
    n = si.inject({"text": "before the edit", "from_id": 1003})["update"]
    harness.wait_until(lambda: [p for p in replies(si, 1003)
                                if p.get("text") == "before the edit"], 15)
    si.inject({"update_id": n["update_id"] + 1, "edited_message": {
        "message_id": 1, "from": {"id": 1003}, "chat": {"id": 1003},
        "date": 1, "text": "edited"}})
    got = ask(si, "after the edit", 1003)
    texts = [p.get("text") for p in replies(si, 1003)]
    t.ok(got == "after the edit" and "edited" not in texts
         and "before the edit" in texts,
         "a non-message update is skipped; the next message is answered")

    # A stranger gets nothing; the next allowed message proves the bot
    # has handled the stranger's update by then.
    si.inject({"text": "let me in", "from_id": STRANGER})
    si.inject({"text": "/id@another_bot", "from_id": 1001})
    got = ask(si, "after the stranger", 1001)
    t.is_(got, "after the stranger", "the next allowed message is answered")
    t.is_(replies(si, STRANGER), [], "no reply to a user not on the list")
    t.ok("ignoring user id %d" % STRANGER in b.log(),
         "the log names the stranger's user id")
    t.ok([p for p in replies(si, 1001) if p.get("text") == "hello bot"]
         .__len__() == 1, "every update is answered once (offset advances)")
    t.ok(not [p for p in replies(si, 1001) if "1001" in p.get("text", "")
              and "Your user id" in p.get("text", "")],
         "/id@another_bot is left to the other bot")

    # SIGTERM while a long poll is held: prompt, clean exit.
    harness.wait_until(lambda: si.stats()["waiting_polls"] > 0, 10, 0.02)
    t.ok(si.stats()["waiting_polls"] > 0, "the bot is in a long poll")
    st, took, killed = b.stop()
    t.ok(st == 0 and not killed and took < STOP_BUDGET,
         "SIGTERM during a long poll: exit 0 in %.2f s (status %r)"
         % (took, st))
    t.like(b.log(), "stopped", "the bot logs that it stopped")
    t.is_(si.stats()["queued_updates"], 0,
          "every handled update was confirmed to the Bot API")
    log = b.log()
    t.unlike(log, secret, "the token's secret is never in the bot's output")
    t.unlike(sc.log(), secret, "nor in the sidecar's log")


def check_empty_list(t, wd, si, sc):
    b = Bot(wd, sc, token(harness.unique_secret("empty")), allowed=())
    b.start()
    t.like(b.log(), "no allowed users", "empty allowed list: warns at start")
    si.inject({"text": "anyone?", "from_id": 1001})
    t.ok(b.wait_log("ignoring user id 1001", 10),
         "empty allowed list: even 1001 is ignored, and logged")
    st, took, killed = b.stop()
    t.ok(st == 0 and not killed, "empty allowed list: exit 0 on SIGTERM")


def check_rejected_token(t, wd, si, sc):
    secret = "BAD" + harness.unique_secret("rej")
    b = Bot(wd, sc, token(secret)).start(ready=None)
    st = b.proc.wait(harness.patient(15))
    t.is_(st, 1, "a token the Bot API rejects (401): exit 1")
    t.like(b.log(), "rejected the token", "401: says the token was rejected")
    t.unlike(b.log(), secret, "401: the token is not printed")


def check_flood_wait(t, wd, si, sc):
    """The stand-in answers sendMessage to chat 429 with retry_after 7:
    the bot waits, and SIGTERM ends the wait at once."""
    b = Bot(wd, sc, token(harness.unique_secret("flood")),
            allowed=(429,)).start()
    si.inject({"text": "flood me", "from_id": 429})
    t.ok(b.wait_log("Too Many Requests", 15),
         "429 on sendMessage: logged with its description")
    time.sleep(0.2)     # into the wait (a longer one is not needed)
    st, took, killed = b.stop()
    t.ok(st == 0 and not killed and took < STOP_BUDGET,
         "SIGTERM during a retry_after wait: exit 0 in %.2f s" % took)
    t.is_(len(replies(si, 429)), 1,
          "the wait was cut short: no second try after SIGTERM")


def check_proxy_down(t, wd, si, certs):
    """The sidecar's proxy is down: the bot logs the sidecar's JSON
    description and backs off; once the proxy is up, it recovers."""
    ms = proxies.Microsocks(wd)        # port chosen, not started
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                 proxy=ms.url).start()
    secret = harness.unique_secret("down")
    b = Bot(wd, sc, token(secret), args=["--poll-timeout", "5"]).start(
        ready="tgsidecar-bot")
    try:
        got = b.wait_log("retrying in", 15, count=2)
        log = b.log()
        t.ok(got, "proxy down: the bot retries getUpdates")
        lines = [l for l in log.splitlines() if "retrying in" in l]
        t.ok(lines and "proxy" in lines[0].lower()
             and "127.0.0.1:%d" % ms.port in lines[0],
             "proxy down: the sidecar's description is logged")
        if lines:
            t.diag(lines[0])
        t.ok(lines and "HTTP 502" in lines[0], "proxy down: with its status")
        waits = [float(l.rsplit("retrying in ", 1)[1].split()[0])
                 for l in lines]
        t.ok(len(waits) >= 2 and 0.5 <= waits[0] <= 1.0
             and 1.0 <= waits[1] <= 2.0,
             "proxy down: backoff grows with jitter (%r)" % (waits,))
        ms.start()
        got = ask(si, "back again", 1001, timeout=20)
        t.is_(got, "back again", "proxy back: the bot recovers and answers")
        t.like(b.log(), "getUpdates works again", "recovery is logged")
        t.unlike(b.log(), secret, "proxy down: no token in the bot's output")
    finally:
        st, took, killed = b.stop()
        t.ok(st == 0 and not killed, "proxy down case: exit 0 on SIGTERM")
        sc.stop()
        ms.stop()


def check_conflict(t, wd, si, sc):
    """Two bots, one token: the stand-in ends the older poll with 409."""
    tok = token(harness.unique_secret("twin"))
    a = Bot(wd, sc, tok, name="twin-a").start()
    b = Bot(wd, sc, tok, name="twin-b").start()
    msg = "another instance is polling"
    got = harness.wait_until(lambda: msg in a.log() or msg in b.log(),
                             20, 0.05)
    t.ok(got, "409: one of two bots with one token logs \"%s\"" % msg)
    t.ok(si.stats()["conflicts"] > 0, "409: the stand-in saw the conflict")
    for x, n in ((a, "a"), (b, "b")):
        st, took, killed = x.stop()
        t.ok(st == 0 and not killed and took < STOP_BUDGET,
             "409: twin %s exits 0 on SIGTERM in %.2f s" % (n, took))


def main():
    t = Tap()
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    ms = proxies.Microsocks(wd).start()
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                 proxy=ms.url).start()
    for name, fn, args in (
            ("settings", check_cli, (t, wd)),
            ("conversation", check_conversation, (t, wd, si, sc)),
            ("empty allowed list", check_empty_list, (t, wd, si, sc)),
            ("rejected token", check_rejected_token, (t, wd, si, sc)),
            ("flood control", check_flood_wait, (t, wd, si, sc)),
            ("proxy down", check_proxy_down, (t, wd, si, certs)),
            ("conflict", check_conflict, (t, wd, si, sc))):
        t0 = time.monotonic()
        try:
            fn(*args)
        except Exception:
            t.fail_exception(name)
        t.diag("%s took %.1f s" % (name, time.monotonic() - t0))
    sc.stop()
    ms.stop()
    si.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
