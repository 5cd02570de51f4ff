//! The daemons' and the command's life as one pure transition function: (state, event) in,
//! (state, actions) out, no process touched here (the way `dockerd::stop` decides the stop).
//! The supervisor turns poll, signals, reaped children and probe answers into `Event`s and
//! carries the `Action`s out.
//!
//! ```text
//!  Start ──> Starting: for each daemon  Spawn ─> Probing ──ready──> Up ─> next daemon
//!               │                                   │ deadline (--wait-timeout)
//!               │ terminating signal, a daemon      │ (dockerd + --continue-on-timeout: go on)
//!               │ dying, time-out, spawn failure,   v
//!               │ another daemon on the socket ──> Stopping (start-failed / 128+N)
//!               v all ready
//!          Preload (--preload: archives loaded; a failure with --preload-errors fail: 125;
//!               │   a signal or a dying daemon: the loads cancelled, the stop as above)
//!               v
//!          StartCommand ──> Running: Command | Serving
//!               │   daemon died: --on-daemon-exit  restart: Backoff ─> Spawn ─> Probing ─> Up
//!               │                                  (the same readiness path; no answer in
//!               │                                   time: SIGKILL, its end counts as a death)
//!               │                                  exit / max restarts / foreign: given up (125)
//!               │   served dockerd ended by itself (not restart): its status
//!               │   SIGTERM, the command's exit
//!               v
//!          Stopping (dockerd::stop decides: command ½ budget, dockerd, inner containers,
//!               │    containerd; SIGTERM tightens; over at the latest 3 s after the budget)
//!               v
//!          Done ──> Finish: what is left killed (PID 1: everything; else our own tree), "exit N"
//! ```
//!
//! Every way of ending passes through `Stopping`: a signal, the command's exit, a daemon given
//! up, dockerd ending by itself while it is served, a failed start-up.
//!
//! The exit code (`exit_code`):
//!
//! | how it ended                                              | code                    |
//! |-----------------------------------------------------------|-------------------------|
//! | the command exited                                        | its status              |
//! | the command was killed by signal N                        | 128+N                   |
//! | the command outlived its SIGKILL (uninterruptible sleep)  | 137                     |
//! | a terminating signal N before the command started         | 128+N                   |
//! | set-up or start-up failed, a daemon given up (or foreign) | 125                     |
//! | the command cannot be run / was not found                 | 126 / 127               |
//! | serving dockerd, dockerd ended by itself                  | dockerd's status        |
//! | serving dockerd, stopped by a signal                      | dockerd's status; 0 clean |

use crate::config::OnDaemonExit;
use crate::dockerd::stop::{Act, Seen, Stop};
use crate::error::EXIT_SETUP;
use std::time::{Duration, Instant};

/// How long past its budget a stop waits for processes SIGKILL cannot end.
pub const GIVE_UP_GRACE: Duration = Duration::from_secs(3);
/// A daemon that ran this long before it died starts its restart count afresh.
pub const RESET_AFTER: Duration = Duration::from_secs(300);

/// The daemons, in start order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Containerd = 0,
    Dockerd = 1,
}

impl Which {
    pub fn name(self) -> &'static str {
        match self {
            Which::Containerd => "containerd",
            Which::Dockerd => "dockerd",
        }
    }
}

/// The back-off before restart number `n` (0-based): 1, 2, 4, 8, 16, 30, 30, ... s.
pub fn restart_delay(n: u32) -> Duration {
    Duration::from_secs((1u64 << n.min(5)).min(30))
}

/// How a process ended, as a shell reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub code: u8,
    pub signal: Option<i32>,
}

impl Status {
    pub fn exited(code: i32) -> Status {
        Status { code: code as u8, signal: None }
    }
    pub fn killed(sig: i32) -> Status {
        Status { code: (128 + sig) as u8, signal: Some(sig) }
    }
    pub fn clean(&self) -> bool {
        self.signal.is_none() && self.code == 0
    }
    pub fn desc(&self) -> String {
        match self.signal {
            Some(s) => format!("killed by signal {}", crate::signals::name(s)),
            None => format!("exited with status {}", self.code),
        }
    }
}

