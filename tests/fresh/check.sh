#!/bin/bash
# SPDX-License-Identifier: ISC
# tests/fresh/check.sh (make fresh-check): prove the README's test command on
# a bare Debian 12. It builds a minbase bookworm chroot with debootstrap,
# installs only git and ca-certificates there, clones this repository's HEAD
# (the committed tree, not the work tree) into it, runs the command that
# follows "Build and pass the whole test suite" in README.md exactly as
# written, and prints the TAP totals and the wall time. Needs root,
# debootstrap and about 4 GB in FRESH_WORKDIR's file system. Slow (the whole
# suite, memcheck and fuzz included): not part of check-all.
# "check.sh --print-command" only prints the command it would run.
#
# Everything runs in a private mount and PID namespace (unshare), so no
# mount is ever visible outside it, and every process left in the chroot
# dies with it; the mounts are also undone, and checked with findmnt, before
# the chroot is removed, on every exit path.
#
# Environment (all optional; the defaults are a plain Debian machine):
#   FRESH_WORKDIR       where the chroot goes (default: a new
#                       /var/tmp/tgsidecar-fresh.XXXXXX, removed at the end)
#   FRESH_KEEP=1        keep the chroot and logs after the run
#   FRESH_BASE=FILE     a tarball of the bare debootstrap result: unpacked
#                       when FILE exists, else written after debootstrap, so
#                       later runs skip it (default: debootstrap every time)
#   FRESH_MIRROR=URL    the Debian mirror for debootstrap and the chroot's
#                       apt (default: http://deb.debian.org/debian)
#   FRESH_EXTRA_CA_DIR=DIR  extra trusted CA certificates (*.crt), added in
#                       the chroot with update-ca-certificates after git and
#                       ca-certificates and before the README command: the
#                       local trust a user's machine would have, e.g. for a
#                       TLS-inspecting corporate proxy
#                       (FRESH_EXTRA_CA_DIR=/usr/local/share/ca-certificates)
#   http_proxy, https_proxy, no_proxy (and upper-case forms),
#   NODE_EXTRA_CA_CERTS  passed into the chroot when set, as a user's shell
#                       would have them

# shellcheck disable=SC2317 # cleanup, fwd and chroot_kill run from traps
set -eu

die() { echo "fresh-check: $*" >&2; exit 1; }

top=$(cd "$(dirname "$0")/../.." && pwd)

# As root, in a work tree that a user owns: git would call it dubious.
hgit() { git -c safe.directory='*' "$@"; }
readme=$top/README.md

# The README's second command: the first indented line after the sentence
# that introduces it.
readme_command() {
	awk '
	    /^Build and pass the whole test suite/ { found = 1; next }
	    found && /^    [^ ]/ { sub(/^    /, ""); print; exit }
	    found && /^#/ { exit }
	' "$readme"
}

