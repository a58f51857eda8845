//! An in-process provider with scripted replies, for tests and examples.
//!
//! ```
//! use std::time::Duration;
//! use tower_ai::provider::mock::{MockProvider, MockReply};
//! use tower_ai::provider::Provider;
//! use tower_ai::types::{ChatRequest, RequestMeta, StreamEvent};
//! use tower_ai::error::{Error, TimeoutKind};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! let mock = MockProvider::new()
//!     .push_text("first")
//!     .push(MockReply::error(Error::timeout(TimeoutKind::Request, None)))
//!     .push(MockReply::stream(vec![StreamEvent::text("str"), StreamEvent::text("eamed")]).with_delay(Duration::from_millis(1)));
//!
//! let request = ChatRequest::new("m").user("hi");
//! let ctx = RequestMeta::new();
//! assert_eq!(mock.chat(&request, &ctx).await?.text(), "first");
//! assert!(matches!(mock.chat(&request, &ctx).await, Err(Error::Timeout { .. })));
//! let reply = mock.chat_stream(&request, &ctx).await?.collect_response().await?;
//! assert_eq!(reply.text(), "streamed");
//! // With the script used up, the mock echoes the last user message.
//! assert_eq!(mock.chat(&request, &ctx).await?.text(), "hi");
//! // Like a vendor provider, it refuses what no vendor accepts.
//! let empty = ChatRequest::new("m");
//! assert!(matches!(mock.chat(&empty, &ctx).await, Err(Error::Config { .. })));
//! assert_eq!(mock.requests().len(), 5);
//! # Ok(())
//! # }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;

use super::{Capabilities, Provider};
use crate::error::{Error, Result};
use crate::types::{
    ChatRequest, ChatResponse, ChatStream, ContentPart, EmbeddingRequest, EmbeddingResponse, FinishReason,
    Message, RequestMeta, Role, StreamEvent, ToolCall, Usage, UsageSource,
};

/// One scripted answer of a [`MockProvider`].
#[derive(Debug)]
#[non_exhaustive]
pub enum MockReply {
    /// A complete reply (replayed as a stream if the request streams).
    Complete(ChatResponse),
    /// A streamed reply (accumulated if the request does not stream).
    Stream {
        /// The events, in order.
        events: Vec<StreamEvent>,
        /// A pause before each event.
        delay: Duration,
        /// An error yielded after the events, instead of a clean end.
        error: Option<Error>,
    },
    /// A failure of the call itself.
    Error(Error),
}

impl MockReply {
    /// A complete text reply.
    pub fn text(text: impl Into<String>) -> Self {
        MockReply::Complete(ChatResponse::text_reply("mock-reply", "mock", text))
    }

    /// A complete reply that calls one tool.
    pub fn tool_call(name: impl Into<String>, arguments: serde_json::Value) -> Self {
        let call = ToolCall::new("call_mock_0", name, arguments.to_string());
        let message = Message::new(Role::Assistant, vec![ContentPart::ToolCall(call)]);
        MockReply::Complete(
            ChatResponse::new("mock-reply", "mock", message).with_finish_reason(FinishReason::ToolCalls),
        )
    }

    /// A streamed reply of these events, ending cleanly.
    pub fn stream(events: Vec<StreamEvent>) -> Self {
        MockReply::Stream {
            events,
            delay: Duration::ZERO,
            error: None,
        }
    }

    /// A streamed text reply: a start, one text delta per piece, and a
    /// clean finish. Cut a text into pieces to test what reads a stream
    /// across deltas (a placeholder split as `<EMA` + `IL_1>`).
    ///
    /// ```
    /// use tower_ai::provider::mock::MockReply;
    ///
    /// let reply = MockReply::text_stream(["Hello, ", "wor", "ld"]);
    /// # let _ = reply;
    /// ```
    pub fn text_stream<I, S>(pieces: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let events = std::iter::once(StreamEvent::Start {
            id: "mock-reply".into(),
            model: "mock".into(),
        })
        .chain(pieces.into_iter().map(|p| StreamEvent::text(p.as_ref())))
        .chain(std::iter::once(StreamEvent::Finish {
            reason: FinishReason::Stop,
        }))
        .collect();
        Self::stream(events)
    }

    /// A failed call.
    pub fn error(error: Error) -> Self {
        MockReply::Error(error)
    }

    /// Pauses before each stream event (streamed replies only).
    #[must_use]
    pub fn with_delay(mut self, delay: Duration) -> Self {
        if let MockReply::Stream { delay: d, .. } = &mut self {
            *d = delay;
        }
        self
    }

