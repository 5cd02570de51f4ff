#!/bin/bash
# The v2 lab's scenarios, inside the VM (started by guest-init.sh). Everything the host reads is a
# console line starting with "V2LAB ": "PASS name (T s)", "FAIL name (T s)", "| detail" lines,
# "METRIC name value" lines and "RESULT ..." at the end. The boot to run comes from the kernel
# command line: v2lab.run=main (the scenarios in MAIN, config.env), v2lab.run=legacy (modprobe.blacklist=nf_tables, the iptables-legacy check) or
# v2lab.run=prep (load the DinD image onto the data disk, /dev/vdc, which later boots reuse).
set -u
# shellcheck source=/dev/null  # written by scripts/v2-lab.sh
. /lab/lab/config.env
API=(python3 /lab/lab/dockerapi.py)
EV=(python3 /lab/lab/events.py)   # scripts/events.py, with src/events.vocab beside it
MODE=$(sed -n 's/.*v2lab\.run=\([^ ]*\).*/\1/p' /proc/cmdline)
W=/run/v2lab
mkdir -p "$W"
PASSED=0
FAILED=0
BAD=0
# DIND_WAIT_TIMEOUT: the inner dockerd needs 6-20 s to answer under TCG; leave room for a busy host.
COMMON=(--privileged --timeout "$SCEN_TIMEOUT" -e "INNER=$INNER_IMAGE" -e DIND_WAIT_TIMEOUT=180
    -v /lab/images/inner.tar:/images/inner.tar:ro -v /lab/lab:/v2lab:ro)
# V2LAB_OUTER_ENV (host): extra "K=V ..." for the outer containers, for triage.
for kv in ${OUTER_ENV:-}; do COMMON+=(-e "$kv"); done

say() { echo "V2LAB $*"; }
detail() { while IFS= read -r l; do echo "V2LAB |   $l"; done; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# kv FILE KEY: the value of the first "KEY: value" line.
kv() { sed -n "s/^$2: //p" "$1" 2>/dev/null | head -n 1; }

# expect WHAT GOT WANT: an equality check, printed either way.
expect() {
    if [ "$2" = "$3" ]; then
        say "|   ok    $1 = '$2'"
    else
        say "|   WRONG $1 = '$2' (want '$3')"
        BAD=1
    fi
}
# expect_prefix WHAT GOT PREFIX
expect_prefix() {
    case "$2" in
        "$3"*) say "|   ok    $1 = '$2' (starts with '$3')" ;;
        *) say "|   WRONG $1 = '$2' (want one starting with '$3')"; BAD=1 ;;
    esac
}
# expect_true WHAT COMMAND...
expect_true() {
    local what=$1
    shift
    if "$@"; then say "|   ok    $what"; else say "|   WRONG $what"; BAD=1; fi
}

# metric_ready NAME FILE: dind-init's time to ready (its dockerd-ready event's secs).
metric_ready() {
    local t
    t=$("${EV[@]}" get "$2" dockerd-ready secs)
    [ -n "$t" ] && say "METRIC ready-$1 ${t}s"
}

# show PREFIX: the command's stdout and dind-init's own log lines (stderr); all of stderr's tail
# when the scenario went wrong.
show() {
    say "| stdout:"
    detail <"$1.stdout"
    say "| dind-init log:"
    grep '^dind-init:' "$1.stderr" | detail
}
show_err_tail() {
    say "| last lines of the container's stderr (dockerd and dind-init):"
    tail -n "${2:-30}" "$1.stderr" | detail
    hints "$1.stderr"
}
# hints FILE: one-line diagnoses of known failures.
hints() {
    if grep -q 'AppArmor enabled on system but the docker-default profile could not be loaded' "$1"; then
        say "| DIAGNOSIS: the kernel has AppArmor (as Debian/Ubuntu hosts do), /sys/kernel/security is mounted in"
        say "|   the container (dind-init mounts securityfs), so the inner dockerd (20.10: runc's apparmor.IsEnabled)"
        say "|   wants to load its docker-default profile, but the image has no apparmor_parser (docker.io only"
        say "|   Recommends apparmor). Fix: apparmor in the image, or no securityfs mount without apparmor_parser."
        say "|   To test the cgroup part alone: V2LAB_KERNEL_ARGS=apparmor=0 scripts/v2-lab.sh"
    fi
}

