//! What watching a reply costs: the mock provider bare, with an
//! `ObservedStream` and no hooks, and under the telemetry layer.
//!
//! ```text
//! cargo bench --bench observe
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use futures_util::StreamExt;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_ai::observe::ObservedStream;
use tower_ai::provider::mock::MockProvider;
use tower_ai::provider::ProviderService;
use tower_ai::types::{ChatRequest, ChatStream, FinishReason, StreamEvent, Usage};
use tower_ai::types::{LlmResponse, Reply, ServedBy};
use tower_ai::{LlmRequest, ServiceBuilderExt};

const EVENTS: usize = 200;

fn events() -> Vec<StreamEvent> {
    let mut events = Vec::with_capacity(EVENTS);
    events.push(StreamEvent::Start {
        id: "r".into(),
        model: "m".into(),
    });
    while events.len() < EVENTS - 2 {
        events.push(StreamEvent::text("tok "));
    }
    events.push(StreamEvent::Finish {
        reason: FinishReason::Stop,
    });
    events.push(StreamEvent::Usage(Usage::new(10, 197)));
    events
}

async fn drain(stream: impl futures_core::Stream<Item = tower_ai::Result<StreamEvent>> + Unpin) -> usize {
    stream
        .fold(0, |n, item| async move { n + usize::from(item.is_ok()) })
        .await
}

fn stream_benches(c: &mut Criterion, runtime: &tokio::runtime::Runtime) {
    let events = events();

    // The stream alone, behind a do-nothing layer, and observed: the
    // wrapper's cost per event.
    let mut group = c.benchmark_group("stream_200_events");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("bare", |b| {
        b.to_async(runtime).iter_batched(
            || ChatStream::from_events(events.clone().into_iter().map(Ok)),
            |stream| async move { assert_eq!(drain(stream).await, EVENTS) },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("passthrough_layer", |b| {
        b.to_async(runtime).iter_batched(
            || Passthrough(ChatStream::from_events(events.clone().into_iter().map(Ok))),
            |stream| async move { assert_eq!(drain(stream).await, EVENTS) },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("observed_no_hooks", |b| {
        b.to_async(runtime).iter_batched(
            || ObservedStream::new(ChatStream::from_events(events.clone().into_iter().map(Ok)), ()),
            |stream| async move { assert_eq!(drain(stream).await, EVENTS) },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// The stack over a service that answers a prepared reply at once, so that
/// what is measured is the layer, not a provider.
fn stack_benches(c: &mut Criterion, runtime: &tokio::runtime::Runtime, label: &str) {
    let events = events();
    let complete = {
        let mut acc = tower_ai::types::StreamAccumulator::new();
        [
            StreamEvent::Start {
                id: "r".into(),
                model: "m".into(),
            },
            StreamEvent::text("A short complete reply."),
            StreamEvent::Finish {
                reason: FinishReason::Stop,
            },
            StreamEvent::Usage(Usage::new(10, 5)),
        ]
        .iter()
        .for_each(|e| acc.push(e));
        acc.finish()
    };
    let inner = tower::service_fn(move |request: LlmRequest| {
        let reply = if request.chat.stream {
            Reply::Stream(ChatStream::from_events(events.clone().into_iter().map(Ok)))
        } else {
            Reply::Complete(complete.clone())
        };
        let mut response = LlmResponse::new(reply);
        response.extensions.insert(ServedBy::new("bench"));
        std::future::ready(Ok::<_, tower_ai::Error>(response))
    });
    let telemetry = ServiceBuilder::new().telemetry().service(inner.clone());
    let request = ChatRequest::new("m").user("hi");

    let mut group = c.benchmark_group(format!("complete_{label}"));
    bench_call(&mut group, runtime, "bare", &inner, &request);
    bench_call(&mut group, runtime, "with_telemetry", &telemetry, &request);
    group.finish();

    let streamed = request.clone().streaming(true);
    let mut group = c.benchmark_group(format!("stream_200_events_{label}"));
    group.throughput(Throughput::Elements(EVENTS as u64));
    bench_call(&mut group, runtime, "bare", &inner, &streamed);
    bench_call(&mut group, runtime, "with_telemetry", &telemetry, &streamed);
    group.finish();
}

/// One call through `service`; a streamed reply is read to its end.
fn bench_call<S>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    service: &S,
    request: &ChatRequest,
) where
    S: Service<LlmRequest, Response = LlmResponse, Error = tower_ai::Error> + Clone,
{
    group.bench_function(name, |b| {
        b.to_async(runtime).iter(|| {
            let request = LlmRequest::new(request.clone());
            let service = service.clone();
            let stream = request.chat.stream;
            async move {
                let response = service.oneshot(request).await.unwrap();
                if stream {
                    assert_eq!(drain(response.into_stream()).await, EVENTS);
                } else {
                    black_box(response);
                }
            }
        })
    });
}

/// The mock provider bare and under the telemetry layer, end to end.
fn mock_benches(c: &mut Criterion, runtime: &tokio::runtime::Runtime) {
    let bare = ProviderService::new(MockProvider::new().with_text_reply("A short complete reply."));
    let telemetry = ServiceBuilder::new().telemetry().service(bare.clone());
    let request = ChatRequest::new("m").user("hi");
    let mut group = c.benchmark_group("mock_provider_complete");
    bench_call(&mut group, runtime, "bare", &bare, &request);
    bench_call(&mut group, runtime, "with_telemetry", &telemetry, &request);
    group.finish();
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    stream_benches(c, &runtime);
    mock_benches(c, &runtime);
    // No subscriber and no metrics recorder: what a library user pays by default.
    stack_benches(c, &runtime, "no_subscriber");
    // A registry subscriber: spans are created, fields recorded and stored.
    let subscriber = tracing_subscriber::registry();
    tracing::subscriber::with_default(subscriber, || stack_benches(c, &runtime, "registry_subscriber"));
}

criterion_group!(observe, benches);
criterion_main!(observe);

/// A wrapper that only passes items on: the cost of any extra layer, for
/// comparison with `ObservedStream`.
struct Passthrough(ChatStream);

impl futures_core::Stream for Passthrough {
    type Item = tower_ai::Result<StreamEvent>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::pin::Pin::new(&mut self.0).poll_next(cx)
    }
}
