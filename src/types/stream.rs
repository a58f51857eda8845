//! Streamed replies: events, the stream type and the accumulator.

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use serde::{Deserialize, Serialize};

use super::message::{ContentPart, Reasoning, ToolCall};
use super::response::{ChatResponse, FinishReason};
use super::usage::Usage;
use crate::error::Result;

/// One event of a streamed reply, the same whichever vendor speaks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StreamEvent {
    /// The reply began.
    Start {
        /// The vendor's id for the reply.
        id: String,
        /// The model that answers.
        model: String,
    },
    /// More text.
    TextDelta {
        /// The new text.
        text: String,
    },
    /// More reasoning.
    ReasoningDelta {
        /// The new reasoning text (may be empty when only a signature arrives).
        text: String,
        /// The reasoning's signature, sent once, usually at the end of the block.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
        /// Opaque redacted reasoning, sent whole.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        redacted: Option<String>,
    },
    /// A fragment of a tool call. Fragments with the same `index` belong to
    /// one call; the first usually carries the id and name, later ones more
    /// argument text.
    ToolCallDelta {
        /// Which call, counting from 0 in the order calls began.
        index: usize,
        /// The call's id, when this fragment carries it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The tool's name, when this fragment carries it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// More argument JSON text (possibly empty).
        #[serde(default)]
        arguments: String,
    },
    /// Usage so far. Usage events are cumulative, for every vendor: each
    /// carries the totals up to that point (a vendor's decoder fills the
    /// figures a partial report leaves out from earlier ones), and the last
    /// one is the truth, even where a figure went down (a corrected count).
    Usage(Usage),
    /// Generation stopped.
    Finish {
        /// Why.
        reason: FinishReason,
    },
}

impl StreamEvent {
    /// Whether this event carries content (text, reasoning or a tool call).
    ///
    /// A router may fail over until the first content event has been passed on.
    pub fn is_content(&self) -> bool {
        matches!(
            self,
            StreamEvent::TextDelta { .. }
                | StreamEvent::ReasoningDelta { .. }
                | StreamEvent::ToolCallDelta { .. }
        )
    }

    /// A text delta.
    pub fn text(text: impl Into<String>) -> Self {
        StreamEvent::TextDelta { text: text.into() }
    }
}

/// A streamed reply: a `Send` stream of [`StreamEvent`]s that ends after the
/// vendor's terminal event, or with an error.
///
/// A stream that stops early yields [`Error::StreamTruncated`](crate::Error::StreamTruncated)
/// as its last item, never a silent end. Dropping the stream closes the
/// upstream request.
pub struct ChatStream {
    inner: Pin<Box<dyn Stream<Item = Result<StreamEvent>> + Send + 'static>>,
    upstream_request_id: Option<Arc<str>>,
}

impl ChatStream {
    /// Wraps any stream of events.
    pub fn new<S>(stream: S) -> Self
    where
        S: Stream<Item = Result<StreamEvent>> + Send + 'static,
    {
        Self {
            inner: Box::pin(stream),
            upstream_request_id: None,
        }
    }

    /// The vendor's id for the HTTP request that opened this stream (from
    /// `x-request-id` or `request-id`), as the provider set it; not the
    /// reply's own id. A layer that wraps the stream in a new one carries it
    /// over with [`with_upstream_request_id`](Self::with_upstream_request_id).
    pub fn upstream_request_id(&self) -> Option<&str> {
        self.upstream_request_id.as_deref()
    }

    /// Wraps this stream in an adapter (a layer's filter, a timer), keeping
    /// what the stream carries besides its events (the
    /// [upstream request id](Self::upstream_request_id)).
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use tower_ai::types::{ChatResponse, ChatStream};
    ///
    /// let stream = ChatStream::from_response(&ChatResponse::text_reply("r", "m", "hi"))
    ///     .with_upstream_request_id(Some("req_123"));
    /// let wrapped = stream.map_stream(|inner| inner.inspect(|event| println!("{event:?}")));
    /// assert_eq!(wrapped.upstream_request_id(), Some("req_123"));
    /// ```
    pub fn map_stream<S>(mut self, wrap: impl FnOnce(ChatStream) -> S) -> ChatStream
    where
        S: Stream<Item = Result<StreamEvent>> + Send + 'static,
    {
        let id = self.upstream_request_id.take();
        let mut stream = ChatStream::new(wrap(self));
        stream.upstream_request_id = id;
        stream
    }

    /// Sets the [upstream request id](Self::upstream_request_id).
    #[must_use]
    pub fn with_upstream_request_id(mut self, id: Option<impl Into<Arc<str>>>) -> Self {
        self.upstream_request_id = id.map(Into::into);
        self
    }

    /// A stream that yields these items, then ends.
    pub fn from_events<I>(events: I) -> Self
    where
        I: IntoIterator<Item = Result<StreamEvent>>,
        I::IntoIter: Send + 'static,
    {
        Self::new(futures_util::stream::iter(events))
    }

    /// Replays a complete reply as a stream (see [`ChatResponse::to_events`]).
    pub fn from_response(response: &ChatResponse) -> Self {
        Self::from_events(response.to_events().into_iter().map(Ok))
    }

