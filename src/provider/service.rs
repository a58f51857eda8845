//! [`ProviderService`]: a provider as a tower service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use super::Provider;
use crate::error::{Error, Result};
use crate::types::{EmbeddingRequest, EmbeddingResponse, LlmRequest, LlmResponse, Reply, ServedBy};

/// The future of a [`ProviderService`] call.
pub type ProviderFuture<T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'static>>;

/// The service at the bottom of every stack: sends an [`LlmRequest`] to a
/// [`Provider`] and answers a complete or streamed [`LlmResponse`] as the
/// request's `stream` flag says.
///
/// [`ProviderService::embeddings`] gives the same provider as a service of
/// [`EmbeddingRequest`]s. Cloning is one reference count.
#[derive(Clone)]
pub struct ProviderService {
    provider: Arc<dyn Provider>,
}

impl ProviderService {
    /// Wraps a provider.
    pub fn new(provider: impl Provider) -> Self {
        Self {
            provider: Arc::new(provider),
        }
    }

    /// Wraps a shared provider.
    pub fn from_arc(provider: Arc<dyn Provider>) -> Self {
        Self { provider }
    }

    /// The provider.
    pub fn provider(&self) -> &Arc<dyn Provider> {
        &self.provider
    }

    /// The same provider as a service of embedding requests.
    pub fn embeddings(&self) -> EmbeddingService {
        EmbeddingService {
            provider: Arc::clone(&self.provider),
        }
    }
}

impl fmt::Debug for ProviderService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderService")
            .field("provider", &self.provider)
            .finish()
    }
}

impl Service<LlmRequest> for ProviderService {
    type Response = LlmResponse;
    type Error = Error;
    type Future = ProviderFuture<LlmResponse>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: LlmRequest) -> Self::Future {
        let provider = Arc::clone(&self.provider);
        Box::pin(async move {
            let reply = if request.chat.stream {
                Reply::Stream(provider.chat_stream(request.chat).await?)
            } else {
                Reply::Complete(provider.chat(request.chat).await?)
            };
            let mut response = LlmResponse::new(reply);
            response.extensions.insert(ServedBy::new(provider.name()));
            Ok(response)
        })
    }
}

/// A provider as a tower service of [`EmbeddingRequest`]s.
///
/// Made by [`ProviderService::embeddings`]. Cloning is one reference count.
#[derive(Clone)]
pub struct EmbeddingService {
    provider: Arc<dyn Provider>,
}

impl fmt::Debug for EmbeddingService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddingService")
            .field("provider", &self.provider)
            .finish()
    }
}

impl Service<EmbeddingRequest> for EmbeddingService {
    type Response = EmbeddingResponse;
    type Error = Error;
    type Future = ProviderFuture<EmbeddingResponse>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: EmbeddingRequest) -> Self::Future {
        let provider = Arc::clone(&self.provider);
        Box::pin(async move { provider.embed(request).await })
    }
}
