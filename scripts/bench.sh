#!/usr/bin/env bash
# Benchmark: dind-init beside the other ways to start Docker-in-Docker, on each inner engine
# (Debian bookworm's Docker 20.10, trixie's 26.1, sid's 28.5), in one run. What each figure
# measures, and how: docs/BENCHMARKS.md; bench/benchlib.py parses the runs and writes the report.
# Owns: the benchmark and its report.
#
#   sudo scripts/bench.sh                         # every figure, every engine
#   sudo scripts/bench.sh -n 2 --stop-rounds 1 --engines trixie --figures main,tls   # a quick look
#
# Options (LIST: comma- or space-separated):
#   -n N                 rounds of the main figures, TLS, rootless and images (default 5)
#   --stop-rounds N      rounds of the stops with inner containers, stopn and stopcmp (default 3)
#   --engines LIST       bookworm,trixie,sid (default all three)
#   --figures LIST       main,stopn,tls,stopcmp,rootless,images (default all)
#   --stop-sizes LIST    inner containers per stop (default 1,10,50)
#   --stopcmp-sizes LIST inner containers of the stopcmp figure (default 10,50,100)
#   --idle SECONDS       PID 1's idle window in figure 4 (default 10)
#   --wait-quiet MIN     before every figure of a round, wait until the 1-minute load average is
#                        below --quiet-load L (default 1.0), at most MIN minutes in all
#   -o FILE              the report (default target/bench.md; raw TSV and logs in target/bench/)
#
# Not part of the test command. Needs root; installs what it needs. Starts its own host dockerd
# (instance BENCH_INSTANCE, default "bench"): never uses /var/run/docker.sock.
# shellcheck disable=SC2016  # single-quoted: what a container's shell expands
set -uo pipefail
LIB_TAG=bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
ROOT=$DIND_REPO
N=5 STOP_ROUNDS=3 OUT=target/bench.md IDLE=10 WAIT_QUIET='' QUIET_LOAD=1.0
ENGINES=(bookworm trixie sid) FIGURES=(main stopn tls stopcmp rootless images)
STOP_SIZES=(1 10 50) STOPCMP_SIZES=(10 50 100)
INSTANCE=${BENCH_INSTANCE:-bench}
CMDLINE="scripts/bench.sh${*:+ $*}"

usage_error() { echo "bench.sh: $*" >&2; exit 2; }
oneof() { local w=$1; shift; [[ " $* " == *" $w "* ]]; }   # WORD LIST...
declare -A VAR=([-n]=N [--stop-rounds]=STOP_ROUNDS [-o]=OUT [--idle]=IDLE [--quiet-load]=QUIET_LOAD
    [--wait-quiet]=WAIT_QUIET [--engines]=ENGINES [--figures]=FIGURES [--stop-sizes]=STOP_SIZES
    [--stopcmp-sizes]=STOPCMP_SIZES)
while [ $# -gt 0 ]; do
    case "$1" in
        -h | --help) lib_usage; exit 0 ;;
        -?*) [ -n "${VAR[$1]:-}" ] ;;
        *) false ;;
    esac || usage_error "unknown argument: $1 (see -h)"
    [ -n "${2:-}" ] || usage_error "$1 needs a value"
    case "$1" in
        --engines | --figures | --*-sizes) read -r -a "${VAR[$1]}" <<<"${2//,/ }" ;;
        *) printf -v "${VAR[$1]}" %s "$2" ;;
    esac
    shift 2
done
# check OPTION REGEX VALUE...: each VALUE is all of REGEX
check() {
    local opt=$1 re=$2 v
    shift 2
    for v; do [[ $v =~ ^($re)$ ]] || usage_error "$opt: '$v' is not $re"; done
}
check -n '[1-9][0-9]*' "$N"
check --stop-rounds '[0-9]+' "$STOP_ROUNDS"
check --idle '[0-9]+' "$IDLE"
check --wait-quiet '[0-9]*' "$WAIT_QUIET"
check --engines 'bookworm|trixie|sid' "${ENGINES[@]}"
check --figures 'main|stopn|tls|stopcmp|rootless|images' "${FIGURES[@]}"
check '--stop(cmp)-sizes' '[1-9][0-9]*' "${STOP_SIZES[@]}" "${STOPCMP_SIZES[@]}"
lib_is_root || usage_error "needs root (it starts its own dockerd)"
[ "$STOP_ROUNDS" != 0 ] || read -r -a FIGURES <<<"${FIGURES[*]/stop*/}"
want() { oneof "$1" "${FIGURES[@]}"; }

