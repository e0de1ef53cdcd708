#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""tgsidecar's command line as a user meets it: -t, -V, -h, bad flags and
bad config lines, which of config file / environment / flag wins for the
listen address (checked by where it really listens), SIGTERM, and IPv6
loopback. TAP output."""

import http.client
import os
import re
import signal
import sys

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap, Sidecar, StandIn, Certs, request, token, run  # noqa: E402

BIN = harness.sidecar_bin()


def good_config(path, si, certs, listen_port=None, extra=()):
    items = []
    if listen_port is not None:
        items.append(("listen", "127.0.0.1:%d" % listen_port))
    items += [("upstream", si.url),
              ("proxy", "direct"),
              "# a comment line, and an empty one:",
              "",
              ("ca_file", certs.ca_cert),
              ("max_body", "50M")]
    items += list(extra)
    return harness.write_config(path, items)


def check_simple_cli(t, wd, si, certs):
    conf = good_config(os.path.join(wd, "good.conf"), si, certs,
                       harness.alloc_port())
    st, out, err = run([BIN, "-c", conf, "-t"])
    t.ok(st == 0 and "configuration OK" in out + err,
         "-t with a good config file: 'configuration OK', exit 0 (exit %d)" % st)
    if st != 0:
        t.diag(out + err)

    # An unknown key on line 5 (line 1 is the header comment).
    bad = os.path.join(wd, "bad-key.conf")
    harness.write_config(bad, [("upstream", si.url), ("proxy", "direct"),
                               "# comment", ("no_such_key", "1"),
                               ("ca_file", certs.ca_cert)])
    st, out, err = run([BIN, "-c", bad, "-t"])
    t.is_(st, 2, "-t with an unknown key exits 2")
    t.ok(("%s:5:" % bad) in err, "the error names FILE:LINE of the unknown key")
    t.ok("no_such_key" in err, "the error names the unknown key")
    if ("%s:5:" % bad) not in err:
        t.diag("stderr: %r" % err)

    # A bad value is reported with its line too.
    badv = os.path.join(wd, "bad-value.conf")
    harness.write_config(badv, [("upstream", si.url), ("proxy", "direct"),
                                ("max_body", "lots")])
    st, out, err = run([BIN, "-c", badv, "-t"])
    t.ok(st == 2 and ("%s:4:" % badv) in err,
         "-t with a bad max_body value exits 2 and names FILE:LINE")
    if st != 2:
        t.diag("exit %d, stderr: %r" % (st, err))

    st, out, err = run([BIN, "-c", os.path.join(wd, "missing.conf"), "-t"])
    t.ok(st == 2 and "missing.conf" in err,
         "-t with a missing config file exits 2 and names it")

    st, out, err = run([BIN, "-V"])
    t.ok(st == 0 and re.search(r"\d+\.\d+(\.\d+)?", out + err),
         "-V prints a version and exits 0 (%r)" % (out + err).strip()[:80])

    st, out, err = run([BIN, "-h"])
    t.ok(st == 0 and "usage" in (out + err).lower() and "-l" in out + err,
         "-h prints usage and exits 0")
    check_usage_columns(t, out + err)

    st, out, err = run([BIN, "--no-such-flag"])
    t.is_(st, 2, "an unknown long flag exits 2")
    st, out, err = run([BIN, "-Z"])
    t.is_(st, 2, "an unknown short flag exits 2")
    st, out, err = run([BIN, "-x", "gopher://127.0.0.1:1", "-t"])
    t.is_(st, 2, "an unsupported proxy scheme exits 2")


def check_usage_columns(t, usage):
    """Every option row of -h: its description starts in one column, at
    least two spaces after the longest flag."""
    rows = [m for m in (re.match(r"^(  -\S, |      )(--\S+(?: \S+)?)( +)(\S.*)$",
                                 line) for line in usage.splitlines()) if m]
    cols = sorted({m.start(4) for m in rows})
    tight = [m.group(2) for m in rows if len(m.group(3)) < 2]
    t.ok(len(rows) > 20 and len(cols) == 1 and not tight,
         "-h: %d option rows, descriptions start in column(s) %s, "
         "too close to their flag: %s" % (len(rows), cols, tight or "none"))


def serves_getme(port, secret):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=harness.CLIENT_TIMEOUT)
    try:
        r = request(c, "GET", "/bot%s/getMe" % token(secret))
        return r.status == 200 and (r.json() or {}).get("result", {}).get("id") == 123456
    except OSError:
        return False
    finally:
        c.close()


def precedence_cases():
    """(description, use file, use env, use flag, which one must win)."""
    return [
        ("config file alone", True, False, False, "file"),
        ("env TGSIDECAR_LISTEN beats the config file", True, True, False, "env"),
        ("-l beats env and config file", True, True, True, "flag"),
        ("-l beats the config file", True, False, True, "flag"),
    ]


def check_precedence(t, wd, si, certs, secrets):
    secret = harness.unique_secret("cli")
    secrets.append(secret)
    for desc, use_file, use_env, use_flag, winner in precedence_cases():
        ports = {"file": harness.alloc_port(), "env": harness.alloc_port(),
                 "flag": harness.alloc_port()}
        conf = good_config(os.path.join(wd, "prec.conf"), si, certs,
                           ports["file"] if use_file else None)
        env = {"TGSIDECAR_LISTEN": "127.0.0.1:%d" % ports["env"]} if use_env else None
        sc = Sidecar(wd, extra_args=["-c", conf], env=env, port=ports[winner],
                     pass_listen=use_flag,
                     listen="127.0.0.1:%d" % ports["flag"])
        try:
            sc.start()
            t.ok(serves_getme(ports[winner], secret),
                 "%s: serves getMe on the %s port" % (desc, winner))
            others = [k for k in ports if k != winner and harness.port_accepts(
                "127.0.0.1", ports[k])]
            t.ok(not others, "%s: listens on no other candidate port" % desc)
        except Exception:
            t.fail_exception(desc)
        finally:
            st, killed = sc.stop()
        t.ok(st == 0 and not killed, "%s: SIGTERM -> exit status 0 (got %r%s)"
             % (desc, st, ", killed" if killed else ""))


def env_proxy_cases():
    """(description, environment, extra flags, expected: "direct" for a
    working getMe, or "down" for a 502 naming the closed proxy port)."""
    down = "127.0.0.1:%d" % harness.closed_port()
    return [
        ("TGSIDECAR_PROXY is used without -x",
         {"TGSIDECAR_PROXY": "http://" + down}, [], "down", down),
        ("-x direct overrides TGSIDECAR_PROXY",
         {"TGSIDECAR_PROXY": "http://" + down}, ["-x", "direct"], "direct", down),
        ("HTTPS_PROXY is used without a proxy setting",
         {"HTTPS_PROXY": "http://" + down}, [], "down", down),
        ("https_proxy is used without a proxy setting",
         {"https_proxy": "http://" + down}, [], "down", down),
        ("ALL_PROXY is used without a proxy setting",
         {"ALL_PROXY": "socks5h://" + down}, [], "down", down),
        ("NO_PROXY=127.0.0.1 bypasses HTTPS_PROXY",
         {"HTTPS_PROXY": "http://" + down, "NO_PROXY": "127.0.0.1"}, [],
         "direct", down),
        ("TGSIDECAR_PROXY=direct beats HTTPS_PROXY",
         {"HTTPS_PROXY": "http://" + down, "TGSIDECAR_PROXY": "direct"}, [],
         "direct", down),
        ("-x direct beats HTTPS_PROXY",
         {"HTTPS_PROXY": "http://" + down}, ["-x", "direct"], "direct", down),
    ]


def check_env_proxy(t, wd, si, certs, secrets):
    secret = harness.unique_secret("envpx")
    secrets.append(secret)
    for desc, env, args, want, down in env_proxy_cases():
        sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, env=env,
                     extra_args=args)
        try:
            sc.start()
            c = sc.conn()
            r = request(c, "GET", "/bot%s/getMe" % token(secret))
            c.close()
            o = r.json() or {}
            if want == "down":
                t.ok(r.status == 502 and down in o.get("description", ""),
                     "%s (502 naming %s)" % (desc, down))
            else:
                t.ok(r.status == 200 and o.get("result", {}).get("id") == 123456,
                     "%s (getMe goes direct)" % desc)
            if (r.status == 200) != (want == "direct"):
                t.diag(repr(r))
        except Exception:
            t.fail_exception(desc)
        finally:
            st, killed = sc.stop()
        t.ok(st == 0 and not killed, "%s: sidecar exits 0 on SIGTERM (got %r)"
             % (desc, st))


def check_drain(t, wd, si, certs, secrets):
    """SIGTERM lets requests in flight finish (up to shutdown_timeout)."""
    import threading
    import time
    secret = harness.unique_secret("drain")
    secrets.append(secret)
    for desc, args, poll_s, want_reply in (
            ("SIGTERM during a 2 s long poll", [], 2, True),
            ("SIGTERM with --shutdown-timeout 1s during a 20 s long poll",
             ["--shutdown-timeout", "1s"], 20, False)):
        sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                     extra_args=args).start()
        res = {}

        def poll():
            c = sc.conn()
            try:
                res["r"] = request(c, "GET", "/bot%s/getUpdates?timeout=%d&offset=%d"
                                   % (token(secret), poll_s, 10 ** 9))
            except Exception as e:
                res["e"] = e
            c.close()
        before = si.stats()["waiting_polls"]
        th = threading.Thread(target=poll, daemon=True)
        th.start()
        ts = harness.time_scale()   # > 1 under TGSIDECAR_WRAPPER (valgrind)
        waiting = harness.wait_until(lambda: si.stats()["waiting_polls"] > before,
                                     5 * ts)
        t0 = time.monotonic()
        sc.proc.send_signal(signal.SIGTERM)
        refused = harness.wait_until(
            lambda: not harness.port_accepts("127.0.0.1", sc.port), 2 * ts)
        st = sc.proc.wait(harness.patient(15))
        t_exit = time.monotonic()
        th.join(harness.patient(15))
        r = res.get("r")
        t.ok(waiting and refused, "%s: the listener closes at once" % desc)
        if want_reply:
            # The order is the sidecar's own: its access line for the poll
            # comes before "stopped" (the client thread's clock is not).
            log = sc.log()
            answered = log.find("getUpdates bot=%s status=200" % harness.BOT_ID)
            stopped = log.find(" stopped")
            t.ok(r is not None and r.status == 200 and (r.json() or {}).get("ok")
                 and 0 <= answered < stopped,
                 "%s: the poll is answered before the sidecar exits" % desc)
        else:
            # Not at the poll's end (20 s); quiet machine: 1.0 s.
            t.ok(t_exit - t0 < 10 * ts, "%s: the sidecar exits after the shutdown "
                 "timeout (%.1f s)" % (desc, t_exit - t0))
            t.ok(harness.wait_until(
                lambda: si.stats()["waiting_polls"] == before, 3 * ts),
                "%s: the upstream poll is closed too" % desc)
        t.is_(st, 0, "%s: exit status 0" % desc)
        sc.stop()


def check_sigint(t, wd, si, certs):
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct").start()
    st, killed = sc.proc.stop(timeout=harness.patient(10), sig=signal.SIGINT)
    t.ok(st == 0 and not killed, "SIGINT -> exit status 0 (got %r)" % st)


def check_ipv6(t, wd, si, certs, secrets):
    desc = "-l [::1]:PORT serves getMe over IPv6 loopback"
    if not harness.ipv6_loopback_available():
        t.skip(desc, "no IPv6 loopback")
        return
    secret = harness.unique_secret("v6")
    secrets.append(secret)
    sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert, proxy="direct",
                 host="::1").start()
    try:
        c = http.client.HTTPConnection("::1", sc.port, timeout=harness.CLIENT_TIMEOUT)
        r = request(c, "GET", "/bot%s/getMe" % token(secret))
        c.close()
        t.ok(r.status == 200 and (r.json() or {}).get("result", {}).get("id") == 123456,
             desc)
        t.ok(not harness.port_accepts("127.0.0.1", sc.port),
             "a sidecar on [::1] does not also listen on 127.0.0.1")
    finally:
        st, killed = sc.stop()
    t.ok(st == 0 and not killed, "IPv6 sidecar exits 0 on SIGTERM")


def main():
    t = Tap()
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    secrets = []
    for part, args in ((check_simple_cli, (t, wd, si, certs)),
                       (check_precedence, (t, wd, si, certs, secrets)),
                       (check_env_proxy, (t, wd, si, certs, secrets)),
                       (check_drain, (t, wd, si, certs, secrets)),
                       (check_sigint, (t, wd, si, certs)),
                       (check_ipv6, (t, wd, si, certs, secrets))):
        try:
            part(*args)
        except Exception:
            t.fail_exception(part.__name__)
    logs = "".join(harness.read_text(os.path.join(wd, f))
                   for f in os.listdir(wd) if f.startswith("sidecar"))
    t.ok(logs and not [s for s in secrets if s in logs],
         "sidecar logs exist and hold no token secret")
    si.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
