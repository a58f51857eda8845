//! Embeddings.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::usage::Usage;

/// A request for embeddings of one or more texts.
///
/// ```
/// use tower_ai::types::EmbeddingRequest;
///
/// let request = EmbeddingRequest::new("text-embedding-3-small", ["first text", "second text"]).dimensions(256);
/// assert_eq!(request.input.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EmbeddingRequest {
    /// The embedding model.
    pub model: String,
    /// The texts to embed.
    pub input: Vec<String>,
    /// The number of dimensions wanted, where the model can shorten its vectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    /// Vendor-only fields merged into the request body.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

impl EmbeddingRequest {
    /// Embeddings of `input` by `model`.
    pub fn new<I, S>(model: impl Into<String>, input: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            model: model.into(),
            input: input.into_iter().map(Into::into).collect(),
            dimensions: None,
            extra: Map::new(),
        }
    }

    /// Sets the dimensions.
    #[must_use]
    pub fn dimensions(mut self, dimensions: u32) -> Self {
        self.dimensions = Some(dimensions);
        self
    }
}

/// Embeddings, one vector per input text, in input order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EmbeddingResponse {
    /// The model that answered.
    pub model: String,
    /// One vector per input, in input order.
    pub embeddings: Vec<Vec<f32>>,
    /// Token usage, when known (output is always 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The vendor's id for the HTTP request that produced these embeddings (from
    /// `x-request-id` or `request-id`), for a support ticket: not the reply's
    /// own id. `None` when the vendor sent none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_request_id: Option<String>,
}

impl EmbeddingResponse {
    /// A response with these vectors.
    pub fn new(model: impl Into<String>, embeddings: Vec<Vec<f32>>) -> Self {
        Self {
            model: model.into(),
            embeddings,
            usage: None,
            upstream_request_id: None,
        }
    }
}
