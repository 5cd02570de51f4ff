#!/usr/bin/env bash
# Images across jobs (docs/CACHING.md, issue 21): registry mirrors and address pools against a real
# registry (docs/TESTING.md), on a throwaway host dockerd (instance E2E_IMAGES_INSTANCE, default
# images). The preload is e2e-field.sh H13.
#
#   sudo scripts/e2e-images.sh [--list] [ID|NAME...]   # none: every scenario; DIND_SUITE: engine
set -uo pipefail
LIB_TAG=e2e-images
# shellcheck source-path=SCRIPTDIR source=scenario.sh
. "$(dirname "$0")/scenario.sh"
scenario_init "${E2E_IMAGES_INSTANCE:-images}" img
# The registry serves every scenario: a label of its own (removed at the end, by LABEL's key)
REG_LABEL=dind-init-images=$RUNID-registry REG=$PFX-registry
REG_IMAGE=dind-init-test/registry:$DIND_SUITE MIRROR=http://127.0.0.1:5000
IMG=mirrored   # pulled as docker.io/library/mirrored, i.e. through the mirror

sc M1 arc-mirror-pool
sc M2 gitlab-service
sc M3 mirror-down
sc M4 user-setting-wins
sc M5 bad-values

scenario_args "$@"

# registry_up (set-up): the registry, seeded by a DinD container in its namespace that pushes the
# inner image as 127.0.0.1:5000/library/$IMG
registry_up() {
    local seeded=127.0.0.1:5000/library/$IMG out=
    lib_registry_image "$REG_IMAGE" &&
        dk run -d --label "$REG_LABEL" --name "$REG" "$REG_IMAGE" >/dev/null &&
        wait_for 30 answers "$REG" bash -c 'exec 3<>/dev/tcp/127.0.0.1/5000' &&
        out=$(dk run --rm --privileged --network "container:$REG" "${INNER_MOUNT[@]}" \
            "$DIND_IMAGE" sh -c "$LOAD && docker tag $INNER_IMAGE $seeded && \
docker push -q $seeded" 2>&1) ||
        { lib_err "the registry did not come up seeded: $(tail -n 5 <<<"$out")"; return 1; }
}
SETUP_MORE=registry_up
# gets: the registry's GETs of library/$IMG's manifest so far (its access log in D/registry.log);
# got_more N: more than N now
gets() {
    logs "$REG" "$D/registry.log"
    grep -c "\"GET /v2/library/$IMG/manifests/[^ ]* HTTP/1.1\" 200" "$D/registry.log"
}
got_more() { (($(gets) > $1)) || fail "the registry logged no GET of $IMG's manifest (was $1)"; }
PULL="docker pull -q $IMG && docker run --rm $IMG echo pulled-ok"
SUBNET="docker network inspect -f 'subnet={{range .IPAM.Config}}{{.Subnet}}{{end}}'"
POOL=(-e DOCKER_DEFAULT_ADDRESS_POOL_BASE=10.123.0.0/16 -e DOCKER_DEFAULT_ADDRESS_POOL_SIZE=24)
# subnet NAME RE: the subnet NAME's $SUBNET printed (SUB) matches RE
subnet() {
    SUB=$(sed -n 's/^subnet=//p' "$D/$1.out")
    [[ $SUB =~ $2 ]] || fail "inner network '$SUB', not $2"
}

M1() {
    local vol before arc
    vol=$(volume arc) || fail "volume create failed"
    before=$(gets)
    arc=(--privileged --network "container:$REG" -v "$vol:/var/lib/docker"
        -e "DOCKER_REGISTRY_MIRROR=$MIRROR" "${POOL[@]}" "$DIND_IMAGE")
    run_rc job 0 "${arc[@]}" sh -c "$PULL && docker network create pooled >/dev/null && \
$SUBNET pooled && docker network rm pooled >/dev/null"
    has "$D/job.out" pulled-ok
    got_more "$before"
    subnet job '^10\.123\.[0-9]+\.0/24$'
    # The probe runs in the background: it may come after the command started, never before ready.
    ev "$D/job.err" mirror-probe url="$MIRROR" answered=true
    ev "$D/job.err" mirror-probe status=200 check="GET /v2/"
    before "$D/job.err" dockerd-ready mirror-probe
    run_rc job2 0 "${arc[@]}" docker image inspect -f present "$IMG"
    check_out job2 present
    NOTE="probe in $(lib_event_get "$D/job.err" mirror-probe ms) ms; inner network $SUB"
}

