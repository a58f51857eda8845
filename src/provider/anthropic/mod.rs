//! Anthropic: the Messages API (`POST /v1/messages`).
//!
//! [`Anthropic`] is an [`HttpProvider`] made of the I/O-free [`AnthropicCodec`]
//! and a [`Transport`](crate::transport::Transport). The codec can be used
//! without any I/O: here it shows where the system prompt goes.
//!
//! ```
//! use serde_json::json;
//! use tower_ai::provider::anthropic::Anthropic;
//! use tower_ai::provider::Codec;
//! use tower_ai::types::{ChatRequest, FinishReason, ReplyMode, RequestMeta};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = Anthropic::builder().api_key("sk-ant-example").build()?;
//!
//! let request = ChatRequest::new("claude-sonnet-4-5")
//!     .system("You are terse.")
//!     .user("Hello!");
//! let http = provider.codec().encode_chat(&request, ReplyMode::Complete, &RequestMeta::new())?;
//! assert_eq!(http.uri().path(), "/v1/messages");
//! assert_eq!(http.headers()["anthropic-version"], "2023-06-01");
//!
//! let body: serde_json::Value = serde_json::from_slice(http.body())?;
//! assert_eq!(body["system"], "You are terse."); // hoisted out of the messages
//! assert_eq!(body["messages"], json!([{"role": "user", "content": [{"type": "text", "text": "Hello!"}]}]));
//! assert_eq!(body["max_tokens"], 4096); // Anthropic requires it: the codec's default
//!
//! // Replies come back provider-neutral, usage normalised.
//! let reply = provider.codec().decode_chat(br#"{
//!     "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
//!     "content": [{"type": "text", "text": "Hi."}],
//!     "stop_reason": "end_turn",
//!     "usage": {"input_tokens": 12, "cache_read_input_tokens": 1024, "output_tokens": 3}
//! }"#)?;
//! assert_eq!(reply.text(), "Hi.");
//! assert_eq!(reply.finish_reason, Some(FinishReason::Stop));
//! let usage = reply.usage.unwrap();
//! assert_eq!((usage.input_tokens, usage.cache_read_tokens), (1036, 1024));
//! # Ok(())
//! # }
//! ```
//!
//! At the bottom of a stack, the provider is wrapped in a
//! [`ProviderService`](crate::provider::ProviderService):
//!
//! ```no_run
//! use tower::{Service, ServiceExt};
//! use tower_ai::prelude::*;
//! use tower_ai::provider::anthropic::Anthropic;
//!
//! # async fn run() -> Result<(), Error> {
//! let provider = Anthropic::builder().build()?; // key from ANTHROPIC_API_KEY
//! let mut service = ProviderService::new(provider);
//! let request = LlmRequest::new(ChatRequest::new("claude-sonnet-4-5").user("Hello!"));
//! let reply = service.ready().await?.call(request).await?.into_complete().await?;
//! println!("{}", reply.text());
//! # Ok(())
//! # }
//! ```
//!
//! # Requests
//!
//! | neutral | Anthropic |
//! |---|---|
//! | [`Role::System`](crate::types::Role::System) messages, wherever they stand | the top-level `system`: a string when there is one text, else an array of text blocks; a system message with a part other than text is refused ([`Error::Encode`](crate::Error::Encode)) |
//! | user, assistant and [`Role::Tool`](crate::types::Role::Tool) messages | `user` and `assistant` turns that alternate: consecutive messages of the same role are merged, tool messages become `user` messages of `tool_result` blocks (so an OpenAI-style history, one tool message per result, becomes one user message for the batch); in a user message `tool_result` blocks go before any text, as Anthropic requires; empty text parts are left out (Anthropic refuses empty text blocks) and a message left with nothing is dropped |
//! | tool calls | `tool_use` blocks whose `input` is the call's arguments parsed as JSON (empty arguments are `{}`); arguments that are not a JSON object are refused ([`Error::Encode`](crate::Error::Encode)) instead of sending a request Anthropic would refuse |
//! | tool results | `tool_result` blocks: `tool_use_id`, `is_error`, `content` as a string for one text part, else text and image blocks, left out when empty |
//! | reasoning parts | `thinking` blocks with their signature, or `redacted_thinking` blocks with their data; reasoning with neither (from another vendor) is left out, Anthropic would refuse it |
//! | images | `image` blocks with a `base64` or `url` source; a `data:` URL is sent as a `base64` source |
//! | `tools` | `{name, description, input_schema}` (`strict: true` when asked) |
//! | `tool_choice` | `Auto` → `auto`, `Required` → `any`, `Tool` → `tool`, `None` → `none`; none is sent without tools |
//! | `parallel_tool_calls: Some(false)` | `disable_parallel_tool_use: true` (with `auto` when no choice is given) |
//! | `temperature`, `top_p`, `top_k`, `stop` | `temperature`, `top_p`, `top_k`, `stop_sequences` |
//! | `seed`, `frequency_penalty`, `presence_penalty` | left out: Anthropic has no such fields (pass vendor fields through `extra`) |
//! | `max_tokens` | `max_tokens`, which Anthropic requires: the request's, else the codec's default ([`DEFAULT_MAX_TOKENS`], see [`AnthropicBuilder::default_max_tokens`]) |
//! | `reasoning` | `thinking: {type: "enabled", budget_tokens}`, from `budget_tokens` or else the effort's [`budget_tokens`](crate::types::ReasoningEffort::budget_tokens) (a budget of 0, or neither set, sends no `thinking`); see below |
//! | `response_format`: `JsonSchema` | `output_config: {format: {type: "json_schema", schema}}` (structured output; the reply is a text block of JSON) |
//! | `response_format`: `JsonObject` | refused with [`Error::Unsupported`](crate::Error::Unsupported): JSON mode has no Anthropic equivalent (a bare `{"type": "object"}` schema would allow only `{}` under Anthropic's rules); the codec's capabilities say `json_mode: false` |
//! | a streamed request | `"stream": true` |
//! | `extra` | merged into the top level last, winning over fields the codec wrote |
//! | headers | `x-api-key` (marked sensitive), `anthropic-version`, `content-type`, and `anthropic-beta` when betas are set |
//!
//! Anthropic needs `max_tokens > budget_tokens`: without a request
//! `max_tokens`, the codec sends its default, or `budget + default` when the
//! default is not above the budget. A request `max_tokens` is never raised (it
//! caps the spend): when it is not above the budget, the budget is lowered to
//! half of it (at least 1024, Anthropic's minimum), and encoding fails with
//! [`Error::Encode`](crate::Error::Encode) when even that does not fit.
//!
//! # Replies
//!
//! | content block | neutral part |
//! |---|---|
//! | `text` | text |
//! | `tool_use` | a tool call, its `input` as JSON text (`{}` when missing or `null`) |
//! | `thinking` | reasoning, with its signature |
//! | `redacted_thinking` | reasoning with `redacted` data |
//! | server tool blocks, types added later | skipped |
//!
//! | `stop_reason` | [`FinishReason`](crate::types::FinishReason) |
//! |---|---|
//! | `end_turn`, `stop_sequence` | `Stop` |
//! | `max_tokens`, `model_context_window_exceeded` | `Length` |
//! | `tool_use` | `ToolCalls` |
//! | `refusal` | `Refusal` |
//! | others (`pause_turn`, ...) | `Other` |
//!
//! Usage is normalised as [`Usage`](crate::types::Usage) documents: Anthropic
//! counts cached tokens apart, so `input_tokens` is `input_tokens +
//! cache_creation_input_tokens + cache_read_input_tokens`, `cache_read_tokens`
//! is `cache_read_input_tokens` and `cache_write_tokens` is
//! `cache_creation_input_tokens`. Figures are read leniently: `null` is an
//! absent figure, a negative number 0, a float or a numeric string its count.
//!
//! # Streams
//!
//! | event | [`StreamEvent`](crate::types::StreamEvent)s |
//! |---|---|
//! | `message_start` | `Start`, then the input usage |
//! | `content_block_start` | text, reasoning or tool-call deltas for what the block already holds; tool calls are numbered from 0, whatever Anthropic's block index |
//! | `content_block_delta` | `text_delta` → text, `thinking_delta` and `signature_delta` → reasoning (text, then the signature), `input_json_delta` → tool-call arguments; other delta types are ignored |
//! | `content_block_stop` | none |
//! | `message_delta` | the full usage (cumulative output, input figures from `message_start` where left out), then `Finish` |
//! | `message_stop` | none: the stream is done; one that ends before it is truncated |
//! | `error` | ends the stream with its typed error (see below) |
//! | `ping`, types added later | ignored |
//!
//! # Errors
//!
//! | error type | status | [`Error`](crate::Error) |
//! |---|---|---|
//! | `rate_limit_error` | 429 | `RateLimited`, with `retry-after` |
//! | `overloaded_error` | 529 (or 503) | `Overloaded` |
//! | `authentication_error`, `permission_error` | 401, 403 | `Authentication` |
//! | `billing_error` | 402 | `Authentication` (the account, not the request: another may serve it) |
//! | `invalid_request_error` saying "prompt is too long" | 400 | `ContextLengthExceeded` |
//! | `invalid_request_error`, `not_found_error`, `request_too_large` | other 4xx | `InvalidRequest` |
//! | `api_error`, `timeout_error` | 5xx | `Server` |
//!
//! An unknown error type is mapped by its status (the second column); a body
//! that is not JSON becomes the message. The [`ApiError`](crate::ApiError)
//! holds the status, the error type as `code`, the message, the request id
//! (the body's `request_id` or the `request-id` header) and the `retry-after`
//! delay (in seconds) when the header is sent.
//!
//! # Embeddings
//!
//! Anthropic has no embeddings API: [`Provider::embed`](crate::provider::Provider::embed)
//! answers [`Error::Unsupported`](crate::Error::Unsupported).

mod builder;
mod codec;
mod error;
mod stream;
mod wire;

pub use self::builder::AnthropicBuilder;
pub use self::codec::AnthropicCodec;
pub use self::stream::AnthropicStreamDecoder;

use http::HeaderName;

use super::HttpProvider;

/// The Anthropic provider: [`AnthropicCodec`] joined to a transport.
pub type Anthropic = HttpProvider<AnthropicCodec>;

/// The default base URL: `https://api.anthropic.com`.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

/// The default `anthropic-version` header: `2023-06-01`.
pub const DEFAULT_VERSION: &str = "2023-06-01";

/// The `max_tokens` sent when neither the request nor the builder names one: 4096.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The header the API key is sent in.
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
/// The header that names the API version.
const ANTHROPIC_VERSION: HeaderName = HeaderName::from_static("anthropic-version");
/// The header that names the beta features.
const ANTHROPIC_BETA: HeaderName = HeaderName::from_static("anthropic-beta");
