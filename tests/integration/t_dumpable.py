#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Secrets at rest: the sidecar's memory holds bot tokens and proxy
passwords, so by default it is not dumpable. Measured from outside, as a
user would see it: a process of the daemon's own (unprivileged) user
cannot read its /proc/<pid>/environ or list its fds (the files belong to
root), and SIGABRT leaves no core file. `core_dumps = yes` undoes all
three, which is also the positive control that the probes can see the
secret. Both hold after `user =` drops root (setuid() resets the flag).
Loopback only; the proxy is never reached. TAP."""

import errno
import http.client
import os
import pwd
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap  # noqa: E402

IS_ROOT = os.geteuid() == 0


def as_user(uid, gid):
    """preexec_fn: become uid/gid with no supplementary groups."""
    def drop():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    return drop


def with_core():
    """preexec_fn: allow core files of any size."""
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,
                                              resource.RLIM_INFINITY))


class Daemon:
    """The sidecar with a proxy password in its environment."""

    def __init__(self, wd, name, secret, args=(), preexec=None, cwd=None):
        self.port = harness.alloc_port()
        argv = [BINS["sidecar"], "-l", "127.0.0.1:%d" % self.port,
                "-x", "http://tgs@127.0.0.1:%d" % harness.closed_port()]
        self.proc = harness.Proc(
            harness.wrapper_argv() + argv + list(args), wd, name,
            env=harness.scrubbed_env({"TGSIDECAR_PROXY_PASSWORD": secret}),
            cwd=cwd)
        self.proc.preexec = preexec

    def start(self):
        self.proc.start()
        if not harness.wait_port("127.0.0.1", self.port,
                                 10 * harness.time_scale(), self.proc):
            raise RuntimeError("%s did not listen:\n%s"
                               % (self.proc.name, self.proc.log()))
        # The port is bound before user = drops root; an answer comes
        # only from the loop, once start-up is over.
        c = http.client.HTTPConnection("127.0.0.1", self.port,
                                       timeout=harness.CLIENT_TIMEOUT)
        try:
            if harness.request(c, "GET", "/healthz").status != 200:
                raise RuntimeError("%s: /healthz is not 200" % self.proc.name)
        finally:
            c.close()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        return self.proc.stop(timeout=harness.patient(10))


def probe(pid, uid, gid):
    """What a process running as uid/gid sees of pid: (errno or 0 of
    reading /proc/pid/environ, its bytes, errno or 0 of listing fd/)."""
    code = ("import os, sys\n"
            "def tr(f):\n"
            "    try:\n"
            "        return 0, f()\n"
            "    except OSError as e:\n"
            "        return e.errno, None\n"
            "e1, env = tr(lambda: open('/proc/%d/environ', 'rb').read())\n"
            "e2, _ = tr(lambda: os.listdir('/proc/%d/fd'))\n"
            "sys.stdout.write('%%d %%d\\n' %% (e1, e2))\n"
            "sys.stdout.flush()\n"
            "sys.stdout.buffer.write(env or b'')\n" % (pid, pid))
    pre = as_user(uid, gid) if IS_ROOT and uid != os.geteuid() else None
    # The system python: sys.executable may be under root's home.
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else \
        sys.executable
    r = subprocess.run([py, "-c", code], capture_output=True, cwd="/",
                       preexec_fn=pre, timeout=harness.patient(30))
    head, _, env = r.stdout.partition(b"\n")
    e1, e2 = (int(x) for x in head.split())
    return e1, env, e2


def denied(e):
    return e in (errno.EACCES, errno.EPERM)


def check_proc(t, wd, desc, args, preexec, uid, gid, dumpable):
    secret = harness.unique_secret("dump")
    d = Daemon(wd, "sidecar-" + desc.replace(" ", "-").replace("=", ""),
               secret, args, preexec)
    try:
        d.start()
        st = os.stat("/proc/%d/environ" % d.pid)
        owner = uid if dumpable else 0
        t.is_(st.st_uid, owner, "%s: /proc/<pid>/environ belongs to %s"
              % (desc, "the daemon's user (%d)" % uid if dumpable
                 else "root"))
        e_env, env, e_fd = probe(d.pid, uid, gid)
        if dumpable:
            t.ok(e_env == 0 and secret.encode() in env and e_fd == 0,
                 "%s: a process of the same user reads its environment "
                 "(the proxy password is there) and lists its fds "
                 "(errno %d, %d)" % (desc, e_env, e_fd))
        else:
            t.ok(denied(e_env) and secret.encode() not in env and
                 denied(e_fd),
                 "%s: a process of the same user (uid %d) can read "
                 "neither its environment nor its fds (errno %d, %d)"
                 % (desc, uid, e_env, e_fd))
    finally:
        st, killed = d.stop()
    t.ok(st == 0 and not killed, "%s: exits 0 on SIGTERM" % desc)


def unprivileged():
    """(uid, gid, preexec) for a daemon that is not root."""
    if not IS_ROOT:
        return os.getuid(), os.getgid(), None
    nb = pwd.getpwnam("nobody")
    return nb.pw_uid, nb.pw_gid, as_user(nb.pw_uid, nb.pw_gid)


def part_proc(t, wd):
    uid, gid, pre = unprivileged()
    check_proc(t, wd, "default", [], pre, uid, gid, False)
    check_proc(t, wd, "core_dumps=yes", ["--core-dumps", "yes"], pre, uid,
               gid, True)
    if not IS_ROOT:
        for d in ("user = nobody", "user = nobody, core_dumps=yes"):
            t.skip("%s: checked after the drop" % d, "needs root")
        return
    nb = pwd.getpwnam("nobody")
    # Started as root; setuid() resets the flag to fs.suid_dumpable.
    check_proc(t, wd, "user = nobody", ["--user", "nobody"], None,
               nb.pw_uid, nb.pw_gid, False)
    check_proc(t, wd, "user = nobody, core_dumps=yes",
               ["--user", "nobody", "--core-dumps", "yes"], None,
               nb.pw_uid, nb.pw_gid, True)


def core_files(d):
    return [f for f in os.listdir(d) if f == "core" or f.startswith("core.")]


def abort_daemon(wd, name, secret, args):
    """SIGABRT a daemon allowed cores of any size, in a directory of its
    own; (core dumped per the kernel, [bytes of each core file])."""
    cwd = os.path.join(wd, name + "-cwd")
    os.mkdir(cwd)
    d = Daemon(wd, name, secret, args, with_core, cwd=cwd).start()
    os.kill(d.pid, signal.SIGABRT)
    _, status = os.waitpid(d.pid, 0)
    d.proc.p.returncode = -signal.SIGABRT
    cores = []
    for f in core_files(cwd):
        with open(os.path.join(cwd, f), "rb") as fh:
            cores.append(fh.read())
        os.unlink(os.path.join(cwd, f))
    return (os.WIFSIGNALED(status) and os.WCOREDUMP(status)), cores


def part_core(t, wd):
    with open("/proc/sys/kernel/core_pattern") as f:
        pattern = f.read().strip()
    why = None
    if harness.wrapper_argv():
        why = "under a wrapper (valgrind writes its own cores)"
    elif pattern.startswith("|") or "/" in pattern:
        why = "core_pattern %r is not a file in the cwd" % pattern
    if why is None:
        secret = harness.unique_secret("core")
        dumped, cores = abort_daemon(wd, "sidecar-core-yes", secret,
                                     ["--core-dumps", "yes"])
        if not dumped:
            # ASan, for one, sets RLIMIT_CORE to 0 itself.
            why = "no core even with core_dumps = yes: cores are off here"
        else:
            t.ok(len(cores) == 1 and secret.encode() in cores[0],
                 "core_dumps=yes: SIGABRT leaves a core file, and the proxy "
                 "password is in it (the check can see a secret)")
    if why is not None:
        for d in ("core_dumps=yes: SIGABRT leaves a core file",
                  "default: SIGABRT leaves no core file"):
            t.skip(d, why)
        return
    dumped, cores = abort_daemon(wd, "sidecar-core-no", secret, [])
    t.ok(not dumped and not cores,
         "default: SIGABRT with ulimit -c unlimited leaves no core file "
         "(kernel says dumped: %r, %d files)" % (dumped, len(cores)))


def bot_bin():
    return os.environ.get("TGSIDECAR_BOT_BIN") or os.path.join(
        os.path.dirname(harness.sidecar_bin()), "tgsidecar-bot")


def part_bot(t, wd):
    """The bundled bot holds its token the same way: never dumpable."""
    uid, gid, pre = unprivileged()
    secret = harness.unique_secret("bot")
    env = {"TELEGRAM_BOT_TOKEN": "123456:" + secret,
           "TGSIDECAR_URL": "http://127.0.0.1:%d" % harness.closed_port()}
    bot = harness.Proc(harness.wrapper_argv() + [BINS["bot"]], wd, "bot",
                       env=harness.scrubbed_env(env))
    bot.preexec = pre
    try:
        bot.start()
        # The start-up line comes after the flag is set, and the loop
        # then retries the closed port until SIGTERM.
        started = harness.wait_until(
            lambda: "starting" in bot.stdout() + bot.stderr(), 15)
        t.ok(started, "tgsidecar-bot starts as uid %d" % uid)
        st = os.stat("/proc/%d/environ" % bot.pid)
        t.is_(st.st_uid, 0, "tgsidecar-bot: /proc/<pid>/environ belongs "
              "to root")
        e_env, env_bytes, e_fd = probe(bot.pid, uid, gid)
        t.ok(denied(e_env) and secret.encode() not in env_bytes and
             denied(e_fd), "tgsidecar-bot: a process of the same user "
             "reads neither its token nor its fds (errno %d, %d)"
             % (e_env, e_fd))
    finally:
        code, killed = bot.stop(timeout=harness.patient(10))
    t.ok(code == 0 and not killed, "tgsidecar-bot exits 0 on SIGTERM")


BINS = {}


def reachable_bins(wd):
    """The programs where an unprivileged user can run them: as root, the
    build tree may be under a home only root can enter (/root/...), so
    copies go to a directory of their own that anyone may read."""
    BINS.update(sidecar=harness.sidecar_bin(), bot=bot_bin())
    if not IS_ROOT:
        return
    d = os.path.join(wd, "bin")
    os.mkdir(d)
    for k, src in BINS.items():
        dst = os.path.join(d, os.path.basename(src))
        shutil.copy2(src, dst)
        os.chmod(dst, 0o755)
        BINS[k] = dst
    os.chmod(d, 0o755)      # wd itself is 0755 (harness.make_tempdir)


def main():
    t = Tap()
    wd = harness.make_tempdir()
    reachable_bins(wd)
    t.run_parts((part_proc, part_core, part_bot), wd)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
