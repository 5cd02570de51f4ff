//! Command line and environment. Every option has an environment variable so that a
//! Dockerfile `ENV` or a Kubernetes pod spec can set it; a flag wins over its variable.
//! wrapdocker's variables (`DOCKER_DAEMON_ARGS`, `LOG`, `PORT`) keep their meaning.
//! Parsing is pure (arguments and environment come in as values) so it can be tested
//! and fuzzed without touching the process.

use crate::error::{usage, Result};
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// Where dockerd's output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogMode {
    Stdio,
    File,
}

/// What to do when dockerd exits while the command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDaemonExit {
    Restart,
    Exit,
    Ignore,
}

/// Which iptables implementation dockerd should find first in its PATH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Iptables {
    Auto,
    Nft,
    Legacy,
    Off,
}

/// `auto`, `off`, or an explicit value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoOr<T> {
    Auto,
    Off,
    Value(T),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub dockerd: String,
    pub dockerd_args: Vec<String>,
    pub log: LogMode,
    pub log_file: PathBuf,
    pub port: Option<u16>,
    pub tls_certdir: Option<PathBuf>,
    pub insecure_tcp: bool,
    pub wait_timeout: Duration,
    pub continue_on_timeout: bool,
    pub shutdown_timeout: Duration,
    pub on_daemon_exit: OnDaemonExit,
    pub max_restarts: u32,
    pub signal_group: bool,
    pub wait_containerd: bool,
    pub cgroup_nest: String,
    pub cgroup_setup: bool,
    pub cgroup_parent: AutoOr<String>,
    pub iptables: Iptables,
    pub mtu: AutoOr<u32>,
    pub testcontainers: bool,
    pub log_level: log::LevelFilter,
    /// The user's command; empty means shell (tty) or daemon mode.
    pub command: Vec<OsString>,
}

