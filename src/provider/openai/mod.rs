//! OpenAI, Azure OpenAI and the OpenAI-compatible servers (Ollama, vLLM,
//! LM Studio, Groq, Mistral, Together, OpenRouter, DeepSeek, ...).
//!
//! [`OpenAi`] is an [`HttpProvider`] with the chat-completions [`OpenAiCodec`].
//! Build one with [`OpenAi::builder`] (or a preset such as
//! [`OpenAiBuilder::ollama`]) or [`OpenAi::azure`], and put it at the bottom of
//! a stack with [`ProviderService`](crate::provider::ProviderService):
//!
//! ```
//! use bytes::Bytes;
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//! use tower_ai::provider::openai::OpenAi;
//! use tower_ai::provider::{HttpProviderBuilder, ProviderService};
//! use tower_ai::transport::Transport;
//! use tower_ai::types::ChatRequest;
//! use tower_ai::LlmRequest;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_ai::Error> {
//! // A stand-in for api.openai.com, so that the example runs offline. In an
//! // application, leave `.transport(...)` out to use reqwest.
//! let upstream = service_fn(|request: http::Request<Bytes>| async move {
//!     assert_eq!(request.uri(), "https://api.openai.com/v1/chat/completions");
//!     assert_eq!(request.headers()["authorization"], "Bearer sk-test");
//!     let body = r#"{"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
//!         "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"},
//!                      "finish_reason": "stop"}],
//!         "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}}"#;
//!     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(Bytes::from(body))))
//! });
//!
//! let provider = OpenAi::builder()
//!     .api_key("sk-test") // or OPENAI_API_KEY
//!     .transport(Transport::new(upstream))
//!     .build()?;
//! let mut service = ServiceBuilder::new()
//!     .concurrency_limit(64)
//!     .service(ProviderService::new(provider));
//!
//! let request = LlmRequest::new(ChatRequest::new("gpt-4o-mini").system("Be brief.").user("Hi!"));
//! let reply = service.ready().await?.call(request).await?.into_complete().await?;
//! assert_eq!(reply.text(), "Hello!");
//! assert_eq!(reply.usage.map(|u| u.total_tokens()), Some(11));
//! # Ok(())
//! # }
//! ```
//!
//! The codec does no I/O, so what goes on the wire can be looked at directly:
//!
//! ```
//! use tower_ai::provider::openai::OpenAiBuilder;
//! use tower_ai::provider::Codec;
//! use tower_ai::types::{ChatRequest, ReplyMode, RequestMeta};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let codec = OpenAiBuilder::ollama().build_codec()?;
//! let chat = ChatRequest::new("llama3.2").user("Hi").max_tokens(100);
//! let request = codec.encode_chat(&chat, ReplyMode::Stream, &RequestMeta::new())?;
//! assert_eq!(request.uri(), "http://localhost:11434/v1/chat/completions");
//! let body: serde_json::Value = serde_json::from_slice(request.body())?;
//! assert_eq!(body["max_tokens"], 100);
//! assert_eq!(body["stream"], true);
//! assert_eq!(body["stream_options"]["include_usage"], true);
//! # Ok(())
//! # }
//! ```
//!
//! # Requests
//!
//! | neutral | OpenAI |
//! |---|---|
//! | [`Role::System`](crate::types::Role::System) message | `system` (or `developer`, see [`SystemRole`]) message with its text |
//! | user text, images | `content` string (one text part) or parts: `text`, `image_url` (base64 images as `data:` URLs, `detail` kept) |
//! | assistant text, tool calls | `content` and `tool_calls` (`arguments` as a JSON string) |
//! | reasoning parts | left out (OpenAI does not take them back) |
//! | tool results (in tool *or* user messages) | one `tool` message each, before the rest of the turn; images in them follow in a `user` message |
//! | `tools`, `tool_choice` | `function` tools; `auto` / `none` / `required` / `{"type": "function", ...}` |
//! | `max_tokens` | `max_completion_tokens` (OpenAI, Azure) or `max_tokens` (see [`MaxTokensField`]) |
//! | `response_format` | `{"type": "json_object"}`, `{"type": "json_schema", "json_schema": {...}}` |
//! | `reasoning` | `reasoning_effort` (a bare token budget is mapped to low / medium / high) |
//! | `top_k` | not sent (OpenAI has no such field); pass it in `extra` for servers that do |
//! | `extra` | merged into the top level last, replacing fields of the same name |
//!
//! Streamed requests send `"stream": true` and ask for usage with
//! `"stream_options": {"include_usage": true}` (turned off for Mistral, which
//! refuses it and sends usage anyway, and with [`OpenAiBuilder::include_usage`]).
//!
//! # Replies
//!
//! The first choice is read. Text, tool calls and usage map one to one
//! (`cached_tokens` to cache reads, `reasoning_tokens` to reasoning tokens;
//! every detail may be missing or `null`). A `refusal` becomes the reply's
//! text and the finish reason [`Refusal`](crate::types::FinishReason::Refusal),
//! so a caller that only reads text still sees why, and one that parses
//! structured output can tell it is not the schema. `function_call` (the
//! legacy API) finishes as tool calls, and so does a reply that carries tool
//! calls but says `"stop"` (OpenAI does, when `tool_choice` names the tool).
//!
//! | `finish_reason` (and compatible servers' names) | [`FinishReason`](crate::types::FinishReason) |
//! |---|---|
//! | `stop`, `end_turn`, `stop_sequence`, `eos` | `Stop` (`ToolCalls` when the reply has tool calls, `Refusal` when it refused) |
//! | `length`, `max_tokens`, `model_length` | `Length` |
//! | `tool_calls`, `function_call`, `tool_use` | `ToolCalls` |
//! | `content_filter` | `ContentFilter` |
//! | `refusal` | `Refusal` |
//! | `""`, `null` | none |
//! | others | `Other` |
//!
//! Compatible servers are read leniently: counts that are `null`, negative,
//! floats or numeric strings; `content` as an array of text parts; tool-call
//! arguments as an object; `reasoning_content` (DeepSeek, vLLM) or `reasoning`
//! (OpenRouter, Ollama) as reasoning text; `prompt_cache_hit_tokens`
//! (DeepSeek) as cache reads; Groq's usage under `x_groq`.
//!
//! # Streams
//!
//! | chunk | [`StreamEvent`](crate::types::StreamEvent)s |
//! |---|---|
//! | the first with an `id` or `model` (Azure's leading chunk with `"model": ""` and no choices is skipped) | `Start` |
//! | `delta.content`, `delta.refusal` | text deltas |
//! | `delta.reasoning_content`, `delta.reasoning` | reasoning deltas |
//! | `delta.tool_calls`, `delta.function_call` | tool-call deltas, keeping OpenAI's `index` (counted when a server leaves it out) |
//! | `finish_reason` | `Finish` |
//! | `usage` (or `x_groq.usage`); `"usage": null` is ignored | `Usage` |
//! | `data: [DONE]` | none: the stream is done; one that ends before it is truncated |
//! | `{"error": ...}` | ends the stream with its typed error |
//!
//! # Errors
//!
//! | answer | error |
//! |---|---|
//! | 429 | [`RateLimited`](crate::Error::RateLimited), `retry_after` from `retry-after-ms`, `retry-after` (seconds or an HTTP date), or the message ("try again in 20s") |
//! | 429 with `insufficient_quota` (or another billing code) | [`Authentication`](crate::Error::Authentication), status and code kept: the account is out of quota, so not retryable, but another account may serve the call |
//! | 401, 403 | [`Authentication`](crate::Error::Authentication) |
//! | code `context_length_exceeded`, or a message saying so | [`ContextLengthExceeded`](crate::Error::ContextLengthExceeded) |
//! | code `content_filter` (Azure) | [`ContentFiltered`](crate::Error::ContentFiltered) |
//! | 503, 529 | [`Overloaded`](crate::Error::Overloaded) |
//! | other 5xx | [`Server`](crate::Error::Server) |
//! | other 4xx | [`InvalidRequest`](crate::Error::InvalidRequest) |
//! | `{"error": ...}` inside a stream | the same, by code and type |
//!
//! This is the OpenAI part of one table every dialect shares (OpenAI, Azure,
//! vLLM, llama.cpp's server, Ollama, LiteLLM-style proxies and Anthropic):
//! each server's own names and wordings are in it, so a context overflow
//! from llama.cpp is `ContextLengthExceeded` as it is from OpenAI. See
//! [`docs/vendors.md`](crate::guide::vendors) for the whole table.
//!
//! `x-request-id` becomes the error's request id. Bodies that are not JSON
//! are tolerated; replies that are not what they should be are
//! [`Error::Decode`](crate::Error::Decode), never a panic.

mod builder;
mod codec;
mod error;
mod stream;
mod wire;

pub use self::builder::{AzureBuilder, OpenAiBuilder, OpenAiOptions, OpenAiSettings};
pub use self::codec::{MaxTokensField, OpenAiCodec, SystemRole};
pub use self::stream::OpenAiStreamDecoder;

use crate::provider::HttpProvider;

/// An OpenAI (or Azure OpenAI, or OpenAI-compatible) provider.
///
/// Built with [`OpenAi::builder`] or [`OpenAi::azure`].
pub type OpenAi = HttpProvider<OpenAiCodec>;

/// The newest GA data-plane inference `api-version` (Microsoft Learn, "Azure
/// OpenAI REST API reference": "the GA release of the Azure OpenAI data plane
/// inference spec (2024-10-21)").
pub const AZURE_DEFAULT_API_VERSION: &str = "2024-10-21";

/// OpenAI's API.
const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
