#!/usr/bin/env bash
# Builds the images of docker/examples/ on the local Debian DinD image and checks them; checks k8s/
# (yamllint, schema, semantics, each DinD container run as the kubelet would): docs/TESTING.md.
# Owns: the checks of docker/examples and the Kubernetes manifests.
#
#   sudo scripts/examples.sh           # every check
#   sudo scripts/examples.sh X11 X12   # a subset (a check of an image needs its build's check)
#   scripts/examples.sh --list
#
# Needs root; its own host dockerd (instance EXAMPLES_INSTANCE, default examples). Network: Debian's
# mirror (the builds), PyPI (yamllint, kubernetes-validate: a venv in DIND_CACHE).
set -uo pipefail
LIB_TAG=examples
# shellcheck source-path=SCRIPTDIR source=scenario.sh
. "$(dirname "$0")/scenario.sh"
scenario_init "${EXAMPLES_INSTANCE:-examples}" ex
EX=docker/examples VENV=$DIND_CACHE/examples-venv FAKE_CTL=$WORK/controller FAIL_TAIL=40
MAVEN_IMAGE=dind-init-example/maven:test JENKINS_IMAGE=dind-init-example/jenkins-agent:test
PRELOAD_IMAGE=dind-init-example/jenkins-preload:test
K8S_VERSIONS=1.29.0,1.37.0   # an older cluster and the newest schema kubernetes-validate ships

SCENARIO_FN=''   # check X1 is function X1
sc X1 maven-build
sc X2 maven-test
sc X3 jenkins-build
sc X4 jenkins-version
sc X5 jenkins-user
sc X6 jenkins-no-jar
sc X7 jenkins-launcher
sc X8 jenkins-stop
sc X9 preload-build
sc X10 preload-run
sc X11 k8s-lint
sc X12 k8s-schema
sc X13 k8s-semantics
sc X14 k8s-dind-pod
sc X15 k8s-jenkins-pod
sc X16 k8s-sidecar-pod
scenario_args "$@"
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || SETUP_DEPS=(python3-venv)

# build IMAGE BASE DIR: docker build --build-arg BASE=BASE; NOTE: its size. --network host: the
# RUN steps reach Debian's mirror (the host dockerd has no bridge)
build() {
    DOCKER_BUILDKIT=1 DK_TIMEOUT=900 dk build --pull=false --progress plain --network host \
        --build-arg "BASE=$2" -t "$1" "$3" >"$D/build.log" 2>&1 || fail "docker build of $1 failed"
    NOTE="$(dk image inspect -f '{{.Size}}' "$1" | awk '{ printf "%d MB", $1 / 1e6 }')"
}
# ran NAME STATUS DOCKER-RUN-ARGS...: docker run, its output in D/NAME.log; it exits STATUS
ran() {
    DK_TIMEOUT=${DK_TIMEOUT:-300} dk run --label "$LABEL" "${@:3}" >"$D/$1.log" 2>&1
    is "$?" "$2" "$1: exit status"
}
cmd_is() { # LOG CMD: dind-init's command-start message ends with ": CMD"
    [[ $(lib_event_msg "$1" command-start) == *": $2" ]] || fail "${1##*/}: the command is not $2"
}

X1() { build "$MAVEN_IMAGE" "$DIND_IMAGE" "$EX/maven"; }
X2() {
    local l=$D/mvn.log ready cmd
    # inner.tar: the test runs a container through the API
    ran mvn 0 --rm --privileged "${INNER_MOUNT[@]}" "$MAVEN_IMAGE"
    holds "$l" 'Tests run: 5, Failures: 0, Errors: 0, Skipped: 0$'
    holds "$l" 'BUILD SUCCESS'
    holds "$l" '^GET /_ping on /var/run/docker.sock: 200 OK'
    holds "$l" 'said: hello from an inner container'
    holds "$l" '^DOCKER_HOST=unix:///var/run/docker.sock TESTCONTAINERS_HOST_OVERRIDE=localhost$'
    cmd_is "$l" 'mvn test'
    # mvn started once dockerd answered: in the log, and by the clock
    before "$l" dockerd-ready command-start
    ready=$(lib_event_t "$l" dockerd-ready) cmd=$(lib_event_t "$l" command-start)
    ! lib_lt "$cmd" "$ready" || fail "mvn started (+${cmd}s) before dockerd answered (+${ready}s)"
    NOTE="dockerd answered at +${ready}s, mvn started at +${cmd}s; 5/5 tests in \
$(sed -nE 's/^\[INFO\] Total time: *//p' "$l")"
}

