//! The supervisor: one `poll` loop over the signalfd, the log thread's wake pipe and, while
//! dockerd is not answering yet, the readiness probe's socket. It takes dind-init through
//! three phases, each a method: `start` (dockerd up and answering), `run` (the command, the
//! login shell, or serving dockerd; dockerd supervised), `stop` (the sequence decided in
//! `dockerd::stop`). After every wakeup it reaps every exited child, so orphans of the
//! command, of `docker exec` sessions and of dockerd never linger as zombies. While running
//! it sleeps without a timeout unless a timer is due: an idle dind-init uses no CPU.

use crate::config::{Config, Mode, OnDaemonExit};
use crate::docker_api::Probe;
use crate::dockerd::stop::{Act, Seen, Stop};
use crate::dockerd::{self, state, LogTail, Plan, Proc};
use crate::error::{Error, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, EXIT_SETUP};
use crate::signals::{self, OriginalMask, Received};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a process ended: its exit code as a shell reports it, and words for the log.
#[derive(Debug, Clone)]
struct Ended {
    code: u8,
    desc: String,
    clean: bool,
}

fn ended(ws: WaitStatus) -> Option<(i32, Ended)> {
    match ws {
        WaitStatus::Exited(pid, c) => Some((
            pid.as_raw(),
            Ended { code: c as u8, desc: format!("exited with status {c}"), clean: c == 0 },
        )),
        WaitStatus::Signaled(pid, sig, _) => {
            let n = sig as i32;
            let desc = format!("killed by signal {}", signals::name(n));
            Some((pid.as_raw(), Ended { code: (128 + n) as u8, desc, clean: false }))
        }
        _ => None,
    }
}

/// The back-off before restart number `n` (0-based): 1, 2, 4, 8, 16, 30, 30, ... s.
pub fn restart_delay(n: u32) -> Duration {
    Duration::from_secs((1u64 << n.min(5)).min(30))
}

/// dockerd, as the supervisor knows it.
enum Daemon {
    /// Running; `probe` while it has not answered since a restart (with its deadline).
    Running { proc: Proc, probe: Option<(Probe, Instant)> },
    /// Reaped, not yet handled.
    Dead { end: Ended, ran: Duration },
    /// Waiting out the back-off before a restart.
    Backoff { at: Instant },
    /// Not running, and not coming back.
    Gone,
}

/// What runs beside dockerd.
enum Command {
    /// Nothing: dockerd is served.
    None,
    /// The user's command, or the login shell dind-init started (`shell`).
    Running {
        pid: i32,
        shell: bool,
    },
    Exited(Ended),
}

/// Why the run phase ended.
enum Outcome {
    /// The command (or the shell) exited.
    CommandExited,
    /// SIGTERM (or, serving dockerd, INT/QUIT).
    Signal,
    /// dockerd died and the policy says stop: the exit code to end with.
    DaemonGaveUp,
    /// Serving dockerd and it ended by itself (`--on-daemon-exit` not restart).
    DaemonEnded(u8),
}

pub struct Supervisor {
    cfg: Box<Config>,
    plan: Plan,
    sigfd: SignalFd,
    mask: OriginalMask,
    pid1: bool,
    tail: Arc<LogTail>,
    daemon: Daemon,
    command: Command,
    restarts: u32,
    orphans_reaped: u64,
}

fn is_terminating(sig: i32) -> bool {
    [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT, libc::SIGHUP].contains(&sig)
}

impl Supervisor {
    pub fn new(
        cfg: Box<Config>,
        plan: Plan,
        sigfd: SignalFd,
        mask: OriginalMask,
        pid1: bool,
    ) -> crate::error::Result<Supervisor> {
        let tail =
            LogTail::new().map_err(|e| Error::Setup(format!("cannot create a pipe: {e}")))?;
        Ok(Supervisor {
            cfg,
            plan,
            sigfd,
            mask,
            pid1,
            tail: Arc::new(tail),
            daemon: Daemon::Gone,
            command: Command::None,
            restarts: 0,
            orphans_reaped: 0,
        })
    }