TOOLS=(wrapdocker dind dockerd-entrypoint-tls dockerd-ctrd)   # the other entrypoints, in the image
docker() { command "$DOCKER_CLI" "$@"; }
py() { python3 "$ROOT/scripts/bench/benchlib.py" "$@"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "NA"; else printf "%.6f\n", a - b }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "NA" || b == "NA" || b == 0) print "NA"; else printf "%.4f\n", a / b }'; }
load1() { cut -d' ' -f1 /proc/loadavg; }
meta() { while [ $# -gt 1 ]; do printf '%s=%s\n' "$1" "$2" >>"$META"; shift 2; done; }   # KEY VALUE...
WORK=$ROOT/target/bench
LOGS=$WORK/logs RAW=$WORK/raw.tsv META=$WORK/meta PFX=dib-$$ NET='' T_START=$SECONDS

lib_install_deps && mkdir -p "$WORK" "$(dirname "$OUT")" || exit 1
rm -rf "$LOGS" "$WORK/certs"; mkdir -p "$LOGS" "$WORK/certs"; : >"$RAW"; : >"$META"
echo "bench: building the static release binaries (x86_64, aarch64)"; lib_build_binary || exit 1
BIN=$DIND_BIN BIN_ARM=$ROOT/target/aarch64-unknown-linux-musl/release/dind-init
(cd "$ROOT" && cargo build --release --locked -q --target aarch64-unknown-linux-musl) ||
    echo "bench: WARNING: no aarch64 build (cargo build --target aarch64-unknown-linux-musl)" >&2
# shellcheck disable=SC2046  # one id per word
cleanup() {
    docker rm -fv $(docker ps -aq --filter "name=^$PFX-" 2>/dev/null) >/dev/null 2>&1
    docker volume rm $(docker volume ls -q --filter "name=^$PFX-" 2>/dev/null) >/dev/null 2>&1
    [ -n "$NET" ] && docker network rm "$NET" >/dev/null 2>&1
    rm -rf "$WORK/certs"; lib_host_stop
}
lib_traps cleanup
lib_host_start "$INSTANCE" && lib_inner_image || exit 1
BENCH_TASKS=$DIND_HOST_RUN/exec/containerd/daemon/io.containerd.runtime.v2.task

# IMG[suite]: the base image + what docker:dind's entrypoint needs beyond it (openssl, iproute2:
# .debs fetched once per base rootfs) + dind-init and TOOLS, docker:dind's legacy-iptables dir
declare -A IMG IMGR
bench_image() {
    lib_base_image || return 1
    local cache=$DIND_CACHE/bench-$DIND_SUITE ctx img=dind-init-bench:latest$DIND_SUITE_TAG have p
    # only what the base lacks: asking apt for an installed package would upgrade it
    have=$(tar -xOf "$(lib_base_rootfs)" ./var/lib/dpkg/status | sed -n 's/^Package: //p')
    # shellcheck disable=SC2046  # one package per word
    lib_debs "$cache" debs $(printf '%s\n' openssl iproute2 | grep -vxF "$have") || return 1
    ctx=$(mktemp -d) && cp -r "$cache/debs" "$ctx/" || return 1
    cp "$BIN" "$ctx/dind-init" && cp "${TOOLS[@]/#/$ROOT/bench/baselines/}" "$ctx/"
    chmod 0755 "$ctx/dind-init" "${TOOLS[@]/#/$ctx/}"
    { lib_debs_dockerfile "$BASE_IMAGE"; cat <<DOCKERFILE; } >"$ctx/Dockerfile"
RUN set -e; command -v openssl >/dev/null; command -v ip >/dev/null; \
    mkdir -p /usr/local/sbin/.iptables-legacy; \
    for b in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do \
        ln -s "/usr/sbin/\$b-legacy" "/usr/local/sbin/.iptables-legacy/\$b"; done
COPY dind-init ${TOOLS[*]} /usr/local/bin/
VOLUME /var/lib/docker
ENTRYPOINT ["dind-init"]
DOCKERFILE
    IMG[$DIND_SUITE]=$img
    lib_build "$img" "$ctx"; p=$?; rm -rf "$ctx"; return $p
}
# IMGR[suite]: IMG[suite] + docker/debian-rootless.Dockerfile; TUN_NODE a 0666 /dev/net/tun
TUN_NODE=$DIND_CACHE/bench-tun-0666
if want rootless; then lib_tun_node "$TUN_NODE" 0666 || exit 1; fi
for eng in "${ENGINES[@]}"; do
    lib_suite "$eng"; echo "bench: image for $eng"
    bench_image || exit 1
    want rootless || continue
    IMGR[$eng]=dind-init-bench:rootless$DIND_SUITE_TAG
    lib_rootless_image "${IMG[$eng]}" "${IMGR[$eng]}" "$DIND_CACHE/bench-$DIND_SUITE/rootless" ||
        exit 1
done

# tls: a fixed address (--ip, .200 of the subnet) for the host's poller, in a subnet the host
# daemon picked as free
if want tls; then
    NET=$PFX-net
    docker network create "$NET" >/dev/null || exit 1
    subnet=$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "$NET")
    docker network rm "$NET" >/dev/null
    docker network create --subnet "$subnet" "$NET" >/dev/null || { NET=''; exit 1; }
    SVC_IP=${subnet%.*}.200
fi

# images (docs/BENCHMARKS.md 3c): saved into IM_DIR, pushed into a registry on 127.0.0.1:5000
# (every run joins its network namespace); IM_VOL[engine]: its persistent volume, preloaded
IM_NAMES=(ryuk app db) IM_DIR=$WORK/preload REG=$PFX-registry REGI=dind-init-bench/registry:latest
declare -A IM_VOL
# preload_run LOG WHAT RUN-ARGS...: a DinD container in the registry's network, IM_DIR at /preload
preload_run() {
    local log=$LOGS/$1 what=$2
    shift 2
    docker run --rm --privileged --network "container:$REG" -v "$IM_DIR:/preload:ro" "$@" \
        >"$log" 2>&1 && return 0
    tail -n 5 "$log"; echo "bench: $what failed" >&2; exit 1
}
if want images; then
    lib_suite "${ENGINES[0]}"
    echo "bench: images: the registry, the three images, their archives"
    lib_registry_image "$REGI" || exit 1
    docker tag "$INNER_IMAGE" dibench-ryuk && docker tag "$BASE_IMAGE" dibench-db || exit 1
    ctx=$(mktemp -d) && head -c 64M /dev/urandom >"$ctx/blob" &&
        printf 'FROM %s\nCOPY blob /blob\n' "$INNER_IMAGE" >"$ctx/Dockerfile" &&
        lib_build dibench-app "$ctx" && rm -rf "$ctx" "$IM_DIR" && mkdir -p "$IM_DIR" || exit 1
    for n in "${IM_NAMES[@]}"; do
        docker save -o "$IM_DIR/$n.tar" "dibench-$n" && chmod 0644 "$IM_DIR/$n.tar" || exit 1
    done
    docker run -d --name "$REG" "$REGI" >/dev/null || exit 1
    if ! lib_retry 60 0.5 docker exec "$REG" bash -c 'exec 3<>/dev/tcp/127.0.0.1/5000' 2>/dev/null
    then
        docker logs "$REG" 2>&1 | tail -n 5; echo "bench: the registry never listened" >&2; exit 1
    fi
    preload_run seed.log "seeding the registry" "${IMG[${ENGINES[0]}]}" sh -c \
        'for f in /preload/*.tar; do docker load -q -i "$f" || exit 1; done
         for n in '"${IM_NAMES[*]}"'; do r=127.0.0.1:5000/library/dibench-$n
             docker tag "dibench-$n" "$r" && docker push -q "$r" || exit 1; done'
    for eng in "${ENGINES[@]}"; do
        IM_VOL[$eng]=$PFX-persist-$eng
        docker volume create "${IM_VOL[$eng]}" >/dev/null || exit 1
        preload_run "$eng-images-volume.log" "$eng: filling the persistent volume" \
            -v "${IM_VOL[$eng]}:/var/lib/docker" -e DIND_PRELOAD=/preload "${IMG[$eng]}" true
    done
    v=''
    for n in "${IM_NAMES[@]}"; do
        v+="dibench-$n $(($(stat -c %s "$IM_DIR/$n.tar") / 1000000)) MB, "
    done
    meta images_desc "${v%, } (docker save, plain)"
    v=$(docker exec "$REG" du -sb /var/lib/docker-registry | cut -f1)
    meta registry "$(docker run --rm --entrypoint docker-registry "$REGI" --version 2>/dev/null), \
holding $((v / 1000000)) MB (the layers gzip-compressed: what a pull transfers)"
fi

cgroups=v1
[ -f /sys/fs/cgroup/cgroup.controllers ] && cgroups=v2
grep -q ' /sys/fs/cgroup/unified cgroup2 ' /proc/mounts &&
    cgroups="v1 hybrid (cgroup2 at /sys/fs/cgroup/unified)"
meta command "$CMDLINE" date "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" nproc "$(nproc)" \
    kernel "$(uname -r)" cgroups "$cgroups" load_start "$(cut -d' ' -f1-3 /proc/loadavg)" \
    mem "$(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)" \
    engines "${ENGINES[*]}" n "$N" idle "$IDLE" dind_version "$("$BIN" --version | head -n1)"
v=$(docker version -f 'server {{.Server.Version}}, client {{.Client.Version}}' 2>/dev/null)
meta host_docker "$v, runtime runc $(runc --version 2>/dev/null | awk 'NR==1 {print $3}')"

# SIZES: the report's rows NAME|BYTES|LINKING|FROM; of the binaries, and of what the shell
# entrypoints need in the image besides dockerd (read with the engine's versions)
SIZES=''
size_row() { SIZES+="$1|$2|$3|$4;"; }
size_file() { # NAME FILE FROM
    local k=dynamic
    lib_static_elf "$2" && k=static
    size_row "$1" "$(stat -c %s "$2")" "$k" "$3"
}
v="this repo, \`cargo build --release"
size_file "dind-init (x86_64)" "$BIN" "$v\` (musl)"
[ -x "$BIN_ARM" ] &&
    size_file "dind-init (aarch64)" "$BIN_ARM" "$v --target aarch64-unknown-linux-musl\`"
d=$(mktemp -d)
get() { (cd "$d" && apt-get download tini dumb-init >/dev/null 2>&1); }
if get || { apt-get update -qq >/dev/null 2>&1 && get; }; then
    for f in "$d"/*.deb; do dpkg-deb -x "$f" "$d/x"; done
    for f in tini-static:tini tini:tini dumb-init:dumb-init; do   # BINARY:PACKAGE
        p=${f#*:} f=${f%%:*}
        [ -f "$d/x/usr/bin/$f" ] && size_file "$f" "$d/x/usr/bin/$f" \
            "Debian $p $(dpkg-deb -f "$d/$p"_*.deb Version) (x86_64)"
    done
else
    echo "bench: apt-get download tini dumb-init failed" >&2
fi
rm -rf "$d"
for eng in "${ENGINES[@]}"; do
    mapfile -t facts < <(docker run --rm --entrypoint sh "${IMG[$eng]}" -c 'dockerd --version
        containerd --version; docker --version; openssl version
        stat -L -c %s /bin/bash /usr/bin/docker /usr/bin/openssl' 2>/dev/null)
    ver=$(printf '%s; ' "${facts[@]:0:4}")
    meta "engine.$eng" "${ver%; }" "image.$eng" "${IMG[$eng]}" "engine_short.$eng" \
        "$(sed -n 's/^Docker version \([0-9]*\.[0-9]*\).*/\1/p' <<<"${facts[0]:-}")"
    from="Debian $eng, needed by"
    [ "$eng" = "${ENGINES[0]}" ] &&
        size_row "bash (in the image)" "${facts[4]:-}" dynamic "$from wrapdocker (a bash script)"
    size_row "docker CLI ($eng)" "${facts[5]:-}" dynamic \
        "$from wrapdocker and the hack/dind loop (\`docker info\`)"
    [ "$eng" = "${ENGINES[0]}" ] && size_row "openssl CLI (in the image)" "${facts[6]:-}" dynamic \
        "$from docker:dind's TLS (plus libssl)"
    want rootless || continue
    meta "rootlesskit.$eng" \
        "$(docker run --rm --entrypoint rootlesskit "${IMGR[$eng]}" --version | head -n 1)"
done
STOPS=0
{ want stopn || want stopcmp; } && STOPS=$STOP_ROUNDS
meta stop_rounds "$STOPS"
want stopn && meta stop_sizes "${STOP_SIZES[*]}"
want stopcmp && meta stopcmp_sizes "${STOPCMP_SIZES[*]}"
meta sizes "$SIZES"

EPS=(dind-init dind-init-dockerd wrapdocker moby-dind docker-dind dockerd dockerd-ctrd)
MOBY_LOOP='dockerd & until docker info >/dev/null 2>&1; do sleep 1; done; exec "$@"'
is_daemon() { oneof "$1" docker-dind dockerd dockerd-ctrd; }
is_dind_init() { oneof "$1" dind-init dind-init-dockerd; }
# ep_setup EP: EPARGS (docker run options), CMDPRE (before a command), DARGS (a daemon's arguments)
ep_setup() {
    CMDPRE=() DARGS=() EPARGS=(--entrypoint "$1")
    case "$1" in
        dind-init-dockerd) EPARGS=(--entrypoint dind-init -e DIND_CONTAINERD_BY=dockerd) ;;
        moby-dind) EPARGS=(--entrypoint dind); CMDPRE=(sh -c "$MOBY_LOOP" sh) ;;
        docker-dind) EPARGS=(--entrypoint dockerd-entrypoint-tls)
            DARGS=(dockerd --host=unix:///var/run/docker.sock) ;;
    esac
}

