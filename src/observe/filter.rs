//! The hooks: [`Filter`], [`Observer`], and what they are given.

use std::collections::VecDeque;

use crate::error::{Error, Result};
use crate::types::{ChatResponse, EmbeddingResponse, LlmResponse, StreamEvent, Usage};

/// Hooks that see one whole call and may change its reply.
///
/// Every method has a default: [`on_event`](Self::on_event) passes the
/// event on unchanged, the others do nothing. Exactly one of
/// [`on_end`](Self::on_end), [`on_error`](Self::on_error) and
/// [`on_cancel`](Self::on_cancel) is called, once. See the
/// [module docs](super) for when each runs and the rules for hook code.
///
/// A filter that only watches is better written as an [`Observer`]: every
/// observer is a filter that passes everything through.
///
/// ```
/// use tower_ai::observe::{attach, Emit, Filter};
/// use tower_ai::types::{ChatResponse, LlmResponse, Reply, StreamEvent};
///
/// /// Upper-cases the reply's text.
/// struct Shout;
///
/// impl Filter for Shout {
///     fn on_event(&mut self, event: StreamEvent, out: &mut Emit) -> tower_ai::Result<()> {
///         out.push(match event {
///             StreamEvent::TextDelta { text } => StreamEvent::text(text.to_uppercase()),
///             other => other,
///         });
///         Ok(())
///     }
/// }
///
/// let response = LlmResponse::new(Reply::Complete(ChatResponse::text_reply("r", "m", "hello")));
/// let response = attach(response, Shout).unwrap();
/// # let Reply::Complete(reply) = response.reply else { unreachable!() };
/// assert_eq!(reply.text(), "HELLO");
/// ```
pub trait Filter: Send + 'static {
    /// Whether the end hooks need the reply's content (text, reasoning, tool
    /// calls). When `false`, the reply they receive carries only the id,
    /// model, finish reason and usage, and no text is copied per event.
    const NEEDS_CONTENT: bool = true;

    /// Whether the filter passes every event through unchanged (it is an
    /// [`Observer`]). Such a filter is called through
    /// [`watch_event`](Self::watch_event) instead of `on_event`, and a complete
    /// reply is shown to it without being rebuilt.
    #[doc(hidden)]
    const PASSES_THROUGH: bool = false;

    /// The reply head arrived: the response, with its extensions, before any
    /// event of a stream. A filter may edit it (add an extension, for one).
    ///
    /// # Errors
    ///
    /// An error fails the call with it (the caller never sees the head);
    /// [`on_error`](Self::on_error) then runs.
    fn on_response(&mut self, response: &mut LlmResponse) -> Result<()> {
        let _ = response;
        Ok(())
    }

    /// One event of the reply. Push what the caller should see to `out`:
    /// the event itself, a rewritten one, nothing (to hold it back, see
    /// [`Holdback`](super::Holdback)), or several.
    ///
    /// # Errors
    ///
    /// An error ends the stream with it, after the events already pushed;
    /// the upstream stream is dropped.
    fn on_event(&mut self, event: StreamEvent, out: &mut Emit) -> Result<()> {
        out.push(event);
        Ok(())
    }

    /// For filters that pass everything through: look at one event.
    #[doc(hidden)]
    fn watch_event(&mut self, event: &StreamEvent) {
        let _ = event;
    }

    /// The upstream stream ended cleanly: push what is still held.
    ///
    /// # Errors
    ///
    /// An error ends the stream with it, after the events pushed.
    fn on_stream_end(&mut self, out: &mut Emit) -> Result<()> {
        let _ = out;
        Ok(())
    }

    /// The reply ended: it finished, or failed part-way. The reply given is
    /// what the caller received.
    fn on_end(self, end: End<'_>)
    where
        Self: Sized,
    {
        let _ = end;
    }

    /// The call failed before the reply head.
    fn on_error(self, error: &Error)
    where
        Self: Sized,
    {
        let _ = error;
    }

    /// The call was dropped before its end: before the head (`None`), or
    /// with its stream part-read (what the caller had received).
    fn on_cancel(self, partial: Option<&ChatResponse>)
    where
        Self: Sized,
    {
        let _ = partial;
    }
}

