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
#   V2LAB_SUITE  bookworm (default) | trixie: the Debian suite of the VM's kernel (through a private
#                apt state), root file system and engine, and of the DinD image's base
#   V2LAB_ARCH   amd64 (default): qemu-system-x86_64 -cpu max, the images of scripts/images.sh;
#                arm64: qemu-system-aarch64 -M virt, a debootstrap --arch=arm64 root file system
#                (second stage under qemu-user-static), dind-init for aarch64-unknown-linux-musl
#                (rust-lld) and an arm64 DinD image assembled offline (v2-lab/imgtar.py)
#
# Scenarios (run.sh, in the VM; docs/V2-LAB.md says what each shows): boot, privileged, limits,
# cgroupns-host, not-pid1, field-contrast, outer-limits, rootless-outer-limits (amd64), clean-stop,
# iptables-legacy (a second boot). Output: a PASS/FAIL row per scenario (lib_result), METRIC lines,
# console logs in target/v2-lab/ARCH-SUITE/; kernel, disks and initramfs are cached under
# ${DIND_CACHE:-/var/cache/dind-init}/v2-lab/ARCH-SUITE.
#
# Environment: V2LAB_TIMEOUT (seconds per VM boot, default 1800; arm64 2700), V2LAB_TOTAL_TIMEOUT
# (whole run, default 3600), V2LAB_SCENARIO_TIMEOUT (per scenario in the VM, 300; arm64 600),
# V2LAB_MEM (MiB, 4096), V2LAB_SMP (2), V2LAB_CPU (arm64 -cpu, cortex-a72), V2LAB_TCG_THREAD=
# single|multi (amd64; trixie defaults to single), V2LAB_MAIN (the main boot's scenarios),
# V2LAB_SCENARIOS="privileged limits ..." (run only these), V2LAB_LEGACY=0 (skip boot 2),
# V2LAB_REFRESH=1 (rebuild the cached kernel, initramfs and disks), V2LAB_KERNEL_ARGS (appended to
# the VM's command line, e.g. apparmor=0), DIND_SUITE (default V2LAB_SUITE)/BASE_IMAGE/DIND_IMAGE/
# DIND_BASE_PKGS/IMAGES_INSTANCE (scripts/images.sh), DIND_BIN_ARM64 (an aarch64 dind-init instead
# of building it), CI=true (a skip, or a scenario left out, is a failure). Needs root. Never uses
# the host's /var/run/docker.sock.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD LABDIR=$PWD/scripts/v2-lab ARCH=${V2LAB_ARCH:-amd64} SUITE=${V2LAB_SUITE:-bookworm}
case "$ARCH" in
    amd64) TAG=v2-lab ;;
    arm64) TAG=arm64-lab ;;
    *) echo "v2-lab.sh: V2LAB_ARCH must be amd64 or arm64, not '$ARCH'" >&2; exit 2 ;;
esac
case "$SUITE" in
    bookworm) EXPECT_ENGINE="Docker version 20.10." ;;   # `dockerd --version` in the VM and the image
    trixie) TAG=$TAG-trixie EXPECT_ENGINE="Docker version 26.1." ;;
    *) echo "v2-lab.sh: V2LAB_SUITE must be bookworm or trixie, not '$SUITE'" >&2; exit 2 ;;
esac
# lib.sh's image names and base packages follow DIND_SUITE (V2LAB_SUITE unless given): another
# suite's images must not overwrite bookworm's dind-init/debian:test in a shared images instance.
export DIND_SUITE=${DIND_SUITE:-$SUITE} PATH=$PATH:/sbin:/usr/sbin
CALLER_DIND_IMAGE=${DIND_IMAGE:-}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$ROOT/scripts/lib.sh"
LIB_TAG=$TAG KEEP=0
for a in "$@"; do
    case "$a" in -k|--keep) KEEP=1 ;; -h|--help) lib_usage; exit 0 ;; *) echo "v2-lab.sh: unknown argument: $a (see -h)" >&2; exit 2 ;; esac
done

