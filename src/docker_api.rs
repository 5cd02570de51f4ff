//! A very small Docker API client over dockerd's unix socket: the readiness probe
//! (`GET /_ping`, spoken by dind-init itself: no docker CLI in the image) and one-shot
//! requests. The probe never blocks: the supervisor polls its socket together with the
//! signalfd, so a connection accepted early is answered the instant the API starts
//! serving, and a SIGTERM during start-up is handled at once.

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
    conn: Option<Conn>,
    retry_at: Instant,
    pub attempts: u32,
    pub last_error: String,
}

impl Probe {
    pub fn new(socket: &Path) -> Probe {
        Probe::with(socket, true)
    }

    /// A probe that calls a socket ready once it accepts a connection.
    pub fn connect_only(socket: &Path) -> Probe {
        Probe::with(socket, false)
    }

    fn with(socket: &Path, ping: bool) -> Probe {
        let now = Instant::now();
        Probe {
            socket: socket.to_path_buf(),
            ping,
            started: now,
            conn: None,
            retry_at: now,
            attempts: 0,
            last_error: "not tried yet".into(),
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

    fn connect(&mut self) -> std::io::Result<UnixStream> {
        self.attempts += 1;
        let mut s = UnixStream::connect(&self.socket)?;
        s.write_all(PING)?;
        s.set_nonblocking(true)?;
        Ok(s)
    }

    fn retry_later(&mut self, now: Instant, why: String) {
        self.last_error = why;
        self.conn = None;
        self.retry_at = now + retry_delay(now - self.started);
    }

    /// Advances the probe; true once the daemon answered 200.
    pub fn step(&mut self, now: Instant) -> bool {
        if self.conn.is_none() {
            if now < self.retry_at {
                return false;
            }
            if !self.ping {
                self.attempts += 1;
                return match UnixStream::connect(&self.socket) {
                    Ok(_) => true,
                    Err(e) => {
                        self.retry_later(now, format!("connect {}: {e}", self.socket.display()));
                        false
                    }
                };
            }
            match self.connect() {
                Ok(stream) => self.conn = Some(Conn { stream, buf: Vec::new(), since: now }),
                Err(e) => {
                    self.retry_later(now, format!("connect {}: {e}", self.socket.display()));
                    return false;
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
                    return false;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.retry_later(now, format!("read {}: {e}", self.socket.display()));
                    return false;
                }
            }
        }
        let code = status_code(&conn.buf);
        self.conn = None;
        match code {
            Some(200) => true,
            Some(c) => {
                self.last_error =
                    format!("{} answered /_ping with HTTP {c}", self.socket.display());
                self.retry_at = now + RETRY_BAD_ANSWER;
                false
            }
            None => {
                let why =
                    format!("{} closed the connection without an answer", self.socket.display());
                self.retry_later(now, why);
                false
            }
        }
    }

    /// Blocking check for `dind-init health`: Ok once 200 arrives within `timeout`.
    pub fn check(socket: &Path, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut p = Probe::new(socket);
        loop {
            let now = Instant::now();
            if p.step(now) {
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
        assert!(!p.step(Instant::now()));
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
        let mut p = Probe::connect_only(&sock);
        assert!(!p.step(Instant::now()));
        let _l = UnixListener::bind(&sock).unwrap();
        assert!(p.step(Instant::now() + Duration::from_millis(10)));
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
