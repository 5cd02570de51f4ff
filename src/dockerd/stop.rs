//! The whole stop sequence, as decisions: given the time and what the supervisor sees, what
//! to do next and when to look again. It is pure (no process is touched here), so each rule
//! is unit-tested; the supervisor carries the actions out.
//!
//! The budget (`--shutdown-timeout`, 8 s: `docker stop` gives 10) counts from the first
//! SIGTERM, or from the command's own exit, and covers everything:
//! 1. the command gets the first half to exit after its SIGTERM; then it is SIGKILLed;
//! 2. dockerd gets SIGTERM as soon as the command is gone (or killed) and stops its inner
//!    containers itself, as in its own clean shutdown, so their restart policies hold
//!    (`unless-stopped` comes back: a stop through the API would mark them stopped by hand);
//! 3. inner containers still running 2.5 s before the end are SIGKILLed, leaving dockerd
//!    time to finish cleanly after them;
//! 4. at the end dockerd is SIGKILLed if it is still there;
//! 5. then the containerd dind-init runs (if it does) gets SIGTERM, and SIGKILL at the end of
//!    the budget (or one second after its SIGTERM, whichever is later).
//!
//! dockerd's own clean stop ends with a fixed one-second sleep: once it has logged "Daemon
//! shutdown complete" it sends SIGTERM to the containerd it started and sleeps a whole
//! second before it looks whether containerd is gone (moby `libcontainerd/supervisor`).
//! When dockerd had such a child, logged that record after our SIGTERM, and the child is
//! gone, nothing is left but the sleep: dind-init ends it (`EndWait`).

use std::time::{Duration, Instant};

/// How long a finished dockerd without a live child may take to exit by itself.
pub const DONE_GRACE: Duration = Duration::from_millis(10);
/// How often to look whether dockerd's containerd is gone, once its shutdown is complete.
pub const WATCH_POLL: Duration = Duration::from_millis(5);
/// What dockerd keeps for itself after its inner containers are gone: its own clean-up (the
/// network, the layers) takes about a second, more on a loaded machine.
pub const DOCKERD_RESERVE: Duration = Duration::from_millis(2500);
/// The least time containerd gets to stop after its SIGTERM.
pub const CONTAINERD_GRACE: Duration = Duration::from_secs(1);

/// The deadlines of one stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The command is SIGKILLed at this point if it is still running.
    pub command_until: Instant,
    /// dockerd is SIGKILLed at this point if it is still running.
    pub end: Instant,
}

impl Budget {
    pub fn new(start: Instant, total: Duration) -> Budget {
        Budget { command_until: start + total / 2, end: start + total }
    }

    /// Another SIGTERM: the budget never grows, but a stop that began with the command's
    /// own exit must now also fit the grace of the `docker stop` that just arrived.
    pub fn tighten(&mut self, now: Instant, total: Duration) {
        let b = Budget::new(now, total);
        self.command_until = self.command_until.min(b.command_until);
        self.end = self.end.min(b.end);
    }

    /// When inner containers still running are SIGKILLed, for a dockerd told to stop at
    /// `term_at`: `DOCKERD_RESERVE` before the end, or half-way when the window is short.
    pub fn containers_until(&self, term_at: Instant) -> Instant {
        let window = self.end.saturating_duration_since(term_at);
        self.end - DOCKERD_RESERVE.min(window / 2)
    }
}

/// What the supervisor sees.
pub struct Seen<'a> {
    pub command_running: bool,
    pub daemon_running: bool,
    /// The containerd dind-init runs (false when dockerd runs its own).
    pub containerd_running: bool,
    /// dockerd logged its completion record after our SIGTERM.
    pub log_complete: bool,
    /// Whether dockerd has a live child (its containerd); asked only when needed.
    pub daemon_has_child: &'a dyn Fn() -> bool,
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    KillCommand,
    TermDaemon,
    KillInnerContainers,
    /// SIGKILL to a dockerd whose shutdown is complete and whose containerd is gone.
    EndWait,
    KillDaemon,
    TermContainerd,
    KillContainerd,
}

