//! A fake `dockerd` for dind-init's namespace tests (tests/namespace.rs, tests/faults.rs).
//! It speaks just enough of dockerd to be supervised: dockerd-style arguments, a pid file,
//! `GET /_ping` on a unix socket, log records on stderr in dockerd's text format
//! (`time="..." level=info msg="..."`, prefixed with `fake-dockerd[PID] `), a clean stop on
//! SIGTERM, and inner "containers" behind "containerd shims" as the real one has. Behaviour
//! is chosen with environment variables (dind-init passes its environment on to dockerd):
//!
//! | variable | effect |
//! |---|---|
//! | `FAKE_DOCKERD_ARGS_FILE=F` | write every argument to F, one per line |
//! | `FAKE_DOCKERD_FDS_FILE=F` | write the open fds found at start-up to F, one per line |
//! | `FAKE_DOCKERD_EVENTS=F` | append events: `start PID T`, `stale-pidfile PATH PID`, `stale-socket PATH`, `listening T`, `ping STATUS T` (once the answer is written), `signal N T`, `term T`, `exit T` (T: ns since the epoch) |
//! | `FAKE_DOCKERD_DELAY_MS=N` | wait N ms before listening |
//! | `FAKE_DOCKERD_STALL_IF=F` | when file F exists at start-up, never listen (a restarted dockerd that hangs) |
//! | `FAKE_DOCKERD_EXIT=N` | print a few log lines and exit N at once |
//! | `FAKE_DOCKERD_NO_ANSWER=1` | accept connections but never answer |
//! | `FAKE_DOCKERD_PING_STATUS=N` | answer `/_ping` with status N (default 200) |
//! | `FAKE_DOCKERD_HANG_PATH=P` | a request whose path starts with P is read and never answered (an image load that hangs) |
//! | `FAKE_DOCKERD_PING_DELAY_MS=N` | accept a connection, then wait N ms before answering it |
//! | `FAKE_DOCKERD_CONTAINERS=N` | start N inner containers, each a process under its own "shim" (`containerd-shim-runc-v2`, reparented to dind-init as real shims are); on SIGTERM the fake sends each container SIGTERM and waits for them (events `container-start PID T`, `container-term PID T`, `containers-gone T`); an API call `POST /containers/ID/stop` records `api-stop ID` |
//! | `FAKE_DOCKERD_CONTAINERS_IGNORE_TERM=1` | the containers ignore SIGTERM (only SIGKILL ends them) |
//! | `FAKE_DOCKERD_NOISE=1` | log a debug record at start-up whose message quotes "Daemon shutdown complete" (as dockerd --debug logs request bodies) |
//! | `FAKE_DOCKERD_EXIT_AFTER_MS=N` | exit by itself N ms after it listens (status `FAKE_DOCKERD_TERM_EXIT`, default 0; event `exit-by-itself T`), as a daemon that crashes or is stopped from inside |
//! | `FAKE_DOCKERD_IGNORE_TERM=1` | ignore SIGTERM/SIGINT (only SIGKILL stops it) |
//! | `FAKE_DOCKERD_STOP_DELAY_MS=N` | take N ms to stop after SIGTERM |
//! | `FAKE_DOCKERD_TERM_EXIT=N` | exit status after SIGTERM (default 0) |
//! | `FAKE_DOCKERD_CONTAINERD_MS=N` | run a child (`sleep`, its "containerd") from start-up; after "Daemon shutdown complete" stop it N ms later (events `containerd-gone T`) |
//! | `FAKE_DOCKERD_LINGER_MS=N` | after "Daemon shutdown complete" (and the child's end), wait N ms before exiting, as dockerd's containerd wait does |
//! | `FAKE_DOCKERD_SHUTDOWN_LINES=N` | print N numbered log lines while stopping (before "Daemon shutdown complete"), into a 1 MiB pipe |
//!
//! Run as `containerd` (a link of that name: tests put one first in PATH for dind-init's own
//! containerd), it plays containerd instead: reads `--config FILE`, listens on the `[grpc]`
//! address there, records `containerd-start PID T`, `containerd-listening T`, `containerd-term
//! T`, `containerd-exit T`, and ends on SIGTERM (`FAKE_CONTAINERD_DELAY_MS=N`: listen N ms
//! late); `containerd --version` prints containerd 2's line (`FAKE_CONTAINERD_VERSION=1.7.27`:
//! another version). As dockerd, given `--containerd=SOCKET` it waits for that socket before it listens
//! itself (`containerd-connected T`); every connection it accepts: `containerd-accepted T`.
//!
//! Like the real dockerd it refuses to start when its pid file names a running process
//! ("pid file found, ensure docker is not running or delete ..."), it unlinks a leftover
//! socket before binding (recording `stale-socket` so tests can tell), it does not create the
//! socket's directory (`listen unix ...: no such file or directory`), and on its way out it
//! removes its socket only if it bound it.
//!
//! Only std is used (a few libc calls are declared by hand), so the tests can also build it
//! with a bare `rustc` when cargo did not build the examples.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
    fn getpid() -> i32;
    fn fork() -> i32;
    fn setsid() -> i32;
    fn signal(sig: i32, handler: usize) -> usize;
    fn fcntl(fd: i32, cmd: i32, ...) -> i32;
}

