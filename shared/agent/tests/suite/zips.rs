//! Building archives from folders and extracting them, hostile ones included.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use sluice_agent::zip_files::build::{zip_folder, Selection};
use sluice_agent::zip_files::extract::extract_zip;
use sluice_agent::zip_files::Limits;
use zip::write::SimpleFileOptions;

fn write(path: &Path, content: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

#[test]
fn round_trip_keeps_paths_permissions_and_inner_links() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write(&src.join("a/b.txt"), "bee");
    write(&src.join("run.sh"), "#!/bin/sh\necho hi\n");
    fs::set_permissions(src.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    write(&src.join("sub/deep/c.txt"), "see");
    symlink("../a/b.txt", src.join("sub/link")).unwrap();
    symlink("/etc/passwd", src.join("abs")).unwrap();
    symlink("../../outside", src.join("sub/out")).unwrap();

    let zip = tmp.path().join("out.zip");
    let summary = zip_folder(&src, &Selection::all(), &zip).unwrap();
    let stored: Vec<&str> = summary.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(stored, ["a/b.txt", "run.sh", "sub/deep/c.txt", "sub/link"]);
    assert!(
        summary
            .skipped
            .iter()
            .any(|s| s.contains("abs -> /etc/passwd")),
        "{:?}",
        summary.skipped
    );
    assert!(
        summary
            .skipped
            .iter()
            .any(|s| s.contains("sub/out") && s.contains("outside")),
        "{:?}",
        summary.skipped
    );

    let dest = tmp.path().join("dest");
    let extracted = extract_zip(&zip, &dest, &Limits::default()).unwrap();
    assert_eq!((extracted.files, extracted.symlinks), (3, 1));
    assert_eq!(fs::read_to_string(dest.join("a/b.txt")).unwrap(), "bee");
    assert_eq!(
        fs::read_to_string(dest.join("sub/deep/c.txt")).unwrap(),
        "see"
    );
    assert_eq!(fs::read_to_string(dest.join("sub/link")).unwrap(), "bee");
    assert!(fs::symlink_metadata(dest.join("sub/link"))
        .unwrap()
        .file_type()
        .is_symlink());
    let mode = fs::metadata(dest.join("run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    let out = std::process::Command::new(dest.join("run.sh"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
}

#[test]
fn globs_choose_files_relative_to_the_base() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    for f in [
        "top.txt",
        "a/x.txt",
        "a/b/y.txt",
        "a/b/z.log",
        "dist/app.js",
        "dist/css/site.css",
    ] {
        write(&src.join(f), f);
    }
    let names = |selection: Selection| -> Vec<String> {
        let zip = tmp.path().join("sel.zip");
        zip_folder(&src, &selection, &zip)
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.path)
            .collect()
    };
    assert_eq!(names(Selection::matching(&["*.txt"]).unwrap()), ["top.txt"]);
    assert_eq!(
        names(Selection::matching(&["**/*.txt"]).unwrap()),
        ["a/b/y.txt", "a/x.txt", "top.txt"]
    );
    assert_eq!(
        names(Selection::matching(&["dist"]).unwrap()),
        ["dist/app.js", "dist/css/site.css"]
    );
    assert_eq!(
        names(
            Selection::matching(&["dist/**/*"])
                .unwrap()
                .discarding_paths(true)
        ),
        ["app.js", "site.css"]
    );
    assert_eq!(
        names(Selection::all().excluding(&["*.log", "dist"]).unwrap()),
        ["a/b/y.txt", "a/x.txt", "top.txt"]
    );
    let bad = Selection::matching(&["a/[b"]).unwrap_err().to_string();
    assert!(bad.contains("a/[b"), "{bad}");
}

enum Item<'a> {
    File(&'a str, Vec<u8>),
    Link(&'a str, &'a str),
}

fn archive(path: &Path, items: &[Item<'_>]) {
    let mut writer = zip::ZipWriter::new(fs::File::create(path).unwrap());
    let options = SimpleFileOptions::default();
    for item in items {
        match item {
            Item::File(name, bytes) => {
                writer.start_file(*name, options).unwrap();
                writer.write_all(bytes).unwrap();
            }
            Item::Link(name, target) => writer.add_symlink(*name, *target, options).unwrap(),
        }
    }
    writer.finish().unwrap();
}

/// Extracts a hostile archive and checks the refusal and that nothing was left anywhere.
fn refused(items: &[Item<'_>], limits: Limits, expected: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    let zip = tmp.path().join("hostile.zip");
    archive(&zip, items);
    refused_file(&zip, &root, limits, expected);
}

fn refused_file(zip: &Path, root: &Path, limits: Limits, expected: &str) {
    let target = root.join("target");
    let err = extract_zip(zip, &target, &limits)
        .expect_err("the archive should be refused")
        .to_string();
    assert!(err.contains(expected), "`{err}` should say `{expected}`");
    assert!(!target.exists(), "nothing half-extracted");
    let left: Vec<_> = fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "nothing left beside the target: {left:?}");
    let parent: Vec<_> = fs::read_dir(root.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(parent.len(), 2, "nothing written outside: {parent:?}");
}

/// Two entries under one name (written as `a.txt` and `b.txt`, then renamed in place): the zip reader would keep
/// only the last.
#[test]
fn refuses_an_entry_listed_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    let zip = tmp.path().join("twice.zip");
    archive(
        &zip,
        &[
            Item::File("a.txt", b"first".to_vec()),
            Item::File("b.txt", b"second".to_vec()),
        ],
    );
    let mut bytes = fs::read(&zip).unwrap();
    let mut renamed = 0;
    for i in 0..bytes.len() - 5 {
        if &bytes[i..i + 5] == b"b.txt" {
            bytes[i] = b'a';
            renamed += 1;
        }
    }
    assert_eq!(renamed, 2, "local header and central directory");
    fs::write(&zip, bytes).unwrap();
    refused_file(
        &zip,
        &root,
        Limits::default(),
        "`a.txt` refused: the archive has it twice",
    );
}

fn small() -> Vec<u8> {
    b"data".to_vec()
}

#[test]
fn refuses_an_entry_climbing_out() {
    refused(
        &[
            Item::File("ok.txt", small()),
            Item::File("../escape", small()),
        ],
        Limits::default(),
        "zip entry `../escape` refused: its path contains `..`",
    );
}

#[test]
fn refuses_an_absolute_entry() {
    refused(
        &[Item::File("/abs/path", small())],
        Limits::default(),
        "zip entry `/abs/path` refused: its path is absolute",
    );
}

#[test]
fn refuses_dot_dot_inside_a_path() {
    refused(
        &[Item::File("a/../../b", small())],
        Limits::default(),
        "zip entry `a/../../b` refused: its path contains `..`",
    );
}

#[test]
fn refuses_a_symlink_to_an_absolute_path() {
    refused(
        &[Item::File("ok.txt", small()), Item::Link("etc", "/etc")],
        Limits::default(),
        "zip entry `etc` refused: symlink to the absolute path /etc",
    );
}

#[test]
fn refuses_a_symlink_climbing_out() {
    refused(
        &[Item::Link("up", "../..")],
        Limits::default(),
        "zip entry `up` refused: symlink to ../..: it points outside the folder",
    );
}

#[test]
fn refuses_a_chain_of_links_that_leaves_together() {
    // `x/a` alone points at the root, and `b` alone looks like it stays inside; together `b` leaves.
    refused(
        &[Item::Link("b", "x/a/.."), Item::Link("x/a", "..")],
        Limits::default(),
        "zip entry `b` refused: symlink to x/a/..: it points outside the folder",
    );
}

#[test]
fn refuses_writing_through_a_link() {
    refused(
        &[Item::Link("d", "sub"), Item::Link("d/e", "../../..")],
        Limits::default(),
        "zip entry `d/e` refused: its path passes through a symlink",
    );
}

#[test]
fn accepts_links_that_stay_inside() {
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("ok.zip");
    archive(
        &zip,
        &[
            Item::Link("bin/tool", "../lib/real.sh"),
            Item::File("lib/real.sh", small()),
        ],
    );
    let dest = tmp.path().join("dest");
    extract_zip(&zip, &dest, &Limits::default()).unwrap();
    assert_eq!(fs::read_to_string(dest.join("bin/tool")).unwrap(), "data");
}

#[test]
fn refuses_more_entries_than_the_limit() {
    let names: Vec<String> = (0..11).map(|i| format!("f{i}")).collect();
    let items: Vec<Item<'_>> = names.iter().map(|n| Item::File(n, small())).collect();
    let limits = Limits {
        max_entries: 10,
        ..Limits::default()
    };
    refused(
        &items,
        limits,
        "it has 11 entries, more than the limit of 10",
    );
}

#[test]
fn refuses_a_single_entry_over_the_limit() {
    let limits = Limits {
        max_entry_bytes: 1 << 20,
        ..Limits::default()
    };
    refused(&[Item::File("big.bin", vec![7u8; (1 << 20) + 1])], limits, "zip entry `big.bin` refused: it expands to more than the limit of 1048576 bytes for one entry");
}

#[test]
fn refuses_an_archive_over_the_total_limit() {
    let limits = Limits {
        max_total_bytes: 1 << 20,
        ..Limits::default()
    };
    refused(
        &[
            Item::File("one", vec![1u8; 600 << 10]),
            Item::File("two", vec![2u8; 600 << 10]),
        ],
        limits,
        // Entries are extracted by several threads, so either may be the one that crosses the limit.
        "refused: the archive expands to more than the limit of 1048576 bytes in all",
    );
}

/// Sets the uncompressed size that the local and central headers of the (single) entry declare.
fn lie_about_size(bytes: &mut [u8], declared: u32) -> usize {
    let mut patched = 0;
    for i in 0..bytes.len().saturating_sub(4) {
        let offset = match &bytes[i..i + 4] {
            [0x50, 0x4b, 0x03, 0x04] => 22,
            [0x50, 0x4b, 0x01, 0x02] => 24,
            _ => continue,
        };
        bytes[i + offset..i + offset + 4].copy_from_slice(&declared.to_le_bytes());
        patched += 1;
    }
    patched
}

#[test]
fn refuses_a_bomb_that_lies_about_its_size() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    let zip = tmp.path().join("bomb.zip");
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut writer = zip::ZipWriter::new(fs::File::create(&zip).unwrap());
    writer.start_file("zeros.bin", options).unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..32 {
        writer.write_all(&chunk).unwrap();
    }
    writer.finish().unwrap();
    let mut bytes = fs::read(&zip).unwrap();
    assert!(
        bytes.len() < 200 << 10,
        "32 MiB of zeros compresses well: {}",
        bytes.len()
    );
    assert_eq!(lie_about_size(&mut bytes, 1000), 2);
    fs::write(&zip, &bytes).unwrap();
    let limits = Limits {
        max_entry_bytes: 4 << 20,
        max_total_bytes: 8 << 20,
        ..Limits::default()
    };
    refused_file(&zip, &root, limits, "zip entry `zeros.bin` refused: it expands to more than the limit of 4194304 bytes for one entry (it declares 1000)");
}

#[test]
fn refuses_to_extract_over_an_existing_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("ok.zip");
    archive(&zip, &[Item::File("a", small())]);
    let err = extract_zip(&zip, tmp.path(), &Limits::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("already exists"), "{err}");
}

