//! TLS certificates for `DOCKER_TLS_CERTDIR`, made natively in docker:dind's layout.
//!
//! Why this exists: when `DOCKER_TLS_CERTDIR` is set, docker:dind's entrypoint
//! (`dockerd-entrypoint.sh`) makes a CA, a server and a client certificate with the openssl CLI
//! before it starts dockerd with `--tlsverify`, and CI systems (GitLab's `docker:dind` service,
//! compose files) rely on that. dind-init must be a drop-in for it, in images that have no shell
//! and no openssl, so it does the same here, in Rust, in a few milliseconds: P-256 keys from the
//! kernel's random numbers (`getrandom`), ECDSA-SHA256 signatures from RustCrypto's `p256`, and
//! the handful of fixed X.509 and PKCS#8 structures written out as DER by hand (smaller than any
//! certificate crate, and each structure is checked by openssl and real handshakes in the tests).
//!
//! The contract kept from docker:dind (`ensure`):
//! - Layout: `ca/{cert,key}.pem`, `server/{ca,cert,key}.pem`, `client/{ca,cert,key}.pem`; the
//!   `ca.pem` files are copies of `ca/cert.pem`. Only `client/` is meant to be shared with jobs
//!   (GitLab mounts a volume at `/certs/client` in the service and the job).
//! - Bring your own PKI: if `server/{ca,cert,key}.pem` exist (non-empty) and `ca/key.pem` does
//!   not, they are used as given and nothing is written.
//! - Otherwise the CA is managed here: keys are made only when missing (or empty) and kept across
//!   restarts; all certificates, the CA's included, are issued anew on every start (new serials
//!   and validity; IP addresses may have changed). The CA keeps its key and name, so a client
//!   that kept an older `ca.pem` still verifies the new certificates.
//! - Names: CN `docker:dind CA`, `docker:dind server`, `docker:dind client`; the server has the
//!   `serverAuth` extended key usage and the subject alternative names of `default_sans`, the
//!   client `clientAuth`; the CA is `CA:TRUE` with key usage `digitalSignature, keyCertSign`.
//!   All are valid 825 days (docker:dind's `certValidDays`, after mkcert's issue 174).
//! - Modes: keys 0600, except `client/key.pem` 0644 (docker:dind's `chmod 0644`: job containers
//!   run as any user); certificates 0644, directories 0755.
//!
//! Every file is written to a temporary file in its own directory and renamed over the old one,
//! so a reader polling the shared volume never sees half a file (docker:dind's openssl writes in
//! place). In `client/` the order is `key.pem`, `cert.pem`, then `ca.pem` (docker:dind's order
//! too): once `client/ca.pem` exists, all of `client/` does, and the CA's and the server's files
//! were written before it. New keys are also fsynced (file, then directory) so that they survive
//! a crash of the host; certificates are not, as they are issued anew on every start anyway and
//! nine fsyncs would cost every start tens of milliseconds on a busy disk.
//!
//! Deliberate differences from docker:dind:
//! - Keys are ECDSA P-256 (PKCS#8 PEM, `BEGIN PRIVATE KEY`) instead of RSA 4096: made in
//!   microseconds, not seconds, and read by Go (dockerd, the docker CLI), OpenSSL (Python's SDK)
//!   and Java alike. An existing key that is not P-256 (an RSA key left by docker:dind on a kept
//!   volume) cannot sign here: a CA key is moved aside to `ca/key.pem.bak` and a server or
//!   client key replaced; `TlsFiles::warnings` says so.
//! - The CA has `pathlen:0` (it issues leaf certificates only) and a subject key identifier; the
//!   leaf certificates carry the CA's key identifier. No `csr.pem`, `openssl.cnf` or `cert.srl`
//!   files are left behind.
//! - `ca/cert.pem` without `ca/key.pem` and without the server's files: docker:dind generates
//!   nothing and dockerd then fails on the missing files; `ensure` says so at once.
//! - Given server files are not verified against their CA (docker:dind runs `openssl verify`).
//! - `DOCKER_TLS_SAN` entries may also be written without `DNS:` or `IP:` (docker:dind passes
//!   them to openssl, which refuses that); other openssl types (`email:`, `URI:`, ...) are
//!   refused. `127.0.0.1` and `::1` are always included.
//! - With `TlsRequest::client_owner`, the client files are given to that user and group and
//!   the client key is 0640 instead of world-readable.

use crate::error::{io_err, usage, Error, Result};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::SecretKey;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Validity of every certificate, as docker:dind's `certValidDays`.
pub const VALID_DAYS: u64 = 825;
/// Subject common names, as docker:dind's.
pub const CA_CN: &str = "docker:dind CA";
pub const SERVER_CN: &str = "docker:dind server";
pub const CLIENT_CN: &str = "docker:dind client";

/// Subject alternative names for the server certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sans {
    pub dns: Vec<String>,
    pub ip: Vec<IpAddr>,
}

impl Sans {
    /// Adds a DNS name unless it is already there (names compare case-insensitively).
    pub fn add_dns(&mut self, name: &str) {
        if !self.dns.iter().any(|d| d.eq_ignore_ascii_case(name)) {
            self.dns.push(name.to_string());
        }
    }

    pub fn add_ip(&mut self, ip: IpAddr) {
        if !self.ip.contains(&ip) {
            self.ip.push(ip);
        }
    }

    pub fn extend(&mut self, other: &Sans) {
        other.dns.iter().for_each(|d| self.add_dns(d));
        other.ip.iter().for_each(|i| self.add_ip(*i));
    }
}

/// openssl's notation: `DNS:docker,DNS:localhost,IP:127.0.0.1`.
impl std::fmt::Display for Sans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dns = self.dns.iter().map(|d| format!("DNS:{d}"));
        let all: Vec<String> = dns.chain(self.ip.iter().map(|i| format!("IP:{i}"))).collect();
        f.write_str(&all.join(","))
    }
}

/// What `ensure` needs.
#[derive(Debug, Clone)]
pub struct TlsRequest {
    /// `DOCKER_TLS_CERTDIR`.
    pub certdir: PathBuf,
    /// The server certificate's names, usually `default_sans(DOCKER_TLS_SAN)`.
    pub sans: Sans,
    /// `None`: `client/key.pem` is 0644 as docker:dind has it. `Some((uid, gid))`: the client's
    /// files are owned by uid:gid and its key is 0640.
    pub client_owner: Option<(u32, u32)>,
}

/// What `ensure` found or made: the paths for dockerd and a report for the log.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// `server/ca.pem`: dockerd's `--tlscacert`.
    pub ca: PathBuf,
    /// `server/cert.pem`: dockerd's `--tlscert`.
    pub cert: PathBuf,
    /// `server/key.pem`: dockerd's `--tlskey`.
    pub key: PathBuf,
    /// `client/` when it holds `ca.pem`, `cert.pem` and `key.pem` (a client's
    /// `DOCKER_CERT_PATH`).
    pub client_dir: Option<PathBuf>,
    /// `false` when the server's files were used as given (no CA key): nothing was written.
    pub generated: bool,
    /// The keys made this time; the others were kept.
    pub new_keys: Vec<PathBuf>,
    /// One line for the log: what was done.
    pub summary: String,
    /// What the user should know, for the log at warning level (a replaced key).
    pub warnings: Vec<String>,
}

