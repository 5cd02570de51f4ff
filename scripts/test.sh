#!/usr/bin/env bash
# The README's test command, and what CI runs (.ci/run): every stage, against real engines.
# Owns: the list of stages and their runner (the README's test command); the lint stage; cargo
#   test rows.
#
#   sudo scripts/test.sh               # every stage (CI runs this, with CI=true)
#   sudo scripts/test.sh --list        # the stages
#   sudo scripts/test.sh e2e-sid demo  # some stages, by name
#
# Each stage reports its tests with lib_result (lib.sh) into target/test-results/STAGE.tsv; the
# last line is `tests: N passed, M failed`, the status 0 only when nothing failed (a stage that
# exits non-zero without a failed row counts one). Under CI=true a skip is a failure. Needs root.
# Engines: the whole matrix on bookworm (20.10) and sid (newest), a representative set and the
# service scenarios on trixie (26.1); --all-engines: the whole matrix everywhere (not in CI).
set -uo pipefail
LIB_TAG='test'
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

RESULTS=$DIND_REPO/target/test-results
ALL_ENGINES=0
# The representative set on trixie: start-up, exit codes, the stop, restarts, cgroups, policies
E2E_REPRESENTATIVE=(1 5 6 7 12 13 15)
FIELD_REPRESENTATIVE=(F1 F3 H2 H8 H9)

# ------------------------------------------------------------------ the stages

s_setup() { # the toolchain (and its musl targets) and the host packages every stage needs
    local t0 rc=1 note=''
    t0=$(lib_now)
    lib_toolchain && lib_install_deps && rc=0 note="$(cargo --version 2>/dev/null), $(docker --version 2>/dev/null)"
    lib_verdict "$rc" "rustup targets and host packages" "$t0" "$note"
    lib_summary
}

s_build() { # the static release binaries, both architectures
    local t0 target bin rc note
    for target in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
        t0=$(lib_now) bin=target/$target/release/dind-init rc=1 note=''
        if ! cargo build --release --locked --target "$target"; then :
        elif lib_static_elf "$bin"; then rc=0 note="$(stat -c %s "$bin") bytes, static"
        else note="$bin is not a static executable"; fi
        lib_verdict "$rc" "cargo build --release --target $target" "$t0" "$note"
    done
    lib_summary
}

# s_cargo_test [CARGO-TEST-ARGS...]: unit, fuzzing, namespace and fault tests; a row per test.
# --show-output prints each passed test's stdout under `---- NAME stdout ----`: a test that
# skipped itself said `dind-init-test: SKIP NAME: WHY` there, and is a SKIP row, not a PASS.
s_cargo_test() {
    local log rc st name why
    log=$(mktemp)
    case " $* " in *" -- "*) set -- "$@" --show-output ;; *) set -- "$@" -- --show-output ;; esac
    cargo test --locked --no-fail-fast "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    declare -A skipped=()
    while IFS=$'\t' read -r name why; do skipped[$name]=$why; done < <(awk '
        /^---- .* stdout ----$/ { cur = $2; next }
        /^dind-init-test: SKIP / { sub(/^dind-init-test: SKIP /, ""); n = $0; sub(/: .*/, "", n); w = substr($0, length(n) + 3)
            print (cur != "" ? cur : n) "\t" w }' "$log")
    # `test NAME ... ok|FAILED|ignored` -> a row each
    while IFS=$'\t' read -r st name; do
        case "$st" in ok) st=PASS ;; FAILED) st=FAIL ;; ignored) st=SKIP ;; esac
        why=
        if [ "$st" = PASS ] && [ -n "${skipped[$name]+x}" ]; then st=SKIP why=${skipped[$name]}; fi
        lib_result "$st" "$name" 0 "$why" >/dev/null
    done < <(sed -n 's/^test \(.*\) \.\.\. \(ok\|FAILED\|ignored\)$/\2\t\1/p' "$log")
    rm -f "$log"
    return "$rc"
}

