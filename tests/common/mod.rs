//! Harness for the namespace tests: runs the real dind-init binary as PID 1 of a fresh PID
//! and mount namespace (`unshare --pid --fork --mount --mount-proc`), with a tmpfs over /run
//! so that nothing it does can reach the host's /var/run/docker.{sock,pid}, and with the fake
//! dockerd from tests/support/fake_dockerd.rs. Every run is bounded: when it overruns, the
//! namespace's init (whose host pid we know) is SIGKILLed, which kills the whole namespace.
#![allow(dead_code)]

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const DIND: &str = env!("CARGO_BIN_EXE_dind-init");
/// A new PID and mount namespace with its own /proc (unshare's arguments before the program).
const UNSHARE: [&str; 5] = ["--pid", "--fork", "--mount", "--mount-proc", "--"];
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The one CI rule and the SKIP line, shared with the unit tests in src.
#[path = "../../src/ci.rs"]
mod ci_rule;
#[allow(unused_imports)]
pub use ci_rule::{in_ci, skip};

/// Why namespace tests cannot run here, if they cannot.
fn unavailable() -> Option<String> {
    static WHY: OnceLock<Option<String>> = OnceLock::new();
    WHY.get_or_init(|| {
        // SAFETY: geteuid(2) has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Some("not running as root".into());
        }
        let out = Command::new("unshare")
            .args(UNSHARE)
            .args(["/bin/sh", "-c", "mount -t tmpfs tmpfs /run && echo ok"])
            .env("PATH", PATH)
            .stdin(Stdio::null())
            .output();
        match out {
            Err(e) => Some(format!("cannot run unshare: {e}")),
            Ok(o) if !o.status.success() || !String::from_utf8_lossy(&o.stdout).contains("ok") => {
                Some(format!(
                    "unshare --pid --fork --mount --mount-proc failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ))
            }
            Ok(_) => None,
        }
    })
    .clone()
}

/// The fake dockerd: cargo builds it with the tests (`cargo test` builds examples); when
/// it is missing or older than its source (e.g. `cargo test --test namespace`), build it
/// with a bare rustc (it uses std only).
pub fn fake_dockerd() -> PathBuf {
    static FAKE: OnceLock<PathBuf> = OnceLock::new();
    FAKE.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/fake_dockerd.rs");
        let built = Path::new(DIND).parent().unwrap().join("examples/fake_dockerd");
        let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        if let (Some(b), Some(s)) = (mtime(&built), mtime(&src)) {
            if b >= s {
                return built;
            }
        }
        let out_dir = Path::new(DIND).parent().unwrap().join("namespace-tests");
        std::fs::create_dir_all(&out_dir).unwrap();
        let stamp = mtime(&src)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let out = out_dir.join(format!("fake_dockerd-{stamp}"));
        if out.exists() {
            return out;
        }
        // Build under a private name, then rename: concurrent test binaries may race here.
        let tmp = out_dir.join(format!("fake_dockerd-{stamp}.{}.tmp", std::process::id()));
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        eprintln!(
            "namespace tests: {} is missing or stale: building {} with {rustc}",
            built.display(),
            src.display()
        );
        let st = Command::new(&rustc)
            .args(["--edition", "2021", "-O", "-o"])
            .arg(&tmp)
            .arg(&src)
            .status()
            .unwrap_or_else(|e| {
                panic!("{} is missing and {rustc} cannot be run to build it: {e}", built.display())
            });
        assert!(st.success(), "building {} with {rustc} failed", src.display());
        std::fs::rename(&tmp, &out).unwrap();
        out
    })
    .clone()
}

/// One test's private world: a temp dir with the socket, pid file, event and args files.
pub struct Ctx {
    pub name: String,
    pub dir: PathBuf,
}

