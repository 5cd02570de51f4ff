//! What the lifecycle's notes say: each `Note` as its log line and, where the vocabulary has
//! one (`src/events.vocab`), its event. The wording is the one scripts and people have read
//! since before the events; the facts come from the note, the socket from the plan, the
//! attempts and the last error from the daemon's probe, the daemon's last lines from its tail.

use crate::config::Config;
use crate::docker_api::Probe;
use crate::dockerd::{LogTail, Plan};
use crate::error::EXIT_SETUP;
use crate::event;
use crate::events::Dec;
use crate::lifecycle::{Note, Reason, Which};
use crate::signals::name as sig;
use std::sync::Arc;

fn socket(plan: &Plan, w: Which) -> String {
    match (w, &plan.containerd) {
        (Which::Containerd, Some(c)) => c.socket.display().to_string(),
        _ => plan.socket.display().to_string(),
    }
}

/// Logs `note`.
pub fn say(
    note: &Note,
    cfg: &Config,
    plan: &Plan,
    probes: &[Option<Probe>; 2],
    tails: &[Option<Arc<LogTail>>; 2],
) {
    let report =
        |w: Which| tails[w as usize].as_ref().map(|t| t.report(w.name())).unwrap_or_default();
    let probe = |w: Which| probes[w as usize].as_ref();
    let (wait, total) = (cfg.wait_timeout, cfg.shutdown_timeout);
    let half = total / 2;
    let timed_out = |w: Which| {
        let what = if w == Which::Dockerd { "answer /_ping on" } else { "listen on" };
        let last = probe(w).map_or("", |p| p.last_error.as_str());
        let (name, sock, tail) = (w.name(), socket(plan, w), report(w));
        format!("{name} did not {what} {sock} within {wait:.0?} (last: {last}). {tail}")
    };
    match *note {
        Note::Waiting(Which::Dockerd) => log::info!(
            "ready: waiting up to {wait:.0?} for dockerd to answer /_ping on {}",
            socket(plan, Which::Dockerd)
        ),
        Note::Waiting(w) => {
            log::info!("containerd: waiting up to {wait:.0?} for {}", socket(plan, w))
        }
        Note::Ready { which, restart, took } => {
            let (s, secs) = (socket(plan, which), Dec(took.as_secs_f64()));
            let attempts = probe(which).map_or(0, |p| p.attempts);
            match (which, restart) {
                (Which::Dockerd, 0) => {
                    let then = match &cfg.preload {
                        Some(d) => format!("; the images of {} first", d.display()),
                        None => String::new(),
                    };
                    event!(Info, "dockerd-ready",
                    { socket = &s, secs = secs, attempts = attempts, restart = restart },
                    "ready: dockerd answered /_ping on {s} after {secs:.3}s ({attempts} attempt(s)){then}")
                }
                (Which::Dockerd, n) => event!(Info, "dockerd-ready",
                    { socket = &s, secs = secs, attempts = attempts, restart = restart },
                    "ready: dockerd answered /_ping again after {secs:.3}s (restart {n})"),
                (Which::Containerd, 0) => event!(Info, "containerd-ready",
                    { socket = &s, secs = secs, attempts = attempts, restart = restart },
                    "containerd: serving on {s} after {secs:.3}s"),
                (Which::Containerd, n) => event!(Info, "containerd-ready",
                    { socket = &s, secs = secs, attempts = attempts, restart = restart },
                    "containerd: serving again after {secs:.3}s (restart {n})"),
            }
        }
        Note::StartDied { which, starting, status, ran } => {
            let when = if which == starting {
                "before it was ready".to_string()
            } else {
                format!("while {} was starting", starting.name())
            };
            let (name, desc, ran) = (which.name(), status.desc(), Dec(ran.as_secs_f64()));
            log::error!("{name} {desc} {when} ({ran:.1}s after it started). {}", report(which));
        }
        Note::StartTimeout(w) => log::error!(
            "{}\nhint: raise --wait-timeout (DIND_WAIT_TIMEOUT) if the daemon is just slow",
            timed_out(w)
        ),
        Note::PreloadDone { loaded, skipped, failed, took, fatal } => {
            let secs = took.as_secs_f64();
            let what = format!("{loaded} archive(s) loaded, {skipped} skipped, {failed} failed");
            if fatal {
                event!(Error, "preload-done",
                    { loaded = loaded, skipped = skipped, failed = failed, secs = secs },
                    "preload: {what} in {secs:.3}s (--preload-errors fail): stopping; dind-init \
                     will exit {EXIT_SETUP}")
            } else {
                event!(Info, "preload-done",
                    { loaded = loaded, skipped = skipped, failed = failed, secs = secs },
                    "preload: {what} in {secs:.3}s")
            }
        }
        Note::ContinueOnTimeout => log::warn!(
            "{}\nready: --continue-on-timeout: running the command anyway",
            timed_out(Which::Dockerd)
        ),
        Note::RestartTimeout { which, pid } => {
            let what = if which == Which::Dockerd { "answer /_ping" } else { "listen" };
            log::error!(
                "{} (pid {pid}) did not {what} within {wait:.0?} after its restart (last: {}): \
                 killing it",
                which.name(),
                probe(which).map_or("", |p| p.last_error.as_str())
            );
        }
        Note::Died { which, status, ran } => {
            let (name, ran) = (which.name(), Dec(ran.as_secs_f64()));
            event!(Error, "daemon-died", { daemon = name, status = status.code, ran = ran },
                "{name} {} after running {ran:.1}s. {}", status.desc(), report(which));
        }
        Note::Ignored(w) => log::warn!(
            "{}: --on-daemon-exit=ignore: carrying on without {}",
            w.name(),
            if w == Which::Dockerd { "a daemon" } else { "containerd" }
        ),
        Note::ExitPolicy(w) => log::error!(
            "{}: --on-daemon-exit=exit: stopping; dind-init will exit {EXIT_SETUP}",
            w.name()
        ),
        Note::GaveUp { which, restarts } => log::error!(
            "{}: giving up after {restarts} restart(s) (--max-restarts); dind-init will exit \
             {EXIT_SETUP}",
            which.name()
        ),
        Note::Restarting { which, restart, delay } => {
            let (name, max) = (which.name(), cfg.max_restarts);
            let when = if delay.is_zero() { "now".to_string() } else { format!("in {delay:.0?}") };
            event!(Warn, "daemon-restart",
                { daemon = name, restart = restart, max = max, delay = delay.as_secs_f64() },
                "{name}: restarting {when} (restart {restart}/{max})");
        }
        Note::StopBegin { reason, command, serving } => {
            let budget = total.as_secs_f64();
            let why = match reason {
                Reason::Abort(s) | Reason::Signal(s) => sig(s),
                Reason::CommandExit => "command-exit".into(),
                Reason::Daemon => "daemon".into(),
                Reason::StartFailed => "start-failed".into(),
            };
            match (reason, command) {
                (Reason::Abort(_), _) => {
                    event!(Info, "stop-begin", { reason = &why, budget = budget },
                    "received {why} before the command started: aborting start-up")
                }
                (Reason::Signal(_), _) if serving => event!(Info, "stop-begin",
                    { reason = &why, budget = budget }, "received {why}: stopping dockerd"),
                (Reason::Signal(_), _) => {
                    event!(Info, "stop-begin", { reason = &why, budget = budget },
                    "received {why}: the command has {half:.1?} to exit, then dockerd is stopped \
                     (--shutdown-timeout {total:.1?})")
                }
                (Reason::Daemon, Some(pid)) => event!(Warn, "stop-begin",
                    { reason = &why, budget = budget },
                    "command: sending SIGTERM to pid {pid} (SIGKILL in {half:.0?})"),
                (Reason::CommandExit, _) => event!(Info, "stop-begin",
                    { reason = &why, budget = budget },
                    "shutdown: the command exited: stopping dockerd (--shutdown-timeout {total:.1?})"),
                _ => event!(Info, "stop-begin", { reason = &why, budget = budget },
                    "shutdown: stopping what runs ({why}, --shutdown-timeout {total:.1?})"),
            }
        }
        Note::CommandExited { pid, status } => {
            event!(Info, "command-exit", { pid = pid, status = status.code, clean = status.clean() },
                "command: {}", status.desc())
        }
        Note::Orphan { pid, status } => log::trace!("reaped orphan {pid}: {}", status.desc()),
        Note::Forwarded { sig: s, pid, group } => log::debug!(
            "forwarded {} to {}{pid}",
            sig(s),
            if group { "process group " } else { "pid " }
        ),
        Note::ToDockerd(s) => log::debug!("forwarded {} to dockerd", sig(s)),
        Note::Ignoring(s) => log::debug!("ignoring {}", sig(s)),
        Note::CommandKill(pid) => event!(
            Warn,
            "command-kill",
            { pid = pid },
            "command: still running {half:.1?} after the stop began: SIGKILL"
        ),
        Note::DockerdTerm { pid, left } => {
            log::info!("shutdown: sending SIGTERM to dockerd (pid {pid}), waiting up to {left:.1?}")
        }
        Note::EndWait(pid) => log::debug!(
            "shutdown: dockerd's shutdown is complete and its containerd exited: ending its final \
             wait (SIGKILL to pid {pid})"
        ),
        Note::DockerdKill(_) => {
            log::warn!("shutdown: dockerd did not stop within {total:.0?}: sending SIGKILL")
        }
        Note::ContainerdTerm(pid) => {
            log::info!("shutdown: sending SIGTERM to containerd (pid {pid})")
        }
        Note::ContainerdKill(_) => {
            log::warn!("shutdown: containerd did not stop in time: sending SIGKILL")
        }
        Note::GiveUp => {
            log::warn!("shutdown: processes still there 3 s after the budget: giving up on them")
        }
        Note::DockerdExit { status, took, killed, wait_ended } => {
            let secs = Dec(took.as_secs_f64());
            let clean = status.clean() || wait_ended.is_some();
            let code = if wait_ended.is_some() { 0 } else { status.code };
            let ended_wait = wait_ended.is_some();
            macro_rules! exit {
                ($lvl:ident, $($msg:tt)+) => {
                    event!($lvl, "dockerd-exit", { status = code, clean = clean, secs = secs,
                        killed = killed, ended_wait = ended_wait }, $($msg)+)
                };
            }
            match wait_ended {
                _ if killed => exit!(Warn, "shutdown: dockerd needed SIGKILL after {secs:.3}s"),
                Some(after) => {
                    exit!(Info,
                    "shutdown: dockerd exited cleanly after {secs:.3}s (its shutdown was complete \
                     and its containerd gone after {:.3}s: dind-init ended its fixed 1 s wait for \
                     containerd)", Dec(after.as_secs_f64()))
                }
                None if clean => exit!(Info, "shutdown: dockerd exited cleanly after {secs:.3}s"),
                None => exit!(Warn, "shutdown: dockerd {} after {secs:.3}s", status.desc()),
            }
        }
        Note::ContainerdExit { status, took, killed } => {
            let (secs, clean) = (Dec(took.as_secs_f64()), status.clean());
            macro_rules! exit {
                ($lvl:ident, $($msg:tt)+) => {
                    event!($lvl, "containerd-exit",
                        { status = status.code, clean = clean, secs = secs, killed = killed }, $($msg)+)
                };
            }
            match () {
                _ if killed => exit!(Warn, "shutdown: containerd needed SIGKILL"),
                _ if clean => exit!(Info, "shutdown: containerd exited cleanly after {secs:.3}s"),
                _ => exit!(Warn, "shutdown: containerd {}", status.desc()),
            }
        }
    }
}
