#!/usr/bin/env bash
# The real Docker-in-Docker matrix (docs/TESTING.md): dind-init as PID 1 of real DinD containers
# on a throwaway host dockerd (instance E2E_INSTANCE, default e2e; never the machine's).
# Owns: the real DinD matrix's scenarios (start-up, exit codes, the stop, restarts, TTYs).
#
#   sudo scripts/e2e.sh [N|NAME...]   # every scenario, or some (1 stop 12); --list lists them
# Logs in target/e2e[-SUITE]/; DIND_SUITE picks the inner engine; DIND_BIN=/path skips the build.
set -uo pipefail
LIB_TAG=e2e
# shellcheck source-path=SCRIPTDIR source=scenario.sh
. "$(dirname "$0")/scenario.sh"
scenario_init "${E2E_INSTANCE:-e2e}" e2e
NOSHELL_IMAGE=dind-init-test/noshell:e2e$DIND_SUITE_TAG
NOVOLUME_IMAGE=dind-init-test/novolume:e2e$DIND_SUITE_TAG
FAIL_TAIL=40 HOST_TAIL=25 SCENARIO_FN=s   # lines shown on a failure; scenario N is function sN
sc 1 privileged
sc 2 cgroup-tmpfs
sc 3 capabilities
sc 4 unprivileged
sc 5 exit-status
sc 6 stop
sc 7 restart
sc 8 zombies
sc 9 tty
sc 10 no-shell
sc 11 storage
sc 12 cgroup-nesting
sc 13 restart-policies
sc 14 tty-sidecar
sc 15 stop-budget
scenario_args "$@"

RUN_OK="exec docker run --rm $INNER_IMAGE echo ok"
# stop_cmd NAME TEXT DOCKER-RUN-ARGS...: start_c NAME, until its logs show TEXT, then stop_c -t 10
# into D/NAME.log
stop_cmd() {
    start_c "$1" "${@:3}"
    must "$C" "$1: never logged '$2'" wait_log "$C" "$2" 90
    stop_c "$C" "$D/$1.log" -t 10
}

s1() {
    dind_sh run 0 "$RUN_OK"
    check_out run ok
    NOTE="inner daemon ready after $(lib_event_get "$D/run.err" dockerd-ready secs) s,\
 docker run ${DUR} s"
    return 0   # (the note's look-up does not decide the result)
}

