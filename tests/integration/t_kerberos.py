#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Negotiate (Kerberos) proxy auth from the ticket cache, with a real MIT
KDC and squid's negotiate_kerberos_auth on loopback: a realm made at test
time in a temp dir (KRB5_CONFIG, KRB5_KDC_PROFILE, a keytab for
HTTP/localhost), a ticket from kinit in a temp KRB5CCNAME, and the
sidecar with proxy_auth = negotiate and no proxy_user: getMe 200 as the
ticket's user; no ticket, an expired one or a destroyed cache: a 502
whose description says to run kinit; a new kinit works without a restart;
a client keytab (KRB5_CLIENT_KTNAME) needs no kinit at all.  TAP output."""

import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Proc, Sidecar, Tap, token  # noqa: E402

REALM = "TGS.TEST"
HELPER = "/usr/lib/squid/negotiate_kerberos_auth"
TOOLS = ("/usr/sbin/krb5kdc", "/usr/sbin/kdb5_util", "/usr/sbin/kadmin.local",
         "/usr/bin/kinit", "/usr/bin/kdestroy", "/usr/bin/klist",
         "/usr/sbin/squid", HELPER)
WORDS = ("the proxy asked for Kerberos (Negotiate) and no valid ticket was "
         "found: run kinit")


class Realm:
    """An MIT KDC for REALM on a free loopback port, its files in d."""

    def __init__(self, wd):
        self.d = os.path.join(wd, "krb")
        os.makedirs(self.d)
        os.chmod(self.d, 0o755)     # squid's helper runs as "proxy"
        self.port = harness.alloc_port()
        d = self.d
        self.conf = os.path.join(d, "krb5.conf")
        with open(self.conf, "w") as f:
            f.write("[libdefaults]\n default_realm = %s\n"
                    " dns_lookup_kdc = false\n dns_lookup_realm = false\n"
                    " rdns = false\n dns_canonicalize_hostname = false\n"
                    " udp_preference_limit = 1\n clockskew = 1\n"
                    "[realms]\n %s = {\n  kdc = 127.0.0.1:%d\n }\n"
                    "[domain_realm]\n localhost = %s\n"
                    % (REALM, REALM, self.port, REALM))
        self.kdcconf = os.path.join(d, "kdc.conf")
        with open(self.kdcconf, "w") as f:
            f.write("[realms]\n %s = {\n  database_name = %s/principal\n"
                    "  key_stash_file = %s/stash\n  acl_file = %s/kadm5.acl\n"
                    "  kdc_listen = 127.0.0.1:%d\n"
                    "  kdc_tcp_listen = 127.0.0.1:%d\n }\n"
                    "[logging]\n kdc = FILE:%s/kdc.log\n"
                    % (REALM, d, d, d, self.port, self.port, d))
        self.env = harness.scrubbed_env({"KRB5_CONFIG": self.conf,
                                         "KRB5_KDC_PROFILE": self.kdcconf})
        self.proc = None

    def run(self, *argv, stdin=None):
        r = subprocess.run(list(argv), env=self.env, capture_output=True,
                           input=stdin, timeout=harness.patient(30))
        if r.returncode != 0:
            raise RuntimeError("%s: %s" % (" ".join(argv), r.stderr))
        return r

    def kadmin(self, q):
        return self.run("/usr/sbin/kadmin.local", "-q", q)

    def start(self):
        self.run("/usr/sbin/kdb5_util", "create", "-s", "-r", REALM,
                 "-P", "master-" + harness.unique_secret("m"))
        self.kadmin("addprinc -pw alicepw alice")
        self.kadmin("addprinc -randkey HTTP/localhost")
        self.http_keytab = os.path.join(self.d, "http.keytab")
        self.kadmin("ktadd -k %s HTTP/localhost" % self.http_keytab)
        os.chmod(self.http_keytab, 0o644)   # for the helper, test only
        self.alice_keytab = os.path.join(self.d, "alice.keytab")
        self.kadmin("ktadd -k %s -norandkey alice" % self.alice_keytab)
        self.proc = Proc(["/usr/sbin/krb5kdc", "-n", "-P",
                          os.path.join(self.d, "kdc.pid")], self.d, "krb5kdc",
                         env=self.env)
        self.proc.start()
        if not harness.wait_port("127.0.0.1", self.port, 15, self.proc):
            raise RuntimeError("krb5kdc did not listen: %s" % self.proc.log())
        return self

    def kinit(self, cache, lifetime=None):
        argv = ["/usr/bin/kinit"] + (["-l", lifetime] if lifetime else []) + \
            ["-c", cache, "alice"]
        self.run(*argv, stdin=b"alicepw\n")

    def kdestroy(self, cache):
        self.run("/usr/bin/kdestroy", "-c", cache)

    def stop(self):
        if self.proc is not None:
            self.proc.stop()


class NegotiateSquid:
    """squid asking for Negotiate, checked by negotiate_kerberos_auth."""

    def __init__(self, wd, realm, ports):
        self.port = harness.alloc_port()
        self.dir = os.path.join(wd, "squid-krb")
        os.makedirs(self.dir)
        shutil.chown(self.dir, "proxy")
        d = self.dir
        conf = os.path.join(d, "squid.conf")
        with open(conf, "w") as f:
            f.write("""\
