#!/usr/bin/env bash
# Start-up and shutdown of the inner engine, per Debian suite (issue 15): bookworm's docker.io
# 20.10, trixie's 26.1 and sid's 28.x, each under dind-init, with dockerd's managed containerd and
# with containerd started first.
#
#   sudo scripts/engines.sh                      # 7 rounds, bookworm trixie sid
#   sudo scripts/engines.sh -n 10 trixie sid     # rounds, suites
#   sudo scripts/engines.sh -o FILE              # the markdown tables (default target/engines.md)
#   sudo scripts/engines.sh --wait-quiet 60      # before every run wait (at most 60 min in all)
#                                                # until the 1-min load average is below
#                                                # --quiet-load (default 1.0)
#
# Per suite, per round (the order of the suites rotates every round), four runs of
# `docker run --rm --privileged IMAGE true` (fresh anonymous volume at /var/lib/docker):
#   managed   dind-init/debian:test-SUITE as it is: dockerd starts its own containerd
#   wait      the same with DIND_WAIT_CONTAINERD=1: dockerd's own shutdown, to its very end
#   external  DIND_DOCKERD=/usr/local/bin/dockerd-ext: a shell wrapper that starts containerd
#             first (the very config dockerd generates for its managed one: root
#             /var/lib/docker/containerd/daemon, state /var/run/docker/containerd/daemon; socket
#             /run/containerd/containerd.sock), double-forked so that it is dind-init's child,
#             waits for its socket, then execs `dockerd --containerd=/run/containerd/containerd.sock`
#   parallel  DIND_DOCKERD=/usr/local/bin/dockerd-par: the same containerd, and dockerd
#             --containerd exec'd at once, without waiting for the socket (containerd boots while
#             dockerd's binary loads and initialises)
# (Every run's log: target/engines/logs/SUITE-MODE-ROUND.log.)
# Figures, from dind-init's log and dockerd's own time stamps: dind-init's time to ready (`ready:
# dockerd answered /_ping ... after X s`; for `external` it includes starting containerd),
# dockerd's "Starting up" -> "API listen on", containerd "successfully booted" -> "Loading
# containers: start." (the second the 26.x engine loses), containerd start -> socket (external),
# dind-init's `shutdown: dockerd exited cleanly after X s`, and dockerd's "Daemon shutdown
# complete" -> exit (wait: its fixed 1 s sleep for containerd, if it still has one).
#
# Host dockerd instance ENGINES_INSTANCE (default "engines"); images built offline by
# scripts/lib.sh (debootstrap per suite, cached). Raw logs in target/engines/. Needs root.
set -uo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.." || exit 1
export PATH="$HOME/.cargo/bin:$PATH"
export LIB_TAG=engines
# shellcheck source-path=SCRIPTDIR source=lib.sh
. scripts/lib.sh

usage() { sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
N=7
OUT=target/engines.md
SUITES=()
WAIT_QUIET=
QUIET_LOAD=1.0
while [ $# -gt 0 ]; do
    case "$1" in
        -n) N=${2:?-n needs a number}; shift 2 ;;
        -o) OUT=${2:?-o needs a file}; shift 2 ;;
        --wait-quiet) WAIT_QUIET=${2:?--wait-quiet needs minutes}; shift 2 ;;
        --quiet-load) QUIET_LOAD=${2:?--quiet-load needs a number}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        bookworm|trixie|forky|sid|testing|unstable) SUITES+=("$1"); shift ;;
        *) echo "engines.sh: unknown argument: $1 (see -h)" >&2; exit 2 ;;
    esac
