//! The audit layer: exactly one record per call for every outcome, with
//! the right fields, written to a real file that verifies; the queue's
//! policies when the sink falls behind; shutdown.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Semaphore;
use tower::{service_fn, Layer, ServiceExt};
use tower_ai::audit::{sink_fn, Audit, AuditLog, AuditRecord, FileSink, QueuePolicy, Verifier};
use tower_ai::guardrail::detect::Detector;
use tower_ai::guardrail::{GuardrailLayer, PiiGuard};
use tower_ai::provider::mock::{MockProvider, MockReply};
use tower_ai::provider::ProviderService;
use tower_ai::types::{CacheStatus, ChatRequest, ChatResponse, Principal, StreamEvent};
use tower_ai::{Error, LlmRequest, LlmResponse, Reply};

/// The records a log wrote to its file, read back after shutdown, and the
/// file verified.
async fn records_of(log: &AuditLog, path: &std::path::Path) -> Vec<AuditRecord> {
    log.shutdown().await.unwrap();
    let files = FileSink::files(path).unwrap();
    let report = Verifier::new().verify_files(&files).unwrap();
    assert!(report.is_intact(), "{report}");
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|line| line.contains("\"kind\":\"call\""))
        .map(|line| serde_json::from_str(&line).unwrap())
        .collect()
}

async fn file_log(dir: &tempfile::TempDir) -> (AuditLog, std::path::PathBuf) {
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::builder(FileSink::open(&path).unwrap().without_fsync())
        .start()
        .await
        .unwrap();
    (log, path)
}

fn chat(text: &str) -> ChatRequest {
    ChatRequest::new("gpt-4o").user(text)
}

#[tokio::test]
async fn each_outcome_gets_exactly_one_record_with_its_fields() {
    let dir = tempfile::tempdir().unwrap();
    let (log, path) = file_log(&dir).await;
    let mock = MockProvider::new().with_text_reply("fine");
    let service = log.layer().layer(ProviderService::new(mock.clone()));

    // Complete, ok, with a principal and a tag.
    let mut request = LlmRequest::new(chat("hello"));
    request.meta.id = "ok-complete".into();
    request.meta.principal = Principal::default().tenant("acme").user("ann");
    request.meta.tags.insert("feature".into(), "search".into());
    service
        .clone()
        .oneshot(request)
        .await
        .unwrap()
        .into_complete()
        .await
        .unwrap();

    // Streamed, ok.
    mock.enqueue(MockReply::text_stream(["a", "b", "c"]));
    let mut request = LlmRequest::stream(chat("hello"));
    request.meta.id = "ok-stream".into();
    let reply = service.clone().oneshot(request).await.unwrap();
    let Reply::Stream(stream) = reply.reply else {
        panic!()
    };
    assert!(stream.count().await >= 3);

    // Failed before the head.
    mock.enqueue(MockReply::error(Error::timeout(
        tower_ai::error::TimeoutKind::Total,
        None,
    )));
    let mut request = LlmRequest::new(chat("hello"));
    request.meta.id = "failed".into();
    assert!(service.clone().oneshot(request).await.is_err());

    // Failed mid-stream.
    mock.enqueue(MockReply::text_stream(["a", "b"]).then_fail(Error::transport(io::Error::other("reset"))));
    let mut request = LlmRequest::stream(chat("hello"));
    request.meta.id = "failed-mid-stream".into();
    let reply = service.clone().oneshot(request).await.unwrap();
    let Reply::Stream(stream) = reply.reply else {
        panic!()
    };
    let items: Vec<_> = stream.collect().await;
    assert!(items.last().unwrap().is_err());

    // Cancelled after the head: the stream dropped after one event.
    mock.enqueue(MockReply::text_stream(["a", "b", "c", "d"]));
    let mut request = LlmRequest::stream(chat("hello"));
    request.meta.id = "cancelled-mid-stream".into();
    let reply = service.clone().oneshot(request).await.unwrap();
    let Reply::Stream(mut stream) = reply.reply else {
        panic!()
    };
    stream.next().await.unwrap().unwrap();
    drop(stream);

    // Cancelled before the head.
    let slow = MockProvider::new().with_latency(Duration::from_secs(60));
    let mut request = LlmRequest::new(chat("hello"));
    request.meta.id = "cancelled".into();
    let call = log.layer().layer(ProviderService::new(slow)).oneshot(request);
    assert!(tokio::time::timeout(Duration::from_millis(20), call)
        .await
        .is_err());

    let records = records_of(&log, &path).await;
    let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "ok-complete",
            "ok-stream",
            "failed",
            "failed-mid-stream",
            "cancelled-mid-stream",
            "cancelled"
        ]
    );
    let by_id = |id: &str| records.iter().find(|r| r.id == id).unwrap();

    let ok = by_id("ok-complete");
    assert_eq!(ok.outcome.status, "ok");
    assert_eq!(ok.principal.tenant.as_deref(), Some("acme"));
    assert_eq!(ok.principal.user.as_deref(), Some("ann"));
    assert_eq!(ok.tags["feature"], "search");
    assert_eq!(ok.model, "gpt-4o");
    assert_eq!(ok.mode, "complete");
    assert_eq!(ok.request_sha256, chat("hello").canonical_key().to_hex());
    assert!(ok.reply_sha256.is_some());
    assert!(ok.served.as_ref().is_some_and(|s| !s.provider.is_empty()));
    assert!(!ok.start.is_empty() && !ok.end.is_empty() && ok.start <= ok.end);
    assert!(ok.content.is_none(), "content is off by default");

    let streamed = by_id("ok-stream");
    assert_eq!(
        (streamed.outcome.status.as_str(), streamed.mode.as_str()),
        ("ok", "stream")
    );
    assert!(streamed.ttft_ms.is_some());
    // The same request, the same hash, whatever the reply mode.
    assert_eq!(streamed.request_sha256, ok.request_sha256);

    let failed = by_id("failed");
    assert_eq!(failed.outcome.status, "error");
    assert_eq!(failed.outcome.error.as_deref(), Some("timeout"));
    assert!(!failed.outcome.after_head);
    assert!(failed.reply_sha256.is_none());

    let mid = by_id("failed-mid-stream");
    assert_eq!(mid.outcome.error.as_deref(), Some("transport"));
    assert!(mid.outcome.after_head);

    let cancelled_mid = by_id("cancelled-mid-stream");
    assert_eq!(cancelled_mid.outcome.status, "cancelled");
    assert!(cancelled_mid.outcome.after_head);
    let cancelled = by_id("cancelled");
    assert_eq!(cancelled.outcome.status, "cancelled");
    assert!(!cancelled.outcome.after_head);
}

