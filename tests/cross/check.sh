#!/bin/sh
# SPDX-License-Identifier: ISC
# tests/cross/check.sh (make cross-check): the Debian package for arm64 and
# armhf, cross-built on this machine and checked under qemu-user.
#
# In a minbase bookworm chroot made with debootstrap (so the host's own
# -dev packages are never touched: libevent-dev and libhttp-parser-dev are
# not Multi-Arch: same, one architecture's replaces another's), with the
# foreign architectures added: Debian's crossbuild-essential-ARCH and
# qemu-user-static, then for each architecture in turn
#   apt-get build-dep -a ARCH .     debian/control's Build-Depends, :ARCH
#   dpkg-buildpackage -a ARCH -B    the cross-built .deb (nocheck: its
#                                   dh_auto_test would exec the foreign
#                                   unit tests directly, and fail)
#   make check TESTS=<unit tests> LOG_COMPILER=qemu-ARCH-static
#                                   the same unit tests, run under qemu
#   apt-get install ./tgsidecar_*_ARCH.deb   installed in the chroot
# and from this machine (tests/cross/getme.py, the test harness): the
# installed binary's ELF machine, -V, -t -c on the installed conffile,
# tgsidecar-bot -h, and a getMe through squid to the TLS stand-in, the
# daemon run by qemu with the chroot as its library prefix. TAP on stdout,
# a summary of what was checked at the end; exit 0 when all passed.
#
# Sources: the committed HEAD of this work tree (git archive). Needs root,
# debootstrap, git, and what make check needs on this machine (python3,
# squid, openssl: contrib/deps.sh --test). Environment (all optional):
#   CROSS_ARCHES   the architectures (default "arm64 armhf")
#   CROSS_BASE     a tarball of the bare debootstrap result: unpacked when
#                  it exists, else written after debootstrap
#   MIRROR         the Debian mirror (default http://deb.debian.org/debian)
#   KEEP=1         keep the chroot (default: removed at the end)
#   CROSS_NICE     nice level of the builds and the unit tests (default 10)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
# As root in a work tree a user owns, git would call it dubious.
hgit() { git -c safe.directory='*' "$@"; }
top=$(hgit -C "$here" rev-parse --show-toplevel)
ARCHES=${CROSS_ARCHES:-arm64 armhf}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
KEEP=${KEEP:-0}
NICE=${CROSS_NICE:-10}

die() { echo "cross-check: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mount)"
command -v debootstrap >/dev/null ||
    die "debootstrap not found: apt-get install debootstrap"
for a in $ARCHES; do
	case $a in
	arm64 | armhf) ;;
	*) die "CROSS_ARCHES: arm64 and armhf only, not $a" ;;
	esac
done

root=$(mktemp -d /var/tmp/tgsidecar-cross.XXXXXX)
log=$root.log
: >"$log"
mounted=
n=0
failed=0
start=$(date +%s)
summary=
note() { summary="$summary
$*"; }

cleanup() {
	st=$?
	trap - EXIT
	for m in $mounted; do
		umount "$root/$m" 2>/dev/null || umount -l "$root/$m" 2>/dev/null ||
		    echo "cross-check: could not unmount $root/$m" >&2
	done
	echo "1..$n"
	echo "# cross-check: $((n - failed))/$n passed in $(($(date +%s) - start)) s; log: $log"
	if [ -n "$summary" ]; then
		echo "# what was checked:$summary" | sed '2,$s/^/#   /'
	fi
	if [ "$KEEP" = 1 ]; then
		echo "# chroot kept: $root"
	elif ! grep -q " $root/" /proc/mounts; then
		rm -rf "$root"
	else
		echo "cross-check: $root still has mounts; not removed" >&2
	fi
	[ "$failed" = 0 ] && [ "$st" = 0 ] || exit 1
	exit 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

ok() {	# ok STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}
# in_root DIR COMMAND: a shell command in the chroot, in DIR.
in_root() {
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	    HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
	    ${http_proxy:+http_proxy="$http_proxy"} \
	    /bin/sh -c "cd $1 && $2"
}
# step DIR DESCRIPTION COMMAND: run in the chroot, output to the log, its
# status in $s and its time in $secs.
step() {
	printf '### %s\n' "$2" >>"$log"
	t0=$(date +%s)
	s=0
	in_root "$1" "$3" >>"$log" 2>&1 || s=$?
	secs=$(($(date +%s) - t0))
	ok "$s" "$2 (${secs} s)"
	if [ "$s" != 0 ]; then
		tail -n 30 "$log" | sed 's/^/# /'
	fi
}

echo "# log: $log"
t0=$(date +%s)
s=0
if [ -n "${CROSS_BASE:-}" ] && [ -f "$CROSS_BASE" ]; then
	tar -C "$root" -xpzf "$CROSS_BASE" >>"$log" 2>&1 || s=$?
	ok "$s" "unpacked the bare bookworm $CROSS_BASE ($(($(date +%s) - t0)) s)"
else
	debootstrap --variant=minbase bookworm "$root" "$MIRROR" \
	    >>"$log" 2>&1 || s=$?
	ok "$s" "debootstrap --variant=minbase bookworm ($(($(date +%s) - t0)) s)"
	if [ "$s" = 0 ] && [ -n "${CROSS_BASE:-}" ]; then
		tar -C "$root" -cpzf "$CROSS_BASE.tmp" . &&
		    mv "$CROSS_BASE.tmp" "$CROSS_BASE"
	fi
fi
[ "$s" = 0 ] || exit 1

for m in proc sys dev dev/pts; do
	case $m in
	proc) mount -t proc proc "$root/proc" ;;
	sys) mount -t sysfs sysfs "$root/sys" ;;
	dev*) mount --bind "/$m" "$root/$m" ;;
	esac
	mounted="$m $mounted"