/// Makes sure `req.certdir` holds what dockerd needs for `--tlsverify`, in docker:dind's layout
/// and with its semantics (see the module's documentation).
pub fn ensure(req: &TlsRequest) -> Result<TlsFiles> {
    let dir = &req.certdir;
    let (ca_dir, server_dir, client_dir) = (dir.join("ca"), dir.join("server"), dir.join("client"));
    let ca_key_path = ca_dir.join("key.pem");
    let mut out = TlsFiles {
        ca: server_dir.join("ca.pem"),
        cert: server_dir.join("cert.pem"),
        key: server_dir.join("key.pem"),
        client_dir: None,
        generated: false,
        new_keys: Vec::new(),
        summary: String::new(),
        warnings: Vec::new(),
    };
    let has_ca_key = nonempty(&ca_key_path)?;
    if !has_ca_key && nonempty(&out.ca)? && nonempty(&out.cert)? && nonempty(&out.key)? {
        out.client_dir = client_complete(&client_dir)?.then(|| client_dir.clone());
        out.summary = format!(
            "TLS: using the certificates in {} as given (there is no {}): nothing generated",
            server_dir.display(),
            ca_key_path.display()
        );
        return Ok(out);
    }
    let ca_cert_path = ca_dir.join("cert.pem");
    if !has_ca_key && nonempty(&ca_cert_path)? {
        return Err(Error::Setup(format!(
            "TLS: {} exists but {} does not, and {} lacks ca.pem, cert.pem or key.pem: put the \
             server's certificates there (your own CA), or remove {} to have a CA made here",
            ca_cert_path.display(),
            ca_key_path.display(),
            server_dir.display(),
            ca_cert_path.display()
        )));
    }
    let now = unix_now();
    const CERT: Durability = Durability::Atomic;

    // The CA: its key is kept, its certificate issued anew.
    mkdir(&ca_dir)?;
    let ca = key_at(&ca_key_path, 0o600, None, true, &mut out)?;
    let ca_pem = pem("CERTIFICATE", &certificate(Role::Ca, &ca, &ca, now)?);
    write_atomic(&ca_cert_path, ca_pem.as_bytes(), 0o644, None, CERT)?;

    // The server's files, for dockerd.
    mkdir(&server_dir)?;
    let server = key_at(&out.key.clone(), 0o600, None, false, &mut out)?;
    let server_pem = pem("CERTIFICATE", &certificate(Role::Server(&req.sans), &server, &ca, now)?);
    write_atomic(&out.cert, server_pem.as_bytes(), 0o644, None, CERT)?;
    write_atomic(&out.ca, ca_pem.as_bytes(), 0o644, None, CERT)?;

    // The client's, last, in the order that makes client/ca.pem mean "all complete".
    mkdir(&client_dir)?;
    let owner = req.client_owner;
    let key_mode = if owner.is_some() { 0o640 } else { 0o644 };
    let client = key_at(&client_dir.join("key.pem"), key_mode, owner, false, &mut out)?;
    let client_pem = pem("CERTIFICATE", &certificate(Role::Client, &client, &ca, now)?);
    write_atomic(&client_dir.join("cert.pem"), client_pem.as_bytes(), 0o644, owner, CERT)?;
    write_atomic(&client_dir.join("ca.pem"), ca_pem.as_bytes(), 0o644, owner, CERT)?;

    let keys = match out.new_keys.len() {
        0 => "kept the CA, server and client keys".to_string(),
        3 => "made new P-256 keys for the CA, the server and the client".to_string(),
        _ => {
            let new: Vec<String> = out.new_keys.iter().map(|p| p.display().to_string()).collect();
            format!("made new P-256 keys {} and kept the others", new.join(", "))
        }
    };
    out.summary = format!(
        "TLS: {keys}; issued the CA, server and client certificates in {} (valid {VALID_DAYS} \
         days); the server's names: {}",
        dir.display(),
        req.sans
    );
    out.generated = true;
    out.client_dir = Some(client_dir);
    Ok(out)
}

/// The server's default names, as docker:dind gathers them: every interface's address, the
/// host name (also as `/etc/hostname`, `hostname -f` and `hostname -s` give it), `docker` and
/// `localhost`, plus `127.0.0.1` and `::1`, then the entries of `docker_tls_san`
/// (`DOCKER_TLS_SAN`, see `parse_tls_san`).
pub fn default_sans(docker_tls_san: Option<&str>) -> Result<Sans> {
    let mut sans = Sans::default();
    for ip in interface_addresses()? {
        sans.add_ip(ip);
    }
    sans.add_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    sans.add_ip(IpAddr::V6(Ipv6Addr::LOCALHOST));
    let hostname = nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok());
    let etc_hostname = fs::read_to_string("/etc/hostname").ok();
    let hosts = fs::read_to_string("/etc/hosts").unwrap_or_default();
    for name in host_names(hostname.as_deref(), etc_hostname.as_deref(), &hosts) {
        sans.add_dns(&name);
    }
    sans.add_dns("docker");
    sans.add_dns("localhost");
    if let Some(v) = docker_tls_san {
        sans.extend(&parse_tls_san(v)?);
    }
    Ok(sans)
}

/// Parses `DOCKER_TLS_SAN`: entries separated by commas or blanks, each `DNS:name` or
/// `IP:address` as openssl writes them (docker:dind appends the variable to openssl's
/// `subjectAltName` list), or a bare address or name.
pub fn parse_tls_san(value: &str) -> Result<Sans> {
    let mut sans = Sans::default();
    let bad = |entry: &str, why: &str| {
        usage(format!(
            "DOCKER_TLS_SAN: {entry:?} {why} (expected DNS:name or IP:address entries separated by \
             commas)"
        ))
    };
    for entry in value.split(|c: char| c == ',' || c.is_whitespace()).filter(|e| !e.is_empty()) {
        if let Ok(ip) = entry.parse::<IpAddr>() {
            sans.add_ip(ip);
        } else if let Some(v) = strip_prefix_ci(entry, "IP:") {
            sans.add_ip(v.parse().map_err(|_| bad(entry, "is not an IP address"))?);
        } else if let Some(v) = strip_prefix_ci(entry, "DNS:") {
            if !valid_dns(v) {
                return Err(bad(entry, "is not a DNS name"));
            }
            sans.add_dns(v);
        } else if entry.contains(':') {
            return Err(bad(entry, "is not supported: only DNS: and IP: names are"));
        } else if valid_dns(entry) {
            sans.add_dns(entry);
        } else {
            return Err(bad(entry, "is not a DNS name"));
        }
    }
    Ok(sans)
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// What a dNSName (an IA5String) can hold: printable ASCII without blanks; `*` for wildcards.
fn valid_dns(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

/// The addresses of every interface, up or down, as `ip -oneline address` lists them.
fn interface_addresses() -> Result<Vec<IpAddr>> {
    let addrs = nix::ifaddrs::getifaddrs().map_err(|e| {
        Error::Setup(format!(
            "TLS: cannot list the interfaces' addresses (getifaddrs): {}",
            e.desc()
        ))
    })?;
    Ok(addrs
        .filter_map(|a| {
            let addr = a.address?;
            if let Some(v4) = addr.as_sockaddr_in() {
                Some(IpAddr::V4(v4.ip()))
            } else {
                addr.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
            }
        })
        .collect())
}

/// The host's names as docker:dind takes them: `cat /etc/hostname`, `hostname -f` (the
/// canonical name `/etc/hosts` gives the host name) and `hostname -s` (up to the first dot).
fn host_names(hostname: Option<&str>, etc_hostname: Option<&str>, hosts: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut add = |n: &str| {
        if valid_dns(n) && !names.iter().any(|m| m.eq_ignore_ascii_case(n)) {
            names.push(n.to_string());
        }
    };
    for name in [hostname, etc_hostname].into_iter().flatten().map(str::trim) {
        add(name);
        if let Some(fqdn) = canonical_name(hosts, name) {
            add(&fqdn);
        }
        if let Some((short, _)) = name.split_once('.') {
            add(short);
        }
    }
    names
}

/// The first name of the first `/etc/hosts` line that lists `name`.
fn canonical_name(hosts: &str, name: &str) -> Option<String> {
    hosts.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let names: Vec<&str> = line.split_whitespace().skip(1).collect();
        names.iter().any(|n| n.eq_ignore_ascii_case(name)).then(|| names[0].to_string())
    })
}

// ---- keys ------------------------------------------------------------------------------------

/// A P-256 key with what the certificates need of it.
struct Key {
    signing: SigningKey,
    /// The uncompressed public point (65 bytes).
    public: Vec<u8>,
    /// Key identifier: the leftmost 160 bits of the public key's SHA-256 (RFC 7093, method 1).
    id: Vec<u8>,
}

impl Key {
    fn new(secret: &SecretKey) -> Key {
        let public = secret.public_key().to_encoded_point(false).as_bytes().to_vec();
        let id = Sha256::digest(&public)[..20].to_vec();
        Key { signing: SigningKey::from(secret), public, id }
    }
}

