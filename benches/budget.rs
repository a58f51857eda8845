//! What the budget layer adds to a call: reserve before it, settle after
//! it, with the in-memory store; against the bare provider path, in the
//! same run. The prompt is counted with a warm memo, so the figure is the
//! reservation's cost, not the tokenizer's (`benches/tokens.rs` has that).
//!
//! ```text
//! cargo bench --bench budget
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use tower::{Layer, Service, ServiceExt};
use tower_ai::budget::{BudgetLayer, Limit, Metric, Period, Scope};
use tower_ai::provider::mock::MockProvider;
use tower_ai::provider::ProviderService;
use tower_ai::store::MemoryCounterStore;
use tower_ai::types::ChatRequest;
use tower_ai::{LlmRequest, Principal};

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let chat = ChatRequest::new("gpt-4o")
        .user("How do tides work?")
        .max_tokens(200);
    let request = move || {
        LlmRequest::new(chat.clone()).with_principal(Principal::new().tenant("acme").team("blue").user("ann"))
    };
    let provider = ProviderService::new(MockProvider::new().with_text_reply("The moon pulls the sea."));
    let budget = BudgetLayer::new(MemoryCounterStore::new()).limits([
        Limit::new(Scope::User, Metric::TotalTokens, Period::Day, u64::MAX / 2),
        Limit::new(Scope::Team, Metric::CostMicros, Period::Month, u64::MAX / 2),
        Limit::new(Scope::Tenant, Metric::Requests, Period::Minute, u64::MAX / 2),
    ]);
    let budgeted = budget.layer(provider.clone());

    let mut group = c.benchmark_group("budget_call");
    group.bench_function("bare_provider", |b| {
        b.iter_batched(
            || (provider.clone(), request()),
            |(mut service, call)| {
                runtime.block_on(async move {
                    let reply = service.ready().await.unwrap().call(call).await.unwrap();
                    black_box(reply.into_complete().await.unwrap())
                })
            },
            BatchSize::SmallInput,
        );
    });
    // What the layer spends counting the prompt (a memo hit), which the
    // target leaves out of the layer's own cost.
    let counter = tower_ai::tokens::TokenCounter::new();
    let prompt = ChatRequest::new("gpt-4o")
        .user("How do tides work?")
        .max_tokens(200);
    counter.count_request(&prompt);
    group.bench_function("count_prompt_memo_hit", |b| {
        b.iter(|| black_box(counter.count_request(black_box(&prompt))))
    });
    group.bench_function("three_limits_memory_store", |b| {
        b.iter_batched(
            || (budgeted.clone(), request()),
            |(mut service, call)| {
                runtime.block_on(async {
                    let reply = service.ready().await.unwrap().call(call).await.unwrap();
                    let reply = reply.into_complete().await.unwrap();
                    budget.settled().await;
                    black_box(reply)
                })
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(budget_benches, benches);
criterion_main!(budget_benches);
