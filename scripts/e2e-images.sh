#!/usr/bin/env bash
# shellcheck disable=SC2034  # WORK, NOTE, SCENARIO_FN, ...: read by scripts/scenario.sh
# Images across jobs (docs/CACHING.md, issue 21): registry mirrors and address pools the way
# runners pass them, against a real registry: Debian's docker-registry (distribution 2.8) in a
# container of its own on 127.0.0.1:5000, whose network namespace the DinD containers join
# (--network container:REG); seeded offline with the inner image as 127.0.0.1:5000/library/mirrored.
# The host dockerd (instance E2E_IMAGES_INSTANCE, default images) has no bridge: the namespace has
# loopback only, so a pull that works went through the mirror. A scenario per recipe of CACHING.md.
# Owns: the images-across-jobs scenarios (mirrors, address pools; the preload is e2e-field.sh H13).
#
#   sudo scripts/e2e-images.sh            # every scenario (DIND_SUITE picks the engine)
#   sudo scripts/e2e-images.sh M1 M4      # a subset
#   scripts/e2e-images.sh --list
# Rows and logs: scripts/scenario.sh (logs in target/e2e-images/).
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
sc M1 arc-mirror-pool "ARC's recipe: DOCKER_REGISTRY_MIRROR + DOCKER_DEFAULT_ADDRESS_POOL_BASE/SIZE, /var/lib/docker on a volume: 'docker pull $IMG' through the registry (its log has the manifest GET), mirror-probe answered 200, an inner network from the pool; the next job on the volume has the image"
sc M2 gitlab-service "GitLab's recipes: the service with command: [--registry-mirror=...], then with variables: DOCKER_REGISTRY_MIRROR; a job container pulls $IMG through it over tcp://127.0.0.1:2375"
sc M3 mirror-down "a dead mirror (http and https): mirror-probe says it did not answer, in the background (the daemon is ready before)"
sc M4 user-setting-wins "the user's --registry-mirror and --default-address-pool win over the variables: env-unused for each, the user's pool used"
sc M5 bad-values "a malformed DOCKER_REGISTRY_MIRROR or pool: exit 2 at once naming the variable, dockerd never started"

scenario_args "$@"

# The registry is removed with the rest: at the end, on INT and TERM (scenario.sh's clean-up).
scenario_cleanup() { { remove_labelled "$REG_LABEL"; cleanup_containers; lib_host_stop; } 1>&"$SC_OUT" 2>&"$SC_ERR"; }

reg_answers() { dk exec "$REG" bash -c 'exec 3<>/dev/tcp/127.0.0.1/5000' >/dev/null 2>&1; }
# registry_up: the registry running and seeded (once a run): a DinD container in its namespace
# loads the inner image and pushes it as 127.0.0.1:5000/library/$IMG
registry_up() {
    [ -n "${REG_READY:-}" ] && [ "$(dk inspect -f '{{.State.Running}}' "$REG" 2>/dev/null)" = true ] && return 0
    local t0
    t0=$(lib_now)
    lib_registry_image "$REG_IMAGE" >"$D/registry-build.log" 2>&1 || { fail "building $REG_IMAGE failed: $(tail -n 3 "$D/registry-build.log" | tr '\n' '|')"; return 1; }
    dk rm -f "$REG" >/dev/null 2>&1
    dk run -d --label "$REG_LABEL" --name "$REG" "$REG_IMAGE" >/dev/null 2>"$D/registry-run.err" ||
        { fail "starting the registry failed: $(head -c 300 "$D/registry-run.err")"; return 1; }
    wait_for 30 reg_answers || { logs "$REG" "$D/registry.log"; fail "the registry never listened on 127.0.0.1:5000"; return 1; }
    run_rc seed 0 --rm --privileged --network "container:$REG" "${INNER_MOUNT[@]}" "$DIND_IMAGE" sh -c \
        "$LOAD && docker tag $INNER_IMAGE 127.0.0.1:5000/library/$IMG && docker push -q 127.0.0.1:5000/library/$IMG" || { logs "$REG" "$D/registry.log"; return 1; }
    REG_READY=1
    SEED_NOTE="registry $(dk run --rm --entrypoint docker-registry "$REG_IMAGE" --version 2>/dev/null | awk '{print $NF}') up and seeded in $(lib_since "$t0") s"
}
# gets: the registry's GETs of library/$IMG's manifest so far (its access log in D/registry.log)
gets() { logs "$REG" "$D/registry.log"; grep -c "\"GET /v2/library/$IMG/manifests/[^ ]* HTTP/1.1\" 200" "$D/registry.log"; }

