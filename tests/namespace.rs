//! Namespace tests: the real dind-init binary as PID 1 of a new PID and mount namespace
//! (`unshare --pid --fork --mount --mount-proc`, a tmpfs over /run), supervising the fake
//! dockerd from examples/fake_dockerd.rs. They need root; without it each prints a
//! `dind-init-test: SKIP NAME: WHY` line on stdout, and under CI they fail instead (CI is
//! `true`, `1` or `yes`). Nothing here touches the host's
//! /var/run/docker.sock or /var/run/docker.pid: sockets and pid files live in a per-test temp
//! dir or on the namespace's private /run, and cgroup/iptables/MTU handling is switched off
//! (except in the one test that checks the default cgroup handling on a v1/hybrid host, where
//! it only reads and, at most, mounts inside the private mount namespace).
//!
//! `DIND_TEST_KEEP=1` keeps each test's temp dir (`$TMPDIR/dii-PID-N-NAME`: events, args,
//! fds and log files of the fake dockerd) for a post-mortem.

mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

macro_rules! setup {
    ($name:expr) => {
        match ctx($name) {
            Some(c) => c,
            None => return,
        }
    };
}

fn wait_until(what: &str, secs: f64, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs_f64(secs);
    while !f() {
        assert!(Instant::now() < until, "timed out after {secs}s waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---------------------------------------------------------------------------------------
// Start-up: readiness, early death, time-outs

#[test]
fn command_starts_only_after_dockerd_answers_ping() {
    let c = setup!("ready");
    // The fake listens after 800 ms, then takes 300 ms to answer each /_ping and records
    // `ping 200 T` only once its answer is out: a probe that called the daemon ready on
    // connect would start the command ~300 ms before that event.
    let check = format!(
        "echo \"command-start $(date +%s%N)\" >> {ev}; if grep -q '^ping 200' {ev} && [ -S {sock} ]; then echo COMMAND-SAW-READY-DAEMON; else echo COMMAND-STARTED-TOO-EARLY; cat {ev}; exit 9; fi",
        ev = c.events_path(),
        sock = c.sock()
    );
    let o = c
        .run()
        .env("FAKE_DOCKERD_DELAY_MS", "800")
        .env("FAKE_DOCKERD_PING_DELAY_MS", "300")
        .sh(&check)
        .go();
    o.code(0).stdout_has("COMMAND-SAW-READY-DAEMON").within(1.1, 10.0);
    let ready = o.event("dockerd-ready");
    assert_eq!(ready.get("socket"), c.sock(), "ready event does not name the socket: {ready:?}");
    let waited = ready.secs();
    assert!(
        waited >= 1.05,
        "ready after {waited}s, but the first answer came after 1.1 s\n{}",
        o.dump()
    );
    assert!(o.event_index("dockerd-ready") < o.event_index("command-start"), "{}", o.dump());
    let t = |prefix: &str| -> u128 {
        c.events()
            .iter()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().last()?.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} event: {:?}", c.events()))
    };
    assert!(t("listening") < t("ping 200"), "{:?}", c.events());
    assert!(
        t("ping 200") <= t("command-start"),
        "the command started before the answer: {:?}",
        c.events()
    );
}

#[test]
fn daemon_dying_early_exits_125_with_status_and_log_tail() {
    let c = setup!("early");
    // LOG=file: dockerd's own output goes to the file, so whatever of it shows on stderr
    // comes from dind-init's error report (the log tail).
    let o = c
        .run()
        .env("FAKE_DOCKERD_EXIT", "3")
        .opts(&["--wait-timeout", "30s", "--log", "file", "--log-file", &c.p("docker.log")])
        .sh(&format!("touch {}", c.p("ran")))
        .go();
    o.code(125).within(0.0, 3.0);
    o.stderr_has("status 3")
        .stderr_has("simulated failure (FAKE_DOCKERD_EXIT=3)")
        .stderr_has("simulated trouble ahead");
    assert!(!c.path("ran").exists(), "the command ran although dockerd died\n{}", o.dump());
    assert!(
        read(&c.path("docker.log")).contains("simulated failure"),
        "LOG=file: docker.log lacks dockerd's output"
    );
    let (_, level, _) = o.log_line("status 3").unwrap();
    assert_eq!(level, "ERROR", "{}", o.dump());
    assert_eq!(o.exit_event(), 125, "{}", o.dump());
}

#[test]
fn readiness_timeout_exits_125_after_wait_timeout_with_log_tail() {
    let c = setup!("rtmo");
    let o = c
        .run()
        .env("FAKE_DOCKERD_NO_ANSWER", "1")
        .opts(&["--wait-timeout", "1s", "--log", "file", "--log-file", &c.p("docker.log")])
        .sh(&format!("touch {}", c.p("ran")))
        .go();
    o.code(125).within(1.0, 6.0);
    o.stderr_has("/_ping").stderr_has(&format!("API listen on {}", c.sock()));
    assert!(!c.path("ran").exists(), "the command ran after a readiness time-out\n{}", o.dump());
    // dockerd is still stopped politely.
    let names = c.event_names();
    assert!(
        names.contains(&"term".to_string()) && names.contains(&"exit".to_string()),
        "dockerd was not stopped: {names:?}\n{}",
        o.dump()
    );
}

#[test]
fn continue_on_timeout_runs_the_command_anyway() {
    let c = setup!("cont");
    // Through the environment this time.
    let o = c
        .run()
        .env("FAKE_DOCKERD_NO_ANSWER", "1")
        .env("DIND_WAIT_TIMEOUT", "800ms")
        .env("DIND_CONTINUE_ON_TIMEOUT", "yes")
        .sh("echo COMMAND-RAN; exit 7")
        .go();
    o.code(7).stdout_has("COMMAND-RAN").within(0.8, 6.0);
    assert!(
        o.log().iter().any(|(_, lv, m)| lv == "WARN" && m.contains("/_ping")),
        "no warning about the time-out\n{}",
        o.dump()
    );
}

#[test]
fn sigterm_before_the_command_started_aborts_startup() {
    let c = setup!("abort");
    let mut r =
        c.run().env("FAKE_DOCKERD_DELAY_MS", "10000").sh(&format!("touch {}", c.p("ran"))).spawn();
    r.wait_event("dockerd-start", 5.0);
    // "started pid" is logged once exec succeeded, before the fake installed its handlers: a
    // SIGTERM forwarded in that window kills it by the default action, before it can record
    // anything. Its `start` event comes after the handlers.
    r.wait_for("the fake dockerd's start event", 5.0, || {
        c.event_names().contains(&"start".to_string())
    });
    let t = Instant::now();
    r.signal(libc::SIGTERM);
    let o = r.wait();
    o.code(143);
    assert!(t.elapsed() < Duration::from_secs(3), "took {:?} to abort\n{}", t.elapsed(), o.dump());
    assert!(!c.path("ran").exists(), "the command ran\n{}", o.dump());
    assert!(
        c.event_names().contains(&"term".to_string()),
        "dockerd got no SIGTERM: {:?}",
        c.events()
    );
}

// ---------------------------------------------------------------------------------------
// Exit codes

#[test]
fn exit_codes_0_to_255_pass_through() {
    let c = setup!("codes");
    for code in [0, 1, 2, 42, 125, 126, 127, 128, 200, 255] {
        let o = c.run().sh(&format!("exit {code}")).go();
        o.code(code);
        assert_eq!(o.exit_event(), code as i64, "{}", o.dump());
        let exited = o.event("command-exit");
        assert_eq!(exited.int("status"), code as i64, "{}", o.dump());
        assert_eq!(exited.flag("clean"), code == 0, "{}", o.dump());
    }
}

#[test]
fn command_killed_by_signal_exits_128_plus_n() {
    let c = setup!("sigs");
    for (sig, code) in
        [("KILL", 137), ("TERM", 143), ("INT", 130), ("HUP", 129), ("USR1", 138), ("ALRM", 142)]
    {
        let o = c.run().sh(&format!("kill -s {sig} $$; sleep 5; exit 99")).go();
        o.code(code).within(0.0, 4.0);
    }
}

#[test]
fn log_names_the_signal_that_killed_the_command() {
    // Contract: `command: exited with status N` / `killed by signal SIGX`.
    let c = setup!("signame");
    let o = c.run().sh("kill -s KILL $$").go();
    o.code(137).stderr_has("command: killed by signal SIGKILL");
    assert_eq!(o.event("command-exit").int("status"), 137, "{}", o.dump());
}

#[test]
fn command_not_found_exits_127() {
    let c = setup!("e127");
    for cmd in ["/nonexistent/dind-init-test-cmd", "dind-init-no-such-command"] {
        let o = c.run().cmd(&[cmd, "arg"]).go();
        o.code(127).stderr_has(cmd);
        assert_eq!(o.exit_event(), 127, "{}", o.dump());
    }
    // dockerd was started and is stopped cleanly.
    let names = c.event_names();
    assert!(names.contains(&"exit".to_string()), "dockerd not stopped cleanly: {names:?}");
}

#[test]
fn command_not_executable_or_a_directory_exits_126() {
    use std::os::unix::fs::PermissionsExt;
    let c = setup!("e126");
    let noexec = c.path("noexec.sh");
    std::fs::write(&noexec, "#!/bin/sh\necho should-not-run\n").unwrap();
    std::fs::set_permissions(&noexec, std::fs::Permissions::from_mode(0o644)).unwrap();
    let garbage = c.path("garbage");
    std::fs::write(&garbage, b"\x7fELG\x00\x01not a program\n").unwrap();
    std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = c.path("adir");
    std::fs::create_dir(&dir).unwrap();
    for p in [&noexec, &dir, &garbage] {
        let s = p.display().to_string();
        let o = c.run().cmd(&[&s]).go();
        o.code(126).stderr_has(&s);
        assert!(!o.stdout.contains("should-not-run"));
    }
}

// ---------------------------------------------------------------------------------------
// Signals

#[test]
fn signals_to_pid1_reach_the_command() {
    let c = setup!("fwd");
    let rec = c.p("rec");
    // 37 is SIGRTMIN+3 (glibc numbering, as bash and kill(1) use it).
    let script = format!(
        r#"for s in TERM INT HUP USR1 USR2 WINCH QUIT; do trap "echo $s >> {rec}" $s; done
trap "echo RT37 >> {rec}" 37
touch {ready}
i=0
while [ "$(cat {rec} 2>/dev/null | wc -l)" -lt 8 ]; do sleep 0.02; i=$((i+1)); [ $i -gt 400 ] && exit 9; done
echo ALL-SIGNALS-SEEN"#,
        ready = c.p("ready")
    );
    let mut r = c.run().bash(&script).spawn();
    r.wait_file(&c.path("ready"), 5.0);
    for sig in [
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGWINCH,
        libc::SIGQUIT,
        37,
    ] {
        r.signal(sig);
        std::thread::sleep(Duration::from_millis(10));
    }
    let o = r.wait();
    o.code(0).stdout_has("ALL-SIGNALS-SEEN");
    let mut got: Vec<String> = read(Path::new(&rec)).lines().map(str::to_string).collect();
    got.sort();
    let mut want: Vec<String> = ["TERM", "INT", "HUP", "USR1", "USR2", "WINCH", "QUIT", "RT37"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    want.sort();
    assert_eq!(got, want, "{}", o.dump());
    // Forwarded signals did not stop dockerd before the command ended.
    let names = c.event_names();
    assert_eq!(names.iter().filter(|n| *n == "term").count(), 1, "{names:?}");
}

#[test]
fn sigterm_to_pid1_kills_a_plain_command_143() {
    let c = setup!("term143");
    let mut r = c.run().cmd(&["sleep", "30"]).spawn();
    r.wait_event("command-start", 5.0);
    r.stop_with(libc::SIGTERM, 143, 3.0);
}

/// With --signal-group the command's children get the signal too; without, only the command.
#[test]
fn signal_group_reaches_the_commands_children() {
    let c = setup!("group");
    for group in [true, false] {
        let rec = c.p(&format!("rec-{group}"));
        let (ready, done, child_ready) = (
            c.p(&format!("ready-{group}")),
            c.p(&format!("done-{group}")),
            c.p(&format!("child-{group}")),
        );
        // The parent, on its USR1, sends the child a USR2, which the child records: the
        // group's USR1 (one kill) reached the child before that, and bash runs pending traps
        // in signal order (USR1 is 10, USR2 12), so once "child-usr2" is in the file a USR1
        // that reached the child is there too. A positive sign that the moment has passed,
        // instead of a fixed sleep.
        let script = format!(
            r#"bash -c 'trap "echo child >> {rec}" USR1; trap "echo child-usr2 >> {rec}" USR2; touch {child_ready}; i=0; while [ ! -e {done} ]; do sleep 0.02; i=$((i+1)); [ $i -gt 400 ] && exit 9; done' &
child=$!
trap "echo parent >> {rec}; kill -USR2 $child" USR1
while [ ! -e {child_ready} ]; do sleep 0.01; done
touch {ready}
i=0; while [ ! -e {done} ]; do sleep 0.02; i=$((i+1)); [ $i -gt 400 ] && exit 9; done
wait"#
        );
        let mut spec = c.run();
        if group {
            spec = spec.opt("--signal-group");
        }
        let mut r = spec.bash(&script).spawn();
        r.wait_file(Path::new(&ready), 5.0);
        r.signal(libc::SIGUSR1);
        let recorded = |what: &str| read(Path::new(&rec)).lines().any(|l| l == what);
        r.wait_for("the command to get the USR1", 3.0, || recorded("parent"));
        r.wait_for("the child to get the command's USR2", 3.0, || recorded("child-usr2"));
        std::fs::write(&done, "").unwrap();
        let o = r.wait();
        o.code(0);
        let mut got: Vec<String> = read(Path::new(&rec)).lines().map(str::to_string).collect();
        got.sort();
        let want: Vec<String> = if group {
            vec!["child".into(), "child-usr2".into(), "parent".into()]
        } else {
            vec!["child-usr2".into(), "parent".into()]
        };
        assert_eq!(got, want, "--signal-group={group}\n{}", o.dump());
    }
}

// ---------------------------------------------------------------------------------------
// PID 1 duties: zombies, fds, stale state

#[test]
fn orphans_are_reaped_no_zombie_remains() {
    let c = setup!("orphans");
    // Five orphans (their parent subshell exits at once) wait for a file, so they are
    // counted while they live; then they exit and no zombie may remain. Conditions, not
    // sleeps: each wait polls, bounded.
    let script = format!(
        r#"for i in 1 2 3 4 5; do ( sh -c 'while [ ! -e {go} ]; do sleep 0.01; done' & ); done
count() {{ cat /proc/[0-9]*/stat 2>/dev/null | awk -v me=$$ "\$1 != me && $1"; }}
i=0; until [ "$(count '$2 == "(sh)" && $4 == 1' | wc -l)" -ge 5 ]; do i=$((i+1)); [ $i -gt 500 ] && break; sleep 0.01; done
orphans=$(count '$2 == "(sh)" && $4 == 1' | wc -l)
touch {go}
i=0; until [ "$(count '$2 == "(sh)" && $4 == 1' | wc -l)" -eq 0 ]; do i=$((i+1)); [ $i -gt 500 ] && break; sleep 0.01; done
zombies=$(count '$3 == "Z"' | wc -l)
echo "orphans=$orphans zombies=$zombies"
count '$3 == "Z"'
[ "$orphans" = 5 ] && [ "$zombies" = 0 ]"#,
        go = c.p("go")
    );
    let o = c.run().sh(&script).go();
    o.code(0).stdout_has("orphans=5 zombies=0");
}

#[test]
fn inherited_fds_are_closed() {
    let c = setup!("fds");
    // The wrapper shell (the namespace's PID 1 until it execs dind-init) opens 5, 7 and 9.
    let pre = "exec 5</dev/null 7</dev/null 9</dev/null; for n in 5 7 9; do [ -e /proc/self/fd/$n ] && echo \"wrapper has fd $n\" >&2; done";
    // `[ -e ]` is a builtin and opens nothing, so the shell sees exactly its own fds.
    let check = "for n in $(seq 3 40); do [ -e /proc/self/fd/$n ] && echo \"command has fd $n -> $(readlink /proc/self/fd/$n)\"; done; \
                 for n in 0 1 2; do [ -e /proc/self/fd/$n ] || echo \"command lacks fd $n\"; done; echo FD-CHECK-DONE";
    let o = c.run().pre(pre).env("FAKE_DOCKERD_FDS_FILE", &c.p("fds")).sh(check).go();
    o.code(0).stdout_has("FD-CHECK-DONE");
    for n in [5, 7, 9] {
        o.stderr_has(&format!("wrapper has fd {n}"));
    }
    assert!(
        !o.stdout.contains("command has fd") && !o.stdout.contains("command lacks fd"),
        "{}",
        o.dump()
    );
    let fds: Vec<String> = read(&c.path("fds"))
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect();
    assert_eq!(fds, vec!["0", "1", "2"], "dockerd's fds: {:?}\n{}", read(&c.path("fds")), o.dump());
}

#[test]
fn stale_pid_files_and_sockets_are_removed() {
    let c = setup!("stale");
    // Pid 1 in the namespace is dind-init itself: a live pid, so a dockerd would refuse
    // to start if the file were left in place (the fake does, as dockerd does).
    std::fs::write(c.path("docker.pid"), "1\n").unwrap();
    stale_socket(&c.path("docker.sock"));
    let cd = c.path("exec/containerd");
    std::fs::create_dir_all(&cd).unwrap();
    std::fs::write(cd.join("containerd.pid"), "1").unwrap();
    stale_socket(&cd.join("containerd.sock"));
    let o = c.run().cmd(&["true"]).go();
    o.code(0);
    let stale = o.events_named("stale");
    for (kind, p) in [
        ("pidfile", c.pidfile()),
        ("socket", c.sock()),
        ("pidfile", cd.join("containerd.pid").display().to_string()),
        ("socket", cd.join("containerd.sock").display().to_string()),
    ] {
        assert!(
            stale.iter().any(|e| e.get("kind") == kind && e.get("path") == p),
            "no stale event says the stale {kind} {p} was removed\n{}",
            o.dump()
        );
        assert!(!Path::new(&p).exists(), "{p} still exists after the run");
    }
    let events = o.events();
    let removed = events
        .iter()
        .position(|e| e.name == "stale" && e.get("path") == c.pidfile())
        .unwrap_or_else(|| panic!("{}", o.dump()));
    assert!(removed < o.event_index("dockerd-start"), "{}", o.dump());
    let ev = c.events();
    assert!(
        !ev.iter().any(|l| l.starts_with("stale-")),
        "the fake found stale state: {ev:?}\n{}",
        o.dump()
    );
}

// ---------------------------------------------------------------------------------------
// Shutdown

#[test]
fn shutdown_order_command_exits_then_dockerd_gets_sigterm() {
    let c = setup!("order");
    let o = c
        .run()
        .env("FAKE_DOCKERD_STOP_DELAY_MS", "300")
        .sh(&format!(
            "sleep 0.1; echo \"command-exit $(date +%s%N)\" >> {}; exit 5",
            c.events_path()
        ))
        .go();
    o.code(5).within(0.4, 8.0);
    let ev = c.events();
    let names = c.event_names();
    let idx = |n: &str| {
        names
            .iter()
            .position(|x| x == n)
            .unwrap_or_else(|| panic!("no {n} event in {ev:?}\n{}", o.dump()))
    };
    assert!(idx("ping") < idx("command-exit"), "{ev:?}");
    assert!(
        idx("command-exit") < idx("term"),
        "dockerd got SIGTERM before the command exited: {ev:?}"
    );
    assert!(idx("term") < idx("exit"), "{ev:?}");
    let t = |n: &str| -> u128 { ev[idx(n)].split_whitespace().last().unwrap().parse().unwrap() };
    assert!(t("term") >= t("command-exit"));
    // dind-init waited for dockerd's clean exit (it took 300 ms).
    let exit = o.event("dockerd-exit");
    assert!(exit.flag("clean"), "dockerd did not exit cleanly: {exit:?}\n{}", o.dump());
    assert!(exit.secs() >= 0.29, "{exit:?}");
    assert_eq!(o.event("command-exit").int("status"), 5, "{}", o.dump());
    assert!(o.event_index("command-exit") < o.event_index("dockerd-exit"), "{}", o.dump());
    assert_eq!(o.exit_event(), 5, "{}", o.dump());
}

#[test]
fn shutdown_ends_dockerds_final_wait_once_its_containerd_is_gone() {
    // Like dockerd: "Daemon shutdown complete", its containerd child exits 300 ms later, then
    // it sits out a fixed wait (here 5 s) before exiting by itself.
    let c = setup!("endwait");
    let o = c
        .run()
        .env("FAKE_DOCKERD_CONTAINERD_MS", "300")
        .env("FAKE_DOCKERD_LINGER_MS", "5000")
        .sh("exit 3")
        .go();
    o.code(3);
    let names = c.event_names();
    // Not before the child was gone; and the fake never got to exit by itself.
    assert!(
        names.contains(&"containerd-gone".to_string()),
        "dockerd was ended before its containerd exited: {names:?}\n{}",
        o.dump()
    );
    assert!(
        !names.contains(&"exit".to_string()),
        "the fake sat out its whole wait: {names:?}\n{}",
        o.dump()
    );
    let exit = o.event("dockerd-exit");
    assert!(exit.flag("ended_wait") && !exit.flag("killed"), "{exit:?}\n{}", o.dump());
    assert!(exit.flag("clean") && exit.secs() >= 0.29, "{exit:?}\n{}", o.dump());
    // What dockerd would have removed in its last second is gone.
    assert!(!c.path("docker.pid").exists(), "pid file left behind\n{}", o.dump());
}

#[test]
fn wait_containerd_lets_dockerd_finish_by_itself() {
    let c = setup!("waitctd");
    let o = c
        .run()
        .env("FAKE_DOCKERD_CONTAINERD_MS", "100")
        .env("FAKE_DOCKERD_LINGER_MS", "400")
        .opt("--wait-containerd")
        .sh("exit 0")
        .go();
    o.code(0);
    let names = c.event_names();
    assert!(
        names.contains(&"exit".to_string()),
        "the fake did not exit by itself: {names:?}\n{}",
        o.dump()
    );
    let exit = o.event("dockerd-exit");
    assert!(!exit.flag("ended_wait"), "dind-init ended dockerd's wait: {exit:?}\n{}", o.dump());
    assert!(exit.flag("clean") && exit.secs() >= 0.49, "{exit:?}\n{}", o.dump());
}

#[test]
fn shutdown_timeout_sigkills_a_stuck_dockerd() {
    let c = setup!("stuck");
    let o = c
        .run()
        .env("FAKE_DOCKERD_IGNORE_TERM", "1")
        .opts(&["--shutdown-timeout", "1200ms"])
        .sh("exit 4")
        .go();
    o.code(4).within(1.2, 6.0);
    let names = c.event_names();
    assert!(names.contains(&"term".to_string()), "dockerd got no SIGTERM: {names:?}");
    assert!(
        !names.contains(&"exit".to_string()),
        "the fake exited although it ignores SIGTERM: {names:?}"
    );
    let exit = o.event("dockerd-exit");
    assert!(exit.flag("killed") && !exit.flag("clean"), "{exit:?}\n{}", o.dump());
}

#[test]
fn daemon_mode_without_command_serves_until_sigterm() {
    let c = setup!("daemon");
    let mut r = c.run().env("FAKE_DOCKERD_TERM_EXIT", "3").spawn();
    r.wait_event("dockerd-ready", 5.0);
    // Other signals go to dockerd (USR1: dockerd dumps its goroutines) and stop nothing.
    r.signal(libc::SIGUSR1);
    let ev = c.events_path();
    r.wait_for("dockerd to get the SIGUSR1", 3.0, || read(Path::new(&ev)).contains("signal 10 "));
    // dind-init forwarded the USR1 from its run phase, after ready: a stop without a
    // signal would have come before it (no fixed sleep needed to see it).
    assert!(
        c.events().iter().all(|l| !l.starts_with("term")),
        "dockerd stopped without a signal: {:?}\n{}",
        c.events(),
        r.stderr()
    );
    assert!(
        !events_of(&r.stderr()).iter().any(|e| e.name == "stop-begin"),
        "dind-init began a stop without a signal\n{}",
        r.stderr()
    );
    r.signal(libc::SIGTERM);
    let o = r.wait();
    // dind-init exits with dockerd's status.
    o.code(3);
    let names = c.event_names();
    assert!(
        names.contains(&"term".to_string()) && names.contains(&"exit".to_string()),
        "{names:?}\n{}",
        o.dump()
    );
    assert_eq!(o.exit_event(), 3, "{}", o.dump());
}

/// README: "Without a command, HUP/USR1/... go to dockerd (HUP reloads its configuration)
/// and TERM/INT/QUIT stop it."
#[test]
fn daemon_mode_sighup_reloads_dockerd_instead_of_stopping_it() {
    let c = setup!("dhup");
    let mut r = c.run().spawn();
    r.wait_event("dockerd-ready", 5.0);
    r.signal(libc::SIGHUP);
    let ev = c.events_path();
    r.wait_for("dockerd to get the SIGHUP", 3.0, || read(Path::new(&ev)).contains("signal 1 "));
    assert!(!read(Path::new(&ev)).contains("term"), "SIGHUP stopped dockerd: {:?}", c.events());
    r.signal(libc::SIGTERM);
    r.wait().code(0);
}

/// Daemon mode with the default --on-daemon-exit=restart: a dead dockerd comes back.
#[test]
fn daemon_mode_restarts_a_dead_dockerd() {
    let c = setup!("drestart");
    let mut r = c.run().spawn();
    r.wait_event("dockerd-ready", 5.0);
    let init = r.init_pid();
    let kids = read(Path::new(&format!("/proc/{init}/task/{init}/children")));
    let fake: i32 = kids
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| r.abort("dind-init has no child"));
    assert!(
        read(Path::new(&format!("/proc/{fake}/comm"))).starts_with("fake_dockerd"),
        "pid {fake} is not the fake"
    );
    // SAFETY: kill(2) takes plain integers; it touches no memory of ours.
    unsafe { libc::kill(fake, libc::SIGKILL) };
    let ev = c.events_path();
    r.wait_for("a second dockerd answering", 6.0, || {
        let e = read(Path::new(&ev));
        e.lines().filter(|l| l.starts_with("listening")).count() == 2
            && e.rsplit("listening").next().is_some_and(|t| t.contains("ping 200"))
    });
    r.wait_event_with("dockerd-ready", 3.0, |e| e.int("restart") == 1);
    r.signal(libc::SIGTERM);
    let o = r.wait();
    o.code(0);
    assert_eq!(c.event_names().iter().filter(|n| *n == "start").count(), 2, "{:?}", c.events());
}

// ---------------------------------------------------------------------------------------
// dockerd dying while the command runs

#[test]
fn on_daemon_exit_restart_restarts_dockerd() {
    let c = setup!("restart");
    let script = format!(
        r#"echo "killed $(date +%s%N)" >> {ev}
kill -9 $(cat {pid})
i=0
until awk '/^listening/ {{n++}} /^ping 200/ && n >= 2 {{f=1}} END {{exit !f}}' {ev}; do
  sleep 0.05; i=$((i+1)); [ $i -gt 160 ] && {{ echo NO-RESTART-SEEN; exit 9; }}
done
echo RESTARTED-AND-ANSWERING"#,
        pid = c.pidfile(),
        ev = c.events_path()
    );
    let o = c
        .run()
        .opts(&["--on-daemon-exit", "restart", "--log", "file", "--log-file", &c.p("docker.log")])
        .sh(&script)
        .go();
    o.code(0).stdout_has("RESTARTED-AND-ANSWERING").within(1.0, 12.0);
    let starts = c.event_names().iter().filter(|n| *n == "start").count();
    assert_eq!(starts, 2, "dockerd started {starts} time(s): {:?}", c.events());
    // The first restart comes after a 1 s back-off.
    let ev = c.events();
    let time_of = |prefix: &str, nth: usize| -> u128 {
        ev.iter()
            .filter(|l| l.starts_with(prefix))
            .nth(nth)
            .and_then(|l| l.split_whitespace().last()?.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} #{nth} in {ev:?}"))
    };
    let backoff = (time_of("start ", 1) - time_of("killed ", 0)) as f64 / 1e9;
    assert!(
        backoff >= 0.9,
        "dockerd restarted {backoff:.3}s after it died: no back-off\n{}",
        o.dump()
    );
    // The death is reported with its status and the log tail (LOG=file: only the tail can
    // put dockerd's lines on stderr).
    let died = o.event("daemon-died");
    assert!(
        died.level == "ERROR" && died.get("daemon") == "dockerd" && died.int("status") == 137,
        "no error naming the SIGKILL that ended dockerd: {died:?}\n{}",
        o.dump()
    );
    o.stderr_has(&format!("API listen on {}", c.sock()));
}

#[test]
fn on_daemon_exit_exit_stops_the_command_and_exits_125() {
    let c = setup!("dexit");
    let script = format!("kill -9 $(cat {}); sleep 20; echo COMMAND-NOT-STOPPED", c.pidfile());
    let o = c.run().opts(&["--on-daemon-exit", "exit"]).sh(&script).go();
    o.code(125).within(0.0, 8.0);
    assert!(!o.stdout.contains("COMMAND-NOT-STOPPED"), "{}", o.dump());
    assert_eq!(c.event_names().iter().filter(|n| *n == "start").count(), 1, "{:?}", c.events());
    let died = o.event("daemon-died");
    assert!(
        died.level == "ERROR" && died.get("daemon") == "dockerd" && died.int("status") == 137,
        "{died:?}\n{}",
        o.dump()
    );
}

#[test]
fn on_daemon_exit_ignore_carries_on() {
    let c = setup!("dignore");
    // The command goes on once dind-init has logged dockerd's death: the policy is decided
    // then (a restart is announced with that decision), so no fixed sleep is needed.
    let go = c.p("go");
    let script = format!(
        "kill -9 $(cat {}); i=0; until [ -e {go} ]; do i=$((i+1)); [ $i -gt 500 ] && exit 9; sleep 0.01; done; echo STILL-HERE; exit 6",
        c.pidfile()
    );
    let mut r = c.run().env("DIND_ON_DAEMON_EXIT", "ignore").sh(&script).spawn();
    r.wait_event("daemon-died", 10.0);
    r.wait_stderr("--on-daemon-exit=ignore: carrying on", 3.0);
    std::fs::write(&go, "").unwrap();
    let o = r.wait();
    o.code(6).stdout_has("STILL-HERE");
    assert!(!o.has_event("daemon-restart"), "restarted although ignore\n{}", o.dump());
    assert_eq!(
        c.event_names().iter().filter(|n| *n == "start").count(),
        1,
        "restarted although ignore: {:?}",
        c.events()
    );
}

// ---------------------------------------------------------------------------------------
// Configuration: usage errors, environment for the command, dockerd's arguments

#[test]
fn bad_usage_exits_2_naming_the_flag_or_variable() {
    let c = setup!("usage");
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (&["--bogus"], &[], "--bogus"),
        (&["--wait-timeout", "soon"], &[], "--wait-timeout"),
        (&["--shutdown-timeout=-3"], &[], "--shutdown-timeout"),
        (&[], &[("DIND_WAIT_TIMEOUT", "soon")], "DIND_WAIT_TIMEOUT"),
        (&["--on-daemon-exit", "sometimes"], &[], "--on-daemon-exit"),
        (&[], &[("DIND_ON_DAEMON_EXIT", "sometimes")], "DIND_ON_DAEMON_EXIT"),
        (&[], &[("DIND_SIGNAL_GROUP", "perhaps")], "DIND_SIGNAL_GROUP"),
        (&["--max-restarts", "many"], &[], "--max-restarts"),
        (&["--log-level", "loud"], &[], "--log-level"),
        (&["--iptables", "both"], &[], "--iptables"),
        (&[], &[("DOCKER_DAEMON_ARGS", "--label 'unterminated")], "DOCKER_DAEMON_ARGS"),
        (&["--shutdown-timeout"], &[], "--shutdown-timeout"),
        // Only "" turns TLS off: a blank or relative DOCKER_TLS_CERTDIR fails closed.
        (&[], &[("DOCKER_TLS_CERTDIR", " ")], "DOCKER_TLS_CERTDIR"),
        (&[], &[("DOCKER_TLS_CERTDIR", "certs")], "DOCKER_TLS_CERTDIR"),
    ];
    for (args, env, needle) in cases {
        let mut spec = c.run().opts(args);
        for (k, v) in *env {
            spec = spec.env(k, v);
        }
        // A trailing valueless option must stay last: no command then.
        if !args.last().is_some_and(|a| *a == "--shutdown-timeout") {
            spec = spec.cmd(&["true"]);
        }
        let o = spec.timeout(10).go();
        assert_eq!(o.code, Some(2), "{args:?} {env:?}: expected exit 2\n{}", o.dump());
        assert!(
            o.stderr.contains(needle),
            "{args:?} {env:?}: message does not name {needle}\n{}",
            o.dump()
        );
        assert!(!c.path("events").exists(), "{args:?} {env:?}: dockerd was started\n{}", o.dump());
    }
}

#[test]
fn docker_host_is_exported_to_the_command() {
    let c = setup!("dhost");
    let o = c.run().sh("echo \"DOCKER_HOST=$DOCKER_HOST\"").go();
    o.code(0).stdout_has(&format!("DOCKER_HOST=unix://{}\n", c.sock()));
    // A DOCKER_HOST the user set is kept.
    let o = c
        .run()
        .env("DOCKER_HOST", "tcp://10.9.8.7:2376")
        .sh("echo \"DOCKER_HOST=$DOCKER_HOST\"")
        .go();
    o.code(0).stdout_has("DOCKER_HOST=tcp://10.9.8.7:2376\n");
    // --testcontainers adds TESTCONTAINERS_HOST_OVERRIDE; without it, nothing is added.
    let show = "echo \"TC=${TESTCONTAINERS_HOST_OVERRIDE-unset}\"";
    c.run().opt("--testcontainers").sh(show).go().code(0).stdout_has("TC=localhost\n");
    c.run().sh(show).go().code(0).stdout_has("TC=unset\n");
}

/// The command leads its own process group (so group signals and the tty's foreground group
/// do not involve dockerd), dockerd leads its own session, and both start with nothing
/// blocked or ignored although dind-init blocks every signal.
#[test]
fn command_and_dockerd_get_own_groups_and_a_clean_signal_mask() {
    let c = setup!("procs");
    let script = format!(
        r#"set -- $(cat /proc/$$/stat); echo "command pid=$1 pgrp=$5 sid=$6"
d=$(cat {pid}); set -- $(cat /proc/$d/stat); echo "dockerd pid=$1 pgrp=$5 sid=$6"
for p in $$ $d; do grep -E '^Sig(Blk|Ign)' /proc/$p/status | tr -s '\t ' ' ' | sed "s/^/mask $p /"; done"#,
        pid = c.pidfile()
    );
    // dind-init's parent leaves SIGINT and SIGTERM ignored (a `nohup`-like wrapper).
    let pre = r#"exec /bin/bash -c 'trap "" INT TERM; grep -E "^Sig(Blk|Ign)" /proc/self/status | tr -s "\t " " " | sed "s/^/wrapper /" >&2; exec "$@"' bash "$@""#;
    let o = c.run().pre(pre).sh(&script).go();
    o.code(0);
    let field = |who: &str, key: &str| -> String {
        let line = o
            .stdout
            .lines()
            .find(|l| l.starts_with(who))
            .unwrap_or_else(|| panic!("no {who} line\n{}", o.dump()));
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{key}=")))
            .unwrap()
            .to_string()
    };
    assert_eq!(
        field("command", "pgrp"),
        field("command", "pid"),
        "the command does not lead its own process group\n{}",
        o.dump()
    );
    assert_eq!(
        field("dockerd", "sid"),
        field("dockerd", "pid"),
        "dockerd does not lead its own session\n{}",
        o.dump()
    );
    assert_ne!(field("command", "sid"), field("dockerd", "sid"));
    // Nothing blocked in either; the command ignores nothing, whatever dind-init inherited as
    // ignored (before: it inherited dind-init's ignored SIGINT and SIGTERM too).
    let masks: Vec<&str> = o.stdout.lines().filter(|l| l.starts_with("mask ")).collect();
    assert_eq!(masks.len(), 4, "{}", o.dump());
    for m in masks.iter().filter(|m| m.contains("SigBlk")) {
        assert!(m.ends_with(" 0000000000000000"), "signals stay blocked: {m}\n{}", o.dump());
    }
    let inherited = o
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("wrapper SigIgn: "))
        .expect("wrapper SigIgn")
        .trim()
        .to_string();
    let cmd_ign = masks
        .iter()
        .find(|m| m.starts_with(&format!("mask {} SigIgn", field("command", "pid"))))
        .expect("command SigIgn");
    let ign = u64::from_str_radix(&inherited, 16).expect("wrapper SigIgn");
    assert!(
        ign & (1 << (libc::SIGTERM - 1)) != 0,
        "the wrapper did not ignore SIGTERM: {inherited}"
    );
    assert!(
        cmd_ign.ends_with(" 0000000000000000"),
        "the command ignores signals (dind-init inherited {inherited}): {cmd_ign}\n{}",
        o.dump()
    );
}