/// Starts a namespace test, or says why not: a `dind-init-test: SKIP` line on stdout, and
/// under CI a failure (nothing may be skipped there).
pub fn ctx(name: &str) -> Option<Ctx> {
    if let Some(why) = unavailable() {
        skip(name, &format!("{why} (the namespace tests need root and unshare)"));
        return None;
    }
    static N: AtomicU32 = AtomicU32::new(0);
    // Short: a unix socket path must fit in 108 bytes.
    let dir = std::env::temp_dir().join(format!(
        "dii-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        name
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Some(Ctx { name: name.to_string(), dir })
}

impl Drop for Ctx {
    fn drop(&mut self) {
        if std::env::var_os("DIND_TEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Ctx {
    pub fn path(&self, f: &str) -> PathBuf {
        self.dir.join(f)
    }
    pub fn p(&self, f: &str) -> String {
        self.path(f).display().to_string()
    }
    pub fn sock(&self) -> String {
        self.p("docker.sock")
    }
    pub fn pidfile(&self) -> String {
        self.p("docker.pid")
    }
    pub fn events_path(&self) -> String {
        self.p("events")
    }
    /// The fake's event lines (the command may add its own).
    pub fn events(&self) -> Vec<String> {
        read(&self.path("events")).lines().map(str::to_string).collect()
    }
    /// Event names (first word) in order.
    pub fn event_names(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
            .collect()
    }
    pub fn fake_args(&self) -> Vec<String> {
        read(&self.path("args")).lines().map(str::to_string).collect()
    }
    /// The default DOCKER_DAEMON_ARGS: socket, pid file, exec root and data root in the temp
    /// dir.
    pub fn daemon_args(&self) -> String {
        format!(
            "-H unix://{} --pidfile {} --exec-root {} --data-root {}",
            self.sock(),
            self.pidfile(),
            self.p("exec"),
            self.data_root()
        )
    }
    /// The test's data root: dind-init locks it (DATA_ROOT/dind-init.lock), so it is never
    /// the host's /var/lib/docker nor another test's.
    pub fn data_root(&self) -> String {
        self.p("data")
    }

    /// A run with the safe defaults: fake dockerd, no cgroup/iptables/mtu work, sockets in
    /// the temp dir, events and args recorded.
    pub fn run(&self) -> Spec {
        Spec {
            name: self.name.clone(),
            opts: vec![
                "--dockerd".into(),
                fake_dockerd().into(),
                "--no-cgroup-setup".into(),
                "--iptables".into(),
                "off".into(),
                "--mtu".into(),
                "off".into(),
                "--cgroup-parent".into(),
                "off".into(),
                // Never the host's real containerd (its state is not in the namespace):
                // tests of dind-init's own containerd put a fake one first in PATH.
                "--containerd-by".into(),
                "dockerd".into(),
            ],
            env: vec![
                ("DOCKER_DAEMON_ARGS".into(), self.daemon_args()),
                ("FAKE_DOCKERD_EVENTS".into(), self.events_path()),
                ("FAKE_DOCKERD_ARGS_FILE".into(), self.p("args")),
            ],
            cmd: Vec::new(),
            pre: String::new(),
            timeout: Duration::from_secs(20),
            data_root: self.data_root(),
        }
    }
}

pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

pub struct Spec {
    name: String,
    /// dind-init's options (before the command).
    pub opts: Vec<OsString>,
    pub env: Vec<(String, String)>,
    pub cmd: Vec<OsString>,
    /// Shell code run in the namespace (after /run is a tmpfs) before exec'ing dind-init.
    pub pre: String,
    pub timeout: Duration,
    /// Added to DOCKER_DAEMON_ARGS when it names no `--data-root` (see `Ctx::data_root`).
    data_root: String,
}

impl Spec {
    pub fn opt(mut self, o: &str) -> Spec {
        self.opts.push(o.into());
        self
    }
    pub fn opts(mut self, o: &[&str]) -> Spec {
        self.opts.extend(o.iter().map(OsString::from));
        self
    }
    /// Removes one default option and its value.
    pub fn without_opt(mut self, o: &str) -> Spec {
        if let Some(i) = self.opts.iter().position(|x| x == o) {
            let has_value = !matches!(o, "--no-cgroup-setup");
            self.opts.drain(i..i + if has_value { 2 } else { 1 });
        }
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Spec {
        self.env.retain(|(x, _)| x != k);
        self.env.push((k.into(), v.into()));
        self
    }
    pub fn env_remove(mut self, k: &str) -> Spec {
        self.env.retain(|(x, _)| x != k);
        self
    }
    pub fn cmd(mut self, c: &[&str]) -> Spec {
        self.cmd = c.iter().map(OsString::from).collect();
        self
    }
    /// The command `/bin/sh -c SCRIPT`.
    pub fn sh(self, script: &str) -> Spec {
        self.cmd(&["/bin/sh", "-c", script])
    }
    pub fn bash(self, script: &str) -> Spec {
        self.cmd(&["/bin/bash", "-c", script])
    }
    pub fn pre(mut self, code: &str) -> Spec {
        self.pre = code.to_string();
        self
    }
    pub fn timeout(mut self, secs: u64) -> Spec {
        self.timeout = Duration::from_secs(secs);
        self
    }

    pub fn spawn(self) -> Running {
        let wrapper = format!("set -e; mount -t tmpfs tmpfs /run; [ -L /var/run ] || mount -t tmpfs tmpfs /var/run; {}\nexec \"$@\"", self.pre);
        let mut c = Command::new("unshare");
        c.args(UNSHARE).args(["/bin/sh", "-c", &wrapper, "sh", DIND]);
        // dind-init's own options end with `--` (without it, arguments starting with '-'
        // would be dockerd's flags, as with docker:dind).
        c.args(&self.opts);
        if !self.opts.is_empty() {
            c.arg("--");
        }
        c.args(&self.cmd);
        c.env_clear().env("PATH", PATH).env("LANG", "C");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        // A private data root unless the test names one: dind-init locks it.
        match self.env.iter().find(|(k, _)| k == "DOCKER_DAEMON_ARGS") {
            Some((_, v)) if !v.contains("--data-root") => {
                c.env("DOCKER_DAEMON_ARGS", format!("{v} --data-root {}", self.data_root));
            }
            None => {
                c.env("DOCKER_DAEMON_ARGS", format!("--data-root {}", self.data_root));
            }
            Some(_) => {}
        }
        c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = c.spawn().expect("spawn unshare");
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        let pump = |mut r: Box<dyn Read + Send>, buf: Arc<Mutex<Vec<u8>>>| {
            std::thread::spawn(move || {
                let mut b = [0u8; 4096];
                loop {
                    match r.read(&mut b) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.lock().unwrap().extend_from_slice(&b[..n]),
                    }
                }
            })
        };
        let t1 = pump(Box::new(child.stdout.take().unwrap()), Arc::clone(&out));
        let t2 = pump(Box::new(child.stderr.take().unwrap()), Arc::clone(&err));
        Running {
            name: self.name,
            child,
            out,
            err,
            threads: vec![t1, t2],
            started,
            deadline: started + self.timeout,
            init_pid: None,
        }
    }

    pub fn go(self) -> Outcome {
        self.spawn().wait()
    }
}

pub struct Running {
    name: String,
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    pub started: Instant,
    deadline: Instant,
    init_pid: Option<i32>,
}

fn comm(pid: i32) -> String {
    read(Path::new(&format!("/proc/{pid}/comm"))).trim().to_string()
}

impl Running {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    /// dind-init's pid as the host sees it: the child unshare forked (the wrapper shell
    /// exec'd into dind-init). Waits until the exec happened.
    pub fn init_pid(&mut self) -> i32 {
        if let Some(p) = self.init_pid {
            return p;
        }
        let up = self.child.id();
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let kids = read(Path::new(&format!("/proc/{up}/task/{up}/children")));
            if let Some(p) = kids.split_whitespace().next().and_then(|p| p.parse::<i32>().ok()) {
                if comm(p) == "dind-init" {
                    self.init_pid = Some(p);
                    return p;
                }
            }
            if Instant::now() > until {
                self.abort(&format!(
                    "dind-init never appeared as unshare's child (children: {kids:?})"
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The host pid of a process named `comm` in the namespace (a descendant of the process
    /// unshare forked), for a dind-init that is not PID 1; waits up to 5 s for it.
    pub fn pid_named(&mut self, comm_name: &str) -> i32 {
        let top = self.child.id() as i32;
        let ppid = |p: i32| -> Option<i32> {
            let st = read(Path::new(&format!("/proc/{p}/stat")));
            st.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
        };
        let under_top = |mut p: i32| {
            for _ in 0..64 {
                match ppid(p) {
                    Some(q) if q == top => return true,
                    Some(q) if q > 1 => p = q,
                    _ => return false,
                }
            }
            false
        };
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let found = std::fs::read_dir("/proc").ok().and_then(|d| {
                d.flatten()
                    .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                    .find(|&p| comm(p) == comm_name && under_top(p))
            });
            if let Some(p) = found {
                return p;
            }
            if Instant::now() > until || self.exited() {
                self.abort(&format!("no process named {comm_name} in the namespace"));
            }
            std::thread::sleep(Duration::from_millis(3));
        }
    }

    /// Sends a signal from outside the namespace to its PID 1.
    pub fn signal(&mut self, sig: i32) {
        let p = self.init_pid();
        // SAFETY: kill(2) takes plain integers; it touches no memory of ours.
        assert_eq!(unsafe { libc::kill(p, sig) }, 0, "{}: kill({p}, {sig}) failed", self.name);
    }

    /// Waits until stderr contains `needle`; aborts the run (panics) after `secs`.
    pub fn wait_stderr(&mut self, needle: &str, secs: f64) {
        let until = Instant::now() + Duration::from_secs_f64(secs);
        while !self.stderr().contains(needle) {
            if Instant::now() > until || self.exited() {
                if self.stderr().contains(needle) {
                    return;
                }
                self.abort(&format!("stderr never contained {needle:?} within {secs}s"));
            }
            std::thread::sleep(Duration::from_millis(3));
        }
    }

    /// Waits until a file exists; aborts the run (panics) after `secs`.
    pub fn wait_file(&mut self, p: &Path, secs: f64) {
        let until = Instant::now() + Duration::from_secs_f64(secs);
        while !p.exists() {
            if Instant::now() > until || self.exited() {
                if p.exists() {
                    return;
                }
                self.abort(&format!("{} never appeared within {secs}s", p.display()));
            }
            std::thread::sleep(Duration::from_millis(3));
        }
    }

    /// Waits until `f` holds; aborts the run (panics, with the output so far) after `secs`.
    pub fn wait_for(&mut self, what: &str, secs: f64, mut f: impl FnMut() -> bool) {
        let until = Instant::now() + Duration::from_secs_f64(secs);
        while !f() {
            if Instant::now() > until {
                self.abort(&format!("timed out after {secs}s waiting for {what}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    fn kill_all(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            if let Some(p) = self.init_pid.or_else(|| {
                let up = self.child.id();
                read(Path::new(&format!("/proc/{up}/task/{up}/children")))
                    .split_whitespace()
                    .next()
                    .and_then(|p| p.parse().ok())
            }) {
                // Killing a PID namespace's init kills everything in the namespace.
                if comm(p) == "dind-init" || comm(p) == "sh" {
                    // SAFETY: kill(2) takes plain integers; it touches no memory of ours.
                    unsafe { libc::kill(p, libc::SIGKILL) };
                }
            }
            std::thread::sleep(Duration::from_millis(50));
            if let Ok(None) = self.child.try_wait() {
                let _ = self.child.kill();
            }
            let _ = self.child.wait();
        }
    }

    /// Kills the namespace and panics with everything known.
    pub fn abort(&mut self, why: &str) -> ! {
        self.kill_all();
        std::thread::sleep(Duration::from_millis(20));
        panic!(
            "{}: {why} (after {:.3}s)\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.name,
            self.started.elapsed().as_secs_f64(),
            self.stdout(),
            self.stderr()
        );
    }

    /// Sends `sig` to PID 1 and waits for the end: the exit code must be `code`, reached
    /// within `secs` of the signal.
    #[track_caller]
    pub fn stop_with(mut self, sig: i32, code: i32, secs: f64) -> Outcome {
        let t = Instant::now();
        self.signal(sig);
        let o = self.wait();
        o.code(code);
        assert!(t.elapsed().as_secs_f64() < secs, "took {:?}\n{}", t.elapsed(), o.dump());
        o
    }

    /// Waits for the end (bounded by the spec's timeout).
    pub fn wait(mut self) -> Outcome {
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) => {}
                Err(e) => panic!("{}: wait: {e}", self.name),
            }
            if Instant::now() > self.deadline {
                let secs = (self.deadline - self.started).as_secs_f64();
                self.abort(&format!("did not finish within {secs}s: killed the namespace"));
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let elapsed = self.started.elapsed();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // dind-init must never panic, whatever the test feeds it.
        assert!(
            !self.stderr().contains("panicked at"),
            "{}: dind-init panicked\n{}",
            self.name,
            self.stderr()
        );
        Outcome {
            name: self.name.clone(),
            code: status.code(),
            signal: status.signal(),
            stdout: self.stdout(),
            stderr: self.stderr(),
            elapsed,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill_all();
    }
}

#[derive(Debug)]
pub struct Outcome {
    pub name: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn dump(&self) -> String {
        format!(
            "{}: exit code {:?} (signal {:?}) after {:.3}s\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.name,
            self.code,
            self.signal,
            self.elapsed.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }
    #[track_caller]
    pub fn code(&self, want: i32) -> &Self {
        assert_eq!(self.code, Some(want), "expected exit code {want}\n{}", self.dump());
        self
    }
    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(self.stderr.contains(needle), "stderr lacks {needle:?}\n{}", self.dump());
        self
    }
    #[track_caller]
    pub fn stderr_lacks(&self, needle: &str) -> &Self {
        assert!(!self.stderr.contains(needle), "stderr has {needle:?}\n{}", self.dump());
        self
    }
    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(self.stdout.contains(needle), "stdout lacks {needle:?}\n{}", self.dump());
        self
    }
    #[track_caller]
    pub fn within(&self, min: f64, max: f64) -> &Self {
        let s = self.elapsed.as_secs_f64();
        assert!(s >= min && s <= max, "took {s:.3}s, expected {min}..{max}s\n{}", self.dump());
        self
    }
    /// dind-init's own log lines (`dind-init: +S.mmms LEVEL message`), as (secs, level,
    /// message); an event's `{fields}` are not part of its message.
    pub fn log(&self) -> Vec<(f64, String, String)> {
        self.stderr.lines().filter_map(parse_line).map(|(t, l, m, _)| (t, l, m)).collect()
    }
    /// The message of the first log line containing `needle`.
    pub fn log_line(&self, needle: &str) -> Option<(f64, String, String)> {
        self.log().into_iter().find(|(_, _, m)| m.contains(needle))
    }
    /// Index of the first log line containing `needle`; panics when absent.
    #[track_caller]
    pub fn log_index(&self, needle: &str) -> usize {
        self.log()
            .iter()
            .position(|(_, _, m)| m.contains(needle))
            .unwrap_or_else(|| panic!("no log line with {needle:?}\n{}", self.dump()))
    }
}

/// Parses `dind-init: +0.002s INFO  message`: seconds with exactly three decimals, a level
/// padded to five characters, then the message.
pub fn parse_log_line(l: &str) -> Option<(f64, String, String)> {
    let rest = l.strip_prefix("dind-init: +")?;
    let (secs, rest) = rest.split_once("s ")?;
    let (int, frac) = secs.split_once('.')?;
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || frac.len() != 3
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // The level column is five wide (`INFO `, `WARN `, `ERROR`), then one space.
    if rest.len() < 6 || !rest.is_char_boundary(5) || rest.as_bytes()[5] != b' ' {
        return None;
    }
    let (level, msg) = (&rest[..5], &rest[6..]);
    let lv = level.trim_end();
    if !["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&lv) || format!("{lv:<5}") != level {
        return None;
    }
    Some((secs.parse().ok()?, lv.to_string(), msg.to_string()))
}

/// A unix socket left behind by a dead listener.
pub fn stale_socket(p: &Path) {
    let l = std::os::unix::net::UnixListener::bind(p).expect("bind stale socket");
    drop(l);
    assert!(p.exists());
}

// ---------------------------------------------------------------------------------------
// Events: dind-init's log read as the stable interface (src/events.vocab), never its prose.

/// The fields of event `name`, in order; None for an unknown event.
pub fn vocab_fields(name: &str) -> Option<Vec<&'static str>> {
    dind_init::events::fields_of(name)
}

/// One event of dind-init's log: when (seconds since it started), its level, name, fields
/// (in the vocabulary's order; strings as written, numbers and booleans as text) and the
/// readable message.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub t: f64,
    pub level: String,
    pub name: String,
    pub fields: Vec<(String, String)>,
    pub msg: String,
}

impl Event {
    /// Field `k` as written; panics when the event has no such field (a test asking for a
    /// field the vocabulary does not give this event is wrong).
    #[track_caller]
    pub fn get(&self, k: &str) -> &str {
        self.fields
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("event {} has no field {k}: {self:?}", self.name))
    }
    /// A number field (secs, ms, ...).
    #[track_caller]
    pub fn num(&self, k: &str) -> f64 {
        self.get(k).parse().unwrap_or_else(|_| panic!("{k} is not a number: {self:?}"))
    }
    /// A whole-number field (pid, status, count, ...).
    #[track_caller]
    pub fn int(&self, k: &str) -> i64 {
        self.get(k).parse().unwrap_or_else(|_| panic!("{k} is not an integer: {self:?}"))
    }
    /// A boolean field (clean, killed, ...).
    #[track_caller]
    pub fn flag(&self, k: &str) -> bool {
        match self.get(k) {
            "true" => true,
            "false" => false,
            v => panic!("{k}={v} is not true/false: {self:?}"),
        }
    }
    /// The `secs` field.
    #[track_caller]
    pub fn secs(&self) -> f64 {
        self.num("secs")
    }
}

/// Checks a parsed event against the vocabulary: known name, exactly its fields in order,
/// each of its type. Panics with the line otherwise (a changed event is a test failure).
fn validate(e: &Event, line: &str) {
    let want = vocab_fields(&e.name)
        .unwrap_or_else(|| panic!("unknown event {:?} (not in src/events.vocab): {line}", e.name));
    let have: Vec<&str> = e.fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        have, want,
        "event {}: fields differ from src/events.vocab ({want:?}): {line}",
        e.name
    );
    for (k, v) in &e.fields {
        use dind_init::events::Type;
        let ok = match dind_init::events::type_of(k) {
            Type::Num => v.parse::<f64>().is_ok(),
            Type::Int => v.parse::<i64>().is_ok(),
            Type::Bool => v == "true" || v == "false",
            Type::Str => true,
        };
        assert!(ok, "event {}: {k}={v:?} is not of its type: {line}", e.name);
    }
}

/// A JSON string at the start of `s` (which starts with '"'): its value and the rest.
fn json_string_prefix(s: &str) -> Option<(String, &str)> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some((serde_json::from_str(&s[..=i]).ok()?, &s[i + 1..])),
            _ => {}
        }
    }
    None
}

/// `{name k=v ...}` exactly (the whole of `s`): the name and the fields, or None.
fn parse_braces(s: &str) -> Option<(String, Vec<(String, String)>)> {
    let inner = s.strip_prefix('{')?;
    let word = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    let end = inner.find(|c: char| !word(c))?;
    let (name, mut rest) = inner.split_at(end);
    if name.is_empty() {
        return None;
    }
    let mut fields = Vec::new();
    loop {
        if rest == "}" {
            // Every event has fields: `{word}` alone is prose.
            return (!fields.is_empty()).then(|| (name.to_string(), fields));
        }
        rest = rest.strip_prefix(' ')?;
        let eq = rest.find('=')?;
        let key = &rest[..eq];
        if key.is_empty()
            || !key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return None;
        }
        rest = &rest[eq + 1..];
        let value = if rest.starts_with('"') {
            let (v, after) = json_string_prefix(rest)?;
            rest = after;
            v
        } else {
            let n = rest.find([' ', '}'])?;
            let v = &rest[..n];
            if v.is_empty() || v.contains(['"', '{', '\\', '=']) {
                return None;
            }
            rest = &rest[n..];
            v.to_string()
        };
        fields.push((key.to_string(), value));
    }
}

