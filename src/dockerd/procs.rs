//! The process table, and which processes in it are dind-init's own. dind-init signals only
//! processes it can prove are its own: as PID 1, or as a child subreaper when it is not (see
//! `lib.rs`), every process its children fork stays in its descendant tree, so "owned" means
//! "a descendant of our pid", found by walking ppid links down from `getpid()` in a /proc
//! snapshot. A name proves nothing: a process called `containerd-shim` that is not in our
//! tree (another container's, under `--pid=host` or `--pid=container:X`) is never touched.
//! Signals go through pidfds (`pidfd_open`, `pidfd_send_signal`), and only after the process
//! behind the pidfd has been checked to still be the one of the snapshot (same start time,
//! parent still ours), so a pid reused since the snapshot is never hit.
//!
//! The selection is pure (a snapshot in, pids out) and tested on fixtures; the /proc reader
//! takes its root as an argument so tests can feed it a fixture directory.

use std::collections::{HashMap, HashSet};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

/// One process, from /proc/PID/stat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub comm: String,
    /// R, S, D, Z, T, X, ...
    pub state: char,
    /// Field 22: clock ticks after boot when the process started. With the pid it names one
    /// process for good: a reused pid has a later start time.
    pub starttime: u64,
}

impl Proc {
    pub fn live(&self) -> bool {
        !matches!(self.state, 'Z' | 'X')
    }
    /// A containerd shim by its name (only ever asked of processes already proven ours).
    fn is_shim(&self) -> bool {
        self.comm.starts_with("containerd-shim")
    }
}

/// Parses `/proc/PID/stat`: "pid (comm) S ppid ... starttime ...". The comm may hold spaces
/// and ')', so the fields are counted from the last ')'.
pub fn parse_stat(text: &str) -> Option<Proc> {
    let (head, rest) = text.rsplit_once(')')?;
    let (pid, comm) = head.split_once(" (")?;
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    // Fields 5 to 21 lie between ppid (4) and starttime (22).
    let starttime = f.nth(17)?.parse().ok()?;
    Some(Proc { pid: pid.trim().parse().ok()?, ppid, comm: comm.to_string(), state, starttime })
}

/// One process, read now.
pub fn read_proc(proc_root: &Path, pid: i32) -> Option<Proc> {
    parse_stat(&std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?)
}

/// Every process under `proc_root` (normally /proc). Processes that vanish while being
/// read are skipped.
pub fn processes(proc_root: &Path) -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir(proc_root) else { return Vec::new() };
    dir.flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .filter_map(|e| parse_stat(&std::fs::read_to_string(e.path().join("stat")).ok()?))
        .collect()
}

/// Whether `pid` has a child that has not exited yet (a zombie does not count).
pub fn has_live_child(procs: &[Proc], pid: i32) -> bool {
    procs.iter().any(|p| p.ppid == pid && p.live())
}

/// Every descendant of `root` in the snapshot (not `root` itself), zombies included, parents
/// before their children. A snapshot is not atomic: the walk visits each pid once, so even a
/// ppid cycle made of reused pids cannot loop.
pub fn descendants(procs: &[Proc], root: i32) -> Vec<&Proc> {
    let mut children: HashMap<i32, Vec<&Proc>> = HashMap::new();
    for p in procs {
        if p.pid != root {
            children.entry(p.ppid).or_default().push(p);
        }
    }
    let mut seen: HashSet<i32> = HashSet::from([root]);
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &c in children.get(&parent).map(Vec::as_slice).unwrap_or(&[]) {
            if seen.insert(c.pid) {
                out.push(c);
                frontier.push(c.pid);
            }
        }
    }
    out
}

/// What dind-init owns in a snapshot: its own descendants.
#[derive(Debug)]
pub struct Owned<'a> {
    pub me: i32,
    pub procs: Vec<&'a Proc>,
    pids: HashSet<i32>,
}

