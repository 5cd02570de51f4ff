//! Parsers for `/proc/self/mountinfo` and `/proc/self/cgroup`. They take text (or a root
//! directory) rather than reading the live files, so tests feed them fixtures captured on
//! real v1, hybrid, v2 and Kubernetes hosts.

use std::path::{Path, PathBuf};

/// One line of mountinfo, with the fields dind-init needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Path inside the filesystem that is mounted here (`/docker/abc` for a bind of a cgroup).
    pub root: String,
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,nosuid,...`).
    pub mount_options: Vec<String>,
    pub fs_type: String,
    pub source: String,
    /// Superblock options (for cgroup v1: the controllers, `name=systemd`).
    pub super_options: Vec<String>,
}

impl Mount {
    pub fn read_only(&self) -> bool {
        self.mount_options.iter().any(|o| o == "ro")
    }
    #[cfg(test)]
    pub fn has_option(&self, opt: &str) -> bool {
        self.mount_options.iter().any(|o| o == opt)
    }
}

/// Decodes the octal escapes the kernel uses in mountinfo (`\040` for space, `\011`, `\012`,
/// `\134`).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let oct = &b[i + 1..i + 4];
            if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = (oct[0] - b'0') as u32 * 64
                    + (oct[1] - b'0') as u32 * 8
                    + (oct[2] - b'0') as u32;
                if v <= 255 {
                    out.push(v as u8);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses mountinfo text. Malformed lines are skipped (the kernel does not write them, but a
/// fixture or a future format must not crash an init).
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_mountinfo_line).collect()
}

fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    // 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    let (left, right) = line.split_once(" - ")?;
    let mut l = left.split(' ');
    let _id = l.next()?;
    let _parent = l.next()?;
    let _dev = l.next()?;
    let root = unescape(l.next()?);
    let mount_point = PathBuf::from(unescape(l.next()?));
    let mount_options = l.next()?.split(',').map(str::to_string).collect();
    let mut r = right.split(' ');
    let fs_type = r.next()?.to_string();
    let source = unescape(r.next().unwrap_or(""));
    let super_options =
        r.next().unwrap_or("").split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
    Some(Mount { root, mount_point, mount_options, fs_type, source, super_options })
}

/// One line of /proc/self/cgroup: `ID:CONTROLLERS:PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupEntry {
    pub id: u32,
    /// Controllers of a v1 hierarchy (`cpu`, `cpuacct`, `name=systemd`); empty for `0::`.
    pub controllers: Vec<String>,
    pub path: String,
}

impl CgroupEntry {
    /// The unified (v2) entry `0::/path`.
    pub fn is_unified(&self) -> bool {
        self.id == 0 && self.controllers.is_empty()
    }
    /// Directory name a v1 hierarchy is mounted at under /sys/fs/cgroup: `cpu,cpuacct`,
    /// `systemd` for `name=systemd`.
    pub fn mount_dir(&self) -> String {
        self.controllers
            .iter()
            .map(|c| c.strip_prefix("name=").unwrap_or(c))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Parses /proc/self/cgroup. The path may itself contain colons, so only the first two
/// separate fields.
pub fn parse_cgroup(text: &str) -> Vec<CgroupEntry> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.splitn(3, ':');
            let id = f.next()?.trim().parse().ok()?;
            let ctl = f.next()?;
            let path = f.next()?.to_string();
            let controllers =
                ctl.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
            Some(CgroupEntry { id, controllers, path })
        })
        .collect()
}

/// The cgroup layout a process sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Only the unified hierarchy exists.
    V2,
    /// v1 controllers, possibly with cgroup2 beside them (hybrid).
    V1 { unified: bool },
}

/// Tells the layout from /proc/self/cgroup: any line with controllers means v1.
pub fn layout_from_cgroup(entries: &[CgroupEntry]) -> Layout {
    let v1 = entries.iter().any(|e| !e.is_unified());
    if v1 {
        Layout::V1 { unified: entries.iter().any(CgroupEntry::is_unified) }
    } else {
        Layout::V2
    }
}