X3() { build "$JENKINS_IMAGE" "$DIND_IMAGE" "$EX/jenkins-agent"; }
X4() {
    ran version 0 --rm --privileged "$JENKINS_IMAGE" \
        docker version -f 'client {{.Client.Version}} server {{.Server.Version}}'
    holds "$D/version.log" '^client .* server [0-9]'
    ev "$D/version.log" exit code=0
    NOTE=$(grep -m1 '^client ' "$D/version.log")
}
X5() {
    ran user 0 --rm --privileged "${INNER_MOUNT[@]}" "$JENKINS_IMAGE" setpriv --reuid=jenkins \
        --regid=jenkins --init-groups -- sh -c "id && $LOAD && docker run --rm $INNER_IMAGE echo hi"
    holds "$D/user.log" '^uid=1000(jenkins).*(docker)'
    has "$D/user.log" hi
}
X6() {
    ran no-jar 1 --rm --privileged "$JENKINS_IMAGE"
    holds "$D/no-jar.log" '^jenkins-agent: no agent.jar at /usr/share/jenkins/agent.jar'
    cmd_is "$D/no-jar.log" /usr/local/bin/jenkins-agent
    ev "$D/no-jar.log" dockerd-exit clean=true
}
# agent_jar: the stand-in agent.jar (docs/TESTING.md) where a controller serves it (FAKE_CTL)
agent_jar() {
    [ -s "$FAKE_CTL/jnlpJars/agent.jar" ] && return 0
    mkdir -p "$FAKE_CTL/jnlpJars" && chmod -R 0755 "$FAKE_CTL" || fail "mkdir $FAKE_CTL failed"
    ran javac 0 --rm --entrypoint sh -v "$PWD/$EX/jenkins-agent/test:/src:ro" \
        -v "$FAKE_CTL/jnlpJars:/out" "$MAVEN_IMAGE" -c 'javac -d /tmp/classes /src/FakeAgent.java &&
            jar --create --file /out/agent.jar --main-class FakeAgent -C /tmp/classes . &&
            chmod 0644 /out/agent.jar'
}
# agent_ran LOG SECRET NAME JVM: the stand-in's lines (X7), JVM a regex
agent_ran() {
    local w=/home/jenkins/agent
    holds "$1" "^fake-agent: user=jenkins cwd=$w\$"
    holds "$1" "^fake-agent: args=-url file:///controller/ -secret $2 -name $3 -workDir $w\$"
    holds "$1" "^fake-agent: jvm=.*$4"
    holds "$1" 'answered: HTTP/1.[01] 200 OK / OK$'
}
X7() {
    # As Jenkins' kubernetes plugin starts the jnlp container: no args, its variables set
    agent_jar
    ran launcher 3 --rm --privileged -v "$FAKE_CTL:/controller:ro" -e FAKE_AGENT_EXIT=3 \
        -e JENKINS_URL=file:///controller/ -e JENKINS_SECRET=s3cr3t -e JENKINS_AGENT_NAME=dind-1 \
        -e JENKINS_NAME=dind-1 -e JAVA_OPTS='-Xmx64m -Dexample=1' "$JENKINS_IMAGE"
    holds "$D/launcher.log" \
        '^jenkins-agent: fetching agent.jar from file:///controller/jnlpJars/agent.jar'
    agent_ran "$D/launcher.log" s3cr3t dind-1 '-Xmx64m -Dexample=1'
    ev "$D/launcher.log" exit code=3
}
X8() {
    agent_jar
    start_c agent --privileged -v "$FAKE_CTL:/controller:ro" -e JENKINS_URL=file:///controller/ \
        -e JENKINS_SECRET=s -e JENKINS_AGENT_NAME=stop-1 -e FAKE_AGENT_SLEEP=600 "$JENKINS_IMAGE"
    must "$C" "the agent never connected" wait_log "$C" 'fake-agent: connected' 30
    stop_c "$C" "$D/stop.log" -t 10
    holds "$D/stop.log" '^fake-agent: stopping (signal)'
    stopped "$D/stop.log" 143 10
    NOTE="exit 143 in $STOP s"
}