impl<'a> Owned<'a> {
    pub fn new(procs: &'a [Proc], me: i32) -> Owned<'a> {
        let procs = descendants(procs, me);
        let pids = procs.iter().map(|p| p.pid).collect();
        Owned { me, procs, pids }
    }

    /// Whether a process whose parent is `ppid` is still in our tree.
    pub fn parent_is_ours(&self, ppid: i32) -> bool {
        ppid == self.me || self.pids.contains(&ppid)
    }

    /// Every live owned process.
    pub fn live(&self) -> Vec<&'a Proc> {
        self.procs.iter().copied().filter(|p| p.live()).collect()
    }

    /// The processes of inner containers: every live descendant of one of our containerd
    /// shims (the shim runs each container's init; `docker exec` processes are its children
    /// too), the shims themselves excluded (they report the exits to dockerd). Killing these
    /// ends the containers without going through dockerd's API, which would mark them stopped
    /// by hand (and `--restart unless-stopped` would then not bring them back).
    pub fn inner_containers(&self) -> Vec<&'a Proc> {
        let mut shims: HashSet<i32> =
            self.procs.iter().filter(|p| p.is_shim() && p.live()).map(|p| p.pid).collect();
        let mut out = Vec::new();
        // `procs` lists parents before children: one pass finds every shim's descendants.
        let mut under_shim: HashSet<i32> = HashSet::new();
        for p in &self.procs {
            if !(shims.contains(&p.ppid) || under_shim.contains(&p.ppid)) || !p.live() {
                continue;
            }
            if p.is_shim() {
                shims.insert(p.pid);
                continue;
            }
            under_shim.insert(p.pid);
            out.push(*p);
        }
        out.sort_unstable_by_key(|p| p.pid);
        out
    }
}

/// Whether `now`, read after a pidfd was opened on `then.pid`, is still the process of the
/// snapshot (the same start time) and still ours (its parent is us or one of ours: a process
/// whose parent died is reparented to us, the subreaper).
pub fn still_ours(then: &Proc, now: &Proc, owned: &Owned) -> bool {
    now.pid == then.pid && now.starttime == then.starttime && owned.parent_is_ours(now.ppid)
}

/// What became of one signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Signalled,
    /// Gone since the snapshot.
    Gone,
    /// The pid now names another process, or one no longer ours: left alone.
    NotOurs,
}

/// pidfd_open(2); `Err(ENOSYS)` on kernels before 5.3.
fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// pidfd_send_signal(2): the signal reaches the process the fd was opened on, or nothing.
fn pidfd_send_signal(fd: &OwnedFd, sig: i32) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid pidfd, a signal number, no siginfo (NULL), no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Sends `sig` to `target` (a process of the snapshot `owned` was made from) if it is still
/// that process and still ours: a pidfd pins the process first, then /proc/PID/stat is read
/// again and checked (`still_ours`), then the signal goes through the pidfd. Only where the
/// kernel has no pidfd_open (ENOSYS, before 5.3) is the check followed by a plain kill(2).
pub fn signal_owned(proc_root: &Path, target: &Proc, owned: &Owned, sig: i32) -> Sent {
    let fd = match pidfd_open(target.pid) {
        Ok(fd) => Some(fd),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Sent::Gone,
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => None,
        Err(e) => {
            log::debug!("pidfd_open({}): {e}: not signalled", target.pid);
            return Sent::NotOurs;
        }
    };
    let Some(now) = read_proc(proc_root, target.pid) else { return Sent::Gone };
    if !still_ours(target, &now, owned) {
        log::debug!(
            "pid {} is no longer the {} of the snapshot, or no longer ours: not signalled",
            target.pid,
            target.comm
        );
        return Sent::NotOurs;
    }
    let r = match &fd {
        Some(fd) => pidfd_send_signal(fd, sig),
        // SAFETY: kill(2) takes plain integers and touches no memory of ours.
        None => match unsafe { libc::kill(target.pid, sig) } {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        },
    };
    match r {
        Ok(()) => Sent::Signalled,
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Sent::Gone,
        Err(e) => {
            log::debug!("signal {sig} to pid {}: {e}", target.pid);
            Sent::NotOurs
        }
    }
}

