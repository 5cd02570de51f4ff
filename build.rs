//! Build metadata for `dind-init --version`: the git commit (when built from a checkout)
//! and the target triple. Nothing else: the build stays reproducible.

use std::process::Command;

fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=DIND_INIT_TARGET={target}");
    let commit = std::env::var("DIND_INIT_COMMIT").ok().filter(|c| !c.is_empty()).or_else(|| {
        let out = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
        let c = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !c.is_empty()).then_some(c)
    });
    println!("cargo:rustc-env=DIND_INIT_COMMIT={}", commit.as_deref().unwrap_or("unknown"));
    println!("cargo:rerun-if-env-changed=DIND_INIT_COMMIT");
    // A new commit changes HEAD (or the branch it points to).
    for f in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if std::path::Path::new(f).exists() {
            println!("cargo:rerun-if-changed={f}");
        }
    }
}
