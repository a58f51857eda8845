//! [`FilterLayer`]: a layer that puts a fresh filter on every call.

use std::fmt;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::filter::Filter;
use super::future::Lifecycle;
use crate::error::Error;
use crate::types::{LlmRequest, LlmResponse};

/// A layer that makes a [`Filter`] (or an [`Observer`](super::Observer))
/// for each request and runs it over the whole call with [`Lifecycle`].
///
/// `make` sees the request before it goes on, to capture what the filter
/// needs (the model, the principal, a start time).
///
/// ```
/// use tower::ServiceBuilder;
/// use tower_ai::observe::FilterLayer;
/// use tower_ai::provider::{mock::MockProvider, ProviderService};
/// use tower_ai::LlmRequest;
///
/// let stack = ServiceBuilder::new()
///     .layer(FilterLayer::new(|_: &LlmRequest| ()))
///     .service(ProviderService::new(MockProvider::new()));
/// # let _ = stack;
/// ```
#[derive(Clone)]
pub struct FilterLayer<M> {
    make: M,
}

impl<M> FilterLayer<M> {
    /// A layer that calls `make` once per request.
    pub fn new<F>(make: M) -> Self
    where
        M: Fn(&LlmRequest) -> F,
        F: Filter,
    {
        Self { make }
    }
}

impl<M> fmt::Debug for FilterLayer<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FilterLayer").finish_non_exhaustive()
    }
}

impl<S, M: Clone> Layer<S> for FilterLayer<M> {
    type Service = Filtered<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        Filtered {
            inner,
            make: self.make.clone(),
        }
    }
}

/// A service that runs a fresh filter over every call: made by [`FilterLayer`].
#[derive(Clone)]
pub struct Filtered<S, M> {
    inner: S,
    make: M,
}

impl<S, M> Filtered<S, M> {
    /// Wraps `inner`, calling `make` once per request.
    pub fn new(inner: S, make: M) -> Self {
        Self { inner, make }
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

impl<S: fmt::Debug, M> fmt::Debug for Filtered<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filtered")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, M, F> Service<LlmRequest> for Filtered<S, M>
where
    S: Service<LlmRequest, Response = LlmResponse, Error = Error>,
    M: Fn(&LlmRequest) -> F,
    F: Filter,
{
    type Response = LlmResponse;
    type Error = Error;
    type Future = Lifecycle<S::Future, F>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: LlmRequest) -> Self::Future {
        let filter = (self.make)(&request);
        Lifecycle::new(self.inner.call(request), filter)
    }
}
