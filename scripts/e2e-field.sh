#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2001,SC2119,SC2034,SC2153  # '$x' is for the shell inside the container; ALL, NAME, NOTE, ...: read by scripts/scenario.sh
# Faults and field hardening on real engines: dind-init as PID 1 of real DinD containers on a
# throwaway host dockerd (instance FIELD_INSTANCE, default field; never /var/run/docker.sock).
# Owns: the fault and field-hardening scenarios (daemons killed, MTU, storage, foreign daemons).
#
#   sudo scripts/e2e-field.sh              # every scenario
#   sudo scripts/e2e-field.sh F1 mtu H4    # a subset, by id or name
#   scripts/e2e-field.sh --list            # the scenarios
#
# Set-up, rows and logs: scripts/scenario.sh (logs in target/e2e-field[-SUITE]/). H3 also builds
# dind-init-test/python:field (lib_py_image, offline); H2 creates a bridge network with MTU 1400
# on the host daemon. Nothing sends traffic beyond loopback and the inner containers.
# Environment: DIND_SUITE, FIELD_INSTANCE, FIELD_CYCLES (F4's cycles, default 20), DIND_BIN, DIND_CACHE, CI.
set -uo pipefail
LIB_TAG=e2e-field
# shellcheck source-path=SCRIPTDIR source=scenario.sh
. "$(dirname "$0")/scenario.sh"
scenario_init "${FIELD_INSTANCE:-field}" field
PY_IMAGE=dind-init-test/python:field$DIND_SUITE_TAG NOVOLUME_IMAGE=dind-init-test/novolume:field$DIND_SUITE_TAG
F4_CYCLES=${FIELD_CYCLES:-20} SCENARIO_FN=   # scenario F1 is function F1

sc F1 dockerd-kill "kill -9 of dockerd while the command runs: restarted (restart 1/5), next docker run works"
sc F2 daemon-exit "--on-daemon-exit=exit: kill -9 of dockerd stops the command, exit 125 with the reason"
sc F3 containerd-kill "kill -9 of containerd: restarted (DIND_CONTAINERD_BY=dind-init: by dind-init at once; =dockerd: by dockerd), docker run works again, a running container survives"
sc F4 stop-start "$F4_CYCLES x docker stop/start, /var/lib/docker on a volume: inner container + volume file survive"
sc H1 grace "docker stop -t 10: inner container's TERM trap runs (marker 'clean'), --shutdown-timeout=5"
sc H2 mtu "outer network with MTU 1400: dind-init passes --mtu=1400, inner eth0 MTU 1400; on engines 24+ a user-defined network's too"
sc H3 clients "DOCKER_HOST, TESTCONTAINERS_HOST_OVERRIDE; the Docker SDK for Python drives the inner daemon"
sc H4 health "dind-init health: 1 before dockerd is up, 0 when up, 1 after it died; HEALTHCHECK healthy"
sc H5 iptables "DIND_IPTABLES=legacy / nft / auto and docker:dind's DOCKER_IPTABLES_LEGACY=1: choice logged, rules in those tables, inner container works"
sc H6 tmp-storage "/tmp not mounted over; overlayfs data root warns about vfs with the fix, a volume does not"
sc H7 grace-ignore-term "docker stop -t 10 with an inner container that ignores SIGTERM: still clean, < 10 s"
sc H8 image-store "containerd image store (daemon.json containerd-snapshotter) on engines 26+: works with /var/lib/docker on a volume, snapshots under it; on overlayfs dind-init warns"
sc H9 shared-pidns "--pid=container:VICTIM, VICTIM runs a process named containerd-shim with a child: docker stop -t 10 of the DinD container kills its inner container (ignores SIGTERM), never the victim's child; clean, < 10 s"
sc H10 foreign-socket "the DinD image with the host daemon's socket bind-mounted at /var/run/docker.sock (DinD/DooD mix-up): exit 125 naming the mount, DinD and DooD; the job never reaches the host daemon (no volume created there)"
sc H11 shared-run "/run shared with a container whose DinD daemon runs: the second exits 125 at once; the first's socket and pid file survive and it still answers"
sc H12 shared-data-root "/var/lib/docker volume shared with a serving DinD container: the second waits --data-root-wait (10 s), exits 125 naming the first (host, pid, since), starts nothing; the first still answers, its inner container runs, its volume file is there; after its clean stop a new container on the volume has them (restart always)"
sc H13 preload "DIND_PRELOAD: archives saved by the engine under test (plain, gzip) are loaded before the command, which runs them with no registry; the next start on the volume skips them; a truncated archive: exit 125 naming it, the command never runs; --preload-errors warn: logged, the command runs; serving dockerd, dind-init health answers 1 while the preload runs (dockerd answering), 0 after; a FIFO in the directory is refused at once (not a regular file), never waited on"
scenario_args "$@"
# H3 fetches the Docker SDK's wheels with pip on the host
{ [ -x /usr/bin/python3 ] && /usr/bin/python3 -m pip --version >/dev/null 2>&1; } || SETUP_DEPS=(python3-pip)

# ------------------------------------------------------------------ helpers for scenarios

# User-facing messages are text: need FILE TEXT: a dind-init line has it; logline FILE TEXT [WIDTH]: its message
need() { lib_dind_has "$1" "$2" || fail "$(basename "$1"): no dind-init log line containing '$2'"; }
logline() { lib_dind_msg "$1" "$2" "${3:-160}"; }
started() { lib_event_msg "$1" dockerd-start; }   # FILE: dockerd's command line (its first start)
# health C FILE [DOCKER-EXEC-ARGS...]: `dind-init health` in C, its status, its output in D/FILE
health() { DK_TIMEOUT=20 dk exec "${@:3}" "$1" dind-init health >"$D/$2" 2>&1; }
# health_is WANT WHAT C FILE [DOCKER-EXEC-ARGS...]: health C FILE ... exits WANT (else fail: WHAT)
health_is() { local rc; health "${@:3}"; rc=$?; [ "$rc" = "$1" ] || fail "dind-init health $2: exit $rc, expected $1 ($(head -c 200 "$D/$4"))"; }

# ------------------------------------------------------------------ faults (issue 7)