const F_SETPIPE_SZ: i32 = 1031;

const SIGHUP: i32 = 1;
const SIGINT: i32 = 2;
const SIGQUIT: i32 = 3;
const SIGUSR1: i32 = 10;
const SIGUSR2: i32 = 12;
const SIGKILL: i32 = 9;
const SIGTERM: i32 = 15;
const SIG_IGN: usize = 1;
const SIGWINCH: i32 = 28;

#[allow(clippy::declare_interior_mutable_const)]
const UNSET: AtomicBool = AtomicBool::new(false);
static PENDING: [AtomicBool; 65] = [UNSET; 65];
/// Set once this fake bound its socket: only then is the socket its own to remove.
static BOUND: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: i32) {
    if (0..65).contains(&sig) {
        PENDING[sig as usize].store(true, Ordering::SeqCst);
    }
}

fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

fn env_num(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn env_flag(name: &str) -> bool {
    matches!(std::env::var(name).as_deref(), Ok("1") | Ok("true") | Ok("yes"))
}

/// Appends one line to $FAKE_DOCKERD_EVENTS (O_APPEND: lines from several writers interleave whole).
fn event(line: &str) {
    if let Ok(path) = std::env::var("FAKE_DOCKERD_EVENTS") {
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }
}

/// One log record, in dockerd's text format (a `fake-dockerd[PID] ` prefix tells it apart).
fn log_at(level: &str, msg: &str) {
    let secs = now_ns() / 1_000_000_000;
    let msg = msg.replace('\\', "\\\\").replace('"', "\\\"");
    // SAFETY: getpid(2) has no preconditions and cannot fail.
    eprintln!("fake-dockerd[{}] time=\"{secs}\" level={level} msg=\"{msg}\"", unsafe { getpid() });
}

fn log(msg: &str) {
    log_at("info", msg);
}

/// Values of a dockerd flag in all its spellings: `--long v`, `--long=v`, `-s v`, `-sv`, `-s=v`.
fn flag_values(args: &[String], long: &str, short: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == long || Some(a.as_str()) == short {
            if let Some(v) = args.get(i + 1) {
                out.push(v.clone());
                i += 1;
            }
        } else if let Some(v) = a.strip_prefix(long).and_then(|r| r.strip_prefix('=')) {
            out.push(v.to_string());
        } else if let Some(s) = short {
            if let Some(v) = a.strip_prefix(s) {
                if !a.starts_with("--") && !v.is_empty() {
                    out.push(v.trim_start_matches('=').to_string());
                }
            }
        }
        i += 1;
    }
    out
}

