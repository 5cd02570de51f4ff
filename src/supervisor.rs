//! The supervisor: one `poll` loop over the signalfd (and, during start-up, the readiness
//! probe's socket) that drives dind-init through its states: dockerd starting, the command
//! running, dockerd stopping. After every wakeup it reaps every exited child, so orphans of
//! the command, of `docker exec` sessions and of dockerd never linger as zombies. Once the
//! command runs, the loop sleeps without a timeout: an idle dind-init uses no CPU.

use crate::config::{Config, OnDaemonExit};
use crate::daemon::{self, LogTail, Plan, Running};
use crate::error::{Error, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, EXIT_SETUP};
use crate::ready::Probe;
use crate::signals;
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use std::ffi::OsString;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the shutdown looks whether dockerd is done (only while stopping it).
const SHUTDOWN_POLL: Duration = Duration::from_millis(5);
/// How long a finished dockerd without a live child may take to exit by itself.
const DONE_GRACE: Duration = Duration::from_millis(10);

/// How a start-up ended.
enum Startup {
    Ready,
    /// A terminating signal arrived before the command started.
    Aborted(i32),
    Failed(String),
}

/// A finished process: exit code as the shell reports it, and words for the log.
struct Ended {
    code: u8,
    desc: String,
    clean: bool,
}

fn ended(ws: WaitStatus) -> Option<(i32, Ended)> {
    match ws {
        WaitStatus::Exited(pid, c) => Some((pid.as_raw(), Ended { code: c as u8, desc: format!("exited with status {c}"), clean: c == 0 })),
        WaitStatus::Signaled(pid, sig, _) => {
            let n = sig as i32;
            Some((pid.as_raw(), Ended { code: (128 + n) as u8, desc: format!("killed by signal {}", signals::name(n)), clean: false }))
        }
        _ => None,
    }
}

/// Signals that end dind-init's start-up or daemon mode.
/// Sends `sig` to a process group and to its leader (which may have left the group).
fn signal_group_and_leader(pid: i32, sig: i32) {
    unsafe {
        libc::kill(-pid, sig);
        libc::kill(pid, sig);
    }
}

fn is_terminating(sig: i32) -> bool {
    [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT, libc::SIGHUP].contains(&sig)
}

pub struct Supervisor {
    cfg: Box<Config>,
    plan: Plan,
    sigfd: SignalFd,
    orig_mask: libc::sigset_t,
    pid1: bool,
    tail: Arc<LogTail>,
    daemon: Option<Running>,
    /// dockerd's end, once reaped, with how long it ran.
    daemon_ended: Option<(Ended, Duration)>,
    child: Option<i32>,
    child_ended: Option<Ended>,
    restarts: u32,
    restart_at: Option<Instant>,
    /// Readiness after a restart, probed in the background of the main loop.
    reprobe: Option<(Probe, Instant)>,
    /// Set when dind-init must exit 125 whatever the command does (daemon gave up).
    failed: bool,
    kill_child_at: Option<Instant>,
    orphans_reaped: u64,
}

impl Supervisor {
    pub fn new(cfg: Box<Config>, plan: Plan, sigfd: SignalFd, orig_mask: libc::sigset_t, pid1: bool) -> Supervisor {
        Supervisor {
            cfg,
            plan,
            sigfd,
            orig_mask,
            pid1,
            tail: Arc::new(LogTail::default()),
            daemon: None,
            daemon_ended: None,
            child: None,
            child_ended: None,
            restarts: 0,
            restart_at: None,
            reprobe: None,
            failed: false,
            kill_child_at: None,
            orphans_reaped: 0,
        }
    }

    /// Runs everything after set-up; returns the exit code.
    pub fn run(mut self) -> u8 {
        match daemon::spawn(&self.plan, &self.cfg, &self.orig_mask, &self.tail) {
            Ok(r) => self.daemon = Some(r),
            Err(e) => return self.fail(e),
        }
        match self.wait_ready() {
            Startup::Ready => {}
            Startup::Aborted(sig) => {
                self.stop_daemon();
                return self.finish((128 + sig) as u8);
            }
            Startup::Failed(msg) => {
                log::error!("{msg}");
                self.stop_daemon();
                return self.finish(EXIT_SETUP);
            }
        }
        let argv = self.command_argv();
        let Some(argv) = argv else {
            return self.serve();
        };
        match self.spawn_command(&argv) {
            Ok(pid) => self.child = Some(pid),
            Err(e) => {
                log::error!("{e}");
                self.stop_daemon();
                return self.finish(e.exit_code());
            }
        }
        let code = self.supervise_command();
        self.stop_daemon();
        self.finish(code)
    }

