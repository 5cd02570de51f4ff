//! What an image archive holds, read before it is sent to dockerd: the images' config digests
//! (their image IDs) and tags, so an image already present is skipped, and a malformed archive
//! is refused before dockerd sees it (fail closed). `docker save` output (the old layout:
//! `manifest.json`, `<id>.json`, `<id>/layer.tar`; Docker 25+: the same `manifest.json` in an
//! OCI layout) and OCI archives (`index.json`, `blobs/sha256/...`), plain or gzip-compressed,
//! told apart by their first bytes. Tar by the `tar` crate, DEFLATE by `miniz_oxide`, JSON by
//! serde_json. Only gzip's framing is read here (`Gz`: RFC 1952's header fields, skipped, and
//! the trailer's length): flate2 would add its CRC-32 tables, 25 KB of a 1 MiB binary. The
//! CRC is not checked; a corrupt stream fails in DEFLATE, and what dockerd loads is checked
//! by dockerd against the image's digests.

use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};
use serde_json::Value;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// JSON blobs kept while reading (an OCI archive's manifests and indexes), each at most this.
const BLOB_MAX: u64 = 64 * 1024;
/// And all of them together, at most this.
const BLOBS_TOTAL: usize = 8 << 20;
/// `manifest.json` and `index.json`, at most this.
const META_MAX: u64 = 4 << 20;
/// Nested OCI indexes followed at most this deep.
const DEPTH: usize = 4;

/// One image of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Config digests (`sha256:...`): one, or one per platform of a multi-platform index.
    pub configs: Vec<String>,
    /// The names it is loaded under (`name:tag`), possibly none.
    pub tags: Vec<String>,
}

/// What an archive holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    pub gzip: bool,
    pub images: Vec<Image>,
}

/// The archive's bytes: a plain tar is skipped through by seeking (a file's end is checked,
/// so a truncated one is not taken for a short one), a gzip one by reading forward.
enum Source {
    Plain { f: File, pos: u64, len: u64 },
    Gzip { r: Box<Gz>, pos: u64 },
}

fn bad_gzip(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("gzip: {why}"))
}

/// A gzip stream (RFC 1952), one member or several, inflated by miniz_oxide.
struct Gz {
    inner: BufReader<File>,
    state: Box<InflateState>,
    /// Inside a member's DEFLATE data (else at a member's start, or at the end).
    in_member: bool,
    /// This member's length so far (its trailer's ISIZE is this, mod 2^32).
    size: u64,
    /// Members read to their end.
    members: u32,
    end: bool,
}

impl Gz {
    fn new(f: File) -> Gz {
        let inner = BufReader::with_capacity(64 * 1024, f);
        let state = InflateState::new_boxed(DataFormat::Raw);
        Gz { inner, state, in_member: false, size: 0, members: 0, end: false }
    }

    fn byte(&mut self) -> io::Result<u8> {
        let mut b = [0u8; 1];
        self.inner.read_exact(&mut b).map_err(|_| bad_gzip("the header ends early"))?;
        Ok(b[0])
    }

    fn skip_zero_terminated(&mut self) -> io::Result<()> {
        while self.byte()? != 0 {}
        Ok(())
    }

    /// A member's header: ID1 ID2 CM FLG MTIME(4) XFL OS, then what FLG announces.
    fn header(&mut self) -> io::Result<()> {
        let mut h = [0u8; 10];
        self.inner.read_exact(&mut h).map_err(|_| bad_gzip("the header ends early"))?;
        if !is_gzip(&h) || h[2] != 8 || h[3] & 0xe0 != 0 {
            return Err(bad_gzip("not a gzip member header (or not DEFLATE)"));
        }
        let flags = h[3];
        if flags & 4 != 0 {
            let len = u16::from_le_bytes([self.byte()?, self.byte()?]);
            for _ in 0..len {
                self.byte()?;
            }
        }
        for bit in [8, 16] {
            if flags & bit != 0 {
                self.skip_zero_terminated()?;
            }
        }
        if flags & 2 != 0 {
            self.byte()?;
            self.byte()?;
        }
        self.state.reset_as(miniz_oxide::inflate::stream::MinReset);
        (self.in_member, self.size) = (true, 0);
        Ok(())
    }

