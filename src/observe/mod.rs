//! The call lifecycle: one mechanism to watch a whole call, and to change its reply.
//!
//! A [`Filter`] owns one call from `call()` on. It sees the reply head
//! ([`on_response`](Filter::on_response)), every event of the reply
//! ([`on_event`](Filter::on_event), with the right to pass it, rewrite it,
//! hold it back and release it later, add events, or end the stream with a
//! typed error), the end of the upstream stream
//! ([`on_stream_end`](Filter::on_stream_end), to flush what it held), and then
//! **exactly one** of four endings, once:
//!
//! | the call... | hook |
//! |---|---|
//! | ended: the reply was read to its end, or failed part-way | [`on_end`](Filter::on_end) with [`End::Finished`], [`End::Failed`] or [`End::Embedded`] |
//! | failed before the reply head (connection refused, a 429, a layer refusing) | [`on_error`](Filter::on_error) |
//! | was dropped before the head | [`on_cancel`](Filter::on_cancel) with `None` |
//! | had its stream dropped before the end | [`on_cancel`](Filter::on_cancel) with what arrived so far |
//!
//! An [`Observer`] is a filter that passes everything through: it only
//! watches, with simpler hooks and no cost for the rewriting machinery.
//! [`Lifecycle`] (the future a layer returns from `call`) and
//! [`FilterLayer`] (a layer that makes one filter per call) run either.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_ai::observe::{End, FilterLayer, Observer};
//! use tower_ai::provider::{mock::MockProvider, ProviderService};
//! use tower_ai::types::{ChatRequest, StreamEvent};
//! use tower_ai::{Error, LlmRequest};
//!
//! /// Counts streamed characters, and how the call ended.
//! #[derive(Clone, Default)]
//! struct Chars(Arc<Mutex<(usize, &'static str)>>);
//!
//! impl Observer for Chars {
//!     fn on_event(&mut self, event: &StreamEvent) {
//!         if let StreamEvent::TextDelta { text } = event {
//!             self.0.lock().unwrap().0 += text.chars().count();
//!         }
//!     }
//!     fn on_end(self, end: End<'_>) {
//!         self.0.lock().unwrap().1 = if end.error().is_none() { "finished" } else { "failed" };
//!     }
//!     fn on_error(self, _: &Error) {
//!         self.0.lock().unwrap().1 = "failed before the head";
//!     }
//!     fn on_cancel(self, _: Option<&tower_ai::types::ChatResponse>) {
//!         self.0.lock().unwrap().1 = "cancelled";
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_ai::Error> {
//! let seen = Chars::default();
//! let observer = seen.clone();
//! let service = ServiceBuilder::new()
//!     .layer(FilterLayer::new(move |_: &LlmRequest| observer.clone()))
//!     .service(ProviderService::new(MockProvider::new().with_text_reply("héllo")));
//!
//! let request = LlmRequest::stream(ChatRequest::new("m").user("hi"));
//! let reply = service.oneshot(request).await?.into_complete().await?;
//! assert_eq!(reply.text(), "héllo");
//! assert_eq!(*seen.0.lock().unwrap(), (5, "finished"));
//! # Ok(())
//! # }
//! ```
//!
//! # Rules for hook code
//!
//! Hooks are synchronous and run on the caller's task: in the call's future,
//! in the stream's `poll_next`, and — for [`on_cancel`](Filter::on_cancel) —
//! inside `Drop`. A hook therefore never blocks and never awaits. Work that
//! needs I/O (writing an audit record, settling a budget in Redis) is handed
//! to a bounded queue with a non-blocking send, or to a spawned task; a full
//! queue is the layer's decision (count and drop, or fail the next call),
//! never a wait inside a hook:
//!
//! ```
//! use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
//! use tower_ai::observe::{End, Observer};
//! use tower_ai::types::ChatResponse;
//! use tower_ai::Error;
//!
//! /// Sends one line per call to a writer task through a bounded queue.
//! struct Record {
//!     id: String,
//!     queue: SyncSender<String>,
//! }
//!
//! impl Record {
//!     fn send(self, line: String) {
//!         match self.queue.try_send(line) {
//!             Ok(()) => {}
//!             // Full: the writer is behind. Count it; never wait here.
//!             Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
//!         }
//!     }
//! }
//!
//! impl Observer for Record {
//!     const NEEDS_CONTENT: bool = false;
//!     fn on_end(self, end: End<'_>) {
//!         let line = format!("{} ended, error: {:?}", self.id, end.error().map(Error::kind));
//!         self.send(line);
//!     }
//!     fn on_error(self, error: &Error) {
//!         let line = format!("{} failed: {}", self.id, error.kind());
//!         self.send(line);
//!     }
//!     fn on_cancel(self, _: Option<&ChatResponse>) {
//!         let line = format!("{} cancelled", self.id);
//!         self.send(line);
//!     }
//! }
//!
//! let (queue, writer) = sync_channel(1024);
//! let record = Record { id: "r-1".into(), queue };
//! tower_ai::observe::Observer::on_cancel(record, None);
//! assert_eq!(writer.recv().unwrap(), "r-1 cancelled");
//! ```
//!
//! (In an async application the queue is a `tokio::sync::mpsc::channel` and
//! `try_send`; a spawned task would be `tokio::spawn`, which needs a runtime
//! on the dropping thread.)
//!
//! What must live as long as the reply (a budget reservation, a concurrency
//! permit, a start instant) belongs in the filter: it is dropped with the
//! stream, right after its end hook ran. No channel and no copy of the
//! stream is involved.
//!
//! # A stream the caller stops reading
//!
//! A caller that drops the stream after the [`Finish`](crate::types::StreamEvent::Finish)
//! event but before the stream's own end (OpenAI, for one, sends usage in a
//! chunk after the finish reason) has received the whole reply: the model
//! finished, and the vendor bills it. This counts as **finished**:
//! [`on_end`](Filter::on_end) runs with [`End::Finished`], with the usage
//! received so far (possibly none: a layer that charges for the call
//! estimates it then, as it does for any reply without usage). A stream
//! dropped before `Finish` is cancelled.
//!
//! # Peeking
//!
//! [`peek_content`] reads a stream up to its first content event, so that a
//! router can still fail over when the stream fails before any content
//! reached the caller, and re-emit the held head afterwards.

mod filter;
mod future;
mod hold;
mod layer;
mod peek;
mod stream;

pub use self::filter::{Emit, End, Filter, Observer};
pub use self::future::{attach, observe, Lifecycle};
pub use self::hold::Holdback;
pub use self::layer::{FilterLayer, Filtered};
pub use self::peek::{peek_content, PeekStop, Peeked};
pub use self::stream::FilteredStream;

#[cfg(test)]
mod tests;
