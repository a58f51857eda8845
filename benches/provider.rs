//! The provider path over loopback against a bare reqwest call to the same
//! fake upstream: what `ProviderService` adds to an HTTP round trip.
//!
//! ```text
//! cargo bench --bench provider --features testing
//! ```

use criterion::{criterion_group, criterion_main, Criterion};
use tower::{Service, ServiceExt};
use tower_ai::provider::openai::OpenAi;
use tower_ai::provider::{Codec, HttpProviderBuilder, ProviderService};
use tower_ai::testing::{canned, FakeUpstream, Scripted};
use tower_ai::types::{ChatRequest, ReplyMode, RequestMeta};
use tower_ai::LlmRequest;

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let up = runtime.block_on(FakeUpstream::start());
    let base = format!("{}/v1", up.base_url());
    let client = reqwest::Client::new();
    let provider = OpenAi::builder()
        .api_key("sk-bench")
        .base_url(base.clone())
        .transport(tower_ai::transport::Transport::reqwest(client.clone()))
        .build()
        .unwrap();
    let service = ProviderService::new(provider);
    let request = ChatRequest::new("gpt-4o-mini").system("Be brief.").user("Hello");
    // The bare call builds its JSON body per call, as an application would.
    let body = serde_json::json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
    });
    let url = format!("{base}/chat/completions");

    let mut group = c.benchmark_group("loopback_complete");
    group.bench_function("bare_reqwest", |b| {
        b.to_async(&runtime).iter(|| {
            let client = client.clone();
            let body = serde_json::to_vec(&body).unwrap();
            let url = url.clone();
            async move {
                let response = client
                    .post(url)
                    .bearer_auth("sk-bench")
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let bytes = response.bytes().await.unwrap();
                let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                assert!(value["choices"][0]["message"]["content"].is_string());
            }
        })
    });
    group.bench_function("provider_service", |b| {
        b.to_async(&runtime).iter(|| {
            let mut service = service.clone();
            let request = LlmRequest::new(request.clone());
            async move {
                let response = service.ready().await.unwrap().call(request).await.unwrap();
                let reply = response.into_complete().await.unwrap();
                assert!(!reply.text().is_empty());
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("loopback_stream");
    group.bench_function("provider_service", |b| {
        b.to_async(&runtime).iter(|| {
            let mut service = service.clone();
            let request = LlmRequest::stream(request.clone());
            async move {
                let response = service.ready().await.unwrap().call(request).await.unwrap();
                let reply = response.into_complete().await.unwrap();
                assert!(!reply.text().is_empty());
            }
        })
    });
    group.finish();

    // The same call with no network: a canned in-process transport answers
    // the recorded reply. What the stack adds to the codec's own work is the
    // difference between the two.
    let reply = Scripted::json(
        200,
        include_bytes!("../tests/it/fixtures/openai/chat_completion.json"),
    );
    let body = reply.body();
    let canned = OpenAi::builder()
        .api_key("sk-bench")
        .transport(canned(reply))
        .build()
        .unwrap();
    let canned_service = ProviderService::new(canned.clone());
    let ctx = RequestMeta::new();
    let mut group = c.benchmark_group("in_process_complete");
    group.bench_function("codec_encode_and_decode", |b| {
        b.iter(|| {
            let http_request = canned
                .codec()
                .encode_chat(&request, ReplyMode::Complete, &ctx)
                .unwrap();
            std::hint::black_box(http_request);
            assert!(!canned.codec().decode_chat(&body).unwrap().text().is_empty());
        })
    });
    group.bench_function("provider_service", |b| {
        b.to_async(&runtime).iter(|| {
            let mut service = canned_service.clone();
            let request = LlmRequest::new(request.clone());
            async move {
                let response = service.ready().await.unwrap().call(request).await.unwrap();
                assert!(!response.into_complete().await.unwrap().text().is_empty());
            }
        })
    });
    group.finish();
    drop(up);
}

criterion_group!(provider, benches);
criterion_main!(provider);
