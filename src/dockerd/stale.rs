//! What dockerd leaves on disk: the pid files and sockets of a previous run, removed before
//! start (so `docker restart` of the outer container just works), and the files dockerd would
//! have removed in the last second of its shutdown when dind-init ended that wait.

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
