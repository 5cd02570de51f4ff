//! A very small Docker API client over dockerd's unix socket: the readiness probe
//! (`GET /_ping`, spoken by dind-init itself: no docker CLI in the image) and one-shot
//! requests. The probe never blocks: the supervisor polls its socket together with the
//! signalfd, so a connection accepted early is answered the instant the API starts
//! serving, and a SIGTERM during start-up is handled at once. A probe of a daemon dind-init
//! started knows its pid and checks the listener's (`SO_PEERCRED`) before it says a word:
//! another daemon answering on that socket is an error, never readiness.

use crate::dockerd::owner;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PING: &[u8] =
    b"GET /_ping HTTP/1.1\r\nHost: docker\r\nUser-Agent: dind-init\r\nConnection: close\r\n\r\n";
/// After an answer other than 200 (daemon up but unhealthy).
const RETRY_BAD_ANSWER: Duration = Duration::from_millis(100);
/// A connection that got no answer this long is replaced.
const STALL: Duration = Duration::from_secs(2);

/// How long to wait before the next connection attempt, for a probe this old: every 5 ms
/// for the first 2 s (dockerd usually answers within one), then backing off to 500 ms, so
/// a daemon that never answers is not polled 200 times a second for minutes.
pub fn retry_delay(age: Duration) -> Duration {
    if age < Duration::from_secs(2) {
        Duration::from_millis(5)
    } else {
        (age / 20).min(Duration::from_millis(500))
    }
}

struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
    since: Instant,
}

/// The non-blocking `/_ping` probe (or, for containerd, a connection alone).
pub struct Probe {
    pub socket: PathBuf,
    /// Ask `/_ping`; false: accepting a connection is enough (containerd's gRPC socket).
    ping: bool,
    started: Instant,
    /// The daemon dind-init started: its name and pid, which the listener must be.
    owner: Option<(&'static str, i32)>,
    conn: Option<Conn>,
    retry_at: Instant,
    pub attempts: u32,
    pub last_error: String,
    /// Set once a listener other than the owner answered: why.
    foreign: Option<String>,
}

impl Probe {
    /// A `/_ping` probe of whatever daemon listens (`dind-init health`).
    pub fn new(socket: &Path) -> Probe {
        Probe::with(socket, true, None)
    }

    /// A `/_ping` probe of the dockerd dind-init started as `pid`.
    pub fn owned(socket: &Path, pid: i32) -> Probe {
        Probe::with(socket, true, Some(("dockerd", pid)))
    }

    /// A probe that calls a socket ready once the daemon `name` started as `pid` accepts a
    /// connection on it.
    pub fn connect_only(socket: &Path, name: &'static str, pid: i32) -> Probe {
        Probe::with(socket, false, Some((name, pid)))
    }

    fn with(socket: &Path, ping: bool, owner: Option<(&'static str, i32)>) -> Probe {
        let now = Instant::now();
        Probe {
            socket: socket.to_path_buf(),
            ping,
            started: now,
            owner,
            conn: None,
            retry_at: now,
            attempts: 0,
            last_error: "not tried yet".into(),
            foreign: None,
        }
    }

    /// The fd to wait on for readability, while a request is in flight.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.conn.as_ref().map(|c| c.stream.as_fd())
    }

    /// How long the caller may sleep before calling `step` again.
    pub fn next_wakeup(&self, now: Instant) -> Duration {
        match &self.conn {
            Some(c) => (c.since + STALL).saturating_duration_since(now),
            None => self.retry_at.saturating_duration_since(now),
        }
    }

    /// Connects; with an owner, the listener must be it (else `Err(Some(message))`).
    fn connect(&mut self) -> Result<UnixStream, Option<std::io::Error>> {
        self.attempts += 1;
        let s = UnixStream::connect(&self.socket).map_err(Some)?;
        if let Some((name, pid)) = self.owner {
            let peer = owner::peer_pid(&s);
            if !peer.is_some_and(|p| owner::peer_is_ours(p, pid, owner::parent_from_proc)) {
                owner::foreign_event(&self.socket, "not-ours");
                self.foreign = Some(owner::not_ours_message(name, &self.socket, peer, pid));
                return Err(None);
            }
        }
        Ok(s)
    }

