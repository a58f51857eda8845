//! What watching and filtering a call costs: a stream bare and with
//! observers and filters on it; the provider path (the mock provider
//! streaming 200 events) bare, with one content observer, four content
//! observers and a pass-through filter; the telemetry layer; and the clone of
//! a long `LlmRequest`.
//!
//! ```text
//! cargo bench --bench observe
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use futures_util::StreamExt;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_ai::observe::{Emit, End, Filter, FilterLayer, FilteredStream, Observer};
use tower_ai::provider::mock::{MockProvider, MockReply};
use tower_ai::provider::ProviderService;
use tower_ai::types::{
    ChatRequest, ChatStream, ContentPart, FinishReason, Message, Role, StreamEvent, Usage,
};
use tower_ai::types::{LlmResponse, Reply, ServedBy};
use tower_ai::{LlmRequest, ServiceBuilderExt};

/// An observer that reads the content: the reply is accumulated for it.
struct Content(usize);

impl Observer for Content {
    fn on_event(&mut self, event: &StreamEvent) {
        self.0 += usize::from(event.is_content());
    }
    fn on_end(self, end: End<'_>) {
        black_box(end.reply().map(|r| r.message.content.len()));
    }
}

/// An observer that reads only metadata: no text is accumulated for it.
struct Metadata(usize);

impl Observer for Metadata {
    const NEEDS_CONTENT: bool = false;
    fn on_event(&mut self, event: &StreamEvent) {
        self.0 += usize::from(event.is_content());
    }
    fn on_end(self, end: End<'_>) {
        black_box(end.usage().map(|u| u.output_tokens));
    }
}

/// A filter that passes every event on through its queue.
struct PassFilter;

impl Filter for PassFilter {
    fn on_event(&mut self, event: StreamEvent, out: &mut Emit) -> tower_ai::Result<()> {
        out.push(event);
        Ok(())
    }
}

