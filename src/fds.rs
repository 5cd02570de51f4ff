//! Stray file descriptors: whatever the container runtime, a CI agent or a parent shell
//! left open must not leak into dockerd and the user's command (it can hold a pipe open
//! forever, or a socket to the host). Close every fd >= 3 with close_range(2), falling
//! back to walking /proc/self/fd on kernels before 5.9.

/// Closes every inherited fd >= 3; returns how many the fallback closed (0 with
/// close_range, which does not count).
pub fn close_inherited() -> usize {
    // SAFETY: nothing of ours is open yet beyond 0-2 (called first thing in main), so no
    // Rust object is left holding a closed fd.
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if r == 0 {
        log::debug!("fds: closed every inherited fd >= 3 (close_range)");
        return 0;
    }
    let fds: Vec<i32> = match std::fs::read_dir("/proc/self/fd") {
        Ok(d) => d
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|&fd| fd >= 3)
            .collect(),
        Err(e) => {
            log::warn!(
                "fds: close_range failed and /proc/self/fd is unreadable ({e}): inherited fds \
                 stay open"
            );
            return 0;
        }
    };
    // The directory's own fd is already closed here (read_dir dropped); closing it again is
    // a harmless EBADF.
    let n = fds.into_iter().filter(|&fd| nix::unistd::close(fd).is_ok()).count();
    log::debug!("fds: closed {n} inherited fd(s) via /proc/self/fd");
    n
}
