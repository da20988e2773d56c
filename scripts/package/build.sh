#!/usr/bin/env bash
# Build OpenWrt packages without the OpenWrt SDK.
#
#   scripts/package/build.sh [--no-build] TARGET...
#
# TARGET is x86_64, aarch64, armv7 or mipsel (a static musl nftoffload and
# dist/nft-offload_<version>_<openwrt-arch>.ipk), or luci
# (dist/luci-app-nftoffload_<version>_all.ipk, when luci-app/htdocs exists).
# --no-build packages the binaries already in target/ (for re-packaging).
# Each target's build time and binary size are printed and appended to
# dist/build-report.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/package/lib.sh

build=1
if [ "${1:-}" = "--no-build" ]; then build=0; shift; fi
[ $# -gt 0 ] || { echo "usage: $0 [--no-build] TARGET..." >&2; exit 2; }

version="$(pkg_version)"
release="$(pkg_release)"
full_version="$version-$release"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
mkdir -p "$DIST"

ipk_nft_offload() { # TARGET BINARY
	local arch stage
	arch="$(target_owrt_arch "$1")"
	stage="$(mktemp -d)"
	install -d -m 0755 "$stage/usr/sbin" "$stage/etc/init.d" "$stage/etc/config" \
		"$stage/etc/uci-defaults" "$stage/usr/share/acl.d"
	install -m 0755 "$2" "$stage/usr/sbin/nftoffload"
	install -m 0755 files/etc/init.d/nftoffload "$stage/etc/init.d/nftoffload"
	# /etc/config files are 0600 in OpenWrt packages (INSTALL_CONF).
	install -m 0600 files/etc/config/nftoffload "$stage/etc/config/nftoffload"
	install -m 0755 files/etc/uci-defaults/80_nftoffload "$stage/etc/uci-defaults/80_nftoffload"
	# ubusd ignores ACL files that are group/other-writable or executable.
	install -m 0644 files/usr/share/acl.d/nftoffload.json "$stage/usr/share/acl.d/nftoffload.json"
	python3 scripts/package/mkipk.py --root "$stage" --out "$DIST" \
		--control "Package=nft-offload" \
		--control "Version=$full_version" \
		--control "Depends=$NFT_DEPENDS" \
		--control "Source=openwrt/nft-offload" \
		--control "SourceName=nft-offload" \
		--control "License=GPL-2.0-only" \
		--control "Section=net" \
		--control "SourceDateEpoch=$SOURCE_DATE_EPOCH" \
		--control "Architecture=$arch" \
		--control "Description=$NFT_DESCRIPTION" \
		--conffile /etc/config/nftoffload \
		--postinst scripts/package/nft-offload.postinst \
		--prerm scripts/package/nft-offload.prerm \
		--postrm scripts/package/nft-offload.postrm
	rm -rf "$stage"
}

ipk_luci() {
	local stage
	if [ ! -d luci-app/htdocs ]; then
		echo "luci: luci-app/htdocs not present, skipped"
		return 0
	fi
	stage="$(mktemp -d)"
	mkdir -p "$stage/www"
	cp -R luci-app/htdocs/. "$stage/www/"
	[ ! -d luci-app/root ] || cp -R luci-app/root/. "$stage/"
	# Normalise modes: executables 0755, the rest 0644, directories 0755.
	find "$stage" -type d -exec chmod 0755 {} +
	find "$stage" -type f -perm /111 -exec chmod 0755 {} +
	find "$stage" -type f ! -perm /111 -exec chmod 0644 {} +
	python3 scripts/package/mkipk.py --root "$stage" --out "$DIST" \
		--control "Package=luci-app-nftoffload" \
		--control "Version=$full_version" \
		--control "Depends=luci-base, nft-offload" \
		--control "Source=openwrt/luci-app-nftoffload" \
		--control "SourceName=luci-app-nftoffload" \
		--control "License=GPL-2.0-only" \
		--control "Section=luci" \
		--control "SourceDateEpoch=$SOURCE_DATE_EPOCH" \
		--control "Architecture=all" \
		--control "Description=LuCI page for nft-offload: per-zone flow offloading" \
		--postinst scripts/package/luci.postinst
	rm -rf "$stage"
}

for t in "$@"; do
	if [ "$t" = luci ]; then
		ipk_luci
		continue
	fi
	target_triple "$t" >/dev/null || exit 2
	bin="${CARGO_TARGET_DIR:-target}/$(target_triple "$t")/release/nftoffload"
	if [ "$build" = 1 ]; then
		start=$(date +%s)
		build_target "$t"
		secs=$(( $(date +%s) - start ))
	else
		secs="-"
	fi
	check_static "$bin"
	size=$(stat -c %s "$bin")
	ipk="$(ipk_nft_offload "$t" "$bin")"
	line="$t: build ${secs}s, binary $size bytes ($(( (size + 1023) / 1024 )) KiB), $(basename "$ipk") $(stat -c %s "$ipk") bytes"
	echo "$line"
	echo "$line" >> "$DIST/build-report.txt"
done
