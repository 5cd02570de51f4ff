#!/usr/bin/env bash
# The release artifacts in dist/: static dind-init binaries for x86_64 and aarch64 (musl), named by
# version and architecture, and their SHA256SUMS.
# Owns: dist/ (the release artefacts) and its reproducibility check.
#
#   scripts/release.sh            # dist/dind-init-VERSION-{x86_64,aarch64}-linux-musl, SHA256SUMS
#   sudo scripts/release.sh --check
#
# Reproducible: paths remapped (--remap-path-prefix), own target dir (target/dist-build). --check
# (a stage of scripts/test.sh): dist/ from this tree and from a fresh clone elsewhere must have
# equal SHA256SUMS; --version; cargo package; docker/Dockerfile's `dist` stage for linux/amd64 and
# linux/arm64 (ELF machine checked), the arm64 one run under qemu-user; and as one tag for both
# with `docker buildx build` in sid's DinD image (containerd image store). Offline but for apt:
# installs the musl targets and, for --check, qemu-user-static and binfmt-support; sid's
# docker-buildx .deb is downloaded once into ${DIND_CACHE}/buildx-sid.
set -uo pipefail
LIB_TAG=release
# The one-tag image is built inside sid's Docker-in-Docker image (the suite with docker-buildx)
DIND_SUITE=sid
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)

# build_dist SRC OUT: dist/ of the tree SRC into OUT (absolute paths).
build_dist() {
    local src=$1 out=$2 t arch bin
    local cargo_home=${CARGO_HOME:-$HOME/.cargo}
    mkdir -p "$out" || return 1
    rm -f "$out"/dind-init-* "$out/SHA256SUMS"
    for t in "${TARGETS[@]}"; do
        arch=${t%%-*}
        (
            # --config adds to .cargo/config.toml's flags for the target; RUSTFLAGS would
            # replace them (x86_64's packed relocations).
            cd "$src" &&
                CARGO_TARGET_DIR="$src/target/dist-build" \
                    cargo build --quiet --release --locked --target "$t" --config \
                    "target.$t.rustflags=[\"--remap-path-prefix=$src=/dind-init\", \"--remap-path-prefix=$cargo_home=/cargo\"]"
        ) || { lib_err "cargo build --target $t failed in $src"; return 1; }
        bin=$src/target/dist-build/$t/release/dind-init
        lib_static_elf "$bin" || { lib_err "$bin is not static"; return 1; }
        install -m 0755 "$bin" "$out/dind-init-$VERSION-$arch-linux-musl" || return 1
    done
    (cd "$out" && sha256sum dind-init-"$VERSION"-* >SHA256SUMS)
}

lib_args --check "$@"
if [ "${1:-}" != --check ]; then
    lib_toolchain || exit 1
    build_dist "$DIND_REPO" "$DIND_REPO/dist" || exit 1
    echo "dist/ ($VERSION, commit $(git rev-parse --short=12 HEAD)):"
    (cd dist && ls -l dind-init-* && cat SHA256SUMS)
    exit 0
fi

# ------------------------------------------------------------------ --check

WORK=$(mktemp -d /tmp/dind-init-release.XXXXXX)
cleanup() { lib_host_stop; rm -rf "$WORK"; }
lib_traps cleanup

t0=$(lib_now)
if lib_toolchain && build_dist "$DIND_REPO" "$DIND_REPO/dist"; then
    lib_result PASS "dist/ built" "$(lib_since "$t0")" "$(cd dist && stat -c '%n %s' dind-init-* | tr '\n' ' ')"
else
    lib_result FAIL "dist/ built" "$(lib_since "$t0")"
    lib_summary
    exit 1
fi

t0=$(lib_now)
git clone -q "$DIND_REPO" "$WORK/elsewhere/dind-init" && build_dist "$WORK/elsewhere/dind-init" "$WORK/dist2"
if cmp -s dist/SHA256SUMS "$WORK/dist2/SHA256SUMS"; then rc=0 note=$(cut -c1-16 dist/SHA256SUMS | tr '\n' ' ')
else rc=1 note=$(diff dist/SHA256SUMS "$WORK/dist2/SHA256SUMS" | tr '\n' ' ' | cut -c1-300); fi
lib_verdict $rc "reproducible: a fresh clone elsewhere gives the same bytes" "$t0" "$note"

t0=$(lib_now)
v=$(dist/dind-init-"$VERSION"-x86_64-linux-musl --version)
[ "$v" = "dind-init $VERSION (commit $(git rev-parse --short=12 HEAD), x86_64-unknown-linux-musl)" ]
lib_verdict $? "--version says version, commit and target" "$t0" "$v"

# The crate people can install: `cargo package` packs it and builds the packed copy.
t0=$(lib_now)
if out=$(cargo package --locked --allow-dirty 2>&1); then rc=0 note="$(cargo package --list --allow-dirty 2>/dev/null | wc -l) files"
else rc=1 note=$(tail -n 3 <<<"$out" | tr '\n' ' '); fi
lib_verdict $rc "cargo package (builds the packed crate)" "$t0" "$note"

