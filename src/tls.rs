//! TLS certificates for `DOCKER_TLS_CERTDIR`, made natively in docker:dind's layout.
//!
//! Why this exists: when `DOCKER_TLS_CERTDIR` is set, docker:dind's entrypoint
//! (`dockerd-entrypoint.sh`) makes a CA, a server and a client certificate with the openssl CLI
//! before it starts dockerd with `--tlsverify`, and CI systems (GitLab's `docker:dind` service,
//! compose files) rely on that. dind-init must be a drop-in for it, in images that have no shell
//! and no openssl, so it does the same here, in Rust, in a few milliseconds: P-256 keys from the
//! kernel's random numbers (`getrandom`), ECDSA-SHA256 signatures from RustCrypto's `p256`, key
//! files read and written by RustCrypto's `pkcs8`, `sec1`, `der` and `pem-rfc7468` (PEM and
//! base64 too: no reader of untrusted bytes is written here), and the handful of fixed X.509
//! structures written out as DER by hand (smaller than any certificate crate; each is checked by
//! der's reader, openssl and real handshakes in the tests, and fuzzed).
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
//!   All are valid 825 days (docker:dind's `certValidDays`, after mkcert's issue 174), from
//!   5 minutes before the moment of issue (`BACKDATE_SECS`, as cfssl does) so that a client
//!   whose clock runs a little behind does not find them not yet valid.
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
//! The directory is often shared (GitLab mounts one volume at `/certs/client` in the service
//! and in every job, and e2e's image makes `/certs` and `/certs/client` world-writable with the
//! sticky bit), and dind-init writes there as root. So nothing in it is reached through a
//! symbolic link (`Dir`): directories are opened with `O_NOFOLLOW` and files opened, made and
//! renamed with `openat` relative to their directory's descriptor; a link at `ca/`, `server/`,
//! `client/` or a key is an error that names it (a certificate, written anew, replaces a link by
//! rename without writing through it); modes and owners are set with `fchmod`/`fchown` on the
//! open file; a key file must be a regular file with one link, at most 64 KiB
//! (`MAX_KEY_BYTES`). `DOCKER_TLS_CERTDIR` itself must be a real directory too (docker:dind
//! users mount a volume there): a link there is refused, the path above it is followed as given.
//! The user's own server files (below) are never opened here, so they may be links (a
//! Kubernetes secret's files are): dockerd opens them.
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

use crate::error::{usage, Error, PathError, Result};
use nix::errno::Errno;
use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::{fchmod, fstat, fstatat, mkdirat, Mode, SFlag};
use nix::unistd::{fchown, fsync, unlinkat, Gid, Uid, UnlinkatFlags};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::elliptic_curve::ALGORITHM_OID as OID_EC;
use p256::pkcs8::der::pem::{self, LineEnding};
use p256::pkcs8::{AssociatedOid, EncodePrivateKey, ObjectIdentifier, PrivateKeyInfo};
use p256::{NistP256, SecretKey};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Validity of every certificate, as docker:dind's `certValidDays`.
pub const VALID_DAYS: u64 = 825;
/// How far `notBefore` lies before the moment of issue, for clients whose clock runs behind
/// (cfssl's 5 minutes): a job container on a host a minute slow must not see a certificate
/// "not yet valid".
pub const BACKDATE_SECS: u64 = 300;
/// The largest key file read: a P-256 key in PEM is about 250 bytes, an RSA 4096 key 3.3 KiB.
pub const MAX_KEY_BYTES: u64 = 64 * 1024;
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
    let root = Dir::open_root(dir)?;
    let server_path = dir.join("server");
    let client_path = dir.join("client");
    let ca_key_path = dir.join("ca").join("key.pem");
    let ca_cert_path = dir.join("ca").join("cert.pem");
    let mut out = TlsFiles {
        ca: server_path.join("ca.pem"),
        cert: server_path.join("cert.pem"),
        key: server_path.join("key.pem"),
        client_dir: None,
        generated: false,
        new_keys: Vec::new(),
        summary: String::new(),
        warnings: Vec::new(),
    };
    // What is there, without creating or following anything.
    let ca_dir = root.find("ca")?;
    let server_dir = root.find("server")?;
    let has_ca_key = given(ca_dir.as_ref(), "key.pem")?;
    let server_given = ["ca.pem", "cert.pem", "key.pem"]
        .iter()
        .try_fold(true, |all, f| Ok::<bool, Error>(all && given(server_dir.as_ref(), f)?))?;
    if !has_ca_key && server_given {
        let client_dir = root.find("client")?;
        let complete = ["ca.pem", "cert.pem", "key.pem"]
            .iter()
            .try_fold(true, |all, f| Ok::<bool, Error>(all && given(client_dir.as_ref(), f)?))?;
        out.client_dir = complete.then(|| client_path.clone());
        out.summary = format!(
            "TLS: using the certificates in {} as given (there is no {}): nothing generated",
            server_path.display(),
            ca_key_path.display()
        );
        return Ok(out);
    }
    if !has_ca_key && given(ca_dir.as_ref(), "cert.pem")? {
        return Err(Error::Setup(format!(
            "TLS: {} exists but {} does not, and {} lacks ca.pem, cert.pem or key.pem: put the \
             server's certificates there (your own CA), or remove {} to have a CA made here",
            ca_cert_path.display(),
            ca_key_path.display(),
            server_path.display(),
            ca_cert_path.display()
        )));
    }
    let now = unix_now();
    const CERT: Durability = Durability::Atomic;

    // The CA: its key is kept, its certificate issued anew.
    let ca_dir = root.make("ca")?;
    let ca = key_at(&ca_dir, "key.pem", 0o600, None, true, &mut out)?;
    let ca_pem = pem("CERTIFICATE", &certificate(Role::Ca, &ca, &ca, now)?)?;
    ca_dir.write_atomic("cert.pem", ca_pem.as_bytes(), 0o644, None, CERT)?;

    // The server's files, for dockerd.
    let server_dir = root.make("server")?;
    let server = key_at(&server_dir, "key.pem", 0o600, None, false, &mut out)?;
    let server_pem = pem("CERTIFICATE", &certificate(Role::Server(&req.sans), &server, &ca, now)?)?;
    server_dir.write_atomic("cert.pem", server_pem.as_bytes(), 0o644, None, CERT)?;
    server_dir.write_atomic("ca.pem", ca_pem.as_bytes(), 0o644, None, CERT)?;

    // The client's, last, in the order that makes client/ca.pem mean "all complete".
    let client_dir = root.make("client")?;
    let owner = req.client_owner;
    let key_mode = if owner.is_some() { 0o640 } else { 0o644 };
    let client = key_at(&client_dir, "key.pem", key_mode, owner, false, &mut out)?;
    let client_pem = pem("CERTIFICATE", &certificate(Role::Client, &client, &ca, now)?)?;
    client_dir.write_atomic("cert.pem", client_pem.as_bytes(), 0o644, owner, CERT)?;
    client_dir.write_atomic("ca.pem", ca_pem.as_bytes(), 0o644, owner, CERT)?;

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
    out.client_dir = Some(client_path);
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

