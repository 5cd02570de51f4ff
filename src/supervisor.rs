//! The supervisor: one `poll` loop over the signalfd, the log threads' wake pipes and, while
//! dockerd is not answering yet, the readiness probe's socket. It supervises dockerd and, when
//! dind-init runs it (`--containerd-by`), containerd, with the same restart policy. It takes
//! dind-init through three phases, each a method: `start` (the daemons up and answering),
//! `run_phase` (the command, the login shell, or serving dockerd; the daemons supervised),
//! `stop` (the sequence decided in `dockerd::stop`). After every wakeup it reaps every exited
//! child, so orphans of the command, of `docker exec` sessions and of dockerd never linger as
//! zombies. While running it sleeps without a timeout unless a timer is due: an idle dind-init
//! uses no CPU.

use crate::config::{Config, Mode, OnDaemonExit};
use crate::docker_api::Probe;
use crate::dockerd::stop::{Act, Seen, Stop};
use crate::dockerd::{self, procs, stale, LogTail, Plan, Proc};
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

/// A daemon, as the supervisor knows it.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Dockerd,
    Containerd,
}

/// dockerd, or the containerd dind-init runs: its state, restarts and log tail.
struct Managed {
    which: Which,
    state: Daemon,
    restarts: u32,
    tail: Arc<LogTail>,
}