/// What the lifecycle needs from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub wait_timeout: Duration,
    pub continue_on_timeout: bool,
    pub shutdown_timeout: Duration,
    pub on_daemon_exit: OnDaemonExit,
    pub max_restarts: u32,
    pub signal_group: bool,
    pub wait_containerd: bool,
    /// dind-init runs containerd (else dockerd does).
    pub containerd: bool,
    /// `--preload`: images are loaded between dockerd's answer and the command.
    pub preload: bool,
    /// `--preload-errors fail`: a failed archive stops the start (125).
    pub preload_fail: bool,
}

/// What the command turned out to be, once asked for (`Action::StartCommand`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandStart {
    /// The user's command, or a login shell (`shell`: SIGTERM hangs it up).
    Started { pid: i32, shell: bool },
    /// None: dockerd is served.
    Serving,
    /// It could not be run: 126 or 127 (the supervisor logged why).
    Failed(u8),
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Start,
    Signal(i32),
    /// A child was reaped.
    Exit(i32, Status),
    /// The answer to `Action::Spawn`.
    Spawned(Which, i32),
    SpawnFailed(Which),
    /// The probe of the daemon answered (dockerd `/_ping`, containerd its socket).
    Ready(Which),
    /// Another daemon answers on the daemon's socket (the supervisor logged who).
    Foreign(Which),
    Command(CommandStart),
    /// The preload is over (`Action::Preload`): how many archives loaded, skipped, failed.
    Preloaded {
        loaded: u32,
        skipped: u32,
        failed: u32,
    },
    /// Time passed (a deadline may be due); also after every wake-up.
    Tick,
}

/// Why a stop began (the `stop-begin` event's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A terminating signal before the command started.
    Abort(i32),
    Signal(i32),
    CommandExit,
    /// A daemon was given up, or dockerd ended while served.
    Daemon,
    StartFailed,
}

/// What to log: the supervisor words it (`supervisor::words`), the facts are decided here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Note {
    Waiting(Which),
    Ready {
        which: Which,
        restart: u32,
        took: Duration,
    },
    /// `which` died while `starting` was being started.
    StartDied {
        which: Which,
        starting: Which,
        status: Status,
        ran: Duration,
    },
    StartTimeout(Which),
    PreloadDone {
        loaded: u32,
        skipped: u32,
        failed: u32,
        took: Duration,
        /// The start stops (`--preload-errors fail`).
        fatal: bool,
    },
    ContinueOnTimeout,
    RestartTimeout {
        which: Which,
        pid: i32,
    },
    Died {
        which: Which,
        status: Status,
        ran: Duration,
    },
    Ignored(Which),
    ExitPolicy(Which),
    GaveUp {
        which: Which,
        restarts: u32,
    },
    Restarting {
        which: Which,
        restart: u32,
        delay: Duration,
    },
    StopBegin {
        reason: Reason,
        command: Option<i32>,
        serving: bool,
    },
    CommandExited {
        pid: i32,
        status: Status,
    },
    Orphan {
        pid: i32,
        status: Status,
    },
    Forwarded {
        sig: i32,
        pid: i32,
        group: bool,
    },
    ToDockerd(i32),
    Ignoring(i32),
    CommandKill(i32),
    DockerdTerm {
        pid: i32,
        left: Duration,
    },
    EndWait(i32),
    DockerdKill(i32),
    ContainerdTerm(i32),
    ContainerdKill(i32),
    GiveUp,
    DockerdExit {
        status: Status,
        took: Duration,
        killed: bool,
        wait_ended: Option<Duration>,
    },
    ContainerdExit {
        status: Status,
        took: Duration,
        killed: bool,
    },
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    Say(Note),
    /// Start the daemon (restart number n, 0 at start-up); the answer is `Spawned`.
    Spawn(Which, u32),
    /// Probe the daemon started as `pid` (until `Unprobe`).
    Probe(Which, i32),
    Unprobe(Which),
    /// Load the preload directory into the dockerd started as pid; the answer is `Preloaded`.
    Preload(i32),
    /// The preload is over and the command starts: `dind-init health` may say ready.
    PreloadEnded,
    /// The stop began during the preload: no more loads.
    CancelPreload,
    StartCommand,
    /// To the command, one of our daemons (pid, or its group), never anyone else.
    Signal {
        pid: i32,
        sig: i32,
        group: bool,
    },
    /// SIGKILL to the inner containers behind our own shims.
    KillInnerContainers,
    /// dockerd's log tail watches for its completion record from now on.
    ArmTail,
    /// Our dockerd is dead: its pid file is stale.
    RemovePidfile,
    /// dind-init ended dockerd's final wait: remove what it would have.
    RemoveLeftBehind,
    /// Read what the daemons said on their way out, before the stop's report.
    DrainLogs,
    Finish(u8),
}

