//! dockerd: work out its command line (the user's arguments plus what keeps DinD correct:
//! cgroup parent, MTU, a shutdown time-out that fits `docker stop`), clear the pid files
//! and sockets a previous run left behind, spawn it in its own session with its output
//! piped through dind-init (to stderr or a file, keeping the last lines for error reports).

use crate::config::{AutoOr, Config, LogMode};
use crate::error::{Error, Result};
use crate::ready::Target;
use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The value of a dockerd flag in an argument list: `--flag=v`, `--flag v`, `-f v`, `-fv`.
/// With several occurrences, all values in order.
pub fn flag_values(args: &[String], long: &str, short: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let mut take_next = false;
        if a == long || Some(a.as_str()) == short {
            take_next = true;
        } else if let Some(v) = a.strip_prefix(long).and_then(|r| r.strip_prefix('=')) {
            out.push(v.to_string());
        } else if let Some(s) = short {
            if let Some(v) = a.strip_prefix(s) {
                if !v.is_empty() && !a.starts_with("--") {
                    out.push(v.trim_start_matches('=').to_string());
                }
            }
        }
        if take_next {
            if let Some(v) = args.get(i + 1) {
                out.push(v.clone());
                i += 1;
            }
        }
        i += 1;
    }
    out
}

/// Whether a boolean or valued flag appears at all.
pub fn has_flag(args: &[String], long: &str) -> bool {
    args.iter().any(|a| a == long || a.starts_with(&format!("{long}=")))
}

/// A top-level value of dockerd's daemon.json: a string, or the strings of an array, or
/// the raw text of a number or boolean. A tiny reader instead of a JSON crate: it only has
/// to see which keys the user set there (dockerd refuses a setting given both as a flag
/// and in the file).
pub fn json_value(text: &str, key: &str) -> Option<Vec<String>> {
    let needle = format!("\"{key}\"");
    let pos = text.find(&needle)?;
    let rest = text[pos + needle.len()..].trim_start().strip_prefix(':')?.trim_start();
    let mut chars = rest.chars().peekable();
    let read_string = |chars: &mut std::iter::Peekable<std::str::Chars>| -> Option<String> {
        let mut s = String::new();
        loop {
            match chars.next()? {
                '"' => return Some(s),
                '\\' => s.push(chars.next()?),
                c => s.push(c),
            }
        }
    };
    match chars.next()? {
        '"' => read_string(&mut chars).map(|s| vec![s]),
        '[' => {
            let mut v = Vec::new();
            loop {
                match chars.next()? {
                    '"' => v.push(read_string(&mut chars)?),
                    ']' => return Some(v),
                    _ => {}
                }
            }
        }
        c => {
            let mut s = c.to_string();
            while let Some(&c) = chars.peek() {
                if c == ',' || c == '}' || c.is_whitespace() {
                    break;
                }
                s.push(c);
                chars.next();
            }
            Some(vec![s])
        }
    }
}

/// Everything needed to run dockerd and find it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub program: String,
    pub args: Vec<String>,
    /// Where readiness is probed.
    pub target: Target,
    pub unix_sockets: Vec<PathBuf>,
    pub pidfile: PathBuf,
    pub exec_root: PathBuf,
    pub data_root: PathBuf,
    /// Directory to put first in dockerd's PATH (iptables backend).
    pub path_prefix: Option<PathBuf>,
}

/// dockerd's settings as the user gave them, by flag or in daemon.json.
struct UserSettings<'a> {
    args: &'a [String],
    json: String,
}

impl UserSettings<'_> {
    fn values(&self, long: &str, short: Option<&str>, json_key: &str) -> Vec<String> {
        let v = flag_values(self.args, long, short);
        if !v.is_empty() {
            return v;
        }
        json_value(&self.json, json_key).unwrap_or_default()
    }
    fn is_set(&self, long: &str, json_key: &str) -> bool {
        has_flag(self.args, long) || json_value(&self.json, json_key).is_some()
    }
}

