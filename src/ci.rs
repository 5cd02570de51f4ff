//! The one CI rule (issue 20), for the unit tests here and, through `#[path]`, for
//! tests/common: CI is on when the environment variable CI is `true`, `1` or `yes`, in any
//! case; anything else (unset, empty, `false`, `0`, `no`) is off. scripts/lib.sh
//! (`lib_in_ci`) follows the same rule; the Python scripts decide nothing on CI. A test that cannot
//! run here calls [`skip`]: a `dind-init-test: SKIP NAME: WHY` line on stdout (the test
//! runner reports it as a skip), or, under CI, a failure.
#![allow(dead_code)]

/// Whether a value of CI means "on".
pub fn is_on(value: Option<&str>) -> bool {
    value.is_some_and(|v| ["true", "1", "yes"].iter().any(|w| v.eq_ignore_ascii_case(w)))
}

/// Whether this process runs under CI.
pub fn in_ci() -> bool {
    is_on(std::env::var("CI").ok().as_deref())
}

/// The SKIP line for test `name`.
pub fn skip_line(name: &str, why: &str) -> String {
    format!("dind-init-test: SKIP {name}: {why}")
}

/// The running test's name (libtest names each test's thread after it), else `fallback`.
pub fn test_name(fallback: &str) -> String {
    match std::thread::current().name() {
        Some(n) if n != "main" => n.to_string(),
        _ => fallback.to_string(),
    }
}

/// A test that cannot run here: under CI it fails (panics); elsewhere it prints the SKIP
/// line on stdout, and the caller returns.
#[track_caller]
pub fn skip(fallback_name: &str, why: &str) {
    let name = test_name(fallback_name);
    assert!(!in_ci(), "{name} cannot run here ({why}), and CI forbids skipping");
    println!("{}", skip_line(&name, why));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_is_true_1_or_yes_in_any_case() {
        for on in ["true", "TRUE", "True", "1", "yes", "YES", "Yes"] {
            assert!(is_on(Some(on)), "{on}");
        }
        for off in ["", "false", "0", "no", "off", " true", "y", "2"] {
            assert!(!is_on(Some(off)), "{off:?}");
        }
        assert!(!is_on(None));
        assert_eq!(skip_line("t", "why"), "dind-init-test: SKIP t: why");
    }
}
