//! The command line and the environment. Each option is defined once, in `OPTIONS`: its
//! flag, its variable, its default, its parser and its help. `--help` and the README's
//! options table are generated from that table (a unit test fails when the README's copy
//! differs), so the three can no longer disagree.
//!
//! The arguments follow docker:dind's rule, so an image with dind-init as its entrypoint
//! can be used wherever `docker:dind` is: no arguments serve dockerd; a first argument
//! starting with `-` is a dockerd flag (all of them are); a first argument `dockerd` is
//! followed by dockerd flags; anything else is the command to run beside dockerd.
//! dind-init's own options are read from their variables, or from flags ended by `--`
//! (`dind-init --wait-timeout 30s -- mvn test`). Parsing is pure: arguments and environment
//! come in as values, so it is unit-tested and fuzzed without touching the process.

use crate::config::{
    parse_bool, parse_duration, shell_split, unix_path, AutoOr, Config, ContainerdBy, HealthConfig,
    Iptables, LogFormat, LogMode, Mode, OnDaemonExit, PreloadErrors, TlsDir, DEFAULT_SOCKET,
};
use crate::error::{usage, Result};
use crate::mirrors;
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// One option of dind-init.
pub struct Opt {
    pub flag: &'static str,
    pub env: &'static str,
    /// The value's name in the help (`DURATION`); `None` for a switch.
    pub value: Option<&'static str>,
    /// The default, as it would be written on the command line; empty: unset.
    pub default: &'static str,
    pub help: &'static str,
    /// wrapdocker's variable for the same setting, read only when a command is given.
    pub wrapdocker_env: Option<&'static str>,
    /// An empty value is a value (not "unset").
    pub empty_ok: bool,
    /// dockerd has a flag of the same name: given first without `--`, it is dockerd's.
    pub dockerd_too: bool,
    /// Stores a value in the config; the error says what is wrong with the value.
    set: fn(&mut Config, &str) -> std::result::Result<(), String>,
}

const fn opt(
    flag: &'static str,
    env: &'static str,
    value: Option<&'static str>,
    default: &'static str,
    help: &'static str,
    set: fn(&mut Config, &str) -> std::result::Result<(), String>,
) -> Opt {
    Opt {
        flag,
        env,
        value,
        default,
        help,
        wrapdocker_env: None,
        empty_ok: false,
        dockerd_too: false,
        set,
    }
}

impl Opt {
    const fn wrapdocker(mut self, env: &'static str) -> Opt {
        self.wrapdocker_env = Some(env);
        self
    }
    const fn empty_ok(mut self) -> Opt {
        self.empty_ok = true;
        self
    }
    const fn dockerd_too(mut self) -> Opt {
        self.dockerd_too = true;
        self
    }
    /// `--flag VALUE` or `--flag`.
    pub fn synopsis(&self) -> String {
        match self.value {
            Some(v) => format!("{} {v}", self.flag),
            None => self.flag.to_string(),
        }
    }
}

/// A kind of value an option takes, read from its text; the error says what is wrong with it.
/// Each kind is parsed here once; `set!` stores it in its field of the config.
trait Value: Sized {
    fn parse(v: &str) -> std::result::Result<Self, String>;
}

/// Each option's setter, written once: `set!(field)` parses the value by its field's type
/// (`Value`), `set!(field, parser)` with a parser of its own.
macro_rules! set {
    ($field:ident) => {
        set!($field, Value::parse)
    };
    ($field:ident, $parse:expr) => {
        |c: &mut Config, v: &str| {
            c.$field = ($parse)(v)?;
            Ok(())
        }
    };
}

/// `Value` for a type: `value!(Type, parser)`.
macro_rules! value {
    ($t:ty, $parse:expr) => {
        impl Value for $t {
            fn parse(v: &str) -> std::result::Result<$t, String> {
                ($parse)(v)
            }
        }
    };
}

/// `Value` for a type whose values are a few words: `words!(Type: "word" => value, ...)`.
macro_rules! words {
    ($t:ty: $($word:literal => $value:expr),+) => {
        value!($t, |v| one_of(v, &[$(($word, $value)),+]));
    };
}

/// One of a few words, whatever their case.
fn one_of<T: Copy>(v: &str, choices: &[(&str, T)]) -> std::result::Result<T, String> {
    let l = v.trim().to_ascii_lowercase();
    choices.iter().find(|(c, _)| *c == l).map(|(_, t)| *t).ok_or_else(|| {
        let names: Vec<&str> = choices.iter().map(|(c, _)| *c).collect();
        format!("'{v}' is not one of {}", names.join(", "))
    })
}

value!(String, |v: &str| Ok(v.to_string()));
value!(PathBuf, |v: &str| Ok(PathBuf::from(v)));
// Shell-quoted words.
value!(Vec<String>, shell_split);
value!(std::time::Duration, |v: &str| parse_duration(v)
    .ok_or_else(|| format!("'{v}' is not a duration (e.g. 60, 1.5, 500ms, 2m)")));
value!(bool, |v: &str| parse_bool(v)
    .ok_or_else(|| format!("'{v}' is not a boolean (use true or false)")));
value!(u32, |v: &str| v.trim().parse().map_err(|_| format!("'{v}' is not a whole number")));
words!(LogMode: "stdio" => LogMode::Stdio, "file" => LogMode::File);
words!(PreloadErrors: "fail" => PreloadErrors::Fail, "warn" => PreloadErrors::Warn);
words!(LogFormat: "text" => LogFormat::Text, "json" => LogFormat::Json);
words!(ContainerdBy: "auto" => ContainerdBy::Auto, "dind-init" => ContainerdBy::DindInit,
    "dockerd" => ContainerdBy::Dockerd);
words!(OnDaemonExit: "restart" => OnDaemonExit::Restart, "exit" => OnDaemonExit::Exit,
    "ignore" => OnDaemonExit::Ignore);
words!(Iptables: "auto" => Iptables::Auto, "nft" => Iptables::Nft, "legacy" => Iptables::Legacy,
    "off" => Iptables::Off);
words!(log::LevelFilter: "error" => log::LevelFilter::Error, "warn" => log::LevelFilter::Warn,
    "info" => log::LevelFilter::Info, "debug" => log::LevelFilter::Debug,
    "trace" => log::LevelFilter::Trace, "off" => log::LevelFilter::Off);

