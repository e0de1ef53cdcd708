#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""A newcomer's first steps. contrib/deps.sh as a user without root and
without sudo meets it: a clear message naming what to run instead, a
non-zero exit, and no apt-get run. The README's test command is the one
that CI (.ci/run) and make fresh-check (tests/fresh/check.sh) run, and
fresh-check refuses a README where it cannot find it. TAP output."""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap  # noqa: E402

TOP = os.path.normpath(os.path.join(
    os.environ.get("TESTS_SRCDIR") or
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".."))
DEPS = os.path.join(TOP, "contrib", "deps.sh")
FRESH = os.path.join(TOP, "tests", "fresh", "check.sh")


def check_deps(t, wd):
    # A PATH without sudo, with an id that says "not root" (so that the
    # test runs the same as root or not, wherever the tree is), and an
    # apt-get that leaves a trace.
    bindir = os.path.join(wd, "bin")
    os.mkdir(bindir)
    trace = os.path.join(wd, "apt-get-ran")
    for name, body in (("id", "echo 1000"), ("apt-get", ": > " + trace)):
        with open(os.path.join(bindir, name), "w") as f:
            f.write("#!/bin/sh\n%s\n" % body)
        os.chmod(os.path.join(bindir, name), 0o755)
    for args in ([], ["--test"]):
        r = subprocess.run(["/bin/sh", DEPS] + args, cwd=wd,
                           env={"PATH": bindir, "LANG": "C"},
                           capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=60)
        err = r.stderr.decode("utf-8", "replace")
        what = "deps.sh %s" % " ".join(args) if args else "deps.sh"
        t.ok(r.returncode not in (0, 127),
             "%s without root or sudo exits non-zero, not 127 (got %d)"
             % (what, r.returncode))
        t.ok("run as root" in err and "su -c" in err and
             ("deps.sh" + (" --test" if args else "") + "'") in err,
             "%s says what to run instead: %r" % (what, err.strip()[:160]))
    t.ok(not os.path.exists(trace), "apt-get never ran")


def print_command(top):
    return subprocess.run(["/bin/bash", os.path.join(top, "tests", "fresh",
                                                     "check.sh"),
                           "--print-command"], capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=60, text=True)


def check_readme_command(t, wd):
    r = print_command(TOP)
    cmd = r.stdout.strip()
    t.ok(r.returncode == 0 and cmd.startswith("contrib/deps.sh --test") and
         "check-all" in cmd,
         "fresh-check finds the README's test command: %r" % cmd)
    ci = os.path.join(TOP, ".ci", "run")
    if not os.path.exists(ci):
        t.skip(".ci/run runs the README's test command exactly",
               "no .ci/run (a release tarball)")
    else:
        lines = [l.strip() for l in harness.read_text(ci).splitlines()
                 if l.strip() and not l.startswith("#")]
        t.ok(cmd in lines,
             ".ci/run runs the README's test command exactly (%r)"
             % (lines[-1:] or ""))
    # A README without the sentence: fresh-check stops and says why.
    fake = os.path.join(wd, "fake")
    os.makedirs(os.path.join(fake, "tests", "fresh"))
    shutil.copy(FRESH, os.path.join(fake, "tests", "fresh", "check.sh"))
    with open(os.path.join(fake, "README.md"), "w") as f:
        f.write("# tgsidecar\n\nBuild it:\n\n    make\n")
    r = print_command(fake)
    t.ok(r.returncode != 0 and "README.md" in r.stderr and not r.stdout,
         "fresh-check refuses a README without the test command: %r"
         % r.stderr.strip()[:160])


def check_demo(t, wd):
    """make demo: the conversation, then /ping's getMe split into the
    access log's phases."""
    env = harness.scrubbed_env({
        "TGSIDECAR_BIN": harness.sidecar_bin(),
        "TGSIDECAR_BOT_BIN": os.environ.get("TGSIDECAR_BOT_BIN", ""),
        "PYTHONDONTWRITEBYTECODE": "1"})
    r = subprocess.run(["/usr/bin/python3",
                        os.path.join(TOP, "contrib", "demo.py")],
                       env=env, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=300)
    t.ok(r.returncode == 0 and "pong:" in r.stdout,
         "make demo runs and the bot answers /ping (status %d)"
         % r.returncode)
    if r.returncode != 0:
        t.diag(r.stdout[-2000:] + r.stderr[-2000:])
    m = re.search(r"Where /ping's getMe went \(([0-9.]+) ms", r.stdout)
    rows = [float(x) for x in re.findall(r"^ +([0-9.]+) ms  ", r.stdout,
                                         re.M)]
    # Not their sum: libcurl's phase clocks may overlap by a little.
    t.ok(m and len(rows) == 4 and "connect to the proxy" in r.stdout and
         all(0 <= x <= float(m.group(1)) + 0.05 for x in rows),
         "make demo splits /ping's %s ms into proxy connect, TLS, first "
         "byte and the rest: %r" % (m and m.group(1), rows))
    t.ok(re.search(r"a sidecar that goes direct: [0-9.]+ ms", r.stdout),
         "make demo shows the same getMe without the proxy")


def main():
    t = Tap()
    wd = harness.make_tempdir()
    t.run_parts((check_deps, check_readme_command, check_demo), wd)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