    /// After a member's DEFLATE data: CRC32 (not checked) and ISIZE (checked).
    fn trailer(&mut self) -> io::Result<()> {
        let mut t = [0u8; 8];
        self.inner.read_exact(&mut t).map_err(|_| bad_gzip("the trailer is cut off"))?;
        if u32::from_le_bytes([t[4], t[5], t[6], t[7]]) != self.size as u32 {
            return Err(bad_gzip("the length in the trailer differs from the data"));
        }
        self.in_member = false;
        self.members += 1;
        Ok(())
    }
}

impl Read for Gz {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.end || buf.is_empty() {
                return Ok(0);
            }
            if !self.in_member {
                // Another member, or the end.
                if self.members > 0 && self.inner.fill_buf()?.is_empty() {
                    self.end = true;
                    continue;
                }
                self.header()?;
            }
            let input = self.inner.fill_buf()?;
            let eof = input.is_empty();
            let r = inflate(&mut self.state, input, buf, MZFlush::None);
            self.inner.consume(r.bytes_consumed);
            self.size += r.bytes_written as u64;
            match r.status {
                Ok(MZStatus::StreamEnd) => self.trailer()?,
                Ok(_) | Err(MZError::Buf) if eof && r.bytes_written == 0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "gzip: the data ends early",
                    ))
                }
                Ok(_) | Err(MZError::Buf) if r.bytes_consumed == 0 && r.bytes_written == 0 => {
                    return Err(bad_gzip("the compressed data makes no progress"))
                }
                Ok(_) | Err(MZError::Buf) => {}
                Err(_) => return Err(bad_gzip("the compressed data is corrupt")),
            }
            if r.bytes_written > 0 {
                return Ok(r.bytes_written);
            }
        }
    }
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (n, pos) = match self {
            Source::Plain { f, pos, .. } => (f.read(buf)?, pos),
            Source::Gzip { r, pos } => (r.read(buf)?, pos),
        };
        *pos += n as u64;
        Ok(n)
    }
}

impl Seek for Source {
    /// Only forward (what `tar` asks to skip an entry's data).
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let SeekFrom::Current(n @ 0..) = to else {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "only forward seeks"));
        };
        let eof = || io::Error::new(io::ErrorKind::UnexpectedEof, "the archive ends early");
        match self {
            Source::Plain { f, pos, len } => {
                let to = *pos + n as u64;
                if to > *len {
                    return Err(eof());
                }
                *pos = f.seek(SeekFrom::Start(to))?;
                Ok(*pos)
            }
            Source::Gzip { r, pos } => {
                let got = io::copy(&mut r.take(n as u64), &mut io::sink())?;
                *pos += got;
                if got < n as u64 {
                    return Err(eof());
                }
                Ok(*pos)
            }
        }
    }
}

/// Gzip's magic bytes.
fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
}

/// Opens the archive at `path` and gives its length: a regular file only. O_NONBLOCK keeps a
/// FIFO (or a device) placed in the directory from blocking the open forever; it is then
/// refused by its type (on a regular file the flag changes nothing).
pub fn open(path: &Path) -> Result<(File, u64), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot open: {e}"))?;
    let m = f.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    if !m.is_file() {
        use std::os::unix::fs::FileTypeExt;
        let t = m.file_type();
        let what = if t.is_fifo() {
            "a FIFO"
        } else if t.is_char_device() || t.is_block_device() {
            "a device"
        } else {
            "neither a file nor a directory"
        };
        return Err(format!("not a regular file ({what}): an archive is read twice, by name"));
    }
    Ok((f, m.len()))
}

/// Reads the archive at `path`: what it holds, or why it is not a loadable image archive.
pub fn read(path: &Path) -> Result<Contents, String> {
    let (mut f, len) = open(path)?;
    let mut head = [0u8; 2];
    let n = f.read(&mut head).map_err(|e| format!("cannot read: {e}"))?;
    f.rewind().map_err(|e| format!("cannot read: {e}"))?;
    let gzip = is_gzip(&head[..n]);
    let src = if gzip {
        Source::Gzip { r: Box::new(Gz::new(f)), pos: 0 }
    } else {
        Source::Plain { f, pos: 0, len }
    };
    let images = scan(src, gzip)?;
    Ok(Contents { gzip, images })
}