/// Open fds, without the one used to read the directory.
fn open_fds() -> Vec<String> {
    // SAFETY: getpid(2) has no preconditions and cannot fail.
    let me = format!("/proc/{}/fd", unsafe { getpid() });
    let mut fds: Vec<(i32, String)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let target =
                std::fs::read_link(e.path()).map(|p| p.display().to_string()).unwrap_or_default();
            if target == me || target.is_empty() {
                continue; // the directory being read (or gone already)
            }
            if let Ok(n) = name.parse() {
                fds.push((n, format!("{name} {target}")));
            }
        }
    }
    fds.sort();
    fds.into_iter().map(|(_, s)| s).collect()
}

struct State {
    socket: PathBuf,
    pidfile: PathBuf,
    containerd: std::sync::Mutex<Option<std::process::Child>>,
}

impl State {
    /// What dockerd does on SIGTERM: clean up, say so, exit.
    fn shutdown(&self) -> ! {
        log("Processing signal 'terminated'");
        if let Some(ms) = env_num("FAKE_DOCKERD_STOP_DELAY_MS") {
            std::thread::sleep(Duration::from_millis(ms));
        }
        if let Some(n) = env_num("FAKE_DOCKERD_SHUTDOWN_LINES") {
            // A roomy pipe (when stderr is one): all the lines are written, and the fake
            // exits, long before its reader has forwarded them.
            // SAFETY: fcntl(2) on fd 2 with an integer argument; a failure (not a pipe) is harmless.
            unsafe { fcntl(2, F_SETPIPE_SZ, 1 << 20) };
            // One write: everything sits in the pipe when the fake exits.
            // SAFETY: getpid(2) has no preconditions and cannot fail.
            let me = unsafe { getpid() };
            let mut text = String::new();
            for i in 1..=n {
                text.push_str(&format!(
                    "fake-dockerd[{me}] level=info msg=\"stopping: shutdown line {i} of {n}, padded to look like dockerd's chatty shutdown output\"\n"
                ));
            }
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
        stop_containers();
        if BOUND.load(Ordering::SeqCst) {
            let _ = std::fs::remove_file(&self.socket);
        }
        log("Daemon shutdown complete");
        if let Some(mut child) = self.containerd.lock().unwrap_or_else(|e| e.into_inner()).take() {
            std::thread::sleep(Duration::from_millis(
                env_num("FAKE_DOCKERD_CONTAINERD_MS").unwrap_or(0),
            ));
            let _ = child.kill();
            let _ = child.wait();
            event(&format!("containerd-gone {}", now_ns()));
        }
        if let Some(ms) = env_num("FAKE_DOCKERD_LINGER_MS") {
            std::thread::sleep(Duration::from_millis(ms));
        }
        // dockerd removes its pid file last, after its containerd wait.
        let _ = std::fs::remove_file(&self.pidfile);
        event(&format!("exit {}", now_ns()));
        std::process::exit(env_num("FAKE_DOCKERD_TERM_EXIT").unwrap_or(0) as i32);
    }

    /// Handles pending signals; returns when none asks to stop.
    fn signals(&self) {
        for (sig, pending) in PENDING.iter().enumerate().skip(1) {
            if !pending.swap(false, Ordering::SeqCst) {
                continue;
            }
            let sig = sig as i32;
            if sig == SIGTERM || sig == SIGINT {
                event(&format!("term {}", now_ns()));
                if env_flag("FAKE_DOCKERD_IGNORE_TERM") {
                    log(&format!("ignoring signal {sig} (FAKE_DOCKERD_IGNORE_TERM)"));
                    continue;
                }
                self.shutdown();
            }
            event(&format!("signal {sig} {}", now_ns()));
            log(&format!("received signal {sig}"));
        }
    }

    /// Sleeps, still handling signals.
    fn sleep(&self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.signals();
            std::thread::sleep(
                Duration::from_millis(5).min(end.saturating_duration_since(Instant::now())),
            );
        }
    }
}

