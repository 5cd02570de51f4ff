//! A rootless dockerd: docker:dind-rootless's contract with dind-init as PID 1. dockerd runs
//! as an unprivileged user inside rootlesskit's user, mount and network namespaces, so a
//! process that escapes an inner container is that user on this container, not root.
//!
//! Two shapes share this module. (a) dind-init itself runs as the user (`USER rootless` in
//! the image, as docker:dind-rootless): rootlesskit is started as we are. (b) dind-init runs
//! as root with `DIND_ROOTLESS=USER`: it prepares cgroups and mounts as root, makes the user's
//! `XDG_RUNTIME_DIR` and data root (a root-owned volume there is given to the user), then
//! starts rootlesskit as the user (`RunAs`, applied between fork and exec).
//!
//! What runs, as `dockerd-rootless.sh` does it but without a shell in the image:
//! `rootlesskit FLAGS /path/to/dind-init rootless-child DOCKERD ARGS...`. rootlesskit makes the
//! namespaces and runs dind-init again as its child, which does the script's in-namespace steps
//! (`child_steps`: the copied-up `/run/docker`, `/run/containerd` and `/run/xtables.lock` links
//! of the parent removed) and execs dockerd. rootlesskit is dind-init's child and dockerd its
//! descendant, so readiness (the listener's pid is a descendant of the one started), the stop
//! (SIGTERM to rootlesskit, which forwards it to dockerd and exits with its status) and
//! ownership (`dockerd/procs.rs`: our descendant tree) hold as for a rootful dockerd.
//!
//! containerd is left to dockerd: it must live in rootlesskit's namespaces next to dockerd,
//! which dind-init (outside them) cannot start it in.
//!
//! Before anything starts, `pre_check` looks at what docker:dind-rootless looks at, each
//! failure one line (exit 125): subordinate uid and gid ranges, `max_user_namespaces`, a
//! writable `XDG_RUNTIME_DIR` and HOME (and a data root the user owns), `newuidmap` and
//! `newgidmap`, rootlesskit and a network driver for it. The checks are pure on a root
//! directory, so they are tested on fixtures.

use crate::dockerd::daemon_json::DaemonJson;
use crate::dockerd::plan::{self, Plan};
use crate::error::{Error, PathError, Result};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A user from /etc/passwd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

/// The user named `spec` (a name, or a uid) in /etc/passwd's text.
pub fn lookup(passwd: &str, spec: &str) -> Option<User> {
    passwd
        .lines()
        .filter_map(parse_passwd_line)
        .find(|u| u.name == spec || spec.parse::<u32>().is_ok_and(|id| id == u.uid))
}

fn parse_passwd_line(line: &str) -> Option<User> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 7 || line.starts_with('#') {
        return None;
    }
    Some(User {
        name: f[0].to_string(),
        uid: f[2].parse().ok()?,
        gid: f[3].parse().ok()?,
        home: PathBuf::from(f[5]),
    })
}

/// Whether /etc/subuid (or subgid) text gives `user` a range: `NAME:START:COUNT` or
/// `UID:START:COUNT` with COUNT > 0, as newuidmap reads it.
pub fn has_subid_range(text: &str, user: &User) -> bool {
    let uid = user.uid.to_string();
    text.lines().any(|l| {
        let f: Vec<&str> = l.trim().split(':').collect();
        f.len() == 3
            && (f[0] == user.name || f[0] == uid)
            && f[1].parse::<u64>().is_ok()
            && f[2].parse::<u64>().is_ok_and(|n| n > 0)
    })
}

/// Whether a directory with this owner and mode can be written by `uid`/`gid` (root can
/// write anything; supplementary groups and ACLs are not looked at).
pub fn writable_by(owner: u32, group: u32, mode: u32, uid: u32, gid: u32) -> bool {
    uid == 0
        || (owner == uid && mode & 0o200 != 0)
        || (owner != uid && group == gid && mode & 0o020 != 0)
        || (owner != uid && group != gid && mode & 0o002 != 0)
}