/// The key at `path`, kept if it is a usable P-256 key (its mode and owner set), else made and
/// written. An unusable CA key is moved aside (`backup`): it may be someone's only copy.
fn key_at(
    path: &Path,
    mode: u32,
    owner: Option<(u32, u32)>,
    backup: bool,
    out: &mut TlsFiles,
) -> Result<Key> {
    if nonempty(path)? {
        let text = fs::read(path).map_err(|e| io_err("cannot read", path, e))?;
        match parse_key_pem(&String::from_utf8_lossy(&text)) {
            Ok(secret) => {
                set_mode_owner(path, mode, owner)?;
                return Ok(Key::new(&secret));
            }
            Err(what) if backup => {
                let bak = path.with_extension("pem.bak");
                fs::rename(path, &bak).map_err(|e| io_err("cannot rename", path, e))?;
                out.warnings.push(format!(
                    "TLS: {} is {what}, which dind-init cannot sign with (it makes P-256 keys): \
                     moved it to {} and made a new CA key; clients must take the new ca.pem",
                    path.display(),
                    bak.display()
                ));
            }
            Err(what) => out.warnings.push(format!(
                "TLS: {} is {what}, which dind-init does not use (it makes P-256 keys): replaced \
                 it with a new key",
                path.display()
            )),
        }
    }
    let secret = generate_key()?;
    write_atomic(path, pkcs8_pem(&secret).as_bytes(), mode, owner, Durability::Synced)?;
    out.new_keys.push(path.to_path_buf());
    Ok(Key::new(&secret))
}

/// A fresh P-256 key from the kernel's random numbers.
fn generate_key() -> Result<SecretKey> {
    let mut bytes = [0u8; 32];
    // A random 256-bit string is a valid scalar unless it is 0 or >= the group order: a chance
    // of about 2^-32 per try.
    for _ in 0..16 {
        random_bytes(&mut bytes)?;
        if let Ok(k) = SecretKey::from_bytes(&bytes.into()) {
            bytes.fill(0);
            return Ok(k);
        }
    }
    Err(Error::Setup("TLS: the kernel's random numbers never made a valid P-256 key".into()))
}

/// Fills `buf` from getrandom(2), or /dev/urandom where a kernel or seccomp profile lacks it.
fn random_bytes(buf: &mut [u8]) -> Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: getrandom(2) writes at most `rest.len()` bytes into `rest`, which we borrow
        // mutably for the call.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n >= 0 {
            filled += n as usize;
            continue;
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ENOSYS | libc::EPERM) => {
                let path = Path::new("/dev/urandom");
                let mut f = fs::File::open(path).map_err(|e| io_err("cannot open", path, e))?;
                return f.read_exact(rest).map_err(|e| io_err("cannot read", path, e));
            }
            _ => {
                return Err(Error::Setup(format!("TLS: cannot get random bytes (getrandom): {e}")))
            }
        }
    }
    Ok(())
}

/// PKCS#8 `PrivateKeyInfo` holding a SEC1 `ECPrivateKey` with its public key, as
/// `openssl genpkey -algorithm EC` writes it.
fn pkcs8_pem(secret: &SecretKey) -> String {
    let public = secret.public_key().to_encoded_point(false);
    let sec1 = seq(&[
        &[0x02, 0x01, 0x01],
        &tlv(0x04, &secret.to_bytes()),
        &tlv(0xa1, &bit_string(public.as_bytes())),
    ]);
    let der = seq(&[&[0x02, 0x01, 0x00], &seq(&[OID_EC_PUBLIC_KEY, OID_P256]), &tlv(0x04, &sec1)]);
    pem("PRIVATE KEY", &der)
}

/// The P-256 key in a PEM file (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`); otherwise what
/// the file holds instead, for the message.
fn parse_key_pem(text: &str) -> std::result::Result<SecretKey, String> {
    for (label, body) in pem_blocks(text) {
        if body.contains("Proc-Type:") || label == "ENCRYPTED PRIVATE KEY" {
            return Err("an encrypted key".into());
        }
        let der = match label.as_str() {
            "PRIVATE KEY" | "EC PRIVATE KEY" | "RSA PRIVATE KEY" => base64_decode(&body),
            _ => continue,
        };
        let der = der.ok_or_else(|| format!("a {label} that is not valid base64"))?;
        return match label.as_str() {
            "PRIVATE KEY" => parse_pkcs8(&der),
            "EC PRIVATE KEY" => parse_sec1(&der),
            _ => Err("an RSA key".into()),
        };
    }
    Err("not a PEM private key".into())
}

fn parse_pkcs8(der: &[u8]) -> std::result::Result<SecretKey, String> {
    let bad = || "a PKCS#8 key that cannot be parsed".to_string();
    let mut outer = Der(Der(der).expect(0x30).ok_or_else(bad)?);
    outer.expect(0x02).ok_or_else(bad)?;
    let mut alg = Der(outer.expect(0x30).ok_or_else(bad)?);
    let oid = alg.expect(0x06).ok_or_else(bad)?;
    if oid == &OID_RSA[2..] {
        return Err("an RSA key".into());
    }
    if oid != &OID_EC_PUBLIC_KEY[2..] {
        return Err("not an elliptic-curve key".into());
    }
    if alg.expect(0x06) != Some(&OID_P256[2..]) {
        return Err("an elliptic-curve key on another curve than P-256".into());
    }
    parse_sec1(outer.expect(0x04).ok_or_else(bad)?)
}

fn parse_sec1(der: &[u8]) -> std::result::Result<SecretKey, String> {
    let bad = || "an EC key that cannot be parsed".to_string();
    let mut key = Der(Der(der).expect(0x30).ok_or_else(bad)?);
    key.expect(0x02).ok_or_else(bad)?;
    let scalar = key.expect(0x04).filter(|s| s.len() <= 32).ok_or_else(bad)?;
    if let Some(params) = key.expect(0xa0) {
        if Der(params).expect(0x06) != Some(&OID_P256[2..]) {
            return Err("an elliptic-curve key on another curve than P-256".into());
        }
    }
    let mut bytes = [0u8; 32];
    bytes[32 - scalar.len()..].copy_from_slice(scalar);
    let secret = SecretKey::from_bytes(&bytes.into()).map_err(|_| bad());
    bytes.fill(0);
    secret
}

// ---- certificates ----------------------------------------------------------------------------

enum Role<'a> {
    Ca,
    Server(&'a Sans),
    Client,
}

/// An X.509 v3 certificate for `subject`'s key, signed by `issuer` (the CA), as DER.
fn certificate(role: Role, subject: &Key, issuer: &Key, now: u64) -> Result<Vec<u8>> {
    let mut serial = [0u8; 16];
    random_bytes(&mut serial)?;
    serial[0] = (serial[0] & 0x3f) | 0x40; // positive, no leading zero octet: 126 random bits
    let akid = ext(OID_AKID, false, &seq(&[&tlv(0x80, &issuer.id)]));
    let (cn, exts) = match role {
        Role::Ca => (
            CA_CN,
            vec![
                // CA:TRUE, pathlen:0
                ext(OID_BASIC_CONSTRAINTS, true, &[0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x00]),
                // digitalSignature, keyCertSign
                ext(OID_KEY_USAGE, true, &[0x03, 0x02, 0x02, 0x84]),
                ext(OID_SKID, false, &tlv(0x04, &subject.id)),
            ],
        ),
        Role::Server(sans) => {
            let mut exts = vec![ext(OID_EXT_KEY_USAGE, false, &seq(&[OID_SERVER_AUTH]))];
            let dns = sans.dns.iter().map(|d| tlv(0x82, d.as_bytes()));
            let ips = sans.ip.iter().map(|ip| match ip {
                IpAddr::V4(v4) => tlv(0x87, &v4.octets()),
                IpAddr::V6(v6) => tlv(0x87, &v6.octets()),
            });
            let names: Vec<u8> = dns.chain(ips).flatten().collect();
            if !names.is_empty() {
                exts.push(ext(OID_SAN, false, &tlv(0x30, &names)));
            }
            exts.push(akid);
            (SERVER_CN, exts)
        }
        Role::Client => {
            (CLIENT_CN, vec![ext(OID_EXT_KEY_USAGE, false, &seq(&[OID_CLIENT_AUTH])), akid])
        }
    };
    let tbs = seq(&[
        &[0xa0, 0x03, 0x02, 0x01, 0x02], // version: v3
        &uint(&serial),
        ALG_ECDSA_SHA256,
        &name(CA_CN),
        &seq(&[&time(now), &time(now + VALID_DAYS * 86_400)]),
        &name(cn),
        &seq(&[&seq(&[OID_EC_PUBLIC_KEY, OID_P256]), &bit_string(&subject.public)]),
        &tlv(0xa3, &tlv(0x30, &exts.concat())),
    ]);
    let sig: Signature = issuer.signing.sign(&tbs);
    let (r, s) = sig.split_bytes();
    let sig_der = seq(&[&uint(&r), &uint(&s)]);
    Ok(seq(&[&tbs, ALG_ECDSA_SHA256, &bit_string(&sig_der)]))
}

