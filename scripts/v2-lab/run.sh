#!/bin/bash
# The v2 lab's scenarios, inside the VM (started by guest-init.sh). The host reads console lines
# starting with "V2LAB ": "PASS name (T s)", "FAIL name (T s)", "| detail", "METRIC name value" and
# "RESULT ..." at the end. The boot comes from the kernel command line: v2lab.run=main (the
# scenarios in MAIN, config.env) or legacy (nf_tables blacklisted: the iptables-legacy check).
set -u
# shellcheck source=/dev/null  # written by scripts/v2-lab.sh (declare -p of its settings)
. /lab/lab/config.env
API=(python3 /lab/lab/dockerapi.py)
EV=(python3 /lab/lab/events.py)   # scripts/events.py, with src/events.vocab beside it
MODE=$(sed -n 's/.*v2lab\.run=\([^ ]*\).*/\1/p' /proc/cmdline)
W=/run/v2lab
mkdir -p "$W"
PASSED=0 FAILED=0 BAD=0 P=
# DIND_WAIT_TIMEOUT: the inner dockerd needs 6-20 s to answer under TCG; leave room for a busy host.
COMMON=(--privileged --timeout "$SCEN_TIMEOUT" -e "INNER=$INNER_IMAGE" -e DIND_WAIT_TIMEOUT=180
    -v /lab/images/inner.tar:/images/inner.tar:ro -v /lab/lab:/v2lab:ro)

say() { echo "V2LAB $*"; }
detail() { while IFS= read -r l; do echo "V2LAB |   $l"; done; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
kv() { sed -n "s/^$2: //p" "$1" 2>/dev/null | head -n 1; }   # FILE KEY: the first "KEY: value"
out() { kv "$P.stdout" "$1"; }                              # KEY: from the last run_outer's stdout
wrong() { say "|   WRONG $*"; BAD=1; }

# expect WHAT GOT WANT: an equality check, printed either way.
expect() { if [ "$2" = "$3" ]; then say "|   ok    $1 = '$2'"; else wrong "$1 = '$2' (want '$3')"; fi; }
# expect_true WHAT COMMAND..., expect_prefix WHAT GOT PREFIX
expect_true() { local what=$1; shift; if "$@"; then say "|   ok    $what"; else wrong "$what"; fi; }
expect_prefix() { expect_true "$1 = '$2' (wanted: starting with '$3')" test "${2#"$3"}" != "$2" -o -z "$3"; }
# expect_forks FILE LIMIT: the fork loop of outer.sh's FORK_LOOP stopped below LIMIT
expect_forks() {
    local n
    n=$(kv "$1" forks)
    say "| the nested container's fork loop (up to 800 sleeps) started $n before fork failed ($(kv "$1" fork-error))"
    expect_true "the outer pids.max holds inside: the loop stopped below $2" \
        sh -c "[ -n '$n' ] && [ '$n' -gt 0 ] && [ '$n' -lt $2 ]"
}

# metric_ready NAME FILE: dind-init's time to ready (its dockerd-ready event's secs).
metric_ready() { local t; t=$("${EV[@]}" get "$2" dockerd-ready secs) && [ -n "$t" ] && say "METRIC ready-$1 ${t}s"; }
# show_log FILE: dind-init's own log lines in FILE (a container's stderr)
show_log() { say "| dind-init log:"; grep '^dind-init:' "$1" | detail; }

# run_outer NAME ARG [RUN-OPTIONS...]: the DinD container running `outer.sh ARG`, output in
# P=$W/NAME.{stdout,stderr,id}; its stdout and dind-init's log shown, its exit status checked.
run_outer() {
    local arg=$2
    P=$W/$1
    shift 2
    "${API[@]}" run "${COMMON[@]}" "$@" --out "$P" "$DIND_IMAGE" sh /v2lab/outer.sh "$arg"
    expect "exit status" "$?" 0
    say "| stdout:"
    detail <"$P.stdout"
    show_log "$P.stderr"
}

# scenario NAME FUNCTION: a PASS/FAIL line; when it went wrong, the tail of the last container's
# stderr (dockerd and dind-init) and the diagnoses.
scenario() {
    local name=$1 t0 st=PASS
    t0=$(now)
    BAD=0 P=
    say "---- $name"
    "$2" || BAD=1
    if [ "$BAD" = 0 ]; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)) st=FAIL; fi
    if [ "$BAD" != 0 ] && [ -n "$P" ]; then
        say "| last lines of the container's stderr (dockerd and dind-init):"
        tail -n 40 "$P.stderr" | detail
        grep -q 'AppArmor enabled on system but the docker-default profile could not be loaded' "$P.stderr" &&
            say "| DIAGNOSIS: the inner dockerd wants AppArmor's docker-default profile and the image has no apparmor_parser (V2LAB_KERNEL_ARGS=apparmor=0 isolates the cgroup part)"
    fi
    say "$st $name ($(since "$t0") s)"
}

