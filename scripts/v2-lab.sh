#!/usr/bin/env bash
# The cgroup v2 lab: dind-init on a pure unified cgroup hierarchy, in a qemu VM.
#
#   sudo scripts/v2-lab.sh            # build what is missing (cached), boot, run every scenario
#   sudo scripts/v2-lab.sh -k         # keep the run directory (payload disk, images) afterwards
#
# Whatever cgroup layout the host has (this one is v1/hybrid), the lab boots Debian's own kernel
# (linux-image-amd64, AppArmor on as on Debian/Ubuntu hosts) under qemu (TCG, no KVM needed) with
# `cgroup_no_v1=all`, mounts cgroup2 at /sys/fs/cgroup as systemd does (nsdelegate; every
# controller: cpuset cpu io memory hugetlb pids rdma misc), starts the distribution's dockerd in
# the VM and runs the images of `scripts/images.sh save` (dind-init/debian:test, and
# dind-init-test/inner:latest loaded by the inner daemon from /images/inner.tar):
#
#   boot                the VM: cgroup2 only, all controllers, dockerd up, the DinD image loaded
#   1. privileged       --privileged (private cgroup namespace, the v2 default):
#                       nested `docker run --rm INNER echo ok` prints ok
#   2. limits           nested `docker run --memory 64m --cpus 0.5 --pids-limit 50` sees
#                       memory.max 67108864, cpu.max "50000 100000", pids.max 50
#   3. cgroupns-host    --privileged --cgroupns=host: dind-init nests below its own cgroup
#                       (/docker/ID/init, never the VM's root), the limits work, and an inner
#                       container's cgroup is below the outer container's (/docker/ID/docker/...)
#   4. field-contrast   the same image with `--entrypoint dockerd` (no nesting step): the nested
#                       run with limits must fail with the cgroup v2 error, printed verbatim
#   5. iptables-legacy  a second boot with modprobe.blacklist=nf_tables: dind-init picks the
#                       legacy backend, the inner daemon starts and a nested run works
#
# Output: one `PASS`/`FAIL` line per scenario with its time, then `v2-lab: N passed, M failed`;
# the exit status is 0 only when everything passed. Serial console logs: target/v2-lab/.
# Times on a 2-core host: warm about 4 minutes, cold (nothing cached) about 10.
#
# Cached under ${DIND_CACHE:-/var/cache/dind-init}/v2-lab, idempotent: qemu-system-x86,
# debootstrap, e2fsprogs, kmod are installed when missing; the kernel and busybox-static .debs are
# fetched with `apt-get download`; a debootstrap rootfs (docker.io, iptables, kmod, iproute2,
# python3) plus the kernel's modules becomes an ext4 disk (mkfs.ext4 -d), booted through a tiny
# busybox initramfs with qemu snapshot=on (never modified). A data disk holds the VM dockerd's
# /var/lib/docker with the DinD image's base layers, filled once by a "prep" boot (loading the
# 400 MB image takes minutes under TCG); each run then loads the same image from a delta archive
# (imgtar.py) in seconds. Each run writes a small payload disk: images, scripts/v2-lab/*, config.
#
# Environment: V2LAB_TIMEOUT (seconds per VM boot, default 900), V2LAB_TOTAL_TIMEOUT (whole run,
# set-up included, default 3600), V2LAB_MEM (MiB, default 4096), V2LAB_SMP (default 2),
# V2LAB_SCENARIO_TIMEOUT (seconds per scenario inside the VM, default 300), V2LAB_LEGACY=0 (skip
# boot 2), V2LAB_SCENARIOS="privileged limits ..." (run only these), V2LAB_REFRESH=1 (rebuild the
# cached kernel, initramfs and disks), V2LAB_IMAGES=DIR (DIR/dind.tar and DIR/inner.tar instead of
# scripts/images.sh save), V2LAB_KERNEL_ARGS (appended to the VM's command line, e.g. apparmor=0),
# V2LAB_OUTER_ENV="K=V ..." (extra environment for the outer containers), CI=true (a skip is a
# failure). Needs root. Never uses the host's /var/run/docker.sock (images.sh has its own daemon).
set -uo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
LABDIR=$ROOT/scripts/v2-lab

KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        -k|--keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "v2-lab.sh: unknown argument: $1 (see -h)" >&2; exit 2 ;;
    esac
done

# The overall time-out: the whole script runs under timeout(1), which kills its process group
# (qemu, debootstrap, images.sh) when the time is up. The EXIT trap still cleans up.
if [ -z "${V2LAB_UNDER_TIMEOUT:-}" ]; then
    export V2LAB_UNDER_TIMEOUT=1
    # In the background, so that a Ctrl-C or SIGTERM here reaches it (timeout(1) runs in its own
    # process group, away from the terminal's signals): forwarded as SIGTERM, which timeout passes on.
    timeout -k 30 "${V2LAB_TOTAL_TIMEOUT:-3600}" "$0" "$@" &
    tpid=$!
    trap 'kill -TERM "$tpid" 2>/dev/null' INT TERM
    wait "$tpid"
    rc=$?
    while kill -0 "$tpid" 2>/dev/null; do
        wait "$tpid"
        rc=$?
    done
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        echo "FAIL  v2-lab: overall time-out (${V2LAB_TOTAL_TIMEOUT:-3600} s, V2LAB_TOTAL_TIMEOUT)"
        echo "v2-lab: 0 passed, 1 failed"
        exit 1
    fi
    exit $rc
fi

export DIND_CACHE=${DIND_CACHE:-/var/cache/dind-init}
CACHE=$DIND_CACHE/v2-lab
OUT=$ROOT/target/v2-lab
RUN=$CACHE/run
BOOT_TIMEOUT=${V2LAB_TIMEOUT:-900}
MEM=${V2LAB_MEM:-4096}
SMP=${V2LAB_SMP:-2}
SCEN_TIMEOUT=${V2LAB_SCENARIO_TIMEOUT:-300}
SUITE=${V2LAB_SUITE:-bookworm}
MIRROR=${DIND_MIRROR:-http://deb.debian.org/debian}
VM_PKGS=docker.io,iptables,kmod,iproute2,procps,python3,ca-certificates
DIND_IMAGE=${DIND_IMAGE:-dind-init/debian:test}
INNER_IMAGE=${INNER_IMAGE:-dind-init-test/inner:latest}
# Bump when the way the disk or the initramfs is built changes (invalidates the cache).
BUILD_VERSION=3
T0=$SECONDS

log() { echo "[v2-lab +$((SECONDS - T0))s] $*" >&2; }
err() { echo "[v2-lab] ERROR: $*" >&2; }

# A skip (the lab cannot run here) passes locally but fails under CI=true.
skip() {
    echo "SKIP  v2-lab: $*"
    case "${CI:-}" in
        true|1|yes) echo "v2-lab: 0 passed, 1 failed (CI=true: a skip is a failure)"; exit 1 ;;
    esac
    echo "v2-lab: 0 passed, 0 failed (skipped)"
    exit 0
}
die() {
    err "$*"
    echo "FAIL  v2-lab set-up: $*"
    echo "v2-lab: 0 passed, 1 failed"
    exit 1
}

[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap, mkfs.ext4 -d of a root file system)"
[ "$(uname -m)" = x86_64 ] || skip "needs an x86_64 host"

