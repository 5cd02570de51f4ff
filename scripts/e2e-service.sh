#!/usr/bin/env bash
# dind-init as a drop-in for docker:dind: the service and sidecar set-ups of GitLab CI, ARC and
# Jenkins' kubernetes plugin, each wired as its system wires it (docker/examples/gitlab-ci.yml,
# k8s/), on a throwaway host dockerd (instance E2E_SERVICE_INSTANCE, default service).
# Owns: the docker:dind service-contract scenarios (GitLab, ARC, Jenkins, the Python SDK).
#
#   sudo scripts/e2e-service.sh           # every scenario
#   sudo scripts/e2e-service.sh S1 S5     # a subset
#   scripts/e2e-service.sh --list
set -uo pipefail
LIB_TAG=e2e-service
# shellcheck source-path=SCRIPTDIR source=scenario.sh
. "$(dirname "$0")/scenario.sh"
scenario_init "${E2E_SERVICE_INSTANCE:-service}" svc
PY_IMAGE=dind-init-test/python:service FAIL_TAIL=30 HOST_TAIL=15

SCENARIO_FN=''   # scenario S1 is function S1
sc S1 gitlab-tls
sc S2 gitlab-no-tls
sc S3 arc
sc S4 jenkins-sidecar
sc S5 python-sdk-tls
sc S6 bind-mounts
sc S7 tls-certdir-blank

scenario_args "$@"


S1() {
    local net certs svc contract waited1 s1 s2 modes f
    net=$(network ci) && certs=$(volume certs) || fail "network/volume create failed"
    # docker:dind's image contract: EXPOSE 2375 2376 (GitLab's service wait reads them),
    # DOCKER_TLS_CERTDIR=/certs, /certs 1777
    f='{{json .Config.ExposedPorts}} {{range .Config.Env}}{{println .}}{{end}}'
    contract=$(dk image inspect -f "$f" "$DIND_IMAGE" 2>&1)
    grep -q '"2375/tcp"' <<<"$contract" && grep -q '"2376/tcp"' <<<"$contract" ||
        fail "the image does not expose 2375 and 2376: $contract"
    grep -qx 'DOCKER_TLS_CERTDIR=/certs' <<<"$contract" || fail "no ENV DOCKER_TLS_CERTDIR=/certs"
    # GitLab passes every job variable to services: PORT and LOG among them. DOCKER_TLS_SAN: a
    # name in the server certificate, used by job2 below.
    start_c docker --privileged --network "$net" --network-alias docker --network-alias dind.ci.test \
        -v "$certs:/certs/client" -e PORT=8080 -e LOG=json -e DOCKER_TLS_SAN=DNS:dind.ci.test \
        "$DIND_IMAGE"
    svc=$C
    local job_env=(--network "$net" -v "$certs:/certs/client" -e DOCKER_HOST=tcp://docker:2376
        "${TLS_JOB[@]}")
    job job "$LOAD && docker run --rm $INNER_IMAGE echo job-ok && (exec 3<>/dev/tcp/docker/8080) \
2>/dev/null && echo PORT-8080-OPEN || echo port-8080-closed" "${job_env[@]}"
    job_ok job job-ok "the job's inner docker run"
    WHY="the job's PORT=8080: " has "$D/job.out" port-8080-closed
    waited1=$(sed -n 's/^waited //p' "$D/job.out")
    for f in ca.pem cert.pem key.pem; do
        dk exec "$svc" test -s "/certs/server/$f" -a -s "/certs/client/$f" || fail "no /certs/*/$f"
    done
    # 644: jobs run as any user; 1777: docker:dind's
    modes=$(dk exec "$svc" stat -c %a /certs/client/key.pem /certs 2>&1 | tr '\n' ' ')
    is "$modes" "644 1777 " "modes of client/key.pem and /certs"
    sums() { dk exec "$svc" sha256sum /certs/client/key.pem /certs/client/cert.pem | cut -c1-16; }
    mapfile -t s1 < <(sums)
    dk restart "$svc" >/dev/null || fail "docker restart of the service failed"
    job job2 "docker run --rm $INNER_IMAGE echo job2-ok" "${job_env[@]}" -e DOCKER_HOST=tcp://dind.ci.test:2376
    job_ok job2 job2-ok "after the restart"
    mapfile -t s2 < <(sums)
    [ "${s1[0]}" = "${s2[0]}" ] || fail "the client key changed across the restart"
    [ "${s1[1]}" != "${s2[1]}" ] || fail "the client certificate was not re-issued on restart"
    logs "$svc" "$D/service.log"
    grep -q "WARN .*ignoring wrapdocker's\|not read without a command" "$D/service.log" ||
        fail "no note that PORT/LOG were not read"
    NOTE="TLS job ok (waited ${waited1} ms), again after a restart by its DOCKER_TLS_SAN name (key\
 kept, certificate new in $(lib_event_get "$D/service.log" tls ms --last) ms); PORT=8080 closed"
}

