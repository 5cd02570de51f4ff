//! `--preload DIR`: every image archive in DIR loaded into dockerd once it answers, before the
//! command starts (or, serving dockerd, before it is reported ready: `dind-init health` says
//! "not yet" while the marker file exists). An archive whose images are all present already
//! (by config digest, and under its tags) is skipped, so a persistent volume pays a read of
//! the archive's index at the second start. Up to `WORKERS` archives load at once, each
//! streamed to `POST /images/load` (dockerd itself decompresses gzip). The lifecycle decides
//! (`Event::Preloaded`); this module is the effect, run on threads, with a wake-up pipe for
//! the supervisor's poll.

pub mod archive;

use crate::docker_api::request;
use archive::json;
use serde_json::Value;
use std::collections::VecDeque;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Archives loaded at the same time, at most.
pub const WORKERS: usize = 4;
/// While it exists, `dind-init health` answers "not ready": the preload is not over.
pub const MARKER: &str = "/run/dind-init/preloading";
/// An inspect answer is small; a load's answer is a few lines per image.
const ANSWER_MAX: u64 = 1 << 20;
/// An inspect that takes longer than this is an error.
const INSPECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The counts the lifecycle gets when the preload is over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub loaded: u32,
    pub skipped: u32,
    pub failed: u32,
}

/// What is shared with the workers: cancel, and the connections to shut down then.
#[derive(Default)]
struct Shared {
    cancelled: AtomicBool,
    conns: Mutex<Vec<UnixStream>>,
    loaded: AtomicU32,
    skipped: AtomicU32,
    failed: AtomicU32,
    done: AtomicBool,
}

/// A preload under way.
pub struct Running {
    shared: Arc<Shared>,
    /// Readable once the summary is there.
    pub wake: UnixStream,
}

impl Running {
    /// The summary, once the preload is over.
    pub fn finished(&self) -> Option<Summary> {
        let mut b = [0u8; 16];
        let _ = std::io::Read::read(&mut &self.wake, &mut b);
        let s = &self.shared;
        let n = |a: &AtomicU32| a.load(Ordering::SeqCst);
        s.done.load(Ordering::SeqCst).then(|| Summary {
            loaded: n(&s.loaded),
            skipped: n(&s.skipped),
            failed: n(&s.failed),
        })
    }

    /// The stop began: no more archives, and the loads under way lose their connections (so
    /// dockerd's own shutdown does not wait for them).
    pub fn cancel(&self) {
        self.shared.cancelled.store(true, Ordering::SeqCst);
        for c in self.shared.conns.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Creates the marker (health: not ready yet), or removes a stale one (`on` false).
pub fn marker(on: bool, dir: &Path) {
    let m = Path::new(MARKER);
    if !on {
        let _ = std::fs::remove_file(m);
        return;
    }
    let made = m
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(m, format!("{}\n", dir.display())));
    if let Err(e) = made {
        log::warn!(
            "preload: cannot create {MARKER} ({e}): `dind-init health` may answer before the \
             preload is over"
        );
    }
}

/// Whether the preload is under way (for `dind-init health`).
pub fn under_way() -> bool {
    Path::new(MARKER).exists()
}

/// Starts loading the archives of `dir` into the dockerd started as `pid` on `socket`.
/// `stop_on_error`: after a failure no further archive is started.
pub fn start(
    dir: PathBuf,
    socket: PathBuf,
    pid: i32,
    stop_on_error: bool,
) -> std::io::Result<Running> {
    let (wake, mut ping) = UnixStream::pair()?;
    wake.set_nonblocking(true)?;
    let shared = Arc::new(Shared::default());
    let s = shared.clone();
    std::thread::Builder::new().name("preload".into()).spawn(move || {
        let warn = !stop_on_error;
        let files = match list(&dir, &s) {
            Ok(f) => f,
            Err(e) => {
                failed(&s, &dir, &e, warn);
                Vec::new()
            }
        };
        let queue = Arc::new(Mutex::new(VecDeque::from(files)));
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                let (q, s, socket) = (queue.clone(), s.clone(), socket.clone());
                std::thread::spawn(move || worker(&q, &s, &socket, pid, stop_on_error))
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
        s.done.store(true, Ordering::SeqCst);
        let _ = ping.write_all(b"x");
    })?;
    Ok(Running { shared, wake })
}

/// The files of `dir`, by name; subdirectories and hidden files (a ConfigMap's `..data`) are
/// skipped here (and counted so).
fn list(dir: &Path, s: &Shared) -> Result<Vec<PathBuf>, String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("cannot read the directory: {e}"))?;
    let mut files = Vec::new();
    for e in rd {
        let e = e.map_err(|e| format!("cannot read the directory: {e}"))?;
        let path = e.path();
        let hidden = e.file_name().to_string_lossy().starts_with('.');
        // Links followed (a mounted ConfigMap or secret is links).
        let is_dir = std::fs::metadata(&path).is_ok_and(|m| m.is_dir());
        if hidden || is_dir {
            let reason = if hidden { "a hidden file" } else { "a directory" };
            s.skipped.fetch_add(1, Ordering::SeqCst);
            skipped_event(&path, reason);
        } else {
            // In name order (a few files: an insertion each).
            let name = e.file_name().to_string_lossy().into_owned();
            let at = files.iter().position(|f| *f > name).unwrap_or(files.len());
            files.insert(at, name);
        }
    }
    Ok(files.into_iter().map(|f| dir.join(f)).collect())
}

