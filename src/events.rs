//! The log, and the events in it: dind-init's log is an interface. Every step people (and
//! scripts) look for is an *event* from one vocabulary (`src/events.vocab`: a name and its
//! fields), written in one of two formats:
//!
//! - text (the default): the readable line, then the event and its fields in braces:
//!   `dind-init: +0.645s INFO  ready: dockerd answered /_ping on /var/run/docker.sock after
//!   0.543s (18 attempt(s)) {dockerd-ready socket=/var/run/docker.sock secs=0.543 attempts=18
//!   restart=0}`;
//! - JSON (`DIND_LOG_FORMAT=json`, for log collectors): one object a line,
//!   `{"t":0.645,"level":"INFO","event":"dockerd-ready","socket":"/var/run/docker.sock",
//!   "secs":0.543,"attempts":18,"restart":0,"msg":"ready: dockerd answered ..."}`.
//!
//! Lines that are not events (`log::info!` and friends) have no braces, or no `event` key.
//! Readers parse the braces or the JSON, never the prose: tests/common (Rust) and
//! scripts/events.py (Python, and bash through it). This module is also the `log::Log`
//! implementation: a small one, since the formatting is all ours.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::OnceLock;
use std::time::Instant;

/// The vocabulary: `name field field ...` a line, `@TYPE field ...` lines for the fields that
/// are not strings (comments start with '#').
pub const VOCABULARY: &str = include_str!("events.vocab");

/// The vocabulary's events, each as its words: the name, then its fields in order.
pub fn events() -> impl Iterator<Item = Vec<&'static str>> {
    VOCABULARY
        .lines()
        .filter(|l| !l.starts_with(['#', '@']) && !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
}

/// The fields of event `name`, in order, from the vocabulary.
pub fn fields_of(name: &str) -> Option<Vec<&'static str>> {
    events().find(|w| w[0] == name).map(|w| w[1..].to_vec())
}

/// A field's type, from the vocabulary's `@num`, `@int` and `@bool` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Str,
    Int,
    Num,
    Bool,
}

/// The type of field `field` (a field no `@TYPE` line names is a string).
pub fn type_of(field: &str) -> Type {
    let line = VOCABULARY.lines().filter_map(|l| l.strip_prefix('@')).find_map(|l| {
        let mut w = l.split_whitespace();
        let ty = w.next()?;
        w.any(|f| f == field).then_some(ty)
    });
    match line {
        Some("int") => Type::Int,
        Some("num") => Type::Num,
        Some("bool") => Type::Bool,
        _ => Type::Str,
    }
}

/// A field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Str(String),
    Int(i64),
    /// Seconds or milliseconds: written with three decimals.
    Num(f64),
    Bool(bool),
}

impl V {
    /// Its type in the vocabulary's terms.
    pub fn ty(&self) -> Type {
        match self {
            V::Str(_) => Type::Str,
            V::Int(_) => Type::Int,
            V::Num(_) => Type::Num,
            V::Bool(_) => Type::Bool,
        }
    }
}

impl From<&str> for V {
    fn from(s: &str) -> V {
        V::Str(s.to_string())
    }
}
impl From<String> for V {
    fn from(s: String) -> V {
        V::Str(s)
    }
}
impl From<&String> for V {
    fn from(s: &String) -> V {
        V::Str(s.clone())
    }
}
impl From<bool> for V {
    fn from(b: bool) -> V {
        V::Bool(b)
    }
}
impl From<f64> for V {
    fn from(n: f64) -> V {
        V::Num(n)
    }
}
impl From<Dec> for V {
    fn from(d: Dec) -> V {
        V::Num(d.0)
    }
}

/// A number written with the precision its format asks for (`{:.3}`), as `f64` writes it:
/// the exact binary value rounded to that many decimals, half to even. Not core's float
/// formatting (Grisu, Dragon and their tables: 12,288 bytes of the release binary, measured
/// 2026-12-03: 983,984 -> 971,696), which only this used. For the log's times: values below 2^64
/// (larger ones saturate), precisions up to 9.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dec(pub f64);