// ---------------------------------------------------------------------- the signal policy

/// Where the lifecycle is, for the signal policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Starting,
    Command,
    Serving,
    Stopping,
}

/// Signals by what they mean to dind-init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Child,
    Term,
    /// SIGINT, SIGQUIT.
    Interrupt,
    Hangup,
    Other,
}

pub fn class(sig: i32) -> Class {
    match sig {
        libc::SIGCHLD => Class::Child,
        libc::SIGTERM => Class::Term,
        libc::SIGINT | libc::SIGQUIT => Class::Interrupt,
        libc::SIGHUP => Class::Hangup,
        _ => Class::Other,
    }
}

/// What a received signal does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// SIGCHLD: the supervisor reaps.
    Reap,
    AbortStart,
    Ignore,
    /// To the command: its group with `--signal-group`, a login shell's SIGTERM as SIGHUP to
    /// its group, and SIGCONT after a terminating signal (a stopped command can act on it).
    Forward,
    /// Forward, then begin the stop (the command has half the budget).
    ForwardThenStop,
    ToDockerd,
    Stop,
    /// A SIGTERM during the stop: the budget never grows but may shrink; forwarded too.
    Tighten,
}

/// The one signal policy: every phase, every class of signal.
pub const fn policy(stage: Stage, class: Class) -> Policy {
    use Class::*;
    use Policy::*;
    match (stage, class) {
        (_, Child) => Reap,
        (Stage::Starting, Term | Interrupt | Hangup) => AbortStart,
        (Stage::Starting, Other) => Ignore,
        (Stage::Command, Term) => ForwardThenStop,
        (Stage::Command, Interrupt | Hangup | Other) => Forward,
        // SIGHUP is dockerd's "reload configuration": forwarded, not a stop.
        (Stage::Serving, Term | Interrupt) => Stop,
        (Stage::Serving, Hangup | Other) => ToDockerd,
        (Stage::Stopping, Term) => Tighten,
        (Stage::Stopping, Interrupt | Hangup | Other) => Forward,
    }
}

fn terminating(sig: i32) -> bool {
    [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT, libc::SIGHUP].contains(&sig)
}

// ---------------------------------------------------------------------- the state

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum D {
    /// Not started yet.
    Off,
    /// `Action::Spawn` sent; the answer comes next.
    Spawning,
    /// Started, not answering yet (until the deadline).
    Probing {
        pid: i32,
        since: Instant,
        until: Instant,
    },
    Up {
        pid: i32,
        since: Instant,
    },
    Backoff {
        at: Instant,
    },
    /// Not running, not coming back.
    Gone,
}

#[derive(Debug, Clone, Copy)]
struct Daemon {
    which: Which,
    d: D,
    restarts: u32,
    /// Its end during the stop, and when.
    end: Option<(Status, Instant)>,
}

impl Daemon {
    fn pid(&self) -> Option<i32> {
        match self.d {
            D::Probing { pid, .. } | D::Up { pid, .. } => Some(pid),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    None,
    Running { pid: i32, shell: bool },
    Exited(Status),
}

/// How the exit code is chosen once the stop is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Decided when the stop began (128+N, 125, 126/127, dockerd's own status).
    Fixed(u8),
    /// The command's status, or, serving, dockerd's.
    Normal,
}

/// The preload, between dockerd's answer and the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pre {
    NotYet,
    Running { since: Instant },
    Over,
}

#[derive(Debug, Clone)]
enum Phase {
    Starting,
    Running { serving: bool },
    Stopping { stop: Box<Stop>, outcome: Outcome, next: Option<Instant> },
    Done,
}

