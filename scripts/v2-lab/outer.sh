#!/bin/sh
# The v2 lab's command in the outer (DinD) container (field, rootless-limits: `docker exec`'d).
# Prints `key: value` lines for run.sh to check. INNER: the inner image. ARG: the case below.
# shellcheck disable=SC2016  # the inner containers' shells expand their $
set -u
: "${INNER:?INNER (the inner image) is not set}"
rc=0

# inner_echo [KEY]: a plain nested run, its output as KEY (inner-echo); rc its status
inner_echo() { out=$(docker run --rm "$INNER" echo ok); rc=$?; echo "${1:-inner-echo}: $out"; }
limits() {
    docker run --rm --memory 64m --cpus 0.5 --pids-limit 50 "$INNER" sh -c \
        'for f in memory.max cpu.max pids.max; do echo "$f: $(cat /sys/fs/cgroup/$f)"; done'
    rc=$?
    echo "limits-rc: $rc"
}

# fork_loop: an inner container (--cgroupns=host) prints its cgroup and each ancestor's
# memory.max/pids.max, then forks sleeps until a fork fails (at most 800): `forks: N`. The loop
# runs in a subshell: a failed fork ends that shell; /tmp/forks keeps the count.
fork_loop() {
    docker run --rm --cgroupns=host "$INNER" sh -c '
    c=$(sed -n "s/^0:://p" /proc/self/cgroup)
    echo "inner-cgroup: $c"
    p=$c
    m() { cat "/sys/fs/cgroup$p/$1" 2>/dev/null; }
    while [ -n "$p" ] && [ "$p" != / ]; do
        echo "ancestor: $p memory.max=$(m memory.max) pids.max=$(m pids.max)"
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
}

if [ "${1:-}" = field ]; then   # the container's entrypoint is dockerd: up to 120 tries
    i=0
    until dind-init health --timeout 2 >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -le 120 ] || { echo "daemon: not ready"; exit 1; }
        sleep 1
    done
    echo "daemon: ready"
fi
echo "outer-cgroup: $(sed -n 's/^0:://p' /proc/self/cgroup)"
if ! out=$(docker load -i /images/inner.tar 2>&1); then
    echo "docker load failed: $out" >&2
    exit 1
fi
case "${1:-}" in
echo)
    echo "engine: $(dockerd --version 2>&1 | head -n 1)"
    echo "cli: $(docker --version 2>&1 | head -n 1)"
    echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
    inner_echo
    ;;
not-pid1)
    echo "pid1: $(cat /proc/1/comm)"
    for p in /proc/[0-9]*; do
        [ "$(cat "$p/comm" 2>/dev/null)" = dind-init ] && echo "dind-init-pid: ${p#/proc/}"
    done
    echo "pid1-cgroup: $(sed -n 's/^0:://p' /proc/1/cgroup)"
    inner_echo
    ;;
limits) limits ;;
cgroupns-host)
    limits
    # --cgroupns=host for the inner container too: its /proc/self/cgroup is the real path (the
    # outer container shares the VM's cgroup namespace), and /sys/fs/cgroup the whole tree.
    docker run --rm --cgroupns=host --memory 32m "$INNER" sh -c 'c=$(sed -n "s/^0:://p" \
        /proc/self/cgroup); echo "inner-cgroup: $c"; echo "inner-memory.max: $(cat \
        /sys/fs/cgroup$c/memory.max)"' || rc=$?
    ;;
outer-limits) fork_loop ;;
rootless-limits)
    echo "uid: $(id -u)"
    echo "info: $(docker info -f '{{.CgroupDriver}} {{.Driver}} {{json .SecurityOptions}}' 2>&1)"
    fork_loop
    # the daemons lived through the exhausted pids: a nested run still works
    inner_echo after-echo
    ;;
field)
    # First contact: the run with limits (it needs the cgroup delegation), then a plain run.
    echo "== docker run --rm --memory 64m --cpus 0.5 --pids-limit 50 $INNER ..." >&2
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
