# shellcheck shell=bash
# shellcheck disable=SC2154  # ALL, NAME, DESC, INSTANCE, WORK, LABEL, PFX: set by the caller
# The scenario framework of the real-engine matrices (e2e.sh, e2e-field.sh). Source it after
# scripts/lib.sh; it defines functions and variables only (nothing runs at source time).
# Owns: the scenario framework (selection, set-up, per-scenario dirs, PASS/FAIL/SKIP, clean-up)
#   and the helpers every scenario uses (run_c, wait_log/wait_event, ev/no_ev, clean_stop,
#   no_sigkill).
#
# The caller sets, before scenario_args:
#   LIB_TAG          the tag of the output lines (`e2e`, `e2e-field`), as for lib.sh
#   ALL              the scenario ids, in run order
#   NAME, DESC       associative arrays id -> short name, id -> one-line description
#   SCENARIO_FN      prefix of the scenario functions: id N runs function ${SCENARIO_FN}N
# and, before scenario_main:
#   INSTANCE         the host dockerd instance (lib_host_start)
#   WORK             where each scenario's files go: WORK/ID-NAME (emptied at the start)
#   LABEL, PFX       label (KEY=RUNID) and name prefix of everything a scenario creates
#   SETUP_DEPS       extra host packages for lib_install_deps (optional)
#   FAIL_TAIL, HOST_TAIL   lines of each captured file / of the host dockerd's log shown on a
#                    failure (default 15, 10)
#
#   scenario_args "$@"   --help (the script's header comment), --list, or ids / names -> SELECTED
#   scenario_main        the run below; its status is the script's (non-zero on any failure)
#
# The run: not root -> every scenario skipped loudly; traps stop the containers and the host
# dockerd on exit, INT and TERM; set-up (lib.sh: packages, binary, host dockerd, images; leftovers
# of a killed earlier run removed); then each scenario in WORK/ID-NAME, one line each:
# `PASS|FAIL|SKIP  ID name  (N s)  note`; on a failure what it captured and the host dockerd's log
# tail; the host dockerd is stopped, and the last line is `TAG: N passed, M failed`. Under CI=true
# (or 1, yes) a skip is a failure.
#
# For the scenarios (each returns 0 pass, 1 fail, 2 skip; runs with D set to its directory):
#   fail MSG / skip MSG          set FAILMSG / SKIPMSG, return 1 / 2; NOTE: the PASS line's note
#   ev / no_ev FILE EVENT [K=V...], clean_stop FILE, no_sigkill FILE   event checks (fail)
#   now, since T0 [DECIMALS]     EPOCHREALTIME, seconds since T0 (1 decimal by default)
#   run_c NAME ARGS...           docker run, output in D/NAME.{out,err,rc,time}; RC, DUR
#   start_c NAME ARGS...         docker run -d; C: the container
#   daemon_c NAME                start_c of a daemon-mode DIND_IMAGE with /var/lib/docker on a
#                                volume and the inner image mounted, waited until healthy
#   check_rc NAME WANT, check_out NAME TEXT, logs C FILE, volume NAME
#   novolume_image IMAGE         dind-init on the base image, without VOLUME /var/lib/docker
#   wait_log C TEXT SECONDS, wait_event C EVENT SECONDS [K=V...], wait_healthy C SECONDS
#   INNER_MOUNT, LOAD            the docker run arguments mounting inner.tar, the command loading it

SELECTED=()
D=          # the current scenario's log directory
FAILMSG=
SKIPMSG=
NOTE=
INNER_MOUNT=(-v "$INNER_TAR:/images/inner.tar:ro")
# shellcheck disable=SC2034  # for the scenarios
LOAD='docker load -q -i /images/inner.tar >/dev/null'


# ------------------------------------------------------------------ arguments

