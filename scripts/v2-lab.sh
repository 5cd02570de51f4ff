#!/usr/bin/env bash
# The cgroup v2 labs: dind-init on a pure unified cgroup hierarchy, in a qemu VM (TCG, no KVM).
# Owns: the qemu VM lab (cgroup v2, arm64): kernel, initramfs, disks; v2-lab/ runs inside the VM.
# docs/V2-LAB.md: what each scenario shows, how the lab is built, timings, findings.
#
#   sudo scripts/v2-lab.sh                     # amd64, bookworm (tag v2-lab)
#   sudo V2LAB_SUITE=trixie scripts/v2-lab.sh  # amd64, trixie's kernel/engine/image (v2-lab-trixie)
#   sudo V2LAB_ARCH=arm64 scripts/v2-lab.sh    # arm64 VM, bookworm (arm64-lab)
#   sudo scripts/v2-lab.sh -k                  # keep the run directory (images, data disk)
#
# Output: a PASS/FAIL row per scenario of run.sh (in the VM), METRIC lines; console logs in
# target/v2-lab/ARCH-SUITE/, the VM's kernel and disks cached in $DIND_CACHE/v2-lab/ARCH-SUITE.
# Environment: V2LAB_TIMEOUT (seconds per VM boot, 1800; arm64 2700), V2LAB_TOTAL_TIMEOUT (3600),
# V2LAB_SCENARIO_TIMEOUT (per container, 300; arm64 600), V2LAB_TCG_THREAD=single|multi (amd64;
# trixie: single), V2LAB_CPU (arm64 -cpu, cortex-a72), V2LAB_SCENARIOS="privileged limits ..."
# (only these; iptables-legacy is a boot of its own), scripts/images.sh's variables (DIND_SUITE:
# V2LAB_SUITE), DIND_BIN_ARM64 (an aarch64 dind-init instead of building it), CI=true (a skip, or
# a scenario left out, is a failure). Needs root.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD LABDIR=$PWD/scripts/v2-lab ARCH=${V2LAB_ARCH:-amd64} SUITE=${V2LAB_SUITE:-bookworm}
VM_PKGS=docker.io,iptables,kmod,iproute2,procps,python3,ca-certificates
case "$SUITE" in   # EXPECT_ENGINE: `dockerd --version` in the VM and the image
    bookworm) EXPECT_ENGINE="Docker version 20.10." ;;
    trixie) EXPECT_ENGINE="Docker version 26.1." VM_PKGS+=,docker-cli ;;   # only Recommended
    *) echo "v2-lab.sh: V2LAB_SUITE must be bookworm or trixie, not '$SUITE'" >&2; exit 2 ;;
esac
# shellcheck disable=SC2054 # qemu's comma-separated suboptions
case "$ARCH" in
amd64)
    TAG=v2-lab QEMU=qemu-system-x86_64 QEMU_PKG=qemu-system-x86 CONSOLE=ttyS0
    # trixie's 6.12 kernel oopsed on `int3` under multi-threaded TCG (docs/V2-LAB.md, Findings).
    TCG_THREAD=${V2LAB_TCG_THREAD:-$([ "$SUITE" = bookworm ] && echo multi || echo single)}
    QEMU_ARGS=(-accel "tcg,thread=$TCG_THREAD" -cpu max)
    INITRD_MODS="virtio_pci virtio_blk ?crc32c_generic ?crc32c_intel"   # ?: optional
    SCENARIOS="privileged limits cgroupns-host not-pid1 field-contrast rootless-outer-limits"
    SCENARIOS+=" clean-stop iptables-legacy"
    [ "$SUITE" = bookworm ] || SCENARIOS="privileged limits cgroupns-host clean-stop"
    BOOT_TIMEOUT=${V2LAB_TIMEOUT:-1800} SCEN_TIMEOUT=${V2LAB_SCENARIO_TIMEOUT:-300}
    ;;
