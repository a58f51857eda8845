//! [`OpenAiCodec`]: the chat-completions wire format, without I/O.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri};

use super::error;
use super::stream::OpenAiStreamDecoder;
use super::wire::{self, ChatBody, CompletionIn, EmbeddingBody, EmbeddingsIn};
use crate::error::{Error, Result};
use crate::provider::lenient::from_name;
use crate::provider::{Capabilities, Codec};
use crate::types::{
    ChatRequest, ChatResponse, ContentPart, EmbeddingRequest, EmbeddingResponse, FinishReason, Message,
    Reasoning, ReplyMode, RequestMeta, Role, ToolCall,
};

/// Which request field carries [`ChatRequest::max_tokens`].
///
/// OpenAI deprecated `max_tokens` in favour of `max_completion_tokens` (its
/// reasoning models refuse the old name); most compatible servers only know
/// `max_tokens` (Mistral refuses the new one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MaxTokensField {
    /// `max_completion_tokens`: OpenAI and Azure OpenAI.
    MaxCompletionTokens,
    /// `max_tokens`: the OpenAI-compatible servers.
    MaxTokens,
}

impl MaxTokensField {
    /// The field's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
            MaxTokensField::MaxTokens => "max_tokens",
        }
    }
}

/// The role system messages are sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SystemRole {
    /// `"system"`, understood everywhere (the default).
    #[default]
    System,
    /// `"developer"`, which OpenAI's reasoning models prefer.
    Developer,
}

impl SystemRole {
    /// The role's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            SystemRole::System => "system",
            SystemRole::Developer => "developer",
        }
    }
}

/// The OpenAI chat-completions codec, for OpenAI, Azure OpenAI and the
/// OpenAI-compatible servers.
///
/// Built by [`OpenAiBuilder`](super::OpenAiBuilder) or
/// [`AzureBuilder`](super::AzureBuilder) (their `build_codec` gives the codec
/// alone); reached from a provider with [`HttpProvider::codec`](crate::provider::HttpProvider::codec).
/// It holds no credentials (the provider's [`Signer`](crate::provider::Signer)
/// adds them); `Debug` shows the endpoint and the names of the headers sent.
///
/// What it decides (see the [module docs](super) for the whole mapping):
///
/// - a `message.refusal` becomes the reply's text, with [`FinishReason::Refusal`];
/// - a reply with tool calls finishes with [`FinishReason::ToolCalls`] even when
///   the server said `"stop"` (OpenAI does so when `tool_choice` names a tool);
/// - reasoning text that compatible servers return (`reasoning_content`,
///   `reasoning`) becomes [`Reasoning`] parts; reasoning parts are never sent back.
#[derive(Clone)]
pub struct OpenAiCodec {
    pub(super) name: Arc<str>,
    pub(super) chat_uri: Uri,
    pub(super) embeddings_uri: Uri,
    /// Sent with every request: content type and the headers configured.
    pub(super) headers: HeaderMap,
    pub(super) max_tokens_field: MaxTokensField,
    pub(super) system_role: SystemRole,
    pub(super) include_usage: bool,
    pub(super) capabilities: Capabilities,
}

impl OpenAiCodec {
    /// The URL chat requests are sent to.
    pub fn chat_url(&self) -> &Uri {
        &self.chat_uri
    }

    /// The URL embedding requests are sent to.
    pub fn embeddings_url(&self) -> &Uri {
        &self.embeddings_uri
    }

    /// The field the token limit is sent in.
    pub fn max_tokens_field(&self) -> MaxTokensField {
        self.max_tokens_field
    }

    /// The role system messages are sent with.
    pub fn system_role(&self) -> SystemRole {
        self.system_role
    }

    /// Whether streamed requests ask for usage with `stream_options`.
    pub fn include_usage(&self) -> bool {
        self.include_usage
    }

