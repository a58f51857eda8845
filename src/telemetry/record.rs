//! What the telemetry layer records, and when.

use std::sync::Arc;
use std::time::Instant;

use tracing::field::Empty;
use tracing::Span;

use crate::error::Error;
use crate::observe::{Observer, StreamEnd};
use crate::types::{ChatResponse, LlmRequest, LlmResponse, ServedBy, StreamEvent};

const OPERATION: &str = "chat";

/// How a call ended, for the span and the metrics.
enum Outcome<'a> {
    Ok,
    Error(&'a Error),
    Cancelled,
}

/// The state of one call, from the request to the end of its reply.
///
/// It is the observer of the reply, so it lives exactly as long as the
/// stream; dropped before it recorded an end, it records a cancellation.
pub(super) struct Recorder {
    span: Span,
    started: Instant,
    first_chunk: Option<Instant>,
    // Shared strings: metric labels clone them by reference count.
    request_model: Arc<str>,
    provider: Option<Arc<str>>,
    metrics: bool,
    streamed: bool,
    done: bool,
}

impl Recorder {
    pub(super) fn start(request: &LlmRequest, metrics: bool) -> Self {
        let chat = &request.chat;
        let span = tracing::info_span!(
            "chat",
            otel.name = %format_args!("{OPERATION} {}", chat.model),
            otel.kind = "client",
            gen_ai.operation.name = OPERATION,
            gen_ai.provider.name = Empty,
            gen_ai.request.model = %chat.model,
            gen_ai.request.max_tokens = chat.max_tokens,
            gen_ai.request.temperature = chat.temperature,
            gen_ai.request.top_p = chat.top_p,
            gen_ai.response.id = Empty,
            gen_ai.response.model = Empty,
            gen_ai.response.finish_reasons = Empty,
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
            gen_ai.usage.cache_read.input_tokens = Empty,
            gen_ai.usage.cache_creation.input_tokens = Empty,
            error.type = Empty,
            tower_ai.request_id = %request.meta.id,
            tower_ai.tenant = request.meta.principal.tenant.as_deref(),
            tower_ai.stream = chat.stream,
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
            request_model: Arc::from(chat.model.as_str()),
            provider: None,
            metrics,
            streamed: chat.stream,
            done: false,
        }
    }

    pub(super) fn span(&self) -> &Span {
        &self.span
    }

    /// The inner service answered (a stream may still be running).
    pub(super) fn responded(&mut self, response: &LlmResponse) {
        self.streamed = response.is_stream();
        if let Some(served) = response.extensions.get::<ServedBy>() {
            self.set_provider(&served.provider);
        }
    }

    /// The inner service failed before answering.
    pub(super) fn failed(mut self, error: &Error) {
        if let Some(provider) = error.provider() {
            self.set_provider(provider);
        }
        self.finish(None, Outcome::Error(error));
    }

    fn set_provider(&mut self, provider: &str) {
        self.span.record("gen_ai.provider.name", provider);
        self.provider = Some(Arc::from(provider));
    }

    fn finish(&mut self, reply: Option<&ChatResponse>, outcome: Outcome<'_>) {
        self.done = true;
        let elapsed = self.started.elapsed().as_secs_f64();
        let ttfc = self
            .first_chunk
            .filter(|_| self.streamed)
            .map(|t| t.duration_since(self.started).as_secs_f64());
        let error_type = match &outcome {
            Outcome::Ok => None,
            Outcome::Error(error) => Some(error.kind()),
            Outcome::Cancelled => Some("cancelled"),
        };

        let span = &self.span;
        let response_model = reply.map(|r| r.model.as_str()).filter(|m| !m.is_empty());
        if let Some(reply) = reply {
            if !reply.id.is_empty() {
                span.record("gen_ai.response.id", reply.id.as_str());
            }
            if let Some(model) = response_model {
                span.record("gen_ai.response.model", model);
            }
            if let Some(reason) = &reply.finish_reason {
                span.record("gen_ai.response.finish_reasons", reason.as_str());
            }
            if let Some(usage) = &reply.usage {
                span.record("gen_ai.usage.input_tokens", usage.input_tokens);
                span.record("gen_ai.usage.output_tokens", usage.output_tokens);
                span.record("gen_ai.usage.cache_read.input_tokens", usage.cache_read_tokens);
                span.record(
                    "gen_ai.usage.cache_creation.input_tokens",
                    usage.cache_write_tokens,
                );
            }
        }
        span.record(
            "tower_ai.outcome",
            match outcome {
                Outcome::Ok => "ok",
                Outcome::Error(_) => "error",
                Outcome::Cancelled => "cancelled",
            },
        );
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
        labels.push(metrics::Label::new("gen_ai.operation.name", OPERATION));
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
        if let Some(usage) = reply.and_then(|r| r.usage.as_ref()) {
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
        labels.push(metrics::Label::new("outcome", error_type.unwrap_or("ok")));
        metrics::counter!("gen_ai.client.requests", labels).increment(1);
    }
}

impl Observer for Recorder {
    const NEEDS_CONTENT: bool = false;

    fn on_event(&mut self, event: &StreamEvent) {
        if self.first_chunk.is_none() && event.is_content() {
            self.first_chunk = Some(Instant::now());
        }
    }

    fn on_end(mut self, end: StreamEnd<'_>) {
        match end.error() {
            None => self.finish(Some(end.reply()), Outcome::Ok),
            Some(error) => self.finish(Some(end.reply()), Outcome::Error(error)),
        }
    }

    fn on_cancel(mut self, partial: &ChatResponse) {
        self.finish(Some(partial), Outcome::Cancelled);
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if !self.done {
            // The call's future was dropped before the inner service answered.
            self.finish(None, Outcome::Cancelled);
        }
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