/// What the stop must look at that only the supervisor sees.
pub struct Looks<'a> {
    /// dockerd logged its completion record after our SIGTERM.
    pub log_complete: bool,
    /// Whether the process `pid` has a live child.
    pub has_child: &'a dyn Fn(i32) -> bool,
}

/// The lifecycle.
#[derive(Debug, Clone)]
pub struct Machine {
    p: Params,
    daemons: Vec<Daemon>,
    cmd: Cmd,
    phase: Phase,
    pre: Pre,
}

/// The exit code, by the table in the module doc.
fn exit_code(outcome: Outcome, cmd: Cmd, dockerd: Option<u8>) -> u8 {
    match (outcome, cmd) {
        (Outcome::Fixed(code), _) => code,
        (Outcome::Normal, Cmd::Exited(s)) => s.code,
        (Outcome::Normal, Cmd::Running { .. }) => 128 + libc::SIGKILL as u8,
        (Outcome::Normal, Cmd::None) => dockerd.unwrap_or(0),
    }
}

impl Machine {
    pub fn new(p: Params) -> Machine {
        let list: &[Which] =
            if p.containerd { &[Which::Containerd, Which::Dockerd] } else { &[Which::Dockerd] };
        let daemons =
            list.iter().map(|&which| Daemon { which, d: D::Off, restarts: 0, end: None }).collect();
        let pre = if p.preload { Pre::NotYet } else { Pre::Over };
        Machine { p, daemons, cmd: Cmd::None, phase: Phase::Starting, pre }
    }

    pub fn stage(&self) -> Stage {
        match self.phase {
            Phase::Starting => Stage::Starting,
            Phase::Running { serving: false } => Stage::Command,
            Phase::Running { serving: true } => Stage::Serving,
            Phase::Stopping { .. } | Phase::Done => Stage::Stopping,
        }
    }

    /// Whether the stop is over (`Action::Finish` was given).
    #[cfg(test)]
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// The pid of a daemon, while it runs.
    pub fn pid(&self, w: Which) -> Option<i32> {
        self.daemon(w).and_then(Daemon::pid)
    }

    /// The command's pid, while it runs.
    pub fn command_pid(&self) -> Option<i32> {
        match self.cmd {
            Cmd::Running { pid, .. } => Some(pid),
            _ => None,
        }
    }

    fn daemon(&self, w: Which) -> Option<&Daemon> {
        self.daemons.iter().find(|d| d.which == w)
    }

    fn slot(&mut self, w: Which) -> Option<&mut Daemon> {
        self.daemons.iter_mut().find(|d| d.which == w)
    }

    /// When to send `Tick` at the latest (`None`: only when something happens).
    pub fn next(&self) -> Option<Instant> {
        let mut at = self
            .daemons
            .iter()
            .filter_map(|d| match d.d {
                D::Probing { until, .. } => Some(until),
                D::Backoff { at } => Some(at),
                _ => None,
            })
            .min();
        if let Phase::Stopping { stop, next, .. } = &self.phase {
            let give_up = stop.budget.end + GIVE_UP_GRACE;
            at = Some(next.unwrap_or(give_up).min(give_up));
        }
        at
    }

