#!/bin/sh
# SPDX-License-Identifier: ISC
# The Debian package on a bare Debian 12: a minbase bookworm chroot made
# with debootstrap gets devscripts and equivs only, then, from the
# committed HEAD of this work tree, mk-build-deps installs what
# debian/control asks for, dpkg-buildpackage -us -uc -b builds the .deb,
# apt-get installs it, and the installed tgsidecar runs (-V, -t, /healthz
# in a private network namespace). lintian --fail-on error (the host's)
# checks the .changes. TAP on stdout; exit status 0 when all passed.
#
#   tests/fresh/deb.sh [DIR]
#
# Needs root, debootstrap, git and network access to the Debian mirror.
# DIR (default: a new directory under /var/tmp) must not exist; it is
# removed at the end unless KEEP=1. MIRROR (http://deb.debian.org/debian)
# picks the mirror; http_proxy, if set, is used by debootstrap and apt.
# Too slow for make check (several minutes); run it by hand.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(git -C "$here" rev-parse --show-toplevel)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
KEEP=${KEEP:-0}

if [ "$(id -u)" != 0 ]; then
	echo "deb.sh: needs root (debootstrap, chroot, mount): run it with sudo" >&2
	exit 2
fi
root=${1:-}
if [ -z "$root" ]; then
	root=$(mktemp -d /var/tmp/tgsidecar-deb.XXXXXX)
	rmdir "$root"
fi
if [ -e "$root" ]; then
	echo "deb.sh: $root exists; give a new directory" >&2
	exit 2
fi

mounted=
n=0
failed=0
start=$(date +%s)
log=$(mktemp /var/tmp/tgsidecar-deb-log.XXXXXX)
cleanup() {
	st=$?
	for m in $mounted; do
		umount "$root/$m" 2>/dev/null || umount -l "$root/$m" 2>/dev/null ||
		    echo "deb.sh: could not unmount $root/$m" >&2
	done
	mounted=
	if [ "$n" -gt 0 ]; then
		echo "1..$n"
		echo "# $((n - failed))/$n passed in $(($(date +%s) - start)) s; log: $log"
	fi
	if [ "$st" != 0 ] && [ "$failed" = 0 ]; then
		echo "# stopped before the end (exit $st)"
	fi
	if [ "$KEEP" = 1 ]; then
		echo "# chroot kept: $root" >&2
	elif ! grep -q " $root/" /proc/mounts; then
		rm -rf "$root"
	else
		echo "deb.sh: $root still has mounts; not removed" >&2
	fi
	exit "$st"
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
# in_root COMMAND: a shell command in the chroot, in the source tree.
in_root() {
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	    HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
	    ${http_proxy:+http_proxy="$http_proxy"} \
	    /bin/sh -c "cd /build/tgsidecar && $1"
}
# step DESCRIPTION COMMAND: run in the chroot, output to the log; its
# status in $s.
step() {
	echo "### $1" >>"$log"
	s=0
	in_root "$2" >>"$log" 2>&1 || s=$?
	ok "$s" "$1"
	if [ "$s" != 0 ]; then
		tail -n 30 "$log" | sed 's/^/# /'
	fi
}

echo "# log: $log"
s=0
debootstrap --variant=minbase bookworm "$root" "$MIRROR" >>"$log" 2>&1 || s=$?
ok "$s" "debootstrap --variant=minbase bookworm"
[ "$s" = 0 ] || exit 1

for m in proc sys dev dev/pts; do
	case $m in
	proc) mount -t proc proc "$root/proc" ;;
	sys) mount -t sysfs sysfs "$root/sys" ;;
	dev*) mount --bind "/$m" "$root/$m" ;;
	esac
	mounted="$m $mounted"
done
cp /etc/resolv.conf "$root/etc/resolv.conf"

mkdir -p "$root/build/tgsidecar"
git -C "$top" archive HEAD | tar -x -C "$root/build/tgsidecar"
echo "# sources: $(git -C "$top" rev-parse --short HEAD)"