/// Builds dockerd's command line. `own_cgroup` is this container's cgroup path.
pub fn plan(cfg: &Config, own_cgroup: Option<&str>, path_prefix: Option<PathBuf>) -> Result<Plan> {
    let user = &cfg.dockerd_args;
    let config_file = flag_values(user, "--config-file", None).pop().unwrap_or_else(|| "/etc/docker/daemon.json".into());
    let json = std::fs::read_to_string(&config_file).unwrap_or_default();
    let s = UserSettings { args: user, json };
    let mut extra: Vec<String> = Vec::new();

    // Hosts.
    let mut hosts = s.values("--host", Some("-H"), "hosts");
    if let Some(port) = cfg.port {
        if hosts.is_empty() {
            extra.push("--host=unix:///var/run/docker.sock".into());
            hosts.push("unix:///var/run/docker.sock".into());
        }
        extra.push(format!("--host=tcp://0.0.0.0:{port}"));
        hosts.push(format!("tcp://127.0.0.1:{port}"));
        if let Some(dir) = &cfg.tls_certdir {
            let server = dir.join("server");
            for f in ["ca.pem", "cert.pem", "key.pem"] {
                if !server.join(f).is_file() {
                    return Err(Error::Usage(format!(
                        "PORT is set with DOCKER_TLS_CERTDIR={} but {} is missing: put the server's TLS files there",
                        dir.display(),
                        server.join(f).display()
                    )));
                }
            }
            extra.push("--tlsverify".into());
            extra.push(format!("--tlscacert={}", server.join("ca.pem").display()));
            extra.push(format!("--tlscert={}", server.join("cert.pem").display()));
            extra.push(format!("--tlskey={}", server.join("key.pem").display()));
        } else {
            extra.push("--tls=false".into());
            log::warn!("dockerd: listening on tcp port {port} WITHOUT TLS (DIND_INSECURE_TCP): anyone who reaches it is root here");
        }
    }
    let unix_sockets: Vec<PathBuf> = if hosts.is_empty() {
        vec![PathBuf::from("/var/run/docker.sock")]
    } else {
        hosts
            .iter()
            .filter_map(|h| h.strip_prefix("unix://"))
            .map(|p| if p.is_empty() { PathBuf::from("/var/run/docker.sock") } else { PathBuf::from(p) })
            .collect()
    };
    for p in &unix_sockets {
        // sun_path holds 108 bytes with the terminating NUL: dockerd could never listen there.
        if p.as_os_str().len() > 107 {
            return Err(Error::Usage(format!(
                "dockerd socket path {} is {} bytes long: unix socket paths are limited to 107 bytes; choose a shorter -H unix://PATH",
                p.display(),
                p.as_os_str().len()
            )));
        }
    }
    let target = match unix_sockets.first() {
        Some(p) => Target::Unix(p.clone()),
        None => {
            let tcp = hosts
                .iter()
                .find_map(|h| h.strip_prefix("tcp://"))
                .ok_or_else(|| Error::Usage(format!("dockerd hosts {hosts:?} have no unix:// or tcp:// address dind-init could probe")))?;
            let tcp = tcp.replace("0.0.0.0", "127.0.0.1");
            let tcp = if tcp.contains(':') { tcp } else { format!("{tcp}:2375") };
            use std::net::ToSocketAddrs;
            let addr = tcp.to_socket_addrs().ok().and_then(|mut a| a.next()).ok_or_else(|| Error::Usage(format!("cannot resolve dockerd host tcp://{tcp}")))?;
            Target::Tcp(addr)
        }
    };
    let pidfile = s.values("--pidfile", Some("-p"), "pidfile").pop().map(PathBuf::from).unwrap_or_else(|| "/var/run/docker.pid".into());
    let exec_root = s.values("--exec-root", None, "exec-root").pop().map(PathBuf::from).unwrap_or_else(|| "/var/run/docker".into());
    let data_root = s.values("--data-root", None, "data-root").pop().map(PathBuf::from).unwrap_or_else(|| "/var/lib/docker".into());

    // Keep inner containers inside this container's cgroup.
    let systemd_driver = user.iter().any(|a| a.contains("native.cgroupdriver=systemd")) || s.json.contains("native.cgroupdriver=systemd");
    if !s.is_set("--cgroup-parent", "cgroup-parent") {
        let parent = match &cfg.cgroup_parent {
            AutoOr::Off => None,
            AutoOr::Value(p) => Some(p.clone()),
            AutoOr::Auto if systemd_driver => {
                log::info!("cgroups: dockerd uses the systemd cgroup driver: not setting --cgroup-parent");
                None
            }
            AutoOr::Auto => own_cgroup.and_then(crate::cgroup::proc::nested_parent),
        };
        if let Some(p) = parent {
            log::info!("cgroups: inner containers go below {p} (--cgroup-parent), inside this container's cgroup");
            extra.push(format!("--cgroup-parent={p}"));
        }
    }
    // MTU of the network we are on, when smaller than dockerd's default.
    if !s.is_set("--mtu", "mtu") {
        match cfg.mtu {
            AutoOr::Off => {}
            AutoOr::Value(m) => extra.push(format!("--mtu={m}")),
            AutoOr::Auto => {
                if let Some((iface, m)) = crate::net::detect_mtu(Path::new("/proc/net/route"), Path::new("/sys/class/net")) {
                    log::info!("network: default route via {iface} has MTU {m}: passing --mtu={m} to dockerd");
                    extra.push(format!("--mtu={m}"));
                }
            }
        }
    }
    // dockerd's own default (15 s per container) overruns docker stop's 10 s grace.
    if !s.is_set("--shutdown-timeout", "shutdown-timeout") {
        let secs = cfg.shutdown_timeout.as_secs().saturating_sub(3).max(1);
        extra.push(format!("--shutdown-timeout={secs}"));
    }
    let mut args = extra;
    args.extend(user.iter().cloned());
    Ok(Plan { program: cfg.dockerd.clone(), args, target, unix_sockets, pidfile, exec_root, data_root, path_prefix })
}

