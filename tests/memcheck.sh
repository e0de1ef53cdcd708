#!/bin/bash
# SPDX-License-Identifier: ISC
# Memory checks for tgsidecar (make memcheck).
#
#   tests/memcheck.sh [asan] [valgrind]     (default: both)
#
# asan      Copies the sources (git ls-files: tracked and new, not ignored)
#           into a temporary tree, builds them with AddressSanitizer and
#           UndefinedBehaviorSanitizer and runs the whole "make -j2 check"
#           there. A sanitizer report makes the daemon exit non-zero, which
#           the tests' "sidecar exits 0 on SIGTERM" checks catch; the
#           reports also go to files (log_path) that are grepped afterwards,
#           together with the test logs.
# valgrind  Builds a plain -g -O1 copy and runs t_errors.py, t_cli.py,
#           t_security.py, t_headers.py and tests/memcheck_proxies.py with the daemon
#           under valgrind memcheck (TGSIDECAR_WRAPPER, see
#           tests/lib/harness.py); any valgrind error, a definite or
#           indirect leak included, fails the run.
#
# Exits non-zero on any failure. Prints how long each part took.
# Keeps the work tree on failure (its path is printed); set
# MEMCHECK_KEEP=1 to keep it always. MEMCHECK_JOBS sets make -j (2).

set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
JOBS=${MEMCHECK_JOBS:-2}
PY=/usr/bin/python3
PARTS=("$@")
[ ${#PARTS[@]} -eq 0 ] && PARTS=(asan valgrind)
for p in "${PARTS[@]}"; do
	case $p in
	asan|valgrind) ;;
	*) echo "usage: $0 [asan] [valgrind]" >&2; exit 2 ;;
	esac
done

WORK=$(mktemp -d /tmp/tgsidecar-memcheck.XXXXXX)
chmod 755 "$WORK"
STATUS=1
cleanup() {
	if [ "$STATUS" -eq 0 ] && [ -z "${MEMCHECK_KEEP:-}" ]; then
		rm -rf "$WORK"
	else
		echo "memcheck: work tree kept in $WORK"
	fi
}
trap cleanup EXIT

say() { printf 'memcheck: %s\n' "$*"; }

# A configured-free copy of the sources: what git knows, minus ignored files.
# Outside git (an unpacked tarball), the tree must be unconfigured.
copy_tree() {
	mkdir -p "$1"
	if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		(cd "$SRC" && git ls-files -z --cached --others --exclude-standard |
		    while IFS= read -r -d '' f; do
			[ -e "$f" ] && printf '%s\0' "$f"
		    done | tar --null -T - -cf -) | tar -C "$1" -xf -
	elif [ -e "$SRC/config.status" ]; then
		say "$SRC is configured and not a git checkout: cannot copy it"
		return 1
	else
		tar -C "$SRC" -cf - . | tar -C "$1" -xf -
	fi
	# The JavaScript client tests' dependencies are ignored by git.
	if [ -d "$SRC/tests/clients/node_modules" ]; then
		ln -s "$SRC/tests/clients/node_modules" "$1/tests/clients/node_modules"
	fi
}

# Configure and build a copy in $1, its sources in $1-src (a VPATH build,
# so that contrib/docker/build.sh can still copy them); $2 CFLAGS, $3 LDFLAGS.
build_tree() {
	local dir=$1 cflags=$2 ldflags=$3
	cp -a "$WORK/src" "$dir-src"
	mkdir -p "$dir"
	(cd "$dir-src" && autoreconf -fi >"$dir/autoreconf.log" 2>&1) &&
	(cd "$dir" &&
	    "$dir-src/configure" CFLAGS="$cflags" LDFLAGS="$ldflags" \
	    >configure.out 2>&1 &&
	    make -j"$JOBS" >make.out 2>&1) || {
		say "build in $dir failed:"
		tail -n 40 "$dir"/configure.out "$dir"/make.out 2>/dev/null || true
		return 1
	}
}

declare -A TIMES
FAILED=()
SAN_PATTERN='ERROR: AddressSanitizer|runtime error|LeakSanitizer|ERROR: UndefinedBehaviorSanitizer'

