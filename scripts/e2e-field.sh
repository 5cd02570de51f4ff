#!/usr/bin/env bash
# Faults and field hardening on real engines (docs/TESTING.md): dind-init as PID 1 of real DinD
# containers on a throwaway host dockerd (FIELD_INSTANCE, default field; never the machine's).
# Owns: the fault and field-hardening scenarios (daemons killed, MTU, storage, foreign daemons).
#
#   sudo scripts/e2e-field.sh [ID|NAME...]   # every scenario, or some (F1 mtu H4); --list
# Logs in target/e2e-field[-SUITE]/. Environment: DIND_SUITE, FIELD_INSTANCE, DIND_BIN, DIND_CACHE.
set -uo pipefail
LIB_TAG=e2e-field
# shellcheck source-path=SCRIPTDIR source=scenario.sh
. "$(dirname "$0")/scenario.sh"
scenario_init "${FIELD_INSTANCE:-field}" field
PY_IMAGE=dind-init-test/python:field$DIND_SUITE_TAG
NOVOLUME_IMAGE=dind-init-test/novolume:field$DIND_SUITE_TAG
F4_CYCLES=20 SCENARIO_FN=   # scenario F1 is function F1

sc F1 dockerd-kill
sc F2 daemon-exit
sc F3 containerd-kill
sc F4 stop-start
sc H1 grace
sc H2 mtu
sc H3 clients
sc H4 health
sc H5 iptables
sc H6 tmp-storage
sc H7 grace-ignore-term
sc H8 image-store
sc H9 shared-pidns
sc H10 foreign-socket
sc H11 shared-run
sc H12 shared-data-root
sc H13 preload
scenario_args "$@"
# H3 fetches the Docker SDK's wheels with pip on the host
/usr/bin/python3 -m pip --version >/dev/null 2>&1 || SETUP_DEPS=(python3-pip)

# need FILE TEXT: a dind-init line has TEXT; logline FILE TEXT [WIDTH]: its message
need() { lib_dind_has "$1" "$2" || fail "${1##*/}: no dind-init log line containing '$2'"; }
logline() { lib_dind_msg "$1" "$2" "${3:-160}"; }
val() { sed -n "s/^$2=//p" "$1"; }   # FILE KEY: the VALUE of FILE's line KEY=VALUE
# health C FILE [DOCKER-EXEC-ARGS...]: `dind-init health` in C, its status, its output in D/FILE
health() { DK_TIMEOUT=20 dk exec "${@:3}" "$1" dind-init health >"$D/$2" 2>&1; }
# health_is WANT WHAT C FILE [DOCKER-EXEC-ARGS...]: health C FILE ... exits WANT
health_is() {
    local rc
    health "${@:3}"; rc=$?
    [ "$rc" = "$1" ] || fail "dind-init health $2: exit $rc, expected $1 ($(head -c 200 "$D/$4"))"
}
# refusal NAME DOCKER-RUN-ARGS...: run_c NAME of DIND_IMAGE, privileged, whose job (sh script JOB,
# default `echo JOB-RAN`) dind-init should refuse; refused NAME TEXT...: it exited 125, the job
# did not run, dind-init said each TEXT
refusal() { run_c "$1" --rm --privileged "${@:2}" "$DIND_IMAGE" sh -c "${JOB:-echo JOB-RAN}"; }
refused() {
    local t
    check_rc "$1" 125
    lacks "$D/$1.out" JOB-RAN
    for t in "${@:2}"; do need "$D/$1.err" "$t"; done
}