scenario() { # NAME FUNCTION
    local name=$1 t0
    t0=$(now)
    BAD=0
    say "---- $name"
    "$2" || BAD=1
    if [ "$BAD" = 0 ]; then
        PASSED=$((PASSED + 1))
        say "PASS $name ($(since "$t0") s)"
    else
        FAILED=$((FAILED + 1))
        say "FAIL $name ($(since "$t0") s)"
    fi
}

# ------------------------------------------------------------------ boot: the VM's own set-up

s_boot() {
    local fstype ctrl
    fstype=$(stat -fc %T /sys/fs/cgroup)
    ctrl=$(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null)
    say "| kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo) MiB"
    say "| cmdline: $(cat /proc/cmdline)"
    say "| /proc/mounts cgroup lines: $(grep cgroup /proc/mounts | tr '\n' ';')"
    expect "/sys/fs/cgroup file system" "$fstype" cgroup2fs
    expect "cgroup v1 hierarchies mounted" "$(awk '$3 == "cgroup"' /proc/mounts | wc -l)" 0
    local c
    for c in cpuset cpu io memory hugetlb pids; do
        case " $ctrl " in *" $c "*) ;; *) say "|   WRONG controller $c missing from cgroup.controllers ($ctrl)"; BAD=1 ;; esac
    done
    say "| root cgroup.controllers: $ctrl"
    say "| AppArmor enabled in the kernel: $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null || echo no) (Debian's default, as on Debian/Ubuntu hosts)"
    if [ "$MODE" = legacy ]; then
        # nf_tables is blacklisted: the VM's own dockerd must use the legacy backend too.
        update-alternatives --set iptables /usr/sbin/iptables-legacy >/dev/null 2>&1
        update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy >/dev/null 2>&1
        say "| VM iptables: $(iptables --version 2>&1)"
    fi
    start_dockerd || return 1
    load_dind || return 1
    [ "$BAD" = 0 ]
}

# start_dockerd: the VM's own dockerd (a fixture, not what the lab tests). dockerd gives the
# containerd it starts a fixed 15 s to answer (moby's libcontainerd/supervisor startupTimeout)
# and exits when a starved TCG VM needs longer: then it is started again, at most 3 times.
DOCKERD_PID=
start_dockerd() {
    local t0 try=1
    t0=$(now)
    say "| /var/lib/docker: $(findmnt -no SOURCE,FSTYPE /var/lib/docker 2>/dev/null || echo 'on the root disk')"
    while :; do
        dockerd >"$W/dockerd.log" 2>&1 &
        DOCKERD_PID=$!
        while ! "${API[@]}" ping --timeout 5; do
            kill -0 "$DOCKERD_PID" 2>/dev/null && awk -v a="$t0" -v b="$(now)" 'BEGIN { exit !(b - a < 300) }' && continue
            break
        done
        "${API[@]}" ping --timeout 1 && break
        if kill -0 "$DOCKERD_PID" 2>/dev/null || [ "$try" -ge 3 ]; then
            say "|   WRONG the VM's dockerd did not answer /_ping (attempt $try, $(since "$t0") s); its log:"
            tail -n 30 "$W/dockerd.log" | detail
            return 1
        fi
        say "| the VM's dockerd exited before it answered (attempt $try: $(grep -m1 -o 'failed to start containerd.*' "$W/dockerd.log" || tail -n 1 "$W/dockerd.log")): again"
        try=$((try + 1))
    done
    say "|   ok    VM dockerd $(dockerd --version 2>/dev/null | cut -d, -f1) ready after $(since "$t0") s"
    expect_prefix "the VM's engine (suite $LAB_SUITE)" "$(dockerd --version 2>/dev/null)" "$EXPECT_ENGINE"
}

