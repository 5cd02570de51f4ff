#!/usr/bin/env bash
# Benchmark: dind-init side by side with jpetazzo's wrapdocker and moby's hack/dind, and with
# dockerd started alone as the entrypoint (the limit), in the same Docker-in-Docker image.
#
#   sudo scripts/bench.sh              # 10 runs of every figure per entrypoint
#   sudo scripts/bench.sh -n 3         # a quick run
#   sudo scripts/bench.sh -o FILE      # the markdown table goes to FILE (default target/bench.md)
#
# Options: -n N (runs, default 10), -o FILE, --idle SECONDS (figure 5's idle window, default 10),
# --wait-quiet [MINUTES] (before every round, wait until the 1-minute load average is below 0.5;
# at most MINUTES in all, default 30),
# --keep-host (leave the throwaway host dockerd running), -h.
#
# Figures, per entrypoint (runs alternate between the entrypoints, the order rotating every round):
#  1. time to ready: `docker run` (host clock) -> the command starts (it prints `date +%s.%N`)
#  2. readiness overhead: dockerd's "API listen on" log line -> the command starts
#  3. the whole `docker run --rm --privileged IMAGE true`
#  4. `docker stop` of a container running `sleep infinity`, its exit code, and whether the inner
#     dockerd shut down cleanly ("Daemon shutdown complete") or was SIGKILLed
#  5. PID 1's resident memory, CPU time and context switches over --idle seconds of idling
#  6. size on disk of dind-init, tini-static and dumb-init (Debian packages)
# Not part of the test command. Needs root, Docker (docker.io), jq, python3; installs them when
# missing. Starts its own host dockerd (instance "bench"): never uses /var/run/docker.sock.
set -uo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
export PATH="$HOME/.cargo/bin:$PATH"
export DIND_CACHE="${DIND_CACHE:-/var/cache/dind-init}"

N=10
OUT=target/bench.md
IDLE=10
WAIT_QUIET=
KEEP_HOST=0
INSTANCE=${BENCH_INSTANCE:-bench}
CMDLINE="scripts/bench.sh${*:+ $*}"

usage() { sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        -n) N=${2:?-n needs a number}; shift 2 ;;
        -n*) N=${1#-n}; shift ;;
        -o) OUT=${2:?-o needs a file}; shift 2 ;;
        --idle) IDLE=${2:?--idle needs seconds}; shift 2 ;;
        --wait-quiet)
            if [[ ${2:-} =~ ^[0-9]+$ ]]; then WAIT_QUIET=$2; shift 2; else WAIT_QUIET=30; shift; fi ;;
        --keep-host) KEEP_HOST=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench.sh: unknown argument: $1 (see -h)" >&2; exit 2 ;;
    esac
done
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: -n wants a positive number, not '$N'" >&2; exit 2; }
[[ $IDLE =~ ^[0-9]+$ ]] || { echo "bench.sh: --idle wants whole seconds, not '$IDLE'" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "bench.sh: needs root (it starts its own dockerd)" >&2; exit 2; }

BENCH=$ROOT/scripts/bench
IMAGE=dind-init-bench:latest
BASE=${BENCH_BASE:-dind-init-test/base:bookworm}
BIN=target/x86_64-unknown-linux-musl/release/dind-init

# The shared helpers: deps, the throwaway host dockerd with its runtime wrapper, the offline
# base image (scripts/lib.sh).
export LIB_TAG=bench
# shellcheck source=lib.sh
. "$ROOT/scripts/lib.sh"
# DIND_SUITE=trixie|sid (lib.sh): the inner engine; the bench image carries the suite
IMAGE=$IMAGE$DIND_SUITE_TAG
deps() { lib_install_deps; }
build_binary() { lib_build_binary && BIN=$DIND_BIN; }
host_start() { lib_host_start "$1" && BENCH_EXEC_ROOT=$DIND_HOST_RUN/exec; }
host_stop() { lib_host_stop; }
base_image() { BASE=$BASE_IMAGE; lib_base_image; }
docker() { command "$DOCKER_CLI" "$@"; }
py() { python3 "$BENCH/benchlib.py" "$@"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "NA"; else printf "%.6f\n", a - b }'; }
load1() { cut -d' ' -f1 /proc/loadavg; }