F1() {
    # The command kills dockerd itself, waits until a daemon answers again, then runs a container.
    run_rc run 0 --rm --privileged "${INNER_MOUNT[@]}" "$DIND_IMAGE" sh -c "$LOAD && p=\$(cat /var/run/docker.pid) && \
echo \"killing dockerd \$p\" >&2 && kill -9 \$p && i=0; until docker version >/dev/null 2>&1; do i=\$((i+1)); [ \$i -lt 300 ] || exit 90; \
sleep 0.1; done; [ \"\$(cat /var/run/docker.pid)\" != \"\$p\" ] || exit 91; docker run --rm $INNER_IMAGE echo after""-restart" &&
        check_out run after-restart || return 1
    evs "$D/run.err" "daemon-died daemon=dockerd status=137" "daemon-restart daemon=dockerd restart=1 max=5 delay=1" \
        "dockerd-ready restart=1" "command-exit status=0" && clean_stop "$D/run.err" || return 1
    [ "$(lib_event count "$D/run.err" dockerd-start)" = 2 ] || fail "expected 2 dockerd-start events (start + restart)" || return 1
    NOTE="$(lib_event_msg "$D/run.err" dockerd-ready restart=1 | cut -c1-80); docker run ${DUR} s"
}

F2() {
    run_rc run 125 --rm --privileged -e DIND_ON_DAEMON_EXIT=exit "${INNER_MOUNT[@]}" "$DIND_IMAGE" \
        sh -c "$LOAD && kill -9 \$(cat /var/run/docker.pid) && sleep 30; echo not""-reached" || return 1
    ! grep -q 'not-reached' "$D/run.out" || fail "the command ran on after dockerd died" || return 1
    # (the command SIGTERMed by the stop)
    evs "$D/run.err" "daemon-died daemon=dockerd status=137" "stop-begin reason=daemon" "command-exit status=143" "exit code=125" &&
        need "$D/run.err" 'dockerd: --on-daemon-exit=exit: stopping; dind-init will exit 125' || return 1
    lib_event_none "$D/run.err" daemon-restart || fail "dockerd was restarted although --on-daemon-exit=exit" || return 1
    lib_lt "$DUR" 30 || fail "took ${DUR} s (the command's sleep 30 was not cut short)" || return 1
    NOTE="exit 125 after ${DUR} s: '$(logline "$D/run.err" 'on-daemon-exit=exit' 70)'"
}

# f3 NAME [DOCKER-RUN-ARGS...]: containerd killed under a running bg, docker run until it works; F3_NOTE
f3() {
    local n=$1 old new ms out=$D/$1.out
    run_rc "$n" 0 --rm --privileged "${INNER_MOUNT[@]}" "${@:2}" "$DIND_IMAGE" sh -c "$LOAD && docker run -d --name bg $INNER_IMAGE sleep 1000 >/dev/null && \
p=\$(cat /var/run/docker/containerd/containerd.pid) && d=\$(cat /var/run/docker.pid) && echo containerd-pid \$p && kill -9 \$p && t0=\$(date +%s%N) && i=0 && \
until docker run --rm $INNER_IMAGE echo recovered 2>/tmp/err; do if [ \$i = 0 ]; then echo \"first-error \$(head -n 1 /tmp/err)\"; \
dind-init health >/dev/null 2>&1; echo health-during-gap \$?; fi; i=\$((i+1)); [ \$i -lt 600 ] || { cat /tmp/err; exit 90; }; sleep 0.1; done && \
echo recovery-ms \$(( (\$(date +%s%N) - t0) / 1000000 )) && echo new-containerd-pid \$(cat /var/run/docker/containerd/containerd.pid) && \
echo dockerd-same \$([ \"\$(cat /var/run/docker.pid)\" = \"\$d\" ] && echo yes || echo no) && echo bg \$(docker inspect -f '{{.State.Status}}' bg) && \
docker exec bg echo exec""-ok && docker rm -f bg >/dev/null && echo bg-removed" || return 1
    old=$(sed -n 's/^containerd-pid //p' "$out") new=$(sed -n 's/^new-containerd-pid //p' "$out") ms=$(sed -n 's/^recovery-ms //p' "$out")
    grep -qx recovered "$out" || fail "$n: docker run never worked again after containerd was killed" || return 1
    [ -n "$new" ] && [ "$new" != "$old" ] || fail "$n: containerd pid $old -> '$new': not restarted" || return 1
    grep -qx 'dockerd-same yes' "$out" || fail "$n: dockerd itself was replaced" || return 1
    lib_event_none "$D/$n.err" daemon-restart daemon=dockerd || fail "$n: dind-init restarted dockerd, which never died" || return 1
    grep -qx 'bg running' "$out" || fail "$n: the running inner container did not survive: $(grep '^bg ' "$out")" || return 1
    grep -qx 'exec-ok' "$out" && grep -qx 'bg-removed' "$out" || fail "$n: docker exec / rm -f of the surviving container failed" || return 1
    clean_stop "$D/$n.err" || return 1
    F3_NOTE="containerd pid $old -> $new, docker run again after $((ms / 1000)).$(printf %03d $((ms % 1000))) s, dind-init health $(sed -n 's/^health-during-gap //p' "$out") meanwhile, the running container survived"
}

F3() {
    local own_note
    # containerd run by dind-init (asked for, so on 20.10 too): restarted at once by dind-init
    f3 own -e DIND_CONTAINERD_BY=dind-init && evs "$D/own.err" "daemon-restart daemon=containerd" "containerd-ready restart=1" || return 1
    own_note=$F3_NOTE
    # dockerd's managed containerd: dockerd's own supervisor restarts it (about 10 s later).
    f3 managed -e DIND_CONTAINERD_BY=dockerd || return 1
    # 20.10: "libcontainerd: started new containerd process"; 26+: module=libcontainerd as a field
    [ "$(grep -c 'started new containerd process' "$D/managed.err")" -ge 2 ] || fail "dockerd's log does not show containerd restarted" || return 1
    NOTE="dind-init's containerd: $own_note; dockerd's: $F3_NOTE"
}