/// What a tar stream holds, read to its end.
#[derive(Default)]
struct Listing {
    /// Every name (an archive lists a few hundred at most: searched in order).
    files: Vec<String>,
    manifest: Option<Vec<u8>>,
    index: Option<Vec<u8>>,
    /// Small JSON blobs and their digests (`sha256:...`).
    blobs: Vec<(String, Vec<u8>)>,
    kept: usize,
}

impl Listing {
    fn has(&self, name: &str) -> bool {
        self.files.iter().any(|f| f == name)
    }
    fn blob(&self, digest: &str) -> Option<&Vec<u8>> {
        self.blobs.iter().find(|(d, _)| d == digest).map(|(_, b)| b)
    }
}

fn clean(name: &str) -> String {
    name.trim_start_matches("./").trim_end_matches('/').to_string()
}

fn scan(src: Source, gzip: bool) -> Result<Vec<Image>, String> {
    let mut ar = tar::Archive::new(src);
    let mut l = Listing::default();
    let bad = |e: io::Error| {
        let what = if gzip { "gzip-compressed tar" } else { "tar" };
        format!("not a readable {what} archive: {e}")
    };
    for entry in ar.entries_with_seek().map_err(bad)? {
        let mut e = entry.map_err(bad)?;
        let name = clean(&e.path().map_err(bad)?.to_string_lossy());
        let size = e.header().size().map_err(bad)?;
        let kind = e.header().entry_type();
        if !kind.is_file() {
            if !kind.is_dir() {
                l.files.push(name);
            }
            continue;
        }
        let want = match name.as_str() {
            "manifest.json" | "index.json" => Some(META_MAX),
            n if n.starts_with("blobs/") && size <= BLOB_MAX && l.kept < BLOBS_TOTAL => {
                Some(BLOB_MAX)
            }
            _ => None,
        };
        if let Some(max) = want {
            if size > max {
                return Err(format!("{name} is {size} bytes, more than {max}"));
            }
            let mut buf = Vec::with_capacity(size as usize);
            e.read_to_end(&mut buf).map_err(bad)?;
            match name.as_str() {
                "manifest.json" => l.manifest = Some(buf),
                "index.json" => l.index = Some(buf),
                n => {
                    if let (Some(hex), Some(b'{')) = (n.strip_prefix("blobs/sha256/"), buf.first())
                    {
                        l.kept += buf.len();
                        l.blobs.push((format!("sha256:{hex}"), buf));
                    }
                }
            }
        }
        l.files.push(name);
    }
    // The rest of a gzip stream (its length is checked at its end).
    let mut src = ar.into_inner();
    io::copy(&mut src, &mut io::sink()).map_err(bad)?;
    if l.files.is_empty() {
        return Err("not a tar archive (no entries)".into());
    }
    images(&l)
}

/// `sha256:<64 hex>` from a digest string.
fn digest(d: &str) -> Option<String> {
    let hex = d.strip_prefix("sha256:")?;
    let ok =
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    ok.then(|| d.to_string())
}

/// The config digest a `manifest.json` `Config` path names: `blobs/sha256/<hex>` (Docker 25+)
/// or `<hex>.json` (before).
fn config_digest(path: &str) -> Option<String> {
    let hex = path.strip_prefix("blobs/sha256/").or_else(|| path.strip_suffix(".json"))?;
    digest(&format!("sha256:{hex}"))
}

/// JSON, read from text as daemon.json is (one serde_json reader in the binary, not two).
pub fn json(b: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(b).map_err(|e| e.to_string())?;
    serde_json::from_str(text).map_err(|e| e.to_string())
}

fn parse(what: &str, bytes: &[u8]) -> Result<Value, String> {
    json(bytes).map_err(|e| format!("{what} is not valid JSON: {e}"))
}

fn strings(v: &Value) -> Result<Vec<String>, ()> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a.iter().map(|s| s.as_str().map(String::from).ok_or(())).collect(),
        _ => Err(()),
    }
}

