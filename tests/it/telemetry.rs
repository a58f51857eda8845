//! The telemetry layer, read back through a test subscriber and a debugging recorder.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tower::{ServiceBuilder, ServiceExt};
use tower_ai::provider::mock::{MockProvider, MockReply};
use tower_ai::provider::ProviderService;
use tower_ai::types::{
    CacheStatus, ChatRequest, ChatResponse, EmbeddingRequest, FinishReason, StreamEvent, Usage,
};
use tower_ai::ReplyMode;
use tower_ai::{ApiError, Error, LlmRequest, LlmResponse, Principal, Reply, ServedBy, ServiceBuilderExt};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

use crate::support::{call, complete};

type Fields = BTreeMap<String, String>;

/// Keeps the fields of every span, and the closed ones in order.
#[derive(Clone, Default)]
struct Spans {
    open: Arc<Mutex<HashMap<u64, Fields>>>,
    closed: Arc<Mutex<Vec<Fields>>>,
}

impl Spans {
    fn closed(&self) -> Vec<Fields> {
        self.closed.lock().unwrap().clone()
    }
}

struct Visitor<'a>(&'a mut Fields);

impl Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = Fields::new();
        fields.insert("span.name".into(), attrs.metadata().name().into());
        attrs.record(&mut Visitor(&mut fields));
        self.open.lock().unwrap().insert(id.into_u64(), fields);
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(fields) = self.open.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Visitor(fields));
        }
    }
    fn on_close(&self, id: Id, _: Context<'_, S>) {
        if let Some(fields) = self.open.lock().unwrap().remove(&id.into_u64()) {
            self.closed.lock().unwrap().push(fields);
        }
    }
}

/// Runs `test` with the span capture and a local metrics recorder installed.
fn run<F, Fut>(test: F) -> (Vec<Fields>, Metrics)
where
    F: FnOnce(Snapshotter, Spans) -> Fut,
    Fut: Future<Output = ()>,
{
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let inner = (recorder.snapshotter(), spans.clone());
    tracing::subscriber::with_default(subscriber, || {
        metrics::with_local_recorder(&recorder, || runtime.block_on(test(inner.0, inner.1)))
    });
    (spans.closed(), Metrics::read(&snapshotter))
}

#[derive(Debug)]
struct Metric {
    name: String,
    labels: BTreeMap<String, String>,
    value: DebugValue,
}

#[derive(Debug)]
struct Metrics(Vec<Metric>);

impl Metrics {
    fn read(snapshotter: &Snapshotter) -> Self {
        Metrics(
            snapshotter
                .snapshot()
                .into_vec()
                .into_iter()
                .map(|(key, _, _, value)| Metric {
                    name: key.key().name().to_owned(),
                    labels: key
                        .key()
                        .labels()
                        .map(|l| (l.key().to_owned(), l.value().to_owned()))
                        .collect(),
                    value,
                })
                .collect(),
        )
    }

    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Metric> {
        self.0
            .iter()
            .filter(|m| {
                m.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| m.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.find(name, labels)
            .iter()
            .map(|m| match m.value {
                DebugValue::Counter(c) => c,
                _ => 0,
            })
            .sum()
    }

    fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.find(name, labels)
            .iter()
            .flat_map(|m| match &m.value {
                DebugValue::Histogram(values) => values.iter().map(|v| v.into_inner()).collect(),
                _ => Vec::new(),
            })
            .collect()
    }
}

fn request(stream: bool) -> LlmRequest {
    let mode = if stream {
        ReplyMode::Stream
    } else {
        ReplyMode::Complete
    };
    LlmRequest::new(ChatRequest::new("gpt-test").user("Hello there").max_tokens(64))
        .with_mode(mode)
        .with_principal(Principal::new().tenant("acme"))
}

fn streamed_events() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: "resp-9".into(),
            model: "gpt-test-2025".into(),
        },
        StreamEvent::text("Hi"),
        StreamEvent::text(" there"),
        StreamEvent::Finish {
            reason: FinishReason::Stop,
        },
        StreamEvent::Usage(Usage::new(11, 4).with_cache_read(8)),
    ]
}

