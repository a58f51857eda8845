//! Providers: the vendors at the bottom of every stack.
//!
//! A [`Provider`] answers chat and embedding requests. [`ProviderService`]
//! turns any provider into the tower service every layer wraps:
//!
//! ```
//! use tower::{Service, ServiceExt};
//! use tower_ai::provider::{mock::MockProvider, ProviderService};
//! use tower_ai::types::{ChatRequest, EmbeddingRequest};
//! use tower_ai::LlmRequest;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_ai::Error> {
//! let provider = MockProvider::new().with_text_reply("Hello from the mock.");
//! let mut service = ProviderService::new(provider);
//!
//! let request = LlmRequest::new(ChatRequest::new("any-model").user("Hi"));
//! let reply = service.ready().await?.call(request).await?.into_complete().await?;
//! assert_eq!(reply.text(), "Hello from the mock.");
//!
//! // Embeddings go through the same service, and so through every layer.
//! let request = LlmRequest::embeddings(EmbeddingRequest::new("any-model", ["a", "b"]));
//! let vectors = service.ready().await?.call(request).await?.into_embeddings()?;
//! assert_eq!(vectors.embeddings.len(), 2);
//! # Ok(())
//! # }
//! ```
//!
//! Every call carries its context, the request's [`RequestMeta`]: the
//! request id (sent upstream as a header), the principal, the deadline, a
//! credential that replaces the provider's own for this call, and extra
//! headers.
//!
//! Vendor providers are an I/O-free [`Codec`] joined to a
//! [`Transport`](crate::transport::Transport) and a [`Signer`] by
//! [`HttpProvider`]; [`docs/vendors.md`](crate::guide::vendors) says how to add one.

mod codec;
#[cfg_attr(not(any(feature = "openai", feature = "anthropic")), allow(dead_code))]
mod error_answer;
#[cfg(any(feature = "openai", feature = "anthropic"))]
mod error_table;
mod http_provider;
#[cfg(any(feature = "openai", feature = "anthropic"))]
#[cfg_attr(not(all(feature = "openai", feature = "anthropic")), allow(dead_code))]
pub(crate) mod lenient;
pub mod mock;
mod options;
mod secret;
mod service;
mod signer;

#[cfg(feature = "anthropic")]
#[cfg_attr(docsrs, doc(cfg(feature = "anthropic")))]
pub mod anthropic;
#[cfg(feature = "openai")]
#[cfg_attr(docsrs, doc(cfg(feature = "openai")))]
pub mod openai;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

pub use self::codec::{Codec, StreamDecoder};
pub use self::http_provider::{
    HttpProvider, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_RETRY_AFTER, DEFAULT_TIME_LIMITS,
};
pub use self::options::{HttpOptions, HttpProviderBuilder};
pub(crate) use self::secret::is_credential_header;
pub use self::secret::ApiKey;
pub use self::service::{ProviderFuture, ProviderService};
pub use self::signer::{Signer, StaticKey};

use crate::error::{Error, Result};
use crate::types::{ChatRequest, ChatResponse, ChatStream, EmbeddingRequest, EmbeddingResponse, RequestMeta};

/// A model vendor (or anything that answers like one).
///
/// The trait is object-safe, so routers can hold `Arc<dyn Provider>`.
#[async_trait]
pub trait Provider: Send + Sync + fmt::Debug + 'static {
    /// The provider's name, for errors and telemetry (`"openai"`, `"anthropic"`, `"mock"`).
    fn name(&self) -> &str;

    /// What the provider supports.
    fn capabilities(&self) -> Capabilities;

    /// A complete reply. `ctx` is the call's context: its request id (sent
    /// upstream), principal, deadline, credential override and extra headers.
    async fn chat(&self, request: &ChatRequest, ctx: &RequestMeta) -> Result<ChatResponse>;

    /// A streamed reply. Usage is always requested where the vendor needs asking.
    async fn chat_stream(&self, request: &ChatRequest, ctx: &RequestMeta) -> Result<ChatStream>;

    /// Embeddings. The default answers [`Error::Unsupported`].
    async fn embed(&self, request: &EmbeddingRequest, ctx: &RequestMeta) -> Result<EmbeddingResponse> {
        let _ = (request, ctx);
        Err(Error::unsupported(self.name(), "embeddings"))
    }
}

#[async_trait]
impl<P: Provider + ?Sized> Provider for Arc<P> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }

    async fn chat(&self, request: &ChatRequest, ctx: &RequestMeta) -> Result<ChatResponse> {
        (**self).chat(request, ctx).await
    }

    async fn chat_stream(&self, request: &ChatRequest, ctx: &RequestMeta) -> Result<ChatStream> {
        (**self).chat_stream(request, ctx).await
    }

    async fn embed(&self, request: &EmbeddingRequest, ctx: &RequestMeta) -> Result<EmbeddingResponse> {
        (**self).embed(request, ctx).await
    }
}

/// What a provider supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Capabilities {
    /// Streamed replies.
    pub streaming: bool,
    /// Tool calls.
    pub tools: bool,
    /// Several tool calls in one turn.
    pub parallel_tool_calls: bool,
    /// Images in messages.
    pub vision: bool,
    /// Embeddings.
    pub embeddings: bool,
    /// JSON mode.
    pub json_mode: bool,
    /// JSON-schema structured output.
    pub json_schema: bool,
    /// Reasoning ("thinking") settings and reasoning content.
    pub reasoning: bool,
}

impl Capabilities {
    /// Every capability.
    pub fn all() -> Self {
        Self {
            streaming: true,
            tools: true,
            parallel_tool_calls: true,
            vision: true,
            embeddings: true,
            json_mode: true,
            json_schema: true,
            reasoning: true,
        }
    }

    /// Every capability but embeddings.
    pub fn chat() -> Self {
        Self {
            embeddings: false,
            ..Self::all()
        }
    }
}

#[cfg(test)]
mod tests;