    /// Ends the stream with `error` after its events (streamed replies only).
    #[must_use]
    pub fn then_fail(mut self, error: Error) -> Self {
        if let MockReply::Stream { error: e, .. } = &mut self {
            *e = Some(error);
        }
        self
    }
}

/// How many calls the mock remembers; older ones are forgotten first.
const REMEMBERED_CALLS: usize = 10_000;

#[derive(Debug, Default)]
struct State {
    script: VecDeque<MockReply>,
    requests: VecDeque<ChatRequest>,
    contexts: VecDeque<RequestMeta>,
    embeddings: VecDeque<EmbeddingRequest>,
}

/// Appends to a bounded record.
fn remember<T>(log: &mut VecDeque<T>, item: T) {
    if log.len() == REMEMBERED_CALLS {
        log.pop_front();
    }
    log.push_back(item);
}

/// An in-process [`Provider`] that answers from a script.
///
/// Replies pushed with [`push`](Self::push) are used one per call, in order.
/// When none is left it answers the default reply: the text set with
/// [`with_text_reply`](Self::with_text_reply), or else an echo of the last
/// user message. Usage is estimated (about four characters a token) when a
/// reply carries none. Clones share the script and the record of requests
/// (the last 10 000 calls).
///
/// The mock is strict by default, so that a test passes only where a real
/// vendor would answer: a request with no model, no messages, `max_tokens`
/// of 0, or a tool result that answers no call before it, is refused with
/// the same [`Error::Config`] a vendor provider gives (from
/// [`ChatRequest::validate`]), before any latency and without using the
/// script; and a scripted stream that ends cleanly without a
/// [`StreamEvent::Finish`] gets one (`ToolCalls` after a tool call, `Stop`
/// otherwise), as a vendor's decoder always sends. [`strict(false)`](Self::strict)
/// answers anything and streams the script as it is.
#[derive(Clone)]
pub struct MockProvider {
    name: String,
    default_text: Option<String>,
    latency: Duration,
    capabilities: Capabilities,
    strict: bool,
    state: Arc<Mutex<State>>,
}

impl Default for MockProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MockProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockProvider")
            .field("name", &self.name)
            .field("latency", &self.latency)
            .field("strict", &self.strict)
            .field("scripted", &self.lock().script.len())
            .finish_non_exhaustive()
    }
}

impl MockProvider {
    /// A mock named `"mock"` that echoes.
    pub fn new() -> Self {
        Self {
            name: "mock".into(),
            default_text: None,
            latency: Duration::ZERO,
            capabilities: Capabilities::all(),
            strict: true,
            state: Arc::default(),
        }
    }

    /// Sets the name the mock reports.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Answers this text when the script is empty.
    #[must_use]
    pub fn with_text_reply(mut self, text: impl Into<String>) -> Self {
        self.default_text = Some(text.into());
        self
    }

    /// Waits this long before answering each call.
    #[must_use]
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Sets the capabilities the mock reports.
    #[must_use]
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Whether the mock refuses, as a vendor provider does, a request no
    /// vendor accepts (on by default): see [`ChatRequest::validate`].
    ///
    /// `strict(false)` answers any request, for a test of what a layer does
    /// with a request that a real provider would refuse.
    #[must_use]
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Whether the mock refuses what a vendor refuses; see [`strict`](Self::strict).
    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// Appends a scripted reply.
    #[must_use]
    pub fn push(self, reply: MockReply) -> Self {
        self.enqueue(reply);
        self
    }

    /// Appends a scripted text reply.
    #[must_use]
    pub fn push_text(self, text: impl Into<String>) -> Self {
        self.push(MockReply::text(text))
    }

    /// Appends a scripted reply through a shared handle.
    pub fn enqueue(&self, reply: MockReply) {
        self.lock().script.push_back(reply);
    }

