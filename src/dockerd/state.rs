//! What dockerd leaves on disk: the pid files and sockets of a previous run (removed before
//! start, so `docker restart` of the outer container just works), and the storage check.
//! The process table (is dockerd's containerd still alive? which processes are inner
//! containers?) is `procs`.

use super::daemon_json::DaemonJson;
use super::plan::Plan;
use std::path::PathBuf;

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

/// Removes pid files and sockets a previous dockerd/containerd left, once
/// `owner::check_sockets` found no other daemon serving our sockets: sockets only when they
/// refuse connections; pid files as PID 1 of a fresh PID namespace, otherwise only dead pids.
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
            Ok(_) => crate::event!(
                Info,
                "stale",
                { kind = "pidfile", path = f.display().to_string() },
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
        // Only a socket that refuses connections is stale (owner::check_sockets stopped the
        // start for a live or mounted one); even as PID 1, nothing else is removed.
        if !super::owner::provably_stale(s) {
            log::warn!("stale state: {} is not provably stale: leaving it", s.display());
            continue;
        }
        match crate::sys::remove_file(s) {
            Ok(_) => crate::event!(
                Info,
                "stale",
                { kind = "socket", path = s.display().to_string() },
                "stale state: removed socket {}",
                s.display()
            ),
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

/// containerd's package and major version from dpkg's status file (`containerd`, Debian's,
/// or `containerd.io`, Docker's): which config version it reads.
pub fn containerd_version(dpkg_status: &str) -> Option<(String, u32)> {
    for para in dpkg_status.split("\n\n") {
        let field = |name: &str| {
            para.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string())
        };
        let Some(pkg) = field("Package:") else { continue };
        if !["containerd", "containerd.io"].contains(&pkg.as_str()) {
            continue;
        }
        if !field("Status:").is_some_and(|st| st.ends_with(" installed")) {
            continue;
        }
        let version = field("Version:")?;
        let upstream = version.split_once(':').map_or(version.as_str(), |(_, v)| v);
        return Some((version.clone(), upstream.split('.').next()?.parse().ok()?));
    }
    None
}

/// containerd's major version from `containerd --version` (`containerd
/// github.com/containerd/containerd/v2 v2.1.4 ...`, `containerd containerd.io 1.7.27 ...`).
pub fn containerd_version_output(text: &str) -> Option<u32> {
    let v = text.split_whitespace().nth(2)?;
    v.strip_prefix('v').unwrap_or(v).split('.').next()?.parse().ok()
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
    fn containerd_from_dpkg_or_its_version_output() {
        let sid = "Package: containerd\nStatus: install ok installed\nVersion: 2.1.4~ds1-1\n\n\
                   Package: docker.io\nStatus: install ok installed\nVersion: 28.5.2\n";
        assert_eq!(containerd_version(sid), Some(("2.1.4~ds1-1".into(), 2)));
        let ce = "Package: containerd.io\nStatus: install ok installed\nVersion: 1.7.27-1\n";
        assert_eq!(containerd_version(ce).map(|c| c.1), Some(1));
        let gone = "Package: containerd\nStatus: deinstall ok config-files\nVersion: 2.0.0\n";
        assert_eq!(containerd_version(gone), None);
        assert_eq!(containerd_version("Package: containerd-shim\nVersion: 2\n"), None);
        let v2 = "containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7193e4e490e9fbdc236c0e811ccaba3376\n";
        assert_eq!(containerd_version_output(v2), Some(2));
        let v1 = "containerd containerd.io 1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da\n";
        assert_eq!(containerd_version_output(v1), Some(1));
        assert_eq!(containerd_version_output("garbage"), None);
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
            fn engine_version_never_panics(s in "(Package: docker.io\nStatus: install ok installed\nVersion: )?\\PC{0,30}") {
                let _ = engine_version(&s);
            }
        }
    }
}