WORK=target/bench
LOGS=$WORK/logs
RAW=$WORK/raw.tsv
META=$WORK/meta
PFX=dib-$$
SETTLE=${BENCH_SETTLE:-1}   # seconds of pause before every timed run (the previous one's clean-up)

# ------------------------------------------------------------------ set-up

deps || exit 1
mkdir -p "$WORK" "$(dirname "$OUT")"
rm -rf "$LOGS"; mkdir -p "$LOGS"
: >"$RAW"; : >"$META"
meta() { printf '%s=%s\n' "$1" "$2" >>"$META"; }

echo "bench: building the static release binary"
build_binary || exit 1
[ -x "$BIN" ] || { echo "bench: $BIN missing" >&2; exit 1; }

cleanup() {
    local ids
    ids=$(docker ps -aq --filter "name=^$PFX-" 2>/dev/null)
    # shellcheck disable=SC2086  # one id per word
    [ -n "$ids" ] && docker rm -fv $ids >/dev/null 2>&1
    if [ "$KEEP_HOST" = 0 ]; then host_stop; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

host_start "$INSTANCE" || exit 1
base_image || exit 1

echo "bench: building $IMAGE from $BASE"
ctx=$(mktemp -d)
cp "$BIN" "$ctx/dind-init"
cp "$BENCH/wrapdocker" "$BENCH/dind" "$ctx/"
chmod 0755 "$ctx/dind-init" "$ctx/wrapdocker" "$ctx/dind"
cat >"$ctx/Dockerfile" <<EOF
ARG BASE
FROM \$BASE
COPY dind-init wrapdocker dind /usr/local/bin/
VOLUME /var/lib/docker
ENTRYPOINT ["dind-init"]
EOF
DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE=$BASE" -t "$IMAGE" "$ctx" >/dev/null || { rm -rf "$ctx"; exit 1; }
rm -rf "$ctx"

# ------------------------------------------------------------------ quiet machine?

# --wait-quiet: before the first round and before every round, wait (all in all at most
# WAIT_QUIET minutes) until the 1-minute load average is below 0.5. The bench itself keeps it
# around 0.1-0.4 on an otherwise idle machine.
QUIET_DEADLINE=
wait_quiet() {
    [ -n "$WAIT_QUIET" ] || return 0
    [ -n "$QUIET_DEADLINE" ] || QUIET_DEADLINE=$((SECONDS + WAIT_QUIET * 60))
    while awk -v l="$(load1)" 'BEGIN { exit !(l >= 0.5) }'; do
        if ((SECONDS >= QUIET_DEADLINE)); then
            echo "bench: load still $(load1) after waiting $WAIT_QUIET min in all; going on" >&2
            return 0
        fi
        echo "bench: load average $(load1) >= 0.5, waiting for a quiet machine"
        sleep 30
    done
}
wait_quiet

cgmode() {
    if [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo "v2"
    elif grep -q ' /sys/fs/cgroup/unified cgroup2 ' /proc/mounts; then echo "v1 hybrid (cgroup2 at /sys/fs/cgroup/unified)"
    else echo "v1"; fi
}
meta command "$CMDLINE"
meta date "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
meta nproc "$(nproc)"
meta kernel "$(uname -r)"
meta mem "$(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
meta cgroups "$(cgmode)"
meta load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
meta host_docker "$(docker version --format 'server {{.Server.Version}}, client {{.Client.Version}}' 2>/dev/null), runtime runc $(runc --version 2>/dev/null | awk 'NR==1 {print $3}')"
meta inner_docker "$(docker run --rm --entrypoint dockerd "$IMAGE" --version 2>/dev/null)"
meta image "$IMAGE"
meta image_desc "debootstrap $DIND_SUITE minbase + $DIND_BASE_PKGS, with dind-init, wrapdocker and hack/dind in /usr/local/bin"
meta dind_version "$("$BIN" --version 2>/dev/null | head -n1)"
meta n "$N"
meta idle "$IDLE"
if awk -v l="$(load1)" 'BEGIN { exit !(l >= 0.5) }'; then
    echo "bench: WARNING: load average $(load1) >= 0.5: the machine is not quiet, numbers are noisy" >&2
fi

# ------------------------------------------------------------------ the entrypoints

EPS=(dind-init dind-init-wait wrapdocker moby-dind dockerd)
MOBY_LOOP='dockerd & until docker info >/dev/null 2>&1; do sleep 1; done; exec "$@"'

# ep_setup EP: EPARGS = docker run options choosing the entrypoint, CMDPRE = words before the
# user's command.
ep_setup() {
    case "$1" in
        dind-init) EPARGS=(--entrypoint dind-init); CMDPRE=() ;;
        dind-init-wait) EPARGS=(--entrypoint dind-init -e DIND_WAIT_CONTAINERD=1); CMDPRE=() ;;
        wrapdocker) EPARGS=(--entrypoint wrapdocker); CMDPRE=() ;;
        moby-dind) EPARGS=(--entrypoint dind); CMDPRE=(sh -c "$MOBY_LOOP" sh) ;;
        dockerd) EPARGS=(--entrypoint dockerd); CMDPRE=() ;;
    esac
}