#[derive(Debug, Clone)]
pub struct HealthConfig {
    pub socket: PathBuf,
    pub timeout: Duration,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Invocation {
    Run(Box<Config>),
    Health(HealthConfig),
    Help,
    Version,
}

/// One option: its flag, its variable, whether it takes a value, its default and help.
struct Opt {
    flag: &'static str,
    env: &'static str,
    value: Option<&'static str>,
    default: &'static str,
    help: &'static str,
}

const OPTS: &[Opt] = &[
    Opt { flag: "--dockerd", env: "DIND_DOCKERD", value: Some("PATH"), default: "dockerd", help: "dockerd binary to run (looked up in PATH)" },
    Opt { flag: "--dockerd-args", env: "DOCKER_DAEMON_ARGS", value: Some("ARGS"), default: "", help: "extra dockerd arguments, shell-style quoting (as in wrapdocker)" },
    Opt { flag: "--log", env: "LOG", value: Some("stdio|file"), default: "stdio", help: "dockerd output to the container's stderr, or to --log-file" },
    Opt { flag: "--log-file", env: "DIND_LOG_FILE", value: Some("PATH"), default: "/var/log/docker.log", help: "file for LOG=file" },
    Opt { flag: "--port", env: "PORT", value: Some("N"), default: "", help: "dockerd also listens on tcp://0.0.0.0:N (TLS required, see --tls-certdir)" },
    Opt { flag: "--tls-certdir", env: "DOCKER_TLS_CERTDIR", value: Some("DIR"), default: "", help: "directory with server/{ca,cert,key}.pem for --port" },
    Opt { flag: "--insecure-tcp", env: "DIND_INSECURE_TCP", value: None, default: "false", help: "allow --port without TLS (anyone who can reach it is root)" },
    Opt { flag: "--wait-timeout", env: "DIND_WAIT_TIMEOUT", value: Some("DURATION"), default: "60s", help: "how long dockerd may take to answer /_ping" },
    Opt { flag: "--continue-on-timeout", env: "DIND_CONTINUE_ON_TIMEOUT", value: None, default: "false", help: "run the command anyway after a readiness time-out (wrapdocker's behaviour)" },
    Opt { flag: "--shutdown-timeout", env: "DIND_SHUTDOWN_TIMEOUT", value: Some("DURATION"), default: "8s", help: "how long dockerd may take to stop before it is killed" },
    Opt { flag: "--on-daemon-exit", env: "DIND_ON_DAEMON_EXIT", value: Some("restart|exit|ignore"), default: "restart", help: "what to do when dockerd dies while the command runs" },
    Opt { flag: "--max-restarts", env: "DIND_MAX_RESTARTS", value: Some("N"), default: "5", help: "give up after N restarts (back-off 1, 2, 4, 8, 16 s, at most 30 s)" },
    Opt { flag: "--signal-group", env: "DIND_SIGNAL_GROUP", value: None, default: "false", help: "forward signals to the command's whole process group" },
    Opt { flag: "--wait-containerd", env: "DIND_WAIT_CONTAINERD", value: None, default: "false", help: "at shutdown, let dockerd sit out its fixed 1 s wait for containerd (by default it is ended once its shutdown is complete and containerd has exited)" },
    Opt { flag: "--cgroup-nest", env: "DIND_CGROUP_NEST", value: Some("NAME"), default: "init", help: "child cgroup that holds existing processes on cgroup v2" },
    Opt { flag: "--no-cgroup-setup", env: "DIND_NO_CGROUP_SETUP", value: None, default: "false", help: "leave cgroups exactly as they are" },
    Opt { flag: "--cgroup-parent", env: "DIND_CGROUP_PARENT", value: Some("auto|off|PATH"), default: "auto", help: "cgroup parent for inner containers; auto keeps them inside this container's cgroup" },
    Opt { flag: "--iptables", env: "DIND_IPTABLES", value: Some("auto|nft|legacy|off"), default: "auto", help: "iptables backend dockerd uses; auto picks the one the kernel has loaded" },
    Opt { flag: "--mtu", env: "DIND_MTU", value: Some("auto|off|N"), default: "auto", help: "dockerd --mtu; auto passes the default route's MTU when below 1500" },
    Opt { flag: "--testcontainers", env: "DIND_TESTCONTAINERS", value: None, default: "false", help: "also export TESTCONTAINERS_HOST_OVERRIDE=localhost to the command" },
    Opt { flag: "--log-level", env: "DIND_LOG_LEVEL", value: Some("LEVEL"), default: "info", help: "error, warn, info, debug or trace" },
];

pub fn help_text() -> String {
    let mut s = format!(
        "dind-init {}: PID 1 for Docker-in-Docker containers\n\n\
         Usage: dind-init [OPTIONS] [--] [COMMAND [ARG]...]\n       \
         dind-init health [--socket PATH] [--timeout DURATION]\n\n\
         Prepares cgroups, starts dockerd, waits until it answers, runs COMMAND, forwards\n\
         signals, reaps zombies, stops dockerd cleanly and exits with COMMAND's status.\n\
         Without COMMAND: a login shell on a terminal, otherwise dockerd runs until SIGTERM.\n\n\
         Options (each also read from the environment variable shown; flags win):\n",
        env!("CARGO_PKG_VERSION")
    );
    for o in OPTS {
        let flag = match o.value {
            Some(v) => format!("{} {}", o.flag, v),
            None => o.flag.to_string(),
        };
        let default = if o.default.is_empty() { "unset".to_string() } else { o.default.to_string() };
        s.push_str(&format!("  {flag:<38} {}\n  {:<38} env {}, default {}\n", o.help, "", o.env, default));
    }
    s.push_str(
        "  -h, --help                             this text\n  \
         -V, --version                          the version\n\n\
         Durations: seconds (60, 1.5) or with a unit (500ms, 10s, 2m).\n\
         Exit status: COMMAND's own; 128+N when signal N killed it; 125 set-up or dockerd\n\
         failure; 126 COMMAND not executable; 127 COMMAND not found; 2 bad usage.\n",
    );
    s
}

/// Parses a duration: plain seconds (`60`, `1.5`) or with a unit (`500ms`, `10s`, `2m`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.trim().parse().ok()?;
    let secs = v * mult;
    if !secs.is_finite() || !(0.0..=365.0 * 86400.0).contains(&secs) {
        return None;
    }
    Some(Duration::from_secs_f64(secs))
}

pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// Splits a string the way a POSIX shell splits words: whitespace separates, single quotes
/// are literal, double quotes allow `\"`, `\\`, `\$` and `` \` ``, a backslash outside quotes
/// escapes the next character. No expansion is done. An unterminated quote is an error.
pub fn shell_split(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c)
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => {
                    in_word = true;
                    cur.push(c)
                }
                None => return Err("trailing backslash".into()),
            },
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c)
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