run_asan() {
	local dir=$WORK/asan logs=$WORK/asan-reports t0 rc=0
	t0=$(date +%s)
	mkdir -p "$logs"
	chmod 1777 "$logs"	# the daemon may run as nobody (user = nobody)
	say "asan: building in $dir"
	build_tree "$dir" \
	    '-g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all' \
	    '-fsanitize=address,undefined' || return 1
	say "asan: build took $(( $(date +%s) - t0 )) s; make -j$JOBS check"
	(cd "$dir" &&
	    ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:log_path=$logs/asan" \
	    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan" \
	    LSAN_OPTIONS="log_path=$logs/lsan" \
	    make -j"$JOBS" check >check.out 2>&1) || rc=$?
	grep -E '^(FAIL|XPASS|ERROR):|^# (TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR):' \
	    "$dir/check.out" || true
	if [ $rc -ne 0 ]; then
		say "asan: make check failed (status $rc)"
		grep -q '^# TOTAL:' "$dir/check.out" || tail -n 15 "$dir/check.out"
		grep -l -E '^not ok|^Bail out' "$dir"/tests/*/*.log 2>/dev/null |
		    while read -r f; do
			echo "--- $f"; grep -E '^not ok' "$f" | head -20
		    done
	fi
	# Every file in $logs is a report; the test logs must not hold one.
	local f
	for f in "$logs"/* $(grep -rlE "$SAN_PATTERN" "$dir"/tests \
	    --include='*.log' 2>/dev/null || true); do
		[ -f "$f" ] || continue
		say "asan: sanitizer report in $f:"
		grep -E -A40 "$SAN_PATTERN" "$f" | head -60
		rc=1
	done
	TIMES[asan]=$(( $(date +%s) - t0 ))
	return $rc
}

VG_TESTS=(integration/t_errors.py integration/t_cli.py integration/t_security.py
    integration/t_headers.py memcheck_proxies.py)

run_valgrind() {
	local dir=$WORK/plain logs=$WORK/valgrind t0 t1 rc=0 test name st
	t0=$(date +%s)
	command -v valgrind >/dev/null || { say "valgrind: not installed"; return 1; }
	mkdir -p "$logs"
	chmod 1777 "$logs"
	say "valgrind: building in $dir"
	build_tree "$dir" '-g -O1' '' || return 1
	say "valgrind: build took $(( $(date +%s) - t0 )) s"
	export TGSIDECAR_WRAPPER="valgrind -q --error-exitcode=99 --leak-check=full \
--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
--num-callers=30 --vgdb=no --log-file=$logs/vg.%p.log"
	export TGSIDECAR_BIN=$dir/tgsidecar TESTS_SRCDIR=$dir-src/tests
	export PYTHONDONTWRITEBYTECODE=1
	for test in "${VG_TESTS[@]}"; do
		name=$(basename "$test" .py)
		t1=$(date +%s)
		st=0
		(cd "$dir" && timeout 1200 $PY "$dir-src/tests/$test" \
		    >"$logs/$name.tap" 2>&1) || st=$?
		TIMES[vg:$name]=$(( $(date +%s) - t1 ))
		local nok
		nok=$(grep -c '^not ok' "$logs/$name.tap" || true)
		say "valgrind: $name: exit $st, $(grep -c '^ok' "$logs/$name.tap" || true) ok, \
$nok not ok, ${TIMES[vg:$name]} s"
		if [ $st -ne 0 ]; then
			grep -E '^not ok|^# ' "$logs/$name.tap" | head -40
			rc=1
		fi
	done
	unset TGSIDECAR_WRAPPER
	local f
	for f in "$logs"/vg.*.log; do
		[ -s "$f" ] || continue
		say "valgrind: report in $f:"
		head -80 "$f"
		rc=1
	done
	TIMES[valgrind]=$(( $(date +%s) - t0 ))
	return $rc
}

# One snapshot of the sources for both builds: the tree may change meanwhile.
say "copying the sources to $WORK/src"
copy_tree "$WORK/src"
for p in "${PARTS[@]}"; do
	if "run_$p"; then
		say "$p: PASS"
	else
		say "$p: FAIL"
		FAILED+=("$p")
	fi
done

say "timings (s):"
for k in $(printf '%s\n' "${!TIMES[@]}" | sort); do
	printf '  %-22s %5d\n' "$k" "${TIMES[$k]}"
done
if [ ${#FAILED[@]} -eq 0 ]; then
	STATUS=0
	say "all passed"
else
	say "failed: ${FAILED[*]}"
fi
exit $STATUS
