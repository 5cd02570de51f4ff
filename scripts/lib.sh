# shellcheck shell=bash
# Shared helpers of the scripts that run real Docker engines (docs/TESTING.md); source it (it cds to
# the repository, sets LC_ALL=C, puts rustup's cargo on PATH). Never uses /var/run/docker.sock.
# Owns: host packages, the throwaway host dockerd per instance (/run/dind-init-INSTANCE), the images
#   (cached in DIND_CACHE), result rows, the CI rule, --help, traps, polling, dind-init's events.

DIND_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DIND_REPO=$(cd "$DIND_LIB_DIR/.." && pwd)
DIND_CACHE=${DIND_CACHE:-/var/cache/dind-init}
cd "$DIND_REPO" || exit 1
export DIND_CACHE LC_ALL=C PATH="$HOME/.cargo/bin:$PATH" LIB_TAG=${LIB_TAG:-lib}
lib_log() { echo "[$LIB_TAG] $*" >&2; }
lib_err() { echo "[$LIB_TAG] ERROR: $*" >&2; }

# ===== results

# lib_result STATUS LABEL SECONDS [NOTE]: prints `STATUS  LABEL  (N s)  NOTE`, and appends the row
# STATUS TAG LABEL SECONDS NOTE (tab-separated) to $DIND_RESULTS when set. Under CI=true a SKIP is
# a FAIL. lib_summary: `TAG: N passed, M failed`.
lib_in_ci() { case "${CI:-}" in [Tt][Rr][Uu][Ee] | 1 | [Yy][Ee][Ss]) return 0 ;; esac; return 1; }
LIB_PASSED=0 LIB_FAILED=0 LIB_SKIPPED=0 LIB_RESULTS=()
lib_result() {
    local st=$1 label=$2 secs=$3 note=${4:-} line
    if [ "$st" = SKIP ] && lib_in_ci; then st=FAIL note="skipped under CI=true: $note"; fi
    case "$st" in
        PASS) LIB_PASSED=$((LIB_PASSED + 1)) ;;
        SKIP) LIB_SKIPPED=$((LIB_SKIPPED + 1)) ;;
        *) st=FAIL LIB_FAILED=$((LIB_FAILED + 1)) ;;
    esac
    line=$(printf '%-4s  %s  (%5.1f s)%s' "$st" "$label" "$secs" "${note:+  $note}")
    echo "$line"
    LIB_RESULTS+=("$line")
    if [ -n "${DIND_RESULTS:-}" ]; then
        note=${note//$'\t'/ } note=${note//$'\n'/ }
        printf '%s\t%s\t%s\t%s\t%s\n' "$st" "$LIB_TAG" "$label" "$secs" "$note" >>"$DIND_RESULTS"
    fi
}
lib_summary() {
    [ "$LIB_SKIPPED" -gt 0 ] && echo "$LIB_TAG: $LIB_SKIPPED skipped (a failure under CI=true)"
    echo "$LIB_TAG: $LIB_PASSED passed, $LIB_FAILED failed"
    [ "$LIB_FAILED" -eq 0 ] && [ $((LIB_PASSED + LIB_SKIPPED)) -gt 0 ]
}
# lib_verdict RC LABEL T0 [NOTE]: lib_result PASS when RC is 0, else FAIL, timed since T0
lib_verdict() { lib_result "$([ "$1" = 0 ] && echo PASS || echo FAIL)" "$2" "$(lib_since "$3")" "${4:-}"; }
# lib_now: the wall clock in seconds; lib_since T0 [DECIMALS]: seconds since T0; lib_lt A B: A < B
lib_now() { echo "${EPOCHREALTIME/,/.}"; }
lib_since() { awk -v a="$1" -v b="$(lib_now)" -v d="${2:-1}" 'BEGIN { printf "%.*f", d, b - a }'; }
lib_lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }
# lib_retry N DELAY CMD...: CMD until it succeeds, at most N tries DELAY seconds apart
lib_retry() { # (locals prefixed: CMD must not see them)
    local lr_n=$1 lr_d=$2 lr_i
    shift 2
    for ((lr_i = 1; ; lr_i++)); do "$@" && return 0; ((lr_i < lr_n)) || return 1; sleep "$lr_d"; done
}
lib_dead() { ! kill -0 "$1" 2>/dev/null; }   # PID: gone
lib_term() { # PID N: SIGTERM, and SIGKILL when it is not gone N tenths of a second later
    kill -TERM "$1" 2>/dev/null
    lib_retry "$2" 0.1 lib_dead "$1" || { lib_err "pid $1 outlived SIGTERM: SIGKILL"; kill -KILL "$1"; }
}
# lib_traps CLEANUP: CLEANUP on exit; INT and TERM exit 130 and 143 (so CLEANUP runs)
# shellcheck disable=SC2064  # CLEANUP is a function name
lib_traps() { trap "$1" EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; }

