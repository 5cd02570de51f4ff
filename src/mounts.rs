//! The mounts moby's `hack/dind` makes besides cgroups: securityfs (so dockerd can load
//! AppArmor profiles for inner containers) and a shared root (so volume mounts with
//! propagation work inside). securityfs only when the image can load profiles: with
//! securityfs mounted on an AppArmor host, dockerd insists on loading its profile and every
//! inner container fails without apparmor_parser (found by the cgroup v2 lab).

use nix::mount::{mount, MsFlags};
use std::path::Path;

pub fn prepare() {
    let sec = Path::new("/sys/kernel/security");
    let parser = ["/sbin/apparmor_parser", "/usr/sbin/apparmor_parser"]
        .iter()
        .any(|p| Path::new(p).exists());
    let mounted = crate::cgroup::read_mounts()
        .map(|m| m.iter().any(|x| x.mount_point == sec))
        .unwrap_or(true);
    if !mounted && sec.is_dir() {
        if parser {
            match mount(Some("securityfs"), sec, Some("securityfs"), MsFlags::empty(), None::<&str>)
            {
                Ok(()) => log::info!("mounts: mounted securityfs on {}", sec.display()),
                Err(e) => log::warn!(
                    "mounts: cannot mount securityfs on {}: {} (AppArmor profiles for inner \
                        containers may fail)",
                    sec.display(),
                    e.desc()
                ),
            }
        } else {
            log::info!(
                "mounts: not mounting securityfs: the image has no apparmor_parser (package \
                 apparmor), so inner containers run without AppArmor profiles; install apparmor \
                 in the image to have them"
            );
        }
    } else if mounted && !parser && sec.join("apparmor").exists() {
        log::warn!(
            "mounts: AppArmor is enabled and {} is mounted, but the image has no apparmor_parser: \
             dockerd will fail to start containers (\"apparmor_parser: executable file not \
             found\"); install the apparmor package in the image",
            sec.display()
        );
    }
    if let Err(e) =
        mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_SHARED, None::<&str>)
    {
        log::warn!(
            "mounts: cannot make / rshared: {} (volume mounts with propagation may fail)",
            e.desc()
        );
    }
}