done
[ ${#SUITES[@]} -gt 0 ] || SUITES=(bookworm trixie sid)
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "engines.sh: -n wants a positive number" >&2; exit 2; }
lib_is_root || { echo "engines.sh: needs root (it starts its own dockerd)" >&2; exit 2; }

WORK=$DIND_REPO/target/engines
LOGS=$WORK/logs
PFX=eng-$$
MODES=(managed wait external parallel)

cleanup() {
    local ids
    ids=$(DK_TIMEOUT=30 dk ps -aq --filter "name=^$PFX-" 2>/dev/null)
    # shellcheck disable=SC2086
    [ -n "$ids" ] && DK_TIMEOUT=60 dk rm -fv $ids >/dev/null 2>&1
    lib_host_stop
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# bench_image: ENGBENCH_IMAGE = DIND_IMAGE + the dockerd-ext wrapper and its containerd config
bench_image() {
    ENGBENCH_IMAGE=dind-init-test/engbench:$DIND_SUITE
    local ctx
    ctx=$(mktemp -d) || return 1
    cat >"$ctx/containerd.toml" <<'EOF'
# what dockerd 26/28 write for their managed containerd (/var/run/docker/containerd/containerd.toml),
# with the sockets under /run/containerd
disabled_plugins = ["io.containerd.grpc.v1.cri"]
root = "/var/lib/docker/containerd/daemon"
state = "/var/run/docker/containerd/daemon"
version = 2

[debug]
  address = "/run/containerd/debug.sock"

[grpc]
  address = "/run/containerd/containerd.sock"
  max_recv_message_size = 16777216
  max_send_message_size = 16777216
EOF
    cat >"$ctx/dockerd-ext" <<'EOF'
#!/bin/sh
# containerd first (dind-init's child: double-forked), then dockerd --containerd
sock=/run/containerd/containerd.sock
mkdir -p /run/containerd /var/run/docker/containerd
rm -f "$sock" "$sock.ttrpc"
t0=$(date +%s.%N)
(setsid containerd --config /etc/dind-engines/containerd.toml </dev/null >/run/containerd/containerd.log 2>&1 &)
i=0
while [ ! -S "$sock" ]; do
    i=$((i + 1))
    if [ $i -ge 4000 ]; then echo "dockerd-ext: containerd did not come up:" >&2; cat /run/containerd/containerd.log >&2; exit 1; fi
    sleep 0.005
done
t1=$(date +%s.%N)
echo "dockerd-ext: containerd serving after $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') s" >&2
exec dockerd --containerd="$sock" "$@"
EOF
    cat >"$ctx/dockerd-par" <<'EOF'
#!/bin/sh
# containerd (dind-init's child: double-forked) and at once dockerd --containerd
sock=/run/containerd/containerd.sock
mkdir -p /run/containerd /var/run/docker/containerd
rm -f "$sock" "$sock.ttrpc"
(setsid containerd --config /etc/dind-engines/containerd.toml </dev/null >/run/containerd/containerd.log 2>&1 &)
exec dockerd --containerd="$sock" "$@"
EOF
    cat >"$ctx/Dockerfile" <<EOF
FROM $DIND_IMAGE
COPY containerd.toml /etc/dind-engines/containerd.toml
COPY dockerd-ext dockerd-par /usr/local/bin/
RUN chmod 0755 /usr/local/bin/dockerd-ext /usr/local/bin/dockerd-par
EOF
    lib_build "$ENGBENCH_IMAGE" "$ctx"
    local rc=$?
    rm -rf "$ctx"
    return $rc
}

t0=$SECONDS
# shellcheck disable=SC2119  # no extra packages
lib_install_deps || exit 1
lib_build_binary || exit 1
lib_host_start "${ENGINES_INSTANCE:-engines}" || exit 1
lib_inner_image || exit 1
declare -A IMG VERS
for s in "${SUITES[@]}"; do
    lib_suite "$s"
    lib_base_image && lib_dind_image && bench_image || exit 1
    IMG[$s]=$ENGBENCH_IMAGE
    VERS[$s]=$(dk run --rm --entrypoint sh "$ENGBENCH_IMAGE" -c 'dockerd --version; containerd --version' 2>/dev/null | tr '\n' ' ')
    lib_log "$s: $ENGBENCH_IMAGE: ${VERS[$s]}"
done
lib_log "set-up done in $((SECONDS - t0)) s"

rm -rf "$LOGS" && mkdir -p "$LOGS" || exit 1
{
    echo "date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "host=$(nproc) cpus, kernel $(uname -r), host dockerd $(dk version -f '{{.Server.Version}}')"
    echo "dind-init=$("$DIND_BIN" --version 2>/dev/null | head -n 1) ($(stat -c %s "$DIND_BIN") bytes)"
    for s in "${SUITES[@]}"; do echo "engine.$s=${VERS[$s]}"; done
    echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$WORK/meta"

wait_quiet() { lib_wait_quiet "$WAIT_QUIET" "$QUIET_LOAD"; }

run_one() { # SUITE MODE ROUND
    local s=$1 m=$2 r=$3 args=() log t0 rc
    case "$m" in
        wait) args=(-e DIND_WAIT_CONTAINERD=1) ;;
        external) args=(-e DIND_DOCKERD=/usr/local/bin/dockerd-ext) ;;
        parallel) args=(-e DIND_DOCKERD=/usr/local/bin/dockerd-par) ;;
    esac
    log=$LOGS/$s-$m-$r.log
    t0=${EPOCHREALTIME/,/.}
    DK_TIMEOUT=120 dk run --rm --privileged --name "$PFX-$s-$m-$r" "${args[@]}" "${IMG[$s]}" true >"$log" 2>&1
    rc=$?
    echo "wall=$(awk -v a="$t0" -v b="${EPOCHREALTIME/,/.}" 'BEGIN { printf "%.3f", b - a }') rc=$rc load=$(cut -d' ' -f1 /proc/loadavg)" >>"$log"
    [ $rc -eq 0 ] || lib_err "$s $m round $r: exit $rc (log $log)"
}

