#!/bin/sh
# SPDX-License-Identifier: ISC
# Install what tgsidecar needs on Debian: the build dependencies, and with
# --test also the real proxies and tools the test suite starts.
set -eu

BUILD="build-essential autoconf automake pkg-config ca-certificates
 libevent-dev libcurl4-openssl-dev libssl-dev libhttp-parser-dev libjansson-dev
 libsystemd-dev duktape-dev"
TEST="python3 openssl curl squid tinyproxy microsocks dante-server
 python3-python-telegram-bot nodejs golang-go golang-gopkg-telebot.v3-dev
 python3-yaml systemd procps groff-base mandoc man-db nginx-light gnuplot-nox valgrind
 clang libclang-rt-14-dev
 krb5-kdc krb5-admin-server krb5-user"
TEST="$TEST docker-compose" # Compose v1's check of contrib/docker-compose.yml
TEST="$TEST openjdk-17-jdk-headless" # t_h2c.py: the JDK's HttpClient offers h2c
TEST="$TEST debootstrap" # make cross-check's chroot (CI runs it)
TEST="$TEST prometheus" # t_dashboard.py: the dashboard and alert rules
TEST="$TEST openssh-client openssh-server" # t_quickstart.py's ssh -D

pkgs=$BUILD
[ "${1:-}" = "--test" ] && pkgs="$BUILD $TEST"
# Some nodejs builds ship npm inside and conflict with Debian's npm package.
[ "${1:-}" = "--test" ] && ! command -v npm >/dev/null 2>&1 && pkgs="$pkgs npm"

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "$0: installing packages needs root, and sudo is not" \
		    "installed; run as root: su -c '$0${1:+ $1}'" >&2
		exit 1
	fi
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $pkgs