record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RAW"; }

# 1a/1b: docker run -> dockerd's first log line, and dockerd's own start-up to "API listen on".
record_dockerd_times() { # ROUND EP LOG T0
    local first api
    read -r first api <<<"$(py dockerd-times "$3")"
    record "$1" "$2" dstart "$(sub "${first:-}" "$4")"
    record "$1" "$2" dinit "$(sub "${api:-}" "${first:-}")"
}

record_phases() { # ROUND LOG [KEYS...]
    local r=$1 log=$2 kv k v
    shift 2
    for kv in $(py dind-phases "$log"); do
        k=${kv%%=*} v=${kv#*=}
        case " $* " in *" $k "*) record "$r" dind-init "ph_$k" "$v" ;; esac
    done
}

# Figures 1 and 2: the command is `date`, which prints when it starts.
run_ready() { # ROUND EP
    local r=$1 ep=$2 name="$PFX-$1-$2-ready" log="$LOGS/$1-$2-ready.log" t0 stamp api
    sleep "$SETTLE"
    ep_setup "$ep"
    t0=$EPOCHREALTIME
    docker run --privileged --name "$name" "${EPARGS[@]}" "$IMAGE" \
        "${CMDPRE[@]}" date '+BENCH_READY %s.%N' >"$log" 2>&1
    echo "rc=$?" >>"$log"
    stamp=$(py stamp "$log")
    api=$(py api-listen "$log")
    record "$r" "$ep" ready "$(sub "$stamp" "$t0")"
    record "$r" "$ep" overhead "$(sub "$stamp" "$api")"
    record_dockerd_times "$r" "$ep" "$log" "$t0"
    if [ "$ep" = dind-init ]; then
        record_phases "$r" "$log" spawned ready command attempts
        # docker run -> dind-init's clock starts: the command's stamp minus its +S.mmm
        local cmdt
        cmdt=$(py dind-phases "$log" | tr ' ' '\n' | sed -n 's/^command=//p')
        [ -n "$cmdt" ] && record "$r" dind-init ph_startlat "$(sub "$(sub "$stamp" "$t0")" "$cmdt")"
    fi
    docker rm -fv "$name" >/dev/null 2>&1
    printf '  %-10s ready %6s s  overhead %6s s\n' "$ep" "$(sub "$stamp" "$t0" | cut -c1-6)" "$(sub "$stamp" "$api" | cut -c1-6)"
}

# Figure 3: `docker run --rm --privileged IMAGE true`.
run_true() { # ROUND EP
    local r=$1 ep=$2 name="$PFX-$1-$2-true" log="$LOGS/$1-$2-true.log" t0 t1 rc
    sleep "$SETTLE"
    ep_setup "$ep"
    t0=$EPOCHREALTIME
    docker run --rm --privileged --name "$name" "${EPARGS[@]}" "$IMAGE" "${CMDPRE[@]}" true >"$log" 2>&1
    rc=$?
    t1=$EPOCHREALTIME
    echo "rc=$rc" >>"$log"
    record "$r" "$ep" run_true "$(sub "$t1" "$t0")"
    record "$r" "$ep" run_true_rc "$rc"
    [ "$ep" = dind-init ] && record_phases "$r" "$log" shutdown_s
    printf '  %-10s run --rm true %6s s (exit %s)\n' "$ep" "$(sub "$t1" "$t0" | cut -c1-6)" "$rc"
}

