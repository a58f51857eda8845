//! The audit log's chain and its verifier, on real files: an untouched log
//! verifies across rotation, and each kind of tamper is found and named.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use tower_ai::audit::{
    line_hash, AuditRecord, Chain, CheckpointSigner, Head, Report, SigningKey, Tamper, Verifier,
};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// A log of `records` records in files of `per_file` lines at most (a
/// checkpoint every `every` records, signed with `key(7)`), in a fresh
/// directory. Returns the directory, the files in order and the chain's
/// head.
fn write_log(records: usize, per_file: usize, every: u64) -> (tempfile::TempDir, Vec<PathBuf>, Head) {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = Chain::new().checkpoints(CheckpointSigner::new(key(7), every));
    let mut files = Vec::new();
    let mut buffer = Vec::new();
    let mut lines_in_file = 0;
    for i in 0..records {
        let mut record = AuditRecord::new(format!("req-{i}"));
        record.model = "gpt-4o".to_owned();
        record.latency_ms = i as f64 / 4.0;
        let before = buffer.len();
        chain.append(&record, &mut buffer);
        lines_in_file += buffer[before..].iter().filter(|&&b| b == b'\n').count();
        if lines_in_file >= per_file {
            chain.checkpoint(&mut buffer);
            files.push(flush(dir.path(), files.len(), &mut buffer));
            lines_in_file = 0;
        }
    }
    chain.checkpoint(&mut buffer);
    if !buffer.is_empty() {
        files.push(flush(dir.path(), files.len(), &mut buffer));
    }
    let head = chain.head().unwrap();
    (dir, files, head)
}

fn flush(dir: &Path, index: usize, buffer: &mut Vec<u8>) -> PathBuf {
    let path = dir.join(format!("audit.{index:03}.jsonl"));
    fs::write(&path, &buffer).unwrap();
    buffer.clear();
    path
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(path, text).unwrap();
}

fn trusted() -> Verifier {
    Verifier::new().trust_key(key(7).verifying_key())
}

fn verify(verifier: &Verifier, files: &[PathBuf]) -> Report {
    verifier.verify_files(files).unwrap()
}

#[test]
fn an_untouched_log_verifies_across_rotated_files() {
    let (_dir, files, head) = write_log(100, 15, 10);
    assert!(files.len() >= 7, "{} files", files.len());
    let report = verify(&trusted().expect_head(head.clone()), &files);
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records, 100);
    assert!(report.checkpoints_verified >= 10, "{report}");
    assert_eq!(report.unsigned_tail, 0, "the log ends with a checkpoint");
    assert_eq!(report.head, Some(head));
    assert_eq!(report.first_seq, Some(0));
    assert!(report.torn_tail.is_none());

    // The later files alone: the chain holds from where they start.
    let later = verify(&trusted().from_any_start(), &files[3..]);
    assert!(later.is_intact(), "{later}");
    // Without saying so, a log that does not start at 0 lacks its start.
    let report = verify(&trusted(), &files[3..]);
    assert!(
        matches!(report.tamper, Some(Tamper::MissingStart { .. })),
        "{report}"
    );
}

#[test]
fn an_edited_record_is_found_at_its_sequence_number() {
    let (_dir, files, _) = write_log(30, 1000, 1000);
    let mut log = lines(&files[0]);
    assert!(log[12].contains("\"req-12\""));
    log[12] = log[12].replace("gpt-4o", "gpt-4o-mini");
    write_lines(&files[0], &log);
    let report = verify(&Verifier::new(), &files);
    match &report.tamper {
        Some(Tamper::Edited { seq: 12, at }) => assert_eq!(at.line, 14),
        other => panic!("{other:?}"),
    }
}

#[test]
fn deleted_records_are_found_with_their_count() {
    let (_dir, files, _) = write_log(30, 1000, 1000);
    let mut log = lines(&files[0]);
    log.drain(10..13);
    write_lines(&files[0], &log);
    let report = verify(&Verifier::new(), &files);
    assert!(
        matches!(
            report.tamper,
            Some(Tamper::Deleted {
                after: 9,
                count: 3,
                ..
            })
        ),
        "{report}"
    );

    // The first line removed.
    let (_dir, files, _) = write_log(5, 1000, 1000);
    let log = lines(&files[0]);
    write_lines(&files[0], &log[1..]);
    let report = verify(&Verifier::new(), &files);
    assert!(
        matches!(report.tamper, Some(Tamper::MissingStart { first: 1, .. })),
        "{report}"
    );
}