for ((r = 1; r <= N; r++)); do
    order=("${SUITES[@]:$(((r - 1) % ${#SUITES[@]}))}" "${SUITES[@]:0:$(((r - 1) % ${#SUITES[@]}))}")
    for s in "${order[@]}"; do
        for m in "${MODES[@]}"; do
            sleep 1
            wait_quiet
            run_one "$s" "$m" "$r"
        done
    done
    lib_log "round $r/$N done (load $(cut -d' ' -f1-3 /proc/loadavg))"
done
echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$WORK/meta"

mkdir -p "$(dirname "$OUT")"
python3 - "$LOGS" "$WORK/meta" "${SUITES[*]}" "${MODES[*]}" >"$OUT" <<'PY'
import glob, os, re, statistics, sys
from datetime import datetime
logs, meta, suites, modes = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()

def ts(line):
    m = re.search(r'time="([0-9T:.-]+)Z"', line)
    if not m:
        return None
    t = m.group(1)
    if "." in t:
        base, frac = t.split(".")
        t = base + "." + (frac + "000000")[:6]
    else:
        t += ".000000"
    return datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%f").timestamp()

def first(lines, needle):
    for l in lines:
        if needle in l:
            v = ts(l)
            if v is not None:
                return v
    return None

def parse(path):
    lines = open(path, errors="replace").read().splitlines()
    f = {}
    for l in lines:
        m = re.search(r"ready: dockerd answered /_ping on \S+ after ([0-9.]+)s", l)
        if m and "ready" not in f:
            f["ready"] = float(m.group(1))
        m = re.search(r"shutdown: dockerd exited cleanly after ([0-9.]+)s", l)
        if m:
            f["stop"] = float(m.group(1))
            f["ended_wait"] = "ended its fixed 1 s wait" in l
        m = re.search(r"dockerd-ext: containerd serving after ([0-9.]+) s", l)
        if m:
            f["ctrd_ext"] = float(m.group(1))
        m = re.match(r"wall=([0-9.]+) rc=(\d+) load=([0-9.]+)", l)
        if m:
            f["wall"], f["rc"], f["load"] = float(m.group(1)), int(m.group(2)), float(m.group(3))
        if "needed SIGKILL" in l:
            f["sigkill"] = True
    up, listen = first(lines, 'msg="Starting up"'), first(lines, 'msg="API listen on')
    booted, loading = first(lines, "successfully booted"), first(lines, 'msg="Loading containers: start."')
    sig, done = first(lines, "Processing signal 'terminated'"), first(lines, 'msg="Daemon shutdown complete"')
    if up and listen:
        f["api"] = listen - up
    if booted and loading:
        f["gap"] = loading - booted
    if up and booted:
        f["ctrd_boot"] = booted - up
    if "ready" in f and "api" in f:
        f["pre"] = f["ready"] - f["api"]
    if sig and done and "stop" in f:
        f["term_done"] = done - sig
        f["after_done"] = f["stop"] - (done - sig)
    return f