fn find_opt(flag: &str) -> Option<&'static Opt> {
    OPTS.iter().find(|o| o.flag == flag)
}

/// Parses the whole invocation. `args` excludes argv[0].
pub fn parse(args: &[OsString], env: &HashMap<String, String>) -> Result<Invocation> {
    if args.first().map(|a| a == "health").unwrap_or(false) {
        return parse_health(&args[1..], env).map(Invocation::Health);
    }
    // Values given on the command line, keyed by flag.
    let mut given: HashMap<&'static str, String> = HashMap::new();
    let mut i = 0;
    let mut command = Vec::new();
    while i < args.len() {
        let arg = &args[i];
        let Some(a) = arg.to_str() else {
            // Not UTF-8: it can only be the command.
            command.extend_from_slice(&args[i..]);
            break;
        };
        if a == "--" {
            command.extend_from_slice(&args[i + 1..]);
            break;
        }
        if a == "-h" || a == "--help" {
            return Ok(Invocation::Help);
        }
        if a == "-V" || a == "--version" {
            return Ok(Invocation::Version);
        }
        if !a.starts_with('-') || a == "-" {
            command.extend_from_slice(&args[i..]);
            break;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a, None),
        };
        let opt = find_opt(name).ok_or_else(|| usage(format!("unknown option '{name}' (see dind-init --help)")))?;
        let value = match (opt.value, inline) {
            (Some(_), Some(v)) => v,
            (Some(meta), None) => {
                i += 1;
                args.get(i).and_then(|v| v.to_str()).map(str::to_string).ok_or_else(|| usage(format!("option {name} needs a value ({meta})")))?
            }
            (None, Some(v)) => v,
            (None, None) => "true".to_string(),
        };
        given.insert(opt.flag, value);
        i += 1;
    }

    // A flag's value, else its variable's, else None; `source` names where it came from.
    let get = |flag: &str| -> Option<(String, String)> {
        let opt = find_opt(flag).expect("known flag");
        if let Some(v) = given.get(opt.flag) {
            return Some((v.clone(), format!("option {}", opt.flag)));
        }
        env.get(opt.env).map(|v| (v.clone(), format!("environment variable {}", opt.env)))
    };
    let nonempty = |flag: &str| -> Result<Option<(String, String)>> {
        match get(flag) {
            Some((v, src)) if v.trim().is_empty() => {
                // An empty variable means unset for the optional ones (PORT= is common).
                if given.contains_key(find_opt(flag).unwrap().flag) {
                    Err(usage(format!("{src} is empty")))
                } else {
                    Ok(None)
                }
            }
            other => Ok(other),
        }
    };
    let boolean = |flag: &str| -> Result<bool> {
        match get(flag) {
            None => Ok(false),
            Some((v, src)) => parse_bool(&v).ok_or_else(|| usage(format!("{src}: '{v}' is not a boolean (use true or false)"))),
        }
    };
    let duration = |flag: &str, default: Duration| -> Result<Duration> {
        match nonempty(flag)? {
            None => Ok(default),
            Some((v, src)) => parse_duration(&v).ok_or_else(|| usage(format!("{src}: '{v}' is not a duration (e.g. 60, 1.5, 500ms, 2m)"))),
        }
    };
    let choice = |flag: &str, choices: &[&str]| -> Result<Option<String>> {
        match nonempty(flag)? {
            None => Ok(None),
            Some((v, src)) => {
                let l = v.trim().to_ascii_lowercase();
                if choices.contains(&l.as_str()) {
                    Ok(Some(l))
                } else {
                    Err(usage(format!("{src}: '{v}' is not one of {}", choices.join(", "))))
                }
            }
        }
    };

    let dockerd = match nonempty("--dockerd")? {
        Some((v, _)) => v,
        None => "dockerd".to_string(),
    };
    let dockerd_args = match get("--dockerd-args") {
        None => Vec::new(),
        Some((v, src)) => shell_split(&v).map_err(|e| usage(format!("{src}: {e}")))?,
    };
    let log = match choice("--log", &["stdio", "file"])?.as_deref() {
        Some("file") => LogMode::File,
        _ => LogMode::Stdio,
    };
    let log_file = nonempty("--log-file")?.map(|(v, _)| PathBuf::from(v)).unwrap_or_else(|| PathBuf::from("/var/log/docker.log"));
    let port = match nonempty("--port")? {
        None => None,
        Some((v, src)) => match v.trim().parse::<u16>() {
            Ok(p) if p > 0 => Some(p),
            _ => return Err(usage(format!("{src}: '{v}' is not a TCP port (1-65535)"))),
        },
    };
    let tls_certdir = nonempty("--tls-certdir")?.map(|(v, _)| PathBuf::from(v));
    let insecure_tcp = boolean("--insecure-tcp")?;
    let wait_timeout = duration("--wait-timeout", Duration::from_secs(60))?;
    let continue_on_timeout = boolean("--continue-on-timeout")?;
    let shutdown_timeout = duration("--shutdown-timeout", Duration::from_secs(8))?;
    let on_daemon_exit = match choice("--on-daemon-exit", &["restart", "exit", "ignore"])?.as_deref() {
        Some("exit") => OnDaemonExit::Exit,
        Some("ignore") => OnDaemonExit::Ignore,
        _ => OnDaemonExit::Restart,
    };
    let max_restarts = match nonempty("--max-restarts")? {
        None => 5,
        Some((v, src)) => v.trim().parse::<u32>().map_err(|_| usage(format!("{src}: '{v}' is not a whole number")))?,
    };
    let signal_group = boolean("--signal-group")?;
    let wait_containerd = boolean("--wait-containerd")?;
    let cgroup_nest = match nonempty("--cgroup-nest")? {
        None => "init".to_string(),
        Some((v, src)) => {
            let v = v.trim().to_string();
            if v.contains('/') || v == "." || v == ".." || v.starts_with("cgroup.") {
                return Err(usage(format!("{src}: '{v}' is not a valid cgroup name")));
            }
            v
        }
    };
    let cgroup_setup = !boolean("--no-cgroup-setup")?;
    let cgroup_parent = match nonempty("--cgroup-parent")? {
        None => AutoOr::Auto,
        Some((v, src)) => match v.trim() {
            "auto" => AutoOr::Auto,
            "off" => AutoOr::Off,
            p if p.starts_with('/') => AutoOr::Value(p.to_string()),
            _ => return Err(usage(format!("{src}: '{v}' is not auto, off or an absolute cgroup path"))),
        },
    };
    let iptables = match choice("--iptables", &["auto", "nft", "legacy", "off"])?.as_deref() {
        Some("nft") => Iptables::Nft,
        Some("legacy") => Iptables::Legacy,
        Some("off") => Iptables::Off,
        _ => Iptables::Auto,
    };
    let mtu = match nonempty("--mtu")? {
        None => AutoOr::Auto,
        Some((v, src)) => match v.trim() {
            "auto" => AutoOr::Auto,
            "off" => AutoOr::Off,
            n => match n.parse::<u32>() {
                Ok(m) if (68..=65535).contains(&m) => AutoOr::Value(m),
                _ => return Err(usage(format!("{src}: '{v}' is not auto, off or an MTU (68-65535)"))),
            },
        },
    };
    let testcontainers = boolean("--testcontainers")?;
    let log_level = match choice("--log-level", &["error", "warn", "info", "debug", "trace", "off"])?.as_deref() {
        Some("error") => log::LevelFilter::Error,
        Some("warn") => log::LevelFilter::Warn,
        Some("debug") => log::LevelFilter::Debug,
        Some("trace") => log::LevelFilter::Trace,
        Some("off") => log::LevelFilter::Off,
        _ => log::LevelFilter::Info,
    };
    if port.is_some() && tls_certdir.is_none() && !insecure_tcp {
        return Err(usage(
            "PORT is set but DOCKER_TLS_CERTDIR is not: refusing to expose the Docker API (root on this container) \
             on TCP without TLS. Set DOCKER_TLS_CERTDIR to a directory with server/ca.pem, server/cert.pem and \
             server/key.pem, or set DIND_INSECURE_TCP=true if the port is not reachable by anyone else",
        ));
    }
    Ok(Invocation::Run(Box::new(Config {
        dockerd,
        dockerd_args,
        log,
        log_file,
        port,
        tls_certdir,
        insecure_tcp,
        wait_timeout,
        continue_on_timeout,
        shutdown_timeout,
        on_daemon_exit,
        max_restarts,
        signal_group,
        wait_containerd,
        cgroup_nest,
        cgroup_setup,
        cgroup_parent,
        iptables,
        mtu,
        testcontainers,
        log_level,
        command,
    })))
}

