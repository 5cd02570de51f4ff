//! One error type for the whole program, so that every failure carries the exit code the
//! README promises (2 for bad usage, 125 for set-up and daemon failures, 126/127 for the
//! command) and a message that names the path or flag involved (`PathError` for the path).

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

/// Exit code for bad usage: unknown flag, bad value.
pub const EXIT_USAGE: u8 = 2;
/// Exit code when dind-init itself or dockerd failed (set-up, start-up, readiness).
pub const EXIT_SETUP: u8 = 125;
/// The command exists but cannot be executed (permission, directory, bad format).
pub const EXIT_NOT_EXECUTABLE: u8 = 126;
/// The command was not found.
pub const EXIT_NOT_FOUND: u8 = 127;

#[derive(Debug)]
pub enum Error {
    /// Bad command line or environment; exit 2.
    Usage(String),
    /// Set-up or daemon failure; exit 125.
    Setup(String),
    /// An exec failure of the user's command; carries 126 or 127.
    Exec(u8, String),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => EXIT_USAGE,
            Error::Setup(_) => EXIT_SETUP,
            Error::Exec(code, _) => *code,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::Setup(m) | Error::Exec(_, m) => f.write_str(m),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The one way to tell that something failed on a path: what was done, the path, and the
/// system's reason, `cannot read /proc/self/cgroup: No such file or directory`. Its errno stays
/// readable (`raw_os_error`) for callers that expect some; as an `Error` it is a set-up error.
#[derive(Debug)]
pub struct PathError {
    op: Cow<'static, str>,
    path: PathBuf,
    source: std::io::Error,
}

impl PathError {
    /// `op` is what was done, without "cannot": `read`, `create directory`. `source` is an
    /// `io::Error` or a `nix` errno.
    pub fn new(
        op: impl Into<Cow<'static, str>>,
        path: &Path,
        source: impl Into<std::io::Error>,
    ) -> PathError {
        PathError { op: op.into(), path: path.to_path_buf(), source: source.into() }
    }
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
    /// The system's words alone (`No such file or directory`), without Rust's
    /// ` (os error 2)`.
    pub fn reason(&self) -> Cow<'_, str> {
        match self.source.raw_os_error() {
            Some(n) => nix::errno::Errno::from_raw(n).desc().into(),
            None => self.source.to_string().into(),
        }
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot {} {}: {}", self.op, self.path.display(), self.reason())
    }
}

impl From<PathError> for Error {
    fn from(e: PathError) -> Error {
        Error::Setup(e.to_string())
    }
}

/// Shorthand for a usage error.
pub fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_error_names_what_the_path_and_the_reason_from_std_or_nix() {
        let p = Path::new("/x/y");
        let io = std::io::Error::from_raw_os_error(libc::ENOENT);
        let e = PathError::new("read", p, io);
        assert_eq!(e.to_string(), "cannot read /x/y: No such file or directory");
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        let e = PathError::new(format!("rename {} to", "/x/.t"), p, nix::errno::Errno::EACCES);
        assert_eq!(e.to_string(), "cannot rename /x/.t to /x/y: Permission denied");
        let other = std::io::Error::new(std::io::ErrorKind::WriteZero, "short write");
        let e: Error = PathError::new("write", p, other).into();
        assert_eq!(
            (e.exit_code(), e.to_string().as_str()),
            (EXIT_SETUP, "cannot write /x/y: short write")
        );
    }
}
