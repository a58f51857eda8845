//! Fake vendors for an application's own tests (feature `testing`).
//!
//! [`FakeUpstream`] is a real HTTP/1.1 server on 127.0.0.1 that answers like
//! OpenAI (and every OpenAI-compatible server, and Azure OpenAI) or
//! Anthropic, from [`Scripted`] replies: complete replies, streams, errors,
//! latency, slow streams, streams cut short, broken connections. Point a
//! vendor provider at it and the whole stack runs as in production, HTTP
//! client and codec included, with no network and no API key. This is how
//! the crate tests itself.
//!
//! ```
//! # #[cfg(all(feature = "openai", feature = "reqwest"))]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_ai::Error> {
//! use std::time::Duration;
//! use tower::{Service, ServiceBuilder, ServiceExt};
//! use tower_ai::limit::{StreamTimeoutLayer, TimeLimits};
//! use tower_ai::prelude::*;
//! use tower_ai::provider::openai::OpenAi;
//! use tower_ai::testing::{FakeUpstream, Scripted};
//!
//! let upstream = FakeUpstream::start().await;
//! upstream.push(Scripted::openai_error(429, "requests", "Rate limit reached").with_retry_after(Duration::from_secs(2)));
//! upstream.push(Scripted::openai_stream(["Par", "is."]).with_event_delay(Duration::from_millis(5)));
//!
//! let provider = OpenAi::builder()
//!     .api_key("sk-test")
//!     .base_url(format!("{}/v1", upstream.base_url()))
//!     .build()?;
//! let mut stack = ServiceBuilder::new()
//!     .layer(StreamTimeoutLayer::new(TimeLimits::none().idle(Duration::from_secs(5))))
//!     .service(ProviderService::new(provider));
//! let request = ChatRequest::new("gpt-4o-mini").user("Capital of France?");
//!
//! // The first reply is the scripted 429, a typed error.
//! let error = stack.ready().await?.call(LlmRequest::new(request.clone())).await.unwrap_err();
//! assert!(error.is_retryable());
//! assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
//!
//! // The second is the scripted stream.
//! let reply = stack.ready().await?.call(LlmRequest::stream(request)).await?;
//! assert_eq!(reply.into_complete().await?.text(), "Paris.");
//!
//! // The server saw both requests, as the vendor would have.
//! let seen = upstream.requests();
//! assert_eq!(seen.len(), 2);
//! assert_eq!(seen[1].path(), "/v1/chat/completions");
//! assert_eq!(seen[1].header("authorization"), Some("Bearer sk-test"));
//! assert_eq!(seen[1].json()["stream"], true);
//! # Ok(())
//! # }
//! # #[cfg(not(all(feature = "openai", feature = "reqwest")))]
//! # fn main() {}
//! ```
//!
//! - [`Scripted`] is one reply: raw ([`Scripted::json`], [`Scripted::sse`],
//!   [`Scripted::close`], ...) or in a vendor's shape
//!   ([`Scripted::openai_text`], [`Scripted::anthropic_stream`],
//!   [`Scripted::anthropic_error`], ...), with its timing and its ending
//!   ([`Scripted::with_latency`], [`Scripted::with_event_delay`],
//!   [`Scripted::cut_after`], [`Scripted::abort_after`]).
//! - [`FakeUpstream`] serves a queue of them, then [`default_reply`]; it
//!   records every request ([`SeenRequest`]) and counts the clients that left
//!   a stream before its end ([`FakeUpstream::disconnects`]).
//! - [`canned`] answers a scripted reply without a socket, as a
//!   [`Transport`]: for a codec test, or a
//!   benchmark that must not measure the loopback.
//!
//! For tests above the provider, [`MockProvider`](crate::provider::mock::MockProvider)
//! answers without HTTP at all and, by default, refuses what a vendor refuses.
//! The guide [`crate::guide::testing`] shows both in an application's tests.

#[cfg(feature = "cache")]
mod embedder;
mod scripted;
mod upstream;
mod wire;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;

#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
pub use embedder::WordEmbedder;
pub use scripted::Scripted;
pub use upstream::{default_reply, FakeUpstream, FakeUpstreamBuilder, SeenRequest};

use crate::transport::Transport;

/// A transport that answers every request with `reply`, without a socket.
///
/// The reply's latency, frames, delays and ending are kept: a cut body ends
/// early, an aborted one fails the body read, and [`Scripted::close`] fails
/// the request itself.
///
/// ```
/// # #[cfg(feature = "openai")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_ai::Error> {
/// use tower_ai::provider::openai::OpenAi;
/// use tower_ai::provider::{HttpProviderBuilder, Provider};
/// use tower_ai::testing::{canned, Scripted};
/// use tower_ai::types::{ChatRequest, RequestMeta};
///
/// let provider = OpenAi::builder()
///     .api_key("sk-test")
///     .transport(canned(Scripted::openai_text("Hi.")))
///     .build()?;
/// let reply = provider.chat(&ChatRequest::new("gpt-4o-mini").user("Hello"), &RequestMeta::new()).await?;
/// assert_eq!(reply.text(), "Hi.");
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "openai"))]
/// # fn main() {}
/// ```
pub fn canned(reply: Scripted) -> Transport {
    Transport::new(Canned(reply))
}

/// The service behind [`canned`].
#[derive(Debug, Clone)]
struct Canned(Scripted);

impl tower_service::Service<http::Request<Bytes>> for Canned {
    type Response = http::Response<scripted::ScriptedBody>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: http::Request<Bytes>) -> Self::Future {
        Box::pin(self.0.clone().render(None))
    }
}