# load_dind: the DinD image into the VM's dockerd: the delta archive when there is one (the data
# disk already holds the base layers), else (or when the delta is refused) the full one.
load_dind() {
    local t0 f
    for f in dind-delta.tar dind.tar; do
        [ -s "/lab/images/$f" ] || continue
        t0=$(now)
        if "${API[@]}" load "/lab/images/$f" >"$W/load.out" 2>&1; then
            say "|   ok    $f: $(tr '\n' ' ' <"$W/load.out")($(since "$t0") s)"
            return 0
        fi
        say "| loading $f failed ($(since "$t0") s):"
        detail <"$W/load.out"
    done
    say "|   WRONG could not load the DinD image"
    return 1
}

# prep: fill the (writable) data disk with the DinD image, so later boots load only a delta.
s_prep() {
    start_dockerd || return 1
    local t0
    t0=$(now)
    "${API[@]}" load /lab/images/dind.tar >"$W/load.out" 2>&1 || { detail <"$W/load.out"; return 1; }
    say "|   ok    dind.tar: $(tr '\n' ' ' <"$W/load.out")($(since "$t0") s)"
    kill -TERM "$DOCKERD_PID"
    wait "$DOCKERD_PID"
    say "| VM dockerd stopped (status $?)"
    sync
    if umount /var/lib/docker; then
        say "|   ok    data disk unmounted cleanly"
        say "PREP-OK"
    else
        say "|   WRONG cannot unmount /var/lib/docker: $(grep /var/lib/docker /proc/mounts | head -n 3 | tr '\n' ';')"
        return 1
    fi
}

# ------------------------------------------------------------------ 1. --privileged

s_privileged() {
    "${API[@]}" run "${COMMON[@]}" --out "$W/s1" "$DIND_IMAGE" sh /v2lab/outer.sh echo
    local rc=$?
    show "$W/s1"
    expect "exit status" "$rc" 0
    expect "nested run output" "$(kv "$W/s1.stdout" inner-echo)" ok
    # Private cgroup namespace: the container's root is its own cgroup; dind-init nested into /init.
    expect "outer command's cgroup (private cgroupns)" "$(kv "$W/s1.stdout" outer-cgroup)" /init
    expect_prefix "the DinD image's engine (suite $LAB_SUITE, $(kv "$W/s1.stdout" os))" "$(kv "$W/s1.stdout" engine)" "$EXPECT_ENGINE"
    expect_prefix "the DinD image's docker CLI" "$(kv "$W/s1.stdout" cli)" "$EXPECT_ENGINE"
    metric_ready privileged "$W/s1.stderr"
    [ "$BAD" = 0 ] || show_err_tail "$W/s1"
}

# ------------------------------------------------------------------ 2. limits

s_limits() {
    "${API[@]}" run "${COMMON[@]}" --out "$W/s2" "$DIND_IMAGE" sh /v2lab/outer.sh limits
    local rc=$?
    show "$W/s2"
    expect "exit status" "$rc" 0
    expect "memory.max" "$(kv "$W/s2.stdout" memory.max)" 67108864
    expect "cpu.max" "$(kv "$W/s2.stdout" cpu.max)" "50000 100000"
    expect "pids.max" "$(kv "$W/s2.stdout" pids.max)" 50
    [ "$BAD" = 0 ] || show_err_tail "$W/s2"
}

# ------------------------------------------------------------------ 3. --cgroupns=host