F4() {
    local i t0 times=() bad total0 total n max
    daemon_c f4 && exec_sh "$C" setup.out "$LOAD && docker volume create data >/dev/null && \
docker run --name keeper -v data:/d $INNER_IMAGE sh -c 'echo persisted-$RUNID > /d/file'" "setting up the inner container/volume" || return 1
    total0=$(lib_now)
    for ((i = 1; i <= F4_CYCLES; i++)); do
        t0=$(lib_now)
        stop_start "$C" || { FAILMSG="cycle $i: $FAILMSG"; return 1; }
        [ "$CODE" = 0 ] || fail "cycle $i: exit code $CODE after docker stop (stop took $STOP s)" || return 1
        exec_sh "$C" "check-$i.out" "docker ps -a --filter name=^keeper\$ --format '{{.Names}} {{.Status}}'; \
docker run --rm -v data:/d $INNER_IMAGE cat /d/file" "cycle $i: the checks inside" || return 1
        grep -q '^keeper Exited (0)' "$D/check-$i.out" || fail "cycle $i: inner container keeper is gone: $(head -c 200 "$D/check-$i.out" | tr '\n' '|')" || return 1
        grep -qx "persisted-$RUNID" "$D/check-$i.out" || fail "cycle $i: the volume file is gone: $(head -c 200 "$D/check-$i.out" | tr '\n' '|')" || return 1
        times+=("$STOP")
        echo "cycle $i: stop $STOP s, stop + start until healthy $(lib_since "$t0") s" >>"$D/cycles.txt"
    done
    total=$(lib_since "$total0")
    logs "$C" "$D/container.log"
    n=$(lib_event count "$D/container.log" dockerd-ready)
    [ "$n" = $((F4_CYCLES + 1)) ] || fail "$n dockerd-ready events in the log, expected $((F4_CYCLES + 1))" || return 1
    n=$(lib_event count "$D/container.log" dockerd-exit clean=true killed=false)
    [ "$n" = "$F4_CYCLES" ] || fail "$n clean dockerd shutdowns, expected $F4_CYCLES" || return 1
    no_sigkill "$D/container.log" || return 1
    bad=$(grep -i -E 'pid file found|corrupt|structure needs cleaning|input/output error|panic:|failed to load container|invalid checksum|bad message|database .*(damaged|invalid)' "$D/container.log" | head -n 3)
    [ -z "$bad" ] || fail "dockerd's log: $(cut -c1-250 <<<"$bad" | tr '\n' '|')" || return 1
    max=$(printf '%s\n' "${times[@]}" | sort -g | tail -n 1)
    lib_lt "$max" 10 || fail "a docker stop took $max s (grace period 10 s)" || return 1
    printf 'total %s s for %s cycles\nper-cycle stop times (s): %s\n' "$total" "$F4_CYCLES" "${times[*]}" >>"$D/cycles.txt"
    echo "    F4: $F4_CYCLES cycles in $total s; docker stop per cycle (s): ${times[*]}"
    NOTE="$F4_CYCLES cycles, $total s total, stop $(printf '%s\n' "${times[@]}" | sort -g | head -n 1)-$max s"
}

# ------------------------------------------------------------------ field hardening (issue 8)

armed() { dk exec "$1" docker logs trap 2>/dev/null | grep -q trap-armed; }   # C: H1's trap is set

H1() {
    daemon_c h1 && exec_sh "$C" setup.out "$LOAD && docker run -d --name trap --restart no -v marker:/m $INNER_IMAGE \
sh -c 'rm -f /m/marker; trap \"echo clean > /m/marker; exit 0\" TERM; echo trap""-armed; while true; do sleep 1; done' >/dev/null" \
        "starting the inner container" || return 1
    wait_for 10 armed "$C"
    stop_start "$C" || return 1
    dk exec "$C" sh -c "docker run --rm -v marker:/m $INNER_IMAGE cat /m/marker; docker inspect -f 'trap {{.State.Status}} {{.State.ExitCode}}' trap" >"$D/after.out" 2>&1
    logs "$C" "$D/container.log"
    ev "$D/stop.log" dockerd-start || return 1
    started "$D/stop.log" | grep -q -- ' --shutdown-timeout=5\( \|$\)' \
        || fail "dockerd's command line lacks --shutdown-timeout=5: $(started "$D/stop.log")" || return 1
    grep -qx clean "$D/after.out" || fail "marker is '$(head -n 1 "$D/after.out")', expected clean (the TERM trap did not run)" || return 1
    grep -qx 'trap exited 0' "$D/after.out" || fail "inner container: $(grep '^trap' "$D/after.out"), expected 'exited 0'" || return 1
    [ "$CODE" = 0 ] || fail "outer exit code $CODE after docker stop (137 = killed by docker)" || return 1
    ev "$D/stop.log" stop-begin reason=SIGTERM && clean_stop "$D/stop.log" || return 1
    lib_lt "$STOP" 10 || fail "docker stop -t 10 took $STOP s" || return 1
    NOTE="docker stop -t 10 took $STOP s, marker clean, inner exit 0; dockerd exited after $(lib_event_get "$D/stop.log" dockerd-exit secs) s"
    return 0   # (the note's look-up does not decide the result)
}

H2() {
    local net=$PFX-lowmtu major user_mtu user_note opt='--default-network-opt=bridge=com.docker.network.driver.mtu=1400'
    dk network create --label "$LABEL" -o com.docker.network.driver.mtu=1400 "$net" >"$D/network.out" 2>&1 ||
        { fail "cannot create a bridge network with MTU 1400 on the host daemon: $(head -c 300 "$D/network.out")"; return 1; }
    # line 1: the outer eth0; 2: an inner container on the default bridge; 3: the engine's major
    # version; 4: an inner container on a user-defined network (what compose creates)
    run_rc low 0 --rm --privileged --network "$net" "${INNER_MOUNT[@]}" "$DIND_IMAGE" \
        sh -c "cat /sys/class/net/eth0/mtu; $LOAD && docker run --rm $INNER_IMAGE cat /sys/class/net/eth0/mtu && \
docker version -f '{{.Server.Version}}' | cut -d. -f1 && docker network create usernet >/dev/null && \
docker run --rm --network usernet $INNER_IMAGE cat /sys/class/net/eth0/mtu" || return 1
    [ "$(head -n 1 "$D/low.out")" = 1400 ] || fail "the outer container's eth0 MTU is $(head -n 1 "$D/low.out"), not 1400" || return 1
    [ "$(sed -n 2p "$D/low.out")" = 1400 ] || fail "inner container's eth0 MTU '$(sed -n 2p "$D/low.out")', expected 1400" || return 1
    need "$D/low.err" 'network: default route via eth0 has MTU 1400: passing --mtu=1400 to dockerd' || return 1
    started "$D/low.err" | grep -q -- ' --mtu=1400' || fail "dockerd's command line lacks --mtu=1400" || return 1
    # user-defined networks: engines 24+ get the MTU too (--default-network-opt); 20.10 keeps 1500
    major=$(sed -n 3p "$D/low.out") user_mtu=$(sed -n 4p "$D/low.out")
    if [ "${major:-0}" -ge 24 ] 2>/dev/null; then
        [ "$user_mtu" = 1400 ] || fail "engine $major: a container on a user-defined network has MTU '$user_mtu', expected 1400" || return 1
        started "$D/low.err" | grep -q -- " $opt" || fail "engine $major: dockerd's command line lacks $opt" || return 1
        user_note="user network 1400 ($opt)"
    else
        [ "$user_mtu" = 1500 ] || fail "engine $major: user-defined network MTU '$user_mtu'" || return 1
        ! started "$D/low.err" | grep -q -- '--default-network-opt' || fail "engine $major has no --default-network-opt, yet dind-init passed it" || return 1
        user_note="user network 1500 (engine $major has no --default-network-opt)"
    fi
    # control: the default network (no default route here, or MTU 1500): no --mtu, inner MTU 1500
    run_rc default 0 --rm --privileged "${INNER_MOUNT[@]}" "$DIND_IMAGE" sh -c "$LOAD && docker run --rm $INNER_IMAGE cat /sys/class/net/eth0/mtu" &&
        check_out default 1500 && ev "$D/default.err" dockerd-start || return 1
    ! started "$D/default.err" | grep -q -- '--mtu' || fail "control run passed --mtu" || return 1
    NOTE="outer 1400 -> $(started "$D/low.err" | cut -c1-80); inner eth0 1400, $user_note (control: 1500, no --mtu)"
}