# ------------------------------------------------------------ outside
if [ -z "${FRESH_INSIDE:-}" ]; then
	[ -r "$readme" ] || die "cannot read $readme"
	cmd=$(readme_command)
	[ -n "$cmd" ] || die "README.md: no indented command after" \
	    "\"Build and pass the whole test suite\"; has the README changed?"
	if [ "${1:-}" = --print-command ]; then
		printf '%s\n' "$cmd"
		exit 0
	fi
	[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount):" \
	    "run it as root, e.g. su -c 'make fresh-check'"
	command -v debootstrap >/dev/null ||
	    die "debootstrap not found: apt-get install debootstrap"
	command -v unshare >/dev/null || die "unshare (util-linux) not found"
	hgit -C "$top" rev-parse --verify -q HEAD >/dev/null ||
	    die "$top is not a git work tree with a commit: nothing to clone"
	[ -z "$(hgit -C "$top" status --porcelain --untracked-files=no)" ] ||
	    echo "fresh-check: note: uncommitted changes are not tested" \
	        "(it clones HEAD)" >&2
	export FRESH_INSIDE=1 FRESH_COMMAND="$cmd"
	# unshare --fork ignores SIGINT and SIGTERM, so pass them on to the
	# script inside, whose trap cleans up. If it dies anyway, its
	# namespaces, their mounts and processes go with it. A command run
	# with & starts with SIGINT ignored, which bash could not trap: env
	# restores it.
	env --default-signal=INT,QUIT \
	    unshare --mount --pid --fork --mount-proc --propagation private \
	    --kill-child=SIGTERM bash "$0" "$@" &
	upid=$!
	fwd() {
		# shellcheck disable=SC2013 # a list of pids
		for c in $(cat "/proc/$upid/task/$upid/children" 2>/dev/null); do
			kill -s "$1" "$c" 2>/dev/null
		done
	}
	trap 'fwd TERM' TERM
	trap 'fwd INT' INT
	trap 'fwd HUP' HUP
	while :; do
		st=0
		wait "$upid" || st=$?	# a trapped signal ends the wait too
		kill -0 "$upid" 2>/dev/null || exit "$st"
	done
fi

