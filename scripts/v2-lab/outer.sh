#!/bin/sh
# Runs inside the outer (DinD) container of the v2 lab: the command dind-init starts once its
# dockerd answers (field: a `docker exec` into a container whose entrypoint is dockerd itself).
# Prints `key: value` lines for run.sh to check. INNER: the inner image. ARG: the scenario
# (echo, limits, cgroupns-host, outer-limits, rootless-limits, not-pid1, field; below).
set -u
: "${INNER:?INNER (the inner image) is not set}"

load() {
    out=$(docker load -i /images/inner.tar 2>&1) || { echo "docker load failed: $out" >&2; echo "load: failed"; exit 1; }
    echo "load: ok"
}
# inner_echo [KEY]: a plain nested run, its output as KEY (inner-echo); rc its status
inner_echo() { out=$(docker run --rm "$INNER" echo ok); rc=$?; echo "${1:-inner-echo}: $out"; }
limits() {
    docker run --rm --memory 64m --cpus 0.5 --pids-limit 50 "$INNER" \
        cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max >/tmp/limits.out
    rc=$?
    echo "limits-rc: $rc"
    { read -r m && echo "memory.max: $m" && read -r c && echo "cpu.max: $c" && read -r p && echo "pids.max: $p"; } </tmp/limits.out
}
outer_cgroup() { echo "outer-cgroup: $(sed -n 's/^0:://p' /proc/self/cgroup)"; }

# fork_loop: an inner container (--cgroupns=host) prints its cgroup and each ancestor's
# memory.max/pids.max, then forks sleeps until a fork fails (at most 800): `forks: N`. The loop
# runs in a subshell: a failed fork ends that shell; /tmp/forks keeps the count.
fork_loop() {
    # shellcheck disable=SC2016  # the inner container's shell expands it
    docker run --rm --cgroupns=host "$INNER" sh -c '
    c=$(sed -n "s/^0:://p" /proc/self/cgroup)
    echo "inner-cgroup: $c"
    p=$c
    while [ -n "$p" ] && [ "$p" != / ]; do
        echo "ancestor: $p memory.max=$(cat /sys/fs/cgroup$p/memory.max 2>/dev/null) pids.max=$(cat /sys/fs/cgroup$p/pids.max 2>/dev/null)"
        p=${p%/*}
    done
    echo 0 >/tmp/forks
    ( i=0; last=; while [ $i -lt 800 ]; do
        sleep 300 &
        [ "$!" != "$last" ] || break
        last=$!; i=$((i + 1)); echo $i >/tmp/forks
    done ) 2>/tmp/fork.err
    # Builtins only from here on: the sleeps hold the pids the limit allows.
    read -r n </tmp/forks
    echo "forks: $n"
    read -r e </tmp/fork.err
    echo "fork-error: $e"
    kill -9 -1 2>/dev/null
    exit 0'
    rc=$?
    echo "inner-rc: $rc"
}

case "${1:-}" in
echo)
    outer_cgroup
    echo "engine: $(dockerd --version 2>&1 | head -n 1)"
    echo "cli: $(docker --version 2>&1 | head -n 1)"
    echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
    load
    inner_echo
    echo "inner-rc: $rc"
    ;;
not-pid1)
    echo "pid1: $(cat /proc/1/comm)"
    for p in /proc/[0-9]*; do
        [ "$(cat "$p/comm" 2>/dev/null)" = dind-init ] && echo "dind-init-pid: ${p#/proc/}"
    done
    outer_cgroup
    echo "pid1-cgroup: $(sed -n 's/^0:://p' /proc/1/cgroup)"
    load
    inner_echo
    ;;
limits) load; limits ;;
cgroupns-host)
    outer_cgroup
    load
    limits
    # --cgroupns=host for the inner container too: its /proc/self/cgroup then shows the real path
    # (the outer container shares the VM's cgroup namespace), and /sys/fs/cgroup is the whole tree.
    docker run --rm --cgroupns=host --memory 32m "$INNER" sh -c \
        'c=$(sed -n "s/^0:://p" /proc/self/cgroup); echo "inner-cgroup: $c"; echo "inner-memory.max: $(cat /sys/fs/cgroup$c/memory.max)"'
    irc=$?
    echo "inner-rc: $irc"
    [ "$rc" = 0 ] && rc=$irc
    ;;
outer-limits) outer_cgroup; load; fork_loop ;;
rootless-limits)
    echo "uid: $(id -u)"
    echo "info: $(docker info -f '{{.CgroupDriver}} {{.Driver}} {{json .SecurityOptions}}' 2>&1)"
    load
    fork_loop
    # the daemons lived through the exhausted pids: a nested run still works
    echo "after-echo: $(docker run --rm "$INNER" echo ok 2>&1)"
    ;;
field)
    i=0
    # `dind-init health` is a cheap /_ping (the docker CLI takes seconds under TCG).
    if command -v dind-init >/dev/null; then probe() { dind-init health --timeout 2 >/dev/null 2>&1; }
    else probe() { docker version >/dev/null 2>&1; }; fi
    until [ -S /var/run/docker.sock ] && probe; do
        i=$((i + 1))
        if [ $i -gt 120 ]; then echo "daemon: not ready after 120 tries"; exit 1; fi
        sleep 1
    done
    echo "daemon: ready"
    load
    # First contact: the run with limits (it needs the cgroup delegation), then a plain run.
    echo "== docker run --rm --memory 64m --cpus 0.5 --pids-limit 50 $INNER cat memory.max cpu.max pids.max" >&2
    limits
    echo "== docker run --rm $INNER echo ok" >&2
    inner_echo plain-output
    echo "plain-rc: $rc"
    rc=0
    ;;
*)
    echo "outer.sh: unknown scenario '${1:-}'" >&2
    exit 2
    ;;
esac
exit "$rc"