H7() {
    # dockerd would wait 10 s for the inner container; dind-init SIGKILLs it inside its budget
    local what
    daemon_c h7 && exec_sh "$C" setup.out "$LOAD && docker run -d --name noterm $INNER_IMAGE sleep 1000 >/dev/null" "starting the inner container" &&
        stop_start "$C" || return 1
    dk exec "$C" docker inspect -f 'noterm {{.State.Status}} {{.State.ExitCode}}' noterm >"$D/after.out" 2>&1
    what="docker stop -t 10 took $STOP s, outer exit $CODE, inner '$(cat "$D/after.out")'"
    no_ev "$D/stop.log" dockerd-exit killed=true || { FAILMSG="$what; $FAILMSG"; return 1; }
    lib_event_has "$D/stop.log" inner-kill || fail "$what: dind-init did not end the inner container" || return 1
    clean_stop "$D/stop.log" || { FAILMSG="$what: dockerd did not stop cleanly: $FAILMSG"; return 1; }
    [ "$CODE" = 0 ] || fail "$what: outer exit code $CODE, expected 0" || return 1
    grep -qx 'noterm exited 137' "$D/after.out" || fail "$what: expected 'noterm exited 137' (SIGKILLed)" || return 1
    lib_lt "$STOP" 10 || fail "$what: over 10 s" || return 1
    NOTE="$what"
}

# show_victim C FILE: "shim COMM", "child COMM" (or "gone") as H9's victim C sees them; victim_up: child up
show_victim() {
    DK_TIMEOUT=20 dk exec "$1" sh -c 'for w in shim child; do p=$(cat /tmp/$w 2>/dev/null); echo "$w $(cat /proc/${p:-0}/comm 2>/dev/null || echo gone)"; done' >"$2" 2>&1
}
victim_up() { show_victim "$1" "$2"; grep -qx 'child sleep' "$2"; }
victim_ok() { grep -qx 'shim containerd-shim' "$1" && grep -qx 'child sleep' "$1"; }   # FILE

H9() {
    # dind-init signals only what it owns, not a process of the shared PID namespace named like a shim
    local victim inner what
    start_c h9-victim --entrypoint /bin/sh "$DIND_IMAGE" -c \
        'ln -s /bin/sh /tmp/containerd-shim; /tmp/containerd-shim -c "sleep 1000 & echo \$! >/tmp/child; wait" & echo $! >/tmp/shim; exec sleep 100000' || return 1
    victim=$C
    wait_for 10 victim_up "$victim" "$D/victim-before.out"
    victim_ok "$D/victim-before.out" || fail "the victim's containerd-shim and its child did not start: $(tr '\n' '|' <"$D/victim-before.out")" || return 1
    daemon_c h9 --pid="container:$victim" && exec_sh "$C" setup.out "$LOAD && docker run -d --name noterm $INNER_IMAGE sleep 1000 >/dev/null && \
docker inspect -f '{{.State.Pid}}' noterm" "starting the inner container" && stop_c "$C" "$D/stop.log" -t 10 || return 1
    inner=$(tail -n 1 "$D/setup.out")
    show_victim "$victim" "$D/victim-after.out"
    DK_TIMEOUT=20 dk exec "$victim" sh -c "cat /proc/$inner/comm 2>/dev/null || echo gone" >"$D/inner-after.out" 2>&1
    what="docker stop -t 10 took $STOP s, outer exit $CODE, victim after: '$(tr '\n' ' ' <"$D/victim-after.out")', inner sleep (pid $inner): $(cat "$D/inner-after.out")"
    victim_ok "$D/victim-after.out" || fail "$what: the victim's containerd-shim or its child was killed" || return 1
    ev "$D/stop.log" start pid1=false || return 1
    lib_event_has "$D/stop.log" inner-kill || fail "$what: dind-init did not end the inner container" || return 1
    grep -qx gone "$D/inner-after.out" || fail "$what: the inner container's sleep outlived dind-init" || return 1
    clean_stop "$D/stop.log" || { FAILMSG="$what: dockerd did not stop cleanly: $FAILMSG"; return 1; }
    [ "$CODE" = 0 ] || fail "$what: outer exit code $CODE, expected 0" || return 1
    lib_lt "$STOP" 10 || fail "$what: over 10 s" || return 1
    NOTE="$what"
}