    /// Runs everything after set-up; returns the exit code.
    pub fn run(mut self) -> u8 {
        match self.start() {
            Ok(()) => {}
            Err(StartFailed::Aborted(sig)) => {
                self.stop(Instant::now());
                return self.finish((128 + sig) as u8);
            }
            Err(StartFailed::Error(e)) => {
                log::error!("{e}");
                self.stop(Instant::now());
                return self.finish(e.exit_code());
            }
        }
        if let Some((argv, shell)) = self.command_argv() {
            match self.spawn_command(&argv) {
                Ok(pid) => self.command = Command::Running { pid, shell },
                Err(e) => {
                    log::error!("{e}");
                    self.stop(Instant::now());
                    return self.finish(e.exit_code());
                }
            }
        } else {
            log::info!("command: none given: serving dockerd until SIGTERM");
        }
        let outcome = self.run_phase();
        let daemon_code = match outcome {
            Outcome::DaemonEnded(code) => Some(code),
            _ => self.stop(Instant::now()),
        };
        let code = match (outcome, &self.command) {
            (Outcome::DaemonGaveUp, _) => EXIT_SETUP,
            (Outcome::DaemonEnded(code), _) => code,
            (_, Command::Exited(end)) => end.code,
            // A command that outlived its SIGKILL (uninterruptible sleep): as if killed.
            (_, Command::Running { .. }) => 128 + libc::SIGKILL as u8,
            // Serving dockerd: its own status (0 for a clean stop).
            _ => daemon_code.unwrap_or(0),
        };
        self.finish(code)
    }

    // ------------------------------------------------------------------ the event loop

