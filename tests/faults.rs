//! Fault tests (issue 7) in a PID namespace with the fake dockerd: a storm of signals sent
//! to PID 1 while the command runs, a storm of orphans, and dockerd killed under the
//! restart and exit policies. The figures (how many signals, orphans, restarts) are the ones
//! the README's reliability section quotes.

mod common;

use common::ctx;
use std::path::Path;
use std::time::{Duration, Instant};

/// A command that blocks every signal and counts what arrives with sigwaitinfo, until
/// SIGTERM: then prints `SIGNO COUNT` lines and exits 42.
const COUNTER: &str = r#"
import signal, sys, os
sigs = set(range(1, signal.SIGRTMAX + 1)) - {signal.SIGKILL, signal.SIGSTOP, 32, 33}
signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
counts = {}
open(sys.argv[1], "w").close()
while True:
    info = signal.sigwaitinfo(sigs)
    if info.si_signo == signal.SIGTERM:
        break
    counts[info.si_signo] = counts.get(info.si_signo, 0) + 1
for k in sorted(counts):
    print(k, counts[k])
sys.stdout.flush()
sys.exit(42)
"#;

fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn signal_storm_loses_no_queued_signal() {
    let Some(c) = ctx("sigstorm") else { return };
    let ready = c.path("ready");
    let mut r = c
        .run()
        .cmd(&["/usr/bin/python3", "-c", COUNTER, &ready.display().to_string()])
        .timeout(90)
        .spawn();
    r.wait_file(&ready, 30.0);
    let pid = r.init_pid();
    let rt = libc::SIGRTMIN();
    // 10,000 signals: 6,000 real-time ones (queued: every one must arrive) and 4,000
    // standard ones (the kernel merges pending duplicates: each must arrive at least once).
    let rt_sigs = [rt + 1, rt + 2, rt + 3];
    let std_sigs = [libc::SIGUSR1, libc::SIGUSR2, libc::SIGHUP, libc::SIGWINCH];
    let mut sent = std::collections::HashMap::<i32, u64>::new();
    for i in 0..10_000usize {
        let sig = if i % 5 < 3 { rt_sigs[i % 3] } else { std_sigs[i % 4] };
        // SAFETY: kill(2) takes plain integers; it touches no memory of ours.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill {sig}");
        *sent.entry(sig).or_default() += 1;
    }
    // Let dind-init forward the queue before the final TERM (TERM is a standard signal and
    // may overtake queued real-time ones; sigwaitinfo delivers lower numbers first).
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let pending = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let shd = pending
            .lines()
            .find_map(|l| l.strip_prefix("ShdPnd:"))
            .map(|v| v.trim().trim_start_matches('0').to_string());
        if shd.as_deref() == Some("") || Instant::now() > until {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    r.signal(libc::SIGTERM);
    let o = r.wait();
    assert_eq!(o.code, Some(42), "{}", o.dump());
    let got: std::collections::HashMap<i32, u64> = o
        .stdout
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
        })
        .collect();
    for s in rt_sigs {
        assert_eq!(
            got.get(&s),
            sent.get(&s),
            "real-time signal {s}: sent {:?}, got {:?}\n{}",
            sent.get(&s),
            got.get(&s),
            o.dump()
        );
    }
    for s in std_sigs {
        assert!(got.get(&s).copied().unwrap_or(0) >= 1, "signal {s} never arrived\n{}", o.dump());
    }
    assert_eq!(o.exit_event(), 42, "{}", o.dump());
    assert!(!o.stderr.contains("panicked"), "{}", o.dump());
}

/// Forks `n` orphans (double fork: the middle process exits at once, the grandchild is
/// reparented to PID 1 and exits shortly after), then waits until no zombie is left in
/// the namespace and prints the count of zombies seen at the end.
const ORPHANS: &str = r#"
import os, sys, time
n = int(sys.argv[1])
for i in range(n):
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)
def zombies():
    z = 0
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                st = open("/proc/%s/stat" % p).read()
            except OSError:
                continue
            if st[st.rindex(")") + 2] == "Z":
                z += 1
    return z
deadline = time.time() + 10
while zombies() and time.time() < deadline:
    time.sleep(0.05)
print("zombies", zombies())
"#;

