#!/usr/bin/env bash
# shellcheck disable=SC2034  # WORK, NOTE, SCENARIO_FN, ...: read by scripts/scenario.sh
# dind-init as a drop-in for docker:dind: the service and sidecar set-ups of GitLab CI, ARC and
# Jenkins' kubernetes plugin, each wired as its system wires it (mirrored in
# docker/examples/gitlab-ci.yml, k8s/helm/arc-runner-values.yaml, k8s/jenkins-dind-sidecar-pod.yaml),
# on a throwaway host dockerd (instance E2E_SERVICE_INSTANCE, default service). The service is the
# ready-made image with no command; the job is another container (docker CLI or the Python SDK).
# Owns: the docker:dind service-contract scenarios (GitLab, ARC, Jenkins, the Python SDK).
#
#   sudo scripts/e2e-service.sh           # every scenario
#   sudo scripts/e2e-service.sh S1 S5     # a subset
#   scripts/e2e-service.sh --list
# Rows and logs: scripts/scenario.sh (logs in target/e2e-service/).
set -uo pipefail
LIB_TAG=e2e-service
# shellcheck source-path=SCRIPTDIR source=scenario.sh
. "$(dirname "$0")/scenario.sh"
scenario_init "${E2E_SERVICE_INSTANCE:-service}" svc
PY_IMAGE=dind-init-test/python:service FAIL_TAIL=30 HOST_TAIL=15

SCENARIO_FN=''   # scenario S1 is function S1
sc S1 gitlab-tls "GitLab services: [docker:dind] with TLS: alias docker, shared /certs/client, DOCKER_HOST=tcp://docker:2376; again after the service restarts (keys kept)"
sc S2 gitlab-no-tls "GitLab with TLS off: DOCKER_TLS_CERTDIR=\"\", command: [--tls=false, --registry-mirror, --mtu]: tcp://docker:2375 at once; the job's PORT and LOG harmless"
sc S3 arc "actions-runner-controller: args dockerd --host=unix:///var/run/docker.sock --group=123, /var/run shared with a runner (uid 1001, gid 123): one dockerd"
sc S4 jenkins-sidecar "Jenkins kubernetes-plugin sidecar: one network namespace, tcp://localhost:2375 with TLS off, and tcp://localhost:2376 with TLS"
sc S5 python-sdk-tls "the Docker SDK for Python over TLS from another container (DOCKER_TLS_VERIFY=1)"
sc S6 bind-mounts "bind mounts: paths are the daemon's; the workspace on the same path in service and job works (gitlab-foss#41227), wrapdocker's pattern too"
sc S7 tls-certdir-blank "DOCKER_TLS_CERTDIR=\" \" (a templating slip) fails closed: exit 2 naming the variable, dockerd never started, nothing on 2375 (was: plain HTTP on 2375)"

scenario_args "$@"

# WAIT_DAEMON: a job's shell code: until `docker version` answers (at most 60 s); prints the wait
WAIT_DAEMON='t0=$(date +%s%N); i=0; until docker version >/dev/null 2>&1; do i=$((i+1)); if [ $i -gt 240 ]; then echo "daemon never answered:"; docker version 2>&1 | tail -n 3; exit 9; fi; sleep 0.25; done; echo "waited $(( ($(date +%s%N) - t0) / 1000000 ))"'
# job NAME SCRIPT DOCKER-RUN-ARGS...: a job (the DinD image with sh, inner.tar mounted) runs SCRIPT once the daemon answers
job() { run_c "$1" --rm "${@:3}" "${INNER_MOUNT[@]}" --entrypoint sh "$DIND_IMAGE" -c "$WAIT_DAEMON && $2"; }
# job_ok NAME LINE WHAT: NAME exited 0 and printed LINE
job_ok() { check_rc "$1" 0 && { grep -qx -- "$2" "$D/$1.out" || fail "$3: $(tr '\n' '|' <"$D/$1.out")"; }; }
answers() { dk exec "$1" "${@:2}" >/dev/null 2>&1; }   # C CMD...: exec succeeds
not_running() { [ "$(dk inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" != true ]; }   # C

