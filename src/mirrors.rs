//! Registry mirrors and the default address pool, the way runners pass them:
//! actions-runner-controller's `DOCKER_REGISTRY_MIRROR` (one URL; here also several, comma
//! separated) and `DOCKER_DEFAULT_ADDRESS_POOL_BASE` / `_SIZE` (its PR #1971). The values are
//! checked here, before anything starts, the way dockerd would check them (a mirror it refuses
//! would stop its start with a less helpful message), and `dockerd::plan` turns them into
//! `--registry-mirror` and `--default-address-pool` unless the user set those already.
//!
//! Once dockerd answers, each mirror's `/v2/` is probed once, in a thread of its own, so the
//! command never waits for it: a dead mirror costs every pull a time-out, and the log
//! (`mirror-probe`) is where people look. http: one `GET /v2/` over TCP; https: a TCP
//! connection only (dind-init has no TLS client: its size). Parsing and the classification of
//! an answer are pure; `probe` is the one effect.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// How long one mirror's probe may take in all (resolution aside).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A mirror's URL, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorUrl {
    pub https: bool,
    /// The host as written, without the brackets of an IPv6 address.
    pub host: String,
    pub port: u16,
    /// The path, `/` when none; `/v2/` is probed below it.
    pub path: String,
}

impl MirrorUrl {
    /// `host:port` as the `Host` header and the log write it.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The path probed: `/v2/` below the mirror's own path.
    pub fn v2_path(&self) -> String {
        format!("{}/v2/", self.path.trim_end_matches('/'))
    }