/// The key `name` in `dir`, kept if it is a usable P-256 key (its mode and owner set on the
/// open file), else made and written. An unusable CA key is moved aside (`backup`): it may be
/// someone's only copy. A symbolic link, a file that is not regular or has other links, or one
/// larger than `MAX_KEY_BYTES` is an error: in a shared directory it may be a trap.
fn key_at(
    dir: &Dir,
    name: &str,
    mode: u32,
    owner: Option<(u32, u32)>,
    backup: bool,
    out: &mut TlsFiles,
) -> Result<Key> {
    let path = dir.join(name);
    if let Some((file, text)) = dir.read_key(name)? {
        match parse_key_pem(&String::from_utf8_lossy(&text)) {
            Ok(secret) => {
                set_mode_owner(&file, &path, mode, owner)?;
                return Ok(Key::new(&secret));
            }
            Err(what) if backup => {
                let bak = format!("{name}.bak");
                dir.rename(name, &bak)?;
                out.warnings.push(format!(
                    "TLS: {} is {what}, which dind-init cannot sign with (it makes P-256 keys): \
                     moved it to {} and made a new CA key; clients must take the new ca.pem",
                    path.display(),
                    dir.join(&bak).display()
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
    let text = pkcs8_pem(&secret)?;
    dir.write_atomic(name, text.as_bytes(), mode, owner, Durability::Synced)?;
    out.new_keys.push(path);
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
                let mut f = fs::File::open(path).map_err(|e| PathError::new("open", path, e))?;
                return f.read_exact(rest).map_err(|e| PathError::new("read", path, e).into());
            }
            _ => {
                return Err(Error::Setup(format!("TLS: cannot get random bytes (getrandom): {e}")))
            }
        }
    }
    Ok(())
}

/// PKCS#8 `PrivateKeyInfo` holding a SEC1 `ECPrivateKey` with its public key, as
/// `openssl genpkey -algorithm EC` writes it (RustCrypto's encoder).
fn pkcs8_pem(secret: &SecretKey) -> Result<p256::elliptic_curve::zeroize::Zeroizing<String>> {
    secret
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| Error::Setup(format!("TLS: cannot encode a new key as PKCS#8 PEM: {e}")))
}

/// The P-256 key in a PEM file (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`, decoded by
/// RustCrypto's pem-rfc7468, pkcs8 and sec1); otherwise what the file holds instead, for the
/// message.
fn parse_key_pem(text: &str) -> std::result::Result<SecretKey, String> {
    for (label, block) in pem_blocks(text) {
        if label == "ENCRYPTED PRIVATE KEY" || block.contains("Proc-Type:") {
            return Err("an encrypted key".into());
        }
        match label {
            "PRIVATE KEY" | "EC PRIVATE KEY" => {}
            "RSA PRIVATE KEY" => return Err("an RSA key".into()),
            _ => continue,
        }
        let (_, der) = pem::decode_vec(block.as_bytes())
            .map_err(|e| format!("a {label} that is not valid PEM ({e})"))?;
        return match label {
            "PRIVATE KEY" => parse_pkcs8(&der),
            _ => parse_sec1(&der),
        };
    }
    Err("not a PEM private key".into())
}

/// rsaEncryption (RFC 8017), to name what docker:dind leaves.
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

fn parse_pkcs8(der: &[u8]) -> std::result::Result<SecretKey, String> {
    let bad = |e: &dyn std::fmt::Display| format!("a PKCS#8 key that cannot be parsed ({e})");
    let info = PrivateKeyInfo::try_from(der).map_err(|e| bad(&e))?;
    if info.algorithm.oid == OID_RSA {
        return Err("an RSA key".into());
    }
    if info.algorithm.oid != OID_EC {
        return Err("not an elliptic-curve key".into());
    }
    if info.algorithm.parameters_oid().ok() != Some(NistP256::OID) {
        return Err("an elliptic-curve key on another curve than P-256".into());
    }
    SecretKey::try_from(info).map_err(|e| bad(&e))
}

fn parse_sec1(der: &[u8]) -> std::result::Result<SecretKey, String> {
    let bad = |e: &dyn std::fmt::Display| format!("an EC key that cannot be parsed ({e})");
    let key = sec1::EcPrivateKey::try_from(der).map_err(|e| bad(&e))?;
    if key.parameters.is_some_and(|p| p.named_curve() != Some(NistP256::OID)) {
        return Err("an elliptic-curve key on another curve than P-256".into());
    }
    SecretKey::try_from(key).map_err(|e| bad(&e))
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
        &seq(&[&time(now.saturating_sub(BACKDATE_SECS)), &time(now + VALID_DAYS * 86_400)]),
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
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
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

// ---- DER and PEM (written here; read only by RustCrypto's crates) -----------------------------------------------------------------------------

const ALG_ECDSA_SHA256: &[u8] =
    &[0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
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

/// A PEM block (RustCrypto's pem-rfc7468 encoder: 64-column base64, LF line ends).
fn pem(label: &str, der: &[u8]) -> Result<String> {
    pem::encode_string(label, LineEnding::LF, der)
        .map_err(|e| Error::Setup(format!("TLS: cannot encode a {label} as PEM: {e}")))
}

/// The PEM blocks of a file, in order: each one's label and its text from `-----BEGIN` to the
/// end of its `-----END` line, for pem-rfc7468's strict decoder (which takes one block, while a
/// key file may hold several: `openssl ecparam -genkey` writes EC PARAMETERS first).
fn pem_blocks(text: &str) -> Vec<(&str, &str)> {
    const BEGIN: &str = "-----BEGIN ";
    let mut blocks = Vec::new();
    let mut at = 0;
    while let Some(found) = text[at..].find(BEGIN) {
        let start = at + found;
        let after = &text[start + BEGIN.len()..];
        let Some(label_len) = after.find("-----").filter(|&n| !after[..n].contains('\n')) else {
            at = start + BEGIN.len();
            continue;
        };
        let label = &after[..label_len];
        let end_line = format!("-----END {label}-----");
        let Some(end) = text[start..].find(&end_line) else { break };
        let end = start + end + end_line.len();
        blocks.push((label, &text[start..end]));
        at = end;
    }
    blocks
}

// ---- files -----------------------------------------------------------------------------------

/// A directory of the certificate tree, opened without following a symbolic link. Its files
/// are looked at, opened, made and renamed relative to its descriptor (`openat`), never by path,
/// and none of those steps follows a link: the directory may be shared with other containers
/// (GitLab mounts one volume at `/certs/client` in the service and every job), so a link planted
/// there must not make dind-init, as root, read, chmod or write a file elsewhere.
struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

impl Dir {
    /// `DOCKER_TLS_CERTDIR` itself, created (with its parents, 0755) when missing. It must be a
    /// real directory: a symbolic link is refused like one in it (docker:dind users mount a
    /// volume there); the path above it is the administrator's and is followed as given.
    fn open_root(path: &Path) -> Result<Dir> {
        // Without a trailing slash, which would make the kernel follow a link at the end.
        let path: PathBuf = path.components().collect();
        let fd = match open_dir(None, &path) {
            Err(Errno::ENOENT) => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(&path)
                    .map_err(|e| PathError::new("create directory", &path, e))?;
                open_dir(None, &path)
            }
            r => r,
        };
        Ok(Dir { fd: fd.map_err(|e| dir_err(&path, e))?, path })
    }

    /// The subdirectory `name` when it exists; an error when it is a link or no directory.
    fn find(&self, name: &str) -> Result<Option<Dir>> {
        match open_dir(Some(&self.fd), Path::new(name)) {
            Ok(fd) => Ok(Some(Dir { fd, path: self.join(name) })),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(dir_err(&self.join(name), e)),
        }
    }

    /// The subdirectory `name`, made (0755) when missing.
    fn make(&self, name: &str) -> Result<Dir> {
        match mkdirat(Some(self.fd.as_raw_fd()), name, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(PathError::new("create directory", &self.join(name), e).into()),
        }
        let fd =
            open_dir(Some(&self.fd), Path::new(name)).map_err(|e| dir_err(&self.join(name), e))?;
        Ok(Dir { fd, path: self.join(name) })
    }

    fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The key file `name`, open, and its bytes; `None` when it is missing or empty (docker:dind's
    /// `[ -s ]`). Refused: a symbolic link, anything but a regular file (a FIFO would block the
    /// start: it is opened non-blocking), a file with other hard links (its mode is set on the
    /// open file, which would change the other names too), one larger than `MAX_KEY_BYTES`.
    fn read_key(&self, name: &str) -> Result<Option<(fs::File, Vec<u8>)>> {
        let path = self.join(name);
        let flags = OFlag::O_RDONLY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC;
        let file = match openat(Some(self.fd.as_raw_fd()), name, flags, Mode::empty()) {
            // SAFETY: openat just returned this descriptor, and nothing else owns it.
            Ok(fd) => unsafe { fs::File::from_raw_fd(fd) },
            Err(Errno::ENOENT) => return Ok(None),
            Err(Errno::ELOOP) => return Err(link_err(&path)),
            Err(e) => return Err(PathError::new("open", &path, e).into()),
        };
        let st = fstat(file.as_raw_fd()).map_err(|e| PathError::new("look at", &path, e))?;
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Err(Error::Setup(format!(
                "TLS: {} is not a regular file: refusing to read it as a key",
                path.display()
            )));
        }
        if st.st_nlink > 1 {
            return Err(Error::Setup(format!(
                "TLS: {} has {} hard links: refusing to use it as a key and change its mode \
                 (the other names would change too); replace it with a file of its own",
                path.display(),
                st.st_nlink
            )));
        }
        let mut text = Vec::new();
        (&file)
            .take(MAX_KEY_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(|e| PathError::new("read", &path, e))?;
        if text.len() as u64 > MAX_KEY_BYTES {
            return Err(Error::Setup(format!(
                "TLS: {} is larger than {} KiB: not a key file; refusing to read it",
                path.display(),
                MAX_KEY_BYTES / 1024
            )));
        }
        Ok((!text.is_empty()).then_some((file, text)))
    }

    /// Writes `data` to `name` so that a reader sees the old file or the new one, never a part:
    /// a temporary file in the same directory, created exclusively (never through a link) with
    /// `mode` set on its descriptor (exact, whatever the umask), owned by `owner`, renamed over
    /// `name` (which replaces a link, never writes through it). `Durability::Synced` also fsyncs
    /// the file before the rename and the directory after it, so that the file survives a crash
    /// of the host.
    fn write_atomic(
        &self,
        name: &str,
        data: &[u8],
        mode: u32,
        owner: Option<(u32, u32)>,
        durability: Durability,
    ) -> Result<()> {
        let dirfd = Some(self.fd.as_raw_fd());
        let tmp = format!(".{name}.dind-init-tmp");
        let _ = unlinkat(dirfd, tmp.as_str(), UnlinkatFlags::NoRemoveDir); // left by a crash
        let written = (|| {
            let flags = OFlag::O_WRONLY
                | OFlag::O_CREAT
                | OFlag::O_EXCL
                | OFlag::O_NOFOLLOW
                | OFlag::O_CLOEXEC;
            let fd = openat(dirfd, tmp.as_str(), flags, Mode::from_bits_truncate(mode))?;
            // SAFETY: openat just returned this descriptor, and nothing else owns it.
            let mut f = unsafe { fs::File::from_raw_fd(fd) };
            fchmod(f.as_raw_fd(), Mode::from_bits_truncate(mode))?;
            if let Some((uid, gid)) = owner {
                fchown(f.as_raw_fd(), Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))?;
            }
            f.write_all(data).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?;
            if durability == Durability::Synced {
                fsync(f.as_raw_fd())?;
            }
            Ok::<(), Errno>(())
        })();
        if let Err(e) = written {
            let _ = unlinkat(dirfd, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
            return Err(PathError::new("write", &self.join(&tmp), e).into());
        }
        if let Err(e) = renameat(dirfd, tmp.as_str(), dirfd, name) {
            let _ = unlinkat(dirfd, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
            let what = format!("rename {} to", self.join(&tmp).display());
            return Err(PathError::new(what, &self.join(name), e).into());
        }
        if durability == Durability::Synced {
            fsync(self.fd.as_raw_fd())
                .map_err(|e| PathError::new("sync directory", &self.path, e))?;
        }
        Ok(())
    }

    /// Renames `from` to `to` in this directory (a link is moved, not followed).
    fn rename(&self, from: &str, to: &str) -> Result<()> {
        let fd = Some(self.fd.as_raw_fd());
        renameat(fd, from, fd, to).map_err(|e| PathError::new("rename", &self.join(from), e).into())
    }
}

/// A directory opened without following a link at its last component.
fn open_dir(at: Option<&OwnedFd>, path: &Path) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(at.map(|d| d.as_raw_fd()), path, flags, Mode::empty())?;
    // SAFETY: openat just returned this descriptor, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn link_err(path: &Path) -> Error {
    Error::Setup(format!(
        "TLS: {} is a symbolic link: dind-init does not follow links in the certificate \
         directory (it may be shared with other containers, and it writes there as root); put \
         the directory or file itself there",
        path.display()
    ))
}

/// Why a directory could not be opened. `O_DIRECTORY | O_NOFOLLOW` fails on a link with ELOOP
/// or ENOTDIR; the latter is told apart by looking (for the message only: both are refused).
fn dir_err(path: &Path, e: Errno) -> Error {
    let is_link = || fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    match e {
        Errno::ELOOP => link_err(path),
        Errno::ENOTDIR if is_link() => link_err(path),
        Errno::ENOTDIR => Error::Setup(format!("TLS: {} is not a directory", path.display())),
        e => PathError::new("open directory", path, e).into(),
    }
}

/// Whether `name` in `dir` is there and not empty, as docker:dind's `[ -s ]` asks of files it
/// does not open (the user's own server files, a CA key or certificate that exists): a
/// symbolic link is not followed and counts as there (a Kubernetes secret's files are links;
/// dockerd opens them, dind-init never does). No directory: not there.
fn given(dir: Option<&Dir>, name: &str) -> Result<bool> {
    let Some(dir) = dir else { return Ok(false) };
    match fstatat(Some(dir.fd.as_raw_fd()), name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK
            || st.st_size > 0),
        Err(Errno::ENOENT) => Ok(false),
        Err(e) => Err(PathError::new("look at", &dir.join(name), e).into()),
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

/// Gives a kept key the mode and owner it would have been written with, on its open file.
fn set_mode_owner(
    file: &fs::File,
    path: &Path,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<()> {
    let st = fstat(file.as_raw_fd()).map_err(|e| PathError::new("look at", path, e))?;
    if st.st_mode & 0o7777 != mode {
        fchmod(file.as_raw_fd(), Mode::from_bits_truncate(mode))
            .map_err(|e| PathError::new("chmod", path, e))?;
    }
    if let Some((uid, gid)) = owner {
        if (st.st_uid, st.st_gid) != (uid, gid) {
            fchown(file.as_raw_fd(), Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
                .map_err(|e| PathError::new("chown", path, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::VerifyingKey;
    use p256::pkcs8::der::asn1::{AnyRef, UtcTime};
    use p256::pkcs8::der::{Decode, Encode, Reader, SliceReader, Tagged};
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
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

    /// Under CI a missing tool fails the test (CI must run it); elsewhere it is skipped.
    fn have(tool: &str, version_arg: &str) -> bool {
        let ok = Command::new(tool).arg(version_arg).output().is_ok_and(|o| o.status.success());
        if !ok {
            crate::ci::skip(tool, &format!("{tool} is not installed (CI requires it)"));
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

    /// A PEM block, for the tests' own key files.
    fn pem(label: &str, der: &[u8]) -> String {
        super::pem(label, der).unwrap()
    }

    /// rsaEncryption, as DER.
    const OID_RSA_DER: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

    /// The DER elements in `content` (a SEQUENCE's, say), read by RustCrypto's der.
    fn children(content: &[u8]) -> Vec<AnyRef<'_>> {
        let mut r = SliceReader::new(content).unwrap();
        let mut out = Vec::new();
        while !r.is_finished() {
            out.push(r.decode::<AnyRef>().unwrap());
        }
        out
    }

    fn tag(a: &AnyRef) -> u8 {
        a.tag().into()
    }

    /// An element whole (tag, length and content).
    fn whole(a: &AnyRef) -> Vec<u8> {
        a.to_der().unwrap()
    }

    /// A certificate's parts, walked with RustCrypto's der.
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
        assert_eq!(pem_blocks(text).len(), 1);
        let (label, der) = pem::decode_vec(text.as_bytes()).unwrap();
        assert_eq!(label, "CERTIFICATE");
        let top = AnyRef::from_der(&der).expect("one element, no trailing bytes");
        assert_eq!(tag(&top), 0x30);
        let cert = children(top.value());
        assert_eq!(cert.len(), 3);
        let tbs = whole(&cert[0]);
        assert_eq!(whole(&cert[1]), ALG_ECDSA_SHA256);
        assert_eq!(tag(&cert[2]), 0x03);
        let sig = AnyRef::from_der(&cert[2].value()[1..]).unwrap();
        let rs = children(sig.value());
        assert!(rs.len() == 2 && rs.iter().all(|x| tag(x) == 0x02));
        let fixed = |x: &[u8]| {
            let x = if x.len() == 33 { &x[1..] } else { x };
            let mut b = [0u8; 32];
            b[32 - x.len()..].copy_from_slice(x);
            b
        };
        let sig = Signature::from_scalars(fixed(rs[0].value()), fixed(rs[1].value())).unwrap();

        let t = children(cert[0].value());
        assert_eq!(t.len(), 8);
        assert_eq!(whole(&t[0]), [0xa0, 0x03, 0x02, 0x01, 0x02]);
        let serial = t[1].value();
        assert!(
            tag(&t[1]) == 0x02 && serial.len() == 16 && serial[0] & 0x80 == 0 && serial[0] != 0
        );
        assert_eq!(whole(&t[2]), ALG_ECDSA_SHA256);
        let issuer = whole(&t[3]);
        let v = children(t[4].value());
        let validity = (whole(&v[0]), whole(&v[1]));
        let subject = whole(&t[5]);
        let spki = children(t[6].value());
        assert_eq!(spki[0].value(), [OID_EC_PUBLIC_KEY, OID_P256].concat());
        let point = spki[1].value()[1..].to_vec();
        assert_eq!(tag(&t[7]), 0xa3);
        let list = children(t[7].value());
        let mut exts = Vec::new();
        for e in children(list[0].value()) {
            let parts = children(e.value());
            let critical = parts.len() == 3 && parts[1].value() == [0xff];
            let value = parts.last().unwrap();
            assert_eq!(tag(value), 0x04);
            exts.push((parts[0].value().to_vec(), critical, value.value().to_vec()));
        }
        Cert { tbs, issuer, subject, validity, point, exts, sig }
    }

    fn key_point(path: &Path) -> Vec<u8> {
        let secret = parse_key_pem(&read(path)).unwrap();
        secret.public_key().to_encoded_point(false).as_bytes().to_vec()
    }

    /// The GeneralNames of a subjectAltName value.
    fn san_names(value: &[u8]) -> (Vec<String>, Vec<IpAddr>) {
        let seq = AnyRef::from_der(value).unwrap();
        let (mut dns, mut ips) = (Vec::new(), Vec::new());
        for n in children(seq.value()) {
            let v = n.value();
            match (tag(&n), v.len()) {
                (0x82, _) => dns.push(String::from_utf8(v.to_vec()).unwrap()),
                (0x87, 4) => ips.push(IpAddr::from(<[u8; 4]>::try_from(v).unwrap())),
                (0x87, 16) => ips.push(IpAddr::from(<[u8; 16]>::try_from(v).unwrap())),
                (t, _) => panic!("unexpected GeneralName {t:#x}"),
            }
        }
        (dns, ips)
    }

    #[test]
    fn pem_is_rustcryptos_64_columns_and_blocks_are_found_in_order() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let text = pem("X", &data);
        assert!(text.starts_with("-----BEGIN X-----\n") && text.ends_with("-----END X-----\n"));
        assert!(text.lines().all(|l| l.len() <= 64));
        assert_eq!(pem::decode_vec(text.as_bytes()).unwrap(), ("X", data.clone()));
        let two = format!("junk\n{}between\n{}", pem("A", b"a"), pem("B", b"b"));
        let blocks = pem_blocks(&two);
        assert_eq!(blocks.iter().map(|b| b.0).collect::<Vec<_>>(), ["A", "B"]);
        assert_eq!(pem::decode_vec(blocks[1].1.as_bytes()).unwrap(), ("B", b"b".to_vec()));
        // A BEGIN without its END, or a label across lines: no block.
        assert!(pem_blocks("-----BEGIN A-----\nQQ==\n-----END B-----\n").is_empty());
        assert!(pem_blocks("-----BEGIN A\n-----\n").is_empty());
    }

    #[test]
    fn der_writer_agrees_with_rustcryptos_reader() {
        assert_eq!(tlv(0x04, &[7; 0x7f])[..2], [0x04, 0x7f]);
        assert_eq!(tlv(0x04, &[7; 0x80])[..3], [0x04, 0x81, 0x80]);
        assert_eq!(tlv(0x04, &[7; 0x100])[..4], [0x04, 0x82, 0x01, 0x00]);
        assert_eq!(uint(&[0x00, 0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(uint(&[0x00, 0x00, 0x01]), [0x02, 0x01, 0x01]);
        assert_eq!(uint(&[0x00, 0x00]), [0x02, 0x01, 0x00]);
        assert_eq!(uint(&[0xff; 2]), [0x02, 0x03, 0x00, 0xff, 0xff]);
        for len in [0, 1, 0x7f, 0x80, 0xff, 0x100, 70_000] {
            let content = vec![9u8; len];
            let der = tlv(0x04, &content);
            let any = AnyRef::from_der(&der).unwrap();
            assert_eq!((tag(&any), any.value()), (0x04, &content[..]), "{len}");
        }
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
        let text = pkcs8_pem(&secret).unwrap();
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
        let rsa_pkcs8 = seq(&[
            &[0x02, 0x01, 0x00],
            &seq(&[OID_RSA_DER, &[0x05, 0x00]]),
            &tlv(0x04, &[0x30, 0x00]),
        ]);
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

        // Valid for 825 days from the moment of issue, and from 5 minutes before it for clients
        // whose clock runs behind (cfssl's backdating). Read by RustCrypto's der.
        let now = unix_now();
        for c in [&ca, &server, &client] {
            let secs = |t: &[u8]| UtcTime::from_der(t).unwrap().to_unix_duration().as_secs();
            let (from, to) = (secs(&c.validity.0), secs(&c.validity.1));
            let issued = from + BACKDATE_SECS;
            assert!((now.saturating_sub(5)..=now).contains(&issued), "notBefore {from}, now {now}");
            assert_eq!(to, issued + VALID_DAYS * 86_400, "notAfter");
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
            crate::ci::skip(
                "client_owner_gets_the_client_files_and_a_0640_key",
                "chown needs root",
            );
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
        let file = dir.join("a-file");
        fs::write(&file, "not a directory").unwrap();
        let e = ensure(&request(&file.join("certs"))).unwrap_err();
        assert!(e.to_string().contains(&file.join("certs").display().to_string()), "{e}");
        let e = ensure(&request(&file)).err().unwrap();
        assert!(e.to_string().contains(&format!("{} is not a directory", file.display())), "{e}");
        let certs = dir.join("certs");
        fs::create_dir_all(&certs).unwrap();
        fs::write(certs.join("ca"), "a file").unwrap();
        let e = ensure(&request(&certs)).unwrap_err();
        assert!(e.to_string().contains(&certs.join("ca").display().to_string()), "{e}");
    }

    /// A file outside the certificate directory, for links to point at: a valid P-256 key,
    /// mode 0600, as someone's secret would be.
    fn outside_key(dir: &Path) -> (PathBuf, String) {
        let path = dir.join("secret.pem");
        let text = pkcs8_pem(&generate_key().unwrap()).unwrap().to_string();
        fs::write(&path, &text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        (path, text)
    }

    #[test]
    fn a_linked_key_is_refused_and_its_target_neither_read_nor_chmodded_nor_replaced() {
        let dir = tmp("link-key");
        let (secret, text) = outside_key(&dir);
        let certs = dir.join("certs");
        fs::create_dir_all(certs.join("client")).unwrap();
        std::os::unix::fs::symlink(&secret, certs.join("client/key.pem")).unwrap();
        let e = ensure(&request(&certs)).unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.exit_code(), crate::error::EXIT_SETUP);
        assert!(msg.contains(&certs.join("client/key.pem").display().to_string()), "{msg}");
        assert!(msg.contains("symbolic link"), "{msg}");
        // Before: the key was used as the client's and its target made 0644 (world-readable).
        assert_eq!((read(&secret), mode(&secret)), (text, 0o600));
        assert!(fs::symlink_metadata(certs.join("client/key.pem")).unwrap().is_symlink());
    }

    #[test]
    fn a_linked_certificate_is_replaced_not_written_through() {
        let dir = tmp("link-cert");
        let outside = dir.join("outside.txt");
        fs::write(&outside, "keep me").unwrap();
        let certs = dir.join("certs");
        ensure(&request(&certs)).unwrap();
        fs::remove_file(certs.join("client/cert.pem")).unwrap();
        std::os::unix::fs::symlink(&outside, certs.join("client/cert.pem")).unwrap();
        std::os::unix::fs::symlink(&outside, certs.join("client/.ca.pem.dind-init-tmp")).unwrap();
        ensure(&request(&certs)).unwrap();
        assert_eq!(read(&outside), "keep me");
        let m = fs::symlink_metadata(certs.join("client/cert.pem")).unwrap();
        assert!(m.is_file(), "the link was replaced by the certificate");
        assert!(read(&certs.join("client/cert.pem")).starts_with("-----BEGIN CERTIFICATE-----"));
    }

    #[test]
    fn linked_subdirectories_and_a_linked_certdir_are_refused() {
        for sub in ["ca", "server", "client"] {
            let dir = tmp(&format!("link-{sub}"));
            let elsewhere = dir.join("elsewhere");
            fs::create_dir_all(&elsewhere).unwrap();
            let certs = dir.join("certs");
            fs::create_dir_all(&certs).unwrap();
            std::os::unix::fs::symlink(&elsewhere, certs.join(sub)).unwrap();
            let e = ensure(&request(&certs)).unwrap_err().to_string();
            assert!(
                e.contains(&format!("{} is a symbolic link", certs.join(sub).display())),
                "{e}"
            );
            let written: Vec<_> = fs::read_dir(&elsewhere).unwrap().collect();
            assert!(written.is_empty(), "{sub}: written through the link: {written:?}");
        }
        // The certificate directory itself: docker:dind users mount a volume there.
        let dir = tmp("link-root");
        let real = dir.join("real");
        fs::create_dir_all(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.join("certs")).unwrap();
        for given in [dir.join("certs"), PathBuf::from(format!("{}/", dir.join("certs").display()))]
        {
            let e = ensure(&request(&given)).unwrap_err().to_string();
            assert!(e.contains("is a symbolic link"), "{}: {e}", given.display());
        }
        assert_eq!(fs::read_dir(&real).unwrap().count(), 0);
    }

    #[test]
    fn huge_fifo_or_hard_linked_key_files_are_refused() {
        let dir = tmp("odd-keys");
        let certs = dir.join("certs");
        fs::create_dir_all(certs.join("ca")).unwrap();
        // A valid key followed by 64 KiB of comment: before, read whole and used.
        let key = pkcs8_pem(&generate_key().unwrap()).unwrap().to_string();
        let huge = format!("{key}{}", "# padding\n".repeat(7000));
        fs::write(certs.join("ca/key.pem"), &huge).unwrap();
        let e = ensure(&request(&certs)).unwrap_err().to_string();
        assert!(e.contains("ca/key.pem is larger than 64 KiB"), "{e}");
        // Just under the limit is read (and a valid key kept).
        let fits = format!("{key}{}", "#".repeat(MAX_KEY_BYTES as usize - key.len()));
        fs::write(certs.join("ca/key.pem"), &fits).unwrap();
        assert!(ensure(&request(&certs)).unwrap().new_keys.len() == 2);
        // A FIFO would block the start for ever: refused at once.
        fs::remove_file(certs.join("client/key.pem")).unwrap();
        nix::unistd::mkfifo(&certs.join("client/key.pem"), Mode::from_bits_truncate(0o644))
            .unwrap();
        let e = ensure(&request(&certs)).unwrap_err().to_string();
        assert!(e.contains("client/key.pem is not a regular file"), "{e}");
        fs::remove_file(certs.join("client/key.pem")).unwrap();
        // A hard link to someone's key: its mode would change under the other name too.
        let (secret, text) = outside_key(&dir);
        fs::hard_link(&secret, certs.join("client/key.pem")).unwrap();
        let e = ensure(&request(&certs)).unwrap_err().to_string();
        assert!(e.contains("client/key.pem has 2 hard links"), "{e}");
        assert_eq!((read(&secret), mode(&secret)), (text, 0o600));
    }

    #[test]
    fn own_server_files_may_be_links_they_are_never_opened() {
        // A Kubernetes secret mounted at server/: its files are links into ..data/.
        let dir = tmp("byo-links");
        let data = dir.join("data");
        fs::create_dir_all(&data).unwrap();
        let certs = dir.join("certs");
        fs::create_dir_all(certs.join("server")).unwrap();
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            fs::write(data.join(f), format!("mine: {f}")).unwrap();
            std::os::unix::fs::symlink(data.join(f), certs.join("server").join(f)).unwrap();
        }
        let f = ensure(&request(&certs)).unwrap();
        assert!(!f.generated && f.summary.contains("as given"), "{f:?}");
        assert_eq!(f.key, certs.join("server/key.pem"));
        assert!(!certs.join("ca").exists() && !certs.join("client").exists());
    }

    #[test]
    fn atomic_writes_replace_whole_files_with_exact_modes() {
        let dir = tmp("atomic");
        let path = dir.join("key.pem");
        // A temporary file a crash left behind, with a mode too wide.
        let stale = dir.join(".key.pem.dind-init-tmp");
        fs::write(&stale, "stale").unwrap();
        fs::set_permissions(&stale, fs::Permissions::from_mode(0o666)).unwrap();
        let d = Dir::open_root(&dir).unwrap();
        d.write_atomic("key.pem", b"first", 0o600, None, Durability::Synced).unwrap();
        assert_eq!((read(&path).as_str(), mode(&path)), ("first", 0o600));
        d.write_atomic("key.pem", b"second", 0o644, None, Durability::Atomic).unwrap();
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

    /// What stays hand-written here, fuzzed: the DER writer checked against RustCrypto's der
    /// reader, the PEM block finder, and the parsers of what users write (key files, names).
    mod fuzz {
        use super::*;
        use p256::pkcs8::der::asn1::{GeneralizedTime, UintRef};
        use proptest::prelude::*;

        const PEMISH: &str =
            "(-----(BEGIN|END) (PRIVATE KEY|EC PRIVATE KEY|RSA PRIVATE KEY|X)-----\
                              \r?\n|Proc-Type: 4,ENCRYPTED\n|[A-Za-z0-9+/=]{0,70}\r?\n| *\n){0,10}";

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: crate::fuzz_cases(2000), ..ProptestConfig::default()
            })]
            #[test]
            fn tlv_is_read_back_by_der(content in proptest::collection::vec(any::<u8>(), 0..600)) {
                let der = tlv(0x04, &content);
                let any = AnyRef::from_der(&der).unwrap();
                prop_assert_eq!((tag(&any), any.value()), (0x04, &content[..]));
                let wrapped = seq(&[&der, &der]);
                prop_assert_eq!(children(AnyRef::from_der(&wrapped).unwrap().value()).len(), 2);
            }
            #[test]
            fn uint_is_a_der_integer(bytes in proptest::collection::vec(any::<u8>(), 1..40)) {
                let der = uint(&bytes);
                let n = UintRef::from_der(&der).unwrap();
                let skip = bytes.iter().take_while(|&&b| b == 0).count().min(bytes.len() - 1);
                prop_assert_eq!(n.as_bytes(), &bytes[skip..]);
            }
            #[test]
            fn time_is_read_back_by_der(t in 0u64..4_102_444_800) {
                let der = time(t);
                let secs = if t < 2_524_608_000 {
                    UtcTime::from_der(&der).unwrap().to_unix_duration().as_secs()
                } else {
                    GeneralizedTime::from_der(&der).unwrap().to_unix_duration().as_secs()
                };
                prop_assert_eq!(secs, t);
            }
            #[test]
            fn pem_blocks_are_whole_blocks(text in PEMISH) {
                for (label, block) in pem_blocks(&text) {
                    let begin = format!("-----BEGIN {label}-----");
                    let end = format!("-----END {label}-----");
                    prop_assert!(block.starts_with(&begin) && block.ends_with(&end), "{:?}", block);
                }
            }
            #[test]
            fn key_files_never_panic(text in PEMISH, any_text in "\\PC{0,200}") {
                let _ = parse_key_pem(&text);
                let _ = parse_key_pem(&any_text);
            }
            #[test]
            fn pkcs8_and_sec1_never_panic(der in proptest::collection::vec(any::<u8>(), 0..200)) {
                let _ = parse_pkcs8(&der);
                let _ = parse_sec1(&der);
                let _ = parse_key_pem(&pem("PRIVATE KEY", &der));
                let _ = parse_key_pem(&pem("EC PRIVATE KEY", &der));
            }
            #[test]
            fn tls_san_round_trips(text in "((DNS:|IP:|dns:)?[a-z0-9.:*-]{0,12}[, ]{0,2}){0,5}") {
                if let Ok(sans) = parse_tls_san(&text) {
                    prop_assert_eq!(parse_tls_san(&sans.to_string()).unwrap(), sans);
                }
            }
            #[test]
            fn names_never_panic(host in "\\PC{0,20}", hosts in "([0-9.]{0,8}[ \t]+[a-z.# ]{0,12}\n){0,4}") {
                let _ = parse_tls_san(&host);
                let _ = host_names(Some(&host), Some(&host), &hosts);
                let _ = canonical_name(&hosts, &host);
            }
        }
    }
}
