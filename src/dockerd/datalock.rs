//! A data root that two daemons never share. Two dockerds (or containerds) on one
//! `/var/lib/docker` corrupt it; the second one today waits on boltdb's lock and fails with
//! "timeout waiting for containerd to start", saying nothing of why. So before it starts
//! anything, dind-init takes an exclusive `flock` on `DATA_ROOT/dind-init.lock` and holds it
//! (the fd, `O_CLOEXEC`, no child inherits it) for its whole life. The kernel releases it when
//! the holder dies, SIGKILL included: a lock is never stale. The holder writes its name into
//! the file (host name, pid, since when), so a second dind-init, which waits up to
//! `--data-root-wait` (a predecessor may still be stopping), can name it when it gives up
//! (exit 125).
//!
//! Pure here: the holder's record (`Holder`), the time format, the decision at each step
//! (`next`); the lock and the wait below them.

use crate::error::{Error, PathError};
use crate::events::Dec;
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The lock file's name in the data root.
pub const LOCK_FILE: &str = "dind-init.lock";
/// How often a waiting dind-init tries again (and looks for a terminating signal).
pub const STEP: Duration = Duration::from_millis(100);

/// Who holds the lock, as its lock file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    /// Since when it holds the lock, in seconds since the epoch.
    pub since: u64,
}

impl Holder {
    /// The lock file's content: one `key=value` a line; `since` readable, `unix` for reading
    /// back.
    pub fn record(&self) -> String {
        format!(
            "host={}\npid={}\nsince={}\nunix={}\n",
            one_word(&self.host),
            self.pid,
            rfc3339(self.since),
            self.since
        )
    }

    /// A lock file's content read back; `None` when it names no holder (empty: the holder is
    /// just writing it, or an unknown file).
    pub fn parse(text: &str) -> Option<Holder> {
        let get = |k: &str| {
            text.lines().find_map(|l| l.strip_prefix(k)?.strip_prefix('=')).map(str::trim)
        };
        Some(Holder {
            host: get("host")?.to_string(),
            pid: get("pid")?.parse().ok()?,
            since: get("unix")?.parse().ok()?,
        })
    }

    /// For the log and the event: `host=abc123 pid=1 since=2026-01-02T03:04:05Z`.
    pub fn one_line(&self) -> String {
        format!("host={} pid={} since={}", one_word(&self.host), self.pid, rfc3339(self.since))
    }

    /// For people: `host abc123, pid 1, since 2026-01-02T03:04:05Z, 12 s ago`.
    pub fn describe(&self, now: u64) -> String {
        format!(
            "host {}, pid {}, since {}, {} s ago",
            one_word(&self.host),
            self.pid,
            rfc3339(self.since),
            now.saturating_sub(self.since)
        )
    }
}

/// A host name as one word: blanks and control characters (`sethostname` allows any byte)
/// become `?`, so the record stays one line a key.
fn one_word(s: &str) -> String {
    let w: String =
        s.chars().map(|c| if c.is_whitespace() || c.is_control() { '?' } else { c }).collect();
    if w.is_empty() {
        "?".into()
    } else {
        w
    }
}

/// `2026-01-02T03:04:05Z` (RFC 3339, UTC).
pub fn rfc3339(unix: u64) -> String {
    let (y, mo, d) = crate::tls::civil_from_days((unix / 86_400) as i64);
    let s = unix % 86_400;
    format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

/// What a waiting dind-init does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Sleep this long, then try the lock again.
    Retry(Duration),
    /// The bound is reached: exit 125 naming the holder.
    GiveUp,
    /// A terminating signal is pending (SIGTERM, SIGINT, SIGQUIT, SIGHUP, as the signal policy
    /// aborts a start): end at once, 128+N.
    Interrupted(i32),
}

