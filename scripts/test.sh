#!/usr/bin/env bash
# The README's test command, and what CI runs (.ci/run): every stage, against real engines.
# Owns: the list of stages and their runner; the lint stage; cargo test rows.
#
#   sudo scripts/test.sh               # every stage (CI runs this, with CI=true)
#   sudo scripts/test.sh --list        # the stages (what each tests: docs/TESTING.md)
#   sudo scripts/test.sh e2e-sid demo  # some stages, by name
#   sudo scripts/test.sh --all-engines # the whole matrix on trixie too (not in CI)
#
# Rows in target/test-results/NN-STAGE.tsv, summed at the end: `tests: N passed, M failed` (see
# docs/TESTING.md). Needs root.
set -uo pipefail
LIB_TAG='test'
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# ------------------------------------------------------------------ the stages

# row LABEL CMD...: a row, PASS when CMD succeeds; its note the NOTE CMD sets, or on a failure
# the first error line of CMD's output (shown)
row() {
    local label=$1 t0 log rc
    shift
    t0=$(lib_now) log=$(mktemp) NOTE=
    "$@" > >(tee "$log") 2>&1
    rc=$?
    wait   # for tee
    if [ "$rc" != 0 ] && [ -z "$NOTE" ]; then
        NOTE=$(grep -m1 -E 'error|warning|FAIL|SC[0-9]+|Diff' "$log" | cut -c1-160)
    fi
    rm -f "$log"
    lib_verdict "$rc" "$label" "$t0" "$NOTE"
}

setup() { lib_toolchain && lib_install_deps && NOTE="$(cargo --version), $(docker --version)"; }
s_setup() { row "rustup targets and host packages" setup; lib_summary; }

build() { # ARCH: a static release binary
    local bin=target/$1-unknown-linux-musl/release/dind-init
    cargo build --release --locked --target "$1-unknown-linux-musl" || return 1
    lib_static_elf "$bin" || { NOTE="$bin is not a static executable"; return 1; }
    NOTE="$(stat -c %s "$bin") bytes, static"
}
s_build() {
    local arch
    for arch in x86_64 aarch64; do
        row "cargo build --release --target $arch-unknown-linux-musl" build "$arch"
    done
    lib_summary
}