/// Hooks that watch one whole call without changing it.
///
/// The same lifecycle as [`Filter`], for layers that only look: telemetry,
/// audit, a budget settling usage. Every observer is a filter (a blanket
/// implementation passes each event through after showing it), so
/// [`Lifecycle`](super::Lifecycle), [`FilterLayer`](super::FilterLayer) and
/// [`attach`](super::attach) take either.
pub trait Observer: Send + 'static {
    /// As [`Filter::NEEDS_CONTENT`].
    const NEEDS_CONTENT: bool = true;

    /// The reply head arrived (as [`Filter::on_response`], read-only).
    fn on_response(&mut self, response: &LlmResponse) {
        let _ = response;
    }

    /// One event of the reply, in order (a complete reply is shown as the
    /// events of [`ChatResponse::to_events`], unless
    /// [`watches_complete_events`](Observer::watches_complete_events) says
    /// not to).
    fn on_event(&mut self, event: &StreamEvent) {
        let _ = event;
    }

    /// Whether a complete reply is shown to [`on_event`](Observer::on_event)
    /// as events. An observer whose `on_event` ignores them (it watches
    /// only streams, or only the end) returns `false`, and
    /// [`observe`](super::observe) then skips building those events; the
    /// end hook still gets the whole reply. Streamed events are shown
    /// either way.
    fn watches_complete_events(&self) -> bool {
        true
    }

    /// As [`Filter::on_end`].
    fn on_end(self, end: End<'_>)
    where
        Self: Sized,
    {
        let _ = end;
    }

    /// As [`Filter::on_error`].
    fn on_error(self, error: &Error)
    where
        Self: Sized,
    {
        let _ = error;
    }

    /// As [`Filter::on_cancel`].
    fn on_cancel(self, partial: Option<&ChatResponse>)
    where
        Self: Sized,
    {
        let _ = partial;
    }
}

/// The observer that watches nothing.
impl Observer for () {
    const NEEDS_CONTENT: bool = false;
}

impl<O: Observer> Filter for O {
    const NEEDS_CONTENT: bool = <O as Observer>::NEEDS_CONTENT;
    const PASSES_THROUGH: bool = true;

    #[inline]
    fn on_response(&mut self, response: &mut LlmResponse) -> Result<()> {
        Observer::on_response(self, response);
        Ok(())
    }

    #[inline]
    fn on_event(&mut self, event: StreamEvent, out: &mut Emit) -> Result<()> {
        Observer::on_event(self, &event);
        out.push(event);
        Ok(())
    }

    #[inline]
    fn watch_event(&mut self, event: &StreamEvent) {
        Observer::on_event(self, event);
    }

    fn on_end(self, end: End<'_>) {
        Observer::on_end(self, end);
    }

    fn on_error(self, error: &Error) {
        Observer::on_error(self, error);
    }

    fn on_cancel(self, partial: Option<&ChatResponse>) {
        Observer::on_cancel(self, partial);
    }
}

/// How a call with a reply ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum End<'a> {
    /// The chat reply is complete.
    Finished(&'a ChatResponse),
    /// The chat reply failed part-way.
    Failed {
        /// Why.
        error: &'a Error,
        /// What had arrived before the error.
        partial: &'a ChatResponse,
    },
    /// Embeddings arrived.
    Embedded(&'a EmbeddingResponse),
}

impl End<'_> {
    /// The chat reply, complete or partial; `None` for embeddings.
    pub fn reply(&self) -> Option<&ChatResponse> {
        match self {
            End::Finished(reply) => Some(reply),
            End::Failed { partial, .. } => Some(partial),
            End::Embedded(_) => None,
        }
    }

    /// The error, if the reply failed.
    pub fn error(&self) -> Option<&Error> {
        match self {
            End::Failed { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The usage reported, if any.
    pub fn usage(&self) -> Option<&Usage> {
        match self {
            End::Finished(reply) | End::Failed { partial: reply, .. } => reply.usage.as_ref(),
            End::Embedded(embeddings) => embeddings.usage.as_ref(),
        }
    }
}

/// Where a [`Filter`] puts the events the caller will see, in order.
#[derive(Debug, Default)]
pub struct Emit {
    queue: VecDeque<StreamEvent>,
}

impl Emit {
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// Sends an event on, after those pushed before it.
    #[inline]
    pub fn push(&mut self, event: StreamEvent) {
        self.queue.push_back(event);
    }

    /// How many events wait to be sent on.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no event waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    #[inline]
    pub(super) fn pop(&mut self) -> Option<StreamEvent> {
        self.queue.pop_front()
    }

    pub(super) fn clear(&mut self) {
        self.queue.clear();
    }
}