# kill_sh PIDFILE: sh killing (-9) the daemon of PIDFILE, then trying `docker run` every 0.1 s until
# it works (60 s at most); it prints old=PID, recovered, ms=, new=PID
kill_sh() {
    echo "echo old=\$(cat $1) && kill -9 \$(cat $1) && t0=\$(date +%s%N) && i=0 &&
until docker run --rm $INNER_IMAGE echo recovered 2>/tmp/err; do
    i=\$((i+1)); [ \$i -lt 600 ] || { cat /tmp/err; exit 90; }; sleep 0.1
done && echo ms=\$(( (\$(date +%s%N) - t0) / 1000000 )) && echo new=\$(cat $1)"
}
# restarted OUT WHAT: kill_sh's output OUT: recovered, WHAT's pid changed; KILL_NOTE
restarted() {
    local old new
    old=$(val "$1" old) new=$(val "$1" new)
    has "$1" recovered
    [ -n "$new" ] && [ "$new" != "$old" ] || fail "$2 pid $old -> '$new': not restarted"
    KILL_NOTE="$2 pid $old -> $new, docker run again after $(val "$1" ms) ms"
}

F1() {
    dind_sh run 0 "$(kill_sh /var/run/docker.pid)"
    restarted "$D/run.out" dockerd
    evs "$D/run.err" "daemon-died daemon=dockerd status=137" "command-exit status=0" \
        "daemon-restart daemon=dockerd restart=1 max=5 delay=1" "dockerd-ready restart=1"
    clean_stop "$D/run.err"
    is "$(lib_event count "$D/run.err" dockerd-start)" 2 "dockerd-start events (start + restart)"
    NOTE=$KILL_NOTE
}

F2() {
    dind_sh run 125 "kill -9 \$(cat /var/run/docker.pid) && sleep 30; echo not""-reached" \
        -e DIND_ON_DAEMON_EXIT=exit
    lacks "$D/run.out" not-reached
    evs "$D/run.err" "daemon-died daemon=dockerd status=137" "stop-begin reason=daemon" \
        "command-exit status=143" "exit code=125"
    need "$D/run.err" 'dockerd: --on-daemon-exit=exit: stopping; dind-init will exit 125'
    no_ev "$D/run.err" daemon-restart
    lt "$DUR" 30 "the run (the command's sleep 30 cut short?)"
    NOTE="exit 125 after ${DUR} s"
}

# f3 NAME [DOCKER-RUN-ARGS...]: kill_sh of containerd under a running container bg, which survives
f3() {
    local n=$1 out=$D/$1.out WHY="$1: "
    dind_sh "$n" 0 "docker run -d --name bg $INNER_IMAGE sleep 1000 >/dev/null && \
d=\$(cat /var/run/docker.pid) && $(kill_sh /var/run/docker/containerd/containerd.pid) && \
echo dockerd-same=\$([ \"\$(cat /var/run/docker.pid)\" = \"\$d\" ] && echo yes) && \
echo bg=\$(docker inspect -f '{{.State.Status}}' bg) && docker exec bg echo exec-ok && \
docker rm -f bg >/dev/null && echo bg-removed" "${@:2}"
    restarted "$out" containerd
    has "$out" dockerd-same=yes bg=running exec-ok bg-removed
    no_ev "$D/$n.err" daemon-restart daemon=dockerd
    clean_stop "$D/$n.err"
}

F3() {
    local own
    f3 own -e DIND_CONTAINERD_BY=dind-init
    evs "$D/own.err" "daemon-restart daemon=containerd" "containerd-ready restart=1"
    own=$KILL_NOTE
    f3 managed -e DIND_CONTAINERD_BY=dockerd
    # 20.10: "libcontainerd: started new containerd process"; 26+: module=libcontainerd as a field
    [ "$(grep -c 'started new containerd process' "$D/managed.err")" -ge 2 ] ||
        fail "dockerd's log does not show containerd restarted"
    NOTE="dind-init's: $own; dockerd's: $KILL_NOTE"
}