/// One line of dind-init's log, text or JSON: (t, level, message, event). None for a line
/// that is not dind-init's (dockerd's, the command's); an event is validated (panics).
pub fn parse_line(l: &str) -> Option<(f64, String, String, Option<Event>)> {
    if l.starts_with("{\"t\":") {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        let o = v.as_object()?;
        let t = o.get("t")?.as_f64()?;
        let level = o.get("level")?.as_str()?.to_string();
        let msg = o.get("msg")?.as_str()?.to_string();
        let Some(name) = o.get("event") else { return Some((t, level, msg, None)) };
        let name = name.as_str().unwrap_or_else(|| panic!("event is not a string: {l}"));
        // A JSON object's keys have no order to check (serde_json sorts them): the set must
        // be the vocabulary's; the fields are then put in its order.
        let order = vocab_fields(name).unwrap_or_default();
        let mut keys: Vec<&String> =
            o.keys().filter(|k| !["t", "level", "event", "msg"].contains(&k.as_str())).collect();
        let pos = |k: &str| order.iter().position(|x| *x == k).unwrap_or(usize::MAX);
        keys.sort_by_key(|k| (pos(k), k.to_string()));
        let fields = keys
            .into_iter()
            .map(|k| (k, &o[k]))
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(_) | serde_json::Value::Bool(_) => v.to_string(),
                    _ => panic!("event {name}: {k} is neither a string, number nor bool: {l}"),
                };
                (k.clone(), text)
            })
            .collect();
        let e = Event { t, level: level.clone(), name: name.into(), fields, msg: msg.clone() };
        validate(&e, l);
        return Some((t, level, msg, Some(e)));
    }
    let (t, level, rest) = parse_log_line(l)?;
    // The event is the leftmost ` {` from which the rest of the line parses as braces.
    let event = rest
        .match_indices(" {")
        .find_map(|(i, _)| Some((i, parse_braces(&rest[i + 1..])?)))
        .map(|(i, (name, fields))| {
            let e = Event { t, level: level.clone(), name, fields, msg: rest[..i].to_string() };
            validate(&e, l);
            e
        });
    let msg = event.as_ref().map_or(rest.clone(), |e| e.msg.clone());
    Some((t, level, msg, event))
}