/// The process's own cgroup path, as dockerd's cgroupfs driver would see it: the unified
/// path on v2; on v1 the memory controller's path (the limit that matters most; Docker and
/// Kubernetes put every controller at the same path anyway), else the path most
/// controllers agree on, ignoring named hierarchies.
pub fn own_cgroup_path(entries: &[CgroupEntry]) -> Option<String> {
    match layout_from_cgroup(entries) {
        Layout::V2 => entries.iter().find(|e| e.is_unified()).map(|e| e.path.clone()),
        Layout::V1 { .. } => {
            if let Some(m) = entries.iter().find(|e| e.controllers.iter().any(|c| c == "memory")) {
                return Some(m.path.clone());
            }
            let real: Vec<&CgroupEntry> = entries
                .iter()
                .filter(|e| {
                    !e.is_unified() && e.controllers.iter().any(|c| !c.starts_with("name="))
                })
                .collect();
            let mut best: Option<(&str, usize, bool)> = None;
            for e in &real {
                let count = real.iter().filter(|o| o.path == e.path).count();
                let mem = e.controllers.iter().any(|c| c == "memory");
                let better = match best {
                    None => true,
                    Some((_, n, m)) => count > n || (count == n && mem && !m),
                };
                if better {
                    best = Some((&e.path, count, mem));
                }
            }
            best.map(|(p, _, _)| p.to_string())
        }
    }
}

/// Maps a cgroup path (as in /proc/self/cgroup) to its directory below a mount of that
/// hierarchy whose mountinfo root is `mount_root`. `None` when the path is outside what the
/// mount shows.
pub fn path_under_mount(
    mount_point: &Path,
    mount_root: &str,
    cgroup_path: &str,
) -> Option<PathBuf> {
    let root = mount_root.trim_end_matches('/');
    let rel = if root.is_empty() {
        cgroup_path.trim_start_matches('/')
    } else if cgroup_path == root {
        ""
    } else {
        cgroup_path.strip_prefix(root)?.strip_prefix('/')?
    };
    if rel.split('/').any(|c| c == "..") {
        return None;
    }
    Some(if rel.is_empty() { mount_point.to_path_buf() } else { mount_point.join(rel) })
}

/// A cgroup path as seen through a mount whose mountinfo root is `mount_root`: runc joins
/// absolute cgroup paths onto the mount point, so a bind of `/docker/x` at the mount point
/// makes `/docker/x` appear as `/`. A path outside the mount is returned unchanged.
pub fn visible_path(own: &str, mount_root: &str) -> String {
    let root = mount_root.trim_end_matches('/');
    if root.is_empty() {
        return own.to_string();
    }
    if own == root {
        return "/".to_string();
    }
    match own.strip_prefix(root) {
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => own.to_string(),
    }
}

