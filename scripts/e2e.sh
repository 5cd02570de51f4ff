#!/usr/bin/env bash
# shellcheck disable=SC2034  # NOTE, SCENARIO_FN, ...: read by scripts/scenario.sh
# The real Docker-in-Docker matrix: dind-init as PID 1 of real DinD containers on a throwaway
# host dockerd (instance E2E_INSTANCE, default e2e; never /var/run/docker.sock).
# Owns: the real DinD matrix's scenarios (start-up, exit codes, the stop, restarts, TTYs).
#
#   sudo scripts/e2e.sh                 # every scenario
#   sudo scripts/e2e.sh 1 stop 12       # a subset, by number or name
#   scripts/e2e.sh --list               # the scenarios
#
# Set-up, rows and logs: scripts/scenario.sh (logs in target/e2e[-SUITE]/). DIND_SUITE=trixie|sid
# picks the inner engine (lib.sh); DIND_BIN=/path skips the build. There is no registry: inner.tar
# is bind-mounted at /images/inner.tar and `docker load`ed by the command; scenario 10 (no shell)
# loads it with an exec-form command into a volume that the next container runs from.
set -uo pipefail
LIB_TAG=e2e
# shellcheck source-path=SCRIPTDIR source=scenario.sh
. "$(dirname "$0")/scenario.sh"
scenario_init "${E2E_INSTANCE:-e2e}" e2e
NOSHELL_IMAGE=dind-init-test/noshell:e2e$DIND_SUITE_TAG NOVOLUME_IMAGE=dind-init-test/novolume:e2e$DIND_SUITE_TAG
FAIL_TAIL=40 HOST_TAIL=25 SCENARIO_FN=s   # lines shown on a failure; scenario N is function sN
sc 1 privileged "--privileged: an inner docker run works"
sc 2 cgroup-tmpfs "--privileged --tmpfs /sys/fs/cgroup: dind-init mounts every hierarchy"
sc 3 capabilities "--cap-add ALL (less what the host lacks), unconfined: works or exits 125 naming what is missing"
sc 4 unprivileged "no privileges: exit 125 within 5 s telling to add --privileged"
sc 5 exit-status "exit status 0, 1, 42, 255, SIGKILL 137, SIGTERM 143"
sc 6 stop "docker stop of sleep infinity: fast, clean dockerd and containerd shutdown, no SIGKILL; dockerd's managed containerd; DIND_WAIT_CONTAINERD=1"
sc 7 restart "docker restart x3 on a named volume: comes up each time, inner image + container survive"
sc 8 zombies "100 orphans: no zombie left"
sc 9 tty "docker run -it: Ctrl-C reaches the command, dockerd runs until it exited"
sc 10 no-shell "no shell in the image: exec-form command works"
sc 11 storage "storage: overlay2 on a volume; on overlayfs a vfs warning naming the fix"
sc 12 cgroup-nesting "inner containers stay inside the outer container's cgroup"
sc 13 restart-policies "docker stop + start restores what dockerd's own clean restart restores (always, unless-stopped)"
sc 14 tty-sidecar "docker run -d -t (no command, a TTY, no human): docker stop is fast and clean; -it gives a shell"
sc 15 stop-budget "the stop budget counts from docker stop's SIGTERM: a command ignoring TERM, a slow trap"
scenario_args "$@"

# dind_error FILE: the first ERROR message of dind-init in FILE
dind_error() { lib_dind_lines "$1" | grep -m1 '^dind-init: +[0-9.]*s ERROR ' | sed 's/^dind-init: +[0-9.]*s ERROR *//'; }

# ------------------------------------------------------------------ the scenarios

s1() {
    run_rc run 0 --rm --privileged "${INNER_MOUNT[@]}" "$DIND_IMAGE" \
        sh -c "$LOAD && exec docker run --rm $INNER_IMAGE echo ok" && check_out run ok || return 1
    NOTE="inner daemon ready after $(lib_event_get "$D/run.err" dockerd-ready secs) s, docker run ${DUR} s"
    return 0   # (the note's look-up does not decide the result)
}