step "apt-get install devscripts equivs (nothing else)" \
    'apt-get update && apt-get install -y --no-install-recommends devscripts equivs'
[ "$s" = 0 ] || exit 1
step "mk-build-deps installs debian/control's Build-Depends" \
    "mk-build-deps -i -r -t 'apt-get -y --no-install-recommends' debian/control"
[ "$s" = 0 ] || exit 1
step "dpkg-buildpackage -us -uc -b" 'dpkg-buildpackage -us -uc -b'
[ "$s" = 0 ] || exit 1
tests=$(sed -n 's/^# TOTAL: *//p' "$log" | tail -n 1)
echo "# unit tests at build time: ${tests:-none} (all must pass for the build to pass)"

deb=$(cd "$root/build" && ls tgsidecar_*_*.deb)
changes=$(cd "$root/build" && ls tgsidecar_*_*.changes)
if command -v lintian >/dev/null 2>&1; then
	s=0
	out=$(lintian --fail-on error -I "$root/build/$changes" 2>&1) || s=$?
	ok "$s" "lintian --fail-on error $changes"
	printf '%s\n' "$out" | grep -v '^$' | sed 's/^/# /'
	printf '%s\n' "$out" >>"$log"
fi

step "apt-get install ./$deb" "apt-get install -y ../$deb"
[ "$s" = 0 ] || exit 1
vers=$(sed -n '1s/^tgsidecar (\([^-)]*\).*/\1/p' "$root/build/tgsidecar/debian/changelog")
step "tgsidecar -V prints $vers" "tgsidecar -V | grep -F '$vers'"
conf=/etc/tgsidecar/tgsidecar.conf
step "tgsidecar -t -c $conf: configuration OK" \
    "tgsidecar -t -c $conf 2>&1 | grep -F 'configuration OK'"
step "$conf is a conffile" \
    "dpkg-query -W -f='\${Conffiles}' tgsidecar | grep -q '^ $conf '"
step "the unit checks and starts with $conf" \
    "grep -qx 'ExecStartPre=/usr/bin/tgsidecar -t -c $conf' /lib/systemd/system/tgsidecar.service &&
     grep -qx 'ExecStart=/usr/bin/tgsidecar -c $conf' /lib/systemd/system/tgsidecar.service"
step "the man pages name $conf" \
    "zgrep -qF '$conf' /usr/share/man/man8/tgsidecar.8.gz &&
     zgrep -qF '$conf' /usr/share/man/man5/tgsidecar.conf.5.gz"
step "tgsidecar-bot is installed with its man page" \
    "tgsidecar-bot -h >/dev/null 2>&1; test -x /usr/bin/tgsidecar-bot &&
     test -f /usr/share/man/man1/tgsidecar-bot.1.gz"
step "the service is enabled on install" \
    "test -L /etc/systemd/system/multi-user.target.wants/tgsidecar.service"

# The installed daemon with the installed config answers /healthz, in a
# network namespace of its own so it cannot meet the host's port 8081.
if command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1; then
	s=0
	unshare -n sh -c '
		ip link set lo up || exit 1
		chroot "$1" /usr/bin/tgsidecar -c /etc/tgsidecar/tgsidecar.conf \
		    >/dev/null 2>&1 &
		pid=$!
		i=0
		st=1
		while [ $i -lt 300 ]; do
			if chroot "$1" /bin/bash -c "exec 3<>/dev/tcp/127.0.0.1/8081 &&
			    printf \"GET /healthz HTTP/1.0\r\n\r\n\" >&3 &&
			    head -n 1 <&3" 2>/dev/null | grep -q " 200 "; then
				st=0
				break
			fi
			sleep 0.1
			i=$((i + 1))
		done
		kill -TERM $pid
		wait $pid || st=1
		exit $st
	' sh "$root" >>"$log" 2>&1 || s=$?
	ok "$s" "the installed daemon answers GET /healthz 200 and exits 0 on SIGTERM"
fi

[ "$failed" = 0 ]