H3() {
    # 1. a plain command: DOCKER_HOST exported, TESTCONTAINERS_HOST_OVERRIDE not
    run_rc env 0 --rm --privileged "$DIND_IMAGE" sh -c 'echo "DOCKER_HOST=${DOCKER_HOST:-<unset>}"; echo "TC=${TESTCONTAINERS_HOST_OVERRIDE:-<unset>}"; docker -H "$DOCKER_HOST" version -f "{{.Server.Version}}" >/dev/null && echo answered' &&
        check_out env "$(printf 'DOCKER_HOST=unix:///var/run/docker.sock\nTC=<unset>\nanswered')" || return 1
    # 2. a DOCKER_HOST the user set is kept
    run_rc userhost 0 --rm --privileged -e DOCKER_HOST=unix:///var/run/docker.sock -e DIND_TESTCONTAINERS=false "$DIND_IMAGE" sh -c 'echo "$DOCKER_HOST"' &&
        check_out userhost unix:///var/run/docker.sock || return 1
    # 3. the Docker SDK for Python, with DIND_TESTCONTAINERS=true
    lib_py_image "$PY_IMAGE" "$D/build.log" || { fail "building $PY_IMAGE failed (see build.log)"; return 1; }
    run_rc sdk 0 --rm --privileged -e DIND_TESTCONTAINERS=true -e "INNER_IMAGE=$INNER_IMAGE" "${INNER_MOUNT[@]}" "$PY_IMAGE" python3 /usr/local/bin/sdk-check.py || return 1
    grep -qx 'DOCKER_HOST=unix:///var/run/docker.sock' "$D/sdk.out" || fail "sdk: DOCKER_HOST wrong: $(head -n 1 "$D/sdk.out")" || return 1
    grep -qx 'TESTCONTAINERS_HOST_OVERRIDE=localhost' "$D/sdk.out" || fail "sdk: TESTCONTAINERS_HOST_OVERRIDE: $(sed -n 2p "$D/sdk.out")" || return 1
    grep -qx 'result=sdk-ok' "$D/sdk.out" || fail "sdk: containers.run did not return sdk-ok: $(tr '\n' '|' <"$D/sdk.out" | head -c 200)" || return 1
    NOTE="$PY_SDK_SOURCE; $(sed -n 's/^versions: //p' "$D/sdk.out")"
}

H4() {
    local st_before test
    # dockerd that takes 6 s to start: a window in which the daemon is not up yet
    mkdir -p "$D/bin" && printf '#!/bin/sh\nsleep 6\nexec dockerd "$@"\n' >"$D/bin/slow-dockerd" && chmod 0755 "$D/bin/slow-dockerd" || return 1
    start_c h4 --privileged --health-interval 1s -v "$D/bin:/field:ro" -e DIND_DOCKERD=/field/slow-dockerd \
        -e DIND_ON_DAEMON_EXIT=ignore "$DIND_IMAGE" sleep infinity && must "$C" "dockerd was never started" wait_event "$C" dockerd-start 60 || return 1
    health_is 1 "before dockerd is up" "$C" before.out || { logs "$C" "$D/container.log"; return 1; }
    st_before=$(health_status "$C")
    must "$C" "the daemon never became ready" wait_event "$C" command-start 60 && health_is 0 "with the daemon up" "$C" up.out &&
        health_is 1 "with DOCKER_HOST=unix:///nonexistent.sock" "$C" wrongsock.out -e DOCKER_HOST=unix:///nonexistent.sock || return 1
    test=$(dk inspect -f '{{json .Config.Healthcheck.Test}}' "$C")
    [ "$test" = '["CMD","dind-init","health"]' ] || fail "the image's HEALTHCHECK is $test" || return 1
    wait_for 30 has_status "$C" healthy || fail "HEALTHCHECK status '$(health_status "$C")', expected healthy" || return 1
    dk exec "$C" sh -c 'kill -9 $(cat /var/run/docker.pid)' || { fail "kill -9 of dockerd failed"; return 1; }
    must "$C" "dind-init did not notice dockerd's death" wait_event "$C" daemon-died 20 daemon=dockerd || return 1
    health_is 1 "after dockerd was killed" "$C" dead.out || return 1
    grep -q 'unhealthy' "$D/dead.out" || fail "no 'unhealthy' message: $(head -c 200 "$D/dead.out")" || return 1
    wait_for 30 has_status "$C" unhealthy || fail "HEALTHCHECK status '$(health_status "$C")' after dockerd died, expected unhealthy" || return 1
    logs "$C" "$D/container.log"
    NOTE="before up: 1 (status $st_before), up: 0, healthy; killed: 1 '$(head -n 1 "$D/dead.out" | cut -c1-60)...', unhealthy"
}