    /// Reads the whole stream and folds it into a complete reply, holding
    /// at most 32 MiB of content (the default limit on a complete reply's
    /// body; see [`collect_response_within`](Self::collect_response_within)).
    ///
    /// Fails with the first error the stream yields, or with
    /// [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge) past the limit.
    pub async fn collect_response(self) -> Result<ChatResponse> {
        self.collect_response_within(crate::provider::DEFAULT_MAX_RESPONSE_BYTES)
            .await
    }

    /// As [`collect_response`](Self::collect_response), holding at most
    /// `limit` bytes of content (text, reasoning, tool-call arguments).
    pub async fn collect_response_within(mut self, limit: usize) -> Result<ChatResponse> {
        use futures_util::StreamExt;
        let mut acc = StreamAccumulator::with_limit(limit);
        while let Some(event) = self.next().await {
            acc.try_push(&event?)?;
        }
        let mut response = acc.finish();
        response.upstream_request_id = self.upstream_request_id.as_deref().map(str::to_owned);
        Ok(response)
    }
}

impl Stream for ChatStream {
    type Item = Result<StreamEvent>;

    #[inline]
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatStream")
            .field("upstream_request_id", &self.upstream_request_id)
            .finish_non_exhaustive()
    }
}

/// Folds stream events into a [`ChatResponse`].
///
/// Text and reasoning deltas are appended to the current part of their kind;
/// tool-call fragments are merged by index, in the order the calls began. A
/// call's id and name are set by the first fragment that carries them (a
/// server that repeats them in every fragment changes nothing); a fragment
/// whose id differs from its index's call begins a new call, so nothing is
/// dropped. Two calls with the same id in one reply are kept as they came:
/// telling them apart is the caller's business. Usage events are cumulative:
/// the last one is kept.
///
/// ```
/// use tower_ai::types::{StreamAccumulator, StreamEvent};
///
/// let mut acc = StreamAccumulator::new();
/// acc.push(&StreamEvent::ToolCallDelta { index: 0, id: Some("call_1".into()), name: Some("f".into()), arguments: "{\"a\"".into() });
/// acc.push(&StreamEvent::ToolCallDelta { index: 0, id: None, name: None, arguments: ":1}".into() });
/// let reply = acc.finish();
/// assert_eq!(reply.tool_calls().next().unwrap().arguments, "{\"a\":1}");
/// ```
#[derive(Debug, Default, Clone)]
pub struct StreamAccumulator {
    id: String,
    model: String,
    parts: Vec<ContentPart>,
    /// (stream index, position in `parts`) of each tool call begun so far, in
    /// the order they began.
    tool_slots: Vec<(usize, usize)>,
    /// Stream index → place in `tool_slots`, so that folding many calls stays linear.
    tool_index: HashMap<usize, usize>,
    finish_reason: Option<FinishReason>,
    usage: Option<Usage>,
    events: usize,
    /// Content bytes folded in so far, and the most [`try_push`](Self::try_push) takes.
    bytes: usize,
    limit: Option<usize>,
}