# ------------------------------------------------------------------ boot: the VM's own set-up

s_boot() {
    local c ctrl
    ctrl=$(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null)
    say "| kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo) MiB"
    say "| cmdline: $(cat /proc/cmdline)"
    say "| /proc/mounts cgroup lines: $(grep cgroup /proc/mounts | tr '\n' ';')"
    expect "/sys/fs/cgroup file system" "$(stat -fc %T /sys/fs/cgroup)" cgroup2fs
    expect "cgroup v1 hierarchies mounted" "$(awk '$3 == "cgroup"' /proc/mounts | wc -l)" 0
    for c in cpuset cpu io memory hugetlb pids; do
        [[ " $ctrl " == *" $c "* ]] || wrong "controller $c missing from cgroup.controllers ($ctrl)"
    done
    say "| root cgroup.controllers: $ctrl"
    say "| AppArmor enabled in the kernel: $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null || echo no) (Debian's default, as on Debian/Ubuntu hosts)"
    if [ "$MODE" = legacy ]; then
        # nf_tables is blacklisted: the VM's own dockerd must use the legacy backend too.
        update-alternatives --set iptables /usr/sbin/iptables-legacy >/dev/null 2>&1
        update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy >/dev/null 2>&1
        say "| VM iptables: $(iptables --version 2>&1)"
    fi
    # The data disk holds the DinD image's base layers: the delta archive, else the full one.
    start_dockerd && load_image dind-delta.tar dind.tar && [ "$BAD" = 0 ]
}

# start_dockerd: the VM's own dockerd (a fixture, not what the lab tests). dockerd gives the
# containerd it starts a fixed 15 s to answer (moby's libcontainerd/supervisor startupTimeout)
# and exits when a starved TCG VM needs longer: then it is started again, at most 3 times.
start_dockerd() {
    local t0 try pid
    t0=$(now)
    say "| /var/lib/docker: $(findmnt -no SOURCE,FSTYPE /var/lib/docker 2>/dev/null || echo 'on the root disk')"
    for try in 1 2 3; do
        dockerd >"$W/dockerd.log" 2>&1 &
        pid=$!
        until "${API[@]}" ping --timeout 5; do
            kill -0 "$pid" 2>/dev/null && awk -v a="$t0" -v b="$(now)" 'BEGIN { exit !(b - a < 300) }' || break
        done
        if "${API[@]}" ping --timeout 1; then
            say "|   ok    VM dockerd $(dockerd --version 2>/dev/null | cut -d, -f1) ready after $(since "$t0") s"
            expect_prefix "the VM's engine (suite $SUITE)" "$(dockerd --version 2>/dev/null)" "$EXPECT_ENGINE"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || [ "$try" = 3 ] && break
        say "| the VM's dockerd exited before it answered (attempt $try: $(grep -m1 -o 'failed to start containerd.*' "$W/dockerd.log" || tail -n 1 "$W/dockerd.log")): again"
    done
    say "|   WRONG the VM's dockerd did not answer /_ping (attempt $try, $(since "$t0") s); its log:"
    tail -n 30 "$W/dockerd.log" | detail
    return 1
}

# load_image ARCHIVE...: the first of these archives (in /lab/images) that the VM's dockerd loads.
load_image() {
    local t0 f
    for f in "$@"; do
        [ -s "/lab/images/$f" ] || continue
        t0=$(now)
        if "${API[@]}" load "/lab/images/$f" >"$W/load.out" 2>&1; then
            say "|   ok    $f: $(tr '\n' ' ' <"$W/load.out")($(since "$t0") s)"
            return 0
        fi
        say "| loading $f failed ($(since "$t0") s):"
        detail <"$W/load.out"
    done
    wrong "could not load any of: $*"
    return 1
}

# ------------------------------------------------------------------ the scenarios

