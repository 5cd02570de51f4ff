//! dockerd's config file (`/etc/docker/daemon.json`, or `--config-file`), read as JSON the way
//! dockerd reads it, so that dind-init adds a flag only where the user did not set the same
//! thing in the file (dockerd refuses a setting given both ways).
//!
//! What counts is what dockerd sees (moby's `daemon/config.getConflictFreeConfiguration`):
//! - only the top-level keys of the object, matched exactly (a key elsewhere, inside a string or
//!   a nested object, is not a setting; dockerd refuses unknown keys, so `"Hosts"` is not
//!   `hosts`), plus the `features` object where a feature is needed;
//! - of duplicate keys the last wins, as in Go's `encoding/json` (serde_json's map keeps the
//!   last too: `duplicate_keys_keep_the_last_as_go_does` proves it);
//! - a missing file, or one of blanks only, is an empty configuration (dockerd trims blanks and
//!   takes an empty file as no settings);
//! - a file that exists but cannot be read or parsed is an error that names it, with the parser's
//!   line and column: dockerd itself would refuse to start with it, and an empty configuration in
//!   its place would make dind-init add flags on guesses (exit 125, as dockerd's failure is).
//!
//! Invalid UTF-8 is read as Go reads it, with U+FFFD in its place.

use crate::error::{Error, PathError, Result};
use serde_json::{Map, Value};
use std::path::Path;

/// The top-level settings of a daemon.json.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DaemonJson {
    top: Map<String, Value>,
}

impl DaemonJson {
    /// Parses the text of a daemon.json; the error is the parser's message with its line and
    /// column (`expected ... at line 3 column 5`).
    pub fn parse(text: &str) -> std::result::Result<DaemonJson, String> {
        if text.trim().is_empty() {
            return Ok(DaemonJson::default());
        }
        match serde_json::from_str::<Value>(text).map_err(|e| e.to_string())? {
            Value::Object(top) => Ok(DaemonJson { top }),
            other => Err(format!("the top level is {}, not an object", kind(&other))),
        }
    }

