//! What the telemetry layer records, and when.

use std::sync::Arc;
use std::time::Instant;

use tracing::field::Empty;
use tracing::Span;

use crate::error::Error;
use crate::observe::{End, Observer};
use crate::types::{
    ChatResponse, FinishReason, LlmRequest, LlmResponse, Outcome, ServedBy, StreamEvent, Usage,
};

/// What [`Telemetry`](super::Telemetry) puts on each call: the state of the
/// call from the request to the end of its reply. It is the call's
/// [`Observer`], so it records exactly once, however the call ends.
pub struct Recorder {
    span: Span,
    started: Instant,
    first_chunk: Option<Instant>,
    operation: &'static str,
    // Shared strings: metric labels clone them by reference count.
    request_model: Arc<str>,
    provider: Option<Arc<str>>,
    metrics: bool,
    streamed: bool,
    cached: bool,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("operation", &self.operation)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    pub(super) fn start(request: &LlmRequest, metrics: bool) -> Self {
        let operation = request.operation.name();
        let model = request.model();
        let chat = request.chat();
        let span = tracing::info_span!(
            "gen_ai",
            otel.name = %format_args!("{operation} {model}"),
            otel.kind = "client",
            gen_ai.operation.name = operation,
            gen_ai.provider.name = Empty,
            gen_ai.request.model = %model,
            gen_ai.request.max_tokens = chat.and_then(|c| c.max_tokens),
            gen_ai.request.temperature = chat.and_then(|c| c.temperature),
            gen_ai.request.top_p = chat.and_then(|c| c.top_p),
            gen_ai.response.id = Empty,
            gen_ai.response.model = Empty,
            gen_ai.response.finish_reasons = Empty,
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
            gen_ai.usage.cache_read.input_tokens = Empty,
            gen_ai.usage.cache_creation.input_tokens = Empty,
            error.type = Empty,
            tower_ai.request_id = %request.meta.id,
            tower_ai.upstream_request_id = Empty,
            tower_ai.tenant = request.meta.principal.tenant.as_deref(),
            tower_ai.stream = request.is_stream(),
            tower_ai.outcome = Empty,
            tower_ai.duration_s = Empty,
            tower_ai.time_to_first_chunk_s = Empty,
        );
        if metrics {
            describe_metrics();
        }
        Self {
            span,
            started: Instant::now(),
            first_chunk: None,
            operation,
            request_model: Arc::from(model),
            provider: None,
            metrics,
            streamed: request.is_stream(),
            cached: false,
        }
    }

    pub(super) fn span(&self) -> &Span {
        &self.span
    }

    fn set_provider(&mut self, provider: &str) {
        self.span.record("gen_ai.provider.name", provider);
        self.provider = Some(Arc::from(provider));
    }

    fn finish(self, reply: Option<Summary<'_>>, outcome: Outcome) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let ttfc = self
            .first_chunk
            .filter(|_| self.streamed)
            .map(|t| t.duration_since(self.started).as_secs_f64());
        let error_type = outcome.error_type();

        let span = &self.span;
        let response_model = reply.as_ref().map(|r| r.model).filter(|m| !m.is_empty());
        if let Some(reply) = &reply {
            if !reply.id.is_empty() {
                span.record("gen_ai.response.id", reply.id);
            }
            if let Some(model) = response_model {
                span.record("gen_ai.response.model", model);
            }
            if let Some(reason) = reply.finish_reason {
                span.record("gen_ai.response.finish_reasons", reason.as_str());
            }
            if let Some(usage) = reply.usage {
                span.record("gen_ai.usage.input_tokens", usage.input_tokens);
                span.record("gen_ai.usage.output_tokens", usage.output_tokens);
                span.record("gen_ai.usage.cache_read.input_tokens", usage.cache_read_tokens);
                span.record(
                    "gen_ai.usage.cache_creation.input_tokens",
                    usage.cache_write_tokens,
                );
            }
        }
        span.record("tower_ai.outcome", outcome.as_str());
        if let Some(error_type) = error_type {
            span.record("error.type", error_type);
        }
        span.record("tower_ai.duration_s", elapsed);
        if let Some(ttfc) = ttfc {
            span.record("tower_ai.time_to_first_chunk_s", ttfc);
        }

        if !self.metrics {
            return;
        }
        let mut labels = Vec::with_capacity(6);
        labels.push(metrics::Label::new("gen_ai.operation.name", self.operation));
        labels.push(match &self.provider {
            Some(provider) => metrics::Label::new("gen_ai.provider.name", Arc::clone(provider)),
            None => metrics::Label::new("gen_ai.provider.name", "unknown"),
        });
        labels.push(metrics::Label::new(
            "gen_ai.request.model",
            Arc::clone(&self.request_model),
        ));
        if let Some(model) = response_model {
            let model: Arc<str> = if *model == *self.request_model {
                Arc::clone(&self.request_model)
            } else {
                Arc::from(model)
            };
            labels.push(metrics::Label::new("gen_ai.response.model", model));
        }
        if let Some(error_type) = error_type {
            labels.push(metrics::Label::new("error.type", error_type));
        }
        metrics::histogram!("gen_ai.client.operation.duration", labels.iter()).record(elapsed);
        if let Some(ttfc) = ttfc {
            metrics::histogram!("gen_ai.client.operation.time_to_first_chunk", labels.iter()).record(ttfc);
        }
        if let Some(usage) = reply.as_ref().and_then(|r| r.usage) {
            for (kind, tokens) in [
                ("input", usage.input_tokens),
                ("output", usage.output_tokens),
                ("cache_read", usage.cache_read_tokens),
                ("cache_creation", usage.cache_write_tokens),
            ] {
                if tokens == 0 && kind.starts_with("cache") {
                    continue;
                }
                labels.push(metrics::Label::new("gen_ai.token.type", kind));
                metrics::histogram!("gen_ai.client.token.usage", labels.iter()).record(tokens as f64);
                labels.pop();
            }
        }
        labels.push(metrics::Label::new(
            "outcome",
            error_type.unwrap_or(outcome.as_str()),
        ));
        metrics::counter!("gen_ai.client.requests", labels).increment(1);
    }
}