s_privileged() {
    run_outer s1 echo
    expect "nested run output" "$(out inner-echo)" ok
    # Private cgroup namespace: the container's root is its own cgroup; dind-init nested into /init.
    expect "outer command's cgroup (private cgroupns)" "$(out outer-cgroup)" /init
    expect_prefix "the DinD image's engine (suite $SUITE, $(out os))" "$(out engine)" "$EXPECT_ENGINE"
    expect_prefix "the DinD image's docker CLI" "$(out cli)" "$EXPECT_ENGINE"
    metric_ready privileged "$P.stderr"
}

# expect_limits: the nested run with --memory 64m --cpus 0.5 --pids-limit 50 saw them.
expect_limits() {
    expect "memory.max" "$(out memory.max)" 67108864
    expect "cpu.max" "$(out cpu.max)" "50000 100000"
    expect "pids.max" "$(out pids.max)" 50
}

s_limits() { run_outer s2 limits; expect_limits; }

s_cgroupns_host() {
    local cid
    run_outer s3 cgroupns-host --cgroupns host
    cid=$(cat "$P.id" 2>/dev/null)
    say "| outer container id: $cid (the VM's dockerd puts it in /docker/$cid)"
    expect "outer command's cgroup" "$(out outer-cgroup)" "/docker/$cid/init"
    expect_limits
    expect_prefix "inner container's cgroup" "$(out inner-cgroup)" "/docker/$cid/"
    expect "inner container's memory.max at that path" "$(out inner-memory.max)" 33554432
    expect_true "nothing nested at the VM's root cgroup (no /sys/fs/cgroup/init)" test ! -e /sys/fs/cgroup/init
    say "| VM root cgroup's children after the run: $(find /sys/fs/cgroup -mindepth 1 -maxdepth 1 -type d -printf '%f ')"
}

# `docker run --init` (docker-init, i.e. tini, is PID 1; dind-init its child), as in a
# Kubernetes pod with shareProcessNamespace: the container's cgroup still holds only this PID
# namespace's processes, so dind-init must nest it all the same, and say which case it saw.
s_not_pid1() {
    local pid
    run_outer s7 not-pid1 --init
    pid=$(out dind-init-pid)
    expect "PID 1 (docker run --init)" "$(out pid1)" docker-init
    expect_true "dind-init is not PID 1 (pid '$pid')" test -n "$pid" -a "$pid" != 1
    expect "outer command's cgroup" "$(out outer-cgroup)" /init
    expect "PID 1's cgroup (moved with the rest)" "$(out pid1-cgroup)" /init
    expect "nested run output" "$(out inner-echo)" ok
    expect_true "dind-init logged the case it saw (PID 1 of its namespace and its processes)" \
        grep -q '^dind-init: .*cgroups: nesting .*(it holds PID 1 of this PID namespace and its processes)' "$P.stderr"
}

# The field error: the same image with `--entrypoint dockerd` (no nesting step).
s_field_contrast() {
    local cid rc prc lrc mem
    P=$W/s4
    cid=$("${API[@]}" run --detach "${COMMON[@]}" --entrypoint dockerd "$DIND_IMAGE") ||
        { wrong "cannot start the container with --entrypoint dockerd"; return 1; }
    "${API[@]}" exec --timeout "$SCEN_TIMEOUT" --out "$P" "$cid" sh /v2lab/outer.sh field
    rc=$?
    "${API[@]}" logs "$cid" --out "$P-daemon"
    "${API[@]}" rm "$cid"
    say "| docker exec ... outer.sh field: status $rc; stdout:"
    detail <"$P.stdout"
    say "| its stderr (the nested docker run's error, verbatim):"
    detail <"$P.stderr"
    say "| the inner dockerd's log lines about it:"
    grep -i 'cgroup\|subtree\|level=error\|level=fatal\|failed to' "$P-daemon.stderr" | tail -n 12 | detail
    expect "inner daemon came up (only the nested runs should fail)" "$(out daemon)" ready
    prc=$(out plain-rc) lrc=$(out limits-rc) mem=$(out memory.max)
    say "| plain nested run: status '$prc', output '$(out plain-output)'"
    say "| nested run with limits: status '$lrc', memory.max '$mem', cpu.max '$(out cpu.max)', pids.max '$(out pids.max)'"
    expect_true "without dind-init's nesting the nested runs fail" \
        test "$prc" != 0 -o "$lrc" != 0 -o "$mem" != 67108864
    grep -v '^== ' "$P.stderr" >"$P.errors"
    expect_true "the error is the cgroup v2 one (names cgroup/subtree/threaded/busy)" \
        grep -qi 'cgroup\|subtree\|threaded\|resource busy' "$P.errors"
    grep -i 'error' "$P.errors" | grep -i 'cgroup\|subtree\|threaded\|busy' | head -n 3 |
        while IFS= read -r l; do say "| FIELD-ERROR: $l"; done
}

