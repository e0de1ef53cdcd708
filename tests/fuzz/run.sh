#!/bin/sh
# SPDX-License-Identifier: ISC
# Build the libFuzzer harnesses with clang, then run each one for a while.
#
# usage: tests/fuzz/run.sh [SECONDS [HARNESS ...]]
#
#   SECONDS   per harness (default 30); 0 only builds
#   HARNESS   route, http, config, proxy, pollarg, reply (default: all six)
#
# Environment: FUZZ_CC (clang), FUZZ_BUILDDIR (tests/fuzz/build),
# FUZZ_CONFIG_H_DIR (where config.h is; the top of the tree by default,
# else a stand-in is made), FUZZ_FLAGS (extra libFuzzer flags).
#
# Memory is bounded: more than 2 GiB of RSS, or one allocation over
# 256 MiB, is a finding (fuzz_http checks its per-connection buffers too).
#
# Each harness runs on its own copy of the seed corpus in the build
# directory, which grows there and never in tests/fuzz/corpus. Crashes,
# leaks and timeouts are left as $FUZZ_BUILDDIR/artifacts/NAME-*, and
# make the script exit non-zero.
set -u

secs=${1:-30}
[ $# -gt 0 ] && shift
case $secs in
''|*[!0-9]*) echo "run.sh: SECONDS must be a number" >&2; exit 2 ;;
esac
names=${*:-route http config proxy pollarg reply}

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${FUZZ_BUILDDIR:-$here/build}
cc=${FUZZ_CC:-clang}
cfgdir=${FUZZ_CONFIG_H_DIR:-$top}

mkdir -p "$build/obj" "$build/corpus" "$build/artifacts" || exit 2
build=$(cd "$build" && pwd)

if [ ! -f "$cfgdir/config.h" ]; then
	cfgdir=$build
	printf '#define PACKAGE_VERSION "fuzz"\n' > "$build/config.h"
fi

pc_cflags=$(pkg-config --cflags libevent libcurl openssl duktape jansson) || exit 2
pc_libs=$(pkg-config --libs libevent libcurl openssl duktape jansson) || exit 2

san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cflags="-g -O1 -fno-omit-frame-pointer $san -Wall -Wextra -D_GNU_SOURCE \
    -I$cfgdir -I$top/src -I$top/include $pc_cflags"

# The daemon sources each harness links: never upstream.c, multi.c,
# tls.c or server.c; fuzz_http.c stands in for the parts it needs, and
# fuzz_reply.c has conn.c's functions from tests/unit/fakeconn.c.
cfg="config config_keys config_set config_cli proxy envopt pac pac_fetch pac_run"
srcs_of() {
	case $1 in
	route)	echo "route" ;;
	pollarg)	echo "pollarg" ;;
	proxy)	echo "proxy envopt log util route" ;;
	config)	echo "$cfg acl log util route" ;;
	http)	echo "client client_local access admit share reply header headsize route apierror acl longpoll pollarg $cfg log util"
		# Newer parts of the request path, where the tree has them.
		for s in health metrics failover procstat flood floodchat floodpace; do
			[ -f "$top/src/$s.c" ] && echo "$s"
		done ;;
	reply)	echo "upstream_h1 upstream_head upstream_req reply longpoll pollarg flood floodchat floodpace trim header headsize apierror metrics acl $cfg log util route" ;;
	esac
}

# Test sources a harness links too (from tests/unit).
extras_of() {
	case $1 in
	reply)	echo "fakeconn replyrun" ;;
	esac
}

# Objects are rebuilt every time: it takes seconds, and never goes stale.
build_one() {
	name=$1
	objs=
	for s in $(srcs_of "$name"); do
		o=$build/obj/$name-$s.o
		# shellcheck disable=SC2086
		$cc $cflags -fsanitize=fuzzer-no-link -c "$top/src/$s.c" \
		    -o "$o" || return 1
		objs="$objs $o"
	done
	for s in $(extras_of "$name"); do
		o=$build/obj/$name-t-$s.o
		# shellcheck disable=SC2086
		$cc $cflags -I"$top/tests/unit" -fsanitize=fuzzer-no-link \
		    -c "$top/tests/unit/$s.c" -o "$o" || return 1
		objs="$objs $o"
	done
	# shellcheck disable=SC2086
	$cc $cflags -I"$top/tests/unit" -fsanitize=fuzzer "$here/fuzz_$name.c" $objs \
	    -o "$build/fuzz_$name" $pc_libs -lhttp_parser
}

run_one() {
	name=$1
	corpus=$build/corpus/$name
	mkdir -p "$corpus"
	cp "$here/corpus/$name/"* "$corpus/" 2>/dev/null
	dict=
	[ -f "$here/$name.dict" ] && dict="-dict=$here/$name.dict"
	log=$build/$name.log
	echo "== fuzz_$name: ${secs}s, $(find "$corpus" -type f | wc -l) inputs"
	# shellcheck disable=SC2086
	(cd "$build" && ./fuzz_$name -max_total_time="$secs" -timeout=10 \
	    -rss_limit_mb=2048 -malloc_limit_mb=256 -print_final_stats=1 \
	    -artifact_prefix="$build/artifacts/$name-" $dict \
	    ${FUZZ_FLAGS:-} "$corpus") > "$log" 2>&1
	rc=$?
	grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -n 1
	grep -E '^stat::number_of_executed_units' "$log"
	if [ $rc -ne 0 ]; then
		echo "!! fuzz_$name failed (exit $rc); see $log" >&2
		grep -E -A 30 '^==[0-9]+==ERROR|runtime error|^SUMMARY' \
		    "$log" | head -n 60 >&2
		ls "$build/artifacts/$name-"* 2>/dev/null >&2
		return 1
	fi
	return 0
}

fail=0
for n in $names; do
	case $n in
	route|http|config|proxy|pollarg|reply) ;;
	*) echo "run.sh: unknown harness $n" >&2; exit 2 ;;
	esac
	echo "== building fuzz_$n"
	build_one "$n" || { echo "!! fuzz_$n: build failed" >&2; exit 2; }
done
[ "$secs" -eq 0 ] && exit 0
for n in $names; do
	run_one "$n" || fail=1
done
[ $fail -eq 0 ] && echo "== fuzz: all passed" || echo "== fuzz: FAILED" >&2
exit $fail