fn skipped_event(path: &Path, reason: &str) {
    let file = path.display().to_string();
    crate::event!(Info, "preload-skipped", { file = &file, reason = reason },
        "preload: {file}: skipped ({reason})");
}

fn failed(s: &Shared, path: &Path, error: &str, warn: bool) {
    s.failed.fetch_add(1, Ordering::SeqCst);
    let file = path.display().to_string();
    if warn {
        crate::event!(Warn, "preload-failed", { file = &file, error = error },
            "preload: {file}: {error} (--preload-errors warn: going on)");
    } else {
        crate::event!(Error, "preload-failed", { file = &file, error = error },
            "preload: {file}: {error}");
    }
}

fn worker(q: &Mutex<VecDeque<PathBuf>>, s: &Shared, socket: &Path, pid: i32, stop_on_error: bool) {
    loop {
        if s.cancelled.load(Ordering::SeqCst) {
            return;
        }
        let Some(path) = q.lock().unwrap_or_else(|e| e.into_inner()).pop_front() else { return };
        let t = Instant::now();
        match one(&path, s, socket, pid) {
            Ok(Done::Loaded(images)) => {
                s.loaded.fetch_add(1, Ordering::SeqCst);
                let (file, secs) = (path.display().to_string(), t.elapsed().as_secs_f64());
                crate::event!(Info, "preload-loaded",
                    { file = &file, images = &images, secs = secs },
                    "preload: {file}: loaded {images} in {secs:.3}s");
            }
            Ok(Done::Present(what)) => {
                s.skipped.fetch_add(1, Ordering::SeqCst);
                skipped_event(&path, &format!("present: {what}"));
            }
            Err(e) if s.cancelled.load(Ordering::SeqCst) => {
                log::debug!("preload: {}: cancelled ({e})", path.display());
                return;
            }
            Err(e) => {
                failed(s, &path, &e, !stop_on_error);
                if stop_on_error {
                    q.lock().unwrap_or_else(|e| e.into_inner()).clear();
                }
            }
        }
    }
}

enum Done {
    /// The names (or IDs) the daemon said it loaded.
    Loaded(String),
    /// Every image is there already: which.
    Present(String),
}

