//! dind-init: PID 1 for Docker-in-Docker containers. `run` reads top-down like the script
//! it replaces: signals, arguments, fds, privileges, cgroups, mounts, dockerd's command line,
//! the data root's lock and stale state, then the supervisor (dockerd, readiness, the command, signals, reaping,
//! the stop). Each step logs what it did and how long it took. docs/ARCHITECTURE.md walks
//! through the modules in that order.

mod cgroup;
#[cfg(test)]
mod ci;
mod command;
mod config;
mod docker_api;
mod dockerd;
mod error;
pub mod events;
mod fds;
mod lifecycle;
mod mirrors;
mod mounts;
mod net;
mod options;
mod preload;
mod redact;
mod rootless;
mod signals;
mod spawn;
mod supervisor;
mod sys;
mod tls;

use config::{AutoOr, Config, TlsDir};
use dockerd::plan::{self, ServerTls};
use error::Error;
use events::Dec;
use options::Invocation;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// How many cases each property test runs: `default`, or `PROPTEST_CASES` for a longer
/// fuzzing run (`PROPTEST_CASES=1000000 cargo test --lib fuzz`).
#[cfg(test)]
pub(crate) fn fuzz_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `dind-init 0.1.0 (commit 1a2b3c4d5e6f, x86_64-unknown-linux-musl)`.
pub fn version() -> String {
    format!(
        "dind-init {} (commit {}, {})",
        env!("CARGO_PKG_VERSION"),
        env!("DIND_INIT_COMMIT"),
        env!("DIND_INIT_TARGET")
    )
}

/// Writes to stdout; a closed pipe (`dind-init --help | head -1`) is not an error.
fn out(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// The program: parses the invocation and runs it; returns the exit code.
pub fn run() -> ExitCode {
    let t0 = Instant::now();
    // 1. Signals first, before anything can arrive unhandled.
    let set = signals::handled();
    let mask = match signals::block(&set) {
        Ok(m) => m,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "dind-init: cannot block signals: {e}");
            return ExitCode::from(error::EXIT_SETUP);
        }
    };
    // Then the dispositions we inherited back to the default (blocked first: nothing that
    // arrives in between is lost or fatal). A SIGCHLD left ignored by our parent would make
    // the kernel reap our children itself. SIGPIPE stays as Rust's runtime set it (ignored:
    // a closed stdout is an error, not a death); children get it back as the default.
    signals::reset_dispositions(&[libc::SIGPIPE]);
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let env: HashMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let code = match options::parse(&args, &env) {
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "dind-init: {e}");
            e.exit_code()
        }
        Ok(Invocation::Help) => {
            out(&options::help_text());
            0
        }
        Ok(Invocation::Version) => {
            out(&format!("{}\n", version()));
            0
        }
        Ok(Invocation::Health(h)) => {
            let _ = mask.restore();
            let checked = if preload::under_way() {
                // dockerd may answer already: the images are not all there yet.
                Err(format!("dind-init is still preloading images ({})", preload::MARKER))
            } else {
                docker_api::Probe::check(&h.socket, h.timeout)
            };
            match checked {
                Ok(()) => {
                    out(&format!("dind-init health: dockerd answers on {}\n", h.socket.display()));
                    0
                }
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "dind-init health: unhealthy: {e}");
                    1
                }
            }
        }
        Ok(Invocation::RootlessChild(args)) => {
            let _ = mask.restore();
            rootless::child(&args)
        }
        Ok(Invocation::Run(cfg)) => {
            events::init(cfg.log_level, cfg.log_format == config::LogFormat::Json, t0);
            match start(cfg, &set, mask, &env) {
                Ok(code) => code,
                Err(e) => {
                    log::error!("{e}");
                    let code = e.exit_code();
                    crate::event!(Info, "exit", { code = code }, "exit {code}");
                    code
                }
            }
        }
    };
    ExitCode::from(code)
}

