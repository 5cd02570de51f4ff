//! The command dind-init runs beside dockerd: the user's, a login shell on a terminal, or
//! none (dockerd is served). Started in its own process group (the terminal's foreground one
//! on a terminal), with the original signal mask and default dispositions; exec failures as
//! a shell reports them (127 not found, 126 not executable).

use crate::config::{Config, Mode};
use crate::dockerd::Plan;
use crate::error::{Error, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND};
use crate::lifecycle::CommandStart;
use crate::signals::{self, OriginalMask};
use crate::spawn::Spawn;
use std::ffi::OsString;
use std::path::Path;

/// Starts the command, if there is one.
pub fn start(cfg: &Config, plan: &Plan, mask: OriginalMask) -> CommandStart {
    let Some((argv, shell)) = argv(cfg) else {
        log::info!("command: none given: serving dockerd until SIGTERM");
        return CommandStart::Serving;
    };
    match spawn(&argv, cfg, plan, mask) {
        Ok(pid) => CommandStart::Started { pid, shell },
        Err(e) => {
            log::error!("{e}");
            CommandStart::Failed(e.exit_code())
        }
    }
}

/// The command to run: the user's, a login shell on a terminal, or None (serve dockerd).
fn argv(cfg: &Config) -> Option<(Vec<OsString>, bool)> {
    if let Mode::Command(c) = &cfg.mode {
        return Some((c.clone(), false));
    }
    if nix::unistd::isatty(0).unwrap_or(false) {
        for sh in ["/bin/bash", "/bin/sh"] {
            if Path::new(sh).exists() {
                log::info!(
                    "command: none given and stdin is a terminal: starting {sh} -l (SIGTERM \
                     hangs it up, as a closing terminal would)"
                );
                return Some((vec![sh.into(), "-l".into()], true));
            }
        }
        log::warn!(
            "command: none given, stdin is a terminal but the image has no shell: \
            serving dockerd"
        );
    }
    None
}

/// Why an exec failed, as a shell reports it.
fn exec_error(prog: &str, errno: Option<i32>, is_dir: bool, e: &std::io::Error) -> Error {
    match errno {
        Some(libc::ENOENT) if prog.contains('/') => {
            Error::Exec(EXIT_NOT_FOUND, format!("command not found: {prog}: no such file"))
        }
        Some(libc::ENOENT) => {
            Error::Exec(EXIT_NOT_FOUND, format!("command not found: '{prog}' is not in PATH"))
        }
        _ if is_dir => {
            Error::Exec(EXIT_NOT_EXECUTABLE, format!("cannot run {prog}: it is a directory"))
        }
        Some(libc::EACCES) => Error::Exec(
            EXIT_NOT_EXECUTABLE,
            format!("cannot run {prog}: permission denied (not executable)"),
        ),
        Some(libc::ENOEXEC) => Error::Exec(
            EXIT_NOT_EXECUTABLE,
            format!("cannot run {prog}: exec format error (not a binary, no #! line)"),
        ),
        _ => Error::Exec(EXIT_NOT_EXECUTABLE, format!("cannot run {prog}: {e}")),
    }
}

fn spawn(argv: &[OsString], cfg: &Config, plan: &Plan, mask: OriginalMask) -> Result<i32, Error> {
    let prog = argv[0].to_string_lossy().into_owned();
    let failed =
        |e: std::io::Error| exec_error(&prog, e.raw_os_error(), Path::new(&argv[0]).is_dir(), &e);
    let mut cmd = Spawn::new(&argv[0], &argv[1..]).map_err(failed)?;
    let mut vars: Vec<(OsString, OsString)> = Vec::new();
    if std::env::var_os("DOCKER_HOST").is_none() {
        vars.push(("DOCKER_HOST".into(), format!("unix://{}", plan.socket.display()).into()));
    }
    if cfg.testcontainers && std::env::var_os("TESTCONTAINERS_HOST_OVERRIDE").is_none() {
        vars.push(("TESTCONTAINERS_HOST_OVERRIDE".into(), "localhost".into()));
    }
    if !vars.is_empty() {
        cmd.env(&vars).map_err(failed)?;
    }
    let tty = nix::unistd::isatty(0).unwrap_or(false);
    // SAFETY: between fork and exec only async-signal-safe calls (setpgid, tcsetpgrp,
    // getpid, sigaction, sigprocmask); fd 0 is borrowed, not owned or closed.
    let pid = unsafe {
        cmd.spawn(&mut || {
            use nix::unistd::{getpid, setpgid, tcsetpgrp, Pid};
            // Own process group; on a terminal, the foreground one, so Ctrl-C and job
            // control reach the command and never dockerd. SIGTTOU is still blocked
            // here, so tcsetpgrp from a background group is allowed.
            setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
            if tty {
                let stdin = std::os::fd::BorrowedFd::borrow_raw(0);
                match tcsetpgrp(stdin, getpid()) {
                    Ok(()) | Err(nix::errno::Errno::ENOTTY) | Err(nix::errno::Errno::ENXIO) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            signals::reset_dispositions(&[]);
            mask.restore()
        })
    }
    .map_err(failed)?;
    let shown: Vec<String> = argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let shown = crate::redact::urls(&shown.join(" "));
    crate::event!(Info, "command-start", { pid = pid }, "command: started pid {pid}: {shown}");
    Ok(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_errors_as_a_shell_reports_them() {
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(exec_error("/x/y", Some(libc::ENOENT), false, &e).exit_code(), 127);
        let m = exec_error("y", Some(libc::ENOENT), false, &e).to_string();
        assert_eq!(m, "command not found: 'y' is not in PATH");
        assert_eq!(exec_error("/d", Some(libc::EACCES), true, &e).exit_code(), 126);
        let m = exec_error("/d", Some(libc::EACCES), true, &e).to_string();
        assert!(m.ends_with("it is a directory"), "{m}");
        let m = exec_error("/f", Some(libc::ENOEXEC), false, &e).to_string();
        assert!(m.contains("exec format error"), "{m}");
    }
}
