#!/usr/bin/env bash
# Stripped size of the static release binary per router target, for the
# bench report. Builds the way `make package` does (mk/package.mk,
# scripts/package/lib.sh): x86_64 and aarch64 with rustup's musl std and
# rust-lld; armv7 with -Z build-std and cargo-zigbuild (the venv that
# `make package-deps` installs). When scripts/package/lib.sh is present its
# functions are used, so the figures are those of the real packages.
#
#   bench/sizes.sh OUTFILE     lines "TARGET BYTES" or "TARGET - REASON"
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"
outfile=$1
: >"$outfile"

if [ -f scripts/package/lib.sh ]; then
    # shellcheck source=/dev/null
    . scripts/package/lib.sh
else
    ZIG_VENV="${ZIG_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/nft-offload/venv}"
    target_triple() {
        case $1 in
            x86_64) echo x86_64-unknown-linux-musl ;;
            aarch64) echo aarch64-unknown-linux-musl ;;
            armv7) echo armv7-unknown-linux-musleabihf ;;
        esac
    }
    build_target() {
        local t=$1 triple
        triple=$(target_triple "$t")
        case $t in
            x86_64 | aarch64)
                env "CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_LINKER=rust-lld" \
                    cargo build --locked --release --target "$triple" --bin nftoffload ;;
            armv7)
                [ -x "$ZIG_VENV/bin/cargo-zigbuild" ] || return 3
                (
                    export PATH="$ZIG_VENV/bin:$PATH"
                    if rustup toolchain list | grep -q '^nightly'; then
                        export RUSTUP_TOOLCHAIN=nightly
                    else
                        export RUSTC_BOOTSTRAP=1
                    fi
                    export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_MUSLEABIHF_RUSTFLAGS="-C link-self-contained=no --cfg=libc_unstable_musl_v1_2"
                    cargo-zigbuild zigbuild --locked --release --target "$triple" \
                        -Z build-std=std,panic_abort --bin nftoffload
                ) ;;
        esac
    }
fi

need_std() { # TARGET: is the prebuilt std (or rust-src for build-std) there?
    case $1 in
        armv7) rustup component list --installed 2>/dev/null | grep -q '^rust-src' ||
            rustup component list --installed --toolchain nightly 2>/dev/null | grep -q '^rust-src' ;;
        *) rustup target list --installed 2>/dev/null | grep -qx "$(target_triple "$1")" ;;
    esac
}

rc=0
for t in x86_64 aarch64 armv7; do
    bin="target/$(target_triple "$t")/release/nftoffload"
    if ! need_std "$t"; then
        echo "$t - the Rust target is not installed (make package-deps)" | tee -a "$outfile"
        continue
    fi
    echo "bench: building $t"
    build_target "$t" >"target/bench-size-$t.log" 2>&1
    brc=$?
    if [ $brc = 3 ]; then
        echo "$t - cargo-zigbuild is not installed (make package-deps)" | tee -a "$outfile"
    elif [ $brc != 0 ] || [ ! -f "$bin" ]; then
        echo "$t - the build failed (target/bench-size-$t.log)" | tee -a "$outfile"
        rc=1
    else
        # the release profile strips; say so if a build left symbols in
        if file -b "$bin" | grep -q 'not stripped'; then
            echo "$t $(stat -c %s "$bin") not-stripped" | tee -a "$outfile"
        else
            echo "$t $(stat -c %s "$bin")" | tee -a "$outfile"
        fi
    fi
done
exit $rc
