//! Small wrappers around file and mount syscalls. Every error carries the operation and the
//! path (`error::PathError`), so a failure message tells the user exactly what could not be read,
//! written or mounted (as youki's wrapped I/O errors do).

use crate::error::{Error, PathError};
use nix::mount::{mount, MsFlags};
use std::path::Path;
#[cfg(test)]
use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, PathError>;

pub fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| PathError::new("read", path, e))
}

/// Writes `data` with a single write(2): cgroup files act on each write separately.
pub fn write(path: &Path, data: &str) -> Result<()> {
    use std::io::Write;
    let err = |e| PathError::new("write", path, e);
    let mut f = std::fs::OpenOptions::new().write(true).open(path).map_err(err)?;
    let n = f.write(data.as_bytes()).map_err(err)?;
    if n != data.len() {
        return Err(err(std::io::Error::new(std::io::ErrorKind::WriteZero, "short write")));
    }
    Ok(())
}

pub fn mkdir_p(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| PathError::new("create directory", path, e))
}

/// Removes a file; `Ok(false)` when there was none.
pub fn remove_file(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(PathError::new("remove", path, e)),
    }
}

/// `mount -t FSTYPE SOURCE TARGET -o DATA` with the given flags; the error names all of it.
pub fn mount_fs(
    source: &str,
    target: &Path,
    fstype: &str,
    flags: MsFlags,
    data: Option<&str>,
) -> std::result::Result<(), Error> {
    mount(Some(source), target, Some(fstype), flags, data).map_err(|e| {
        PathError::new(format!("mount {fstype} ({}) on", data.unwrap_or("")), target, e).into()
    })
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

pub const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;

/// Whether the effective capability set (from /proc/self/status text) holds `cap`.
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

/// A scratch directory for unit tests, removed when dropped.
#[cfg(test)]
pub(crate) struct TempDir(pub PathBuf);

#[cfg(test)]
impl TempDir {
    pub fn new(name: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("dind-init-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

#[cfg(test)]
impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

#[cfg(test)]
impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

#[cfg(test)]
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_operation_and_the_path() {
        let e = read(Path::new("/nonexistent/dind-init/x")).unwrap_err();
        assert!(e.to_string().starts_with("cannot read /nonexistent/dind-init/x: "), "{e}");
        let e = write(Path::new("/nonexistent/dind-init/y"), "1").unwrap_err();
        assert!(e.to_string().contains("cannot write /nonexistent/dind-init/y"), "{e}");
        assert!(!remove_file(Path::new("/nonexistent/dind-init/z")).unwrap());
    }

    #[test]
    fn capabilities_from_status() {
        let status = "Name:\tx\nCapEff:\t0000000000201000\n";
        assert!(has_capability(status, CAP_SYS_ADMIN) && has_capability(status, CAP_NET_ADMIN));
        assert!(!has_capability(status, 0) && !has_capability("", CAP_SYS_ADMIN));
    }
}