    /// The transition: what `ev` at `now` changes, and what to do.
    pub fn step(&mut self, now: Instant, ev: Event, looks: &Looks) -> Vec<Action> {
        let mut a = Vec::new();
        if matches!(self.phase, Phase::Done) {
            return a;
        }
        match ev {
            Event::Start => self.next_daemon(now, &mut a),
            Event::Signal(sig) => self.signal(now, sig, looks, &mut a),
            Event::Exit(pid, status) => self.exit(now, pid, status, looks, &mut a),
            Event::Spawned(w, pid) => self.spawned(now, w, pid, &mut a),
            Event::SpawnFailed(w) => {
                if let Some(d) = self.slot(w) {
                    d.d = D::Gone;
                }
                self.fail(now, looks, &mut a);
            }
            Event::Ready(w) => self.ready(now, w, &mut a),
            Event::Foreign(w) => {
                if let Some(d) = self.slot(w) {
                    if let D::Probing { pid, since, .. } = d.d {
                        d.d = D::Up { pid, since };
                        a.push(Action::Unprobe(w));
                        self.fail(now, looks, &mut a);
                    }
                }
            }
            Event::Command(c) => self.command(now, c, looks, &mut a),
            Event::Preloaded { loaded, skipped, failed } => {
                let Pre::Running { since } = self.pre else { return a };
                self.pre = Pre::Over;
                let took = now.saturating_duration_since(since);
                let fatal = failed > 0 && self.p.preload_fail;
                let note = Note::PreloadDone { loaded, skipped, failed, took, fatal };
                a.push(Action::Say(note));
                if fatal {
                    let outcome = Outcome::Fixed(EXIT_SETUP);
                    self.begin_stop(now, outcome, Reason::StartFailed, looks, &mut a);
                } else {
                    a.push(Action::PreloadEnded);
                    a.push(Action::StartCommand);
                }
            }
            Event::Tick => self.tick(now, looks, &mut a),
        }
        a
    }

    /// Start-up: spawn the next daemon not started yet, or preload, or ask for the command.
    fn next_daemon(&mut self, now: Instant, a: &mut Vec<Action>) {
        if let Some(d) = self.daemons.iter_mut().find(|d| d.d == D::Off) {
            d.d = D::Spawning;
            return a.push(Action::Spawn(d.which, 0));
        }
        match (self.pre, self.pid(Which::Dockerd)) {
            (Pre::NotYet, Some(pid)) => {
                self.pre = Pre::Running { since: now };
                a.push(Action::Preload(pid));
            }
            _ => a.push(Action::StartCommand),
        }
    }

    fn spawned(&mut self, now: Instant, w: Which, pid: i32, a: &mut Vec<Action>) {
        let until = now + self.p.wait_timeout;
        let stopping = matches!(self.phase, Phase::Stopping { .. });
        let Some(d) = self.slot(w) else { return };
        match d.d {
            D::Spawning => {}
            // Started as the stop began: it is ours to stop like the others.
            D::Gone if stopping => return d.d = D::Up { pid, since: now },
            _ => return,
        }
        d.d = D::Probing { pid, since: now, until };
        if d.restarts == 0 {
            a.push(Action::Say(Note::Waiting(w)));
        }
        a.push(Action::Probe(w, pid));
    }

    /// The one readiness path, at start-up and after a restart.
    fn ready(&mut self, now: Instant, w: Which, a: &mut Vec<Action>) {
        let starting = matches!(self.phase, Phase::Starting);
        let Some(d) = self.slot(w) else { return };
        let D::Probing { pid, since, .. } = d.d else { return };
        d.d = D::Up { pid, since };
        let took = now.saturating_duration_since(since);
        a.push(Action::Say(Note::Ready { which: w, restart: d.restarts, took }));
        a.push(Action::Unprobe(w));
        if starting {
            self.next_daemon(now, a);
        }
    }

    /// A failure: at start-up the end of it (125), later a daemon given up.
    fn fail(&mut self, now: Instant, looks: &Looks, a: &mut Vec<Action>) {
        if matches!(self.phase, Phase::Starting) {
            self.begin_stop(now, Outcome::Fixed(EXIT_SETUP), Reason::StartFailed, looks, a);
        } else {
            self.give_up(now, looks, a);
        }
    }

    fn give_up(&mut self, now: Instant, looks: &Looks, a: &mut Vec<Action>) {
        self.begin_stop(now, Outcome::Fixed(EXIT_SETUP), Reason::Daemon, looks, a);
    }

    fn command(&mut self, now: Instant, c: CommandStart, looks: &Looks, a: &mut Vec<Action>) {
        if !matches!(self.phase, Phase::Starting) {
            return;
        }
        match c {
            CommandStart::Started { pid, shell } => {
                self.cmd = Cmd::Running { pid, shell };
                self.phase = Phase::Running { serving: false };
            }
            CommandStart::Serving => self.phase = Phase::Running { serving: true },
            CommandStart::Failed(code) => {
                self.begin_stop(now, Outcome::Fixed(code), Reason::StartFailed, looks, a)
            }
        }
    }

