//! A layer of your own, stacked with telemetry over the mock provider.
//!
//! `CharCountLayer` tags every request and counts the characters of streamed
//! replies with an observer on the call's lifecycle, the same mechanism the
//! crate's own layers use. Its future is the named [`Lifecycle`] future.
//! It runs offline:
//!
//! ```text
//! cargo run --example custom_layer
//! ```

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::StreamExt;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_ai::observe::{End, Lifecycle, Observer};
use tower_ai::provider::mock::{MockProvider, MockReply};
use tower_ai::provider::ProviderService;
use tower_ai::types::{ChatRequest, ChatResponse, StreamEvent};
use tower_ai::{Error, LlmRequest, LlmResponse, Principal, ServiceBuilderExt};
use tracing_subscriber::fmt::format::FmtSpan;

/// Tags every request with `feature` and counts streamed characters.
#[derive(Debug, Clone)]
struct CharCountLayer {
    feature: &'static str,
    /// Shared state lives behind an `Arc`, so clones of the stack share it.
    total: Arc<AtomicUsize>,
}

impl<S> Layer<S> for CharCountLayer {
    type Service = CharCount<S>;

    fn layer(&self, inner: S) -> CharCount<S> {
        CharCount {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Debug, Clone)]
struct CharCount<S> {
    inner: S,
    layer: CharCountLayer,
}

impl<S> Service<LlmRequest> for CharCount<S>
where
    S: Service<LlmRequest, Response = LlmResponse, Error = Error>,
{
    type Response = LlmResponse;
    type Error = Error;
    type Future = Lifecycle<S::Future, Counter>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        // Readiness is the inner service's.
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: LlmRequest) -> Self::Future {
        request
            .meta
            .tags
            .insert("feature".into(), self.layer.feature.into());
        let counter = Counter {
            request_id: request.meta.id.clone(),
            chars: 0,
            total: Arc::clone(&self.layer.total),
        };
        // The counter owns the call from here: exactly one of its end hooks runs.
        Lifecycle::new(self.inner.call(request), counter)
    }
}

/// Watches one call; lives exactly as long as it.
struct Counter {
    request_id: String,
    chars: usize,
    total: Arc<AtomicUsize>,
}

impl Observer for Counter {
    // Only the deltas are needed: the end hook gets no copy of the text.
    const NEEDS_CONTENT: bool = false;

    fn on_event(&mut self, event: &StreamEvent) {
        if let StreamEvent::TextDelta { text } = event {
            self.chars += text.chars().count();
        }
    }

    fn on_end(self, end: End<'_>) {
        self.total.fetch_add(self.chars, Ordering::Relaxed);
        let outcome = end
            .error()
            .map_or("finished".to_string(), |e| format!("failed: {e}"));
        println!(
            "[char-count] request {}: {} characters, {outcome}",
            self.request_id, self.chars
        );
    }

    fn on_error(self, error: &Error) {
        println!(
            "[char-count] request {}: failed before the reply: {error}",
            self.request_id
        );
    }

    fn on_cancel(self, _partial: Option<&ChatResponse>) {
        println!(
            "[char-count] request {}: cancelled after {} characters",
            self.request_id, self.chars
        );
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Print each telemetry span when it closes, with its fields.
    tracing_subscriber::fmt()
        .with_span_events(FmtSpan::CLOSE)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .init();

    let words = ["Layers ", "stack ", "in ", "any ", "order."];
    let mock = MockProvider::new()
        .push(
            MockReply::stream(words.iter().map(|w| StreamEvent::text(*w)).collect())
                .with_delay(Duration::from_millis(10)),
        )
        .push(MockReply::stream(
            words.iter().map(|w| StreamEvent::text(*w)).collect(),
        ));
    let total = Arc::new(AtomicUsize::new(0));

    let stack = ServiceBuilder::new()
        .telemetry()
        .layer(CharCountLayer {
            feature: "demo",
            total: Arc::clone(&total),
        })
        .service(ProviderService::new(mock));

    let request = || {
        LlmRequest::stream(ChatRequest::new("demo-model").user("Tell me about layers."))
            .with_principal(Principal::new().tenant("acme"))
    };

    // A stream read to its end.
    let reply = stack.clone().oneshot(request()).await?.into_complete().await?;
    println!("reply: {}\n", reply.text());

    // A stream dropped after two events: recorded as cancelled.
    let mut stream = stack.clone().oneshot(request()).await?.into_stream();
    stream.next().await;
    stream.next().await;
    drop(stream);

    println!(
        "\ncharacters streamed in total: {}",
        total.load(Ordering::Relaxed)
    );
    Ok(())
}
