//! Watching replies: the one mechanism every layer uses to see a reply go by.
//!
//! An [`Observer`] has three hooks: each event, the end (finished or failed,
//! with the reply accumulated so far), and a drop before the end (cancelled).
//! [`observe`] attaches one to an [`LlmResponse`]: a streamed reply is wrapped
//! in an [`ObservedStream`]; a complete reply goes through the same hooks at
//! once, so a layer writes its logic once for both shapes.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_ai::observe::{observe, Observer, StreamEnd};
//! use tower_ai::provider::{mock::MockProvider, ProviderService};
//! use tower_ai::types::{ChatRequest, ChatResponse, StreamEvent};
//! use tower_ai::LlmRequest;
//!
//! /// Counts streamed characters and keeps the final text.
//! struct Chars(Arc<Mutex<(usize, String)>>);
//!
//! impl Observer for Chars {
//!     fn on_event(&mut self, event: &StreamEvent) {
//!         if let StreamEvent::TextDelta { text } = event {
//!             self.0.lock().unwrap().0 += text.chars().count();
//!         }
//!     }
//!     fn on_end(self, end: StreamEnd<'_>) {
//!         if let StreamEnd::Finished(reply) = end {
//!             self.0.lock().unwrap().1 = reply.text();
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_ai::Error> {
//! let seen = Arc::new(Mutex::new((0, String::new())));
//! let observer = seen.clone();
//! let service = ServiceBuilder::new()
//!     .map_response(move |response| observe(response, Chars(observer.clone())))
//!     .service(ProviderService::new(MockProvider::new().with_text_reply("héllo")));
//!
//! let request = LlmRequest::new(ChatRequest::new("m").user("hi").streaming(true));
//! let reply = service.oneshot(request).await?.into_complete().await?;
//! assert_eq!(reply.text(), "héllo");
//! assert_eq!(*seen.lock().unwrap(), (5, "héllo".to_string()));
//! # Ok(())
//! # }
//! ```
//!
//! What must live as long as the reply (a budget reservation, a concurrency
//! permit, a start instant) belongs in the observer: it is dropped with the
//! stream, after its last hook ran. No channel and no copy of the stream is
//! involved; per event, the wrapper adds one hook call and, for observers that
//! ask for it, the accumulator's append.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::error::{Error, Result};
use crate::types::{ChatResponse, ChatStream, LlmResponse, Reply, StreamAccumulator, StreamEvent};

/// Hooks that watch one reply.
///
/// Every method has a default that does nothing, so an observer implements
/// only what it needs. Exactly one of [`on_end`](Self::on_end) and
/// [`on_cancel`](Self::on_cancel) is called, once.
pub trait Observer: Send + 'static {
    /// Whether the end hooks need the reply's content (text, reasoning, tool
    /// calls). When `false`, the reply they receive carries only the id,
    /// model, finish reason and usage, and no text is copied per event.
    const NEEDS_CONTENT: bool = true;

    /// Called for each event, in order.
    fn on_event(&mut self, event: &StreamEvent) {
        let _ = event;
    }

    /// Called once when the reply ended: it finished, or failed.
    fn on_end(self, end: StreamEnd<'_>)
    where
        Self: Sized,
    {
        let _ = end;
    }

    /// Called once when the reply was dropped before its end, with what had
    /// arrived so far.
    fn on_cancel(self, partial: &ChatResponse)
    where
        Self: Sized,
    {
        let _ = partial;
    }
}

/// How a reply ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum StreamEnd<'a> {
    /// The reply is complete.
    Finished(&'a ChatResponse),
    /// The reply failed part-way.
    Failed {
        /// Why.
        error: &'a Error,
        /// What had arrived before the error.
        partial: &'a ChatResponse,
    },
}

impl StreamEnd<'_> {
    /// The reply, complete or partial.
    pub fn reply(&self) -> &ChatResponse {
        match self {
            StreamEnd::Finished(reply) => reply,
            StreamEnd::Failed { partial, .. } => partial,
        }
    }

    /// The error, if the reply failed.
    pub fn error(&self) -> Option<&Error> {
        match self {
            StreamEnd::Finished(_) => None,
            StreamEnd::Failed { error, .. } => Some(error),
        }
    }
}