X9() {
    cp -r "$EX/jenkins-preload" "$D/ctx" && gzip -c "$INNER_TAR" >"$D/ctx/preload/inner.tar.gz" ||
        fail "the build context failed"
    build "$PRELOAD_IMAGE" "$JENKINS_IMAGE" "$D/ctx"
}
X10() {
    local vol run
    vol=$(volume preload) || fail "docker volume create failed"
    run=(--rm --privileged -v "$vol:/var/lib/docker" "$PRELOAD_IMAGE" setpriv --reuid=jenkins
        --regid=jenkins --init-groups -- docker run --rm "$INNER_IMAGE" echo hello-from-preloaded)
    ran first 0 "${run[@]}"
    has "$D/first.log" hello-from-preloaded
    # preload/.keep skipped
    evs "$D/first.log" 'preload-loaded file=/preload/inner.tar.gz' \
        'preload-done loaded=1 skipped=1 failed=0'
    before "$D/first.log" preload-done command-start
    ran second 0 "${run[@]}"
    evs "$D/second.log" 'preload-skipped file=/preload/inner.tar.gz' \
        'preload-done loaded=0 skipped=2 failed=0'
    NOTE="loaded in $(lib_event_get "$D/first.log" preload-done secs) s, skipped on the volume's \
next start ($(lib_event_get "$D/second.log" preload-done secs) s)"
}