    fn retry_later(&mut self, now: Instant, why: String) {
        self.last_error = why;
        self.conn = None;
        self.retry_at = now + retry_delay(now - self.started);
    }

    /// Advances the probe; `Ok(true)` once the daemon answered 200 (or, connect-only,
    /// accepted); `Err(why)` when a daemon other than the owner listens on the socket.
    pub fn step(&mut self, now: Instant) -> Result<bool, String> {
        if let Some(why) = &self.foreign {
            return Err(why.clone());
        }
        if self.conn.is_none() {
            if now < self.retry_at {
                return Ok(false);
            }
            let connected = self.connect().and_then(|mut s| {
                if self.ping {
                    s.write_all(PING).map_err(Some)?;
                    s.set_nonblocking(true).map_err(Some)?;
                }
                Ok(s)
            });
            match connected {
                Ok(_) if !self.ping => return Ok(true),
                Ok(stream) => self.conn = Some(Conn { stream, buf: Vec::new(), since: now }),
                Err(None) => return Err(self.foreign.clone().unwrap_or_default()),
                Err(Some(e)) => {
                    self.retry_later(now, format!("connect {}: {e}", self.socket.display()));
                    return Ok(false);
                }
            }
        }
        let conn = self.conn.as_mut().expect("connected");
        let mut chunk = [0u8; 512];
        loop {
            match conn.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    conn.buf.extend_from_slice(&chunk[..n]);
                    if conn.buf.len() > 4096 || status_code(&conn.buf).is_some() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if now.duration_since(conn.since) >= STALL {
                        let why =
                            format!("no answer from {} within {STALL:?}", self.socket.display());
                        self.retry_later(now, why);
                        self.retry_at = now;
                    }
                    return Ok(false);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.retry_later(now, format!("read {}: {e}", self.socket.display()));
                    return Ok(false);
                }
            }
        }
        let code = status_code(&conn.buf);
        self.conn = None;
        match code {
            Some(200) => Ok(true),
            Some(c) => {
                self.last_error =
                    format!("{} answered /_ping with HTTP {c}", self.socket.display());
                self.retry_at = now + RETRY_BAD_ANSWER;
                Ok(false)
            }
            None => {
                let why =
                    format!("{} closed the connection without an answer", self.socket.display());
                self.retry_later(now, why);
                Ok(false)
            }
        }
    }

    /// Blocking check for `dind-init health`: Ok once 200 arrives within `timeout`.
    pub fn check(socket: &Path, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut p = Probe::new(socket);
        loop {
            let now = Instant::now();
            if p.step(now)? {
                return Ok(());
            }
            if now >= deadline {
                if p.conn.is_some() {
                    return Err(format!(
                        "{} accepted the connection but did not answer /_ping within {timeout:?}",
                        socket.display()
                    ));
                }
                return Err(p.last_error);
            }
            // Keep the health check cheap: a refused socket is retried a few times a second.
            let wait = p.next_wakeup(now).max(Duration::from_millis(50)).min(deadline - now);
            match p.fd() {
                Some(fd) => {
                    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
                    let ms = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
                    let _ = poll(&mut [PollFd::new(fd, PollFlags::POLLIN)], ms);
                }
                None => std::thread::sleep(wait),
            }
        }
    }
}