impl std::fmt::Display for Dec {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let (x, prec) = (self.0, f.precision().unwrap_or(3).min(9));
        if x.is_nan() {
            return f.write_str("NaN");
        }
        if x.is_sign_negative() {
            f.write_str("-")?;
        }
        if x.is_infinite() {
            return f.write_str("inf");
        }
        // |x| = m * 2^e, so |x| * 10^prec = m * 5^prec * 2^(e + prec): an integer to round.
        let bits = x.to_bits();
        let (m, e) = match (bits >> 52) & 0x7ff {
            0 => (bits & ((1 << 52) - 1), -1074),
            b => (bits & ((1 << 52) - 1) | 1 << 52, b as i32 - 1075),
        };
        let n = u128::from(m) * 5u128.pow(prec as u32);
        let shift = e + prec as i32;
        let q = if shift >= 0 {
            n.checked_shl(shift as u32).filter(|q| q >> shift == n).unwrap_or(u128::MAX)
        } else if shift < -120 {
            0
        } else {
            let (q, rest, half) = (n >> -shift, n & ((1 << -shift) - 1), 1u128 << (-shift - 1));
            q + u128::from(rest > half || (rest == half && q & 1 == 1))
        };
        let unit = 10u128.pow(prec as u32);
        match prec {
            0 => write!(f, "{q}"),
            _ => write!(f, "{}.{:0prec$}", q / unit, q % unit),
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(impl From<$t> for V { fn from(n: $t) -> V { V::Int(n as i64) } })*};
}
from_int!(i32, u32, u8, u64, usize, i64);

/// Writes `s` as a JSON string (quotes and escapes).
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl V {
    /// As JSON.
    fn json(&self, out: &mut String) {
        match self {
            V::Str(s) => json_str(out, s),
            V::Int(n) => {
                let _ = write!(out, "{n}");
            }
            V::Num(n) if n.is_finite() => {
                let _ = write!(out, "{:.3}", Dec(*n));
            }
            V::Num(_) => out.push_str("null"),
            V::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        }
    }
    /// In the text format's braces: bare when it is one plain word, else as a JSON string.
    fn text(&self, out: &mut String) {
        match self {
            V::Str(s)
                if !s.is_empty()
                    && s.bytes().all(|b| b.is_ascii_graphic() && !b"\"{}\\=".contains(&b)) =>
            {
                out.push_str(s)
            }
            v => v.json(out),
        }
    }
}

/// One event: a name from the vocabulary and its fields, in the vocabulary's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: &'static str,
    pub fields: Vec<(&'static str, V)>,
}

/// The log's settings, fixed once by `init`.
struct Settings {
    t0: Instant,
    json: bool,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();
static LOGGER: Logger = Logger;

struct Logger;

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            write_line(r.level(), &r.args().to_string(), None);
        }
    }
    fn flush(&self) {}
}