/// The start-up script, then the supervisor.
fn start(
    mut cfg: Box<Config>,
    set: &nix::sys::signal::SigSet,
    mask: signals::OriginalMask,
    env: &HashMap<String, String>,
) -> Result<u8, Error> {
    let pid = std::process::id();
    let pid1 = pid == 1;
    crate::event!(
        Info,
        "start",
        { version = env!("CARGO_PKG_VERSION"), pid = pid, pid1 = pid1 },
        "{} starting as pid {pid}",
        version()
    );
    for n in &cfg.notes {
        log::warn!("{n}");
    }
    if !pid1 {
        match nix::sys::prctl::set_child_subreaper(true) {
            Ok(()) => log::info!(
                "not PID 1 (pid {pid}): registered as child subreaper, so orphans are reaped here"
            ),
            Err(e) => log::warn!(
                "not PID 1 (pid {pid}) and cannot become a child subreaper ({e}): orphans go to \
                 the real PID 1"
            ),
        }
    }

    // 2. Stray file descriptors, then our own signalfd.
    let t = Instant::now();
    fds::close_inherited();
    let sigfd = signals::signal_fd(set)
        .map_err(|e| Error::Setup(format!("cannot create a signalfd: {e}")))?;
    log::info!(
        "signals blocked, inherited fds closed, {:.1} ms",
        Dec(t.elapsed().as_secs_f64() * 1000.0)
    );

    // Privileges: without CAP_SYS_ADMIN dockerd cannot mount anything; say so at once.
    let root = nix::unistd::geteuid().is_root();
    if root {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        if !sys::has_capability(&status, sys::CAP_SYS_ADMIN) {
            return Err(Error::Setup(format!(
                "this container lacks CAP_SYS_ADMIN, which dockerd needs to mount filesystems \
                 and create cgroups and namespaces: {}",
                cgroup::PRIVILEGE_HINT
            )));
        }
        if !sys::has_capability(&status, sys::CAP_NET_ADMIN) {
            log::warn!(
                "this container lacks CAP_NET_ADMIN: dockerd cannot create bridges or iptables \
                 rules (add --cap-add NET_ADMIN, or run dockerd with --bridge=none \
                 --iptables=false)"
            );
        }
    }

    // A rootless dockerd: DIND_ROOTLESS=USER, or dind-init itself not root.
    let rootless = rootless_user(&cfg, root, env)?;
    if let Some((user, _)) = &rootless {
        // dockerd starts its own containerd inside rootlesskit's namespaces (rootless.rs).
        cfg.containerd = config::ContainerdBy::Dockerd;
        crate::event!(
            Warn,
            "rootless-limits",
            { driver = "none" },
            "rootless: per-container --memory, --cpus and --pids-limit are unavailable: a \
             rootless dockerd has the cgroup driver none (moby: without a systemd user instance \
             it cannot be given cgroups); inner containers stay inside this container's cgroup, \
             whose limits bound them all (user {})",
            user.name
        );
    }

    // 3. cgroups, securityfs, shared mounts.
    let own_cgroup = if cfg.cgroup_setup && root {
        cgroup::setup(&cfg.cgroup_nest)?
    } else {
        let t = Instant::now();
        let visible = cgroup::own_visible_path();
        crate::event!(
            Info,
            "cgroups",
            {
                mode = "skipped",
                own = visible.as_deref().unwrap_or(""),
                visible = visible.as_deref().unwrap_or(""),
                ms = t.elapsed().as_secs_f64() * 1000.0,
            },
            "cgroups: set-up skipped ({})",
            if root { "--no-cgroup-setup" } else { "not root" }
        );
        visible
    };
    if root {
        let t = Instant::now();
        mounts::prepare();
        log::debug!("mounts: {:.1} ms", Dec(t.elapsed().as_secs_f64() * 1000.0));
    }

    // 4. dockerd's command line, storage check, stale state.
    let t = Instant::now();
    let xdg = rootless.as_ref().map(|(_, p)| p.xdg_runtime_dir.as_path());
    let path_prefix = net::prepare_backend(cfg.iptables, &net::backend_dir(root, xdg));
    let config_file = plan::config_file(&cfg.dockerd_args);
    let daemon_json = dockerd::daemon_json::DaemonJson::load(&config_file)?;
    let route_mtu = match cfg.mtu {
        AutoOr::Auto => net::detect_mtu(Path::new("/proc/net/route"), Path::new("/sys/class/net")),
        _ => None,
    };
    let tls = server_tls(&cfg, env)?;
    let dpkg_status = std::fs::read_to_string("/var/lib/dpkg/status").unwrap_or_default();
    let engine = dockerd::engine::engine_version(&dpkg_status);
    if let Some((pkg, version, major)) = &engine {
        crate::event!(
            Info,
            "engine",
            { package = pkg, version = version, major = *major },
            "dockerd: the image has {pkg} {version}"
        );
    }
    let engine_major = engine.as_ref().map(|e| e.2);
    let containerd_bin = find_in_path("containerd", env.get("PATH").map(String::as_str));
    let containerd_major = match &containerd_bin {
        Some(bin) if cfg.containerd != config::ContainerdBy::Dockerd => {
            containerd_major(bin, &dpkg_status)
        }
        _ => None,
    };
    // Rootless: the socket in XDG_RUNTIME_DIR unless DOCKER_HOST names one (docker:dind-rootless).
    let rootless_host = rootless.as_ref().and_then(|(_, p)| {
        let given = env.get("DOCKER_HOST").is_some_and(|h| h.starts_with("unix://"));
        (!given).then(|| format!("unix://{}", p.socket.display()))
    });
    let server_files = tls.clone();
    let mut plan = plan::plan(&plan::Inputs {
        cfg: &cfg,
        daemon_json: &daemon_json,
        docker_host: rootless_host.as_deref().or(env.get("DOCKER_HOST").map(String::as_str)),
        own_cgroup: own_cgroup.as_deref().filter(|_| rootless.is_none()),
        route_mtu: route_mtu.as_ref().map(|(i, m)| (i.as_str(), *m)),
        path_prefix,
        tls,
        containerd_bin,
        engine_major,
        containerd_major,
    })?;
    for n in &plan.notes {
        if n.contains("WITHOUT TLS") {
            log::warn!("{n}");
        } else {
            log::info!("{n}");
        }
    }
    if let Some((user, paths)) = &rootless {
        rootless::adjust_plan(&mut plan, &cfg.dockerd_args, &daemon_json, paths);
        rootless_setup(&mut plan, user, paths, server_files.as_ref(), root, env)?;
    }
    for u in &plan.unused {
        crate::event!(
            Warn,
            "env-unused",
            { var = u.var, key = u.key, by = u.by },
            "{} left unused: dockerd's {} set {} already (dockerd refuses a setting given both \
             ways; yours wins)",
            u.var,
            if u.by == "flag" { "flags" } else { "daemon.json" },
            u.key
        );
    }
    dockerd::storage::check_storage(&plan, &daemon_json, engine_major);
    // The data root is ours alone, before anything is started or removed: another dind-init
    // on the same volume is waited for (--data-root-wait), then named (exit 125). Held until
    // dind-init returns from here, after the stop.
    let data_lock = match dockerd::datalock::take(&plan.data_root, cfg.data_root_wait)? {
        dockerd::datalock::Taken::Held(lock) => lock,
        dockerd::datalock::Taken::Interrupted(sig) => {
            let code = 128 + sig as u8;
            crate::event!(Info, "exit", { code = code }, "exit {code}");
            return Ok(code);
        }
    };
    // Another daemon's socket (mounted in, or live) stops the start before anything is removed.
    dockerd::owner::check_sockets(&plan)?;
    dockerd::stale::remove_stale(&plan, pid1);
    dockerd::owner::make_socket_dirs(&plan)?;
    log::info!(
        "dockerd prepared (stale state cleared), {:.1} ms",
        Dec(t.elapsed().as_secs_f64() * 1000.0)
    );

    // 5.-11. dockerd, readiness, the command, signals, reaping, the stop.
    let code = supervisor::Supervisor::new(cfg, plan, sigfd, mask, pid1)?.run();
    drop(data_lock);
    Ok(code)
}