    /// The probe's request (http mirrors).
    pub fn request(&self) -> String {
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: dind-init\r\nAccept: */*\r\n\
             Connection: close\r\n\r\n",
            self.v2_path(),
            self.authority()
        )
    }
}

/// Parses a mirror URL as dockerd accepts it (moby's `registry.ValidateMirror`): `http` or
/// `https`, a host, an optional port, an optional path; no credentials, query or fragment; no
/// blanks or control characters anywhere. The error says what is wrong.
pub fn parse_url(text: &str) -> Result<MirrorUrl, String> {
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{text:?} contains blanks or control characters"));
    }
    let (scheme, rest) = text
        .split_once("://")
        .ok_or_else(|| format!("'{text}' is not a URL (http://HOST[:PORT] or https://...)"))?;
    let https = match scheme.to_ascii_lowercase().as_str() {
        "http" => false,
        "https" => true,
        _ => return Err(format!("'{text}': the scheme must be http or https, not '{scheme}'")),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if tail.contains(['?', '#']) {
        return Err(format!("'{text}': a mirror URL has no query or fragment"));
    }
    if authority.contains('@') {
        return Err(format!(
            "'{}': dockerd allows no user name or password in a mirror URL (log in to the \
             registry instead)",
            crate::redact::urls(text)
        ));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) =
            v6.split_once(']').ok_or_else(|| format!("'{text}': unclosed '[' in the host"))?;
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("'{text}': '{h}' is not an IPv6 address"));
        }
        match after {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':').ok_or_else(|| format!("'{text}': bad host"))?)),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("'{text}' has no host"));
    }
    if !host.starts_with('[')
        && !authority.starts_with('[')
        && !host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    {
        return Err(format!("'{text}': '{host}' is not a host name or address"));
    }
    let port = match port {
        None => {
            if https {
                443
            } else {
                80
            }
        }
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("'{text}': '{p}' is not a TCP port (1-65535)")),
        },
    };
    let path = if tail.is_empty() { "/".to_string() } else { tail.to_string() };
    Ok(MirrorUrl { https, host: host.to_string(), port, path })
}

/// `DOCKER_REGISTRY_MIRROR`: one URL or several separated by commas (blanks around a comma
/// are allowed); each is checked by `parse_url`. An empty item (`a,,b`, a trailing comma) is an
/// error: a templating slip should not pass silently.
pub fn parse_list(v: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for item in v.trim().split(',').map(str::trim) {
        if item.is_empty() {
            return Err(format!("'{v}': an empty URL in the list (URL[,URL...])"));
        }
        parse_url(item)?;
        if !out.iter().any(|o| o == item) {
            out.push(item.to_string());
        }
    }
    Ok(out)
}

/// `DOCKER_DEFAULT_ADDRESS_POOL_BASE`: a CIDR (`10.10.0.0/16`, `fd00:d::/48`), as written,
/// with its prefix length and the family's number of bits (32 or 128). Host bits may be set
/// (ARC's own example is 172.17.0.0/12): dockerd takes the network.
pub fn parse_cidr(v: &str) -> Result<(String, u8, u8), String> {
    let v = v.trim();
    let (ip, len) = v
        .split_once('/')
        .ok_or_else(|| format!("'{v}' is not a CIDR (an address/prefix length, 10.10.0.0/16)"))?;
    let ip: IpAddr = ip.parse().map_err(|_| format!("'{v}': '{ip}' is not an IP address"))?;
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    match len.parse::<u8>() {
        Ok(n) if n <= bits => Ok((v.to_string(), n, bits)),
        _ => Err(format!("'{v}': '{len}' is not a prefix length (0-{bits})")),
    }
}

/// `DOCKER_DEFAULT_ADDRESS_POOL_SIZE`: the prefix length of each network cut from the base.
pub fn parse_pool_size(v: &str) -> Result<u8, String> {
    match v.trim().parse::<u8>() {
        Ok(n) if n <= 128 => Ok(n),
        _ => Err(format!("'{v}' is not a prefix length (0-32, or 0-128 for IPv6)")),
    }
}

/// The pool dockerd gets: both halves or neither; the size fits the base's family and is no
/// larger a network than the base (its prefix length at least the base's). `None` when neither
/// is set.
pub fn address_pool(
    base: Option<&(String, u8, u8)>,
    size: Option<u8>,
) -> Result<Option<String>, String> {
    match (base, size) {
        (None, None) => Ok(None),
        (Some(_), None) | (None, Some(_)) => Err(
            "DOCKER_DEFAULT_ADDRESS_POOL_BASE and DOCKER_DEFAULT_ADDRESS_POOL_SIZE go together: \
             set both (e.g. 10.10.0.0/16 and 24) or neither"
                .into(),
        ),
        (Some((cidr, prefix, bits)), Some(size)) => {
            if size > *bits {
                return Err(format!(
                    "DOCKER_DEFAULT_ADDRESS_POOL_SIZE={size} is longer than an address of \
                     {cidr} ({bits} bits)"
                ));
            }
            if size < *prefix {
                return Err(format!(
                    "DOCKER_DEFAULT_ADDRESS_POOL_SIZE={size} is a larger network than \
                     DOCKER_DEFAULT_ADDRESS_POOL_BASE={cidr} itself (/{prefix}): the size must \
                     be at least {prefix}"
                ));
            }
            Ok(Some(format!("base={cidr},size={size}")))
        }
    }
}

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP answer to `GET /v2/`: its status (200 or 401 from a registry).
    Http(u16),
    /// https: the TCP connection was accepted (nothing more is checked).
    Connected,
    /// No answer: why.
    Failed(String),
}

impl Outcome {
    pub fn answered(&self) -> bool {
        !matches!(self, Outcome::Failed(_))
    }
}

/// What came back on an http probe's connection (`buf`, read until the status line was there,
/// the connection closed, or the time ran out: `timed_out`).
pub fn classify(buf: &[u8], timed_out: bool) -> Outcome {
    match crate::docker_api::status_code(buf) {
        Some(code) if code >= 100 => Outcome::Http(code),
        Some(_) => Outcome::Failed("the answer is not HTTP".into()),
        None if timed_out => Outcome::Failed("connected, but no answer in time".into()),
        None if buf.is_empty() => Outcome::Failed("closed the connection without an answer".into()),
        None => Outcome::Failed("an incomplete answer".into()),
    }
}

/// Probes one mirror: TCP connect within what is left of `timeout` to any of the host's
/// addresses; for http, `GET /v2/` and its status line.
pub fn probe(url: &MirrorUrl, timeout: Duration) -> Outcome {
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    let addrs: Vec<_> = match (url.host.as_str(), url.port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => return Outcome::Failed(format!("cannot resolve {}: {e}", url.host)),
    };
    let mut last = format!("{} has no address", url.host);
    let mut stream = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, left()) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("connect {a}: {e}"),
        }
    }
    let Some(mut s) = stream else { return Outcome::Failed(last) };
    if url.https {
        return Outcome::Connected;
    }
    if let Err(e) =
        s.set_write_timeout(Some(left())).and_then(|_| s.write_all(url.request().as_bytes()))
    {
        return Outcome::Failed(format!("send: {e}"));
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        if s.set_read_timeout(Some(left())).is_err() {
            break;
        }
        match s.read(&mut chunk) {
            Ok(0) => return classify(&buf, false),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > 4096 || crate::docker_api::status_code(&buf).is_some() {
                    return classify(&buf, false);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) => return Outcome::Failed(format!("read: {e}")),
        }
    }
    classify(&buf, true)
}

/// Probes every mirror once, each in a thread of its own, and logs a `mirror-probe` event per
/// mirror. Returns at once: nothing waits for it.
pub fn probe_in_background(mirrors: &[String]) {
    for mirror in mirrors {
        let m = mirror.clone();
        let spawned = std::thread::Builder::new().name("mirror-probe".into()).spawn(move || {
            let t = Instant::now();
            let (check, outcome) = match parse_url(&m) {
                Ok(u) => (check_of(&u), probe(&u, PROBE_TIMEOUT)),
                Err(e) => ("none", Outcome::Failed(e)),
            };
            log_probe(&m, check, &outcome, t.elapsed());
        });
        if let Err(e) = spawned {
            log::warn!("mirrors: cannot start the probe of {}: {e}", crate::redact::urls(mirror));
        }
    }
}

/// What the probe of a mirror checks.
pub fn check_of(u: &MirrorUrl) -> &'static str {
    if u.https {
        "TCP connect only"
    } else {
        "GET /v2/"
    }
}

fn log_probe(url: &str, check: &str, o: &Outcome, took: Duration) {
    let url = crate::redact::urls(url);
    let ms = took.as_secs_f64() * 1000.0;
    let (status, error) = match o {
        Outcome::Http(c) => (*c as u32, String::new()),
        Outcome::Connected => (0, String::new()),
        Outcome::Failed(e) => (0, e.clone()),
    };
    let answered = o.answered();
    let msg = words(&url, check, o, ms);
    if matches!(o, Outcome::Http(200 | 401) | Outcome::Connected) {
        crate::event!(Info, "mirror-probe", { url = &url, check = check, answered = answered,
            status = status, error = &error, ms = ms }, "{msg}");
    } else {
        crate::event!(Warn, "mirror-probe", { url = &url, check = check, answered = answered,
            status = status, error = &error, ms = ms }, "{msg}");
    }
}

/// The probe's readable line.
pub fn words(url: &str, check: &str, o: &Outcome, ms: f64) -> String {
    let ms = crate::events::Dec(ms);
    match o {
        Outcome::Http(c @ (200 | 401)) => {
            format!("mirror {url}: /v2/ answered HTTP {c} in {ms:.0} ms ({check})")
        }
        Outcome::Http(c) => format!(
            "mirror {url}: /v2/ answered HTTP {c} in {ms:.0} ms: not a registry's answer (200 \
             or 401); pulls through it may fail over to the next mirror or Docker Hub"
        ),
        Outcome::Connected => format!(
            "mirror {url}: accepted a TCP connection in {ms:.0} ms ({check}: dind-init has no \
             TLS client; the registry itself is not checked)"
        ),
        Outcome::Failed(e) => format!(
            "mirror {url} did not answer ({e}, {ms:.0} ms): every pull waits for it to time out \
             before dockerd falls back to Docker Hub"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn url(https: bool, host: &str, port: u16, path: &str) -> MirrorUrl {
        MirrorUrl { https, host: host.into(), port, path: path.into() }
    }

    #[test]
    fn mirror_urls_as_dockerd_takes_them() {
        let ok = [
            ("http://127.0.0.1:5000", url(false, "127.0.0.1", 5000, "/")),
            ("https://mirror.gcr.io", url(true, "mirror.gcr.io", 443, "/")),
            ("http://reg.example/", url(false, "reg.example", 80, "/")),
            ("HTTPS://m.example:8443/dockerhub/", url(true, "m.example", 8443, "/dockerhub/")),
            ("http://[::1]:5000", url(false, "::1", 5000, "/")),
            ("http://[fd00::1]", url(false, "fd00::1", 80, "/")),
            ("http://my_reg-1.local:1", url(false, "my_reg-1.local", 1, "/")),
        ];
        for (text, want) in ok {
            assert_eq!(parse_url(text).as_ref(), Ok(&want), "{text}");
        }
        let bad = [
            ("", "not a URL"),
            ("mirror.example", "not a URL"),
            ("ftp://m.example", "scheme"),
            ("unix:///x.sock", "scheme"),
            ("http://", "no host"),
            ("http:///v2", "no host"),
            ("http://:5000", "no host"),
            ("http://m.example:0", "TCP port"),
            ("http://m.example:99999", "TCP port"),
            ("http://m.example:x", "TCP port"),
            ("http://m.example /", "blanks"),
            (" http://m.example", "blanks"),
            ("http://m.exa\tmple", "blanks"),
            ("http://u:secret@m.example", "user name or password"),
            ("http://m.example/?q=1", "query"),
            ("http://m.example#f", "query"),
            ("http://m,example", "not a host"),
            ("http://[::1", "unclosed"),
            ("http://[nope]:1", "IPv6"),
            ("http://[::1]x", "bad host"),
        ];
        for (text, needle) in bad {
            let e = parse_url(text).expect_err(text);
            assert!(e.contains(needle), "{text}: {e}");
            assert!(!e.contains("secret"), "a password in an error: {e}");
        }
    }

    #[test]
    fn lists_split_on_commas_and_refuse_empty_items() {
        assert_eq!(parse_list("http://a:5000").unwrap(), ["http://a:5000"]);
        assert_eq!(
            parse_list(" http://a:5000 , https://b ,http://a:5000").unwrap(),
            ["http://a:5000", "https://b"]
        );
        for bad in ["", " ", "http://a,", ",http://a", "http://a,,http://b", "http://a,b"] {
            assert!(parse_list(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_probe_asks_v2_below_the_mirrors_path() {
        let u = parse_url("http://m.example:5000/hub/").unwrap();
        assert_eq!(u.v2_path(), "/hub/v2/");
        assert_eq!(
            u.request(),
            "GET /hub/v2/ HTTP/1.1\r\nHost: m.example:5000\r\nUser-Agent: dind-init\r\n\
             Accept: */*\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(parse_url("http://[::1]:5000").unwrap().authority(), "[::1]:5000");
        assert_eq!(parse_url("http://m").unwrap().v2_path(), "/v2/");
        assert_eq!(check_of(&parse_url("https://m").unwrap()), "TCP connect only");
    }