F4() {
    local i times=() t0 total out
    daemon_c f4
    exec_sh "$C" setup.out "$LOAD && docker volume create data >/dev/null && \
docker run --name keeper -v data:/d $INNER_IMAGE sh -c 'echo persisted-$RUNID > /d/file'"
    t0=$(lib_now)
    for ((i = 1; i <= F4_CYCLES; i++)); do
        WHY="cycle $i: " out=$D/check-$i.out
        stop_start "$C"
        stopped "$D/stop.log" 0 10
        exec_sh "$C" "${out##*/}" "docker ps -a --filter name=^keeper\$ \
--format '{{.Names}} {{.Status}}'
docker run --rm -v data:/d $INNER_IMAGE cat /d/file"
        holds "$out" '^keeper Exited (0)'
        has "$out" "persisted-$RUNID"
        times+=("$STOP")
    done
    WHY='' total=$(lib_since "$t0")
    logs "$C" "$D/container.log"
    is "$(lib_event count "$D/container.log" dockerd-ready)" $((F4_CYCLES + 1)) "dockerd-readys"
    is "$(lib_event count "$D/container.log" dockerd-exit clean=true killed=false)" "$F4_CYCLES" \
        "clean dockerd shutdowns"
    no_sigkill "$D/container.log"
    ! grep -i -m3 -E -e 'pid file found|corrupt|structure needs cleaning|input/output error' \
        -e 'panic:|failed to load container|invalid checksum|bad message' \
        -e 'database .*(damaged|invalid)' "$D/container.log" >"$D/bad.txt" ||
        fail "dockerd's log: $(cut -c1-250 "$D/bad.txt" | tr '\n' '|')"
    mapfile -t times < <(printf '%s\n' "${times[@]}" | sort -g)
    NOTE="$F4_CYCLES cycles, $total s total, stop ${times[0]}-${times[-1]} s"
}

# grace NAME TRAP [DOCKER-RUN-ARGS...]: daemon_c NAME ARGS with an inner container `inner` (its pid
# in D/setup.out) that set its TERM TRAP and loops; inner_after: its state (and a marker) after
armed() { dk exec "$1" docker logs inner 2>/dev/null | grep -q armed; }   # C: inner's trap is set
grace() {
    daemon_c "$1" "${@:3}"
    exec_sh "$C" setup.out "$LOAD && docker run -d --name inner --restart no -v marker:/m \
$INNER_IMAGE sh -c '$2; echo armed; while :; do sleep 1; done' >/dev/null && \
docker inspect -f '{{.State.Pid}}' inner"
    wait_for 10 armed "$C" || fail "the inner container never set its trap"
}
inner_after() {
    dk exec "$C" sh -c "docker run --rm -v marker:/m $INNER_IMAGE cat /m/marker; \
docker inspect -f 'inner {{.State.Status}} {{.State.ExitCode}}' inner" >"$D/after.out" 2>&1
}

H1() {
    grace h1 'rm -f /m/marker; trap "echo clean > /m/marker; exit 0" TERM'
    stop_start "$C"
    inner_after
    started "$D/stop.log" >"$D/argv.txt"
    holds "$D/argv.txt" ' --shutdown-timeout=5\( \|$\)'
    WHY="the TERM trap: " has "$D/after.out" clean 'inner exited 0'
    ev "$D/stop.log" stop-begin reason=SIGTERM
    stopped "$D/stop.log" 0 10   # 137: killed by docker
    NOTE="docker stop -t 10 took $STOP s; dockerd exited after\
 $(lib_event_get "$D/stop.log" dockerd-exit secs) s"
    return 0   # (the note's look-up does not decide the result)
}

H7() {
    grace h7 'trap "" TERM'
    stop_start "$C"
    inner_after
    ev "$D/stop.log" inner-kill
    stopped "$D/stop.log" 0 10
    has "$D/after.out" 'inner exited 137'
    NOTE="docker stop -t 10 took $STOP s"
}

# show_victim C FILE: "shim COMM", "child COMM" (or "gone") as H9's victim C sees them; victim_up
show_victim() {
    DK_TIMEOUT=20 dk exec "$1" sh -c 'for w in shim child; do p=$(cat /tmp/$w 2>/dev/null);
        echo "$w $(cat /proc/${p:-0}/comm 2>/dev/null || echo gone)"; done' >"$2" 2>&1
}
victim_up() { show_victim "$1" "$2"; grep -qx 'child sleep' "$2"; }