QPID=
cleanup() {
    if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
        kill -TERM "$QPID" 2>/dev/null
        sleep 1
        kill -KILL "$QPID" 2>/dev/null
    fi
    [ "$KEEP" = 1 ] || rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

mkdir -p "$CACHE" "$OUT" || die "cannot create $CACHE and $OUT"
exec {LOCKFD}>"$CACHE/lock"
if ! flock -w 1200 "$LOCKFD"; then
    die "another v2-lab run holds $CACHE/lock"
fi

# ------------------------------------------------------------------ host packages

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck disable=SC2034 # read by lib.sh's messages
LIB_TAG=v2-lab

deps() {
    local want=()
    command -v qemu-system-x86_64 >/dev/null || want+=(qemu-system-x86)
    command -v debootstrap >/dev/null || want+=(debootstrap)
    command -v mkfs.ext4 >/dev/null || want+=(e2fsprogs)
    command -v dpkg-deb >/dev/null || want+=(dpkg)
    command -v depmod >/dev/null || [ -x /sbin/depmod ] || want+=(kmod)
    command -v flock >/dev/null || want+=(util-linux)
    command -v python3 >/dev/null || want+=(python3)
    [ ${#want[@]} -eq 0 ] && return 0
    lib_apt_install "${want[@]}"
}
deps || skip "cannot install qemu-system-x86/debootstrap/e2fsprogs (no apt?)"

# ------------------------------------------------------------------ kernel + initramfs

# fetch_deb PKG DIR: apt-get download PKG into DIR (as root, apt may warn about _apt: harmless).
fetch_deb() {
    (cd "$2" && apt-get download -o DPkg::Lock::Timeout=600 "$1" >/dev/null 2>&1) ||
        { [ -z "${LIB_APT_UPDATED:-}" ] && apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null 2>&1 &&
            LIB_APT_UPDATED=1 && (cd "$2" && apt-get download "$1" >/dev/null 2>&1); }
}

[ "${V2LAB_REFRESH:-0}" = 1 ] && { log "V2LAB_REFRESH=1: dropping the cached kernel, initramfs and disks"; rm -rf "$CACHE/kernel" "$CACHE"/initrd-*.img "$CACHE"/base-*.img "$CACHE"/docker-*.img*; }

# The kernel: the first run resolves linux-image-amd64 to the current ABI package and caches it;
# later runs reuse it (warm runs need no network). $CACHE/kernel/{vmlinuz,KVER,root/lib/modules/KVER}
# (the .deb has no modules.dep: depmod -b makes it).
kernel() {
    local k=$CACHE/kernel
    if [ -s "$k/vmlinuz" ] && [ -s "$k/KVER" ] && [ -s "$k/root/lib/modules/$(cat "$k/KVER")/modules.dep" ]; then
        KVER=$(cat "$k/KVER")
        return 0
    fi
    local pkg tmp
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    if [ -z "$pkg" ]; then
        apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null 2>&1
        pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    fi
    [ -n "$pkg" ] || { err "cannot resolve linux-image-amd64 (apt-cache depends)"; return 1; }
    log "kernel: apt-get download $pkg"
    rm -rf "$k" "$k.tmp"
    tmp=$k.tmp
    mkdir -p "$tmp/deb" "$tmp/x" || return 1
    fetch_deb "$pkg" "$tmp/deb" || { err "apt-get download $pkg failed"; return 1; }
    dpkg-deb -x "$tmp/deb"/*.deb "$tmp/x" || return 1
    KVER=${pkg#linux-image-}
    [ -d "$tmp/x/lib/modules/$KVER" ] || KVER=$(ls "$tmp/x/lib/modules" | head -n1)
    mkdir -p "$tmp/root/lib/modules" || return 1
    mv "$tmp/x/boot/vmlinuz-$KVER" "$tmp/vmlinuz" && mv "$tmp/x/lib/modules/$KVER" "$tmp/root/lib/modules/$KVER" || return 1
    PATH=$PATH:/sbin:/usr/sbin depmod -b "$tmp/root" "$KVER" || { err "depmod -b failed"; return 1; }
    echo "$KVER" >"$tmp/KVER"
    rm -rf "$tmp/x" "$tmp/deb"
    mv "$tmp" "$k"
}
kernel || die "kernel download failed"
KERNEL=$CACHE/kernel/vmlinuz
MODDIR=$CACHE/kernel/root/lib/modules/$KVER

# mod_closure NAME...: the module files (relative to MODDIR) NAME needs, dependencies first.
mod_closure() {
    python3 - "$MODDIR" "$@" <<'EOF'
import os, sys
moddir, wanted = sys.argv[1], sys.argv[2:]
deps, byname = {}, {}
for line in open(os.path.join(moddir, "modules.dep")):
    path, _, rest = line.partition(":")
    deps[path] = rest.split()
    base = os.path.basename(path).split(".ko")[0]
    byname[base] = path
    byname[base.replace("-", "_")] = path
order, seen = [], set()
def add(path):
    if path in seen:
        return
    seen.add(path)
    for d in deps.get(path, []):
        add(d)
    order.append(path)
for w in wanted:
    if w not in byname:
        sys.exit("no module %s" % w)
    add(byname[w])
print("\n".join(order))
EOF
}

BUSYBOX=
busybox_static() {
    local d=$CACHE/busybox
    if [ ! -x "$d/bin/busybox" ]; then
        log "busybox: apt-get download busybox-static (for the initramfs)"
        rm -rf "$d" && mkdir -p "$d.tmp/deb" || return 1
        fetch_deb busybox-static "$d.tmp/deb" && dpkg-deb -x "$d.tmp/deb"/*.deb "$d.tmp" || { rm -rf "$d.tmp"; return 1; }
        mkdir -p "$d/bin" && mv "$d.tmp/bin/busybox" "$d/bin/busybox" || return 1
        rm -rf "$d.tmp"
    fi
    BUSYBOX=$d/bin/busybox
}
busybox_static || die "busybox-static download failed"

# The initramfs: static busybox, the modules to reach an ext4 root on virtio-blk, and
# scripts/v2-lab/initramfs-init as /init (mounts /dev/vda and /dev/vdb, switch_root).
INITRD=$CACHE/initrd-$KVER-v$BUILD_VERSION.img
initramfs() {
    [ -s "$INITRD" ] && return 0
    log "initramfs: busybox + virtio-blk/ext4 modules for $KVER"
    local d m mods
    d=$(mktemp -d "$CACHE/initramfs.XXXXXX") || return 1
    mkdir -p "$d/bin" "$d/modules" "$d/proc" "$d/sys" "$d/dev" "$d/newroot" || return 1
    cp "$BUSYBOX" "$d/bin/busybox" && ln -s busybox "$d/bin/sh" || return 1
    mods=$(mod_closure virtio_pci virtio_blk crc32c_generic crc32c_intel ext4) || { rm -rf "$d"; return 1; }
    : >"$d/modules/order"
    for m in $mods; do
        cp "$MODDIR/$m" "$d/modules/" && basename "$m" >>"$d/modules/order" || { rm -rf "$d"; return 1; }
    done
    install -m 0755 "$LABDIR/initramfs-init" "$d/init" || { rm -rf "$d"; return 1; }
    rm -f "$CACHE"/initrd-*.img
    (cd "$d" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -1 >"$INITRD.tmp") &&
        mv -f "$INITRD.tmp" "$INITRD"
    local rc=$?
    rm -rf "$d"
    return $rc
}
initramfs || die "initramfs build failed"

# ------------------------------------------------------------------ the VM's root disk

BASE_KEY=$(printf '%s ' "$SUITE" "$VM_PKGS" "$KVER" "$BUILD_VERSION" | sha256sum | cut -c1-12)
BASE_IMG=$CACHE/base-$BASE_KEY.img
base_disk() {
    [ -s "$BASE_IMG" ] && return 0
    local root=$CACHE/rootfs.tmp
    rm -rf "$root" && mkdir -p "$root" || return 1
    log "VM rootfs: debootstrap --variant=minbase --include=$VM_PKGS $SUITE (once, a few minutes)"
    if ! timeout 1800 debootstrap --variant=minbase --include="$VM_PKGS" "$SUITE" "$root" "$MIRROR" \
        >"$CACHE/debootstrap.log" 2>&1; then
        err "debootstrap failed; last lines of $CACHE/debootstrap.log:"
        tail -n 20 "$CACHE/debootstrap.log" >&2
        rm -rf "$root"
        return 1
    fi
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
    echo v2lab >"$root/etc/hostname"
    printf '127.0.0.1 localhost\n127.0.1.1 v2lab\n' >"$root/etc/hosts"
    : >"$root/etc/resolv.conf"
    mkdir -p "$root/lab" "$root/lib/modules" || return 1
    cp -a "$MODDIR" "$root/lib/modules/" || return 1
    # Room for the outer daemon's images and the inner daemons' data (the file is sparse).
    local used size
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
if [ -n "${V2LAB_IMAGES:-}" ]; then
    log "images: from V2LAB_IMAGES=$V2LAB_IMAGES"
    cp "$V2LAB_IMAGES/dind.tar" "$V2LAB_IMAGES/inner.tar" "$RUN/payload/images/" || die "no dind.tar/inner.tar in $V2LAB_IMAGES"
elif [ -x "$ROOT/scripts/images.sh" ]; then
    log "images: scripts/images.sh save (the same images e2e.sh tests)"
    "$ROOT/scripts/images.sh" save "$RUN/payload/images" >"$OUT/images.log" 2>&1 ||
        { tail -n 30 "$OUT/images.log" >&2; die "scripts/images.sh save failed (log: $OUT/images.log)"; }
else
    die "scripts/images.sh is missing (or set V2LAB_IMAGES=DIR with dind.tar and inner.tar)"
fi
for f in dind.tar inner.tar; do
    [ -s "$RUN/payload/images/$f" ] || die "images: $f missing or empty"
done
cp "$LABDIR"/guest-init.sh "$LABDIR"/run.sh "$LABDIR"/dockerapi.py "$LABDIR"/outer.sh "$RUN/payload/lab/" || die "copy lab files"
cat >"$RUN/payload/lab/config.env" <<EOF
DIND_IMAGE='$DIND_IMAGE'
INNER_IMAGE='$INNER_IMAGE'
SCEN_TIMEOUT=$SCEN_TIMEOUT
OUTER_ENV='${V2LAB_OUTER_ENV:-}'
ONLY='${V2LAB_SCENARIOS:-}'
EOF

# payload_disk: the second disk (/lab in the VM): images, lab scripts, config.
payload_disk() {
    local psize
    psize=$(( $(du -sm "$RUN/payload" | cut -f1) * 11 / 10 + 64 ))
    rm -f "$RUN/payload.img"
    mkfs.ext4 -q -F -L v2lab-payload -E root_owner=0:0 -d "$RUN/payload" "$RUN/payload.img" "${psize}M" >/dev/null ||
        { err "payload disk: mkfs.ext4 failed"; return 1; }
}

# ------------------------------------------------------------------ boot and collect

PASSED=0
FAILED=0
RESULTS=()

# boot NAME EXPECTED-SCENARIOS DATA-DRIVE KERNEL-ARGS...: boot the VM once, stream its V2LAB
# lines, count the PASS/FAIL lines. Every scenario it should have run but did not report fails.
boot() {
    local name=$1 expected=$2 data=$3
    shift 3
    local console=$OUT/console-$name.log
    local append="console=ttyS0 panic=1 oops=panic quiet loglevel=3 cgroup_no_v1=all v2lab.run=$name $* ${V2LAB_KERNEL_ARGS:-}"
    local drives=(-drive "file=$BASE_IMG,format=raw,if=virtio,snapshot=on,cache=unsafe"
        -drive "file=$RUN/payload.img,format=raw,if=virtio,readonly=on")
    [ -n "$data" ] && drives+=(-drive "$data")
    rm -f "$console"
    : >"$console"
    local t0=$SECONDS
    log "boot '$name': qemu -accel tcg -smp $SMP -m $MEM, kernel $KVER, '$append' (console: $console)"
    qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp "$SMP" -m "$MEM" \
        -nodefaults -display none -no-reboot -no-user-config -monitor none \
        -kernel "$KERNEL" -initrd "$INITRD" -append "$append" "${drives[@]}" \
        -serial "file:$console" </dev/null >"$OUT/qemu-$name.log" 2>&1 &
    QPID=$!
    # Follow the console: show the lab's own lines as they come.
    tail -n +1 -F --pid="$QPID" "$console" 2>/dev/null |
        sed -u -n -e 's/\r$//' -e '/V2LAB \(RESULT\|END\)/d' -e 's/^.*V2LAB \(.*\)$/  \1/p' &
    local tailpid=$!
    local waited=0 rc
    while kill -0 "$QPID" 2>/dev/null; do
        if [ "$waited" -ge "$BOOT_TIMEOUT" ]; then
            err "boot '$name': no power-off after $BOOT_TIMEOUT s (V2LAB_TIMEOUT): killing qemu"
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
    local line s seen=" "
    while IFS= read -r line; do
        RESULTS+=("$line")
        s=${line#* }; s=${s%% *}
        seen="$seen$s "
        if [ "${line%% *}" = PASS ]; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
    done < <(tr -d '\r' <"$console" | sed -n 's/^.*V2LAB \(\(PASS\|FAIL\) .*\)$/\1/p')
    for s in $expected; do
        if [ -n "${V2LAB_SCENARIOS:-}" ] && [ "${s#boot}" = "$s" ]; then
            case " $V2LAB_SCENARIOS " in *" $s "*) ;; *) continue ;; esac
        fi
        case "$seen" in
            *" $s "*) ;;
            *)
                RESULTS+=("FAIL $s (not run: the VM stopped early; see $console)")
                FAILED=$((FAILED + 1))
                ;;
        esac
    done
    if ! tr -d '\r' <"$console" | grep -q 'V2LAB END'; then
        err "boot '$name' did not finish; last console lines:"
        tr -d '\r' <"$console" | tail -n 25 >&2
    fi
}

# ------------------------------------------------------------------ the data disk

# The VM dockerd's /var/lib/docker with the DinD image's layers already loaded: loading the 400 MB
# image under TCG takes minutes, so it is done once per base layer (boot "prep", the disk is
# writable) and later boots attach it with snapshot=on and load only a delta archive (the same
# image without the layer files the disk already has; the full archive stays as the fallback).
python3 "$LABDIR/imgtar.py" diffids "$RUN/payload/images/dind.tar" >"$RUN/diffids" || die "cannot read dind.tar's manifest"
DATA_KEY=$(printf '%s ' "$BASE_KEY" "$(head -n 1 "$RUN/diffids")" | sha256sum | cut -c1-12)
DATA_IMG=$CACHE/docker-$DATA_KEY.img
if [ ! -s "$DATA_IMG" ] || [ ! -s "$DATA_IMG.layers" ]; then
    log "data disk: preparing $(basename "$DATA_IMG") (once per base layer: the full image load, a few minutes)"
    rm -f "$CACHE"/docker-*.img "$CACHE"/docker-*.img.layers "$CACHE"/docker-*.img.tmp
    mkfs.ext4 -q -F -L v2lab-docker "$DATA_IMG.tmp" 16G >/dev/null || die "data disk: mkfs.ext4 failed"
    payload_disk || die "payload disk"
    boot prep "prep" "file=$DATA_IMG.tmp,format=raw,if=virtio,cache=writeback"
    if ! tr -d '\r' <"$OUT/console-prep.log" | grep -q 'V2LAB PREP-OK'; then
        rm -f "$DATA_IMG.tmp"
        die "data disk: the prep boot failed (console: $OUT/console-prep.log)"
    fi
    cp "$RUN/diffids" "$DATA_IMG.layers" && mv -f "$DATA_IMG.tmp" "$DATA_IMG" || die "data disk: cannot store it"
    # The prep boot is set-up, not a scenario: not counted.
    RESULTS=()
    PASSED=0
    FAILED=0
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

boot main "boot privileged limits cgroupns-host field-contrast" "$DATA_DRIVE"
if [ "${V2LAB_LEGACY:-1}" != 0 ] && { [ -z "${V2LAB_SCENARIOS:-}" ] || case " $V2LAB_SCENARIOS " in *" iptables-legacy "*) true ;; *) false ;; esac; }; then
    boot legacy "boot-legacy iptables-legacy" "$DATA_DRIVE" modprobe.blacklist=nf_tables
fi

echo
echo "=== v2-lab results (kernel $KVER, cgroup v2 only; $((SECONDS - T0)) s in all)"
for line in "${RESULTS[@]}"; do
    echo "${line%% *}  ${line#* }"
done
echo "v2-lab: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