#[derive(Debug, Clone)]
pub struct Stop {
    pub budget: Budget,
    wait_containerd: bool,
    command_killed: bool,
    pub term_at: Option<Instant>,
    had_child: bool,
    containers_killed: bool,
    done_since: Option<Instant>,
    pub ended_wait_at: Option<Instant>,
    pub killed_at: Option<Instant>,
    /// How long dockerd took to go after its SIGTERM.
    pub daemon_gone_after: Option<Duration>,
    pub containerd_term_at: Option<Instant>,
    pub containerd_killed: bool,
}

impl Stop {
    pub fn new(now: Instant, total: Duration, wait_containerd: bool) -> Stop {
        Stop {
            budget: Budget::new(now, total),
            wait_containerd,
            command_killed: false,
            term_at: None,
            had_child: false,
            containers_killed: false,
            done_since: None,
            ended_wait_at: None,
            killed_at: None,
            daemon_gone_after: None,
            containerd_term_at: None,
            containerd_killed: false,
        }
    }

    /// The actions due now, and when to look again (`None`: only when something happens,
    /// a child exit or a log record).
    pub fn step(&mut self, now: Instant, seen: &Seen) -> (Vec<Act>, Option<Instant>) {
        let mut acts = Vec::new();
        let mut next: Option<Instant> = None;
        let mut at = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        if seen.command_running && self.term_at.is_none() && !self.command_killed {
            if now < self.budget.command_until {
                return (acts, Some(self.budget.command_until));
            }
            acts.push(Act::KillCommand);
            self.command_killed = true;
        }
        if !seen.daemon_running {
            if let (Some(t), None) = (self.term_at, self.daemon_gone_after) {
                self.daemon_gone_after = Some(now.saturating_duration_since(t));
            }
            // dockerd is gone: then containerd. Otherwise nothing is left to stop but a
            // command that was SIGKILLed: its exit wakes us.
            if seen.containerd_running && !self.containerd_killed {
                let t = *self.containerd_term_at.get_or_insert_with(|| {
                    acts.push(Act::TermContainerd);
                    now
                });
                let kill_at = self.budget.end.max(t + CONTAINERD_GRACE);
                if now >= kill_at {
                    acts.push(Act::KillContainerd);
                    self.containerd_killed = true;
                } else {
                    at(kill_at);
                }
            }
            return (acts, next);
        }
        let term_at = match self.term_at {
            Some(t) => t,
            None => {
                acts.push(Act::TermDaemon);
                self.had_child = (seen.daemon_has_child)();
                self.term_at = Some(now);
                now
            }
        };
        if self.killed_at.is_some() {
            return (acts, None);
        }
        if now >= self.budget.end {
            acts.push(Act::KillDaemon);
            self.killed_at = Some(now);
            return (acts, None);
        }
        at(self.budget.end);
        let containers_at = self.budget.containers_until(term_at);
        if !self.containers_killed {
            if now >= containers_at {
                acts.push(Act::KillInnerContainers);
                self.containers_killed = true;
            } else {
                at(containers_at);
            }
        }
        let watching = !self.wait_containerd && self.had_child && self.ended_wait_at.is_none();
        if watching && seen.log_complete {
            if (seen.daemon_has_child)() {
                self.done_since = None;
                at(now + WATCH_POLL);
            } else {
                let since = *self.done_since.get_or_insert(now);
                if now >= since + DONE_GRACE {
                    acts.push(Act::EndWait);
                    self.ended_wait_at = Some(now);
                } else {
                    at(since + DONE_GRACE);
                }
            }
        }
        (acts, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOTAL: Duration = Duration::from_secs(8);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn seen<'a>(cmd: bool, daemon: bool, complete: bool, child: &'a dyn Fn() -> bool) -> Seen<'a> {
        Seen {
            command_running: cmd,
            daemon_running: daemon,
            containerd_running: false,
            log_complete: complete,
            daemon_has_child: child,
        }
    }

