//! The archive reader on archives built here: both `docker save` layouts, an OCI archive with
//! a nested index, gzip, and what must be refused (truncated, corrupt, not an archive,
//! a manifest naming what is not there).

use super::*;
use crate::sys::TempDir;
use std::io::Write;

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const C: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
const L: &str = "1111111111111111111111111111111111111111111111111111111111111111";

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn read_bytes(dir: &TempDir, name: &str, bytes: &[u8]) -> Result<Contents, String> {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    read(&p)
}

/// Docker 20.10's `docker save`: `<id>.json`, `<layer>/layer.tar`, `manifest.json` last.
fn old_layout() -> Vec<u8> {
    let manifest = format!(
        r#"[{{"Config":"{A}.json","RepoTags":["dind-init-test/inner:latest"],"Layers":["{L}/layer.tar"]}}]"#
    );
    let layer = vec![7u8; 3000];
    tar_of(&[
        (&format!("{L}/VERSION"), b"1.0"),
        (&format!("{L}/layer.tar"), &layer),
        (&format!("{A}.json"), b"{\"architecture\":\"amd64\"}"),
        ("manifest.json", manifest.as_bytes()),
        ("repositories", b"{}"),
    ])
}

/// Docker 25+: an OCI layout with `manifest.json` beside `index.json`.
fn oci_style(with_manifest: bool, name: Option<&str>) -> Vec<u8> {
    let manifest = format!(
        r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{A}","size":24}},"layers":[{{"digest":"sha256:{L}","size":3000}}]}}"#
    );
    let ann = name.map_or(String::new(), |n| {
        format!(r#","annotations":{{"io.containerd.image.name":"{n}"}}"#)
    });
    let index =
        format!(r#"{{"schemaVersion":2,"manifests":[{{"digest":"sha256:{B}","size":1{ann}}}]}}"#);
    let docker = format!(
        r#"[{{"Config":"blobs/sha256/{A}","RepoTags":["x:1"],"Layers":["blobs/sha256/{L}"]}}]"#
    );
    let layer = vec![7u8; 3000];
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (format!("blobs/sha256/{A}"), b"{\"architecture\":\"amd64\"}".to_vec()),
        (format!("blobs/sha256/{B}"), manifest.into_bytes()),
        (format!("blobs/sha256/{L}"), layer),
        ("index.json".into(), index.into_bytes()),
    ];
    if with_manifest {
        files.push(("manifest.json".into(), docker.into_bytes()));
    }
    files.push(("oci-layout".into(), b"{\"imageLayoutVersion\":\"1.0.0\"}".to_vec()));
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    tar_of(&refs)
}

fn sha(hex: &str) -> String {
    format!("sha256:{hex}")
}

#[test]
fn the_old_docker_save_layout() {
    let d = TempDir::new("arch-old");
    let c = read_bytes(&d, "old.tar", &old_layout()).unwrap();
    assert!(!c.gzip);
    assert_eq!(
        c.images,
        vec![Image { configs: vec![sha(A)], tags: vec!["dind-init-test/inner:latest".into()] }]
    );
}

#[test]
fn docker_25s_oci_style_layout_reads_its_manifest_json() {
    let d = TempDir::new("arch-oci-style");
    let c = read_bytes(&d, "new.tar", &oci_style(true, None)).unwrap();
    assert_eq!(c.images, vec![Image { configs: vec![sha(A)], tags: vec!["x:1".into()] }]);
}

#[test]
fn an_oci_archive_through_its_index() {
    let d = TempDir::new("arch-oci");
    let c = read_bytes(&d, "oci.tar", &oci_style(false, Some("docker.io/library/x:2"))).unwrap();
    assert_eq!(
        c.images,
        vec![Image { configs: vec![sha(A)], tags: vec!["docker.io/library/x:2".into()] }]
    );
    // Without a name: no tag, the config alone.
    let c = read_bytes(&d, "anon.tar", &oci_style(false, None)).unwrap();
    assert_eq!(c.images[0].tags, Vec::<String>::new());
}

#[test]
fn a_nested_index_gives_each_platforms_config() {
    let d = TempDir::new("arch-nested");
    let m = |cfg: &str| {
        format!(r#"{{"schemaVersion":2,"config":{{"digest":"sha256:{cfg}"}},"layers":[]}}"#)
    };
    let (m1, m2) = (m(A), m(L));
    let inner = format!(r#"{{"manifests":[{{"digest":"sha256:{B}"}},{{"digest":"sha256:{C}"}}]}}"#);
    const I: &str = "2222222222222222222222222222222222222222222222222222222222222222";
    let index = format!(r#"{{"manifests":[{{"digest":"sha256:{I}"}}]}}"#);
    let bytes = tar_of(&[
        (&format!("blobs/sha256/{A}"), b"{}"),
        (&format!("blobs/sha256/{L}"), b"{}"),
        (&format!("blobs/sha256/{B}"), m1.as_bytes()),
        (&format!("blobs/sha256/{C}"), m2.as_bytes()),
        (&format!("blobs/sha256/{I}"), inner.as_bytes()),
        ("index.json", index.as_bytes()),
    ]);
    let c = read_bytes(&d, "multi.tar", &bytes).unwrap();
    assert_eq!(c.images[0].configs, vec![sha(A), sha(L)]);
}

#[test]
fn gzip_is_told_by_its_magic_not_its_name() {
    let d = TempDir::new("arch-gz");
    for (name, bytes) in [("plain.tar.gz", old_layout()), ("zipped.tar", gzip(&old_layout()))] {
        let c = read_bytes(&d, name, &bytes).unwrap();
        assert_eq!(c.gzip, name == "zipped.tar", "{name}");
        assert_eq!(c.images[0].configs, vec![sha(A)], "{name}");
    }
    let c = read_bytes(&d, "oci.tgz", &gzip(&oci_style(false, Some("x:3")))).unwrap();
    assert_eq!((c.gzip, c.images[0].tags.clone()), (true, vec!["x:3".to_string()]));
}

#[test]
fn truncated_archives_are_refused() {
    let d = TempDir::new("arch-trunc");
    let full = old_layout();
    // Cut inside the layer (skipped by seeking: the file's end is checked), inside the
    // manifest, and a gzip stream cut anywhere (its end and checksum are checked).
    for cut in [1024 + 1500, full.len() - 1024 - 300] {
        let e = read_bytes(&d, "cut.tar", &full[..cut]).unwrap_err();
        assert!(e.contains("not a readable tar archive"), "cut at {cut}: {e}");
    }
    let z = gzip(&full);
    for cut in [z.len() / 2, z.len() - 4] {
        let e = read_bytes(&d, "cut.tar.gz", &z[..cut]).unwrap_err();
        assert!(e.contains("not a readable gzip-compressed tar archive"), "cut at {cut}: {e}");
    }
    // Cut at an entry's boundary before manifest.json: no manifest.
    let e = read_bytes(&d, "short.tar", &full[..1024 + 3072 + 512]).unwrap_err();
    assert!(e.contains("neither manifest.json nor index.json"), "{e}");
}

#[test]
fn a_fifo_or_device_is_refused_not_waited_on() {
    let d = TempDir::new("arch-fifo");
    let fifo = d.path().join("images.tar");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    // A blocking open of a FIFO with no writer never returns: the reader runs aside.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(read(&fifo).map(|_| ()));
    });
    let e = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("open of a FIFO blocked")
        .unwrap_err();
    assert!(e.contains("not a regular file (a FIFO)"), "{e}");
    let e = read(Path::new("/dev/null")).map(|_| ()).unwrap_err();
    assert!(e.contains("not a regular file (a device)"), "{e}");
}

#[test]
fn corrupt_or_foreign_files_are_refused() {
    let d = TempDir::new("arch-bad");
    let mut bad = old_layout();
    bad[100] ^= 0xff; // the first header's mode: its checksum no longer matches
    let e = read_bytes(&d, "bad.tar", &bad).unwrap_err();
    assert!(e.contains("not a readable tar archive"), "{e}");
    let mut z = gzip(&old_layout());
    let n = z.len();
    z[n - 2] ^= 0xff; // the length in the trailer
    let e = read_bytes(&d, "len.tgz", &z).unwrap_err();
    assert!(e.contains("the length in the trailer differs"), "{e}");
    let mut z = gzip(&old_layout());
    z[2] = 7; // not DEFLATE
    let e = read_bytes(&d, "cm.tgz", &z).unwrap_err();
    assert!(e.contains("not a gzip member header"), "{e}");
    // Two members (pigz, cat a.gz b.gz) are one stream.
    let full = old_layout();
    let (a, b) = full.split_at(5000);
    let two = [gzip(a), gzip(b)].concat();
    assert_eq!(read_bytes(&d, "two.tgz", &two).unwrap().images[0].configs, vec![sha(A)]);
    for junk in [&b""[..], b"hello, this is a README\n", &[0u8; 1024][..]] {
        let e = read_bytes(&d, "readme", junk).unwrap_err();
        assert!(e.contains("no entries") || e.contains("not a readable"), "{junk:?}: {e}");
    }
}

#[test]
fn manifests_that_lie_or_do_not_parse_are_refused() {
    let d = TempDir::new("arch-lie");
    let layer = vec![0u8; 10];
    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), "manifest.json is not valid JSON"),
        ("{}".into(), "manifest.json: not a list"),
        ("[]".into(), "lists no image"),
        (format!(r#"[{{"Config":"{B}.json","Layers":[]}}]"#), "is not in the archive"),
        (
            format!(r#"[{{"Config":"{A}.json","Layers":["{C}/layer.tar"]}}]"#),
            "is not in the archive",
        ),
        (r#"[{"Config":"../etc/passwd","Layers":[]}]"#.into(), "Config"),
        (format!(r#"[{{"Config":"{A}.json","RepoTags":[1]}}]"#), "RepoTags"),
    ];
    for (m, want) in cases {
        let bytes = tar_of(&[
            (&format!("{A}.json"), b"{}"),
            (&format!("{L}/layer.tar"), &layer),
            ("manifest.json", m.as_bytes()),
        ]);
        let e = read_bytes(&d, "lie.tar", &bytes).unwrap_err();
        assert!(e.contains(want), "{m}: {e}");
    }
    // An index naming a manifest the archive lacks.
    let index = format!(r#"{{"manifests":[{{"digest":"sha256:{B}"}}]}}"#);
    let e = read_bytes(&d, "idx.tar", &tar_of(&[("index.json", index.as_bytes())])).unwrap_err();
    assert!(e.contains("is not in the archive"), "{e}");
}

#[test]
fn familiar_names() {
    assert_eq!(familiar("docker.io/library/x:1"), "x:1");
    assert_eq!(familiar("docker.io/testcontainers/ryuk:0.5"), "testcontainers/ryuk:0.5");
    assert_eq!(familiar("library/x:1"), "x:1");
    assert_eq!(familiar("registry.example.com/x:1"), "registry.example.com/x:1");
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;
    proptest! {
        #![proptest_config(ProptestConfig {
            cases: crate::fuzz_cases(300), ..ProptestConfig::default()
        })]
        /// Whatever the bytes (a gzip header in front, or a tar with bytes changed), the reader
        /// answers, never panics nor loops.
        #[test]
        fn the_reader_never_panics(
            junk in proptest::collection::vec(any::<u8>(), 0..2048),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
            gz in any::<bool>(),
        ) {
            let d = TempDir::new("arch-fuzz");
            let mut bytes = if gz { gzip(&old_layout()) } else { old_layout() };
            for (at, x) in flips {
                let n = bytes.len();
                bytes[at % n] ^= x;
            }
            let _ = read_bytes(&d, "f", &bytes);
            let mut z = vec![0x1f, 0x8b, 8, 0];
            z.extend(junk);
            let _ = read_bytes(&d, "z", &z);
        }
    }
}
