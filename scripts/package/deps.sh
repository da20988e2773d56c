#!/usr/bin/env bash
# Install what `make package` needs for the given targets (default: all).
# Idempotent and quick when everything is there:
# - rustup musl std for x86_64/aarch64;
# - rust-src (nightly if installed, else the default toolchain), and a venv
#   with the PyPI packages ziglang and cargo-zigbuild, for armv7/mipsel;
# - by apt: qemu-user-static (unit tests per target), file (static check),
#   strace and busybox (tests/package: install into a staging root, ash).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/package/lib.sh

[ $# -gt 0 ] || set -- x86_64 aarch64 armv7 mipsel

need_std=""
need_zig=0
for t in "$@"; do
	[ "$t" = luci ] && continue
	[ "$(target_method "$t")" = rustup ] || need_zig=1
	if [ "$(target_method "$t")" = rustup ] || [ "$(target_test_method "$t")" = rustup ]; then
		need_std="$need_std $(target_triple "$t")"
	fi
done

if [ -n "$need_std" ]; then
	installed="$(rustup target list --installed)"
	missing=""
	for triple in $need_std; do
		grep -qx "$triple" <<<"$installed" || missing="$missing $triple"
	done
	# shellcheck disable=SC2086
	[ -z "$missing" ] || rustup target add $missing
fi

if [ "$need_zig" = 1 ]; then
	if rustup toolchain list | grep -q '^nightly'; then tc=nightly; else tc="$(rustup show active-toolchain | cut -d' ' -f1)"; fi
	rustup component list --toolchain "$tc" --installed | grep -q '^rust-src' ||
		rustup component add rust-src --toolchain "$tc"
	if [ ! -x "$ZIG_VENV/bin/cargo-zigbuild" ] || ! "$ZIG_VENV/bin/python" -c 'import ziglang' 2>/dev/null; then
		python3 -m venv "$ZIG_VENV"
		"$ZIG_VENV/bin/pip" install --quiet --disable-pip-version-check ziglang cargo-zigbuild
	fi
fi

apt_missing=""
for tool in file strace busybox; do
	command -v "$tool" >/dev/null || apt_missing="$apt_missing $tool"
done
for t in "$@"; do
	q="$(target_qemu "$t" 2>/dev/null || true)"
	if [ -n "$q" ] && ! command -v "$q" >/dev/null; then
		apt_missing="$apt_missing qemu-user-static"
		break
	fi
done
if [ -n "$apt_missing" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get update -qq
		# shellcheck disable=SC2086
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $apt_missing
	else
		echo "package-deps: please install:$apt_missing" >&2
		exit 1
	fi
fi