venv() { # VENV: kubernetes-validate (with PyYAML) and yamllint from PyPI, once
    [ -x "$VENV/bin/kubernetes-validate" ] && [ -x "$VENV/bin/yamllint" ] && return 0
    rm -rf "$VENV" && /usr/bin/python3 -m venv "$VENV" && "$VENV/bin/pip" install -q \
        --disable-pip-version-check kubernetes-validate yamllint >"$D/venv.log" 2>&1 ||
        fail "the venv $VENV failed"
}
# k8s_py validate VERSIONS FILES... | semantics FILES... | spec FILE CONTAINER | probe FILE
# CONTAINER CID PROBE...: the venv's python
k8s_py() { venv && "$VENV/bin/python" - "$@" <<'PY'
import shlex, subprocess, sys, time, yaml
PROBES, LAUNCHER = ("startup", "readiness", "liveness"), "/usr/local/bin/jenkins-agent"
def pods(path): return [d for d in yaml.safe_load_all(open(path)) if d]
def containers(pod): return pod["spec"].get("initContainers", []) + pod["spec"]["containers"]
def grace(pod): return pod["spec"].get("terminationGracePeriodSeconds", 30)
def container(path, name): return next(c for c in containers(pods(path)[0]) if c["name"] == name)
def mounts(pod, c):   # {mountPath: its volume}
    vols = {v["name"]: v for v in pod["spec"].get("volumes", [])}
    return {m["mountPath"]: vols.get(m["name"], {}) for m in c.get("volumeMounts", [])}
def exec_probe(c, k):   # probe K's command ([]: none), timeout, period, failure threshold
    p = c.get(k + "Probe") or {}
    return ((p.get("exec") or {}).get("command") or [], p.get("timeoutSeconds", 1),
            p.get("periodSeconds", 10), p.get("failureThreshold", 3))
def health_timeout(cmd):   # dind-init health [--timeout DUR]: default 3 s
    v = cmd[cmd.index("--timeout") + 1] if "--timeout" in cmd else "3"
    return float(v[:-2]) / 1000 if v.endswith("ms") else float(v.rstrip("s"))

def validate(versions, *paths):
    import kubernetes_validate
    bad = 0
    for path in paths:
        for d in pods(path):
            if "kind" not in d and "spec" in (d.get("template") or {}):   # helm values' template
                d = {"apiVersion": "v1", "kind": "Pod", "spec": d["template"]["spec"]}
            d["metadata"] = {"name": "pod-template", **(d.get("metadata") or {})}   # Jenkins': none
            for v in versions.split(","):
                try:
                    kubernetes_validate.validate(d, v, strict=True)
                except Exception as e:
                    bad += 1
                    print(f"ERROR {path}: {d['kind']}/{d['metadata']['name']}, Kubernetes {v}: {e}")
    return bad

def semantics(*paths):   # what the manifests promise about DinD containers, beyond the schema
    errs = []
    for path in paths:
        for pod in pods(path):
            g = grace(pod)
            for c in (c for c in containers(pod) if "dind-init/" in c.get("image", "")):
                data, where = mounts(pod, c).get("/var/lib/docker", {}), f"{path}: {c['name']}: "
                errs += [where + e for e, wrong in (
                    ("not privileged", not (c.get("securityContext") or {}).get("privileged")),
                    ("no emptyDir/PVC volume at /var/lib/docker",
                     not {"emptyDir", "persistentVolumeClaim"} & data.keys()),
                    ("`command` replaces dind-init as the ENTRYPOINT", c.get("command")),
                    ("args replace the launcher CMD",
                     c["name"] == "jnlp" and (c.get("args") or [LAUNCHER])[0] != LAUNCHER),
                    (f"terminationGracePeriodSeconds {g} < 10 (dind-init stops dockerd in 8 s)",
                     g < 10)) if wrong]
                for k in PROBES:
                    cmd, t = exec_probe(c, k)[:2]
                    if c.get(k + "Probe") and cmd[:2] != ["dind-init", "health"]:
                        errs.append(f"{where}{k}Probe is not an exec of `dind-init health`")
                    elif cmd and t <= health_timeout(cmd):
                        errs.append(f"{where}{k}Probe.timeoutSeconds {t} <= its --timeout")
    print("".join(f"ERROR {e}\n" for e in errs), end="")
    return len(errs)

def spec(path, name):   # shell arrays for a `docker run` of container NAME of the pod in PATH
    pod, c = pods(path)[0], container(path, name)
    cmd = c.get("command", [])
    out = {"ENV_ARGS": [a for e in c.get("env", [])
                        for a in ("-e", f"{e['name']}={e.get('value', '')}")],
           # an emptyDir: an anonymous volume (empty, on disk, per container)
           "VOL_ARGS": [a for p, v in mounts(pod, c).items() if "emptyDir" in v for a in ("-v", p)],
           "ENTRY": ["--entrypoint", cmd[0]] if cmd else [], "CMD": cmd[1:] + c.get("args", []),
           "GRACE": [str(grace(pod))]}
    for k, v in out.items():
        print(f"{k}=({shlex.join(v)})")

def probe(path, name, cid, *which):   # as the kubelet: failureThreshold tries, periodSeconds apart
    for k in which:
        cmd, t, period, n = exec_probe(container(path, name), k)
        if not cmd:
            continue
        for i in range(1, n + 1):
            try:
                if subprocess.run(["docker", "exec", cid, *cmd], timeout=t).returncode == 0:
                    print(f"{k} probe ({' '.join(cmd)}) succeeded on try {i}")
                    break
            except subprocess.TimeoutExpired:
                pass
            time.sleep(period)
        else:
            print(f"{k} probe ({' '.join(cmd)}) failed {n} times")
            return 1

FUNCTIONS = {f.__name__: f for f in (validate, semantics, spec, probe)}
sys.exit(bool(FUNCTIONS[sys.argv[1]](*sys.argv[2:])))   # 1: a count above 0
PY
}
py_check() { # FILE K8S_PY-ARGS...: k8s_py's output in D/FILE, or fail with its first ERROR
    k8s_py "${@:2}" >"$D/$1" 2>&1 || fail "$(grep -m1 ERROR "$D/$1" || tail -n 1 "$D/$1")"
}