/// Stops the inner daemon's running containers through its API, all at once, each with
/// `POST /containers/ID/stop?t=SECS`, and waits for the answers (bounded). dockerd's own
/// shutdown gives each container its own stop timeout (10 s by default; `--shutdown-timeout`
/// is only a floor), which overruns `docker stop`'s grace: this keeps it inside our budget.
/// Returns how many containers were stopped.
pub fn stop_containers(target: &Target, secs: u64) -> usize {
    let list = match crate::ready::request(target, "GET", "/containers/json", std::time::Duration::from_secs(2)) {
        Ok((200, body)) => crate::ready::container_ids(&body),
        Ok((code, _)) => {
            log::warn!("shutdown: listing inner containers answered HTTP {code}: leaving them to dockerd");
            return 0;
        }
        Err(e) => {
            log::warn!("shutdown: cannot list inner containers on {target}: {e}: leaving them to dockerd");
            return 0;
        }
    };
    if list.is_empty() {
        return 0;
    }
    log::info!("shutdown: stopping {} inner container(s) (stop timeout {secs}s)", list.len());
    let wait = std::time::Duration::from_secs(secs + 2);
    let handles: Vec<_> = list
        .into_iter()
        .map(|id| {
            let target = target.clone();
            std::thread::spawn(move || {
                let r = crate::ready::request(&target, "POST", &format!("/containers/{id}/stop?t={secs}"), wait);
                (id, r)
            })
        })
        .collect();
    let mut stopped = 0;
    for h in handles {
        match h.join() {
            Ok((_, Ok((204 | 304, _)))) => stopped += 1,
            Ok((id, Ok((code, body)))) => log::warn!("shutdown: stopping container {}: HTTP {code} {}", &id[..id.len().min(12)], body.trim()),
            Ok((id, Err(e))) => log::warn!("shutdown: stopping container {}: {e}", &id[..id.len().min(12)]),
            Err(_) => {}
        }
    }
    stopped
}