/// `path` (absolute) under `root`.
fn under(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// An executable `name` in PATH's directories, looked up under `root`; the path it has there.
pub fn find_tool(root: &Path, path_var: &str, name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    path_var.split(':').filter(|d| d.starts_with('/')).map(|d| Path::new(d).join(name)).find(|p| {
        std::fs::metadata(under(root, p))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// What the pre-checks found: rootlesskit and its network driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    pub rootlesskit: PathBuf,
    /// slirp4netns (preferred, as dockerd-rootless.sh) or vpnkit, unless the user chose.
    pub net: String,
}

/// What a pre-check looks at.
pub struct Check<'a> {
    /// `/`, or a fixture directory in tests.
    pub root: &'a Path,
    pub user: &'a User,
    pub xdg_runtime_dir: &'a Path,
    pub data_root: &'a Path,
    /// PATH.
    pub path: &'a str,
    /// `DOCKERD_ROOTLESS_ROOTLESSKIT_NET`, when set.
    pub net: Option<&'a str>,
}

/// docker:dind-rootless's checks before it starts; the first failure as one line.
pub fn pre_check(c: &Check) -> std::result::Result<Tools, String> {
    let u = c.user;
    let who = format!("{} (uid {})", u.name, u.uid);
    for (file, pkg) in [("/etc/subuid", "uid"), ("/etc/subgid", "gid")] {
        let text = std::fs::read_to_string(under(c.root, Path::new(file))).unwrap_or_default();
        if !has_subid_range(&text, u) {
            return Err(format!(
                "rootless: {file} has no range for {who}: add a line '{}:100000:65536' (newuid\
                 map and newgidmap map the inner containers' {pkg}s from it)",
                u.name
            ));
        }
    }
    let max = under(c.root, Path::new("/proc/sys/user/max_user_namespaces"));
    if let Ok(v) = std::fs::read_to_string(&max) {
        if v.trim() == "0" {
            return Err(
                "rootless: /proc/sys/user/max_user_namespaces is 0: user namespaces are turned \
                 off; set the sysctl user.max_user_namespaces=28633 on the host"
                    .to_string(),
            );
        }
    }
    for (var, dir) in [("XDG_RUNTIME_DIR", c.xdg_runtime_dir), ("HOME", u.home.as_path())] {
        let ok = std::fs::metadata(under(c.root, dir))
            .is_ok_and(|m| m.is_dir() && writable_by(m.uid(), m.gid(), m.mode(), u.uid, u.gid));
        if !ok {
            return Err(format!(
                "rootless: {var} {} is not a directory {who} can write: create it owned by the \
                 user",
                dir.display()
            ));
        }
    }
    if let Ok(m) = std::fs::metadata(under(c.root, c.data_root)) {
        if m.uid() != u.uid {
            return Err(format!(
                "rootless: the data root {} is owned by uid {}, not {who}: dockerd cannot chmod \
                 it; create it owned by the user in the image before its VOLUME",
                c.data_root.display(),
                m.uid()
            ));
        }
    }
    let tun = under(c.root, Path::new(TUN));
    if let Ok(m) = std::fs::metadata(&tun) {
        let (o, g, mode) = (m.uid(), m.gid(), m.mode());
        let rw = |shift: u32| mode >> shift & 0o6 == 0o6;
        let ok = (o == u.uid && rw(6))
            || (o != u.uid && g == u.gid && rw(3))
            || (o != u.uid && g != u.gid && rw(0));
        if !ok {
            return Err(format!(
                "rootless: {TUN} is mode {:04o} uid {o}: {who} cannot open it for rootlesskit's \
                 tap device; make it 0666 on the host (udev's default), or run dind-init as root \
                 with DIND_ROOTLESS={} (it opens the container's own node to the user)",
                mode & 0o7777,
                u.name
            ));
        }
    }
    for tool in ["newuidmap", "newgidmap"] {
        if find_tool(c.root, c.path, tool).is_none() {
            return Err(format!(
                "rootless: {tool} is not in PATH ({}): install the uidmap package",
                c.path
            ));
        }
    }
    let Some(rootlesskit) = find_tool(c.root, c.path, "rootlesskit") else {
        return Err(format!(
            "rootless: rootlesskit is not in PATH ({}): install the rootlesskit package",
            c.path
        ));
    };
    let net = match c.net.filter(|n| !n.is_empty()) {
        Some(n) => n.to_string(),
        None => match ["slirp4netns", "vpnkit"]
            .into_iter()
            .find(|t| find_tool(c.root, c.path, t).is_some())
        {
            Some(t) => t.to_string(),
            None => {
                return Err(format!(
                    "rootless: neither slirp4netns nor vpnkit is in PATH ({}): install the \
                     slirp4netns package (rootlesskit's network)",
                    c.path
                ))
            }
        },
    };
    Ok(Tools { rootlesskit, net })
}

/// rootlesskit's settings, from dockerd-rootless.sh's variables.
#[derive(Debug, Clone, Default)]
pub struct KitSettings {
    /// DOCKERD_ROOTLESS_ROOTLESSKIT_MTU (default 65520 for slirp4netns, else 1500).
    pub mtu: Option<String>,
    /// DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER (default builtin).
    pub port_driver: Option<String>,
    /// DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS, split on white space (as the script does).
    pub flags: Vec<String>,
}

/// The argument that makes dind-init the in-namespace child.
pub const CHILD_ARG: &str = "rootless-child";

/// rootlesskit's command line: dockerd-rootless.sh's flags, a `-p` for each TCP port dockerd
/// listens on (rootlesskit's port driver opens it on this container), then dind-init as the
/// child with dockerd's command line.
pub fn rootlesskit_args(
    net: &str,
    kit: &KitSettings,
    ports: &[u16],
    self_exe: &str,
    dockerd: &str,
    dockerd_args: &[String],
) -> Vec<String> {
    let mtu = kit
        .mtu
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| if net == "slirp4netns" { "65520" } else { "1500" }.to_string());
    let port_driver = kit.port_driver.clone().filter(|d| !d.is_empty()).unwrap_or("builtin".into());
    let mut a = vec![format!("--net={net}"), format!("--mtu={mtu}")];
    if net == "slirp4netns" {
        a.push("--slirp4netns-sandbox=auto".into());
        a.push("--slirp4netns-seccomp=auto".into());
    }
    a.extend([
        "--disable-host-loopback".to_string(),
        format!("--port-driver={port_driver}"),
        "--copy-up=/etc".into(),
        "--copy-up=/run".into(),
        "--propagation=rslave".into(),
    ]);
    for p in ports {
        a.push(format!("--publish=0.0.0.0:{p}:{p}/tcp"));
    }
    a.extend(kit.flags.iter().cloned());
    a.extend([self_exe.to_string(), CHILD_ARG.to_string(), dockerd.to_string()]);
    a.extend(dockerd_args.iter().cloned());
    a
}

/// The rootless daemon's default paths: what dockerd itself uses when rootless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub xdg_runtime_dir: PathBuf,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub pidfile: PathBuf,
    pub socket: PathBuf,
}