fn observed<F: Filter>(stream: ChatStream, filter: F) -> ChatStream {
    ChatStream::new(FilteredStream::new(stream, filter))
}

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
            || FilteredStream::new(ChatStream::from_events(events.clone().into_iter().map(Ok)), ()),
            |stream| async move { assert_eq!(drain(stream).await, EVENTS) },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("one_content_observer", |b| {
        b.to_async(runtime).iter_batched(
            || {
                observed(
                    ChatStream::from_events(events.clone().into_iter().map(Ok)),
                    Content(0),
                )
            },
            |stream| async move { assert_eq!(drain(stream).await, EVENTS) },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("four_content_observers", |b| {
        b.to_async(runtime).iter_batched(
            || {
                let mut stream = ChatStream::from_events(events.clone().into_iter().map(Ok));
                for _ in 0..4 {
                    stream = observed(stream, Content(0));
                }
                stream
            },
            |stream| async move { assert_eq!(drain(stream).await, EVENTS) },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("time_limits", |b| {
        b.to_async(runtime).iter_batched(
            || {
                let limits = tower_ai::limit::TimeLimits::none()
                    .idle(std::time::Duration::from_secs(60))
                    .total(std::time::Duration::from_secs(600));
                let stream = ChatStream::from_events(events.clone().into_iter().map(Ok));
                limits.wrap(stream, tokio::time::Instant::now())
            },
            |stream| async move { assert_eq!(drain(stream).await, EVENTS) },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("four_metadata_observers", |b| {
        b.to_async(runtime).iter_batched(
            || {
                let mut stream = ChatStream::from_events(events.clone().into_iter().map(Ok));
                for _ in 0..4 {
                    stream = observed(stream, Metadata(0));
                }
                stream
            },
            |stream| async move { assert_eq!(drain(stream).await, EVENTS) },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("passthrough_filter", |b| {
        b.to_async(runtime).iter_batched(
            || {
                observed(
                    ChatStream::from_events(events.clone().into_iter().map(Ok)),
                    PassFilter,
                )
            },
            |stream| async move { assert_eq!(drain(stream).await, EVENTS) },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// The provider path: the mock provider streaming 200 events, bare and with
/// layers that watch or filter the whole call.
fn provider_path_benches(c: &mut Criterion, runtime: &tokio::runtime::Runtime) {
    let events = events();
    let mock = MockProvider::new();
    let provider = ProviderService::new(mock.clone());
    let one = ServiceBuilder::new()
        .layer(FilterLayer::new(|_: &LlmRequest| Content(0)))
        .service(provider.clone());
    let four = ServiceBuilder::new()
        .layer(FilterLayer::new(|_: &LlmRequest| Content(0)))
        .layer(FilterLayer::new(|_: &LlmRequest| Content(0)))
        .layer(FilterLayer::new(|_: &LlmRequest| Content(0)))
        .layer(FilterLayer::new(|_: &LlmRequest| Content(0)))
        .service(provider.clone());
    let filter = ServiceBuilder::new()
        .layer(FilterLayer::new(|_: &LlmRequest| PassFilter))
        .service(provider.clone());
    let request = ChatRequest::new("m").user("hi");

    let mut group = c.benchmark_group("provider_path_stream_200_events");
    group.throughput(Throughput::Elements(EVENTS as u64));
    let mut run =
        |name: &str, service: &dyn Fn(LlmRequest) -> tower_ai::provider::ProviderFuture<LlmResponse>| {
            group.bench_function(name, |b| {
                b.to_async(runtime).iter(|| {
                    mock.enqueue(MockReply::stream(events.clone()));
                    let call = service(LlmRequest::stream(request.clone()));
                    async move { assert_eq!(drain(call.await.unwrap().into_stream()).await, EVENTS) }
                })
            });
        };
    run("bare", &|r| Box::pin(provider.clone().oneshot(r)));
    run("one_content_observer", &|r| Box::pin(one.clone().oneshot(r)));
    run("four_content_observers", &|r| Box::pin(four.clone().oneshot(r)));
    run("passthrough_filter", &|r| Box::pin(filter.clone().oneshot(r)));
    group.finish();
}

/// Cloning a long conversation: 40 messages and a 200 KB inline image.
fn clone_benches(c: &mut Criterion) {
    let image = "A".repeat(200 * 1024);
    let mut chat = ChatRequest::new("gpt-4o").system("You are a careful assistant.");
    chat = chat.message(Message::new(
        Role::User,
        vec![
            ContentPart::text("What is in this picture?"),
            ContentPart::image_base64("image/png", image),
        ],
    ));
    for i in 0..39 {
        chat = if i % 2 == 0 {
            chat.assistant(format!(
                "Answer number {i}, with a few sentences of text in it to be realistic."
            ))
        } else {
            chat.user(format!("Follow-up question number {i}?"))
        };
    }
    let request = LlmRequest::new(chat.clone());
    let mut group = c.benchmark_group("clone_40_messages_200kb_image");
    group.bench_function("llm_request", |b| b.iter(|| black_box(request.clone())));
    group.bench_function("chat_request_deep", |b| b.iter(|| black_box(chat.clone())));
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
        let reply = if request.is_stream() {
            Reply::Stream(ChatStream::from_events(events.clone().into_iter().map(Ok)))
        } else {
            Reply::Complete(complete.clone())
        };
        let mut response = LlmResponse::new(reply);
        response.extensions.insert(ServedBy::new("bench", "m"));
        std::future::ready(Ok::<_, tower_ai::Error>(response))
    });
    let telemetry = ServiceBuilder::new().telemetry().service(inner.clone());
    let request = ChatRequest::new("m").user("hi");

    let mut group = c.benchmark_group(format!("complete_{label}"));
    bench_call(&mut group, runtime, "bare", &inner, &request, false);
    bench_call(&mut group, runtime, "with_telemetry", &telemetry, &request, false);
    group.finish();

    let mut group = c.benchmark_group(format!("stream_200_events_{label}"));
    group.throughput(Throughput::Elements(EVENTS as u64));
    bench_call(&mut group, runtime, "bare", &inner, &request, true);
    bench_call(&mut group, runtime, "with_telemetry", &telemetry, &request, true);
    group.finish();
}

/// One call through `service`; a streamed reply is read to its end.
fn bench_call<S>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    service: &S,
    request: &ChatRequest,
    stream: bool,
) where
    S: Service<LlmRequest, Response = LlmResponse, Error = tower_ai::Error> + Clone,
{
    group.bench_function(name, |b| {
        b.to_async(runtime).iter(|| {
            let request = if stream {
                LlmRequest::stream(request.clone())
            } else {
                LlmRequest::new(request.clone())
            };
            let service = service.clone();
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
    bench_call(&mut group, runtime, "bare", &bare, &request, false);
    bench_call(&mut group, runtime, "with_telemetry", &telemetry, &request, false);
    group.finish();
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    stream_benches(c, &runtime);
    provider_path_benches(c, &runtime);
    clone_benches(c);
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
/// comparison with `FilteredStream`.
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
