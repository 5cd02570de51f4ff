#!/usr/bin/env bash
# A rootless dockerd with dind-init as PID 1 (issue 22, docs/TESTING.md): the rootless image (shape
# a: dind-init as uid 1000) and DIND_ROOTLESS=rootless as root (shape b), on a throwaway host
# dockerd (instance E2E_ROOTLESS_INSTANCE, default rootless); .debs cached in DIND_CACHE.
#
#   sudo scripts/e2e-rootless.sh [--list] [ID|NAME...]   # none: every scenario; DIND_SUITE: engine
set -uo pipefail
LIB_TAG=e2e-rootless
# shellcheck source-path=SCRIPTDIR source=scenario.sh
. "$(dirname "$0")/scenario.sh"
scenario_init "${E2E_ROOTLESS_INSTANCE:-rootless}" rl
RL_CACHE=$DIND_CACHE/rootless${DIND_SUITE_TAG:-} SOCK=/run/user/1000/docker.sock
DATA_ROOT=/home/rootless/.local/share/docker   # the rootless dockerd's (daemon_c's volume)

sc R1 service-nested-uid
sc R2 tls-and-port
sc R3 restart-policies
sc R4 root-pid1
sc R5 pre-checks
sc R6 root-pid1-tls-service

scenario_args "$@"

# /dev/net/tun nodes to bind-mount: 0666 as udev makes it (for shape a, docs/TESTING.md), 0600 (R5)
TUN_SHUT=$RL_CACHE/tun-0600 TUN=(-v "$RL_CACHE/tun-0666:/dev/net/tun")
# ROOTLESS_IMAGE (lib.sh): docker/debian-rootless.Dockerfile on DIND_IMAGE, its packages from .debs
rootless_setup() {
    lib_rootless_image "$DIND_IMAGE" "$ROOTLESS_IMAGE" "$RL_CACHE" &&
        lib_tun_node "$RL_CACHE/tun-0666" 0666 && lib_tun_node "$TUN_SHUT" 0600
}
SETUP_MORE=rootless_setup
# an inner container's command that ends on SIGTERM (a plain sleep as PID 1 ignores it)
LOOP="sh -c 'trap exit TERM; while :; do sleep 1; done'"
SHAPE_B=(--user 0 -e DIND_ROOTLESS=rootless)   # root PID 1 starting a rootless dockerd

# running C NAME: the inner container NAME's .State.Running (true, false)
running() { dk exec "$1" docker inspect -f '{{.State.Running}}' "$2" 2>&1; }
# outer_uid C COMM: the real uid, on C's side (ps as root), of the first process named COMM
outer_uid() { DK_TIMEOUT=60 dk exec -u 0 "$1" ps -o ruid= -C "$2" | awk 'NR == 1 {print $1}'; }
# service NAME DOCKER-RUN-ARGS...: the rootless image as a service (C), data on a volume, healthy
service() { IMAGE=$ROOTLESS_IMAGE daemon_c "$1" "${TUN[@]}" "${@:2}"; }
# restart: the service C stopped (cleanly: D/stop.log) and started again until it answers
restart() { stop_start "$C" && clean_stop "$D/stop.log"; }
# tls_job NAME: a job's `docker info` over TLS (service_net's CLIENT) says rootless
tls_job() {
    run_rc "$1" 0 "${CLIENT[@]}" --entrypoint docker "$DIND_IMAGE" info -f '{{.SecurityOptions}}'
    holds "$D/$1.out" rootless "$1: docker info over TLS, not rootless"
}

R1() {
    local uid
    service svc
    exec_sh "$C" info.out "docker info -f '{{.SecurityOptions}} {{.Driver}} {{.CgroupDriver}}'"
    holds "$D/info.out" rootless "docker info, not rootless"
    exec_sh "$C" nest.out "$LOAD && docker run -d --name nest $INNER_IMAGE $LOOP"
    uid=$(wait_for 20 outer_uid "$C" sleep) || fail "no inner sleep seen from the outer side"
    is "$uid" 1000 "the inner root's uid on the outer side (the rootless user's)"
    stop_c "$C" "$D/svc.log"
    evs "$D/svc.log" "rootless user=rootless uid=1000" "rootless-limits driver=none" \
        "dockerd-ready socket=$SOCK"
    stopped "$D/svc.log" 0 10   # budget 8 s, docker stop's 10
    no_sigkill "$D/svc.log"
    NOTE="inner root = uid $uid outside; docker info: $(cut -c1-60 "$D/info.out"); stop ${STOP} s"
}

