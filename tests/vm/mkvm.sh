#!/usr/bin/env bash
# Build (or reuse) a TCG-bootable test VM: Debian's stock kernel, which has the
# nf_flow_table modules the host kernel lacks, plus a tiny busybox initramfs
# that mounts the host root read-only over 9p (under a tmpfs overlay) and runs
# one host script.  See tests/vm/vmrun for running it.
#
# Cache layout under $NFTOFFLOAD_VM_DIR (default: <repo>/.vm):
#   kernel/<pkg>.deb        the downloaded linux-image-<abi>-amd64 package
#   kernel/<kver>/          its extracted tree, with depmod run on it
#   initrd.gz, initrd.stamp the initramfs and the inputs it was built from
#   vm.env                  what vmrun needs (kernel, initrd, modules dir)
# Only what is missing or stale is rebuilt.  No root needed except for
# `apt-get update` when the package lists are too old to download from.
#
# Usage: tests/vm/mkvm.sh            (prints the vm.env path on success)
# Env:   NFTOFFLOAD_VM_DIR  cache dir; KPKG  force a kernel package name.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
W=${NFTOFFLOAD_VM_DIR:-$repo/.vm}
mkdir -p "$W/kernel"
W=$(cd "$W" && pwd)

log() { echo "mkvm: $*" >&2; }
die() { echo "mkvm: ERROR: $*" >&2; exit 1; }

for tool in apt-cache apt-get dpkg-deb depmod modprobe cpio gzip; do
    command -v "$tool" >/dev/null || die "missing tool '$tool' (run scripts/setup.sh)"
done
[ -x /bin/busybox ] || die "missing /bin/busybox (apt-get install busybox-static)"
# A dynamically linked busybox would not run in the initramfs.
if command -v file >/dev/null && file -L /bin/busybox | grep -q 'dynamically linked'; then
    die "/bin/busybox is dynamically linked; install busybox-static"
fi

