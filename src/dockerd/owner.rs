//! Whose daemon is this? dind-init trusts only the daemons it started. Before any clean-up it
//! looks at every unix socket it will serve or use: a socket that is a mount point (the
//! host's `/var/run/docker.sock` bind-mounted in: Docker-outside-of-Docker mixed up with
//! Docker-in-Docker) or that accepts a connection (another daemon serves it, e.g. through a
//! `/var/run` shared with another container) stops the start (exit 125); only a socket that
//! refuses connections is stale. The readiness probe then checks, with `SO_PEERCRED`, that
//! the process answering is the daemon dind-init started (`peer_is_ours`). The decisions are
//! pure functions over gathered facts; the effects (lstat, mountinfo, connect) are apart.

use super::plan::Plan;
use crate::cgroup::proc::Mount;
use crate::error::{Error, PathError};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// What connecting to a socket path gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connect {
    /// Someone listens; the listener's pid as `SO_PEERCRED` gives it (0: outside our PID
    /// namespace), when it could be read.
    Accepted(Option<i32>),
    /// ECONNREFUSED: nobody listens (a dead daemon's socket).
    Refused,
    /// Any other error (permission, not a socket, ...): nothing proves it stale.
    Failed(String),
}

/// What is known about one socket path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub exists: bool,
    /// The path is itself a mount point (a bind mount of a socket or directory).
    pub mount_point: bool,
    pub connect: Connect,
}

/// Why a socket path belongs to someone else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Foreign {
    /// Mounted in from outside the container.
    Mount,
    /// Served by a live process (its pid, 0 outside our PID namespace).
    Listening(Option<i32>),
}

/// The verdict on one socket path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Absent,
    /// Provably stale (refuses connections): removed before dockerd starts.
    Stale,
    /// Another daemon's: the start stops.
    Foreign(Foreign),
    /// Not provably stale and not provably foreign: left alone (why).
    Leave(String),
}

/// The decision for one socket path: a mount point or a listener is foreign, a refused
/// connection is stale, anything else is left as it is.
pub fn classify(f: &Facts) -> Verdict {
    if !f.exists {
        return Verdict::Absent;
    }
    if f.mount_point {
        return Verdict::Foreign(Foreign::Mount);
    }
    match &f.connect {
        Connect::Accepted(pid) => Verdict::Foreign(Foreign::Listening(*pid)),
        Connect::Refused => Verdict::Stale,
        Connect::Failed(e) => Verdict::Leave(e.clone()),
    }
}

/// Whether `path` (its directory already resolved) is a mount point in `mounts`, or sits on
/// another device than its directory (`dev`, `parent_dev`).
pub fn is_mount_point(resolved: &Path, mounts: &[Mount], dev: u64, parent_dev: u64) -> bool {
    dev != parent_dev || mounts.iter().any(|m| m.mount_point == resolved)
}

/// The listener's pid on a connected unix socket (`SO_PEERCRED`); 0 when the listener is
/// outside our PID namespace.
pub fn peer_pid(s: &UnixStream) -> Option<i32> {
    nix::sys::socket::getsockopt(s, nix::sys::socket::sockopt::PeerCredentials)
        .ok()
        .map(|c| c.pid())
}

/// Whether the listener `peer` is the daemon dind-init started (`ours`) or one of its
/// descendants (a wrapper that did not exec); `parent_of` reads a process's parent.
pub fn peer_is_ours(peer: i32, ours: i32, parent_of: impl Fn(i32) -> Option<i32>) -> bool {
    let mut p = peer;
    for _ in 0..64 {
        if p == ours {
            return true;
        }
        match parent_of(p) {
            Some(pp) if pp > 0 && pp != p => p = pp,
            _ => return false,
        }
    }
    false
}

/// The parent of `pid` from /proc/PID/stat.
pub fn parent_from_proc(pid: i32) -> Option<i32> {
    if pid <= 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    super::procs::parse_stat(&text).map(|p| p.ppid)
}