# s_lint: clippy (warnings and undocumented unsafe blocks denied), rustfmt, shellcheck on every
# shell script (scripts/.shellcheckrc) and the unit tests of scripts/; a row each
lint_row() { # LABEL CMD...
    local label=$1 t0 out
    shift
    t0=$(lib_now)
    if out=$("$@" 2>&1); then lib_result PASS "$label" "$(lib_since "$t0")"; return; fi
    echo "$out" | tail -n 40
    lib_result FAIL "$label" "$(lib_since "$t0")" "$(echo "$out" | grep -m1 -E 'error|warning|FAIL|SC[0-9]+|Diff' | cut -c1-160)"
}
lint_shell_files() { # every tracked shell script: *.sh, or a #!...sh first line
    local f
    git -C "$DIND_REPO" ls-files scripts .ci docker/examples bench | while read -r f; do
        case "$f" in *.sh) echo "$f"; continue ;; esac
        head -n 1 "$f" 2>/dev/null | grep -qE '^#!.*[/ ](ba)?sh( |$)' && echo "$f"
    done
}
# every executable script: --help exits 0 with its header's first line; an unknown argument exits 2
# (a usage error, never a run: each is given 20 s)
lint_args() {
    local f out rc head bad=0
    for f in "$DIND_REPO"/scripts/*.sh; do
        [ -x "$f" ] || continue
        head=$(sed -n '2,/^set -/{/^# shellcheck /d;p}' "$f" | sed -n '1s/^# \{0,1\}//p')
        out=$(timeout 20 "$f" --help 2>&1) && [ "$(head -n 1 <<<"$out")" = "$head" ] ||
            { echo "FAIL: ${f#"$DIND_REPO"/} --help: exit $?, first line '$(head -n 1 <<<"$out")', header '$head'"; bad=1; }
        timeout 20 "$f" --no-such-argument >/dev/null 2>&1
        rc=$?
        [ "$rc" = 2 ] || { echo "FAIL: ${f#"$DIND_REPO"/} --no-such-argument: exit $rc, not 2"; bad=1; }
    done
    return $bad
}
s_lint() {
    local files
    mapfile -t files < <(lint_shell_files)
    lint_row "cargo clippy --all-targets -D warnings -D clippy::undocumented_unsafe_blocks" \
        cargo clippy --all-targets --locked -- -D warnings -D clippy::undocumented_unsafe_blocks
    lint_row "cargo fmt --check" cargo fmt --check
    lint_row "shellcheck (default severity) on ${#files[@]} scripts" shellcheck -x "${files[@]}"
    lint_row "scripts/*.sh: --help prints the usage, an unknown argument exits 2" lint_args
    lint_row "python3 -m unittest (scripts/: events.py)" python3 -m unittest discover -s scripts -p 'test_*.py'
    lib_summary
}

# The same tests for aarch64 under qemu-user, fewer fuzzing cases (~20x slower). Left out, by
# name, what qemu-user cannot show (all run natively above): two tests of SIGRTMIN+N forwarding,
# which qemu-user renumbers; the signal-mask test (qemu keeps a host signal of its own ignored,
# which the command inherits); the two tests of dind-init not being PID 1, which need
# PR_SET_CHILD_SUBREAPER (qemu-user 7.2 answers EINVAL).
s_cargo_test_aarch64() {
    lib_arm64_emulation || return 1
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUNNER=qemu-aarch64-static PROPTEST_CASES=200 \
        s_cargo_test --target aarch64-unknown-linux-musl -- \
        --skip signal_storm_loses_no_queued_signal --skip signals_to_pid1_reach_the_command \
        --skip command_and_dockerd_get_own_groups_and_a_clean_signal_mask \
        --skip not_pid1_nothing_of_its_tree_outlives_it \
        --skip host_like_a_foreign_containerd_shim_and_its_child_survive_the_stop
}

s_e2e() { DIND_SUITE=$2 "scripts/$1.sh" "${@:3}"; }   # SCRIPT SUITE [SCENARIOS]: a scenario matrix
s_examples() { scripts/examples.sh; }

s_demo() { # the README's first command, from a fresh clone of HEAD
    local t0 dir rc note
    t0=$(lib_now)
    dir=$(mktemp -d /tmp/dind-init-demo.XXXXXX)
    if ! git clone -q "$DIND_REPO" "$dir/repo"; then
        lib_result FAIL "scripts/demo.sh from a fresh clone" "$(lib_since "$t0")" "git clone failed"
    else
        (cd "$dir/repo" && DIND_RESULTS="" LIB_TAG=demo scripts/demo.sh) 2>&1 | tee "$dir/demo.log"
        rc=${PIPESTATUS[0]}; note="exit $rc"
        [ "$rc" = 0 ] && grep -qx hello "$dir/demo.log" && note="printed hello, exit 0" || rc=1
        lib_verdict "$rc" "scripts/demo.sh from a fresh clone of $(git rev-parse --short HEAD)" "$t0" "$note"
    fi
    rm -rf "$dir"
    lib_summary
}

s_release() { scripts/release.sh --check; }                      # reproducible dist/
# The lab picks its suite from V2LAB_SUITE: lib.sh's exported DIND_SUITE must not reach it.
s_lab() { env -u DIND_SUITE "$@" scripts/v2-lab.sh; }             # VAR=VALUE...

# name|description|function [args]
STAGES=(
    "setup|the musl targets and the host packages|s_setup"
    "lint|clippy, rustfmt, shellcheck, the Python unit tests of scripts/|s_lint"
    "build|the static release binaries, x86_64 and aarch64|s_build"
    "cargo-test|unit tests, fuzzing, namespace and fault tests (fake dockerd)|s_cargo_test"
    "cargo-test-aarch64|the same for aarch64 under qemu-user|s_cargo_test_aarch64"
    "e2e-bookworm|the real DinD matrix on the oldest engine (bookworm, Docker 20.10)|s_e2e e2e bookworm"
    "field-bookworm|faults and field hardening on the oldest engine|s_e2e e2e-field bookworm"
    "e2e-sid|the real DinD matrix on the newest engine (sid)|s_e2e e2e sid"
    "field-sid|faults and field hardening on the newest engine|s_e2e e2e-field sid"
    "e2e-trixie|the representative set on trixie (Docker 26.1)|s_e2e e2e trixie ${E2E_REPRESENTATIVE[*]}"
    "field-trixie|containerd and dockerd killed, MTU, the containerd image store, a shared PID namespace, on trixie|s_e2e e2e-field trixie ${FIELD_REPRESENTATIVE[*]}"
    "service|docker:dind's service contract: GitLab, ARC, Jenkins, Python SDK (trixie)|s_e2e e2e-service trixie"
    "rootless-sid|a rootless dockerd (issue 22): nested uid, TLS, a port, the stop, restart policies, root PID 1, the pre-checks (sid)|s_e2e e2e-rootless sid"
    "rootless-bookworm|the rootless core on Docker 20.10 and rootlesskit 1.1: nested uid and stop, TLS and a port, root PID 1|s_e2e e2e-rootless bookworm R1 R2 R4"
    "rootless-trixie|the rootless core on Docker 26.1 and rootlesskit 2.0|s_e2e e2e-rootless trixie R1 R2 R4"
    "images|images across jobs: registry mirrors and address pools against a real registry (trixie)|s_e2e e2e-images trixie"
    "examples|the example images and the Kubernetes manifests|s_examples"
    "demo|the README's demo command from a fresh clone|s_demo"
    "release|dist/ for both architectures, built twice: byte-identical; the images, one buildx tag|s_release"
    "v2-lab|cgroup v2 in a qemu VM (bookworm kernel and engine)|s_lab V2LAB_SUITE=bookworm"
    "v2-lab-trixie|cgroup v2 in a qemu VM (trixie kernel and engine)|s_lab V2LAB_SUITE=trixie"
    "arm64-lab|Docker-in-Docker on arm64 in a qemu-system-aarch64 VM|s_lab V2LAB_ARCH=arm64"
)

SELECTED=()
for a in "$@"; do
    case "$a" in
        -h | --help) lib_usage; exit 0 ;;
        --list) for s in "${STAGES[@]}"; do IFS='|' read -r n d _ <<<"$s"; printf '%-20s %s\n' "$n" "$d"; done; exit 0 ;;
        --all-engines) ALL_ENGINES=1 ;;
        *) found=
            for s in "${STAGES[@]}"; do [ "${s%%|*}" = "$a" ] && { SELECTED+=("$s"); found=1; }; done
            [ -n "$found" ] || { echo "test.sh: unknown stage '$a' (see --list)" >&2; exit 2; } ;;
    esac
done
[ ${#SELECTED[@]} -gt 0 ] || SELECTED=("${STAGES[@]}")
if [ "$ALL_ENGINES" = 1 ]; then
    E2E_REPRESENTATIVE=() FIELD_REPRESENTATIVE=()
    SELECTED=("${SELECTED[@]//s_e2e e2e trixie */s_e2e e2e trixie}")
    SELECTED=("${SELECTED[@]//s_e2e e2e-field trixie */s_e2e e2e-field trixie}")