    fn signal(&mut self, now: Instant, sig: i32, looks: &Looks, a: &mut Vec<Action>) {
        match policy(self.stage(), class(sig)) {
            Policy::Reap => {}
            Policy::Ignore => a.push(Action::Say(Note::Ignoring(sig))),
            Policy::AbortStart => {
                self.begin_stop(now, Outcome::Fixed(128 + sig as u8), Reason::Abort(sig), looks, a)
            }
            Policy::Forward => self.forward(sig, a),
            Policy::ForwardThenStop => {
                self.forward(sig, a);
                self.begin_stop(now, Outcome::Normal, Reason::Signal(sig), looks, a);
            }
            Policy::Stop => self.begin_stop(now, Outcome::Normal, Reason::Signal(sig), looks, a),
            Policy::ToDockerd => match self.pid(Which::Dockerd) {
                Some(pid) => {
                    a.push(Action::Signal { pid, sig, group: false });
                    a.push(Action::Say(Note::ToDockerd(sig)));
                }
                None => a.push(Action::Say(Note::Ignoring(sig))),
            },
            Policy::Tighten => {
                if let Phase::Stopping { stop, .. } = &mut self.phase {
                    stop.budget.tighten(now, self.p.shutdown_timeout);
                }
                self.forward(sig, a);
            }
        }
    }

    fn forward(&self, sig: i32, a: &mut Vec<Action>) {
        let Cmd::Running { pid, shell } = self.cmd else {
            a.push(Action::Say(Note::Ignoring(sig)));
            return;
        };
        // A login shell ignores SIGTERM: hang it up, as a terminal closing would.
        let (sig, group) = if shell && sig == libc::SIGTERM {
            (libc::SIGHUP, true)
        } else {
            (sig, self.p.signal_group)
        };
        a.push(Action::Signal { pid, sig, group });
        a.push(Action::Say(Note::Forwarded { sig, pid, group }));
        if terminating(sig) {
            a.push(Action::Signal { pid, sig: libc::SIGCONT, group });
        }
    }

    fn exit(&mut self, now: Instant, pid: i32, status: Status, looks: &Looks, a: &mut Vec<Action>) {
        if self.command_pid() == Some(pid) {
            self.cmd = Cmd::Exited(status);
            a.push(Action::Say(Note::CommandExited { pid, status }));
            if matches!(self.phase, Phase::Running { .. }) {
                self.begin_stop(now, Outcome::Normal, Reason::CommandExit, looks, a);
            }
            return;
        }
        let Some(i) = self.daemons.iter().position(|d| d.pid() == Some(pid)) else {
            a.push(Action::Say(Note::Orphan { pid, status }));
            return;
        };
        let d = &mut self.daemons[i];
        let (which, was) = (d.which, d.d);
        let ran = match was {
            D::Probing { since, .. } | D::Up { since, .. } => now.saturating_duration_since(since),
            _ => Duration::ZERO,
        };
        d.d = D::Gone;
        if matches!(was, D::Probing { .. }) {
            a.push(Action::Unprobe(which));
        }
        match self.phase {
            Phase::Stopping { .. } => self.daemons[i].end = Some((status, now)),
            Phase::Starting => {
                let starting = self
                    .daemons
                    .iter()
                    .find(|d| matches!(d.d, D::Probing { .. }))
                    .map_or(which, |d| d.which);
                a.push(Action::Say(Note::StartDied { which, starting, status, ran }));
                self.begin_stop(now, Outcome::Fixed(EXIT_SETUP), Reason::StartFailed, looks, a);
            }
            Phase::Running { serving } => {
                a.push(Action::Say(Note::Died { which, status, ran }));
                if serving
                    && which == Which::Dockerd
                    && self.p.on_daemon_exit != OnDaemonExit::Restart
                {
                    // Nothing else runs here: dockerd's end is dind-init's end.
                    let outcome = Outcome::Fixed(status.code);
                    return self.begin_stop(now, outcome, Reason::Daemon, looks, a);
                }
                self.died(now, i, ran, looks, a);
            }
            Phase::Done => {}
        }
    }

