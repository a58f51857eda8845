//! [`ProviderService`]: a provider as a tower service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use super::Provider;
use crate::error::{Error, Result};
use crate::limit::TimeLimits;
use crate::types::{LlmRequest, LlmResponse, Operation, Reply, ReplyMode, RequestMeta, ServedBy};

/// The future of a [`ProviderService`] call.
pub type ProviderFuture<T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'static>>;

/// The service at the bottom of every stack: sends an [`LlmRequest`] to a
/// [`Provider`] and answers as the request asks: a complete reply, a real
/// stream (never a replayed one), or embeddings.
///
/// The request's [`RequestMeta`] goes to the provider as the call's
/// context. When it has a deadline, the call must be done by then, stream
/// included: a reply head that has not arrived, or a stream still running,
/// fails with [`Error::Timeout`] ([`TimeoutKind::Total`](crate::error::TimeoutKind::Total); this needs a
/// tokio runtime with its timer enabled, as every tokio runtime built with
/// `enable_all` or `#[tokio::main]` has). The response
/// carries [`ServedBy`] (the provider's name and the model it was asked for)
/// in its extensions. Cloning is one reference count.
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
            let LlmRequest {
                operation,
                mode,
                meta,
                ..
            } = request;
            let Some(deadline) = meta.deadline else {
                return send(&*provider, operation, mode, &meta).await;
            };
            // The deadline is a total time limit counted from the call's start:
            // it bounds the wait for the reply and a stream to its end.
            let started = tokio::time::Instant::from_std(meta.started);
            let limits = TimeLimits::none().total(deadline.saturating_duration_since(meta.started));
            let mut response = limits
                .bound(started, send(&*provider, operation, mode, &meta))
                .await?;
            if let Reply::Stream(stream) = response.reply {
                response.reply = Reply::Stream(limits.wrap(stream, started));
            }
            Ok(response)
        })
    }
}

async fn send(
    provider: &dyn Provider,
    operation: Operation,
    mode: ReplyMode,
    meta: &RequestMeta,
) -> Result<LlmResponse> {
    let (reply, model) = match operation {
        Operation::Chat(chat) => {
            let reply = match mode {
                ReplyMode::Stream => Reply::Stream(provider.chat_stream(&chat, meta).await?),
                ReplyMode::Complete => Reply::Complete(provider.chat(&chat, meta).await?),
            };
            (reply, chat.model.clone())
        }
        Operation::Embeddings(request) => {
            let reply = Reply::Embeddings(provider.embed(&request, meta).await?);
            (reply, request.model.clone())
        }
    };
    let upstream_request_id = match &reply {
        Reply::Complete(reply) => reply.upstream_request_id.clone(),
        Reply::Stream(stream) => stream.upstream_request_id().map(str::to_owned),
        Reply::Embeddings(reply) => reply.upstream_request_id.clone(),
    };
    let mut response = LlmResponse::new(reply);
    response
        .extensions
        .insert(ServedBy::new(provider.name(), model).with_upstream_request_id(upstream_request_id));
    Ok(response)
}
