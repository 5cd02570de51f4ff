# shellcheck shell=bash
# Shared helpers of every script that needs real Docker engines; source it (functions and variables;
# at source time it goes to the repository's root, in the C locale, rustup's cargo on PATH).
# Owns: the host side of real-engine runs (packages, toolchain, throwaway host dockerd per instance
#   under /run/dind-init-INSTANCE, images cached in ${DIND_CACHE:-/var/cache/dind-init}), result
#   rows (lib_result, lib_summary), the one CI rule (lib_in_ci), --help (lib_usage), traps
#   (lib_traps), polling (lib_retry), and dind-init's events (lib_event_*, through events.py).
# Never uses /var/run/docker.sock. docs/TESTING.md and docs/ENGINES.md describe the images.

DIND_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DIND_REPO=$(cd "$DIND_LIB_DIR/.." && pwd)
DIND_CACHE=${DIND_CACHE:-/var/cache/dind-init}
cd "$DIND_REPO" || exit 1
export DIND_CACHE LC_ALL=C PATH="$HOME/.cargo/bin:$PATH" LIB_TAG=${LIB_TAG:-lib}
lib_log() { echo "[$LIB_TAG] $*" >&2; }
lib_err() { echo "[$LIB_TAG] ERROR: $*" >&2; }

# ------------------------------------------------------------------ results

# lib_result STATUS LABEL SECONDS [NOTE]: `PASS|FAIL|SKIP  LABEL  (N s)  note`, and a row
# STATUS<TAB>TAG<TAB>LABEL<TAB>SECONDS<TAB>NOTE in $DIND_RESULTS when set (scripts/test.sh sums
# them). Under CI=true a SKIP is a FAIL. lib_summary: `TAG: N passed, M failed`.
lib_in_ci() { case "${CI:-}" in [Tt][Rr][Uu][Ee] | 1 | [Yy][Ee][Ss]) return 0 ;; esac; return 1; }
LIB_PASSED=0 LIB_FAILED=0 LIB_SKIPPED=0 LIB_RESULTS=()
lib_result() {
    local st=$1 label=$2 secs=$3 note=${4:-} line
    if [ "$st" = SKIP ] && lib_in_ci; then st=FAIL note="skipped under CI=true: $note"; fi
    case "$st" in
        PASS) LIB_PASSED=$((LIB_PASSED + 1)) ;;
        SKIP) LIB_SKIPPED=$((LIB_SKIPPED + 1)) ;;
        *) st=FAIL; LIB_FAILED=$((LIB_FAILED + 1)) ;;
    esac
    line=$(printf '%-4s  %s  (%5.1f s)' "$st" "$label" "$secs")
    [ -n "$note" ] && line+="  $note"
    echo "$line"
    LIB_RESULTS+=("$line")
    if [ -n "${DIND_RESULTS:-}" ]; then
        note=${note//$'\t'/ }
        printf '%s\t%s\t%s\t%s\t%s\n' "$st" "$LIB_TAG" "$label" "$secs" "${note//$'\n'/ }" >>"$DIND_RESULTS"
    fi
}
lib_summary() {
    [ "$LIB_SKIPPED" -gt 0 ] && echo "$LIB_TAG: $LIB_SKIPPED skipped (not run; a failure under CI=true)"
    echo "$LIB_TAG: $LIB_PASSED passed, $LIB_FAILED failed"
    [ "$LIB_FAILED" -eq 0 ] && [ $((LIB_PASSED + LIB_SKIPPED)) -gt 0 ]
}
# lib_verdict RC LABEL T0 [NOTE]: lib_result PASS when RC is 0, else FAIL, timed since T0
lib_verdict() { lib_result "$([ "$1" = 0 ] && echo PASS || echo FAIL)" "$2" "$(lib_since "$3")" "${4:-}"; }
# lib_now: the wall clock in seconds (EPOCHREALTIME); lib_since T0 [DECIMALS]: seconds since T0
lib_now() { echo "${EPOCHREALTIME/,/.}"; }
lib_since() { awk -v a="$1" -v b="$(lib_now)" -v d="${2:-1}" 'BEGIN { printf "%.*f", d, b - a }'; }
lib_lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }   # A B: A < B (decimals)
# lib_retry N DELAY CMD...: CMD until it succeeds, at most N tries DELAY seconds apart
lib_retry() { # (locals prefixed: CMD must not see them)
    local lr_n=$1 lr_d=$2 lr_i
    shift 2
    for ((lr_i = 1; ; lr_i++)); do "$@" && return 0; ((lr_i < lr_n)) || return 1; sleep "$lr_d"; done
}
lib_dead() { ! kill -0 "$1" 2>/dev/null; }   # PID: gone
# lib_traps CLEANUP: CLEANUP on exit; INT and TERM exit 130 and 143 (so CLEANUP runs)
# shellcheck disable=SC2064  # CLEANUP is a function name
lib_traps() { trap "$1" EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; }

# ------------------------------------------------------------------ dind-init's log