# ===== dind-init's log

# Events (src/events.vocab) through events.py (its --help): lib_event CMD LOG EVENT ... An unknown
# or malformed event is an error (status 3), so lib_event_none fails on such a log too.
lib_event() { python3 "$DIND_LIB_DIR/events.py" "$@"; }
lib_event_get() { lib_event get "$@"; }   # LOG EVENT FIELD [...]: the value
lib_event_has() { lib_event has "$@"; }   # LOG EVENT [K=V...]
lib_event_t() { lib_event t "$@"; }   # LOG EVENT [...]: its +T seconds
lib_event_msg() { lib_event msg "$@"; }   # LOG EVENT [...]: its readable message
lib_event_before() { lib_event before "$@"; }   # LOG EVENT1 EVENT2: EVENT1 came first
lib_event_none() { [ "$(lib_event count "$@")" = 0 ]; }   # LOG EVENT [K=V...]: none (valid log)
# User-facing messages (hints, warnings, errors) are text: `dind-init: +S.mmms LEVEL message`.
lib_dind_lines() { grep -a '^dind-init: +' "$1"; }   # FILE
lib_dind_has() { lib_dind_lines "$1" | grep -qF -- "$2"; }   # FILE TEXT
lib_dind_msg() { # FILE TEXT [WIDTH]: the message of the first line with TEXT
    lib_dind_lines "$1" | grep -F -m1 -- "$2" | sed 's/^dind-init: +[0-9.]*s *[A-Z]* *//' |
        cut -c1-"${3:-100000}"
}

