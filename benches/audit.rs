//! What the audit layer adds to a call, against the bare provider path in
//! the same run, and how many records a second reach the disk.
//!
//! `audit_call`: one complete call at a time, bare, then through an audit
//! layer writing to a file with one `fsync` per batch (group commit), and
//! the same with signed checkpoints every 100 records. The runtime has one
//! thread, so the writer's work (chaining, hashing, serialising) is paid
//! on the same thread as the calls and counted; the `fsync` runs on
//! Tokio's blocking pool. Target: under 3 µs added.
//!
//! `audit_throughput`: 2,000 calls in flight at once, bare and audited to
//! a file with `fsync` per batch: records written and synced a second.
//!
//! ```text
//! cargo bench --bench audit
//! ```

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::future::join_all;
use tower::{Layer, ServiceExt};
use tower_ai::audit::{AuditLog, CheckpointSigner, FileSink, QueuePolicy, SigningKey};
use tower_ai::provider::mock::MockProvider;
use tower_ai::provider::ProviderService;
use tower_ai::types::ChatRequest;
use tower_ai::{LlmRequest, Principal};

#[path = "support/call.rs"]
mod call;
use call::time_call;

fn request(chat: &ChatRequest) -> LlmRequest {
    LlmRequest::new(chat.clone()).with_principal(Principal::new().tenant("acme").team("blue").user("ann"))
}

/// 2,000 calls of `service` in flight at once, each read to its end.
fn many<S>(runtime: &tokio::runtime::Runtime, service: &S, chat: &ChatRequest)
where
    S: tower::Service<LlmRequest, Response = tower_ai::LlmResponse, Error = tower_ai::Error> + Clone,
{
    runtime.block_on(join_all((0..2000).map(|_| {
        let call = service.clone().oneshot(request(chat));
        async move { call.await.unwrap().into_complete().await.unwrap() }
    })));
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let chat = ChatRequest::new("gpt-4o").user("How do tides work?");
    let provider = ProviderService::new(MockProvider::new().with_text_reply("The moon pulls the sea."));
    let start = |name: &str, signer: Option<CheckpointSigner>| {
        let sink = FileSink::open(dir.path().join(name))
            .unwrap()
            .rotate_at(256 << 20);
        let mut builder = AuditLog::builder(sink).on_full(QueuePolicy::Wait);
        if let Some(signer) = signer {
            builder = builder.checkpoints(signer);
        }
        runtime.block_on(builder.start()).unwrap()
    };
    let plain = start("plain.jsonl", None);
    let signed = start(
        "signed.jsonl",
        Some(CheckpointSigner::new(SigningKey::from_bytes(&[9; 32]), 100)),
    );

    let mut group = c.benchmark_group("audit_call");
    group.bench_function("bare_provider", |b| {
        time_call(b, &runtime, &provider, || request(&chat))
    });
    let audited = plain.layer().layer(provider.clone());
    group.bench_function("file_group_commit", |b| {
        time_call(b, &runtime, &audited, || request(&chat))
    });
    let audited = signed.layer().layer(provider.clone());
    group.bench_function("file_group_commit_signed", |b| {
        time_call(b, &runtime, &audited, || request(&chat))
    });
    group.finish();

    let mut group = c.benchmark_group("audit_throughput");
    group.sample_size(10);
    group.throughput(Throughput::Elements(2000));
    group.bench_function("bare_provider", |b| b.iter(|| many(&runtime, &provider, &chat)));
    let audited = plain.layer().layer(provider.clone());
    group.bench_function("file_fsync_per_batch", |b| {
        b.iter(|| many(&runtime, &audited, &chat))
    });
    group.finish();

    runtime.block_on(plain.shutdown()).unwrap();
    runtime.block_on(signed.shutdown()).unwrap();
}

criterion_group!(audit, benches);
criterion_main!(audit);