s2() {
    local c missing=() f=$D/run.out
    dind_sh run 0 "grep -E '^cgroup2? ' /proc/self/mounts; $RUN_OK" --tmpfs /sys/fs/cgroup
    is "$(tail -n 1 "$f")" ok "inner docker run"
    # every v1 hierarchy the host kernel has mounted (enabled, hierarchy id != 0) + cgroup2
    while read -r c; do
        grep -qE "^cgroup \S+ cgroup (\S*,)?${c}[, ]" "$f" || missing+=("$c")
    done < <(awk 'NR > 1 && $2 != 0 && $4 == 1 { print $1 }' /proc/cgroups | sort -u)
    if grep -q '^cgroup /sys/fs/cgroup/systemd ' /proc/self/mounts; then
        grep -q ' cgroup .*name=systemd' "$f" || missing+=(name=systemd)
    fi
    [ ${#missing[@]} -eq 0 ] || fail "no cgroup mount inside for: ${missing[*]}"
    holds "$f" '^cgroup /sys/fs/cgroup/memory cgroup '
    if grep -q ' /sys/fs/cgroup/unified cgroup2 ' /proc/self/mounts; then
        holds "$f" '^cgroup2 /sys/fs/cgroup/unified cgroup2 '
    fi
    NOTE="$(grep -c '^cgroup' "$f") cgroup mounts made"
}

s3() {
    local drops=() c why e=$D/run.err
    for c in $(lib_missing_caps); do drops+=(--cap-drop "${c^^}"); done
    run_c run --rm --cap-add ALL "${drops[@]}" --security-opt seccomp=unconfined \
        --security-opt apparmor=unconfined --security-opt systempaths=unconfined \
        "${INNER_MOUNT[@]}" "$DIND_IMAGE" sh -c "$LOAD && $RUN_OK"
    if [ "$RC" = 0 ] && [ "$(cat "$D/run.out")" = ok ]; then
        NOTE="inner run works without --privileged; $(lib_event_msg "$e" cgroups | cut -c1-99)"
        return 0
    fi
    is "$RC" 125 "exit status (0 and ok: a working inner run; 125: a set-up failure)"
    why=$(lib_dind_msg "$e" 's ERROR ')
    [ -n "$why" ] || fail "exit 125 but no dind-init ERROR line says why"
    NOTE="exit 125: $why"
}

s4() {
    local t
    run_rc run 125 --rm "$DIND_IMAGE" true
    holds "$D/run.err" '--privileged'
    t=$(lib_event_t "$D/run.err" exit code=125 --last)
    [ -n "$t" ] || fail "no exit event with code 125 from dind-init"
    lt "$t" 5 "dind-init's giving up"
    lt "$DUR" 5 "docker run"
    NOTE="dind-init gave up at +${t}s, docker run ${DUR} s"
}

s5() {
    local i pids=()
    local -A cmd=([0]=true [1]=false [42]="sh -c 'exit 42'" [255]="sh -c 'exit 255'"
        [137]="sh -c 'kill -KILL \$\$'" [143]="sh -c 'kill -TERM \$\$'")   # status -> command
    for i in "${!cmd[@]}"; do
        eval "run_c st$i --rm --privileged \"\$DIND_IMAGE\" ${cmd[$i]}" &
        pids+=($!)
    done
    wait "${pids[@]}"   # (not the host dockerd)
    for i in "${!cmd[@]}"; do
        check_rc "st$i" "$i"
        ev "$D/st$i.err" command-exit "status=$i"
        WHY="st$i: " clean_stop "$D/st$i.err"
    done
    NOTE="6 containers in parallel"
}

s6() {
    local major log=$D/stop.log by="dind-init's"
    stop_cmd stop '{command-start ' --privileged "$DIND_IMAGE" sleep infinity
    stopped "$log" 143 8   # 143: sleep ended by the forwarded SIGTERM (137: docker's SIGKILL)
    no_sigkill "$log"
    holds "$log" 'Daemon shutdown complete'
    # Who starts containerd by default: dind-init from Docker 23 on, dockerd on 20.10
    major=$(lib_event_get "$log" engine major)
    [ -n "$major" ] || fail "no engine event (the image's PACKAGE VERSION)"
    if [ "$major" -lt 23 ]; then
        by="dockerd's"
        WHY="Docker $major: containerd not left to dockerd: " no_ev "$log" containerd-start
        run_rc own 0 --rm --privileged -e DIND_CONTAINERD_BY=dind-init "$DIND_IMAGE" true
        log=$D/own.err
    fi
    WHY="containerd after dockerd: " ev "$log" containerd-exit clean=true killed=false
    before "$log" dockerd-exit containerd-exit
    # dind-init writes the config version the installed containerd reads (3 for containerd 2.x)
    lacks "$log" 'Configuration migrated from version'
    run_rc managed 0 --rm --privileged -e DIND_CONTAINERD_BY=dockerd "$DIND_IMAGE" true
    WHY="dockerd's containerd wait not ended: " ev "$D/managed.err" dockerd-exit ended_wait=true
    run_rc wait 0 --rm --privileged -e DIND_CONTAINERD_BY=dockerd -e DIND_WAIT_CONTAINERD=1 \
        "$DIND_IMAGE" true
    WHY="DIND_WAIT_CONTAINERD=1: " ev "$D/wait.err" dockerd-exit clean=true killed=false \
        ended_wait=false
    NOTE="docker stop ${STOP} s; containerd by $by (Docker $major); DIND_WAIT_CONTAINERD=1 waited\
 $(lib_event_get "$D/wait.err" dockerd-exit secs) s"
}

s7() {
    local t t0 times=() stale=
    daemon_c restart
    exec_sh "$C" load.out "$LOAD && docker run --name keepme $INNER_IMAGE true"
    # -t 0: SIGKILL at once, pid files and sockets left behind
    for t in 10 0 10; do
        t0=$(lib_now)
        dk restart -t "$t" "$C" >/dev/null || fail "docker restart -t $t failed"
        must "$C" "restart -t $t: the daemon did not come back" wait_healthy "$C" 90
        times+=("$(lib_since "$t0")")
    done
    logs "$C" "$D/container.log"
    exec_sh "$C" state.out "docker image ls --format '{{.Repository}}:{{.Tag}}'
docker ps -a --format '{{.Names}} {{.Status}}'"
    has "$D/state.out" "$INNER_IMAGE"
    holds "$D/state.out" '^keepme Exited (0)'
    is "$(lib_event count "$D/container.log" dockerd-ready)" 4 "dockerd-ready events (start + 3)"
    lib_event_has "$D/container.log" stale && stale=", stale state removed after restart -t 0"
    NOTE="restarts took ${times[*]} s until healthy$stale"
}

# orphans FILE [PPID-TEST]: the `sleep 4` lines in a ps output FILE
orphans() { awk "\$4 == \"sleep\" && \$5 == \"4\" ${2:-}" "$1"; }
ps_to() { dk exec "$1" ps -eo pid=,ppid=,stat=,args= >"$D/$2" 2>&1; }   # C FILE
orphans_gone() { ps_to "$1" ps-after.out; [ -z "$(orphans "$D/ps-after.out")" ]; }   # C

s8() {
    local n zp
    # 100 orphans: each (sleep 4 &) subshell exits at once, its sleep is re-parented to PID 1
    start_c zombies --privileged "$DIND_IMAGE" sh -c 'i=0; while [ $i -lt 100 ]; do
        (sleep 4 &); i=$((i+1)); done; echo spawned""orphans; exec sleep infinity'
    must "$C" "the command never spawned its orphans" wait_log "$C" 'spawnedorphans' 90
    ps_to "$C" ps-before.out
    n=$(orphans "$D/ps-before.out" '&& $2 == 1' | wc -l)
    [ "$n" -ge 50 ] || fail "only $n orphaned 'sleep 4' children of PID 1 seen (expected ~100)"
    wait_for 30 orphans_gone "$C" || fail "orphans still there after 30 s"
    zp=$(dk exec "$C" sh -c 'grep -l "^State:.*Z" /proc/[0-9]*/status 2>/dev/null | wc -l')
    is "$(awk '$3 ~ /^Z/' "$D/ps-after.out" | wc -l) $zp" "0 0" "zombies in ps and /proc"
    NOTE="$n orphans re-parented to PID 1"
}

# pty_run NAME MARKER KEYS DOCKER-RUN-ARGS...: `docker run -it --rm` on a pty, KEYS typed 1 s after
# MARKER shows; D/NAME.out (.txt: no CRs), RC, D/NAME.err the seconds from the keys to the exit
pty_run() {
    local n=$1
    timeout --foreground -k 10 150 python3 - "$2" "$3" "$DOCKER_CLI" run -it --rm \
        --label "$LABEL" --name "$PFX-$n" "${@:4}" >"$D/$n.out" 2>"$D/$n.err" <<'PY'
import os, pty, sys, time
mark, keys, seen, sent = sys.argv[1].encode(), sys.argv[2].encode(), [b""], []
def read(fd):
    data = os.read(fd, 65536)
    seen[0] += data
    if not sent and mark in seen[0]:
        time.sleep(1)
        sent.append(time.time())
        os.write(fd, keys)
    return data
status = pty.spawn(sys.argv[3:], read)
sys.stderr.write("%.2f s\n" % (time.time() - sent[0]) if sent else "keys never typed\n")
sys.exit(os.waitstatus_to_exitcode(status))
PY
    RC=$?
    tr -d '\r' <"$D/$n.out" >"$D/$n.txt"
}

s9() {
    # Markers are split with "" so that dind-init's "command: started ..." line cannot match them.
    local script='trap "echo GOT""INT; sleep 1; docker version -f {{.Server.Version}} >/dev/null &&
echo DAEMON""ALIVE; exit 3" INT; echo E2E""READY; while :; do sleep 1; done'
    pty_run tty E2EREADY $'\x03' --privileged "$DIND_IMAGE" sh -c "$script"   # Ctrl-C, typed
    is "$RC" 3 "exit status (the command's trap exits 3)"
    holds "$D/tty.txt" GOTINT
    holds "$D/tty.txt" DAEMONALIVE
    lacks "$D/tty.txt" "Processing signal 'interrupt'"
    evs "$D/tty.txt" "command-exit status=3" "stop-begin reason=command-exit"
    before "$D/tty.txt" command-exit stop-begin
    NOTE="Ctrl-C -> exit took $(cat "$D/tty.err")"
}

s10() {
    local sh run vol shells=(/bin/{sh,bash,dash,rbash} /usr/bin/{sh,bash,dash,rbash})
    build_image "$NOSHELL_IMAGE" "no shell" "FROM $DIND_IMAGE" \
        "RUN [\"/usr/bin/rm\", \"-f\"$(printf ', "%s"' "${shells[@]}")]"
    for sh in /bin/sh /bin/bash /bin/dash; do
        run_c "has-${sh##*/}" --rm --entrypoint "$sh" "$NOSHELL_IMAGE" -c true
        [ "$RC" != 0 ] || fail "$sh still runs in $NOSHELL_IMAGE"
    done
    vol=$(volume noshell) || fail "docker volume create failed"
    run=(--rm --privileged -v "$vol:/var/lib/docker")
    run_rc load 0 "${run[@]}" "${INNER_MOUNT[@]}" "$NOSHELL_IMAGE" docker load -i /images/inner.tar
    run_rc echo 0 "${run[@]}" "$NOSHELL_IMAGE" docker run --rm "$INNER_IMAGE" echo no-shell-ok
    check_out echo no-shell-ok
}

s11() { storage_check "$NOVOLUME_IMAGE"; }

# cg_path /proc/PID/cgroup-CONTENT: the memory hierarchy's path, or cgroup2's on v2
cg_path() {
    awk -F: '$2 ~ /(^|,)memory(,|$)/ { m = $3 } $1 == "0" && $2 == "" { u = $3 }
        END { print (m != "" ? m : u) }' <<<"$1"
}
# below PATH OUTER: cgroup PATH is below OUTER (less a last /init, dockerd's own cgroup)
below() { local outer=${2%/init}; [[ $1 == "${outer%/}"/* ]]; }

s12() {
    local tag=98$RUNID outer_host inner_view outer_view hp inner_host oh k h ih escaped=()
    # (also the image's HEALTHCHECK, `dind-init health`, run every second here instead of 10 s)
    start_c nest --privileged --health-interval 1s "${INNER_MOUNT[@]}" "$DIND_IMAGE"
    must "$C" "the daemon never became healthy" wait_healthy "$C" 90
    wait_for 10 has_status "$C" healthy || fail "HEALTHCHECK status '$(health_status "$C")'"
    exec_sh "$C" nested.out "$LOAD && docker run -d --name nested $INNER_IMAGE sleep $tag"
    outer_host=$(cat "/proc/$(dk inspect -f '{{.State.Pid}}' "$C")/cgroup")
    outer_view=$(dk exec "$C" cat /proc/1/cgroup)
    inner_view=$(dk exec "$C" docker exec nested cat /proc/self/cgroup)
    hp=$(pgrep -xf "sleep $tag") || fail "cannot find the inner container's process on the host"
    inner_host=$(cat "/proc/$hp/cgroup")
    logs "$C" "$D/container.log"
    printf '%s:\n%s\n' "outer (host view)" "$outer_host" "outer (own view)" "$outer_view" \
        "inner (host view)" "$inner_host" "inner (own view)" "$inner_view" >"$D/cgroups.txt"
    oh=$(cg_path "$outer_host")
    [[ $oh == *"$(dk inspect -f '{{.Id}}' "$C")"* ]] || fail "outer cgroup $oh lacks the id"
    while IFS=: read -r k h ih; do
        below "$ih" "$(awk -F: -v k="$k" '$1 == k { print $3 }' <<<"$outer_host")" ||
            escaped+=("${h:-cgroup2}")
    done <<<"$inner_host"
    below "$(cg_path "$inner_view")" "$(cg_path "$outer_view")" || escaped+=("own view")
    # Stop the inner container before the outer one goes, so that its cgroups are removed.
    DK_TIMEOUT=30 dk exec "$C" docker rm -f nested >/dev/null 2>&1
    [ ${#escaped[@]} -eq 0 ] || fail "inner container not below the outer's cgroup in\
 ${escaped[*]} (cgroups.txt)"
    NOTE="$(grep -c . <<<"$inner_host") hierarchies"
}

# inner_states C: "name state" of every inner container; inner_up C: always, unless-stopped run
inner_states() {
    DK_TIMEOUT=30 dk exec "$1" docker ps -a --format '{{.Names}} {{.State}}' 2>/dev/null | sort
}
inner_up() {
    inner_states "$1" >"$D/states.txt"
    grep -qx 'always running' "$D/states.txt" && grep -qx 'unless-stopped running' "$D/states.txt"
}

s13() {
    local own
    # (a shell as PID 1 that ends on SIGTERM: a bare `sleep` as PID 1 ignores it)
    daemon_c policies
    exec_sh "$C" setup.out "$LOAD && docker volume create data >/dev/null && \
docker run --rm -v data:/data $INNER_IMAGE sh -c 'echo kept > /data/file' && \
for p in always unless-stopped no on-failure; do docker run -d --name \$p --restart \$p \
-v data:/data $INNER_IMAGE sh -c 'trap \"exit 0\" TERM; while :; do sleep 1; done' >/dev/null \
|| exit; done"
    # What dockerd itself restores after its own clean restart (SIGTERM; dind-init restarts it)
    dk exec "$C" sh -c 'kill -TERM $(cat /var/run/docker.pid)' || fail "cannot signal dockerd"
    must "$C" "the inner dockerd did not come back" wait_event "$C" dockerd-ready 60 restart=1
    wait_for 60 inner_up "$C"
    own=$(inner_states "$C" | tee "$D/own-restart.txt")
    stop_start "$C"
    wait_for 60 inner_up "$C"
    is "$(tr '\n' , <"$D/states.txt")" "$(tr '\n' , <<<"$own")" "stop + start vs dockerd's restart"
    has "$D/states.txt" 'always running' 'unless-stopped running' 'no exited'
    is "$(dk exec "$C" docker run --rm -v data:/data "$INNER_IMAGE" cat /data/file 2>&1)" kept \
        "inner volume data"
    WHY="the stop: " clean_stop "$D/stop.log"
    WHY="the stop: " no_sigkill "$D/stop.log"
    lt "$STOP" 8 "docker stop"
    NOTE="docker stop ${STOP} s (exit $CODE)"
}

s14() {
    stop_cmd sidecar '{command-start ' --privileged -t "$DIND_IMAGE"
    holds "$D/sidecar.log" 'starting /bin/bash -l'
    stopped "$D/sidecar.log" 129 3   # 129: the login shell hung up
    pty_run it '{command-start ' $'echo SHELL""-OK; exit 7\r' --privileged "$DIND_IMAGE"
    is "$RC" 7 "docker run -it: exit status (typed 'exit 7')"
    holds "$D/it.txt" SHELL-OK
    WHY="-it: " clean_stop "$D/it.txt"
    NOTE="-d -t: docker stop ${STOP} s"
}

s15() {
    local d1
    stop_cmd noterm '{command-start ' --privileged "$DIND_IMAGE" \
        bash -c 'trap "" TERM; while :; do sleep 1; done'
    stopped "$D/noterm.log" 137 7   # 137: the command SIGKILLed by dind-init
    holds "$D/noterm.log" 'Daemon shutdown complete'
    ev "$D/noterm.log" command-kill
    d1=$STOP
    # A slow TERM trap (3 s) and an inner container that ignores SIGTERM: counted from the
    # command's exit the stop would need 3 + 8 s; from docker stop's SIGTERM it fits 10 s.
    stop_cmd slowtrap SLOWTRAP-ARMED --privileged "${INNER_MOUNT[@]}" "$DIND_IMAGE" \
        bash -c "$LOAD && docker run -d --name stubborn $INNER_IMAGE \
sh -c 'trap \"\" TERM; while :; do sleep 1; done' && \
echo SLOW\"\"TRAP-ARMED && trap 'sleep 3; exit 5' TERM; while :; do sleep 0.2; done"
    stopped "$D/slowtrap.log" 5 10.5   # 5: the trap's status
    ev "$D/slowtrap.log" inner-kill
    NOTE="ignoring TERM: stop ${d1} s; slow trap + stubborn inner container: ${STOP} s"
}

scenario_main