/// `DOCKER_TLS_CERTDIR`: only the empty string turns TLS off; anything else must be an
/// absolute path, taken as written. A blank or relative value (a templating slip) fails
/// closed: docker:dind would take `" "` as set and a TLS-less API must never follow from it.
impl Value for TlsDir {
    fn parse(v: &str) -> std::result::Result<TlsDir, String> {
        if v.is_empty() {
            Ok(TlsDir::Off)
        } else if Path::new(v).is_absolute() {
            Ok(TlsDir::Dir(PathBuf::from(v)))
        } else {
            Err(format!(
                "{v:?} is not an absolute path (DOCKER_TLS_CERTDIR: a directory such as /certs \
                 for TLS, or the empty string for TLS off)"
            ))
        }
    }
}

fn port(v: &str) -> std::result::Result<Option<u16>, String> {
    match v.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(Some(p)),
        _ => Err(format!("'{v}' is not a TCP port (1-65535)")),
    }
}

fn cgroup_name(v: &str) -> std::result::Result<String, String> {
    let v = v.trim();
    if v.contains('/') || v == "." || v == ".." || v.starts_with("cgroup.") {
        return Err(format!("'{v}' is not a valid cgroup name"));
    }
    Ok(v.to_string())
}

fn cgroup_parent(v: &str) -> std::result::Result<AutoOr<String>, String> {
    match v.trim() {
        "auto" => Ok(AutoOr::Auto),
        "off" => Ok(AutoOr::Off),
        p if p.starts_with('/') => Ok(AutoOr::Value(p.to_string())),
        _ => Err(format!("'{v}' is not auto, off or an absolute cgroup path")),
    }
}

fn mtu(v: &str) -> std::result::Result<AutoOr<u32>, String> {
    match v.trim() {
        "auto" => Ok(AutoOr::Auto),
        "off" => Ok(AutoOr::Off),
        n => match n.parse::<u32>() {
            Ok(m) if (68..=65535).contains(&m) => Ok(AutoOr::Value(m)),
            _ => Err(format!("'{v}' is not auto, off or an MTU (68-65535)")),
        },
    }
}

/// `--rootless`: a user name or uid, or empty for "as dind-init runs".
fn rootless_user(v: &str) -> std::result::Result<Option<String>, String> {
    let v = v.trim();
    let name_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$');
    match v {
        "" => Ok(None),
        _ if v.chars().all(name_ok) && !v.starts_with('-') => Ok(Some(v.to_string())),
        _ => Err(format!("'{v}' is not a user name or uid")),
    }
}

/// `--no-cgroup-setup`: the switch says no.
fn not(v: &str) -> std::result::Result<bool, String> {
    bool::parse(v).map(|b| !b)
}