/// No -H at all: dockerd's default socket, here on the namespace's private /run, and
/// `dind-init health` finds it through DOCKER_HOST and by default.
#[test]
fn default_socket_and_health_inside_the_namespace() {
    let c = setup!("dsock");
    let script = format!(
        "echo \"DOCKER_HOST=$DOCKER_HOST\"; {d} health; a=$?; env -u DOCKER_HOST {d} health; b=$?; {d} health --socket /run/nothing.sock --timeout 300ms; n=$?; echo \"health=$a,$b,$n\"",
        d = DIND
    );
    let o = c.run().env_remove("DOCKER_DAEMON_ARGS").sh(&script).go();
    o.code(0).stdout_has("DOCKER_HOST=unix:///var/run/docker.sock\n").stdout_has("health=0,0,1");
    let args = c.fake_args();
    assert!(!args.iter().any(|a| a.starts_with("-H") || a.starts_with("--host")), "{args:?}");
}

#[test]
fn health_subcommand_returns_0_or_1() {
    // Runs no dind-init as PID 1 and touches nothing but its own temp dir: needs no root.
    let dir = std::env::temp_dir().join(format!("dii-{}-health", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let p = |f: &str| dir.join(f).display().to_string();
    let fake = |name: &str, env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(fake_dockerd());
        cmd.args([
            "-H",
            &format!("unix://{}", p(&format!("{name}.sock"))),
            "--pidfile",
            &p(&format!("{name}.pid")),
        ])
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let sock = dir.join(format!("{name}.sock"));
        wait_until("the fake to listen", 5.0, || sock.exists());
        child
    };
    let health = |args: &[&str], docker_host: Option<&str>| -> (Option<i32>, String, Duration) {
        let t = Instant::now();
        let mut cmd = std::process::Command::new(DIND);
        cmd.arg("health").args(args).env_clear().env("PATH", "/usr/bin:/bin");
        if let Some(h) = docker_host {
            cmd.env("DOCKER_HOST", h);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            t.elapsed(),
        )
    };
    let mut kids = vec![
        fake("ok", &[]),
        fake("err", &[("FAKE_DOCKERD_PING_STATUS", "500")]),
        fake("mute", &[("FAKE_DOCKERD_NO_ANSWER", "1")]),
    ];
    let results = std::panic::catch_unwind(|| {
        let (code, out, _) = health(&["--socket", &p("ok.sock")], None);
        assert_eq!(code, Some(0), "healthy daemon via --socket: {out}");
        let (code, out, _) = health(&[], Some(&format!("unix://{}", p("ok.sock"))));
        assert_eq!(code, Some(0), "healthy daemon via DOCKER_HOST: {out}");
        let (code, out, _) = health(&["--socket", &p("nothing.sock")], None);
        assert_eq!(code, Some(1), "no daemon: {out}");
        let (code, out, _) = health(&["--socket", &p("err.sock")], None);
        assert_eq!(code, Some(1), "daemon answering 500: {out}");
        let (code, out, took) = health(&["--socket", &p("mute.sock"), "--timeout", "500ms"], None);
        assert_eq!(code, Some(1), "daemon not answering: {out}");
        assert!(took < Duration::from_secs(3), "--timeout 500ms took {took:?}");
        let (code, out, _) = health(&["--bogus"], None);
        assert_eq!(code, Some(2), "health --bogus: {out}");
    });
    for k in &mut kids {
        let _ = k.kill();
        let _ = k.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = results {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn docker_daemon_args_are_split_like_a_shell() {
    let c = setup!("dargs");
    let args = format!(
        r#"{} --label 'a b' --label "c \"d\"" --debug --data-root={}/data\ root --label ''"#,
        c.daemon_args(),
        c.dir.display()
    );
    let o = c.run().env("DOCKER_DAEMON_ARGS", &args).cmd(&["true"]).go();
    o.code(0);
    let got = c.fake_args();
    let want: Vec<String> = [
        "--label",
        "a b",
        "--label",
        "c \"d\"",
        "--debug",
        &format!("--data-root={}/data root", c.dir.display()),
        "--label",
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert!(
        got.windows(want.len()).any(|w| w == want.as_slice()),
        "dockerd got {got:?}, expected to contain {want:?}\n{}",
        o.dump()
    );
    // dind-init's own addition (README): dockerd's shutdown time-out fits inside ours.
    assert!(got.contains(&"--shutdown-timeout=5".to_string()), "{got:?}");

    // The flag wins over the variable.
    let o = c
        .run()
        .env("DOCKER_DAEMON_ARGS", "--label from-env")
        .opts(&["--dockerd-args", &format!("{} --label 'from flag'", c.daemon_args())])
        .cmd(&["true"])
        .go();
    o.code(0);
    let got = c.fake_args();
    assert!(
        got.contains(&"from flag".to_string()) && !got.contains(&"from-env".to_string()),
        "{got:?}"
    );
}

#[test]
fn log_file_mode_keeps_dockerd_output_off_stderr() {
    let c = setup!("logfile");
    let o = c
        .run()
        .env("LOG", "file")
        .env("DIND_LOG_FILE", &c.p("logs/docker.log"))
        .cmd(&["true"])
        .go();
    o.code(0).stderr_lacks("fake-dockerd[");
    let log = read(&c.path("logs/docker.log"));
    assert!(
        log.contains("Starting up") && log.contains("API listen on"),
        "docker.log: {log:?}\n{}",
        o.dump()
    );
}

/// dockerd's last words (its shutdown lines, "Daemon shutdown complete") reach stderr or
/// the log file before dind-init exits: the output pipe is drained after dockerd is reaped.
#[test]
fn dockerd_output_is_not_lost_at_exit() {
    let c = setup!("drain");
    // 6000 lines (~900 KB) printed at shutdown in one write, into a pipe the fake enlarged
    // to 1 MiB: dockerd has exited long before dind-init has forwarded them.
    let count = |text: &str| {
        (
            text.lines().filter(|l| l.contains("stopping: shutdown line ")).count(),
            text.contains("Daemon shutdown complete"),
        )
    };
    let o1 = c.run().env("FAKE_DOCKERD_SHUTDOWN_LINES", "6000").cmd(&["true"]).go();
    o1.code(0);
    assert!(
        c.event_names().contains(&"exit".to_string()),
        "the fake did not finish its shutdown: {:?}",
        c.events()
    );
    let stdio = count(&o1.stderr);
    let o2 = c
        .run()
        .env("FAKE_DOCKERD_SHUTDOWN_LINES", "6000")
        .opts(&["--log", "file", "--log-file", &c.p("docker.log")])
        .cmd(&["true"])
        .go();
    o2.code(0);
    let file = count(&read(&c.path("docker.log")));
    assert!(
        stdio == (6000, true) && file == (6000, true),
        "dockerd's last output was lost: LOG=stdio: {} of 6000 shutdown lines reached stderr, final line {}; LOG=file: {} of 6000 reached the log file, final line {}",
        stdio.0,
        if stdio.1 { "present" } else { "MISSING" },
        file.0,
        if file.1 { "present" } else { "MISSING" }
    );
}

#[test]
fn log_format_and_key_lines() {
    let c = setup!("logfmt");
    let o = c.run().cmd(&["/bin/true"]).go();
    o.code(0);
    for l in o.stderr.lines().filter(|l| l.starts_with("dind-init:")) {
        assert!(
            parse_log_line(l).is_some(),
            "log line not in the `dind-init: +S.mmms LEVEL message` format: {l:?}\n{}",
            o.dump()
        );
    }
    let log = o.log();
    assert!(log[0].2.contains("starting as pid 1"), "{}", o.dump());
    let times: Vec<f64> = log.iter().map(|l| l.0).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "timestamps go backwards: {times:?}");
    let ev = o.events();
    assert_eq!(ev[0].name, "start", "{}", o.dump());
    assert!(ev[0].int("pid") == 1 && ev[0].flag("pid1"), "{:?}", ev[0]);
    assert_eq!(o.event("dockerd-ready").get("socket"), c.sock());
    assert_eq!(o.event("command-exit").int("status"), 0);
    assert!(o.event("dockerd-exit").flag("clean"), "{}", o.dump());
    let key =
        ["dockerd-start", "dockerd-ready", "command-start", "command-exit", "dockerd-exit", "exit"];
    let mut last = 0;
    for k in key {
        let i = o.event_index(k);
        assert!(i >= last, "{k:?} out of order\n{}", o.dump());
        assert_eq!(ev[i].level, "INFO", "{k:?} is not INFO");
        last = i;
    }
    let (_, _, started) = o.log_line("dockerd: started pid ").unwrap();
    assert!(
        started.contains(&fake_dockerd().display().to_string()) && started.contains(&c.sock()),
        "{started}"
    );
    assert!(
        o.log_line("command: started pid ").unwrap().2.ends_with(": /bin/true"),
        "{}",
        o.dump()
    );
    assert_eq!(log.last().unwrap().2, "exit 0");
    assert_eq!(o.exit_event(), 0);
}

/// DIND_LOG_FORMAT=json (for log collectors): every line dind-init writes is one JSON
/// object, with `t`, `level` and `msg`, and the events with their fields; a multi-line message
/// (a daemon's log tail) stays on its one line.
#[test]
fn json_log_format_is_one_object_a_line_with_the_events() {
    let c = setup!("logjson");
    // dockerd's own output to the file, so stderr is dind-init's alone; dockerd dies once
    // (its death is logged with its log tail, a multi-line message) and is restarted.
    let script = format!(
        "kill -9 $(cat {pf}); i=0; until [ \"$(grep -c '^listening' {ev})\" -ge 2 ]; do i=$((i+1)); [ $i -gt 500 ] && exit 9; sleep 0.01; done; exit 3",
        pf = c.pidfile(),
        ev = c.events_path()
    );
    let o = c
        .run()
        .env("DIND_LOG_FORMAT", "json")
        .opts(&["--log", "file", "--log-file", &c.p("docker.log")])
        .sh(&script)
        .go();
    o.code(3);
    let mut events = Vec::new();
    for l in o.stderr.lines() {
        let v: serde_json::Value = serde_json::from_str(l)
            .unwrap_or_else(|e| panic!("not one JSON object a line ({e}): {l:?}\n{}", o.dump()));
        let obj = v.as_object().unwrap_or_else(|| panic!("not an object: {l}"));
        assert!(obj["t"].is_number() && obj["level"].is_string() && obj["msg"].is_string(), "{l}");
        let (_, _, _, e) = parse_line(l).unwrap_or_else(|| panic!("not dind-init's: {l}"));
        events.extend(e);
    }
    assert_eq!(events, o.events(), "{}", o.dump());
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
    for want in [
        "start",
        "dockerd-start",
        "dockerd-ready",
        "command-start",
        "daemon-died",
        "daemon-restart",
        "command-exit",
        "stop-begin",
        "dockerd-exit",
        "exit",
    ] {
        assert!(names.contains(&want), "no {want} event: {names:?}\n{}", o.dump());
    }
    assert_eq!(o.event("command-exit").int("status"), 3);
    assert_eq!(o.exit_event(), 3);
    let died = o.event("daemon-died");
    assert!(died.msg.contains('\n'), "the death's log tail is not in its message: {died:?}");
}

/// Default cgroup handling (no --no-cgroup-setup, --cgroup-parent auto) on a v1/hybrid host:
/// it mounts at most inside the private mount namespace and moves no process, so it is
/// harmless here. On a cgroup v2 host it would nest processes into a child cgroup of the
/// test's own: that is left to the VM lab (scripts/v2-lab.sh).
#[test]
fn default_cgroup_handling_on_a_v1_or_hybrid_host() {
    let c = setup!("cgroup");
    let own = read(Path::new("/proc/self/cgroup"));
    if own.lines().all(|l| l.starts_with("0::")) {
        skip(&c.name, "a cgroup v2 host: this checks v1/hybrid (v2 is scripts/v2-lab.sh's)");
        return;
    }
    let o =
        c.run().without_opt("--no-cgroup-setup").without_opt("--cgroup-parent").cmd(&["true"]).go();
    o.code(0);
    let cg = o.event("cgroups");
    assert!(["v1", "hybrid"].contains(&cg.get("mode")), "not a v1/hybrid layout: {cg:?}");
    let own_cg = cg.get("own").to_string();
    let visible = cg.get("visible").to_string();
    assert!(
        own.lines().any(|l| l.rsplit(':').next() == Some(own_cg.as_str())),
        "own cgroup {own_cg} is not in /proc/self/cgroup:\n{own}"
    );
    let parents: Vec<String> =
        c.fake_args().into_iter().filter(|a| a.starts_with("--cgroup-parent")).collect();
    if visible == "/" {
        assert!(
            parents.is_empty(),
            "own cgroup is the root: no --cgroup-parent expected, got {parents:?}\n{}",
            o.dump()
        );
    } else {
        assert_eq!(
            parents,
            vec![format!("--cgroup-parent={}/docker", visible.trim_end_matches('/'))],
            "{}",
            o.dump()
        );
    }
}

// ---------------------------------------------------------------------------------------
// The stop budget counts from the first SIGTERM (issue 12)

/// A command whose TERM trap takes 1.5 s and inner containers that ignore SIGTERM: the
/// whole stop still fits --shutdown-timeout counted from the SIGTERM, dockerd cleanly.
#[test]
fn stop_budget_counts_from_the_first_sigterm() {
    let c = setup!("budget");
    let script = format!(
        "trap 'sleep 1.5; echo \"trap-done $(date +%s%N)\" >> {ev}; exit 7' TERM; touch {r}; while :; do sleep 0.05; done",
        ev = c.events_path(),
        r = c.p("ready")
    );
    let mut r = c
        .run()
        .env("FAKE_DOCKERD_CONTAINERS", "2")
        .env("FAKE_DOCKERD_CONTAINERS_IGNORE_TERM", "1")
        .opts(&["--shutdown-timeout", "5s"])
        .sh(&script)
        .spawn();
    r.wait_file(&c.path("ready"), 10.0);
    let t = Instant::now();
    r.signal(libc::SIGTERM);
    let o = r.wait();
    let took = t.elapsed().as_secs_f64();
    o.code(7);
    let exit = o.event("dockerd-exit");
    assert!(exit.flag("clean") && !exit.flag("killed"), "{exit:?}\n{}", o.dump());
    // Counted from the command's exit (1.5 s) the budget would end at 6.5 s.
    assert!(
        took < 5.5,
        "the stop took {took:.2}s with a 5 s budget from the SIGTERM\n{}",
        o.dump()
    );
    let names = c.event_names();
    let i =
        |n: &str| names.iter().position(|x| x == n).unwrap_or_else(|| panic!("no {n}: {names:?}"));
    assert!(
        i("trap-done") < i("term"),
        "dockerd was stopped before the command's trap ended: {names:?}"
    );
}

/// A command that ignores SIGTERM gets half the budget, then SIGKILL; dockerd is stopped
/// cleanly all the same (before: dockerd never got its SIGTERM before the outer SIGKILL).
#[test]
fn command_ignoring_sigterm_is_killed_and_dockerd_still_stops_cleanly() {
    let c = setup!("noterm");
    let script = format!("trap '' TERM; touch {}; while :; do sleep 0.05; done", c.p("ready"));
    let mut r = c.run().opts(&["--shutdown-timeout", "3s"]).sh(&script).spawn();
    r.wait_file(&c.path("ready"), 10.0);
    let t = Instant::now();
    r.signal(libc::SIGTERM);
    let o = r.wait();
    let took = t.elapsed().as_secs_f64();
    o.code(137);
    let cmd = o.event("command-start").int("pid");
    assert_eq!(o.event("command-kill").int("pid"), cmd, "{}", o.dump());
    assert_eq!(o.event("command-exit").int("status"), 137, "{}", o.dump());
    assert!(o.event("dockerd-exit").flag("clean"), "{}", o.dump());
    assert!(
        (1.4..3.0).contains(&took),
        "took {took:.2}s: the command's share is half of 3 s\n{}",
        o.dump()
    );
    let names = c.event_names();
    assert!(names.contains(&"term".into()) && names.contains(&"exit".into()), "{names:?}");
}

/// A command stopped by job control (Ctrl-Z) still acts on a forwarded SIGTERM: dind-init
/// follows it with SIGCONT.
#[test]
fn a_stopped_command_gets_sigcont_after_sigterm() {
    let c = setup!("sigcont");
    let script = format!("touch {}; kill -STOP $$; sleep 30", c.p("ready"));
    let mut r = c.run().sh(&script).spawn();
    r.wait_file(&c.path("ready"), 10.0);
    // Wait until the shell is stopped.
    let init = r.init_pid();
    r.wait_for("the command to be stopped", 5.0, || {
        let kids = read(Path::new(&format!("/proc/{init}/task/{init}/children")));
        kids.split_whitespace()
            .any(|p| read(Path::new(&format!("/proc/{p}/stat"))).contains(") T "))
    });
    r.stop_with(libc::SIGTERM, 143, 3.0);
}

// ---------------------------------------------------------------------------------------
// Defects found by reading the code (issue 12)

/// Only dockerd's own completion record after our SIGTERM counts, and only a dockerd that
/// had a containerd child has a wait to end: here a debug record quotes the words at
/// start-up, and dockerd (no child: --containerd=<socket>) still cleans up for 400 ms after
/// its record. It must be left to exit by itself.
#[test]
fn shutdown_record_counts_only_when_it_is_dockerds_own_and_a_child_was_there() {
    let c = setup!("record");
    let o = c
        .run()
        .env("FAKE_DOCKERD_NOISE", "1")
        .env("FAKE_DOCKERD_LINGER_MS", "400")
        .cmd(&["true"])
        .go();
    o.code(0);
    assert!(
        c.event_names().contains(&"exit".to_string()),
        "dockerd was cut short: {:?}\n{}",
        c.events(),
        o.dump()
    );
    let exit = o.event("dockerd-exit");
    assert!(!exit.flag("ended_wait"), "dind-init ended dockerd's wait: {exit:?}\n{}", o.dump());
    assert!(exit.flag("clean") && exit.secs() >= 0.39, "{exit:?}\n{}", o.dump());
}

/// dind-init's own write to a closed pipe raises SIGPIPE with its own pid as the sender:
/// not the command's business (before, it was forwarded and the command died 141).
#[test]
fn dind_inits_own_sigpipe_is_not_forwarded() {
    let c = setup!("sigpipe");
    // stderr is a fifo whose only reader exits after one byte: every later log line of
    // dind-init (debug level: one per forwarded signal) hits a closed pipe.
    let fifo = c.p("err.fifo");
    let pre = format!("mkfifo {fifo}; head -c 1 < {fifo} > /dev/null & exec 2> {fifo}");
    let script = format!("trap 'echo usr1 >> {rec}' USR1; touch {r}; i=0; while [ $i -lt 40 ]; do sleep 0.05; i=$((i+1)); done; exit 0", rec = c.p("rec"), r = c.p("ready"));
    let mut r = c.run().pre(&pre).opts(&["--log-level", "debug"]).sh(&script).spawn();
    r.wait_file(&c.path("ready"), 10.0);
    for _ in 0..3 {
        r.signal(libc::SIGUSR1);
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = r.wait();
    assert_eq!(o.code, Some(0), "the command died of dind-init's SIGPIPE\n{}", o.dump());
    assert!(read(&c.path("rec")).contains("usr1"), "USR1 was not forwarded");
}

/// A TLS-only TCP host: dind-init adds a unix socket and probes it (before: plain HTTP
/// spoken to a TLS port until the time-out).
#[test]
fn tcp_only_hosts_get_a_unix_socket_to_probe() {
    let c = setup!("tcponly");
    let args = format!(
        "-H tcp://127.0.0.1:23761 --tlsverify --pidfile {} --exec-root {}",
        c.pidfile(),
        c.p("exec")
    );
    let o = c
        .run()
        .env("DOCKER_DAEMON_ARGS", &args)
        .opts(&["--wait-timeout", "5s"])
        .sh("echo \"DOCKER_HOST=$DOCKER_HOST\"")
        .go();
    o.code(0).stdout_has("DOCKER_HOST=unix:///var/run/docker.sock\n");
    assert_eq!(o.event("dockerd-ready").get("socket"), "/var/run/docker.sock", "{}", o.dump());
    assert!(
        c.fake_args().contains(&"--host=unix:///var/run/docker.sock".to_string()),
        "{:?}",
        c.fake_args()
    );
}

/// daemon.json is read as JSON: `"hosts": []` means dockerd's default socket (before: refused
/// with exit 2), and a file that exists but does not parse stops the start with exit 125,
/// naming the file and the line (before: read as an empty configuration).
#[test]
fn daemon_json_empty_hosts_run_and_malformed_json_exits_125_naming_the_file() {
    let c = setup!("djson");
    let file = c.path("daemon.json");
    let args = format!("--config-file {} --pidfile {}", file.display(), c.pidfile());
    std::fs::write(&file, "{\"hosts\": []}\n").unwrap();
    let o = c.run().env("DOCKER_DAEMON_ARGS", &args).sh("echo \"DOCKER_HOST=$DOCKER_HOST\"").go();
    o.code(0).stdout_has("DOCKER_HOST=unix:///var/run/docker.sock\n");
    assert!(!c.fake_args().iter().any(|a| a.starts_with("--host")), "{:?}", c.fake_args());

    std::fs::remove_file(c.events_path()).unwrap();
    std::fs::write(
        &file,
        "{\n  \"hosts\": [\"unix:///var/run/docker.sock\"]\n  \"mtu\": 1400\n}\n",
    )
    .unwrap();
    let o = c.run().env("DOCKER_DAEMON_ARGS", &args).cmd(&["true"]).timeout(10).go();
    assert_eq!(o.code, Some(125), "{}", o.dump());
    o.stderr_has(&file.display().to_string()).stderr_has("line 3");
    assert!(!c.path("events").exists(), "dockerd was started\n{}", o.dump());
}

/// DOCKER_HOST=unix:///PATH says where dockerd listens (docker:dind's rule), and that is
/// where the command finds it.
#[test]
fn docker_host_unix_path_is_where_dockerd_listens() {
    let c = setup!("dhostpath");
    let sock = c.p("custom.sock");
    let o = c
        .run()
        .env(
            "DOCKER_DAEMON_ARGS",
            &format!("--pidfile {} --exec-root {}", c.pidfile(), c.p("exec")),
        )
        .env("DOCKER_HOST", &format!("unix://{sock}"))
        .sh(&format!("[ -S {sock} ] && echo \"LISTENING $DOCKER_HOST\""))
        .go();
    o.code(0).stdout_has(&format!("LISTENING unix://{sock}"));
    assert!(c.fake_args().contains(&format!("--host=unix://{sock}")), "{:?}", c.fake_args());
}

/// A restarted dockerd that never answers is given up under the same rule as at start
/// (--wait-timeout), not probed every 5 ms for ever.
#[test]
fn a_restarted_dockerd_that_never_answers_is_given_up() {
    let c = setup!("stall");
    let marker = c.p("stall");
    let script = format!("touch {marker}; kill -9 $(cat {}); sleep 60", c.pidfile());
    let o = c
        .run()
        .env("FAKE_DOCKERD_STALL_IF", &marker)
        .opts(&["--wait-timeout", "2s", "--max-restarts", "1", "--shutdown-timeout", "2s"])
        .sh(&script)
        .timeout(30)
        .go();
    o.code(125).within(3.0, 9.0);
    o.stderr_has("did not answer /_ping within 2s after its restart")
        .stderr_has("giving up after 1 restart");
    assert!(c.event_names().contains(&"stall".to_string()), "{:?}", c.events());
}

/// `dind-init --help | head -1`: a closed stdout is not a crash (before: a panic, SIGABRT).
#[test]
fn help_version_and_health_survive_a_closed_stdout() {
    use std::os::fd::{FromRawFd, OwnedFd};
    for args in [
        &["--help"][..],
        &["--version"],
        &["health", "--socket", "/nonexistent/x.sock", "--timeout", "100ms"],
    ] {
        let mut fds = [0i32; 2];
        // SAFETY: pipe(2) writes two fds into the array it is given, which has room for two.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both fds were just created by pipe(2) and are owned here.
        let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        drop(rd); // the reader is gone before anything is written
        let out = std::process::Command::new(DIND)
            .args(args)
            .stdout(std::process::Stdio::from(wr))
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let want = if args[0] == "health" { Some(1) } else { Some(0) };
        assert_eq!(
            out.status.code(),
            want,
            "{args:?}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// ---------------------------------------------------------------------------------------
// containerd run by dind-init (issue 15)

/// A bin directory whose `containerd` is the fake (a link: it plays containerd by its name).
fn fake_containerd_bin(c: &Ctx) -> String {
    let bin = c.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let _ = std::fs::remove_file(bin.join("containerd"));
    std::os::unix::fs::symlink(fake_dockerd(), bin.join("containerd")).unwrap();
    format!("{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", bin.display())
}

/// dind-init starts containerd first, at dockerd's own paths, waits for its socket, then
/// starts dockerd with --containerd; at the end dockerd stops first, then containerd.
#[test]
fn containerd_first_then_dockerd_then_the_reverse() {
    let c = setup!("ctrd");
    let path = fake_containerd_bin(&c);
    let o = c
        .run()
        .env("PATH", &path)
        .env("FAKE_CONTAINERD_DELAY_MS", "300")
        .opts(&["--containerd-by", "dind-init"])
        .sh("echo \"command-start $(date +%s%N)\" >> $FAKE_DOCKERD_EVENTS")
        .go();
    o.code(0);
    let sock = c.path("exec/containerd/containerd.sock");
    assert!(
        c.fake_args().contains(&format!("--containerd={}", sock.display())),
        "{:?}",
        c.fake_args()
    );
    assert_eq!(o.event("containerd-ready").get("socket"), sock.display().to_string());
    assert!(o.event_index("containerd-ready") < o.event_index("dockerd-start"), "{}", o.dump());
    let conf = read(&c.path("exec/containerd/containerd.toml"));
    assert!(conf.contains("[grpc]") && conf.contains("io.containerd.grpc.v1.cri"), "{conf}");
    // The fake says it is containerd 2.1: the config is version 3, which 2.x reads as is.
    assert!(conf.contains("\nversion = 3\n"), "{conf}");
    let names = c.event_names();
    let i = |n: &str| {
        names
            .iter()
            .position(|x| x == n)
            .unwrap_or_else(|| panic!("no {n}: {names:?}\n{}", o.dump()))
    };
    assert!(
        i("containerd-listening") < i("start"),
        "dockerd started before containerd listened: {names:?}"
    );
    assert!(
        i("containerd-connected") < i("listening") && i("listening") < i("command-start"),
        "{names:?}"
    );
    assert!(i("exit") < i("containerd-term"), "containerd was stopped before dockerd: {names:?}");
    assert!(names.contains(&"containerd-exit".to_string()), "{names:?}");
    assert!(o.event("dockerd-exit").flag("clean"), "{}", o.dump());
    assert!(o.event("containerd-exit").flag("clean"), "{}", o.dump());
}

/// containerd 1.x (from `containerd --version`) gets the version 2 config it reads.
#[test]
fn containerd_1_gets_a_version_2_config() {
    let c = setup!("ctrd17");
    let path = fake_containerd_bin(&c);
    let o = c
        .run()
        .env("PATH", &path)
        .env("FAKE_CONTAINERD_VERSION", "1.7.27")
        .opts(&["--containerd-by", "dind-init"])
        .cmd(&["true"])
        .go();
    o.code(0);
    let conf = read(&c.path("exec/containerd/containerd.toml"));
    assert!(conf.contains("\nversion = 2\n"), "{conf}");
}

/// containerd dies: restarted under the same policy as dockerd (the first time at once), and
/// dockerd is left alone.
#[test]
fn a_dead_containerd_is_restarted() {
    let c = setup!("ctrdkill");
    // The command ends once the new containerd accepted a connection (dind-init's probe: on a
    // unix socket connect succeeds before the accept), not once it listens: a command ending
    // between the listen and the probe's next try would begin the stop before the answer.
    let path = fake_containerd_bin(&c);
    let script = format!(
        r#"p=$(for d in /proc/[0-9]*; do [ "$(cat $d/comm 2>/dev/null)" = containerd ] && echo ${{d#/proc/}}; done | head -n 1)
echo "killed $(date +%s%N)" >> {ev}; kill -9 $p
i=0; until awk '/^containerd-listening/ {{n++}} /^containerd-accepted/ && n >= 2 {{f=1}} END {{exit !f}}' {ev}; do i=$((i+1)); [ $i -gt 400 ] && exit 9; sleep 0.01; done
echo CONTAINERD-BACK"#,
        ev = c.events_path()
    );
    let o = c
        .run()
        .env("PATH", &path)
        .opts(&["--containerd-by", "dind-init"])
        .sh(&script)
        .timeout(30)
        .go();
    o.code(0).stdout_has("CONTAINERD-BACK");
    let again = o.event("daemon-restart");
    assert!(
        again.get("daemon") == "containerd"
            && again.int("restart") == 1
            && again.num("delay") == 0.0,
        "containerd was not restarted at once: {again:?}\n{}",
        o.dump()
    );
    assert!(
        o.events_named("containerd-ready").iter().any(|e| e.int("restart") == 1),
        "containerd did not serve again\n{}",
        o.dump()
    );
    assert_eq!(
        c.event_names().iter().filter(|n| *n == "start").count(),
        1,
        "dockerd was restarted: {:?}",
        c.events()
    );
}

// ---------------------------------------------------------------------------------------
// Ownership: dind-init signals only processes it can prove are its own (issue 19)

/// Shell code for `pre` that runs dind-init as a child of the namespace's PID 1 (the wrapper
/// shell), after `before`; once it exits, `after` runs and the wrapper exits with its status.
fn not_pid1(before: &str, after: &str) -> String {
    format!("{before}\nrc=0; \"$@\" || rc=$?\n{after}\nexit $rc")
}

/// The host-like case: dind-init is not PID 1, and beside it (not in its tree) runs an
/// unrelated process named `containerd-shim` with a child, as another container's under
/// `--pid=host`. An inner container of dind-init's own that ignores SIGTERM makes the stop
/// SIGKILL inner containers: only the owned one dies; the foreign shim and its child live on
/// (before: every descendant of every process named containerd-shim* was SIGKILLed).
#[test]
fn host_like_a_foreign_containerd_shim_and_its_child_survive_the_stop() {
    let c = setup!("foreignshim");
    let d = c.dir.display().to_string();
    let before = format!(
        r#"ln -s /bin/sh {d}/containerd-shim
{d}/containerd-shim -c 'sleep 1000 & echo $! > {d}/foreign-child; wait' &
echo $! > {d}/foreign-shim
i=0; until [ -s {d}/foreign-child ]; do i=$((i+1)); [ $i -lt 500 ] || exit 90; sleep 0.01; done"#
    );
    let after = format!(
        r#"for w in shim child; do p=$(cat {d}/foreign-$w); [ "$(cat /proc/$p/comm 2>/dev/null)" ] && echo FOREIGN-$w-ALIVE $(cat /proc/$p/comm) || echo FOREIGN-$w-GONE; done
for p in $(sed -n 's/^container-start \([0-9]*\) .*/\1/p' {ev}); do [ -e /proc/$p ] && echo OWNED-ALIVE $p || echo OWNED-GONE $p; done"#,
        ev = c.events_path()
    );
    let mut r = c
        .run()
        .pre(&not_pid1(&before, &after))
        .env("FAKE_DOCKERD_CONTAINERS", "1")
        .env("FAKE_DOCKERD_CONTAINERS_IGNORE_TERM", "1")
        .opts(&["--shutdown-timeout", "4s"])
        .sh(&format!("touch {}; exec sleep 100", c.p("ready")))
        .spawn();
    r.wait_file(&c.path("ready"), 10.0);
    let dind = r.pid_named("dind-init");
    // SAFETY: kill(2) takes plain integers; it touches no memory of ours.
    assert_eq!(unsafe { libc::kill(dind, libc::SIGTERM) }, 0);
    let o = r.wait();
    o.stdout_has("FOREIGN-shim-ALIVE containerd-shim")
        .stdout_has("FOREIGN-child-ALIVE sleep")
        .stdout_has("OWNED-GONE")
        .code(143);
    assert!(!o.event("start").flag("pid1"), "{}", o.dump());
    assert_eq!(o.event("inner-kill").int("count"), 1, "{}", o.dump());
    assert!(o.event("dockerd-exit").flag("clean"), "{}", o.dump());
    assert!(!o.stdout.contains("OWNED-ALIVE"), "{}", o.dump());
    let names = c.event_names();
    assert!(
        names.contains(&"containers-gone".to_string())
            && !names.contains(&"containers-killed-by-dockerd".to_string())
            && !names.contains(&"container-term".to_string()),
        "the owned container was not SIGKILLed by dind-init: {names:?}\n{}",
        o.dump()
    );
}

/// Not PID 1, inner containers must not outlive dind-init: a process left in its tree (an
/// orphan of the command, reparented to dind-init, the subreaper) is SIGKILLed and reaped
/// before it exits (before: left to the host's init).
#[test]
fn not_pid1_nothing_of_its_tree_outlives_it() {
    let c = setup!("leak");
    let d = c.dir.display().to_string();
    let after = format!(
        r#"p=$(cat {d}/orphan); [ -e /proc/$p ] && echo "ORPHAN-LEFT $(cat /proc/$p/stat)" || echo ORPHAN-GONE"#
    );
    let o = c
        .run()
        .pre(&not_pid1("", &after))
        .sh(&format!("sleep 1000 & echo $! > {d}/orphan; exit 3"))
        .go();
    o.code(3).stdout_has("ORPHAN-GONE");
    assert!(!o.event("start").flag("pid1"), "{}", o.dump());
    assert_eq!(o.event("leftover-kill").int("count"), 1, "{}", o.dump());
}

// ---------------------------------------------------------------------------------------
// Foreign daemons (issue 19, item 3): dind-init trusts only the daemons it started

/// A process the test started outside the namespace, killed when dropped.
struct Foreign(std::process::Child);

impl Drop for Foreign {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Another Docker daemon, outside dind-init's PID namespace: the fake dockerd run by the
/// test, listening on `sock`, with its own pid file and events (`foreign-events`).
fn foreign_daemon(c: &Ctx, sock: &Path, pidfile: &str) -> Foreign {
    let child = std::process::Command::new(fake_dockerd())
        .args(["-H", &format!("unix://{}", sock.display()), "--pidfile", pidfile])
        .env_clear()
        .env("FAKE_DOCKERD_EVENTS", c.p("foreign-events"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let f = Foreign(child);
    wait_until("the foreign daemon to listen", 5.0, || {
        std::os::unix::net::UnixStream::connect(sock).is_ok()
    });
    f
}

/// `GET /_ping` on a unix socket: whether it answered 200.
fn ping(sock: &Path) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(sock) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    if s.write_all(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut b = String::new();
    let _ = s.read_to_string(&mut b);
    b.starts_with("HTTP/1.1 200")
}

/// The `/_ping`s the foreign daemon answered (a bare connection, as the check's, records
/// `ping 404`): dind-init must never have asked it anything.
fn foreign_pings(c: &Ctx) -> usize {
    read(&c.path("foreign-events")).lines().filter(|l| l.starts_with("ping 200")).count()
}

/// The reproduced bug: /var/run shared with another container whose dockerd serves
/// docker.sock; dind-init as PID 1 removed that live socket and its pid file and started its
/// own dockerd. Now: exit 125 at once, nothing removed, the other daemon still serving.
#[test]
fn a_live_socket_of_another_daemon_is_neither_removed_nor_used() {
    let c = setup!("foreign");
    let sock = c.path("docker.sock");
    let f = foreign_daemon(&c, &sock, &c.pidfile());
    let foreign_pid = f.0.id().to_string();
    let o = c.run().sh(&format!("touch {}", c.p("ran"))).go();
    o.code(125).within(0.0, 3.0);
    o.stderr_has(&format!("{} is served by another daemon", c.sock()))
        .stderr_has("outside this container's PID namespace")
        .stderr_has("Docker-outside-of-Docker");
    assert!(!o.has_event("stale"), "stale state was removed\n{}", o.dump());
    let f = o.event("foreign-daemon");
    assert_eq!((f.get("socket"), f.get("reason")), (c.sock().as_str(), "listening"));
    assert!(!c.path("ran").exists(), "the command ran\n{}", o.dump());
    assert!(c.events().is_empty(), "dind-init started its dockerd: {:?}\n{}", c.events(), o.dump());
    assert_eq!(read(&c.path("docker.pid")).trim(), foreign_pid, "the pid file was touched");
    assert_eq!(foreign_pings(&c), 0, "dind-init talked to the foreign daemon\n{}", o.dump());
    assert!(ping(&sock), "the foreign daemon's socket no longer answers\n{}", o.dump());
}

/// The host's socket bind-mounted over dockerd's socket path (`-v
/// /var/run/docker.sock:/var/run/docker.sock`): a mount point stops the start.
#[test]
fn a_socket_mounted_in_stops_the_start() {
    let c = setup!("fmount");
    let host_sock = c.path("host.sock");
    let _f = foreign_daemon(&c, &host_sock, &c.p("host.pid"));
    let pre = format!(": > {s}; mount --bind {h} {s}", s = c.sock(), h = host_sock.display());
    let o = c.run().pre(&pre).sh(&format!("touch {}", c.p("ran"))).go();
    o.code(125).within(0.0, 3.0);
    o.stderr_has(&format!("{} is a mount point", c.sock()))
        .stderr_has("bind mount of another Docker daemon's socket")
        .stderr_has("remove the mount");
    let f = o.event("foreign-daemon");
    assert_eq!((f.get("socket"), f.get("reason")), (c.sock().as_str(), "mount"));
    assert!(!c.path("ran").exists(), "the command ran\n{}", o.dump());
    assert!(c.events().is_empty(), "dind-init started its dockerd: {:?}\n{}", c.events(), o.dump());
    assert_eq!(foreign_pings(&c), 0, "dind-init talked to the host's daemon\n{}", o.dump());
    assert!(ping(&host_sock), "the host's daemon no longer answers\n{}", o.dump());
}

/// A daemon that starts listening on dockerd's socket after the check, before our dockerd
/// does: the probe sees a listener that is not its dockerd (SO_PEERCRED) and stops at once,
/// without a word to it.
#[test]
fn the_probe_refuses_a_daemon_it_did_not_start() {
    let c = setup!("fprobe");
    let mut r = c
        .run()
        .env("FAKE_DOCKERD_DELAY_MS", "10000")
        .sh(&format!("touch {}", c.p("ran")))
        .timeout(30)
        .spawn();
    r.wait_event("dockerd-start", 5.0);
    let sock = c.path("docker.sock");
    let _f = foreign_daemon(&c, &sock, &c.p("foreign.pid"));
    let t = Instant::now();
    let o = r.wait();
    o.code(125);
    assert!(t.elapsed() < Duration::from_secs(3), "took {:?}\n{}", t.elapsed(), o.dump());
    o.stderr_has(&format!(
        "{} is answered by a process outside this container's PID namespace, not by the \
         dockerd dind-init started",
        c.sock()
    ))
    .stderr_has("Docker-in-Docker");
    let f = o.event("foreign-daemon");
    assert_eq!((f.get("socket"), f.get("reason")), (c.sock().as_str(), "not-ours"));
    assert!(!c.path("ran").exists(), "the command ran\n{}", o.dump());
    assert_eq!(foreign_pings(&c), 0, "dind-init talked to the foreign daemon\n{}", o.dump());
    assert!(ping(&sock), "the foreign daemon's socket no longer answers\n{}", o.dump());
}

/// The same for the containerd dind-init runs: a listener on its socket that is not it.
#[test]
fn the_containerd_probe_refuses_a_listener_it_did_not_start() {
    let c = setup!("fctrd");
    let path = fake_containerd_bin(&c);
    let mut r = c
        .run()
        .env("PATH", &path)
        .env("FAKE_CONTAINERD_DELAY_MS", "10000")
        .opts(&["--containerd-by", "dind-init"])
        .sh(&format!("touch {}", c.p("ran")))
        .timeout(30)
        .spawn();
    r.wait_event("containerd-start", 5.0);
    let sock = c.path("exec/containerd/containerd.sock");
    let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let t = Instant::now();
    let o = r.wait();
    o.code(125);
    assert!(t.elapsed() < Duration::from_secs(3), "took {:?}\n{}", t.elapsed(), o.dump());
    o.stderr_has(&format!(
        "{} is answered by a process outside this container's PID namespace, not by the \
         containerd dind-init started",
        sock.display()
    ));
    assert!(!c.path("ran").exists(), "the command ran\n{}", o.dump());
    assert!(!c.event_names().contains(&"start".to_string()), "dockerd started: {:?}", c.events());
    assert!(
        std::os::unix::net::UnixStream::connect(&sock).is_ok(),
        "the listener's socket is gone"
    );
    drop(l);
}

// ---------------------------------------------------------------------------------------
// Smaller defects (issue 19, item 5)

/// dockerd ends by itself while served (--on-daemon-exit=exit): the containerd dind-init
/// started is stopped with SIGTERM like in any stop (before: the stop was skipped and, as
/// PID 1, containerd was SIGKILLed at the end; not PID 1, it was left running).
#[test]
fn a_dockerd_that_ended_by_itself_still_gets_its_containerd_stopped() {
    let c = setup!("ctrdended");
    let path = fake_containerd_bin(&c);
    let o = c
        .run()
        .env("PATH", &path)
        .env("FAKE_DOCKERD_EXIT_AFTER_MS", "300")
        .env("FAKE_DOCKERD_TERM_EXIT", "3")
        .opts(&["--containerd-by", "dind-init", "--on-daemon-exit", "exit"])
        .go();
    o.code(3);
    assert!(o.event("containerd-exit").flag("clean"), "{}", o.dump());
    let names = c.event_names();
    let i = |n: &str| {
        names
            .iter()
            .position(|x| x == n)
            .unwrap_or_else(|| panic!("no {n}: {names:?}\n{}", o.dump()))
    };
    assert!(i("exit-by-itself") < i("containerd-term"), "{names:?}");
    assert!(names.contains(&"containerd-exit".to_string()), "{names:?}");
}

/// A parent that left SIGCHLD ignored (SIG_IGN survives exec) made the kernel reap
/// dind-init's children itself: the command's exit was never seen (before: dind-init waited
/// for ever). The dispositions are reset at start.
#[test]
fn an_inherited_ignored_sigchld_does_not_lose_the_commands_status() {
    let c = setup!("sigchld");
    let pre = r#"grep SigIgn /proc/self/status >&2; exec /bin/bash -c 'trap "" CHLD; grep "^SigIgn" /proc/self/status | sed "s/^/inherited /" >&2; exec "$@"' bash "$@""#;
    let o = c.run().pre(pre).sh("sleep 0.2; exit 7").timeout(10).go();
    o.code(7);
    assert_eq!(o.event("command-exit").int("status"), 7, "{}", o.dump());
    let inherited = o.stderr.lines().find_map(|l| l.strip_prefix("inherited SigIgn:")).unwrap();
    let mask = u64::from_str_radix(inherited.trim(), 16).unwrap();
    assert!(mask & (1 << (libc::SIGCHLD - 1)) != 0, "SIGCHLD was not ignored: {inherited}");
}

// ---------------------------------------------------------------------------------------
/// Credentials in URLs never reach the log: dockerd's command line and the command's.
#[test]
fn credentials_in_logged_command_lines_are_redacted() {
    let c = setup!("redact");
    let args = format!(
        "{} --registry-mirror=https://mirroruser:s3cr3t-mirror@mirror.example:5000/v2 \
         --label proxy=http://proxyuser:s3cr3t-proxy@proxy.example:3128",
        c.daemon_args()
    );
    let o = c
        .run()
        .env("DOCKER_DAEMON_ARGS", &args)
        .opts(&["--log", "file", "--log-file", &c.p("docker.log")])
        .cmd(&["/bin/sh", "-c", "true", "socks5://cmduser:s3cr3t-cmd@socks.example:1080"])
        .go();
    o.code(0)
        .stderr_has("https://***@mirror.example:5000/v2")
        .stderr_has("proxy=http://***@proxy.example:3128")
        .stderr_has("socks5://***@socks.example:1080")
        .stderr_lacks("s3cr3t")
        .stderr_lacks("mirroruser");
    // dockerd itself still gets them.
    assert!(
        c.fake_args().iter().any(|a| a.contains("mirroruser:s3cr3t-mirror@")),
        "{:?}",
        c.fake_args()
    );
}

/// DOCKER_HOST=unix:///run/custom/d.sock with a missing directory: dind-init creates it
/// (0755) before dockerd starts, instead of dockerd failing on `bind`.
#[test]
fn docker_host_in_a_missing_directory_gets_the_directory() {
    use std::os::unix::fs::PermissionsExt;
    let c = setup!("sockdir");
    let dir = c.path("custom/sub");
    let sock = dir.join("d.sock");
    let o = c
        .run()
        .env(
            "DOCKER_DAEMON_ARGS",
            &format!("--pidfile {} --exec-root {}", c.pidfile(), c.p("exec")),
        )
        .env("DOCKER_HOST", &format!("unix://{}", sock.display()))
        .sh(&format!(
            "[ -S {s} ] && echo \"LISTENING $DOCKER_HOST $(stat -c %a {d})\"",
            s = sock.display(),
            d = dir.display()
        ))
        .go();
    o.code(0).stdout_has(&format!("LISTENING unix://{} 755", sock.display()));
    o.stderr_has(&format!("created {} (0755) for its socket", dir.display()));
    assert!(o.log_index("(0755) for its socket") < o.log_index_of_event("dockerd-start"));
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755, "{}", o.dump());
}

// ---------------------------------------------------------------------------------------
// A data root that two daemons never share (issue 21, item 3)

/// DOCKER_DAEMON_ARGS for another container (`c`: its own socket, pid file and exec root)
/// on `data_root`, a volume it shares with the first.
fn on_data_root(c: &Ctx, data_root: &str) -> String {
    format!(
        "-H unix://{} --pidfile {} --exec-root {} --data-root {data_root}",
        c.sock(),
        c.pidfile(),
        c.p("exec")
    )
}

/// A second dind-init on a data root a running one holds waits --data-root-wait, then exits
/// 125 naming the holder (host, pid, since), having started nothing; a third one waiting is
/// ended at once by SIGTERM (143). The first is unaffected: its command ends with its own
/// status, its dockerd stops cleanly. (Before: the second started a second dockerd on the
/// same data root.)
#[test]
fn a_second_dind_init_on_a_held_data_root_exits_125_naming_the_holder() {
    let c = setup!("lockheld");
    let (ready, go) = (c.p("ready"), c.p("go"));
    // The first is not PID 1, so its pid (2 or more) tells it from the second's (1).
    let mut first = c
        .run()
        .pre(&not_pid1("", ""))
        .sh(&format!("touch {ready}; while [ ! -e {go} ]; do sleep 0.02; done; exit 7"))
        .spawn();
    first.wait_file(Path::new(&ready), 10.0);
    let start = first.events().into_iter().find(|e| e.name == "start").unwrap();
    let holder_pid = start.int("pid");
    assert!(holder_pid > 1, "{start:?}");
    let host = nix_hostname();

    let c2 = setup!("lockheld2");
    let t = Instant::now();
    let o = c2
        .run()
        .env("DOCKER_DAEMON_ARGS", &on_data_root(&c2, &c.data_root()))
        .opts(&["--data-root-wait", "1s"])
        .cmd(&["true"])
        .timeout(10)
        .go();
    let took = t.elapsed().as_secs_f64();
    o.code(125)
        .stderr_has(&format!("data root {} is in use by another dind-init", c.data_root()))
        .stderr_has(&format!("host {host}, pid {holder_pid}, since "))
        .stderr_has("its own volume");
    assert!((1.0..4.0).contains(&took), "took {took:.3}s\n{}", o.dump());
    let busy = o.event("data-root-busy");
    assert!(busy.num("waited") >= 1.0, "{}", o.dump());
    assert!(
        busy.get("holder").starts_with(&format!("host={host} pid={holder_pid} since=")),
        "{}",
        o.dump()
    );
    assert_eq!(o.exit_event(), 125);
    assert!(!c2.path("events").exists(), "the second started a dockerd\n{}", o.dump());
    assert!(!o.has_event("dockerd-start") && !o.has_event("stale"), "{}", o.dump());

    // A TERM while waiting ends the wait at once.
    let c3 = setup!("lockheld3");
    let mut third = c3
        .run()
        .env("DOCKER_DAEMON_ARGS", &on_data_root(&c3, &c.data_root()))
        .opts(&["--data-root-wait", "30s"])
        .cmd(&["true"])
        .spawn();
    third.wait_stderr("waiting up to 30.0s", 10.0);
    let o3 = third.stop_with(libc::SIGTERM, 143, 2.0);
    o3.stderr_has("SIGTERM while waiting for the data root's lock");
    assert!(!c3.path("events").exists(), "the third started a dockerd\n{}", o3.dump());

    // The first carries on, unaffected.
    std::fs::write(&go, "").unwrap();
    let o1 = first.wait();
    o1.code(7);
    assert!(o1.event("dockerd-exit").flag("clean"), "{}", o1.dump());
    assert_eq!(o1.event("command-exit").int("status"), 7, "{}", o1.dump());
    let lock = o1.event("data-root-lock");
    assert_eq!(lock.get("path"), format!("{}/dind-init.lock", c.data_root()));
    assert_eq!(lock.get("holder"), "", "it waited for nobody\n{}", o1.dump());
    assert!(o1.log_index_of_event("data-root-lock") < o1.log_index_of_event("dockerd-start"));
}

/// A holder SIGKILLed (no clean-up at all) never blocks the next one: the kernel dropped its
/// flock, so the next takes the lock at once, its stale record notwithstanding, and writes
/// its own.
#[test]
fn a_sigkilled_holder_never_blocks_the_next_one() {
    let c = setup!("lockkill");
    let ready = c.p("ready");
    // Not PID 1: its record (pid 2 or more) differs from the next one's (pid 1).
    let mut first =
        c.run().pre(&not_pid1("", "")).sh(&format!("touch {ready}; exec sleep 100")).spawn();
    first.wait_file(Path::new(&ready), 10.0);
    first.wait_event("data-root-lock", 5.0);
    let dind = first.pid_named("dind-init");
    // SAFETY: kill(2) takes plain integers; it touches no memory of ours.
    assert_eq!(unsafe { libc::kill(dind, libc::SIGKILL) }, 0);
    let o1 = first.wait();
    assert!(!o1.has_event("exit"), "the first was not SIGKILLed\n{}", o1.dump());
    let holder_pid = o1.event("start").int("pid");
    let lock_file = c.path("data/dind-init.lock");
    let left = read(&lock_file);
    assert!(left.contains(&format!("pid={holder_pid}\n")), "the killed holder's record: {left:?}");

    let c2 = setup!("lockkill2");
    let t = Instant::now();
    let o = c2
        .run()
        .env("DOCKER_DAEMON_ARGS", &on_data_root(&c2, &c.data_root()))
        .opts(&["--data-root-wait", "10s"])
        .cmd(&["true"])
        .go();
    o.code(0);
    assert!(t.elapsed() < Duration::from_secs(5), "took {:?}\n{}", t.elapsed(), o.dump());
    let lock = o.event("data-root-lock");
    assert!(lock.num("waited") < 0.5, "{}", o.dump());
    assert_eq!(lock.get("holder"), "", "{}", o.dump());
    o.stderr_lacks("is in use by another dind-init");
    let rec = read(&lock_file);
    assert!(rec.starts_with("host=") && rec.contains("\npid=1\nsince="), "{rec:?}");
}

fn nix_hostname() -> String {
    read(Path::new("/proc/sys/kernel/hostname")).trim().to_string()
}

// ---------------------------------------------------------------------------------------
// --preload: the phase between dockerd's answer and the command (the loads themselves need a
// real engine: e2e-field H13)

#[test]
fn the_preload_runs_before_the_command_and_skips_what_is_not_an_archive() {
    let c = setup!("preload");
    let dir = c.p("preload");
    std::fs::create_dir_all(format!("{dir}/sub")).unwrap();
    std::fs::write(format!("{dir}/.hidden"), "x").unwrap();
    let o = c.run().env("DIND_PRELOAD", &dir).sh(&format!("touch {}", c.p("ran"))).go();
    o.code(0);
    assert!(c.path("ran").exists(), "{}", o.dump());
    let done = o.event("preload-done");
    assert_eq!(
        (done.int("loaded"), done.int("skipped"), done.int("failed")),
        (0, 2, 0),
        "{done:?}"
    );
    assert_eq!(o.events_named("preload-skipped").len(), 2, "{}", o.dump());
    assert!(o.event_index("dockerd-ready") < o.event_index("preload-done"), "{}", o.dump());
    assert!(o.event_index("preload-done") < o.event_index("command-start"), "{}", o.dump());
}

#[test]
fn a_preload_that_fails_is_125_unless_warn() {
    let c = setup!("preload-fail");
    let missing = c.p("no-such-dir");
    let o = c.run().env("DIND_PRELOAD", &missing).sh(&format!("touch {}", c.p("ran"))).go();
    o.code(125).stderr_has(&format!("preload: {missing}: cannot read the directory"));
    assert!(!c.path("ran").exists(), "the command ran after a failed preload\n{}", o.dump());
    assert_eq!(o.event("preload-failed").get("file"), missing);
    assert!(!o.has_event("command-start"), "{}", o.dump());
    let o = c
        .run()
        .env("DIND_PRELOAD", &missing)
        .env("DIND_PRELOAD_ERRORS", "warn")
        .sh(&format!("touch {}", c.p("ran")))
        .go();
    o.code(0);
    assert!(c.path("ran").exists(), "warn: the command did not run\n{}", o.dump());
    assert_eq!(o.event("preload-done").int("failed"), 1);
}

#[test]
fn sigterm_during_the_preload_aborts_it_within_the_budget() {
    let c = setup!("preload-term");
    // A well-formed archive whose presence check dockerd never answers: the preload waits.
    let dir = c.p("preload");
    std::fs::create_dir_all(&dir).unwrap();
    let (cfg, layer) = ("a".repeat(64), "1".repeat(64));
    let manifest =
        format!(r#"[{{"Config":"{cfg}.json","RepoTags":["t:1"],"Layers":["{layer}/layer.tar"]}}]"#);
    let mut b = tar::Builder::new(std::fs::File::create(format!("{dir}/a.tar")).unwrap());
    for (name, data) in [
        (format!("{layer}/layer.tar"), &[7u8; 512][..]),
        (format!("{cfg}.json"), &b"{}"[..]),
        ("manifest.json".to_string(), manifest.as_bytes()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    }
    b.into_inner().unwrap();
    let mut r = c
        .run()
        .env("DIND_PRELOAD", &dir)
        .env("FAKE_DOCKERD_HANG_PATH", "/images/")
        .opts(&["--shutdown-timeout", "3s"])
        .sh(&format!("touch {}", c.p("ran")))
        .spawn();
    r.wait_stderr("preload: loading the image archives", 10.0);
    let t = Instant::now();
    r.signal(libc::SIGTERM);
    let o = r.wait();
    o.code(143);
    assert!(t.elapsed() < Duration::from_secs(3), "took {:?}\n{}", t.elapsed(), o.dump());
    assert!(!c.path("ran").exists(), "the command ran\n{}", o.dump());
    assert!(!o.has_event("preload-done"), "{}", o.dump());
    assert_eq!(o.event("stop-begin").get("reason"), "SIGTERM", "{}", o.dump());
}
