//! Small wrappers around file and mount syscalls whose errors always name the path, so a
//! failure message tells the user exactly what could not be read, written or mounted.

use crate::error::{io_err, Result};
use nix::mount::{mount, MsFlags};
use std::path::Path;

pub fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| io_err("cannot read", path, e))
}

pub fn write(path: &Path, data: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    // One write(2): cgroup files act on each write separately.
    let n = f.write(data.as_bytes())?;
    if n != data.len() {
        return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "short write"));
    }
    Ok(())
}

pub fn mkdir_p(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| io_err("cannot create directory", path, e))
}

/// `mount -t FSTYPE SOURCE TARGET -o DATA` with the given flags; the error names all of it.
pub fn mount_fs(source: &str, target: &Path, fstype: &str, flags: MsFlags, data: Option<&str>) -> Result<()> {
    mount(Some(source), target, Some(fstype), flags, data)
        .map_err(|e| crate::error::Error::Setup(format!("cannot mount {fstype} ({}) on {}: {}", data.unwrap_or(""), target.display(), e.desc())))
}

/// Clears the read-only flag of one mount, keeping its other per-mount flags (changing a
/// locked flag would be refused).
pub fn remount_rw(target: &Path, options: &[String]) -> nix::Result<()> {
    let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND;
    for (name, flag) in [
        ("nosuid", MsFlags::MS_NOSUID),
        ("nodev", MsFlags::MS_NODEV),
        ("noexec", MsFlags::MS_NOEXEC),
        ("relatime", MsFlags::MS_RELATIME),
        ("noatime", MsFlags::MS_NOATIME),
        ("nodiratime", MsFlags::MS_NODIRATIME),
    ] {
        if options.iter().any(|o| o == name) {
            flags |= flag;
        }
    }
    mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
}

/// The filesystem magic number of the filesystem holding `path` (or its nearest existing
/// ancestor).
pub fn fs_magic(path: &Path) -> Option<i64> {
    let mut p = Some(path);
    while let Some(cur) = p {
        if let Ok(st) = nix::sys::statfs::statfs(cur) {
            return Some(st.filesystem_type().0 as i64);
        }
        p = cur.parent();
    }
    None
}

pub const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
pub const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;
pub const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Whether the effective capability set holds capability number `cap`.
pub fn has_capability(status: &str, cap: u32) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .map(|mask| mask & (1u64 << cap) != 0)
        .unwrap_or(false)
}

pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_SYS_ADMIN: u32 = 21;
