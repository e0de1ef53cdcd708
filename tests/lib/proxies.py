# SPDX-License-Identifier: ISC
"""Launchers for the real proxies the integration tests go through:
squid and tinyproxy (HTTP CONNECT), microsocks (SOCKS5), each on a free
loopback port, configured in its own directory, stopped by pid."""

import os
import pwd
import urllib.parse

import harness
from harness import Proc, alloc_port, wait_port, wait_until


def _mkdir(parent, name, mode=0o777):
    d = os.path.join(parent, name)
    os.makedirs(d, exist_ok=True)
    os.chmod(d, mode)   # squid/tinyproxy may drop to another user
    return d


class _Proxy:
    scheme = "http"
    name = "proxy"
    user = None
    password = None

    def __init__(self, workdir):
        self.port = alloc_port()
        self.proc = None

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        """The proxy URL, with percent-encoded credentials if any."""
        return self.url_with(self.user, self.password)

    def url_with(self, user=None, password=None, scheme=None):
        cred = ""
        if user is not None:
            cred = urllib.parse.quote(user, safe="")
            if password is not None:
                cred += ":" + urllib.parse.quote(password, safe="")
            cred += "@"
        return "%s://%s%s" % (scheme or self.scheme, cred, self.addr)

    def start(self, timeout=15.0):
        self.proc.start()
        if not wait_port("127.0.0.1", self.port, timeout, self.proc):
            st, _ = self.proc.stop(timeout=3)
            raise RuntimeError("%s did not listen on %s (exit %r):\n%s\n%s"
                               % (self.name, self.addr, st, self.proc.stdout(),
                                  self.proc.stderr() + self.extra_log()))
        return self

    def extra_log(self):
        return ""

    def stop(self):
        if self.proc is None:
            return None
        st, killed = self.proc.stop(timeout=8.0)
        return st

    def log(self):
        return self.proc.stdout() + self.proc.stderr() + self.extra_log()

    def __repr__(self):
        return "%s(%s)" % (self.name, self.url)


class Squid(_Proxy):
    """squid -N with a minimal config allowing CONNECT to the given ports.
    auth: None, ("basic", user, password) (basic_ncsa_auth, one user) or
    ("ntlm",) (ntlm_fake_auth: a real NTLM handshake, any credentials;
    the access log names the user)."""
    name = "squid"

    def __init__(self, workdir, connect_ports, auth=None):
        super().__init__(workdir)
        self.dir = _mkdir(workdir, "squid-%d" % self.port)
        ports = " ".join(str(p) for p in connect_ports)
        auth_conf = self._auth_conf(auth)
        conf = os.path.join(self.dir, "squid.conf")
        d = self.dir
        with open(conf, "w") as f:
            f.write("""\
http_port 127.0.0.1:{port}
visible_hostname localhost
acl localnet src 127.0.0.1/32
acl SSL_ports port {ports}
acl Safe_ports port {ports}
acl CONNECT method CONNECT
http_access deny !Safe_ports
http_access deny CONNECT !SSL_ports
{auth}http_access allow localnet
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
digest_generation off
shutdown_lifetime 0 seconds
""".format(port=self.port, ports=ports, d=d, auth=auth_conf))
        try:
            pw = pwd.getpwnam("proxy")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        except (KeyError, PermissionError):
            pass
        self.proc = Proc(["/usr/sbin/squid", "-N", "-f", conf], self.dir, "squid")

    def _auth_conf(self, auth):
        if auth is None:
            return ""
        helpers = "/usr/lib/squid"
        if auth[0] == "basic":
            _, user, password = auth
            crypted = harness.run(["openssl", "passwd", "-apr1", password])
            pw = os.path.join(self.dir, "passwd")
            with open(pw, "w") as f:
                f.write("%s:%s\n" % (user, crypted[1].strip()))
            os.chmod(pw, 0o644)
            prog = "basic program %s/basic_ncsa_auth %s" % (helpers, pw)
        elif auth[0] == "ntlm":
            prog = "ntlm program %s/ntlm_fake_auth" % helpers
        else:
            raise ValueError("squid auth: basic or ntlm")
        return ("auth_param %s\nauth_param %s children 2\n"
                "acl authed proxy_auth REQUIRED\n"
                "http_access deny !authed\n" % (prog, auth[0]))

    def extra_log(self):
        return harness.read_text(os.path.join(self.dir, "cache.log"))

    def access_log(self):
        return harness.read_text(os.path.join(self.dir, "access.log"))


class Tinyproxy(_Proxy):
    """tinyproxy -d; with basic_auth=(user, pass) it answers 407 to
    requests without matching credentials."""
    name = "tinyproxy"

    def __init__(self, workdir, connect_ports, basic_auth=None):
        super().__init__(workdir)
        self.dir = _mkdir(workdir, "tinyproxy-%d" % self.port)
        conf = os.path.join(self.dir, "tinyproxy.conf")
        lines = ["Port %d" % self.port,
                 "Listen 127.0.0.1",
                 "Timeout 600",
                 "Allow 127.0.0.1",
                 "MaxClients 200",
                 'PidFile "%s/tinyproxy.pid"' % self.dir,
                 'LogFile "%s/tinyproxy.log"' % self.dir,
                 "LogLevel Info",
                 "DisableViaHeader Yes"]
        lines += ["ConnectPort %d" % p for p in connect_ports]
        if basic_auth:
            self.auth_user, self.auth_password = basic_auth
            lines.append("BasicAuth %s %s" % basic_auth)
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = Proc(["/usr/bin/tinyproxy", "-d", "-c", conf], self.dir,
                         "tinyproxy")

    def extra_log(self):
        return harness.read_text(os.path.join(self.dir, "tinyproxy.log"))


class Microsocks(_Proxy):
    """microsocks on 127.0.0.1; with user/password it requires RFC 1929
    authentication. scheme: socks5 or socks5h."""
    name = "microsocks"

    def __init__(self, workdir, user=None, password=None, scheme="socks5h"):
        super().__init__(workdir)
        self.scheme = scheme
        self.user, self.password = user, password
        self.dir = _mkdir(workdir, "microsocks-%d" % self.port, 0o755)
        argv = ["/usr/bin/microsocks", "-i", "127.0.0.1", "-p", str(self.port)]
        if user is not None:
            argv += ["-u", user, "-P", password]
        self.proc = Proc(argv, self.dir, "microsocks")


class Chain:
    """--pre-proxy SOCKS in front of an HTTP proxy: both started together."""
    name = "chain"

    def __init__(self, pre, proxy):
        self.pre, self.proxy = pre, proxy

    def start(self):
        self.pre.start()
        self.proxy.start()
        return self

    def stop(self):
        a = self.proxy.stop()
        b = self.pre.stop()
        return a, b

    @property
    def url(self):
        return self.proxy.url

    @property
    def pre_url(self):
        return self.pre.url

    def log(self):
        return self.pre.log() + self.proxy.log()
