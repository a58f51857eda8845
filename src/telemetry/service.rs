//! [`Telemetry`] and its future.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tower_service::Service;

use super::record::Recorder;
use super::TelemetryLayer;
use crate::error::Error;
use crate::observe::observe;
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
    /// Wraps `inner`.
    pub fn new(inner: S, config: TelemetryLayer) -> Self {
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
        let inner = {
            let _entered = recorder.span().enter();
            self.inner.call(request)
        };
        ResponseFuture {
            inner,
            recorder: Some(recorder),
        }
    }
}

pin_project! {
    /// The future of a [`Telemetry`] call.
    ///
    /// Polls the inner future inside the call's span. Dropped before it
    /// resolves, it records the call as cancelled.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        recorder: Option<Recorder>,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<LlmResponse, Error>>,
{
    type Output = Result<LlmResponse, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.recorder.as_ref().map(|r| r.span().enter());
            ready!(this.inner.poll(cx))
        };
        let Some(mut recorder) = this.recorder.take() else {
            return Poll::Ready(result);
        };
        Poll::Ready(match result {
            Ok(response) => {
                recorder.responded(&response);
                Ok(observe(response, recorder))
            }
            Err(error) => {
                recorder.failed(&error);
                Err(error)
            }
        })
    }
}