M1() {
    local vol before after subnet
    registry_up || return 1
    vol=$(volume arc) || { fail "volume create failed"; return 1; }
    before=$(gets)
    # ARC's runner with dockerd inside (docs/CACHING.md): the variables, the data root on a volume.
    local arc=(--privileged --network "container:$REG" -v "$vol:/var/lib/docker" -e "DOCKER_REGISTRY_MIRROR=$MIRROR"
        -e DOCKER_DEFAULT_ADDRESS_POOL_BASE=10.123.0.0/16 -e DOCKER_DEFAULT_ADDRESS_POOL_SIZE=24)
    run_c job "${arc[@]}" "$DIND_IMAGE" sh -c \
        "docker pull -q $IMG && docker run --rm $IMG echo pulled-ok && docker network create pooled >/dev/null &&
         docker network inspect -f 'subnet={{range .IPAM.Config}}{{.Subnet}}{{end}}' pooled && docker network rm pooled >/dev/null"
    check_rc job 0 || return 1
    grep -qx pulled-ok "$D/job.out" || fail "the pulled image did not run: $(tr '\n' '|' <"$D/job.out")" || return 1
    after=$(gets)
    ((after > before)) || fail "the registry logged no GET of library/$IMG's manifest ($before before, $after after)" || return 1
    subnet=$(sed -n 's/^subnet=//p' "$D/job.out")
    [[ $subnet =~ ^10\.123\.[0-9]+\.0/24$ ]] || fail "the inner network got $subnet, not a /24 of 10.123.0.0/16" || return 1
    # The probe runs in the background: it may come after the command started, never before ready.
    ev "$D/job.err" mirror-probe url="$MIRROR" answered=true && ev "$D/job.err" mirror-probe status=200 check="GET /v2/" || return 1
    lib_event_before "$D/job.err" dockerd-ready mirror-probe || fail "mirror-probe before dockerd-ready" || return 1
    # The next job on the same volume: the image is there before any pull.
    run_rc job2 0 "${arc[@]}" "$DIND_IMAGE" docker image inspect -f present "$IMG" && check_out job2 present || return 1
    NOTE="$SEED_NOTE; pulled $IMG through $MIRROR (manifest GETs $before -> $after), probe 200 in $(lib_event_get "$D/job.err" mirror-probe ms) ms; inner network $subnet; kept on the volume"
}

M2() {
    local svc before after i form
    registry_up || return 1
    # GitLab: the service's command (dockerd flags), then the variable passed to every service.
    for form in command variable; do
        local env=() cmd=("--registry-mirror=$MIRROR")
        [ $form = variable ] && env=(-e "DOCKER_REGISTRY_MIRROR=$MIRROR") cmd=()
        start_c "svc-$form" --privileged --network "container:$REG" -e DOCKER_TLS_CERTDIR= "${env[@]}" "$DIND_IMAGE" "${cmd[@]}" || return 1
        svc=$C before=$(gets)
        run_c "job-$form" --rm --network "container:$REG" -e DOCKER_HOST=tcp://127.0.0.1:2375 --entrypoint sh "$DIND_IMAGE" -c \
            "i=0; until docker version >/dev/null 2>&1; do i=\$((i+1)); [ \$i -gt 240 ] && exit 9; sleep 0.25; done;
             docker pull -q $IMG && docker run --rm $IMG echo pulled-ok && docker info -f 'mirrors={{.RegistryConfig.Mirrors}}'"
        check_rc "job-$form" 0 || { logs "$svc" "$D/svc-$form.log"; return 1; }
        grep -qx pulled-ok "$D/job-$form.out" || fail "$form: the pulled image did not run" || return 1
        after=$(gets)
        ((after > before)) || fail "$form: the registry logged no GET of library/$IMG's manifest" || return 1
        wait_event "$svc" mirror-probe 10 url=$MIRROR answered=true || { logs "$svc" "$D/svc-$form.log"; fail "$form: no mirror-probe answered=true"; return 1; }
        stop_c "$svc" "$D/svc-$form.log" || return 1
        # Once: by the flag, or by the variable.
        i=$(grep -o "$MIRROR" <<<"$(lib_event_msg "$D/svc-$form.log" dockerd-start)" | wc -l)
        [ "$i" = 1 ] || fail "$form: dockerd got the mirror $i times" || return 1
    done
    NOTE="the service's command: and variables: forms: each job pulled $IMG through the mirror; probe answered"
}

