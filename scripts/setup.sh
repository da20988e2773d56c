#!/usr/bin/env bash
# Install everything the build and the tests need on a fresh Debian 12 (run as
# root, non-interactive).  Idempotent and fast when all is present: it only
# runs `apt-get update` and `apt-get install` if a package is missing.
#   apt:   QEMU + busybox-static + kmod + cpio (the test VM), nftables,
#          iproute2, iperf3, conntrack, ethtool (the kernel tests), file, strace
#   cargo: ubusd and ubus-client (a real ubus broker and CLI for the ubus tests)
#   rustup components clippy and rustfmt
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

APT_PKGS="qemu-system-x86 busybox-static kmod cpio xz-utils nftables iproute2 iperf3 conntrack ethtool file strace"

log() { echo "setup: $*"; }
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

missing=""
for p in $APT_PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    log "installing apt packages:$missing"
    $SUDO apt-get update -qq </dev/null
    # iperf3 asks (debconf) whether to start a daemon: the answer is no
    echo 'iperf3 iperf3/start_daemon boolean false' | $SUDO debconf-set-selections 2>/dev/null || true
    $SUDO apt-get install -y -qq --no-install-recommends $missing </dev/null
else
    log "apt packages present"
fi

if command -v cargo >/dev/null; then
    for tool in ubusd ubus-client; do
        if command -v "$tool" >/dev/null; then
            log "$tool present"
        else
            log "cargo install $tool"
            cargo install --locked --quiet "$tool" </dev/null
        fi
    done
    if command -v rustup >/dev/null; then
        for c in clippy rustfmt; do
            if rustup component list --installed 2>/dev/null | grep -q "^$c"; then
                log "rustup component $c present"
            else
                log "rustup component add $c"
                rustup component add "$c" </dev/null ||
                    log "WARNING: could not add rustup component $c"
            fi
        done
    fi
else
    log "WARNING: cargo not found; the Rust toolchain must come with the machine"
fi
log "done"