/// A blocking request to the dockerd dind-init started as `owner` (the listener is checked,
/// `SO_PEERCRED`): HTTP/1.0, so the answer is the rest of the connection, no chunking. `body`
/// is streamed (the file of an image load); `opened` gets the connection first (so it can be
/// shut down from another thread); `limit` bounds the answer read.
pub fn request(
    socket: &Path,
    owner: i32,
    head: &str,
    body: Option<(&mut dyn Read, u64)>,
    opened: &dyn Fn(&UnixStream),
    limit: u64,
) -> Result<(u16, Vec<u8>), String> {
    let sock = socket.display();
    let mut s = UnixStream::connect(socket).map_err(|e| format!("connect {sock}: {e}"))?;
    let peer = owner::peer_pid(&s);
    if !peer.is_some_and(|p| owner::peer_is_ours(p, owner, owner::parent_from_proc)) {
        return Err(owner::not_ours_message("dockerd", socket, peer, owner));
    }
    opened(&s);
    let mut req = format!("{head} HTTP/1.0\r\nHost: docker\r\nUser-Agent: dind-init\r\n");
    if let Some((_, len)) = &body {
        req.push_str(&format!("Content-Type: application/x-tar\r\nContent-Length: {len}\r\n"));
    }
    req.push_str("\r\n");
    let mut sent = s.write_all(req.as_bytes());
    if let (Ok(()), Some((r, len))) = (&sent, body) {
        sent = match std::io::copy(&mut r.take(len), &mut s) {
            Ok(n) if n == len => Ok(()),
            Ok(n) => Err(std::io::Error::other(format!("the file ended after {n} of {len} bytes"))),
            Err(e) => Err(e),
        };
    }
    // dockerd may answer (an error) before it read everything: its answer first, if any.
    let mut buf = Vec::new();
    let read = (&mut s).take(limit).read_to_end(&mut buf);
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n");
    match (status_code(&buf), split) {
        (Some(code), Some(at)) if code > 0 => Ok((code, buf.split_off(at + 4))),
        _ => Err(match (sent, read) {
            (Err(e), _) | (_, Err(e)) => format!("{sock}: {e}"),
            _ => format!("{sock} closed the connection without an answer"),
        }),
    }
}