/// The user a rootless dockerd runs as, and its paths: `--rootless` (as root: anyone; not
/// root: only ourselves), or ourselves when dind-init is not root.
fn rootless_user(
    cfg: &Config,
    root: bool,
    env: &HashMap<String, String>,
) -> Result<Option<(rootless::User, rootless::Paths)>, Error> {
    let me = nix::unistd::geteuid().as_raw();
    let spec = match (&cfg.rootless, root) {
        (None, true) => return Ok(None),
        (None, false) => me.to_string(),
        (Some(s), _) => s.clone(),
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let user = match rootless::lookup(&passwd, &spec) {
        Some(u) => u,
        // Not in /etc/passwd (docker run --user 1234): ourselves, HOME as given.
        None if spec == me.to_string() && !root => rootless::User {
            name: spec.clone(),
            uid: me,
            gid: nix::unistd::getegid().as_raw(),
            home: env.get("HOME").map_or_else(|| "/".into(), std::path::PathBuf::from),
        },
        None => {
            return Err(Error::Setup(format!(
                "rootless: DIND_ROOTLESS={spec}: no such user in /etc/passwd"
            )))
        }
    };
    let mut user = user;
    if !root {
        // dockerd's own rule when rootless: the data root under $HOME.
        if let Some(h) = env.get("HOME").filter(|h| h.starts_with('/')) {
            user.home = std::path::PathBuf::from(h);
        }
    }
    if !root && user.uid != me {
        return Err(Error::Setup(format!(
            "rootless: DIND_ROOTLESS={spec}: dind-init runs as uid {me}, not root: it can run \
             dockerd only as itself"
        )));
    }
    if user.uid == 0 {
        return Err(Error::Setup(format!(
            "rootless: DIND_ROOTLESS={spec} is root: name an unprivileged user"
        )));
    }
    // As root the user's own runtime directory; as the user, docker:dind-rootless's variable.
    let xdg = if root { None } else { env.get("XDG_RUNTIME_DIR").map(String::as_str) };
    let paths = rootless::paths(&user, xdg);
    Ok(Some((user, paths)))
}

/// A rootless dockerd: as root its directories made the user's, the pre-checks (exit 125 with
/// one line), then the plan runs rootlesskit, which runs dind-init's child, which runs dockerd.
fn rootless_setup(
    plan: &mut plan::Plan,
    user: &rootless::User,
    paths: &rootless::Paths,
    tls: Option<&ServerTls>,
    root: bool,
    env: &HashMap<String, String>,
) -> Result<(), Error> {
    if !root {
        // As docker:dind-rootless's entrypoint: `mkdir -p` both; the checks say what failed.
        for d in [&paths.xdg_runtime_dir, &plan.data_root] {
            let _ = std::fs::create_dir_all(d);
        }
    }
    if root {
        rootless::prepare_as_root(user, &paths.xdg_runtime_dir, &plan.data_root)?;
        rootless::open_tun_as_root();
        if let Some(t) = tls {
            rootless::give_server_tls(&[&t.key], user)?;
        }
    }
    let path = env
        .get("PATH")
        .map_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", String::as_str);
    let tools = rootless::pre_check(&rootless::Check {
        root: Path::new("/"),
        user,
        xdg_runtime_dir: &paths.xdg_runtime_dir,
        data_root: &plan.data_root,
        path,
        net: env.get("DOCKERD_ROOTLESS_ROOTLESSKIT_NET").map(String::as_str),
    })
    .map_err(rootless::check_error)?;
    let var = |k: &str| env.get(k).cloned();
    let kit = rootless::KitSettings {
        mtu: var("DOCKERD_ROOTLESS_ROOTLESSKIT_MTU"),
        port_driver: var("DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER"),
        flags: var("DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS")
            .map(|f| f.split_whitespace().map(String::from).collect())
            .unwrap_or_default(),
    };
    let ports = rootless::tcp_ports(&plan.args);
    let exe = std::env::current_exe()
        .map_err(|e| Error::Setup(format!("rootless: cannot find dind-init's own path: {e}")))?;
    let dockerd = std::mem::take(&mut plan.program);
    plan.args = rootless::rootlesskit_args(
        &tools.net,
        &kit,
        &ports,
        &exe.display().to_string(),
        &dockerd,
        &plan.args,
    );
    plan.program = tools.rootlesskit.display().to_string();
    plan.run_as = root.then(|| rootless::RunAs::new(user, paths));
    crate::event!(
        Info,
        "rootless",
        { user = user.name.as_str(), uid = user.uid.to_string(), net = tools.net.as_str() },
        "rootless: dockerd runs as {} (uid {}) through {} (network {}), socket {}",
        user.name,
        user.uid,
        plan.program,
        tools.net,
        plan.socket.display()
    );
    Ok(())
}

/// containerd's major version: dpkg's for the packaged /usr/bin/containerd (free), else
/// `containerd --version` (one exec, only for a containerd dind-init may run).
fn containerd_major(bin: &Path, dpkg_status: &str) -> Option<u32> {
    let packaged = std::fs::canonicalize(bin).is_ok_and(|p| p == Path::new("/usr/bin/containerd"));
    if let Some((version, major)) =
        dockerd::engine::containerd_version(dpkg_status).filter(|_| packaged)
    {
        log::debug!("containerd: the image has containerd {version}");
        return Some(major);
    }
    let t = Instant::now();
    let out =
        spawn::Spawn::new(bin.as_os_str(), &["--version"]).and_then(|mut s| s.output()).ok()?;
    let major = dockerd::engine::containerd_version_output(&String::from_utf8_lossy(&out));
    log::debug!(
        "containerd: {} --version: major {major:?}, {:.1} ms",
        bin.display(),
        Dec(t.elapsed().as_secs_f64() * 1000.0)
    );
    major
}

/// An executable `name` in the directories of `path` (PATH's default when unset).
fn find_in_path(name: &str, path: Option<&str>) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = path.unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':').filter(|d| !d.is_empty()).map(|d| Path::new(d).join(name)).find(|p| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// The server's TLS files for a TLS listener: docker:dind's layout in DOCKER_TLS_CERTDIR,
/// made (or re-issued) here before dockerd starts, so its TLS port opens only once every file
/// is complete; or the user's own, used as given.
fn server_tls(cfg: &Config, env: &HashMap<String, String>) -> Result<Option<ServerTls>, Error> {
    let TlsDir::Dir(dir) = &cfg.tls_certdir else { return Ok(None) };
    if !plan::tcp_listeners(cfg).iter().any(|(_, tls)| *tls) {
        return Ok(None);
    }
    let t = Instant::now();
    let sans = tls::default_sans(env.get("DOCKER_TLS_SAN").map(String::as_str))?;
    let files = tls::ensure(&tls::TlsRequest { certdir: dir.clone(), sans, client_owner: None })?;
    for w in &files.warnings {
        log::warn!("tls: {w}");
    }
    let ms = Dec(t.elapsed().as_secs_f64() * 1000.0);
    crate::event!(Info, "tls", { ms = ms }, "tls: {}, {ms:.1} ms", files.summary);
    Ok(Some(ServerTls { ca: files.ca, cert: files.cert, key: files.key }))
}
