//! dockerd's command line, worked out without touching the system: the user's arguments
//! plus what keeps Docker-in-Docker correct (a unix socket to probe, docker:dind's TCP
//! listeners, the cgroup parent that keeps inner containers inside ours, the MTU of the
//! network we are on, a shutdown time-out that fits `docker stop`). dind-init adds a
//! setting only when the user did not set it, by flag or in daemon.json: dockerd refuses a
//! setting given both ways. Everything it needs comes in as values (`Inputs`), so every
//! rule is unit-tested.

use super::daemon_json::DaemonJson;
use crate::config::{unix_path, AutoOr, Config, ContainerdBy, TlsDir, DEFAULT_SOCKET};
use crate::error::{usage, Result};
use std::path::{Path, PathBuf};

/// docker:dind's TCP ports: with TLS, and without.
pub const TLS_PORT: u16 = 2376;
pub const PLAIN_PORT: u16 = 2375;

/// The server's TLS files, for `--tlscacert`, `--tlscert` and `--tlskey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl ServerTls {
    /// docker:dind's layout: DIR/server/{ca,cert,key}.pem.
    #[cfg(test)]
    pub fn in_dir(dir: &Path) -> ServerTls {
        let s = dir.join("server");
        ServerTls { ca: s.join("ca.pem"), cert: s.join("cert.pem"), key: s.join("key.pem") }
    }
}

/// The first Docker major version (after 20.10 came 23) on which `auto` starts containerd itself.
pub const OWN_CONTAINERD_FROM: u32 = 23;

/// What the plan is made from.
pub struct Inputs<'a> {
    pub cfg: &'a Config,
    /// dockerd's config file, parsed (empty when there is none).
    pub daemon_json: &'a DaemonJson,
    /// `DOCKER_HOST` from the environment.
    pub docker_host: Option<&'a str>,
    /// This container's cgroup as runc inside will see it.
    pub own_cgroup: Option<&'a str>,
    /// The default route's interface and MTU, when below 1500.
    pub route_mtu: Option<(&'a str, u32)>,
    /// A directory to put first in dockerd's PATH (the iptables backend).
    pub path_prefix: Option<PathBuf>,
    /// The server's TLS files, when there is a TLS listener.
    pub tls: Option<ServerTls>,
    /// The `containerd` binary found in PATH.
    pub containerd_bin: Option<PathBuf>,
    /// The engine's major version (Debian's docker.io 20, 26, 28, ...), when known.
    pub engine_major: Option<u32>,
    /// containerd's major version (1 or 2), when known: which config version it reads.
    pub containerd_major: Option<u32>,
}

/// The config version the installed containerd reads: 3 from containerd 2.0 on (a version 2
/// file makes it log "Configuration migrated from version 2" at every start), 2 before (and
/// when unknown: 2.x still reads it).
pub fn containerd_config_version(containerd_major: Option<u32>) -> u32 {
    if containerd_major.is_some_and(|m| m >= 2) {
        3
    } else {
        2
    }
}

/// containerd, when dind-init runs it: at the paths dockerd's managed containerd would use,
/// so its data stays on the data root's volume and switching between the two keeps it.
#[derive(Debug, Clone)]
pub struct ContainerdPlan {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The config file and what to write into it (dockerd writes the same for its own).
    pub config: PathBuf,
    pub config_text: String,
    pub socket: PathBuf,
    /// Where its image layers and snapshots go.
    pub root: PathBuf,
}

fn toml_str(p: &Path) -> String {
    format!("\"{}\"", p.display().to_string().replace('\\', "\\\\").replace('"', "\\\""))
}

impl ContainerdPlan {
    fn new(program: PathBuf, exec_root: &Path, data_root: &Path, version: u32) -> ContainerdPlan {
        let dir = exec_root.join("containerd");
        let socket = dir.join("containerd.sock");
        let root = data_root.join("containerd").join("daemon");
        let config = dir.join("containerd.toml");
        // containerd 2 split its CRI plugin: the last two names (1.x ignores unknown ones).
        let config_text = [
            "# Written by dind-init at each start: what dockerd writes for its own containerd.",
            &format!("version = {version}"),
            &format!("root = {}", toml_str(&root)),
            &format!("state = {}", toml_str(&dir.join("daemon"))),
            "disabled_plugins = [",
            "  \"io.containerd.grpc.v1.cri\",",
            "  \"io.containerd.cri.v1.images\",",
            "  \"io.containerd.cri.v1.runtime\",",
            "]",
            "",
            "[grpc]",
            &format!("  address = {}", toml_str(&socket)),
            "  max_recv_message_size = 16777216",
            "  max_send_message_size = 16777216",
            "",
            "[debug]",
            &format!("  address = {}", toml_str(&dir.join("containerd-debug.sock"))),
            "",
        ]
        .join("\n");
        let args = vec!["--config".to_string(), config.display().to_string()];
        ContainerdPlan { program, args, config, config_text, socket, root }
    }
}

/// Everything needed to run dockerd and find it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub program: String,
    pub args: Vec<String>,
    /// The unix socket dind-init probes, and tells the command (DOCKER_HOST).
    pub socket: PathBuf,
    pub unix_sockets: Vec<PathBuf>,
    pub pidfile: PathBuf,
    pub exec_root: PathBuf,
    pub data_root: PathBuf,
    pub path_prefix: Option<PathBuf>,
    /// containerd, when dind-init runs it.
    pub containerd: Option<ContainerdPlan>,
    /// What dind-init added and why, for the log.
    pub notes: Vec<String>,
    /// A rootless dockerd started by root: who rootlesskit runs as (`rootless.rs`).
    pub run_as: Option<crate::rootless::RunAs>,
    /// The registry mirrors dockerd uses (the user's, else `DOCKER_REGISTRY_MIRROR`'s):
    /// probed once it answers.
    pub mirrors: Vec<String>,
    /// The variables left unused because the user set the same thing (`env-unused`).
    pub unused: Vec<Unused>,
}