/// The same advice wherever a foreign daemon is found: what DinD and DooD are, the fix
/// either way.
fn dind_or_dood(path: &Path) -> String {
    let p = path.display();
    format!(
        "This is a Docker-in-Docker (DinD) image: dind-init starts its own dockerd inside the \
         container, and that dockerd must own {p}. For Docker-outside-of-Docker (DooD: your \
         jobs use the other daemon, no dockerd of their own), run them in an image without \
         dind-init, or set DOCKER_HOST=unix://{p} and do not start dind-init. For \
         Docker-in-Docker, remove the mount (the `-v ...:{p}` or a volume over its directory \
         shared with another container) and run the container with --privileged. dind-init \
         stops here rather than run your job against a daemon it did not start, or remove \
         another daemon's socket."
    )
}

/// The message for a foreign socket found before the start.
pub fn foreign_message(path: &Path, why: &Foreign) -> String {
    let p = path.display();
    let what = match why {
        Foreign::Mount => format!(
            "{p} is a mount point: a bind mount of another Docker daemon's socket (the host's?)"
        ),
        Foreign::Listening(pid) => format!(
            "{p} is served by another daemon ({}): a live socket, not stale state (is {} \
             shared with another container, or mounted from the host?)",
            who(*pid),
            path.parent().unwrap_or(Path::new("/")).display()
        ),
    };
    format!("{what}. {}", dind_or_dood(path))
}

fn who(pid: Option<i32>) -> String {
    match pid {
        Some(0) => "a process outside this container's PID namespace".into(),
        Some(p) => format!("pid {p}, not started by dind-init"),
        None => "its pid unknown".into(),
    }
}

/// The message when the probe reaches a listener that is not the daemon dind-init started.
pub fn not_ours_message(name: &str, path: &Path, peer: Option<i32>, ours: i32) -> String {
    let who = match peer {
        Some(0) => "a process outside this container's PID namespace".to_string(),
        Some(p) => format!("pid {p}"),
        None => "a process whose pid cannot be read".to_string(),
    };
    format!(
        "{} is answered by {who}, not by the {name} dind-init started (pid {ours}): another \
         daemon serves this socket. {}",
        path.display(),
        dind_or_dood(path)
    )
}

/// The unix sockets dind-init will serve or use, with those dockerd and its containerd
/// create under the exec root.
pub fn socket_paths(plan: &Plan) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = plan.unix_sockets.clone();
    out.push(plan.socket.clone());
    if let Some(c) = &plan.containerd {
        out.push(c.socket.clone());
    }
    let cd = plan.exec_root.join("containerd");
    for s in ["containerd.sock", "containerd.sock.ttrpc", "containerd-debug.sock"] {
        out.push(cd.join(s));
    }
    let mut seen = Vec::new();
    out.retain(|p| {
        let new = !seen.contains(p);
        seen.push(p.clone());
        new
    });
    out
}

/// Gathers the facts about one socket path (lstat, mountinfo, a connect).
pub fn facts(path: &Path, mounts: &[Mount]) -> Facts {
    let Ok(meta) = path.symlink_metadata() else {
        return Facts { exists: false, mount_point: false, connect: Connect::Refused };
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    let resolved = match (std::fs::canonicalize(dir), path.file_name()) {
        (Ok(d), Some(n)) => d.join(n),
        _ => path.to_path_buf(),
    };
    let parent_dev = std::fs::metadata(dir).map(|m| m.dev()).unwrap_or(meta.dev());
    let mount_point = is_mount_point(&resolved, mounts, meta.dev(), parent_dev);
    let connect = match UnixStream::connect(path) {
        Ok(s) => Connect::Accepted(peer_pid(&s)),
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => Connect::Refused,
        Err(e) => Connect::Failed(e.to_string()),
    };
    Facts { exists: true, mount_point, connect }
}

/// The check before any clean-up: every socket path dind-init will serve or use is absent,
/// stale or left alone; a foreign one is an error (exit 125) that says what to do.
pub fn check_sockets(plan: &Plan) -> Result<(), Error> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| crate::cgroup::proc::parse_mountinfo(&t))
        .unwrap_or_default();
    for p in socket_paths(plan) {
        match classify(&facts(&p, &mounts)) {
            Verdict::Foreign(why) => {
                let reason = match why {
                    Foreign::Mount => "mount",
                    Foreign::Listening(_) => "listening",
                };
                foreign_event(&p, reason);
                return Err(Error::Setup(foreign_message(&p, &why)));
            }
            Verdict::Leave(e) => log::warn!(
                "stale state: {} exists but cannot be checked ({e}): leaving it",
                p.display()
            ),
            Verdict::Absent | Verdict::Stale => {}
        }
    }
    Ok(())
}

