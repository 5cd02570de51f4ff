#!/usr/bin/env bash
# Images across jobs (docs/CACHING.md, issue 21): registry mirrors and address pools against
# Debian's docker-registry on 127.0.0.1:5000, whose loopback-only network namespace the DinD
# containers join; on a throwaway host dockerd (instance E2E_IMAGES_INSTANCE, default images).
# Owns: the images-across-jobs scenarios (mirrors, address pools; the preload is e2e-field.sh H13).
#
#   sudo scripts/e2e-images.sh            # every scenario (DIND_SUITE picks the engine)
#   sudo scripts/e2e-images.sh M1 M4      # a subset
#   scripts/e2e-images.sh --list
set -uo pipefail
LIB_TAG=e2e-images
# shellcheck source-path=SCRIPTDIR source=scenario.sh
. "$(dirname "$0")/scenario.sh"
scenario_init "${E2E_IMAGES_INSTANCE:-images}" img
# The registry outlives each scenario (it is seeded once): a label of its own, removed at the end.
REG_LABEL=dind-init-images=$RUNID-registry REG=$PFX-registry REG_IMAGE=dind-init-test/registry:$DIND_SUITE
MIRROR=http://127.0.0.1:5000 IMG=mirrored   # pulled as docker.io/library/mirrored, i.e. through the mirror
FAIL_TAIL=25 HOST_TAIL=10

SCENARIO_FN=''   # scenario M1 is function M1
sc M1 arc-mirror-pool
sc M2 gitlab-service
sc M3 mirror-down
sc M4 user-setting-wins
sc M5 bad-values

scenario_args "$@"

# The registry is removed with the rest: at the end, on INT and TERM (scenario.sh's clean-up).
scenario_cleanup() { { remove_labelled "$REG_LABEL"; cleanup_containers; lib_host_stop; } 1>&"$SC_OUT" 2>&"$SC_ERR"; }

reg_answers() { dk exec "$REG" bash -c 'exec 3<>/dev/tcp/127.0.0.1/5000' >/dev/null 2>&1; }
# registry_up: the registry running and seeded once a run (WORK/registry.note): a DinD container
# in its namespace pushes the inner image as 127.0.0.1:5000/library/$IMG
registry_up() {
    local t0 v
    [ -s "$WORK/registry.note" ] && is_up "$REG" && return 0
    t0=$(lib_now)
    lib_registry_image "$REG_IMAGE" >"$D/registry-build.log" 2>&1 ||
        fail "building $REG_IMAGE failed: $(tail -n 3 "$D/registry-build.log" | tr '\n' '|')"
    dk rm -f "$REG" >/dev/null 2>&1
    dk run -d --label "$REG_LABEL" --name "$REG" "$REG_IMAGE" >/dev/null 2>"$D/registry-run.err" ||
        fail "starting the registry failed: $(head -c 300 "$D/registry-run.err")"
    must "$REG" "the registry never listened on 127.0.0.1:5000" wait_for 30 reg_answers
    dind_sh seed 0 "docker tag $INNER_IMAGE 127.0.0.1:5000/library/$IMG && \
docker push -q 127.0.0.1:5000/library/$IMG" --network "container:$REG"
    v=$(dk run --rm --entrypoint docker-registry "$REG_IMAGE" --version 2>/dev/null |
        awk '{print $NF}')
    echo "registry $v up and seeded in $(lib_since "$t0") s" >"$WORK/registry.note"
}
# gets: the registry's GETs of library/$IMG's manifest so far (its access log in D/registry.log)
gets() {
    logs "$REG" "$D/registry.log"
    grep -c "\"GET /v2/library/$IMG/manifests/[^ ]* HTTP/1.1\" 200" "$D/registry.log"
}
PULL="docker pull -q $IMG && docker run --rm $IMG echo pulled-ok"
SUBNET="docker network inspect -f 'subnet={{range .IPAM.Config}}{{.Subnet}}{{end}}'"

M1() {
    local vol before after subnet
    registry_up
    vol=$(volume arc) || fail "volume create failed"
    before=$(gets)
    local arc=(--privileged --network "container:$REG" -v "$vol:/var/lib/docker" -e "DOCKER_REGISTRY_MIRROR=$MIRROR"
        -e DOCKER_DEFAULT_ADDRESS_POOL_BASE=10.123.0.0/16 -e DOCKER_DEFAULT_ADDRESS_POOL_SIZE=24)
    run_rc job 0 "${arc[@]}" "$DIND_IMAGE" sh -c "$PULL && docker network create pooled \
>/dev/null && $SUBNET pooled && docker network rm pooled >/dev/null"
    has "$D/job.out" pulled-ok
    after=$(gets)
    ((after > before)) || fail "the registry logged no GET of $IMG's manifest ($before, $after)"
    subnet=$(sed -n 's/^subnet=//p' "$D/job.out")
    [[ $subnet =~ ^10\.123\.[0-9]+\.0/24$ ]] || fail "inner network $subnet, not 10.123.X.0/24"
    # The probe runs in the background: it may come after the command started, never before ready.
    ev "$D/job.err" mirror-probe url="$MIRROR" answered=true
    ev "$D/job.err" mirror-probe status=200 check="GET /v2/"
    before "$D/job.err" dockerd-ready mirror-probe
    run_rc job2 0 "${arc[@]}" "$DIND_IMAGE" docker image inspect -f present "$IMG"
    check_out job2 present
    NOTE="$(cat "$WORK/registry.note"); pulled $IMG through $MIRROR (manifest GETs $before ->\
 $after), probe 200 in $(lib_event_get "$D/job.err" mirror-probe ms) ms; inner network $subnet;\
 kept on the volume"
}

