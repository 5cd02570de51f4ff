//! Every transition of the lifecycle, and a property test over random event sequences.

use super::*;
use crate::config::OnDaemonExit;

const D: i32 = 100;
const C: i32 = 101;
const CMD: i32 = 500;

fn params() -> Params {
    Params {
        wait_timeout: Duration::from_secs(5),
        continue_on_timeout: false,
        shutdown_timeout: Duration::from_secs(8),
        on_daemon_exit: OnDaemonExit::Restart,
        max_restarts: 3,
        signal_group: false,
        wait_containerd: false,
        containerd: false,
        preload: false,
        preload_fail: true,
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

struct H {
    m: Machine,
    t0: Instant,
    now: Instant,
    log_complete: bool,
    child: bool,
}

impl H {
    fn new(p: Params) -> H {
        let t0 = Instant::now();
        H { m: Machine::new(p), t0, now: t0, log_complete: false, child: false }
    }
    fn at(&mut self, t: u64) -> &mut H {
        self.now = self.t0 + ms(t);
        self
    }
    fn ev(&mut self, e: Event) -> Vec<Action> {
        let child = self.child;
        let f = move |_: i32| child;
        let looks = Looks { log_complete: self.log_complete, has_child: &f };
        self.m.step(self.now, e, &looks)
    }
    /// Up and running: dockerd (and containerd) ready, the command started (or served).
    fn up(p: Params, serving: bool) -> H {
        let mut h = H::new(p);
        h.ev(Event::Start);
        if p.containerd {
            h.ev(Event::Spawned(Which::Containerd, C));
            h.ev(Event::Ready(Which::Containerd));
        }
        h.ev(Event::Spawned(Which::Dockerd, D));
        assert!(h.ev(Event::Ready(Which::Dockerd)).contains(&Action::StartCommand));
        let c = if serving {
            CommandStart::Serving
        } else {
            CommandStart::Started { pid: CMD, shell: false }
        };
        assert!(h.ev(Event::Command(c)).is_empty());
        h
    }
}

fn sigs(a: &[Action]) -> Vec<(i32, i32, bool)> {
    a.iter()
        .filter_map(|x| match *x {
            Action::Signal { pid, sig, group } => Some((pid, sig, group)),
            _ => None,
        })
        .collect()
}

fn notes(a: &[Action]) -> Vec<Note> {
    a.iter()
        .filter_map(|x| match *x {
            Action::Say(n) => Some(n),
            _ => None,
        })
        .collect()
}

fn finish(a: &[Action]) -> Option<u8> {
    a.iter().find_map(|x| match *x {
        Action::Finish(c) => Some(c),
        _ => None,
    })
}

fn reason(a: &[Action]) -> Option<Reason> {
    notes(a).into_iter().find_map(|n| match n {
        Note::StopBegin { reason, .. } => Some(reason),
        _ => None,
    })
}

const TERM: i32 = libc::SIGTERM;
const KILL: i32 = libc::SIGKILL;
const CONT: i32 = libc::SIGCONT;

#[test]
fn restart_back_off() {
    let secs: Vec<u64> = (0..8).map(|n| restart_delay(n).as_secs()).collect();
    assert_eq!(secs, vec![1, 2, 4, 8, 16, 30, 30, 30]);
}

#[test]
fn status_as_a_shell_reports_it() {
    assert_eq!(Status::exited(3), Status { code: 3, signal: None });
    assert!(Status::exited(0).clean() && !Status::exited(1).clean());
    let k = Status::killed(KILL);
    assert_eq!((k.code, k.clean(), k.desc().as_str()), (137, false, "killed by signal SIGKILL"));
    assert_eq!(Status::exited(2).desc(), "exited with status 2");
}

/// The signal policy, row by row.
#[test]
fn one_signal_policy() {
    use Class::*;
    use Policy::*;
    let rows = [
        (Stage::Starting, [Reap, AbortStart, AbortStart, AbortStart, Ignore]),
        (Stage::Command, [Reap, ForwardThenStop, Forward, Forward, Forward]),
        (Stage::Serving, [Reap, Stop, Stop, ToDockerd, ToDockerd]),
        (Stage::Stopping, [Reap, Tighten, Forward, Forward, Forward]),
    ];
    for (stage, want) in rows {
        for (c, w) in [Child, Term, Interrupt, Hangup, Other].into_iter().zip(want) {
            assert_eq!(policy(stage, c), w, "{stage:?} {c:?}");
        }
    }
    assert_eq!(class(libc::SIGQUIT), Interrupt);
    assert_eq!(class(libc::SIGWINCH), Other);
}

#[test]
fn start_up_containerd_then_dockerd_then_the_command() {
    let mut h = H::new(Params { containerd: true, ..params() });
    assert_eq!(h.ev(Event::Start), vec![Action::Spawn(Which::Containerd, 0)]);
    let a = h.at(10).ev(Event::Spawned(Which::Containerd, C));
    assert_eq!(
        a,
        vec![Action::Say(Note::Waiting(Which::Containerd)), Action::Probe(Which::Containerd, C)]
    );
    assert!(h.ev(Event::Tick).is_empty(), "nothing due");
    assert_eq!(h.m.next(), Some(h.t0 + ms(5010)), "the readiness deadline");
    let a = h.at(110).ev(Event::Ready(Which::Containerd));
    let ready = Note::Ready { which: Which::Containerd, restart: 0, took: ms(100) };
    assert_eq!(
        a,
        vec![
            Action::Say(ready),
            Action::Unprobe(Which::Containerd),
            Action::Spawn(Which::Dockerd, 0)
        ]
    );
    h.ev(Event::Spawned(Which::Dockerd, D));
    let a = h.at(500).ev(Event::Ready(Which::Dockerd));
    assert_eq!(a.last(), Some(&Action::StartCommand));
    assert!(h.ev(Event::Command(CommandStart::Started { pid: CMD, shell: false })).is_empty());
    assert_eq!(h.m.stage(), Stage::Command);
    assert_eq!(h.m.next(), None, "idle: no deadline");
}

#[test]
fn start_up_time_out_is_125() {
    let mut h = H::new(params());
    h.ev(Event::Start);
    h.ev(Event::Spawned(Which::Dockerd, D));
    assert!(h.at(4999).ev(Event::Tick).is_empty());
    let a = h.at(5000).ev(Event::Tick);
    assert_eq!(notes(&a)[0], Note::StartTimeout(Which::Dockerd));
    assert_eq!(reason(&a), Some(Reason::StartFailed));
    assert_eq!(sigs(&a), vec![(D, TERM, false)], "the daemon started is stopped");
    assert!(!a.contains(&Action::StartCommand));
    let a = h.at(5100).ev(Event::Exit(D, Status::exited(0)));
    assert!(finish(&a).is_none());
    assert_eq!(finish(&h.ev(Event::Tick)), Some(125));
}

#[test]
fn continue_on_timeout_runs_the_command() {
    let mut h = H::new(Params { continue_on_timeout: true, ..params() });
    h.ev(Event::Start);
    h.ev(Event::Spawned(Which::Dockerd, D));
    let a = h.at(5000).ev(Event::Tick);
    assert_eq!(notes(&a), vec![Note::ContinueOnTimeout]);
    assert_eq!(a.last(), Some(&Action::StartCommand));
}

#[test]
fn a_daemon_dying_during_start_up_is_125() {
    let mut h = H::new(Params { containerd: true, ..params() });
    h.ev(Event::Start);
    h.ev(Event::Spawned(Which::Containerd, C));
    h.ev(Event::Ready(Which::Containerd));
    h.ev(Event::Spawned(Which::Dockerd, D));
    let a = h.at(300).ev(Event::Exit(C, Status::exited(1)));
    let died = Note::StartDied {
        which: Which::Containerd,
        starting: Which::Dockerd,
        status: Status::exited(1),
        ran: ms(300),
    };
    assert_eq!(notes(&a)[0], died);
    assert_eq!(sigs(&a), vec![(D, TERM, false)]);
    assert_eq!(finish(&h.ev(Event::Exit(D, Status::exited(0)))), None);
    assert_eq!(finish(&h.ev(Event::Tick)), Some(125));
}

#[test]
fn a_spawn_failure_or_a_foreign_daemon_is_125() {
    let mut h = H::new(params());
    h.ev(Event::Start);
    let a = h.ev(Event::SpawnFailed(Which::Dockerd));
    assert_eq!(finish(&a), Some(125), "nothing to stop: done at once");
    let mut h = H::new(params());
    h.ev(Event::Start);
    h.ev(Event::Spawned(Which::Dockerd, D));
    let a = h.ev(Event::Foreign(Which::Dockerd));
    assert!(a.contains(&Action::Unprobe(Which::Dockerd)));
    assert_eq!(sigs(&a), vec![(D, TERM, false)], "our own dockerd is still stopped");
    h.ev(Event::Exit(D, Status::exited(0)));
    assert_eq!(finish(&h.ev(Event::Tick)), Some(125));
}

#[test]
fn a_terminating_signal_aborts_start_up_others_are_ignored() {
    let mut h = H::new(params());
    h.ev(Event::Start);
    h.ev(Event::Spawned(Which::Dockerd, D));
    let a = h.ev(Event::Signal(libc::SIGUSR1));
    assert_eq!(notes(&a), vec![Note::Ignoring(libc::SIGUSR1)]);
    let a = h.ev(Event::Signal(TERM));
    assert_eq!(reason(&a), Some(Reason::Abort(TERM)));
    assert_eq!(sigs(&a), vec![(D, TERM, false)]);
    // A late answer starts nothing.
    assert!(!h.ev(Event::Ready(Which::Dockerd)).contains(&Action::StartCommand));
    h.ev(Event::Exit(D, Status::killed(TERM)));
    assert_eq!(finish(&h.ev(Event::Tick)), Some(143));
}

/// Up to the preload: dockerd answered, the preload asked for.
fn preloading(p: Params) -> H {
    let mut h = H::new(Params { preload: true, ..p });
    h.ev(Event::Start);
    h.at(10).ev(Event::Spawned(Which::Dockerd, D));
    let a = h.at(300).ev(Event::Ready(Which::Dockerd));
    assert!(a.contains(&Action::Preload(D)), "{a:?}");
    assert!(!a.contains(&Action::StartCommand), "the command before the preload: {a:?}");
    assert_eq!(h.m.stage(), Stage::Starting);
    h
}

fn preloaded(loaded: u32, skipped: u32, failed: u32) -> Event {
    Event::Preloaded { loaded, skipped, failed }
}

#[test]
fn the_preload_runs_between_dockerds_answer_and_the_command() {
    for serving in [false, true] {
        let mut h = preloading(params());
        let a = h.at(2300).ev(preloaded(2, 1, 0));
        let done =
            Note::PreloadDone { loaded: 2, skipped: 1, failed: 0, took: ms(2000), fatal: false };
        assert_eq!(notes(&a), vec![done]);
        // health may say ready only now, then the command (or serving)
        assert_eq!(a[1..], [Action::PreloadEnded, Action::StartCommand]);
        let c = if serving {
            CommandStart::Serving
        } else {
            CommandStart::Started { pid: CMD, shell: false }
        };
        assert!(h.ev(Event::Command(c)).is_empty());
        assert_eq!(h.m.stage(), if serving { Stage::Serving } else { Stage::Command });
        // A second answer changes nothing.
        assert!(h.ev(preloaded(0, 0, 1)).is_empty());
    }
    // Without --preload: straight to the command, no preload action.
    let mut h = H::new(params());
    h.ev(Event::Start);
    h.ev(Event::Spawned(Which::Dockerd, D));
    let a = h.ev(Event::Ready(Which::Dockerd));
    assert!(a.contains(&Action::StartCommand) && !a.contains(&Action::Preload(D)));
}

#[test]
fn with_containerd_the_preload_waits_for_both() {
    let mut h = H::new(Params { containerd: true, preload: true, ..params() });
    h.ev(Event::Start);
    h.ev(Event::Spawned(Which::Containerd, C));
    let a = h.ev(Event::Ready(Which::Containerd));
    assert_eq!(a.last(), Some(&Action::Spawn(Which::Dockerd, 0)));
    h.ev(Event::Spawned(Which::Dockerd, D));
    assert!(h.ev(Event::Ready(Which::Dockerd)).contains(&Action::Preload(D)));
}

#[test]
fn a_failed_archive_stops_the_start_unless_warn() {
    let mut h = preloading(params());
    let a = h.at(1000).ev(preloaded(1, 0, 1));
    let n = notes(&a);
    assert!(matches!(n[0], Note::PreloadDone { failed: 1, fatal: true, .. }), "{n:?}");
    assert_eq!(reason(&a), Some(Reason::StartFailed));
    assert!(!a.contains(&Action::StartCommand) && !a.contains(&Action::PreloadEnded));
    assert_eq!(sigs(&a), vec![(D, TERM, false)]);
    h.ev(Event::Exit(D, Status::exited(0)));
    assert_eq!(finish(&h.ev(Event::Tick)), Some(125));
    // --preload-errors warn: said, then the command.
    let mut h = preloading(Params { preload_fail: false, ..params() });
    let a = h.at(1000).ev(preloaded(1, 0, 1));
    assert!(matches!(notes(&a)[0], Note::PreloadDone { failed: 1, fatal: false, .. }));
    assert_eq!(a[1..], [Action::PreloadEnded, Action::StartCommand]);
}

#[test]
fn a_signal_during_the_preload_cancels_it_and_stops_in_budget() {
    let mut h = preloading(params());
    assert_eq!(
        notes(&h.at(400).ev(Event::Signal(libc::SIGUSR1))),
        vec![Note::Ignoring(libc::SIGUSR1)]
    );
    let a = h.at(500).ev(Event::Signal(TERM));
    assert_eq!(reason(&a), Some(Reason::Abort(TERM)));
    assert!(a.contains(&Action::CancelPreload), "{a:?}");
    assert_eq!(sigs(&a), vec![(D, TERM, false)]);
    // The loads end (their connections cut): the late answer starts nothing.
    assert!(h.at(600).ev(preloaded(0, 0, 1)).is_empty());
    // dockerd does not go: SIGKILL at the end of the budget, all over by then.
    assert!(h.m.next().is_some_and(|n| n <= h.t0 + ms(500 + 8000)));
    let a = h.at(8500).ev(Event::Tick);
    assert_eq!(sigs(&a), vec![(D, KILL, true)]);
    h.at(8510).ev(Event::Exit(D, Status::killed(KILL)));
    let a = h.ev(Event::Tick);
    assert_eq!(finish(&a), Some(143));
    // A dockerd that ignores even that: given up 3 s after the budget.
    let mut h = preloading(params());
    h.at(500).ev(Event::Signal(libc::SIGINT));
    h.at(8500).ev(Event::Tick);
    assert_eq!(finish(&h.at(11_500).ev(Event::Tick)), Some(130));
}

#[test]
fn a_daemon_dying_during_the_preload_is_125() {
    let mut h = preloading(params());
    let a = h.at(700).ev(Event::Exit(D, Status::killed(KILL)));
    assert!(a.contains(&Action::CancelPreload), "{a:?}");
    assert_eq!(reason(&a), Some(Reason::StartFailed));
    assert_eq!(finish(&a), Some(125), "nothing else runs: over at once");
    assert!(h.ev(preloaded(1, 0, 0)).is_empty(), "no command after all");
}

#[test]
fn a_command_that_cannot_run_ends_with_its_code() {
    let mut h = H::new(params());
    h.ev(Event::Start);
    h.ev(Event::Spawned(Which::Dockerd, D));
    h.ev(Event::Ready(Which::Dockerd));
    let a = h.ev(Event::Command(CommandStart::Failed(127)));
    assert_eq!(sigs(&a), vec![(D, TERM, false)]);
    h.ev(Event::Exit(D, Status::exited(0)));
    assert_eq!(finish(&h.ev(Event::Tick)), Some(127));
}

#[test]
fn signals_to_the_command() {
    let mut h = H::up(params(), false);
    assert_eq!(
        sigs(&h.ev(Event::Signal(libc::SIGINT))),
        vec![(CMD, libc::SIGINT, false), (CMD, CONT, false)]
    );
    assert_eq!(sigs(&h.ev(Event::Signal(libc::SIGUSR1))), vec![(CMD, libc::SIGUSR1, false)]);
    assert!(sigs(&h.ev(Event::Signal(libc::SIGCHLD))).is_empty());
    assert_eq!(h.m.stage(), Stage::Command, "no stop on INT");
    let mut h = H::up(Params { signal_group: true, ..params() }, false);
    assert_eq!(
        sigs(&h.ev(Event::Signal(libc::SIGHUP))),
        vec![(CMD, libc::SIGHUP, true), (CMD, CONT, true)]
    );
    // A login shell's SIGTERM is a hang-up of its group.
    let mut h = H::new(params());
    h.ev(Event::Start);
    h.ev(Event::Spawned(Which::Dockerd, D));
    h.ev(Event::Ready(Which::Dockerd));
    h.ev(Event::Command(CommandStart::Started { pid: CMD, shell: true }));
    let a = h.ev(Event::Signal(TERM));
    assert_eq!(sigs(&a), vec![(CMD, libc::SIGHUP, true), (CMD, CONT, true)]);
    assert_eq!(reason(&a), Some(Reason::Signal(TERM)));
    assert_eq!(h.m.stage(), Stage::Stopping);
}

#[test]
fn sigterm_gives_the_command_half_the_budget_then_sigkill() {
    let mut h = H::up(params(), false);
    let a = h.at(1000).ev(Event::Signal(TERM));
    assert_eq!(sigs(&a), vec![(CMD, TERM, false), (CMD, CONT, false)], "dockerd not yet");
    assert_eq!(h.m.next(), Some(h.t0 + ms(5000)));
    let a = h.at(5000).ev(Event::Tick);
    assert_eq!(notes(&a)[0], Note::CommandKill(CMD));
    assert_eq!(sigs(&a), vec![(CMD, KILL, true), (D, TERM, false)]);
    assert!(a.contains(&Action::ArmTail));
    h.at(5010).ev(Event::Exit(CMD, Status::killed(KILL)));
    h.at(5200).ev(Event::Exit(D, Status::exited(0)));
    let a = h.ev(Event::Tick);
    let exit = Note::DockerdExit {
        status: Status::exited(0),
        took: ms(200),
        killed: false,
        wait_ended: None,
    };
    assert!(notes(&a).contains(&exit), "{a:?}");
    assert_eq!(finish(&a), Some(137));
}

#[test]
fn the_command_exit_stops_dockerd_and_is_the_exit_code() {
    let mut h = H::up(params(), false);
    let a = h.at(100).ev(Event::Exit(CMD, Status::exited(5)));
    assert_eq!(notes(&a)[0], Note::CommandExited { pid: CMD, status: Status::exited(5) });
    assert_eq!(reason(&a), Some(Reason::CommandExit));
    assert_eq!(sigs(&a), vec![(D, TERM, false)]);
    h.ev(Event::Exit(D, Status::exited(2)));
    assert_eq!(finish(&h.ev(Event::Tick)), Some(5), "the command's status, not dockerd's");
}

#[test]
fn a_second_sigterm_tightens_the_budget() {
    let mut h = H::up(params(), false);
    h.at(0).ev(Event::Exit(CMD, Status::exited(0)));
    assert_eq!(h.m.next(), Some(h.t0 + ms(5500)), "inner containers' deadline");
    h.at(1000).ev(Event::Signal(TERM));
    assert_eq!(h.m.next(), Some(h.t0 + ms(5500)), "never extended");
    let mut h = H::up(params(), false);
    h.at(0).ev(Event::Exit(CMD, Status::exited(0)));
    h.log_complete = false;
    // The stop's budget counts from the command's exit; a SIGTERM before it would tighten it.
    let a = h.at(9000).ev(Event::Tick);
    assert_eq!(sigs(&a), vec![(D, KILL, true)]);
}

#[test]
fn serving_dockerd_hup_is_forwarded_term_stops() {
    let mut h = H::up(params(), true);
    assert_eq!(h.m.stage(), Stage::Serving);
    assert_eq!(sigs(&h.ev(Event::Signal(libc::SIGHUP))), vec![(D, libc::SIGHUP, false)]);
    let a = h.ev(Event::Signal(libc::SIGINT));
    assert_eq!(reason(&a), Some(Reason::Signal(libc::SIGINT)));
    assert_eq!(sigs(&a), vec![(D, TERM, false)]);
    h.ev(Event::Exit(D, Status::exited(0)));
    assert_eq!(finish(&h.ev(Event::Tick)), Some(0));
    let mut h = H::up(params(), true);
    h.ev(Event::Signal(TERM));
    h.ev(Event::Exit(D, Status::exited(3)));
    assert_eq!(finish(&h.ev(Event::Tick)), Some(3), "serving: dockerd's status");
}

#[test]
fn ending_dockerds_final_wait_is_a_clean_stop() {
    let mut h = H::up(params(), true);
    h.child = true;
    h.ev(Event::Signal(TERM));
    h.log_complete = true;
    h.child = false;
    assert!(sigs(&h.at(20).ev(Event::Tick)).is_empty(), "the grace first");
    let a = h.at(40).ev(Event::Tick);
    assert_eq!(notes(&a), vec![Note::EndWait(D)]);
    assert_eq!(sigs(&a), vec![(D, KILL, false)]);
    h.at(45).ev(Event::Exit(D, Status::killed(KILL)));
    let a = h.ev(Event::Tick);
    assert!(a.contains(&Action::RemoveLeftBehind));
    let exit = Note::DockerdExit {
        status: Status::killed(KILL),
        took: ms(45),
        killed: false,
        wait_ended: Some(ms(40)),
    };
    assert!(notes(&a).contains(&exit), "{a:?}");
    assert_eq!(finish(&a), Some(0));
}

#[test]
fn dockerd_ending_while_served_goes_through_the_stop() {
    let p = Params { containerd: true, on_daemon_exit: OnDaemonExit::Exit, ..params() };
    let mut h = H::up(p, true);
    let a = h.at(2000).ev(Event::Exit(D, Status::exited(3)));
    let died = Note::Died { which: Which::Dockerd, status: Status::exited(3), ran: ms(2000) };
    assert_eq!(notes(&a)[0], died);
    assert_eq!(reason(&a), Some(Reason::Daemon));
    assert_eq!(sigs(&a), vec![(C, TERM, false)], "containerd is stopped too");
    h.ev(Event::Exit(C, Status::exited(0)));
    assert_eq!(finish(&h.ev(Event::Tick)), Some(3), "dockerd's own status");
}

#[test]
fn restart_shares_the_readiness_path() {
    let mut h = H::up(params(), false);
    let a = h.at(1000).ev(Event::Exit(D, Status::exited(1)));
    let r = Note::Restarting { which: Which::Dockerd, restart: 1, delay: ms(1000) };
    assert_eq!(notes(&a)[1], r);
    assert_eq!(h.m.next(), Some(h.t0 + ms(2000)));
    assert!(h.at(1999).ev(Event::Tick).is_empty());
    let a = h.at(2000).ev(Event::Tick);
    assert_eq!(a, vec![Action::RemovePidfile, Action::Spawn(Which::Dockerd, 1)]);
    let a = h.ev(Event::Spawned(Which::Dockerd, D + 10));
    assert_eq!(a, vec![Action::Probe(Which::Dockerd, D + 10)], "no 'waiting' line on a restart");
    let a = h.at(2300).ev(Event::Ready(Which::Dockerd));
    let ready = Note::Ready { which: Which::Dockerd, restart: 1, took: ms(300) };
    assert_eq!(a, vec![Action::Say(ready), Action::Unprobe(Which::Dockerd)], "no second command");
    // The new dockerd is the one stopped.
    let a = h.ev(Event::Exit(CMD, Status::exited(0)));
    assert_eq!(sigs(&a), vec![(D + 10, TERM, false)]);
}

#[test]
fn containerd_restarts_at_once_then_backs_off() {
    let mut h = H::up(Params { containerd: true, ..params() }, false);
    let a = h.at(100).ev(Event::Exit(C, Status::exited(1)));
    assert!(notes(&a).contains(&Note::Restarting {
        which: Which::Containerd,
        restart: 1,
        delay: ms(0)
    }));
    assert_eq!(h.ev(Event::Tick), vec![Action::Spawn(Which::Containerd, 1)]);
    h.ev(Event::Spawned(Which::Containerd, C + 10));
    h.ev(Event::Ready(Which::Containerd));
    let a = h.at(200).ev(Event::Exit(C + 10, Status::exited(1)));
    assert!(notes(&a).contains(&Note::Restarting {
        which: Which::Containerd,
        restart: 2,
        delay: ms(1000)
    }));
}

#[test]
fn a_restart_that_does_not_answer_is_killed() {
    let mut h = H::up(params(), false);
    h.at(0).ev(Event::Exit(D, Status::exited(1)));
    h.at(1000).ev(Event::Tick);
    h.ev(Event::Spawned(Which::Dockerd, D + 1));
    let a = h.at(6000).ev(Event::Tick);
    assert_eq!(notes(&a), vec![Note::RestartTimeout { which: Which::Dockerd, pid: D + 1 }]);
    assert_eq!(sigs(&a), vec![(D + 1, KILL, true)]);
    // Its end goes through --on-daemon-exit: the next restart.
    let a = h.at(6010).ev(Event::Exit(D + 1, Status::killed(KILL)));
    assert!(matches!(notes(&a)[1], Note::Restarting { restart: 2, .. }), "{a:?}");
}

#[test]
fn giving_up_a_daemon_stops_everything_125() {
    let mut h = H::up(Params { max_restarts: 0, ..params() }, false);
    let a = h.at(10).ev(Event::Exit(D, Status::exited(1)));
    assert_eq!(notes(&a)[1], Note::GaveUp { which: Which::Dockerd, restarts: 0 });
    assert_eq!(reason(&a), Some(Reason::Daemon));
    assert_eq!(sigs(&a), vec![(CMD, TERM, true), (CMD, CONT, true)]);
    let a = h.ev(Event::Exit(CMD, Status::exited(0)));
    assert_eq!(notes(&a), vec![Note::CommandExited { pid: CMD, status: Status::exited(0) }]);
    assert_eq!(finish(&h.ev(Event::Tick)), Some(125));
    // --on-daemon-exit=exit, a failed restart, a foreign daemon at restart: the same.
    let mut h = H::up(Params { on_daemon_exit: OnDaemonExit::Exit, ..params() }, true);
    let a = h.ev(Event::Exit(CMD, Status::exited(0)));
    assert_eq!(notes(&a), vec![Note::Orphan { pid: CMD, status: Status::exited(0) }]);
    let a = h.ev(Event::Exit(D, Status::exited(0)));
    assert_eq!(reason(&a), Some(Reason::Daemon), "served: dockerd's end is the end");
    assert_eq!(finish(&a), Some(0), "serving, dockerd's status");
    let p = Params { containerd: true, on_daemon_exit: OnDaemonExit::Exit, ..params() };
    let mut h = H::up(p, false);
    let a = h.ev(Event::Exit(C, Status::exited(1)));
    assert_eq!(notes(&a)[1], Note::ExitPolicy(Which::Containerd));
    assert_eq!(sigs(&a), vec![(CMD, TERM, true), (CMD, CONT, true)]);
    let mut h = H::up(params(), false);
    h.at(0).ev(Event::Exit(D, Status::exited(1)));
    h.at(1000).ev(Event::Tick);
    assert_eq!(reason(&h.ev(Event::SpawnFailed(Which::Dockerd))), Some(Reason::Daemon));
    let mut h = H::up(params(), false);
    h.at(0).ev(Event::Exit(D, Status::exited(1)));
    h.at(1000).ev(Event::Tick);
    h.ev(Event::Spawned(Which::Dockerd, D + 1));
    let a = h.ev(Event::Foreign(Which::Dockerd));
    assert_eq!(reason(&a), Some(Reason::Daemon));
}

#[test]
fn ignore_carries_on_and_a_long_run_resets_the_count() {
    let mut h = H::up(Params { on_daemon_exit: OnDaemonExit::Ignore, ..params() }, false);
    let a = h.ev(Event::Exit(D, Status::exited(1)));
    assert_eq!(notes(&a)[1], Note::Ignored(Which::Dockerd));
    assert_eq!(h.m.stage(), Stage::Command);
    // The stop then has no dockerd to stop.
    let a = h.ev(Event::Exit(CMD, Status::exited(4)));
    assert_eq!(finish(&a), Some(4));
    let mut h = H::up(Params { max_restarts: 1, ..params() }, false);
    h.at(0).ev(Event::Exit(D, Status::exited(1)));
    h.at(1000).ev(Event::Tick);
    h.ev(Event::Spawned(Which::Dockerd, D + 1));
    h.ev(Event::Ready(Which::Dockerd));
    let a = h.at(1000 + 301_000).ev(Event::Exit(D + 1, Status::exited(1)));
    assert!(matches!(notes(&a)[1], Note::Restarting { restart: 1, .. }), "{a:?}");
}

#[test]
fn a_stop_gives_up_3_s_after_its_budget() {
    let mut h = H::up(params(), false);
    h.at(0).ev(Event::Signal(TERM));
    assert_eq!(sigs(&h.at(4000).ev(Event::Tick)), vec![(CMD, KILL, true), (D, TERM, false)]);
    assert_eq!(sigs(&h.at(8000).ev(Event::Tick)), vec![(D, KILL, true)]);
    assert_eq!(h.m.next(), Some(h.t0 + ms(11000)));
    assert!(finish(&h.at(10999).ev(Event::Tick)).is_none());
    let a = h.at(11000).ev(Event::Tick);
    assert!(notes(&a).contains(&Note::GiveUp));
    assert_eq!(finish(&a), Some(137), "a command that outlived its SIGKILL");
    assert!(h.m.is_done());
    assert!(h.ev(Event::Signal(TERM)).is_empty(), "done: nothing more");
}

#[test]
fn containerd_after_dockerd_and_its_report() {
    let mut h = H::up(Params { containerd: true, ..params() }, true);
    h.ev(Event::Signal(TERM));
    let a = h.at(300).ev(Event::Exit(D, Status::exited(0)));
    assert!(sigs(&a).is_empty());
    let a = h.ev(Event::Tick);
    assert_eq!(sigs(&a), vec![(C, TERM, false)]);
    h.at(400).ev(Event::Exit(C, Status::exited(0)));
    let a = h.ev(Event::Tick);
    let c = Note::ContainerdExit { status: Status::exited(0), took: ms(100), killed: false };
    assert!(notes(&a).contains(&c), "{a:?}");
    assert_eq!(a.iter().position(|x| *x == Action::DrainLogs), Some(0), "logs drained first");
    assert_eq!(finish(&a), Some(0));
}

#[test]
fn a_daemon_spawned_as_the_stop_began_is_stopped_too() {
    let mut h = H::up(Params { containerd: true, ..params() }, true);
    h.ev(Event::Exit(C, Status::exited(1)));
    assert_eq!(h.ev(Event::Tick), vec![Action::Spawn(Which::Containerd, 1)]);
    h.ev(Event::Signal(TERM));
    assert!(h.ev(Event::Spawned(Which::Containerd, C + 1)).is_empty());
    h.at(100).ev(Event::Exit(D, Status::exited(0)));
    assert_eq!(sigs(&h.ev(Event::Tick)), vec![(C + 1, TERM, false)]);
}

#[test]
fn orphans_are_only_noted() {
    let mut h = H::up(params(), false);
    let a = h.ev(Event::Exit(999, Status::exited(0)));
    assert_eq!(a, vec![Action::Say(Note::Orphan { pid: 999, status: Status::exited(0) })]);
}

#[test]
fn the_exit_code_table() {
    let s = Status::exited(7);
    assert_eq!(exit_code(Outcome::Fixed(125), Cmd::Exited(s), Some(0)), 125);
    assert_eq!(exit_code(Outcome::Normal, Cmd::Exited(s), Some(3)), 7);
    assert_eq!(exit_code(Outcome::Normal, Cmd::Exited(Status::killed(15)), None), 143);
    assert_eq!(exit_code(Outcome::Normal, Cmd::Running { pid: 1, shell: false }, None), 137);
    assert_eq!(exit_code(Outcome::Normal, Cmd::None, Some(3)), 3);
    assert_eq!(exit_code(Outcome::Normal, Cmd::None, None), 0);
}

/// Random event sequences against the invariants: no command before every daemon is ready,
/// no signal to a process that is not ours, every stop over within its budget and the 3 s
/// grace, the exit code by the table.
mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{HashMap, VecDeque};

    #[derive(Debug, Clone)]
    enum Op {
        Signal(usize),
        /// The n-th of our live processes (or an orphan) ends with this status.
        Exit(usize, u8, bool),
        Ready(bool),
        Foreign(bool),
        Wait(u64),
        NextDeadline,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0usize..7).prop_map(Op::Signal),
            (0usize..4, 0u8..4, any::<bool>()).prop_map(|(i, c, k)| Op::Exit(i, c, k)),
            any::<bool>().prop_map(Op::Ready),
            any::<bool>().prop_map(Op::Foreign),
            (0u64..20_000).prop_map(Op::Wait),
            Just(Op::NextDeadline),
        ]
    }

    const SIGNALS: [i32; 7] = [
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGCHLD,
        libc::SIGWINCH,
    ];

    /// The model's side: what it spawned, what still runs, what the command turned out to be.
    struct World {
        live: HashMap<i32, &'static str>,
        next_pid: i32,
        ready: Vec<Which>,
        spawn_fails: bool,
        command: u8,
        command_status: Option<Status>,
        dockerd_end_in_stop: Option<Status>,
        stop_began: Option<Instant>,
        reason: Option<Reason>,
        ended_by_itself: Option<u8>,
        wait_ended: bool,
        finished: Option<u8>,
        preloading: bool,
        preloaded: bool,
    }

    fn oracle(w: &World, serving: bool, failed: Option<u8>) -> u8 {
        match w.reason.expect("a stop began") {
            Reason::Abort(s) => 128 + s as u8,
            Reason::StartFailed => failed.unwrap_or(125),
            Reason::Daemon => w.ended_by_itself.unwrap_or(125),
            _ if !serving => w.command_status.map_or(137, |s| s.code),
            _ if w.wait_ended => 0,
            _ => w.dockerd_end_in_stop.map_or(0, |s| s.code),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: crate::fuzz_cases(1000), ..ProptestConfig::default() })]
        #[test]
        fn invariants_hold(
            containerd in any::<bool>(),
            policy_n in 0u8..3,
            max_restarts in 0u32..3,
            go_on in any::<bool>(),
            group in any::<bool>(),
            command in 0u8..4,
            spawn_fails in proptest::bool::weighted(0.05),
            preload in any::<bool>(),
            preload_fail in any::<bool>(),
            preload_fails in any::<bool>(),
            ops in proptest::collection::vec(op(), 0..60),
        ) {
            let on_daemon_exit =
                [OnDaemonExit::Restart, OnDaemonExit::Exit, OnDaemonExit::Ignore][policy_n as usize];
            let p = Params {
                containerd, on_daemon_exit, max_restarts, continue_on_timeout: go_on,
                signal_group: group, preload, preload_fail, ..params()
            };
            let t0 = Instant::now();
            let mut now = t0;
            let mut m = Machine::new(p);
            let mut w = World {
                live: HashMap::new(), next_pid: 100, ready: Vec::new(), spawn_fails, command,
                command_status: None, dockerd_end_in_stop: None, stop_began: None, reason: None,
                ended_by_itself: None, wait_ended: false, finished: None,
                preloading: false, preloaded: false,
            };
            let mut serving = false;
            let mut failed: Option<u8> = None;
            let mut last_died: Option<(Which, Status)> = None;
            let mut queue = VecDeque::from([Event::Start]);
            let mut ops = ops.into_iter();
            loop {
                while let Some(ev) = queue.pop_front() {
                    let looks = Looks { log_complete: false, has_child: &|_| false };
                    let tick = ev == Event::Tick;
                    if let Event::Exit(pid, st) = ev {
                        w.live.remove(&pid);
                        let _ = st;
                    }
                    let acts = m.step(now, ev, &looks);
                    if w.finished.is_some() {
                        prop_assert!(acts.is_empty(), "acts after the finish: {acts:?}");
                    }
                    for a in acts {
                        match a {
                            Action::Spawn(which, _) => {
                                if w.spawn_fails {
                                    queue.push_back(Event::SpawnFailed(which));
                                } else {
                                    w.next_pid += 1;
                                    w.live.insert(w.next_pid, which.name());
                                    queue.push_back(Event::Spawned(which, w.next_pid));
                                }
                            }
                            Action::Preload(pid) => {
                                prop_assert!(preload && !w.preloading && w.live.contains_key(&pid));
                                w.preloading = true;
                                queue.push_back(Event::Preloaded {
                                    loaded: 1, skipped: 0, failed: preload_fails as u32,
                                });
                            }
                            Action::Say(Note::PreloadDone { fatal, .. }) => {
                                prop_assert_eq!(fatal, preload_fail && preload_fails);
                                w.preloading = false;
                                w.preloaded = true;
                            }
                            Action::StartCommand => {
                                // No command before the preload is over, and none after it failed.
                                prop_assert!(!preload || (w.preloaded && !(preload_fail && preload_fails)));
                                // No command before every daemon answered (or time-out allowed).
                                prop_assert!(w.ready.contains(&Which::Dockerd));
                                prop_assert!(!containerd || w.ready.contains(&Which::Containerd));
                                let c = match w.command {
                                    0 => { serving = true; CommandStart::Serving }
                                    1 => { failed = Some(127); CommandStart::Failed(127) }
                                    n => {
                                        w.live.insert(CMD, "command");
                                        CommandStart::Started { pid: CMD, shell: n == 3 }
                                    }
                                };
                                queue.push_back(Event::Command(c));
                            }
                            Action::Signal { pid, .. } => {
                                prop_assert!(w.live.contains_key(&pid), "signal to {pid}, not ours: {:?}", w.live);
                            }
                            Action::Say(Note::Ready { which, .. }) => w.ready.push(which),
                            Action::Say(Note::ContinueOnTimeout) => w.ready.push(Which::Dockerd),
                            Action::Say(Note::StopBegin { reason, .. }) => {
                                prop_assert!(w.stop_began.is_none(), "two stops");
                                w.stop_began = Some(now);
                                w.reason = Some(reason);
                                if reason == Reason::Daemon {
                                    if let Some((Which::Dockerd, st)) = last_died {
                                        if serving && on_daemon_exit != OnDaemonExit::Restart {
                                            w.ended_by_itself = Some(st.code);
                                        }
                                    }
                                }
                            }
                            Action::Say(Note::Died { which, status, .. }) => last_died = Some((which, status)),
                            Action::Say(Note::DockerdExit { status, wait_ended, .. }) => {
                                w.dockerd_end_in_stop = Some(status);
                                w.wait_ended = wait_ended.is_some();
                            }
                            Action::Finish(code) => {
                                prop_assert!(w.finished.is_none());
                                w.finished = Some(code);
                                prop_assert_eq!(code, oracle(&w, serving, failed), "{:?}", w.reason);
                            }
                            _ => {}
                        }
                    }
                    if let Event::Command(CommandStart::Started { .. }) = ev { }
                    if let (true, Some(t)) = (tick, w.stop_began) {
                        // Within the budget and the 3 s grace (the budget only shrinks).
                        if now >= t + p.shutdown_timeout + GIVE_UP_GRACE {
                            prop_assert!(w.finished.is_some(), "stop not over at {:?}", now - t);
                        }
                    }
                    if let (Some(t), Some(n)) = (w.stop_began, m.next()) {
                        if w.finished.is_none() {
                            prop_assert!(n <= t + p.shutdown_timeout + GIVE_UP_GRACE);
                        }
                    }
                }
                if w.command_status.is_none() && !w.live.contains_key(&CMD) && w.command >= 2 {
                    // (the command's status is recorded when its exit is sent)
                }
                let Some(o) = ops.next() else { break };
                match o {
                    Op::Signal(i) => queue.push_back(Event::Signal(SIGNALS[i])),
                    Op::Exit(i, c, killed) => {
                        let mut pids: Vec<i32> = w.live.keys().copied().collect();
                        pids.sort();
                        let st = if killed { Status::killed([9, 15, 2, 1][c as usize]) } else { Status::exited(c as i32) };
                        let pid = pids.get(i).copied().unwrap_or(999);
                        if pid == CMD && w.finished.is_none() {
                            w.command_status = Some(st);
                        }
                        queue.push_back(Event::Exit(pid, st));
                    }
                    Op::Ready(d) => queue.push_back(Event::Ready(if d { Which::Dockerd } else { Which::Containerd })),
                    Op::Foreign(d) => queue.push_back(Event::Foreign(if d { Which::Dockerd } else { Which::Containerd })),
                    Op::Wait(n) => {
                        now += ms(n);
                        queue.push_back(Event::Tick);
                    }
                    Op::NextDeadline => {
                        if let Some(n) = m.next() { now = now.max(n); }
                        queue.push_back(Event::Tick);
                    }
                }
            }
            // Drive the end: every process obeys SIGKILL eventually; deadlines keep coming.
            if w.stop_began.is_some() {
                let mut guard = 0;
                while w.finished.is_none() && guard < 50 {
                    guard += 1;
                    let looks = Looks { log_complete: false, has_child: &|_| false };
                    match m.next() { Some(n) => now = now.max(n), None => now += ms(1) }
                    for a in m.step(now, Event::Tick, &looks) {
                        match a {
                            Action::Signal { pid, .. } => prop_assert!(w.live.contains_key(&pid)),
                            Action::Say(Note::DockerdExit { status, wait_ended, .. }) => {
                                w.dockerd_end_in_stop = Some(status);
                                w.wait_ended = wait_ended.is_some();
                            }
                            Action::Finish(code) => {
                                w.finished = Some(code);
                                prop_assert_eq!(code, oracle(&w, serving, failed));
                            }
                            _ => {}
                        }
                    }
                    prop_assert!(now <= w.stop_began.unwrap() + p.shutdown_timeout + GIVE_UP_GRACE || w.finished.is_some());
                }
                prop_assert!(w.finished.is_some(), "the stop never ended");
            }
        }
    }
}