impl Managed {
    fn new(which: Which) -> crate::error::Result<Managed> {
        let tail =
            LogTail::new().map_err(|e| Error::Setup(format!("cannot create a pipe: {e}")))?;
        Ok(Managed { which, state: Daemon::Gone, restarts: 0, tail: Arc::new(tail) })
    }
    fn name(&self) -> &'static str {
        match self.which {
            Which::Dockerd => "dockerd",
            Which::Containerd => "containerd",
        }
    }
    fn pid(&self) -> Option<i32> {
        match &self.state {
            Daemon::Running { proc, .. } => Some(proc.pid),
            _ => None,
        }
    }
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
    Signal(i32),
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
    dockerd: Managed,
    /// The containerd dind-init runs, if it does.
    containerd: Option<Managed>,
    command: Command,
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
        let containerd =
            if plan.containerd.is_some() { Some(Managed::new(Which::Containerd)?) } else { None };
        Ok(Supervisor {
            cfg,
            plan,
            sigfd,
            mask,
            pid1,
            dockerd: Managed::new(Which::Dockerd)?,
            containerd,
            command: Command::None,
            orphans_reaped: 0,
        })
    }

    /// Runs everything after set-up; returns the exit code.
    pub fn run(mut self) -> u8 {
        match self.start() {
            Ok(()) => {}
            Err(StartFailed::Aborted(sig)) => {
                self.stop(Instant::now(), signals::name(sig).to_string());
                return self.finish((128 + sig) as u8);
            }
            Err(StartFailed::Error(e)) => {
                log::error!("{e}");
                self.stop(Instant::now(), "start-failed".into());
                return self.finish(e.exit_code());
            }
        }
        if let Some((argv, shell)) = self.command_argv() {
            match self.spawn_command(&argv) {
                Ok(pid) => self.command = Command::Running { pid, shell },
                Err(e) => {
                    log::error!("{e}");
                    self.stop(Instant::now(), "start-failed".into());
                    return self.finish(e.exit_code());
                }
            }
        } else {
            log::info!("command: none given: serving dockerd until SIGTERM");
        }
        let outcome = self.run_phase();
        // Also when dockerd ended by itself: the containerd dind-init runs gets its SIGTERM
        // (and the command, if any, its share of the budget) like in any other stop.
        let reason = match &outcome {
            Outcome::CommandExited => "command-exit".to_string(),
            Outcome::Signal(sig) => signals::name(*sig).to_string(),
            _ => "daemon".to_string(),
        };
        let daemon_code = self.stop(Instant::now(), reason);
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

    fn managed(&mut self, which: Which) -> Option<&mut Managed> {
        match which {
            Which::Dockerd => Some(&mut self.dockerd),
            Which::Containerd => self.containerd.as_mut(),
        }
    }

    /// Waits for signals, the log threads' wake pipes, and optionally one more fd, at most
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
                PollFd::new(self.dockerd.tail.wake_fd(), PollFlags::POLLIN),
            ];
            if let Some(c) = &self.containerd {
                fds.push(PollFd::new(c.tail.wake_fd(), PollFlags::POLLIN));
            }
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
        self.dockerd.tail.drain_wakes();
        if let Some(c) = &self.containerd {
            c.tail.drain_wakes();
        }
        let sigs = signals::drain(&mut self.sigfd);
        if sigs.iter().any(|s| s.signo == libc::SIGCHLD) {
            self.reap();
        }
        sigs
    }

    /// Reaps every exited child; records the daemons' and the command's ends.
    fn reap(&mut self) {
        loop {
            let ws = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(ws) => ws,
            };
            let Some((pid, end)) = ended(ws) else { continue };
            let daemon = [Some(&mut self.dockerd), self.containerd.as_mut()]
                .into_iter()
                .flatten()
                .find(|m| m.pid() == Some(pid));
            if let Some(m) = daemon {
                if let Daemon::Running { proc, .. } = &m.state {
                    let ran = proc.started.elapsed();
                    m.state = Daemon::Dead { end, ran };
                }
                continue;
            }
            match &self.command {
                Command::Running { pid: p, .. } if *p == pid => {
                    crate::event!(Info, "command-exit", { pid = pid, status = end.code, clean = end.clean }, "command: {}", end.desc);
                    self.command = Command::Exited(end);
                }
                _ => {
                    self.orphans_reaped += 1;
                    log::trace!("reaped orphan {pid}: {}", end.desc);
                }
            }
        }
    }

    fn command_pid(&self) -> Option<i32> {
        match self.command {
            Command::Running { pid, .. } => Some(pid),
            _ => None,
        }
    }

    fn spawn(&self, which: Which) -> crate::error::Result<Proc> {
        match (which, &self.plan.containerd, &self.containerd) {
            (Which::Dockerd, _, _) => {
                dockerd::spawn(&self.plan, &self.cfg, self.mask, &self.dockerd.tail)
            }
            (Which::Containerd, Some(c), Some(m)) => {
                dockerd::spawn_containerd(c, &self.cfg, self.mask, &m.tail)
            }
            _ => Err(Error::Setup("containerd is not dind-init's to start".into())),
        }
    }

    /// What tells that a daemon is ready: dockerd answers /_ping, containerd's socket
    /// accepts a connection; either way the listener must be the daemon started as `pid`.
    fn probe(&self, which: Which, pid: i32) -> Probe {
        match (which, &self.plan.containerd) {
            (Which::Containerd, Some(c)) => Probe::connect_only(&c.socket, "containerd", pid),
            _ => Probe::owned(&self.plan.socket, pid),
        }
    }

    // ------------------------------------------------------------------ start

    /// containerd (when dind-init runs it), then dockerd, each up and answering.
    fn start(&mut self) -> Result<(), StartFailed> {
        if self.containerd.is_some() {
            self.start_one(Which::Containerd)?;
        }
        self.start_one(Which::Dockerd)
    }

    fn start_one(&mut self, which: Which) -> Result<(), StartFailed> {
        let proc = self.spawn(which).map_err(StartFailed::Error)?;
        let pid = proc.pid;
        match which {
            Which::Dockerd => {
                crate::event!(Info, "dockerd-start", { pid = pid, restart = 0u32 }, "dockerd: spawned")
            }
            Which::Containerd => {
                crate::event!(Info, "containerd-start", { pid = pid, restart = 0u32 }, "containerd: spawned")
            }
        }
        let m = self.managed(which).expect("managed");
        m.state = Daemon::Running { proc, probe: None };
        let name = m.name();
        let start = Instant::now();
        let deadline = start + self.cfg.wait_timeout;
        let mut probe = self.probe(which, pid);
        let sock = probe.socket.display().to_string();
        match which {
            Which::Dockerd => log::info!(
                "ready: waiting up to {:.0?} for dockerd to answer /_ping on {sock}",
                self.cfg.wait_timeout
            ),
            Which::Containerd => {
                log::info!("containerd: waiting up to {:.0?} for {sock}", self.cfg.wait_timeout)
            }
        }
        loop {
            let now = Instant::now();
            if probe.step(now).map_err(|e| StartFailed::Error(Error::Setup(e)))? {
                let took = start.elapsed().as_secs_f64();
                match which {
                    Which::Dockerd => {
                        crate::event!(Info, "dockerd-ready", { socket = sock.as_str(), secs = took, attempts = probe.attempts, restart = 0u32 },
                            "ready: dockerd answered /_ping on {sock} after {took:.3}s ({} attempt(s))",
                            probe.attempts
                        )
                    }
                    Which::Containerd => {
                        crate::event!(Info, "containerd-ready", { socket = sock.as_str(), secs = took, attempts = probe.attempts, restart = 0u32 }, "containerd: serving on {sock} after {took:.3}s")
                    }
                }
                return Ok(());
            }
            // Either daemon dying now is the end of the start-up.
            for m in [Some(&mut self.dockerd), self.containerd.as_mut()].into_iter().flatten() {
                if let Daemon::Dead { end, ran } = &m.state {
                    let when = if m.which == which {
                        "before it was ready".to_string()
                    } else {
                        format!("while {name} was starting")
                    };
                    let msg = format!(
                        "{} {} {when} ({:.1}s after it started). {}",
                        m.name(),
                        end.desc,
                        ran.as_secs_f64(),
                        m.tail.report(m.name())
                    );
                    m.state = Daemon::Gone;
                    return Err(StartFailed::Error(Error::Setup(msg)));
                }
            }
            if now >= deadline {
                let tail = self.managed(which).expect("managed").tail.report(name);
                let what = if which == Which::Dockerd { "answer /_ping on" } else { "listen on" };
                let msg = format!(
                    "{name} did not {what} {sock} within {:.0?} (last: {}). {tail}",
                    self.cfg.wait_timeout, probe.last_error
                );
                if self.cfg.continue_on_timeout && which == Which::Dockerd {
                    log::warn!("{msg}\nready: --continue-on-timeout: running the command anyway");
                    return Ok(());
                }
                let hint =
                    "hint: raise --wait-timeout (DIND_WAIT_TIMEOUT) if the daemon is just slow";
                return Err(StartFailed::Error(Error::Setup(format!("{msg}\n{hint}"))));
            }
            let until = (now + probe.next_wakeup(now)).min(deadline);
            // The probe's socket is polled through a duplicate: `wait` borrows self mutably.
            let fd = probe.fd().and_then(|f| f.try_clone_to_owned().ok());
            for s in self.wait(Some(until), fd.as_ref().map(|f| f.as_fd())) {
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
            log::warn!(
                "command: none given, stdin is a terminal but the image has no shell: \
                serving dockerd"
            );
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
        // getpid, sigaction, sigprocmask); fd 0 is borrowed, not owned or closed.
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
                signals::reset_dispositions(&[]);
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
        crate::event!(
            Info,
            "command-start",
            { pid = pid },
            "command: started pid {pid}: {}",
            crate::redact::urls(&shown.join(" "))
        );
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

    /// A daemon ended by itself while running: log it, apply --on-daemon-exit. Returns false
    /// when dind-init must give up.
    fn daemon_died(cfg: &Config, m: &mut Managed, end: Ended, ran: Duration) -> bool {
        let name = m.name();
        let report = m.tail.report(name);
        crate::event!(Error, "daemon-died", { daemon = name, status = end.code, ran = ran.as_secs_f64() }, "{name} {} after running {:.1}s. {report}", end.desc, ran.as_secs_f64());
        match cfg.on_daemon_exit {
            OnDaemonExit::Ignore => {
                let without = if m.which == Which::Dockerd { "a daemon" } else { "containerd" };
                log::warn!("{name}: --on-daemon-exit=ignore: carrying on without {without}");
                m.state = Daemon::Gone;
                true
            }
            OnDaemonExit::Exit => {
                log::error!(
                    "{name}: --on-daemon-exit=exit: stopping; dind-init will exit {EXIT_SETUP}"
                );
                m.state = Daemon::Gone;
                false
            }
            OnDaemonExit::Restart => {
                if ran > Duration::from_secs(300) {
                    m.restarts = 0;
                }
                if m.restarts >= cfg.max_restarts {
                    log::error!(
                        "{name}: giving up after {} restart(s) (--max-restarts); dind-init will \
                            exit {EXIT_SETUP}",
                        m.restarts
                    );
                    m.state = Daemon::Gone;
                    return false;
                }
                // containerd first restarts at once: dockerd can do nothing without it, and
                // it is back in 0.1 s (dockerd's own supervisor takes 10 s to notice).
                let delay = match (m.which, m.restarts) {
                    (Which::Containerd, 0) => Duration::ZERO,
                    (Which::Containerd, n) => restart_delay(n - 1),
                    (Which::Dockerd, n) => restart_delay(n),
                };
                m.restarts += 1;
                let when =
                    if delay.is_zero() { "now".to_string() } else { format!("in {delay:.0?}") };
                crate::event!(Warn, "daemon-restart", { daemon = name, restart = m.restarts, max = cfg.max_restarts, delay = delay.as_secs_f64() },
                    "{name}: restarting {when} (restart {}/{})",
                    m.restarts,
                    cfg.max_restarts
                );
                m.state = Daemon::Backoff { at: Instant::now() + delay };
                true
            }
        }
    }

    /// Restarts a dead daemon once its back-off is over; watches the new one's readiness.
    /// Returns the next instant to look again, and false when dind-init must give up.
    fn tend(&mut self, which: Which, now: Instant) -> (Option<Instant>, bool) {
        let m = match which {
            Which::Dockerd => &mut self.dockerd,
            Which::Containerd => match self.containerd.as_mut() {
                Some(m) => m,
                None => return (None, true),
            },
        };
        match std::mem::replace(&mut m.state, Daemon::Gone) {
            Daemon::Dead { end, ran } => {
                if !Self::daemon_died(&self.cfg, m, end, ran) {
                    return (None, false);
                }
                self.tend(which, now)
            }
            Daemon::Backoff { at } if now < at => {
                m.state = Daemon::Backoff { at };
                (Some(at), true)
            }
            Daemon::Backoff { .. } => {
                // Our dockerd is dead: its pid file is stale whatever pid it names.
                if which == Which::Dockerd {
                    if let Ok(true) = crate::sys::remove_file(&self.plan.pidfile) {
                        log::info!("stale state: removed pid file {}", self.plan.pidfile.display());
                    }
                }
                match self.spawn(which) {
                    Ok(proc) => {
                        let restart = self.managed(which).expect("managed").restarts;
                        match which {
                            Which::Dockerd => {
                                crate::event!(Info, "dockerd-start", { pid = proc.pid, restart = restart }, "dockerd: spawned")
                            }
                            Which::Containerd => {
                                crate::event!(Info, "containerd-start", { pid = proc.pid, restart = restart }, "containerd: spawned")
                            }
                        }
                        let deadline = now + self.cfg.wait_timeout;
                        let probe = self.probe(which, proc.pid);
                        let m = self.managed(which).expect("managed");
                        m.state = Daemon::Running { proc, probe: Some((probe, deadline)) };
                        self.tend(which, now)
                    }
                    Err(e) => {
                        log::error!("{e}");
                        (None, false)
                    }
                }
            }
            Daemon::Running { proc, probe: Some((mut p, deadline)) } => {
                let name = m.name();
                let ready = match p.step(now) {
                    Ok(r) => r,
                    Err(e) => {
                        // Another daemon took the socket: never trust it, give up (exit 125).
                        log::error!("{e}");
                        m.state = Daemon::Running { proc, probe: None };
                        return (None, false);
                    }
                };
                if ready {
                    let took = proc.started.elapsed().as_secs_f64();
                    match which {
                        Which::Dockerd => {
                            crate::event!(Info, "dockerd-ready", { socket = p.socket.display().to_string(), secs = took, attempts = p.attempts, restart = m.restarts },
                                "ready: dockerd answered /_ping again after {took:.3}s (restart {})",
                                m.restarts
                            )
                        }
                        Which::Containerd => {
                            crate::event!(Info, "containerd-ready", { socket = p.socket.display().to_string(), secs = took, attempts = p.attempts, restart = m.restarts },
                                "containerd: serving again after {took:.3}s (restart {})",
                                m.restarts
                            )
                        }
                    }
                    m.state = Daemon::Running { proc, probe: None };
                    return (None, true);
                }
                if now >= deadline {
                    // The same rule as at start: a daemon that does not answer in time is a
                    // failed one. It is killed; its end then goes through --on-daemon-exit.
                    let what = if which == Which::Dockerd { "answer /_ping" } else { "listen" };
                    log::error!(
                        "{name} (pid {}) did not {what} within {:.0?} after its restart (last: \
                            {}): killing it",
                        proc.pid,
                        self.cfg.wait_timeout,
                        p.last_error
                    );
                    signals::send_group_and_leader(proc.pid, libc::SIGKILL);
                    m.state = Daemon::Running { proc, probe: None };
                    return (None, true);
                }
                let next = (now + p.next_wakeup(now)).min(deadline);
                m.state = Daemon::Running { proc, probe: Some((p, deadline)) };
                (Some(next), true)
            }
            other => {
                m.state = other;
                (None, true)
            }
        }
    }

    /// The command (or the shell, or serving dockerd) runs until it exits, a stop is asked
    /// for, or a daemon is given up.
    fn run_phase(&mut self) -> Outcome {
        let serving = matches!(self.command, Command::None);
        loop {
            if matches!(self.command, Command::Exited(_)) {
                return Outcome::CommandExited;
            }
            if serving && self.cfg.on_daemon_exit != OnDaemonExit::Restart {
                if let Daemon::Dead { end, ran } = &self.dockerd.state {
                    // Nothing else runs here: dockerd's end is dind-init's end.
                    let report = self.dockerd.tail.report("dockerd");
                    crate::event!(Error, "daemon-died", { daemon = "dockerd", status = end.code, ran = ran.as_secs_f64() },
                        "dockerd {} after running {:.1}s. {report}",
                        end.desc,
                        ran.as_secs_f64()
                    );
                    let code = end.code;
                    self.dockerd.state = Daemon::Gone;
                    return Outcome::DaemonEnded(code);
                }
            }
            let now = Instant::now();
            let (next_c, ok_c) = self.tend(Which::Containerd, now);
            let (next_d, ok_d) = self.tend(Which::Dockerd, now);
            if !(ok_c && ok_d) {
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
            let next = [next_c, next_d].into_iter().flatten().min();
            // A probe after a restart: poll its socket too (a duplicate: `wait` borrows self).
            let fd = [Some(&self.dockerd), self.containerd.as_ref()]
                .into_iter()
                .flatten()
                .find_map(|m| match &m.state {
                    Daemon::Running { probe: Some((p, _)), .. } => {
                        p.fd().and_then(|f| f.try_clone_to_owned().ok())
                    }
                    _ => None,
                });
            for s in self.wait(next, fd.as_ref().map(|f| f.as_fd())) {
                if s.signo == libc::SIGCHLD {
                    continue;
                }
                if serving {
                    // SIGHUP is dockerd's "reload configuration": forwarded, not a stop.
                    if is_terminating(s.signo) && s.signo != libc::SIGHUP {
                        log::info!("received {}: stopping dockerd", signals::name(s.signo));
                        return Outcome::Signal(s.signo);
                    }
                    if let Some(pid) = self.dockerd.pid() {
                        log::debug!("forwarded {} to dockerd", signals::name(s.signo));
                        signals::send(pid, s.signo);
                    }
                    continue;
                }
                self.forward(s.signo);
                if s.signo == libc::SIGTERM {
                    log::info!(
                        "received SIGTERM: the command has {:.1?} to exit, then dockerd is stopped \
                         (--shutdown-timeout {:.1?})",
                        self.cfg.shutdown_timeout / 2,
                        self.cfg.shutdown_timeout
                    );
                    return Outcome::Signal(s.signo);
                }
            }
        }
    }

    // ------------------------------------------------------------------ stop

    /// Stops everything within the budget counted from `t0`; returns dockerd's exit code
    /// (0 when dind-init ended its final wait), if it ran.
    fn stop(&mut self, t0: Instant, reason: String) -> Option<u8> {
        crate::event!(Info, "stop-begin", { reason = reason.as_str(), budget = self.cfg.shutdown_timeout.as_secs_f64() }, "shutdown: stop begins ({reason})");
        for m in [Some(&mut self.dockerd), self.containerd.as_mut()].into_iter().flatten() {
            if matches!(m.state, Daemon::Backoff { .. }) {
                m.state = Daemon::Gone;
            }
        }
        let total = self.cfg.shutdown_timeout;
        let mut stop = Stop::new(t0, total, self.cfg.wait_containerd);
        let mut ends: [Option<Ended>; 2] = [None, None];
        loop {
            for (i, m) in
                [Some(&mut self.dockerd), self.containerd.as_mut()].into_iter().enumerate()
            {
                if let Some(m) = m {
                    if let Daemon::Dead { end, .. } = &m.state {
                        ends[i] = Some(end.clone());
                        m.state = Daemon::Gone;
                    }
                }
            }
            let now = Instant::now();
            let dpid = self.dockerd.pid();
            let has_child = || {
                dpid.is_some_and(|p| procs::has_live_child(&procs::processes(Path::new(PROC)), p))
            };
            let seen = Seen {
                command_running: self.command_pid().is_some(),
                daemon_running: dpid.is_some(),
                containerd_running: self.containerd.as_ref().is_some_and(|c| c.pid().is_some()),
                log_complete: self.dockerd.tail.shutdown_complete(),
                daemon_has_child: &has_child,
            };
            let (acts, next) = stop.step(now, &seen);
            for act in acts {
                self.act(act, &stop);
            }
            let containerd_running = self.containerd.as_ref().is_some_and(|c| c.pid().is_some());
            if self.command_pid().is_none() && self.dockerd.pid().is_none() && !containerd_running {
                break;
            }
            // SIGKILL cannot end a process in uninterruptible sleep: do not wait for ever.
            let give_up = stop.budget.end + Duration::from_secs(3);
            if now >= give_up {
                log::warn!(
                    "shutdown: processes still there 3 s after the budget: giving up on them"
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
        // Nothing the daemons said on their way out may be lost: drain their log pipes.
        self.dockerd.tail.wait_closed(Duration::from_secs(2));
        if let (Some(end), Some(at)) = (&ends[1], stop.containerd_term_at) {
            let took = at.elapsed().as_secs_f64();
            crate::event!(Info, "containerd-exit", { status = end.code, clean = end.clean && !stop.containerd_killed, secs = took, killed = stop.containerd_killed }, "containerd: exit recorded");
            if stop.containerd_killed {
                log::warn!("shutdown: containerd needed SIGKILL");
            } else if end.clean {
                log::info!("shutdown: containerd exited cleanly after {took:.3}s");
            } else {
                log::warn!("shutdown: containerd {}", end.desc);
            }
        }
        let end = ends[0].take()?;
        let term_at = stop.term_at.unwrap_or(t0);
        let took = stop.daemon_gone_after.map_or(0.0, |d| d.as_secs_f64());
        let ended_wait = stop.killed_at.is_none() && stop.ended_wait_at.is_some() && !end.clean;
        let clean = stop.killed_at.is_none() && (end.clean || ended_wait);
        crate::event!(Info, "dockerd-exit", { status = if ended_wait { 0 } else { end.code }, clean = clean, secs = took, killed = stop.killed_at.is_some(), ended_wait = ended_wait }, "dockerd: exit recorded");
        if stop.killed_at.is_some() {
            log::warn!("shutdown: dockerd needed SIGKILL after {took:.3}s");
        } else if let Some(at) = stop.ended_wait_at.filter(|_| !end.clean) {
            stale::remove_left_behind(&self.plan);
            log::info!(
                "shutdown: dockerd exited cleanly after {took:.3}s (its shutdown was complete \
                 and its containerd gone after {:.3}s: dind-init ended its fixed 1 s wait for \
                 containerd)",
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
                    crate::event!(Info, "command-kill", { pid = pid }, "command: SIGKILLed");
                }
            }
            Act::TermDaemon => {
                if let Some(pid) = self.dockerd.pid() {
                    let left = stop.budget.end.saturating_duration_since(Instant::now());
                    log::info!(
                        "shutdown: sending SIGTERM to dockerd (pid {pid}), waiting up to \
                        {left:.1?}"
                    );
                    self.dockerd.tail.arm();
                    signals::send(pid, libc::SIGTERM);
                }
            }
            Act::KillInnerContainers => {
                // Only the containers behind our own shims: descendants of dind-init, never
                // a process that merely bears a shim's name.
                let table = procs::processes(Path::new(PROC));
                let owned = procs::Owned::new(&table, std::process::id() as i32);
                let inner = owned.inner_containers();
                if !inner.is_empty() {
                    log::warn!(
                        "shutdown: {} inner container process(es) still running: SIGKILL, so \
                         dockerd can finish in time",
                        inner.len()
                    );
                    crate::event!(
                        Info,
                        "inner-kill",
                        { count = inner.len() },
                        "shutdown: inner containers SIGKILLed"
                    );
                    procs::signal_all(Path::new(PROC), &inner, &owned, libc::SIGKILL);
                }
            }
            Act::EndWait => {
                if let Some(pid) = self.dockerd.pid() {
                    log::debug!(
                        "shutdown: dockerd's shutdown is complete and its containerd exited: \
                         ending its final wait (SIGKILL to pid {pid})"
                    );
                    signals::send(pid, libc::SIGKILL);
                }
            }
            Act::KillDaemon => {
                if let Some(pid) = self.dockerd.pid() {
                    log::warn!(
                        "shutdown: dockerd did not stop within {:.0?}: sending SIGKILL",
                        self.cfg.shutdown_timeout
                    );
                    signals::send_group_and_leader(pid, libc::SIGKILL);
                }
            }
            Act::TermContainerd => {
                if let Some(pid) = self.containerd.as_ref().and_then(|c| c.pid()) {
                    log::info!("shutdown: sending SIGTERM to containerd (pid {pid})");
                    signals::send(pid, libc::SIGTERM);
                }
            }
            Act::KillContainerd => {
                if let Some(pid) = self.containerd.as_ref().and_then(|c| c.pid()) {
                    log::warn!("shutdown: containerd did not stop in time: sending SIGKILL");
                    signals::send_group_and_leader(pid, libc::SIGKILL);
                }
            }
        }
    }

    /// Kills what is left, reaps it, logs the exit code. As PID 1 that is everything in the
    /// PID namespace (kill(-1)); otherwise every process still in dind-init's own tree (inner
    /// containers must not outlive it), never anything else.
    fn finish(&mut self, code: u8) -> u8 {
        if !self.pid1 {
            self.kill_own_tree();
        }
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
        self.dockerd.tail.wait_closed(Duration::from_secs(2));
        log::debug!("reaped {} orphan(s) in total", self.orphans_reaped);
        crate::event!(Info, "exit", { code = code }, "exit {code}");
        code
    }
}

impl Supervisor {
    /// Not PID 1: SIGKILLs every process left in dind-init's tree (through pidfds, each
    /// checked against the snapshot), reaps them, and logs how many; bounded, as a process in
    /// uninterruptible sleep cannot be ended. Repeated while new ones appear (a process forked
    /// between the snapshot and the kill).
    fn kill_own_tree(&mut self) {
        let me = std::process::id() as i32;
        let deadline = Instant::now() + FINAL_REAP;
        let mut tried: Vec<(i32, u64)> = Vec::new();
        let mut killed = 0;
        loop {
            self.reap();
            let table = procs::processes(Path::new(PROC));
            let owned = procs::Owned::new(&table, me);
            let live = owned.live();
            if live.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                log::warn!(
                    "shutdown: {} process(es) of dind-init's tree still there {FINAL_REAP:.0?} \
                     after SIGKILL (uninterruptible sleep?): leaving them",
                    live.len()
                );
                break;
            }
            let fresh: Vec<&procs::Proc> =
                live.into_iter().filter(|p| !tried.contains(&(p.pid, p.starttime))).collect();
            if !fresh.is_empty() {
                killed += procs::signal_all(Path::new(PROC), &fresh, &owned, libc::SIGKILL);
                tried.extend(fresh.iter().map(|p| (p.pid, p.starttime)));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.reap();
        if killed > 0 {
            crate::event!(
                Info,
                "leftover-kill",
                { count = killed },
                "shutdown: leftovers SIGKILLed"
            );
            log::warn!(
                "shutdown: {killed} process(es) left in dind-init's tree (not PID 1): SIGKILLed \
                 and reaped, so none outlives it"
            );
        }
    }
}

/// Where the process table is read.
const PROC: &str = "/proc";
/// How long the final SIGKILL of what is left may take to be reaped.
const FINAL_REAP: Duration = Duration::from_secs(2);

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