H5() {
    local mode want notes=() b line used chosen
    # legacy, nft: DIND_IPTABLES; docker-legacy: docker:dind's DOCKER_IPTABLES_LEGACY=1; auto: neither
    local -A env=([legacy]=DIND_IPTABLES=legacy [nft]=DIND_IPTABLES=nft [auto]=H5=auto [docker-legacy]=DOCKER_IPTABLES_LEGACY=1)
    for mode in legacy nft auto docker-legacy; do
        # which tables hold dockerd's DOCKER chain (nat) after the inner run
        run_rc "$mode" 0 --rm --privileged -e "${env[$mode]}" "${INNER_MOUNT[@]}" "$DIND_IMAGE" sh -c "$LOAD && docker run --rm $INNER_IMAGE echo ipt-ok && \
for b in legacy nft; do if iptables-\$b -t nat -S DOCKER >/dev/null 2>&1; then echo \$b-has-DOCKER; else echo \$b-no-DOCKER; fi; done" ||
            { FAILMSG="DIND_IPTABLES=$mode: $FAILMSG: $(logline "$D/$mode.err" 'iptables' 200)"; return 1; }
        grep -qx ipt-ok "$D/$mode.out" || fail "DIND_IPTABLES=$mode: the inner container did not run" || return 1
        if [ "$mode" != auto ]; then
            b=${mode#docker-} want=legacy
            [ "$b" = legacy ] && want=nft
            need "$D/$mode.err" "iptables: using the $b backend (requested)" || return 1
            grep -qx "$b-has-DOCKER" "$D/$mode.out" || fail "$mode: dockerd's DOCKER chain is not in the $b tables: $(tr '\n' ' ' <"$D/$mode.out")" || return 1
            grep -qx "$want-no-DOCKER" "$D/$mode.out" || fail "$mode: DOCKER chain also in the $want tables" || return 1
            notes+=("$mode ok")
            continue
        fi
        line=$(logline "$D/auto.err" 'iptables: ' 200)
        [ -n "$line" ] || fail "auto: no 'iptables:' decision in the log" || return 1
        used=$(grep -o '^[a-z]*-has-DOCKER' "$D/auto.out" | sed 's/-has-DOCKER//' | tr '\n' '+')
        chosen=$(sed -n 's/.*iptables: using the \([a-z]*\) backend.*/\1/p' <<<"$line")
        [ -z "$chosen" ] || [ "${used%+}" = "$chosen" ] || fail "auto chose $chosen but dockerd's rules are in: ${used%+}" || return 1
        echo "auto: $line; rules in: ${used%+}" >"$D/auto-decision.txt"
        notes+=("auto: '$line' -> rules in ${used%+}")
    done
    NOTE="${notes[*]}"
}

H6() {
    local warn check="$LOAD && docker run --rm $INNER_IMAGE true && docker info -f 'driver={{.Driver}}' && \
echo \"tmp-mounts=\$(awk '\$5 == \"/tmp\"' /proc/self/mountinfo | wc -l)\" && \
echo \"tmp-fs=\$(stat -f -c %T /tmp)\" && \
echo \"tmp-in-pid1=\$(awk '\$5 == \"/tmp\"' /proc/1/mountinfo | wc -l)\""
    # 1. the product image: /var/lib/docker is a volume
    run_rc vol 0 --rm --privileged "${INNER_MOUNT[@]}" "$DIND_IMAGE" sh -c "$check" || return 1
    grep -qx 'driver=overlay2' "$D/vol.out" || fail "volume: driver $(grep '^driver=' "$D/vol.out")" || return 1
    grep -qx 'tmp-mounts=0' "$D/vol.out" && grep -qx 'tmp-in-pid1=0' "$D/vol.out" || fail "volume: something is mounted on /tmp: $(grep '^tmp' "$D/vol.out" | tr '\n' ' ')" || return 1
    ! grep -q '^tmp-fs=tmpfs' "$D/vol.out" || fail "volume: /tmp is a tmpfs" || return 1
    ! grep '^dind-init: ' "$D/vol.err" | grep -qi vfs || fail "volume: dind-init mentions vfs: $(grep '^dind-init: ' "$D/vol.err" | grep -i -m1 vfs)" || return 1
    # 2. an image without VOLUME /var/lib/docker: overlayfs; and the user's own --tmpfs /tmp
    novolume_image "$NOVOLUME_IMAGE" && run_rc overlay 0 --rm --privileged --tmpfs /tmp:rw,exec,size=65536k "${INNER_MOUNT[@]}" "$NOVOLUME_IMAGE" sh -c "$check" || return 1
    grep -qx 'driver=vfs' "$D/overlay.out" || fail "overlayfs: driver $(grep '^driver=' "$D/overlay.out"), expected vfs" || return 1
    grep -qx 'tmp-mounts=1' "$D/overlay.out" && grep -qx 'tmp-fs=tmpfs' "$D/overlay.out" || fail "--tmpfs /tmp: $(grep '^tmp' "$D/overlay.out" | tr '\n' ' ')" || return 1
    warn=$(grep '^dind-init: .* WARN ' "$D/overlay.err" | grep 'overlayfs' | grep 'vfs' | grep -- '-v dind-data:/var/lib/docker' | head -n 1)
    [ -n "$warn" ] || fail "overlayfs: no dind-init WARN naming vfs and the fix (a volume at /var/lib/docker)" || return 1
    NOTE="volume: overlay2, /tmp untouched, no vfs word; overlayfs: vfs + WARN '$(sed 's/^dind-init: +[0-9.]*s *WARN *//' <<<"$warn" | cut -c1-70)...'"
}

H8() {
    # With dind-init's containerd the snapshots are below the data root (a volume); on overlayfs
    # they cannot stack: dind-init warns. 20.10 has no image store: the feature is ignored.
    local json=$D/daemon.json engine status snaps warn
    printf '{"features": {"containerd-snapshotter": true}}\n' >"$json"
    # 1. the product image: /var/lib/docker is a volume
    run_rc vol 0 --rm --privileged -v "$json:/etc/docker/daemon.json:ro" "${INNER_MOUNT[@]}" "$DIND_IMAGE" sh -c "docker version -f 'engine={{.Server.Version}}' && \
$LOAD && docker run --rm $INNER_IMAGE echo store-ok && docker info -f 'driver={{.Driver}}' && docker info -f 'status={{json .DriverStatus}}' && \
echo \"snapshots=\$(ls /var/lib/docker/containerd/daemon/io.containerd.snapshotter.v1.overlayfs/snapshots 2>/dev/null | wc -l)\"" || return 1
    grep -qx store-ok "$D/vol.out" || fail "volume: the inner container did not run" || return 1
    engine=$(sed -n 's/^engine=//p' "$D/vol.out") status=$(sed -n 's/^status=//p' "$D/vol.out") snaps=$(sed -n 's/^snapshots=//p' "$D/vol.out")
    if [ "${engine%%.*}" -lt 26 ] 2>/dev/null; then
        grep -qx 'driver=overlay2' "$D/vol.out" || fail "engine $engine: driver $(grep '^driver=' "$D/vol.out"), expected overlay2" || return 1
        NOTE="engine $engine has no containerd image store: the feature is ignored, overlay2 serves"
        return 0
    fi
    grep -q 'io.containerd.snapshotter.v1' <<<"$status" || fail "engine $engine: not the containerd image store: $status" || return 1
    [ "${snaps:-0}" -ge 1 ] || fail "engine $engine: no snapshots under /var/lib/docker/containerd/daemon (the volume)" || return 1
    ! grep '^dind-init: .* WARN ' "$D/vol.err" | grep -q 'storage:' || fail "volume: a storage warning: $(logline "$D/vol.err" 'storage:' 120)" || return 1
    # 2. an image without VOLUME /var/lib/docker: the data root on overlayfs
    novolume_image "$NOVOLUME_IMAGE" || return 1
    run_c overlay --rm --privileged -v "$json:/etc/docker/daemon.json:ro" "${INNER_MOUNT[@]}" "$NOVOLUME_IMAGE" \
        sh -c "$LOAD && docker run --rm $INNER_IMAGE echo store-ok; echo run-rc=\$?"
    warn=$(grep '^dind-init: .* WARN ' "$D/overlay.err" | grep 'storage:' | grep 'containerd-snapshotter' | grep -- '-v dind-data:/var/lib/docker' | head -n 1)
    [ -n "$warn" ] || fail "overlayfs: no dind-init WARN naming the containerd image store and the fix: $(logline "$D/overlay.err" 'storage:' 160)" || return 1
    NOTE="engine $engine: $(grep '^driver=' "$D/vol.out"), $snaps snapshots on the volume, no warning; on overlayfs the WARN (inner run there: $(sed -n 's/^run-rc=//p' "$D/overlay.out"))"
}

H10() {
    # The throwaway host daemon's socket, never the machine's; the job would create a volume on it
    local job="$PFX-h10-job"
    run_c h10 --rm --privileged -v "$DIND_HOST_SOCK:/var/run/docker.sock" "$DIND_IMAGE" \
        sh -c "docker volume create --label $LABEL $job && echo JOB-RAN"
    ! dk volume inspect "$job" >/dev/null 2>&1 || fail "the job reached the host daemon: it created volume $job there" || return 1
    ! grep -q JOB-RAN "$D/h10.out" || fail "the job ran" || return 1
    check_rc h10 125 && need "$D/h10.err" '/var/run/docker.sock is a mount point' && need "$D/h10.err" 'Docker-outside-of-Docker' &&
        need "$D/h10.err" 'remove the mount' || return 1
    lib_event_none "$D/h10.err" dockerd-start || fail "dind-init started dockerd beside the host's socket" || return 1
    DK_TIMEOUT=10 dk version >/dev/null 2>&1 || fail "the host daemon no longer answers" || return 1
    NOTE="exit 125 after ${DUR}s, no volume on the host; '$(logline "$D/h10.err" 'is a mount point' 90)...'"
}

H11() {
    # the second must neither remove the first's live socket and pid file nor start a dockerd beside it
    local run a before after health state='echo "$(cat /var/run/docker.pid) $(stat -c %i /var/run/docker.sock)"'
    run=$(volume h11-run) || { fail "docker volume create failed"; return 1; }
    start_c h11a --privileged -v "$run:/run" "$DIND_IMAGE" sleep infinity && a=$C &&
        must "$a" "the first daemon never answered" wait_healthy "$a" 90 || return 1
    before=$(dk exec "$a" sh -c "$state")
    run_c h11b --rm --privileged -v "$run:/run" "$DIND_IMAGE" sh -c 'echo JOB-RAN'
    after=$(dk exec "$a" sh -c "$state" 2>&1)
    health "$a" first-health.out; health=$?
    logs "$a" "$D/first.log"
    [ "$before" = "$after" ] || fail "the first daemon's pid file and socket (pid, inode) were '$before', now '$after'" || return 1
    [ "$health" = 0 ] || fail "the first daemon no longer answers: $(head -c 200 "$D/first-health.out")" || return 1
    ! grep -q JOB-RAN "$D/h11b.out" || fail "the second container ran its job" || return 1
    check_rc h11b 125 && need "$D/h11b.err" '/var/run/docker.sock is served by another daemon' || return 1
    no_ev "$D/h11b.err" stale || { FAILMSG="the second removed state: $FAILMSG"; return 1; }
    NOTE="second: exit 125 after ${DUR}s; first's (pid, socket inode) '$before' kept, health 0"
}

# keeper_state C FILE: inner container keeper's status, its volume file, image-kept, per C; keeper_up: runs
keeper_state() {
    DK_TIMEOUT=20 dk exec "$1" sh -c "docker inspect -f 'keeper {{.State.Status}}' keeper; docker exec keeper cat /d/file; \
docker image inspect $INNER_IMAGE >/dev/null 2>&1 && echo image-kept" >"$2" 2>&1
}
keeper_up() { keeper_state "$1" "$2"; grep -qx 'keeper running' "$2"; }

H12() {
    # Two DinD containers on one /var/lib/docker volume (issue 21, item 3)
    local vol a host=$PFX-h12a holder waited what e
    vol=$(volume h12) || { fail "docker volume create failed"; return 1; }
    start_c h12a --privileged --hostname "$host" -v "$vol:/var/lib/docker" "${INNER_MOUNT[@]}" "$DIND_IMAGE" && a=$C &&
        must "$a" "the first daemon never answered" wait_healthy "$a" 90 && exec_sh "$a" setup.out "$LOAD && docker volume create data >/dev/null && \
docker run --rm -v data:/d $INNER_IMAGE sh -c 'echo kept-$RUNID > /d/file' && \
docker run -d --name keeper --restart always -v data:/d $INNER_IMAGE sleep 100000 >/dev/null" "setting up the inner container/volume" || return 1
    # The second, on the same volume, with the default --data-root-wait (10 s)
    run_c h12b --rm --privileged --hostname "$PFX-h12b" -v "$vol:/var/lib/docker" "${INNER_MOUNT[@]}" "$DIND_IMAGE" sh -c 'echo JOB-RAN'
    keeper_state "$a" "$D/first-after.out"
    health "$a" first-health.out || fail "the first daemon no longer answers: $(head -c 200 "$D/first-health.out")" || return 1
    ! grep -q JOB-RAN "$D/h12b.out" || fail "the second container ran its job" || return 1
    check_rc h12b 125 && need "$D/h12b.err" "data root /var/lib/docker is in use by another dind-init (host $host, pid 1, since " &&
        need "$D/h12b.err" 'its own volume for /var/lib/docker' && ev "$D/h12b.err" data-root-busy path=/var/lib/docker/dind-init.lock || return 1
    holder=$(lib_event_get "$D/h12b.err" data-root-busy holder) waited=$(lib_event_get "$D/h12b.err" data-root-busy waited)
    case "$holder" in "host=$host pid=1 since="*) ;; *) fail "data-root-busy names '$holder', not the first ($host, pid 1)"; return 1 ;; esac
    { ! lib_lt "$waited" 10 && lib_lt "$waited" 11; } || fail "the second waited $waited s, expected the 10 s default" || return 1
    lib_lt "$DUR" 20 || fail "the second took $DUR s to give up (bound 10 s)" || return 1
    for e in containerd-start dockerd-start stale; do
        no_ev "$D/h12b.err" "$e" || { FAILMSG="the second went on: $FAILMSG"; return 1; }
    done
    grep -qx 'keeper running' "$D/first-after.out" && grep -qx "kept-$RUNID" "$D/first-after.out" && grep -qx image-kept "$D/first-after.out" \
        || fail "the first's inner container, volume file or image after the refused start: $(tr '\n' '|' <"$D/first-after.out")" || return 1
    # The first stops cleanly; the next container on the volume finds everything.
    stop_c "$a" "$D/first.log" -t 10 || return 1
    [ "$CODE" = 0 ] || fail "the first: exit code $CODE after docker stop" || return 1
    clean_stop "$D/first.log" && ev "$D/first.log" data-root-lock holder= || return 1
    start_c h12c --privileged -v "$vol:/var/lib/docker" "${INNER_MOUNT[@]}" "$DIND_IMAGE" &&
        must "$C" "the next daemon never answered" wait_healthy "$C" 90 || return 1
    wait_for 30 keeper_up "$C" "$D/next-after.out"
    logs "$C" "$D/next.log"
    what="next start: $(tr '\n' ' ' <"$D/next-after.out")"
    ev "$D/next.log" data-root-lock holder= || return 1
    lib_lt "$(lib_event_get "$D/next.log" data-root-lock waited)" 1 || fail "$what: the next one waited for the lock" || return 1
    grep -qx 'keeper running' "$D/next-after.out" || fail "$what: keeper (restart always) is not running" || return 1
    grep -qx "kept-$RUNID" "$D/next-after.out" || fail "$what: the volume file is gone" || return 1
    grep -qx image-kept "$D/next-after.out" || fail "$what: the inner image is gone" || return 1
    NOTE="second: exit 125 after ${DUR}s (waited $waited s) '$(logline "$D/h12b.err" 'still after' 110)...'; first intact, clean stop; next: keeper running, file and image kept"
}