# Figures 1 and 3 for dockerd alone: readiness is its first "API listen on" line; at that line
# the watcher sends SIGTERM to the container's PID 1 (dockerd), so the run is "start, be ready,
# stop cleanly", like dind-init's `true`.
# The container's PID 1 as the host sees it, without a docker CLI call when possible (a CLI
# start costs tens of ms of CPU, which would slow the very start-up being measured): the shim's
# init.pid under the host daemon's exec root, found by the id from --cidfile.
container_pid() { # CIDFILE NAME
    local cid f
    cid=$(cat "$1" 2>/dev/null)
    if [ -n "$cid" ] && [ -n "${BENCH_EXEC_ROOT:-}" ]; then
        for f in "$BENCH_EXEC_ROOT"/containerd/daemon/io.containerd.runtime.v2.task/*/"$cid"/init.pid; do
            [ -s "$f" ] && { cat "$f"; return; }
        done
    fi
    docker inspect -f '{{.State.Pid}}' "$2" 2>/dev/null
}

run_dockerd_alone() { # ROUND
    local r=$1 ep=dockerd name="$PFX-$1-dockerd-ready" log="$LOGS/$1-dockerd-ready.log" t0 t1 api runpid pid
    local cidfile="$WORK/cid.$$.$1"
    sleep "$SETTLE"
    rm -f "$cidfile"
    : >"$log"
    # Output to a file, as for the other entrypoints; GNU tail follows it (inotify) and grep
    # stops at the first "API listen on", at which the container's PID 1 gets SIGTERM.
    t0=$EPOCHREALTIME
    docker run --rm --privileged --cidfile "$cidfile" --name "$name" --entrypoint dockerd "$IMAGE" >"$log" 2>&1 &
    runpid=$!
    # (process substitution: nobody waits for tail, which ends with docker run)
    if grep -q -m1 'API listen on' < <(tail -n +1 -f --pid="$runpid" "$log" 2>/dev/null); then
        pid=$(container_pid "$cidfile" "$name")
        [ -n "$pid" ] && [ "$pid" != 0 ] && kill -TERM "$pid"
    fi
    wait "$runpid"
    t1=$EPOCHREALTIME
    rm -f "$cidfile"
    api=$(py api-listen "$log")
    record "$r" "$ep" ready "$(sub "$api" "$t0")"
    record "$r" "$ep" run_true "$(sub "$t1" "$t0")"
    record_dockerd_times "$r" "$ep" "$log" "$t0"
    printf '  %-10s ready %6s s  run --rm, SIGTERM when ready %6s s\n' "$ep" "$(sub "$api" "$t0" | cut -c1-6)" "$(sub "$t1" "$t0" | cut -c1-6)"
}

# PID 1's numbers from the host's /proc: "rss_kB cpu_ticks ctxsw comm".
pid1_sample() { # HOSTPID
    local pid=$1 rss cs st
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    cs=$(awk '/^(non)?voluntary_ctxt_switches:/ {s += $2} END {print s}' "/proc/$pid/status" 2>/dev/null)
    st=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}')
    echo "${rss:-NA} ${st:-NA} ${cs:-NA} $(cat "/proc/$pid/comm" 2>/dev/null)"
}

wait_for() { # NAME PATTERN SECONDS
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        docker logs "$1" 2>&1 | grep -q "$2" && return 0
        [ "$(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ] || return 1
        sleep 0.1
    done
    return 1
}

idle_sample() { # ROUND EP HOSTPID
    local r=$1 ep=$2 pid=$3 a b
    read -r -a a <<<"$(pid1_sample "$pid")"
    sleep "$IDLE"
    read -r -a b <<<"$(pid1_sample "$pid")"
    local ticks cs
    ticks=$(sub "${b[1]:-}" "${a[1]:-}" | awk '{print ($1 == "NA") ? "NA" : int($1 + 0.5)}')
    cs=$(sub "${b[2]:-}" "${a[2]:-}" | awk '{print ($1 == "NA") ? "NA" : int($1 + 0.5)}')
    record "$r" "$ep" pid1_comm "${b[3]:-?}"
    record "$r" "$ep" rss_kb "${b[0]:-NA}"
    record "$r" "$ep" cpu_ticks "$ticks"
    record "$r" "$ep" ctxsw "$cs"
    echo "${b[3]:-?} rss ${b[0]:-NA} kB, +$ticks ticks, +$cs context switches in ${IDLE}s"
}

# Figures 4 and 5: a running container (`sleep infinity`), idle sampling, then `docker stop`.
run_stop() { # ROUND EP
    local r=$1 ep=$2 name="$PFX-$1-$2-stop" log="$LOGS/$1-$2-stop.log" pat hostpid t0 t1 code how s
    sleep "$SETTLE"
    ep_setup "$ep"
    if [ "$ep" = dockerd ]; then
        docker run -d --privileged --name "$name" "${EPARGS[@]}" "$IMAGE" >/dev/null
        pat="API listen on"
    else
        docker run -d --privileged --name "$name" "${EPARGS[@]}" "$IMAGE" \
            "${CMDPRE[@]}" sh -c 'date "+BENCH_READY %s.%N"; exec sleep infinity' >/dev/null
        pat=BENCH_READY
    fi
    if ! wait_for "$name" "$pat" 120; then
        echo "  $ep: never got ready; its log:" >&2
        docker logs "$name" 2>&1 | tail -n 20 >&2
        docker logs "$name" >"$log" 2>&1
        docker rm -fv "$name" >/dev/null 2>&1
        return 1
    fi
    hostpid=$(docker inspect -f '{{.State.Pid}}' "$name")
    s=$(idle_sample "$r" "$ep" "$hostpid")
    t0=$EPOCHREALTIME
    docker stop "$name" >/dev/null
    t1=$EPOCHREALTIME
    code=$(docker inspect -f '{{.State.ExitCode}}' "$name")
    docker logs "$name" >"$log" 2>&1
    if grep -q 'shutdown: dockerd exited cleanly' "$log" || grep -q 'Daemon shutdown complete' "$log"; then
        how=clean
    elif grep -q 'shutdown: .*SIGKILL' "$log"; then
        how="SIGKILLed by dind-init"
    else
        how="killed (no shutdown logged)"
    fi
    record "$r" "$ep" stop "$(sub "$t1" "$t0")"
    record "$r" "$ep" stop_exit "$code"
    record "$r" "$ep" stop_daemon "$how"
    docker rm -fv "$name" >/dev/null 2>&1
    printf '  %-10s stop %6s s (exit %s, dockerd %s); PID 1: %s\n' "$ep" "$(sub "$t1" "$t0" | cut -c1-6)" "$code" "$how" "$s"
}

# Figure 5's other reference: wrapdocker without a command, `bash --login` stays PID 1.
run_bash_pid1() { # ROUND
    local r=$1 name="$PFX-$1-wrapdocker-bash" hostpid i s
    docker run -d -i --privileged --name "$name" --entrypoint wrapdocker "$IMAGE" >/dev/null
    hostpid=$(docker inspect -f '{{.State.Pid}}' "$name")
    for ((i = 0; i < 1200; i++)); do
        tr '\0' ' ' <"/proc/$hostpid/cmdline" 2>/dev/null | grep -q -- '--login' && break
        sleep 0.1
    done
    s=$(idle_sample "$r" wrapdocker-bash "$hostpid")
    docker rm -fv "$name" >/dev/null 2>&1
    printf '  %-10s no command, PID 1: %s\n' wrapdocker "$s"
}

# ------------------------------------------------------------------ figure 6: sizes

sizes() {
    local d out="" f
    d=$(mktemp -d)
    link() { # ldd exits 1 on a static binary: look at its words, not its status
        case "$(ldd "$1" 2>&1)" in *"not a dynamic"*|*"statically linked"*) echo static ;; *) echo dynamic ;; esac
    }
    out+="dind-init|$(stat -c %s "$BIN")|$(link "$BIN")|this repo, \`cargo build --release\`;"
    if (cd "$d" && { apt-get download tini dumb-init >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 && apt-get download tini dumb-init >/dev/null 2>&1; }; }); then
        for f in "$d"/*.deb; do dpkg-deb -x "$f" "$d/x"; done
        pv() { dpkg-deb -f "$d"/"$1"_*.deb Version; }
        [ -f "$d/x/usr/bin/tini-static" ] && out+="tini-static|$(stat -c %s "$d/x/usr/bin/tini-static")|$(link "$d/x/usr/bin/tini-static")|Debian tini $(pv tini);"
        [ -f "$d/x/usr/bin/tini" ] && out+="tini|$(stat -c %s "$d/x/usr/bin/tini")|$(link "$d/x/usr/bin/tini")|Debian tini $(pv tini);"
        [ -f "$d/x/usr/bin/dumb-init" ] && out+="dumb-init|$(stat -c %s "$d/x/usr/bin/dumb-init")|$(link "$d/x/usr/bin/dumb-init")|Debian dumb-init $(pv dumb-init);"
    else
        echo "bench: apt-get download tini dumb-init failed (run apt-get update?)" >&2
    fi
    # What the shell entrypoints need in the image besides dockerd.
    local b
    b=$(docker run --rm --entrypoint stat "$IMAGE" -L -c '%n|%s' /bin/bash /usr/bin/docker 2>/dev/null)
    while IFS='|' read -r f s; do
        case "$f" in
            /bin/bash) out+="bash (in the image)|$s|dynamic|Debian $DIND_SUITE, needed by wrapdocker (a bash script);" ;;
            /usr/bin/docker) out+="docker CLI (in the image)|$s|dynamic|Debian docker.io, needed by wrapdocker and the hack/dind loop (\`docker info\`);" ;;
        esac
    done <<<"$b"
    rm -rf "$d"
    meta sizes "$out"
}

# ------------------------------------------------------------------ the runs

echo "bench: $N round(s); every round runs each figure once per entrypoint, alternating"
sizes
for ((r = 1; r <= N; r++)); do
    order=()
    for ((i = 0; i < ${#EPS[@]}; i++)); do order+=("${EPS[(i + r - 1) % ${#EPS[@]}]}"); done
    wait_quiet
    echo "round $r/$N (order: ${order[*]}), load $(load1)"
    maxload=$(awk -v a="${maxload:-0}" -v b="$(load1)" 'BEGIN { print (b > a) ? b : a }')
    for ep in "${order[@]}"; do
        if [ "$ep" = dockerd ]; then run_dockerd_alone "$r"; else run_ready "$r" "$ep"; fi
    done
    for ep in "${order[@]}"; do
        [ "$ep" = dockerd ] || run_true "$r" "$ep"
    done
    for ep in "${order[@]}"; do run_stop "$r" "$ep"; done
    run_bash_pid1 "$r"
done

meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
meta load_max "$maxload"
notes=""
awk -v a="$(sed -n 's/^load_start=//p' "$META" | cut -d' ' -f1)" -v b="$maxload" 'BEGIN { exit !(a >= 0.5 || b >= 0.5) }' &&
    notes+="- **The machine was not quiet** (1-minute load average ≥ 0.5 at the start or at a round's start): treat the times as rough.\\n"
notes+="- Time to ready uses one clock: the host's \`\$EPOCHREALTIME\` just before \`docker run\`, and \`date +%s.%N\` printed by the command inside; the container shares the host's real-time clock. dockerd's log times (\`time=\"…\"\`, ns) are on the same clock.\\n"
notes+="- wrapdocker and hack/dind wait with \`until docker info; do sleep 1; done\`: the command starts at the first whole second after the API is up, plus one \`docker info\` (a Go CLI start and several API calls).\\n"
notes+="- dind-init stops dockerd after the command (SIGTERM, wait), so its \`run --rm true\` includes a clean dockerd shutdown; wrapdocker and hack/dind exec \`true\`, whose exit as PID 1 SIGKILLs dockerd and containerd with the container. dockerd alone: SIGTERM sent from the host at its \"API listen on\" line.\\n"
notes+="- dockerd alone: its time to ready is the time of its first \"API listen on\" log line (no command can start earlier); for figure 3 the host sends SIGTERM to it at that line (read from its output with \`tail -f\`).\\n"
notes+="- dockerd's own clean stop takes about 1 s: it logs \"Daemon shutdown complete\" within a few ms of SIGTERM, then its libcontainerd supervisor sends SIGTERM to the containerd it started and sleeps a whole second before it checks that containerd is gone (moby \`libcontainerd/supervisor/remote_daemon_linux.go\`, \`stopDaemon\`). That second is in the limit's figures 3 and 4. dind-init ends it once dockerd has logged that line and has no live child left (containerd exited): column *dind-init*; with \`DIND_WAIT_CONTAINERD=1\` it lets dockerd sit the second out: column *--wait-containerd*.\\n"
notes+="- Raw data: \`$RAW\`; every run's log (dockerd's and dind-init's): \`$LOGS/\`."
meta notes "$notes"

py report "$RAW" "$META" >"$OUT.tmp" && mv "$OUT.tmp" "$OUT"
echo
cat "$OUT"
echo
echo "bench: written to $OUT"
