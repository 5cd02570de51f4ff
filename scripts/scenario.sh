# shellcheck shell=bash
# shellcheck disable=SC2154,SC2034  # ALL, NAME, ...: set by the caller; STOP, CODE, ...: for it
# The e2e*.sh scripts' framework: LIB_TAG=TAG, `. scenario.sh`, scenario_init INSTANCE PFX, `sc ID
# NAME` each (its row in docs/TESTING.md), scenario_args "$@", scenario_main; optional SCENARIO_FN
# (id N runs its function ${SCENARIO_FN}N), SETUP_DEPS, SETUP_MORE (a set-up step), FAIL_TAIL,
# HOST_TAIL. Each scenario runs in a subshell in WORK/ID-NAME (D): its row says NOTE if it
# returns 0, else `fail MSG`'s WHY MSG.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# scenario_init INSTANCE PFX: the host dockerd instance; WORK (target/LIB_TAG[-SUITE]), RUNID,
# LABEL (dind-init-TAG=RUNID, on all it creates) and PFX (PFX-RUNID, of their names)
scenario_init() {
    INSTANCE=$1 WORK=$DIND_REPO/target/$LIB_TAG$DIND_SUITE_TAG RUNID=$$ PFX=$2-$$
    LABEL=dind-init-${LIB_TAG#e2e-}=$$
}
SELECTED=() D='' NOTE='' ALL=()
declare -A NAME
# sc ID NAME: the next scenario; what it checks is its row in docs/TESTING.md (scenario_list)
sc() { ALL+=("$1"); NAME[$1]=$2; }
INNER_MOUNT=(-v "$INNER_TAR:/images/inner.tar:ro")
TLS_JOB=(-e DOCKER_TLS_VERIFY=1 -e DOCKER_CERT_PATH=/certs/client)   # a TLS client's environment
LOAD='docker load -q -i /images/inner.tar >/dev/null'

# scenario_args ARGS...: --help, --list, ids (any case) or names -> SELECTED (default ALL); else
# exit 2
scenario_args() {
    local a n found
    SC_IDW=2 SC_NAMEW=0
    for n in "${ALL[@]}"; do
        ((${#n} > SC_IDW)) && SC_IDW=${#n}
        ((${#NAME[$n]} > SC_NAMEW)) && SC_NAMEW=${#NAME[$n]}
    done
    for a in "$@"; do
        case "$a" in
            -h|--help) lib_usage; exit 0 ;;
            --list) scenario_list; exit ;;
        esac
        found=
        for n in "${ALL[@]}"; do
            if [ "${a^^}" = "$n" ] || [ "$a" = "${NAME[$n]}" ]; then
                SELECTED+=("$n") found=1
            fi
        done
        [ -n "$found" ] || { echo "${0##*/}: unknown scenario '$a' (see --list)" >&2; exit 2; }
    done
    [ ${#SELECTED[@]} -gt 0 ] || SELECTED=("${ALL[@]}")
}

# scenario_list: each scenario's id, name and row of the table in docs/TESTING.md's section on
# this script ("what: checked", without backticks); exit 1 when a scenario has no row or a row
# no scenario
scenario_list() {
    local n desc
    declare -A DESC
    while IFS=$'\t' read -r n desc; do DESC[$n]=$desc; done < <(awk -F ' [|] ' \
        -v s="(\`scripts/${0##*/}\`)" '/^## / { on = index($0, s) > 0 } !/^[|]/ { body = 0 }
        on && /^[|]/ && body {
            sub(/^[|] /, ""); sub(/ [|]$/, ""); gsub(/`/, ""); print $1 "\t" $2 ": " $3 }
        /^[|]-/ { body = 1 }' \
        "$DIND_REPO/docs/TESTING.md")
    for n in "${ALL[@]}"; do
        [ -n "${DESC[$n]:-}" ] || { echo "${0##*/}: $n has no row in docs/TESTING.md" >&2; exit 1; }
        printf '%-*s  %-*s  %s\n' "$SC_IDW" "$n" "$SC_NAMEW" "${NAME[$n]}" "${DESC[$n]}"
        unset "DESC[$n]"
    done
    for n in "${!DESC[@]}"; do echo "${0##*/}: docs/TESTING.md has a row $n, no scenario" >&2; done
    [ ${#DESC[@]} -eq 0 ]
}

# result STATUS ID SECONDS [NOTE]: lib_result with the id and name in aligned columns
result() {
    lib_result "$1" "$(printf '%-*s %-*s' "$SC_IDW" "$2" "$SC_NAMEW" "${NAME[$2]}")" "$3" "${4:-}"
}

excerpt() { echo "    --- $1"; cut -c1-300 | sed 's/^/    | /'; }   # TITLE: stdin, indented
# show_failure DIR: each captured file's dind-init lines and tail, the host dockerd's log tail
show_failure() {
    local f n=${FAIL_TAIL:-30}
    for f in "$1"/*; do
        [ -f "$f" ] && [ -s "$f" ] || continue
        if grep -q '^dind-init: ' "$f"; then
            grep '^dind-init: ' "$f" | tail -n 30 | excerpt "${f##*/}: dind-init's lines (last 30)"
        fi
        tail -n "$n" "$f" | excerpt "${f##*/} (last $n lines)"
    done
    n=${HOST_TAIL:-15}
    lib_host_log_tail "$n" | excerpt "host dockerd log ($DIND_HOST_LOG, last $n lines)"
}

fail() { printf '%s' "${WHY:-}$*" >"$D/.fail"; exit 1; }
# must C MSG CMD...: CMD succeeds, or fail MSG (C's logs in D/container.log)
must() { "${@:3}" || { logs "$1" "$D/container.log"; fail "$2"; }; }
# is VALUE WANT WHAT / lt SECONDS LIMIT WHAT / has FILE LINE... / holds FILE RE [MSG] / lacks
is() { [ "$1" = "$2" ] || fail "$3: '$1', expected '$2'"; }
lt() { lib_lt "$1" "$2" || fail "$3 took $1 s (limit $2 s)"; }
has() {
    local l
    for l in "${@:2}"; do
        grep -qxF -- "$l" "$1" || fail "${1##*/}: no line '$l': $(tr '\n' '|' <"$1" | cut -c1-99)"
    done
}
holds() { grep -q -- "$2" "$1" || fail "${3:-${1##*/} lacks '$2'}"; }
lacks() { ! grep -q -- "$2" "$1" || fail "${3:-${1##*/} has '$2'}"; }
# ev FILE EVENT [K=V...]: FILE has such a dind-init event; no_ev: none; evs FILE 'EVENT K=V'...
ev() { lib_event_has "$@" || fail "${1##*/}: no event {${*:2}}"; }
no_ev() {
    lib_event_none "$@" || fail "${1##*/}: event {${*:2}}: $(lib_event_msg "$@" | cut -c1-120)"
}
started() { lib_event_msg "$1" dockerd-start; }   # FILE: dockerd's command line (its first start)
# before FILE A B: event A came before B
before() { lib_event_before "$@" || fail "${1##*/}: $2 not before $3"; }
# shellcheck disable=SC2086  # the event and its filter
each() { local e; for e in "${@:3}"; do "$1" "$2" $e; done; }   # ev|no_ev FILE 'EVENT K=V'...
evs() { each ev "$@"; }
# clean_stop FILE: dockerd exited by itself on its SIGTERM; no_sigkill FILE: nothing SIGKILLed
clean_stop() {
    ev "$1" dockerd-exit clean=true killed=false && no_ev "$1" dockerd-exit killed=true
}
no_sigkill() {
    local WHY="${WHY:-}SIGKILL needed: "
    each no_ev "$1" "dockerd-exit killed=true" "containerd-exit killed=true" command-kill \
        inner-kill leftover-kill "daemon-died status=137"
}

# dind_sh NAME WANT SCRIPT [DOCKER-RUN-ARGS...]: run_rc of a privileged --rm DIND_IMAGE (or
# IMAGE) whose sh runs SCRIPT after loading inner.tar
dind_sh() {
    run_rc "$1" "$2" --rm --privileged "${@:4}" "${INNER_MOUNT[@]}" "${IMAGE:-$DIND_IMAGE}" \
        sh -c "$LOAD && $3"
}
# storage_check NOVOLUME-IMAGE: e2e 11 and field H6 (docs/TESTING.md), the WARN in WARN
storage_check() {
    local v=$D/vol.out ovl=$D/overlay.out tmp="awk '\$5 == \"/tmp\"'" check
    check="docker run --rm $INNER_IMAGE true && docker info -f 'driver={{.Driver}}' && \
echo \"tmp-mounts=\$($tmp /proc/self/mountinfo | wc -l)\" && \
echo \"tmp-fs=\$(stat -f -c %T /tmp)\" && echo \"tmp-in-pid1=\$($tmp /proc/1/mountinfo | wc -l)\""
    dind_sh vol 0 "$check"
    has "$v" driver=overlay2 tmp-mounts=0 tmp-in-pid1=0
    lacks "$v" '^tmp-fs=tmpfs' "volume: /tmp is a tmpfs"
    ! grep -qi vfs "$D/vol.err" || fail "volume: a vfs warning"
    novolume_image "$1"
    IMAGE=$1 dind_sh overlay 0 "$check" --tmpfs /tmp:rw,exec,size=65536k
    has "$ovl" driver=vfs tmp-mounts=1 tmp-fs=tmpfs
    WARN=$(grep '^dind-init: .* WARN ' "$D/overlay.err" | grep overlayfs | grep vfs | grep volume |
        grep -- '-v dind-data:/var/lib/docker' | head -n 1)
    [ -n "$WARN" ] || fail "overlayfs: no dind-init WARN naming vfs and the fix (a volume)"
}
# job NAME SCRIPT DOCKER-RUN-ARGS...: run_c of a job (DIND_IMAGE's sh, inner.tar mounted): SCRIPT
# once `docker version` answers (at most 60 s; it prints "waited MS")
job() {
    run_c "$1" --rm "${@:3}" "${INNER_MOUNT[@]}" --entrypoint sh "$DIND_IMAGE" -c 't0=$(date +%s%N)
i=0; until docker version >/dev/null 2>&1; do i=$((i+1)); if [ $i -gt 240 ]; then
echo "daemon never answered:"; docker version 2>&1 | tail -n 3; exit 9; fi; sleep 0.25; done
echo "waited $(( ($(date +%s%N) - t0) / 1000000 ))"; '"$2"
}
# job_ok NAME WHAT LINE...: NAME exited 0 and printed each LINE (else fail, WHAT the prefix)
job_ok() { check_rc "$1" 0 && WHY="$2: " has "$D/$1.out" "${@:3}"; }
# inner_job NAME SCRIPT DOCKER-RUN-ARGS...: a job loads inner.tar, runs the inner image's `echo
# NAME-ok`, then SCRIPT (if any); it exited 0 and printed NAME-ok (job_ok)
inner_job() {
    job "$1" "$LOAD && docker run --rm $INNER_IMAGE echo $1-ok${2:+ && $2}" "${@:3}"
    job_ok "$1" "$1" "$1-ok"
}
# service_net [plain]: a network NET, a service's arguments on it (SERVED: alias docker) and a
# job's (CLIENT): TLS (/certs/client on a volume, read-only for the job; tcp://docker:2376) or
# plain (DOCKER_TLS_CERTDIR="", tcp://docker:2375)
service_net() {
    local certs
    NET=$(network ci) || fail "network create failed"
    SERVED=(--network "$NET" --network-alias docker) CLIENT=(--network "$NET")
    if [ "${1:-}" = plain ]; then
        SERVED+=(-e DOCKER_TLS_CERTDIR=) CLIENT+=(-e DOCKER_HOST=tcp://docker:2375)
        return
    fi
    certs=$(volume certs) || fail "volume create failed"
    SERVED+=(-v "$certs:/certs/client")
    CLIENT+=(-v "$certs:/certs/client:ro" -e DOCKER_HOST=tcp://docker:2376 "${TLS_JOB[@]}")
}
answers() { dk exec "$1" "${@:2}" >/dev/null 2>&1; }   # C CMD...: exec succeeds
# stopped LOG CODE LIMIT: after stop_c: exit code CODE, the stop under LIMIT s, dockerd clean
stopped() { is "$CODE" "$2" "exit code"; lt "$STOP" "$3" "docker stop"; clean_stop "$1"; }
# run_c NAME DOCKER-RUN-ARGS...: docker run (labelled, named PFX-NAME): D/NAME.out, D/NAME.err,
# status RC and D/NAME.rc, wall time DUR; run_rc NAME WANT ARGS...: run_c, then check_rc NAME WANT
run_c() {
    local n=$1 t0
    shift
    t0=$(lib_now)
    dk run --label "$LABEL" --name "$PFX-$n" "$@" >"$D/$n.out" 2>"$D/$n.err" </dev/null
    RC=$? DUR=$(lib_since "$t0" 2)
    echo "$RC" >"$D/$n.rc"
}
run_rc() { run_c "$1" "${@:3}"; check_rc "$1" "$2"; }
# start_c NAME DOCKER-RUN-ARGS...: docker run -d, labelled, named PFX-NAME; sets C
start_c() {
    C=$PFX-$1
    dk run -d --label "$LABEL" --name "$C" "${@:2}" >/dev/null 2>"$D/$1.run.err" ||
        fail "docker run -d $1 failed: $(head -c 300 "$D/$1.run.err")"
}
# daemon_c NAME [DOCKER-RUN-ARGS...]: start_c of IMAGE (default DIND_IMAGE) with no command, its
# DATA_ROOT (default /var/lib/docker) on the volume PFX-NAME, inner.tar mounted, until `dind-init
# health` answers 0
daemon_c() {
    local vol
    vol=$(volume "$1") || fail "docker volume create failed"
    start_c "$1" --privileged -v "$vol:${DATA_ROOT:-/var/lib/docker}" "${INNER_MOUNT[@]}" "${@:2}" \
        "${IMAGE:-$DIND_IMAGE}"
    must "$C" "the daemon never answered" wait_healthy "$C" 120
}
# stop_c C LOG [DOCKER-STOP-ARGS...]: docker stop; STOP (seconds it took), CODE (exit code), LOG
stop_c() {
    local t0
    t0=$(lib_now)
    DK_TIMEOUT=60 dk stop "${@:3}" "$1" >/dev/null || fail "docker stop failed"
    STOP=$(lib_since "$t0" 2) CODE=$(dk inspect -f '{{.State.ExitCode}}' "$1")
    logs "$1" "$2" || fail "docker logs $1 failed"
}
# stop_start C: stop_c -t 10 of C into D/stop.log, docker start, wait_healthy
stop_start() {
    stop_c "$1" "$D/stop.log" -t 10
    dk start "$1" >/dev/null || fail "docker start failed"
    must "$1" "the daemon did not come back after docker start" wait_healthy "$1" 90
}
# exec_sh C FILE SCRIPT: docker exec C sh -c SCRIPT, output in D/FILE
exec_sh() { dk exec "$1" sh -c "$3" >"$D/$2" 2>&1 || fail "docker exec $2: $(tail -c 99 "$D/$2")"; }
# check_rc NAME WANT: run_c NAME's status; check_out NAME TEXT: its stdout is exactly TEXT
check_rc() { is "$(cat "$D/$1.rc" 2>/dev/null)" "$2" "$1: exit status"; }
check_out() { is "$(cat "$D/$1.out")" "$2" "$1: stdout"; }
logs() { DK_TIMEOUT=60 dk logs "$1" >"$2" 2>&1; }   # C FILE: stdout + stderr of C
# health_status C: its HEALTHCHECK's .State.Health.Status; has_status C STATUS
health_status() { dk inspect -f '{{with .State.Health}}{{.Status}}{{end}}' "$1" 2>/dev/null; }
has_status() { [ "$(health_status "$1")" = "$2" ]; }
is_up() { [ "$(dk inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ]; }   # C runs
# wait_for SECONDS CMD...: until CMD succeeds, every 0.25 s; wait_running C SECONDS CMD...: the
# same, but once C has stopped, one last try
wait_for() { lib_retry $(($1 * 4)) 0.25 "${@:2}"; }
wait_running() {
    local i
    for ((i = 0; i < $2 * 4; i++)); do
        "${@:3}" && return 0
        is_up "$1" || { "${@:3}"; return; }
        sleep 0.25
    done
    return 1
}
# wait_log C TEXT SECONDS: until `docker logs C` contain TEXT; wait_event C EVENT SECONDS [K=V...]:
# until dind-init logged that event; wait_healthy C SECONDS: until `dind-init health` in C answers 0
logs_match() { DK_TIMEOUT=30 dk logs "$1" 2>&1 | "${@:2}"; }   # C CMD...: CMD reads C's logs
wait_log() { wait_running "$1" "$3" logs_match "$1" grep -qF -- "$2"; }
wait_event() { wait_running "$1" "$3" logs_match "$1" lib_event has - "$2" "${@:4}"; }
wait_healthy() { wait_running "$1" "$2" health_ok "$1"; }
health_ok() { DK_TIMEOUT=10 dk exec "$1" dind-init health >/dev/null 2>&1; }   # C
# build_image IMAGE WHAT DOCKERFILE-LINE...: lib_build of that Dockerfile, its log in D/build.log;
# novolume_image IMAGE: dind-init on the base image without VOLUME /var/lib/docker (overlayfs)
build_image() {
    printf '%s\n' "${@:3}" | lib_build "$1" - >"$D/build.log" 2>&1 || fail "building $1 ($2) failed"
}
novolume_image() {
    build_image "$1" "no VOLUME /var/lib/docker" "FROM $SCRATCH_IMAGE AS bin" "FROM $BASE_IMAGE" \
        'COPY --from=bin /dind-init /usr/local/bin/dind-init' 'ENTRYPOINT ["dind-init"]'
}
# volume NAME / network NAME: a named volume / network on the host daemon, removed afterwards
volume() { dk volume create --label "$LABEL" "$PFX-$1" >/dev/null && echo "$PFX-$1"; }
network() { dk network create --label "$LABEL" "$PFX-$1" >/dev/null && echo "$PFX-$1"; }
# remove_labelled LABEL: the host daemon's containers, volumes, networks labelled LABEL (K=V or K)
remove_labelled() {
    local k ids
    for k in "container ls -a:container rm -fv" "volume ls:volume rm -f" "network ls:network rm"; do
        # shellcheck disable=SC2086  # the sub-commands and the ids
        ids=$(DK_TIMEOUT=30 dk ${k%%:*} -q --filter "label=$1" 2>/dev/null) && [ -n "$ids" ] &&
            DK_TIMEOUT=90 dk ${k#*:} $ids >/dev/null 2>&1
    done
    return 0
}

# At the end, on INT and TERM: all labelled with LABEL's key (also what outlives a scenario), the
# host dockerd. Traps run inside the interrupted command's redirections: they write to the script's
# own stdout/stderr, saved by scenario_main in SC_OUT and SC_ERR.
scenario_cleanup() { { remove_labelled "${LABEL%%=*}"; lib_host_stop; } 1>&"$SC_OUT" 2>&"$SC_ERR"; }
scenario_signal() { # STATUS NAME
    printf '\n%s\n' "$LIB_TAG: $2: stopping (containers and the host dockerd are cleaned up)" \
        "$LIB_TAG: $LIB_PASSED passed, $((LIB_FAILED + 1)) failed" 1>&"$SC_OUT"
    exit "$1"
}

scenario_setup() {
    local t0=$SECONDS
    lib_install_deps ${SETUP_DEPS[@]+"${SETUP_DEPS[@]}"} && lib_build_binary &&
        lib_host_start "$INSTANCE" && lib_base_image && lib_inner_image && lib_dind_image &&
        remove_labelled "${LABEL%%=*}" && ${SETUP_MORE:-true} || return 1
    echo "$LIB_TAG: set-up done in $((SECONDS - t0)) s (binary $DIND_BIN, $(stat -c %s "$DIND_BIN")\
 bytes; host dockerd $(dk version -f '{{.Server.Version}}'), image $DIND_IMAGE, inner $INNER_IMAGE)"
}

scenario_run() {
    local sc_id=$1 sc_t0
    D=$WORK/$sc_id-${NAME[$sc_id]}
    mkdir -p "$D"
    sc_t0=$(lib_now)
    if ("${SCENARIO_FN:-}$sc_id" && printf '%s' "$NOTE" >"$D/.note"); then
        result PASS "$sc_id" "$(lib_since "$sc_t0")" "$(cat "$D/.note")"
    else
        result FAIL "$sc_id" "$(lib_since "$sc_t0")" "$(cat "$D/.fail" 2>/dev/null || echo failed)"
        show_failure "$D"
    fi
    remove_labelled "$LABEL"
}

scenario_main() {
    local sc_id sc_all st=FAIL why="set-up failed"
    exec {SC_OUT}>&1 {SC_ERR}>&2
    echo "$LIB_TAG: scenarios: ${SELECTED[*]}"
    if lib_is_root; then
        trap scenario_cleanup EXIT
        trap 'scenario_signal 130 interrupted' INT
        trap 'scenario_signal 143 terminated' TERM
        sc_all=$(lib_now)
        if scenario_setup; then
            rm -rf "$WORK"
            for sc_id in "${SELECTED[@]}"; do scenario_run "$sc_id"; done
            scenario_cleanup   # the host dockerd stopped now: the summary is the last thing printed
            printf '\n%s\n' "$LIB_TAG: summary (logs in $WORK; $(lib_since "$sc_all") s in all)"
            printf '%s\n' "${LIB_RESULTS[@]}"
            lib_summary
            return
        fi
        echo "$LIB_TAG: set-up FAILED: every scenario fails"
        scenario_cleanup
    else
        st=SKIP why="not root: it starts its own dockerd, privileged containers (run it with sudo)"
        echo "$LIB_TAG: SKIPPING every scenario: $why"
    fi
    for sc_id in "${SELECTED[@]}"; do result "$st" "$sc_id" 0 "$why"; done
    lib_summary
}
