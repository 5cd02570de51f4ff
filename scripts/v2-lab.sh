#!/usr/bin/env bash
# The cgroup v2 labs: dind-init on a pure unified cgroup hierarchy, in a qemu VM (TCG, no KVM).
# Owns: the qemu VM lab (cgroup v2, arm64): kernel, initramfs, disks; v2-lab/ runs inside the VM.
# docs/V2-LAB.md: what each scenario shows, timings, findings.
#
#   sudo scripts/v2-lab.sh                          # amd64, bookworm (tag v2-lab)
#   sudo V2LAB_SUITE=trixie scripts/v2-lab.sh       # amd64, trixie's kernel/engine/image (v2-lab-trixie)
#   sudo V2LAB_ARCH=arm64 scripts/v2-lab.sh         # arm64 VM, bookworm (arm64-lab)
#   sudo scripts/v2-lab.sh -k                       # keep the run directory (payload disk, images)
#
#   V2LAB_SUITE  bookworm (default) | trixie: the Debian suite of the VM's kernel (from the mirror
#                through a private apt state), root file system, engine, and the DinD image's base
#   V2LAB_ARCH   amd64 (default): qemu-system-x86_64 -cpu max, the images of scripts/images.sh;
#                arm64: qemu-system-aarch64 -M virt, a debootstrap --arch=arm64 root file system
#                (second stage under qemu-user-static), dind-init for aarch64-unknown-linux-musl
#                (rust-lld) and an arm64 DinD image assembled offline (v2-lab/imgtar.py)
#
# Scenarios (run.sh, in the VM; docs/V2-LAB.md says what each shows): boot, privileged, limits,
# cgroupns-host, not-pid1, field-contrast, outer-limits, rootless-outer-limits (a rootless dockerd:
# docker/debian-rootless.Dockerfile, amd64), clean-stop, iptables-legacy (a second boot).
# Output: a PASS/FAIL row per scenario (lib_result), METRIC lines, console logs in
# target/v2-lab/ARCH-SUITE/; the kernel, disks and initramfs are cached under
# ${DIND_CACHE:-/var/cache/dind-init}/v2-lab/ARCH-SUITE.
#
# Environment: V2LAB_SUITE, V2LAB_ARCH (above), V2LAB_TIMEOUT (seconds per VM boot, default 1800;
# arm64 2700), V2LAB_TOTAL_TIMEOUT (whole run, set-up included, default 3600), V2LAB_MEM (MiB,
# default 4096), V2LAB_SMP (default 2), V2LAB_CPU (arm64 -cpu, default cortex-a72),
# V2LAB_SCENARIO_TIMEOUT (seconds per scenario inside the VM, default 300; arm64 600),
# V2LAB_LEGACY=0 (skip boot 2), V2LAB_SCENARIOS="privileged limits ..." (run only these),
# V2LAB_MAIN (the main boot's scenarios), V2LAB_REFRESH=1 (rebuild the cached kernel, initramfs
# and disks), V2LAB_IMAGES=DIR (DIR/dind.tar, DIR/inner.tar and, for rootless-outer-limits,
# DIR/rootless.tar instead of building them), V2LAB_TCG_THREAD=single|multi (amd64 TCG threads;
# trixie defaults to single), V2LAB_KERNEL_ARGS (appended to the VM's command line, e.g. apparmor=0), V2LAB_OUTER_ENV="K=V ..." (extra environment for the outer containers),
# V2LAB_EXPECT_ENGINE (the `dockerd --version` prefix), DIND_SUITE/BASE_IMAGE/DIND_IMAGE/
# DIND_BASE_PKGS/IMAGES_INSTANCE (for scripts/images.sh; defaults follow V2LAB_SUITE),
# DIND_BIN_ARM64 (an aarch64 dind-init instead of building it), CI=true (a skip, or a scenario left
# out, is a failure). Needs root. Never uses the host's /var/run/docker.sock.
set -uo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
LABDIR=$ROOT/scripts/v2-lab

ARCH=${V2LAB_ARCH:-amd64}
SUITE=${V2LAB_SUITE:-bookworm}
case "$ARCH" in
    amd64) TAG=v2-lab ;;
    arm64) TAG=arm64-lab ;;
    *) echo "v2-lab.sh: V2LAB_ARCH must be amd64 or arm64, not '$ARCH'" >&2; exit 2 ;;
esac
case "$SUITE" in
    bookworm) ;;
    trixie) TAG=$TAG-trixie ;;
    *) echo "v2-lab.sh: V2LAB_SUITE must be bookworm or trixie, not '$SUITE'" >&2; exit 2 ;;
esac

# What the caller set for scripts/images.sh, before lib.sh fills in its (bookworm) defaults.
CALLER_DIND_SUITE=${DIND_SUITE:-}
CALLER_BASE_IMAGE=${BASE_IMAGE:-}
CALLER_DIND_BASE_PKGS=${DIND_BASE_PKGS:-}
CALLER_DIND_IMAGE=${DIND_IMAGE:-}
CALLER_ROOTLESS_IMAGE=${ROOTLESS_IMAGE:-}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$ROOT/scripts/lib.sh"
LIB_TAG=$TAG

KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        -k|--keep) KEEP=1; shift ;;
        -h|--help) lib_usage; exit 0 ;;
        *) echo "v2-lab.sh: unknown argument: $1 (see -h)" >&2; exit 2 ;;
    esac
done

