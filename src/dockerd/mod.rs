//! dockerd's life: its command line (`plan`), what it leaves on disk and in the process
//! table (`state`), its output (`log`), the stop sequence (`stop`), and here, starting it:
//! in its own session, stdin from /dev/null, the signal mask restored, its output through
//! a pipe into the log thread.

pub mod log;
pub mod plan;
pub mod state;
pub mod stop;

use crate::config::{Config, LogMode};
use crate::error::{Error, Result};
use crate::signals::OriginalMask;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

pub use self::log::LogTail;
pub use self::plan::Plan;

/// A started process.
#[derive(Debug, Clone, Copy)]
pub struct Proc {
    pub pid: i32,
    pub started: Instant,
}

fn log_sink(cfg: &Config) -> Box<dyn Write + Send> {
    if cfg.log == LogMode::Stdio {
        return Box::new(std::io::stderr());
    }
    if let Some(dir) = cfg.log_file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::OpenOptions::new().create(true).append(true).open(&cfg.log_file) {
        Ok(f) => Box::new(f),
        Err(e) => {
            ::log::warn!(
                "dockerd: cannot open {}: {e}; its output goes to stderr",
                cfg.log_file.display()
            );
            Box::new(std::io::stderr())
        }
    }
}

/// Starts dockerd.
pub fn spawn(plan: &Plan, cfg: &Config, mask: OriginalMask, tail: &Arc<LogTail>) -> Result<Proc> {
    use nix::fcntl::OFlag;
    let (rd, wr) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .map_err(|e| Error::Setup(format!("cannot create a pipe for dockerd's output: {e}")))?;
    let wr2 = wr.try_clone().map_err(|e| Error::Setup(format!("cannot duplicate a pipe: {e}")))?;
    // The log thread first: once dockerd runs, nothing may fail before its output is read.
    tail.reset();
    let (sink, t) = (log_sink(cfg), Arc::clone(tail));
    std::thread::Builder::new()
        .name("dockerd-log".into())
        .spawn(move || log::pump(std::fs::File::from(rd), sink, &t))
        .map_err(|e| Error::Setup(format!("cannot start the log thread: {e}")))?;
    let mut cmd = Command::new(&plan.program);
    cmd.args(&plan.args).stdin(Stdio::null()).stdout(Stdio::from(wr)).stderr(Stdio::from(wr2));
    if let Some(dir) = &plan.path_prefix {
        let path = std::env::var("PATH").unwrap_or_else(|_| {
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()
        });
        cmd.env("PATH", format!("{}:{path}", dir.display()));
    }
    // SAFETY: the closure runs between fork and exec and makes only async-signal-safe calls
    // (setsid, sigprocmask).
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::setsid()?;
            mask.restore()
        });
    }
    let child = cmd.spawn().map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "'{}' was not found (is docker.io / docker-ce installed in the image, and on \
                 PATH? set DIND_DOCKERD to its path)",
                plan.program
            )
        } else {
            format!("cannot run '{}': {e}", plan.program)
        };
        Error::Setup(format!("dockerd: {why}"))
    })?;
    // Dropping the Child never waits: the supervisor reaps every pid itself. Dropping the
    // Command closes our copies of the pipe's write end.
    let pid = child.id() as i32;
    drop(cmd);
    drop(child);
    ::log::info!("dockerd: started pid {pid}: {} {}", plan.program, plan.args.join(" "));
    Ok(Proc { pid, started: Instant::now() })
}
