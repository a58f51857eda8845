//! [`ConcurrencyLimit`]: at most N calls in flight, streams included.

use std::fmt;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::PollSemaphore;
use tower_layer::Layer;
use tower_service::Service;

use crate::error::{Error, Result};
use crate::observe::{Lifecycle, Observer};
use crate::types::{LlmRequest, LlmResponse};

/// A layer that lets at most `max` calls be in flight at once, where a call
/// lasts until its reply ends: a streamed reply holds its permit until the
/// stream finished, failed, or was dropped.
///
/// Tower's `concurrency_limit` releases its permit when the reply head
/// arrives, so it does not bound streams: 64 concurrent streams pass a limit
/// of 2. Here the permit lives in an observer of the call's
/// [`Lifecycle`], which is dropped only at the call's real end. Readiness
/// waits for a permit, like tower's.
///
/// ```
/// use tower::{Service, ServiceBuilder, ServiceExt};
/// use tower_ai::limit::ConcurrencyLimitLayer;
/// use tower_ai::provider::mock::{MockProvider, MockReply};
/// use tower_ai::provider::ProviderService;
/// use tower_ai::types::{ChatRequest, StreamEvent};
/// use tower_ai::LlmRequest;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_ai::Error> {
/// let mock = MockProvider::new().push(MockReply::stream(vec![StreamEvent::text("hi")]));
/// let mut service = ServiceBuilder::new()
///     .layer(ConcurrencyLimitLayer::new(1))
///     .service(ProviderService::new(mock));
/// let stream = service.ready().await?.call(LlmRequest::stream(ChatRequest::new("m").user("a"))).await?;
/// // The stream is still open: its call holds the only permit.
/// assert_eq!(service.available(), 0);
/// stream.into_complete().await?;
/// assert_eq!(service.available(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ConcurrencyLimitLayer {
    semaphore: Arc<Semaphore>,
}

impl ConcurrencyLimitLayer {
    /// At most `max` calls in flight, across every service this layer makes
    /// (and their clones).
    pub fn new(max: usize) -> Self {
        Self {
            semaphore: Arc::new(Semaphore::new(max)),
        }
    }
}

impl<S> Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConcurrencyLimit::with_semaphore(inner, Arc::clone(&self.semaphore))
    }
}

/// Lets at most N calls of the inner service be in flight, streams included:
/// made by [`ConcurrencyLimitLayer`].
pub struct ConcurrencyLimit<S> {
    inner: S,
    semaphore: PollSemaphore,
    /// The permit acquired by `poll_ready`, for the next call.
    permit: Option<OwnedSemaphorePermit>,
}

impl<S> ConcurrencyLimit<S> {
    /// Wraps `inner`, with at most `max` calls in flight.
    pub fn new(inner: S, max: usize) -> Self {
        Self::with_semaphore(inner, Arc::new(Semaphore::new(max)))
    }

    fn with_semaphore(inner: S, semaphore: Arc<Semaphore>) -> Self {
        Self {
            inner,
            semaphore: PollSemaphore::new(semaphore),
            permit: None,
        }
    }

    /// How many more calls may start now.
    pub fn available(&self) -> usize {
        self.semaphore.available_permits()
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

// A clone shares the semaphore but not the permit its original acquired.
impl<S: Clone> Clone for ConcurrencyLimit<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            semaphore: self.semaphore.clone(),
            permit: None,
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for ConcurrencyLimit<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyLimit")
            .field("inner", &self.inner)
            .field("available", &self.available())
            .field("holds_permit", &self.permit.is_some())
            .finish()
    }
}

/// Holds a permit for as long as the call lasts.
#[derive(Debug)]
pub struct Permit(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl Observer for Permit {
    const NEEDS_CONTENT: bool = false;
}

impl<S> Service<LlmRequest> for ConcurrencyLimit<S>
where
    S: Service<LlmRequest, Response = LlmResponse, Error = Error>,
{
    type Response = LlmResponse;
    type Error = Error;
    type Future = Lifecycle<S::Future, Permit>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.permit.is_none() {
            match ready!(self.semaphore.poll_acquire(cx)) {
                Some(permit) => self.permit = Some(permit),
                // The semaphore is never closed while a service holds it.
                None => return Poll::Ready(Err(Error::config("the concurrency limit was closed"))),
            }
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: LlmRequest) -> Self::Future {
        // `call` without `poll_ready` first breaks the tower contract; the
        // call then runs without a permit rather than panicking.
        let permit = Permit(self.permit.take());
        Lifecycle::new(self.inner.call(request), permit)
    }
}
