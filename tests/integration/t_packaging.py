#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Packaging: contrib/docker/build.sh (the container image's build stage)
run into a scratch DESTDIR and what it installs (also from a tree
configured in place that git cannot list); the Dockerfile, its
health check (run for real against the daemon), the image itself when a
Docker daemon is reachable (built, run, /healthz asked); the ignore files
(.dockerignore leaves out what .gitignore does, and secrets); the Compose
and Kubernetes files (their settings checked by "tgsidecar -t", Compose
v1's own check); the systemd unit (systemd-analyze verify); the man pages
(groff and mandoc lint, every flag and key documented); debian/ against
configure.ac and LICENSE (the .deb itself is built and installed by
tests/fresh/deb.sh). TAP output.

Tools it uses when present, and skips without: python3-yaml (the YAML
files), docker-compose, a reachable Docker daemon (TGSIDECAR_TEST_DOCKER=no
skips it), git, systemd (systemd-analyze), groff-base, mandoc, dpkg."""

import http.client
import http.server
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap, Sidecar, run  # noqa: E402

try:
    import yaml
except ImportError:  # python3-yaml
    yaml = None

TESTS = os.environ.get("TESTS_SRCDIR") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))
TOP = os.path.dirname(os.path.abspath(TESTS))
CONTRIB = os.path.join(TOP, "contrib")
BIN = harness.sidecar_bin()
BOT_BIN = os.environ.get("TGSIDECAR_BOT_BIN") or os.path.join(
    os.path.dirname(BIN), "tgsidecar-bot")
# A build from scratch: 900 s on a quiet machine, made patient.
BUILD_TIMEOUT = harness.patient(900)

# Libraries the runtime image may take from debian:bookworm-slim itself.
BASE_IMAGE_PKGS = {"libc6", "libsystemd0", "libgcc-s1", "zlib1g"}

# What command 1 of the README (deps, autoreconf, configure, make, in
# place) and make check leave in the tree: never in git, nor in the image's
# build context.
BUILD_OUTPUTS = [
    "configure", "config.status", "config.log", "config.h", "config.h.in",
    "Makefile", "Makefile.in", "aclocal.m4", "stamp-h1",
    "autom4te.cache/output.0", "build-aux/compile", "src/main.o",
    "src/.deps/main.Po", "src/.dirstamp", "src/bot/.deps/botmain.Po",
    "libtgsidecar.a", "tgsidecar", "tgsidecar-bot", "man/tgsidecar.8",
    "man/tgsidecar.conf.5", "contrib/systemd/tgsidecar.service",
    "tests/unit/test_acl", "tests/unit/test_acl.log",
    "tests/integration/t_packaging.trs", "tests/lib/__pycache__/h.pyc",
    "tests/clients/node_modules/grammy/package.json",
    "tests/fuzz/build/fuzz_route",
]
# Sources the image build needs (checked when git cannot list them all).
SOURCES = ["configure.ac", "Makefile.am", "src/main.c", "src/bot/botmain.c",
           "tests/unit/test_acl.c", "tests/unit/tap.h",
           "tests/integration/t_packaging.py", "contrib/docker/build.sh",
           "man/tgsidecar.8.in", "etc/tgsidecar.conf"]
# Tracked, yet left out of the build context: the image does not use them.
NOT_IN_CONTEXT = ("debian/",)
SECRET_FILES = ["contrib/docker/bot.env"]


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def man_text(src):
    """A man page's source as plain words: escapes for dashes and fonts
    undone, so flags can be looked for."""
    s = src.replace("\\-", "-").replace("\\&", "").replace("\\e", "\\")
    s = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", s)
    return s


# ---------------------------------------------------------------- Dockerfile

def dockerfile_lines(path):
    """Instructions with continuation lines joined, comments dropped."""
    out, cur = [], ""
    for line in read(path).splitlines():
        if not cur and (line.lstrip().startswith("#") or not line.strip()):
            continue
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        out.append((cur + line).strip())
        cur = ""
    if cur:
        out.append(cur.strip())
    return out


def healthcheck_cmd(lines):
    """The shell-form command of HEALTHCHECK ... CMD <command>."""
    for ln in lines:
        if ln.upper().startswith("HEALTHCHECK "):
            m = re.search(r"\bCMD\s+(.*)$", ln)
            if m:
                return m.group(1)
    return None


def runtime_packages(lines):
    """Packages the last stage installs with apt-get."""
    stages, cur = [], []
    for ln in lines:
        if ln.upper().startswith("FROM "):
            cur = []
            stages.append(cur)
        cur.append(ln)
    pkgs = set()
    for ln in stages[-1] if stages else []:
        for m in re.finditer(r"apt-get install ((?:[^&;|])*)", ln):
            pkgs |= {w for w in m.group(1).split()
                     if not w.startswith("-") and "=" not in w}
    return pkgs


def dockerfile_env(lines):
    env = {}
    for ln in lines:
        if ln.upper().startswith("ENV "):
            for w in shlex.split(ln[4:]):
                k, _, v = w.partition("=")
                env[k] = v
    return env


def check_dockerfile(t):
    path = os.path.join(CONTRIB, "docker", "Dockerfile")
    lines = dockerfile_lines(path)
    froms = [ln for ln in lines if ln.upper().startswith("FROM ")]
    t.ok(len(froms) >= 2 and all("debian:bookworm-slim" in f for f in froms),
         "Dockerfile: multi-stage, every stage FROM debian:bookworm-slim")
    t.ok(any(re.search(r"\bRUN\b.*contrib/docker/build\.sh", ln)
             for ln in lines),
         "Dockerfile: the build stage runs contrib/docker/build.sh")
    users = [ln.split(None, 1)[1] for ln in lines
             if ln.upper().startswith("USER ")]
    user = users[-1].split(":")[0] if users else "root"
    t.ok(user not in ("root", "0"), "Dockerfile: runs as a non-root USER (%s)"
         % user)
    t.ok(any(re.match(r"EXPOSE\s+8081(/tcp)?\b", ln) for ln in lines),
         "Dockerfile: EXPOSE 8081")
    cmd = healthcheck_cmd(lines)
    t.ok(cmd is not None and "/healthz" in cmd,
         "Dockerfile: a HEALTHCHECK that asks /healthz")
    env = dockerfile_env(lines)
    t.is_(env.get("TGSIDECAR_LISTEN"), "0.0.0.0:8081",
          "Dockerfile: TGSIDECAR_LISTEN=0.0.0.0:8081")
    t.ok(bool(env.get("TGSIDECAR_ALLOW")),
         "Dockerfile: a default TGSIDECAR_ALLOW (%s)" %
         env.get("TGSIDECAR_ALLOW"))
    check_useradd(t, lines)
    pkgs = runtime_packages(lines)
    want = {"libevent-2.1-7", "libcurl4", "libssl3", "libhttp-parser2.9",
            "libjansson4", "ca-certificates"}
    t.ok(want <= pkgs and not any(p.endswith("-dev") for p in pkgs),
         "Dockerfile: the runtime stage installs the runtime libraries only")
    if not want <= pkgs:
        t.diag("missing: %s" % sorted(want - pkgs))
    return lines, cmd, env, pkgs


def check_useradd(t, lines):
    """useradd --system warns when the uid is above SYS_UID_MAX (999 in
    Debian's login.defs) unless -K raises it."""
    for ln in lines:
        for m in re.finditer(r"useradd ((?:[^&;|])*)", ln):
            w = m.group(1).split()
            uid = w[w.index("--uid") + 1] if "--uid" in w else None
            sysmax = 999
            for i, a in enumerate(w[:-1]):
                if a == "-K" and w[i + 1].startswith("SYS_UID_MAX="):
                    sysmax = int(w[i + 1].split("=", 1)[1])
            t.ok(not ({"--system", "-r"} & set(w)) or uid is None or
                 int(uid) <= sysmax, "Dockerfile: useradd does not warn "
                 "(uid %s, system range up to %d)" % (uid, sysmax))


# ---------------------------------------------------------------- health check

class _Stub(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        code = self.server.status if self.path == "/healthz" else 404
        body = b"stub\n"
        try:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the check hangs up after the status line
            pass

    def log_message(self, *args):
        pass


class _StubServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass


def stub_server(status):
    srv = _StubServer(("127.0.0.1", 0), _Stub)
    srv.status = status
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    harness.on_cleanup(srv.shutdown)
    return srv


def healthcheck(cmd, env):
    """Run the HEALTHCHECK command as Docker does (/bin/sh -c, shell form);
    True if it reports healthy."""
    e = harness.scrubbed_env(env)
    try:
        r = subprocess.run(["/bin/sh", "-c", cmd], env=e,
                           timeout=harness.patient(15),
                           stdin=subprocess.DEVNULL, capture_output=True)
    except subprocess.TimeoutExpired:
        return False
    return r.returncode == 0


def check_healthcheck(t, wd, cmd):
    if cmd is None:
        t.skip("HEALTHCHECK runs", "no HEALTHCHECK CMD")
        return
    ok200 = stub_server(200)
    bad503 = stub_server(503)
    t.ok(healthcheck(cmd, {"TGSIDECAR_LISTEN":
                           "0.0.0.0:%d" % ok200.server_port}),
         "HEALTHCHECK: healthy when /healthz answers 200 (listen 0.0.0.0)")
    t.ok(not healthcheck(cmd, {"TGSIDECAR_LISTEN":
                               "127.0.0.1:%d" % bad503.server_port}),
         "HEALTHCHECK: unhealthy when /healthz answers 503")
    t.ok(not healthcheck(cmd, {"TGSIDECAR_LISTEN":
                               "127.0.0.1:%d" % harness.closed_port()}),
         "HEALTHCHECK: unhealthy when nothing listens")
    t.ok(healthcheck(cmd, {"TGSIDECAR_LISTEN": "0.0.0.0:%d" %
                           harness.closed_port(),
                           "TGSIDECAR_ADMIN_LISTEN": "127.0.0.1:%d" %
                           ok200.server_port}),
         "HEALTHCHECK: asks TGSIDECAR_ADMIN_LISTEN when it is set")

    st, out, _ = run([BIN, "-h"])
    if "--admin-listen" not in out:
        t.skip("HEALTHCHECK against the daemon", "this tgsidecar has no "
               "/healthz yet")
        t.skip("HEALTHCHECK against the daemon's admin_listen",
               "this tgsidecar has no admin_listen yet")
        return
    sc = Sidecar(wd, proxy="direct", name="health").start()
    t.ok(healthcheck(cmd, {"TGSIDECAR_LISTEN": "0.0.0.0:%d" % sc.port}),
         "HEALTHCHECK: healthy against the daemon itself")
    sc.stop()
    admin = harness.alloc_port()
    sc = Sidecar(wd, proxy="direct", name="health-admin",
                 extra_args=["--admin-listen", "127.0.0.1:%d" % admin]).start()
    harness.wait_port("127.0.0.1", admin, 10, sc.proc)
    t.ok(healthcheck(cmd, {"TGSIDECAR_LISTEN": "0.0.0.0:%d" % sc.port,
                           "TGSIDECAR_ADMIN_LISTEN": "127.0.0.1:%d" % admin}),
         "HEALTHCHECK: healthy against the daemon's admin_listen")
    sc.stop()


def config_accepted(t, env, desc):
    """tgsidecar -t with this environment (and nothing else)."""
    st, out, err = run([BIN, "-t"], env=harness.scrubbed_env(env))
    t.ok(st == 0 and "configuration OK" in out + err,
         "%s: tgsidecar -t accepts its settings (exit %d)" % (desc, st))
    if st != 0:
        t.diag((out + err).strip())


# ---------------------------------------------------------------- YAML

def k8s_docs(name):
    with open(os.path.join(CONTRIB, "kubernetes", name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def probe_path(c, kind):
    return ((c.get(kind) or {}).get("httpGet") or {}).get("path")


def check_sidecar_container(t, name, c, configmaps, secrets):
    """The tgsidecar container of a pod: config, secrets, probes,
    resources. Returns the environment it would run with."""
    env = {}
    cms = [e["configMapRef"]["name"] for e in c.get("envFrom", [])
           if "configMapRef" in e]
    t.ok(cms and all(n in configmaps for n in cms),
         "%s: tgsidecar takes its settings from a ConfigMap (envFrom)" % name)
    for n in cms:
        env.update({k: str(v) for k, v in
                    (configmaps.get(n, {}).get("data") or {}).items()})
    refs = {}
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = str(e["value"])
        ref = (e.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            refs[e["name"]] = ref
            sec = secrets.get(ref["name"], {})
            val = (sec.get("stringData") or {}).get(ref["key"])
            if val is not None:
                env[e["name"]] = str(val)
    t.ok(all(k in refs and refs[k]["name"] in secrets and
             ref_has_key(secrets[refs[k]["name"]], refs[k]["key"])
             for k in ("TGSIDECAR_PROXY_USER", "TGSIDECAR_PROXY_PASSWORD")),
         "%s: proxy credentials from a Secret (secretKeyRef)" % name)
    t.is_(probe_path(c, "livenessProbe"), "/healthz",
          "%s: liveness probe on /healthz" % name)
    t.is_(probe_path(c, "readinessProbe"), "/readyz",
          "%s: readiness probe on /readyz" % name)
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
    pport = ((c.get("livenessProbe") or {}).get("httpGet") or {}).get("port")
    pport = ports.get(pport, pport)
    admin = env.get("TGSIDECAR_ADMIN_LISTEN") or env.get("TGSIDECAR_LISTEN",
                                                         "")
    t.ok(admin.startswith("0.0.0.0:") and admin.endswith(":%s" % pport),
         "%s: probes go to the port it serves health on off loopback "
         "(%s, probe port %s)" % (name, admin, pport))
    res = c.get("resources") or {}
    t.ok(all(k in (res.get("requests") or {}) for k in ("cpu", "memory")) and
         "memory" in (res.get("limits") or {}),
         "%s: resource requests (cpu, memory) and a memory limit" % name)
    return env


def ref_has_key(secret, key):
    return key in (secret.get("stringData") or {}) or \
        key in (secret.get("data") or {})


def check_k8s_file(t, fname, native):
    docs = k8s_docs(fname)
    configmaps = {d["metadata"]["name"]: d for d in docs
                  if d.get("kind") == "ConfigMap"}
    secrets = {d["metadata"]["name"]: d for d in docs
               if d.get("kind") == "Secret"}
    deps = [d for d in docs if d.get("kind") == "Deployment"]
    if not t.ok(len(deps) == 1, "%s: one Deployment" % fname):
        return
    spec = deps[0]["spec"]["template"]["spec"]
    mains = spec.get("containers", [])
    inits = spec.get("initContainers", [])
    if native:
        side = [c for c in inits if c.get("name") == "tgsidecar"]
        t.ok(len(side) == 1 and side[0].get("restartPolicy") == "Always",
             "%s: tgsidecar is an initContainer with restartPolicy: Always"
             % fname)
    else:
        side = [c for c in mains if c.get("name") == "tgsidecar"]
        t.ok(len(side) == 1, "%s: tgsidecar is a container beside the bot"
             % fname)
    bots = [c for c in mains if c.get("name") != "tgsidecar"]
    botenv = {e["name"]: e.get("value") for e in
              (bots[0].get("env", []) if bots else [])}
    t.ok(len(bots) == 1 and
         botenv.get("TGSIDECAR_URL", "").startswith("http://127.0.0.1:"),
         "%s: the bot reaches the sidecar on loopback" % fname)
    if not side:
        return
    env = check_sidecar_container(t, fname, side[0], configmaps, secrets)
    listen = env.get("TGSIDECAR_LISTEN", "")
    bot_port = botenv.get("TGSIDECAR_URL", "").rsplit(":", 1)[-1]
    t.is_(listen, "127.0.0.1:%s" % bot_port,
          "%s: the Bot API listener stays on loopback, where the bot looks"
          % fname)
    config_accepted(t, env, fname)


def check_compose(t, env_image):
    with open(os.path.join(CONTRIB, "docker-compose.yml")) as f:
        doc = yaml.safe_load(f)
    top = sorted(k for k in doc if not k.startswith("x-"))
    t.ok(set(top) <= {"version", "services", "networks", "volumes",
                      "secrets", "configs"},
         "compose: top-level keys that Compose v1 knows (%s; no name:)" %
         ", ".join(top))
    svcs = doc.get("services") or {}
    built = {}
    for name, s in svcs.items():
        if s.get("build"):
            built.setdefault(s.get("image", name), []).append(name)
    twice = {i: n for i, n in built.items() if len(n) > 1}
    t.ok(not twice, "compose: no image is built by two services (%s)" %
         (twice or "none"))
    for name, s in svcs.items():
        maker = built.get(s.get("image"))
        if s.get("build") or not maker:
            continue
        t.ok(maker[0] in (s.get("depends_on") or {}), "compose: %s uses "
             "the image %s builds, and starts after it" % (name, maker[0]))
    t.ok(len(svcs) == 3 and "tgsidecar" in svcs and "bot" in svcs,
         "compose: three services, tgsidecar, bot and a proxy (%s)" %
         ", ".join(sorted(svcs)))
    bot = svcs.get("bot", {})
    benv = bot.get("environment") or {}
    t.is_(benv.get("TGSIDECAR_URL"), "http://tgsidecar:8081",
          "compose: the bot's TGSIDECAR_URL is the sidecar service")
    envfiles = bot.get("env_file") or []
    envfiles = [envfiles] if isinstance(envfiles, str) else envfiles
    ex = [os.path.join(CONTRIB, e + ".example") for e in envfiles]
    t.ok(envfiles and all(os.path.exists(p) and "TELEGRAM_BOT_TOKEN"
                          in read(p) for p in ex),
         "compose: the bot's token comes from an env file (with an example)")
    side = svcs.get("tgsidecar", {})
    senv = dict(env_image)
    senv.update({k: str(v) for k, v in (side.get("environment") or {}).items()})
    proxy = senv.get("TGSIDECAR_PROXY", "")
    m = re.match(r"socks5h?://([^:/]+):", proxy)
    t.ok(m is not None and m.group(1) in svcs,
         "compose: the sidecar's proxy is the SOCKS5 service (%s)" % proxy)
    for name, s in svcs.items():
        b = s.get("build")
        if isinstance(b, dict):
            ctx = os.path.normpath(os.path.join(CONTRIB, b.get("context", ".")))
            df = os.path.join(ctx, b.get("dockerfile", "Dockerfile"))
            t.ok(os.path.exists(df), "compose: %s builds from %s" %
                 (name, os.path.relpath(df, TOP)))
    config_accepted(t, senv, "compose")
    check_compose_config(t)


def check_compose_config(t):
    """Compose's own check of the file (docker-compose config): v1 1.29,
    as Debian 12 ships it, and v2 where the plugin is installed. On a copy,
    with the env file made from its example."""
    tools = []
    if shutil.which("docker-compose"):
        tools.append(["docker-compose"])
    if shutil.which("docker") and run(["docker", "compose", "version"],
                                      env=dict(os.environ))[0] == 0:
        tools.append(["docker", "compose"])
    if not tools:
        t.skip("docker-compose config accepts the file",
               "neither docker-compose nor docker compose")
        return
    wd = harness.make_tempdir("tgsidecar-compose-")
    os.makedirs(os.path.join(wd, "contrib", "docker", "microsocks"))
    shutil.copy(os.path.join(CONTRIB, "docker-compose.yml"),
                os.path.join(wd, "contrib"))
    for e in compose_env_files():
        shutil.copy(os.path.join(TOP, e + ".example"), os.path.join(wd, e))
    for tool in tools:
        st, out, err = run(tool + ["-f", os.path.join(wd, "contrib",
                                                      "docker-compose.yml"),
                                   "config", "-q"], env=dict(os.environ),
                           timeout=60)
        _, ver, _ = run(tool + ["version", "--short"], env=dict(os.environ))
        t.ok(st == 0, "%s config accepts contrib/docker-compose.yml "
             "(Compose %s)" % (" ".join(tool), ver.strip()))
        if st != 0:
            t.diag((out + err).strip()[-2000:])


# ---------------------------------------------------------------- ignore files

def dockerignore_rules(path):
    """(regex, exception) per pattern of a .dockerignore, compiled as
    Docker's patternmatcher does: Go's filepath.Match, where "*" stays
    within one directory and "**" spans any number."""
    rules = []
    text = read(path) if os.path.exists(path) else ""
    for line in text.splitlines():
        pat = line.strip()
        if not pat or pat.startswith("#"):
            continue
        exc = pat.startswith("!")
        pat = os.path.normpath(pat[1:] if exc else pat).lstrip("/")
        rx, i = "", 0
        while i < len(pat):
            c = pat[i]
            if pat.startswith("**", i):
                i += 2
                if pat.startswith("/", i):
                    i += 1
                rx += ".*" if i >= len(pat) else "(.*/)?"
                continue
            if c == "*":
                rx += "[^/]*"
            elif c == "?":
                rx += "[^/]"
            elif c == "[":
                j = pat.index("]", i)
                rx += pat[i:j + 1]
                i = j
            else:
                rx += re.escape(c)
            i += 1
        rules.append((re.compile("^" + rx + "$"), exc))
    return rules


def dockerignored(rules, path):
    """Whether the build context leaves path out: the last pattern that
    matches it, or one of its parent directories, decides."""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    out = False
    for rx, exc in rules:
        if exc != out:
            continue
        if any(rx.match(p) for p in prefixes):
            out = not exc
    return out


def git_top():
    """TOP if it is the top of a git work tree that git can read."""
    if not shutil.which("git"):
        return None
    st, out, _ = run(["git", "-C", TOP, "rev-parse", "--show-toplevel"])
    if st != 0 or os.path.realpath(out.strip()) != os.path.realpath(TOP):
        return None
    return TOP


def git_lines(args):
    st, out, _ = run(["git", "-C", TOP] + args, timeout=60)
    return [p for p in out.split("\0") if p] if st == 0 else None


def compose_env_files():
    if yaml is None:
        return []
    with open(os.path.join(CONTRIB, "docker-compose.yml")) as f:
        doc = yaml.safe_load(f)
    out = []
    for s in (doc.get("services") or {}).values():
        ef = s.get("env_file") or []
        for e in [ef] if isinstance(ef, str) else ef:
            out.append(os.path.relpath(os.path.normpath(
                os.path.join(CONTRIB, e)), TOP))
    return out


def check_ignores(t):
    """The image's build context (.dockerignore, the one file every
    builder reads) holds the sources and neither build products nor
    secrets; git ignores the secrets too."""
    t.ok(not os.path.exists(os.path.join(CONTRIB, "docker",
                                         "Dockerfile.dockerignore")),
         "no Dockerfile.dockerignore (BuildKit would read it instead of "
         ".dockerignore, the legacy builder never)")
    rules = dockerignore_rules(os.path.join(TOP, ".dockerignore"))
    secrets = sorted(set(SECRET_FILES + compose_env_files()))
    kept = [p for p in BUILD_OUTPUTS + secrets if not dockerignored(rules, p)]
    t.ok(not kept, ".dockerignore leaves out the build products and "
         "secrets (%s) (kept: %s)" % (", ".join(secrets),
                                     ", ".join(kept) or "none"))
    lost = [p for p in SOURCES if dockerignored(rules, p)]
    t.ok(not lost, ".dockerignore keeps the sources (lost: %s)" %
         (", ".join(lost) or "none"))
    if git_top() is None:
        t.skip(".gitignore covers the secrets", "not a git work tree")
        t.skip("every tracked file is in the build context", "no git")
        t.skip("every file git ignores is out of the context", "no git")
        return
    st, out, _ = run(["git", "-C", TOP, "check-ignore", "--no-index"] +
                     secrets)
    got = set(out.split())
    t.ok(st == 0 and got == set(secrets), ".gitignore covers the secrets "
         "(missing: %s)" % (", ".join(sorted(set(secrets) - got)) or "none"))
    tracked = git_lines(["ls-files", "-z"]) or []
    lost = [p for p in tracked if dockerignored(rules, p)
            and not p.startswith(NOT_IN_CONTEXT)]
    t.ok(tracked and not lost, "every tracked file is in the build "
         "context (%d files; lost: %s)" % (len(tracked),
                                            ", ".join(lost[:10]) or "none"))
    ignored = git_lines(["ls-files", "-z", "--others", "--ignored",
                         "--exclude-standard", "--directory"])
    kept = [p for p in ignored or [] if not dockerignored(rules, p)]
    t.ok(ignored is not None and not kept, "every file git ignores here is "
         "out of the build context too (%d; kept: %s)" %
         (len(ignored or []), ", ".join(kept[:10]) or "none"))
    if kept:
        t.diag("add them to .dockerignore, which mirrors .gitignore")


# ---------------------------------------------------------------- image

def docker_cmd():
    """The docker CLI if its daemon answers, else None."""
    if os.environ.get("TGSIDECAR_TEST_DOCKER", "") in ("no", "0"):
        return None
    d = shutil.which("docker")
    if d is None:
        return None
    try:
        st, out, _ = run([d, "version", "--format", "{{.Server.Version}}"],
                         env=dict(os.environ), timeout=30)
    except subprocess.TimeoutExpired:
        return None
    return d if st == 0 and out.strip() else None


def docker(d, args, timeout=60):
    return run([d] + args, env=dict(os.environ), timeout=timeout)


def check_image(t, wd, cmd):
    """Build the image from this tree (built in place or not) with the
    engine's default builder, run it, ask /healthz, stop it."""
    d = docker_cmd()
    if d is None:
        t.skip("the image builds and runs", "no reachable Docker daemon")
        return False
    tag = "tgsidecar-test:%d" % os.getpid()
    name = "tgsidecar-test-%d" % os.getpid()
    harness.on_cleanup(lambda: docker(d, ["rmi", "-f", tag]))
    harness.on_cleanup(lambda: docker(d, ["rm", "-f", name]))
    # The proxy variables are Docker's predefined build arguments.
    args = ["build", "-f", os.path.join(CONTRIB, "docker", "Dockerfile"),
            "-t", tag]
    for k in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY",
              "HTTPS_PROXY", "NO_PROXY"):
        if k in os.environ:
            args += ["--build-arg", k]
    log = os.path.join(wd, "docker-build.log")
    env = dict(os.environ, BUILDKIT_PROGRESS="plain")
    with open(log, "wb") as f:
        try:
            st = subprocess.run([d] + args + [TOP], env=env, stdout=f,
                                stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL,
                                timeout=BUILD_TIMEOUT * 2).returncode
        except subprocess.TimeoutExpired:
            st = None
    text = harness.read_text(log)
    if not t.ok(st == 0, "docker build -f contrib/docker/Dockerfile . "
                "builds the image (exit %r)" % st):
        t.diag(text[-4000:])
        return True
    t.unlike(text, "useradd warning", "the image build has no useradd "
             "warning")
    st, out, _ = docker(d, ["inspect", "--format",
                            "{{.Config.User}} {{json .Config.Healthcheck}}",
                            tag])
    t.ok(st == 0 and out.startswith("10001:10001 ") and "/healthz" in out,
         "the image runs as 10001:10001 and keeps its HEALTHCHECK")
    for b in ("tgsidecar", "tgsidecar-bot"):
        st, out, err = docker(d, ["run", "--rm", "--entrypoint",
                                  "/usr/bin/" + b, tag, "-V"])
        t.ok(st == 0 and out.startswith(b + " "), "in the image, %s -V "
             "runs (%r)" % (b, (out + err).strip()[:60]))
    st, out, err = docker(d, ["run", "-d", "--name", name, "-p",
                              "127.0.0.1::8081", tag])
    if not t.ok(st == 0, "the image starts (%s)" % err.strip()[:200]):
        return True
    st, out, _ = docker(d, ["port", name, "8081/tcp"])
    port = int(out.split(":")[-1]) if st == 0 and out.strip() else None

    def healthz():
        if port is None:
            return None
        try:
            c = http.client.HTTPConnection("127.0.0.1", port,
                                           timeout=harness.patient(5))
            c.request("GET", "/healthz")
            return c.getresponse().status
        except (OSError, http.client.HTTPException):
            return None
    got = harness.wait_until(lambda: healthz() == 200, timeout=60,
                             step=0.5)
    t.ok(got, "the container answers GET /healthz on its published port "
         "(127.0.0.1:%s)" % port)
    st, _, _ = docker(d, ["exec", name, "/bin/sh", "-c", cmd or "false"])
    t.ok(st == 0, "the image's HEALTHCHECK command passes in the container")
    # The grace before SIGKILL is for an exit that comes: patient.
    grace = int(harness.patient(15))
    st, _, err = docker(d, ["stop", "-t", str(grace), name],
                        timeout=60 + grace)
    st, out, _ = docker(d, ["inspect", "--format", "{{.State.ExitCode}}",
                            name])
    t.is_(out.strip(), "0", "docker stop: SIGTERM, the sidecar exits 0")
    return True


# ---------------------------------------------------------------- build.sh

def build_sh(wd, name, extra_env=None):
    """Run build.sh into wd/name; (exit status or None, DESTDIR, log)."""
    dest = os.path.join(wd, name)
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "DESTDIR")
           and not k.startswith("TGSIDECAR_")}
    env["CONFIGURE_FLAGS"] = "--with-systemdsystemunitdir=/lib/systemd/system"
    env.setdefault("JOBS", "2")
    env.update(extra_env or {})
    log = os.path.join(wd, name + ".log")
    with open(log, "wb") as f:
        try:
            st = subprocess.run(["/bin/sh",
                                 os.path.join(CONTRIB, "docker", "build.sh"),
                                 dest], env=env, stdout=f, stderr=f,
                                stdin=subprocess.DEVNULL,
                                timeout=BUILD_TIMEOUT).returncode
        except subprocess.TimeoutExpired:
            st = None
    return st, dest, log


def check_build_nogit(t, wd):
    """A tree configured in place that git cannot list (a release tarball
    built in place, or no git installed) still builds: build.sh copies
    the distribution's files."""
    if not os.path.exists(os.path.join(TOP, "config.status")):
        t.skip("build.sh builds from a tree configured in place, without "
               "git", "not configured in place")
        return
    stub = os.path.join(wd, "nogit")
    os.makedirs(stub)
    with open(os.path.join(stub, "git"), "w") as f:
        f.write("#!/bin/sh\nexit 128\n")
    os.chmod(os.path.join(stub, "git"), 0o755)
    st, dest, log = build_sh(wd, "out-nogit", {
        "PATH": stub + os.pathsep + os.environ.get("PATH", "")})
    b = os.path.join(dest, "usr", "bin", "tgsidecar")
    out = run([b, "-V"])[1] if st == 0 and os.path.exists(b) else ""
    if not t.ok(out.startswith("tgsidecar "), "build.sh builds from a tree "
                "configured in place that git cannot list (exit %r)" % st):
        t.diag(harness.read_text(log)[-2000:])


def check_build(t, wd):
    st, dest, log = build_sh(wd, "out")
    if not t.ok(st == 0, "build.sh builds and installs into a DESTDIR "
                "(exit %r)" % st):
        t.diag(harness.read_text(log)[-4000:])
        return None
    usr = os.path.join(dest, "usr")
    for b in ("tgsidecar", "tgsidecar-bot"):
        p = os.path.join(usr, "bin", b)
        st, out, err = run([p, "-V"]) if os.path.exists(p) else (None, "", "")
        t.ok(st == 0 and out.startswith(b + " "),
             "installed %s -V runs (%r)" % (b, out.strip()[:60]))
    conf = os.path.join(dest, "etc", "tgsidecar.conf")
    t.ok(os.path.exists(conf) and read(conf) ==
         read(os.path.join(TOP, "etc", "tgsidecar.conf")),
         "the example config is installed into sysconfdir (/etc)")
    st, out, err = run([os.path.join(usr, "bin", "tgsidecar"), "-t", "-c",
                        conf])
    t.ok(st == 0 and "configuration OK" in out + err,
         "the installed tgsidecar accepts the installed example config")
    pages = {"man8/tgsidecar.8": "tgsidecar.8.in",
             "man5/tgsidecar.conf.5": "tgsidecar.conf.5.in",
             "man1/tgsidecar-bot.1": "tgsidecar-bot.1"}
    for rel in pages:
        p = os.path.join(usr, "share", "man", rel)
        text = read(p) if os.path.exists(p) else ""
        t.ok(text and not re.search(r"@[A-Za-z_]+@", text),
             "man page %s is installed, placeholders filled in" % rel)
    t.like(read(os.path.join(usr, "share", "man", "man8", "tgsidecar.8")),
           "/etc/tgsidecar.conf", "tgsidecar.8 names the installed config")
    unit = os.path.join(dest, "lib", "systemd", "system", "tgsidecar.service")
    utext = read(unit) if os.path.exists(unit) else ""
    t.ok("ExecStart=/usr/bin/tgsidecar -c /etc/tgsidecar.conf\n" in utext and
         not re.search(r"@[A-Za-z_]+@", utext),
         "--with-systemdsystemunitdir installs the unit, paths filled in")
    return dest


def check_libs(t, dest, image_pkgs):
    """Every library the binaries link directly comes from a package the
    runtime image installs (or the base image has)."""
    if not shutil.which("dpkg") or not shutil.which("ldd"):
        t.skip("runtime libraries are in the image", "no dpkg or ldd")
        return
    missing = set()
    for b in ("tgsidecar", "tgsidecar-bot"):
        p = os.path.join(dest, "usr", "bin", b)
        st, out, _ = run(["objdump", "-p", p]) if shutil.which("objdump") \
            else (1, "", "")
        needed = set(re.findall(r"NEEDED\s+(\S+)", out)) if st == 0 else None
        st, out, _ = run(["ldd", p])
        for m in re.finditer(r"^\s*(\S+) => (/\S+)", out, re.M):
            if needed is not None and m.group(1) not in needed:
                continue
            st2, o2, _ = run(["dpkg", "-S", os.path.realpath(m.group(2))])
            if st2 != 0:
                st2, o2, _ = run(["dpkg", "-S", m.group(2)])
            pkg = o2.split(":")[0] if st2 == 0 else "?" + m.group(1)
            if pkg not in image_pkgs and pkg not in BASE_IMAGE_PKGS:
                missing.add(pkg)
    t.ok(not missing, "every library the binaries need is in the runtime "
         "image (missing: %s)" % (", ".join(sorted(missing)) or "none"))


# ---------------------------------------------------------------- systemd

def check_systemd(t, wd, dest):
    sa = shutil.which("systemd-analyze")
    unit_in = os.path.join(CONTRIB, "systemd", "tgsidecar.service.in")
    src = read(unit_in)
    for key in ("DynamicUser=yes", "ProtectSystem=strict", "ProtectHome=yes",
                "PrivateTmp=yes", "PrivateDevices=yes", "NoNewPrivileges=yes",
                "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
                "CapabilityBoundingSet=\n",
                "SystemCallFilter=@system-service",
                "MemoryDenyWriteExecute=yes", "LockPersonality=yes",
                "RestrictNamespaces=yes", "RestrictRealtime=yes",
                "ProtectKernelTunables=yes", "ProtectKernelModules=yes",
                "ProtectKernelLogs=yes", "ProtectControlGroups=yes",
                "ProtectClock=yes", "ProtectHostname=yes", "UMask=077",
                "LimitCORE=0",
                "EnvironmentFile=-/etc/default/tgsidecar",
                "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure"):
        if key not in src:
            t.ok(False, "unit: %s" % key.strip())
            break
    else:
        t.ok(True, "unit: every hardening setting asked for is there")
    if dest is not None:
        # The installed unit, its /usr and /etc moved under DESTDIR.
        text = read(os.path.join(dest, "lib", "systemd", "system",
                                 "tgsidecar.service"))
        text = text.replace("/usr/bin/", dest + "/usr/bin/").replace(
            "/etc/tgsidecar.conf", dest + "/etc/tgsidecar.conf")
        manpath = os.path.join(dest, "usr", "share", "man")
    else:
        text = src.replace("@bindir@", os.path.dirname(os.path.abspath(BIN)))
        text = text.replace("@sysconfdir@", os.path.join(TOP, "etc"))
        text = text.replace("@SYSTEMD_SERVICE_TYPE@", "simple")
        manpath = None
    d = os.path.join(wd, "unit")
    os.makedirs(d, exist_ok=True)
    unit = os.path.join(d, "tgsidecar.service")
    with open(unit, "w") as f:
        f.write(text)
    if not sa:
        t.skip("systemd-analyze verify", "systemd-analyze not installed")
        t.skip("systemd-analyze security", "systemd-analyze not installed")
        return
    env = harness.scrubbed_env()
    argv = [sa, "verify"]
    if manpath:
        env["MANPATH"] = manpath + ":"
    if not manpath or not shutil.which("man"):
        argv.append("--man=no")
    st, out, err = run(argv + [unit], env=env, timeout=60)
    t.ok(st == 0 and not err.strip(),
         "systemd-analyze verify passes%s" %
         (" (man: links too)" if "--man=no" not in argv else ""))
    if st != 0 or err.strip():
        t.diag((out + err).strip())
    st, out, err = run([sa, "security", "--offline=yes", unit], env=env,
                       timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out + err)
    if m is None:
        t.skip("systemd-analyze security", "no --offline here")
    else:
        t.ok(float(m.group(1)) <= 2.5,
             "systemd-analyze security: exposure %s (at most 2.5)" %
             m.group(1))


# ---------------------------------------------------------------- man pages

def man_sources(wd):
    """The pages as make would generate them, from the sources."""
    out = {}
    for name in ("tgsidecar.8", "tgsidecar.conf.5", "tgsidecar-bot.1"):
        p = os.path.join(TOP, "man", name)
        src = read(p + ".in") if os.path.exists(p + ".in") else read(p)
        src = src.replace("@sysconfdir@", "/etc").replace(
            "@PACKAGE_VERSION@", "0").replace("@bindir@", "/usr/bin")
        q = os.path.join(wd, name)
        with open(q, "w") as f:
            f.write(src)
        out[name] = q
    return out


def flags_of(help_text):
    """The long flags of a usage text's option lines."""
    return sorted(set(re.findall(r"^\s+(?:-[a-zA-Z], )?(--[a-z][a-z0-9-]+)",
                                 help_text, re.M)))


def check_man_defaults(t, help_text, src5):
    """Each "Default: VALUE" of tgsidecar.conf.5 is the default that -h
    prints from the key table, which config_init() applies too."""
    helpdef = dict(
        (m.group(1).replace("-", "_"), m.group(2)) for m in re.finditer(
            r"^\s+(?:-[a-zA-Z], )?--([a-z][a-z0-9-]+) .*\((\S+)\)$",
            help_text, re.M))
    mandef = {}
    for entry in re.split(r"^\.TP\n", src5, flags=re.M):
        key = re.match(r'\.BI "([a-z_]+) = "', entry)
        val = re.search(r"^Default:\n\.BR? (\S+)", entry, re.M)
        if key and val:
            mandef[key.group(1)] = val.group(1)
    wrong = ["%s (page %s, -h %s)" % (k, v, helpdef.get(k))
             for k, v in sorted(mandef.items()) if helpdef.get(k) != v]
    t.ok(len(mandef) >= 15 and not wrong, "tgsidecar.conf.5 states %d "
         "defaults, each as tgsidecar -h prints it (differ: %s)" %
         (len(mandef), ", ".join(wrong) or "none"))


def check_man(t, wd):
    pages = man_sources(wd)
    groff = shutil.which("groff")
    mandoc = shutil.which("mandoc")
    for name, p in sorted(pages.items()):
        if groff:
            st, out, err = run([groff, "-man", "-ww", "-z", p])
            t.ok(st == 0 and not err.strip(),
                 "%s: groff -man -ww finds nothing to warn about" % name)
            if err.strip():
                t.diag(err.strip())
        else:
            t.skip("%s: groff lint" % name, "groff not installed")
        if mandoc:
            st, out, err = run([mandoc, "-Tlint", "-Wwarning", p])
            t.ok(st == 0 and not (out + err).strip(),
                 "%s: mandoc -Tlint finds no warning" % name)
            if (out + err).strip():
                t.diag((out + err).strip())
        else:
            t.skip("%s: mandoc lint" % name, "mandoc not installed")

    text8 = man_text(read(pages["tgsidecar.8"]))
    text5 = man_text(read(pages["tgsidecar.conf.5"]))
    st, help_text, _ = run([BIN, "-h"])
    flags = flags_of(help_text)
    shorts = re.findall(r"^\s+(-[a-zA-Z]),", help_text, re.M)
    missing = [f for f in flags + shorts if f not in text8 and f not in text5]
    t.ok(flags and not missing, "every flag of tgsidecar -h (%d) is in "
         "tgsidecar.8 or tgsidecar.conf.5 (missing: %s)" %
         (len(flags) + len(shorts), ", ".join(missing) or "none"))
    cli_only = {"--config", "--check-config", "--version", "--help"}
    keys = [f[2:].replace("-", "_") for f in flags if f not in cli_only]
    undoc = [k for k in keys if not re.search(
        r'^\.BI "%s = "' % re.escape(k), read(pages["tgsidecar.conf.5"]),
        re.M)]
    t.ok(keys and not undoc, "tgsidecar.conf.5 has an entry for every key "
         "(%d; missing: %s)" % (len(keys), ", ".join(undoc) or "none"))
    check_man_defaults(t, help_text, read(pages["tgsidecar.conf.5"]))
    conf_keys = re.findall(r"^#?([a-z_]+) = ", read(os.path.join(
        TOP, "etc", "tgsidecar.conf")), re.M)
    undoc = sorted({k for k in conf_keys} - set(keys))
    t.ok(not undoc, "every key of etc/tgsidecar.conf is a flag and "
         "documented (unknown: %s)" % (", ".join(undoc) or "none"))

    textb = man_text(read(pages["tgsidecar-bot.1"]))
    if os.path.exists(BOT_BIN):
        st, bhelp, _ = run([BOT_BIN, "-h"])
        bflags = flags_of(bhelp) + re.findall(r"^\s+(-[a-zA-Z]),", bhelp,
                                               re.M)
        bvars = re.findall(r"env ([A-Z_]+)", bhelp)
        missing = [f for f in bflags + bvars if f not in textb]
        t.ok(bflags and not missing, "every flag and variable of "
             "tgsidecar-bot -h is in tgsidecar-bot.1 (missing: %s)" %
             (", ".join(missing) or "none"))
    else:
        t.skip("tgsidecar-bot.1 covers tgsidecar-bot -h", "no tgsidecar-bot")


# ---------------------------------------------------------------- debian/

def deb_field(text, name):
    """A field of a deb822 paragraph, continuation lines joined."""
    m = re.search(r"^%s:(.*(?:\n[ \t].*)*)" % re.escape(name), text,
                  re.M | re.I)
    return m.group(1) if m else None


def check_debian(t):
    """debian/ (in git, not in the release tarball): what a maintainer
    must keep in step with upstream by hand."""
    deb = os.path.join(TOP, "debian")
    if not os.path.isdir(deb):
        t.skip("debian/ agrees with configure.ac and LICENSE",
               "no debian/ (a release tarball)")
        return
    ac = read(os.path.join(TOP, "configure.ac"))
    control = read(os.path.join(deb, "control"))
    # configure.ac names the Debian -dev package of every library it
    # looks for, in its error messages: each must be a Build-Depends.
    bdeps = {re.split(r"[\s(\[:]", d.strip())[0]
             for d in (deb_field(control, "Build-Depends") or "").split(",")
             if d.strip()}
    want = set(re.findall(r"\b(lib[a-z0-9.+-]+-dev)\b", ac))
    missing = sorted(want - bdeps)
    t.ok(want and not missing, "debian/control Build-Depends has every "
         "library package configure.ac names (%d; missing: %s)" %
         (len(want), ", ".join(missing) or "none"))
    m = re.search(r"AC_INIT\(\[[^]]*\], \[([^]]*)\]", ac)
    first = read(os.path.join(deb, "changelog")).split("\n", 1)[0]
    c = re.match(r"tgsidecar \(([^)-]+)-[^)]+\)", first)
    t.ok(m and c and c.group(1) == m.group(1),
         "debian/changelog's upstream version is configure.ac's (%s, %s)" %
         (c and c.group(1), m and m.group(1)))
    # dh_auto_test runs TESTS='$$(UNIT_TESTS) ...': a renamed variable
    # would make it run nothing and pass.
    rules = read(os.path.join(deb, "rules"))
    am = read(os.path.join(TOP, "Makefile.am"))
    m = re.search(r"TESTS='([^']*)'", rules)
    names = re.findall(r"\$\$\((\w+)\)", m.group(1)) if m else []
    unit = [n for n in names
            if re.search(r"^%s =(.*\\\n)*.*tests/unit/test_" % n, am, re.M)]
    t.ok(names and unit == names, "debian/rules runs the unit tests at build "
         "time: %s, each a list of tests/unit/ programs in Makefile.am" %
         (" ".join(names) or "no TESTS"))
    copyright = read(os.path.join(deb, "copyright"))
    paras = copyright.split("\n\n")
    lic = [p for p in paras if p.startswith("License: ISC\n")]
    text = " ".join(ln.strip() for ln in lic[0].splitlines()[1:]
                    if ln.strip() != ".") if lic else ""
    body = read(os.path.join(TOP, "LICENSE")).split("\n\n", 2)[-1]
    t.ok(paras[0].startswith("Format: https://www.debian.org/doc/"
                             "packaging-manuals/copyright-format/1.0/") and
         any(re.search(r"^Files: \*$", p, re.M) and
             re.search(r"^License: ISC$", p, re.M) for p in paras) and
         text == " ".join(body.split()),
         "debian/copyright is machine-readable, ISC, with LICENSE's text")


def main():
    t = Tap()
    wd = harness.make_tempdir("tgsidecar-packaging-")
    try:
        lines, cmd, image_env, image_pkgs = check_dockerfile(t)
        config_accepted(t, image_env, "Dockerfile ENV")
        check_healthcheck(t, wd, cmd)
        if yaml is None:
            t.skip("Kubernetes and Compose files", "python3-yaml not installed")
        else:
            check_k8s_file(t, "tgsidecar.yaml", native=False)
            check_k8s_file(t, "tgsidecar-native-sidecar.yaml", native=True)
            check_compose(t, image_env)
        check_ignores(t)
        check_man(t, wd)
        check_image(t, wd, cmd)
        dest = check_build(t, wd)
        check_build_nogit(t, wd)
        if dest is not None:
            check_libs(t, dest, image_pkgs)
        check_systemd(t, wd, dest)
        check_debian(t)
    except Exception:
        t.fail_exception("packaging checks")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