#[tokio::test]
async fn refusals_and_cache_hits_are_recorded_with_who_decided() {
    let dir = tempfile::tempdir().unwrap();
    let (log, path) = file_log(&dir).await;
    let inner = service_fn(|request: LlmRequest| async move {
        match request.meta.id.as_str() {
            "blocked" => Err(Error::blocked("pii", "a card number")),
            "over-budget" => Err(Error::budget_exceeded("tenant:acme", "10 requests per day", None)),
            _ => {
                let mut response = LlmResponse::new(Reply::Complete(ChatResponse::text_reply(
                    "r",
                    "m",
                    "cached answer",
                )));
                response.extensions.insert(CacheStatus::HitExact);
                Ok(response)
            }
        }
    });
    let service = log.layer().layer(inner);
    for id in ["blocked", "over-budget", "cached"] {
        let mut request = LlmRequest::new(chat("x"));
        request.meta.id = id.into();
        let _ = service.clone().oneshot(request).await;
    }
    let records = records_of(&log, &path).await;
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].outcome.status, "blocked");
    assert_eq!(records[0].outcome.guard.as_deref(), Some("pii"));
    assert_eq!(records[1].outcome.status, "budget_exceeded");
    assert_eq!(records[1].outcome.scope.as_deref(), Some("tenant:acme"));
    assert_eq!(records[2].outcome.status, "cached");
    assert_eq!(records[2].cache.as_deref(), Some("hit"));
}

#[tokio::test]
async fn guard_findings_are_recorded_without_their_values() {
    let dir = tempfile::tempdir().unwrap();
    let (log, path) = file_log(&dir).await;
    let mock = MockProvider::new().with_text_reply("noted");
    let guardrail = GuardrailLayer::new().guard(PiiGuard::new(Detector::builder().build().unwrap()));
    let service = log.layer().layer(guardrail.layer(ProviderService::new(mock)));
    let request = LlmRequest::new(chat("mail me at jane.doe@example.org please"));
    service
        .oneshot(request)
        .await
        .unwrap()
        .into_complete()
        .await
        .unwrap();
    let records = records_of(&log, &path).await;
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("jane.doe"), "a redacted value is never in the log");
    let finding = records[0]
        .guards
        .iter()
        .flat_map(|g| &g.findings)
        .find(|f| f.entity == "EMAIL")
        .expect("the finding is recorded");
    assert_eq!(finding.location, "message 0 part 0");
    assert_eq!(finding.action, "placeholder");
}

