//! [`Telemetry`] and its future.

use std::task::{Context, Poll};

use tower_service::Service;
use tracing::instrument::Instrumented;
use tracing::Instrument;

use super::record::Recorder;
use super::TelemetryLayer;
use crate::error::Error;
use crate::observe::Lifecycle;
use crate::types::{LlmRequest, LlmResponse};

/// Records a span and metrics for every call of the inner service.
///
/// Made by [`TelemetryLayer`] or [`ServiceBuilderExt::telemetry`](crate::ServiceBuilderExt::telemetry).
#[derive(Debug, Clone)]
pub struct Telemetry<S> {
    inner: S,
    config: TelemetryLayer,
}

impl<S> Telemetry<S> {
    /// Wraps `inner`, with spans and metrics.
    pub fn new(inner: S) -> Self {
        TelemetryLayer::new().wrap(inner)
    }

    pub(super) fn with_config(inner: S, config: TelemetryLayer) -> Self {
        Self { inner, config }
    }

    /// A layer with the default settings.
    pub fn layer() -> TelemetryLayer {
        TelemetryLayer::new()
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// The future of a [`Telemetry`] call: the inner call's [`Lifecycle`], with
/// the telemetry recorder as its observer, polled inside the call's span.
pub type ResponseFuture<F> = Instrumented<Lifecycle<F, Recorder>>;

impl<S> Service<LlmRequest> for Telemetry<S>
where
    S: Service<LlmRequest, Response = LlmResponse, Error = Error>,
{
    type Response = LlmResponse;
    type Error = Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: LlmRequest) -> Self::Future {
        let recorder = Recorder::start(&request, self.config.metrics);
        let span = recorder.span().clone();
        let inner = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        Lifecycle::new(inner, recorder).instrument(span)
    }
}
