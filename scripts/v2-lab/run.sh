#!/bin/bash
# The v2 lab's scenarios, inside the VM (started by guest-init.sh). The host reads the console
# lines starting with "V2LAB ": "PASS|FAIL NAME SECONDS", "| detail", "METRIC NAME VALUE". The
# kernel command line's v2lab.run=main runs MAIN (config.env), =legacy the iptables-legacy check.
set -u
# shellcheck source=/dev/null  # written by scripts/v2-lab.sh (declare -p of its settings)
. /lab/lab/config.env
API=(python3 /lab/lab/dockerapi.py)
EV=(python3 /lab/lab/events.py)   # scripts/events.py, with src/events.vocab beside it
MODE=$(sed -n 's/.*v2lab\.run=\([^ ]*\).*/\1/p' /proc/cmdline)
W=/run/v2lab
mkdir -p "$W"
# DIND_WAIT_TIMEOUT: the inner dockerd needs 6-20 s to answer under TCG, more on a busy host.
COMMON=(--privileged --timeout "$SCEN_TIMEOUT" -e "INNER=$INNER_IMAGE" -e DIND_WAIT_TIMEOUT=180
    -v /lab/images/inner.tar:/images/inner.tar:ro -v /lab/lab:/v2lab:ro)

say() { echo "V2LAB $*"; }
detail() { sed 's/^/V2LAB |   /'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
kv() { sed -n "s/^$2: //p" "$1" 2>/dev/null | head -n 1; }   # FILE KEY: the first "KEY: value"
out() { kv "$P.stdout" "$1"; }                              # KEY: from the last run_outer
ok() { say "|   ok    $*"; }
wrong() { say "|   WRONG $*"; BAD=1; return 1; }

# expect WHAT GOT WANT; expect_true WHAT COMMAND...; expect_prefix WHAT GOT PREFIX
expect() { if [ "$2" = "$3" ]; then ok "$1 = '$2'"; else wrong "$1 = '$2' (want '$3')"; fi; }
expect_true() { local what=$1; shift; if "$@"; then ok "$what"; else wrong "$what"; fi; }
expect_prefix() { expect_true "$1 = '$2' (want '$3...')" test "${2#"$3"}" != "$2"; }
# expect_forks FILE LIMIT: outer.sh's fork loop stopped below LIMIT
expect_forks() {
    local n
    n=$(kv "$1" forks)
    say "| the nested fork loop (up to 800) started $n before fork failed ($(kv "$1" fork-error))"
    expect_true "the outer pids.max holds inside: the loop stopped below $2" \
        test "${n:-0}" -gt 0 -a "${n:-0}" -lt "$2"
}
# metric_ready NAME FILE: dind-init's time to ready (its dockerd-ready event's secs).
metric_ready() {
    local t
    t=$("${EV[@]}" get "$2" dockerd-ready secs) && [ -n "$t" ] && say "METRIC ready-$1 ${t}s"
}
show_log() { say "| dind-init log:"; grep '^dind-init:' "$1" | detail; }   # FILE: a stderr

# run_outer ARG [RUN-OPTIONS...]: the DinD container running `outer.sh ARG`, output in
# P=$W/ARG.{stdout,stderr,id}; its stdout and dind-init's log shown, its exit status checked.
run_outer() {
    P=$W/$1
    "${API[@]}" run "${COMMON[@]}" "${@:2}" --out "$P" "$DIND_IMAGE" sh /v2lab/outer.sh "$1"
    expect "exit status" "$?" 0
    say "| stdout:"
    detail <"$P.stdout"
    show_log "$P.stderr"
}

# exec_outer CID ARG: `docker exec CID sh outer.sh ARG`, output in $W/ARG.{stdout,stderr}
exec_outer() {
    "${API[@]}" exec --timeout "$SCEN_TIMEOUT" --out "$W/$2" "$1" sh /v2lab/outer.sh "$2"
}

# scenario NAME FUNCTION: a PASS/FAIL line; on a failure the tail of the last container's stderr
scenario() {
    local t0
    t0=$(now)
    BAD=0 P=
    say "---- $1"
    "$2" || BAD=1
    if [ "$BAD" = 0 ]; then say "PASS $1 $(since "$t0")"; return 0; fi
    if [ -n "$P" ]; then
        say "| last lines of the container's stderr (dockerd and dind-init):"
        tail -n 40 "$P.stderr" | detail
    fi
    say "FAIL $1 $(since "$t0")"
    return 1
}

# ---- boot: the VM's cgroups, then its own dockerd (a fixture). Its containerd is started first,
# as on a systemd host: a dockerd that starts its own gives it only 15 s, too short under TCG.
s_boot() {
    local c ctrl t0 s=/run/containerd/containerd.sock end=$((SECONDS + 300))
    ctrl=$(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null)
    say "| kernel $(uname -r), $(nproc) CPUs, $(free -m | awk '/Mem:/ { print $2 }') MiB"
    expect "/sys/fs/cgroup file system" "$(stat -fc %T /sys/fs/cgroup)" cgroup2fs
    expect "cgroup v1 hierarchies mounted" "$(awk '$3 == "cgroup"' /proc/mounts | wc -l)" 0
    for c in cpuset cpu io memory hugetlb pids; do
        [[ " $ctrl " == *" $c "* ]] || wrong "controller $c missing from cgroup.controllers"
    done
    say "| root cgroup.controllers: $ctrl"
    say "| AppArmor enabled: $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null || echo no)"
    if [ "$MODE" = legacy ]; then   # nf_tables is blacklisted: the VM's dockerd goes legacy too
        for c in iptables ip6tables; do
            update-alternatives --set $c /usr/sbin/$c-legacy >/dev/null 2>&1
        done
        say "| VM iptables: $(iptables --version 2>&1)"
    fi
    t0=$(now)
    say "| /var/lib/docker: $(findmnt -no SOURCE,FSTYPE /var/lib/docker || echo 'on the root disk')"
    containerd >"$W/containerd.log" 2>&1 &
    until [ -S "$s" ] || [ $SECONDS -ge $end ] || ! kill -0 $! 2>/dev/null; do
        sleep 0.2
    done
    dockerd --containerd="$s" >"$W/dockerd.log" 2>&1 &
    if "${API[@]}" ping --timeout 300; then
        ok "VM dockerd $(dockerd --version | cut -d, -f1) ready after $(since "$t0") s"
        expect_prefix "the VM's engine (suite $SUITE)" "$(dockerd --version)" "$EXPECT_ENGINE"
        return 0
    fi
    wrong "the VM's dockerd did not answer /_ping ($(since "$t0") s); the logs of it, containerd:"
    tail -n 20 "$W/dockerd.log" "$W/containerd.log" | detail
    return 1
}

# ---- the scenarios

s_privileged() {
    run_outer echo
    expect "nested run output" "$(out inner-echo)" ok
    # Private cgroup namespace: the container's root is its own cgroup; dind-init nested into /init.
    expect "outer command's cgroup (private cgroupns)" "$(out outer-cgroup)" /init
    expect_prefix "the DinD image's engine ($(out os))" "$(out engine)" "$EXPECT_ENGINE"
    expect_prefix "the DinD image's docker CLI" "$(out cli)" "$EXPECT_ENGINE"
    metric_ready privileged "$P.stderr"
}

# expect_limits: the nested run saw its --memory 64m --cpus 0.5 --pids-limit 50.
expect_limits() {
    expect "memory.max" "$(out memory.max)" 67108864
    expect "cpu.max" "$(out cpu.max)" "50000 100000"
    expect "pids.max" "$(out pids.max)" 50
}

s_limits() { run_outer limits; expect_limits; }

# expect_nested: the outer command in /docker/CID/init, a nested container below /docker/CID.
expect_nested() {
    CID=$(cat "$P.id")
    say "| outer container id: $CID (the VM's dockerd puts it in /docker/$CID)"
    expect "outer command's cgroup" "$(out outer-cgroup)" "/docker/$CID/init"
    expect_prefix "nested container's cgroup" "$(out inner-cgroup)" "/docker/$CID/"
}

s_cgroupns_host() {
    run_outer cgroupns-host --cgroupns host
    expect_nested
    expect_limits
    expect "inner container's memory.max at that path" "$(out inner-memory.max)" 33554432
    expect_true "nothing nested at the VM's root cgroup (no /sys/fs/cgroup/init)" \
        test ! -e /sys/fs/cgroup/init
}

# `docker run --init` (docker-init, i.e. tini, is PID 1), as in a Kubernetes pod with
# shareProcessNamespace: dind-init must nest all the same, and say which case it saw.
s_not_pid1() {
    local pid seen='(it holds PID 1 of this PID namespace and its processes)'
    run_outer not-pid1 --init
    pid=$(out dind-init-pid)
    expect "PID 1 (docker run --init)" "$(out pid1)" docker-init
    expect_true "dind-init is not PID 1 (pid '$pid')" test -n "$pid" -a "$pid" != 1
    expect "outer command's cgroup" "$(out outer-cgroup)" /init
    expect "PID 1's cgroup (moved with the rest)" "$(out pid1-cgroup)" /init
    expect "nested run output" "$(out inner-echo)" ok
    expect_true "dind-init logged the case it saw (PID 1 of its namespace and its processes)" \
        grep -q "^dind-init: .*cgroups: nesting .*$seen" "$P.stderr"
}

# The field error: the same image with `--entrypoint dockerd` (no nesting step).
s_field_contrast() {
    local cid rc x='cgroup\|subtree\|threaded\|resource busy'
    P=$W/field
    cid=$("${API[@]}" run --detach "${COMMON[@]}" --entrypoint dockerd "$DIND_IMAGE") ||
        { wrong "cannot start the container with --entrypoint dockerd"; return 1; }
    exec_outer "$cid" field
    rc=$?
    "${API[@]}" rm "$cid" --out "$P-daemon"
    say "| outer.sh field: status $rc; stdout, stderr (the nested runs' errors):"
    detail <"$P.stdout"
    detail <"$P.stderr"
    say "| the inner dockerd's log lines about it:"
    grep -i "$x\|level=error\|level=fatal\|failed to" "$P-daemon.stderr" | tail -n 12 | detail
    expect "inner daemon came up (only the nested runs should fail)" "$(out daemon)" ready
    expect_true "without dind-init's nesting the nested runs fail" \
        test "$(out plain-rc)" != 0 -o "$(out limits-rc)" != 0 -o "$(out memory.max)" != 67108864
    grep -v '^== ' "$P.stderr" >"$P.errors"
    expect_true "the error is the cgroup v2 one (names cgroup/subtree/threaded/busy)" \
        grep -qi "$x" "$P.errors"
    grep -i 'error' "$P.errors" | grep -i "$x" | head -n 3 | sed 's/^/V2LAB | FIELD-ERROR: /'
}

# The outer container with --memory 1g --pids-limit 400 and --cgroupns=host (the nested
# container's /proc/self/cgroup is the real path): the limits hold below it.
OUTER_MEM=1073741824 OUTER_PIDS=400
s_outer_limits() {
    local x
    run_outer outer-limits --cgroupns host --memory "$OUTER_MEM" --pids-limit "$OUTER_PIDS"
    metric_ready outer-limits "$P.stderr"
    expect_nested
    for x in memory.max="$OUTER_MEM" pids.max="$OUTER_PIDS"; do
        expect "${x%=*} of the outer cgroup, seen from the nested container" \
            "$(sed -n "s|^ancestor: /docker/$CID .*${x%=*}=\([^ ]*\).*|\1|p" "$P.stdout")" "${x#*=}"
    done
    expect_forks "$P.stdout" "$OUTER_PIDS"
    expect "the VM's view of /docker/$CID/memory.max after the run" \
        "$(cat "/sys/fs/cgroup/docker/$CID/memory.max" 2>/dev/null || echo gone)" gone
}

# start_daemon NAME IMAGE [RUN-OPTIONS...]: IMAGE without a command (daemon mode), detached, until
# dind-init logs `ready:`; CID its id, output later in P=$W/NAME.*
start_daemon() {
    P=$W/$1
    CID=$("${API[@]}" run --detach "${COMMON[@]}" "${@:3}" "$2") ||
        { wrong "cannot start $2 in daemon mode"; return 1; }
    "${API[@]}" wait-log "$CID" "ready: dockerd answered" --timeout "$SCEN_TIMEOUT"
    expect "ready line in the log (wait-log status)" "$?" 0 ||
        { "${API[@]}" rm "$CID" --out "$P"; return 1; }   # its log for scenario()
}

# stop_clean NAME: `docker stop -t 10` of CID must be clean (dind-init's log in $P.stderr);
# METRIC ready-NAME and stop-NAME.
stop_clean() {
    local code took
    "${API[@]}" stop "$CID" >"$P.stop" 2>&1
    expect "docker stop status" "$?" 0
    "${API[@]}" rm "$CID" --out "$P"
    show_log "$P.stderr"
    code=$(kv "$P.stop" exit-code) took=$(kv "$P.stop" stopped-after)
    expect_true "exit status = '$code' (want 0 or 143; 137 = killed)" \
        test "$code" = 0 -o "$code" = 143
    expect_true "docker stop took less than its 10 s grace ($took s)" \
        awk -v t="$took" 'BEGIN { exit !(t != "" && t < 10) }'
    expect_true "dind-init logged a clean dockerd exit" \
        "${EV[@]}" has "$P.stderr" dockerd-exit clean=true killed=false
    expect "dind-init's SIGKILLs (dockerd, inner processes)" "$("${EV[@]}" count "$P.stderr" \
        dockerd-exit killed=true) $("${EV[@]}" count "$P.stderr" inner-kill)" "0 0"
    metric_ready "$1" "$P.stderr"
    say "METRIC stop-$1 ${took}s"
}

s_clean_stop() { start_daemon clean-stop "$DIND_IMAGE" && stop_clean clean-stop; }

# A rootless dockerd (the rootless image, daemon mode) with an outer --pids-limit: every inner
# container stays in the outer cgroup (docs/V2-LAB.md, "A rootless dockerd").
ROOTLESS_PIDS=200
s_rootless_outer_limits() {
    local cg ev x e=$W/rootless-limits.stdout
    # What a host with udev has: tun (and fuse) loaded, /dev/net/tun 0666 (dind-init is uid 1000).
    modprobe -a tun fuse 2>/dev/null
    chmod 0666 /dev/net/tun || { wrong "no /dev/net/tun in the VM"; return 1; }
    start_daemon rootless "$ROOTLESS_IMAGE" --pids-limit "$ROOTLESS_PIDS" || return 1
    cg=/sys/fs/cgroup/docker/$CID
    say "| outer container: $CID, --pids-limit $ROOTLESS_PIDS (the VM's view: $cg)"
    expect "pids.max of the outer container's cgroup" "$(cat "$cg/pids.max")" "$ROOTLESS_PIDS"
    exec_outer "$CID" rootless-limits
    expect "docker exec ... outer.sh rootless-limits: status" "$?" 0
    say "| its stdout:"
    detail <"$e"
    x=$(kv "$e" info)
    expect "uid of the command in the outer container (USER rootless)" "$(kv "$e" uid)" 1000
    expect_true "docker info: cgroup driver none, rootless ('$x')" \
        test "${x#none }" != "$x" -a "${x#*rootless}" != "$x"
    expect_forks "$e" "$ROOTLESS_PIDS"
    ev=$(find "$cg" -name pids.events -exec sed -n 's/^max //p' {} + |
        awk '{ s += $1 } END { print s + 0 }')
    expect_true "the failed forks were the pids controller's (pids.events 'max' in its tree: $ev)" \
        test "$ev" -gt 0
    expect "a nested run after the loop (dockerd survived)" "$(kv "$e" after-echo)" ok
    stop_clean rootless-outer-limits
    expect_true "dind-init ran dockerd rootless as uid 1000 (event rootless)" \
        "${EV[@]}" has "$P.stderr" rootless uid=1000
    expect "rootless-limits events (once, at start)" \
        "$("${EV[@]}" count "$P.stderr" rootless-limits driver=none)" 1
}

# nf_tables blacklisted (the legacy boot): dind-init picks the legacy backend.
s_iptables_legacy() {
    expect_true "nf_tables is not loaded before the run" not_loaded nf_tables
    run_outer echo
    expect "nested run output" "$(out inner-echo)" ok
    expect_true "nf_tables is still not loaded" not_loaded nf_tables
    expect_true "dind-init chose the legacy backend (log mentions iptables ... legacy)" \
        grep -qi '^dind-init:.*iptables.*legacy' "$P.stderr"
}
not_loaded() { ! grep -q "^$1 " /proc/modules; }

case "$MODE" in
main)
    say "| lab: $ARCH $SUITE, scenarios: $MAIN"
    scenario boot s_boot || MAIN=
    for s in $MAIN; do
        if declare -F "s_${s//-/_}" >/dev/null; then scenario "$s" "s_${s//-/_}"
        else say "FAIL $s 0 (no such scenario)"; fi
    done
    ;;
legacy) scenario boot-legacy s_boot && scenario iptables-legacy s_iptables_legacy ;;
*) say "FAIL unknown-mode 0 (v2lab.run='$MODE')" ;;
esac
