//! What dockerd leaves on disk and in the process table: the pid files and sockets of a
//! previous run (removed before start, so `docker restart` of the outer container just
//! works), the processes dockerd and its containerd start (read from /proc: is dockerd's
//! containerd still alive? which processes are inner containers?), and the storage check.
//! The /proc reader takes its root as an argument so tests can feed it fixtures.

use super::daemon_json::DaemonJson;
use super::plan::Plan;
use std::path::{Path, PathBuf};

/// One process, from /proc/PID/stat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub comm: String,
    /// R, S, D, Z, T, X, ...
    pub state: char,
}

impl Proc {
    fn live(&self) -> bool {
        !matches!(self.state, 'Z' | 'X')
    }
}

/// Parses `/proc/PID/stat`: "pid (comm) S ppid ...". The comm may hold spaces and ')'.
pub fn parse_stat(text: &str) -> Option<Proc> {
    let (head, rest) = text.rsplit_once(')')?;
    let (pid, comm) = head.split_once(" (")?;
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    Some(Proc { pid: pid.trim().parse().ok()?, ppid, comm: comm.to_string(), state })
}

/// Every process under `proc_root` (normally /proc). Processes that vanish while being
/// read are skipped.
pub fn processes(proc_root: &Path) -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir(proc_root) else { return Vec::new() };
    dir.flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .filter_map(|e| parse_stat(&std::fs::read_to_string(e.path().join("stat")).ok()?))
        .collect()
}

/// Whether `pid` has a child that has not exited yet (a zombie does not count).
pub fn has_live_child(procs: &[Proc], pid: i32) -> bool {
    procs.iter().any(|p| p.ppid == pid && p.live())
}

/// The processes of inner containers: every live descendant of a containerd shim (the
/// shim runs each container's init; `docker exec` processes are its children too). Killing
/// these ends the containers without going through dockerd's API, which would mark them
/// stopped by hand (and `--restart unless-stopped` would then not bring them back).
pub fn inner_container_pids(procs: &[Proc]) -> Vec<i32> {
    let mut out: Vec<i32> = Vec::new();
    let mut frontier: Vec<i32> = procs
        .iter()
        .filter(|p| p.comm.starts_with("containerd-shim") && p.live())
        .map(|p| p.pid)
        .collect();
    while let Some(parent) = frontier.pop() {
        for p in procs.iter().filter(|p| p.ppid == parent && p.live()) {
            if !out.contains(&p.pid) && !p.comm.starts_with("containerd-shim") {
                out.push(p.pid);
                frontier.push(p.pid);
            }
        }
    }
    out.sort_unstable();
    out
}

/// Whether a process with this pid exists.
fn alive(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks for existence.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// The pid files and unix sockets dockerd and its containerd create.
fn state_files(plan: &Plan) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let containerd = plan.exec_root.join("containerd");
    let pidfiles = vec![plan.pidfile.clone(), containerd.join("containerd.pid")];
    let mut sockets = plan.unix_sockets.clone();
    for s in ["containerd.sock", "containerd.sock.ttrpc", "containerd-debug.sock"] {
        sockets.push(containerd.join(s));
    }
    (pidfiles, sockets)
}

/// Removes pid files and sockets a previous dockerd/containerd left. As PID 1 of a fresh
/// PID namespace everything is stale; otherwise only dead pids and refused sockets.
pub fn remove_stale(plan: &Plan, pid1: bool) {
    let (pidfiles, sockets) = state_files(plan);
    for f in &pidfiles {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        let pid: i32 = text.trim().parse().unwrap_or(0);
        if !pid1 && alive(pid) {
            log::warn!(
                "stale state: {} names pid {pid}, which is running: leaving it",
                f.display()
            );
            continue;
        }
        match crate::sys::remove_file(f) {
            Ok(_) => log::info!(
                "stale state: removed pid file {} (pid {pid} from a previous run)",
                f.display()
            ),
            Err(e) => log::warn!("stale state: {e}"),
        }
    }
    for s in &sockets {
        if s.symlink_metadata().is_err() {
            continue;
        }
        if !pid1 && std::os::unix::net::UnixStream::connect(s).is_ok() {
            log::warn!(
                "stale state: {} answers: another daemon is running there; leaving it",
                s.display()
            );
            continue;
        }
        match crate::sys::remove_file(s) {
            Ok(_) => log::info!("stale state: removed socket {}", s.display()),
            Err(e) => log::warn!("stale state: {e}"),
        }
    }
}

/// After dind-init ended dockerd's final wait: removes the files dockerd would have removed
/// in that last second, so nothing looks stale afterwards.
pub fn remove_left_behind(plan: &Plan) {
    let (pidfiles, sockets) = state_files(plan);
    for f in pidfiles.iter().chain(sockets.iter()) {
        if let Ok(true) = crate::sys::remove_file(f) {
            log::debug!("shutdown: removed {}", f.display());
        }
    }
}

