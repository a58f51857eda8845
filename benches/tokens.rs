//! What counting a prompt costs: a 20-turn chat counted cold (every message
//! tokenised) and memoised (every message found in the memo), the same chat
//! grown by one message, and, in the same run, a complete call through
//! `ProviderService` over the mock provider, to read the others against.
//!
//! ```text
//! cargo bench --bench tokens
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use tower::{Service, ServiceExt};
use tower_ai::provider::mock::MockProvider;
use tower_ai::provider::ProviderService;
use tower_ai::tokens::TokenCounter;
use tower_ai::types::ChatRequest;
use tower_ai::LlmRequest;

/// A 20-turn chat (a system prompt and 40 messages) of ordinary sentences.
fn chat() -> ChatRequest {
    let mut request =
        ChatRequest::new("gpt-4o").system("You are a careful assistant who answers in two sentences.");
    for turn in 0..20 {
        request = request
            .user(format!(
                "Turn {turn}: could you tell me how the tide works, and why there are two a day in most places?"
            ))
            .assistant(format!(
                "Turn {turn}: the moon's pull raises the sea on the side facing it and on the far side. \
                 The earth turns under both bulges, so most coasts see two high tides a day."
            ));
    }
    request
}

fn benches(c: &mut Criterion) {
    let request = chat();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let mut group = c.benchmark_group("count_20_turns");
    group.bench_function("bare_provider_call", |b| {
        let service = ProviderService::new(MockProvider::new().with_text_reply("hello"));
        b.iter_batched(
            || (service.clone(), LlmRequest::new(request.clone())),
            |(mut service, call)| {
                runtime.block_on(async move {
                    black_box(service.ready().await.unwrap().call(call).await.unwrap())
                })
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("cold", |b| {
        b.iter_batched(
            || TokenCounter::with_memo_entries(0),
            |counter| black_box(counter.count_request(&request)),
            BatchSize::SmallInput,
        );
    });
    let counter = TokenCounter::new();
    counter.count_request(&request);
    group.bench_function("memoised", |b| {
        b.iter(|| black_box(counter.count_request(&request)))
    });
    group.bench_function("grown_by_one_message", |b| {
        b.iter_batched(
            || {
                let counter = TokenCounter::new();
                counter.count_request(&request);
                (counter, request.clone().user("And the spring tides?"))
            },
            |(counter, grown)| black_box(counter.count_request(&grown)),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(tokens, benches);
criterion_main!(tokens);
