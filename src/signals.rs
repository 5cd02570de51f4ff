//! Signals, set up before anything else. One set, built once, is both what dind-init blocks
//! and what its signalfd reads (catatonit does the same), so no signal can arrive between
//! the two unhandled: the supervisor sees signals and child exits in one `poll` loop.
//! SIGCHLD is never ignored (the kernel would then reap for us and lose exit statuses): every
//! disposition dind-init inherited is reset to the default right after the block
//! (`reset_dispositions`), since a parent may have left SIGCHLD, SIGINT or SIGTERM ignored.
//! Children get the original mask back and default dispositions in `pre_exec`.

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

/// The kernel's `struct sigaction` (x86_64 and aarch64 alike: both have `sa_restorer`).
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// Sets every catchable signal's disposition back to SIG_DFL, but those in `keep`. An
/// ignored disposition survives exec: a parent that set SIGCHLD to SIG_IGN makes the kernel
/// reap our children itself (their exit statuses lost), one that ignored SIGINT/SIGTERM
/// would hand that on to the command. The raw rt_sigaction(2), not the C library's wrapper:
/// that one refuses the real-time signals it reserves (32 to 34 in musl), which a parent
/// can leave ignored too (seen: 32 and 33). dind-init uses none of them (no thread
/// cancellation, no timer threads). Async-signal-safe (system calls only): for `pre_exec` too.
pub fn reset_dispositions(keep: &[i32]) {
    let dfl = KernelSigaction { handler: libc::SIG_DFL, flags: 0, restorer: 0, mask: 0 };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP || keep.contains(&sig) {
            continue;
        }
        // SAFETY: rt_sigaction with a valid kernel sigaction (SIG_DFL, no flags, empty
        // mask), no old action to fill, and the kernel's sigset size (8 bytes).
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &dfl as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
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

/// Sends `sig` to a process group and, when it has left that group, to its leader too. A
/// leader still in the group gets the signal once: a second delivery would run a counting trap
/// twice, or turn one SIGINT into the "second Ctrl-C" many tools take as force-quit (seen under
/// qemu-user, where the first delivery lands before the second kill).
pub fn send_group_and_leader(pid: i32, sig: i32) {
    send(-pid, sig);
    // SAFETY: getpgid(2) takes a plain integer and touches no memory of ours.
    let pgid = unsafe { libc::getpgid(pid) };
    if pgid >= 0 && pgid != pid {
        send(pid, sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command still leading its own group gets a signal once, not once for the group and
    /// once more for the leader. Real-time signals queue, so a second delivery would be a
    /// second pending signal in the child (which blocks it and counts what is pending).
    #[test]
    fn a_leader_still_in_its_group_gets_the_signal_once() {
        let sig = libc::SIGRTMIN() + 1;
        let (mut ready, mut go) = ([0; 2], [0; 2]);
        // SAFETY: pipe(2) fills the two-element arrays.
        unsafe {
            assert_eq!(libc::pipe(ready.as_mut_ptr()), 0);
            assert_eq!(libc::pipe(go.as_mut_ptr()), 0);
        }
        // SAFETY: the child makes only async-signal-safe calls, then _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: async-signal-safe calls on our own locals.
            unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, sig);
                libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                libc::setpgid(0, 0);
                let b = 1u8;
                libc::write(ready[1], (&b as *const u8).cast(), 1);
                let mut r = 0u8;
                libc::read(go[0], (&mut r as *mut u8).cast(), 1);
                let now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
                let mut n = 0;
                while libc::sigtimedwait(&set, std::ptr::null_mut(), &now) == sig {
                    n += 1;
                }
                libc::_exit(n);
            }
        }
        let (mut b, mut status) = (0u8, 0);
        // SAFETY: plain reads, writes and waitpid on our pipe ends and child.
        unsafe {
            assert_eq!(libc::read(ready[0], (&mut b as *mut u8).cast(), 1), 1);
            send_group_and_leader(pid, sig);
            libc::write(go[1], (&b as *const u8).cast(), 1);
            assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
        }
        assert!(libc::WIFEXITED(status), "status {status:#x}");
        assert_eq!(libc::WEXITSTATUS(status), 1, "deliveries of one signal to the group leader");
    }

    /// Inherited SIG_IGN dispositions are reset, but those kept (std's SIGPIPE).
    #[test]
    fn dispositions_are_reset_to_default() {
        // SAFETY: the child only calls async-signal-safe functions, then _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: async-signal-safe calls in the forked child.
            unsafe {
                let act = |sig: i32, new: Option<usize>| {
                    let set = KernelSigaction {
                        handler: new.unwrap_or(0),
                        flags: 0,
                        restorer: 0,
                        mask: 0,
                    };
                    let mut old = KernelSigaction { handler: 99, flags: 0, restorer: 0, mask: 0 };
                    let p = if new.is_some() {
                        &set as *const KernelSigaction
                    } else {
                        std::ptr::null()
                    };
                    libc::syscall(
                        libc::SYS_rt_sigaction,
                        sig,
                        p,
                        &mut old as *mut KernelSigaction,
                        8usize,
                    );
                    old.handler
                };
                // 32 and 33: reserved by the C library, inherited ignored all the same.
                let tried = [libc::SIGCHLD, libc::SIGINT, libc::SIGTERM, 32, 33, 64];
                for s in tried.iter().chain(&[libc::SIGPIPE]) {
                    act(*s, Some(libc::SIG_IGN));
                }
                reset_dispositions(&[libc::SIGPIPE]);
                let mut bad = 0;
                for s in tried {
                    bad += (act(s, None) != libc::SIG_DFL) as i32;
                }
                bad += 10 * (act(libc::SIGPIPE, None) != libc::SIG_IGN) as i32;
                libc::_exit(bad);
            }
        }
        let mut status = 0;
        // SAFETY: waitpid on our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status), "status {status:#x}");
        assert_eq!(libc::WEXITSTATUS(status), 0, "1 per signal left ignored, 10: SIGPIPE reset");
    }

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
