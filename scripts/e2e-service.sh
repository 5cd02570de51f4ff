#!/usr/bin/env bash
# dind-init as a drop-in for docker:dind: the service and sidecar set-ups of GitLab CI, ARC,
# Jenkins and the Python SDK, each wired as its system wires it (docs/TESTING.md), on a throwaway
# host dockerd (instance E2E_SERVICE_INSTANCE, default service).
#
#   sudo scripts/e2e-service.sh [--list] [ID|NAME...]   # none: every scenario
set -uo pipefail
LIB_TAG=e2e-service
# shellcheck source-path=SCRIPTDIR source=scenario.sh
. "$(dirname "$0")/scenario.sh"
scenario_init "${E2E_SERVICE_INSTANCE:-service}" svc
PY_IMAGE=dind-init-test/python:service

sc S1 gitlab-tls
sc S2 gitlab-no-tls
sc S3 arc
sc S4 jenkins-sidecar
sc S5 python-sdk-tls
sc S6 bind-mounts
sc S7 tls-certdir-blank

scenario_args "$@"

# sums FILE: the service's client key's and certificate's sha256 in D/FILE
sums() { exec_sh "$C" "$1" 'cd /certs/client && sha256sum key.pem cert.pem'; }

S1() {
    # docker:dind's image contract: EXPOSE 2375 2376 (GitLab's service wait reads them), the ENV
    dk image inspect -f '{{json .Config.ExposedPorts}}{{range .Config.Env}}
{{.}}{{end}}' "$DIND_IMAGE" >"$D/image" 2>&1
    has "$D/image" '{"2375/tcp":{},"2376/tcp":{}}' DOCKER_TLS_CERTDIR=/certs
    # GitLab passes every job variable to services: PORT and LOG among them. DOCKER_TLS_SAN: a
    # name in the server certificate, used by job2 below.
    service_net
    start_c docker --privileged "${SERVED[@]}" --network-alias dind.ci.test -e PORT=8080 \
        -e LOG=json -e DOCKER_TLS_SAN=DNS:dind.ci.test "$DIND_IMAGE"
    inner_job job "(exec 3<>/dev/tcp/docker/8080) 2>/dev/null && echo PORT-8080-OPEN \
|| echo port-8080-closed" "${CLIENT[@]}"
    WHY="the job's PORT=8080: " has "$D/job.out" port-8080-closed
    # the files; 644: jobs run as any user; /certs 1777: docker:dind's
    exec_sh "$C" certs 'cd /certs && stat -c "%a %n" . client/key.pem && for f in ca cert key
do test -s server/$f.pem -a -s client/$f.pem || echo "no $f.pem"; done'
    has "$D/certs" "1777 ." "644 client/key.pem"
    lacks "$D/certs" '^no '
    sums sums1
    dk restart "$C" >/dev/null || fail "docker restart of the service failed"
    inner_job job2 '' "${CLIENT[@]}" -e DOCKER_HOST=tcp://dind.ci.test:2376
    sums sums2
    WHY="the client key changed: " has "$D/sums2" "$(grep key.pem "$D/sums1")"
    lacks "$D/sums2" "$(grep cert.pem "$D/sums1")" "the client certificate was not re-issued"
    logs "$C" "$D/service.log"
    holds "$D/service.log" "WARN .*ignoring wrapdocker's\|not read without a command" \
        "no note that PORT/LOG were not read"
    NOTE="the job waited $(sed -n 's/^waited //p' "$D/job.out") ms; the certificate re-issued in\
 $(lib_event_get "$D/service.log" tls ms --last) ms"
}

S2() {
    local t0 took started
    service_net plain
    t0=$(lib_now)
    # GitLab: `command: ["--tls=false", "--registry-mirror", "https://…", "--mtu=1360"]`.
    start_c docker --privileged "${SERVED[@]}" "$DIND_IMAGE" --tls=false \
        --registry-mirror https://registry-mirror.example.com --mtu=1360
    inner_job job "docker info --format '{{.RegistryConfig.Mirrors}}'" "${CLIENT[@]}"
    took=$(lib_since "$t0" 2)
    holds "$D/job.out" 'registry-mirror.example.com' "the mirror did not reach dockerd"
    logs "$C" "$D/service.log"
    started=$(started "$D/service.log")
    WHY="dockerd's flags: $started: "
    # each flag once, --mtu=1360 its value
    is "$(grep -o -- '--mtu=[0-9]*\|--tls=false' <<<"$started" | sort | tr '\n' ' ')" \
        "--mtu=1360 --tls=false " "--mtu and --tls flags"
    grep -q -- '--host=tcp://0.0.0.0:2375' <<<"$started" || fail "no plain TCP listener"
    WHY=''
    lacks "$D/service.log" 'Startup is intentionally being slowed down' "dockerd slept 15 s"
    lt "$took" 15 "the job's wait for a TLS-off daemon"
    NOTE="service start to job done ${took} s"
}