    #[test]
    fn address_pools_both_or_neither_and_the_size_fits() {
        let base = |v: &str| parse_cidr(v);
        assert_eq!(base("10.10.0.0/16").unwrap(), ("10.10.0.0/16".into(), 16, 32));
        assert_eq!(base("172.17.0.0/12").unwrap().1, 12, "ARC's own example, host bits set");
        assert_eq!(base("fd00:d::/48").unwrap(), ("fd00:d::/48".into(), 48, 128));
        for bad in ["10.10.0.0", "10.10.0/16", "10.10.0.0/33", "10.10.0.0/-1", "x/8", "", "/8"] {
            assert!(base(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_pool_size("24"), Ok(24));
        for bad in ["", "-1", "129", "24.5", "/24"] {
            assert!(parse_pool_size(bad).is_err(), "{bad}");
        }
        let b = base("10.10.0.0/16").unwrap();
        assert_eq!(address_pool(None, None), Ok(None));
        assert_eq!(address_pool(Some(&b), Some(24)).unwrap().unwrap(), "base=10.10.0.0/16,size=24");
        assert_eq!(address_pool(Some(&b), Some(16)).unwrap().unwrap(), "base=10.10.0.0/16,size=16");
        assert!(address_pool(Some(&b), Some(32)).is_ok());
        let e = address_pool(Some(&b), Some(8)).unwrap_err();
        assert!(e.contains("at least 16"), "{e}");
        let e = address_pool(Some(&b), Some(33)).unwrap_err();
        assert!(e.contains("32 bits"), "{e}");
        assert!(address_pool(Some(&b), None).unwrap_err().contains("together"));
        assert!(address_pool(None, Some(24)).unwrap_err().contains("together"));
        let v6 = base("fd00:d::/48").unwrap();
        assert!(address_pool(Some(&v6), Some(64)).is_ok());
    }

    #[test]
    fn answers_are_classified() {
        assert_eq!(classify(b"HTTP/1.1 200 OK\r\n", false), Outcome::Http(200));
        assert_eq!(classify(b"HTTP/1.1 401 Unauthorized\r\nx", false), Outcome::Http(401));
        assert_eq!(classify(b"HTTP/1.0 404 Not Found\r\n", false), Outcome::Http(404));
        assert!(
            matches!(classify(b"SSH-2.0-OpenSSH\r\n", false), Outcome::Failed(e) if e.contains("not HTTP"))
        );
        assert!(matches!(classify(b"", false), Outcome::Failed(e) if e.contains("closed")));
        assert!(matches!(classify(b"", true), Outcome::Failed(e) if e.contains("in time")));
        assert!(
            matches!(classify(b"HTTP/1.1 2", false), Outcome::Failed(e) if e.contains("incomplete"))
        );
        assert!(Outcome::Connected.answered() && Outcome::Http(500).answered());
        assert!(!Outcome::Failed(String::new()).answered());
        let w = words("http://m", "GET /v2/", &Outcome::Failed("connect: refused".into()), 3.0);
        assert!(w.contains("did not answer") && w.contains("refused"), "{w}");
    }

    /// A registry-like server on loopback: the probe sends `GET /v2/` and reads 200; a port
    /// nobody listens on, and a listener that never answers, are not answered; https is a
    /// connection only.
    #[test]
    fn probes_against_loopback() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 512];
            let n = s.read(&mut b).unwrap();
            let req = String::from_utf8_lossy(&b[..n]).to_string();
            s.write_all(
                b"HTTP/1.1 200 OK\r\nDocker-Distribution-Api-Version: registry/2.0\r\n\r\n{}",
            )
            .unwrap();
            (req, l)
        });
        let u = parse_url(&format!("http://127.0.0.1:{port}")).unwrap();
        assert_eq!(probe(&u, Duration::from_secs(2)), Outcome::Http(200));
        let (req, l) = server.join().unwrap();
        assert!(req.starts_with("GET /v2/ HTTP/1.1\r\n"), "{req}");
        // Accepts (backlog) but never answers: not answered, within the time-out.
        let t = Instant::now();
        let o = probe(&u, Duration::from_millis(300));
        assert!(matches!(&o, Outcome::Failed(e) if e.contains("in time")), "{o:?}");
        assert!(t.elapsed() < Duration::from_secs(2));
        let https = parse_url(&format!("https://127.0.0.1:{port}")).unwrap();
        assert_eq!(probe(&https, Duration::from_secs(2)), Outcome::Connected);
        drop(l);
        let o = probe(&u, Duration::from_secs(2));
        assert!(matches!(&o, Outcome::Failed(e) if e.contains("connect")), "{o:?}");
    }
}
