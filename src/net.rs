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
    let mtu: u32 = std::fs::read_to_string(sys_class_net.join(&iface).join("mtu"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (mtu < 1500).then_some((iface, mtu))
}

/// Which backend to use, and why, as docker:dind decides it: legacy when legacy tables
/// already exist in this network namespace (the outer daemon writes its DNS rules there on
/// user-defined networks: docker-library/docker#467), else nft when the kernel answers
/// nf_tables requests, else legacy when ip_tables is loaded.
pub fn detect_backend(
    proc_net: &Path,
    sys_module: &Path,
    nft_answers: impl FnOnce() -> bool,
) -> Option<(Iptables, &'static str)> {
    let legacy_tables = ["ip_tables_names", "ip6_tables_names", "arp_tables_names"]
        .iter()
        .any(|f| std::fs::read_to_string(proc_net.join(f)).is_ok_and(|t| !t.trim().is_empty()));
    if legacy_tables {
        Some((Iptables::Legacy, "legacy tables already exist in this network namespace"))
    } else if sys_module.join("nf_tables").exists() || nft_answers() {
        Some((Iptables::Nft, "the kernel answers nf_tables requests"))
    } else if sys_module.join("ip_tables").exists() {
        Some((Iptables::Legacy, "the kernel has ip_tables loaded and no nf_tables"))
    } else {
        None
    }
}

/// Asks the kernel over netlink for the nf_tables generation (`NFT_MSG_GETGEN`), which is
/// what `iptables-nft` does first. nf_tables built in, loaded, or auto-loadable answers; a
/// kernel without it (or with the module blacklisted) returns an error. No shelling out.
pub fn nft_answers() -> bool {
    use nix::sys::socket::{recv, sendto, setsockopt, socket, sockopt, AddressFamily, MsgFlags};
    use nix::sys::socket::{NetlinkAddr, SockFlag, SockProtocol, SockType};
    const NFNL_SUBSYS_NFTABLES: u16 = 10;
    const NFT_MSG_GETGEN: u16 = 16;
    const NFT_MSG_NEWGEN: u16 = 15;
    let Ok(fd) = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkNetFilter,
    ) else {
        return false;
    };
    if setsockopt(&fd, sockopt::ReceiveTimeout, &nix::sys::time::TimeVal::new(1, 0)).is_err() {
        return false;
    }
    // nlmsghdr (16 bytes) + nfgenmsg (4 bytes: family, version, res_id).
    let mut req = [0u8; 20];
    req[0..4].copy_from_slice(&20u32.to_ne_bytes());
    req[4..6].copy_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN).to_ne_bytes());
    req[6..8].copy_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16).to_ne_bytes());
    req[8..12].copy_from_slice(&1u32.to_ne_bytes());
    req[16] = libc::AF_UNSPEC as u8;
    let kernel = NetlinkAddr::new(0, 0);
    if sendto(std::os::fd::AsRawFd::as_raw_fd(&fd), &req, &kernel, MsgFlags::empty())
        != Ok(req.len())
    {
        return false;
    }
    let mut buf = [0u8; 4096];
    match recv(std::os::fd::AsRawFd::as_raw_fd(&fd), &mut buf, MsgFlags::empty()) {
        Ok(n) => parse_nft_reply(&buf[..n], (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN),
        Err(_) => false,
    }
}

/// True when the first netlink message is the expected reply (not an error).
pub fn parse_nft_reply(buf: &[u8], want: u16) -> bool {
    if buf.len() < 16 {
        return false;
    }
    let ty = u16::from_ne_bytes([buf[4], buf[5]]);
    if ty == libc::NLMSG_ERROR as u16 {
        // An error message with code 0 is a bare ACK: nf_tables is there.
        return buf.len() >= 20 && i32::from_ne_bytes([buf[16], buf[17], buf[18], buf[19]]) == 0;
    }
    ty == want
}

const TOOLS: &[&str] = &[
    "iptables",
    "iptables-save",
    "iptables-restore",
    "ip6tables",
    "ip6tables-save",
    "ip6tables-restore",
];
const SBIN: &[&str] = &["/usr/sbin", "/sbin", "/usr/local/sbin"];

fn find_variant(tool: &str, backend: &str) -> Option<PathBuf> {
    SBIN.iter().map(|d| Path::new(d).join(format!("{tool}-{backend}"))).find(|p| p.exists())
}

/// Where [`prepare_backend`] puts its links: `/run/dind-init/iptables` as root; a rootless
/// dind-init (uid 1000, docker:dind-rootless's shape) cannot write `/run`, so there its
/// `XDG_RUNTIME_DIR` (when it exists: otherwise the rootless pre-checks say what is missing).
pub fn backend_dir(root: bool, rootless_xdg: Option<&Path>) -> PathBuf {
    match rootless_xdg {
        Some(xdg) if !root && xdg.is_dir() => xdg.join("dind-init-iptables"),
        _ => PathBuf::from("/run/dind-init/iptables"),
    }
}

