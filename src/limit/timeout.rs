//! [`StreamTimeout`]: time limits that hold for a stream's whole life.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower_layer::Layer;
use tower_service::Service;

use crate::error::{Error, Result, TimeoutKind};
use crate::types::{ChatStream, LlmRequest, LlmResponse, Reply, StreamEvent};

/// The time limits of a call: to its first event, between two events, and
/// for the whole call. Each is optional.
///
/// For a complete reply, the first event is the reply itself. A limit that
/// fires ends the call (or its stream) with [`Error::Timeout`] naming it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimeLimits {
    /// The longest wait for the first event (for a complete reply: for the reply).
    pub first_event: Option<Duration>,
    /// The longest silence between two events of a stream.
    pub idle: Option<Duration>,
    /// The longest the whole call may take, stream included.
    pub total: Option<Duration>,
}

impl TimeLimits {
    /// No limit.
    pub fn none() -> Self {
        Self::default()
    }

    /// Sets the limit on the wait for the first event.
    #[must_use]
    pub fn first_event(mut self, limit: Duration) -> Self {
        self.first_event = Some(limit);
        self
    }

    /// Sets the limit on the silence between two events.
    #[must_use]
    pub fn idle(mut self, limit: Duration) -> Self {
        self.idle = Some(limit);
        self
    }

    /// Sets the limit on the whole call.
    #[must_use]
    pub fn total(mut self, limit: Duration) -> Self {
        self.total = Some(limit);
        self
    }

    /// Puts these limits on a stream whose call started at `started`.
    pub fn wrap(self, stream: ChatStream, started: Instant) -> ChatStream {
        if self == Self::none() {
            return stream;
        }
        stream.map_stream(|s| TimedStream::new(s, self, started))
    }

    /// Runs `call` (the wait for a reply head, or a whole complete reply)
    /// within the first-event and total limits, counted from `started`.
    pub(crate) async fn bound<T>(self, started: Instant, call: impl Future<Output = Result<T>>) -> Result<T> {
        match self.head_deadline(started) {
            None => call.await,
            Some((at, kind, limit)) => tokio::time::timeout_at(at, call)
                .await
                .unwrap_or_else(|_| Err(Error::timeout(kind, Some(limit)))),
        }
    }

    /// The deadline of the wait for the head (the first event, or the total,
    /// whichever comes first), and which limit it is.
    fn head_deadline(&self, started: Instant) -> Option<(Instant, TimeoutKind, Duration)> {
        let first = self
            .first_event
            .map(|d| (started + d, TimeoutKind::FirstEvent, d));
        let total = self.total.map(|d| (started + d, TimeoutKind::Total, d));
        match (first, total) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        }
    }
}

/// A stream with [`TimeLimits`] on it.
///
/// The timer is re-armed lazily: an event only notes when it came, and the
/// timer, when it fires, checks whether a deadline really passed (deadlines
/// only move later) before ending the stream or waiting for the new one. So
/// an event costs a clock read, not a timer-wheel update.
struct TimedStream {
    inner: ChatStream,
    limits: TimeLimits,
    started: Instant,
    /// When the last event came (the idle limit counts from it).
    last: Instant,
    /// Set at or before the nearest deadline.
    timer: Pin<Box<Sleep>>,
    seen_content: bool,
    done: bool,
}

impl TimedStream {
    fn new(inner: ChatStream, limits: TimeLimits, started: Instant) -> Self {
        let now = Instant::now();
        let mut stream = Self {
            inner,
            limits,
            started,
            last: now,
            timer: Box::pin(tokio::time::sleep_until(now)),
            seen_content: false,
            done: false,
        };
        if let Some((at, _, _)) = stream.deadline() {
            stream.timer.as_mut().reset(at);
        }
        stream
    }

    /// The nearest deadline now, and which limit it is.
    fn deadline(&self) -> Option<(Instant, TimeoutKind, Duration)> {
        let mut next: Option<(Instant, TimeoutKind, Duration)> = None;
        let mut consider = |at: Instant, kind: TimeoutKind, limit: Duration| {
            if next.is_none_or(|(n, _, _)| at < n) {
                next = Some((at, kind, limit));
            }
        };
        if let Some(limit) = self.limits.total {
            consider(self.started + limit, TimeoutKind::Total, limit);
        }
        if !self.seen_content {
            if let Some(limit) = self.limits.first_event {
                consider(self.started + limit, TimeoutKind::FirstEvent, limit);
            }
        }
        if let Some(limit) = self.limits.idle {
            consider(self.last + limit, TimeoutKind::Idle, limit);
        }
        next
    }
}

