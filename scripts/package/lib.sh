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

# "rustup": rustup ships a prebuilt musl std; "build-std": std is compiled
# from rust-src and linked with zig (cargo-zigbuild).
target_method() {
	case "$1" in
	x86_64 | aarch64) echo rustup ;;
	*) echo build-std ;;
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
	local t="$1" sub="$2"
	shift 2
	if [ "$(target_method "$t")" = rustup ]; then
		cargo "$sub" --locked --target "$(target_triple "$t")" "$@"
	else
		# The release profile aborts on panic; the test harness needs unwinding.
		local std=std,panic_abort
		[ "$sub" = test ] || sub=zigbuild
		[ "$sub" = zigbuild ] || std=std,panic_unwind
		( zig_env
		  cargo-zigbuild "$sub" --locked --target "$(target_triple "$t")" \
			-Z build-std="$std" "$@" )
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
