#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""tests/cross/check.sh's run of an installed foreign-architecture
package, from this machine: ROOT is the chroot the package was installed
in (its /usr/bin/tgsidecar is an arm64 or armhf binary), QEMU the
qemu-user binary that runs it with ROOT as its library prefix. Checks the
binary's ELF machine, -V, -t -c on the installed config, tgsidecar-bot -h,
and a getMe through squid to the TLS stand-in (the harness's, on this
machine), the daemon under qemu. TAP.

    getme.py ROOT QEMU ARCH VERSION
"""

import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap, Sidecar, StandIn, Certs, token  # noqa: E402
import proxies  # noqa: E402

# ELF e_machine, and the word size, by Debian architecture.
MACHINES = {"arm64": (183, 2), "armhf": (40, 1), "amd64": (62, 2),
            "i386": (3, 1)}


def elf_machine(path):
    with open(path, "rb") as f:
        head = f.read(20)
    if head[:4] != b"\x7fELF":
        return None
    return struct.unpack("<H", head[18:20])[0], head[4]


def main():
    root, qemu, arch, version = sys.argv[1:5]
    t = Tap()
    binary = os.path.join(root, "usr/bin/tgsidecar")
    wrapper = [qemu, "-L", root]
    t.is_(elf_machine(binary), MACHINES.get(arch),
          "%s: /usr/bin/tgsidecar is an ELF for %s (machine, class)"
          % (arch, arch))
    p = subprocess.run(wrapper + [binary, "-V"], capture_output=True,
                       text=True, timeout=harness.patient(30))
    t.ok(p.returncode == 0 and p.stdout.startswith("tgsidecar %s " %
                                                   version),
         "%s: tgsidecar -V under qemu: %s" % (arch, p.stdout.strip()))
    conf = "/etc/tgsidecar/tgsidecar.conf"
    p = subprocess.run(wrapper + [binary, "-t", "-c", conf],
                       capture_output=True, text=True,
                       timeout=harness.patient(30))
    t.ok(p.returncode == 0 and "configuration OK" in p.stdout + p.stderr,
         "%s: tgsidecar -t -c %s (the installed conffile): %s"
         % (arch, conf, (p.stdout + p.stderr).strip()))
    p = subprocess.run(wrapper + [os.path.join(root, "usr/bin/tgsidecar-bot"),
                                  "-h"], capture_output=True, text=True,
                       timeout=harness.patient(30))
    t.ok("TELEGRAM_BOT_TOKEN" in p.stdout + p.stderr or
         "usage" in (p.stdout + p.stderr).lower(),
         "%s: tgsidecar-bot -h under qemu prints its usage" % arch)

    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    squid = proxies.Squid(wd, [si.port])
    # The harness's Sidecar runs $TGSIDECAR_WRAPPER $TGSIDECAR_BIN.
    os.environ["TGSIDECAR_WRAPPER"] = " ".join(wrapper)
    os.environ["TGSIDECAR_BIN"] = binary
    sc = None
    try:
        squid.start()
        sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                     proxy=squid.url, name="sidecar-" + arch)
        sc.start(timeout=60)
        secret = harness.unique_secret("cross")
        r = sc.get("/bot%s/getMe" % token(secret), timeout=60)
        body = r.json() if r.status == 200 else None
        t.ok(r.status == 200 and body and body.get("ok") is True,
             "%s: getMe through squid to the TLS stand-in, the daemon "
             "under qemu: %d %s" % (arch, r.status, r.body[:80]))
        t.ok("CONNECT 127.0.0.1:%d" % si.port in squid.access_log(),
             "%s: squid's access log has the CONNECT" % arch)
        st, killed = sc.stop()
        sc = None
        t.ok(st == 0 and not killed, "%s: SIGTERM, exit 0" % arch)
    except Exception:
        t.fail_exception("%s: the daemon under qemu" % arch)
        if sc is not None:
            t.diag(sc.log()[-2000:])
    finally:
        if sc is not None:
            sc.stop()
        squid.stop()
        si.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
