#!/bin/sh
# SPDX-License-Identifier: ISC
# Install what tgsidecar needs on Debian: the build dependencies, and with
# --test also the real proxies and tools the test suite starts.
set -eu

BUILD="build-essential autoconf automake pkg-config ca-certificates
 libevent-dev libcurl4-openssl-dev libssl-dev libhttp-parser-dev libjansson-dev
 libsystemd-dev"
TEST="python3 openssl curl squid tinyproxy microsocks
 python3-python-telegram-bot nodejs
 python3-yaml systemd procps groff-base mandoc man-db nginx-light gnuplot-nox valgrind
 clang libclang-rt-14-dev"

pkgs=$BUILD
[ "${1:-}" = "--test" ] && pkgs="$BUILD $TEST"
# Some nodejs builds ship npm inside and conflict with Debian's npm package.
[ "${1:-}" = "--test" ] && ! command -v npm >/dev/null 2>&1 && pkgs="$pkgs npm"

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $pkgs
