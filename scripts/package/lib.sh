# shellcheck shell=bash
# Shared by scripts/package/*.sh: the target table, versions and the cargo
# invocations for the static musl builds. Source it from the repo root.

DIST="${DIST:-dist}"
# Where package-deps puts the Python venv with ziglang and cargo-zigbuild.
ZIG_VENV="${ZIG_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/nft-offload/venv}"

# Keep in sync with openwrt/nft-offload/Makefile (tests/package checks it).
# The binary is static, so there is no libc dependency.
NFT_DEPENDS="kmod-nft-offload, kmod-nft-core, kmod-nf-conntrack-netlink"
NFT_DESCRIPTION="Per-zone nftables flow offloading for OpenWrt
nftoffload turns flow offloading (software or hardware) on and off per
firewall zone, next to fw4, and reports what the kernel really offloads.
It is controlled over ubus (object nftoffload), the CLI and LuCI."

pkg_version() { sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1; }
pkg_release() { sed -n 's/^PKG_RELEASE:=\(.*\)$/\1/p' openwrt/nft-offload/Makefile; }

target_triple() {
	case "$1" in
	x86_64) echo x86_64-unknown-linux-musl ;;
	aarch64) echo aarch64-unknown-linux-musl ;;
	armv7) echo armv7-unknown-linux-musleabihf ;;
	mipsel) echo mipsel-unknown-linux-musl ;;
	*) echo "unknown target '$1' (x86_64, aarch64, armv7, mipsel)" >&2; return 1 ;;
	esac
}

# OpenWrt package architecture the binary is labelled with.
target_owrt_arch() {
	case "$1" in
	x86_64) echo x86_64 ;;
	aarch64) echo aarch64_cortex-a53 ;;
	armv7) echo arm_cortex-a7_neon-vfpv4 ;;
	mipsel) echo mipsel_24kc ;;
	esac
}

target_qemu() {
	case "$1" in
	x86_64) echo "" ;;
	aarch64) echo qemu-aarch64-static ;;
	armv7) echo qemu-arm-static ;;
	mipsel) echo qemu-mipsel-static ;;
	esac
}

# How a target's release binary is built:
# "rustup": rustup's prebuilt musl std, linked by rust-lld (quick);
# "build-std": std compiled from rust-src with -Z build-std and its
# optimize_for_size feature, linked by zig through cargo-zigbuild. armv7 and
# mipsel have no prebuilt std; PACKAGE_BUILD_STD="x86_64 aarch64" builds
# those this way too, for a smaller binary (about a third smaller on aarch64)
# at the cost of a few minutes.
target_method() {
	case "$1" in
	armv7 | mipsel) echo build-std ;;
	*) case " ${PACKAGE_BUILD_STD:-} " in
		*" $1 "*) echo build-std ;;
		*) echo rustup ;;
		esac ;;
	esac
}

# Unit tests use the prebuilt std wherever there is one: a debug std built
# from source per target costs minutes more and tests the same code.
target_test_method() {
	case "$1" in
	armv7 | mipsel) echo build-std ;;
	*) echo rustup ;;
	esac
}

# Environment for the build-std targets: the venv's bin first on PATH (for
# cargo-zigbuild, which finds zig as `python -m ziglang`), and a toolchain that
# accepts -Z flags: nightly when installed, else RUSTC_BOOTSTRAP=1.
zig_env() {
	export PATH="$ZIG_VENV/bin:$PATH"
	if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
		export RUSTUP_TOOLCHAIN=nightly
	else
		export RUSTC_BOOTSTRAP=1
	fi
}

# cargo_for TARGET build|test ARGS...: run cargo for TARGET.
cargo_for() {
	local t="$1" sub="$2" method
	shift 2
	if [ "$sub" = test ]; then method="$(target_test_method "$t")"; else method="$(target_method "$t")"; fi
	if [ "$method" = rustup ]; then
		cargo "$sub" --locked --target "$(target_triple "$t")" "$@"
	else
		# The release profile aborts on panic; the test harness needs unwinding.
		local std=std,panic_abort
		[ "$sub" = test ] || sub=zigbuild
		[ "$sub" = zigbuild ] || std=std,panic_unwind
		( zig_env
		  # Targets configured for rust-lld in .cargo/config.toml: link with
		  # zig's crt and musl instead of rustup's self-contained objects.
		  case "$t" in x86_64 | aarch64) export RUSTFLAGS="-C link-self-contained=no" ;; esac
		  cargo-zigbuild "$sub" --locked --target "$(target_triple "$t")" \
			-Z build-std="$std" -Z build-std-features=optimize_for_size "$@" )
	fi
}

build_target() { cargo_for "$1" build --release; }

# Fail unless $1 is a statically linked ELF file.
check_static() {
	local desc
	desc="$(file -b "$1")"
	case "$desc" in
	*"statically linked"* | *"static-pie linked"*) ;;
	*) echo "$1 is not statically linked: $desc" >&2; return 1 ;;
	esac
}