done
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# A bare debootstrap has no /etc/hosts: without it "localhost" does not
# resolve, and test_pac's isResolvable()/dnsResolve() rows fail.
[ -s "$root/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"

head=$(hgit -C "$top" rev-parse --short HEAD)
version=$(sed -n '1s/^tgsidecar (\([^-)]*\).*/\1/p' "$top/debian/changelog")
echo "# sources: $head, version $version; architectures: $ARCHES"

cross=
for a in $ARCHES; do
	in_root / "dpkg --add-architecture $a"
	cross="$cross crossbuild-essential-$a"
done
step / "apt-get install build-essential$cross debhelper qemu-user-static" \
    "apt-get update -q && apt-get install -y -q --no-install-recommends \
    build-essential$cross debhelper dpkg-dev fakeroot pkgconf \
    qemu-user-static"
[ "$s" = 0 ] || exit 1
note "toolchain: $(in_root / "dpkg-query -W \
    -f='\${db:Status-Abbrev}\${Package} \${Version}\n' qemu-user-static \
    debhelper 'gcc-*-linux-gnu*'" 2>/dev/null | sed -n 's/^ii *//p' |
    grep -v -- '-base ' | tr '\n' ';' | sed 's/;$//; s/;/; /g')"

for a in $ARCHES; do
	case $a in
	arm64) qemu="qemu-aarch64-static" ;;
	armhf) qemu="qemu-arm-static" ;;
	esac
	src=/build/$a/tgsidecar
	mkdir -p "$root$src"
	hgit -C "$top" archive HEAD | tar -x -C "$root$src"

	step "$src" "$a: apt-get build-dep -a $a (debian/control's Build-Depends, :$a)" \
	    "apt-get build-dep -y -q --no-install-recommends -a $a ."
	[ "$s" = 0 ] || { note "$a: build dependencies failed to install"; continue; }

	step "$src" "$a: dpkg-buildpackage -a $a -us -uc -B" \
	    "DEB_BUILD_OPTIONS='nocheck parallel=2' nice -n $NICE dpkg-buildpackage -a $a -us -uc -B"
	[ "$s" = 0 ] || { note "$a: the cross build failed"; continue; }
	build_secs=$secs
	deb=$(cd "$root/build/$a" && ls tgsidecar_*_"$a".deb)
	s=0
	darch=$(dpkg-deb -f "$root/build/$a/$deb" Architecture) || s=$?
	[ "$darch" = "$a" ] || s=1
	ok "$s" "$a: $deb says Architecture: $darch"
	deps=$(dpkg-deb -f "$root/build/$a/$deb" Depends)
	echo "# $a: Depends: $deps"

	# The unit tests, the cross-built binaries run by qemu (no binfmt_misc
	# needed: automake puts LOG_COMPILER in front of each).
	step "$src" "$a: the unit tests under $qemu" \
	    "nice -n $NICE make check TESTS='\$(UNIT_TESTS) \$(BOT_UNIT_TESTS)' \
	    LOG_COMPILER=/usr/bin/$qemu"
	unit_s=$s
	totals=$(sed -n '/^### '"$a"': the unit tests/,$p' "$log" |
	    sed -n 's/^# \(TOTAL\|PASS\|FAIL\|ERROR\|SKIP\): *\([0-9]*\)/\1 \2/p' |
	    tr '\n' ' ')
	echo "# $a unit tests: $totals"

	step "/build/$a" "$a: apt-get install ./$deb (into the chroot, :$a dependencies)" \
	    "apt-get install -y -q --no-install-recommends ./$deb"
	[ "$s" = 0 ] || { note "$a: built in ${build_secs} s; unit tests: $totals; the package did not install"; continue; }

	# From this machine: the installed binary under qemu.
	t0=$(date +%s)
	out=$(python3 "$here/getme.py" "$root" "$root/usr/bin/$qemu" "$a" \
	    "$version" 2>>"$log") || true
	printf '%s\n' "$out" >>"$log"
	printf '%s\n' "$out" | while IFS= read -r line; do
		case $line in
		"ok "* | "not ok "*) echo "# [getme.py] $line" ;;
		"#"*) echo "# [getme.py] $line" ;;
		esac
	done
	run_ok=$(printf '%s\n' "$out" | grep -c '^ok ' || true)
	run_bad=$(printf '%s\n' "$out" | grep -c '^not ok ' || true)
	s=0
	[ "$run_bad" = 0 ] && [ "$run_ok" -ge 7 ] || s=1
	ok "$s" "$a: the installed package under qemu: ELF, -V, -t, bot -h, getMe through squid ($run_ok passed, $run_bad failed, $(($(date +%s) - t0)) s)"
	note "$a: $deb built in ${build_secs} s (Depends: $deps); unit tests under $qemu: $totals(status $unit_s); installed, under qemu: $run_ok checks passed, $run_bad failed"
done
