//! Readiness: dind-init speaks `GET /_ping` to dockerd itself (no docker CLI in the image)
//! and calls the daemon ready on `200 OK`. The probe never blocks: the supervisor polls its
//! socket together with the signal fd, so a connection accepted early is answered the
//! instant the API starts serving, and SIGTERM is handled at once during start-up.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where dockerd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl Target {
    /// The value for DOCKER_HOST.
    pub fn docker_host(&self) -> String {
        match self {
            Target::Unix(p) => format!("unix://{}", p.display()),
            Target::Tcp(a) => format!("tcp://{a}"),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Unix(p) => write!(f, "{}", p.display()),
            Target::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn fd(&self) -> RawFd {
        match self {
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tcp(s) => s.as_raw_fd(),
        }
    }
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    since: Instant,
}

const REQUEST: &[u8] = b"GET /_ping HTTP/1.1\r\nHost: docker\r\nUser-Agent: dind-init\r\nConnection: close\r\n\r\n";
/// Between failed connection attempts (socket not there yet, refused).
const RETRY: Duration = Duration::from_millis(5);
/// After an answer other than 200 (daemon up but unhealthy).
const RETRY_BAD_ANSWER: Duration = Duration::from_millis(100);
/// A connection that got no answer this long is replaced.
const STALL: Duration = Duration::from_secs(2);

pub struct Probe {
    pub target: Target,
    conn: Option<Conn>,
    retry_at: Instant,
    pub attempts: u32,
    pub last_error: String,
}

impl Probe {
    pub fn new(target: Target) -> Probe {
        Probe { target, conn: None, retry_at: Instant::now(), attempts: 0, last_error: "not tried yet".into() }
    }

    /// The fd to wait on for readability, while a request is in flight.
    pub fn fd(&self) -> Option<RawFd> {
        self.conn.as_ref().map(|c| c.stream.fd())
    }

    /// How long the caller may sleep before calling `step` again.
    pub fn next_wakeup(&self, now: Instant) -> Duration {
        match &self.conn {
            Some(c) => (c.since + STALL).saturating_duration_since(now),
            None => self.retry_at.saturating_duration_since(now),
        }
    }

    fn connect(&mut self) -> std::io::Result<Stream> {
        self.attempts += 1;
        let mut s = match &self.target {
            Target::Unix(p) => Stream::Unix(UnixStream::connect(p)?),
            Target::Tcp(a) => Stream::Tcp(TcpStream::connect_timeout(a, Duration::from_millis(200))?),
        };
        match &mut s {
            Stream::Unix(u) => {
                u.write_all(REQUEST)?;
                u.set_nonblocking(true)?;
            }
            Stream::Tcp(t) => {
                t.write_all(REQUEST)?;
                t.set_nonblocking(true)?;
            }
        }
        Ok(s)
    }

    /// Advances the probe; true once the daemon answered 200.
    pub fn step(&mut self, now: Instant) -> bool {
        if self.conn.is_none() {
            if now < self.retry_at {
                return false;
            }
            match self.connect() {
                Ok(stream) => self.conn = Some(Conn { stream, buf: Vec::new(), since: now }),
                Err(e) => {
                    self.last_error = format!("connect {}: {e}", self.target);
                    self.retry_at = now + RETRY;
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
                        self.last_error = format!("no answer from {} within {STALL:?}", self.target);
                        self.conn = None;
                        self.retry_at = now;
                    }
                    return false;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.last_error = format!("read {}: {e}", self.target);
                    self.conn = None;
                    self.retry_at = now + RETRY;
                    return false;
                }
            }
        }
        let code = status_code(&conn.buf);
        self.conn = None;
        match code {
            Some(200) => true,
            Some(c) => {
                self.last_error = format!("{} answered /_ping with HTTP {c}", self.target);
                self.retry_at = now + RETRY_BAD_ANSWER;
                false
            }
            None => {
                self.last_error = format!("{} closed the connection without an HTTP answer", self.target);
                self.retry_at = now + RETRY;
                false
            }
        }
    }

    /// Blocking check used by `dind-init health`: true when 200 arrives within `timeout`.
    pub fn check(target: Target, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut p = Probe::new(target);
        loop {
            let now = Instant::now();
            if p.step(now) {
                return Ok(());
            }
            if now >= deadline {
                return Err(p.last_error);
            }
            // Keep the health check cheap: a refused socket is retried a few times a second.
            let wait = p.next_wakeup(now).max(Duration::from_millis(50)).min(deadline - now);
            match p.fd() {
                Some(fd) => {
                    let mut pfd = [libc::pollfd { fd, events: libc::POLLIN, revents: 0 }];
                    unsafe { libc::poll(pfd.as_mut_ptr(), 1, wait.as_millis().min(i32::MAX as u128) as i32) };
                }
                None => std::thread::sleep(wait),
            }
        }
    }
}