fn parse_health(args: &[OsString], env: &HashMap<String, String>) -> Result<HealthConfig> {
    let mut socket = None;
    let mut timeout = Duration::from_secs(3);
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
            args.get(i).and_then(|v| v.to_str()).map(str::to_string).ok_or_else(|| usage(format!("health: {name} needs a value")))
        };
        match name {
            "--socket" => socket = Some(PathBuf::from(value()?)),
            "--timeout" => {
                let v = value()?;
                timeout = parse_duration(&v).ok_or_else(|| usage(format!("health: --timeout '{v}' is not a duration")))?;
            }
            "-h" | "--help" => return Err(usage("usage: dind-init health [--socket PATH] [--timeout DURATION]")),
            _ => return Err(usage(format!("health: unknown argument '{a}'"))),
        }
        i += 1;
    }
    let socket = match socket {
        Some(s) => s,
        None => match env.get("DOCKER_HOST").and_then(|h| h.strip_prefix("unix://")) {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => PathBuf::from("/var/run/docker.sock"),
        },
    };
    Ok(HealthConfig { socket, timeout })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Config> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        match parse(&args, &env)? {
            Invocation::Run(c) => Ok(*c),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = run(&[], &[]).unwrap();
        assert_eq!(c.dockerd, "dockerd");
        assert!(c.dockerd_args.is_empty());
        assert_eq!(c.log, LogMode::Stdio);
        assert_eq!(c.wait_timeout, Duration::from_secs(60));
        assert_eq!(c.shutdown_timeout, Duration::from_secs(8));
        assert_eq!(c.on_daemon_exit, OnDaemonExit::Restart);
        assert_eq!(c.cgroup_nest, "init");
        assert!(c.cgroup_setup);
        assert_eq!(c.cgroup_parent, AutoOr::Auto);
        assert!(c.command.is_empty());
    }

    #[test]
    fn command_after_options_and_dashdash() {
        let c = run(&["--wait-timeout", "5", "docker", "run", "--rm", "x"], &[]).unwrap();
        assert_eq!(c.wait_timeout, Duration::from_secs(5));
        assert_eq!(c.command, vec!["docker", "run", "--rm", "x"]);
        let c = run(&["--", "--weird", "-x"], &[]).unwrap();
        assert_eq!(c.command, vec!["--weird", "-x"]);
        // Flags after the command belong to the command.
        let c = run(&["mvn", "--log", "x"], &[]).unwrap();
        assert_eq!(c.command, vec!["mvn", "--log", "x"]);
        assert_eq!(c.log, LogMode::Stdio);
    }

    #[test]
    fn env_and_flag_precedence() {
        let c = run(&["--shutdown-timeout=3s"], &[("DIND_SHUTDOWN_TIMEOUT", "20"), ("LOG", "file")]).unwrap();
        assert_eq!(c.shutdown_timeout, Duration::from_secs(3));
        assert_eq!(c.log, LogMode::File);
    }

    #[test]
    fn wrapdocker_variables() {
        let c = run(&[], &[("DOCKER_DAEMON_ARGS", "--debug --label 'a b' --mtu=1400"), ("PORT", "2375"), ("DIND_INSECURE_TCP", "yes")]).unwrap();
        assert_eq!(c.dockerd_args, vec!["--debug", "--label", "a b", "--mtu=1400"]);
        assert_eq!(c.port, Some(2375));
        // An empty PORT is unset, as in wrapdocker's `if [ "$PORT" ]`.
        let c = run(&[], &[("PORT", "")]).unwrap();
        assert_eq!(c.port, None);
    }

    #[test]
    fn port_without_tls_is_refused() {
        let e = run(&[], &[("PORT", "2375")]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("DOCKER_TLS_CERTDIR"));
        assert!(run(&[], &[("PORT", "2376"), ("DOCKER_TLS_CERTDIR", "/certs")]).is_ok());
    }

    /// Arguments, environment, and a word the error must contain.
    type BadCase<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

    #[test]
    fn bad_values_name_their_source() {
        let cases: &[BadCase] = &[
            (&["--bogus"], &[], "--bogus"),
            (&["--wait-timeout", "soon"], &[], "--wait-timeout"),
            (&[], &[("DIND_WAIT_TIMEOUT", "-1")], "DIND_WAIT_TIMEOUT"),
            (&[], &[("DIND_SHUTDOWN_TIMEOUT", "x")], "DIND_SHUTDOWN_TIMEOUT"),
            (&[], &[("LOG", "syslog")], "LOG"),
            (&[], &[("PORT", "99999")], "PORT"),
            (&[], &[("DIND_ON_DAEMON_EXIT", "panic")], "DIND_ON_DAEMON_EXIT"),
            (&[], &[("DIND_MAX_RESTARTS", "many")], "DIND_MAX_RESTARTS"),
            (&[], &[("DIND_SIGNAL_GROUP", "perhaps")], "DIND_SIGNAL_GROUP"),
            (&[], &[("DIND_CGROUP_NEST", "a/b")], "DIND_CGROUP_NEST"),
            (&[], &[("DIND_CGROUP_PARENT", "relative")], "DIND_CGROUP_PARENT"),
            (&[], &[("DIND_IPTABLES", "both")], "DIND_IPTABLES"),
            (&[], &[("DIND_MTU", "9")], "DIND_MTU"),
            (&[], &[("DIND_LOG_LEVEL", "loud")], "DIND_LOG_LEVEL"),
            (&[], &[("DOCKER_DAEMON_ARGS", "--label 'open")], "DOCKER_DAEMON_ARGS"),
            (&["--dockerd="], &[], "--dockerd"),
            (&["--dockerd"], &[], "--dockerd"),
        ];
        for (args, env, needle) in cases {
            let e = run(args, env).expect_err(needle);
            assert_eq!(e.exit_code(), 2, "{needle}");
            assert!(e.to_string().contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        for bad in ["", "x", "-1", "NaN", "inf", "1e300", "5h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_split(r#"a "b c" 'd e' f\ g "h\"i" '' x"#).unwrap(), vec!["a", "b c", "d e", "f g", "h\"i", "", "x"]);
        assert_eq!(shell_split("  ").unwrap(), Vec::<String>::new());
        assert!(shell_split("'a").is_err());
        assert!(shell_split("\"a").is_err());
        assert!(shell_split("a\\").is_err());
    }

    #[test]
    fn health_args() {
        let env: HashMap<String, String> = [("DOCKER_HOST".to_string(), "unix:///x/d.sock".to_string())].into();
        match parse(&["health".into()], &env).unwrap() {
            Invocation::Health(h) => assert_eq!(h.socket, PathBuf::from("/x/d.sock")),
            _ => panic!(),
        }
        match parse(&["health".into(), "--socket=/s".into(), "--timeout".into(), "1".into()], &HashMap::new()).unwrap() {
            Invocation::Health(h) => {
                assert_eq!(h.socket, PathBuf::from("/s"));
                assert_eq!(h.timeout, Duration::from_secs(1));
            }
            _ => panic!(),
        }
        assert_eq!(parse(&["health".into(), "--nope".into()], &HashMap::new()).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn help_lists_every_option_and_variable() {
        let h = help_text();
        for o in OPTS {
            assert!(h.contains(o.flag) && h.contains(o.env), "{}", o.flag);
        }
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;
        proptest! {
            #![proptest_config(ProptestConfig { cases: crate::fuzz_cases(2000), ..ProptestConfig::default() })]
            #[test]
            fn parse_never_panics(args in proptest::collection::vec(".{0,12}", 0..6),
                                  envs in proptest::collection::vec(("(DIND_[A-Z_]{1,16}|LOG|PORT|DOCKER_DAEMON_ARGS|DOCKER_TLS_CERTDIR)", ".{0,12}"), 0..6)) {
                let args: Vec<OsString> = args.into_iter().map(OsString::from).collect();
                let env: HashMap<String, String> = envs.into_iter().collect();
                let _ = parse(&args, &env);
            }
            #[test]
            fn shell_split_never_panics(s in ".{0,64}") { let _ = shell_split(&s); }
            #[test]
            fn duration_never_panics(s in ".{0,16}") { let _ = parse_duration(&s); }
        }
    }
}
