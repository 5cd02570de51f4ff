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
# linux/arm64 (ELF machine checked), the arm64 one run under qemu-user. Offline; installs the musl
# targets and, for --check, qemu-user-static and binfmt-support.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
export LC_ALL=C
export LIB_TAG=release
# shellcheck source-path=SCRIPTDIR source=lib.sh
. scripts/lib.sh

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
            cd "$src" &&
                CARGO_TARGET_DIR="$src/target/dist-build" \
                    RUSTFLAGS="--remap-path-prefix=$src=/dind-init --remap-path-prefix=$cargo_home=/cargo" \
                    cargo build --quiet --release --locked --target "$t"
        ) || { lib_err "cargo build --target $t failed in $src"; return 1; }
        bin=$src/target/dist-build/$t/release/dind-init
        lib_static_elf "$bin" || { lib_err "$bin is not static"; return 1; }
        install -m 0755 "$bin" "$out/dind-init-$VERSION-$arch-linux-musl" || return 1
    done
    (cd "$out" && sha256sum dind-init-"$VERSION"-* >SHA256SUMS)
}

if [ "${1:-}" != --check ]; then
    [ $# -eq 0 ] || { lib_usage; exit 2; }
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
}
if lib_is_root; then
    images || lib_result FAIL "container images" 0 "set-up failed (packages or the host dockerd)"
else
    lib_result SKIP "container images" 0 "needs root (its own dockerd)"
fi
lib_summary
