//! Makes the container's cgroups usable by a nested dockerd, whatever the host gave us:
//! nothing mounted (mount it all), mounted read-only (remount read-write), cgroup v2 with
//! processes in the container's own cgroup (nest them into a child so controllers can be
//! delegated). It also works out the cgroup parent that keeps the inner daemon's
//! containers *inside* this container's cgroup, so the outer container's limits hold.

pub(crate) mod proc;
pub(crate) mod v1;
pub(crate) mod v2;

use crate::error::{Error, Result};
use proc::{CgroupEntry, Layout, Mount};
use std::path::Path;
use std::time::Instant;

pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The own path as seen through the mount of the hierarchy runc resolves it in.
pub fn visible_own_path(layout: Layout, own: Option<&str>, mounts: &[Mount]) -> Option<String> {
    let own = own?;
    let cg = cgroup_mounts(mounts);
    let m = match layout {
        Layout::V2 => {
            cg.iter().find(|m| m.fs_type == "cgroup2" && m.mount_point == Path::new(CGROUP_ROOT))
        }
        Layout::V1 { .. } => cg
            .iter()
            .find(|m| m.fs_type == "cgroup" && m.super_options.iter().any(|o| o == "memory"))
            .or_else(|| {
                cg.iter().find(|m| {
                    m.fs_type == "cgroup" && !m.super_options.iter().any(|o| o.starts_with("name="))
                })
            }),
    };
    Some(match m {
        Some(m) => proc::visible_path(own, &m.root),
        None => own.to_string(),
    })
}

pub fn read_mounts() -> Result<Vec<Mount>> {
    Ok(proc::parse_mountinfo(&crate::sys::read(Path::new("/proc/self/mountinfo"))?))
}

fn read_entries() -> Result<Vec<CgroupEntry>> {
    Ok(proc::parse_cgroup(&crate::sys::read(Path::new("/proc/self/cgroup"))?))
}

/// This container's cgroup as runc inside will see it, without changing anything (for
/// `--no-cgroup-setup`, or when not root).
pub fn own_visible_path() -> Option<String> {
    let entries = read_entries().ok()?;
    let own = proc::own_cgroup_path(&entries);
    visible_own_path(proc::layout_from_cgroup(&entries), own.as_deref(), &read_mounts().ok()?)
}

/// cgroup and cgroup2 mounts at or below /sys/fs/cgroup.
pub fn cgroup_mounts(mounts: &[Mount]) -> Vec<&Mount> {
    let root = Path::new(CGROUP_ROOT);
    mounts
        .iter()
        .filter(|m| {
            (m.fs_type == "cgroup" || m.fs_type == "cgroup2") && m.mount_point.starts_with(root)
        })
        .collect()
}

/// The hint every privilege failure ends with.
pub const PRIVILEGE_HINT: &str = "run the container with --privileged (Kubernetes: \
     securityContext.privileged: true), or at least with --cap-add SYS_ADMIN --security-opt \
     seccomp=unconfined --security-opt apparmor=unconfined";

/// Makes the cgroups usable; returns this container's cgroup as runc inside will see it
/// (what `--cgroup-parent` is built from).
pub fn setup(nest_name: &str) -> Result<Option<String>> {
    let t = Instant::now();
    let entries = read_entries()?;
    let layout = proc::layout_from_cgroup(&entries);
    let own_path = proc::own_cgroup_path(&entries);
    let mut mounts = read_mounts()?;
    let mut actions: Vec<String> = Vec::new();

    if cgroup_mounts(&mounts).is_empty() {
        match layout {
            Layout::V2 => v2::mount_fresh()?,
            Layout::V1 { .. } => v1::mount_fresh(&entries, &mounts)?,
        }
        actions.push("mounted fresh hierarchies".into());
        mounts = read_mounts()?;
    } else {
        let n = remount_read_write(&mounts)?;
        if n > 0 {
            actions.push("remounted read-write".into());
            mounts = read_mounts()?;
        }
        if let Layout::V1 { .. } = layout {
            if v1::mount_missing(&entries, &mounts) > 0 {
                actions.push("mounted missing hierarchies".into());
                mounts = read_mounts()?;
            }
        }
    }
    let cg = cgroup_mounts(&mounts);
    if cg.is_empty() {
        return Err(Error::Setup(format!(
            "no cgroup filesystem is mounted at {CGROUP_ROOT} and none could be mounted"
        )));
    }
    if layout == Layout::V2 {
        let m = cg
            .iter()
            .find(|m| m.fs_type == "cgroup2" && m.mount_point == Path::new(CGROUP_ROOT))
            .ok_or_else(|| {
                Error::Setup(format!(
                    "this host uses cgroup v2 only, but {CGROUP_ROOT} is not a cgroup2 mount"
                ))
            })?;
        let path = own_path.clone().unwrap_or_else(|| "/".into());
        if let Some(what) = v2::nest(m, &path, nest_name)? {
            actions.push(what);
        }
    }
    let visible_path = visible_own_path(layout, own_path.as_deref(), &mounts);
    let (mode, kind) = match layout {
        Layout::V2 => ("v2", "v2 (unified)"),
        Layout::V1 { unified: true } => ("hybrid", "hybrid (v1 controllers + cgroup2 at unified)"),
        Layout::V1 { unified: false } => ("v1", "v1"),
    };
    let ms = crate::events::Dec(t.elapsed().as_secs_f64() * 1000.0);
    crate::event!(
        Info,
        "cgroups",
        {
            mode = mode,
            own = own_path.as_deref().unwrap_or(""),
            visible = visible_path.as_deref().unwrap_or(""),
            ms = ms,
        },
        "cgroups: {kind}, own cgroup {} (seen as {}), {}, {ms:.1} ms",
        own_path.as_deref().unwrap_or("?"),
        visible_path.as_deref().unwrap_or("?"),
        if actions.is_empty() { "nothing to change".to_string() } else { actions.join(", ") },
    );
    Ok(visible_path)
}

/// Remounts read-only cgroup mounts (and the tmpfs holding v1 hierarchies) read-write.
fn remount_read_write(mounts: &[Mount]) -> Result<usize> {
    let root = Path::new(CGROUP_ROOT);
    let ro: Vec<&Mount> =
        mounts.iter().filter(|m| m.mount_point.starts_with(root) && m.read_only()).collect();
    // Only the last mount on a mount point counts (a later mount hides an earlier one).
    let mut done = 0;
    for m in &ro {
        let last = mounts.iter().rev().find(|x| x.mount_point == m.mount_point);
        if last.map(|l| !std::ptr::eq(l, *m)).unwrap_or(true) {
            continue;
        }
        if let Err(e) = crate::sys::remount_rw(&m.mount_point, &m.mount_options) {
            return Err(Error::Setup(format!(
                "cgroups are mounted read-only at {} and cannot be remounted read-write ({}): \
                    dockerd needs writable cgroups; {PRIVILEGE_HINT}",
                m.mount_point.display(),
                e.desc()
            )));
        }
        log::info!("cgroups: remounted {} read-write", m.mount_point.display());
        done += 1;
    }
    Ok(done)
}