fn one(path: &Path, s: &Shared, socket: &Path, pid: i32) -> Result<Done, String> {
    let contents = archive::read(path)?;
    let mut present = Vec::new();
    for img in &contents.images {
        match img.configs.iter().find_map(|c| is_present(socket, pid, c, &img.tags).transpose()) {
            Some(Ok(id)) => present.push(img.tags.first().cloned().unwrap_or(id)),
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    if present.len() == contents.images.len() {
        return Ok(Done::Present(present.join(" ")));
    }
    load(path, s, socket, pid).map(Done::Loaded)
}

/// `Some(id)` when the image with config `config` is there under every one of `tags`.
fn is_present(
    socket: &Path,
    pid: i32,
    config: &str,
    tags: &[String],
) -> Result<Option<String>, String> {
    let timeout = |c: &UnixStream| {
        let _ = c.set_read_timeout(Some(INSPECT_TIMEOUT));
    };
    let head = format!("GET /images/{config}/json");
    let (code, body) = request(socket, pid, &head, None, &timeout, ANSWER_MAX)
        .map_err(|e| format!("asking dockerd for {config}: {e}"))?;
    match code {
        404 => return Ok(None),
        200 => {}
        c => return Err(format!("dockerd answered {head} with HTTP {c}: {}", message(&body))),
    }
    let v: Value =
        json(&body).map_err(|e| format!("dockerd's answer to {head} is not JSON: {e}"))?;
    let have: Vec<&str> = v
        .get("RepoTags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(archive::familiar).collect())
        .unwrap_or_default();
    let all = tags.iter().all(|t| have.contains(&archive::familiar(t)));
    Ok(all.then(|| config.chars().take(19).collect()))
}

/// dockerd's error message in an error answer (`{"message": ...}`), else the text.
fn message(body: &[u8]) -> String {
    json(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().chars().take(300).collect())
}

/// What a load's JSON stream says: the names loaded, or dockerd's error.
pub fn load_answer(body: &[u8]) -> Result<String, String> {
    let mut names = Vec::new();
    for v in serde_json::Deserializer::from_str(&String::from_utf8_lossy(body)).into_iter::<Value>()
    {
        let v = v.map_err(|e| format!("dockerd's answer is not JSON: {e}"))?;
        let detail = v.get("errorDetail").and_then(|d| d.get("message"));
        if let Some(e) = detail.or(v.get("error")).and_then(Value::as_str) {
            return Err(format!("dockerd: {e}"));
        }
        let text = v.get("stream").and_then(Value::as_str).unwrap_or("");
        for l in text.lines() {
            if let Some(n) =
                l.strip_prefix("Loaded image: ").or(l.strip_prefix("Loaded image ID: "))
            {
                names.push(n.trim().to_string());
            }
        }
    }
    if names.is_empty() {
        return Err("dockerd loaded no image from it".into());
    }
    Ok(names.join(" "))
}

fn load(path: &Path, s: &Shared, socket: &Path, pid: i32) -> Result<String, String> {
    let (mut f, len) = archive::open(path)?;
    let keep = |c: &UnixStream| {
        if let Ok(c) = c.try_clone() {
            s.conns.lock().unwrap_or_else(|e| e.into_inner()).push(c);
        }
    };
    let head = "POST /images/load?quiet=1";
    let (code, body) = request(socket, pid, head, Some((&mut f, len)), &keep, ANSWER_MAX)
        .map_err(|e| format!("loading it: {e}"))?;
    if code != 200 {
        return Err(format!("dockerd answered HTTP {code}: {}", message(&body)));
    }
    load_answer(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loads_answer() {
        let ok = br#"{"stream":"Loaded image: x:1\n"}
{"stream":"Loaded image ID: sha256:abc\n"}"#;
        assert_eq!(load_answer(ok).unwrap(), "x:1 sha256:abc");
        let bad = br#"{"errorDetail":{"message":"unexpected EOF"},"error":"unexpected EOF"}"#;
        assert_eq!(load_answer(bad).unwrap_err(), "dockerd: unexpected EOF");
        assert!(load_answer(b"").unwrap_err().contains("no image"));
        assert!(load_answer(b"<html>").unwrap_err().contains("not JSON"));
        assert_eq!(message(br#"{"message":"no such image"}"#), "no such image");
        assert_eq!(message(b"plain text\n"), "plain text");
    }
}
