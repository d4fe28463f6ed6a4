#!/bin/sh
# Fetch lwIP's Debian source package and unpack it into DIR (default
# build/lwip). lwIP is a dependency, never committed. Idempotent.
set -eu
DIR=${1:-build/lwip}
[ -f "$DIR/.unpacked" ] && exit 0
if ! grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	echo "lwip: no deb-src entry for apt; run 'make deps' (as root) first" >&2
	exit 1
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "lwip: fetching Debian source package into $DIR"
(cd "$WORK" && apt-get source --download-only lwip >/dev/null 2>&1) || {
	apt-get update -q >/dev/null 2>&1 || true
	(cd "$WORK" && apt-get source --download-only lwip >/dev/null 2>&1) || {
		echo "lwip: 'apt-get source lwip' failed; is the Debian archive reachable?" >&2
		exit 1
	}
}
rm -rf "$DIR"
mkdir -p "$(dirname "$DIR")"
(cd "$WORK" && dpkg-source --no-check -x lwip_*.dsc src >/dev/null)
mv "$WORK/src" "$DIR"
touch "$DIR/.unpacked"
