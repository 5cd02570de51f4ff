//! Signals, set up before anything else. One set, built once, is both what dind-init blocks
//! and what its signalfd reads (catatonit does the same), so no signal can arrive between
//! the two unhandled: the supervisor sees signals and child exits in one `poll` loop.
//! SIGCHLD is never ignored (the kernel would then reap for us and lose exit statuses).
//! Children get the original mask back in `pre_exec` (`restore_in_child`).

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// Signals left unblocked: a fault in dind-init itself must still kill it.
const FAULTS: &[Signal] = &[
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGTRAP,
    Signal::SIGSYS,
    Signal::SIGABRT,
];

/// Every catchable signal but the fault signals, real-time ones included.
pub fn handled() -> SigSet {
    let mut set = SigSet::all();
    for s in FAULTS {
        set.remove(*s);
    }
    set
}

/// The mask dind-init started with, to give back to its children.
#[derive(Clone, Copy)]
pub struct OriginalMask(SigSet);

/// Blocks `set` (from `handled()`); returns the mask we started with.
pub fn block(set: &SigSet) -> nix::Result<OriginalMask> {
    let mut old = SigSet::empty();
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(set), Some(&mut old))?;
    Ok(OriginalMask(old))
}

impl OriginalMask {
    /// Restores the original mask. Async-signal-safe (one sigprocmask call): for
    /// `pre_exec`, between fork and exec, and for `dind-init health`.
    pub fn restore(&self) -> std::io::Result<()> {
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.0), None)
            .map_err(std::io::Error::from)
    }
}

/// A signalfd for the same set.
pub fn signal_fd(set: &SigSet) -> nix::Result<SignalFd> {
    SignalFd::with_flags(set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}

/// One signal read from the signalfd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub signo: i32,
    /// The sender's pid in our PID namespace (0 when it is outside, e.g. `docker stop`).
    pub pid: i32,
}

/// Reads every pending signal, dropping those dind-init caused itself: a write of its own
/// to a closed pipe raises SIGPIPE with its own pid as the sender, and that one must not
/// be forwarded to the command (it would die of it).
pub fn drain(fd: &mut SignalFd) -> Vec<Received> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    while let Ok(Some(info)) = fd.read_signal() {
        let r = Received { signo: info.ssi_signo as i32, pid: info.ssi_pid as i32 };
        // Not logged: a log line to the same closed pipe would raise the next one.
        if r.pid == me && r.signo != libc::SIGCHLD {
            continue;
        }
        out.push(r);
    }
    out
}

/// A signal's name for logs: SIGTERM, SIGRTMIN+3, or its number.
pub fn name(sig: i32) -> String {
    if let Ok(s) = Signal::try_from(sig) {
        return s.as_str().to_string();
    }
    let rtmin = libc::SIGRTMIN();
    if sig >= rtmin && sig <= libc::SIGRTMAX() {
        return format!("SIGRTMIN+{}", sig - rtmin);
    }
    format!("signal {sig}")
}

/// Sends `sig` to `pid` (negative: a process group). A process that is already gone is not
/// an error worth more than a debug line.
pub fn send(pid: i32, sig: i32) -> bool {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let r = unsafe { libc::kill(pid, sig) };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        log::debug!("kill({pid}, {}): {e}", name(sig));
    }
    r == 0
}

/// Sends `sig` to a process group and to its leader (which may have left the group).
pub fn send_group_and_leader(pid: i32, sig: i32) {
    send(-pid, sig);
    send(pid, sig);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
        assert_eq!(name(libc::SIGRTMIN() + 3), "SIGRTMIN+3");
        assert_eq!(name(0), "signal 0");
    }

    #[test]
    fn the_set_keeps_faults_deliverable() {
        let s = handled();
        assert!(s.contains(Signal::SIGTERM) && s.contains(Signal::SIGCHLD));
        assert!(!s.contains(Signal::SIGSEGV) && !s.contains(Signal::SIGABRT));
    }
}