# The images, both platforms, offline: docker/Dockerfile's `dist` stage takes dist/'s binary.
images() {
    lib_arm64_emulation || return 1
    lib_host_start "${RELEASE_INSTANCE:-release}" || return 1
    local ctx=$WORK/ctx plat arch want img cfg machine out
    mkdir -p "$ctx/dist" && cp dist/dind-init-* "$ctx/dist/" || return 1
    for plat in amd64 arm64; do
        img=dind-init:$VERSION-$plat
        t0=$(lib_now)
        if ! lib_build "$img" "$ctx" -f "$DIND_REPO/docker/Dockerfile" --target dist --platform "linux/$plat" \
            --build-arg "VERSION=$VERSION" >"$WORK/build-$plat.log" 2>&1; then
            lib_result FAIL "image linux/$plat (docker/Dockerfile --target dist)" "$(lib_since "$t0")" "$(tail -n 3 "$WORK/build-$plat.log" | tr '\n' ' ')"
            continue
        fi
        arch=$(dk image inspect -f '{{.Os}}/{{.Architecture}}' "$img")
        # the binary in the image: its ELF machine (x86-64 62, AArch64 183)
        cfg=$(dk create "$img" 2>/dev/null) && dk cp "$cfg:/dind-init" "$WORK/bin-$plat" >/dev/null 2>&1
        dk rm "$cfg" >/dev/null 2>&1
        want=62 && [ "$plat" = arm64 ] && want=183
        machine=$(python3 -c 'import struct,sys; print(struct.unpack_from("<H", open(sys.argv[1],"rb").read(), 18)[0])' "$WORK/bin-$plat" 2>/dev/null)
        [ "$arch" = "linux/$plat" ] && [ "$machine" = "$want" ]
        lib_verdict $? "image linux/$plat holds the $plat binary" "$t0" "$img: $arch, ELF machine '$machine'"
    done
    t0=$(lib_now)
    out=$(dk run --rm --platform linux/arm64 "dind-init:$VERSION-arm64" --version 2>&1)
    grep -q aarch64-unknown-linux-musl <<<"$out"
    lib_verdict $? "the arm64 image runs under emulation" "$t0" "$(head -c 300 <<<"$out")"
    buildx_check "$ctx"
}
# The one tag for both platforms, as the README gives it: `docker buildx build --platform
# linux/amd64,linux/arm64 --target dist` inside a Docker-in-Docker container run by dind-init
# (sid's engine + docker-buildx, the containerd image store, /var/lib/docker on a volume), offline
# (--network none). Its `docker save` (an OCI layout) is read here: the tag's index lists exactly
# linux/amd64 and linux/arm64 (attestations aside), each /dind-init of the right ELF machine; the
# tag runs `--version` as each platform inside (arm64 through the host's binfmt, F flag).
BUILDX_IMAGE=dind-init/debian:test-sid-buildx

# buildx_image: BUILDX_IMAGE, DIND_IMAGE (sid) + docker-buildx's .deb (fetched once per base rootfs)
buildx_image() {
    local cache=$DIND_CACHE/buildx$DIND_SUITE_TAG key
    key=$(basename "$(lib_base_rootfs)" .tar) || return 1
    if [ "$(cat "$cache/key" 2>/dev/null)" != "$key" ] || ! ls "$cache"/debs/docker-buildx_*.deb >/dev/null 2>&1; then
        mkdir -p "$cache" && PY_CACHE=$cache lib_apt_fetch "$cache/debs" docker-buildx && echo "$key" >"$cache/key" || return 1
    fi
    DIND_BIN=${DIND_BIN:-$DIND_REPO/dist/dind-init-$VERSION-x86_64-linux-musl}
    lib_base_image && lib_dind_image || return 1
    printf 'FROM %s\nCOPY debs /tmp/debs\nRUN dpkg -i /tmp/debs/*.deb && rm -rf /tmp/debs && docker buildx version\n' \
        "$DIND_IMAGE" >"$cache/Dockerfile"
    lib_build "$BUILDX_IMAGE" "$cache" -f "$cache/Dockerfile"
}

