//! What the guardrail layer adds to a call, against the bare provider path
//! in the same run.
//!
//! `guard_pass`: a complete call with a 2 KB prompt, through a
//! [`GuardrailLayer`] with a [`PiiGuard`] running every built-in detector
//! on the prompt (redacting into a fresh vault) and on the reply (which
//! holds placeholders to put back), and the same call without the layer.
//! The difference is the guard pass; target under 20 µs.
//! `guarded_policy_injection_pii` adds the model policy and the
//! prompt-injection scorer in front of it: every built-in guard.
//!
//! `stream_filter`: a streamed reply of 512 text events of a few bytes each
//! (a model's token-sized deltas), read to its end, bare and through the
//! layer's reply filter (PII checks over the sliding window, placeholders
//! restored). Throughput is per event; the difference per event is the
//! filter's cost; target under 1 µs.
//!
//! ```text
//! cargo bench --bench guard_layer
//! ```

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tower::Layer;
use tower_ai::guardrail::detect::Detector;
use tower_ai::guardrail::policy::{ModelPolicy, PolicyRule};
use tower_ai::guardrail::{GuardrailLayer, InjectionGuard, PiiGuard};
use tower_ai::provider::mock::{MockProvider, MockReply};
use tower_ai::provider::ProviderService;
use tower_ai::types::ChatRequest;
use tower_ai::LlmRequest;

#[path = "support/call.rs"]
mod call;
use call::time_call;

/// About 2 KB of a support request with an address, a phone number, a card
/// number, an IP address and a (fake) API key among the prose.
fn prompt() -> String {
    let key = ["sk-", "proj-", "FAKEfakeFAKEfake", "0123456789abcdefghij"].concat();
    let mut text = format!(
        "Hello, my name is Jane and I am writing about order 48213. You can reach me at \
         jane.doe@example.org or on +1 415-555-0132 during office hours. The card ending the \
         payment was 5555 5555 5555 4444 and it was charged twice on the same day. Our integration \
         calls your API from 203.0.113.7 with the key {key}, in case you need to look at the logs. "
    );
    let paragraph = "Could you help me rewrite the introduction of our quarterly report? The draft says \
        that revenue grew in every region except the north, where two stores closed for renovation in \
        the spring. I would like the tone to be confident but not boastful. ";
    while text.len() < 2048 {
        text.push_str(paragraph);
    }
    text.truncate(2048);
    text
}

fn guard_layer(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let layer = GuardrailLayer::new().guard(PiiGuard::new(Detector::builder().build().unwrap()));
    let chat = ChatRequest::new("gpt-4o")
        .system("You help customers.")
        .user(prompt());
    let reply = "Thanks <EMAIL_1>, I will call <PHONE_1> about the card <CARD_1> today.";

    let mut group = c.benchmark_group("guard_pass");
    group.throughput(Throughput::Bytes(2048));
    let bare = ProviderService::new(MockProvider::new().with_text_reply(reply));
    group.bench_function("bare_provider", |b| {
        time_call(b, &runtime, &bare, || LlmRequest::new(chat.clone()))
    });
    let guarded = layer.layer(ProviderService::new(MockProvider::new().with_text_reply(reply)));
    group.bench_function("guarded_all_detectors", |b| {
        time_call(b, &runtime, &guarded, || LlmRequest::new(chat.clone()))
    });
    let policy = ModelPolicy::new().rule(
        PolicyRule::new("support")
            .unwrap()
            .for_tenants(["*"])
            .unwrap()
            .allow_models(["gpt-4o*"])
            .unwrap(),
    );
    let full = GuardrailLayer::new()
        .guard(policy)
        .guard(InjectionGuard::default())
        .guard(PiiGuard::new(Detector::builder().build().unwrap()))
        .layer(ProviderService::new(MockProvider::new().with_text_reply(reply)));
    group.bench_function("guarded_policy_injection_pii", |b| {
        time_call(b, &runtime, &full, || LlmRequest::new(chat.clone()))
    });
    group.finish();

    // A reply of 512 token-sized deltas, with two placeholders in it.
    let words = [
        "The ",
        "report ",
        "is ",
        "ready",
        ", ",
        "and ",
        "<EMAIL_1>",
        " will ",
        "get ",
        "it.",
    ];
    let deltas: Vec<&str> = (0..512).map(|i| words[i % words.len()]).collect();
    let streamed = MockProvider::new().with_text_reply("");
    let short = ChatRequest::new("gpt-4o").user("Mail jane.doe@example.org the report.");
    let mut group = c.benchmark_group("stream_filter");
    group.throughput(Throughput::Elements(512));
    let bare = ProviderService::new(streamed.clone());
    group.bench_function("bare_provider", |b| {
        time_call(b, &runtime, &bare, || {
            streamed.enqueue(MockReply::text_stream(&deltas));
            LlmRequest::stream(short.clone())
        })
    });
    let guarded = layer.layer(ProviderService::new(streamed.clone()));
    group.bench_function("guarded_pii_and_restore", |b| {
        time_call(b, &runtime, &guarded, || {
            streamed.enqueue(MockReply::text_stream(&deltas));
            LlmRequest::stream(short.clone())
        })
    });
    group.finish();
}

criterion_group!(benches, guard_layer);
criterion_main!(benches);
