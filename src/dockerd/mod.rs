//! dockerd's life: its command line (`plan`, with its config file: `daemon_json`, and the
//! engine it runs: `engine`), what it leaves on disk (`stale`), where it stores (`storage`)
//! and the lock that keeps its data root its own (`datalock`),
//! the process table and what in it is dind-init's own (`procs`),
//! whose daemon answers on a socket (`owner`), its output (`log`), the stop sequence
//! (`stop`), and here, starting it: in its own session, stdin from /dev/null, the signal mask
//! and dispositions restored, its output through a pipe into the log thread.

pub(crate) mod daemon_json;
pub(crate) mod datalock;
pub(crate) mod engine;
pub(crate) mod log;
pub(crate) mod owner;
pub(crate) mod plan;
pub(crate) mod procs;
pub(crate) mod stale;
pub(crate) mod stop;
pub(crate) mod storage;

use crate::config::{Config, LogMode};
use crate::error::{Error, PathError, Result};
use crate::signals::OriginalMask;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

pub use self::log::LogTail;
pub use self::plan::{ContainerdPlan, Plan};

/// A started process.
#[derive(Debug, Clone, Copy)]
pub struct Proc {
    pub pid: i32,
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

/// Starts dockerd (restart number `restart`, 0 at start-up).
pub fn spawn(
    plan: &Plan,
    cfg: &Config,
    mask: OriginalMask,
    tail: &Arc<LogTail>,
    restart: u32,
) -> Result<Proc> {
    let path = plan.path_prefix.as_ref().map(|dir| {
        let path = std::env::var("PATH").unwrap_or_else(|_| {
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()
        });
        format!("{}:{path}", dir.display())
    });
    let not_found =
        "is docker.io / docker-ce installed in the image, and on PATH? set DIND_DOCKERD \
                     to its path";
    let pid = spawn_process(
        "dockerd",
        Path::new(&plan.program),
        &plan.args,
        path,
        cfg,
        mask,
        tail,
        not_found,
        restart,
        plan.run_as.as_ref(),
    )?;
    Ok(Proc { pid })
}

/// Starts the containerd dind-init runs, after writing its config file.
pub fn spawn_containerd(
    c: &ContainerdPlan,
    cfg: &Config,
    mask: OriginalMask,
    tail: &Arc<LogTail>,
    restart: u32,
) -> Result<Proc> {
    if let Some(dir) = c.config.parent() {
        crate::sys::mkdir_p(dir)?;
    }
    std::fs::write(&c.config, &c.config_text).map_err(|e| PathError::new("write", &c.config, e))?;
    let not_found = "set DIND_CONTAINERD_BY=dockerd to leave containerd to dockerd";
    let pid = spawn_process(
        "containerd",
        &c.program,
        &c.args,
        None,
        cfg,
        mask,
        tail,
        not_found,
        restart,
        None,
    )?;
    ::log::debug!(
        "containerd: root {}, socket {}, config {}",
        c.root.display(),
        c.socket.display(),
        c.config.display()
    );
    // Where dockerd writes its managed containerd's pid, for the tools that read it.
    if let Some(dir) = c.config.parent() {
        let f = dir.join("containerd.pid");
        if let Err(e) = std::fs::write(&f, pid.to_string()) {
            ::log::debug!("containerd: cannot write {}: {e}", f.display());
        }
    }
    Ok(Proc { pid })
}

/// Starts a daemon: own session, stdin from /dev/null, the original signal mask, its output
/// through a pipe into the log thread (to stderr or the log file, and `tail`).
#[allow(clippy::too_many_arguments)]
fn spawn_process(
    name: &str,
    program: &Path,
    args: &[String],
    path: Option<String>,
    cfg: &Config,
    mask: OriginalMask,
    tail: &Arc<LogTail>,
    not_found: &str,
    restart: u32,
    run_as: Option<&crate::rootless::RunAs>,
) -> Result<i32> {
    use nix::fcntl::OFlag;
    let (rd, wr) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .map_err(|e| Error::Setup(format!("cannot create a pipe for {name}'s output: {e}")))?;
    let wr2 = wr.try_clone().map_err(|e| Error::Setup(format!("cannot duplicate a pipe: {e}")))?;
    // The log thread first: once the daemon runs, nothing may fail before its output is read.
    tail.reset();
    let (sink, t) = (log_sink(cfg), Arc::clone(tail));
    std::thread::Builder::new()
        .name(format!("{name}-log"))
        .spawn(move || log::pump(std::fs::File::from(rd), sink, &t))
        .map_err(|e| Error::Setup(format!("cannot start the log thread: {e}")))?;
    let failed = |e: std::io::Error| {
        let why = if e.kind() == std::io::ErrorKind::NotFound {
            format!("'{}' was not found ({not_found})", program.display())
        } else {
            format!("cannot run '{}': {e}", program.display())
        };
        Error::Setup(format!("{name}: {why}"))
    };
    let mut cmd = crate::spawn::Spawn::new(program.as_os_str(), args).map_err(failed)?;
    let null = std::fs::File::open("/dev/null").map_err(failed)?;
    cmd.stdio(0, &null);
    cmd.stdio(1, &wr);
    cmd.stdio(2, &wr2);
    let mut vars: Vec<(std::ffi::OsString, std::ffi::OsString)> = Vec::new();
    if let Some(p) = path {
        vars.push(("PATH".into(), p.into()));
    }
    let ids = run_as.map(|r| {
        vars.extend(r.env.iter().map(|(k, v)| (k.into(), v.into())));
        (r.uid, r.gid)
    });
    if !vars.is_empty() {
        cmd.env(&vars).map_err(failed)?;
    }
    // SAFETY: the closure runs between fork and exec and makes only async-signal-safe calls
    // (setsid, sigaction, sigprocmask, setgroups, setgid, setuid).
    let pid = unsafe {
        cmd.spawn(&mut || {
            nix::unistd::setsid()?;
            crate::signals::reset_dispositions(&[]);
            if let Some((uid, gid)) = ids {
                let g = [gid];
                if libc::setgroups(1, g.as_ptr()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            mask.restore()
        })
    }
    .map_err(failed)?;
    // The supervisor reaps every pid itself. Our copies of the pipe's write end closed now:
    // the log thread ends when the daemon's output does.
    drop((wr, wr2, null));
    let line = crate::redact::urls(&format!("{} {}", program.display(), args.join(" ")));
    if name == "containerd" {
        crate::event!(Info, "containerd-start", { pid = pid, restart = restart },
            "containerd: started pid {pid}: {line}");
    } else {
        crate::event!(Info, "dockerd-start", { pid = pid, restart = restart },
            "dockerd: started pid {pid}: {line}");
    }
    Ok(pid)
}
