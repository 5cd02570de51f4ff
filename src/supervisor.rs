//! The supervisor: the effects of the lifecycle (`lifecycle.rs` decides). One `poll` loop
//! over the signalfd, the daemons' log wake pipes and the readiness probes' sockets; what it
//! sees (signals, reaped children, probe answers, time) goes to `Machine::step` as events,
//! and the actions that come back are carried out here: spawn, probe, signal, reap, and the
//! final kill of what is left. After every wake-up it reaps every exited child, so orphans of
//! the command, of `docker exec` sessions and of dockerd never linger as zombies. It sleeps
//! without a timeout unless a deadline is due: an idle dind-init uses no CPU. What it logs is
//! worded in `words.rs`.

mod words;

use crate::config::Config;
use crate::docker_api::Probe;
use crate::dockerd::{self, procs, stale, LogTail, Plan};
use crate::error::Error;
use crate::lifecycle::{Action, Event, Looks, Machine, Note, Params, Status, Which};
use crate::signals::{self, OriginalMask};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the process table is read.
const PROC: &str = "/proc";
/// How long the final SIGKILL of what is left may take to be reaped.
const FINAL_REAP: Duration = Duration::from_secs(2);

/// A reaped child: its pid and how it ended.
fn status_of(ws: WaitStatus) -> Option<(i32, Status)> {
    match ws {
        WaitStatus::Exited(pid, c) => Some((pid.as_raw(), Status::exited(c))),
        WaitStatus::Signaled(pid, sig, _) => Some((pid.as_raw(), Status::killed(sig as i32))),
        _ => None,
    }
}

pub struct Supervisor {
    cfg: Box<Config>,
    plan: Plan,
    sigfd: SignalFd,
    mask: OriginalMask,
    pid1: bool,
    m: Machine,
    /// The daemons' log tails, by `Which` (containerd's only when dind-init runs it).
    tails: [Option<Arc<LogTail>>; 2],
    /// The readiness probes, by `Which`, while a daemon has not answered since its start.
    probes: [Option<Probe>; 2],
    /// The preload under way (`--preload`).
    preload: Option<crate::preload::Running>,
    orphans_reaped: u64,
}

impl Supervisor {
    pub fn new(
        cfg: Box<Config>,
        plan: Plan,
        sigfd: SignalFd,
        mask: OriginalMask,
        pid1: bool,
    ) -> crate::error::Result<Supervisor> {
        let tail = || {
            let t = LogTail::new().map_err(|e| Error::Setup(format!("cannot create a pipe: {e}")));
            t.map(|t| Some(Arc::new(t)))
        };
        let tails = [if plan.containerd.is_some() { tail()? } else { None }, tail()?];
        let m = Machine::new(Params {
            wait_timeout: cfg.wait_timeout,
            continue_on_timeout: cfg.continue_on_timeout,
            shutdown_timeout: cfg.shutdown_timeout,
            on_daemon_exit: cfg.on_daemon_exit,
            max_restarts: cfg.max_restarts,
            signal_group: cfg.signal_group,
            wait_containerd: cfg.wait_containerd,
            containerd: plan.containerd.is_some(),
            preload: cfg.preload.is_some(),
            preload_fail: cfg.preload_errors == crate::config::PreloadErrors::Fail,
        });
        // `dind-init health` says "not ready" until the preload is over (a stale marker of a
        // previous run goes).
        match &cfg.preload {
            Some(dir) => crate::preload::marker(true, dir),
            None => crate::preload::marker(false, Path::new("")),
        }
        let probes = [None, None];
        Ok(Supervisor {
            cfg,
            plan,
            sigfd,
            mask,
            pid1,
            m,
            tails,
            probes,
            preload: None,
            orphans_reaped: 0,
        })
    }

    /// Runs everything after set-up; returns the exit code.
    pub fn run(mut self) -> u8 {
        let mut queue = VecDeque::from([Event::Start]);
        loop {
            while let Some(ev) = queue.pop_front() {
                let log_complete = self.tails[1].as_ref().is_some_and(|t| t.shutdown_complete());
                let has_child =
                    |pid| procs::has_live_child(&procs::processes(Path::new(PROC)), pid);
                let looks = Looks { log_complete, has_child: &has_child };
                for act in self.m.step(Instant::now(), ev, &looks) {
                    if let Some(code) = self.act(act, &mut queue) {
                        return code;
                    }
                }
            }
            let now = Instant::now();
            let probes = self.probes.iter().flatten().map(|p| now + p.next_wakeup(now));
            let until = probes.chain(self.m.next()).min();
            self.wait(until, &mut queue);
            for w in [Which::Containerd, Which::Dockerd] {
                let Some(p) = &mut self.probes[w as usize] else { continue };
                match p.step(Instant::now()) {
                    Ok(true) => queue.push_back(Event::Ready(w)),
                    Ok(false) => {}
                    Err(e) => {
                        // Another daemon took the socket: never trust it (exit 125).
                        log::error!("{e}");
                        queue.push_back(Event::Foreign(w));
                    }
                }
            }
            if let Some(s) = self.preload.as_ref().and_then(|p| p.finished()) {
                self.preload = None;
                let (loaded, skipped, failed) = (s.loaded, s.skipped, s.failed);
                queue.push_back(Event::Preloaded { loaded, skipped, failed });
            }
            queue.push_back(Event::Tick);
        }
    }