/// The cgroup parent dockerd should use so inner containers land below `own`: `None` when
/// the default `/docker` already is below it (own is the root of the namespace).
pub fn nested_parent(own: &str) -> Option<String> {
    let own = own.trim_end_matches('/');
    if own.is_empty() {
        None
    } else {
        Some(format!("{own}/docker"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured on this project's hybrid test host (systemd-less VM).
    const HYBRID_HOST_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_HOST_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
4:memory:/process_api/c783ddf210677ce56eed8cfc1c13a9a4
2:cpuacct:/
1:cpu:/
0::/
";
    // A non-privileged container on a Docker v1 host: read-only binds of its own cgroup.
    const V1_CONTAINER_MOUNTINFO: &str = "\
1290 1281 0:160 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755
1291 1290 0:30 /docker/0123abcd /sys/fs/cgroup/systemd ro,nosuid,nodev,noexec,relatime master:11 - cgroup cgroup rw,xattr,name=systemd
1292 1290 0:33 /docker/0123abcd /sys/fs/cgroup/cpu,cpuacct ro,nosuid,nodev,noexec,relatime master:16 - cgroup cgroup rw,cpu,cpuacct
1293 1290 0:34 /docker/0123abcd /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime master:17 - cgroup cgroup rw,memory
1294 1290 0:35 /docker/0123abcd /sys/fs/cgroup/net_cls,net_prio ro,nosuid,nodev,noexec,relatime master:18 - cgroup cgroup rw,net_cls,net_prio
";
    const V1_CONTAINER_CGROUP: &str = "\
12:net_cls,net_prio:/docker/0123abcd
11:memory:/docker/0123abcd
4:cpu,cpuacct:/docker/0123abcd
1:name=systemd:/docker/0123abcd
";
    // cgroup v2, private namespace (Docker's default on v2).
    const V2_PRIVATE_MOUNTINFO: &str = "\
700 690 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate,memory_recursiveprot
";
    const V2_PRIVATE_CGROUP: &str = "0::/\n";
    // cgroup v2 with --cgroupns=host: the host's tree is mounted, own path is deep.
    const V2_HOST_MOUNTINFO: &str = "\
700 690 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate
";
    const V2_HOST_CGROUP: &str = "0::/system.slice/docker-5f1c2e.scope\n";
    // Kubernetes (containerd, systemd driver) pod on cgroup v2 with host cgroupns.
    const K8S_CGROUP: &str = "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b.slice/cri-containerd-9f8e.scope\n";
    // Kubernetes cgroupfs driver on v1.
    const K8S_V1_CGROUP: &str = "\
11:memory:/kubepods/burstable/pod1a2b/9f8e
10:pids:/kubepods/burstable/pod1a2b/9f8e
3:cpu,cpuacct:/kubepods/burstable/pod1a2b/9f8e
1:name=systemd:/kubepods/burstable/pod1a2b/9f8e
0::/
";

    #[test]
    fn mountinfo_hybrid_host() {
        let m = parse_mountinfo(HYBRID_HOST_MOUNTINFO);
        assert_eq!(m.len(), 6);
        assert_eq!(m[0].fs_type, "tmpfs");
        assert_eq!(m[1].super_options, vec!["rw", "cpu"]);
        assert_eq!(m[4].super_options, vec!["rw", "name=systemd"]);
        assert_eq!(m[5].fs_type, "cgroup2");
        assert_eq!(m[5].mount_point, PathBuf::from("/sys/fs/cgroup/unified"));
        assert!(!m[5].read_only());
    }

    #[test]
    fn mountinfo_read_only_container_binds() {
        let m = parse_mountinfo(V1_CONTAINER_MOUNTINFO);
        assert_eq!(m.len(), 5);
        assert!(m.iter().all(Mount::read_only));
        assert_eq!(m[2].root, "/docker/0123abcd");
        assert_eq!(m[2].mount_point, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert!(m[2].has_option("nosuid"));
    }

    #[test]
    fn mountinfo_escapes_and_garbage() {
        let text = "55 1 0:40 / /mnt/with\\040space\\011tab rw - tmpfs my\\134src rw\n\
                    garbage line without separator\n\
                    1 2 3\n\
                    56 1 0:41 /a\\0 /mnt/x rw - ext4 /dev/sda\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].mount_point, PathBuf::from("/mnt/with space\ttab"));
        assert_eq!(m[0].source, "my\\src");
        // A backslash not followed by three octal digits is kept as is.
        assert_eq!(m[1].root, "/a\\0");
        assert!(m[1].super_options.is_empty());
    }

    #[test]
    fn cgroup_hybrid_host() {
        let c = parse_cgroup(HYBRID_HOST_CGROUP);
        assert_eq!(c.len(), 6);
        assert_eq!(layout_from_cgroup(&c), Layout::V1 { unified: true });
        assert_eq!(c[0].mount_dir(), "systemd");
        // Only memory is nested here; its limit is the one that must hold.
        assert_eq!(
            own_cgroup_path(&c).as_deref(),
            Some("/process_api/c783ddf210677ce56eed8cfc1c13a9a4")
        );
        // Without a memory controller, the majority wins.
        let c = parse_cgroup("3:cpu:/a\n2:pids:/a\n1:cpuset:/\n0::/\n");
        assert_eq!(own_cgroup_path(&c).as_deref(), Some("/a"));
    }

    #[test]
    fn cgroup_v1_container_with_comounts() {
        let c = parse_cgroup(V1_CONTAINER_CGROUP);
        assert_eq!(layout_from_cgroup(&c), Layout::V1 { unified: false });
        assert_eq!(c[0].mount_dir(), "net_cls,net_prio");
        assert_eq!(c[2].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(own_cgroup_path(&c).as_deref(), Some("/docker/0123abcd"));
        assert_eq!(nested_parent("/docker/0123abcd").as_deref(), Some("/docker/0123abcd/docker"));
    }

    #[test]
    fn cgroup_v2_private_and_host() {
        let c = parse_cgroup(V2_PRIVATE_CGROUP);
        assert_eq!(layout_from_cgroup(&c), Layout::V2);
        assert_eq!(own_cgroup_path(&c).as_deref(), Some("/"));
        assert_eq!(nested_parent("/"), None);
        let c = parse_cgroup(V2_HOST_CGROUP);
        assert_eq!(own_cgroup_path(&c).as_deref(), Some("/system.slice/docker-5f1c2e.scope"));
        let m = parse_mountinfo(V2_HOST_MOUNTINFO);
        assert_eq!(
            path_under_mount(&m[0].mount_point, &m[0].root, "/system.slice/docker-5f1c2e.scope"),
            Some(PathBuf::from("/sys/fs/cgroup/system.slice/docker-5f1c2e.scope"))
        );
        let m = parse_mountinfo(V2_PRIVATE_MOUNTINFO);
        assert_eq!(
            path_under_mount(&m[0].mount_point, &m[0].root, "/"),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
    }

    #[test]
    fn kubernetes_paths() {
        let c = parse_cgroup(K8S_CGROUP);
        let own = own_cgroup_path(&c).unwrap();
        assert!(own.ends_with("cri-containerd-9f8e.scope"));
        assert_eq!(nested_parent(&own).unwrap(), format!("{own}/docker"));
        let c = parse_cgroup(K8S_V1_CGROUP);
        assert_eq!(layout_from_cgroup(&c), Layout::V1 { unified: true });
        assert_eq!(own_cgroup_path(&c).as_deref(), Some("/kubepods/burstable/pod1a2b/9f8e"));
    }

    #[test]
    fn colons_in_cgroup_paths() {
        let c = parse_cgroup(
            "0::/system.slice/containerd.service/kubepods-pod1:cri-containerd:abc\n5:pids:/a:b:c\n",
        );
        assert_eq!(c[0].path, "/system.slice/containerd.service/kubepods-pod1:cri-containerd:abc");
        assert_eq!(c[1].path, "/a:b:c");
        assert_eq!(c[1].controllers, vec!["pids"]);
    }

    #[test]
    fn visible_paths() {
        // Docker binds the container's own cgroup at /sys/fs/cgroup/<controller>.
        assert_eq!(visible_path("/docker/abc", "/docker/abc"), "/");
        assert_eq!(nested_parent(&visible_path("/docker/abc", "/docker/abc")), None);
        // A fresh mount shows the whole hierarchy.
        assert_eq!(visible_path("/docker/abc", "/"), "/docker/abc");
        assert_eq!(visible_path("/docker/abc/sub", "/docker/abc"), "/sub");
        assert_eq!(visible_path("/docker/abcd", "/docker/abc"), "/docker/abcd");
    }

    #[test]
    fn paths_under_bind_mounts() {
        let mp = Path::new("/sys/fs/cgroup/memory");
        assert_eq!(path_under_mount(mp, "/docker/x", "/docker/x"), Some(mp.to_path_buf()));
        assert_eq!(path_under_mount(mp, "/docker/x", "/docker/x/init"), Some(mp.join("init")));
        assert_eq!(path_under_mount(mp, "/docker/x", "/docker/xy"), None);
        assert_eq!(path_under_mount(mp, "/docker/x", "/other"), None);
        assert_eq!(path_under_mount(mp, "/", "/a/../b"), None);
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;
        proptest! {
            #![proptest_config(ProptestConfig { cases: crate::fuzz_cases(3000), ..ProptestConfig::default() })]
            #[test]
            fn mountinfo_never_panics(s in "([0-9 /a-z\\\\,=:-]{0,40}\n){0,4}") { let _ = parse_mountinfo(&s); }
            #[test]
            fn mountinfo_any_text(s in "\\PC{0,200}") { let _ = parse_mountinfo(&s); }
            #[test]
            fn cgroup_never_panics(s in "\\PC{0,200}") {
                let c = parse_cgroup(&s);
                let _ = layout_from_cgroup(&c);
                if let Some(p) = own_cgroup_path(&c) { let _ = nested_parent(&p); }
            }
            #[test]
            fn unescape_never_panics(s in "[\\\\0-9a]{0,12}") { let _ = unescape(&s); }
            #[test]
            fn under_mount_never_panics(root in "[/a-z.]{0,10}", p in "[/a-z.]{0,10}") {
                let _ = path_under_mount(Path::new("/m"), &root, &p);
            }
        }
    }
}
