# SPDX-License-Identifier: ISC
"""Integration test harness for tgsidecar: TAP output, processes, ports,
certificates, the Bot API stand-in and the sidecar itself.

Standard library only; run with Debian's /usr/bin/python3.
Every wait is bounded in time; nothing sleeps and hopes.
"""

import atexit
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

LIBDIR = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"

# The stand-in knows this bot id; any secret is accepted unless it
# starts with "BAD".
BOT_ID = "123456"
SECOND_BOT_ID = "246810"    # the stand-in knows this bot too

# Environment variables that must not leak into spawned daemons.
SCRUB_ENV = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
             "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy",
             "ftp_proxy", "FTP_PROXY", "socks_proxy", "SOCKS_PROXY",
             "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")


def token(secret, bot=BOT_ID):
    """A bot token for the stand-in's bot (or bot SECOND_BOT_ID) with the
    given secret part."""
    return bot + ":" + secret


def unique_secret(tag):
    """A secret that is easy to grep for and unlikely to occur by chance."""
    return "AA%s%sz9Q" % (tag, os.urandom(6).hex())


# ---------------------------------------------------------------- TAP

class Tap:
    """A TAP producer with a trailing plan. Exit status 1 if any test
    failed or the plan was never printed."""

    def __init__(self, name=None):
        self.n = 0
        self.failed = 0
        self.name = name
        self._planned = None
        sys.stdout.reconfigure(line_buffering=True)

    def plan(self, n):
        self._planned = n
        print("1..%d" % n)

    def _desc(self, desc):
        return desc.replace("\n", " ").replace("#", "\\#")

    def ok(self, cond, desc):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, self._desc(desc)))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, self._desc(desc)))
        return bool(cond)

    def is_(self, got, want, desc):
        r = self.ok(got == want, desc)
        if not r:
            self.diag("     got: %r" % (got,))
            self.diag("expected: %r" % (want,))
        return r

    def like(self, got, sub, desc):
        r = self.ok(isinstance(got, (str, bytes)) and sub in got, desc)
        if not r:
            self.diag("     got: %r" % (shorten(got),))
            self.diag("expected to contain: %r" % (sub,))
        return r

    def unlike(self, got, sub, desc):
        r = self.ok(isinstance(got, (str, bytes)) and sub not in got, desc)
        if not r:
            self.diag("did not expect to contain: %r" % (sub,))
        return r

    def skip(self, desc, reason):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, self._desc(desc), reason))

    def diag(self, msg):
        for line in str(msg).splitlines() or [""]:
            print("# " + line)

    def fail_exception(self, desc):
        """Record an unexpected exception as a failed test."""
        self.ok(False, "%s (exception)" % desc)
        self.diag(traceback.format_exc())

    def run_parts(self, parts, *args):
        """Run each part(self, *args) in turn: an exception fails that part
        alone, and a diagnostic line says how long each took."""
        for part in parts:
            t0 = time.monotonic()
            try:
                part(self, *args)
            except Exception:
                self.fail_exception(part.__name__)
            self.diag("%s: %.1fs" % (part.__name__, time.monotonic() - t0))

    def done(self):
        if self._planned is None:
            print("1..%d" % self.n)
        elif self._planned != self.n:
            self.diag("planned %d tests but ran %d" % (self._planned, self.n))
            self.failed += 1
        if self.failed:
            self.diag("%d of %d tests failed" % (self.failed, self.n))
        return 1 if self.failed else 0


def shorten(v, n=400):
    s = v if isinstance(v, (str, bytes)) else repr(v)
    if len(s) > n:
        return s[:n] + (b"..." if isinstance(s, bytes) else "...")
    return s


# ---------------------------------------------------------------- cleanup

_cleanups = []


def on_cleanup(fn):
    """Run fn at exit (also after SIGTERM/SIGINT/SIGHUP to the test)."""
    _cleanups.append(fn)
    return fn


def run_cleanups():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception:  # keep cleaning
            traceback.print_exc(file=sys.stderr)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