# The overall time-out: the script runs again under timeout(1), which kills its process group
# (qemu, debootstrap, images.sh) when the time is up; the EXIT trap still cleans up. In the
# background, so that a Ctrl-C or SIGTERM here reaches it as SIGTERM (timeout(1) has its own
# process group).
if [ -z "${V2LAB_UNDER_TIMEOUT:-}" ]; then
    export V2LAB_UNDER_TIMEOUT=1
    timeout -k 30 "${V2LAB_TOTAL_TIMEOUT:-3600}" "$0" "$@" &
    tpid=$!
    trap 'kill -TERM "$tpid" 2>/dev/null' INT TERM
    while wait "$tpid"; rc=$?; kill -0 "$tpid" 2>/dev/null; do :; done
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        lib_result FAIL "$TAG: overall time-out" "${V2LAB_TOTAL_TIMEOUT:-3600}" "V2LAB_TOTAL_TIMEOUT"
        lib_summary
        exit 1
    fi
    exit $rc
fi

LABCACHE=$DIND_CACHE/v2-lab
CACHE=$LABCACHE/$ARCH-$SUITE OUT=$ROOT/target/v2-lab/$ARCH-$SUITE
RUN=$CACHE/run IMGS=$CACHE/run/payload/images
MEM=${V2LAB_MEM:-4096} SMP=${V2LAB_SMP:-2} MIRROR=$DIND_MIRROR
VM_PKGS=docker.io,iptables,kmod,iproute2,procps,python3,ca-certificates
# trixie splits the CLI off docker.io (docker-cli, only Recommended): the DinD image needs it.
[ "$SUITE" = bookworm ] || VM_PKGS=$VM_PKGS,docker-cli
if [ "$ARCH" = amd64 ]; then
    # trixie's 6.12 kernel oopsed twice on `int3` in the scheduler (live text patching, which
    # multi-threaded TCG can expose to the other vCPU before it is complete): one TCG thread there.
    TCG_THREAD=${V2LAB_TCG_THREAD:-$([ "$SUITE" = bookworm ] && echo multi || echo single)}
    QEMU=qemu-system-x86_64 QEMU_PKG=qemu-system-x86 CONSOLE=ttyS0
    # shellcheck disable=SC2054 # qemu's comma-separated suboptions
    QEMU_ARGS=(-accel "tcg,thread=$TCG_THREAD" -cpu max)
    INITRD_MODS="virtio_pci virtio_blk ?crc32c_generic ?crc32c_intel ext4"   # ?: optional
    # outer-limits (60 s under TCG) only on request: cgroupns-host shows an inner container below
    # the outer one with its limits already; trixie: what its engine and kernel change.
    # rootless-outer-limits: a rootless dockerd's inner containers bounded by the outer --pids-limit.
    MAIN_DEFAULT="privileged limits cgroupns-host not-pid1 field-contrast rootless-outer-limits clean-stop"
    [ "$SUITE" = bookworm ] || MAIN_DEFAULT="privileged limits cgroupns-host clean-stop"
    BOOT_TIMEOUT=${V2LAB_TIMEOUT:-1800} SCEN_TIMEOUT=${V2LAB_SCENARIO_TIMEOUT:-300}
else
    QEMU=qemu-system-aarch64 QEMU_PKG=qemu-system-arm CONSOLE=ttyAMA0 RUST_TARGET=aarch64-unknown-linux-musl
    # shellcheck disable=SC2054 # qemu's comma-separated suboptions
    QEMU_ARGS=(-M virt -accel tcg,thread=multi -cpu "${V2LAB_CPU:-cortex-a72}")
    INITRD_MODS="?virtio_pci ?virtio_mmio virtio_blk ?crc32c_generic ?crc32c-arm64 ?crc32c_arm64 ext4"
    MAIN_DEFAULT="privileged outer-limits clean-stop"
    BOOT_TIMEOUT=${V2LAB_TIMEOUT:-2700} SCEN_TIMEOUT=${V2LAB_SCENARIO_TIMEOUT:-600}
    DIND_IMAGE=${CALLER_DIND_IMAGE:-dind-init/debian:test-$ARCH$([ "$SUITE" = bookworm ] || echo "-$SUITE")}
fi
MAIN=${V2LAB_MAIN:-$MAIN_DEFAULT}
BUILD_VERSION=4   # bump when the way the disk or the initramfs is built changes (a new cache)
T0=$SECONDS

log() { echo "[$TAG +$((SECONDS - T0))s] $*" >&2; }
# skip: the lab cannot run here (a failure under CI=true, lib_result)
skip() { lib_result SKIP "$TAG" 0 "$*"; lib_summary; exit; }
die() { lib_err "$*"; lib_result FAIL "$TAG set-up" "$((SECONDS - T0))" "$*"; lib_summary; exit 1; }
# tail_err N FILE MESSAGE: MESSAGE and FILE's last N lines, on stderr; fails
tail_err() { lib_err "$3"; tail -n "$1" "$2" >&2; return 1; }

