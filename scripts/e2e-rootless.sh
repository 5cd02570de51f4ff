#!/usr/bin/env bash
# A rootless dockerd with dind-init as PID 1 (issue 22): docker/debian-rootless.Dockerfile (shape
# a: dind-init as uid 1000) and DIND_ROOTLESS=rootless as root (shape b), on a throwaway host
# dockerd (instance E2E_ROOTLESS_INSTANCE, default rootless); .debs cached in DIND_CACHE.
# Owns: the rootless scenarios (nested uid, TLS service, published port, stop, restart policies,
#   shape b, the pre-checks' exit 125).
#
#   sudo scripts/e2e-rootless.sh             # every scenario (DIND_SUITE: bookworm, trixie, sid)
#   sudo scripts/e2e-rootless.sh R1 R4       # a subset
#   scripts/e2e-rootless.sh --list
set -uo pipefail
LIB_TAG=e2e-rootless
# shellcheck source-path=SCRIPTDIR source=scenario.sh
. "$(dirname "$0")/scenario.sh"
scenario_init "${E2E_ROOTLESS_INSTANCE:-rootless}" rl
RL_CACHE=$DIND_CACHE/rootless${DIND_SUITE_TAG:-} DATA=/home/rootless/.local/share/docker SOCK=/run/user/1000/docker.sock
FAIL_TAIL=30 HOST_TAIL=15

SCENARIO_FN=''   # scenario R1 is function R1
sc R1 service-nested-uid
sc R2 tls-and-port
sc R3 restart-policies
sc R4 root-pid1
sc R5 pre-checks
sc R6 root-pid1-tls-service

scenario_args "$@"

# /dev/net/tun nodes to bind-mount: 0666 as udev makes it (this VM's host node is 0600, which a
# uid-1000 dind-init cannot open: shape a needs the host's 0666) and 0600 (R5)
TUN_OPEN=$RL_CACHE/tun-0666 TUN_SHUT=$RL_CACHE/tun-0600 TUN=(-v "$RL_CACHE/tun-0666:/dev/net/tun")
eval "base_$(declare -f scenario_setup)"
# ROOTLESS_IMAGE (lib.sh): docker/debian-rootless.Dockerfile on DIND_IMAGE, its packages from .debs
scenario_setup() {
    base_scenario_setup && lib_rootless_image "$DIND_IMAGE" "$ROOTLESS_IMAGE" "$RL_CACHE" &&
        lib_tun_node "$TUN_OPEN" 0666 && lib_tun_node "$TUN_SHUT" 0600
}
# an inner container's command that ends on SIGTERM (a plain sleep as PID 1 ignores it)
LOOP="sh -c 'trap exit TERM; while :; do sleep 1; done'"