/// Every option, in the order of `--help` and the README.
pub const OPTIONS: &[Opt] = &[
    opt(
        "--dockerd",
        "DIND_DOCKERD",
        Some("PATH"),
        "dockerd",
        "the daemon binary, looked up in PATH",
        set!(dockerd),
    ),
    opt(
        "--dockerd-args",
        "DOCKER_DAEMON_ARGS",
        Some("ARGS"),
        "",
        "extra dockerd arguments, shell-style quoting (wrapdocker's variable); dockerd flags \
         given as arguments come after them",
        set!(dockerd_args),
    )
    .empty_ok(),
    opt(
        "--log",
        "DIND_LOG",
        Some("stdio|file"),
        "stdio",
        "dockerd's output to the container's stderr, or to --log-file; wrapdocker's LOG is \
         read too when a command is given",
        set!(log),
    )
    .wrapdocker("LOG"),
    opt(
        "--log-file",
        "DIND_LOG_FILE",
        Some("PATH"),
        "/var/log/docker.log",
        "the file for --log file",
        set!(log_file),
    ),
    opt(
        "--port",
        "DIND_PORT",
        Some("N"),
        "",
        "dockerd also listens on tcp://0.0.0.0:N, with TLS from --tls-certdir, or without \
         only with --insecure-tcp; wrapdocker's PORT is read too when a command is given",
        set!(port, port),
    )
    .wrapdocker("PORT"),
    opt(
        "--tls-certdir",
        "DOCKER_TLS_CERTDIR",
        Some("DIR"),
        "",
        "docker:dind's TLS directory: DIR/server/{ca,cert,key}.pem for --port; an absolute \
         path, or empty for TLS off",
        set!(tls_certdir),
    )
    .empty_ok(),
    opt(
        "--insecure-tcp",
        "DIND_INSECURE_TCP",
        None,
        "false",
        "allow --port without TLS (anyone who reaches the port is root in this container)",
        set!(insecure_tcp),
    ),
    opt(
        "--wait-timeout",
        "DIND_WAIT_TIMEOUT",
        Some("DURATION"),
        "60s",
        "how long dockerd may take to answer /_ping, at start and after a restart",
        set!(wait_timeout),
    ),
    opt(
        "--continue-on-timeout",
        "DIND_CONTINUE_ON_TIMEOUT",
        None,
        "false",
        "run the command anyway after a readiness time-out (wrapdocker's behaviour)",
        set!(continue_on_timeout),
    ),
    opt(
        "--shutdown-timeout",
        "DIND_SHUTDOWN_TIMEOUT",
        Some("DURATION"),
        "8s",
        "the whole stop, from the first SIGTERM (or the command's exit) until dockerd is \
         gone: the command, the inner containers and dockerd share it",
        set!(shutdown_timeout),
    )
    .dockerd_too(),
    opt(
        "--data-root-wait",
        "DIND_DATA_ROOT_WAIT",
        Some("DURATION"),
        "10s",
        "how long to wait for another dind-init that holds the data root (its lock, \
         DATA_ROOT/dind-init.lock) before exiting 125 naming it: 10 s is docker stop's default \
         grace, within which a predecessor on the same volume ends its stop (8 s budget) or is \
         killed; 0: do not wait",
        set!(data_root_wait),
    ),
    opt(
        "--wait-containerd",
        "DIND_WAIT_CONTAINERD",
        None,
        "false",
        "let dockerd sit out the fixed 1 s it waits for its containerd at the very end of \
         its shutdown (by default dind-init ends that wait)",
        set!(wait_containerd),
    ),
    opt(
        "--containerd-by",
        "DIND_CONTAINERD_BY",
        Some("auto|dind-init|dockerd"),
        "auto",
        "who starts containerd: dind-init (started first, supervised like dockerd, dockerd gets \
         --containerd) or dockerd (its managed containerd); auto: dind-init when the image has \
         containerd, dockerd is not given one already and the engine is not Docker 20.10",
        set!(containerd),
    ),
    opt(
        "--on-daemon-exit",
        "DIND_ON_DAEMON_EXIT",
        Some("restart|exit|ignore"),
        "restart",
        "what to do when dockerd dies (or stops answering after a restart) while the command \
         runs",
        set!(on_daemon_exit),
    ),
    opt(
        "--max-restarts",
        "DIND_MAX_RESTARTS",
        Some("N"),
        "5",
        "give up after N restarts; back-off 1, 2, 4, 8, 16 s (at most 30 s), the count resets \
         after 5 minutes of uptime",
        set!(max_restarts),
    ),
    opt(
        "--signal-group",
        "DIND_SIGNAL_GROUP",
        None,
        "false",
        "forward signals to the command's whole process group",
        set!(signal_group),
    ),
    opt(
        "--cgroup-nest",
        "DIND_CGROUP_NEST",
        Some("NAME"),
        "init",
        "the child cgroup that receives the container's processes on cgroup v2",
        set!(cgroup_nest, cgroup_name),
    ),
    opt(
        "--no-cgroup-setup",
        "DIND_NO_CGROUP_SETUP",
        None,
        "false",
        "leave cgroups exactly as they are",
        set!(cgroup_setup, not),
    ),
    opt(
        "--cgroup-parent",
        "DIND_CGROUP_PARENT",
        Some("auto|off|PATH"),
        "auto",
        "auto: dockerd gets --cgroup-parent=<own cgroup>/docker, so inner containers stay \
         inside this container's cgroup and its limits",
        set!(cgroup_parent, cgroup_parent),
    )
    .dockerd_too(),
    opt(
        "--iptables",
        "DIND_IPTABLES",
        Some("auto|nft|legacy|off"),
        "auto",
        "which iptables dockerd finds first in its PATH; auto follows the kernel (nf_tables \
         answers: nft, else legacy); off leaves the image's default",
        set!(iptables),
    )
    .dockerd_too(),
    opt(
        "--mtu",
        "DIND_MTU",
        Some("auto|off|N"),
        "auto",
        "dockerd --mtu; auto passes the default route's MTU when it is below 1500",
        set!(mtu, mtu),
    )
    .dockerd_too(),
    opt(
        "--registry-mirror",
        "DOCKER_REGISTRY_MIRROR",
        Some("URL[,URL...]"),
        "",
        "registry mirrors (actions-runner-controller's variable; http or https, comma \
         separated): a dockerd --registry-mirror each, unless dockerd's flags or daemon.json \
         set registry-mirrors; once dockerd answers, each mirror's /v2/ is probed in the \
         background and the log says whether it answered",
        set!(registry_mirrors, mirrors::parse_list),
    )
    .dockerd_too(),
    opt(
        "--default-address-pool-base",
        "DOCKER_DEFAULT_ADDRESS_POOL_BASE",
        Some("CIDR"),
        "",
        "with the size below (ARC's variables): dockerd --default-address-pool \
         base=CIDR,size=N, so inner networks do not clash with the cluster's, unless dockerd's \
         flags or daemon.json set default-address-pools",
        set!(pool_base, |v| mirrors::parse_cidr(v).map(Some)),
    ),
    opt(
        "--default-address-pool-size",
        "DOCKER_DEFAULT_ADDRESS_POOL_SIZE",
        Some("N"),
        "",
        "the prefix length of each inner network cut from the base (e.g. 24)",
        set!(pool_size, |v| mirrors::parse_pool_size(v).map(Some)),
    ),
    opt(
        "--testcontainers",
        "DIND_TESTCONTAINERS",
        None,
        "false",
        "also export TESTCONTAINERS_HOST_OVERRIDE=localhost to the command",
        set!(testcontainers),
    ),
    opt(
        "--rootless",
        "DIND_ROOTLESS",
        Some("USER"),
        "",
        "run dockerd rootless as USER (a name or uid) through rootlesskit, as \
         docker:dind-rootless does; as root, dind-init still prepares cgroups and mounts \
         first. Empty: rootless when dind-init itself is not root, as the current user",
        set!(rootless, rootless_user),
    )
    .empty_ok(),
    opt(
        "--preload",
        "DIND_PRELOAD",
        Some("DIR"),
        "",
        "load every image archive in DIR (docker save or OCI, plain or gzip) once dockerd \
         answers, up to 4 at once, before the command starts (serving: before health says \
         ready); an image already present (config digest and tags) is skipped",
        set!(preload, |v: &str| PathBuf::parse(v).map(Some)),
    ),
    opt(
        "--preload-errors",
        "DIND_PRELOAD_ERRORS",
        Some("fail|warn"),
        "fail",
        "an archive that cannot be read or loaded: exit 125 naming it and the error, or warn",
        set!(preload_errors),
    ),
    opt(
        "--log-level",
        "DIND_LOG_LEVEL",
        Some("LEVEL"),
        "info",
        "dind-init's own log: error, warn, info, debug, trace or off",
        set!(log_level),
    )
    .dockerd_too(),
    opt(
        "--log-format",
        "DIND_LOG_FORMAT",
        Some("text|json"),
        "text",
        "dind-init's own log: readable lines with each event's fields in braces, or one JSON \
         object a line (for log collectors)",
        set!(log_format),
    )
    .dockerd_too(),
];

/// What the command line asks for.
#[derive(Debug)]
pub enum Invocation {
    Run(Box<Config>),
    Health(HealthConfig),
    Help,
    Version,
    /// rootlesskit's child: dockerd's command line to exec (`rootless.rs`).
    RootlessChild(Vec<OsString>),
}

fn find(flag: &str) -> Option<&'static Opt> {
    OPTIONS.iter().find(|o| o.flag == flag)
}

/// The name part of `--flag=value`.
fn flag_name(arg: &str) -> &str {
    arg.split_once('=').map_or(arg, |(n, _)| n)
}

