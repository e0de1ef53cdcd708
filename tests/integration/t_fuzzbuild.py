#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""The libFuzzer harnesses in tests/fuzz still build against the tree's
sources (tests/fuzz/run.sh with 0 seconds: build only).  They are run by
"make fuzz" and check-all only, so a harness broken by a change of an API
it calls (route_parse() and route_clear(), struct req) would go unseen in
make check.  Skipped without a clang that links -fsanitize=fuzzer. TAP
output."""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap  # noqa: E402

TESTS = os.environ.get("TESTS_SRCDIR") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(TESTS, "fuzz", "run.sh")
HARNESSES = ("route", "http", "config", "proxy", "pollarg", "reply")


def fuzzer_clang(wd):
    """clang, if it builds and links a libFuzzer program here."""
    cc = os.environ.get("FUZZ_CC") or shutil.which("clang")
    if cc is None:
        return None
    src = os.path.join(wd, "probe.c")
    with open(src, "w") as f:
        f.write("#include <stddef.h>\n#include <stdint.h>\n"
                "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)"
                " { (void)d; (void)n; return 0; }\n")
    r = subprocess.run([cc, "-fsanitize=fuzzer", src, "-o",
                        os.path.join(wd, "probe")],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=harness.patient(120))
    return cc if r.returncode == 0 else None


def main():
    t = Tap()
    wd = harness.make_tempdir()
    cc = fuzzer_clang(wd)
    for name in HARNESSES:
        desc = "tests/fuzz/fuzz_%s.c builds" % name
        if cc is None:
            t.skip(desc, "no clang with -fsanitize=fuzzer")
            continue
        env = dict(os.environ, FUZZ_CC=cc,
                   FUZZ_BUILDDIR=os.path.join(wd, "build"))
        r = subprocess.run(["sh", RUN, "0", name], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=harness.patient(300))
        if not t.is_(r.returncode, 0, desc):
            t.diag(r.stdout.decode(errors="replace")[-2000:])
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