/// Puts the chosen backend first in dockerd's PATH: a directory of symlinks
/// (`iptables -> /usr/sbin/iptables-legacy`, ...). Returns the directory, or None when the
/// image has no such variants (then dockerd uses whatever `iptables` is).
pub fn prepare_backend(choice: Iptables, dir: &Path) -> Option<PathBuf> {
    let (backend, why) = match choice {
        Iptables::Off => return None,
        Iptables::Nft => ("nft", "requested"),
        Iptables::Legacy => ("legacy", "requested"),
        Iptables::Auto => {
            match detect_backend(Path::new("/proc/net"), Path::new("/sys/module"), nft_answers) {
                Some((Iptables::Nft, why)) => ("nft", why),
                Some((_, why)) => ("legacy", why),
                None => {
                    log::info!(
                        "iptables: kernel backend unknown (neither nf_tables nor ip_tables \
                        loaded): using the image's default"
                    );
                    return None;
                }
            }
        }
    };
    if find_variant("iptables", backend).is_none() {
        log::info!(
            "iptables: {backend} backend wanted ({why}) but the image has no \
            iptables-{backend}: using the image's default"
        );
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
    log::info!(
        "iptables: using the {backend} backend ({why}); override with --iptables=nft|legacy|off"
    );
    Some(dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_dir_is_writable_for_its_user() {
        let xdg = std::env::temp_dir();
        let run = Path::new("/run/dind-init/iptables");
        assert_eq!(backend_dir(true, None), run);
        // Shape b: dind-init is root (the user's XDG_RUNTIME_DIR is made later, as root).
        assert_eq!(backend_dir(true, Some(&xdg)), run);
        // Shape a: dind-init is the user.
        assert_eq!(backend_dir(false, Some(&xdg)), xdg.join("dind-init-iptables"));
        assert_eq!(backend_dir(false, Some(Path::new("/nonexistent/run/user/1000"))), run);
        assert_eq!(backend_dir(false, None), run);
    }

    #[test]
    fn nft_replies() {
        let mut newgen = [0u8; 20];
        newgen[4..6].copy_from_slice(&((10u16 << 8) | 15).to_ne_bytes());
        assert!(parse_nft_reply(&newgen, (10 << 8) | 15));
        let mut err = [0u8; 20];
        err[4..6].copy_from_slice(&(libc::NLMSG_ERROR as u16).to_ne_bytes());
        err[16..20].copy_from_slice(&(-libc::EOPNOTSUPP).to_ne_bytes());
        assert!(!parse_nft_reply(&err, (10 << 8) | 15));
        err[16..20].copy_from_slice(&0i32.to_ne_bytes());
        assert!(parse_nft_reply(&err, (10 << 8) | 15));
        assert!(!parse_nft_reply(&[0u8; 8], 1));
    }

    #[test]
    fn default_route() {
        let route =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth1\t0011A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                     eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(default_route_interface(route).as_deref(), Some("eth0"));
        assert_eq!(default_route_interface("Iface\tDestination\n"), None);
        assert_eq!(default_route_interface(""), None);
    }

    #[test]
    fn mtu_from_fixture() {
        let t = crate::sys::TempDir::new("mtu");
        let d = t.path();
        std::fs::create_dir_all(d.join("net/eth0")).unwrap();
        std::fs::write(d.join("route"), "Iface\tDestination\tGateway\neth0\t00000000\t0100A8C0\n")
            .unwrap();
        std::fs::write(d.join("net/eth0/mtu"), "1450\n").unwrap();
        assert_eq!(detect_mtu(&d.join("route"), &d.join("net")), Some(("eth0".into(), 1450)));
        std::fs::write(d.join("net/eth0/mtu"), "1500\n").unwrap();
        assert_eq!(detect_mtu(&d.join("route"), &d.join("net")), None);
    }

    #[test]
    fn backend_like_docker_dind() {
        let d = crate::sys::TempDir::new("mod");
        let (net, m) = (d.path().join("net"), d.path().join("module"));
        std::fs::create_dir_all(&net).unwrap();
        std::fs::create_dir_all(&m).unwrap();
        let pick = |nft| detect_backend(&net, &m, || nft).map(|(b, _)| b);
        assert_eq!(pick(false), None);
        assert_eq!(pick(true), Some(Iptables::Nft));
        std::fs::create_dir_all(m.join("ip_tables")).unwrap();
        assert_eq!(pick(false), Some(Iptables::Legacy));
        std::fs::create_dir_all(m.join("nf_tables")).unwrap();
        assert_eq!(pick(false), Some(Iptables::Nft));
        // Legacy tables in use (docker-library/docker#467): legacy, whatever nf_tables says.
        std::fs::write(net.join("ip_tables_names"), "").unwrap();
        assert_eq!(pick(true), Some(Iptables::Nft), "an empty list is no table");
        std::fs::write(net.join("ip_tables_names"), "nat\nfilter\n").unwrap();
        assert_eq!(pick(true), Some(Iptables::Legacy));
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;
        proptest! {
            #![proptest_config(ProptestConfig {
                cases: crate::fuzz_cases(2000), ..ProptestConfig::default()
            })]
            #[test]
            fn route_never_panics(s in "\\PC{0,120}") { let _ = default_route_interface(&s); }
        }
    }
}