/// Parses the whole invocation. `args` excludes argv[0].
pub fn parse(args: &[OsString], env: &HashMap<String, String>) -> Result<Invocation> {
    let first = args.first().and_then(|a| a.to_str());
    match first {
        Some("health") => return parse_health(&args[1..], env).map(Invocation::Health),
        Some("-h" | "--help") => return Ok(Invocation::Help),
        Some("-V" | "--version") => return Ok(Invocation::Version),
        Some(crate::rootless::CHILD_ARG) => {
            return Ok(Invocation::RootlessChild(args[1..].to_vec()))
        }
        _ => {}
    }
    // dind-init's own flags: only before a `--`, and only when the arguments start with one.
    let dashdash = args.iter().position(|a| a == "--");
    let (own, rest): (&[OsString], &[OsString]) = match (first, dashdash) {
        (Some(f), Some(i)) if f.starts_with('-') => (&args[..i], &args[i + 1..]),
        _ => (&[], args),
    };
    let given = parse_flags(own)?;
    let mut cfg = Config::blank();
    let mut dockerd_flags: Vec<String> = Vec::new();
    let rest_first = rest.first().map(|a| a.to_string_lossy().into_owned());
    cfg.mode = match rest_first.as_deref() {
        None => {
            cfg.service_defaults = true;
            Mode::Serve
        }
        Some(f) if f.starts_with('-') && f != "-" => {
            if dashdash.is_none() {
                if let Some(o) = find(flag_name(f)).filter(|o| !o.dockerd_too) {
                    return Err(usage(format!(
                        "'{f}' is dind-init's option, and arguments that start with '-' are \
                         dockerd's flags (as with docker:dind): end dind-init's options with \
                         '--' (dind-init {} ... -- [COMMAND]) or set {}",
                        o.synopsis(),
                        o.env
                    )));
                }
            }
            dockerd_flags = utf8_words(rest, "dockerd flag")?;
            cfg.service_defaults = true;
            Mode::Serve
        }
        Some(f) if f == "dockerd" || f.ends_with("/dockerd") => {
            if f != "dockerd" {
                cfg.dockerd = f.to_string();
            }
            dockerd_flags = utf8_words(&rest[1..], "dockerd flag")?;
            Mode::Serve
        }
        Some(_) => Mode::Command(rest.to_vec()),
    };
    let command_mode = matches!(cfg.mode, Mode::Command(_));
    let dockerd_named = cfg.dockerd.clone();
    let mut port_from_wrapdocker = false;
    let mut explicit: Vec<&'static str> = Vec::new();
    for o in OPTIONS {
        let (value, src) = if let Some(v) = given.get(o.flag) {
            explicit.push(o.flag);
            (v.clone(), format!("option {}", o.flag))
        } else if let Some(v) = env.get(o.env).filter(|v| o.empty_ok || !v.trim().is_empty()) {
            explicit.push(o.flag);
            (v.clone(), format!("environment variable {}", o.env))
        } else if let Some(w) = o.wrapdocker_env.filter(|_| command_mode) {
            match env.get(w).filter(|v| !v.trim().is_empty()) {
                Some(v) => {
                    // A CI system may pass a job's PORT or LOG to every container: a value
                    // that makes no sense for dind-init is not a reason to fail.
                    if !o.default.is_empty() {
                        (o.set)(&mut cfg, o.default).expect("defaults parse");
                    }
                    match (o.set)(&mut cfg, v) {
                        Ok(()) => port_from_wrapdocker |= w == "PORT",
                        Err(e) => cfg.notes.push(format!(
                            "ignoring wrapdocker's {w}={v} ({e}); {} sets {} strictly",
                            o.env, o.flag
                        )),
                    }
                    continue;
                }
                None => (o.default.to_string(), format!("the default of {}", o.flag)),
            }
        } else {
            (o.default.to_string(), format!("the default of {}", o.flag))
        };
        // An empty default means unset: the blank config already says so.
        if value.is_empty() && !explicit.contains(&o.flag) {
            continue;
        }
        (o.set)(&mut cfg, &value).map_err(|e| usage(format!("{src}: {e}")))?;
    }
    if !dockerd_named.is_empty() && !given.contains_key("--dockerd") {
        cfg.dockerd = dockerd_named;
    }
    if !command_mode {
        for w in OPTIONS.iter().filter_map(|o| o.wrapdocker_env) {
            if let Some(v) = env.get(w).filter(|v| !v.trim().is_empty()) {
                cfg.notes.push(format!(
                    "{w}={v} is not read without a command (docker:dind's way: CI systems pass \
                     every job variable to services); use DIND_{w} for dind-init"
                ));
            }
        }
    }
    cfg.dockerd_args.extend(dockerd_flags);
    cfg.address_pool =
        mirrors::address_pool(cfg.pool_base.as_ref(), cfg.pool_size).map_err(usage)?;
    // docker:dind's choice: DOCKER_IPTABLES_LEGACY set non-empty means legacy, set empty nft.
    if let Some(v) = env.get("DOCKER_IPTABLES_LEGACY").filter(|_| !explicit.contains(&"--iptables"))
    {
        cfg.iptables = if v.is_empty() { Iptables::Nft } else { Iptables::Legacy };
    }
    if cfg.port.is_some() && !matches!(cfg.tls_certdir, TlsDir::Dir(_)) && !cfg.insecure_tcp {
        if port_from_wrapdocker {
            let p = cfg.port.take().unwrap_or_default();
            cfg.notes.push(format!(
                "ignoring wrapdocker's PORT={p}: no DOCKER_TLS_CERTDIR to serve it with TLS \
                 (set DIND_INSECURE_TCP=true to serve it without, if nobody else can reach it)"
            ));
        } else {
            return Err(usage(
                "--port (DIND_PORT) is set but DOCKER_TLS_CERTDIR is not: refusing to expose \
                 the Docker API (root on this container) on TCP without TLS. Set \
                 DOCKER_TLS_CERTDIR to a directory with server/ca.pem, server/cert.pem and \
                 server/key.pem, or set DIND_INSECURE_TCP=true if the port is not reachable \
                 by anyone else",
            ));
        }
    }
    Ok(Invocation::Run(Box::new(cfg)))
}

fn utf8_words(args: &[OsString], what: &str) -> Result<Vec<String>> {
    args.iter()
        .map(|a| {
            a.to_str()
                .map(str::to_string)
                .ok_or_else(|| usage(format!("{what} {a:?} is not valid UTF-8")))
        })
        .collect()
}