S2() {
    local net t0 took started
    net=$(network ci) || fail "network create failed"
    t0=$(lib_now)
    # GitLab: `command: ["--tls=false", "--registry-mirror", "https://…", "--mtu=1360"]`.
    start_c docker --privileged --network "$net" --network-alias docker -e DOCKER_TLS_CERTDIR= \
        "$DIND_IMAGE" --tls=false --registry-mirror https://registry-mirror.example.com --mtu=1360
    job job "$LOAD && docker run --rm $INNER_IMAGE echo plain-ok && \
docker info --format '{{.RegistryConfig.Mirrors}}'" --network "$net" \
        -e DOCKER_HOST=tcp://docker:2375
    took=$(lib_since "$t0" 2)
    job_ok job plain-ok "the job's inner docker run"
    holds "$D/job.out" 'registry-mirror.example.com' "the mirror did not reach dockerd"
    logs "$C" "$D/service.log"
    started=$(started "$D/service.log")
    WHY="dockerd's flags: $started: "
    grep -q -- ' --mtu=1360' <<<"$started" || fail "no --mtu=1360"
    is "$(grep -o -- '--mtu=[0-9]*' <<<"$started" | wc -l)" 1 "--mtu flags"
    is "$(grep -o -- '--tls=false' <<<"$started" | wc -l)" 1 "--tls=false flags"
    grep -q -- '--host=tcp://0.0.0.0:2375' <<<"$started" || fail "no plain TCP listener"
    WHY=''
    lacks "$D/service.log" 'Startup is intentionally being slowed down' "dockerd slept 15 s"
    lt "$took" 15 "the job's wait for a TLS-off daemon"
    NOTE="tcp://docker:2375 answered, service start to job done ${took} s; --mtu=1360 and the\
 mirror reached dockerd once"
}

S3() {
    local sock n
    sock=$(volume dind-sock) || fail "volume create failed"
    start_c dind --privileged -v "$sock:/var/run" -e DOCKER_GROUP_GID=123 "$DIND_IMAGE" \
        dockerd --host=unix:///var/run/docker.sock --group=123
    # ARC's startupProbe: `docker info` in the dind container.
    must "$C" "startupProbe 'docker info' never passed" wait_for 60 answers "$C" docker info
    job runner "id -u && $LOAD && docker run --rm $INNER_IMAGE echo arc-ok" -u 1001:123 \
        -v "$sock:/var/run" -e DOCKER_HOST=unix:///var/run/docker.sock
    job_ok runner arc-ok "the runner's docker run"
    has "$D/runner.out" 1001
    is "$(dk exec "$C" stat -c %g /var/run/docker.sock)" 123 "the socket's group (--group)"
    n=$(dk exec "$C" sh -c 'for p in /proc/[0-9]*; do cat $p/comm 2>/dev/null; done' | grep -cx dockerd)
    is "$n" 1 "dockerd processes in the dind container"
    logs "$C" "$D/dind.log"
    NOTE="runner uid 1001 gid 123 used the shared socket; one dockerd; startupProbe passed"
}

S4() {
    local certs
    certs=$(volume certs) || fail "volume create failed"
    start_c jdind --privileged -e DOCKER_TLS_CERTDIR= "$DIND_IMAGE"
    job agent "$LOAD && docker run --rm $INNER_IMAGE echo sidecar-ok" --network "container:$C" \
        -e DOCKER_HOST=tcp://localhost:2375
    job_ok agent sidecar-ok "TLS off"
    start_c jdind-tls --privileged -v "$certs:/certs/client" "$DIND_IMAGE"
    job agent-tls "$LOAD && docker run --rm $INNER_IMAGE echo sidecar-tls-ok" \
        --network "container:$C" -v "$certs:/certs/client" -e DOCKER_HOST=tcp://localhost:2376 \
        "${TLS_JOB[@]}"
    job_ok agent-tls sidecar-tls-ok "TLS"
    NOTE="localhost:2375 (TLS off) and localhost:2376 (TLS) from the agent"
}