#[test]
fn an_inserted_record_is_found_even_when_its_link_is_forged() {
    let (_dir, files, _) = write_log(30, 1000, 1000);
    let mut log = lines(&files[0]);
    // A forged record that links to line 4 and takes number 5; the real 5
    // follows it.
    let forged = format!(
        "{{\"v\":1,\"seq\":5,\"prev\":\"{}\",\"kind\":\"call\",\"id\":\"forged\",\"outcome\":{{\"status\":\"ok\"}}}}",
        line_hash(log[4].as_bytes())
    );
    log.insert(5, forged);
    write_lines(&files[0], &log);
    let report = verify(&Verifier::new(), &files);
    match &report.tamper {
        Some(Tamper::Inserted { seq: 5, at }) => assert_eq!(at.line, 7),
        other => panic!("{other:?}"),
    }

    // A copy of a line put in again later.
    let (_dir, files, _) = write_log(30, 1000, 1000);
    let mut log = lines(&files[0]);
    let copy = log[3].clone();
    log.insert(20, copy);
    write_lines(&files[0], &log);
    let report = verify(&Verifier::new(), &files);
    assert!(
        matches!(report.tamper, Some(Tamper::Inserted { seq: 3, .. })),
        "{report}"
    );
}

#[test]
fn reordered_records_are_found() {
    let (_dir, files, _) = write_log(30, 1000, 1000);
    let mut log = lines(&files[0]);
    log.swap(8, 9);
    write_lines(&files[0], &log);
    let report = verify(&Verifier::new(), &files);
    assert!(
        matches!(report.tamper, Some(Tamper::Reordered { .. })),
        "{report}"
    );

    // One line moved far down.
    let (_dir, files, _) = write_log(30, 1000, 1000);
    let mut log = lines(&files[0]);
    let moved = log.remove(4);
    log.insert(25, moved);
    write_lines(&files[0], &log);
    let report = verify(&Verifier::new(), &files);
    assert!(
        matches!(report.tamper, Some(Tamper::Reordered { seq: 4, .. })),
        "{report}"
    );
}

#[test]
fn a_truncated_tail_is_found_against_a_head_kept_elsewhere() {
    let (_dir, files, head) = write_log(40, 12, 5);
    // Drop the last file and the end of the one before: the chain that is
    // left is whole, only the kept head shows the loss.
    let last = files.last().unwrap().clone();
    fs::remove_file(&last).unwrap();
    let kept = &files[..files.len() - 1];
    let mut log = lines(kept.last().unwrap());
    log.truncate(log.len() - 3);
    write_lines(kept.last().unwrap(), &log);
    assert!(
        verify(&trusted(), kept).is_intact(),
        "without the head the loss cannot show"
    );
    let report = verify(&trusted().expect_head(head.clone()), kept);
    assert!(
        matches!(report.tamper, Some(Tamper::Truncated { expected, .. }) if expected == head.seq),
        "{report}"
    );

    // The head's line (the closing checkpoint) present but different: a
    // rewrite.
    let (_dir, files, head) = write_log(10, 1000, 1000);
    let mut log = lines(&files[0]);
    let last = log.len() - 1;
    log[last] = log[last].replace("\"at\":\"", "\"at\":\"1");
    write_lines(&files[0], &log);
    let report = verify(&Verifier::new().expect_head(head), &files);
    assert!(
        matches!(report.tamper, Some(Tamper::HeadMismatch { .. })),
        "{report}"
    );
}

/// Rewrites every line from `from` on so that the links hold again, as
/// someone who can edit the file but has no key would.
fn relink(log: &mut [String], from: usize) {
    for i in from..log.len() {
        let prev = line_hash(log[i - 1].as_bytes());
        let mut value: serde_json::Value = serde_json::from_str(&log[i]).unwrap();
        value["prev"] = serde_json::Value::String(prev);
        log[i] = serde_json::to_string(&value).unwrap();
    }
}

