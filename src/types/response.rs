//! The provider-neutral chat response.

use serde::{Deserialize, Serialize};

use super::message::{Message, Reasoning, Role, ToolCall};
use super::usage::Usage;

/// A complete chat reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatResponse {
    /// The vendor's id for the reply.
    pub id: String,
    /// The model that answered, as the vendor named it.
    pub model: String,
    /// The assistant's message: reasoning, text and tool calls.
    pub message: Message,
    /// Why generation stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// Token usage, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The vendor's id for the HTTP request that produced this reply (from
    /// `x-request-id` or `request-id`), for a support ticket: not the reply's
    /// own id. `None` when the vendor sent none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_request_id: Option<String>,
}

impl ChatResponse {
    /// A reply with an assistant message and nothing else.
    pub fn new(id: impl Into<String>, model: impl Into<String>, message: Message) -> Self {
        Self {
            id: id.into(),
            model: model.into(),
            message,
            finish_reason: None,
            usage: None,
            upstream_request_id: None,
        }
    }

    /// A reply of one assistant text, finished with [`FinishReason::Stop`].
    pub fn text_reply(id: impl Into<String>, model: impl Into<String>, text: impl Into<String>) -> Self {
        let mut reply = Self::new(id, model, Message::assistant(text));
        reply.finish_reason = Some(FinishReason::Stop);
        reply
    }

    /// Sets the finish reason.
    #[must_use]
    pub fn with_finish_reason(mut self, reason: FinishReason) -> Self {
        self.finish_reason = Some(reason);
        self
    }

    /// Sets the usage.
    #[must_use]
    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = Some(usage);
        self
    }

    /// The reply's text.
    pub fn text(&self) -> String {
        self.message.text()
    }

    /// The reply's tool calls, in order (as [`Message::tool_calls`]).
    pub fn tool_calls(&self) -> impl Iterator<Item = &ToolCall> {
        self.message.tool_calls()
    }

    /// The reply's reasoning parts, in order (as [`Message::reasoning`]).
    pub fn reasoning(&self) -> impl Iterator<Item = &Reasoning> {
        self.message.reasoning()
    }

    pub(crate) fn empty_assistant() -> Message {
        Message::new(Role::Assistant, Vec::new())
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FinishReason {
    /// A natural end or a stop sequence.
    Stop,
    /// The token limit was reached.
    Length,
    /// The model called tools and waits for their results.
    ToolCalls,
    /// A content filter stopped the reply.
    ContentFilter,
    /// The model refused.
    Refusal,
    /// A vendor reason with no neutral equivalent.
    Other(String),
}

impl FinishReason {
    /// The reason's name, as OpenAI spells it where it has one.
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::Refusal => "refusal",
            FinishReason::Other(s) => s,
        }
    }
}