    #[test]
    fn budget_split() {
        let t0 = Instant::now();
        let b = Budget::new(t0, TOTAL);
        assert_eq!(b.command_until, t0 + ms(4000));
        assert_eq!(b.end, t0 + ms(8000));
        // dockerd told at once: containers killed at 5.5 s; told at 4 s (window 4 s): half-way,
        // 6 s; at 7.5 s (window 0.5 s): 7.75 s.
        assert_eq!(b.containers_until(t0), t0 + ms(5500));
        assert_eq!(b.containers_until(t0 + ms(4000)), t0 + ms(6000));
        assert_eq!(b.containers_until(t0 + ms(7500)), t0 + ms(7750));
        assert_eq!(b.containers_until(t0 + ms(9000)), t0 + ms(8000));
        let mut b2 = b;
        b2.tighten(t0 + ms(1000), TOTAL);
        assert_eq!(b2, b, "a later SIGTERM never extends the budget");
        b2.tighten(t0 - ms(1000), TOTAL);
        assert_eq!(b2.end, t0 + ms(7000));
    }

    /// The command exited by itself: dockerd is told at once; then the deadlines.
    #[test]
    fn command_gone_then_dockerd() {
        let t0 = Instant::now();
        let mut s = Stop::new(t0, TOTAL, false);
        let child = || true;
        let (a, next) = s.step(t0, &seen(false, true, false, &child));
        assert_eq!(a, vec![Act::TermDaemon]);
        assert_eq!(next, Some(t0 + ms(5500)), "next: the inner containers' deadline");
        let (a, next) = s.step(t0 + ms(5500), &seen(false, true, false, &child));
        assert_eq!(a, vec![Act::KillInnerContainers]);
        assert_eq!(next, Some(t0 + TOTAL));
        let (a, _) = s.step(t0 + TOTAL, &seen(false, true, false, &child));
        assert_eq!(a, vec![Act::KillDaemon]);
        let (a, next) = s.step(t0 + TOTAL + ms(50), &seen(false, true, false, &child));
        assert!(a.is_empty() && next.is_none(), "{a:?}");
    }

    /// A command that ignores SIGTERM keeps dockerd from nothing: at half the budget it is
    /// killed and dockerd stopped, cleanly, inside the budget.
    #[test]
    fn command_ignoring_term_gets_its_share_only() {
        let t0 = Instant::now();
        let mut s = Stop::new(t0, TOTAL, false);
        let child = || false;
        let (a, next) = s.step(t0, &seen(true, true, false, &child));
        assert!(a.is_empty());
        assert_eq!(next, Some(t0 + ms(4000)));
        let (a, _) = s.step(t0 + ms(2000), &seen(true, true, false, &child));
        assert!(a.is_empty(), "a slow trap has its time: {a:?}");
        let (a, next) = s.step(t0 + ms(4000), &seen(true, true, false, &child));
        assert_eq!(a, vec![Act::KillCommand, Act::TermDaemon]);
        assert_eq!(next, Some(t0 + ms(6000)));
        // The command is still being reaped: no second kill, no second SIGTERM.
        let (a, _) = s.step(t0 + ms(4001), &seen(true, true, false, &child));
        assert!(a.is_empty(), "{a:?}");
    }

    /// A slow trap (the command exits after 3 s) leaves dockerd the rest.
    #[test]
    fn slow_trap_then_dockerd() {
        let t0 = Instant::now();
        let mut s = Stop::new(t0, TOTAL, false);
        let child = || false;
        s.step(t0, &seen(true, true, false, &child));
        let (a, next) = s.step(t0 + ms(3000), &seen(false, true, false, &child));
        assert_eq!(a, vec![Act::TermDaemon]);
        assert_eq!(next, Some(t0 + ms(5500)));
    }