#[test]
fn zombie_storm_is_reaped_without_memory_growth() {
    let Some(c) = ctx("zombies") else { return };
    let mut r = c.run().cmd(&["/usr/bin/python3", "-c", ORPHANS, "10000"]).timeout(120).spawn();
    r.wait_event("command-start", 30.0);
    let pid = r.init_pid();
    let before = rss_kib(pid);
    let mut peak = before;
    let o = loop {
        peak = peak.max(rss_kib(pid));
        if !Path::new(&format!("/proc/{pid}")).exists() {
            break r.wait();
        }
        if r.events().iter().any(|e| e.name == "command-exit") {
            break r.wait();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(o.code, Some(0), "{}", o.dump());
    assert!(o.stdout.contains("zombies 0"), "{}", o.dump());
    // Reaping allocates nothing per child: PID 1's resident memory stays put.
    assert!(
        peak <= before + 512,
        "dind-init grew from {before} KiB to {peak} KiB reaping 10,000 orphans\n{}",
        o.dump()
    );
    eprintln!("zombie storm: 10,000 orphans reaped, dind-init RSS {before} KiB -> peak {peak} KiB");
}

#[test]
fn daemon_killed_is_restarted_with_backoff_until_the_limit() {
    let Some(c) = ctx("restarts") else { return };
    // The command kills dockerd (the fake) three times, each time waiting until it is back
    // (its pid file is rewritten), then checks it answers.
    let script = format!(
        r#"for i in 1 2 3; do
             old=$(cat {pf}); echo "killed $(date +%s%N)" >> {ev}; kill -9 $old
             n=0; while [ "$(cat {pf} 2>/dev/null)" = "$old" ] || [ ! -s {pf} ]; do n=$((n+1)); [ $n -gt 2000 ] && exit 90; sleep 0.01; done
             n=0; while ! {di} health --socket {sock} --timeout 1 >/dev/null 2>&1; do n=$((n+1)); [ $n -gt 100 ] && exit 91; done
             echo "restart $i ok"
           done"#,
        pf = c.pidfile(),
        sock = c.sock(),
        ev = c.events_path(),
        di = common::DIND
    );
    let o = c.run().opts(&["--max-restarts", "3"]).sh(&script).timeout(60).go();
    assert_eq!(o.code, Some(0), "{}", o.dump());
    let restarts = o.events_named("daemon-restart");
    for i in 1..=3 {
        assert!(o.stdout.contains(&format!("restart {i} ok")), "{}", o.dump());
        assert!(
            restarts.iter().any(|e| e.int("restart") == i && e.int("max") == 3),
            "no restart {i}/3\n{}",
            o.dump()
        );
    }
    // Back-off 1, 2, 4 s, measured where it matters: the command records each SIGKILL, the
    // fake each start; the gap between them is the back-off (plus a few ms to start).
    let ev = c.events();
    let times = |prefix: &str| -> Vec<u128> {
        ev.iter()
            .filter(|l| l.starts_with(prefix))
            .map(|l| l.split_whitespace().last().unwrap().parse().unwrap())
            .collect()
    };
    let (kills, starts) = (times("killed "), times("start "));
    assert_eq!((kills.len(), starts.len()), (3, 4), "{ev:?}");
    let gaps: Vec<f64> =
        kills.iter().zip(&starts[1..]).map(|(k, s)| (s - k) as f64 / 1e9).collect();
    for (gap, want) in gaps.iter().zip([1.0, 2.0, 4.0]) {
        assert!(
            *gap >= want - 0.05 && *gap < want + 0.5,
            "restart gaps {gaps:?}, expected 1, 2, 4 s\n{}",
            o.dump()
        );
    }
    assert!(
        o.events_named("daemon-died").iter().any(|e| e.int("status") == 137),
        "no dockerd death by SIGKILL\n{}",
        o.dump()
    );

    // One more kill than allowed: dind-init gives up, stops the command, exits 125.
    let Some(c) = ctx("giveup") else { return };
    let script = format!(
        r#"trap 'echo command got TERM; exit 3' TERM
           for i in 1 2; do
             old=$(cat {pf}); kill -9 $old
             n=0; while [ "$(cat {pf} 2>/dev/null)" = "$old" ] || [ ! -s {pf} ]; do n=$((n+1)); [ $n -gt 1000 ] && break; sleep 0.01; done
           done
           while true; do sleep 0.05; done"#,
        pf = c.pidfile()
    );
    let o = c
        .run()
        .opts(&["--max-restarts", "1", "--shutdown-timeout", "3"])
        .sh(&script)
        .timeout(60)
        .go();
    assert_eq!(o.code, Some(125), "{}", o.dump());
    assert!(o.stderr.contains("giving up after 1 restart"), "{}", o.dump());
    assert!(o.stdout.contains("command got TERM"), "{}", o.dump());
}

#[test]
fn daemon_killed_with_exit_policy_stops_the_command() {
    let Some(c) = ctx("exitpolicy") else { return };
    let script = format!("trap 'echo command got TERM; exit 3' TERM; kill -9 $(cat {pf}); while true; do sleep 0.05; done", pf = c.pidfile());
    let o = c.run().opts(&["--on-daemon-exit", "exit"]).sh(&script).timeout(30).go();
    assert_eq!(o.code, Some(125), "{}", o.dump());
    assert!(o.stdout.contains("command got TERM"), "{}", o.dump());
    assert!(o.stderr.contains("--on-daemon-exit=exit"), "{}", o.dump());
    assert_eq!(o.event("daemon-died").int("status"), 137, "{}", o.dump());
}

/// Issue 7, bad input beyond the option parser: each case exits with its documented code and
/// a message naming the cause, and nothing panics.
#[test]
fn bad_environment_fails_with_its_code_and_a_named_cause() {
    let Some(c) = ctx("badenv") else { return };
    let long = format!("/run/{}/docker.sock", "d".repeat(120));
    let dir = c.p("a-directory");
    std::fs::create_dir_all(&dir).unwrap();
    let exits_at_once = c.p("exits-at-once");
    std::fs::write(
        &exits_at_once,
        "#!/bin/sh\necho 'failed to start daemon: simulated' >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&exits_at_once, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap();
    let cases: Vec<(common::Spec, i32, &str)> = vec![
        (
            c.run().opts(&["--dockerd", "/nonexistent/dockerd"]).cmd(&["true"]),
            125,
            "/nonexistent/dockerd' was not found",
        ),
        (
            c.run().opts(&["--dockerd", &exits_at_once]).cmd(&["true"]),
            125,
            "exited with status 3 before it was ready",
        ),
        (
            c.run().env("DOCKER_DAEMON_ARGS", &format!("-H unix://{long}")).cmd(&["true"]),
            2,
            "limited to 107 bytes",
        ),
        (c.run().cmd(&[&dir]), 126, "it is a directory"),
        (
            c.run().cmd(&["no-such-command-anywhere"]),
            127,
            "'no-such-command-anywhere' is not in PATH",
        ),
        (c.run().env("DIND_WAIT_TIMEOUT", "soon").cmd(&["true"]), 2, "DIND_WAIT_TIMEOUT"),
    ];
    for (spec, code, needle) in cases {
        let o = spec.timeout(30).go();
        assert_eq!(o.code, Some(code), "{needle}\n{}", o.dump());
        assert!(o.stderr.contains(needle), "{needle}\n{}", o.dump());
        assert!(!o.stderr.contains("panicked"), "{}", o.dump());
        // One line names the cause (dockerd's own log tail may follow it).
        let line = o.stderr.lines().find(|l| l.contains(needle)).unwrap();
        assert!(line.starts_with("dind-init"), "{line}");
    }
}

/// Inner containers are stopped by dockerd's own shutdown (so their restart policies hold:
/// a stop through the API would mark them stopped by hand), never through the API; those
/// that ignore SIGTERM are SIGKILLed by dind-init 2.5 s before the budget ends, so dockerd
/// still finishes cleanly inside it.
#[test]
fn inner_containers_stop_with_dockerd_within_the_budget() {
    let Some(c) = ctx("stopinner") else { return };
    let o = c.run().env("FAKE_DOCKERD_CONTAINERS", "2").cmd(&["true"]).go();
    assert_eq!(o.code, Some(0), "{}", o.dump());
    let ev = c.events();
    let count = |p: &str| ev.iter().filter(|l| l.starts_with(p)).count();
    assert_eq!(count("container-start"), 2, "{ev:?}");
    assert_eq!(
        count("container-term"),
        2,
        "the containers were not stopped by dockerd: {ev:?}\n{}",
        o.dump()
    );
    assert_eq!(count("api-stop"), 0, "stopped through the API: {ev:?}");
    assert!(!o.has_event("inner-kill"), "{}", o.dump());

    // Containers that ignore SIGTERM: dockerd would wait 10 s for them.
    let Some(c) = ctx("stubborn") else { return };
    let o = c
        .run()
        .env("FAKE_DOCKERD_CONTAINERS", "3")
        .env("FAKE_DOCKERD_CONTAINERS_IGNORE_TERM", "1")
        .opts(&["--shutdown-timeout", "4s"])
        .cmd(&["true"])
        .timeout(30)
        .go();
    assert_eq!(o.code, Some(0), "{}", o.dump());
    let ev = c.events();
    let at = |p: &str| -> u128 {
        ev.iter()
            .find(|l| l.starts_with(p))
            .and_then(|l| l.split_whitespace().last()?.parse().ok())
            .unwrap_or_else(|| panic!("no {p:?} event in {ev:?}\n{}", o.dump()))
    };
    let waited = (at("containers-gone") - at("term")) as f64 / 1e9;
    assert!(
        (1.8..3.0).contains(&waited),
        "containers ended {waited:.3}s after dockerd's SIGTERM, expected ~2 s (half of the 4 s window)\n{}",
        o.dump()
    );
    assert!(!ev.iter().any(|l| l.starts_with("containers-killed-by-dockerd")), "{ev:?}");
    assert_eq!(o.event("inner-kill").int("count"), 3, "{}", o.dump());
    assert!(o.event("dockerd-exit").flag("clean"), "{}", o.dump());
    assert!(o.elapsed < Duration::from_secs(4) + Duration::from_millis(900), "{}", o.dump());
}