    fn post(&self, uri: &Uri, body: Vec<u8>) -> http::Request<Bytes> {
        let mut request = http::Request::new(Bytes::from(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }

    fn decode_error_in_body(&self, body: &[u8]) -> Error {
        error::from_payload(&self.name, body)
    }
}

impl fmt::Debug for OpenAiCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.keys().map(http::HeaderName::as_str).collect();
        f.debug_struct("OpenAiCodec")
            .field("name", &&*self.name)
            .field("chat_url", &self.chat_uri)
            .field("embeddings_url", &self.embeddings_uri)
            .field("headers", &header_names)
            .field("max_tokens_field", &self.max_tokens_field)
            .field("system_role", &self.system_role)
            .field("include_usage", &self.include_usage)
            .finish()
    }
}

impl Codec for OpenAiCodec {
    type StreamDecoder = OpenAiStreamDecoder;

    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    fn encode_chat(
        &self,
        request: &ChatRequest,
        mode: ReplyMode,
        _ctx: &RequestMeta,
    ) -> Result<http::Request<Bytes>> {
        let body = ChatBody {
            request,
            messages: wire::messages(&request.messages, self.system_role),
            stream: mode == ReplyMode::Stream,
            include_usage: self.include_usage,
            max_tokens_field: self.max_tokens_field,
        };
        let mut bytes = Vec::with_capacity(512);
        serde_json::to_writer(&mut bytes, &body).map_err(|e| Error::encode(&self.name, e))?;
        Ok(self.post(&self.chat_uri, bytes))
    }

    fn decode_chat(&self, body: &[u8]) -> Result<ChatResponse> {
        let completion: CompletionIn<'_> = serde_json::from_slice(body)
            .map_err(|e| Error::decode_with(&self.name, "invalid chat completion", e))?;
        if completion.is_error() {
            return Err(self.decode_error_in_body(body));
        }
        let usage = completion.usage();
        let Some(choice) = completion.choices else {
            return Err(Error::decode(&self.name, "the chat completion has no choices"));
        };
        let mut parts = Vec::new();
        let mut refused = false;
        if let Some(mut message) = choice.message.or(choice.delta) {
            if let Some(reasoning) = message.take_reasoning() {
                parts.push(ContentPart::Reasoning(Reasoning {
                    text: reasoning.into_owned(),
                    ..Reasoning::default()
                }));
            }
            let text = message.content.0.filter(|t| !t.is_empty());
            let refusal = message.refusal.0.filter(|t| !t.is_empty());
            if let Some(text) = text {
                parts.push(ContentPart::text(text.into_owned()));
            } else if let Some(refusal) = refusal {
                refused = true;
                parts.push(ContentPart::text(refusal.into_owned()));
            }
            let mut calls = 0;
            for call in message.tool_calls.into_iter().flatten() {
                parts.push(ContentPart::ToolCall(tool_call(
                    call.id.map(|i| i.0),
                    call.function,
                    calls,
                )));
                calls += 1;
            }
            if let Some(function) = message.function_call {
                parts.push(ContentPart::ToolCall(tool_call(None, Some(function), calls)));
            }
        }
        let has_calls = parts.iter().any(|p| matches!(p, ContentPart::ToolCall(_)));
        let reason = choice
            .finish_reason
            .and_then(|r| finish_reason(r.as_str()))
            .map(|r| normalise_finish(r, has_calls, refused));
        let id = completion.id.map(|i| i.0.into_owned()).unwrap_or_default();
        let model = completion.model.map(|m| m.0.into_owned()).unwrap_or_default();
        let mut response = ChatResponse::new(id, model, Message::new(Role::Assistant, parts));
        response.finish_reason = reason;
        response.usage = usage;
        Ok(response)
    }

    fn stream_decoder(&self) -> Self::StreamDecoder {
        OpenAiStreamDecoder::new(Arc::clone(&self.name))
    }

    fn decode_error(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
        error::from_response(&self.name, status, headers, body)
    }