    #[test]
    fn ends_dockerds_final_wait_only_once_its_containerd_is_gone() {
        let t0 = Instant::now();
        let mut s = Stop::new(t0, TOTAL, false);
        let alive = || true;
        let gone = || false;
        assert_eq!(s.step(t0, &seen(false, true, false, &alive)).0, vec![Act::TermDaemon]);
        // Complete, but containerd still runs: look again shortly, end nothing.
        let (a, next) = s.step(t0 + ms(20), &seen(false, true, true, &alive));
        assert!(a.is_empty());
        assert_eq!(next, Some(t0 + ms(25)));
        // containerd gone: a grace for dockerd to exit by itself, then EndWait.
        let (a, next) = s.step(t0 + ms(30), &seen(false, true, true, &gone));
        assert!(a.is_empty());
        assert_eq!(next, Some(t0 + ms(30) + DONE_GRACE));
        let (a, _) = s.step(t0 + ms(40), &seen(false, true, true, &gone));
        assert_eq!(a, vec![Act::EndWait]);
        assert_eq!(s.ended_wait_at, Some(t0 + ms(40)));
    }

    #[test]
    fn never_ends_a_dockerd_that_had_no_containerd_child() {
        // --containerd=<external socket>: dockerd has no child; its completion record is
        // followed by its own clean-up, which must not be cut short.
        let t0 = Instant::now();
        let mut s = Stop::new(t0, TOTAL, false);
        let gone = || false;
        s.step(t0, &seen(false, true, false, &gone));
        for t in [20, 40, 500] {
            let (a, _) = s.step(t0 + ms(t), &seen(false, true, true, &gone));
            assert!(a.is_empty(), "at {t} ms: {a:?}");
        }
    }

    #[test]
    fn wait_containerd_lets_dockerd_finish() {
        let t0 = Instant::now();
        let mut s = Stop::new(t0, TOTAL, true);
        let (alive, gone) = (|| true, || false);
        s.step(t0, &seen(false, true, false, &alive));
        for t in [20, 40, 500] {
            let (a, _) = s.step(t0 + ms(t), &seen(false, true, true, &gone));
            assert!(a.is_empty(), "at {t} ms: {a:?}");
        }
    }

    /// dind-init's containerd: after dockerd, with at least a second of its own.
    #[test]
    fn containerd_after_dockerd() {
        let t0 = Instant::now();
        let mut s = Stop::new(t0, TOTAL, false);
        let no = || false;
        let both = |daemon| Seen {
            command_running: false,
            daemon_running: daemon,
            containerd_running: true,
            log_complete: false,
            daemon_has_child: &no,
        };
        assert_eq!(s.step(t0, &both(true)).0, vec![Act::TermDaemon], "dockerd first");
        let (a, next) = s.step(t0 + ms(300), &both(false));
        assert_eq!(a, vec![Act::TermContainerd]);
        assert_eq!(next, Some(t0 + TOTAL));
        assert_eq!(s.daemon_gone_after, Some(ms(300)));
        let (a, _) = s.step(t0 + ms(400), &both(false));
        assert!(a.is_empty(), "{a:?}");
        assert_eq!(s.step(t0 + TOTAL, &both(false)).0, vec![Act::KillContainerd]);
        // dockerd took the whole budget: containerd still gets its second.
        let mut s = Stop::new(t0, TOTAL, false);
        s.step(t0, &both(true));
        let (a, next) = s.step(t0 + TOTAL + ms(100), &both(false));
        assert_eq!(a, vec![Act::TermContainerd]);
        assert_eq!(next, Some(t0 + TOTAL + ms(100) + CONTAINERD_GRACE));
    }

    #[test]
    fn completion_before_sigterm_is_not_seen() {
        // The supervisor arms the tail only at SIGTERM; even if it said "complete" at the
        // first step, dockerd is told to stop first and nothing is ended then.
        let t0 = Instant::now();
        let mut s = Stop::new(t0, TOTAL, false);
        let gone = || false;
        let (a, _) = s.step(t0, &seen(false, true, true, &gone));
        assert_eq!(a, vec![Act::TermDaemon], "no child at SIGTERM: no EndWait ever");
    }
}