/// A Name with one common name, as `openssl req -subj '/CN=...'` encodes it (UTF8String).
fn name(cn: &str) -> Vec<u8> {
    seq(&[&tlv(0x31, &seq(&[OID_CN, &tlv(0x0c, cn.as_bytes())]))])
}

fn ext(oid: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    let crit: &[u8] = if critical { &[0x01, 0x01, 0xff] } else { &[] };
    seq(&[oid, crit, &tlv(0x04, value)])
}

/// UTCTime up to 2049, GeneralizedTime from 2050 (RFC 5280, 4.1.2.5).
fn time(unix: u64) -> Vec<u8> {
    let (y, mo, d) = civil_from_days((unix / 86_400) as i64);
    let s = unix % 86_400;
    let hms = format!("{:02}{:02}{:02}{:02}{:02}Z", mo, d, s / 3600, s / 60 % 60, s % 60);
    if (1950..2050).contains(&y) {
        tlv(0x17, format!("{:02}{hms}", y % 100).as_bytes())
    } else {
        tlv(0x18, format!("{y:04}{hms}").as_bytes())
    }
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn unix_now() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map(|d| d.as_secs()).unwrap_or(0)
}

// ---- DER and PEM -----------------------------------------------------------------------------

const ALG_ECDSA_SHA256: &[u8] =
    &[0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_RSA: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_CN: &[u8] = &[0x06, 0x03, 0x55, 0x04, 0x03];
const OID_SKID: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x0e];
const OID_KEY_USAGE: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x0f];
const OID_SAN: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x11];
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x13];
const OID_AKID: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x23];
const OID_EXT_KEY_USAGE: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x25];
const OID_SERVER_AUTH: &[u8] = &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
const OID_CLIENT_AUTH: &[u8] = &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];

/// One DER tag-length-value.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// A non-negative INTEGER from big-endian bytes.
fn uint(bytes: &[u8]) -> Vec<u8> {
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(bytes.len().saturating_sub(1));
    let b = &bytes[skip..];
    let pad: &[u8] = if b.first().is_some_and(|&x| x & 0x80 != 0) { &[0] } else { &[] };
    tlv(0x02, &[pad, b].concat())
}

fn bit_string(bytes: &[u8]) -> Vec<u8> {
    tlv(0x03, &[&[0u8][..], bytes].concat())
}

/// A DER reader: enough to walk a key file (and, in the tests, a certificate).
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    /// The next element's tag and content.
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (first as usize, rest)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            (rest[..n].iter().fold(0usize, |acc, &b| acc << 8 | b as usize), &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        self.0 = &rest[len..];
        Some((tag, &rest[..len]))
    }

    /// The next element's content if it has `tag`; otherwise nothing is consumed.
    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        let saved = self.0;
        match self.next() {
            Some((t, content)) if t == tag => Some(content),
            _ => {
                self.0 = saved;
                None
            }
        }
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64_encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The PEM blocks of a file: label and body (base64, perhaps with RFC 1421 headers).
fn pem_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines().map(str::trim) {
        if let Some(label) = line.strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----"))
        {
            current = Some((label.to_string(), String::new()));
        } else if line.starts_with("-----END ") {
            blocks.extend(current.take());
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    blocks
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 with padding; blanks and line breaks are skipped.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits, mut pad) = (0u32, 0u32, 0usize);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        if c == b'=' {
            pad += 1;
            continue;
        }
        if pad > 0 {
            return None; // data after padding
        }
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (pad <= 2).then_some(out)
}

// ---- files -----------------------------------------------------------------------------------

/// `[ -s path ]`: the file exists and is not empty. A missing file or directory is `false`;
/// any other error (permission) is reported.
fn nonempty(path: &Path) -> Result<bool> {
    match fs::metadata(path) {
        Ok(m) => Ok(m.len() > 0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => Ok(false),
        Err(e) => Err(io_err("cannot look at", path, e)),
    }
}

fn client_complete(dir: &Path) -> Result<bool> {
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        if !nonempty(&dir.join(f))? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn mkdir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(|e| io_err("cannot create directory", dir, e))
}

/// Writes `data` to `path` so that a reader sees the old file or the new one, never a part: a
/// temporary file in the same directory, created with `mode` (never wider), owned by `owner`,
/// renamed over `path`. `Durability::Synced` also fsyncs the file before the rename and the
/// directory after it, so that the file survives a crash of the host.
fn write_atomic(
    path: &Path,
    data: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
    durability: Durability,
) -> Result<()> {
    let file_name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.dind-init-tmp"));
    let _ = fs::remove_file(&tmp); // left by a crash
    let written = (|| {
        let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?; // exact, whatever the umask
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
        }
        f.write_all(data)?;
        if durability == Durability::Synced {
            f.sync_all()?;
        }
        Ok::<(), std::io::Error>(())
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("cannot write", &tmp, e));
    }
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err(&format!("cannot rename {} to", tmp.display()), path, e)
    })?;
    match (durability, path.parent()) {
        (Durability::Synced, Some(dir)) => {
            let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
            fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_err("cannot sync directory", dir, e))
        }
        _ => Ok(()),
    }
}

/// Whether a file must survive a crash of the host. Keys must: a lost CA key means a new CA that
/// clients holding the old `ca.pem` reject. Certificates need not: they are issued anew on every
/// start, so fsyncing them (9 fsyncs, 10-30 ms on a busy disk, unbounded under I/O load) would
/// only slow every start down; the rename alone keeps readers from seeing half a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    Synced,
    Atomic,
}