# lib_suite SUITE: the Debian suite of the base image, i.e. the inner engine, and the names that
# follow (docs/ENGINES.md); from trixie on docker.io only Recommends the CLI
# shellcheck disable=SC2034  # read by the scripts that source this file
lib_suite() {
    DIND_SUITE=$1 DIND_SUITE_TAG=-$1
    case "$1" in
        bookworm) DIND_SUITE_TAG= ;;
        trixie|forky|sid|testing|unstable) ;;
        *) lib_err "DIND_SUITE=$1: not one of bookworm, trixie, forky, sid, testing, unstable" ;;
    esac
    export DIND_SUITE
    BASE_IMAGE=dind-init-test/base:$DIND_SUITE
    DIND_IMAGE=dind-init/debian:test$DIND_SUITE_TAG
    ROOTLESS_IMAGE=dind-init/debian-rootless:test$DIND_SUITE_TAG
    DIND_BASE_PKGS=docker.io,${DIND_SUITE_TAG:+docker-cli,}iptables,ca-certificates,procps
}
# At source time: DIND_SUITE (default bookworm); the four names lib_suite sets, given, win.
lib_given=$(for v in BASE_IMAGE DIND_IMAGE DIND_BASE_PKGS ROOTLESS_IMAGE; do
    [ -z "${!v:-}" ] || printf '%s=%q\n' "$v" "${!v}"
done)
lib_suite "${DIND_SUITE:-bookworm}"
eval "$lib_given"
INNER_IMAGE=${INNER_IMAGE:-dind-init-test/inner:latest}
SCRATCH_IMAGE=${SCRATCH_IMAGE:-dind-init/scratch:test}
INNER_TAR=$DIND_CACHE/inner.tar
DIND_MIRROR=${DIND_MIRROR:-http://deb.debian.org/debian}

# DOCKER_CLI: docker.io's when installed (a newer one may insist on buildx for BuildKit)
lib_docker_cli() {
    if [ -x /usr/bin/docker ]; then DOCKER_CLI=/usr/bin/docker; else DOCKER_CLI=$(command -v docker); fi
}
lib_docker_cli
# dk ARGS...: docker with a time-out (DK_TIMEOUT, default 120 s); --foreground: Ctrl-C reaches it
dk() { timeout --foreground -k 10 "${DK_TIMEOUT:-120}" "${DOCKER_CLI:-docker}" "$@"; }
lib_is_root() { [ "$(id -u)" -eq 0 ]; }
# lib_usage: every script's --help, its header comment (line 2 up to `set -uo`, no shellcheck lines)
lib_usage() { sed -n '2,/^set -uo/{/^# shellcheck /d;p}' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
# lib_args ALLOWED "$@": -h/--help prints the usage (exit 0); an argument other than ALLOWED's
# words ('' for none) is an error (exit 2), never a full run
lib_args() {
    local ok=" $1 " a
    shift
    for a; do
        case "$a" in -h | --help) lib_usage; exit 0 ;; esac
        [[ $ok == *" $a "* ]] || { lib_err "unknown argument: $a (see --help)"; exit 2; }
    done
}

# ===== host packages

# lib_apt_install PKG...: apt-get install, waiting for a concurrent apt/dpkg to finish
lib_apt_install() {
    command -v apt-get >/dev/null || { lib_err "no apt-get: install $* by hand"; return 1; }
    lib_log "installing $*"
    local o=(-o DPkg::Lock::Timeout=900 -o APT::Get::Assume-Yes=true)
    if [ -z "${LIB_APT_UPDATED:-}" ]; then
        apt-get "${o[@]}" update -qq >/dev/null || { lib_err "apt-get update failed"; return 1; }
        LIB_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get "${o[@]}" install -qq --no-install-recommends "$@" \
        >/dev/null || { lib_err "apt-get install $* failed"; return 1; }
}

# lib_static_elf FILE: a 64-bit ELF executable without PT_INTERP (static), any architecture
lib_static_elf() {
    python3 - "$1" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
if b[:5] != b"\x7fELF\x02":
    sys.exit(1)
e = "<" if b[5] == 1 else ">"
off, = struct.unpack_from(e + "Q", b, 32)
size, n = struct.unpack_from(e + "HH", b, 54)
sys.exit(any(struct.unpack_from(e + "I", b, off + i * size)[0] == 3 for i in range(n)))  # PT_INTERP
PY
}

# lib_arm64_emulation: qemu-user-static, binfmt_misc mounted (a fresh machine lacks it) and
# qemu-aarch64 enabled with the F flag (so arm64 binaries run in chroots and mount namespaces too)
lib_arm64_emulation() {
    local f=/proc/sys/fs/binfmt_misc/qemu-aarch64
    lib_install_deps qemu-user-static binfmt-support || return 1
    if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
            { lib_err "cannot mount binfmt_misc"; return 1; }
    fi
    grep -q '^enabled' "$f" 2>/dev/null || update-binfmts --enable qemu-aarch64 >/dev/null 2>&1
    grep -q '^enabled' "$f" 2>/dev/null && grep -q '^flags:.*F' "$f" ||
        { lib_err "binfmt qemu-aarch64 is not enabled with the F flag (fix_binary)"; return 1; }
}

# lib_install_deps [EXTRA-PKG...]: what the real-engine scripts need; quiet when all is there
lib_install_deps() {
    local want=() c i
    # A docker.io install may be running in the background: wait for dpkg to be done with it.
    for ((i = 0; i < 900; i++)); do
        fuser /var/lib/dpkg/lock-frontend >/dev/null 2>&1 || break
        ((i % 30 == 0)) && lib_log "waiting for a running apt/dpkg to finish"
        sleep 1
    done
    for c in dockerd=docker.io runc containerd iptables debootstrap python3 setsid=util-linux \
        script=bsdutils fuser=psmisc pgrep=procps timeout=coreutils tar shellcheck; do
        command -v "${c%%=*}" >/dev/null || want+=("${c#*=}")
    done
    { [ -x /bin/busybox ] && lib_static_elf /bin/busybox; } || want+=(busybox-static)
    want+=("$@")
    [ ${#want[@]} -eq 0 ] && return 0
    lib_apt_install "${want[@]}" && lib_docker_cli
}

# lib_missing_caps: the capabilities the kernel knows that our bounding set lacks, lower case
# (runc-capdrop's names and reading)
lib_missing_caps() {
    python3 - "$DIND_LIB_DIR/runc-capdrop" <<'PY'
import runpy, sys
c = runpy.run_path(sys.argv[1], run_name="capdrop")
known = c["CAP_NAMES"][: int(open("/proc/sys/kernel/cap_last_cap").read()) + 1]
print(" ".join(n.lower() for n in known if "CAP_" + n in c["missing_caps"]()))
PY
}

# ===== the throwaway host dockerd

# lib_host_start INSTANCE: start the throwaway dockerd INSTANCE (docs/TESTING.md), locked (a
# second run fails fast), with a capability-dropping runtime wrapper when the bounding set lacks
# some. Sets DIND_HOST_RUN, DIND_HOST_SOCK, DIND_HOST_LOG, DIND_HOST_PID; exports DOCKER_HOST.
lib_host_start() {
    local inst=${1:?lib_host_start: INSTANCE} old missing runc py=python3 w=runc-capdrop i t0
    DIND_HOST_INSTANCE=$inst DIND_HOST_RUN=/run/dind-init-$inst
    local run=$DIND_HOST_RUN data=$DIND_CACHE/host-$inst
    DIND_HOST_SOCK=$run/docker.sock DIND_HOST_LOG=$run/dockerd.log
    mkdir -p "$run" "$data" || return 1
    exec {DIND_HOST_LOCK_FD}>"$run/lock"
    if ! flock -n "$DIND_HOST_LOCK_FD"; then
        lib_err "host dockerd '$inst' is in use by another run ($run/lock): take another name"
        return 1
    fi
    # A dockerd of this instance left by a SIGKILLed run (nobody holds the lock; its command line
    # names our exec root): stop it, and only it.
    old=$(cat "$run/docker.pid" 2>/dev/null)
    if [ -n "$old" ] && grep -qzx -- "$run/exec" "/proc/$old/cmdline" 2>/dev/null; then
        lib_log "stopping stale host dockerd ($inst) pid $old left by an earlier run"
        lib_term "$old" 200
    fi
    rm -f "$DIND_HOST_SOCK" "$run/docker.pid"
    echo '{}' >"$run/daemon.json"   # not /etc/docker/daemon.json
    local args=(--config-file "$run/daemon.json" --data-root "$data" --exec-root "$run/exec"
        --pidfile "$run/docker.pid" -H "unix://$DIND_HOST_SOCK" --storage-driver overlay2
        --bridge=none --iptables=false --ip-masq=false --userland-proxy=false)
    missing=$(lib_missing_caps) || return 1
    if [ -n "$missing" ]; then
        runc=$(command -v runc) || { lib_err "no runc"; return 1; }
        [ -x /usr/bin/python3 ] && py=/usr/bin/python3
        { echo "#!$(command -v "$py") -I"; sed "1d; s|@REAL_RUNC@|$runc|" "$DIND_LIB_DIR/$w"; } \
            >"$run/$w" && chmod 0755 "$run/$w" || return 1
        args+=(--add-runtime "capdrop=$run/$w" --default-runtime capdrop)
        lib_log "capability bounding set lacks: $missing -> runtime wrapper $run/$w"
    fi
    lib_log "starting host dockerd '$inst' (socket $DIND_HOST_SOCK, data $data, log $DIND_HOST_LOG)"
    # Own session: a Ctrl-C on the terminal must not reach it; the trap of the caller stops it.
    # Without the lock fd: if this script is SIGKILLed, the next run may take the instance over.
    setsid dockerd "${args[@]}" </dev/null >"$DIND_HOST_LOG" 2>&1 {DIND_HOST_LOCK_FD}>&- &
    DIND_HOST_PID=$!
    export DOCKER_HOST=unix://$DIND_HOST_SOCK
    t0=$(lib_now)
    for ((i = 0; i < 600; i++)); do
        if [ -S "$DIND_HOST_SOCK" ] && DK_TIMEOUT=5 dk version >/dev/null 2>&1; then
            lib_log "host dockerd '$inst' ready (pid $DIND_HOST_PID) after $(lib_since "$t0") s"
            return 0
        fi
        lib_dead "$DIND_HOST_PID" && break
        sleep 0.1
    done
    lib_err "host dockerd '$inst' did not come up; its log:"
    tail -n 40 "$DIND_HOST_LOG" >&2
    lib_host_stop
    return 1
}

# lib_host_stop: SIGTERM to lib_host_start's dockerd, SIGKILL after 30 s
lib_host_stop() {
    local pid=${DIND_HOST_PID:-}
    DIND_HOST_PID=
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        lib_log "stopping host dockerd '$DIND_HOST_INSTANCE' (pid $pid)"
        lib_term "$pid" 300
        wait "$pid" 2>/dev/null
    fi
    if [ -n "${DIND_HOST_LOCK_FD:-}" ]; then
        exec {DIND_HOST_LOCK_FD}>&-
        DIND_HOST_LOCK_FD=
    fi
    return 0
}

# lib_host_log_tail [N]: the host dockerd's log's last N lines
lib_host_log_tail() { tail -n "${1:-30}" "${DIND_HOST_LOG:-/dev/null}" 2>/dev/null; }

# ===== binary

# lib_toolchain: cargo, and what rust-toolchain.toml names, installed (rustup >= 1.28; a no-op when
# it is there)
lib_toolchain() {
    command -v cargo >/dev/null || { lib_err "no cargo: install Rust (rustup.rs)"; return 1; }
    command -v rustup >/dev/null || return 0   # a distribution's Rust: its targets are its own
    rustup toolchain install --no-self-update >/dev/null 2>&1 ||
        { lib_err "rustup toolchain install (the musl targets, clippy, rustfmt) failed"; return 1; }
}

# lib_build_binary: cargo build --release; sets DIND_BIN (given: used as it is, no build)
lib_build_binary() {
    if [ -n "${DIND_BIN:-}" ]; then
        [ -x "$DIND_BIN" ] || { lib_err "DIND_BIN=$DIND_BIN is not an executable"; return 1; }
        return 0
    fi
    lib_toolchain || return 1
    cargo build --release --locked -q || { lib_err "cargo build --release failed"; return 1; }
    DIND_BIN=$DIND_REPO/target/x86_64-unknown-linux-musl/release/dind-init
    [ -x "$DIND_BIN" ] && lib_static_elf "$DIND_BIN" || { lib_err "no static $DIND_BIN"; return 1; }
}

# ===== images (the functions that make a temporary directory run in a subshell, to remove it)

lib_label() { # NAME IMAGE: IMAGE's label dind-init-test.NAME
    dk image inspect -f "{{index .Config.Labels \"dind-init-test.$1\"}}" "$2" 2>/dev/null
}

# lib_rootfs_check ROOT: the engine's pieces are there; prints their versions
lib_rootfs_check() {
    local b missing=()
    for b in dockerd docker containerd{,-shim-runc-v2} runc iptables{,-legacy,-nft} ps; do
        [ -e "$1/usr/bin/$b" ] || [ -e "$1/usr/sbin/$b" ] || [ -e "$1/sbin/$b" ] || missing+=("$b")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        lib_err "the $DIND_SUITE rootfs lacks: ${missing[*]} (DIND_BASE_PKGS=$DIND_BASE_PKGS)"
        return 1
    fi
    # shellcheck disable=SC2016  # dpkg-query's format, not the shell's
    chroot "$1" dpkg-query -W -f '${Package}=${Version} ' docker.io docker-cli containerd runc \
        iptables 2>/dev/null
    echo
}

lib_hash() { printf '%s' "$*" | sha256sum | cut -c1-12; }   # WORDS: a 12-digit cache key

# lib_base_rootfs: prints the path of the debootstrap tarball (minbase + DIND_BASE_PKGS), cached;
# debootstrap gets its generic sid script for a suite it has no script for (forky; or it is old)
lib_base_rootfs() (
    tar=$DIND_CACHE/base-$DIND_SUITE-$(lib_hash "$DIND_SUITE $DIND_BASE_PKGS minbase").tar
    log=$DIND_CACHE/debootstrap-$DIND_SUITE.log script=/usr/share/debootstrap/scripts/sid
    if [ ! -s "$tar" ]; then
        t0=$SECONDS
        if [ -e "${script%/*}/$DIND_SUITE" ] || [ ! -e "$script" ]; then script=; fi
        mkdir -p "$DIND_CACHE" && root=$(mktemp -d "$DIND_CACHE/rootfs.XXXXXX") || return 1
        trap 'rm -rf "$root" "$tar.$$"' EXIT
        lib_log "debootstrap --include=$DIND_BASE_PKGS $DIND_SUITE $script (once: cached as $tar)"
        if ! debootstrap --variant=minbase --include="$DIND_BASE_PKGS" \
            "$DIND_SUITE" "$root" "$DIND_MIRROR" ${script:+"$script"} >"$log" 2>&1; then
            lib_err "debootstrap failed; last lines of $log:"
            tail -n 20 "$log" >&2
            return 1
        fi
        v=$(lib_rootfs_check "$root") || return 1
        lib_log "debootstrap $DIND_SUITE took $((SECONDS - t0)) s: $v"
        # Offline image: no package lists, no downloaded .debs, no host resolv.conf/hostname.
        rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/{*.bin,archives/*.deb} \
            "$root"/etc/{hostname,resolv.conf}
        tar --numeric-owner --xattrs -C "$root" -cf "$tar.$$" . && mv -f "$tar.$$" "$tar" ||
            return 1
    fi
    echo "$tar"
)

# lib_base_image: BASE_IMAGE, imported from lib_base_rootfs
lib_base_image() {
    local tar key t0=$SECONDS
    tar=$(lib_base_rootfs) || return 1
    key=$(basename "$tar" .tar)
    [ "$(lib_label rootfs "$BASE_IMAGE")" = "$key" ] && return 0
    lib_log "importing $tar as $BASE_IMAGE"
    DK_TIMEOUT=600 dk import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -c "LABEL dind-init-test.rootfs=$key" -c 'CMD ["bash"]' "$tar" "$BASE_IMAGE" >/dev/null ||
        { lib_err "docker import of $tar failed"; return 1; }
    lib_log "imported $BASE_IMAGE in $((SECONDS - t0)) s"
}

# lib_save IMAGE FILE: docker save, via a temporary file, mode 0644
lib_save() {
    local tmp=$2.$$.tmp
    DK_TIMEOUT=600 dk save -o "$tmp" "$1" && chmod 0644 "$tmp" && mv -f "$tmp" "$2" ||
        { rm -f "$tmp"; lib_err "docker save $1 failed"; return 1; }
}

# lib_busybox_image BUSYBOX ARCH OUT: OUT, a `docker save` archive of INNER_IMAGE for ARCH: a static
# BUSYBOX with its applets, one layer (v2-lab/imgtar.py)
lib_busybox_image() (
    d=$(mktemp -d) && trap 'rm -rf "$d"' EXIT && mkdir -p "$d"/root/{bin,tmp,etc,proc,sys,dev} &&
        cp "$1" "$d/root/bin/busybox" || return 1
    list=$("$1" --list 2>/dev/null || qemu-aarch64-static "$1" --list) || return 1
    for a in $list; do
        [ "$a" = busybox ] || ln -s busybox "$d/root/bin/$a"
    done
    echo 'root:x:0:0:root:/:/bin/sh' >"$d/root/etc/passwd" && echo 'root:x:0:' >"$d/root/etc/group" &&
        chmod 1777 "$d/root/tmp" && tar --numeric-owner -C "$d/root" -cf "$d/layer.tar" . &&
        python3 "$DIND_LIB_DIR/v2-lab/imgtar.py" "$3" "$INNER_IMAGE" "$2" \
            '{"Env": ["PATH=/bin"], "Cmd": ["sh"]}' "$d/layer.tar"
)

# lib_inner_image: INNER_IMAGE (static busybox) loaded from INNER_TAR, written once per busybox
# binary (its hash): every instance, and every DinD container, loads the same image
lib_inner_image() {
    local bb=/bin/busybox key
    lib_static_elf "$bb" || { lib_err "$bb is not static (install busybox-static)"; return 1; }
    key=$(sha256sum "$bb" | cut -c1-12)
    if [ "$(cat "$INNER_TAR.key" 2>/dev/null)" != "$key" ] || [ ! -s "$INNER_TAR" ]; then
        lib_log "writing static busybox as $INNER_IMAGE to $INNER_TAR"
        mkdir -p "$DIND_CACHE" && lib_busybox_image "$bb" amd64 "$INNER_TAR" &&
            echo "$key" >"$INNER_TAR.key" || return 1
    fi
    dk load -q -i "$INNER_TAR" >/dev/null || { lib_err "docker load -i $INNER_TAR failed"; return 1; }
}

# lib_build IMAGE CONTEXT DOCKER-BUILD-ARGS...: docker build (BuildKit, offline), quiet unless it
# fails; CONTEXT `-`: the Dockerfile on stdin, no context
lib_build() {
    local image=$1 ctx=$2 out
    shift 2
    if ! out=$(DOCKER_BUILDKIT=1 DK_TIMEOUT=900 dk build --pull=false --network none --progress plain \
        -t "$image" "$@" "$ctx" 2>&1); then
        lib_err "docker build -t $image $* $ctx failed:"
        echo "$out" | tail -n 40 >&2
        return 1
    fi
}

# lib_dind_image: SCRATCH_IMAGE (docker/Dockerfile --target prebuilt: DIND_BIN) and DIND_IMAGE
lib_dind_image() (
    rel=target/x86_64-unknown-linux-musl/release
    [ -n "${DIND_BIN:-}" ] || lib_build_binary || return 1
    ctx=$(mktemp -d) && trap 'rm -rf "$ctx"' EXIT || return 1
    mkdir -p "$ctx/$rel" && cp "$DIND_BIN" "$ctx/$rel/dind-init" &&
        lib_build "$SCRATCH_IMAGE" "$ctx" -f "$DIND_REPO/docker/Dockerfile" --target prebuilt &&
        lib_build "$DIND_IMAGE" - --build-arg "BASE=$BASE_IMAGE" \
            --build-arg "DIND_INIT_IMAGE=$SCRATCH_IMAGE" <"$DIND_REPO/docker/debian.Dockerfile"
)

lib_all_images() { lib_build_binary && lib_base_image && lib_inner_image && lib_dind_image; }

# lib_rootless_image FROM IMAGE [CACHE]: docker/debian-rootless.Dockerfile on FROM plus its .debs
# (lib_debs CACHE, default DIND_CACHE/rootless-SUITE)
lib_rootless_image() {
    local from=$1 image=$2 cache=${3:-$DIND_CACHE/rootless$DIND_SUITE_TAG}
    local pkgs=dind-init-test/rootless-base:${from//[:\/]/-}
    lib_debs "$cache" debs rootlesskit slirp4netns uidmap fuse-overlayfs iproute2 &&
        lib_debs_image "$pkgs" "$from" "$cache/debs" </dev/null &&
        lib_build "$image" - --build-arg "BASE=$pkgs" \
            <"$DIND_REPO/docker/debian-rootless.Dockerfile" || return 1
    lib_log "$image: $(dk run --rm --entrypoint rootlesskit "$image" --version 2>&1 | head -n 1)"
}
# lib_tun_node FILE MODE: a /dev/net/tun node to bind-mount (udev makes the host's 0666, which a
# dind-init as uid 1000 needs; without udev it is 0600)
lib_tun_node() { rm -f "$1" && mknod -m "$2" "$1" c 10 200; }

# ===== .debs for offline builds

# lib_debs CACHE NAME PKG...: CACHE/NAME holds the .debs of PKG and of what the base rootfs lacks of
# their dependencies (the host's apt against its dpkg status, the suite's lists in CACHE/apt),
# fetched again only when the base rootfs or PKG change (key: CACHE/NAME.key)
lib_debs() {
    local dir=$1/$2 a=$1/apt base key k=/usr/share/keyrings/debian-archive-keyring.gpg
    shift 2
    base=$(lib_base_rootfs) || return 1
    key="$(basename "$base" .tar) $*"
    [ "$(cat "$dir.key" 2>/dev/null)" = "$key" ] && [ -d "$dir" ] && return 0
    lib_log "fetching $* for $DIND_SUITE into $dir"
    rm -rf "$dir" && mkdir -p "$dir/partial" "$a/lists/partial" "$a/parts" "$a/prefs" || return 1
    tar -xOf "$base" ./var/lib/dpkg/status >"$a/status" || return 1
    echo "deb [signed-by=$k] $DIND_MIRROR $DIND_SUITE main" >"$a/sources.list"
    local apt=(apt-get -qq -o Debug::NoLocking=1 -o APT::Get::Assume-Yes=true
        -o "Dir::Etc::SourceList=$a/sources.list" -o "Dir::Etc::SourceParts=$a/parts"
        -o "Dir::Etc::PreferencesParts=$a/prefs" -o "Dir::State::Lists=$a/lists"
        -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o "Dir::State::status=$a/status"
        -o "Dir::Cache::archives=$dir")
    if ! { "${apt[@]}" update && "${apt[@]}" install --no-install-recommends --download-only "$@"
    } >"$dir.log" 2>&1; then
        lib_err "apt-get --download-only $* ($DIND_SUITE) failed: $(tail -n 3 "$dir.log")"
        rm -rf "$dir"
        return 1
    fi
    rm -rf "$dir/partial" "$dir/lock" && echo "$key" >"$dir.key"
}

# lib_debs_dockerfile BASE: FROM BASE, then the context's debs/*.deb (if any) installed offline,
# in passes (each configures what the next one's Pre-Depends need)
lib_debs_dockerfile() {
    echo "FROM $1"
    cat <<'EOF'
COPY debs /tmp/debs
RUN set -e; if ls /tmp/debs/*.deb >/dev/null 2>&1; then ok=; for i in 1 2 3 4 5; do \
    if dpkg -i /tmp/debs/*.deb >/tmp/dpkg.log 2>&1; then ok=1; break; fi; done; \
    [ -n "$ok" ] || { cat /tmp/dpkg.log; exit 1; }; fi; rm -rf /tmp/debs /tmp/dpkg.log
EOF
}

# lib_debs_image IMAGE FROM DEBS [FILE...] <TAIL: lib_build of FROM with the .debs of directory
# DEBS installed (lib_debs_dockerfile), then the Dockerfile lines TAIL; FILEs in the context
lib_debs_image() (
    ctx=$(mktemp -d) && trap 'rm -rf "$ctx"' EXIT && cp -r "$3" "$ctx/debs" || return 1
    [ $# -lt 4 ] || cp -r "${@:4}" "$ctx/" || return 1
    { lib_debs_dockerfile "$2"; cat; } >"$ctx/Dockerfile" && lib_build "$1" "$ctx"
)

# lib_registry_image IMAGE: the base image + Debian's docker-registry, serving 127.0.0.1:5000 in
# its container with an access log
lib_registry_image() {
    local cache=$DIND_CACHE/registry-$DIND_SUITE key
    lib_debs "$cache" debs docker-registry && key=$(basename "$(lib_base_rootfs)" .tar) || return 1
    [ "$(lib_label registry "$1")" = "$key" ] && return 0
    lib_debs_image "$1" "$BASE_IMAGE" "$cache/debs" <<EOF
RUN docker-registry --version && mkdir -p /etc/dind-init-test && printf '%s\n' 'version: 0.1' \
    'log: {level: info, accesslog: {disabled: false}}' 'http: {addr: "127.0.0.1:5000"}' \
    'storage: {filesystem: {rootdirectory: /var/lib/docker-registry}}' \
    >/etc/dind-init-test/registry.yml
LABEL dind-init-test.registry=$key
ENTRYPOINT ["docker-registry", "serve", "/etc/dind-init-test/registry.yml"]
EOF
}

# lib_py_image IMAGE BUILD-LOG: DIND_IMAGE + python3 (.debs) + the Docker SDK (PyPI's wheels,
# fetched once) + /usr/local/bin/sdk-check.py, built offline; sets PY_SDK_SOURCE (for the scripts)
lib_py_image() {
    local cache=$DIND_CACHE/python$DIND_SUITE_TAG py=python3 v
    local w=$cache/wheels
    lib_debs "$cache" python3 python3 || return 1
    [[ $(echo "$cache"/python3/python3.*-minimal_*.deb) =~ python(3\.[0-9]+)-minimal_ ]] ||
        { lib_err "no python3.N-minimal .deb in $cache/python3"; return 1; }
    v=${BASH_REMATCH[1]}
    [ -x /usr/bin/python3 ] && py=/usr/bin/python3
    if ! ls "$w"/docker-*.whl >/dev/null 2>&1; then
        rm -rf "$w" "$w.tmp"
        "$py" -m pip download -q --disable-pip-version-check --only-binary=:all: -d "$w.tmp" \
            --platform manylinux2014_x86_64 --python-version "$v" --implementation cp \
            --abi "cp${v/./}" docker >"$cache/pip.log" 2>&1 && mv "$w.tmp" "$w" ||
            { lib_err "pip download docker failed: $(tail -n 1 "$cache/pip.log")"; return 1; }
    fi
    # shellcheck disable=SC2034  # read by the scripts that source this file
    PY_SDK_SOURCE="Docker SDK from PyPI ($(cd "$w" && echo docker-*.whl))"
    lib_debs_image "$1" "$DIND_IMAGE" "$cache/python3" "$w" "$DIND_LIB_DIR/sdk-check.py" \
        >"$2" 2>&1 <<EOF
COPY wheels /tmp/wheels
RUN set -e; sp=/usr/local/lib/python$v/dist-packages; mkdir -p "\$sp"; \
    for w in /tmp/wheels/*.whl; do python3 -m zipfile -e "\$w" "\$sp"; done; \
    rm -rf /tmp/wheels; python3 -c 'import docker'
COPY sdk-check.py /usr/local/bin/
EOF
}

# lib_wait_quiet MINUTES LOAD: (bench) until the load average is below LOAD, at most MINUTES in all
LIB_QUIET_DEADLINE=
lib_wait_quiet() {
    [ -n "$1" ] || return 0
    [ -n "$LIB_QUIET_DEADLINE" ] || LIB_QUIET_DEADLINE=$((SECONDS + $1 * 60))
    local said='' load
    while load=$(cut -d' ' -f1 /proc/loadavg) && ! lib_lt "$load" "$2"; do
        ((SECONDS < LIB_QUIET_DEADLINE)) || return 0
        [ -n "$said" ] || lib_log "load average $load >= $2: waiting (at most $1 min in all)"
        said=1
        sleep 10
    done
}