atexit.register(run_cleanups)
for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


def make_tempdir(prefix="tgsidecar-test-"):
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    on_cleanup(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


# ---------------------------------------------------------------- patience

# The suite must pass on a loaded machine too (make -j, CI runners, other
# jobs): at a load of 20 on 2 cores every step here took 10 to 30 times
# longer than on a quiet machine, and 11 checks failed on bounds made for a
# quiet one. A bound on waiting for something that should happen is only
# reached when the test fails anyway, so a generous one costs nothing on a
# good run: such bounds are scaled here, in one place. A window in which
# something must NOT happen, or a bound that is itself the outcome checked
# (well under some other timeout), is not scaled: wait_until(scale=False).
PATIENCE = 10.0


def patience():
    """The factor for bounds on waits for what should happen: PATIENCE, or
    $TGSIDECAR_PATIENCE (1 gives the bare bounds); at least time_scale()."""
    try:
        p = float(os.environ.get("TGSIDECAR_PATIENCE") or PATIENCE)
    except ValueError:
        p = PATIENCE
    return max(1.0, p, time_scale())


def patient(seconds):
    """A bound of seconds on a quiet machine, made generous (see
    PATIENCE): for socket timeouts and joins that wait for an answer."""
    return seconds * patience()


# ---------------------------------------------------------------- waiting

def wait_until(pred, timeout=10.0, step=0.02, scale=True):
    """Poll pred() until it returns a truthy value or timeout passes.
    Returns the last value of pred(). timeout is a quiet machine's bound,
    scaled by patience() unless scale is False."""
    if scale:
        timeout = patient(timeout)
    deadline = time.monotonic() + timeout
    max_iter = int(timeout / max(step, 0.001)) + 10
    v = None
    for _ in range(max_iter):
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            break
        time.sleep(step)
    return v


def port_accepts(host, port, timeout=0.5):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_port(host, port, timeout=10.0, proc=None):
    """Wait until host:port accepts a TCP connection. If proc is given and
    exits meanwhile, give up at once."""
    def check():
        if proc is not None and proc.poll() is not None:
            return "dead"
        return port_accepts(host, port)
    r = wait_until(check, timeout, 0.02)
    return r is True


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port(host="127.0.0.1"):
    """A port that is free right now on host, below the ephemeral range so
    that no outgoing connection takes it as its source port before the
    daemon we give it to binds it."""
    lo, _ = _ephemeral_range()
    top = lo - 1 if lo > 12000 else 32767
    for _ in range(200):
        p = random.randint(10000, top)
        if _bindable(host, p):
            return p
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


_handed_out = set()


def alloc_port(host="127.0.0.1"):
    """free_port(), never the same port twice in one test run."""
    for _ in range(50):
        p = free_port(host)
        if p not in _handed_out:
            _handed_out.add(p)
            return p
    raise RuntimeError("no free port")


def closed_port(host="127.0.0.1"):
    """A port on which nothing listens (and that we will not reuse)."""
    return alloc_port(host)


def ipv6_loopback_available():
    if not socket.has_ipv6:
        return False
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


# ---------------------------------------------------------------- processes

def scrubbed_env(extra=None):
    env = {k: v for k, v in os.environ.items()
           if k not in SCRUB_ENV and not k.startswith("TGSIDECAR_")}
    env["LC_ALL"] = "C"
    if extra:
        env.update(extra)
    return env


class Proc:
    """A child process with stdout and stderr in log files, stopped by pid:
    SIGTERM, then SIGKILL after a bounded wait."""

    def __init__(self, argv, workdir, name, env=None, cwd=None):
        self.argv = [str(a) for a in argv]
        self.name = name
        self.workdir = workdir
        self.env = env if env is not None else scrubbed_env()
        self.cwd = cwd or workdir
        self.stdout_path = os.path.join(workdir, name + ".out")
        self.stderr_path = os.path.join(workdir, name + ".err")
        self.p = None
        self.exit_status = None

    def start(self):
        out = open(self.stdout_path, "ab")
        err = open(self.stderr_path, "ab")
        try:
            self.p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                      stdout=out, stderr=err, env=self.env,
                                      cwd=self.cwd, close_fds=True,
                                      preexec_fn=getattr(self, "preexec",
                                                         None))
        finally:
            out.close()
            err.close()
        on_cleanup(self.kill_quietly)
        return self

    @property
    def pid(self):
        return self.p.pid if self.p else None

    def poll(self):
        return self.p.poll() if self.p else None

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.p.pid, sig)

    def wait(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=5.0, sig=signal.SIGTERM):
        """Stop with sig, then SIGKILL. Returns (exit status, killed)."""
        if self.p is None:
            return None, False
        killed = False
        if self.p.poll() is None:
            try:
                os.kill(self.p.pid, sig)
            except ProcessLookupError:
                pass
            if self.wait(timeout) is None:
                killed = True
                try:
                    os.kill(self.p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.wait(5.0)
        self.exit_status = self.p.poll()
        return self.exit_status, killed

    def kill_quietly(self):
        if self.p is not None and self.p.poll() is None:
            self.stop(timeout=2.0)

    def stdout(self):
        return read_text(self.stdout_path)

    def stderr(self):
        return read_text(self.stderr_path)

    def log(self):
        return self.stderr()


def vm_rss_kib(pid):
    """Resident set size of pid in KiB (Linux /proc), or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def run(argv, env=None, timeout=20, stdin=None):
    """Run a command to completion; returns (status, stdout, stderr).
    timeout: a quiet machine's, scaled by patience()."""
    r = subprocess.run([str(a) for a in argv], env=env or scrubbed_env(),
                       stdin=subprocess.DEVNULL if stdin is None else None,
                       input=stdin, capture_output=True,
                       timeout=patient(timeout))
    return (r.returncode, r.stdout.decode("utf-8", "replace"),
            r.stderr.decode("utf-8", "replace"))


# ---------------------------------------------------------------- certificates


def self_signed(wd, name="selfsigned"):
    """A self-signed certificate for 127.0.0.1 that no test CA signed,
    for a server the sidecar must refuse to trust: (cert, key) paths."""
    k = os.path.join(wd, name + ".key")
    c = os.path.join(wd, name + ".pem")
    st, _, err = run(["openssl", "req", "-x509", "-newkey", "ec",
                      "-pkeyopt", "ec_paramgen_curve:prime256v1",
                      "-nodes", "-keyout", k, "-out", c, "-days", "2",
                      "-subj", "/CN=127.0.0.1", "-addext",
                      "subjectAltName=IP:127.0.0.1"])
    if st != 0:
        raise RuntimeError("openssl: %s" % err)
    return c, k

class Certs:
    """A CA, a server certificate it signed (IP:127.0.0.1, IP:::1,
    DNS:localhost) and a second, unrelated CA for 'wrong CA' tests."""

    def __init__(self, d):
        self.dir = os.path.join(d, "pki")
        os.makedirs(self.dir, exist_ok=True)
        p = lambda n: os.path.join(self.dir, n)
        self.ca_key, self.ca_cert = p("ca.key"), p("ca.pem")
        self.key, self.cert = p("server.key"), p("server.pem")
        self.other_ca_key, self.other_ca_cert = p("other-ca.key"), p("other-ca.pem")
        self._make_ca(self.ca_key, self.ca_cert, "tgsidecar test CA")
        self._make_ca(self.other_ca_key, self.other_ca_cert, "unrelated test CA")
        self._make_server()

    def _openssl(self, *args):
        st, out, err = run(["openssl"] + list(args), timeout=30)
        if st != 0:
            raise RuntimeError("openssl %s failed: %s" % (args[0], err))

    def _make_ca(self, key, cert, cn):
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes",
                      "-keyout", key, "-out", cert, "-days", "30",
                      "-subj", "/CN=" + cn,
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def _make_server(self, name="server",
                     san="IP:127.0.0.1,IP:::1,DNS:localhost", cn="localhost",
                     ca_key=None, ca_cert=None, start=None, end=None):
        csr = os.path.join(self.dir, name + ".csr")
        ext = os.path.join(self.dir, name + ".ext")
        key = os.path.join(self.dir, name + ".key")
        cert = os.path.join(self.dir, name + ".pem")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=%s\n" % san)
        self._openssl("req", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes",
                      "-keyout", key, "-out", csr, "-subj", "/CN=" + cn)
        if start is not None:
            self._sign_dated(name, csr, cert, ext, ca_key or self.ca_key,
                             ca_cert or self.ca_cert, start, end)
            return key, cert
        self._openssl("x509", "-req", "-in", csr,
                      "-CA", ca_cert or self.ca_cert,
                      "-CAkey", ca_key or self.ca_key, "-CAcreateserial",
                      "-out", cert, "-days", "30", "-extfile", ext)
        return key, cert

    def leaf(self, name, san, cn=None, other_ca=False, start=None,
             end=None):
        """A server certificate for subjectAltName san (e.g.
        "DNS:a.example,IP:127.0.0.1"), signed by the test CA or, with
        other_ca, by the unrelated one; start/end ("YYYYMMDDHHMMSSZ")
        date it (openssl ca), else valid for 30 days from now. An object
        with .key and .cert, as StandIn takes."""
        ca_key, ca_cert = ((self.other_ca_key, self.other_ca_cert)
                           if other_ca else (self.ca_key, self.ca_cert))
        o = type("LeafCert", (), {})()
        o.key, o.cert = self._make_server("leaf-" + name, san,
                                          cn or name, ca_key, ca_cert,
                                          start, end)
        return o

    def _sign_dated(self, name, csr, cert, ext, ca_key, ca_cert, start, end):
        """openssl ca, the one command that sets both dates."""
        d = os.path.join(self.dir, name + ".cadb")
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "serial"), "w") as f:
            f.write("%s\n" % os.urandom(8).hex())
        cnf = os.path.join(d, "ca.cnf")
        with open(cnf, "w") as f:
            f.write("[ca]\ndefault_ca = d\n[d]\ndir = %s\n"
                    "database = $dir/index.txt\nnew_certs_dir = $dir\n"
                    "serial = $dir/serial\ndefault_md = sha256\n"
                    "policy = p\nunique_subject = no\n"
                    "[p]\ncommonName = supplied\n" % d)
        self._openssl("ca", "-batch", "-config", cnf, "-in", csr,
                      "-out", cert, "-keyfile", ca_key, "-cert", ca_cert,
                      "-startdate", start, "-enddate", end,
                      "-extfile", ext, "-notext")

    def other_name(self, name="wrong.example"):
        """A certificate from the same CA, for another host name only:
        an object with .key and .cert, as StandIn takes."""
        o = type("NamedCert", (), {})()
        o.key, o.cert = self._make_server("named-" + name, "DNS:" + name, name)
        return o