/// `XDG_RUNTIME_DIR` from the environment (shape a, docker:dind-rootless sets it), else
/// /run/user/UID; the rest as dockerd places them when rootless.
pub fn paths(user: &User, xdg_env: Option<&str>) -> Paths {
    let xdg = xdg_env
        .filter(|x| x.starts_with('/'))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/run/user/{}", user.uid)));
    Paths {
        data_root: user.home.join(".local/share/docker"),
        exec_root: xdg.join("docker"),
        pidfile: xdg.join("docker.pid"),
        socket: xdg.join("docker.sock"),
        xdg_runtime_dir: xdg,
    }
}

/// The TCP ports dockerd listens on (`--host=tcp://ADDR:PORT`, `-H ...`): rootlesskit's port
/// driver publishes each on this container.
pub fn tcp_ports(dockerd_args: &[String]) -> Vec<u16> {
    let mut out: Vec<u16> = plan::flag_values(dockerd_args, "--host", Some("-H"))
        .iter()
        .filter_map(|h| h.strip_prefix("tcp://")?.rsplit_once(':')?.1.parse().ok())
        .collect();
    out.dedup();
    out
}

/// The plan's paths where the user did not set them: dockerd's rootless defaults.
pub fn adjust_plan(plan: &mut Plan, user_args: &[String], json: &DaemonJson, p: &Paths) {
    let set = |flag: &str, key: &str| plan::has_flag(user_args, flag) || json.has(key);
    if !set("--data-root", "data-root") {
        plan.data_root = p.data_root.clone();
    }
    if !set("--exec-root", "exec-root") {
        plan.exec_root = p.exec_root.clone();
    }
    if !set("--pidfile", "pidfile") && !plan::has_flag(user_args, "-p") {
        plan.pidfile = p.pidfile.clone();
    }
}