fn serve(mut s: UnixStream) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 65536 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&req);
    let line = text.lines().next().unwrap_or("");
    if let Some(ms) = env_num("FAKE_DOCKERD_PING_DELAY_MS") {
        std::thread::sleep(Duration::from_millis(ms));
    }
    if let Ok(hang) = std::env::var("FAKE_DOCKERD_HANG_PATH") {
        if line.split(' ').nth(1).is_some_and(|p| p.starts_with(&hang)) {
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
    }
    let (status, reason, body) = if (line.starts_with("GET ") || line.starts_with("HEAD "))
        && line.split(' ').nth(1).is_some_and(|p| p == "/_ping" || p.ends_with("/_ping"))
    {
        let st = env_num("FAKE_DOCKERD_PING_STATUS").unwrap_or(200);
        (st, if st == 200 { "OK" } else { "Error" }, if st == 200 { "OK" } else { "fake error" })
    } else if let Some(id) =
        line.strip_prefix("POST /containers/").and_then(|r| r.split('/').next())
    {
        // dind-init must never stop containers through the API (they would count as
        // stopped by hand): recorded so tests can tell.
        event(&format!("api-stop {id} {}", now_ns()));
        (204, "No Content", "")
    } else {
        (404, "Not Found", "{\"message\":\"page not found\"}")
    };
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\nApi-Version: 1.43\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(resp.as_bytes());
    let _ = s.flush();
    // Recorded once the answer is out: a client that acted before it cannot be earlier
    // than this event (see command_starts_only_after_dockerd_answers_ping).
    event(&format!("ping {status} {}", now_ns()));
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    pid > 0 && unsafe { kill(pid, 0) } == 0
}

/// Where the containers' pids are kept: FAKE_DOCKERD_EVENTS's directory, else /tmp.
fn containers_dir() -> PathBuf {
    let base = std::env::var("FAKE_DOCKERD_EVENTS")
        .ok()
        .and_then(|e| PathBuf::from(e).parent().map(|p| p.to_path_buf()))
        .unwrap_or_else(std::env::temp_dir);
    base.join(format!(
        "fake-containers-{}",
        std::env::var("FAKE_DOCKERD_OWNER").unwrap_or_default()
    ))
}

/// Starts N containers, each behind a daemonized "shim" named like containerd's (the
/// kernel's comm is the executable's name: a symlink to this binary gives it).
fn start_containers(n: u64) {
    let dir = containers_dir();
    let _ = std::fs::create_dir_all(&dir);
    let shim = dir.join("containerd-shim-runc-v2");
    let _ = std::fs::remove_file(&shim);
    let me = std::env::current_exe().expect("current_exe");
    if std::os::unix::fs::symlink(&me, &shim).is_err() {
        log_at("error", "cannot make the shim link");
        return;
    }
    for _ in 0..n {
        if let Ok(mut c) = std::process::Command::new(&shim)
            .env("FAKE_DOCKERD_ROLE", "shim")
            .env("FAKE_DOCKERD_OWNER", std::env::var("FAKE_DOCKERD_OWNER").unwrap_or_default())
            .spawn()
        {
            let _ = c.wait(); // the shim's first process exits at once, as containerd's does
        }
    }
    // Wait until every container has written its pid.
    let until = Instant::now() + Duration::from_secs(5);
    while container_pids().len() < n as usize && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn container_pids() -> Vec<i32> {
    let Ok(d) = std::fs::read_dir(containers_dir()) else { return Vec::new() };
    d.flatten().filter_map(|e| e.file_name().to_str()?.strip_prefix("pid-")?.parse().ok()).collect()
}

/// What dockerd's shutdown does with running containers: SIGTERM, wait up to their stop
/// timeout (10 s by default), then SIGKILL.
fn stop_containers() {
    let pids: Vec<i32> = container_pids().into_iter().filter(|p| pid_alive(*p)).collect();
    if pids.is_empty() {
        return;
    }
    for p in &pids {
        // SAFETY: kill(2) takes plain integers; it touches no memory of ours.
        unsafe { kill(*p, SIGTERM) };
    }
    let until = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|p| pid_alive(*p)) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    if pids.iter().any(|p| pid_alive(*p)) {
        event(&format!("containers-killed-by-dockerd {}", now_ns()));
        for p in &pids {
            // SAFETY: kill(2) takes plain integers; it touches no memory of ours.
            unsafe { kill(*p, SIGKILL) };
        }
    }
    event(&format!("containers-gone {}", now_ns()));
}