# s_cargo_test [CARGO-TEST-ARGS...]: a row per test; one that said `dind-init-test: SKIP NAME: WHY`
# (src/ci.rs) in its stdout (--show-output: under `---- NAME stdout ----`) is a SKIP, not a PASS.
s_cargo_test() {
    local log rc st name why
    log=$(mktemp)
    case " $* " in *" -- "*) set -- "$@" --show-output ;; *) set -- "$@" -- --show-output ;; esac
    cargo test --locked --no-fail-fast "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    declare -A skipped=()
    while IFS=$'\t' read -r name why; do skipped[$name]=$why; done < <(awk '
        /^---- .* stdout ----$/ { cur = $2; next }
        /^dind-init-test: SKIP / { sub(/^dind-init-test: SKIP /, ""); n = $0; sub(/: .*/, "", n)
            print (cur != "" ? cur : n) "\t" substr($0, length(n) + 3) }' "$log")
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

# every executable scripts/*.sh: --help exits 0 with its header's first line (line 2); an unknown
# argument exits 2 (a usage error, never a run: each is given 20 s); a scenario script's --list
# exits 0
lint_args() {
    local f out rc head bad=0
    for f in scripts/*.sh; do
        [ -x "$f" ] || continue
        head=$(sed -n '2s/^# \{0,1\}//p' "$f")
        out=$(timeout 20 "$f" --help 2>&1) && [ "$(head -n 1 <<<"$out")" = "$head" ] ||
            { echo "FAIL: $f --help: exit $?, '$(head -n 1 <<<"$out")', not '$head'"; bad=1; }
        timeout 20 "$f" --no-such-argument >/dev/null 2>&1
        rc=$?
        [ "$rc" = 2 ] || { echo "FAIL: $f --no-such-argument: exit $rc, not 2"; bad=1; }
        grep -q '^scenario_args ' "$f" || continue   # its --list: a row of docs/TESTING.md each
        timeout 20 "$f" --list >/dev/null || { echo "FAIL: $f --list: exit $?"; bad=1; }
    done
    return $bad
}
s_lint() {
    local files f
    for f in $(git ls-files scripts .ci docker/examples bench); do   # *.sh, or a #!...sh line
        if [[ $f == *.sh ]] || head -n 1 "$f" 2>/dev/null | grep -qE '^#!.*[/ ](ba)?sh( |$)'; then
            files+=("$f")
        fi
    done
    row "cargo clippy --all-targets -D warnings -D clippy::undocumented_unsafe_blocks" \
        cargo clippy --all-targets --locked -- -D warnings -D clippy::undocumented_unsafe_blocks
    row "cargo fmt --check" cargo fmt --check
    row "shellcheck (default severity) on ${#files[@]} scripts" shellcheck -x "${files[@]}"
    row "scripts/*.sh: --help prints the usage, an unknown argument exits 2" lint_args
    row "python3 -m unittest (scripts/: events.py)" \
        python3 -m unittest discover -s scripts -p 'test_*.py'
    lib_summary
}

# The same for aarch64 under qemu-user (~20x slower: fewer fuzzing cases), without what qemu-user
# cannot show (docs/TESTING.md): real-time signals, its own ignored signal, PR_SET_CHILD_SUBREAPER
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
s_trixie() { # SCRIPT SCENARIOS...: the representative set on trixie; --all-engines: every scenario
    if [ -n "${ALL_ENGINES:-}" ]; then s_e2e "$1" trixie; else s_e2e "$1" trixie "${@:2}"; fi
}

demo() { # the README's first command, from a fresh clone of HEAD: prints hello, exits 0
    local dir rc=1
    dir=$(mktemp -d /tmp/dind-init-demo.XXXXXX)
    NOTE="git clone failed"
    if git clone -q "$DIND_REPO" "$dir/repo"; then
        (cd "$dir/repo" && DIND_RESULTS="" LIB_TAG=demo scripts/demo.sh) 2>&1 | tee "$dir/demo.log"
        rc=${PIPESTATUS[0]} NOTE="exit ${PIPESTATUS[0]}"
        [ "$rc" = 0 ] && grep -qx hello "$dir/demo.log" && NOTE="printed hello, exit 0" || rc=1
    fi
    rm -rf "$dir"
    return "$rc"
}
s_demo() {
    row "scripts/demo.sh from a fresh clone of $(git rev-parse --short HEAD)" demo
    lib_summary
}

# The lab picks its suite from V2LAB_SUITE: lib.sh's exported DIND_SUITE must not reach it.
s_lab() { env -u DIND_SUITE "$@" scripts/v2-lab.sh; }             # VAR=VALUE...

# NAME COMMAND [ARGS]: what each stage tests is in docs/TESTING.md's table
STAGES=(
    "setup s_setup"
    "lint s_lint"
    "build s_build"
    "cargo-test s_cargo_test"
    "cargo-test-aarch64 s_cargo_test_aarch64"
    "e2e-bookworm s_e2e e2e bookworm"
    "field-bookworm s_e2e e2e-field bookworm"
    "e2e-sid s_e2e e2e sid"
    "field-sid s_e2e e2e-field sid"
    "e2e-trixie s_trixie e2e 1 5 6 7 12 13 15"
    "field-trixie s_trixie e2e-field F1 F3 H2 H8 H9"
    "service s_e2e e2e-service trixie"
    "rootless-sid s_e2e e2e-rootless sid"
    "rootless-bookworm s_e2e e2e-rootless bookworm R1 R2 R4"
    "rootless-trixie s_e2e e2e-rootless trixie R1 R2 R4"
    "images s_e2e e2e-images trixie"
    "examples scripts/examples.sh"
    "demo s_demo"
    "release scripts/release.sh --check"
    "v2-lab s_lab V2LAB_SUITE=bookworm"
    "v2-lab-trixie s_lab V2LAB_SUITE=trixie"
    "arm64-lab s_lab V2LAB_ARCH=arm64"
)

SELECTED=()
for a in "$@"; do
    case "$a" in
        -h | --help) lib_usage; exit 0 ;;
        --list)
            for s in "${STAGES[@]}"; do printf '%-20s %s\n' "${s%% *}" "${s#* }"; done
            exit 0 ;;
        --all-engines) ALL_ENGINES=1 ;;
        *) n=${#SELECTED[@]}
            for s in "${STAGES[@]}"; do [ "${s%% *}" = "$a" ] && SELECTED+=("$s"); done
            [ "$n" != ${#SELECTED[@]} ] || { lib_err "unknown stage '$a' (see --list)"; exit 2; } ;;
    esac
done
[ ${#SELECTED[@]} -gt 0 ] || SELECTED=("${STAGES[@]}")

# ------------------------------------------------------------------ the runner

RESULTS=$DIND_REPO/target/test-results
rm -rf "$RESULTS"
mkdir -p "$RESULTS" || exit 2
summary=() passed=0 failed=0 skipped=0 i=0 t_all=$SECONDS
for s in "${SELECTED[@]}"; do
    read -r name cmd <<<"$s"
    i=$((i + 1)) t0=$SECONDS
    file=$RESULTS/$(printf '%02d' "$i")-$name.tsv
    : >"$file"
    printf '\n=== test stage: %s: %s\n' "$name" "$cmd"
    # shellcheck disable=SC2086  # cmd holds the function and its arguments
    (export DIND_RESULTS=$file LIB_TAG=$name; $cmd)
    rc=$?
    p=$(grep -c '^PASS' "$file") f=$(grep -c '^FAIL' "$file") k=$(grep -c '^SKIP' "$file") why=''
    [ "$rc" != 0 ] && [ "$f" = 0 ] && why="exited $rc before reporting a failed test"
    [ -z "$why" ] && [ "$((p + f + k))" = 0 ] && why="ran no test"
    if [ -n "$why" ]; then
        printf 'FAIL\t%s\tthe stage\t%s\t%s\n' "$name" "$((SECONDS - t0))" "$why" >>"$file"
        f=1
    fi
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + k))
    status=PASS
    [ "$f" -gt 0 ] && status=FAIL
    summary+=("$(printf '%-4s  %-20s %5d s  %4d passed, %d failed' "$status" "$name" \
        "$((SECONDS - t0))" "$p" "$f")")
    [ "$k" != 0 ] && summary[-1]+=", $k skipped"
done

printf '\n=== summary (%d s; results in %s/)\n' "$((SECONDS - t_all))" "$RESULTS"
printf '%s\n' "${summary[@]}"
if lib_in_ci && [ "$skipped" -gt 0 ]; then
    echo "CI=true: $skipped skipped test(s) count as failed"
    failed=$((failed + skipped))
fi
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