s_cgroupns_host() {
    "${API[@]}" run "${COMMON[@]}" --cgroupns host --out "$W/s3" "$DIND_IMAGE" sh /v2lab/outer.sh cgroupns-host
    local rc=$? cid
    cid=$(cat "$W/s3.id" 2>/dev/null)
    show "$W/s3"
    say "| outer container id: $cid (the VM's dockerd puts it in /docker/$cid)"
    expect "exit status" "$rc" 0
    expect "outer command's cgroup" "$(kv "$W/s3.stdout" outer-cgroup)" "/docker/$cid/init"
    expect "memory.max" "$(kv "$W/s3.stdout" memory.max)" 67108864
    expect "cpu.max" "$(kv "$W/s3.stdout" cpu.max)" "50000 100000"
    expect "pids.max" "$(kv "$W/s3.stdout" pids.max)" 50
    expect_prefix "inner container's cgroup" "$(kv "$W/s3.stdout" inner-cgroup)" "/docker/$cid/"
    expect "inner container's memory.max at that path" "$(kv "$W/s3.stdout" inner-memory.max)" 33554432
    expect_true "nothing nested at the VM's root cgroup (no /sys/fs/cgroup/init)" test ! -e /sys/fs/cgroup/init
    say "| VM root cgroup's children after the run: $(find /sys/fs/cgroup -mindepth 1 -maxdepth 1 -type d -printf '%f ')"
    [ "$BAD" = 0 ] || show_err_tail "$W/s3"
}

# ------------------------------------------------------------------ dind-init not PID 1

# `docker run --init` (docker-init, i.e. tini, is PID 1; dind-init its child), as in a
# Kubernetes pod with shareProcessNamespace: the container's cgroup still holds only this PID
# namespace's processes, so dind-init must nest it all the same, and say which case it saw.
s_not_pid1() {
    "${API[@]}" run "${COMMON[@]}" --init --out "$W/s7" "$DIND_IMAGE" sh /v2lab/outer.sh not-pid1
    local rc=$? pid
    show "$W/s7"
    pid=$(kv "$W/s7.stdout" dind-init-pid)
    expect "exit status" "$rc" 0
    expect "PID 1 (docker run --init)" "$(kv "$W/s7.stdout" pid1)" docker-init
    expect_true "dind-init is not PID 1 (pid '$pid')" test -n "$pid" -a "$pid" != 1
    expect "outer command's cgroup" "$(kv "$W/s7.stdout" outer-cgroup)" /init
    expect "PID 1's cgroup (moved with the rest)" "$(kv "$W/s7.stdout" pid1-cgroup)" /init
    expect "nested run output" "$(kv "$W/s7.stdout" inner-echo)" ok
    expect_true "dind-init logged the case it saw (PID 1 of its namespace and its processes)" \
        sh -c "python3 /lab/lab/events.py msg '$W/s7.stderr' cgroups | grep -q '^cgroups: nesting .*(it holds PID 1 of this PID namespace and its processes)'"
    [ "$BAD" = 0 ] || show_err_tail "$W/s7"
}

# ------------------------------------------------------------------ 4. the field error

s_field_contrast() {
    local cid rc
    cid=$("${API[@]}" run --detach "${COMMON[@]}" --entrypoint dockerd "$DIND_IMAGE") || {
        say "|   WRONG cannot start the container with --entrypoint dockerd"
        return 1
    }
    "${API[@]}" exec "$cid" --timeout "$SCEN_TIMEOUT" --out "$W/s4" sh /v2lab/outer.sh field
    rc=$?
    "${API[@]}" logs "$cid" --out "$W/s4-daemon"
    "${API[@]}" rm "$cid"
    say "| docker exec ... outer.sh field: status $rc; stdout:"
    detail <"$W/s4.stdout"
    say "| its stderr (the nested docker run's error, verbatim):"
    detail <"$W/s4.stderr"
    say "| the inner dockerd's log lines about it:"
    grep -i 'cgroup\|subtree\|level=error\|level=fatal\|failed to' "$W/s4-daemon.stderr" | tail -n 12 | detail
    expect "inner daemon came up (only the nested runs should fail)" "$(kv "$W/s4.stdout" daemon)" ready
    local prc lrc mem
    prc=$(kv "$W/s4.stdout" plain-rc)
    lrc=$(kv "$W/s4.stdout" limits-rc)
    mem=$(kv "$W/s4.stdout" memory.max)
    say "| plain nested run: status '$prc', output '$(kv "$W/s4.stdout" plain-output)'"
    say "| nested run with limits: status '$lrc', memory.max '$mem', cpu.max '$(kv "$W/s4.stdout" cpu.max)', pids.max '$(kv "$W/s4.stdout" pids.max)'"
    if [ "$prc" = 0 ] && [ "$lrc" = 0 ] && [ "$mem" = 67108864 ]; then
        say "|   WRONG without dind-init's nesting everything worked: no contrast to show"
        BAD=1
    else
        say "|   ok    without dind-init's nesting the nested runs fail"
    fi
    grep -v '^== ' "$W/s4.stderr" >"$W/s4.errors"
    expect_true "the error is the cgroup v2 one (names cgroup/subtree/threaded/busy)" \
        grep -qi 'cgroup\|subtree\|threaded\|resource busy' "$W/s4.errors"
    grep -i 'error' "$W/s4.errors" | grep -i 'cgroup\|subtree\|threaded\|busy' | head -n 3 |
        while IFS= read -r l; do say "| FIELD-ERROR: $l"; done
    [ "$BAD" = 0 ]
}

