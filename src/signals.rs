//! Signals, set up before anything else: every signal but the fault signals is blocked and
//! read from a signalfd, so the supervisor sees signals, child exits and readiness in one
//! `poll` loop. SIGCHLD is never ignored (that would make the kernel reap for us and lose
//! exit statuses). Children get the original mask back in `pre_exec`.

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// Signals left unblocked: a fault in dind-init itself must still kill it.
const FAULTS: &[Signal] = &[Signal::SIGSEGV, Signal::SIGBUS, Signal::SIGFPE, Signal::SIGILL, Signal::SIGTRAP, Signal::SIGSYS, Signal::SIGABRT];

/// Blocks every catchable signal but the fault signals; returns the mask we started with.
pub fn block_all() -> libc::sigset_t {
    let mut set = SigSet::all();
    for s in FAULTS {
        set.remove(*s);
    }
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigemptyset(&mut old);
        libc::pthread_sigmask(libc::SIG_SETMASK, set.as_ref(), &mut old);
    }
    old
}

/// A signalfd for every blocked signal (real-time ones included).
pub fn signal_fd() -> nix::Result<SignalFd> {
    let mut set = SigSet::all();
    for s in FAULTS {
        set.remove(*s);
    }
    SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}

/// Reads every pending signal number.
pub fn drain(fd: &mut SignalFd) -> Vec<i32> {
    let mut out = Vec::new();
    while let Ok(Some(info)) = fd.read_signal() {
        out.push(info.ssi_signo as i32);
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

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn names() {
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
        assert_eq!(name(libc::SIGRTMIN() + 3), "SIGRTMIN+3");
        assert_eq!(name(0), "signal 0");
    }
}