M2() {
    local svc before form WHY
    for form in command variable; do
        local env=() cmd=("--registry-mirror=$MIRROR")
        [ $form = variable ] && env=(-e "DOCKER_REGISTRY_MIRROR=$MIRROR") cmd=()
        WHY="$form: "
        start_c "svc-$form" --privileged --network "container:$REG" -e DOCKER_TLS_CERTDIR= \
            "${env[@]}" "$DIND_IMAGE" "${cmd[@]}"
        svc=$C before=$(gets)
        job "job-$form" "$PULL" --network "container:$REG" -e DOCKER_HOST=tcp://127.0.0.1:2375
        job_ok "job-$form" "$form: the pulled image did not run" pulled-ok
        got_more "$before"
        must "$svc" "no mirror-probe answered=true" wait_event "$svc" mirror-probe 10 url=$MIRROR \
            answered=true
        stop_c "$svc" "$D/svc-$form.log"
        # Once: by the flag, or by the variable.
        is "$(started "$D/svc-$form.log" | grep -o "$MIRROR" | wc -l)" 1 "dockerd's mirror flags"
    done
}

M3() {
    local http=http://127.0.0.1:5999 https=https://127.0.0.1:5998 f=$D/dead.log u
    # Its own loopback-only namespace: nothing listens on either port.
    start_c dead --privileged -e DOCKER_TLS_CERTDIR= -e "DOCKER_REGISTRY_MIRROR=$http,$https" \
        "$DIND_IMAGE"
    for u in $https $http; do
        must "$C" "no mirror-probe answered=false for $u" wait_event "$C" mirror-probe 30 url="$u" \
            answered=false
    done
    stop_c "$C" "$f"
    ev "$f" mirror-probe url=$https check="TCP connect only" status=0
    ev "$f" mirror-probe url=$http check="GET /v2/" status=0
    before "$f" dockerd-ready mirror-probe
    NOTE="$(lib_event_get "$f" mirror-probe error | cut -c1-60); ready at\
 +$(lib_event_t "$f" dockerd-ready)s, first probe event +$(lib_event_t "$f" mirror-probe)s"
}

M4() {
    local e=$D/own.err
    run_rc own 0 --privileged -e DOCKER_REGISTRY_MIRROR=$MIRROR "${POOL[@]}" \
        -e "DOCKER_DAEMON_ARGS=--registry-mirror=http://127.0.0.1:5997 --default-address-pool \
base=10.124.0.0/16,size=26" "$DIND_IMAGE" sh -c "docker network create own >/dev/null && \
$SUBNET own"
    subnet own '^10\.124\.[0-9]+\.[0-9]+/26$'
    evs "$e" "env-unused var=DOCKER_REGISTRY_MIRROR key=registry-mirrors by=flag" \
        "env-unused var=DOCKER_DEFAULT_ADDRESS_POOL_BASE key=default-address-pools by=flag" \
        "env-unused var=DOCKER_DEFAULT_ADDRESS_POOL_SIZE key=default-address-pools by=flag"
    # Only the user's mirror is probed (it is dead here).
    ev "$e" mirror-probe url=http://127.0.0.1:5997
    no_ev "$e" mirror-probe url=$MIRROR
    NOTE="inner network $SUB"
}

M5() {
    local v n=0 WHY
    for v in "DOCKER_REGISTRY_MIRROR=registry.example:5000" "DOCKER_REGISTRY_MIRROR=http://a b" \
        "DOCKER_DEFAULT_ADDRESS_POOL_BASE=10.123.0.0/16" "DOCKER_DEFAULT_ADDRESS_POOL_SIZE=24"; do
        WHY="$v: " n=$((n + 1))
        run_rc "bad-$n" 2 --privileged -e "$v" "$DIND_IMAGE" true
        holds "$D/bad-$n.err" "${v%%=*}" "the message does not name ${v%%=*}"
        no_ev "$D/bad-$n.err" dockerd-start
    done
}

scenario_main
