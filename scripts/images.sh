#!/usr/bin/env bash
# Build the test images offline, and optionally save them as tarballs (for the qemu lab).
# Owns: building (and saving) the test images outside a test run.
#
#   sudo scripts/images.sh build          # build (or reuse) every image
#   sudo scripts/images.sh save OUTDIR    # build, then write OUTDIR/dind.tar and OUTDIR/inner.tar
#   scripts/images.sh names               # print the image names
#
# Images (lib.sh): the debootstrap base, dind-init/scratch:test, dind-init/debian:test and the
# static busybox inner image; with IMAGES_ROOTLESS=1 also ROOTLESS_IMAGE
# (docker/debian-rootless.Dockerfile on the DinD image). OUTDIR/dind.tar: `docker load -i`; OUTDIR/inner.tar: bind-mount it
# at /images/inner.tar in a DinD container and `docker load` it there; OUTDIR/rootless.tar (with
# IMAGES_ROOTLESS=1): `docker load -i`. Uses host dockerd instance IMAGES_INSTANCE (default
# images), cached; DIND_BIN=/path skips the build.
set -uo pipefail
LIB_TAG=images
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

cmd=${1:-}
case "$cmd" in
    names) printf '%s\n' "$BASE_IMAGE" "$SCRATCH_IMAGE" "$DIND_IMAGE" "$INNER_IMAGE" "$ROOTLESS_IMAGE"; exit 0 ;;
    build) [ $# -eq 1 ] || { lib_usage >&2; exit 2; } ;;
    save) [ $# -eq 2 ] || { lib_usage >&2; exit 2; }; OUT=$2 ;;
    -h|--help) lib_usage; exit 0 ;;
    *) lib_usage >&2; exit 2 ;;
esac
lib_is_root || { lib_err "needs root (it starts its own dockerd)"; exit 1; }
lib_traps lib_host_stop

t0=$SECONDS built=("dind=$DIND_IMAGE")   # NAME=IMAGE: saved as OUTDIR/NAME.tar
lib_install_deps && lib_build_binary && lib_host_start "${IMAGES_INSTANCE:-images}" && lib_all_images || exit 1
if [ "${IMAGES_ROOTLESS:-0}" != 0 ]; then lib_rootless_image "$DIND_IMAGE" "$ROOTLESS_IMAGE" && built+=("rootless=$ROOTLESS_IMAGE") || exit 1; fi
lib_log "images ready in $((SECONDS - t0)) s: $BASE_IMAGE $SCRATCH_IMAGE $INNER_IMAGE ${built[*]#*=}"
[ "$cmd" = save ] || exit 0
mkdir -p "$OUT" && cp -f "$INNER_TAR" "$OUT/inner.tar.tmp" && mv -f "$OUT/inner.tar.tmp" "$OUT/inner.tar" || exit 1
lib_log "saved $OUT/inner.tar ($INNER_IMAGE)"
for b in "${built[@]}"; do
    f=$OUT/${b%%=*}.tar
    DK_TIMEOUT=600 dk save -o "$f.tmp" "${b#*=}" && chmod 0644 "$f.tmp" && mv -f "$f.tmp" "$f" || exit 1
    lib_log "saved $f (${b#*=}, $(du -m "$f" | cut -f1) MB)"
done
