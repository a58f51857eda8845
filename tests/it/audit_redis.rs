//! The Redis Streams sink against a `redis-server` of the test's own:
//! records land in order and verify, a batch written again adds nothing
//! twice, a log restarted goes on with the stream's chain, and Redis down
//! follows the queue's policy.

use std::time::Duration;

use tower::{Layer, ServiceExt};
use tower_ai::audit::{AuditLog, RedisStreamSink, Verifier};
use tower_ai::provider::mock::MockProvider;
use tower_ai::provider::ProviderService;
use tower_ai::types::ChatRequest;
use tower_ai::{Error, LlmRequest};

use crate::support::redis::RedisServer;

async fn calls(log: &AuditLog, ids: std::ops::Range<usize>) -> Vec<Result<(), Error>> {
    let service = log
        .layer()
        .layer(ProviderService::new(MockProvider::new().with_text_reply("ok")));
    let mut results = Vec::new();
    for i in ids {
        let mut request = LlmRequest::new(ChatRequest::new("m").user("hi"));
        request.meta.id = format!("call-{i}");
        results.push(service.clone().oneshot(request).await.map(|_| ()));
    }
    results
}

fn verify(lines: &[String]) -> tower_ai::audit::Report {
    let mut text = lines.join("\n");
    text.push('\n');
    Verifier::new().verify_reader("redis", text.as_bytes()).unwrap()
}

#[tokio::test]
async fn records_land_in_order_and_a_restarted_log_goes_on() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    for round in 0..2 {
        let sink = RedisStreamSink::connect(&server.url(), "audit").await.unwrap();
        let log = AuditLog::builder(sink).start().await.unwrap();
        let results = calls(&log, round * 10..round * 10 + 10).await;
        assert!(results.iter().all(Result::is_ok));
        log.shutdown().await.unwrap();
    }
    let mut sink = RedisStreamSink::connect(&server.url(), "audit").await.unwrap();
    let lines = sink.lines().await.unwrap();
    assert_eq!(lines.len(), 20);
    for (i, line) in lines.iter().enumerate() {
        assert!(line.contains(&format!("\"id\":\"call-{i}\"")), "{line}");
    }
    let report = verify(&lines);
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records, 20);
}

#[tokio::test]
async fn a_batch_written_again_adds_nothing_twice() {
    use tower_ai::audit::{AuditRecord, AuditSink, Chain};
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut sink = RedisStreamSink::connect(&server.url(), "audit").await.unwrap();
    // Two batches by hand, the first sent twice (as after a lost answer).
    let mut chain = Chain::new();
    let mut first = Vec::new();
    for id in ["a", "b"] {
        chain.append(&AuditRecord::new(id), &mut first);
    }
    let mut second = Vec::new();
    chain.append(&AuditRecord::new("c"), &mut second);
    let batch = |bytes: Vec<u8>, from: u64| {
        let text = String::from_utf8(bytes).unwrap();
        tower_ai::audit::AuditBatch::from_lines(
            text.lines()
                .enumerate()
                .map(|(i, l)| (from + i as u64, l.to_owned())),
        )
    };
    sink.write(&batch(first.clone(), 0)).await.unwrap();
    sink.write(&batch(first, 0)).await.unwrap();
    sink.write(&batch(second, 2)).await.unwrap();
    let lines = sink.lines().await.unwrap();
    assert_eq!(lines.len(), 3);
    assert!(verify(&lines).is_intact());
}

#[tokio::test]
async fn redis_down_follows_the_queue_policy() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let sink = RedisStreamSink::connect(&server.url(), "audit").await.unwrap();
    let log = AuditLog::builder(sink)
        .capacity(4)
        .batch(1)
        .start()
        .await
        .unwrap();
    assert!(calls(&log, 0..3).await.iter().all(Result::is_ok));
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(server);
    // The writer cannot write; the queue fills; the default policy refuses.
    let results = calls(&log, 3..20).await;
    let refused = results
        .iter()
        .filter(|r| {
            matches!(
                r,
                Err(Error::AuditUnavailable {
                    reason: "queue full",
                    ..
                })
            )
        })
        .count();
    // One record held by the writer, four in the queue, the rest refused.
    assert!(refused >= 12, "{refused} refused: {results:?}");
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 17 - refused);
}
