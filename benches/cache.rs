//! What a cache hit costs against the bare provider path, in the same run:
//! a complete call through the mock provider, the same call answered from
//! `MemoryCacheStore` (complete and streamed), the request key alone
//! (SHA-256 over the canonical request), which every lookup computes; a
//! hit on a 20-message conversation; a long reply replayed as 100 deltas;
//! and a miss (a store that keeps
//! nothing), which pays the key, the lookup, the flight and the attempt to
//! store on top of the upstream call.
//!
//! ```text
//! cargo bench --bench cache
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceExt};
use tower_ai::cache::CacheLayer;
use tower_ai::provider::mock::MockProvider;
use tower_ai::provider::ProviderService;
use tower_ai::store::MemoryCacheStore;
use tower_ai::types::{ChatRequest, ReplyMode};
use tower_ai::{Error, LlmRequest, LlmResponse, Principal};

#[path = "support/call.rs"]
mod call;
use call::time_call;

/// Sends `request` through `service` once, so its reply is cached.
fn warm<S>(runtime: &Runtime, service: &S, request: LlmRequest)
where
    S: Service<LlmRequest, Response = LlmResponse, Error = Error> + Clone,
{
    runtime.block_on(async {
        let reply = service.clone().oneshot(request).await.unwrap();
        reply.into_complete().await.unwrap();
    });
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let chat = ChatRequest::new("gpt-4o")
        .system("You answer in one sentence.")
        .user("How do tides work?")
        .max_tokens(200);
    let request = {
        let chat = chat.clone();
        move || LlmRequest::new(chat.clone()).with_principal(Principal::new().tenant("acme"))
    };
    let provider = ProviderService::new(MockProvider::new().with_text_reply("The moon pulls the sea."));
    let cached = CacheLayer::new(MemoryCacheStore::new()).layer(provider.clone());
    warm(&runtime, &cached, request());

    let mut group = c.benchmark_group("cache_call");
    group.bench_function("bare_provider", |b| time_call(b, &runtime, &provider, &request));
    group.bench_function("request_key", |b| {
        b.iter(|| black_box(black_box(&chat).canonical_key().scoped("acme")))
    });
    group.bench_function("hit_complete", |b| time_call(b, &runtime, &cached, &request));
    group.bench_function("hit_streamed", |b| {
        time_call(b, &runtime, &cached, || request().with_mode(ReplyMode::Stream))
    });
    // A 20-message conversation: ten exchanges, then the question.
    let mut long = ChatRequest::new("gpt-4o").system("You answer in one sentence.");
    for turn in 0..9 {
        long = long
            .user(format!("Question {turn}: how do tides work on day {turn}?"))
            .assistant(format!("Answer {turn}: the moon and the sun pull the sea."));
    }
    let long = long.user("And spring tides?").max_tokens(200);
    group.bench_function("request_key_20_messages", |b| {
        b.iter(|| black_box(black_box(&long).canonical_key().scoped("acme")))
    });
    let long_request = move || LlmRequest::new(long.clone()).with_principal(Principal::new().tenant("acme"));
    warm(&runtime, &cached, long_request());
    group.bench_function("hit_complete_20_messages", |b| {
        time_call(b, &runtime, &cached, &long_request)
    });
    // A long reply (4,800 bytes of text: 100 deltas of 48 bytes) replayed
    // as a stream, for the cost per replayed event.
    let long_reply =
        ProviderService::new(MockProvider::new().with_text_reply("The moon pulls the sea; ".repeat(200)));
    let replaying = CacheLayer::new(MemoryCacheStore::new()).layer(long_reply);
    warm(&runtime, &replaying, request());
    group.bench_function("hit_streamed_100_deltas", |b| {
        time_call(b, &runtime, &replaying, || request().with_mode(ReplyMode::Stream))
    });
    let missing = CacheLayer::new(MemoryCacheStore::with_max_bytes(0)).layer(provider.clone());
    group.bench_function("miss", |b| time_call(b, &runtime, &missing, &request));
    group.finish();
}

criterion_group!(cache_benches, benches);
criterion_main!(cache_benches);
