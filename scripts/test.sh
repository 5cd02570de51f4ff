#!/usr/bin/env bash
# The README's test command (and what CI runs): everything, against real engines.
#   1. the static release build (and a check that it is static and small)
#   2. cargo test: unit tests, parser fuzzing (bounded), namespace tests with a fake dockerd
#   3. scripts/e2e.sh: the real Docker-in-Docker scenario matrix on a throwaway dockerd
#   4. scripts/e2e-field.sh: faults (dockerd/containerd killed, 20 stop/start cycles) and field
#      hardening (shutdown grace, MTU, Docker SDK client, health, iptables, storage)
#   5. scripts/examples.sh: the example images (Maven, Jenkins agent) and k8s/ manifests
#   6. scripts/v2-lab.sh: the cgroup v2 scenarios in a qemu VM (bookworm's kernel and engine), then
#      the same with trixie's (V2LAB_SUITE=trixie), then an arm64 VM (V2LAB_ARCH=arm64)
# Needs root. Installs what it needs. Under CI=true nothing may be skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export DIND_CACHE="${DIND_CACHE:-/var/cache/dind-init}"

stages=()
failed=0
tests_passed=0
tests_failed=0
stage_log=$(mktemp)
trap 'rm -f "$stage_log"' EXIT
stage() { # NAME COMMAND...
    local name=$1; shift
    local t0=$SECONDS rc p f
    echo
    echo "=== test stage: $name"
    "$@" 2>&1 | tee "$stage_log"
    rc=${PIPESTATUS[0]}
    # Count the tests the stage ran: cargo's "test result: ok. N passed; M failed" and the
    # scripts' "NAME: N passed, M failed" summary lines.
    p=$(grep -aoE '[0-9]+ passed[;,] [0-9]+ failed' "$stage_log" | awk '{s+=$1} END {print s+0}')
    f=$(grep -aoE '[0-9]+ passed[;,] [0-9]+ failed' "$stage_log" | awk '{s+=$3} END {print s+0}')
    tests_passed=$((tests_passed + p))
    tests_failed=$((tests_failed + f))
    if [ "$rc" -eq 0 ]; then
        stages+=("PASS  $name  ($((SECONDS - t0)) s, $p tests)")
    else
        stages+=("FAIL  $name  ($((SECONDS - t0)) s, exit $rc, $p passed, $f failed)")
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
stage "faults and field hardening on a real engine (scripts/e2e-field.sh)" scripts/e2e-field.sh
stage "example images and Kubernetes manifests (scripts/examples.sh)" scripts/examples.sh
stage "cgroup v2 lab (scripts/v2-lab.sh)" scripts/v2-lab.sh
stage "cgroup v2 lab, trixie (V2LAB_SUITE=trixie scripts/v2-lab.sh)" env V2LAB_SUITE=trixie scripts/v2-lab.sh
stage "arm64 lab (V2LAB_ARCH=arm64 scripts/v2-lab.sh)" env V2LAB_ARCH=arm64 scripts/v2-lab.sh

echo
echo "=== summary"
printf '%s\n' "${stages[@]}"
echo "stages: $(( ${#stages[@]} - failed )) of ${#stages[@]} passed"
if [ "$failed" -gt 0 ] && [ "$tests_failed" -eq 0 ]; then
    tests_failed=$failed   # a stage failed before it could count its tests
fi
echo "tests: $tests_passed passed, $tests_failed failed"
[ "$failed" -eq 0 ]
