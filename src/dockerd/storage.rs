//! The storage check: a data root on overlayfs (the container's own filesystem) cannot hold
//! overlay2 or the containerd image store's snapshots; dind-init warns before dockerd starts.

use super::daemon_json::DaemonJson;
use super::plan::Plan;

/// Whether dockerd stores images in containerd (`containerd-snapshotter`): set by flag or in
/// daemon.json, or the engine's default from Docker 29 on.
pub fn containerd_image_store(
    args: &[String],
    daemon_json: &DaemonJson,
    engine_major: Option<u32>,
) -> bool {
    let flags = super::plan::flag_values(args, "--feature", None);
    if let Some(v) = flags.iter().rev().find_map(|f| f.strip_prefix("containerd-snapshotter")) {
        return v.is_empty() || v == "=true";
    }
    daemon_json
        .feature("containerd-snapshotter")
        .unwrap_or_else(|| engine_major.is_some_and(|m| m >= 29))
}

/// Warns when the data root sits on overlayfs, where dockerd cannot stack overlay2: with the
/// classic image store it falls back to the slow vfs driver; with the containerd image store
/// there is no fallback and every `docker run` fails.
pub fn check_storage(plan: &Plan, daemon_json: &DaemonJson, engine_major: Option<u32>) {
    let chosen = super::plan::has_flag(&plan.args, "--storage-driver")
        || super::plan::has_flag(&plan.args, "-s")
        || daemon_json.has("storage-driver");
    if chosen || crate::sys::fs_magic(&plan.data_root) != Some(crate::sys::OVERLAYFS_SUPER_MAGIC) {
        return;
    }
    let d = plan.data_root.display();
    let fix = format!(
        "mount a volume at {d} (docker run -v dind-data:{d} ..., or an emptyDir in Kubernetes)"
    );
    if containerd_image_store(&plan.args, daemon_json, engine_major) {
        log::warn!(
            "storage: {d} is on overlayfs (the container's own filesystem) and dockerd keeps its \
             images in containerd (containerd-snapshotter), whose overlayfs snapshots cannot stack \
             on it: every docker run will fail (\"failed to mount ... invalid argument\"). Fix: \
             {fix}; or DOCKER_DAEMON_ARGS=--storage-driver=native (slow: full copies)"
        );
    } else {
        log::warn!(
            "storage: {d} is on overlayfs (the container's own filesystem): dockerd cannot stack \
             overlay2 on it and will fall back to the slow vfs driver (every layer a full copy). \
             Fix: {fix}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containerd_image_store_by_flag_file_or_version() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let none = DaemonJson::default();
        assert!(!containerd_image_store(&a(&[]), &none, Some(28)));
        assert!(containerd_image_store(&a(&[]), &none, Some(29)));
        assert!(containerd_image_store(
            &a(&["--feature", "containerd-snapshotter"]),
            &none,
            Some(26)
        ));
        assert!(!containerd_image_store(
            &a(&["--feature=containerd-snapshotter=false"]),
            &none,
            Some(29)
        ));
        let j = |t: &str| DaemonJson::parse(t).unwrap();
        let on = j(r#"{"features": {"containerd-snapshotter": true}}"#);
        let off = j(r#"{"features": {"containerd-snapshotter": false}}"#);
        assert!(containerd_image_store(&a(&[]), &on, Some(26)));
        assert!(!containerd_image_store(&a(&[]), &off, Some(29)));
    }

    #[test]
    fn containerd_snapshotter_counts_only_in_the_features_object_last_one_winning() {
        let a: Vec<String> = Vec::new();
        let j = |t: &str| DaemonJson::parse(t).unwrap();
        for text in [
            // In a string, in another object, at the top level: not dockerd's feature.
            r#"{"labels": ["\"containerd-snapshotter\": true"]}"#,
            r#"{"log-opts": {"containerd-snapshotter": "true"}}"#,
            r#"{"containerd-snapshotter": true}"#,
            // Go's encoding/json: the last of duplicate keys wins.
            r#"{"features": {"containerd-snapshotter": true, "containerd-snapshotter": false}}"#,
            r#"{"features": {"containerd-snapshotter": true}, "features": {}}"#,
        ] {
            assert!(!containerd_image_store(&a, &j(text), Some(28)), "{text}");
        }
        let last_on = r#"{"features": {"containerd-snapshotter": false}, "features": {"containerd-snapshotter": true}}"#;
        assert!(containerd_image_store(&a, &j(last_on), Some(28)));
    }
}