# Limits on the outer container, --memory 1g --pids-limit 400 (the VM's dockerd sets them on
# /docker/ID); with --cgroupns=host the nested container's /proc/self/cgroup is the real path.
OUTER_MEM=1073741824 OUTER_PIDS=400
s_outer_limits() {
    local cid
    run_outer s6 outer-limits --cgroupns host --memory "$OUTER_MEM" --pids-limit "$OUTER_PIDS"
    cid=$(cat "$P.id" 2>/dev/null)
    metric_ready outer-limits "$P.stderr"
    say "| outer container id: $cid (--memory $OUTER_MEM --pids-limit $OUTER_PIDS: /docker/$cid)"
    expect "outer command's cgroup" "$(out outer-cgroup)" "/docker/$cid/init"
    expect_prefix "nested container's cgroup" "$(out inner-cgroup)" "/docker/$cid/"
    expect "memory.max of the outer cgroup, seen from the nested container" \
        "$(sed -n "s|^ancestor: /docker/$cid memory.max=\([^ ]*\) .*|\1|p" "$P.stdout")" "$OUTER_MEM"
    expect "pids.max of the outer cgroup, seen from the nested container" \
        "$(sed -n "s|^ancestor: /docker/$cid .*pids.max=\([^ ]*\)\$|\1|p" "$P.stdout")" "$OUTER_PIDS"
    expect_forks "$P.stdout" "$OUTER_PIDS"
    expect "the VM's view of /docker/$cid/memory.max after the run" "$(cat "/sys/fs/cgroup/docker/$cid/memory.max" 2>/dev/null || echo gone)" gone
}

# start_daemon NAME IMAGE [RUN-OPTIONS...]: IMAGE without a command (daemon mode), detached, until
# dind-init logs `ready:`; CID its id, output later in P=$W/NAME.*
start_daemon() {
    local t0
    P=$W/$1
    CID=$("${API[@]}" run --detach "${COMMON[@]}" "${@:3}" "$2") || { wrong "cannot start $2 in daemon mode"; return 1; }
    t0=$(now)
    "${API[@]}" wait-log "$CID" "ready: dockerd answered" --timeout "$SCEN_TIMEOUT"
    expect "ready line in the log (wait-log status)" "$?" 0
    say "| ready seen by the lab after $(since "$t0") s"
}

# stop_clean NAME: `docker stop -t 10` of CID, which must be clean: exit status 0 or 143 (what
# dind-init reports), `dockerd exited cleanly`, no SIGKILL anywhere (137 would be docker's SIGKILL
# after the 10 s grace); dind-init's log in $P.stderr; METRIC ready-NAME and stop-NAME.
stop_clean() {
    local code took
    "${API[@]}" stop "$CID" --time 10 >"$P.stop" 2>&1
    expect "docker stop status" "$?" 0
    "${API[@]}" logs "$CID" --out "$P"
    "${API[@]}" rm "$CID"
    say "| docker stop: $(tr '\n' ' ' <"$P.stop")"
    show_log "$P.stderr"
    code=$(kv "$P.stop" exit-code) took=$(kv "$P.stop" stopped-after)
    expect_true "exit status = '$code' (want 0 or 143; 137 = killed)" test "$code" = 0 -o "$code" = 143
    expect_true "docker stop took less than its 10 s grace ($took s)" awk -v t="$took" 'BEGIN { exit !(t != "" && t < 10) }'
    expect_true "dind-init logged a clean dockerd exit" "${EV[@]}" has "$P.stderr" dockerd-exit clean=true killed=false
    expect "dind-init's SIGKILLs (dockerd, inner processes)" \
        "$("${EV[@]}" count "$P.stderr" dockerd-exit killed=true) $("${EV[@]}" count "$P.stderr" inner-kill)" "0 0"
    metric_ready "$1" "$P.stderr"
    say "METRIC stop-$1 ${took}s"
}

# Daemon mode (no command): dind-init serves dockerd until `docker stop`, which must be clean.
s_clean_stop() { start_daemon s7 "$DIND_IMAGE" && stop_clean clean-stop; }