#[test]
fn a_complete_call_records_its_span_and_metrics() {
    let (spans, metrics) = run(|_, _| async {
        let mut service = ServiceBuilder::new().telemetry().service(ProviderService::new(
            MockProvider::new().with_text_reply("Hi there"),
        ));
        let reply = complete(&mut service, request(false)).await.unwrap();
        assert_eq!(reply.text(), "Hi there");
    });

    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span["span.name"], "gen_ai");
    assert_eq!(span["otel.name"], "chat gpt-test");
    assert_eq!(span["gen_ai.operation.name"], "chat");
    assert_eq!(span["gen_ai.provider.name"], "mock");
    assert_eq!(span["gen_ai.request.model"], "gpt-test");
    assert_eq!(span["gen_ai.request.max_tokens"], "64");
    assert_eq!(span["gen_ai.response.model"], "gpt-test");
    assert_eq!(span["gen_ai.response.id"], "mock-reply");
    assert_eq!(span["gen_ai.response.finish_reasons"], "stop");
    assert_eq!(span["gen_ai.usage.input_tokens"], "3");
    assert_eq!(span["gen_ai.usage.output_tokens"], "2");
    assert_eq!(span["tower_ai.tenant"], "acme");
    assert_eq!(span["tower_ai.outcome"], "ok");
    assert!(span.contains_key("tower_ai.request_id"));
    assert!(span.contains_key("tower_ai.duration_s"));
    assert!(!span.contains_key("error.type"));
    assert!(
        !span.contains_key("tower_ai.time_to_first_chunk_s"),
        "no first chunk for a complete reply"
    );

    let labels = [
        ("gen_ai.provider.name", "mock"),
        ("gen_ai.request.model", "gpt-test"),
    ];
    assert_eq!(metrics.counter("gen_ai.client.requests", &[("outcome", "ok")]), 1);
    assert_eq!(
        metrics
            .histogram("gen_ai.client.operation.duration", &labels)
            .len(),
        1
    );
    assert!(metrics
        .histogram("gen_ai.client.operation.time_to_first_chunk", &[])
        .is_empty());
    assert_eq!(
        metrics.histogram("gen_ai.client.token.usage", &[("gen_ai.token.type", "input")]),
        vec![3.0]
    );
    assert_eq!(
        metrics.histogram("gen_ai.client.token.usage", &[("gen_ai.token.type", "output")]),
        vec![2.0]
    );
}

#[test]
fn a_stream_is_recorded_at_its_real_end_with_time_to_first_chunk() {
    let (spans, metrics) = run(|snapshotter, live_spans| async move {
        let mock = MockProvider::new()
            .push(MockReply::stream(streamed_events()).with_delay(Duration::from_millis(30)));
        let mut service = ServiceBuilder::new()
            .telemetry()
            .service(ProviderService::new(mock));
        let response = call(&mut service, request(true)).await.unwrap();

        // The response head is here, the stream is not: nothing is recorded yet.
        assert!(live_spans.closed().is_empty());
        assert_eq!(
            Metrics::read(&snapshotter).counter("gen_ai.client.requests", &[]),
            0
        );

        let reply = response.into_complete().await.unwrap();
        assert_eq!(reply.text(), "Hi there");
    });

    let span = &spans[0];
    assert_eq!(span["tower_ai.outcome"], "ok");
    assert_eq!(span["gen_ai.response.model"], "gpt-test-2025");
    assert_eq!(span["gen_ai.response.id"], "resp-9");
    assert_eq!(span["gen_ai.usage.input_tokens"], "11");
    assert_eq!(span["gen_ai.usage.cache_read.input_tokens"], "8");
    let ttfc: f64 = span["tower_ai.time_to_first_chunk_s"].parse().unwrap();
    let duration: f64 = span["tower_ai.duration_s"].parse().unwrap();
    // The first text arrives after two delayed events, the end after five.
    assert!(ttfc > 0.0 && duration > ttfc, "ttfc {ttfc}, duration {duration}");

    assert_eq!(metrics.counter("gen_ai.client.requests", &[("outcome", "ok")]), 1);
    assert_eq!(
        metrics.histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            &[("gen_ai.response.model", "gpt-test-2025")]
        ),
        vec![ttfc]
    );
    assert_eq!(
        metrics.histogram("gen_ai.client.operation.duration", &[]),
        vec![duration]
    );
    assert_eq!(
        metrics.histogram(
            "gen_ai.client.token.usage",
            &[("gen_ai.token.type", "cache_read")]
        ),
        vec![8.0]
    );
}