http_port 127.0.0.1:{port}
visible_hostname localhost
auth_param negotiate program {helper} -s HTTP/localhost@{realm} -k {kt}
auth_param negotiate children 2
auth_param negotiate keep_alive on
acl localnet src 127.0.0.1/32
acl SSL_ports port {ports}
acl CONNECT method CONNECT
acl krb proxy_auth REQUIRED
http_access deny !localnet
http_access deny CONNECT !SSL_ports
http_access allow krb
http_access deny all
cache deny all
cache_mem 8 MB
pid_filename {d}/squid.pid
access_log stdio:{d}/access.log
cache_log {d}/cache.log
cache_store_log none
coredump_dir {d}
netdb_filename none
pinger_enable off
dns_nameservers 127.0.0.1
shutdown_lifetime 0 seconds
""".format(port=self.port, helper=HELPER, realm=REALM,
                kt=realm.http_keytab, ports=" ".join(str(p) for p in ports),
                d=d))
        env = dict(realm.env, KRB5RCACHETYPE="none")
        self.proc = Proc(["/usr/sbin/squid", "-N", "-f", conf], d, "squid",
                         env=env)

    @property
    def url(self):
        # The name, not the address: the service is HTTP/localhost.
        return "http://localhost:%d" % self.port

    def start(self):
        self.proc.start()
        if not harness.wait_port("127.0.0.1", self.port, 15, self.proc):
            raise RuntimeError("squid did not listen: %s" % self.log())
        return self

    def access_log(self):
        return harness.read_text(os.path.join(self.dir, "access.log"))

    def log(self):
        return self.proc.log() + harness.read_text(
            os.path.join(self.dir, "cache.log"))

    def stop(self):
        self.proc.stop()


def description(r):
    return (harness.try_json(r.body) or {}).get("description", "")


def sidecar(wd, env, realm, extra_env, name):
    """No spares: a spare built while the ticket was good would carry a
    request after kdestroy (rightly), and the check would prove nothing."""
    e = {"KRB5_CONFIG": realm.conf}
    e.update(extra_env)
    return Sidecar(wd, upstream=env["si"].url, ca_file=env["certs"].ca_cert,
                   proxy=env["sq"].url, env=e, name=name,
                   extra_args=["--proxy-auth", "negotiate",
                               "--retries", "0", "--prewarm", "0"]).start()


def part_ticket(t, env):
    wd, realm, sq = env["wd"], env["realm"], env["sq"]
    tok = token(harness.unique_secret("krb"))
    cache = "FILE:" + os.path.join(wd, "cc-alice")
    realm.kinit(cache)
    sc = sidecar(wd, env, realm, {"KRB5CCNAME": cache}, "sidecar-krb")
    try:
        r = sc.get("/bot%s/getMe" % tok)
        t.is_(r.status, 200, "a ticket in KRB5CCNAME, proxy_auth = "
              "negotiate, no proxy_user: getMe 200 (%s)"
              % description(r)[:200])
        t.ok(re.search(r"CONNECT \S+ alice@%s" % REALM, sq.access_log()),
             "squid logged the CONNECT as alice@%s" % REALM)
        realm.kdestroy(cache)
        r = sc.get("/bot%s/getMe" % tok)
        t.ok(r.status == 502 and WORDS in description(r),
             "after kdestroy: 502 saying so (%d: %s)"
             % (r.status, description(r)[:300]))
        t.like(description(r), "answered 407 to CONNECT",
               "... and naming the proxy's 407")
        t.unlike(sc.log(), tok.split(":")[1], "the log holds no bot token")
        realm.kinit(cache)
        r = sc.get("/bot%s/getMe" % tok)
        t.is_(r.status, 200, "a new kinit works without a restart")
    finally:
        sc.stop()


def part_no_ticket(t, env):
    wd, realm = env["wd"], env["realm"]
    tok = token(harness.unique_secret("krbn"))
    sc = sidecar(wd, env, realm, {"KRB5CCNAME": "FILE:" + os.path.join(
        wd, "cc-none")}, "sidecar-krb-none")
    try:
        r = sc.get("/bot%s/getMe" % tok)
        t.ok(r.status == 502 and WORDS in description(r) and
             "KRB5CCNAME" in description(r),
             "no ticket at all: 502 saying run kinit / KRB5CCNAME (%d: %s)"
             % (r.status, description(r)[:300]))
    finally:
        sc.stop()


def part_expired(t, env):
    wd, realm = env["wd"], env["realm"]
    tok = token(harness.unique_secret("krbe"))
    cache = "FILE:" + os.path.join(wd, "cc-short")
    realm.kinit(cache, lifetime="3s")
    sc = sidecar(wd, env, realm, {"KRB5CCNAME": cache}, "sidecar-krb-exp")
    try:
        klist = lambda: subprocess.run(  # noqa: E731
            ["/usr/bin/klist", "-s", "-c", cache], env=realm.env).returncode
        t.ok(harness.wait_until(lambda: klist() != 0, 15, step=0.2,
                                scale=False),
             "a 3 s ticket expires (klist -s fails)")
        # ... and the KDC's clock skew allowance (clockskew = 1) passes.
        gone = time.time() + 2
        harness.wait_until(lambda: time.time() > gone, 5, scale=False)
        r = sc.get("/bot%s/getMe" % tok)
        t.ok(r.status == 502 and WORDS in description(r),
             "an expired ticket: 502 saying so (%d: %s)"
             % (r.status, description(r)[:300]))
    finally:
        sc.stop()


def part_client_keytab(t, env):
    wd, realm = env["wd"], env["realm"]
    tok = token(harness.unique_secret("krbk"))
    sc = sidecar(wd, env, realm, {
        "KRB5CCNAME": "MEMORY:tgsidecar",
        "KRB5_CLIENT_KTNAME": realm.alice_keytab}, "sidecar-krb-kt")
    try:
        r = sc.get("/bot%s/getMe" % tok)
        t.is_(r.status, 200, "no kinit, KRB5_CLIENT_KTNAME names alice's "
              "keytab: GSS-API gets the ticket itself, getMe 200 (%s)"
              % description(r)[:200])
    finally:
        sc.stop()


def main():
    t = Tap()
    missing = [p for p in TOOLS if not os.path.exists(p)]
    if missing or os.geteuid() != 0:
        t.skip("Kerberos proxy auth", "needs root and %s (contrib/deps.sh "
               "--test)" % ", ".join(missing or ["root"]))
        return t.done()
    realm = sq = si = None
    try:
        wd = harness.make_tempdir()
        os.chmod(wd, 0o755)
        certs = harness.Certs(wd)
        si = harness.StandIn(wd, certs).start()
        realm = Realm(wd).start()
        sq = NegotiateSquid(wd, realm, [si.port]).start()
        env = dict(wd=wd, certs=certs, si=si, realm=realm, sq=sq)
    except Exception:
        t.fail_exception("setup")
        for p in (sq, realm, si):
            if p is not None:
                p.stop()
        return t.done()
    try:
        t.run_parts((part_ticket, part_no_ticket, part_expired,
                     part_client_keytab), env)
    finally:
        sq.stop()
        realm.stop()
        si.stop()
    return t.done()


if __name__ == "__main__":
    time.tzset()
    sys.exit(main())