impl Stream for TimedStream {
    type Item = Result<StreamEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(event))) => {
                if event.is_content() {
                    this.seen_content = true;
                }
                this.last = Instant::now();
                Poll::Ready(Some(Ok(event)))
            }
            Poll::Ready(other) => {
                this.done = true;
                Poll::Ready(other)
            }
            Poll::Pending => loop {
                let Some((at, kind, limit)) = this.deadline() else {
                    return Poll::Pending;
                };
                if Instant::now() >= at {
                    this.done = true;
                    // The upstream is let go with the stream.
                    this.inner = ChatStream::from_events(Vec::new());
                    return Poll::Ready(Some(Err(Error::timeout(kind, Some(limit)))));
                }
                // Deadlines only move later: a timer set earlier is left to
                // fire, and moved when it has.
                if this.timer.is_elapsed() || this.timer.deadline() > at {
                    this.timer.as_mut().reset(at);
                }
                match this.timer.as_mut().poll(cx) {
                    // Fired: look again (a later event may have moved the deadline).
                    Poll::Ready(()) => continue,
                    Poll::Pending => return Poll::Pending,
                }
            },
        }
    }
}

/// A layer that puts [`TimeLimits`] on every call: on the wait for the reply
/// and, for a streamed reply, on its events until the end.
///
/// Tower's `timeout` bounds only the future that returns the reply head: a
/// stream that stalls afterwards, or sends only keep-alives, would hang the
/// caller. This layer bounds the stream too.
///
/// ```
/// use std::time::Duration;
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_ai::limit::{StreamTimeoutLayer, TimeLimits};
/// use tower_ai::provider::mock::{MockProvider, MockReply};
/// use tower_ai::provider::ProviderService;
/// use tower_ai::types::{ChatRequest, StreamEvent};
/// use tower_ai::{Error, LlmRequest};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // A stream whose second event comes after a long silence.
/// let slow = MockReply::stream(vec![StreamEvent::text("a"), StreamEvent::text("b")])
///     .with_delay(Duration::from_millis(200));
/// let limits = TimeLimits::none().idle(Duration::from_millis(50));
/// let service = ServiceBuilder::new()
///     .layer(StreamTimeoutLayer::new(limits))
///     .service(ProviderService::new(MockProvider::new().push(slow)));
/// let stream = service.oneshot(LlmRequest::stream(ChatRequest::new("m").user("hi"))).await.unwrap();
/// let err = stream.into_complete().await.unwrap_err();
/// assert!(matches!(err, Error::Timeout { .. }));
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct StreamTimeoutLayer {
    limits: TimeLimits,
}

impl StreamTimeoutLayer {
    /// A layer with these limits.
    pub fn new(limits: TimeLimits) -> Self {
        Self { limits }
    }
}

impl<S> Layer<S> for StreamTimeoutLayer {
    type Service = StreamTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        StreamTimeout::new(inner, self.limits)
    }
}

/// Puts [`TimeLimits`] on every call of the inner service: made by [`StreamTimeoutLayer`].
#[derive(Debug, Clone)]
pub struct StreamTimeout<S> {
    inner: S,
    limits: TimeLimits,
}

impl<S> StreamTimeout<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, limits: TimeLimits) -> Self {
        Self { inner, limits }
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

impl<S> Service<LlmRequest> for StreamTimeout<S>
where
    S: Service<LlmRequest, Response = LlmResponse, Error = Error>,
{
    type Response = LlmResponse;
    type Error = Error;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: LlmRequest) -> Self::Future {
        let started = Instant::now();
        let head = self.limits.head_deadline(started);
        TimeoutFuture {
            inner: self.inner.call(request),
            sleep: head.map(|(at, _, _)| Box::pin(tokio::time::sleep_until(at))),
            which: head.map(|(_, kind, limit)| (kind, limit)),
            limits: self.limits,
            started,
        }
    }
}

pin_project! {
    /// The future of a [`StreamTimeout`] call.
    pub struct TimeoutFuture<F> {
        #[pin]
        inner: F,
        sleep: Option<Pin<Box<Sleep>>>,
        which: Option<(TimeoutKind, Duration)>,
        limits: TimeLimits,
        started: Instant,
    }
}

impl<F> fmt::Debug for TimeoutFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutFuture")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl<F> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<LlmResponse>>,
{
    type Output = Result<LlmResponse>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(result) = this.inner.poll(cx) {
            let LlmResponse { reply, extensions } = result?;
            let reply = match reply {
                Reply::Stream(stream) => Reply::Stream(this.limits.wrap(stream, *this.started)),
                whole => whole,
            };
            return Poll::Ready(Ok(LlmResponse { reply, extensions }));
        }
        if let (Some(sleep), Some((kind, limit))) = (this.sleep.as_mut(), *this.which) {
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(Error::timeout(kind, Some(limit))));
            }
        }
        Poll::Pending
    }
}