/// The shim: daemonizes (so it ends up under dind-init, as real shims do), runs one
/// container, reaps it.
fn shim() -> ! {
    // SAFETY: the fake is single-threaded here: the child may do anything after fork(2).
    if unsafe { fork() } != 0 {
        std::process::exit(0);
    }
    // SAFETY: setsid(2) has no memory-safety preconditions.
    unsafe { setsid() };
    let me = std::env::current_exe().expect("current_exe");
    match std::process::Command::new(me).env("FAKE_DOCKERD_ROLE", "container").spawn() {
        Ok(mut c) => {
            let _ = c.wait();
        }
        Err(_) => std::process::exit(1),
    }
    std::process::exit(0);
}

/// A container: records its start, ends on SIGTERM unless told to ignore it.
fn container() -> ! {
    // SAFETY: getpid(2) has no preconditions and cannot fail.
    let pid = unsafe { getpid() };
    if env_flag("FAKE_DOCKERD_CONTAINERS_IGNORE_TERM") {
        // SAFETY: SIG_IGN needs no handler.
        unsafe { signal(SIGTERM, SIG_IGN) };
    } else {
        // SAFETY: on_signal only stores to an atomic, which is async-signal-safe.
        unsafe { signal(SIGTERM, on_signal as extern "C" fn(i32) as usize) };
    }
    event(&format!("container-start {pid} {}", now_ns()));
    let _ = std::fs::write(containers_dir().join(format!("pid-{pid}")), "");
    loop {
        if PENDING[SIGTERM as usize].swap(false, Ordering::SeqCst) {
            event(&format!("container-term {pid} {}", now_ns()));
            std::process::exit(0);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The `address` under `[grpc]` in a containerd config.
fn grpc_address(toml: &str) -> Option<PathBuf> {
    let grpc = &toml[toml.find("[grpc]")?..];
    let line = grpc.lines().find(|l| l.trim_start().starts_with("address"))?;
    Some(PathBuf::from(line.split('"').nth(1)?))
}

fn containerd_main(args: &[String]) -> ! {
    if args.first().is_some_and(|a| a == "--version") {
        let v = std::env::var("FAKE_CONTAINERD_VERSION").unwrap_or_else(|_| "2.1.4".into());
        println!("containerd github.com/containerd/containerd/v2 v{v} fake");
        std::process::exit(0);
    }
    // SAFETY: getpid(2) has no preconditions and cannot fail.
    let pid = unsafe { getpid() };
    event(&format!("containerd-start {pid} {}", now_ns()));
    let config = flag_values(args, "--config", Some("-c")).pop().unwrap_or_default();
    let text = std::fs::read_to_string(&config).unwrap_or_default();
    let Some(sock) = grpc_address(&text) else {
        eprintln!("fake-containerd: no [grpc] address in {config:?}");
        std::process::exit(1);
    };
    for sig in [SIGTERM, SIGINT] {
        // SAFETY: on_signal only stores to an atomic, which is async-signal-safe.
        unsafe { signal(sig, on_signal as extern "C" fn(i32) as usize) };
    }
    if let Some(ms) = env_num("FAKE_CONTAINERD_DELAY_MS") {
        // A SIGTERM while starting ends it before it touches its socket.
        let until = Instant::now() + Duration::from_millis(ms);
        while Instant::now() < until {
            if PENDING[SIGTERM as usize].load(Ordering::SeqCst) {
                event(&format!("containerd-exit {}", now_ns()));
                std::process::exit(0);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    if let Some(d) = sock.parent() {
        let _ = std::fs::create_dir_all(d);
    }
    let _ = std::fs::remove_file(&sock);
    let l = UnixListener::bind(&sock).unwrap_or_else(|e| {
        eprintln!("fake-containerd: listen {}: {e}", sock.display());
        std::process::exit(1)
    });
    let _ = l.set_nonblocking(true);
    eprintln!("fake-containerd[{pid}] level=info msg=\"containerd successfully booted\"");
    event(&format!("containerd-listening {}", now_ns()));
    loop {
        if PENDING[SIGTERM as usize].swap(false, Ordering::SeqCst)
            || PENDING[SIGINT as usize].swap(false, Ordering::SeqCst)
        {
            event(&format!("containerd-term {}", now_ns()));
            let _ = std::fs::remove_file(&sock);
            event(&format!("containerd-exit {}", now_ns()));
            std::process::exit(0);
        }
        if l.accept().is_ok() {
            event(&format!("containerd-accepted {}", now_ns()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn main() {
    let argv0 = std::env::args().next().unwrap_or_default();
    if argv0.rsplit('/').next() == Some("containerd") {
        let args: Vec<String> = std::env::args().skip(1).collect();
        containerd_main(&args);
    }
    match std::env::var("FAKE_DOCKERD_ROLE").as_deref() {
        Ok("shim") => shim(),
        Ok("container") => container(),
        _ => {}
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    // SAFETY: getpid(2) has no preconditions and cannot fail.
    let pid = unsafe { getpid() };
    // Containers of this fake only: keyed by the fake's own pid.
    std::env::set_var("FAKE_DOCKERD_OWNER", pid.to_string());
    for sig in [SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM, SIGWINCH] {
        // SAFETY: on_signal only stores to an atomic, which is async-signal-safe.
        unsafe { signal(sig, on_signal as extern "C" fn(i32) as usize) };
    }
    event(&format!("start {pid} {}", now_ns()));
    if let Ok(f) = std::env::var("FAKE_DOCKERD_ARGS_FILE") {
        let mut text = args.join("\n");
        text.push('\n');
        let _ = std::fs::write(f, text);
    }
    if let Ok(f) = std::env::var("FAKE_DOCKERD_FDS_FILE") {
        let _ = std::fs::write(f, open_fds().join("\n") + "\n");
    }
    log(&format!("Starting up (fake dockerd), args: {args:?}"));
    if env_flag("FAKE_DOCKERD_NOISE") {
        log_at(
            "debug",
            "form data: {\"Cmd\":[\"echo\",\"Daemon shutdown complete\"],\"Image\":\"busybox\"}",
        );
    }

    if let Some(code) = env_num("FAKE_DOCKERD_EXIT") {
        log("libcontainerd: started new containerd process");
        log_at("warning", "simulated trouble ahead");
        log(&format!("failed to start daemon: simulated failure (FAKE_DOCKERD_EXIT={code})"));
        event(&format!("exit-early {code} {}", now_ns()));
        std::process::exit(code as i32);
    }

    let hosts = flag_values(&args, "--host", Some("-H"));
    let socket = hosts
        .iter()
        .find_map(|h| h.strip_prefix("unix://"))
        .map(
            |p| if p.is_empty() { PathBuf::from("/var/run/docker.sock") } else { PathBuf::from(p) },
        )
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"));
    let pidfile = flag_values(&args, "--pidfile", Some("-p"))
        .pop()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.pid"));
    let containerd = env_num("FAKE_DOCKERD_CONTAINERD_MS")
        .and_then(|_| std::process::Command::new("sleep").arg("3600").spawn().ok());
    let st = State {
        socket: socket.clone(),
        pidfile: pidfile.clone(),
        containerd: std::sync::Mutex::new(containerd),
    };

    // The pid file, checked the way dockerd does.
    if let Ok(text) = std::fs::read_to_string(&pidfile) {
        let old: i32 = text.trim().parse().unwrap_or(0);
        event(&format!("stale-pidfile {} {old}", pidfile.display()));
        if old != pid && pid_alive(old) {
            log(&format!(
                "failed to start daemon: pid file found, ensure docker is not running or delete {}",
                pidfile.display()
            ));
            event(&format!("exit-early 1 {}", now_ns()));
            std::process::exit(1);
        }
    }
    if let Some(dir) = pidfile.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(&pidfile, format!("{pid}")) {
        log(&format!("failed to start daemon: cannot write pid file {}: {e}", pidfile.display()));
        std::process::exit(1);
    }

    if std::env::var("FAKE_DOCKERD_STALL_IF").is_ok_and(|f| std::path::Path::new(&f).exists()) {
        log("simulating a start-up that never ends (FAKE_DOCKERD_STALL_IF)");
        event(&format!("stall {}", now_ns()));
        loop {
            st.sleep(Duration::from_secs(1));
        }
    }
    if let Some(c) = flag_values(&args, "--containerd", None).pop() {
        // As dockerd does with --containerd: wait for that containerd before going on.
        let until = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(&c).is_err() {
            if Instant::now() > until {
                log(&format!("failed to start daemon: containerd at {c} did not answer"));
                std::process::exit(1);
            }
            st.sleep(Duration::from_millis(10));
        }
        event(&format!("containerd-connected {}", now_ns()));
    }
    if let Some(ms) = env_num("FAKE_DOCKERD_DELAY_MS") {
        log(&format!("simulating a slow start-up: {ms} ms"));
        st.sleep(Duration::from_millis(ms));
    }

    if socket.symlink_metadata().is_ok() {
        event(&format!("stale-socket {}", socket.display()));
        let _ = std::fs::remove_file(&socket);
    }
    // As dockerd: the socket's directory must exist (no create_dir_all here).
    let listener = match UnixListener::bind(&socket) {
        Ok(l) => {
            BOUND.store(true, Ordering::SeqCst);
            l
        }
        Err(e) => {
            log(&format!("failed to start daemon: listen unix {}: {e}", socket.display()));
            std::process::exit(1);
        }
    };
    let _ = listener.set_nonblocking(true);
    if let Some(n) = env_num("FAKE_DOCKERD_CONTAINERS") {
        start_containers(n);
    }
    log(&format!("API listen on {}", socket.display()));
    event(&format!("listening {}", now_ns()));

    let no_answer = env_flag("FAKE_DOCKERD_NO_ANSWER");
    let exit_at =
        env_num("FAKE_DOCKERD_EXIT_AFTER_MS").map(|ms| Instant::now() + Duration::from_millis(ms));
    let mut held: Vec<UnixStream> = Vec::new();
    loop {
        st.signals();
        if exit_at.is_some_and(|t| Instant::now() >= t) {
            log("exiting by itself (FAKE_DOCKERD_EXIT_AFTER_MS)");
            let _ = std::fs::remove_file(&socket);
            let _ = std::fs::remove_file(&pidfile);
            event(&format!("exit-by-itself {}", now_ns()));
            std::process::exit(env_num("FAKE_DOCKERD_TERM_EXIT").unwrap_or(0) as i32);
        }
        match listener.accept() {
            Ok((s, _)) => {
                if no_answer {
                    held.push(s);
                } else {
                    std::thread::spawn(move || serve(s));
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(3)),
        }
    }
}
