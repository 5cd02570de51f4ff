#!/usr/bin/env bash
# Benchmark: dind-init beside the other ways to start Docker-in-Docker, on each inner engine
# (Debian bookworm's Docker 20.10, trixie's 26.1, sid's 28.5), in one run. Its report is
# docs/BENCHMARKS.md, which says what every figure measures.
# Owns: the benchmark runs (figures, entrypoints compared); bench/benchlib.py parses and reports.
#
#   sudo scripts/bench.sh                         # every figure, every engine
#   sudo scripts/bench.sh -n 5 --stop-rounds 3 --wait-quiet 20
#   sudo scripts/bench.sh -n 2 --stop-rounds 1 --engines trixie --figures main,tls   # a quick look
#   sudo scripts/bench.sh --stop-rounds 3 --figures stopcmp -o target/bench-stopcmp.md  # issue 19's rows
#   sudo scripts/bench.sh --engines sid --figures rootless -o target/bench-rootless.md  # issue 22's row
#   sudo scripts/bench.sh -n 3 --figures images -o target/bench-images.md   # issue 21's table
#
# Options:
#   -n N               rounds of the main figures and of TLS (default 5)
#   --stop-rounds N    rounds of the stops with inner containers, stopn and stopcmp (default 3)
#   --engines LIST     bookworm,trixie,sid (default all three; comma- or space-separated)
#   --figures LIST     main,stopn,tls,stopcmp,rootless,images (default all): leave some out for a quick look
#   --stop-sizes LIST  inner containers per stop (default 1,10,50)
#   --stopcmp-sizes LIST  inner containers of the stopcmp figure (default 10,50,100)
#   --stop-eps LIST    entrypoints of the stops with inner containers (default dind-init,wrapdocker,docker-dind)
#   --stop-eps-first LIST  entrypoints added for the first size only (default moby-dind; "" for none)
#   --idle SECONDS     PID 1's idle window in figure 4 (default 10)
#   --wait-quiet [MIN] before every figure of a round, wait until the 1-minute load average is
#                      below --quiet-load (default 1.0), at most MIN minutes in all (default 30)
#   -o FILE            the markdown report (default target/bench.md; raw TSV and logs in target/bench/)
#   --keep-host        leave the throwaway host dockerd running
#
# Entrypoints (the same image per engine, every entrypoint in /usr/local/bin): dind-init;
# dind-init-dockerd (DIND_CONTAINERD_BY=dockerd); wrapdocker (bench/baselines/wrapdocker); moby-dind
# (hack/dind + `dockerd & until docker info; do sleep 1; done; exec "$@"`); docker-dind
# (bench/baselines/dockerd-entrypoint-tls given `dockerd --host=unix:///var/run/docker.sock`); the limits
# dockerd (alone) and dockerd-ctrd (bench/baselines/dockerd-ctrd: containerd, then dockerd --containerd).
# The last three run no command: their time to ready is dockerd's first "API listen on" line.
# Figures: main (1. time to ready, 2. readiness overhead, 3. `docker run --rm ... true`,
# 4. `docker stop` and PID 1's idle cost), stopn (`docker stop` with inner containers), stopcmp
# (issue 19: the outer stop against the inner daemon's parallel stop), tls (a service over TCP,
# with and without TLS), rootless (issue 22: time to ready and an inner `docker run --rm true`,
# a rootless dockerd against the rootful one), images (issue 21: a job needing 3 images, pulled from
# a local registry, through a mirror, preloaded, or already on a persistent volume), and the
# binaries' sizes.
# Not part of the test command. Needs root; installs what it needs. Starts its own host dockerd
# (instance BENCH_INSTANCE, default "bench"): never uses /var/run/docker.sock.
set -uo pipefail
# The shared helpers: deps, the throwaway host dockerd, the offline base images per suite,
# dind-init's events (scripts/lib.sh).
LIB_TAG=bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
ROOT=$DIND_REPO

N=5
STOP_ROUNDS=3
ENGINES=(bookworm trixie sid)
FIGURES=(main stopn tls stopcmp rootless images)
STOP_SIZES=(1 10 50)
STOPCMP_SIZES=(10 50 100)
STOP_EPS=(dind-init wrapdocker docker-dind)
STOP_EPS_FIRST=(moby-dind)
OUT=target/bench.md
IDLE=10
WAIT_QUIET=
QUIET_LOAD=1.0
KEEP_HOST=0
INSTANCE=${BENCH_INSTANCE:-bench}
CMDLINE="scripts/bench.sh${*:+ $*}"

usage_error() { echo "bench.sh: $*" >&2; exit 2; }
oneof() { local w=$1; shift; [[ " $* " == *" $w "* ]]; }   # WORD LIST...
while [ $# -gt 0 ]; do
    case "$1" in
        -n) N=${2:?-n needs a number}; shift 2 ;;
        -n*) N=${1#-n}; shift ;;
        --stop-rounds) STOP_ROUNDS=${2:?--stop-rounds needs a number}; shift 2 ;;
        # --engines LIST -> ENGINES=(...), --stop-eps-first LIST -> STOP_EPS_FIRST=(...), ...
        --engines|--figures|--stop-sizes|--stopcmp-sizes|--stop-eps|--stop-eps-first)
            [ "$1" = --stop-eps-first ] && : "${2?$1 needs a list}" || : "${2:?$1 needs a list}"
            v=${1#--} && v=${v^^} && read -r -a "${v//-/_}" <<<"${2//,/ }"; shift 2 ;;
        -o) OUT=${2:?-o needs a file}; shift 2 ;;
        --idle) IDLE=${2:?--idle needs seconds}; shift 2 ;;
        --wait-quiet)
            if [[ ${2:-} =~ ^[0-9]+$ ]]; then WAIT_QUIET=$2; shift 2; else WAIT_QUIET=30; shift; fi ;;
        --quiet-load) QUIET_LOAD=${2:?--quiet-load needs a number}; shift 2 ;;
        --keep-host) KEEP_HOST=1; shift ;;
        -h|--help) lib_usage; exit 0 ;;
        *) usage_error "unknown argument: $1 (see -h)" ;;
    esac
done
[[ $N =~ ^[1-9][0-9]*$ ]] || usage_error "-n wants a positive number, not '$N'"
[[ $STOP_ROUNDS =~ ^[0-9]+$ ]] || usage_error "--stop-rounds wants a number, not '$STOP_ROUNDS'"
[[ $IDLE =~ ^[0-9]+$ ]] || usage_error "--idle wants whole seconds, not '$IDLE'"
for e in "${ENGINES[@]}"; do oneof "$e" bookworm trixie sid || usage_error "--engines: '$e' is not bookworm, trixie or sid"; done
for f in "${FIGURES[@]}"; do oneof "$f" main stopn tls stopcmp rootless images || usage_error "--figures: '$f' is not main, stopn, tls, stopcmp, rootless or images"; done
for s in "${STOP_SIZES[@]}"; do [[ $s =~ ^[1-9][0-9]*$ ]] || usage_error "--stop-sizes: '$s'"; done
for s in "${STOPCMP_SIZES[@]}"; do [[ $s =~ ^[1-9][0-9]*$ ]] || usage_error "--stopcmp-sizes: '$s'"; done
for e in "${STOP_EPS[@]}" "${STOP_EPS_FIRST[@]}"; do
    oneof "$e" dind-init dind-init-dockerd wrapdocker moby-dind docker-dind ||
        usage_error "--stop-eps: '$e' is not one of dind-init dind-init-dockerd wrapdocker moby-dind docker-dind"
