#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Unmodified Telegram bot libraries through tgsidecar: python-telegram-bot 13
(Debian's package), grammY, telegraf and node-telegram-bot-api (npm, pinned
in tests/clients/package.json and installed there by this test), and Go's
telebot.v3 (Debian's package, built here offline), each with its base URL
pointed at the sidecar, the sidecar going through a real proxy (squid or
microsocks) to the TLS stand-in. For each library: getMe, sendMessage with
non-ASCII text, a document upload, getFile and a download through the
library's own helper, and one long-poll round with an echo reply; telebot
also stops in the middle of a long poll and starts again, which must meet
no 409 Conflict. Then a GET-style client (all parameters in the query
string, as pyTelegramBotAPI sends them) with curl. TAP output."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap, Sidecar, StandIn, Certs, token  # noqa: E402
import proxies  # noqa: E402

TESTS_DIR = os.path.dirname(harness.LIBDIR)
CLIENTS_SRC = os.path.join(TESTS_DIR, "clients")
NODE = "/usr/bin/node"
NPM = shutil.which("npm") or "/usr/bin/npm"
NPM_TIMEOUT = 300
GO = shutil.which("go", path="/usr/bin:/usr/lib/go/bin") or "/usr/bin/go"
GO_BUILD_TIMEOUT = 60       # a quiet machine's, scaled by harness.run()
# Debian's Go libraries (golang-gopkg-telebot.v3-dev) as a GOPATH tree.
DEBIAN_GOPATH = "/usr/share/gocode"
TELEBOT = "telebot_client"   # placeholder in LIBS for the binary built here
# Bounds on waits for what should happen (quiet machine: a run takes 2 to
# 10 s): generous, so that Node's start-up on a loaded machine fits.
CLIENT_TIMEOUT = harness.patient(60)    # one library's whole run
POLL_START_WAIT = 60        # until the library's first long poll is held
POLL_TIMEOUT_S = 10        # getUpdates timeout the libraries send
POLL_WAIT_S = 120           # how long a client waits for the update
CURL_MAX = "%d" % harness.patient(20)   # curl -m, seconds

TEXT = "Привет, мир ✓ 🎄"
CAPTION = "документ ✓"
DOC_SIZE = 300 * 1024
RESTART_FROM_ID = 7799

LIBS = [
    # name, argv (script relative to the clients folder), proxy
    ("python-telegram-bot 13", [harness.PYTHON, "ptb13_client.py"], "squid"),
    ("grammY", [NODE, "grammy_client.mjs"], "squid"),
    ("telegraf", [NODE, "telegraf_client.js"], "microsocks"),
    ("node-telegram-bot-api", [NODE, "ntba_client.js"], "microsocks"),
    ("telebot.v3", [TELEBOT], "squid"),
]


# ------------------------------------------------------------ npm

def wanted_versions(d):
    with open(os.path.join(d, "package.json")) as f:
        return json.load(f)["dependencies"]


def installed_matches(d):
    """True if node_modules holds exactly the pinned versions."""
    for name, ver in wanted_versions(d).items():
        p = os.path.join(d, "node_modules", name, "package.json")
        try:
            with open(p) as f:
                if json.load(f).get("version") != ver:
                    return False
        except (OSError, ValueError):
            return False
    return os.path.exists(os.path.join(d, "node_modules", ".package-lock.json"))


def clients_dir(wd):
    """The clients folder, or a copy of it when the source tree is read-only
    (make distcheck)."""
    if os.access(CLIENTS_SRC, os.W_OK):
        return CLIENTS_SRC
    d = os.path.join(wd, "clients")
    shutil.copytree(CLIENTS_SRC, d, ignore=shutil.ignore_patterns("node_modules"))
    return d


def npm_install(t, d):
    """npm ci in d unless node_modules already matches package.json."""
    if installed_matches(d):
        t.ok(True, "npm: node_modules already holds the pinned versions")
        return True
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGSIDECAR_")}
    argv = [NPM, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, cwd=d, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=NPM_TIMEOUT)
        st, err = r.returncode, r.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        st, err = None, "timed out after %d s" % NPM_TIMEOUT
    except OSError as e:
        st, err = None, "cannot run %s: %s" % (NPM, e)
    t.diag("npm ci took %.1f s" % (time.monotonic() - t0))
    ok = t.ok(st == 0 and installed_matches(d),
              "npm ci installs the pinned client libraries (status %r)" % st)
    if not ok:
        t.diag(err[-3000:])
    return ok


# ------------------------------------------------------------ go

def go_build(t, wd, cdir):
    """Build the telebot client offline, in GOPATH mode against Debian's
    /usr/share/gocode: no module proxy, no network, nothing written to $HOME
    (the cache is in the test's directory). CGO off, so the build needs no C
    toolchain and ignores a sanitizer build's CC and CFLAGS. Returns the
    binary's path, or None."""
    gd = os.path.join(wd, "go")
    os.makedirs(os.path.join(gd, "tmp"))
    exe = os.path.join(gd, TELEBOT)
    env = {"PATH": "/usr/bin:/bin", "HOME": gd, "LC_ALL": "C",
           "GOENV": "off", "GO111MODULE": "off", "GOPATH": DEBIAN_GOPATH,
           "GOCACHE": os.path.join(gd, "cache"),
           "GOTMPDIR": os.path.join(gd, "tmp"), "GOFLAGS": "",
           "GOPROXY": "off", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
    t0 = time.monotonic()
    try:
        st, _, err = harness.run([GO, "build", "-o", exe,
                                  os.path.join(cdir, TELEBOT + ".go")],
                                 env=env, timeout=GO_BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        st, err = None, "timed out"
    except OSError as e:
        st, err = None, "cannot run %s: %s" % (GO, e)
    t.diag("go build took %.1f s" % (time.monotonic() - t0))
    ok = t.ok(st == 0 and os.access(exe, os.X_OK),
              "go build of the telebot.v3 client, offline against %s "
              "(status %r)" % (DEBIAN_GOPATH, st))
    if not ok:
        t.diag(harness.shorten(err, 3000))
    st, out, _ = harness.run(["dpkg-query", "-W", "-f", "${Version}",
                              "golang-gopkg-telebot.v3-dev"])
    if st == 0:
        t.diag("golang-gopkg-telebot.v3-dev %s" % out)
    return exe if ok else None


def telebot_restart(t, name, proc, si):
    """After telebot answered the first update: stop it (SIGUSR1 makes the
    client call Bot.Stop()) while its next long poll is held upstream, check
    that the sidecar ended that upstream poll, start it again (SIGUSR2) and
    inject a second update. Returns that update's text, or None."""
    def next_poll_held():
        if not proc.alive():
            return "dead"
        st = si.stats()
        return st["waiting_polls"] >= 1 and any(
            r.get("method") == "sendMessage" and str(
                (r.get("params") or {}).get("text", "")).startswith("echo: ")
            for r in st["requests"])
    held = harness.wait_until(next_poll_held, POLL_START_WAIT, 0.05) is True
    if not t.ok(held, "%s: after its echo, its next long poll is held "
                "upstream" % name):
        return None
    before = len(si.stats()["hangups"])
    proc.send_signal(signal.SIGUSR1)
    stopped = harness.wait_until(lambda: "dead" if not proc.alive()
                                 else "STOPPED" in proc.stdout(), 30, 0.05)
    t.ok(stopped is True, "%s: Bot.Stop() returns in the middle of a long "
         "poll" % name)
    # Without the sidecar's cancel the upstream poll runs to its timeout
    # and ends normally: no hang-up is ever recorded.
    def poll_ended():
        st = si.stats()
        return len(st["hangups"]) > before and st["waiting_polls"] == 0
    gone = harness.wait_until(poll_ended, 10, 0.02)
    t.ok(gone is True,
         "%s: the sidecar closed the upstream long poll when the bot left "
         "(the stand-in saw the hang-up)" % name)
    proc.send_signal(signal.SIGUSR2)
    held = harness.wait_until(lambda: "dead" if not proc.alive()
                              else si.stats()["waiting_polls"] >= 1,
                              POLL_START_WAIT, 0.05) is True
    if not t.ok(held, "%s: after Bot.Start() again, its long poll is held "
                "upstream" % name):
        return None
    text = "after restart ✓ " + os.urandom(3).hex()
    si.inject({"text": text, "from_id": RESTART_FROM_ID})
    return text


def telebot_restart_check(t, name, res, si, text):
    """What the bot and the stand-in saw of the stop and restart."""
    u = res.get("update2") or {}
    t.ok(text is not None and u.get("text") == text
         and u.get("from_id") == RESTART_FROM_ID,
         "%s: after the restart, its polling received the next update" % name)
    echo = find_request(si, "sendMessage",
                        lambda p, r: text and p.get("text") == "echo: " + text)
    t.ok(echo is not None, "%s: the stand-in received the echo of the "
         "update after the restart" % name)
    t.is_(si.stats()["conflicts"], 0,
          "%s: no getUpdates met 409 Conflict across the stop and restart"
          % name)


# ------------------------------------------------------------ helpers

def requests_of(si, method):
    return [r for r in si.stats()["requests"] if r.get("method") == method]


def find_request(si, method, pred):
    for r in requests_of(si, method):
        if pred(r.get("params") or {}, r):
            return r
    return None


def parse_result(text):
    for line in text.splitlines():
        if line.startswith("RESULT "):
            try:
                return json.loads(line[7:])
            except ValueError:
                return None
    return None


def sidecar_for(wd, si, certs, proxy, name):
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy=proxy.url,
                 name=name)
    return sc.start()


# ------------------------------------------------------------ one library

def run_library(t, name, argv, sc, si, cdir, wd, doc, doc_sha, n,
                restart=False):
    """Run one client against sidecar sc; assertions prefixed by name.
    restart: the client stops mid-poll and starts again (telebot_restart)."""
    si.reset()
    restart_text = None
    secret = harness.unique_secret("cl%d" % n)
    tok = token(secret)
    chat_id = 4200 + n
    from_id = 7700 + n
    inject_text = "long poll ✓ %d — %s" % (n, os.urandom(3).hex())
    outdir = os.path.join(wd, "dl-%d" % n)
    os.makedirs(outdir)
    targs = {"api_root": "http://127.0.0.1:%d" % sc.port, "token": tok,
             "chat_id": chat_id, "text": TEXT, "caption": CAPTION, "doc": doc,
             "outdir": outdir, "poll_wait_s": POLL_WAIT_S,
             "poll_timeout_s": POLL_TIMEOUT_S,
             "signal_wait_s": int(CLIENT_TIMEOUT),
             "read_timeout_s": harness.patient(5)}
    env = harness.scrubbed_env({"TG_ARGS": json.dumps(targs),
                                "LC_ALL": "C.UTF-8"})
    argv = [a if not a.endswith((".py", ".js", ".mjs")) else
            os.path.join(cdir, a) for a in argv]
    proc = harness.Proc(argv, wd, "client-%d" % n, env=env, cwd=cdir)
    t0 = time.monotonic()
    proc.start()
    try:
        # Inject only while the library's long poll is held by the stand-in.
        def poll_held():
            if not proc.alive():
                return "dead"
            st = si.stats()
            return st["waiting_polls"] >= 1 and any(
                r.get("method") == "getUpdates" for r in st["requests"])
        held = harness.wait_until(poll_held, POLL_START_WAIT, 0.05) is True
        t.ok(held, "%s: its long poll (getUpdates) reaches the stand-in "
             "through the sidecar" % name)
        if held:
            si.inject({"text": inject_text, "from_id": from_id})
        if held and restart:
            restart_text = telebot_restart(t, name, proc, si)
        st = proc.wait(CLIENT_TIMEOUT)
        if st is None:
            proc.stop(timeout=3)
    finally:
        proc.kill_quietly()
    t.diag("%s run took %.1f s" % (name, time.monotonic() - t0))
    res = parse_result(proc.stdout())
    t.ok(st == 0 and res is not None,
         "%s: the client ran to its end and reported (status %r)" % (name, st))
    if res is None:
        t.diag("stdout: " + harness.shorten(proc.stdout(), 2000))
        t.diag("stderr: " + harness.shorten(proc.stderr(), 3000))
        res = {}
    t.diag("%s version %s" % (res.get("lib"), res.get("version")))
    errs = res.get("errors", ["(no result)"])
    if not t.ok(not errs, "%s: no library call raised" % name):
        for e in errs:
            t.diag(harness.shorten(e, 1500))
        t.diag("sidecar log tail:\n" + sc.log()[-2000:])

    # getMe
    me = res.get("getMe") or {}
    t.ok(me.get("id") == 123456 and me.get("is_bot") is True
         and me.get("username") == "standin_bot",
         "%s: getMe returns the stand-in's bot" % name)

    # sendMessage, non-ASCII
    t.is_((res.get("send") or {}).get("text"), TEXT,
          "%s: sendMessage returns the non-ASCII text" % name)
    r = find_request(si, "sendMessage",
                     lambda p, r: str(p.get("chat_id")) == str(chat_id)
                     and not str(p.get("text", "")).startswith("echo: "))
    t.is_((r or {}).get("params", {}).get("text"), TEXT,
          "%s: the stand-in received exactly the non-ASCII text" % name)
    if r:
        t.diag("%s sendMessage: %s %s" % (name, r["http_method"],
                                          r["content_type"].split(";")[0]))

    # sendDocument
    r = find_request(si, "sendDocument", lambda p, r: True)
    # The file part is "document", or (grammY) any name that the document
    # field refers to as attach://<name>.
    files = (r or {}).get("files") or {}
    ref = str(((r or {}).get("params") or {}).get("document", ""))
    f = files.get("document") or files.get(ref[len("attach://"):]) or {}
    t.ok(f.get("sha256") == doc_sha and f.get("size") == DOC_SIZE,
         "%s: the stand-in received the document byte for byte "
         "(%s bytes)" % (name, f.get("size")))
    t.is_((r or {}).get("params", {}).get("caption"), CAPTION,
          "%s: the document's non-ASCII caption arrived" % name)
    if r:
        t.diag("%s sendDocument: %s, Transfer-Encoding %s" % (
            name, r["content_type"].split(";")[0], r["transfer_encoding"]))
    d = res.get("doc") or {}
    t.ok(d.get("file_id") and d.get("size") == DOC_SIZE,
         "%s: sendDocument returns the file id and size" % name)

    # getFile + download through the library's helper
    dl = res.get("download") or {}
    t.ok(dl.get("sha256") == doc_sha and dl.get("size") == DOC_SIZE,
         "%s: getFile and the library's download give the document "
         "byte for byte" % name)
    t.ok(find_request(si, "getFile", lambda p, r: p.get("file_id") == d.get("file_id"))
         and find_request(si, "file", lambda p, r: r["path"].endswith(
             "/documents/file_1.bin")),
         "%s: getFile and the file download went through the sidecar" % name)
    if name.startswith("grammY"):
        # @grammyjs/files: getUrl() follows apiRoot; its download() is
        # https.get only, so the client fetches getUrl() itself.
        fp = res.get("files_plugin") or {}
        t.is_(fp.get("url"), "http://127.0.0.1:%d/file/bot%s/documents/file_1.bin"
              % (sc.port, tok), "%s: @grammyjs/files' getUrl() names the "
              "sidecar's /file/ route" % name)
        t.diag("%s: @grammyjs/files download() against http://: %s"
               % (name, fp.get("download")))

    # the long-poll round
    u = res.get("update") or {}
    t.ok(u.get("text") == inject_text and u.get("from_id") == from_id,
         "%s: the library's polling received the injected update" % name)
    echo = find_request(si, "sendMessage",
                        lambda p, r: p.get("text") == "echo: " + inject_text)
    t.ok(echo is not None and str(echo["params"].get("chat_id")) == str(from_id),
         "%s: the stand-in received the echo reply in the sender's chat" % name)
    polls = requests_of(si, "getUpdates")
    timeouts = [(r.get("params") or {}).get("timeout") for r in polls]
    t.ok(any(x not in (None, "", "0") and float(x) >= 10 for x in timeouts),
         "%s: the updates came by long poll (getUpdates timeouts %s)"
         % (name, sorted(set(str(x) for x in timeouts))))
    if restart:
        telebot_restart_check(t, name, res, si, restart_text)


# ------------------------------------------------------------ GET-style

def check_get_style(t, sc, si, doc, doc_sha):
    """pyTelegramBotAPI's way: GET with every parameter in the query."""
    si.reset()
    tok = token(harness.unique_secret("get"))
    base = "http://127.0.0.1:%d/bot%s/" % (sc.port, tok)
    q = urllib.parse.urlencode({"chat_id": 31337, "text": TEXT})
    t.ok("%D0%9F" in q, "GET-style: the query is percent-encoded UTF-8")
    st, out, err = harness.run(["curl", "-sS", "--noproxy", "*", "-m", CURL_MAX,
                                base + "sendMessage?" + q],
                               timeout=30)
    o = harness.try_json(out.encode("utf-8")) or {}
    t.ok(st == 0 and o.get("ok") is True
         and (o.get("result") or {}).get("text") == TEXT,
         "GET-style: curl GET sendMessage?chat_id&text answers with the text")
    if st != 0:
        t.diag(err)
    r = find_request(si, "sendMessage", lambda p, r: p.get("chat_id") == "31337")
    t.ok(r is not None and r["http_method"] == "GET"
         and r["params"].get("text") == TEXT,
         "GET-style: the stand-in got a GET with exactly the text")
    st, out, err = harness.run(["curl", "-sS", "--noproxy", "*", "-m", CURL_MAX,
                                base + "getMe"], timeout=30)
    o = harness.try_json(out.encode("utf-8")) or {}
    t.ok(st == 0 and (o.get("result") or {}).get("id") == 123456,
         "GET-style: curl GET getMe answers")

    # pyTelegramBotAPI's uploads: parameters in the query, the file alone
    # in a multipart body.
    q = urllib.parse.urlencode({"chat_id": 31338, "caption": CAPTION})
    st, out, err = harness.run(["curl", "-sS", "--noproxy", "*", "-m", CURL_MAX,
                                "-F", "document=@%s;filename=random.bin" % doc,
                                base + "sendDocument?" + q],
                               timeout=30)
    o = harness.try_json(out.encode("utf-8")) or {}
    t.ok(st == 0 and (o.get("result") or {}).get("sha256") == doc_sha,
         "GET-style: multipart upload with parameters in the query answers")
    r = find_request(si, "sendDocument", lambda p, r: p.get("chat_id") == "31338")
    t.ok(r is not None and r["params"].get("caption") == CAPTION
         and (r.get("files") or {}).get("document", {}).get("sha256") == doc_sha,
         "GET-style: the stand-in got the query's caption and the file")

    # A long poll with its timeout in the query.
    p = subprocess.Popen(["curl", "-sS", "--noproxy", "*", "-m", CURL_MAX,
                          base + "getUpdates?offset=0&timeout=20"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, env=harness.scrubbed_env())
    try:
        held = harness.wait_until(lambda: "dead" if p.poll() is not None
                                  else si.stats()["waiting_polls"] >= 1, 10, 0.02)
        text = "query poll ✓ " + os.urandom(3).hex()
        si.inject({"text": text, "from_id": 31339})
        out, err = p.communicate(timeout=harness.patient(30))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    o = harness.try_json(out) or {}
    res = o.get("result") or [{}]
    t.ok(held is True and p.returncode == 0
         and (res[-1].get("message") or {}).get("text") == text,
         "GET-style: GET getUpdates?timeout=20 is held and returns the update")


# ------------------------------------------------------------ main

def main():
    t = Tap()
    t0 = time.monotonic()
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    doc = os.path.join(wd, "random.bin")
    data = os.urandom(DOC_SIZE)
    with open(doc, "wb") as f:
        f.write(data)
    doc_sha = hashlib.sha256(data).hexdigest()

    cdir = clients_dir(wd)
    have_npm = npm_install(t, cdir)
    telebot = go_build(t, wd, cdir)

    squid = proxies.Squid(wd, [si.port]).start()
    msocks = proxies.Microsocks(wd).start()
    sidecars = {}
    try:
        sidecars["squid"] = sidecar_for(wd, si, certs, squid, "sidecar-squid")
        sidecars["microsocks"] = sidecar_for(wd, si, certs, msocks,
                                             "sidecar-microsocks")
        for n, (name, argv, via) in enumerate(LIBS, 1):
            label = "%s (sidecar via %s)" % (name, via)
            if argv[0] == NODE and not have_npm:
                t.ok(False, "%s: cannot run without its npm package" % label)
                continue
            if argv[0] == TELEBOT:
                if not telebot:
                    t.ok(False, "%s: cannot run without its build" % label)
                    continue
                argv = [telebot]
            try:
                run_library(t, label, argv, sidecars[via], si, cdir, wd, doc,
                            doc_sha, n, restart=argv[0] == telebot)
            except Exception:
                t.fail_exception(label)
        try:
            check_get_style(t, sidecars["squid"], si, doc, doc_sha)
        except Exception:
            t.fail_exception("GET-style")
        acc = squid.access_log()
        t.ok("CONNECT 127.0.0.1:%d" % si.port in acc,
             "squid's access log shows the sidecar's CONNECTs to the stand-in")
        for via, sc in sidecars.items():
            st, killed = sc.stop()
            t.ok(st == 0 and not killed,
                 "sidecar via %s exits 0 on SIGTERM" % via)
    finally:
        for sc in sidecars.values():
            sc.stop()
        squid.stop()
        msocks.stop()
        si.stop()
    t.diag("t_clients took %.1f s" % (time.monotonic() - t0))
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