/// The status code of an HTTP response once its status line is complete.
pub fn status_code(buf: &[u8]) -> Option<u16> {
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&buf[..end]).ok()?;
    let mut parts = line.split(' ');
    let proto = parts.next()?;
    if !proto.starts_with("HTTP/") {
        return Some(0);
    }
    parts.next()?.parse().ok().or(Some(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::TempDir;
    use std::os::unix::net::UnixListener;

    #[test]
    fn status_lines() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(status_code(b"HTTP/1.0 500 Internal\r\nx"), Some(500));
        assert_eq!(status_code(b"HTTP/1.1 200 OK"), None);
        assert_eq!(status_code(b"garbage\r\n"), Some(0));
    }

    #[test]
    fn retries_back_off_after_two_seconds() {
        assert_eq!(retry_delay(Duration::ZERO), Duration::from_millis(5));
        assert_eq!(retry_delay(Duration::from_millis(1999)), Duration::from_millis(5));
        assert_eq!(retry_delay(Duration::from_secs(4)), Duration::from_millis(200));
        assert_eq!(retry_delay(Duration::from_secs(600)), Duration::from_millis(500));
        let mut last = Duration::ZERO;
        for ms in (0..20_000).step_by(100) {
            let d = retry_delay(Duration::from_millis(ms));
            assert!(d >= last, "not monotonic at {ms} ms");
            last = d;
        }
    }

    #[test]
    fn probe_against_a_socket() {
        let dir = TempDir::new("probe");
        let sock = dir.path().join("d.sock");
        // Not there yet: not ready, error names the socket.
        let mut p = Probe::new(&sock);
        assert_eq!(p.step(Instant::now()), Ok(false));
        assert!(p.last_error.contains("d.sock"), "{}", p.last_error);
        let l = UnixListener::bind(&sock).unwrap();
        let server = std::thread::spawn(move || {
            for (i, s) in l.incoming().take(2).enumerate() {
                let mut s = s.unwrap();
                let mut b = [0u8; 256];
                let n = s.read(&mut b).unwrap();
                assert!(std::str::from_utf8(&b[..n]).unwrap().starts_with("GET /_ping "));
                let answer: &[u8] = if i == 0 {
                    b"HTTP/1.1 503 Busy\r\n\r\n"
                } else {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"
                };
                s.write_all(answer).unwrap();
            }
        });
        assert!(Probe::check(&sock, Duration::from_secs(5)).is_ok());
        server.join().unwrap();
    }

    #[test]
    fn a_connection_alone_is_not_ready() {
        let dir = TempDir::new("probe-accept");
        let sock = dir.path().join("d.sock");
        let _l = UnixListener::bind(&sock).unwrap(); // accepts (backlog), never answers
        let e = Probe::check(&sock, Duration::from_millis(300)).unwrap_err();
        assert!(e.contains("d.sock"), "{e}");
    }

    #[test]
    fn connect_only_is_ready_on_accept() {
        let dir = TempDir::new("probe-connect");
        let sock = dir.path().join("c.sock");
        let me = std::process::id() as i32;
        let mut p = Probe::connect_only(&sock, "containerd", me);
        assert_eq!(p.step(Instant::now()), Ok(false));
        let _l = UnixListener::bind(&sock).unwrap();
        assert_eq!(p.step(Instant::now() + Duration::from_millis(10)), Ok(true));
    }

    /// The listener here is this test process: a probe that expects another pid (a child
    /// that listens on nothing) must refuse it at once, before sending a byte; a probe that
    /// expects this process is answered.
    #[test]
    fn a_listener_that_is_not_the_started_daemon_is_refused() {
        let dir = TempDir::new("probe-foreign");
        let sock = dir.path().join("d.sock");
        let l = UnixListener::bind(&sock).unwrap();
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let other = child.id() as i32;
        let mut p = Probe::owned(&sock, other);
        let e = p.step(Instant::now()).unwrap_err();
        let me = std::process::id();
        assert!(e.contains(&format!("answered by pid {me}")), "{e}");
        assert!(e.contains(&format!("dockerd dind-init started (pid {other})")), "{e}");
        assert!(e.contains("Docker-outside-of-Docker"), "{e}");
        // Sticky: later steps say the same, and nothing was sent to the foreign listener.
        assert_eq!(p.step(Instant::now()).unwrap_err(), e);
        l.set_nonblocking(true).unwrap();
        let (mut s, _) = l.accept().unwrap();
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 16];
        assert!(matches!(s.read(&mut b), Ok(0)), "the probe talked to a foreign daemon");
        let mut p = Probe::connect_only(&sock, "containerd", other);
        assert!(p.step(Instant::now()).unwrap_err().contains("not by the containerd"));
        drop(l.accept().unwrap()); // that probe's connection, closed
                                   // Ours: /_ping answered.
        let server = std::thread::spawn(move || {
            l.set_nonblocking(false).unwrap();
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 256];
            let _ = s.read(&mut b).unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK").unwrap();
        });
        let mut p = Probe::owned(&sock, me as i32);
        let until = Instant::now() + Duration::from_secs(5);
        while !p.step(Instant::now()).unwrap() {
            assert!(Instant::now() < until, "{}", p.last_error);
            std::thread::sleep(Duration::from_millis(5));
        }
        server.join().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn check_times_out_with_reason() {
        let sock = Path::new("/nonexistent/dind-init/x.sock");
        let e = Probe::check(sock, Duration::from_millis(100)).unwrap_err();
        assert!(e.contains("/nonexistent/dind-init/x.sock"), "{e}");
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;
        proptest! {
            #![proptest_config(ProptestConfig {
                cases: crate::fuzz_cases(2000), ..ProptestConfig::default()
            })]
            #[test]
            fn status_code_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
                let _ = status_code(&b);
            }
        }
    }
}
