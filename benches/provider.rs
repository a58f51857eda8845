//! The provider path over loopback against a bare reqwest call to the same
//! fake upstream: what `ProviderService` adds to an HTTP round trip.
//!
//! ```text
//! cargo bench --bench provider
//! ```

#[path = "../tests/support/mod.rs"]
mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use tower::{Service, ServiceExt};
use tower_ai::provider::openai::OpenAi;
use tower_ai::provider::ProviderService;
use tower_ai::types::ChatRequest;
use tower_ai::LlmRequest;

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let up = runtime.block_on(support::FakeUpstream::start());
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
    let body = serde_json::to_vec(&serde_json::json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
    }))
    .unwrap();
    let url = format!("{base}/chat/completions");

    let mut group = c.benchmark_group("loopback_complete");
    group.bench_function("bare_reqwest", |b| {
        b.to_async(&runtime).iter(|| {
            let client = client.clone();
            let body = body.clone();
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
    let streamed = request.clone().streaming(true);
    group.bench_function("provider_service", |b| {
        b.to_async(&runtime).iter(|| {
            let mut service = service.clone();
            let request = LlmRequest::new(streamed.clone());
            async move {
                let response = service.ready().await.unwrap().call(request).await.unwrap();
                let reply = response.into_complete().await.unwrap();
                assert!(!reply.text().is_empty());
            }
        })
    });
    group.finish();
    drop(up);
}

criterion_group!(provider, benches);
criterion_main!(provider);