/// Gives a kept file the mode and owner it would have been written with.
fn set_mode_owner(path: &Path, mode: u32, owner: Option<(u32, u32)>) -> Result<()> {
    let m = fs::metadata(path).map_err(|e| io_err("cannot look at", path, e))?;
    if m.mode() & 0o7777 != mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| io_err("cannot chmod", path, e))?;
    }
    if let Some((uid, gid)) = owner {
        if (m.uid(), m.gid()) != (uid, gid) {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(|e| io_err("cannot chown", path, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::VerifyingKey;
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    /// A scratch certificate directory, removed when the guard drops.
    fn tmp(name: &str) -> crate::sys::TempDir {
        crate::sys::TempDir::new(&format!("tls-{name}"))
    }

    fn test_sans() -> Sans {
        let mut s = parse_tls_san("DNS:docker,DNS:localhost,DNS:dind.example").unwrap();
        s.add_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        s.add_ip(IpAddr::V6(Ipv6Addr::LOCALHOST));
        s
    }

    fn request(dir: &Path) -> TlsRequest {
        TlsRequest { certdir: dir.to_path_buf(), sans: test_sans(), client_owner: None }
    }

    fn read(p: &Path) -> String {
        fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().mode() & 0o7777
    }

    /// Under CI=true a missing tool fails the test (CI must run it); elsewhere it is skipped.
    fn have(tool: &str, version_arg: &str) -> bool {
        let ok = Command::new(tool).arg(version_arg).output().is_ok_and(|o| o.status.success());
        if !ok {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(!ci, "{tool} is missing: CI=true requires it for this test, install it");
            eprintln!("SKIPPED: {tool} is not installed");
        }
        ok
    }

    fn run(cmd: &mut Command) -> (bool, String) {
        let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        let text =
            format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        (o.status.success(), text)
    }

    fn openssl(args: &[&str]) -> String {
        let (ok, out) = run(Command::new("openssl").args(args));
        assert!(ok, "openssl {args:?} failed: {out}");
        out
    }

    /// The next element whole (tag, length and content).
    fn raw<'a>(d: &mut Der<'a>) -> &'a [u8] {
        let before = d.0;
        d.next().expect("DER element");
        &before[..before.len() - d.0.len()]
    }

    /// A certificate's parts, walked with the module's own DER reader.
    struct Cert {
        tbs: Vec<u8>,
        issuer: Vec<u8>,
        subject: Vec<u8>,
        validity: (Vec<u8>, Vec<u8>),
        point: Vec<u8>,
        /// (OID content, critical, value)
        exts: Vec<(Vec<u8>, bool, Vec<u8>)>,
        sig: Signature,
    }

    impl Cert {
        fn ext(&self, oid: &[u8]) -> Option<(bool, Vec<u8>)> {
            self.exts.iter().find(|e| e.0 == oid[2..]).map(|e| (e.1, e.2.clone()))
        }

        fn signed_by(&self, public: &[u8]) -> bool {
            VerifyingKey::from_sec1_bytes(public).unwrap().verify(&self.tbs, &self.sig).is_ok()
        }
    }

    fn parse_cert(text: &str) -> Cert {
        let blocks = pem_blocks(text);
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].0, "CERTIFICATE");
        let der = base64_decode(&blocks[0].1).unwrap();
        let mut top = Der(&der);
        let mut cert = Der(top.expect(0x30).unwrap());
        assert!(top.0.is_empty(), "trailing bytes after the certificate");
        let tbs = raw(&mut cert).to_vec();
        assert_eq!(raw(&mut cert), ALG_ECDSA_SHA256);
        let sig_bits = cert.expect(0x03).unwrap();
        assert!(cert.0.is_empty());
        let mut sig = Der(Der(&sig_bits[1..]).expect(0x30).unwrap());
        let (r, s) = (sig.expect(0x02).unwrap(), sig.expect(0x02).unwrap());
        let fixed = |x: &[u8]| {
            let x = if x.len() == 33 { &x[1..] } else { x };
            let mut b = [0u8; 32];
            b[32 - x.len()..].copy_from_slice(x);
            b
        };
        let sig = Signature::from_scalars(fixed(r), fixed(s)).unwrap();

        let mut t = Der(Der(&tbs).expect(0x30).unwrap());
        assert_eq!(raw(&mut t), [0xa0, 0x03, 0x02, 0x01, 0x02]);
        let serial = t.expect(0x02).unwrap();
        assert!(serial.len() == 16 && serial[0] & 0x80 == 0 && serial[0] != 0);
        assert_eq!(raw(&mut t), ALG_ECDSA_SHA256);
        let issuer = raw(&mut t).to_vec();
        let mut validity = Der(t.expect(0x30).unwrap());
        let validity = (raw(&mut validity).to_vec(), raw(&mut validity).to_vec());
        let subject = raw(&mut t).to_vec();
        let mut spki = Der(t.expect(0x30).unwrap());
        assert_eq!(spki.expect(0x30).unwrap(), [OID_EC_PUBLIC_KEY, OID_P256].concat());
        let point = spki.expect(0x03).unwrap()[1..].to_vec();
        let mut list = Der(Der(t.expect(0xa3).unwrap()).expect(0x30).unwrap());
        assert!(t.0.is_empty());
        let mut exts = Vec::new();
        while let Some(e) = list.expect(0x30) {
            let mut e = Der(e);
            let oid = e.expect(0x06).unwrap().to_vec();
            let critical = e.expect(0x01).is_some_and(|b| b == [0xff]);
            exts.push((oid, critical, e.expect(0x04).unwrap().to_vec()));
        }
        Cert { tbs, issuer, subject, validity, point, exts, sig }
    }

    fn key_point(path: &Path) -> Vec<u8> {
        let secret = parse_key_pem(&read(path)).unwrap();
        secret.public_key().to_encoded_point(false).as_bytes().to_vec()
    }

    /// The GeneralNames of a subjectAltName value.
    fn san_names(value: &[u8]) -> (Vec<String>, Vec<IpAddr>) {
        let mut names = Der(Der(value).expect(0x30).unwrap());
        let (mut dns, mut ips) = (Vec::new(), Vec::new());
        while let Some((tag, v)) = names.next() {
            match (tag, v.len()) {
                (0x82, _) => dns.push(String::from_utf8(v.to_vec()).unwrap()),
                (0x87, 4) => ips.push(IpAddr::from(<[u8; 4]>::try_from(v).unwrap())),
                (0x87, 16) => ips.push(IpAddr::from(<[u8; 16]>::try_from(v).unwrap())),
                _ => panic!("unexpected GeneralName {tag:#x}"),
            }
        }
        (dns, ips)
    }

    #[test]
    fn base64_matches_rfc4648_vectors_and_round_trips() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, enc) in vectors {
            assert_eq!(base64_encode(plain.as_bytes()), enc);
            assert_eq!(base64_decode(enc).unwrap(), plain.as_bytes());
        }
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let text = pem("X", &data);
        assert!(text.lines().all(|l| l.len() <= 64));
        assert_eq!(base64_decode(&pem_blocks(&text)[0].1).unwrap(), data);
        assert_eq!(base64_decode("Zm9v\r\n Ym Fy\n").unwrap(), b"foobar");
        assert!(base64_decode("Zm9v*").is_none());
        assert!(base64_decode("Zg==Zg").is_none());
    }

    #[test]
    fn der_lengths_integers_and_reader() {
        assert_eq!(tlv(0x04, &[7; 0x7f])[..2], [0x04, 0x7f]);
        assert_eq!(tlv(0x04, &[7; 0x80])[..3], [0x04, 0x81, 0x80]);
        assert_eq!(tlv(0x04, &[7; 0x100])[..4], [0x04, 0x82, 0x01, 0x00]);
        assert_eq!(uint(&[0x00, 0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(uint(&[0x00, 0x00, 0x01]), [0x02, 0x01, 0x01]);
        assert_eq!(uint(&[0x00, 0x00]), [0x02, 0x01, 0x00]);
        assert_eq!(uint(&[0xff; 2]), [0x02, 0x03, 0x00, 0xff, 0xff]);
        let long = vec![9u8; 300];
        let both = [tlv(0x04, &long), tlv(0x05, &[])].concat();
        let mut d = Der(&both);
        assert_eq!(d.expect(0x05), None, "a wrong tag consumes nothing");
        assert_eq!(d.expect(0x04), Some(&long[..]));
        assert_eq!(d.next(), Some((0x05, &[][..])));
        assert_eq!(d.next(), None);
        assert_eq!(Der(&[0x04, 0x05, 1, 2]).next(), None, "a length past the end");
        assert_eq!(Der(&[0x04, 0x80]).next(), None, "indefinite length");
    }

    #[test]
    fn times_are_utc_time_until_2049_then_generalized() {
        assert_eq!(time(0), tlv(0x17, b"700101000000Z"));
        assert_eq!(time(1_709_210_096), tlv(0x17, b"240229123456Z"));
        assert_eq!(time(951_868_800), tlv(0x17, b"000301000000Z"));
        assert_eq!(time(2_524_607_999), tlv(0x17, b"491231235959Z"));
        assert_eq!(time(2_524_608_000), tlv(0x18, b"20500101000000Z"));
    }

    #[test]
    fn docker_tls_san_is_read_as_docker_dind_passes_it_to_openssl() {
        let s =
            parse_tls_san("DNS:a.example,IP:10.0.0.1, IP:::1 dns:B.example,,ip:10.0.0.1").unwrap();
        assert_eq!(s.dns, ["a.example", "B.example"]);
        assert_eq!(s.ip, ["10.0.0.1".parse::<IpAddr>().unwrap(), "::1".parse().unwrap()]);
        // Without a type: an address or a name.
        let s = parse_tls_san("10.1.2.3,fe80::1 host.example *.wild.example").unwrap();
        assert_eq!(s.dns, ["host.example", "*.wild.example"]);
        assert_eq!(s.ip.len(), 2);
        assert_eq!(s.to_string(), "DNS:host.example,DNS:*.wild.example,IP:10.1.2.3,IP:fe80::1");
        assert_eq!(parse_tls_san(" , ").unwrap(), Sans::default());
        for bad in [
            "IP:999.1.1.1",
            "IP:host.example",
            "email:a@b.example",
            "URI:https://x",
            "DNS:",
            "DNS:a\u{e9}",
        ] {
            let e = parse_tls_san(bad).unwrap_err();
            assert_eq!(e.exit_code(), crate::error::EXIT_USAGE, "{bad}");
            assert!(e.to_string().starts_with("DOCKER_TLS_SAN: "), "{e}");
        }
    }

    #[test]
    fn host_names_include_hostname_f_and_s() {
        let hosts =
            "127.0.0.1\tlocalhost\n# 10.0.0.9 ci\n10.0.0.5 ci.corp.example ci # me\n10.0.0.6 ci\n";
        assert_eq!(host_names(Some("ci"), Some("ci\n"), hosts), ["ci", "ci.corp.example"]);
        assert_eq!(host_names(Some("web.example.org"), None, ""), ["web.example.org", "web"]);
        assert_eq!(host_names(Some("bad name"), Some(""), hosts), Vec::<String>::new());
        assert_eq!(canonical_name(hosts, "CI").as_deref(), Some("ci.corp.example"));
        assert_eq!(canonical_name(hosts, "other"), None);
    }

    #[test]
    fn default_sans_have_the_fixed_names_the_host_and_docker_tls_san() {
        let s = default_sans(Some("DNS:extra.example,IP:203.0.113.7")).unwrap();
        for name in ["docker", "localhost", "extra.example"] {
            assert!(s.dns.iter().any(|d| d == name), "{name} in {s}");
        }
        for ip in ["127.0.0.1", "::1", "203.0.113.7"] {
            assert!(s.ip.contains(&ip.parse().unwrap()), "{ip} in {s}");
        }
        let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
        assert!(s.dns.contains(&host), "{host} in {s}");
        let mut dedup = s.ip.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), s.ip.len());
        assert!(default_sans(Some("IP:nope")).is_err());
    }

    #[test]
    fn random_bytes_come_from_the_kernel() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        random_bytes(&mut a).unwrap();
        random_bytes(&mut b).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
    }

    #[test]
    fn keys_round_trip_and_foreign_keys_are_named() {
        let secret = generate_key().unwrap();
        let text = pkcs8_pem(&secret);
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(parse_key_pem(&text).unwrap().to_bytes(), secret.to_bytes());
        // SEC1, as `openssl ecparam -genkey` writes it (after an EC PARAMETERS block).
        let public = secret.public_key().to_encoded_point(false);
        let sec1 = |curve: &[u8]| {
            let params = tlv(0xa0, curve);
            let pubkey = tlv(0xa1, &bit_string(public.as_bytes()));
            seq(&[&[0x02, 0x01, 0x01], &tlv(0x04, &secret.to_bytes()), &params, &pubkey])
        };
        let both =
            format!("{}{}", pem("EC PARAMETERS", OID_P256), pem("EC PRIVATE KEY", &sec1(OID_P256)));
        assert_eq!(parse_key_pem(&both).unwrap().to_bytes(), secret.to_bytes());
        let p384 = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
        let other_curve = pem("EC PRIVATE KEY", &sec1(&p384));
        assert!(parse_key_pem(&other_curve).unwrap_err().contains("another curve"));
        let rsa_pkcs8 =
            seq(&[&[0x02, 0x01, 0x00], &seq(&[OID_RSA, &[0x05, 0x00]]), &tlv(0x04, &[0x30, 0x00])]);
        assert_eq!(parse_key_pem(&pem("PRIVATE KEY", &rsa_pkcs8)).unwrap_err(), "an RSA key");
        assert_eq!(
            parse_key_pem(&pem("RSA PRIVATE KEY", &[0x30, 0x00])).unwrap_err(),
            "an RSA key"
        );
        let encrypted = "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n\
                         -----END EC PRIVATE KEY-----\n";
        assert_eq!(parse_key_pem(encrypted).unwrap_err(), "an encrypted key");
        assert_eq!(parse_key_pem("hello").unwrap_err(), "not a PEM private key");
        assert!(parse_key_pem(&pem("PRIVATE KEY", &[0x30, 0x01, 0x00])).is_err());
    }

    #[test]
    fn a_fresh_set_has_docker_dinds_layout_modes_names_and_signatures() {
        let dir = tmp("fresh");
        let f = ensure(&request(&dir)).unwrap();
        assert!(f.generated && f.warnings.is_empty(), "{f:?}");
        assert_eq!(f.new_keys.len(), 3);
        assert_eq!(
            (f.ca.clone(), f.cert.clone(), f.key.clone()),
            (dir.join("server/ca.pem"), dir.join("server/cert.pem"), dir.join("server/key.pem"))
        );
        assert_eq!(f.client_dir, Some(dir.join("client")));
        assert!(
            f.summary.contains("made new P-256 keys") && f.summary.contains("DNS:dind.example"),
            "{}",
            f.summary
        );
        for (file, want) in [
            ("ca/key.pem", 0o600),
            ("ca/cert.pem", 0o644),
            ("server/key.pem", 0o600),
            ("server/cert.pem", 0o644),
            ("server/ca.pem", 0o644),
            ("client/key.pem", 0o644),
            ("client/cert.pem", 0o644),
            ("client/ca.pem", 0o644),
        ] {
            assert_eq!(mode(&dir.join(file)), want, "{file}");
        }
        for sub in ["ca", "server", "client"] {
            let names: Vec<String> = fs::read_dir(dir.join(sub))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            assert!(
                names.iter().all(|n| !n.starts_with('.')),
                "temporary files left in {sub}: {names:?}"
            );
        }
        let ca_pem = read(&dir.join("ca/cert.pem"));
        assert_eq!(read(&dir.join("server/ca.pem")), ca_pem);
        assert_eq!(read(&dir.join("client/ca.pem")), ca_pem);

        let ca = parse_cert(&ca_pem);
        let server = parse_cert(&read(&dir.join("server/cert.pem")));
        let client = parse_cert(&read(&dir.join("client/cert.pem")));
        let ca_point = key_point(&dir.join("ca/key.pem"));
        assert_eq!(ca.point, ca_point);
        assert_eq!(server.point, key_point(&dir.join("server/key.pem")));
        assert_eq!(client.point, key_point(&dir.join("client/key.pem")));
        assert!(
            ca.signed_by(&ca_point) && server.signed_by(&ca_point) && client.signed_by(&ca_point)
        );
        assert!(!server.signed_by(&server.point));
        assert_eq!((ca.subject.clone(), ca.issuer.clone()), (name(CA_CN), name(CA_CN)));
        assert_eq!((server.subject.clone(), server.issuer.clone()), (name(SERVER_CN), name(CA_CN)));
        assert_eq!((client.subject.clone(), client.issuer.clone()), (name(CLIENT_CN), name(CA_CN)));

        // Valid from now for 825 days.
        let now = unix_now();
        for c in [&ca, &server, &client] {
            let (from, to) = &c.validity;
            let from_ok = (now.saturating_sub(5)..=now).any(|t| time(t) == *from);
            assert!(from_ok, "notBefore {from:?}");
            let start = (now.saturating_sub(5)..=now).find(|t| time(*t) == *from).unwrap();
            assert_eq!(*to, time(start + VALID_DAYS * 86_400));
        }

        // The CA: CA:TRUE, pathlen 0, digitalSignature + keyCertSign, both critical; its key id.
        assert_eq!(
            ca.ext(OID_BASIC_CONSTRAINTS),
            Some((true, vec![0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x00]))
        );
        assert_eq!(ca.ext(OID_KEY_USAGE), Some((true, vec![0x03, 0x02, 0x02, 0x84])));
        let ca_id = Sha256::digest(&ca_point)[..20].to_vec();
        assert_eq!(ca.ext(OID_SKID), Some((false, tlv(0x04, &ca_id))));
        // The leaves: their EKU, the CA's key id, the server's names.
        let akid = seq(&[&tlv(0x80, &ca_id)]);
        assert_eq!(server.ext(OID_EXT_KEY_USAGE), Some((false, seq(&[OID_SERVER_AUTH]))));
        assert_eq!(client.ext(OID_EXT_KEY_USAGE), Some((false, seq(&[OID_CLIENT_AUTH]))));
        assert_eq!(server.ext(OID_AKID), Some((false, akid.clone())));
        assert_eq!(client.ext(OID_AKID), Some((false, akid)));
        assert_eq!(server.exts.len(), 3);
        assert_eq!(client.exts.len(), 2);
        let (dns, ips) = san_names(&server.ext(OID_SAN).unwrap().1);
        assert_eq!((dns, ips), (test_sans().dns, test_sans().ip));
    }

    #[test]
    fn a_restart_keeps_the_keys_and_issues_new_certificates_the_old_ca_still_verifies() {
        let dir = tmp("restart");
        ensure(&request(&dir)).unwrap();
        let files = [
            "ca/key.pem",
            "ca/cert.pem",
            "server/key.pem",
            "server/cert.pem",
            "client/key.pem",
            "client/cert.pem",
        ];
        let before: Vec<String> = files.iter().map(|f| read(&dir.join(f))).collect();
        let mut req = request(&dir);
        req.sans.add_ip("198.51.100.9".parse().unwrap()); // the container's address changed
        let f = ensure(&req).unwrap();
        assert!(f.generated && f.new_keys.is_empty() && f.warnings.is_empty(), "{f:?}");
        assert!(
            f.summary.starts_with("TLS: kept the CA, server and client keys;"),
            "{}",
            f.summary
        );
        let after: Vec<String> = files.iter().map(|f| read(&dir.join(f))).collect();
        for (i, file) in files.iter().enumerate() {
            assert_eq!(before[i] == after[i], file.ends_with("key.pem"), "{file}");
        }
        let old_ca = parse_cert(&before[1]);
        let server = parse_cert(&after[3]);
        assert!(
            server.signed_by(&old_ca.point),
            "a client's old ca.pem verifies the new server certificate"
        );
        assert_eq!(server.issuer, old_ca.subject);
        assert!(san_names(&server.ext(OID_SAN).unwrap().1)
            .1
            .contains(&"198.51.100.9".parse().unwrap()));
    }

    #[test]
    fn own_server_certificates_without_a_ca_key_are_used_as_given() {
        let dir = tmp("byo");
        fs::create_dir_all(dir.join("server")).unwrap();
        fs::create_dir_all(dir.join("ca")).unwrap();
        fs::write(dir.join("ca/cert.pem"), "my CA").unwrap(); // allowed alongside
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            fs::write(dir.join("server").join(f), format!("mine: {f}")).unwrap();
        }
        let f = ensure(&request(&dir)).unwrap();
        assert!(!f.generated && f.new_keys.is_empty(), "{f:?}");
        assert!(f.summary.contains("as given"), "{}", f.summary);
        assert_eq!(f.key, dir.join("server/key.pem"));
        assert_eq!(f.client_dir, None);
        assert_eq!(read(&dir.join("server/cert.pem")), "mine: cert.pem");
        assert!(!dir.join("client").exists() && !dir.join("ca/key.pem").exists());
        fs::create_dir_all(dir.join("client")).unwrap();
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            fs::write(dir.join("client").join(f), "x").unwrap();
        }
        assert_eq!(ensure(&request(&dir)).unwrap().client_dir, Some(dir.join("client")));
        // An empty server file does not count: docker:dind's `[ -s ]`.
        fs::write(dir.join("server/key.pem"), "").unwrap();
        let e = ensure(&request(&dir)).unwrap_err();
        assert!(e.to_string().contains(&dir.join("ca/cert.pem").display().to_string()), "{e}");
    }

    #[test]
    fn a_ca_certificate_without_its_key_and_without_server_files_is_an_error() {
        let dir = tmp("cacert-only");
        fs::create_dir_all(dir.join("ca")).unwrap();
        fs::write(dir.join("ca/cert.pem"), "someone's CA").unwrap();
        let e = ensure(&request(&dir)).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::EXIT_SETUP);
        let msg = e.to_string();
        assert!(msg.contains(&dir.join("ca/key.pem").display().to_string()), "{msg}");
        assert!(msg.contains(&dir.join("server").display().to_string()), "{msg}");
        assert!(!dir.join("server").exists());
    }

    #[test]
    fn empty_keys_are_made_and_kept_keys_get_their_modes_back() {
        let dir = tmp("modes");
        fs::create_dir_all(dir.join("ca")).unwrap();
        fs::write(dir.join("ca/key.pem"), "").unwrap();
        let f = ensure(&request(&dir)).unwrap();
        assert_eq!(f.new_keys.len(), 3);
        fs::set_permissions(dir.join("ca/key.pem"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(dir.join("client/key.pem"), fs::Permissions::from_mode(0o600)).unwrap();
        let f = ensure(&request(&dir)).unwrap();
        assert!(f.new_keys.is_empty());
        assert_eq!(mode(&dir.join("ca/key.pem")), 0o600);
        assert_eq!(mode(&dir.join("client/key.pem")), 0o644);
    }

    #[test]
    fn unusable_keys_are_replaced_and_a_ca_key_is_kept_aside() {
        let dir = tmp("rsa");
        for sub in ["ca", "client"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
            fs::write(dir.join(sub).join("key.pem"), pem("RSA PRIVATE KEY", &[0x30, 0x00]))
                .unwrap();
        }
        let f = ensure(&request(&dir)).unwrap();
        assert_eq!(f.new_keys.len(), 3);
        assert_eq!(f.warnings.len(), 2, "{:?}", f.warnings);
        assert!(
            f.warnings[0].contains("is an RSA key") && f.warnings[0].contains("key.pem.bak"),
            "{:?}",
            f.warnings
        );
        assert!(f.warnings[1].contains("replaced it"), "{:?}", f.warnings);
        assert!(read(&dir.join("ca/key.pem.bak")).contains("RSA PRIVATE KEY"));
        assert!(!dir.join("client/key.pem.bak").exists());
        for sub in ["ca", "client"] {
            assert!(parse_key_pem(&read(&dir.join(sub).join("key.pem"))).is_ok());
        }
    }

    #[test]
    fn client_owner_gets_the_client_files_and_a_0640_key() {
        if !nix::unistd::geteuid().is_root() {
            assert!(!std::env::var("CI").is_ok_and(|v| v == "true"), "CI=true: chown needs root");
            eprintln!("SKIPPED: chown needs root");
            return;
        }
        let dir = tmp("owner");
        let mut req = request(&dir);
        req.client_owner = Some((4242, 4343));
        ensure(&req).unwrap();
        for f in ["key.pem", "cert.pem", "ca.pem"] {
            let m = fs::metadata(dir.join("client").join(f)).unwrap();
            assert_eq!((m.uid(), m.gid()), (4242, 4343), "{f}");
        }
        assert_eq!(mode(&dir.join("client/key.pem")), 0o640);
        assert_eq!(fs::metadata(dir.join("server/key.pem")).unwrap().uid(), 0);
        // Kept key, new owner.
        req.client_owner = Some((4244, 4345));
        ensure(&req).unwrap();
        assert_eq!(fs::metadata(dir.join("client/key.pem")).unwrap().uid(), 4244);
    }

    #[test]
    fn errors_name_the_path() {
        let dir = tmp("errors");
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a-file");
        fs::write(&file, "not a directory").unwrap();
        let e = ensure(&request(&file.join("certs"))).unwrap_err();
        assert!(e.to_string().contains(&file.join("certs/ca").display().to_string()), "{e}");
        let e =
            write_atomic(&file.join("x.pem"), b"x", 0o644, None, Durability::Atomic).unwrap_err();
        assert!(e.to_string().contains(&file.display().to_string()), "{e}");
    }

    #[test]
    fn atomic_writes_replace_whole_files_with_exact_modes() {
        let dir = tmp("atomic");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key.pem");
        // A temporary file a crash left behind, with a mode too wide.
        let stale = dir.join(".key.pem.dind-init-tmp");
        fs::write(&stale, "stale").unwrap();
        fs::set_permissions(&stale, fs::Permissions::from_mode(0o666)).unwrap();
        write_atomic(&path, b"first", 0o600, None, Durability::Synced).unwrap();
        assert_eq!((read(&path).as_str(), mode(&path)), ("first", 0o600));
        write_atomic(&path, b"second", 0o644, None, Durability::Atomic).unwrap();
        assert_eq!((read(&path).as_str(), mode(&path)), ("second", 0o644));
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }

    // ---- real clients: openssl, Python's ssl (OpenSSL), the docker CLI (Go's crypto/tls) ----

    #[test]
    fn openssl_verifies_the_chain_purposes_names_and_keys() {
        if !have("openssl", "version") {
            return;
        }
        let dir = tmp("openssl");
        ensure(&request(&dir)).unwrap();
        let p = |f: &str| dir.join(f).display().to_string();
        let ca = p("ca/cert.pem");
        let verify = |purpose: &str, cert: &str| {
            run(Command::new("openssl").args([
                "verify",
                "-x509_strict",
                "-purpose",
                purpose,
                "-CAfile",
                &ca,
                cert,
            ]))
        };
        for (purpose, cert, ok) in [
            ("sslserver", p("server/cert.pem"), true),
            ("sslclient", p("client/cert.pem"), true),
            ("sslclient", p("server/cert.pem"), false),
            ("sslserver", p("client/cert.pem"), false),
        ] {
            let (status, out) = verify(purpose, &cert);
            assert_eq!(status, ok, "verify -purpose {purpose} {cert}: {out}");
        }
        let text = |f: &str| openssl(&["x509", "-noout", "-text", "-in", &p(f)]);
        let server = text("server/cert.pem");
        for want in [
            "Version: 3 (0x2)",
            "Signature Algorithm: ecdsa-with-SHA256",
            "Issuer: CN = docker:dind CA",
            "Subject: CN = docker:dind server",
            "NIST CURVE: P-256",
            "TLS Web Server Authentication",
            "DNS:docker, DNS:localhost, DNS:dind.example, \
             IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1",
        ] {
            assert!(server.contains(want), "{want} not in\n{server}");
        }
        let client = text("client/cert.pem");
        assert!(
            client.contains("Subject: CN = docker:dind client")
                && client.contains("TLS Web Client Authentication")
        );
        let ca_text = text("ca/cert.pem");
        for want in [
            "Subject: CN = docker:dind CA",
            "critical\n                CA:TRUE, pathlen:0",
            "Digital Signature, Certificate Sign",
        ] {
            assert!(ca_text.contains(want), "{want} not in\n{ca_text}");
        }
        let end = openssl(&["x509", "-noout", "-enddate", "-in", &p("server/cert.pem")]);
        let days = (unix_now() + VALID_DAYS * 86_400) / 86_400;
        let (y, m, _) = civil_from_days(days as i64);
        let month =
            ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
                [m as usize - 1];
        assert!(end.contains(month) && end.contains(&y.to_string()), "{end}");
        for who in ["ca", "server", "client"] {
            let key = p(&format!("{who}/key.pem"));
            let cert = p(&format!("{who}/cert.pem"));
            assert!(openssl(&["pkey", "-check", "-noout", "-in", &key]).contains("Key is valid"));
            let from_key = openssl(&["pkey", "-pubout", "-in", &key]);
            assert_eq!(from_key, openssl(&["x509", "-noout", "-pubkey", "-in", &cert]), "{who}");
        }
    }

    #[test]
    fn keys_made_by_openssl_are_kept_and_its_rsa_keys_replaced() {
        if !have("openssl", "version") {
            return;
        }
        let dir = tmp("openssl-keys");
        for sub in ["ca", "server", "client"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let p = |f: &str| dir.join(f).display().to_string();
        openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-out", &p("ca/key.pem")]); // SEC1
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &p("client/key.pem"),
        ]);
        openssl(&["genrsa", "-out", &p("server/key.pem"), "2048"]); // what docker:dind leaves
        let ca_key = read(&dir.join("ca/key.pem"));
        let f = ensure(&request(&dir)).unwrap();
        assert_eq!(f.new_keys, [dir.join("server/key.pem")]);
        assert!(f.warnings.len() == 1 && f.warnings[0].contains("an RSA key"), "{:?}", f.warnings);
        assert_eq!(read(&dir.join("ca/key.pem")), ca_key);
        for who in ["ca", "client"] {
            let from_key = openssl(&["pkey", "-pubout", "-in", &p(&format!("{who}/key.pem"))]);
            let from_cert =
                openssl(&["x509", "-noout", "-pubkey", "-in", &p(&format!("{who}/cert.pem"))]);
            assert_eq!(from_key, from_cert, "{who}");
        }
        let (ok, out) = run(Command::new("openssl").args([
            "verify",
            "-CAfile",
            &p("ca/cert.pem"),
            &p("server/cert.pem"),
        ]));
        assert!(ok, "{out}");
    }

    /// Mutual TLS between two of Python's ssl sockets (OpenSSL) with the generated files: the
    /// client checks the server's chain and names, the server requires the client's certificate.
    const PYTHON_MUTUAL_TLS: &str = r#"
import socket, ssl, sys, threading, time
d, good, bad = sys.argv[1], sys.argv[2].split(','), sys.argv[3].split(',')
srv = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
srv.load_cert_chain(d + '/server/cert.pem', d + '/server/key.pem')
srv.load_verify_locations(d + '/server/ca.pem')
srv.verify_mode = ssl.CERT_REQUIRED
ls = socket.socket()
ls.bind(('127.0.0.1', 0))
ls.listen(16)
ls.settimeout(20)
seen = []
def serve():
    while True:
        c, _ = ls.accept()
        c.settimeout(10)
        try:
            with srv.wrap_socket(c, server_side=True) as t:
                seen.append(dict(x[0] for x in t.getpeercert()['subject'])['commonName'])
                t.sendall(b'ok')
        except (ssl.SSLError, OSError) as e:
            seen.append('refused')
threading.Thread(target=serve, daemon=True).start()
def connect(name, cert='client'):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the name
    ctx.load_verify_locations(d + '/client/ca.pem')
    if cert:
        ctx.load_cert_chain(d + '/' + cert + '/cert.pem', d + '/' + cert + '/key.pem')
    with socket.create_connection(('127.0.0.1', ls.getsockname()[1]), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=name) as t:
            return t.recv(2)
for name in good:
    assert connect(name) == b'ok', name
    print('accepted', name)
for name in bad:
    try:
        connect(name)
        sys.exit('UNEXPECTED: the server was accepted as ' + name)
    except ssl.SSLCertVerificationError as e:
        print('rejected', name, e.verify_message)
for cert in [None, 'server']:  # no client certificate; one without clientAuth
    try:
        r = connect('docker', cert)
    except (ssl.SSLError, OSError):
        r = None
    assert r != b'ok', cert
    print('refused client', cert)
for _ in range(200):  # the server thread notes the last refusal after it sent its alert
    if len(seen) == len(good) + len(bad) + 2:
        break
    time.sleep(0.01)
print('server saw', seen)
assert seen.count('docker:dind client') == len(good), seen
assert seen.count('refused') == len(bad) + 2, seen
print('PASS')
"#;

    #[test]
    fn python_ssl_mutual_tls_handshake_checks_both_sides_and_the_names() {
        if !have("python3", "--version") {
            return;
        }
        let dir = tmp("python");
        ensure(&request(&dir)).unwrap();
        let good = "docker,localhost,dind.example,127.0.0.1,::1";
        let bad = "other.example,10.9.8.7,dind.example.evil";
        let (ok, out) = run(Command::new("python3").args([
            "-c",
            PYTHON_MUTUAL_TLS,
            dir.to_str().unwrap(),
            good,
            bad,
        ]));
        assert!(ok && out.contains("PASS"), "{out}");
        assert!(out.contains("rejected other.example Hostname mismatch"), "{out}");
        assert!(out.contains("rejected 10.9.8.7 IP address mismatch"), "{out}");
    }

    /// A TLS server that requires a client certificate and answers any HTTP request, to let the
    /// docker CLI (Go's crypto/tls) connect with DOCKER_CERT_PATH=client/.
    const PYTHON_HTTPS_SERVER: &str = r#"
import socket, ssl, sys
d = sys.argv[1]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(d + '/server/cert.pem', d + '/server/key.pem')
ctx.load_verify_locations(d + '/server/ca.pem')
ctx.verify_mode = ssl.CERT_REQUIRED
ls = socket.socket()
ls.bind(('127.0.0.1', 0))
ls.listen(16)
ls.settimeout(30)
print(ls.getsockname()[1], flush=True)
while True:
    try:
        c, _ = ls.accept()
    except socket.timeout:
        break
    c.settimeout(10)
    try:
        with ctx.wrap_socket(c, server_side=True) as t:
            cn = dict(x[0] for x in t.getpeercert()['subject'])['commonName']
            line = t.recv(4096).split(b'\r\n')[0].decode()
            print('request from', cn, ':', line, flush=True)
            t.sendall(b'HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: text/plain\r\n'
                      b'Content-Length: 2\r\nConnection: close\r\n\r\nOK')
    except (ssl.SSLError, OSError) as e:
        print('error', e, flush=True)
"#;

    #[test]
    fn the_docker_cli_connects_with_the_client_files() {
        // scripts/test.sh installs the docker CLI before cargo test runs.
        if !have("python3", "--version") {
            return;
        }
        if !have("docker", "--version") {
            return;
        }
        let dir = tmp("docker-cli");
        ensure(&request(&dir)).unwrap();
        let mut server = Command::new("python3")
            .args(["-c", PYTHON_HTTPS_SERVER, dir.to_str().unwrap()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
        let port = lines.next().unwrap().unwrap();
        let config = dir.join("docker-config");
        fs::create_dir_all(&config).unwrap();
        for host in ["127.0.0.1", "localhost"] {
            let (_, out) = run(Command::new("timeout")
                .args(["20", "docker", "version", "--format", "{{.Server.Version}}"])
                .env("DOCKER_HOST", format!("tcp://{host}:{port}"))
                .env("DOCKER_TLS_VERIFY", "1")
                .env("DOCKER_CERT_PATH", dir.join("client"))
                .env("DOCKER_CONFIG", &config)
                .env_remove("DOCKER_CONTEXT"));
            // Our fake server is no daemon, so `docker version` itself fails after the request.
            assert!(!out.contains("x509") && !out.contains("certificate"), "{host}: {out}");
        }
        server.kill().unwrap();
        server.wait().unwrap();
        let seen: Vec<String> = lines.map_while(|l| l.ok()).collect();
        let requests =
            seen.iter().filter(|l| l.starts_with("request from docker:dind client : ")).count();
        assert!(requests >= 2, "the server saw: {seen:?}");
        assert!(!seen.iter().any(|l| l.starts_with("error")), "the server saw: {seen:?}");
    }
}