X11() {
    venv
    "$VENV/bin/yamllint" -s -f parsable -d '{extends: default, rules: {line-length: {max: 120}}}' \
        k8s/ >"$D/yamllint.out" 2>&1 || fail "yamllint: $(head -n 1 "$D/yamllint.out")"
}
X12() {
    py_check validate.out validate "$K8S_VERSIONS" k8s/*.yaml k8s/helm/*.yaml
    NOTE="Kubernetes ${K8S_VERSIONS/,/ }"
}
X13() {
    py_check semantics.out semantics k8s/*.yaml
}
# k8s_start FILE CONTAINER IMAGE [DOCKER-RUN-ARGS...]: the container (k8s_py spec: ENV_ARGS, ...)
# started with IMAGE, the local build of its image, --privileged (X13 checks the manifest): C
k8s_start() {
    local specs
    specs=$(k8s_py spec "$1" "$2") || fail "$1: no container $2"
    eval "$specs"
    start_c "$2" --privileged "${ENV_ARGS[@]}" "${VOL_ARGS[@]}" "${ENTRY[@]}" "${@:4}" "$3" \
        "${CMD[@]}"
}
# inner_run WORD EXEC-ARGS...: `docker exec EXEC-ARGS` waits for dind-init health, then loads and
# runs the inner image, which prints WORD
inner_run() {
    DK_TIMEOUT=120 dk exec "${@:2}" sh -c "timeout 60 sh -c 'until dind-init health; do sleep 1; \
done' && $LOAD && docker run --rm $INNER_IMAGE echo $1" >"$D/$1.out" 2>&1 ||
        fail "docker exec: $(tail -n 1 "$D/$1.out")"
    has "$D/$1.out" "$1"
}
# k8s_delete: `kubectl delete pod` (SIGTERM, SIGKILL after the grace): exit 0, clean, in time
k8s_delete() {
    stop_c "$C" "$D/stop.log" -t "${GRACE[0]}"
    stopped "$D/stop.log" 0 "${GRACE[0]}"
}

X14() {
    k8s_start k8s/dind-pod.yaml dind "$DIND_IMAGE" "${INNER_MOUNT[@]}"
    py_check probes.out probe k8s/dind-pod.yaml dind "$C" startup readiness liveness
    inner_run hello-from-the-pod "$C"   # kubectl exec dind -- docker run --rm ...
    k8s_delete
    NOTE="delete (SIGTERM) -> exit 0 in $STOP s (grace ${GRACE[0]} s)"
}
X15() {
    local rc
    # The kubernetes plugin adds its variables and its workspace volume to the jnlp container.
    agent_jar
    k8s_start k8s/jenkins-agent-pod.yaml jnlp "$JENKINS_IMAGE" -e JENKINS_URL=file:///controller/ \
        -e JENKINS_SECRET=pod-secret -e JENKINS_AGENT_NAME=dind-pod-1 -e JENKINS_NAME=dind-pod-1 \
        -e JENKINS_AGENT_WORKDIR=/home/jenkins/agent -v /home/jenkins/agent \
        -v "$FAKE_CTL:/controller:ro"
    rc=$(DK_TIMEOUT=120 dk wait "$C")
    logs "$C" "$D/jnlp.log"
    is "$rc" 0 "jnlp: exit status"
    agent_ran "$D/jnlp.log" pod-secret dind-pod-1 '-XX:MaxRAMPercentage=25'
    holds "$D/jnlp.log" 'TESTCONTAINERS_HOST_OVERRIDE=localhost$'
}
X16() {
    local f=k8s/jenkins-dind-sidecar-pod.yaml
    k8s_start "$f" dind "$DIND_IMAGE" -v /home/jenkins/agent "${INNER_MOUNT[@]}"
    # The Jenkinsfile's container('dind') steps (its wait step covers the start-up)
    inner_run hello-from-a-step -w /home/jenkins/agent "$C"
    py_check probes.out probe "$f" dind "$C" readiness
    # The agent: the DinD image standing in for jenkins/inbound-agent
    eval "$(k8s_py spec "$f" jnlp)"
    printf '%s\n' "${ENV_ARGS[@]}" >"$D/jnlp.env"
    has "$D/jnlp.env" DOCKER_HOST=tcp://localhost:2376 DOCKER_TLS_VERIFY=1 \
        DOCKER_CERT_PATH=/certs/client
    ran agent 0 --rm --network "container:$C" --volumes-from "$C:ro" --user 1000:1000 \
        -e HOME=/tmp "${ENV_ARGS[@]}" --entrypoint sh "$DIND_IMAGE" -c "docker version -f \
'server {{.Server.Version}}' && docker run --rm $INNER_IMAGE echo hello-from-the-agent"
    has "$D/agent.log" hello-from-the-agent
    k8s_delete
    NOTE="the agent: $(grep -m1 '^server ' "$D/agent.log"); delete -> exit 0 in $STOP s"
}

scenario_main