/// The decision after a failed try: `waited` so far of `bound`, the signals pending.
pub fn next(waited: Duration, bound: Duration, pending: &[i32]) -> Next {
    use crate::lifecycle::{class, policy, Policy, Stage};
    if let Some(&s) =
        pending.iter().find(|&&s| policy(Stage::Starting, class(s)) == Policy::AbortStart)
    {
        return Next::Interrupted(s);
    }
    if waited >= bound {
        return Next::GiveUp;
    }
    Next::Retry(STEP.min(bound - waited))
}

/// The lock, held while this lives (dind-init keeps it until it exits).
#[derive(Debug)]
pub struct DataLock {
    _lock: Flock<File>,
}

/// How the wait for the lock ended, when it did not end in an error.
#[derive(Debug)]
pub enum Taken {
    /// Held (`None`: it could not be taken for a reason other than another holder, which was
    /// logged: dind-init goes on without it, as before the lock existed).
    Held(Option<DataLock>),
    /// A terminating signal arrived while waiting: nothing was started; exit 128+N.
    Interrupted(i32),
}

/// The terminating signals pending for dind-init (they are blocked: they wait for the
/// supervisor's signalfd, and stay pending when they are not terminating).
fn pending_terminating() -> Vec<i32> {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigpending(2) fills the sigset_t we pass; it is read only when it succeeded.
    let set = unsafe {
        if libc::sigpending(set.as_mut_ptr()) != 0 {
            return Vec::new();
        }
        set.assume_init()
    };
    [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT, libc::SIGHUP]
        .into_iter()
        // SAFETY: sigismember(3) reads the initialised set; the signal numbers are valid.
        .filter(|&s| unsafe { libc::sigismember(&set, s) } == 1)
        .collect()
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The holder the lock file names, read through our own fd.
fn read_holder(f: &File) -> Option<Holder> {
    let mut buf = [0u8; 1024];
    let n = f.read_at(&mut buf, 0).ok()?;
    Holder::parse(&String::from_utf8_lossy(&buf[..n]))
}

/// Opens (creates, 0644) the lock file in `data_root`, creating the data root (0711, as
/// dockerd does) when it is missing. `O_NOFOLLOW`: a link planted on a shared volume is not
/// followed; `O_CLOEXEC` (std's default): dockerd and the command never hold the lock.
fn open(data_root: &Path) -> Result<(File, PathBuf), PathError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(data_root)
        .map_err(|e| PathError::new("create directory", data_root, e))?;
    let path = data_root.join(LOCK_FILE);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| PathError::new("open", &path, e))?;
    Ok((f, path))
}

/// Writes our name into the lock file we hold: truncate, then one write at 0.
fn write_holder(f: &File, path: &Path, me: &Holder) -> Result<(), PathError> {
    let err = |e| PathError::new("write", path, e);
    f.set_len(0).map_err(err)?;
    f.write_all_at(me.record().as_bytes(), 0).map_err(err)
}

/// Takes the data root's lock, waiting up to `bound` for another holder; the time-out is an
/// error (125) that names the holder and the fix.
pub fn take(data_root: &Path, bound: Duration) -> Result<Taken, Error> {
    take_with(data_root, bound, pending_terminating)
}