# scenario_args ARGS...: --help, --list (exit 0), ids (any case) or names -> SELECTED (all of ALL
# when none), an unknown one: exit 2.
scenario_args() {
    local a n found
    SC_IDW=2 SC_NAMEW=0
    for n in "${ALL[@]}"; do
        ((${#n} > SC_IDW)) && SC_IDW=${#n}
        ((${#NAME[$n]} > SC_NAMEW)) && SC_NAMEW=${#NAME[$n]}
    done
    SELECTED=()
    for a in "$@"; do
        case "$a" in
            -h|--help) lib_usage; exit 0 ;;
            --list)
                for n in "${ALL[@]}"; do
                    printf '%-*s  %-*s  %s\n' "$SC_IDW" "$n" "$SC_NAMEW" "${NAME[$n]}" "${DESC[$n]}"
                done
                exit 0 ;;
        esac
        found=
        for n in "${ALL[@]}"; do
            if [ "${a^^}" = "$n" ] || [ "$a" = "${NAME[$n]}" ]; then SELECTED+=("$n"); found=1; fi
        done
        [ -n "$found" ] || { echo "${0##*/}: unknown scenario '$a' (see --list)" >&2; exit 2; }
    done
    [ ${#SELECTED[@]} -gt 0 ] || SELECTED=("${ALL[@]}")
}

# ------------------------------------------------------------------ reporting

# result STATUS ID SECONDS [NOTE]: lib_result with the id and name in aligned columns
result() {
    lib_result "$1" "$(printf '%-*s %-*s' "$SC_IDW" "$2" "$SC_NAMEW" "${NAME[$2]}")" "$3" "${4:-}"
}

skip_all() { # REASON
    local n
    echo "$LIB_TAG: ======================================================================"
    echo "$LIB_TAG: SKIPPING every scenario: $1"
    echo "$LIB_TAG: ======================================================================"
    for n in "${SELECTED[@]}"; do result SKIP "$n" 0 "$1"; done
}

# show what a failed scenario captured: dind-init's own lines, then each file's tail, then the
# host dockerd's log tail
show_failure() { # DIR
    local f
    for f in "$1"/*; do
        { [ -f "$f" ] && [ -s "$f" ]; } || continue
        if grep -q '^dind-init: ' "$f"; then
            echo "    --- $(basename "$f"): dind-init's lines (last 30)"
            grep '^dind-init: ' "$f" | tail -n 30 | cut -c1-300 | sed 's/^/    | /'
        fi
        echo "    --- $(basename "$f") (last ${FAIL_TAIL:-15} lines)"
        tail -n "${FAIL_TAIL:-15}" "$f" | cut -c1-300 | sed 's/^/    | /'
    done
    echo "    --- host dockerd log ($DIND_HOST_LOG, last ${HOST_TAIL:-10} lines)"
    lib_host_log_tail "${HOST_TAIL:-10}" | cut -c1-300 | sed 's/^/    | /'
}

# ------------------------------------------------------------------ helpers for scenarios

fail() { FAILMSG=$*; return 1; }
# dind-init's events (lib_event_*): ev FILE EVENT [K=V...]: FILE has one; no_ev: it has none
ev() { lib_event_has "$@" || fail "$(basename "$1"): no event {${*:2}}"; }
no_ev() { lib_event_none "$@" || fail "$(basename "$1"): event {${*:2}}: $(lib_event_msg "$@" | cut -c1-120)"; }
# clean_stop FILE: dockerd exited by itself on its SIGTERM; no_sigkill FILE: dind-init SIGKILLed
# nothing (dockerd, containerd, the command, inner or leftover processes) and nothing died of it
clean_stop() { ev "$1" dockerd-exit clean=true killed=false && no_ev "$1" dockerd-exit killed=true; }
no_sigkill() {
    local e
    for e in "dockerd-exit killed=true" "containerd-exit killed=true" command-kill inner-kill leftover-kill "daemon-died status=137"; do
        # shellcheck disable=SC2086  # the event and its filter
        no_ev "$1" $e || { FAILMSG="SIGKILL needed: $FAILMSG"; return 1; }
    done
}
skip() { SKIPMSG=$*; return 2; }
now() { lib_now; }
since() { lib_since "$@"; }

# run_c NAME DOCKER-RUN-ARGS...: docker run (labelled, named PFX-NAME), stdout -> D/NAME.out,
# stderr (dind-init's and dockerd's log) -> D/NAME.err, status -> RC and D/NAME.rc, wall time ->
# DUR and D/NAME.time.
run_c() {
    local n=$1 t0
    shift
    t0=$(now)
    dk run --label "$LABEL" --name "$PFX-$n" "$@" >"$D/$n.out" 2>"$D/$n.err" </dev/null
    RC=$?
    DUR=$(since "$t0" 2)
    echo "$RC" >"$D/$n.rc"
    echo "$DUR" >"$D/$n.time"
    return 0
}

# start_c NAME DOCKER-RUN-ARGS...: docker run -d, labelled, named PFX-NAME; sets C
start_c() {
    local n=$1
    shift
    C=$PFX-$n
    dk run -d --label "$LABEL" --name "$C" "$@" >/dev/null 2>"$D/$n.run.err" || fail "docker run -d $n failed: $(head -c 300 "$D/$n.run.err")"
}

# daemon_c NAME: daemon mode (no command), /var/lib/docker on the volume PFX-NAME, inner.tar
# mounted; returns once `dind-init health` answers 0. Sets C.
daemon_c() {
    local vol
    vol=$(volume "$1") || { fail "docker volume create failed"; return 1; }
    start_c "$1" --privileged -v "$vol:/var/lib/docker" "${INNER_MOUNT[@]}" "$DIND_IMAGE" || return 1
    wait_healthy "$C" 90 || { logs "$C" "$D/container.log"; fail "the daemon never answered"; return 1; }
}

check_rc() { # NAME WANT
    local got
    got=$(cat "$D/$1.rc" 2>/dev/null)
    [ "$got" = "$2" ] || fail "$1: exit status $got, expected $2"
}

check_out() { # NAME TEXT: stdout is exactly TEXT
    local got
    got=$(cat "$D/$1.out")
    [ "$got" = "$2" ] || fail "$1: stdout '$(head -c 200 "$D/$1.out" | tr '\n' '|')', expected '$2'"
}

# logs C FILE: docker logs (stdout + stderr) of C into FILE
logs() { DK_TIMEOUT=60 dk logs "$1" >"$2" 2>&1; }

# wait_logs C SECONDS CMD...: until CMD, reading `docker logs C`, succeeds (once C has stopped:
# one last look); wait_log C TEXT SECONDS: until they contain TEXT (the command's own output);
# wait_event C EVENT SECONDS [K=V...]: until dind-init logged that event
wait_logs() {
    local c=$1 n=$2 i
    shift 2
    for ((i = 0; i < n * 4; i++)); do
        DK_TIMEOUT=30 dk logs "$c" 2>&1 | "$@" && return 0
        [ "$(dk inspect -f '{{.State.Running}}' "$c" 2>/dev/null)" = true ] || { DK_TIMEOUT=30 dk logs "$c" 2>&1 | "$@"; return; }
        sleep 0.25
    done
    return 1
}
wait_log() { wait_logs "$1" "$3" grep -qF -- "$2"; }
wait_event() { wait_logs "$1" "$3" lib_event has - "$2" "${@:4}"; }

# wait_healthy C SECONDS: until `dind-init health` inside C answers 0
wait_healthy() {
    local i
    for ((i = 0; i < $2 * 4; i++)); do
        DK_TIMEOUT=10 dk exec "$1" dind-init health >/dev/null 2>&1 && return 0
        [ "$(dk inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ] || return 1
        sleep 0.25
    done
    return 1
}

# novolume_image IMAGE: builds IMAGE, dind-init on the base image without VOLUME /var/lib/docker
# (so the data root is on the container's overlayfs); its log in D/build.log
novolume_image() {
    local ctx rc
    ctx=$(mktemp -d) || return 1
    cat >"$ctx/Dockerfile" <<EOF
FROM $SCRATCH_IMAGE AS bin
FROM $BASE_IMAGE
COPY --from=bin /dind-init /usr/local/bin/dind-init
ENTRYPOINT ["dind-init"]
EOF
    lib_build "$1" "$ctx" >"$D/build.log" 2>&1
    rc=$?
    rm -rf "$ctx"
    [ $rc -eq 0 ] || fail "building $1 (no VOLUME /var/lib/docker) failed"
}

# volume NAME: a named volume on the host daemon, removed at the end of the scenario
volume() { dk volume create --label "$LABEL" "$PFX-$1" >/dev/null && echo "$PFX-$1"; }

# remove_labelled LABEL: the host daemon's containers, volumes and networks labelled LABEL
# (KEY or KEY=VALUE), removed
remove_labelled() {
    local ids
    ids=$(DK_TIMEOUT=30 dk ps -aq --filter "label=$1" 2>/dev/null)
    # shellcheck disable=SC2086
    [ -n "$ids" ] && DK_TIMEOUT=90 dk rm -fv $ids >/dev/null 2>&1
    ids=$(DK_TIMEOUT=30 dk volume ls -q --filter "label=$1" 2>/dev/null)
    # shellcheck disable=SC2086
    [ -n "$ids" ] && DK_TIMEOUT=60 dk volume rm -f $ids >/dev/null 2>&1
    ids=$(DK_TIMEOUT=30 dk network ls -q --filter "label=$1" 2>/dev/null)
    # shellcheck disable=SC2086
    [ -n "$ids" ] && DK_TIMEOUT=60 dk network rm $ids >/dev/null 2>&1
    return 0
}

cleanup_containers() { remove_labelled "$LABEL"; }

# ------------------------------------------------------------------ the run

# Traps run inside whatever redirections the interrupted command had (often >/dev/null): they
# write to the script's own stdout/stderr, saved by scenario_main in SC_OUT and SC_ERR.
scenario_cleanup() {
    { cleanup_containers; lib_host_stop; } 1>&"$SC_OUT" 2>&"$SC_ERR"
}

scenario_signal() { # STATUS NAME
    {
        echo
        echo "$LIB_TAG: $2: stopping (containers and the host dockerd are cleaned up)"
        [ ${#LIB_RESULTS[@]} -gt 0 ] && printf '%s\n' "${LIB_RESULTS[@]}"
        echo "$LIB_TAG: $LIB_PASSED passed, $((LIB_FAILED + 1)) failed"
    } 1>&"$SC_OUT"
    exit "$1"
}

# scenario_setup: packages, binary, host dockerd INSTANCE, images; what a killed earlier run of
# this instance left (the instance lock says none is running) removed.
scenario_setup() {
    local t0=$SECONDS
    lib_install_deps ${SETUP_DEPS[@]+"${SETUP_DEPS[@]}"} || return 1
    lib_build_binary || return 1
    lib_host_start "$INSTANCE" || return 1
    lib_base_image || return 1
    lib_inner_image || return 1
    lib_dind_image || return 1
    remove_labelled "${LABEL%%=*}"
    echo "$LIB_TAG: set-up done in $((SECONDS - t0)) s (binary $DIND_BIN, $(stat -c %s "$DIND_BIN") bytes; host dockerd $(dk version -f '{{.Server.Version}}'), image $DIND_IMAGE, inner $INNER_IMAGE)"
}

# scenario_run ID: the scenario in WORK/ID-NAME, its result line, on a failure what it captured
# (its locals are prefixed: a scenario's own variables must not shadow them)
scenario_run() {
    local sc_id=$1 sc_t0 sc_rc sc_secs
    D=$WORK/$sc_id-${NAME[$sc_id]}
    mkdir -p "$D"
    FAILMSG='' NOTE='' SKIPMSG=''
    sc_t0=$(now)
    "$SCENARIO_FN$sc_id"
    sc_rc=$?
    sc_secs=$(since "$sc_t0")
    if [ $sc_rc -eq 0 ]; then
        result PASS "$sc_id" "$sc_secs" "$NOTE"
    elif [ $sc_rc -eq 2 ] && [ -n "$SKIPMSG" ] && ! lib_in_ci; then
        result SKIP "$sc_id" "$sc_secs" "$SKIPMSG"
    else
        result FAIL "$sc_id" "$sc_secs" "${FAILMSG:-${SKIPMSG:-failed}}"
        show_failure "$D"
    fi
    cleanup_containers
}

scenario_main() {
    local sc_id sc_all
    exec {SC_OUT}>&1 {SC_ERR}>&2
    echo "$LIB_TAG: scenarios: ${SELECTED[*]}"
    if ! lib_is_root; then
        skip_all "not root: the harness starts its own dockerd and runs privileged containers (run it with sudo)"
        lib_summary
        return
    fi
    trap scenario_cleanup EXIT
    trap 'scenario_signal 130 interrupted' INT
    trap 'scenario_signal 143 terminated' TERM

    sc_all=$(now)
    if ! scenario_setup; then
        echo "$LIB_TAG: set-up FAILED: every scenario fails"
        for sc_id in "${SELECTED[@]}"; do result FAIL "$sc_id" 0 "set-up failed"; done
        scenario_cleanup
        lib_summary
        return 1
    fi
    rm -rf "$WORK"
    for sc_id in "${SELECTED[@]}"; do scenario_run "$sc_id"; done

    # stop the host dockerd now, so that the summary is the last thing printed
    scenario_cleanup
    echo
    echo "$LIB_TAG: summary (logs in $WORK; $(since "$sc_all") s in all)"
    printf '%s\n' "${LIB_RESULTS[@]}"
    lib_summary
}