/// Who rootlesskit runs as, when dind-init is root (shape b): set between fork and exec,
/// with the user's environment.
#[derive(Debug, Clone)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
    pub env: Vec<(String, String)>,
}

impl RunAs {
    pub fn new(user: &User, p: &Paths) -> RunAs {
        let env = vec![
            ("HOME".to_string(), user.home.display().to_string()),
            ("USER".to_string(), user.name.clone()),
            ("LOGNAME".to_string(), user.name.clone()),
            ("XDG_RUNTIME_DIR".to_string(), p.xdg_runtime_dir.display().to_string()),
        ];
        RunAs { uid: user.uid, gid: user.gid, env }
    }
}

/// Shape b, as root: the user's XDG_RUNTIME_DIR (0700) and data root made and given to the
/// user (a root-owned volume at the data root included: dockerd could not chmod it).
/// XDG_RUNTIME_DIR is changed through its own descriptor, never through a link: a link there
/// would hand the user whatever directory it names, so it is refused.
pub fn prepare_as_root(user: &User, xdg_runtime_dir: &Path, data_root: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let own = |dir: &Path| -> Result<()> {
        crate::sys::mkdir_p(dir)?;
        std::os::unix::fs::lchown(dir, Some(user.uid), Some(user.gid))
            .map_err(|e| PathError::new("chown", dir, e))?;
        Ok(())
    };
    crate::sys::mkdir_p(xdg_runtime_dir)?;
    let xdg = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(xdg_runtime_dir)
        .map_err(|e| match std::fs::symlink_metadata(xdg_runtime_dir) {
            // O_NOFOLLOW with O_DIRECTORY fails on a link with ENOTDIR, not ELOOP
            Ok(m) if m.file_type().is_symlink() => Error::Setup(format!(
                "rootless: XDG_RUNTIME_DIR {} is a symbolic link: dind-init gives this directory \
                 to {} (uid {}) and does not follow a link to do it; make it a directory",
                xdg_runtime_dir.display(),
                user.name,
                user.uid
            )),
            _ => PathError::new("open directory", xdg_runtime_dir, e).into(),
        })?;
    std::os::unix::fs::fchown(&xdg, Some(user.uid), Some(user.gid))
        .map_err(|e| PathError::new("chown", xdg_runtime_dir, e))?;
    xdg.set_permissions(std::fs::Permissions::from_mode(0o700))
        .map_err(|e| PathError::new("chmod", xdg_runtime_dir, e))?;
    // The data root's parents under HOME (.local/share) the user's too, as a login has them.
    let mut dirs: Vec<&Path> = data_root.ancestors().take_while(|d| *d != user.home).collect();
    dirs.reverse();
    for d in dirs {
        own(d)?;
    }
    Ok(())
}