s2() {
    local c missing=()
    run_rc run 0 --rm --privileged --tmpfs /sys/fs/cgroup "${INNER_MOUNT[@]}" "$DIND_IMAGE" \
        sh -c "grep -E '^cgroup2? ' /proc/self/mounts; $LOAD && exec docker run --rm $INNER_IMAGE echo ok" || return 1
    [ "$(tail -n 1 "$D/run.out")" = ok ] || fail "inner docker run did not print ok" || return 1
    # every v1 hierarchy the host kernel has mounted (enabled, hierarchy id != 0) + cgroup2
    while read -r c; do
        awk -v c="$c" '$3 == "cgroup" { n = split($4, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) f = 1 } END { exit !f }' \
            "$D/run.out" || missing+=("$c")
    done < <(awk 'NR > 1 && $2 != 0 && $4 == 1 { print $1 }' /proc/cgroups | sort -u)
    grep -q '^cgroup /sys/fs/cgroup/systemd ' /proc/self/mounts && ! grep -q ' cgroup .*name=systemd' "$D/run.out" && missing+=(name=systemd)
    [ ${#missing[@]} -eq 0 ] || fail "no cgroup mount inside for: ${missing[*]}" || return 1
    grep -q '^cgroup /sys/fs/cgroup/memory cgroup ' "$D/run.out" || fail "/sys/fs/cgroup/memory is not mounted" || return 1
    ! grep -q ' /sys/fs/cgroup/unified cgroup2 ' /proc/self/mounts || grep -q '^cgroup2 /sys/fs/cgroup/unified cgroup2 ' "$D/run.out" ||
        fail "/sys/fs/cgroup/unified (cgroup2) is not mounted" || return 1
    NOTE="$(grep -c '^cgroup' "$D/run.out") cgroup mounts made"
}

s3() {
    local drops=() c why
    for c in $(lib_missing_caps); do drops+=(--cap-drop "${c^^}"); done
    run_c run --rm --cap-add ALL "${drops[@]}" --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
        --security-opt systempaths=unconfined "${INNER_MOUNT[@]}" "$DIND_IMAGE" sh -c "$LOAD && exec docker run --rm $INNER_IMAGE echo ok"
    if [ "$RC" = 0 ] && [ "$(cat "$D/run.out")" = ok ]; then
        NOTE="outcome: inner run works without --privileged; dind-init's cgroups: $(lib_event_get "$D/run.err" cgroups mode), own $(lib_event_get "$D/run.err" cgroups own), $(lib_event_get "$D/run.err" cgroups ms) ms"
        lib_event_msg "$D/run.err" cgroups >"$D/outcome.txt"
        return 0
    fi
    [ "$RC" = 125 ] || fail "exit status $RC: neither a working inner run (0, ok) nor a set-up failure (125)" || return 1
    why=$(dind_error "$D/run.err")
    [ -n "$why" ] || fail "exit 125 but no dind-init ERROR line says why" || return 1
    echo "$why" >"$D/outcome.txt"
    NOTE="outcome: exit 125: $why"
}

s4() {
    local t
    run_rc run 125 --rm "$DIND_IMAGE" true || return 1
    grep -q -- '--privileged' "$D/run.err" || fail "no message telling to add --privileged" || return 1
    t=$(lib_event_t "$D/run.err" exit code=125 --last)
    [ -n "$t" ] || fail "no exit event with code 125 from dind-init" || return 1
    lib_lt "$t" 5 || fail "dind-init took ${t}s to give up (limit 5 s)" || return 1
    lib_lt "$DUR" 5 || fail "docker run took ${DUR}s (limit 5 s)" || return 1
    NOTE="dind-init gave up at +${t}s, docker run ${DUR} s: $(dind_error "$D/run.err" | cut -c1-90)..."
}

s5() {
    local i bad=() pids=()
    local -A cmd=([0]=true [1]=false [42]="sh -c 'exit 42'" [255]="sh -c 'exit 255'"
        [137]="sh -c 'kill -KILL \$\$'" [143]="sh -c 'kill -TERM \$\$'")   # expected status -> command
    for i in "${!cmd[@]}"; do
        eval "run_c st$i --rm --privileged \"\$DIND_IMAGE\" ${cmd[$i]}" &
        pids+=($!)
    done
    wait "${pids[@]}"   # (not the host dockerd)
    for i in "${!cmd[@]}"; do
        check_rc "st$i" "$i" || bad+=("$FAILMSG")
        ev "$D/st$i.err" command-exit "status=$i" || bad+=("$FAILMSG")
        clean_stop "$D/st$i.err" || bad+=("st$i: dockerd did not exit cleanly: $FAILMSG")
    done
    [ ${#bad[@]} -eq 0 ] || fail "${bad[*]}" || return 1
    NOTE="6 containers in parallel"
}

s6() {
    local major own_log=$D/container.log waited
    start_c stop --privileged "$DIND_IMAGE" sleep infinity && must "$C" "the command never started" wait_event "$C" command-start 90 &&
        stop_c "$C" "$D/container.log" && clean_stop "$D/container.log" && no_sigkill "$D/container.log" || return 1
    [ "$CODE" = 143 ] || fail "exit code $CODE, expected 143 (sleep killed by the forwarded SIGTERM; 137 = docker's SIGKILL)" || return 1
    lib_lt "$STOP" 8 || fail "docker stop took ${STOP}s (want well inside 10 s: < 8 s)" || return 1
    grep -q 'Daemon shutdown complete' "$D/container.log" || fail "the inner dockerd never logged 'Daemon shutdown complete'" || return 1
    # Who starts containerd by default: dind-init from Docker 23 on (stopped after dockerd, both
    # cleanly); on 20.10 dockerd, and dind-init when asked.
    major=$(lib_event_get "$D/container.log" engine major)
    [ -n "$major" ] || fail "no engine event (the image's PACKAGE VERSION)" || return 1
    if [ "$major" -lt 23 ]; then
        no_ev "$D/container.log" containerd-start || { FAILMSG="Docker $major: containerd not left to dockerd by default: $FAILMSG"; return 1; }
        run_rc own 0 --rm --privileged -e DIND_CONTAINERD_BY=dind-init "$DIND_IMAGE" true || return 1
        own_log=$D/own.err
    fi
    ev "$own_log" containerd-exit clean=true killed=false || { FAILMSG="containerd did not stop cleanly after dockerd: $FAILMSG"; return 1; }
    lib_event_before "$own_log" dockerd-exit containerd-exit || fail "containerd stopped before dockerd" || return 1
    # dind-init writes the config version the installed containerd reads (3 for containerd 2.x)
    ! grep -q 'Configuration migrated from version' "$own_log" || fail "containerd migrated dind-init's config: $(grep -m1 'Configuration migrated' "$own_log" | cut -c1-200)" || return 1
    # With dockerd's managed containerd, dind-init ends dockerd's fixed 1 s wait for it ...
    run_rc managed 0 --rm --privileged -e DIND_CONTAINERD_BY=dockerd "$DIND_IMAGE" true || return 1
    ev "$D/managed.err" dockerd-exit ended_wait=true ||
        fail "dind-init did not end dockerd's final containerd wait: $(lib_event_msg "$D/managed.err" dockerd-exit)" || return 1
    # ... unless DIND_WAIT_CONTAINERD=1 asks to let dockerd sit it out.
    run_rc wait 0 --rm --privileged -e DIND_CONTAINERD_BY=dockerd -e DIND_WAIT_CONTAINERD=1 "$DIND_IMAGE" true || return 1
    waited=$(lib_event_get "$D/wait.err" dockerd-exit secs clean=true killed=false ended_wait=false)
    [ -n "$waited" ] || fail "DIND_WAIT_CONTAINERD=1: no clean dockerd-exit that sat out the wait: $(lib_event_msg "$D/wait.err" dockerd-exit)" || return 1
    NOTE="docker stop took ${STOP} s, exit 143; containerd by default: $([ "$major" -lt 23 ] && echo "dockerd's (Docker $major)" || echo "dind-init's (Docker $major)"); dind-init's: dockerd then containerd clean; dockerd's managed containerd: its wait ended; with DIND_WAIT_CONTAINERD=1 its shutdown took ${waited} s"
}

s7() {
    local i t0 times=() n stale=""
    daemon_c restart && exec_sh "$C" load.out "$LOAD && docker run --name keepme $INNER_IMAGE true" "docker load + inner docker run --name keepme" || return 1
    # 1, 3: clean restarts; 2: restart -t 0 (SIGKILL at once: pid files and sockets left behind)
    for i in 1 2 3; do
        t0=$(lib_now)
        if [ "$i" = 2 ]; then dk restart -t 0 "$C" >/dev/null; else dk restart "$C" >/dev/null; fi || { fail "docker restart $i failed"; return 1; }
        must "$C" "restart $i: the daemon did not come back" wait_healthy "$C" 90 || return 1
        times+=("$(lib_since "$t0")")
    done
    logs "$C" "$D/container.log"
    dk exec "$C" sh -c "docker image ls --format '{{.Repository}}:{{.Tag}}'; docker ps -a --format '{{.Names}} {{.Status}}'" >"$D/state.out" 2>&1
    grep -qx "$INNER_IMAGE" "$D/state.out" || fail "$INNER_IMAGE is gone after the restarts" || return 1
    grep -q '^keepme Exited (0)' "$D/state.out" || fail "the stopped inner container keepme is gone after the restarts" || return 1
    n=$(lib_event count "$D/container.log" dockerd-ready)
    [ "$n" = 4 ] || fail "$n dockerd-ready events in the log, expected 4 (first start + 3 restarts)" || return 1
    lib_event_has "$D/container.log" stale && stale=", stale state removed after restart -t 0"
    NOTE="restarts took ${times[*]} s until healthy$stale"
}

orphans_gone() { # C: no `sleep 4` left in C (its ps in D/ps-after.out)
    dk exec "$1" ps -eo pid=,ppid=,stat=,args= >"$D/ps-after.out" 2>&1
    ! awk '$4 == "sleep" && $5 == "4"' "$D/ps-after.out" | grep -q .
}

s8() {
    local n z zp
    # 100 orphans: each (sleep 4 &) subshell exits at once, its sleep is re-parented to PID 1
    start_c zombies --privileged "$DIND_IMAGE" sh -c 'i=0; while [ $i -lt 100 ]; do (sleep 4 &); i=$((i+1)); done; echo spawned""orphans; exec sleep infinity' &&
        must "$C" "the command never spawned its orphans" wait_log "$C" 'spawnedorphans' 90 || return 1
    dk exec "$C" ps -eo pid=,ppid=,stat=,args= >"$D/ps-before.out" 2>&1
    n=$(awk '$2 == 1 && $4 == "sleep" && $5 == "4"' "$D/ps-before.out" | wc -l)
    [ "$n" -ge 50 ] || fail "only $n orphaned 'sleep 4' children of PID 1 seen (expected ~100)" || return 1
    wait_for 30 orphans_gone "$C"
    z=$(awk '$3 ~ /^Z/' "$D/ps-after.out" | wc -l)
    zp=$(dk exec "$C" sh -c 'grep -l "^State:.*Z" /proc/[0-9]*/status 2>/dev/null | wc -l')
    [ "$z" = 0 ] && [ "$zp" = 0 ] || fail "$z zombie(s) in ps, $zp in /proc after the orphans exited" || return 1
    ! awk '$4 == "sleep" && $5 == "4"' "$D/ps-after.out" | grep -q . || fail "orphans still there after 30 s" || return 1
    DK_TIMEOUT=30 dk stop "$C" >/dev/null
    logs "$C" "$D/container.log"
    NOTE="$n orphans re-parented to PID 1, 0 zombies after they exited"
}

# pty_run NAME MARKER KEYS DOCKER-RUN-ARGS...: `docker run -it --rm` (labelled, PFX-NAME) on a pty, KEYS typed
# 1 s after MARKER shows; D/NAME.out (.txt: no CRs), RC and D/NAME.rc, D/NAME.err "keys typed: True; after it: N s"
pty_run() {
    local n=$1
    timeout --foreground -k 10 150 python3 - "$2" "$3" "$DOCKER_CLI" run -it --rm --label "$LABEL" --name "$PFX-$n" "${@:4}" \
        >"$D/$n.out" 2>"$D/$n.err" <<'PY'
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
sys.stderr.write("keys typed: %s; after it: %.2f s\n" % (bool(sent), time.time() - (sent or [time.time()])[0]))
sys.exit(os.waitstatus_to_exitcode(status))
PY
    RC=$?
    echo "$RC" >"$D/$n.rc"
    tr -d '\r' <"$D/$n.out" >"$D/$n.txt"
}

s9() {
    # Markers are split with "" so that dind-init's "command: started ..." line cannot match them.
    local script='trap "echo GOT""INT; sleep 1; docker version -f {{.Server.Version}} >/dev/null && echo DAEMON""ALIVE; exit 3" INT; echo E2E""READY; while :; do sleep 1; done'
    pty_run tty E2EREADY $'\x03' --privileged "$DIND_IMAGE" sh -c "$script"   # Ctrl-C, typed on the terminal
    [ "$RC" = 3 ] || fail "exit status $RC, expected 3 (the command's trap exits 3)" || return 1
    grep -q 'GOTINT' "$D/tty.txt" || fail "the command did not get SIGINT" || return 1
    grep -q 'DAEMONALIVE' "$D/tty.txt" || fail "dockerd was not answering while the command handled Ctrl-C" || return 1
    ! grep -q "Processing signal 'interrupt'" "$D/tty.txt" || fail "dockerd received the SIGINT" || return 1
    ev "$D/tty.txt" command-exit status=3 && ev "$D/tty.txt" stop-begin reason=command-exit || return 1
    lib_event_before "$D/tty.txt" command-exit stop-begin || fail "dockerd was not stopped after the command exited" || return 1
    NOTE="Ctrl-C -> exit took $(sed -n 's/^keys typed: True; after it: //p' "$D/tty.err") (the trap sleeps 1 s, checks dockerd, exits 3)"
}

s10() {
    local vol sh
    build_image "$NOSHELL_IMAGE" "no shell" "FROM $DIND_IMAGE" \
        'RUN ["/usr/bin/rm", "-f", "/bin/sh", "/bin/bash", "/bin/dash", "/bin/rbash", "/usr/bin/sh", "/usr/bin/bash", "/usr/bin/dash", "/usr/bin/rbash"]' || return 1
    for sh in /bin/sh /bin/bash /bin/dash; do
        run_c "has-${sh##*/}" --rm --entrypoint "$sh" "$NOSHELL_IMAGE" -c true
        [ "$RC" != 0 ] || fail "$sh still runs in $NOSHELL_IMAGE" || return 1
    done
    vol=$(volume noshell) || { fail "docker volume create failed"; return 1; }
    run_rc load 0 --rm --privileged -v "$vol:/var/lib/docker" "${INNER_MOUNT[@]}" "$NOSHELL_IMAGE" docker load -i /images/inner.tar &&
        run_rc run 0 --rm --privileged -v "$vol:/var/lib/docker" "$NOSHELL_IMAGE" docker run --rm "$INNER_IMAGE" true &&
        run_rc echo 0 --rm --privileged -v "$vol:/var/lib/docker" "$NOSHELL_IMAGE" docker run --rm "$INNER_IMAGE" echo no-shell-ok &&
        check_out echo no-shell-ok || return 1
    NOTE="no sh/bash/dash; exec-form docker load, docker run ... true / echo"
}

s11() {
    local warn
    run_rc vol 0 --rm --privileged "$DIND_IMAGE" docker info -f '{{.Driver}}' && check_out vol overlay2 || return 1
    ! grep -q 'vfs' "$D/vol.err" || fail "a vfs warning although /var/lib/docker is a volume" || return 1
    novolume_image "$NOVOLUME_IMAGE" && run_rc novol 0 --rm --privileged "$NOVOLUME_IMAGE" docker info -f '{{.Driver}}' || return 1
    warn=$(grep '^dind-init: .* WARN ' "$D/novol.err" | grep 'vfs' | grep 'volume' | head -n 1)
    [ -n "$warn" ] || fail "no dind-init warning naming vfs and the volume fix" || return 1
    NOTE="volume: overlay2; overlayfs: $(cat "$D/novol.out"), warned"
}

short() { sed -E 's/([0-9a-f]{12})[0-9a-f]{52}/\1…/g' <<<"$1"; }   # container ids shortened
# cg_path /proc/PID/cgroup-CONTENT: the memory hierarchy's path, or cgroup2's on v2
cg_path() { awk -F: '$2 ~ /(^|,)memory(,|$)/ { m = $3 } $1 == "0" && $2 == "" { u = $3 } END { print (m != "" ? m : u) }' <<<"$1"; }

s12() {
    local tag=98$RUNID outer_host inner_view outer_view hp inner_host oh ih ov iv k h escaped=()
    # (also the image's HEALTHCHECK, `dind-init health`, run every second here instead of 10 s)
    start_c nest --privileged --health-interval 1s "${INNER_MOUNT[@]}" "$DIND_IMAGE" &&
        must "$C" "the daemon never became healthy" wait_healthy "$C" 90 && exec_sh "$C" load.out "$LOAD" "docker load inside" || return 1
    wait_for 10 has_status "$C" healthy ||
        fail "HEALTHCHECK status '$(health_status "$C")', expected healthy ($(dk inspect -f '{{json .Config.Healthcheck.Test}}' "$C"))" || return 1
    exec_sh "$C" nested.out "docker run -d --name nested $INNER_IMAGE sleep $tag" "inner docker run -d" || return 1
    outer_host=$(cat "/proc/$(dk inspect -f '{{.State.Pid}}' "$C")/cgroup")
    outer_view=$(dk exec "$C" cat /proc/1/cgroup)
    inner_view=$(dk exec "$C" docker exec nested cat /proc/self/cgroup)
    for hp in /proc/[0-9]*; do [ "$(tr '\0' ' ' 2>/dev/null <"$hp/cmdline")" = "sleep $tag " ] && break; hp=; done
    [ -n "$hp" ] || fail "cannot find the inner container's process on the host" || return 1
    inner_host=$(cat "$hp/cgroup")
    logs "$C" "$D/container.log"
    printf '%s:\n%s\n' "outer (host view)" "$outer_host" "outer (own view)" "$outer_view" "inner (host view)" "$inner_host" \
        "inner (own view)" "$inner_view" >"$D/cgroups.txt"
    # In every hierarchy the inner container's cgroup (the host's view) is below the outer's.
    oh=$(cg_path "$outer_host"); oh=${oh%/init}
    case "$oh" in *"$(dk inspect -f '{{.Id}}' "$C")"*) ;; *) fail "outer cgroup $oh does not name the container id" || return 1 ;; esac
    while IFS=: read -r k h ih; do
        oh=$(awk -F: -v k="$k" '$1 == k { print $3 }' <<<"$outer_host"); oh=${oh%/init}
        case "$ih" in "${oh%/}"/*) ;; *) escaped+=("${h:-cgroup2}: inner $(short "$ih") is not below outer $(short "$oh")") ;; esac
    done <<<"$inner_host"
    ov=$(cg_path "$outer_view"); ov=${ov%/init}
    iv=$(cg_path "$inner_view")
    case "$iv" in "${ov%/}"/*) ;; *) escaped+=("own view: inner $(short "$iv") not below outer $(short "$ov")") ;; esac
    # Stop the inner container before the outer one goes, so that its cgroups are removed.
    DK_TIMEOUT=30 dk exec "$C" docker rm -f nested >/dev/null 2>&1
    [ ${#escaped[@]} -eq 0 ] || fail "inner container outside the outer's cgroup: ${escaped[*]}" || return 1
    NOTE="inner memory cgroup $(short "$iv"), every hierarchy inside; HEALTHCHECK healthy"
}

# inner_states C: "name state" of every inner container, sorted; inner_up C: always, unless-stopped run
inner_states() { DK_TIMEOUT=30 dk exec "$1" docker ps -a --format '{{.Names}} {{.State}}' 2>/dev/null | sort; }
inner_up() { inner_states "$1" | grep -qx 'always running' && inner_states "$1" | grep -qx 'unless-stopped running'; }

s13() {
    local own after kept
    # (a shell as PID 1 that ends on SIGTERM: a bare `sleep` as PID 1 ignores it)
    daemon_c policies && exec_sh "$C" setup.out "$LOAD && docker volume create data >/dev/null && \
docker run --rm -v data:/data $INNER_IMAGE sh -c 'echo kept > /data/file' && for p in always unless-stopped no on-failure; do \
docker run -d --name \$p --restart \$p -v data:/data $INNER_IMAGE sh -c 'trap \"exit 0\" TERM; while :; do sleep 1; done' >/dev/null || exit; done" \
        "docker load, the inner volume and the inner docker run --restart POLICY" || return 1
    inner_states "$C" >"$D/before.txt"
    # What dockerd itself restores after its own clean restart (SIGTERM; dind-init restarts it)
    dk exec "$C" sh -c 'kill -TERM $(cat /var/run/docker.pid)' || { fail "cannot signal the inner dockerd"; return 1; }
    must "$C" "the inner dockerd did not come back" wait_event "$C" dockerd-ready 60 restart=1 || return 1
    wait_for 60 inner_up "$C"
    own=$(inner_states "$C")
    echo "$own" >"$D/own-restart.txt"
    stop_start "$C" || return 1
    wait_for 60 inner_up "$C"
    after=$(inner_states "$C")
    echo "$after" >"$D/after-start.txt"
    [ "$after" = "$own" ] || fail "after docker stop + start: $(tr '\n' ',' <<<"$after"); after dockerd's own restart: $(tr '\n' ',' <<<"$own")" || return 1
    grep -qx 'unless-stopped running' <<<"$after" && grep -qx 'always running' <<<"$after" \
        || fail "always/unless-stopped not running: $(tr '\n' ',' <<<"$after")" || return 1
    grep -qx 'no exited' <<<"$after" || fail "the --restart no container: $(grep '^no ' <<<"$after")" || return 1
    kept=$(dk exec "$C" docker run --rm -v data:/data "$INNER_IMAGE" cat /data/file 2>&1)
    [ "$kept" = kept ] || fail "inner volume data: '$kept', expected 'kept'" || return 1
    clean_stop "$D/stop.log" && no_sigkill "$D/stop.log" || { FAILMSG="the stop: $FAILMSG"; return 1; }
    lib_lt "$STOP" 8 || fail "docker stop took ${STOP}s" || return 1
    NOTE="docker stop ${STOP} s (exit $CODE), after start: $(grep -c running <<<"$after") running (always, unless-stopped), as after dockerd's own restart; volume kept"
}

s14() {
    # A sidecar with a TTY and nobody typing (Kubernetes `tty: true`, docker run -d -t).
    start_c sidecar --privileged -t "$DIND_IMAGE" && must "$C" "the daemon never answered" wait_healthy "$C" 90 &&
        stop_c "$C" "$D/sidecar.log" || return 1
    grep -q 'starting /bin/bash -l' "$D/sidecar.log" || fail "no login shell was started on the TTY" || return 1
    clean_stop "$D/sidecar.log" || return 1
    lib_lt "$STOP" 3 || fail "docker stop took ${STOP}s (the shell ignored SIGTERM?)" || return 1
    [ "$CODE" = 129 ] || fail "exit status $CODE, expected 129 (the login shell hung up)" || return 1
    # A human on the TTY (docker run -it, no command) still gets a shell.
    pty_run it '{command-start ' $'echo SHELL""-OK; exit 7\r' --privileged "$DIND_IMAGE"
    [ "$RC" = 7 ] || fail "docker run -it: exit status $RC, expected 7 (typed 'exit 7')" || return 1
    grep -q 'SHELL-OK' "$D/it.txt" || fail "the typed command did not run in a shell" || return 1
    clean_stop "$D/it.txt" || { FAILMSG="-it: $FAILMSG"; return 1; }
    NOTE="-d -t: docker stop ${STOP} s, exit $CODE, clean; -it: shell ran 'echo', exit 7"
}

s15() {
    local d1
    # A command that ignores SIGTERM: it gets half the budget, then SIGKILL; dockerd stops cleanly.
    start_c noterm --privileged "$DIND_IMAGE" bash -c 'trap "" TERM; while :; do sleep 1; done' &&
        must "$C" "the command never started" wait_event "$C" command-start 90 && stop_c "$C" "$D/noterm.log" || return 1
    [ "$CODE" = 137 ] || fail "exit $CODE, expected 137 (the command SIGKILLed by dind-init)" || return 1
    grep -q 'Daemon shutdown complete' "$D/noterm.log" || fail "no 'Daemon shutdown complete': dockerd was killed" || return 1
    clean_stop "$D/noterm.log" && ev "$D/noterm.log" command-kill || return 1
    lib_lt "$STOP" 7 || fail "docker stop took ${STOP}s" || return 1
    d1=$STOP
    # A slow TERM trap (3 s) and an inner container that ignores SIGTERM: counted from the
    # command's exit the stop would need 3 + 8 s; from docker stop's SIGTERM it fits 10 s.
    start_c slowtrap --privileged "${INNER_MOUNT[@]}" "$DIND_IMAGE" bash -c \
        "$LOAD && docker run -d --name stubborn $INNER_IMAGE sh -c 'trap \"\" TERM; while :; do sleep 1; done' && echo SLOW\"\"TRAP-ARMED && trap 'sleep 3; exit 5' TERM; while :; do sleep 0.2; done" &&
        must "$C" "the command never got ready" wait_log "$C" 'SLOWTRAP-ARMED' 90 && stop_c "$C" "$D/slowtrap.log" -t 10 || return 1
    [ "$CODE" = 5 ] || fail "exit $CODE, expected 5 (the trap's status)" || return 1
    lib_event_has "$D/slowtrap.log" inner-kill || fail "the stubborn inner container was not killed by dind-init" || return 1
    clean_stop "$D/slowtrap.log" || return 1
    lib_lt "$STOP" 10.5 || fail "docker stop took ${STOP}s (docker's grace is 10 s)" || return 1
    NOTE="ignoring TERM: stop ${d1} s, exit 137, dockerd clean; slow trap + stubborn inner container: ${STOP} s, exit 5, clean"
}

scenario_main