# The overall time-out: the script runs again under timeout(1), which kills its process group
# (qemu, debootstrap, images.sh) when the time is up; the EXIT trap still cleans up. In the
# background, so that a Ctrl-C or SIGTERM here reaches it as SIGTERM (timeout(1) has its own
# process group); with the caller's DIND_SUITE, not lib.sh's.
if [ -z "${V2LAB_UNDER_TIMEOUT:-}" ]; then
    export V2LAB_UNDER_TIMEOUT=1
    timeout -k 30 "${V2LAB_TOTAL_TIMEOUT:-3600}" env -u DIND_SUITE ${CALLER_DIND_SUITE:+DIND_SUITE="$CALLER_DIND_SUITE"} "$0" "$@" &
    tpid=$!
    trap 'kill -TERM "$tpid" 2>/dev/null' INT TERM
    wait "$tpid"
    rc=$?
    while kill -0 "$tpid" 2>/dev/null; do
        wait "$tpid"
        rc=$?
    done
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        lib_result FAIL "$TAG: overall time-out" "${V2LAB_TOTAL_TIMEOUT:-3600}" "V2LAB_TOTAL_TIMEOUT"
        lib_summary
        exit 1
    fi
    exit $rc
fi

export DIND_CACHE=${DIND_CACHE:-/var/cache/dind-init}
LABCACHE=$DIND_CACHE/v2-lab
CACHE=$LABCACHE/$ARCH-$SUITE
OUT=$ROOT/target/v2-lab/$ARCH-$SUITE
RUN=$CACHE/run
MEM=${V2LAB_MEM:-4096}
SMP=${V2LAB_SMP:-2}
MIRROR=${DIND_MIRROR:-http://deb.debian.org/debian}
VM_PKGS=docker.io,iptables,kmod,iproute2,procps,python3,ca-certificates
# trixie splits the CLI off docker.io (docker-cli, only Recommended): the DinD image needs it.
[ "$SUITE" = bookworm ] || VM_PKGS=$VM_PKGS,docker-cli
INNER_IMAGE=${INNER_IMAGE:-dind-init-test/inner:latest}
SUITE_SFX=$([ "$SUITE" = bookworm ] || echo "-$SUITE")
if [ "$ARCH" = amd64 ]; then
    QEMU=qemu-system-x86_64
    # trixie's 6.12 kernel oopsed twice on `int3` in the scheduler (live text patching, which
    # multi-threaded TCG can expose to the other vCPU before it is complete): one TCG thread there.
    TCG_THREAD=${V2LAB_TCG_THREAD:-multi}
    [ "$SUITE" = bookworm ] || TCG_THREAD=${V2LAB_TCG_THREAD:-single}
    # shellcheck disable=SC2054 # qemu's comma-separated suboptions
    QEMU_ARGS=(-accel "tcg,thread=$TCG_THREAD" -cpu max)
    CONSOLE=ttyS0
    RUST_TARGET=x86_64-unknown-linux-musl
    INITRD_MODS="virtio_pci virtio_blk ?crc32c_generic ?crc32c_intel ext4"   # ?: optional
    # outer-limits (60 s under TCG) only on request: cgroupns-host shows an inner container below
    # the outer one with its limits already; trixie: what its engine and kernel change.
    # rootless-outer-limits: a rootless dockerd's inner containers bounded by the outer --pids-limit.
    MAIN_DEFAULT="privileged limits cgroupns-host not-pid1 field-contrast rootless-outer-limits clean-stop"
    [ "$SUITE" = bookworm ] || MAIN_DEFAULT="privileged limits cgroupns-host clean-stop"
    BOOT_TIMEOUT=${V2LAB_TIMEOUT:-1800}
    SCEN_TIMEOUT=${V2LAB_SCENARIO_TIMEOUT:-300}
    DIND_IMAGE=${CALLER_DIND_IMAGE:-dind-init/debian:test$SUITE_SFX}
    ROOTLESS_IMAGE=${CALLER_ROOTLESS_IMAGE:-dind-init/debian-rootless:test$SUITE_SFX}
else
    QEMU=qemu-system-aarch64
    # shellcheck disable=SC2054 # qemu's comma-separated suboptions
    QEMU_ARGS=(-M virt -accel tcg,thread=multi -cpu "${V2LAB_CPU:-cortex-a72}")
    CONSOLE=ttyAMA0
    RUST_TARGET=aarch64-unknown-linux-musl
    INITRD_MODS="?virtio_pci ?virtio_mmio virtio_blk ?crc32c_generic ?crc32c-arm64 ?crc32c_arm64 ext4"
    MAIN_DEFAULT="privileged outer-limits clean-stop"
    BOOT_TIMEOUT=${V2LAB_TIMEOUT:-2700}
    SCEN_TIMEOUT=${V2LAB_SCENARIO_TIMEOUT:-600}
    DIND_IMAGE=${CALLER_DIND_IMAGE:-dind-init/debian:test-$ARCH$SUITE_SFX}
fi
MAIN=${V2LAB_MAIN:-$MAIN_DEFAULT}
# The engine the suite ships (`dockerd --version` in the VM and in the DinD image must start so).
case "$SUITE" in
    bookworm) EXPECT_ENGINE=${V2LAB_EXPECT_ENGINE:-Docker version 20.10.} ;;
    trixie) EXPECT_ENGINE=${V2LAB_EXPECT_ENGINE:-Docker version 26.1.} ;;
esac
BUILD_VERSION=4   # bump when the way the disk or the initramfs is built changes (a new cache)
T0=$SECONDS

log() { echo "[$TAG +$((SECONDS - T0))s] $*" >&2; }
# skip: the lab cannot run here (a failure under CI=true, lib_result)
skip() { lib_result SKIP "$TAG" 0 "$*"; lib_summary; exit; }
die() { lib_err "$*"; lib_result FAIL "$TAG set-up" "$((SECONDS - T0))" "$*"; lib_summary; exit 1; }

lib_is_root || skip "needs root (debootstrap, mkfs.ext4 -d of a root file system)"
[ "$(uname -m)" = x86_64 ] || skip "needs an x86_64 host"