fi

# ------------------------------------------------------------------ the runner

rm -rf "$RESULTS"
mkdir -p "$RESULTS" || exit 2
summary=()
total_passed=0 total_failed=0 total_skipped=0 i=0
t_all=$SECONDS
for s in "${SELECTED[@]}"; do
    IFS='|' read -r name desc fn <<<"$s"
    i=$((i + 1))
    file=$RESULTS/$(printf '%02d' "$i")-$name.tsv
    : >"$file"
    echo
    echo "=== test stage: $name: $desc"
    t0=$SECONDS
    # shellcheck disable=SC2086  # fn holds the function and its arguments
    (export DIND_RESULTS=$file LIB_TAG=$name; $fn)
    rc=$?
    p=$(grep -c '^PASS' "$file") f=$(grep -c '^FAIL' "$file") k=$(grep -c '^SKIP' "$file") why=''
    [ "$rc" != 0 ] && [ "$f" = 0 ] && why="exited $rc before reporting a failed test"
    [ -z "$why" ] && [ "$((p + f + k))" = 0 ] && why="ran no test"
    [ -n "$why" ] && { printf 'FAIL\t%s\t%s\t%s\t%s\n' "$name" "the stage" "$((SECONDS - t0))" "$why" >>"$file"; f=1; }
    total_passed=$((total_passed + p)) total_failed=$((total_failed + f)) total_skipped=$((total_skipped + k))
    status=PASS
    [ "$f" -gt 0 ] && status=FAIL
    summary+=("$(printf '%-4s  %-20s %5d s  %4d passed, %d failed' "$status" "$name" "$((SECONDS - t0))" "$p" "$f")")
    [ "$k" != 0 ] && summary[-1]+=", $k skipped"
done

echo
echo "=== summary ($((SECONDS - t_all)) s; results in $RESULTS/)"
printf '%s\n' "${summary[@]}"
if lib_in_ci && [ "$total_skipped" -gt 0 ]; then
    echo "CI=true: $total_skipped skipped test(s) count as failed"
    total_failed=$((total_failed + total_skipped))
fi
echo "tests: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