M3() {
    local dead_http=http://127.0.0.1:5999 dead_https=https://127.0.0.1:5998 t_ready t_probe
    # Its own loopback-only namespace: nothing listens on either port.
    start_c dead --privileged -e DOCKER_TLS_CERTDIR= -e "DOCKER_REGISTRY_MIRROR=$dead_http,$dead_https" "$DIND_IMAGE" || return 1
    wait_event "$C" mirror-probe 30 url=$dead_https answered=false && wait_event "$C" mirror-probe 30 url=$dead_http answered=false ||
        { logs "$C" "$D/dead.log"; fail "no mirror-probe answered=false for both mirrors"; return 1; }
    stop_c "$C" "$D/dead.log" || return 1
    ev "$D/dead.log" mirror-probe url=$dead_https check="TCP connect only" status=0 &&
        ev "$D/dead.log" mirror-probe url=$dead_http check="GET /v2/" status=0 || return 1
    lib_event_before "$D/dead.log" dockerd-ready mirror-probe || fail "a probe before dockerd-ready" || return 1
    t_ready=$(lib_event_t "$D/dead.log" dockerd-ready)
    t_probe=$(lib_event_t "$D/dead.log" mirror-probe)
    NOTE="both not answered ($(lib_event_get "$D/dead.log" mirror-probe error | cut -c1-60)); ready at +${t_ready}s, first probe event +${t_probe}s"
}

M4() {
    local subnet
    # The user's own settings (dockerd flags through DOCKER_DAEMON_ARGS) beside the variables.
    run_rc own 0 --privileged -e DOCKER_REGISTRY_MIRROR=$MIRROR -e DOCKER_DEFAULT_ADDRESS_POOL_BASE=10.123.0.0/16 \
        -e DOCKER_DEFAULT_ADDRESS_POOL_SIZE=24 \
        -e "DOCKER_DAEMON_ARGS=--registry-mirror=http://127.0.0.1:5997 --default-address-pool base=10.124.0.0/16,size=26" \
        "$DIND_IMAGE" sh -c "docker network create own >/dev/null && docker network inspect -f 'subnet={{range .IPAM.Config}}{{.Subnet}}{{end}}' own" || return 1
    subnet=$(sed -n 's/^subnet=//p' "$D/own.out")
    [[ $subnet =~ ^10\.124\.[0-9]+\.[0-9]+/26$ ]] || fail "the inner network got $subnet, not a /26 of the user's 10.124.0.0/16" || return 1
    ev "$D/own.err" env-unused var=DOCKER_REGISTRY_MIRROR key=registry-mirrors by=flag &&
        ev "$D/own.err" env-unused var=DOCKER_DEFAULT_ADDRESS_POOL_BASE key=default-address-pools by=flag &&
        ev "$D/own.err" env-unused var=DOCKER_DEFAULT_ADDRESS_POOL_SIZE key=default-address-pools by=flag || return 1
    # Only the user's mirror is probed (it is dead here).
    ev "$D/own.err" mirror-probe url=http://127.0.0.1:5997 && no_ev "$D/own.err" mirror-probe url=$MIRROR || return 1
    NOTE="env-unused x3; inner network $subnet from the user's pool; the user's mirror probed"
}

M5() {
    local v name notes=()
    for v in "DOCKER_REGISTRY_MIRROR=registry.example:5000" "DOCKER_REGISTRY_MIRROR=http://a b" \
        "DOCKER_DEFAULT_ADDRESS_POOL_BASE=10.123.0.0/16" "DOCKER_DEFAULT_ADDRESS_POOL_SIZE=24"; do
        name=${v%%=*}
        run_rc "bad-${#notes[@]}" 2 --privileged -e "$v" "$DIND_IMAGE" true || return 1
        grep -q "$name" "$D/bad-${#notes[@]}.err" || fail "$v: the message does not name $name: $(tail -n 2 "$D/bad-${#notes[@]}.err")" || return 1
        lib_event_none "$D/bad-${#notes[@]}.err" dockerd-start || fail "$v: dockerd was started" || return 1
        notes+=("$v")
    done
    NOTE="exit 2, variable named, nothing started: ${notes[*]}"
}

scenario_main
