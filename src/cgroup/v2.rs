//! cgroup v2 nesting. On v2 a cgroup cannot both hold processes and hand controllers to
//! children ("no internal processes"), and this container's own cgroup holds us. So, as
//! moby's `hack/dind` does, move every process into a child cgroup, then enable each
//! available controller in `cgroup.subtree_control`, so dockerd can create limited
//! cgroups for its containers below ours.

use super::proc::{path_under_mount, Mount};
use super::CGROUP_ROOT;
use crate::error::{Error, Result};
use crate::sys;
use nix::mount::MsFlags;
use std::path::{Path, PathBuf};

pub fn mount_fresh() -> Result<()> {
    let root = Path::new(CGROUP_ROOT);
    sys::mkdir_p(root)?;
    sys::mount_fs("cgroup2", root, "cgroup2", MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME, None)
        .map_err(|e| Error::Setup(format!("{e}; {}", super::PRIVILEGE_HINT)))?;
    log::info!("cgroups: mounted cgroup2 at {CGROUP_ROOT}");
    Ok(())
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// Nests the processes of the cgroup at `own_path` into `own_path/NAME` and delegates the
/// controllers. Returns what it did, or None when nothing was needed.
pub fn nest(mount: &Mount, own_path: &str, name: &str) -> Result<Option<&'static str>> {
    let dir = path_under_mount(&mount.mount_point, &mount.root, own_path).ok_or_else(|| {
        Error::Setup(format!(
            "own cgroup {own_path} is not visible under {} (mounted from {}); mount cgroup2 so the container's cgroup is visible",
            mount.mount_point.display(),
            mount.root
        ))
    })?;
    nest_dir(&dir, name)
}

/// The same on a directory, so tests can run it on a scratch cgroup.
pub fn nest_dir(dir: &Path, name: &str) -> Result<Option<&'static str>> {
    let type_file = dir.join("cgroup.type");
    if let Ok(t) = std::fs::read_to_string(&type_file) {
        let t = t.trim();
        if t != "domain" {
            return Err(Error::Setup(format!(
                "the container's cgroup {} is in {t} mode (see {}); dockerd needs a domain cgroup to delegate \
                 controllers. This happens when a parent enabled threaded controllers: start the container in \
                 a normal domain cgroup",
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
    let mut moved = 0usize;
    if !sys::read(&procs_file)?.trim().is_empty() {
        let child = dir.join(name);
        match std::fs::create_dir(&child) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(crate::error::io_err("cannot create cgroup", &child, e)),
        }
        let target = child.join("cgroup.procs");
        // New processes can appear while we move (a forking process); retry until empty.
        let mut rounds = 0;
        loop {
            let pids = words(&sys::read(&procs_file)?);
            if pids.is_empty() {
                break;
            }
            rounds += 1;
            if rounds > 100 {
                return Err(Error::Setup(format!("cannot empty {}: processes keep appearing", procs_file.display())));
            }
            for pid in pids {
                match sys::write(&target, &pid) {
                    Ok(()) => moved += 1,
                    // The process exited meanwhile: fine.
                    Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                    Err(e) => {
                        return Err(Error::Setup(format!("cannot move pid {pid} into {}: {e}", target.display())));
                    }
                }
            }
        }
        log::info!("cgroups: moved {moved} process(es) from {} into {}", dir.display(), child.display());
    }
    let ctl = dir.join("cgroup.subtree_control");
    let mut failed = Vec::new();
    for c in controllers.iter().filter(|c| !enabled.contains(c)) {
        if let Err(e) = sys::write(&ctl, &format!("+{c}")) {
            failed.push(format!("{c} ({e})"));
        }
    }
    if !failed.is_empty() {
        log::warn!("cgroups: could not enable in {}: {}; limits using them will not work for inner containers", ctl.display(), failed.join(", "));
        if failed.len() == controllers.len() {
            return Err(Error::Setup(format!("cannot enable any controller in {}: {}", ctl.display(), failed.join(", "))));
        }
    }
    let now = sys::read(&ctl).unwrap_or_default();
    log::info!("cgroups: {} delegates: {}", dir.display(), now.trim());
    Ok(Some(if moved > 0 { "nested processes and delegated controllers" } else { "delegated controllers" }))
}

/// Where the process's own v2 cgroup directory is, when /sys/fs/cgroup is cgroup2.
pub fn own_dir(mount: &Mount, own_path: &str) -> Option<PathBuf> {
    path_under_mount(&mount.mount_point, &mount.root, own_path)
}
