#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Where requests go upstream (issue 19), through squid to the TLS
stand-in.

1. The Bot API test environment: /bot<token>/test/<METHOD> is forwarded
   unchanged (getMe, a sendMessage with a JSON body, a getUpdates long
   poll held until an update comes, a file under test/); its method is
   the last segment, so a getMe cut by a reset is retried once and a
   sendMessage is not, metrics count them by that method's class, and
   the access log says test/<method>. Near
   misses (Test, test//, test/test/) get the sidecar's 404 and never reach
   the upstream.
2. An upstream under a path prefix (upstream = https://host:port/t/, the
   stand-in serving the API under /t only): getMe, sendMessage, a test
   environment long poll and a file download each arrive under /t with
   the query as sent, on fresh connections and on spares alike; prefixes
   that could leave it, or carry a query, fragment or credentials, stop
   the start with words that say why.
3. A raw '#', '@' or ',' in a proxy URL's password: the start stops with
   words that name the key, flag or variable and say to percent-encode it,
   never the password; percent-encoded, the same password passes
   microsocks' SOCKS5 authentication.
TAP output."""

import os
import sys
import threading

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
import proxies  # noqa: E402
from harness import Tap, Sidecar, StandIn, Certs, request, token  # noqa: E402


def get(sc, path, timeout=20):
    conn = sc.conn(timeout=harness.patient(timeout))
    try:
        return request(conn, "GET", path)
    finally:
        conn.close()


def post_json(sc, path, obj, timeout=20):
    conn = sc.conn(timeout=harness.patient(timeout))
    body, hdrs = harness.json_body(obj)
    try:
        return request(conn, "POST", path, body, hdrs)
    finally:
        conn.close()


def ok_json(r):
    o = r.json() if r is not None else None
    return r is not None and r.status == 200 and isinstance(o, dict) and \
        o.get("ok") is True, o


def seen(si):
    return si.stats()["requests"]


def access_lines(sc, api):
    return [l for l in sc.log().splitlines()
            if l.find("access ") >= 0 and (" %s bot=" % api) in l]


def metric(text, cls, status):
    """tgsidecar_requests_total for a class and status, 0 if absent."""
    key = 'tgsidecar_requests_total{class="%s",status="%s"} ' % (cls, status)
    for line in text.splitlines():
        if line.startswith(key):
            return int(line[len(key):])
    return 0


def long_poll(t, sc, si, path, desc):
    """Hold a getUpdates, see it waiting upstream, inject, get the update."""
    out = {}

    def run():
        try:
            out["r"] = get(sc, path, timeout=60)
        except Exception as e:      # reported below
            out["e"] = e
    th = threading.Thread(target=run, daemon=True)
    th.start()
    held = harness.wait_until(lambda: si.stats()["waiting_polls"] >= 1, 20)
    t.ok(held, "%s: the poll is held upstream" % desc)
    si.inject({"text": "hello " + desc, "from_id": 7})
    th.join(harness.patient(30))
    good, o = ok_json(out.get("r"))
    texts = [u.get("message", {}).get("text") for u in
             (o or {}).get("result", [])] if good else []
    t.ok(good and ("hello " + desc) in texts,
         "%s: the bot gets the update (%r)" % (desc, out.get("e") or texts))


def part_test_env(t, env):
    sc, si, tok, secret = env["sc"], env["si"], env["tok"], env["secret"]
    si.reset()
    r = get(sc, "/bot%s/test/getMe?x=1" % tok)
    good, o = ok_json(r)
    t.ok(good and o["result"].get("is_bot") is True,
         "test/getMe through squid: 200 from the stand-in")
    r = post_json(sc, "/bot%s/test/sendMessage" % tok,
                  {"chat_id": 5, "text": "to the test server"})
    good, o = ok_json(r)
    t.ok(good and o["result"].get("text") == "to the test server",
         "test/sendMessage with a JSON body: 200, the text echoed")
    long_poll(t, sc, si, "/bot%s/test/getUpdates?timeout=20" % tok,
              "test/getUpdates")
    si.put_file("test/notes.txt", "test file")
    r = get(sc, "/file/bot%s/test/notes.txt" % tok)
    t.ok(r.status == 200 and r.body == b"test file",
         "a file under /file/bot<token>/test/ is still forwarded")
    reqs = seen(si)
    paths = [(q["path"], q["query"]) for q in reqs]
    t.ok(("/bot%s/test/getMe" % tok, "x=1") in paths and
         ("/bot%s/test/sendMessage" % tok, "") in paths and
         ("/bot%s/test/getUpdates" % tok, "timeout=20") in paths,
         "the upstream saw /bot<token>/test/<method> unchanged, query as sent")
    t.ok(all(q.get("test") for q in reqs if q["method"] != "file"),
         "every method call reached the stand-in's test environment")

    # Retry rules go by the method: a getMe cut once is sent again, a
    # sendMessage never.
    si.reset()
    si.fault("getMe", "reset")
    good, _ = ok_json(get(sc, "/bot%s/test/getMe" % tok))
    t.ok(good and len([q for q in seen(si) if q["method"] == "getMe"]) == 2,
         "test/getMe reset once: retried, the bot gets 200")
    si.reset()
    si.fault("sendMessage", "reset")
    r = post_json(sc, "/bot%s/test/sendMessage" % tok,
                  {"chat_id": 5, "text": "once"})
    t.ok(r.status == 502 and
         len([q for q in seen(si) if q["method"] == "sendMessage"]) == 1,
         "test/sendMessage reset: 502, sent once, not retried (got %d)"
         % r.status)

    # Near misses are the sidecar's own 404, and nothing goes upstream.
    si.reset()
    for p in ("/bot%s/Test/getMe", "/bot%s/test//getMe",
              "/bot%s/test/test/getMe", "/bot%s/test/"):
        r = get(sc, p % tok)
        o = r.json() or {}
        t.ok(r.status == 404 and o.get("ok") is False,
             "%s: 404 from the sidecar" % (p % "<token>"))
    t.is_(len(seen(si)), 0, "no near miss reached the upstream")

    # Metrics count them by the method's class, as any other call.
    m = get(sc, "/metrics").body.decode()
    want = {("getUpdates", "200"): 1, ("get", "200"): 2, ("send", "200"): 1,
            ("send", "502"): 1, ("file", "200"): 1, ("other", "404"): 4}
    got = {k: metric(m, *k) for k in want}
    t.is_(got, want, "metrics count the test calls by their method's class")

    log = sc.log()
    t.ok(len(access_lines(sc, "test/getMe")) == 2 and
         len(access_lines(sc, "test/sendMessage")) == 2,
         "the access log names test/getMe and test/sendMessage")
    lp = access_lines(sc, "test/getUpdates")
    t.ok(len(lp) == 1 and " polls=" in lp[0] and "status=200" in lp[0],
         "the test long poll is logged as a getUpdates (polls=N): %s"
         % (lp[0] if lp else "none"))
    t.ok(secret not in log, "the token's secret is never logged")


def part_prefix(t, env):
    wd, certs, sq, tok = env["wd"], env["certs"], env["squid"], env["tok"]
    sp = env["sp"]
    sc = Sidecar(wd, upstream=sp.url + "/t/", ca_file=certs.ca_cert,
                 proxy=sq.url, name="sidecar-prefix")
    try:
        sc.start()
        # The port listens a moment before the start line is written.
        t.ok(harness.wait_until(lambda: ("upstream %s/t," % sp.url)
                                in sc.log(), 10),
             "the start line names the upstream with its prefix")
        sp.reset()
        for i in range(4):
            good, o = ok_json(get(sc, "/bot%s/getMe?n=%d" % (tok, i)))
            t.ok(good, "getMe %d under /t: 200" % i)
        good, o = ok_json(post_json(sc, "/bot%s/sendMessage" % tok,
                                    {"chat_id": 5, "text": "under t"}))
        t.ok(good and o["result"].get("text") == "under t",
             "sendMessage under /t: 200, the text echoed")
        long_poll(t, sc, sp, "/bot%s/test/getUpdates?timeout=20" % tok,
                  "test/getUpdates under /t")
        sp.put_file("docs/a b.txt", "prefixed file")
        r = get(sc, "/file/bot%s/docs/a%%20b.txt" % tok)
        t.ok(r.status == 200 and r.body == b"prefixed file",
             "a file download under /t")
        reqs = seen(sp)
        t.ok(not any(q.get("outside_prefix") for q in reqs),
             "nothing reached the upstream outside /t")
        paths = [(q["path"], q["query"]) for q in reqs]
        t.ok(("/t/bot%s/getMe" % tok, "n=3") in paths and
             ("/t/bot%s/sendMessage" % tok, "") in paths and
             ("/t/bot%s/test/getUpdates" % tok, "timeout=20") in paths and
             ("/t/file/bot%s/docs/a%%20b.txt" % tok, "") in paths,
             "the upstream saw /t/bot..., /t/bot.../test/... and "
             "/t/file/bot... with the queries as sent")
        lines = access_lines(sc, "getMe")
        t.ok(any(" spare=1" in l for l in lines) and
             any(" spare=0" in l for l in lines),
             "both ways to the wire went under /t (a fresh connection "
             "and a spare)")
        st, killed = sc.stop()
        t.ok(st == 0 and not killed, "the sidecar exits 0 on SIGTERM")
    finally:
        sc.proc.kill_quietly()

    up = "https://127.0.0.1:%d" % sp.port
    for val, want in (
            (up + "/t", None), (up + "/api/tg-1.0_x~y/", None),
            (up + "/a/../t", 'no "." or ".." segment'),
            (up + "/t/..", 'no "." or ".." segment'),
            (up + "/%2e%2e/t", 'only letters, digits, "-._~" and "/"'),
            (up + "/a%2Fb", "only letters"),
            (up + "/a//b", "no empty segment"),
            (up + "/t?x=1", "no query or fragment allowed"),
            (up + "/t#x", "no query or fragment allowed"),
            (up + "/bot", "does not end in /bot"),
            ("https://u:S3cr3tPw@127.0.0.1/t", "credentials are not allowed")):
        st, out, err = harness.run([harness.sidecar_bin(), "-t", "-u", val])
        if want is None:
            t.ok(st == 0 and "configuration OK" in out + err,
                 "-u %s: configuration OK" % val)
        else:
            t.ok(st == 2 and want in err and "S3cr3tPw" not in err,
                 "-u %s: exit 2, \"%s\" (%d: %s)" % (val, want, st,
                                                    err.strip()[:200]))


def part_proxy_password(t, env):
    wd, certs, si, tok = env["wd"], env["certs"], env["si"], env["tok"]
    bin_ = harness.sidecar_bin()
    pw = "Pw#1@x,y/z?"
    cases = (
        (["-x", "http://u:Pw#1x@127.0.0.1:3128"], {},
         "--proxy: bad value for proxy: a '#' in the proxy URL's user name "
         "or password must be percent-encoded as %23 (e.g. "
         "http://user:pa%23ss@host:3128), or give the password in "
         "proxy_password"),
        (["-x", "http://u:Pw@1x@127.0.0.1:3128"], {},
         "--proxy: bad value for proxy: a '@' in the proxy URL's user name "
         "or password must be percent-encoded as %40"),
        (["-x", "http://a:1,socks5h://u:Pw,1x@127.0.0.1:1080"], {},
         "--proxy: bad value for proxy: a ',' in a proxy URL's user name or "
         "password must be percent-encoded as %2C"),
        ([], {"TGSIDECAR_PROXY": "http://u:Pw#1x@127.0.0.1:3128"},
         "TGSIDECAR_PROXY: bad value for proxy: a '#' in the proxy URL's"),
        ([], {"https_proxy": "http://u:Pw@1x@127.0.0.1:3128"},
         "https_proxy: a '@' in the proxy URL's"),
        (["--pre-proxy", "socks5://u:Pw#1x@127.0.0.1:1080",
          "-x", "http://127.0.0.1:3128"], {},
         "--pre-proxy: bad value for pre_proxy: a '#' in the proxy URL's"))
    for argv, envv, want in cases:
        e = harness.scrubbed_env(envv)
        st, out, err = harness.run([bin_, "-t"] + argv, env=e)
        t.ok(st == 2 and want in err and "Pw" not in err,
             "%s: exit 2 and says \"%s\" (%d: %s)"
             % (" ".join(argv) or list(envv)[0], want[:60], st,
                err.strip()[:200]))
    conf = os.path.join(wd, "pw.conf")
    with open(conf, "w") as f:
        f.write("listen = 127.0.0.1:1\nproxy = http://u:Pw#1x@127.0.0.1:3128\n")
    st, out, err = harness.run([bin_, "-t", "-c", conf])
    t.ok(st == 2 and "pw.conf:2: bad value for proxy: a '#' in the proxy "
         "URL's user name or password must be percent-encoded" in err,
         "a config file names its line (%s)" % err.strip()[:200])

    # Percent-encoded, the same password passes SOCKS5 authentication.
    ms = proxies.Microsocks(wd, user="tuser", password=pw).start()
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                 proxy=ms.url, name="sidecar-pw")
    try:
        sc.start()
        good, _ = ok_json(get(sc, "/bot%s/getMe" % tok))
        t.ok(good, "the password percent-encoded (%s): 200 through "
             "microsocks with RFC 1929 authentication"
             % ms.url.split("tuser:")[1].split("@127")[0])
        t.ok(pw not in sc.log(), "the password is never logged")
    finally:
        sc.proc.kill_quietly()
        ms.stop()


def main():
    t = Tap()
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    sp = StandIn(wd, certs, name="standin-prefix", prefix="/t").start()
    sq = proxies.Squid(wd, [si.port, sp.port]).start()
    secret = harness.unique_secret("ap")
    tok = token(secret)
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy=sq.url,
                 name="sidecar-apipaths")
    env = {"wd": wd, "certs": certs, "si": si, "sp": sp, "squid": sq,
           "sc": sc, "tok": tok, "secret": secret}
    try:
        sc.start()
        t.run_parts((part_test_env, part_prefix, part_proxy_password), env)
        st, killed = sc.stop()
        t.ok(st == 0 and not killed, "the sidecar exits 0 on SIGTERM")
    finally:
        sc.proc.kill_quietly()
        sq.stop()
        sp.stop()
        si.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