# ------------------------------------------------------------------ 5. limits on the outer container

# The outer container gets --memory 1g --pids-limit 400 (the VM's dockerd sets them on
# /docker/ID); with --cgroupns=host the nested container's /proc/self/cgroup is the real path.
OUTER_MEM=1073741824
OUTER_PIDS=400
s_outer_limits() {
    "${API[@]}" run "${COMMON[@]}" --cgroupns host --memory "$OUTER_MEM" --pids-limit "$OUTER_PIDS" \
        --out "$W/s6" "$DIND_IMAGE" sh /v2lab/outer.sh outer-limits
    local rc=$? cid inner
    cid=$(cat "$W/s6.id" 2>/dev/null)
    show "$W/s6"
    metric_ready outer-limits "$W/s6.stderr"
    say "| outer container id: $cid (--memory $OUTER_MEM --pids-limit $OUTER_PIDS: /docker/$cid)"
    expect "exit status" "$rc" 0
    expect "outer command's cgroup" "$(kv "$W/s6.stdout" outer-cgroup)" "/docker/$cid/init"
    inner=$(kv "$W/s6.stdout" inner-cgroup)
    expect_prefix "nested container's cgroup" "$inner" "/docker/$cid/"
    expect "memory.max of the outer cgroup, seen from the nested container" \
        "$(sed -n "s|^ancestor: /docker/$cid memory.max=\([^ ]*\) .*|\1|p" "$W/s6.stdout")" "$OUTER_MEM"
    expect "pids.max of the outer cgroup, seen from the nested container" \
        "$(sed -n "s|^ancestor: /docker/$cid .*pids.max=\([^ ]*\)\$|\1|p" "$W/s6.stdout")" "$OUTER_PIDS"
    local n
    n=$(kv "$W/s6.stdout" forks)
    say "| the nested container's fork loop (up to 800 sleeps) started $n before fork failed"
    expect_true "the outer pids.max holds inside: the loop stopped below $OUTER_PIDS" \
        sh -c "[ -n '$n' ] && [ '$n' -gt 0 ] && [ '$n' -lt $OUTER_PIDS ]"
    expect "the VM's view of /docker/$cid/memory.max after the run" "$(cat "/sys/fs/cgroup/docker/$cid/memory.max" 2>/dev/null || echo gone)" gone
    [ "$BAD" = 0 ] || show_err_tail "$W/s6"
}

# ------------------------------------------------------------------ 6. docker stop

