#!/bin/sh
# SPDX-License-Identifier: ISC
# Build tgsidecar and install it into a staging directory: the whole
# build stage of contrib/docker/Dockerfile, and what
# tests/integration/t_packaging.py runs on the host.
#
#   contrib/docker/build.sh [DESTDIR]
#
# DESTDIR defaults to /out. The sources are those around this script (or
# $SRCDIR); they are copied to a scratch directory first, so a read-only
# tree (make distcheck) or one already built in place works too. When
# SRCDIR is the top of a git work tree, the files git knows are copied
# (tracked and untracked, not ignored ones, so no build products); else,
# when it is configured in place, the distribution's files (make distdir);
# otherwise the whole tree. configure is made by autoreconf when the copy
# has none.
#
# Environment: PREFIX (/usr), SYSCONFDIR (/etc), CONFIGURE_FLAGS (extra
# configure arguments, e.g. --with-systemdsystemunitdir=/lib/systemd/system),
# JOBS (parallel make jobs: the number of CPUs), KEEP_BUILD=1 to keep the
# scratch directory, INSTALL_TARGET (install-strip).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
SRCDIR=${SRCDIR:-$(cd "$here/../.." && pwd)}
DESTDIR=${1:-${DESTDIR:-/out}}
PREFIX=${PREFIX:-/usr}
SYSCONFDIR=${SYSCONFDIR:-/etc}
CONFIGURE_FLAGS=${CONFIGURE_FLAGS:-}
INSTALL_TARGET=${INSTALL_TARGET:-install-strip}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

# A make above us (make check) must not leak its flags or jobserver in.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES GNUMAKEFLAGS 2>/dev/null || :

case $DESTDIR in
/*) ;;
*) DESTDIR=$(pwd)/$DESTDIR ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/tgsidecar-build.XXXXXX")
cleanup() {
	if [ "${KEEP_BUILD:-0}" = 1 ]; then
		echo "build.sh: scratch directory kept: $work" >&2
	else
		chmod -R u+w "$work" 2>/dev/null || :
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

mkdir -p "$work/src" "$work/build"
top=
if command -v git >/dev/null 2>&1; then
	top=$(git -C "$SRCDIR" rev-parse --show-toplevel 2>/dev/null) || top=
fi
# The files git knows that exist (a deleted one is still "cached").
git_files() {
	git ls-files -z --cached --others --exclude-standard |
	    tr '\0' '\n' | while IFS= read -r f; do
		if [ -e "$f" ]; then printf '%s\n' "$f"; fi
	done
}
if [ -n "$top" ] && [ "$(cd "$top" && pwd -P)" = "$(cd "$SRCDIR" && pwd -P)" ]; then
	(cd "$SRCDIR" && git_files | tar -cf - -T -) | tar -C "$work/src" -xf -
elif [ -e "$SRCDIR/config.status" ]; then
	# Configured in place, and no git to tell the sources from the
	# build products: the distribution's file list does. (In a docker
	# build the top-level .dockerignore leaves the products out.)
	if ! make -C "$SRCDIR" distdir distdir="$work/src"; then
		echo "build.sh: 'make distdir' failed in $SRCDIR, which is" \
		    "configured in place; run 'make distclean' there" >&2
		exit 1
	fi
else
	# _build and _inst: make distcheck's, around a running "make check".
	tar -C "$SRCDIR" --exclude=.git --exclude=node_modules \
	    --exclude=./tests/fuzz/build --exclude=autom4te.cache \
	    --exclude=./_build --exclude=./_inst -cf - . |
	    tar -C "$work/src" -xf -
fi
# A read-only source tree gives read-only copies.
chmod -R u+w "$work/src"

cd "$work/src"
if [ ! -x configure ]; then
	echo "build.sh: autoreconf -fi"
	mkdir -p m4
	autoreconf -fi
fi

cd "$work/build"
# shellcheck disable=SC2086
"$work/src/configure" --prefix="$PREFIX" --sysconfdir="$SYSCONFDIR" \
    --localstatedir=/var $CONFIGURE_FLAGS
make -j"$JOBS"
make "$INSTALL_TARGET" DESTDIR="$DESTDIR"
echo "build.sh: installed into $DESTDIR"