/// Whether a process with this pid exists.
fn alive(pid: i32) -> bool {
    pid > 0 && (unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// Removes pid files and sockets a previous dockerd/containerd left. As PID 1 of a fresh
/// PID namespace everything is stale; otherwise only dead pids and refused sockets.
pub fn remove_stale(plan: &Plan, pid1: bool) {
    let (pidfiles, sockets) = state_files(plan);
    for f in &pidfiles {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        let pid: i32 = text.trim().parse().unwrap_or(0);
        if !pid1 && alive(pid) {
            log::warn!("stale state: {} names pid {pid}, which is running: leaving it", f.display());
            continue;
        }
        match std::fs::remove_file(f) {
            Ok(()) => log::info!("stale state: removed pid file {} (pid {pid} from a previous run)", f.display()),
            Err(e) => log::warn!("stale state: cannot remove {}: {e}", f.display()),
        }
    }
    for s in &sockets {
        if s.symlink_metadata().is_err() {
            continue;
        }
        if !pid1 && std::os::unix::net::UnixStream::connect(s).is_ok() {
            log::warn!("stale state: {} answers: another daemon is running there; leaving it", s.display());
            continue;
        }
        match std::fs::remove_file(s) {
            Ok(()) => log::info!("stale state: removed socket {}", s.display()),
            Err(e) => log::warn!("stale state: cannot remove {}: {e}", s.display()),
        }
    }
}

/// The pid files and unix sockets dockerd and its containerd create.
fn state_files(plan: &Plan) -> ([PathBuf; 2], Vec<PathBuf>) {
    let containerd = plan.exec_root.join("containerd");
    let pidfiles = [plan.pidfile.clone(), containerd.join("containerd.pid")];
    let mut sockets = plan.unix_sockets.clone();
    for s in ["containerd.sock", "containerd.sock.ttrpc", "containerd-debug.sock"] {
        sockets.push(containerd.join(s));
    }
    (pidfiles, sockets)
}

/// After dind-init ended dockerd's final wait (see `Supervisor::stop_daemon`): removes the
/// files dockerd would have removed in that last second, so nothing looks stale afterwards.
pub fn remove_left_behind(plan: &Plan) {
    let (pidfiles, sockets) = state_files(plan);
    for f in pidfiles.iter().chain(sockets.iter()) {
        if std::fs::remove_file(f).is_ok() {
            log::debug!("shutdown: removed {}", f.display());
        }
    }
}

/// Whether `pid` has a child that has not exited yet (a zombie does not count). An
/// unreadable /proc says "unknown": `None`.
pub fn has_live_child(pid: i32) -> Option<bool> {
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let text = std::fs::read_to_string(task.path().join("children")).ok()?;
        for c in text.split_whitespace() {
            let stat = std::fs::read_to_string(format!("/proc/{c}/stat")).unwrap_or_default();
            // "pid (comm) S ...": the state follows the last ')'.
            let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
            if !matches!(state, None | Some("Z") | Some("X")) {
                return Some(true);
            }
        }
    }
    Some(false)
}

/// Warns when the data root sits on overlayfs, where dockerd cannot use overlay2.
pub fn check_storage(plan: &Plan, user_args: &[String]) {
    if has_flag(user_args, "--storage-driver") || has_flag(user_args, "-s") {
        return;
    }
    if crate::sys::fs_magic(&plan.data_root) == Some(crate::sys::OVERLAYFS_SUPER_MAGIC) {
        log::warn!(
            "storage: {} is on overlayfs (the container's own filesystem): dockerd cannot stack overlay2 on it and will \
             fall back to the slow vfs driver (every layer a full copy). Fix: mount a volume at {} \
             (docker run -v dind-data:{} ..., or an emptyDir in Kubernetes)",
            plan.data_root.display(),
            plan.data_root.display(),
            plan.data_root.display()
        );
    }
}

/// The last lines dockerd printed, for error reports.
#[derive(Default)]
pub struct LogTail {
    lines: Mutex<VecDeque<String>>,
    /// Set when the pipe from the current dockerd reached end of file.
    closed: std::sync::atomic::AtomicBool,
    /// Set when the current dockerd logged that its own shutdown is complete.
    shutdown_complete: std::sync::atomic::AtomicBool,
}

/// What dockerd logs once it has stopped its containers and closed its state (moby
/// `cmd/dockerd/daemon.go`, the same text since 2016, in text and JSON log formats).
pub const SHUTDOWN_COMPLETE: &str = "Daemon shutdown complete";

pub const TAIL_LINES: usize = 50;

impl LogTail {
    pub fn push(&self, line: String) {
        if line.contains(SHUTDOWN_COMPLETE) {
            self.shutdown_complete.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        let mut l = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if l.len() == TAIL_LINES {
            l.pop_front();
        }
        l.push_back(line);
    }
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }
    pub fn set_closed(&self, v: bool) {
        self.closed.store(v, std::sync::atomic::Ordering::SeqCst);
    }
    /// A new dockerd: nothing read from its pipe yet.
    pub fn reset(&self) {
        self.set_closed(false);
        self.shutdown_complete.store(false, std::sync::atomic::Ordering::SeqCst);
    }
    /// Whether the current dockerd logged [`SHUTDOWN_COMPLETE`].
    pub fn shutdown_complete(&self) -> bool {
        self.shutdown_complete.load(std::sync::atomic::Ordering::SeqCst)
    }
    /// Waits (bounded) until the log pipe is drained, so a report shows dockerd's last words.
    /// A containerd child may keep the pipe open, hence the bound.
    pub fn wait_closed(&self, max: std::time::Duration) {
        let deadline = Instant::now() + max;
        while !self.closed.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    /// The tail as an indented block for a message.
    pub fn render(&self, max: usize) -> String {
        let lines = self.lines();
        if lines.is_empty() {
            return "  (dockerd printed nothing)".into();
        }
        let skip = lines.len().saturating_sub(max);
        lines[skip..].iter().map(|l| format!("  | {l}")).collect::<Vec<_>>().join("\n")
    }
}

/// Known failure texts and what to do about them.
pub fn hints(lines: &[String]) -> Vec<&'static str> {
    const HINTS: &[(&str, &str)] = &[
        ("operation not permitted", "dockerd lacks privileges: run the container with --privileged (Kubernetes: securityContext.privileged: true)"),
        ("permission denied", "dockerd lacks privileges: run the container with --privileged (Kubernetes: securityContext.privileged: true)"),
        ("pid file found", "a pid file from a previous run is in the way: dind-init removes it when it is PID 1; pass --pidfile to dockerd if you run dind-init under another init"),
        ("iptables", "iptables failed: the image's backend may not match the kernel's; try DIND_IPTABLES=legacy or nft, or DOCKER_DAEMON_ARGS=--iptables=false"),
        ("cgroup", "cgroup problem: see the cgroups lines above; --privileged gives the container writable cgroups"),
        ("address already in use", "another daemon listens on the same socket or port"),
        ("no space left", "the disk behind the data root is full"),
    ];
    let mut out: Vec<&'static str> = Vec::new();
    for l in lines {
        let l = l.to_ascii_lowercase();
        for (needle, hint) in HINTS {
            if l.contains(needle) && !out.contains(hint) {
                out.push(hint);
            }
        }
    }
    out
}

/// A running dockerd.
pub struct Running {
    pub pid: i32,
    pub started: Instant,
}

/// Spawns dockerd: own session, stdin from /dev/null, signal mask restored, output through
/// a pipe into `tail` and on to stderr or the log file.
pub fn spawn(plan: &Plan, cfg: &Config, orig_mask: &libc::sigset_t, tail: &Arc<LogTail>) -> Result<Running> {
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::Setup(format!("cannot create a pipe for dockerd's output: {e}")))?;
    let wr2 = wr.try_clone().map_err(|e| Error::Setup(format!("cannot duplicate a pipe: {e}")))?;
    let mut cmd = Command::new(&plan.program);
    cmd.args(&plan.args).stdin(Stdio::null()).stdout(Stdio::from(wr)).stderr(Stdio::from(wr2));
    if let Some(dir) = &plan.path_prefix {
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
        cmd.env("PATH", format!("{}:{path}", dir.display()));
    }
    let mask = *orig_mask;
    unsafe {
        cmd.pre_exec(move || {
            // Only async-signal-safe calls between fork and exec.
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::sigprocmask(libc::SIG_SETMASK, &mask, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::NotFound {
            format!("'{}' was not found (is docker.io / docker-ce installed in the image, and on PATH? set DIND_DOCKERD to its path)", plan.program)
        } else {
            format!("cannot run '{}': {e}", plan.program)
        };
        Error::Setup(format!("dockerd: {why}"))
    })?;
    // Dropping the Child never waits: the supervisor reaps every pid itself.
    let pid = child.id() as i32;
    drop(cmd);
    drop(child);
    let sink: Box<dyn Write + Send> = match cfg.log {
        LogMode::Stdio => Box::new(std::io::stderr()),
        LogMode::File => {
            if let Some(dir) = cfg.log_file.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            match std::fs::OpenOptions::new().create(true).append(true).open(&cfg.log_file) {
                Ok(f) => Box::new(f),
                Err(e) => {
                    log::warn!("dockerd: cannot open {}: {e}; its output goes to stderr", cfg.log_file.display());
                    Box::new(std::io::stderr())
                }
            }
        }
    };
    let tail = Arc::clone(tail);
    tail.reset();
    std::thread::Builder::new()
        .name("dockerd-log".into())
        .spawn(move || pump(std::fs::File::from(rd), sink, &tail))
        .map_err(|e| Error::Setup(format!("cannot start the log thread: {e}")))?;
    log::info!("dockerd: started pid {pid}: {} {}", plan.program, plan.args.join(" "));
    Ok(Running { pid, started: Instant::now() })
}

fn pump(src: std::fs::File, mut sink: Box<dyn Write + Send>, tail: &LogTail) {
    let mut r = std::io::BufReader::new(src);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => {
                tail.set_closed(true);
                return;
            }
            Ok(_) => {
                let _ = sink.write_all(&buf);
                let _ = sink.flush();
                let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                tail.push(line);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse, Invocation};
    use std::collections::HashMap;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn cfg(env: &[(&str, &str)]) -> Config {
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        match parse(&[], &env).unwrap() {
            Invocation::Run(c) => *c,
            _ => panic!(),
        }
    }

    #[test]
    fn flag_forms() {
        let a = s(&["-H", "unix:///a.sock", "--host=tcp://0.0.0.0:2375", "-Hfd://", "--pidfile", "/p", "-p=/q", "--debug"]);
        assert_eq!(flag_values(&a, "--host", Some("-H")), vec!["unix:///a.sock", "tcp://0.0.0.0:2375", "fd://"]);
        assert_eq!(flag_values(&a, "--pidfile", Some("-p")), vec!["/p", "/q"]);
        assert!(flag_values(&a, "--exec-root", None).is_empty());
        assert!(has_flag(&a, "--debug"));
        assert!(!has_flag(&a, "--debu"));
    }

    #[test]
    fn daemon_json_values() {
        let j = r#"{ "hosts": ["unix:///x.sock", "tcp://0.0.0.0:1"], "mtu": 1400, "cgroup-parent" : "/p", "debug": true }"#;
        assert_eq!(json_value(j, "hosts").unwrap(), vec!["unix:///x.sock", "tcp://0.0.0.0:1"]);
        assert_eq!(json_value(j, "mtu").unwrap(), vec!["1400"]);
        assert_eq!(json_value(j, "cgroup-parent").unwrap(), vec!["/p"]);
        assert_eq!(json_value(j, "debug").unwrap(), vec!["true"]);
        assert_eq!(json_value(j, "pidfile"), None);
        assert_eq!(json_value("{\"a\": \"unterminated", "a"), None);
    }

    #[test]
    fn plan_defaults_and_user_paths() {
        let c = cfg(&[("DIND_MTU", "off")]);
        let p = plan(&c, Some("/docker/abc"), None).unwrap();
        assert_eq!(p.target, Target::Unix("/var/run/docker.sock".into()));
        assert_eq!(p.pidfile, PathBuf::from("/var/run/docker.pid"));
        assert!(p.args.contains(&"--cgroup-parent=/docker/abc/docker".to_string()), "{:?}", p.args);
        assert!(p.args.contains(&"--shutdown-timeout=5".to_string()));

        let c = cfg(&[
            ("DOCKER_DAEMON_ARGS", "-H unix:///t/d.sock --pidfile=/t/d.pid --exec-root /t/x --cgroup-parent=/mine --shutdown-timeout 2"),
            ("DIND_MTU", "1400"),
        ]);
        let p = plan(&c, Some("/docker/abc"), None).unwrap();
        assert_eq!(p.target, Target::Unix("/t/d.sock".into()));
        assert_eq!(p.pidfile, PathBuf::from("/t/d.pid"));
        assert_eq!(p.exec_root, PathBuf::from("/t/x"));
        assert_eq!(p.args.iter().filter(|a| a.starts_with("--cgroup-parent")).count(), 1);
        assert_eq!(p.args.iter().filter(|a| a.starts_with("--shutdown-timeout")).count(), 1);
        assert!(p.args.contains(&"--mtu=1400".to_string()));
    }

    #[test]
    fn plan_cgroup_parent_choices() {
        let c = cfg(&[("DIND_MTU", "off")]);
        // Root of a private cgroup namespace: dockerd's default /docker is already inside.
        assert!(!plan(&c, Some("/"), None).unwrap().args.iter().any(|a| a.starts_with("--cgroup-parent")));
        let c = cfg(&[("DIND_MTU", "off"), ("DIND_CGROUP_PARENT", "off")]);
        assert!(!plan(&c, Some("/docker/x"), None).unwrap().args.iter().any(|a| a.starts_with("--cgroup-parent")));
        let c = cfg(&[("DIND_MTU", "off"), ("DOCKER_DAEMON_ARGS", "--exec-opt native.cgroupdriver=systemd")]);
        assert!(!plan(&c, Some("/docker/x"), None).unwrap().args.iter().any(|a| a.starts_with("--cgroup-parent")));
    }

    #[test]
    fn plan_port_and_tcp_only() {
        let c = cfg(&[("PORT", "2375"), ("DIND_INSECURE_TCP", "1"), ("DIND_MTU", "off")]);
        let p = plan(&c, None, None).unwrap();
        assert!(p.args.contains(&"--host=tcp://0.0.0.0:2375".to_string()));
        assert!(p.args.contains(&"--tls=false".to_string()));
        assert_eq!(p.target, Target::Unix("/var/run/docker.sock".into()));
        let c = cfg(&[("DOCKER_DAEMON_ARGS", "-H tcp://127.0.0.1:2399"), ("DIND_MTU", "off")]);
        let p = plan(&c, None, None).unwrap();
        assert_eq!(p.target, Target::Tcp("127.0.0.1:2399".parse().unwrap()));
        let c = cfg(&[("PORT", "2376"), ("DOCKER_TLS_CERTDIR", "/nonexistent/certs")]);
        let e = plan(&c, None, None).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("/nonexistent/certs/server/ca.pem"));
    }

    #[test]
    fn live_children_exclude_zombies() {
        let me = std::process::id() as i32;
        let mut child = std::process::Command::new("sleep").arg("30").spawn().expect("sleep");
        assert_eq!(has_live_child(me), Some(true));
        child.kill().expect("kill");
        // Dead but not reaped yet: a zombie, which no longer counts.
        let zpath = format!("/proc/{}/stat", child.id());
        for _ in 0..200 {
            if std::fs::read_to_string(&zpath).unwrap_or_default().contains(") Z") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(has_live_child(me), Some(false));
        child.wait().expect("wait");
        assert_eq!(has_live_child(me), Some(false));
        assert_eq!(has_live_child(-7), None);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let t = LogTail::default();
        for i in 0..120 {
            t.push(format!("line {i}"));
        }
        let l = t.lines();
        assert_eq!(l.len(), TAIL_LINES);
        assert_eq!(l[0], "line 70");
        assert!(t.render(3).ends_with("  | line 119"));
    }

    #[test]
    fn hints_for_known_failures() {
        let h = hints(&s(&["failed to start daemon: Error initializing network controller: error obtaining controller instance: failed to create NAT chain DOCKER: iptables failed"]));
        assert!(h.iter().any(|x| x.contains("DIND_IPTABLES")));
        assert!(hints(&s(&["all good"])).is_empty());
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;
        proptest! {
            #![proptest_config(ProptestConfig { cases: crate::fuzz_cases(2000), ..ProptestConfig::default() })]
            #[test]
            fn json_value_never_panics(text in "\\PC{0,80}", key in "[a-z-]{0,8}") { let _ = json_value(&text, &key); }
            #[test]
            fn flag_values_never_panic(args in proptest::collection::vec("[-=a-zH]{0,6}", 0..6)) {
                let _ = flag_values(&args, "--host", Some("-H"));
                let _ = has_flag(&args, "--host");
            }
            #[test]
            fn hints_never_panic(lines in proptest::collection::vec("\\PC{0,40}", 0..4)) { let _ = hints(&lines); }
        }
    }
}
