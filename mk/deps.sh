#!/bin/sh
# Install every Debian package rrvm's build, tests, demo and benchmarks need,
# and make lwIP's Debian source package available. Idempotent and quiet when
# there is nothing to do; run as root (apt-get).
set -eu

PACKAGES="build-essential clang llvm lld libclang-rt-14-dev pkg-config dpkg-dev
libpcap-dev libnet1-dev libxdp-dev libbpf-dev libcmocka-dev liblz4-dev libzstd-dev
libxxhash-dev
redis-tools redis-server wrk curl iputils-ping iproute2 tcpdump tshark bridge-utils
python3 python3-matplotlib hping3 socat netcat-openbsd jq ethtool"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

# lwIP is built from Debian's source package, which needs a deb-src entry.
SRCLIST=/etc/apt/sources.list.d/rrvm-deb-src.sources
need_src_entry=0
if ! grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	need_src_entry=1
fi

if [ -z "$missing" ] && [ "$need_src_entry" = 0 ]; then
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing; run 'make deps' as root" >&2
	exit 1
fi

if [ "$need_src_entry" = 1 ]; then
	echo "deps: adding a deb-src entry for bookworm ($SRCLIST)"
	cat >"$SRCLIST" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

echo "deps: installing:${missing:- (none; refreshing package lists for deb-src)}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
if [ -n "$missing" ]; then
	# tshark asks whether non-root users may capture; answer no.
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
	apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
echo "deps: done"