    /// The chat requests received, in order (the last 10 000).
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.lock().requests.iter().cloned().collect()
    }

    /// The call contexts received with chat and embedding requests, in order
    /// (the last 10 000).
    pub fn contexts(&self) -> Vec<RequestMeta> {
        self.lock().contexts.iter().cloned().collect()
    }

    /// The embedding requests received, in order (the last 10 000).
    pub fn embedding_requests(&self) -> Vec<EmbeddingRequest> {
        self.lock().embeddings.iter().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the call, then gives the reply: the strict check's refusal,
    /// or the next scripted reply, or the default one.
    async fn next_reply(&self, request: &ChatRequest, ctx: &RequestMeta) -> MockReply {
        let scripted = {
            let mut state = self.lock();
            remember(&mut state.requests, request.clone());
            remember(&mut state.contexts, ctx.clone());
            if self.strict {
                if let Err(refusal) = request.validate() {
                    // Refused before any call, as a vendor provider does:
                    // no latency, and the script keeps its reply.
                    return MockReply::Error(refusal);
                }
            }
            state.script.pop_front()
        };
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let mut reply = scripted.unwrap_or_else(|| {
            let text = match &self.default_text {
                Some(text) => text.clone(),
                None => request.last_user_text().unwrap_or_default(),
            };
            MockReply::text(text)
        });
        if let MockReply::Complete(response) = &mut reply {
            if response.model == "mock" {
                response.model.clone_from(&request.model);
            }
            if response.usage.is_none() {
                response.usage = Some(estimate_usage(request, response));
            }
        }
        reply
    }
}

fn estimate_usage(request: &ChatRequest, response: &ChatResponse) -> Usage {
    let chars = |m: &Message| -> usize {
        m.content
            .iter()
            .map(|p| match p {
                ContentPart::Text { text } => text.len(),
                ContentPart::ToolCall(c) => c.name.len() + c.arguments.len(),
                ContentPart::ToolResult(r) => r.text().len(),
                ContentPart::Reasoning(r) => r.text.len(),
                _ => 0,
            })
            .sum()
    };
    let input: usize = request.messages.iter().map(chars).sum();
    let output = chars(&response.message);
    Usage::new(input.div_ceil(4) as u64, output.div_ceil(4) as u64).with_source(UsageSource::Estimated)
}

#[async_trait]
impl Provider for MockProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    async fn chat(&self, request: &ChatRequest, ctx: &RequestMeta) -> Result<ChatResponse> {
        match self.next_reply(request, ctx).await {
            MockReply::Complete(response) => Ok(response),
            MockReply::Error(error) => Err(error),
            stream @ MockReply::Stream { .. } => into_stream(stream, self.strict).collect_response().await,
        }
    }

    async fn chat_stream(&self, request: &ChatRequest, ctx: &RequestMeta) -> Result<ChatStream> {
        match self.next_reply(request, ctx).await {
            MockReply::Error(error) => Err(error),
            reply => Ok(into_stream(reply, self.strict)),
        }
    }

    async fn embed(&self, request: &EmbeddingRequest, ctx: &RequestMeta) -> Result<EmbeddingResponse> {
        {
            let mut state = self.lock();
            remember(&mut state.embeddings, request.clone());
            remember(&mut state.contexts, ctx.clone());
        }
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let dims = request.dimensions.unwrap_or(8).max(1) as usize;
        let embeddings = request
            .input
            .iter()
            .map(|text| pseudo_embedding(text, dims))
            .collect();
        let tokens: usize = request.input.iter().map(|t| t.len().div_ceil(4)).sum();
        let mut response = EmbeddingResponse::new(request.model.clone(), embeddings);
        response.usage = Some(Usage::new(tokens as u64, 0).with_source(UsageSource::Estimated));
        Ok(response)
    }
}

/// A deterministic unit vector derived from the text (FNV-1a seeded per dimension).
fn pseudo_embedding(text: &str, dims: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dims)
        .map(|d| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ d as u64;
            for b in text.bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            (h % 2001) as f32 / 1000.0 - 1.0
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

fn into_stream(reply: MockReply, strict: bool) -> ChatStream {
    match reply {
        MockReply::Complete(response) => ChatStream::from_response(&response),
        MockReply::Error(error) => ChatStream::from_events([Err(error)]),
        MockReply::Stream {
            mut events,
            delay,
            error,
        } => {
            if strict && error.is_none() {
                close_with_finish(&mut events);
            }
            let items = events.into_iter().map(Ok).chain(error.map(Err));
            let stream = futures_util::stream::iter(items).then(move |item| async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                item
            });
            ChatStream::new(stream)
        }
    }
}

/// Appends a `Finish` to a stream that ends cleanly without one, as every
/// vendor's decoder does: `ToolCalls` after a tool call, `Stop` otherwise.
fn close_with_finish(events: &mut Vec<StreamEvent>) {
    if events.iter().any(|e| matches!(e, StreamEvent::Finish { .. })) {
        return;
    }
    let tool_call = events
        .iter()
        .any(|e| matches!(e, StreamEvent::ToolCallDelta { .. }));
    let reason = if tool_call {
        FinishReason::ToolCalls
    } else {
        FinishReason::Stop
    };
    events.push(StreamEvent::Finish { reason });
}