# ------------------------------------------------------------ inside
t_start=$(date +%s)
mirror=${FRESH_MIRROR:-http://deb.debian.org/debian}
if [ -n "${FRESH_WORKDIR:-}" ]; then
	work=$FRESH_WORKDIR
	mkdir -p "$work"
	[ -z "$(ls -A "$work")" ] || die "FRESH_WORKDIR $work is not empty"
else
	work=$(mktemp -d /var/tmp/tgsidecar-fresh.XXXXXX)
fi
work=$(cd "$work" && pwd -P)	# as findmnt names its mounts
root=$work/root
mkdir -p "$root"

# Undo every mount under the chroot, innermost first; remove the chroot
# only when findmnt shows nothing mounted under it any more.
cleanup() {
	rc=$?
	# Once started, the cleanup runs to its end.
	trap - EXIT
	trap '' INT TERM HUP
	set +e
	for p in $bg_pid $tail_pid; do
		kill "$p" 2>/dev/null
	done
	chroot_kill
	findmnt -rn -o TARGET | grep -F "$root/" | sort -r |
	    while read -r m; do umount -l "$m" || umount -f "$m"; done
	if findmnt -rn -o TARGET | grep -qF "$root/"; then
		echo "fresh-check: still mounted under $root; not removing it" >&2
		findmnt -rn -o TARGET | grep -F "$root/" >&2
		rc=1
	elif [ -n "${FRESH_KEEP:-}" ]; then
		echo "fresh-check: kept $work"
	else
		rm -rf --one-file-system "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "fresh-check: interrupted" >&2; exit 130' INT TERM HUP

# Long steps run in the background, so that a signal's trap runs at once
# instead of after the step.
bg_pid="" tail_pid=""
run_bg() {
	"$@" &
	bg_pid=$!
	wait "$bg_pid"
}

# Every process whose root is the chroot (daemons a failing test left),
# by pid. We are PID 1 of our own namespace (and /proc is its own), so no
# other process is seen; whatever is left dies with us.
chroot_kill() {
	for sig in TERM KILL; do
		pids=
		for p in /proc/[0-9]*; do
			[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] &&
			    pids="$pids ${p#/proc/}"
		done
		[ -n "$pids" ] || return 0
		# shellcheck disable=SC2086
		kill -s "$sig" $pids 2>/dev/null
		sleep 2
	done
}

step() { printf '\n==> %s (%ds)\n' "$*" $(($(date +%s) - t_start)); }

# ---- the bare system
if [ -n "${FRESH_BASE:-}" ] && [ -f "$FRESH_BASE" ]; then
	step "unpacking the cached base $FRESH_BASE"
	run_bg tar -C "$root" -xpzf "$FRESH_BASE"
else
	step "debootstrap --variant=minbase bookworm ($mirror)"
	run_bg debootstrap --variant=minbase bookworm "$root" "$mirror"
	if [ -n "${FRESH_BASE:-}" ]; then
		tar -C "$root" -cpzf "$FRESH_BASE.tmp" . &&
		    mv "$FRESH_BASE.tmp" "$FRESH_BASE"
	fi
fi

mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount -t tmpfs -o mode=1777 shm "$root/dev/shm"
mount -t tmpfs -o mode=755 run "$root/run"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"

# The chroot gets a plain environment, plus the proxy settings a user's
# shell would carry.
envs=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    HOME=/root LANG=C.UTF-8 TERM=dumb)
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY \
    NODE_EXTRA_CA_CERTS; do
	[ -n "${!v:-}" ] && envs+=("$v=${!v}")
done
in_chroot() { chroot "$root" /usr/bin/env -i "${envs[@]}" "$@"; }

step "apt-get install git ca-certificates (and nothing else)"
run_bg in_chroot sh -c 'apt-get update -q &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends git ca-certificates'

if [ -n "${FRESH_EXTRA_CA_DIR:-}" ]; then
	step "adding the local CA certificates from $FRESH_EXTRA_CA_DIR"
	n=0
	for c in "$FRESH_EXTRA_CA_DIR"/*.crt; do
		[ -f "$c" ] || continue
		cp "$c" "$root/usr/local/share/ca-certificates/"
		n=$((n + 1))
	done
	[ "$n" -gt 0 ] || die "FRESH_EXTRA_CA_DIR: no *.crt in $FRESH_EXTRA_CA_DIR"
	in_chroot update-ca-certificates
fi

head=$(hgit -C "$top" rev-parse HEAD)
step "cloning HEAD (${head:0:7})"
hgit clone -q --no-checkout \
    --upload-pack="git -c safe.directory='*' upload-pack" \
    "$top" "$root/root/tgsidecar"
git -C "$root/root/tgsidecar" checkout -q -B fresh-check "$head"

step "running the README's command: $FRESH_COMMAND"
t_cmd=$(date +%s)
: >"$work/run.log"
tail -n +1 -f "$work/run.log" &
tail_pid=$!
set +e
run_bg in_chroot /bin/bash -c "cd /root/tgsidecar && $FRESH_COMMAND" \
    >>"$work/run.log" 2>&1 </dev/null
status=$?
set -e
t_end=$(date +%s)
sleep 1
kill "$tail_pid" 2>/dev/null
wait "$tail_pid" 2>/dev/null || true

if [ "$status" -ne 0 ]; then
	echo
	echo "==> failed assertions"
	grep -l -E '^not ok|^Bail out' "$root"/root/tgsidecar/tests/*/*.log \
	    2>/dev/null | while read -r f; do
		echo "--- ${f#"$root"}"
		grep -E '^not ok|^Bail out' "$f" | head -20
	done
fi

echo
echo "==> fresh-check results (HEAD ${head:0:7})"
echo "command: $FRESH_COMMAND"
echo "exit status: $status"
# The totals of every automake test run, as printed: make check, then
# memcheck's ASan make check (its valgrind part and fuzz print a verdict).
echo "TAP totals (make check, then make check under ASan/UBSan):"
sed 's/\x1b\[[0-9;]*m//g' "$work/run.log" | awk '
    /^# TOTAL:/ { if (t != "") print t; t = "  " $0; next }
    /^# (PASS|SKIP|XFAIL|FAIL|XPASS|ERROR):/ { sub(/: +/, ": "); t = t " " $0 }
    END { if (t != "") print t; else print "  none: the suite did not run" }'
grep -E '^memcheck: ((asan|valgrind): (PASS|FAIL)|all passed|failed)|^== fuzz: |^check-all: ' \
    "$work/run.log" | sed 's/^/  /'
echo "wall time: command $((t_end - t_cmd)) s, all $((t_end - t_start)) s"
exit "$status"