    fn fail(&mut self, e: Error) -> u8 {
        log::error!("{e}");
        self.finish(e.exit_code())
    }

    /// The command to run: the user's, a login shell on a terminal, or None (daemon mode).
    fn command_argv(&self) -> Option<Vec<OsString>> {
        if !self.cfg.command.is_empty() {
            return Some(self.cfg.command.clone());
        }
        if unsafe { libc::isatty(0) } == 1 {
            for sh in ["/bin/bash", "/bin/sh"] {
                if std::path::Path::new(sh).exists() {
                    log::info!("command: none given and stdin is a terminal: starting {sh} -l");
                    return Some(vec![sh.into(), "-l".into()]);
                }
            }
            log::warn!("command: none given, stdin is a terminal but the image has no shell: serving dockerd");
        }
        None
    }

    /// Waits for signals (and optionally one more fd); returns the signals received.
    fn wait(&mut self, timeout: Option<Duration>, extra: Option<RawFd>) -> Vec<i32> {
        let mut fds = vec![libc::pollfd { fd: self.sigfd.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        if let Some(fd) = extra {
            fds.push(libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
        }
        let ms = match timeout {
            None => -1,
            // Round up so a 0.4 ms wait does not spin.
            Some(d) => d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32,
        };
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        let sigs = signals::drain(&mut self.sigfd);
        if sigs.contains(&libc::SIGCHLD) {
            self.reap();
        }
        sigs
    }

    /// Reaps every exited child; remembers dockerd's and the command's ends.
    fn reap(&mut self) {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(ws) => {
                    let Some((pid, end)) = ended(ws) else { continue };
                    if self.daemon.as_ref().map(|d| d.pid) == Some(pid) {
                        let d = self.daemon.take().expect("daemon");
                        self.daemon_ended = Some((end, d.started.elapsed()));
                    } else if self.child == Some(pid) {
                        log::info!("command: {}", end.desc);
                        self.child = None;
                        self.child_ended = Some(end);
                    } else {
                        self.orphans_reaped += 1;
                        log::trace!("reaped orphan {pid}: {}", end.desc);
                    }
                }
            }
        }
    }

    fn tail_report(&self) -> String {
        self.tail.wait_closed(Duration::from_millis(300));
        let mut s = format!("Last lines of dockerd's log:\n{}", self.tail.render(daemon::TAIL_LINES));
        for h in daemon::hints(&self.tail.lines()) {
            s.push_str(&format!("\nhint: {h}"));
        }
        s
    }

    fn wait_ready(&mut self) -> Startup {
        let start = Instant::now();
        let deadline = start + self.cfg.wait_timeout;
        let mut probe = Probe::new(self.plan.target.clone());
        log::info!("ready: waiting up to {:.0?} for dockerd to answer /_ping on {}", self.cfg.wait_timeout, self.plan.target);
        loop {
            let now = Instant::now();
            if probe.step(now) {
                log::info!(
                    "ready: dockerd answered /_ping on {} after {:.3}s ({} attempt(s))",
                    self.plan.target,
                    start.elapsed().as_secs_f64(),
                    probe.attempts
                );
                return Startup::Ready;
            }
            if let Some((end, up)) = self.daemon_ended.take() {
                return Startup::Failed(format!(
                    "dockerd {} before it was ready ({:.1}s after it started). {}",
                    end.desc,
                    up.as_secs_f64(),
                    self.tail_report()
                ));
            }
            if now >= deadline {
                let msg = format!(
                    "dockerd did not answer /_ping on {} within {:.0?} (last: {}). {}",
                    self.plan.target,
                    self.cfg.wait_timeout,
                    probe.last_error,
                    self.tail_report()
                );
                if self.cfg.continue_on_timeout {
                    log::warn!("{msg}\nready: --continue-on-timeout: running the command anyway");
                    return Startup::Ready;
                }
                return Startup::Failed(format!("{msg}\nhint: raise --wait-timeout (DIND_WAIT_TIMEOUT) if the daemon is just slow"));
            }
            let timeout = probe.next_wakeup(now).min(deadline - now);
            for sig in self.wait(Some(timeout), probe.fd()) {
                if is_terminating(sig) {
                    log::info!("received {} before the command started: aborting start-up", signals::name(sig));
                    return Startup::Aborted(sig);
                }
                if sig != libc::SIGCHLD {
                    log::debug!("ignoring {} during start-up", signals::name(sig));
                }
            }
        }
    }

    fn spawn_command(&self, argv: &[OsString]) -> Result<i32, Error> {
        let prog = argv[0].to_string_lossy().into_owned();
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        if std::env::var_os("DOCKER_HOST").is_none() {
            cmd.env("DOCKER_HOST", self.plan.target.docker_host());
        }
        if self.cfg.testcontainers && std::env::var_os("TESTCONTAINERS_HOST_OVERRIDE").is_none() {
            cmd.env("TESTCONTAINERS_HOST_OVERRIDE", "localhost");
        }
        let tty = unsafe { libc::isatty(0) } == 1;
        let mask = self.orig_mask;
        unsafe {
            cmd.pre_exec(move || {
                // Own process group; on a terminal, the foreground one, so Ctrl-C and job
                // control reach the command and never dockerd. SIGTTOU is still blocked here,
                // so tcsetpgrp from a background group is allowed.
                libc::setpgid(0, 0);
                if tty {
                    libc::tcsetpgrp(0, libc::getpid());
                }
                if libc::sigprocmask(libc::SIG_SETMASK, &mask, std::ptr::null_mut()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| {
            let path = std::path::Path::new(&argv[0]);
            match e.raw_os_error() {
                Some(libc::ENOENT) if prog.contains('/') => Error::Exec(EXIT_NOT_FOUND, format!("command not found: {prog}: no such file")),
                Some(libc::ENOENT) => Error::Exec(EXIT_NOT_FOUND, format!("command not found: '{prog}' is not in PATH")),
                _ if path.is_dir() => Error::Exec(EXIT_NOT_EXECUTABLE, format!("cannot run {prog}: it is a directory")),
                Some(libc::EACCES) => Error::Exec(EXIT_NOT_EXECUTABLE, format!("cannot run {prog}: permission denied (not executable)")),
                Some(libc::ENOEXEC) => Error::Exec(EXIT_NOT_EXECUTABLE, format!("cannot run {prog}: exec format error (not a binary, no #! line)")),
                _ => Error::Exec(EXIT_NOT_EXECUTABLE, format!("cannot run {prog}: {e}")),
            }
        })?;
        let pid = child.id() as i32;
        drop(child);
        let shown: Vec<String> = argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        log::info!("command: started pid {pid}: {}", shown.join(" "));
        Ok(pid)
    }

    /// Signals the command (or its process group).
    fn forward(&self, sig: i32) {
        let Some(pid) = self.child else { return };
        let target = if self.cfg.signal_group { -pid } else { pid };
        let r = unsafe { libc::kill(target, sig) };
        log::debug!("forwarded {} to {}{}", signals::name(sig), if target < 0 { "process group " } else { "pid " }, pid);
        if r != 0 && self.cfg.signal_group {
            // The group may be gone while the leader lives on.
            unsafe { libc::kill(pid, sig) };
        }
    }

    fn terminate_child(&mut self) {
        if let Some(pid) = self.child {
            log::warn!("command: sending SIGTERM to pid {pid} (SIGKILL in {:.0?})", self.cfg.shutdown_timeout);
            signal_group_and_leader(pid, libc::SIGTERM);
            self.kill_child_at = Some(Instant::now() + self.cfg.shutdown_timeout);
        }
    }

    /// dockerd ended on its own: log it and apply --on-daemon-exit. Returns false when
    /// dind-init must give up.
    fn daemon_died(&mut self, end: Ended, up: Duration) -> bool {
        log::error!("dockerd {} after running {:.1}s. {}", end.desc, up.as_secs_f64(), self.tail_report());
        match self.cfg.on_daemon_exit {
            OnDaemonExit::Ignore => {
                log::warn!("dockerd: --on-daemon-exit=ignore: carrying on without a daemon");
                true
            }
            OnDaemonExit::Exit => {
                log::error!("dockerd: --on-daemon-exit=exit: stopping; dind-init will exit {EXIT_SETUP}");
                false
            }
            OnDaemonExit::Restart => {
                if up > Duration::from_secs(300) {
                    self.restarts = 0;
                }
                if self.restarts >= self.cfg.max_restarts {
                    log::error!("dockerd: giving up after {} restart(s) (--max-restarts); dind-init will exit {EXIT_SETUP}", self.restarts);
                    return false;
                }
                let delay = Duration::from_secs((1u64 << self.restarts.min(5)).min(30));
                self.restarts += 1;
                log::warn!("dockerd: restarting in {:.0?} (restart {}/{})", delay, self.restarts, self.cfg.max_restarts);
                self.restart_at = Some(Instant::now() + delay);
                true
            }
        }
    }

    fn restart_daemon(&mut self) -> bool {
        self.restart_at = None;
        // Our dockerd is dead: its pid file is stale whatever pid it names.
        if std::fs::remove_file(&self.plan.pidfile).is_ok() {
            log::info!("stale state: removed pid file {}", self.plan.pidfile.display());
        }
        match daemon::spawn(&self.plan, &self.cfg, &self.orig_mask, &self.tail) {
            Ok(r) => {
                self.daemon = Some(r);
                self.reprobe = Some((Probe::new(self.plan.target.clone()), Instant::now()));
                true
            }
            Err(e) => {
                log::error!("{e}");
                false
            }
        }
    }

    /// Timers and the background probe after a restart; returns the poll timeout and fd.
    fn timers(&mut self) -> (Option<Duration>, Option<RawFd>) {
        let now = Instant::now();
        let mut timeout: Option<Duration> = None;
        let mut min = |d: Duration| timeout = Some(timeout.map_or(d, |t: Duration| t.min(d)));
        if let Some(at) = self.restart_at {
            min(at.saturating_duration_since(now));
        }
        if let Some(at) = self.kill_child_at {
            min(at.saturating_duration_since(now));
        }
        let mut fd = None;
        if let Some((p, _)) = &self.reprobe {
            min(p.next_wakeup(now));
            fd = p.fd();
        }
        (timeout, fd)
    }

    fn tick(&mut self) -> bool {
        let now = Instant::now();
        if let Some((end, up)) = self.daemon_ended.take() {
            self.reprobe = None;
            if !self.daemon_died(end, up) {
                return false;
            }
        }
        if self.restart_at.is_some_and(|at| now >= at) && !self.restart_daemon() {
            return false;
        }
        if let Some((p, since)) = &mut self.reprobe {
            if p.step(now) {
                log::info!("ready: dockerd answered /_ping again after {:.3}s (restart {})", since.elapsed().as_secs_f64(), self.restarts);
                self.reprobe = None;
            }
        }
        self.kill_child_if_due(now);
        true
    }

    /// SIGKILL to the command once its grace after SIGTERM is over.
    fn kill_child_if_due(&mut self, now: Instant) {
        if self.kill_child_at.is_some_and(|at| now >= at) {
            if let Some(pid) = self.child {
                log::warn!("command: still running after SIGTERM: SIGKILL");
                signal_group_and_leader(pid, libc::SIGKILL);
            }
            self.kill_child_at = None;
        }
    }

    fn supervise_command(&mut self) -> u8 {
        loop {
            if let Some(end) = self.child_ended.take() {
                return if self.failed { EXIT_SETUP } else { end.code };
            }
            if !self.failed && !self.tick() {
                self.failed = true;
                self.restart_at = None;
                self.terminate_child();
            } else if self.failed {
                self.tick_kill_only();
            }
            let (timeout, fd) = self.timers();
            for sig in self.wait(timeout, fd) {
                if sig != libc::SIGCHLD {
                    self.forward(sig);
                }
            }
        }
    }

    fn tick_kill_only(&mut self) {
        self.daemon_ended = None;
        self.kill_child_if_due(Instant::now());
    }

    /// Daemon mode: no command; dockerd runs until a terminating signal.
    fn serve(&mut self) -> u8 {
        log::info!("command: none given: serving dockerd until SIGTERM");
        loop {
            if let Some((end, up)) = self.daemon_ended.take() {
                self.reprobe = None;
                if self.cfg.on_daemon_exit != OnDaemonExit::Restart {
                    // Nothing else runs here: dockerd's end is dind-init's end.
                    log::error!("dockerd {} after running {:.1}s. {}", end.desc, up.as_secs_f64(), self.tail_report());
                    return self.finish(end.code);
                }
                if !self.daemon_died(end, up) {
                    return self.finish(EXIT_SETUP);
                }
            }
            if !self.tick() {
                return self.finish(EXIT_SETUP);
            }
            let (timeout, fd) = self.timers();
            for sig in self.wait(timeout, fd) {
                // SIGHUP is dockerd's "reload configuration": forwarded, not a stop.
                if is_terminating(sig) && sig != libc::SIGHUP {
                    log::info!("received {}: stopping dockerd", signals::name(sig));
                    let code = self.stop_daemon().unwrap_or(0);
                    return self.finish(code);
                }
                if sig != libc::SIGCHLD {
                    if let Some(d) = &self.daemon {
                        log::debug!("forwarded {} to dockerd", signals::name(sig));
                        unsafe { libc::kill(d.pid, sig) };
                    }
                }
            }
        }
    }

    /// SIGTERM to dockerd, wait up to --shutdown-timeout, then SIGKILL. Returns its exit code.
    fn stop_daemon(&mut self) -> Option<u8> {
        self.restart_at = None;
        self.reprobe = None;
        let Some(pid) = self.daemon.as_ref().map(|d| d.pid) else {
            return self.daemon_ended.take().map(|(e, _)| e.code);
        };
        let start = Instant::now();
        let deadline = start + self.cfg.shutdown_timeout;
        // Inner containers first, within our budget (dockerd would give each one 10 s).
        let secs = self.cfg.shutdown_timeout.as_secs().saturating_sub(3).max(1);
        let n = daemon::stop_containers(&self.plan.target, secs);
        if n > 0 {
            log::info!("shutdown: {n} inner container(s) stopped in {:.3}s", start.elapsed().as_secs_f64());
        }
        self.reap();
        if self.daemon.is_none() {
            return self.daemon_ended.take().map(|(e, _)| e.code);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        log::info!("shutdown: sending SIGTERM to dockerd (pid {pid}), waiting up to {:.1?}", left);
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let mut killed = false;
        // dockerd's last act is to SIGTERM its containerd and then sleep a whole second
        // before it looks whether containerd is gone (moby libcontainerd/supervisor,
        // stopDaemon). Once it has logged that its own shutdown is complete and it has no
        // live child left, nothing remains but that sleep and removing its pid file: end it.
        let mut done_since: Option<Instant> = None;
        let mut ended_wait = None;
        while self.daemon.is_some() {
            let now = Instant::now();
            let watching = !self.cfg.wait_containerd && !killed && ended_wait.is_none();
            if watching && self.tail.shutdown_complete() {
                if daemon::has_live_child(pid) == Some(false) {
                    let since = *done_since.get_or_insert(now);
                    // A dockerd without a containerd child of its own exits by itself
                    // within a few ms of the line: give it that chance.
                    if now - since >= DONE_GRACE {
                        log::debug!("shutdown: dockerd's shutdown is complete and its containerd exited: ending its final wait (SIGKILL to pid {pid})");
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                        ended_wait = Some(now);
                    }
                } else {
                    done_since = None;
                }
            }
            if now >= deadline && !killed {
                log::warn!("shutdown: dockerd did not stop within {:.0?}: sending SIGKILL", self.cfg.shutdown_timeout);
                signal_group_and_leader(pid, libc::SIGKILL);
                killed = true;
            }
            let left = if killed {
                Duration::from_millis(100)
            } else if watching {
                // Watching for the end of dockerd's own shutdown (a flag set by the log thread).
                (deadline - now).min(SHUTDOWN_POLL)
            } else {
                deadline - now
            };
            for sig in self.wait(Some(left), None) {
                if sig != libc::SIGCHLD {
                    log::debug!("shutdown: ignoring {}", signals::name(sig));
                }
            }
        }
        let (end, _) = self.daemon_ended.take()?;
        let took = start.elapsed().as_secs_f64();
        // Nothing dockerd said on its way out may be lost: drain its log pipe first.
        self.tail.wait_closed(Duration::from_secs(2));
        if killed {
            log::warn!("shutdown: dockerd needed SIGKILL after {took:.3}s");
        } else if let Some(at) = ended_wait.filter(|_| !end.clean) {
            daemon::remove_left_behind(&self.plan);
            log::info!(
                "shutdown: dockerd exited cleanly after {took:.3}s (its shutdown was complete and its containerd gone after {:.3}s: dind-init ended its fixed 1 s wait for containerd)",
                (at - start).as_secs_f64()
            );
            return Some(0);
        } else if end.clean {
            log::info!("shutdown: dockerd exited cleanly after {took:.3}s");
        } else {
            log::warn!("shutdown: dockerd {} after {took:.3}s", end.desc);
        }
        Some(end.code)
    }

    /// Kills what is left (as PID 1), reaps it, logs the exit code.
    fn finish(&mut self, code: u8) -> u8 {
        if self.pid1 {
            unsafe { libc::kill(-1, libc::SIGKILL) };
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
