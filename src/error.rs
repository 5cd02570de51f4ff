//! One error type for the whole program, so that every failure carries the exit code the
//! README promises (2 for bad usage, 125 for set-up and daemon failures, 126/127 for the
//! command) and a message that names the path or flag involved.

use std::fmt;
use std::path::Path;

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

/// A set-up error that names what was done and the path it failed on:
/// `cannot read /proc/self/cgroup: No such file or directory`.
pub fn io_err(what: &str, path: &Path, e: impl fmt::Display) -> Error {
    Error::Setup(format!("{what} {}: {e}", path.display()))
}

/// Shorthand for a usage error.
pub fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}