# waited CMD...: CMD in the background, waited for: a TERM/INT reaches this script's traps at once
# (bash runs a trap only after a foreground command ends), and cleanup ends CMD (the long steps,
# run under their own timeout(1), which the overall time-out's group kill cannot reach).
QPID='' CHILD=''
waited() {
    "$@" &
    CHILD=$!
    wait "$CHILD"
    local rc=$?
    CHILD=
    return $rc
}
cleanup() {
    if [ -n "$CHILD" ] && kill -0 "$CHILD" 2>/dev/null; then
        kill -TERM "$CHILD" 2>/dev/null
        wait "$CHILD" 2>/dev/null
    fi
    if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
        kill -TERM "$QPID" 2>/dev/null
        sleep 1
        kill -KILL "$QPID" 2>/dev/null
    fi
    if [ -n "${DIND_HOST_PID:-}" ]; then lib_host_stop; fi   # an interrupted prep_host
    mountpoint -q "$DIND_CACHE/host-lab-prep-$ARCH-$SUITE" 2>/dev/null && umount "$DIND_CACHE/host-lab-prep-$ARCH-$SUITE"
    [ "$KEEP" = 1 ] || rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

mkdir -p "$CACHE" "$OUT" || die "cannot create $CACHE and $OUT"
exec {LOCKFD}>"$CACHE/lock"
flock -w 1200 "$LOCKFD" || die "another $TAG run holds $CACHE/lock"

# ------------------------------------------------------------------ host packages

# need CMD PKG: PKG when CMD is missing
need() { command -v "$1" >/dev/null || want+=("$2"); }
deps() {
    local want=() had_qemu_img=
    need "$QEMU" "$([ "$ARCH" = amd64 ] && echo qemu-system-x86 || echo qemu-system-arm)"
    need debootstrap debootstrap
    need mkfs.ext4 e2fsprogs
    need dpkg-deb dpkg
    command -v depmod >/dev/null || [ -x /sbin/depmod ] || want+=(kmod)
    need flock util-linux
    need python3 python3
    [ -s /usr/share/keyrings/debian-archive-keyring.gpg ] || want+=(debian-archive-keyring)
    if [ "$ARCH" != amd64 ]; then
        need qemu-aarch64-static qemu-user-static
        need update-binfmts binfmt-support
        command -v busybox >/dev/null || [ -x /bin/busybox ] || want+=(busybox-static)
    fi
    need xz xz-utils
    [ ${#want[@]} -eq 0 ] && return 0
    # qemu-system-* 7.2 replaces a newer qemu-utils (backports) when one is installed: keep qemu-img.
    command -v qemu-img >/dev/null && had_qemu_img=1
    lib_apt_install "${want[@]}" || return 1
    if [ -n "$had_qemu_img" ] && ! command -v qemu-img >/dev/null; then
        lib_apt_install qemu-utils || lib_err "qemu-img went away with the qemu install and qemu-utils did not install"
    fi
}
deps || skip "cannot install $QEMU/debootstrap/e2fsprogs (no apt?)"

# ------------------------------------------------------------------ a private apt for SUITE/ARCH

# The host's apt knows the host's suite and architecture only and must not be changed: the kernel
# and busybox-static of SUITE/ARCH come from a private apt state under $LABCACHE/apt-SUITE-ARCH
# (Release signatures checked against the host's debian-archive-keyring).
APTDIR=$LABCACHE/apt-$SUITE-$ARCH
APT_OPTS=(-o "Dir::Etc::sourcelist=$APTDIR/sources.list" -o "Dir::Etc::sourceparts=$APTDIR/empty"
    -o "Dir::Etc::preferences=$APTDIR/empty/none" -o "Dir::Etc::preferencesparts=$APTDIR/empty"
    -o "Dir::State::Lists=$APTDIR/lists" -o "Dir::Cache=$APTDIR/cache" -o "Dir::State::status=$APTDIR/status"
    -o "APT::Architecture=$ARCH" -o "APT::Architectures::=$ARCH" -o APT::Sandbox::User=root
    -o Debug::NoLocking=1 -o Acquire::Languages=none -o Acquire::Retries=3)
APT_UPDATED=
lab_apt_update() {
    [ -n "$APT_UPDATED" ] && return 0
    mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/empty" || return 1
    : >"$APTDIR/status"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE main" >"$APTDIR/sources.list"
    log "apt ($SUITE/$ARCH, private state $APTDIR): update"
    timeout 600 apt-get "${APT_OPTS[@]}" -qq update >"$APTDIR/update.log" 2>&1 ||
        { lib_err "apt-get update for $SUITE/$ARCH failed:"; tail -n 10 "$APTDIR/update.log" >&2; return 1; }
    APT_UPDATED=1
}
# lab_apt_download PKG DIR: PKG's .deb for SUITE/ARCH into DIR.
lab_apt_download() {
    lab_apt_update || return 1
    (cd "$2" && timeout 900 apt-get "${APT_OPTS[@]}" -qq download "$1" >/dev/null 2>"$APTDIR/download.log") ||
        { lib_err "apt-get download $1 ($SUITE/$ARCH) failed:"; tail -n 5 "$APTDIR/download.log" >&2; return 1; }
}

# ------------------------------------------------------------------ kernel + initramfs

[ "${V2LAB_REFRESH:-0}" = 1 ] && { log "V2LAB_REFRESH=1: dropping the cached kernel, initramfs and disks"; rm -rf "$CACHE/kernel" "$CACHE"/initrd-*.img "$CACHE"/base-*.img "$CACHE"/docker-*.img* "$CACHE"/rootfs-*.tar*; }

# kernel: $CACHE/kernel/{vmlinuz,KVER,root/lib/modules/KVER}: linux-image-ARCH (SUITE) resolved to
# the current ABI package once, then reused (warm runs need no network); depmod -b adds modules.dep.
kernel() {
    local k=$CACHE/kernel pkg tmp m mods
    if [ -s "$k/vmlinuz" ] && [ -s "$k/KVER" ] && [ -s "$k/root/lib/modules/$(cat "$k/KVER")/modules.dep" ]; then
        KVER=$(cat "$k/KVER")
        return 0
    fi
    lab_apt_update || return 1
    pkg=$(apt-cache "${APT_OPTS[@]}" depends "linux-image-$ARCH" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    [ -n "$pkg" ] || { lib_err "cannot resolve linux-image-$ARCH in $SUITE"; return 1; }
    log "kernel: $pkg ($SUITE/$ARCH) from $MIRROR"
    rm -rf "$k" "$k.tmp"
    tmp=$k.tmp
    mkdir -p "$tmp/deb" "$tmp/x" || return 1
    lab_apt_download "$pkg" "$tmp/deb" || return 1
    dpkg-deb -x "$tmp/deb"/*.deb "$tmp/x" || return 1
    KVER=${pkg#linux-image-}
    if [ ! -d "$tmp/x/lib/modules/$KVER" ] && [ ! -d "$tmp/x/usr/lib/modules/$KVER" ]; then
        for m in "$tmp"/x/lib/modules/* "$tmp"/x/usr/lib/modules/*; do
            [ -d "$m" ] && { KVER=$(basename "$m"); break; }
        done
    fi
    mods=$tmp/x/lib/modules/$KVER
    [ -d "$mods" ] || mods=$tmp/x/usr/lib/modules/$KVER   # trixie: merged /usr in the package
    mkdir -p "$tmp/root/lib/modules" || return 1
    mv "$tmp/x/boot/vmlinuz-$KVER" "$tmp/vmlinuz" && mv "$mods" "$tmp/root/lib/modules/$KVER" || return 1
    PATH=$PATH:/sbin:/usr/sbin depmod -b "$tmp/root" "$KVER" || { lib_err "depmod -b failed"; return 1; }
    echo "$KVER" >"$tmp/KVER"
    echo "$pkg" >"$tmp/PKG"
    rm -rf "$tmp/x" "$tmp/deb"
    mv "$tmp" "$k"
}
kernel || die "kernel download failed"
KERNEL=$CACHE/kernel/vmlinuz
MODDIR=$CACHE/kernel/root/lib/modules/$KVER

# mod_closure NAME...: the module files (relative to MODDIR) NAME needs, dependencies first
# (modprobe --show-depends). ?NAME: optional. A built-in NAME needs nothing.
mod_closure() {
    local m
    for m in "$@"; do
        PATH=$PATH:/sbin:/usr/sbin modprobe -d "$CACHE/kernel/root" -S "$KVER" --show-depends "${m#\?}" 2>/dev/null ||
            [ "${m#\?}" != "$m" ] || { lib_err "no module $m"; return 1; }
    done | awk '$1 == "insmod" && !seen[$2]++ { sub(".*/lib/modules/[^/]*/", "", $2); print $2 }'
}

BUSYBOX=$CACHE/busybox/bin/busybox   # for the initramfs and the inner image
busybox_static() {
    local d=$CACHE/busybox b
    [ -s "$BUSYBOX" ] && return 0
    log "busybox: busybox-static ($SUITE/$ARCH), for the initramfs and the inner image"
    rm -rf "$d" "$d.tmp" && mkdir -p "$d.tmp/deb" || return 1
    lab_apt_download busybox-static "$d.tmp/deb" && dpkg-deb -x "$d.tmp/deb"/*.deb "$d.tmp" || { rm -rf "$d.tmp"; return 1; }
    for b in "$d.tmp/bin/busybox" "$d.tmp/usr/bin/busybox"; do [ -s "$b" ] && break; done
    mkdir -p "$d/bin" && mv "$b" "$BUSYBOX" || return 1
    rm -rf "$d.tmp"
}
busybox_static || die "busybox-static download failed"
# A host-arch busybox for cpio (the VM's may be arm64).
HOST_BUSYBOX=$BUSYBOX
[ "$ARCH" = amd64 ] || HOST_BUSYBOX=$(command -v busybox || echo /bin/busybox)
"$HOST_BUSYBOX" --list 2>/dev/null | grep -x cpio >/dev/null || die "$HOST_BUSYBOX cannot run cpio (install busybox-static)"

# The initramfs: static busybox, the modules to reach an ext4 root on virtio-blk, and
# v2-lab/initramfs-init as /init.
INITRD=$CACHE/initrd-$KVER-v$BUILD_VERSION.img
initramfs() {
    [ -s "$INITRD" ] && return 0
    log "initramfs: busybox + virtio-blk/ext4 modules for $KVER"
    local d m mods
    d=$(mktemp -d "$CACHE/initramfs.XXXXXX") || return 1
    mkdir -p "$d/bin" "$d/modules" "$d/proc" "$d/sys" "$d/dev" "$d/newroot" || return 1
    cp "$BUSYBOX" "$d/bin/busybox" && ln -s busybox "$d/bin/sh" || return 1
    # shellcheck disable=SC2086 # a list of names
    mods=$(mod_closure $INITRD_MODS) || { rm -rf "$d"; return 1; }
    : >"$d/modules/order"
    for m in $mods; do
        cp "$MODDIR/$m" "$d/modules/" && basename "$m" >>"$d/modules/order" || { rm -rf "$d"; return 1; }
    done
    # Compressed modules (trixie: .ko.xz), unpacked here for busybox insmod.
    for m in "$d"/modules/*.ko.xz; do
        [ -e "$m" ] || continue
        xz -d "$m" && sed -i "s|$(basename "$m")\$|$(basename "$m" .xz)|" "$d/modules/order" || { rm -rf "$d"; return 1; }
    done
    install -m 0755 "$LABDIR/initramfs-init" "$d/init" || { rm -rf "$d"; return 1; }
    rm -f "$CACHE"/initrd-*.img
    (cd "$d" && find . | "$HOST_BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -1 >"$INITRD.tmp") &&
        mv -f "$INITRD.tmp" "$INITRD"
    local rc=$?
    rm -rf "$d"
    return $rc
}
initramfs || die "initramfs build failed"

# ------------------------------------------------------------------ the VM's root disk

BASE_KEY=$(printf '%s ' "$ARCH" "$SUITE" "$VM_PKGS" "$KVER" "$BUILD_VERSION" | sha256sum | cut -c1-12)
BASE_IMG=$CACHE/base-$BASE_KEY.img
# arm64: the same debootstrap is the DinD image's base layer (one debootstrap under qemu-user
# instead of two): a tarball of it before the VM's own additions, and its sha256 (the diff_id).
ROOTFS_TAR=$CACHE/rootfs-$(printf '%s ' "$ARCH" "$SUITE" "$VM_PKGS" | sha256sum | cut -c1-12).tar

# debootstrap_rootfs DIR: debootstrap --variant=minbase --include=VM_PKGS SUITE for ARCH into DIR;
# foreign architectures in two stages, the second under qemu-user (binfmt).
debootstrap_rootfs() {
    local root=$1 t0=$SECONDS
    local args=(--variant=minbase --include="$VM_PKGS" --arch="$ARCH")
    [ "$ARCH" = amd64 ] || { lib_arm64_emulation || return 1; args+=(--foreign); }
    log "VM rootfs: debootstrap ${args[*]} $SUITE (once, a few minutes)"
    if ! waited timeout 1800 debootstrap "${args[@]}" "$SUITE" "$root" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1; then
        lib_err "debootstrap failed; last lines of $CACHE/debootstrap.log:"
        tail -n 20 "$CACHE/debootstrap.log" >&2
        return 1
    fi
    if [ "$ARCH" != amd64 ]; then
        log "VM rootfs: debootstrap --second-stage under qemu-aarch64 (binfmt) after $((SECONDS - t0)) s"
        # No fsync per file while dpkg unpacks a throwaway tree: the slowest step of a cold arm64 run.
        mkdir -p "$root/etc/dpkg/dpkg.cfg.d" && echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/v2lab-unsafe-io"
        if ! waited timeout 2400 chroot "$root" /debootstrap/debootstrap --second-stage >>"$CACHE/debootstrap.log" 2>&1; then
            lib_err "debootstrap --second-stage failed; last lines of $CACHE/debootstrap.log:"
            tail -n 20 "$CACHE/debootstrap.log" >&2
            return 1
        fi
    fi
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
    rm -f "$root/etc/hostname" "$root/etc/resolv.conf" "$root/etc/dpkg/dpkg.cfg.d/v2lab-unsafe-io"
    log "VM rootfs: done in $((SECONDS - t0)) s"
}

base_disk() {
    [ -s "$BASE_IMG" ] && { [ "$ARCH" = amd64 ] || [ -s "$ROOTFS_TAR.sha256" ]; } && return 0
    local root=$CACHE/rootfs.tmp used size
    # what an interrupted debootstrap left mounted there (proc, sys), before rm -rf
    awk -v d="$root/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf "$root" && mkdir -p "$root" || return 1
    if [ -s "$ROOTFS_TAR.sha256" ]; then
        log "VM rootfs: from $(basename "$ROOTFS_TAR")"
        tar --numeric-owner -xpf "$ROOTFS_TAR" -C "$root" || return 1
    else
        debootstrap_rootfs "$root" || { rm -rf "$root"; return 1; }
        if [ "$ARCH" != amd64 ]; then
            rm -f "$CACHE"/rootfs-*.tar*
            tar --numeric-owner --xattrs -C "$root" -cf "$ROOTFS_TAR.tmp" . &&
                sha256sum "$ROOTFS_TAR.tmp" | cut -d' ' -f1 >"$ROOTFS_TAR.sha256.tmp" &&
                mv -f "$ROOTFS_TAR.tmp" "$ROOTFS_TAR" && mv -f "$ROOTFS_TAR.sha256.tmp" "$ROOTFS_TAR.sha256" ||
                { rm -rf "$root"; return 1; }
        fi
    fi
    echo v2lab >"$root/etc/hostname"
    printf '127.0.0.1 localhost\n127.0.1.1 v2lab\n' >"$root/etc/hosts"
    : >"$root/etc/resolv.conf"
    mkdir -p "$root/lab" "$root/lib/modules" || return 1
    cp -a "$MODDIR" "$root/lib/modules/" || return 1
    # Room for the outer daemon's images and the inner daemons' data (the file is sparse).
    used=$(du -sm "$root" | cut -f1)
    size=$((used + 6144))
    log "VM disk: mkfs.ext4 -d ($used MiB used, ${size} MiB)"
    rm -f "$BASE_IMG.tmp"
    if ! mkfs.ext4 -q -F -L v2lab-root -E root_owner=0:0 -d "$root" "$BASE_IMG.tmp" "${size}M" >/dev/null; then
        rm -rf "$root" "$BASE_IMG.tmp"
        return 1
    fi
    rm -rf "$root"
    rm -f "$CACHE"/base-*.img
    mv -f "$BASE_IMG.tmp" "$BASE_IMG"
}
base_disk || die "VM disk build failed"

# ------------------------------------------------------------------ the images and the payload disk

rm -rf "$RUN" && mkdir -p "$RUN/payload/images" "$RUN/payload/lab" || die "cannot create $RUN"

# amd64: scripts/images.sh save, the images e2e.sh tests, built from a SUITE base (DIND_SUITE).
# The names and the base's packages follow the suite unless given (another suite's images must
# not overwrite bookworm's dind-init/debian:test in a shared images instance).
images_amd64() {
    local suite=${CALLER_DIND_SUITE:-$SUITE}
    local env=(DIND_SUITE="$suite" DIND_IMAGE="$DIND_IMAGE" INNER_IMAGE="$INNER_IMAGE")
    [ "$ROOTLESS" = 1 ] && env+=(IMAGES_ROOTLESS=1 ROOTLESS_IMAGE="$ROOTLESS_IMAGE")
    if [ "$suite" != bookworm ]; then   # bookworm's docker.io still holds the CLI
        env+=(BASE_IMAGE="${CALLER_BASE_IMAGE:-dind-init-test/base:$suite}"
            DIND_BASE_PKGS="${CALLER_DIND_BASE_PKGS:-docker.io,docker-cli,iptables,ca-certificates,procps}")
    else
        [ -n "$CALLER_BASE_IMAGE" ] && env+=(BASE_IMAGE="$CALLER_BASE_IMAGE")
        [ -n "$CALLER_DIND_BASE_PKGS" ] && env+=(DIND_BASE_PKGS="$CALLER_DIND_BASE_PKGS")
    fi
    log "images: scripts/images.sh save (${env[*]}${IMAGES_INSTANCE:+ IMAGES_INSTANCE=$IMAGES_INSTANCE})"
    waited timeout 2400 env "${env[@]}" "$ROOT/scripts/images.sh" save "$RUN/payload/images" >"$OUT/images.log" 2>&1 ||
        { tail -n 30 "$OUT/images.log" >&2; lib_err "scripts/images.sh save failed (log: $OUT/images.log)"; return 1; }
}

# arm64: dind-init for aarch64-unknown-linux-musl linked by rust-lld (rustup's, no C cross
# toolchain), and the images put together without a daemon (imgtar.py): DIND_IMAGE = the
# debootstrap tarball + dind-init with debian.Dockerfile's settings; INNER_IMAGE = busybox-static.
build_arm64_binary() {
    if [ -n "${DIND_BIN_ARM64:-}" ]; then
        [ -x "$DIND_BIN_ARM64" ] || { lib_err "DIND_BIN_ARM64=$DIND_BIN_ARM64 is not an executable"; return 1; }
        ARM64_BIN=$DIND_BIN_ARM64
        return 0
    fi
    local cargo rustup
    cargo=$(PATH="$HOME/.cargo/bin:$PATH" command -v cargo) || { lib_err "cargo is missing: install Rust (rustup) first"; return 1; }
    rustup=$(PATH="$HOME/.cargo/bin:$PATH" command -v rustup) || { lib_err "rustup is missing"; return 1; }
    if ! "$rustup" target list --installed 2>/dev/null | grep -x "$RUST_TARGET" >/dev/null; then
        log "rustup target add $RUST_TARGET"
        "$rustup" target add "$RUST_TARGET" >&2 || return 1
    fi
    log "cargo build --release --target $RUST_TARGET (linker rust-lld)"
    (cd "$ROOT" && PATH="$HOME/.cargo/bin:$PATH" CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld \
        "$cargo" build --release --locked -q --target "$RUST_TARGET") >&2 || { lib_err "cargo build for $RUST_TARGET failed"; return 1; }
    ARM64_BIN=$ROOT/target/$RUST_TARGET/release/dind-init
    file -b "$ARM64_BIN" 2>/dev/null | grep 'aarch64.*statically linked' >/dev/null ||
        [ "$(od -An -tx1 -j18 -N2 "$ARM64_BIN" | tr -d ' ')" = b700 ] || { lib_err "$ARM64_BIN is not an aarch64 executable"; return 1; }
    log "dind-init for $RUST_TARGET: $(stat -c %s "$ARM64_BIN") bytes"
}
images_arm64() {
    build_arm64_binary || return 1
    python3 "$LABDIR/imgtar.py" build-dind "$RUN/payload/images/dind.tar" "$DIND_IMAGE" "$ARCH" \
        "$ROOTFS_TAR" "$(cat "$ROOTFS_TAR.sha256")" "$ARM64_BIN" || { lib_err "imgtar.py build-dind failed"; return 1; }
    python3 "$LABDIR/imgtar.py" build-busybox "$RUN/payload/images/inner.tar" "$INNER_IMAGE" "$ARCH" \
        "$BUSYBOX" || { lib_err "imgtar.py build-busybox failed"; return 1; }
    log "images: $DIND_IMAGE ($(du -m "$RUN/payload/images/dind.tar" | cut -f1) MB) and $INNER_IMAGE for $ARCH"
}

# selected NAME: the scenario was not left out with V2LAB_SCENARIOS (boot checks always run).
selected() {
    [ -z "${V2LAB_SCENARIOS:-}" ] && return 0
    [ "${1#boot}" != "$1" ] && return 0
    case " $V2LAB_SCENARIOS " in *" $1 "*) return 0 ;; esac
    return 1
}

# The rootless image (scripts/images.sh IMAGES_ROOTLESS=1) only when rootless-outer-limits runs;
# the VM gets only its layers beyond the DinD image's (a delta archive, below).
ROOTLESS=0
[ "$ARCH" = amd64 ] && [[ " $MAIN " == *" rootless-outer-limits "* ]] && selected rootless-outer-limits && ROOTLESS=1
if [ -n "${V2LAB_IMAGES:-}" ]; then
    log "images: from V2LAB_IMAGES=$V2LAB_IMAGES"
    cp "$V2LAB_IMAGES/dind.tar" "$V2LAB_IMAGES/inner.tar" "$RUN/payload/images/" || die "no dind.tar/inner.tar in $V2LAB_IMAGES"
    [ "$ROOTLESS" = 0 ] || cp "$V2LAB_IMAGES/rootless.tar" "$RUN/payload/images/" || die "no rootless.tar in $V2LAB_IMAGES"
else
    "images_$ARCH" || die "images for $SUITE/$ARCH"
fi
for f in dind.tar inner.tar $([ "$ROOTLESS" = 0 ] || echo rootless.tar); do
    [ -s "$RUN/payload/images/$f" ] || die "images: $f missing or empty"
done
[ "$ROOTLESS" = 0 ] || mv "$RUN/payload/images/rootless.tar" "$RUN/rootless.tar" || die "cannot move rootless.tar"
cp "$LABDIR"/guest-init.sh "$LABDIR"/run.sh "$LABDIR"/dockerapi.py "$LABDIR"/outer.sh "$DIND_LIB_DIR/events.py" \
    "$DIND_REPO/src/events.vocab" "$RUN/payload/lab/" || die "copy lab files"
cat >"$RUN/payload/lab/config.env" <<CFG
DIND_IMAGE='$DIND_IMAGE'
INNER_IMAGE='$INNER_IMAGE'
ROOTLESS_IMAGE='${ROOTLESS_IMAGE:-}'
SCEN_TIMEOUT=$SCEN_TIMEOUT
OUTER_ENV='${V2LAB_OUTER_ENV:-}'
ONLY='${V2LAB_SCENARIOS:-}'
MAIN='$MAIN'
LAB_ARCH='$ARCH'
LAB_SUITE='$SUITE'
EXPECT_ENGINE='$EXPECT_ENGINE'
CFG

# payload_disk: the second disk (/lab in the VM): images, lab scripts, config.
payload_disk() {
    local psize=$(( $(du -sm "$RUN/payload" | cut -f1) * 11 / 10 + 64 ))
    rm -f "$RUN/payload.img"
    mkfs.ext4 -q -F -L v2lab-payload -E root_owner=0:0 -d "$RUN/payload" "$RUN/payload.img" "${psize}M" >/dev/null ||
        { lib_err "payload disk: mkfs.ext4 failed"; return 1; }
}

# ------------------------------------------------------------------ boot and collect

PASSED=0 FAILED=0 RESULTS=() METRICS=()
fail_row() { RESULTS+=("FAIL $*"); FAILED=$((FAILED + 1)); }   # NAME (WHY)

# boot NAME EXPECTED-SCENARIOS DATA-DRIVE KERNEL-ARGS...: boot the VM once, stream its V2LAB
# lines, count the PASS/FAIL lines. Every scenario it should have run but did not report fails.
boot() {
    local name=$1 expected=$2 data=$3
    shift 3
    local console=$OUT/console-$name.log t0=$SECONDS waited=0 rc tailpid line s seen=" "
    # softlockup_panic: a guest kernel stuck in a soft lockup (seen under TCG: runc and runc init
    # spinning on both vCPUs) ends the boot at once, with the trace (loglevel=4 prints it).
    local append="console=$CONSOLE panic=1 oops=panic softlockup_panic=1 quiet loglevel=4 cgroup_no_v1=all v2lab.run=$name $* ${V2LAB_KERNEL_ARGS:-}"
    local drives=(-drive "file=$BASE_IMG,format=raw,if=virtio,snapshot=on,cache=unsafe"
        -drive "file=$RUN/payload.img,format=raw,if=virtio,readonly=on")
    [ -n "$data" ] && drives+=(-drive "$data")
    rm -f "$console"
    : >"$console"
    log "boot '$name': $QEMU ${QEMU_ARGS[*]} -smp $SMP -m $MEM, kernel $KVER, '$append' (console: $console)"
    "$QEMU" "${QEMU_ARGS[@]}" -smp "$SMP" -m "$MEM" \
        -nodefaults -display none -no-reboot -no-user-config -monitor none \
        -kernel "$KERNEL" -initrd "$INITRD" -append "$append" "${drives[@]}" \
        -serial "file:$console" </dev/null >"$OUT/qemu-$name.log" 2>&1 &
    QPID=$!
    # Follow the console: show the lab's own lines as they come.
    tail -n +1 -F --pid="$QPID" "$console" 2>/dev/null |
        sed -u -n -e 's/\r$//' -e '/V2LAB \(RESULT\|END\)/d' -e 's/^.*V2LAB \(.*\)$/  \1/p' &
    tailpid=$!
    while kill -0 "$QPID" 2>/dev/null; do
        if [ "$waited" -ge "$BOOT_TIMEOUT" ]; then
            lib_err "boot '$name': no power-off after $BOOT_TIMEOUT s (V2LAB_TIMEOUT): killing qemu"
            kill -TERM "$QPID" 2>/dev/null
            sleep 2
            kill -KILL "$QPID" 2>/dev/null
            break
        fi
        sleep 1
        waited=$((waited + 1))
    done
    wait "$QPID"
    rc=$?
    QPID=
    wait "$tailpid" 2>/dev/null
    log "boot '$name': qemu exited with status $rc after $((SECONDS - t0)) s"
    [ -s "$OUT/qemu-$name.log" ] && sed 's/^/  qemu: /' "$OUT/qemu-$name.log" >&2
    while IFS= read -r line; do
        RESULTS+=("$line")
        s=${line#* }; s=${s%% *}
        seen="$seen$s "
        if [ "${line%% *}" = PASS ]; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
    done < <(tr -d '\r' <"$console" | sed -n 's/^.*V2LAB \(\(PASS\|FAIL\) .*\)$/\1/p')
    while IFS= read -r line; do
        METRICS+=("$line")
    done < <(tr -d '\r' <"$console" | sed -n 's/^.*V2LAB METRIC \(.*\)$/\1/p')
    for s in $expected; do
        selected "$s" && [[ $seen != *" $s "* ]] && fail_row "$s (not run: the VM stopped early; see $console)"
    done
    if ! tr -d '\r' <"$console" | grep 'V2LAB END' >/dev/null; then
        lib_err "boot '$name' did not finish; last console lines:"
        tr -d '\r' <"$console" | tail -n 25 >&2
        grep -q 'soft lockup\|Kernel panic\|Oops:' "$console" &&
            fail_row "$name-kernel (the guest kernel failed: $(grep -m1 -o 'soft lockup.*\|Oops:.*\|Kernel panic.*' "$console" | tr -d '\r'); trace in $console)"
    fi
}

# ------------------------------------------------------------------ the data disk

# The VM dockerd's /var/lib/docker with the DinD image's layers already loaded (loading the 400 MB
# image under TCG takes minutes): made once per base layer; later boots attach it with
# snapshot=on and load only a delta archive (imgtar.py delta; the full archive is the fallback).
python3 "$LABDIR/imgtar.py" diffids "$RUN/payload/images/dind.tar" >"$RUN/diffids" || die "cannot read dind.tar's manifest"
# rootless.tar is the DinD image plus a few layers: the VM, which has loaded the DinD image by then,
# gets only those (a few tens of MB instead of the whole image).
if [ "$ROOTLESS" = 1 ]; then
    python3 "$LABDIR/imgtar.py" delta "$RUN/rootless.tar" "$RUN/payload/images/rootless-delta.tar" "$RUN/diffids" >"$RUN/rdelta.log" ||
        die "rootless.tar: the delta archive failed"
    log "rootless image $ROOTLESS_IMAGE: $(cat "$RUN/rdelta.log") ($(du -m "$RUN/payload/images/rootless-delta.tar" | cut -f1) MB)"
    rm -f "$RUN/rootless.tar"
fi
DATA_KEY=$(printf '%s ' "$BASE_KEY" "$(head -n 1 "$RUN/diffids")" | sha256sum | cut -c1-12)
DATA_IMG=$CACHE/docker-$DATA_KEY.img
# prep_host: the disk, loop-mounted on the host, is the data root
# of a throwaway host dockerd (overlay2 like the VM's) that loads dind.tar natively in seconds;
# the VM's dockerd finds the image there (the layout is the same on every architecture, and
# trixie's newer engine upgrades an older data root). The host's own network state is left out.
prep_host() {
    local inst=lab-prep-$ARCH-$SUITE
    local mnt=$DIND_CACHE/host-$inst rc=0 t0
    lib_install_deps >&2 || return 1
    mkdir -p "$mnt" || return 1
    mountpoint -q "$mnt" && umount "$mnt"
    mount -t ext4 -o loop "$DATA_IMG.tmp" "$mnt" || { lib_err "data disk: cannot loop-mount it"; return 1; }
    if lib_host_start "$inst"; then
        t0=$SECONDS
        DK_TIMEOUT=900 dk load -q -i "$RUN/payload/images/dind.tar" >&2 || rc=1
        log "data disk: host dockerd loaded dind.tar in $((SECONDS - t0)) s (status $rc)"
        lib_host_stop
    else
        rc=1
    fi
    rm -rf "$mnt/network" "$mnt/containers"/* 2>/dev/null
    sync
    umount "$mnt" || { lib_err "data disk: cannot unmount $mnt"; rc=1; }
    rmdir "$mnt" 2>/dev/null
    return $rc
}
if [ ! -s "$DATA_IMG" ] || [ ! -s "$DATA_IMG.layers" ]; then
    log "data disk: preparing $(basename "$DATA_IMG") (once per base layer: the full image load, on the host)"
    rm -f "$CACHE"/docker-*.img "$CACHE"/docker-*.img.layers "$CACHE"/docker-*.img.tmp
    mkfs.ext4 -q -F -L v2lab-docker "$DATA_IMG.tmp" 16G >/dev/null || die "data disk: mkfs.ext4 failed"
    prep_host || { rm -f "$DATA_IMG.tmp"; die "data disk: preparing it failed"; }
    cp "$RUN/diffids" "$DATA_IMG.layers" && mv -f "$DATA_IMG.tmp" "$DATA_IMG" || die "data disk: cannot store it"
fi
if python3 "$LABDIR/imgtar.py" delta "$RUN/payload/images/dind.tar" "$RUN/payload/images/dind-delta.tar" \
    "$DATA_IMG.layers" >"$RUN/delta.log"; then
    log "data disk $(basename "$DATA_IMG"): $(cat "$RUN/delta.log") ($(du -m "$RUN/payload/images/dind-delta.tar" | cut -f1) MB)"
else
    rm -f "$RUN/payload/images/dind-delta.tar"
    log "delta archive failed: the VM loads the full image"
fi
payload_disk || die "payload disk"
DATA_DRIVE="file=$DATA_IMG,format=raw,if=virtio,snapshot=on,cache=unsafe"
log "set-up done: kernel $KVER, disk $(basename "$BASE_IMG"), data disk $(basename "$DATA_IMG")"

boot main "boot $MAIN" "$DATA_DRIVE"
LEGACY=${V2LAB_LEGACY:-1}
[ "$ARCH" = amd64 ] && [ "$SUITE" = bookworm ] || LEGACY=${V2LAB_LEGACY:-0}
if [ "$LEGACY" != 0 ] && selected iptables-legacy; then
    boot legacy "boot-legacy iptables-legacy" "$DATA_DRIVE" modprobe.blacklist=nf_tables
fi

# Under CI=true nothing the lab covers may be left out: a deselected scenario fails.
if lib_in_ci; then
    for s in $MAIN_DEFAULT; do
        [[ " $MAIN " == *" $s "* ]] && selected "$s" ||
            fail_row "$s (left out with V2LAB_MAIN/V2LAB_SCENARIOS; CI=true: a skip is a failure)"
    done
    if [ "$ARCH" = amd64 ] && [ "$SUITE" = bookworm ] && { [ "$LEGACY" = 0 ] || ! selected iptables-legacy; }; then
        fail_row "iptables-legacy (left out with V2LAB_LEGACY=0/V2LAB_SCENARIOS; CI=true: a skip is a failure)"
    fi
fi

echo
echo "=== $TAG results ($ARCH, $SUITE, kernel $KVER, cgroup v2 only; $((SECONDS - T0)) s in all)"
for line in "${RESULTS[@]}"; do
    # "PASS name (12.3 s) note" -> lib_result PASS "name" 12.3 "note"
    st=${line%% *} rest=${line#* }
    secs=$(sed -n 's/^[^(]*(\([0-9.]*\) s).*/\1/p' <<<"$rest")
    lib_result "$st" "${rest%% *}" "${secs:-0}" "$(sed 's/^[^ ]* *//; s/^([0-9.]* s) *//' <<<"$rest")" >/dev/null
    echo "${line%% *}  ${line#* }"
done
for line in "${METRICS[@]}"; do
    echo "METRIC  $TAG $line"
done
lib_summary