/// dind-init's own flags (everything before `--`), keyed by flag.
fn parse_flags(args: &[OsString]) -> Result<HashMap<&'static str, String>> {
    let mut given = HashMap::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i]
            .to_str()
            .ok_or_else(|| usage(format!("option {:?} is not valid UTF-8", args[i])))?;
        if !a.starts_with("--") {
            return Err(usage(format!(
                "'{a}' is not a dind-init option: before '--' only dind-init's options may \
                 come (see dind-init --help)"
            )));
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a, None),
        };
        let o = find(name)
            .ok_or_else(|| usage(format!("unknown option '{name}' (see dind-init --help)")))?;
        let value = match (o.value, inline) {
            (_, Some(v)) => v,
            (None, None) => "true".to_string(),
            (Some(meta), None) => {
                i += 1;
                args.get(i)
                    .and_then(|v| v.to_str())
                    .filter(|v| *v != "--")
                    .map(str::to_string)
                    .ok_or_else(|| usage(format!("option {name} needs a value ({meta})")))?
            }
        };
        if value.trim().is_empty() && !o.empty_ok {
            return Err(usage(format!("option {name} is empty")));
        }
        given.insert(o.flag, value);
        i += 1;
    }
    Ok(given)
}

fn parse_health(args: &[OsString], env: &HashMap<String, String>) -> Result<HealthConfig> {
    let mut socket = None;
    let mut timeout = std::time::Duration::from_secs(3);
    let mut i = 0;
    while i < args.len() {
        let a = args[i].to_str().ok_or_else(|| usage("health: arguments must be UTF-8"))?;
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a, None),
        };
        let mut value = || -> Result<String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            i += 1;
            args.get(i)
                .and_then(|v| v.to_str())
                .map(str::to_string)
                .ok_or_else(|| usage(format!("health: {name} needs a value")))
        };
        match name {
            "--socket" => socket = Some(PathBuf::from(value()?)),
            "--timeout" => {
                let v = value()?;
                timeout = parse_duration(&v)
                    .ok_or_else(|| usage(format!("health: --timeout '{v}' is not a duration")))?;
            }
            "-h" | "--help" => {
                return Err(usage("usage: dind-init health [--socket PATH] [--timeout DURATION]"))
            }
            _ => return Err(usage(format!("health: unknown argument '{a}'"))),
        }
        i += 1;
    }
    let socket = socket
        .or_else(|| unix_path(env.get("DOCKER_HOST")?))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
    Ok(HealthConfig { socket, timeout })
}

