//! [`FilteredStream`]: a stream with a filter on it.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::filter::{Emit, End, Filter};
use crate::error::{Error, Result};
use crate::types::{ChatStream, StreamAccumulator, StreamEvent};

/// A [`ChatStream`] with a [`Filter`] (or an [`Observer`](super::Observer)) on it.
///
/// Made by [`attach`](super::attach) and [`Lifecycle`](super::Lifecycle).
/// The filter lives as long as the stream and is dropped right after its
/// end hook ran, or with the stream. An observer's events pass through
/// untouched, without a queue.
///
/// The reply handed to the end hooks is folded as the events pass. When the
/// hooks need the content ([`Filter::NEEDS_CONTENT`]), it holds at most
/// [`DEFAULT_MAX_RESPONSE_BYTES`](crate::provider::DEFAULT_MAX_RESPONSE_BYTES)
/// of text, reasoning and tool-call arguments, the limit on a complete
/// reply's body: an event that would take it past the limit is not
/// delivered, and the stream ends with
/// [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge) (the end hook
/// sees [`End::Failed`](super::End::Failed) with what arrived before). When
/// they do not, only the id, model, finish reason and usage are kept, and no
/// limit applies.
pub struct FilteredStream<F: Filter> {
    /// `None` once the upstream stream ended, failed, or was let go.
    inner: Option<ChatStream>,
    out: Emit,
    /// What the caller received so far.
    acc: StreamAccumulator,
    /// `None` once an end hook ran.
    filter: Option<F>,
    /// An error to yield once `out` is drained.
    pending_error: Option<Error>,
    /// A `Finish` event reached the caller.
    finished: bool,
}

impl<F: Filter> FilteredStream<F> {
    /// Puts `filter` on `inner`.
    pub fn new(inner: ChatStream, filter: F) -> Self {
        Self {
            inner: Some(inner),
            out: Emit::new(),
            acc: if F::NEEDS_CONTENT {
                StreamAccumulator::with_limit(crate::provider::DEFAULT_MAX_RESPONSE_BYTES)
            } else {
                StreamAccumulator::new()
            },
            filter: Some(filter),
            pending_error: None,
            finished: false,
        }
    }

    /// Whether an end hook already ran.
    pub fn is_ended(&self) -> bool {
        self.filter.is_none()
    }

    /// Notes an event on its way to the caller, unless the folded reply
    /// would grow past its limit.
    #[inline]
    fn note(&mut self, event: &StreamEvent) -> Result<()> {
        if F::NEEDS_CONTENT {
            self.acc.try_push(event)?;
        } else if !event.is_content() {
            self.acc.push(event);
        }
        if matches!(event, StreamEvent::Finish { .. }) {
            self.finished = true;
        }
        Ok(())
    }

    #[inline]
    fn deliver(&mut self, event: StreamEvent) -> Poll<Option<Result<StreamEvent>>> {
        match self.note(&event) {
            Ok(()) => Poll::Ready(Some(Ok(event))),
            Err(error) => self.fail(error),
        }
    }

    /// Ends the stream with `error`: the upstream is let go, nothing queued
    /// is delivered, and the end hook runs.
    fn fail(&mut self, error: Error) -> Poll<Option<Result<StreamEvent>>> {
        self.inner = None;
        self.out.clear();
        self.end(Some(&error));
        Poll::Ready(Some(Err(error)))
    }

    /// The path of a filter that passes everything through (an observer):
    /// no queue, and each item is returned as the inner stream gave it.
    #[inline]
    fn poll_watch(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<StreamEvent>>> {
        let (Some(_), Some(inner)) = (self.filter.as_ref(), self.inner.as_mut()) else {
            return Poll::Ready(None);
        };
        let poll = Pin::new(inner).poll_next(cx);
        match &poll {
            Poll::Pending => {}
            Poll::Ready(Some(Ok(event))) => {
                // Folded first: an event past the limit is shown to no one.
                if let Err(error) = self.note(event) {
                    return self.fail(error);
                }
                if let Some(filter) = self.filter.as_mut() {
                    filter.watch_event(event);
                }
            }
            Poll::Ready(Some(Err(error))) => {
                self.inner = None;
                self.end(Some(error));
            }
            Poll::Ready(None) => {
                self.inner = None;
                self.end(None);
            }
        }
        poll
    }

    fn end(&mut self, error: Option<&Error>) {
        if let Some(filter) = self.filter.take() {
            let reply = std::mem::take(&mut self.acc).finish();
            match error {
                None => filter.on_end(End::Finished(&reply)),
                Some(error) => filter.on_end(End::Failed {
                    error,
                    partial: &reply,
                }),
            }
        }
    }
}

// The filter is never pinned: it is only reached through `&mut` and moved
// out by `Option::take`, so the wrapper can be `Unpin` whatever the filter.
impl<F: Filter> Unpin for FilteredStream<F> {}

impl<F: Filter> Stream for FilteredStream<F> {
    type Item = Result<StreamEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if F::PASSES_THROUGH {
            return this.poll_watch(cx);
        }
        loop {
            if let Some(event) = this.out.pop() {
                return this.deliver(event);
            }
            if let Some(error) = this.pending_error.take() {
                this.end(Some(&error));
                return Poll::Ready(Some(Err(error)));
            }
            let Some(filter) = this.filter.as_mut() else {
                return Poll::Ready(None);
            };
            let Some(inner) = this.inner.as_mut() else {
                this.end(None);
                return Poll::Ready(None);
            };
            match Pin::new(inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(event))) => {
                    if let Err(error) = filter.on_event(event, &mut this.out) {
                        this.inner = None;
                        this.pending_error = Some(error);
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    this.inner = None;
                    this.pending_error = Some(error);
                }
                Poll::Ready(None) => {
                    this.inner = None;
                    if let Err(error) = filter.on_stream_end(&mut this.out) {
                        this.pending_error = Some(error);
                    }
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            Some(inner) if F::PASSES_THROUGH => inner.size_hint(),
            _ => (self.out.len(), None),
        }
    }
}

impl<F: Filter> Drop for FilteredStream<F> {
    fn drop(&mut self) {
        if self.filter.is_none() {
            return;
        }
        if self.finished && self.pending_error.is_none() {
            // The caller had the whole reply; only trailing events were left.
            self.end(None);
        } else if let Some(filter) = self.filter.take() {
            let partial = std::mem::take(&mut self.acc).finish();
            filter.on_cancel(Some(&partial));
        }
    }
}

impl<F: Filter> fmt::Debug for FilteredStream<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FilteredStream")
            .field("events", &self.acc.event_count())
            .field("queued", &self.out.len())
            .field("ended", &self.is_ended())
            .finish_non_exhaustive()
    }
}
