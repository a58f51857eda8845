//! Nothing acknowledged is lost: a child process writes records under
//! concurrent load and reports each acknowledged call; the parent kills it
//! with SIGKILL at random moments, several times, and then finds every
//! reported call in the log, whose chain verifies up to a torn last line.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

use tower::{Layer, ServiceExt};
use tower_ai::audit::{AuditLog, AuditRecord, CheckpointSigner, FileSink, QueuePolicy, SigningKey, Verifier};
use tower_ai::provider::mock::MockProvider;
use tower_ai::provider::ProviderService;
use tower_ai::types::ChatRequest;
use tower_ai::LlmRequest;

const PATH_VAR: &str = "TOWER_AI_AUDIT_CHILD_PATH";
const ROUND_VAR: &str = "TOWER_AI_AUDIT_CHILD_ROUND";

fn signer() -> CheckpointSigner {
    CheckpointSigner::new(SigningKey::from_bytes(&[3; 32]), 50)
}

/// The child of [`acknowledged_records_survive_sigkill`]: calls through an
/// audit layer from 32 tasks until it is killed, and prints `ACK <id>` for
/// each call whose reply came back (the log holds replies until their
/// record is synced).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of acknowledged_records_survive_sigkill"]
async fn child_writes_records_until_killed() {
    let path = std::env::var(PATH_VAR).expect("run by its parent test");
    let round = std::env::var(ROUND_VAR).unwrap();
    let log = AuditLog::builder(FileSink::open(&path).unwrap().rotate_at(64 * 1024))
        .checkpoints(signer())
        .on_full(QueuePolicy::Wait)
        .capacity(256)
        .hold_until_acknowledged(true)
        .start()
        .await
        .unwrap();
    let service = log
        .layer()
        .layer(ProviderService::new(MockProvider::new().with_text_reply("ok")));
    let mut tasks = Vec::new();
    for task in 0..32 {
        let service = service.clone();
        let round = round.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let mut request = LlmRequest::new(ChatRequest::new("m").user("hello"));
                request.meta.id = format!("{round}-{task}-{n}");
                let id = request.meta.id.clone();
                service.clone().oneshot(request).await.unwrap();
                let mut out = std::io::stdout().lock();
                writeln!(out, "ACK {id}").unwrap();
                out.flush().unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[test]
fn acknowledged_records_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut acknowledged = HashSet::new();
    let rounds = 5;
    for round in 0..rounds {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "audit_crash::child_writes_records_until_killed",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(PATH_VAR, &path)
            .env(ROUND_VAR, round.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the test binary runs again as the child");
        let stdout = child.stdout.take().unwrap();
        let (first, first_ack) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut ids = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(id) = line.strip_prefix("ACK ") {
                    if ids.is_empty() {
                        let _ = first.send(());
                    }
                    ids.push(id.to_owned());
                }
            }
            ids
        });
        // Killed at a random moment once it is under way.
        first_ack
            .recv_timeout(Duration::from_secs(60))
            .expect("the child acknowledged a first call");
        std::thread::sleep(Duration::from_millis(fastrand::u64(0..400)));
        // SIGKILL: no destructor, no flush, no shutdown.
        child.kill().unwrap();
        child.wait().unwrap();
        let ids = reader.join().unwrap();
        acknowledged.extend(ids);
    }

    let files = FileSink::files(&path).unwrap();
    let report = Verifier::new()
        .trust_key(signer().verifying_key())
        .verify_files(&files)
        .unwrap();
    assert!(report.is_intact(), "{report}");
    let mut recorded = HashSet::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
        // The last line of the last file may be torn by the last kill.
        if file == files.last().unwrap() && lines.last().is_some_and(|l| !l.ends_with('\n')) {
            lines.pop();
        }
        for line in lines {
            if line.contains("\"kind\":\"call\"") {
                let record: AuditRecord = serde_json::from_str(line.trim_end()).unwrap();
                recorded.insert(record.id);
            }
        }
    }
    let lost: Vec<&String> = acknowledged.difference(&recorded).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged records lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert!(
        acknowledged.len() > 100,
        "only {} calls acknowledged",
        acknowledged.len()
    );
    eprintln!(
        "{} calls acknowledged over {rounds} kills, {} records in the log, {} files, checkpoints verified: {}",
        acknowledged.len(),
        recorded.len(),
        files.len(),
        report.checkpoints_verified
    );
}