arm64)
    TAG=arm64-lab QEMU=qemu-system-aarch64 QEMU_PKG=qemu-system-arm CONSOLE=ttyAMA0
    QEMU_ARGS=(-M virt -accel tcg,thread=multi -cpu "${V2LAB_CPU:-cortex-a72}")
    INITRD_MODS="?virtio_pci ?virtio_mmio virtio_blk ?crc32c_generic ?crc32c-arm64 ?crc32c_arm64"
    SCENARIOS="privileged outer-limits clean-stop"
    BOOT_TIMEOUT=${V2LAB_TIMEOUT:-2700} SCEN_TIMEOUT=${V2LAB_SCENARIO_TIMEOUT:-600}
    RUST_TARGET=aarch64-unknown-linux-musl
    # set before lib.sh, which keeps a DIND_IMAGE it finds
    DIND_IMAGE=${DIND_IMAGE:-dind-init/debian:test-$ARCH$([ "$SUITE" = bookworm ] || echo -trixie)}
    ;;
*) echo "v2-lab.sh: V2LAB_ARCH must be amd64 or arm64, not '$ARCH'" >&2; exit 2 ;;
esac
[ "$SUITE" = bookworm ] || TAG+=-$SUITE
# lib.sh names the images after DIND_SUITE: trixie's must not overwrite bookworm's.
export DIND_SUITE=${DIND_SUITE:-$SUITE} PATH=$PATH:/sbin:/usr/sbin
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$ROOT/scripts/lib.sh"
LIB_TAG=$TAG KEEP=0
lib_args "-k --keep" "$@"
[ $# = 0 ] || KEEP=1

# The overall time-out: the script again under timeout(1), in the background so that a Ctrl-C or
# SIGTERM reaches it (timeout(1) has its own process group, which it kills).
if [ -z "${V2LAB_UNDER_TIMEOUT:-}" ]; then
    export V2LAB_UNDER_TIMEOUT=1
    timeout -k 30 "${V2LAB_TOTAL_TIMEOUT:-3600}" "$0" "$@" &
    tpid=$!
    trap 'kill -TERM "$tpid" 2>/dev/null' INT TERM
    while wait "$tpid"; rc=$?; kill -0 "$tpid" 2>/dev/null; do :; done
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        lib_result FAIL "$TAG: overall time-out" "${V2LAB_TOTAL_TIMEOUT:-3600}" V2LAB_TOTAL_TIMEOUT
        lib_summary
        exit 1
    fi
    exit $rc
fi

LABCACHE=$DIND_CACHE/v2-lab
CACHE=$LABCACHE/$ARCH-$SUITE OUT=$ROOT/target/v2-lab/$ARCH-$SUITE
RUN=$CACHE/run IMGS=$RUN/share/images MIRROR=$DIND_MIRROR
INITRD_MODS+=" ext4 9p 9pnet_virtio"
BUILD_VERSION=5   # bump when the way the disk or the initramfs is built changes (a new cache)
T0=$SECONDS

log() { echo "[$TAG +$((SECONDS - T0))s] $*" >&2; }
skip() { lib_result SKIP "$TAG" 0 "$*"; lib_summary; exit; }
die() { lib_err "$*"; lib_result FAIL "$TAG set-up" "$((SECONDS - T0))" "$*"; lib_summary; exit 1; }
# tail_err N FILE MESSAGE: MESSAGE and FILE's last N lines, on stderr; fails
tail_err() { lib_err "$3"; tail -n "$1" "$2" >&2; return 1; }

lib_is_root || skip "needs root (debootstrap, loop mounts)"
[ "$(uname -m)" = x86_64 ] || skip "needs an x86_64 host"

# waited CMD...: CMD in the background, waited for, so that a TERM/INT runs the traps at once and
# cleanup ends CMD (its own timeout(1) puts it out of reach of the overall time-out's group kill).
CHILD=
waited() { local rc; "$@" & CHILD=$!; wait "$CHILD"; rc=$?; CHILD=; return $rc; }
cleanup() {
    [ -n "$CHILD" ] && kill -TERM "$CHILD" 2>/dev/null && wait "$CHILD" 2>/dev/null
    if [ -n "${DIND_HOST_PID:-}" ]; then lib_host_stop; fi   # an interrupted prep_host
    mountpoint -q "$PREP_MNT" 2>/dev/null && umount "$PREP_MNT"
    [ "$KEEP" = 1 ] || rm -rf "$RUN"
}
PREP_MNT=$DIND_CACHE/host-lab-prep-$ARCH-$SUITE
lib_traps cleanup

mkdir -p "$CACHE" "$OUT" || die "cannot create $CACHE and $OUT"
exec {LOCKFD}>"$CACHE/lock"
flock -w 1200 "$LOCKFD" || die "another $TAG run holds $CACHE/lock"

deps() {   # lib_install_deps: debootstrap, python3, a static /bin/busybox, the host dockerd
    local want=() c had_qemu_img=
    for c in "$QEMU=$QEMU_PKG" mkfs.ext4=e2fsprogs depmod=kmod xz=xz-utils; do
        command -v "${c%%=*}" >/dev/null || want+=("${c#*=}")
    done
    [ -s /usr/share/keyrings/debian-archive-keyring.gpg ] || want+=(debian-archive-keyring)
    # qemu-system-* 7.2 removes a newer qemu-utils (backports): keep qemu-img.
    command -v qemu-img >/dev/null && had_qemu_img=1
    lib_install_deps "${want[@]}" >&2 || return 1
    if [ -n "$had_qemu_img" ] && ! command -v qemu-img >/dev/null; then
        lib_apt_install qemu-utils || lib_err "qemu-img went away with the qemu install"
    fi
}
deps || skip "cannot install the lab's packages (no apt?)"

# ---- kernel, busybox, initramfs

# A private apt state for SUITE/ARCH (the host's apt stays untouched; docs/V2-LAB.md).
APTDIR=$LABCACHE/apt-$SUITE-$ARCH APT_UPDATED=
APT_OPTS=(-o "Dir::Etc=$APTDIR" -o "Dir::State=$APTDIR" -o "Dir::State::status=$APTDIR/status"
    -o "Dir::Cache=$APTDIR/cache" -o "APT::Architecture=$ARCH" -o "APT::Architectures::=$ARCH"
    -o APT::Sandbox::User=root -o Debug::NoLocking=1 -o Acquire::Languages=none
    -o Acquire::Retries=3)
lab_apt_update() {
    [ -n "$APT_UPDATED" ] && return 0
    mkdir -p "$APTDIR"/{lists/partial,cache/archives/partial,preferences.d} || return 1
    : >"$APTDIR/status"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE main" \
        >"$APTDIR/sources.list"
    log "apt ($SUITE/$ARCH, private state $APTDIR): update"
    timeout 600 apt-get "${APT_OPTS[@]}" -qq update >"$APTDIR/update.log" 2>&1 ||
        tail_err 10 "$APTDIR/update.log" "apt-get update for $SUITE/$ARCH failed:" || return 1
    APT_UPDATED=1
}
# lab_apt_extract PKG DIR: PKG's .deb for SUITE/ARCH unpacked into DIR (the .deb in DIR/deb).
lab_apt_extract() {
    local log=$APTDIR/download.log
    lab_apt_update && mkdir -p "$2/deb" || return 1
    (cd "$2/deb" && timeout 900 apt-get "${APT_OPTS[@]}" -qq download "$1" >/dev/null 2>"$log") ||
        tail_err 5 "$log" "apt-get download $1 ($SUITE/$ARCH) failed:" || return 1
    dpkg-deb -x "$2/deb"/*.deb "$2"
}

# kernel: $CACHE/kernel/{vmlinuz,KVER,root/lib/modules/KVER}, linux-image-ARCH resolved once;
# and busybox, SUITE/ARCH's busybox-static (initramfs, arm64 inner image).
kernel() {
    local k=$CACHE/kernel pkg tmp=$CACHE/kernel.tmp m
    KVER=$(cat "$k/KVER" 2>/dev/null)
    [ -s "$k/vmlinuz" ] && [ -s "$k/busybox" ] && [ -s "$k/root/lib/modules/$KVER/modules.dep" ] &&
        return 0
    lab_apt_update || return 1
    pkg=$(apt-cache "${APT_OPTS[@]}" depends "linux-image-$ARCH" 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    [ -n "$pkg" ] || { lib_err "cannot resolve linux-image-$ARCH in $SUITE"; return 1; }
    log "kernel: $pkg and busybox-static ($SUITE/$ARCH) from $MIRROR"
    rm -rf "$k" "$tmp"
    lab_apt_extract "$pkg" "$tmp/x" && mkdir -p "$tmp/root/lib/modules" || return 1
    for m in "$tmp"/x/lib/modules/* "$tmp"/x/usr/lib/modules/*; do [ -d "$m" ] && break; done
    KVER=$(basename "$m")   # trixie: in usr/lib/modules
    mv "$tmp/x/boot/vmlinuz-$KVER" "$tmp/vmlinuz" && mv "$m" "$tmp/root/lib/modules/" || return 1
    depmod -b "$tmp/root" "$KVER" || { lib_err "depmod -b failed"; return 1; }
    lab_apt_extract busybox-static "$tmp/bb" &&
        mv "$(find "$tmp/bb" -path '*bin/busybox' -print -quit)" "$tmp/busybox" || return 1
    rm -rf "$tmp/x" "$tmp/bb" && echo "$KVER" >"$tmp/KVER" && mv "$tmp" "$k"
}
kernel || die "kernel or busybox-static download failed"
KERNEL=$CACHE/kernel/vmlinuz BUSYBOX=$CACHE/kernel/busybox
MODDIR=$CACHE/kernel/root/lib/modules/$KVER

# The initramfs: busybox, the modules for ext4 on virtio-blk, 9p and their dependencies, /init.
INITRD=$CACHE/initrd-$KVER-v$BUILD_VERSION-$(sha256sum <"$LABDIR/initramfs-init" | cut -c1-8).img
initramfs() {
    [ -s "$INITRD" ] && return 0
    log "initramfs: busybox + virtio-blk/ext4/9p modules for $KVER"
    local d m rc
    d=$(mktemp -d "$CACHE/initramfs.XXXXXX") || return 1
    (
        set -e
        cd "$d"
        mkdir -p bin modules proc sys dev newroot
        : >modules/order
        cp "$BUSYBOX" bin/busybox && ln -s busybox bin/sh
        install -m 0755 "$LABDIR/initramfs-init" init
        for m in $INITRD_MODS; do
            modprobe -d "$CACHE/kernel/root" -S "$KVER" --show-depends "${m#\?}" 2>/dev/null ||
                [ "${m#\?}" != "$m" ] || { lib_err "no module $m"; exit 1; }
        done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' | while read -r m; do
            cp "$m" modules/
            m=$(basename "$m")
            [ "${m%.xz}" = "$m" ] || xz -d "modules/$m"
            echo "${m%.xz}" >>modules/order
        done
        find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 >"$INITRD.tmp"
    ) && rm -f "$CACHE"/initrd-*.img && mv -f "$INITRD.tmp" "$INITRD"
    rc=$?
    rm -rf "$d"
    return $rc
}
initramfs || die "initramfs build failed"

# ---- the VM's root disk

BASE_KEY=$(lib_hash "$ARCH $SUITE $VM_PKGS $KVER $BUILD_VERSION ")
BASE_IMG=$CACHE/base-$BASE_KEY.img
# arm64: a tarball of the debootstrap is also the DinD image's base layer.
ROOTFS_TAR=$CACHE/rootfs-$(lib_hash "$ARCH $SUITE $VM_PKGS ").tar

debootstrap_root() {   # DIR: debootstrap --variant=minbase --include=VM_PKGS SUITE for ARCH
    local log=$CACHE/debootstrap.log UNSAFE=etc/dpkg/dpkg.cfg.d/unsafe-io
    local args=(--variant=minbase --include="$VM_PKGS" --arch="$ARCH")
    [ "$ARCH" = amd64 ] || { lib_arm64_emulation || return 1; args+=(--foreign); }
    log "VM rootfs: debootstrap ${args[*]} $SUITE (once, a few minutes)"
    waited timeout 1800 debootstrap "${args[@]}" "$SUITE" "$1" "$MIRROR" >"$log" 2>&1 ||
        tail_err 20 "$log" "debootstrap failed; last lines of $log:" || return 1
    if [ "$ARCH" != amd64 ]; then
        log "VM rootfs: debootstrap --second-stage under qemu-aarch64 (binfmt)"
        # No fsync per file in a throwaway tree: the slowest step of a cold arm64 run.
        mkdir -p "$1/etc/dpkg/dpkg.cfg.d" && echo force-unsafe-io >"$1/$UNSAFE"
        waited timeout 2400 chroot "$1" /debootstrap/debootstrap --second-stage >>"$log" 2>&1 ||
            tail_err 20 "$log" "debootstrap --second-stage failed; last lines of $log:" || return 1
    fi
    rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/cache/apt/archives/*.deb
    rm -f "$1/etc/hostname" "$1/etc/resolv.conf" "$1/$UNSAFE"
    [ "$ARCH" = amd64 ] && return 0
    rm -f "$CACHE"/rootfs-*.tar*
    tar --numeric-owner --xattrs -C "$1" -cf "$ROOTFS_TAR.tmp" . &&
        mv -f "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
}
base_disk() {
    [ -s "$BASE_IMG" ] && { [ "$ARCH" = amd64 ] || [ -s "$ROOTFS_TAR" ]; } && return 0
    local root=$CACHE/rootfs.tmp t0=$SECONDS size rc=0
    # what an interrupted debootstrap left mounted there (proc, sys), before rm -rf
    awk -v d="$root/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r umount -l
    rm -rf "$root" && mkdir -p "$root" || return 1
    if [ -s "$ROOTFS_TAR" ]; then
        log "VM rootfs: from $(basename "$ROOTFS_TAR")"
        tar --numeric-owner -xpf "$ROOTFS_TAR" -C "$root"
    else
        debootstrap_root "$root"
    fi || { rm -rf "$root"; return 1; }
    log "VM rootfs: done in $((SECONDS - t0)) s"
    echo v2lab >"$root/etc/hostname"
    printf '127.0.0.1 localhost\n127.0.1.1 v2lab\n' >"$root/etc/hosts"
    : >"$root/etc/resolv.conf"
    mkdir -p "$root/lab" "$root/lib/modules" && cp -a "$MODDIR" "$root/lib/modules/" || return 1
    # Room for the outer daemon's images and the inner daemons' data (the file is sparse).
    size=$(($(du -sm "$root" | cut -f1) + 6144))
    log "VM disk: mkfs.ext4 -d (${size} MiB)"
    mkfs.ext4 -q -F -L v2lab-root -E root_owner=0:0 -d "$root" "$BASE_IMG.tmp" "${size}M" \
        >/dev/null && rm -f "$CACHE"/base-*.img && mv -f "$BASE_IMG.tmp" "$BASE_IMG" || rc=1
    rm -rf "$root" "$BASE_IMG.tmp"
    return $rc
}
base_disk || die "VM disk build failed"

# ---- images, share, data disk

rm -rf "$RUN" && mkdir -p "$IMGS" "$RUN/share/lab" || die "cannot create $RUN"

# The scenarios of the main boot (boot runs first); iptables-legacy has a boot of its own.
RUN_SCENARIOS=" ${V2LAB_SCENARIOS:-$SCENARIOS} " MAIN=
for s in $RUN_SCENARIOS; do [ "$s" = iptables-legacy ] || MAIN+="$s "; done
# The rootless image only for rootless-outer-limits.
ROOTLESS=0
[ "$ARCH" = amd64 ] && [[ " $MAIN" == *" rootless-outer-limits "* ]] && ROOTLESS=1

# amd64: the images e2e.sh tests, from a DIND_SUITE base.
images_amd64() {
    log "images: scripts/images.sh save (DIND_IMAGE=$DIND_IMAGE)"
    waited timeout 2400 env IMAGES_ROOTLESS=$ROOTLESS "$ROOT/scripts/images.sh" save "$IMGS" \
        >"$OUT/images.log" 2>&1 ||
        tail_err 30 "$OUT/images.log" "scripts/images.sh save failed (log: $OUT/images.log)"
}

# arm64: `docker save` archives made by imgtar.py (the host dockerd would label them amd64): the
# debootstrap tarball + a layer with dind-init; busybox-static with its applets (lib.sh).
DIND_CONFIG='{"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    "Entrypoint": ["dind-init"], "Volumes": {"/var/lib/docker": {}},
    "Healthcheck": {"Test": ["CMD", "dind-init", "health"], "Interval": 10000000000,
        "Timeout": 5000000000, "StartPeriod": 60000000000, "Retries": 3}}'   # debian.Dockerfile's
images_arm64() {
    local bin=${DIND_BIN_ARM64:-$ROOT/target/$RUST_TARGET/release/dind-init} d=$RUN/layers
    if [ -z "${DIND_BIN_ARM64:-}" ]; then
        lib_toolchain || return 1
        log "cargo build --release --target $RUST_TARGET"
        cargo build --release --locked -q --target "$RUST_TARGET" >&2 || return 1
    fi
    [ "$(od -An -tx1 -j18 -N2 "$bin" 2>/dev/null)" = " b7 00" ] ||
        { lib_err "$bin is not an aarch64 executable"; return 1; }
    mkdir -p "$d/dind/usr/local/bin" && cp "$bin" "$d/dind/usr/local/bin/dind-init" &&
        tar --numeric-owner -C "$d/dind" -cf "$d/dind.tar" . || return 1
    python3 "$LABDIR/imgtar.py" "$IMGS/dind.tar" "$DIND_IMAGE" "$ARCH" "$DIND_CONFIG" \
        "$ROOTFS_TAR" "$d/dind.tar" && lib_busybox_image "$BUSYBOX" "$ARCH" "$IMGS/inner.tar"
}
"images_$ARCH" || die "images for $SUITE/$ARCH"
# The share (9p, /lab in the VM): inner.tar, the lab's scripts, config.
cp "$LABDIR"/{guest-init.sh,run.sh,dockerapi.py,outer.sh} "$DIND_LIB_DIR/events.py" \
    "$DIND_REPO/src/events.vocab" "$RUN/share/lab/" || die "copy lab files"
declare -p DIND_IMAGE INNER_IMAGE ROOTLESS_IMAGE SCEN_TIMEOUT MAIN ARCH SUITE EXPECT_ENGINE \
    >"$RUN/share/lab/config.env" || die "cannot write config.env"

# The data disk: the VM dockerd's /var/lib/docker, made each run, with the DinD (and rootless)
# image loaded by a host dockerd (a load under TCG takes minutes). No host network state.
DATA_IMG=$RUN/docker.img
prep_host() {
    local rc=1 t0=$SECONDS
    mkfs.ext4 -q -F -L v2lab-docker "$DATA_IMG" 16G >/dev/null && mkdir -p "$PREP_MNT" || return 1
    mountpoint -q "$PREP_MNT" && umount "$PREP_MNT"
    mount -t ext4 -o loop "$DATA_IMG" "$PREP_MNT" || return 1
    if lib_host_start "lab-prep-$ARCH-$SUITE"; then
        DK_TIMEOUT=900 dk load -q -i "$IMGS/dind.tar" >&2 && rc=0
        if [ $rc = 0 ] && [ "$ROOTLESS" = 1 ]; then
            DK_TIMEOUT=900 dk load -q -i "$IMGS/rootless.tar" >&2 || rc=1
        fi
        log "data disk: host dockerd loaded the images in $((SECONDS - t0)) s (status $rc)"
        lib_host_stop
    fi
    rm -rf "$PREP_MNT/network" "$PREP_MNT/containers"/* 2>/dev/null
    sync
    umount "$PREP_MNT" || { lib_err "cannot unmount $PREP_MNT"; rc=1; }
    rmdir "$PREP_MNT" 2>/dev/null
    return $rc
}
prep_host || die "data disk: preparing it failed"
log "set-up done: kernel $KVER, disk $(basename "$BASE_IMG")"

# ---- boot and collect

fail_row() { lib_result FAIL "$1" 0 "$2"; }   # NAME WHY

# boot NAME EXPECTED-SCENARIOS KERNEL-ARGS...: boot the VM once, stream its V2LAB lines, then its
# result rows and METRIC lines. Every scenario it should have run but did not report fails.
boot() {
    local name=$1 expected=$2 console=$OUT/console-$1.log t0=$SECONDS rc tailpid s append
    shift 2
    # softlockup_panic: a guest soft lockup (seen under TCG) ends the boot at once, with the trace.
    append="console=$CONSOLE panic=1 oops=panic softlockup_panic=1 quiet loglevel=4"
    append+=" cgroup_no_v1=all v2lab.run=$name $*"
    : >"$console"
    log "boot '$name': $QEMU ${QEMU_ARGS[*]}, kernel $KVER, '$append' (console: $console)"
    timeout -k 5 "$BOOT_TIMEOUT" "$QEMU" "${QEMU_ARGS[@]}" -smp 2 -m 4096 -nodefaults \
        -display none -no-reboot -no-user-config -monitor none \
        -kernel "$KERNEL" -initrd "$INITRD" -append "$append" \
        -drive "file=$BASE_IMG,format=raw,if=virtio,snapshot=on,cache=unsafe" \
        -virtfs "local,path=$RUN/share,mount_tag=lab,security_model=none,readonly=on" \
        -drive "file=$DATA_IMG,format=raw,if=virtio,snapshot=on,cache=unsafe" \
        -serial "file:$console" </dev/null >&2 &
    CHILD=$!
    tail -n +1 -F --pid="$CHILD" "$console" 2>/dev/null |
        sed -u -n -e 's/\r$//' -e '/V2LAB END/d' -e 's/^.*V2LAB \(.*\)$/  \1/p' &
    tailpid=$!
    wait "$CHILD"
    rc=$?
    CHILD=
    [ $rc = 124 ] && lib_err "boot '$name': no power-off after $BOOT_TIMEOUT s (V2LAB_TIMEOUT)"
    wait "$tailpid" 2>/dev/null
    log "boot '$name': qemu exited with status $rc after $((SECONDS - t0)) s"
    tr -d '\r' <"$console" >"$console.txt"
    echo "=== boot '$name' ($ARCH, $SUITE, kernel $KVER, cgroup v2 only)"
    while read -r _ st s secs note; do
        lib_result "$st" "$s" "$secs" "$note"
    done < <(grep -o 'V2LAB \(PASS\|FAIL\) .*' "$console.txt")
    sed -n "s/^.*V2LAB METRIC /METRIC  $TAG /p" "$console.txt"
    for s in $expected; do
        grep -q "V2LAB \(PASS\|FAIL\) $s " "$console.txt" ||
            fail_row "$s" "(not run: the VM stopped early; see $console)"
    done
    if ! grep -q 'V2LAB END' "$console.txt"; then
        lib_err "boot '$name' did not finish; last console lines:"
        tail -n 25 "$console.txt" >&2
        s=$(grep -m1 -o 'soft lockup.*\|Oops:.*\|Kernel panic.*' "$console.txt") &&
            fail_row "$name-kernel" "(the guest kernel failed: $s; trace in $console)"
    fi
    rm -f "$console.txt"
}

boot main "boot $MAIN"
if [[ "$RUN_SCENARIOS" == *" iptables-legacy "* ]]; then
    boot legacy "boot-legacy iptables-legacy" modprobe.blacklist=nf_tables
fi

# Under CI=true nothing the lab covers may be left out: a deselected scenario fails.
if lib_in_ci; then
    for s in $SCENARIOS; do
        [[ "$RUN_SCENARIOS" == *" $s "* ]] ||
            fail_row "$s" "(left out: V2LAB_SCENARIOS; CI=true: a skip is a failure)"
    done
fi
log "done in $((SECONDS - T0)) s"
lib_summary
