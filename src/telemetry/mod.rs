//! Telemetry: a tracing span and metrics per call, after the OpenTelemetry
//! GenAI semantic conventions.
//!
//! ```
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_ai::provider::{mock::MockProvider, ProviderService};
//! use tower_ai::types::ChatRequest;
//! use tower_ai::{LlmRequest, ServiceBuilderExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_ai::Error> {
//! let service = ServiceBuilder::new()
//!     .telemetry()
//!     .service(ProviderService::new(MockProvider::new()));
//!
//! let reply = service
//!     .oneshot(LlmRequest::new(ChatRequest::new("gpt-4o-mini").user("hi")))
//!     .await?
//!     .into_complete()
//!     .await?;
//! assert_eq!(reply.text(), "hi");
//! # Ok(())
//! # }
//! ```
//!
//! # The span
//!
//! One span named `gen_ai` per call, chat or embeddings (its `otel.name` is
//! `{operation} {model}`, for example `chat gpt-4o-mini`, its `otel.kind` is
//! `client`), at the `INFO` level, with these fields:
//!
//! | field | when |
//! |---|---|
//! | `gen_ai.operation.name` (`chat` or `embeddings`), `gen_ai.request.model` | at the start |
//! | `gen_ai.request.max_tokens`, `gen_ai.request.temperature`, `gen_ai.request.top_p` | at the start, when set |
//! | `tower_ai.request_id`, `tower_ai.tenant`, `tower_ai.stream` | at the start |
//! | `gen_ai.provider.name` | once the provider answered (or from the error) |
//! | `tower_ai.upstream_request_id` | once the provider answered, when the vendor sent its id for the request |
//! | `gen_ai.response.id`, `gen_ai.response.model`, `gen_ai.response.finish_reasons` | at the end |
//! | `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`, `gen_ai.usage.cache_read.input_tokens`, `gen_ai.usage.cache_creation.input_tokens` | at the end, when reported |
//! | `error.type` | on failure: the error's [`kind`](crate::Error::kind) (`blocked`, `budget_exceeded`, ...), or `cancelled` |
//! | `tower_ai.outcome` | the call's [`Outcome`](crate::types::Outcome): `ok`, `cached`, `blocked`, `budget_exceeded`, `error` or `cancelled` |
//! | `tower_ai.duration_s`, `tower_ai.time_to_first_chunk_s` | at the end; the latter for streams that produced content |
//!
//! The recorder is a plain [`Observer`](crate::observe::Observer) on the
//! call's [`Lifecycle`](crate::observe::Lifecycle): "the end" is the real end
//! of a stream (its last event, an error, or the caller dropping it), not the
//! arrival of the response head; a call that fails before the head is
//! recorded as failed, and one dropped before it as cancelled. A reply that
//! a cache answered (its response carries a hit
//! [`CacheStatus`](crate::types::CacheStatus)) is recorded as `cached`.
//!
//! # The metrics
//!
//! Through the [`metrics`](https://docs.rs/metrics) facade, so any recorder
//! (Prometheus, OpenTelemetry, StatsD) receives them:
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `gen_ai.client.operation.duration` (seconds) | histogram | `gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.response.model`, `error.type` on failure |
//! | `gen_ai.client.operation.time_to_first_chunk` (seconds) | histogram | as above; streams only |
//! | `gen_ai.client.token.usage` (tokens) | histogram | as above, plus `gen_ai.token.type`: `input`, `output`, `cache_read`, `cache_creation` |
//! | `gen_ai.client.requests` | counter | as above, plus `outcome`: `ok`, `cached`, `cancelled` or the error's kind |

mod layer;
mod record;
mod service;

pub use layer::TelemetryLayer;
pub use record::Recorder;
pub use service::{ResponseFuture, Telemetry};