/// What the span and the metrics need of a reply: a chat reply or embeddings.
struct Summary<'a> {
    id: &'a str,
    model: &'a str,
    finish_reason: Option<&'a FinishReason>,
    usage: Option<&'a Usage>,
}

impl<'a> Summary<'a> {
    fn of_chat(reply: &'a ChatResponse) -> Self {
        Self {
            id: &reply.id,
            model: &reply.model,
            finish_reason: reply.finish_reason.as_ref(),
            usage: reply.usage.as_ref(),
        }
    }

    fn of_end(end: &End<'a>) -> Self {
        match *end {
            End::Embedded(embeddings) => Self {
                id: "",
                model: &embeddings.model,
                finish_reason: None,
                usage: embeddings.usage.as_ref(),
            },
            End::Finished(reply) | End::Failed { partial: reply, .. } => Self::of_chat(reply),
        }
    }
}

impl Observer for Recorder {
    const NEEDS_CONTENT: bool = false;

    fn on_response(&mut self, response: &LlmResponse) {
        self.streamed = response.is_stream();
        if let Some(served) = response.extensions.get::<ServedBy>() {
            self.set_provider(&served.provider);
            if let Some(id) = &served.upstream_request_id {
                self.span.record("tower_ai.upstream_request_id", id.as_str());
            }
        }
        self.cached = Outcome::of_response(response) == Outcome::Cached;
    }

    fn on_event(&mut self, event: &StreamEvent) {
        if self.first_chunk.is_none() && event.is_content() {
            self.first_chunk = Some(Instant::now());
        }
    }

    fn on_end(self, end: End<'_>) {
        let outcome = match end.error() {
            Some(error) => Outcome::of_error(error),
            None if self.cached => Outcome::Cached,
            None => Outcome::Ok,
        };
        self.finish(Some(Summary::of_end(&end)), outcome);
    }

    fn on_error(mut self, error: &Error) {
        if let Some(provider) = error.provider() {
            self.set_provider(provider);
        }
        self.finish(None, Outcome::of_error(error));
    }

    fn on_cancel(self, partial: Option<&ChatResponse>) {
        self.finish(partial.map(Summary::of_chat), Outcome::Cancelled);
    }
}

/// Registers units and descriptions once, for recorders that export them.
fn describe_metrics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use metrics::Unit;
        metrics::describe_histogram!(
            "gen_ai.client.operation.duration",
            Unit::Seconds,
            "GenAI operation duration"
        );
        metrics::describe_histogram!(
            "gen_ai.client.operation.time_to_first_chunk",
            Unit::Seconds,
            "Time to receive the first chunk of a streamed reply"
        );
        metrics::describe_histogram!(
            "gen_ai.client.token.usage",
            Unit::Count,
            "Number of input and output tokens used"
        );
        metrics::describe_counter!(
            "gen_ai.client.requests",
            Unit::Count,
            "GenAI operations by outcome"
        );
    });
}