/// Installs the logger: level, format, and the instant the `+SECONDS` count from.
pub fn init(level: log::LevelFilter, json: bool, t0: Instant) {
    let _ = SETTINGS.set(Settings { t0, json });
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

/// One line of the log, in the chosen format.
pub fn render(t: f64, level: log::Level, msg: &str, event: Option<&Event>, json: bool) -> String {
    let mut out = String::with_capacity(msg.len() + 64);
    if json {
        let _ = write!(out, "{{\"t\":{:.3},\"level\":\"{level}\"", Dec(t));
        if let Some(e) = event {
            out.push_str(",\"event\":");
            json_str(&mut out, e.name);
            for (k, v) in &e.fields {
                let _ = write!(out, ",\"{k}\":");
                v.json(&mut out);
            }
        }
        out.push_str(",\"msg\":");
        json_str(&mut out, msg);
        out.push('}');
    } else {
        // The fields close the message's first line: a multi-line message (a daemon's log
        // tail) keeps its event on the line readers see first, one line a record.
        let (first, more) = match msg.split_once('\n') {
            Some((f, m)) if event.is_some() => (f, Some(m)),
            _ => (msg, None),
        };
        let _ = write!(out, "dind-init: +{:.3}s {:<5} {first}", Dec(t), level.as_str());
        if let Some(e) = event {
            let _ = write!(out, " {{{}", e.name);
            for (k, v) in &e.fields {
                let _ = write!(out, " {k}=");
                v.text(&mut out);
            }
            out.push('}');
        }
        if let Some(m) = more {
            out.push('\n');
            out.push_str(m);
        }
    }
    out.push('\n');
    out
}

fn write_line(level: log::Level, msg: &str, event: Option<&Event>) {
    let (t, json) = match SETTINGS.get() {
        Some(s) => (s.t0.elapsed().as_secs_f64(), s.json),
        None => (0.0, false),
    };
    // One write per line, so lines from the log threads never interleave; a closed stderr
    // is not an error worth anything.
    let _ = std::io::stderr().lock().write_all(render(t, level, msg, event, json).as_bytes());
}

/// Emits an event with its readable message. A debug build checks the fields against the
/// vocabulary, so a test run catches an emit that drifted from `events.vocab`.
pub fn emit(
    level: log::Level,
    name: &'static str,
    fields: Vec<(&'static str, V)>,
    msg: std::fmt::Arguments,
) {
    if cfg!(debug_assertions) {
        let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            fields_of(name).as_deref(),
            Some(&keys[..]),
            "event {name}: fields differ from src/events.vocab"
        );
        for (k, v) in &fields {
            assert_eq!(v.ty(), type_of(k), "event {name}: {k} is not of its type in events.vocab");
        }
    }
    if level <= log::max_level() {
        write_line(level, &msg.to_string(), Some(&Event { name, fields }));
    }
}

/// `event!(Info, "dockerd-ready", { socket = s, secs = t, ... }, "ready: ... {}", x)`: emits
/// an event from the vocabulary with its fields (in the vocabulary's order) and its message.
#[macro_export]
macro_rules! event {
    ($lvl:ident, $name:literal, { $($k:ident = $v:expr),* $(,)? }, $($msg:tt)+) => {
        $crate::events::emit(
            ::log::Level::$lvl,
            $name,
            vec![$((stringify!($k), $crate::events::V::from($v))),*],
            format_args!($($msg)+),
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev() -> Event {
        Event {
            name: "dockerd-ready",
            fields: vec![
                ("socket", V::from("/var/run/docker.sock")),
                ("secs", V::Num(0.5432)),
                ("attempts", V::from(18u32)),
                ("restart", V::from(0u32)),
            ],
        }
    }

    /// `Dec` writes what `f64` writes, for every precision used and then some.
    #[test]
    fn dec_writes_what_f64_writes() {
        let mut xs = vec![0.0, -0.0, 0.5, 1.5, 2.5, 0.25, 0.125, 0.0005, 0.0015, 0.9995, 1e-300];
        xs.extend([5e-324, 0.1, 0.645, 1234.5678, 86400.0 * 365.0, 4503599627370497.5, 1e18]);
        xs.extend([1.8e19, -1.25, -0.0004, f64::NAN, f64::INFINITY, -f64::INFINITY]);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for i in 0..200_000u64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // times in ns made seconds and ms as the log makes them, and any bits below 2^64
            let ns = seed % [1_000, 1_000_000, 1_000_000_000, 100_000_000_000_000][i as usize % 4];
            xs.push(std::time::Duration::from_nanos(ns).as_secs_f64());
            xs.push(std::time::Duration::from_nanos(ns).as_secs_f64() * 1000.0);
            let x = f64::from_bits(seed >> 1);
            if x.abs() < 1.8e19 {
                xs.push(x);
            }
        }
        for x in xs {
            assert_eq!(format!("{:.0}", Dec(x)), format!("{x:.0}"), "{x:e}");
            assert_eq!(format!("{:.1}", Dec(x)), format!("{x:.1}"), "{x:e}");
            assert_eq!(format!("{:.3}", Dec(x)), format!("{x:.3}"), "{x:e}");
            assert_eq!(format!("{:.9}", Dec(x)), format!("{x:.9}"), "{x:e}");
            assert_eq!(format!("{}", Dec(x)), format!("{x:.3}"), "{x:e}");
        }
    }

    #[test]
    fn text_keeps_the_readable_line_and_adds_the_fields() {
        let l = render(0.645, log::Level::Info, "ready: dockerd answered", Some(&ev()), false);
        assert_eq!(
            l,
            "dind-init: +0.645s INFO  ready: dockerd answered {dockerd-ready \
             socket=/var/run/docker.sock secs=0.543 attempts=18 restart=0}\n"
        );
        let plain = render(1.0, log::Level::Warn, "just words", None, false);
        assert_eq!(plain, "dind-init: +1.000s WARN  just words\n");
    }

    #[test]
    fn json_is_one_object_a_line() {
        let l = render(0.645, log::Level::Info, "a \"quoted\"\nmsg", Some(&ev()), true);
        assert_eq!(
            l,
            "{\"t\":0.645,\"level\":\"INFO\",\"event\":\"dockerd-ready\",\"socket\":\
             \"/var/run/docker.sock\",\"secs\":0.543,\"attempts\":18,\"restart\":0,\"msg\":\
             \"a \\\"quoted\\\"\\nmsg\"}\n"
        );
        assert!(!render(0.0, log::Level::Error, "x", None, true).contains("event"));
    }

    #[test]
    fn a_multi_line_message_keeps_its_fields_on_the_first_line() {
        let e = Event { name: "exit", fields: vec![("code", V::from(125u8))] };
        let l = render(
            2.0,
            log::Level::Error,
            "dockerd died. Its last lines:\n  a\n  b",
            Some(&e),
            false,
        );
        assert_eq!(
            l,
            "dind-init: +2.000s ERROR dockerd died. Its last lines: {exit code=125}\n  a\n  b\n"
        );
        let plain = render(2.0, log::Level::Error, "x\ny", None, false);
        assert_eq!(plain, "dind-init: +2.000s ERROR x\ny\n");
    }

    #[test]
    fn values_with_spaces_or_braces_are_quoted_in_text() {
        let e = Event {
            name: "stale",
            fields: vec![("kind", V::from("socket")), ("path", V::from("/a b/{x}"))],
        };
        let l = render(0.0, log::Level::Info, "m", Some(&e), false);
        assert!(l.ends_with("{stale kind=socket path=\"/a b/{x}\"}\n"), "{l}");
    }

    #[test]
    fn the_vocabulary_is_well_formed() {
        let mut names = std::collections::HashSet::new();
        let mut fields = std::collections::HashSet::new();
        for w in events() {
            assert!(names.insert(w[0]), "event {} twice", w[0]);
            assert!(
                w.iter().all(|x| x.bytes().all(|b| b.is_ascii_lowercase()
                    || b == b'-'
                    || b == b'_'
                    || b.is_ascii_digit())),
                "{w:?}"
            );
            fields.extend(w[1..].iter().copied());
        }
        // Each `@TYPE` line a known type, naming fields that events have, each field once.
        let mut typed = std::collections::HashSet::new();
        for l in VOCABULARY.lines().filter_map(|l| l.strip_prefix('@')) {
            let w: Vec<&str> = l.split_whitespace().collect();
            assert!(["num", "int", "bool"].contains(&w[0]), "@{l}");
            for f in &w[1..] {
                assert!(fields.contains(f), "@{l}: no event has {f}");
                assert!(typed.insert(*f), "@{l}: {f} typed twice");
            }
        }
        assert_eq!(
            (type_of("secs"), type_of("pid"), type_of("clean")),
            (Type::Num, Type::Int, Type::Bool)
        );
        assert_eq!(type_of("socket"), Type::Str);
        for must in [
            "start",
            "cgroups",
            "containerd-ready",
            "dockerd-ready",
            "command-start",
            "command-exit",
            "stop-begin",
            "dockerd-exit",
            "exit",
        ] {
            assert!(names.contains(must), "{must} missing");
        }
        assert_eq!(fields_of("exit"), Some(vec!["code"]));
        assert_eq!(fields_of("nope"), None);
    }

    /// docs/ARCHITECTURE.md's table names every event with its fields, in order.
    #[test]
    fn the_architecture_page_documents_the_vocabulary() {
        let doc = include_str!("../docs/ARCHITECTURE.md");
        for w in events() {
            let row = doc
                .lines()
                .find(|r| r.starts_with('|') && r.contains(&format!("`{}`", w[0])))
                .unwrap_or_else(|| panic!("docs/ARCHITECTURE.md has no row for {}", w[0]));
            let mut at = 0;
            for f in &w[1..] {
                let i = row[at..].find(f).unwrap_or_else(|| panic!("{}: {f} not in {row}", w[0]));
                at += i + f.len();
            }
        }
    }
}
