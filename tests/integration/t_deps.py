#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""contrib/deps.sh as a user without root and without sudo meets it: a
clear message naming what to run instead, a non-zero exit, and no apt-get
run. TAP output."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap  # noqa: E402

DEPS = os.path.normpath(os.path.join(os.environ.get("TESTS_SRCDIR") or
                    os.path.dirname(os.path.dirname(
                        os.path.abspath(__file__))),
                    "..", "contrib", "deps.sh"))


def drop_root():
    if os.getuid() == 0:
        os.setgid(65534)
        os.setuid(65534)


def main():
    t = Tap()
    wd = harness.make_tempdir()
    # A PATH with id but no sudo, and an apt-get that leaves a trace.
    bindir = os.path.join(wd, "bin")
    os.mkdir(bindir)
    os.symlink("/usr/bin/id", os.path.join(bindir, "id"))
    trace = os.path.join(wd, "apt-get-ran")
    with open(os.path.join(bindir, "apt-get"), "w") as f:
        f.write("#!/bin/sh\n: > %s\n" % trace)
    os.chmod(os.path.join(bindir, "apt-get"), 0o755)
    os.chmod(wd, 0o777)
    for args in ([], ["--test"]):
        r = subprocess.run(["/bin/sh", DEPS] + args, cwd=wd,
                           env={"PATH": bindir, "LANG": "C"},
                           preexec_fn=drop_root, capture_output=True,
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
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