# A rootless dockerd: the rootless image (docker/debian-rootless.Dockerfile, docker:dind-rootless's
# shape: USER rootless, --privileged), in daemon mode with an outer --pids-limit. Its cgroup driver
# is `none` (per-container limits unavailable, dind-init says so once), yet every inner container
# stays in the outer container's cgroup: a fork loop in one stops below the outer limit, the fork
# failures are the pids controller's, and dind-init and the daemon survive it (a nested run works
# afterwards) and stop cleanly.
ROOTLESS_PIDS=200
s_rootless_outer_limits() {
    local cg ev x
    # What a host with udev has: tun (and fuse) loaded, /dev/net/tun 0666 (dind-init is uid 1000).
    modprobe tun 2>/dev/null
    modprobe fuse 2>/dev/null
    chmod 0666 /dev/net/tun || { wrong "no /dev/net/tun in the VM"; return 1; }
    load_image rootless-delta.tar && start_daemon s8 "$ROOTLESS_IMAGE" --pids-limit "$ROOTLESS_PIDS" || return 1
    cg=/sys/fs/cgroup/docker/$CID
    say "| outer container: $CID, --pids-limit $ROOTLESS_PIDS (the VM's view: $cg)"
    expect "pids.max of the outer container's cgroup" "$(cat "$cg/pids.max" 2>/dev/null)" "$ROOTLESS_PIDS"
    "${API[@]}" exec --timeout "$SCEN_TIMEOUT" --out "$P-exec" "$CID" sh /v2lab/outer.sh rootless-limits
    expect "docker exec ... outer.sh rootless-limits: status" "$?" 0
    say "| its stdout:"
    detail <"$P-exec.stdout"
    x=$(kv "$P-exec.stdout" info)
    expect "uid of the command in the outer container (USER rootless)" "$(kv "$P-exec.stdout" uid)" 1000
    expect_true "docker info: cgroup driver none, rootless ('$x')" sh -c "case '$x' in 'none '*rootless*) exit 0 ;; esac; exit 1"
    expect_forks "$P-exec.stdout" "$ROOTLESS_PIDS"
    ev=$(find "$cg" -name pids.events -exec sed -n 's/^max //p' {} + 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
    expect_true "the failed forks were the pids controller's (pids.events 'max' in the outer cgroup's tree: $ev)" test "$ev" -gt 0
    expect "a nested run after the loop (dockerd survived)" "$(kv "$P-exec.stdout" after-echo)" ok
    stop_clean rootless-outer-limits
    expect_true "dind-init ran dockerd rootless as uid 1000 (event rootless)" "${EV[@]}" has "$P.stderr" rootless uid=1000
    expect "rootless-limits events (once, at start)" "$("${EV[@]}" count "$P.stderr" rootless-limits driver=none)" 1
}

# nf_tables blacklisted (the legacy boot): dind-init picks the legacy backend.
s_iptables_legacy() {
    expect_true "nf_tables is not loaded before the run" sh -c '! grep -q "^nf_tables " /proc/modules'
    run_outer s5 echo
    expect "nested run output" "$(out inner-echo)" ok
    expect_true "nf_tables is still not loaded" sh -c '! grep -q "^nf_tables " /proc/modules'
    expect_true "dind-init chose the legacy backend (log mentions iptables ... legacy)" \
        grep -qi '^dind-init:.*iptables.*legacy' "$P.stderr"
}

# V2LAB_SCENARIOS (host): run just these scenarios (the boot check always runs).
want() { [ -z "$V2LAB_SCENARIOS" ] || [[ " $V2LAB_SCENARIOS " == *" $1 "* ]]; }

case "$MODE" in
main)
    say "| lab: $ARCH $SUITE, scenarios: $MAIN"
    scenario boot s_boot
    [ "$FAILED" = 0 ] || MAIN=
    for s in $MAIN; do
        f=s_${s//-/_}
        if ! declare -F "$f" >/dev/null; then say "FAIL $s (no such scenario)"; FAILED=$((FAILED + 1))
        elif want "$s"; then scenario "$s" "$f"; fi
    done
    ;;
legacy)
    scenario boot-legacy s_boot
    [ "$FAILED" = 0 ] && want iptables-legacy && scenario iptables-legacy s_iptables_legacy
    ;;
*) say "FAIL unknown-mode (v2lab.run='$MODE')" ;;
esac
say "RESULT passed=$PASSED failed=$FAILED"
