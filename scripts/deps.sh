#!/bin/sh
# Install the Debian packages that building and testing Bastion need, when
# they are missing. Non-interactive; safe to run again. Needs root (or sudo).
set -eu

PACKAGES="build-essential cmake pkg-config clang libclang-rt-14-dev
libinih-dev libjansson-dev libsqlite3-dev sqlite3 libssl-dev libpq-dev postgresql
sip-tester sipsak sipvicious python3 python3-pytest testssl.sh strace nftables libxml2-utils
prometheus rsyslog rsyslog-gnutls baresip-core linphone-cli"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