record() { printf '%s\t%s\t%s\t%s\t%s\n' "$R" "$ENG" "$1" "$2" "$3" >>"$RAW"; }   # EP METRIC VALUE
# records EP PREFIX SUFFIX=VALUE...: one record of metric PREFIX+SUFFIX per pair; the console line
records() {
    local ep=$1 m=$2 kv
    shift 2
    for kv; do record "$ep" "$m${kv%%=*}" "${kv#*=}"; done
    printf '  %-8s %-17s %s\n' "$ENG" "$ep" "${m:+$m: }$*"
}
settle() { sleep 1; record "$1" load "$(load1)"; }   # EP: every timed run records its load
# run_names ID: NAME (container, volume) and LOG (ENGINE-ROUND-ID.log) of this round's run ID
run_names() { NAME=$PFX-$R-$ENG-$1 LOG=$LOGS/$ENG-$R-$1.log; }
# timed_run EP ID RUN-ARGS...: settle; `docker run --privileged RUN-ARGS` >LOG between T0 and T1; RC
timed_run() {
    run_names "$2"; settle "$1"; shift 2
    T0=$EPOCHREALTIME
    docker run --privileged --name "$NAME" "$@" >"$LOG" 2>&1
    RC=$? T1=$EPOCHREALTIME
    echo "rc=$RC" >>"$LOG"
}
# stamp WORD: the epoch seconds of LOG's first line `WORD T`
stamp() { sed -n "s/.*$1 \([0-9]*\.[0-9]*\).*/\1/p" "$LOG" | head -n 1; }
# dockerd_times EP T0: records docker run -> dockerd's first log line, its own start-up; API: its
# first `API listen on`
dockerd_times() {
    local first
    IFS=, read -r first API _ <<<"$(py dockerd-log "$LOG")"
    records "$1" d "start=$(sub "${first:-}" "$2")" "init=$(sub "${API:-}" "${first:-}")"
}
phases() { # EP KEYS...: dind-init's own times in LOG (benchlib.py dind-phases), as ph_KEY
    local kv
    read -r -a kv <<<"$(py dind-phases "$LOG" "${*:2}")"
    records "$1" ph_ "${kv[@]}"
}
# start_attached ARGS...: `docker run ARGS` >LOG in the background (RUNPID)
start_attached() { : >"$LOG"; docker run "$@" >"$LOG" 2>&1 & RUNPID=$!; }
wait_log() { # PATTERN SECONDS: until PATTERN is in LOG (tail's inotify, no CLI polling)
    timeout "$2" grep -q -m1 -- "$1" < <(tail -n +1 -f --pid="$RUNPID" "$LOG" 2>/dev/null)
}
# container_pid CIDFILE: PID 1 on the host, from the shim's init.pid (no CLI call if possible)
container_pid() {
    local cid f
    cid=$(cat "$1" 2>/dev/null)
    for f in "$BENCH_TASKS"/*/"${cid:-none}"/init.pid; do
        [ -s "$f" ] && { cat "$f"; return; }
    done
    docker inspect -f '{{.State.Pid}}' "$NAME" 2>/dev/null
}
# start_running EP ID [RUN-ARGS...]: the DinD container (`sleep infinity` after the ready mark, or
# the daemon alone) in the background (RUNPID); returns once it is ready, else removes it (120 s)
start_running() {
    local ep=$1 pat=BENCH_READY cmd=(sh -c 'date "+BENCH_READY %s.%N"; exec sleep infinity')
    run_names "$2"; shift 2
    ep_setup "$ep"
    is_daemon "$ep" && pat="API listen on" cmd=("${DARGS[@]}")
    start_attached --privileged --name "$NAME" "$@" "${EPARGS[@]}" "$IMAGE" "${CMDPRE[@]}" \
        "${cmd[@]}"
    wait_log "$pat" 120 && return 0
    { echo "  $ENG $ep: never got ready; its log:"; tail -n 20 "$LOG"; } >&2
    docker rm -fv "$NAME" >/dev/null 2>&1; wait "$RUNPID"; return 1
}

# Figures 1 and 2 (command mode): the command is `date`, which prints when it starts.
run_ready() { # EP
    local ep=$1 st ready cmdt
    ep_setup "$ep"
    timed_run "$ep" "$ep-ready" "${EPARGS[@]}" "$IMAGE" "${CMDPRE[@]}" date '+BENCH_READY %s.%N'
    dockerd_times "$ep" "$T0"
    st=$(stamp BENCH_READY) ready=$(sub "$st" "$T0")
    records "$ep" "" "ready=$ready" "overhead=$(sub "$st" "$API")"
    if is_dind_init "$ep"; then
        phases "$ep" ctrd_spawned ctrd_serving spawned ready command attempts cgroups_ms
        cmdt=$(lib_event_t "$LOG" command-start)
        [ -n "$cmdt" ] && record "$ep" ph_startlat "$(sub "$ready" "$cmdt")"
    fi
    docker rm -fv "$NAME" >/dev/null 2>&1
}
# Figure 3 (command mode)
run_true() { # EP
    ep_setup "$1"
    timed_run "$1" "$1-true" --rm "${EPARGS[@]}" "$IMAGE" "${CMDPRE[@]}" true
    records "$1" run_true "=$(sub "$T1" "$T0")" "_rc=$RC"
    is_dind_init "$1" && phases "$1" shutdown_s
}
# Figures 1 and 3 in daemon mode: ready at dockerd's first "API listen on", then SIGTERM to PID 1
run_daemon() { # EP
    local ep=$1 t0 pid cidfile="$WORK/cid.$$.$R"
    rm -f "$cidfile"; settle "$ep"
    t0=$EPOCHREALTIME
    if start_running "$ep" "$ep-daemon" --rm --cidfile "$cidfile"; then
        pid=$(container_pid "$cidfile")
        [ -n "$pid" ] && [ "$pid" != 0 ] && kill -TERM "$pid"
        wait "$RUNPID"
    fi
    T1=$EPOCHREALTIME
    rm -f "$cidfile"
    dockerd_times "$ep" "$t0"
    records "$ep" "" "ready=$(sub "$API" "$t0")" "run_true=$(sub "$T1" "$t0")"
}

pid1_sample() { # HOSTPID: PID 1's "rss_kB cpu_ticks ctxsw comm" from the host's /proc
    local st; st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}')
    awk -v st="${st:-NA}" -v comm="$(cat "/proc/$1/comm" 2>/dev/null)" '/^VmRSS:/ {r = $2} /^(non)?voluntary_ctxt_switches:/ {c += $2}
        END {print (r == "" ? "NA" : r), st, (c == "" ? "NA" : c), comm}' "/proc/$1/status" 2>/dev/null
}
delta() { if [[ "$1 $2" =~ ^[0-9]+\ [0-9]+$ ]]; then echo $(($2 - $1)); else echo NA; fi; }   # A B
idle_sample() { # EP HOSTPID
    local ep=$1 a b ticks cs
    read -r -a a <<<"$(pid1_sample "$2")"
    sleep "$IDLE"
    read -r -a b <<<"$(pid1_sample "$2")"
    ticks=$(delta "${a[1]:-}" "${b[1]:-}") cs=$(delta "${a[2]:-}" "${b[2]:-}")
    records "$ep" "" "pid1_comm=${b[3]:-?}" "rss_kb=${b[0]:-NA}" "cpu_ticks=$ticks" "ctxsw=$cs"
}
stop_outcome() { # EP: how the inner dockerd ended, from LOG
    if ! is_dind_init "$1"; then
        if grep -q 'Daemon shutdown complete' "$LOG"; then echo clean; else echo "killed"; fi
    elif lib_event_has "$LOG" dockerd-exit clean=true killed=false; then
        if lib_event_has "$LOG" inner-kill; then echo "clean, inner SIGKILLed"; else echo clean; fi
    elif lib_event_has "$LOG" dockerd-exit killed=true; then
        echo "SIGKILLed by dind-init"
    else
        echo "unclean"
    fi
}
timed_stop() { # EP: `docker stop NAME`, timed: STOP; CODE its exit code, HOW (stop_outcome)
    local t0=$EPOCHREALTIME t1
    docker stop "$NAME" >/dev/null
    t1=$EPOCHREALTIME
    wait "$RUNPID"
    STOP=$(sub "$t1" "$t0")
    CODE=$(docker inspect -f '{{.State.ExitCode}}' "$NAME") HOW=$(stop_outcome "$1")
}
run_stop() { # EP
    local ep=$1
    start_running "$ep" "$ep-stop" || return 1
    idle_sample "$ep" "$(docker inspect -f '{{.State.Pid}}' "$NAME")"
    record "$ep" load "$(load1)"   # the idle window was the pause
    timed_stop "$ep"
    records "$ep" stop "=$STOP" "_exit=$CODE" "_daemon=$HOW"
    docker rm -fv "$NAME" >/dev/null 2>&1
}
# Figure 4's other reference: wrapdocker without a command, `bash --login` stays PID 1.
run_bash_pid1() {
    local name="$PFX-$R-$ENG-wrapdocker-bash" hostpid
    docker run -d -i --privileged --name "$name" --entrypoint wrapdocker "$IMAGE" >/dev/null
    hostpid=$(docker inspect -f '{{.State.Pid}}' "$name")
    lib_retry 1200 0.1 grep -qa -- --login "/proc/$hostpid/cmdline" 2>/dev/null
    idle_sample wrapdocker-bash "$hostpid"
    docker rm -fv "$name" >/dev/null 2>&1
}

INNER_CMD='trap "exit 0" TERM; while :; do sleep 1; done'
# start_inner EP ID COUNT METRIC: the DinD container (data root on the volume NAME-v), COUNT inner
# containers started in it (RUNNING run), timed as METRIC_setup; then settle
start_inner() {
    local ep=$1 n=$3 t0
    if ! start_running "$ep" "$2" -v "$PFX-$R-$ENG-$2-v:/var/lib/docker" \
        -v "$INNER_TAR:/images/inner.tar:ro"; then
        docker volume rm "$NAME-v" >/dev/null 2>&1
        return 1
    fi
    t0=$EPOCHREALTIME
    RUNNING=$(docker exec -e "N=$n" -e "INNER=$INNER_IMAGE" -e "CMD=$INNER_CMD" "$NAME" sh -c \
        'for i in $(seq 100); do docker version >/dev/null 2>&1 && break; sleep 0.1; done
         docker load -q -i /images/inner.tar >/dev/null &&
         seq "$N" | xargs -P 4 -I{} docker run -d --name "in{}" "$INNER" sh -c "$CMD" >/dev/null
         docker ps -q | wc -l' 2>"$LOG.exec")
    record "$ep" "${4}_setup" "$(sub "$EPOCHREALTIME" "$t0")"
    [ "${RUNNING:-0}" = "$n" ] ||
        echo "  $ENG $ep: $RUNNING of $n inner containers running (see $LOG)" >&2
    settle "$ep"
}
# stop_inner EP: the timed `docker stop`; then the inner daemon's last record of its containers,
# read from the volume NAME-v, which is removed: STATES = (exit0 other running), INNER in words
stop_inner() {
    timed_stop "$1"
    docker rm -f "$NAME" >/dev/null 2>&1
    read -r -a STATES <<<"$(docker run --rm -v "$NAME-v:/var/lib/docker" --entrypoint sh "$IMAGE" \
        -c 'for f in /var/lib/docker/containers/*/config.v2.json; do cat "$f"; echo; done' \
        2>/dev/null | py inner-states)"
    docker volume rm "$NAME-v" >/dev/null 2>&1
    INNER="${STATES[0]:-0}/$RUNNING exit 0"
    [ "${STATES[1]:-0}" != 0 ] && INNER+=", ${STATES[1]} other exit"
    [ "${STATES[2]:-0}" != 0 ] && INNER+=", ${STATES[2]} running"
}
run_stopn() { # COUNT EP: COUNT inner containers, the timed `docker stop`, their last states
    local n=$1 ep=$2
    start_inner "$ep" "$ep-stop$n" "$n" "stopn$n" || return 1
    stop_inner "$ep"
    records "$ep" "stopn$n" "=$STOP" "_exit=$CODE" "_how=$HOW" "_inner=$INNER"
}
# run_stopcmp COUNT (issue 19, docs/BENCHMARKS.md 2b): as run_stopn, with the inner daemon's
# parallel stop and `docker start` of them again before the outer `docker stop`
run_stopcmp() {
    local ep=dind-init n=$1 m=stopcmp$1 t0 st restarted kill=no clean=no inner
    start_inner "$ep" "$m" "$n" "$m" || return 1
    read -r -a st <<<"$(docker exec "$NAME" sh -c 'a=$(date +%s.%N)
        docker stop $(docker ps -q) >/dev/null
        b=$(date +%s.%N); echo "$a $b $(docker ps -q | wc -l)"' 2>>"$LOG.exec")"
    [ "${st[2]:-x}" = 0 ] ||
        echo "  $ENG $m: the inner stop left ${st[2]:-?} running (see $LOG.exec)" >&2
    t0=$EPOCHREALTIME
    restarted=$(docker exec -e "N=$RUNNING" "$NAME" sh -c \
        'docker ps -aq | xargs -P 4 -n 1 docker start >/dev/null
        for i in $(seq 100); do [ "$(docker ps -q | wc -l)" -ge "$N" ] && break; sleep 0.1; done
        docker ps -q | wc -l' 2>>"$LOG.exec")
    record "$ep" "${m}_restart" "$(sub "$EPOCHREALTIME" "$t0")"
    [ "$restarted" = "$RUNNING" ] ||
        echo "  $ENG $m: $restarted of $RUNNING running again (see $LOG.exec)" >&2
    settle "$ep"
    stop_inner "$ep"
    lib_event_has "$LOG" inner-kill && kill=yes
    [[ $HOW == clean* ]] && [ "${STATES[0]:-0}" = "$n" ] &&
        [ "${STATES[1]:-0}${STATES[2]:-0}" = 00 ] && clean=yes
    inner=$(sub "${st[1]:-}" "${st[0]:-}")
    records "$ep" "$m" "=$STOP" "_inner=$inner" "_ratio=$(div "$STOP" "$inner")" "_exit=$CODE" \
        "_how=$HOW" "_clean=$clean" "_kill=$kill" "_state=$INNER"
}

# run_tls EP on|off: the service at SVC_IP; the host's poller connects once `docker run -d`
# returned (else ARP waits)
run_tls() {
    local ep=$1 tls=$2 certs=- port=2375 env=(-e DOCKER_TLS_CERTDIR=) pid o up api pause ms v
    local cl=(-e DOCKER_HOST=tcp://docker:2375)
    run_names "$ep-tls$tls"
    local certdir=$WORK/certs/$NAME go=$WORK/go.$NAME poll=$WORK/poll.$NAME
    rm -f "$go"; mkdir -p "$certdir"
    # docker:dind's way: no command; with TLS off its users add --tls=false (dind-init does that)
    EPARGS=(--entrypoint dind-init) DARGS=()
    if [ "$ep" = docker-dind ]; then
        EPARGS=(--entrypoint dockerd-entrypoint-tls)
        [ "$tls" = off ] && DARGS=(--tls=false)
    fi
    [ "$tls" = on ] &&
        env=(-e DOCKER_TLS_CERTDIR=/certs -v "$certdir:/certs") port=2376 certs=$certdir
    py poll "$SVC_IP" "$port" "$certs" "$go" 120 >"$poll" & pid=$!
    settle "$ep"
    T0=$EPOCHREALTIME
    docker run -d --privileged --name "$NAME" --network "$NET" --ip "$SVC_IP" \
        --network-alias docker "${EPARGS[@]}" "${env[@]}" "$IMAGE" "${DARGS[@]}" >/dev/null
    : >"$go"; wait "$pid"
    read -r -a o <<<"$(cat "$poll")"; rm -f "$go" "$poll"
    docker logs "$NAME" >"$LOG" 2>&1
    # from the logs: dind-init's set-up (certificates included), dockerd's start and pause
    IFS=, read -r up api pause <<<"$(py dockerd-log "$LOG")"
    records "$ep" tls_ "ready_$tls=$(sub "${o[1]:-}" "$T0")" "port_$tls=$(sub "${o[0]:-}" "$T0")" \
        "api_$tls=$(sub "$api" "$T0")" "dinit_$tls=$(sub "$api" "$up")" "pause_$tls=$pause"
    [ "$ep" = dind-init ] && record "$ep" "tls_spawned_$tls" "$(lib_event_t "$LOG" dockerd-start)"
    if [ "$tls" = on ]; then
        if [ "$ep" = dind-init ]; then
            ms=$(lib_event_get "$LOG" tls ms)
        else
            ms=$(sed -n 's/.*dockerd-entrypoint-tls: certificates in .*: \([0-9.]*\) ms.*/\1/p' \
                "$LOG" | head -n 1)
        fi
        record "$ep" tls_cert_ms "${ms:-NA}"
        cl=(-v "$certdir/client:/certs/client:ro" -e DOCKER_HOST=tcp://docker:2376
            -e DOCKER_TLS_VERIFY=1 -e DOCKER_CERT_PATH=/certs/client)
    fi
    # a real client, untimed
    v=$(docker run --rm --network "$NET" "${cl[@]}" --entrypoint docker "$IMAGE" version \
        --format '{{.Server.Version}}' 2>>"$LOG")
    record "$ep" "tls_client_$tls" "${v:+ok $v}${v:-failed}"
    docker rm -fv "$NAME" >/dev/null 2>&1; rm -rf "$certdir"
}

# run_rootless rootful|rootless (issue 22, docs/BENCHMARKS.md 3b): IMAGE or IMGR
RL_CMD='date "+BENCH_READY %s.%N"; docker load -q -i /images/inner.tar >/dev/null || exit 3
    docker run --rm "$INNER" true || exit 4
    for i in 1 2 3; do a=$(date +%s.%N); docker run --rm "$INNER" true || exit 5
        echo "BENCH_TRUE $a $(date +%s.%N)"; done
    docker info -f "BENCH_DRIVER {{.Driver}}"'
run_rootless() {
    local v=$1 img=$IMAGE args=() x
    [ "$v" = rootless ] && img=${IMGR[$ENG]} args=(-v "$TUN_NODE:/dev/net/tun")
    timed_run "$v" "$v-rootless" --rm "${args[@]}" -v "$INNER_TAR:/images/inner.tar:ro" \
        -e "INNER=$INNER_IMAGE" "$img" sh -c "$RL_CMD"
    awk '$1 == "BENCH_TRUE" { printf "%.6f\n", $3 - $2 }' "$LOG" |
        while read -r x; do record "$v" rl_true "$x"; done
    records "$v" rl_ "ready=$(sub "$(stamp BENCH_READY)" "$T0")" "rc=$RC" \
        "driver=$(sed -n 's/^BENCH_DRIVER //p' "$LOG")"
}

# run_images remote|mirror|preload|persistent (issue 21, docs/BENCHMARKS.md 3c)
IM_JOB='date "+BENCH_CMD %s.%N"
    for n in '"${IM_NAMES[*]}"'; do docker image inspect "$P$n" >/dev/null 2>&1 && continue
        docker pull -q "$P$n" >/dev/null || exit 3; echo "BENCH_PULLED $n"; done
    docker run -d --name first "${P}ryuk" sleep 600 >/dev/null || exit 4
    date "+BENCH_READY %s.%N"
    docker rm -f first >/dev/null'
run_images() {
    local v=$1 vol=${IM_VOL[$ENG]:-} args=() p=dibench-
    case "$v" in
        remote) p=127.0.0.1:5000/library/dibench- ;;
        mirror) args=(-e DOCKER_REGISTRY_MIRROR=http://127.0.0.1:5000) ;;
        preload | persistent) args=(-v "$IM_DIR:/preload:ro" -e DIND_PRELOAD=/preload) ;;
    esac
    [ "$v" = persistent ] || vol=$(docker volume create "$PFX-$R-$ENG-$v") || return 1
    timed_run "$v" "$v-images" --rm --network "container:$REG" -v "$vol:/var/lib/docker" \
        "${args[@]}" -e "P=$p" "$IMAGE" sh -c "$IM_JOB"
    [ "$v" = persistent ] || docker volume rm "$vol" >/dev/null
    ev() { lib_event_get "$LOG" preload-done "$1"; }
    records "$v" im_ "first=$(sub "$(stamp BENCH_READY)" "$T0")" "rc=$RC" \
        "cmd=$(sub "$(stamp BENCH_CMD)" "$T0")" "pulled=$(grep -c '^BENCH_PULLED ' "$LOG")" \
        "ready=$(lib_event_t "$LOG" dockerd-ready)" \
        "preload=$(ev secs)" "loaded=$(ev loaded)" "skipped=$(ev skipped)"
}

