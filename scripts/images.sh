#!/usr/bin/env bash
# Build the test images offline, and optionally save them as tarballs (for the qemu lab).
# Owns: building (and saving) the test images outside a test run.
#
#   sudo scripts/images.sh build          # build (or reuse) every image
#   sudo scripts/images.sh save OUTDIR    # build, then write OUTDIR/dind.tar and OUTDIR/inner.tar
#
# lib.sh's images: the debootstrap base, dind-init/scratch:test, DIND_IMAGE (dind.tar) and the
# static busybox INNER_IMAGE (inner.tar, for `docker load` in a DinD container); IMAGES_ROOTLESS=1:
# also ROOTLESS_IMAGE (rootless.tar). Host dockerd instance IMAGES_INSTANCE (default images);
# DIND_BIN=/path skips the build.
set -uo pipefail
LIB_TAG=images
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

case "${1:-} $#" in
    "build 1" | "save 2") ;;
    "-h 1" | "--help 1") lib_usage; exit 0 ;;
    *) lib_usage >&2; exit 2 ;;
esac
lib_is_root || { lib_err "needs root (it starts its own dockerd)"; exit 1; }
lib_traps lib_host_stop

t0=$SECONDS saved=("dind=$DIND_IMAGE" "inner=$INNER_IMAGE")   # NAME=IMAGE: OUTDIR/NAME.tar
lib_install_deps && lib_host_start "${IMAGES_INSTANCE:-images}" && lib_all_images || exit 1
if [ "${IMAGES_ROOTLESS:-0}" != 0 ]; then
    lib_rootless_image "$DIND_IMAGE" "$ROOTLESS_IMAGE" || exit 1
    saved+=("rootless=$ROOTLESS_IMAGE")
fi
lib_log "images ready in $((SECONDS - t0)) s: $BASE_IMAGE $SCRATCH_IMAGE ${saved[*]#*=}"
[ "$1" = save ] || exit 0
mkdir -p "$2" || exit 1
for s in "${saved[@]}"; do
    f=$2/${s%%=*}.tar
    lib_save "${s#*=}" "$f" || exit 1
    lib_log "saved $f (${s#*=}, $(du -m "$f" | cut -f1) MB)"
done