M2() {
    local svc before i form WHY
    registry_up
    for form in command variable; do
        local env=() cmd=("--registry-mirror=$MIRROR")
        [ $form = variable ] && env=(-e "DOCKER_REGISTRY_MIRROR=$MIRROR") cmd=()
        WHY="$form: "
        start_c "svc-$form" --privileged --network "container:$REG" -e DOCKER_TLS_CERTDIR= \
            "${env[@]}" "$DIND_IMAGE" "${cmd[@]}"
        svc=$C before=$(gets)
        job "job-$form" "$PULL && docker info -f 'mirrors={{.RegistryConfig.Mirrors}}'" \
            --network "container:$REG" -e DOCKER_HOST=tcp://127.0.0.1:2375
        job_ok "job-$form" pulled-ok "the pulled image did not run"
        (($(gets) > before)) || fail "the registry logged no GET of library/$IMG's manifest"
        must "$svc" "no mirror-probe answered=true" wait_event "$svc" mirror-probe 10 url=$MIRROR \
            answered=true
        stop_c "$svc" "$D/svc-$form.log"
        # Once: by the flag, or by the variable.
        i=$(started "$D/svc-$form.log" | grep -o "$MIRROR" | wc -l)
        is "$i" 1 "dockerd's mirror flags"
    done
    NOTE="the service's command: and variables: forms: each job pulled $IMG through the mirror;\
 probe answered"
}

M3() {
    local dead_http=http://127.0.0.1:5999 dead_https=https://127.0.0.1:5998 t_ready t_probe
    local f=$D/dead.log
    # Its own loopback-only namespace: nothing listens on either port.
    start_c dead --privileged -e DOCKER_TLS_CERTDIR= \
        -e "DOCKER_REGISTRY_MIRROR=$dead_http,$dead_https" "$DIND_IMAGE"
    must "$C" "no mirror-probe answered=false for https" wait_event "$C" mirror-probe 30 \
        url=$dead_https answered=false
    must "$C" "no mirror-probe answered=false for http" wait_event "$C" mirror-probe 30 \
        url=$dead_http answered=false
    stop_c "$C" "$f"
    ev "$f" mirror-probe url=$dead_https check="TCP connect only" status=0
    ev "$f" mirror-probe url=$dead_http check="GET /v2/" status=0
    before "$f" dockerd-ready mirror-probe
    t_ready=$(lib_event_t "$f" dockerd-ready)
    t_probe=$(lib_event_t "$f" mirror-probe)
    NOTE="both not answered ($(lib_event_get "$f" mirror-probe error | cut -c1-60)); ready at\
 +${t_ready}s, first probe event +${t_probe}s"
}

M4() {
    local subnet e=$D/own.err k
    run_rc own 0 --privileged -e DOCKER_REGISTRY_MIRROR=$MIRROR \
        -e DOCKER_DEFAULT_ADDRESS_POOL_BASE=10.123.0.0/16 -e DOCKER_DEFAULT_ADDRESS_POOL_SIZE=24 \
        -e "DOCKER_DAEMON_ARGS=--registry-mirror=http://127.0.0.1:5997 --default-address-pool \
base=10.124.0.0/16,size=26" "$DIND_IMAGE" sh -c "docker network create own >/dev/null &&
        $SUBNET own"
    subnet=$(sed -n 's/^subnet=//p' "$D/own.out")
    [[ $subnet =~ ^10\.124\.[0-9]+\.[0-9]+/26$ ]] || fail "inner network $subnet, not the user's"
    k=key=default-address-pools
    ev "$e" env-unused var=DOCKER_REGISTRY_MIRROR key=registry-mirrors by=flag
    ev "$e" env-unused var=DOCKER_DEFAULT_ADDRESS_POOL_BASE "$k" by=flag
    ev "$e" env-unused var=DOCKER_DEFAULT_ADDRESS_POOL_SIZE "$k" by=flag
    # Only the user's mirror is probed (it is dead here).
    ev "$e" mirror-probe url=http://127.0.0.1:5997
    no_ev "$e" mirror-probe url=$MIRROR
    NOTE="env-unused x3; inner network $subnet from the user's pool; the user's mirror probed"
}

M5() {
    local v notes=() n WHY
    for v in "DOCKER_REGISTRY_MIRROR=registry.example:5000" "DOCKER_REGISTRY_MIRROR=http://a b" \
        "DOCKER_DEFAULT_ADDRESS_POOL_BASE=10.123.0.0/16" "DOCKER_DEFAULT_ADDRESS_POOL_SIZE=24"; do
        WHY="$v: " n=${#notes[@]}
        run_rc "bad-$n" 2 --privileged -e "$v" "$DIND_IMAGE" true
        holds "$D/bad-$n.err" "${v%%=*}" "the message does not name ${v%%=*}"
        no_ev "$D/bad-$n.err" dockerd-start
        notes+=("$v")
    done
    NOTE="exit 2, variable named, nothing started: ${notes[*]}"
}

scenario_main