/// Every event in a log, in order, each validated.
pub fn events_of(log: &str) -> Vec<Event> {
    log.lines().filter_map(parse_line).filter_map(|(_, _, _, e)| e).collect()
}

impl Outcome {
    /// dind-init's events, in order (every one checked against src/events.vocab).
    pub fn events(&self) -> Vec<Event> {
        events_of(&self.stderr)
    }
    /// Events named `name`, in order (`name` must be in the vocabulary).
    #[track_caller]
    pub fn events_named(&self, name: &str) -> Vec<Event> {
        assert!(vocab_fields(name).is_some(), "unknown event {name:?}");
        self.events().into_iter().filter(|e| e.name == name).collect()
    }
    /// The first event `name`; panics (with the run's output) when there is none.
    #[track_caller]
    pub fn event(&self, name: &str) -> Event {
        self.events_named(name)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no {name} event\n{}", self.dump()))
    }
    /// Whether there is an event `name`.
    #[track_caller]
    pub fn has_event(&self, name: &str) -> bool {
        !self.events_named(name).is_empty()
    }
    /// Field `k` of the first event `name`, as written.
    #[track_caller]
    pub fn event_field(&self, name: &str, k: &str) -> String {
        self.event(name).get(k).to_string()
    }
    /// Position of the first event `name` among the events; panics when there is none.
    #[track_caller]
    pub fn event_index(&self, name: &str) -> usize {
        assert!(vocab_fields(name).is_some(), "unknown event {name:?}");
        self.events()
            .iter()
            .position(|e| e.name == name)
            .unwrap_or_else(|| panic!("no {name} event\n{}", self.dump()))
    }
    /// Index in `log()` of the line of the first event `name` (to order it against a line
    /// that is not an event).
    #[track_caller]
    pub fn log_index_of_event(&self, name: &str) -> usize {
        assert!(vocab_fields(name).is_some(), "unknown event {name:?}");
        self.stderr
            .lines()
            .filter_map(parse_line)
            .position(|(_, _, _, e)| e.is_some_and(|e| e.name == name))
            .unwrap_or_else(|| panic!("no {name} event\n{}", self.dump()))
    }
    /// The exit event's code (the last event of every run).
    #[track_caller]
    pub fn exit_event(&self) -> i64 {
        let ev = self.events();
        let last = ev.last().unwrap_or_else(|| panic!("no events\n{}", self.dump()));
        assert_eq!(last.name, "exit", "the last event is not exit\n{}", self.dump());
        last.int("code")
    }
}

impl Running {
    /// Waits until the log has an event `name`; aborts the run (panics) after `secs`.
    pub fn wait_event(&mut self, name: &str, secs: f64) {
        self.wait_event_with(name, secs, |_| true)
    }
    /// Waits until the log has an event `name` for which `f` holds; aborts the run (panics)
    /// after `secs`.
    pub fn wait_event_with(&mut self, name: &str, secs: f64, f: impl Fn(&Event) -> bool) {
        assert!(vocab_fields(name).is_some(), "unknown event {name:?}");
        let until = Instant::now() + Duration::from_secs_f64(secs);
        let seen = |r: &Self| events_of(&r.stderr()).iter().any(|e| e.name == name && f(e));
        while !seen(self) {
            if Instant::now() > until || self.exited() {
                if seen(self) {
                    return;
                }
                self.abort(&format!("no such {name} event within {secs}s"));
            }
            std::thread::sleep(Duration::from_millis(3));
        }
    }
    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        events_of(&self.stderr())
    }
}