S3() {
    local sock
    sock=$(volume dind-sock) || fail "volume create failed"
    start_c dind --privileged -v "$sock:/var/run" -e DOCKER_GROUP_GID=123 "$DIND_IMAGE" \
        dockerd --host=unix:///var/run/docker.sock --group=123
    # ARC's startupProbe: `docker info` in the dind container.
    must "$C" "startupProbe 'docker info' never passed" wait_for 60 answers "$C" docker info
    inner_job runner "id -u" -u 1001:123 -v "$sock:/var/run" \
        -e DOCKER_HOST=unix:///var/run/docker.sock
    has "$D/runner.out" 1001
    exec_sh "$C" dind 'stat -c "socket group %g" /var/run/docker.sock
cat /proc/[0-9]*/comm 2>/dev/null; :'   # the socket's group (--group); the processes' names
    has "$D/dind" "socket group 123"
    is "$(grep -cx dockerd "$D/dind")" 1 "dockerd processes in the dind container"
}

S4() {
    local certs
    certs=$(volume certs) || fail "volume create failed"
    start_c jdind --privileged -e DOCKER_TLS_CERTDIR= "$DIND_IMAGE"
    inner_job agent '' --network "container:$C" -e DOCKER_HOST=tcp://localhost:2375
    start_c jdind-tls --privileged -v "$certs:/certs/client" "$DIND_IMAGE"
    inner_job agent-tls '' --network "container:$C" -v "$certs:/certs/client" \
        -e DOCKER_HOST=tcp://localhost:2376 "${TLS_JOB[@]}"
}

S5() {
    lib_py_image "$PY_IMAGE" "$D/build.log" || fail "building $PY_IMAGE failed (see build.log)"
    service_net
    start_c docker --privileged "${SERVED[@]}" "$DIND_IMAGE"
    wait_healthy "$C" 60
    run_rc sdk 0 --rm "${CLIENT[@]}" -e "INNER_IMAGE=$INNER_IMAGE" "${INNER_MOUNT[@]}" \
        --entrypoint python3 "$PY_IMAGE" /usr/local/bin/sdk-check.py
    has "$D/sdk.out" 'result=sdk-ok'
    run_c nocert --rm --network "$NET" --entrypoint python3 "$PY_IMAGE" -c 'import docker
docker.DockerClient(base_url="https://docker:2376",
    tls=docker.tls.TLSConfig(verify=False)).version()'
    [ "$RC" != 0 ] || fail "the daemon answered a client without a certificate"
    NOTE="$PY_SDK_SOURCE: $(sed -n 's/^versions: //p' "$D/sdk.out")"
}

S6() {
    local builds ws
    service_net plain
    builds=$(volume builds) && ws=$(volume workspace) || fail "volume create failed"
    start_c docker --privileged "${SERVED[@]}" -v "$builds:/builds" "$DIND_IMAGE"
    # The trap from the field notes: a path only the job has shows up empty inside.
    job job "$LOAD"' && mkdir -p /builds/proj /job-only && echo from-the-job >/builds/proj/file &&
echo hidden >/job-only/file && cd /builds/proj &&
echo "workspace: $(docker run --rm -v "$PWD:$PWD" -w "$PWD" $IMG cat file)" &&
echo "job-only: [$(docker run --rm -v /job-only:/x $IMG ls -A /x)]"' -e "IMG=$INNER_IMAGE" \
        "${CLIENT[@]}" -v "$builds:/builds"
    job_ok job "the shared workspace" 'workspace: from-the-job' 'job-only: []'
    dind_sh wrap 0 "echo from-the-command > /workspace/file && \
docker run --rm -v /workspace:/src $INNER_IMAGE cat /src/file" -v "$ws:/workspace"
    check_out wrap from-the-command
}

S7() {
    # Only the empty string turns TLS off; a blank is a usage error before anything starts.
    start_c blank --privileged -e 'DOCKER_TLS_CERTDIR= ' "$DIND_IMAGE"
    if ! wait_for 30 eval '! is_up "$C"'; then
        logs "$C" "$D/blank.log"
        DK_TIMEOUT=20 dk exec "$C" docker -H tcp://127.0.0.1:2375 version >"$D/probe.out" 2>&1 &&
            fail "still running after 30 s and serving the API WITHOUT TLS on 2375"
        fail "still running after 30 s (no exit 2)"
    fi
    logs "$C" "$D/blank.log"
    is "$(dk inspect -f '{{.State.ExitCode}}' "$C")" 2 "exit status (usage)"
    holds "$D/blank.log" DOCKER_TLS_CERTDIR "no message names DOCKER_TLS_CERTDIR"
    no_ev "$D/blank.log" dockerd-start
    NOTE="exit 2 at once: $(grep -m1 'DOCKER_TLS_CERTDIR' "$D/blank.log" | cut -c1-160)"
}

scenario_main
