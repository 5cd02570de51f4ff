#!/usr/bin/env bash
# The README's test command (and what CI runs): everything, against real engines.
#   1. the static release build (and a check that it is static and small)
#   2. cargo test: unit tests, parser fuzzing (bounded), namespace tests with a fake dockerd
#   3. scripts/e2e.sh: the real Docker-in-Docker scenario matrix on a throwaway dockerd
#   4. scripts/v2-lab.sh: the cgroup v2 scenarios in a qemu VM
# Needs root. Installs what it needs. Under CI=true nothing may be skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export DIND_CACHE="${DIND_CACHE:-/var/cache/dind-init}"

stages=()
failed=0
stage() { # NAME COMMAND...
    local name=$1; shift
    local t0=$SECONDS
    echo
    echo "=== test stage: $name"
    if "$@"; then
        stages+=("PASS  $name  ($((SECONDS - t0)) s)")
    else
        stages+=("FAIL  $name  ($((SECONDS - t0)) s)")
        failed=$((failed + 1))
    fi
}

toolchain() {
    command -v cargo >/dev/null || { echo "cargo is missing: install Rust (rustup) first"; return 1; }
    if ! rustup target list --installed 2>/dev/null | grep -q x86_64-unknown-linux-musl; then
        rustup target add x86_64-unknown-linux-musl || return 1
    fi
    if ! command -v unshare >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq util-linux || return 1
    fi
}

release_build() {
    cargo build --release --locked || return 1
    local bin=target/x86_64-unknown-linux-musl/release/dind-init
    local ldd_out
    ldd_out=$(ldd "$bin" 2>&1 || true)
    echo "ldd: $ldd_out"
    case "$ldd_out" in
        *"not a dynamic executable"*|*"statically linked"*) ;;
        *) echo "FAIL: $bin is not static"; return 1 ;;
    esac
    echo "size: $(stat -c %s "$bin") bytes"
}

stage "toolchain" toolchain
stage "release build (static)" release_build
stage "cargo test (unit, fuzz, namespace)" cargo test --locked
stage "real Docker-in-Docker matrix (scripts/e2e.sh)" scripts/e2e.sh
stage "cgroup v2 lab (scripts/v2-lab.sh)" scripts/v2-lab.sh

echo
echo "=== summary"
printf '%s\n' "${stages[@]}"
passed=$(( ${#stages[@]} - failed ))
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