/// A sink that takes a batch only when the test lets it (`gate`), keeps
/// the lines it took (`lines`), and says when a batch arrives (`arrived`).
#[derive(Clone)]
struct Gated {
    gate: Arc<Semaphore>,
    lines: Arc<Mutex<Vec<String>>>,
    arrived: Arc<Semaphore>,
}

impl Gated {
    fn new() -> Self {
        Self {
            gate: Arc::new(Semaphore::new(0)),
            lines: Arc::new(Mutex::new(Vec::new())),
            arrived: Arc::new(Semaphore::new(0)),
        }
    }

    fn sink(&self) -> impl tower_ai::audit::AuditSink {
        let gated = self.clone();
        sink_fn(move |batch: Vec<(u64, String)>| {
            let gated = gated.clone();
            async move {
                gated.arrived.add_permits(1);
                gated.gate.acquire().await.unwrap().forget();
                gated
                    .lines
                    .lock()
                    .unwrap()
                    .extend(batch.into_iter().map(|(_, line)| line));
                Ok(())
            }
        })
    }

    /// Waits until a batch is at the sink.
    async fn batch_arrived(&self) {
        self.arrived.acquire().await.unwrap().forget();
    }

    /// Lets `batches` more batches through.
    fn open(&self, batches: usize) {
        self.gate.add_permits(batches);
    }