# --- 1. which kernel ---------------------------------------------------------
resolve_pkg() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/{print $2; exit}'
}
newest_cached() {
    # newest extracted tree that depmod has finished on
    local d
    for d in $(ls -d "$W"/kernel/*/ 2>/dev/null | sort -V -r); do
        [ -f "$d/lib/modules/$(basename "$d")/modules.dep" ] && { basename "$d"; return 0; }
    done
    return 1
}

PKG=${KPKG:-$(resolve_pkg || true)}
if [ -z "$PKG" ] && [ "$(id -u)" = 0 ]; then
    log "no linux-image-amd64 in the package lists; running apt-get update"
    apt-get update -qq >/dev/null 2>&1 || true
    PKG=$(resolve_pkg || true)
fi

KVER=""
if [ -n "$PKG" ]; then
    KVER=${PKG#linux-image-}
    deb="$W/kernel/$PKG.deb"
    if [ ! -f "$W/kernel/$KVER/lib/modules/$KVER/modules.dep" ] && [ ! -s "$deb" ]; then
        log "downloading $PKG"
        fetch() { (cd "$W/kernel" && rm -f "${PKG}"_*.deb && apt-get download -q "$PKG" >/dev/null 2>&1 &&
                   mv "${PKG}"_*.deb "$deb"); }
        if ! fetch; then
            # Old package lists name a version the mirror no longer has.
            if [ "$(id -u)" = 0 ]; then
                log "download failed; refreshing package lists and retrying"
                apt-get update -qq >/dev/null 2>&1 || true
                PKG2=$(resolve_pkg || true)
                if [ -n "$PKG2" ] && [ "$PKG2" != "$PKG" ]; then
                    PKG=$PKG2; KVER=${PKG#linux-image-}; deb="$W/kernel/$PKG.deb"
                fi
                fetch || { log "download of $PKG failed"; KVER=""; }
            else
                log "download of $PKG failed"; KVER=""
            fi
        fi
    fi
fi
if [ -z "$KVER" ]; then
    KVER=$(newest_cached) || die "no kernel package could be resolved or downloaded, and none is cached in $W/kernel"
    log "WARNING: using cached kernel $KVER"
fi

root="$W/kernel/$KVER"
if [ ! -f "$root/lib/modules/$KVER/modules.dep" ]; then
    log "extracting linux-image-$KVER"
    rm -rf "$root.tmp"
    dpkg-deb -x "$W/kernel/linux-image-$KVER.deb" "$root.tmp"
    depmod -b "$root.tmp" "$KVER"
    rm -rf "$root"
    mv "$root.tmp" "$root"
    # Other kernels (older ABIs) are stale now: drop their trees and .debs.
    for old in "$W"/kernel/*/ "$W"/kernel/*.deb; do
        case $(basename "$old") in "$KVER"|"linux-image-$KVER.deb") ;; *) rm -rf "$old" ;; esac
    done
fi
kernel="$root/boot/vmlinuz-$KVER"
[ -f "$kernel" ] || die "no kernel image at $kernel"
# Under TCG the bzImage spends seconds decompressing itself.  A kernel built
# with CONFIG_PVH can be booted by QEMU straight from its uncompressed ELF, so
# unpack it once (Debian compresses with xz) and boot that instead.
if grep -q '^CONFIG_PVH=y' "$root/boot/config-$KVER" 2>/dev/null && command -v xz >/dev/null; then
    if [ ! -s "$root/vmlinux" ]; then
        off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$kernel" 2>/dev/null | head -n1 | cut -d: -f1 || true)
        if [ -n "$off" ]; then
            tail -c +"$((off + 1))" "$kernel" | xz -dc > "$root/vmlinux.tmp" 2>/dev/null || true
            if [ "$(head -c4 "$root/vmlinux.tmp" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; then
                mv "$root/vmlinux.tmp" "$root/vmlinux"
            fi
        fi
        rm -f "$root/vmlinux.tmp"
    fi
    [ -s "$root/vmlinux" ] && kernel="$root/vmlinux"
fi
for m in nf_flow_table nf_flow_table_inet nft_flow_offload; do
    modprobe -d "$root" -S "$KVER" --show-depends "$m" >/dev/null 2>&1 ||
        die "kernel $KVER has no module $m"
done

# --- 2. initramfs ---------------------------------------------------------------
# The init script.  It runs the host script named by vmcmd= in a chroot of the
# overlaid host root, after sourcing /vmout/vm.env (written by vmrun), and
# writes the exit code to /vmout/exit-code: QEMU itself always exits 0.
read -r -d '' INIT <<'INIT' || true
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for f in $(cat /modlist); do insmod $f; done
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
fail() { echo "VM: $*"; echo "VM-EXIT=125"; poweroff -f; }
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /host || fail "9p mount of host root failed"
mount -t tmpfs tmpfs /rw; mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "overlay mount failed"
mods=$(arg vmmods); mkdir -p /newroot/lib/modules
[ -n "$mods" ] && mount --bind "/newroot$mods" /newroot/lib/modules
# Module autoload (request_module) runs kernel.modprobe in the initramfs root:
# point it at a helper that runs the chroot's modprobe on the bind-mounted tree.
printf '#!/bin/sh\nexec chroot /newroot /sbin/modprobe "$@"\n' > /bin/vm-modprobe; chmod +x /bin/vm-modprobe
echo /bin/vm-modprobe > /proc/sys/kernel/modprobe
mount -t proc proc /newroot/proc; mount -t sysfs sys /newroot/sys; mount -t devtmpfs dev /newroot/dev
mount -t tmpfs tmpfs /newroot/run
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts; mount -t tmpfs tmpfs /newroot/dev/shm
# devtmpfs lacks these; bash process substitution needs /dev/fd
ln -sf /proc/self/fd /newroot/dev/fd; ln -sf /proc/self/fd/0 /newroot/dev/stdin
ln -sf /proc/self/fd/1 /newroot/dev/stdout; ln -sf /proc/self/fd/2 /newroot/dev/stderr
mkdir -p /newroot/vmout
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 vmout /newroot/vmout || fail "9p mount of the out dir failed"
ip link set lo up 2>/dev/null
cmd=$(arg vmcmd)
read up rest < /proc/uptime
echo "VM: booted in ${up}s, running $cmd"
sh=/bin/bash; [ -x /newroot/bin/bash ] || sh=/bin/sh
chroot /newroot $sh -c 'cd /; [ -f /vmout/vm.env ] && . /vmout/vm.env; exec '$sh' "$0"' "$cmd" </dev/null; rc=$?
read up rest < /proc/uptime
echo "VM-EXIT=$rc (at ${up}s)"; echo $rc > /newroot/vmout/exit-code
sync; poweroff -f
INIT

modlist=$(for m in virtio_pci 9pnet_virtio 9p overlay; do
              modprobe -d "$root" -S "$KVER" --show-depends "$m"
          done | awk '$1=="insmod"{print $2}' | awk '!seen[$0]++')
stamp=$( { echo "$KVER"; echo "$INIT"; echo "$modlist"; cksum < /bin/busybox; } | cksum)
if [ ! -f "$W/initrd.gz" ] || [ "$(cat "$W/initrd.stamp" 2>/dev/null)" != "$stamp" ]; then
    log "building initramfs for $KVER"
    ir=$(mktemp -d "$W/ir.XXXXXX")
    mkdir -p "$ir"/{bin,proc,sys,dev,host,rw,newroot}
    cp /bin/busybox "$ir/bin/busybox"
    for f in $modlist; do
        cp "$f" "$ir/"
        echo "/$(basename "$f")"
    done > "$ir/modlist"
    printf '%s\n' "$INIT" > "$ir/init"
    chmod +x "$ir/init"
    (cd "$ir" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > "$W/initrd.gz.tmp")
    rm -rf "$ir"
    mv "$W/initrd.gz.tmp" "$W/initrd.gz"
    echo "$stamp" > "$W/initrd.stamp"
fi

cat > "$W/vm.env.tmp" <<EOF
VM_KVER=$KVER
VM_KERNEL=$kernel
VM_INITRD=$W/initrd.gz
VM_MODULES=$root/lib/modules
EOF
mv "$W/vm.env.tmp" "$W/vm.env"
log "VM ready: kernel $KVER ($(echo "$modlist" | wc -l) initramfs modules), $W/vm.env"
echo "$W/vm.env"
