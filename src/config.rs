//! What dind-init was asked to do: the `Config` every other module reads, and the parsers
//! for the kinds of values options take (durations, booleans, shell-quoted words), and what
//! both `options` and `dockerd::plan` read about Docker hosts (the default socket, a
//! `unix://` path), so neither imports the other. The options themselves, each defined once,
//! are in `options.rs`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// dockerd's default socket (and docker:dind's).
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// The path of a `unix://PATH` Docker host (`DOCKER_HOST`); `None` for any other host.
pub fn unix_path(host: &str) -> Option<PathBuf> {
    host.strip_prefix("unix://").filter(|p| !p.is_empty()).map(PathBuf::from)
}

/// Where dockerd's output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogMode {
    Stdio,
    File,
}

/// How dind-init writes its own log (`events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Readable lines, each event's fields in braces.
    Text,
    /// One JSON object a line.
    Json,
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

/// docker:dind's `DOCKER_TLS_CERTDIR`: unset, set to the empty string (TLS explicitly
/// off), or a directory (an absolute path: any other value is refused, in `options`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsDir {
    Unset,
    Off,
    Dir(PathBuf),
}

/// Who runs containerd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerdBy {
    /// dind-init, when the image has a `containerd` binary and the user did not point dockerd
    /// at a containerd of their own.
    Auto,
    /// dind-init starts and supervises it (`dockerd --containerd=SOCKET`).
    DindInit,
    /// dockerd starts its managed containerd itself.
    Dockerd,
}

/// What a preload failure does (`--preload-errors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreloadErrors {
    /// The start stops: exit 125.
    Fail,
    /// Logged; the command runs.
    Warn,
}

/// What runs beside dockerd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// No command: dockerd is served (docker:dind's way), or a login shell on a terminal.
    Serve,
    /// The user's command (wrapdocker's way).
    Command(Vec<OsString>),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub dockerd: String,
    /// DOCKER_DAEMON_ARGS (or --dockerd-args) followed by the dockerd flags given as
    /// arguments (docker:dind's way).
    pub dockerd_args: Vec<String>,
    pub log: LogMode,
    pub log_file: PathBuf,
    pub port: Option<u16>,
    pub tls_certdir: TlsDir,
    pub insecure_tcp: bool,
    pub wait_timeout: Duration,
    pub continue_on_timeout: bool,
    pub shutdown_timeout: Duration,
    /// How long to wait for another dind-init's lock on the data root.
    pub data_root_wait: Duration,
    pub on_daemon_exit: OnDaemonExit,
    pub max_restarts: u32,
    pub signal_group: bool,
    pub wait_containerd: bool,
    pub containerd: ContainerdBy,
    pub cgroup_nest: String,
    pub cgroup_setup: bool,
    pub cgroup_parent: AutoOr<String>,
    pub iptables: Iptables,
    pub mtu: AutoOr<u32>,
    pub testcontainers: bool,
    /// `--rootless`: the user to run dockerd as, rootless (None: rootless only when
    /// dind-init itself is not root).
    pub rootless: Option<String>,
    /// `DOCKER_REGISTRY_MIRROR`: each becomes a `--registry-mirror` (checked URLs).
    pub registry_mirrors: Vec<String>,
    /// `DOCKER_DEFAULT_ADDRESS_POOL_BASE`: the CIDR as written, its prefix length, its bits.
    pub pool_base: Option<(String, u8, u8)>,
    /// `DOCKER_DEFAULT_ADDRESS_POOL_SIZE`.
    pub pool_size: Option<u8>,
    /// Both of them, checked together: dockerd's `--default-address-pool` value.
    pub address_pool: Option<String>,
    /// `--preload`: the directory of image archives loaded before the command starts.
    pub preload: Option<PathBuf>,
    pub preload_errors: PreloadErrors,
    pub log_level: log::LevelFilter,
    pub log_format: LogFormat,
    pub mode: Mode,
    /// docker:dind's default listeners apply: no arguments, or dockerd flags first (not
    /// `dockerd ...`, which is run as given, nor a command).
    pub service_defaults: bool,
    /// Remarks made while parsing (a wrapdocker variable ignored, ...), logged at start.
    pub notes: Vec<String>,
}

impl Config {
    /// Every field set to something; `options::parse` then applies each option's default.
    pub(crate) fn blank() -> Config {
        Config {
            dockerd: String::new(),
            dockerd_args: Vec::new(),
            log: LogMode::Stdio,
            log_file: PathBuf::new(),
            port: None,
            tls_certdir: TlsDir::Unset,
            insecure_tcp: false,
            wait_timeout: Duration::ZERO,
            continue_on_timeout: false,
            shutdown_timeout: Duration::ZERO,
            data_root_wait: Duration::ZERO,
            on_daemon_exit: OnDaemonExit::Restart,
            max_restarts: 0,
            signal_group: false,
            wait_containerd: false,
            containerd: ContainerdBy::Auto,
            cgroup_nest: String::new(),
            cgroup_setup: true,
            cgroup_parent: AutoOr::Auto,
            iptables: Iptables::Auto,
            mtu: AutoOr::Auto,
            testcontainers: false,
            rootless: None,
            registry_mirrors: Vec::new(),
            pool_base: None,
            pool_size: None,
            address_pool: None,
            preload: None,
            preload_errors: PreloadErrors::Fail,
            log_level: log::LevelFilter::Info,
            log_format: LogFormat::Text,
            mode: Mode::Serve,
            service_defaults: false,
            notes: Vec::new(),
        }
    }

    /// The user's command, if any.
    #[cfg(test)]
    pub fn command(&self) -> Option<&[OsString]> {
        match &self.mode {
            Mode::Command(c) => Some(c),
            Mode::Serve => None,
        }
    }
}

/// `dind-init health`'s settings.
#[derive(Debug, Clone)]
pub struct HealthConfig {
    pub socket: PathBuf,
    pub timeout: Duration,
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
/// are literal, double quotes allow `\"`, `\\`, `\$` and `` \` ``, a backslash outside
/// quotes escapes the next character. No expansion is done. An unterminated quote is an
/// error.
pub fn shell_split(s: &str) -> Result<Vec<String>, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn booleans() {
        for t in ["1", "true", "YES", "on"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "false", "No", "off", ""] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("perhaps"), None);
    }

    #[test]
    fn shell_words() {
        assert_eq!(
            shell_split(r#"a "b c" 'd e' f\ g "h\"i" '' x"#).unwrap(),
            vec!["a", "b c", "d e", "f g", "h\"i", "", "x"]
        );
        assert_eq!(shell_split("  ").unwrap(), Vec::<String>::new());
        assert!(shell_split("'a").is_err());
        assert!(shell_split("\"a").is_err());
        assert!(shell_split("a\\").is_err());
    }

    #[test]
    fn unix_docker_hosts() {
        assert_eq!(unix_path("unix:///x/d.sock"), Some(PathBuf::from("/x/d.sock")));
        for other in ["unix://", "tcp://d:2376", "/var/run/docker.sock", ""] {
            assert_eq!(unix_path(other), None, "{other}");
        }
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;
        proptest! {
            #![proptest_config(ProptestConfig {
                cases: crate::fuzz_cases(2000), ..ProptestConfig::default()
            })]
            #[test]
            fn shell_split_never_panics(s in ".{0,64}") { let _ = shell_split(&s); }
            #[test]
            fn duration_never_panics(s in ".{0,16}") { let _ = parse_duration(&s); }
        }
    }
}
