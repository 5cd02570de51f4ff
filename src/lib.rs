//! dind-init: PID 1 for Docker-in-Docker containers. `run` reads top-down like the script
//! it replaces: signals, fds, cgroups, stale state, dockerd, readiness, the command,
//! shutdown. Each step logs what it did and how long it took.

pub mod cgroup;
pub mod config;
pub mod daemon;
pub mod error;
pub mod fds;
pub mod net;
pub mod ready;
pub mod signals;
pub mod supervisor;
pub mod sys;
pub mod tls;

use config::{Config, Invocation};
use error::Error;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// How many cases each property test runs: `default`, or `PROPTEST_CASES` for a longer
/// fuzzing run (`PROPTEST_CASES=1000000 cargo test --lib fuzz`).
#[cfg(test)]
pub(crate) fn fuzz_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn init_logger(level: log::LevelFilter, t0: Instant) {
    env_logger::Builder::new()
        .filter_level(level)
        .target(env_logger::Target::Stderr)
        .format(move |buf, rec| writeln!(buf, "dind-init: +{:.3}s {:<5} {}", t0.elapsed().as_secs_f64(), rec.level(), rec.args()))
        .init();
}

/// Entry point: returns the process exit code.
pub fn main_exit() -> u8 {
    let t0 = Instant::now();
    // 1. Signals first, before anything can arrive unhandled.
    let orig_mask = signals::block_all();
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let env: HashMap<String, String> = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect();
    match config::parse(&args, &env) {
        Err(e) => {
            eprintln!("dind-init: {e}");
            e.exit_code()
        }
        Ok(Invocation::Help) => {
            print!("{}", config::help_text());
            0
        }
        Ok(Invocation::Version) => {
            println!("dind-init {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Ok(Invocation::Health(h)) => {
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &orig_mask, std::ptr::null_mut()) };
            match ready::Probe::check(ready::Target::Unix(h.socket.clone()), h.timeout) {
                Ok(()) => {
                    println!("dind-init health: dockerd answers on {}", h.socket.display());
                    0
                }
                Err(e) => {
                    eprintln!("dind-init health: unhealthy: {e}");
                    1
                }
            }
        }
        Ok(Invocation::Run(cfg)) => {
            init_logger(cfg.log_level, t0);
            match run(cfg, orig_mask) {
                Ok(code) => code,
                Err(e) => {
                    log::error!("{e}");
                    log::info!("exit {}", e.exit_code());
                    e.exit_code()
                }
            }
        }
    }
}

fn run(cfg: Box<Config>, orig_mask: libc::sigset_t) -> Result<u8, Error> {
    let pid = std::process::id();
    let pid1 = pid == 1;
    log::info!("dind-init {} starting as pid {pid}", env!("CARGO_PKG_VERSION"));
    if !pid1 {
        let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        if r == 0 {
            log::info!("not PID 1 (pid {pid}): registered as child subreaper, so orphans are reaped here");
        } else {
            log::warn!("not PID 1 (pid {pid}) and cannot become a child subreaper: orphans go to the real PID 1");
        }
    }

    // 2. Stray file descriptors, then our own signalfd.
    let t = Instant::now();
    fds::close_inherited();
    let sigfd = signals::signal_fd().map_err(|e| Error::Setup(format!("cannot create a signalfd: {e}")))?;
    log::info!("signals blocked, inherited fds closed, {:.1} ms", t.elapsed().as_secs_f64() * 1000.0);

    // Privileges: without CAP_SYS_ADMIN dockerd cannot mount anything; say so at once.
    let root = nix::unistd::geteuid().is_root();
    if root {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        if !sys::has_capability(&status, sys::CAP_SYS_ADMIN) {
            return Err(Error::Setup(format!(
                "this container lacks CAP_SYS_ADMIN, which dockerd needs to mount filesystems and create cgroups and \
                 namespaces: {}",
                cgroup::PRIVILEGE_HINT
            )));
        }
        if !sys::has_capability(&status, sys::CAP_NET_ADMIN) {
            log::warn!("this container lacks CAP_NET_ADMIN: dockerd cannot create bridges or iptables rules (add --cap-add NET_ADMIN, or run dockerd with --bridge=none --iptables=false)");
        }
    }

    // 3. cgroups, securityfs, shared mounts.
    let own_cgroup = if cfg.cgroup_setup && root {
        cgroup::setup(&cfg.cgroup_nest)?.visible_path
    } else {
        log::info!("cgroups: set-up skipped ({})", if root { "--no-cgroup-setup" } else { "not root" });
        let entries = cgroup::read_entries().unwrap_or_default();
        let layout = cgroup::proc::layout_from_cgroup(&entries);
        let own = cgroup::proc::own_cgroup_path(&entries);
        cgroup::visible_own_path(layout, own.as_deref(), &cgroup::read_mounts().unwrap_or_default())
    };
    if root {
        let t = Instant::now();
        mount_extras();
        log::debug!("mounts: {:.1} ms", t.elapsed().as_secs_f64() * 1000.0);
    }

    // 4. dockerd's command line, storage check, stale state.
    let t = Instant::now();
    let iptables = net::prepare_backend(cfg.iptables, Path::new("/run/dind-init/iptables"));
    let plan = daemon::plan(&cfg, own_cgroup.as_deref(), iptables)?;
    daemon::check_storage(&plan, &cfg.dockerd_args);
    daemon::remove_stale(&plan, pid1);
    log::info!("dockerd prepared (stale state cleared), {:.1} ms", t.elapsed().as_secs_f64() * 1000.0);

    // 5.-11. dockerd, readiness, the command, signals, reaping, shutdown.
    let sup = supervisor::Supervisor::new(cfg, plan, sigfd, orig_mask, pid1);
    Ok(sup.run())
}

/// securityfs and a shared root mount, as moby's hack/dind does. securityfs only when the
/// image can load AppArmor profiles: with securityfs mounted on an AppArmor host, dockerd
/// insists on loading its profile and every inner container fails without apparmor_parser
/// (found by the cgroup v2 lab on Debian's kernel).
fn mount_extras() {
    use nix::mount::{mount, MsFlags};
    let sec = Path::new("/sys/kernel/security");
    let parser = ["/sbin/apparmor_parser", "/usr/sbin/apparmor_parser"].iter().any(|p| Path::new(p).exists());
    let mounted =
        std::fs::read_to_string("/proc/self/mountinfo").map(|m| cgroup::proc::parse_mountinfo(&m).iter().any(|x| x.mount_point == sec)).unwrap_or(true);
    if !mounted && sec.is_dir() {
        if parser {
            match mount(Some("securityfs"), sec, Some("securityfs"), MsFlags::empty(), None::<&str>) {
                Ok(()) => log::info!("mounts: mounted securityfs on {}", sec.display()),
                Err(e) => log::warn!("mounts: cannot mount securityfs on {}: {} (AppArmor profiles for inner containers may fail)", sec.display(), e.desc()),
            }
        } else {
            log::info!(
                "mounts: not mounting securityfs: the image has no apparmor_parser (package apparmor), so inner \
                 containers run without AppArmor profiles; install apparmor in the image to have them"
            );
        }
    } else if mounted && !parser && sec.join("apparmor").exists() {
        log::warn!(
            "mounts: AppArmor is enabled and {} is mounted, but the image has no apparmor_parser: dockerd will fail to \
             start containers (\"apparmor_parser: executable file not found\"); install the apparmor package in the image",
            sec.display()
        );
    }
    if let Err(e) = mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_SHARED, None::<&str>) {
        log::warn!("mounts: cannot make / rshared: {} (volume mounts with propagation may fail)", e.desc());
    }
}