# Daemon mode (no command): dind-init serves dockerd until `docker stop`, which must be clean:
# exit status 0 or 143 (what dind-init reports), `dockerd exited cleanly`, no SIGKILL anywhere
# (137 would be docker's SIGKILL after the 10 s grace).
s_clean_stop() {
    local cid rc t0
    cid=$("${API[@]}" run --detach "${COMMON[@]}" "$DIND_IMAGE") || {
        say "|   WRONG cannot start the DinD container in daemon mode"
        return 1
    }
    t0=$(now)
    "${API[@]}" wait-log "$cid" "ready: dockerd answered" --timeout "$SCEN_TIMEOUT"
    rc=$?
    expect "ready line in the log (wait-log status)" "$rc" 0
    say "| ready seen by the lab after $(since "$t0") s"
    "${API[@]}" stop "$cid" --time 10 >"$W/s7.stop" 2>&1
    expect "docker stop status" "$?" 0
    "${API[@]}" logs "$cid" --out "$W/s7"
    "${API[@]}" rm "$cid"
    say "| docker stop: $(tr '\n' ' ' <"$W/s7.stop")"
    say "| dind-init log:"
    grep '^dind-init:' "$W/s7.stderr" | detail
    local code took
    code=$(kv "$W/s7.stop" exit-code)
    took=$(kv "$W/s7.stop" stopped-after)
    case "$code" in
        0|143) say "|   ok    exit status = '$code' (0 or 143)" ;;
        *) say "|   WRONG exit status = '$code' (want 0 or 143; 137 = killed)"; BAD=1 ;;
    esac
    expect_true "docker stop took less than its 10 s grace ($took s)" awk -v t="$took" 'BEGIN { exit !(t != "" && t < 10) }'
    expect_true "dind-init logged a clean dockerd exit" "${EV[@]}" has "$W/s7.stderr" dockerd-exit clean=true killed=false
    expect "dind-init's SIGKILLs (dockerd, inner processes)" \
        "$("${EV[@]}" count "$W/s7.stderr" dockerd-exit killed=true) $("${EV[@]}" count "$W/s7.stderr" inner-kill)" "0 0"
    metric_ready clean-stop "$W/s7.stderr"
    say "METRIC stop-clean-stop ${took}s"
    [ "$BAD" = 0 ] || show_err_tail "$W/s7"
}

# ------------------------------------------------------------------ 7. nf_tables blacklisted

s_iptables_legacy() {
    expect_true "nf_tables is not loaded before the run" sh -c '! grep -q "^nf_tables " /proc/modules'
    "${API[@]}" run "${COMMON[@]}" --out "$W/s5" "$DIND_IMAGE" sh /v2lab/outer.sh echo
    local rc=$?
    show "$W/s5"
    expect "exit status" "$rc" 0
    expect "nested run output" "$(kv "$W/s5.stdout" inner-echo)" ok
    expect_true "nf_tables is still not loaded" sh -c '! grep -q "^nf_tables " /proc/modules'
    expect_true "dind-init chose the legacy backend (log mentions iptables ... legacy)" \
        grep -qi '^dind-init:.*iptables.*legacy' "$W/s5.stderr"
    [ "$BAD" = 0 ] || show_err_tail "$W/s5" 40
}

# ONLY (V2LAB_SCENARIOS on the host): run just these scenarios (the boot check always runs).
want() { [ -z "${ONLY:-}" ] || case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

case "$MODE" in
prep)
    scenario prep s_prep
    ;;
main)
    say "| lab: $LAB_ARCH $LAB_SUITE, scenarios: $MAIN"
    scenario boot s_boot
    if [ "$FAILED" = 0 ]; then
        for s in $MAIN; do
            f=s_$(echo "$s" | tr - _)
            if ! declare -F "$f" >/dev/null; then
                say "FAIL $s (no such scenario)"
                FAILED=$((FAILED + 1))
                continue
            fi
            want "$s" && scenario "$s" "$f"
        done
    fi
    ;;
legacy)
    scenario boot-legacy s_boot
    [ "$FAILED" = 0 ] && want iptables-legacy && scenario iptables-legacy s_iptables_legacy
    ;;
*)
    say "FAIL unknown-mode (v2lab.run='$MODE')"
    ;;
esac
say "RESULT passed=$PASSED failed=$FAILED"