# oci_platforms TAR: `tag NAME` of the one entry in index.json; for each image manifest of its
# index, `OS/ARCH ELF-MACHINE` of its /dind-init (0: none); `attestations N` (BuildKit's provenance)
oci_platforms() {
    python3 - "$1" <<'PY'
import io, json, struct, sys, tarfile
t = tarfile.open(sys.argv[1])
blob = lambda d: t.extractfile("blobs/" + d["digest"].replace(":", "/")).read()
tops = json.loads(t.extractfile("index.json").read())["manifests"]
if len(tops) != 1:
    sys.exit("index.json: %d entries, expected the one tag" % len(tops))
print("tag %s" % tops[0].get("annotations", {}).get("io.containerd.image.name"))
idx = json.loads(blob(tops[0]))
att = 0
for m in idx.get("manifests", [tops[0]] if "layers" in idx else []):
    if m.get("annotations", {}).get("vnd.docker.reference.type") == "attestation-manifest":
        att += 1
        continue
    machine = 0
    for layer in json.loads(blob(m))["layers"]:
        with tarfile.open(fileobj=io.BytesIO(blob(layer))) as lt:
            for e in lt.getmembers():
                if e.name.lstrip("./") == "dind-init":
                    machine = struct.unpack_from("<H", lt.extractfile(e).read(20), 18)[0]
    p = m.get("platform", {})
    print("%s/%s %d" % (p.get("os"), p.get("architecture"), machine))
print("attestations %d" % att)
PY
}

# buildx_check CONTEXT: CONTEXT holds dist/; the rows "buildx: ..."
buildx_check() {
    local ctx=$1 d=$WORK/buildx t0 rc out plats want buildx
    t0=$(lib_now)
    if ! buildx_image >"$WORK/buildx-image.log" 2>&1; then
        lib_result FAIL "buildx: one tag for linux/amd64 and linux/arm64" "$(lib_since "$t0")" "image: $(tail -n 3 "$WORK/buildx-image.log" | tr '\n' ' ')"
        return 1
    fi
    lib_log "$BUILDX_IMAGE ready after $(lib_since "$t0") s"
    buildx=$(find "$DIND_CACHE/buildx$DIND_SUITE_TAG/debs" -name 'docker-buildx_*.deb' -printf '%f' | cut -d_ -f2)
    mkdir -p "$d" "$ctx/docker" && cp docker/Dockerfile "$ctx/docker/" || return 1
    printf '{"features": {"containerd-snapshotter": true}}\n' >"$d/daemon.json"
    cat >"$d/run.sh" <<EOF
set -e
docker info -f 'store={{json .DriverStatus}}'
docker buildx build --progress plain --platform linux/amd64,linux/arm64 --target dist \\
    --build-arg VERSION=$VERSION -f /ctx/docker/Dockerfile -t dind-init:$VERSION /ctx >/out/build.log 2>&1
docker save -o /out/image.tar dind-init:$VERSION
echo "amd64=\$(docker run --rm --platform linux/amd64 dind-init:$VERSION --version 2>&1)"
echo "arm64=\$(docker run --rm --platform linux/arm64 dind-init:$VERSION --version 2>&1)"
EOF
    t0=$(lib_now)
    # -v /var/lib/docker: a volume (the image declares it too): the containerd store cannot sit on overlayfs
    DK_TIMEOUT=600 dk run --rm --privileged --network none -v /var/lib/docker -v "$d/daemon.json:/etc/docker/daemon.json:ro" \
        -v "$ctx:/ctx:ro" -v "$d:/out" "$BUILDX_IMAGE" sh /out/run.sh >"$d/run.out" 2>"$d/run.err"
    rc=$?
    if [ $rc != 0 ] || ! plats=$(oci_platforms "$d/image.tar" 2>&1); then
        lib_result FAIL "buildx: one tag for linux/amd64 and linux/arm64" "$(lib_since "$t0")" \
            "exit $rc: $(tail -n 3 "$d/build.log" 2>/dev/null | tr '\n' ' ') $(tail -n 3 "$d/run.err" | tr '\n' ' ') ${plats:-}"
        return 1
    fi
    [ "$(grep -v '^attestations\|^tag' <<<"$plats" | sort)" = $'linux/amd64 62\nlinux/arm64 183' ] &&
        grep -qx "tag docker.io/library/dind-init:$VERSION" <<<"$plats" && grep -q 'io.containerd.snapshotter.v1' "$d/run.out"
    lib_verdict $? "buildx: one tag holding exactly linux/amd64 and linux/arm64, each with its binary" "$t0" \
        "dind-init:$VERSION, sid's DinD, buildx $buildx, containerd store: $(tr '\n' ' ' <<<"$plats")"
    for plat in amd64 arm64; do
        out=$(sed -n "s/^$plat=//p" "$d/run.out")
        want=x86_64-unknown-linux-musl && [ "$plat" = arm64 ] && want=aarch64-unknown-linux-musl
        [ "$out" = "dind-init $VERSION (commit $(git rev-parse --short=12 HEAD), $want)" ]
        lib_verdict $? "buildx: the tag runs --version as linux/$plat$([ "$plat" = arm64 ] && echo ' (emulated)')" "$t0" "$out"
    done
}

if lib_is_root; then
    images || lib_result FAIL "container images" 0 "set-up failed (packages or the host dockerd)"
else
    lib_result SKIP "container images" 0 "needs root (its own dockerd)"
fi
lib_summary