    /// A daemon died while running: `--on-daemon-exit`.
    fn died(&mut self, now: Instant, i: usize, ran: Duration, looks: &Looks, a: &mut Vec<Action>) {
        let (p, d) = (self.p, &mut self.daemons[i]);
        let which = d.which;
        match p.on_daemon_exit {
            OnDaemonExit::Ignore => a.push(Action::Say(Note::Ignored(which))),
            OnDaemonExit::Exit => {
                a.push(Action::Say(Note::ExitPolicy(which)));
                self.give_up(now, looks, a);
            }
            OnDaemonExit::Restart => {
                if ran > RESET_AFTER {
                    d.restarts = 0;
                }
                if d.restarts >= p.max_restarts {
                    a.push(Action::Say(Note::GaveUp { which, restarts: d.restarts }));
                    return self.give_up(now, looks, a);
                }
                // containerd first restarts at once: dockerd can do nothing without it, and
                // it is back in 0.1 s (dockerd's own supervisor takes 10 s to notice).
                let delay = match (which, d.restarts) {
                    (Which::Containerd, 0) => Duration::ZERO,
                    (Which::Containerd, n) => restart_delay(n - 1),
                    (Which::Dockerd, n) => restart_delay(n),
                };
                d.restarts += 1;
                d.d = D::Backoff { at: now + delay };
                a.push(Action::Say(Note::Restarting { which, restart: d.restarts, delay }));
            }
        }
    }

    fn tick(&mut self, now: Instant, looks: &Looks, a: &mut Vec<Action>) {
        if matches!(self.phase, Phase::Stopping { .. }) {
            return self.stop_step(now, looks, a);
        }
        let starting = matches!(self.phase, Phase::Starting);
        for i in 0..self.daemons.len() {
            let d = &mut self.daemons[i];
            let w = d.which;
            match d.d {
                D::Backoff { at } if now >= at => {
                    if w == Which::Dockerd {
                        a.push(Action::RemovePidfile);
                    }
                    d.d = D::Spawning;
                    a.push(Action::Spawn(w, d.restarts));
                }
                D::Probing { pid, since, until } if now >= until => {
                    d.d = D::Up { pid, since };
                    // The probe's last error is in the message: said before the probe goes.
                    let go_on = w == Which::Dockerd && self.p.continue_on_timeout;
                    a.push(Action::Say(match (starting, go_on) {
                        (false, _) => Note::RestartTimeout { which: w, pid },
                        (true, true) => Note::ContinueOnTimeout,
                        (true, false) => Note::StartTimeout(w),
                    }));
                    a.push(Action::Unprobe(w));
                    if !starting {
                        // The same rule as at start: a daemon that does not answer in time
                        // is a failed one. Killed, its end goes through --on-daemon-exit.
                        a.push(Action::Signal { pid, sig: libc::SIGKILL, group: true });
                    } else if go_on {
                        self.next_daemon(now, a);
                    } else {
                        return self.fail(now, looks, a);
                    }
                }
                _ => {}
            }
        }
    }

    fn begin_stop(
        &mut self,
        now: Instant,
        outcome: Outcome,
        reason: Reason,
        looks: &Looks,
        a: &mut Vec<Action>,
    ) {
        for d in &mut self.daemons {
            match d.d {
                D::Probing { pid, since, .. } => {
                    a.push(Action::Unprobe(d.which));
                    d.d = D::Up { pid, since };
                }
                D::Up { .. } => {}
                _ => d.d = D::Gone,
            }
        }
        if let Pre::Running { .. } = self.pre {
            self.pre = Pre::Over;
            a.push(Action::CancelPreload);
        }
        let serving = matches!(self.phase, Phase::Running { serving: true });
        let command = self.command_pid();
        a.push(Action::Say(Note::StopBegin { reason, command, serving }));
        if let (Reason::Daemon, Some(pid)) = (reason, command) {
            // A daemon given up: the command is told at once, whatever it is.
            a.push(Action::Signal { pid, sig: libc::SIGTERM, group: true });
            a.push(Action::Signal { pid, sig: libc::SIGCONT, group: true });
        }
        let stop = Stop::new(now, self.p.shutdown_timeout, self.p.wait_containerd);
        self.phase = Phase::Stopping { stop: Box::new(stop), outcome, next: None };
        self.stop_step(now, looks, a);
    }

