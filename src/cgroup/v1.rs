//! cgroup v1 and hybrid hosts: mount what the container lacks. Each hierarchy listed in
//! /proc/self/cgroup gets its own directory (`cpu,cpuacct` with `cpu` and `cpuacct`
//! symlinks, `systemd` for `name=systemd`), and on a hybrid host the unified hierarchy goes
//! to `unified`, which wrapdocker forgets.

use super::proc::{CgroupEntry, Mount};
use super::CGROUP_ROOT;
use crate::error::{PathError, Result};
use crate::sys;
use nix::mount::MsFlags;
use std::path::Path;

fn fs_flags() -> MsFlags {
    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME
}

/// Nothing is mounted: a tmpfs at /sys/fs/cgroup (unless one is there, e.g. `--tmpfs`),
/// then every hierarchy. Failures here are fatal: without cgroups dockerd cannot start.
pub fn mount_fresh(entries: &[CgroupEntry], mounts: &[Mount]) -> Result<()> {
    let root = Path::new(CGROUP_ROOT);
    sys::mkdir_p(root)?;
    if !mounts.iter().any(|m| m.mount_point == root) {
        sys::mount_fs("tmpfs", root, "tmpfs", fs_flags(), Some("mode=755"))
            .map_err(|e| crate::error::Error::Setup(format!("{e}; {}", super::PRIVILEGE_HINT)))?;
    }
    for e in entries {
        mount_one(e).map_err(|err| {
            crate::error::Error::Setup(format!("{err}; {}", super::PRIVILEGE_HINT))
        })?;
    }
    Ok(())
}

/// Some hierarchies are mounted: add those that are missing (e.g. `name=systemd`, or the
/// unified one on a hybrid host). Failures only warn: dockerd may manage without them.
///
/// When the runtime bound only the container's own cgroup at each v1 mount point (Docker
/// does), the unified hierarchy must show the same: only our own subtree. A whole-hierarchy
/// cgroup2 mount would put the inner containers beside the outer one in the unified tree.
pub fn mount_missing(entries: &[CgroupEntry], mounts: &[Mount]) -> usize {
    let root = Path::new(CGROUP_ROOT);
    let v1_bound = mounts
        .iter()
        .any(|m| m.fs_type == "cgroup" && m.mount_point.starts_with(root) && m.root != "/");
    let subtree = if v1_bound {
        entries.iter().find(|e| e.is_unified()).map(|e| e.path.clone()).filter(|p| p != "/")
    } else {
        None
    };
    let mut n = 0;
    for e in entries {
        if is_mounted(e, mounts) {
            continue;
        }
        let r = match (&subtree, e.is_unified()) {
            (Some(p), true) => mount_unified_subtree(p),
            _ => mount_one(e),
        };
        match r {
            Ok(()) => n += 1,
            Err(err) => log::warn!("cgroups: {err}"),
        }
    }
    n
}

/// cgroup2 at `unified`, showing only the subtree `path` (our own cgroup): mount the whole
/// hierarchy on a scratch directory, bind the subtree, detach the scratch mount.
fn mount_unified_subtree(path: &str) -> Result<()> {
    let scratch = Path::new("/run/dind-init/cgroup2");
    let dir = Path::new(CGROUP_ROOT).join("unified");
    sys::mkdir_p(scratch)?;
    sys::mkdir_p(&dir)?;
    sys::mount_fs("cgroup2", scratch, "cgroup2", fs_flags(), None)?;
    let src = scratch.join(path.trim_start_matches('/'));
    let bound = nix::mount::mount(Some(&src), &dir, None::<&str>, MsFlags::MS_BIND, None::<&str>);
    let _ = nix::mount::umount2(scratch, nix::mount::MntFlags::MNT_DETACH);
    let _ = std::fs::remove_dir(scratch);
    bound.map_err(|e| PathError::new(format!("bind {} on", src.display()), &dir, e))?;
    log::info!(
        "cgroups: mounted cgroup2 at {} showing only this container's cgroup {path}, like \
        the v1 hierarchies",
        dir.display()
    );
    Ok(())
}

fn is_mounted(e: &CgroupEntry, mounts: &[Mount]) -> bool {
    let root = Path::new(CGROUP_ROOT);
    mounts.iter().filter(|m| m.mount_point.starts_with(root)).any(|m| {
        if e.is_unified() {
            m.fs_type == "cgroup2"
        } else {
            m.fs_type == "cgroup"
                && e.controllers.iter().all(|c| m.super_options.iter().any(|o| o == c))
        }
    })
}

fn mount_one(e: &CgroupEntry) -> Result<()> {
    let root = Path::new(CGROUP_ROOT);
    if e.is_unified() {
        let dir = root.join("unified");
        sys::mkdir_p(&dir)?;
        sys::mount_fs("cgroup2", &dir, "cgroup2", fs_flags(), None)?;
        log::info!("cgroups: mounted cgroup2 at {}", dir.display());
        return Ok(());
    }
    if e.controllers.is_empty() {
        return Ok(());
    }
    let name = e.mount_dir();
    let dir = root.join(&name);
    sys::mkdir_p(&dir)?;
    let opts = if e.controllers.iter().any(|c| c.starts_with("name=")) {
        format!("none,{}", e.controllers.join(","))
    } else {
        e.controllers.join(",")
    };
    sys::mount_fs("cgroup", &dir, "cgroup", fs_flags(), Some(&opts))?;
    // Co-mounted controllers: each name points at the shared directory, as systemd does.
    if e.controllers.len() > 1 {
        for c in &e.controllers {
            let c = c.strip_prefix("name=").unwrap_or(c);
            let link = root.join(c);
            if link.symlink_metadata().is_err() {
                if let Err(err) = std::os::unix::fs::symlink(&name, &link) {
                    log::warn!("cgroups: cannot link {} to {name}: {err}", link.display());
                }
            }
        }
    }
    log::info!("cgroups: mounted {opts} at {}", dir.display());
    Ok(())
}