H13() {
    # Issue 21, item 2. The archives come from the engine under test (20.10: the old layout;
    # 25+: the OCI one with manifest.json), one plain and one gzip-compressed.
    local pre=$D/pre bad=$D/bad svc=$D/svc gz=dind-init-test/preload-gz:1 vol layout run secs major c during after
    local -a mnt=(-v "$pre:/preload:ro" -e DIND_PRELOAD=/preload)
    mkdir -p "$pre" "$bad" "$svc" || return 1
    run_rc save 0 --rm --privileged "${INNER_MOUNT[@]}" -v "$pre:/out" "$DIND_IMAGE" sh -c "$LOAD && docker tag $INNER_IMAGE $gz && \
docker save -o /out/a-inner.tar $INNER_IMAGE && docker save $gz | gzip >/out/b-gz.tar && chmod 0644 /out/*" || return 1
    tar -tf "$pre/a-inner.tar" >"$D/a-inner.list" || return 1
    layout=old; grep -qx index.json "$D/a-inner.list" && layout=oci
    [ "$(head -c 2 "$pre/b-gz.tar" | od -An -tx1 | tr -d ' ')" = 1f8b ] || fail "b-gz.tar is not gzip" || return 1
    vol=$(volume h13) || { fail "docker volume create failed"; return 1; }
    run="docker run --rm $INNER_IMAGE echo plain-ok && docker run --rm $gz echo gz-ok"
    # 1. A fresh volume: both loaded before the command, which needs no registry.
    run_rc first 0 --rm --privileged -v "$vol:/var/lib/docker" "${mnt[@]}" "$DIND_IMAGE" sh -c "$run" && check_out first "$(printf 'plain-ok\ngz-ok')" &&
        evs "$D/first.err" "preload-loaded file=/preload/a-inner.tar" "preload-loaded file=/preload/b-gz.tar" "preload-done loaded=2 skipped=0 failed=0" || return 1
    major=$(lib_event_get "$D/first.err" engine major)
    [ "$layout" = "$( ((major >= 25)) && echo oci || echo old)" ] || fail "engine $major wrote the $layout layout" || return 1
    lib_event_before "$D/first.err" preload-done command-start || fail "the command started before the preload was over" || return 1
    lib_event_before "$D/first.err" dockerd-ready preload-loaded || fail "a load before dockerd answered" || return 1
    # 2. The next start on the volume: both present, skipped.
    run_rc second 0 --rm --privileged -v "$vol:/var/lib/docker" "${mnt[@]}" "$DIND_IMAGE" sh -c "$run" &&
        ev "$D/second.err" preload-done loaded=0 skipped=2 failed=0 || return 1
    lib_event get "$D/second.err" preload-skipped reason --nth 1 | grep -q '^present: ' || fail "second start: skipped for '$(lib_event get "$D/second.err" preload-skipped reason --nth 1)'" || return 1
    secs=$(lib_event_get "$D/second.err" preload-done secs)
    # 3. A truncated archive: exit 125 naming it; the command never runs.
    mnt=(-v "$bad:/preload:ro" -e DIND_PRELOAD=/preload)
    head -c "$(($(stat -c %s "$pre/a-inner.tar") / 2))" "$pre/a-inner.tar" >"$bad/cut.tar" && cp "$pre/b-gz.tar" "$bad/" || return 1
    run_rc cut 125 --rm --privileged "${mnt[@]}" "$DIND_IMAGE" sh -c 'echo JOB-RAN' || return 1
    ! grep -q JOB-RAN "$D/cut.out" || fail "the command ran after a failed preload" || return 1
    ev "$D/cut.err" preload-failed file=/preload/cut.tar && need "$D/cut.err" 'preload: /preload/cut.tar: ' &&
        no_ev "$D/cut.err" command-start && ev "$D/cut.err" exit code=125 || return 1
    # 4. The same with --preload-errors warn: said, and the command runs.
    run_rc warn 0 --rm --privileged "${mnt[@]}" -e DIND_PRELOAD_ERRORS=warn "$DIND_IMAGE" sh -c "docker run --rm $gz echo warn-ok" &&
        check_out warn warn-ok && ev "$D/warn.err" preload-done loaded=1 skipped=0 failed=1 || return 1
    # 5. Serving dockerd: `dind-init health` is 1 while the preload runs, though dockerd answers.
    # The archive is big (the base image, about 400 MB, saved by the host engine): its load takes
    # seconds. A FIFO beside it is refused at once (warn), not waited on for ever.
    mkfifo "$svc/b.fifo" && dk save -o "$svc/a-big.tar" "$BASE_IMAGE" || return 1
    start_c svc --privileged -v "$svc:/preload:ro" -e DIND_PRELOAD=/preload -e DIND_PRELOAD_ERRORS=warn "$DIND_IMAGE" && c=$C &&
        must "$c" "dockerd never answered" wait_event "$c" dockerd-ready 60 || return 1
    health "$c" health-during.out; during=$?
    DK_TIMEOUT=20 dk exec "$c" docker version -f '{{.Server.Version}}' >"$D/version-during.out" 2>&1 || { fail "dockerd did not answer during the preload"; return 1; }
    wait_healthy "$c" 180; after=$?
    logs "$c" "$D/svc.log"
    DK_TIMEOUT=30 dk rm -f "$c" >/dev/null 2>&1
    rm -f "$svc/a-big.tar"
    [ "$during" = 1 ] && grep -q 'still preloading' "$D/health-during.out" || fail "health during the preload: $during '$(head -c 200 "$D/health-during.out")'" || return 1
    [ "$after" = 0 ] || fail "health never 0 after the preload" || return 1
    ev "$D/svc.log" preload-done loaded=1 failed=1 && need "$D/svc.log" 'preload: /preload/b.fifo: not a regular file (a FIFO)' || return 1
    NOTE="engine $major's $layout layout + gzip: loaded in $(lib_event_get "$D/first.err" preload-done secs) s, next start skipped in $secs s; cut: exit 125 '$(logline "$D/cut.err" 'preload: /preload/cut.tar' 90)'; warn: ran; serving: health 1 during the preload ($(lib_event_get "$D/svc.log" preload-loaded secs) s for the base image), 0 after; FIFO refused"
}

scenario_main
