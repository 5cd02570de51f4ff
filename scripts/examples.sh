#!/usr/bin/env bash
# Builds the images of docker/examples/ on the local Debian DinD image and checks them; checks k8s/
# (yamllint, schema, semantics, each DinD container run as the kubelet would).
# Owns: the checks of docker/examples and the Kubernetes manifests.
#
#   sudo scripts/examples.sh           # PASS/FAIL per check, then `examples: N passed, M failed`
#
# Needs root; its own host dockerd (instance EXAMPLES_INSTANCE, default examples). Network: Debian's
# mirror (the builds), PyPI (yamllint, kubernetes-validate: a venv in DIND_CACHE). Nothing skipped.
set -uo pipefail
LIB_TAG=examples
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
lib_args '' "$@"

INSTANCE=${EXAMPLES_INSTANCE:-examples} EX=docker/examples VENV=$DIND_CACHE/examples-venv
MAVEN_IMAGE=dind-init-example/maven:test JENKINS_IMAGE=dind-init-example/jenkins-agent:test
PRELOAD_IMAGE=dind-init-example/jenkins-preload:test
K8S_VERSIONS=(1.29.0 1.37.0)   # an older cluster and the newest schema kubernetes-validate ships
WORK=$(mktemp -d /tmp/dind-examples.XXXXXX) && chmod 0755 "$WORK"
FAKE_CTL=$WORK/controller INNER=(-v "$INNER_TAR:/images/inner.tar:ro")
CONTAINERS=() SETUP_OK='' NOTE='' NCHECK=0   # CONTAINERS: the detached ones, removed on exit
cleanup() {
    local c
    for c in "${CONTAINERS[@]}"; do DK_TIMEOUT=30 dk rm -f -v "$c" >/dev/null 2>&1; done
    CONTAINERS=(); lib_host_stop; rm -rf "$WORK"
}
lib_traps cleanup