/// Bytes that deflate well but not trivially: words from a small vocabulary, from a fixed seed.
fn text(len: usize, seed: u64) -> Vec<u8> {
    let words = [
        "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
    ];
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(words[(state % 8) as usize].as_bytes());
        out.push(if state.is_multiple_of(11) {
            b'\n'
        } else {
            b' '
        });
    }
    out.truncate(len);
    out
}

/// Bytes that do not deflate at all.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Python's zipfile, a reader independent of ours, checks every entry's CRC and lists the entries.
fn python_lists(zip: &Path) -> Option<Vec<String>> {
    let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nbad = z.testzip()\n\
                  assert bad is None, bad\nprint('\\n'.join(z.namelist()))";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(zip)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "python's zipfile refused {}: {}",
        zip.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

#[test]
fn large_files_deflated_in_pieces_come_back_whole_and_the_digest_is_the_archives() {
    use sluice_agent::zip_files::build::zip_folder_with_digest;
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let mut expected: Vec<(String, Vec<u8>)> = vec![
        ("big/text.txt".into(), text(5 * 1024 * 1024 + 12_345, 7)),
        ("big/exact.txt".into(), text(2 * 1024 * 1024, 8)),
        ("big/noise.bin".into(), noise(3 * 1024 * 1024 + 1, 9)),
        ("small/empty.txt".into(), Vec::new()),
        ("small/noise.bin".into(), noise(5000, 10)),
    ];
    for i in 0..300 {
        expected.push((format!("small/f{i:03}.txt"), text(i * 97, i as u64)));
    }
    for (name, bytes) in &expected {
        fs::create_dir_all(src.join(name).parent().unwrap()).unwrap();
        fs::write(src.join(name), bytes).unwrap();
    }
    let zip = tmp.path().join("out.zip");
    let (summary, digest) = zip_folder_with_digest(&src, &Selection::all(), &zip).unwrap();
    let written = fs::read(&zip).unwrap();
    assert_eq!(digest.size, written.len() as u64);
    assert_eq!(digest.sha256, sha256_hex(&written));
    assert!(
        written.len() < 8 * 1024 * 1024,
        "text deflates: {} bytes",
        written.len()
    );
    for (name, bytes) in &expected {
        let entry = summary.entries.iter().find(|e| &e.path == name).unwrap();
        assert_eq!(entry.size, bytes.len() as u64, "{name}");
        assert_eq!(entry.sha256, sha256_hex(bytes), "{name}");
    }
    // The zip crate checks each entry's CRC as it reads it to the end.
    let mut archive = zip::ZipArchive::new(fs::File::open(&zip).unwrap()).unwrap();
    assert_eq!(archive.len(), expected.len());
    for (name, bytes) in &expected {
        let mut entry = archive.by_name(name).unwrap();
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut back).unwrap();
        assert!(back == *bytes, "{name} differs after the round trip");
    }
    if let Some(names) = python_lists(&zip) {
        assert_eq!(names.len(), expected.len());
    }
    let dest = tmp.path().join("dest");
    let extracted = extract_zip(&zip, &dest, &Limits::default()).unwrap();
    assert_eq!(extracted.files, expected.len());
    for (name, bytes) in &expected {
        assert!(fs::read(dest.join(name)).unwrap() == *bytes, "{name}");
    }
}