# Lifecycle facts are events (src/events.vocab) read through scripts/events.py, never from prose:
# lib_event CMD LOG EVENT [FIELD] [--nth N|--last] [K=V...] (events.py --help). An unknown or
# malformed event is an error (status 3), so lib_event_none fails on such a log too.
lib_event() { python3 "$DIND_LIB_DIR/events.py" "$@"; }
lib_event_get() { lib_event get "$@"; }                     # LOG EVENT FIELD [...]: the value
lib_event_has() { lib_event has "$@"; }                     # LOG EVENT [K=V...]
lib_event_t() { lib_event t "$@"; }                         # LOG EVENT [...]: its +T seconds
lib_event_msg() { lib_event msg "$@"; }                     # LOG EVENT [...]: its readable message
lib_event_before() { lib_event before "$@"; }              # LOG EVENT1 EVENT2: EVENT1 came first
lib_event_none() { [ "$(lib_event count "$@")" = 0 ]; }     # LOG EVENT [K=V...]: none (valid log)
# User-facing messages (hints, warnings, errors) are text: `dind-init: +S.mmms LEVEL message`.
lib_dind_lines() { grep -a '^dind-init: +' "$1"; }                          # FILE
lib_dind_has() { lib_dind_lines "$1" | grep -qF -- "$2"; }                    # FILE TEXT
lib_dind_msg() { # FILE TEXT [WIDTH]: the message of the first line with TEXT
    lib_dind_lines "$1" | grep -F -m1 -- "$2" | sed 's/^dind-init: +[0-9.]*s *[A-Z]* *//' | cut -c1-"${3:-100000}"
}

# lib_suite SUITE: the Debian suite of the base image, i.e. the inner engine (docs/ENGINES.md):
# bookworm (default, docker.io 20.10), trixie (26.1), sid (28.x); testing, unstable, forky too.
# Sets DIND_SUITE, DIND_SUITE_TAG (empty for bookworm, else -SUITE: in every image name),
# BASE_IMAGE, DIND_IMAGE, ROOTLESS_IMAGE (lib_rootless_image) and DIND_BASE_PKGS (debootstrap
# --include; from trixie on the CLI is docker-cli, which docker.io only Recommends).
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
# At source time: DIND_SUITE (default bookworm); BASE_IMAGE, DIND_IMAGE, DIND_BASE_PKGS,
# ROOTLESS_IMAGE given win.
lib_user_suite_vars=("${BASE_IMAGE:-}" "${DIND_IMAGE:-}" "${DIND_BASE_PKGS:-}" "${ROOTLESS_IMAGE:-}")
lib_suite "${DIND_SUITE:-bookworm}"
BASE_IMAGE=${lib_user_suite_vars[0]:-$BASE_IMAGE}
DIND_IMAGE=${lib_user_suite_vars[1]:-$DIND_IMAGE}
DIND_BASE_PKGS=${lib_user_suite_vars[2]:-$DIND_BASE_PKGS}
ROOTLESS_IMAGE=${lib_user_suite_vars[3]:-$ROOTLESS_IMAGE}
unset lib_user_suite_vars
INNER_IMAGE=${INNER_IMAGE:-dind-init-test/inner:latest}
SCRATCH_IMAGE=${SCRATCH_IMAGE:-dind-init/scratch:test}
INNER_TAR=$DIND_CACHE/inner.tar
DIND_MIRROR=${DIND_MIRROR:-http://deb.debian.org/debian}
DIND_RELEASE_BIN=$DIND_REPO/target/x86_64-unknown-linux-musl/release/dind-init

# The docker CLI: docker.io's when installed (a newer one may insist on buildx for BuildKit).
lib_docker_cli() {
    if [ -x /usr/bin/docker ]; then DOCKER_CLI=/usr/bin/docker; else DOCKER_CLI=$(command -v docker); fi
}
lib_docker_cli
# dk ARGS...: docker with a time-out (DK_TIMEOUT, default 120 s); --foreground: Ctrl-C reaches it
dk() {
    [ -n "${DOCKER_CLI:-}" ] || lib_docker_cli
    timeout --foreground -k 10 "${DK_TIMEOUT:-120}" "$DOCKER_CLI" "$@"
}
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

# ------------------------------------------------------------------ host packages

# lib_apt_install PKG...: apt-get install, waiting for a concurrent apt/dpkg to finish
lib_apt_install() {
    command -v apt-get >/dev/null || { lib_err "no apt-get: install $* by hand"; return 1; }
    lib_log "installing $*"
    local o=(-o DPkg::Lock::Timeout=900 -o APT::Get::Assume-Yes=true)
    if [ -z "${LIB_APT_UPDATED:-}" ]; then
        apt-get "${o[@]}" update -qq >/dev/null || { lib_err "apt-get update failed"; return 1; }
        LIB_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get "${o[@]}" install -qq --no-install-recommends "$@" >/dev/null \
        || { lib_err "apt-get install $* failed"; return 1; }
}

# lib_static_elf FILE: an ELF executable without PT_INTERP (static), any architecture; python3
lib_static_elf() {
    python3 - "$1" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
if b[:4] != b"\x7fELF" or b[4] != 2:
    sys.exit(1)
end = "<" if b[5] == 1 else ">"
phoff, = struct.unpack_from(end + "Q", b, 32)
phentsize, phnum = struct.unpack_from(end + "HH", b, 54)
types = [struct.unpack_from(end + "I", b, phoff + i * phentsize)[0] for i in range(phnum)]
sys.exit(0 if 3 not in types else 1)   # PT_INTERP
PY
}

# lib_static BIN: a statically linked executable (ldd)
lib_static() { case "$(LC_ALL=C ldd "$1" 2>&1)" in *"not a dynamic executable"*|*"statically linked"*) return 0 ;; esac; return 1; }

