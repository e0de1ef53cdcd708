#!/bin/sh
# SPDX-License-Identifier: ISC
# The LOG_DRIVER of "make check": automake's tap-driver.sh, with the
# console lines of a test held until it ends and then printed in one piece
# under a lock, so that "make -j2 check" never splices two tests' lines.
# Passing assertions are in the test's .log only; the console shows every
# other result line (FAIL, SKIP, ERROR, ...) and then one line per test that
# names its .log when it failed. TAP_CONSOLE=all prints every line.
# Usage: tap-console.sh LOCKFILE DRIVER... --test-name T --log-file L
#        --trs-file R ... -- TEST...
lock=$1
shift
name='' log='' trs='' prev=''
for a in "$@"; do
	case $prev in
	--test-name) name=$a ;;
	--log-file) log=$a ;;
	--trs-file) trs=$a ;;
	esac
	[ "$a" = -- ] && break
	prev=$a
done

out=$(mktemp "${TMPDIR:-/tmp}/tap-console.XXXXXX") || exit 99
trap 'rm -f "$out"' EXIT
trap 'exit 130' INT TERM
"$@" >"$out"
st=$?

count() { grep -c "^:test-result: $1" "$trs" 2>/dev/null; }
summary() {
	result=$(sed -n 's/^:global-test-result: //p' "$trs" 2>/dev/null)
	n_pass=$(count PASS)
	n_skip=$(count SKIP)
	n_bad=$(($(count FAIL) + $(count XPASS) + $(count ERROR)))
	line="${result:-ERROR}: $name ($n_pass passed"
	[ "$n_skip" -eq 0 ] || line="$line, $n_skip skipped"
	[ "$n_bad" -eq 0 ] || line="$line, $n_bad failed"
	line="$line)"
	case $result in
	PASS|SKIP) ;;
	*) line="$line: see $log" ;;
	esac
	echo "$line"
}

show() {
	if [ "${TAP_CONSOLE:-}" = all ]; then
		cat "$out"
	else
		# With colours on, the result word is "ESC[0;32mPASSESC[m".
		esc=$(printf '\033')
		grep -v -E "^($esc\[[0-9;]*m)?PASS($esc\[m)?: " "$out"
	fi
	summary
}

if command -v flock >/dev/null 2>&1 && : >>"$lock" 2>/dev/null; then
	show | flock "$lock" cat
else
	show
fi
exit $st