    /// The file at `path`: missing is empty; unreadable or malformed is an error naming it.
    pub fn load(path: &Path) -> Result<DaemonJson> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(PathError::new("read dockerd's config file", path, e).into()),
        };
        Self::parse(&String::from_utf8_lossy(&bytes)).map_err(|e| {
            Error::Setup(format!(
                "dockerd's config file {} is not valid JSON: {e} (dockerd would refuse to start \
                 with it; fix or remove it)",
                path.display()
            ))
        })
    }

    /// A top-level setting: a string, the strings of an array (numbers and booleans in it as
    /// their JSON text), or the JSON text of a number or boolean; an object or `null` is set
    /// with no values. `None` when the key is not there.
    pub fn value(&self, key: &str) -> Option<Vec<String>> {
        self.top.get(key).map(|v| match v {
            Value::Array(items) => items.iter().filter_map(scalar).collect(),
            other => scalar(other).into_iter().collect(),
        })
    }

    /// Whether the top-level key is there at all.
    pub fn has(&self, key: &str) -> bool {
        self.top.contains_key(key)
    }

    /// A boolean of the `features` object (`{"features": {"containerd-snapshotter": true}}`).
    pub fn feature(&self, name: &str) -> Option<bool> {
        self.top.get("features")?.as_object()?.get(name)?.as_bool()
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(_) | Value::Number(_) => Some(v.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(text: &str) -> DaemonJson {
        DaemonJson::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn top_level_values_as_strings() {
        let d = j(r#"{"hosts": ["unix:///x.sock", "tcp://0.0.0.0:1"], "mtu": 1400,
                     "cgroup-parent": "/p", "debug": true, "log-opts": {"max-size": "1m"},
                     "pidfile": null, "x": [1, false, "s", {"a": 1}, [2]]}"#);
        assert_eq!(d.value("hosts").unwrap(), ["unix:///x.sock", "tcp://0.0.0.0:1"]);
        assert_eq!(d.value("mtu").unwrap(), ["1400"]);
        assert_eq!(d.value("cgroup-parent").unwrap(), ["/p"]);
        assert_eq!(d.value("debug").unwrap(), ["true"]);
        assert_eq!(d.value("log-opts").unwrap(), Vec::<String>::new());
        assert_eq!(d.value("pidfile").unwrap(), Vec::<String>::new(), "null is set, no value");
        assert_eq!(d.value("x").unwrap(), ["1", "false", "s"]);
        assert!(d.has("pidfile") && !d.has("data-root"));
        assert_eq!(d.value("data-root"), None);
        // Escapes are decoded.
        assert_eq!(j(r#"{"data-root": "/a\"b\u0041"}"#).value("data-root").unwrap(), ["/a\"bA"]);
    }

    #[test]
    fn keys_inside_strings_or_nested_objects_do_not_count() {
        let d = j(r#"{"labels": ["\"hosts\": [\"tcp://0.0.0.0:2375\"]"],
                     "log-opts": {"hosts": "x", "storage-driver": "vfs"},
                     "default-address-pools": [{"hosts": 1}],
                     "features": {"storage-driver": true}}"#);
        for key in ["hosts", "storage-driver", "containerd-snapshotter"] {
            assert_eq!(d.value(key), None, "{key}");
        }
        assert_eq!(d.feature("storage-driver"), Some(true));
        assert_eq!(d.feature("containerd-snapshotter"), None);
        // Keys match exactly: dockerd refuses "Hosts" as an unknown directive.
        assert_eq!(j(r#"{"Hosts": []}"#).value("hosts"), None);
    }

    #[test]
    fn duplicate_keys_keep_the_last_as_go_does() {
        let d = j(r#"{"hosts": ["unix:///first.sock"], "mtu": 1, "hosts": ["tcp://0.0.0.0:1"]}"#);
        assert_eq!(d.value("hosts").unwrap(), ["tcp://0.0.0.0:1"]);
        let d = j(r#"{"features": {"containerd-snapshotter": true},
                     "features": {"containerd-snapshotter": false}}"#);
        assert_eq!(d.feature("containerd-snapshotter"), Some(false));
        let d =
            j(r#"{"features": {"containerd-snapshotter": false, "containerd-snapshotter": true}}"#);
        assert_eq!(d.feature("containerd-snapshotter"), Some(true));
    }

    #[test]
    fn features_are_booleans_of_the_features_object() {
        let d = j(r#"{"features": {"containerd-snapshotter": true, "buildkit": "yes"}}"#);
        assert_eq!(d.feature("containerd-snapshotter"), Some(true));
        assert_eq!(d.feature("buildkit"), None);
        assert_eq!(j(r#"{"features": []}"#).feature("containerd-snapshotter"), None);
        assert_eq!(
            j(r#"{"containerd-snapshotter": true}"#).feature("containerd-snapshotter"),
            None
        );
    }

    #[test]
    fn malformed_text_is_an_error_with_line_and_column() {
        assert_eq!(j(""), DaemonJson::default());
        assert_eq!(j(" \n\t"), DaemonJson::default());
        assert_eq!(j("{}"), DaemonJson::default());
        for (bad, want) in [
            ("{\"a\": \"unterminated", "line 1"),
            ("{\n  \"hosts\": [\"unix:///x.sock\"\n  \"mtu\": 1\n}", "line 3 column 3"),
            ("{\"a\": 1} trailing", "trailing"),
            ("{\"a\": 1,}", "line 1"),
            ("[\"hosts\"]", "an array, not an object"),
            ("null", "null, not an object"),
            ("\"hosts\"", "a string"),
        ] {
            let e = DaemonJson::parse(bad).unwrap_err();
            assert!(e.contains(want), "{bad:?}: {e}");
        }
    }

    #[test]
    fn load_missing_is_empty_malformed_or_unreadable_names_the_file() {
        let dir = crate::sys::TempDir::new("daemon-json");
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(DaemonJson::load(&dir.join("none.json")).unwrap(), DaemonJson::default());
        let path = dir.join("daemon.json");
        std::fs::write(&path, "{\n  \"mtu\": 1400,\n}\n").unwrap();
        let e = DaemonJson::load(&path).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::EXIT_SETUP);
        let msg = e.to_string();
        assert!(msg.contains(&path.display().to_string()) && msg.contains("line 3"), "{msg}");
        // A directory cannot be read: an error, not an empty configuration.
        let e = DaemonJson::load(&dir).unwrap_err();
        assert!(e.to_string().contains(&dir.display().to_string()), "{e}");
        std::fs::write(&path, b"{\"data-root\": \"/d\xff\"}").unwrap();
        assert_eq!(DaemonJson::load(&path).unwrap().value("data-root").unwrap(), ["/d\u{fffd}"]);
    }
}
