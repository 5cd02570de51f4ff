//! The log parser of tests/common (dind-init's events, text and JSON, checked against
//! src/events.vocab) against lines written by the binary's own renderer
//! (`dind_init::events::render`), and against lines that must be refused.

mod common;

use common::*;
use dind_init::events::{render, Event as E, V};

fn dockerd_ready() -> E {
    E {
        name: "dockerd-ready",
        fields: vec![
            ("socket", V::from("/run/a b/docker.sock")),
            ("secs", V::Num(0.5432)),
            ("attempts", V::from(18u32)),
            ("restart", V::from(0u32)),
        ],
    }
}

#[test]
fn text_and_json_lines_give_the_same_event() {
    let msg = "ready: dockerd answered /_ping on /run/a b/docker.sock after 0.543s {not an event}";
    for json in [false, true] {
        let line = render(1.25, log::Level::Info, msg, Some(&dockerd_ready()), json);
        let (t, level, m, e) = parse_line(line.trim_end()).unwrap_or_else(|| panic!("{line}"));
        let e = e.unwrap_or_else(|| panic!("no event in {line}"));
        assert_eq!((t, level.as_str(), m.as_str()), (1.25, "INFO", msg), "{line}");
        assert_eq!(e.name, "dockerd-ready");
        assert_eq!(e.get("socket"), "/run/a b/docker.sock", "{line}");
        assert_eq!(e.secs(), 0.543);
        assert_eq!(e.int("attempts"), 18);
        let keys: Vec<&str> = e.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["socket", "secs", "attempts", "restart"], "{line}");
    }
}

#[test]
fn plain_lines_and_foreign_lines() {
    let plain = render(0.5, log::Level::Warn, "stale state: x {y}", None, false);
    assert_eq!(
        parse_line(plain.trim_end()),
        Some((0.5, "WARN".into(), "stale state: x {y}".into(), None))
    );
    let plain = render(0.5, log::Level::Warn, "no event here", None, true);
    assert_eq!(parse_line(plain.trim_end()).unwrap().3, None);
    assert_eq!(parse_line("fake-dockerd[12]: API listen on /x {exit code=1}"), None);
    assert_eq!(parse_line("{\"not\":\"ours\"}"), None);
}

#[test]
fn a_multi_line_message_is_one_event() {
    let e = E {
        name: "daemon-died",
        fields: vec![
            ("daemon", V::from("dockerd")),
            ("status", V::from(137u8)),
            ("ran", V::Num(0.5)),
        ],
    };
    let log = render(
        2.0,
        log::Level::Error,
        "dockerd killed. last lines:\n  a {b}\n  c",
        Some(&e),
        false,
    );
    let ev = events_of(&log);
    assert_eq!(ev.len(), 1, "{log}");
    assert_eq!((ev[0].get("daemon"), ev[0].int("status")), ("dockerd", 137), "{log}");
    assert_eq!(ev[0].msg, "dockerd killed. last lines:", "{log}");
}

#[test]
fn booleans_and_the_accessors() {
    let e = E {
        name: "dockerd-exit",
        fields: vec![
            ("status", V::from(0u8)),
            ("clean", V::from(true)),
            ("secs", V::Num(0.31)),
            ("killed", V::from(false)),
            ("ended_wait", V::from(false)),
        ],
    };
    for json in [false, true] {
        let line =
            render(3.0, log::Level::Info, "shutdown: dockerd exited cleanly", Some(&e), json);
        let ev = events_of(&line);
        assert!(ev[0].flag("clean") && !ev[0].flag("killed"), "{line}");
        assert_eq!(ev[0].secs(), 0.31);
    }
}

/// A changed event is a failure, not a silent miss: each of these lines panics.
#[test]
fn unknown_events_and_changed_fields_are_refused() {
    let bad = [
        // Unknown event.
        "dind-init: +0.100s INFO  hello {dockerd-hello socket=/x}",
        // A field missing, renamed, added, out of order.
        "dind-init: +0.100s INFO  ready {dockerd-ready socket=/x secs=0.100 attempts=1}",
        "dind-init: +0.100s INFO  ready {dockerd-ready socket=/x seconds=0.100 attempts=1 restart=0}",
        "dind-init: +0.100s INFO  ready {dockerd-ready socket=/x secs=0.100 attempts=1 restart=0 extra=1}",
        "dind-init: +0.100s INFO  ready {dockerd-ready secs=0.100 socket=/x attempts=1 restart=0}",
        // A value of the wrong type.
        "dind-init: +0.100s INFO  ready {dockerd-ready socket=/x secs=soon attempts=1 restart=0}",
        "dind-init: +0.100s INFO  x {dockerd-exit status=0 clean=yes secs=0.1 killed=false ended_wait=false}",
        // The same in JSON.
        r#"{"t":0.1,"level":"INFO","event":"dockerd-hello","msg":"x"}"#,
        r#"{"t":0.1,"level":"INFO","event":"exit","code":0,"extra":1,"msg":"exit 0"}"#,
        r#"{"t":0.1,"level":"INFO","event":"exit","msg":"exit 0"}"#,
        r#"{"t":0.1,"level":"INFO","event":"exit","code":"zero","msg":"exit 0"}"#,
    ];
    for l in bad {
        let r = std::panic::catch_unwind(|| parse_line(l));
        assert!(r.is_err(), "accepted: {l} -> {:?}", r.unwrap());
    }
}

/// Every event the vocabulary names parses back from the renderer, in both formats.
#[test]
fn every_vocabulary_event_round_trips() {
    use dind_init::events::{type_of, Type};
    for w in dind_init::events::events() {
        let fields = w[1..]
            .iter()
            .map(|k| {
                let v = match type_of(k) {
                    Type::Num => V::Num(1.5),
                    Type::Int => V::from(7u32),
                    Type::Bool => V::from(true),
                    Type::Str => V::from("a \"quoted\" {value}"),
                };
                (*k, v)
            })
            .collect();
        let e = E { name: w[0], fields };
        for json in [false, true] {
            let l = render(0.0, log::Level::Info, "m", Some(&e), json);
            let got = events_of(&l);
            assert_eq!(got.len(), 1, "{l}");
            assert_eq!(got[0].name, w[0]);
            let keys: Vec<&str> = got[0].fields.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, w[1..], "{l}");
        }
    }
}