R2() {
    service_net
    service svc "${SERVED[@]}"
    wait_event "$C" tls 30 || fail "no tls event"
    exec_sh "$C" web.out "$LOAD && docker run -d -p 8080:8080 $INNER_IMAGE \
sh -c 'echo port-ok >/index.html && httpd -f -p 8080 -h /'"
    tls_job job
    run_rc web 0 --network "$NET" "$INNER_IMAGE" sh -c 'for i in $(seq 80); do
        wget -qO- http://docker:8080/index.html && exit 0; sleep 0.25; done; exit 1'
    check_out web port-ok
}

R3() {
    service svc
    exec_sh "$C" run.out "$LOAD && docker run -d --restart unless-stopped --name keep $INNER_IMAGE \
$LOOP && docker run -d --restart no --name gone $INNER_IMAGE $LOOP"
    restart
    must "$C" "the unless-stopped container did not come back" wait_for 30 \
        eval '[ "$(running "$C" keep)" = true ]'
    is "$(running "$C" gone)" false "the --restart no one runs"
    NOTE="first stop ${STOP} s"
}

R4() {
    local data=$D/data   # a root-owned directory as the data volume: dind-init gives it to the user
    mkdir -p "$data" || fail "mkdir $data"
    run_rc cmd 0 --privileged "${SHAPE_B[@]}" -v "$data:$DATA_ROOT" "${INNER_MOUNT[@]}" \
        "$ROOTLESS_IMAGE" sh -c "$LOAD && docker run --rm $INNER_IMAGE id -u && \
docker info -f '{{.SecurityOptions}}'"
    evs "$D/cmd.err" "rootless user=rootless uid=1000" "start pid1=true"
    ! lib_event_has "$D/cmd.err" cgroups mode=skipped || fail "cgroups were not set up as root"
    holds "$D/cmd.out" rootless "docker info, not rootless"
    is "$(stat -c %u "$data")" 1000 "the data root's owner"
    NOTE="cgroups $(lib_event_get "$D/cmd.err" cgroups mode)"
}

# R5: a row NAME|EXPECT|DOCKER-RUN-ARGS (their /dev/net/tun replaces TUN) each: the image exits
# 125, a dind-init line has EXPECT, dockerd never started
R5() {
    local tools=$D/tools rootowned=$D/rootowned run=$D/run n expect args tun
    : >"$D/empty"
    mkdir -p "$tools" "$rootowned" "$run/target" && chmod 0755 "$run/target" &&
        ln -sf /usr/bin/newuidmap /usr/bin/newgidmap "$tools" &&
        ln -sfn /run/user/target "$run/1000" || fail "fixture"
    while IFS='|' read -r -u 3 n expect args; do
        tun=("${TUN[@]}")
        [[ $args == *:/dev/net/tun* ]] && tun=()
        # shellcheck disable=SC2086  # the row's arguments
        run_rc "$n" 125 --privileged "${tun[@]}" $args "$ROOTLESS_IMAGE" true
        ev "$D/$n.err" exit code=125
        lib_dind_has "$D/$n.err" "$expect" ||
            fail "$n: no dind-init line with '$expect': $(tail -n 2 "$D/$n.err" | tr '\n' '|')"
        no_ev "$D/$n.err" dockerd-start
    done 3<<EOF
subuid|/etc/subuid has no range for rootless|-v $D/empty:/etc/subuid:ro
subgid|/etc/subgid has no range for rootless|-v $D/empty:/etc/subgid:ro
tun|/dev/net/tun is mode 0600 uid 0: rootless (uid 1000) cannot open it|-v $TUN_SHUT:/dev/net/tun
newuidmap|newuidmap is not in PATH|-e PATH=/usr/local/bin
rootlesskit|rootlesskit is not in PATH|-v $tools:/opt/tools:ro -e PATH=/usr/local/bin:/opt/tools
xdg|XDG_RUNTIME_DIR / is not a directory|-e XDG_RUNTIME_DIR=/
home|HOME /proc is not a directory|-e HOME=/proc
dataroot|the data root $DATA_ROOT is owned by uid 0|-v $rootowned:$DATA_ROOT
xdglink|XDG_RUNTIME_DIR /run/user/1000 is a symbolic link|${SHAPE_B[*]} -v $run:/run/user
EOF
    is "$(stat -c %a:%u "$run/target")" 755:0 "the link's target (mode:owner)"
}

R6() {
    service_net
    service svc "${SHAPE_B[@]}" "${SERVED[@]}"
    tls_job job1
    restart
    tls_job job2
    NOTE="first stop ${STOP} s"
}

scenario_main