# ---------------------------------------------------------------- stand-in

def big_file_chunks(total=20 * 1024 * 1024):
    """The deterministic bytes of /file/bot<token>/big/20mb.bin: the
    concatenation of sha256(b"tgsidecar-big-%d" % i) for i = 0, 1, ...,
    cut at total bytes; yielded in 64 KiB pieces."""
    block = 64 * 1024
    i = 0
    done = 0
    buf = b""
    for _ in range(total // block + 2):
        if done >= total:
            break
        n = min(block, total - done)
        parts = [buf]
        have = len(buf)
        while have < n:
            parts.append(hashlib.sha256(b"tgsidecar-big-%d" % i).digest())
            i += 1
            have += 32
        data = b"".join(parts)
        buf = data[n:]
        yield data[:n]
        done += n


def big_file_sha256(total=20 * 1024 * 1024):
    h = hashlib.sha256()
    for c in big_file_chunks(total):
        h.update(c)
    return h.hexdigest()


class StandIn:
    """Launches tests/lib/standin.py: TLS Bot API stand-in + control port."""

    def __init__(self, workdir, certs, name="standin", prefix="",
                 tls_max=None, host="127.0.0.1"):
        self.workdir = workdir
        self.certs = certs
        self.host = host
        self.port = alloc_port(host)
        self.control_port = alloc_port()
        self.prefix = prefix
        self.proc = Proc([PYTHON, os.path.join(LIBDIR, "standin.py"),
                          "--port", self.port,
                          "--control-port", self.control_port,
                          "--cert", certs.cert, "--key", certs.key]
                         + (["--prefix", prefix] if prefix else [])
                         + (["--tls-max", tls_max] if tls_max else [])
                         + (["--host", host] if host != "127.0.0.1" else []),
                         workdir, name)

    @property
    def url(self):
        return ("https://[%s]:%d" if ":" in self.host else
                "https://%s:%d") % (self.host, self.port)

    def start(self):
        self.proc.start()
        ok = wait_until(lambda: self.proc.poll() is not None
                        or "standin ready" in self.proc.stdout(), 10, 0.02)
        if not (ok and self.proc.alive() and
                port_accepts(self.host, self.port) and
                port_accepts("127.0.0.1", self.control_port)):
            raise RuntimeError("stand-in did not start:\n" + self.proc.stderr())
        return self

    def stop(self):
        return self.proc.stop()

    def _control(self, method, path, obj=None):
        c = http.client.HTTPConnection("127.0.0.1", self.control_port,
                                       timeout=patient(10))
        try:
            body = json.dumps(obj).encode() if obj is not None else None
            hdrs = {"Content-Type": "application/json"} if body else {}
            c.request(method, path, body=body, headers=hdrs)
            r = c.getresponse()
            data = r.read()
            if r.status != 200:
                raise RuntimeError("stand-in control %s %s: %d %r"
                                   % (method, path, r.status, data))
            return json.loads(data)
        finally:
            c.close()

    def stats(self):
        return self._control("GET", "/_stats")

    def inject(self, update):
        return self._control("POST", "/_inject", update)

    def reset(self):
        return self._control("POST", "/_reset", {})

    def put_file(self, path, data):
        """Serve data (a str) as the file with file_path path."""
        return self._control("POST", "/_file", {"path": path, "data": data})

    def fault(self, method, mode, count=1):
        """The next count requests for method ("file" for downloads) get
        mode: reset, close, partial or stall (see standin.py FAULTS)."""
        return self._control("POST", "/_fault", {"method": method,
                                                 "mode": mode, "count": count})

    def connections(self):
        return self.stats()["connections"]

    def limits(self, chat_calls=None, window=1.0, retry_after=1):
        """Telegram's flood limits per bot and chat (standin.py LIMITS):
        more than chat_calls in window seconds gets 429 with retry_after.
        limits() turns them off."""
        o = {} if chat_calls is None else {"chat_calls": chat_calls,
                                            "window": window,
                                            "retry_after": retry_after}
        return self._control("POST", "/_limits", o)

    def rates(self, chat_rate, bot_rate=None, group_rate=None, burst=1,
              slack=0.0):
        """Telegram's limits as rates (calls a second) per chat, group
        and bot, each a bucket of burst (standin.py LIMITS): a call that
        comes over slack seconds early gets 429."""
        o = {"chat_rate": chat_rate, "burst": burst, "slack": slack}
        if bot_rate:
            o["bot_rate"] = bot_rate
        if group_rate:
            o["group_rate"] = group_rate
        return self._control("POST", "/_limits", o)


# ---------------------------------------------------------------- sidecar

def wrapper_argv():
    """$TGSIDECAR_WRAPPER split like a shell would (e.g. "valgrind -q ..."):
    what Sidecar puts in front of the daemon's argv. Empty if unset."""
    import shlex
    return shlex.split(os.environ.get("TGSIDECAR_WRAPPER", ""))


def time_scale():
    """How much longer the daemon may take to start and stop: 1, or
    $TGSIDECAR_TIME_SCALE (default 10) under a TGSIDECAR_WRAPPER."""
    if not wrapper_argv():
        return 1.0
    try:
        return max(1.0, float(os.environ.get("TGSIDECAR_TIME_SCALE") or 10))
    except ValueError:
        return 10.0


# A bot's socket timeout for an answer that should come: 30 s on a quiet
# machine; bot libraries themselves wait up to 500 s (grammY, telegraf).
CLIENT_TIMEOUT = patient(30)


def nofile_limit(n):
    """A preexec_fn setting RLIMIT_NOFILE to n (soft and hard). Raising it
    above the hard limit needs privilege; then the soft limit goes as high
    as the hard one allows."""
    def limit():
        import resource
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
        except (ValueError, OSError):
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
    return limit


def raise_own_nofile(n):
    """Raise this process's soft RLIMIT_NOFILE to n (bounded by the hard
    limit); returns the soft limit now in force."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n if hard == resource.RLIM_INFINITY else min(n, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def sidecar_bin():
    b = os.environ.get("TGSIDECAR_BIN")
    if not b:
        here = os.path.dirname(os.path.dirname(LIBDIR))
        b = os.path.join(here, "tgsidecar")
    return b


class Sidecar:
    """Runs $TGSIDECAR_BIN -l 127.0.0.1:PORT -u UPSTREAM --ca-file CA
    [-x PROXY] [--pre-proxy URL] [extra args], stderr to a log file."""

    _seq = 0

    def __init__(self, workdir, upstream=None, ca_file=None, proxy=None,
                 pre_proxy=None, extra_args=(), env=None, listen=None,
                 name=None, host="127.0.0.1", port=None, pass_listen=True,
                 nofile=None):
        Sidecar._seq += 1
        self.host = host
        self.port = port if port is not None else alloc_port(host)
        if listen is None:
            listen = ("[%s]:%d" if ":" in host else "%s:%d") % (host, self.port)
        argv = [sidecar_bin()]
        if pass_listen:
            argv += ["-l", listen]
        if upstream:
            argv += ["-u", upstream]
        if ca_file:
            argv += ["--ca-file", ca_file]
        if proxy:
            argv += ["-x", proxy]
        if pre_proxy:
            argv += ["--pre-proxy", pre_proxy]
        argv += list(extra_args)
        self.argv = argv
        if os.geteuid() != 0:
            # Not root, a test cannot look into /proc/<pid>/fd of a daemon
            # that is not dumpable (the default); t_dumpable.py checks
            # the default on a daemon of its own.
            env = dict(env or {})
            env.setdefault("TGSIDECAR_CORE_DUMPS", "yes")
        # Under $TGSIDECAR_WRAPPER (valgrind) the pid is still the daemon's.
        self.proc = Proc(wrapper_argv() + argv, workdir,
                         name or "sidecar%d" % Sidecar._seq,
                         env=scrubbed_env(env))
        if nofile is not None:
            # RLIMIT_NOFILE of the daemon, as `ulimit -n nofile` would set
            self.proc.preexec = nofile_limit(nofile)

    @property
    def log_path(self):
        return self.proc.stderr_path

    def start(self, timeout=10.0):
        self.proc.start()
        if not wait_port(self.host, self.port, timeout, self.proc):
            st, _ = self.proc.stop(timeout=2)
            raise RuntimeError("sidecar did not listen on %s:%d (exit %r)\n"
                               "argv: %s\nlog:\n%s" % (self.host, self.port, st,
                                                       " ".join(self.argv),
                                                       self.log()))
        return self

    def stop(self, timeout=10.0):
        """SIGTERM; returns (exit status, killed)."""
        return self.proc.stop(timeout=patient(timeout))

    def log(self):
        return self.proc.stderr()

    def conn(self, timeout=CLIENT_TIMEOUT):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def get(self, path, timeout=CLIENT_TIMEOUT):
        """One GET on a connection of its own; the Reply."""
        conn = self.conn(timeout=timeout)
        try:
            return request(conn, "GET", path)
        finally:
            conn.close()


# ---------------------------------------------------------------- HTTP helpers

class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None

    def header(self, name):
        return self.headers.get(name)

    def __repr__(self):
        return "Reply(%d, %r)" % (self.status, shorten(self.body))


def request(conn, method, path, body=None, headers=None):
    """One request on a (kept-alive) http.client connection."""
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    return Reply(r.status, r.headers, data)


def json_body(obj):
    return json.dumps(obj, ensure_ascii=False).encode("utf-8"), \
        {"Content-Type": "application/json"}


def multipart_file(path, fields, file_field, filename, content_type=
                   "application/octet-stream"):
    """Write a multipart/form-data body to path (streamed from chunks).
    fields: dict of plain fields; file_field: (name, iterable of bytes).
    Returns (content_type header, length)."""
    boundary = "----tgsidecar" + os.urandom(12).hex()
    b = boundary.encode()
    with open(path, "wb") as f:
        for k, v in fields.items():
            f.write(b"--" + b + b"\r\n")
            f.write(b'Content-Disposition: form-data; name="%s"\r\n\r\n'
                    % k.encode())
            f.write(str(v).encode("utf-8") + b"\r\n")
        name, chunks = file_field
        f.write(b"--" + b + b"\r\n")
        f.write(b'Content-Disposition: form-data; name="%s"; filename="%s"\r\n'
                % (name.encode(), filename.encode()))
        f.write(b"Content-Type: " + content_type.encode() + b"\r\n\r\n")
        for c in chunks:
            f.write(c)
        f.write(b"\r\n--" + b + b"--\r\n")
    return "multipart/form-data; boundary=" + boundary, os.path.getsize(path)


def random_chunks(total, seed=None):
    """total random bytes, in 1 MiB pieces (os.urandom)."""
    left = total
    while left > 0:
        n = min(left, 1024 * 1024)
        yield os.urandom(n)
        left -= n


def post_file(conn, path, body_path, content_type):
    """POST a body streamed from a file with Content-Length."""
    size = os.path.getsize(body_path)
    with open(body_path, "rb") as f:
        conn.putrequest("POST", path, skip_accept_encoding=True)
        conn.putheader("Content-Type", content_type)
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        for _ in range(size // (256 * 1024) + 2):
            c = f.read(256 * 1024)
            if not c:
                break
            conn.send(c)
    r = conn.getresponse()
    return Reply(r.status, r.headers, r.read())


def download_sha256(conn, path):
    """GET path; returns (status, length, sha256 hex, headers)."""
    conn.request("GET", path)
    r = conn.getresponse()
    h = hashlib.sha256()
    n = 0
    for _ in range(100000):
        c = r.read(256 * 1024)
        if not c:
            break
        h.update(c)
        n += len(c)
    return r.status, n, h.hexdigest(), r.headers


def file_sha256(path, skip=0, length=None):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(skip)
        left = length
        for _ in range(1 << 20):
            want = 1 << 20 if left is None else min(1 << 20, left)
            if want == 0:
                break
            c = f.read(want)
            if not c:
                break
            h.update(c)
            if left is not None:
                left -= len(c)
    return h.hexdigest()


def raw_exchange(host, port, data, timeout=10.0, until_close=True, max_bytes=1 << 20):
    """Send raw bytes on a fresh socket, read until the peer closes (or
    timeout). Returns the bytes read."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    out = bytearray()
    try:
        s.connect((host, port))
        s.sendall(data)
        deadline = time.monotonic() + timeout
        while len(out) < max_bytes and time.monotonic() < deadline:
            try:
                c = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not c:
                break
            out += c
            if not until_close and b"\r\n\r\n" in out:
                # one response with Content-Length: stop when complete
                head, _, rest = bytes(out).partition(b"\r\n\r\n")
                cl = parse_content_length(head)
                if cl is not None and len(rest) >= cl:
                    break
    finally:
        s.close()
    return bytes(out)


def parse_content_length(head):
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            try:
                return int(v.strip())
            except ValueError:
                return None
    return None


def parse_responses(data, n_max=100):
    """Split raw bytes into HTTP/1.1 responses (Content-Length or chunked).
    Returns a list of Reply; stops at the first incomplete one."""
    out = []
    pos = 0
    for _ in range(n_max):
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        head = data[pos:end].decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        try:
            status = int(parts[1])
        except (IndexError, ValueError):
            break
        hdrs = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        pos = end + 4
        if "chunked" in hdrs.get("transfer-encoding", "").lower():
            body = bytearray()
            complete = False
            for _ in range(100000):
                le = data.find(b"\r\n", pos)
                if le < 0:
                    break
                size = int(data[pos:le].split(b";")[0], 16)
                pos = le + 2
                if size == 0:
                    te = data.find(b"\r\n\r\n", pos - 2)
                    if te < 0:
                        break
                    pos = te + 4
                    complete = True
                    break
                body += data[pos:pos + size]
                pos += size + 2
            if not complete:
                break
            out.append(Reply(status, hdrs, bytes(body)))
        else:
            cl = int(hdrs.get("content-length", "0"))
            if len(data) < pos + cl:
                break
            out.append(Reply(status, hdrs, data[pos:pos + cl]))
            pos += cl
    return out


def status_of(raw):
    """The status code of the first response in raw bytes, or None."""
    try:
        line = raw.split(b"\r\n", 1)[0].decode("latin-1")
        if not line.startswith("HTTP/"):
            return None
        return int(line.split(" ")[1])
    except (IndexError, ValueError):
        return None


def body_of(raw):
    return raw.partition(b"\r\n\r\n")[2]


def try_json(b):
    try:
        return json.loads(b.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None


# ---------------------------------------------------------------- config files

def config_text(items):
    """A config file in the project's "key = value" format. items: list of
    (key, value) pairs or raw lines."""
    lines = ["# written by the tgsidecar integration tests"]
    for it in items:
        lines.append(it if isinstance(it, str) else "%s = %s" % it)
    return "\n".join(lines) + "\n"


def write_config(path, items):
    with open(path, "w") as f:
        f.write(config_text(items))
    return path


def squid_main(parts, extra=None, after=None):
    """The main() of a test file whose parts share one stand-in and one
    squid in front of it.  Each part runs as part(t, env), env holding
    wd, certs, si, squid and what extra() returns; after(t, env) runs
    once the parts are done, both servers still up.  A setup failure is
    one failed check.  Returns the TAP exit status."""
    import proxies
    t = Tap()
    env = {}
    si = sq = None
    try:
        wd = make_tempdir()
        certs = Certs(wd)
        si = StandIn(wd, certs).start()
        sq = proxies.Squid(wd, [si.port]).start()
        env.update(wd=wd, certs=certs, si=si, squid=sq)
        env.update(extra() if extra is not None else {})
    except Exception:
        t.fail_exception("setup")
        for p in (sq, si):
            if p is not None:
                p.stop()
        return t.done()
    try:
        t.run_parts(parts, env)
        if after is not None:
            after(t, env)
    finally:
        sq.stop()
        si.stop()
    return t.done()


def spare_counts(sc):
    """{"opened": n, "used": n, "expired": n, "failed": n, "building": n,
    "ready": n} from a sidecar's /metrics."""
    import re
    r = sc.get("/metrics")
    out = {}
    for m in re.finditer(rb'^tgsidecar_spares(?:_total)?\{(?:event|state)="'
                         rb'(\w+)"\} (\d+)', r.body, re.M):
        out[m.group(1).decode()] = int(m.group(2))
    return out