#[test]
fn a_consistent_rewrite_is_caught_by_the_signed_checkpoints() {
    let (_dir, files, _) = write_log(30, 1000, 10);
    let mut log = lines(&files[0]);
    log[3] = log[3].replace("gpt-4o", "gpt-4o-mini");
    relink(&mut log, 4);
    write_lines(&files[0], &log);
    // The links hold: without a key, the rewrite cannot be seen.
    let unkeyed = verify(&Verifier::new(), &files);
    assert!(unkeyed.is_intact(), "{unkeyed}");
    assert!(unkeyed.checkpoints_unchecked > 0);
    // The first checkpoint after the edit signed the chain as it was.
    let report = verify(&trusted(), &files);
    match &report.tamper {
        Some(Tamper::BadCheckpoint { seq, .. }) => assert!(*seq > 3, "{report}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_checkpoint_from_a_key_not_trusted_is_a_break() {
    let (_dir, files, _) = write_log(12, 1000, 5);
    let report = verify(&Verifier::new().trust_key(key(8).verifying_key()), &files);
    match &report.tamper {
        Some(Tamper::BadCheckpoint { reason, .. }) => assert!(reason.contains("not trusted"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // A signature changed by one character.
    let (_dir, files, _) = write_log(12, 1000, 5);
    let mut log = lines(&files[0]);
    let at = log.iter().position(|l| l.contains("\"checkpoint\"")).unwrap();
    let sig_at = log[at].find("\"sig\":\"").unwrap() + 8;
    let mut bytes = log[at].clone().into_bytes();
    bytes[sig_at] = if bytes[sig_at] == b'A' { b'B' } else { b'A' };
    log[at] = String::from_utf8(bytes).unwrap();
    write_lines(&files[0], &log);
    // (The edit also breaks the next line's link; the checkpoint comes first.)
    let report = verify(&trusted(), &files);
    assert!(
        matches!(report.tamper, Some(Tamper::BadCheckpoint { .. })),
        "{report}"
    );
}

#[test]
fn a_torn_last_line_is_tolerated_and_reported() {
    let (_dir, files, head) = write_log(10, 1000, 1000);
    let path = files.last().unwrap();
    let mut file = fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(b"{\"v\":1,\"seq\":10,\"prev\":\"ab").unwrap();
    drop(file);
    let report = verify(&Verifier::new().expect_head(head.clone()), &files);
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.head, Some(head));
    let torn = report.torn_tail.expect("reported");
    // Ten records and the closing checkpoint, then the torn line.
    assert_eq!((torn.at.line, torn.bytes), (12, 26));

    // A torn line anywhere but at the end is a break.
    let (_dir, files, _) = write_log(10, 4, 1000);
    let mut text = fs::read(&files[0]).unwrap();
    text.truncate(text.len() - 5);
    fs::write(&files[0], text).unwrap();
    let report = verify(&Verifier::new(), &files);
    assert!(
        matches!(report.tamper, Some(Tamper::Unreadable { .. })),
        "{report}"
    );
}

#[test]
fn a_chain_resumed_from_the_last_line_goes_on_unbroken() {
    let (dir, files, _) = write_log(10, 1000, 1000);
    let log = lines(&files[0]);
    let head = Head::of_line(log.last().unwrap().as_bytes()).unwrap();
    let mut chain = Chain::resume(&head);
    let mut more = Vec::new();
    for i in 10..15 {
        chain.append(&AuditRecord::new(format!("req-{i}")), &mut more);
    }
    let next = dir.path().join("audit.next.jsonl");
    fs::write(&next, more).unwrap();
    let report = verify(&Verifier::new(), &[files[0].clone(), next]);
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records, 15);
    assert_eq!(report.head, chain.head());
}

#[test]
fn heads_read_back_as_written() {
    let head = Head {
        seq: 42,
        hash: line_hash(b"x"),
    };
    assert_eq!(head.to_string().parse::<Head>().unwrap(), head);
    assert!("42".parse::<Head>().is_err());
    assert!("x:00".parse::<Head>().is_err());
    assert!(format!("1:{}", "A".repeat(64)).parse::<Head>().is_err());
}

#[test]
fn records_round_trip_and_never_show_an_empty_field() {
    let mut chain = Chain::new();
    let mut log = Vec::new();
    let mut record = AuditRecord::new("req-1");
    record.model = "gpt-4o".to_owned();
    chain.append(&record, &mut log);
    let line = std::str::from_utf8(&log).unwrap().trim_end();
    assert!(line.starts_with("{\"v\":1,\"seq\":0,\"prev\":\"0000"), "{line}");
    assert!(
        !line.contains("null") && !line.contains("[]") && !line.contains("{}"),
        "{line}"
    );
    let back: AuditRecord = serde_json::from_str(line).unwrap();
    assert_eq!(back, record);
}

proptest::proptest! {
    /// Any one line removed, changed or moved, anywhere in a log, is found.
    #[test]
    fn any_single_change_is_found(records in 2usize..40, pick in 0usize..1000, change in 0u8..3) {
        let (_dir, files, head) = write_log(records, 1000, 1000);
        let mut log = lines(&files[0]);
        let at = pick % log.len();
        match change {
            0 => { log.remove(at); }
            // One space added: still JSON, still the same fields.
            1 => { log[at].insert(1, ' '); }
            _ => {
                let to = (at + 1 + pick % 7) % log.len();
                proptest::prop_assume!(to != at);
                let line = log.remove(at);
                log.insert(to, line);
            }
        }
        write_lines(&files[0], &log);
        let report = verify(&Verifier::new().expect_head(head), &files);
        proptest::prop_assert!(!report.is_intact(), "{}", report);
    }
}
