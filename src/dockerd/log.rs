//! dockerd's output: a thread pumps it to the container's stderr (or the log file), keeps
//! the last lines for error reports (with hints for failures people search for), and
//! watches for dockerd's own record that its shutdown is complete. The thread wakes the
//! supervisor through a pipe when that record arrives and when dockerd's output ends.

use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What dockerd logs once it has stopped its containers and closed its state (moby
/// `cmd/dockerd/daemon.go`, the same text since 2016, in text and JSON log formats).
pub const SHUTDOWN_COMPLETE: &str = "Daemon shutdown complete";

pub const TAIL_LINES: usize = 50;

/// The message of one dockerd log record: `msg="..."` (text format) or `"msg":"..."`
/// (JSON), unescaped. `None` for a line that is not a record.
pub fn record_msg(line: &str) -> Option<String> {
    let start = if let Some(i) = line.find("\"msg\":\"") {
        i + 7
    } else if line.starts_with("msg=\"") {
        5
    } else {
        line.find(" msg=\"")? + 6
    };
    let mut out = String::new();
    let mut chars = line[start..].chars();
    loop {
        match chars.next()? {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
}

/// The last lines dockerd printed, and what the supervisor must know about them.
pub struct LogTail {
    lines: Mutex<VecDeque<String>>,
    /// Set when the pipe from the current dockerd reached end of file, or when no daemon was
    /// started yet (nothing to wait for).
    closed: AtomicBool,
    /// Set by the supervisor when it sent dockerd SIGTERM: only then does a completion
    /// record count (a debug log of a request body may contain the same words).
    armed: AtomicBool,
    /// Set when the current dockerd logged that its own shutdown is complete.
    shutdown_complete: AtomicBool,
    wake_rd: OwnedFd,
    wake_wr: OwnedFd,
}

impl LogTail {
    pub fn new() -> nix::Result<LogTail> {
        use nix::fcntl::OFlag;
        let (wake_rd, wake_wr) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        Ok(LogTail {
            lines: Mutex::new(VecDeque::new()),
            closed: AtomicBool::new(true),
            armed: AtomicBool::new(false),
            shutdown_complete: AtomicBool::new(false),
            wake_rd,
            wake_wr,
        })
    }

    /// The fd the supervisor polls: readable when something it waits for happened.
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake_rd.as_fd()
    }

    /// Empties the wake pipe.
    pub fn drain_wakes(&self) {
        let mut b = [0u8; 64];
        while matches!(nix::unistd::read(self.wake_rd.as_raw_fd(), &mut b), Ok(n) if n > 0) {}
    }

    fn wake(&self) {
        // A full pipe already wakes the supervisor: EAGAIN is fine.
        let _ = nix::unistd::write(&self.wake_wr, b"!");
    }

    pub fn push(&self, line: String) {
        if self.armed.load(Ordering::SeqCst)
            && record_msg(&line).as_deref() == Some(SHUTDOWN_COMPLETE)
        {
            self.shutdown_complete.store(true, Ordering::SeqCst);
            self.wake();
        }
        let mut l = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if l.len() == TAIL_LINES {
            l.pop_front();
        }
        l.push_back(line);
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }

    fn set_closed(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// A new dockerd: nothing read from its pipe yet.
    pub fn reset(&self) {
        self.closed.store(false, Ordering::SeqCst);
        self.armed.store(false, Ordering::SeqCst);
        self.shutdown_complete.store(false, Ordering::SeqCst);
    }

    /// dockerd was sent SIGTERM: from now on its completion record counts.
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Whether the current dockerd logged [`SHUTDOWN_COMPLETE`] after it was told to stop.
    pub fn shutdown_complete(&self) -> bool {
        self.shutdown_complete.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until the log pipe is drained, so a report shows dockerd's last words.
    /// A containerd child may keep the pipe open, hence the bound.
    pub fn wait_closed(&self, max: Duration) {
        let deadline = Instant::now() + max;
        while !self.closed.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The tail as an indented block for a message.
    pub fn render(&self, max: usize) -> String {
        let lines = self.lines();
        if lines.is_empty() {
            return "  (dockerd printed nothing)".into();
        }
        let skip = lines.len().saturating_sub(max);
        lines[skip..].iter().map(|l| format!("  | {l}")).collect::<Vec<_>>().join("\n")
    }

    /// The tail and the hints that match it, for an error report about daemon `name`.
    pub fn report(&self, name: &str) -> String {
        self.wait_closed(Duration::from_millis(300));
        let mut s = format!("Last lines of {name}'s log:\n{}", self.render(TAIL_LINES));
        for h in hints(&self.lines()) {
            s.push_str(&format!("\nhint: {h}"));
        }
        s
    }
}

/// Copies dockerd's output to `sink` line by line, into `tail` too, until end of file.
pub fn pump(src: std::fs::File, mut sink: Box<dyn Write + Send>, tail: &LogTail) {
    let mut r = std::io::BufReader::new(src);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => {
                tail.set_closed();
                return;
            }
            Ok(_) => {
                let _ = sink.write_all(&buf);
                let _ = sink.flush();
                tail.push(String::from_utf8_lossy(&buf).trim_end().to_string());
            }
        }
    }
}

/// Known failure texts and what to do about them.
pub fn hints(lines: &[String]) -> Vec<&'static str> {
    const PRIVILEGES: &str = "dockerd lacks privileges: run the container with --privileged \
                              (Kubernetes: securityContext.privileged: true)";
    const HINTS: &[(&str, &str)] = &[
        ("operation not permitted", PRIVILEGES),
        ("permission denied", PRIVILEGES),
        (
            "pid file found",
            "a pid file from a previous run is in the way: dind-init removes it when it is PID \
             1; pass --pidfile to dockerd if you run dind-init under another init",
        ),
        (
            "iptables",
            "iptables failed: the image's backend may not match the kernel's; try \
             DIND_IPTABLES=legacy or nft, or DOCKER_DAEMON_ARGS=--iptables=false",
        ),
        (
            "cgroup",
            "cgroup problem: see the cgroups lines above; --privileged gives the container \
             writable cgroups",
        ),
        ("address already in use", "another daemon listens on the same socket or port"),
        ("no space left", "the disk behind the data root is full"),
    ];
    let mut out: Vec<&'static str> = Vec::new();
    for l in lines {
        let l = l.to_ascii_lowercase();
        for (needle, hint) in HINTS {
            if l.contains(needle) && !out.contains(hint) {
                out.push(hint);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A daemon never started (containerd failed first): no pipe to wait for (before: 2 s
    /// twice on the way out).
    #[test]
    fn no_wait_for_a_daemon_never_started() {
        let t = LogTail::new().unwrap();
        let t0 = Instant::now();
        t.wait_closed(Duration::from_secs(2));
        assert!(t0.elapsed() < Duration::from_millis(100), "{:?}", t0.elapsed());
        t.reset();
        let t0 = Instant::now();
        t.wait_closed(Duration::from_millis(50));
        assert!(t0.elapsed() >= Duration::from_millis(50), "a started one is waited for");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let t = LogTail::new().unwrap();
        for i in 0..120 {
            t.push(format!("line {i}"));
        }
        let l = t.lines();
        assert_eq!(l.len(), TAIL_LINES);
        assert_eq!(l[0], "line 70");
        assert!(t.render(3).ends_with("  | line 119"));
    }

    #[test]
    fn messages_of_records() {
        let text = r#"time="2026-11-29T10:00:00.1Z" level=info msg="Daemon shutdown complete""#;
        assert_eq!(record_msg(text).as_deref(), Some(SHUTDOWN_COMPLETE));
        let json = r#"{"level":"info","msg":"Daemon shutdown complete","time":"2026"}"#;
        assert_eq!(record_msg(json).as_deref(), Some(SHUTDOWN_COMPLETE));
        let body = r#"time="t" level=debug msg="form data: {\"Cmd\":[\"echo\",\"Daemon shutdown complete\"]}""#;
        assert_eq!(
            record_msg(body).as_deref(),
            Some(r#"form data: {"Cmd":["echo","Daemon shutdown complete"]}"#)
        );
        assert_eq!(record_msg("Daemon shutdown complete"), None);
        assert_eq!(record_msg(r#"level=info msg="unterminated"#), None);
    }

    /// Only dockerd's own record, and only after dind-init told it to stop, counts.
    #[test]
    fn completion_counts_only_when_armed_and_exact() {
        let t = LogTail::new().unwrap();
        t.push(r#"time="t" level=info msg="Daemon shutdown complete""#.into());
        assert!(!t.shutdown_complete(), "before SIGTERM");
        t.arm();
        t.push(r#"time="t" level=debug msg="Calling POST /containers/create: echo Daemon shutdown complete""#.into());
        t.push("Daemon shutdown complete".into());
        assert!(!t.shutdown_complete(), "not a record of its own");
        t.push(r#"time="t" level=info msg="Daemon shutdown complete""#.into());
        assert!(t.shutdown_complete());
        t.reset();
        assert!(!t.shutdown_complete());
    }

    #[test]
    fn the_wake_pipe_signals_completion() {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let t = LogTail::new().unwrap();
        let ready = |t: &LogTail| {
            let mut fds = [PollFd::new(t.wake_fd(), PollFlags::POLLIN)];
            poll(&mut fds, PollTimeout::ZERO).unwrap() == 1
        };
        assert!(!ready(&t));
        t.arm();
        t.push(r#"level=info msg="Daemon shutdown complete""#.into());
        assert!(ready(&t));
        t.drain_wakes();
        assert!(!ready(&t));
    }

    #[test]
    fn hints_for_known_failures() {
        let l = ["failed to start daemon: Error initializing network controller: failed to create NAT chain DOCKER: iptables failed".to_string()];
        assert!(hints(&l).iter().any(|x| x.contains("DIND_IPTABLES")));
        assert!(hints(&["all good".to_string()]).is_empty());
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;
        proptest! {
            #![proptest_config(ProptestConfig {
                cases: crate::fuzz_cases(2000), ..ProptestConfig::default()
            })]
            #[test]
            fn hints_never_panic(lines in proptest::collection::vec("\\PC{0,40}", 0..4)) { let _ = hints(&lines); }
            #[test]
            fn record_msg_never_panics(s in "(msg=\"|\"msg\":\"| msg=\")?\\PC{0,40}") { let _ = record_msg(&s); }
        }
    }
}