# rot ROUND WORDS...: WORDS rotated by ROUND-1
rot() { local r=$1 n i; shift; n=$#; local a=("$@"); for ((i = 0; i < n; i++)); do printf '%s ' "${a[(i + r - 1) % n]}"; done; }
# on_engines CMD...: after --wait-quiet's wait, CMD once per engine, in this round's order
on_engines() { local eng; lib_wait_quiet "$WAIT_QUIET" "$QUIET_LOAD"; for eng in "${engs[@]}"; do ENG=$eng IMAGE=${IMG[$eng]}; "$@"; done; }
# each FN ARGS... -- ITEMS...: FN ARGS... ITEM for every item, in this round's order
each() { local a=() i; while [ "$1" != -- ]; do a+=("$1"); shift; done; shift; for i in $(rot "$R" "$@"); do "${a[@]}" "$i"; done; }
main_starts() {
    local ep
    for ep in "${order[@]}"; do
        if is_daemon "$ep"; then run_daemon "$ep"; else run_ready "$ep"; fi
    done
    for ep in "${order[@]}"; do is_daemon "$ep" || run_true "$ep"; done
}
main_stops() { local ep; for ep in "${order[@]}"; do run_stop "$ep"; done; [ "$ENG" = "${ENGINES[0]}" ] && run_bash_pid1; }
tls_runs() { local ep; for ep in $(rot "$R" dind-init docker-dind); do each run_tls "$ep" -- on off; done; }

ROUNDS=$((STOPS > N ? STOPS : N))
echo "bench: $ROUNDS round(s) on ${ENGINES[*]}: figures ${FIGURES[*]} ($N rounds; stops with" \
    "inner containers: $STOPS rounds)"
for ((R = 1; R <= ROUNDS; R++)); do
    read -r -a engs <<<"$(rot "$R" "${ENGINES[@]}")"
    read -r -a order <<<"$(rot "$R" "${EPS[@]}")"
    echo "round $R/$ROUNDS (engines: ${engs[*]}; entrypoints: ${order[*]}), load $(load1)," \
        "$(((SECONDS - T_START) / 60)) min so far"
    if ((R <= N)); then
        want main && { on_engines main_starts; on_engines main_stops; }
        want tls && on_engines tls_runs
        want rootless && on_engines each run_rootless -- rootful rootless
        want images && on_engines each run_images -- remote mirror preload persistent
    fi
    ((R <= STOPS)) || continue
    # moby-dind for the first size only
    first=(moby-dind)
    for n in "${STOP_SIZES[@]}"; do
        want stopn || break
        on_engines each run_stopn "$n" -- dind-init wrapdocker docker-dind "${first[@]}"
        first=()
    done
    if want stopcmp; then for n in "${STOPCMP_SIZES[@]}"; do on_engines run_stopcmp "$n"; done; fi
done

meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)" duration "$(((SECONDS - T_START) / 60)) min"
py report "$RAW" "$META" >"$OUT.tmp" && mv "$OUT.tmp" "$OUT"
echo; cat "$OUT"; echo
echo "bench: written to $OUT (raw data $RAW) in $(((SECONDS - T_START) / 60)) min"
