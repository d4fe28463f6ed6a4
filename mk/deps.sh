#!/bin/sh
# Install every Debian package rrvm's build, tests, demo and benchmarks need,
# and make lwIP's Debian source package available. Idempotent and quiet when
# there is nothing to do; run as root (apt-get).
set -eu

PACKAGES="build-essential clang llvm lld libclang-rt-14-dev pkg-config dpkg-dev
libpcap-dev libnet1-dev libxdp-dev libbpf-dev libcmocka-dev liblz4-dev libzstd-dev
libxxhash-dev
redis-tools redis-server wrk curl iputils-ping iproute2 tcpdump tshark bridge-utils
python3 python3-matplotlib hping3 socat netcat-openbsd jq ethtool libsodium-dev"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

# lwIP is built from Debian's source package, which needs a deb-src entry.
# It is derived from the machine's own apt configuration (whatever mirror,
# proxy or keyring it uses): apt lists its configured 'deb' index targets
# and the entry each came from; every one for this release gets a 'deb-src'
# twin with the same URI, components and Signed-By. Nothing is written when
# some other entry already provides the sources.
SRCLIST=/etc/apt/sources.list.d/rrvm-deb-src.sources
CODENAME=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")

# Signed-By of the entry apt names as FILE:N (N: line of a one-line .list
# entry, or stanza of a deb822 .sources file); the field as written,
# continuation lines included. Empty when the entry has none.
signed_by_of() {
	file=${1%:*}
	n=${1##*:}
	case "$file" in
	*.sources)
		awk -v want="$n" '
			/^#/ { next }
			/^[ \t]*$/ { if (seen) { stanza++; seen = 0 }; grab = 0; next }
			{ if (!seen) { seen = 1; if (!stanza) stanza = 1 } }
			stanza == want && tolower($0) ~ /^signed-by:/ { grab = 1; print; next }
			stanza == want && grab && /^[ \t]/ { print; next }
			{ grab = 0 }
		' "$file"
		;;
	*)
		sed -n "${n}p" "$file" |
			sed -n 's/^[^[]*\[\([^]]*\)\].*$/\1/p' | tr ' \t' '\n\n' |
			sed -n 's/^signed-by=\(.*\)$/Signed-By: \1/Ip'
		;;
	esac
}

# The deb-src stanzas this machine should have (deterministic: the same
# configuration gives the same text, so reruns change nothing).
derive_src_entry() {
	apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT) $(SOURCESENTRY)' \
		'Target-Of: deb' 2>/dev/null | awk -v c="$CODENAME" '$2 == c' | sort -u |
		while read -r uri _release comp entry; do
			echo "$uri $entry $comp"
		done | awk '
			{ key = $1 " " $2; if (!(key in comps)) order[n++] = key
			  comps[key] = (key in comps) ? comps[key] " " $3 : $3 }
			END { for (i = 0; i < n; i++) print order[i] " " comps[order[i]] }
		' | while read -r uri entry comps; do
			echo "Types: deb-src"
			echo "URIs: $uri"
			echo "Suites: $CODENAME"
			echo "Components: $comps"
			signed_by_of "$entry"
			echo
		done
}

has_other_src_entry() {
	apt-get indextargets --format '$(RELEASE) $(SOURCESENTRY)' 'Target-Of: deb-src' \
		2>/dev/null | awk -v c="$CODENAME" -v mine="$SRCLIST" \
		'$1 == c && index($2, mine ":") != 1 { found = 1 } END { exit !found }'
}

need_src_entry=0
src_text=""
if ! has_other_src_entry; then
	src_text=$(derive_src_entry)
	if [ -z "$src_text" ]; then
		echo "deps: no apt 'deb' entry for $CODENAME found (apt-get indextargets);" \
			"add a deb-src entry for your mirror by hand" >&2
		exit 1
	fi
	if [ ! -f "$SRCLIST" ] || [ "$(cat "$SRCLIST")" != "$src_text" ]; then
		need_src_entry=1
	fi
fi

if [ -z "$missing" ] && [ "$need_src_entry" = 0 ]; then
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing; run 'make deps' as root" >&2
	exit 1
fi

if [ "$need_src_entry" = 1 ]; then
	echo "deps: writing the deb-src entry for $CODENAME derived from the apt sources ($SRCLIST)"
	printf '%s\n' "$src_text" >"$SRCLIST"
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