H9() {
    local victim inner
    start_c h9-victim --entrypoint /bin/sh "$DIND_IMAGE" -c 'ln -s /bin/sh /tmp/containerd-shim;
/tmp/containerd-shim -c "sleep 1000 & echo \$! >/tmp/child; wait" & echo $! >/tmp/shim
exec sleep 100000'
    victim=$C
    wait_for 10 victim_up "$victim" "$D/victim-before.out"
    has "$D/victim-before.out" 'shim containerd-shim' 'child sleep'
    grace h9 'trap "" TERM' --pid="container:$victim"
    stop_c "$C" "$D/stop.log" -t 10
    inner=$(tail -n 1 "$D/setup.out")
    show_victim "$victim" "$D/victim-after.out"
    DK_TIMEOUT=20 dk exec "$victim" sh -c "cat /proc/$inner/comm 2>/dev/null || echo gone" \
        >"$D/inner-after.out" 2>&1
    ev "$D/stop.log" inner-kill
    has "$D/victim-after.out" 'shim containerd-shim' 'child sleep'
    ev "$D/stop.log" start pid1=false
    WHY="the inner container (pid $inner): " has "$D/inner-after.out" gone
    stopped "$D/stop.log" 0 10
    NOTE="docker stop -t 10 took $STOP s"
}

H2() {
    local net=$PFX-lowmtu e=$D/low.err mtu=/sys/class/net/eth0/mtu l user
    local opt='--default-network-opt=bridge=com.docker.network.driver.mtu=1400'
    dk network create --label "$LABEL" -o com.docker.network.driver.mtu=1400 "$net" \
        >"$D/network.out" 2>&1 || fail "cannot create a network with MTU 1400 ($D/network.out)"
    # lines: the outer eth0's MTU, an inner one's, the engine's major, one's on a user network
    dind_sh low 0 "cat $mtu && docker run --rm $INNER_IMAGE cat $mtu && \
docker version -f '{{.Server.Version}}' | cut -d. -f1 && \
docker network create usernet >/dev/null && \
docker run --rm --network usernet $INNER_IMAGE cat $mtu" --network "$net"
    mapfile -t l <"$D/low.out"
    is "${l[0]} ${l[1]}" "1400 1400" "the outer and an inner container's eth0 MTU"
    need "$e" 'network: default route via eth0 has MTU 1400: passing --mtu=1400 to dockerd'
    started "$e" >"$D/argv.txt"
    holds "$D/argv.txt" ' --mtu=1400'
    if [ "${l[2]:-0}" -ge 24 ] 2>/dev/null; then
        user=1400
        holds "$D/argv.txt" " $opt"
    else
        user=1500
        lacks "$D/argv.txt" --default-network-opt
    fi
    is "${l[3]}" "$user" "engine ${l[2]}: a user-defined network's MTU"
    dind_sh default 0 "docker run --rm $INNER_IMAGE cat $mtu"
    check_out default 1500
    ev "$D/default.err" dockerd-start
    started "$D/default.err" >"$D/default-argv.txt"
    lacks "$D/default-argv.txt" --mtu
    NOTE="outer 1400 -> $(cut -c1-80 "$D/argv.txt"); user network $user"
}

H3() {
    local s=$D/sdk.out
    run_rc env 0 --rm --privileged "$DIND_IMAGE" sh -c 'echo "DOCKER_HOST=${DOCKER_HOST:-<unset>}";
echo "TC=${TESTCONTAINERS_HOST_OVERRIDE:-<unset>}"
docker -H "$DOCKER_HOST" version >/dev/null && echo answered'
    check_out env "$(printf 'DOCKER_HOST=unix:///var/run/docker.sock\nTC=<unset>\nanswered')"
    run_rc userhost 0 --rm --privileged -e DOCKER_HOST=unix:///var/run/docker.sock \
        -e DIND_TESTCONTAINERS=false "$DIND_IMAGE" sh -c 'echo "$DOCKER_HOST"'
    check_out userhost unix:///var/run/docker.sock
    lib_py_image "$PY_IMAGE" "$D/build.log" || fail "building $PY_IMAGE failed"
    run_rc sdk 0 --rm --privileged -e DIND_TESTCONTAINERS=true -e "INNER_IMAGE=$INNER_IMAGE" \
        "${INNER_MOUNT[@]}" "$PY_IMAGE" python3 /usr/local/bin/sdk-check.py
    has "$s" 'DOCKER_HOST=unix:///var/run/docker.sock' 'TESTCONTAINERS_HOST_OVERRIDE=localhost' \
        'result=sdk-ok'
    NOTE="$PY_SDK_SOURCE; $(sed -n 's/^versions: //p' "$s")"
}

