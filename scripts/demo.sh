#!/usr/bin/env bash
# The README's demo, on a fresh Debian/Ubuntu machine (root, rustup's Rust, no registry): installs
# what is missing, builds dind-init and a Debian DinD image, runs `docker run --privileged IMAGE
# docker run INNER echo hello` (the inner image loaded into volume dind-init-demo first) on a
# throwaway host dockerd (instance DEMO_INSTANCE, default demo); prints how long each phase took
# (set-up by the clock, the container's phases from dind-init's events).
# Owns: the README's demo command.
set -uo pipefail
LIB_TAG=demo
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
lib_args '' "$@"
lib_is_root || { lib_err "needs root (it installs packages and starts its own dockerd): sudo $0"; exit 1; }

VOL=dind-init-demo PHASES=() LOG=$(mktemp)
# shellcheck disable=SC2317  # run by the trap
cleanup() { [ -n "${DIND_HOST_PID:-}" ] && DK_TIMEOUT=30 dk volume rm -f "$VOL" >/dev/null 2>&1; lib_host_stop; rm -f "$LOG"; }
lib_traps cleanup
took() { PHASES+=("$(printf '  %-52s %8.2f s' "$1" "$(lib_since "$2" 2)")"); }   # NAME T0: a phase's row
phase() { # NAME COMMAND...: run it, time it
    local t0
    t0=$(lib_now)
    echo "demo: $1 ..."
    "${@:2}" || { lib_err "$1 failed"; exit 1; }
    took "$1" "$t0"
}
# shellcheck disable=SC2317  # run by phase
preload() {
    dk volume rm -f "$VOL" >/dev/null 2>&1
    dk run --rm --privileged -v "$VOL:/var/lib/docker" -v "$INNER_TAR:/images/inner.tar:ro" \
        "$DIND_IMAGE" docker load -q -i /images/inner.tar >/dev/null
}
phase "install packages (when missing)" lib_install_deps
phase "cargo build --release" lib_build_binary
phase "start the throwaway host dockerd" lib_host_start "${DEMO_INSTANCE:-demo}"
phase "base image (debootstrap once, then cached)" lib_base_image
phase "inner image (static busybox)" lib_inner_image
phase "DinD image (docker/Dockerfile, debian.Dockerfile)" lib_dind_image
phase "load the inner image into volume $VOL" preload

RUN=(run --rm --privileged -v "$VOL:/var/lib/docker" "$DIND_IMAGE" docker run --rm "$INNER_IMAGE"
    echo hello)
printf '\ndemo: $ docker %s\n' "${RUN[*]}"
t0=$(lib_now)
dk "${RUN[@]}" 2>"$LOG"
rc=$?
took 'the docker run above (host clock)' "$t0"
echo "demo: exit status $rc; dind-init's log:"
sed -n 's/^dind-init: /  &/p' "$LOG"
printf '\n%s\n' "demo: set-up phases" "${PHASES[@]}"
printf '\n%s\n' "demo: inside the container, from dind-init's log"
t() { lib_event_t "$LOG" "$@"; }   # EVENT [K=V...]: its +T
row() { [ -n "$2" ] && [ -n "$3" ] && awk -v l="$1" -v a="$2" -v b="$3" 'BEGIN { printf "  %-52s %8.3f s\n", l, b - a }'; }   # LABEL A B: B - A
cg=$(lib_event_get "$LOG" cgroups ms)
[ -n "$cg" ] && printf '  %-52s %8s\n' "cgroup set-up" "$cg ms"
row "start -> containerd serving (dind-init's own; Docker 23+)" 0 "$(t containerd-ready)"
row "start -> dockerd spawned" 0 "$(t dockerd-start)"
row "dockerd spawned -> answers /_ping" "$(t dockerd-start)" "$(t dockerd-ready)"
row "ready -> command started" "$(t dockerd-ready)" "$(t command-start)"
row "the command (inner docker run echo hello)" "$(t command-start)" "$(t command-exit)"
row "dockerd shutdown (SIGTERM -> exited)" "$(t stop-begin)" "$(t dockerd-exit)"
row "total, dind-init start -> exit" 0 "$(t exit --last)"
exit "$rc"