/// The tun device rootlesskit's network (slirp4netns, vpnkit) makes its tap device with.
pub const TUN: &str = "/dev/net/tun";

/// Shape b, as root: the container's own /dev/net/tun node (a privileged container gets the
/// host's mode, 0600 where no udev rule opened it) readable and writable by all, as udev has it.
pub fn open_tun_as_root() {
    open_tun_at(Path::new(TUN));
}

/// `open_tun_as_root` on PATH: only the tun character device itself (10:200) is changed, never
/// a link or any other file at that path, which is left as it is with a warning.
fn open_tun_at(path: &Path) {
    use nix::sys::stat::{fchmodat, FchmodatFlags, Mode};
    let Ok(m) = std::fs::symlink_metadata(path) else { return };
    let tun = nix::sys::stat::makedev(10, 200);
    if !std::os::unix::fs::FileTypeExt::is_char_device(&m.file_type()) || m.rdev() != tun {
        log::warn!(
            "rootless: {} is not the tun device (character device 10:200, not through a link): \
             left as it is",
            path.display()
        );
        return;
    }
    if m.mode() & 0o666 == 0o666 {
        return;
    }
    let mode = Mode::from_bits_truncate(0o666);
    match fchmodat(None, path, mode, FchmodatFlags::NoFollowSymlink) {
        Ok(()) => log::info!(
            "rootless: {} was mode {:04o}: made 0666 (this container's own node, as udev has it) \
             for rootlesskit's tap device",
            path.display(),
            m.mode() & 0o7777
        ),
        Err(e) => log::warn!("rootless: cannot chmod {}: {e}", path.display()),
    }
}

/// The server's TLS files readable by the user dockerd runs as (shape b: dind-init made them
/// as root, the key 0600).
pub fn give_server_tls(files: &[&Path], user: &User) -> Result<()> {
    for f in files {
        std::os::unix::fs::lchown(f, Some(user.uid), Some(user.gid))
            .map_err(|e| PathError::new("chown", f, e))?;
    }
    Ok(())
}