as_root() { DK_TIMEOUT=60 dk exec -u 0 "$1" "${@:2}"; }   # C CMD...: as root (the outer side)
in_c() { DK_TIMEOUT=120 dk exec "$1" "${@:2}"; }   # C CMD...: as the image's user (the daemon's)
# running C NAME: the inner container NAME runs
running() {
    [ "$(DK_TIMEOUT=20 dk exec "$1" docker inspect -f '{{.State.Running}}' "$2" 2>&1)" = true ]
}
# outer_uid C COMM: the Uid line's real uid, on C's side, of the process named COMM
outer_uid() {
    as_root "$1" sh -c 'for s in /proc/[0-9]*/status; do
        if [ "$(sed -n "s/^Name:\t//p" "$s")" = "$0" ]; then
            sed -n "s/^Uid:\t\([0-9]*\).*/\1/p" "$s"; exit 0; fi; done; exit 1' "$2"
}
# service NAME DOCKER-RUN-ARGS...: the rootless image as a service (C), data on a volume, healthy
service() {
    local vol
    vol=$(volume "$1") || fail "docker volume create failed"
    start_c "$1" --privileged "${TUN[@]}" -v "$vol:$DATA" "${INNER_MOUNT[@]}" "${@:2}" \
        "$ROOTLESS_IMAGE"
    must "$C" "the rootless daemon never answered" wait_healthy "$C" 120
}
# restart: the service C stopped (cleanly: D/stop.log) and started again until it answers
restart() { stop_start "$C" && clean_stop "$D/stop.log"; }
# rootless_info FILE: a docker info output in FILE says rootless
rootless_info() { grep -q rootless "$1" || fail "docker info, not rootless: $(head -c 99 "$1")"; }
# tls_job NAME NET CERTS: a job's `docker info` over TLS (tcp://docker:2376) says rootless
tls_job() {
    run_rc "$1" 0 --network "$2" -v "$3:/certs/client:ro" -e DOCKER_HOST=tcp://docker:2376 \
        "${TLS_JOB[@]}" --entrypoint docker "$DIND_IMAGE" \
        info -f '{{.SecurityOptions}}'
    WHY="$1: over TLS: " rootless_info "$D/$1.out"
}

R1() {
    local uid
    service svc
    in_c "$C" docker info -f '{{.SecurityOptions}} {{.Driver}} {{.CgroupDriver}}' >"$D/info.out" 2>&1
    rootless_info "$D/info.out"
    exec_sh "$C" nest.out "$LOAD && docker run -d --name nest $INNER_IMAGE $LOOP"
    wait_for 20 outer_uid "$C" sleep >/dev/null || fail "no inner sleep seen from the outer side"
    uid=$(outer_uid "$C" sleep)
    is "$uid" 1000 "the inner root's uid on the outer side (the rootless user's)"
    stop_c "$C" "$D/svc.log"
    ev "$D/svc.log" rootless user=rootless uid=1000
    ev "$D/svc.log" rootless-limits driver=none
    ev "$D/svc.log" dockerd-ready socket="$SOCK"
    stopped "$D/svc.log" 0 10   # budget 8 s, docker stop's 10
    no_sigkill "$D/svc.log"
    NOTE="inner root = uid $uid outside; docker info: $(cut -c1-60 "$D/info.out"); stop ${STOP} s"
}

R2() {
    local net certs
    net=$(network ci) && certs=$(volume certs) || fail "network/volume create failed"
    service svc --network "$net" --network-alias docker -v "$certs:/certs/client"
    wait_event "$C" tls 30 || fail "no tls event"
    exec_sh "$C" web.out "$LOAD && docker run -d -p 8080:8080 $INNER_IMAGE \
sh -c 'echo port-ok >/index.html && httpd -f -p 8080 -h /'"
    tls_job job "$net" "$certs"
    run_rc web 0 --network "$net" "$INNER_IMAGE" sh -c 'for i in $(seq 80); do
        wget -qO- http://docker:8080/index.html && exit 0; sleep 0.25; done; exit 1'
    check_out web port-ok
    NOTE="TLS on 2376 and -p 8080 through rootlesskit"
}

R3() {
    service svc
    exec_sh "$C" run.out "$LOAD && docker run -d --restart unless-stopped --name keep $INNER_IMAGE \
$LOOP && docker run -d --restart no --name gone $INNER_IMAGE $LOOP"
    restart
    must "$C" "the unless-stopped container did not come back" wait_for 30 running "$C" keep
    is "$(in_c "$C" docker inspect -f '{{.State.Running}}' gone)" false "the --restart no one runs"
    NOTE="first stop ${STOP} s; unless-stopped back, no stays down"
}

R4() {
    local data=$D/data   # a root-owned directory as the data volume: dind-init gives it to the user
    mkdir -p "$data" || fail "mkdir $data"
    run_rc cmd 0 --privileged --user 0 -e DIND_ROOTLESS=rootless -v "$data:$DATA" "${INNER_MOUNT[@]}" \
        "$ROOTLESS_IMAGE" sh -c "$LOAD && docker run --rm $INNER_IMAGE id -u && \
docker info -f '{{.SecurityOptions}}'"
    ev "$D/cmd.err" rootless user=rootless uid=1000
    ev "$D/cmd.err" start pid1=true
    ! lib_event_has "$D/cmd.err" cgroups mode=skipped || fail "cgroups were not set up as root"
    rootless_info "$D/cmd.out"
    is "$(stat -c %u "$data")" 1000 "the data root's owner"
    NOTE="as root: cgroups $(lib_event_get "$D/cmd.err" cgroups mode), a root-owned data root given\
 to uid 1000"
}

R6() {
    local net certs
    net=$(network ci) && certs=$(volume certs) || fail "network/volume create failed"
    service svc --user 0 -e DIND_ROOTLESS=rootless --network "$net" --network-alias docker \
        -v "$certs:/certs/client"
    tls_job job1 "$net" "$certs"
    restart
    tls_job job2 "$net" "$certs"
    NOTE="TLS as root-started rootless daemon, twice (keys kept); first stop ${STOP} s"
}
# pre NAME EXPECT DOCKER-RUN-ARGS...: the image exits 125, a dind-init line has EXPECT
pre() {
    local n=$1 expect=$2 tun=("${TUN[@]}")
    shift 2
    case " $* " in *":/dev/net/tun "*) tun=() ;; esac
    run_rc "$n" 125 --privileged "${tun[@]}" "$@" "$ROOTLESS_IMAGE" true
    ev "$D/$n.err" exit code=125
    lib_dind_has "$D/$n.err" "$expect" ||
        fail "$n: no dind-init line with '$expect': $(tail -n 2 "$D/$n.err" | tr '\n' '|')"
    no_ev "$D/$n.err" dockerd-start
}

R5() {
    local tools=$D/tools rootowned=$D/rootowned runuser=$D/runuser
    : >"$D/empty"
    mkdir -p "$tools" "$rootowned" "$runuser/target" && chmod 0755 "$runuser/target" &&
        ln -sf /usr/bin/newuidmap "$tools/newuidmap" && ln -sf /usr/bin/newgidmap "$tools/newgidmap" &&
        ln -sfn /run/user/target "$runuser/1000" || fail "fixture"
    pre subuid '/etc/subuid has no range for rootless' -v "$D/empty:/etc/subuid:ro"
    pre subgid '/etc/subgid has no range for rootless' -v "$D/empty:/etc/subgid:ro"
    pre tun "/dev/net/tun is mode 0600 uid 0: rootless (uid 1000) cannot open it" \
        -v "$TUN_SHUT:/dev/net/tun"
    pre newuidmap 'newuidmap is not in PATH' -e PATH=/usr/local/bin
    pre rootlesskit 'rootlesskit is not in PATH' -v "$tools:/opt/tools:ro" \
        -e PATH=/usr/local/bin:/opt/tools
    pre xdg 'XDG_RUNTIME_DIR / is not a directory' -e XDG_RUNTIME_DIR=/
    pre home 'HOME /proc is not a directory' -e HOME=/proc
    pre dataroot "the data root $DATA is owned by uid 0" -v "$rootowned:$DATA"
    pre xdglink 'XDG_RUNTIME_DIR /run/user/1000 is a symbolic link' --user 0 \
        -e DIND_ROOTLESS=rootless -v "$runuser:/run/user"
    is "$(stat -c %a:%u "$runuser/target")" 755:0 "the link's target (mode:owner)"
    NOTE="8 requirements and a link, each its message and 125 (max_user_namespaces: unit tests only)"
}

scenario_main