/// The Docker engine the image has, from dpkg's status file (reading it costs nothing;
/// `dockerd --version` costs 0.3 to 1.3 s): package, version, major version.
pub fn engine_version(dpkg_status: &str) -> Option<(String, String, u32)> {
    for para in dpkg_status.split("\n\n") {
        let field = |name: &str| {
            para.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string())
        };
        let Some(pkg) = field("Package:") else { continue };
        if !["docker.io", "docker-ce", "moby-engine", "docker-engine"].contains(&pkg.as_str()) {
            continue;
        }
        if !field("Status:").is_some_and(|st| st.ends_with(" installed")) {
            continue;
        }
        let version = field("Version:")?;
        let upstream = version.split_once(':').map_or(version.as_str(), |(_, v)| v);
        let major = upstream.split('.').next()?.parse().ok()?;
        return Some((pkg, version, major));
    }
    None
}

/// Whether dockerd stores images in containerd (`containerd-snapshotter`): set by flag or in
/// daemon.json, or the engine's default from Docker 29 on.
pub fn containerd_image_store(
    args: &[String],
    daemon_json: &DaemonJson,
    engine_major: Option<u32>,
) -> bool {
    let flags = super::plan::flag_values(args, "--feature", None);
    if let Some(v) = flags.iter().rev().find_map(|f| f.strip_prefix("containerd-snapshotter")) {
        return v.is_empty() || v == "=true";
    }
    daemon_json
        .feature("containerd-snapshotter")
        .unwrap_or_else(|| engine_major.is_some_and(|m| m >= 29))
}