#[test]
fn the_same_files_give_the_same_archive_bytes() {
    use sluice_agent::zip_files::build::zip_folder_with_digest;
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    for i in 0..200 {
        write(
            &src.join(format!("d{}/f{i}.txt", i % 7)),
            &"x".repeat(i * 31),
        );
    }
    fs::write(src.join("big.txt"), text(3 * 1024 * 1024, 3)).unwrap();
    let a = zip_folder_with_digest(&src, &Selection::all(), &tmp.path().join("a.zip")).unwrap();
    let b = zip_folder_with_digest(&src, &Selection::all(), &tmp.path().join("b.zip")).unwrap();
    assert_eq!(a.1, b.1);
    assert_eq!(a.0, b.0);
}

#[test]
fn more_than_65535_entries_are_written_with_zip64_end_records() {
    use sluice_agent::zip_files::build::ZipBuilder;
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("many.zip");
    let count = 70_000;
    let mut builder = ZipBuilder::create(&zip).unwrap();
    for i in 0..count {
        let body = format!("{i}\n");
        builder
            .add_file(
                &format!("d{}/{i}.txt", i % 100),
                0o644,
                body.len() as u64,
                &mut body.as_bytes(),
            )
            .unwrap();
    }
    let summary = builder.finish().unwrap();
    assert_eq!(summary.entries.len(), count);
    let mut archive = zip::ZipArchive::new(fs::File::open(&zip).unwrap()).unwrap();
    assert_eq!(archive.len(), count);
    let mut last = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("d99/69999.txt").unwrap(), &mut last)
        .unwrap();
    assert_eq!(last, "69999\n");
    if let Some(names) = python_lists(&zip) {
        assert_eq!(names.len(), count);
    }
    let dest = tmp.path().join("dest");
    let extracted = extract_zip(&zip, &dest, &Limits::default()).unwrap();
    assert_eq!(extracted.files, count);
}
