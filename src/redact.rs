//! Credentials never reach the log: the userinfo of URLs in a logged command line (a proxy
//! `http://user:pass@host` in DOCKER_DAEMON_ARGS, a registry mirror with a token) is
//! replaced by `***`, as in `http://***@host`. The daemons and the command still get the
//! real values; only what dind-init writes about them is redacted.

/// `text` with the userinfo of every `scheme://userinfo@host` replaced by `***`.
pub fn urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // A scheme before "://" (letters, digits, + - .), else it is not a URL.
        let mut scheme =
            head[..i].rsplit(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)));
        let is_url =
            scheme.next().is_some_and(|s| s.starts_with(|c: char| c.is_ascii_alphabetic()));
        // The authority ends at '/', '?', '#' or white space; its last '@' ends the userinfo.
        let end = tail.find(|c: char| "/?#".contains(c) || c.is_whitespace()).unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) if is_url => {
                out.push_str("***");
                rest = &tail[at..];
            }
            _ => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_redacted() {
        let cases = [
            ("--http-proxy=http://user:pass@proxy:3128", "--http-proxy=http://***@proxy:3128"),
            ("https://tok@mirror.example/v2 x", "https://***@mirror.example/v2 x"),
            (
                "a socks5://u:p@h:1 b http://v:w@k/p?q=1@2",
                "a socks5://***@h:1 b http://***@k/p?q=1@2",
            ),
            ("http://u:p@ss@host", "http://***@host"),
            (
                "-H tcp://0.0.0.0:2375 -H unix:///var/run/docker.sock",
                "-H tcp://0.0.0.0:2375 -H unix:///var/run/docker.sock",
            ),
            ("user@host mail@x.org", "user@host mail@x.org"),
            ("http://host/path@x", "http://host/path@x"),
            ("://u:p@h", "://u:p@h"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(urls(input), want, "{input}");
        }
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;
        proptest! {
            #![proptest_config(ProptestConfig {
                cases: crate::fuzz_cases(2000), ..ProptestConfig::default()
            })]
            /// Never panics, and no "user:secret@" survives in a URL it redacts.
            #[test]
            fn redacts_any_userinfo(
                pre in "[ -~]{0,12}", user in "[a-z0-9]{1,8}", pass in "[a-zA-Z0-9@:]{0,8}",
                host in "[a-z0-9.:]{1,12}",
            ) {
                let line = format!("{pre} http://{user}:{pass}XSECRET@{host}/p");
                let r = urls(&line);
                prop_assert!(!r.contains("XSECRET"), "{}", r);
                prop_assert!(r.ends_with(&format!("http://***@{host}/p")), "{}", r);
            }
        }
    }
}