/// Warns when the data root sits on overlayfs, where dockerd cannot stack overlay2: with the
/// classic image store it falls back to the slow vfs driver; with the containerd image store
/// there is no fallback and every `docker run` fails.
pub fn check_storage(plan: &Plan, daemon_json: &DaemonJson, engine_major: Option<u32>) {
    let chosen = super::plan::has_flag(&plan.args, "--storage-driver")
        || super::plan::has_flag(&plan.args, "-s")
        || daemon_json.has("storage-driver");
    if chosen || crate::sys::fs_magic(&plan.data_root) != Some(crate::sys::OVERLAYFS_SUPER_MAGIC) {
        return;
    }
    let d = plan.data_root.display();
    let fix = format!(
        "mount a volume at {d} (docker run -v dind-data:{d} ..., or an emptyDir in Kubernetes)"
    );
    if containerd_image_store(&plan.args, daemon_json, engine_major) {
        log::warn!(
            "storage: {d} is on overlayfs (the container's own filesystem) and dockerd keeps its \
             images in containerd (containerd-snapshotter), whose overlayfs snapshots cannot stack \
             on it: every docker run will fail (\"failed to mount ... invalid argument\"). Fix: \
             {fix}; or DOCKER_DAEMON_ARGS=--storage-driver=native (slow: full copies)"
        );
    } else {
        log::warn!(
            "storage: {d} is on overlayfs (the container's own filesystem): dockerd cannot stack \
             overlay2 on it and will fall back to the slow vfs driver (every layer a full copy). \
             Fix: {fix}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::TempDir;

    fn p(pid: i32, ppid: i32, comm: &str, state: char) -> Proc {
        Proc { pid, ppid, comm: comm.into(), state }
    }

    #[test]
    fn stat_lines() {
        let s = "42 (my (odd) name) S 7 42 42 0 -1 4194560 ...";
        assert_eq!(parse_stat(s), Some(p(42, 7, "my (odd) name", 'S')));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) "), None);
    }

    #[test]
    fn a_zombie_is_no_live_child() {
        let t = [p(1, 0, "dind-init", 'S'), p(7, 1, "dockerd", 'S'), p(9, 7, "containerd", 'Z')];
        assert!(!has_live_child(&t, 7));
        let t = [p(7, 1, "dockerd", 'S'), p(9, 7, "containerd", 'S')];
        assert!(has_live_child(&t, 7));
    }

    #[test]
    fn inner_containers_are_the_shims_descendants() {
        let t = [
            p(1, 0, "dind-init", 'S'),
            p(7, 1, "dockerd", 'S'),
            p(8, 7, "containerd", 'S'),
            p(20, 1, "containerd-shim", 'S'),
            p(21, 20, "sleep", 'S'),
            p(22, 21, "sh", 'S'),
            p(23, 20, "sh", 'Z'),
            p(30, 1, "containerd-shim", 'S'),
            p(31, 30, "postgres", 'S'),
            p(40, 1, "mvn", 'S'),
        ];
        assert_eq!(inner_container_pids(&t), vec![21, 22, 31]);
        assert!(inner_container_pids(&t[..3]).is_empty());
    }

    #[test]
    fn processes_from_a_proc_fixture() {
        let d = TempDir::new("proc");
        for (pid, stat) in
            [("1", "1 (dind-init) S 0 1 1"), ("12", "12 (dockerd) S 1 12 12"), ("self", "x")]
        {
            std::fs::create_dir_all(d.path().join(pid)).unwrap();
            std::fs::write(d.path().join(pid).join("stat"), stat).unwrap();
        }
        std::fs::create_dir_all(d.path().join("99")).unwrap(); // vanished: no stat
        let mut ps = processes(d.path());
        ps.sort_by_key(|p| p.pid);
        assert_eq!(ps, vec![p(1, 0, "dind-init", 'S'), p(12, 1, "dockerd", 'S')]);
        assert!(has_live_child(&ps, 1));
    }

    #[test]
    fn live_children_of_this_process() {
        let me = std::process::id() as i32;
        let mut child = std::process::Command::new("sleep").arg("30").spawn().expect("sleep");
        let pid = child.id() as i32;
        let mine = |ps: Vec<Proc>| ps.into_iter().filter(|p| p.pid == pid).collect::<Vec<_>>();
        let seen = mine(processes(Path::new("/proc")));
        assert!(seen.len() == 1 && seen[0].ppid == me && has_live_child(&seen, me), "{seen:?}");
        child.kill().expect("kill");
        child.wait().expect("wait");
        assert!(!has_live_child(&mine(processes(Path::new("/proc"))), me));
    }

    #[test]
    fn the_engine_from_dpkg() {
        let status = "Package: containerd\nStatus: install ok installed\nVersion: 1.7.24~ds1-6\n\n\
                      Package: docker.io\nStatus: install ok installed\nVersion: 26.1.5+dfsg1-9+deb13u1+b1\n\n\
                      Package: runc\nVersion: 1.1.15\n";
        assert_eq!(
            engine_version(status),
            Some(("docker.io".into(), "26.1.5+dfsg1-9+deb13u1+b1".into(), 26))
        );
        let ce = "Package: docker-ce\nStatus: install ok installed\nVersion: 5:27.3.1-1~debian.12~bookworm\n";
        assert_eq!(engine_version(ce).map(|e| e.2), Some(27));
        let removed = "Package: docker.io\nStatus: deinstall ok config-files\nVersion: 20.10.24\n";
        assert_eq!(engine_version(removed), None);
        assert_eq!(engine_version(""), None);
    }

    #[test]
    fn containerd_image_store_by_flag_file_or_version() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let none = DaemonJson::default();
        assert!(!containerd_image_store(&a(&[]), &none, Some(28)));
        assert!(containerd_image_store(&a(&[]), &none, Some(29)));
        assert!(containerd_image_store(
            &a(&["--feature", "containerd-snapshotter"]),
            &none,
            Some(26)
        ));
        assert!(!containerd_image_store(
            &a(&["--feature=containerd-snapshotter=false"]),
            &none,
            Some(29)
        ));
        let j = |t: &str| DaemonJson::parse(t).unwrap();
        let on = j(r#"{"features": {"containerd-snapshotter": true}}"#);
        let off = j(r#"{"features": {"containerd-snapshotter": false}}"#);
        assert!(containerd_image_store(&a(&[]), &on, Some(26)));
        assert!(!containerd_image_store(&a(&[]), &off, Some(29)));
    }

    #[test]
    fn containerd_snapshotter_counts_only_in_the_features_object_last_one_winning() {
        let a: Vec<String> = Vec::new();
        let j = |t: &str| DaemonJson::parse(t).unwrap();
        for text in [
            // In a string, in another object, at the top level: not dockerd's feature.
            r#"{"labels": ["\"containerd-snapshotter\": true"]}"#,
            r#"{"log-opts": {"containerd-snapshotter": "true"}}"#,
            r#"{"containerd-snapshotter": true}"#,
            // Go's encoding/json: the last of duplicate keys wins.
            r#"{"features": {"containerd-snapshotter": true, "containerd-snapshotter": false}}"#,
            r#"{"features": {"containerd-snapshotter": true}, "features": {}}"#,
        ] {
            assert!(!containerd_image_store(&a, &j(text), Some(28)), "{text}");
        }
        let last_on = r#"{"features": {"containerd-snapshotter": false}, "features": {"containerd-snapshotter": true}}"#;
        assert!(containerd_image_store(&a, &j(last_on), Some(28)));
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;
        proptest! {
            #![proptest_config(ProptestConfig {
                cases: crate::fuzz_cases(2000), ..ProptestConfig::default()
            })]
            #[test]
            fn parse_stat_never_panics(s in "\\PC{0,60}") { let _ = parse_stat(&s); }
            #[test]
            fn engine_version_never_panics(s in "(Package: docker.io\nStatus: install ok installed\nVersion: )?\\PC{0,30}") {
                let _ = engine_version(&s);
            }
        }
    }
}
