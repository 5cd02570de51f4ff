//! Makes the container's cgroups usable by a nested dockerd, whatever the host gave us:
//! nothing mounted (mount it all), mounted read-only (remount read-write), cgroup v2 with
//! processes in the container's own cgroup (nest them into a child so controllers can be
//! delegated). It also works out the cgroup parent that keeps the inner daemon's
//! containers *inside* this container's cgroup, so the outer container's limits hold.

pub mod proc;
pub mod v1;
pub mod v2;

use crate::error::{Error, Result};
use proc::{CgroupEntry, Layout, Mount};
use std::path::Path;
use std::time::Instant;

pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// What the set-up found and did.
#[derive(Debug, Clone)]
pub struct Report {
    pub layout: Layout,
    /// This container's own cgroup path as /proc/self/cgroup shows it, before nesting.
    pub own_path: Option<String>,
    /// The same path as runc inside will see it through /sys/fs/cgroup (a bind mount of the
    /// container's own cgroup makes it `/`). This is what `--cgroup-parent` is built from.
    pub visible_path: Option<String>,
}

/// The own path as seen through the mount of the hierarchy runc resolves it in.
pub fn visible_own_path(layout: Layout, own: Option<&str>, mounts: &[Mount]) -> Option<String> {
    let own = own?;
    let cg = cgroup_mounts(mounts);
    let m = match layout {
        Layout::V2 => cg.iter().find(|m| m.fs_type == "cgroup2" && m.mount_point == Path::new(CGROUP_ROOT)),
        Layout::V1 { .. } => cg
            .iter()
            .find(|m| m.fs_type == "cgroup" && m.super_options.iter().any(|o| o == "memory"))
            .or_else(|| cg.iter().find(|m| m.fs_type == "cgroup" && !m.super_options.iter().any(|o| o.starts_with("name=")))),
    };
    Some(match m {
        Some(m) => proc::visible_path(own, &m.root),
        None => own.to_string(),
    })
}

pub fn read_mounts() -> Result<Vec<Mount>> {
    Ok(proc::parse_mountinfo(&crate::sys::read(Path::new("/proc/self/mountinfo"))?))
}

pub fn read_entries() -> Result<Vec<CgroupEntry>> {
    Ok(proc::parse_cgroup(&crate::sys::read(Path::new("/proc/self/cgroup"))?))
}

/// cgroup and cgroup2 mounts at or below /sys/fs/cgroup.
pub fn cgroup_mounts(mounts: &[Mount]) -> Vec<&Mount> {
    let root = Path::new(CGROUP_ROOT);
    mounts.iter().filter(|m| (m.fs_type == "cgroup" || m.fs_type == "cgroup2") && m.mount_point.starts_with(root)).collect()
}

/// The hint every privilege failure ends with.
pub const PRIVILEGE_HINT: &str = "run the container with --privileged (Kubernetes: securityContext.privileged: true), \
     or at least with --cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt apparmor=unconfined";

pub fn setup(nest_name: &str) -> Result<Report> {
    let t = Instant::now();
    let entries = read_entries()?;
    let layout = proc::layout_from_cgroup(&entries);
    let own_path = proc::own_cgroup_path(&entries);
    let mut mounts = read_mounts()?;
    let mut actions = Vec::new();

    if cgroup_mounts(&mounts).is_empty() {
        match layout {
            Layout::V2 => v2::mount_fresh()?,
            Layout::V1 { .. } => v1::mount_fresh(&entries, &mounts)?,
        }
        actions.push("mounted fresh hierarchies");
        mounts = read_mounts()?;
    } else {
        let n = remount_read_write(&mounts)?;
        if n > 0 {
            actions.push("remounted read-write");
            mounts = read_mounts()?;
        }
        if let Layout::V1 { .. } = layout {
            if v1::mount_missing(&entries, &mounts) > 0 {
                actions.push("mounted missing hierarchies");
                mounts = read_mounts()?;
            }
        }
    }
    let cg = cgroup_mounts(&mounts);
    if cg.is_empty() {
        return Err(Error::Setup(format!("no cgroup filesystem is mounted at {CGROUP_ROOT} and none could be mounted")));
    }
    if layout == Layout::V2 {
        let m = cg
            .iter()
            .find(|m| m.fs_type == "cgroup2" && m.mount_point == Path::new(CGROUP_ROOT))
            .ok_or_else(|| Error::Setup(format!("this host uses cgroup v2 only, but {CGROUP_ROOT} is not a cgroup2 mount")))?;
        let path = own_path.clone().unwrap_or_else(|| "/".into());
        if let Some(what) = v2::nest(m, &path, nest_name)? {
            actions.push(what);
        }
    }
    let visible_path = visible_own_path(layout, own_path.as_deref(), &mounts);
    let kind = match layout {
        Layout::V2 => "v2 (unified)",
        Layout::V1 { unified: true } => "hybrid (v1 controllers + cgroup2 at unified)",
        Layout::V1 { unified: false } => "v1",
    };
    log::info!(
        "cgroups: {kind}, own cgroup {} (seen as {}), {}, {:.1} ms",
        own_path.as_deref().unwrap_or("?"),
        visible_path.as_deref().unwrap_or("?"),
        if actions.is_empty() { "nothing to change".to_string() } else { actions.join(", ") },
        t.elapsed().as_secs_f64() * 1000.0
    );
    Ok(Report { layout, own_path, visible_path })
}

/// Remounts read-only cgroup mounts (and the tmpfs holding v1 hierarchies) read-write.
fn remount_read_write(mounts: &[Mount]) -> Result<usize> {
    let root = Path::new(CGROUP_ROOT);
    let ro: Vec<&Mount> = mounts.iter().filter(|m| m.mount_point.starts_with(root) && m.read_only()).collect();
    // Only the last mount on a mount point counts (a later mount hides an earlier one).
    let mut done = 0;
    for m in &ro {
        let last = mounts.iter().rev().find(|x| x.mount_point == m.mount_point);
        if last.map(|l| !std::ptr::eq(l, *m)).unwrap_or(true) {
            continue;
        }
        if let Err(e) = crate::sys::remount_rw(&m.mount_point, &m.mount_options) {
            return Err(Error::Setup(format!(
                "cgroups are mounted read-only at {} and cannot be remounted read-write ({}): dockerd needs writable cgroups; {PRIVILEGE_HINT}",
                m.mount_point.display(),
                e.desc()
            )));
        }
        log::info!("cgroups: remounted {} read-write", m.mount_point.display());
        done += 1;
    }
    Ok(done)
}