#[test]
fn a_failed_call_records_the_error_kind() {
    let (spans, metrics) = run(|_, _| async {
        let error = Error::RateLimited(
            ApiError::new("openai", "slow down")
                .with_status(http::StatusCode::TOO_MANY_REQUESTS)
                .into(),
        );
        let mock = MockProvider::new().push(MockReply::error(error));
        let service = ServiceBuilder::new()
            .telemetry()
            .service(ProviderService::new(mock));
        let err = service.oneshot(request(false)).await.unwrap_err();
        assert!(matches!(err, Error::RateLimited(_)));
    });
    let span = &spans[0];
    assert_eq!(span["tower_ai.outcome"], "error");
    assert_eq!(span["error.type"], "rate_limited");
    assert_eq!(span["gen_ai.provider.name"], "openai");
    assert_eq!(
        metrics.counter("gen_ai.client.requests", &[("outcome", "rate_limited")]),
        1
    );
    assert_eq!(metrics.counter("gen_ai.client.requests", &[("outcome", "ok")]), 0);
    assert_eq!(
        metrics
            .histogram(
                "gen_ai.client.operation.duration",
                &[("error.type", "rate_limited")]
            )
            .len(),
        1
    );
}

#[test]
fn a_stream_failing_mid_way_records_an_error_not_a_success() {
    let (spans, metrics) = run(|_, _| async {
        let mock = MockProvider::new().push(MockReply::stream(streamed_events()[..2].to_vec()).then_fail(
            Error::StreamTruncated {
                provider: "mock".into(),
            },
        ));
        let mut service = ServiceBuilder::new()
            .telemetry()
            .service(ProviderService::new(mock));
        assert!(complete(&mut service, request(true)).await.is_err());
    });
    assert_eq!(spans[0]["tower_ai.outcome"], "error");
    assert_eq!(spans[0]["error.type"], "stream_truncated");
    assert_eq!(
        metrics.counter("gen_ai.client.requests", &[("outcome", "stream_truncated")]),
        1
    );
}

#[test]
fn a_cancelled_stream_is_recorded_as_cancelled() {
    let (spans, metrics) = run(|_, _| async {
        let mock = MockProvider::new().push(MockReply::stream(streamed_events()));
        let service = ServiceBuilder::new()
            .telemetry()
            .service(ProviderService::new(mock));
        let mut stream = service.oneshot(request(true)).await.unwrap().into_stream();
        stream.next().await.unwrap().unwrap();
        stream.next().await.unwrap().unwrap();
        drop(stream);
    });
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0]["tower_ai.outcome"], "cancelled");
    assert_eq!(spans[0]["error.type"], "cancelled");
    assert!(spans[0].contains_key("tower_ai.time_to_first_chunk_s"));
    assert_eq!(
        metrics.counter("gen_ai.client.requests", &[("outcome", "cancelled")]),
        1
    );
    assert_eq!(metrics.counter("gen_ai.client.requests", &[("outcome", "ok")]), 0);
}

#[test]
fn a_call_dropped_before_the_provider_answered_is_cancelled() {
    let (spans, metrics) = run(|_, _| async {
        let mock = MockProvider::new().with_latency(Duration::from_secs(10));
        let service = ServiceBuilder::new()
            .telemetry()
            .service(ProviderService::new(mock));
        let call = service.oneshot(request(false));
        assert!(tokio::time::timeout(Duration::from_millis(20), call)
            .await
            .is_err());
    });
    assert_eq!(spans[0]["tower_ai.outcome"], "cancelled");
    assert_eq!(
        metrics.counter("gen_ai.client.requests", &[("outcome", "cancelled")]),
        1
    );
}

