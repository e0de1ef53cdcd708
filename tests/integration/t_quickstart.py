#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""The README's quickstart blocks, run as they stand: each block marked
<!-- quickstart: NAME --> is taken from README.md, its proxy address (and
for ssh -D the server) replaced by the test's, and run with sh from the
build tree against real proxies (squid plain, with a password and with
NTLM; microsocks; OpenSSH's ssh -D to a local sshd), with the TLS stand-in
as the Bot API (TGSIDECAR_UPSTREAM, TGSIDECAR_CA_FILE and TGSIDECAR_LISTEN
in the environment, which the blocks leave alone). Then the check block
(curl getMe) must answer ok through it, and the proxy must show it was
used. The Compose block is checked with docker-compose config and its
sidecar settings run the same way. README.zh-CN.md must give the same
commands and the same troubleshooting rows. TAP."""

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap, StandIn, Certs, token  # noqa: E402
import proxies  # noqa: E402

SRCDIR = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
README = os.path.join(SRCDIR, "README.md")
README_ZH = os.path.join(SRCDIR, "README.zh-CN.md")
# Every block the README must have, and what each one's run needs.
BLOCKS = ("check", "clash", "v2rayn", "v2rayn-http", "ssh", "squid-basic",
          "squid-ntlm", "compose")
_BLOCK = re.compile(r"<!-- quickstart: (\S+) -->\n```(\w*)\n(.*?)\n```\n",
                    re.S)
SSHD = "/usr/sbin/sshd"


def quickstart_blocks(path):
    """{name: (language, text)} of the marked blocks of a README."""
    with open(path, encoding="utf-8") as f:
        return {m.group(1): (m.group(2), m.group(3))
                for m in _BLOCK.finditer(f.read())}


def subst(text, pairs):
    for a, b in pairs:
        assert a in text, "%r is not in the block %r" % (a, text)
        text = text.replace(a, b)
    return text


# ------------------------------------------------------------- processes

class Shell:
    """sh -ec BLOCK in its own process group, stopped by its pgid (the
    block may start background jobs, as ssh -D ... & does)."""

    def __init__(self, wd, name, text, env, cwd):
        self.out = os.path.join(wd, name + ".out")
        with open(self.out, "wb") as f:
            self.p = subprocess.Popen(["/bin/sh", "-ec", text], cwd=cwd,
                                      env=env, stdin=subprocess.DEVNULL,
                                      stdout=f, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        harness.on_cleanup(self.stop)

    def log(self):
        return harness.read_text(self.out)

    def stop(self):
        if self.p.poll() is not None:
            return self.p.returncode
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.p.pid, sig)
            except ProcessLookupError:
                break
            try:
                return self.p.wait(harness.patient(wait))
            except subprocess.TimeoutExpired:
                pass
        return self.p.poll()


class Sshd:
    """OpenSSH's sshd on a loopback port with its own host key, letting in
    this user with a key made here; DEBUG1 logs each forwarded channel."""

    def __init__(self, wd):
        self.dir = os.path.join(wd, "ssh")
        os.makedirs(self.dir, mode=0o700)
        self.port = harness.alloc_port()
        self.user = pwd.getpwuid(os.getuid()).pw_name
        for k in ("host_key", "id"):
            harness.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "",
                         "-f", os.path.join(self.dir, k)])
        self.key = os.path.join(self.dir, "id")
        shutil.copy(self.key + ".pub", os.path.join(self.dir, "authorized"))
        conf = os.path.join(self.dir, "sshd_config")
        with open(conf, "w") as f:
            f.write("Port %d\nListenAddress 127.0.0.1\nHostKey %s/host_key\n"
                    "AuthorizedKeysFile %s/authorized\nPidFile %s/sshd.pid\n"
                    "PasswordAuthentication no\nKbdInteractiveAuthentication"
                    " no\nUsePAM no\nStrictModes no\nAllowTcpForwarding yes\n"
                    "PermitRootLogin prohibit-password\nLogLevel DEBUG1\n"
                    % (self.port, self.dir, self.dir, self.dir))
        # As root, sshd wants its privilege separation directory (what the
        # ssh service's RuntimeDirectory makes).
        if os.getuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.proc = harness.Proc([SSHD, "-D", "-e", "-f", conf], self.dir,
                                 "sshd")

    def start(self):
        self.proc.start()
        if not harness.wait_port("127.0.0.1", self.port, 10, self.proc):
            raise RuntimeError("sshd did not listen:\n" + self.proc.stderr())
        return self

    def client_args(self):
        """What replaces you@server.example in the block."""
        return ("-p %d -i %s -o BatchMode=yes -o StrictHostKeyChecking=no "
                "-o UserKnownHostsFile=/dev/null %s@127.0.0.1"
                % (self.port, self.key, self.user))


# ------------------------------------------------------------- the runs

def run_block(t, env, name, start, pairs, evidence, wait_ports=()):
    """Run the start block with pairs substituted, then the check block;
    evidence() says the proxy saw the request."""
    wd, blocks = env["wd"], env["blocks"]
    port = harness.alloc_port()
    run_env = harness.scrubbed_env({
        "HOME": env["home"],
        "TELEGRAM_BOT_TOKEN": env["token"],
        "TGSIDECAR_LISTEN": "127.0.0.1:%d" % port,
        "TGSIDECAR_UPSTREAM": env["si"].url,
        "TGSIDECAR_CA_FILE": env["certs"].ca_cert,
        "TGSIDECAR_LOG_LEVEL": "info"})
    run_env.update(env.get("extra_env", {}))
    cwd = os.path.dirname(harness.sidecar_bin())
    c0 = env["si"].connections()
    sh = Shell(wd, "qs-" + name, subst(start, pairs), run_env, cwd)
    try:
        up = harness.wait_port("127.0.0.1", port, 15) and all(
            harness.wait_port("127.0.0.1", p, 15) for p in wait_ports)
        t.ok(up, "%s: the block starts the sidecar" % name)
        check = subst(blocks["check"][1], (("8081", str(port)),))
        st, out, err = harness.run(["/bin/sh", "-ec", check], env=run_env,
                                   timeout=30)
        try:
            reply = json.loads(out)
        except ValueError:
            reply = None
        t.ok(st == 0 and reply is not None and reply.get("ok") is True and
             "result" in reply,
             "%s: the check block's getMe answers ok:true" % name)
        if not (reply and reply.get("ok")):
            t.diag("check: %r %r\nlog:\n%s" % (out, err, sh.log()[-3000:]))
        ev = evidence(c0)
        t.ok(ev, "%s: %s" % (name, evidence.__doc__))
    finally:
        rc = sh.stop()
    log = sh.log()
    t.ok("s3cret" not in log and env["secret"] not in log,
         "%s: neither the proxy password nor the token in the log (exit %r)"
         % (name, rc))


def squid_saw(squid, si, user=None):
    def ev(c0):
        """the proxy's access log has the CONNECT to the Bot API"""
        return harness.wait_until(lambda: [
            ln for ln in squid.access_log().splitlines()
            if "CONNECT 127.0.0.1:%d" % si.port in ln and
            (user is None or user in ln.lower())], 10)
    if user is not None:
        ev.__doc__ = ("the proxy's access log has the CONNECT, "
                      "authenticated as %s" % user)
    return ev


def part_proxies(t, env):
    si, wd = env["si"], env["wd"]
    blocks = env["blocks"]
    plain = env["squid"]
    basic = proxies.Squid(wd, [si.port], auth=("basic", "alice", "s3cret"))
    ntlm = proxies.Squid(wd, [si.port], auth=("ntlm",))
    socks = proxies.Microsocks(wd)
    for p in (basic, ntlm, socks):
        p.start()
        harness.on_cleanup(p.stop)

    def socks_used(c0):
        """the stand-in got connections (no way but the proxy)"""
        return si.connections() > c0

    corp = "proxy.corp.example:3128"
    cases = (
        ("clash", (("127.0.0.1:7890", plain.addr),), squid_saw(plain, si)),
        ("v2rayn", (("127.0.0.1:10808", socks.addr),), socks_used),
        ("v2rayn-http", (("127.0.0.1:10809", plain.addr),),
         squid_saw(plain, si)),
        ("squid-basic", ((corp, basic.addr),), squid_saw(basic, si, "alice")),
        ("squid-ntlm", ((corp, ntlm.addr),), squid_saw(ntlm, si, "alice")),
    )
    for name, pairs, ev in cases:
        try:
            run_block(t, env, name, blocks[name][1], pairs, ev)
        except Exception:
            t.fail_exception(name)


def part_ssh(t, env):
    if not os.access(SSHD, os.X_OK) or not shutil.which("ssh"):
        t.ok(False, "ssh: OpenSSH's sshd and ssh are installed "
             "(contrib/deps.sh --test: openssh-server, openssh-client)")
        return
    sshd = Sshd(env["wd"]).start()
    harness.on_cleanup(sshd.proc.kill_quietly)
    socks_port = harness.alloc_port()

    def forwarded(c0):
        """sshd forwarded the sidecar's connection (direct-tcpip)"""
        return harness.wait_until(
            lambda: "127.0.0.1 port %d" % env["si"].port in
            sshd.proc.stderr(), 10)
    try:
        run_block(t, env, "ssh", env["blocks"]["ssh"][1],
                  (("you@server.example", sshd.client_args()),
                   ("127.0.0.1:1080", "127.0.0.1:%d" % socks_port)),
                  forwarded, wait_ports=(socks_port,))
    finally:
        sshd.proc.stop()


def part_compose(t, env):
    import yaml
    lang, text = env["blocks"]["compose"]
    doc = yaml.safe_load(text)
    svc = doc["services"]["tgsidecar"]
    t.is_((lang, svc["image"], doc["services"]["bot"]["depends_on"]),
          ("yaml", "tgsidecar", ["tgsidecar"]),
          "compose: YAML, the image the README's docker build tags, the bot "
          "depends on the sidecar")
    f = os.path.join(env["wd"], "docker-compose.yml")
    with open(f, "w") as fh:
        fh.write(text + "\n")
    if shutil.which("docker-compose"):
        st, out, err = harness.run(["docker-compose", "-f", f, "config",
                                    "-q"], timeout=60)
        t.ok(st == 0, "compose: docker-compose config accepts the block")
        if st:
            t.diag(out + err)
    else:
        t.skip("compose: docker-compose config", "docker-compose missing")
    # The service's settings, the proxy on the host replaced by squid.
    plain, si = env["squid"], env["si"]
    settings = {k: str(v).replace("host.docker.internal:7890", plain.addr)
                for k, v in svc["environment"].items()}
    t.is_(sorted(settings), ["TGSIDECAR_PROXY"],
          "compose: the sidecar is configured by TGSIDECAR_PROXY only")
    env2 = dict(env, extra_env=settings)
    run_block(t, env2, "compose", "exec ./tgsidecar", (),
              squid_saw(plain, si))


# ------------------------------------------------------------- zh-CN

_FENCE = re.compile(r"^```\w*\n(.*?)\n```$", re.M | re.S)
_INDENTED = re.compile(r"(?:^|\n\n)((?:    \S.*\n)+)")


def command_blocks(text):
    """Fenced blocks and four-space indented command lines."""
    out = set(m.group(1) for m in _FENCE.finditer(text))
    for m in _INDENTED.finditer(text):
        out |= {ln.strip() for ln in m.group(1).splitlines()}
    return out


def trouble_rows(text):
    """(status, description) of the troubleshooting table: its rows with
    a status column and a backquoted description."""
    rows = set()
    for ln in text.splitlines():
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        if len(cells) >= 4 and re.fullmatch(r"\d{3}|cut reply|截断的回复",
                                            cells[1]):
            rows.add(("cut" if not cells[1].isdigit() else cells[1],
                      re.sub(r"\s+", " ", cells[2])))
    return rows


def part_zh(t, env):
    with open(README, encoding="utf-8") as f:
        en = f.read()
    try:
        with open(README_ZH, encoding="utf-8") as f:
            zh = f.read()
    except OSError:
        t.ok(False, "README.zh-CN.md exists")
        return
    t.ok("README.md" in zh.split("\n## ", 1)[0],
         "zh-CN: says at the top that README.md is the reference")
    t.is_(quickstart_blocks(README_ZH), env["blocks"],
          "zh-CN: the same quickstart blocks as README.md, character for "
          "character")
    en_cmds, zh_cmds = command_blocks(en), command_blocks(zh)
    two = [c for c in en_cmds if c.startswith("contrib/deps.sh")]
    t.is_((len(two), sorted(set(two) - zh_cmds)), (2, []),
          "zh-CN: the two commands, as in README.md")
    t.is_(sorted(zh_cmds - en_cmds), [],
          "zh-CN: every command it gives is one README.md gives")
    en_rows, zh_rows = trouble_rows(en), trouble_rows(zh)
    t.ok(len(en_rows) >= 15, "README.md's troubleshooting table has its "
         "rows (%d)" % len(en_rows))
    t.is_(sorted(en_rows ^ zh_rows), [], "zh-CN: the troubleshooting "
          "table has the same statuses and descriptions as README.md's")


def main():
    t = Tap()
    blocks = quickstart_blocks(README)
    t.is_(sorted(blocks), sorted(BLOCKS), "README.md has each quickstart "
          "block, marked")
    wd = harness.make_tempdir()
    home = os.path.join(wd, "home")
    os.makedirs(home)
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    squid = proxies.Squid(wd, [si.port])
    secret = harness.unique_secret("qs")
    env = {"wd": wd, "home": home, "certs": certs, "si": si, "squid": squid,
           "blocks": blocks, "secret": secret, "token": token(secret)}
    try:
        squid.start()
        for part in (part_proxies, part_ssh, part_compose, part_zh):
            try:
                part(t, env)
            except Exception:
                t.fail_exception(part.__name__)
    finally:
        squid.stop()
        si.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