    /// Waits for signals, the log wake pipes and the probes' sockets, at most until `until`;
    /// queues what happened: the children reaped first, then the signals.
    fn wait(&mut self, until: Option<Instant>, queue: &mut VecDeque<Event>) {
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
            let mut fds = vec![PollFd::new(self.sigfd.as_fd(), PollFlags::POLLIN)];
            let wakes = self.tails.iter().flatten().map(|t| t.wake_fd());
            let socks = self.probes.iter().flatten().filter_map(|p| p.fd());
            let preload = self.preload.iter().map(|p| p.wake.as_fd());
            fds.extend(
                wakes.chain(socks).chain(preload).map(|fd| PollFd::new(fd, PollFlags::POLLIN)),
            );
            if let Err(e) = nix::poll::poll(&mut fds, timeout) {
                if e != nix::errno::Errno::EINTR {
                    log::warn!("poll: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        self.tails.iter().flatten().for_each(|t| t.drain_wakes());
        let sigs = signals::drain(&mut self.sigfd);
        if sigs.iter().any(|s| s.signo == libc::SIGCHLD) {
            queue.extend(self.reap().into_iter().map(|(pid, st)| Event::Exit(pid, st)));
        }
        queue.extend(sigs.iter().map(|s| Event::Signal(s.signo)));
    }

    /// Reaps every exited child.
    fn reap(&mut self) -> Vec<(i32, Status)> {
        let mut out = Vec::new();
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return out,
                Ok(ws) => out.extend(status_of(ws)),
            }
        }
    }

    fn tail(&self, w: Which) -> Option<&Arc<LogTail>> {
        self.tails[w as usize].as_ref()
    }

    /// Carries one action out; `Some(code)` once dind-init is done.
    fn act(&mut self, act: Action, queue: &mut VecDeque<Event>) -> Option<u8> {
        match act {
            Action::Say(Note::Orphan { pid, status }) => {
                self.orphans_reaped += 1;
                log::trace!("reaped orphan {pid}: {}", status.desc());
            }
            Action::Say(note) => {
                words::say(&note, &self.cfg, &self.plan, &self.probes, &self.tails);
                // dockerd answers for the first time: each registry mirror's /v2/ is probed
                // once, in the background (the command does not wait for it).
                if matches!(note, Note::Ready { which: Which::Dockerd, restart: 0, .. }) {
                    crate::mirrors::probe_in_background(&self.plan.mirrors);
                }
            }
            Action::Spawn(w, restart) => {
                let spawned = match (w, &self.plan.containerd, self.tail(w)) {
                    (Which::Dockerd, _, Some(t)) => {
                        dockerd::spawn(&self.plan, &self.cfg, self.mask, t, restart)
                    }
                    (Which::Containerd, Some(c), Some(t)) => {
                        dockerd::spawn_containerd(c, &self.cfg, self.mask, t, restart)
                    }
                    _ => Err(Error::Setup("containerd is not dind-init's to start".into())),
                };
                queue.push_back(match spawned {
                    Ok(proc) => Event::Spawned(w, proc.pid),
                    Err(e) => {
                        log::error!("{e}");
                        Event::SpawnFailed(w)
                    }
                });
            }
            // What tells that a daemon is ready: dockerd answers /_ping, containerd's socket
            // accepts a connection; either way the listener must be the daemon started as pid.
            Action::Probe(w, pid) => {
                self.probes[w as usize] = Some(match (w, &self.plan.containerd) {
                    (Which::Containerd, Some(c)) => {
                        Probe::connect_only(&c.socket, "containerd", pid)
                    }
                    _ => Probe::owned(&self.plan.socket, pid),
                })
            }
            Action::Unprobe(w) => self.probes[w as usize] = None,
            Action::Preload(pid) => {
                let dir = self.cfg.preload.clone().unwrap_or_default();
                let fail = self.cfg.preload_errors == crate::config::PreloadErrors::Fail;
                log::info!(
                    "preload: loading the image archives of {} (up to {} at once)",
                    dir.display(),
                    crate::preload::WORKERS
                );
                match crate::preload::start(dir, self.plan.socket.clone(), pid, fail) {
                    Ok(p) => self.preload = Some(p),
                    Err(e) => {
                        log::error!("preload: cannot start its threads: {e}");
                        queue.push_back(Event::Preloaded { loaded: 0, skipped: 0, failed: 1 });
                    }
                }
            }
            Action::PreloadEnded => crate::preload::marker(false, Path::new("")),
            Action::CancelPreload => {
                if let Some(p) = &self.preload {
                    log::info!("preload: cancelled, the loads under way are cut off");
                    p.cancel();
                }
            }
            Action::StartCommand => {
                let started = crate::command::start(&self.cfg, &self.plan, self.mask);
                queue.push_back(Event::Command(started));
            }
            Action::Signal { pid, sig, group: true } => signals::send_group_and_leader(pid, sig),
            Action::Signal { pid, sig, group: false } => {
                signals::send(pid, sig);
            }
            Action::KillInnerContainers => {
                // Only the containers behind our own shims: descendants of dind-init, never
                // a process that merely bears a shim's name.
                let table = procs::processes(Path::new(PROC));
                let owned = procs::Owned::new(&table, std::process::id() as i32);
                let inner = owned.inner_containers();
                if !inner.is_empty() {
                    crate::event!(
                        Warn,
                        "inner-kill",
                        { count = inner.len() },
                        "shutdown: {} inner container process(es) still running: SIGKILL, so \
                         dockerd can finish in time",
                        inner.len()
                    );
                    procs::signal_all(Path::new(PROC), &inner, &owned, libc::SIGKILL);
                }
            }
            Action::ArmTail => self.tail(Which::Dockerd).into_iter().for_each(|t| t.arm()),
            Action::RemovePidfile => {
                if let Ok(true) = crate::sys::remove_file(&self.plan.pidfile) {
                    let path = self.plan.pidfile.display().to_string();
                    crate::event!(Info, "stale", { kind = "pidfile", path = &path },
                        "stale state: removed pid file {path}");
                }
            }
            Action::RemoveLeftBehind => stale::remove_left_behind(&self.plan),
            // Nothing the daemons said on their way out may be lost: drain their log pipes.
            Action::DrainLogs => {
                self.tail(Which::Dockerd).into_iter().for_each(|t| t.wait_closed(FINAL_REAP))
            }
            Action::Finish(code) => return Some(self.finish(code)),
        }
        None
    }

    /// Kills what is left, reaps it, logs the exit code. As PID 1 that is everything in the
    /// PID namespace (kill(-1)); otherwise every process still in dind-init's own tree (inner
    /// containers must not outlive it), never anything else.
    fn finish(&mut self, code: u8) -> u8 {
        if self.pid1 {
            signals::send(-1, libc::SIGKILL);
            let deadline = Instant::now() + FINAL_REAP;
            while Instant::now() < deadline {
                match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(5)),
                    Ok(_) => self.orphans_reaped += 1,
                    Err(_) => break,
                }
            }
        } else {
            self.kill_own_tree();
        }
        self.tail(Which::Dockerd).into_iter().for_each(|t| t.wait_closed(FINAL_REAP));
        log::debug!("reaped {} orphan(s) in total", self.orphans_reaped);
        crate::event!(Info, "exit", { code = code }, "exit {code}");
        code
    }

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
            self.orphans_reaped += self.reap().len() as u64;
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
        self.orphans_reaped += self.reap().len() as u64;
        if killed > 0 {
            crate::event!(
                Warn,
                "leftover-kill",
                { count = killed },
                "shutdown: {killed} process(es) left in dind-init's tree (not PID 1): SIGKILLed \
                 and reaped, so none outlives it"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_as_a_shell_reports_them() {
        let pid = nix::unistd::Pid::from_raw(9);
        let (_, e) = status_of(WaitStatus::Exited(pid, 3)).unwrap();
        assert_eq!((e.code, e.clean()), (3, false));
        let (_, e) =
            status_of(WaitStatus::Signaled(pid, nix::sys::signal::Signal::SIGKILL, false)).unwrap();
        assert_eq!((e.code, e.desc().as_str()), (137, "killed by signal SIGKILL"));
        assert!(status_of(WaitStatus::StillAlive).is_none());
    }
}