/// Sends `sig` to each of `targets` through `signal_owned`; returns how many got it.
pub fn signal_all(proc_root: &Path, targets: &[&Proc], owned: &Owned, sig: i32) -> usize {
    targets.iter().filter(|t| signal_owned(proc_root, t, owned, sig) == Sent::Signalled).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::TempDir;

    fn p(pid: i32, ppid: i32, comm: &str, state: char) -> Proc {
        Proc { pid, ppid, comm: comm.into(), state, starttime: 1000 + pid as u64 }
    }

    fn pids(v: &[&Proc]) -> Vec<i32> {
        let mut v: Vec<i32> = v.iter().map(|p| p.pid).collect();
        v.sort_unstable();
        v
    }

    /// A real line (kernel 6.x) with 52 fields.
    const STAT: &str = "4242 (my (odd) name) S 7 4242 4242 0 -1 4194560 123 0 0 0 1 2 0 0 20 0 \
                        1 0 987654 1234567 89 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 \
                        1 0 0 0 0 0 0 0 0 0 0 0 0 0";

    #[test]
    fn stat_lines() {
        let got = parse_stat(STAT).unwrap();
        assert_eq!(
            (got.pid, got.ppid, got.comm.as_str(), got.state),
            (4242, 7, "my (odd) name", 'S')
        );
        assert_eq!(got.starttime, 987654);
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) "), None);
        assert_eq!(parse_stat("1 (x) S 0 1 1"), None, "no start time: no process");
    }

    #[test]
    fn a_zombie_is_no_live_child() {
        let t = [p(1, 0, "dind-init", 'S'), p(7, 1, "dockerd", 'S'), p(9, 7, "containerd", 'Z')];
        assert!(!has_live_child(&t, 7));
        let t = [p(7, 1, "dockerd", 'S'), p(9, 7, "containerd", 'S')];
        assert!(has_live_child(&t, 7));
    }

    /// A host-like table: dind-init is pid 100 (not PID 1); beside it the host's own
    /// containerd and shims, and a process named `containerd-shim` with a child, none of
    /// them ours.
    fn host() -> Vec<Proc> {
        vec![
            p(1, 0, "systemd", 'S'),
            // the host's engine and another container
            p(10, 1, "containerd", 'S'),
            p(11, 1, "containerd-shim", 'S'),
            p(12, 11, "postgres", 'S'),
            p(13, 12, "postgres", 'S'),
            p(20, 1, "containerd-shim-runc-v2", 'S'),
            p(21, 20, "nginx", 'S'),
            // dind-init and its tree
            p(100, 1, "dind-init", 'S'),
            p(101, 100, "dockerd", 'S'),
            p(102, 101, "containerd", 'S'),
            p(110, 100, "containerd-shim-runc-v2", 'S'),
            p(111, 110, "sleep", 'S'),
            p(112, 111, "sh", 'S'),
            p(113, 110, "sh", 'Z'),
            p(120, 100, "containerd-shim-runc-v2", 'S'),
            p(121, 120, "redis-server", 'S'),
            // a shim started by one of ours (nested): its container is ours too
            p(122, 121, "containerd-shim", 'S'),
            p(123, 122, "busybox", 'S'),
            p(130, 100, "make", 'S'),
            p(131, 130, "cc", 'S'),
        ]
    }

    #[test]
    fn owned_is_the_descendant_tree() {
        let t = host();
        let o = Owned::new(&t, 100);
        assert_eq!(
            pids(&o.procs),
            vec![101, 102, 110, 111, 112, 113, 120, 121, 122, 123, 130, 131]
        );
        assert_eq!(pids(&o.live()), vec![101, 102, 110, 111, 112, 120, 121, 122, 123, 130, 131]);
        assert!(o.parent_is_ours(100) && o.parent_is_ours(110));
        assert!(!o.parent_is_ours(1) && !o.parent_is_ours(11));
        // Parents come before their children.
        let at = |pid| o.procs.iter().position(|p| p.pid == pid).unwrap();
        assert!(at(110) < at(111) && at(111) < at(112) && at(121) < at(122));
    }

    /// Only the shims in our tree count; a foreign `containerd-shim` and its child (the
    /// other container's postgres) are never selected, whatever their names.
    #[test]
    fn inner_containers_are_our_shims_descendants_only() {
        let t = host();
        let o = Owned::new(&t, 100);
        assert_eq!(pids(&o.inner_containers()), vec![111, 112, 121, 123]);
        // dind-init as PID 1 of its own namespace: the same rule.
        let t = [
            p(1, 0, "dind-init", 'S'),
            p(7, 1, "dockerd", 'S'),
            p(8, 7, "containerd", 'S'),
            p(20, 1, "containerd-shim", 'S'),
            p(21, 20, "sleep", 'S'),
            p(30, 1, "containerd-shim", 'S'),
            p(31, 30, "postgres", 'S'),
            p(40, 1, "mvn", 'S'),
            // entered with `docker exec` from outside: ppid 0, not ours
            p(50, 0, "containerd-shim", 'S'),
            p(51, 50, "sleep", 'S'),
        ];
        assert_eq!(pids(&Owned::new(&t, 1).inner_containers()), vec![21, 31]);
        assert!(Owned::new(&t[..3], 1).inner_containers().is_empty());
    }

    #[test]
    fn a_foreign_shim_with_a_child_is_not_ours() {
        // dind-init (pid 5) shares a PID namespace with a victim container: its `containerd-
        // shim` (pid 2) has a child (pid 3). dind-init has no shim: nothing is selected.
        let t = [
            p(1, 0, "sh", 'S'),
            p(2, 1, "containerd-shim", 'S'),
            p(3, 2, "sleep", 'S'),
            p(5, 1, "dind-init", 'S'),
            p(6, 5, "dockerd", 'S'),
        ];
        let o = Owned::new(&t, 5);
        assert!(o.inner_containers().is_empty());
        assert_eq!(pids(&o.live()), vec![6]);
    }

    #[test]
    fn a_ppid_cycle_of_reused_pids_ends() {
        let t =
            [p(5, 1, "dind-init", 'S'), p(6, 7, "a", 'S'), p(7, 6, "b", 'S'), p(8, 5, "c", 'S')];
        assert_eq!(pids(&descendants(&t, 5)), vec![8]);
        let t =
            [p(5, 1, "dind-init", 'S'), p(6, 5, "a", 'S'), p(7, 6, "b", 'S'), p(5, 7, "x", 'S')];
        assert_eq!(pids(&descendants(&t, 5)), vec![6, 7]);
    }

    #[test]
    fn a_reused_pid_or_a_process_gone_elsewhere_is_not_ours() {
        let t = host();
        let o = Owned::new(&t, 100);
        let then = t.iter().find(|p| p.pid == 111).unwrap();
        assert!(still_ours(then, then, &o));
        // Its shim died: reparented to us, the subreaper. Still ours.
        assert!(still_ours(then, &Proc { ppid: 100, ..then.clone() }, &o));
        // The pid was reused: a later start time.
        assert!(!still_ours(then, &Proc { starttime: then.starttime + 1, ..then.clone() }, &o));
        // The same start time but a parent outside our tree.
        assert!(!still_ours(then, &Proc { ppid: 11, ..then.clone() }, &o));
        assert!(!still_ours(then, &Proc { pid: 112, ..then.clone() }, &o));
    }

    #[test]
    fn processes_from_a_proc_fixture() {
        let d = TempDir::new("proc");
        let line = |pid: &str, comm: &str, ppid: &str| {
            format!("{pid} ({comm}) S {ppid} 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 {pid}00 0 0")
        };
        for (pid, stat) in [
            ("1", line("1", "dind-init", "0")),
            ("12", line("12", "dockerd", "1")),
            ("self", "x".to_string()),
        ] {
            std::fs::create_dir_all(d.path().join(pid)).unwrap();
            std::fs::write(d.path().join(pid).join("stat"), stat).unwrap();
        }
        std::fs::create_dir_all(d.path().join("99")).unwrap(); // vanished: no stat
        let mut ps = processes(d.path());
        ps.sort_by_key(|p| p.pid);
        let want = |pid, ppid, comm: &str| Proc {
            pid,
            ppid,
            comm: comm.into(),
            state: 'S',
            starttime: pid as u64 * 100,
        };
        assert_eq!(ps, vec![want(1, 0, "dind-init"), want(12, 1, "dockerd")]);
        assert!(has_live_child(&ps, 1));
        assert_eq!(read_proc(d.path(), 12), Some(want(12, 1, "dockerd")));
        assert_eq!(read_proc(d.path(), 99), None);
    }

    #[test]
    fn live_children_of_this_process() {
        let me = std::process::id() as i32;
        let mut child = std::process::Command::new("sleep").arg("30").spawn().expect("sleep");
        let pid = child.id() as i32;
        let mine = |ps: Vec<Proc>| ps.into_iter().filter(|p| p.pid == pid).collect::<Vec<_>>();
        let seen = mine(processes(Path::new("/proc")));
        assert!(seen.len() == 1 && seen[0].ppid == me && has_live_child(&seen, me), "{seen:?}");
        child.kill().expect("kill");
        child.wait().expect("wait");
        assert!(!has_live_child(&mine(processes(Path::new("/proc"))), me));
    }

    /// Through a real pidfd: our own child is signalled; the same pid with another start
    /// time (as if reused) is not; a reaped one is gone.
    #[test]
    fn signals_only_the_process_of_the_snapshot() {
        let me = std::process::id() as i32;
        let proc_root = Path::new("/proc");
        let mut child = std::process::Command::new("sleep").arg("30").spawn().expect("sleep");
        let pid = child.id() as i32;
        let snap: Vec<Proc> =
            processes(proc_root).into_iter().filter(|p| p.pid == pid || p.pid == me).collect();
        let owned = Owned::new(&snap, me);
        let target = owned.procs.iter().find(|p| p.pid == pid).copied().expect("child in snapshot");
        let reused = Proc { starttime: target.starttime + 1, ..target.clone() };
        assert_eq!(signal_owned(proc_root, &reused, &owned, libc::SIGKILL), Sent::NotOurs);
        assert!(child.try_wait().unwrap().is_none(), "a process that was not the snapshot's died");
        assert_eq!(signal_owned(proc_root, target, &owned, libc::SIGKILL), Sent::Signalled);
        let st = child.wait().expect("wait");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(st.signal(), Some(libc::SIGKILL));
        assert_eq!(signal_owned(proc_root, target, &owned, libc::SIGKILL), Sent::Gone);
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;
        proptest! {
            #![proptest_config(ProptestConfig {
                cases: crate::fuzz_cases(2000), ..ProptestConfig::default()
            })]
            #[test]
            fn parse_stat_never_panics(s in "\\PC{0,60}") { let _ = parse_stat(&s); }

            /// Whatever the table, nothing outside our tree is selected, and no shim is.
            #[test]
            fn selection_stays_in_our_tree(
                table in proptest::collection::vec((1i32..40, 0i32..40, 0u8..4, any::<bool>()), 0..60)
            ) {
                let names = ["containerd-shim", "containerd-shim-runc-v2", "sleep", "dockerd"];
                let t: Vec<Proc> = table
                    .iter()
                    .map(|&(pid, ppid, n, z)| p(pid, ppid, names[n as usize], if z { 'Z' } else { 'S' }))
                    .collect();
                let o = Owned::new(&t, 1);
                let inner = o.inner_containers();
                for q in &inner {
                    prop_assert!(q.live() && !q.is_shim());
                    prop_assert!(o.procs.iter().any(|x| std::ptr::eq(*x, *q)));
                }
                // Each owned process reaches pid 1 through owned parents.
                for q in &o.procs {
                    prop_assert!(o.parent_is_ours(q.ppid));
                }
            }
        }
    }
}