lib_is_root || skip "needs root (debootstrap, mkfs.ext4 -d of a root file system)"
[ "$(uname -m)" = x86_64 ] || skip "needs an x86_64 host"

# waited CMD...: CMD in the background, waited for: a TERM/INT reaches this script's traps at once
# (bash runs a trap only after a foreground command ends), and cleanup ends CMD (the long steps,
# run under their own timeout(1), which the overall time-out's group kill cannot reach).
QPID='' CHILD=''
waited() { local rc; "$@" & CHILD=$!; wait "$CHILD"; rc=$?; CHILD=; return $rc; }
cleanup() {
    [ -n "$CHILD" ] && kill -TERM "$CHILD" 2>/dev/null && wait "$CHILD" 2>/dev/null
    [ -n "$QPID" ] && kill -TERM "$QPID" 2>/dev/null && sleep 1 && kill -KILL "$QPID" 2>/dev/null
    if [ -n "${DIND_HOST_PID:-}" ]; then lib_host_stop; fi   # an interrupted prep_host
    mountpoint -q "$DIND_CACHE/host-lab-prep-$ARCH-$SUITE" 2>/dev/null && umount "$DIND_CACHE/host-lab-prep-$ARCH-$SUITE"
    [ "$KEEP" = 1 ] || rm -rf "$RUN"
}
lib_traps cleanup

mkdir -p "$CACHE" "$OUT" || die "cannot create $CACHE and $OUT"
exec {LOCKFD}>"$CACHE/lock"
flock -w 1200 "$LOCKFD" || die "another $TAG run holds $CACHE/lock"

# ------------------------------------------------------------------ host packages

