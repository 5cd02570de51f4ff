//! cgroup v2 nesting. On v2 a cgroup cannot both hold processes and hand controllers to
//! children ("no internal processes"), and this container's own cgroup holds us. So, as
//! moby's `hack/dind` does, move every process into a child cgroup, then enable each
//! available controller in `cgroup.subtree_control`, so dockerd can create limited
//! cgroups for its containers below ours. Only when the cgroup is this container's: run
//! from a login session (`sudo dind-init -- make` on a systemd host) it must not move the
//! session's processes nor write a cgroup it was never delegated.

use super::proc::{path_under_mount, Mount};
use super::CGROUP_ROOT;
use crate::error::{Error, PathError, Result};
use crate::sys;
use nix::mount::MsFlags;
use std::path::Path;

pub fn mount_fresh() -> Result<()> {
    let root = Path::new(CGROUP_ROOT);
    sys::mkdir_p(root)?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME;
    sys::mount_fs("cgroup2", root, "cgroup2", flags, None)
        .map_err(|e| Error::Setup(format!("{e}; {}", super::PRIVILEGE_HINT)))?;
    log::info!("cgroups: mounted cgroup2 at {CGROUP_ROOT}");
    Ok(())
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// Whose processes a cgroup holds, from its `cgroup.procs` as this process sees it.
#[derive(Debug, PartialEq, Eq)]
pub enum Owner {
    /// Only dind-init itself.
    OnlyUs,
    /// PID 1 of this PID namespace and its processes (dind-init as PID 1, or under an init
    /// like `docker run --init`): the container's.
    OurNamespace,
    /// Some process lives in another PID namespace (it reads as pid 0).
    OtherNamespace,
    /// Processes of this namespace that are not the container's (a login session).
    Others(Vec<String>),
}

/// Decides whose processes `procs` (the pids in `cgroup.procs`) are, for dind-init as `me`.
pub fn owner(procs: &[String], me: u32) -> Owner {
    let me = me.to_string();
    if procs.iter().any(|p| p == "0") {
        Owner::OtherNamespace
    } else if procs.iter().all(|p| *p == me) {
        Owner::OnlyUs
    } else if procs.iter().any(|p| p == "1") {
        Owner::OurNamespace
    } else {
        Owner::Others(procs.iter().filter(|p| **p != me).cloned().collect())
    }
}

/// Nests the processes of the cgroup at `own_path` into `own_path/NAME` and delegates the
/// controllers. Returns what it did, or None when nothing was needed or allowed.
pub fn nest(mount: &Mount, own_path: &str, name: &str) -> Result<Option<String>> {
    let dir = path_under_mount(&mount.mount_point, &mount.root, own_path).ok_or_else(|| {
        Error::Setup(format!(
            "own cgroup {own_path} is not visible under {} (mounted from {}); mount cgroup2 so \
             the container's cgroup is visible",
            mount.mount_point.display(),
            mount.root
        ))
    })?;
    let type_file = dir.join("cgroup.type");
    if let Ok(t) = std::fs::read_to_string(&type_file) {
        let t = t.trim();
        if t != "domain" {
            return Err(Error::Setup(format!(
                "the container's cgroup {} is in {t} mode (see {}); dockerd needs a domain cgroup \
                 to delegate controllers. This happens when a parent enabled threaded \
                 controllers: start the container in a normal domain cgroup",
                dir.display(),
                type_file.display()
            )));
        }
    }
    let controllers = words(&sys::read(&dir.join("cgroup.controllers"))?);
    let enabled = words(&sys::read(&dir.join("cgroup.subtree_control"))?);
    if controllers.iter().all(|c| enabled.contains(c)) {
        log::debug!("cgroups: {} already delegates {}", dir.display(), enabled.join(" "));
        return Ok(None);
    }
    let procs_file = dir.join("cgroup.procs");
    let procs = words(&sys::read(&procs_file)?);
    let whose = match owner(&procs, std::process::id()) {
        Owner::OnlyUs => "it holds only dind-init",
        Owner::OurNamespace => "it holds PID 1 of this PID namespace and its processes",
        Owner::OtherNamespace => {
            log::warn!(
                "cgroups: not nesting: {} also holds processes of another PID namespace (this is \
                 not a container's own cgroup); inner containers get no cgroup v2 limits",
                dir.display()
            );
            return Ok(None);
        }
        Owner::Others(pids) => {
            log::warn!(
                "cgroups: not nesting: {} also holds processes that are not this container's \
                 (pids {}; a login session?); dind-init moves nothing and writes no \
                 subtree_control there; inner containers get no cgroup v2 limits",
                dir.display(),
                pids.join(" ")
            );
            return Ok(None);
        }
    };
    log::info!("cgroups: nesting {} ({whose})", dir.display());
    let mut moved = 0usize;
    if !procs.is_empty() {
        let child = dir.join(name);
        match std::fs::create_dir(&child) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(PathError::new("create cgroup", &child, e).into()),
        }
        let target = child.join("cgroup.procs");
        // New processes can appear while we move (`docker exec`); retry until empty.
        let mut rounds = 0;
        loop {
            let pids = words(&sys::read(&procs_file)?);
            if pids.is_empty() {
                break;
            }
            rounds += 1;
            if rounds > 100 {
                return Err(Error::Setup(format!(
                    "cannot empty {}: processes keep appearing",
                    procs_file.display()
                )));
            }
            for pid in pids {
                match sys::write(&target, &pid) {
                    Ok(()) => moved += 1,
                    // The process exited meanwhile: fine.
                    Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                    Err(e) => return Err(Error::Setup(format!("cannot move pid {pid}: {e}"))),
                }
            }
        }
        log::info!(
            "cgroups: moved {moved} process(es) from {} into {}",
            dir.display(),
            child.display()
        );
    }
    let ctl = dir.join("cgroup.subtree_control");
    let mut failed = Vec::new();
    for c in controllers.iter().filter(|c| !enabled.contains(c)) {
        if let Err(e) = sys::write(&ctl, &format!("+{c}")) {
            failed.push(format!("{c} ({})", e.reason()));
        }
    }
    if !failed.is_empty() {
        log::warn!(
            "cgroups: could not enable in {}: {}; limits using them will not work for inner \
                containers",
            ctl.display(),
            failed.join(", ")
        );
        if failed.len() == controllers.len() {
            return Err(Error::Setup(format!(
                "cannot enable any controller in {}: {}",
                ctl.display(),
                failed.join(", ")
            )));
        }
    }
    let now = sys::read(&ctl).unwrap_or_default();
    log::info!("cgroups: {} delegates: {}", dir.display(), now.trim());
    Ok(Some(
        if moved > 0 {
            "nested processes and delegated controllers"
        } else {
            "delegated controllers"
        }
        .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn whose_processes() {
        // A container's own cgroup: dind-init as PID 1, or alone (a Kubernetes pod with
        // shareProcessNamespace: dind-init is not PID 1, but its cgroup is its own).
        assert_eq!(owner(&v(&["1"]), 1), Owner::OnlyUs);
        assert_eq!(owner(&v(&["57"]), 57), Owner::OnlyUs);
        assert_eq!(owner(&v(&[]), 57), Owner::OnlyUs);
        // Under `docker run --init` (tini is PID 1) or with a `docker exec` running.
        assert_eq!(owner(&v(&["1", "7"]), 7), Owner::OurNamespace);
        assert_eq!(owner(&v(&["1", "33"]), 1), Owner::OurNamespace);
        // `sudo dind-init -- make` in a systemd session scope.
        assert_eq!(owner(&v(&["812", "901", "944"]), 944), Owner::Others(v(&["812", "901"])));
        // A new PID namespace in someone else's cgroup.
        assert_eq!(owner(&v(&["0", "0", "1"]), 1), Owner::OtherNamespace);
    }
}