/// The `foreign-daemon` event: another daemon's socket stops the start (`reason`: `mount`,
/// `listening`, or `not-ours`, a listener the probe found that is not the daemon started);
/// the error with the advice follows it.
pub fn foreign_event(path: &Path, reason: &str) {
    crate::event!(
        Warn,
        "foreign-daemon",
        { socket = path.display().to_string(), reason = reason },
        "foreign daemon: {} ({reason}): not ours, stopping",
        path.display()
    );
}

/// Whether a socket left on disk is provably stale: it refuses connections.
pub fn provably_stale(path: &Path) -> bool {
    matches!(
        UnixStream::connect(path),
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED)
    )
}

/// Creates the directories of dockerd's unix sockets (0755) that do not exist yet:
/// `DOCKER_HOST=unix:///run/custom/d.sock` would otherwise end in dockerd's `bind: no such
/// file or directory`.
pub fn make_socket_dirs(plan: &Plan) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    for s in &plan.unix_sockets {
        let Some(dir) = s.parent() else { continue };
        if dir.as_os_str().is_empty() || dir.exists() {
            continue;
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(|e| PathError::new("create directory", dir, e))?;
        log::info!("dockerd: created {} (0755) for its socket {}", dir.display(), s.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::TempDir;
    use std::os::unix::net::UnixListener;

    fn f(exists: bool, mount_point: bool, connect: Connect) -> Facts {
        Facts { exists, mount_point, connect }
    }

    #[test]
    fn only_a_refused_socket_is_stale() {
        assert_eq!(classify(&f(false, false, Connect::Refused)), Verdict::Absent);
        assert_eq!(classify(&f(true, false, Connect::Refused)), Verdict::Stale);
        assert_eq!(
            classify(&f(true, false, Connect::Accepted(Some(0)))),
            Verdict::Foreign(Foreign::Listening(Some(0)))
        );
        assert_eq!(
            classify(&f(true, false, Connect::Accepted(Some(4242)))),
            Verdict::Foreign(Foreign::Listening(Some(4242)))
        );
        assert_eq!(
            classify(&f(true, false, Connect::Failed("EACCES".into()))),
            Verdict::Leave("EACCES".into())
        );
    }

    #[test]
    fn a_mount_point_is_foreign_even_when_nobody_listens() {
        for c in [Connect::Refused, Connect::Accepted(Some(0)), Connect::Failed("x".into())] {
            assert_eq!(classify(&f(true, true, c)), Verdict::Foreign(Foreign::Mount));
        }
    }

    #[test]
    fn mount_points_by_mountinfo_or_device() {
        let mi = "600 500 0:25 /docker.sock /run/docker.sock rw,nosuid - tmpfs tmpfs rw\n\
                  601 500 0:26 / /run rw - tmpfs tmpfs rw\n";
        let mounts = crate::cgroup::proc::parse_mountinfo(mi);
        assert!(is_mount_point(Path::new("/run/docker.sock"), &mounts, 7, 7));
        assert!(!is_mount_point(Path::new("/run/other.sock"), &mounts, 7, 7));
        assert!(is_mount_point(Path::new("/run/other.sock"), &mounts, 8, 7));
    }

    #[test]
    fn the_peer_must_be_our_daemon_or_its_descendant() {
        // 1 -> 10 (dind-init's dockerd) -> 11 (a wrapper's child); 20 is someone else's.
        let parent = |p: i32| match p {
            10 => Some(1),
            11 => Some(10),
            20 => Some(1),
            _ => None,
        };
        assert!(peer_is_ours(10, 10, parent));
        assert!(peer_is_ours(11, 10, parent));
        assert!(!peer_is_ours(20, 10, parent));
        assert!(!peer_is_ours(0, 10, parent), "outside our PID namespace");
        assert!(!peer_is_ours(1, 10, parent));
        // A cycle in a bogus table ends.
        assert!(!peer_is_ours(5, 10, |p| Some(if p == 5 { 6 } else { 5 })));
    }

    #[test]
    fn messages_name_the_socket_and_both_fixes() {
        let p = Path::new("/var/run/docker.sock");
        let m = foreign_message(p, &Foreign::Mount);
        for want in [
            "/var/run/docker.sock is a mount point",
            "bind mount of another Docker daemon's socket",
            "Docker-in-Docker",
            "Docker-outside-of-Docker",
            "DOCKER_HOST=unix:///var/run/docker.sock",
            "remove the mount",
        ] {
            assert!(m.contains(want), "{want:?} not in {m}");
        }
        let m = foreign_message(p, &Foreign::Listening(Some(0)));
        assert!(m.contains("outside this container's PID namespace"), "{m}");
        assert!(m.contains("/var/run shared"), "{m}");
        let m = not_ours_message("dockerd", p, Some(77), 12);
        assert!(m.contains("pid 77") && m.contains("(pid 12)") && m.contains("DinD"), "{m}");
    }

    #[test]
    fn facts_of_real_sockets() {
        let d = TempDir::new("owner");
        let live = d.path().join("live.sock");
        let l = UnixListener::bind(&live).unwrap();
        let stale = d.path().join("stale.sock");
        drop(UnixListener::bind(&stale).unwrap());
        let me = std::process::id() as i32;
        let fl = facts(&live, &[]);
        assert_eq!(fl, f(true, false, Connect::Accepted(Some(me))));
        assert_eq!(classify(&facts(&stale, &[])), Verdict::Stale);
        assert!(provably_stale(&stale) && !provably_stale(&live));
        assert_eq!(classify(&facts(&d.path().join("none.sock"), &[])), Verdict::Absent);
        drop(l);
    }

    #[test]
    fn socket_directories_are_created_0755() {
        use std::os::unix::fs::PermissionsExt;
        let d = TempDir::new("sockdir");
        let sock = d.path().join("custom/deeper/d.sock");
        let plan = Plan {
            program: "dockerd".into(),
            args: vec![],
            socket: sock.clone(),
            unix_sockets: vec![sock.clone()],
            pidfile: d.path().join("d.pid"),
            exec_root: d.path().join("exec"),
            data_root: d.path().join("data"),
            path_prefix: None,
            containerd: None,
            notes: vec![],
            run_as: None,
            mirrors: vec![],
            unused: vec![],
        };
        make_socket_dirs(&plan).unwrap();
        let mode = std::fs::metadata(d.path().join("custom/deeper")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755 & !umask());
        let paths = socket_paths(&plan);
        assert_eq!(paths.iter().filter(|p| **p == sock).count(), 1, "{paths:?}");
        assert!(paths.contains(&d.path().join("exec/containerd/containerd.sock")));
    }

    fn umask() -> u32 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let v = status.lines().find_map(|l| l.strip_prefix("Umask:")).unwrap();
        u32::from_str_radix(v.trim(), 8).unwrap()
    }
}
