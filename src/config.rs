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
    duration_with(s, decimal)
}

/// A duration whose number `read` reads: the unit split and the bounds, once (the tests give
/// core's f64 parser as `read`, the reference for `decimal`).
fn duration_with(s: &str, read: impl Fn(&str) -> Option<f64>) -> Option<Duration> {
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
    let secs = read(num.trim())? * mult;
    if !secs.is_finite() || !(0.0..=365.0 * 86400.0).contains(&secs) {
        return None;
    }
    Some(Duration::from_secs_f64(secs))
}

/// `s` read as `str::parse::<f64>` reads it, without core's parser: its tables cost 16 KB of
/// the release binary (measured 2026-12-03: 1,000,368 -> 983,984 bytes with it gone). The
/// same grammar (a sign, digits with at most one point, an exponent), less `inf` and `nan`,
/// which no duration takes (parse_duration refuses them either way). The same value, correctly
/// rounded, when the significant digits fit 2^53 and the power of ten 10^22 (what anyone
/// writes for a time-out, checked against core's parser by `tests::fuzz`); past that, within
/// an ulp or two.
fn decimal(s: &str) -> Option<f64> {
    const P10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    let (neg, b) = match s.as_bytes() {
        [b'-', r @ ..] => (true, r),
        [b'+', r @ ..] => (false, r),
        r => (false, r),
    };
    // The significand's first 19 digits, the power of ten, whether a non-zero digit was lost.
    let (mut sig, mut exp, mut lost) = (0u64, 0i64, false);
    let (mut digits, mut point, mut i) = (0, false, 0);
    while let Some(&c) = b.get(i) {
        match c {
            b'0'..=b'9' if sig < 1_000_000_000_000_000_000 => {
                sig = sig * 10 + u64::from(c - b'0');
                exp -= i64::from(point);
            }
            b'0'..=b'9' => {
                exp += i64::from(!point);
                lost |= c != b'0';
            }
            b'.' if !point => point = true,
            _ => break,
        }
        digits += usize::from(c != b'.');
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if let Some(e) = b.get(i..).filter(|e| !e.is_empty()) {
        let (eneg, e) = match e {
            [b'e' | b'E', b'-', r @ ..] => (true, r),
            [b'e' | b'E', b'+', r @ ..] | [b'e' | b'E', r @ ..] => (false, r),
            _ => return None,
        };
        if e.is_empty() || !e.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = e.iter().fold(0i64, |n, &c| (n * 10 + i64::from(c - b'0')).min(1 << 20));
        exp += if eneg { -n } else { n };
    }
    let mut v = 0.0;
    if sig != 0 {
        while sig % 10 == 0 {
            sig /= 10;
            exp += 1;
        }
        // An exact integer times or over an exact power of ten: one rounding, as core's.
        while exp > 22 && !lost && sig <= (1 << 53) / 10 {
            sig *= 10;
            exp -= 1;
        }
        v = sig as f64;
        while exp > 22 && v.is_finite() {
            v *= 1e22;
            exp -= 22;
        }
        while exp < -22 && v != 0.0 {
            v /= 1e22;
            exp += 22;
        }
        v = match usize::try_from(exp) {
            Ok(e) => v * P10[e.min(22)],
            Err(_) => v / P10[exp.unsigned_abs().min(22) as usize],
        };
    }
    Some(if neg { -v } else { v })
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

    /// parse_duration before `decimal`: the reference the fuzzing compares with.
    fn with_cores_f64(s: &str) -> Option<Duration> {
        duration_with(s, |n| n.parse::<f64>().ok())
    }

    #[test]
    fn decimals_as_core_reads_them() {
        for s in [
            "0",
            "-0",
            "+0",
            "1",
            "1.",
            ".5",
            "+.5",
            "-.5",
            "0.1",
            "1.5",
            "007",
            "1e3",
            "1E3",
            "1e+3",
            "1e-3",
            "2.5e-1",
            "1e22",
            "1e23",
            "123456789012345",
            "0.000001",
            "31536000",
            "9007199254740993",
            "1e-30",
            "1e400",
            "-1e400",
            "0e999999999999",
            "12345678901234567890123",
            "0.1000000000000000000000001",
            "4.9e-324",
        ] {
            assert_eq!(decimal(s), s.parse::<f64>().ok(), "{s}");
        }
        for bad in [
            "", ".", "+", "-", "e3", ".e3", "1e", "1e+", "1..2", "1.2.3", "1_0", "0x1", " 1", "1 ",
            "1e3.5", "١", "inf", "nan", "-inf", "infinity",
        ] {
            assert_eq!(decimal(bad), None, "{bad}");
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
            /// `decimal` reads what core's f64 parser reads, to the bit, for up to 15
            /// significant digits and powers of ten to 10^22; and refuses what it refuses.
            #[test]
            fn decimal_is_cores_f64(
                s in "[+-]?([0-9]{0,8}(\\.[0-9]{0,7})?([eE][+-]?(1[0-5]|[0-9]))?|0{0,4}\\.?0{0,4}[1-9][0-9]{0,6}([eE][+-]?[0-9])?)"
            ) {
                prop_assert_eq!(decimal(&s).map(f64::to_bits), s.parse::<f64>().ok().map(f64::to_bits), "{}", s);
            }
            #[test]
            fn decimal_refuses_what_core_refuses(s in "[-+.eE0-9a-z_ ]{0,8}") {
                let core = s.parse::<f64>().is_ok_and(|v| v.is_finite() || s.bytes().any(|b| b.is_ascii_digit()));
                prop_assert_eq!(decimal(&s).is_some(), core, "{}", s);
            }
            /// parse_duration as it was, with core's f64 parser, for any text.
            #[test]
            fn durations_are_what_cores_f64_made_them(s in "[+-]?[0-9]{0,6}(\\.[0-9]{0,9})?([eE]-?[0-9])?(ms|s|m)?|.{0,12}") {
                prop_assert_eq!(parse_duration(&s), with_cores_f64(&s), "{}", s);
            }
        }
    }
}