/// The in-namespace steps of dockerd-rootless.sh: the parent's /run entries that --copy-up
/// made links to, removed so dockerd makes its own (a link to the parent's root-owned
/// /run/docker would stop it).
pub fn child_steps(run: &Path) {
    for name in ["docker", "containerd", "xtables.lock"] {
        let p = run.join(name);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// `dind-init rootless-child DOCKERD ARGS...`: the steps, then exec dockerd (the signal mask
/// already restored). Returns only on failure: the exit code.
pub fn child(args: &[std::ffi::OsString]) -> u8 {
    let Some((prog, rest)) = args.split_first() else {
        eprintln!("dind-init rootless-child: no dockerd to run");
        return crate::error::EXIT_USAGE;
    };
    child_steps(Path::new("/run"));
    let e = crate::spawn::Spawn::new(prog, rest).map_or_else(|e| e, |s| s.exec());
    eprintln!("dind-init rootless-child: cannot run {}: {e}", Path::new(prog).display());
    if e.kind() == std::io::ErrorKind::NotFound {
        crate::error::EXIT_NOT_FOUND
    } else {
        crate::error::EXIT_NOT_EXECUTABLE
    }
}

/// The one-line reason pre-checks give, as the error dind-init exits 125 with.
pub fn check_error(msg: String) -> Error {
    Error::Setup(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        rootless:x:1000:1000:Rootless:/home/rootless:/bin/sh\n# comment:x:1:1::/:/bin/sh\n";

    #[test]
    fn users_by_name_or_uid() {
        let u = lookup(PASSWD, "rootless").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_path()), (1000, 1000, Path::new("/home/rootless")));
        assert_eq!(lookup(PASSWD, "1000"), Some(u));
        assert_eq!(lookup(PASSWD, "0").unwrap().name, "root");
        assert!(lookup(PASSWD, "nobody").is_none());
        assert!(lookup(PASSWD, "# comment").is_none());
    }

    #[test]
    fn subid_ranges_by_name_or_uid_with_a_count() {
        let u = lookup(PASSWD, "rootless").unwrap();
        assert!(has_subid_range("rootless:100000:65536\n", &u));
        assert!(has_subid_range("other:1:2\n1000:100000:65536\n", &u));
        assert!(!has_subid_range("rootless:100000:0\n", &u));
        assert!(!has_subid_range("rootlessx:100000:65536\n", &u));
        assert!(!has_subid_range("", &u));
    }

    #[test]
    fn writable_by_owner_group_or_others() {
        assert!(writable_by(1000, 1000, 0o700, 1000, 1000));
        assert!(!writable_by(1000, 1000, 0o500, 1000, 1000));
        assert!(!writable_by(0, 0, 0o755, 1000, 1000));
        assert!(writable_by(0, 0, 0o1777, 1000, 1000));
        assert!(writable_by(0, 1000, 0o775, 1000, 1000));
        assert!(writable_by(0, 0, 0o700, 0, 0));
    }

    #[test]
    fn rootlesskit_runs_dind_init_as_its_child_with_the_scripts_flags() {
        let a = rootlesskit_args(
            "slirp4netns",
            &KitSettings::default(),
            &[2376],
            "/usr/local/bin/dind-init",
            "dockerd",
            &["--host=unix:///run/user/1000/docker.sock".to_string()],
        );
        let want = "--net=slirp4netns --mtu=65520 --slirp4netns-sandbox=auto \
            --slirp4netns-seccomp=auto --disable-host-loopback --port-driver=builtin \
            --copy-up=/etc --copy-up=/run --propagation=rslave --publish=0.0.0.0:2376:2376/tcp \
            /usr/local/bin/dind-init rootless-child dockerd \
            --host=unix:///run/user/1000/docker.sock";
        assert_eq!(a.join(" "), want.split_whitespace().collect::<Vec<_>>().join(" "));
        let kit = KitSettings {
            mtu: Some("1400".into()),
            port_driver: Some("slirp4netns".into()),
            flags: vec!["--debug".into()],
        };
        let a = rootlesskit_args("vpnkit", &kit, &[], "/d", "dockerd", &[]).join(" ");
        assert_eq!(
            a,
            "--net=vpnkit --mtu=1400 --disable-host-loopback --port-driver=slirp4netns \
             --copy-up=/etc --copy-up=/run --propagation=rslave --debug /d rootless-child dockerd"
        );
    }

    #[test]
    fn tcp_ports_of_dockerds_hosts() {
        let a: Vec<String> =
            ["--host=unix:///s", "--host=tcp://0.0.0.0:2376", "-H", "tcp://[::]:2375"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        assert_eq!(tcp_ports(&a), vec![2376, 2375]);
        assert!(tcp_ports(&["-Hfd://".to_string()]).is_empty());
    }

    #[test]
    fn rootless_paths_and_the_plan_keeps_what_the_user_set() {
        let u = lookup(PASSWD, "rootless").unwrap();
        let p = paths(&u, None);
        assert_eq!(p.socket, Path::new("/run/user/1000/docker.sock"));
        assert_eq!(p.data_root, Path::new("/home/rootless/.local/share/docker"));
        assert_eq!(paths(&u, Some("/x")).pidfile, Path::new("/x/docker.pid"));
        assert_eq!(paths(&u, Some("relative")).xdg_runtime_dir, Path::new("/run/user/1000"));
        let c = crate::config::Config::blank();
        let json = DaemonJson::parse(r#"{"exec-root": "/e"}"#).unwrap();
        let mut plan = plan::plan(&plan::Inputs {
            cfg: &c,
            daemon_json: &json,
            docker_host: None,
            own_cgroup: None,
            route_mtu: None,
            path_prefix: None,
            tls: None,
            containerd_bin: None,
            engine_major: None,
            containerd_major: None,
        })
        .unwrap();
        let args = vec!["--pidfile=/p".to_string()];
        adjust_plan(&mut plan, &args, &json, &p);
        assert_eq!(plan.data_root, p.data_root);
        assert_eq!(plan.exec_root, Path::new("/e"), "daemon.json's own stays");
        assert_eq!(plan.pidfile, Path::new("/var/run/docker.pid"), "the flag's own stays");
    }

    /// A fixture root with everything a rootless dockerd needs, for the current user (so the
    /// writable checks are true of its own directories).
    fn fixture(name: &str) -> (PathBuf, User) {
        let root =
            std::env::temp_dir().join(format!("dind-rootless-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        let user = User { name: "rootless".into(), uid, gid, home: "/home/rootless".into() };
        let w = |p: &str, text: &str, mode: u32| {
            let f = under(&root, Path::new(p));
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(&f, text).unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        w("/etc/subuid", "rootless:100000:65536\n", 0o644);
        w("/etc/subgid", "rootless:100000:65536\n", 0o644);
        w("/proc/sys/user/max_user_namespaces", "63000\n", 0o644);
        for t in ["newuidmap", "newgidmap", "rootlesskit", "slirp4netns"] {
            w(&format!("/usr/bin/{t}"), "", 0o755);
        }
        w("/dev/net/tun", "", 0o666);
        for d in ["/run/user/1000", "/home/rootless/.local/share/docker"] {
            std::fs::create_dir_all(under(&root, Path::new(d))).unwrap();
        }
        (root, user)
    }

    fn check(root: &Path, user: &User) -> std::result::Result<Tools, String> {
        pre_check(&Check {
            root,
            user,
            xdg_runtime_dir: Path::new("/run/user/1000"),
            data_root: Path::new("/home/rootless/.local/share/docker"),
            path: "/usr/local/bin:/usr/bin",
            net: None,
        })
    }

    type Breaker = dyn Fn(&Path);

    /// Each requirement missing in turn: its own one-line message.
    #[test]
    fn each_missing_requirement_has_its_one_line_message() {
        let (root, user) = fixture("each");
        let ok = check(&root, &user).unwrap();
        assert_eq!(ok.rootlesskit, Path::new("/usr/bin/rootlesskit"));
        assert_eq!(ok.net, "slirp4netns");
        let cases: &[(&str, &Breaker, &str)] = &[
            (
                "/etc/subuid",
                &|p| std::fs::write(p, "other:1:65536\n").unwrap(),
                "/etc/subuid has no range",
            ),
            ("/etc/subgid", &|p| std::fs::remove_file(p).unwrap(), "/etc/subgid has no range"),
            (
                "/proc/sys/user/max_user_namespaces",
                &|p| std::fs::write(p, "0\n").unwrap(),
                "max_user_namespaces is 0",
            ),
            (
                "/run/user/1000",
                &|p| std::fs::remove_dir(p).unwrap(),
                "XDG_RUNTIME_DIR /run/user/1000 is not",
            ),
            (
                "/dev/net/tun",
                &|p| std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o000)).unwrap(),
                "cannot open it for rootlesskit's tap device",
            ),
            (
                "/usr/bin/newuidmap",
                &|p| std::fs::remove_file(p).unwrap(),
                "newuidmap is not in PATH",
            ),
            (
                "/usr/bin/newgidmap",
                &|p| std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap(),
                "newgidmap is not in PATH",
            ),
            (
                "/usr/bin/rootlesskit",
                &|p| std::fs::remove_file(p).unwrap(),
                "rootlesskit is not in PATH",
            ),
            (
                "/usr/bin/slirp4netns",
                &|p| std::fs::remove_file(p).unwrap(),
                "neither slirp4netns nor vpnkit",
            ),
        ];
        for (path, break_it, want) in cases {
            let (root, user) = fixture("one");
            break_it(&under(&root, Path::new(path)));
            let e = check(&root, &user).expect_err(path);
            assert!(e.starts_with("rootless: ") && e.contains(want), "{path}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
            let _ = std::fs::remove_dir_all(&root);
        }
        let _ = std::fs::remove_dir_all(&root);
    }

    /// HOME not writable, and a data root someone else owns (a root-owned volume).
    #[test]
    fn home_and_data_root_must_be_the_users() {
        let (root, mut user) = fixture("home");
        user.uid += 1; // another user than the owner of the fixture's directories
        let home = under(&root, Path::new("/home/rootless"));
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
        // XDG_RUNTIME_DIR writable by all, so HOME is the first to fail
        let xdg = under(&root, Path::new("/run/user/1000"));
        std::fs::set_permissions(&xdg, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let e = check(&root, &user).unwrap_err();
        assert!(e.contains("HOME /home/rootless is not a directory"), "{e}");
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = check(&root, &user).unwrap_err();
        assert!(e.contains("the data root /home/rootless/.local/share/docker is owned by"), "{e}");
        let _ = std::fs::remove_dir_all(&root);
    }

    /// XDG_RUNTIME_DIR as a link is refused before anything changes; a directory becomes the
    /// user's, 0700.
    #[test]
    fn xdg_runtime_dir_is_never_changed_through_a_link() {
        let (root, user) = fixture("xdglink");
        let elsewhere = root.join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o755)).unwrap();
        let link = root.join("xdg-link");
        std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
        let data_root = root.join("data");
        let e = prepare_as_root(&user, &link, &data_root).unwrap_err().to_string();
        assert!(e.contains("is a symbolic link") && e.contains("xdg-link"), "{e}");
        let mode = std::fs::metadata(&elsewhere).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o755, "the link's target is left as it was");
        assert!(!data_root.exists(), "nothing done after the refusal");

        let xdg = root.join("xdg");
        prepare_as_root(&user, &xdg, &data_root).unwrap();
        let m = std::fs::symlink_metadata(&xdg).unwrap();
        assert!(m.is_dir());
        assert_eq!((m.mode() & 0o7777, m.uid()), (0o700, user.uid));
        assert!(data_root.is_dir());
        let _ = std::fs::remove_dir_all(&root);
    }

    /// Only the tun character device is opened to all: a link to a file, or a plain file, at
    /// the path is left as it is.
    #[test]
    fn only_the_tun_device_itself_is_made_0666() {
        let (root, _) = fixture("tun");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o7777;
        let secret = root.join("secret");
        std::fs::write(&secret, "").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = root.join("tun-link");
        std::os::unix::fs::symlink(&secret, &link).unwrap();
        open_tun_at(&link);
        assert_eq!(mode(&secret), 0o600, "not through a link");
        open_tun_at(&secret);
        assert_eq!(mode(&secret), 0o600, "not a plain file");

        let dev = root.join("tun");
        let tun = nix::sys::stat::makedev(10, 200);
        let made = nix::sys::stat::mknod(
            &dev,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
            tun,
        );
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&root);
            return crate::ci::skip(
                "only_the_tun_device_itself_is_made_0666",
                &format!("mknod: {e}"),
            );
        }
        std::fs::set_permissions(&dev, std::fs::Permissions::from_mode(0o600)).unwrap();
        open_tun_at(&dev);
        assert_eq!(mode(&dev), 0o666, "the device itself");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn the_child_removes_only_the_parents_links() {
        let (root, _) = fixture("child");
        let run = root.join("run");
        std::os::unix::fs::symlink("/nonexistent/docker", run.join("docker")).unwrap();
        std::fs::write(run.join("xtables.lock"), "").unwrap();
        child_steps(&run);
        assert!(std::fs::symlink_metadata(run.join("docker")).is_err());
        assert!(run.join("xtables.lock").exists(), "a real file is the namespace's own");
        let _ = std::fs::remove_dir_all(&root);
    }
}