fn images(l: &Listing) -> Result<Vec<Image>, String> {
    let out = match (&l.manifest, &l.index) {
        (Some(m), _) => from_manifest(l, &parse("manifest.json", m)?)?,
        (None, Some(i)) => from_index(l, &parse("index.json", i)?)?,
        (None, None) => {
            return Err("neither manifest.json nor index.json: not a docker save or OCI image \
                        archive"
                .into())
        }
    };
    if out.is_empty() {
        return Err("the archive lists no image".into());
    }
    Ok(out)
}

/// `docker save`'s `manifest.json`: `[{"Config": ..., "RepoTags": [...], "Layers": [...]}]`.
fn from_manifest(l: &Listing, v: &Value) -> Result<Vec<Image>, String> {
    let bad = |why: &str| format!("manifest.json: {why}");
    let list = v.as_array().ok_or_else(|| bad("not a list"))?;
    let mut out = Vec::new();
    for m in list {
        let config = m.get("Config").and_then(Value::as_str).ok_or_else(|| bad("no Config"))?;
        let digest = config_digest(config).ok_or_else(|| bad(&format!("Config {config:?}")))?;
        let tags = strings(m.get("RepoTags").unwrap_or(&Value::Null))
            .map_err(|_| bad("RepoTags is not a list of names"))?;
        let layers = strings(m.get("Layers").unwrap_or(&Value::Null))
            .map_err(|_| bad("Layers is not a list of paths"))?;
        for f in std::iter::once(config).chain(layers.iter().map(String::as_str)) {
            if !l.has(&clean(f)) {
                return Err(bad(&format!("{f} is not in the archive")));
            }
        }
        out.push(Image { configs: vec![digest], tags });
    }
    Ok(out)
}

/// An OCI layout's `index.json`: each manifest (or nested index) to its config digests; the
/// name from containerd's annotation, as `docker load` reads it.
fn from_index(l: &Listing, v: &Value) -> Result<Vec<Image>, String> {
    let list =
        v.get("manifests").and_then(Value::as_array).ok_or("index.json: no manifests list")?;
    let mut out = Vec::new();
    for d in list {
        let mut configs = Vec::new();
        follow(l, d, 0, &mut configs)?;
        let ann = d.get("annotations");
        let name = ann.and_then(|a| a.get("io.containerd.image.name")).and_then(Value::as_str);
        out.push(Image { configs, tags: name.map(String::from).into_iter().collect() });
    }
    Ok(out)
}

fn follow(l: &Listing, desc: &Value, depth: usize, out: &mut Vec<String>) -> Result<(), String> {
    let d = desc.get("digest").and_then(Value::as_str).unwrap_or("");
    let d = digest(d).ok_or_else(|| format!("index.json: a descriptor's digest {d:?}"))?;
    if depth > DEPTH {
        return Err(format!("{d}: indexes nested deeper than {DEPTH}"));
    }
    let blob = l
        .blob(&d)
        .ok_or_else(|| format!("blobs/sha256/{} is not in the archive (or not JSON)", &d[7..]))?;
    let v = parse(&format!("blob {d}"), blob)?;
    if let Some(list) = v.get("manifests").and_then(Value::as_array) {
        for m in list {
            follow(l, m, depth + 1, out)?;
        }
        return Ok(());
    }
    let c = v.get("config").and_then(|c| c.get("digest")).and_then(Value::as_str);
    let c = c.unwrap_or("");
    let c = digest(c).ok_or_else(|| format!("manifest {d}: config digest {c:?}"))?;
    if !l.has(&format!("blobs/sha256/{}", &c[7..])) {
        return Err(format!("manifest {d}: its config {c} is not in the archive"));
    }
    out.push(c);
    Ok(())
}

/// A name as the daemon reports it in `RepoTags` (`docker.io/library/x:1` is `x:1`).
pub fn familiar(name: &str) -> &str {
    let n = name.strip_prefix("docker.io/").unwrap_or(name);
    n.strip_prefix("library/").filter(|r| !r.contains('/')).unwrap_or(n)
}

#[cfg(test)]
mod tests;
