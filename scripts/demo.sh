#!/usr/bin/env bash
# The demo: on a fresh Debian/Ubuntu machine (root, Rust via rustup, no registry needed) installs
# what is missing, builds dind-init and a Debian DinD image, loads the inner image (static busybox)
# into volume dind-init-demo, then runs
#
#   docker run --rm --privileged -v dind-init-demo:/var/lib/docker dind-init/debian:test \
#       docker run --rm dind-init-test/inner:latest echo hello
#
# on a throwaway host dockerd (instance "demo"), and prints how long each phase took (set-up by
# the clock, the container's phases from dind-init's events).
# Owns: the README's demo command.
set -uo pipefail
LIB_TAG=demo
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

lib_args '' "$@"
lib_is_root || { lib_err "needs root (it installs packages and starts its own dockerd): sudo $0"; exit 1; }

VOL=dind-init-demo
PHASES=()
phase() { # NAME COMMAND...: run it, time it
    local name=$1 t0
    t0=$(lib_now)
    shift
    echo "demo: $name ..."
    "$@" || { lib_err "$name failed"; exit 1; }
    PHASES+=("$(printf '  %-52s %8.2f s' "$name" "$(lib_since "$t0" 2)")")
}

# shellcheck disable=SC2317  # run by the trap
cleanup() {
    [ -n "${DIND_HOST_PID:-}" ] && DK_TIMEOUT=30 dk volume rm -f "$VOL" >/dev/null 2>&1
    lib_host_stop
}
lib_traps cleanup

# shellcheck disable=SC2317  # run by phase
preload() {
    dk volume rm -f "$VOL" >/dev/null 2>&1
    dk run --rm --privileged -v "$VOL:/var/lib/docker" -v "$INNER_TAR:/images/inner.tar:ro" \
        "$DIND_IMAGE" docker load -q -i /images/inner.tar >/dev/null 2>"$DEMO_LOG.load" \
        || { cat "$DEMO_LOG.load" >&2; return 1; }
}

phase "install packages (when missing)" lib_install_deps
phase "cargo build --release" lib_build_binary
phase "start the throwaway host dockerd" lib_host_start demo
phase "base image (debootstrap once, then cached)" lib_base_image
phase "inner image (static busybox)" lib_inner_image
phase "DinD image (docker/Dockerfile, debian.Dockerfile)" lib_dind_image
DEMO_LOG=$(mktemp)
phase "load the inner image into volume $VOL" preload

echo
echo "demo: \$ docker run --rm --privileged -v $VOL:/var/lib/docker $DIND_IMAGE docker run --rm $INNER_IMAGE echo hello"
t0=$(lib_now)
dk run --rm --privileged -v "$VOL:/var/lib/docker" "$DIND_IMAGE" docker run --rm "$INNER_IMAGE" echo hello 2>"$DEMO_LOG"
rc=$?
wall=$(lib_since "$t0" 2)
echo "demo: exit status $rc; dind-init's log:"
grep '^dind-init: ' "$DEMO_LOG" | sed 's/^/  /'
PHASES+=("$(printf '  %-52s %8.2f s' 'the docker run above (host clock)' "$wall")")

echo
echo "demo: set-up phases"
printf '%s\n' "${PHASES[@]}"
echo
echo "demo: inside the container, from dind-init's log"
t() { lib_event_t "$DEMO_LOG" "$@"; }   # EVENT [K=V...]: its +T
row() { # LABEL A B UNIT: B - A
    [ -n "$2" ] && [ -n "$3" ] && awk -v l="$1" -v a="$2" -v b="$3" 'BEGIN { printf "  %-52s %8.3f s\n", l, b - a }'
}
cg=$(lib_event_get "$DEMO_LOG" cgroups ms)
[ -n "$cg" ] && printf '  %-52s %8s\n' "cgroup set-up" "$cg ms"
row "start -> containerd serving (dind-init's own; Docker 23+)" 0 "$(t containerd-ready)"
row "start -> dockerd spawned" 0 "$(t dockerd-start)"
row "dockerd spawned -> answers /_ping" "$(t dockerd-start)" "$(t dockerd-ready)"
row "ready -> command started" "$(t dockerd-ready)" "$(t command-start)"
row "the command (inner docker run echo hello)" "$(t command-start)" "$(t command-exit)"
row "dockerd shutdown (SIGTERM -> exited)" "$(t stop-begin)" "$(t dockerd-exit)"
row "total, dind-init start -> exit" 0 "$(t exit --last)"
rm -f "$DEMO_LOG" "$DEMO_LOG.load"
exit "$rc"