/// The observer that watches nothing.
impl Observer for () {
    const NEEDS_CONTENT: bool = false;
}

/// Attaches an observer to a response, whatever its shape.
///
/// A streamed reply is wrapped in an [`ObservedStream`]. A complete reply is
/// shown to the observer at once: each event of
/// [`ChatResponse::to_events`], then [`StreamEnd::Finished`] with the reply
/// itself.
pub fn observe<O: Observer>(response: LlmResponse, observer: O) -> LlmResponse {
    let LlmResponse { reply, extensions } = response;
    let reply = match reply {
        Reply::Stream(stream) => Reply::Stream(ChatStream::new(ObservedStream::new(stream, observer))),
        Reply::Complete(complete) => {
            observe_complete(&complete, observer);
            Reply::Complete(complete)
        }
    };
    LlmResponse { reply, extensions }
}

/// Shows a complete reply to an observer: its events, then its end.
pub fn observe_complete<O: Observer>(reply: &ChatResponse, mut observer: O) {
    for event in reply.to_events() {
        observer.on_event(&event);
    }
    observer.on_end(StreamEnd::Finished(reply));
}

/// A [`ChatStream`] with an [`Observer`] watching it.
///
/// Items pass through unchanged. The observer lives as long as the stream and
/// is dropped right after its end hook, or with the stream.
pub struct ObservedStream<O: Observer> {
    inner: ChatStream,
    acc: StreamAccumulator,
    /// `None` once an end hook has run.
    observer: Option<O>,
}

impl<O: Observer> ObservedStream<O> {
    /// Wraps a stream.
    pub fn new(inner: ChatStream, observer: O) -> Self {
        Self {
            inner,
            acc: StreamAccumulator::new(),
            observer: Some(observer),
        }
    }

    /// Whether an end hook already ran.
    pub fn is_ended(&self) -> bool {
        self.observer.is_none()
    }

    #[inline]
    fn watch(&mut self, item: Option<&Result<StreamEvent>>) {
        match item {
            Some(Ok(event)) => {
                if let Some(observer) = self.observer.as_mut() {
                    if O::NEEDS_CONTENT || !event.is_content() {
                        self.acc.push(event);
                    }
                    observer.on_event(event);
                }
            }
            Some(Err(error)) => self.end(Some(error)),
            None => self.end(None),
        }
    }

    fn end(&mut self, error: Option<&Error>) {
        if let Some(observer) = self.observer.take() {
            let reply = std::mem::take(&mut self.acc).finish();
            match error {
                None => observer.on_end(StreamEnd::Finished(&reply)),
                Some(error) => observer.on_end(StreamEnd::Failed {
                    error,
                    partial: &reply,
                }),
            }
        }
    }
}

// The observer is never pinned: it is only reached through `&mut` and moved
// out by `Option::take`, so the wrapper can be `Unpin` whatever the observer.
impl<O: Observer> Unpin for ObservedStream<O> {}

impl<O: Observer> Stream for ObservedStream<O> {
    type Item = Result<StreamEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_next(cx);
        // The item is only looked at, and returned as it came.
        if let Poll::Ready(item) = &poll {
            this.watch(item.as_ref());
        }
        poll
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<O: Observer> Drop for ObservedStream<O> {
    fn drop(&mut self) {
        if let Some(observer) = self.observer.take() {
            let partial = std::mem::take(&mut self.acc).finish();
            observer.on_cancel(&partial);
        }
    }
}

impl<O: Observer> fmt::Debug for ObservedStream<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObservedStream")
            .field("events", &self.acc.event_count())
            .field("ended", &self.is_ended())
            .finish_non_exhaustive()
    }
}