done
lib_is_root || usage_error "needs root (it starts its own dockerd)"
want() { oneof "$1" "${FIGURES[@]}"; }
[ "$STOP_ROUNDS" -gt 0 ] || read -r -a FIGURES <<<"$(printf '%s\n' "${FIGURES[@]}" | grep -vx 'stopn\|stopcmp' | tr '\n' ' ')"

BENCH=$ROOT/scripts/bench
TOOLS=(wrapdocker dind dockerd-entrypoint-tls dockerd-ctrd)   # the other entrypoints, in the image
docker() { command "$DOCKER_CLI" "$@"; }
py() { python3 "$BENCH/benchlib.py" "$@"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "NA"; else printf "%.6f\n", a - b }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "NA" || b == "NA" || b == 0) print "NA"; else printf "%.4f\n", a / b }'; }
load1() { cut -d' ' -f1 /proc/loadavg; }
short() { awk -v a="$1" 'BEGIN { if (a == "NA" || a == "") print "  n/a"; else printf "%5.2f", a }'; }

WORK=$ROOT/target/bench
LOGS=$WORK/logs
RAW=$WORK/raw.tsv
META=$WORK/meta
PFX=dib-$$
SETTLE=${BENCH_SETTLE:-1}   # seconds of pause before every timed run (the previous one's clean-up)
T_START=$SECONDS

# ------------------------------------------------------------------ set-up

lib_install_deps || exit 1
mkdir -p "$WORK" "$(dirname "$OUT")" || exit 1
rm -rf "$LOGS" "$WORK/certs"; mkdir -p "$LOGS" "$WORK/certs"
: >"$RAW"; : >"$META"
meta() { printf '%s=%s\n' "$1" "$2" >>"$META"; }

echo "bench: building the static release binaries (x86_64, aarch64)"
lib_build_binary || exit 1
BIN=$DIND_BIN
BIN_ARM=$ROOT/target/aarch64-unknown-linux-musl/release/dind-init
(cd "$ROOT" && cargo build --release --locked -q --target aarch64-unknown-linux-musl) ||
    echo "bench: WARNING: cargo build --target aarch64-unknown-linux-musl failed: no aarch64 size" >&2