/// A variable dind-init did not apply: the user set the same dockerd setting by flag or in
/// daemon.json (dockerd refuses a setting given both ways, and the user's choice wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unused {
    pub var: &'static str,
    /// daemon.json's key for the setting.
    pub key: &'static str,
    /// `flag` or `daemon.json`.
    pub by: &'static str,
}

/// The config file dockerd will read: `--config-file`, else /etc/docker/daemon.json.
pub fn config_file(user_args: &[String]) -> PathBuf {
    flag_values(user_args, "--config-file", None)
        .pop()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/docker/daemon.json"))
}

/// The TCP listeners dind-init adds: (port, with TLS).
pub fn tcp_listeners(cfg: &Config) -> Vec<(u16, bool)> {
    let tls = matches!(cfg.tls_certdir, TlsDir::Dir(_));
    let mut out = Vec::new();
    if cfg.service_defaults {
        match cfg.tls_certdir {
            TlsDir::Dir(_) => out.push((TLS_PORT, true)),
            TlsDir::Off => out.push((PLAIN_PORT, false)),
            TlsDir::Unset => {}
        }
    }
    if let Some(p) = cfg.port {
        if !out.iter().any(|(q, _)| *q == p) {
            out.push((p, tls));
        }
    }
    out
}

/// The value of a dockerd flag in an argument list: `--flag=v`, `--flag v`, `-f v`, `-fv`.
/// With several occurrences, all values in order.
pub fn flag_values(args: &[String], long: &str, short: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == long || Some(a.as_str()) == short {
            if let Some(v) = args.get(i + 1) {
                out.push(v.clone());
                i += 1;
            }
        } else if let Some(v) = a.strip_prefix(long).and_then(|r| r.strip_prefix('=')) {
            out.push(v.to_string());
        } else if let Some(v) = short.and_then(|s| a.strip_prefix(s)) {
            if !v.is_empty() && !a.starts_with("--") {
                out.push(v.trim_start_matches('=').to_string());
            }
        }
        i += 1;
    }
    out
}

/// Whether a boolean or valued flag appears at all.
pub fn has_flag(args: &[String], long: &str) -> bool {
    args.iter().any(|a| a == long || a.strip_prefix(long).is_some_and(|r| r.starts_with('=')))
}

/// dockerd's settings as the user gave them, by flag or in daemon.json.
struct User<'a> {
    args: &'a [String],
    json: &'a DaemonJson,
}

impl User<'_> {
    fn values(&self, long: &str, short: Option<&str>, json_key: &str) -> Vec<String> {
        let v = flag_values(self.args, long, short);
        if !v.is_empty() {
            return v;
        }
        self.json.value(json_key).unwrap_or_default()
    }
    fn is_set(&self, long: &str, json_key: &str) -> bool {
        has_flag(self.args, long) || self.json.has(json_key)
    }
    fn last_path(&self, long: &str, short: Option<&str>, key: &str, default: &str) -> PathBuf {
        PathBuf::from(self.values(long, short, key).pop().unwrap_or_else(|| default.into()))
    }
}

fn unix_socket(host: &str) -> Option<PathBuf> {
    host.strip_prefix("unix://")
        .map(|p| PathBuf::from(if p.is_empty() { DEFAULT_SOCKET } else { p }))
}