# healthcheck C STATUS: until C's HEALTHCHECK status is STATUS (30 s at most)
healthcheck() {
    wait_for 30 has_status "$1" "$2" || fail "HEALTHCHECK status '$(health_status "$1")', not $2"
}

H4() {
    # a dockerd that takes 6 s to start: a window in which the daemon is not up yet
    mkdir -p "$D/bin" && printf '#!/bin/sh\nsleep 6\nexec dockerd "$@"\n' >"$D/bin/slow-dockerd" &&
        chmod 0755 "$D/bin/slow-dockerd" || fail "cannot write slow-dockerd"
    start_c h4 --privileged --health-interval 1s -v "$D/bin:/field:ro" \
        -e DIND_DOCKERD=/field/slow-dockerd -e DIND_ON_DAEMON_EXIT=ignore "$DIND_IMAGE" \
        sleep infinity
    must "$C" "dockerd was never started" wait_event "$C" dockerd-start 60
    health_is 1 "before dockerd is up" "$C" before.out
    must "$C" "the daemon never became ready" wait_event "$C" command-start 60
    health_is 0 "with the daemon up" "$C" up.out
    health_is 1 "with a wrong DOCKER_HOST" "$C" wrong.out -e DOCKER_HOST=unix:///nonexistent.sock
    is "$(dk inspect -f '{{json .Config.Healthcheck.Test}}' "$C")" '["CMD","dind-init","health"]' \
        "the image's HEALTHCHECK"
    healthcheck "$C" healthy
    dk exec "$C" sh -c 'kill -9 $(cat /var/run/docker.pid)' || fail "kill -9 of dockerd failed"
    must "$C" "dind-init missed dockerd's death" wait_event "$C" daemon-died 20 daemon=dockerd
    health_is 1 "after dockerd was killed" "$C" dead.out
    holds "$D/dead.out" unhealthy
    healthcheck "$C" unhealthy
    NOTE="killed: '$(head -n 1 "$D/dead.out" | cut -c1-60)...'"
}