    /// Waits for signals, the log thread's wake pipe, and optionally one more fd, at most
    /// until `until`; reaps on SIGCHLD. Returns the signals received.
    fn wait(&mut self, until: Option<Instant>, extra: Option<BorrowedFd>) -> Vec<Received> {
        let timeout = match until {
            None => PollTimeout::NONE,
            Some(t) => {
                // Round up, so a 0.4 ms wait does not spin.
                let d = t.saturating_duration_since(Instant::now());
                let ms = d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        {
            let mut fds = vec![
                PollFd::new(self.sigfd.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.tail.wake_fd(), PollFlags::POLLIN),
            ];
            if let Some(fd) = extra {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
            }
            if let Err(e) = nix::poll::poll(&mut fds, timeout) {
                if e != nix::errno::Errno::EINTR {
                    log::warn!("poll: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        self.tail.drain_wakes();
        let sigs = signals::drain(&mut self.sigfd);
        if sigs.iter().any(|s| s.signo == libc::SIGCHLD) {
            self.reap();
        }
        sigs
    }

    /// Reaps every exited child; records dockerd's and the command's ends.
    fn reap(&mut self) {
        loop {
            let ws = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(ws) => ws,
            };
            let Some((pid, end)) = ended(ws) else { continue };
            match &self.daemon {
                Daemon::Running { proc, .. } if proc.pid == pid => {
                    let ran = proc.started.elapsed();
                    self.daemon = Daemon::Dead { end, ran };
                    continue;
                }
                _ => {}
            }
            match &self.command {
                Command::Running { pid: p, .. } if *p == pid => {
                    log::info!("command: {}", end.desc);
                    self.command = Command::Exited(end);
                }
                _ => {
                    self.orphans_reaped += 1;
                    log::trace!("reaped orphan {pid}: {}", end.desc);
                }
            }
        }
    }

    fn daemon_pid(&self) -> Option<i32> {
        match &self.daemon {
            Daemon::Running { proc, .. } => Some(proc.pid),
            _ => None,
        }
    }

    fn command_pid(&self) -> Option<i32> {
        match self.command {
            Command::Running { pid, .. } => Some(pid),
            _ => None,
        }
    }

    // ------------------------------------------------------------------ start

    fn start(&mut self) -> Result<(), StartFailed> {
        let proc = dockerd::spawn(&self.plan, &self.cfg, self.mask, &self.tail)
            .map_err(StartFailed::Error)?;
        self.daemon = Daemon::Running { proc, probe: None };
        let start = Instant::now();
        let deadline = start + self.cfg.wait_timeout;
        let mut probe = Probe::new(&self.plan.socket);
        let sock = self.plan.socket.display().to_string();
        log::info!(
            "ready: waiting up to {:.0?} for dockerd to answer /_ping on {sock}",
            self.cfg.wait_timeout
        );
        loop {
            let now = Instant::now();
            if probe.step(now) {
                log::info!(
                    "ready: dockerd answered /_ping on {sock} after {:.3}s ({} attempt(s))",
                    start.elapsed().as_secs_f64(),
                    probe.attempts
                );
                return Ok(());
            }
            if let Daemon::Dead { end, ran } = &self.daemon {
                let msg = format!(
                    "dockerd {} before it was ready ({:.1}s after it started). {}",
                    end.desc,
                    ran.as_secs_f64(),
                    self.tail.report()
                );
                self.daemon = Daemon::Gone;
                return Err(StartFailed::Error(Error::Setup(msg)));
            }
            if now >= deadline {
                let msg = format!(
                    "dockerd did not answer /_ping on {sock} within {:.0?} (last: {}). {}",
                    self.cfg.wait_timeout,
                    probe.last_error,
                    self.tail.report()
                );
                if self.cfg.continue_on_timeout {
                    log::warn!("{msg}\nready: --continue-on-timeout: running the command anyway");
                    return Ok(());
                }
                let hint =
                    "hint: raise --wait-timeout (DIND_WAIT_TIMEOUT) if the daemon is just slow";
                return Err(StartFailed::Error(Error::Setup(format!("{msg}\n{hint}"))));
            }
            let until = (now + probe.next_wakeup(now)).min(deadline);
            // The probe's socket is borrowed for the poll only.
            let sigs = {
                let fd = probe.fd().map(|f| f.try_clone_to_owned());
                let fd = match fd {
                    Some(Ok(f)) => Some(f),
                    _ => None,
                };
                self.wait(Some(until), fd.as_ref().map(|f| f.as_fd()))
            };
            for s in sigs {
                if is_terminating(s.signo) {
                    log::info!(
                        "received {} before the command started: aborting start-up",
                        signals::name(s.signo)
                    );
                    return Err(StartFailed::Aborted(s.signo));
                }
                if s.signo != libc::SIGCHLD {
                    log::debug!("ignoring {} during start-up", signals::name(s.signo));
                }
            }
        }
    }

    /// The command to run: the user's, a login shell on a terminal, or None (serve dockerd).
    fn command_argv(&self) -> Option<(Vec<OsString>, bool)> {
        if let Mode::Command(c) = &self.cfg.mode {
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
            log::warn!("command: none given, stdin is a terminal but the image has no shell: serving dockerd");
        }
        None
    }

    fn spawn_command(&self, argv: &[OsString]) -> Result<i32, Error> {
        let prog = argv[0].to_string_lossy().into_owned();
        let mut cmd = std::process::Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        if std::env::var_os("DOCKER_HOST").is_none() {
            cmd.env("DOCKER_HOST", format!("unix://{}", self.plan.socket.display()));
        }
        if self.cfg.testcontainers && std::env::var_os("TESTCONTAINERS_HOST_OVERRIDE").is_none() {
            cmd.env("TESTCONTAINERS_HOST_OVERRIDE", "localhost");
        }
        let tty = nix::unistd::isatty(0).unwrap_or(false);
        let mask = self.mask;
        // SAFETY: between fork and exec only async-signal-safe calls (setpgid, tcsetpgrp,
        // getpid, sigprocmask); fd 0 is borrowed, not owned or closed.
        unsafe {
            cmd.pre_exec(move || {
                use nix::unistd::{getpid, setpgid, tcsetpgrp, Pid};
                // Own process group; on a terminal, the foreground one, so Ctrl-C and job
                // control reach the command and never dockerd. SIGTTOU is still blocked
                // here, so tcsetpgrp from a background group is allowed.
                setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
                if tty {
                    let stdin = std::os::fd::BorrowedFd::borrow_raw(0);
                    match tcsetpgrp(stdin, getpid()) {
                        Ok(()) | Err(nix::errno::Errno::ENOTTY) | Err(nix::errno::Errno::ENXIO) => {
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                mask.restore()
            });
        }
        let child = cmd.spawn().map_err(|e| {
            let path = Path::new(&argv[0]);
            match e.raw_os_error() {
                Some(libc::ENOENT) if prog.contains('/') => {
                    Error::Exec(EXIT_NOT_FOUND, format!("command not found: {prog}: no such file"))
                }
                Some(libc::ENOENT) => Error::Exec(
                    EXIT_NOT_FOUND,
                    format!("command not found: '{prog}' is not in PATH"),
                ),
                _ if path.is_dir() => Error::Exec(
                    EXIT_NOT_EXECUTABLE,
                    format!("cannot run {prog}: it is a directory"),
                ),
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
        })?;
        let pid = child.id() as i32;
        drop(child);
        let shown: Vec<String> = argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        log::info!("command: started pid {pid}: {}", shown.join(" "));
        Ok(pid)
    }

    // ------------------------------------------------------------------ run

    /// Signals the command (or its process group); stopping signals are followed by
    /// SIGCONT, so a stopped command (Ctrl-Z) can act on them.
    fn forward(&self, sig: i32) {
        let Command::Running { pid, shell } = self.command else { return };
        // A login shell ignores SIGTERM: hang it up, as a terminal closing would.
        let (sig, group) = if shell && sig == libc::SIGTERM {
            (libc::SIGHUP, true)
        } else {
            (sig, self.cfg.signal_group)
        };
        if group {
            signals::send_group_and_leader(pid, sig);
        } else {
            signals::send(pid, sig);
        }
        log::debug!(
            "forwarded {} to {}{pid}",
            signals::name(sig),
            if group { "process group " } else { "pid " }
        );
        if is_terminating(sig) {
            if group {
                signals::send_group_and_leader(pid, libc::SIGCONT);
            } else {
                signals::send(pid, libc::SIGCONT);
            }
        }
    }

    /// dockerd ended by itself while running: log it, apply --on-daemon-exit. Returns false
    /// when dind-init must give up.
    fn daemon_died(&mut self, end: Ended, ran: Duration) -> bool {
        log::error!(
            "dockerd {} after running {:.1}s. {}",
            end.desc,
            ran.as_secs_f64(),
            self.tail.report()
        );
        match self.cfg.on_daemon_exit {
            OnDaemonExit::Ignore => {
                log::warn!("dockerd: --on-daemon-exit=ignore: carrying on without a daemon");
                self.daemon = Daemon::Gone;
                true
            }
            OnDaemonExit::Exit => {
                log::error!(
                    "dockerd: --on-daemon-exit=exit: stopping; dind-init will exit {EXIT_SETUP}"
                );
                self.daemon = Daemon::Gone;
                false
            }
            OnDaemonExit::Restart => {
                if ran > Duration::from_secs(300) {
                    self.restarts = 0;
                }
                if self.restarts >= self.cfg.max_restarts {
                    log::error!(
                        "dockerd: giving up after {} restart(s) (--max-restarts); dind-init will exit {EXIT_SETUP}",
                        self.restarts
                    );
                    self.daemon = Daemon::Gone;
                    return false;
                }
                let delay = restart_delay(self.restarts);
                self.restarts += 1;
                log::warn!(
                    "dockerd: restarting in {:.0?} (restart {}/{})",
                    delay,
                    self.restarts,
                    self.cfg.max_restarts
                );
                self.daemon = Daemon::Backoff { at: Instant::now() + delay };
                true
            }
        }
    }

    /// Restarts a dead dockerd once its back-off is over; watches the new one's readiness.
    /// Returns the next instant to look again, and false when dind-init must give up.
    fn tend_daemon(&mut self, now: Instant) -> (Option<Instant>, bool) {
        match std::mem::replace(&mut self.daemon, Daemon::Gone) {
            Daemon::Dead { end, ran } => {
                if !self.daemon_died(end, ran) {
                    return (None, false);
                }
                self.tend_daemon(now)
            }
            Daemon::Backoff { at } if now < at => {
                self.daemon = Daemon::Backoff { at };
                (Some(at), true)
            }
            Daemon::Backoff { .. } => {
                // Our dockerd is dead: its pid file is stale whatever pid it names.
                if let Ok(true) = crate::sys::remove_file(&self.plan.pidfile) {
                    log::info!("stale state: removed pid file {}", self.plan.pidfile.display());
                }
                match dockerd::spawn(&self.plan, &self.cfg, self.mask, &self.tail) {
                    Ok(proc) => {
                        let deadline = now + self.cfg.wait_timeout;
                        self.daemon = Daemon::Running {
                            proc,
                            probe: Some((Probe::new(&self.plan.socket), deadline)),
                        };
                        self.tend_daemon(now)
                    }
                    Err(e) => {
                        log::error!("{e}");
                        (None, false)
                    }
                }
            }
            Daemon::Running { proc, probe: Some((mut p, deadline)) } => {
                if p.step(now) {
                    log::info!(
                        "ready: dockerd answered /_ping again after {:.3}s (restart {})",
                        proc.started.elapsed().as_secs_f64(),
                        self.restarts
                    );
                    self.daemon = Daemon::Running { proc, probe: None };
                    return (None, true);
                }
                if now >= deadline {
                    // The same rule as at start: a dockerd that does not answer in time is a
                    // failed one. It is killed; its end then goes through --on-daemon-exit.
                    log::error!(
                        "dockerd (pid {}) did not answer /_ping within {:.0?} after its restart (last: {}): killing it",
                        proc.pid,
                        self.cfg.wait_timeout,
                        p.last_error
                    );
                    signals::send_group_and_leader(proc.pid, libc::SIGKILL);
                    self.daemon = Daemon::Running { proc, probe: None };
                    return (None, true);
                }
                let next = (now + p.next_wakeup(now)).min(deadline);
                self.daemon = Daemon::Running { proc, probe: Some((p, deadline)) };
                (Some(next), true)
            }
            other => {
                self.daemon = other;
                (None, true)
            }
        }
    }

    /// The command (or the shell, or serving dockerd) runs until it exits, a stop is asked
    /// for, or dockerd is given up.
    fn run_phase(&mut self) -> Outcome {
        let serving = matches!(self.command, Command::None);
        loop {
            if matches!(self.command, Command::Exited(_)) {
                return Outcome::CommandExited;
            }
            if serving {
                if let Daemon::Dead { end, ran } = &self.daemon {
                    if self.cfg.on_daemon_exit != OnDaemonExit::Restart {
                        // Nothing else runs here: dockerd's end is dind-init's end.
                        log::error!(
                            "dockerd {} after running {:.1}s. {}",
                            end.desc,
                            ran.as_secs_f64(),
                            self.tail.report()
                        );
                        let code = end.code;
                        self.daemon = Daemon::Gone;
                        return Outcome::DaemonEnded(code);
                    }
                }
            }
            let (next, ok) = self.tend_daemon(Instant::now());
            if !ok {
                if let Some(pid) = self.command_pid() {
                    log::warn!(
                        "command: sending SIGTERM to pid {pid} (SIGKILL in {:.0?})",
                        self.cfg.shutdown_timeout / 2
                    );
                    signals::send_group_and_leader(pid, libc::SIGTERM);
                    signals::send_group_and_leader(pid, libc::SIGCONT);
                }
                return Outcome::DaemonGaveUp;
            }
            let sigs = {
                let fd = match &self.daemon {
                    Daemon::Running { probe: Some((p, _)), .. } => {
                        p.fd().and_then(|f| f.try_clone_to_owned().ok())
                    }
                    _ => None,
                };
                self.wait(next, fd.as_ref().map(|f| f.as_fd()))
            };
            for s in sigs {
                if s.signo == libc::SIGCHLD {
                    continue;
                }
                if serving {
                    // SIGHUP is dockerd's "reload configuration": forwarded, not a stop.
                    if is_terminating(s.signo) && s.signo != libc::SIGHUP {
                        log::info!("received {}: stopping dockerd", signals::name(s.signo));
                        return Outcome::Signal;
                    }
                    if let Some(pid) = self.daemon_pid() {
                        log::debug!("forwarded {} to dockerd", signals::name(s.signo));
                        signals::send(pid, s.signo);
                    }
                    continue;
                }
                self.forward(s.signo);
                if s.signo == libc::SIGTERM {
                    log::info!(
                        "received SIGTERM: the command has {:.1?} to exit, then dockerd is stopped (--shutdown-timeout {:.1?})",
                        self.cfg.shutdown_timeout / 2,
                        self.cfg.shutdown_timeout
                    );
                    return Outcome::Signal;
                }
            }
        }
    }

    // ------------------------------------------------------------------ stop

    /// Stops everything within the budget counted from `t0`; returns dockerd's exit code
    /// (0 when dind-init ended its final wait), if it ran.
    fn stop(&mut self, t0: Instant) -> Option<u8> {
        if matches!(self.daemon, Daemon::Backoff { .. }) {
            self.daemon = Daemon::Gone;
        }
        let total = self.cfg.shutdown_timeout;
        let mut stop = Stop::new(t0, total, self.cfg.wait_containerd);
        let mut daemon_end: Option<Ended> = None;
        loop {
            if let Daemon::Dead { end, .. } = &self.daemon {
                daemon_end = Some(end.clone());
                self.daemon = Daemon::Gone;
            }
            let now = Instant::now();
            let dpid = self.daemon_pid();
            let has_child = || {
                dpid.is_some_and(|p| {
                    state::has_live_child(&state::processes(Path::new("/proc")), p)
                })
            };
            let seen = Seen {
                command_running: self.command_pid().is_some(),
                daemon_running: dpid.is_some(),
                log_complete: self.tail.shutdown_complete(),
                daemon_has_child: &has_child,
            };
            let (acts, next) = stop.step(now, &seen);
            for act in acts {
                self.act(act, &stop);
            }
            if self.command_pid().is_none() && self.daemon_pid().is_none() {
                break;
            }
            // SIGKILL cannot end a process in uninterruptible sleep: do not wait for ever.
            let give_up = stop.budget.end + Duration::from_secs(2);
            if now >= give_up {
                log::warn!(
                    "shutdown: processes still there 2 s after the budget: giving up on them"
                );
                break;
            }
            let until = Some(next.unwrap_or(give_up).min(give_up));
            for s in self.wait(until, None) {
                match s.signo {
                    libc::SIGCHLD => {}
                    libc::SIGTERM => {
                        stop.budget.tighten(Instant::now(), total);
                        self.forward(s.signo);
                    }
                    sig if self.command_pid().is_some() => self.forward(sig),
                    sig => log::debug!("shutdown: ignoring {}", signals::name(sig)),
                }
            }
        }
        let end = daemon_end?;
        let term_at = stop.term_at.unwrap_or(t0);
        let took = term_at.elapsed().as_secs_f64();
        // Nothing dockerd said on its way out may be lost: drain its log pipe first.
        self.tail.wait_closed(Duration::from_secs(2));
        if stop.killed_at.is_some() {
            log::warn!("shutdown: dockerd needed SIGKILL after {took:.3}s");
        } else if let Some(at) = stop.ended_wait_at.filter(|_| !end.clean) {
            state::remove_left_behind(&self.plan);
            log::info!(
                "shutdown: dockerd exited cleanly after {took:.3}s (its shutdown was complete and its containerd gone \
                 after {:.3}s: dind-init ended its fixed 1 s wait for containerd)",
                (at - term_at).as_secs_f64()
            );
            return Some(0);
        } else if end.clean {
            log::info!("shutdown: dockerd exited cleanly after {took:.3}s");
        } else {
            log::warn!("shutdown: dockerd {} after {took:.3}s", end.desc);
        }
        Some(end.code)
    }

    fn act(&mut self, act: Act, stop: &Stop) {
        match act {
            Act::KillCommand => {
                if let Some(pid) = self.command_pid() {
                    log::warn!(
                        "command: still running {:.1?} after the stop began: SIGKILL",
                        self.cfg.shutdown_timeout / 2
                    );
                    signals::send_group_and_leader(pid, libc::SIGKILL);
                }
            }
            Act::TermDaemon => {
                if let Some(pid) = self.daemon_pid() {
                    let left = stop.budget.end.saturating_duration_since(Instant::now());
                    log::info!("shutdown: sending SIGTERM to dockerd (pid {pid}), waiting up to {left:.1?}");
                    self.tail.arm();
                    signals::send(pid, libc::SIGTERM);
                }
            }
            Act::KillInnerContainers => {
                let pids = state::inner_container_pids(&state::processes(Path::new("/proc")));
                if !pids.is_empty() {
                    log::warn!(
                        "shutdown: {} inner container process(es) still running: SIGKILL, so dockerd can finish in time",
                        pids.len()
                    );
                    for p in pids {
                        signals::send(p, libc::SIGKILL);
                    }
                }
            }
            Act::EndWait => {
                if let Some(pid) = self.daemon_pid() {
                    log::debug!("shutdown: dockerd's shutdown is complete and its containerd exited: ending its final wait (SIGKILL to pid {pid})");
                    signals::send(pid, libc::SIGKILL);
                }
            }
            Act::KillDaemon => {
                if let Some(pid) = self.daemon_pid() {
                    log::warn!(
                        "shutdown: dockerd did not stop within {:.0?}: sending SIGKILL",
                        self.cfg.shutdown_timeout
                    );
                    signals::send_group_and_leader(pid, libc::SIGKILL);
                }
            }
        }
    }

    /// Kills what is left (as PID 1), reaps it, logs the exit code.
    fn finish(&mut self, code: u8) -> u8 {
        if self.pid1 {
            signals::send(-1, libc::SIGKILL);
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(5)),
                    Ok(_) => self.orphans_reaped += 1,
                    Err(_) => break,
                }
            }
        } else {
            self.reap();
        }
        self.tail.wait_closed(Duration::from_secs(2));
        log::debug!("reaped {} orphan(s) in total", self.orphans_reaped);
        log::info!("exit {code}");
        code
    }
}

enum StartFailed {
    /// A terminating signal arrived before the command started.
    Aborted(i32),
    Error(Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_back_off() {
        let secs: Vec<u64> = (0..8).map(|n| restart_delay(n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn ends_as_a_shell_reports_them() {
        let pid = nix::unistd::Pid::from_raw(9);
        let (_, e) = ended(WaitStatus::Exited(pid, 3)).unwrap();
        assert_eq!((e.code, e.clean), (3, false));
        let (_, e) =
            ended(WaitStatus::Signaled(pid, nix::sys::signal::Signal::SIGKILL, false)).unwrap();
        assert_eq!((e.code, e.desc.as_str()), (137, "killed by signal SIGKILL"));
        assert!(ended(WaitStatus::StillAlive).is_none());
    }
}
