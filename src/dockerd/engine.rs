//! Which Docker engine and containerd the image has, from dpkg's status file (free to read)
//! or `containerd --version`: the engine's major version decides defaults (the containerd
//! image store from 29 on, who starts containerd), containerd's which config it reads.

/// The first installed package of `names` in dpkg's status file: its name and version.
fn installed(dpkg_status: &str, names: &[&str]) -> Option<(String, String)> {
    for para in dpkg_status.split("\n\n") {
        let field = |name: &str| {
            para.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string())
        };
        let Some(pkg) = field("Package:") else { continue };
        if !names.contains(&pkg.as_str()) {
            continue;
        }
        if !field("Status:").is_some_and(|st| st.ends_with(" installed")) {
            continue;
        }
        return Some((pkg, field("Version:")?));
    }
    None
}

/// The major version of a Debian version (`5:27.3.1-1~debian.12` is 27).
fn major(version: &str) -> Option<u32> {
    let upstream = version.split_once(':').map_or(version, |(_, v)| v);
    upstream.split('.').next()?.parse().ok()
}

/// The Docker engine the image has, from dpkg's status file (reading it costs nothing;
/// `dockerd --version` costs 0.3 to 1.3 s): package, version, major version.
pub fn engine_version(dpkg_status: &str) -> Option<(String, String, u32)> {
    let (pkg, version) =
        installed(dpkg_status, &["docker.io", "docker-ce", "moby-engine", "docker-engine"])?;
    let major = major(&version)?;
    Some((pkg, version, major))
}

/// containerd's version and major version from dpkg's status file (`containerd`, Debian's,
/// or `containerd.io`, Docker's): which config version it reads.
pub fn containerd_version(dpkg_status: &str) -> Option<(String, u32)> {
    let (_, version) = installed(dpkg_status, &["containerd", "containerd.io"])?;
    let major = major(&version)?;
    Some((version, major))
}

/// containerd's major version from `containerd --version` (`containerd
/// github.com/containerd/containerd/v2 v2.1.4 ...`, `containerd containerd.io 1.7.27 ...`).
pub fn containerd_version_output(text: &str) -> Option<u32> {
    let v = text.split_whitespace().nth(2)?;
    v.strip_prefix('v').unwrap_or(v).split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_from_dpkg() {
        let status = "Package: containerd\nStatus: install ok installed\nVersion: 1.7.24~ds1-6\n\n\
                      Package: docker.io\nStatus: install ok installed\nVersion: 26.1.5+dfsg1-9+deb13u1+b1\n\n\
                      Package: runc\nVersion: 1.1.15\n";
        assert_eq!(
            engine_version(status),
            Some(("docker.io".into(), "26.1.5+dfsg1-9+deb13u1+b1".into(), 26))
        );
        let ce = "Package: docker-ce\nStatus: install ok installed\nVersion: 5:27.3.1-1~debian.12~bookworm\n";
        assert_eq!(engine_version(ce).map(|e| e.2), Some(27));
        let removed = "Package: docker.io\nStatus: deinstall ok config-files\nVersion: 20.10.24\n";
        assert_eq!(engine_version(removed), None);
        assert_eq!(engine_version(""), None);
    }

    #[test]
    fn containerd_from_dpkg_or_its_version_output() {
        let sid = "Package: containerd\nStatus: install ok installed\nVersion: 2.1.4~ds1-1\n\n\
                   Package: docker.io\nStatus: install ok installed\nVersion: 28.5.2\n";
        assert_eq!(containerd_version(sid), Some(("2.1.4~ds1-1".into(), 2)));
        let ce = "Package: containerd.io\nStatus: install ok installed\nVersion: 1.7.27-1\n";
        assert_eq!(containerd_version(ce).map(|c| c.1), Some(1));
        let gone = "Package: containerd\nStatus: deinstall ok config-files\nVersion: 2.0.0\n";
        assert_eq!(containerd_version(gone), None);
        assert_eq!(containerd_version("Package: containerd-shim\nVersion: 2\n"), None);
        let v2 = "containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7193e4e490e9fbdc236c0e811ccaba3376\n";
        assert_eq!(containerd_version_output(v2), Some(2));
        let v1 = "containerd containerd.io 1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da\n";
        assert_eq!(containerd_version_output(v1), Some(1));
        assert_eq!(containerd_version_output("garbage"), None);
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;
        proptest! {
            #![proptest_config(ProptestConfig {
                cases: crate::fuzz_cases(2000), ..ProptestConfig::default()
            })]
            #[test]
            fn engine_version_never_panics(s in "(Package: docker.io\nStatus: install ok installed\nVersion: )?\\PC{0,30}") {
                let _ = engine_version(&s);
            }
        }
    }
}
