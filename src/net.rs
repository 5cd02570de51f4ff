//! Network settings the inner dockerd gets wrong on its own: the MTU of overlay networks
//! (Kubernetes CNIs, VPNs) that are smaller than dockerd's default 1500, and the iptables
//! backend (nft or legacy) that must match what the kernel has in use.

use crate::config::Iptables;
use std::path::{Path, PathBuf};

/// The interface of the default route, from /proc/net/route text.
pub fn default_route_interface(route: &str) -> Option<String> {
    route.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 2 && f[1] == "00000000").then(|| f[0].to_string())
    })
}

/// The MTU to pass to dockerd (`None` when 1500 or more, or unknown).
pub fn detect_mtu(proc_net_route: &Path, sys_class_net: &Path) -> Option<(String, u32)> {
    let iface = default_route_interface(&std::fs::read_to_string(proc_net_route).ok()?)?;
    let mtu: u32 = std::fs::read_to_string(sys_class_net.join(&iface).join("mtu")).ok()?.trim().parse().ok()?;
    (mtu < 1500).then_some((iface, mtu))
}

/// Which backend the kernel uses: nf_tables loaded means nft; only ip_tables means legacy.
pub fn detect_backend(sys_module: &Path) -> Option<Iptables> {
    if sys_module.join("nf_tables").exists() {
        Some(Iptables::Nft)
    } else if sys_module.join("ip_tables").exists() {
        Some(Iptables::Legacy)
    } else {
        None
    }
}

const TOOLS: &[&str] = &["iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"];
const SBIN: &[&str] = &["/usr/sbin", "/sbin", "/usr/local/sbin"];

fn find_variant(tool: &str, backend: &str) -> Option<PathBuf> {
    SBIN.iter().map(|d| Path::new(d).join(format!("{tool}-{backend}"))).find(|p| p.exists())
}

/// Puts the chosen backend first in dockerd's PATH: a directory of symlinks
/// (`iptables -> /usr/sbin/iptables-legacy`, ...). Returns the directory, or None when the
/// image has no such variants (then dockerd uses whatever `iptables` is).
pub fn prepare_backend(choice: Iptables, dir: &Path) -> Option<PathBuf> {
    let (backend, why) = match choice {
        Iptables::Off => return None,
        Iptables::Nft => ("nft", "requested"),
        Iptables::Legacy => ("legacy", "requested"),
        Iptables::Auto => match detect_backend(Path::new("/sys/module")) {
            Some(Iptables::Nft) => ("nft", "the kernel has nf_tables loaded"),
            Some(Iptables::Legacy) => ("legacy", "the kernel has ip_tables loaded and no nf_tables"),
            _ => {
                log::info!("iptables: kernel backend unknown (neither nf_tables nor ip_tables loaded): using the image's default");
                return None;
            }
        },
    };
    if find_variant("iptables", backend).is_none() {
        log::info!("iptables: {backend} backend wanted ({why}) but the image has no iptables-{backend}: using the image's default");
        return None;
    }
    if let Err(e) = std::fs::create_dir_all(dir) {
        log::warn!("iptables: cannot create {}: {e}", dir.display());
        return None;
    }
    for tool in TOOLS {
        if let Some(target) = find_variant(tool, backend) {
            let link = dir.join(tool);
            let _ = std::fs::remove_file(&link);
            if let Err(e) = std::os::unix::fs::symlink(&target, &link) {
                log::warn!("iptables: cannot link {} -> {}: {e}", link.display(), target.display());
                return None;
            }
        }
    }
    log::info!("iptables: using the {backend} backend ({why}); override with --iptables=nft|legacy|off");
    Some(dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_route() {
        let route = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth1\t0011A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                     eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(default_route_interface(route).as_deref(), Some("eth0"));
        assert_eq!(default_route_interface("Iface\tDestination\n"), None);
        assert_eq!(default_route_interface(""), None);
    }

    #[test]
    fn mtu_from_fixture() {
        let d = std::env::temp_dir().join(format!("dind-init-mtu-{}", std::process::id()));
        std::fs::create_dir_all(d.join("net/eth0")).unwrap();
        std::fs::write(d.join("route"), "Iface\tDestination\tGateway\neth0\t00000000\t0100A8C0\n").unwrap();
        std::fs::write(d.join("net/eth0/mtu"), "1450\n").unwrap();
        assert_eq!(detect_mtu(&d.join("route"), &d.join("net")), Some(("eth0".into(), 1450)));
        std::fs::write(d.join("net/eth0/mtu"), "1500\n").unwrap();
        assert_eq!(detect_mtu(&d.join("route"), &d.join("net")), None);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn backend_from_modules() {
        let d = std::env::temp_dir().join(format!("dind-init-mod-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        assert_eq!(detect_backend(&d), None);
        std::fs::create_dir_all(d.join("ip_tables")).unwrap();
        assert_eq!(detect_backend(&d), Some(Iptables::Legacy));
        std::fs::create_dir_all(d.join("nf_tables")).unwrap();
        assert_eq!(detect_backend(&d), Some(Iptables::Nft));
        std::fs::remove_dir_all(&d).unwrap();
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;
        proptest! {
            #![proptest_config(ProptestConfig { cases: crate::fuzz_cases(2000), ..ProptestConfig::default() })]
            #[test]
            fn route_never_panics(s in "\\PC{0,120}") { let _ = default_route_interface(&s); }
        }
    }
}