impl StreamAccumulator {
    /// An empty accumulator, without a limit (see [`with_limit`](Self::with_limit)).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty accumulator whose [`try_push`](Self::try_push) refuses to
    /// hold more than `limit` bytes of content.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            limit: Some(limit),
            ..Self::default()
        }
    }

    /// Folds one event in, unless it would take the content past the limit.
    ///
    /// # Errors
    ///
    /// [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge) past the
    /// limit; the event is not folded in.
    pub fn try_push(&mut self, event: &StreamEvent) -> Result<()> {
        let size = content_len(event);
        if let Some(limit) = self.limit {
            if self.bytes.saturating_add(size) > limit {
                return Err(crate::Error::ResponseTooLarge { limit });
            }
        }
        self.push(event);
        Ok(())
    }

    /// Folds one event in, whatever the limit.
    pub fn push(&mut self, event: &StreamEvent) {
        self.events += 1;
        self.bytes = self.bytes.saturating_add(content_len(event));
        match event {
            StreamEvent::Start { id, model } => {
                if self.id.is_empty() {
                    self.id.clone_from(id);
                }
                if self.model.is_empty() {
                    self.model.clone_from(model);
                }
            }
            StreamEvent::TextDelta { text } => match self.parts.last_mut() {
                Some(ContentPart::Text { text: current }) => current.push_str(text),
                // An empty delta is no content: it does not begin a text part.
                _ if text.is_empty() => {}
                _ => self.parts.push(ContentPart::text(text.clone())),
            },
            StreamEvent::ReasoningDelta {
                text,
                signature,
                redacted,
            } => {
                let continues = matches!(
                    self.parts.last(),
                    Some(ContentPart::Reasoning(r)) if r.redacted.is_none() && r.signature.is_none() && redacted.is_none()
                );
                if !continues {
                    self.parts.push(ContentPart::Reasoning(Reasoning::default()));
                }
                if let Some(ContentPart::Reasoning(r)) = self.parts.last_mut() {
                    r.text.push_str(text);
                    if signature.is_some() {
                        r.signature.clone_from(signature);
                    }
                    if redacted.is_some() {
                        r.redacted.clone_from(redacted);
                    }
                }
            }
            StreamEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => {
                // A fragment that names another id than its index's call
                // begins a new call (servers that reuse an index for calls
                // in sequence); its data is never dropped.
                let known = self.tool_index.get(index).map(|&slot| self.tool_slots[slot].1);
                let another_call = match (known, id) {
                    (Some(pos), Some(id)) => matches!(
                        &self.parts[pos],
                        ContentPart::ToolCall(call) if !call.id.is_empty() && call.id != *id
                    ),
                    _ => false,
                };
                let pos = match known.filter(|_| !another_call) {
                    Some(pos) => pos,
                    None => {
                        self.parts.push(ContentPart::ToolCall(ToolCall::new(
                            String::new(),
                            String::new(),
                            String::new(),
                        )));
                        let pos = self.parts.len() - 1;
                        self.tool_index.insert(*index, self.tool_slots.len());
                        self.tool_slots.push((*index, pos));
                        pos
                    }
                };
                if let ContentPart::ToolCall(call) = &mut self.parts[pos] {
                    if let Some(id) = id {
                        if call.id.is_empty() {
                            call.id.clone_from(id);
                        }
                    }
                    // A name is set once per call: servers that repeat it in
                    // every fragment must not give `get_weatherget_weather`.
                    if let Some(name) = name {
                        if call.name.is_empty() {
                            call.name.clone_from(name);
                        }
                    }
                    call.arguments.push_str(arguments);
                }
            }
            // Cumulative: the last report is the truth.
            StreamEvent::Usage(usage) => self.usage = Some(*usage),
            StreamEvent::Finish { reason } => self.finish_reason = Some(reason.clone()),
        }
    }

    /// How many events were folded in.
    pub fn event_count(&self) -> usize {
        self.events
    }

    /// The usage reported so far.
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    /// The finish reason, once the stream sent it.
    pub fn finish_reason(&self) -> Option<&FinishReason> {
        self.finish_reason.as_ref()
    }

    /// The text received so far.
    pub fn text(&self) -> String {
        super::message::concat_text(&self.parts)
    }

    /// A snapshot of the reply so far, without consuming the accumulator.
    pub fn snapshot(&self) -> ChatResponse {
        self.clone().finish()
    }

    /// The complete reply. Tool calls that never received an id get
    /// `call_<index>`.
    pub fn finish(self) -> ChatResponse {
        let mut parts = self.parts;
        for (index, pos) in self.tool_slots {
            if let ContentPart::ToolCall(call) = &mut parts[pos] {
                if call.id.is_empty() {
                    call.id = format!("call_{index}");
                }
            }
        }
        let mut message = ChatResponse::empty_assistant();
        message.content = parts;
        ChatResponse {
            id: self.id,
            model: self.model,
            message,
            finish_reason: self.finish_reason,
            usage: self.usage,
            upstream_request_id: None,
        }
    }
}

impl ChatResponse {
    /// The reply as the events of a stream that would accumulate back into it:
    /// start, one delta per part, usage, finish.
    pub fn to_events(&self) -> Vec<StreamEvent> {
        let mut events = Vec::with_capacity(self.message.content.len() + 3);
        events.push(StreamEvent::Start {
            id: self.id.clone(),
            model: self.model.clone(),
        });
        let mut tool_index = 0;
        for part in &self.message.content {
            match part {
                ContentPart::Text { text } => events.push(StreamEvent::text(text.clone())),
                ContentPart::Reasoning(r) => events.push(StreamEvent::ReasoningDelta {
                    text: r.text.clone(),
                    signature: r.signature.clone(),
                    redacted: r.redacted.clone(),
                }),
                ContentPart::ToolCall(call) => {
                    events.push(StreamEvent::ToolCallDelta {
                        index: tool_index,
                        id: Some(call.id.clone()),
                        name: Some(call.name.clone()),
                        arguments: call.arguments.clone(),
                    });
                    tool_index += 1;
                }
                ContentPart::Image(_) | ContentPart::ToolResult(_) => {}
            }
        }
        if let Some(usage) = self.usage {
            events.push(StreamEvent::Usage(usage));
        }
        if let Some(reason) = &self.finish_reason {
            events.push(StreamEvent::Finish {
                reason: reason.clone(),
            });
        }
        events
    }
}

/// The bytes of content an event adds to a reply.
pub(crate) fn content_len(event: &StreamEvent) -> usize {
    match event {
        StreamEvent::TextDelta { text } => text.len(),
        StreamEvent::ReasoningDelta {
            text,
            signature,
            redacted,
        } => {
            text.len() + signature.as_ref().map_or(0, String::len) + redacted.as_ref().map_or(0, String::len)
        }
        StreamEvent::ToolCallDelta {
            id, name, arguments, ..
        } => arguments.len() + id.as_ref().map_or(0, String::len) + name.as_ref().map_or(0, String::len),
        _ => 0,
    }
}