    fn written(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

fn quick_service(log: &AuditLog) -> Audit<ProviderService> {
    log.layer()
        .layer(ProviderService::new(MockProvider::new().with_text_reply("ok")))
}

async fn call(service: &Audit<ProviderService>) -> Result<(), Error> {
    service
        .clone()
        .oneshot(LlmRequest::new(chat("hi")))
        .await?
        .into_complete()
        .await
        .map(|_| ())
}

#[tokio::test]
async fn a_full_queue_refuses_new_calls_by_default() {
    let gated = Gated::new();
    let log = AuditLog::builder(gated.sink())
        .capacity(4)
        .batch(1)
        .start()
        .await
        .unwrap();
    let service = quick_service(&log);
    // The writer takes one record and waits on the sink; four more fill
    // the queue.
    let mut ok = 0;
    let mut refused = 0;
    for i in 0..10 {
        match call(&service).await {
            Ok(()) => ok += 1,
            Err(Error::AuditUnavailable { reason, .. }) => {
                assert_eq!(reason, "queue full");
                refused += 1;
            }
            Err(other) => panic!("{other}"),
        }
        if i == 0 {
            gated.batch_arrived().await;
        }
    }
    assert_eq!((ok, refused), (5, 5));
    // Once the sink catches up, calls go through again; every accepted
    // call was written.
    gated.open(1000);
    log.shutdown().await.unwrap();
    assert_eq!(gated.written().len(), 5);
    // After shutdown every call is refused.
    assert!(matches!(
        call(&service).await,
        Err(Error::AuditUnavailable {
            reason: "writer stopped",
            ..
        })
    ));
}

#[tokio::test]
async fn drop_and_count_lets_calls_through_and_reports_the_drops() {
    let gated = Gated::new();
    let log = AuditLog::builder(gated.sink())
        .capacity(2)
        .batch(1)
        .on_full(QueuePolicy::DropAndCount)
        .start()
        .await
        .unwrap();
    let service = quick_service(&log);
    for i in 0..10 {
        call(&service).await.unwrap();
        if i == 0 {
            gated.batch_arrived().await;
        }
    }
    assert_eq!(log.dropped(), 7, "one at the sink, two queued, seven dropped");
    gated.open(1000);
    // The next record written after the drops carries their count.
    tokio::time::sleep(Duration::from_millis(50)).await;
    call(&service).await.unwrap();
    log.shutdown().await.unwrap();
    let lines = gated.written();
    let reported: u64 = lines
        .iter()
        .map(|l| serde_json::from_str::<AuditRecord>(l).unwrap().dropped_before)
        .sum();
    assert_eq!(reported, 7);
    assert_eq!(lines.len(), 4);
}

#[tokio::test]
async fn wait_holds_new_calls_until_there_is_room() {
    let gated = Gated::new();
    let log = AuditLog::builder(gated.sink())
        .capacity(2)
        .batch(1)
        .on_full(QueuePolicy::Wait)
        .start()
        .await
        .unwrap();
    let service = quick_service(&log);
    for i in 0..3 {
        call(&service).await.unwrap();
        if i == 0 {
            gated.batch_arrived().await;
        }
    }
    // The queue is full: the next call waits for room.
    let waiting = tokio::spawn({
        let service = service.clone();
        async move { call(&service).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiting.is_finished(), "the call waits while the queue is full");
    gated.open(1);
    waiting.await.unwrap().unwrap();
    gated.open(1000);
    log.shutdown().await.unwrap();
    assert_eq!(gated.written().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundreds_of_concurrent_calls_make_exactly_one_record_each() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::builder(FileSink::open(&path).unwrap().rotate_at(16 * 1024))
        .capacity(64)
        .on_full(QueuePolicy::Wait)
        .start()
        .await
        .unwrap();
    let mock = MockProvider::new().with_text_reply("ok");
    let service = log.layer().layer(ProviderService::new(mock));
    let mut calls = Vec::new();
    for i in 0..400 {
        let service = service.clone();
        calls.push(tokio::spawn(async move {
            let mut request = if i % 2 == 0 {
                LlmRequest::new(chat("hi"))
            } else {
                LlmRequest::stream(chat("hi"))
            };
            request.meta.id = format!("call-{i}");
            let reply = service.oneshot(request).await.unwrap();
            reply.into_complete().await.unwrap();
        }));
    }
    for call in calls {
        call.await.unwrap();
    }
    let records = records_of(&log, &path).await;
    assert!(FileSink::files(&path).unwrap().len() > 1, "the log rotated");
    let mut ids: Vec<String> = records.into_iter().map(|r| r.id).collect();
    ids.sort();
    let mut expected: Vec<String> = (0..400).map(|i| format!("call-{i}")).collect();
    expected.sort();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn a_log_reopened_goes_on_with_its_chain_and_cuts_a_torn_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    for round in 0..3 {
        let log = AuditLog::builder(FileSink::open(&path).unwrap())
            .start()
            .await
            .unwrap();
        let service = quick_service(&log);
        for _ in 0..5 {
            call(&service).await.unwrap();
        }
        log.shutdown().await.unwrap();
        if round == 1 {
            // A crash in the middle of a write.
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
            file.write_all(b"{\"v\":1,\"seq\":10,\"pr").unwrap();
        }
    }
    let report = Verifier::new()
        .verify_files(&FileSink::files(&path).unwrap())
        .unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records, 15);
    assert!(
        report.torn_tail.is_none(),
        "the torn line was cut off on reopening"
    );
}

#[tokio::test]
async fn content_is_kept_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::builder(FileSink::open(&path).unwrap())
        .with_content(true)
        .start()
        .await
        .unwrap();
    let service = quick_service(&log);
    call(&service).await.unwrap();
    let records = records_of(&log, &path).await;
    let content = records[0].content.as_ref().unwrap();
    assert_eq!(content["request"]["model"], "gpt-4o");
    assert!(content["reply"].to_string().contains("ok"));
}

#[tokio::test]
async fn stream_events_pass_through_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _path) = file_log(&dir).await;
    let mock = MockProvider::new();
    mock.enqueue(MockReply::text_stream(["x", "y"]));
    let bare: Vec<StreamEvent> = {
        let reply = ProviderService::new(mock.clone())
            .oneshot(LlmRequest::stream(chat("hi")))
            .await
            .unwrap();
        let Reply::Stream(stream) = reply.reply else {
            panic!()
        };
        stream.map(Result::unwrap).collect().await
    };
    mock.enqueue(MockReply::text_stream(["x", "y"]));
    let service = log.layer().layer(ProviderService::new(mock));
    let reply = service.oneshot(LlmRequest::stream(chat("hi"))).await.unwrap();
    let Reply::Stream(stream) = reply.reply else {
        panic!()
    };
    let audited: Vec<StreamEvent> = stream.map(Result::unwrap).collect().await;
    assert_eq!(audited, bare);
    log.shutdown().await.unwrap();
}

#[tokio::test]
async fn held_replies_wait_for_their_record() {
    let gated = Gated::new();
    let log = AuditLog::builder(gated.sink())
        .hold_until_acknowledged(true)
        .start()
        .await
        .unwrap();
    let mock = MockProvider::new().with_text_reply("ok");
    let service = log.layer().layer(ProviderService::new(mock.clone()));

    // A complete reply: returned only once its record is written.
    let complete = tokio::spawn({
        let service = service.clone();
        async move { service.oneshot(LlmRequest::new(chat("hi"))).await.map(|_| ()) }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!complete.is_finished(), "held until the sink takes the record");
    gated.open(1);
    complete.await.unwrap().unwrap();
    assert_eq!(gated.written().len(), 1);

    // A stream: its text comes at once, its finish after the record.
    mock.enqueue(MockReply::text_stream(["a", "b"]));
    let reply = service
        .clone()
        .oneshot(LlmRequest::stream(chat("hi")))
        .await
        .unwrap();
    let Reply::Stream(mut stream) = reply.reply else {
        panic!()
    };
    let mut texts = 0;
    let finish = loop {
        let next = tokio::time::timeout(Duration::from_millis(50), stream.next()).await;
        match next {
            Ok(Some(Ok(StreamEvent::Finish { .. }))) => panic!("the finish came before the record"),
            Ok(Some(Ok(event))) => texts += usize::from(matches!(event, StreamEvent::TextDelta { .. })),
            Ok(other) => panic!("{other:?}"),
            Err(_) => break stream,
        }
    };
    assert_eq!(texts, 2);
    let mut stream = finish;
    gated.open(1);
    assert!(matches!(
        stream.next().await,
        Some(Ok(StreamEvent::Finish { .. }))
    ));
    assert!(stream.next().await.is_none());
    assert_eq!(gated.written().len(), 2);
    gated.open(1000);
    log.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_held_reply_whose_record_was_dropped_is_refused() {
    let gated = Gated::new();
    let log = AuditLog::builder(gated.sink())
        .capacity(1)
        .batch(1)
        .on_full(QueuePolicy::DropAndCount)
        .hold_until_acknowledged(true)
        .start()
        .await
        .unwrap();
    let service = quick_service(&log);
    // One record at the sink, one queued: the third is dropped, and its
    // caller told so rather than handed an unrecorded reply.
    let first = tokio::spawn({
        let service = service.clone();
        async move { call(&service).await }
    });
    gated.batch_arrived().await;
    let second = tokio::spawn({
        let service = service.clone();
        async move { call(&service).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let third = call(&service).await;
    assert!(
        matches!(
            third,
            Err(Error::AuditUnavailable {
                reason: "record not acknowledged",
                ..
            })
        ),
        "{third:?}"
    );
    gated.open(1000);
    first.await.unwrap().unwrap();
    second.await.unwrap().unwrap();
    log.shutdown().await.unwrap();
    assert_eq!(log.dropped(), 1);
}

#[tokio::test]
async fn a_quiet_log_is_checkpointed_after_its_interval() {
    use tower_ai::audit::{CheckpointSigner, SigningKey};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let signer =
        CheckpointSigner::new(SigningKey::from_bytes(&[5; 32]), 1000).interval(Duration::from_millis(30));
    let key = signer.verifying_key();
    let log = AuditLog::builder(FileSink::open(&path).unwrap())
        .checkpoints(signer)
        .start()
        .await
        .unwrap();
    let service = quick_service(&log);
    call(&service).await.unwrap();
    call(&service).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Written by the writer on its own: no shutdown yet.
    let report = Verifier::new().trust_key(key).verify_files(&[&path]).unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(
        (report.records, report.checkpoints_verified, report.unsigned_tail),
        (2, 1, 0)
    );
    log.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_does_not_hang_on_a_sink_that_is_down_and_says_what_was_lost() {
    let log = AuditLog::builder(sink_fn(|_lines: Vec<(u64, String)>| async {
        Err(io::Error::other("disk gone"))
    }))
    .start()
    .await
    .unwrap();
    let service = quick_service(&log);
    for _ in 0..3 {
        call(&service).await.unwrap();
    }
    let shutdown = tokio::time::timeout(Duration::from_secs(30), log.shutdown()).await;
    let error = shutdown
        .expect("the shutdown ends")
        .expect_err("records were not written");
    assert!(error.to_string().contains("not written"), "{error}");
}

#[tokio::test]
async fn shutdown_waits_for_the_calls_in_flight_and_refuses_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (log, path) = file_log(&dir).await;
    let mock = MockProvider::new();
    mock.enqueue(MockReply::text_stream(["a", "b"]));
    let service = log.layer().layer(ProviderService::new(mock));
    let reply = service
        .clone()
        .oneshot(LlmRequest::stream(chat("hi")))
        .await
        .unwrap();
    let Reply::Stream(mut stream) = reply.reply else {
        panic!()
    };
    stream.next().await.unwrap().unwrap();
    let shutdown = tokio::spawn({
        let log = log.clone();
        async move { log.shutdown().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!shutdown.is_finished(), "a call in flight holds the shutdown");
    // New calls are refused meanwhile.
    let refused = service.clone().oneshot(LlmRequest::new(chat("late"))).await;
    assert!(matches!(
        refused,
        Err(Error::AuditUnavailable {
            reason: "writer stopped",
            ..
        })
    ));
    while stream.next().await.is_some() {}
    drop(stream);
    shutdown.await.unwrap().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let report = Verifier::new().verify_reader("audit", text.as_bytes()).unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(
        report.records, 1,
        "the streamed call's record, written at shutdown"
    );
}

#[tokio::test]
async fn streamed_refusals_and_cache_hits_are_recorded_too() {
    use tower_ai::types::ChatStream;
    let dir = tempfile::tempdir().unwrap();
    let (log, path) = file_log(&dir).await;
    let inner = service_fn(|request: LlmRequest| async move {
        let reply = ChatResponse::text_reply("r", "m", "some text");
        let mut events: Vec<Result<StreamEvent, Error>> = reply.to_events().into_iter().map(Ok).collect();
        let cached = request.meta.id == "cached-stream";
        if !cached {
            // An output guard refusing half-way.
            events.truncate(2);
            events.push(Err(Error::blocked("pii", "a card number in the reply")));
        }
        let mut response =
            LlmResponse::new(Reply::Stream(ChatStream::new(futures_util::stream::iter(events))));
        if cached {
            response.extensions.insert(CacheStatus::HitExact);
        }
        Ok::<_, Error>(response)
    });
    let service = log.layer().layer(inner);
    for id in ["blocked-stream", "cached-stream"] {
        let mut request = LlmRequest::stream(chat("x"));
        request.meta.id = id.into();
        let reply = service.clone().oneshot(request).await.unwrap();
        let Reply::Stream(stream) = reply.reply else {
            panic!()
        };
        let _: Vec<_> = stream.collect().await;
    }
    let records = records_of(&log, &path).await;
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].outcome.status, "blocked");
    assert_eq!(records[0].outcome.guard.as_deref(), Some("pii"));
    assert!(records[0].outcome.after_head);
    assert_eq!(
        (records[1].outcome.status.as_str(), records[1].mode.as_str()),
        ("cached", "stream")
    );
}

#[tokio::test]
async fn a_fan_out_gives_every_sink_every_line_and_tracing_gets_events() {
    use tower_ai::audit::{AuditBatch, AuditSink, FanOut, TracingSink};

    let first = Arc::new(Mutex::new(Vec::new()));
    let second = Arc::new(Mutex::new(Vec::new()));
    let collect = |into: Arc<Mutex<Vec<String>>>| {
        sink_fn(move |lines: Vec<(u64, String)>| {
            let into = into.clone();
            async move {
                into.lock().unwrap().extend(lines.into_iter().map(|(_, l)| l));
                Ok(())
            }
        })
    };
    let log = AuditLog::builder(
        FanOut::new()
            .sink(collect(first.clone()))
            .sink(collect(second.clone())),
    )
    .start()
    .await
    .unwrap();
    let service = quick_service(&log);
    for _ in 0..5 {
        call(&service).await.unwrap();
    }
    log.shutdown().await.unwrap();
    assert_eq!(first.lock().unwrap().len(), 5);
    assert_eq!(*first.lock().unwrap(), *second.lock().unwrap());

    // The tracing sink: one event per line, with its seq and text.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().write(bytes)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let lines = first.lock().unwrap().clone();
    let batch = AuditBatch::from_lines(lines.iter().cloned().enumerate().map(|(i, l)| (i as u64, l)));
    TracingSink.write(&batch).await.unwrap();
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert_eq!(text.matches("audit record").count(), 5, "{text}");
    assert!(
        text.contains("seq=4") && text.contains("tower_ai::audit"),
        "{text}"
    );
}