    /// The stop: `dockerd::stop` decides, here its acts become signals to our processes.
    fn stop_step(&mut self, now: Instant, looks: &Looks, a: &mut Vec<Action>) {
        let (cmd, dockerd, containerd) =
            (self.command_pid(), self.pid(Which::Dockerd), self.pid(Which::Containerd));
        let Phase::Stopping { stop, outcome, next } = &mut self.phase else { return };
        let has_child = || dockerd.is_some_and(|p| (looks.has_child)(p));
        let seen = Seen {
            command_running: cmd.is_some(),
            daemon_running: dockerd.is_some(),
            containerd_running: containerd.is_some(),
            log_complete: looks.log_complete,
            daemon_has_child: &has_child,
        };
        let (acts, n) = stop.step(now, &seen);
        *next = n;
        let left = stop.budget.end.saturating_duration_since(now);
        for act in acts {
            let (pid, sig, group, note) = match (act, cmd, dockerd, containerd) {
                (Act::KillCommand, Some(p), _, _) => (p, libc::SIGKILL, true, Note::CommandKill(p)),
                (Act::TermDaemon, _, Some(p), _) => {
                    a.push(Action::ArmTail);
                    (p, libc::SIGTERM, false, Note::DockerdTerm { pid: p, left })
                }
                (Act::KillInnerContainers, ..) => {
                    a.push(Action::KillInnerContainers);
                    continue;
                }
                (Act::EndWait, _, Some(p), _) => (p, libc::SIGKILL, false, Note::EndWait(p)),
                (Act::KillDaemon, _, Some(p), _) => (p, libc::SIGKILL, true, Note::DockerdKill(p)),
                (Act::TermContainerd, _, _, Some(p)) => {
                    (p, libc::SIGTERM, false, Note::ContainerdTerm(p))
                }
                (Act::KillContainerd, _, _, Some(p)) => {
                    (p, libc::SIGKILL, true, Note::ContainerdKill(p))
                }
                _ => continue,
            };
            a.push(Action::Say(note));
            a.push(Action::Signal { pid, sig, group });
        }
        let outcome = *outcome;
        if cmd.is_none() && dockerd.is_none() && containerd.is_none() {
            self.finish(outcome, a);
        } else if now >= stop.budget.end + GIVE_UP_GRACE {
            // SIGKILL cannot end a process in uninterruptible sleep: do not wait for ever.
            a.push(Action::Say(Note::GiveUp));
            self.finish(outcome, a);
        }
    }

    /// The stop is over: its report, the exit code.
    fn finish(&mut self, outcome: Outcome, a: &mut Vec<Action>) {
        let Phase::Stopping { stop, .. } = &self.phase else { return };
        a.push(Action::DrainLogs);
        let end_of = |w| self.daemon(w).and_then(|d| d.end);
        // In the order they ended: dockerd first, then the containerd stopped after it.
        let mut dockerd = None;
        if let Some((status, _)) = end_of(Which::Dockerd) {
            let took = stop.daemon_gone_after.unwrap_or_default();
            let killed = stop.killed_at.is_some();
            let term = stop.term_at.unwrap_or(stop.budget.end);
            let wait_ended = stop
                .ended_wait_at
                .filter(|_| !killed && !status.clean())
                .map(|at| at.saturating_duration_since(term));
            if wait_ended.is_some() {
                a.push(Action::RemoveLeftBehind);
            }
            a.push(Action::Say(Note::DockerdExit { status, took, killed, wait_ended }));
            dockerd = Some(if wait_ended.is_some() { 0 } else { status.code });
        }
        if let (Some((status, at)), Some(term)) =
            (end_of(Which::Containerd), stop.containerd_term_at)
        {
            let took = at.saturating_duration_since(term);
            let killed = stop.containerd_killed;
            a.push(Action::Say(Note::ContainerdExit { status, took, killed }));
        }
        let code = exit_code(outcome, self.cmd, dockerd);
        self.phase = Phase::Done;
        a.push(Action::Finish(code));
    }
}

#[cfg(test)]
mod tests;
