#!/usr/bin/env bash
# The release artifacts in dist/: static dind-init binaries for x86_64 and aarch64 (musl), and
# their SHA256SUMS.
# Owns: dist/ (the release artefacts) and its reproducibility check.
#
#   scripts/release.sh            # dist/dind-init-VERSION-{x86_64,aarch64}-linux-musl, SHA256SUMS
#   sudo scripts/release.sh --check
#
# --check: the release stage (docs/TESTING.md), on host dockerd RELEASE_INSTANCE (default
# release); offline but for apt (qemu-user-static, binfmt-support, sid's docker-buildx .deb).
set -uo pipefail
LIB_TAG=release
DIND_SUITE=sid   # buildx runs in sid's DinD image (the suite with docker-buildx)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
lib_args --check "$@"

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
COMMIT=$(git rev-parse --short=12 HEAD)
declare -A TRIPLE=([amd64]=x86_64-unknown-linux-musl [arm64]=aarch64-unknown-linux-musl)
declare -A MACHINE=([amd64]=62 [arm64]=183)
# build_dist SRC OUT: dist/ of the tree SRC into OUT (absolute paths), paths remapped
build_dist() {
    local src=$1 out=$2 t f bin cargo_home=${CARGO_HOME:-$HOME/.cargo}
    mkdir -p "$out" && rm -f "$out"/dind-init-* "$out/SHA256SUMS" || return 1
    for t in "${TRIPLE[@]}"; do
        # --config, not RUSTFLAGS: it adds to .cargo/config.toml's (x86_64's packed relocations)
        f="[\"--remap-path-prefix=$src=/dind-init\", \"--remap-path-prefix=$cargo_home=/cargo\"]"
        (cd "$src" && CARGO_TARGET_DIR=target/dist-build cargo build --quiet --release --locked \
            --target "$t" --config "target.$t.rustflags=$f") ||
            { lib_err "cargo build --target $t failed in $src"; return 1; }
        bin=$src/target/dist-build/$t/release/dind-init
        lib_static_elf "$bin" || { lib_err "$bin is not static"; return 1; }
        install -m 0755 "$bin" "$out/dind-init-$VERSION-${t%%-*}-linux-musl" || return 1
    done
    (cd "$out" && sha256sum dind-init-"$VERSION"-* >SHA256SUMS)
}
dist() { # dist/, its files' sizes in NOTE
    lib_toolchain && build_dist "$DIND_REPO" "$DIND_REPO/dist" &&
        NOTE=$(cd dist && stat -c '%n %s' dind-init-* | tr '\n' ' ')
}
if [ "${1:-}" != --check ]; then
    dist || exit 1
    echo "dist/ ($VERSION, commit $COMMIT): $NOTE"
    exec cat dist/SHA256SUMS
fi

WORK=$(mktemp -d /tmp/dind-init-release.XXXXXX)
cleanup() { lib_host_stop; rm -rf "$WORK"; }
lib_traps cleanup
# row LABEL T0 CMD...: the row of CMD (PASS when it succeeds); NOTE is its note
row() { "${@:3}"; local rc=$?; lib_verdict $rc "$1" "$2" "$NOTE"; return $rc; }
is() { NOTE=$1; [ "$1" = "$2" ]; }   # GOT WANT: GOT is WANT (NOTE: GOT)
version() { echo "dind-init $VERSION (commit $COMMIT, ${TRIPLE[$1]})"; }   # PLAT: its --version
tail3() { tail -n 3 "$@" 2>/dev/null | tr '\n' ' '; }   # FILE...: the last lines, as one