# lib_arm64_emulation: qemu-user-static and binfmt-support installed, binfmt_misc mounted and its
# qemu-aarch64 entry enabled with the F flag (the interpreter opened at registration, so arm64
# binaries run in chroots and new mount namespaces too). A fresh machine has binfmt_misc
# unmounted: installing the packages alone leaves arm64 binaries failing with "Exec format error".
lib_arm64_emulation() {
    local f=/proc/sys/fs/binfmt_misc/qemu-aarch64
    lib_install_deps qemu-user-static binfmt-support || return 1
    if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || { lib_err "cannot mount binfmt_misc"; return 1; }
    fi
    grep -q '^enabled' "$f" 2>/dev/null || update-binfmts --enable qemu-aarch64 >/dev/null 2>&1
    grep -q '^enabled' "$f" 2>/dev/null || { lib_err "binfmt qemu-aarch64 is not enabled"; return 1; }
    grep -q '^flags:.*F' "$f" || { lib_err "binfmt qemu-aarch64 lacks the F flag (fix_binary)"; return 1; }
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
    for c in dockerd=docker.io runc=runc containerd=containerd iptables=iptables debootstrap=debootstrap \
        python3=python3 setsid=util-linux script=bsdutils fuser=psmisc timeout=coreutils tar=tar shellcheck=shellcheck; do
        command -v "${c%%=*}" >/dev/null || want+=("${c#*=}")
    done
    { [ -x /bin/busybox ] && lib_static /bin/busybox; } || want+=(busybox-static)
    want+=("$@")
    [ ${#want[@]} -eq 0 ] && return 0
    lib_apt_install "${want[@]}" || return 1
    lib_docker_cli
}

# ------------------------------------------------------------------ capabilities

# lib_missing_caps: the capabilities the kernel knows that our bounding set lacks (lower case)
lib_missing_caps() {
    local names=(chown dac_override dac_read_search fowner fsetid kill setgid setuid setpcap
        linux_immutable net_bind_service net_broadcast net_admin net_raw ipc_lock ipc_owner
        sys_module sys_rawio sys_chroot sys_ptrace sys_pacct sys_admin sys_boot sys_nice
        sys_resource sys_time sys_tty_config mknod lease audit_write audit_control setfcap
        mac_override mac_admin syslog wake_alarm block_suspend audit_read perfmon bpf
        checkpoint_restore)
    local bnd last i out=()
    bnd=$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)
    last=$(cat /proc/sys/kernel/cap_last_cap 2>/dev/null || echo $((${#names[@]} - 1)))
    ((last >= ${#names[@]})) && last=$((${#names[@]} - 1))
    for ((i = 0; i <= last; i++)); do
        (((16#$bnd >> i) & 1)) || out+=("${names[i]}")
    done
    echo "${out[*]}"
}

# ------------------------------------------------------------------ the throwaway host dockerd

# lib_host_start INSTANCE: start (or take over a stale one of) the throwaway dockerd INSTANCE:
# own data root, exec root, pid file, socket; --bridge=none --iptables=false; a capability-
# dropping runtime wrapper when the bounding set lacks some. Sets DIND_HOST_RUN, DIND_HOST_SOCK,
# DIND_HOST_LOG, DIND_HOST_PID, exports DOCKER_HOST. Locks the instance: a second run fails fast.
lib_host_start() {
    local inst=${1:?lib_host_start: INSTANCE}
    DIND_HOST_INSTANCE=$inst
    DIND_HOST_RUN=/run/dind-init-$inst
    DIND_HOST_DATA=$DIND_CACHE/host-$inst
    DIND_HOST_SOCK=$DIND_HOST_RUN/docker.sock
    DIND_HOST_LOG=$DIND_HOST_RUN/dockerd.log
    local pidfile=$DIND_HOST_RUN/docker.pid exec_root=$DIND_HOST_RUN/exec
    mkdir -p "$DIND_HOST_RUN" "$DIND_HOST_DATA" || return 1

    exec {DIND_HOST_LOCK_FD}>"$DIND_HOST_RUN/lock"
    if ! flock -n "$DIND_HOST_LOCK_FD"; then
        lib_err "host dockerd instance '$inst' is in use by another run (lock $DIND_HOST_RUN/lock); use another instance name"
        return 1
    fi

    # A dockerd of this instance left behind by a run that was SIGKILLed: nobody holds the lock,
    # and its command line names our exec root. Stop it (and only it) and start afresh.
    local old
    old=$(cat "$pidfile" 2>/dev/null)
    if [ -n "$old" ] && [ -r "/proc/$old/cmdline" ] &&
        tr '\0' ' ' <"/proc/$old/cmdline" | grep -q -- "--exec-root $exec_root "; then
        lib_log "stopping stale host dockerd ($inst) pid $old left by an earlier run"
        kill -TERM "$old" 2>/dev/null
        lib_retry 200 0.1 lib_dead "$old" || kill -KILL "$old" 2>/dev/null
    fi
    rm -f "$DIND_HOST_SOCK" "$pidfile"

    local args=(
        --config-file "$DIND_HOST_RUN/daemon.json"
        --data-root "$DIND_HOST_DATA"
        --exec-root "$exec_root"
        --pidfile "$pidfile"
        -H "unix://$DIND_HOST_SOCK"
        --bridge=none --iptables=false --ip-masq=false --userland-proxy=false
        --storage-driver overlay2
    )
    echo '{}' >"$DIND_HOST_RUN/daemon.json"   # not /etc/docker/daemon.json

    local missing
    missing=$(lib_missing_caps)
    if [ -n "$missing" ]; then
        local py runc
        py=$(command -v python3) || { lib_err "python3 is needed for the runtime wrapper"; return 1; }
        [ -x /usr/bin/python3 ] && py=/usr/bin/python3
        runc=$(command -v runc) || { lib_err "runc not found"; return 1; }
        { echo "#!$py -I"; sed -e 1d -e "s|@REAL_RUNC@|$runc|" "$DIND_LIB_DIR/runc-capdrop"; } \
            >"$DIND_HOST_RUN/runc-capdrop.tmp" && chmod 0755 "$DIND_HOST_RUN/runc-capdrop.tmp" &&
            mv -f "$DIND_HOST_RUN/runc-capdrop.tmp" "$DIND_HOST_RUN/runc-capdrop" || return 1
        args+=(--add-runtime "capdrop=$DIND_HOST_RUN/runc-capdrop" --default-runtime capdrop)
        lib_log "capability bounding set lacks: $missing -> runtime wrapper $DIND_HOST_RUN/runc-capdrop drops them"
    fi

    lib_log "starting host dockerd '$inst' (socket $DIND_HOST_SOCK, data $DIND_HOST_DATA, log $DIND_HOST_LOG)"
    # Own session: a Ctrl-C on the terminal must not reach it; the trap of the caller stops it.
    # Without the lock fd: if this script is SIGKILLed, the next run may take the instance over.
    setsid dockerd "${args[@]}" </dev/null >"$DIND_HOST_LOG" 2>&1 {DIND_HOST_LOCK_FD}>&- &
    DIND_HOST_PID=$!
    export DOCKER_HOST=unix://$DIND_HOST_SOCK
    local i t0
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

# lib_host_stop: stop the dockerd lib_host_start started (SIGTERM, then SIGKILL after 30 s).
lib_host_stop() {
    local pid=${DIND_HOST_PID:-}
    DIND_HOST_PID=
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        lib_log "stopping host dockerd '$DIND_HOST_INSTANCE' (pid $pid)"
        kill -TERM "$pid" 2>/dev/null
        lib_retry 300 0.1 lib_dead "$pid" || { lib_err "host dockerd did not stop in 30 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null; }
        wait "$pid" 2>/dev/null
    fi
    if [ -n "${DIND_HOST_LOCK_FD:-}" ]; then
        exec {DIND_HOST_LOCK_FD}>&-
        DIND_HOST_LOCK_FD=
    fi
    return 0
}

# lib_host_log_tail [N]: the last N lines of the host dockerd's log.
lib_host_log_tail() { tail -n "${1:-30}" "${DIND_HOST_LOG:-/dev/null}" 2>/dev/null; }

# ------------------------------------------------------------------ binary

# lib_toolchain: cargo, and what rust-toolchain.toml names (x86_64 and aarch64 musl; clippy,
# rustfmt), installed here in case RUSTUP_AUTO_INSTALL=0 keeps rustup from doing it itself.
lib_toolchain() {
    export PATH="$HOME/.cargo/bin:$PATH"
    command -v cargo >/dev/null || { lib_err "cargo is missing: install Rust with rustup (https://rustup.rs) first"; return 1; }
    command -v rustup >/dev/null || return 0   # a distribution's Rust: its targets are its own
    local have comps
    have=$(cd "$DIND_REPO" && rustup target list --installed 2>/dev/null)
    comps=$(cd "$DIND_REPO" && rustup component list --installed 2>/dev/null)
    grep -qx x86_64-unknown-linux-musl <<<"$have" && grep -qx aarch64-unknown-linux-musl <<<"$have" &&
        grep -q '^clippy' <<<"$comps" && grep -q '^rustfmt' <<<"$comps" && return 0
    (cd "$DIND_REPO" && rustup toolchain install --no-self-update >/dev/null 2>&1) ||
        (cd "$DIND_REPO" && rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl &&
            rustup component add clippy rustfmt) ||
        { lib_err "cannot install the musl targets, clippy and rustfmt: rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl; rustup component add clippy rustfmt"; return 1; }
}

# lib_build_binary: cargo build --release; sets DIND_BIN (given: used as it is, no build)
lib_build_binary() {
    if [ -n "${DIND_BIN:-}" ]; then
        [ -x "$DIND_BIN" ] || { lib_err "DIND_BIN=$DIND_BIN is not an executable"; return 1; }
        return 0
    fi
    lib_toolchain || return 1
    (cd "$DIND_REPO" && cargo build --release --locked -q) || { lib_err "cargo build --release failed"; return 1; }
    DIND_BIN=$DIND_RELEASE_BIN
    [ -x "$DIND_BIN" ] || { lib_err "$DIND_BIN missing after the build"; return 1; }
    lib_static "$DIND_BIN" || { lib_err "$DIND_BIN is not static"; return 1; }
}

# ------------------------------------------------------------------ images

lib_hash() { printf '%s' "$*" | sha256sum | cut -c1-12; }

# lib_debootstrap_script: prints debootstrap's generic `sid` script for a suite it does not know
# (forky, an older debootstrap), or nothing
lib_debootstrap_script() {
    local dir=/usr/share/debootstrap/scripts
    [ -e "$dir/$DIND_SUITE" ] && return 0
    [ -e "$dir/sid" ] && echo "$dir/sid"
}

# lib_rootfs_check ROOT: the engine's pieces are in the rootfs; prints their versions
lib_rootfs_check() {
    local root=$1 b missing=()
    for b in dockerd docker containerd containerd-shim-runc-v2 runc iptables iptables-legacy iptables-nft ps; do
        [ -e "$root/usr/bin/$b" ] || [ -e "$root/usr/sbin/$b" ] || [ -e "$root/sbin/$b" ] || missing+=("$b")
    done
    [ ${#missing[@]} -eq 0 ] || { lib_err "the $DIND_SUITE rootfs lacks: ${missing[*]} (DIND_BASE_PKGS=$DIND_BASE_PKGS)"; return 1; }
    # shellcheck disable=SC2016  # dpkg-query's format, not the shell's
    chroot "$root" dpkg-query -W -f '${Package}=${Version} ' docker.io docker-cli containerd runc iptables 2>/dev/null
    echo
}

# lib_base_rootfs: prints the path of the debootstrap tarball (minbase + DIND_BASE_PKGS), cached
lib_base_rootfs() {
    local key tar root script log t0 versions
    key=$(lib_hash "$DIND_SUITE $DIND_BASE_PKGS minbase")
    tar=$DIND_CACHE/base-$DIND_SUITE-$key.tar
    log=$DIND_CACHE/debootstrap-$DIND_SUITE.log
    if [ ! -s "$tar" ]; then
        mkdir -p "$DIND_CACHE" || return 1
        root=$(mktemp -d "$DIND_CACHE/rootfs.XXXXXX") || return 1
        script=$(lib_debootstrap_script)
        lib_log "debootstrap --variant=minbase --include=$DIND_BASE_PKGS $DIND_SUITE${script:+ (script $script)} (once, a few minutes; cached as $tar)"
        t0=$SECONDS
        if ! debootstrap --variant=minbase --include="$DIND_BASE_PKGS" \
            "$DIND_SUITE" "$root" "$DIND_MIRROR" ${script:+"$script"} >"$log" 2>&1; then
            lib_err "debootstrap failed; last lines of $log:"
            tail -n 20 "$log" >&2
            rm -rf "$root"
            return 1
        fi
        versions=$(lib_rootfs_check "$root") || { rm -rf "$root"; return 1; }
        lib_log "debootstrap $DIND_SUITE took $((SECONDS - t0)) s: $versions"
        # Offline image: no package lists, no downloaded .debs, no host resolv.conf/hostname.
        rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
        rm -f "$root/etc/hostname" "$root/etc/resolv.conf"
        tar --numeric-owner --xattrs -C "$root" -cf "$tar.$$.tmp" . && mv -f "$tar.$$.tmp" "$tar" || { rm -rf "$root" "$tar.$$.tmp"; return 1; }
        rm -rf "$root"
    fi
    echo "$tar"
}

# lib_base_image: BASE_IMAGE (dind-init-test/base:SUITE), imported from the cached tarball
lib_base_image() {
    local tar key have
    tar=$(lib_base_rootfs) || return 1
    key=$(basename "$tar" .tar)
    have=$(dk image inspect -f '{{index .Config.Labels "dind-init-test.rootfs"}}' "$BASE_IMAGE" 2>/dev/null)
    [ "$have" = "$key" ] && return 0
    lib_log "importing $tar as $BASE_IMAGE"
    local t0=$SECONDS
    DK_TIMEOUT=600 dk import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -c "LABEL dind-init-test.rootfs=$key" -c 'CMD ["bash"]' "$tar" "$BASE_IMAGE" >/dev/null ||
        { lib_err "docker import of $tar failed"; return 1; }
    lib_log "imported $BASE_IMAGE in $((SECONDS - t0)) s"
}

# lib_inner_image: INNER_IMAGE (static busybox) and $INNER_TAR for `docker load` inside DinD
# containers; made once per busybox binary (its hash), so every instance holds the same image
lib_inner_image() {
    local bb=/bin/busybox key have
    lib_static "$bb" || { lib_err "$bb is not static (install busybox-static)"; return 1; }
    key=$(sha256sum "$bb" | cut -c1-12)
    if [ "$(cat "$INNER_TAR.key" 2>/dev/null)" = "$key" ] && [ -s "$INNER_TAR" ]; then
        have=$(dk image inspect -f '{{index .Config.Labels "dind-init-test.busybox"}}' "$INNER_IMAGE" 2>/dev/null)
        [ "$have" = "$key" ] && return 0
        dk load -q -i "$INNER_TAR" >/dev/null && return 0
        lib_log "docker load -i $INNER_TAR failed: making it again"
    fi
    local root a
    root=$(mktemp -d) || return 1
    mkdir -p "$root"/{bin,tmp,etc,proc,sys,dev}
    cp "$bb" "$root/bin/busybox"
    for a in $("$bb" --list); do [ "$a" = busybox ] || ln -s busybox "$root/bin/$a"; done
    echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd" && echo 'root:x:0:' >"$root/etc/group"
    chmod 1777 "$root/tmp"
    lib_log "importing static busybox as $INNER_IMAGE"
    tar --numeric-owner -C "$root" -c . | dk import \
        -c 'ENV PATH=/bin' -c "LABEL dind-init-test.busybox=$key" -c 'CMD ["sh"]' \
        - "$INNER_IMAGE" >/dev/null
    local rc=$?
    rm -rf "$root"
    [ $rc -eq 0 ] || { lib_err "docker import of the inner image failed"; return 1; }
    mkdir -p "$DIND_CACHE"
    dk save -o "$INNER_TAR.$$.tmp" "$INNER_IMAGE" && chmod 0644 "$INNER_TAR.$$.tmp" && mv -f "$INNER_TAR.$$.tmp" "$INNER_TAR" \
        && echo "$key" >"$INNER_TAR.key" || { rm -f "$INNER_TAR.$$.tmp"; lib_err "docker save $INNER_IMAGE failed"; return 1; }
}

# lib_build IMAGE CONTEXT DOCKER-BUILD-ARGS...: docker build (BuildKit, offline), quiet unless it fails
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

# lib_dind_image: SCRATCH_IMAGE (docker/Dockerfile --target prebuilt: only /dind-init, DIND_BIN)
# and DIND_IMAGE (docker/debian.Dockerfile on the base image)
lib_dind_image() {
    [ -n "${DIND_BIN:-}" ] || lib_build_binary || return 1
    local ctx rc rel=target/x86_64-unknown-linux-musl/release
    ctx=$(mktemp -d) || return 1
    mkdir -p "$ctx/bin/$rel" "$ctx/empty" && cp "$DIND_BIN" "$ctx/bin/$rel/dind-init" &&
        lib_build "$SCRATCH_IMAGE" "$ctx/bin" -f "$DIND_REPO/docker/Dockerfile" --target prebuilt &&
        lib_build "$DIND_IMAGE" "$ctx/empty" -f "$DIND_REPO/docker/debian.Dockerfile" \
            --build-arg "BASE=$BASE_IMAGE" --build-arg "DIND_INIT_IMAGE=$SCRATCH_IMAGE"
    rc=$?
    rm -rf "$ctx"
    return $rc
}

lib_all_images() { lib_build_binary && lib_base_image && lib_inner_image && lib_dind_image; }

# lib_rootless_image FROM IMAGE [CACHE]: IMAGE from docker/debian-rootless.Dockerfile on FROM plus
# its packages (rootlesskit slirp4netns uidmap fuse-overlayfs iproute2), installed from .debs the
# host's apt fetched into CACHE/debs once per base rootfs (default DIND_CACHE/rootless-SUITE; the
# build has no network, and the Dockerfile then finds them)
lib_rootless_image() {
    local from=$1 image=$2 cache=${3:-$DIND_CACHE/rootless$DIND_SUITE_TAG} key ctx rc
    local pkgs=dind-init-test/rootless-base:${from//[:\/]/-}
    key=$(basename "$(lib_base_rootfs)" .tar) || return 1
    key+=" iproute2"
    if [ "$(cat "$cache/key" 2>/dev/null)" != "$key" ]; then
        lib_log "fetching rootlesskit slirp4netns uidmap fuse-overlayfs iproute2 for $DIND_SUITE into $cache"
        mkdir -p "$cache" && PY_CACHE=$cache lib_apt_fetch "$cache/debs" rootlesskit slirp4netns uidmap fuse-overlayfs iproute2 &&
            echo "$key" >"$cache/key" || return 1
    fi
    ctx=$(mktemp -d) || return 1
    mkdir -p "$ctx/debs" && cp "$cache"/debs/*.deb "$ctx/debs/" || { rm -rf "$ctx"; return 1; }
    lib_debs_dockerfile "$from" >"$ctx/Dockerfile"
    lib_build "$pkgs" "$ctx" && lib_build "$image" "$ctx" -f "$DIND_REPO/docker/debian-rootless.Dockerfile" --build-arg "BASE=$pkgs"
    rc=$?
    rm -rf "$ctx"
    [ $rc -eq 0 ] && lib_log "$image: $(dk run --rm --entrypoint rootlesskit "$image" --version 2>&1 | head -n 1)"
    return $rc
}
# lib_tun_node FILE MODE: a /dev/net/tun node (c 10 200) of MODE to bind-mount: udev makes the
# host's 0666, which a dind-init as uid 1000 needs (a machine without udev has 0600)
lib_tun_node() { rm -f "$1" && mknod -m "$2" "$1" c 10 200; }

# ------------------------------------------------------------------ the Docker SDK for Python

PY_CACHE=${PY_CACHE:-$DIND_CACHE/python${DIND_SUITE_TAG:-}}

# lib_apt_fetch DIR PKG...: PKG and what the base image lacks of its dependencies, downloaded into
# DIR by the host's apt against the base image's dpkg status (the image build has no network);
# for another suite than the host's, with that suite's lists in PY_CACHE/apt
lib_apt_fetch() {
    local dir=$1 status=$PY_CACHE/status host_suite
    shift
    rm -rf "$dir" && mkdir -p "$dir/partial" || return 1
    tar -xOf "$(lib_base_rootfs)" ./var/lib/dpkg/status >"$status" || return 1
    local own=()
    host_suite=$(sed -n "s/^VERSION_CODENAME=//p" /etc/os-release 2>/dev/null)
    if [ "$host_suite" != "$DIND_SUITE" ]; then
        local a=$PY_CACHE/apt
        mkdir -p "$a/lists/partial" "$a/parts" "$a/prefs" || return 1
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $DIND_MIRROR $DIND_SUITE main" >"$a/sources.list"
        own=(-o "Dir::Etc::SourceList=$a/sources.list" -o "Dir::Etc::SourceParts=$a/parts"
            -o "Dir::Etc::PreferencesParts=$a/prefs" -o "Dir::State::Lists=$a/lists"
            -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=")
        # its lists are fetched once per base rootfs (apt_fetch runs only when that changes)
        apt-get "${own[@]}" -o Debug::NoLocking=1 -qq update >"$dir.log" 2>&1 ||
            { lib_err "apt-get update for $DIND_SUITE failed: $(tail -n 3 "$dir.log")"; rm -rf "$dir"; return 1; }
    fi
    local apt=(apt-get "${own[@]}" -o "Dir::State::status=$status" -o "Dir::Cache::archives=$dir" -o Debug::NoLocking=1
        -o APT::Get::Assume-Yes=true -o DPkg::Lock::Timeout=600 -qq install --download-only --no-install-recommends "$@")
    if ! "${apt[@]}" >"$dir.log" 2>&1; then
        if [ ${#own[@]} -eq 0 ]; then apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null 2>&1; fi
        "${apt[@]}" >"$dir.log" 2>&1 || { lib_err "apt-get --download-only $* failed: $(tail -n 3 "$dir.log")"; rm -rf "$dir"; return 1; }
    fi
    rm -rf "$dir/partial" "$dir/lock"
}

# lib_py_deps: python3 .debs and the Docker SDK for Python (PyPI's wheels, else Debian's
# python3-docker), cached in PY_CACHE; sets PY_VERSION, PY_DEBS, PY_WHEELS (or empty), PY_SDK_SOURCE
# shellcheck disable=SC2034 # PY_SDK_SOURCE is read by the scripts that source this file
lib_py_deps() {
    local key
    key=$(basename "$(lib_base_rootfs)" .tar) || return 1
    mkdir -p "$PY_CACHE" || return 1
    if [ "$(cat "$PY_CACHE/key" 2>/dev/null)" != "$key" ]; then
        rm -rf "$PY_CACHE/python3" "$PY_CACHE/python3-docker"
        lib_apt_fetch "$PY_CACHE/python3" python3 || return 1
        echo "$key" >"$PY_CACHE/key"
    fi
    PY_VERSION=$(find "$PY_CACHE/python3" -name 'python3.*-minimal_*.deb' -printf '%f\n' | sed -n 's/^python\(3\.[0-9]*\)-minimal_.*/\1/p' | head -n 1)
    PY_VERSION=${PY_VERSION:-3.11}
    if ! ls "$PY_CACHE"/wheels/docker-*.whl >/dev/null 2>&1; then
        local py=python3
        [ -x /usr/bin/python3 ] && py=/usr/bin/python3
        rm -rf "$PY_CACHE/wheels.tmp"
        if "$py" -m pip download -q --disable-pip-version-check --only-binary=:all: --platform manylinux2014_x86_64 \
            --python-version "$PY_VERSION" --implementation cp --abi "cp${PY_VERSION/./}" -d "$PY_CACHE/wheels.tmp" docker \
            >"$PY_CACHE/pip.log" 2>&1; then
            rm -rf "$PY_CACHE/wheels" && mv "$PY_CACHE/wheels.tmp" "$PY_CACHE/wheels"
        else
            rm -rf "$PY_CACHE/wheels.tmp"
            lib_log "pip download docker failed (PyPI unreachable?): falling back to Debian's python3-docker ($(tail -n 1 "$PY_CACHE/pip.log"))"
        fi
    fi
    if ls "$PY_CACHE"/wheels/docker-*.whl >/dev/null 2>&1; then
        PY_DEBS=$PY_CACHE/python3 PY_WHEELS=$PY_CACHE/wheels
        PY_SDK_SOURCE="Docker SDK from PyPI ($(basename "$(ls "$PY_CACHE"/wheels/docker-*.whl)"))"
    else
        [ -d "$PY_CACHE/python3-docker" ] || lib_apt_fetch "$PY_CACHE/python3-docker" python3 python3-docker || return 1
        PY_DEBS=$PY_CACHE/python3-docker PY_WHEELS=
        PY_SDK_SOURCE="Docker SDK from Debian ($(basename "$(ls "$PY_CACHE"/python3-docker/python3-docker_*.deb)"); PyPI unreachable)"
    fi
}

# lib_debs_dockerfile BASE: a Dockerfile's first lines: FROM BASE, then the context's debs/*.deb
# (if any) installed offline, in passes (each configures what the next one's Pre-Depends need)
lib_debs_dockerfile() {
    echo "FROM $1"
    cat <<'EOF'
COPY debs /tmp/debs
RUN set -e; if ls /tmp/debs/*.deb >/dev/null 2>&1; then ok=; for i in 1 2 3 4 5; do \
    if dpkg -i /tmp/debs/*.deb >/tmp/dpkg.log 2>&1; then ok=1; break; fi; done; [ -n "$ok" ] || { cat /tmp/dpkg.log; exit 1; }; fi; \
    rm -rf /tmp/debs /tmp/dpkg.log
EOF
}

# lib_registry_image IMAGE: the base image + Debian's docker-registry (distribution; its .deb
# fetched by the host's apt against the base's dpkg status, cached in DIND_CACHE/registry-SUITE;
# the build is offline), serving 127.0.0.1:5000 in its container with an access log
lib_registry_image() {
    local image=$1 cache=$DIND_CACHE/registry-$DIND_SUITE key ctx rc
    key=$(basename "$(lib_base_rootfs)" .tar) || return 1
    if [ "$(cat "$cache/key" 2>/dev/null)" != "$key" ] || ! ls "$cache"/debs/docker-registry_*.deb >/dev/null 2>&1; then
        mkdir -p "$cache" && PY_CACHE=$cache lib_apt_fetch "$cache/debs" docker-registry && echo "$key" >"$cache/key" || return 1
    fi
    [ "$(dk image inspect -f '{{index .Config.Labels "dind-init-test.registry"}}' "$image" 2>/dev/null)" = "$key" ] && return 0
    ctx=$(mktemp -d) || return 1
    cp -r "$cache/debs" "$ctx/debs"
    printf '%s\n' 'version: 0.1' 'log: {level: info, accesslog: {disabled: false}}' \
        'storage: {filesystem: {rootdirectory: /var/lib/docker-registry}}' 'http: {addr: "127.0.0.1:5000"}' >"$ctx/config.yml"
    { lib_debs_dockerfile "$BASE_IMAGE"; cat <<EOF; } >"$ctx/Dockerfile"
RUN docker-registry --version
COPY config.yml /etc/dind-init-test/registry.yml
LABEL dind-init-test.registry=$key
ENTRYPOINT ["docker-registry", "serve", "/etc/dind-init-test/registry.yml"]
EOF
    lib_build "$image" "$ctx"
    rc=$?
    rm -rf "$ctx"
    return $rc
}

# lib_py_image IMAGE BUILD-LOG: DIND_IMAGE + python3 + the Docker SDK, offline. Its
# /usr/local/bin/sdk-check.py prints DOCKER_HOST, TESTCONTAINERS_HOST_OVERRIDE, loads inner.tar,
# runs `echo sdk-ok` (`result=sdk-ok`) and prints `versions: ...`; docker.from_env() follows TLS.
lib_py_image() {
    local image=$1 buildlog=$2
    lib_py_deps || return 1
    local ctx
    ctx=$(mktemp -d) || return 1
    mkdir -p "$ctx/debs" "$ctx/wheels"
    cp "$PY_DEBS"/*.deb "$ctx/debs/" 2>/dev/null
    [ -z "$PY_WHEELS" ] || cp "$PY_WHEELS"/*.whl "$ctx/wheels/"
    cat >"$ctx/sdk.py" <<'PY'
import os
import docker

print("DOCKER_HOST=" + os.environ.get("DOCKER_HOST", "<unset>"))
print("TESTCONTAINERS_HOST_OVERRIDE=" + os.environ.get("TESTCONTAINERS_HOST_OVERRIDE", "<unset>"))
client = docker.from_env()
with open("/images/inner.tar", "rb") as f:
    client.images.load(f.read())
out = client.containers.run(os.environ.get("INNER_IMAGE", "dind-init-test/inner:latest"), "echo sdk-ok", remove=True)
print("result=" + out.decode().strip())
print("versions: sdk %s, engine %s (API %s)" % (docker.__version__, client.version()["Version"], client.api.api_version))
PY
    { lib_debs_dockerfile "$DIND_IMAGE"; cat <<EOF; } >"$ctx/Dockerfile"
COPY wheels /tmp/wheels
RUN set -e; sp=/usr/local/lib/python$PY_VERSION/dist-packages; mkdir -p "\$sp"; \
    for w in /tmp/wheels/*.whl; do [ -e "\$w" ] || continue; python3 -m zipfile -e "\$w" "\$sp"; done; \
    rm -rf /tmp/wheels; python3 -c 'import docker'
COPY sdk.py /usr/local/bin/sdk-check.py
EOF
    lib_build "$image" "$ctx" >"$buildlog" 2>&1
    local rc=$?
    rm -rf "$ctx"
    return $rc
}

# lib_wait_quiet MINUTES LOAD: (bench) until the load average is below LOAD, at most MINUTES in all
LIB_QUIET_DEADLINE=
lib_wait_quiet() {
    [ -n "$1" ] || return 0
    [ -n "$LIB_QUIET_DEADLINE" ] || LIB_QUIET_DEADLINE=$((SECONDS + $1 * 60))
    local said='' load
    while load=$(cut -d' ' -f1 /proc/loadavg) && awk -v l="$load" -v q="$2" 'BEGIN { exit !(l >= q) }'; do
        if ((SECONDS >= LIB_QUIET_DEADLINE)); then
            [ -n "$said" ] && lib_log "load still $load; the $1 min of waiting are used up: going on"
            return 0
        fi
        [ -n "$said" ] || lib_log "load average $load >= $2: waiting (at most $(((LIB_QUIET_DEADLINE - SECONDS + 59) / 60)) min left in all)"
        said=1
        sleep 10
    done
}