/// One blocking HTTP/1.0 request over the daemon's socket (HTTP/1.0: no chunked encoding,
/// the daemon closes the connection after the body). Returns the status and the body.
pub fn request(target: &Target, method: &str, path: &str, timeout: Duration) -> std::io::Result<(u16, String)> {
    let req = format!("{method} {path} HTTP/1.0\r\nHost: docker\r\nUser-Agent: dind-init\r\nContent-Length: 0\r\n\r\n");
    let mut buf = Vec::new();
    match target {
        Target::Unix(p) => {
            let mut s = UnixStream::connect(p)?;
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))?;
            s.write_all(req.as_bytes())?;
            s.read_to_end(&mut buf)?;
        }
        Target::Tcp(a) => {
            let mut s = TcpStream::connect_timeout(a, timeout)?;
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))?;
            s.write_all(req.as_bytes())?;
            s.read_to_end(&mut buf)?;
        }
    }
    let code = status_code(&buf).unwrap_or(0);
    let body = match buf.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => String::from_utf8_lossy(&buf[i + 4..]).into_owned(),
        None => String::new(),
    };
    Ok((code, body))
}

/// The `"Id":"..."` values of a container list (a JSON reader for one field).
pub fn container_ids(json: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = json;
    while let Some(i) = rest.find("\"Id\":\"") {
        rest = &rest[i + 6..];
        let Some(end) = rest.find('"') else { break };
        let id = &rest[..end];
        if !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            out.push(id.to_string());
        }
        rest = &rest[end..];
    }
    out
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
    use std::os::unix::net::UnixListener;

    #[test]
    fn ids_from_a_container_list() {
        let j = r#"[{"Id":"8dfafdbc3a40","Names":["/a"],"Labels":{"Id":"x"}},{"Id":"9cd87474be90","Names":["/b"]}]"#;
        assert_eq!(container_ids(j), vec!["8dfafdbc3a40", "9cd87474be90"]);
        assert!(container_ids("[]").is_empty());
        assert!(container_ids("{\"Id\":\"unterminated").is_empty());
        assert!(container_ids("{\"Id\":\"../etc\"}").is_empty());
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(status_code(b"HTTP/1.0 500 Internal\r\nx"), Some(500));
        assert_eq!(status_code(b"HTTP/1.1 200 OK"), None);
        assert_eq!(status_code(b"garbage\r\n"), Some(0));
    }

    #[test]
    fn probe_against_a_socket() {
        let dir = std::env::temp_dir().join(format!("dind-init-ready-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("d.sock");
        let _ = std::fs::remove_file(&sock);
        // Not there yet: not ready, error names the socket.
        let mut p = Probe::new(Target::Unix(sock.clone()));
        assert!(!p.step(Instant::now()));
        assert!(p.last_error.contains("d.sock"), "{}", p.last_error);
        let l = UnixListener::bind(&sock).unwrap();
        let server = std::thread::spawn(move || {
            for (i, s) in l.incoming().take(2).enumerate() {
                let mut s = s.unwrap();
                let mut b = [0u8; 256];
                let n = s.read(&mut b).unwrap();
                assert!(std::str::from_utf8(&b[..n]).unwrap().starts_with("GET /_ping "));
                let answer: &[u8] = if i == 0 { b"HTTP/1.1 503 Busy\r\n\r\n" } else { b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK" };
                s.write_all(answer).unwrap();
            }
        });
        assert!(Probe::check(Target::Unix(sock.clone()), Duration::from_secs(5)).is_ok());
        server.join().unwrap();
        drop(std::fs::remove_dir_all(&dir));
    }

    #[test]
    fn check_times_out_with_reason() {
        let e = Probe::check(Target::Unix("/nonexistent/dind-init/x.sock".into()), Duration::from_millis(100)).unwrap_err();
        assert!(e.contains("/nonexistent/dind-init/x.sock"), "{e}");
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;
        proptest! {
            #![proptest_config(ProptestConfig { cases: crate::fuzz_cases(2000), ..ProptestConfig::default() })]
            #[test]
            fn status_code_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) { let _ = status_code(&b); }
            #[test]
            fn container_ids_never_panic(s in "\\PC{0,80}") { let _ = container_ids(&s); }
        }
    }
}