/// Builds dockerd's command line.
pub fn plan(i: &Inputs) -> Result<Plan> {
    let cfg = i.cfg;
    let user = User { args: &cfg.dockerd_args, json: i.daemon_json };
    let mut extra: Vec<String> = Vec::new();
    let mut notes = Vec::new();

    // Hosts: the user's (flags, else daemon.json), else where DOCKER_HOST says (docker:dind),
    // else dockerd's default. A unix socket must be among them: it is what dind-init probes.
    let hosts_flags = flag_values(user.args, "--host", Some("-H"));
    let hosts_json = if hosts_flags.is_empty() { user.json.value("hosts") } else { None };
    let mut sockets: Vec<PathBuf> = hosts_flags.iter().filter_map(|h| unix_socket(h)).collect();
    if let Some(h) = &hosts_json {
        sockets = h.iter().filter_map(|h| unix_socket(h)).collect();
        if h.is_empty() {
            // `"hosts": []` (or null): dockerd listens on its default socket.
            sockets.push(PathBuf::from(DEFAULT_SOCKET));
        }
    }
    let env_socket = i.docker_host.and_then(unix_path);
    let listeners = tcp_listeners(cfg);
    if let Some(json) = &hosts_json {
        if sockets.is_empty() {
            return Err(usage(format!(
                "daemon.json sets \"hosts\": {json:?} without a unix:// socket: dind-init needs \
                 one to know when dockerd is ready (and the command needs one): add \
                 \"unix://{DEFAULT_SOCKET}\" to \"hosts\""
            )));
        }
        if !listeners.is_empty() {
            notes.push(
                "daemon.json sets \"hosts\": dind-init adds no TCP listener (dockerd refuses \
                 hosts given both ways)"
                    .to_string(),
            );
        }
    } else {
        let wanted = env_socket.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
        let user_gave_hosts = !hosts_flags.is_empty();
        if sockets.is_empty() && (user_gave_hosts || !listeners.is_empty() || env_socket.is_some())
        {
            // No unix socket among the user's hosts, or dind-init adds TCP listeners (with an
            // explicit host dockerd no longer listens on its default socket).
            if user_gave_hosts {
                notes.push(format!(
                    "dockerd's hosts have no unix socket: adding {} (dind-init probes it; the \
                     command uses it)",
                    wanted.display()
                ));
            }
            extra.push(format!("--host=unix://{}", wanted.display()));
            sockets.push(wanted);
        }
        let mut tls_added = false;
        for (port, tls) in &listeners {
            extra.push(format!("--host=tcp://0.0.0.0:{port}"));
            if *tls {
                let t = i.tls.as_ref().ok_or_else(|| {
                    usage(format!("a TLS listener on port {port} needs the server's TLS files"))
                })?;
                if !tls_added && !user.is_set("--tlsverify", "tlsverify") {
                    extra.push("--tlsverify".into());
                    extra.push(format!("--tlscacert={}", t.ca.display()));
                    extra.push(format!("--tlscert={}", t.cert.display()));
                    extra.push(format!("--tlskey={}", t.key.display()));
                    tls_added = true;
                }
                notes.push(format!(
                    "dockerd listens on tcp://0.0.0.0:{port} with TLS (--tlsverify)"
                ));
            } else {
                // Without an explicit --tls=false dockerd sleeps 15 s before it listens.
                if !tls_added
                    && !user.is_set("--tls", "tls")
                    && !user.is_set("--tlsverify", "tlsverify")
                {
                    extra.push("--tls=false".into());
                    tls_added = true;
                }
                notes.push(format!(
                    "dockerd listens on tcp://0.0.0.0:{port} WITHOUT TLS: anyone who reaches it \
                     is root in this container"
                ));
            }
        }
    }
    if sockets.is_empty() {
        sockets.push(env_socket.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET)));
    }
    for p in &sockets {
        // sun_path holds 108 bytes with the terminating NUL: dockerd could never listen there.
        if p.as_os_str().len() > 107 {
            return Err(usage(format!(
                "dockerd socket path {} is {} bytes long: unix socket paths are limited to 107 \
                 bytes; choose a shorter -H unix://PATH",
                p.display(),
                p.as_os_str().len()
            )));
        }
    }
    let socket = match &env_socket {
        Some(e) if sockets.contains(e) => e.clone(),
        _ => sockets[0].clone(),
    };

    // Keep inner containers inside this container's cgroup.
    let systemd = "native.cgroupdriver=systemd";
    let systemd_driver = user.args.iter().any(|a| a.contains(systemd))
        || user.json.value("exec-opts").unwrap_or_default().iter().any(|o| o.contains(systemd));
    if !user.is_set("--cgroup-parent", "cgroup-parent") {
        let parent = match &cfg.cgroup_parent {
            AutoOr::Off => None,
            AutoOr::Value(p) => Some(p.clone()),
            AutoOr::Auto if systemd_driver => {
                notes.push(
                    "cgroups: dockerd uses the systemd cgroup driver: not setting --cgroup-parent"
                        .into(),
                );
                None
            }
            AutoOr::Auto => i.own_cgroup.and_then(crate::cgroup::proc::nested_parent),
        };
        if let Some(p) = parent {
            notes.push(format!(
                "cgroups: inner containers go below {p} (--cgroup-parent), inside this \
                    container's cgroup"
            ));
            extra.push(format!("--cgroup-parent={p}"));
        }
    }
    // The MTU of the network we are on, when smaller than dockerd's default: for the default
    // bridge (--mtu) and, on engines that have the flag (24+), for networks users create.
    let mtu = match (&cfg.mtu, i.route_mtu) {
        (AutoOr::Off, _) | (AutoOr::Auto, None) => None,
        (AutoOr::Value(m), _) => Some(*m),
        (AutoOr::Auto, Some((iface, m))) => {
            notes.push(format!(
                "network: default route via {iface} has MTU {m}: passing --mtu={m} to dockerd"
            ));
            Some(m)
        }
    };
    if let Some(m) = mtu {
        if !user.is_set("--mtu", "mtu") {
            extra.push(format!("--mtu={m}"));
        }
        let opts_set = user.is_set("--default-network-opt", "default-network-opts");
        if i.engine_major.is_some_and(|v| v >= 24) && !opts_set {
            extra.push(format!("--default-network-opt=bridge=com.docker.network.driver.mtu={m}"));
        }
    }
    // dockerd's own default (15 s) is only a floor of its shutdown; keep it inside ours.
    if !user.is_set("--shutdown-timeout", "shutdown-timeout") {
        let secs = cfg.shutdown_timeout.as_secs().saturating_sub(3).max(1);
        extra.push(format!("--shutdown-timeout={secs}"));
    }
    let exec_root = user.last_path("--exec-root", None, "exec-root", "/var/run/docker");
    let data_root = user.last_path("--data-root", None, "data-root", "/var/lib/docker");
    // containerd: dind-init's own child, or dockerd's managed one. auto leaves it to dockerd on
    // the 20.10 line: started by dind-init it was no faster there (docs/BENCHMARKS.md: ready
    // 0.79 s against 0.73 s), while on 26 (dockerd's fixed 1 s wait) and 28 it is as fast or
    // faster, and its crash recovery takes 1.6 s instead of dockerd's 11 s everywhere.
    let users_own = user.is_set("--containerd", "containerd");
    let old_engine = i.engine_major.filter(|m| *m < OWN_CONTAINERD_FROM);
    let containerd = match (cfg.containerd, &i.containerd_bin) {
        (ContainerdBy::Dockerd, _) => None,
        (_, _) if users_own => {
            notes.push(
                "containerd: dockerd is given one already (--containerd): leaving it be".into(),
            );
            None
        }
        (ContainerdBy::DindInit, None) => {
            return Err(usage(
                "DIND_CONTAINERD_BY=dind-init, but there is no containerd binary in PATH",
            ))
        }
        (ContainerdBy::Auto, None) => None,
        (ContainerdBy::Auto, Some(_)) if old_engine.is_some() => {
            notes.push(format!(
                "containerd: left to dockerd on Docker {} (started by dind-init it is no faster \
                 there); DIND_CONTAINERD_BY=dind-init for its faster crash recovery",
                old_engine.unwrap_or_default()
            ));
            None
        }
        (_, Some(bin)) => Some(ContainerdPlan::new(
            bin.clone(),
            &exec_root,
            &data_root,
            containerd_config_version(i.containerd_major),
        )),
    };
    if let Some(c) = &containerd {
        extra.push(format!("--containerd={}", c.socket.display()));
    }
    // Registry mirrors and the default address pool, the way runners pass them (ARC's
    // variables), unless the user set them by flag or in daemon.json.
    let by = |flag: &str| if has_flag(user.args, flag) { "flag" } else { "daemon.json" };
    let mut unused = Vec::new();
    let mut mirrors = user.values("--registry-mirror", None, "registry-mirrors");
    if !cfg.registry_mirrors.is_empty() {
        if user.is_set("--registry-mirror", "registry-mirrors") {
            let by = by("--registry-mirror");
            unused.push(Unused { var: "DOCKER_REGISTRY_MIRROR", key: "registry-mirrors", by });
        } else {
            extra.extend(cfg.registry_mirrors.iter().map(|m| format!("--registry-mirror={m}")));
            mirrors = cfg.registry_mirrors.clone();
        }
    }
    if let Some(pool) = &cfg.address_pool {
        if user.is_set("--default-address-pool", "default-address-pools") {
            let by = by("--default-address-pool");
            for var in ["DOCKER_DEFAULT_ADDRESS_POOL_BASE", "DOCKER_DEFAULT_ADDRESS_POOL_SIZE"] {
                unused.push(Unused { var, key: "default-address-pools", by });
            }
        } else {
            notes.push(format!("network: inner networks come from the pool {pool}"));
            extra.push(format!("--default-address-pool={pool}"));
        }
    }
    let mut args = extra;
    args.extend(user.args.iter().cloned());
    Ok(Plan {
        program: cfg.dockerd.clone(),
        args,
        socket,
        unix_sockets: sockets,
        pidfile: user.last_path("--pidfile", Some("-p"), "pidfile", "/var/run/docker.pid"),
        exec_root,
        data_root,
        path_prefix: i.path_prefix.clone(),
        containerd,
        notes,
        run_as: None,
        mirrors,
        unused,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{parse, Invocation};
    use std::collections::HashMap;
    use std::ffi::OsString;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn cfg(args: &[&str], env: &[(&str, &str)]) -> Config {
        let env: HashMap<String, String> =
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        match parse(&args, &env).unwrap() {
            Invocation::Run(c) => *c,
            _ => panic!(),
        }
    }

    fn inputs(c: &Config) -> Inputs<'_> {
        Inputs {
            cfg: c,
            daemon_json: json(""),
            docker_host: None,
            own_cgroup: None,
            route_mtu: None,
            path_prefix: None,
            tls: Some(ServerTls::in_dir(Path::new("/certs"))),
            containerd_bin: None,
            engine_major: None,
            containerd_major: None,
        }
    }

    /// A parsed daemon.json that lives as long as the test.
    fn json(text: &str) -> &'static DaemonJson {
        Box::leak(Box::new(DaemonJson::parse(text).unwrap()))
    }

    fn has(p: &Plan, a: &str) -> bool {
        p.args.iter().any(|x| x == a)
    }

    /// containerd 2.x reads version 3 (a version 2 file is migrated, and says so, at every
    /// start); 1.x and an unknown one get version 2.
    #[test]
    fn containerd_config_version_follows_containerd() {
        assert_eq!(containerd_config_version(Some(2)), 3);
        assert_eq!(containerd_config_version(Some(1)), 2);
        assert_eq!(containerd_config_version(None), 2);
        let c = cfg(&[], &[("DIND_CONTAINERD_BY", "dind-init")]);
        let bin = Some(PathBuf::from("/usr/bin/containerd"));
        for (major, want) in [(Some(2), "\nversion = 3\n"), (Some(1), "\nversion = 2\n")] {
            let i = Inputs { containerd_bin: bin.clone(), containerd_major: major, ..inputs(&c) };
            let text = plan(&i).unwrap().containerd.expect("containerd plan").config_text;
            assert!(text.contains(want), "{major:?}: {text}");
        }
    }

    /// DOCKER_REGISTRY_MIRROR and the pool become dockerd flags, unless the user's flags or
    /// daemon.json set the same: then they are left unused (an `env-unused` each), and the
    /// mirrors probed are the user's.
    #[test]
    fn mirrors_and_the_pool_unless_the_user_set_them() {
        let env = [
            ("DOCKER_REGISTRY_MIRROR", "http://127.0.0.1:5000,https://m.example"),
            ("DOCKER_DEFAULT_ADDRESS_POOL_BASE", "10.10.0.0/16"),
            ("DOCKER_DEFAULT_ADDRESS_POOL_SIZE", "24"),
        ];
        let c = cfg(&[], &env);
        let p = plan(&inputs(&c)).unwrap();
        assert!(has(&p, "--registry-mirror=http://127.0.0.1:5000"), "{:?}", p.args);
        assert!(has(&p, "--registry-mirror=https://m.example"), "{:?}", p.args);
        assert!(has(&p, "--default-address-pool=base=10.10.0.0/16,size=24"), "{:?}", p.args);
        assert_eq!(p.mirrors, ["http://127.0.0.1:5000", "https://m.example"]);
        assert!(p.unused.is_empty());
        // The user's flags win.
        let c = cfg(
            &["--registry-mirror", "http://own", "--default-address-pool=base=10.9.0.0/16,size=24"],
            &env,
        );
        let p = plan(&inputs(&c)).unwrap();
        assert_eq!(p.args.iter().filter(|a| a.starts_with("--registry-mirror")).count(), 1);
        assert!(!has(&p, "--default-address-pool=base=10.10.0.0/16,size=24"), "{:?}", p.args);
        assert_eq!(p.mirrors, ["http://own"]);
        let want = |var| Unused { var, key: "registry-mirrors", by: "flag" };
        assert_eq!(p.unused[0], want("DOCKER_REGISTRY_MIRROR"));
        assert_eq!(p.unused.len(), 3);
        assert!(p.unused[1..].iter().all(|u| u.key == "default-address-pools" && u.by == "flag"));
        // Or daemon.json.
        let c = cfg(&[], &env);
        let j = json(
            r#"{"registry-mirrors": ["https://json.example"], "default-address-pools": [{"base": "10.8.0.0/16", "size": 24}]}"#,
        );
        let p = plan(&Inputs { daemon_json: j, ..inputs(&c) }).unwrap();
        assert!(!p.args.iter().any(|a| a.starts_with("--registry-mirror")), "{:?}", p.args);
        assert!(!p.args.iter().any(|a| a.starts_with("--default-address-pool")), "{:?}", p.args);
        assert_eq!(p.mirrors, ["https://json.example"]);
        assert_eq!(p.unused.len(), 3);
        assert!(p.unused.iter().all(|u| u.by == "daemon.json"), "{:?}", p.unused);
        // Nothing set: nothing added, the user's own mirror flag still probed.
        let c = cfg(&["--registry-mirror=http://own:5000"], &[]);
        let p = plan(&inputs(&c)).unwrap();
        assert_eq!(p.mirrors, ["http://own:5000"]);
        assert!(p.unused.is_empty());
        assert!(!p.args.iter().any(|a| a.starts_with("--default-address-pool")));
    }

    #[test]
    fn flag_forms() {
        let a = s(&[
            "-H",
            "unix:///a.sock",
            "--host=tcp://0.0.0.0:2375",
            "-Hfd://",
            "--pidfile",
            "/p",
            "-p=/q",
            "--debug",
        ]);
        assert_eq!(
            flag_values(&a, "--host", Some("-H")),
            vec!["unix:///a.sock", "tcp://0.0.0.0:2375", "fd://"]
        );
        assert_eq!(flag_values(&a, "--pidfile", Some("-p")), vec!["/p", "/q"]);
        assert!(flag_values(&a, "--exec-root", None).is_empty());
        assert!(has_flag(&a, "--debug"));
        assert!(!has_flag(&a, "--debu"));
        assert!(!has_flag(&s(&["--tlsverify"]), "--tls"));
    }

    #[test]
    fn defaults_and_user_paths() {
        let c = cfg(&["true"], &[]);
        let p = plan(&Inputs { own_cgroup: Some("/docker/abc"), ..inputs(&c) }).unwrap();
        assert_eq!(p.socket, PathBuf::from(DEFAULT_SOCKET));
        assert_eq!(p.pidfile, PathBuf::from("/var/run/docker.pid"));
        assert!(has(&p, "--cgroup-parent=/docker/abc/docker"), "{:?}", p.args);
        assert!(has(&p, "--shutdown-timeout=5"));
        assert!(
            !p.args.iter().any(|a| a.starts_with("--host") || a.starts_with("--mtu")),
            "{:?}",
            p.args
        );

        let c = cfg(
            &["true"],
            &[
                ("DOCKER_DAEMON_ARGS", "-H unix:///t/d.sock --pidfile=/t/d.pid --exec-root /t/x --cgroup-parent=/mine --shutdown-timeout 2"),
                ("DIND_MTU", "1400"),
            ],
        );
        let p = plan(&Inputs { own_cgroup: Some("/docker/abc"), ..inputs(&c) }).unwrap();
        assert_eq!(p.socket, PathBuf::from("/t/d.sock"));
        assert_eq!(p.pidfile, PathBuf::from("/t/d.pid"));
        assert_eq!(p.exec_root, PathBuf::from("/t/x"));
        assert_eq!(p.args.iter().filter(|a| a.starts_with("--cgroup-parent")).count(), 1);
        assert_eq!(p.args.iter().filter(|a| a.starts_with("--shutdown-timeout")).count(), 1);
        assert!(has(&p, "--mtu=1400"));
    }

    #[test]
    fn detected_mtu_is_passed_in() {
        let c = cfg(&["true"], &[]);
        let p = plan(&Inputs { route_mtu: Some(("eth0", 1450)), ..inputs(&c) }).unwrap();
        assert!(has(&p, "--mtu=1450"), "{:?}", p.args);
        let c = cfg(&["true"], &[("DIND_MTU", "off")]);
        let p = plan(&Inputs { route_mtu: Some(("eth0", 1450)), ..inputs(&c) }).unwrap();
        assert!(!p.args.iter().any(|a| a.starts_with("--mtu")));
        let p = plan(&Inputs {
            daemon_json: json(r#"{"mtu": 1300}"#),
            route_mtu: Some(("eth0", 1450)),
            ..inputs(&cfg(&["true"], &[]))
        });
        assert!(!p.unwrap().args.iter().any(|a| a.starts_with("--mtu")));
    }

    #[test]
    fn mtu_for_user_networks_on_engines_that_have_the_flag() {
        let opt = "--default-network-opt=bridge=com.docker.network.driver.mtu=1450";
        let c = cfg(&["true"], &[]);
        let mtu = Some(("eth0", 1450));
        let p = plan(&Inputs { route_mtu: mtu, engine_major: Some(26), ..inputs(&c) }).unwrap();
        assert!(has(&p, "--mtu=1450") && has(&p, opt), "{:?}", p.args);
        // 20.10 refuses the flag (dockerd exits 1): not given; nor when the engine is unknown.
        for major in [Some(20), None] {
            let p = plan(&Inputs { route_mtu: mtu, engine_major: major, ..inputs(&c) }).unwrap();
            assert!(has(&p, "--mtu=1450"));
            assert!(!p.args.iter().any(|a| a.starts_with("--default-network-opt")));
        }
        // The user's own: kept alone.
        let c = cfg(&["--default-network-opt=bridge=com.docker.network.driver.mtu=1300"], &[]);
        let p = plan(&Inputs { route_mtu: mtu, engine_major: Some(28), ..inputs(&c) }).unwrap();
        assert_eq!(p.args.iter().filter(|a| a.starts_with("--default-network-opt")).count(), 1);
    }

    #[test]
    fn cgroup_parent_choices() {
        let none = |p: Plan| !p.args.iter().any(|a| a.starts_with("--cgroup-parent"));
        // Root of a private cgroup namespace: dockerd's default /docker is already inside.
        let c = cfg(&["true"], &[]);
        assert!(none(plan(&Inputs { own_cgroup: Some("/"), ..inputs(&c) }).unwrap()));
        let c = cfg(&["true"], &[("DIND_CGROUP_PARENT", "off")]);
        assert!(none(plan(&Inputs { own_cgroup: Some("/docker/x"), ..inputs(&c) }).unwrap()));
        let c = cfg(&["true"], &[("DOCKER_DAEMON_ARGS", "--exec-opt native.cgroupdriver=systemd")]);
        assert!(none(plan(&Inputs { own_cgroup: Some("/docker/x"), ..inputs(&c) }).unwrap()));
    }

    #[test]
    fn a_unix_socket_is_always_there_to_probe() {
        // TCP only (even TLS-only): a unix socket is added, and it is what is probed.
        let c = cfg(&["--host=tcp://0.0.0.0:2376", "--tlsverify"], &[]);
        let p = plan(&inputs(&c)).unwrap();
        assert_eq!(p.socket, PathBuf::from(DEFAULT_SOCKET));
        assert!(has(&p, "--host=unix:///var/run/docker.sock"), "{:?}", p.args);
        // ... where DOCKER_HOST says, when it is a unix:// URL.
        let p = plan(&Inputs { docker_host: Some("unix:///run/d/x.sock"), ..inputs(&c) }).unwrap();
        assert_eq!(p.socket, PathBuf::from("/run/d/x.sock"));
        // daemon.json hosts without a socket: refused at once, saying why.
        let c = cfg(&["true"], &[]);
        let e = plan(&Inputs {
            daemon_json: json(r#"{"hosts": ["tcp://0.0.0.0:2376"]}"#),
            ..inputs(&c)
        })
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("unix://"), "{e}");
        let p =
            plan(&Inputs { daemon_json: json(r#"{"hosts": ["unix:///j.sock"]}"#), ..inputs(&c) })
                .unwrap();
        assert_eq!(p.socket, PathBuf::from("/j.sock"));
        assert!(!p.args.iter().any(|a| a.starts_with("--host")));
    }

    #[test]
    fn empty_daemon_json_hosts_mean_dockerds_default_socket() {
        // dockerd listens on its default socket when "hosts" is empty (was: refused, exit 2).
        let c = cfg(&["true"], &[]);
        for text in [r#"{"hosts": []}"#, r#"{"hosts": null}"#] {
            let p = plan(&Inputs { daemon_json: json(text), ..inputs(&c) }).unwrap();
            assert_eq!(p.socket, PathBuf::from(DEFAULT_SOCKET), "{text}");
            assert_eq!(p.unix_sockets, [PathBuf::from(DEFAULT_SOCKET)], "{text}");
            // No --host flag: dockerd refuses hosts given both ways.
            assert!(!p.args.iter().any(|a| a.starts_with("--host")), "{text}: {:?}", p.args);
        }
    }

    #[test]
    fn daemon_json_keys_count_only_at_the_top_level() {
        let c = cfg(&["true"], &[]);
        // "hosts" inside a string or a nested object is not dockerd's hosts: dind-init still
        // adds its socket where DOCKER_HOST says, and its cgroup parent, MTU and time-out.
        let text = r#"{"labels": ["x=\"hosts\": [\"tcp://0.0.0.0:1\"]"],
                      "log-opts": {"hosts": "tcp://0.0.0.0:1", "cgroup-parent": "/n",
                                   "mtu": "1", "shutdown-timeout": "1"}}"#;
        let i = Inputs {
            daemon_json: json(text),
            docker_host: Some("unix:///run/x/d.sock"),
            own_cgroup: Some("/docker/abc"),
            route_mtu: Some(("eth0", 1400)),
            ..inputs(&c)
        };
        let p = plan(&i).unwrap();
        assert_eq!(p.socket, PathBuf::from("/run/x/d.sock"));
        for want in [
            "--host=unix:///run/x/d.sock",
            "--cgroup-parent=/docker/abc/docker",
            "--mtu=1400",
            "--shutdown-timeout=5",
        ] {
            assert!(has(&p, want), "{want}: {:?}", p.args);
        }
        // The last of duplicate keys wins, as in Go: the socket of the second "hosts".
        let text = r#"{"hosts": ["unix:///first.sock"], "hosts": ["unix:///second.sock"]}"#;
        let p = plan(&Inputs { daemon_json: json(text), ..inputs(&c) }).unwrap();
        assert_eq!(p.socket, PathBuf::from("/second.sock"));
        // The systemd cgroup driver counts in exec-opts only.
        let sd = r#"{"exec-opts": ["native.cgroupdriver=systemd"]}"#;
        let i = Inputs { daemon_json: json(sd), own_cgroup: Some("/docker/abc"), ..inputs(&c) };
        assert!(!plan(&i).unwrap().args.iter().any(|a| a.starts_with("--cgroup-parent")));
        let label = r#"{"labels": ["native.cgroupdriver=systemd"]}"#;
        let i = Inputs { daemon_json: json(label), own_cgroup: Some("/docker/abc"), ..inputs(&c) };
        assert!(has(&plan(&i).unwrap(), "--cgroup-parent=/docker/abc/docker"));
    }

    #[test]
    fn docker_host_says_where_dockerd_listens() {
        let c = cfg(&["true"], &[]);
        let p =
            plan(&Inputs { docker_host: Some("unix:///run/x/docker.sock"), ..inputs(&c) }).unwrap();
        assert_eq!(p.socket, PathBuf::from("/run/x/docker.sock"));
        assert!(has(&p, "--host=unix:///run/x/docker.sock"), "{:?}", p.args);
        // tcp:// (GitLab passes the job's DOCKER_HOST to services): not ours.
        let p = plan(&Inputs { docker_host: Some("tcp://docker:2376"), ..inputs(&c) }).unwrap();
        assert_eq!(p.socket, PathBuf::from(DEFAULT_SOCKET));
        assert!(!p.args.iter().any(|a| a.starts_with("--host")));
        // The user's own hosts win.
        let c = cfg(&["dockerd", "--host=unix:///u.sock"], &[]);
        let p =
            plan(&Inputs { docker_host: Some("unix:///run/x/docker.sock"), ..inputs(&c) }).unwrap();
        assert_eq!(p.socket, PathBuf::from("/u.sock"));
        assert_eq!(p.args.iter().filter(|a| a.starts_with("--host")).count(), 1);
    }

    #[test]
    fn docker_dind_listeners() {
        // TLS: socket + 2376 with --tlsverify and the server files.
        let c = cfg(&[], &[("DOCKER_TLS_CERTDIR", "/certs")]);
        let p = plan(&inputs(&c)).unwrap();
        for a in [
            "--host=unix:///var/run/docker.sock",
            "--host=tcp://0.0.0.0:2376",
            "--tlsverify",
            "--tlscacert=/certs/server/ca.pem",
            "--tlscert=/certs/server/cert.pem",
            "--tlskey=/certs/server/key.pem",
        ] {
            assert!(has(&p, a), "{a}: {:?}", p.args);
        }
        // TLS off: 2375, and --tls=false so dockerd does not sleep 15 s first.
        let c = cfg(&["--tls=false"], &[("DOCKER_TLS_CERTDIR", "")]);
        let p = plan(&inputs(&c)).unwrap();
        assert!(
            has(&p, "--host=tcp://0.0.0.0:2375") && has(&p, "--host=unix:///var/run/docker.sock")
        );
        assert_eq!(p.args.iter().filter(|a| a.starts_with("--tls")).count(), 1, "{:?}", p.args);
        let c = cfg(&[], &[("DOCKER_TLS_CERTDIR", "")]);
        assert!(has(&plan(&inputs(&c)).unwrap(), "--tls=false"));
        // Unset: the unix socket only; `dockerd ...` and a command: no listener either.
        let c = cfg(&[], &[]);
        assert!(!plan(&inputs(&c)).unwrap().args.iter().any(|a| a.starts_with("--host")));
        let c = cfg(&["dockerd", "--group=1"], &[("DOCKER_TLS_CERTDIR", "/certs")]);
        assert!(!plan(&inputs(&c)).unwrap().args.iter().any(|a| a.contains("tcp://")));
        let c = cfg(&["make"], &[("DOCKER_TLS_CERTDIR", "")]);
        assert!(!plan(&inputs(&c)).unwrap().args.iter().any(|a| a.contains("tcp://")));
    }

    #[test]
    fn port_listener() {
        let c = cfg(&["make"], &[("DIND_PORT", "2375"), ("DIND_INSECURE_TCP", "1")]);
        let p = plan(&inputs(&c)).unwrap();
        assert!(has(&p, "--host=tcp://0.0.0.0:2375") && has(&p, "--tls=false"), "{:?}", p.args);
        assert!(has(&p, "--host=unix:///var/run/docker.sock"));
        assert_eq!(p.socket, PathBuf::from(DEFAULT_SOCKET));
        let c = cfg(&["make"], &[("DIND_PORT", "4443"), ("DOCKER_TLS_CERTDIR", "/certs")]);
        let p = plan(&inputs(&c)).unwrap();
        assert!(has(&p, "--host=tcp://0.0.0.0:4443") && has(&p, "--tlsverify"), "{:?}", p.args);
    }

    #[test]
    fn containerd_by_dind_init_or_by_dockerd() {
        let bin = Some(PathBuf::from("/usr/bin/containerd"));
        // auto: dind-init's, at dockerd's own paths, and dockerd is pointed at it.
        let c = cfg(&[], &[]);
        let p = plan(&Inputs { containerd_bin: bin.clone(), ..inputs(&c) }).unwrap();
        let cd = p.containerd.clone().expect("containerd plan");
        assert_eq!(cd.socket, PathBuf::from("/var/run/docker/containerd/containerd.sock"));
        assert_eq!(cd.root, PathBuf::from("/var/lib/docker/containerd/daemon"));
        assert!(has(&p, "--containerd=/var/run/docker/containerd/containerd.sock"), "{:?}", p.args);
        assert!(
            cd.config_text.contains("root = \"/var/lib/docker/containerd/daemon\""),
            "{}",
            cd.config_text
        );
        assert!(cd.config_text.contains("io.containerd.grpc.v1.cri"));
        assert_eq!(cd.args, ["--config", "/var/run/docker/containerd/containerd.toml"]);
        // The user's data root and exec root are followed.
        let c = cfg(&["--data-root=/d", "--exec-root", "/x"], &[]);
        let cd = plan(&Inputs { containerd_bin: bin.clone(), ..inputs(&c) })
            .unwrap()
            .containerd
            .unwrap();
        assert_eq!(
            (cd.socket, cd.root),
            (PathBuf::from("/x/containerd/containerd.sock"), PathBuf::from("/d/containerd/daemon"))
        );
        // auto on the 20.10 line: dockerd's, with a note; from 23 on (and unknown): dind-init's.
        let c20 = cfg(&[], &[]);
        let p =
            plan(&Inputs { containerd_bin: bin.clone(), engine_major: Some(20), ..inputs(&c20) })
                .unwrap();
        assert!(p.containerd.is_none(), "{:?}", p.args);
        assert!(
            p.notes.iter().any(|n| n.contains("left to dockerd on Docker 20")),
            "{:?}",
            p.notes
        );
        for m in [Some(23), Some(26), Some(28), None] {
            let p = plan(&Inputs { containerd_bin: bin.clone(), engine_major: m, ..inputs(&c20) });
            assert!(p.unwrap().containerd.is_some(), "engine {m:?}");
        }
        let c20 = cfg(&[], &[("DIND_CONTAINERD_BY", "dind-init")]);
        let p =
            plan(&Inputs { containerd_bin: bin.clone(), engine_major: Some(20), ..inputs(&c20) });
        assert!(p.unwrap().containerd.is_some(), "asked for dind-init's on 20.10");
        // No binary, the user's own containerd, or asked for dockerd's: none.
        assert!(plan(&inputs(&c)).unwrap().containerd.is_none());
        let c = cfg(&["--containerd=/run/containerd/containerd.sock"], &[]);
        let p = plan(&Inputs { containerd_bin: bin.clone(), ..inputs(&c) }).unwrap();
        assert!(p.containerd.is_none());
        assert_eq!(p.args.iter().filter(|a| a.starts_with("--containerd")).count(), 1);
        let c = cfg(&[], &[("DIND_CONTAINERD_BY", "dockerd")]);
        assert!(plan(&Inputs { containerd_bin: bin.clone(), ..inputs(&c) })
            .unwrap()
            .containerd
            .is_none());
        let j = json(r#"{"containerd": "/run/c.sock"}"#);
        let c = cfg(&[], &[]);
        assert!(plan(&Inputs { daemon_json: j, containerd_bin: bin, ..inputs(&c) })
            .unwrap()
            .containerd
            .is_none());
        // Asked for dind-init's without a binary: said at once.
        let c = cfg(&[], &[("DIND_CONTAINERD_BY", "dind-init")]);
        assert!(plan(&inputs(&c)).unwrap_err().to_string().contains("no containerd binary"));
    }

    #[test]
    fn socket_paths_must_fit_sun_path() {
        let long = format!("unix:///{}", "x".repeat(120));
        let c = cfg(&["dockerd", &format!("--host={long}")], &[]);
        assert!(plan(&inputs(&c)).unwrap_err().to_string().contains("107 bytes"));
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;
        proptest! {
            #![proptest_config(ProptestConfig {
                cases: crate::fuzz_cases(2000), ..ProptestConfig::default()
            })]
            #[test]
            fn flag_values_never_panic(args in proptest::collection::vec("[-=a-zH]{0,6}", 0..6)) {
                let _ = flag_values(&args, "--host", Some("-H"));
                let _ = has_flag(&args, "--host");
            }
            #[test]
            fn plan_never_panics(args in proptest::collection::vec("(-H|--host=|--tls|unix://|tcp://)[a-z/:0-9.]{0,8}", 0..5),
                                 json in r#"\{("hosts": \[("(unix|tcp)://[a-z/]{0,6}",? ?){0,3}\]|"mtu": 1)?\}"#,
                                 host in "(unix://|tcp://)?[a-z/]{0,8}") {
                let mut c = Config::blank();
                c.dockerd_args = args;
                let json = DaemonJson::parse(&json).unwrap_or_default();
                let i = Inputs { cfg: &c, daemon_json: &json, docker_host: Some(&host), own_cgroup: None,
                                 route_mtu: None, path_prefix: None, tls: None, containerd_bin: None, engine_major: None, containerd_major: None };
                let _ = plan(&i);
            }
        }
    }
}