    fn encode_embeddings(
        &self,
        request: &EmbeddingRequest,
        _ctx: &RequestMeta,
    ) -> Result<http::Request<Bytes>> {
        let mut bytes = Vec::with_capacity(128);
        serde_json::to_writer(&mut bytes, &EmbeddingBody { request })
            .map_err(|e| Error::encode(&self.name, e))?;
        Ok(self.post(&self.embeddings_uri, bytes))
    }

    fn decode_embeddings(&self, body: &[u8]) -> Result<EmbeddingResponse> {
        let reply: EmbeddingsIn = serde_json::from_slice(body).map_err(|e| {
            if is_error_payload(body) {
                return self.decode_error_in_body(body);
            }
            Error::decode_with(&self.name, "invalid embeddings reply", e)
        })?;
        if reply.error.is_some() {
            return Err(self.decode_error_in_body(body));
        }
        let mut data = reply.data;
        // Vectors come back in any order; `index` says which input each belongs to.
        let mut keyed: Vec<(u64, Vec<f32>)> = data
            .drain(..)
            .enumerate()
            .map(|(pos, e)| (e.index.map_or(pos as u64, |i| i.0), e.embedding))
            .collect();
        keyed.sort_by_key(|(index, _)| *index);
        if keyed.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(Error::decode(&self.name, "the embeddings reply repeats an index"));
        }
        let mut response = EmbeddingResponse::new(
            reply.model.unwrap_or_default(),
            keyed.into_iter().map(|(_, v)| v).collect(),
        );
        response.usage = reply.usage.map(|u| {
            let mut usage = u.to_usage();
            usage.output_tokens = 0;
            usage
        });
        Ok(response)
    }
}

/// A tool call from a reply; servers that give no id get `call_{position}`.
fn tool_call(id: Option<Cow<'_, str>>, function: Option<wire::FunctionIn<'_>>, position: usize) -> ToolCall {
    let id = match id {
        Some(id) if !id.is_empty() => id.into_owned(),
        _ => format!("call_{position}"),
    };
    let (name, arguments) = match function {
        Some(f) => (
            f.name.map(|n| n.0.into_owned()).unwrap_or_default(),
            f.arguments.map(|a| a.0.into_owned()).unwrap_or_default(),
        ),
        None => (String::new(), String::new()),
    };
    ToolCall::new(id, name, arguments)
}

/// OpenAI finish reasons, and the names compatible servers use for them.
static FINISH_REASONS: &[(&str, FinishReason)] = &[
    ("stop", FinishReason::Stop),
    ("end_turn", FinishReason::Stop),
    ("stop_sequence", FinishReason::Stop),
    ("eos", FinishReason::Stop),
    ("length", FinishReason::Length),
    ("max_tokens", FinishReason::Length),
    ("model_length", FinishReason::Length),
    ("tool_calls", FinishReason::ToolCalls),
    ("function_call", FinishReason::ToolCalls),
    ("tool_use", FinishReason::ToolCalls),
    ("content_filter", FinishReason::ContentFilter),
    ("refusal", FinishReason::Refusal),
];

/// The neutral finish reason of an OpenAI `finish_reason`; `""` is none, an
/// unknown reason is [`FinishReason::Other`].
pub(super) fn finish_reason(reason: &str) -> Option<FinishReason> {
    if reason.is_empty() {
        return None;
    }
    Some(from_name(reason, FINISH_REASONS, |other| {
        FinishReason::Other(other.to_owned())
    }))
}

/// A reply that called tools waits for their results, whatever the server
/// said; a refusal that stopped normally is a refusal.
pub(super) fn normalise_finish(reason: FinishReason, has_calls: bool, refused: bool) -> FinishReason {
    match reason {
        FinishReason::Stop if has_calls => FinishReason::ToolCalls,
        FinishReason::Stop if refused => FinishReason::Refusal,
        other => other,
    }
}

/// Whether a body that failed to parse as a reply is an `{"error": ...}` payload.
fn is_error_payload(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .is_some_and(|v| {
            v.get("error").is_some_and(|e| !e.is_null()) || v.get("object").is_some_and(|o| o == "error")
        })
}