reproducible() {
    git clone -q "$DIND_REPO" "$WORK/elsewhere/dind-init" &&
        build_dist "$WORK/elsewhere/dind-init" "$WORK/dist2"
    NOTE=$(diff dist/SHA256SUMS "$WORK/dist2/SHA256SUMS" | tr '\n' ' ' | cut -c1-300) || return 1
    NOTE=$(cut -c1-16 dist/SHA256SUMS | tr '\n' ' ')
}
package() { # the crate people install: `cargo package` packs it and builds the packed copy
    NOTE=$(cargo package --locked --allow-dirty 2>&1) || { NOTE=$(tail3 <<<"$NOTE"); return 1; }
    NOTE="$(cargo package --list --allow-dirty 2>/dev/null | wc -l) files"
}
row "dist/ built" "$(lib_now)" dist || { lib_summary; exit 1; }
row "reproducible: a fresh clone elsewhere gives the same bytes" "$(lib_now)" reproducible
row "--version says version, commit and target" "$(lib_now)" \
    is "$(dist/dind-init-"$VERSION"-x86_64-linux-musl --version)" "$(version amd64)"
row "cargo package (builds the packed crate)" "$(lib_now)" package

# image PLAT: docker/Dockerfile's `dist` stage for linux/PLAT holds PLAT's ELF machine
image() {
    local img=dind-init:$VERSION-$1 arch cid machine
    lib_build "$img" "$WORK/ctx" -f docker/Dockerfile --target dist --platform "linux/$1" \
        --build-arg "VERSION=$VERSION" >"$WORK/build-$1.log" 2>&1 ||
        { NOTE="build: $(tail3 "$WORK/build-$1.log")"; return 1; }
    arch=$(dk image inspect -f '{{.Os}}/{{.Architecture}}' "$img")
    cid=$(dk create "$img" 2>/dev/null) && dk cp "$cid:/dind-init" "$WORK/bin-$1" >/dev/null 2>&1
    dk rm "$cid" >/dev/null 2>&1
    machine=$(od -An --endian=little -tu2 -j18 -N2 "$WORK/bin-$1" 2>/dev/null | tr -d ' ')
    NOTE="$img: $arch, ELF machine '$machine'"
    [ "$arch" = "linux/$1" ] && [ "$machine" = "${MACHINE[$1]}" ]
}
# buildx_image: BUILDX_IMAGE, DIND_IMAGE (sid) + docker-buildx's .deb (fetched once per base rootfs)
BUILDX_IMAGE=dind-init/debian:test-sid-buildx BUILDX_CACHE=$DIND_CACHE/buildx$DIND_SUITE_TAG
buildx_image() {
    lib_debs "$BUILDX_CACHE" debs docker-buildx || return 1
    DIND_BIN=${DIND_BIN:-$DIND_REPO/dist/dind-init-$VERSION-x86_64-linux-musl}
    lib_base_image && lib_dind_image || return 1
    lib_debs_dockerfile "$DIND_IMAGE" >"$BUILDX_CACHE/Dockerfile" &&
        echo 'RUN docker buildx version' >>"$BUILDX_CACHE/Dockerfile" &&
        lib_build "$BUILDX_IMAGE" "$BUILDX_CACHE" -f "$BUILDX_CACHE/Dockerfile"
}
# oci_platforms TAR: `tag NAME` of the one entry in index.json; for each image manifest of its
# index (BuildKit's attestations left out), `OS/ARCH ELF-MACHINE` of its /dind-init (0: none)
oci_platforms() {
    python3 - "$1" <<'PY'
import io, json, struct, sys, tarfile
t = tarfile.open(sys.argv[1])
blob = lambda d: t.extractfile("blobs/" + d["digest"].replace(":", "/")).read()
tops = json.loads(t.extractfile("index.json").read())["manifests"]
if len(tops) != 1:
    sys.exit("index.json: %d entries, expected the one tag" % len(tops))
print("tag %s" % tops[0].get("annotations", {}).get("io.containerd.image.name"))
for m in json.loads(blob(tops[0])).get("manifests", []):
    if m.get("annotations", {}).get("vnd.docker.reference.type") == "attestation-manifest":
        continue
    machine = 0
    for layer in json.loads(blob(m))["layers"]:
        with tarfile.open(fileobj=io.BytesIO(blob(layer))) as lt:
            for e in (e for e in lt.getmembers() if e.name.lstrip("./") == "dind-init"):
                machine = struct.unpack_from("<H", lt.extractfile(e).read(20), 18)[0]
    print("%s/%s %d" % (m["platform"]["os"], m["platform"]["architecture"], machine))
PY
}
# buildx: the README's one tag for both platforms (docs/TESTING.md), built by BUILDX_IMAGE (context
# WORK/ctx; /var/lib/docker a volume: the containerd store cannot sit on overlayfs), saved and run
# as each platform (arm64: the host's binfmt, F flag); PLATS: its platforms
buildx() {
    local buildx rc bx=$WORK/buildx
    buildx_image >"$bx.log" 2>&1 || { NOTE="image: $(tail3 "$bx.log")"; return 1; }
    buildx=$(find "$BUILDX_CACHE/debs" -name 'docker-buildx_*.deb' -printf '%f' | cut -d_ -f2)
    mkdir -p "$bx" "$WORK/ctx/docker" && cp docker/Dockerfile "$WORK/ctx/docker/" || return 1
    printf '{"features": {"containerd-snapshotter": true}}\n' >"$bx/daemon.json"
    cat >"$bx/run.sh" <<EOF
set -e
docker info -f 'store={{json .DriverStatus}}'
docker buildx build --progress plain --platform linux/amd64,linux/arm64 --target dist \\
    --build-arg VERSION=$VERSION -f /ctx/docker/Dockerfile -t dind-init:$VERSION /ctx >/out/build.log 2>&1
docker save -o /out/image.tar dind-init:$VERSION
for p in amd64 arm64; do
    echo "\$p=\$(docker run --rm --platform linux/\$p dind-init:$VERSION --version 2>&1)"
done
EOF
    DK_TIMEOUT=600 dk run --rm --privileged --network none -v /var/lib/docker -v "$bx:/out" \
        -v "$bx/daemon.json:/etc/docker/daemon.json:ro" -v "$WORK/ctx:/ctx:ro" "$BUILDX_IMAGE" \
        sh /out/run.sh >"$bx/run.out" 2>"$bx/run.err"
    rc=$?
    if [ $rc != 0 ] || ! PLATS=$(oci_platforms "$bx/image.tar" 2>&1); then
        NOTE="exit $rc: $(tail3 "$bx/build.log") $(tail3 "$bx/run.err") ${PLATS:-}"
        return 1
    fi
    NOTE="dind-init:$VERSION, sid's DinD, buildx $buildx, containerd store: $(tr '\n' ' ' <<<"$PLATS")"
    [ "$(grep -v '^tag' <<<"$PLATS" | sort)" = $'linux/amd64 62\nlinux/arm64 183' ] &&
        grep -qx "tag docker.io/library/dind-init:$VERSION" <<<"$PLATS" &&
        grep -q 'io.containerd.snapshotter.v1' "$bx/run.out"
}
images() {
    local plat t0
    lib_arm64_emulation && lib_host_start "${RELEASE_INSTANCE:-release}" || return 1
    mkdir -p "$WORK/ctx/dist" && cp dist/dind-init-* "$WORK/ctx/dist/" || return 1
    for plat in amd64 arm64; do row "image linux/$plat holds the $plat binary" "$(lib_now)" image $plat; done
    row "the arm64 image runs under emulation" "$(lib_now)" is "$(dk run --rm --platform \
        linux/arm64 "dind-init:$VERSION-arm64" --version 2>&1 | head -c 300)" "$(version arm64)"
    t0=$(lib_now)
    row "buildx: one tag holding exactly linux/amd64 and linux/arm64, each with its binary" "$t0" \
        buildx || return 0
    row "buildx: the tag runs --version as linux/amd64" "$t0" \
        is "$(sed -n "s/^amd64=//p" "$WORK/buildx/run.out")" "$(version amd64)"
    row "buildx: the tag runs --version as linux/arm64 (emulated)" "$t0" \
        is "$(sed -n "s/^arm64=//p" "$WORK/buildx/run.out")" "$(version arm64)"
}

if lib_is_root; then
    images || lib_result FAIL "container images" 0 "set-up failed (packages or the host dockerd)"
else
    lib_result SKIP "container images" 0 "needs root (its own dockerd)"
fi
lib_summary