NET=
# shellcheck disable=SC2086  # one id per word
cleanup() {
    local ids
    ids=$(docker ps -aq --filter "name=^$PFX-" 2>/dev/null); [ -n "$ids" ] && docker rm -fv $ids >/dev/null 2>&1
    ids=$(docker volume ls -q --filter "name=^$PFX-" 2>/dev/null); [ -n "$ids" ] && docker volume rm $ids >/dev/null 2>&1
    [ -n "$NET" ] && docker network rm "$NET" >/dev/null 2>&1
    rm -rf "$WORK/certs"
    if [ "$KEEP_HOST" = 0 ]; then lib_host_stop; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

lib_host_start "$INSTANCE" || exit 1
BENCH_EXEC_ROOT=$DIND_HOST_RUN/exec
lib_inner_image || exit 1

# bench_image: IMG[suite] for the current suite (lib_suite): the base image + .debs of what
# docker:dind's entrypoint needs beyond it (openssl, iproute2; fetched once per base rootfs,
# installed offline) + dind-init and TOOLS in /usr/local/bin, docker:dind's legacy-iptables
# directory, VOLUME /var/lib/docker.
declare -A IMG
bench_image() {
    lib_base_image || return 1
    local key cache=$DIND_CACHE/bench-$DIND_SUITE ctx img=dind-init-bench:latest$DIND_SUITE_TAG
    key=$(basename "$(lib_base_rootfs)" .tar) || return 1
    mkdir -p "$cache" || return 1
    if [ "$(cat "$cache/key" 2>/dev/null)" != "$key" ] || [ ! -d "$cache/debs" ]; then
        # only what the base lacks: asking apt for an installed package would upgrade it
        local pkgs=() p
        tar -xOf "$(lib_base_rootfs)" ./var/lib/dpkg/status >"$cache/base-status" || return 1
        for p in openssl iproute2; do
            grep -qx "Package: $p" "$cache/base-status" || pkgs+=("$p")
        done
        rm -rf "$cache/debs"
        if [ ${#pkgs[@]} -gt 0 ]; then
            lib_log "$DIND_SUITE: fetching ${pkgs[*]} for the docker:dind-style entrypoint"
            PY_CACHE=$cache lib_apt_fetch "$cache/debs" "${pkgs[@]}" || return 1
        else
            mkdir -p "$cache/debs"
        fi
        echo "$key" >"$cache/key"
    fi
    ctx=$(mktemp -d) || return 1
    mkdir -p "$ctx/debs"
    cp "$cache"/debs/*.deb "$ctx/debs/" 2>/dev/null
    cp "$BIN" "$ctx/dind-init"
    cp "${TOOLS[@]/#/$ROOT/bench/baselines/}" "$ctx/"
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
    lib_build "$img" "$ctx" || { rm -rf "$ctx"; return 1; }
    rm -rf "$ctx"
    IMG[$DIND_SUITE]=$img
}

for eng in "${ENGINES[@]}"; do
    lib_suite "$eng"
    echo "bench: image for $eng"
    bench_image || exit 1
done

# The rootless figure's images: IMGR[suite] = IMG[suite] + docker/debian-rootless.Dockerfile
# (docker:dind-rootless's shape: USER rootless, the data root its volume), and a 0666
# /dev/net/tun to bind-mount, as udev makes it (this machine's is 0600).
declare -A IMGR
TUN_NODE=$DIND_CACHE/bench-tun-0666
if want rootless; then
    lib_tun_node "$TUN_NODE" 0666 || exit 1
    for eng in "${ENGINES[@]}"; do
        lib_suite "$eng"
        echo "bench: rootless image for $eng"
        IMGR[$eng]=dind-init-bench:rootless$DIND_SUITE_TAG
        lib_rootless_image "${IMG[$eng]}" "${IMGR[$eng]}" "$DIND_CACHE/bench-$DIND_SUITE/rootless" || exit 1
    done
fi

# The service network of the TLS figure: the address is fixed (--ip), so that the poller on the
# host knows it before the container starts. The subnet is one the host daemon picked as free.
if want tls; then
    NET=$PFX-net
    docker network create "$NET" >/dev/null || exit 1
    subnet=$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "$NET")
    docker network rm "$NET" >/dev/null
    docker network create --subnet "$subnet" "$NET" >/dev/null || { NET=; exit 1; }
    SVC_IP=$(py subnet-ip "$subnet" 200)
fi

# The images figure (issue 21): a job that needs 3 images. IM_NAMES: ryuk (the static busybox
# image, 2 MB, as small as testcontainers' ryuk), app (busybox + 64 MiB of random bytes: a layer
# that does not compress), db (the first engine's base image, about 400 MB in one layer, as big as
# a database's). Saved by the host engine into IM_DIR (one plain archive each: DIND_PRELOAD's
# input) and pushed as library/dibench-NAME into Debian's docker-registry (distribution), which
# listens on 127.0.0.1:5000 in its own container; every run of the figure joins its network
# namespace (--network container:REG), which has loopback only: nothing is pulled from elsewhere.
IM_NAMES=(ryuk app db)
IM_DIR=$WORK/preload
REG=$PFX-registry
declare -A IM_VOL   # IM_VOL[engine]: the persistent volume, preloaded once before the rounds
if want images; then
    lib_suite "${ENGINES[0]}"
    echo "bench: images: the registry, the three images, their archives"
    lib_registry_image dind-init-bench/registry:latest || exit 1
    docker tag "$INNER_IMAGE" dibench-ryuk && docker tag "$BASE_IMAGE" dibench-db || exit 1
    ctx=$(mktemp -d) && head -c 64M /dev/urandom >"$ctx/blob" && printf 'FROM %s\nCOPY blob /blob\n' "$INNER_IMAGE" >"$ctx/Dockerfile" &&
        lib_build dibench-app "$ctx" || exit 1
    rm -rf "$ctx" "$IM_DIR" && mkdir -p "$IM_DIR" || exit 1
    for n in "${IM_NAMES[@]}"; do docker save -o "$IM_DIR/$n.tar" "dibench-$n" || exit 1; done
    chmod 0644 "$IM_DIR"/*.tar
    docker run -d --name "$REG" dind-init-bench/registry:latest >/dev/null || exit 1
    # shellcheck disable=SC2016  # run by the registry container's bash
    lib_retry 60 0.5 docker exec "$REG" bash -c 'exec 3<>/dev/tcp/127.0.0.1/5000' 2>/dev/null ||
        { docker logs "$REG" 2>&1 | tail -n 5; echo "bench: the registry never listened" >&2; exit 1; }
    # shellcheck disable=SC2016  # run by the container's sh
    docker run --rm --privileged --network "container:$REG" -v "$IM_DIR:/preload:ro" "${IMG[${ENGINES[0]}]}" sh -c \
        'for f in /preload/*.tar; do docker load -q -i "$f" || exit 1; done
         for n in '"${IM_NAMES[*]}"'; do r=127.0.0.1:5000/library/dibench-$n; docker tag "dibench-$n" "$r" && docker push -q "$r" || exit 1; done' \
        >"$LOGS/images-seed.log" 2>&1 || { tail -n 5 "$LOGS/images-seed.log"; echo "bench: seeding the registry failed" >&2; exit 1; }
    meta images_desc "$(for n in "${IM_NAMES[@]}"; do printf '%s %s MB, ' "dibench-$n" "$(($(stat -c %s "$IM_DIR/$n.tar") / 1000000))"; done | sed 's/, $//') (docker save, plain)"
    meta registry "$(docker run --rm --entrypoint docker-registry dind-init-bench/registry:latest --version 2>/dev/null), holding $(($(docker exec "$REG" du -sb /var/lib/docker-registry | cut -f1) / 1000000)) MB (the layers gzip-compressed: what a pull transfers)"
fi

# ------------------------------------------------------------------ meta

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
meta engines "${ENGINES[*]}"
for eng in "${ENGINES[@]}"; do
    v=$(docker run --rm --entrypoint sh "${IMG[$eng]}" -c \
        'dockerd --version; containerd --version; docker --version; openssl version' 2>/dev/null | tr '\n' ';')
    meta "engine.$eng" "$(echo "$v" | sed 's/;$//; s/;/; /g')"
    meta "engine_short.$eng" "$(echo "$v" | sed -n 's/^Docker version \([0-9]*\.[0-9]*\).*/\1/p')"
    meta "image.$eng" "${IMG[$eng]}"
done
meta image_desc "debootstrap SUITE minbase + docker.io (+ docker-cli), iptables, ca-certificates, procps, + iproute2 (docker:dind's \`ip\`), with dind-init, wrapdocker, hack/dind, dockerd-entrypoint-tls and dockerd-ctrd in /usr/local/bin; the same image for every entrypoint of an engine"
meta dind_version "$("$BIN" --version 2>/dev/null | head -n1)"
meta n "$N"
meta stop_rounds "$({ want stopn || want stopcmp; } && echo "$STOP_ROUNDS" || echo 0)"
want stopn && meta stop_sizes "${STOP_SIZES[*]}"
want stopcmp && meta stopcmp_sizes "${STOPCMP_SIZES[*]}"
meta idle "$IDLE"
if want rootless; then
    meta rootless_desc "USER rootless (dind-init as uid 1000, dockerd through rootlesskit), run with --privileged and a 0666 /dev/net/tun bind-mounted; the inner image a static busybox"
    for eng in "${ENGINES[@]}"; do
        meta "rootlesskit.$eng" "$(docker run --rm --entrypoint rootlesskit "${IMGR[$eng]}" --version 2>/dev/null | head -n 1)"
    done
fi

# --wait-quiet: before every figure of a round (at most WAIT_QUIET minutes in all)
wait_quiet() { lib_wait_quiet "$WAIT_QUIET" "$QUIET_LOAD"; }

# ------------------------------------------------------------------ the entrypoints

EPS=(dind-init dind-init-dockerd wrapdocker moby-dind docker-dind dockerd dockerd-ctrd)
# shellcheck disable=SC2016  # run by the container's sh
MOBY_LOOP='dockerd & until docker info >/dev/null 2>&1; do sleep 1; done; exec "$@"'
is_daemon() { oneof "$1" docker-dind dockerd dockerd-ctrd; }
is_dind_init() { oneof "$1" dind-init dind-init-dockerd; }

# ep_setup EP: EPARGS = docker run options choosing the entrypoint; CMDPRE = words before the
# user's command (command mode); DARGS = the arguments of a daemon-mode entrypoint.
ep_setup() {
    CMDPRE=() DARGS=() EPARGS=(--entrypoint "$1")
    case "$1" in
        dind-init-dockerd) EPARGS=(--entrypoint dind-init -e DIND_CONTAINERD_BY=dockerd) ;;
        moby-dind) EPARGS=(--entrypoint dind); CMDPRE=(sh -c "$MOBY_LOOP" sh) ;;
        docker-dind) EPARGS=(--entrypoint dockerd-entrypoint-tls); DARGS=(dockerd --host=unix:///var/run/docker.sock) ;;
    esac
}

# select_engine SUITE: ENG and IMAGE for the runs that follow
select_engine() { ENG=$1; IMAGE=${IMG[$1]}; }

record() { printf '%s\t%s\t%s\t%s\t%s\n' "$R" "$ENG" "$1" "$2" "$3" >>"$RAW"; }   # EP METRIC VALUE
# records EP PREFIX SUFFIX=VALUE...: one record of metric PREFIX+SUFFIX per pair
records() { local ep=$1 m=$2 kv; shift 2; for kv; do record "$ep" "$m${kv%%=*}" "${kv#*=}"; done; }
# every timed run records the load it started under
settle() { sleep "$SETTLE"; record "$1" load "$(load1)"; }

record_dockerd_times() { # EP LOG T0: docker run -> dockerd's first log line; its own start-up
    local first api
    read -r first api <<<"$(py dockerd-times "$2")"
    records "$1" d "start=$(sub "${first:-}" "$3")" "init=$(sub "${api:-}" "${first:-}")"
}

record_phases() { # EP LOG KEYS...: dind-init's own times (benchlib.py dind-phases)
    local ep=$1 log=$2 kv
    shift 2
    for kv in $(py dind-phases "$log"); do
        oneof "${kv%%=*}" "$@" && record "$ep" "ph_${kv%%=*}" "${kv#*=}"
    done
}

# start_attached LOG ARGS...: `docker run ARGS` in the background, its output to LOG; RUNPID
start_attached() {
    local log=$1
    shift
    : >"$log"
    docker run "$@" >"$log" 2>&1 &
    RUNPID=$!
}
# wait_log LOG PATTERN SECONDS: until PATTERN is in LOG (GNU tail follows it with inotify, no
# docker CLI polling to slow what is measured); fails when `docker run` ended first
wait_log() {
    timeout "$3" grep -q -m1 -- "$2" < <(tail -n +1 -f --pid="$RUNPID" "$1" 2>/dev/null)
}

# container_pid CIDFILE NAME: the container's PID 1 on the host, without a docker CLI call when
# possible (its CPU would slow the start-up being measured): the shim's init.pid.
container_pid() {
    local cid f
    cid=$(cat "$1" 2>/dev/null)
    if [ -n "$cid" ]; then
        for f in "$BENCH_EXEC_ROOT"/containerd/daemon/io.containerd.runtime.v2.task/*/"$cid"/init.pid; do
            [ -s "$f" ] && { cat "$f"; return; }
        done
    fi
    docker inspect -f '{{.State.Pid}}' "$2" 2>/dev/null
}

# Figures 1 and 2 (command mode): the command is `date`, which prints when it starts.
run_ready() { # EP
    local ep=$1 name="$PFX-$R-$ENG-$1-ready" log="$LOGS/$ENG-$R-$1-ready.log" t0 stamp api cmdt
    ep_setup "$ep"
    settle "$ep"
    t0=$EPOCHREALTIME
    docker run --privileged --name "$name" "${EPARGS[@]}" "$IMAGE" \
        "${CMDPRE[@]}" date '+BENCH_READY %s.%N' >"$log" 2>&1
    echo "rc=$?" >>"$log"
    stamp=$(py stamp "$log")
    api=$(py api-listen "$log")
    records "$ep" "" "ready=$(sub "$stamp" "$t0")" "overhead=$(sub "$stamp" "$api")"
    record_dockerd_times "$ep" "$log" "$t0"
    if is_dind_init "$ep"; then
        record_phases "$ep" "$log" ctrd_spawned ctrd_serving spawned ready command attempts cgroups_ms
        cmdt=$(lib_event_t "$log" command-start)
        [ -n "$cmdt" ] && record "$ep" ph_startlat "$(sub "$(sub "$stamp" "$t0")" "$cmdt")"
    fi
    docker rm -fv "$name" >/dev/null 2>&1
    printf '  %-8s %-17s ready %s s  overhead %s s\n' "$ENG" "$ep" "$(short "$(sub "$stamp" "$t0")")" "$(short "$(sub "$stamp" "$api")")"
}

# Figure 3 (command mode): `docker run --rm --privileged IMAGE true`.
run_true() { # EP
    local ep=$1 name="$PFX-$R-$ENG-$1-true" log="$LOGS/$ENG-$R-$1-true.log" t0 t1 rc
    ep_setup "$ep"
    settle "$ep"
    t0=$EPOCHREALTIME
    docker run --rm --privileged --name "$name" "${EPARGS[@]}" "$IMAGE" "${CMDPRE[@]}" true >"$log" 2>&1
    rc=$?
    t1=$EPOCHREALTIME
    echo "rc=$rc" >>"$log"
    records "$ep" run_true "=$(sub "$t1" "$t0")" "_rc=$rc"
    is_dind_init "$ep" && record_phases "$ep" "$log" shutdown_s
    printf '  %-8s %-17s run --rm true %s s (exit %s)\n' "$ENG" "$ep" "$(short "$(sub "$t1" "$t0")")" "$rc"
}

# Figures 1 and 3 in daemon mode: ready at dockerd's first "API listen on" line, when the host
# sends SIGTERM to the container's PID 1: "start, be ready, stop cleanly", like `true`.
run_daemon() { # EP
    local ep=$1 name="$PFX-$R-$ENG-$1-daemon" log="$LOGS/$ENG-$R-$1-daemon.log" t0 t1 api pid
    local cidfile="$WORK/cid.$$.$R"
    ep_setup "$ep"
    settle "$ep"
    rm -f "$cidfile"
    t0=$EPOCHREALTIME
    start_attached "$log" --rm --privileged --cidfile "$cidfile" --name "$name" "${EPARGS[@]}" "$IMAGE" "${DARGS[@]}"
    if wait_log "$log" 'API listen on' 120; then
        pid=$(container_pid "$cidfile" "$name")
        [ -n "$pid" ] && [ "$pid" != 0 ] && kill -TERM "$pid"
    fi
    wait "$RUNPID"
    t1=$EPOCHREALTIME
    rm -f "$cidfile"
    api=$(py api-listen "$log")
    records "$ep" "" "ready=$(sub "$api" "$t0")" "run_true=$(sub "$t1" "$t0")"
    record_dockerd_times "$ep" "$log" "$t0"
    printf '  %-8s %-17s ready %s s  run --rm, SIGTERM when ready %s s\n' "$ENG" "$ep" "$(short "$(sub "$api" "$t0")")" "$(short "$(sub "$t1" "$t0")")"
}

# PID 1's numbers from the host's /proc: "rss_kB cpu_ticks ctxsw comm".
pid1_sample() { # HOSTPID
    local pid=$1 rss cs st
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    cs=$(awk '/^(non)?voluntary_ctxt_switches:/ {s += $2} END {print s}' "/proc/$pid/status" 2>/dev/null)
    st=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}')
    echo "${rss:-NA} ${st:-NA} ${cs:-NA} $(cat "/proc/$pid/comm" 2>/dev/null)"
}

idle_sample() { # EP HOSTPID
    local ep=$1 pid=$2 a b ticks cs
    read -r -a a <<<"$(pid1_sample "$pid")"
    sleep "$IDLE"
    read -r -a b <<<"$(pid1_sample "$pid")"
    ticks=$(sub "${b[1]:-}" "${a[1]:-}" | awk '{print ($1 == "NA") ? "NA" : int($1 + 0.5)}')
    cs=$(sub "${b[2]:-}" "${a[2]:-}" | awk '{print ($1 == "NA") ? "NA" : int($1 + 0.5)}')
    records "$ep" "" "pid1_comm=${b[3]:-?}" "rss_kb=${b[0]:-NA}" "cpu_ticks=$ticks" "ctxsw=$cs"
    echo "${b[3]:-?} rss ${b[0]:-NA} kB, +$ticks ticks, +$cs ctxsw in ${IDLE}s"
}

# stop_outcome EP LOG: how the inner dockerd ended, from the container's log
stop_outcome() {
    if ! is_dind_init "$1"; then
        if grep -q 'Daemon shutdown complete' "$2"; then echo clean; else echo "killed"; fi
    elif lib_event_has "$2" dockerd-exit clean=true killed=false; then
        if lib_event_has "$2" inner-kill; then echo "clean, inner SIGKILLed"; else echo clean; fi
    elif lib_event_has "$2" dockerd-exit killed=true; then echo "SIGKILLed by dind-init"
    else echo "unclean"
    fi
}

# start_running EP NAME LOG [RUN-ARGS...]: the DinD container, running until stopped (`sleep
# infinity` after the ready mark, or the daemon alone), started in the background; returns once
# it is ready (RUNPID: its `docker run`), or removes it and fails after 120 s.
start_running() {
    local ep=$1 name=$2 log=$3 pat=BENCH_READY
    shift 3
    if is_daemon "$ep"; then
        start_attached "$log" --privileged --name "$name" "$@" "${EPARGS[@]}" "$IMAGE" "${DARGS[@]}"
        pat="API listen on"
    else
        start_attached "$log" --privileged --name "$name" "$@" "${EPARGS[@]}" "$IMAGE" \
            "${CMDPRE[@]}" sh -c 'date "+BENCH_READY %s.%N"; exec sleep infinity'
    fi
    wait_log "$log" "$pat" 120 && return 0
    echo "  $ENG $ep: never got ready; its log:" >&2
    tail -n 20 "$log" >&2
    docker rm -fv "$name" >/dev/null 2>&1
    wait "$RUNPID"
    return 1
}

# timed_stop EP NAME LOG: `docker stop NAME`, timed; sets t0 and t1 (the stop's start and end),
# code (its exit code) and how (stop_outcome) in the caller's locals.
timed_stop() {
    t0=$EPOCHREALTIME
    docker stop "$2" >/dev/null
    t1=$EPOCHREALTIME
    wait "$RUNPID"
    code=$(docker inspect -f '{{.State.ExitCode}}' "$2")
    how=$(stop_outcome "$1" "$3")
}

# Figure 4: a running container (`sleep infinity`, or the daemon alone), idle sampling, then
# `docker stop`.
run_stop() { # EP
    local ep=$1 name="$PFX-$R-$ENG-$1-stop" log="$LOGS/$ENG-$R-$1-stop.log" hostpid t0 t1 code how s
    ep_setup "$ep"
    start_running "$ep" "$name" "$log" || return 1
    hostpid=$(docker inspect -f '{{.State.Pid}}' "$name")
    s=$(idle_sample "$ep" "$hostpid")
    record "$ep" load "$(load1)"   # the idle window was the pause
    timed_stop "$ep" "$name" "$log"
    records "$ep" stop "=$(sub "$t1" "$t0")" "_exit=$code" "_daemon=$how"
    docker rm -fv "$name" >/dev/null 2>&1
    printf '  %-8s %-17s stop %s s (exit %s, dockerd %s); PID 1: %s\n' "$ENG" "$ep" "$(short "$(sub "$t1" "$t0")")" "$code" "$how" "$s"
}

# Figure 4's other reference: wrapdocker without a command, `bash --login` stays PID 1.
run_bash_pid1() {
    local name="$PFX-$R-$ENG-wrapdocker-bash" hostpid i s
    docker run -d -i --privileged --name "$name" --entrypoint wrapdocker "$IMAGE" >/dev/null
    hostpid=$(docker inspect -f '{{.State.Pid}}' "$name")
    for ((i = 0; i < 1200; i++)); do
        tr '\0' ' ' <"/proc/$hostpid/cmdline" 2>/dev/null | grep -q -- '--login' && break
        sleep 0.1
    done
    s=$(idle_sample wrapdocker-bash "$hostpid")
    docker rm -fv "$name" >/dev/null 2>&1
    printf '  %-8s %-17s no command, PID 1: %s\n' "$ENG" wrapdocker "$s"
}

# ------------------------------------------------------------------ stop with inner containers

# shellcheck disable=SC2016  # run by the container's sh
INNER_CMD='trap "exit 0" TERM; while :; do sleep 1; done'
# start_inner EP NAME COUNT LOG METRIC: the DinD container NAME (its data root on the fresh
# volume NAME-v, the inner image's tar mounted), COUNT inner containers started in it through
# `docker exec` (4 at a time); RUNNING = how many run; the start's time recorded as METRIC_setup
start_inner() {
    local ep=$1 name=$2 n=$3 log=$4 ts
    ep_setup "$ep"
    start_running "$ep" "$name" "$log" -v "$name-v:/var/lib/docker" -v "$INNER_TAR:/images/inner.tar:ro" ||
        { docker volume rm "$name-v" >/dev/null 2>&1; return 1; }
    ts=$EPOCHREALTIME
    # shellcheck disable=SC2016  # run by the container's sh
    RUNNING=$(docker exec -e "N=$n" -e "INNER=$INNER_IMAGE" -e "CMD=$INNER_CMD" "$name" sh -c \
        'for i in $(seq 100); do docker version >/dev/null 2>&1 && break; sleep 0.1; done
         docker load -q -i /images/inner.tar >/dev/null &&
         seq "$N" | xargs -P 4 -I{} docker run -d --name "in{}" "$INNER" sh -c "$CMD" >/dev/null
         docker ps -q | wc -l' 2>"$log.exec")
    record "$ep" "${5}_setup" "$(sub "$EPOCHREALTIME" "$ts")"
    [ "${RUNNING:-0}" = "$n" ] || echo "  $ENG $ep: $RUNNING of $n inner containers running (see $log)" >&2
}
# inner_states NAME: the inner daemon's last record of its containers, read from the volume
# NAME-v, which is then removed: STATES = (exit0 other running), INNER = them in words
inner_states() {
    read -r -a STATES <<<"$(docker run --rm -v "$1-v:/var/lib/docker" --entrypoint sh "$IMAGE" -c \
        'for f in /var/lib/docker/containers/*/config.v2.json; do cat "$f"; echo; done' 2>/dev/null | py inner-states)"
    docker volume rm "$1-v" >/dev/null 2>&1
    INNER="${STATES[0]:-0}/$RUNNING exit 0"
    [ "${STATES[1]:-0}" != 0 ] && INNER+=", ${STATES[1]} other exit"
    [ "${STATES[2]:-0}" != 0 ] && INNER+=", ${STATES[2]} running"
}

# run_stopn EP COUNT: COUNT inner containers (start_inner), the timed `docker stop`, then the
# inner daemon's own record of its containers (inner_states).
run_stopn() {
    local ep=$1 n=$2 name="$PFX-$R-$ENG-$1-stop$2" log="$LOGS/$ENG-$R-$1-stop$2.log" t0 t1 code how
    start_inner "$ep" "$name" "$n" "$log" "stopn$n" || return 1
    settle "$ep"
    timed_stop "$ep" "$name" "$log"
    docker rm -f "$name" >/dev/null 2>&1
    inner_states "$name"
    records "$ep" "stopn$n" "=$(sub "$t1" "$t0")" "_exit=$code" "_how=$how" "_inner=$INNER"
    printf '  %-8s %-17s %2s inner: stop %s s (exit %s, dockerd %s; inner %s)\n' "$ENG" "$ep" "$n" "$(short "$(sub "$t1" "$t0")")" "$code" "$how" "$INNER"
}

# run_stopcmp COUNT (issue 19): dind-init with COUNT inner containers as in run_stopn; their
# parallel stop by the inner daemon (`docker stop $(docker ps -q)` through docker exec, timed
# inside the container), `docker start` of them again (4 at a time) until all run, then the
# outer `docker stop`, timed on the host. Clean: dockerd exited cleanly and the inner daemon
# recorded all COUNT exit 0.
run_stopcmp() {
    local ep=dind-init n=$1 name="$PFX-$R-$ENG-stopcmp$1" log="$LOGS/$ENG-$R-stopcmp$1.log" t0 t1 code how
    local metric=stopcmp$1 ts st restarted kill=no clean=no outer inner
    start_inner "$ep" "$name" "$n" "$log" "$metric" || return 1
    settle "$ep"
    # shellcheck disable=SC2016  # run by the container's sh
    read -r -a st <<<"$(docker exec "$name" sh -c 'a=$(date +%s.%N); docker stop $(docker ps -q) >/dev/null
        b=$(date +%s.%N); echo "$a $b $(docker ps -q | wc -l)"' 2>>"$log.exec")"
    [ "${st[2]:-x}" = 0 ] || echo "  $ENG stopcmp $n: the inner stop left ${st[2]:-?} running (see $log.exec)" >&2
    ts=$EPOCHREALTIME
    # shellcheck disable=SC2016  # run by the container's sh
    restarted=$(docker exec -e "N=$RUNNING" "$name" sh -c 'docker ps -aq | xargs -P 4 -n 1 docker start >/dev/null
        for i in $(seq 100); do [ "$(docker ps -q | wc -l)" -ge "$N" ] && break; sleep 0.1; done
        docker ps -q | wc -l' 2>>"$log.exec")
    record "$ep" "${metric}_restart" "$(sub "$EPOCHREALTIME" "$ts")"
    [ "$restarted" = "$RUNNING" ] || echo "  $ENG stopcmp $n: $restarted of $RUNNING running again (see $log.exec)" >&2
    settle "$ep"
    timed_stop "$ep" "$name" "$log"
    docker rm -f "$name" >/dev/null 2>&1
    inner_states "$name"
    lib_event_has "$log" inner-kill && kill=yes
    [[ $how == clean* ]] && [ "${STATES[0]:-0}" = "$n" ] && [ "${STATES[1]:-0}${STATES[2]:-0}" = 00 ] && clean=yes
    outer=$(sub "$t1" "$t0") inner=$(sub "${st[1]:-}" "${st[0]:-}")
    records "$ep" "$metric" "=$outer" "_inner=$inner" "_ratio=$(div "$outer" "$inner")" "_exit=$code" "_how=$how" \
        "_clean=$clean" "_kill=$kill" "_state=$INNER"
    printf '  %-8s stopcmp %3s inner: outer stop %s s, inner parallel stop %s s, ratio %s (exit %s, dockerd %s, SIGKILL step %s; inner %s)\n' \
        "$ENG" "$n" "$(short "$outer")" "$(short "$inner")" "$(short "$(div "$outer" "$inner")")" "$code" "$how" "$kill" "$INNER"
}

# ------------------------------------------------------------------ TLS

# run_tls EP on|off: the service (no command) with DOCKER_TLS_CERTDIR=/certs (a fresh host
# directory) or "", at a fixed address on NET with the alias `docker`; the poller on the host
# (benchlib.py poll) starts connecting once `docker run -d` has returned (the address only exists
# then: an earlier connect would wait for ARP); afterwards `docker version` from another container.
run_tls() {
    local ep=$1 tls=$2 name="$PFX-$R-$ENG-$1-tls$2" log="$LOGS/$ENG-$R-$1-tls$2.log" certs port env go poll pid t0 o
    local certdir=$WORK/certs/$name up api ms='' cl=(-e DOCKER_HOST=tcp://docker:2375) v
    go=$WORK/go.$name poll=$WORK/poll.$name
    rm -f "$go"
    mkdir -p "$certdir"
    # docker:dind's way: no command; with TLS off its users add --tls=false (dind-init does that itself)
    EPARGS=(--entrypoint dind-init) DARGS=()
    if [ "$ep" = docker-dind ]; then
        EPARGS=(--entrypoint dockerd-entrypoint-tls)
        [ "$tls" = off ] && DARGS=(--tls=false)
    fi
    if [ "$tls" = on ]; then
        env=(-e DOCKER_TLS_CERTDIR=/certs -v "$certdir:/certs") port=2376 certs=$certdir
    else
        env=(-e DOCKER_TLS_CERTDIR=) port=2375 certs=-
    fi
    py poll "$SVC_IP" "$port" "$certs" "$go" 120 >"$poll" &
    pid=$!
    settle "$ep"
    t0=$EPOCHREALTIME
    docker run -d --privileged --name "$name" --network "$NET" --ip "$SVC_IP" --network-alias docker \
        "${EPARGS[@]}" "${env[@]}" "$IMAGE" "${DARGS[@]}" >/dev/null
    : >"$go"
    wait "$pid"
    read -r -a o <<<"$(cat "$poll")"
    rm -f "$go" "$poll"
    docker logs "$name" >"$log" 2>&1
    # what TLS changes in the start-up, from the logs: dind-init's set-up until dockerd is
    # spawned (the certificates are made before), dockerd's own start, its pause for TCP without TLS
    read -r up api <<<"$(py dockerd-times "$log")"
    records "$ep" tls_ "ready_$tls=$(sub "${o[1]:-}" "$t0")" "port_$tls=$(sub "${o[0]:-}" "$t0")" \
        "api_$tls=$(sub "$(py api-listen "$log")" "$t0")" "dinit_$tls=$(sub "${api:-}" "${up:-}")" \
        "pause_$tls=$(py insecure-pause "$log")"
    [ "$ep" = dind-init ] && record "$ep" "tls_spawned_$tls" "$(lib_event_t "$log" dockerd-start)"
    if [ "$tls" = on ]; then
        if [ "$ep" = dind-init ]; then ms=$(lib_event_get "$log" tls ms); else ms=$(py openssl-ms "$log"); fi
        record "$ep" tls_cert_ms "${ms:-NA}"
    fi
    # a real client, untimed: the engine's docker CLI from another container on the network
    [ "$tls" = on ] && cl=(-v "$certdir/client:/certs/client:ro" -e DOCKER_HOST=tcp://docker:2376
        -e DOCKER_TLS_VERIFY=1 -e DOCKER_CERT_PATH=/certs/client)
    v=$(docker run --rm --network "$NET" "${cl[@]}" --entrypoint docker "$IMAGE" version --format '{{.Server.Version}}' 2>>"$log")
    if [ -n "$v" ]; then record "$ep" "tls_client_$tls" "ok $v"; else record "$ep" "tls_client_$tls" failed; fi
    docker rm -fv "$name" >/dev/null 2>&1
    rm -rf "$certdir"
    printf '  %-8s %-17s TLS %-3s ready %s s (port open %s s)%s; docker version: %s\n' "$ENG" "$ep" "$tls" \
        "$(short "$(sub "${o[1]:-}" "$t0")")" "$(short "$(sub "${o[0]:-}" "$t0")")" "${ms:+, certificates $ms ms}" "${v:-FAILED}"
}

# ------------------------------------------------------------------ rootless

# run_rootless rootful|rootless (issue 22): the engine's image (dind-init, a rootful dockerd) or its
# rootless image (dind-init as uid 1000, dockerd through rootlesskit), command mode: time to ready
# (`docker run` -> the command starts, as figure 1), then in the same container an untimed
# `docker run --rm INNER true` and three timed ones (from inside: no docker exec in the time).
# shellcheck disable=SC2016  # run by the container's sh
RL_CMD='date "+BENCH_READY %s.%N"; docker load -q -i /images/inner.tar >/dev/null || exit 3
    docker run --rm "$INNER" true || exit 4
    for i in 1 2 3; do a=$(date +%s.%N); docker run --rm "$INNER" true || exit 5; echo "BENCH_TRUE $a $(date +%s.%N)"; done
    docker info -f "BENCH_DRIVER {{.Driver}}"'
run_rootless() {
    local v=$1 name="$PFX-$R-$ENG-$1" log="$LOGS/$ENG-$R-$1-rootless.log" t0 rc img=$IMAGE args=() ready x
    [ "$v" = rootless ] && img=${IMGR[$ENG]} args=(-v "$TUN_NODE:/dev/net/tun")
    settle "$v"
    t0=$EPOCHREALTIME
    docker run --rm --privileged --name "$name" "${args[@]}" -v "$INNER_TAR:/images/inner.tar:ro" -e "INNER=$INNER_IMAGE" \
        "$img" sh -c "$RL_CMD" >"$log" 2>&1
    rc=$?
    echo "rc=$rc" >>"$log"
    ready=$(sub "$(py stamp "$log")" "$t0")
    records "$v" rl_ "ready=$ready" "rc=$rc" "driver=$(sed -n 's/^BENCH_DRIVER //p' "$log")"
    while read -r x; do record "$v" rl_true "$x"; done < <(awk '$1 == "BENCH_TRUE" { printf "%.6f\n", $3 - $2 }' "$log")
    printf '  %-8s %-9s ready %s s, inner run --rm true %s s (exit %s)\n' "$ENG" "$v" "$(short "$ready")" \
        "$(awk '$1 == "BENCH_TRUE" { printf "%.3f ", $3 - $2 }' "$log")" "$rc"
}
rootless_runs() { local v; for v in $(rot "$R" rootful rootless); do run_rootless "$v"; done; }

# ------------------------------------------------------------------ images across jobs

# run_images remote|mirror|preload|persistent (issue 21): dind-init on the engine's image, command
# mode, /var/lib/docker on a volume; the job pulls each of the three images it does not have, then
# starts its first inner container (`docker run -d`, as testcontainers starts ryuk). Timed from
# `docker run` on the host to `docker run -d` returning inside (`date +%s.%N`). remote: a fresh
# volume, the job pulls 127.0.0.1:5000/library/dibench-NAME; mirror: a fresh volume,
# DOCKER_REGISTRY_MIRROR=http://127.0.0.1:5000, the job pulls dibench-NAME; preload: a fresh
# volume, DIND_PRELOAD of the three archives; persistent: DIND_PRELOAD again, on the engine's volume
# that a first (untimed) preload filled: every archive skipped.
# shellcheck disable=SC2016  # run by the container's sh
IM_JOB='date "+BENCH_CMD %s.%N"
    for n in '"${IM_NAMES[*]}"'; do docker image inspect "$P$n" >/dev/null 2>&1 && continue
        docker pull -q "$P$n" >/dev/null || exit 3; echo "BENCH_PULLED $n"; done
    docker run -d --name first "${P}ryuk" sleep 600 >/dev/null || exit 4
    date "+BENCH_READY %s.%N"
    docker rm -f first >/dev/null'
run_images() {
    local v=$1 name="$PFX-$R-$ENG-$1" log="$LOGS/$ENG-$R-$1-images.log" t0 rc vol first cmd args=() p=dibench-
    case "$v" in
        remote) p=127.0.0.1:5000/library/dibench- ;;
        mirror) args=(-e DOCKER_REGISTRY_MIRROR=http://127.0.0.1:5000) ;;
        preload | persistent) args=(-v "$IM_DIR:/preload:ro" -e DIND_PRELOAD=/preload) ;;
    esac
    if [ "$v" = persistent ]; then vol=${IM_VOL[$ENG]}; else vol=$(docker volume create "$name") || return 1; fi
    settle "$v"
    t0=$EPOCHREALTIME
    docker run --rm --privileged --name "$name" --network "container:$REG" -v "$vol:/var/lib/docker" "${args[@]}" \
        -e "P=$p" "$IMAGE" sh -c "$IM_JOB" >"$log" 2>&1
    rc=$?
    echo "rc=$rc" >>"$log"
    [ "$v" = persistent ] || docker volume rm "$vol" >/dev/null
    first=$(sub "$(py stamp "$log")" "$t0")
    cmd=$(sub "$(sed -n 's/^BENCH_CMD //p' "$log")" "$t0")
    records "$v" im_ "first=$first" "cmd=$cmd" "rc=$rc" "pulled=$(grep -c '^BENCH_PULLED ' "$log")" \
        "ready=$(lib_event_t "$log" dockerd-ready)" "preload=$(lib_event_get "$log" preload-done secs)" \
        "loaded=$(lib_event_get "$log" preload-done loaded)" "skipped=$(lib_event_get "$log" preload-done skipped)"
    printf '  %-8s %-10s first inner container %s s (command started %s s; exit %s)\n' "$ENG" "$v" "$(short "$first")" "$(short "$cmd")" "$rc"
}
images_runs() { local v; for v in $(rot "$R" remote mirror preload persistent); do run_images "$v"; done; }
# images_volume: IM_VOL[ENG], the engine's persistent volume, filled by one untimed preload
images_volume() {
    IM_VOL[$ENG]=$PFX-persist-$ENG
    docker volume create "${IM_VOL[$ENG]}" >/dev/null &&
        docker run --rm --privileged --network "container:$REG" -v "${IM_VOL[$ENG]}:/var/lib/docker" \
            -v "$IM_DIR:/preload:ro" -e DIND_PRELOAD=/preload "$IMAGE" true >"$LOGS/$ENG-images-volume.log" 2>&1 ||
        { tail -n 5 "$LOGS/$ENG-images-volume.log"; echo "bench: $ENG: filling the persistent volume failed" >&2; return 1; }
}

# ------------------------------------------------------------------ sizes

sizes() {
    local d out="" f s b p eng
    d=$(mktemp -d)
    link() { if lib_static_elf "$1"; then echo static; else echo dynamic; fi; }
    out+="dind-init (x86_64)|$(stat -c %s "$BIN")|$(link "$BIN")|this repo, \`cargo build --release\` (musl);"
    if [ -x "$BIN_ARM" ]; then
        out+="dind-init (aarch64)|$(stat -c %s "$BIN_ARM")|$(link "$BIN_ARM")|this repo, \`cargo build --release --target aarch64-unknown-linux-musl\`;"
    fi
    if (cd "$d" && { apt-get download tini dumb-init >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 && apt-get download tini dumb-init >/dev/null 2>&1; }; }); then
        for f in "$d"/*.deb; do dpkg-deb -x "$f" "$d/x"; done
        for b in tini-static:tini tini:tini dumb-init:dumb-init; do   # BINARY:PACKAGE
            f=$d/x/usr/bin/${b%%:*} p=${b#*:}
            [ -f "$f" ] && out+="${b%%:*}|$(stat -c %s "$f")|$(link "$f")|Debian $p $(dpkg-deb -f "$d"/"$p"_*.deb Version) (x86_64);"
        done
    else
        echo "bench: apt-get download tini dumb-init failed" >&2
    fi
    # What the shell entrypoints need in the image besides dockerd, per engine.
    for eng in "${ENGINES[@]}"; do
        b=$(docker run --rm --entrypoint stat "${IMG[$eng]}" -L -c '%n|%s' /bin/bash /usr/bin/docker /usr/bin/openssl 2>/dev/null)
        while IFS='|' read -r f s; do
            case "$f" in
                /bin/bash) [ "$eng" = "${ENGINES[0]}" ] && out+="bash (in the image)|$s|dynamic|Debian $eng, needed by wrapdocker (a bash script);" ;;
                /usr/bin/docker) out+="docker CLI ($eng)|$s|dynamic|Debian $eng, needed by wrapdocker and the hack/dind loop (\`docker info\`);" ;;
                /usr/bin/openssl) [ "$eng" = "${ENGINES[0]}" ] && out+="openssl CLI (in the image)|$s|dynamic|Debian $eng, needed by docker:dind's TLS (plus libssl);" ;;
            esac
        done <<<"$b"
    done
    rm -rf "$d"
    meta sizes "$out"
}

# ------------------------------------------------------------------ the runs

# rot ROUND WORDS...: WORDS rotated by ROUND-1
rot() { local r=$1 n i; shift; n=$#; local a=("$@"); for ((i = 0; i < n; i++)); do printf '%s ' "${a[(i + r - 1) % n]}"; done; }

# on_engines CMD...: CMD once per engine, in this round's order (ENG and IMAGE set)
on_engines() { local eng; for eng in "${engs[@]}"; do select_engine "$eng"; "$@"; done; }
main_starts() {
    local ep
    for ep in "${order[@]}"; do if is_daemon "$ep"; then run_daemon "$ep"; else run_ready "$ep"; fi; done
    for ep in "${order[@]}"; do is_daemon "$ep" || run_true "$ep"; done
}
main_stops() {
    local ep
    for ep in "${order[@]}"; do run_stop "$ep"; done
    [ "$ENG" = "${ENGINES[0]}" ] && run_bash_pid1
}
tls_runs() { local ep t; for ep in $(rot "$R" dind-init docker-dind); do for t in $(rot "$R" on off); do run_tls "$ep" "$t"; done; done; }
stopn_runs() { local ep; for ep in "${sorder[@]}"; do run_stopn "$ep" "$n"; done; }

sizes
if want images; then for eng in "${ENGINES[@]}"; do select_engine "$eng"; images_volume || exit 1; done; fi
ROUNDS=$N
{ want stopn || want stopcmp; } && [ "$STOP_ROUNDS" -gt "$ROUNDS" ] && ROUNDS=$STOP_ROUNDS
echo "bench: $ROUNDS round(s) on ${ENGINES[*]}: figures ${FIGURES[*]} (main and tls: $N rounds; stops with inner containers: $STOP_ROUNDS rounds)"
for ((R = 1; R <= ROUNDS; R++)); do
    read -r -a engs <<<"$(rot "$R" "${ENGINES[@]}")"
    read -r -a order <<<"$(rot "$R" "${EPS[@]}")"
    echo "round $R/$ROUNDS (engines: ${engs[*]}; entrypoints: ${order[*]}), load $(load1), $(((SECONDS - T_START) / 60)) min so far"
    if want main && ((R <= N)); then
        wait_quiet; on_engines main_starts
        wait_quiet; on_engines main_stops
    fi
    want tls && ((R <= N)) && { wait_quiet; on_engines tls_runs; }
    want rootless && ((R <= N)) && { wait_quiet; on_engines rootless_runs; }
    want images && ((R <= N)) && { wait_quiet; on_engines images_runs; }
    if want stopn && ((R <= STOP_ROUNDS)); then
        for n in "${STOP_SIZES[@]}"; do
            if [ "$n" = "${STOP_SIZES[0]}" ]; then
                read -r -a sorder <<<"$(rot "$R" "${STOP_EPS[@]}" "${STOP_EPS_FIRST[@]}")"
            else
                read -r -a sorder <<<"$(rot "$R" "${STOP_EPS[@]}")"
            fi
            wait_quiet; on_engines stopn_runs
        done
    fi
    if want stopcmp && ((R <= STOP_ROUNDS)); then
        for n in "${STOPCMP_SIZES[@]}"; do wait_quiet; on_engines run_stopcmp "$n"; done
    fi
done

meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
meta duration "$(((SECONDS - T_START) / 60)) min"
meta notes "- What each figure measures, the clocks and the baselines: docs/BENCHMARKS.md.\n- Raw data: \`target/bench/raw.tsv\` (round, engine, entrypoint, metric, value); every run's log: \`target/bench/logs/ENGINE-ROUND-ENTRYPOINT-FIGURE.log\`."

py report "$RAW" "$META" >"$OUT.tmp" && mv "$OUT.tmp" "$OUT"
echo
cat "$OUT"
echo
echo "bench: written to $OUT (raw data $RAW) in $(((SECONDS - T_START) / 60)) min"