#[test]
fn metrics_can_be_turned_off() {
    let (spans, metrics) = run(|_, _| async {
        let service = ServiceBuilder::new()
            .layer(tower_ai::telemetry::TelemetryLayer::new().metrics(false))
            .service(ProviderService::new(MockProvider::new()));
        service.oneshot(request(false)).await.unwrap();
    });
    assert_eq!(spans.len(), 1);
    assert!(metrics.0.is_empty(), "{metrics:?}");
}

#[test]
fn an_embeddings_call_is_recorded_as_embeddings_with_its_usage() {
    let (spans, metrics) = run(|_, _| async {
        let service = ServiceBuilder::new()
            .telemetry()
            .service(ProviderService::new(MockProvider::new()));
        let request = LlmRequest::embeddings(EmbeddingRequest::new("embed-test", ["one text", "two"]));
        let vectors = service.oneshot(request).await.unwrap().into_embeddings().unwrap();
        assert_eq!(vectors.embeddings.len(), 2);
    });
    let span = &spans[0];
    assert_eq!(span["gen_ai.operation.name"], "embeddings");
    assert_eq!(span["otel.name"], "embeddings embed-test");
    assert_eq!(span["gen_ai.usage.input_tokens"], "3");
    assert_eq!(span["tower_ai.outcome"], "ok");
    assert_eq!(
        metrics.histogram(
            "gen_ai.client.token.usage",
            &[
                ("gen_ai.operation.name", "embeddings"),
                ("gen_ai.token.type", "input")
            ]
        ),
        vec![3.0]
    );
}

#[test]
fn a_reply_from_a_cache_is_recorded_as_cached() {
    let (spans, metrics) = run(|_, _| async {
        // A stand-in for a cache layer: it answers and says so.
        let cache = tower::service_fn(|_: LlmRequest| async {
            let mut response = LlmResponse::new(Reply::Complete(ChatResponse::text_reply("r", "m", "hit")));
            response.extensions.insert(CacheStatus::HitExact);
            Ok::<_, Error>(response)
        });
        let service = ServiceBuilder::new().telemetry().service(cache);
        service.oneshot(request(false)).await.unwrap();
    });
    assert_eq!(spans[0]["tower_ai.outcome"], "cached");
    assert!(!spans[0].contains_key("error.type"));
    assert_eq!(
        metrics.counter("gen_ai.client.requests", &[("outcome", "cached")]),
        1
    );
}

#[test]
fn a_budget_refusal_is_recorded_as_such() {
    let (spans, metrics) = run(|_, _| async {
        let refusing = tower::service_fn(|_: LlmRequest| async {
            Err::<LlmResponse, _>(Error::budget_exceeded("tenant:acme", "10 calls", None))
        });
        let service = ServiceBuilder::new().telemetry().service(refusing);
        assert!(service.oneshot(request(false)).await.is_err());
    });
    assert_eq!(spans[0]["tower_ai.outcome"], "budget_exceeded");
    assert_eq!(spans[0]["error.type"], "budget_exceeded");
    assert_eq!(
        metrics.counter("gen_ai.client.requests", &[("outcome", "budget_exceeded")]),
        1
    );
}

#[test]
fn the_vendors_request_id_is_recorded_when_it_sent_one() {
    let (spans, _) = run(|_, _| async {
        let provider = tower::service_fn(|_: LlmRequest| async {
            let mut response = LlmResponse::new(Reply::Complete(ChatResponse::text_reply("r", "m", "hi")));
            response
                .extensions
                .insert(ServedBy::new("openai", "m").with_upstream_request_id(Some("req_7Hq".into())));
            Ok::<_, Error>(response)
        });
        let service = ServiceBuilder::new().telemetry().service(provider);
        service.oneshot(request(false)).await.unwrap();
    });
    assert_eq!(spans[0]["tower_ai.upstream_request_id"], "req_7Hq");
    assert_eq!(spans[0]["gen_ai.provider.name"], "openai");
}