S1() {
    local net certs svc contract waited1 s1 s2 modes
    net=$(network ci) && certs=$(volume certs) || { fail "network/volume create failed"; return 1; }
    # docker:dind's image contract: ports 2375/2376 exposed (GitLab's service wait reads them),
    # /certs and /certs/client world-writable with the sticky bit (1777), DOCKER_TLS_CERTDIR=/certs.
    contract=$(dk image inspect -f '{{json .Config.ExposedPorts}} {{range .Config.Env}}{{println .}}{{end}}' "$DIND_IMAGE" 2>&1)
    grep -q '"2375/tcp"' <<<"$contract" && grep -q '"2376/tcp"' <<<"$contract" || fail "the image does not expose 2375 and 2376: $contract" || return 1
    grep -qx 'DOCKER_TLS_CERTDIR=/certs' <<<"$contract" || fail "the image lacks ENV DOCKER_TLS_CERTDIR=/certs" || return 1
    # GitLab passes every job variable to services: PORT and LOG among them. DOCKER_TLS_SAN: an
    # extra name in the server certificate (docker:dind's variable), used by job2 below.
    start_c docker --privileged --network "$net" --network-alias docker --network-alias dind.ci.test \
        -v "$certs:/certs/client" -e PORT=8080 -e LOG=json -e DOCKER_TLS_SAN=DNS:dind.ci.test "$DIND_IMAGE" || return 1
    svc=$C
    local job_env=(--network "$net" -v "$certs:/certs/client" -e DOCKER_HOST=tcp://docker:2376 -e DOCKER_TLS_VERIFY=1 -e DOCKER_CERT_PATH=/certs/client)
    job job "$LOAD && docker run --rm $INNER_IMAGE echo job-ok && \
         (exec 3<>/dev/tcp/docker/8080) 2>/dev/null && echo PORT-8080-OPEN || echo port-8080-closed" "${job_env[@]}"
    job_ok job job-ok "the job's inner docker run" || return 1
    grep -qx port-8080-closed "$D/job.out" || fail "the job's PORT=8080 opened a port on the service" || return 1
    waited1=$(sed -n 's/^waited //p' "$D/job.out")
    # The certificates: docker:dind's layout, only client/ on the shared volume.
    dk exec "$svc" sh -c 'ls /certs/ca /certs/server /certs/client' >"$D/layout.out" 2>&1
    for f in ca.pem cert.pem key.pem; do dk exec "$svc" test -s "/certs/server/$f" -a -s "/certs/client/$f" || fail "missing /certs/{server,client}/$f" || return 1; done
    modes=$(dk exec "$svc" stat -c %a /certs/client/key.pem /certs 2>&1 | tr '\n' ' ')
    [ "$modes" = "644 1777 " ] || fail "modes of client/key.pem and /certs: $modes, expected 644 (jobs run as any user) and 1777 (docker:dind's)" || return 1
    sums() { dk exec "$svc" sha256sum /certs/client/key.pem /certs/client/cert.pem | cut -c1-16; }
    mapfile -t s1 < <(sums)
    # The service restarts: keys kept, certificates issued anew, clients still verify; job2 names
    # the service by its DOCKER_TLS_SAN name (verified against the certificate).
    dk restart "$svc" >/dev/null || { fail "docker restart of the service failed"; return 1; }
    job job2 "docker run --rm $INNER_IMAGE echo job2-ok" "${job_env[@]}" -e DOCKER_HOST=tcp://dind.ci.test:2376
    job_ok job2 job2-ok "after the restart" || return 1
    mapfile -t s2 < <(sums)
    [ "${s1[0]}" = "${s2[0]}" ] || fail "the client key changed across the restart" || return 1
    [ "${s1[1]}" != "${s2[1]}" ] || fail "the client certificate was not re-issued on restart" || return 1
    logs "$svc" "$D/service.log"
    grep -q "WARN .*ignoring wrapdocker's\|not read without a command" "$D/service.log" || fail "no note that PORT/LOG were not read" || return 1
    NOTE="TLS job ok (waited ${waited1} ms for the daemon), after restart too over its DOCKER_TLS_SAN name (key kept, certificate new); certificates $(lib_event_get "$D/service.log" tls ms --last) ms; PORT=8080 stayed closed; EXPOSE 2375 2376, /certs 1777"
}

S2() {
    local net t0 took started
    net=$(network ci) || { fail "network create failed"; return 1; }
    t0=$(lib_now)
    # GitLab: `command: ["--tls=false", "--registry-mirror", "https://…", "--mtu=1360"]`.
    start_c docker --privileged --network "$net" --network-alias docker -e DOCKER_TLS_CERTDIR= \
        "$DIND_IMAGE" --tls=false --registry-mirror https://registry-mirror.example.com --mtu=1360 || return 1
    job job "$LOAD && docker run --rm $INNER_IMAGE echo plain-ok && docker info --format '{{.RegistryConfig.Mirrors}}'" \
        --network "$net" -e DOCKER_HOST=tcp://docker:2375
    took=$(lib_since "$t0" 2)
    job_ok job plain-ok "the job's inner docker run" || return 1
    grep -q 'registry-mirror.example.com' "$D/job.out" || fail "the registry mirror flag did not reach dockerd" || return 1
    logs "$C" "$D/service.log"
    started=$(lib_event_msg "$D/service.log" dockerd-start)
    grep -q -- ' --mtu=1360' <<<"$started" || fail "--mtu=1360 did not reach dockerd: $started" || return 1
    [ "$(grep -o -- '--mtu=[0-9]*' <<<"$started" | wc -l)" = 1 ] || fail "two --mtu flags: $started" || return 1
    [ "$(grep -o -- '--tls=false' <<<"$started" | wc -l)" = 1 ] || fail "--tls=false given twice: $started" || return 1
    grep -q -- '--host=tcp://0.0.0.0:2375' <<<"$started" || fail "no plain TCP listener: $started" || return 1
    ! grep -q 'Startup is intentionally being slowed down' "$D/service.log" || fail "dockerd slept 15 s (no --tls=false)" || return 1
    lib_lt "$took" 15 || fail "the job waited ${took}s for a TLS-off daemon" || return 1
    NOTE="tcp://docker:2375 answered, service start to job done ${took} s; --mtu=1360 and the mirror reached dockerd once"
}

S3() {
    local sock gid n
    sock=$(volume dind-sock) || { fail "volume create failed"; return 1; }
    # ARC's dind container: docker:dind with args, group from $(DOCKER_GROUP_GID).
    start_c dind --privileged -v "$sock:/var/run" -e DOCKER_GROUP_GID=123 "$DIND_IMAGE" \
        dockerd --host=unix:///var/run/docker.sock --group=123 || return 1
    # ARC's startupProbe: `docker info` in the dind container.
    wait_for 60 answers "$C" docker info || { logs "$C" "$D/dind.log"; fail "startupProbe 'docker info' never passed"; return 1; }
    job runner "id -u && $LOAD && docker run --rm $INNER_IMAGE echo arc-ok" -u 1001:123 -v "$sock:/var/run" -e DOCKER_HOST=unix:///var/run/docker.sock
    job_ok runner arc-ok "the runner's docker run" || return 1
    grep -qx 1001 "$D/runner.out" || fail "the runner did not run as uid 1001" || return 1
    gid=$(dk exec "$C" stat -c %g /var/run/docker.sock)
    [ "$gid" = 123 ] || fail "socket group $gid, expected 123 (--group)" || return 1
    n=$(dk exec "$C" sh -c 'for p in /proc/[0-9]*; do cat $p/comm 2>/dev/null; done' | grep -cx dockerd)
    [ "$n" = 1 ] || fail "$n dockerd processes in the dind container, expected one" || return 1
    logs "$C" "$D/dind.log"
    NOTE="runner uid 1001 gid 123 used the shared socket; one dockerd; startupProbe docker info passed"
}

S4() {
    local certs
    certs=$(volume certs) || { fail "volume create failed"; return 1; }
    # TLS off: DOCKER_TLS_CERTDIR="" on the dind container, the agent on tcp://localhost:2375.
    start_c jdind --privileged -e DOCKER_TLS_CERTDIR= "$DIND_IMAGE" || return 1
    job agent "$LOAD && docker run --rm $INNER_IMAGE echo sidecar-ok" --network "container:$C" -e DOCKER_HOST=tcp://localhost:2375
    job_ok agent sidecar-ok "TLS off" || return 1
    # TLS on: the client certificates on a volume shared with the agent.
    start_c jdind-tls --privileged -v "$certs:/certs/client" "$DIND_IMAGE" || return 1
    job agent-tls "$LOAD && docker run --rm $INNER_IMAGE echo sidecar-tls-ok" --network "container:$C" -v "$certs:/certs/client" \
        -e DOCKER_HOST=tcp://localhost:2376 -e DOCKER_TLS_VERIFY=1 -e DOCKER_CERT_PATH=/certs/client
    job_ok agent-tls sidecar-tls-ok "TLS" || return 1
    NOTE="localhost:2375 (TLS off) and localhost:2376 (TLS, shared client certificates) from the agent"
}

S5() {
    local net certs
    lib_py_image "$PY_IMAGE" "$D/build.log" || { fail "building $PY_IMAGE failed (see build.log)"; return 1; }
    net=$(network ci) && certs=$(volume certs) || { fail "network/volume create failed"; return 1; }
    start_c docker --privileged --network "$net" --network-alias docker -v "$certs:/certs/client" "$DIND_IMAGE" || return 1
    wait_for 60 answers "$C" dind-init health
    run_rc sdk 0 --rm --network "$net" -v "$certs:/certs/client" -e DOCKER_HOST=tcp://docker:2376 -e DOCKER_TLS_VERIFY=1 \
        -e DOCKER_CERT_PATH=/certs/client -e "INNER_IMAGE=$INNER_IMAGE" "${INNER_MOUNT[@]}" --entrypoint python3 \
        "$PY_IMAGE" /usr/local/bin/sdk-check.py || return 1
    grep -qx 'result=sdk-ok' "$D/sdk.out" || fail "containers.run over TLS: $(tr '\n' '|' <"$D/sdk.out" | head -c 300)" || return 1
    # And without the client certificate the daemon refuses the SDK.
    run_c nocert --rm --network "$net" -e DOCKER_HOST=tcp://docker:2376 --entrypoint python3 "$PY_IMAGE" -c \
        'import docker; docker.DockerClient(base_url="https://docker:2376", tls=docker.tls.TLSConfig(verify=False)).version()'
    [ "$RC" != 0 ] || fail "the daemon answered a client without a certificate" || return 1
    NOTE="$PY_SDK_SOURCE over TLS: $(sed -n 's/^versions: //p' "$D/sdk.out"); refused without a client certificate"
}

S6() {
    local net builds ws
    net=$(network ci) && builds=$(volume builds) && ws=$(volume workspace) || { fail "network/volume create failed"; return 1; }
    # GitLab Runner mounts the workspace at /builds in the service and the job alike.
    start_c docker --privileged --network "$net" --network-alias docker -e DOCKER_TLS_CERTDIR= -v "$builds:/builds" "$DIND_IMAGE" || return 1
    job job "$LOAD && mkdir -p /builds/proj /job-only && echo from-the-job > /builds/proj/file && \
         echo hidden > /job-only/file && cd /builds/proj && \
         echo \"workspace: \$(docker run --rm -v \"\$PWD\":\"\$PWD\" -w \"\$PWD\" $INNER_IMAGE cat file)\" && \
         echo \"job-only: [\$(docker run --rm -v /job-only:/x $INNER_IMAGE ls -A /x)]\"" --network "$net" -v "$builds:/builds" -e DOCKER_HOST=tcp://docker:2375
    job_ok job 'workspace: from-the-job' "the shared workspace" || return 1
    # The trap from the field notes: a path only the job has shows up empty inside.
    grep -qx 'job-only: \[\]' "$D/job.out" || fail "expected the job-only path to be empty inside: $(grep job-only "$D/job.out")" || return 1
    # wrapdocker's pattern: the command and the daemon share a filesystem.
    run_rc wrap 0 --rm --privileged -v "$ws:/workspace" "${INNER_MOUNT[@]}" "$DIND_IMAGE" sh -c \
        "echo from-the-command > /workspace/file && $LOAD && docker run --rm -v /workspace:/src $INNER_IMAGE cat /src/file" && check_out wrap from-the-command || return 1
    NOTE="same-path workspace seen inside; a job-only path empty inside (the symptom); wrapdocker pattern: -v /workspace:/src works"
}

S7() {
    local code
    # Only the empty string turns TLS off; a blank is a usage error before anything starts.
    start_c blank --privileged -e 'DOCKER_TLS_CERTDIR= ' "$DIND_IMAGE" || return 1
    wait_for 30 not_running "$C" || { logs "$C" "$D/blank.log"; fail "still running after 30 s $(DK_TIMEOUT=20 dk exec "$C" docker \
        -H tcp://127.0.0.1:2375 version >"$D/probe.out" 2>&1 && echo "and serving the API WITHOUT TLS on 2375" || echo "(no exit 2)")"; return 1; }
    code=$(dk inspect -f '{{.State.ExitCode}}' "$C")
    logs "$C" "$D/blank.log"
    [ "$code" = 2 ] || fail "exit status $code, expected 2 (usage)" || return 1
    grep -q 'DOCKER_TLS_CERTDIR' "$D/blank.log" || fail "the message does not name DOCKER_TLS_CERTDIR: $(tail -n 3 "$D/blank.log" | tr '\n' '|')" || return 1
    lib_event_none "$D/blank.log" dockerd-start || fail "dockerd was started" || return 1
    NOTE="exit 2 at once: $(grep -m1 'DOCKER_TLS_CERTDIR' "$D/blank.log" | cut -c1-160)"
}

scenario_main