deps() {
    local want=() c had_qemu_img=
    for c in "$QEMU=$QEMU_PKG" debootstrap=debootstrap mkfs.ext4=e2fsprogs dpkg-deb=dpkg depmod=kmod \
        flock=util-linux python3=python3 xz=xz-utils $([ "$ARCH" = amd64 ] ||
        echo qemu-aarch64-static=qemu-user-static update-binfmts=binfmt-support busybox=busybox-static); do
        command -v "${c%%=*}" >/dev/null || want+=("${c#*=}")
    done
    [ -s /usr/share/keyrings/debian-archive-keyring.gpg ] || want+=(debian-archive-keyring)
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
APTDIR=$LABCACHE/apt-$SUITE-$ARCH APT_UPDATED=
APT_OPTS=(-o "Dir::Etc::sourcelist=$APTDIR/sources.list" -o "Dir::Etc::sourceparts=$APTDIR/empty"
    -o "Dir::Etc::preferences=$APTDIR/empty/none" -o "Dir::Etc::preferencesparts=$APTDIR/empty"
    -o "Dir::State::Lists=$APTDIR/lists" -o "Dir::Cache=$APTDIR/cache" -o "Dir::State::status=$APTDIR/status"
    -o "APT::Architecture=$ARCH" -o "APT::Architectures::=$ARCH" -o APT::Sandbox::User=root
    -o Debug::NoLocking=1 -o Acquire::Languages=none -o Acquire::Retries=3)
lab_apt_update() {
    [ -n "$APT_UPDATED" ] && return 0
    mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/empty" || return 1
    : >"$APTDIR/status"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE main" >"$APTDIR/sources.list"
    log "apt ($SUITE/$ARCH, private state $APTDIR): update"
    timeout 600 apt-get "${APT_OPTS[@]}" -qq update >"$APTDIR/update.log" 2>&1 ||
        tail_err 10 "$APTDIR/update.log" "apt-get update for $SUITE/$ARCH failed:" || return 1
    APT_UPDATED=1
}
# lab_apt_extract PKG DIR: PKG's .deb for SUITE/ARCH unpacked into DIR (the .deb in DIR/deb).
lab_apt_extract() {
    lab_apt_update && mkdir -p "$2/deb" || return 1
    (cd "$2/deb" && timeout 900 apt-get "${APT_OPTS[@]}" -qq download "$1" >/dev/null 2>"$APTDIR/download.log") ||
        tail_err 5 "$APTDIR/download.log" "apt-get download $1 ($SUITE/$ARCH) failed:" || return 1
    dpkg-deb -x "$2/deb"/*.deb "$2"
}

# ------------------------------------------------------------------ kernel + initramfs

[ "${V2LAB_REFRESH:-0}" = 1 ] && { log "V2LAB_REFRESH=1: dropping the cached kernel, initramfs and disks"; rm -rf "$CACHE/kernel" "$CACHE"/initrd-*.img "$CACHE"/base-*.img "$CACHE"/docker-*.img* "$CACHE"/rootfs-*.tar*; }

# kernel: $CACHE/kernel/{vmlinuz,KVER,root/lib/modules/KVER}: linux-image-ARCH (SUITE) resolved to
# the current ABI package once, then reused (warm runs need no network); depmod -b adds modules.dep.
kernel() {
    local k=$CACHE/kernel pkg tmp=$CACHE/kernel.tmp m mods=
    KVER=$(cat "$k/KVER" 2>/dev/null)
    [ -s "$k/vmlinuz" ] && [ -n "$KVER" ] && [ -s "$k/root/lib/modules/$KVER/modules.dep" ] && return 0
    lab_apt_update || return 1
    pkg=$(apt-cache "${APT_OPTS[@]}" depends "linux-image-$ARCH" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    [ -n "$pkg" ] || { lib_err "cannot resolve linux-image-$ARCH in $SUITE"; return 1; }
    log "kernel: $pkg ($SUITE/$ARCH) from $MIRROR"
    rm -rf "$k" "$tmp"
    lab_apt_extract "$pkg" "$tmp/x" || return 1
    KVER=${pkg#linux-image-}
    for m in "$tmp/x/lib/modules/$KVER" "$tmp/x/usr/lib/modules/$KVER" "$tmp"/x/lib/modules/* "$tmp"/x/usr/lib/modules/*; do
        [ -d "$m" ] && { mods=$m KVER=$(basename "$m"); break; }   # trixie: merged /usr in the package
    done
    mkdir -p "$tmp/root/lib/modules" || return 1
    mv "$tmp/x/boot/vmlinuz-$KVER" "$tmp/vmlinuz" && mv "$mods" "$tmp/root/lib/modules/$KVER" || return 1
    depmod -b "$tmp/root" "$KVER" || { lib_err "depmod -b failed"; return 1; }
    rm -rf "$tmp/x" && echo "$KVER" >"$tmp/KVER" && mv "$tmp" "$k"
}
kernel || die "kernel download failed"
KERNEL=$CACHE/kernel/vmlinuz MODDIR=$CACHE/kernel/root/lib/modules/$KVER

BUSYBOX=$CACHE/busybox/bin/busybox   # for the initramfs and the inner image
busybox_static() {
    local d=$CACHE/busybox b
    [ -s "$BUSYBOX" ] && return 0
    log "busybox: busybox-static ($SUITE/$ARCH), for the initramfs and the inner image"
    rm -rf "$d" "$d.tmp"
    lab_apt_extract busybox-static "$d.tmp" || { rm -rf "$d.tmp"; return 1; }
    for b in "$d.tmp/bin/busybox" "$d.tmp/usr/bin/busybox"; do [ -s "$b" ] && break; done
    mkdir -p "$d/bin" && mv "$b" "$BUSYBOX" && rm -rf "$d.tmp"
}
busybox_static || die "busybox-static download failed"
# A host-arch busybox for cpio (the VM's may be arm64).
HOST_BUSYBOX=$BUSYBOX
[ "$ARCH" = amd64 ] || HOST_BUSYBOX=$(command -v busybox || echo /bin/busybox)
"$HOST_BUSYBOX" --list 2>/dev/null | grep -x cpio >/dev/null || die "$HOST_BUSYBOX cannot run cpio (install busybox-static)"

# The initramfs: static busybox, the modules to reach an ext4 root on virtio-blk (with their
# dependencies, modprobe --show-depends; ?NAME: optional, a built-in NAME needs nothing; trixie's
# .ko.xz unpacked for busybox insmod), and v2-lab/initramfs-init as /init.
INITRD=$CACHE/initrd-$KVER-v$BUILD_VERSION-$(sha256sum <"$LABDIR/initramfs-init" | cut -c1-8).img
initramfs() {
    [ -s "$INITRD" ] && return 0
    log "initramfs: busybox + virtio-blk/ext4 modules for $KVER"
    local d m rc
    d=$(mktemp -d "$CACHE/initramfs.XXXXXX") || return 1
    (
        set -e
        mkdir -p "$d"/{bin,modules,proc,sys,dev,newroot}
        cp "$BUSYBOX" "$d/bin/busybox" && ln -s busybox "$d/bin/sh"
        install -m 0755 "$LABDIR/initramfs-init" "$d/init"
        for m in $INITRD_MODS; do
            modprobe -d "$CACHE/kernel/root" -S "$KVER" --show-depends "${m#\?}" 2>/dev/null ||
                [ "${m#\?}" != "$m" ] || { lib_err "no module $m"; exit 1; }
        done | awk '$1 == "insmod" && !seen[$2]++ { sub(".*/lib/modules/[^/]*/", "", $2); print $2 }' >"$d/mods"
        : >"$d/modules/order"
        while read -r m; do
            cp "$MODDIR/$m" "$d/modules/"
            m=$(basename "$m")
            [ "${m%.xz}" = "$m" ] || xz -d "$d/modules/$m"
            echo "${m%.xz}" >>"$d/modules/order"
        done <"$d/mods"
        rm "$d/mods"
        cd "$d" && find . | "$HOST_BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -1 >"$INITRD.tmp"
    ) && rm -f "$CACHE"/initrd-*.img && mv -f "$INITRD.tmp" "$INITRD"
    rc=$?
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

base_disk() {
    [ -s "$BASE_IMG" ] && { [ "$ARCH" = amd64 ] || [ -s "$ROOTFS_TAR.sha256" ]; } && return 0
    local root=$CACHE/rootfs.tmp t0=$SECONDS log=$CACHE/debootstrap.log size
    # what an interrupted debootstrap left mounted there (proc, sys), before rm -rf
    awk -v d="$root/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf "$root" && mkdir -p "$root" || return 1
    if [ -s "$ROOTFS_TAR.sha256" ]; then
        log "VM rootfs: from $(basename "$ROOTFS_TAR")"
        tar --numeric-owner -xpf "$ROOTFS_TAR" -C "$root" || return 1
    else
        # debootstrap --variant=minbase --include=VM_PKGS SUITE for ARCH; foreign architectures in
        # two stages, the second under qemu-user (binfmt).
        local args=(--variant=minbase --include="$VM_PKGS" --arch="$ARCH")
        [ "$ARCH" = amd64 ] || { lib_arm64_emulation || return 1; args+=(--foreign); }
        log "VM rootfs: debootstrap ${args[*]} $SUITE (once, a few minutes)"
        waited timeout 1800 debootstrap "${args[@]}" "$SUITE" "$root" "$MIRROR" >"$log" 2>&1 ||
            tail_err 20 "$log" "debootstrap failed; last lines of $log:" || return 1
        if [ "$ARCH" != amd64 ]; then
            log "VM rootfs: debootstrap --second-stage under qemu-aarch64 (binfmt) after $((SECONDS - t0)) s"
            # No fsync per file while dpkg unpacks a throwaway tree: the slowest step of a cold arm64 run.
            mkdir -p "$root/etc/dpkg/dpkg.cfg.d" && echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/v2lab-unsafe-io"
            waited timeout 2400 chroot "$root" /debootstrap/debootstrap --second-stage >>"$log" 2>&1 ||
                tail_err 20 "$log" "debootstrap --second-stage failed; last lines of $log:" || return 1
        fi
        rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
        rm -f "$root/etc/hostname" "$root/etc/resolv.conf" "$root/etc/dpkg/dpkg.cfg.d/v2lab-unsafe-io"
        log "VM rootfs: done in $((SECONDS - t0)) s"
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
    mkdir -p "$root/lab" "$root/lib/modules" && cp -a "$MODDIR" "$root/lib/modules/" || return 1
    # Room for the outer daemon's images and the inner daemons' data (the file is sparse).
    size=$(($(du -sm "$root" | cut -f1) + 6144))
    log "VM disk: mkfs.ext4 -d (${size} MiB)"
    rm -f "$BASE_IMG.tmp"
    mkfs.ext4 -q -F -L v2lab-root -E root_owner=0:0 -d "$root" "$BASE_IMG.tmp" "${size}M" >/dev/null ||
        { rm -rf "$root" "$BASE_IMG.tmp"; return 1; }
    rm -rf "$root" "$CACHE"/base-*.img
    mv -f "$BASE_IMG.tmp" "$BASE_IMG"
}
base_disk || die "VM disk build failed"

# ------------------------------------------------------------------ the images and the payload disk

rm -rf "$RUN" && mkdir -p "$IMGS" "$RUN/payload/lab" || die "cannot create $RUN"

# amd64: scripts/images.sh save, the images e2e.sh tests, built from a DIND_SUITE base.
images_amd64() {
    log "images: scripts/images.sh save (DIND_SUITE=$DIND_SUITE DIND_IMAGE=$DIND_IMAGE${IMAGES_INSTANCE:+ IMAGES_INSTANCE=$IMAGES_INSTANCE})"
    waited timeout 2400 env DIND_IMAGE="$DIND_IMAGE" INNER_IMAGE="$INNER_IMAGE" BASE_IMAGE="$BASE_IMAGE" \
        DIND_BASE_PKGS="$DIND_BASE_PKGS" ROOTLESS_IMAGE="$ROOTLESS_IMAGE" IMAGES_ROOTLESS="$([ "$ROOTLESS" = 1 ] && echo 1)" \
        "$ROOT/scripts/images.sh" save "$IMGS" >"$OUT/images.log" 2>&1 ||
        tail_err 30 "$OUT/images.log" "scripts/images.sh save failed (log: $OUT/images.log)"
}

# arm64: dind-init for aarch64-unknown-linux-musl linked by rust-lld (rustup's, no C cross
# toolchain), and the images put together without a daemon (imgtar.py): DIND_IMAGE = the
# debootstrap tarball + dind-init with debian.Dockerfile's settings; INNER_IMAGE = busybox-static.
images_arm64() {
    local bin=${DIND_BIN_ARM64:-$ROOT/target/$RUST_TARGET/release/dind-init}
    if [ -z "${DIND_BIN_ARM64:-}" ]; then
        lib_toolchain || return 1
        log "cargo build --release --target $RUST_TARGET (linker rust-lld)"
        CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld cargo build --release --locked -q --target "$RUST_TARGET" >&2 ||
            { lib_err "cargo build for $RUST_TARGET failed"; return 1; }
    fi
    [ "$(od -An -tx1 -j18 -N2 "$bin" 2>/dev/null | tr -d ' ')" = b700 ] || { lib_err "$bin is not an aarch64 executable"; return 1; }
    log "dind-init for $RUST_TARGET: $(stat -c %s "$bin") bytes"
    python3 "$LABDIR/imgtar.py" build-dind "$IMGS/dind.tar" "$DIND_IMAGE" "$ARCH" \
        "$ROOTFS_TAR" "$(cat "$ROOTFS_TAR.sha256")" "$bin" || { lib_err "imgtar.py build-dind failed"; return 1; }
    python3 "$LABDIR/imgtar.py" build-busybox "$IMGS/inner.tar" "$INNER_IMAGE" "$ARCH" \
        "$BUSYBOX" || { lib_err "imgtar.py build-busybox failed"; return 1; }
    log "images: $DIND_IMAGE ($(du -m "$IMGS/dind.tar" | cut -f1) MB) and $INNER_IMAGE for $ARCH"
}

# selected NAME: the scenario was not left out with V2LAB_SCENARIOS (boot checks always run).
selected() { [ -z "${V2LAB_SCENARIOS:-}" ] || [ "${1#boot}" != "$1" ] || [[ " $V2LAB_SCENARIOS " == *" $1 "* ]]; }

# The rootless image (scripts/images.sh IMAGES_ROOTLESS=1) only when rootless-outer-limits runs;
# the VM gets only its layers beyond the DinD image's (a delta archive, below).
ROOTLESS=0
[ "$ARCH" = amd64 ] && [[ " $MAIN " == *" rootless-outer-limits "* ]] && selected rootless-outer-limits && ROOTLESS=1
TARS="dind.tar inner.tar$([ "$ROOTLESS" = 0 ] || echo " rootless.tar")"
"images_$ARCH" || die "images for $SUITE/$ARCH"
for f in $TARS; do [ -s "$IMGS/$f" ] || die "images: $f missing or empty"; done
cp "$LABDIR"/guest-init.sh "$LABDIR"/run.sh "$LABDIR"/dockerapi.py "$LABDIR"/outer.sh "$DIND_LIB_DIR/events.py" \
    "$DIND_REPO/src/events.vocab" "$RUN/payload/lab/" || die "copy lab files"
V2LAB_SCENARIOS=${V2LAB_SCENARIOS:-}
declare -p DIND_IMAGE INNER_IMAGE ROOTLESS_IMAGE SCEN_TIMEOUT MAIN ARCH SUITE EXPECT_ENGINE V2LAB_SCENARIOS \
    >"$RUN/payload/lab/config.env" || die "cannot write config.env"

# ------------------------------------------------------------------ the data disk

# The VM dockerd's /var/lib/docker with the DinD image's layers already loaded (loading the 400 MB
# image under TCG takes minutes): made once per base layer; later boots attach it with
# snapshot=on and load only a delta archive (imgtar.py delta; the full archive is the fallback).
# delta NAME LAYERS: IMGS/NAME-delta.tar, NAME.tar without the layers listed in LAYERS
delta() {
    python3 "$LABDIR/imgtar.py" delta "$IMGS/$1.tar" "$IMGS/$1-delta.tar" "$2" >"$RUN/$1-delta.log" &&
        log "$1.tar: $(cat "$RUN/$1-delta.log") ($(du -m "$IMGS/$1-delta.tar" | cut -f1) MB)"
}
python3 "$LABDIR/imgtar.py" diffids "$IMGS/dind.tar" >"$RUN/diffids" || die "cannot read dind.tar's manifest"
# rootless.tar is the DinD image plus a few layers: the VM, which has loaded the DinD image by then,
# gets only those (a few tens of MB instead of the whole image).
if [ "$ROOTLESS" = 1 ]; then
    delta rootless "$RUN/diffids" && rm "$IMGS/rootless.tar" || die "rootless.tar: the delta archive failed"
fi
DATA_KEY=$(printf '%s ' "$BASE_KEY" "$(head -n 1 "$RUN/diffids")" | sha256sum | cut -c1-12)
DATA_IMG=$CACHE/docker-$DATA_KEY.img
# prep_host: the disk, loop-mounted on the host, is the data root of a throwaway host dockerd
# (overlay2 like the VM's) that loads dind.tar natively in seconds; the VM's dockerd finds the
# image there (the layout is the same on every architecture, and trixie's newer engine upgrades
# an older data root). The host's own network state is left out.
prep_host() {
    local inst=lab-prep-$ARCH-$SUITE
    local mnt=$DIND_CACHE/host-$inst rc=1 t0=$SECONDS
    lib_install_deps >&2 && mkdir -p "$mnt" || return 1
    mountpoint -q "$mnt" && umount "$mnt"
    mount -t ext4 -o loop "$DATA_IMG.tmp" "$mnt" || { lib_err "data disk: cannot loop-mount it"; return 1; }
    if lib_host_start "$inst"; then
        DK_TIMEOUT=900 dk load -q -i "$IMGS/dind.tar" >&2 && rc=0
        log "data disk: host dockerd loaded dind.tar in $((SECONDS - t0)) s (status $rc)"
        lib_host_stop
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
delta dind "$DATA_IMG.layers" || { rm -f "$IMGS/dind-delta.tar"; log "delta archive failed: the VM loads the full image"; }
# The payload disk (/lab in the VM): images, lab scripts, config.
mkfs.ext4 -q -F -L v2lab-payload -E root_owner=0:0 -d "$RUN/payload" "$RUN/payload.img" \
    "$(($(du -sm "$RUN/payload" | cut -f1) * 11 / 10 + 64))M" >/dev/null || die "payload disk: mkfs.ext4 failed"
log "set-up done: kernel $KVER, disk $(basename "$BASE_IMG"), data disk $(basename "$DATA_IMG")"

# ------------------------------------------------------------------ boot and collect

RESULTS=()
fail_row() { RESULTS+=("FAIL $*"); }   # NAME (WHY)

# boot NAME EXPECTED-SCENARIOS KERNEL-ARGS...: boot the VM once, stream its V2LAB lines, collect
# the PASS/FAIL lines. Every scenario it should have run but did not report fails.
boot() {
    local name=$1 expected=$2 console=$OUT/console-$1.log t0=$SECONDS rc tailpid s
    shift 2
    # softlockup_panic: a guest kernel stuck in a soft lockup (seen under TCG: runc and runc init
    # spinning on both vCPUs) ends the boot at once, with the trace (loglevel=4 prints it).
    local append="console=$CONSOLE panic=1 oops=panic softlockup_panic=1 quiet loglevel=4 cgroup_no_v1=all v2lab.run=$name $* ${V2LAB_KERNEL_ARGS:-}"
    : >"$console"
    log "boot '$name': $QEMU ${QEMU_ARGS[*]} -smp $SMP -m $MEM, kernel $KVER, '$append' (console: $console)"
    "$QEMU" "${QEMU_ARGS[@]}" -smp "$SMP" -m "$MEM" -nodefaults -display none -no-reboot -no-user-config \
        -monitor none -kernel "$KERNEL" -initrd "$INITRD" -append "$append" \
        -drive "file=$BASE_IMG,format=raw,if=virtio,snapshot=on,cache=unsafe" \
        -drive "file=$RUN/payload.img,format=raw,if=virtio,readonly=on" \
        -drive "file=$DATA_IMG,format=raw,if=virtio,snapshot=on,cache=unsafe" \
        -serial "file:$console" </dev/null >"$OUT/qemu-$name.log" 2>&1 &
    QPID=$!
    # Follow the console: show the lab's own lines as they come.
    tail -n +1 -F --pid="$QPID" "$console" 2>/dev/null |
        sed -u -n -e 's/\r$//' -e '/V2LAB \(RESULT\|END\)/d' -e 's/^.*V2LAB \(.*\)$/  \1/p' &
    tailpid=$!
    if ! lib_retry "$BOOT_TIMEOUT" 1 lib_dead "$QPID"; then
        lib_err "boot '$name': no power-off after $BOOT_TIMEOUT s (V2LAB_TIMEOUT): killing qemu"
        kill -TERM "$QPID" 2>/dev/null
        sleep 2
        kill -KILL "$QPID" 2>/dev/null
    fi
    wait "$QPID"
    rc=$?
    QPID=
    wait "$tailpid" 2>/dev/null
    log "boot '$name': qemu exited with status $rc after $((SECONDS - t0)) s"
    [ -s "$OUT/qemu-$name.log" ] && sed 's/^/  qemu: /' "$OUT/qemu-$name.log" >&2
    tr -d '\r' <"$console" >"$console.txt"
    mapfile -t -O "${#RESULTS[@]}" RESULTS < <(sed -n 's/^.*V2LAB \(\(PASS\|FAIL\) .*\)$/\1/p' "$console.txt")
    mapfile -t -O "${#METRICS[@]}" METRICS < <(sed -n 's/^.*V2LAB METRIC \(.*\)$/\1/p' "$console.txt")
    for s in $expected; do
        selected "$s" && ! grep -q "^.*V2LAB \(PASS\|FAIL\) $s " "$console.txt" &&
            fail_row "$s (not run: the VM stopped early; see $console)"
    done
    if ! grep -q 'V2LAB END' "$console.txt"; then
        lib_err "boot '$name' did not finish; last console lines:"
        tail -n 25 "$console.txt" >&2
        s=$(grep -m1 -o 'soft lockup.*\|Oops:.*\|Kernel panic.*' "$console.txt") &&
            fail_row "$name-kernel (the guest kernel failed: $s; trace in $console)"
    fi
    rm -f "$console.txt"
}

METRICS=()
boot main "boot $MAIN"
LEGACY=${V2LAB_LEGACY:-$([ "$TAG" = v2-lab ] && echo 1 || echo 0)}
[ "$LEGACY" != 0 ] && selected iptables-legacy && boot legacy "boot-legacy iptables-legacy" modprobe.blacklist=nf_tables

# Under CI=true nothing the lab covers may be left out: a deselected scenario fails.
if lib_in_ci; then
    for s in $MAIN_DEFAULT; do
        [[ " $MAIN " == *" $s "* ]] && selected "$s" ||
            fail_row "$s (left out with V2LAB_MAIN/V2LAB_SCENARIOS; CI=true: a skip is a failure)"
    done
    [ "$TAG" = v2-lab ] && { [ "$LEGACY" = 0 ] || ! selected iptables-legacy; } &&
        fail_row "iptables-legacy (left out with V2LAB_LEGACY=0/V2LAB_SCENARIOS; CI=true: a skip is a failure)"
fi

echo
echo "=== $TAG results ($ARCH, $SUITE, kernel $KVER, cgroup v2 only; $((SECONDS - T0)) s in all)"
for line in "${RESULTS[@]}"; do
    # "PASS name (12.3 s) note" -> lib_result PASS "name" 12.3 "note"
    st=${line%% *} rest=${line#* }
    secs=$(sed -n 's/^[^(]*(\([0-9.]*\) s).*/\1/p' <<<"$rest")
    lib_result "$st" "${rest%% *}" "${secs:-0}" "$(sed 's/^[^ ]* *//; s/^([0-9.]* s) *//' <<<"$rest")" >/dev/null
    echo "$st  $rest"
done
for line in "${METRICS[@]}"; do echo "METRIC  $TAG $line"; done
lib_summary
