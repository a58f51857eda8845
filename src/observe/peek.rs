//! [`peek_content`]: read a stream up to its first content event.

use futures_util::StreamExt;

use crate::error::Result;
use crate::types::{ChatStream, StreamEvent};

/// The most events read before the first content event; past it, peeking
/// stops with [`PeekStop::HeadLimit`].
const MAX_HEAD_EVENTS: usize = 1024;

/// Why [`peek_content`] stopped reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeekStop {
    /// The first content event arrived: it is [`Peeked::first`].
    Content,
    /// The stream ended cleanly without any content.
    Ended,
    /// More than 1024 events came without content; the rest is unread.
    HeadLimit,
}

/// A stream read up to its first content event.
#[derive(Debug)]
#[non_exhaustive]
pub struct Peeked {
    /// The events before the first content event (start, usage, ...).
    pub head: Vec<StreamEvent>,
    /// The first content event, if one came.
    pub first: Option<StreamEvent>,
    /// The rest of the stream, unread.
    pub rest: ChatStream,
    /// Why peeking stopped.
    pub stop: PeekStop,
}

impl Peeked {
    /// The whole stream again: the head, the first content event, then the rest.
    pub fn into_stream(self) -> ChatStream {
        let held = self.head.into_iter().chain(self.first).map(Ok);
        self.rest
            .map_stream(|rest| futures_util::stream::iter(held).chain(rest))
    }
}

/// Reads `stream` up to its first content event
/// ([`StreamEvent::is_content`]), so that a router can fail over while no
/// content has reached the caller, and re-emit the held head afterwards
/// with [`Peeked::into_stream`].
///
/// ```
/// use tower_ai::observe::{peek_content, PeekStop};
/// use tower_ai::types::{ChatStream, StreamEvent, Usage};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_ai::Error> {
/// let stream = ChatStream::from_events([
///     Ok(StreamEvent::Start { id: "r".into(), model: "m".into() }),
///     Ok(StreamEvent::Usage(Usage::new(10, 0))),
///     Ok(StreamEvent::text("Hello")),
/// ]);
/// let peeked = peek_content(stream).await?;
/// assert_eq!(peeked.stop, PeekStop::Content);
/// assert_eq!(peeked.head.len(), 2);
/// let reply = peeked.into_stream().collect_response().await?;
/// assert_eq!(reply.text(), "Hello");
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// The stream's error, when it fails before any content: the held head is
/// dropped with it, and a router may try elsewhere.
pub async fn peek_content(mut stream: ChatStream) -> Result<Peeked> {
    let mut head = Vec::new();
    let (first, stop) = loop {
        if head.len() >= MAX_HEAD_EVENTS {
            break (None, PeekStop::HeadLimit);
        }
        match stream.next().await {
            Some(Ok(event)) if event.is_content() => break (Some(event), PeekStop::Content),
            Some(Ok(event)) => head.push(event),
            Some(Err(error)) => return Err(error),
            None => break (None, PeekStop::Ended),
        }
    };
    Ok(Peeked {
        head,
        first,
        rest: stream,
        stop,
    })
}
