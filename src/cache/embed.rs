//! What the semantic lookup embeds prompts with: [`Embedder`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;
use tower::ServiceExt;
use tower_service::Service;

use crate::error::{Error, Result};
use crate::types::{EmbeddingRequest, LlmRequest, LlmResponse};

/// Turns texts into vectors, for the cache's semantic lookup
/// ([`CacheLayer::semantic`](super::CacheLayer::semantic)).
///
/// Vectors need not be normalised (the cache normalises them), but every
/// vector of one embedder must have the same length. Implemented by
/// [`embedder_fn`] for a closure and by [`StackEmbedder`] for any stack
/// that answers embeddings requests (a provider's embeddings endpoint
/// through the application's layers).
#[async_trait]
pub trait Embedder: Send + Sync + fmt::Debug + 'static {
    /// One vector per text, in order.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
}

/// An [`Embedder`] from a closure returning a future.
///
/// ```
/// use tower_ai::cache::embedder_fn;
///
/// // A toy embedder: letter counts.
/// let embedder = embedder_fn(|texts: Vec<String>| async move {
///     Ok(texts
///         .iter()
///         .map(|t| {
///             let mut v = vec![0.0f32; 26];
///             for b in t.bytes().filter(u8::is_ascii_lowercase) {
///                 v[usize::from(b - b'a')] += 1.0;
///             }
///             v
///         })
///         .collect())
/// });
/// # let _ = embedder;
/// ```
pub fn embedder_fn<F, Fut>(embed: F) -> EmbedderFn<F>
where
    F: Fn(Vec<String>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<Vec<f32>>>> + Send + 'static,
{
    EmbedderFn(embed)
}

/// The [`Embedder`] [`embedder_fn`] makes.
#[derive(Clone)]
pub struct EmbedderFn<F>(F);

impl<F> fmt::Debug for EmbedderFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbedderFn").finish_non_exhaustive()
    }
}

#[async_trait]
impl<F, Fut> Embedder for EmbedderFn<F>
where
    F: Fn(Vec<String>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<Vec<f32>>>> + Send + 'static,
{
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        (self.0)(texts.to_vec()).await
    }
}

/// An [`Embedder`] that sends an embeddings request for `model` through a
/// stack: a provider, or a provider under the application's own layers
/// (telemetry, a budget).
#[derive(Clone)]
pub struct StackEmbedder<S> {
    stack: S,
    model: String,
}

impl<S> StackEmbedder<S> {
    /// Embeds with `model` through `stack`.
    pub fn new(stack: S, model: impl Into<String>) -> Self {
        Self {
            stack,
            model: model.into(),
        }
    }
}

impl<S> fmt::Debug for StackEmbedder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackEmbedder")
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<S> Embedder for StackEmbedder<S>
where
    S: Service<LlmRequest, Response = LlmResponse, Error = Error> + Clone + Send + Sync + 'static,
    S::Future: Send,
{
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let request = LlmRequest::embeddings(EmbeddingRequest::new(self.model.clone(), texts.to_vec()));
        let call: Pin<Box<dyn Future<Output = Result<LlmResponse>> + Send>> =
            Box::pin(self.stack.clone().oneshot(request));
        let embeddings = call.await?.into_embeddings()?;
        if embeddings.embeddings.len() != texts.len() {
            return Err(Error::config(format!(
                "the embedder answered {} vectors for {} texts",
                embeddings.embeddings.len(),
                texts.len()
            )));
        }
        Ok(embeddings.embeddings)
    }
}