S5() {
    local net certs
    lib_py_image "$PY_IMAGE" "$D/build.log" || fail "building $PY_IMAGE failed (see build.log)"
    net=$(network ci) && certs=$(volume certs) || fail "network/volume create failed"
    start_c docker --privileged --network "$net" --network-alias docker -v "$certs:/certs/client" \
        "$DIND_IMAGE"
    wait_for 60 answers "$C" dind-init health
    run_rc sdk 0 --rm --network "$net" -v "$certs:/certs/client" -e DOCKER_HOST=tcp://docker:2376 \
        "${TLS_JOB[@]}" -e "INNER_IMAGE=$INNER_IMAGE" "${INNER_MOUNT[@]}" --entrypoint python3 \
        "$PY_IMAGE" /usr/local/bin/sdk-check.py
    has "$D/sdk.out" 'result=sdk-ok'
    run_c nocert --rm --network "$net" -e DOCKER_HOST=tcp://docker:2376 --entrypoint python3 "$PY_IMAGE" -c \
        'import docker; docker.DockerClient(base_url="https://docker:2376",
            tls=docker.tls.TLSConfig(verify=False)).version()'
    [ "$RC" != 0 ] || fail "the daemon answered a client without a certificate"
    NOTE="$PY_SDK_SOURCE over TLS: $(sed -n 's/^versions: //p' "$D/sdk.out"); refused without a\
 client certificate"
}

S6() {
    local net builds ws
    net=$(network ci) && builds=$(volume builds) && ws=$(volume workspace) || fail "create failed"
    start_c docker --privileged --network "$net" --network-alias docker -e DOCKER_TLS_CERTDIR= \
        -v "$builds:/builds" "$DIND_IMAGE"
    job job "$LOAD && mkdir -p /builds/proj /job-only && echo from-the-job > /builds/proj/file && \
echo hidden > /job-only/file && cd /builds/proj && \
echo \"workspace: \$(docker run --rm -v \"\$PWD\":\"\$PWD\" -w \"\$PWD\" $INNER_IMAGE \
cat file)\" && \
echo \"job-only: [\$(docker run --rm -v /job-only:/x $INNER_IMAGE ls -A /x)]\"" \
        --network "$net" -v "$builds:/builds" -e DOCKER_HOST=tcp://docker:2375
    job_ok job 'workspace: from-the-job' "the shared workspace"
    # The trap from the field notes: a path only the job has shows up empty inside.
    has "$D/job.out" 'job-only: []'
    dind_sh wrap 0 "echo from-the-command > /workspace/file && \
docker run --rm -v /workspace:/src $INNER_IMAGE cat /src/file" -v "$ws:/workspace"
    check_out wrap from-the-command
    NOTE="same-path workspace seen inside, a job-only path empty; wrapdocker's pattern works"
}

S7() {
    local code
    # Only the empty string turns TLS off; a blank is a usage error before anything starts.
    start_c blank --privileged -e 'DOCKER_TLS_CERTDIR= ' "$DIND_IMAGE"
    if ! wait_for 30 eval '! is_up "$C"'; then
        logs "$C" "$D/blank.log"
        DK_TIMEOUT=20 dk exec "$C" docker -H tcp://127.0.0.1:2375 version >"$D/probe.out" 2>&1 &&
            fail "still running after 30 s and serving the API WITHOUT TLS on 2375"
        fail "still running after 30 s (no exit 2)"
    fi
    code=$(dk inspect -f '{{.State.ExitCode}}' "$C")
    logs "$C" "$D/blank.log"
    is "$code" 2 "exit status (usage)"
    grep -q 'DOCKER_TLS_CERTDIR' "$D/blank.log" ||
        fail "no message names DOCKER_TLS_CERTDIR: $(tail -n 3 "$D/blank.log" | tr '\n' '|')"
    no_ev "$D/blank.log" dockerd-start
    NOTE="exit 2 at once: $(grep -m1 'DOCKER_TLS_CERTDIR' "$D/blank.log" | cut -c1-160)"
}

scenario_main