H5() {
    local mode want b line used chosen o WHY
    # docker-legacy: docker:dind's DOCKER_IPTABLES_LEGACY=1; auto: no variable
    local -A env=([legacy]=DIND_IPTABLES=legacy [nft]=DIND_IPTABLES=nft [auto]=H5=auto
        [docker-legacy]=DOCKER_IPTABLES_LEGACY=1)
    for mode in legacy nft auto docker-legacy; do
        WHY="DIND_IPTABLES=$mode: " o=$D/$mode.out
        dind_sh "$mode" 0 "docker run --rm $INNER_IMAGE echo ipt-ok && for b in legacy nft; do \
if iptables-\$b -t nat -S DOCKER >/dev/null 2>&1; then echo \$b-has-DOCKER; \
else echo \$b-no-DOCKER; fi; done" -e "${env[$mode]}"
        has "$o" ipt-ok
        if [ "$mode" != auto ]; then
            b=${mode#docker-} want=legacy
            [ "$b" = legacy ] && want=nft
            need "$D/$mode.err" "iptables: using the $b backend (requested)"
            has "$o" "$b-has-DOCKER" "$want-no-DOCKER"
            continue
        fi
        line=$(logline "$D/auto.err" 'iptables: ' 200)
        [ -n "$line" ] || fail "no 'iptables:' decision in the log"
        used=$(grep -o '^[a-z]*-has-DOCKER' "$o" | sed 's/-has-DOCKER//' | tr '\n' '+')
        chosen=$(sed -n 's/.*iptables: using the \([a-z]*\) backend.*/\1/p' <<<"$line")
        [ -z "$chosen" ] || is "${used%+}" "$chosen" "the tables with dockerd's rules"
        NOTE="auto: '$line' -> rules in ${used%+}"
    done
}

H6() {
    storage_check "$NOVOLUME_IMAGE"
    NOTE="'$(cut -c1-70 <<<"${WARN#*WARN }")...'"
}

H8() {
    local json=$D/daemon.json engine snaps v=$D/vol.out
    local snapdir=/var/lib/docker/containerd/daemon/io.containerd.snapshotter.v1.overlayfs/snapshots
    printf '{"features": {"containerd-snapshotter": true}}\n' >"$json"
    dind_sh vol 0 "docker version -f 'engine={{.Server.Version}}' && docker run --rm $INNER_IMAGE \
echo store-ok && docker info -f 'driver={{.Driver}}' && \
docker info -f 'status={{json .DriverStatus}}' && \
echo \"snapshots=\$(ls $snapdir 2>/dev/null | wc -l)\"" -v "$json:/etc/docker/daemon.json:ro"
    has "$v" store-ok
    engine=$(val "$v" engine) snaps=$(val "$v" snapshots)
    if [ "${engine%%.*}" -lt 26 ] 2>/dev/null; then
        has "$v" 'driver=overlay2'
        NOTE="engine $engine: the feature ignored, overlay2"
        return 0
    fi
    WHY="engine $engine: "
    holds "$v" '^status=.*io.containerd.snapshotter.v1' "not the image store: $(val "$v" status)"
    [ "${snaps:-0}" -ge 1 ] || fail "no snapshots under /var/lib/docker/containerd/daemon"
    ! grep '^dind-init: .* WARN ' "$D/vol.err" | grep -q 'storage:' ||
        fail "volume: a storage warning: $(logline "$D/vol.err" 'storage:' 120)"
    novolume_image "$NOVOLUME_IMAGE"
    IMAGE=$NOVOLUME_IMAGE dind_sh overlay 0 "docker run --rm $INNER_IMAGE echo store-ok; \
echo run-rc=\$?" -v "$json:/etc/docker/daemon.json:ro"
    grep '^dind-init: .* WARN ' "$D/overlay.err" | grep 'storage:' | grep 'containerd-snapshotter' |
        grep -q -- '-v dind-data:/var/lib/docker' ||
        fail "overlayfs: no WARN naming the image store and the fix"
    NOTE="engine $engine: $(grep '^driver=' "$v"), $snaps snapshots; overlayfs: run-rc=$(val\
 "$D/overlay.out" run-rc)"
}

H10() {
    # The throwaway host daemon's socket, never the machine's; the job would create a volume on it
    local job=$PFX-h10-job e=$D/h10.err
    JOB="docker volume create --label $LABEL $job && echo JOB-RAN" \
        refusal h10 -v "$DIND_HOST_SOCK:/var/run/docker.sock"
    ! dk volume inspect "$job" >/dev/null 2>&1 || fail "the job created volume $job on the host"
    refused h10 '/var/run/docker.sock is a mount point' 'Docker-outside-of-Docker' \
        'remove the mount'
    no_ev "$e" dockerd-start
    DK_TIMEOUT=10 dk version >/dev/null 2>&1 || fail "the host daemon no longer answers"
    NOTE="exit 125 after ${DUR}s: '$(logline "$e" 'is a mount point' 90)...'"
}

H11() {
    local run a before state='echo "$(cat /var/run/docker.pid) $(stat -c %i /var/run/docker.sock)"'
    run=$(volume h11-run) || fail "docker volume create failed"
    start_c h11a --privileged -v "$run:/run" "$DIND_IMAGE" sleep infinity
    a=$C
    must "$a" "the first daemon never answered" wait_healthy "$a" 90
    before=$(dk exec "$a" sh -c "$state")
    refusal h11b -v "$run:/run"
    is "$(dk exec "$a" sh -c "$state" 2>&1)" "$before" "the first's pid file, socket (pid, inode)"
    health_is 0 "of the first" "$a" first-health.out
    logs "$a" "$D/first.log"
    refused h11b '/var/run/docker.sock is served by another daemon'
    WHY="the second removed state: " no_ev "$D/h11b.err" stale
    NOTE="second: exit 125 after ${DUR}s"
}

# keeper_state C FILE: inner container keeper's status, its volume file, image-kept; keeper_up: runs
keeper_state() {
    DK_TIMEOUT=20 dk exec "$1" sh -c "docker inspect -f 'keeper {{.State.Status}}' keeper; \
docker exec keeper cat /d/file; docker image inspect $INNER_IMAGE >/dev/null 2>&1 && \
echo image-kept" >"$2" 2>&1
}
keeper_up() { keeper_state "$1" "$2"; grep -qx 'keeper running' "$2"; }
kept() { has "$1" 'keeper running' "kept-$RUNID" image-kept; }   # FILE: keeper_state's, all kept

H12() {
    local vol a host=$PFX-h12a holder waited e=$D/h12b.err n
    vol=$(volume h12) || fail "docker volume create failed"
    local run=(--privileged -v "$vol:/var/lib/docker" "${INNER_MOUNT[@]}")
    start_c h12a "${run[@]}" --hostname "$host" "$DIND_IMAGE"
    a=$C
    must "$a" "the first daemon never answered" wait_healthy "$a" 90
    exec_sh "$a" setup.out "$LOAD && docker volume create data >/dev/null && \
docker run --rm -v data:/d $INNER_IMAGE sh -c 'echo kept-$RUNID > /d/file' && \
docker run -d --name keeper --restart always -v data:/d $INNER_IMAGE sleep 100000 >/dev/null"
    refusal h12b "${run[@]}" --hostname "$PFX-h12b"
    keeper_state "$a" "$D/first-after.out"
    health_is 0 "of the first" "$a" first-health.out
    refused h12b 'its own volume for /var/lib/docker' \
        "data root /var/lib/docker is in use by another dind-init (host $host, pid 1, since "
    ev "$e" data-root-busy path=/var/lib/docker/dind-init.lock
    holder=$(lib_event_get "$e" data-root-busy holder)
    waited=$(lib_event_get "$e" data-root-busy waited)
    [[ $holder == "host=$host pid=1 since="* ]] || fail "data-root-busy names '$holder'"
    { ! lib_lt "$waited" 10 && lib_lt "$waited" 11; } || fail "the second waited $waited s, not 10"
    lt "$DUR" 20 "the second's giving up"
    for n in containerd-start dockerd-start stale; do
        WHY="the second went on: " no_ev "$e" "$n"
    done
    WHY="after the refused start: " kept "$D/first-after.out"
    WHY="the first: "
    stop_c "$a" "$D/first.log" -t 10
    stopped "$D/first.log" 0 60
    ev "$D/first.log" data-root-lock holder=
    WHY=
    start_c h12c "${run[@]}" "$DIND_IMAGE"
    must "$C" "the next daemon never answered" wait_healthy "$C" 90
    wait_for 30 keeper_up "$C" "$D/next-after.out"
    logs "$C" "$D/next.log"
    WHY="next start: "
    ev "$D/next.log" data-root-lock holder=
    lt "$(lib_event_get "$D/next.log" data-root-lock waited)" 1 "the wait for the lock"
    kept "$D/next-after.out"
    NOTE="second: exit 125 after ${DUR}s (waited $waited s)"
}

H13() {
    local pre=$D/pre bad=$D/bad svc=$D/svc gz=dind-init-test/preload-gz:1 vol layout=old n
    local major c during after f=$D/first.err
    local -a mnt=(-v "$pre:/preload:ro" -e DIND_PRELOAD=/preload)
    mkdir -p "$pre" "$bad" "$svc" || fail "mkdir failed"
    dind_sh save 0 "docker tag $INNER_IMAGE $gz && docker save -o /out/a-inner.tar $INNER_IMAGE && \
docker save $gz | gzip >/out/b-gz.tar && chmod 0644 /out/*" -v "$pre:/out"
    tar -tf "$pre/a-inner.tar" >"$D/a-inner.list" || fail "a-inner.tar is no tar"
    grep -qx index.json "$D/a-inner.list" && layout=oci
    is "$(head -c 2 "$pre/b-gz.tar" | od -An -tx1 | tr -d ' ')" 1f8b "b-gz.tar's magic (gzip)"
    vol=$(volume h13) || fail "docker volume create failed"
    for n in first second; do
        run_rc "$n" 0 --rm --privileged -v "$vol:/var/lib/docker" "${mnt[@]}" "$DIND_IMAGE" \
            sh -c "docker run --rm $INNER_IMAGE echo plain-ok && docker run --rm $gz echo gz-ok"
        check_out "$n" "$(printf 'plain-ok\ngz-ok')"
    done
    evs "$f" "preload-loaded file=/preload/a-inner.tar" "preload-loaded file=/preload/b-gz.tar" \
        "preload-done loaded=2 skipped=0 failed=0"
    major=$(lib_event_get "$f" engine major)
    is "$layout" "$( ((major >= 25)) && echo oci || echo old)" "engine $major's archive layout"
    before "$f" preload-done command-start
    before "$f" dockerd-ready preload-loaded
    ev "$D/second.err" preload-done loaded=0 skipped=2 failed=0
    c=$(lib_event get "$D/second.err" preload-skipped reason --nth 1)
    [[ $c == "present: "* ]] || fail "second start: skipped for '$c'"
    mnt=(-v "$bad:/preload:ro" -e DIND_PRELOAD=/preload)
    head -c "$(($(stat -c %s "$pre/a-inner.tar") / 2))" "$pre/a-inner.tar" >"$bad/cut.tar" &&
        cp "$pre/b-gz.tar" "$bad/" || fail "cannot write $bad"
    refusal cut "${mnt[@]}"
    refused cut 'preload: /preload/cut.tar: '
    evs "$D/cut.err" "preload-failed file=/preload/cut.tar" "exit code=125"
    no_ev "$D/cut.err" command-start
    run_rc warn 0 --rm --privileged "${mnt[@]}" -e DIND_PRELOAD_ERRORS=warn "$DIND_IMAGE" \
        sh -c "docker run --rm $gz echo warn-ok"
    check_out warn warn-ok
    ev "$D/warn.err" preload-done loaded=1 skipped=0 failed=1
    # Serving: the base image (~400 MB) takes seconds to load, health 1 meanwhile; a FIFO
    mkfifo "$svc/b.fifo" && dk save -o "$svc/a-big.tar" "$BASE_IMAGE" || fail "no $BASE_IMAGE saved"
    start_c svc --privileged -v "$svc:/preload:ro" -e DIND_PRELOAD=/preload \
        -e DIND_PRELOAD_ERRORS=warn "$DIND_IMAGE"
    must "$C" "dockerd never answered" wait_event "$C" dockerd-ready 60
    health "$C" health-during.out; during=$?
    DK_TIMEOUT=20 dk exec "$C" docker version >"$D/version-during.out" 2>&1; c=$?
    wait_healthy "$C" 180; after=$?
    logs "$C" "$D/svc.log"
    DK_TIMEOUT=30 dk rm -f "$C" >/dev/null 2>&1
    rm -f "$svc/a-big.tar"
    is "$c $during $after" "0 1 0" "docker version, health during the preload; health after"
    holds "$D/health-during.out" 'still preloading'
    ev "$D/svc.log" preload-done loaded=1 failed=1
    need "$D/svc.log" 'preload: /preload/b.fifo: not a regular file (a FIFO)'
    NOTE="engine $major, $layout layout: loaded in $(lib_event_get "$f" preload-done secs) s,\
 skipped in $(lib_event_get "$D/second.err" preload-done secs) s; the base image in\
 $(lib_event_get "$D/svc.log" preload-loaded secs) s"
}

scenario_main