def fmt(vals, unit="s"):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "–"
    return "%.2f (%.2f–%.2f, n=%d)" % (statistics.median(vals), min(vals), max(vals), len(vals))

data = {}
for s in suites:
    for m in modes:
        data[s, m] = [parse(p) for p in sorted(glob.glob(os.path.join(logs, "%s-%s-*.log" % (s, m))))]

print("# Inner engines: start-up and shutdown under dind-init\n")
print("Median (min–max, n) in seconds, from `scripts/engines.sh`. Each run is a fresh")
print("`docker run --rm --privileged IMAGE true` on a fresh anonymous volume.\n")
for l in open(meta):
    print("- " + l.strip().replace("=", ": ", 1))
print()
rows = [
    ("dind-init ready (`ready: ... after X s`)", "managed", "ready"),
    ("dockerd Starting up → API listen on", "managed", "api"),
    ("dockerd Starting up → containerd booted", "managed", "ctrd_boot"),
    ("containerd booted → Loading containers: start.", "managed", "gap"),
    ("  ready minus Starting up → API listen (exec, Go init, probe)", "managed", "pre"),
    ("**external containerd**: dind-init ready (incl. containerd start)", "external", "ready"),
    ("external: containerd start → socket", "external", "ctrd_ext"),
    ("external: dockerd Starting up → API listen on", "external", "api"),
    ("**parallel** (containerd and dockerd --containerd at once): dind-init ready", "parallel", "ready"),
    ("parallel: dockerd Starting up → API listen on", "parallel", "api"),
    ("shutdown, dind-init default (`dockerd exited cleanly after`)", "managed", "stop"),
    ("shutdown, DIND_WAIT_CONTAINERD=1 (dockerd's own end)", "wait", "stop"),
    ("  of which after `Daemon shutdown complete`", "wait", "after_done"),
    ("shutdown, external containerd", "external", "stop"),
    ("  of which after `Daemon shutdown complete`", "external", "after_done"),
    ("whole `docker run --rm ... true`, managed", "managed", "wall"),
    ("whole `docker run --rm ... true`, external", "external", "wall"),
    ("whole `docker run --rm ... true`, parallel", "parallel", "wall"),
    ("(1-min load average after the run, managed)", "managed", "load"),
]
print("| figure | " + " | ".join(suites) + " |")
print("|---|" + "---|" * len(suites))
for title, m, key in rows:
    print("| %s | %s |" % (title, " | ".join(fmt([r.get(key) for r in data[s, m]]) for s in suites)))
print()
for s in suites:
    for m in modes:
        bad = [r for r in data[s, m] if r.get("rc") != 0 or r.get("sigkill")]
        ended = sum(1 for r in data[s, m] if r.get("ended_wait"))
        print("- %s %s: %d runs, %d failed or needed SIGKILL, dind-init ended dockerd's final wait in %d" % (s, m, len(data[s, m]), len(bad), ended))
PY
lib_log "tables in $OUT (raw logs in $LOGS)"
cat "$OUT"