/// Wraps `text` to `width` columns, each line starting with `indent`.
fn wrap(text: &str, indent: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > width {
            out.push_str(&format!("{indent}{line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("{indent}{line}\n"));
    }
    out
}

pub fn help_text() -> String {
    let mut s = format!(
        "dind-init {}: PID 1 for Docker-in-Docker containers\n\n\
         Usage: dind-init [COMMAND [ARG]...]        run COMMAND beside dockerd\n       \
         dind-init [DOCKERD-FLAG]...          serve dockerd (docker:dind's way)\n       \
         dind-init dockerd [DOCKERD-FLAG]...  the same\n       \
         dind-init [OPTION]... -- [ARG]...    dind-init's options, then as above\n       \
         dind-init health [--socket PATH] [--timeout DURATION]\n\n\
         Prepares cgroups, starts dockerd, waits until it answers, runs COMMAND,\n\
         forwards signals, reaps zombies, stops dockerd cleanly and exits with\n\
         COMMAND's status. Without COMMAND: a login shell on a terminal, otherwise\n\
         dockerd runs until SIGTERM.\n\n\
         Options (each also read from its environment variable; a flag wins):\n",
        env!("CARGO_PKG_VERSION")
    );
    for o in OPTIONS {
        s.push_str(&format!("  {}\n", o.synopsis()));
        let default = if o.default.is_empty() { "unset" } else { o.default };
        s.push_str(&wrap(&format!("{} [{}; default {default}]", o.help, o.env), "      ", 79));
    }
    s.push_str(
        "  -h, --help       this text\n  \
         -V, --version    version, commit and target\n\n\
         Durations: seconds (60, 1.5) or with a unit (500ms, 10s, 2m).\n\
         Exit status: COMMAND's own; 128+N when signal N killed it; 125 set-up or\n\
         dockerd failure; 126 COMMAND not executable; 127 COMMAND not found; 2 bad\n\
         usage.\n",
    );
    s
}

/// The README's options table, generated from `OPTIONS`.
#[cfg(test)]
pub fn readme_table() -> String {
    let mut s = String::from("| option | variable | default | meaning |\n|---|---|---|---|\n");
    for o in OPTIONS {
        let flag = o.synopsis().replace('|', "\\|");
        let env = match o.wrapdocker_env {
            Some(w) => format!("`{}` (`{w}`)", o.env),
            None => format!("`{}`", o.env),
        };
        let default =
            if o.default.is_empty() { "(unset)".into() } else { format!("`{}`", o.default) };
        s.push_str(&format!("| `{flag}` | {env} | {default} | {} |\n", o.help.replace('|', "\\|")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn inv(args: &[&str], env: &[(&str, &str)]) -> Result<Invocation> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse(&args, &env)
    }

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Config> {
        match inv(args, env)? {
            Invocation::Run(c) => Ok(*c),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn cmd(c: &Config) -> Vec<String> {
        c.command().unwrap_or_default().iter().map(|a| a.to_string_lossy().into()).collect()
    }

    #[test]
    fn defaults_come_from_the_table() {
        let c = run(&[], &[]).unwrap();
        assert_eq!(c.dockerd, "dockerd");
        assert!(c.dockerd_args.is_empty());
        assert_eq!(c.log, LogMode::Stdio);
        assert_eq!(c.log_file, PathBuf::from("/var/log/docker.log"));
        assert_eq!(c.wait_timeout, Duration::from_secs(60));
        assert_eq!(c.shutdown_timeout, Duration::from_secs(8));
        assert_eq!(c.on_daemon_exit, OnDaemonExit::Restart);
        assert_eq!(c.max_restarts, 5);
        assert_eq!(c.cgroup_nest, "init");
        assert!(c.cgroup_setup);
        assert_eq!(c.cgroup_parent, AutoOr::Auto);
        assert_eq!(c.tls_certdir, TlsDir::Unset);
        assert_eq!(c.mode, Mode::Serve);
        assert_eq!(c.log_level, log::LevelFilter::Info);
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn log_format_by_variable_or_flag_and_dockerds_flag_first() {
        assert_eq!(run(&[], &[("DIND_LOG_FORMAT", "json")]).unwrap().log_format, LogFormat::Json);
        assert_eq!(run(&[], &[("DIND_LOG_FORMAT", " JSON")]).unwrap().log_format, LogFormat::Json);
        let c = run(&["--log-format", "json", "--", "make"], &[("DIND_LOG_FORMAT", "text")]);
        assert_eq!(c.unwrap().log_format, LogFormat::Json);
        let c = run(&["--log-format=text", "--"], &[("DIND_LOG_FORMAT", "json")]).unwrap();
        assert_eq!(c.log_format, LogFormat::Text);
        // dockerd has a --log-format too: given first without `--`, it is dockerd's.
        let c = run(&["--log-format=json"], &[]).unwrap();
        assert_eq!(
            (c.log_format, c.dockerd_args.as_slice()),
            (LogFormat::Text, &["--log-format=json".to_string()][..])
        );
        let e = run(&[], &[("DIND_LOG_FORMAT", "yaml")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable DIND_LOG_FORMAT: 'yaml' is not one of text, json"
        );
    }

    #[test]
    fn every_default_parses() {
        for o in OPTIONS {
            let mut c = Config::blank();
            if !o.default.is_empty() || o.empty_ok {
                (o.set)(&mut c, o.default).unwrap_or_else(|e| panic!("{}: {e}", o.flag));
            }
        }
    }

    #[test]
    fn docker_dind_argument_rule() {
        // A command.
        let c = run(&["docker", "run", "--rm", "x"], &[]).unwrap();
        assert_eq!(cmd(&c), ["docker", "run", "--rm", "x"]);
        assert!(c.dockerd_args.is_empty());
        // Flags first: all of them are dockerd's, even names dind-init also has.
        let c = run(&["--mtu=1360", "--log-level", "debug", "--host=tcp://0.0.0.0:2375"], &[]);
        let c = c.unwrap();
        assert_eq!(c.mode, Mode::Serve);
        assert_eq!(
            c.dockerd_args,
            ["--mtu=1360", "--log-level", "debug", "--host=tcp://0.0.0.0:2375"]
        );
        assert_eq!(c.mtu, AutoOr::Auto);
        assert_eq!(c.log_level, log::LevelFilter::Info);
        // `dockerd` first: the rest are dockerd flags.
        let c = run(&["dockerd", "--host=unix:///var/run/docker.sock", "--group=123"], &[]);
        let c = c.unwrap();
        assert_eq!(c.mode, Mode::Serve);
        assert_eq!(c.dockerd, "dockerd");
        assert_eq!(c.dockerd_args, ["--host=unix:///var/run/docker.sock", "--group=123"]);
        let c = run(&["/usr/bin/dockerd", "--debug"], &[]).unwrap();
        assert_eq!(c.dockerd, "/usr/bin/dockerd");
        // DOCKER_DAEMON_ARGS first, then the argument flags.
        let c = run(&["--debug"], &[("DOCKER_DAEMON_ARGS", "--label a")]).unwrap();
        assert_eq!(c.dockerd_args, ["--label", "a", "--debug"]);
    }

    #[test]
    fn own_options_end_at_dashdash() {
        let c = run(&["--wait-timeout", "5", "--mtu=1400", "--", "mvn", "test"], &[]).unwrap();
        assert_eq!(c.wait_timeout, Duration::from_secs(5));
        assert_eq!(c.mtu, AutoOr::Value(1400));
        assert_eq!(cmd(&c), ["mvn", "test"]);
        // After `--`, docker:dind's rule again.
        let c = run(&["--wait-timeout=5", "--", "--mtu=1360"], &[]).unwrap();
        assert_eq!(c.dockerd_args, ["--mtu=1360"]);
        assert_eq!(c.mode, Mode::Serve);
        let c = run(&["--signal-group", "--"], &[]).unwrap();
        assert!(c.signal_group);
        assert_eq!(c.mode, Mode::Serve);
        let c = run(&["--", "--weird"], &[]).unwrap();
        assert_eq!(c.dockerd_args, ["--weird"]);
        // A `--` inside the command belongs to the command.
        let c = run(&["mvn", "--", "x"], &[]).unwrap();
        assert_eq!(cmd(&c), ["mvn", "--", "x"]);
        // A flag after the command belongs to the command.
        let c = run(&["mvn", "--log", "x"], &[]).unwrap();
        assert_eq!(cmd(&c), ["mvn", "--log", "x"]);
    }

    #[test]
    fn own_option_without_dashdash_says_how() {
        let e = run(&["--wait-timeout", "5", "mvn"], &[]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string().contains("'--'") && e.to_string().contains("DIND_WAIT_TIMEOUT"),
            "{e}"
        );
        // Before `--` only dind-init's options.
        let e = run(&["--wait-timeout", "5", "mvn", "--"], &[]).unwrap_err();
        assert!(e.to_string().contains("'mvn' is not a dind-init option"), "{e}");
        let e = run(&["--shutdown-timeout", "--"], &[]).unwrap_err();
        assert!(e.to_string().contains("needs a value"), "{e}");
    }

    #[test]
    fn env_and_flag_precedence() {
        let c = run(
            &["--shutdown-timeout=3s", "--"],
            &[("DIND_SHUTDOWN_TIMEOUT", "20"), ("DIND_LOG", "file")],
        );
        let c = c.unwrap();
        assert_eq!(c.shutdown_timeout, Duration::from_secs(3));
        assert_eq!(c.log, LogMode::File);
    }

    #[test]
    fn wrapdocker_variables_only_beside_a_command() {
        let env = [
            ("DOCKER_DAEMON_ARGS", "--debug --label 'a b' --mtu=1400"),
            ("PORT", "2375"),
            ("DIND_INSECURE_TCP", "yes"),
            ("LOG", "file"),
        ];
        let c = run(&["make"], &env).unwrap();
        assert_eq!(c.dockerd_args, ["--debug", "--label", "a b", "--mtu=1400"]);
        assert_eq!(c.port, Some(2375));
        assert_eq!(c.log, LogMode::File);
        // Serving dockerd (docker:dind's way): a CI job's PORT and LOG are not ours.
        let c = run(&[], &env).unwrap();
        assert_eq!((c.port, c.log), (None, LogMode::Stdio));
        assert!(
            c.notes.iter().any(|n| n.contains("PORT=2375") && n.contains("DIND_PORT")),
            "{:?}",
            c.notes
        );
        // Beside a command, a value that makes no sense is ignored, not fatal.
        let c = run(&["make"], &[("PORT", "8080x"), ("LOG", "json")]).unwrap();
        assert_eq!((c.port, c.log), (None, LogMode::Stdio));
        assert_eq!(c.notes.len(), 2, "{:?}", c.notes);
        // PORT without TLS or the insecure opt-in is ignored with a note; DIND_PORT is refused.
        let c = run(&["make"], &[("PORT", "8080")]).unwrap();
        assert_eq!(c.port, None);
        assert!(c.notes.iter().any(|n| n.contains("PORT=8080")), "{:?}", c.notes);
        let e = run(&["make"], &[("DIND_PORT", "2375")]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("DOCKER_TLS_CERTDIR"));
        assert!(run(&[], &[("DIND_PORT", "2376"), ("DOCKER_TLS_CERTDIR", "/certs")]).is_ok());
        // An empty variable is unset; an empty DOCKER_TLS_CERTDIR means TLS off.
        assert_eq!(run(&["make"], &[("PORT", "")]).unwrap().port, None);
        assert_eq!(run(&[], &[("DOCKER_TLS_CERTDIR", "")]).unwrap().tls_certdir, TlsDir::Off);
    }

    #[test]
    fn only_the_empty_docker_tls_certdir_turns_tls_off_anything_else_but_a_path_is_refused() {
        let dir = |v: &str| run(&[], &[("DOCKER_TLS_CERTDIR", v)]).map(|c| c.tls_certdir);
        assert_eq!(dir("").unwrap(), TlsDir::Off);
        assert_eq!(dir("/certs").unwrap(), TlsDir::Dir(PathBuf::from("/certs")));
        // Taken as written: no trimming turns " /certs" into another directory.
        assert_eq!(dir("/certs ").unwrap(), TlsDir::Dir(PathBuf::from("/certs ")));
        for bad in [" ", "  ", "\t", "\n", "certs", "./certs", " /certs", "~/certs"] {
            let e = dir(bad).unwrap_err();
            assert_eq!(e.exit_code(), crate::error::EXIT_USAGE, "{bad:?}");
            let msg = e.to_string();
            assert!(msg.contains("DOCKER_TLS_CERTDIR") && msg.contains("absolute"), "{msg}");
        }
        let e = run(&["--tls-certdir", " ", "--"], &[]).unwrap_err();
        assert!(e.to_string().contains("--tls-certdir"), "{e}");
        assert_eq!(run(&["--tls-certdir=", "--"], &[]).unwrap().tls_certdir, TlsDir::Off);
    }

    /// actions-runner-controller's variables: the mirror URLs are checked (a malformed one
    /// is bad usage naming the variable), the pool's two halves go together and must fit.
    #[test]
    fn arc_mirror_and_address_pool_variables() {
        let c = run(&[], &[("DOCKER_REGISTRY_MIRROR", "http://127.0.0.1:5000")]).unwrap();
        assert_eq!(c.registry_mirrors, ["http://127.0.0.1:5000"]);
        let c = run(&[], &[("DOCKER_REGISTRY_MIRROR", "https://a, http://b:5000/")]).unwrap();
        assert_eq!(c.registry_mirrors, ["https://a", "http://b:5000/"]);
        let c = run(&["--registry-mirror=http://m", "--", "make"], &[]).unwrap();
        assert_eq!(c.registry_mirrors, ["http://m"]);
        // Given first without `--` it is dockerd's own flag, passed as it is.
        let c = run(&["--registry-mirror=http://m"], &[]).unwrap();
        assert!(c.registry_mirrors.is_empty());
        assert_eq!(c.dockerd_args, ["--registry-mirror=http://m"]);
        assert!(run(&[], &[("DOCKER_REGISTRY_MIRROR", "")]).unwrap().registry_mirrors.is_empty());
        let pool = [
            ("DOCKER_DEFAULT_ADDRESS_POOL_BASE", "172.17.0.0/12"),
            ("DOCKER_DEFAULT_ADDRESS_POOL_SIZE", "24"),
        ];
        let c = run(&[], &pool).unwrap();
        assert_eq!(c.address_pool.as_deref(), Some("base=172.17.0.0/12,size=24"));
        assert_eq!(run(&[], &[]).unwrap().address_pool, None);
        let e = run(
            &[],
            &[
                ("DOCKER_DEFAULT_ADDRESS_POOL_BASE", "10.10.0.0/16"),
                ("DOCKER_DEFAULT_ADDRESS_POOL_SIZE", "8"),
            ],
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("at least 16"), "{e}");
        let e = run(&[], &[("DOCKER_REGISTRY_MIRROR", "http://u:pw@m")]).unwrap_err();
        assert!(!e.to_string().contains("pw"), "{e}");
        assert!(e.to_string().contains("DOCKER_REGISTRY_MIRROR"), "{e}");
    }

    #[test]
    fn iptables_as_docker_dind_chooses() {
        assert_eq!(
            run(&[], &[("DOCKER_IPTABLES_LEGACY", "1")]).unwrap().iptables,
            Iptables::Legacy
        );
        assert_eq!(run(&[], &[("DOCKER_IPTABLES_LEGACY", "")]).unwrap().iptables, Iptables::Nft);
        assert_eq!(run(&[], &[]).unwrap().iptables, Iptables::Auto);
        let both = [("DOCKER_IPTABLES_LEGACY", "1"), ("DIND_IPTABLES", "off")];
        assert_eq!(
            run(&[], &both).unwrap().iptables,
            Iptables::Off,
            "dind-init's own variable wins"
        );
    }

    /// Arguments, environment, and a word the error must contain.
    type BadCase<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

    #[test]
    fn bad_values_name_their_source() {
        let cases: &[BadCase] = &[
            (&["--bogus", "--"], &[], "--bogus"),
            (&["--wait-timeout", "soon", "--"], &[], "--wait-timeout"),
            (&[], &[("DIND_WAIT_TIMEOUT", "-1")], "DIND_WAIT_TIMEOUT"),
            (&[], &[("DIND_SHUTDOWN_TIMEOUT", "x")], "DIND_SHUTDOWN_TIMEOUT"),
            (&[], &[("DIND_LOG", "syslog")], "DIND_LOG"),
            (&[], &[("DIND_PORT", "99999")], "DIND_PORT"),
            (&[], &[("DIND_ON_DAEMON_EXIT", "panic")], "DIND_ON_DAEMON_EXIT"),
            (&[], &[("DIND_MAX_RESTARTS", "many")], "DIND_MAX_RESTARTS"),
            (&[], &[("DIND_SIGNAL_GROUP", "perhaps")], "DIND_SIGNAL_GROUP"),
            (&[], &[("DIND_CGROUP_NEST", "a/b")], "DIND_CGROUP_NEST"),
            (&[], &[("DIND_CGROUP_PARENT", "relative")], "DIND_CGROUP_PARENT"),
            (&[], &[("DIND_IPTABLES", "both")], "DIND_IPTABLES"),
            (&[], &[("DIND_MTU", "9")], "DIND_MTU"),
            (&[], &[("DIND_LOG_LEVEL", "loud")], "DIND_LOG_LEVEL"),
            (&[], &[("DIND_LOG_FORMAT", "logfmt")], "DIND_LOG_FORMAT"),
            (&["--log-format", "--"], &[], "--log-format"),
            (&[], &[("DIND_CONTAINERD_BY", "systemd")], "DIND_CONTAINERD_BY"),
            (&[], &[("DOCKER_DAEMON_ARGS", "--label 'open")], "DOCKER_DAEMON_ARGS"),
            (&["--dockerd=", "--"], &[], "--dockerd"),
            (&[], &[("DOCKER_REGISTRY_MIRROR", "mirror.example:5000")], "DOCKER_REGISTRY_MIRROR"),
            (&[], &[("DOCKER_REGISTRY_MIRROR", "ftp://m")], "DOCKER_REGISTRY_MIRROR"),
            (&[], &[("DOCKER_REGISTRY_MIRROR", "http://m,")], "DOCKER_REGISTRY_MIRROR"),
            (&["--registry-mirror", "http://a b", "--"], &[], "--registry-mirror"),
            (&[], &[("DOCKER_DEFAULT_ADDRESS_POOL_BASE", "10.0.0.0")], "POOL_BASE"),
            (&[], &[("DOCKER_DEFAULT_ADDRESS_POOL_SIZE", "40")], "POOL_SIZE"),
            (&[], &[("DOCKER_DEFAULT_ADDRESS_POOL_BASE", "10.0.0.0/8")], "POOL_SIZE"),
            (&[], &[("DOCKER_DEFAULT_ADDRESS_POOL_SIZE", "24")], "POOL_BASE"),
            (&["--dockerd", "--"], &[], "--dockerd"),
        ];
        for (args, env, needle) in cases {
            let e = run(args, env).expect_err(needle);
            assert_eq!(e.exit_code(), 2, "{needle}");
            assert!(e.to_string().contains(needle), "{needle}: {e}");
        }
    }

    /// DIND_ROOTLESS: a user name or uid (empty: unset); rootlesskit's child gets dockerd's
    /// command line whole.
    #[test]
    fn rootless_user_and_rootlesskits_child() {
        assert_eq!(
            run(&[], &[("DIND_ROOTLESS", "rootless")]).unwrap().rootless.as_deref(),
            Some("rootless")
        );
        assert_eq!(run(&["--rootless=1000", "--"], &[]).unwrap().rootless.as_deref(), Some("1000"));
        assert_eq!(run(&[], &[("DIND_ROOTLESS", "")]).unwrap().rootless, None);
        assert_eq!(run(&[], &[]).unwrap().rootless, None);
        let e = run(&[], &[("DIND_ROOTLESS", "a b")]).unwrap_err();
        assert!(e.to_string().contains("DIND_ROOTLESS") && e.exit_code() == 2, "{e}");
        match inv(&["rootless-child", "dockerd", "--debug"], &[]).unwrap() {
            Invocation::RootlessChild(a) => assert_eq!(a, ["dockerd", "--debug"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn health_args() {
        let h = |args: &[&str], env: &[(&str, &str)]| match inv(args, env).unwrap() {
            Invocation::Health(h) => h,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            h(&["health"], &[("DOCKER_HOST", "unix:///x/d.sock")]).socket,
            PathBuf::from("/x/d.sock")
        );
        assert_eq!(
            h(&["health"], &[("DOCKER_HOST", "tcp://d:2376")]).socket,
            PathBuf::from("/var/run/docker.sock")
        );
        let x = h(&["health", "--socket=/s", "--timeout", "1"], &[]);
        assert_eq!((x.socket, x.timeout), (PathBuf::from("/s"), Duration::from_secs(1)));
        assert_eq!(inv(&["health", "--nope"], &[]).unwrap_err().exit_code(), 2);
        assert!(matches!(inv(&["--help"], &[]).unwrap(), Invocation::Help));
        assert!(matches!(inv(&["-V"], &[]).unwrap(), Invocation::Version));
    }

    #[test]
    fn help_lists_every_option_and_variable() {
        let h = help_text();
        for o in OPTIONS {
            assert!(h.contains(&o.synopsis()) && h.contains(o.env), "{}", o.flag);
        }
        assert!(h.lines().all(|l| l.chars().count() <= 79), "{h}");
    }

    /// The README's options table is `readme_table()`, character for character.
    #[test]
    fn readme_table_matches_the_definitions() {
        let readme = include_str!("../README.md");
        let begin = "<!-- options:begin (generated from src/options.rs; see readme_table) -->\n";
        let end = "<!-- options:end -->";
        let start = readme.find(begin).expect("README has no options:begin marker") + begin.len();
        let stop = start + readme[start..].find(end).expect("README has no options:end marker");
        let want = readme_table();
        assert!(
            readme[start..stop] == want,
            "README.md's options table differs from src/options.rs; replace it with:\n{want}"
        );
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;
        proptest! {
            #![proptest_config(ProptestConfig {
                cases: crate::fuzz_cases(2000), ..ProptestConfig::default()
            })]
            #[test]
            fn parse_never_panics(
                args in proptest::collection::vec("(--|-|[a-z-]{0,3}).{0,10}", 0..6),
                envs in proptest::collection::vec(
                    ("(DIND_[A-Z_]{1,16}|LOG|PORT|DOCKER_DAEMON_ARGS|DOCKER_TLS_CERTDIR)", ".{0,12}"),
                    0..6,
                ),
            ) {
                let args: Vec<OsString> = args.into_iter().map(OsString::from).collect();
                let env: HashMap<String, String> = envs.into_iter().collect();
                let _ = parse(&args, &env);
            }
        }
    }
}
