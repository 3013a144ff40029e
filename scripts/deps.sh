#!/bin/sh
# Install the Debian packages sl needs to build and test, if any are missing.
# Idempotent and quiet when everything is present; uses sudo when not root.
set -eu
PKGS="gcc make pkg-config libconfuse-dev libcurl4-openssl-dev libmicrohttpd-dev
libjansson-dev libsodium-dev bats bats-assert bats-support jq curl mandoc
iproute2 procps openssl valgrind strace python3
prometheus chromium tmux bash-completion logrotate"
# `make fuzz` alone needs clang (libFuzzer).
[ "${1:-}" = fuzz ] && PKGS="$PKGS clang"
missing=""
for p in $PKGS; do
	s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$s" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