fn take_with(
    data_root: &Path,
    bound: Duration,
    pending: impl Fn() -> Vec<i32>,
) -> Result<Taken, Error> {
    let t0 = Instant::now();
    let (mut file, path) = match open(data_root) {
        Ok(x) => x,
        Err(e) => {
            log::warn!(
                "data root: {e}: going on without its lock (two daemons on it are not stopped)"
            );
            return Ok(Taken::Held(None));
        }
    };
    let mut waited_for: Option<Holder> = None;
    let mut said = false;
    loop {
        file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => {
                let me = Holder {
                    host: nix::unistd::gethostname()
                        .ok()
                        .and_then(|h| h.into_string().ok())
                        .unwrap_or_default(),
                    pid: std::process::id(),
                    since: unix_now(),
                };
                if let Err(e) = write_holder(&lock, &path, &me) {
                    log::warn!(
                        "data root: {e}: the lock is held, but a waiting one cannot name us"
                    );
                }
                let waited = Dec(t0.elapsed().as_secs_f64());
                let before = waited_for.as_ref().map(Holder::one_line).unwrap_or_default();
                crate::event!(
                    Info,
                    "data-root-lock",
                    { path = path.display().to_string(), waited = waited, holder = before },
                    "data root {}: locked ({}){}",
                    data_root.display(),
                    path.display(),
                    match &waited_for {
                        Some(h) => format!(" after {waited:.3}s, once {} had let go", h.one_line()),
                        None if said => format!(" after {waited:.3}s"),
                        None => String::new(),
                    }
                );
                return Ok(Taken::Held(Some(DataLock { _lock: lock })));
            }
            Err((f, nix::errno::Errno::EWOULDBLOCK)) => f,
            Err((_, e)) => {
                log::warn!(
                    "data root: cannot lock {}: {}: going on without the lock (two daemons on \
                     it are not stopped)",
                    path.display(),
                    e.desc()
                );
                return Ok(Taken::Held(None));
            }
        };
        if let Some(h) = read_holder(&file) {
            waited_for = Some(h);
        }
        let holder = |h: &Option<Holder>| match h {
            Some(h) => h.describe(unix_now()),
            None => "a holder that has not written its name yet".into(),
        };
        if !said {
            said = true;
            log::warn!(
                "data root {} is in use by another dind-init ({}): waiting up to {:.1}s for it to \
                 let go (--data-root-wait)",
                data_root.display(),
                holder(&waited_for),
                Dec(bound.as_secs_f64())
            );
        }
        match next(t0.elapsed(), bound, &pending()) {
            Next::Retry(d) => std::thread::sleep(d),
            Next::Interrupted(sig) => {
                log::warn!(
                    "{} while waiting for the data root's lock: exiting, nothing was started",
                    crate::signals::name(sig)
                );
                return Ok(Taken::Interrupted(sig));
            }
            Next::GiveUp => {
                let waited = Dec(t0.elapsed().as_secs_f64());
                let h = read_holder(&file).or(waited_for);
                crate::event!(
                    Info,
                    "data-root-busy",
                    {
                        path = path.display().to_string(),
                        waited = waited,
                        holder = h.as_ref().map(Holder::one_line).unwrap_or_default(),
                    },
                    "data root {}: still held after {waited:.3}s: giving up",
                    data_root.display()
                );
                return Err(Error::Setup(format!(
                    "data root {} is in use by another dind-init ({}), still after {waited:.1}s \
                     (--data-root-wait, DIND_DATA_ROOT_WAIT): two daemons on one data root \
                     corrupt it. Give each DinD container its own volume for {}, or let the \
                     other job stop first (a longer --data-root-wait)",
                    data_root.display(),
                    holder(&h),
                    data_root.display()
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::TempDir;

    fn me() -> Holder {
        Holder { host: "abc123".into(), pid: 4242, since: 1_767_323_045 }
    }

    #[test]
    fn the_record_reads_back_and_names_the_holder() {
        let h = me();
        assert_eq!(
            h.record(),
            "host=abc123\npid=4242\nsince=2026-01-02T03:04:05Z\nunix=1767323045\n"
        );
        assert_eq!(Holder::parse(&h.record()), Some(h.clone()));
        assert_eq!(h.one_line(), "host=abc123 pid=4242 since=2026-01-02T03:04:05Z");
        assert_eq!(
            h.describe(1_767_323_057),
            "host abc123, pid 4242, since 2026-01-02T03:04:05Z, 12 s ago"
        );
        // A clock that went back says 0, never a huge number.
        assert!(h.describe(0).ends_with(", 0 s ago"));
        // Empty (the holder is writing it), partial or foreign: no holder.
        for t in ["", "host=x\n", "host=x\npid=y\nunix=1\n", "garbage"] {
            assert_eq!(Holder::parse(t), None, "{t:?}");
        }
        // A host name with blanks stays one word a line.
        let odd = Holder { host: "a b\nc".into(), ..me() };
        assert_eq!(Holder::parse(&odd.record()).unwrap().host, "a?b?c");
        assert_eq!(
            Holder { host: String::new(), ..me() }.one_line().split(' ').next(),
            Some("host=?")
        );
    }

    #[test]
    fn rfc3339_is_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn the_wait_retries_in_steps_until_the_bound_and_a_terminating_signal_ends_it() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        assert_eq!(next(s(0), s(10), &[]), Next::Retry(STEP));
        assert_eq!(next(ms(9_950), s(10), &[]), Next::Retry(ms(50)));
        assert_eq!(next(s(10), s(10), &[]), Next::GiveUp);
        assert_eq!(next(s(0), s(0), &[]), Next::GiveUp);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT, libc::SIGHUP] {
            assert_eq!(next(s(0), s(10), &[sig]), Next::Interrupted(sig));
            assert_eq!(next(s(11), s(10), &[libc::SIGWINCH, sig]), Next::Interrupted(sig));
        }
        // Others stay pending for the supervisor; the wait goes on.
        assert_eq!(
            next(s(1), s(10), &[libc::SIGCHLD, libc::SIGWINCH, libc::SIGUSR1]),
            Next::Retry(STEP)
        );
    }

    /// flock locks belong to the open file description: two opens of one file conflict, in
    /// one process as between two containers.
    #[test]
    fn a_second_open_waits_the_bound_then_names_the_holder_and_gets_it_once_released() {
        let d = TempDir::new("datalock");
        let root = d.join("docker");
        let first = match take(&root, Duration::ZERO).unwrap() {
            Taken::Held(Some(l)) => l,
            t => panic!("{t:?}"),
        };
        let path = root.join(LOCK_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        let h = Holder::parse(&text).unwrap();
        assert_eq!(h.pid, std::process::id(), "{text}");
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&root), 0o711 & !umask());
        assert_eq!(mode(&path), 0o644 & !umask());

        let t = Instant::now();
        let e = take_with(&root, Duration::from_millis(300), Vec::new).unwrap_err();
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(2), "{took:?}");
        assert_eq!(e.exit_code(), crate::error::EXIT_SETUP);
        let msg = e.to_string();
        for want in [
            format!("pid {}", std::process::id()),
            format!("host {}", h.host),
            format!("since {}", rfc3339(h.since)),
            "--data-root-wait".into(),
            "its own volume".into(),
        ] {
            assert!(msg.contains(&want), "{want:?} not in {msg}");
        }

        // A terminating signal ends the wait at once.
        let t = Instant::now();
        let r = take_with(&root, Duration::from_secs(10), || vec![libc::SIGTERM]).unwrap();
        assert!(matches!(r, Taken::Interrupted(libc::SIGTERM)), "{r:?}");
        assert!(t.elapsed() < Duration::from_secs(1));

        // Released (the holder gone): the next one takes it at once and rewrites the record
        // (truncated: a longer old record leaves nothing behind).
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .write_all_at(&[b'x'; 600], 0)
            .unwrap();
        drop(first);
        let t = Instant::now();
        let second = take_with(&root, Duration::from_secs(10), Vec::new).unwrap();
        assert!(matches!(second, Taken::Held(Some(_))), "{second:?}");
        assert!(t.elapsed() < Duration::from_secs(1));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(Holder::parse(&text).is_some() && !text.contains("xx"), "{text}");
    }

    /// The lock's fd is close-on-exec: dockerd and the command never hold it.
    #[test]
    fn the_lock_fd_is_close_on_exec() {
        let d = TempDir::new("datalock-cloexec");
        let (f, _) = open(d.path()).unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: fcntl(F_GETFD) on an fd we own reads its flags only.
        let flags = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFD) };
        assert!(flags & libc::FD_CLOEXEC != 0, "{flags}");
    }

    fn umask() -> u32 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        s.lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            .unwrap_or(0o022)
    }
}