# check NAME FUNCTION [ARGS...]: its row with FUNCTION's NOTE; on failure its output's last lines
check() {
    local name=$1 t0 log=$WORK/check-$((++NCHECK)).log rc
    t0=$(lib_now) NOTE=''
    "${@:2}" >"$log" 2>&1
    rc=$?
    lib_verdict "$rc" "$name" "$t0" "$NOTE"
    [ $rc -eq 0 ] || { echo "----- last lines of its output:"; tail -n 40 "$log" | sed 's/^/    /'; echo "-----"; }
}
need_setup() { [ -n "$SETUP_OK" ] || { echo "set-up failed (see the first check)"; return 1; }; }
have() { # IMAGE [WHY]: set-up done and IMAGE built
    need_setup || return 1
    dk image inspect "$1" >/dev/null 2>&1 || { echo "no $1 (${2:-its build failed})"; return 1; }
}
# ran LOG STATUS DOCKER-ARGS...: docker (DK_TIMEOUT default 300), output to LOG and shown (less the
# inner dockerd's lines); it must end with STATUS
ran() {
    local log=$1 status=$2 rc
    DK_TIMEOUT=${DK_TIMEOUT:-300} dk "${@:3}" >"$log" 2>&1
    rc=$?
    grep -v '^time=' "$log"
    [ "$rc" = "$status" ] || { echo "exit status $rc, wanted $status"; return 1; }
}
# must_match LOG REGEX WHAT [REGEX WHAT]...: each grep -E REGEX in LOG, or say what is missing
must_match() {
    local log=$1
    while shift && [ $# -ge 2 ]; do
        grep -Eq -- "$1" "$log" || { echo "MISSING: $2 (no line matching /$1/)"; return 1; }
        shift
    done
}
must_event() { # LOG WHAT EVENT [K=V...]: dind-init logged EVENT (with these fields)
    lib_event_has "$1" "${@:3}" || { echo "MISSING: $2 (${*:3})"; return 1; }
}
must_cmd() { # LOG CMD: dind-init's command-start message ends with ": CMD"
    [[ $(lib_event_msg "$1" command-start) == *": $2" ]] && return
    echo "MISSING: the command $2"
    return 1
}
# stopped CID GRACE LOG REGEX: docker stop -t GRACE (SIGTERM, SIGKILL after GRACE): SECS, RC (its
# exit status), LOG (its logs; REGEX's lines shown)
stopped() {
    local t0
    t0=$(lib_now)
    DK_TIMEOUT=$(($2 + 30)) dk stop -t "$2" "$1" >/dev/null || return 1
    SECS=$(lib_since "$t0") RC=$(dk inspect -f '{{.State.ExitCode}}' "$1")
    dk logs "$1" >"$3" 2>&1
    grep -E "$4" "$3"
    echo "stopped in $SECS s, exit status $RC"
}

setup() {
    lib_is_root || { echo "needs root (it starts a dockerd and privileged containers)"; return 1; }
    lib_install_deps && lib_host_start "$INSTANCE" && lib_all_images || return 1
    [ -s "$INNER_TAR" ] || { echo "no $INNER_TAR"; return 1; }
    SETUP_OK=1 NOTE="host dockerd '$INSTANCE', $DIND_IMAGE, $INNER_IMAGE"
}
# build IMAGE BASE DIR [DOCKER-BUILD-ARGS...]: docker build --build-arg BASE=BASE; NOTE: its size
build() {
    need_setup || return 1
    echo "docker build -t $1 --build-arg BASE=$2 $3"
    DOCKER_BUILDKIT=1 DK_TIMEOUT=900 dk build --pull=false --progress plain --build-arg "BASE=$2" \
        -t "$1" "${@:4}" "$3" || return 1
    NOTE="$(dk image inspect -f '{{.Size}}' "$1" | awk '{ printf "%d MB", $1 / 1e6 }')"
}

maven_test() {
    local log=$WORK/maven.log ready_ts cmd_ts
    have "$MAVEN_IMAGE" || return 1
    # The image's default (CMD mvn test); inner.tar for the test that runs a container via the API
    ran "$log" 0 run --rm --privileged "${INNER[@]}" "$MAVEN_IMAGE" || return 1
    must_match "$log" 'Tests run: 5, Failures: 0, Errors: 0, Skipped: 0$' "all 5 tests ran and passed" \
        'BUILD SUCCESS' "BUILD SUCCESS" '^GET /_ping on /var/run/docker.sock: 200 OK' "the test's GET /_ping" \
        'said: hello from an inner container' "the inner container's output" \
        '^DOCKER_HOST=unix:///var/run/docker.sock TESTCONTAINERS_HOST_OVERRIDE=localhost$' \
        "DOCKER_HOST and (DIND_TESTCONTAINERS=true) TESTCONTAINERS_HOST_OVERRIDE for mvn" &&
        must_cmd "$log" 'mvn test' || return 1
    # The order: dind-init starts mvn once dockerd answered /_ping (in the log, and by the clock)
    ready_ts=$(lib_event_t "$log" dockerd-ready) cmd_ts=$(lib_event_t "$log" command-start)
    if ! lib_event_before "$log" dockerd-ready command-start || lib_lt "$cmd_ts" "$ready_ts"; then
        echo "ORDER: mvn started (+${cmd_ts}s) before dockerd answered (+${ready_ts}s)"
        return 1
    fi
    NOTE="dockerd answered at +${ready_ts}s, mvn started at +${cmd_ts}s; 5/5 tests in \
$(sed -nE 's/^\[INFO\] Total time: *//p' "$log")"
}

# jenkins LOG STATUS TIMEOUT ARGS...: `docker run --rm --privileged ARGS` of the Jenkins image
jenkins() { have "$JENKINS_IMAGE" && DK_TIMEOUT=$3 ran "$1" "$2" run --rm --privileged "${@:4}"; }
jenkins_docker_version() {
    local log=$WORK/jv.log
    jenkins "$log" 0 120 "$JENKINS_IMAGE" \
        docker version -f 'client {{.Client.Version}} server {{.Server.Version}}' &&
        must_match "$log" '^client .* server [0-9]' "docker version's server part" &&
        must_event "$log" "dind-init's exit event with code 0" exit code=0 || return 1
    NOTE="$(grep -E -m1 '^client ' "$log"), via dind-init"
}
jenkins_user_docker() {
    local log=$WORK/ju.log
    jenkins "$log" 0 180 "${INNER[@]}" "$JENKINS_IMAGE" setpriv --reuid=jenkins --regid=jenkins \
        --init-groups -- sh -c 'id && docker load -q -i /images/inner.tar &&
            docker run --rm '"$INNER_IMAGE"' echo hello-from-inner' &&
        must_match "$log" '^uid=1000\(jenkins\).*\(docker\)' "user jenkins in group docker" \
            '^hello-from-inner$' "the inner container's output" || return 1
    NOTE="uid 1000 in group docker: docker load + docker run of an inner container"
}
jenkins_no_jar() {
    local log=$WORK/jn.log
    jenkins "$log" 1 120 "$JENKINS_IMAGE" &&
        must_match "$log" '^jenkins-agent: no agent.jar at /usr/share/jenkins/agent.jar' \
            "the launcher's message" &&
        must_cmd "$log" /usr/local/bin/jenkins-agent &&
        must_event "$log" "dockerd's clean stop" dockerd-exit clean=true || return 1
    NOTE="exit 1 with a message naming the ways to provide agent.jar; dockerd stopped cleanly"
}
# jenkins_jar: the Jenkins image, and a stand-in agent.jar (jenkins-agent/test/FakeAgent.java, the
# Maven image's JDK compiles it) where a controller serves it: FAKE_CTL/jnlpJars/agent.jar
jenkins_jar() {
    have "$JENKINS_IMAGE" || return 1
    [ -s "$FAKE_CTL/jnlpJars/agent.jar" ] && return 0
    have "$MAVEN_IMAGE" "its JDK compiles the stand-in agent.jar" || return 1
    mkdir -p "$FAKE_CTL/jnlpJars" && chmod -R 0755 "$FAKE_CTL"
    DK_TIMEOUT=120 dk run --rm --entrypoint sh -v "$PWD/$EX/jenkins-agent/test:/src:ro" \
        -v "$FAKE_CTL/jnlpJars:/out" "$MAVEN_IMAGE" -c 'javac -d /tmp/classes /src/FakeAgent.java &&
            jar --create --file /out/agent.jar --main-class FakeAgent -C /tmp/classes . &&
            chmod 0644 /out/agent.jar' ||
        { echo "compiling the stand-in agent.jar failed"; return 1; }
}
# agent_ran LOG SECRET NAME JVM: the stand-in ran as jenkins in its work dir with the launcher's
# options (file:///controller/, SECRET, NAME), JVM (a regex) on java's command line; dockerd answers
agent_ran() {
    must_match "$1" '^fake-agent: user=jenkins cwd=/home/jenkins/agent$' "agent.jar run as jenkins in the work dir" \
        "^fake-agent: args=-url file:///controller/ -secret $2 -name $3 -workDir /home/jenkins/agent\$" "agent.jar's options" \
        "^fake-agent: jvm=.*$4" "JAVA_OPTS on java's command line" \
        'answered: HTTP/1.[01] 200 OK / OK$' "the daemon answering the agent (as jenkins)"
}

jenkins_launcher() {
    local log=$WORK/jl.log
    # As Jenkins' kubernetes plugin starts the jnlp container: no args, its variables set. The
    # controller URL is a file:// one, so the launcher's download of agent.jar works offline.
    jenkins_jar && jenkins "$log" 3 120 -v "$FAKE_CTL:/controller:ro" \
        -e JENKINS_URL=file:///controller/ -e JENKINS_SECRET=s3cr3t -e JENKINS_AGENT_NAME=dind-1 \
        -e JENKINS_NAME=dind-1 -e JAVA_OPTS='-Xmx64m -Dexample=1' -e FAKE_AGENT_EXIT=3 \
        "$JENKINS_IMAGE" &&
        must_match "$log" \
            '^jenkins-agent: fetching agent.jar from file:///controller/jnlpJars/agent.jar' \
            "the download from \$JENKINS_URL/jnlpJars/agent.jar" &&
        agent_ran "$log" s3cr3t dind-1 '-Xmx64m -Dexample=1' &&
        must_event "$log" "dind-init exiting with the agent's status" exit code=3 || return 1
    NOTE="agent.jar from \$JENKINS_URL run as jenkins with its options; exit status 3 passed on"
}

connected() { dk logs "$1" >"$2" 2>&1; grep -q 'fake-agent: connected' "$2"; }   # CID LOG
jenkins_stop() {
    local log=$WORK/js.log cid
    jenkins_jar || return 1
    cid=$(dk run -d --privileged -v "$FAKE_CTL:/controller:ro" -e JENKINS_URL=file:///controller/ \
        -e JENKINS_SECRET=s -e JENKINS_AGENT_NAME=stop-1 -e FAKE_AGENT_SLEEP=600 "$JENKINS_IMAGE") || return 1
    CONTAINERS+=("$cid")
    lib_retry 300 0.1 connected "$cid" "$log"
    stopped "$cid" 10 "$log" '^(fake-agent|jenkins-agent|dind-init: .*(command|shutdown|exit))' &&
        must_match "$log" '^fake-agent: stopping \(signal\)' "the agent's JVM receiving SIGTERM" &&
        must_event "$log" "dockerd's clean stop" dockerd-exit clean=true || return 1
    [ "$RC" = 143 ] || { echo "exit status $RC, wanted 143 (the agent killed by SIGTERM)"; return 1; }
    lib_lt "$SECS" 10 || { echo "docker stop needed SIGKILL (took $SECS s)"; return 1; }
    NOTE="exit 143 in $SECS s"
}
# preload_build: the example built on the jenkins-agent image, its preload/ holding the inner
# image saved by the host daemon, gzip-compressed (as docs/CACHING.md says to make them)
preload_build() {
    local ctx=$WORK/jenkins-preload
    have "$JENKINS_IMAGE" && cp -r "$EX/jenkins-preload" "$ctx" &&
        gzip -c "$INNER_TAR" >"$ctx/preload/inner.tar.gz" &&
        build "$PRELOAD_IMAGE" "$JENKINS_IMAGE" "$ctx" || return 1
    NOTE+=", /preload/inner.tar.gz"
}
# preload_run: the agent's user runs the preloaded image with no docker load and no registry;
# on the same /var/lib/docker volume the next start skips it
preload_run() {
    local vol=dind-init-example-preload-$$ first=$WORK/pre1.log second=$WORK/pre2.log rc
    local run=(run --rm --privileged -v "$vol:/var/lib/docker" "$PRELOAD_IMAGE" setpriv --reuid=jenkins --regid=jenkins
        --init-groups -- docker run --rm "$INNER_IMAGE" echo hello-from-preloaded)
    have "$PRELOAD_IMAGE" && DK_TIMEOUT=30 dk volume create "$vol" >/dev/null || return 1
    DK_TIMEOUT=180 ran "$first" 0 "${run[@]}" &&
        must_match "$first" '^hello-from-preloaded$' "the preloaded image's output" &&
        must_event "$first" "the archive loaded" preload-loaded file=/preload/inner.tar.gz &&
        must_event "$first" "the preload's end (preload/.keep skipped)" preload-done loaded=1 skipped=1 failed=0 &&
        { lib_event_before "$first" preload-done command-start || { echo "ORDER: the command before the preload's end"; false; }; } &&
        DK_TIMEOUT=180 ran "$second" 0 "${run[@]}" &&
        must_event "$second" "the archive skipped on the volume" preload-skipped file=/preload/inner.tar.gz &&
        must_event "$second" "nothing loaded the second time" preload-done loaded=0 skipped=2 failed=0
    rc=$?
    DK_TIMEOUT=30 dk volume rm -f "$vol" >/dev/null 2>&1
    [ $rc = 0 ] || return 1
    NOTE="loaded in $(lib_event_get "$first" preload-done secs) s, skipped on the volume's next \
start ($(lib_event_get "$second" preload-done secs) s)"
}

venv() {
    [ -x "$VENV/bin/kubernetes-validate" ] && [ -x "$VENV/bin/yamllint" ] && return 0
    local py=python3
    [ -x /usr/bin/python3 ] && py=/usr/bin/python3
    "$py" -c 'import ensurepip, venv' 2>/dev/null || lib_install_deps python3-venv || return 1
    rm -rf "$VENV" && "$py" -m venv "$VENV" &&
        "$VENV/bin/pip" install -q --disable-pip-version-check kubernetes-validate yamllint
}

k8s_lint() {
    local files=(k8s/*.yaml)
    venv && "$VENV/bin/yamllint" --version &&
        "$VENV/bin/yamllint" -s -f parsable -d '{extends: default, rules: {line-length: {max: 120}}}' k8s/ || return 1
    NOTE="${#files[@]} files, yamllint default rules (line length 120), warnings are errors"
}
# k8s_py validate VERSIONS -- FILES | semantics FILES | spec FILE CONTAINER: the venv's python
# (PyYAML comes with kubernetes-validate)
k8s_py() { "$VENV/bin/python" - "$@" <<'PY'
import shlex, sys, yaml
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")
def docs(path): return [d for d in yaml.safe_load_all(open(path)) if d]
def containers(pod): return pod["spec"].get("initContainers", []) + pod["spec"]["containers"]
def validate(versions, paths):
    import kubernetes_validate
    bad = 0
    for path in paths:
        for d in map(dict, docs(path)):
            if "kind" not in d and "spec" in (d.get("template") or {}):   # helm values: a PodTemplateSpec
                d = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "helm-values-template"}, "spec": d["template"]["spec"]}
            d["metadata"] = {"name": "pod-template", **(d.get("metadata") or {})}   # a Jenkins pod template: no name
            for v in versions:
                what = f"{path}: {d['kind']}/{d['metadata']['name']} against Kubernetes {v}"
                try:
                    kubernetes_validate.validate(d, v, strict=True); print(f"ok    {what} (strict)")
                except Exception as e:
                    bad += 1; print(f"ERROR {what}: {e}")
    return bad
def health_timeout(cmd):   # dind-init health [--timeout DUR]: default 3 s
    v = cmd[cmd.index("--timeout") + 1] if "--timeout" in cmd else "3"
    return float(v[:-2]) / 1000 if v.endswith("ms") else float(v.rstrip("s"))
def semantics(paths):
    """What the manifests promise about DinD containers, beyond the schema."""
    errs = []
    for path in paths:
        for pod in docs(path):
            vols = {v["name"]: v for v in pod["spec"].get("volumes", [])}
            grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
            for c in (c for c in containers(pod) if "dind-init/" in c.get("image", "")):
                where, n = f"{path}: container {c['name']}", len(errs)
                v = vols.get({m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}.get("/var/lib/docker")) or {}
                errs += [f"{where}: not privileged"] * (not (c.get("securityContext") or {}).get("privileged"))
                errs += [f"{where}: no emptyDir/PVC volume at /var/lib/docker"] * ("emptyDir" not in v and "persistentVolumeClaim" not in v)
                errs += [f"{where}: `command` replaces dind-init as the ENTRYPOINT"] * bool(c.get("command"))
                errs += [f"{where}: args replace the launcher CMD"] * (c["name"] == "jnlp" and bool(c.get("args")) and c["args"][0] != "/usr/local/bin/jenkins-agent")
                errs += [f"{where}: terminationGracePeriodSeconds {grace} < 10 (dind-init stops dockerd within 8 s)"] * (grace < 10)
                for probe in (k for k in PROBES if c.get(k)):
                    cmd, t = (c[probe].get("exec") or {}).get("command") or [], c[probe].get("timeoutSeconds", 1)
                    if cmd[:2] != ["dind-init", "health"]:
                        errs.append(f"{where}: {probe} is not an exec of `dind-init health`")
                    elif t <= health_timeout(cmd):
                        errs.append(f"{where}: {probe}.timeoutSeconds {t} <= dind-init health --timeout {health_timeout(cmd)}")
                if len(errs) == n:
                    print(f"ok    {where}: privileged, /var/lib/docker on {'emptyDir' if 'emptyDir' in v else 'a volume'}, "
                          f"probes {[k for k in PROBES if k in c] or 'none'}, grace {grace} s")
    print("".join(f"ERROR {e}\n" for e in errs), end="")
    return len(errs)
def spec(path, name):
    """Shell arrays describing container NAME of the pod in PATH, for a `docker run`."""
    pod = docs(path)[0]
    vols = {v["name"]: v for v in pod["spec"].get("volumes", [])}
    c = next(c for c in containers(pod) if c["name"] == name)
    out = {"IMAGE": [c.get("image", "")], "PRIVILEGED": ["1" if (c.get("securityContext") or {}).get("privileged") else ""],
           "ENV_ARGS": [a for e in c.get("env", []) for a in ("-e", f"{e['name']}={e.get('value', '')}")],
           # an emptyDir: an anonymous volume (empty, on disk, per container)
           "VOL_ARGS": [a for m in c.get("volumeMounts", []) if "emptyDir" in vols[m["name"]] for a in ("-v", m["mountPath"])],
           "COMMAND": c.get("command", []), "ARGS": c.get("args", []),
           "GRACE": [str(pod["spec"].get("terminationGracePeriodSeconds", 30))]}
    for probe in PROBES:
        p, key = c.get(probe) or {}, probe[:-5].upper()
        out[key] = (p.get("exec") or {}).get("command", [])
        for k, field, default in (("TIMEOUT", "timeoutSeconds", 1), ("PERIOD", "periodSeconds", 10), ("FAILURES", "failureThreshold", 3)):
            out[f"{key}_{k}"] = [str(p.get(field, default))]
    print("".join(f"{k}=(" + " ".join(shlex.quote(x) for x in v) + ")\n" for k, v in out.items()), end="")
cmd, a = sys.argv[1], sys.argv[2:]
if cmd == "spec":
    spec(*a)
else:
    sys.exit(1 if (validate(a[:a.index("--")], a[a.index("--") + 1:]) if cmd == "validate" else semantics(a)) else 0)
PY
}

k8s_schema() {
    venv && "$VENV/bin/kubernetes-validate" --version &&
        k8s_py validate "${K8S_VERSIONS[@]}" -- k8s/*.yaml k8s/helm/*.yaml || return 1
    NOTE="Kubernetes ${K8S_VERSIONS[*]}, unknown fields rejected; helm values' template as a Pod"
}

k8s_semantics() {
    venv && k8s_py semantics k8s/*.yaml || return 1
    NOTE="no command override, probes = dind-init health with timeoutSeconds > its --timeout"
}
# probe CONTAINER NAME...: each k8s probe NAME (STARTUP/READINESS/LIVENESS, k8s_spec) as the
# kubelet runs it: up to failureThreshold tries, periodSeconds apart, each bounded by timeoutSeconds
probe() {
    local c=$1 key i
    for key in "${@:2}"; do
        local -n cmd=$key t=${key}_TIMEOUT p=${key}_PERIOD n=${key}_FAILURES
        [ ${#cmd[@]} -gt 0 ] || continue
        for ((i = 1; i <= n; i++)); do
            timeout "$t" "$DOCKER_CLI" exec "$c" "${cmd[@]}" && { echo "$key probe (${cmd[*]}) succeeded on try $i"; continue 2; }
            sleep "$p"
        done
        echo "$key probe (${cmd[*]}) failed $n times"
        return 1
    done
}
# k8s_start FILE CONTAINER IMAGE [DOCKER-RUN-ARGS...]: the container's spec (shell arrays IMAGE,
# ENV_ARGS, ...), started detached with IMAGE (the local build of the manifest's image); sets CID
# shellcheck disable=SC2153  # IMAGE, ARGS, ... are set by the eval
k8s_start() {
    local file=$1 name=$2 image=$3 specs
    shift 3
    venv && specs=$(k8s_py spec "$file" "$name") || return 1
    eval "$specs"   # IMAGE, ENV_ARGS, VOL_ARGS, COMMAND, ARGS, GRACE, STARTUP..., READINESS...
    echo "$file: container $name, manifest image ${IMAGE[0]} -> local $image"
    [ -n "${PRIVILEGED[0]}" ] || { echo "not privileged"; return 1; }
    local run=(run -d --privileged "${ENV_ARGS[@]}" "${VOL_ARGS[@]}" "$@"
        ${COMMAND[0]+--entrypoint "${COMMAND[0]}"} "$image" "${COMMAND[@]:1}" "${ARGS[@]}")
    echo "docker ${run[*]}"
    CID=$(dk "${run[@]}") || return 1
    CONTAINERS+=("$CID")
}
# inner_run WORD EXEC-ARGS...: `docker exec EXEC-ARGS` waits for dind-init health, then docker load
# and run of the inner image, which prints WORD
inner_run() {
    DK_TIMEOUT=120 dk exec "${@:2}" sh -c 'timeout 60 sh -c "until dind-init health; do sleep 1
        done" && docker load -q -i /images/inner.tar && docker run --rm '"$INNER_IMAGE echo $1" |
        tee "$WORK/$1" || return 1
    grep -qx -- "$1" "$WORK/$1" || { echo "no $1"; return 1; }
}
# k8s_delete: `kubectl delete pod` (SIGTERM, SIGKILL after the grace period): dind-init stopped
# dockerd cleanly and exited 0 within the grace period
k8s_delete() {
    stopped "$CID" "${GRACE[0]}" "$WORK/stop.log" '^dind-init: .*(shutdown|exit)' || return 1
    [ "$RC" = 0 ] || { echo "exit status $RC after SIGTERM, wanted 0"; return 1; }
    must_event "$WORK/stop.log" "a clean dockerd shutdown" dockerd-exit clean=true killed=false || return 1
    lib_lt "$SECS" "${GRACE[0]}" || { echo "took longer than the grace period"; return 1; }
}

k8s_dind_pod() {
    need_setup && k8s_start k8s/dind-pod.yaml dind "$DIND_IMAGE" "${INNER[@]}" &&
        probe "$CID" STARTUP READINESS LIVENESS || return 1
    # kubectl exec dind -- docker run --rm ...
    inner_run hello-from-the-pod "$CID" || return 1
    # shellcheck disable=SC2016  # expanded by the container's shell
    dk exec "$CID" sh -c 'echo "DIND_MTU=$DIND_MTU DIND_WAIT_TIMEOUT=$DIND_WAIT_TIMEOUT"'
    k8s_delete || return 1
    NOTE="delete (SIGTERM) -> exit 0 in $SECS s (grace ${GRACE[0]} s)"
}

k8s_jenkins_pod() {
    local rc
    # The kubernetes plugin adds its variables and its workspace volume to the jnlp container.
    jenkins_jar && k8s_start k8s/jenkins-agent-pod.yaml jnlp "$JENKINS_IMAGE" \
        -e JENKINS_URL=file:///controller/ -e JENKINS_SECRET=pod-secret -e JENKINS_AGENT_NAME=dind-pod-1 \
        -e JENKINS_NAME=dind-pod-1 -e JENKINS_AGENT_WORKDIR=/home/jenkins/agent -v /home/jenkins/agent \
        -v "$FAKE_CTL:/controller:ro" && rc=$(DK_TIMEOUT=120 dk wait "$CID") || return 1
    dk logs "$CID" >"$WORK/jpod.log" 2>&1
    grep -v '^time=' "$WORK/jpod.log"
    [ "$rc" = 0 ] || { echo "exit status $rc"; return 1; }
    agent_ran "$WORK/jpod.log" pod-secret dind-pod-1 '-XX:MaxRAMPercentage=25' || return 1
    must_match "$WORK/jpod.log" 'TESTCONTAINERS_HOST_OVERRIDE=localhost$' "DIND_TESTCONTAINERS=true's variable" || return 1
    NOTE="agent.jar as jenkins with the pod's JAVA_OPTS, the daemon up before it"
}

k8s_sidecar_pod() {
    local specs e
    need_setup && k8s_start k8s/jenkins-dind-sidecar-pod.yaml dind "$DIND_IMAGE" -v /home/jenkins/agent "${INNER[@]}" || return 1
    # The steps of container('dind') { ... } in the manifest's Jenkinsfile, run with exec in the
    # workspace, right after the container started (the wait step covers the start-up).
    inner_run hello-from-a-step -w /home/jenkins/agent "$CID" && probe "$CID" READINESS || return 1
    # The agent container (the dind image stands in for jenkins/inbound-agent) with the manifest's
    # jnlp env (tcp://localhost:2376, TLS), uid 1000, the pod's network, the shared /certs/client.
    specs=$(k8s_py spec k8s/jenkins-dind-sidecar-pod.yaml jnlp) || return 1
    eval "$specs"
    for e in DOCKER_HOST=tcp://localhost:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=/certs/client; do
        printf '%s\n' "${ENV_ARGS[@]}" | grep -qx "$e" || { echo "jnlp lacks env $e"; return 1; }; done
    DK_TIMEOUT=120 dk run --rm --network "container:$CID" --volumes-from "$CID:ro" --user 1000:1000 -e HOME=/tmp \
        "${ENV_ARGS[@]}" --entrypoint sh "$DIND_IMAGE" -c \
        'docker version -f "server {{.Server.Version}}" && docker run --rm '"$INNER_IMAGE"' echo hello-from-the-agent' \
        | tee "$WORK/agent.out" || return 1
    grep -qx 'hello-from-the-agent' "$WORK/agent.out" && k8s_delete || return 1
    NOTE="the agent: $(head -n 1 "$WORK/agent.out"); delete -> exit 0 in $SECS s"
}

t_all=$(lib_now)
echo "=== examples: docker/examples/ and k8s/ (host dockerd instance '$INSTANCE')"
check "set-up: host dockerd, $BASE_IMAGE, $DIND_IMAGE, $INNER_IMAGE (lib.sh)" setup
check "maven: build $MAVEN_IMAGE (maven + default-jdk-headless from Debian, FROM $DIND_IMAGE)" \
    build "$MAVEN_IMAGE" "$DIND_IMAGE" "$EX/maven" --network host   # RUN steps reach Debian's mirror (no bridge)
check "maven: docker run --privileged IMAGE (CMD mvn test): offline tests pass, daemon answered before mvn started" maven_test
check "jenkins-agent: build $JENKINS_IMAGE (default-jre-headless, user jenkins, launcher CMD)" \
    build "$JENKINS_IMAGE" "$DIND_IMAGE" "$EX/jenkins-agent" --network host
check "jenkins-agent: docker run --privileged IMAGE docker version" jenkins_docker_version
check "jenkins-agent: user jenkins uses the daemon (docker load, docker run)" jenkins_user_docker
check "jenkins-agent: default CMD without agent.jar fails clearly" jenkins_no_jar
check "jenkins-agent: launcher runs agent.jar (stand-in) as jenkins, exit status passed through" jenkins_launcher
check "jenkins-agent: docker stop reaches the agent, then dockerd stops cleanly" jenkins_stop
check "jenkins-preload: build $PRELOAD_IMAGE (FROM $JENKINS_IMAGE, an archive in preload/)" preload_build
check "jenkins-preload: the agent's user runs the preloaded image offline; the next start on the volume skips it" preload_run
check "k8s: yamllint" k8s_lint
check "k8s: schema (kubernetes-validate --strict)" k8s_schema
check "k8s: DinD containers: privileged, emptyDir, probes" k8s_semantics
check "k8s: dind-pod.yaml run as the kubelet would (probes, exec, delete)" k8s_dind_pod
check "k8s: jenkins-agent-pod.yaml jnlp container with the plugin's variables" k8s_jenkins_pod
check "k8s: jenkins-dind-sidecar-pod.yaml dind container, its steps and the agent over localhost:2376" k8s_sidecar_pod

cleanup   # before the summary, so that `examples: N passed, M failed` is the last line
echo
echo "=== examples summary ($(lib_since "$t_all") s)"
printf '%s\n' "${LIB_RESULTS[@]}"
lib_summary
